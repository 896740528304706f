//! `cargo xtask lab trace`: regenerates the captures of `docs/packet-flow.md`.
//!
//! It brings up the course lab, starts xdpstack on the stack end, and for
//! each journey of the document runs tcpdump on the client's veth while it
//! drives the traffic with the real tools (`ping`, `xdpstack ping`), reading
//! `xdpstack stats` before and after to show which path answered. Then it
//! rewrites, in place, every block of the document that sits between
//! `<!-- trace:NAME -->` and `<!-- /trace -->`; the prose around them is left
//! alone. A block the document names but the trace did not produce is an
//! error, so the document cannot silently keep stale output.
//!
//! Every wait is bounded: tcpdump runs under `timeout` with a packet count,
//! the daemon must say it is serving within 20 s.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};

use crate::netns::{
    self, is_root, Lab, LabOptions, CLIENT_ADDR, COURSE_CLIENT_IF, COURSE_CLIENT_NS,
    COURSE_STACK_IF, COURSE_STACK_NS, PREFIX_LEN, STACK_ADDR,
};
use crate::run::{build, Profile};
use crate::{cmd, lab, workspace_root};

/// The document whose capture blocks this rewrites.
pub const DOC: &str = "docs/packet-flow.md";
/// tcpdump as the document shows it: link-level headers (-e), numbers not
/// names (-n), every header field (-vv), time since the previous frame (-ttt),
/// IPv4 only (the lab's IPv6 router solicitations would only add noise).
const TCPDUMP: &[&str] = &["tcpdump", "-l", "-e", "-n", "-vv", "-ttt"];
const FILTER: &str = "arp or icmp";
/// Upper bound on one capture; it normally ends at its packet count.
const CAPTURE_SECS: &str = "10";
const READY_TIMEOUT: Duration = Duration::from_secs(20);

pub fn run() -> Result<()> {
    if !is_root() {
        bail!("`cargo xtask lab trace` needs root (the lab, XDP, tcpdump): run it as root");
    }
    let binary = build(Profile::Release)?;
    let was_up = Lab::course_is_up()?;
    Lab::course(LabOptions::default())?;
    lab::attach_peer(&binary)?;
    let result = trace(&binary);
    if !was_up {
        lab::down()?;
    }
    let blocks = result?;
    let path = workspace_root().join(DOC);
    let doc =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let (updated, unused) = rewrite(&doc, &blocks)?;
    std::fs::write(&path, updated).with_context(|| format!("writing {}", path.display()))?;
    println!(
        "trace: rewrote {} blocks of {DOC}",
        blocks.len() - unused.len()
    );
    if !unused.is_empty() {
        println!(
            "trace: blocks the document does not show: {}",
            unused.join(", ")
        );
    }
    Ok(())
}

/// Starts xdpstack, drives the three journeys, stops it; returns the blocks.
fn trace(binary: &Path) -> Result<BTreeMap<String, String>> {
    let mut blocks = BTreeMap::new();
    let mut daemon = Daemon::start(binary)?;
    let outcome = journeys(binary, &mut blocks);
    daemon.stop();
    outcome?;
    blocks.insert("start".into(), daemon.output(binary));
    Ok(blocks)
}

fn journeys(binary: &Path, blocks: &mut BTreeMap<String, String>) -> Result<()> {
    let xdpstack = binary.display().to_string();

    // 1. One ping, the client knowing nothing yet: ARP, then echo.
    client(&["ip", "neigh", "flush", "dev", COURSE_CLIENT_IF])?;
    let before = stats(&xdpstack)?;
    let (frames, output) = capture(4, || client(&["ping", "-c", "1", "-W", "2", STACK_ADDR]))?;
    let after = stats(&xdpstack)?;
    blocks.insert(
        "ping-command".into(),
        shown(&client_line(&format!("ping -c 1 {STACK_ADDR}")), &output),
    );
    blocks.insert("ping-capture".into(), frames.join("\n"));
    blocks.insert("ping-counters".into(), counter_changes(&before, &after));
    let find = |what: &str, f: &dyn Fn(&str) -> bool| pick(&frames, what, f);
    let who_has_stack = format!("Request who-has {STACK_ADDR} tell {CLIENT_ADDR}");
    let stack_is_at = format!("Reply {STACK_ADDR} is-at");
    let to_stack = format!("{CLIENT_ADDR} > {STACK_ADDR}: ICMP echo request");
    let to_client = format!("{STACK_ADDR} > {CLIENT_ADDR}: ICMP echo reply");
    blocks.insert(
        "ping-arp-request".into(),
        find("the ARP request", &|f| f.contains(&who_has_stack))?,
    );
    blocks.insert(
        "ping-arp-reply".into(),
        find("the ARP reply", &|f| f.contains(&stack_is_at))?,
    );
    blocks.insert(
        "ping-echo-request".into(),
        find("the echo request", &|f| f.contains(&to_stack))?,
    );
    blocks.insert(
        "ping-echo-reply".into(),
        find("the echo reply", &|f| f.contains(&to_client))?,
    );
    blocks.insert(
        "ping-neigh".into(),
        shown(
            &client_line(&format!("ip neigh show {STACK_ADDR}")),
            &client(&["ip", "neigh", "show", STACK_ADDR])?,
        ),
    );

    // 2. A ping too big for one frame: 3 fragments each way, via userspace.
    let before = stats(&xdpstack)?;
    let (frames, output) = capture(6, || {
        client(&["ping", "-c", "1", "-W", "2", "-s", "3000", STACK_ADDR])
    })?;
    let after = stats(&xdpstack)?;
    blocks.insert(
        "frag-command".into(),
        shown(
            &client_line(&format!("ping -c 1 -s 3000 {STACK_ADDR}")),
            &output,
        ),
    );
    blocks.insert("frag-capture".into(), frames.join("\n"));
    blocks.insert("frag-counters".into(), counter_changes(&before, &after));
    let from_client = format!("{CLIENT_ADDR} > {STACK_ADDR}");
    let from_stack = format!("{STACK_ADDR} > {CLIENT_ADDR}");
    blocks.insert(
        "frag-in".into(),
        all(&frames, "fragments in", &|f| f.contains(&from_client))?,
    );
    blocks.insert(
        "frag-out".into(),
        all(&frames, "fragments out", &|f| f.contains(&from_stack))?,
    );

    // 3. xdpstack pings the client, having forgotten its MAC: ARP first.
    stack(&[&xdpstack, "arp", "flush"])?;
    let before = stats(&xdpstack)?;
    let (frames, output) = capture(4, || stack(&[&xdpstack, "ping", CLIENT_ADDR, "-c", "1"]))?;
    let after = stats(&xdpstack)?;
    blocks.insert(
        "out-command".into(),
        shown(
            &stack_line(&format!("xdpstack ping {CLIENT_ADDR} -c 1")),
            &output,
        ),
    );
    blocks.insert("out-capture".into(), frames.join("\n"));
    blocks.insert("out-counters".into(), counter_changes(&before, &after));
    let who_has_client = format!("Request who-has {CLIENT_ADDR} tell {STACK_ADDR}");
    let client_is_at = format!("Reply {CLIENT_ADDR} is-at");
    let to_client = format!("{STACK_ADDR} > {CLIENT_ADDR}: ICMP echo request");
    let to_stack = format!("{CLIENT_ADDR} > {STACK_ADDR}: ICMP echo reply");
    blocks.insert(
        "out-arp-request".into(),
        find_in(&frames, "xdpstack's ARP request", &who_has_client)?,
    );
    blocks.insert(
        "out-arp-reply".into(),
        find_in(&frames, "the client's ARP reply", &client_is_at)?,
    );
    blocks.insert(
        "out-echo-request".into(),
        find_in(&frames, "xdpstack's echo request", &to_client)?,
    );
    blocks.insert(
        "out-echo-reply".into(),
        find_in(&frames, "the client's echo reply", &to_stack)?,
    );
    blocks.insert(
        "out-arp-table".into(),
        shown(&stack_line("xdpstack arp"), &stack(&[&xdpstack, "arp"])?),
    );
    Ok(())
}

fn find_in(frames: &[String], what: &str, needle: &str) -> Result<String> {
    pick(frames, what, &|f| f.contains(needle))
}

/// The one frame of a capture that `matches`.
fn pick(frames: &[String], what: &str, matches: &dyn Fn(&str) -> bool) -> Result<String> {
    frames
        .iter()
        .find(|f| matches(f))
        .cloned()
        .ok_or_else(|| anyhow!("the capture lacks {what}:\n{}", frames.join("\n")))
}

/// Every frame of a capture that `matches`, in order.
fn all(frames: &[String], what: &str, matches: &dyn Fn(&str) -> bool) -> Result<String> {
    let found: Vec<&String> = frames.iter().filter(|f| matches(f)).collect();
    if found.is_empty() {
        bail!("the capture lacks {what}:\n{}", frames.join("\n"));
    }
    Ok(found
        .iter()
        .map(|f| f.as_str())
        .collect::<Vec<_>>()
        .join("\n"))
}

fn client_line(command: &str) -> String {
    format!("$ ip netns exec {COURSE_CLIENT_NS} {command}")
}

fn stack_line(command: &str) -> String {
    format!("$ ip netns exec {COURSE_STACK_NS} {command}")
}

fn shown(command_line: &str, output: &str) -> String {
    format!("{command_line}\n{}", output.trim_end())
}

fn client(args: &[&str]) -> Result<String> {
    netns::exec_ok(COURSE_CLIENT_NS, args)
}

fn stack(args: &[&str]) -> Result<String> {
    netns::exec_ok(COURSE_STACK_NS, args)
}

/// Runs tcpdump on the client veth while `drive` runs; returns the frames it
/// saw (at most `count`, within CAPTURE_SECS) and `drive`'s output.
fn capture(count: u32, drive: impl FnOnce() -> Result<String>) -> Result<(Vec<String>, String)> {
    let count = count.to_string();
    let mut args = vec!["timeout", CAPTURE_SECS];
    args.extend_from_slice(TCPDUMP);
    args.extend(["-i", COURSE_CLIENT_IF, "-c", &count, FILTER]);
    let mut tcpdump = netns::command(COURSE_CLIENT_NS, &args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting tcpdump: is it installed? (`cargo xtask setup`)")?;
    let ready = wait_listening(&mut tcpdump);
    let output = match ready {
        Ok(()) => drive(),
        Err(e) => Err(e),
    };
    // tcpdump ends by itself at `count` frames, or at the timeout.
    let mut stdout = String::new();
    if let Some(mut out) = tcpdump.stdout.take() {
        out.read_to_string(&mut stdout)
            .context("reading tcpdump's output")?;
    }
    let _ = tcpdump.wait();
    let output = output?;
    Ok((frames(&stdout), output))
}

/// Waits until tcpdump says its filter is in place ("listening on ...").
fn wait_listening(tcpdump: &mut Child) -> Result<()> {
    let stderr = tcpdump
        .stderr
        .take()
        .ok_or_else(|| anyhow!("tcpdump's stderr is not piped"))?;
    let mut seen = Vec::new();
    for line in BufReader::new(stderr).lines() {
        let line = line.context("reading tcpdump's stderr")?;
        if line.contains("listening on") {
            return Ok(());
        }
        seen.push(line);
    }
    bail!("tcpdump stopped before listening: {}", seen.join("; "))
}

/// Groups tcpdump's lines into frames: each frame starts with its time
/// (`00:00:00.000030` with -ttt); with -vv the rest of an IPv4 frame follows
/// on indented lines.
pub fn frames(tcpdump: &str) -> Vec<String> {
    let mut frames: Vec<String> = Vec::new();
    for line in tcpdump.lines().filter(|l| !l.trim().is_empty()) {
        let starts_frame = line.split_whitespace().next().is_some_and(|w| {
            w.contains(':')
                && w.contains('.')
                && w.chars()
                    .all(|c| c.is_ascii_digit() || c == ':' || c == '.')
        });
        match frames.last_mut() {
            Some(last) if !starts_frame => {
                last.push('\n');
                last.push_str(line);
            }
            _ => frames.push(line.to_string()),
        }
    }
    frames
}

/// `xdpstack stats` as (counter, value) pairs, from its table.
fn stats(xdpstack: &str) -> Result<Vec<(String, u64)>> {
    Ok(parse_stats(&stack(&[xdpstack, "stats"])?))
}

pub fn parse_stats(table: &str) -> Vec<(String, u64)> {
    table
        .lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            let name = words.next()?;
            let value = words.next()?.parse().ok()?;
            Some((name.to_string(), value))
        })
        .collect()
}

/// The counters that moved, aligned: `xdp.arp_replied  +1`.
pub fn counter_changes(before: &[(String, u64)], after: &[(String, u64)]) -> String {
    let moved: Vec<(String, u64)> = after
        .iter()
        .filter_map(|(name, v)| {
            let old = before
                .iter()
                .find(|(n, _)| n == name)
                .map_or(0, |(_, o)| *o);
            (*v > old).then(|| (name.clone(), v - old))
        })
        .collect();
    let width = moved.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
    let mut out = String::from("counters that moved (xdpstack stats, after minus before):");
    for (name, delta) in moved {
        out.push_str(&format!("\n{name:<width$}  +{delta}"));
    }
    out
}

/// Replaces the body of every `<!-- trace:NAME -->` ... `<!-- /trace -->`
/// block with a fenced `text` block of `blocks[NAME]`. Returns the new
/// document and the names of blocks it does not show.
pub fn rewrite(doc: &str, blocks: &BTreeMap<String, String>) -> Result<(String, Vec<String>)> {
    const OPEN: &str = "<!-- trace:";
    const CLOSE: &str = "<!-- /trace -->";
    let mut out = String::with_capacity(doc.len());
    let mut used = Vec::new();
    let mut rest = doc;
    while let Some(at) = rest.find(OPEN) {
        let name_start = at + OPEN.len();
        let name_end = rest[name_start..]
            .find("-->")
            .map(|i| name_start + i)
            .ok_or_else(|| anyhow!("unterminated marker at `{}`", &rest[at..]))?;
        let name = rest[name_start..name_end].trim();
        let body_start = name_end + "-->".len();
        let close = rest[body_start..]
            .find(CLOSE)
            .map(|i| body_start + i)
            .ok_or_else(|| anyhow!("block {name} has no `{CLOSE}`"))?;
        let content = blocks
            .get(name)
            .ok_or_else(|| anyhow!("{DOC} shows block {name}, which the trace does not make"))?;
        out.push_str(&rest[..body_start]);
        out.push_str("\n```text\n");
        out.push_str(content.trim_end());
        out.push_str("\n```\n");
        out.push_str(CLOSE);
        used.push(name.to_string());
        rest = &rest[close + CLOSE.len()..];
    }
    out.push_str(rest);
    let unused = blocks
        .keys()
        .filter(|k| !used.contains(k))
        .cloned()
        .collect();
    Ok((out, unused))
}

/// xdpstack running on the stack end, its output collected.
struct Daemon {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Daemon {
    fn start(binary: &Path) -> Result<Daemon> {
        let mut child = netns::command(
            COURSE_STACK_NS,
            [
                binary.display().to_string(),
                "run".into(),
                "--iface".into(),
                COURSE_STACK_IF.into(),
                "--ip".into(),
                format!("{STACK_ADDR}/{PREFIX_LEN}"),
            ],
        )
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Plain log lines (no colour codes) at the level users see.
        .env("RUST_LOG", "info")
        .env("RUST_LOG_STYLE", "never")
        .spawn()
        .context("starting xdpstack run")?;
        let (tx, rx) = mpsc::channel();
        for stream in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    let _ = tx.send(line);
                }
            });
        }
        let mut d = Daemon {
            child,
            lines: rx,
            seen: Vec::new(),
        };
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match d.lines.recv_timeout(left) {
                Ok(line) => {
                    let ready = line.contains("serving");
                    d.seen.push(line);
                    if ready {
                        return Ok(d);
                    }
                }
                Err(_) => {
                    d.stop();
                    bail!(
                        "xdpstack did not say it was serving within {READY_TIMEOUT:?}: {}",
                        d.seen.join("; ")
                    );
                }
            }
        }
    }

    /// SIGTERM, then a bounded wait; SIGKILL if it does not exit.
    fn stop(&mut self) {
        let pid = self.child.id().to_string();
        let _ = cmd::output(Command::new("kill").args(["-TERM", &pid]));
        for _ in 0..50 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// What it printed while starting, without log timestamps.
    fn output(&self, binary: &Path) -> String {
        let command = stack_line(&format!(
            "xdpstack run --iface {COURSE_STACK_IF} --ip {STACK_ADDR}/{PREFIX_LEN}"
        ));
        let lines: Vec<String> = self
            .seen
            .iter()
            .map(|l| strip_log_time(l).replace(&binary.display().to_string(), "xdpstack"))
            .collect();
        format!("{command}\n{}", lines.join("\n"))
    }
}

/// `[2026-11-21T05:40:50Z INFO ] text` -> `[INFO] text`.
pub fn strip_log_time(line: &str) -> String {
    let Some(rest) = line.strip_prefix('[') else {
        return line.to_string();
    };
    let Some((head, text)) = rest.split_once(']') else {
        return line.to_string();
    };
    match head.split_whitespace().collect::<Vec<_>>().as_slice() {
        [_time, level] => format!("[{level}]{text}"),
        _ => line.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrite_replaces_only_marked_blocks() {
        let doc = "intro\n<!-- trace:a -->\nold\n<!-- /trace -->\nmiddle\n<!-- trace:b -->\n<!-- /trace -->\nend\n";
        let mut blocks = BTreeMap::new();
        blocks.insert("a".to_string(), "new a\n".to_string());
        blocks.insert("b".to_string(), "new b".to_string());
        blocks.insert("c".to_string(), "unused".to_string());
        let (out, unused) = rewrite(doc, &blocks).unwrap();
        assert_eq!(
            out,
            "intro\n<!-- trace:a -->\n```text\nnew a\n```\n<!-- /trace -->\nmiddle\n\
             <!-- trace:b -->\n```text\nnew b\n```\n<!-- /trace -->\nend\n"
        );
        assert_eq!(unused, ["c"]);
        // Rewriting again gives the same document.
        assert_eq!(rewrite(&out, &blocks).unwrap().0, out);
    }

    #[test]
    fn rewrite_refuses_unknown_or_unclosed_blocks() {
        let blocks = BTreeMap::new();
        assert!(rewrite("<!-- trace:x -->\n<!-- /trace -->", &blocks).is_err());
        let mut blocks = BTreeMap::new();
        blocks.insert("x".to_string(), "y".to_string());
        assert!(rewrite("<!-- trace:x -->\nno end", &blocks).is_err());
        assert!(rewrite("<!-- trace:x", &blocks).is_err());
    }

    #[test]
    fn tcpdump_lines_group_into_frames() {
        let out = " 00:00:00.000000 02:00:0a:0a:00:02 > ff:ff:ff:ff:ff:ff, ethertype ARP (0x0806), length 42: Request who-has 10.10.0.4 tell 10.10.0.2, length 28\n \
                   00:00:00.000030 02:00:0a:0a:00:04 > 02:00:0a:0a:00:02, ethertype IPv4 (0x0800), length 98: (tos 0x0, ttl 64, id 1, offset 0, flags [DF], proto ICMP (1), length 84)\n    \
                   10.10.0.4 > 10.10.0.2: ICMP echo reply, id 7, seq 1, length 64\n";
        let f = frames(out);
        assert_eq!(f.len(), 2, "{f:?}");
        assert!(f[0].contains("who-has"));
        assert!(f[1].contains("ethertype IPv4") && f[1].contains("echo reply"));
    }

    #[test]
    fn counters_that_moved() {
        let before =
            parse_stats("XDP mode: native (x)\nCOUNTER  VALUE  RATE\nxdp.a  1\nxdp.b  5\n");
        let after = parse_stats("COUNTER  VALUE  RATE\nxdp.a  2\nxdp.b  5\nxsk.0.rx  3\n");
        assert_eq!(
            counter_changes(&before, &after),
            "counters that moved (xdpstack stats, after minus before):\nxdp.a     +1\nxsk.0.rx  +3"
        );
    }

    #[test]
    fn log_timestamps_are_dropped() {
        assert_eq!(
            strip_log_time("[2026-11-21T05:40:50Z INFO ] XDP native mode"),
            "[INFO] XDP native mode"
        );
        assert_eq!(strip_log_time("xdpstack: serving"), "xdpstack: serving");
    }
}
