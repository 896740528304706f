//! Running xdpstack like a service: the `--metrics` endpoint scraped during
//! a lab run, `/metrics` on the stack's own HTTP service, `stats` with and
//! without `-a`, and `status` over two daemons. Root only; each test makes
//! its own uniquely named labs and deletes them.

mod support;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use support::*;

const METRICS: &str = "127.0.0.1:9431";

/// Sends `request` to the metrics endpoint from inside the stack namespace
/// (where the daemon's host socket is) and returns the whole answer.
fn ask(r: &Running, request: &[u8]) -> String {
    let request = request.to_vec();
    xtask::netns::in_namespace(r.lab.stack().ns(), move || {
        let mut s = TcpStream::connect(METRICS)?;
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        s.write_all(&request)?;
        let mut got = Vec::new();
        s.read_to_end(&mut got)?;
        Ok(String::from_utf8_lossy(&got).into_owned())
    })
    .expect("asking the metrics endpoint")
}

/// Samples of an exposition as `name{labels}` -> value.
fn samples(text: &str) -> HashMap<String, f64> {
    let body = text.split_once("\r\n\r\n").map_or(text, |(_, b)| b);
    body.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let (k, v) = l.rsplit_once(' ')?;
            Some((k.to_string(), v.parse().ok()?))
        })
        .collect()
}

fn scrape(r: &Running) -> HashMap<String, f64> {
    let got = ask(r, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(got.starts_with("HTTP/1.1 200 OK\r\n"), "{got}");
    assert!(got.trim_end().ends_with("# EOF"), "{got}");
    samples(&got)
}

/// `promtool check metrics` on a real scrape, where promtool is installed:
/// nothing but the one finding OpenMetrics' counter HELP names cause (see
/// `present::metrics`' unit test) may come back.
fn promtool_agrees(body: &str) {
    use std::process::{Command, Stdio};
    let Ok(mut child) = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    else {
        eprintln!("promtool not installed: skipping its check");
        return;
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for line in said.lines().filter(|l| !l.trim().is_empty()) {
        let family = line
            .strip_suffix(" no help text")
            .and_then(|n| n.strip_suffix("_total"));
        assert!(
            family.is_some_and(|f| body.contains(&format!("# HELP {f} "))),
            "promtool: {line}"
        );
    }
}

fn value(s: &HashMap<String, f64>, key: &str) -> f64 {
    *s.get(key)
        .unwrap_or_else(|| panic!("no {key} among {:?}", s.keys().collect::<Vec<_>>()))
}

#[test]
fn root_metrics_endpoint_counts_traffic_and_refuses_bad_clients() {
    if !root_or_skip("root_metrics_endpoint_counts_traffic_and_refuses_bad_clients") {
        return;
    }
    let r = Running::start(&["--metrics", METRICS]);
    let before = scrape(&r);
    let echo = "xdpstack_xdp_icmp_echo_replied_total";
    let requests = "xdpstack_services_http_requests_total";
    r.client_ok(&["ping", "-c", "5", "-i", "0.2", "-W", "2", "10.10.0.4"]);
    // The stack's own HTTP service serves the same exposition on TCP 80.
    let page = r.client_ok(&["curl", "-s", "-m", "5", "http://10.10.0.4/metrics"]);
    let page_samples = samples(&page);
    assert!(
        value(&page_samples, echo) >= value(&before, echo) + 5.0,
        "{page}"
    );
    assert!(page.trim_end().ends_with("# EOF"), "{page}");

    let raw = ask(&r, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    promtool_agrees(raw.split_once("\r\n\r\n").map_or("", |(_, b)| b));
    let after = scrape(&r);
    assert!(value(&after, echo) >= value(&before, echo) + 5.0);
    assert!(value(&after, requests) >= value(&before, requests) + 1.0);
    assert!(value(&after, "xdpstack_tcp_passive_opens_total") >= 1.0);
    assert!(value(&after, r#"xdpstack_xsk_rx_frames_total{queue="0"}"#) >= 1.0);
    assert!(value(&after, "xdpstack_process_resident_memory_bytes") > 0.0);
    assert!(value(&after, r#"xdpstack_tcp_connections{state="LISTEN"}"#) >= 1.0);
    assert!(
        value(&after, r#"xdpstack_neighbours{state="REACHABLE"}"#)
            + value(&after, r#"xdpstack_neighbours{state="STALE"}"#)
            >= 1.0
    );
    // The info metric names the program the kernel shows on the link.
    let link = r
        .lab
        .stack()
        .exec_ok(["ip", "-d", "link", "show", "dev", r.lab.stack().iface()])
        .unwrap();
    let info = after
        .keys()
        .find(|k| k.starts_with("xdpstack_xdp_info{"))
        .expect("an info metric");
    let id = info
        .split("prog_id=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("a prog_id label");
    assert!(link.contains(&format!("id {id}")), "{info} vs {link}");

    // Refused methods, malformed heads, a client that never finishes.
    let post = ask(
        &r,
        b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
    );
    assert!(post.starts_with("HTTP/1.1 405"), "{post}");
    assert!(post.contains("Allow: GET, HEAD"), "{post}");
    let bad = ask(&r, b"\x01\x02 nonsense\r\n\r\n");
    assert!(bad.starts_with("HTTP/1.1 400"), "{bad}");
    let slow = xtask::netns::in_namespace(r.lab.stack().ns(), || {
        let mut s = TcpStream::connect(METRICS)?;
        s.write_all(b"GET /metr")?;
        Ok(s)
    })
    .unwrap();
    let t = Instant::now();
    let during = scrape(&r);
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "a scrape waited for the slow client"
    );
    assert!(value(&during, echo) >= value(&after, echo));
    drop(slow);
    // And the daemon still serves.
    let out = r.client_ok(&["ping", "-c", "1", "-W", "2", "10.10.0.4"]);
    assert!(out.contains("1 received"), "{out}");
}

#[test]
fn root_stats_hides_zeros_and_all_shows_them() {
    if !root_or_skip("root_stats_hides_zeros_and_all_shows_them") {
        return;
    }
    let r = Running::start(&[]);
    r.client_ok(&["ping", "-c", "2", "-i", "0.2", "-W", "2", "10.10.0.4"]);
    let rows = |args: &[&str]| -> Vec<(String, u64)> {
        let out = r.cli(args);
        assert!(out.status.success(), "{args:?}");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| {
                let mut cols = l.split_whitespace();
                let name = cols.next()?.to_string();
                let v = cols.next()?.parse().ok()?;
                Some((name, v))
            })
            .collect()
    };
    let shown = rows(&["stats"]);
    let all = rows(&["stats", "-a"]);
    assert!(shown.iter().all(|(_, v)| *v != 0), "{shown:?}");
    assert!(all.iter().any(|(_, v)| *v == 0), "{all:?}");
    assert!(all.len() > shown.len());
    for (name, _) in &shown {
        assert!(all.iter().any(|(n, _)| n == name), "{name} not in -a");
    }
    // Grouped, XDP first, no repeated prefixes.
    assert!(shown[0].0.starts_with("xdp."), "{shown:?}");
    assert!(shown.iter().any(|(n, _)| n == "xdp.icmp_echo_replied"));
    assert!(all.iter().all(|(n, _)| !n.contains("stack.")), "{all:?}");
    // The JSON keeps its content.
    assert!(r.stat("xdp.icmp_echo_replied") >= 2);
}

#[test]
fn root_status_lists_two_daemons_on_two_interfaces() {
    if !root_or_skip("root_status_lists_two_daemons_on_two_interfaces") {
        return;
    }
    let dir = std::env::temp_dir().join(format!("xdpstack-status-{}", std::process::id()));
    let dir_s = dir.display().to_string();
    let a = Running::start(&["--control-dir", &dir_s, "--metrics", METRICS]);
    let b = Running::start(&["--control-dir", &dir_s, "--services", "echo"]);
    let bin = env!("CARGO_BIN_EXE_xdpstack");
    let out = std::process::Command::new(bin)
        .args(["status", "--json", "--control-dir", &dir_s])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 2, "{rows:?}");
    let row = |iface: &str| {
        rows.iter()
            .find(|r| r["iface"] == iface)
            .unwrap_or_else(|| panic!("{iface} missing from {rows:?}"))
    };
    let (ra, rb) = (row(a.lab.stack().iface()), row(b.lab.stack().iface()));
    for (r, run) in [(ra, &a), (rb, &b)] {
        assert_eq!(r["ip"], "10.10.0.4/24");
        assert!(r["xdp_mode"] == "skb" || r["xdp_mode"] == "native", "{r}");
        assert!(r["prog_id"].as_u64().is_some_and(|id| id > 0), "{r}");
        assert!(r["queues"].as_u64().is_some_and(|q| q >= 1));
        assert_eq!(r["fastpath"], true);
        assert_eq!(r["pid"], run.daemon.id());
        assert!(r["control"].as_str().unwrap().starts_with(&dir_s));
    }
    assert_eq!(ra["metrics"], METRICS);
    assert!(rb["metrics"].is_null());
    assert_eq!(rb["services"], serde_json::json!(["echo"]));
    // The table: a header and one row per daemon.
    let out = std::process::Command::new(bin)
        .args(["status", "--control-dir", &dir_s])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.lines().count(), 3, "{text}");
    assert!(text.lines().any(|l| l.starts_with(a.lab.stack().iface())));
    assert!(text.lines().any(|l| l.starts_with(b.lab.stack().iface())));

    // --iface: the client end carries the peer's program, not ours.
    let out = a
        .lab
        .client()
        .command([
            bin,
            "status",
            "--json",
            "--control-dir",
            &dir_s,
            "--iface",
            a.lab.client().iface(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let others = v[0]["other_xdp"].as_array().cloned().unwrap_or_default();
    assert!(!others.is_empty(), "{v}");
    // Our own interface shows our program only, not as foreign.
    let out = a
        .lab
        .stack()
        .command([
            bin,
            "status",
            "--json",
            "--control-dir",
            &dir_s,
            "--iface",
            a.lab.stack().iface(),
        ])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v.as_array().map(Vec::len), Some(1), "{v}");
    assert!(v[0]["other_xdp"].is_null(), "{v}");
    drop((a, b));
    let _ = std::fs::remove_dir_all(&dir);
}

/// The keys of every object in a JSON list of neighbours, after checking
/// the shapes both tools share: `dst` an address, `dev` a name, `lladdr` a
/// MAC when present, `state` a list of upper-case names.
fn neighbour_keys(text: &[u8]) -> Vec<std::collections::BTreeSet<String>> {
    let v: serde_json::Value = serde_json::from_slice(text).expect("JSON");
    v.as_array()
        .expect("a list")
        .iter()
        .map(|e| {
            let o = e.as_object().expect("an object per neighbour");
            assert!(o["dst"]
                .as_str()
                .unwrap()
                .parse::<std::net::IpAddr>()
                .is_ok());
            assert!(o["dev"].is_string());
            if let Some(l) = o.get("lladdr") {
                assert!(l
                    .as_str()
                    .unwrap()
                    .parse::<xdpstack::wire::MacAddr>()
                    .is_ok());
            }
            let states = o["state"].as_array().expect("state is a list");
            assert!(states.iter().all(|s| s
                .as_str()
                .is_some_and(|s| !s.is_empty() && s == s.to_uppercase())));
            o.keys().cloned().collect()
        })
        .collect()
}

#[test]
fn root_arp_json_reads_like_ip_neigh() {
    if !root_or_skip("root_arp_json_reads_like_ip_neigh") {
        return;
    }
    use xdpstack::control::protocol::NeighEntryJson;
    let r = Running::start(&[]);
    r.client_ok(&["ping", "-c", "2", "-i", "0.2", "-W", "2", "10.10.0.4"]);
    assert!(eventually(5, || !r
        .cli_json(&["arp", "--json"])
        .as_array()
        .unwrap()
        .is_empty()));
    let ours = r.cli(&["arp", "--json"]).stdout;
    // The client's kernel learned us from the exchange.
    // (Without `dev X`: filtered by device, `ip` leaves `dev` out.)
    let theirs = r.client_ok(&["ip", "-4", "-j", "neigh", "show"]);
    let (ours_keys, their_keys) = (neighbour_keys(&ours), neighbour_keys(theirs.as_bytes()));
    assert!(!ours_keys.is_empty() && !their_keys.is_empty(), "{theirs}");
    let extras: std::collections::BTreeSet<String> =
        ["age_ms", "learned_ms", "queued"].map(String::from).into();
    for k in &ours_keys {
        // Every key `ip` uses for a resolved entry, plus ours, nothing else.
        for theirs in &their_keys {
            let shared: Vec<_> = theirs.intersection(k).collect();
            assert_eq!(shared.len(), 4, "{k:?} vs {theirs:?}");
        }
        assert_eq!(
            k.difference(&extras).cloned().collect::<Vec<_>>(),
            ["dev", "dst", "lladdr", "state"],
            "{k:?}"
        );
    }
    // And the one type reads both.
    let ours: Vec<NeighEntryJson> = serde_json::from_slice(&ours).unwrap();
    let theirs: Vec<NeighEntryJson> = serde_json::from_str(&theirs).unwrap();
    assert_eq!(ours[0].dev, r.lab.stack().iface());
    assert_eq!(theirs[0].dev, r.lab.client().iface());
    assert_eq!(theirs[0].dst, std::net::Ipv4Addr::new(10, 10, 0, 4));
    assert!(theirs[0].lladdr.is_some() && ours[0].lladdr.is_some());
}
