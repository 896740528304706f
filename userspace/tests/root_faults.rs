//! Faults and least privilege, with the real daemon in uniquely named labs:
//! SIGKILL falls back to the Linux stack, a restart serves again, SIGTERM
//! under load exits cleanly, a deleted interface stops the daemon with a
//! clear error, a second daemon on the same interface is refused, missing
//! capabilities are named, and the running daemon holds none. Root only.
//!
//! Times (fallback, exit) are printed as measured; the bounds asserted are
//! generous on purpose (2 shared cores): they catch a hang, not a slow run.

mod hostile;
mod support;

use std::os::unix::fs::MetadataExt;
use std::time::{Duration, Instant};

use hostile::*;
use support::*;
use xdpstack::fastpath::peer::PeerProgram;
use xtask::netns::{Lab, LabOptions};

#[test]
fn root_sigkill_falls_back_to_linux_and_a_restart_serves_again() {
    if !root_or_skip("root_sigkill_falls_back_to_linux_and_a_restart_serves_again") {
        return;
    }
    let (mut r, _) = start_in(kernel_addr(), &[], &[]);
    r.client_ok(&["ping", "-c", "3", "-i", "0.2", "-W", "2", "10.10.0.4"]);
    let kernel_before = icmp_snmp(r.lab.stack(), "OutEchoReps");
    assert!(r.stat("xdp.icmp_echo_replied") >= 3);

    kill(r.pid(), libc::SIGKILL);
    let _ = r.daemon.wait();
    let killed = Instant::now();
    // No black hole: the kernel answers as soon as the bpf_link is gone.
    let mut answered = None;
    for _ in 0..10 {
        if ping_once(&r.lab, "10.10.0.4") {
            answered = Some(killed.elapsed());
            break;
        }
    }
    let took = answered.expect("nobody answered ping within 10 tries after SIGKILL");
    println!("SIGKILL -> first ping answered by Linux: {took:?}");
    assert!(!r.xdp_attached(), "XDP program left attached after SIGKILL");
    assert!(icmp_snmp(r.lab.stack(), "OutEchoReps") > kernel_before);

    // Restart while a ping runs: xdpstack takes over again.
    let pinger = r
        .lab
        .client()
        .command([
            "timeout",
            "20",
            "ping",
            "-n",
            "-c",
            "60",
            "-i",
            "0.05",
            "-W",
            "1",
            "10.10.0.4",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("starting ping");
    std::thread::sleep(Duration::from_millis(500));
    let (daemon, _) = spawn_daemon(&r.lab, &[], &[]);
    r.daemon = daemon;
    assert!(
        eventually(10, || r.stat("xdp.icmp_echo_replied") >= 5),
        "the restarted daemon's fast path answers nothing"
    );
    let out = pinger.wait_with_output().expect("ping output");
    let text = String::from_utf8_lossy(&out.stdout);
    let summary = text.lines().find(|l| l.contains("received")).unwrap_or("");
    println!("ping across the restart: {summary}");
    assert!(out.status.success(), "ping across the restart: {text}");
    // Once it serves, Linux answers nothing more.
    let kernel_now = icmp_snmp(r.lab.stack(), "OutEchoReps");
    r.client_ok(&["ping", "-c", "5", "-i", "0.05", "-W", "2", "10.10.0.4"]);
    assert_eq!(icmp_snmp(r.lab.stack(), "OutEchoReps"), kernel_now);
}

#[test]
fn root_sigterm_under_load_exits_cleanly() {
    if !root_or_skip("root_sigterm_under_load_exits_cleanly") {
        return;
    }
    let (mut r, stderr) = start_in(kernel_addr(), &[], &[]);
    r.client_ok(&["ping", "-c", "1", "-W", "2", "10.10.0.4"]);
    // Load on both paths: a ping flood (XDP), fragmented pings and UDP (the
    // userspace workers). `ip netns exec` execs ping, so killing the child
    // kills ping; -c and -w bound them anyway.
    let mut children: Vec<_> = [
        vec!["ping", "-q", "-f", "-c", "500000", "-w", "15", "10.10.0.4"],
        vec![
            "ping",
            "-q",
            "-f",
            "-s",
            "3000",
            "-c",
            "100000",
            "-w",
            "15",
            "10.10.0.4",
        ],
    ]
    .iter()
    .map(|a| r.lab.client().spawn(a).expect("starting load"))
    .collect();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let udp = udp_blast(r.lab.client().ns(), "10.10.0.4:9999", 64, 15, stop.clone());
    assert!(eventually(10, || r
        .stat("stack.stack.icmp_echo_replies_sent")
        >= 10));
    assert!(eventually(10, || r.stat("stack.udp.received") >= 10));
    let before = r.stat("xdp.icmp_echo_replied");
    assert!(eventually(5, || r.stat("xdp.icmp_echo_replied") > before));

    kill(r.pid(), libc::SIGTERM);
    let (status, took) =
        wait_exit(&mut r.daemon, Duration::from_secs(10)).expect("no exit within 10 s of SIGTERM");
    println!("SIGTERM under load -> exit: {took:?} ({status})");
    assert!(status.success(), "exit status {status}: {}", stderr.text());
    assert!(!stderr.text().contains("panicked"), "{}", stderr.text());
    assert!(took < Duration::from_secs(5), "exit took {took:?}");
    assert!(!r.xdp_attached());
    let sock = format!("/run/xdpstack/{}.sock", r.lab.stack().iface());
    assert!(!std::path::Path::new(&sock).exists(), "{sock} left behind");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let sent = udp.join().unwrap_or(0);
    for c in &mut children {
        let _ = c.kill();
        let _ = c.wait();
    }
    println!("UDP datagrams sent during the load: {sent}");
    // The kernel serves the address again.
    assert!((0..5).any(|_| ping_once(&r.lab, "10.10.0.4")));
}

#[test]
fn root_interface_deleted_stops_with_a_clear_error() {
    if !root_or_skip("root_interface_deleted_stops_with_a_clear_error") {
        return;
    }
    let (mut r, stderr) = start_in(LabOptions::default(), &[], &[]);
    r.client_ok(&["ping", "-c", "2", "-i", "0.2", "-W", "2", "10.10.0.4"]);
    let iface = r.lab.stack().iface().to_string();
    r.lab
        .stack()
        .exec_ok(["ip", "link", "del", "dev", &iface])
        .expect("deleting the veth");
    let (status, took) = wait_exit(&mut r.daemon, Duration::from_secs(10))
        .expect("the daemon kept running after its interface was deleted");
    let text = stderr.text();
    println!("veth deleted -> exit: {took:?} ({status}): {text}");
    assert!(!status.success());
    assert!(
        text.contains(&format!("interface {iface} disappeared")),
        "{text}"
    );
    assert!(!text.contains("panicked"), "{text}");
    let sock = format!("/run/xdpstack/{iface}.sock");
    assert!(!std::path::Path::new(&sock).exists(), "{sock} left behind");
}

#[test]
fn root_second_daemon_on_the_interface_is_refused() {
    if !root_or_skip("root_second_daemon_on_the_interface_is_refused") {
        return;
    }
    let (r, _) = start_in(LabOptions::default(), &[], &[]);
    let other_dir = format!("/run/xdpstack-test-{}", std::process::id());
    for (extra, expect) in [
        // Same control directory: its socket answers.
        (vec![], "another xdpstack already serves"),
        // Another control directory: the kernel refuses a second program.
        (
            vec!["--control-dir", other_dir.as_str()],
            "another XDP program is already attached",
        ),
        (
            vec!["--control-dir", other_dir.as_str(), "--mode", "skb"],
            "another XDP program is already attached",
        ),
        (
            vec!["--control-dir", other_dir.as_str(), "--mode", "native"],
            "another XDP program is already attached",
        ),
    ] {
        let mut args = vec![
            env!("CARGO_BIN_EXE_xdpstack"),
            "run",
            "--iface",
            r.lab.stack().iface(),
            "--ip",
            "10.10.0.4/24",
        ];
        args.extend(extra.iter().copied());
        let out = r.lab.stack().command(&args).output().expect("second run");
        let err = String::from_utf8_lossy(&out.stderr);
        println!("second run {extra:?}: {err}");
        assert!(!out.status.success(), "{extra:?} started");
        assert!(err.contains(expect), "{extra:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    let _ = std::fs::remove_dir_all(&other_dir);
    // The first keeps serving, through its own control socket.
    assert!(r.xdp_attached());
    let before = r.stat("xdp.icmp_echo_replied");
    r.client_ok(&["ping", "-c", "3", "-i", "0.2", "-W", "2", "10.10.0.4"]);
    assert!(r.stat("xdp.icmp_echo_replied") >= before + 3);

    // A foreign XDP program on the interface: refused the same way.
    let lab = Lab::test(LabOptions::default()).expect("lab");
    let _foreign = PeerProgram::attach(Some(lab.stack().ns()), lab.stack().iface())
        .expect("attaching a foreign program");
    let out = lab
        .stack()
        .command([
            env!("CARGO_BIN_EXE_xdpstack"),
            "run",
            "--iface",
            lab.stack().iface(),
            "--ip",
            "10.10.0.4/24",
        ])
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("another XDP program is already attached"),
        "{err}"
    );
}

/// `setpriv` runs the daemon with a reduced bounding set: root's permitted
/// set after exec is then exactly that set.
fn run_with_bounding_set(lab: &Lab, set: &str) -> std::process::Output {
    let bset = format!("--bounding-set={set}");
    lab.stack()
        .command([
            "setpriv",
            bset.as_str(),
            "--inh-caps=-all",
            env!("CARGO_BIN_EXE_xdpstack"),
            "run",
            "--iface",
            lab.stack().iface(),
            "--ip",
            "10.10.0.4/24",
        ])
        .output()
        .expect("running under setpriv")
}

#[test]
fn root_missing_capabilities_are_named() {
    if !root_or_skip("root_missing_capabilities_are_named") || !command_exists("setpriv") {
        return;
    }
    let lab = Lab::test(LabOptions::default()).expect("lab");
    for (set, named, not_named) in [
        (
            "-all",
            &["CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_PERFMON", "CAP_BPF"][..],
            &[][..],
        ),
        (
            "-sys_admin,-bpf",
            &["CAP_BPF"][..],
            &["CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_PERFMON"][..],
        ),
        (
            "-sys_admin,-net_raw,-net_admin",
            &["CAP_NET_ADMIN", "CAP_NET_RAW"][..],
            &["CAP_BPF", "CAP_PERFMON"][..],
        ),
    ] {
        let out = run_with_bounding_set(&lab, set);
        let err = String::from_utf8_lossy(&out.stderr);
        println!("bounding set {set}: {err}");
        assert!(!out.status.success(), "{set}: started");
        for n in named {
            assert!(err.contains(n), "{set}: {n} not named: {err}");
        }
        for n in not_named {
            assert!(!err.contains(n), "{set}: {n} named: {err}");
        }
        assert_eq!(err.trim().lines().count(), 1, "{set}: {err}");
    }
    // Nothing was left attached by the refused starts.
    let link = lab
        .stack()
        .exec_ok(["ip", "-d", "link", "show", "dev", lab.stack().iface()])
        .unwrap();
    assert!(!link.contains("prog/xdp"), "{link}");
}

/// Checks that every thread of `pid` holds no capability and cannot gain any.
fn assert_no_capabilities(pid: i32, bounding_cleared: bool) {
    for field in ["CapEff", "CapPrm", "CapInh", "CapAmb"] {
        let values = thread_status_fields(pid, field);
        assert!(!values.is_empty(), "no {field} for {pid}");
        for v in &values {
            assert_eq!(u64::from_str_radix(v, 16), Ok(0), "{field} {v} of {pid}");
        }
    }
    if bounding_cleared {
        for v in thread_status_fields(pid, "CapBnd") {
            assert_eq!(u64::from_str_radix(&v, 16), Ok(0), "CapBnd {v}");
        }
    }
    for v in thread_status_fields(pid, "NoNewPrivs") {
        assert_eq!(v, "1");
    }
}

/// What the daemon does after the drop, all through real clients.
fn still_serves_everything(r: &Running) {
    let out = r.client_ok(&["ping", "-c", "3", "-i", "0.2", "-W", "2", "10.10.0.4"]);
    assert!(out.contains("3 received"), "{out}");
    // Fragmented: reassembled and answered by the userspace stack (AF_XDP TX).
    let out = r.client_ok(&[
        "ping",
        "-c",
        "2",
        "-i",
        "0.2",
        "-W",
        "2",
        "-s",
        "3000",
        "10.10.0.4",
    ]);
    assert!(out.contains("2 received"), "{out}");
    // The daemon's own ping (ARP resolution, AF_XDP TX and RX, the ring).
    let out = r.cli(&["ping", "10.10.0.2", "-c", "2", "-i", "0.2"]);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // Neighbour events from the ring reached the ARP cache.
    assert!(eventually(5, || r
        .cli_json(&["arp", "--json"])
        .to_string()
        .contains("10.10.0.2")));
    assert!(r
        .cli(&["arp", "add", "10.10.0.60", "02:00:00:00:00:60"])
        .status
        .success());
    assert!(r.stat("xdp.icmp_echo_replied") >= 3);
    assert!(r.stat("stack.stack.icmp_echo_replies_sent") >= 2);
}

#[test]
fn root_daemon_drops_every_capability_after_setup() {
    if !root_or_skip("root_daemon_drops_every_capability_after_setup") {
        return;
    }
    // As plain root: everything dropped, the bounding set too.
    let (mut r, stderr) = start_in(LabOptions::default(), &[], &[]);
    assert_no_capabilities(r.pid(), true);
    still_serves_everything(&r);
    let sock = format!("/run/xdpstack/{}.sock", r.lab.stack().iface());
    let meta = std::fs::metadata(&sock).expect("control socket");
    assert_eq!((meta.uid(), meta.mode() & 0o777), (0, 0o600), "{sock}");
    kill(r.pid(), libc::SIGTERM);
    let (status, _) = wait_exit(&mut r.daemon, Duration::from_secs(10)).expect("exit");
    assert!(status.success(), "{}", stderr.text());
    assert!(!r.xdp_attached());
    assert!(!std::path::Path::new(&sock).exists(), "{sock} left behind");

    // With exactly the four capabilities it asks for (no CAP_SYS_ADMIN, no
    // CAP_SETPCAP to clear the bounding set, no CAP_IPC_LOCK).
    if !command_exists("setpriv") {
        return;
    }
    let (mut r, stderr) = start_in(
        LabOptions::default(),
        &[
            "setpriv",
            "--bounding-set=-all,+net_admin,+net_raw,+perfmon,+bpf",
            "--inh-caps=-all",
        ],
        &[],
    );
    assert_no_capabilities(r.pid(), false);
    still_serves_everything(&r);
    kill(r.pid(), libc::SIGTERM);
    let (status, _) = wait_exit(&mut r.daemon, Duration::from_secs(10)).expect("exit");
    assert!(status.success(), "{}", stderr.text());
    assert!(!r.xdp_attached());
}
