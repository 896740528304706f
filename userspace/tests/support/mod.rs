//! Shared by the root-only integration tests: frames built with the
//! project's own wire module, and a harness that runs the real daemon in a
//! uniquely named lab (see `xtask::netns`).
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::Ipv4Addr;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use aya::programs::{TestRun, TestRunOptions};
use xdpstack::fastpath::peer::PeerProgram;
use xdpstack::fastpath::Fastpath;
use xdpstack::wire::{
    ArpOp, ArpPacket, ArpRepr, EtherType, EthernetFrame, EthernetRepr, Icmpv4Packet, Icmpv4Repr,
    IpProtocol, Ipv4Packet, Ipv4Repr, MacAddr,
};
use xtask::netns::{Lab, LabOptions};

pub mod ipv6;

pub const US_IP: Ipv4Addr = Ipv4Addr::new(10, 10, 0, 4);
pub const US_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x04]);
pub const PEER_IP: Ipv4Addr = Ipv4Addr::new(10, 10, 0, 2);
pub const PEER_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x02]);

/// Root tests print why they did nothing when not root; CI runs as root.
pub fn root_or_skip(test: &str) -> bool {
    if xtask::netns::is_root() {
        return true;
    }
    eprintln!("skipping {test}: needs root (CI runs it as root)");
    false
}

pub fn ethernet(src: MacAddr, dst: MacAddr, ethertype: EtherType, payload: &[u8]) -> Vec<u8> {
    let mut buf = vec![0u8; 14 + payload.len()];
    let mut f = EthernetFrame::new_unchecked(&mut buf[..]);
    EthernetRepr {
        src,
        dst,
        ethertype,
    }
    .emit(&mut f);
    f.payload_mut().copy_from_slice(payload);
    buf
}

pub fn arp(op: ArpOp, smac: MacAddr, sip: Ipv4Addr, tmac: MacAddr, tip: Ipv4Addr) -> Vec<u8> {
    let mut buf = vec![0u8; 28];
    ArpRepr {
        operation: op,
        sender_mac: smac,
        sender_ip: sip,
        target_mac: tmac,
        target_ip: tip,
    }
    .emit(&mut ArpPacket::new_unchecked(&mut buf[..]));
    buf
}

/// An ARP request from the peer for `target`, broadcast, as Linux sends it.
pub fn arp_request_frame(target: Ipv4Addr) -> Vec<u8> {
    let a = arp(ArpOp::Request, PEER_MAC, PEER_IP, MacAddr::ZERO, target);
    ethernet(PEER_MAC, MacAddr::BROADCAST, EtherType::Arp, &a)
}

/// An IPv4 datagram (20-byte header) around `payload`.
pub fn ipv4(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    protocol: IpProtocol,
    ttl: u8,
    payload: &[u8],
) -> Vec<u8> {
    let repr = Ipv4Repr {
        src,
        dst,
        protocol,
        payload_len: payload.len(),
        ttl,
        ident: 0x1234,
        dont_frag: true,
        more_frags: false,
        frag_offset: 0,
        tos: 0,
    };
    let mut buf = vec![0u8; repr.buffer_len()];
    let mut p = Ipv4Packet::new_unchecked(&mut buf[..]);
    repr.emit(&mut p);
    p.payload_mut().copy_from_slice(payload);
    buf
}

pub fn icmp(repr: &Icmpv4Repr<'_>) -> Vec<u8> {
    let mut buf = vec![0u8; repr.buffer_len()];
    repr.emit(&mut Icmpv4Packet::new_unchecked(&mut buf[..]));
    buf
}

/// An echo request from the peer to us with `size` bytes of data.
pub fn echo_request_frame(size: usize) -> Vec<u8> {
    let data: Vec<u8> = (0..size).map(|i| (i * 7) as u8).collect();
    let i = icmp(&Icmpv4Repr::EchoRequest {
        ident: 0x4242,
        seq: 7,
        data: &data,
    });
    let ip = ipv4(PEER_IP, US_IP, IpProtocol::Icmp, 63, &i);
    ethernet(PEER_MAC, US_MAC, EtherType::Ipv4, &ip)
}

/// A lab with the real daemon serving 10.10.0.4 on its stack end and the
/// peer program on its client end. Dropping it stops the daemon and
/// deletes the namespaces.
pub struct Running {
    pub lab: Lab,
    pub daemon: Child,
    pub peer: PeerProgram,
}

impl Running {
    pub fn start(extra: &[&str]) -> Running {
        let lab = Lab::test(LabOptions::default()).expect("creating the test lab");
        let peer = PeerProgram::attach(Some(lab.client().ns()), lab.client().iface())
            .expect("attaching peer_counter to the client end");
        let mut daemon = lab
            .stack()
            .command(run_args(&lab, &[], extra))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting xdpstack run");
        wait_ready(&mut daemon, String::new);
        Running { lab, daemon, peer }
    }

    /// Runs `xdpstack ARGS --iface <stack iface>` in the stack namespace.
    pub fn cli(&self, args: &[&str]) -> Output {
        let mut all: Vec<String> = vec![env!("CARGO_BIN_EXE_xdpstack").to_string()];
        all.extend(args.iter().map(|s| s.to_string()));
        all.extend(["--iface".to_string(), self.lab.stack().iface().to_string()]);
        self.lab
            .stack()
            .command(&all)
            .output()
            .expect("running the CLI")
    }

    pub fn cli_json(&self, args: &[&str]) -> serde_json::Value {
        let out = self.cli(args);
        assert!(
            out.status.success(),
            "xdpstack {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("JSON output")
    }

    /// A counter from `xdpstack stats --json`, by path like "xdp.arp_replied".
    pub fn stat(&self, path: &str) -> u64 {
        let v = self.cli_json(&["stats", "--json"]);
        let mut cur = &v;
        for part in path.split('.') {
            cur = &cur[part];
        }
        cur.as_u64()
            .unwrap_or_else(|| panic!("no counter {path} in {v}"))
    }

    /// Runs a command in the client namespace, bounded by `timeout`.
    pub fn client(&self, args: &[&str]) -> Output {
        self.client_within(20, args)
    }

    /// Runs a command in the client namespace, killed after `secs` seconds.
    pub fn client_within(&self, secs: u64, args: &[&str]) -> Output {
        let secs = secs.to_string();
        let mut all = vec!["timeout", secs.as_str()];
        all.extend_from_slice(args);
        self.lab
            .client()
            .command(all)
            .output()
            .expect("running a client command")
    }

    pub fn client_ok(&self, args: &[&str]) -> String {
        let out = self.client(args);
        assert!(
            out.status.success(),
            "{args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// OutEchoReps of the stack namespace's own kernel (/proc/net/snmp).
    pub fn stack_kernel_echo_replies(&self) -> u64 {
        let snmp = self
            .lab
            .stack()
            .exec_ok(["cat", "/proc/net/snmp"])
            .expect("reading snmp");
        let icmp: Vec<&str> = snmp.lines().filter(|l| l.starts_with("Icmp:")).collect();
        let names: Vec<&str> = icmp[0].split_whitespace().collect();
        let values: Vec<&str> = icmp[1].split_whitespace().collect();
        let i = names
            .iter()
            .position(|n| *n == "OutEchoReps")
            .expect("OutEchoReps column");
        values[i].parse().expect("a number")
    }

    /// Whether an XDP program is attached to the stack end.
    pub fn xdp_attached(&self) -> bool {
        let out = self
            .lab
            .stack()
            .exec_ok(["ip", "-d", "link", "show", "dev", self.lab.stack().iface()])
            .expect("ip link show");
        out.contains("prog/xdp")
    }

    pub fn pid(&self) -> i32 {
        // `ip netns exec` execs the command, so the child is xdpstack itself.
        self.daemon.id() as i32
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}

/// Waits (bounded) for the daemon's ready line.
pub fn wait_ready(daemon: &mut Child, context: impl Fn() -> String) {
    let stdout = daemon.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            println!("xdpstack: {line}");
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if line.contains("serving") => return,
            Ok(_) => continue,
            Err(_) => {
                // Nobody else will stop it: the caller panics before it
                // holds the child anywhere that is dropped.
                let _ = daemon.kill();
                let status = daemon.wait().ok();
                panic!(
                    "xdpstack did not become ready within 20 s (exit {status:?}): {}",
                    context()
                );
            }
        }
    }
}

/// `[prefix...] xdpstack run --iface <stack iface> --ip 10.10.0.4/24
/// [extra...]`. `prefix` is e.g. a `setpriv` invocation that execs
/// xdpstack, so the child's pid stays the daemon's.
pub fn run_args(lab: &Lab, prefix: &[&str], extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = prefix.iter().map(|s| s.to_string()).collect();
    args.extend([
        env!("CARGO_BIN_EXE_xdpstack").to_string(),
        "run".into(),
        "--iface".into(),
        lab.stack().iface().to_string(),
        "--ip".into(),
        "10.10.0.4/24".into(),
    ]);
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

/// Runs the XDP program once on `frame` (BPF_PROG_TEST_RUN): the verdict
/// and the frame as it left.
pub fn test_run(fp: &Fastpath, frame: &[u8]) -> Result<(u32, Vec<u8>), String> {
    let mut out = vec![0u8; frame.len() + 256];
    let r = fp
        .program()
        .map_err(|e| e.to_string())?
        .test_run(TestRunOptions {
            data_in: Some(frame),
            data_out: Some(&mut out),
            ..Default::default()
        })
        .map_err(|e| format!("test run: {e}"))?;
    out.truncate(r.data_size_out as usize);
    Ok((r.return_value, out))
}

/// Polls `f` every 50 ms until it is true, at most `secs` seconds.
pub fn eventually(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    f()
}

pub fn kill(pid: i32, signal: i32) {
    // SAFETY: plain syscall on a pid we started.
    unsafe { libc::kill(pid, signal) };
}

pub fn command_exists(name: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .is_ok_and(|o| o.status.success())
}
