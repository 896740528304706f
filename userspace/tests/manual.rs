//! `xdpstack completions SHELL` and `xdpstack manpage`, run as the built
//! binary: every visible subcommand is named, the bash script really
//! completes them, and the man pages are roff that groff reads without a
//! warning (where bash and groff are installed; a test says when it skips).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

use clap::CommandFactory;
use xdpstack::cli::Cli;

fn xdpstack(args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_xdpstack"))
        .args(args)
        .output()
        .expect("running xdpstack");
    assert!(
        out.status.success(),
        "xdpstack {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stdout(args: &[&str]) -> String {
    String::from_utf8(xdpstack(args).stdout).expect("UTF-8 output")
}

/// Visible subcommands, as paths: ["run"], ["arp"], ["arp", "add"], ...
fn visible_subcommands() -> Vec<Vec<String>> {
    fn walk(cmd: &clap::Command, prefix: &[String], out: &mut Vec<Vec<String>>) {
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            let mut path = prefix.to_vec();
            path.push(sub.get_name().to_string());
            out.push(path.clone());
            walk(sub, &path, out);
        }
    }
    let mut out = Vec::new();
    walk(&Cli::command(), &[], &mut out);
    assert!(out.len() >= 8, "{out:?}");
    out
}

fn top_level() -> Vec<String> {
    visible_subcommands()
        .into_iter()
        .filter(|p| p.len() == 1)
        .map(|p| p[0].clone())
        .collect()
}

fn command_exists(name: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn every_shell_gets_a_script_naming_every_subcommand() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let script = stdout(&["completions", shell]);
        assert!(script.lines().count() > 20, "{shell}: {script}");
        for path in visible_subcommands() {
            let name = path.last().expect("a name");
            assert!(
                script.contains(name.as_str()),
                "{shell} script lacks {name}"
            );
        }
    }
    // clap itself refuses a shell it has no generator for.
    let out = Command::new(env!("CARGO_BIN_EXE_xdpstack"))
        .args(["completions", "tcsh"])
        .output()
        .expect("running xdpstack");
    assert!(!out.status.success());
}

#[test]
fn bash_completes_the_subcommands_and_run_options() {
    if !command_exists("bash") {
        eprintln!("SKIPPED: bash is not installed");
        return;
    }
    let dir = scratch_dir("bash");
    let script = dir.join("xdpstack.bash");
    std::fs::write(&script, stdout(&["completions", "bash"])).expect("writing the script");
    let syntax = Command::new("bash")
        .arg("-n")
        .arg(&script)
        .output()
        .expect("bash -n");
    assert!(
        syntax.status.success(),
        "{}",
        String::from_utf8_lossy(&syntax.stderr)
    );
    // Drive the completion function as bash's programmable completion would.
    let complete = |words: &str| -> Vec<String> {
        let probe = format!(
            "source {}; COMP_WORDS=({words}); COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1)); \
             COMP_LINE=\"${{COMP_WORDS[*]}}\"; COMP_POINT=${{#COMP_LINE}}; \
             _xdpstack xdpstack \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"; \
             printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            script.display()
        );
        let out = Command::new("bash")
            .args(["-c", &probe])
            .output()
            .expect("bash");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .map(String::from)
            .collect()
    };
    let subcommands = complete("xdpstack ''");
    for name in top_level() {
        assert!(subcommands.contains(&name), "{name} not in {subcommands:?}");
    }
    // clap_complete's bash generator offers hidden subcommands too
    // (peer-attach, loadgen, manpage); the man pages leave them out.
    let run_options = complete("xdpstack run --");
    for option in ["--iface", "--ip", "--mode", "--services"] {
        assert!(
            run_options.iter().any(|o| o == option),
            "{option} not in {run_options:?}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn man_page_lists_every_subcommand() {
    let page = stdout(&["manpage"]);
    assert!(
        page.lines().any(|l| l.starts_with(".TH xdpstack 1")),
        "{page}"
    );
    for section in ["NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "SUBCOMMANDS"] {
        assert!(
            page.lines().any(|l| l == format!(".SH {section}")),
            "no {section}"
        );
    }
    for name in top_level() {
        // roff escapes the hyphen of `xdpstack-run(1)`.
        let reference = format!("xdpstack\\-{}(1)", name.replace('-', "\\-"));
        assert!(page.contains(&reference), "no {reference}");
    }
    assert!(!page.contains("loadgen") && !page.contains("peer\\-attach"));
    groff_reads_cleanly(&page, "xdpstack.1");
}

#[test]
fn one_man_page_per_subcommand_with_out_dir() {
    let dir = scratch_dir("man");
    let listed = stdout(&["manpage", "--out-dir", dir.to_str().expect("UTF-8 path")]);
    let mut expected: Vec<String> = visible_subcommands()
        .iter()
        .map(|p| format!("xdpstack-{}.1", p.join("-")))
        .collect();
    expected.push("xdpstack.1".to_string());
    expected.sort();
    let mut written: Vec<String> = std::fs::read_dir(&dir)
        .expect("listing the pages")
        .map(|e| {
            e.expect("an entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    written.sort();
    assert_eq!(written, expected);
    // The command prints what it wrote, one path a line.
    assert_eq!(listed.lines().count(), expected.len(), "{listed}");
    let run = std::fs::read_to_string(dir.join("xdpstack-run.1")).expect("the run page");
    for option in ["iface", "ip", "mode", "fastpath", "services"] {
        assert!(run.contains(&format!("\\-\\-{option}")), "no --{option}");
    }
    for page in &expected {
        let text = std::fs::read_to_string(dir.join(page)).expect("a page");
        groff_reads_cleanly(&text, page);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// `groff -man -ww -z` reports every roff warning and prints nothing else.
fn groff_reads_cleanly(page: &str, name: &str) {
    if !command_exists("groff") {
        eprintln!("SKIPPED groff check of {name}: groff is not installed");
        return;
    }
    let dir = scratch_dir("groff");
    let file = dir.join(name);
    std::fs::write(&file, page).expect("writing the page");
    let out = Command::new("groff")
        .args(["-man", "-Tutf8", "-ww", "-z"])
        .arg(&file)
        .output()
        .expect("groff");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(out.status.success(), "groff failed on {name}");
    let warnings = String::from_utf8_lossy(&out.stderr);
    assert!(warnings.trim().is_empty(), "{name}: {warnings}");
}

/// A fresh directory per call (tests run in parallel threads); plain
/// characters only, since the bash test puts the path in a script.
fn scratch_dir(what: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "manual-{what}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    dir
}

/// A reader that goes away early (`xdpstack completions bash | head -1`)
/// ends the command by SIGPIPE, as it would any Unix tool, and never with a
/// Rust panic (exit 101 and a "Broken pipe" backtrace message).
#[test]
fn closed_pipe_ends_quietly() {
    use std::os::unix::process::ExitStatusExt;
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_xdpstack"))
        .args(["completions", "bash"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running xdpstack");
    // Close our end before the child has started writing.
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("waiting for xdpstack");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "stderr: {stderr}");
    assert_ne!(out.status.code(), Some(101), "stderr: {stderr}");
    assert!(
        out.status.success() || out.status.signal() == Some(libc::SIGPIPE),
        "status {:?}, stderr: {stderr}",
        out.status
    );
}
