//! `cargo xtask test`: what CI runs. Formatting, clippy, then every test of
//! the workspace (root-only integration tests included when run as root).
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
use crate::setup::Scope;
use crate::{cmd, workspace_root};

/// One cargo invocation of the suite.
struct Step {
    what: &'static str,
    args: &'static [&'static str],
}

const STEPS: &[Step] = &[
    Step {
        what: "format (workspace)",
        args: &["fmt", "--all", "--", "--check"],
    },
    // xdp-ebpf is its own workspace (excluded from ours), so --all misses it;
    // rustfmt needs no nightly to check it.
    Step {
        what: "format (xdp-ebpf)",
        args: &[
            "fmt",
            "--manifest-path",
            "xdp-ebpf/Cargo.toml",
            "--",
            "--check",
        ],
    },
    // fuzz/ is its own workspace too (cargo-fuzz builds it with nightly).
    Step {
        what: "format (fuzz)",
        args: &["fmt", "--manifest-path", "fuzz/Cargo.toml", "--", "--check"],
    },
    Step {
        what: "clippy",
        args: &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
    },
    // --no-fail-fast: one run reports every failing test binary.
    Step {
        what: "tests",
        args: &["test", "--workspace", "--no-fail-fast"],
    },
    // Each fuzz target briefly (crate::fuzz::CI_SECONDS): a parser
    // regression that panics shows up here.
    Step {
        what: "fuzz (20 s each)",
        args: &["xtask", "fuzz", "--time", "20"],
    },
];

/// Runs every step even after a failure, so one CI run shows everything;
/// fails at the end if any step failed.
pub fn run() -> Result<()> {
    // Everything, cargo-fuzz and rustfmt/clippy included (the `run` part
    // leaves those out).
    setup_if_missing(Scope::Full)?;
    if !is_root() {
        println!("note: not root, so the root-only tests will skip themselves (CI runs as root)");
    }
    let mut results: Vec<(&Step, bool, Duration)> = Vec::new();
    for step in STEPS {
        println!("==> {}: cargo {}", step.what, step.args.join(" "));
        let start = Instant::now();
        let ok = match cmd::status_ok(
            Command::new("cargo")
                .args(step.args)
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
            "  {:<7} {:<20} {:>7.1}s  cargo {}",
            if *ok { "ok" } else { "FAILED" },
            step.what,
            took.as_secs_f64(),
            step.args.join(" ")
        );
    }
    let failed: Vec<&str> = results
        .iter()
        .filter(|(_, ok, _)| !ok)
        .map(|(s, _, _)| s.what)
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
