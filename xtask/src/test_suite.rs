//! `cargo xtask test`: what CI runs. Formatting, clippy (the eBPF crates
//! too, with their pinned nightly), then every test of the workspace
//! (root-only integration tests included when run as root).
//!
//! Profile: everything here uses cargo's dev profile (`cargo test`'s own), so
//! clippy and the tests share build scripts (including the eBPF build) and a
//! developer's plain `cargo test` reuses CI's artifacts. `cargo xtask run`
//! builds release separately; CI never runs it.

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};

use crate::netns::is_root;
use crate::run::setup_if_missing;
use crate::setup::{Scope, NIGHTLY};
use crate::{cmd, target_dir, workspace_root};

/// One cargo invocation of the suite.
struct Step {
    what: String,
    args: Vec<String>,
}

impl Step {
    fn new(what: &str, args: &[&str]) -> Step {
        Step {
            what: what.to_string(),
            args: args.iter().map(|a| a.to_string()).collect(),
        }
    }
}

/// The eBPF crates: each its own workspace (excluded from ours), built for
/// bpfel-unknown-none with the pinned nightly by userspace/build.rs.
const EBPF_CRATES: &[&str] = &["xdp-ebpf", "xdp-lab-ebpf"];

fn steps() -> Vec<Step> {
    let mut steps = vec![Step::new(
        "format (workspace)",
        &["fmt", "--all", "--", "--check"],
    )];
    // `fmt --all` misses the eBPF crates and fuzz/ (own workspaces);
    // rustfmt needs no nightly to check them.
    for krate in EBPF_CRATES.iter().chain(&["fuzz"]) {
        let manifest = format!("{krate}/Cargo.toml");
        steps.push(Step::new(
            &format!("format ({krate})"),
            &["fmt", "--manifest-path", &manifest, "--", "--check"],
        ));
    }
    steps.push(Step::new(
        "clippy",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
    ));
    // The tests turn on xdpstack's `lab` feature (a dev-dependency on
    // itself), so the step above never sees the product build alone.
    steps.push(Step::new(
        "clippy (no lab)",
        &[
            "clippy", "-p", "xdpstack", "--lib", "--bins", "--", "-D", "warnings",
        ],
    ));
    // The eBPF crates with the nightly that builds them (clippy must be of
    // the same toolchain); their own target directory, shared by both.
    let ebpf_target = target_dir().join("ebpf-clippy").display().to_string();
    for krate in EBPF_CRATES {
        let manifest = format!("{krate}/Cargo.toml");
        steps.push(Step::new(
            &format!("clippy ({krate})"),
            &[
                &format!("+{NIGHTLY}"),
                "clippy",
                "--manifest-path",
                &manifest,
                "--locked",
                "--target",
                "bpfel-unknown-none",
                "-Z",
                "build-std=core",
                "--target-dir",
                &ebpf_target,
                "--",
                "-D",
                "warnings",
            ],
        ));
    }
    // --no-fail-fast: one run reports every failing test binary.
    steps.push(Step::new(
        "tests",
        &["test", "--workspace", "--no-fail-fast"],
    ));
    // Each fuzz target briefly (crate::fuzz::CI_SECONDS): a parser
    // regression that panics shows up here.
    steps.push(Step::new(
        "fuzz (20 s each)",
        &["xtask", "fuzz", "--time", "20"],
    ));
    steps
}

/// Runs every step even after a failure, so one CI run shows everything;
/// fails at the end if any step failed.
pub fn run() -> Result<()> {
    // Everything, cargo-fuzz and rustfmt/clippy included (the `run` part
    // leaves those out).
    setup_if_missing(Scope::Full)?;
    if !is_root() {
        println!("note: not root, so the root-only tests will skip themselves (CI runs as root)");
    }
    let steps = steps();
    let mut results: Vec<(&Step, bool, Duration)> = Vec::new();
    for step in &steps {
        println!("==> {}: cargo {}", step.what, step.args.join(" "));
        let start = Instant::now();
        let ok = match cmd::status_ok(
            Command::new("cargo")
                .args(&step.args)
                .current_dir(workspace_root()),
        ) {
            Ok(()) => true,
            Err(e) => {
                eprintln!("error: {e:#}");
                false
            }
        };
        results.push((step, ok, start.elapsed()));
    }
    println!();
    println!("xtask test summary:");
    for (step, ok, took) in &results {
        println!(
            "  {:<7} {:<22} {:>7.1}s  cargo {}",
            if *ok { "ok" } else { "FAILED" },
            step.what,
            took.as_secs_f64(),
            step.args.join(" ")
        );
    }
    let failed: Vec<&str> = results
        .iter()
        .filter(|(_, ok, _)| !ok)
        .map(|(s, _, _)| s.what.as_str())
        .collect();
    if !failed.is_empty() {
        bail!(
            "{} of {} steps failed ({}): see their output above",
            failed.len(),
            results.len(),
            failed.join(", ")
        );
    }
    println!("all {} steps passed", results.len());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_ebpf_crate_is_formatted_and_linted_with_the_pinned_nightly() {
        let steps = steps();
        for krate in EBPF_CRATES {
            let manifest = format!("{krate}/Cargo.toml");
            let of = |sub: &str| {
                steps
                    .iter()
                    .find(|s| s.args.contains(&sub.to_string()) && s.args.contains(&manifest))
                    .unwrap_or_else(|| panic!("no {sub} step for {krate}"))
            };
            assert!(of("fmt").args.contains(&"--check".to_string()));
            let clippy = of("clippy");
            assert_eq!(clippy.args[0], format!("+{NIGHTLY}"));
            assert!(clippy.args.ends_with(&["-D".into(), "warnings".into()]));
            assert!(workspace_root().join(&manifest).exists(), "{manifest}");
        }
    }
}
