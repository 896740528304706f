//! ICMP echo (RFC 792): answer echo requests for our address in place.

use aya_ebpf::{bindings::xdp_action, programs::XdpContext};
use aya_log_ebpf::debug;
use xdp_ebpf::packet::Frame;
use xdpstack_common::{
    checksum::update16,
    config::{FastpathConfig, FLAG_FASTPATH},
    counters::Counter,
    layout::{eth, icmp, ipv4},
};

use crate::{csum, to_userspace, verdict};

const IP: usize = eth::HEADER_LEN;
const ICMP: usize = IP + ipv4::MIN_HEADER_LEN;

pub fn handle(ctx: &XdpContext, f: &Frame, cfg: &FastpathConfig) -> u32 {
    if !f.has(IP + ipv4::MIN_HEADER_LEN) {
        return verdict(Counter::PassedMalformed, xdp_action::XDP_PASS);
    }
    if f.ip(IP + ipv4::DST) != cfg.ip {
        return verdict(Counter::PassedNotOurs, xdp_action::XDP_PASS);
    }
    let eth_dst = f.mac(eth::DST);
    if eth_dst != cfg.mac {
        // Another station's unicast frame is not ours (Linux: PACKET_OTHERHOST);
        // our address in a group frame is unusual: let the stack decide.
        if eth::is_multicast(&eth_dst) {
            return to_userspace(ctx, Counter::SlowL2NotUnicast);
        }
        return verdict(Counter::PassedNotOurs, xdp_action::XDP_PASS);
    }
    let (Some(ver_ihl), Some(frag), Some(tot_len), Some(proto)) = (
        f.u8(IP + ipv4::VER_IHL),
        f.u16_be(IP + ipv4::FLAGS_FRAG),
        f.u16_be(IP + ipv4::TOTAL_LEN),
        f.u8(IP + ipv4::PROTOCOL),
    ) else {
        return verdict(Counter::PassedMalformed, xdp_action::XDP_PASS);
    };
    if proto != ipv4::PROTO_ICMP {
        return to_userspace(ctx, Counter::SlowIpNotEcho);
    }
    if !cfg.has(FLAG_FASTPATH) {
        return to_userspace(ctx, Counter::SlowFastpathOff);
    }
    if ver_ihl >> 4 != 4 || ver_ihl & 0x0f < 5 {
        return to_userspace(ctx, Counter::SlowBadHeader);
    }
    // Options and fragments need the general path (RFC 791 3.2, reassembly).
    if ver_ihl != 0x45 || frag & (ipv4::FLAG_MF | ipv4::FRAG_OFFSET_MASK) != 0 {
        return to_userspace(ctx, Counter::SlowIpOptionsOrFragment);
    }
    let tot_len = tot_len as usize;
    if tot_len < ipv4::MIN_HEADER_LEN + icmp::HEADER_LEN || IP + tot_len > f.len() {
        return to_userspace(ctx, Counter::SlowBadHeader);
    }
    if !ip_header_valid(f) {
        return to_userspace(ctx, Counter::SlowBadChecksum);
    }
    let src = f.ip(IP + ipv4::SRC);
    // Never answer a source that cannot be a single host (RFC 1122 3.2.1.3),
    // nor one claiming to be us.
    if ipv4::is_martian_source(src) || src == cfg.ip {
        return to_userspace(ctx, Counter::SlowMartian);
    }
    let (Some(ty), Some(code)) = (f.u8(ICMP + icmp::TYPE), f.u8(ICMP + icmp::CODE)) else {
        return verdict(Counter::PassedMalformed, xdp_action::XDP_PASS);
    };
    if ty != icmp::TYPE_ECHO_REQUEST || code != 0 {
        return to_userspace(ctx, Counter::SlowIpNotEcho);
    }
    match csum::sum(f, ICMP, tot_len - ipv4::MIN_HEADER_LEN) {
        None => return to_userspace(ctx, Counter::SlowTooLong),
        Some(s) if csum::fold(s) != 0xffff => {
            return to_userspace(ctx, Counter::SlowBadChecksum);
        }
        Some(_) => {}
    }
    let (Some(ttl_proto), Some(ip_csum), Some(type_code), Some(icmp_csum)) = (
        f.u16_ne(IP + ipv4::TTL),
        f.u16_ne(IP + ipv4::CHECKSUM),
        f.u16_ne(ICMP + icmp::TYPE),
        f.u16_ne(ICMP + icmp::CHECKSUM),
    ) else {
        return verdict(Counter::PassedMalformed, xdp_action::XDP_PASS);
    };

    let new_type_code = u16::from_ne_bytes([icmp::TYPE_ECHO_REPLY, code]);
    let new_icmp_csum = update16(icmp_csum, type_code, new_type_code);
    if new_icmp_csum == 0 {
        // The reply sums to zero: RFC 1624's update cannot tell +0 from -0
        // there, and for an all-zero reply (identifier, sequence and data
        // zero) its 0x0000 is rejected by receivers; the right value is
        // 0xffff (RFC 1071, what Linux sends). Rare: let the stack build the
        // reply from scratch. Found by the differential test.
        return to_userspace(ctx, Counter::SlowZeroSum);
    }

    // Rewrite in place: swap addresses (checksum-neutral), reset the TTL and
    // turn the request into a reply, updating both checksums incrementally
    // (RFC 1624) on host-order words like the reads above.
    let eth_src = f.mac(eth::SRC);
    f.set_mac(eth::DST, eth_src);
    f.set_mac(eth::SRC, cfg.mac);
    f.set_ip(IP + ipv4::DST, src);
    f.set_ip(IP + ipv4::SRC, cfg.ip);
    let new_ttl_proto = u16::from_ne_bytes([ipv4::DEFAULT_TTL, proto]);
    f.set_u16_ne(IP + ipv4::TTL, new_ttl_proto);
    f.set_u16_ne(
        IP + ipv4::CHECKSUM,
        update16(ip_csum, ttl_proto, new_ttl_proto),
    );
    f.set_u16_ne(ICMP + icmp::TYPE, new_type_code);
    f.set_u16_ne(ICMP + icmp::CHECKSUM, new_icmp_csum);
    debug!(
        ctx,
        "icmp: answered echo from {:i}, {} bytes",
        u32::from_be_bytes(src),
        tot_len
    );
    verdict(Counter::IcmpEchoReplied, xdp_action::XDP_TX)
}

/// RFC 791 3.1: the header's one's-complement sum, checksum included, is
/// all ones. The header is exactly 20 bytes here (IHL 5 checked before).
#[inline(always)]
fn ip_header_valid(f: &Frame) -> bool {
    let mut acc: u32 = 0;
    let mut i = 0;
    while i < ipv4::MIN_HEADER_LEN {
        match f.u16_ne(IP + i) {
            Some(w) => acc += w as u32,
            None => return false,
        }
        i += 2;
    }
    xdpstack_common::checksum::fold(acc) == 0xffff
}
