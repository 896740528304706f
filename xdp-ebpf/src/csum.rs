//! The Internet checksum over a variable-length part of the frame.
//!
//! Summing 16 bits at a time in a loop would cost about a microsecond for a
//! full-size echo request. `bpf_csum_diff` runs the kernel's optimised
//! `csum_partial` instead, but takes constant sizes that are multiples of 4
//! and at most 512 bytes; so the length is cut into 256-byte blocks, then a
//! binary decomposition of the rest, then the last 0-3 bytes by hand.

use aya_ebpf::helpers::bpf_csum_diff;

use xdp_ebpf::packet::Frame;

/// Blocks of 256 bytes: 5 cover the largest ICMP message of a 1500-byte MTU
/// (1480 bytes). Longer messages (jumbo frames) go to userspace.
const BLOCK: usize = 256;
const MAX_BLOCKS: usize = 5;

#[inline(always)]
fn block<const N: usize>(f: &Frame, off: usize) -> Option<u64> {
    let p = f.bytes_at_var::<N>(off)?;
    // SAFETY: `p` points at N bytes inside the frame; N is a multiple of 4.
    let s = unsafe { bpf_csum_diff(core::ptr::null_mut(), 0, p as *mut u32, N as u32, 0) };
    if s < 0 {
        return None;
    }
    Some(s as u32 as u64)
}

/// The one's-complement sum (unfolded) of `len` bytes at `start`, with
/// 16-bit words in host order; `None` when out of bounds or too long.
#[inline(always)]
pub fn sum(f: &Frame, start: usize, len: usize) -> Option<u64> {
    let mut acc: u64 = 0;
    let mut off: usize = 0;
    for _ in 0..MAX_BLOCKS {
        if off + BLOCK > len {
            break;
        }
        acc += block::<BLOCK>(f, start + off)?;
        off += BLOCK;
    }
    if off + BLOCK <= len {
        return None;
    }
    macro_rules! tail {
        ($($n:literal)*) => {$(
            if off + $n <= len {
                acc += block::<$n>(f, start + off)?;
                off += $n;
            }
        )*};
    }
    tail!(128 64 32 16 8 4);
    if off + 2 <= len {
        let p = f.bytes_at_var::<2>(start + off)?;
        // SAFETY: both bytes are inside the frame (checked by `bytes_at_var`).
        acc += u16::from_ne_bytes(unsafe { *p }) as u64;
        off += 2;
    }
    if off < len {
        // An odd last byte is padded with a zero byte (RFC 1071 4.1).
        let p = f.bytes_at_var::<1>(start + off)?;
        // SAFETY: the byte is inside the frame (checked by `bytes_at_var`).
        acc += u16::from_ne_bytes([unsafe { (*p)[0] }, 0]) as u64;
    }
    Some(acc)
}

/// Folds a 64-bit one's-complement accumulator to 16 bits.
#[inline(always)]
pub fn fold(mut acc: u64) -> u16 {
    acc = (acc & 0xffff_ffff) + (acc >> 32);
    acc = (acc & 0xffff_ffff) + (acc >> 32);
    xdpstack_common::checksum::fold(acc as u32)
}
