//! What both eBPF objects share: bounds-checked access to the frame
//! ([`packet::Frame`]). The product's XDP program is this crate's binary
//! (`main.rs`); the bench and lab programs are in `xdp-lab-ebpf/`, built
//! into an object of their own that the daemon never loads.
#![no_std]
#![deny(clippy::undocumented_unsafe_blocks)]

pub mod packet;
