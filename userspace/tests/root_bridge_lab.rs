//! The Docker topology without Docker: the stack's `eth0` is a veth whose
//! peer is enslaved to a Linux bridge in a third, "host" namespace, and the
//! client hangs off the same bridge. As in a container, the stack
//! namespace's kernel also owns 10.10.0.4, and nothing is attached on the
//! host side of the veth.
//!
//! ```text
//!  <stack ns>                     <host ns>                      <client ns>
//!  eth0 10.10.0.4/24 ── veth-s ─ br0 ─ veth-c ── eth0 10.10.0.2/24
//!  xdpstack run --mode auto
//! ```
//!
//! Natively sent XDP_TX frames are dropped by a veth peer without NAPI, so
//! `--mode auto` must pick skb mode here, and the replies must still come
//! from XDP, once per request. Root only; unique names, deleted on drop.

mod support;

use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use support::*;
use xdpstack::fastpath::peer::PeerProgram;
use xtask::netns::{delete_namespace, exec_ok, namespaces, TEST_PREFIX};

/// Three namespaces joined by a bridge; dropping it deletes them (which
/// deletes the veths and the bridge).
struct BridgeLab {
    stack: String,
    host: String,
    client: String,
}

impl BridgeLab {
    fn new() -> BridgeLab {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let tag = format!(
            "{TEST_PREFIX}{:06x}b{:x}",
            std::process::id() & 0xff_ffff,
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let lab = BridgeLab {
            stack: format!("{tag}-stack"),
            host: format!("{tag}-host"),
            client: format!("{tag}-client"),
        };
        let existing = namespaces().expect("ip netns list");
        for ns in lab.all() {
            assert!(
                !existing.iter().any(|n| n == ns),
                "namespace {ns} already exists"
            );
        }
        // Built field by field so a failure half-way still drops (deletes)
        // what was made.
        for ns in lab.all() {
            ip(&["netns", "add", ns]);
        }
        // Interface names live inside the unique namespaces, so they can be
        // the ones Docker uses.
        for (ns, host_end) in [(&lab.stack, "veth-s"), (&lab.client, "veth-c")] {
            ip(&[
                "link", "add", "eth0", "netns", ns, "type", "veth", "peer", "name", host_end,
                "netns", &lab.host,
            ]);
        }
        let h = lab.host.as_str();
        ip(&["-n", h, "link", "add", "br0", "type", "bridge"]);
        for port in ["veth-s", "veth-c"] {
            ip(&["-n", h, "link", "set", port, "master", "br0"]);
            ip(&["-n", h, "link", "set", port, "up"]);
        }
        ip(&["-n", h, "link", "set", "br0", "up"]);
        for (ns, addr) in [(&lab.stack, "10.10.0.4/24"), (&lab.client, "10.10.0.2/24")] {
            ip(&["-n", ns, "addr", "add", addr, "dev", "eth0"]);
            ip(&["-n", ns, "link", "set", "lo", "up"]);
            ip(&["-n", ns, "link", "set", "eth0", "up"]);
        }
        // As docker-compose.yml's client does: TSO off (skb-mode AF_XDP
        // frames cannot hold TCP super-frames); TX checksum offload stays on.
        exec_ok(&lab.client, ["ethtool", "-K", "eth0", "tso", "off"]).expect("ethtool");
        assert!(
            eventually(5, || {
                let out = exec_ok(&lab.client, ["ip", "-o", "link", "show", "eth0"]);
                out.is_ok_and(|o| o.contains("LOWER_UP"))
            }),
            "client eth0 has no carrier"
        );
        lab
    }

    fn all(&self) -> [&String; 3] {
        [&self.stack, &self.host, &self.client]
    }

    /// Runs `args` in the client namespace, bounded by `timeout 20`.
    fn client(&self, args: &[&str]) -> Output {
        Command::new("ip")
            .args(["netns", "exec", &self.client, "timeout", "20"])
            .args(args)
            .output()
            .expect("running a client command")
    }

    fn client_ok(&self, args: &[&str]) -> String {
        let out = self.client(args);
        assert!(
            out.status.success(),
            "{args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A counter of /proc/net/snmp (`Icmp: InEchoReps`, ...) in `ns`.
    fn snmp(&self, ns: &str, group: &str, name: &str) -> u64 {
        let snmp = exec_ok(ns, ["cat", "/proc/net/snmp"]).expect("reading snmp");
        let prefix = format!("{group}:");
        let rows: Vec<&str> = snmp.lines().filter(|l| l.starts_with(&prefix)).collect();
        let names: Vec<&str> = rows[0].split_whitespace().collect();
        let values: Vec<&str> = rows[1].split_whitespace().collect();
        let i = names.iter().position(|n| *n == name).expect("column");
        values[i].parse().expect("a number")
    }

    /// A counter of /proc/net/snmp6 (`Icmp6OutEchoReplies`, ...) in `ns`.
    fn snmp6(&self, ns: &str, name: &str) -> u64 {
        let snmp6 = exec_ok(ns, ["cat", "/proc/net/snmp6"]).expect("reading snmp6");
        snmp6
            .lines()
            .find_map(|l| {
                let mut words = l.split_whitespace();
                (words.next() == Some(name)).then(|| words.next())?
            })
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in /proc/net/snmp6"))
    }
}

impl Drop for BridgeLab {
    fn drop(&mut self) {
        for ns in self.all() {
            if let Err(e) = delete_namespace(ns) {
                eprintln!("warning: bridge lab cleanup: {e:#}");
            }
        }
    }
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("running ip");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The real daemon on the stack's eth0, with its control socket in a
/// directory of its own (every lab's interface is called eth0).
struct Daemon {
    child: Child,
    ns: String,
    control_dir: String,
}

impl Daemon {
    fn start(lab: &BridgeLab) -> Daemon {
        Daemon::start_with(lab, &[])
    }

    /// With `extra` arguments to `xdpstack run` (`--ip6 ...`).
    fn start_with(lab: &BridgeLab, extra: &[&str]) -> Daemon {
        let control_dir = format!("/run/xdpstack/{}", lab.stack);
        let mut child = Command::new("ip")
            .args(["netns", "exec", &lab.stack])
            .arg(env!("CARGO_BIN_EXE_xdpstack"))
            .args(["run", "--iface", "eth0", "--ip", "10.10.0.4/24"])
            .args(extra)
            .args(["--mode", "auto", "--control-dir", &control_dir])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting xdpstack run");
        wait_ready(&mut child, String::new);
        Daemon {
            child,
            ns: lab.stack.clone(),
            control_dir,
        }
    }

    fn cli(&self, args: &[&str]) -> Output {
        Command::new("ip")
            .args(["netns", "exec", &self.ns])
            .arg(env!("CARGO_BIN_EXE_xdpstack"))
            .args(args)
            .args(["--control-dir", &self.control_dir])
            .output()
            .expect("running the CLI")
    }

    fn stats(&self) -> serde_json::Value {
        let out = self.cli(&["stats", "--json"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("JSON")
    }

    fn xdp(&self, counter: &str) -> u64 {
        self.stats()["xdp"][counter].as_u64().expect("a counter")
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.control_dir);
    }
}

/// ARP replies from 10.10.0.4 seen on the client's eth0 while `arping`
/// sends `count` requests (tcpdump bounded by `timeout`).
fn arp_replies_seen(lab: &BridgeLab, count: u32) -> usize {
    let mut tcpdump = Command::new("ip")
        .args(["netns", "exec", &lab.client, "timeout", "6"])
        .args(["tcpdump", "-l", "-n", "-i", "eth0"])
        .args(["arp and arp[6:2] = 2 and arp[14:4] = 0x0a0a0004"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting tcpdump");
    // tcpdump says "listening on" once its filter is in place.
    let stderr = tcpdump.stderr.take().expect("piped");
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stderr));
    let listening = lines.any(|l| l.is_ok_and(|l| l.contains("listening on")));
    assert!(listening, "tcpdump did not start");
    let n = count.to_string();
    let out = lab.client_ok(&["arping", "-c", &n, "-w", "5", "-i", "eth0", "10.10.0.4"]);
    assert!(out.contains(&format!("{n} packets received")), "{out}");
    let seen = tcpdump.wait_with_output().expect("tcpdump output");
    String::from_utf8_lossy(&seen.stdout)
        .lines()
        .filter(|l| l.contains("Reply 10.10.0.4 is-at"))
        .count()
}

#[test]
fn root_docker_shaped_bridge_auto_picks_skb_and_xdp_answers_once() {
    if !root_or_skip("root_docker_shaped_bridge_auto_picks_skb_and_xdp_answers_once") {
        return;
    }
    let lab = BridgeLab::new();
    let d = Daemon::start(&lab);

    // auto saw the peer (veth-s, in the host namespace) without XDP: skb.
    let stats = d.stats();
    assert_eq!(stats["xdp_mode"], "skb", "{stats}");
    let why = stats["xdp_mode_reason"].as_str().unwrap_or("");
    assert!(
        why.contains("veth-s") && why.contains("no native XDP program"),
        "{why}"
    );
    let link = exec_ok(&lab.stack, ["ip", "-d", "link", "show", "eth0"]).unwrap();
    assert!(link.contains("xdpgeneric"), "{link}");
    let out = d.cli(&["stats"]);
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("XDP mode: skb ("));

    // ping: one reply per request, from XDP, none from the stack's kernel
    // although it owns 10.10.0.4 too.
    let kernel_replies = lab.snmp(&lab.stack, "Icmp", "OutEchoReps");
    let client_got = lab.snmp(&lab.client, "Icmp", "InEchoReps");
    let out = lab.client_ok(&["ping", "-c", "5", "-i", "0.2", "-W", "2", "10.10.0.4"]);
    assert!(out.contains("5 received") && !out.contains("DUP"), "{out}");
    assert_eq!(lab.snmp(&lab.client, "Icmp", "InEchoReps"), client_got + 5);
    assert_eq!(lab.snmp(&lab.stack, "Icmp", "OutEchoReps"), kernel_replies);
    assert!(d.xdp("icmp_echo_replied") >= 5);

    // arping: exactly one ARP reply per request on the client's wire, from XDP.
    let arp_before = d.xdp("arp_replied");
    assert_eq!(arp_replies_seen(&lab, 3), 3);
    assert_eq!(d.xdp("arp_replied"), arp_before + 3);
    // The stack's kernel never saw a request (it would have learned the client).
    let neigh = exec_ok(&lab.stack, ["ip", "neigh", "show", "10.10.0.2"]).unwrap();
    assert!(neigh.trim().is_empty(), "{neigh}");

    // Fragments reach userspace through AF_XDP in skb mode and are answered.
    let out = lab.client_ok(&["ping", "-c", "2", "-W", "2", "-s", "3000", "10.10.0.4"]);
    assert!(out.contains("2 received") && !out.contains("DUP"), "{out}");
    assert_eq!(lab.snmp(&lab.stack, "Icmp", "OutEchoReps"), kernel_replies);
    assert!(d.stats()["stack"]["stack"]["icmp_echo_replies_sent"].as_u64() >= Some(2));

    // UDP reaches the userspace stack with a good checksum and is refused
    // with a port unreachable (no UDP socket listens there).
    let stat = |part: &str, k: &str| d.stats()["stack"][part][k].as_u64().unwrap_or(0);
    let (received, errors) = (stat("udp", "received"), stat("stack", "icmp_errors_sent"));
    lab.client(&["sh", "-c", "echo hello | nc -u -w 1 10.10.0.4 9999"]);
    assert!(eventually(5, || stat("udp", "received") > received));
    assert!(eventually(5, || stat("stack", "icmp_errors_sent") > errors));
    assert_eq!(stat("udp", "bad_checksum"), 0);

    // TCP bulk data with the client's default checksum offload: partial
    // checksums accepted, every byte delivered.
    lab.client_ok(&[
        "sh",
        "-c",
        "head -c 2000000 /dev/zero | nc -N -w 10 10.10.0.4 9",
    ]);
    assert!(eventually(5, || d.stats()["services"]["discard"]
        ["tcp_bytes"]
        .as_u64()
        == Some(2_000_000)));
    assert!(stat("tcp", "partial_checksum_accepted") > 1000);
    assert_eq!(stat("tcp", "bad_checksum"), 0);

    // Outbound: xdpstack resolves 10.10.0.2 and pings it.
    let out = d.cli(&["ping", "10.10.0.2", "-c", "2", "-i", "0.2"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("2 received"),
        "{text}"
    );
}

#[test]
fn root_bridge_peer_with_xdp_lets_auto_pick_native() {
    if !root_or_skip("root_bridge_peer_with_xdp_lets_auto_pick_native") {
        return;
    }
    let lab = BridgeLab::new();
    // A native XDP program on the host end gives it NAPI: XDP_TX'd frames
    // arrive there, then go through the bridge as usual.
    let peer = PeerProgram::attach(Some(&lab.host), "veth-s").expect("attaching peer_counter");
    let d = Daemon::start(&lab);
    let stats = d.stats();
    assert_eq!(stats["xdp_mode"], "native", "{stats}");
    let out = lab.client_ok(&["ping", "-c", "3", "-i", "0.2", "-W", "2", "10.10.0.4"]);
    assert!(out.contains("3 received") && !out.contains("DUP"), "{out}");
    assert!(d.xdp("icmp_echo_replied") >= 3);
    assert!(peer.counts().expect("peer counters").echo_replies >= 3);
}

#[test]
fn root_docker_shaped_bridge_answers_ipv6_in_xdp() {
    if !root_or_skip("root_docker_shaped_bridge_answers_ipv6_in_xdp") {
        return;
    }
    let lab = BridgeLab::new();
    // docker-compose.yml's IPv6 addresses; Docker gives the stack container's
    // kernel fd00:10:10::4 too. nodad: usable at once.
    for (ns, addr) in [
        (&lab.stack, "fd00:10:10::4/64"),
        (&lab.client, "fd00:10:10::2/64"),
    ] {
        ip(&["-n", ns, "addr", "add", addr, "dev", "eth0", "nodad"]);
    }
    let d = Daemon::start_with(&lab, &["--ip6", "fd00:10:10::4/64"]);
    assert_eq!(d.stats()["xdp_mode"], "skb");

    // ping -6: one reply per request, from XDP, none from the stack's kernel.
    let kernel_replies = lab.snmp6(&lab.stack, "Icmp6OutEchoReplies");
    let kernel_adverts = lab.snmp6(&lab.stack, "Icmp6OutNeighborAdvertisements");
    let out = lab.client_ok(&[
        "ping",
        "-6",
        "-c",
        "3",
        "-i",
        "0.2",
        "-W",
        "2",
        "fd00:10:10::4",
    ]);
    println!("{out}");
    assert!(out.contains("3 received") && !out.contains("DUP"), "{out}");
    assert!(d.xdp("icmp6_echo_replied") >= 3);
    assert_eq!(lab.snmp6(&lab.stack, "Icmp6OutEchoReplies"), kernel_replies);

    // ndisc6: the solicitation to ff02::1:ff00:4 crosses the bridge and the
    // advert carries the stack's MAC, sent by XDP.
    let adverts = d.xdp("ndp_advert_sent");
    let out = lab.client_ok(&["ndisc6", "-r", "2", "fd00:10:10::4", "eth0"]);
    let link = exec_ok(&lab.stack, ["cat", "/sys/class/net/eth0/address"]).unwrap();
    let mac = link.trim().to_uppercase();
    println!("{out}");
    assert!(
        out.contains("Target link-layer address:") && out.to_uppercase().contains(&mac),
        "{out}"
    );
    assert!(d.xdp("ndp_advert_sent") > adverts);
    assert_eq!(
        lab.snmp6(&lab.stack, "Icmp6OutNeighborAdvertisements"),
        kernel_adverts
    );
}
