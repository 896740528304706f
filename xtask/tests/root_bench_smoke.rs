//! Root-only: `cargo xtask bench` with the smallest settings, to keep the
//! command from rotting. It checks only that the outputs are there and
//! well-formed (every mode, load and cost case present, numbers finite),
//! never a figure: timings are no test's business. Skips when not root.

use xtask::bench::{self, BenchOptions};
use xtask::netns::{is_root, namespaces, TEST_PREFIX};
use xtask::run::{build, Profile};
use xtask::target_dir;

#[test]
fn root_bench_smoke_writes_results_and_chart() {
    if !is_root() {
        println!("skipping root_bench_smoke_writes_results_and_chart: needs root");
        return;
    }
    let binary = build(Profile::Debug).expect("building xdpstack");
    let out_dir = target_dir().join(format!("bench-smoke-{}", std::process::id()));
    let opts = BenchOptions {
        rounds: 1,
        duration: 0.2,
        ping_count: 200,
        cost_repeat: 1000,
        cost_trials: 1,
        tcp_bytes: 1 << 20,
        out_dir: out_dir.clone(),
        binary: Some(binary),
        command: "root_bench_smoke".into(),
    };
    let result = bench::run(&opts);
    let json = std::fs::read_to_string(out_dir.join("results.json"));
    let png = std::fs::read(out_dir.join("bench.png"));
    let _ = std::fs::remove_dir_all(&out_dir);
    result.expect("the bench runs");

    let v: serde_json::Value =
        serde_json::from_str(&json.expect("results.json written")).expect("results.json is JSON");
    for key in ["cpu_model", "kernel"] {
        assert!(v["machine"][key].as_str().is_some_and(|s| !s.is_empty()));
    }
    assert!(v["machine"]["cores"].as_u64().is_some_and(|c| c >= 1));
    assert!(v["date"].as_str().is_some_and(|d| d.len() >= 10));
    let rounds = v["rounds"].as_array().expect("rounds");
    assert_eq!(rounds.len(), 1);
    let modes = rounds[0]["modes"].as_array().expect("modes");
    let names: Vec<&str> = modes.iter().filter_map(|m| m["mode"].as_str()).collect();
    for mode in ["kernel", "fastpath", "userspace"] {
        assert!(names.contains(&mode), "{mode} missing from {names:?}");
    }
    for m in modes {
        assert!(m["ping"]["transmitted"].as_u64().is_some_and(|n| n > 0));
        let floods = m["floods"].as_array().expect("floods");
        assert_eq!(floods.len(), 4);
        for f in floods {
            assert!(f["offered"].as_u64().is_some_and(|n| n > 0), "{f}");
            assert!(
                f["answered_pps"].as_f64().is_some_and(f64::is_finite),
                "{f}"
            );
        }
    }
    // TCP bulk and UDP echo: kernel and fastpath, every byte delivered
    // (the bench itself fails otherwise), at least one round trip.
    for m in modes {
        let transport = matches!(m["mode"].as_str(), Some("kernel" | "fastpath"));
        assert_eq!(m["tcp"].is_object(), transport, "{}", m["mode"]);
        assert_eq!(m["udp"].is_object(), transport, "{}", m["mode"]);
        if transport {
            assert_eq!(m["tcp"]["received"].as_u64(), Some(1 << 20));
            assert!(m["tcp"]["mbit_s"].as_f64().is_some_and(f64::is_finite));
            assert!(m["udp"]["sent"].as_u64().is_some_and(|n| n > 0));
            assert!(m["udp"]["rtt_per_s"].as_f64().is_some_and(f64::is_finite));
        }
    }
    // TCP bulk the other way (chargen, every byte checked by the client)
    // and both ways over the lossy link: kernel and fastpath only, every
    // byte delivered, the sender's retransmissions counted.
    for m in modes {
        let transport = matches!(m["mode"].as_str(), Some("kernel" | "fastpath"));
        for key in ["tcp_send", "tcp_lossy", "tcp_send_lossy"] {
            let run = &m[key];
            assert_eq!(run.is_object(), transport, "{key} in {}", m["mode"]);
            if !transport {
                continue;
            }
            assert_eq!(run["received"].as_u64(), Some(1 << 20), "{key}: {run}");
            assert!(run["mbit_s"].as_f64().is_some_and(f64::is_finite), "{run}");
            assert!(run["elapsed_s"].as_f64().is_some_and(|s| s > 0.0), "{run}");
            let retr = if key == "tcp_lossy" {
                "client_retransmits"
            } else {
                "sender_retransmits"
            };
            assert!(run[retr].as_u64().is_some(), "{key}: {run}");
        }
    }
    assert!(v["settings"]["lossy_link"]
        .as_str()
        .is_some_and(|s| s.contains("1%")));
    let bulk = v["summary"]["bulk"].as_array().expect("summary.bulk");
    assert_eq!(bulk.len(), 8, "4 directions x kernel, fastpath");
    for b in bulk {
        for key in ["mbit_s", "elapsed_s", "sender_retransmits"] {
            assert!(b[key]["median"].as_f64().is_some_and(f64::is_finite), "{b}");
        }
    }
    let ratios = v["summary"]["bulk_ratios"].as_array().expect("bulk_ratios");
    let kinds: Vec<&str> = ratios.iter().filter_map(|r| r["kind"].as_str()).collect();
    assert_eq!(
        kinds,
        ["receive", "send", "receive, 1% loss", "send, 1% loss"]
    );
    let targets = v["targets"].as_array().expect("targets");
    for kind in kinds {
        assert!(
            targets.iter().any(|t| t["target"]
                .as_str()
                .is_some_and(|s| s.contains(&format!("TCP bulk {kind}:")))),
            "no target for bulk {kind}"
        );
    }

    // TCP_RR and TCP_CRR in the same modes: every connection did at least
    // one transaction, at least one connection completed, and the CPU
    // figures are there (the daemon's only where a daemon ran).
    for m in modes {
        let mode = m["mode"].as_str().unwrap_or("");
        let transport = matches!(mode, "kernel" | "fastpath");
        assert_eq!(m["tcp_rr"].is_object(), transport, "{mode}");
        assert_eq!(m["tcp_crr"].is_object(), transport, "{mode}");
        // The kernel's second server shape (one thread, poll).
        assert_eq!(m["tcp_rr_poll"].is_object(), mode == "kernel", "{mode}");
        assert_eq!(m["tcp_crr_poll"].is_object(), mode == "kernel", "{mode}");
        assert_eq!(m["daemon_memory"].is_object(), mode != "kernel", "{mode}");
        if mode != "kernel" {
            assert!(m["daemon_memory"]["rss_kib"]
                .as_u64()
                .is_some_and(|k| k > 0));
            assert!(m["daemon_memory"]["hwm_kib"]
                .as_u64()
                .is_some_and(|k| k > 0));
        }
        // The daemon's CPU over the userspace-mode echo flood.
        assert_eq!(
            m["flood_daemon_cpu"].is_object(),
            mode == "userspace",
            "{mode}"
        );
        if mode == "userspace" {
            let d = &m["flood_daemon_cpu"];
            assert!(d["rx_frames"].as_u64().is_some_and(|n| n > 0), "{d}");
            assert!(d["ns_per_rx_frame"].as_f64().is_some_and(f64::is_finite));
        }
        if !transport {
            continue;
        }
        let mut runs = vec![(&m["tcp_rr"], &m["tcp_crr"])];
        if mode == "kernel" {
            runs.push((&m["tcp_rr_poll"], &m["tcp_crr_poll"]));
        }
        for (rr, crr) in runs {
            assert_eq!(rr["connections"].as_u64(), Some(64), "{rr}");
            assert!(rr["per_conn_min"].as_u64().is_some_and(|n| n > 0), "{rr}");
            assert!(
                rr["trans_per_s"].as_f64().is_some_and(f64::is_finite),
                "{rr}"
            );
            assert!(crr["connections"].as_u64().is_some_and(|n| n > 0), "{crr}");
            assert_eq!(crr["no_port_errors"].as_u64(), Some(0), "{crr}");
            assert!(
                crr["conn_per_s"].as_f64().is_some_and(f64::is_finite),
                "{crr}"
            );
            for run in [rr, crr] {
                assert!(
                    run["server"].as_str().is_some_and(|s| !s.is_empty()),
                    "{run}"
                );
                let cpu = &run["cpu"];
                assert!(
                    cpu["client_segs_out"].as_u64().is_some_and(|n| n > 0),
                    "{cpu}"
                );
                assert!(cpu["softirq_ns_per_packet"]
                    .as_f64()
                    .is_some_and(f64::is_finite));
                assert_eq!(cpu["daemon"].is_object(), mode == "fastpath", "{cpu}");
                if mode == "fastpath" {
                    let d = &cpu["daemon"];
                    assert!(d["rx_frames"].as_u64().is_some_and(|n| n > 0), "{d}");
                    assert!(d["ns_per_rx_frame"].as_f64().is_some_and(f64::is_finite));
                }
            }
        }
    }
    assert_eq!(v["summary"]["transport"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        v["summary"]["request_response"].as_array().map(Vec::len),
        Some(3)
    );
    assert_eq!(
        v["summary"]["daemon_memory"].as_array().map(Vec::len),
        Some(2)
    );
    for key in ["loadavg_start", "loadavg_end"] {
        assert_eq!(v[key].as_array().map(Vec::len), Some(3), "{key}");
    }
    assert_eq!(rounds[0]["loadavg"].as_array().map(Vec::len), Some(3));
    assert_eq!(v["cost"]["cases"].as_array().map(Vec::len), Some(3));
    // The same cases with one capture client: present, finite, copies made.
    let capture_cases = v["cost_capture"]["cases"].as_array().expect("cost_capture");
    assert_eq!(capture_cases.len(), 3);
    for c in capture_cases {
        assert!(c["fastpath_ns"].as_f64().is_some_and(f64::is_finite), "{c}");
    }
    assert!(v["cost_capture"]["capture"]["copies"]
        .as_u64()
        .is_some_and(|n| n > 0));
    assert!(v["cost"]["capture"].is_null());
    assert!(v["summary"]["ratios"]
        .as_array()
        .is_some_and(|r| r.len() == 2));
    assert!(v["targets"].as_array().is_some_and(|t| !t.is_empty()));
    // The IPv6 rows (issue 13): kernel and fast path in the round, both
    // floods and ping -6 -f, bpf_stats in fast-path mode, the cost cases.
    let v6 = &v["ipv6"];
    let rounds6 = v6["rounds"].as_array().expect("ipv6 rounds");
    assert_eq!(rounds6.len(), 1);
    let modes6 = rounds6[0]["modes"].as_array().expect("ipv6 modes");
    let names6: Vec<&str> = modes6.iter().filter_map(|m| m["mode"].as_str()).collect();
    assert_eq!(names6.len(), 2, "{names6:?}");
    assert!(names6.contains(&"kernel") && names6.contains(&"fastpath"));
    for m in modes6 {
        assert!(m["ping6"]["transmitted"].as_u64().is_some_and(|n| n > 0));
        let floods = m["floods"].as_array().expect("ipv6 floods");
        let kinds: Vec<&str> = floods.iter().filter_map(|f| f["kind"].as_str()).collect();
        assert_eq!(kinds, ["echo6", "ns"]);
        for f in floods {
            assert!(f["offered"].as_u64().is_some_and(|n| n > 0), "{f}");
            assert!(f["answered_pps"].as_f64().is_some_and(f64::is_finite));
        }
        let live = m["live_stats"].as_array().expect("live_stats");
        assert_eq!(live.len(), if m["mode"] == "fastpath" { 2 } else { 0 });
    }
    let cases6 = v6["cost"]["cases"].as_array().expect("ipv6 cost cases");
    let kinds6: Vec<&str> = cases6.iter().filter_map(|c| c["kind"].as_str()).collect();
    assert_eq!(kinds6, ["ns", "echo6", "echo6"]);
    for c in cases6 {
        assert!(c["fastpath_ns"].as_f64().is_some_and(f64::is_finite), "{c}");
    }
    assert_eq!(
        v6["summary"]["answered_pps_ratio"].as_array().map(Vec::len),
        Some(2)
    );
    assert!(v6["targets"].as_array().is_some_and(|t| t.len() >= 3));
    // The multi-queue rows: 1, 2 and 4 queues, pings with and without
    // busy polling, TCP_RR with 1 and 2 queues; figures finite.
    let mq = &v["multiqueue"];
    let pps = mq["pps"].as_array().expect("multiqueue.pps");
    let queues: Vec<u64> = pps.iter().filter_map(|r| r["queues"].as_u64()).collect();
    assert_eq!(queues, [1, 2, 4], "{mq}");
    for r in pps {
        for key in ["kernel_pps", "xdpstack_pps"] {
            assert!(
                r[key].as_f64().is_some_and(|x| x.is_finite() && x > 0.0),
                "{r}"
            );
        }
    }
    let pings = mq["ping"].as_array().expect("multiqueue.ping");
    assert!(
        pings
            .iter()
            .any(|p| p["label"].as_str().is_some_and(|l| l.contains("busy-poll"))),
        "{mq}"
    );
    for p in pings {
        assert!(
            p["rtt_avg_ms"]
                .as_f64()
                .is_some_and(|x| x.is_finite() && x > 0.0),
            "{p}"
        );
    }
    let rr = mq["tcp_rr"].as_array().expect("multiqueue.tcp_rr");
    assert_eq!(rr.len(), 2);
    for r in rr {
        assert!(
            r["xdpstack_trans_per_s"].as_f64().is_some_and(|x| x > 0.0),
            "{r}"
        );
    }
    let png = png.expect("bench.png written");
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n"),
        "bench.png is not a PNG"
    );

    // The lab and the pinned programs are gone.
    let me = format!("{TEST_PREFIX}{:06x}", std::process::id() & 0xff_ffff);
    assert!(!namespaces().unwrap().iter().any(|n| n.starts_with(&me)));
    assert!(
        !std::path::Path::new(&format!("/sys/fs/bpf/xdpbench-{}", std::process::id())).exists()
    );
}
