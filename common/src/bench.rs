//! Shared by the bench programs in `xdp-lab-ebpf` (`loadgen`,
//! `cost_harness`) and `xdpstack loadgen`.

/// Bytes of the request that the bench programs write back over the frame
/// before each use: Ethernet (14) + IPv4 without options (20) + the ICMP
/// header (8), which is also a whole Ethernet ARP packet (14 + 28). The fast
/// path rewrites nothing beyond them in an IPv4 or ARP answer.
pub const REQUEST_HEAD_LEN: usize = 42;

/// Bytes after the head that an IPv6 answer rewrites too: an NS with a
/// source link-layer option becomes the NA in all of its 86 bytes (14 + 40
/// + 24 + 8); an ICMPv6 echo reply rewrites up to its checksum (byte 58).
pub const REQUEST_TAIL_LEN: usize = 44;

/// The tail the bench programs restore after the head when `len` is
/// `REQUEST_TAIL_LEN` (0: IPv4 and ARP requests, nothing more to restore).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestTail {
    pub len: u32,
    pub bytes: [u8; REQUEST_TAIL_LEN],
}

// SAFETY: repr(C), a u32 then 44 bytes: 48 bytes, no padding, every bit
// pattern valid.
#[cfg(feature = "user")]
unsafe impl aya::Pod for RequestTail {}

/// The slot of the measured program in the harness's program array.
pub const HARNESS_TARGET: u32 = 0;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_covers_an_ns_with_its_option() {
        assert_eq!(REQUEST_HEAD_LEN + REQUEST_TAIL_LEN, 14 + 40 + 24 + 8);
        assert_eq!(core::mem::size_of::<RequestTail>(), 4 + REQUEST_TAIL_LEN);
    }
}
