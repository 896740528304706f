//! `cargo xtask`: set up a machine, run the lab, build and run xdpstack, and
//! run what CI runs. See the modules of the `xtask` library for each command.

use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};
use xtask::bench::BenchOptions;
use xtask::install::InstallOptions;
use xtask::netns::LabOptions;
use xtask::run::Profile;
use xtask::{bench, fuzz, install, lab, run, setup, test_suite, trace};

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    about = "Developer tasks for xdpstack"
)]
struct Cli {
    #[command(subcommand)]
    command: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Install or verify toolchains, packages and kernel prerequisites (idempotent)
    Setup {
        /// Only what building needs (no rustfmt/clippy, no bpffs): for the Dockerfile
        #[arg(long)]
        build_only: bool,
    },
    /// The course lab: namespaces xdplab-client and xdplab-stack joined by a veth pair
    Lab {
        #[command(subcommand)]
        action: LabAction,
    },
    /// Build xdpstack and run it in the lab (or on the host with `-- --iface IF ...`)
    Run {
        /// Build with the release profile (the default)
        #[arg(long, conflicts_with = "debug")]
        release: bool,
        /// Build with the dev profile instead
        #[arg(long)]
        debug: bool,
        /// Arguments for `xdpstack run`, after `--`
        #[arg(last = true)]
        args: Vec<String>,
    },
    /// Check formatting, run clippy and all tests: what CI runs
    Test,
    /// Build release and install the binary, the systemd unit template
    /// xdpstack@.service, an example environment file, man pages and
    /// completions
    Install {
        /// Installation prefix
        #[arg(long, default_value = "/usr/local")]
        prefix: std::path::PathBuf,
        /// Where the environment files live (SYSCONFDIR/xdpstack/IFACE.env)
        #[arg(long, default_value = "/etc")]
        sysconfdir: std::path::PathBuf,
        /// Stage every file under this directory (for packaging)
        #[arg(long)]
        destdir: Option<std::path::PathBuf>,
        /// Install this xdpstack binary instead of building the release one
        #[arg(long)]
        binary: Option<std::path::PathBuf>,
    },
    /// Benchmark the fast path and the userspace path against the Linux
    /// kernel (needs root; a few minutes, `--quick` about one)
    Bench {
        /// About one minute: 2 rounds of 1 s floods, ping -f -c 20000
        #[arg(long)]
        quick: bool,
        /// Rounds (each runs every mode once, interleaved)
        #[arg(long)]
        rounds: Option<u32>,
        /// Seconds per generator flood (and per UDP echo, TCP_RR and TCP_CRR run)
        #[arg(long)]
        duration: Option<f64>,
        /// Echo requests per `ping -f`
        #[arg(long)]
        ping_count: Option<u32>,
        /// Repetitions per BPF_PROG_TEST_RUN of the per-packet cost
        #[arg(long)]
        cost_repeat: Option<u32>,
        /// Trials of the per-packet cost (the median is kept)
        #[arg(long)]
        cost_trials: Option<u32>,
        /// Bytes per TCP bulk transfer into discard (default 512 MiB, 64 MiB with --quick)
        #[arg(long)]
        tcp_bytes: Option<u64>,
        /// Use this xdpstack binary (built with `--features lab`) instead of building the release one
        #[arg(long)]
        binary: Option<std::path::PathBuf>,
        /// Run only one section: `ipv6` (ICMPv6 echo and NS floods, ping -6 -f,
        /// their per-packet cost; writes results-ipv6.json), `cost` (the
        /// per-packet cost without and with a capture client, no lab; writes
        /// cost.json), `tcp` (the four TCP bulk transfers with xdpstack's
        /// counters over the lossy link; writes nothing), `multiqueue` (1, 2
        /// and 4 queues, busy polling; writes multiqueue.json)
        #[arg(long, value_parser = ["ipv6", "cost", "tcp", "multiqueue"])]
        only: Option<String>,
    },
    /// Run the cargo-fuzz targets (parsers, stack input), each for --time seconds
    Fuzz {
        /// Seconds per target
        #[arg(long, default_value_t = 300)]
        time: u64,
        /// Targets to run (default: all)
        targets: Vec<String>,
    },
}

#[derive(Subcommand)]
enum LabAction {
    /// Create the lab, or reconfigure it if it is already up
    Up {
        /// Give the stack end the kernel address 10.10.0.4/24 (Linux answers, for comparisons)
        #[arg(long)]
        kernel_addr: bool,
        /// RX and TX queues on each veth end (the client's flows then spread
        /// over the stack end's queues, one xdpstack worker each)
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=xtask::netns::MAX_QUEUES as i64))]
        queues: Option<u32>,
    },
    /// Delete the lab's namespaces (and with them the veth pair)
    Down,
    /// Show namespaces, links, addresses and any attached XDP program
    Status,
    /// Run xdpstack in the lab, drive ping traffic under tcpdump and rewrite
    /// the captures in docs/packet-flow.md
    Trace,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match dispatch(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(task: Task) -> Result<()> {
    match task {
        Task::Setup { build_only } => setup::run_scope(if build_only {
            setup::Scope::BuildOnly
        } else {
            setup::Scope::Full
        }),
        Task::Lab { action } => match action {
            LabAction::Up {
                kernel_addr,
                queues,
            } => lab::up_with_queues(
                LabOptions {
                    stack_kernel_addr: kernel_addr,
                },
                queues,
            ),
            LabAction::Down => lab::down(),
            LabAction::Status => lab::status(),
            LabAction::Trace => trace::run(),
        },
        Task::Run {
            release: _,
            debug,
            args,
        } => {
            let profile = if debug {
                Profile::Debug
            } else {
                Profile::Release
            };
            run::run(profile, &args)
        }
        Task::Test => test_suite::run(),
        Task::Install {
            prefix,
            sysconfdir,
            destdir,
            binary,
        } => {
            let opts = InstallOptions {
                prefix,
                sysconfdir,
                destdir,
                binary,
            };
            for file in install::install(&opts)? {
                println!("installed {}", file.display());
            }
            println!("next:");
            for step in install::next_steps(&opts) {
                println!("  {step}");
            }
            Ok(())
        }
        Task::Bench {
            quick,
            rounds,
            duration,
            ping_count,
            cost_repeat,
            cost_trials,
            tcp_bytes,
            binary,
            only,
        } => {
            let mut opts = if quick {
                BenchOptions::quick()
            } else {
                BenchOptions::standard()
            };
            opts.command = std::iter::once("cargo xtask".to_string())
                .chain(std::env::args().skip(1))
                .collect::<Vec<_>>()
                .join(" ");
            opts.rounds = rounds.unwrap_or(opts.rounds);
            opts.duration = duration.unwrap_or(opts.duration);
            opts.ping_count = ping_count.unwrap_or(opts.ping_count);
            opts.cost_repeat = cost_repeat.unwrap_or(opts.cost_repeat);
            opts.cost_trials = cost_trials.unwrap_or(opts.cost_trials);
            opts.tcp_bytes = tcp_bytes.unwrap_or(opts.tcp_bytes);
            opts.binary = binary;
            match only.as_deref() {
                Some("ipv6") => bench::run_ipv6(&opts).map(|_| ()),
                Some("cost") => bench::cost::run(&opts),
                Some("tcp") => bench::run_tcp(&opts),
                Some("multiqueue") => bench::run_multiqueue(&opts),
                _ => bench::run(&opts).map(|_| ()),
            }
        }
        Task::Fuzz { time, targets } => {
            setup::ensure_cargo_fuzz()?;
            fuzz::run(time, &targets)
        }
    }
}
