//! `cargo xtask bench --only cost`: the per-packet cost section alone, with
//! no capture client and with one (`xdpstack loadgen cost [--capture]`), for
//! changes to the XDP program that need no lab. It runs no namespaces, so it
//! may run beside another bench's lab; its figures go to stdout and
//! `cost.json` in the output directory. With a capture on, a long test run
//! (the default 1000000 repetitions) outruns the thread draining the ring
//! and the lost copies are cheaper than the made ones: the README's figures
//! use `--cost-repeat 1000 --cost-trials 31`, where none is lost.

use anyhow::{Context, Result};
use serde::Serialize;

use super::report::CostReport;
use super::{measure_cost, BenchOptions};
use crate::netns::is_root;
use crate::run::{build, Profile};

#[derive(Serialize)]
struct CostOnly<'a> {
    command: &'a str,
    cost_repeat: u32,
    cost_trials: u32,
    loadavg: [String; 2],
    cost: CostReport,
    cost_capture: CostReport,
}

pub fn run(opts: &BenchOptions) -> Result<()> {
    if !is_root() {
        anyhow::bail!("`cargo xtask bench --only cost` needs root (BPF_PROG_TEST_RUN)");
    }
    let binary = match &opts.binary {
        Some(b) => b.clone(),
        None => build(Profile::Release)?,
    };
    let load_start = loadavg();
    let cost = measure_cost(&binary, opts, false)?;
    let cost_capture = measure_cost(&binary, opts, true)?;
    print!("{}", table(&cost, &cost_capture));
    let report = CostOnly {
        command: &opts.command,
        cost_repeat: opts.cost_repeat,
        cost_trials: opts.cost_trials,
        loadavg: [load_start, loadavg()],
        cost,
        cost_capture,
    };
    std::fs::create_dir_all(&opts.out_dir)
        .with_context(|| format!("creating {}", opts.out_dir.display()))?;
    let path = opts.out_dir.join("cost.json");
    std::fs::write(&path, serde_json::to_string_pretty(&report)?)
        .with_context(|| format!("writing {}", path.display()))?;
    println!("wrote {}", path.display());
    Ok(())
}

/// The cases side by side: the fast path's own cost without and with a
/// capture client, ns per packet (harness subtracted).
fn table(off: &CostReport, on: &CostReport) -> String {
    let mut t = format!(
        "{:<14} {:>12} {:>12}\n",
        "case", "capture off", "capture on"
    );
    for c in &off.cases {
        let with = on
            .cases
            .iter()
            .find(|o| o.kind == c.kind && o.payload == c.payload)
            .map_or_else(|| "-".to_string(), |o| format!("{:.1}", o.fastpath_ns));
        t.push_str(&format!(
            "{:<14} {:>12.1} {:>12}\n",
            c.label(),
            c.fastpath_ns,
            with
        ));
    }
    if let Some(cap) = &on.capture {
        t.push_str(&format!(
            "capture on: {} copies, {} lost (ring full), {} drained\n",
            cap.copies, cap.lost, cap.drained
        ));
    }
    t
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}
