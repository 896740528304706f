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

/// A counter of the client namespace's kernel from /proc/net/netstat or
/// /proc/net/snmp, like ("TcpExt", "TCPZeroWindowDrop").
fn client_mib(r: &Running, file: &str, group: &str, name: &str) -> u64 {
    let text = r.client_ok(&["cat", file]);
    let prefix = format!("{group}:");
    let lines: Vec<&str> = text.lines().filter(|l| l.starts_with(&prefix)).collect();
    assert_eq!(lines.len(), 2, "{group} lines in {file}");
    let names: Vec<&str> = lines[0].split_whitespace().collect();
    let values: Vec<&str> = lines[1].split_whitespace().collect();
    let i = names
        .iter()
        .position(|n| *n == name)
        .unwrap_or_else(|| panic!("no {group} {name} in {file}"));
    values[i].parse().expect("a number")
}

/// Issue 12 failure 4: a reader that stops reading for 3 s then resumes
/// gets every byte, and never a byte past its window: Linux counts data
/// that arrives into its zero window as TCPZeroWindowDrop (and a one-byte
/// probe is such data), so that counter must not move.
#[test]
fn root_reader_that_pauses_gets_every_byte_and_nothing_past_its_window() {
    if !root_or_skip("root_reader_that_pauses_gets_every_byte_and_nothing_past_its_window") {
        return;
    }
    let r = Running::start(&[]);
    resolved(&r);
    // Small client buffers, so the 3 s pause closes the client's window.
    r.client_ok(&["sysctl", "-qw", "net.ipv4.tcp_rmem=4096 65536 131072"]);
    r.client_ok(&["sysctl", "-qw", "net.ipv4.tcp_wmem=4096 65536 131072"]);
    let drops = client_mib(&r, "/proc/net/netstat", "TcpExt", "TCPZeroWindowDrop");
    let file = format!("/tmp/xdpstack-zw-{}", std::process::id());
    let out = r.client_within(
        120,
        &[
            "sh",
            "-c",
            &format!(
                "head -c 4194304 /dev/urandom > {file} && sha256sum < {file} && nc -N -w 30 10.10.0.4 7 < {file} | (sleep 3; sha256sum); rm -f {file}"
            ),
        ],
    );
    let sums = String::from_utf8_lossy(&out.stdout).into_owned();
    let lines: Vec<&str> = sums.lines().collect();
    assert_eq!(
        lines.len(),
        2,
        "{sums}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(lines[0], lines[1], "the echo came back different");
    let probes = r.stat("stack.tcp.window_probes");
    assert!(probes >= 1, "the client's window never closed");
    assert_eq!(
        client_mib(&r, "/proc/net/netstat", "TcpExt", "TCPZeroWindowDrop"),
        drops,
        "xdpstack sent data into the client's zero window ({probes} probes)"
    );
    assert_eq!(r.stat("stack.tcp.fast_retransmits"), 0);
}
