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
use xdpstack_common::layout::{arp, eth, icmp, ipv4};
use xdpstack_common::neigh::{NeighEvent, EVENT_ANSWERED};

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
            neigh_suppressed: false,
        }
    }

    fn to_userspace(reason: Counter) -> Decision {
        Decision {
            action: Action::ToUserspace,
            reason,
            neigh: None,
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
        // IPv6, VLAN-tagged frames, anything else: the kernel's business.
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
        d
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
}
