//! Definitions shared by the XDP programs (`xdp-ebpf`, and the bench and lab
//! programs of `xdp-lab-ebpf`) and the userspace stack.
//!
//! `no_std`, no allocation: header field offsets, protocol constants, the
//! layouts of the maps both sides read (config, counters, neighbour events)
//! and the checksum arithmetic. The kernel runs the same arithmetic that the
//! unit tests check.
#![no_std]

pub mod bench;
pub mod capture;
pub mod checksum;
pub mod config;
pub mod counters;
pub mod layout;
pub mod neigh;

/// Names of the maps and programs in the product's eBPF object
/// (`xdp-ebpf`), so both sides agree.
pub mod names {
    pub const PROGRAM: &str = "xdpstack";
    pub const CONFIG_MAP: &str = "CONFIG";
    pub const COUNTERS_MAP: &str = "COUNTERS";
    pub const XSKS_MAP: &str = "XSKS";
    pub const NEIGH_EVENTS_MAP: &str = "NEIGH_EVENTS";
    pub const CAPTURE_MAP: &str = "CAPTURE";

    /// The bench and lab object (`xdp-lab-ebpf`).
    pub mod lab {
        pub const MAC_SWAP_PROGRAM: &str = "mac_swap";
        pub const PEER_PROGRAM: &str = "peer_counter";
        pub const PEER_SINK_PROGRAM: &str = "peer_sink";
        pub const PEER_COUNTERS_MAP: &str = "PEER_COUNTERS";
        pub const LOADGEN_PROGRAM: &str = "loadgen";
        pub const HARNESS_PROGRAM: &str = "cost_harness";
        pub const NOP_TX_PROGRAM: &str = "nop_tx";
        pub const REQUEST_HEAD_MAP: &str = "REQUEST_HEAD";
        pub const REQUEST_TAIL_MAP: &str = "REQUEST_TAIL";
        pub const HARNESS_PROGS_MAP: &str = "HARNESS_PROGS";
    }
}
