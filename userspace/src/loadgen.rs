//! The load generator and per-packet cost probe behind `cargo xtask bench`
//! (the hidden `xdpstack loadgen flood|cost` subcommands, which print JSON).
//! Only with the `lab` feature: its programs are in the lab object
//! ([`crate::fastpath::lab`]), which the product does not carry.
//!
//! - [`flood`]: sends one request frame as fast as the kernel can, for a
//!   fixed time, out of the lab's client veth. It runs the tiny `loadgen`
//!   program (XDP_TX) with BPF_PROG_TEST_RUN in live-frames mode
//!   (`BPF_F_TEST_XDP_LIVE_FRAMES`): the kernel builds the frames in a page
//!   pool and transmits them as if a driver had bounced them, with no socket,
//!   skb or qdisc on the way. The pool recycles pages without resetting
//!   their data, and the fast path answers in place, so `loadgen` writes the
//!   request's headers back each time. Replies are counted, then dropped,
//!   by `peer_sink` on the same veth, so the client's kernel does not spend
//!   the CPU on them that the responder needs.
//! - [`cost`]: BPF_PROG_TEST_RUN of the fast path and of the `mac_swap`
//!   reference through the `cost_harness` program, which puts the request
//!   back before every repetition, so each repetition answers a request.
//!
//! Both send IPv4 (echo, ARP) or IPv6 (ICMPv6 echo, Neighbor Solicitation)
//! requests; an IPv6 answer rewrites more of the frame, so its request is
//! restored in two parts (`REQUEST_HEAD` and `REQUEST_TAIL`).

use std::ffi::CString;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use aya::maps::{Array, MapData, PerCpuArray, ProgramArray};
use aya::programs::{
    loaded_programs, ProgramFd, TestRun, TestRunAttrs, TestRunOptions, Xdp, XdpMode,
};
use aya::sys::Stats;
use aya::Ebpf;
use serde::Serialize;
use xdpstack_common::bench::{RequestTail, HARNESS_TARGET, REQUEST_HEAD_LEN, REQUEST_TAIL_LEN};
use xdpstack_common::config::{FastpathConfig, FLAG_CAPTURE, FLAG_FASTPATH, FLAG_NEIGH_EVENTS};
use xdpstack_common::counters::{Counter, PeerCounter};
use xdpstack_common::names;

use crate::fastpath::lab;
use crate::fastpath::loader::{program_mut, program_ref};
use crate::fastpath::peer::enter_netns;
use crate::fastpath::Fastpath;
use crate::wire::{
    ipv6, ArpOp, ArpPacket, ArpRepr, EtherType, EthernetFrame, EthernetRepr, Icmpv4Packet,
    Icmpv4Repr, Icmpv6Packet, Icmpv6Repr, IpProtocol, Ipv4Packet, Ipv4Repr, Ipv6Packet, Ipv6Repr,
    MacAddr, NdpRepr, NextHeader,
};

/// What `loadgen flood` sends (the command line is `cli::FloodArgs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FloodKind {
    /// ICMP echo requests.
    Echo,
    /// ARP requests.
    Arp,
    /// ICMPv6 echo requests (RFC 4443 4.1).
    Echo6,
    /// Neighbor Solicitations for the responder's address (RFC 4861 4.3).
    Ns,
}

impl FloodKind {
    pub fn name(self) -> &'static str {
        match self {
            FloodKind::Echo => "echo",
            FloodKind::Arp => "arp",
            FloodKind::Echo6 => "echo6",
            FloodKind::Ns => "ns",
        }
    }

    pub fn is_ipv6(self) -> bool {
        matches!(self, FloodKind::Echo6 | FloodKind::Ns)
    }

    /// Whether the request carries `payload` data bytes.
    fn has_payload(self) -> bool {
        matches!(self, FloodKind::Echo | FloodKind::Echo6)
    }

    /// What the peer program counts as this kind's answer.
    fn answer(self) -> PeerCounter {
        match self {
            FloodKind::Echo => PeerCounter::EchoReplies,
            FloodKind::Arp => PeerCounter::ArpReplies,
            FloodKind::Echo6 => PeerCounter::Echo6Replies,
            FloodKind::Ns => PeerCounter::NeighborAdverts,
        }
    }
}

/// A flood out of `iface` (in `netns`) for `duration` seconds.
#[derive(Clone, Debug)]
pub struct FloodArgs {
    pub netns: Option<String>,
    pub iface: String,
    pub kind: FloodKind,
    /// ICMP data bytes of each echo request.
    pub payload: usize,
    pub duration: f64,
    pub src_mac: MacAddr,
    /// Of the family `kind` sends.
    pub src_ip: IpAddr,
    /// The responder's MAC (echo requests are unicast to it).
    pub dst_mac: MacAddr,
    pub dst_ip: IpAddr,
    /// Also report bpf_stats (run_time_ns / run_cnt) of this program id.
    pub stats_prog_id: Option<u32>,
    /// One sending thread pinned to each of these CPUs (empty: one thread,
    /// unpinned). A veth puts XDP_TX'd frames on the peer's RX queue
    /// `cpu % queues`, so several CPUs spread the flood over queues.
    pub cpus: Vec<usize>,
}

/// `loadgen cost`: repetitions per BPF_PROG_TEST_RUN, and measurements of
/// each case (the median is reported).
#[derive(Clone, Copy, Debug)]
pub struct CostArgs {
    pub repeat: u32,
    pub trials: u32,
    /// With `FLAG_CAPTURE` set and the capture ring drained meanwhile.
    pub capture: bool,
    /// The IPv6 cases (ICMPv6 echo, Neighbor Solicitation) instead of the
    /// IPv4 ones (echo, ARP).
    pub ipv6: bool,
}

const XDP_TX: u32 = 3;

/// Frames per BPF_PROG_TEST_RUN call: short enough (~10-50 ms) to stop on
/// time, long enough that the syscall itself does not count.
const FLOOD_REPEAT: u32 = 32 * 1024;
/// Live-frames batch: frames transmitted per flush (the kernel's maximum is 256).
const LIVE_BATCH: u32 = 256;
/// After the last request, how long replies may still arrive (a userspace
/// responder drains its rings) before they are counted.
const DRAIN: Duration = Duration::from_millis(200);

/// The frame a flood or a cost probe sends: a request from `src` to `dst`.
#[derive(Clone, Copy, Debug)]
pub struct Endpoints {
    pub src_mac: MacAddr,
    pub src_ip: Ipv4Addr,
    pub dst_mac: MacAddr,
    pub dst_ip: Ipv4Addr,
}

/// The IPv6 twin of [`Endpoints`].
#[derive(Clone, Copy, Debug)]
pub struct Endpoints6 {
    pub src_mac: MacAddr,
    pub src_ip: Ipv6Addr,
    pub dst_mac: MacAddr,
    pub dst_ip: Ipv6Addr,
}

/// An ARP request for `dst_ip`, broadcast, as Linux sends it (RFC 826).
pub fn arp_request(ep: &Endpoints) -> Vec<u8> {
    let mut buf = vec![0u8; 14 + 28];
    let mut eth = EthernetFrame::new_unchecked(&mut buf[..]);
    EthernetRepr {
        src: ep.src_mac,
        dst: MacAddr::BROADCAST,
        ethertype: EtherType::Arp,
    }
    .emit(&mut eth);
    ArpRepr {
        operation: ArpOp::Request,
        sender_mac: ep.src_mac,
        sender_ip: ep.src_ip,
        target_mac: MacAddr::ZERO,
        target_ip: ep.dst_ip,
    }
    .emit(&mut ArpPacket::new_unchecked(eth.payload_mut()));
    buf
}

/// An ICMP echo request (RFC 792) with `payload` bytes of data, unicast to
/// `dst_mac`, with valid IPv4 and ICMP checksums.
pub fn echo_request(ep: &Endpoints, payload: usize) -> Vec<u8> {
    let data: Vec<u8> = (0..payload).map(|i| i as u8).collect();
    let icmp = Icmpv4Repr::EchoRequest {
        ident: 0xbe7c,
        seq: 1,
        data: &data,
    };
    let ip = Ipv4Repr {
        src: ep.src_ip,
        dst: ep.dst_ip,
        protocol: IpProtocol::Icmp,
        payload_len: icmp.buffer_len(),
        ttl: 64,
        ident: 0x4242,
        dont_frag: true,
        more_frags: false,
        frag_offset: 0,
        tos: 0,
    };
    let mut buf = vec![0u8; 14 + ip.buffer_len()];
    let mut eth = EthernetFrame::new_unchecked(&mut buf[..]);
    EthernetRepr {
        src: ep.src_mac,
        dst: ep.dst_mac,
        ethertype: EtherType::Ipv4,
    }
    .emit(&mut eth);
    let mut ipp = Ipv4Packet::new_unchecked(eth.payload_mut());
    ip.emit(&mut ipp);
    icmp.emit(&mut Icmpv4Packet::new_unchecked(ipp.payload_mut()));
    buf
}

/// An Ethernet frame carrying the ICMPv6 message `icmp` from `src` to
/// `dst` (addresses and hop limit as given), its checksum filled.
fn icmpv6_frame(
    src_mac: MacAddr,
    dst_mac: MacAddr,
    src: Ipv6Addr,
    dst: Ipv6Addr,
    hop_limit: u8,
    icmp: &Icmpv6Repr,
) -> Vec<u8> {
    let ip = Ipv6Repr {
        src,
        dst,
        next_header: NextHeader::Icmpv6,
        payload_len: icmp.buffer_len(),
        hop_limit,
        traffic_class: 0,
        flow_label: 0,
    };
    let mut buf = vec![0u8; 14 + ip.buffer_len()];
    let mut eth = EthernetFrame::new_unchecked(&mut buf[..]);
    EthernetRepr {
        src: src_mac,
        dst: dst_mac,
        ethertype: EtherType::Ipv6,
    }
    .emit(&mut eth);
    let mut ipp = Ipv6Packet::new_unchecked(eth.payload_mut());
    ip.emit(&mut ipp);
    icmp.emit(
        src,
        dst,
        &mut Icmpv6Packet::new_unchecked(ipp.payload_mut()),
    );
    buf
}

/// An ICMPv6 echo request (RFC 4443 4.1) with `payload` data bytes,
/// unicast to `dst_mac`, as `ping -6` sends it (hop limit 64).
pub fn echo6_request(ep: &Endpoints6, payload: usize) -> Vec<u8> {
    let data: Vec<u8> = (0..payload).map(|i| i as u8).collect();
    let icmp = Icmpv6Repr::EchoRequest {
        ident: 0xbe7c,
        seq: 1,
        data: &data,
    };
    icmpv6_frame(ep.src_mac, ep.dst_mac, ep.src_ip, ep.dst_ip, 64, &icmp)
}

/// A Neighbor Solicitation for `dst_ip` from `src_ip`, to its
/// solicited-node group with the source link-layer option, as Linux
/// resolves an address (RFC 4861 7.2.2): 86 bytes.
pub fn neighbor_solicit(ep: &Endpoints6) -> Vec<u8> {
    let group = ipv6::solicited_node(ep.dst_ip);
    let icmp = Icmpv6Repr::Ndp(NdpRepr::NeighborSolicit {
        target: ep.dst_ip,
        lladdr: Some(ep.src_mac),
    });
    icmpv6_frame(
        ep.src_mac,
        ipv6::multicast_mac(group),
        ep.src_ip,
        group,
        255,
        &icmp,
    )
}

/// The request a flood of `kind` sends between `src` and `dst`; an error
/// when the addresses are not of the kind's family.
pub fn request(
    kind: FloodKind,
    payload: usize,
    (src_mac, src_ip): (MacAddr, IpAddr),
    (dst_mac, dst_ip): (MacAddr, IpAddr),
) -> Result<Vec<u8>> {
    match (kind, src_ip, dst_ip) {
        (FloodKind::Echo | FloodKind::Arp, IpAddr::V4(src_ip), IpAddr::V4(dst_ip)) => {
            let ep = Endpoints {
                src_mac,
                src_ip,
                dst_mac,
                dst_ip,
            };
            Ok(if kind == FloodKind::Arp {
                arp_request(&ep)
            } else {
                echo_request(&ep, payload)
            })
        }
        (FloodKind::Echo6 | FloodKind::Ns, IpAddr::V6(src_ip), IpAddr::V6(dst_ip)) => {
            let ep = Endpoints6 {
                src_mac,
                src_ip,
                dst_mac,
                dst_ip,
            };
            Ok(if kind == FloodKind::Ns {
                neighbor_solicit(&ep)
            } else {
                echo6_request(&ep, payload)
            })
        }
        _ => bail!(
            "--kind {} needs IPv{} --src-ip and --dst-ip",
            kind.name(),
            if kind.is_ipv6() { 6 } else { 4 }
        ),
    }
}

/// The bytes the bench programs restore: an IPv6 request needs its tail
/// too, and must be long enough to hold it.
fn restored_len(kind: FloodKind) -> usize {
    if kind.is_ipv6() {
        REQUEST_HEAD_LEN + REQUEST_TAIL_LEN
    } else {
        REQUEST_HEAD_LEN
    }
}

/// What one flood did.
#[derive(Debug, Serialize)]
pub struct FloodReport {
    /// `echo`, `arp`, `echo6` or `ns`.
    pub kind: &'static str,
    /// ICMP data bytes (echo, echo6) or 0 (ARP, NS).
    pub payload: usize,
    pub frame_len: usize,
    /// Frames the generator transmitted.
    pub offered: u64,
    /// Replies of the flooded kind counted on the client veth.
    pub answered: u64,
    /// Anything else that arrived on the client veth meanwhile.
    pub other: u64,
    pub elapsed_s: f64,
    pub offered_pps: f64,
    pub answered_pps: f64,
    /// 1 - answered / offered.
    pub loss: f64,
    /// bpf_stats of the program `--stats-prog-id` during the flood.
    pub prog_stats: Option<ProgStats>,
}

/// `run_time_ns / run_cnt` of a loaded program over an interval
/// (kernel.bpf_stats_enabled).
#[derive(Debug, Serialize)]
pub struct ProgStats {
    pub prog_id: u32,
    pub name: String,
    pub run_cnt: u64,
    pub run_time_ns: u64,
    pub ns_per_run: f64,
}

/// `xdpstack loadgen flood`.
pub fn flood(args: &FloodArgs) -> Result<FloodReport> {
    if args.duration <= 0.0 || args.duration > 3600.0 {
        bail!("--duration must be between 0 and 3600 seconds");
    }
    let kind = args.kind;
    let frame = request(
        kind,
        args.payload,
        (args.src_mac, args.src_ip),
        (args.dst_mac, args.dst_ip),
    )?;
    let min_len = restored_len(kind);
    if frame.len() < min_len || frame.len() > 1514 {
        bail!(
            "--payload {} makes a frame outside {min_len}..=1514 bytes",
            args.payload
        );
    }
    let netns = args.netns.clone();
    let iface = args.iface.clone();
    let duration = Duration::from_secs_f64(args.duration);
    let stats_prog = args.stats_prog_id;
    let payload = if kind.has_payload() { args.payload } else { 0 };
    let cpus = args.cpus.clone();
    // setns() moves only the calling thread: the whole flood (interface
    // lookups, attach, live-frames runs) happens on a thread of its own.
    std::thread::spawn(move || -> Result<FloodReport> {
        if let Some(ns) = &netns {
            enter_netns(ns)?;
        }
        let ifindex = if_index(&iface)?;
        let mut ebpf = lab::load()?;
        let sink = program_mut(&mut ebpf, names::lab::PEER_SINK_PROGRAM)?;
        sink.load().context("loading peer_sink")?;
        // Detached when `ebpf` is dropped at the end of this thread.
        sink.attach(&iface, XdpMode::Driver)
            .with_context(|| format!("attaching peer_sink to {iface}"))?;
        program_mut(&mut ebpf, names::lab::LOADGEN_PROGRAM)?
            .load()
            .context("loading loadgen")?;
        set_request(&mut ebpf, &frame, kind.is_ipv6())?;
        let replies: PerCpuArray<&MapData, u64> = PerCpuArray::try_from(
            ebpf.map(names::lab::PEER_COUNTERS_MAP)
                .ok_or_else(|| anyhow!("map {} missing", names::lab::PEER_COUNTERS_MAP))?,
        )?;
        let count =
            |c: PeerCounter| -> Result<u64> { Ok(replies.get(&(c as u32), 0)?.iter().sum()) };
        let replied = kind.answer();
        let generator = program_ref(&ebpf, names::lab::LOADGEN_PROGRAM)?;
        let ctx = xdp_md(ifindex, frame.len());
        let _stats_on = match stats_prog {
            Some(_) => Some(enable_stats()?),
            None => None,
        };
        let stats_before = stats_prog.map(prog_stats).transpose()?;
        let (before, other_before) = (count(replied)?, count(PeerCounter::Other)?);
        let start = Instant::now();
        let send = || -> Result<u64> {
            let mut offered = 0u64;
            while start.elapsed() < duration {
                generator
                    .test_run(TestRunOptions {
                        data_in: Some(&frame),
                        ctx_in: Some(&ctx),
                        repeat: FLOOD_REPEAT,
                        attrs: TestRunAttrs::new().xdp_live_frames(LIVE_BATCH),
                        ..Default::default()
                    })
                    .map_err(|e| anyhow!("BPF_PROG_TEST_RUN (live frames) on {iface}: {e}"))?;
                offered += u64::from(FLOOD_REPEAT);
            }
            Ok(offered)
        };
        let offered = if cpus.is_empty() {
            send()?
        } else {
            std::thread::scope(|s| {
                let senders: Vec<_> = cpus
                    .iter()
                    .map(|&cpu| {
                        let (netns, send) = (&netns, &send);
                        s.spawn(move || -> Result<u64> {
                            // Each thread enters the namespace itself (setns
                            // is per thread) and runs on its CPU only.
                            if let Some(ns) = netns {
                                enter_netns(ns)?;
                            }
                            pin_to_cpu(cpu)?;
                            send()
                        })
                    })
                    .collect();
                senders
                    .into_iter()
                    .map(|h| {
                        h.join()
                            .unwrap_or_else(|_| Err(anyhow!("a flood thread panicked")))
                    })
                    .sum::<Result<u64>>()
            })?
        };
        let elapsed = start.elapsed().as_secs_f64();
        let stats_after = stats_prog.map(prog_stats).transpose()?;
        std::thread::sleep(DRAIN);
        let answered = count(replied)? - before;
        let other = count(PeerCounter::Other)? - other_before;
        let prog_stats = match (stats_before, stats_after) {
            (Some(b), Some(a)) => Some(ProgStats {
                prog_id: a.prog_id,
                name: a.name,
                run_cnt: a.run_cnt - b.run_cnt,
                run_time_ns: a.run_time_ns - b.run_time_ns,
                ns_per_run: per(a.run_time_ns - b.run_time_ns, a.run_cnt - b.run_cnt),
            }),
            _ => None,
        };
        Ok(FloodReport {
            kind: kind.name(),
            payload,
            frame_len: frame.len(),
            offered,
            answered,
            other,
            elapsed_s: elapsed,
            offered_pps: offered as f64 / elapsed,
            answered_pps: answered as f64 / elapsed,
            loss: 1.0 - answered as f64 / offered.max(1) as f64,
            prog_stats,
        })
    })
    .join()
    .map_err(|_| anyhow!("the flood thread panicked"))?
}

/// Runs the calling thread on `cpu` only.
fn pin_to_cpu(cpu: usize) -> Result<()> {
    if cpu >= 8 * std::mem::size_of::<libc::cpu_set_t>() {
        bail!("CPU {cpu} is out of range");
    }
    // SAFETY: cpu_set_t is plain data; all-zero is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `cpu` is within the set, checked above.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: a valid set of the size passed; 0 is the calling thread.
    let rc = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) };
    if rc < 0 {
        bail!("pinning to CPU {cpu}: {}", std::io::Error::last_os_error());
    }
    Ok(())
}

/// The `struct xdp_md` a live-frames run needs: the frame spans the whole
/// data (data = 0, data_end = len) and arrives on `ifindex`, queue 0.
fn xdp_md(ifindex: u32, len: usize) -> Vec<u8> {
    // data, data_end, data_meta, ingress_ifindex, rx_queue_index, egress_ifindex
    let fields: [u32; 6] = [0, len as u32, 0, ifindex, 0, 0];
    fields.iter().flat_map(|f| f.to_ne_bytes()).collect()
}

/// The interface index in the calling thread's namespace (sysfs shows the
/// namespace it was mounted in, so it cannot be used after setns()).
fn if_index(iface: &str) -> Result<u32> {
    let name = CString::new(iface).map_err(|_| anyhow!("bad interface name {iface:?}"))?;
    // SAFETY: a valid NUL-terminated string.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    if index == 0 {
        bail!("no interface named '{iface}' in this namespace");
    }
    Ok(index)
}

/// Turns bpf_stats on for as long as the returned descriptor lives.
fn enable_stats() -> Result<OwnedFd> {
    aya::sys::enable_stats(Stats::RunTime)
        .map_err(|e| anyhow!("enabling bpf_stats (BPF_ENABLE_STATS): {e}"))
}

struct RawStats {
    prog_id: u32,
    name: String,
    run_cnt: u64,
    run_time_ns: u64,
}

fn prog_stats(id: u32) -> Result<RawStats> {
    for info in loaded_programs() {
        let info = info.map_err(|e| anyhow!("listing BPF programs: {e}"))?;
        if info.id() == id {
            return Ok(RawStats {
                prog_id: id,
                name: info.name_as_str().unwrap_or("?").to_string(),
                run_cnt: info.run_count(),
                run_time_ns: info.run_time().as_nanos() as u64,
            });
        }
    }
    bail!("no BPF program with id {id}")
}

fn per(total: u64, n: u64) -> f64 {
    if n == 0 {
        0.0
    } else {
        total as f64 / n as f64
    }
}

/// One measured case of [`cost`].
#[derive(Debug, Serialize)]
pub struct CostCase {
    /// `arp`, `echo`, `echo6` or `ns`.
    pub kind: &'static str,
    pub payload: usize,
    pub frame_len: usize,
    pub repeat: u32,
    /// ns per repetition through the harness (the kernel's mean, whole ns),
    /// one value per trial, for the
    /// fast path, the MAC-swap reference, and the empty target.
    pub harness_fastpath_ns: Vec<f64>,
    pub harness_mac_swap_ns: Vec<f64>,
    pub harness_empty_ns: Vec<f64>,
    /// Medians minus the empty target's: the program's own cost.
    pub fastpath_ns: f64,
    pub mac_swap_ns: f64,
    /// fastpath_ns / mac_swap_ns.
    pub ratio: f64,
    /// Whole repetition (harness included), fast path over reference: what a
    /// packet costs end to end in the test-run loop.
    pub ratio_with_harness: f64,
    /// A plain repeated run without the harness (median ns): only the first
    /// repetition sees the request, the rest see the reply the program left.
    pub plain_repeat_fastpath_ns: f64,
    pub plain_repeat_mac_swap_ns: f64,
}

#[derive(Debug, Serialize)]
pub struct CostReport {
    pub method: &'static str,
    pub cases: Vec<CostCase>,
    /// Measured with a capture on (`--capture`): copies made and lost (the
    /// ring was full when the drain thread fell behind).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capture: Option<CaptureCost>,
}

#[derive(Debug, Serialize)]
pub struct CaptureCost {
    pub copies: u64,
    pub lost: u64,
    pub drained: u64,
}

/// `xdpstack loadgen cost`: per-packet cost of the fast path against the
/// MAC-swap reference, by BPF_PROG_TEST_RUN.
pub fn cost(args: &CostArgs) -> Result<CostReport> {
    if args.repeat == 0 || args.trials == 0 {
        bail!("--repeat and --trials must be at least 1");
    }
    let client = MacAddr([0x02, 0, 0, 0, 0, 0x02]);
    let stack = MacAddr([0x02, 0, 0, 0, 0, 0x04]);
    let (client_ip, stack_ip) = (Ipv4Addr::new(10, 10, 0, 2), Ipv4Addr::new(10, 10, 0, 4));
    // The lab's ULA (RFC 4193), as `cargo xtask lab` configures it.
    let client_ip6 = Ipv6Addr::new(0xfd00, 0x10, 0x10, 0, 0, 0, 0, 2);
    let stack_ip6 = Ipv6Addr::new(0xfd00, 0x10, 0x10, 0, 0, 0, 0, 4);
    // Configured as the daemon configures it (fast path on, ARP senders
    // published to userspace: with no reader the ring fills and the program
    // counts the loss, which costs about what a publish does).
    let mut flags = FLAG_FASTPATH | FLAG_NEIGH_EVENTS;
    if args.capture {
        flags |= FLAG_CAPTURE;
    }
    let mut config = FastpathConfig::new(stack_ip.octets(), stack.octets(), flags);
    if args.ipv6 {
        config = config.with_ip6(&[stack_ip6.octets()]);
    }
    let mut fp = Fastpath::load(config)?;
    // A capture client's daemon drains the ring as it fills: so does this
    // thread, or every copy after the first 2048 would be a cheap loss.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let drain = if args.capture {
        let mut ring = fp.take_capture_ring()?;
        let stop = stop.clone();
        Some(std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                while let Some(_item) = ring.next() {
                    n += 1;
                }
                // Drained in passes, as the daemon does (every 5 ms): a
                // reader spinning on the ring pulls its cache lines to the
                // other core under the program and made the figures swing
                // 2-3x from run to run. 1 ms: a 1000-repetition run of
                // full-size frames (2000 copies, 3 MB) fits the 4 MiB ring.
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            n
        }))
    } else {
        None
    };
    // The harness, its empty target and the reference come from the lab
    // object; a program array takes programs of any object.
    let mut ebpf = lab::load()?;
    for name in [
        names::lab::HARNESS_PROGRAM,
        names::lab::NOP_TX_PROGRAM,
        names::lab::MAC_SWAP_PROGRAM,
    ] {
        program_mut(&mut ebpf, name)?
            .load()
            .with_context(|| format!("loading {name}"))?;
    }
    let fastpath_fd = fp.program()?.fd()?.try_clone()?;
    let mac_swap_fd = program_ref(&ebpf, names::lab::MAC_SWAP_PROGRAM)?
        .fd()?
        .try_clone()?;
    let empty_fd = program_ref(&ebpf, names::lab::NOP_TX_PROGRAM)?
        .fd()?
        .try_clone()?;
    let mut cases = Vec::new();
    // IPv6: echo of the same frame sizes as IPv4's (64 data bytes, and a
    // 1514-byte frame), and an NS as Linux sends it.
    let requests: &[(FloodKind, usize)] = if args.ipv6 {
        &[
            (FloodKind::Ns, 0),
            (FloodKind::Echo6, 64),
            (FloodKind::Echo6, 1452),
        ]
    } else {
        &[
            (FloodKind::Arp, 0),
            (FloodKind::Echo, 64),
            (FloodKind::Echo, 1472),
        ]
    };
    for &(kind, payload) in requests {
        let (src, dst) = if kind.is_ipv6() {
            (IpAddr::V6(client_ip6), IpAddr::V6(stack_ip6))
        } else {
            (IpAddr::V4(client_ip), IpAddr::V4(stack_ip))
        };
        let frame = request(kind, payload, (client, src), (stack, dst))?;
        let answered_counter = match kind {
            FloodKind::Arp => Counter::ArpReplied,
            FloodKind::Echo => Counter::IcmpEchoReplied,
            FloodKind::Echo6 => Counter::Icmp6EchoReplied,
            FloodKind::Ns => Counter::NdpAdvertSent,
        };
        let kind = kind.name();
        set_request(&mut ebpf, &frame, args.ipv6)?;
        let mut h_fast = Vec::new();
        let mut h_swap = Vec::new();
        let mut h_empty = Vec::new();
        let mut p_fast = Vec::new();
        let mut p_swap = Vec::new();
        for _ in 0..args.trials {
            // Fast path through the harness; the counter proves that every
            // repetition was answered.
            set_harness_target(&mut ebpf, &fastpath_fd)?;
            let before = fp.counters()?.get(answered_counter);
            h_fast.push(run_harness(&ebpf, &frame, args.repeat)?);
            let answered = fp.counters()?.get(answered_counter) - before;
            if answered != u64::from(args.repeat) {
                bail!(
                    "{kind} {payload}: the fast path answered {answered} of {} repetitions: \
                     the harness does not restore the request",
                    args.repeat
                );
            }
            set_harness_target(&mut ebpf, &mac_swap_fd)?;
            h_swap.push(run_harness(&ebpf, &frame, args.repeat)?);
            set_harness_target(&mut ebpf, &empty_fd)?;
            h_empty.push(run_harness(&ebpf, &frame, args.repeat)?);
            p_fast.push(run_plain(fp.program()?, &frame, args.repeat)?);
            let mac_swap = program_ref(&ebpf, names::lab::MAC_SWAP_PROGRAM)?;
            p_swap.push(run_plain(mac_swap, &frame, args.repeat)?);
        }
        let (hf, hs, he) = (median(&h_fast), median(&h_swap), median(&h_empty));
        let fastpath_ns = (hf - he).max(0.0);
        let mac_swap_ns = (hs - he).max(0.0);
        cases.push(CostCase {
            kind,
            payload,
            frame_len: frame.len(),
            repeat: args.repeat,
            harness_fastpath_ns: h_fast,
            harness_mac_swap_ns: h_swap,
            harness_empty_ns: h_empty,
            fastpath_ns,
            mac_swap_ns,
            ratio: fastpath_ns / mac_swap_ns.max(0.01),
            ratio_with_harness: hf / hs,
            plain_repeat_fastpath_ns: median(&p_fast),
            plain_repeat_mac_swap_ns: median(&p_swap),
        });
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let capture = match drain {
        Some(t) => {
            let drained = t
                .join()
                .map_err(|_| anyhow!("the capture drain thread panicked"))?;
            let c = fp.counters()?;
            Some(CaptureCost {
                copies: c.get(Counter::CaptureFrames),
                lost: c.get(Counter::CaptureLost),
                drained,
            })
        }
        None => None,
    };
    Ok(CostReport {
        method: if args.ipv6 {
            "BPF_PROG_TEST_RUN, the kernel's mean ns per repetition; \
             cost_harness restores the request's first 86 bytes (head and tail) and \
             tail-calls the measured program; the harness with an empty target (nop_tx) \
             is subtracted"
        } else {
            "BPF_PROG_TEST_RUN, the kernel's mean ns per repetition; \
             cost_harness restores the request's first 42 bytes and tail-calls the \
             measured program; the harness with an empty target (nop_tx) is subtracted"
        },
        cases,
        capture,
    })
}

fn set_harness_target(ebpf: &mut Ebpf, target: &ProgramFd) -> Result<()> {
    let mut progs: ProgramArray<&mut MapData> = ProgramArray::try_from(
        ebpf.map_mut(names::lab::HARNESS_PROGS_MAP)
            .ok_or_else(|| anyhow!("map {} missing", names::lab::HARNESS_PROGS_MAP))?,
    )?;
    progs
        .set(HARNESS_TARGET, target, 0)
        .context("setting the harness target")
}

/// Writes the request the bench programs restore: its head, and with
/// `tail` (IPv6 requests) the bytes after it, else an empty tail.
fn set_request(ebpf: &mut Ebpf, frame: &[u8], tail: bool) -> Result<()> {
    let mut head = [0u8; REQUEST_HEAD_LEN];
    let n = frame.len().min(REQUEST_HEAD_LEN);
    head[..n].copy_from_slice(&frame[..n]);
    let mut map: Array<&mut MapData, [u8; REQUEST_HEAD_LEN]> = Array::try_from(
        ebpf.map_mut(names::lab::REQUEST_HEAD_MAP)
            .ok_or_else(|| anyhow!("map {} missing", names::lab::REQUEST_HEAD_MAP))?,
    )?;
    map.set(0, head, 0).context("writing the request head")?;
    let value = request_tail(frame, tail)?;
    let mut map: Array<&mut MapData, RequestTail> = Array::try_from(
        ebpf.map_mut(names::lab::REQUEST_TAIL_MAP)
            .ok_or_else(|| anyhow!("map {} missing", names::lab::REQUEST_TAIL_MAP))?,
    )?;
    map.set(0, value, 0).context("writing the request tail")
}

/// The `REQUEST_TAIL` value for `frame`: its bytes after the head, or
/// nothing to restore without `tail`.
fn request_tail(frame: &[u8], tail: bool) -> Result<RequestTail> {
    let mut value = RequestTail {
        len: 0,
        bytes: [0; REQUEST_TAIL_LEN],
    };
    if tail {
        let bytes = frame
            .get(REQUEST_HEAD_LEN..REQUEST_HEAD_LEN + REQUEST_TAIL_LEN)
            .ok_or_else(|| {
                anyhow!(
                    "a {}-byte request is too short to restore {} bytes",
                    frame.len(),
                    REQUEST_HEAD_LEN + REQUEST_TAIL_LEN
                )
            })?;
        value.bytes.copy_from_slice(bytes);
        value.len = REQUEST_TAIL_LEN as u32;
    }
    Ok(value)
}

/// ns per repetition of the harness, as the kernel timed it.
fn run_harness(ebpf: &Ebpf, frame: &[u8], repeat: u32) -> Result<f64> {
    let harness = program_ref(ebpf, names::lab::HARNESS_PROGRAM)?;
    timed_run(harness, frame, repeat, true)
}

fn run_plain(prog: &Xdp, frame: &[u8], repeat: u32) -> Result<f64> {
    timed_run(prog, frame, repeat, false)
}

/// The kernel's own figure: it stops its clock whenever the run yields the
/// CPU, so other work on a busy machine does not count (a wall clock around
/// the call would). It is the mean over `repeat`, in whole ns.
fn timed_run(prog: &Xdp, frame: &[u8], repeat: u32, must_answer: bool) -> Result<f64> {
    let mut out = vec![0u8; frame.len() + 256];
    let r = prog
        .test_run(TestRunOptions {
            data_in: Some(frame),
            data_out: Some(&mut out),
            repeat,
            ..Default::default()
        })
        .map_err(|e| anyhow!("BPF_PROG_TEST_RUN: {e}"))?;
    if must_answer && r.return_value != XDP_TX {
        bail!(
            "the measured program returned {} instead of XDP_TX",
            r.return_value
        );
    }
    Ok(r.duration.as_nanos() as f64)
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    match s.len() {
        0 => 0.0,
        n if n % 2 == 1 => s[n / 2],
        n => (s[n / 2 - 1] + s[n / 2]) / 2.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep() -> Endpoints {
        Endpoints {
            src_mac: MacAddr([2, 0, 0, 0, 0, 2]),
            src_ip: Ipv4Addr::new(10, 10, 0, 2),
            dst_mac: MacAddr([2, 0, 0, 0, 0, 4]),
            dst_ip: Ipv4Addr::new(10, 10, 0, 4),
        }
    }

    #[test]
    fn echo_request_is_valid() {
        for payload in [56, 512, 1472] {
            let f = echo_request(&ep(), payload);
            assert_eq!(f.len(), 14 + 20 + 8 + payload);
            let eth = EthernetFrame::new_checked(&f[..]).unwrap();
            let ip = Ipv4Packet::new_checked(eth.payload()).unwrap();
            assert!(ip.verify_checksum());
            let icmp = Icmpv4Packet::new_checked(ip.payload()).unwrap();
            assert!(icmp.verify_checksum());
            assert_eq!(icmp.msg_type(), 8);
        }
    }

    #[test]
    fn arp_request_fits_the_harness_restore() {
        let f = arp_request(&ep());
        assert_eq!(f.len(), REQUEST_HEAD_LEN);
        let eth = EthernetFrame::new_checked(&f[..]).unwrap();
        let repr = ArpRepr::parse(&ArpPacket::new_checked(eth.payload()).unwrap()).unwrap();
        assert_eq!(repr.operation, ArpOp::Request);
        assert_eq!(repr.target_ip, Ipv4Addr::new(10, 10, 0, 4));
    }

    fn ep6() -> Endpoints6 {
        Endpoints6 {
            src_mac: MacAddr([2, 0, 0, 0, 0, 2]),
            src_ip: "fd00:10:10::2".parse().unwrap(),
            dst_mac: MacAddr([2, 0, 0, 0, 0, 4]),
            dst_ip: "fd00:10:10::4".parse().unwrap(),
        }
    }

    #[test]
    fn echo6_request_is_valid() {
        let e = ep6();
        for payload in [56, 64, 1452] {
            let f = echo6_request(&e, payload);
            assert_eq!(f.len(), 14 + 40 + 8 + payload);
            let eth = EthernetFrame::new_checked(&f[..]).unwrap();
            assert_eq!(eth.dst(), e.dst_mac);
            let ip = Ipv6Packet::new_checked(eth.payload()).unwrap();
            assert_eq!(
                (ip.src(), ip.dst(), ip.hop_limit()),
                (e.src_ip, e.dst_ip, 64)
            );
            let icmp = Icmpv6Packet::new_checked(ip.payload()).unwrap();
            assert!(icmp.verify_checksum(e.src_ip, e.dst_ip));
            assert_eq!(icmp.msg_type(), 128);
        }
        // The largest fits a 1500-byte MTU exactly, as IPv4's echo 1472.
        assert_eq!(echo6_request(&e, 1452).len(), 1514);
    }

    #[test]
    fn neighbor_solicit_is_what_linux_sends() {
        let e = ep6();
        let f = neighbor_solicit(&e);
        assert_eq!(f.len(), REQUEST_HEAD_LEN + REQUEST_TAIL_LEN);
        let eth = EthernetFrame::new_checked(&f[..]).unwrap();
        assert_eq!(eth.dst(), MacAddr([0x33, 0x33, 0xff, 0, 0, 4]));
        let ip = Ipv6Packet::new_checked(eth.payload()).unwrap();
        let group: Ipv6Addr = "ff02::1:ff00:4".parse().unwrap();
        assert_eq!((ip.src(), ip.dst(), ip.hop_limit()), (e.src_ip, group, 255));
        let icmp = Icmpv6Packet::new_checked(ip.payload()).unwrap();
        let repr = Icmpv6Repr::parse(ip.src(), ip.dst(), &icmp).unwrap();
        assert_eq!(
            repr,
            Icmpv6Repr::Ndp(NdpRepr::NeighborSolicit {
                target: e.dst_ip,
                lladdr: Some(e.src_mac),
            })
        );
    }

    #[test]
    fn request_checks_the_family() {
        let v4 = (MacAddr([2, 0, 0, 0, 0, 2]), IpAddr::V4(ep().src_ip));
        let v6 = (MacAddr([2, 0, 0, 0, 0, 4]), IpAddr::V6(ep6().dst_ip));
        assert!(request(FloodKind::Ns, 0, v4, v6).is_err());
        assert!(request(FloodKind::Echo, 56, v4, v6).is_err());
        let v6_src = (v4.0, IpAddr::V6(ep6().src_ip));
        assert_eq!(
            request(FloodKind::Ns, 0, v6_src, v6).unwrap(),
            neighbor_solicit(&ep6())
        );
    }

    #[test]
    fn request_tail_is_the_bytes_after_the_head() {
        let f = neighbor_solicit(&ep6());
        let t = request_tail(&f, true).unwrap();
        assert_eq!(t.len as usize, REQUEST_TAIL_LEN);
        assert_eq!(&t.bytes[..], &f[REQUEST_HEAD_LEN..]);
        assert_eq!(request_tail(&f, false).unwrap().len, 0);
        // An IPv6 request shorter than head and tail cannot be restored.
        assert!(request_tail(&echo6_request(&ep6(), 8), true).is_err());
        assert_eq!(restored_len(FloodKind::Echo6), 86);
        assert_eq!(restored_len(FloodKind::Arp), REQUEST_HEAD_LEN);
    }

    #[test]
    fn xdp_md_layout() {
        let md = xdp_md(7, 98);
        assert_eq!(md.len(), 24);
        assert_eq!(&md[4..8], &98u32.to_ne_bytes());
        assert_eq!(&md[12..16], &7u32.to_ne_bytes());
    }

    #[test]
    fn median_of_odd_and_even() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(&[]), 0.0);
    }
}
