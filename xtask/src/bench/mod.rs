//! `cargo xtask bench`: the fast path against the userspace path against
//! the Linux kernel, in one lab, with one generator, modes interleaved
//! round by round.
//!
//! Each round puts the stack end in every mode in turn (the order rotates
//! from round to round) and measures, per mode:
//! - a ping flood as users run it (`ping -f -c N -q`), see [`ping`];
//! - the packet rate: `xdpstack loadgen flood` (BPF_PROG_TEST_RUN live
//!   frames from the client veth) with echo requests of 56, 512 and 1472
//!   data bytes and with ARP requests, replies counted on the client veth;
//! - in fast-path mode, bpf_stats (`run_time_ns / run_cnt`) of the live
//!   program during an extra flood (stats cost time, so not during the others);
//! - in kernel and fast-path modes, TCP bulk throughput (the client kernel
//!   sending into discard, port 9) and UDP echo round trips per second
//!   (port 7), see [`transport`]: xdpstack's built-in services against
//!   kernel-socket servers in the stack namespace;
//! - in the same modes, TCP bulk the other way: the client reads from
//!   chargen (port 19, RFC 864), xdpstack's or a kernel-socket server's,
//!   checking every byte; then both directions again over a client link
//!   that drops 1% of frames each way ([`modes::LOSSY_LINK`]);
//! - in the same modes, TCP request/response against echo (TCP 7): TCP_RR
//!   (64 connections, 1 byte each way) and TCP_CRR (connect, 1 byte each
//!   way, close), with the CPU they cost (daemon CPU per frame, softirq per
//!   packet), see [`rr`] and [`cpu`]; the kernel twice, with a
//!   thread-per-connection server and with a one-thread poll(2) server;
//! - in the xdpstack modes, the daemon's memory at the end.
//!
//! Once per round: the generator's ceiling (nothing answering). Once per
//! run: the per-packet cost (`xdpstack loadgen cost`), with no capture client
//! and with one (`--capture`). The IPv6 rows (ICMPv6 echo and NS floods,
//! `ping -6 -f`, their per-packet cost) run in the same rounds, see
//! [`ipv6`]; `--only ipv6` runs them alone. Results go to stdout
//! (a table), `target/bench/results.json` and `target/bench/bench.png`.

mod chart;
pub mod cost;
mod cpu;
pub mod ipv6;
mod modes;
mod multiqueue;
mod ping;
mod report;
mod rr;
mod tcp_only;
mod transport;

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::{bail, Context, Result};

use crate::netns::is_root;
use crate::run::{build, Profile};
use crate::{cmd, target_dir};
use modes::{BenchLab, Load, Mode};
use report::{CostReport, ModeRun, Results, Round, Settings};
use rr::Server;

/// What `cargo xtask bench` was asked for.
#[derive(Clone, Debug)]
pub struct BenchOptions {
    pub rounds: u32,
    /// Seconds per generator flood.
    pub duration: f64,
    /// Echo requests per `ping -f`.
    pub ping_count: u32,
    /// Repetitions per BPF_PROG_TEST_RUN of the per-packet cost.
    pub cost_repeat: u32,
    pub cost_trials: u32,
    /// Bytes per TCP bulk transfer into discard.
    pub tcp_bytes: u64,
    /// Where results.json and bench.png go.
    pub out_dir: PathBuf,
    /// Use this xdpstack binary instead of building the release one.
    pub binary: Option<PathBuf>,
    /// The command line, recorded in results.json.
    pub command: String,
}

impl BenchOptions {
    /// The full run: a few minutes.
    pub fn standard() -> BenchOptions {
        BenchOptions {
            rounds: 5,
            duration: 3.0,
            ping_count: 100_000,
            cost_repeat: 1_000_000,
            cost_trials: 5,
            tcp_bytes: 512 << 20,
            out_dir: target_dir().join("bench"),
            binary: None,
            command: "cargo xtask bench".into(),
        }
    }

    /// `--quick`: about a minute.
    pub fn quick() -> BenchOptions {
        BenchOptions {
            rounds: 2,
            duration: 1.0,
            ping_count: 20_000,
            cost_repeat: 1_000_000,
            cost_trials: 3,
            tcp_bytes: 64 << 20,
            command: "cargo xtask bench --quick".into(),
            ..BenchOptions::standard()
        }
    }
}

/// Set by SIGINT/SIGTERM: the bench stops between steps and cleans up.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: i32) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

extern "C" {
    // POSIX signal(2); xtask has no libc dependency for this one call.
    fn signal(signum: i32, handler: extern "C" fn(i32)) -> usize;
}

const SIGINT: i32 = 2;
const SIGTERM: i32 = 15;

fn check_interrupted() -> Result<()> {
    if INTERRUPTED.load(Ordering::SeqCst) {
        bail!("interrupted");
    }
    Ok(())
}

/// Only the multi-queue rows (`cargo xtask bench --only multiqueue`):
/// printed and written to `multiqueue.json` beside results.json.
pub fn run_multiqueue(opts: &BenchOptions) -> Result<()> {
    let binary = prepare(opts)?;
    let m = multiqueue::measure(&binary, opts)?;
    let path = opts.out_dir.join("multiqueue.json");
    std::fs::write(&path, serde_json::to_string_pretty(&m)?)
        .with_context(|| format!("writing {}", path.display()))?;
    print!("{}", multiqueue::table(&m));
    println!("\nwrote {}", path.display());
    Ok(())
}

/// Runs the whole bench and writes its outputs.
pub fn run(opts: &BenchOptions) -> Result<Results> {
    let binary = prepare(opts)?;
    let started = Instant::now();
    let mut progress = Progress::new(opts);
    let date = date_now();
    // Other work on the machine moves every figure: recorded with them.
    let loadavg_start = cpu::loadavg();

    progress.step("per-packet cost (BPF_PROG_TEST_RUN)");
    let cost = measure_cost(&binary, opts, false)?;
    progress.step("per-packet cost with a capture client (BPF_PROG_TEST_RUN)");
    let cost_capture = measure_cost(&binary, opts, true)?;
    progress.step("IPv6 per-packet cost (BPF_PROG_TEST_RUN)");
    let cost6 = ipv6::measure_cost(&binary, opts)?;

    let mut lab = BenchLab::new(&binary, &opts.out_dir)?;
    let mut rounds = Vec::new();
    let mut rounds6 = Vec::new();
    for r in 0..opts.rounds {
        let mut round = Round {
            index: r + 1,
            loadavg: cpu::loadavg(),
            order: Vec::new(),
            ceiling: Vec::new(),
            modes: Vec::new(),
        };
        let mut round6 = ipv6::Ipv6Round {
            index: r + 1,
            order: Vec::new(),
            modes: Vec::new(),
        };
        // Rotate the order so no mode always runs first (warm caches,
        // a neighbour's build starting) or last.
        let mut order = Mode::COMPARED.to_vec();
        order.rotate_left(r as usize % Mode::COMPARED.len());
        for mode in order {
            round.order.push(mode.name().to_string());
            round
                .modes
                .push(measure_mode(&mut lab, mode, opts, &mut progress, r)?);
            // The IPv6 rows while the lab is still in this mode.
            if ipv6::MODES.contains(&mode) {
                round6.order.push(mode.name().to_string());
                round6
                    .modes
                    .push(ipv6::measure(&lab, mode, opts, &mut progress, r)?);
            }
        }
        // The generator's ceiling: nothing on the stack end, frames dropped
        // as they arrive at the veth.
        lab.set_mode(Mode::None)?;
        for load in [Load::ECHO_56, Load::ALL[3]] {
            check_interrupted()?;
            progress.step(&format!(
                "round {}/{}: ceiling, {}",
                r + 1,
                opts.rounds,
                load.label()
            ));
            round.ceiling.push(lab.flood(&load, opts.duration, None)?);
        }
        rounds.push(round);
        rounds6.push(round6);
    }
    drop(lab);
    progress.step("multi-queue rows (1, 2 and 4 queues)");
    let multiqueue = multiqueue::measure(&binary, opts)?;
    progress.done();

    let mut results = Results::new(
        Settings {
            rounds: opts.rounds,
            duration_s: opts.duration,
            ping_count: opts.ping_count,
            cost_repeat: opts.cost_repeat,
            cost_trials: opts.cost_trials,
            tcp_bytes: opts.tcp_bytes,
            lossy_link: modes::LOSSY_LINK.to_string(),
            udp_payload: transport::UDP_PAYLOAD,
            udp_timeout_ms: transport::UDP_TIMEOUT.as_secs_f64() * 1e3,
            rr_connections: rr::RR_CONNECTIONS,
            crr_workers: rr::CRR_WORKERS,
            crr_max_per_run: rr::CRR_MAX_PER_RUN,
            client_port_range: rr::CLIENT_PORT_RANGE,
            clock_ticks: cpu::clock_ticks(),
            binary: binary.display().to_string(),
        },
        opts.command.clone(),
        date,
        started.elapsed().as_secs_f64(),
        [loadavg_start, cpu::loadavg()],
        rounds,
        [cost, cost_capture],
    );
    results.ipv6 = Some(ipv6::Ipv6Results::new(cost6, rounds6));
    results.multiqueue = Some(multiqueue);
    let json_path = opts.out_dir.join("results.json");
    std::fs::write(&json_path, serde_json::to_string_pretty(&results)?)
        .with_context(|| format!("writing {}", json_path.display()))?;
    let png_path = opts.out_dir.join("bench.png");
    chart::draw(&results, &png_path)?;
    print!("{}", report::table(&results));
    if let Some(res6) = &results.ipv6 {
        print!("{}", ipv6::table(res6, opts.ping_count, opts.cost_repeat));
    }
    if let Some(m) = &results.multiqueue {
        print!("{}", multiqueue::table(m));
    }
    println!("\nwrote {} and {}", json_path.display(), png_path.display());
    Ok(results)
}

/// What every bench run needs first: root, the signal handlers, the
/// binary (built unless given) and the output folder.
fn prepare(opts: &BenchOptions) -> Result<PathBuf> {
    if !is_root() {
        bail!(
            "`cargo xtask bench` needs root (namespaces, XDP, BPF_PROG_TEST_RUN): run it as root"
        );
    }
    if opts.rounds == 0 || opts.duration <= 0.0 || opts.ping_count == 0 || opts.tcp_bytes == 0 {
        bail!("--rounds, --duration, --ping-count and --tcp-bytes must be positive");
    }
    // SAFETY: installs a handler that only stores to an atomic.
    unsafe {
        signal(SIGINT, on_signal);
        signal(SIGTERM, on_signal);
    }
    let binary = match &opts.binary {
        Some(b) => b.clone(),
        None => build(Profile::Release)?,
    };
    // `loadgen` and `peer-attach` exist only in a build with the lab feature
    // (which `build` makes); a product binary given with --binary has neither.
    if !cmd::succeeds(Command::new(&binary).args(["loadgen", "--help"])) {
        bail!(
            "{} has no `loadgen` subcommand: the bench needs a build with the lab feature \
             (`cargo build --release -p xdpstack --features lab`)",
            binary.display()
        );
    }
    std::fs::create_dir_all(&opts.out_dir)
        .with_context(|| format!("creating {}", opts.out_dir.display()))?;
    Ok(binary)
}

/// `cargo xtask bench --only ipv6`: the IPv6 rows alone (see [`ipv6`]).
pub fn run_ipv6(opts: &BenchOptions) -> Result<ipv6::Ipv6Only> {
    let binary = prepare(opts)?;
    ipv6::run_only(&binary, opts)
}

/// `cargo xtask bench --only tcp`: the four TCP bulk transfers alone (see
/// [`tcp_only`]).
pub fn run_tcp(opts: &BenchOptions) -> Result<()> {
    let binary = prepare(opts)?;
    tcp_only::run(&binary, opts)
}

/// `capture`: with one capture client (`FLAG_CAPTURE` set, the ring drained).
fn measure_cost(binary: &Path, opts: &BenchOptions, capture: bool) -> Result<CostReport> {
    check_interrupted()?;
    let mut c = Command::new(binary);
    c.args([
        "loadgen",
        "cost",
        "--repeat",
        &opts.cost_repeat.to_string(),
        "--trials",
        &opts.cost_trials.to_string(),
    ]);
    if capture {
        c.arg("--capture");
    }
    let out = cmd::stdout_ok(&mut c)?;
    serde_json::from_str(&out).with_context(|| format!("reading loadgen cost's output: {out}"))
}

fn measure_mode(
    lab: &mut BenchLab,
    mode: Mode,
    opts: &BenchOptions,
    progress: &mut Progress,
    round: u32,
) -> Result<ModeRun> {
    let what = |s: &str| format!("round {}/{}: {}, {s}", round + 1, opts.rounds, mode.name());
    check_interrupted()?;
    progress.step(&what("starting"));
    lab.set_mode(mode)?;
    check_interrupted()?;
    progress.step(&what(&format!("ping -f -c {}", opts.ping_count)));
    let ping = lab.with_client_peer(|| ping::flood(lab.client(), opts.ping_count))?;
    let mut floods = Vec::new();
    let mut flood_daemon_cpu = None;
    for load in Load::ALL {
        check_interrupted()?;
        progress.step(&what(&format!("flood {}", load.label())));
        if mode == Mode::Userspace && load == Load::ECHO_56 {
            // Every request goes through the daemon here: its CPU per frame.
            let (flood, cpu) = lab.daemon_cpu_during(|| lab.flood(&load, opts.duration, None))?;
            floods.push(flood);
            flood_daemon_cpu = cpu;
        } else {
            floods.push(lab.flood(&load, opts.duration, None)?);
        }
    }
    let mut live_stats = Vec::new();
    if mode == Mode::Fastpath {
        if let Some(id) = lab.stack_prog_id()? {
            for load in [Load::ECHO_56, Load::ARP] {
                check_interrupted()?;
                progress.step(&what(&format!("bpf_stats, flood {}", load.label())));
                live_stats.push(lab.flood(&load, opts.duration.min(1.0), Some(id))?);
            }
        }
    }
    let (mut tcp, mut udp) = (None, None);
    if Mode::TRANSPORT.contains(&mode) {
        check_interrupted()?;
        progress.step(&what(&format!(
            "TCP {} into discard",
            transport::byte_size(opts.tcp_bytes)
        )));
        tcp = Some(lab.with_client_peer(|| lab.tcp_bulk(mode, opts.tcp_bytes))?);
        check_interrupted()?;
        progress.step(&what(&format!("UDP echo for {} s", opts.duration)));
        udp = Some(lab.with_client_peer(|| lab.udp_echo(mode, opts.duration))?);
    }
    let (mut tcp_send, mut tcp_lossy, mut tcp_send_lossy) = (None, None, None);
    if Mode::TRANSPORT.contains(&mode) {
        let size = transport::byte_size(opts.tcp_bytes);
        check_interrupted()?;
        progress.step(&what(&format!("TCP {size} from chargen")));
        tcp_send = Some(lab.with_client_peer(|| lab.tcp_send(mode, opts.tcp_bytes))?);
        check_interrupted()?;
        progress.step(&what(&format!("TCP {size} into discard, 1% loss")));
        tcp_lossy = Some(
            lab.with_client_peer(|| lab.with_lossy_link(|| lab.tcp_bulk(mode, opts.tcp_bytes)))?,
        );
        check_interrupted()?;
        progress.step(&what(&format!("TCP {size} from chargen, 1% loss")));
        tcp_send_lossy = Some(
            lab.with_client_peer(|| lab.with_lossy_link(|| lab.tcp_send(mode, opts.tcp_bytes)))?,
        );
    }
    let (mut tcp_rr, mut tcp_crr) = (None, None);
    let (mut tcp_rr_poll, mut tcp_crr_poll) = (None, None);
    if Mode::TRANSPORT.contains(&mode) {
        // In kernel mode both server shapes, one after the other.
        let shapes: &[Server] = if mode == Mode::Kernel {
            &[Server::Threads, Server::Poll]
        } else {
            &[Server::Threads]
        };
        for &shape in shapes {
            let which = if shape == Server::Poll {
                ", 1-thread poll server"
            } else {
                ""
            };
            check_interrupted()?;
            progress.step(&what(&format!(
                "TCP_RR, {} connections for {} s{which}",
                rr::RR_CONNECTIONS,
                opts.duration
            )));
            let run = lab.with_client_peer(|| lab.tcp_rr(mode, shape, opts.duration))?;
            match shape {
                Server::Threads => tcp_rr = Some(run),
                Server::Poll => tcp_rr_poll = Some(run),
            }
        }
        for &shape in shapes {
            let which = if shape == Server::Poll {
                ", 1-thread poll server"
            } else {
                ""
            };
            check_interrupted()?;
            progress.step(&what(&format!(
                "TCP_CRR, {} workers for {} s{which}",
                rr::CRR_WORKERS,
                opts.duration
            )));
            let run = lab.with_client_peer(|| lab.tcp_crr(mode, shape, opts.duration))?;
            match shape {
                Server::Threads => tcp_crr = Some(run),
                Server::Poll => tcp_crr_poll = Some(run),
            }
        }
    }
    Ok(ModeRun {
        mode: mode.name().to_string(),
        ping,
        floods,
        live_stats,
        tcp,
        udp,
        tcp_send,
        tcp_lossy,
        tcp_send_lossy,
        tcp_rr,
        tcp_crr,
        tcp_rr_poll,
        tcp_crr_poll,
        flood_daemon_cpu,
        // After everything this mode ran: the peak (VmHWM) covers it all.
        daemon_memory: lab.daemon_memory(),
    })
}

/// The progress line on stderr: rewritten in place on a terminal, one line
/// per step otherwise.
struct Progress {
    started: Instant,
    steps_done: u32,
    steps_total: u32,
    tty: bool,
}

impl Progress {
    fn new(opts: &BenchOptions) -> Progress {
        // cost (capture off, on) + per round: per mode (start, ping, 4 floods)
        // + 2 stats + 2 ceiling + TCP, UDP, TCP_RR and TCP_CRR in the transport modes, and the
        // three other bulk transfers (send, both directions lossy).
        let per_round = Mode::COMPARED.len() as u32 * (2 + Load::ALL.len() as u32)
            + 2
            + 2
            + 7 * Mode::TRANSPORT.len() as u32
            // TCP_RR and TCP_CRR again in kernel mode, the 1-thread server.
            + 2
            + ipv6::steps_per_round();
        // The IPv6 cost too.
        Progress::with_total(3 + opts.rounds * per_round)
    }

    fn with_total(steps_total: u32) -> Progress {
        Progress {
            started: Instant::now(),
            steps_done: 0,
            steps_total,
            tty: std::io::stderr().is_terminal(),
        }
    }

    fn step(&mut self, what: &str) {
        self.steps_done += 1;
        let line = format!(
            "[{:>3}/{}] {:>5.0}s  {what}",
            self.steps_done.min(self.steps_total),
            self.steps_total,
            self.started.elapsed().as_secs_f64()
        );
        let mut err = std::io::stderr();
        if self.tty {
            let _ = write!(err, "\r\x1b[K{line}");
        } else {
            let _ = writeln!(err, "{line}");
        }
        let _ = err.flush();
    }

    fn done(&self) {
        if self.tty {
            eprintln!();
        }
        eprintln!(
            "bench finished in {:.0}s",
            self.started.elapsed().as_secs_f64()
        );
    }
}

/// The date and time now, UTC, ISO 8601 (`date` is in coreutils).
fn date_now() -> String {
    cmd::stdout_ok(Command::new("date").args(["-u", "+%Y-%m-%dT%H:%M:%SZ"]))
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}
