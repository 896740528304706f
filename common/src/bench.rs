//! Shared by the bench programs in `xdp-lab-ebpf` (`loadgen`,
//! `cost_harness`) and `xdpstack loadgen`.

/// Bytes of the request that the bench programs write back over the frame
/// before each use: Ethernet (14) + IPv4 without options (20) + the ICMP
/// header (8), which is also a whole Ethernet ARP packet (14 + 28). The fast
/// path rewrites nothing beyond them.
pub const REQUEST_HEAD_LEN: usize = 42;

/// The slot of the measured program in the harness's program array.
pub const HARNESS_TARGET: u32 = 0;
