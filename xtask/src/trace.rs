//! `cargo xtask lab trace`: regenerates the captures of `docs/packet-flow.md`.
//!
//! It brings up the course lab, starts xdpstack on the stack end, and for
//! each journey of the document watches both ends of the wire while it
//! drives the traffic with the real tools (`ping`, `nc`, `curl`,
//! `xdpstack ping`): tcpdump on the client's veth, and on the stack's side
//! what a learner runs there, `xdpstack capture -w - | tcpdump -r -`, plus
//! `xdpstack capture` printing lines, which name the path each frame took
//! (tcpdump does not print PcapNG comments). It reads `xdpstack stats`
//! before and after to show which counters moved. Then it rewrites, in
//! place, every block of the document that sits between `<!-- trace:NAME -->`
//! and `<!-- /trace -->`; the prose around them is left alone. A block the
//! document names but the trace did not produce is an error, so the
//! document cannot silently keep stale output.
//!
//! Every wait is bounded: each tcpdump runs under `timeout`, the captures
//! end by SIGINT once the traffic is over, the daemon must say it is serving
//! within 20 s and that a capture started within 5 s.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};

use crate::netns::{
    self, is_root, Lab, LabOptions, CLIENT_ADDR, CLIENT_ADDR6, COURSE_CLIENT_IF, COURSE_CLIENT_NS,
    COURSE_STACK_IF, COURSE_STACK_NS, PREFIX_LEN, PREFIX_LEN6, STACK_ADDR, STACK_ADDR6,
};
use crate::run::{build, Profile};
use crate::{cmd, lab, workspace_root};

/// The document whose capture blocks this rewrites.
pub const DOC: &str = "docs/packet-flow.md";
/// tcpdump as the document shows it: link-level headers (-e), numbers not
/// names (-n), every header field (-vv), time since the previous frame (-ttt).
const TCPDUMP: &[&str] = &["tcpdump", "-l", "-e", "-n", "-vv", "-ttt"];
/// The IPv4 journeys' filter: the namespaces' kernels' own IPv6 chatter
/// (router solicitations, MLD) would only add noise.
const FILTER: &str = "arp or icmp";
/// The IPv6 journey's: ICMPv6 between the two lab addresses, the neighbour
/// solicitation to the solicited-node group included.
const FILTER6: &str = "icmp6 and (src host fd00:10:10::2 or src host fd00:10:10::4)";
/// Upper bound on one capture; it normally ends by SIGINT after the traffic.
const CAPTURE_SECS: &str = "30";
const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a capture goes on after the traffic, for the last frames.
const SETTLE: Duration = Duration::from_millis(400);

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

/// Starts xdpstack, drives the journeys, stops it; returns the blocks.
fn trace(binary: &Path) -> Result<BTreeMap<String, String>> {
    let mut blocks = BTreeMap::new();
    let mut daemon = Daemon::start(binary)?;
    let outcome = journeys(binary, &mut daemon, &mut blocks);
    daemon.stop();
    outcome?;
    blocks.insert("start".into(), daemon.output(binary));
    Ok(blocks)
}

/// Puts a journey's views into `blocks` as `NAME-capture` (the client's
/// tcpdump), `NAME-stack` (the stack's capture through tcpdump) and
/// `NAME-paths` (the stack's capture as lines), and its counters.
fn record(
    blocks: &mut BTreeMap<String, String>,
    name: &str,
    seen: &Seen,
    before: &[(String, u64)],
    after: &[(String, u64)],
) {
    blocks.insert(format!("{name}-capture"), seen.client.join("\n"));
    blocks.insert(
        format!("{name}-stack"),
        shown(
            &stack_line(&format!(
                "xdpstack capture -w - | tcpdump -r - -e -n -vv -ttt '{}'",
                seen.filter
            )),
            &seen.stack.join("\n"),
        ),
    );
    blocks.insert(
        format!("{name}-paths"),
        shown(
            &stack_line("xdpstack capture"),
            &format!("{}\n^C\n{}", seen.paths.join("\n"), seen.tally),
        ),
    );
    blocks.insert(format!("{name}-counters"), counter_changes(before, after));
}

fn journeys(
    binary: &Path,
    daemon: &mut Daemon,
    blocks: &mut BTreeMap<String, String>,
) -> Result<()> {
    let xdpstack = binary.display().to_string();
    let v4 = |l: &str| l.contains("ethertype ARP") || l.contains("ethertype IPv4");

    // 1. One ping, the client knowing nothing yet: ARP, then echo.
    client(&["ip", "neigh", "flush", "dev", COURSE_CLIENT_IF])?;
    let before = stats(&xdpstack)?;
    let seen = both_sides(daemon, &xdpstack, FILTER, &v4, || {
        client(&["ping", "-c", "1", "-W", "2", STACK_ADDR])
    })?;
    let after = stats(&xdpstack)?;
    record(blocks, "ping", &seen, &before, &after);
    blocks.insert(
        "ping-command".into(),
        shown(
            &client_line(&format!("ping -c 1 {STACK_ADDR}")),
            &seen.output,
        ),
    );
    let frames = &seen.client;
    let find = |what: &str, f: &dyn Fn(&str) -> bool| pick(frames, what, f);
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
    let seen = both_sides(daemon, &xdpstack, FILTER, &v4, || {
        client(&["ping", "-c", "1", "-W", "2", "-s", "3000", STACK_ADDR])
    })?;
    let after = stats(&xdpstack)?;
    record(blocks, "frag", &seen, &before, &after);
    blocks.insert(
        "frag-command".into(),
        shown(
            &client_line(&format!("ping -c 1 -s 3000 {STACK_ADDR}")),
            &seen.output,
        ),
    );
    let from_client = format!("{CLIENT_ADDR} > {STACK_ADDR}");
    let from_stack = format!("{STACK_ADDR} > {CLIENT_ADDR}");
    blocks.insert(
        "frag-in".into(),
        all(&seen.client, "fragments in", &|f| f.contains(&from_client))?,
    );
    blocks.insert(
        "frag-out".into(),
        all(&seen.client, "fragments out", &|f| f.contains(&from_stack))?,
    );

    // 3. xdpstack pings the client, having forgotten its MAC: ARP first.
    stack(&[&xdpstack, "arp", "flush"])?;
    let before = stats(&xdpstack)?;
    let seen = both_sides(daemon, &xdpstack, FILTER, &v4, || {
        stack(&[&xdpstack, "ping", CLIENT_ADDR, "-c", "1"])
    })?;
    let after = stats(&xdpstack)?;
    record(blocks, "out", &seen, &before, &after);
    blocks.insert(
        "out-command".into(),
        shown(
            &stack_line(&format!("xdpstack ping {CLIENT_ADDR} -c 1")),
            &seen.output,
        ),
    );
    let frames = &seen.client;
    let who_has_client = format!("Request who-has {CLIENT_ADDR} tell {STACK_ADDR}");
    let client_is_at = format!("Reply {CLIENT_ADDR} is-at");
    let to_client = format!("{STACK_ADDR} > {CLIENT_ADDR}: ICMP echo request");
    let to_stack = format!("{CLIENT_ADDR} > {STACK_ADDR}: ICMP echo reply");
    blocks.insert(
        "out-arp-request".into(),
        find_in(frames, "xdpstack's ARP request", &who_has_client)?,
    );
    blocks.insert(
        "out-arp-reply".into(),
        find_in(frames, "the client's ARP reply", &client_is_at)?,
    );
    blocks.insert(
        "out-echo-request".into(),
        find_in(frames, "xdpstack's echo request", &to_client)?,
    );
    blocks.insert(
        "out-echo-reply".into(),
        find_in(frames, "the client's echo reply", &to_stack)?,
    );
    blocks.insert(
        "out-arp-table".into(),
        shown(&stack_line("xdpstack arp"), &stack(&[&xdpstack, "arp"])?),
    );

    // 4. A UDP datagram to the echo service (port 7, RFC 862).
    let udp_filter = "udp port 7";
    let before = stats(&xdpstack)?;
    let seen = both_sides(daemon, &xdpstack, udp_filter, &v4, || {
        client(&[
            "sh",
            "-c",
            &format!("printf 'hello\\n' | nc -u -w 1 {STACK_ADDR} 7"),
        ])
    })?;
    let after = stats(&xdpstack)?;
    record(blocks, "udp", &seen, &before, &after);
    blocks.insert(
        "udp-command".into(),
        shown(
            &client_line(&format!(
                "sh -c \"printf 'hello\\n' | nc -u -w 1 {STACK_ADDR} 7\""
            )),
            &seen.output,
        ),
    );
    count_at_least(&seen.client, "the datagram and its echo", 2)?;

    // 5. A TCP connection to the HTTP service: handshake, request,
    //    response, close. HEAD keeps the response to one segment.
    let tcp_filter = "tcp port 80";
    let url = format!("http://{STACK_ADDR}/");
    let before = stats(&xdpstack)?;
    let seen = both_sides(daemon, &xdpstack, tcp_filter, &v4, || {
        client(&["curl", "-sS", "-I", "--max-time", "5", &url])
    })?;
    let after = stats(&xdpstack)?;
    record(blocks, "tcp", &seen, &before, &after);
    blocks.insert(
        "tcp-command".into(),
        shown(&client_line(&format!("curl -sS -I {url}")), &seen.output),
    );
    count_at_least(&seen.client, "the connection's segments", 7)?;

    // 6. IPv6: neighbour discovery and an echo, both answered in-kernel.
    let v6 = |l: &str| l.contains(CLIENT_ADDR6) || l.contains(STACK_ADDR6);
    client(&["ip", "-6", "neigh", "flush", "dev", COURSE_CLIENT_IF])?;
    let before = stats(&xdpstack)?;
    let seen = both_sides(daemon, &xdpstack, FILTER6, &v6, || {
        client(&["ping", "-6", "-c", "1", "-W", "2", STACK_ADDR6])
    })?;
    let after = stats(&xdpstack)?;
    record(blocks, "v6", &seen, &before, &after);
    blocks.insert(
        "v6-command".into(),
        shown(
            &client_line(&format!("ping -6 -c 1 {STACK_ADDR6}")),
            &seen.output,
        ),
    );
    count_at_least(&seen.client, "the solicitation, advert, echo and reply", 4)?;
    blocks.insert(
        "v6-neigh".into(),
        shown(
            &client_line(&format!("ip -6 neigh show {STACK_ADDR6}")),
            &client(&["ip", "-6", "neigh", "show", STACK_ADDR6])?,
        ),
    );

    // 7. IPv6 through userspace: a UDP datagram to the echo service. The
    //    fast path hands it over; the userspace stack answers from the
    //    neighbour cache the XDP program's NDP events filled in step 6.
    let udp6_filter = "ip6 and udp port 7";
    let before = stats(&xdpstack)?;
    let seen = both_sides(daemon, &xdpstack, udp6_filter, &v6, || {
        client(&[
            "sh",
            "-c",
            &format!("printf 'hello\\n' | nc -6 -u -w 1 {STACK_ADDR6} 7"),
        ])
    })?;
    let after = stats(&xdpstack)?;
    record(blocks, "v6udp", &seen, &before, &after);
    blocks.insert(
        "v6udp-command".into(),
        shown(
            &client_line(&format!(
                "sh -c \"printf 'hello\\n' | nc -6 -u -w 1 {STACK_ADDR6} 7\""
            )),
            &seen.output,
        ),
    );
    count_at_least(&seen.client, "the datagram and its echo", 2)?;
    blocks.insert(
        "v6-stack-neigh".into(),
        shown(
            &stack_line("xdpstack neigh -6"),
            &stack(&[&xdpstack, "neigh", "-6"])?,
        ),
    );
    Ok(())
}

/// Fails when a capture holds fewer than `n` frames.
fn count_at_least(frames: &[String], what: &str, n: usize) -> Result<()> {
    if frames.len() < n {
        bail!(
            "the capture lacks {what} ({} frames, {n} expected):\n{}",
            frames.len(),
            frames.join("\n")
        );
    }
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

/// One journey as both ends saw it.
struct Seen {
    filter: &'static str,
    /// The client's tcpdump, one entry per frame.
    client: Vec<String>,
    /// `xdpstack capture -w - | tcpdump -r -`, one entry per frame.
    stack: Vec<String>,
    /// `xdpstack capture`'s lines that `keep` admitted.
    paths: Vec<String>,
    /// Its last words: "N frames captured, M lost".
    tally: String,
    /// What the driving command printed.
    output: String,
}

/// Watches both ends while `drive` runs: tcpdump on the client veth, and on
/// the stack end two capture clients, one piped into tcpdump, one printing
/// lines (those `keep` admits are kept). All end once the traffic is over.
fn both_sides(
    daemon: &mut Daemon,
    xdpstack: &str,
    filter: &'static str,
    keep: &dyn Fn(&str) -> bool,
    drive: impl FnOnce() -> Result<String>,
) -> Result<Seen> {
    let mut args = vec!["timeout", CAPTURE_SECS];
    args.extend_from_slice(TCPDUMP);
    args.extend(["-i", COURSE_CLIENT_IF, filter]);
    let mut tcpdump = netns::command(COURSE_CLIENT_NS, &args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting tcpdump: is it installed? (`cargo xtask setup`)")?;
    let mut procs = Procs(vec![]);
    let outcome = (|| {
        wait_listening(&mut tcpdump)?;
        // The learner's command, as two processes so that SIGINT reaches
        // the capture and tcpdump then reads to the end of the stream.
        let mut piped = netns::command(COURSE_STACK_NS, [xdpstack, "capture", "-w", "-"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("starting xdpstack capture -w -")?;
        let stream = piped
            .stdout
            .take()
            .ok_or_else(|| anyhow!("the capture's stdout is not piped"))?;
        procs.0.push(piped);
        let mut args = vec!["timeout", CAPTURE_SECS];
        args.extend_from_slice(TCPDUMP);
        args.extend(["-r", "-", filter]);
        let reader = netns::command(COURSE_STACK_NS, &args)
            .stdin(Stdio::from(stream))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("starting tcpdump -r -")?;
        procs.0.push(reader);
        // The first client turns the in-kernel copy on; the daemon says so.
        daemon.wait_for("capture started", Duration::from_secs(5))?;
        let mut lines = netns::command(COURSE_STACK_NS, [xdpstack, "capture"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting xdpstack capture")?;
        let stderr = lines
            .stderr
            .take()
            .ok_or_else(|| anyhow!("the capture's stderr is not piped"))?;
        procs.0.push(lines);
        let said = line_channel(stderr);
        // It prints this once its subscription is in place.
        wait_line(&said, "capturing on", Duration::from_secs(5))?;
        let output = drive()?;
        std::thread::sleep(SETTLE);
        Ok::<_, anyhow::Error>((output, said))
    })();
    // SIGINT ends each capture cleanly; tcpdump -r then sees the stream end.
    interrupt(&tcpdump);
    for i in [0, 2] {
        if let Some(p) = procs.0.get(i) {
            interrupt(p);
        }
    }
    let client = frames(&read_all(&mut tcpdump)?);
    let _ = tcpdump.wait();
    let (output, said) = outcome?;
    let stack_out = match procs.0.get_mut(1) {
        Some(reader) => read_all(reader)?,
        None => String::new(),
    };
    let lines_out = match procs.0.get_mut(2) {
        Some(lines) => read_all(lines)?,
        None => String::new(),
    };
    procs.wait();
    // Its stderr closes as it exits, which ends this iteration.
    let tally = said
        .iter()
        .find(|l| l.contains("frames captured"))
        .ok_or_else(|| anyhow!("xdpstack capture did not say what it captured"))?;
    Ok(Seen {
        filter,
        client,
        stack: frames(&stack_out),
        paths: lines_out
            .lines()
            .filter(|l| keep(l))
            .map(String::from)
            .collect(),
        tally,
        output,
    })
}

/// Processes of one journey: waited for (after SIGINT, or killed if they
/// linger) whatever happens, so none keeps a namespace alive.
struct Procs(Vec<Child>);

impl Procs {
    fn wait(&mut self) {
        for p in &mut self.0 {
            for _ in 0..50 {
                if let Ok(Some(_)) = p.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = p.kill();
            let _ = p.wait();
        }
        self.0.clear();
    }
}

impl Drop for Procs {
    fn drop(&mut self) {
        for p in &self.0 {
            interrupt(p);
        }
        self.wait();
    }
}

fn interrupt(p: &Child) {
    let _ = cmd::output(Command::new("kill").args(["-INT", &p.id().to_string()]));
}

fn read_all(p: &mut Child) -> Result<String> {
    let mut s = String::new();
    if let Some(mut out) = p.stdout.take() {
        out.read_to_string(&mut s).context("reading a capture")?;
    }
    Ok(s)
}

/// The lines of `r`, as they come, on a channel.
fn line_channel(r: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(r).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Waits for a line containing `needle`; lines before it are dropped.
fn wait_line(lines: &mpsc::Receiver<String>, needle: &str, within: Duration) -> Result<()> {
    let deadline = Instant::now() + within;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) if line.contains(needle) => return Ok(()),
            Ok(line) => seen.push(line),
            Err(_) => bail!("no `{needle}` within {within:?}: {}", seen.join("; ")),
        }
    }
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
                "--ip6".into(),
                format!("{STACK_ADDR6}/{PREFIX_LEN6}"),
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

    /// Waits for a log line containing `needle` (after the start).
    fn wait_for(&mut self, needle: &str, within: Duration) -> Result<()> {
        wait_line(&self.lines, needle, within).context("xdpstack's log")
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
            "xdpstack run --iface {COURSE_STACK_IF} --ip {STACK_ADDR}/{PREFIX_LEN} \
             --ip6 {STACK_ADDR6}/{PREFIX_LEN6}"
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
