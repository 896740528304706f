//! The fast path: an XDP program that answers ARP requests and ICMP echo
//! requests for our address in-kernel (XDP_TX), hands everything else
//! addressed to us to userspace through an XSKMAP, and passes the rest to the
//! kernel.
//!
//! Each step parses one header, checks bounds against `data_end` right before
//! the access (the verifier reads it the same way) and returns early with a
//! verdict. Every verdict bumps one counter, so no frame leaves uncounted.
#![no_std]
#![no_main]

mod arp;
mod csum;
mod icmp;
mod packet;

use aya_ebpf::{
    bindings::xdp_action,
    helpers::bpf_ktime_get_coarse_ns,
    macros::{map, xdp},
    maps::{Array, LruHashMap, PerCpuArray, ProgramArray, RingBuf, XskMap},
    programs::XdpContext,
};
use aya_log_ebpf::debug;
use xdpstack_common::{
    bench::{HARNESS_TARGET, REQUEST_HEAD_LEN},
    config::{FastpathConfig, FLAG_CAPTURE_ALL},
    counters::{Counter, PeerCounter},
    layout::{self, eth},
    neigh::{NeighEvent, NeighSeen, NEIGH_SEEN_MAX},
};

use crate::packet::Frame;

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
/// without its counter.
#[inline(always)]
pub(crate) fn verdict(c: Counter, action: u32) -> u32 {
    count(c);
    action
}

/// Hands the frame to the AF_XDP socket bound to its RX queue. Without a
/// socket on that queue the helper returns the XDP_PASS fallback. `reason`
/// (why the fast path did not answer) is counted either way.
#[inline(always)]
pub(crate) fn to_userspace(ctx: &XdpContext, reason: Counter) -> u32 {
    count(reason);
    let queue = unsafe { (*ctx.ctx).rx_queue_index };
    match XSKS.redirect(queue, xdp_action::XDP_PASS as u64) {
        Ok(action) => {
            debug!(
                ctx,
                "to userspace on queue {}: reason {}",
                queue,
                reason.index()
            );
            verdict(Counter::Redirected, action)
        }
        Err(_) => verdict(Counter::RedirectNoSocket, xdp_action::XDP_PASS),
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
        return verdict(Counter::PassedUnconfigured, xdp_action::XDP_PASS);
    };
    let cfg = *cfg;
    if !cfg.is_configured() {
        return verdict(Counter::PassedUnconfigured, xdp_action::XDP_PASS);
    }
    if cfg.has(FLAG_CAPTURE_ALL) {
        return to_userspace(&ctx, Counter::CapturedAll);
    }
    let frame = Frame::new(&ctx);
    let Some(ethertype) = frame.u16_be(eth::ETHERTYPE) else {
        return verdict(Counter::PassedMalformed, xdp_action::XDP_PASS);
    };
    match ethertype {
        eth::ETHERTYPE_ARP => arp::handle(&ctx, &frame, &cfg),
        eth::ETHERTYPE_IPV4 => icmp::handle(&ctx, &frame, &cfg),
        _ => verdict(Counter::PassedNotOurs, xdp_action::XDP_PASS),
    }
}

/// The reference for per-packet cost: swap the Ethernet addresses and send
/// the frame back. `cargo xtask bench` compares the fast path against it.
#[xdp]
pub fn mac_swap(ctx: XdpContext) -> u32 {
    let frame = Frame::new(&ctx);
    if !frame.has(eth::HEADER_LEN) {
        return xdp_action::XDP_PASS;
    }
    let dst = frame.mac(eth::DST);
    let src = frame.mac(eth::SRC);
    frame.set_mac(eth::DST, src);
    frame.set_mac(eth::SRC, dst);
    xdp_action::XDP_TX
}

/// What `peer_counter` counts, by index into `PEER_COUNTERS`.
#[map]
static PEER_COUNTERS: PerCpuArray<u64> =
    PerCpuArray::with_max_entries(PeerCounter::COUNT as u32, 0);

/// Attached on the *other* end of a veth (the lab's client): counts the
/// replies arriving there and passes every frame. A veth end only receives
/// XDP_TX'd or redirected frames when it has NAPI on, which an attached XDP
/// program guarantees; the counts serve `cargo xtask bench`.
#[xdp]
pub fn peer_counter(ctx: XdpContext) -> u32 {
    count_peer_frame(&ctx);
    xdp_action::XDP_PASS
}

/// Like `peer_counter`, but drops the replies it counted: during `cargo
/// xtask bench`'s floods the client's kernel need not process every reply,
/// so the measurement is of the responder, not of the client's receive
/// path. Everything else still reaches the kernel (the responder's own ARP
/// requests must be answered, or a Linux responder stops replying).
#[xdp]
pub fn peer_sink(ctx: XdpContext) -> u32 {
    match count_peer_frame(&ctx) {
        PeerCounter::Other => xdp_action::XDP_PASS,
        _ => xdp_action::XDP_DROP,
    }
}

/// Counts the frame by kind and returns the kind.
#[inline(always)]
fn count_peer_frame(ctx: &XdpContext) -> PeerCounter {
    let frame = Frame::new(ctx);
    let kind = match frame.u16_be(eth::ETHERTYPE) {
        Some(eth::ETHERTYPE_ARP) => match frame.u16_be(eth::HEADER_LEN + layout::arp::OPER) {
            Some(layout::arp::OP_REPLY) => PeerCounter::ArpReplies,
            _ => PeerCounter::Other,
        },
        Some(eth::ETHERTYPE_IPV4) => {
            let icmp_at = eth::HEADER_LEN + layout::ipv4::MIN_HEADER_LEN;
            match (
                frame.u8(eth::HEADER_LEN + layout::ipv4::PROTOCOL),
                frame.u8(icmp_at),
            ) {
                (Some(layout::ipv4::PROTO_ICMP), Some(layout::icmp::TYPE_ECHO_REPLY)) => {
                    PeerCounter::EchoReplies
                }
                _ => PeerCounter::Other,
            }
        }
        _ => PeerCounter::Other,
    };
    if let Some(p) = PEER_COUNTERS.get_ptr_mut(kind as u32) {
        // SAFETY: a per-CPU slot, only this CPU writes it now.
        unsafe { *p += 1 };
    }
    kind
}

/// The first bytes of the request that `loadgen` sends and `cost_harness`
/// measures, written by userspace before the run.
#[map]
static REQUEST_HEAD: Array<[u8; REQUEST_HEAD_LEN]> = Array::with_max_entries(1, 0);

/// Writes the request's first bytes back over the frame: a responder that
/// answers in place (the fast path) leaves its reply in the frame, and both
/// BPF_PROG_TEST_RUN modes reuse the frame's memory (normal mode runs again
/// on the same buffer; live-frames mode recycles page-pool pages without
/// re-initialising their data). The fast path rewrites nothing past
/// `REQUEST_HEAD_LEN` bytes.
#[inline(always)]
fn restore_request(ctx: &XdpContext) -> bool {
    let frame = Frame::new(ctx);
    match (REQUEST_HEAD.get(0), frame.bytes::<REQUEST_HEAD_LEN>(0)) {
        (Some(saved), Some(dst)) => {
            // SAFETY: `dst` is inside the frame (checked by `bytes`), `saved`
            // is a map value of the same size.
            unsafe { *dst = *saved };
            true
        }
        _ => false,
    }
}

/// `cargo xtask bench`'s load generator, run with BPF_PROG_TEST_RUN in
/// live-frames mode on the client veth: every XDP_TX sends the request out
/// of that veth to the stack end.
#[xdp]
pub fn loadgen(ctx: XdpContext) -> u32 {
    if !restore_request(&ctx) {
        return xdp_action::XDP_ABORTED;
    }
    xdp_action::XDP_TX
}

/// The program the harness measures, at index `HARNESS_TARGET`.
#[map]
static HARNESS_PROGS: ProgramArray = ProgramArray::with_max_entries(1, 0);

/// Per-packet cost harness for BPF_PROG_TEST_RUN with `repeat`: puts the
/// request back, then tail calls the measured program, so every repetition
/// answers a request (without it, all but the first would see the reply).
/// Its own cost is measured with `nop_tx` as the target and subtracted.
#[xdp]
pub fn cost_harness(ctx: XdpContext) -> u32 {
    if !restore_request(&ctx) {
        return xdp_action::XDP_ABORTED;
    }
    // SAFETY: on success the tail call does not return; the context is ours.
    unsafe { HARNESS_PROGS.tail_call(&ctx, HARNESS_TARGET) };
    // An empty slot: nothing measured, say so with a verdict no target gives.
    xdp_action::XDP_ABORTED
}

/// The harness's empty target: what a tail call into a program that does
/// nothing costs.
#[xdp]
pub fn nop_tx(_ctx: XdpContext) -> u32 {
    xdp_action::XDP_TX
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
