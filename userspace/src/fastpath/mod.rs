//! The in-kernel half, seen from userspace: load the XDP program, configure
//! it, attach it, and read what it reports (verdict counters, neighbour
//! events). The program itself lives in `xdp-ebpf/`.
//!
//! With the `lab` feature (the bench, the lab and the tests), also the lab
//! object (`xdp-lab-ebpf/`: [`lab`], [`peer`]) and the fast path's test
//! oracle ([`reference`]); the product library has neither.
#![deny(clippy::undocumented_unsafe_blocks)]

pub mod counters;
pub mod iface;
#[cfg(feature = "lab")]
pub mod lab;
pub mod link;
pub mod loader;
#[cfg(feature = "lab")]
pub mod peer;
#[cfg(feature = "lab")]
pub mod reference;

pub use counters::XdpCounters;
pub use loader::{AttachMode, AttachOutcome, Fastpath};
