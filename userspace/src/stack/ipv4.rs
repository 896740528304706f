//! IPv4 input and output (RFC 791, RFC 1122 3.2.1).

use std::net::{IpAddr, Ipv4Addr};

use xdpstack_common::layout::icmp;
use xdpstack_common::layout::ipv4::{
    DEFAULT_TTL, MIN_HEADER_LEN, PROTO_ICMP, PROTO_TCP, PROTO_UDP,
};

use super::arp_cache::{ArpCache, SendOutcome};
use super::icmpv6::Icmpv6Counters;
use super::ipv6::Ipv6Counters;
use super::ndp_cache::NdpCache;
use super::reassembly::{FragKey, FragOutcome, Fragment};
use super::time::Instant;
use super::{Stack, StackConfig, StackCounters};
use crate::device::{Device, TxToken};
use crate::wire::ethernet::EthernetRepr;
use crate::wire::ipv4::is_martian_source;
use crate::wire::{
    ArpOp, ArpPacket, ArpRepr, EtherType, EthernetFrame, IpProtocol, Ipv4Error, Ipv4Packet,
    Ipv4Repr, MacAddr,
};

/// A datagram that passed the checks, whole (reassembled if it came in
/// fragments).
pub(super) struct Datagram<'a> {
    /// The header as received, options included (quoted in ICMP errors).
    pub header: &'a [u8],
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub protocol: u8,
    pub ttl: u8,
    pub payload: &'a [u8],
    /// Arrived in a broadcast or multicast frame, or to a broadcast address.
    pub group: bool,
}

impl Stack {
    pub(super) fn receive_ipv4<D: Device>(
        &mut self,
        now: Instant,
        dev: &mut D,
        l2_group: bool,
        payload: &[u8],
    ) {
        self.counters.rx_ipv4 += 1;
        let packet = match Ipv4Packet::new_checked(payload) {
            Ok(p) => p,
            Err(e) => {
                let c = &mut self.counters;
                match e {
                    Ipv4Error::ShortBuffer | Ipv4Error::HeaderExceedsBuffer => {
                        c.ipv4_truncated += 1
                    }
                    Ipv4Error::BadVersion => c.ipv4_bad_version += 1,
                    Ipv4Error::BadHeaderLen => c.ipv4_bad_header_len += 1,
                    Ipv4Error::TotalLenTooSmall | Ipv4Error::TotalLenExceedsBuffer => {
                        c.ipv4_bad_total_len += 1
                    }
                }
                return;
            }
        };
        // RFC 1122 3.2.1.2: silently discard a datagram with a bad checksum.
        if !packet.verify_checksum() {
            self.counters.ipv4_bad_checksum += 1;
            return;
        }
        let dst = packet.dst();
        let to_broadcast = crate::wire::ipv4::is_broadcast(dst, self.cfg.ip, self.cfg.prefix);
        if dst != self.cfg.ip && !to_broadcast {
            self.counters.ipv4_not_for_us += 1;
            return;
        }
        let src = packet.src();
        // RFC 1122 3.2.1.3: such sources cannot be a single host; we also
        // refuse our own address coming from the wire.
        if is_martian_source(src)
            || src == self.cfg.ip
            || crate::wire::ipv4::is_broadcast(src, self.cfg.ip, self.cfg.prefix)
        {
            self.counters.ipv4_martian_source += 1;
            return;
        }
        let group = l2_group || to_broadcast;
        if packet.is_fragment() {
            self.counters.ipv4_fragments += 1;
            let frag = Fragment {
                key: FragKey {
                    src,
                    dst,
                    protocol: packet.protocol().into(),
                    ident: packet.ident(),
                },
                offset: usize::from(packet.frag_offset()),
                more: packet.more_frags(),
                payload: packet.payload(),
                header: (packet.frag_offset() == 0).then(|| packet.header()),
            };
            match self.reasm.on_fragment(now, frag) {
                FragOutcome::Pending => {}
                FragOutcome::Dropped(_) => self.counters.ipv4_fragments_dropped += 1,
                FragOutcome::Complete(whole) => {
                    self.counters.ipv4_reassembled += 1;
                    // A shard hands the whole datagram to the daemon, which
                    // finds the shard that owns its flow (`set_shard`).
                    if let Some(frame) = self.reassembled_frame(l2_group, &whole) {
                        if let Some(out) = &mut self.reassembled_export {
                            out.push(frame);
                            return;
                        }
                    }
                    let d = Datagram {
                        header: &whole.header,
                        src,
                        dst,
                        protocol: whole.key.protocol,
                        ttl: whole.header.get(8).copied().unwrap_or(0),
                        payload: &whole.payload,
                        group,
                    };
                    self.deliver(now, dev, &d);
                }
            }
            return;
        }
        let d = Datagram {
            header: packet.header(),
            src,
            dst,
            protocol: packet.protocol().into(),
            ttl: packet.ttl(),
            payload: packet.payload(),
            group,
        };
        self.deliver(now, dev, &d);
    }

    /// Hands a whole datagram to its protocol.
    fn deliver<D: Device>(&mut self, now: Instant, dev: &mut D, d: &Datagram<'_>) {
        match d.protocol {
            PROTO_ICMP => self.receive_icmp(now, dev, d),
            PROTO_UDP => self.receive_udp(now, dev, d),
            // TCP answers closed ports itself, with a RST (RFC 9293
            // 3.10.7.1), never an ICMP error; it is unicast only.
            PROTO_TCP if d.group => self.counters.tcp_not_unicast += 1,
            PROTO_TCP => {
                // What TCP queued earlier goes first, and its send buffers
                // may change now (see `tcp::Tcp::materialize`).
                self.flush_tcp(now, dev);
                self.tcp.receive(now, d.src, d.dst, d.payload);
                self.flush_tcp(now, dev);
            }
            // RFC 1122 3.2.2.1: protocol unreachable for what we do not speak.
            _ => self.send_icmp_error(now, dev, d, icmp::CODE_PROTOCOL_UNREACHABLE),
        }
    }

    pub(super) fn poll_reassembly<D: Device>(&mut self, now: Instant, dev: &mut D) {
        for expired in self.reasm.poll(now) {
            // RFC 792: time exceeded, code 1, only when the first fragment
            // arrived (the reassembler reports only those): its header plus
            // the first 8 bytes of data.
            let mut quoted = expired.header;
            quoted.extend_from_slice(&expired.data);
            self.send_time_exceeded(now, dev, expired.key.src, &quoted);
        }
    }
}

/// Link and IPv4 output: the parts of the stack it needs, borrowed apart
/// from the transports, so TCP can write its queued segments through it
/// straight from its send buffers. Every frame is written once, into a
/// buffer of the device; only datagrams waiting for ARP resolution are
/// built in memory of their own (the ARP cache queues them).
pub(super) struct Output<'a> {
    pub cfg: &'a StackConfig,
    pub arp: &'a mut ArpCache,
    pub ndp: &'a mut NdpCache,
    pub counters: &'a mut StackCounters,
    pub ipv6: &'a mut Ipv6Counters,
    pub icmp6: &'a mut Icmpv6Counters,
    /// Identification of our IPv6 fragments (RFC 8200 4.5).
    pub next_ident6: &'a mut u32,
    /// Identification for datagrams we originate (RFC 791 3.2).
    pub next_ident: &'a mut u16,
    /// A whole transport payload being cut into fragments.
    pub scratch: &'a mut Vec<u8>,
}

impl Output<'_> {
    /// One Ethernet frame to `dst`: the header, then `payload_len` bytes
    /// that `fill` writes. Counted and dropped when the device has no free
    /// buffer or the frame does not fit one.
    pub fn frame<D: Device>(
        &mut self,
        dev: &mut D,
        dst: MacAddr,
        ethertype: EtherType,
        payload_len: usize,
        fill: impl FnOnce(&mut [u8]),
    ) {
        let len = EthernetRepr::HEADER_LEN + payload_len;
        if len > dev.max_frame_len() {
            self.counters.tx_too_big += 1;
            return;
        }
        let Some(token) = dev.transmit() else {
            self.counters.tx_no_buffer += 1;
            return;
        };
        let src = self.cfg.mac;
        token.consume(len, |buf| {
            let mut frame = EthernetFrame::new_unchecked(buf);
            EthernetRepr {
                src,
                dst,
                ethertype,
            }
            .emit(&mut frame);
            fill(frame.payload_mut());
        });
    }

    /// An ARP message to `dst` (RFC 826).
    pub fn arp<D: Device>(&mut self, dev: &mut D, dst: MacAddr, repr: ArpRepr) {
        let len = xdpstack_common::layout::arp::PACKET_LEN;
        self.frame(dev, dst, EtherType::Arp, len, |b| {
            repr.emit(&mut ArpPacket::new_unchecked(b))
        });
    }

    /// A broadcast request for `ip` (RFC 826).
    pub fn arp_request<D: Device>(&mut self, dev: &mut D, ip: Ipv4Addr) {
        let req = ArpRepr {
            operation: ArpOp::Request,
            sender_mac: self.cfg.mac,
            sender_ip: self.cfg.ip,
            target_mac: MacAddr::ZERO,
            target_ip: ip,
        };
        self.arp(dev, MacAddr::BROADCAST, req);
        self.counters.arp_requests_sent += 1;
    }

    /// A whole datagram (built earlier, e.g. queued for ARP) to `mac`.
    pub fn datagram<D: Device>(&mut self, dev: &mut D, mac: MacAddr, datagram: &[u8]) {
        self.frame(dev, mac, EtherType::Ipv4, datagram.len(), |b| {
            b.copy_from_slice(datagram)
        });
    }

    /// A transport's datagram from `src` to `dst` of either version (over
    /// IPv4 the source is always our address). IPv6 without addresses
    /// configured is dropped and counted (`ipv6_not_supported`).
    #[allow(clippy::too_many_arguments)]
    pub fn ip<D: Device>(
        &mut self,
        now: Instant,
        dev: &mut D,
        src: IpAddr,
        dst: IpAddr,
        protocol: IpProtocol,
        len: usize,
        dont_frag: bool,
        fill: impl FnOnce(&mut [u8]),
    ) {
        match (src, dst) {
            (_, IpAddr::V4(v4)) => self.ipv4(now, dev, v4, protocol, len, dont_frag, fill),
            (IpAddr::V6(s), IpAddr::V6(v6)) if self.cfg.is_our_ip6(s) => {
                let nh = crate::wire::NextHeader::from(u8::from(protocol));
                self.ipv6(now, dev, Some(s), v6, nh, len, dont_frag, fill)
            }
            _ => self.counters.ipv6_not_supported += 1,
        }
    }

    /// Sends a payload of `len` bytes that `fill` writes as one or more
    /// datagrams to `dst`, resolving the next hop with ARP and fragmenting
    /// to the MTU (RFC 791 3.2). With `dont_frag` (TCP, which sizes its
    /// segments to the MTU, RFC 1191) a payload that does not fit is
    /// dropped and counted instead.
    #[allow(clippy::too_many_arguments)]
    pub fn ipv4<D: Device>(
        &mut self,
        now: Instant,
        dev: &mut D,
        dst: Ipv4Addr,
        protocol: IpProtocol,
        len: usize,
        dont_frag: bool,
        fill: impl FnOnce(&mut [u8]),
    ) {
        let Some(next_hop) = self.next_hop(dst) else {
            self.counters.ipv4_no_route += 1;
            return;
        };
        let fits = len + MIN_HEADER_LEN <= self.cfg.mtu;
        if dont_frag && !fits {
            self.counters.ipv4_too_big_df += 1;
            return;
        }
        let ident = *self.next_ident;
        *self.next_ident = ident.wrapping_add(1);
        let mut repr = Ipv4Repr {
            src: self.cfg.ip,
            dst,
            protocol,
            payload_len: len,
            ttl: DEFAULT_TTL,
            ident,
            dont_frag,
            more_frags: false,
            frag_offset: 0,
            tos: 0,
        };
        if fits {
            self.counters.ipv4_sent += 1;
            // Resolved: straight into the device's buffer.
            if let Some(mac) = self.arp.resolved(next_hop) {
                self.frame(dev, mac, EtherType::Ipv4, repr.buffer_len(), |b| {
                    let mut p = Ipv4Packet::new_unchecked(b);
                    repr.emit(&mut p);
                    fill(p.payload_mut());
                });
                return;
            }
            let mut datagram = vec![0u8; repr.buffer_len()];
            let mut p = Ipv4Packet::new_unchecked(&mut datagram[..]);
            repr.emit(&mut p);
            fill(p.payload_mut());
            self.resolve_and_send(now, dev, next_hop, datagram);
            return;
        }
        // Fragments: the whole payload first, then each piece; payloads
        // are multiples of 8 bytes except the last.
        let mut whole = std::mem::take(self.scratch);
        whole.clear();
        whole.resize(len, 0);
        fill(&mut whole);
        let max_payload = (self.cfg.mtu.max(68) - MIN_HEADER_LEN) & !7;
        let pieces = len.div_ceil(max_payload);
        for (i, chunk) in whole.chunks(max_payload).enumerate() {
            repr.payload_len = chunk.len();
            repr.more_frags = i + 1 < pieces;
            repr.frag_offset = (i * max_payload) as u16;
            self.counters.ipv4_fragments_sent += 1;
            self.counters.ipv4_sent += 1;
            match self.arp.resolved(next_hop) {
                Some(mac) => self.frame(dev, mac, EtherType::Ipv4, repr.buffer_len(), |b| {
                    let mut p = Ipv4Packet::new_unchecked(b);
                    repr.emit(&mut p);
                    p.payload_mut().copy_from_slice(chunk);
                }),
                None => {
                    let mut datagram = vec![0u8; repr.buffer_len()];
                    let mut p = Ipv4Packet::new_unchecked(&mut datagram[..]);
                    repr.emit(&mut p);
                    p.payload_mut().copy_from_slice(chunk);
                    self.resolve_and_send(now, dev, next_hop, datagram);
                }
            }
        }
        *self.scratch = whole;
    }

    /// A datagram for a next hop ARP has not resolved: queued in the ARP
    /// cache (the one owned copy), with a request when one is due.
    fn resolve_and_send<D: Device>(
        &mut self,
        now: Instant,
        dev: &mut D,
        next_hop: Ipv4Addr,
        datagram: Vec<u8>,
    ) {
        match self.arp.send(now, next_hop, datagram) {
            SendOutcome::Now { mac, packet } => self.datagram(dev, mac, &packet),
            SendOutcome::Queued { request } => {
                if let Some(ip) = request {
                    self.arp_request(dev, ip);
                }
            }
            SendOutcome::Refused(_) => self.counters.ipv4_arp_refused += 1,
        }
    }

    /// On-link destinations go direct; others through the gateway if any.
    fn next_hop(&self, dst: Ipv4Addr) -> Option<Ipv4Addr> {
        if crate::wire::ipv4::same_subnet(dst, self.cfg.ip, self.cfg.prefix) {
            Some(dst)
        } else {
            self.cfg.gateway
        }
    }
}
