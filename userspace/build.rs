//! Builds the eBPF objects with the pinned nightly for the
//! `bpfel-unknown-none` target and puts them in `OUT_DIR`, where
//! `fastpath::loader` (and, with the `lab` feature, `fastpath::lab`) embed
//! them with `include_bytes!`:
//! - `xdpstack.bpf.o` from `xdp-ebpf/`: the product's XDP program alone,
//!   the only object the daemon loads;
//! - `xdpstack-lab.bpf.o` from `xdp-lab-ebpf/`, only with the `lab`
//!   feature: the bench and lab programs (`peer_counter`, `loadgen`, ...).
//!
//! Each eBPF crate is its own cargo workspace, so the host build never tries
//! to compile it for the host. The toolchain is the one pinned in
//! `xdp-ebpf/rust-toolchain.toml`; `cargo xtask setup` installs it and the
//! `bpf-linker` this needs.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The file that pins the eBPF toolchain, relative to `userspace/`.
const TOOLCHAIN_FILE: &str = "../xdp-ebpf/rust-toolchain.toml";

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets it"));
    let toolchain_file = manifest_dir.join(TOOLCHAIN_FILE);
    println!("cargo:rerun-if-changed={}", toolchain_file.display());
    let toolchain = match std::fs::read_to_string(&toolchain_file) {
        Ok(text) => match channel(&text) {
            Some(c) => c.to_string(),
            None => fail(
                "?",
                &format!("{} names no `channel`", toolchain_file.display()),
            ),
        },
        Err(e) => fail("?", &format!("reading {}: {e}", toolchain_file.display())),
    };
    let common_dir = manifest_dir.join("../common");
    println!("cargo:rerun-if-changed={}/src", common_dir.display());
    println!("cargo:rerun-if-changed={}/Cargo.toml", common_dir.display());

    // One target directory for both: they share core and aya-ebpf.
    let target_dir = out_dir.join("ebpf-target");
    let product = manifest_dir.join("../xdp-ebpf");
    build(&toolchain, &product, "xdpstack", &target_dir, &out_dir);
    if env::var_os("CARGO_FEATURE_LAB").is_some() {
        let lab = manifest_dir.join("../xdp-lab-ebpf");
        build(&toolchain, &lab, "xdpstack-lab", &target_dir, &out_dir);
    }
}

/// Builds the eBPF crate in `dir`, whose binary is `bin`, and copies the
/// object to `OUT_DIR/<bin>.bpf.o`.
fn build(toolchain: &str, dir: &Path, bin: &str, target_dir: &Path, out_dir: &Path) {
    for path in ["src", "Cargo.toml", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={}/{path}", dir.display());
    }
    let mut cmd = Command::new("rustup");
    cmd.args(["run", toolchain, "cargo", "build", "--release", "--locked"])
        .args(["--target", "bpfel-unknown-none", "-Z", "build-std=core"])
        .arg("--target-dir")
        .arg(target_dir)
        .current_dir(dir);
    // The outer cargo's settings are for the host build; the inner one picks
    // its own toolchain and flags. BTF lets bpftool show the maps' types.
    for var in [
        "RUSTC",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTFLAGS",
        "RUSTUP_TOOLCHAIN",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
    ] {
        cmd.env_remove(var);
    }
    cmd.env(
        "CARGO_ENCODED_RUSTFLAGS",
        "-Cdebuginfo=2\x1f-Clink-arg=--btf",
    );

    let status = match cmd.status() {
        Ok(s) => s,
        Err(e) => fail(toolchain, &format!("could not run rustup ({e})")),
    };
    if !status.success() {
        fail(
            toolchain,
            &format!(
                "building {} with {toolchain} failed ({status})",
                dir.display()
            ),
        );
    }
    let object = target_dir.join("bpfel-unknown-none/release").join(bin);
    let dest = out_dir.join(format!("{bin}.bpf.o"));
    if let Err(e) = std::fs::copy(&object, &dest) {
        fail(
            toolchain,
            &format!("the eBPF object {} is missing ({e})", object.display()),
        );
    }
}

/// The `channel = "..."` of a rust-toolchain.toml (the same reading as
/// xtask's `setup::toolchain_channel`).
fn channel(toml: &str) -> Option<&str> {
    toml.lines().find_map(|line| {
        let value = line.trim().strip_prefix("channel")?.trim_start();
        let value = value.strip_prefix('=')?.trim();
        value.strip_prefix('"')?.strip_suffix('"')
    })
}

fn fail(toolchain: &str, what: &str) -> ! {
    eprintln!(
        "error: {what}.\n\
         The eBPF build needs the {toolchain} toolchain (pinned in xdp-ebpf/rust-toolchain.toml) \
         with rust-src, and bpf-linker:\n\
         run `cargo xtask setup` once, then build again."
    );
    std::process::exit(1);
}
