//! The bench and lab eBPF object (`xdp-lab-ebpf/`), apart from the
//! product's: `peer_counter` and `peer_sink` for the client end of a veth,
//! `loadgen`, `cost_harness`, `nop_tx` and `mac_swap` for `cargo xtask
//! bench`. Only with the `lab` feature; the daemon never loads it.

use anyhow::{Context, Result};
use aya::Ebpf;

/// The compiled lab object, built by `build.rs` from `xdp-lab-ebpf/`.
pub static LAB_OBJECT: &[u8] =
    aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/xdpstack-lab.bpf.o"));

/// Parses the lab object and creates its maps; its programs are loaded
/// one by one, by whoever needs them.
pub fn load() -> Result<Ebpf> {
    Ebpf::load(LAB_OBJECT).context("loading the lab eBPF object")
}
