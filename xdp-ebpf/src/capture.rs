//! Copies of frames for `xdpstack capture`. XDP sees a frame before the
//! kernel's packet taps, and its XDP_TX replies never pass them, so the
//! program itself copies what it sees into the `CAPTURE` ring while the
//! daemon has a capture client (`FLAG_CAPTURE`). Without one the cost is
//! the flag test in `xdpstack()`.

use aya_ebpf::{
    bindings::xdp_action,
    helpers::{bpf_ktime_get_ns, generated::bpf_xdp_load_bytes},
    macros::map,
    maps::RingBuf,
    programs::XdpContext,
};
use xdpstack_common::{
    capture::{verdict_action, verdict_reason, CaptureRecord, CAPTURE_MAX, DIR_IN, DIR_OUT},
    config::FastpathConfig,
    counters::Counter,
};

use crate::{count, decide};

/// BPF_RB_NO_WAKEUP: a wakeup is an irq_work (a self-interrupt), due on
/// every record while the reader keeps up; without it a captured frame cost
/// about 10% less here (`loadgen cost --capture`). The daemon drains the
/// ring every few milliseconds while a capture runs instead
/// (`daemon::CAPTURE_POLL`).
const NO_WAKEUP: u64 = 1;

/// Fixed-size records (`CaptureRecord`, ~2 KiB): 2048 frames in flight.
#[map]
static CAPTURE: RingBuf = RingBuf::with_byte_size(4 * 1024 * 1024, 0);

/// Decides the frame as without a capture, recording it first: the request
/// is copied before a handler rewrites it into its reply, and the reply is
/// copied after. A redirected frame is not recorded here: the daemon records
/// it where it arrives (`xsk rx`), so each frame shows once.
#[inline(always)]
pub fn run(ctx: &XdpContext, cfg: &FastpathConfig) -> u32 {
    let entry = CAPTURE.reserve::<CaptureRecord>(0);
    let ts = match &entry {
        Some(e) => {
            let rec = e.as_ptr() as *mut CaptureRecord;
            fill(ctx, rec, DIR_IN)
        }
        None => 0,
    };
    let v = decide(ctx, cfg);
    let action = verdict_action(v);
    match entry {
        Some(e) if action != xdp_action::XDP_REDIRECT => {
            let rec = e.as_ptr() as *mut CaptureRecord;
            // SAFETY: `rec` is the reserved record, ours until submitted.
            unsafe {
                (*rec).hdr.action = action;
                (*rec).hdr.reason = verdict_reason(v);
            }
            e.submit(NO_WAKEUP);
            count(Counter::CaptureFrames);
        }
        Some(e) => e.discard(0),
        None => count(Counter::CaptureLost),
    }
    if action == xdp_action::XDP_TX {
        match CAPTURE.reserve::<CaptureRecord>(0) {
            Some(e) => {
                let rec = e.as_ptr() as *mut CaptureRecord;
                fill(ctx, rec, DIR_OUT);
                // SAFETY: as above; the reply leaves with the request's
                // verdict, and shares its timestamp when that was taken.
                unsafe {
                    (*rec).hdr.action = action;
                    (*rec).hdr.reason = verdict_reason(v);
                    if ts != 0 {
                        (*rec).hdr.ts_ns = ts;
                    }
                }
                e.submit(NO_WAKEUP);
                count(Counter::CaptureFrames);
            }
            None => count(Counter::CaptureLost),
        }
    }
    action
}

/// Copies the frame into a reserved record and fills its header but the
/// verdict; returns the timestamp.
#[inline(always)]
fn fill(ctx: &XdpContext, rec: *mut CaptureRecord, dir: u8) -> u64 {
    let len = ctx.data_end() - ctx.data();
    let n = if len > CAPTURE_MAX { CAPTURE_MAX } else { len };
    // The mask keeps the size within [1, CAPTURE_MAX] where the verifier can
    // see it; for 1..=CAPTURE_MAX it is the identity (CAPTURE_MAX is a
    // power of two).
    let n = ((n.wrapping_sub(1)) & (CAPTURE_MAX - 1)) + 1;
    // SAFETY: a helper without arguments.
    let ts = unsafe { bpf_ktime_get_ns() };
    // SAFETY: `rec` is a reserved ring record of `CaptureRecord` size, so
    // `data` has room for CAPTURE_MAX >= n bytes; the helper checks the
    // frame's bounds itself and fails instead of reading past them.
    let copied =
        unsafe { bpf_xdp_load_bytes(ctx.ctx, 0, (*rec).data.as_mut_ptr().cast(), n as u32) };
    // SAFETY: as above, the record is ours until submitted.
    unsafe {
        (*rec).hdr.ts_ns = ts;
        (*rec).hdr.len = len as u32;
        (*rec).hdr.caplen = if copied == 0 { n as u32 } else { 0 };
        (*rec).hdr.action = 0;
        (*rec).hdr.reason = 0;
        (*rec).hdr.dir = dir;
        (*rec).hdr._pad = [0; 7];
    }
    ts
}
