//! The daemon's UDP and TCP against the Linux kernel of the lab's client
//! namespace as the real peer, with real clients (nc, curl). Root only.

mod support;

use support::{eventually, root_or_skip, Running};

/// A counter of the client namespace's kernel from /proc/net/snmp, like
/// ("Icmp", "InDestUnreachs").
fn client_snmp(r: &Running, group: &str, name: &str) -> u64 {
    let snmp = r.client_ok(&["cat", "/proc/net/snmp"]);
    let prefix = format!("{group}:");
    let lines: Vec<&str> = snmp.lines().filter(|l| l.starts_with(&prefix)).collect();
    assert_eq!(lines.len(), 2, "{group} lines in /proc/net/snmp");
    let names: Vec<&str> = lines[0].split_whitespace().collect();
    let values: Vec<&str> = lines[1].split_whitespace().collect();
    let i = names
        .iter()
        .position(|n| *n == name)
        .unwrap_or_else(|| panic!("no {group} {name} in /proc/net/snmp"));
    values[i].parse().expect("a number")
}

/// Resolves ARP both ways first, so nothing waits behind ARP.
fn resolved(r: &Running) {
    r.client_ok(&["ping", "-c", "1", "-W", "2", "10.10.0.4"]);
}

#[test]
fn root_udp_echo_returns_the_datagram() {
    if !root_or_skip("root_udp_echo_returns_the_datagram") {
        return;
    }
    let r = Running::start(&[]);
    resolved(&r);
    let out = r.client_ok(&[
        "sh",
        "-c",
        "printf 'hello over udp\\n' | nc -u -w 2 10.10.0.4 7",
    ]);
    assert_eq!(out, "hello over udp\n");
    assert!(r.stat("services.echo.udp_datagrams") >= 1);
    assert_eq!(r.stat("stack.udp.bad_checksum"), 0);
}

#[test]
fn root_udp_to_a_closed_port_gets_port_unreachable() {
    if !root_or_skip("root_udp_to_a_closed_port_gets_port_unreachable") {
        return;
    }
    let r = Running::start(&[]);
    resolved(&r);
    let before = client_snmp(&r, "Icmp", "InDestUnreachs");
    // OpenBSD nc's UDP scan writes a few probes on a connected socket: the
    // kernel turns the ICMP error into ECONNREFUSED on the next one, and
    // nc fails. An open port (echo) passes the same probe.
    let out = r.client(&["nc", "-uzv", "-w", "2", "10.10.0.4", "9999"]);
    assert!(
        !out.status.success(),
        "nc did not see the port unreachable: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let open = r.client(&["nc", "-uzv", "-w", "2", "10.10.0.4", "7"]);
    assert!(
        open.status.success(),
        "{}",
        String::from_utf8_lossy(&open.stderr)
    );
    assert!(eventually(5, || client_snmp(&r, "Icmp", "InDestUnreachs") > before));
    assert!(r.stat("stack.udp.no_port") >= 1);
    // With the services off, echo's port is closed too.
    drop(r);
    let r = Running::start(&["--services", "none"]);
    resolved(&r);
    let before = client_snmp(&r, "Icmp", "InDestUnreachs");
    let out = r.client(&["nc", "-uzv", "-w", "2", "10.10.0.4", "7"]);
    assert!(!out.status.success());
    assert!(eventually(5, || client_snmp(&r, "Icmp", "InDestUnreachs") > before));
}

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn root_tcp_echo_returns_what_was_sent() {
    if !root_or_skip("root_tcp_echo_returns_what_was_sent") {
        return;
    }
    let r = Running::start(&[]);
    resolved(&r);
    // -N: shut down our sending side at EOF, then read until echo closes.
    let out = r.client_ok(&[
        "sh",
        "-c",
        "printf 'hello over tcp\\nsecond line\\n' | nc -N -w 5 10.10.0.4 7",
    ]);
    assert_eq!(out, "hello over tcp\nsecond line\n");
    assert!(r.stat("stack.tcp.passive_opens") >= 1);
    assert_eq!(r.stat("services.echo.tcp_bytes"), 27);
    // The listeners, as `xdpstack conns` shows them.
    let conns = r.cli_json(&["conns", "--json"]);
    let listening: Vec<String> = conns
        .as_array()
        .expect("a list")
        .iter()
        .filter(|c| c["state"] == "LISTEN")
        .map(|c| c["local"].as_str().unwrap_or("").to_string())
        .collect();
    for port in ["7", "9", "80"] {
        assert!(
            listening.iter().any(|l| l.ends_with(&format!(":{port}"))),
            "no listener on {port}: {conns}"
        );
    }
    let table = r.cli(&["conns"]);
    assert!(table.status.success());
    assert!(stdout(&table).starts_with("STATE"));
}

#[test]
fn root_http_serves_the_status_page() {
    if !root_or_skip("root_http_serves_the_status_page") {
        return;
    }
    let r = Running::start(&[]);
    resolved(&r);
    let page = r.client_ok(&["curl", "-sS", "-m", "10", "http://10.10.0.4/"]);
    assert!(page.contains("xdpstack at 10.10.0.4/24"), "{page}");
    assert!(
        page.contains("ARP cache") && page.contains("10.10.0.2"),
        "{page}"
    );
    // HEAD: the same headers, no body.
    let head = r.client_ok(&["curl", "-sS", "-m", "10", "-I", "http://10.10.0.4/"]);
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(head.contains("Content-Length: "), "{head}");
    let code = |args: &[&str]| {
        let mut all = vec![
            "curl",
            "-sS",
            "-m",
            "10",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
        ];
        all.extend_from_slice(args);
        r.client_ok(&all)
    };
    assert_eq!(code(&["http://10.10.0.4/nope"]), "404");
    assert_eq!(code(&["-X", "DELETE", "http://10.10.0.4/"]), "405");
    // Two requests on one connection (HTTP/1.1 persistence).
    let two = r.client(&[
        "curl",
        "-sS",
        "-v",
        "-m",
        "10",
        "-o",
        "/dev/null",
        "-o",
        "/dev/null",
        "http://10.10.0.4/",
        "http://10.10.0.4/x",
    ]);
    assert!(two.status.success(), "{}", stderr(&two));
    assert!(
        stderr(&two).contains("Re-using existing connection"),
        "{}",
        stderr(&two)
    );
    // Asked to close: the response says so and the connection ends.
    let close = r.client(&[
        "curl",
        "-sS",
        "-v",
        "-m",
        "10",
        "-o",
        "/dev/null",
        "-H",
        "Connection: close",
        "http://10.10.0.4/",
    ]);
    assert!(close.status.success(), "{}", stderr(&close));
    assert!(
        stderr(&close).contains("< Connection: close"),
        "{}",
        stderr(&close)
    );
    // Request heads are bounded (8 KiB): 431.
    let big = format!("X-Big: {}", "a".repeat(9000));
    assert_eq!(code(&["-H", &big, "http://10.10.0.4/"]), "431");
    // A malformed request: 400 and the connection closed by us.
    let bad = r.client_ok(&[
        "sh",
        "-c",
        "printf 'GET / HTTP/1.1\\r\\nno colon here\\r\\n\\r\\n' | nc -w 5 10.10.0.4 80",
    ]);
    assert!(bad.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{bad}");
    assert!(bad.contains("Connection: close\r\n"), "{bad}");
    assert!(r.stat("services.http.requests") >= 8);
}

#[test]
fn root_tcp_to_a_closed_port_is_refused() {
    if !root_or_skip("root_tcp_to_a_closed_port_is_refused") {
        return;
    }
    let r = Running::start(&[]);
    resolved(&r);
    let nc = r.client(&["nc", "-zv", "-w", "5", "10.10.0.4", "81"]);
    assert!(!nc.status.success());
    assert!(
        stderr(&nc).contains("Connection refused"),
        "{}",
        stderr(&nc)
    );
    // curl: exit 7 (failed to connect); -v names the reason.
    let curl = r.client(&["curl", "-sS", "-v", "-m", "10", "http://10.10.0.4:81/"]);
    assert_eq!(curl.status.code(), Some(7), "{}", stderr(&curl));
    assert!(
        stderr(&curl).contains("Connection refused"),
        "{}",
        stderr(&curl)
    );
    assert!(r.stat("stack.tcp.resets_sent") >= 2);
    // With the services off, port 80 is closed too.
    drop(r);
    let r = Running::start(&["--services", "none"]);
    resolved(&r);
    let nc = r.client(&["nc", "-zv", "-w", "5", "10.10.0.4", "80"]);
    assert!(
        stderr(&nc).contains("Connection refused"),
        "{}",
        stderr(&nc)
    );
}

/// Makes the client end drop 1% of what it sends (and delay it 1 ms when
/// the kernel has netem). Returns what was set up.
fn lossy_client_link(r: &Running) -> String {
    let iface = r.lab.client().iface().to_string();
    let netem = r.client(&[
        "tc", "qdisc", "add", "dev", &iface, "root", "netem", "loss", "1%", "delay", "1ms",
    ]);
    if netem.status.success() {
        return "netem loss 1% delay 1ms".into();
    }
    // Kernels without CONFIG_NET_SCH_NETEM (like these machines): a classic
    // BPF classifier on the client's egress that takes a random 1% of
    // frames (TC_ACT_STOLEN: gone silently, like a loss on the wire, where
    // TC_ACT_SHOT would tell the sender's TCP). `ld rand; jgt
    // 0.99*2^32; ret STOLEN; ret OK`. No delay: nothing else here can add one.
    assert!(
        stderr(&netem).contains("unknown"),
        "tc netem: {}",
        stderr(&netem)
    );
    r.client_ok(&["tc", "qdisc", "add", "dev", &iface, "clsact"]);
    r.client_ok(&[
        "tc",
        "filter",
        "add",
        "dev",
        &iface,
        "egress",
        "bpf",
        "da",
        "bytecode",
        "4,32 0 0 4294963256,37 0 1 4252017622,6 0 0 4,6 0 0 0",
    ]);
    "no netem in this kernel: cls_bpf random loss 1% on client egress, no added delay".into()
}

/// 100 MB into discard and 10 MB through echo, over a client link that
/// loses 1% (and delays 1 ms where netem exists), byte-exact.
#[test]
fn root_tcp_bulk_transfers_survive_a_lossy_link() {
    if !root_or_skip("root_tcp_bulk_transfers_survive_a_lossy_link") {
        return;
    }
    let r = Running::start(&[]);
    resolved(&r);
    let link = lossy_client_link(&r);
    println!("client link: {link}");

    const DISCARD_BYTES: u64 = 100 * 1024 * 1024;
    let client_retrans = client_snmp(&r, "Tcp", "RetransSegs");
    let started = std::time::Instant::now();
    let out = r.client_within(
        300,
        &[
            "sh",
            "-c",
            "head -c 104857600 /dev/urandom | nc -N -w 30 10.10.0.4 9",
        ],
    );
    let took = started.elapsed();
    assert!(out.status.success(), "nc into discard: {}", stderr(&out));
    assert!(
        eventually(10, || r.stat("services.discard.tcp_bytes") == DISCARD_BYTES),
        "discard read {} bytes",
        r.stat("services.discard.tcp_bytes")
    );
    println!(
        "100 MiB into discard over the lossy link: {:.1} s ({:.1} Mbit/s), client retransmitted {} segments",
        took.as_secs_f64(),
        DISCARD_BYTES as f64 * 8.0 / took.as_secs_f64() / 1e6,
        client_snmp(&r, "Tcp", "RetransSegs") - client_retrans,
    );

    // Echo: hash what was sent and what came back, on the client.
    let file = format!("/tmp/xdpstack-echo-{}", std::process::id());
    let started = std::time::Instant::now();
    let out = r.client_within(
        300,
        &[
            "sh",
            "-c",
            &format!(
                "head -c 10485760 /dev/urandom > {file} && sha256sum < {file} && nc -N -w 30 10.10.0.4 7 < {file} | sha256sum; rm -f {file}"
            ),
        ],
    );
    let took = started.elapsed();
    let sums = stdout(&out);
    let lines: Vec<&str> = sums.lines().collect();
    assert_eq!(lines.len(), 2, "{sums}{}", stderr(&out));
    assert_eq!(lines[0], lines[1], "the echo came back different");
    assert_eq!(r.stat("services.echo.tcp_bytes"), 10 * 1024 * 1024);
    println!(
        "10 MiB round trip through echo over the same link: {:.1} s",
        took.as_secs_f64()
    );
}

/// A client that stops reading its echoes for a while: echo must stop
/// reading too (our window closes) and lose nothing.
#[test]
fn root_tcp_echo_holds_back_when_the_client_does_not_read() {
    if !root_or_skip("root_tcp_echo_holds_back_when_the_client_does_not_read") {
        return;
    }
    let r = Running::start(&[]);
    resolved(&r);
    // Small client socket buffers (per namespace), so that 8 MiB is far
    // more than every buffer between the writer and the sleeping reader
    // together: the pipe must stall whatever the kernel's autotuning does.
    r.client_ok(&["sysctl", "-qw", "net.ipv4.tcp_rmem=4096 65536 131072"]);
    r.client_ok(&["sysctl", "-qw", "net.ipv4.tcp_wmem=4096 65536 131072"]);
    let file = format!("/tmp/xdpstack-bp-{}", std::process::id());
    let out = r.client_within(
        120,
        &[
            "sh",
            "-c",
            &format!(
                "head -c 8388608 /dev/urandom > {file} && sha256sum < {file} && nc -N -w 30 10.10.0.4 7 < {file} | (sleep 3; sha256sum); rm -f {file}"
            ),
        ],
    );
    let sums = stdout(&out);
    let lines: Vec<&str> = sums.lines().collect();
    assert_eq!(lines.len(), 2, "{sums}{}", stderr(&out));
    assert_eq!(lines[0], lines[1], "the echo came back different");
    // The stall reached us: the client's window closed and we probed it
    // (RFC 9293 3.8.6.1) instead of echo reading ahead without bound.
    assert!(
        r.stat("stack.tcp.window_probes") >= 1,
        "{}",
        r.cli_json(&["stats", "--json"])["stack"]["tcp"]
    );
}
