//! IPv6 with real clients (issue 13): the client namespace's own kernel
//! resolves our addresses with Neighbor Discovery and pings them, and the
//! XDP program answers in-kernel: the AF_XDP sockets see none of it.
//! Needs root; each test makes its own lab and removes it.

mod support;

use support::*;
use xtask::netns::{CLIENT_ADDR6, PREFIX_LEN6, STACK_ADDR6};

/// The daemon with `--ip6 fd00:10:10::4/64` (the link-local address is
/// derived from the stack end's MAC).
fn start6() -> Running {
    let addr = format!("{STACK_ADDR6}/{PREFIX_LEN6}");
    Running::start(&["--ip6", &addr])
}

/// The stack end's link-local address, fe80::/64 with the modified EUI-64
/// of its MAC (RFC 4291 appendix A), as the daemon derives it.
fn stack_link_local(r: &Running) -> std::net::Ipv6Addr {
    let mac = r.lab.stack().mac().expect("stack MAC");
    std::net::Ipv6Addr::from(xdpstack_common::layout::ipv6::link_local_from_mac(mac))
}

/// Waits until the client's link-local address finished DAD (the lab
/// leaves it in the kernel's default configuration).
fn wait_client_link_local(r: &Running) {
    let iface = r.lab.client().iface().to_string();
    assert!(
        eventually(10, || {
            let out = r
                .lab
                .client()
                .exec_ok(["ip", "-6", "addr", "show", "dev", &iface, "tentative"])
                .unwrap_or_default();
            out.trim().is_empty()
        }),
        "the client's link-local address stayed tentative"
    );
}

fn rx_frames(r: &Running) -> u64 {
    let s = r.cli_json(&["stats", "--json"]);
    s["xsk"]
        .as_array()
        .map(|q| q.iter().map(|x| x["rx_frames"].as_u64().unwrap_or(0)).sum())
        .unwrap_or(0)
}

#[test]
fn root_ping6_global_and_link_local_answered_in_kernel() {
    if !root_or_skip("root_ping6_global_and_link_local_answered_in_kernel") {
        return;
    }
    let r = start6();
    wait_client_link_local(&r);
    let rx_before = rx_frames(&r);
    let out = r.client_ok(&["ping", "-6", "-c", "5", "-i", "0.2", "-W", "2", STACK_ADDR6]);
    assert!(out.contains("5 received"), "{out}");
    let ll = format!("{}%{}", stack_link_local(&r), r.lab.client().iface());
    let out = r.client_ok(&["ping", "-6", "-c", "3", "-i", "0.2", "-W", "2", &ll]);
    assert!(out.contains("3 received"), "{out}");
    // Answered by the XDP program: NS -> NA for both addresses, echo.
    assert!(r.stat("xdp.icmp6_echo_replied") >= 8);
    assert!(r.stat("xdp.ndp_advert_sent") >= 2);
    assert_eq!(r.stat("xdp.slow_icmp6_bad_checksum"), 0);
    assert_eq!(
        rx_frames(&r),
        rx_before,
        "no NS or echo may reach the AF_XDP sockets"
    );
    // The client's kernel learned our MAC from the adverts.
    let mac = r.lab.stack().mac().expect("stack MAC");
    let mac = mac
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":");
    let neigh = r.client_ok(&["ip", "-6", "neigh", "show", "dev", r.lab.client().iface()]);
    assert!(
        neigh
            .lines()
            .any(|l| l.starts_with(STACK_ADDR6) && l.contains(&mac) && !l.contains("FAILED")),
        "{neigh}"
    );
    assert!(
        neigh
            .lines()
            .any(|l| l.starts_with(&stack_link_local(&r).to_string()) && l.contains(&mac)),
        "{neigh}"
    );
}

#[test]
fn root_ndisc6_resolves_our_addresses() {
    if !root_or_skip("root_ndisc6_resolves_our_addresses") {
        return;
    }
    if !command_exists("ndisc6") {
        eprintln!("skipping root_ndisc6_resolves_our_addresses: ndisc6 not installed (cargo xtask setup installs it)");
        return;
    }
    let r = start6();
    wait_client_link_local(&r);
    let mac = r.lab.stack().mac().expect("stack MAC");
    let want = mac
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":");
    let iface = r.lab.client().iface().to_string();
    for target in [STACK_ADDR6.to_string(), stack_link_local(&r).to_string()] {
        let out = r.client_ok(&["ndisc6", "-1", "-w", "1000", &target, &iface]);
        assert!(out.contains(&want), "ndisc6 {target}: {out}");
    }
    assert!(r.stat("xdp.ndp_advert_sent") >= 2);
}

#[test]
fn root_ipv6_other_traffic_reaches_userspace() {
    if !root_or_skip("root_ipv6_other_traffic_reaches_userspace") {
        return;
    }
    let r = start6();
    // Resolve first, then a UDP datagram: not answerable in-kernel, so it
    // goes to the AF_XDP socket (the userspace stack answers it with port
    // unreachable; see root_ipv6_through_the_userspace_stack).
    r.client_ok(&["ping", "-6", "-c", "1", "-W", "2", STACK_ADDR6]);
    let before = r.stat("xdp.slow_ip6_not_icmp");
    let _ = r.client(&[
        "sh",
        "-c",
        &format!("echo hello | nc -u -w 1 {STACK_ADDR6} 9999"),
    ]);
    assert!(eventually(5, || r.stat("xdp.slow_ip6_not_icmp") > before));
    assert!(eventually(5, || rx_frames(&r) >= 1));
    // Still alive and answering.
    let out = r.client_ok(&["ping", "-6", "-c", "2", "-i", "0.2", "-W", "2", STACK_ADDR6]);
    assert!(out.contains("2 received"), "{out}");
}

#[test]
fn root_client_dad_for_our_address_fails_on_our_advert() {
    if !root_or_skip("root_client_dad_for_our_address_fails_on_our_advert") {
        return;
    }
    let r = start6();
    let iface = r.lab.client().iface().to_string();
    let addr = format!("{STACK_ADDR6}/{PREFIX_LEN6}");
    // Linux's probe carries a nonce option (RFC 7527: same size as the
    // advert); with enhanced_dad off it has no option and the program must
    // grow the frame by 8 bytes. Either way the client must see our advert
    // (to ff02::1, RFC 4861 7.2.4) and give the address up.
    for enhanced in ["1", "0"] {
        let sysctl = format!("net.ipv6.conf.{iface}.enhanced_dad={enhanced}");
        r.client_ok(&["sysctl", "-q", "-w", &sysctl]);
        let before = r.stat("xdp.ndp_dad_advert_sent");
        r.client_ok(&["ip", "-6", "addr", "add", &addr, "dev", &iface]);
        let failed = eventually(10, || {
            r.lab
                .client()
                .exec_ok(["ip", "-6", "addr", "show", "dev", &iface])
                .is_ok_and(|out| {
                    out.lines()
                        .any(|l| l.contains(STACK_ADDR6) && l.contains("dadfailed"))
                })
        });
        let shown = r
            .lab
            .client()
            .exec_ok(["ip", "-6", "addr", "show", "dev", &iface])
            .unwrap_or_default();
        assert!(failed, "enhanced_dad={enhanced}: DAD did not fail: {shown}");
        assert!(r.stat("xdp.ndp_dad_advert_sent") > before);
        r.client_ok(&["ip", "-6", "addr", "del", &addr, "dev", &iface]);
    }
}

/// IPv6 through the userspace stack with real clients: a 3000-byte ping
/// (fragments, reassembled and answered in fragments by userspace), HTTP,
/// TCP and UDP echo, `xdpstack ping` to the client and `xdpstack neigh`.
#[test]
fn root_ipv6_through_the_userspace_stack() {
    if !root_or_skip("root_ipv6_through_the_userspace_stack") {
        return;
    }
    let r = start6();
    wait_client_link_local(&r);
    let rx_before = rx_frames(&r);
    let out = r.client_ok(&[
        "ping",
        "-6",
        "-c",
        "3",
        "-i",
        "0.3",
        "-W",
        "3",
        "-s",
        "3000",
        STACK_ADDR6,
    ]);
    assert!(out.contains("3 received"), "{out}");
    assert!(rx_frames(&r) > rx_before, "fragments go through userspace");
    assert!(r.stat("stack.ipv6.reassembled") >= 3);
    assert!(r.stat("stack.ipv6.fragments_sent") >= 6);
    assert!(r.stat("stack.icmpv6.echo_replies_sent") >= 3);

    let url = format!("http://[{STACK_ADDR6}]/");
    let code = r.client_ok(&[
        "curl",
        "-6",
        "-sS",
        "-m",
        "10",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        &url,
    ]);
    assert_eq!(code.trim(), "200");

    let tcp = r.client_ok(&[
        "sh",
        "-c",
        &format!("printf 'hello over tcp6\\n' | nc -6 -N -w 5 {STACK_ADDR6} 7"),
    ]);
    assert_eq!(tcp, "hello over tcp6\n");
    let udp = r.client_ok(&[
        "sh",
        "-c",
        &format!("printf 'hello over udp6\\n' | nc -6 -u -w 2 {STACK_ADDR6} 7"),
    ]);
    assert_eq!(udp, "hello over udp6\n");
    // UDP to a closed port: port unreachable from userspace (RFC 4443 3.1).
    let before = r.stat("stack.icmpv6.errors_sent");
    let _ = r.client(&["nc", "-6", "-uzv", "-w", "2", STACK_ADDR6, "9999"]);
    assert!(r.stat("stack.icmpv6.errors_sent") > before);

    // The client's kernel learned us.
    let neigh = r.client_ok(&["ip", "-6", "neigh", "show", "dev", r.lab.client().iface()]);
    assert!(
        neigh
            .lines()
            .any(|l| l.starts_with(STACK_ADDR6) && l.contains("lladdr")),
        "{neigh}"
    );

    // xdpstack's own ping to the client, and the client in its table.
    let out = r.cli(&["ping", "-c", "2", "-i", "0.2", CLIENT_ADDR6]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("2 received"), "{text}");
    let rows = r.cli_json(&["neigh", "-6", "-j"]);
    let rows = rows.as_array().expect("a list");
    assert!(
        rows.iter().any(|e| e["dst"] == CLIENT_ADDR6
            && e["lladdr"].is_string()
            && e["state"][0].is_string()),
        "{rows:?}"
    );
    assert!(rows
        .iter()
        .all(|e| e["dst"].as_str().is_some_and(|d| d.contains(':'))));

    // Start-up: both addresses passed DAD (nobody else has them) and the
    // solicited-node groups were joined with MLDv2 reports.
    assert!(eventually(5, || r.stat("stack.dad.succeeded") >= 2));
    assert_eq!(r.stat("stack.dad.failed"), 0);
    assert!(r.stat("stack.icmpv6.mld_reports_sent") >= 2);
}

/// With the fast path off, Neighbor Discovery and echo reach userspace,
/// which answers them itself (RFC 4861 7.2.4, RFC 4443 4.2).
#[test]
fn root_ipv6_answered_by_userspace_with_the_fast_path_off() {
    if !root_or_skip("root_ipv6_answered_by_userspace_with_the_fast_path_off") {
        return;
    }
    let addr = format!("{STACK_ADDR6}/{PREFIX_LEN6}");
    let r = Running::start(&["--ip6", &addr, "--fastpath", "off"]);
    wait_client_link_local(&r);
    let out = r.client_ok(&["ping", "-6", "-c", "3", "-i", "0.2", "-W", "2", STACK_ADDR6]);
    assert!(out.contains("3 received"), "{out}");
    let ll = format!("{}%{}", stack_link_local(&r), r.lab.client().iface());
    let out = r.client_ok(&["ping", "-6", "-c", "2", "-i", "0.2", "-W", "2", &ll]);
    assert!(out.contains("2 received"), "{out}");
    assert!(r.stat("stack.icmpv6.na_sent") >= 2);
    assert!(r.stat("stack.icmpv6.echo_replies_sent") >= 5);
}
