//! The XDP program run by the kernel on crafted frames (BPF_PROG_TEST_RUN):
//! verdicts, exact reply bytes, checksums, truncation, counters and
//! neighbour events. Needs root (CAP_BPF); CI runs it as root.

mod support;

use support::ipv6 as ipv6t;
use support::*;
use xdpstack::fastpath::Fastpath;
use xdpstack::wire::{ArpOp, EtherType, Icmpv4Packet, Icmpv4Repr, IpProtocol, Ipv4Packet, MacAddr};
use xdpstack_common::config::{FastpathConfig, FLAG_FASTPATH, FLAG_NEIGH_EVENTS};
use xdpstack_common::counters::Counter;
use xdpstack_common::layout::ipv6 as l6;
use xdpstack_common::neigh::{NeighEvent, NeighRecord, EVENT_ANSWERED};

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

// IPv6 (issue 13): Neighbor Discovery and echo answered in-kernel.

fn fastpath6(flags: u32) -> Fastpath {
    let cfg = FastpathConfig::new(US_IP.octets(), US_MAC.octets(), flags)
        .with_ip6(&[ipv6t::US_IP6, ipv6t::US_LL]);
    Fastpath::load(cfg).expect("loading the XDP program")
}

fn ndp_events(events: &mut aya::maps::RingBuf<aya::maps::MapData>) -> Vec<NeighRecord> {
    let mut v = Vec::new();
    while let Some(item) = events.next() {
        v.extend(NeighRecord::from_bytes(&item));
    }
    v
}

#[test]
fn root_neighbor_solicitation_gets_exact_advert() {
    if !root_or_skip("root_neighbor_solicitation_gets_exact_advert") {
        return;
    }
    let mut fp = fastpath6(FLAG_FASTPATH | FLAG_NEIGH_EVENTS);
    let mut events = fp.take_neigh_events().unwrap();
    // For the global address to its group, and for the link-local one.
    for target in [ipv6t::US_IP6, ipv6t::US_LL] {
        let (verdict, out) = test_run(&fp, &ipv6t::ns_frame(target)).unwrap();
        assert_eq!(verdict, XDP_TX);
        let want = ipv6t::expected_na(target, ipv6t::PEER_IP6, PEER_MAC.0, 0x60);
        assert_eq!(out, want, "advert for {target:02x?}");
        assert_eq!(
            ipv6t::icmpv6_sum(&target, &ipv6t::PEER_IP6, &out[54..]),
            0xffff
        );
    }
    // Unicast to us (a reachability probe, RFC 4861 7.3.1), no option: the
    // advert goes to the frame's sender and the frame shrinks to 86 bytes.
    let ns = ipv6t::icmpv6_frame(
        ipv6t::PEER_IP6,
        ipv6t::US_IP6,
        255,
        ipv6t::ns_msg(ipv6t::US_IP6, &[]),
    );
    assert_eq!(ns.len(), 78);
    let (verdict, out) = test_run(&fp, &ns).unwrap();
    assert_eq!(verdict, XDP_TX);
    assert_eq!(
        out,
        ipv6t::expected_na(ipv6t::US_IP6, ipv6t::PEER_IP6, PEER_MAC.0, 0x60)
    );
    // Two options (source address and a nonce): the frame shrinks.
    let mut opts = ipv6t::slla(PEER_MAC.0);
    opts.extend(ipv6t::nonce());
    let ns = ipv6t::icmpv6_frame(
        ipv6t::PEER_IP6,
        l6::solicited_node(&ipv6t::US_IP6),
        255,
        ipv6t::ns_msg(ipv6t::US_IP6, &opts),
    );
    let (verdict, out) = test_run(&fp, &ns).unwrap();
    assert_eq!(verdict, XDP_TX);
    assert_eq!(
        out,
        ipv6t::expected_na(ipv6t::US_IP6, ipv6t::PEER_IP6, PEER_MAC.0, 0x60)
    );
    assert_eq!(counter(&fp, Counter::NdpAdvertSent), 4);
    // The solicitor's binding reached userspace once, marked answered; the
    // repeats were suppressed (the default refresh is a second).
    let evs = ndp_events(&mut events);
    assert_eq!(evs.len(), 1, "{evs:?}");
    let NeighRecord::Ndp(ev) = evs[0] else {
        panic!("not an NDP event: {:?}", evs[0]);
    };
    assert_eq!(
        (ev.ip, ev.mac, ev.icmp_type, ev.flags),
        (ipv6t::PEER_IP6, PEER_MAC.0, 135, EVENT_ANSWERED)
    );
    assert_eq!(counter(&fp, Counter::Neigh6EventsSuppressed), 2);
}

#[test]
fn root_dad_probe_is_answered_to_all_nodes() {
    if !root_or_skip("root_dad_probe_is_answered_to_all_nodes") {
        return;
    }
    let fp = fastpath6(FLAG_FASTPATH | FLAG_NEIGH_EVENTS);
    let want = ipv6t::expected_na(ipv6t::US_IP6, l6::ALL_NODES, l6::ALL_NODES_MAC, 0x20);
    // Without options (the frame grows by 8 bytes) and with Linux's nonce.
    for opts in [vec![], ipv6t::nonce()] {
        let (verdict, out) = test_run(&fp, &ipv6t::dad_frame(ipv6t::US_IP6, &opts)).unwrap();
        assert_eq!(verdict, XDP_TX, "options {opts:02x?}");
        assert_eq!(out, want);
    }
    assert_eq!(counter(&fp, Counter::NdpDadAdvertSent), 2);
    // A probe carrying a source link-layer option is invalid (7.1.1).
    let bad = ipv6t::dad_frame(ipv6t::US_IP6, &ipv6t::slla(PEER_MAC.0));
    let (verdict, _) = test_run(&fp, &bad).unwrap();
    assert_eq!(verdict, XDP_PASS);
    assert_eq!(counter(&fp, Counter::SlowNdpInvalid), 1);
}

#[test]
fn root_invalid_solicitations_are_not_answered() {
    if !root_or_skip("root_invalid_solicitations_are_not_answered") {
        return;
    }
    let fp = fastpath6(FLAG_FASTPATH | FLAG_NEIGH_EVENTS);
    let group = l6::solicited_node(&ipv6t::US_IP6);
    let ok = ipv6t::ns_msg(ipv6t::US_IP6, &ipv6t::slla(PEER_MAC.0));
    let mut bad_sum = ipv6t::ns_frame(ipv6t::US_IP6);
    bad_sum[60] ^= 0x10;
    let mut zero_len_opt = ok.clone();
    zero_len_opt[25] = 0;
    let mcast_target = ipv6t::ns_msg(l6::ALL_NODES, &ipv6t::slla(PEER_MAC.0));
    let mut code1 = ok.clone();
    code1[1] = 1;
    let cases: Vec<(&str, Vec<u8>, Counter)> = vec![
        (
            "hop limit 254",
            ipv6t::icmpv6_frame(ipv6t::PEER_IP6, group, 254, ok.clone()),
            Counter::SlowNdpInvalid,
        ),
        ("bad checksum", bad_sum, Counter::SlowIcmp6BadChecksum),
        (
            "zero-length option",
            ipv6t::icmpv6_frame(ipv6t::PEER_IP6, group, 255, zero_len_opt),
            Counter::SlowNdpInvalid,
        ),
        (
            "multicast target",
            ipv6t::icmpv6_frame(ipv6t::PEER_IP6, l6::ALL_NODES, 255, mcast_target),
            Counter::SlowNdpInvalid,
        ),
        (
            "code 1",
            ipv6t::icmpv6_frame(ipv6t::PEER_IP6, group, 255, code1),
            Counter::SlowNdpInvalid,
        ),
        (
            "probe to a unicast address",
            ipv6t::icmpv6_frame(
                l6::UNSPECIFIED,
                ipv6t::US_IP6,
                255,
                ipv6t::ns_msg(ipv6t::US_IP6, &[]),
            ),
            Counter::SlowNdpInvalid,
        ),
        (
            "for another target in our group",
            ipv6t::icmpv6_frame(
                ipv6t::PEER_IP6,
                group,
                255,
                ipv6t::ns_msg(
                    {
                        let mut t = ipv6t::US_IP6;
                        t[1] = 0x99;
                        t
                    },
                    &ipv6t::slla(PEER_MAC.0),
                ),
            ),
            Counter::SlowNdpNotAnswerable,
        ),
    ];
    for (what, frame, reason) in cases {
        let before = counter(&fp, reason);
        let (verdict, out) = test_run(&fp, &frame).unwrap();
        assert_eq!(verdict, XDP_PASS, "{what}");
        assert_eq!(out, frame, "{what}: unchanged");
        assert_eq!(counter(&fp, reason), before + 1, "{what}: {reason:?}");
    }
    assert_eq!(counter(&fp, Counter::NdpAdvertSent), 0);
}

#[test]
fn root_echo6_request_gets_valid_reply() {
    if !root_or_skip("root_echo6_request_gets_valid_reply") {
        return;
    }
    let fp = fastpath6(FLAG_FASTPATH | FLAG_NEIGH_EVENTS);
    let mut n = 0;
    for dst in [ipv6t::US_IP6, ipv6t::US_LL] {
        for size in [0usize, 1, 2, 3, 5, 56, 255, 256, 257, 1000, 1452] {
            let frame = ipv6t::echo6_frame(dst, size);
            let (verdict, out) = test_run(&fp, &frame).unwrap();
            assert_eq!(verdict, XDP_TX, "size {size}");
            n += 1;
            assert_eq!(&out[0..6], &PEER_MAC.0);
            assert_eq!(&out[6..12], &US_MAC.0);
            assert_eq!(out[21], 64, "hop limit");
            assert_eq!(&out[22..38], &dst);
            assert_eq!(&out[38..54], &ipv6t::PEER_IP6);
            assert_eq!(out[54], 129);
            assert_eq!(&out[58..], &frame[58..], "size {size}: ident, seq, data");
            assert_eq!(
                ipv6t::icmpv6_sum(&dst, &ipv6t::PEER_IP6, &out[54..]),
                0xffff,
                "size {size}: checksum"
            );
        }
    }
    assert_eq!(counter(&fp, Counter::Icmp6EchoReplied), n);
    // An extension header before ICMPv6 (hop-by-hop, RFC 8200 4.3): not
    // ours to parse.
    let echo = ipv6t::with_checksum(
        &ipv6t::PEER_IP6,
        &ipv6t::US_IP6,
        vec![128, 0, 0, 0, 0, 1, 0, 1],
    );
    let mut payload = vec![58, 0, 1, 4, 0, 0, 0, 0];
    payload.extend(echo);
    let ext = ipv6t::ipv6_frame(
        PEER_MAC.0,
        US_MAC.0,
        ipv6t::PEER_IP6,
        ipv6t::US_IP6,
        0,
        64,
        &payload,
    );
    let (verdict, _) = test_run(&fp, &ext).unwrap();
    assert_eq!(verdict, XDP_PASS);
    assert_eq!(counter(&fp, Counter::SlowIp6NotIcmp), 1);
}

#[test]
fn root_truncated_ipv6_frames_are_never_answered() {
    if !root_or_skip("root_truncated_ipv6_frames_are_never_answered") {
        return;
    }
    let fp = fastpath6(FLAG_FASTPATH | FLAG_NEIGH_EVENTS);
    for frame in [
        ipv6t::ns_frame(ipv6t::US_IP6),
        ipv6t::dad_frame(ipv6t::US_IP6, &[]),
        ipv6t::echo6_frame(ipv6t::US_IP6, 56),
        ipv6t::na_frame(ipv6t::PEER_IP6, ipv6t::US_IP6, 0x60, PEER_MAC.0),
    ] {
        // BPF_PROG_TEST_RUN needs at least an Ethernet header.
        for len in 14..frame.len() {
            let (verdict, out) = test_run(&fp, &frame[..len]).unwrap();
            assert_eq!(verdict, XDP_PASS, "cut at {len}");
            assert_eq!(out, &frame[..len], "cut at {len}: unchanged");
        }
    }
    assert_eq!(counter(&fp, Counter::NdpAdvertSent), 0);
    assert_eq!(counter(&fp, Counter::Icmp6EchoReplied), 0);
}

#[test]
fn root_ipv6_without_addresses_is_the_kernels() {
    if !root_or_skip("root_ipv6_without_addresses_is_the_kernels") {
        return;
    }
    let fp = fastpath(FLAG_FASTPATH | FLAG_NEIGH_EVENTS);
    for frame in [
        ipv6t::ns_frame(ipv6t::US_IP6),
        ipv6t::echo6_frame(ipv6t::US_IP6, 8),
    ] {
        let (verdict, out) = test_run(&fp, &frame).unwrap();
        assert_eq!((verdict, out), (XDP_PASS, frame));
    }
    assert_eq!(counter(&fp, Counter::PassedNotOurs), 2);
}

#[test]
fn root_advert_binding_is_published() {
    if !root_or_skip("root_advert_binding_is_published") {
        return;
    }
    let mut fp = fastpath6(FLAG_FASTPATH | FLAG_NEIGH_EVENTS);
    let mut events = fp.take_neigh_events().unwrap();
    let na = ipv6t::na_frame(ipv6t::PEER_IP6, ipv6t::US_IP6, 0x60, PEER_MAC.0);
    let (verdict, out) = test_run(&fp, &na).unwrap();
    assert_eq!((verdict, out), (XDP_PASS, na.clone()));
    assert_eq!(counter(&fp, Counter::SlowNdpNotAnswerable), 1);
    let evs = ndp_events(&mut events);
    let [NeighRecord::Ndp(ev)] = evs[..] else {
        panic!("{evs:?}");
    };
    assert_eq!(
        (ev.ip, ev.target_ip, ev.mac, ev.icmp_type, ev.flags),
        (ipv6t::PEER_IP6, ipv6t::US_IP6, PEER_MAC.0, 136, 0x60)
    );
    // A solicited advert to a group is invalid (7.1.2) and teaches nothing.
    let bad = ipv6t::na_frame(ipv6t::PEER_IP6, l6::ALL_NODES, 0x60, PEER_MAC.0);
    let (verdict, _) = test_run(&fp, &bad).unwrap();
    assert_eq!(verdict, XDP_PASS);
    assert_eq!(counter(&fp, Counter::SlowNdpInvalid), 1);
    assert!(ndp_events(&mut events).is_empty());
}
