//! What the command line says about itself: shell completion scripts
//! (`xdpstack completions SHELL`, clap_complete) and man pages (`xdpstack
//! manpage`, clap_mangen), both generated from the clap definitions in
//! [`crate::cli`], so they cannot drift from the parser.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::Cli;

/// The name the scripts complete and the man pages are titled with.
const BIN: &str = "xdpstack";

/// Writes the completion script for `shell`.
pub fn completions(shell: Shell, out: &mut dyn Write) -> Result<()> {
    let mut cmd = Cli::command();
    clap_complete::generate(shell, &mut cmd, BIN, out);
    out.flush().context("writing the completion script")
}

/// Writes the top-level page, `xdpstack(1)`, which lists the subcommands.
pub fn manpage(out: &mut dyn Write) -> Result<()> {
    clap_mangen::Man::new(Cli::command())
        .render(out)
        .context("writing the man page")
}

/// Writes `xdpstack.1` and one page per visible subcommand
/// (`xdpstack-run.1`, `xdpstack-arp-add.1`, ...), as git and cargo do, into
/// `dir`; returns the pages now in `dir`, sorted.
pub fn manpages_to(dir: &Path) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    clap_mangen::generate_to(Cli::command(), dir)
        .with_context(|| format!("writing man pages into {}", dir.display()))?;
    let mut pages = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let path = entry?.path();
        let ours = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with(BIN) && n.ends_with(".1"));
        if ours {
            pages.push(path);
        }
    }
    pages.sort();
    Ok(pages)
}
