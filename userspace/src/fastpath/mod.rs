//! The in-kernel half, seen from userspace: load the XDP program, configure
//! it, attach it, and read what it reports (verdict counters, neighbour
//! events). The program itself lives in `xdp-ebpf/`.

pub mod counters;
pub mod iface;
pub mod link;
pub mod loader;
pub mod peer;
pub mod reference;

pub use counters::XdpCounters;
pub use loader::{AttachMode, AttachOutcome, Fastpath};
