//! Chargen (RFC 864, port 19) against the Linux kernel of the lab's client
//! namespace: `nc` reads from it over TCP and UDP. Root only.

mod support;

use support::{eventually, root_or_skip, Running};

/// The RFC 864 stream, one period, written here from the RFC (not taken
/// from the service) so the check is independent.
fn pattern() -> Vec<u8> {
    let mut p = Vec::new();
    for line in 0..95u8 {
        p.extend((0..72u8).map(|k| b' ' + (line + k) % 95));
        p.extend_from_slice(b"\r\n");
    }
    p
}

/// The first byte of `got` that is not the pattern from its start.
fn first_mismatch(got: &[u8]) -> Option<usize> {
    let p = pattern();
    got.iter()
        .enumerate()
        .position(|(i, b)| *b != p[i % p.len()])
}

#[test]
fn root_chargen_streams_the_rfc_864_pattern_over_tcp_and_udp() {
    if !root_or_skip("root_chargen_streams_the_rfc_864_pattern_over_tcp_and_udp") {
        return;
    }
    let r = Running::start(&["--services", "echo,discard,http,chargen"]);
    r.client_ok(&["ping", "-c", "1", "-W", "2", "10.10.0.4"]);

    // 16 MiB through the client kernel's socket; `head` closes the pipe
    // after them and nc goes away, as a chargen client does.
    const BYTES: usize = 16 << 20;
    let out = r.client_within(
        120,
        &[
            "sh",
            "-c",
            &format!("nc -d -w 10 10.10.0.4 19 | head -c {BYTES}"),
        ],
    );
    let got = out.stdout;
    assert_eq!(
        got.len(),
        BYTES,
        "read {} bytes: {}",
        got.len(),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(first_mismatch(&got), None, "the stream is not the pattern");
    assert!(r.stat("services.chargen.tcp_bytes") >= BYTES as u64);
    assert_eq!(r.stat("services.chargen.tcp_connections"), 1);
    // The client went away: chargen lets the connection go.
    assert!(
        eventually(10, || r.stat("services.chargen.tcp_open") == 0),
        "chargen still holds the connection"
    );

    // UDP: each datagram is answered with one line of the pattern.
    let out = r.client_ok(&["sh", "-c", "printf x | nc -u -w 1 10.10.0.4 19"]);
    assert_eq!(out.len(), 74, "{out:?}");
    assert_eq!(first_mismatch(out.as_bytes()), None, "{out:?}");
    assert_eq!(r.stat("services.chargen.udp_datagrams"), 1);
}
