//! Bounds-checked access to the frame. Every read and write checks
//! `start + offset + size <= end` itself, right before the access, which is
//! the shape the verifier accepts.

use aya_ebpf::{bindings::xdp_md, programs::XdpContext};

pub struct Frame {
    ctx: *mut xdp_md,
    start: usize,
    end: usize,
}

impl Frame {
    #[inline(always)]
    pub fn new(ctx: &XdpContext) -> Self {
        Frame {
            ctx: ctx.ctx,
            start: ctx.data(),
            end: ctx.data_end(),
        }
    }

    /// Frame length in bytes.
    #[inline(always)]
    pub fn len(&self) -> usize {
        self.end - self.start
    }

    /// True for a frame of no bytes (which the kernel never passes).
    #[inline(always)]
    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }

    /// True when the frame holds at least `len` bytes.
    #[inline(always)]
    pub fn has(&self, len: usize) -> bool {
        self.start + len <= self.end
    }

    /// A pointer to `N` bytes at `off`, if they are inside the frame.
    #[inline(always)]
    pub fn bytes<const N: usize>(&self, off: usize) -> Option<*mut [u8; N]> {
        let p = self.start + off;
        if p + N > self.end {
            return None;
        }
        Some(p as *mut [u8; N])
    }

    /// Like `bytes`, but with `data_end` re-read through a volatile load.
    /// At variable offsets LLVM may otherwise prove the check redundant from
    /// earlier length checks and drop it; the verifier cannot follow that
    /// reasoning and needs the check right before the access.
    #[inline(always)]
    pub fn bytes_at_var<const N: usize>(&self, off: usize) -> Option<*mut [u8; N]> {
        // SAFETY: ctx points at the program's xdp_md for this invocation.
        let end = unsafe { core::ptr::read_volatile(&(*self.ctx).data_end) } as usize;
        let p = self.start + off;
        if p + N > end {
            return None;
        }
        Some(p as *mut [u8; N])
    }

    #[inline(always)]
    pub fn u8(&self, off: usize) -> Option<u8> {
        let p = self.bytes::<1>(off)?;
        // SAFETY: `bytes` checked that the byte is inside the frame; a byte
        // array has no alignment requirement.
        Some(unsafe { (*p)[0] })
    }

    #[inline(always)]
    pub fn u16_be(&self, off: usize) -> Option<u16> {
        let p = self.bytes::<2>(off)?;
        // SAFETY: both bytes are inside the frame (checked by `bytes`).
        Some(u16::from_be_bytes(unsafe { *p }))
    }

    /// A 16-bit word in host order, for checksum arithmetic (see common's
    /// `checksum` module: one's-complement sums are byte-order independent).
    #[inline(always)]
    pub fn u16_ne(&self, off: usize) -> Option<u16> {
        let p = self.bytes::<2>(off)?;
        // SAFETY: both bytes are inside the frame (checked by `bytes`).
        Some(u16::from_ne_bytes(unsafe { *p }))
    }

    #[inline(always)]
    pub fn set_u16_ne(&self, off: usize, v: u16) {
        if let Some(p) = self.bytes::<2>(off) {
            // SAFETY: inside the frame (checked by `bytes`), which XDP may
            // write; nothing else holds a reference to these bytes.
            unsafe { *p = v.to_ne_bytes() };
        }
    }

    /// Four bytes (an IPv4 address) as on the wire; zeros when out of bounds
    /// (callers check `has` first, so that never answers anything).
    #[inline(always)]
    pub fn ip(&self, off: usize) -> [u8; 4] {
        match self.bytes::<4>(off) {
            // SAFETY: the four bytes are inside the frame (checked by `bytes`).
            Some(p) => unsafe { *p },
            None => [0; 4],
        }
    }

    #[inline(always)]
    pub fn set_ip(&self, off: usize, v: [u8; 4]) {
        if let Some(p) = self.bytes::<4>(off) {
            // SAFETY: inside the frame (checked by `bytes`), which XDP may write.
            unsafe { *p = v };
        }
    }

    /// Six bytes (a MAC address); zeros when out of bounds. Read as one
    /// value the compiler must load here: a plain copy into a `set_mac`
    /// of the same frame was fused into a call to a byte-by-byte `memmove`
    /// (the two ranges might overlap), on the echo reply's path.
    #[inline(always)]
    pub fn mac(&self, off: usize) -> [u8; 6] {
        match self.bytes::<6>(off) {
            // SAFETY: the six bytes are inside the frame (checked by `bytes`);
            // a volatile read of them is a plain read.
            Some(p) => unsafe { core::ptr::read_volatile(p) },
            None => [0; 6],
        }
    }

    #[inline(always)]
    pub fn set_mac(&self, off: usize, v: [u8; 6]) {
        if let Some(p) = self.bytes::<6>(off) {
            // SAFETY: inside the frame (checked by `bytes`), which XDP may write.
            unsafe { *p = v };
        }
    }
}
