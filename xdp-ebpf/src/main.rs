//! The fast path: an XDP program that answers ARP requests and ICMP echo
//! requests for our address in-kernel (XDP_TX), hands everything else
//! addressed to us to userspace through an XSKMAP, and passes the rest to the
//! kernel. It is the only program in this object (the one the daemon
//! loads); the bench and lab programs live in `xdp-lab-ebpf/`.
//!
//! Each step parses one header, checks bounds against `data_end` right before
//! the access (the verifier reads it the same way) and returns early with a
//! verdict. Every verdict bumps one counter, so no frame leaves uncounted.
#![no_std]
#![deny(clippy::undocumented_unsafe_blocks)]
#![no_main]

mod arp;
mod capture;
mod csum;
mod icmp;
mod ipv6;
mod ndp;

use aya_ebpf::{
    bindings::xdp_action,
    helpers::bpf_ktime_get_coarse_ns,
    macros::{map, xdp},
    maps::{Array, LruHashMap, PerCpuArray, RingBuf, XskMap},
    programs::XdpContext,
};
use aya_log_ebpf::debug;
use xdp_ebpf::packet::Frame;
use xdpstack_common::{
    capture::{pack_verdict, verdict_action},
    config::{FastpathConfig, FLAG_CAPTURE, FLAG_CAPTURE_ALL},
    counters::Counter,
    layout::eth,
    neigh::{NeighEvent, NeighSeen, NEIGH_SEEN_MAX},
};

/// Written once by userspace before attach; see `FastpathConfig`.
#[map]
static CONFIG: Array<FastpathConfig> = Array::with_max_entries(1, 0);

/// Per-CPU so the hot path never contends; userspace sums the CPUs.
#[map]
static COUNTERS: PerCpuArray<u64> = PerCpuArray::with_max_entries(Counter::COUNT as u32, 0);

/// One AF_XDP socket per RX queue, indexed by queue id.
#[map]
static XSKS: XskMap = XskMap::with_max_entries(64, 0);

/// ARP sender bindings for the userspace ARP cache (`NeighEvent`s).
#[map]
static NEIGH_EVENTS: RingBuf = RingBuf::with_byte_size(256 * 1024, 0);

#[inline(always)]
pub(crate) fn count(c: Counter) {
    if let Some(p) = COUNTERS.get_ptr_mut(c.index()) {
        // SAFETY: a per-CPU array slot, only this CPU writes it now.
        unsafe { *p += 1 };
    }
}

/// Counts and returns a verdict in one step, so a verdict is never returned
/// without its counter. The verdict carries its reason for the capture
/// (`pack_verdict`); `xdpstack()` returns only the action to the kernel.
#[inline(always)]
pub(crate) fn verdict(c: Counter, action: u32) -> u32 {
    count(c);
    pack_verdict(action, c.index())
}

/// Hands the frame to the AF_XDP socket bound to its RX queue. Without a
/// socket on that queue the helper returns the XDP_PASS fallback. `reason`
/// (why the fast path did not answer) is counted either way.
#[inline(always)]
pub(crate) fn to_userspace(ctx: &XdpContext, reason: Counter) -> u32 {
    count(reason);
    // SAFETY: `ctx.ctx` is the kernel's xdp_md for this invocation, valid
    // for the whole program run; reading a field of it is what it is for.
    let queue = unsafe { (*ctx.ctx).rx_queue_index };
    match XSKS.redirect(queue, xdp_action::XDP_PASS as u64) {
        Ok(action) => {
            debug!(
                ctx,
                "to userspace on queue {}: reason {}",
                queue,
                reason.index()
            );
            count(Counter::Redirected);
            pack_verdict(action, reason.index())
        }
        Err(_) => {
            count(Counter::RedirectNoSocket);
            pack_verdict(xdp_action::XDP_PASS, reason.index())
        }
    }
}

/// The last binding published per sender IPv4 address. LRU, so a flood
/// from random senders recycles entries instead of growing it.
#[map]
static NEIGH_SEEN: LruHashMap<[u8; 4], NeighSeen> = LruHashMap::with_max_entries(NEIGH_SEEN_MAX, 0);

/// Publishes an ARP sender binding when it tells userspace something: a
/// sender not seen (or evicted), a changed MAC, a flag the last event lacked
/// (an answered request lets userspace create an entry, RFC 826), or the last
/// event older than `neigh_refresh_ns` (keeps the entry confirmed). A
/// repeat is counted as suppressed: under a flood from one sender this saves
/// the ring write and the daemon's wakeup per frame. A claim on our own
/// address is always published (RFC 5227 conflict detection is userspace's).
/// A full ring loses the event, counted, and records nothing, so the next
/// frame retries.
///
/// Submitting with flags 0 already wakes the daemon only when it has read
/// everything before this record (the kernel compares the consumer position
/// with the record's), so BPF_RB_NO_WAKEUP would add nothing here.
#[inline(always)]
pub(crate) fn publish_neigh(ev: &NeighEvent, cfg: &FastpathConfig) {
    // SAFETY: a helper without arguments.
    let now = unsafe { bpf_ktime_get_coarse_ns() };
    if ev.sender_ip != cfg.ip {
        if let Some(seen) = NEIGH_SEEN.get_ptr(ev.sender_ip) {
            // SAFETY: a map value; an update replaces the element rather
            // than writing into it, so at worst this reads the binding just
            // replaced and publishes once more.
            let seen = unsafe { *seen };
            if seen.mac == ev.sender_mac
                && ev.flags & !seen.flags == 0
                && now.wrapping_sub(seen.published_ns) < cfg.neigh_refresh_ns
            {
                count(Counter::NeighEventsSuppressed);
                return;
            }
        }
    }
    match NEIGH_EVENTS.reserve::<NeighEvent>(0) {
        Some(mut slot) => {
            slot.write(*ev);
            slot.submit(0);
            count(Counter::NeighEvents);
            let seen = NeighSeen {
                published_ns: now,
                mac: ev.sender_mac,
                flags: ev.flags,
                _pad: 0,
            };
            // An LRU update only fails without memory; the next frame then
            // publishes again, which is harmless.
            let _ = NEIGH_SEEN.insert(ev.sender_ip, seen, 0);
        }
        None => count(Counter::NeighEventsLost),
    }
}

#[xdp]
pub fn xdpstack(ctx: XdpContext) -> u32 {
    let Some(cfg) = CONFIG.get(0) else {
        count(Counter::PassedUnconfigured);
        return xdp_action::XDP_PASS;
    };
    // No copy of the config onto the BPF stack: with the IPv6 addresses it
    // is large, and the stack has 512 bytes.
    // The one test a frame pays while no capture client is connected.
    if cfg.has(FLAG_CAPTURE) {
        capture::before(&ctx);
    }
    let v = decide(&ctx, cfg);
    // The flag is read again (volatile, so the compiler cannot keep the
    // first reading) rather than kept: nothing of the capture is live
    // across `decide` (see `capture::SCRATCH`).
    // SAFETY: `cfg` points into the CONFIG map's value, valid for this run.
    let flags = unsafe { core::ptr::read_volatile(&cfg.flags) };
    if flags & FLAG_CAPTURE != 0 {
        capture::after(&ctx, v);
    }
    verdict_action(v)
}

/// The verdict on one frame, packed with its reason (`verdict`).
#[inline(always)]
pub(crate) fn decide(ctx: &XdpContext, cfg: &FastpathConfig) -> u32 {
    if !cfg.is_configured() {
        return verdict(Counter::PassedUnconfigured, xdp_action::XDP_PASS);
    }
    if cfg.has(FLAG_CAPTURE_ALL) {
        return to_userspace(ctx, Counter::CapturedAll);
    }
    let frame = Frame::new(ctx);
    let Some(ethertype) = frame.u16_be(eth::ETHERTYPE) else {
        return verdict(Counter::PassedMalformed, xdp_action::XDP_PASS);
    };
    match ethertype {
        eth::ETHERTYPE_ARP => arp::handle(ctx, &frame, cfg),
        eth::ETHERTYPE_IPV4 => icmp::handle(ctx, &frame, cfg),
        eth::ETHERTYPE_IPV6 => ipv6::handle(ctx, &frame, cfg),
        _ => verdict(Counter::PassedNotOurs, xdp_action::XDP_PASS),
    }
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
