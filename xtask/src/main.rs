//! `cargo xtask`: set up a machine, run the lab, build and run xdpstack, and
//! run what CI runs. See the modules of the `xtask` library for each command.

use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};
use xtask::netns::LabOptions;
use xtask::run::Profile;
use xtask::{fuzz, lab, run, setup, test_suite};

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
    Setup,
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
    /// Run the cargo-fuzz targets (parsers, stack input), each for --time seconds
    Fuzz {
        /// Seconds per target
        #[arg(long, default_value_t = 300)]
        time: u64,
        /// Targets to run (default: all)
        targets: Vec<String>,
    },
    // `bench` comes here later.
}

#[derive(Subcommand)]
enum LabAction {
    /// Create the lab, or reconfigure it if it is already up
    Up {
        /// Give the stack end the kernel address 10.10.0.4/24 (Linux answers, for comparisons)
        #[arg(long)]
        kernel_addr: bool,
    },
    /// Delete the lab's namespaces (and with them the veth pair)
    Down,
    /// Show namespaces, links, addresses and any attached XDP program
    Status,
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
        Task::Setup => setup::run(),
        Task::Lab { action } => match action {
            LabAction::Up { kernel_addr } => lab::up(LabOptions {
                stack_kernel_addr: kernel_addr,
            }),
            LabAction::Down => lab::down(),
            LabAction::Status => lab::status(),
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
        Task::Fuzz { time, targets } => {
            setup::ensure_cargo_fuzz()?;
            fuzz::run(time, &targets)
        }
    }
}
