//! Floods against the real daemon, from the client namespace through an
//! AF_PACKET raw socket that skips the qdisc: 100k ARP requests from random
//! senders, and UDP at the highest rate this sender reaches. The daemon must
//! survive, keep its ARP cache within its bound and its memory bounded, and
//! the fast path must keep answering pings during the flood. Figures are
//! printed (README, "Reliability"). Root only.

mod hostile;
mod support;

use std::process::Stdio;
use std::time::{Duration, Instant};

use hostile::*;
use support::*;
use xdpstack_common::checksum;

/// Sends `count` frames made by `make` as fast as possible (at most `secs`
/// seconds); returns how many were sent and how long it took.
fn flood(
    ns: &str,
    iface: &str,
    count: u64,
    secs: u64,
    make: impl Fn(u64) -> Vec<u8> + Send + 'static,
) -> (u64, Duration) {
    let ns = ns.to_string();
    let iface = iface.to_string();
    std::thread::spawn(move || {
        xdpstack::fastpath::peer::enter_netns(&ns).expect("client namespace");
        let sock = RawSocket::open(&iface).expect("raw socket");
        sock.bypass_qdisc();
        let start = Instant::now();
        let mut sent = 0;
        for i in 0..count {
            if start.elapsed() > Duration::from_secs(secs) {
                break;
            }
            // ENOBUFS when the veth is full: that frame is lost, go on.
            if sock.send(&make(i)).is_ok() {
                sent += 1;
            }
        }
        (sent, start.elapsed())
    })
    .join()
    .expect("flood thread")
}

/// A pinger in the client namespace for the length of a flood.
fn start_pinger(r: &Running, count: &str) -> std::process::Child {
    r.lab
        .client()
        .command([
            "ping",
            "-n",
            "-q",
            "-c",
            count,
            "-i",
            "0.02",
            "-W",
            "1",
            "-w",
            "30",
            "10.10.0.4",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("ping")
}

fn ping_summary(p: std::process::Child) -> String {
    let out = p.wait_with_output().expect("ping output");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find(|l| l.contains("received"))
        .unwrap_or("")
        .to_string()
}

/// xorshift64*, for random senders.
fn mix(mut x: u64) -> u64 {
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    x.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

#[test]
fn root_arp_flood_from_random_senders() {
    if !root_or_skip("root_arp_flood_from_random_senders") {
        return;
    }
    const ARP_MAX: usize = 100;
    let (r, stderr) = start_in(Default::default(), &[], &["--arp-max", "100"]);
    r.client_ok(&["ping", "-c", "1", "-W", "2", "10.10.0.4"]);
    let rss_before = rss_kib(r.pid());
    let replied_before = r.stat("xdp.icmp_echo_replied");
    let pinger = start_pinger(&r, "400");
    std::thread::sleep(Duration::from_millis(200));
    // 100k requests for 10.10.0.4 from random unicast MACs and random
    // addresses of the subnet (.1-.254 but ours and the client's).
    let peer_before = r.peer.counts().unwrap().echo_replies;
    let (sent, took) = flood(
        r.lab.client().ns(),
        r.lab.client().iface(),
        100_000,
        20,
        |i| {
            let x = mix(i + 1);
            let mut mac = x.to_be_bytes();
            mac[0] = (mac[0] & 0xfe) | 0x02;
            let mut host = (x >> 48) as u8 % 250 + 5;
            if host == 255 {
                host = 254;
            }
            let mut f = vec![0xff; 6];
            f.extend_from_slice(&mac[..6]);
            f.extend_from_slice(&[0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1]);
            f.extend_from_slice(&mac[..6]);
            f.extend_from_slice(&[10, 10, 0, host]);
            f.extend_from_slice(&[0; 6]);
            f.extend_from_slice(&[10, 10, 0, 4]);
            f
        },
    );
    let during = r.peer.counts().unwrap().echo_replies - peer_before;
    let summary = ping_summary(pinger);
    std::thread::sleep(Duration::from_millis(500));
    let rss_after = rss_kib(r.pid());
    let entries = r
        .cli_json(&["arp", "--json"])
        .as_array()
        .map_or(0, Vec::len);
    let rate = sent as f64 / took.as_secs_f64();
    println!(
        "ARP flood: {sent} sent in {took:?} ({rate:.0}/s); xdp.arp_replied {}, neigh_events {}, \
         neigh_events_lost {}, ARP cache {entries} entries (max {ARP_MAX}), evictions {}; \
         RSS {rss_before} KiB -> {rss_after} KiB; pings: {summary}, {during} echo replies reached the client during the flood; XDP echo replies {}",
        r.stat("xdp.arp_replied"),
        r.stat("stack.stack.neigh_events"),
        r.stat("xdp.neigh_events_lost"),
        r.cli_json(&["stats", "--json"])["stack"]["arp_cache"],
        r.stat("xdp.icmp_echo_replied") - replied_before,
    );
    assert!(r.daemon_alive(), "{}", stderr.text());
    assert!(sent >= 90_000, "only {sent} sent");
    assert!(entries <= ARP_MAX, "{entries} entries");
    assert!(r.stat("xdp.arp_replied") >= sent / 2);
    // Bounded memory: the cache and queues are bounded, so RSS may grow by
    // allocator slack but not with the 100k senders.
    assert!(
        rss_after < rss_before + 16 * 1024,
        "RSS {rss_before} -> {rss_after} KiB"
    );
    assert!(during > 0, "no ping answered during the flood: {summary}");
    assert!(r.stat("xdp.icmp_echo_replied") > replied_before);
}

/// A UDP datagram from the client to 10.10.0.4:9999, a closed port (the
/// flood exercises the port-unreachable rate limit), with a valid checksum.
fn udp_frame(client: [u8; 6], stack: [u8; 6], i: u64) -> Vec<u8> {
    let payload = i.to_be_bytes();
    let mut u = vec![0u8; 8 + payload.len()];
    u[0..2].copy_from_slice(&(40000 + (i % 1000) as u16).to_be_bytes());
    u[2..4].copy_from_slice(&9999u16.to_be_bytes());
    let len = u.len() as u16;
    u[4..6].copy_from_slice(&len.to_be_bytes());
    u[8..].copy_from_slice(&payload);
    let mut pseudo = vec![10, 10, 0, 2, 10, 10, 0, 4, 0, 17];
    pseudo.extend_from_slice(&len.to_be_bytes());
    pseudo.extend_from_slice(&u);
    let c = checksum::checksum(&pseudo);
    u[6..8].copy_from_slice(&c.to_be_bytes());
    let mut h = vec![
        0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 10, 0, 2, 10, 10, 0, 4,
    ];
    h[2..4].copy_from_slice(&((20 + u.len()) as u16).to_be_bytes());
    let c = checksum::checksum(&h);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    let mut f = stack.to_vec();
    f.extend_from_slice(&client);
    f.extend_from_slice(&[0x08, 0x00]);
    f.extend_from_slice(&h);
    f.extend_from_slice(&u);
    f
}

#[test]
fn root_udp_flood_is_survived_and_pings_still_answered() {
    if !root_or_skip("root_udp_flood_is_survived_and_pings_still_answered") {
        return;
    }
    let (r, stderr) = start_in(Default::default(), &[], &[]);
    r.client_ok(&["ping", "-c", "1", "-W", "2", "10.10.0.4"]);
    let client = r.lab.client().mac().unwrap();
    let stack = r.lab.stack().mac().unwrap();
    let rss_before = rss_kib(r.pid());
    let replied_before = r.stat("xdp.icmp_echo_replied");
    let pinger = start_pinger(&r, "400");
    std::thread::sleep(Duration::from_millis(200));
    let peer_before = r.peer.counts().unwrap().echo_replies;
    let (sent, took) = flood(
        r.lab.client().ns(),
        r.lab.client().iface(),
        5_000_000,
        3,
        move |i| udp_frame(client, stack, i),
    );
    let during = r.peer.counts().unwrap().echo_replies - peer_before;
    let summary = ping_summary(pinger);
    std::thread::sleep(Duration::from_millis(500));
    let s = r.cli_json(&["stats", "--json"]);
    let udp = s["stack"]["udp"]["received"].as_u64().unwrap_or(0);
    let redirected = s["xdp"]["redirected"].as_u64().unwrap_or(0);
    let rx = s["xsk"][0]["rx_frames"].as_u64().unwrap_or(0);
    let errors = s["stack"]["stack"]["icmp_errors_sent"]
        .as_u64()
        .unwrap_or(0);
    let limited = s["stack"]["stack"]["icmp_errors_rate_limited"]
        .as_u64()
        .unwrap_or(0);
    let rate = sent as f64 / took.as_secs_f64();
    println!(
        "UDP flood: {sent} sent in {took:?} ({rate:.0}/s); xdp.redirected {redirected}, \
         AF_XDP rx {rx} (not delivered: {}), udp_received {udp}, port unreachables sent {errors}, \
         rate limited {limited}; RSS {rss_before} -> {} KiB; pings: {summary}, {during} echo replies \
         reached the client during the flood; \
         XDP echo replies {}",
        redirected.saturating_sub(rx),
        rss_kib(r.pid()),
        r.stat("xdp.icmp_echo_replied") - replied_before
    );
    assert!(r.daemon_alive(), "{}", stderr.text());
    assert!(redirected > 0 && udp > 0);
    // RFC 1122 3.2.2 / our 1000/s limit: most port unreachables are not sent.
    assert!(limited > 0, "no rate limiting under a flood");
    assert!(during > 0, "no ping answered during the flood: {summary}");
    assert!(r.stat("xdp.icmp_echo_replied") > replied_before);
    assert!(!stderr.text().contains("panicked"));
}
