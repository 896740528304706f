//! The XDP program run by the kernel on crafted frames (BPF_PROG_TEST_RUN):
//! verdicts, exact reply bytes, checksums, truncation, counters and
//! neighbour events. Needs root (CAP_BPF); CI runs it as root.

mod support;

use support::*;
use xdpstack::fastpath::Fastpath;
use xdpstack::wire::{ArpOp, EtherType, Icmpv4Packet, Icmpv4Repr, IpProtocol, Ipv4Packet, MacAddr};
use xdpstack_common::config::{FastpathConfig, FLAG_FASTPATH, FLAG_NEIGH_EVENTS};
use xdpstack_common::counters::Counter;
use xdpstack_common::neigh::{NeighEvent, EVENT_ANSWERED};

const XDP_PASS: u32 = 2;
const XDP_TX: u32 = 3;

fn fastpath(flags: u32) -> Fastpath {
    Fastpath::load(FastpathConfig::new(US_IP.octets(), US_MAC.octets(), flags))
        .expect("loading the XDP program")
}

fn counter(fp: &Fastpath, c: Counter) -> u64 {
    fp.counters().expect("reading counters").get(c)
}

#[test]
fn root_arp_request_for_us_gets_exact_reply() {
    if !root_or_skip("root_arp_request_for_us_gets_exact_reply") {
        return;
    }
    let mut fp = fastpath(FLAG_FASTPATH | FLAG_NEIGH_EVENTS);
    let mut events = fp.take_neigh_events().unwrap();
    let (verdict, out) = test_run(&fp, &arp_request_frame(US_IP)).unwrap();
    assert_eq!(verdict, XDP_TX);
    let expected = ethernet(
        US_MAC,
        PEER_MAC,
        EtherType::Arp,
        &arp(ArpOp::Reply, US_MAC, US_IP, PEER_MAC, PEER_IP),
    );
    assert_eq!(out, expected);
    assert_eq!(counter(&fp, Counter::ArpReplied), 1);
    // The requester's binding reaches userspace, marked answered.
    let item = events.next().expect("a neighbour event");
    let ev = NeighEvent::from_bytes(&item).unwrap();
    assert_eq!(ev.sender_ip, PEER_IP.octets());
    assert_eq!(ev.sender_mac, PEER_MAC.octets());
    assert_eq!(ev.flags & EVENT_ANSWERED, EVENT_ANSWERED);
}

#[test]
fn root_arp_for_others_and_odd_arp_is_not_answered() {
    if !root_or_skip("root_arp_for_others_and_odd_arp_is_not_answered") {
        return;
    }
    let fp = fastpath(FLAG_FASTPATH | FLAG_NEIGH_EVENTS);
    let other = std::net::Ipv4Addr::new(10, 10, 0, 9);
    let (verdict, _) = test_run(&fp, &arp_request_frame(other)).unwrap();
    assert_eq!(verdict, XDP_PASS);
    assert_eq!(counter(&fp, Counter::PassedNotOurs), 1);

    // A reply, a gratuitous claim on our address and a request from a group
    // MAC are for the userspace stack (no socket here: PASS, counted).
    let cases = [
        arp(ArpOp::Reply, PEER_MAC, PEER_IP, US_MAC, US_IP),
        arp(ArpOp::Request, PEER_MAC, US_IP, MacAddr::ZERO, US_IP),
        arp(
            ArpOp::Request,
            MacAddr([0x03, 0, 0, 0, 0, 1]),
            PEER_IP,
            MacAddr::ZERO,
            US_IP,
        ),
    ];
    for a in &cases {
        let (verdict, _) = test_run(
            &fp,
            &ethernet(PEER_MAC, MacAddr::BROADCAST, EtherType::Arp, a),
        )
        .unwrap();
        assert_eq!(verdict, XDP_PASS);
    }
    assert_eq!(counter(&fp, Counter::RedirectNoSocket), 3);
    assert_eq!(counter(&fp, Counter::ArpReplied), 0);
}

#[test]
fn root_echo_request_gets_valid_reply_with_same_payload() {
    if !root_or_skip("root_echo_request_gets_valid_reply_with_same_payload") {
        return;
    }
    let fp = fastpath(FLAG_FASTPATH | FLAG_NEIGH_EVENTS);
    // Sizes cover every checksum tail case and the largest 1500-MTU ping.
    for size in [
        0usize, 1, 2, 3, 5, 56, 64, 255, 256, 257, 511, 1000, 1471, 1472,
    ] {
        let frame = echo_request_frame(size);
        let (verdict, out) = test_run(&fp, &frame).unwrap();
        assert_eq!(verdict, XDP_TX, "size {size}");
        assert_eq!(&out[0..6], &PEER_MAC.0, "size {size}: Ethernet dst");
        assert_eq!(&out[6..12], &US_MAC.0, "size {size}: Ethernet src");
        let ip = Ipv4Packet::new_checked(&out[14..]).unwrap();
        assert!(ip.verify_checksum(), "size {size}: IP checksum");
        assert_eq!((ip.src(), ip.dst(), ip.ttl()), (US_IP, PEER_IP, 64));
        let icmp = Icmpv4Packet::new_checked(ip.payload()).unwrap();
        assert!(icmp.verify_checksum(), "size {size}: ICMP checksum");
        match Icmpv4Repr::parse(&icmp).unwrap() {
            Icmpv4Repr::EchoReply { ident, seq, data } => {
                assert_eq!((ident, seq), (0x4242, 7));
                assert_eq!(data, &frame[14 + 20 + 8..], "size {size}: payload");
            }
            other => panic!("not an echo reply: {other:?}"),
        }
    }
    assert_eq!(counter(&fp, Counter::IcmpEchoReplied), 14);
}

#[test]
fn root_echo_requests_the_kernel_would_drop_are_not_answered() {
    if !root_or_skip("root_echo_requests_the_kernel_would_drop_are_not_answered") {
        return;
    }
    let fp = fastpath(FLAG_FASTPATH | FLAG_NEIGH_EVENTS);
    let good = echo_request_frame(56);
    let mut bad_ip_csum = good.clone();
    bad_ip_csum[14 + 10] ^= 0x01;
    let mut bad_icmp_csum = good.clone();
    bad_icmp_csum[14 + 20 + 2] ^= 0x01;
    let mut broadcast_l2 = good.clone();
    broadcast_l2[0..6].copy_from_slice(&[0xff; 6]);
    let mut wrong_l2 = good.clone();
    wrong_l2[0..6].copy_from_slice(&[0x02, 9, 9, 9, 9, 9]);
    let data = [0u8; 8];
    let req = icmp(&Icmpv4Repr::EchoRequest {
        ident: 1,
        seq: 1,
        data: &data,
    });
    let to_broadcast = ethernet(
        PEER_MAC,
        US_MAC,
        EtherType::Ipv4,
        &ipv4(
            PEER_IP,
            std::net::Ipv4Addr::new(10, 10, 0, 255),
            IpProtocol::Icmp,
            64,
            &req,
        ),
    );
    let from_martian = ethernet(
        PEER_MAC,
        US_MAC,
        EtherType::Ipv4,
        &ipv4(
            std::net::Ipv4Addr::new(127, 0, 0, 1),
            US_IP,
            IpProtocol::Icmp,
            64,
            &req,
        ),
    );
    for (name, frame) in [
        ("bad IP checksum", &bad_ip_csum),
        ("bad ICMP checksum", &bad_icmp_csum),
        ("broadcast Ethernet destination", &broadcast_l2),
        ("another station's MAC", &wrong_l2),
        ("subnet broadcast destination", &to_broadcast),
        ("martian source", &from_martian),
    ] {
        let (verdict, _) = test_run(&fp, frame).unwrap();
        assert_ne!(verdict, XDP_TX, "{name} was answered");
    }
    assert_eq!(counter(&fp, Counter::IcmpEchoReplied), 0);
    assert_eq!(counter(&fp, Counter::SlowBadChecksum), 2);
    assert_eq!(counter(&fp, Counter::SlowL2NotUnicast), 1);
    assert_eq!(counter(&fp, Counter::SlowMartian), 1);
    assert_eq!(counter(&fp, Counter::PassedNotOurs), 2);
}

#[test]
fn root_truncated_frames_are_never_answered() {
    if !root_or_skip("root_truncated_frames_are_never_answered") {
        return;
    }
    let fp = fastpath(FLAG_FASTPATH | FLAG_NEIGH_EVENTS);
    for frame in [arp_request_frame(US_IP), echo_request_frame(56)] {
        for len in 0..frame.len() {
            // The kernel refuses test frames shorter than an Ethernet header.
            if let Ok((verdict, _)) = test_run(&fp, &frame[..len]) {
                assert_ne!(verdict, XDP_TX, "answered a frame cut at {len} bytes");
            }
        }
        // The whole frame still is answered: the cut ones failed on length.
        assert_eq!(test_run(&fp, &frame).unwrap().0, XDP_TX);
    }
}

#[test]
fn root_fastpath_off_hands_everything_to_userspace() {
    if !root_or_skip("root_fastpath_off_hands_everything_to_userspace") {
        return;
    }
    let fp = fastpath(FLAG_NEIGH_EVENTS);
    for frame in [arp_request_frame(US_IP), echo_request_frame(56)] {
        let (verdict, _) = test_run(&fp, &frame).unwrap();
        // No AF_XDP socket in a test run: the redirect falls back to PASS.
        assert_eq!(verdict, XDP_PASS);
    }
    assert_eq!(counter(&fp, Counter::SlowFastpathOff), 2);
    assert_eq!(counter(&fp, Counter::RedirectNoSocket), 2);
    assert_eq!(
        counter(&fp, Counter::ArpReplied) + counter(&fp, Counter::IcmpEchoReplied),
        0
    );
}

/// Runs an ARP request for us from `mac`/`ip`: it must be answered; returns
/// the neighbour events it published.
fn arp_request_events(
    fp: &Fastpath,
    events: &mut aya::maps::RingBuf<aya::maps::MapData>,
    mac: MacAddr,
    ip: std::net::Ipv4Addr,
) -> Vec<NeighEvent> {
    let a = arp(ArpOp::Request, mac, ip, MacAddr::ZERO, US_IP);
    let (verdict, _) =
        test_run(fp, &ethernet(mac, MacAddr::BROADCAST, EtherType::Arp, &a)).unwrap();
    assert_eq!(verdict, XDP_TX, "request from {mac} {ip} not answered");
    let mut v = Vec::new();
    while let Some(item) = events.next() {
        v.extend(NeighEvent::from_bytes(&item));
    }
    v
}

#[test]
fn root_repeated_arp_sender_is_published_only_when_it_changes() {
    if !root_or_skip("root_repeated_arp_sender_is_published_only_when_it_changes") {
        return;
    }
    // An hour: the repeats below come far sooner, whatever the load.
    let cfg = FastpathConfig::new(
        US_IP.octets(),
        US_MAC.octets(),
        FLAG_FASTPATH | FLAG_NEIGH_EVENTS,
    )
    .with_neigh_refresh_ns(3600 * 1_000_000_000);
    let mut fp = Fastpath::load(cfg).expect("loading the XDP program");
    let mut events = fp.take_neigh_events().unwrap();

    let first = arp_request_events(&fp, &mut events, PEER_MAC, PEER_IP);
    assert_eq!(first.len(), 1, "{first:?}");
    assert_eq!(first[0].sender_mac, PEER_MAC.octets());
    // The same binding again: still answered, but nothing new to publish.
    let again = arp_request_events(&fp, &mut events, PEER_MAC, PEER_IP);
    assert!(again.is_empty(), "{again:?}");
    assert_eq!(counter(&fp, Counter::NeighEvents), 1);
    assert_eq!(counter(&fp, Counter::NeighEventsSuppressed), 1);
    assert_eq!(counter(&fp, Counter::ArpReplied), 2);

    // A changed MAC for the same address is published at once.
    let moved = MacAddr([0x02, 0, 0, 0, 0, 0x77]);
    let changed = arp_request_events(&fp, &mut events, moved, PEER_IP);
    assert_eq!(changed.len(), 1, "{changed:?}");
    assert_eq!(changed[0].sender_ip, PEER_IP.octets());
    assert_eq!(changed[0].sender_mac, moved.octets());
    // Another sender with the first MAC has its own state.
    let other_ip = std::net::Ipv4Addr::new(10, 10, 0, 7);
    let other = arp_request_events(&fp, &mut events, PEER_MAC, other_ip);
    assert_eq!(other.len(), 1, "{other:?}");
    assert_eq!(counter(&fp, Counter::NeighEvents), 3);
    assert_eq!(counter(&fp, Counter::NeighEventsSuppressed), 1);
}

#[test]
fn root_unchanged_arp_sender_is_republished_after_the_refresh_interval() {
    if !root_or_skip("root_unchanged_arp_sender_is_republished_after_the_refresh_interval") {
        return;
    }
    let cfg = FastpathConfig::new(
        US_IP.octets(),
        US_MAC.octets(),
        FLAG_FASTPATH | FLAG_NEIGH_EVENTS,
    )
    .with_neigh_refresh_ns(20_000_000);
    let mut fp = Fastpath::load(cfg).expect("loading the XDP program");
    let mut events = fp.take_neigh_events().unwrap();
    assert_eq!(
        arp_request_events(&fp, &mut events, PEER_MAC, PEER_IP).len(),
        1
    );
    // At least the 20 ms interval passes, plus more than a tick of the
    // program's coarse clock (a lower bound, so no timing race).
    std::thread::sleep(std::time::Duration::from_millis(100));
    let refreshed = arp_request_events(&fp, &mut events, PEER_MAC, PEER_IP);
    assert_eq!(refreshed.len(), 1, "{refreshed:?}");
    assert_eq!(refreshed[0].flags & EVENT_ANSWERED, EVENT_ANSWERED);
    assert_eq!(counter(&fp, Counter::NeighEventsSuppressed), 0);
}
