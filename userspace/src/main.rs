//! The `xdpstack` command: parses the command line and dispatches.

use std::process::ExitCode;

use clap::Parser;
#[cfg(feature = "lab")]
use xdpstack::cli::LoadgenCommand;
use xdpstack::cli::{Cli, Command};

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .format_target(false)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => xdpstack::daemon::run(args),
        Command::Arp(args) => xdpstack::control::commands::arp(args),
        Command::Stats(args) => xdpstack::control::commands::stats(args),
        Command::Conns(args) => xdpstack::control::commands::conns(args),
        Command::Ping(args) => xdpstack::control::commands::ping(args),
        #[cfg(feature = "lab")]
        Command::PeerAttach(args) => {
            xdpstack::fastpath::peer::PeerProgram::attach(args.netns.as_deref(), &args.iface)
                .and_then(|p| p.pin_link(&args.pin))
        }
        #[cfg(feature = "lab")]
        Command::Loadgen(LoadgenCommand::Flood(args)) => {
            xdpstack::loadgen::flood(&args).and_then(|r| print_json(&r))
        }
        #[cfg(feature = "lab")]
        Command::Loadgen(LoadgenCommand::Cost(args)) => {
            xdpstack::loadgen::cost(&args).and_then(|r| print_json(&r))
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xdpstack: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(feature = "lab")]
fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}
