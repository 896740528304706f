//! `cargo xtask lab up|down|status`: the fixed course lab (see [`crate::netns`]).

use std::path::Path;
use std::process::Command;

use anyhow::Result;

use crate::cmd;
use crate::netns::{
    namespaces, Lab, LabOptions, CLIENT_ADDR, CLIENT_ADDR6, COURSE_CLIENT_IF, COURSE_CLIENT_NS,
    COURSE_STACK_IF, COURSE_STACK_NS, PREFIX_LEN6, STACK_ADDR, STACK_ADDR6,
};

/// Where the client end's `peer_counter` attachment is pinned, so it
/// outlives the command that made it; `lab down` removes it.
pub const PEER_PIN: &str = "/sys/fs/bpf/xdpstack/xdplab-client-peer";

/// Attaches xdpstack's `peer_counter` program to the client end and pins it.
/// Without an XDP program there, the client end does not receive the frames
/// xdpstack sends with XDP_TX (see `xdpstack::fastpath::peer`).
pub fn attach_peer(xdpstack: &Path) -> Result<()> {
    let _ = std::fs::remove_file(PEER_PIN);
    cmd::status_ok(Command::new(xdpstack).args([
        "peer-attach",
        "--netns",
        COURSE_CLIENT_NS,
        "--iface",
        COURSE_CLIENT_IF,
        "--pin",
        PEER_PIN,
    ]))
}

/// Creates the course lab, or reconfigures it if it is already there.
pub fn up(opts: LabOptions) -> Result<()> {
    up_with_queues(opts, None)
}

/// As [`up`], with `queues` RX/TX queues per veth end (None: as the lab
/// has them, 1 for a new one); a lab with another count is made again.
pub fn up_with_queues(opts: LabOptions, queues: Option<u32>) -> Result<()> {
    let was_up = Lab::course_is_up()?;
    let lab = Lab::course_with_queues(opts, queues)?;
    if !opts.stack_kernel_addr {
        let binary = crate::run::build(crate::run::Profile::Release)?;
        attach_peer(&binary)?;
    }
    let verb = if was_up {
        "already up, reconfigured"
    } else {
        "created"
    };
    println!("lab {verb}:");
    println!(
        "  {:<14} {:<12} {}",
        lab.client().ns(),
        lab.client().iface(),
        lab.client().kernel_addr().unwrap_or("-")
    );
    println!(
        "  {:<14} {:<12} {}",
        lab.stack().ns(),
        lab.stack().iface(),
        lab.stack()
            .kernel_addr()
            .unwrap_or("no kernel address: xdpstack answers for 10.10.0.4")
    );
    if let Ok(q) = crate::netns::link_queues(COURSE_STACK_NS, COURSE_STACK_IF) {
        if q > 1 {
            println!(
                "  {q} RX/TX queues per veth end: xdpstack serves them all (--queues N for fewer)"
            );
        }
    }
    if opts.stack_kernel_addr {
        println!("kernel mode: Linux in {COURSE_STACK_NS} answers for {STACK_ADDR}");
    } else {
        println!("start xdpstack in it with `cargo xtask run` (IPv6 too: `cargo xtask run --ip6 {STACK_ADDR6}/{PREFIX_LEN6}`)");
    }
    print_hints();
    println!("remove it with `cargo xtask lab down`");
    Ok(())
}

/// What to try from the client namespace.
pub fn print_hints() {
    println!("try from the client namespace (another terminal):");
    println!("  sudo ip netns exec {COURSE_CLIENT_NS} ping {STACK_ADDR}");
    println!("  sudo ip netns exec {COURSE_CLIENT_NS} arping -i {COURSE_CLIENT_IF} {STACK_ADDR}");
    println!("  sudo ip netns exec {COURSE_CLIENT_NS} ping -6 {STACK_ADDR6}");
    println!("  sudo ip netns exec {COURSE_CLIENT_NS} ip -6 neigh");
    println!("  sudo ip netns exec {COURSE_CLIENT_NS} tcpdump -ni {COURSE_CLIENT_IF}");
}

/// Deletes the course lab (its namespaces, hence its veth pair).
pub fn down() -> Result<()> {
    let _ = std::fs::remove_file(PEER_PIN);
    let deleted = Lab::course_down()?;
    if deleted.is_empty() {
        println!("lab was not up: nothing to delete");
    } else {
        println!("lab down: deleted namespaces {}", deleted.join(", "));
    }
    Ok(())
}

/// Shows namespaces, links, addresses and any XDP program on the stack end.
pub fn status() -> Result<()> {
    let existing = namespaces()?;
    let present = |ns: &str| existing.iter().any(|n| n == ns);
    let state = match (present(COURSE_CLIENT_NS), present(COURSE_STACK_NS)) {
        (true, true) if Lab::course_is_up()? => "up",
        (false, false) => "down (create it with `cargo xtask lab up`)",
        _ => "half-built (`cargo xtask lab up` rebuilds it, `lab down` removes it)",
    };
    println!("lab: {state}");
    for (ns, iface) in [
        (COURSE_CLIENT_NS, COURSE_CLIENT_IF),
        (COURSE_STACK_NS, COURSE_STACK_IF),
    ] {
        if !present(ns) {
            println!("namespace {ns}: absent");
            continue;
        }
        println!("namespace {ns}:");
        print_indented("links", &ip(&["-n", ns, "-br", "link"]));
        print_indented("addresses", &ip(&["-n", ns, "-br", "addr"]));
        if ns == COURSE_CLIENT_NS {
            // Shows whether ARP for 10.10.0.4 was answered, and with which MAC.
            print_indented("neighbours", &ip(&["-n", ns, "neigh"]));
        } else {
            print_indented("XDP", &xdp_summary(ns, iface));
        }
    }
    println!(
        "addresses: client {CLIENT_ADDR} and {CLIENT_ADDR6}, stack {STACK_ADDR} and {STACK_ADDR6} (with --ip6)"
    );
    Ok(())
}

/// The XDP lines of `ip -d link show`: the mode flag on the first line
/// (`xdp`, `xdpgeneric`, ...) and `prog/xdp id N name ...`.
fn xdp_summary(ns: &str, iface: &str) -> String {
    let out = ip(&["-n", ns, "-d", "link", "show", "dev", iface]);
    let mut lines = Vec::new();
    if let Some(first) = out.lines().next() {
        if let Some(flag) = first.split_whitespace().find(|w| w.starts_with("xdp")) {
            let mode = match flag {
                "xdp" | "xdpdrv" => "native",
                "xdpgeneric" => "generic (skb, slow)",
                "xdpoffload" => "offloaded",
                _ => "several programs",
            };
            lines.push(format!("attached, mode {mode} ({flag})"));
        }
    }
    lines.extend(
        out.lines()
            .map(str::trim)
            .filter(|l| l.starts_with("prog/xdp"))
            .map(str::to_string),
    );
    if lines.is_empty() {
        "no XDP program attached".to_string()
    } else {
        lines.join("\n")
    }
}

/// `ip ARGS` output, or the error as text: status shows what it can.
fn ip(args: &[&str]) -> String {
    cmd::stdout_ok(Command::new("ip").args(args)).unwrap_or_else(|e| format!("({e:#})"))
}

fn print_indented(title: &str, text: &str) {
    println!("  {title}:");
    let text = text.trim_end();
    if text.is_empty() {
        println!("    (none)");
    }
    for line in text.lines() {
        println!("    {line}");
    }
}
