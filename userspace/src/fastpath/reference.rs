//! A plain userspace model of the fast path's decision, for the
//! differential test (`tests/root_xdp_differential.rs`): the same frame goes
//! to the live XDP program (BPF_PROG_TEST_RUN) and to [`decide`], and the two
//! must agree on the verdict, the counter, the neighbour event and every
//! byte of the reply.
//!
//! [`decide`] is the decision on one frame alone; [`NeighFilter`] adds the
//! one piece of history the program keeps, which ARP sender bindings it
//! already published (so a repeat is suppressed).
//!
//! It is written from the RFCs and the documented policy (README, "What the
//! XDP program decides"), over slices with `common::layout` offsets, and
//! computes checksums from scratch (RFC 1071) the way Linux builds its echo
//! replies, where the program updates them incrementally (RFC 1624). It
//! shares no code with `xdp-ebpf/`.

use std::collections::HashMap;

use xdpstack_common::checksum;
use xdpstack_common::config::{FastpathConfig, FLAG_CAPTURE_ALL, FLAG_FASTPATH, FLAG_NEIGH_EVENTS};
use xdpstack_common::counters::Counter;
use xdpstack_common::layout::{arp, eth, icmp, icmpv6, ipv4, ipv6};
use xdpstack_common::neigh::{NeighEvent, NeighEvent6, EVENT_ANSWERED, NA_FLAGS_MASK};

/// The fast path verifies the ICMP checksum of messages shorter than this
/// in-kernel (five 256-byte blocks plus a tail below 256 bytes); longer ones
/// (jumbo frames) go to userspace.
pub const MAX_ICMP_LEN: usize = 6 * 256 - 1;

/// What happens to a frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Answered in place: these bytes go back out of the interface.
    Tx(Vec<u8>),
    /// Left to the kernel's own stack, unchanged.
    Pass,
    /// Handed to the AF_XDP socket of its queue (passed unchanged when the
    /// queue has none).
    ToUserspace,
}

/// The decision on one frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub action: Action,
    /// The counter that says why (for `Tx`, the "replied" counter).
    pub reason: Counter,
    /// The ARP sender binding published to userspace, if any.
    pub neigh: Option<NeighEvent>,
    /// The NDP link-layer binding published to userspace, if any.
    pub neigh6: Option<NeighEvent6>,
    /// A binding not published because it repeats one published within the
    /// refresh interval (only [`NeighFilter::decide`] sets it).
    pub neigh_suppressed: bool,
}

impl Decision {
    fn pass(reason: Counter) -> Decision {
        Decision {
            action: Action::Pass,
            reason,
            neigh: None,
            neigh6: None,
            neigh_suppressed: false,
        }
    }

    fn to_userspace(reason: Counter) -> Decision {
        Decision {
            action: Action::ToUserspace,
            reason,
            neigh: None,
            neigh6: None,
            neigh_suppressed: false,
        }
    }
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn ip4(b: &[u8], at: usize) -> [u8; 4] {
    [b[at], b[at + 1], b[at + 2], b[at + 3]]
}

fn mac(b: &[u8], at: usize) -> [u8; 6] {
    [b[at], b[at + 1], b[at + 2], b[at + 3], b[at + 4], b[at + 5]]
}

/// The fast path's decision for `frame` under `cfg`.
pub fn decide(cfg: &FastpathConfig, frame: &[u8]) -> Decision {
    if !cfg.is_configured() {
        return Decision::pass(Counter::PassedUnconfigured);
    }
    if cfg.has(FLAG_CAPTURE_ALL) {
        return Decision::to_userspace(Counter::CapturedAll);
    }
    if frame.len() < eth::HEADER_LEN {
        return Decision::pass(Counter::PassedMalformed);
    }
    match be16(frame, eth::ETHERTYPE) {
        eth::ETHERTYPE_ARP => decide_arp(cfg, frame),
        eth::ETHERTYPE_IPV4 => decide_ipv4(cfg, frame),
        eth::ETHERTYPE_IPV6 => decide_ipv6(cfg, frame),
        // VLAN-tagged frames, anything else: the kernel's business.
        _ => Decision::pass(Counter::PassedNotOurs),
    }
}

/// What was last published about one sender.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Published {
    mac: [u8; 6],
    flags: u8,
    at_ns: u64,
}

/// The fast path's memory of the ARP sender bindings it published: an event
/// is worth publishing when the sender is new, its MAC changed, it carries a
/// flag the last one lacked (an answered request lets userspace create an
/// entry, RFC 826), or the last one is `neigh_refresh_ns` old. A claim on
/// our own address is always published. Unbounded here; the program's map
/// is an LRU, so the two agree while fewer senders than it holds are seen.
#[derive(Clone, Debug, Default)]
pub struct NeighFilter {
    published: HashMap<[u8; 4], Published>,
    published6: HashMap<[u8; 16], Published>,
}

impl NeighFilter {
    /// [`decide`], then the publish rule at time `now_ns`.
    pub fn decide(&mut self, cfg: &FastpathConfig, frame: &[u8], now_ns: u64) -> Decision {
        let mut d = decide(cfg, frame);
        if let Some(ev) = d.neigh {
            if !self.publish(cfg, &ev, now_ns) {
                d.neigh = None;
                d.neigh_suppressed = true;
            }
        }
        if let Some(ev) = d.neigh6 {
            if !self.publish6(cfg, &ev, now_ns) {
                d.neigh6 = None;
                d.neigh_suppressed = true;
            }
        }
        d
    }

    /// [`NeighFilter::publish`] for NDP bindings, keyed by IPv6 address;
    /// a binding of one of our own addresses (a duplicate) always goes out.
    pub fn publish6(&mut self, cfg: &FastpathConfig, ev: &NeighEvent6, now_ns: u64) -> bool {
        if !cfg.is_our_ip6(&ev.ip) {
            if let Some(p) = self.published6.get(&ev.ip) {
                let covered = ev.flags & !p.flags == 0;
                let fresh = now_ns.saturating_sub(p.at_ns) < cfg.neigh_refresh_ns;
                if p.mac == ev.mac && covered && fresh {
                    return false;
                }
            }
        }
        self.published6.insert(
            ev.ip,
            Published {
                mac: ev.mac,
                flags: ev.flags,
                at_ns: now_ns,
            },
        );
        true
    }

    /// Whether `ev` is published at `now_ns`; remembers it when it is.
    pub fn publish(&mut self, cfg: &FastpathConfig, ev: &NeighEvent, now_ns: u64) -> bool {
        if ev.sender_ip != cfg.ip {
            if let Some(p) = self.published.get(&ev.sender_ip) {
                let covered = ev.flags & !p.flags == 0;
                let fresh = now_ns.saturating_sub(p.at_ns) < cfg.neigh_refresh_ns;
                if p.mac == ev.sender_mac && covered && fresh {
                    return false;
                }
            }
        }
        self.published.insert(
            ev.sender_ip,
            Published {
                mac: ev.sender_mac,
                flags: ev.flags,
                at_ns: now_ns,
            },
        );
        true
    }
}

/// RFC 826: answer a request for our address by swapping the fields.
fn decide_arp(cfg: &FastpathConfig, frame: &[u8]) -> Decision {
    const A: usize = eth::HEADER_LEN;
    if frame.len() < A + arp::PACKET_LEN {
        return Decision::pass(Counter::PassedMalformed);
    }
    let p = &frame[A..];
    // Ethernet hardware and IPv4 protocol addresses only (as Linux's arp_rcv).
    if be16(p, arp::HTYPE) != arp::HTYPE_ETHERNET
        || be16(p, arp::PTYPE) != arp::PTYPE_IPV4
        || p[arp::HLEN] != 6
        || p[arp::PLEN] != 4
    {
        return Decision::pass(Counter::PassedMalformed);
    }
    let op = be16(p, arp::OPER);
    let sha = mac(p, arp::SHA);
    let spa = ip4(p, arp::SPA);
    let tpa = ip4(p, arp::TPA);
    // A probe's sender 0.0.0.0 binds nothing (RFC 5227 2.1.1).
    let learnable = cfg.has(FLAG_NEIGH_EVENTS) && spa != [0; 4];
    let event = |flags: u8| NeighEvent {
        sender_ip: spa,
        target_ip: tpa,
        sender_mac: sha,
        op,
        flags,
        _pad: [0; 3],
    };
    if tpa != cfg.ip {
        return Decision {
            action: Action::Pass,
            reason: Counter::PassedNotOurs,
            neigh: learnable.then(|| event(0)),
            neigh6: None,
            neigh_suppressed: false,
        };
    }
    if !cfg.has(FLAG_FASTPATH) {
        return Decision::to_userspace(Counter::SlowFastpathOff);
    }
    let dst = mac(frame, eth::DST);
    let answerable = op == arp::OP_REQUEST
        && (dst == eth::BROADCAST || dst == cfg.mac)
        && !eth::is_multicast(&sha)
        && sha != [0; 6]
        && spa != cfg.ip
        && (spa == [0; 4] || !ipv4::is_martian_source(spa));
    if !answerable {
        return Decision::to_userspace(Counter::SlowArp);
    }
    let mut out = frame.to_vec();
    out[eth::DST..eth::DST + 6].copy_from_slice(&sha);
    out[eth::SRC..eth::SRC + 6].copy_from_slice(&cfg.mac);
    let r = &mut out[A..];
    r[arp::OPER..arp::OPER + 2].copy_from_slice(&arp::OP_REPLY.to_be_bytes());
    r[arp::THA..arp::THA + 6].copy_from_slice(&sha);
    r[arp::TPA..arp::TPA + 4].copy_from_slice(&spa);
    r[arp::SHA..arp::SHA + 6].copy_from_slice(&cfg.mac);
    r[arp::SPA..arp::SPA + 4].copy_from_slice(&cfg.ip);
    Decision {
        action: Action::Tx(out),
        reason: Counter::ArpReplied,
        neigh: learnable.then(|| event(EVENT_ANSWERED)),
        neigh6: None,
        neigh_suppressed: false,
    }
}

/// RFC 792 echo, with the RFC 791 / RFC 1122 3.2.1 checks a host makes
/// before answering.
fn decide_ipv4(cfg: &FastpathConfig, frame: &[u8]) -> Decision {
    const IP: usize = eth::HEADER_LEN;
    const ICMP: usize = IP + ipv4::MIN_HEADER_LEN;
    if frame.len() < IP + ipv4::MIN_HEADER_LEN {
        return Decision::pass(Counter::PassedMalformed);
    }
    let h = &frame[IP..];
    if ip4(h, ipv4::DST) != cfg.ip {
        return Decision::pass(Counter::PassedNotOurs);
    }
    let eth_dst = mac(frame, eth::DST);
    if eth_dst != cfg.mac {
        if eth::is_multicast(&eth_dst) {
            return Decision::to_userspace(Counter::SlowL2NotUnicast);
        }
        return Decision::pass(Counter::PassedNotOurs);
    }
    if h[ipv4::PROTOCOL] != ipv4::PROTO_ICMP {
        return Decision::to_userspace(Counter::SlowIpNotEcho);
    }
    if !cfg.has(FLAG_FASTPATH) {
        return Decision::to_userspace(Counter::SlowFastpathOff);
    }
    let version = h[ipv4::VER_IHL] >> 4;
    let ihl = h[ipv4::VER_IHL] & 0x0f;
    if version != 4 || ihl < 5 {
        return Decision::to_userspace(Counter::SlowBadHeader);
    }
    let frag = be16(h, ipv4::FLAGS_FRAG);
    if ihl != 5 || frag & (ipv4::FLAG_MF | ipv4::FRAG_OFFSET_MASK) != 0 {
        return Decision::to_userspace(Counter::SlowIpOptionsOrFragment);
    }
    let total = usize::from(be16(h, ipv4::TOTAL_LEN));
    if total < ipv4::MIN_HEADER_LEN + icmp::HEADER_LEN || IP + total > frame.len() {
        return Decision::to_userspace(Counter::SlowBadHeader);
    }
    if !checksum::verify(&h[..ipv4::MIN_HEADER_LEN]) {
        return Decision::to_userspace(Counter::SlowBadChecksum);
    }
    let src = ip4(h, ipv4::SRC);
    if ipv4::is_martian_source(src) || src == cfg.ip {
        return Decision::to_userspace(Counter::SlowMartian);
    }
    let msg = &frame[ICMP..IP + total];
    if msg[icmp::TYPE] != icmp::TYPE_ECHO_REQUEST || msg[icmp::CODE] != 0 {
        return Decision::to_userspace(Counter::SlowIpNotEcho);
    }
    if msg.len() > MAX_ICMP_LEN {
        return Decision::to_userspace(Counter::SlowTooLong);
    }
    if !checksum::verify(msg) {
        return Decision::to_userspace(Counter::SlowBadChecksum);
    }

    // The reply: addresses swapped, TTL reset, type 0, both checksums
    // computed afresh. Bytes past the datagram (Ethernet padding) stay.
    let mut out = frame.to_vec();
    let eth_src = mac(frame, eth::SRC);
    out[eth::DST..eth::DST + 6].copy_from_slice(&eth_src);
    out[eth::SRC..eth::SRC + 6].copy_from_slice(&cfg.mac);
    {
        let h = &mut out[IP..IP + ipv4::MIN_HEADER_LEN];
        h[ipv4::DST..ipv4::DST + 4].copy_from_slice(&src);
        h[ipv4::SRC..ipv4::SRC + 4].copy_from_slice(&cfg.ip);
        h[ipv4::TTL] = ipv4::DEFAULT_TTL;
        h[ipv4::CHECKSUM..ipv4::CHECKSUM + 2].copy_from_slice(&[0, 0]);
        let c = checksum::checksum(h);
        h[ipv4::CHECKSUM..ipv4::CHECKSUM + 2].copy_from_slice(&c.to_be_bytes());
    }
    {
        let m = &mut out[ICMP..IP + total];
        m[icmp::TYPE] = icmp::TYPE_ECHO_REPLY;
        m[icmp::CHECKSUM..icmp::CHECKSUM + 2].copy_from_slice(&[0, 0]);
        let c = checksum::checksum(m);
        // A reply summing to zero (checksum 0x0000 or 0xffff from scratch)
        // is where an incremental update (RFC 1624 3) may pick the wrong
        // zero; the fast path leaves those to the userspace stack.
        if c == 0 || c == 0xffff {
            return Decision::to_userspace(Counter::SlowZeroSum);
        }
        m[icmp::CHECKSUM..icmp::CHECKSUM + 2].copy_from_slice(&c.to_be_bytes());
    }
    Decision {
        action: Action::Tx(out),
        reason: Counter::IcmpEchoReplied,
        neigh: None,
        neigh6: None,
        neigh_suppressed: false,
    }
}

fn ip6(b: &[u8], at: usize) -> [u8; 16] {
    let mut a = [0u8; 16];
    a.copy_from_slice(&b[at..at + 16]);
    a
}

/// The ICMPv6 checksum of `msg` (its checksum field included) with the
/// pseudo-header of RFC 8200 8.1, folded: 0xffff when valid.
fn icmpv6_sum(src: &[u8; 16], dst: &[u8; 16], msg: &[u8]) -> u16 {
    let mut acc = checksum::sum_be(0, src);
    acc = checksum::sum_be(acc, dst);
    acc = checksum::sum_be(acc, &(msg.len() as u32).to_be_bytes());
    acc = checksum::sum_be(acc, &[0, 0, 0, ipv6::NEXT_HEADER_ICMPV6]);
    checksum::fold(checksum::sum_be(acc, msg))
}

/// What an ND message's options say (RFC 4861 4.6, 7.1.1): the fast path
/// walks at most four of them.
enum NdOptions {
    Valid(Option<[u8; 6]>),
    Invalid,
    TooMany,
}

fn nd_options(msg: &[u8], want: u8) -> NdOptions {
    let mut off = icmpv6::ND_MIN_LEN;
    let mut lladdr = None;
    for _ in 0..4 {
        if off >= msg.len() {
            return NdOptions::Valid(lladdr);
        }
        if off + 2 > msg.len() {
            return NdOptions::Invalid;
        }
        let (ty, units) = (msg[off], msg[off + 1]);
        let len = usize::from(units) * 8;
        if len == 0 || off + len > msg.len() {
            return NdOptions::Invalid;
        }
        // Linux drops a link-layer option not of the device's length.
        if ty == want {
            if units != 1 {
                return NdOptions::Invalid;
            }
            lladdr = Some(mac(msg, off + 2));
        }
        off += len;
    }
    if off >= msg.len() {
        NdOptions::Valid(lladdr)
    } else {
        NdOptions::TooMany
    }
}

/// IPv6 for our addresses: echo (RFC 4443 4.1) and Neighbor Solicitation
/// (RFC 4861 7.1.1, 7.2.4) answered, bindings from solicitations and
/// advertisements published, the rest to userspace.
fn decide_ipv6(cfg: &FastpathConfig, frame: &[u8]) -> Decision {
    const IP: usize = eth::HEADER_LEN;
    const ICMP: usize = IP + ipv6::HEADER_LEN;
    if !cfg.has_ip6() {
        return Decision::pass(Counter::PassedNotOurs);
    }
    if frame.len() < ICMP {
        return Decision::pass(Counter::PassedMalformed6);
    }
    let h = &frame[IP..];
    let dst = ip6(h, ipv6::DST);
    let src = ip6(h, ipv6::SRC);
    let unicast = cfg.is_our_ip6(&dst);
    if !unicast && dst != ipv6::ALL_NODES && !cfg.is_our_solicited_node(&dst) {
        return Decision::pass(Counter::PassedNotOurs);
    }
    let eth_dst = mac(frame, eth::DST);
    let eth_src = mac(frame, eth::SRC);
    if eth_dst != cfg.mac && !eth::is_multicast(&eth_dst) {
        return Decision::pass(Counter::PassedNotOurs);
    }
    let plen = usize::from(be16(h, ipv6::PAYLOAD_LEN));
    if h[ipv6::VER_TC_FLOW] >> 4 != 6 || ICMP + plen > frame.len() {
        return Decision::to_userspace(Counter::SlowIp6BadHeader);
    }
    if h[ipv6::NEXT_HEADER] != ipv6::NEXT_HEADER_ICMPV6 {
        return Decision::to_userspace(Counter::SlowIp6NotIcmp);
    }
    if plen < icmpv6::HEADER_LEN {
        return Decision::to_userspace(Counter::SlowIp6BadHeader);
    }
    let msg = &frame[ICMP..ICMP + plen];
    let hop = h[ipv6::HOP_LIMIT];
    let ty = msg[icmpv6::TYPE];
    let nd = ty == icmpv6::TYPE_NEIGHBOR_SOLICIT || ty == icmpv6::TYPE_NEIGHBOR_ADVERT;
    let echo = ty == icmpv6::TYPE_ECHO_REQUEST && unicast;
    if !nd && !echo {
        return Decision::to_userspace(Counter::SlowIcmp6Other);
    }
    if !nd {
        if !cfg.has(FLAG_FASTPATH) {
            return Decision::to_userspace(Counter::SlowFastpathOff);
        }
        if eth_dst != cfg.mac {
            return Decision::to_userspace(Counter::SlowL2NotUnicast);
        }
        if ipv6::is_multicast(&src)
            || src == ipv6::UNSPECIFIED
            || src == ipv6::LOOPBACK
            || cfg.is_our_ip6(&src)
            || eth::is_multicast(&eth_src)
        {
            return Decision::to_userspace(Counter::SlowIp6Martian);
        }
        if msg[icmpv6::CODE] != 0 {
            return Decision::to_userspace(Counter::SlowIcmp6Other);
        }
        if plen > MAX_ICMP_LEN {
            return Decision::to_userspace(Counter::SlowTooLong);
        }
        if icmpv6_sum(&src, &dst, msg) != 0xffff {
            return Decision::to_userspace(Counter::SlowIcmp6BadChecksum);
        }
        return echo6(cfg, frame, plen);
    }
    // RFC 4861 7.1.1, 7.1.2; the program checks the checksum after the
    // options (for its verifier), so the model does too.
    if hop != 255 || msg[icmpv6::CODE] != 0 || plen < icmpv6::ND_MIN_LEN {
        return Decision::to_userspace(Counter::SlowNdpInvalid);
    }
    let target = ip6(msg, icmpv6::ND_TARGET);
    if ipv6::is_multicast(&target) {
        return Decision::to_userspace(Counter::SlowNdpInvalid);
    }
    let checksum_verdict = || {
        if plen > MAX_ICMP_LEN {
            Some(Decision::to_userspace(Counter::SlowTooLong))
        } else if icmpv6_sum(&src, &dst, msg) != 0xffff {
            Some(Decision::to_userspace(Counter::SlowIcmp6BadChecksum))
        } else {
            None
        }
    };
    let learn = cfg.has(FLAG_NEIGH_EVENTS);
    let with_event = |reason: Counter, ev: Option<NeighEvent6>| Decision {
        action: Action::ToUserspace,
        reason,
        neigh: None,
        neigh6: ev,
        neigh_suppressed: false,
    };
    if ty == icmpv6::TYPE_NEIGHBOR_ADVERT {
        let flags = msg[icmpv6::ND_FLAGS];
        // RFC 4861 7.1.2: a solicited advert is never sent to a group.
        if ipv6::is_multicast(&dst) && flags & icmpv6::NA_SOLICITED != 0 {
            return Decision::to_userspace(Counter::SlowNdpInvalid);
        }
        let tlla = match nd_options(msg, icmpv6::OPT_TARGET_LLADDR) {
            NdOptions::Valid(m) => m,
            NdOptions::Invalid => return Decision::to_userspace(Counter::SlowNdpInvalid),
            NdOptions::TooMany => return Decision::to_userspace(Counter::SlowNdpNotAnswerable),
        };
        if let Some(d) = checksum_verdict() {
            return d;
        }
        let ev = tlla.filter(|_| learn).map(|m| NeighEvent6 {
            ip: target,
            target_ip: dst,
            mac: m,
            icmp_type: icmpv6::TYPE_NEIGHBOR_ADVERT,
            flags: flags & NA_FLAGS_MASK,
        });
        return with_event(Counter::SlowNdpNotAnswerable, ev);
    }
    let slla = match nd_options(msg, icmpv6::OPT_SOURCE_LLADDR) {
        NdOptions::Valid(m) => m,
        NdOptions::Invalid => return Decision::to_userspace(Counter::SlowNdpInvalid),
        NdOptions::TooMany => return Decision::to_userspace(Counter::SlowNdpNotAnswerable),
    };
    if let Some(d) = checksum_verdict() {
        return d;
    }
    let dad = src == ipv6::UNSPECIFIED;
    // RFC 4861 7.1.1: a probe from :: goes to a solicited-node group without
    // a source link-layer option; a group or loopback source is never valid.
    if (dad && (slla.is_some() || !ipv6::is_solicited_node(&dst)))
        || ipv6::is_multicast(&src)
        || src == ipv6::LOOPBACK
    {
        return Decision::to_userspace(Counter::SlowNdpInvalid);
    }
    let event = |flags: u8| {
        slla.filter(|_| learn).map(|m| NeighEvent6 {
            ip: src,
            target_ip: target,
            mac: m,
            icmp_type: icmpv6::TYPE_NEIGHBOR_SOLICIT,
            flags,
        })
    };
    if !cfg.is_our_ip6(&target) {
        return with_event(Counter::SlowNdpNotAnswerable, event(0));
    }
    if !cfg.has(FLAG_FASTPATH) {
        return Decision::to_userspace(Counter::SlowFastpathOff);
    }
    if dst == ipv6::ALL_NODES || cfg.is_our_ip6(&src) || eth::is_multicast(&eth_src) {
        return Decision::to_userspace(Counter::SlowNdpNotAnswerable);
    }
    // RFC 4861 7.2.4: the advert from the target to the solicitor (its
    // link-layer option, else the frame's sender), S and O set; to a
    // probe, to all nodes with S clear.
    let (to_mac, to_ip, flags) = if dad {
        (ipv6::ALL_NODES_MAC, ipv6::ALL_NODES, icmpv6::NA_OVERRIDE)
    } else {
        (
            slla.unwrap_or(eth_src),
            src,
            icmpv6::NA_SOLICITED | icmpv6::NA_OVERRIDE,
        )
    };
    let mut out = Vec::with_capacity(ICMP + icmpv6::NA_LEN);
    out.extend_from_slice(&to_mac);
    out.extend_from_slice(&cfg.mac);
    out.extend_from_slice(&eth::ETHERTYPE_IPV6.to_be_bytes());
    out.extend_from_slice(&[0x60, 0, 0, 0]);
    out.extend_from_slice(&(icmpv6::NA_LEN as u16).to_be_bytes());
    out.extend_from_slice(&[ipv6::NEXT_HEADER_ICMPV6, 255]);
    out.extend_from_slice(&target);
    out.extend_from_slice(&to_ip);
    let mut na = vec![icmpv6::TYPE_NEIGHBOR_ADVERT, 0, 0, 0, flags, 0, 0, 0];
    na.extend_from_slice(&target);
    na.extend_from_slice(&[icmpv6::OPT_TARGET_LLADDR, 1]);
    na.extend_from_slice(&cfg.mac);
    let c = !icmpv6_sum(&target, &to_ip, &na);
    na[icmpv6::CHECKSUM..icmpv6::CHECKSUM + 2].copy_from_slice(&c.to_be_bytes());
    out.extend_from_slice(&na);
    Decision {
        action: Action::Tx(out),
        reason: if dad {
            Counter::NdpDadAdvertSent
        } else {
            Counter::NdpAdvertSent
        },
        neigh: None,
        neigh6: event(EVENT_ANSWERED),
        neigh_suppressed: false,
    }
}

/// The echo reply (RFC 4443 4.2): addresses swapped, hop limit reset,
/// type 129, checksum computed afresh; bytes past the payload stay.
fn echo6(cfg: &FastpathConfig, frame: &[u8], plen: usize) -> Decision {
    const IP: usize = eth::HEADER_LEN;
    const ICMP: usize = IP + ipv6::HEADER_LEN;
    let src = ip6(frame, IP + ipv6::SRC);
    let dst = ip6(frame, IP + ipv6::DST);
    let mut out = frame.to_vec();
    let eth_src = mac(frame, eth::SRC);
    out[eth::DST..eth::DST + 6].copy_from_slice(&eth_src);
    out[eth::SRC..eth::SRC + 6].copy_from_slice(&cfg.mac);
    out[IP + ipv6::SRC..IP + ipv6::SRC + 16].copy_from_slice(&dst);
    out[IP + ipv6::DST..IP + ipv6::DST + 16].copy_from_slice(&src);
    out[IP + ipv6::HOP_LIMIT] = ipv6::DEFAULT_HOP_LIMIT;
    let m = &mut out[ICMP..ICMP + plen];
    m[icmpv6::TYPE] = icmpv6::TYPE_ECHO_REPLY;
    m[icmpv6::CHECKSUM..icmpv6::CHECKSUM + 2].copy_from_slice(&[0, 0]);
    let c = !icmpv6_sum(&dst, &src, m);
    // As for IPv4: a reply summing to zero is left to the stack.
    if c == 0 || c == 0xffff {
        return Decision::to_userspace(Counter::SlowZeroSum);
    }
    m[icmpv6::CHECKSUM..icmpv6::CHECKSUM + 2].copy_from_slice(&c.to_be_bytes());
    Decision {
        action: Action::Tx(out),
        reason: Counter::Icmp6EchoReplied,
        neigh: None,
        neigh6: None,
        neigh_suppressed: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const US: [u8; 4] = [10, 10, 0, 4];
    const US_MAC: [u8; 6] = [2, 0, 0, 0, 0, 4];

    fn cfg() -> FastpathConfig {
        FastpathConfig::new(US, US_MAC, FLAG_FASTPATH | FLAG_NEIGH_EVENTS)
    }

    fn echo(data: &[u8], ident: u16) -> Vec<u8> {
        let mut f = vec![0u8; 14 + 20 + 8 + data.len()];
        f[0..6].copy_from_slice(&US_MAC);
        f[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 2]);
        f[12..14].copy_from_slice(&eth::ETHERTYPE_IPV4.to_be_bytes());
        let total = (20 + 8 + data.len()) as u16;
        let h = &mut f[14..34];
        h[0] = 0x45;
        h[2..4].copy_from_slice(&total.to_be_bytes());
        h[8] = 64;
        h[9] = 1;
        h[12..16].copy_from_slice(&[10, 10, 0, 2]);
        h[16..20].copy_from_slice(&US);
        let c = checksum::checksum(h);
        h[10..12].copy_from_slice(&c.to_be_bytes());
        let m = &mut f[34..];
        m[0] = 8;
        m[4..6].copy_from_slice(&ident.to_be_bytes());
        m[8..].copy_from_slice(data);
        let c = checksum::checksum(m);
        m[2..4].copy_from_slice(&c.to_be_bytes());
        f
    }

    #[test]
    fn a_reply_summing_to_zero_goes_to_userspace() {
        for (data, ident) in [(&[][..], 0u16), (&[0u8; 8][..], 0), (&[][..], 0xffff)] {
            let d = decide(&cfg(), &echo(data, ident));
            assert_eq!(d.action, Action::ToUserspace, "{data:?} {ident:#x}");
            assert_eq!(d.reason, Counter::SlowZeroSum);
        }
    }

    #[test]
    fn echo_reply_has_valid_checksums() {
        for (data, ident) in [(&[1u8][..], 0u16), (&[0u8; 8][..], 1), (&b"abc"[..], 7)] {
            let d = decide(&cfg(), &echo(data, ident));
            let Action::Tx(out) = d.action else {
                panic!("not answered: {d:?}");
            };
            assert!(checksum::verify(&out[14..34]));
            assert!(checksum::verify(&out[34..]));
            assert_eq!(out[34], icmp::TYPE_ECHO_REPLY);
        }
    }

    #[test]
    fn short_and_foreign_frames_pass() {
        assert_eq!(decide(&cfg(), &[0u8; 10]).reason, Counter::PassedMalformed);
        let mut f = echo(b"x", 1);
        f[12..14].copy_from_slice(&eth::ETHERTYPE_VLAN.to_be_bytes());
        assert_eq!(decide(&cfg(), &f).action, Action::Pass);
        let unconfigured = FastpathConfig::default();
        assert_eq!(
            decide(&unconfigured, &f).reason,
            Counter::PassedUnconfigured
        );
    }

    fn arp_request(sender_mac: [u8; 6], sender_ip: [u8; 4], target: [u8; 4]) -> Vec<u8> {
        let mut f = vec![0xffu8; 6];
        f.extend_from_slice(&sender_mac);
        f.extend_from_slice(&eth::ETHERTYPE_ARP.to_be_bytes());
        f.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]);
        f.extend_from_slice(&sender_mac);
        f.extend_from_slice(&sender_ip);
        f.extend_from_slice(&[0; 6]);
        f.extend_from_slice(&target);
        f
    }

    #[test]
    fn neigh_filter_publishes_new_changed_upgraded_and_refreshed_bindings() {
        const PEER: [u8; 4] = [10, 10, 0, 2];
        const MAC_A: [u8; 6] = [2, 0, 0, 0, 0, 0xa];
        const MAC_B: [u8; 6] = [2, 0, 0, 0, 0, 0xb];
        let cfg = cfg().with_neigh_refresh_ns(1_000);
        let mut f = NeighFilter::default();
        let published = |f: &mut NeighFilter, frame: &[u8], now: u64| {
            let d = f.decide(&cfg, frame, now);
            assert_eq!(d.neigh.is_some(), !d.neigh_suppressed, "{d:?}");
            d.neigh.is_some()
        };
        // Not for us first: published, but it cannot create an entry, so
        // the answered request that follows is published too.
        assert!(published(
            &mut f,
            &arp_request(MAC_A, PEER, [10, 10, 0, 9]),
            0
        ));
        assert!(published(&mut f, &arp_request(MAC_A, PEER, US), 10));
        // Repeats of either kind within the interval add nothing.
        assert!(!published(&mut f, &arp_request(MAC_A, PEER, US), 20));
        assert!(!published(
            &mut f,
            &arp_request(MAC_A, PEER, [10, 10, 0, 9]),
            30
        ));
        // A changed MAC is news at once; the old one again is a change too.
        assert!(published(&mut f, &arp_request(MAC_B, PEER, US), 40));
        assert!(published(&mut f, &arp_request(MAC_A, PEER, US), 50));
        // The refresh interval after the last published event.
        assert!(!published(&mut f, &arp_request(MAC_A, PEER, US), 1_049));
        assert!(published(&mut f, &arp_request(MAC_A, PEER, US), 1_050));
        // Another sender has its own state; echo frames publish nothing.
        assert!(published(
            &mut f,
            &arp_request(MAC_A, [10, 10, 0, 3], US),
            1_060
        ));
        let d = f.decide(&cfg, &echo(b"x", 1), 1_070);
        assert!(d.neigh.is_none() && !d.neigh_suppressed);
    }

    #[test]
    fn neigh_filter_always_publishes_claims_on_our_address() {
        let cfg = cfg();
        let mut f = NeighFilter::default();
        let claim = arp_request([2, 0, 0, 0, 0, 0xc], US, [10, 10, 0, 9]);
        for now in 0..3 {
            assert!(f.decide(&cfg, &claim, now).neigh.is_some());
        }
    }

    const US6: [u8; 16] = [0xfd, 0, 0, 0x10, 0, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4];
    const PEER6: [u8; 16] = [0xfd, 0, 0, 0x10, 0, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
    const PEER_MAC: [u8; 6] = [2, 0, 0, 0, 0, 2];

    fn cfg6() -> FastpathConfig {
        cfg().with_ip6(&[US6, ipv6::link_local_from_mac(US_MAC)])
    }

    /// An ICMPv6 frame, checksum filled in.
    fn icmp6(src: [u8; 16], dst: [u8; 16], hop: u8, mut msg: Vec<u8>) -> Vec<u8> {
        let eth_dst = if ipv6::is_multicast(&dst) {
            ipv6::multicast_mac(&dst)
        } else {
            US_MAC
        };
        let c = !icmpv6_sum(&src, &dst, &msg);
        msg[2..4].copy_from_slice(&c.to_be_bytes());
        let mut f = eth_dst.to_vec();
        f.extend_from_slice(&PEER_MAC);
        f.extend_from_slice(&eth::ETHERTYPE_IPV6.to_be_bytes());
        f.extend_from_slice(&[0x60, 0, 0, 0]);
        f.extend_from_slice(&(msg.len() as u16).to_be_bytes());
        f.extend_from_slice(&[58, hop]);
        f.extend_from_slice(&src);
        f.extend_from_slice(&dst);
        f.extend_from_slice(&msg);
        f
    }

    fn ns(target: [u8; 16], slla: bool) -> Vec<u8> {
        let mut m = vec![135, 0, 0, 0, 0, 0, 0, 0];
        m.extend_from_slice(&target);
        if slla {
            m.extend_from_slice(&[1, 1]);
            m.extend_from_slice(&PEER_MAC);
        }
        m
    }

    #[test]
    fn solicitation_for_us_is_answered_with_a_valid_advert() {
        let f = icmp6(PEER6, ipv6::solicited_node(&US6), 255, ns(US6, true));
        let d = decide(&cfg6(), &f);
        let Action::Tx(out) = d.action else {
            panic!("not answered: {d:?}");
        };
        assert_eq!(d.reason, Counter::NdpAdvertSent);
        assert_eq!(out.len(), 86);
        assert_eq!(&out[0..6], &PEER_MAC);
        assert_eq!((out[20], out[21]), (58, 255));
        assert_eq!(&out[22..38], &US6);
        assert_eq!(&out[38..54], &PEER6);
        assert_eq!(out[54], 136);
        assert_eq!(out[58], 0x60, "solicited and override, not router");
        assert_eq!(&out[78..86], &[2, 1, 2, 0, 0, 0, 0, 4]);
        assert_eq!(icmpv6_sum(&US6, &PEER6, &out[54..]), 0xffff);
        let ev = d.neigh6.expect("the solicitor's binding");
        assert_eq!((ev.ip, ev.mac, ev.flags), (PEER6, PEER_MAC, EVENT_ANSWERED));
    }

    #[test]
    fn probe_is_answered_to_all_nodes_without_solicited_flag() {
        let f = icmp6([0; 16], ipv6::solicited_node(&US6), 255, ns(US6, false));
        let d = decide(&cfg6(), &f);
        let Action::Tx(out) = d.action else {
            panic!("not answered: {d:?}");
        };
        assert_eq!(d.reason, Counter::NdpDadAdvertSent);
        assert_eq!(&out[0..6], &ipv6::ALL_NODES_MAC);
        assert_eq!(&out[38..54], &ipv6::ALL_NODES);
        assert_eq!(out[58], 0x20);
        assert!(d.neigh6.is_none());
        // With a source link-layer option the probe is invalid (7.1.1).
        let f = icmp6([0; 16], ipv6::solicited_node(&US6), 255, ns(US6, true));
        assert_eq!(decide(&cfg6(), &f).reason, Counter::SlowNdpInvalid);
    }

    #[test]
    fn invalid_solicitations_and_unconfigured_ipv6_are_not_answered() {
        let group = ipv6::solicited_node(&US6);
        let hop254 = icmp6(PEER6, group, 254, ns(US6, true));
        assert_eq!(decide(&cfg6(), &hop254).reason, Counter::SlowNdpInvalid);
        let mut bad_sum = icmp6(PEER6, group, 255, ns(US6, true));
        bad_sum[57] ^= 1;
        assert_eq!(
            decide(&cfg6(), &bad_sum).reason,
            Counter::SlowIcmp6BadChecksum
        );
        let mut zero_opt = ns(US6, true);
        zero_opt[25] = 0;
        let zero_opt = icmp6(PEER6, group, 255, zero_opt);
        assert_eq!(decide(&cfg6(), &zero_opt).reason, Counter::SlowNdpInvalid);
        let ok = icmp6(PEER6, group, 255, ns(US6, true));
        assert_eq!(decide(&cfg(), &ok).reason, Counter::PassedNotOurs);
        assert_eq!(decide(&cfg(), &ok).action, Action::Pass);
    }

    #[test]
    fn echo6_reply_is_valid() {
        let mut m = vec![128, 0, 0, 0, 0x12, 0x34, 0, 1];
        m.extend_from_slice(b"hello");
        let f = icmp6(PEER6, US6, 64, m);
        let d = decide(&cfg6(), &f);
        let Action::Tx(out) = d.action else {
            panic!("not answered: {d:?}");
        };
        assert_eq!(d.reason, Counter::Icmp6EchoReplied);
        assert_eq!(out[54], 129);
        assert_eq!(out[21], 64);
        assert_eq!(icmpv6_sum(&US6, &PEER6, &out[54..]), 0xffff);
    }
}
