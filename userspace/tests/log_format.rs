//! `--log-format json`: every line the binary writes to stderr is one JSON
//! object with ts, level, target and msg, from the first log line to the
//! error it exits with, whether the option comes before the subcommand or
//! after it. The root test runs the real daemon in a uniquely named lab.

mod hostile;
mod support;

use std::process::Command;
use std::time::Duration;

use hostile::*;
use support::*;
use xtask::netns::LabOptions;

/// Parses every line of `stderr` as a log object; panics on anything else.
fn json_lines(stderr: &str) -> Vec<serde_json::Value> {
    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    for v in &lines {
        let obj = v
            .as_object()
            .unwrap_or_else(|| panic!("not an object: {v}"));
        let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
        keys.sort();
        assert_eq!(keys, ["level", "msg", "target", "ts"], "{v}");
        assert!(obj.values().all(|f| f.is_string()), "{v}");
        let ts = v["ts"].as_str().unwrap_or_default();
        // RFC 3339 in UTC with milliseconds: 2026-12-02T07:35:53.887Z.
        assert!(
            ts.len() == 24 && ts.ends_with('Z') && ts.as_bytes()[10] == b'T',
            "{ts}"
        );
        assert!(
            ["ERROR", "WARN", "INFO", "DEBUG", "TRACE"]
                .contains(&v["level"].as_str().unwrap_or("")),
            "{v}"
        );
    }
    lines
}

fn run_on_missing_interface(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_xdpstack"))
        .args(args)
        .output()
        .expect("running xdpstack")
}

#[test]
fn the_exit_error_is_a_json_line_wherever_the_option_stands() {
    let iface = "xdpsnoif0";
    for args in [
        vec![
            "--log-format",
            "json",
            "run",
            "--iface",
            iface,
            "--ip",
            "192.0.2.4/24",
        ],
        vec![
            "run",
            "--iface",
            iface,
            "--ip",
            "192.0.2.4/24",
            "--log-format=json",
        ],
    ] {
        let out = run_on_missing_interface(&args);
        assert!(!out.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let lines = json_lines(&stderr);
        let last = lines.last().unwrap_or_else(|| panic!("no line: {args:?}"));
        assert_eq!(last["level"], "ERROR");
        // Not root, the capability check fails first; as root, the interface.
        let msg = last["msg"].as_str().unwrap_or_default();
        assert!(msg.contains(iface) || msg.contains("CAP_"), "{msg}");
    }
}

#[test]
fn text_stays_as_it_was() {
    let out = run_on_missing_interface(&["run", "--iface", "xdpsnoif0", "--ip", "192.0.2.4/24"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("xdpstack: "), "{stderr}");
    // clap refuses a format it does not know.
    let out = run_on_missing_interface(&["--log-format", "yaml", "stats"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("possible values"));
}

#[test]
fn root_a_serving_daemon_logs_only_json_lines() {
    if !root_or_skip("root_a_serving_daemon_logs_only_json_lines") {
        return;
    }
    let (mut r, stderr) = start_in(LabOptions::default(), &[], &["--log-format", "json"]);
    assert!(ping_once(&r.lab, "10.10.0.4"), "{}", stderr.text());
    kill(r.pid(), libc::SIGTERM);
    let (status, _) = wait_exit(&mut r.daemon, Duration::from_secs(10)).expect("exits on SIGTERM");
    assert!(status.success(), "{}", stderr.text());
    // The reader thread may still hold the last lines for a moment.
    assert!(eventually(2, || stderr
        .text()
        .contains("dropped all capabilities")));
    let lines = json_lines(&stderr.text());
    let info = |needle: &str| {
        lines.iter().any(|v| {
            v["level"] == "INFO"
                && v["target"]
                    .as_str()
                    .is_some_and(|t| t.starts_with("xdpstack"))
                && v["msg"].as_str().is_some_and(|m| m.contains(needle))
        })
    };
    assert!(info(" mode on "), "the XDP mode line: {}", stderr.text());
    assert!(info("dropped all capabilities"), "{}", stderr.text());
}
