//! `cargo xtask fuzz [--time S] [TARGET...]`: runs the cargo-fuzz (libFuzzer)
//! targets of `fuzz/`, one after the other, each for `S` seconds.
//!
//! Each target starts from its committed seeds (`fuzz/corpus/<target>`, real
//! frames, see `fuzz/make-seeds.sh`) and keeps what it finds in
//! `target/fuzz-corpus/<target>`, so the committed seeds never change. A
//! crash leaves its input in `fuzz/artifacts/<target>/` and fails the task.
//! `cargo xtask test` runs every target briefly so CI catches a parser
//! regression.

use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Result};

use crate::setup::NIGHTLY;
use crate::{cmd, target_dir, workspace_root};

/// Every target in `fuzz/Cargo.toml`. (TCP: add `tcp` with `wire/tcp.rs`.)
pub const TARGETS: &[&str] = &[
    "ethernet", "arp", "ipv4", "icmpv4", "ipv6", "icmpv6", "udp", "tcp", "stack",
];

/// Seconds per target in `cargo xtask test`.
pub const CI_SECONDS: u64 = 20;

pub fn run(seconds: u64, only: &[String]) -> Result<()> {
    for t in only {
        if !TARGETS.contains(&t.as_str()) {
            bail!("no fuzz target {t}; the targets are {}", TARGETS.join(", "));
        }
    }
    let targets: Vec<&str> = if only.is_empty() {
        TARGETS.to_vec()
    } else {
        only.iter().map(String::as_str).collect()
    };
    let fuzz_dir = workspace_root().join("fuzz");
    // One build for all targets first, so the timings below are fuzzing only.
    println!("==> building the fuzz targets (cargo +{NIGHTLY} fuzz build -O)");
    cmd::status_ok(cargo_fuzz(&fuzz_dir).args(["build", "-O"]))?;
    let mut failed = Vec::new();
    for t in &targets {
        let work = target_dir().join("fuzz-corpus").join(t);
        std::fs::create_dir_all(&work)?;
        let seeds = fuzz_dir.join("corpus").join(t);
        println!("==> fuzz {t} for {seconds} s");
        let start = Instant::now();
        let result = cmd::status_ok(
            cargo_fuzz(&fuzz_dir)
                .args(["run", "-O", t])
                .arg(&work)
                .arg(&seeds)
                .arg("--")
                .arg(format!("-max_total_time={seconds}"))
                // A single input taking seconds is a bug too (a hang).
                .arg("-timeout=10")
                .arg("-rss_limit_mb=2048")
                .arg("-print_final_stats=1"),
        );
        println!(
            "    {t}: {} after {:.0} s",
            if result.is_ok() { "ok" } else { "FAILED" },
            start.elapsed().as_secs_f64()
        );
        if let Err(e) = result {
            eprintln!("error: {e:#}");
            failed.push(*t);
        }
    }
    if !failed.is_empty() {
        bail!(
            "fuzz target(s) {} found a crash: the input is in fuzz/artifacts/<target>/; \
             replay it with `cd fuzz && cargo +{NIGHTLY} fuzz run <target> <file>`",
            failed.join(", ")
        );
    }
    println!(
        "all {} fuzz targets ran {seconds} s without a crash",
        targets.len()
    );
    Ok(())
}

/// `cargo +NIGHTLY fuzz` in `fuzz/`, in a plain environment: the flags of
/// the `cargo run` that started xtask are not for this build.
fn cargo_fuzz(fuzz_dir: &std::path::Path) -> Command {
    let mut c = Command::new("cargo");
    c.arg(format!("+{NIGHTLY}"))
        .arg("fuzz")
        .current_dir(fuzz_dir)
        .env_remove("RUSTUP_TOOLCHAIN")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("LD_LIBRARY_PATH");
    c
}
