//! ICMP (RFC 792): echo, errors under RFC 1122 3.2.2's rules, and the
//! echo requests of `xdpstack ping`.

use std::net::{IpAddr, Ipv4Addr};

use serde::Serialize;
use xdpstack_common::layout::{icmp, ipv4};

use super::ipv4::Datagram;
use super::time::Instant;
use super::Stack;
use crate::device::Device;
use crate::wire::icmpv4::parse_quoted;
use crate::wire::{Error, Icmpv4Packet, Icmpv4Repr, IpProtocol};

/// Destination unreachable code 4: fragmentation needed and DF set (RFC 792).
const CODE_FRAG_NEEDED: u8 = 4;

/// The most pings waiting for a reply; older ones are forgotten.
const MAX_PINGS: usize = 1024;

/// Identifies one echo request of `xdpstack ping`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PingKey {
    pub dst: IpAddr,
    pub ident: u16,
    pub seq: u16,
}

#[derive(Clone, Debug)]
pub(super) struct PingState {
    pub(super) sent: Instant,
    pub(super) size: usize,
    pub(super) reply: Option<PingReply>,
}

/// What `xdpstack ping` prints for a reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct PingReply {
    pub rtt_us: u64,
    pub ttl: u8,
    /// ICMP bytes, header included, like ping's "64 bytes from".
    pub bytes: usize,
}

impl Stack {
    pub(super) fn receive_icmp<D: Device>(&mut self, now: Instant, dev: &mut D, d: &Datagram<'_>) {
        self.counters.icmp_received += 1;
        let Ok(packet) = Icmpv4Packet::new_checked(d.payload) else {
            self.counters.icmp_malformed += 1;
            return;
        };
        let repr = match Icmpv4Repr::parse(&packet) {
            Ok(r) => r,
            Err(Error::Checksum) => {
                self.counters.icmp_bad_checksum += 1;
                return;
            }
            Err(_) => {
                self.counters.icmp_malformed += 1;
                return;
            }
        };
        match repr {
            Icmpv4Repr::EchoRequest { ident, seq, data } => {
                self.counters.icmp_echo_requests += 1;
                // Like Linux's icmp_echo_ignore_broadcasts=1 (RFC 1122
                // 3.2.2.6 lets a host ignore echo to a broadcast address).
                if d.group {
                    return;
                }
                // RFC 792 / RFC 1122 3.2.2.6: same identifier, sequence and
                // data, from the address the request was sent to.
                let reply = Icmpv4Repr::EchoReply { ident, seq, data };
                self.send_icmp(now, dev, d.src, &reply);
                self.counters.icmp_echo_replies_sent += 1;
            }
            Icmpv4Repr::EchoReply { ident, seq, data } => {
                self.counters.icmp_echo_replies_received += 1;
                let key = PingKey {
                    dst: IpAddr::V4(d.src),
                    ident,
                    seq,
                };
                if ident == self.ping_ident {
                    if let Some(p) = self.pings.get_mut(&key) {
                        if p.reply.is_none() && data.len() == p.size {
                            p.reply = Some(PingReply {
                                rtt_us: now.since(p.sent).as_micros() as u64,
                                ttl: d.ttl,
                                bytes: icmp::HEADER_LEN + data.len(),
                            });
                            self.ping_replied = true;
                        }
                    }
                }
            }
            Icmpv4Repr::DstUnreachable {
                code: CODE_FRAG_NEEDED,
                quoted,
            } => {
                self.counters.icmp_frag_needed_received += 1;
                // RFC 1191 4: the next-hop MTU is the low 16 bits of the
                // header's second word.
                let rest = packet.rest_of_header();
                let mtu = u16::from_be_bytes([rest[2], rest[3]]);
                self.receive_frag_needed(now, dev, quoted, mtu);
            }
            _ => self.counters.icmp_other_received += 1,
        }
    }

    /// "Fragmentation needed and DF set" about a datagram we sent: only TCP
    /// sets DF (UDP and ICMP are fragmented instead), so TCP acts on it.
    fn receive_frag_needed<D: Device>(
        &mut self,
        now: Instant,
        dev: &mut D,
        quoted: &[u8],
        mtu: u16,
    ) {
        let Ok(q) = parse_quoted(quoted) else {
            self.counters.icmp_malformed += 1;
            return;
        };
        if q.src != self.cfg.ip || q.protocol != IpProtocol::Tcp {
            self.tcp.note_pmtu_ignored();
            return;
        }
        let total_len = u16::from_be_bytes([quoted[ipv4::TOTAL_LEN], quoted[ipv4::TOTAL_LEN + 1]]);
        if self
            .tcp
            .on_frag_needed(now, q.dst, q.transport, total_len, mtu)
        {
            self.flush(now, dev);
        }
    }

    /// An ICMP message written straight into the datagram (an echo reply
    /// copies the request's data once, from the received frame).
    fn send_icmp<D: Device>(
        &mut self,
        now: Instant,
        dev: &mut D,
        dst: Ipv4Addr,
        repr: &Icmpv4Repr<'_>,
    ) {
        self.output().ipv4(
            now,
            dev,
            dst,
            IpProtocol::Icmp,
            repr.buffer_len(),
            false,
            |b| repr.emit(&mut Icmpv4Packet::new_unchecked(b)),
        );
    }

    /// Destination unreachable about datagram `d`, unless RFC 1122 3.2.2
    /// forbids it or the rate limit is spent.
    pub(super) fn send_icmp_error<D: Device>(
        &mut self,
        now: Instant,
        dev: &mut D,
        d: &Datagram<'_>,
        code: u8,
    ) {
        // Never about an ICMP error, a broadcast or multicast datagram, or
        // from a source that is not one host (RFC 1122 3.2.2). Non-first
        // fragments never get here: errors are sent about whole datagrams.
        let about_icmp_error = d.protocol == ipv4::PROTO_ICMP
            && d.payload.first().is_some_and(|t| {
                !matches!(
                    *t,
                    icmp::TYPE_ECHO_REQUEST | icmp::TYPE_ECHO_REPLY | 13 | 15 | 17
                )
            });
        if about_icmp_error || d.group {
            self.counters.icmp_errors_forbidden += 1;
            return;
        }
        if !self.icmp_errors.allow(now) {
            self.counters.icmp_errors_rate_limited += 1;
            return;
        }
        // The header as received plus the first 8 bytes of its data.
        let mut quoted = d.header.to_vec();
        quoted.extend_from_slice(&d.payload[..d.payload.len().min(8)]);
        let repr = Icmpv4Repr::DstUnreachable {
            code,
            quoted: &quoted,
        };
        self.send_icmp(now, dev, d.src, &repr);
        self.counters.icmp_errors_sent += 1;
    }

    /// Time exceeded (reassembly) for a datagram whose first fragment came
    /// in; `quoted` is its header plus up to 8 bytes of data.
    pub(super) fn send_time_exceeded<D: Device>(
        &mut self,
        now: Instant,
        dev: &mut D,
        src: Ipv4Addr,
        quoted: &[u8],
    ) {
        if !self.icmp_errors.allow(now) {
            self.counters.icmp_errors_rate_limited += 1;
            return;
        }
        let repr = Icmpv4Repr::TimeExceeded {
            code: icmp::CODE_REASSEMBLY_TIME_EXCEEDED,
            quoted,
        };
        self.send_icmp(now, dev, src, &repr);
        self.counters.icmp_errors_sent += 1;
    }

    /// Starts one echo request of `xdpstack ping`, to an IPv4 or an IPv6
    /// address.
    pub fn ping_start(
        &mut self,
        now: Instant,
        dst: impl Into<IpAddr>,
        seq: u16,
        size: usize,
    ) -> Result<PingKey, String> {
        let dst = match dst.into() {
            IpAddr::V4(v4) => v4,
            IpAddr::V6(v6) => return self.ping6_start(now, v6, seq, size),
        };
        if size > 65_507 {
            return Err(format!(
                "packet size {size} is too large: at most 65507 bytes of data fit"
            ));
        }
        // "This network" (0/8), loopback, multicast, class E and broadcasts
        // are never a host's unicast address (RFC 1122 3.2.1.3); Linux
        // refuses to route to them too, and a directed broadcast needs an
        // explicit opt-in (`ping -b`) that xdpstack does not offer.
        if ipv4::is_martian_source(dst.octets())
            || crate::wire::ipv4::is_broadcast(dst, self.cfg.ip, self.cfg.prefix)
        {
            return Err(format!("{dst} is not a host xdpstack can ping"));
        }
        if dst == self.cfg.ip {
            return Err(format!("{dst} is our own address"));
        }
        let key = PingKey {
            dst: IpAddr::V4(dst),
            ident: self.ping_ident,
            seq,
        };
        self.remember_ping(key, now, size);
        // ping(8)'s pattern: bytes counting up, easy to spot in a capture.
        let data: Vec<u8> = (0..size).map(|i| i as u8).collect();
        let req = Icmpv4Repr::EchoRequest {
            ident: key.ident,
            seq,
            data: &data,
        };
        // No device at hand: it goes out at the next flush.
        self.deferred(|s, q| s.send_icmp(now, q, dst, &req));
        Ok(key)
    }

    /// Records a ping sent, forgetting the oldest past the bound.
    pub(super) fn remember_ping(&mut self, key: PingKey, now: Instant, size: usize) {
        if self.pings.len() >= MAX_PINGS {
            // Forget the oldest: a CLI that went away never collected it.
            if let Some(oldest) = self
                .pings
                .iter()
                .min_by_key(|(_, p)| p.sent)
                .map(|(k, _)| *k)
            {
                self.pings.remove(&oldest);
            }
        }
        self.pings.insert(key, PingState::new(now, size));
    }

    /// The reply to a ping, once it arrived (then forgotten).
    pub fn ping_result(&mut self, key: PingKey) -> Option<PingReply> {
        let reply = self.pings.get(&key)?.reply?;
        self.pings.remove(&key);
        Some(reply)
    }

    pub fn ping_forget(&mut self, key: PingKey) {
        self.pings.remove(&key);
    }

    /// True once since ping replies arrived (wakes waiting CLI requests).
    pub fn take_ping_replied(&mut self) -> bool {
        std::mem::take(&mut self.ping_replied)
    }
}
