//! Copies of frames for `xdpstack capture`. XDP sees a frame before the
//! kernel's packet taps, and its XDP_TX replies never pass them, so the
//! program itself copies what it sees into the `CAPTURE` ring while the
//! daemon has a capture client (`FLAG_CAPTURE`). Without one the cost is
//! the flag test in `xdpstack()`.

use aya_ebpf::{
    bindings::xdp_action,
    helpers::{bpf_ktime_get_ns, generated::bpf_xdp_load_bytes},
    macros::map,
    maps::{PerCpuArray, RingBuf},
    programs::XdpContext,
};
use xdpstack_common::{
    capture::{
        verdict_action, verdict_reason, CaptureHeader, CaptureRecord, CAPTURE_MAX, DIR_IN, DIR_OUT,
    },
    counters::Counter,
};

use crate::count;

/// BPF_RB_NO_WAKEUP: a wakeup is an irq_work (a self-interrupt), due on
/// every record while the reader keeps up; without it a captured frame cost
/// about 10% less here (`loadgen cost --capture`). The daemon drains the
/// ring every few milliseconds while a capture runs instead
/// (`daemon::CAPTURE_POLL`).
const NO_WAKEUP: u64 = 1;

/// Records of the header and the frame's bytes (`send`): about 30000
/// small frames or 2700 full-size ones in flight.
#[map]
static CAPTURE: RingBuf = RingBuf::with_byte_size(4 * 1024 * 1024, 0);

/// Where a frame is copied before the handlers run: one record per CPU.
/// Nothing of the capture is live while `decide` runs (no ring reservation,
/// no pointer, no flag), so the verifier checks the handlers once for both
/// ways into them; reserving the record around `decide` had it check them
/// twice, past its million-instruction budget once IPv6 was in.
#[map]
static SCRATCH: PerCpuArray<CaptureRecord> = PerCpuArray::with_max_entries(1, 0);

/// Copies the frame as it came into this CPU's scratch record, before a
/// handler rewrites it into its reply.
#[inline(always)]
pub fn before(ctx: &XdpContext) {
    if let Some(rec) = SCRATCH.get_ptr_mut(0) {
        // SAFETY: a helper without arguments.
        let ts = unsafe { bpf_ktime_get_ns() };
        fill(ctx, rec, DIR_IN, ts);
    }
}

/// Sends the scratch copy with the verdict `v`, and for an XDP_TX answer a
/// copy of the reply. A redirected frame is not sent here: the daemon
/// records it where it arrives (`xsk rx`), so each frame shows once.
#[inline(always)]
pub fn after(ctx: &XdpContext, v: u32) {
    let action = verdict_action(v);
    if action == xdp_action::XDP_REDIRECT {
        return;
    }
    let Some(rec) = SCRATCH.get_ptr_mut(0) else {
        return;
    };
    // SAFETY: this CPU's scratch record; XDP runs with preemption off, so
    // nothing else uses it until this program returns.
    let ts = unsafe {
        (*rec).hdr.action = action;
        (*rec).hdr.reason = verdict_reason(v);
        (*rec).hdr.ts_ns
    };
    send(rec);
    if action == xdp_action::XDP_TX {
        // The reply keeps the verdict just written and shares the request's
        // timestamp: the program made both in one run.
        fill(ctx, rec, DIR_OUT, ts);
        send(rec);
    }
}

/// Puts the scratch record's header and the bytes it holds of the frame
/// into the ring, or counts it lost. Only `caplen` bytes travel: a 98-byte
/// echo request costs a 130-byte record, not the scratch record's 2 KiB.
#[inline(always)]
fn send(rec: *mut CaptureRecord) {
    // SAFETY: `rec` is this CPU's scratch record (see `after`).
    let caplen = unsafe { (*rec).hdr.caplen } as usize;
    // Read back from the map value, `caplen` is unbounded to the verifier:
    // the mask bounds it to [1, CAPTURE_MAX] (the identity there, as in
    // `fill`), and a failed copy (0) sends the header alone.
    let n = if caplen == 0 {
        0
    } else {
        ((caplen.wrapping_sub(1)) & (CAPTURE_MAX - 1)) + 1
    };
    // SAFETY: the record is `CaptureHeader::SIZE + CAPTURE_MAX` bytes and
    // `n <= CAPTURE_MAX`, so the slice stays inside this CPU's record.
    let bytes: &[u8] =
        unsafe { core::slice::from_raw_parts(rec.cast::<u8>(), CaptureHeader::SIZE + n) };
    match CAPTURE.output::<[u8]>(bytes, NO_WAKEUP) {
        Ok(()) => count(Counter::CaptureFrames),
        Err(_) => count(Counter::CaptureLost),
    }
}

/// Copies the frame into a record and fills its header but the verdict.
/// The verdict and the padding are left as they are: `after` writes the
/// verdict before each send, and the padding is never written (zero).
/// Each header field is one store: a struct-wide assignment would become a
/// call to a byte-by-byte `memset`.
#[inline(always)]
fn fill(ctx: &XdpContext, rec: *mut CaptureRecord, dir: u8, ts: u64) {
    let len = ctx.data_end() - ctx.data();
    let n = if len > CAPTURE_MAX { CAPTURE_MAX } else { len };
    // The mask keeps the size within [1, CAPTURE_MAX] where the verifier can
    // see it; for 1..=CAPTURE_MAX it is the identity (CAPTURE_MAX is a
    // power of two).
    let n = ((n.wrapping_sub(1)) & (CAPTURE_MAX - 1)) + 1;
    // SAFETY: `rec` is a record of `CaptureRecord` size, so `data` has room
    // for CAPTURE_MAX >= n bytes; the helper checks the frame's bounds
    // itself and fails instead of reading past them.
    let copied =
        unsafe { bpf_xdp_load_bytes(ctx.ctx, 0, (*rec).data.as_mut_ptr().cast(), n as u32) };
    // SAFETY: as above, the record is this CPU's.
    unsafe {
        (*rec).hdr.ts_ns = ts;
        (*rec).hdr.len = len as u32;
        (*rec).hdr.caplen = if copied == 0 { n as u32 } else { 0 };
        (*rec).hdr.dir = dir;
    }
}
