//! The `xdpstack` command: parses the command line and dispatches.

use std::process::ExitCode;

use clap::Parser;
use xdpstack::cli::{Cli, Command, LoadgenCommand};
use xdpstack::logging::LogFormat;

fn main() -> ExitCode {
    let cli = Cli::parse();
    xdpstack::logging::init(cli.log_format);
    let json_logs = cli.log_format == LogFormat::Json;
    let result = match cli.command {
        Command::Run(args) => xdpstack::daemon::run(args),
        Command::Arp(args) => xdpstack::control::commands::arp(args),
        Command::Stats(args) => xdpstack::control::commands::stats(args),
        Command::Conns(args) => xdpstack::control::commands::conns(args),
        Command::Ping(args) => xdpstack::control::commands::ping(args),
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
        Command::PeerAttach(args) => {
            xdpstack::fastpath::peer::PeerProgram::attach(args.netns.as_deref(), &args.iface)
                .and_then(|p| p.pin_link(&args.pin))
        }
        Command::Loadgen(LoadgenCommand::Flood(args)) => {
            xdpstack::loadgen::flood(&args).and_then(|r| print_json(&r))
        }
        Command::Loadgen(LoadgenCommand::Cost(args)) => {
            xdpstack::loadgen::cost(&args).and_then(|r| print_json(&r))
        }
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

fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}
