//! The IPv6 rows of `cargo xtask bench`: the fast path's in-kernel answers
//! to ICMPv6 echo (RFC 4443 4.1) and Neighbor Solicitation (RFC 4861 7.2.4)
//! against the Linux kernel's, with the IPv4 rows' method: the same lab,
//! generator (`xdpstack loadgen flood --kind echo6|ns`) and reply counting
//! on the client veth, in the same rounds; a `ping -6 -f` flood; bpf_stats
//! of the live program; and the per-packet cost by BPF_PROG_TEST_RUN
//! (`xdpstack loadgen cost --ipv6`).
//!
//! Only the kernel and the fast path are compared: TCP and UDP aside, the
//! userspace path answers nothing of IPv6 that the fast path would not.
//! `cargo xtask bench --only ipv6` runs these rows alone.

use std::fmt::Write;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result};
use serde::Serialize;

use super::modes::{BenchLab, Flood, Load, Mode};
use super::ping::{self, PingResult};
use super::report::{
    load_summaries, CostCase, CostReport, LoadSpread, LoadSummary, Machine, Spread, TargetCheck,
};
use super::{check_interrupted, cpu, BenchOptions, Progress};
use crate::cmd;

/// The modes the IPv6 rows run in.
pub(super) const MODES: [Mode; 2] = [Mode::Kernel, Mode::Fastpath];
/// ICMPv6 echo of `ping -6`'s default size, and NS as Linux resolves.
pub(super) const LOADS: [Load; 2] = [Load::ECHO6_56, Load::NS];
/// Steps `measure` reports per mode: ping, floods, and in fast-path mode
/// one bpf_stats flood per load.
pub(super) fn steps_per_round() -> u32 {
    (MODES.len() * (1 + LOADS.len()) + LOADS.len()) as u32
}

/// One mode's IPv6 measurements in one round.
#[derive(Debug, Serialize)]
pub struct Ipv6Run {
    pub mode: String,
    /// `ping -6 -f -c N -q` at fd00:10:10::4.
    pub ping6: PingResult,
    /// One per [`LOADS`], in that order.
    pub floods: Vec<Flood>,
    /// Fast path only: the same floods with bpf_stats on.
    pub live_stats: Vec<Flood>,
}

#[derive(Debug, Serialize)]
pub struct Ipv6Round {
    pub index: u32,
    pub order: Vec<String>,
    pub modes: Vec<Ipv6Run>,
}

/// What results.json holds under `ipv6`.
#[derive(Debug, Serialize)]
pub struct Ipv6Results {
    /// `loadgen cost --ipv6`: NS, echo6 64 B and a 1514-byte echo6 frame.
    pub cost: CostReport,
    pub summary: Ipv6Summary,
    pub targets: Vec<TargetCheck>,
    pub rounds: Vec<Ipv6Round>,
}

#[derive(Debug, Serialize)]
pub struct Ipv6Summary {
    pub modes: Vec<Ipv6ModeSummary>,
    /// Per-round fastpath/kernel ratios (same round, same neighbours).
    pub answered_pps_ratio: Vec<LoadSpread>,
    pub ping6_rtt_avg_ratio: Spread,
    pub ping6_rate_ratio: Spread,
    /// Fast path bpf_stats during the floods: ns per run.
    pub live_ns_per_run: Vec<LoadSpread>,
}

#[derive(Debug, Serialize)]
pub struct Ipv6ModeSummary {
    pub mode: String,
    pub ping6_rtt_avg_ms: Spread,
    pub ping6_rtt_min_ms: Spread,
    pub ping6_rtt_max_ms: Spread,
    pub ping6_rate_pps: Spread,
    pub ping6_loss: Spread,
    pub loads: Vec<LoadSummary>,
}

/// The IPv6 rows of `mode`, which `lab` is in already.
pub(super) fn measure(
    lab: &BenchLab,
    mode: Mode,
    opts: &BenchOptions,
    progress: &mut Progress,
    round: u32,
) -> Result<Ipv6Run> {
    let what = |s: &str| {
        format!(
            "round {}/{}: {}, IPv6 {s}",
            round + 1,
            opts.rounds,
            mode.name()
        )
    };
    check_interrupted()?;
    progress.step(&what(&format!("ping -6 -f -c {}", opts.ping_count)));
    let ping6 = lab.with_client_peer(|| ping::flood6(lab.client(), opts.ping_count))?;
    let mut floods = Vec::new();
    for load in LOADS {
        check_interrupted()?;
        progress.step(&what(&format!("flood {}", load.label())));
        floods.push(lab.flood(&load, opts.duration, None)?);
    }
    let mut live_stats = Vec::new();
    if mode == Mode::Fastpath {
        if let Some(id) = lab.stack_prog_id()? {
            for load in LOADS {
                check_interrupted()?;
                progress.step(&what(&format!("bpf_stats, flood {}", load.label())));
                live_stats.push(lab.flood(&load, opts.duration.min(1.0), Some(id))?);
            }
        }
    }
    Ok(Ipv6Run {
        mode: mode.name().to_string(),
        ping6,
        floods,
        live_stats,
    })
}

/// `xdpstack loadgen cost --ipv6`.
pub(super) fn measure_cost(binary: &Path, opts: &BenchOptions) -> Result<CostReport> {
    check_interrupted()?;
    let out = cmd::stdout_ok(Command::new(binary).args([
        "loadgen",
        "cost",
        "--ipv6",
        "--repeat",
        &opts.cost_repeat.to_string(),
        "--trials",
        &opts.cost_trials.to_string(),
    ]))?;
    serde_json::from_str(&out).with_context(|| format!("reading loadgen cost's output: {out}"))
}

impl Ipv6Results {
    pub fn new(cost: CostReport, rounds: Vec<Ipv6Round>) -> Ipv6Results {
        let summary = summarize(&rounds);
        let targets = check_targets(&summary, &cost);
        Ipv6Results {
            cost,
            summary,
            targets,
            rounds,
        }
    }
}

fn runs(rounds: &[Ipv6Round], mode: Mode) -> Vec<&Ipv6Run> {
    rounds
        .iter()
        .flat_map(|r| r.modes.iter().filter(|m| m.mode == mode.name()))
        .collect()
}

fn summarize(rounds: &[Ipv6Round]) -> Ipv6Summary {
    let modes = MODES
        .iter()
        .map(|&mode| {
            let runs = runs(rounds, mode);
            let ping = |f: fn(&PingResult) -> f64| {
                Spread::of(&runs.iter().map(|m| f(&m.ping6)).collect::<Vec<_>>())
            };
            let floods: Vec<&[Flood]> = runs.iter().map(|m| m.floods.as_slice()).collect();
            let loads = load_summaries(&LOADS, &floods);
            Ipv6ModeSummary {
                mode: mode.name().to_string(),
                ping6_rtt_avg_ms: ping(|p| p.rtt_avg_ms),
                ping6_rtt_min_ms: ping(|p| p.rtt_min_ms),
                ping6_rtt_max_ms: ping(|p| p.rtt_max_ms),
                ping6_rate_pps: ping(|p| p.rate_pps),
                ping6_loss: ping(|p| p.loss),
                loads,
            }
        })
        .collect();
    let pairs: Vec<(&Ipv6Run, &Ipv6Run)> = rounds
        .iter()
        .filter_map(|r| {
            let find = |m: Mode| r.modes.iter().find(|x| x.mode == m.name());
            Some((find(Mode::Fastpath)?, find(Mode::Kernel)?))
        })
        .collect();
    let ratio_of = |f: &dyn Fn(&Ipv6Run) -> Option<f64>| {
        Spread::of(
            &pairs
                .iter()
                .filter_map(|(m, k)| Some(f(m)? / f(k)?))
                .collect::<Vec<_>>(),
        )
    };
    let answered_pps_ratio = LOADS
        .iter()
        .enumerate()
        .map(|(i, load)| LoadSpread {
            load: load.label(),
            value: ratio_of(&|m| m.floods.get(i).map(|f| f.answered_pps)),
        })
        .collect();
    let fast = runs(rounds, Mode::Fastpath);
    let live_ns_per_run = LOADS
        .iter()
        .enumerate()
        .map(|(i, load)| LoadSpread {
            load: load.label(),
            value: Spread::of(
                &fast
                    .iter()
                    .filter_map(|m| m.live_stats.get(i)?.prog_stats.as_ref())
                    .map(|s| s.ns_per_run)
                    .collect::<Vec<_>>(),
            ),
        })
        .collect();
    Ipv6Summary {
        modes,
        answered_pps_ratio,
        ping6_rtt_avg_ratio: ratio_of(&|m| Some(m.ping6.rtt_avg_ms)),
        ping6_rate_ratio: ratio_of(&|m| Some(m.ping6.rate_pps)),
        live_ns_per_run,
    }
}

/// Issue 13's target: the IPv4 rows' ratios, on IPv6.
fn check_targets(summary: &Ipv6Summary, cost: &CostReport) -> Vec<TargetCheck> {
    let mut targets = Vec::new();
    for l in &summary.answered_pps_ratio {
        let r = l.value;
        targets.push(TargetCheck {
            target: format!(
                "IPv6: fastpath answers >= 3x the kernel's peak packet rate ({})",
                l.load
            ),
            measured: format!("{:.2}x (median; {:.2}-{:.2})", r.median, r.min, r.max),
            met: r.median >= 3.0,
        });
    }
    let rtt = summary.ping6_rtt_avg_ratio;
    targets.push(TargetCheck {
        target: "IPv6: fastpath ping -6 -f average RTT <= 0.7x the kernel's".into(),
        measured: format!("{:.2}x (median; {:.2}-{:.2})", rtt.median, rtt.min, rtt.max),
        met: rtt.median <= 0.7,
    });
    for case in &cost.cases {
        targets.push(TargetCheck {
            target: format!(
                "IPv6: fast path costs <= 1.5x the MAC-swap reference ({})",
                label(case)
            ),
            measured: format!(
                "{:.2}x own cost ({:.1} vs {:.1} ns); {:.2}x per whole test-run repetition",
                case.ratio, case.fastpath_ns, case.mac_swap_ns, case.ratio_with_harness
            ),
            met: case.ratio <= 1.5,
        });
    }
    targets
}

fn label(c: &CostCase) -> String {
    match c.kind.as_str() {
        "ns" => "neighbor solicit".into(),
        kind => format!("{kind} {} B", c.payload),
    }
}

fn kpps(pps: f64) -> String {
    if pps >= 1e6 {
        format!("{:.2}M", pps / 1e6)
    } else {
        format!("{:.0}k", pps / 1e3)
    }
}

fn spread_pps(s: &Spread) -> String {
    format!("{} [{}-{}]", kpps(s.median), kpps(s.min), kpps(s.max))
}

fn spread_ratio(s: &Spread) -> String {
    format!("{:.2}x [{:.2}-{:.2}]", s.median, s.min, s.max)
}

fn spread_us(s: &Spread) -> String {
    format!(
        "{:.1} [{:.1}-{:.1}]",
        s.median * 1e3,
        s.min * 1e3,
        s.max * 1e3
    )
}

/// The IPv6 part of the table printed at the end.
pub fn table(res: &Ipv6Results, ping_count: u32, cost_repeat: u32) -> String {
    let mut t = String::new();
    let s = &res.summary;
    let _ = writeln!(t, "\nIPv6 fast path: answered packets per second");
    let _ = writeln!(
        t,
        "{:<10} {:>20} {:>20} {:>20} {:>14}",
        "load", "kernel", "fastpath", "fastpath/kernel", "fastpath loss"
    );
    for (i, load) in LOADS.iter().enumerate() {
        let cell = |mode: usize| spread_pps(&s.modes[mode].loads[i].answered_pps);
        let _ = writeln!(
            t,
            "{:<10} {:>20} {:>20} {:>20} {:>13.1}%",
            load.label(),
            cell(0),
            cell(1),
            spread_ratio(&s.answered_pps_ratio[i].value),
            s.modes[1].loads[i].loss.median * 100.0
        );
    }
    let _ = writeln!(t, "\nping -6 -f -c {ping_count} (RTT in µs)");
    let _ = writeln!(
        t,
        "{:<10} {:>18} {:>18} {:>18} {:>20} {:>8}",
        "mode", "avg", "min", "max", "rate pps", "loss"
    );
    for m in &s.modes {
        let _ = writeln!(
            t,
            "{:<10} {:>18} {:>18} {:>18} {:>20} {:>7.2}%",
            m.mode,
            spread_us(&m.ping6_rtt_avg_ms),
            spread_us(&m.ping6_rtt_min_ms),
            spread_us(&m.ping6_rtt_max_ms),
            spread_pps(&m.ping6_rate_pps),
            m.ping6_loss.median * 100.0
        );
    }
    let _ = writeln!(
        t,
        "fastpath/kernel      avg RTT {}, rate {}",
        spread_ratio(&s.ping6_rtt_avg_ratio),
        spread_ratio(&s.ping6_rate_ratio)
    );
    let _ = writeln!(
        t,
        "\nIPv6 per-packet cost, BPF_PROG_TEST_RUN x {cost_repeat} (ns per packet, harness subtracted)"
    );
    let _ = writeln!(
        t,
        "{:<18} {:>10} {:>10} {:>8} {:>16} {:>14}",
        "case", "fast path", "mac_swap", "ratio", "whole-run ratio", "harness alone"
    );
    for c in &res.cost.cases {
        let _ = writeln!(
            t,
            "{:<18} {:>10.1} {:>10.1} {:>7.2}x {:>15.2}x {:>14.1}",
            label(c),
            c.fastpath_ns,
            c.mac_swap_ns,
            c.ratio,
            c.ratio_with_harness,
            super::report::median_of(&c.harness_empty_ns),
        );
    }
    let live: Vec<String> = s
        .live_ns_per_run
        .iter()
        .map(|l| {
            format!(
                "{} {:.1} ns/run [{:.1}-{:.1}]",
                l.load, l.value.median, l.value.min, l.value.max
            )
        })
        .collect();
    let _ = writeln!(
        t,
        "live fast path during IPv6 floods (bpf_stats): {}",
        live.join(", ")
    );
    let _ = writeln!(t, "\nIPv6 targets");
    for target in &res.targets {
        let _ = writeln!(
            t,
            "  [{}] {}: {}",
            if target.met { "met" } else { "MISSED" },
            target.target,
            target.measured
        );
    }
    t
}

/// `cargo xtask bench --only ipv6`'s results.json.
#[derive(Debug, Serialize)]
pub struct Ipv6Only {
    pub command: String,
    pub date: String,
    pub machine: Machine,
    pub rounds: u32,
    pub duration_s: f64,
    pub ping_count: u32,
    pub cost_repeat: u32,
    pub cost_trials: u32,
    pub elapsed_s: f64,
    pub loadavg_start: [f64; 3],
    pub loadavg_end: [f64; 3],
    pub ipv6: Ipv6Results,
}

/// `cargo xtask bench --only ipv6`: the IPv6 rows alone, kernel and fast
/// path interleaved round by round as in the whole bench; writes
/// `results-ipv6.json` beside the whole bench's results.
pub(super) fn run_only(binary: &Path, opts: &BenchOptions) -> Result<Ipv6Only> {
    let started = Instant::now();
    let date = super::date_now();
    let loadavg_start = cpu::loadavg();
    let mut progress = Progress::with_total(1 + opts.rounds * steps_per_round());
    progress.step("IPv6 per-packet cost (BPF_PROG_TEST_RUN)");
    let cost = measure_cost(binary, opts)?;
    let mut lab = BenchLab::new(binary, &opts.out_dir)?;
    let mut rounds = Vec::new();
    for r in 0..opts.rounds {
        let mut order = MODES.to_vec();
        order.rotate_left(r as usize % MODES.len());
        let mut round = Ipv6Round {
            index: r + 1,
            order: order.iter().map(|m| m.name().to_string()).collect(),
            modes: Vec::new(),
        };
        for mode in order {
            check_interrupted()?;
            lab.set_mode(mode)?;
            round
                .modes
                .push(measure(&lab, mode, opts, &mut progress, r)?);
        }
        rounds.push(round);
    }
    drop(lab);
    progress.done();
    let results = Ipv6Only {
        command: opts.command.clone(),
        date,
        machine: Machine::here(),
        rounds: opts.rounds,
        duration_s: opts.duration,
        ping_count: opts.ping_count,
        cost_repeat: opts.cost_repeat,
        cost_trials: opts.cost_trials,
        elapsed_s: started.elapsed().as_secs_f64(),
        loadavg_start,
        loadavg_end: cpu::loadavg(),
        ipv6: Ipv6Results::new(cost, rounds),
    };
    let json_path = opts.out_dir.join("results-ipv6.json");
    std::fs::write(&json_path, serde_json::to_string_pretty(&results)?)
        .with_context(|| format!("writing {}", json_path.display()))?;
    println!(
        "\nxdpstack bench, IPv6 rows only, {} ({} cores), Linux {}, {}",
        results.machine.cpu_model, results.machine.cores, results.machine.kernel, results.date
    );
    println!(
        "{} rounds, {} s per flood; median [min-max] over rounds; load average (1 min) {:.2} -> {:.2}",
        opts.rounds, opts.duration, loadavg_start[0], results.loadavg_end[0]
    );
    print!(
        "{}",
        table(&results.ipv6, opts.ping_count, opts.cost_repeat)
    );
    println!("\nwrote {}", json_path.display());
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::modes::ProgStats;

    fn flood(kind: &str, answered_pps: f64, ns_per_run: Option<f64>) -> Flood {
        Flood {
            kind: kind.into(),
            payload: 0,
            frame_len: 86,
            offered: 1000,
            answered: 900,
            other: 0,
            elapsed_s: 1.0,
            offered_pps: 1e6,
            answered_pps,
            loss: 0.1,
            prog_stats: ns_per_run.map(|ns| ProgStats {
                prog_id: 1,
                name: "xdpstack".into(),
                run_cnt: 10,
                run_time_ns: 10,
                ns_per_run: ns,
            }),
        }
    }

    fn ping(rtt_avg_ms: f64) -> PingResult {
        PingResult {
            transmitted: 10,
            received: 10,
            loss: 0.0,
            time_ms: 1.0,
            rtt_min_ms: rtt_avg_ms,
            rtt_avg_ms,
            rtt_max_ms: rtt_avg_ms,
            rtt_mdev_ms: 0.0,
            rate_pps: 1.0 / rtt_avg_ms,
        }
    }

    fn run(mode: Mode, echo: f64, ns: f64, rtt: f64) -> Ipv6Run {
        let live = mode == Mode::Fastpath;
        Ipv6Run {
            mode: mode.name().into(),
            ping6: ping(rtt),
            floods: vec![flood("echo6", echo, None), flood("ns", ns, None)],
            live_stats: if live {
                vec![
                    flood("echo6", echo, Some(40.0)),
                    flood("ns", ns, Some(50.0)),
                ]
            } else {
                vec![]
            },
        }
    }

    fn empty_cost() -> CostReport {
        CostReport {
            method: String::new(),
            cases: vec![],
            capture: None,
        }
    }

    #[test]
    fn ratios_are_per_round_and_targets_follow_them() {
        let rounds = vec![
            Ipv6Round {
                index: 1,
                order: vec!["kernel".into(), "fastpath".into()],
                modes: vec![
                    run(Mode::Kernel, 100.0, 200.0, 0.010),
                    run(Mode::Fastpath, 400.0, 500.0, 0.005),
                ],
            },
            Ipv6Round {
                index: 2,
                order: vec!["fastpath".into(), "kernel".into()],
                modes: vec![
                    run(Mode::Fastpath, 300.0, 500.0, 0.004),
                    run(Mode::Kernel, 50.0, 250.0, 0.010),
                ],
            },
        ];
        let res = Ipv6Results::new(empty_cost(), rounds);
        let s = &res.summary;
        // echo6: 4x and 6x -> median 5x; ns: 2.5x and 2x -> 2.25x.
        assert_eq!(s.answered_pps_ratio[0].load, "echo6 56");
        assert_eq!(s.answered_pps_ratio[0].value.median, 5.0);
        assert_eq!(s.answered_pps_ratio[1].load, "ns");
        assert_eq!(s.answered_pps_ratio[1].value.median, 2.25);
        assert!((s.ping6_rtt_avg_ratio.median - 0.45).abs() < 1e-9);
        assert_eq!(s.live_ns_per_run[1].value.median, 50.0);
        assert_eq!(s.modes[0].mode, "kernel");
        assert_eq!(s.modes[1].loads[0].answered_pps.max, 400.0);
        let met: Vec<bool> = res.targets.iter().map(|t| t.met).collect();
        assert_eq!(met, [true, false, true]);
        let text = table(&res, 10, 1000);
        assert!(text.contains("echo6 56"), "{text}");
        assert!(
            text.contains("[MISSED] IPv6: fastpath answers >= 3x"),
            "{text}"
        );
    }
}
