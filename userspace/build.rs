//! Builds the XDP program (`xdp-ebpf/`) with the pinned nightly for the
//! `bpfel-unknown-none` target and puts the object in `OUT_DIR`, where
//! `fastpath::loader` embeds it with `include_bytes!`.
//!
//! The eBPF crate is its own cargo workspace, so the host build never tries
//! to compile it for the host; `cargo xtask setup` installs the toolchain
//! and `bpf-linker` this needs.

use std::env;
use std::path::PathBuf;
use std::process::Command;

/// Keep in sync with `xtask/src/setup.rs` (the one place that installs it).
const EBPF_TOOLCHAIN: &str = "nightly-2026-10-15";

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let ebpf_dir = manifest_dir.join("../xdp-ebpf");
    let common_dir = manifest_dir.join("../common");
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets it"));
    for dir in [&ebpf_dir, &common_dir] {
        println!("cargo:rerun-if-changed={}/src", dir.display());
        println!("cargo:rerun-if-changed={}/Cargo.toml", dir.display());
    }
    println!("cargo:rerun-if-changed={}/Cargo.lock", ebpf_dir.display());

    let target_dir = out_dir.join("ebpf-target");
    let mut cmd = Command::new("rustup");
    cmd.args([
        "run",
        EBPF_TOOLCHAIN,
        "cargo",
        "build",
        "--release",
        "--locked",
    ])
    .args(["--target", "bpfel-unknown-none", "-Z", "build-std=core"])
    .arg("--target-dir")
    .arg(&target_dir)
    .current_dir(&ebpf_dir);
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
        Err(e) => fail(&format!("could not run rustup ({e})")),
    };
    if !status.success() {
        fail(&format!(
            "building the XDP program with {EBPF_TOOLCHAIN} failed ({status})"
        ));
    }
    let object = target_dir.join("bpfel-unknown-none/release/xdpstack");
    let dest = out_dir.join("xdpstack.bpf.o");
    if let Err(e) = std::fs::copy(&object, &dest) {
        fail(&format!(
            "the XDP object {} is missing ({e})",
            object.display()
        ));
    }
}

fn fail(what: &str) -> ! {
    eprintln!(
        "error: {what}.\n\
         The eBPF build needs the {EBPF_TOOLCHAIN} toolchain with rust-src and bpf-linker:\n\
         run `cargo xtask setup` once, then build again."
    );
    std::process::exit(1);
}
