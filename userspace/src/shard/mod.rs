//! Shards: one whole stack (and its services) per RX queue, owned by that
//! queue's worker thread, with no lock on the per-frame path.
//!
//! What belongs to whom:
//! - a passive TCP flow belongs to the shard whose queue received its SYN
//!   (every shard listens on the same ports, like SO_REUSEPORT);
//! - an active open (`xdpstack ping`'s identifier) belongs to the shard
//!   whose index is the identifier modulo the number of shards ([`owner`]);
//! - UDP and ICMP echo requests are answered by whichever shard gets them.
//!
//! [`steer`] reads a received frame's headers and says which shard owns it;
//! a frame for another shard is copied into that shard's [`handoff`]
//! mailbox, in order, and counted. Host-wide state: the configuration is
//! immutable and copied into each shard; ARP bindings are replicated, every
//! shard's cache is updated by messages (what the XDP program reports, what
//! a shard learns from an ARP frame) that each worker drains every loop.

pub mod handoff;
pub mod merge;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use xdpstack_common::layout::{eth, icmp, icmpv6, ipv4, ipv6};

/// Which shard of how many.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShardId {
    pub index: usize,
    pub count: usize,
}

/// The shard that owns an active open's port or identifier: its value
/// modulo the number of shards, so any shard can tell without asking.
pub fn owner(value: u16, count: usize) -> usize {
    usize::from(value) % count.max(1)
}

/// What a shard knows of a TCP segment's tuple.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// A connection (or TIME-WAIT entry) of this shard has it.
    Connection,
    /// No connection, but a listener has the local port.
    Listener,
    /// Neither.
    Unknown,
}

/// Where a received frame goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Steer {
    /// This shard handles it.
    Here,
    /// Shard `n` owns it: hand it over.
    To(usize),
}

/// Where a frame received by shard `me` belongs. `hops`: how many shards
/// it went through already (0: straight from the queue). `tcp` tells what
/// this shard has for (local port, remote). Anything it cannot parse stays
/// here, where the stack counts it.
///
/// A non-SYN segment of a passive flow this shard does not have (its
/// queue changed: RSS rehash, a retransmission the peer re-hashed) is
/// passed around the ring (`me + 1`) until the owner has it; after every
/// other shard it is handled here, which answers it as the stack does an
/// unknown flow (a reset, or a SYN cookie's ACK).
pub fn steer(
    frame: &[u8],
    me: ShardId,
    hops: usize,
    tcp: impl FnOnce(u16, SocketAddr) -> Flow,
) -> Steer {
    if me.count <= 1 {
        return Steer::Here;
    }
    let Some((proto, src, l4)) = transport(frame) else {
        return Steer::Here;
    };
    match proto {
        Proto::Icmp { echo_reply } => {
            // An echo reply belongs to the shard whose ping sent the request.
            if echo_reply && hops == 0 {
                if let Some(ident) = be16(l4, icmp::IDENT) {
                    let o = owner(ident, me.count);
                    if o != me.index {
                        return Steer::To(o);
                    }
                }
            }
            Steer::Here
        }
        Proto::Tcp => {
            let (Some(sport), Some(dport), Some(&flags)) = (be16(l4, 0), be16(l4, 2), l4.get(13))
            else {
                return Steer::Here;
            };
            let remote = SocketAddr::new(src, sport);
            let (syn, ack) = (flags & 0x02 != 0, flags & 0x10 != 0);
            match tcp(dport, remote) {
                Flow::Connection => Steer::Here,
                // A new passive open: the shard that got the SYN keeps it.
                Flow::Listener if syn && !ack => Steer::Here,
                Flow::Listener if hops + 1 < me.count => Steer::To((me.index + 1) % me.count),
                Flow::Listener => Steer::Here,
                // A bare SYN opens nothing of ours (a closed port): the
                // reset is sent from here, not after a copy.
                Flow::Unknown if syn && !ack => Steer::Here,
                Flow::Unknown => {
                    let o = owner(dport, me.count);
                    if o != me.index && hops == 0 {
                        Steer::To(o)
                    } else {
                        Steer::Here
                    }
                }
            }
        }
        Proto::Other => Steer::Here,
    }
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    b.get(at..at + 2).map(|s| u16::from_be_bytes([s[0], s[1]]))
}

/// What [`steer`] looks at of a transport.
enum Proto {
    /// ICMP or ICMPv6; whether an echo reply (their identifiers sit at
    /// the same offset).
    Icmp {
        echo_reply: bool,
    },
    Tcp,
    Other,
}

/// A frame's transport, its source address and its header onwards: for an
/// unfragmented IPv4 datagram, or an IPv6 packet whose first next header
/// is the transport. Fragments are reassembled where they land (they
/// normally share a queue: the sender hashes one datagram once), and
/// packets with IPv6 extension headers are handled where they land too.
fn transport(frame: &[u8]) -> Option<(Proto, IpAddr, &[u8])> {
    let ip = frame.get(eth::HEADER_LEN..)?;
    match be16(frame, eth::ETHERTYPE)? {
        eth::ETHERTYPE_IPV4 => {
            let ver_ihl = *ip.get(ipv4::VER_IHL)?;
            let ihl = usize::from(ver_ihl & 0x0f) * 4;
            let frag = be16(ip, ipv4::FLAGS_FRAG).unwrap_or(0);
            if ver_ihl >> 4 != 4
                || ihl < ipv4::MIN_HEADER_LEN
                || frag & (ipv4::FLAG_MF | ipv4::FRAG_OFFSET_MASK) != 0
            {
                return None;
            }
            let l4 = ip.get(ihl..)?;
            let src: [u8; 4] = ip.get(ipv4::SRC..ipv4::SRC + 4)?.try_into().ok()?;
            let proto = match *ip.get(ipv4::PROTOCOL)? {
                ipv4::PROTO_ICMP => Proto::Icmp {
                    echo_reply: l4.first() == Some(&icmp::TYPE_ECHO_REPLY),
                },
                ipv4::PROTO_TCP => Proto::Tcp,
                _ => Proto::Other,
            };
            Some((proto, IpAddr::V4(Ipv4Addr::from(src)), l4))
        }
        eth::ETHERTYPE_IPV6 => {
            if ip.first()? >> 4 != 6 {
                return None;
            }
            let l4 = ip.get(ipv6::HEADER_LEN..)?;
            let src: [u8; 16] = ip.get(ipv6::SRC..ipv6::SRC + 16)?.try_into().ok()?;
            let proto = match *ip.get(ipv6::NEXT_HEADER)? {
                ipv6::NEXT_HEADER_ICMPV6 => Proto::Icmp {
                    echo_reply: l4.first() == Some(&icmpv6::TYPE_ECHO_REPLY),
                },
                ipv4::PROTO_TCP => Proto::Tcp,
                _ => Proto::Other,
            };
            Some((proto, IpAddr::V6(Ipv6Addr::from(src)), l4))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(proto: u8, frag: u16, l4: &[u8]) -> Vec<u8> {
        let mut f = vec![0u8; eth::HEADER_LEN];
        f[eth::ETHERTYPE..eth::ETHERTYPE + 2].copy_from_slice(&eth::ETHERTYPE_IPV4.to_be_bytes());
        let mut ip = vec![0u8; 20];
        ip[0] = 0x45;
        ip[ipv4::FLAGS_FRAG..ipv4::FLAGS_FRAG + 2].copy_from_slice(&frag.to_be_bytes());
        ip[ipv4::PROTOCOL] = proto;
        ip[ipv4::SRC..ipv4::SRC + 4].copy_from_slice(&[10, 10, 0, 2]);
        ip[ipv4::DST..ipv4::DST + 4].copy_from_slice(&[10, 10, 0, 4]);
        f.extend_from_slice(&ip);
        f.extend_from_slice(l4);
        f
    }

    fn frame6(next_header: u8, l4: &[u8]) -> Vec<u8> {
        let mut f = vec![0u8; eth::HEADER_LEN];
        f[eth::ETHERTYPE..eth::ETHERTYPE + 2].copy_from_slice(&eth::ETHERTYPE_IPV6.to_be_bytes());
        let mut ip = vec![0u8; ipv6::HEADER_LEN];
        ip[0] = 0x60;
        ip[ipv6::NEXT_HEADER] = next_header;
        let src: Ipv6Addr = "fd00:10:10::2".parse().unwrap();
        ip[ipv6::SRC..ipv6::SRC + 16].copy_from_slice(&src.octets());
        f.extend_from_slice(&ip);
        f.extend_from_slice(l4);
        f
    }

    fn tcp(sport: u16, dport: u16, flags: u8) -> Vec<u8> {
        let mut t = vec![0u8; 20];
        t[0..2].copy_from_slice(&sport.to_be_bytes());
        t[2..4].copy_from_slice(&dport.to_be_bytes());
        t[12] = 0x50;
        t[13] = flags;
        t
    }

    fn echo_reply(ident: u16) -> Vec<u8> {
        let mut i = vec![0u8; 8];
        i[icmp::IDENT..icmp::IDENT + 2].copy_from_slice(&ident.to_be_bytes());
        i
    }

    const SYN: u8 = 0x02;
    const ACK: u8 = 0x10;

    fn id(index: usize, count: usize) -> ShardId {
        ShardId { index, count }
    }

    mod hooks {
        use std::net::Ipv4Addr;
        use std::time::Duration;

        use crate::device::FrameQueue;
        use crate::stack::rng::Rng;
        use crate::stack::time::Instant;
        use crate::stack::{Stack, StackConfig};
        use crate::wire::{
            ArpOp, ArpPacket, ArpRepr, EtherType, EthernetFrame, EthernetRepr, MacAddr,
        };

        const US: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 4);
        const US_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 4]);
        const PEER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
        const PEER_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 2]);

        fn stack(seed: u64) -> Stack {
            Stack::new(
                StackConfig {
                    ip: US,
                    prefix: 24,
                    mac: US_MAC,
                    gateway: None,
                    ip6: vec![("fd00::4".parse().unwrap(), 64)],
                    gateway6: None,
                    mtu: 1500,
                    arp_timeout: Duration::from_secs(60),
                    arp_max: 64,
                    seed: Rng::seed_from_u64(seed),
                },
                Instant::from_micros(0),
            )
        }

        fn arp_reply() -> Vec<u8> {
            let mut f = vec![0u8; 14 + 28];
            EthernetRepr {
                src: PEER_MAC,
                dst: US_MAC,
                ethertype: EtherType::Arp,
            }
            .emit(&mut EthernetFrame::new_unchecked(&mut f[..]));
            ArpRepr {
                operation: ArpOp::Reply,
                sender_mac: PEER_MAC,
                sender_ip: PEER,
                target_mac: US_MAC,
                target_ip: US,
            }
            .emit(&mut ArpPacket::new_unchecked(&mut f[14..]));
            f
        }

        #[test]
        fn a_shard_owns_its_residue_of_identifiers_and_ports() {
            for seed in 0..50 {
                for (index, count) in [(0u16, 1u16), (1, 2), (3, 4), (2, 3)] {
                    let mut s = stack(seed);
                    s.set_shard(index, count);
                    assert_eq!(s.ping_ident() % count, index, "seed {seed}");
                    let now = Instant::from_micros(0);
                    let id = s
                        .tcp()
                        .connect(now, 0, (PEER, 80))
                        .expect("an ephemeral port");
                    let port = s
                        .tcp_connections()
                        .into_iter()
                        .find(|c| c.remote.port() == 80)
                        .map(|c| c.local.port())
                        .expect("the connection");
                    assert_eq!(port % count, index, "seed {seed}, {id:?}");
                }
            }
        }

        /// An IPv4 fragment from the peer to us: ICMP, ident 77.
        fn fragment(offset: usize, more: bool, payload: &[u8]) -> Vec<u8> {
            let mut f = vec![0u8; 14 + 20 + payload.len()];
            EthernetRepr {
                src: PEER_MAC,
                dst: US_MAC,
                ethertype: EtherType::Ipv4,
            }
            .emit(&mut EthernetFrame::new_unchecked(&mut f[..]));
            let mut ip = crate::wire::Ipv4Packet::new_unchecked(&mut f[14..]);
            ip.set_version(4);
            ip.set_header_len(20);
            ip.set_total_len((20 + payload.len()) as u16);
            ip.set_ident(77);
            ip.set_more_frags(more);
            ip.set_frag_offset(offset as u16);
            ip.set_ttl(64);
            ip.set_protocol(crate::wire::IpProtocol::Icmp);
            ip.set_src(PEER);
            ip.set_dst(US);
            ip.fill_checksum();
            f[34..].copy_from_slice(payload);
            f
        }

        #[test]
        fn a_shard_hands_out_what_it_reassembled_as_one_frame() {
            // An echo reply (ident 5) of 1600 data bytes, in two fragments.
            let mut icmp = vec![0u8; 8 + 1600];
            icmp[4..6].copy_from_slice(&5u16.to_be_bytes());
            for (i, b) in icmp[8..].iter_mut().enumerate() {
                *b = i as u8;
            }
            let sum = xdpstack_common::checksum::checksum(&icmp);
            icmp[2..4].copy_from_slice(&sum.to_be_bytes());
            let now = Instant::from_micros(0);
            for count in [1u16, 2] {
                let mut s = stack(4);
                s.set_shard(0, count);
                let mut dev = FrameQueue::new(16, 1514);
                s.receive(now, &fragment(0, true, &icmp[..1200]), &mut dev);
                s.receive(now, &fragment(1200, false, &icmp[1200..]), &mut dev);
                let got = s.take_reassembled();
                let replies = s.stats().stack.icmp_echo_replies_received;
                if count == 1 {
                    // A lone stack delivers it at once.
                    assert!(got.is_empty());
                    assert_eq!(replies, 1);
                    continue;
                }
                assert_eq!(replies, 0, "not delivered before its owner is known");
                assert_eq!(got.len(), 1);
                let frame = &got[0];
                let ip = crate::wire::Ipv4Packet::new_checked(&frame[14..]).expect("IPv4");
                assert!(!ip.is_fragment() && ip.verify_checksum());
                assert_eq!(ip.payload(), &icmp[..]);
                // The owner (here: itself) takes it as an ordinary frame.
                assert_eq!(
                    super::super::steer(
                        frame,
                        super::super::ShardId { index: 0, count: 2 },
                        0,
                        |_, _| super::super::Flow::Unknown
                    ),
                    super::super::Steer::To(1)
                );
                s.receive(now, frame, &mut dev);
                assert_eq!(s.stats().stack.icmp_echo_replies_received, 1);
                assert!(s.take_reassembled().is_empty());
            }
        }

        #[test]
        fn only_shard_0_announces_and_only_shards_export_bindings() {
            let now = Instant::from_micros(0);
            let mut announced = Vec::new();
            for index in 0..2u16 {
                let mut s = stack(1);
                s.set_shard(index, 2);
                let mut dev = FrameQueue::new(16, 1514);
                s.poll(now, &mut dev);
                announced.push(dev.len());
                s.receive(now, &arp_reply(), &mut dev);
                let ex = s.take_neigh_exports();
                assert_eq!(ex.len(), 1);
                assert_eq!(
                    (ex[0].sender_ip, ex[0].sender_mac),
                    (PEER.octets(), PEER_MAC.0)
                );
                assert!(s.take_neigh_exports().is_empty(), "taken once");
                // Another shard applies it like an XDP neighbour event.
                let mut other = stack(2);
                other.set_shard(1 - index, 2);
                other.on_neigh_event(now, &ex[0]);
                assert!(other
                    .arp_entries(now)
                    .iter()
                    .any(|e| e.ip == PEER && e.mac == Some(PEER_MAC)));
            }
            // Shard 0 alone announces the IPv4 address (1 frame) and, for
            // the IPv6 one, sends the MLD report and the DAD probe (2).
            assert_eq!(announced, vec![3, 0], "shard 0 alone announces");
            // A lone stack keeps nothing for others.
            let mut lone = stack(3);
            lone.receive(now, &arp_reply(), &mut FrameQueue::new(16, 1514));
            assert!(lone.take_neigh_exports().is_empty());
        }
    }

    #[test]
    fn owner_is_the_value_modulo_the_shards() {
        assert_eq!(owner(40_001, 4), 1);
        assert_eq!(owner(40_000, 4), 0);
        assert_eq!(owner(7, 1), 0);
        assert_eq!(owner(7, 0), 0, "no shards counts as one");
        // Every shard owns an equal share of the values.
        let mut per = [0usize; 3];
        for v in 0..=u16::MAX {
            per[owner(v, 3)] += 1;
        }
        assert!(per.iter().all(|&n| n == 21_845 || n == 21_846), "{per:?}");
    }

    #[test]
    fn one_shard_keeps_everything() {
        let f = frame(ipv4::PROTO_ICMP, 0, &echo_reply(5));
        assert_eq!(steer(&f, id(0, 1), 0, |_, _| Flow::Unknown), Steer::Here);
    }

    #[test]
    fn echo_replies_go_to_the_pinging_shard() {
        let f = frame(ipv4::PROTO_ICMP, 0, &echo_reply(4 * 100 + 3));
        assert_eq!(steer(&f, id(0, 4), 0, |_, _| Flow::Unknown), Steer::To(3));
        assert_eq!(steer(&f, id(3, 4), 0, |_, _| Flow::Unknown), Steer::Here);
        // Handed over once already: never bounced again.
        assert_eq!(steer(&f, id(0, 4), 1, |_, _| Flow::Unknown), Steer::Here);
        // Echo requests are answered wherever they land.
        let mut req = echo_reply(3);
        req[0] = icmp::TYPE_ECHO_REQUEST;
        let f = frame(ipv4::PROTO_ICMP, 0, &req);
        assert_eq!(steer(&f, id(0, 4), 0, |_, _| Flow::Unknown), Steer::Here);
    }

    #[test]
    fn ipv6_echo_replies_and_segments_are_steered_like_ipv4s() {
        let mut reply = echo_reply(4 * 100 + 3);
        reply[0] = icmpv6::TYPE_ECHO_REPLY;
        let f = frame6(ipv6::NEXT_HEADER_ICMPV6, &reply);
        assert_eq!(steer(&f, id(0, 4), 0, |_, _| Flow::Unknown), Steer::To(3));
        // An ICMPv4 echo reply's type number means nothing in ICMPv6.
        let f = frame6(ipv6::NEXT_HEADER_ICMPV6, &echo_reply(3));
        assert_eq!(steer(&f, id(0, 4), 0, |_, _| Flow::Unknown), Steer::Here);
        let data = frame6(ipv4::PROTO_TCP, &tcp(80, 40_003, ACK));
        let seen = std::cell::Cell::new(None);
        let got = steer(&data, id(0, 2), 0, |p, r| {
            seen.set(Some((p, r)));
            Flow::Unknown
        });
        assert_eq!(got, Steer::To(1));
        assert_eq!(
            seen.get(),
            Some((40_003, "[fd00:10:10::2]:80".parse().unwrap()))
        );
        // Extension headers first (here hop-by-hop): handled where it lands.
        let f = frame6(0, &tcp(80, 40_003, ACK));
        assert_eq!(steer(&f, id(0, 2), 0, |_, _| Flow::Unknown), Steer::Here);
    }

    #[test]
    fn passive_flows_stay_where_their_syn_landed() {
        let syn = frame(ipv4::PROTO_TCP, 0, &tcp(50_000, 7, SYN));
        assert_eq!(steer(&syn, id(1, 2), 0, |_, _| Flow::Listener), Steer::Here);
        let data = frame(ipv4::PROTO_TCP, 0, &tcp(50_000, 7, ACK));
        let seen = std::cell::Cell::new(None);
        let got = steer(&data, id(1, 2), 0, |p, r| {
            seen.set(Some((p, r)));
            Flow::Connection
        });
        assert_eq!(got, Steer::Here);
        assert_eq!(seen.get(), Some((7, "10.10.0.2:50000".parse().unwrap())));
    }

    #[test]
    fn a_passive_flow_that_moved_queue_goes_round_the_ring_once() {
        let data = frame(ipv4::PROTO_TCP, 0, &tcp(50_000, 80, ACK));
        assert_eq!(
            steer(&data, id(3, 4), 0, |_, _| Flow::Listener),
            Steer::To(0)
        );
        assert_eq!(
            steer(&data, id(0, 4), 1, |_, _| Flow::Listener),
            Steer::To(1)
        );
        assert_eq!(
            steer(&data, id(1, 4), 2, |_, _| Flow::Listener),
            Steer::To(2)
        );
        // Every other shard said no: the last one answers (a reset).
        assert_eq!(
            steer(&data, id(2, 4), 3, |_, _| Flow::Listener),
            Steer::Here
        );
        assert_eq!(
            steer(&data, id(2, 4), 3, |_, _| Flow::Connection),
            Steer::Here
        );
    }

    #[test]
    fn active_flows_go_to_the_port_owner() {
        let data = frame(ipv4::PROTO_TCP, 0, &tcp(80, 40_003, ACK | SYN));
        assert_eq!(
            steer(&data, id(0, 2), 0, |_, _| Flow::Unknown),
            Steer::To(1)
        );
        assert_eq!(steer(&data, id(1, 2), 0, |_, _| Flow::Unknown), Steer::Here);
        assert_eq!(steer(&data, id(0, 2), 1, |_, _| Flow::Unknown), Steer::Here);
        let rst = frame(ipv4::PROTO_TCP, 0, &tcp(80, 40_003, 0x04));
        assert_eq!(steer(&rst, id(0, 2), 0, |_, _| Flow::Unknown), Steer::To(1));
        let bare_syn = frame(ipv4::PROTO_TCP, 0, &tcp(50_000, 40_003, SYN));
        assert_eq!(
            steer(&bare_syn, id(0, 2), 0, |_, _| Flow::Unknown),
            Steer::Here
        );
    }

    #[test]
    fn fragments_udp_arp_and_garbage_stay_here() {
        let t = tcp(80, 40_003, ACK);
        let mf = frame(ipv4::PROTO_TCP, ipv4::FLAG_MF, &t);
        assert_eq!(steer(&mf, id(0, 2), 0, |_, _| Flow::Unknown), Steer::Here);
        let later = frame(ipv4::PROTO_TCP, 3, &t);
        assert_eq!(
            steer(&later, id(0, 2), 0, |_, _| Flow::Unknown),
            Steer::Here
        );
        let udp = frame(ipv4::PROTO_UDP, 0, &t);
        assert_eq!(steer(&udp, id(0, 2), 0, |_, _| Flow::Unknown), Steer::Here);
        let mut arp = frame(ipv4::PROTO_TCP, 0, &t);
        arp[12..14].copy_from_slice(&eth::ETHERTYPE_ARP.to_be_bytes());
        assert_eq!(steer(&arp, id(0, 2), 0, |_, _| Flow::Unknown), Steer::Here);
        // Every truncation of a segment is either steered or kept, never a panic.
        let whole = frame(ipv4::PROTO_TCP, 0, &t);
        for n in 0..whole.len() {
            let _ = steer(&whole[..n], id(0, 2), 0, |_, _| Flow::Unknown);
        }
        let mut bad_ihl = whole.clone();
        bad_ihl[eth::HEADER_LEN] = 0x4f;
        assert_eq!(
            steer(&bad_ihl, id(0, 2), 0, |_, _| Flow::Unknown),
            Steer::Here
        );
    }
}
