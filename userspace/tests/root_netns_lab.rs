//! The real daemon in a lab of namespaces, with real clients (ping, arping,
//! nc, the client's Linux kernel). Each test makes its own uniquely named
//! lab and deletes it; traffic only goes to addresses inside it. Root only.

mod support;

use std::time::Duration;

use support::*;

#[test]
fn root_ping_and_arping_are_answered_in_kernel() {
    if !root_or_skip("root_ping_and_arping_are_answered_in_kernel") {
        return;
    }
    let r = Running::start(&[]);
    let kernel_before = r.stack_kernel_echo_replies();
    let out = r.client_ok(&["ping", "-c", "5", "-i", "0.2", "-W", "2", "10.10.0.4"]);
    assert!(out.contains("5 received"), "{out}");
    let out = r.client_ok(&[
        "arping",
        "-c",
        "3",
        "-w",
        "5",
        "-i",
        r.lab.client().iface(),
        "10.10.0.4",
    ]);
    assert!(
        out.contains("3 packets received") || out.contains("Received 3"),
        "{out}"
    );
    // XDP answered, not the stack namespace's kernel.
    assert!(r.stat("xdp.icmp_echo_replied") >= 5);
    assert!(r.stat("xdp.arp_replied") >= 3);
    assert_eq!(r.stack_kernel_echo_replies(), kernel_before);
    let peer = r.peer.counts().unwrap();
    assert!(peer.echo_replies >= 5 && peer.arp_replies >= 3, "{peer:?}");
}

#[test]
fn root_udp_reaches_userspace_and_gets_port_unreachable() {
    if !root_or_skip("root_udp_reaches_userspace_and_gets_port_unreachable") {
        return;
    }
    let r = Running::start(&[]);
    // Resolve first, so the datagram is not queued behind ARP in the client.
    r.client_ok(&["ping", "-c", "1", "-W", "2", "10.10.0.4"]);
    let before = r.stat("stack.udp.received");
    let out = r.client(&["sh", "-c", "echo hello | nc -u -w 1 10.10.0.4 9999"]);
    // nc reports the ICMP port unreachable as a refused connection.
    let _ = out;
    assert!(eventually(5, || r.stat("stack.udp.received") > before));
    assert_eq!(r.stat("stack.udp.bad_checksum"), 0);
    assert!(eventually(5, || r.stat("stack.stack.icmp_errors_sent") >= 1));
    assert!(r.stat("xdp.redirected") >= 1);
}

#[test]
fn root_sigkill_leaves_no_program_and_sigterm_exits_cleanly() {
    if !root_or_skip("root_sigkill_leaves_no_program_and_sigterm_exits_cleanly") {
        return;
    }
    let mut r = Running::start(&[]);
    assert!(r.xdp_attached());
    kill(r.pid(), libc::SIGKILL);
    let _ = r.daemon.wait();
    // The bpf_link died with the process: the kernel detached the program.
    assert!(
        eventually(2, || !r.xdp_attached()),
        "XDP program left attached after SIGKILL"
    );

    let mut r = Running::start(&[]);
    kill(r.pid(), libc::SIGTERM);
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(s) = r.daemon.try_wait().unwrap() {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "no exit within 3 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "exit status {status:?}");
    assert!(!r.xdp_attached());
}

#[test]
fn root_arp_cache_learns_the_client_and_xdpstack_ping_works() {
    if !root_or_skip("root_arp_cache_learns_the_client_and_xdpstack_ping_works") {
        return;
    }
    let r = Running::start(&[]);
    r.client_ok(&["ping", "-c", "2", "-i", "0.2", "-W", "2", "10.10.0.4"]);
    let client_mac = xdpstack::wire::MacAddr(r.lab.client().mac().unwrap()).to_string();
    let found = eventually(5, || {
        let arp = r.cli_json(&["arp", "--json"]);
        arp.as_array().unwrap().iter().any(|e| {
            e["dst"] == "10.10.0.2"
                && e["lladdr"] == client_mac.as_str()
                && e["state"][0] == "REACHABLE"
                && e["age_ms"].is_u64()
        })
    });
    assert!(
        found,
        "10.10.0.2 at {client_mac} not reachable in {}",
        r.cli_json(&["arp", "--json"])
    );

    let out = r.cli(&["ping", "10.10.0.2", "-c", "3", "-i", "0.2"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("3 received"), "{text}");
    // The client's kernel answered and learned us from our request.
    let neigh = r.client_ok(&["ip", "neigh", "show", "10.10.0.4"]);
    assert!(neigh.contains("lladdr"), "{neigh}");
}

#[test]
fn root_fragmented_ping_is_answered_by_userspace() {
    if !root_or_skip("root_fragmented_ping_is_answered_by_userspace") {
        return;
    }
    let r = Running::start(&[]);
    let out = r.client_ok(&[
        "ping",
        "-c",
        "3",
        "-i",
        "0.2",
        "-W",
        "2",
        "-s",
        "3000",
        "10.10.0.4",
    ]);
    assert!(out.contains("3 received"), "{out}");
    assert!(r.stat("stack.stack.ipv4_reassembled") >= 3);
    assert!(r.stat("stack.stack.icmp_echo_replies_sent") >= 3);
    assert!(r.stat("xdp.slow_ip_options_or_fragment") >= 6);
}

#[test]
fn root_gratuitous_arp_and_conflicts() {
    if !root_or_skip("root_gratuitous_arp_and_conflicts") {
        return;
    }
    let r = Running::start(&[]);
    let iface = r.lab.client().iface().to_string();
    // A gratuitous ARP from an unknown host creates no entry (arp_accept=0).
    // (Debian's arping: -U unsolicited, -S source IP; no reply comes, so
    // its exit status says nothing.)
    r.client(&[
        "arping",
        "-c",
        "1",
        "-U",
        "-i",
        &iface,
        "-S",
        "10.10.0.77",
        "10.10.0.77",
    ]);
    std::thread::sleep(Duration::from_millis(300));
    let arp = r.cli_json(&["arp", "--json"]);
    assert!(!arp.to_string().contains("10.10.0.77"), "{arp}");
    assert!(r.stat("stack.stack.neigh_events") >= 1);

    // Someone claiming 10.10.0.4 is a conflict: counted and defended.
    r.client(&[
        "arping",
        "-c",
        "1",
        "-U",
        "-i",
        &iface,
        "-S",
        "10.10.0.4",
        "10.10.0.4",
    ]);
    assert!(eventually(5, || r.stat("stack.stack.arp_conflicts") >= 1));
    assert!(eventually(5, || r.stat("stack.arp_defence.defences") >= 1));
}

#[test]
fn root_bad_command_lines_fail_with_one_clear_line() {
    if !root_or_skip("root_bad_command_lines_fail_with_one_clear_line") {
        return;
    }
    let r = Running::start(&[]);
    let bin = env!("CARGO_BIN_EXE_xdpstack");
    let stack_if = r.lab.stack().iface().to_string();
    for (args, expect) in [
        (
            vec!["run", "--iface", "nosuchif0", "--ip", "10.10.0.4/24"],
            "no interface named",
        ),
        (
            vec!["run", "--iface", &stack_if, "--ip", "10.10.0.4/40"],
            "prefix length",
        ),
        (
            vec!["run", "--iface", &stack_if, "--ip", "10.10.0.4/24"],
            "already",
        ),
    ] {
        let mut all = vec![bin];
        all.extend(args.iter().copied());
        let out = r.lab.stack().command(&all).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(err.contains(expect), "{args:?}: {err}");
    }
    // The first daemon kept serving.
    assert!(r.xdp_attached());
    let out = r.client_ok(&["ping", "-c", "1", "-W", "2", "10.10.0.4"]);
    assert!(out.contains("1 received"), "{out}");
}

#[test]
fn root_arp_admin_and_control_socket_errors() {
    if !root_or_skip("root_arp_admin_and_control_socket_errors") {
        return;
    }
    use std::io::{BufRead, BufReader, Write};
    use std::os::unix::fs::PermissionsExt;

    let r = Running::start(&[]);
    let has = |ip: &str, state: &str| {
        r.cli_json(&["arp", "--json"])
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["dst"] == ip && e["state"][0] == state.to_uppercase().as_str())
    };
    assert!(r
        .cli(&["arp", "add", "10.10.0.50", "02:00:00:00:00:50"])
        .status
        .success());
    assert!(has("10.10.0.50", "permanent"));
    r.client_ok(&["ping", "-c", "1", "-W", "2", "10.10.0.4"]);
    assert!(eventually(5, || has("10.10.0.2", "reachable")));
    // flush keeps permanent entries, like `ip neigh flush`.
    assert!(r.cli(&["arp", "flush"]).status.success());
    assert!(!has("10.10.0.2", "reachable") && has("10.10.0.50", "permanent"));
    assert!(r.cli(&["arp", "del", "10.10.0.50"]).status.success());
    assert!(!has("10.10.0.50", "permanent"));
    let out = r.cli(&["arp", "del", "10.10.0.50"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no ARP entry"));

    // The socket is root only; bad requests get an error and change nothing.
    let path = format!("/run/xdpstack/{}.sock", r.lab.stack().iface());
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let ask = |line: &[u8]| -> serde_json::Value {
        let mut s = std::os::unix::net::UnixStream::connect(&path).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(line).unwrap();
        let mut answer = String::new();
        BufReader::new(s).read_line(&mut answer).unwrap();
        serde_json::from_str(&answer).unwrap()
    };
    for bad in [
        &b"not json\n"[..],
        b"{\"cmd\":\"reboot\"}\n",
        b"{\"cmd\":\"arp_add\",\"ip\":\"1\",\"mac\":\"x\"}\n",
    ] {
        let v = ask(bad);
        assert_eq!(v["ok"], false, "{v}");
        assert!(v["error"].is_string());
    }
    let mut huge = vec![b'x'; 10_000];
    huge.push(b'\n');
    let v = ask(&huge);
    assert_eq!(v["ok"], false);
    assert!(v["error"].as_str().unwrap().contains("longer than"), "{v}");
    // Still serving.
    assert!(r.stat("xdp.icmp_echo_replied") >= 1);
}
