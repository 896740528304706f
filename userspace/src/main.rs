//! The `xdpstack` command: parses the command line and dispatches.

use std::process::ExitCode;

use clap::Parser;
use xdpstack::cli::{commands, Cli, Command};
#[cfg(feature = "lab")]
use xdpstack::cli::{CostArgs, FloodArgs, FloodKind, LoadgenCommand};
#[cfg(feature = "lab")]
use xdpstack::loadgen;
use xdpstack::logging::LogFormat;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Run(_) | Command::Capture(_)) {
        restore_sigpipe();
    }
    xdpstack::logging::init(cli.log_format);
    let json_logs = cli.log_format == LogFormat::Json;
    let result = match cli.command {
        Command::Run(args) => xdpstack::daemon::run(args.config()),
        Command::Arp(args) => commands::arp(args),
        Command::Neigh(args) => commands::neigh(args),
        Command::Stats(args) => commands::stats(args),
        Command::Status(args) => commands::status(args),
        Command::Conns(args) => commands::conns(args),
        Command::Ping(args) => commands::ping(args),
        Command::Capture(args) => commands::capture(args),
        Command::Completions(args) => {
            xdpstack::manual::completions(args.shell, &mut std::io::stdout().lock())
        }
        Command::Manpage(args) => match args.out_dir {
            Some(dir) => xdpstack::manual::manpages_to(&dir).map(|pages| {
                for page in pages {
                    println!("{}", page.display());
                }
            }),
            None => xdpstack::manual::manpage(&mut std::io::stdout().lock()),
        },
        #[cfg(feature = "lab")]
        Command::PeerAttach(args) => {
            xdpstack::fastpath::peer::PeerProgram::attach(args.netns.as_deref(), &args.iface)
                .and_then(|p| p.pin_link(&args.pin))
        }
        #[cfg(feature = "lab")]
        Command::Loadgen(LoadgenCommand::Flood(args)) => {
            loadgen::flood(&flood_args(args)).and_then(|r| print_json(&r))
        }
        #[cfg(feature = "lab")]
        Command::Loadgen(LoadgenCommand::Cost(CostArgs {
            repeat,
            trials,
            capture,
            ipv6,
        })) => loadgen::cost(&loadgen::CostArgs {
            repeat,
            trials,
            capture,
            ipv6,
        })
        .and_then(|r| print_json(&r)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // A log shipper reads stderr as JSON lines: the last words too.
            if json_logs {
                log::error!("{e:#}");
            } else {
                eprintln!("xdpstack: {e:#}");
            }
            ExitCode::FAILURE
        }
    }
}

#[cfg(feature = "lab")]
fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// The command line of `loadgen flood` as the load generator takes it.
#[cfg(feature = "lab")]
fn flood_args(a: FloodArgs) -> loadgen::FloodArgs {
    loadgen::FloodArgs {
        netns: a.netns,
        iface: a.iface,
        kind: match a.kind {
            FloodKind::Echo => loadgen::FloodKind::Echo,
            FloodKind::Arp => loadgen::FloodKind::Arp,
            FloodKind::Echo6 => loadgen::FloodKind::Echo6,
            FloodKind::Ns => loadgen::FloodKind::Ns,
        },
        payload: a.payload,
        duration: a.duration,
        src_mac: a.src_mac,
        src_ip: a.src_ip,
        dst_mac: a.dst_mac,
        dst_ip: a.dst_ip,
        stats_prog_id: a.stats_prog_id,
        cpus: a.cpus.map(|c| c.0).unwrap_or_default(),
    }
}

/// Rust ignores SIGPIPE, so `println!` panics when the reader of a pipe
/// has gone (`xdpstack stats | head -1`). The one-shot commands die of the
/// signal quietly instead, as other Unix tools do. The daemon keeps it
/// ignored (a control client leaving must not kill it), and `capture` ends
/// on the write error itself so it can still print its totals.
fn restore_sigpipe() {
    // SAFETY: called first thing in main, before any thread exists;
    // SIG_DFL is a valid disposition for SIGPIPE.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
