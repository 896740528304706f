//! The bench and lab XDP programs, in an object apart from the product's
//! (`xdp-ebpf/`): the daemon never loads them. `xdpstack peer-attach` and
//! the tests attach `peer_counter` to the client end of a veth;
//! `xdpstack loadgen` (behind userspace's `lab` feature) runs `peer_sink`,
//! `loadgen`, `cost_harness`, `nop_tx` and `mac_swap` for `cargo xtask bench`.
#![no_std]
#![deny(clippy::undocumented_unsafe_blocks)]
#![no_main]

use aya_ebpf::{
    bindings::xdp_action,
    cty::c_void,
    helpers::bpf_xdp_store_bytes,
    macros::{map, xdp},
    maps::{Array, PerCpuArray, ProgramArray},
    programs::XdpContext,
};
use xdp_ebpf::packet::Frame;
use xdpstack_common::{
    bench::{RequestTail, HARNESS_TARGET, REQUEST_HEAD_LEN, REQUEST_TAIL_LEN},
    counters::PeerCounter,
    layout::{self, eth, icmpv6, ipv6},
};

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
        Some(eth::ETHERTYPE_IPV6) => {
            // No extension headers: the replies counted are the responder's
            // own, which carry none.
            let icmp_at = eth::HEADER_LEN + ipv6::HEADER_LEN;
            match (
                frame.u8(eth::HEADER_LEN + ipv6::NEXT_HEADER),
                frame.u8(icmp_at + icmpv6::TYPE),
            ) {
                (Some(ipv6::NEXT_HEADER_ICMPV6), Some(icmpv6::TYPE_ECHO_REPLY)) => {
                    PeerCounter::Echo6Replies
                }
                (Some(ipv6::NEXT_HEADER_ICMPV6), Some(icmpv6::TYPE_NEIGHBOR_ADVERT)) => {
                    PeerCounter::NeighborAdverts
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

/// The bytes after the head an IPv6 answer rewrites (`len` 0 for IPv4 and
/// ARP requests, which need only the head), written with it.
#[map]
static REQUEST_TAIL: Array<RequestTail> = Array::with_max_entries(1, 0);

/// Writes the request's first bytes back over the frame: a responder that
/// answers in place (the fast path) leaves its reply in the frame, and both
/// BPF_PROG_TEST_RUN modes reuse the frame's memory (normal mode runs again
/// on the same buffer; live-frames mode recycles page-pool pages without
/// re-initialising their data). The fast path rewrites nothing past
/// `REQUEST_HEAD_LEN` bytes of an IPv4 or ARP request, nothing past the
/// tail of an IPv6 one.
///
/// With `bpf_xdp_store_bytes`: the kernel's memcpy. An assignment of the
/// byte array compiles to a call to a `memmove` that copies one byte per
/// loop turn (~8 instructions a byte), which held the generator's rate down.
#[inline(always)]
fn restore_request(ctx: &XdpContext) -> bool {
    let Some(head) = REQUEST_HEAD.get_ptr(0) else {
        return false;
    };
    if !store(ctx, 0, head as *const u8, REQUEST_HEAD_LEN) {
        return false;
    }
    let Some(tail) = REQUEST_TAIL.get_ptr(0) else {
        return false;
    };
    // SAFETY: a map value, valid for this run; userspace writes it only
    // between runs.
    let tail = unsafe { &*tail };
    tail.len == 0 || store(ctx, REQUEST_HEAD_LEN, tail.bytes.as_ptr(), REQUEST_TAIL_LEN)
}

/// Copies `len` bytes from `src` (a map value) into the frame at `off`;
/// false when they do not fit in the frame.
#[inline(always)]
fn store(ctx: &XdpContext, off: usize, src: *const u8, len: usize) -> bool {
    // SAFETY: this run's xdp_md; `src` points at `len` readable bytes of a
    // map value, which the helper only reads; it checks `off + len`
    // against the frame itself.
    unsafe { bpf_xdp_store_bytes(ctx.ctx, off as u32, src as *mut c_void, len as u32) == 0 }
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
