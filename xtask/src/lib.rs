//! Developer tasks for xdpstack (`cargo xtask ...`), and the lab library that
//! the userspace crate's root-only integration tests share.
//!
//! - [`netns`]: network namespaces joined by a veth pair (the lab);
//! - [`setup`]: installs or verifies the toolchains, packages and kernel
//!   prerequisites (`cargo xtask setup`);
//! - [`bench`]: `cargo xtask bench`, xdpstack against the Linux kernel;
//! - [`fuzz`]: `cargo xtask fuzz`, the cargo-fuzz targets;
//! - [`install`]: `cargo xtask install`, the binary, the systemd unit, man
//!   pages and completions;
//! - [`lab`], [`run`], [`test_suite`], [`trace`]: the other subcommands;
//! - [`cmd`]: running external commands with one-line errors.
//!
//! Dependencies stay few and pure Rust (anyhow, clap; serde and plotters for
//! the bench): this crate must build on a fresh machine with only stable
//! Rust, before `setup` has installed anything.

pub mod bench;
pub mod cmd;
pub mod fuzz;
pub mod install;
pub mod lab;
pub mod netns;
pub mod run;
pub mod setup;
pub mod test_suite;
pub mod trace;

use std::path::{Path, PathBuf};

/// The workspace root (the folder holding the top-level `Cargo.toml`).
pub fn workspace_root() -> PathBuf {
    // xtask/ sits directly under the root; the path is fixed at compile time.
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().unwrap_or(manifest_dir).to_path_buf()
}

/// Where cargo puts build output: `$CARGO_TARGET_DIR` if set, else `target/`.
pub fn target_dir() -> PathBuf {
    let root = workspace_root();
    match std::env::var_os("CARGO_TARGET_DIR") {
        // A relative CARGO_TARGET_DIR is relative to where cargo runs, which
        // is the workspace root for every cargo command xtask starts.
        Some(dir) => root.join(dir),
        None => root.join("target"),
    }
}
