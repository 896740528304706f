//! The AF_XDP sockets' own kernel counters (getsockopt XDP_STATISTICS) in
//! `xdpstack stats`: present, numbers, and showing a loss for real. The
//! daemon is stopped (SIGSTOP) while 3000 datagrams arrive: the kernel
//! fills the RX ring from the 2048 frames lent through the fill ring, then
//! has nowhere to put the rest, which it counts as `rx_dropped`. Root only.

mod support;

use std::time::{Duration, Instant};

use support::*;

const KERNEL_FIELDS: [&str; 6] = [
    "rx_dropped",
    "rx_invalid_descs",
    "tx_invalid_descs",
    "rx_ring_full",
    "rx_fill_ring_empty_descs",
    "tx_ring_empty_descs",
];

/// Frames lent to the kernel for receiving (`xsk::RX_FRAMES`).
const FILL_FRAMES: u64 = 2048;
const BURST: u64 = 3000;

/// `xsk.0.kernel.*` of a stats answer, every field required to be a number.
fn kernel_counters(stats: &serde_json::Value) -> Vec<u64> {
    let k = &stats["xsk"][0]["kernel"];
    KERNEL_FIELDS
        .iter()
        .map(|f| {
            k[f].as_u64()
                .unwrap_or_else(|| panic!("xsk.0.kernel.{f} is not a number in {stats}"))
        })
        .collect()
}

fn field(values: &[u64], name: &str) -> u64 {
    let i = KERNEL_FIELDS.iter().position(|f| *f == name).unwrap();
    values[i]
}

/// Sends `count` UDP datagrams from the client namespace's kernel to
/// 10.10.0.4:9999, each one retried until the veth takes it: IP_RECVERR
/// makes the kernel report ENOBUFS (a full veth ring) instead of hiding it,
/// so every datagram reaches the XDP program. Bounded to 20 s.
fn send_all(client_ns: &str, count: u64) -> u64 {
    let ns = client_ns.to_string();
    std::thread::spawn(move || {
        xdpstack::fastpath::peer::enter_netns(&ns).expect("client namespace");
        let sock = std::net::UdpSocket::bind("0.0.0.0:0").expect("UDP socket");
        let one: libc::c_int = 1;
        // SAFETY: a valid socket fd and a c_int option of the right size.
        let rc = unsafe {
            libc::setsockopt(
                std::os::fd::AsRawFd::as_raw_fd(&sock),
                libc::IPPROTO_IP,
                libc::IP_RECVERR,
                &one as *const libc::c_int as *const libc::c_void,
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        assert_eq!(rc, 0, "IP_RECVERR: {}", std::io::Error::last_os_error());
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut sent = 0;
        while sent < count && Instant::now() < deadline {
            match sock.send_to(&sent.to_be_bytes(), "10.10.0.4:9999") {
                Ok(_) => sent += 1,
                Err(_) => std::thread::sleep(Duration::from_micros(200)),
            }
        }
        sent
    })
    .join()
    .expect("sender thread")
}

#[test]
fn root_xsk_kernel_counters_show_a_burst_the_stopped_daemon_missed() {
    if !root_or_skip("root_xsk_kernel_counters_show_a_burst_the_stopped_daemon_missed") {
        return;
    }
    let r = Running::start(&[]);
    // Resolves 10.10.0.4 in the client's kernel (answered by XDP, which
    // keeps answering while the daemon is stopped).
    r.client_ok(&["ping", "-c", "1", "-W", "2", "10.10.0.4"]);

    let before = r.cli_json(&["stats", "--json"]);
    let k_before = kernel_counters(&before);
    // `-a`: the counter is still zero here, and `stats` hides zeros.
    let text = String::from_utf8_lossy(&r.cli(&["stats", "-a"]).stdout).into_owned();
    assert!(text.contains("xsk.0.kernel.rx_dropped"), "{text}");
    let redirected_before = before["xdp"]["redirected"].as_u64().unwrap();
    let rx_before = before["xsk"][0]["rx_frames"].as_u64().unwrap();

    // Nobody empties the RX ring or refills the fill ring while stopped.
    kill(r.pid(), libc::SIGSTOP);
    let sent = send_all(r.lab.client().ns(), BURST);
    kill(r.pid(), libc::SIGCONT);
    assert_eq!(sent, BURST, "the veth did not take the whole burst");

    // The worker takes the 2048 queued frames, then re-reads the counters
    // within 100 ms: wait (bounded) until every redirected frame is
    // accounted for.
    let mut last = before.clone();
    let settled = eventually(10, || {
        last = r.cli_json(&["stats", "--json"]);
        let k = kernel_counters(&last);
        let redirected = last["xdp"]["redirected"].as_u64().unwrap() - redirected_before;
        let rx = last["xsk"][0]["rx_frames"].as_u64().unwrap() - rx_before;
        let lost = field(&k, "rx_dropped") - field(&k_before, "rx_dropped")
            + field(&k, "rx_ring_full")
            - field(&k_before, "rx_ring_full");
        redirected >= BURST && rx + lost == redirected
    });
    let k_after = kernel_counters(&last);
    let redirected = last["xdp"]["redirected"].as_u64().unwrap() - redirected_before;
    let rx = last["xsk"][0]["rx_frames"].as_u64().unwrap() - rx_before;
    let delta = |name| field(&k_after, name) - field(&k_before, name);
    println!(
        "burst of {BURST} while stopped: xdp.redirected +{redirected}, xsk rx_frames +{rx}, \
         rx_dropped +{}, rx_ring_full +{}, rx_fill_ring_empty_descs +{}",
        delta("rx_dropped"),
        delta("rx_ring_full"),
        delta("rx_fill_ring_empty_descs"),
    );
    for (i, f) in KERNEL_FIELDS.iter().enumerate() {
        assert!(k_after[i] >= k_before[i], "{f} went down: {last}");
    }
    assert!(settled, "redirected frames not accounted for: {last}");
    // At most the fill ring's frames could be received; the rest is lost,
    // and the kernel says so.
    assert!(rx <= FILL_FRAMES + (redirected - BURST), "{last}");
    assert!(delta("rx_dropped") > 0, "{last}");
    assert!(delta("rx_fill_ring_empty_descs") > 0, "{last}");
    assert_eq!(delta("rx_invalid_descs"), 0, "{last}");
    assert_eq!(delta("tx_invalid_descs"), 0, "{last}");

    // It serves again afterwards, and the counters stay put or grow.
    r.client_ok(&["ping", "-c", "1", "-W", "2", "10.10.0.4"]);
    let again = kernel_counters(&r.cli_json(&["stats", "--json"]));
    for (i, f) in KERNEL_FIELDS.iter().enumerate() {
        assert!(again[i] >= k_after[i], "{f} went down");
    }
}
