//! ICMPv6 in userspace (RFC 4443): echo for what the XDP program passed
//! on (reassembled, with extension headers, to a group), errors under RFC
//! 4443 2.4's rules with a rate limit, `xdpstack ping` to IPv6 addresses,
//! and Neighbor Discovery input (RFC 4861 7.1, 7.2): solicitations for our
//! addresses answered, solicitations and adverts fed to the neighbour cache.

use std::net::{IpAddr, Ipv6Addr};

use serde::Serialize;
use xdpstack_common::neigh::{NeighEvent6, NA_FLAGS_MASK};

use super::icmp::{PingKey, PingReply, PingState};
use super::ipv6::Datagram6;
use super::time::Instant;
use super::Stack;
use crate::device::Device;
use crate::wire::icmpv6::{msg_type, parse_invoking, quote, unreachable};
use crate::wire::{Error, Icmpv6Packet, Icmpv6Repr, MacAddr, NdpRepr, NextHeader};

/// ICMPv6 counters (`xdpstack stats`, under `icmpv6`).
#[derive(Clone, Debug, Default, Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Icmpv6Counters {
    pub received: u64,
    pub malformed: u64,
    pub bad_checksum: u64,
    pub echo_requests: u64,
    pub echo_replies_sent: u64,
    pub echo_replies_received: u64,
    /// Error messages received (counted, no action yet).
    pub errors_received: u64,
    pub errors_sent: u64,
    pub errors_rate_limited: u64,
    /// Errors not sent because RFC 4443 2.4 (e) forbids them.
    pub errors_forbidden: u64,
    pub ns_received: u64,
    /// Failing RFC 4861 7.1.1 (hop limit, source rules).
    pub ns_invalid: u64,
    /// For a target that is not ours: ignored.
    pub ns_not_for_us: u64,
    pub na_sent: u64,
    pub na_received: u64,
    /// Failing RFC 4861 7.1.2.
    pub na_invalid: u64,
    /// Another node claims one of our addresses (DAD probe or advert).
    pub dad_conflicts: u64,
    pub ns_sent: u64,
    /// Router Discovery, Redirect, MLD and unknown informational messages.
    pub other_received: u64,
    /// Neighbour events from the XDP program (NS/NA it saw).
    pub neigh_events: u64,
    pub mld_reports_sent: u64,
    /// Packet Too Big received; those about our TCP segments lower the
    /// connection's segment size (see tcp's pmtu_reductions, pmtu_ignored).
    pub packet_too_big_received: u64,
    /// Multicast Listener Queries failing RFC 3810 5.1.14 (hop limit 1,
    /// link-local source).
    pub mld_queries_invalid: u64,
}

impl Stack {
    pub(super) fn receive_icmpv6<D: Device>(
        &mut self,
        now: Instant,
        dev: &mut D,
        d: &Datagram6<'_>,
    ) {
        self.icmp6.received += 1;
        let Ok(packet) = Icmpv6Packet::new_checked(d.payload) else {
            self.icmp6.malformed += 1;
            return;
        };
        let repr = match Icmpv6Repr::parse(d.src, d.dst, &packet) {
            Ok(r) => r,
            Err(Error::Checksum) => {
                self.icmp6.bad_checksum += 1;
                return;
            }
            Err(_) => {
                // NDP failing 7.1.1/7.1.2 length or option checks lands here.
                match packet.msg_type() {
                    msg_type::NEIGHBOR_SOLICIT => self.icmp6.ns_invalid += 1,
                    msg_type::NEIGHBOR_ADVERT => self.icmp6.na_invalid += 1,
                    _ => self.icmp6.malformed += 1,
                }
                return;
            }
        };
        // Only Neighbor Discovery may come from the unspecified address.
        if d.src.is_unspecified() && !matches!(repr, Icmpv6Repr::Ndp(_)) {
            self.icmp6.malformed += 1;
            return;
        }
        match repr {
            Icmpv6Repr::EchoRequest { ident, seq, data } => {
                self.icmp6.echo_requests += 1;
                // RFC 4443 4.1: same identifier, sequence and data; a request
                // to a group is answered from one of our unicast addresses.
                let reply = Icmpv6Repr::EchoReply { ident, seq, data };
                let src = if d.group { None } else { Some(d.dst) };
                self.send_icmpv6(now, dev, src, d.src, &reply);
                self.icmp6.echo_replies_sent += 1;
            }
            Icmpv6Repr::EchoReply { ident, seq, data } => {
                self.icmp6.echo_replies_received += 1;
                let key = PingKey {
                    dst: IpAddr::V6(d.src),
                    ident,
                    seq,
                };
                if ident == self.ping_ident {
                    if let Some(p) = self.pings.get_mut(&key) {
                        if p.reply.is_none() && data.len() == p.size {
                            p.reply = Some(PingReply {
                                rtt_us: now.since(p.sent).as_micros() as u64,
                                ttl: d.hop_limit,
                                bytes: 8 + data.len(),
                            });
                            self.ping_replied = true;
                        }
                    }
                }
            }
            Icmpv6Repr::Ndp(ndp) => {
                if ndp.check_ip_header(d.src, d.dst, d.hop_limit).is_err() {
                    match ndp {
                        NdpRepr::NeighborSolicit { .. } => self.icmp6.ns_invalid += 1,
                        NdpRepr::NeighborAdvert { .. } => self.icmp6.na_invalid += 1,
                        _ => self.icmp6.other_received += 1,
                    }
                    return;
                }
                match ndp {
                    NdpRepr::NeighborSolicit { target, lladdr } => {
                        self.receive_ns(now, dev, d, target, lladdr)
                    }
                    // RFC 4861 4.4: an advert comes from an address of
                    // its sender.
                    NdpRepr::NeighborAdvert { .. } if d.src.is_unspecified() => {
                        self.icmp6.na_invalid += 1
                    }
                    NdpRepr::NeighborAdvert {
                        router,
                        solicited,
                        override_,
                        target,
                        lladdr,
                    } => {
                        self.icmp6.na_received += 1;
                        self.receive_na(now, dev, target, lladdr, solicited, override_, router);
                    }
                    _ => self.icmp6.other_received += 1,
                }
            }
            Icmpv6Repr::Other {
                msg_type: msg_type::MLD_QUERY,
                rest_of_header,
                ..
            } => {
                // RFC 3810 5.1.14: from a link-local source, hop limit 1.
                if d.hop_limit != 1 || !d.src.is_unicast_link_local() {
                    self.icmp6.mld_queries_invalid += 1;
                    return;
                }
                // Maximum Response Code in ms; the exponential form (>=
                // 32768, RFC 3810 5.1.3) means longer than we wait anyway.
                let code = u16::from_be_bytes([rest_of_header[0], rest_of_header[1]]);
                let max = std::time::Duration::from_millis(u64::from(code.min(10_000)));
                let jitter = f64::from(self.rng.u16()) / 65536.0;
                self.dad.on_query(now, max, jitter);
            }
            Icmpv6Repr::PacketTooBig { mtu, invoking } => {
                self.icmp6.errors_received += 1;
                self.icmp6.packet_too_big_received += 1;
                self.receive_packet_too_big(now, dev, mtu, invoking);
            }
            r if r.is_error() => self.icmp6.errors_received += 1,
            _ => self.icmp6.other_received += 1,
        }
    }

    /// RFC 4861 7.2.3: a valid solicitation for one of our addresses is
    /// answered with a solicited advert (to ff02::1 for a DAD probe, 7.2.4)
    /// and teaches us the sender's link-layer address.
    fn receive_ns<D: Device>(
        &mut self,
        now: Instant,
        dev: &mut D,
        d: &Datagram6<'_>,
        target: Ipv6Addr,
        lladdr: Option<MacAddr>,
    ) {
        self.icmp6.ns_received += 1;
        if !self.cfg.is_our_ip6(target) {
            self.icmp6.ns_not_for_us += 1;
            return;
        }
        let dad = d.src.is_unspecified();
        if dad {
            // Someone else is about to use our address; we keep it and
            // answer so its DAD fails (RFC 4862 5.4.3).
            self.icmp6.dad_conflicts += 1;
            log::warn!("duplicate address detection probe for our address {target}");
        } else if let Some(mac) = lladdr {
            if let Some(a) = self.ndp.on_solicit(now, d.src, mac) {
                self.apply_ndp_action(now, dev, a);
            }
        }
        let na = Icmpv6Repr::Ndp(NdpRepr::NeighborAdvert {
            router: false,
            solicited: !dad,
            override_: true,
            target,
            lladdr: Some(self.cfg.mac),
        });
        let dst = if dad {
            crate::wire::ipv6::ALL_NODES
        } else {
            d.src
        };
        let len = na.buffer_len();
        let mut out = self.output();
        out.ipv6_hop(
            now,
            dev,
            Some(target),
            dst,
            NextHeader::Icmpv6,
            255,
            len,
            false,
            |b| na.emit(target, dst, &mut Icmpv6Packet::new_unchecked(b)),
        );
        self.icmp6.na_sent += 1;
    }

    #[allow(clippy::too_many_arguments)]
    fn receive_na<D: Device>(
        &mut self,
        now: Instant,
        dev: &mut D,
        target: Ipv6Addr,
        lladdr: Option<MacAddr>,
        solicited: bool,
        override_: bool,
        router: bool,
    ) {
        if self.cfg.is_our_ip6(target) {
            // We never hear our own adverts: another node claims it.
            if lladdr != Some(self.cfg.mac) {
                self.icmp6.dad_conflicts += 1;
                self.on_address_claimed(target, lladdr);
            }
            return;
        }
        if let Some(a) = self
            .ndp
            .on_advert(now, target, lladdr, solicited, override_, router)
        {
            self.apply_ndp_action(now, dev, a);
        }
    }

    /// Packet Too Big about a packet we sent (RFC 8201 4): TCP lowers its
    /// segment size; checked against the quoted addresses and connection
    /// (RFC 5927 5.1). UDP and ICMPv6 keep no path MTU.
    fn receive_packet_too_big<D: Device>(
        &mut self,
        now: Instant,
        dev: &mut D,
        mtu: u32,
        invoking: &[u8],
    ) {
        let Ok(q) = parse_invoking(invoking) else {
            self.icmp6.malformed += 1;
            return;
        };
        if !self.cfg.is_our_ip6(q.src) || q.protocol != NextHeader::Tcp {
            self.tcp.note_pmtu_ignored();
            return;
        }
        if self.tcp.on_packet_too_big(now, q.dst, q.transport, mtu) {
            self.flush(now, dev);
        }
    }

    /// A Neighbor Discovery message the XDP program saw (and maybe
    /// answered): its binding goes to the neighbour cache.
    pub fn on_neigh_event6(&mut self, now: Instant, ev: &NeighEvent6) {
        if self.cfg.ip6.is_empty() {
            return;
        }
        self.icmp6.neigh_events += 1;
        let ip = Ipv6Addr::from(ev.ip);
        let mac = MacAddr(ev.mac);
        self.deferred(|s, q| {
            let action = match ev.icmp_type {
                msg_type::NEIGHBOR_SOLICIT => s.ndp.on_solicit(now, ip, mac),
                msg_type::NEIGHBOR_ADVERT if s.cfg.is_our_ip6(ip) => {
                    if mac != s.cfg.mac {
                        s.icmp6.dad_conflicts += 1;
                        s.on_address_claimed(ip, Some(mac));
                    }
                    None
                }
                msg_type::NEIGHBOR_ADVERT => {
                    let f = ev.flags & NA_FLAGS_MASK;
                    s.ndp.on_advert(
                        now,
                        ip,
                        Some(mac),
                        f & 0x40 != 0,
                        f & 0x20 != 0,
                        f & 0x80 != 0,
                    )
                }
                _ => None,
            };
            if let Some(a) = action {
                s.apply_ndp_action(now, q, a);
            }
        });
    }

    /// An ICMPv6 message from `src` (or the selected source) to `dst`.
    fn send_icmpv6<D: Device>(
        &mut self,
        now: Instant,
        dev: &mut D,
        src: Option<Ipv6Addr>,
        dst: Ipv6Addr,
        repr: &Icmpv6Repr<'_>,
    ) {
        let Some(src) = src.or_else(|| self.cfg.source6_for(dst)) else {
            return;
        };
        self.output().ipv6(
            now,
            dev,
            Some(src),
            dst,
            NextHeader::Icmpv6,
            repr.buffer_len(),
            false,
            |b| repr.emit(src, dst, &mut Icmpv6Packet::new_unchecked(b)),
        );
    }

    /// Parameter Problem about `d` (RFC 4443 3.4).
    pub(super) fn send_param_problem<D: Device>(
        &mut self,
        now: Instant,
        dev: &mut D,
        d: &Datagram6<'_>,
        code: u8,
        pointer: u32,
    ) {
        let repr = Icmpv6Repr::ParamProblem {
            code,
            pointer,
            invoking: quote(d.packet),
        };
        self.send_icmpv6_error(now, dev, d, repr);
    }

    /// Destination unreachable, port (RFC 4443 3.1), for UDP to a closed port.
    pub(super) fn send_port_unreachable6<D: Device>(
        &mut self,
        now: Instant,
        dev: &mut D,
        d: &Datagram6<'_>,
    ) {
        let repr = Icmpv6Repr::DstUnreachable {
            code: unreachable::PORT,
            invoking: quote(d.packet),
        };
        self.send_icmpv6_error(now, dev, d, repr);
    }

    /// An error about `d`, unless RFC 4443 2.4 (e) forbids it or the rate
    /// limit (2.4 (f)) is spent.
    pub(super) fn send_icmpv6_error<D: Device>(
        &mut self,
        now: Instant,
        dev: &mut D,
        d: &Datagram6<'_>,
        repr: Icmpv6Repr<'_>,
    ) {
        // (e.1): never about an error or a Redirect.
        let about_error = d.protocol == NextHeader::Icmpv6
            && d.payload
                .first()
                .is_some_and(|&t| msg_type::is_error(t) || t == msg_type::REDIRECT);
        // (e.2), (e.3): to a group only Packet Too Big and Parameter
        // Problem code 2 (an option whose action bits say report anyway;
        // the walk already applied the bits).
        let group_allowed = matches!(
            repr,
            Icmpv6Repr::PacketTooBig { .. } | Icmpv6Repr::ParamProblem { code: 2, .. }
        );
        // (e.4)-(e.6): not to a source that is not one host.
        let bad_source = d.src.is_unspecified() || d.src.is_multicast();
        if about_error || (d.group && !group_allowed) || bad_source {
            self.icmp6.errors_forbidden += 1;
            return;
        }
        if !self.icmp6_errors.allow(now) {
            self.icmp6.errors_rate_limited += 1;
            return;
        }
        // From the address the packet was sent to if it is ours.
        let src = if self.cfg.is_our_ip6(d.dst) {
            Some(d.dst)
        } else {
            None
        };
        self.send_icmpv6(now, dev, src, d.src, &repr);
        self.icmp6.errors_sent += 1;
    }

    /// One echo request of `xdpstack ping` to an IPv6 address.
    pub(super) fn ping6_start(
        &mut self,
        now: Instant,
        dst: Ipv6Addr,
        seq: u16,
        size: usize,
    ) -> Result<PingKey, String> {
        if self.cfg.ip6.is_empty() {
            return Err("IPv6 is off: start xdpstack with --ip6".into());
        }
        // 65535 - 8 (ICMPv6 header): the Payload Length bound.
        if size > 65_527 {
            return Err(format!(
                "packet size {size} is too large: at most 65527 bytes of data fit"
            ));
        }
        if dst.is_unspecified() || dst.is_loopback() || dst.is_multicast() {
            return Err(format!("{dst} is not a host xdpstack can ping"));
        }
        if self.cfg.is_our_ip6(dst) {
            return Err(format!("{dst} is our own address"));
        }
        let key = PingKey {
            dst: IpAddr::V6(dst),
            ident: self.ping_ident,
            seq,
        };
        self.remember_ping(key, now, size);
        let data: Vec<u8> = (0..size).map(|i| i as u8).collect();
        let req = Icmpv6Repr::EchoRequest {
            ident: key.ident,
            seq,
            data: &data,
        };
        self.deferred(|s, q| s.send_icmpv6(now, q, None, dst, &req));
        Ok(key)
    }
}

impl PingState {
    pub(super) fn new(sent: Instant, size: usize) -> PingState {
        PingState {
            sent,
            size,
            reply: None,
        }
    }
}
