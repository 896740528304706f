//! IPv4 input and output (RFC 791, RFC 1122 3.2.1).

use std::net::{IpAddr, Ipv4Addr};

use xdpstack_common::layout::icmp;
use xdpstack_common::layout::ipv4::{
    DEFAULT_TTL, MIN_HEADER_LEN, PROTO_ICMP, PROTO_TCP, PROTO_UDP,
};

use super::arp_cache::SendOutcome;
use super::reassembly::{FragKey, FragOutcome, Fragment};
use super::time::Instant;
use super::{ethernet_frame, Stack};
use crate::wire::ipv4::is_martian_source;
use crate::wire::{EtherType, IpProtocol, Ipv4Error, Ipv4Packet, Ipv4Repr, MacAddr};

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
    pub(super) fn receive_ipv4(&mut self, now: Instant, l2_group: bool, payload: &[u8]) {
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
                    let d = Datagram {
                        header: &whole.header,
                        src,
                        dst,
                        protocol: whole.key.protocol,
                        ttl: whole.header.get(8).copied().unwrap_or(0),
                        payload: &whole.payload,
                        group,
                    };
                    self.deliver(now, &d);
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
        self.deliver(now, &d);
    }

    /// Hands a whole datagram to its protocol.
    fn deliver(&mut self, now: Instant, d: &Datagram<'_>) {
        match d.protocol {
            PROTO_ICMP => self.receive_icmp(now, d),
            PROTO_UDP => self.receive_udp(now, d),
            // TCP answers closed ports itself, with a RST (RFC 9293
            // 3.10.7.1), never an ICMP error; it is unicast only.
            PROTO_TCP if d.group => self.counters.tcp_not_unicast += 1,
            PROTO_TCP => {
                self.tcp.receive(now, d.src, d.dst, d.payload);
                self.flush(now);
            }
            // RFC 1122 3.2.2.1: protocol unreachable for what we do not speak.
            _ => self.send_icmp_error(now, d, icmp::CODE_PROTOCOL_UNREACHABLE),
        }
    }

    pub(super) fn poll_reassembly(&mut self, now: Instant) {
        for expired in self.reasm.poll(now) {
            // RFC 792: time exceeded, code 1, only when the first fragment
            // arrived (the reassembler reports only those): its header plus
            // the first 8 bytes of data.
            let mut quoted = expired.header;
            quoted.extend_from_slice(&expired.data);
            self.send_time_exceeded(now, expired.key.src, &quoted);
        }
    }

    /// A transport's datagram to `dst` of either version: IPv4 goes out,
    /// IPv6 is dropped and counted until the stack speaks it.
    pub(super) fn send_ip(
        &mut self,
        now: Instant,
        dst: IpAddr,
        protocol: IpProtocol,
        payload: &[u8],
        dont_frag: bool,
    ) {
        match dst {
            IpAddr::V4(v4) => self.send_ipv4(now, v4, protocol, payload, dont_frag),
            IpAddr::V6(_) => self.counters.ipv6_not_supported += 1,
        }
    }

    /// Sends `payload` as one or more datagrams to `dst`, resolving the next
    /// hop with ARP and fragmenting to the MTU (RFC 791 3.2). With
    /// `dont_frag` (TCP, which sizes its segments to the MTU, RFC 1191) a
    /// payload that does not fit is dropped and counted instead.
    pub(super) fn send_ipv4(
        &mut self,
        now: Instant,
        dst: Ipv4Addr,
        protocol: IpProtocol,
        payload: &[u8],
        dont_frag: bool,
    ) {
        let Some(next_hop) = self.next_hop(dst) else {
            self.counters.ipv4_no_route += 1;
            return;
        };
        if dont_frag && payload.len() + MIN_HEADER_LEN > self.cfg.mtu {
            self.counters.ipv4_too_big_df += 1;
            return;
        }
        let ident = self.next_ident;
        self.next_ident = self.next_ident.wrapping_add(1);
        // Fragment payloads are multiples of 8 bytes except the last.
        let max_payload = (self.cfg.mtu.max(68) - MIN_HEADER_LEN) & !7;
        let chunks: Vec<&[u8]> = if payload.len() + MIN_HEADER_LEN <= self.cfg.mtu {
            vec![payload]
        } else {
            payload.chunks(max_payload).collect()
        };
        let fragmented = chunks.len() > 1;
        let mut offset = 0usize;
        for (i, chunk) in chunks.iter().enumerate() {
            let repr = Ipv4Repr {
                src: self.cfg.ip,
                dst,
                protocol,
                payload_len: chunk.len(),
                ttl: DEFAULT_TTL,
                ident,
                dont_frag,
                more_frags: i + 1 < chunks.len(),
                frag_offset: offset as u16,
                tos: 0,
            };
            let mut datagram = vec![0u8; repr.buffer_len()];
            let mut p = Ipv4Packet::new_unchecked(&mut datagram[..]);
            repr.emit(&mut p);
            p.payload_mut().copy_from_slice(chunk);
            offset += chunk.len();
            if fragmented {
                self.counters.ipv4_fragments_sent += 1;
            }
            self.counters.ipv4_sent += 1;
            match self.arp.send(now, next_hop, datagram) {
                SendOutcome::Now { mac, packet } => self.send_ipv4_frame(mac, packet),
                SendOutcome::Queued { request } => {
                    if let Some(ip) = request {
                        self.send_arp_request(ip);
                    }
                }
                SendOutcome::Refused(_) => self.counters.ipv4_arp_refused += 1,
            }
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

    pub(super) fn send_ipv4_frame(&mut self, mac: MacAddr, datagram: Vec<u8>) {
        let frame = ethernet_frame(self.cfg.mac, mac, EtherType::Ipv4, datagram.len(), |b| {
            b.copy_from_slice(&datagram)
        });
        self.push_frame(frame);
    }
}
