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
