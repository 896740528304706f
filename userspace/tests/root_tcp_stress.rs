//! TCP and UDP against the lab client's Linux kernel in the situations where
//! a stack shows whether it behaves like Linux's (issue 12): default TX
//! checksum offload on the client. Root only.

mod support;

use support::{root_or_skip, Running};

/// Resolves ARP both ways first, so nothing waits behind ARP.
fn resolved(r: &Running) {
    r.client_ok(&["ping", "-c", "1", "-W", "2", "10.10.0.4"]);
}

/// The client keeps the veth's default TX checksum offload, so its kernel
/// sends UDP and TCP with partial checksums (CHECKSUM_PARTIAL); echo,
/// discard and HTTP must all answer, and the partial sums must be counted.
#[test]
fn root_client_with_default_offload_reaches_every_service() {
    if !root_or_skip("root_client_with_default_offload_reaches_every_service") {
        return;
    }
    let r = Running::start(&[]);
    let iface = r.lab.client().iface().to_string();
    let features = r.client_ok(&["ethtool", "-k", &iface]);
    assert!(
        features.contains("tx-checksumming: on"),
        "the lab turned offload off: {features}"
    );
    resolved(&r);
    let udp_echo = r.client_ok(&["sh", "-c", "printf 'udp echo\\n' | nc -u -w 2 10.10.0.4 7"]);
    assert_eq!(udp_echo, "udp echo\n");
    r.client_ok(&["sh", "-c", "printf 'udp discard' | nc -u -w 1 10.10.0.4 9"]);
    let tcp_echo = r.client_ok(&["sh", "-c", "printf 'tcp echo\\n' | nc -N -w 5 10.10.0.4 7"]);
    assert_eq!(tcp_echo, "tcp echo\n");
    r.client_ok(&[
        "sh",
        "-c",
        "head -c 100000 /dev/zero | nc -N -w 5 10.10.0.4 9",
    ]);
    let page = r.client_ok(&["curl", "-sS", "-m", "10", "http://10.10.0.4/"]);
    assert!(page.contains("xdpstack at 10.10.0.4/24"), "{page}");
    assert_eq!(r.stat("services.discard.udp_bytes"), 11);
    assert!(support::eventually(5, || r
        .stat("services.discard.tcp_bytes")
        == 100_000));
    assert_eq!(r.stat("stack.udp.bad_checksum"), 0);
    assert_eq!(r.stat("stack.tcp.bad_checksum"), 0);
    assert!(r.stat("stack.udp.partial_checksum_accepted") >= 2);
    assert!(r.stat("stack.tcp.partial_checksum_accepted") >= 10);
}
