//! Running external programs (`ip`, `apt-get`, `rustup`, `cargo`) with errors
//! that name the command that failed and what it printed.

use std::process::{Command, Output, Stdio};

use anyhow::{bail, Context, Result};

/// The command as a shell-like line, for messages: `LLVM_PREFIX=/x cargo install ...`.
pub fn describe(cmd: &Command) -> String {
    let mut line = String::new();
    for (key, value) in cmd.get_envs() {
        if let Some(value) = value {
            line.push_str(&format!(
                "{}={} ",
                key.to_string_lossy(),
                value.to_string_lossy()
            ));
        }
    }
    line.push_str(&cmd.get_program().to_string_lossy());
    for arg in cmd.get_args() {
        line.push(' ');
        line.push_str(&arg.to_string_lossy());
    }
    line
}

/// Runs to completion with output captured; fails only if it cannot start.
pub fn output(cmd: &mut Command) -> Result<Output> {
    cmd.stdin(Stdio::null())
        .output()
        .with_context(|| cannot_start(cmd))
}

/// Runs to completion with output captured; fails if it exits non-zero, with
/// its stderr in the message. Returns stdout.
pub fn stdout_ok(cmd: &mut Command) -> Result<String> {
    let out = output(cmd)?;
    if !out.status.success() {
        bail!(
            "`{}` failed ({}): {}",
            describe(cmd),
            out.status,
            one_line(&String::from_utf8_lossy(&out.stderr))
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs with the terminal attached (the user sees its progress), echoing the
/// command line first; fails if it exits non-zero.
pub fn status_ok(cmd: &mut Command) -> Result<()> {
    println!("+ {}", describe(cmd));
    let status = cmd.status().with_context(|| cannot_start(cmd))?;
    if !status.success() {
        bail!(
            "`{}` failed ({status}): see its output above",
            describe(cmd)
        );
    }
    Ok(())
}

/// True if the program can be started and exits zero (output discarded).
pub fn succeeds(cmd: &mut Command) -> bool {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

fn cannot_start(cmd: &Command) -> String {
    format!(
        "cannot start `{}`: is `{}` installed? (`cargo xtask setup` installs what xdpstack needs)",
        describe(cmd),
        cmd.get_program().to_string_lossy()
    )
}

/// Joins the lines of a tool's stderr so an error stays one line.
pub fn one_line(text: &str) -> String {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    if lines.is_empty() {
        "no error output".to_string()
    } else {
        lines.join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_shows_env_program_and_args() {
        let mut cmd = Command::new("cargo");
        cmd.env("LLVM_PREFIX", "/sys/root")
            .args(["install", "bpf-linker"]);
        assert_eq!(
            describe(&cmd),
            "LLVM_PREFIX=/sys/root cargo install bpf-linker"
        );
    }

    #[test]
    fn one_line_joins_non_empty_lines() {
        assert_eq!(one_line("a\n\n  b  \n"), "a; b");
        assert_eq!(one_line("\n"), "no error output");
    }
}
