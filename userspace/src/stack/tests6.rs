//! The stack over IPv6, with a fake clock: frames in, frames out.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use super::*;
use crate::device::FrameQueue;
use crate::stack::ndp_cache::NdpState;
use crate::wire::icmpv6::msg_type;
use crate::wire::ipv6ext::FragmentHeader;
use crate::wire::{
    FragmentRepr, Icmpv6Packet, Icmpv6Repr, Ipv6Packet, Ipv6Repr, NdpRepr, NextHeader, TcpFlags,
    TcpOptions, TcpPacket, TcpRepr, UdpPacket, UdpRepr,
};
use xdpstack_common::neigh::NeighEvent6;

const US4: Ipv4Addr = Ipv4Addr::new(10, 10, 0, 4);
const US: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x10, 0x10, 0, 0, 0, 0, 4);
const US_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 4]);
const PEER: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x10, 0x10, 0, 0, 0, 0, 2);
const PEER_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 2]);

fn t(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

fn link_local() -> Ipv6Addr {
    crate::wire::ipv6::link_local_from_mac(US_MAC)
}

fn config(mtu: usize) -> StackConfig {
    StackConfig {
        ip: US4,
        prefix: 24,
        mac: US_MAC,
        gateway: None,
        ip6: vec![(US, 64), (link_local(), 64)],
        gateway6: None,
        mtu,
        arp_timeout: Duration::from_secs(60),
        arp_max: 1024,
        seed: [9; 32],
    }
}

struct S {
    stack: Stack,
    dev: FrameQueue,
}

impl S {
    fn new() -> S {
        S::with_mtu(1500)
    }

    fn with_mtu(mtu: usize) -> S {
        let mut s = S {
            stack: Stack::new(config(mtu), t(0)),
            dev: FrameQueue::new(100_000, 14 + 1500),
        };
        s.stack.poll(t(0), &mut s.dev);
        s.dev.clear();
        s
    }

    fn rx(&mut self, now: Instant, frame: &[u8]) {
        self.stack.receive(now, frame, &mut self.dev);
    }

    /// Everything sent, IPv6 frames only (no ARP announcements).
    fn out(&mut self, now: Instant) -> Vec<Vec<u8>> {
        self.stack.flush(now, &mut self.dev);
        self.dev
            .take()
            .into_iter()
            .filter(|f| f[12..14] == [0x86, 0xdd])
            .collect()
    }

    /// The peer is known: an NS it sent to us, as the XDP program reports it.
    fn learn_peer(&mut self) {
        let ev = NeighEvent6 {
            ip: PEER.octets(),
            target_ip: US.octets(),
            mac: PEER_MAC.0,
            icmp_type: msg_type::NEIGHBOR_SOLICIT,
            flags: xdpstack_common::neigh::EVENT_ANSWERED,
        };
        self.stack.on_neigh_event6(t(0), &ev);
    }
}

/// An IPv6 frame from the peer: fixed header then `payload` (extension
/// headers included) with first header `nh`.
fn frame6(src: Ipv6Addr, dst: Ipv6Addr, nh: u8, hop: u8, payload: &[u8]) -> Vec<u8> {
    let repr = Ipv6Repr {
        src,
        dst,
        next_header: nh.into(),
        payload_len: payload.len(),
        hop_limit: hop,
        traffic_class: 0,
        flow_label: 0,
    };
    let l2dst = if dst.is_multicast() {
        crate::wire::ipv6::multicast_mac(dst)
    } else {
        US_MAC
    };
    ethernet_frame(PEER_MAC, l2dst, EtherType::Ipv6, repr.buffer_len(), |b| {
        let mut p = Ipv6Packet::new_unchecked(b);
        repr.emit(&mut p);
        p.payload_mut().copy_from_slice(payload);
    })
}

fn icmp6(src: Ipv6Addr, dst: Ipv6Addr, repr: &Icmpv6Repr<'_>) -> Vec<u8> {
    let mut b = vec![0u8; repr.buffer_len()];
    repr.emit(src, dst, &mut Icmpv6Packet::new_unchecked(&mut b[..]));
    b
}

fn echo(data: &[u8]) -> Icmpv6Repr<'_> {
    Icmpv6Repr::EchoRequest {
        ident: 7,
        seq: 1,
        data,
    }
}

/// The IPv6 packet of a frame.
fn ip6(frame: &[u8]) -> Ipv6Packet<&[u8]> {
    Ipv6Packet::new_checked(&frame[14..]).expect("an IPv6 frame")
}

/// The ICMPv6 message of a frame without extension headers.
fn icmp_of(frame: &[u8]) -> Icmpv6Repr<'_> {
    let p = ip6(frame);
    let (src, dst) = (p.src(), p.dst());
    let payload = &frame[14 + 40..];
    Icmpv6Repr::parse(src, dst, &Icmpv6Packet::new_checked(payload).unwrap()).unwrap()
}

/// The ICMPv6 type of a frame, behind any extension headers.
fn icmp_of_any(frame: &[u8]) -> Option<u8> {
    let p = Ipv6Packet::new_checked(&frame[14..]).ok()?;
    let w = crate::wire::ipv6ext::walk(&p).ok()?;
    (w.protocol == NextHeader::Icmpv6).then(|| p.packet()[w.offset])
}

#[test]
fn start_up_joins_the_groups_and_probes_every_address() {
    let mut s = S {
        stack: Stack::new(config(1500), t(0)),
        dev: FrameQueue::new(1000, 1514),
    };
    s.stack.poll(t(0), &mut s.dev);
    let f = s.out(t(0));
    assert_eq!(f.len(), 3, "one MLDv2 report, two DAD probes");
    // The report: from :: (link-local still tentative), hop limit 1, to
    // ff02::16 behind a Router Alert, one join per solicited-node group.
    let p = ip6(&f[0]);
    assert_eq!(
        (p.src(), p.dst(), p.hop_limit()),
        (
            Ipv6Addr::UNSPECIFIED,
            crate::wire::ipv6::ALL_MLDV2_ROUTERS,
            1
        )
    );
    let w = crate::wire::ipv6ext::walk(&p).unwrap();
    assert_eq!(w.router_alert, Some(0));
    let m = Icmpv6Packet::new_checked(&p.packet()[w.offset..]).unwrap();
    let Icmpv6Repr::MldReport { records } = Icmpv6Repr::parse(p.src(), p.dst(), &m).unwrap() else {
        panic!("not an MLDv2 report");
    };
    // Both addresses end in ::4 here: one group, reported once.
    let groups: Vec<Ipv6Addr> = records.iter().map(|r| r.mcast_addr).collect();
    assert_eq!(
        crate::wire::ipv6::solicited_node(US),
        crate::wire::ipv6::solicited_node(link_local())
    );
    assert_eq!(groups, vec![crate::wire::ipv6::solicited_node(US)]);
    assert!(records.iter().all(|r| r.record_type == 4));
    // The probes: from ::, no link-layer option, to the solicited-node group.
    for (frame, target) in f[1..].iter().zip([US, link_local()]) {
        let p = ip6(frame);
        assert_eq!(p.src(), Ipv6Addr::UNSPECIFIED);
        assert_eq!(p.dst(), crate::wire::ipv6::solicited_node(target));
        assert_eq!(
            icmp_of(frame),
            Icmpv6Repr::Ndp(NdpRepr::NeighborSolicit {
                target,
                lladdr: None
            })
        );
    }
    // A second report a second later, from the link-local address now.
    s.stack.poll(t(1000), &mut s.dev);
    let f = s.out(t(1000));
    assert_eq!(f.len(), 1);
    assert_eq!(ip6(&f[0]).src(), link_local());
    assert_eq!(s.stack.dad().state(US), Some(dad::AddrState::Preferred));
}

#[test]
fn an_advert_for_our_tentative_address_makes_it_duplicate() {
    let mut s = S {
        stack: Stack::new(config(1500), t(0)),
        dev: FrameQueue::new(1000, 1514),
    };
    s.stack.poll(t(0), &mut s.dev);
    let na = Icmpv6Repr::Ndp(NdpRepr::NeighborAdvert {
        router: false,
        solicited: false,
        override_: true,
        target: US,
        lladdr: Some(PEER_MAC),
    });
    let all = crate::wire::ipv6::ALL_NODES;
    s.rx(t(10), &frame6(PEER, all, 58, 255, &icmp6(PEER, all, &na)));
    assert_eq!(s.stack.dad().state(US), Some(dad::AddrState::Duplicate));
    assert_eq!(s.stack.stats().dad.failed, 1);
    // No longer ours: not a source, not a destination.
    assert_eq!(s.stack.config().source6_for(PEER), Some(link_local()));
    s.rx(
        t(20),
        &frame6(PEER, US, 58, 64, &icmp6(PEER, US, &echo(b"a"))),
    );
    assert_eq!(s.stack.stats().ipv6.rx_not_for_us, 1);
}

#[test]
fn a_listener_query_is_answered_with_a_report() {
    let mut s = S::new();
    s.stack.poll(t(1000), &mut s.dev);
    s.out(t(1000));
    let router: Ipv6Addr = "fe80::1".parse().unwrap();
    // MLDv1-style general query (24 bytes), max response delay 1000 ms.
    let q = Icmpv6Repr::Other {
        msg_type: msg_type::MLD_QUERY,
        code: 0,
        rest_of_header: [0x03, 0xe8, 0, 0],
        data: &[0u8; 16],
    };
    let all = crate::wire::ipv6::ALL_NODES;
    s.rx(
        t(2000),
        &frame6(router, all, 58, 1, &icmp6(router, all, &q)),
    );
    // Within the query's maximum response delay.
    s.stack.poll(t(3000), &mut s.dev);
    let f = s.out(t(3000));
    assert_eq!(f.len(), 1);
    assert_eq!(icmp_of_any(&f[0]), Some(msg_type::MLDV2_REPORT));
    assert_eq!(s.stack.stats().dad.queries_received, 1);
    // A forwarded query (hop limit > 1) is invalid.
    s.rx(
        t(4000),
        &frame6(router, all, 58, 2, &icmp6(router, all, &q)),
    );
    assert_eq!(s.stack.stats().icmpv6.mld_queries_invalid, 1);
}

#[test]
fn echo_request_reaching_userspace_is_answered() {
    let mut s = S::new();
    s.learn_peer();
    s.rx(
        t(1),
        &frame6(PEER, US, 58, 64, &icmp6(PEER, US, &echo(b"abc"))),
    );
    let f = s.out(t(1));
    assert_eq!(f.len(), 1);
    assert_eq!(&f[0][..6], &PEER_MAC.0);
    let p = ip6(&f[0]);
    assert_eq!((p.src(), p.dst(), p.hop_limit()), (US, PEER, 64));
    assert_eq!(
        icmp_of(&f[0]),
        Icmpv6Repr::EchoReply {
            ident: 7,
            seq: 1,
            data: b"abc"
        }
    );
    assert_eq!(s.stack.stats().icmpv6.echo_replies_sent, 1);
}

#[test]
fn unknown_neighbour_is_solicited_and_the_reply_waits_for_the_advert() {
    let mut s = S::new();
    s.rx(
        t(1),
        &frame6(PEER, US, 58, 64, &icmp6(PEER, US, &echo(b"x"))),
    );
    let f = s.out(t(1));
    assert_eq!(f.len(), 1, "only the solicitation");
    let sn = crate::wire::ipv6::solicited_node(PEER);
    assert_eq!(&f[0][..6], &[0x33, 0x33, 0xff, 0, 0, 2]);
    let p = ip6(&f[0]);
    assert_eq!((p.src(), p.dst(), p.hop_limit()), (US, sn, 255));
    assert_eq!(
        icmp_of(&f[0]),
        Icmpv6Repr::Ndp(NdpRepr::NeighborSolicit {
            target: PEER,
            lladdr: Some(US_MAC)
        })
    );
    assert_eq!(s.stack.ndp_cache().state(PEER), Some(NdpState::Incomplete));
    // Retried after a second (beside the start-up's second MLD report).
    s.stack.poll(t(1001), &mut s.dev);
    let retries = s
        .out(t(1001))
        .into_iter()
        .filter(|f| matches!(icmp_of_any(f), Some(m) if m == msg_type::NEIGHBOR_SOLICIT))
        .count();
    assert_eq!(retries, 1);
    // The solicited advert releases the queued reply.
    let na = Icmpv6Repr::Ndp(NdpRepr::NeighborAdvert {
        router: false,
        solicited: true,
        override_: true,
        target: PEER,
        lladdr: Some(PEER_MAC),
    });
    s.rx(t(1002), &frame6(PEER, US, 58, 255, &icmp6(PEER, US, &na)));
    let f = s.out(t(1002));
    assert_eq!(f.len(), 1);
    assert!(matches!(icmp_of(&f[0]), Icmpv6Repr::EchoReply { .. }));
    assert_eq!(s.stack.ndp_cache().state(PEER), Some(NdpState::Reachable));
    let rows = s.stack.ndp_entries(t(1002));
    assert_eq!((rows[0].ip, rows[0].mac), (PEER, Some(PEER_MAC)));
}

#[test]
fn neighbour_solicitation_in_userspace_is_answered_and_learned() {
    let mut s = S::new();
    let ns = Icmpv6Repr::Ndp(NdpRepr::NeighborSolicit {
        target: US,
        lladdr: Some(PEER_MAC),
    });
    let sn = crate::wire::ipv6::solicited_node(US);
    s.rx(t(1), &frame6(PEER, sn, 58, 255, &icmp6(PEER, sn, &ns)));
    let f = s.out(t(1));
    assert_eq!(f.len(), 1);
    assert_eq!(&f[0][..6], &PEER_MAC.0);
    assert_eq!(ip6(&f[0]).hop_limit(), 255);
    assert_eq!(
        icmp_of(&f[0]),
        Icmpv6Repr::Ndp(NdpRepr::NeighborAdvert {
            router: false,
            solicited: true,
            override_: true,
            target: US,
            lladdr: Some(US_MAC)
        })
    );
    // Learned STALE (RFC 4861 7.2.3), and sending the advert to it
    // started NUD (7.3.3).
    assert_eq!(s.stack.ndp_cache().state(PEER), Some(NdpState::Delay));
    // RFC 4861 7.1.1: a forwarded one (hop limit < 255) is invalid.
    s.rx(t(2), &frame6(PEER, sn, 58, 254, &icmp6(PEER, sn, &ns)));
    assert!(s.out(t(2)).is_empty());
    assert_eq!(s.stack.stats().icmpv6.ns_invalid, 1);
    // For somebody else's address: ignored.
    let other = Ipv6Addr::new(0xfd00, 0x10, 0x10, 0, 0, 0, 0, 9);
    let ns = Icmpv6Repr::Ndp(NdpRepr::NeighborSolicit {
        target: other,
        lladdr: Some(PEER_MAC),
    });
    s.rx(t(3), &frame6(PEER, US, 58, 255, &icmp6(PEER, US, &ns)));
    assert!(s.out(t(3)).is_empty());
    assert_eq!(s.stack.stats().icmpv6.ns_not_for_us, 1);
}

#[test]
fn dad_probe_for_our_address_is_answered_to_all_nodes() {
    let mut s = S::new();
    let sn = crate::wire::ipv6::solicited_node(US);
    let ns = Icmpv6Repr::Ndp(NdpRepr::NeighborSolicit {
        target: US,
        lladdr: None,
    });
    s.rx(
        t(1),
        &frame6(
            Ipv6Addr::UNSPECIFIED,
            sn,
            58,
            255,
            &icmp6(Ipv6Addr::UNSPECIFIED, sn, &ns),
        ),
    );
    let f = s.out(t(1));
    assert_eq!(f.len(), 1);
    assert_eq!(ip6(&f[0]).dst(), crate::wire::ipv6::ALL_NODES);
    assert_eq!(&f[0][..6], &[0x33, 0x33, 0, 0, 0, 1]);
    assert!(matches!(
        icmp_of(&f[0]),
        Icmpv6Repr::Ndp(NdpRepr::NeighborAdvert {
            solicited: false,
            override_: true,
            ..
        })
    ));
    assert_eq!(s.stack.stats().icmpv6.dad_conflicts, 1);
    // Nothing learned from ::.
    assert!(s.stack.ndp_entries(t(1)).is_empty());
}

/// `payload` (an ICMPv6 message) of `whole` cut into fragments of `size`
/// bytes at most (a multiple of 8), as frames.
fn fragments(whole: &[u8], size: usize, ident: u32) -> Vec<Vec<u8>> {
    let n = whole.len().div_ceil(size);
    whole
        .chunks(size)
        .enumerate()
        .map(|(i, c)| {
            let mut p = vec![0u8; 8 + c.len()];
            FragmentRepr {
                next_header: NextHeader::Icmpv6,
                offset: (i * size) as u16,
                more_frags: i + 1 < n,
                ident,
            }
            .emit(&mut FragmentHeader::new_unchecked(&mut p[..8]));
            p[8..].copy_from_slice(c);
            frame6(PEER, US, 44, 64, &p)
        })
        .collect()
}

/// Reassembles the stack's fragmented output with the stack's own reassembler.
fn reassemble(frames: &[Vec<u8>]) -> Vec<u8> {
    let mut r: reassembly::Reassembler<FragKey6> = reassembly::Reassembler::default();
    for f in frames {
        let p = ip6(f);
        assert_eq!(p.next_header(), NextHeader::Fragment);
        assert!(f.len() <= 14 + 1500);
        let fh =
            FragmentRepr::parse(&FragmentHeader::new_checked(&p.payload()[..8]).unwrap()).unwrap();
        let frag = reassembly::Fragment {
            key: FragKey6 {
                src: p.src(),
                dst: p.dst(),
                ident: fh.ident,
            },
            offset: usize::from(fh.offset),
            more: fh.more_frags,
            payload: &p.payload()[8..],
            header: (fh.offset == 0).then(|| &p.packet()[..48]),
        };
        if let reassembly::FragOutcome::Complete(w) = r.on_fragment(t(0), frag) {
            return w.payload;
        }
    }
    panic!("the stack's fragments did not reassemble");
}

#[test]
fn fragmented_ping_of_3000_bytes_is_reassembled_and_answered_in_fragments() {
    let mut s = S::new();
    s.learn_peer();
    let data: Vec<u8> = (0..3000).map(|i| (i * 13) as u8).collect();
    let msg = icmp6(PEER, US, &echo(&data));
    let frames = fragments(&msg, 1448, 0x42);
    assert_eq!(frames.len(), 3);
    // Out of order.
    s.rx(t(1), &frames[2]);
    s.rx(t(1), &frames[0]);
    assert!(s.out(t(1)).is_empty());
    s.rx(t(1), &frames[1]);
    let f = s.out(t(1));
    assert_eq!(f.len(), 3, "the reply goes out in fragments");
    let reply = reassemble(&f);
    let repr =
        Icmpv6Repr::parse(US, PEER, &Icmpv6Packet::new_checked(&reply[..]).unwrap()).unwrap();
    assert_eq!(
        repr,
        Icmpv6Repr::EchoReply {
            ident: 7,
            seq: 1,
            data: &data
        }
    );
    let st = s.stack.stats();
    assert_eq!((st.ipv6.fragments, st.ipv6.reassembled), (3, 1));
    assert_eq!(st.ipv6.fragments_sent, 3);
}

#[test]
fn overlapping_fragments_drop_the_datagram() {
    let mut s = S::new();
    s.learn_peer();
    let data = vec![5u8; 2000];
    let msg = icmp6(PEER, US, &echo(&data));
    let a = fragments(&msg, 1024, 9);
    let b = fragments(&msg, 1016, 9);
    s.rx(t(1), &a[0]);
    // [1016, 2008) overlaps [0, 1024).
    s.rx(t(1), &b[1]);
    s.rx(t(1), &a[1]);
    assert!(s.out(t(1)).is_empty());
    assert_eq!(s.stack.stats().reassembly6.overlap_conflicts, 1);
}

#[test]
fn reassembly_timeout_sends_time_exceeded_when_the_first_fragment_came() {
    let mut s = S::new();
    s.learn_peer();
    let msg = icmp6(PEER, US, &echo(&[1u8; 2000]));
    let f = fragments(&msg, 1024, 3);
    s.rx(t(0), &f[0]);
    s.stack.poll(t(30_000), &mut s.dev);
    let out: Vec<Vec<u8>> = s
        .out(t(30_000))
        .into_iter()
        .filter(|f| icmp_of_any(f) == Some(msg_type::TIME_EXCEEDED))
        .collect();
    assert_eq!(out.len(), 1);
    assert!(matches!(
        icmp_of(&out[0]),
        Icmpv6Repr::TimeExceeded { code: 1, .. }
    ));
}

#[test]
fn unknown_next_header_gets_parameter_problem_code_1() {
    let mut s = S::new();
    s.learn_peer();
    s.rx(t(1), &frame6(PEER, US, 253, 64, &[0u8; 8]));
    let f = s.out(t(1));
    assert_eq!(f.len(), 1);
    match icmp_of(&f[0]) {
        Icmpv6Repr::ParamProblem {
            code,
            pointer,
            invoking,
        } => {
            assert_eq!((code, pointer), (1, 6));
            assert_eq!(invoking.len(), 48);
        }
        other => panic!("{other:?}"),
    }
    // Not to a group (RFC 4443 2.4 (e.3)).
    s.rx(
        t(2),
        &frame6(PEER, crate::wire::ipv6::ALL_NODES, 253, 64, &[0u8; 8]),
    );
    assert!(s.out(t(2)).is_empty());
    assert_eq!(s.stack.stats().icmpv6.errors_forbidden, 1);
}

#[test]
fn hop_by_hop_option_action_bits() {
    let mut s = S::new();
    s.learn_peer();
    let body = icmp6(PEER, US, &echo(b"hi"));
    let with_option = |opt_type: u8| {
        // Hop-by-Hop: next ICMPv6, length 0, one unknown option of 4 bytes.
        let mut p = vec![58, 0, opt_type, 4, 0, 0, 0, 0];
        p.extend_from_slice(&body);
        p
    };
    // 00: skipped; the echo is answered.
    s.rx(t(1), &frame6(PEER, US, 0, 64, &with_option(0x1e)));
    let f = s.out(t(1));
    assert!(matches!(icmp_of(&f[0]), Icmpv6Repr::EchoReply { .. }));
    // 01: silently discarded.
    s.rx(t(2), &frame6(PEER, US, 0, 64, &with_option(0x5e)));
    assert!(s.out(t(2)).is_empty());
    assert_eq!(s.stack.stats().ipv6.ext_option_discard, 1);
    // 10: Parameter Problem code 2 pointing at the option.
    s.rx(t(3), &frame6(PEER, US, 0, 64, &with_option(0x9e)));
    let f = s.out(t(3));
    assert!(matches!(
        icmp_of(&f[0]),
        Icmpv6Repr::ParamProblem {
            code: 2,
            pointer: 42,
            ..
        }
    ));
}

fn udp6(src: Ipv6Addr, dst: Ipv6Addr, port: u16, data: &[u8]) -> Vec<u8> {
    let repr = UdpRepr {
        src_port: 40000,
        dst_port: port,
        payload: data,
    };
    let mut b = vec![0u8; repr.buffer_len()];
    repr.emit(&mut UdpPacket::new_unchecked(&mut b[..]), src, dst);
    b
}

#[test]
fn udp_to_a_closed_port_gets_port_unreachable_and_a_socket_gets_its_data() {
    let mut s = S::new();
    s.learn_peer();
    s.rx(t(1), &frame6(PEER, US, 17, 64, &udp6(PEER, US, 9999, b"x")));
    let f = s.out(t(1));
    assert!(matches!(
        icmp_of(&f[0]),
        Icmpv6Repr::DstUnreachable { code: 4, .. }
    ));
    let h = s.stack.udp_bind(7).unwrap();
    s.rx(t(2), &frame6(PEER, US, 17, 64, &udp6(PEER, US, 7, b"ping")));
    let d = s.stack.udp_recv_from(h).unwrap().unwrap();
    assert_eq!(d.src, SocketAddr::new(PEER.into(), 40000));
    assert_eq!(d.data, b"ping");
    // A zero checksum is invalid over IPv6 (RFC 8200 8.1).
    let mut bad = udp6(PEER, US, 7, b"z");
    bad[6] = 0;
    bad[7] = 0;
    s.rx(t(3), &frame6(PEER, US, 17, 64, &bad));
    assert_eq!(s.stack.udp_recv_from(h).unwrap(), None);
    // The reply goes out over IPv6 from our address.
    s.stack.udp_send_to(t(4), h, d.src, b"pong").unwrap();
    let f = s.out(t(4));
    assert_eq!(f.len(), 1);
    let p = ip6(&f[0]);
    assert_eq!(
        (p.src(), p.dst(), p.next_header()),
        (US, PEER, NextHeader::Udp)
    );
    let u = UdpPacket::new_checked(p.payload()).unwrap();
    assert_eq!(UdpRepr::parse(&u, US, PEER).unwrap().payload, b"pong");
}

#[test]
fn large_udp_datagram_goes_out_in_fragments() {
    let mut s = S::new();
    s.learn_peer();
    let h = s.stack.udp_bind(7).unwrap();
    let data = vec![3u8; 4000];
    s.stack
        .udp_send_to(t(1), h, SocketAddr::new(PEER.into(), 5000), &data)
        .unwrap();
    let f = s.out(t(1));
    assert_eq!(f.len(), 3);
    let whole = reassemble(&f);
    let u = UdpPacket::new_checked(&whole[..]).unwrap();
    assert_eq!(UdpRepr::parse(&u, US, PEER).unwrap().payload, &data[..]);
}

#[test]
fn link_local_destination_gets_the_link_local_source() {
    let mut s = S::new();
    let peer_ll: Ipv6Addr = "fe80::2".parse().unwrap();
    let ll = link_local();
    let ev = NeighEvent6 {
        ip: peer_ll.octets(),
        target_ip: ll.octets(),
        mac: PEER_MAC.0,
        icmp_type: msg_type::NEIGHBOR_SOLICIT,
        flags: 0,
    };
    s.stack.on_neigh_event6(t(0), &ev);
    s.rx(
        t(1),
        &frame6(peer_ll, ll, 58, 64, &icmp6(peer_ll, ll, &echo(b"l"))),
    );
    let f = s.out(t(1));
    assert_eq!(ip6(&f[0]).src(), ll);
    // Sending to the STALE entry started NUD.
    assert_eq!(s.stack.ndp_cache().state(peer_ll), Some(NdpState::Delay));
    // Off-link without --gateway6: no route.
    let far: Ipv6Addr = "2001:db8::1".parse().unwrap();
    s.stack.ping_start(t(2), far, 1, 8).unwrap();
    assert!(s.out(t(2)).is_empty());
    assert_eq!(s.stack.stats().ipv6.no_route, 1);
}

#[test]
fn tcp_syn_over_ipv6_is_answered_with_the_ipv6_mss() {
    let mut s = S::new();
    s.learn_peer();
    s.stack.tcp().listen(80).unwrap();
    let syn = TcpRepr {
        src_port: 40000,
        dst_port: 80,
        seq: 1000,
        ack: 0,
        flags: TcpFlags::SYN,
        window: 65535,
        urgent: 0,
        options: TcpOptions {
            mss: Some(1440),
            ..TcpOptions::default()
        },
        payload: &[],
    };
    let mut b = vec![0u8; syn.buffer_len()];
    let mut p = TcpPacket::new_unchecked(&mut b[..]);
    syn.emit(&mut p, PEER, US);
    s.rx(t(1), &frame6(PEER, US, 6, 64, &b));
    let f = s.out(t(1));
    assert_eq!(f.len(), 1);
    let ip = ip6(&f[0]);
    assert_eq!((ip.src(), ip.dst()), (US, PEER));
    let seg = TcpPacket::new_checked(ip.payload()).unwrap();
    let r = TcpRepr::parse(&seg, US, PEER).unwrap();
    assert!(r.flags.syn() && r.flags.ack());
    assert_eq!(r.options.mss, Some(1440));
    // To a group: never.
    s.rx(t(2), &frame6(PEER, crate::wire::ipv6::ALL_NODES, 6, 64, &b));
    assert_eq!(s.stack.stats().ipv6.tcp_not_unicast, 1);
}

#[test]
fn ping6_from_the_stack_matches_the_reply() {
    let mut s = S::new();
    s.learn_peer();
    let key = s.stack.ping_start(t(10), PEER, 3, 56).unwrap();
    let f = s.out(t(10));
    assert_eq!(f.len(), 1);
    let Icmpv6Repr::EchoRequest { ident, seq, data } = icmp_of(&f[0]) else {
        panic!("not an echo request");
    };
    assert_eq!((seq, data.len()), (3, 56));
    let reply = Icmpv6Repr::EchoReply { ident, seq, data };
    let msg = icmp6(PEER, US, &reply);
    s.rx(t(12), &frame6(PEER, US, 58, 63, &msg));
    let r = s.stack.ping_result(key).unwrap();
    assert_eq!((r.rtt_us, r.ttl, r.bytes), (2000, 63, 64));
    assert!(s.stack.ping_start(t(0), US, 1, 8).is_err());
    assert!(s
        .stack
        .ping_start(t(0), crate::wire::ipv6::ALL_NODES, 1, 8)
        .is_err());
}

#[test]
fn errors_are_rate_limited() {
    let mut s = S::new();
    s.learn_peer();
    for i in 0..200 {
        s.rx(
            t(1),
            &frame6(PEER, US, 17, 64, &udp6(PEER, US, 9999, &[i as u8])),
        );
    }
    let sent = s.out(t(1)).len() as u64;
    let st = s.stack.stats();
    assert_eq!(st.icmpv6.errors_sent, sent);
    assert!(st.icmpv6.errors_rate_limited > 0);
    assert_eq!(sent + st.icmpv6.errors_rate_limited, 200);
}

#[test]
fn input_checks_count_their_drops() {
    let mut s = S::new();
    let body = icmp6(PEER, US, &echo(b"a"));
    // Not ours.
    let other: Ipv6Addr = "fd00:10:10::99".parse().unwrap();
    s.rx(t(1), &frame6(PEER, other, 58, 64, &body));
    // From a group, and from ourselves.
    s.rx(t(1), &frame6("ff02::1".parse().unwrap(), US, 58, 64, &body));
    s.rx(t(1), &frame6(US, US, 58, 64, &body));
    // Truncated: Payload Length past the frame.
    let mut f = frame6(PEER, US, 58, 64, &body);
    f.truncate(f.len() - 1);
    s.rx(t(1), &f);
    // A bad checksum.
    let mut bad = body.clone();
    bad[2] ^= 0xff;
    s.rx(t(1), &frame6(PEER, US, 58, 64, &bad));
    // UDP from the unspecified address.
    s.rx(
        t(1),
        &frame6(
            Ipv6Addr::UNSPECIFIED,
            US,
            17,
            64,
            &udp6(Ipv6Addr::UNSPECIFIED, US, 7, b""),
        ),
    );
    assert!(s.out(t(1)).is_empty());
    let st = s.stack.stats();
    assert_eq!(st.ipv6.rx_not_for_us, 1);
    assert_eq!(st.ipv6.rx_bad_source, 3);
    assert_eq!(st.ipv6.rx_truncated, 1);
    assert_eq!(st.icmpv6.bad_checksum, 1);
}

#[test]
fn without_ipv6_addresses_ipv6_is_not_spoken() {
    let mut cfg = config(1500);
    cfg.ip6.clear();
    let mut s = Stack::new(cfg, t(0));
    let mut dev = FrameQueue::new(100, 1514);
    s.receive(
        t(1),
        &frame6(PEER, US, 58, 64, &icmp6(PEER, US, &echo(b"a"))),
        &mut dev,
    );
    assert_eq!(s.stats().stack.rx_unhandled_ethertype, 1);
    assert!(s.ping_start(t(1), PEER, 1, 8).is_err());
}

#[test]
fn gateway6_takes_off_link_traffic() {
    let mut cfg = config(1500);
    let router: Ipv6Addr = "fe80::1".parse().unwrap();
    cfg.gateway6 = Some(router);
    let mut s = S {
        stack: Stack::new(cfg, t(0)),
        dev: FrameQueue::new(1000, 1514),
    };
    let far: Ipv6Addr = "2001:db8::1".parse().unwrap();
    s.stack.ping_start(t(1), far, 1, 8).unwrap();
    let f = s.out(t(1));
    // A solicitation for the router, from our link-local address.
    assert_eq!(f.len(), 1);
    assert_eq!(ip6(&f[0]).src(), link_local());
    assert!(matches!(
        icmp_of(&f[0]),
        Icmpv6Repr::Ndp(NdpRepr::NeighborSolicit { target, .. }) if target == router
    ));
}

/// A TCP segment from the peer's port 40000 to our port 80.
fn tcp6(flags: TcpFlags, seq: u32, ack: u32) -> Vec<u8> {
    let repr = TcpRepr {
        src_port: 40000,
        dst_port: 80,
        seq,
        ack,
        flags,
        window: 65535,
        urgent: 0,
        options: TcpOptions {
            mss: flags.syn().then_some(1440),
            ..TcpOptions::default()
        },
        payload: &[],
    };
    let mut b = vec![0u8; repr.buffer_len()];
    repr.emit(&mut TcpPacket::new_unchecked(&mut b[..]), PEER, US);
    frame6(PEER, US, 6, 64, &b)
}

/// The TCP segments (header, payload length) among frames.
fn tcp_segments(frames: &[Vec<u8>]) -> Vec<(TcpRepr<'_>, usize)> {
    frames
        .iter()
        .filter(|f| ip6(f).next_header() == NextHeader::Tcp)
        .map(|f| {
            let p = &f[14 + 40..];
            let r = TcpRepr::parse(&TcpPacket::new_checked(p).unwrap(), US, PEER).unwrap();
            let n = r.payload.len();
            (r, n)
        })
        .collect()
}

#[test]
fn packet_too_big_lowers_the_tcp_segment_size() {
    let mut s = S::new();
    s.learn_peer();
    s.stack.tcp().listen(80).unwrap();
    s.rx(t(1), &tcp6(TcpFlags::SYN, 1000, 0));
    let f = s.out(t(1));
    let (synack, _) = tcp_segments(&f)[0];
    s.rx(t(2), &tcp6(TcpFlags::ACK, 1001, synack.seq.wrapping_add(1)));
    let conn = s.stack.tcp().accept(80).unwrap();
    s.stack.tcp().send(t(3), conn, &vec![7u8; 4000]).unwrap();
    let f = s.out(t(3));
    let segs = tcp_segments(&f);
    assert!(
        segs.iter().any(|(_, n)| *n == 1440),
        "full-size segments first"
    );
    // A router on the way takes 1280 bytes: Packet Too Big quoting the
    // first data segment.
    let first = f
        .iter()
        .find(|f| f.len() > 14 + 40 + 20 + 1000)
        .expect("a data segment");
    let invoking = crate::wire::icmpv6::quote(&first[14..]);
    let router: Ipv6Addr = "fd00:10:10::1".parse().unwrap();
    let ptb = Icmpv6Repr::PacketTooBig {
        mtu: 1280,
        invoking,
    };
    s.rx(t(4), &frame6(router, US, 58, 64, &icmp6(router, US, &ptb)));
    let f = s.out(t(4));
    let segs = tcp_segments(&f);
    assert!(!segs.is_empty(), "resent at once");
    assert!(
        segs.iter().all(|(_, n)| *n <= 1220),
        "{:?}",
        segs.iter().map(|x| x.1).collect::<Vec<_>>()
    );
    assert_eq!(s.stack.stats().tcp.pmtu_reductions, 1);
    assert_eq!(s.stack.stats().icmpv6.packet_too_big_received, 1);
    // One about a connection we do not have is ignored.
    let mut other = first[14..].to_vec();
    other[40] ^= 0xff; // another local port
    let ptb = Icmpv6Repr::PacketTooBig {
        mtu: 1280,
        invoking: crate::wire::icmpv6::quote(&other),
    };
    s.rx(t(5), &frame6(router, US, 58, 64, &icmp6(router, US, &ptb)));
    assert_eq!(s.stack.stats().tcp.pmtu_reductions, 1);
}

#[test]
fn an_advert_from_the_unspecified_address_is_invalid() {
    let mut s = S::new();
    let na = Icmpv6Repr::Ndp(NdpRepr::NeighborAdvert {
        router: false,
        solicited: false,
        override_: true,
        target: US,
        lladdr: Some(PEER_MAC),
    });
    let all = crate::wire::ipv6::ALL_NODES;
    let any = Ipv6Addr::UNSPECIFIED;
    s.rx(t(10), &frame6(any, all, 58, 255, &icmp6(any, all, &na)));
    assert_eq!(s.stack.stats().icmpv6.na_invalid, 1);
    assert_eq!(s.stack.dad().state(US), Some(dad::AddrState::Tentative));
}

mod random_frames {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Any IPv6 frame to us, header chain and payload mutated: no
        /// panic, and what the stack sends is well-formed IPv6 from us.
        #[test]
        fn random_ipv6_frames_never_panic(
            nh in prop::sample::select(vec![0u8, 6, 17, 43, 44, 58, 59, 60, 253]),
            hop in prop::sample::select(vec![1u8, 64, 255]),
            body in prop::collection::vec(any::<u8>(), 0..3000),
            to_group in any::<bool>(),
            frames in 1usize..4,
        ) {
            let mut s = S::new();
            s.learn_peer();
            let dst = if to_group { crate::wire::ipv6::solicited_node(US) } else { US };
            for i in 0..frames {
                let mut b = body.clone();
                if let Some(x) = b.get_mut(i) {
                    *x = x.wrapping_add(i as u8);
                }
                s.rx(t(i as u64), &frame6(PEER, dst, nh, hop, &b));
            }
            s.stack.poll(t(60_000), &mut s.dev);
            for f in s.out(t(60_000)) {
                let p = ip6(&f);
                let src = p.src();
                prop_assert!(src == US || src == link_local() || src.is_unspecified());
                prop_assert!(f.len() <= 14 + 1500);
            }
        }
    }
}
