//! Frame capture (`xdpstack capture`): the record the XDP program writes into
//! the `CAPTURE` ring for each frame it sees while a capture client is
//! connected (`FLAG_CAPTURE` in the config), and how a verdict carries its
//! reason out of the program's handlers.

/// Bytes of each frame the program copies at most: the data size of its
/// per-CPU scratch record (the verifier wants a bound it can see). A ring
/// record carries the header and only the `caplen` bytes copied; a standard
/// 1514-byte Ethernet frame fits whole.
pub const CAPTURE_MAX: usize = 2048;

/// The frame came in (the verdict is the program's decision about it).
pub const DIR_IN: u8 = 0;
/// The frame is the reply the program built and sends with XDP_TX.
pub const DIR_OUT: u8 = 1;

/// The header of a record; `caplen` bytes of frame follow.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CaptureHeader {
    /// `bpf_ktime_get_ns` (CLOCK_MONOTONIC) when the program saw it.
    pub ts_ns: u64,
    /// The frame's length on the wire.
    pub len: u32,
    /// Bytes copied (`min(len, CAPTURE_MAX)`).
    pub caplen: u32,
    /// The XDP action returned for the frame.
    pub action: u32,
    /// The `Counter` index saying why (`verdict_reason`).
    pub reason: u32,
    /// `DIR_IN` or `DIR_OUT`.
    pub dir: u8,
    pub _pad: [u8; 7],
}

impl CaptureHeader {
    pub const SIZE: usize = core::mem::size_of::<CaptureHeader>();

    /// Reads a header from ring buffer bytes; `None` when too short.
    pub fn from_bytes(b: &[u8]) -> Option<Self> {
        if b.len() < Self::SIZE {
            return None;
        }
        let u32_at = |o: usize| u32::from_ne_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
        let mut ts = [0u8; 8];
        ts.copy_from_slice(&b[0..8]);
        Some(CaptureHeader {
            ts_ns: u64::from_ne_bytes(ts),
            len: u32_at(8),
            caplen: u32_at(12),
            action: u32_at(16),
            reason: u32_at(20),
            dir: b[24],
            _pad: [0; 7],
        })
    }
}

/// One ring record: header and frame bytes.
#[repr(C)]
pub struct CaptureRecord {
    pub hdr: CaptureHeader,
    pub data: [u8; CAPTURE_MAX],
}

/// The handlers return a verdict packed with its reason, so the capture can
/// say why without a second channel: the XDP action in the low byte (actions
/// are 0..=4), the `Counter` index above it. The program returns
/// `verdict_action` of it to the kernel.
pub const fn pack_verdict(action: u32, reason: u32) -> u32 {
    action | (reason << 8)
}

pub const fn verdict_action(v: u32) -> u32 {
    v & 0xff
}

pub const fn verdict_reason(v: u32) -> u32 {
    v >> 8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_unpack() {
        let v = pack_verdict(3, 17);
        assert_eq!((verdict_action(v), verdict_reason(v)), (3, 17));
        assert_eq!(verdict_action(pack_verdict(4, 0)), 4);
    }

    #[test]
    fn headers_read_back() {
        let h = CaptureHeader {
            ts_ns: 0x0102_0304_0506_0708,
            len: 98,
            caplen: 98,
            action: 3,
            reason: 1,
            dir: DIR_OUT,
            _pad: [0; 7],
        };
        // SAFETY: a repr(C) plain-data struct viewed as its bytes.
        let bytes = unsafe {
            core::slice::from_raw_parts(
                (&h as *const CaptureHeader).cast::<u8>(),
                CaptureHeader::SIZE,
            )
        };
        assert_eq!(CaptureHeader::from_bytes(bytes), Some(h));
        assert_eq!(CaptureHeader::from_bytes(&bytes[..20]), None);
    }
}
