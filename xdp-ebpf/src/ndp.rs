//! Neighbor Discovery (RFC 4861): a valid Neighbor Solicitation for one of
//! our addresses is rewritten in place into our Neighbor Advertisement; the
//! link-layer bindings that solicitations and advertisements carry are
//! published to userspace, as ARP's are.

use aya_ebpf::{
    bindings::xdp_action,
    helpers::{bpf_ktime_get_coarse_ns, bpf_xdp_adjust_tail},
    macros::map,
    maps::LruHashMap,
    programs::XdpContext,
};
use aya_log_ebpf::debug;
use xdp_ebpf::packet::Frame;
use xdpstack_common::{
    config::{FastpathConfig, FLAG_FASTPATH, FLAG_NEIGH_EVENTS},
    counters::Counter,
    layout::{eth, icmpv6, ipv6},
    neigh::{NeighEvent6, NeighSeen, EVENT_ANSWERED, NA_FLAGS_MASK, NEIGH_SEEN_MAX},
};

use crate::{
    count, csum,
    ipv6::{
        addr, addr_at, icmp_checksum_ok, is_multicast, is_ours, is_solicited_node, pseudo_words,
        set_addr, u8_at, A6, ALL_NODES, ICMP, IP, LOOPBACK,
    },
    to_userspace, verdict, NEIGH_EVENTS,
};

/// The last binding published per IPv6 neighbour, as `NEIGH_SEEN` for ARP.
#[map]
static NEIGH_SEEN6: LruHashMap<[u8; 16], NeighSeen> =
    LruHashMap::with_max_entries(NEIGH_SEEN_MAX, 0);

/// Options walked per message; Linux's own solicitations carry one or two.
/// A message with more goes to userspace unvalidated.
const MAX_OPTIONS: usize = 4;
/// No ND message of a 1500-byte MTU is longer; bounds the option offsets
/// for the verifier.
const MAX_ND_LEN: usize = 1500;

enum Options {
    /// Every option has a non-zero length inside the message; the
    /// link-layer address option looked for, if present and of Ethernet's
    /// length.
    Valid(Option<[u8; 6]>),
    /// RFC 4861 7.1.1 / 7.1.2: an option of length zero or past the end, or
    /// a link-layer address option not of Ethernet's length (Linux drops
    /// both).
    Invalid,
    TooMany,
}

#[inline(always)]
fn options(f: &Frame, len: usize, want: u8) -> Options {
    let mut off = icmpv6::ND_MIN_LEN;
    let mut mac = None;
    for _ in 0..MAX_OPTIONS {
        if off >= len {
            return Options::Valid(mac);
        }
        if off > MAX_ND_LEN || off + 2 > len {
            return Options::Invalid;
        }
        let Some(p) = f.bytes_at_var::<2>(ICMP + off) else {
            return Options::Invalid;
        };
        // SAFETY: both bytes are inside the frame (checked by `bytes_at_var`).
        let [ty, units] = unsafe { *p };
        let olen = units as usize * 8;
        if olen == 0 || off + olen > len {
            return Options::Invalid;
        }
        if ty == want {
            if units != 1 {
                return Options::Invalid;
            }
            let Some(m) = f.bytes_at_var::<6>(ICMP + off + 2) else {
                return Options::Invalid;
            };
            // SAFETY: the six bytes are inside the frame (checked above).
            mac = Some(unsafe { *m });
        }
        off += olen;
    }
    if off >= len {
        Options::Valid(mac)
    } else {
        Options::TooMany
    }
}

/// The checks common to NS and NA (RFC 4861 7.1.1, 7.1.2) but the
/// checksum: hop limit 255 (so the message cannot come from off-link),
/// code 0, length, a unicast target. `Err` holds the verdict.
#[inline(always)]
fn validate(ctx: &XdpContext, f: &Frame, len: usize, hop: u8) -> Result<A6, u32> {
    let Some(code) = u8_at(f, ICMP + icmpv6::CODE) else {
        return Err(verdict(Counter::PassedMalformed6, xdp_action::XDP_PASS));
    };
    if hop != 255 || code != 0 || len < icmpv6::ND_MIN_LEN {
        return Err(to_userspace(ctx, Counter::SlowNdpInvalid));
    }
    let Some(target) = addr_at(f, ICMP + icmpv6::ND_TARGET) else {
        return Err(verdict(Counter::PassedMalformed6, xdp_action::XDP_PASS));
    };
    if is_multicast(target) {
        return Err(to_userspace(ctx, Counter::SlowNdpInvalid));
    }
    Ok(target)
}

/// The checksum, last of the checks that read the message length (see
/// `icmp_checksum_ok`). `Err` holds the verdict.
#[inline(always)]
fn checksum(ctx: &XdpContext, f: &Frame) -> Result<(), u32> {
    match icmp_checksum_ok(f) {
        None => Err(to_userspace(ctx, Counter::SlowTooLong)),
        Some(false) => Err(to_userspace(ctx, Counter::SlowIcmp6BadChecksum)),
        Some(true) => Ok(()),
    }
}

pub fn solicit(
    ctx: &XdpContext,
    f: &Frame,
    cfg: &FastpathConfig,
    dst: A6,
    len: usize,
    hop: u8,
) -> u32 {
    let target = match validate(ctx, f, len, hop) {
        Ok(t) => t,
        Err(v) => return v,
    };
    let slla = match options(f, len, icmpv6::OPT_SOURCE_LLADDR) {
        Options::Valid(m) => m,
        Options::Invalid => return to_userspace(ctx, Counter::SlowNdpInvalid),
        Options::TooMany => return to_userspace(ctx, Counter::SlowNdpNotAnswerable),
    };
    if let Err(v) = checksum(ctx, f) {
        return v;
    }
    let Some(src) = addr(f, IP + ipv6::SRC) else {
        return verdict(Counter::PassedMalformed6, xdp_action::XDP_PASS);
    };
    let dad = src == 0;
    // RFC 4861 7.1.1: a probe from :: goes to a solicited-node group and
    // carries no source link-layer address. A group or loopback source is
    // never valid (RFC 4291 2.5.3, 2.7).
    if (dad && (slla.is_some() || !is_solicited_node(dst))) || is_multicast(src) || src == LOOPBACK
    {
        return to_userspace(ctx, Counter::SlowNdpInvalid);
    }
    let mut ev = NeighEvent6 {
        ip: src.to_ne_bytes(),
        target_ip: target.to_ne_bytes(),
        mac: [0; 6],
        icmp_type: icmpv6::TYPE_NEIGHBOR_SOLICIT,
        flags: 0,
    };
    let learn = cfg.has(FLAG_NEIGH_EVENTS);
    if !is_ours(cfg, target) {
        if let (true, Some(m)) = (learn, slla) {
            ev.mac = m;
            publish(&ev, cfg);
        }
        return to_userspace(ctx, Counter::SlowNdpNotAnswerable);
    }
    if !cfg.has(FLAG_FASTPATH) {
        return to_userspace(ctx, Counter::SlowFastpathOff);
    }
    let eth_src = f.mac(eth::SRC);
    // Only a solicitation to our group or to us from another single host
    // is answered here; to ff02::1, from one of our own addresses (a
    // duplicate), or from a group Ethernet sender: the stack's call.
    if dst == ALL_NODES || is_ours(cfg, src) || eth::is_multicast(&eth_src) {
        return to_userspace(ctx, Counter::SlowNdpNotAnswerable);
    }
    // The advert goes to the solicitor's link-layer address as the NS told
    // it (RFC 4861 7.2.4), else to the frame's sender; a probe's answer to
    // all nodes.
    let (to_mac, to_ip) = if dad {
        (ipv6::ALL_NODES_MAC, ALL_NODES)
    } else {
        (slla.unwrap_or(eth_src), src)
    };
    if let (true, Some(m)) = (learn, slla) {
        ev.mac = m;
        ev.flags = EVENT_ANSWERED;
        publish(&ev, cfg);
    }
    let want = (ICMP + icmpv6::NA_LEN) as i32;
    let delta = want - f.len() as i32;
    if delta != 0 {
        // SAFETY: the helper is given this invocation's xdp_md; every
        // packet pointer is re-derived below (`Frame::new`).
        if unsafe { bpf_xdp_adjust_tail(ctx.ctx, delta) } != 0 {
            return to_userspace(ctx, Counter::SlowNdpNoRoom);
        }
    }
    let f = Frame::new(ctx);
    if !f.has(ICMP + icmpv6::NA_LEN) {
        return verdict(Counter::PassedMalformed6, xdp_action::XDP_DROP);
    }
    f.set_mac(eth::DST, to_mac);
    f.set_mac(eth::SRC, cfg.mac);
    write4(&f, IP + ipv6::VER_TC_FLOW, [0x60, 0, 0, 0]);
    let [l0, l1] = (icmpv6::NA_LEN as u16).to_be_bytes();
    write4(
        &f,
        IP + ipv6::PAYLOAD_LEN,
        [l0, l1, ipv6::NEXT_HEADER_ICMPV6, 255],
    );
    // RFC 4861 7.2.4: from the target, solicited and override set (router
    // clear: we are a host); to a probe, solicited clear.
    set_addr(&f, IP + ipv6::SRC, target);
    set_addr(&f, IP + ipv6::DST, to_ip);
    write4(&f, ICMP, [icmpv6::TYPE_NEIGHBOR_ADVERT, 0, 0, 0]);
    let flags = if dad {
        icmpv6::NA_OVERRIDE
    } else {
        icmpv6::NA_SOLICITED | icmpv6::NA_OVERRIDE
    };
    write4(&f, ICMP + icmpv6::ND_FLAGS, [flags, 0, 0, 0]);
    set_addr(&f, ICMP + icmpv6::ND_TARGET, target);
    let m = cfg.mac;
    write4(
        &f,
        ICMP + icmpv6::ND_MIN_LEN,
        [icmpv6::OPT_TARGET_LLADDR, 1, m[0], m[1]],
    );
    write4(&f, ICMP + icmpv6::ND_MIN_LEN + 4, [m[2], m[3], m[4], m[5]]);
    // Addresses and message are contiguous: 64 bytes from the source.
    let Some(s) = csum::sum(&f, IP + ipv6::SRC, 2 * ipv6::ADDR_LEN + icmpv6::NA_LEN) else {
        return verdict(Counter::PassedMalformed6, xdp_action::XDP_DROP);
    };
    let c = !csum::fold(s + pseudo_words(icmpv6::NA_LEN));
    f.set_u16_ne(ICMP + icmpv6::CHECKSUM, c);
    debug!(ctx, "ndp: advertised, dad {}", dad as u8);
    if dad {
        verdict(Counter::NdpDadAdvertSent, xdp_action::XDP_TX)
    } else {
        verdict(Counter::NdpAdvertSent, xdp_action::XDP_TX)
    }
}

/// An advertisement: validated (RFC 4861 7.1.2), its target binding
/// published, then to userspace (which owns the neighbour cache).
pub fn advert(
    ctx: &XdpContext,
    f: &Frame,
    cfg: &FastpathConfig,
    dst: A6,
    len: usize,
    hop: u8,
) -> u32 {
    let target = match validate(ctx, f, len, hop) {
        Ok(t) => t,
        Err(v) => return v,
    };
    let Some(flags) = u8_at(f, ICMP + icmpv6::ND_FLAGS) else {
        return verdict(Counter::PassedMalformed6, xdp_action::XDP_PASS);
    };
    // A solicited advert is never sent to a group (RFC 4861 7.1.2).
    if is_multicast(dst) && flags & icmpv6::NA_SOLICITED != 0 {
        return to_userspace(ctx, Counter::SlowNdpInvalid);
    }
    let tlla = match options(f, len, icmpv6::OPT_TARGET_LLADDR) {
        Options::Valid(m) => m,
        Options::Invalid => return to_userspace(ctx, Counter::SlowNdpInvalid),
        Options::TooMany => return to_userspace(ctx, Counter::SlowNdpNotAnswerable),
    };
    if let Err(v) = checksum(ctx, f) {
        return v;
    }
    if let (true, Some(m)) = (cfg.has(FLAG_NEIGH_EVENTS), tlla) {
        let ev = NeighEvent6 {
            ip: target.to_ne_bytes(),
            target_ip: dst.to_ne_bytes(),
            mac: m,
            icmp_type: icmpv6::TYPE_NEIGHBOR_ADVERT,
            flags: flags & NA_FLAGS_MASK,
        };
        publish(&ev, cfg);
    }
    to_userspace(ctx, Counter::SlowNdpNotAnswerable)
}

#[inline(always)]
fn write4(f: &Frame, off: usize, v: [u8; 4]) {
    if let Some(p) = f.bytes::<4>(off) {
        // SAFETY: inside the frame (checked by `bytes`), which XDP may write.
        unsafe { *p = v };
    }
}

/// `publish_neigh` for NDP bindings: a repeat of the last published
/// binding within `neigh_refresh_ns` is suppressed; one on our own address
/// (a duplicate) always goes out.
#[inline(never)]
fn publish(ev: &NeighEvent6, cfg: &FastpathConfig) {
    // SAFETY: a helper without arguments.
    let now = unsafe { bpf_ktime_get_coarse_ns() };
    if !is_ours(cfg, u128::from_ne_bytes(ev.ip)) {
        if let Some(seen) = NEIGH_SEEN6.get_ptr(ev.ip) {
            // SAFETY: a map value; updates replace the element, so at worst
            // this reads the binding just replaced and publishes once more.
            let seen = unsafe { *seen };
            if seen.mac == ev.mac
                && ev.flags & !seen.flags == 0
                && now.wrapping_sub(seen.published_ns) < cfg.neigh_refresh_ns
            {
                count(Counter::Neigh6EventsSuppressed);
                return;
            }
        }
    }
    match NEIGH_EVENTS.reserve::<NeighEvent6>(0) {
        Some(mut slot) => {
            slot.write(*ev);
            slot.submit(0);
            count(Counter::Neigh6Events);
            let seen = NeighSeen {
                published_ns: now,
                mac: ev.mac,
                flags: ev.flags,
                _pad: 0,
            };
            // Fails only without memory; the next frame publishes again.
            let _ = NEIGH_SEEN6.insert(ev.ip, seen, 0);
        }
        None => count(Counter::Neigh6EventsLost),
    }
}
