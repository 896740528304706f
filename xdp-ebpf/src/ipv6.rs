//! IPv6 (RFC 8200) for our addresses: ICMPv6 echo (RFC 4443 4.1) answered
//! in place, Neighbor Discovery handed to `ndp`, everything else addressed
//! to us (our unicast addresses, their solicited-node groups, ff02::1) to
//! userspace. Without a configured IPv6 address every IPv6 frame is passed
//! to the kernel, as before IPv6 support.

use aya_ebpf::{bindings::xdp_action, programs::XdpContext};
use aya_log_ebpf::debug;
use xdp_ebpf::packet::Frame;
use xdpstack_common::{
    checksum::update16,
    config::{FastpathConfig, FLAG_FASTPATH, MAX_IP6},
    counters::Counter,
    layout::{eth, icmpv6, ipv6},
};

use crate::{csum, ndp, to_userspace, verdict};

pub(crate) const IP: usize = eth::HEADER_LEN;
pub(crate) const ICMP: usize = IP + ipv6::HEADER_LEN;

/// An IPv6 address as loaded from the frame in host order. Kept in two
/// registers rather than as a 16-byte array: arrays go through the stack,
/// and the BPF stack (512 bytes) is shared with the rest of the program.
/// All the masks below are built with `from_ne_bytes`, so the arithmetic
/// is the same whatever the byte order.
pub(crate) type A6 = u128;

const fn ne(b: [u8; 16]) -> A6 {
    u128::from_ne_bytes(b)
}

pub(crate) const ALL_NODES: A6 = ne(ipv6::ALL_NODES);
pub(crate) const LOOPBACK: A6 = ne(ipv6::LOOPBACK);
const FIRST_BYTE: A6 = ne([0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
/// ff02::1:ff00:0/104 (RFC 4291 2.7.1).
const SOLICITED_PREFIX: A6 = ne([0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0, 0, 0]);
const SOLICITED_MASK: A6 = ne([
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0,
]);

#[inline(always)]
pub(crate) fn is_multicast(a: A6) -> bool {
    a & FIRST_BYTE == FIRST_BYTE
}

#[inline(always)]
pub(crate) fn is_solicited_node(g: A6) -> bool {
    g & SOLICITED_MASK == SOLICITED_PREFIX
}

/// True when `a` is one of our addresses.
#[inline(always)]
pub(crate) fn is_ours(cfg: &FastpathConfig, a: A6) -> bool {
    let mut i = 0;
    while i < MAX_IP6 {
        if a != 0 && ne(cfg.ip6[i]) == a {
            return true;
        }
        i += 1;
    }
    false
}

/// True when `g` is the solicited-node group of one of our addresses (the
/// group ends with the address's last 24 bits).
#[inline(always)]
fn is_our_group(cfg: &FastpathConfig, g: A6) -> bool {
    if !is_solicited_node(g) {
        return false;
    }
    let mut i = 0;
    while i < MAX_IP6 {
        let a = ne(cfg.ip6[i]);
        if a != 0 && (a ^ g) & !SOLICITED_MASK == 0 {
            return true;
        }
        i += 1;
    }
    false
}

/// Sixteen bytes (an IPv6 address) at a constant offset.
#[inline(always)]
pub(crate) fn addr(f: &Frame, off: usize) -> Option<A6> {
    let p = f.bytes::<16>(off)?;
    // SAFETY: the sixteen bytes are inside the frame (checked by `bytes`).
    Some(ne(unsafe { *p }))
}

#[inline(always)]
pub(crate) fn set_addr(f: &Frame, off: usize, v: A6) {
    if let Some(p) = f.bytes::<16>(off) {
        // SAFETY: inside the frame (checked by `bytes`), which XDP may write.
        unsafe { *p = v.to_ne_bytes() };
    }
}

// Inside the ICMPv6 message LLVM can prove a bounds check redundant from
// the payload length checks, which the verifier cannot follow: these
// accessors re-read `data_end` (`Frame::bytes_at_var`) so the check stays.

#[inline(always)]
pub(crate) fn u8_at(f: &Frame, off: usize) -> Option<u8> {
    let p = f.bytes_at_var::<1>(off)?;
    // SAFETY: the byte is inside the frame (checked by `bytes_at_var`).
    Some(unsafe { (*p)[0] })
}

#[inline(always)]
pub(crate) fn u16_ne_at(f: &Frame, off: usize) -> Option<u16> {
    let p = f.bytes_at_var::<2>(off)?;
    // SAFETY: both bytes are inside the frame (checked by `bytes_at_var`).
    Some(u16::from_ne_bytes(unsafe { *p }))
}

#[inline(always)]
pub(crate) fn set_u16_ne_at(f: &Frame, off: usize, v: u16) {
    if let Some(p) = f.bytes_at_var::<2>(off) {
        // SAFETY: inside the frame (checked by `bytes_at_var`), writable.
        unsafe { *p = v.to_ne_bytes() };
    }
}

#[inline(always)]
pub(crate) fn addr_at(f: &Frame, off: usize) -> Option<A6> {
    let p = f.bytes_at_var::<16>(off)?;
    // SAFETY: the sixteen bytes are inside the frame (checked by `bytes_at_var`).
    Some(ne(unsafe { *p }))
}

/// The ICMPv6 checksum check (RFC 4443 2.3): the message plus the
/// pseudo-header (RFC 8200 8.1: addresses, upper-layer length, next header)
/// sums to all ones. `None` when the message is longer than `csum::sum`
/// covers.
///
/// The length is read from the frame afresh (volatile), and nothing after
/// the check may use the caller's copy: each path through `csum::sum`
/// narrows the range of the length it is given differently, and a range
/// still live afterwards keeps the verifier from merging those paths (the
/// program then exceeds its million-instruction budget).
#[inline(always)]
pub(crate) fn icmp_checksum_ok(f: &Frame) -> Option<bool> {
    let p = f.bytes::<2>(IP + ipv6::PAYLOAD_LEN)?;
    // SAFETY: both bytes are inside the frame (checked by `bytes`).
    let len = u16::from_be_bytes(unsafe { core::ptr::read_volatile(p) }) as usize;
    let addrs = csum::sum(f, IP + ipv6::SRC, 2 * ipv6::ADDR_LEN)?;
    let body = csum::sum(f, ICMP, len)?;
    let pseudo = pseudo_words(len);
    Some(csum::fold(addrs + body + pseudo) == 0xffff)
}

/// The pseudo-header's length and next-header words, in host order like
/// `csum::sum`'s words.
#[inline(always)]
pub(crate) fn pseudo_words(len: usize) -> u64 {
    let len = u16::from_ne_bytes((len as u16).to_be_bytes()) as u64;
    let nh = u16::from_ne_bytes([0, ipv6::NEXT_HEADER_ICMPV6]) as u64;
    len + nh
}

pub fn handle(ctx: &XdpContext, f: &Frame, cfg: &FastpathConfig) -> u32 {
    if !cfg.has_ip6() {
        return verdict(Counter::PassedNotOurs, xdp_action::XDP_PASS);
    }
    if !f.has(ICMP) {
        return verdict(Counter::PassedMalformed6, xdp_action::XDP_PASS);
    }
    let Some(dst) = addr(f, IP + ipv6::DST) else {
        return verdict(Counter::PassedMalformed6, xdp_action::XDP_PASS);
    };
    let unicast = is_ours(cfg, dst);
    if !unicast && dst != ALL_NODES && !is_our_group(cfg, dst) {
        return verdict(Counter::PassedNotOurs, xdp_action::XDP_PASS);
    }
    let eth_dst = f.mac(eth::DST);
    if eth_dst != cfg.mac && !eth::is_multicast(&eth_dst) {
        // Another station's unicast frame (Linux: PACKET_OTHERHOST).
        return verdict(Counter::PassedNotOurs, xdp_action::XDP_PASS);
    }
    let (Some(ver), Some(plen), Some(nh), Some(hop)) = (
        f.u8(IP + ipv6::VER_TC_FLOW),
        f.u16_be(IP + ipv6::PAYLOAD_LEN),
        f.u8(IP + ipv6::NEXT_HEADER),
        f.u8(IP + ipv6::HOP_LIMIT),
    ) else {
        return verdict(Counter::PassedMalformed6, xdp_action::XDP_PASS);
    };
    let plen = plen as usize;
    // Ethernet padding may follow the payload; a payload beyond the frame
    // is truncated (RFC 8200 3). Jumbograms (length 0) are not for Ethernet.
    if ver >> 4 != 6 || ICMP + plen > f.len() {
        return to_userspace(ctx, Counter::SlowIp6BadHeader);
    }
    // Extension headers (RFC 8200 4) need the general path.
    if nh != ipv6::NEXT_HEADER_ICMPV6 {
        return to_userspace(ctx, Counter::SlowIp6NotIcmp);
    }
    if plen < icmpv6::HEADER_LEN {
        return to_userspace(ctx, Counter::SlowIp6BadHeader);
    }
    let Some(ty) = u8_at(f, ICMP + icmpv6::TYPE) else {
        return verdict(Counter::PassedMalformed6, xdp_action::XDP_PASS);
    };
    match ty {
        icmpv6::TYPE_NEIGHBOR_SOLICIT => ndp::solicit(ctx, f, cfg, dst, plen, hop),
        icmpv6::TYPE_NEIGHBOR_ADVERT => ndp::advert(ctx, f, cfg, dst, plen, hop),
        icmpv6::TYPE_ECHO_REQUEST if unicast => echo(ctx, f, cfg, eth_dst),
        _ => to_userspace(ctx, Counter::SlowIcmp6Other),
    }
}

/// Echo request to one of our unicast addresses: the reply is the request
/// with addresses swapped and type 129 (RFC 4443 4.2), in place.
#[inline(always)]
fn echo(ctx: &XdpContext, f: &Frame, cfg: &FastpathConfig, eth_dst: [u8; 6]) -> u32 {
    if !cfg.has(FLAG_FASTPATH) {
        return to_userspace(ctx, Counter::SlowFastpathOff);
    }
    if eth_dst != cfg.mac {
        return to_userspace(ctx, Counter::SlowL2NotUnicast);
    }
    let Some(src) = addr(f, IP + ipv6::SRC) else {
        return verdict(Counter::PassedMalformed6, xdp_action::XDP_PASS);
    };
    let eth_src = f.mac(eth::SRC);
    // Never answer a source that cannot be a single other host (RFC 4291
    // 2.5.2, 2.5.3, 2.7), nor a group Ethernet sender.
    if is_multicast(src)
        || src == 0
        || src == LOOPBACK
        || is_ours(cfg, src)
        || eth::is_multicast(&eth_src)
    {
        return to_userspace(ctx, Counter::SlowIp6Martian);
    }
    let Some(code) = u8_at(f, ICMP + icmpv6::CODE) else {
        return verdict(Counter::PassedMalformed6, xdp_action::XDP_PASS);
    };
    if code != 0 {
        return to_userspace(ctx, Counter::SlowIcmp6Other);
    }
    match icmp_checksum_ok(f) {
        None => return to_userspace(ctx, Counter::SlowTooLong),
        Some(false) => return to_userspace(ctx, Counter::SlowIcmp6BadChecksum),
        Some(true) => {}
    }
    let (Some(dst), Some(type_code), Some(icmp_csum)) = (
        addr(f, IP + ipv6::DST),
        u16_ne_at(f, ICMP + icmpv6::TYPE),
        u16_ne_at(f, ICMP + icmpv6::CHECKSUM),
    ) else {
        return verdict(Counter::PassedMalformed6, xdp_action::XDP_PASS);
    };
    // Swapping the addresses leaves the pseudo-header sum unchanged; only
    // the type word changes (RFC 1624). A zero result is ambiguous, as for
    // IPv4 (see icmp.rs): the stack builds that reply.
    let new_type_code = u16::from_ne_bytes([icmpv6::TYPE_ECHO_REPLY, code]);
    let new_csum = update16(icmp_csum, type_code, new_type_code);
    if new_csum == 0 {
        return to_userspace(ctx, Counter::SlowZeroSum);
    }
    f.set_mac(eth::DST, eth_src);
    f.set_mac(eth::SRC, cfg.mac);
    set_addr(f, IP + ipv6::SRC, dst);
    set_addr(f, IP + ipv6::DST, src);
    if let Some(p) = f.bytes::<1>(IP + ipv6::HOP_LIMIT) {
        // SAFETY: inside the frame (checked by `bytes`), which XDP may write.
        unsafe { (*p)[0] = ipv6::DEFAULT_HOP_LIMIT };
    }
    set_u16_ne_at(f, ICMP + icmpv6::TYPE, new_type_code);
    set_u16_ne_at(f, ICMP + icmpv6::CHECKSUM, new_csum);
    debug!(ctx, "icmp6: answered echo");
    verdict(Counter::Icmp6EchoReplied, xdp_action::XDP_TX)
}
