//! The multi-queue rows: xdpstack with one worker and stack shard per RX
//! queue against the kernel, in labs whose veth ends have 1, 2 and 4
//! queues (each lab measures both, interleaved round by round).
//!
//! - userspace-path echo rate (`--fastpath off`, so every echo request goes
//!   through AF_XDP to a shard): `loadgen flood` from one sending thread per
//!   CPU (a veth delivers XDP_TX'd frames on the peer's RX queue numbered
//!   after the sending CPU, so the flood covers min(queues, cores) queues),
//!   with the daemon's CPU time per frame and the machine's softirq time per
//!   answered request in kernel mode;
//! - `ping -f` round trips through the userspace path, without and with
//!   `--busy-poll`, beside the kernel's;
//! - TCP_RR (64 connections, spread over the queues by the client's TX
//!   hash) against xdpstack's echo with 1 and 2 queues, beside a kernel
//!   echo server in the same lab.

use std::fs;
use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::Serialize;

use super::cpu;
use super::modes::{BenchLab, Load, Mode};
use super::ping::{self, PingResult};
use super::rr::Server;
use super::BenchOptions;
use crate::netns::STACK_ADDR;

/// Everything the multi-queue rows measured.
#[derive(Clone, Debug, Serialize)]
pub struct MultiqueueReport {
    /// CPUs of the machine: the generator, both veth ends' softirqs and
    /// every worker share them.
    pub cores: usize,
    pub rounds: u32,
    pub pps: Vec<PpsRow>,
    pub ping: Vec<PingRow>,
    pub tcp_rr: Vec<RrRow>,
}

/// Echo requests answered per second with `queues` queues (medians over
/// rounds).
#[derive(Clone, Debug, Serialize)]
pub struct PpsRow {
    pub queues: u32,
    /// CPUs the generator sent from (one thread each).
    pub generator_cpus: Vec<usize>,
    pub kernel_pps: f64,
    pub xdpstack_pps: f64,
    pub ratio: f64,
    /// The machine's softirq time per answered request in kernel mode (the
    /// kernel answers inside softirq), in ns.
    pub kernel_softirq_ns_per_packet: f64,
    /// The daemon's utime + stime per received frame, in ns.
    pub daemon_ns_per_packet: f64,
    /// Frames each queue's socket received in the last round.
    pub rx_per_queue: Vec<u64>,
    /// Frames handed between shards in the last round (echo requests are
    /// answered where they land: expected 0).
    pub handoffs: u64,
}

/// One `ping -f` configuration (median average RTT over rounds).
#[derive(Clone, Debug, Serialize)]
pub struct PingRow {
    pub label: String,
    pub rtt_avg_ms: f64,
    pub rtt_min_ms: f64,
    /// rtt_avg over the kernel's in the same rounds.
    pub ratio_to_kernel: f64,
    /// The daemon's CPU seconds per second of the flood (1.0: one core).
    pub daemon_cores: Option<f64>,
}

/// TCP_RR with `queues` queues (medians over rounds).
#[derive(Clone, Debug, Serialize)]
pub struct RrRow {
    pub queues: u32,
    pub kernel_trans_per_s: f64,
    pub xdpstack_trans_per_s: f64,
    pub ratio: f64,
    pub daemon_ns_per_frame: f64,
    pub kernel_softirq_ns_per_packet: f64,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.retain(|x| x.is_finite());
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 {
        a / b
    } else {
        0.0
    }
}

fn softirq_ticks() -> Result<u64> {
    let stat = fs::read_to_string("/proc/stat").context("reading /proc/stat")?;
    Ok(cpu::parse_proc_stat(&stat)
        .context("no cpu line in /proc/stat")?
        .softirq)
}

/// Every multi-queue row, `opts.rounds` rounds each.
pub fn measure(binary: &Path, opts: &BenchOptions) -> Result<MultiqueueReport> {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let hz = cpu::clock_ticks();
    let rounds = opts.rounds.max(1);
    let mut pps = Vec::new();
    for queues in [1u32, 2, 4] {
        super::check_interrupted()?;
        let mut lab = BenchLab::with_queues(binary, &opts.out_dir, queues)?;
        lab.flood_cpus = (0..cores.min(queues as usize)).collect();
        lab.daemon_args = vec!["--queues".into(), queues.to_string()];
        let (mut k, mut x, mut soft, mut dcpu) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let (mut rx_per_queue, mut handoffs) = (Vec::new(), 0);
        for r in 0..rounds {
            let order = if r % 2 == 0 {
                [Mode::Kernel, Mode::Userspace]
            } else {
                [Mode::Userspace, Mode::Kernel]
            };
            for mode in order {
                super::check_interrupted()?;
                eprintln!(
                    "multiqueue: {queues} queue(s), round {}, {}",
                    r + 1,
                    mode.name()
                );
                lab.set_mode(mode)?;
                // The responder learns the client's MAC before the flood:
                // under it, an ARP reply would wait behind a full RX ring
                // and the run would measure the ARP retry timer.
                let primed = lab
                    .client()
                    .exec(["ping", "-c", "1", "-W", "2", STACK_ADDR])?;
                if !primed.status.success() {
                    bail!("{}: no answer to a ping before the flood", mode.name());
                }
                if mode == Mode::Kernel {
                    let before = softirq_ticks()?;
                    let f = lab.flood(&Load::ECHO_56, opts.duration, None)?;
                    let after = softirq_ticks()?;
                    k.push(f.answered_pps);
                    let s = after.saturating_sub(before) as f64 / hz;
                    soft.push(if f.answered > 0 {
                        s / f.answered as f64 * 1e9
                    } else {
                        f64::NAN
                    });
                } else {
                    let (f, d) =
                        lab.daemon_cpu_during(|| lab.flood(&Load::ECHO_56, opts.duration, None))?;
                    x.push(f.answered_pps);
                    if let Some(d) = d {
                        dcpu.push(d.ns_per_rx_frame);
                    }
                    let stats = lab.daemon_stats()?;
                    let xsk = stats["xsk"].as_array().cloned().unwrap_or_default();
                    rx_per_queue = xsk
                        .iter()
                        .map(|s| s["rx_frames"].as_u64().unwrap_or(0))
                        .collect();
                    handoffs = xsk
                        .iter()
                        .map(|s| s["handoff_out"].as_u64().unwrap_or(0))
                        .sum();
                }
            }
        }
        lab.set_mode(Mode::None)?;
        let (kp, xp) = (median(k), median(x));
        pps.push(PpsRow {
            queues,
            generator_cpus: lab.flood_cpus.clone(),
            kernel_pps: kp,
            xdpstack_pps: xp,
            ratio: ratio(xp, kp),
            kernel_softirq_ns_per_packet: median(soft),
            daemon_ns_per_packet: median(dcpu),
            rx_per_queue,
            handoffs,
        });
    }

    // Ping floods and TCP_RR: one lab with 1 queue, one with 2.
    let mut ping_rows = Vec::new();
    let mut rr = Vec::new();
    for queues in [1u32, 2] {
        super::check_interrupted()?;
        let mut lab = BenchLab::with_queues(binary, &opts.out_dir, queues)?;
        let base = vec!["--queues".to_string(), queues.to_string()];
        let (mut kr, mut xr, mut dns, mut ksoft) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut pings: Vec<(String, Vec<PingResult>, Vec<f64>)> = Vec::new();
        for r in 0..rounds {
            // Kernel, userspace path, userspace path with busy polling.
            let configs: [(&str, Mode, Vec<String>); 3] = [
                ("kernel", Mode::Kernel, Vec::new()),
                ("userspace", Mode::Userspace, base.clone()),
                ("userspace --busy-poll", Mode::Userspace, {
                    let mut a = base.clone();
                    a.push("--busy-poll".into());
                    a
                }),
            ];
            for (label, mode, args) in configs {
                if queues != 1 && label.contains("busy") {
                    // Busy polling is measured once, on one queue.
                    continue;
                }
                super::check_interrupted()?;
                eprintln!(
                    "multiqueue: ping -f, {queues} queue(s), round {}, {label}",
                    r + 1
                );
                lab.daemon_args = args;
                lab.set_mode(mode)?;
                let pid = lab.daemon_pid();
                let t0 = daemon_ticks(pid);
                let started = std::time::Instant::now();
                let p = lab.with_client_peer(|| ping::flood(lab.client(), opts.ping_count))?;
                let cores_used = match (t0, daemon_ticks(pid)) {
                    (Some(a), Some(b)) => {
                        (b.saturating_sub(a)) as f64 / hz / started.elapsed().as_secs_f64()
                    }
                    _ => f64::NAN,
                };
                let name = format!(
                    "{label}, {queues} queue{}",
                    if queues == 1 { "" } else { "s" }
                );
                match pings.iter_mut().find(|(n, _, _)| *n == name) {
                    Some(e) => {
                        e.1.push(p);
                        e.2.push(cores_used);
                    }
                    None => pings.push((name, vec![p], vec![cores_used])),
                }
            }
            for mode in [Mode::Kernel, Mode::Fastpath] {
                super::check_interrupted()?;
                eprintln!(
                    "multiqueue: TCP_RR, {queues} queue(s), round {}, {}",
                    r + 1,
                    mode.name()
                );
                lab.daemon_args = base.clone();
                lab.set_mode(mode)?;
                let run = lab.tcp_rr(mode, Server::Threads, opts.duration)?;
                if mode == Mode::Kernel {
                    kr.push(run.trans_per_s);
                    if let Some(c) = &run.cpu {
                        ksoft.push(c.softirq_ns_per_packet);
                    }
                } else {
                    xr.push(run.trans_per_s);
                    if let Some(d) = run.cpu.as_ref().and_then(|c| c.daemon.as_ref()) {
                        dns.push(d.ns_per_rx_frame);
                    }
                }
            }
        }
        lab.set_mode(Mode::None)?;
        let kernel_rtt = pings
            .iter()
            .find(|(n, _, _)| n.starts_with("kernel"))
            .map(|(_, v, _)| median(v.iter().map(|p| p.rtt_avg_ms).collect()))
            .unwrap_or(0.0);
        for (label, v, c) in pings {
            let avg = median(v.iter().map(|p| p.rtt_avg_ms).collect());
            let daemon = median(c);
            ping_rows.push(PingRow {
                ratio_to_kernel: ratio(avg, kernel_rtt),
                rtt_min_ms: median(v.iter().map(|p| p.rtt_min_ms).collect()),
                rtt_avg_ms: avg,
                daemon_cores: (!label.starts_with("kernel") && daemon.is_finite())
                    .then_some(daemon),
                label,
            });
        }
        let (k, x) = (median(kr), median(xr));
        rr.push(RrRow {
            queues,
            kernel_trans_per_s: k,
            xdpstack_trans_per_s: x,
            ratio: ratio(x, k),
            daemon_ns_per_frame: median(dns),
            kernel_softirq_ns_per_packet: median(ksoft),
        });
    }
    Ok(MultiqueueReport {
        cores,
        rounds,
        pps,
        ping: ping_rows,
        tcp_rr: rr,
    })
}

/// utime + stime of `pid`, in ticks.
fn daemon_ticks(pid: Option<u32>) -> Option<u64> {
    let text = fs::read_to_string(format!("/proc/{}/stat", pid?)).ok()?;
    cpu::parse_pid_stat(&text).map(|(u, s)| u + s)
}

/// The rows as a table.
pub fn table(m: &MultiqueueReport) -> String {
    use std::fmt::Write;
    let mut t = String::new();
    let _ = writeln!(
        t,
        "\nmulti-queue ({} cores shared by the generator, both veth ends and the workers; median of {} rounds)",
        m.cores, m.rounds
    );
    let _ = writeln!(
        t,
        "  userspace-path echo (56 B)  queues  generator CPUs      kernel pps   xdpstack pps  ratio  daemon ns/pkt  kernel softirq ns/pkt  rx per queue"
    );
    for r in &m.pps {
        let _ = writeln!(
            t,
            "  {:>35}  {:>13?}  {:>12.0}  {:>12.0}  {:>5.2}  {:>13.0}  {:>21.0}  {:?}",
            r.queues,
            r.generator_cpus,
            r.kernel_pps,
            r.xdpstack_pps,
            r.ratio,
            r.daemon_ns_per_packet,
            r.kernel_softirq_ns_per_packet,
            r.rx_per_queue
        );
    }
    let _ = writeln!(
        t,
        "  ping -f                              avg RTT ms  min RTT ms  x kernel  daemon cores"
    );
    for p in &m.ping {
        let _ = writeln!(
            t,
            "  {:<35}  {:>10.4}  {:>10.4}  {:>8.2}  {:>12}",
            p.label,
            p.rtt_avg_ms,
            p.rtt_min_ms,
            p.ratio_to_kernel,
            p.daemon_cores
                .map_or("-".to_string(), |c| format!("{c:.2}"))
        );
    }
    let _ = writeln!(t, "  TCP_RR (64 conns)  queues  kernel trans/s  xdpstack trans/s  ratio  daemon ns/frame  kernel softirq ns/pkt");
    for r in &m.tcp_rr {
        let _ = writeln!(
            t,
            "  {:>24}  {:>14.0}  {:>16.0}  {:>5.2}  {:>15.0}  {:>21.0}",
            r.queues,
            r.kernel_trans_per_s,
            r.xdpstack_trans_per_s,
            r.ratio,
            r.daemon_ns_per_frame,
            r.kernel_softirq_ns_per_packet
        );
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_ratios_skip_what_was_not_measured() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![f64::NAN, 4.0]), 4.0);
        assert_eq!(median(Vec::new()), 0.0);
        assert_eq!(ratio(1.0, 0.0), 0.0);
        assert_eq!(ratio(3.0, 2.0), 1.5);
    }
}
