//! The stack as a whole, with a fake clock: frames in, frames out.

use std::net::Ipv4Addr;
use std::time::Duration;

use super::*;
use crate::device::{FaultConfig, Faulty, FrameQueue};
use crate::stack::arp_cache::ArpState;
use crate::wire::{
    ArpOp, ArpPacket, ArpRepr, Icmpv4Packet, Icmpv4Repr, IpProtocol, Ipv4Packet, Ipv4Repr,
    UdpPacket, UdpRepr,
};
use xdpstack_common::neigh::{NeighEvent, EVENT_ANSWERED};

const US: Ipv4Addr = Ipv4Addr::new(10, 10, 0, 4);
const US_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 4]);
const PEER: Ipv4Addr = Ipv4Addr::new(10, 10, 0, 2);
const PEER_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 2]);

fn t(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

/// The stack with an in-memory device: `receive`, `poll` and `flush`
/// write into it, `out` takes what was sent; every other call goes to the
/// stack itself.
struct TestStack {
    stack: Stack,
    dev: FrameQueue,
    /// The latest time passed in, for the flush `out` does.
    now: Instant,
}

impl std::ops::Deref for TestStack {
    type Target = Stack;
    fn deref(&self) -> &Stack {
        &self.stack
    }
}

impl std::ops::DerefMut for TestStack {
    fn deref_mut(&mut self) -> &mut Stack {
        &mut self.stack
    }
}

impl TestStack {
    fn receive(&mut self, now: Instant, frame: &[u8]) {
        self.now = now;
        self.stack.receive(now, frame, &mut self.dev);
    }

    fn poll(&mut self, now: Instant) {
        self.now = now;
        self.stack.poll(now, &mut self.dev);
    }

    fn flush(&mut self, now: Instant) {
        self.now = now;
        self.stack.flush(now, &mut self.dev);
    }
}

fn test_stack(cfg: StackConfig) -> TestStack {
    TestStack {
        stack: Stack::new(cfg, t(0)),
        dev: FrameQueue::new(100_000, 14 + 1500),
        now: t(0),
    }
}

fn stack() -> TestStack {
    let mut s = test_stack(StackConfig {
        ip: US,
        prefix: 24,
        mac: US_MAC,
        gateway: None,
        ip6: Vec::new(),
        gateway6: None,
        mtu: 1500,
        arp_timeout: Duration::from_secs(60),
        arp_max: 1024,
        seed: [7; 32],
    });
    // Drop the start-up announcement so tests see only their own frames.
    s.poll(t(0));
    s.dev.clear();
    s
}

/// Everything sent so far, including what calls without a device left
/// for the next flush.
fn out(s: &mut TestStack) -> Vec<Vec<u8>> {
    let now = s.now;
    s.flush(now);
    s.dev.take()
}

/// Frames that are IPv4 (not the start-up ARP announcements).
fn ipv4_only(frames: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    frames
        .into_iter()
        .filter(|f| f[12..14] == [0x08, 0x00])
        .collect()
}

/// ARP requests for `ip` among `frames`.
fn requests_for(frames: &[Vec<u8>], ip: Ipv4Addr) -> usize {
    frames
        .iter()
        .filter_map(|f| ArpRepr::parse(&ArpPacket::new_checked(f.get(14..)?).ok()?).ok())
        .filter(|a| a.operation == ArpOp::Request && a.target_ip == ip)
        .count()
}

fn arp_frame(op: ArpOp, smac: MacAddr, sip: Ipv4Addr, tip: Ipv4Addr, l2dst: MacAddr) -> Vec<u8> {
    ethernet_frame(smac, l2dst, EtherType::Arp, 28, |b| {
        ArpRepr {
            operation: op,
            sender_mac: smac,
            sender_ip: sip,
            target_mac: MacAddr::ZERO,
            target_ip: tip,
        }
        .emit(&mut ArpPacket::new_unchecked(b))
    })
}

fn ip_frame(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    proto: IpProtocol,
    ident: u16,
    offset: u16,
    more: bool,
    payload: &[u8],
) -> Vec<u8> {
    let repr = Ipv4Repr {
        src,
        dst,
        protocol: proto,
        payload_len: payload.len(),
        ttl: 64,
        ident,
        dont_frag: false,
        more_frags: more,
        frag_offset: offset,
        tos: 0,
    };
    ethernet_frame(PEER_MAC, US_MAC, EtherType::Ipv4, repr.buffer_len(), |b| {
        let mut p = Ipv4Packet::new_unchecked(b);
        repr.emit(&mut p);
        p.payload_mut().copy_from_slice(payload);
    })
}

fn icmp_bytes(repr: &Icmpv4Repr<'_>) -> Vec<u8> {
    let mut b = vec![0u8; repr.buffer_len()];
    repr.emit(&mut Icmpv4Packet::new_unchecked(&mut b[..]));
    b
}

fn udp_bytes(src: Ipv4Addr, dst: Ipv4Addr, port: u16) -> Vec<u8> {
    let repr = UdpRepr {
        src_port: 40000,
        dst_port: port,
        payload: b"hello",
    };
    let mut b = vec![0u8; repr.buffer_len()];
    repr.emit(&mut UdpPacket::new_unchecked(&mut b[..]), src, dst);
    b
}

/// The IPv4 datagram inside an Ethernet frame.
fn ip_of(frame: &[u8]) -> Ipv4Packet<&[u8]> {
    Ipv4Packet::new_checked(&frame[14..]).expect("an IPv4 frame")
}

fn learn_peer(s: &mut TestStack) {
    let ev = NeighEvent {
        sender_ip: PEER.octets(),
        target_ip: US.octets(),
        sender_mac: PEER_MAC.0,
        op: 1,
        flags: EVENT_ANSWERED,
        _pad: [0; 3],
    };
    s.on_neigh_event(t(0), &ev);
}

#[test]
fn arp_request_reaching_userspace_is_answered_and_learned() {
    let mut s = stack();
    s.receive(
        t(1),
        &arp_frame(ArpOp::Request, PEER_MAC, PEER, US, MacAddr::BROADCAST),
    );
    let frames = out(&mut s);
    assert_eq!(frames.len(), 1);
    let reply = ArpRepr::parse(&ArpPacket::new_checked(&frames[0][14..]).unwrap()).unwrap();
    assert_eq!(reply.operation, ArpOp::Reply);
    assert_eq!(
        (
            reply.sender_ip,
            reply.sender_mac,
            reply.target_ip,
            reply.target_mac
        ),
        (US, US_MAC, PEER, PEER_MAC)
    );
    assert_eq!(&frames[0][0..6], &PEER_MAC.0);
    let e = s.arp_entries(t(1));
    assert_eq!(
        (e[0].ip, crate::present::names::arp_state(e[0].state)),
        (PEER, "reachable")
    );
}

#[test]
fn neighbour_events_teach_the_cache_and_gratuitous_unknowns_do_not() {
    let mut s = stack();
    learn_peer(&mut s);
    assert_eq!(s.arp_cache().lookup(PEER), Some(PEER_MAC));
    // A gratuitous ARP (target = sender) from an unknown host: ignored.
    let stranger = Ipv4Addr::new(10, 10, 0, 77);
    s.receive(
        t(1),
        &arp_frame(
            ArpOp::Request,
            MacAddr([2, 0, 0, 0, 0, 77]),
            stranger,
            stranger,
            MacAddr::BROADCAST,
        ),
    );
    assert_eq!(s.arp_cache().lookup(stranger), None);
    assert!(out(&mut s).is_empty());
}

#[test]
fn conflicting_claim_is_counted_and_defended_at_most_every_10s() {
    let mut s = stack();
    let thief = MacAddr([2, 0, 0, 0, 0, 66]);
    let claim = arp_frame(ArpOp::Request, thief, US, US, MacAddr::BROADCAST);
    s.receive(t(5_000), &claim);
    let frames = out(&mut s);
    assert_eq!(frames.len(), 1, "one defending announcement");
    let ann = ArpRepr::parse(&ArpPacket::new_checked(&frames[0][14..]).unwrap()).unwrap();
    assert_eq!(
        (ann.sender_ip, ann.target_ip, ann.sender_mac),
        (US, US, US_MAC)
    );
    s.receive(t(10_000), &claim);
    assert!(out(&mut s).is_empty(), "no second defence within 10 s");
    s.receive(t(15_000), &claim);
    assert_eq!(out(&mut s).len(), 1);
    assert_eq!(s.stack_counters().arp_conflicts, 3);
    assert_eq!(s.arp_cache().lookup(US), None);
}

#[test]
fn two_announcements_at_start_two_seconds_apart() {
    let mut s = TestStack {
        stack: Stack::new(stack().cfg.clone(), t(0)),
        dev: FrameQueue::new(100, 1514),
        now: t(0),
    };
    s.poll(t(0));
    assert_eq!(out(&mut s).len(), 1);
    s.poll(t(1_999));
    assert!(out(&mut s).is_empty());
    s.poll(t(2_000));
    assert_eq!(out(&mut s).len(), 1);
    s.poll(t(10_000));
    assert!(out(&mut s).is_empty());
}

#[test]
fn fragmented_echo_is_reassembled_and_the_reply_fragmented_with_same_data() {
    let mut s = stack();
    learn_peer(&mut s);
    let data: Vec<u8> = (0..3000).map(|i| (i % 251) as u8).collect();
    let req = icmp_bytes(&Icmpv4Repr::EchoRequest {
        ident: 9,
        seq: 3,
        data: &data,
    });
    // Three fragments, out of order.
    for (off, more) in [(1480usize, true), (0, true), (2960, false)] {
        let end = (off + 1480).min(req.len());
        s.receive(
            t(1),
            &ip_frame(
                PEER,
                US,
                IpProtocol::Icmp,
                77,
                off as u16,
                more,
                &req[off..end],
            ),
        );
    }
    let frames = out(&mut s);
    assert_eq!(frames.len(), 3, "3008 bytes of ICMP at MTU 1500");
    let mut whole = vec![0u8; 0];
    for f in &frames {
        let p = ip_of(f);
        assert!(p.verify_checksum());
        assert!(f.len() <= 14 + 1500);
        assert_eq!((p.src(), p.dst()), (US, PEER));
        assert_eq!(usize::from(p.frag_offset()), whole.len());
        whole.extend_from_slice(p.payload());
    }
    match Icmpv4Repr::parse(&Icmpv4Packet::new_checked(&whole[..]).unwrap()).unwrap() {
        Icmpv4Repr::EchoReply {
            ident,
            seq,
            data: d,
        } => assert_eq!((ident, seq, d), (9, 3, &data[..])),
        other => panic!("{other:?}"),
    }
}

#[test]
fn udp_gets_port_unreachable_quoting_header_and_8_bytes() {
    let mut s = stack();
    learn_peer(&mut s);
    let udp = udp_bytes(PEER, US, 9999);
    let frame = ip_frame(PEER, US, IpProtocol::Udp, 5, 0, false, &udp);
    s.receive(t(1), &frame);
    let frames = out(&mut s);
    assert_eq!(frames.len(), 1);
    let p = ip_of(&frames[0]);
    match Icmpv4Repr::parse(&Icmpv4Packet::new_checked(p.payload()).unwrap()).unwrap() {
        Icmpv4Repr::DstUnreachable { code, quoted } => {
            assert_eq!(code, 3);
            assert_eq!(quoted, &frame[14..14 + 20 + 8]);
        }
        other => panic!("{other:?}"),
    }
    // A bad UDP checksum: dropped, no answer.
    let mut bad = udp.clone();
    bad[6] ^= 0xff;
    s.receive(
        t(2),
        &ip_frame(PEER, US, IpProtocol::Udp, 6, 0, false, &bad),
    );
    assert!(out(&mut s).is_empty());
    assert_eq!(s.udp_counters().bad_checksum, 1);
}

#[test]
fn icmp_errors_are_never_sent_about_errors_broadcasts_or_tcp() {
    let mut s = stack();
    learn_peer(&mut s);
    // An ICMP error about something: no error about it.
    let quoted = [0x45u8; 28];
    let err = icmp_bytes(&Icmpv4Repr::DstUnreachable {
        code: 1,
        quoted: &quoted,
    });
    s.receive(
        t(1),
        &ip_frame(PEER, US, IpProtocol::Icmp, 1, 0, false, &err),
    );
    // UDP to the subnet broadcast: no error.
    let bcast = Ipv4Addr::new(10, 10, 0, 255);
    s.receive(
        t(1),
        &ip_frame(
            PEER,
            bcast,
            IpProtocol::Udp,
            2,
            0,
            false,
            &udp_bytes(PEER, bcast, 9),
        ),
    );
    // TCP: never an ICMP error (TCP answers with RST itself); this one is
    // not even a valid header, so no answer at all.
    s.receive(
        t(1),
        &ip_frame(PEER, US, IpProtocol::Tcp, 3, 0, false, &[0u8; 20]),
    );
    assert!(out(&mut s).is_empty());
    assert_eq!(s.tcp_counters().malformed, 1);
    // An unknown protocol: protocol unreachable.
    s.receive(
        t(1),
        &ip_frame(PEER, US, IpProtocol::Unknown(253), 4, 0, false, &[0u8; 8]),
    );
    let frames = out(&mut s);
    assert_eq!(frames.len(), 1);
    let p = ip_of(&frames[0]);
    assert_eq!(Icmpv4Packet::new_checked(p.payload()).unwrap().code(), 2);
}

#[test]
fn icmp_errors_are_rate_limited_to_the_burst() {
    let mut s = stack();
    learn_peer(&mut s);
    for i in 0..200u16 {
        s.receive(
            t(1),
            &ip_frame(
                PEER,
                US,
                IpProtocol::Udp,
                i,
                0,
                false,
                &udp_bytes(PEER, US, 9),
            ),
        );
    }
    assert_eq!(out(&mut s).len(), 50);
    assert_eq!(s.stack_counters().icmp_errors_rate_limited, 150);
    // 1000/s refills one token a millisecond.
    s.receive(
        t(11),
        &ip_frame(
            PEER,
            US,
            IpProtocol::Udp,
            999,
            0,
            false,
            &udp_bytes(PEER, US, 9),
        ),
    );
    assert_eq!(out(&mut s).len(), 1);
}

#[test]
fn ping_resolves_arp_first_then_sends_and_matches_the_reply() {
    let mut s = stack();
    let key = s.ping_start(t(0), PEER, 1, 56).unwrap();
    let frames = out(&mut s);
    assert_eq!(frames.len(), 1, "only the ARP request while resolving");
    let req = ArpRepr::parse(&ArpPacket::new_checked(&frames[0][14..]).unwrap()).unwrap();
    assert_eq!((req.operation, req.target_ip), (ArpOp::Request, PEER));
    // The reply resolves the entry and flushes the queued echo request.
    s.receive(t(1), &arp_frame(ArpOp::Reply, PEER_MAC, PEER, US, US_MAC));
    let frames = out(&mut s);
    assert_eq!(frames.len(), 1);
    let p = ip_of(&frames[0]);
    let (ident, seq, data) =
        match Icmpv4Repr::parse(&Icmpv4Packet::new_checked(p.payload()).unwrap()).unwrap() {
            Icmpv4Repr::EchoRequest { ident, seq, data } => (ident, seq, data.to_vec()),
            other => panic!("{other:?}"),
        };
    assert_eq!(s.ping_result(key), None);
    let reply = icmp_bytes(&Icmpv4Repr::EchoReply {
        ident,
        seq,
        data: &data,
    });
    s.receive(
        t(3),
        &ip_frame(PEER, US, IpProtocol::Icmp, 8, 0, false, &reply),
    );
    assert!(s.take_ping_replied());
    let r = s.ping_result(key).unwrap();
    assert_eq!((r.rtt_us, r.bytes, r.ttl), (3000, 64, 64));
    assert_eq!(s.ping_result(key), None, "collected once");
}

#[test]
fn unresolvable_destination_fails_after_three_requests() {
    let mut s = stack();
    let target = Ipv4Addr::new(10, 10, 0, 99);
    s.ping_start(t(0), target, 1, 8).unwrap();
    let mut requests = requests_for(&out(&mut s), target);
    for ms in (100..5_000).step_by(100) {
        s.poll(t(ms));
        requests += requests_for(&out(&mut s), target);
    }
    assert_eq!(requests, 3, "one request a second, three in all");
    assert_eq!(s.arp_cache().counters().failed, 1);
    // Off-link without a gateway: no route.
    assert!(s
        .ping_start(t(6_000), Ipv4Addr::new(192, 0, 2, 1), 1, 8)
        .is_ok());
    assert!(ipv4_only(out(&mut s)).is_empty());
    assert_eq!(s.stack_counters().ipv4_no_route, 1);
}

/// Found by the `stack` fuzz target: `ping 0.0.0.4` went out on the wire.
#[test]
fn ping_refuses_addresses_that_are_not_a_host() {
    let mut s = stack();
    for dst in [
        "0.0.0.0",
        "0.0.0.4",
        "127.0.0.1",
        "224.0.0.1",
        "240.0.0.1",
        "255.255.255.255",
        "10.10.0.255",
        "10.10.0.4",
    ] {
        let dst: Ipv4Addr = dst.parse().unwrap();
        assert!(s.ping_start(t(0), dst, 1, 8).is_err(), "{dst}");
    }
    assert!(out(&mut s).is_empty());
    assert!(s.ping_start(t(0), PEER, 1, 8).is_ok());
}

#[test]
fn reassembly_timeout_sends_time_exceeded() {
    let mut s = stack();
    learn_peer(&mut s);
    let first = vec![7u8; 1480];
    s.receive(
        t(0),
        &ip_frame(PEER, US, IpProtocol::Udp, 42, 0, true, &first),
    );
    s.poll(t(29_999));
    assert!(ipv4_only(out(&mut s)).is_empty());
    s.poll(t(30_000));
    let frames = ipv4_only(out(&mut s));
    assert_eq!(frames.len(), 1);
    let p = ip_of(&frames[0]);
    let icmp = Icmpv4Packet::new_checked(p.payload()).unwrap();
    assert_eq!((icmp.msg_type(), icmp.code()), (11, 1));
}

#[test]
fn garbage_never_panics_and_is_counted() {
    let mut s = stack();
    let mut x: u32 = 0x9e37_79b9;
    for len in 0..400usize {
        let frame: Vec<u8> = (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect();
        let mut f = frame.clone();
        if f.len() >= 14 {
            f[0..6].copy_from_slice(&US_MAC.0);
            f[12..14].copy_from_slice(&[0x08, if len % 2 == 0 { 0x00 } else { 0x06 }]);
        }
        s.receive(t(len as u64), &f);
    }
    assert_eq!(s.stack_counters().rx_frames, 400);
}

fn udp_to(port: u16, payload: &[u8], zero_checksum: bool) -> Vec<u8> {
    let repr = UdpRepr {
        src_port: 40000,
        dst_port: port,
        payload,
    };
    let mut b = vec![0u8; repr.buffer_len()];
    repr.emit(&mut UdpPacket::new_unchecked(&mut b[..]), PEER, US);
    if zero_checksum {
        b[6..8].copy_from_slice(&[0, 0]);
    }
    b
}

#[test]
fn udp_is_demultiplexed_to_the_bound_socket_and_answered_with_a_checksum() {
    let mut s = stack();
    learn_peer(&mut s);
    let h = s.udp_bind(7).unwrap();
    s.receive(
        t(1),
        &ip_frame(
            PEER,
            US,
            IpProtocol::Udp,
            1,
            0,
            false,
            &udp_to(7, b"abc", false),
        ),
    );
    // A zero checksum is "none" (RFC 768): accepted.
    s.receive(
        t(2),
        &ip_frame(
            PEER,
            US,
            IpProtocol::Udp,
            2,
            0,
            false,
            &udp_to(7, b"de", true),
        ),
    );
    assert!(out(&mut s).is_empty(), "a bound port gets no ICMP error");
    let first = s.udp_recv_from(h).unwrap().unwrap();
    assert_eq!(first.src, std::net::SocketAddr::from((PEER, 40000)));
    assert_eq!(first.data, b"abc");
    assert_eq!(s.udp_recv_from(h).unwrap().unwrap().data, b"de");
    assert_eq!(s.udp_recv_from(h).unwrap(), None);
    assert_eq!(s.udp_counters().delivered, 2);

    s.udp_send_to(t(3), h, first.src, b"reply").unwrap();
    let frames = out(&mut s);
    assert_eq!(frames.len(), 1);
    let p = ip_of(&frames[0]);
    assert_eq!((p.src(), p.dst()), (US, PEER));
    let u = UdpPacket::new_checked(p.payload()).unwrap();
    assert_ne!(u.checksum(), 0, "always generated on output");
    let r = UdpRepr::parse(&u, US, PEER).unwrap();
    assert_eq!(
        (r.src_port, r.dst_port, r.payload),
        (7, 40000, &b"reply"[..])
    );

    // Closed again: port unreachable.
    s.udp_close(h).unwrap();
    s.receive(
        t(4),
        &ip_frame(
            PEER,
            US,
            IpProtocol::Udp,
            3,
            0,
            false,
            &udp_to(7, b"x", false),
        ),
    );
    let frames = out(&mut s);
    assert_eq!(frames.len(), 1);
    let p = ip_of(&frames[0]);
    let icmp = Icmpv4Packet::new_checked(p.payload()).unwrap();
    assert_eq!((icmp.msg_type(), icmp.code()), (3, 3));
    assert_eq!(s.udp_counters().no_port, 1);
}

#[test]
fn udp_send_refuses_what_cannot_be_sent() {
    let mut s = stack();
    let h = s.udp_bind(0).unwrap();
    let peer = std::net::SocketAddrV4::new(PEER, 9);
    assert_eq!(
        s.udp_send_to(t(0), h, peer, &vec![0; 65_508]),
        Err(UdpError::TooBig(65_508))
    );
    let zero = std::net::SocketAddrV4::new(PEER, 0);
    assert_eq!(
        s.udp_send_to(t(0), h, zero, b"x"),
        Err(UdpError::BadDestination(zero.into()))
    );
    s.udp_close(h).unwrap();
    assert_eq!(s.udp_send_to(t(0), h, peer, b"x"), Err(UdpError::NotBound));
    assert_eq!(s.udp_counters().sent, 0);
}

#[test]
fn a_large_udp_datagram_goes_out_in_fragments() {
    let mut s = stack();
    learn_peer(&mut s);
    let h = s.udp_bind(7).unwrap();
    s.udp_send_to(
        t(0),
        h,
        std::net::SocketAddrV4::new(PEER, 5000),
        &[1u8; 4000],
    )
    .unwrap();
    let frames = out(&mut s);
    assert_eq!(frames.len(), 3);
    assert!(frames.iter().all(|f| !ip_of(f).dont_frag()));
}

fn tcp_segment(
    dst: Ipv4Addr,
    port: u16,
    flags: crate::wire::TcpFlags,
    seq: u32,
    ack: u32,
    data: &[u8],
) -> Vec<u8> {
    let repr = crate::wire::TcpRepr {
        src_port: 40000,
        dst_port: port,
        seq,
        ack,
        flags,
        window: 65535,
        urgent: 0,
        options: crate::wire::TcpOptions {
            mss: flags.syn().then_some(1460),
            ..Default::default()
        },
        payload: data,
    };
    let mut b = vec![0u8; repr.buffer_len()];
    repr.emit(
        &mut crate::wire::TcpPacket::new_unchecked(&mut b[..]),
        PEER,
        dst,
    );
    b
}

/// The TCP segments among `frames`, with the IPv4 DF bit of each.
fn tcp_out(frames: &[Vec<u8>]) -> Vec<(bool, crate::wire::TcpFlags, u32, u32, Vec<u8>)> {
    frames
        .iter()
        .filter_map(|f| {
            let ip = Ipv4Packet::new_checked(f.get(14..)?).ok()?;
            if ip.protocol() != IpProtocol::Tcp {
                return None;
            }
            let p = crate::wire::TcpPacket::new_checked(ip.payload()).ok()?;
            let r = crate::wire::TcpRepr::parse(&p, US, PEER).expect("a valid checksum");
            Some((ip.dont_frag(), r.flags, r.seq, r.ack, r.payload.to_vec()))
        })
        .collect()
}

#[test]
fn tcp_to_a_closed_port_gets_a_rst_with_df() {
    use crate::wire::TcpFlags;
    let mut s = stack();
    learn_peer(&mut s);
    let syn = tcp_segment(US, 81, TcpFlags::SYN, 1000, 0, &[]);
    s.receive(
        t(1),
        &ip_frame(PEER, US, IpProtocol::Tcp, 1, 0, false, &syn),
    );
    let segs = tcp_out(&out(&mut s));
    assert_eq!(segs.len(), 1);
    let (df, flags, _, ack, _) = &segs[0];
    assert!(*df);
    assert!(flags.rst() && flags.ack());
    assert_eq!(*ack, 1001, "RFC 9293 3.10.7.1: ACK = SEQ + SEG.LEN");
    // To the broadcast address: not TCP's, dropped.
    let bcast = Ipv4Addr::new(10, 10, 0, 255);
    let syn = tcp_segment(bcast, 81, TcpFlags::SYN, 1000, 0, &[]);
    s.receive(
        t(2),
        &ip_frame(PEER, bcast, IpProtocol::Tcp, 2, 0, false, &syn),
    );
    assert!(out(&mut s).is_empty());
    assert_eq!(s.stack_counters().tcp_not_unicast, 1);
}

#[test]
fn tcp_echo_service_answers_through_the_stack() {
    use crate::services::{ServiceName, Services};
    use crate::wire::TcpFlags;
    let mut s = stack();
    learn_peer(&mut s);
    let mut services = Services::start(&mut s, &[ServiceName::Echo]).unwrap();
    let syn = tcp_segment(US, 7, TcpFlags::SYN, 5000, 0, &[]);
    s.receive(
        t(1),
        &ip_frame(PEER, US, IpProtocol::Tcp, 1, 0, false, &syn),
    );
    let segs = tcp_out(&out(&mut s));
    assert_eq!(segs.len(), 1);
    let (df, flags, iss, ack, _) = segs[0].clone();
    assert!(df && flags.syn() && flags.ack() && ack == 5001);
    let ack_seg = tcp_segment(US, 7, TcpFlags::ACK, 5001, iss.wrapping_add(1), &[]);
    s.receive(
        t(2),
        &ip_frame(PEER, US, IpProtocol::Tcp, 2, 0, false, &ack_seg),
    );
    let data = tcp_segment(
        US,
        7,
        TcpFlags(TcpFlags::ACK.0 | TcpFlags::PSH.0),
        5001,
        iss.wrapping_add(1),
        b"ping",
    );
    s.receive(
        t(3),
        &ip_frame(PEER, US, IpProtocol::Tcp, 3, 0, false, &data),
    );
    services.poll(t(3), std::time::SystemTime::UNIX_EPOCH, &mut s);
    s.flush(t(3));
    let segs = tcp_out(&out(&mut s));
    assert!(
        segs.iter()
            .any(|(_, _, seq, _, d)| d == b"ping" && *seq == iss.wrapping_add(1)),
        "{segs:?}"
    );
    assert_eq!(s.tcp_counters().passive_opens, 1);
    assert!(s
        .tcp_connections()
        .iter()
        .any(|c| c.state == tcp::TcpState::Established));
    // The stack's timers come from TCP now (a retransmission is pending).
    assert!(s.poll_at().is_some());
}

// ----- one deadline: `poll_at` of every timer, exact to the microsecond -----

/// Polls a microsecond before `s.poll_at()` (nothing may be sent) and then
/// exactly at it; returns the deadline and what was sent at it. Afterwards
/// nothing is due any more, so a daemon sleeping until `poll_at` cannot spin.
fn poll_exactly_at_deadline(s: &mut TestStack) -> (Instant, Vec<Vec<u8>>) {
    let at = s.poll_at().expect("a deadline");
    s.poll(at - Duration::from_micros(1));
    assert!(out(s).is_empty(), "sent before its deadline {at:?}");
    assert_eq!(s.poll_at(), Some(at), "the deadline moved before it came");
    s.poll(at);
    let frames = out(s);
    assert!(
        s.poll_at().is_none_or(|next| next > at),
        "still due after poll: {:?}",
        s.poll_at()
    );
    (at, frames)
}

fn state_of(s: &Stack, now: Instant, ip: Ipv4Addr) -> Option<ArpState> {
    s.arp_entries(now)
        .into_iter()
        .find(|e| e.ip == ip)
        .map(|e| e.state)
}

#[test]
fn startup_announcements_are_due_exactly_at_poll_at_then_nothing() {
    let mut s = test_stack(stack().cfg.clone());
    assert_eq!(s.poll_at(), Some(t(0)));
    s.poll(t(0));
    assert_eq!(out(&mut s).len(), 1);
    let (at, frames) = poll_exactly_at_deadline(&mut s);
    assert_eq!(at, t(2_000));
    assert_eq!(requests_for(&frames, US), 1, "the second announcement");
    // An idle stack has no deadline: the daemon sleeps until a frame.
    assert_eq!(s.poll_at(), None);
}

#[test]
fn arp_retries_are_sent_exactly_at_poll_at() {
    let mut s = stack();
    s.poll(t(2_000));
    out(&mut s);
    let h = s.udp_bind(0).unwrap();
    s.udp_send_to(t(2_500), h, std::net::SocketAddrV4::new(PEER, 9), b"x")
        .unwrap();
    assert_eq!(requests_for(&out(&mut s), PEER), 1);
    for retry_at in [3_500, 4_500] {
        let (at, frames) = poll_exactly_at_deadline(&mut s);
        assert_eq!(at, t(retry_at));
        assert_eq!(requests_for(&frames, PEER), 1);
    }
    // After the third request the entry fails at the next deadline.
    let (at, frames) = poll_exactly_at_deadline(&mut s);
    assert_eq!((at, frames.len()), (t(5_500), 0));
    assert_eq!(state_of(&s, at, PEER), Some(ArpState::Failed));
}

#[test]
fn arp_entry_turns_stale_exactly_at_poll_at() {
    let mut s = stack();
    s.poll(t(2_000));
    out(&mut s);
    learn_peer(&mut s);
    assert_eq!(s.poll_at(), Some(t(60_000)));
    s.poll(t(60_000) - Duration::from_micros(1));
    assert_eq!(state_of(&s, t(59_999), PEER), Some(ArpState::Reachable));
    s.poll(t(60_000));
    assert_eq!(state_of(&s, t(60_000), PEER), Some(ArpState::Stale));
    // Then collected at the next deadline.
    assert_eq!(s.poll_at(), Some(t(120_000)));
    s.poll(t(120_000));
    assert_eq!(state_of(&s, t(120_000), PEER), None);
    assert_eq!(s.poll_at(), None);
}

#[test]
fn reassembly_timeout_is_the_earliest_deadline_and_exact() {
    let mut s = stack();
    s.poll(t(2_000));
    out(&mut s);
    learn_peer(&mut s);
    s.receive(
        t(2_100),
        &ip_frame(PEER, US, IpProtocol::Udp, 42, 0, true, &[7u8; 1480]),
    );
    // 30 s of reassembly come before the ARP entry's 60 s.
    let (at, frames) = poll_exactly_at_deadline(&mut s);
    assert_eq!(at, t(32_100));
    assert_eq!(frames.len(), 1);
    let p = ip_of(&frames[0]);
    let icmp = Icmpv4Packet::new_checked(p.payload()).unwrap();
    assert_eq!((icmp.msg_type(), icmp.code()), (11, 1));
    assert_eq!(s.poll_at(), Some(t(60_000)));
}

#[test]
fn tcp_retransmission_is_sent_exactly_at_poll_at() {
    use crate::wire::TcpFlags;
    let mut s = stack();
    s.poll(t(2_000));
    out(&mut s);
    learn_peer(&mut s);
    s.tcp().listen(80).unwrap();
    let syn = tcp_segment(US, 80, TcpFlags::SYN, 1000, 0, &[]);
    s.receive(
        t(3_000),
        &ip_frame(PEER, US, IpProtocol::Tcp, 1, 0, false, &syn),
    );
    let first = tcp_out(&out(&mut s));
    assert!(first.len() == 1 && first[0].1.syn() && first[0].1.ack());
    // RFC 6298 2.1: the SYN-ACK is resent one initial RTO (1 s) later.
    let (at, frames) = poll_exactly_at_deadline(&mut s);
    assert_eq!(at, t(4_000));
    let again = tcp_out(&frames);
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].2, first[0].2, "the same SYN-ACK");
}

#[test]
fn the_seed_draws_ident_ping_identifier_and_ports() {
    let with_seed = |n: u64| {
        let mut cfg = stack().cfg.clone();
        cfg.seed = rng::Rng::seed_from_u64(n);
        let mut s = test_stack(cfg);
        learn_peer(&mut s);
        let port = s.udp_bind(0).unwrap().port();
        let key = s.ping_start(t(1), PEER, 1, 8).unwrap();
        s.tcp()
            .connect(t(1), 0, std::net::SocketAddrV4::new(PEER, 80))
            .unwrap();
        s.flush(t(1));
        let idents: Vec<u16> = ipv4_only(out(&mut s))
            .iter()
            .map(|f| ip_of(f).ident())
            .collect();
        let local = s
            .tcp_connections()
            .iter()
            .find(|c| c.remote.port() == 80)
            .map(|c| c.local.port());
        (port, key.ident, idents, local)
    };
    assert_eq!(with_seed(1), with_seed(1), "a seed replays");
    let (a, b) = (with_seed(1), with_seed(2));
    assert_ne!(a.0, b.0, "UDP ephemeral port");
    assert_ne!(a.1, b.1, "ping identifier");
    assert_ne!(a.2, b.2, "IP identification");
    assert_ne!(a.3, b.3, "TCP ephemeral port");
}

#[test]
fn http_idle_close_is_due_exactly_at_the_services_poll_at() {
    use crate::services::{ServiceName, Services};
    use crate::wire::TcpFlags;
    let mut s = stack();
    s.poll(t(2_000));
    out(&mut s);
    learn_peer(&mut s);
    let mut services = Services::start(&mut s, &[ServiceName::Http]).unwrap();
    assert_eq!(services.poll_at(), None);
    let syn = tcp_segment(US, 80, TcpFlags::SYN, 5000, 0, &[]);
    s.receive(
        t(3_000),
        &ip_frame(PEER, US, IpProtocol::Tcp, 1, 0, false, &syn),
    );
    let iss = tcp_out(&out(&mut s))[0].2;
    let ack = tcp_segment(US, 80, TcpFlags::ACK, 5001, iss.wrapping_add(1), &[]);
    s.receive(
        t(3_001),
        &ip_frame(PEER, US, IpProtocol::Tcp, 2, 0, false, &ack),
    );
    services.poll(t(3_001), std::time::UNIX_EPOCH, &mut s);
    // RFC 9112 9.8: an idle persistent connection is closed after 30 s.
    let at = services.poll_at().expect("the idle deadline");
    assert_eq!(at, t(33_001));
    let fin_sent = |s: &mut TestStack| {
        s.flush(at);
        tcp_out(&out(s)).iter().any(|(_, f, _, _, _)| f.fin())
    };
    services.poll(at - Duration::from_micros(1), std::time::UNIX_EPOCH, &mut s);
    assert!(!fin_sent(&mut s), "closed before its deadline");
    services.poll(at, std::time::UNIX_EPOCH, &mut s);
    assert!(fin_sent(&mut s), "not closed at its deadline");
    assert_eq!(services.poll_at(), None);
}

#[test]
fn an_ipv6_destination_from_a_transport_is_a_counted_drop() {
    let mut s = stack();
    learn_peer(&mut s);
    let h = s.udp_bind(0).unwrap();
    let v6: std::net::SocketAddr = "[2001:db8::2]:9".parse().unwrap();
    s.udp_send_to(t(1), h, v6, b"x").unwrap();
    assert!(out(&mut s).is_empty(), "the IPv4 layer sends no IPv6");
    assert_eq!(s.stack_counters().ipv6_not_supported, 1);
}

/// An echo request from the peer, as a frame.
fn ping_frame(seq: u16, data: &[u8]) -> Vec<u8> {
    let req = icmp_bytes(&Icmpv4Repr::EchoRequest {
        ident: 1,
        seq,
        data,
    });
    ip_frame(PEER, US, IpProtocol::Icmp, seq, 0, false, &req)
}

#[test]
fn a_device_without_free_buffers_drops_and_counts() {
    let mut s = stack();
    learn_peer(&mut s);
    let mut full = FrameQueue::new(0, 1514);
    s.stack.receive(t(1), &ping_frame(1, b"abc"), &mut full);
    assert_eq!(s.stack_counters().tx_no_buffer, 1);
    assert_eq!(s.stack_counters().icmp_echo_replies_sent, 1);
    // A device whose buffers are smaller than the frame: counted apart.
    let mut small = FrameQueue::new(10, 40);
    s.stack.receive(t(2), &ping_frame(2, &[0; 100]), &mut small);
    assert_eq!(s.stack_counters().tx_too_big, 1);
    assert!(full.is_empty() && small.is_empty());
    // With room again, replies flow.
    s.receive(t(3), &ping_frame(3, b"abc"));
    assert_eq!(out(&mut s).len(), 1);
}

/// Opens a connection from the peer to the echo service; returns the
/// services and the stack's ISS.
fn echo_connection(s: &mut TestStack) -> (crate::services::Services, u32) {
    use crate::services::{ServiceName, Services};
    use crate::wire::TcpFlags;
    let services = Services::start(s, &[ServiceName::Echo]).unwrap();
    let syn = tcp_segment(US, 7, TcpFlags::SYN, 5000, 0, &[]);
    s.receive(
        t(1),
        &ip_frame(PEER, US, IpProtocol::Tcp, 1, 0, false, &syn),
    );
    let segs = tcp_out(&out(s));
    let iss = segs[0].2;
    let ack_seg = tcp_segment(US, 7, TcpFlags::ACK, 5001, iss.wrapping_add(1), &[]);
    s.receive(
        t(2),
        &ip_frame(PEER, US, IpProtocol::Tcp, 2, 0, false, &ack_seg),
    );
    (services, iss)
}

#[test]
fn tcp_data_is_written_from_the_send_buffer_and_lost_frames_come_back() {
    use crate::wire::TcpFlags;
    let mut s = stack();
    learn_peer(&mut s);
    let (mut services, iss) = echo_connection(&mut s);
    let data = tcp_segment(
        US,
        7,
        TcpFlags(TcpFlags::ACK.0 | TcpFlags::PSH.0),
        5001,
        iss.wrapping_add(1),
        b"ping",
    );
    s.receive(
        t(3),
        &ip_frame(PEER, US, IpProtocol::Tcp, 3, 0, false, &data),
    );
    services.poll(t(3), std::time::UNIX_EPOCH, &mut s);
    // The echo is lost on its way out: a device that drops everything.
    let mut lossy = Faulty::new(
        FrameQueue::new(100, 1514),
        FaultConfig {
            drop: 1000,
            seed: 3,
            ..FaultConfig::default()
        },
    );
    s.stack.flush(t(3), &mut lossy);
    assert!(lossy.counters().dropped >= 1);
    assert!(lossy.inner.is_empty());
    assert!(tcp_out(&out(&mut s))
        .iter()
        .all(|(_, _, _, _, d)| d.is_empty()));
    // The retransmission timer resends it, read again from the send buffer.
    s.poll(t(3 + 1_000));
    let segs = tcp_out(&out(&mut s));
    assert!(
        segs.iter()
            .any(|(_, _, seq, _, d)| d == b"ping" && *seq == iss.wrapping_add(1)),
        "{segs:?}"
    );
    assert!(s.tcp_counters().retransmits >= 1);
}

#[test]
fn data_queued_before_an_abort_goes_out_before_the_rst() {
    let mut s = stack();
    learn_peer(&mut s);
    s.tcp().listen(80).unwrap();
    let (_, iss) = {
        use crate::wire::TcpFlags;
        let syn = tcp_segment(US, 80, TcpFlags::SYN, 100, 0, &[]);
        s.receive(
            t(1),
            &ip_frame(PEER, US, IpProtocol::Tcp, 1, 0, false, &syn),
        );
        let iss = tcp_out(&out(&mut s))[0].2;
        let ack = tcp_segment(US, 80, TcpFlags::ACK, 101, iss.wrapping_add(1), &[]);
        s.receive(
            t(2),
            &ip_frame(PEER, US, IpProtocol::Tcp, 2, 0, false, &ack),
        );
        ((), iss)
    };
    let id = s.tcp().accept(80).unwrap();
    // No device at hand: the segment waits as a descriptor; the abort
    // frees the send buffer, so the descriptor must have taken a copy.
    assert_eq!(s.tcp().send(t(3), id, b"last words").unwrap(), 10);
    s.tcp().abort(t(3), id).unwrap();
    let segs = tcp_out(&out(&mut s));
    assert_eq!(segs.len(), 2, "{segs:?}");
    assert_eq!(segs[0].4, b"last words");
    assert_eq!(segs[0].2, iss.wrapping_add(1));
    assert!(segs[1].1.rst());
}

#[test]
fn frames_made_without_a_device_wait_for_the_flush() {
    let mut s = stack();
    learn_peer(&mut s);
    let h = s.udp_bind(0).unwrap();
    s.udp_send_to(t(1), h, (PEER, 9), b"later").unwrap();
    assert!(s.has_pending_output());
    assert!(
        s.dev.is_empty(),
        "nothing reaches the device before a flush"
    );
    assert_eq!(out(&mut s).len(), 1);
    assert!(!s.has_pending_output());
}

/// Replaces a UDP or TCP checksum (at `at` in `segment`) with what a Linux
/// sender with TX offload leaves: the pseudo-header sum, folded, not
/// complemented (CHECKSUM_PARTIAL).
fn partial_checksum(segment: &mut [u8], at: usize, proto: u8) {
    use xdpstack_common::checksum;
    let acc = checksum::sum_be(0, &PEER.octets());
    let acc = checksum::sum_be(acc, &US.octets());
    let acc = checksum::add(acc, u32::from(proto));
    let acc = checksum::add(acc, segment.len() as u32);
    segment[at..at + 2].copy_from_slice(&checksum::fold(acc).to_be_bytes());
}

#[test]
fn partial_checksums_are_accepted_only_when_allowed_and_counted() {
    use crate::wire::TcpFlags;
    let mut s = stack();
    learn_peer(&mut s);
    let h = s.udp_bind(7).unwrap();
    s.tcp().listen(80).unwrap();
    let mut udp = udp_to(7, b"abc", false);
    partial_checksum(&mut udp, 6, 17);
    let mut syn = tcp_segment(US, 80, TcpFlags::SYN, 1000, 0, &[]);
    partial_checksum(&mut syn, 16, 6);
    let send = |s: &mut TestStack, ms: u64| {
        s.receive(
            t(ms),
            &ip_frame(PEER, US, IpProtocol::Udp, 1, 0, false, &udp),
        );
        s.receive(
            t(ms),
            &ip_frame(PEER, US, IpProtocol::Tcp, 2, 0, false, &syn),
        );
        s.flush(t(ms));
    };
    // Off (a real NIC): a wrong checksum like any other.
    send(&mut s, 1);
    assert_eq!(s.udp_counters().bad_checksum, 1);
    assert_eq!(s.tcp_counters().bad_checksum, 1);
    assert_eq!(s.udp_recv_from(h).unwrap(), None);
    assert!(tcp_out(&out(&mut s)).is_empty());
    // On (a veth): delivered, answered and counted.
    s.accept_partial_checksums(true);
    send(&mut s, 2);
    assert_eq!(s.udp_recv_from(h).unwrap().unwrap().data, b"abc");
    let segs = tcp_out(&out(&mut s));
    assert_eq!(segs.len(), 1);
    assert!(segs[0].1.syn() && segs[0].1.ack() && segs[0].3 == 1001);
    assert_eq!(s.udp_counters().partial_checksum_accepted, 1);
    assert_eq!(s.tcp_counters().partial_checksum_accepted, 1);
    // Still on: a checksum that is neither complete nor partial is bad.
    let mut bad = udp_to(7, b"abc", false);
    bad[6] ^= 0x40;
    s.receive(
        t(3),
        &ip_frame(PEER, US, IpProtocol::Udp, 3, 0, false, &bad),
    );
    assert_eq!(s.udp_counters().bad_checksum, 2);
    assert_eq!(s.udp_recv_from(h).unwrap(), None);
}

/// ICMP "fragmentation needed" through the whole stack (RFC 1191): quoting
/// a segment the echo service sent, it lowers the connection's segment size
/// and the segment goes again; one quoting a datagram that was not ours is
/// counted and ignored.
#[test]
fn fragmentation_needed_reaches_tcp_through_icmp() {
    use crate::services::{ServiceName, Services};
    use crate::wire::TcpFlags;
    let mut s = stack();
    learn_peer(&mut s);
    let mut services = Services::start(&mut s, &[ServiceName::Echo]).unwrap();
    let syn = tcp_segment(US, 7, TcpFlags::SYN, 5000, 0, &[]);
    s.receive(
        t(1),
        &ip_frame(PEER, US, IpProtocol::Tcp, 1, 0, false, &syn),
    );
    let iss = tcp_out(&out(&mut s))[0].2;
    let ack = tcp_segment(US, 7, TcpFlags::ACK, 5001, iss.wrapping_add(1), &[]);
    s.receive(
        t(2),
        &ip_frame(PEER, US, IpProtocol::Tcp, 2, 0, false, &ack),
    );
    let data = tcp_segment(
        US,
        7,
        TcpFlags::ACK,
        5001,
        iss.wrapping_add(1),
        &[9u8; 1000],
    );
    s.receive(
        t(3),
        &ip_frame(PEER, US, IpProtocol::Tcp, 3, 0, false, &data),
    );
    services.poll(t(3), std::time::UNIX_EPOCH, &mut s);
    s.flush(t(3));
    let frames = out(&mut s);
    let echoed = frames
        .iter()
        .find(|f| f.len() > 14 + 20 + 20 + 500)
        .expect("the echo went out");
    // The quote: its IP header and the first 8 bytes of TCP.
    let quoted = &echoed[14..14 + 28];
    let icmp_for = |quoted: &[u8]| {
        icmp_bytes(&Icmpv4Repr::Other {
            msg_type: 3,
            code: 4,
            rest_of_header: [0, 0, 0x02, 0x40], // next-hop MTU 576
            data: quoted,
        })
    };
    s.receive(
        t(4),
        &ip_frame(PEER, US, IpProtocol::Icmp, 4, 0, false, &icmp_for(quoted)),
    );
    assert_eq!(s.stack_counters().icmp_frag_needed_received, 1);
    assert_eq!(s.tcp_counters().pmtu_reductions, 1);
    let resent = tcp_out(&out(&mut s));
    assert!(!resent.is_empty());
    assert!(
        resent.iter().all(|(df, _, _, _, d)| *df && d.len() <= 536),
        "{resent:?}"
    );
    assert_eq!(resent[0].2, iss.wrapping_add(1));
    // A quote of a datagram from another source is not about us.
    let mut other = quoted.to_vec();
    other[12..16].copy_from_slice(&[10, 10, 0, 9]);
    s.receive(
        t(5),
        &ip_frame(PEER, US, IpProtocol::Icmp, 5, 0, false, &icmp_for(&other)),
    );
    assert_eq!(s.tcp_counters().pmtu_ignored, 1);
    assert_eq!(s.tcp_counters().pmtu_reductions, 1);
}
