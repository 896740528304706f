//! IPv6 input and output (RFC 8200): header checks, the addresses we
//! accept, the extension header walk with RFC 8200 4.2's option actions,
//! fragment reassembly (4.5, RFC 5722, RFC 6946), and output with source
//! selection, next hop, neighbour resolution and fragmentation of our own
//! datagrams.

use std::net::{IpAddr, Ipv6Addr};

use serde::Serialize;

use super::dad::{AddrState, DadAction};
use super::ipv4::Output;
use super::ndp_cache::SendOutcome;
use super::reassembly::{FragKey6, FragOutcome, Fragment};
use super::time::Instant;
use super::{Stack, StackConfig};
use crate::device::Device;
use crate::wire::icmpv6::{mld_record, time_exceeded, MldRecords};
use crate::wire::ipv6::{self as ip6, multicast_mac, solicited_node, ALL_NODES, HEADER_LEN};
use crate::wire::ipv6ext::{self, ExtError, FragmentHeader, FragmentRepr};
use crate::wire::{EtherType, Ipv6Error, Ipv6Packet, Ipv6Repr, MacAddr, NextHeader};

/// Hop limit of what we originate (RFC 8200 3 leaves it to the host;
/// Linux's default).
pub(super) const HOP_LIMIT: u8 = 64;

/// IPv6's own counters (`xdpstack stats`, under `ipv6`).
#[derive(Clone, Debug, Default, Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Ipv6Counters {
    pub rx: u64,
    /// Shorter than the fixed header or than Payload Length says.
    pub rx_truncated: u64,
    pub rx_bad_version: u64,
    /// Multicast, loopback or one of our own addresses as source.
    pub rx_bad_source: u64,
    /// To an address that is not ours nor one of our groups.
    pub rx_not_for_us: u64,
    /// Extension headers truncated, malformed or too many: dropped.
    pub ext_malformed: u64,
    /// Unrecognized options whose action is a silent discard (RFC 8200 4.2).
    pub ext_option_discard: u64,
    /// Dropped with a Parameter Problem (unrecognized next header, option,
    /// routing header with segments left, bad fragment; RFC 4443 3.4).
    pub param_problem: u64,
    /// No Next Header (59): nothing to deliver.
    pub no_next_header: u64,
    pub fragments: u64,
    pub fragments_dropped: u64,
    pub reassembled: u64,
    /// Fragment headers with offset 0 and M clear (RFC 6946): processed whole.
    pub atomic_fragments: u64,
    /// A reassembled packet holding another Fragment header: dropped.
    pub nested_fragments: u64,
    pub sent: u64,
    pub fragments_sent: u64,
    /// Off-link destinations without `--gateway6`.
    pub no_route: u64,
    /// TCP segments too big for the MTU (TCP sizes them; never happens
    /// unless the MTU shrank).
    pub too_big: u64,
    /// Datagrams the neighbour cache could not take (table full).
    pub neigh_refused: u64,
    /// Datagrams dropped because resolution failed (RFC 4861 7.2.2).
    pub neigh_unreachable: u64,
    /// TCP segments to a multicast address: dropped.
    pub tcp_not_unicast: u64,
}

/// A packet that passed the checks, whole (reassembled if it came in
/// fragments).
pub(super) struct Datagram6<'a> {
    /// The packet as received, from the fixed header (quoted in errors).
    pub packet: &'a [u8],
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    pub hop_limit: u8,
    pub protocol: NextHeader,
    /// The upper-layer message.
    pub payload: &'a [u8],
    /// To a multicast address or in a link-layer multicast frame (RFC 4443
    /// 2.4 (e.2), (e.3)).
    pub group: bool,
}

impl StackConfig {
    /// True if `a` is one of our IPv6 unicast addresses.
    pub(super) fn is_our_ip6(&self, a: Ipv6Addr) -> bool {
        self.ip6.iter().any(|(b, _)| *b == a)
    }

    /// Our link-local address (always present when IPv6 is on).
    pub(super) fn link_local6(&self) -> Option<Ipv6Addr> {
        self.ip6
            .iter()
            .map(|(a, _)| *a)
            .find(|a| a.is_unicast_link_local())
    }

    /// True for the groups we listen to: all-nodes and the solicited-node
    /// group of each address (RFC 4291 2.8).
    pub(super) fn is_our_group6(&self, a: Ipv6Addr) -> bool {
        a == ALL_NODES || self.ip6.iter().any(|(b, _)| solicited_node(*b) == a)
    }

    /// The source for a packet to `dst` (RFC 6724 5, its first rules in
    /// short): link-local for link-local or link-scope multicast
    /// destinations, else a global address, one on `dst`'s prefix first.
    pub fn source6_for(&self, dst: Ipv6Addr) -> Option<Ipv6Addr> {
        let link_scope =
            dst.is_unicast_link_local() || (dst.is_multicast() && dst.segments()[0] & 0x000f <= 2);
        if link_scope {
            return self.link_local6();
        }
        let global = || self.ip6.iter().filter(|(a, _)| !a.is_unicast_link_local());
        global()
            .find(|(a, p)| ip6::same_prefix(*a, dst, *p))
            .or_else(|| global().next())
            .map(|(a, _)| *a)
            .or_else(|| self.link_local6())
    }

    /// Where a packet to `dst` goes on the link: `dst` itself when on-link
    /// (link-local, or on one of our prefixes), else `--gateway6`.
    fn next_hop6(&self, dst: Ipv6Addr) -> Option<Ipv6Addr> {
        let on_link = dst.is_unicast_link_local()
            || self
                .ip6
                .iter()
                .any(|(a, p)| !a.is_unicast_link_local() && ip6::same_prefix(*a, dst, *p));
        if on_link {
            Some(dst)
        } else {
            self.gateway6
        }
    }
}

/// The unfragmentable part of a first fragment (`header`: up to and with
/// its Fragment header) made into the header of the whole packet: the
/// Fragment header removed and the Next Header that named it set to the
/// header after it. `None` if the chain does not lead to the Fragment
/// header where it should.
fn unfragmentable(header: &[u8]) -> Option<Vec<u8>> {
    let frag_at = header.len().checked_sub(ipv6ext::field::FRAGMENT_LEN)?;
    let next = *header.get(frag_at)?;
    let mut nh_at = ip6::field::NEXT_HEADER;
    let mut at = HEADER_LEN;
    while at < frag_at {
        nh_at = at;
        at += (usize::from(*header.get(at + 1)?) + 1) * 8;
    }
    if at != frag_at || header.get(nh_at) != Some(&u8::from(NextHeader::Fragment)) {
        return None;
    }
    let mut out = header[..frag_at].to_vec();
    out[nh_at] = next;
    Some(out)
}

impl Stack {
    pub(super) fn receive_ipv6<D: Device>(
        &mut self,
        now: Instant,
        dev: &mut D,
        l2_group: bool,
        payload: &[u8],
    ) {
        if self.cfg.ip6.is_empty() {
            // IPv6 is off: as before, not ours to speak.
            self.counters.rx_unhandled_ethertype += 1;
            return;
        }
        self.ipv6.rx += 1;
        self.receive_ipv6_packet(now, dev, l2_group, payload, false);
    }

    /// One IPv6 packet: as received, or reassembled (`whole`, which may
    /// not hold another Fragment header).
    fn receive_ipv6_packet<D: Device>(
        &mut self,
        now: Instant,
        dev: &mut D,
        l2_group: bool,
        bytes: &[u8],
        whole: bool,
    ) {
        let packet = match Ipv6Packet::new_checked(bytes) {
            Ok(p) => p,
            Err(Ipv6Error::BadVersion) => {
                self.ipv6.rx_bad_version += 1;
                return;
            }
            Err(_) => {
                self.ipv6.rx_truncated += 1;
                return;
            }
        };
        let (src, dst) = (packet.src(), packet.dst());
        // RFC 4291 2.5.3, 2.7: never from a group or loopback; our own
        // address coming back is a loop. The unspecified source is left to
        // ICMPv6 (DAD probes, RFC 4861 7.1.1).
        if src.is_multicast() || src.is_loopback() || self.cfg.is_our_ip6(src) {
            self.ipv6.rx_bad_source += 1;
            return;
        }
        let to_group = dst.is_multicast();
        if !(self.cfg.is_our_ip6(dst) || (to_group && self.cfg.is_our_group6(dst))) {
            self.ipv6.rx_not_for_us += 1;
            return;
        }
        let group = l2_group || to_group;
        let whole_packet = packet.packet();
        let walk = match ipv6ext::walk(&packet) {
            Ok(w) => w,
            Err(ExtError::ParamProblem { code, pointer }) => {
                self.ipv6.param_problem += 1;
                let d = Datagram6 {
                    packet: whole_packet,
                    src,
                    dst,
                    hop_limit: packet.hop_limit(),
                    protocol: NextHeader::NoNext,
                    payload: &[],
                    group,
                };
                self.send_param_problem(now, dev, &d, code, pointer);
                return;
            }
            Err(ExtError::Discard { .. }) => {
                self.ipv6.ext_option_discard += 1;
                return;
            }
            Err(_) => {
                self.ipv6.ext_malformed += 1;
                return;
            }
        };
        if walk.atomic_fragment.is_some() {
            self.ipv6.atomic_fragments += 1;
        }
        if let Some(frag) = walk.fragment {
            if whole {
                self.ipv6.nested_fragments += 1;
                return;
            }
            self.receive_fragment(now, dev, l2_group, whole_packet, frag.at, frag.header);
            return;
        }
        let d = Datagram6 {
            packet: whole_packet,
            src,
            dst,
            hop_limit: packet.hop_limit(),
            protocol: walk.protocol,
            payload: &whole_packet[walk.offset..],
            group,
        };
        if src.is_unspecified() && d.protocol != NextHeader::Icmpv6 {
            self.ipv6.rx_bad_source += 1;
            return;
        }
        match walk.protocol {
            NextHeader::Icmpv6 => self.receive_icmpv6(now, dev, &d),
            NextHeader::Udp => self.receive_udp6(now, dev, &d),
            NextHeader::Tcp if d.group => self.ipv6.tcp_not_unicast += 1,
            NextHeader::Tcp => {
                self.flush_tcp(now, dev);
                self.tcp.receive(now, src, dst, d.payload);
                self.flush_tcp(now, dev);
            }
            NextHeader::NoNext => self.ipv6.no_next_header += 1,
            // RFC 8200 4: an unrecognized Next Header is a Parameter
            // Problem code 1 pointing at the field that named it.
            _ => {
                self.ipv6.param_problem += 1;
                if let Some((code, pointer)) = walk.unrecognized().param_problem() {
                    self.send_param_problem(now, dev, &d, code, pointer);
                }
            }
        }
    }

    /// A fragment (RFC 8200 4.5): into the reassembler; a whole packet is
    /// processed as if it had arrived so.
    fn receive_fragment<D: Device>(
        &mut self,
        now: Instant,
        dev: &mut D,
        l2_group: bool,
        packet: &[u8],
        at: usize,
        header: FragmentRepr,
    ) {
        self.ipv6.fragments += 1;
        let data_at = at + ipv6ext::field::FRAGMENT_LEN;
        let (Some(head), Some(data)) = (packet.get(..data_at), packet.get(data_at..)) else {
            self.ipv6.fragments_dropped += 1;
            return;
        };
        let p = Ipv6Packet::new_unchecked(packet);
        let frag = Fragment {
            key: FragKey6 {
                src: p.src(),
                dst: p.dst(),
                ident: header.ident,
            },
            offset: usize::from(header.offset),
            more: header.more_frags,
            payload: data,
            header: (header.offset == 0).then_some(head),
        };
        match self.reasm6.on_fragment(now, frag) {
            FragOutcome::Pending => {}
            FragOutcome::Dropped(_) => self.ipv6.fragments_dropped += 1,
            FragOutcome::Complete(done) => {
                let Some(mut bytes) = unfragmentable(&done.header) else {
                    self.ipv6.fragments_dropped += 1;
                    return;
                };
                let len = bytes.len() - HEADER_LEN + done.payload.len();
                let Ok(len16) = u16::try_from(len) else {
                    self.ipv6.fragments_dropped += 1;
                    return;
                };
                bytes.extend_from_slice(&done.payload);
                Ipv6Packet::new_unchecked(&mut bytes[..]).set_payload_len(len16);
                self.ipv6.reassembled += 1;
                self.receive_ipv6_packet(now, dev, l2_group, &bytes, true);
            }
        }
    }

    /// Reassembly timeouts: Time Exceeded code 1 to the source when the
    /// first fragment came (RFC 8200 4.5), quoting it.
    pub(super) fn poll_reassembly6<D: Device>(&mut self, now: Instant, dev: &mut D) {
        for expired in self.reasm6.poll(now) {
            let mut quoted = expired.header;
            quoted.extend_from_slice(&expired.data);
            let d = Datagram6 {
                packet: &quoted,
                src: expired.key.src,
                dst: expired.key.dst,
                hop_limit: 0,
                protocol: NextHeader::Fragment,
                payload: &[],
                group: expired.key.dst.is_multicast(),
            };
            self.send_icmpv6_error(
                now,
                dev,
                &d,
                crate::wire::Icmpv6Repr::TimeExceeded {
                    code: time_exceeded::REASSEMBLY,
                    invoking: crate::wire::icmpv6::quote(&quoted),
                },
            );
        }
    }

    /// Neighbour cache timers: solicitations and failures.
    pub(super) fn poll_ndp<D: Device>(&mut self, now: Instant, dev: &mut D) {
        for action in self.ndp.poll(now) {
            self.apply_ndp_action(now, dev, action);
        }
    }

    pub(super) fn apply_ndp_action<D: Device>(
        &mut self,
        now: Instant,
        dev: &mut D,
        action: super::ndp_cache::NdpAction,
    ) {
        use super::ndp_cache::NdpAction;
        match action {
            NdpAction::Solicit { target, unicast } => {
                self.send_solicit(now, dev, target, unicast);
            }
            NdpAction::Flush { mac, packets } => {
                let mut out = self.output();
                for p in packets {
                    out.frame(dev, mac, EtherType::Ipv6, p.len(), |b| {
                        b.copy_from_slice(&p)
                    });
                }
            }
            NdpAction::Unreachable { packets, .. } => {
                self.ipv6.neigh_unreachable += packets.len() as u64;
            }
        }
    }
}

impl Output<'_> {
    /// A DAD probe for `target` (RFC 4862 5.4.2): from ::, to its
    /// solicited-node group, without a link-layer address option.
    pub fn dad_probe<D: Device>(&mut self, dev: &mut D, target: Ipv6Addr) {
        let dst = solicited_node(target);
        let repr = crate::wire::Icmpv6Repr::Ndp(crate::wire::NdpRepr::NeighborSolicit {
            target,
            lladdr: None,
        });
        let src = Ipv6Addr::UNSPECIFIED;
        let ip = Ipv6Repr {
            src,
            dst,
            next_header: NextHeader::Icmpv6,
            payload_len: repr.buffer_len(),
            hop_limit: 255,
            traffic_class: 0,
            flow_label: 0,
        };
        self.icmp6.ns_sent += 1;
        self.frame(
            dev,
            multicast_mac(dst),
            EtherType::Ipv6,
            ip.buffer_len(),
            |b| {
                let mut p = Ipv6Packet::new_unchecked(b);
                ip.emit(&mut p);
                repr.emit(
                    src,
                    dst,
                    &mut crate::wire::Icmpv6Packet::new_unchecked(p.payload_mut()),
                );
            },
        );
    }

    /// An MLDv2 report (RFC 3810 5.2) for every solicited-node group of
    /// ours, records of `record_type`, to ff02::16 with hop limit 1 and a
    /// Router Alert (RFC 3810 5). All-nodes is never reported (RFC 3810 6).
    pub fn mld_report<D: Device>(&mut self, dev: &mut D, src: Ipv6Addr, record_type: u8) {
        let mut groups: Vec<(u8, Ipv6Addr)> = Vec::new();
        for (a, _) in &self.cfg.ip6 {
            let g = solicited_node(*a);
            if !groups.iter().any(|(_, x)| *x == g) {
                groups.push((record_type, g));
            }
        }
        if groups.is_empty() {
            return;
        }
        let mut buf = vec![0u8; groups.len() * 20];
        let Ok(records) = MldRecords::write(&groups, &mut buf) else {
            return;
        };
        let repr = crate::wire::Icmpv6Repr::MldReport { records };
        let dst = ip6::ALL_MLDV2_ROUTERS;
        let hbh = ipv6ext::router_alert_hop_by_hop(u8::from(NextHeader::Icmpv6));
        let ip = Ipv6Repr {
            src,
            dst,
            next_header: NextHeader::HopByHop,
            payload_len: hbh.len() + repr.buffer_len(),
            hop_limit: 1,
            traffic_class: 0,
            flow_label: 0,
        };
        self.icmp6.mld_reports_sent += 1;
        self.frame(
            dev,
            multicast_mac(dst),
            EtherType::Ipv6,
            ip.buffer_len(),
            |b| {
                let mut p = Ipv6Packet::new_unchecked(b);
                ip.emit(&mut p);
                let pl = p.payload_mut();
                pl[..hbh.len()].copy_from_slice(&hbh);
                repr.emit(
                    src,
                    dst,
                    &mut crate::wire::Icmpv6Packet::new_unchecked(&mut pl[hbh.len()..]),
                );
            },
        );
    }

    /// A transport's datagram over IPv6 from `src` (or the selected source)
    /// to `dst`, hop limit 64.
    #[allow(clippy::too_many_arguments)]
    pub fn ipv6<D: Device>(
        &mut self,
        now: Instant,
        dev: &mut D,
        src: Option<Ipv6Addr>,
        dst: Ipv6Addr,
        next_header: NextHeader,
        len: usize,
        dont_frag: bool,
        fill: impl FnOnce(&mut [u8]),
    ) {
        self.ipv6_hop(
            now,
            dev,
            src,
            dst,
            next_header,
            HOP_LIMIT,
            len,
            dont_frag,
            fill,
        )
    }

    /// [`Output::ipv6`] with a hop limit (255 for Neighbor Discovery,
    /// RFC 4861 7.1). Larger than the MTU: fragments with a Fragment header
    /// (RFC 8200 4.5), unless `dont_frag` (TCP), then dropped and counted.
    #[allow(clippy::too_many_arguments)]
    pub fn ipv6_hop<D: Device>(
        &mut self,
        now: Instant,
        dev: &mut D,
        src: Option<Ipv6Addr>,
        dst: Ipv6Addr,
        next_header: NextHeader,
        hop_limit: u8,
        len: usize,
        dont_frag: bool,
        fill: impl FnOnce(&mut [u8]),
    ) {
        let Some(src) = src.or_else(|| self.cfg.source6_for(dst)) else {
            self.counters.ipv6_not_supported += 1;
            return;
        };
        // Groups map straight to a MAC (RFC 2464 7); unicast needs a next hop.
        let next_hop = if dst.is_multicast() {
            None
        } else {
            match self.cfg.next_hop6(dst) {
                Some(h) => Some(h),
                None => {
                    self.ipv6.no_route += 1;
                    return;
                }
            }
        };
        let fits = HEADER_LEN + len <= self.cfg.mtu;
        if !fits && dont_frag {
            self.ipv6.too_big += 1;
            return;
        }
        let mut repr = Ipv6Repr {
            src,
            dst,
            next_header,
            payload_len: len,
            hop_limit,
            traffic_class: 0,
            flow_label: 0,
        };
        if fits {
            self.ipv6.sent += 1;
            let mac = match next_hop {
                None => Some(multicast_mac(dst)),
                Some(h) => self.ndp.resolve(now, h),
            };
            if let Some(mac) = mac {
                self.frame(dev, mac, EtherType::Ipv6, repr.buffer_len(), |b| {
                    let mut p = Ipv6Packet::new_unchecked(b);
                    repr.emit(&mut p);
                    fill(p.payload_mut());
                });
                return;
            }
            let mut packet = vec![0u8; repr.buffer_len()];
            let mut p = Ipv6Packet::new_unchecked(&mut packet[..]);
            repr.emit(&mut p);
            fill(p.payload_mut());
            if let Some(h) = next_hop {
                self.resolve6_and_send(now, dev, h, packet);
            }
            return;
        }
        // Fragments: the whole payload first, then pieces of a multiple of
        // 8 bytes but the last, each behind a Fragment header.
        let mut whole = std::mem::take(self.scratch);
        whole.clear();
        whole.resize(len, 0);
        fill(&mut whole);
        let flen = ipv6ext::field::FRAGMENT_LEN;
        let max = (self.cfg.mtu.max(ip6::MIN_MTU) - HEADER_LEN - flen) & !7;
        // RFC 7739: unpredictable identifications.
        *self.next_ident6 = self.next_ident6.wrapping_add(1);
        let ident = *self.next_ident6;
        let pieces = len.div_ceil(max);
        repr.next_header = NextHeader::Fragment;
        for (i, chunk) in whole.chunks(max).enumerate() {
            repr.payload_len = flen + chunk.len();
            let fh = FragmentRepr {
                next_header,
                offset: (i * max) as u16,
                more_frags: i + 1 < pieces,
                ident,
            };
            self.ipv6.fragments_sent += 1;
            self.ipv6.sent += 1;
            let write = |b: &mut [u8]| {
                let mut p = Ipv6Packet::new_unchecked(b);
                repr.emit(&mut p);
                let pl = p.payload_mut();
                fh.emit(&mut FragmentHeader::new_unchecked(&mut pl[..flen]));
                pl[flen..].copy_from_slice(chunk);
            };
            let mac = match next_hop {
                None => Some(multicast_mac(dst)),
                Some(h) => self.ndp.resolve(now, h),
            };
            match (mac, next_hop) {
                (Some(mac), _) => self.frame(dev, mac, EtherType::Ipv6, repr.buffer_len(), write),
                (None, Some(h)) => {
                    let mut packet = vec![0u8; repr.buffer_len()];
                    write(&mut packet);
                    self.resolve6_and_send(now, dev, h, packet);
                }
                (None, None) => {}
            }
        }
        *self.scratch = whole;
    }

    /// A packet for a neighbour not resolved yet: queued in the cache, with
    /// a multicast solicitation when one is due.
    fn resolve6_and_send<D: Device>(
        &mut self,
        now: Instant,
        dev: &mut D,
        next_hop: Ipv6Addr,
        packet: Vec<u8>,
    ) {
        match self.ndp.send(now, next_hop, packet) {
            SendOutcome::Now { mac, packet } => {
                self.frame(dev, mac, EtherType::Ipv6, packet.len(), |b| {
                    b.copy_from_slice(&packet)
                })
            }
            SendOutcome::Queued { solicit } => {
                if let Some(target) = solicit {
                    self.solicit(now, dev, target, None);
                }
            }
            SendOutcome::Refused => self.ipv6.neigh_refused += 1,
        }
    }

    /// A Neighbor Solicitation for `target` (RFC 4861 7.2.2): to its
    /// solicited-node group, or unicast to `unicast` (NUD probe), from the
    /// address of the right scope, with our link-layer address.
    pub fn solicit<D: Device>(
        &mut self,
        now: Instant,
        dev: &mut D,
        target: Ipv6Addr,
        unicast: Option<MacAddr>,
    ) {
        let Some(src) = self.cfg.source6_for(target) else {
            return;
        };
        let dst = match unicast {
            Some(_) => target,
            None => solicited_node(target),
        };
        let repr = crate::wire::Icmpv6Repr::Ndp(crate::wire::NdpRepr::NeighborSolicit {
            target,
            lladdr: Some(self.cfg.mac),
        });
        let mac = unicast.unwrap_or_else(|| multicast_mac(dst));
        let ip = Ipv6Repr {
            src,
            dst,
            next_header: NextHeader::Icmpv6,
            payload_len: repr.buffer_len(),
            hop_limit: 255,
            traffic_class: 0,
            flow_label: 0,
        };
        self.icmp6.ns_sent += 1;
        let _ = now;
        self.frame(dev, mac, EtherType::Ipv6, ip.buffer_len(), |b| {
            let mut p = Ipv6Packet::new_unchecked(b);
            ip.emit(&mut p);
            repr.emit(
                src,
                dst,
                &mut crate::wire::Icmpv6Packet::new_unchecked(p.payload_mut()),
            );
        });
    }
}

impl Stack {
    /// DAD probes and MLD reports that are due.
    pub(super) fn poll_dad<D: Device>(&mut self, now: Instant, dev: &mut D) {
        for action in self.dad.poll(now) {
            match action {
                DadAction::Probe(target) => self.output().dad_probe(dev, target),
                DadAction::Report { answer_to_query } => {
                    let t = if answer_to_query {
                        mld_record::MODE_IS_EXCLUDE
                    } else {
                        mld_record::CHANGE_TO_EXCLUDE
                    };
                    // RFC 3810 5.2.13: from :: while the link-local address
                    // is still tentative.
                    let src = self
                        .cfg
                        .link_local6()
                        .filter(|a| self.dad.state(*a) != Some(AddrState::Tentative))
                        .unwrap_or(Ipv6Addr::UNSPECIFIED);
                    self.output().mld_report(dev, src, t);
                }
            }
        }
    }

    /// Another node advertises `ip`, one of our addresses: during DAD it
    /// is a duplicate and we stop using it (RFC 4862 5.4.5).
    pub(super) fn on_address_claimed(&mut self, ip: Ipv6Addr, by: Option<MacAddr>) {
        if self.dad.on_claim(ip) {
            log::error!(
                "duplicate address: {ip} is in use by {}; not using it",
                by.map_or_else(|| "another node".to_string(), |m| m.to_string())
            );
            self.cfg.ip6.retain(|(a, _)| *a != ip);
        } else {
            log::warn!("{ip} is advertised by another node too");
        }
    }

    /// A solicitation the neighbour cache asked for.
    pub(super) fn send_solicit<D: Device>(
        &mut self,
        now: Instant,
        dev: &mut D,
        target: Ipv6Addr,
        unicast: Option<MacAddr>,
    ) {
        self.output().solicit(now, dev, target, unicast);
    }

    /// Where a transport's IPv6 datagram comes from: `src` if it is ours,
    /// else the address selected for `dst`.
    pub(super) fn source6(&self, src: Option<IpAddr>, dst: Ipv6Addr) -> Option<Ipv6Addr> {
        match src {
            Some(IpAddr::V6(s)) if self.cfg.is_our_ip6(s) => Some(s),
            _ => self.cfg.source6_for(dst),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unfragmentable_part_drops_the_fragment_header_and_relinks() {
        // Fixed header -> Destination Options (8) -> Fragment -> UDP.
        let mut h = vec![0u8; 40 + 8 + 8];
        h[0] = 0x60;
        h[6] = 60;
        h[40] = 44;
        h[48] = 17;
        let out = unfragmentable(&h).unwrap();
        assert_eq!(out.len(), 48);
        assert_eq!(out[40], 17);
        assert_eq!(out[6], 60);
        // Directly after the fixed header.
        let mut h = vec![0u8; 48];
        h[0] = 0x60;
        h[6] = 44;
        h[40] = 58;
        assert_eq!(unfragmentable(&h).unwrap()[6], 58);
        // A chain that does not end at the Fragment header.
        let mut h = vec![0u8; 56];
        h[6] = 60;
        h[41] = 1; // 16 bytes: runs over the fragment header
        assert_eq!(unfragmentable(&h), None);
        assert_eq!(unfragmentable(&[0u8; 4]), None);
    }
}
