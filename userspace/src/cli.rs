//! The command line, defined here (not in `main.rs`) so tests can check that
//! documented command lines parse with the real parser. clap lives here
//! only: `xdpstack run` becomes a plain [`daemon::Config`], and the
//! commands that talk to a daemon are in `commands.rs`.

pub mod commands;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::time::Duration;

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::daemon;
use crate::fastpath::AttachMode;
use crate::services::ServiceName;
use crate::stack::tcp::CongestionAlgorithm;
use crate::wire::MacAddr;

#[derive(Debug, Parser)]
#[command(
    name = "xdpstack",
    version,
    about = "A TCP/IP stack whose fast path answers ARP and ping inside the kernel (XDP)"
)]
pub struct Cli {
    /// Log line format: text, or JSON lines (ts, level, target, msg) for
    /// log shippers. `RUST_LOG` sets the level.
    #[arg(long, global = true, value_enum, default_value = "text")]
    pub log_format: crate::logging::LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve an IPv4 address on an interface (the daemon).
    Run(RunArgs),
    /// Show or change the ARP cache of a running daemon.
    Arp(ArpArgs),
    /// Show or change both neighbour tables (ARP and IPv6), like `ip neigh`.
    Neigh(NeighArgs),
    /// Show the counters that are not zero, by area (XDP fast path, the
    /// stack by protocol, services, AF_XDP sockets), like `nstat`.
    Stats(StatsArgs),
    /// List every running xdpstack: interface, address, XDP mode and
    /// program, queues, uptime, services, control socket, metrics.
    Status(StatusArgs),
    /// List TCP connections, like `ss -tan`.
    Conns(ConnsArgs),
    /// Send ICMP or ICMPv6 echo requests from the daemon's own address.
    Ping(PingArgs),
    /// Capture every frame the stack receives and sends, in-kernel answers
    /// included (PcapNG, or pcap): `xdpstack capture -w - | tcpdump -r - -en`.
    Capture(CaptureArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(CompletionsArgs),
    /// Print the man page, or write one page per subcommand with --out-dir
    /// (used by `cargo xtask install`).
    #[command(hide = true)]
    Manpage(ManpageArgs),
    /// Attach the reply-counting peer program to the far end of a veth and
    /// pin it (used by `cargo xtask lab up`; see `fastpath::peer`).
    #[cfg(feature = "lab")]
    #[command(hide = true)]
    PeerAttach(PeerAttachArgs),
    /// Load generator and per-packet cost probe for `cargo xtask bench`
    /// (prints JSON; see `loadgen`).
    #[cfg(feature = "lab")]
    #[command(hide = true, subcommand)]
    Loadgen(LoadgenCommand),
}

#[derive(Debug, Subcommand)]
pub enum LoadgenCommand {
    /// Send requests out of IFACE as fast as possible for a fixed time and
    /// count the replies arriving there.
    Flood(FloodArgs),
    /// BPF_PROG_TEST_RUN per-packet cost of the fast path against mac_swap.
    Cost(CostArgs),
}

/// What `loadgen flood` sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FloodKind {
    /// ICMP echo requests.
    Echo,
    /// ARP requests.
    Arp,
    /// ICMPv6 echo requests (IPv6 --src-ip and --dst-ip).
    Echo6,
    /// Neighbor Solicitations for --dst-ip, to its solicited-node group.
    Ns,
}

#[derive(Debug, Args)]
pub struct FloodArgs {
    /// Network namespace of the interface (a name under /run/netns).
    #[arg(long)]
    pub netns: Option<String>,
    /// The interface to send from (the client end of the lab's veth).
    #[arg(long)]
    pub iface: String,
    #[arg(long, value_enum, default_value = "echo")]
    pub kind: FloodKind,
    /// ICMP data bytes of each echo request.
    #[arg(long, default_value_t = 56)]
    pub payload: usize,
    /// Seconds to send for.
    #[arg(long, default_value_t = 2.0)]
    pub duration: f64,
    #[arg(long)]
    pub src_mac: MacAddr,
    /// IPv4 for echo and arp, IPv6 for echo6 and ns.
    #[arg(long)]
    pub src_ip: IpAddr,
    /// The responder's MAC (echo requests are unicast to it).
    #[arg(long)]
    pub dst_mac: MacAddr,
    #[arg(long)]
    pub dst_ip: IpAddr,
    /// Also report bpf_stats (run_time_ns / run_cnt) of this program id.
    #[arg(long)]
    pub stats_prog_id: Option<u32>,
    /// Send from one thread per CPU of this list (`0,1`): a veth delivers
    /// XDP_TX'd frames on the peer's RX queue numbered after the sending
    /// CPU, so this spreads the flood over that many queues.
    #[arg(long, value_name = "LIST", value_parser = parse_cpus)]
    pub cpus: Option<CpuList>,
}

#[derive(Debug, Args)]
pub struct CostArgs {
    /// Repetitions per BPF_PROG_TEST_RUN.
    #[arg(long, default_value_t = 1_000_000)]
    pub repeat: u32,
    /// Measurements of each case (the median is reported).
    #[arg(long, default_value_t = 3)]
    pub trials: u32,
    /// Measure with a capture client connected (`FLAG_CAPTURE` set, the
    /// copies drained by a thread as the daemon drains them).
    #[arg(long)]
    pub capture: bool,
    /// The IPv6 cases (Neighbor Solicitation, ICMPv6 echo) instead of the
    /// IPv4 ones (ARP, echo).
    #[arg(long)]
    pub ipv6: bool,
}

#[derive(Debug, Args)]
pub struct PeerAttachArgs {
    /// Network namespace of the interface (a name under /run/netns).
    #[arg(long)]
    pub netns: Option<String>,
    #[arg(long)]
    pub iface: String,
    /// Where to pin the attachment on a bpffs, so it outlives this command.
    #[arg(long)]
    pub pin: PathBuf,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ManpageArgs {
    /// Write xdpstack.1 and xdpstack-SUBCOMMAND.1 pages into this directory
    /// instead of printing xdpstack.1.
    #[arg(long)]
    pub out_dir: Option<PathBuf>,
}

/// `--fastpath on|off`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Switch {
    On,
    Off,
}

/// `--capture ours|all`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Capture {
    /// Only frames addressed to us go to userspace; the rest to the kernel.
    Ours,
    /// Every frame goes to userspace.
    All,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The interface to serve on.
    #[arg(long)]
    pub iface: String,
    /// Our address and prefix length, like 10.10.0.4/24.
    #[arg(long, value_parser = parse_cidr)]
    pub ip: (Ipv4Addr, u8),
    /// An IPv6 address and prefix length, like fd00:10:10::4/64; repeat for
    /// more (at most 4 with the link-local one). With any, the link-local
    /// address derived from the MAC is added unless one is given. Without,
    /// IPv6 is left to the kernel.
    #[arg(long = "ip6", value_parser = parse_cidr6)]
    pub ip6: Vec<(Ipv6Addr, u8)>,
    /// Our MAC address (default: the interface's).
    #[arg(long)]
    pub mac: Option<MacAddr>,
    /// XDP attach mode: auto uses native, but skb on a veth whose peer has
    /// no native XDP program (XDP_TX replies would be lost) or where the
    /// driver has no native XDP.
    #[arg(long, value_parser = choice(ATTACH_MODES), default_value = "auto")]
    pub mode: AttachMode,
    /// Which frames go to userspace.
    #[arg(long, value_enum, default_value = "ours")]
    pub capture: Capture,
    /// Answer ARP and ping in-kernel (on) or hand them to userspace (off).
    #[arg(long, value_enum, default_value = "on")]
    pub fastpath: Switch,
    /// Next hop for off-link destinations.
    #[arg(long)]
    pub gateway: Option<Ipv4Addr>,
    /// IPv6 next hop for off-link destinations (needs --ip6; a link-local
    /// router address is usual).
    #[arg(long)]
    pub gateway6: Option<Ipv6Addr>,
    /// Seconds before a reachable ARP entry turns stale.
    #[arg(long, default_value_t = 60)]
    pub arp_timeout: u64,
    /// Maximum number of ARP cache entries.
    #[arg(long, default_value_t = 1024)]
    pub arp_max: usize,
    /// Directory of the control sockets.
    #[arg(long, default_value = crate::control::DEFAULT_DIR)]
    pub control_dir: PathBuf,
    /// Built-in services to run, comma separated, or `none`.
    #[arg(
        long,
        value_parser = choice(SERVICES),
        value_delimiter = ',',
        default_value = "echo,discard,http"
    )]
    pub services: Vec<ServiceName>,
    /// Serve Prometheus metrics at http://ADDR:PORT/metrics (a host TCP
    /// socket, bound before capabilities are dropped), like 127.0.0.1:9431.
    #[arg(long, value_name = "ADDR:PORT")]
    pub metrics: Option<std::net::SocketAddr>,
    /// TCP congestion control for every connection.
    #[arg(long, value_parser = choice(TCP_CC), default_value = "cubic")]
    pub tcp_cc: CongestionAlgorithm,
    /// How many RX queues to serve, each by its own worker and stack shard
    /// (queues 0..N-1), or `all` (the interface's channel count).
    #[arg(long, value_parser = parse_queues, default_value = "all")]
    pub queues: Queues,
    /// Pin the queue workers to these CPUs, in order (`0,2` or `0-3`);
    /// worker i runs on the i-th CPU of the list, modulo its length.
    #[arg(long, value_name = "LIST", value_parser = parse_cpus)]
    pub cpus: Option<CpuList>,
    /// Low-latency mode: busy-poll the AF_XDP sockets (SO_PREFER_BUSY_POLL,
    /// SO_BUSY_POLL) and spin up to --busy-poll-us after each batch before
    /// sleeping; costs that much CPU per worker while traffic flows.
    #[arg(long)]
    pub busy_poll: bool,
    /// How long a worker spins for more frames before sleeping (with
    /// --busy-poll).
    #[arg(long, default_value_t = 200, value_name = "USECS")]
    pub busy_poll_us: u32,
}

/// `--queues`: a count, or every queue the interface has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Queues {
    All,
    Count(u32),
}

fn parse_queues(s: &str) -> Result<Queues, String> {
    if s == "all" {
        return Ok(Queues::All);
    }
    match s.parse::<u32>() {
        Ok(n) if (1..=1024).contains(&n) => Ok(Queues::Count(n)),
        _ => Err(format!("'{s}' is not a queue count (1-1024) or 'all'")),
    }
}

/// `--cpus`: CPU numbers in the order given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CpuList(pub Vec<usize>);

/// `--cpus 0,2-3`: CPU numbers, each at most once, in the order given.
fn parse_cpus(s: &str) -> Result<CpuList, String> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let num = |x: &str| {
            x.trim()
                .parse::<usize>()
                .ok()
                .filter(|&n| n < 1024)
                .ok_or_else(|| format!("'{x}' is not a CPU number (0-1023)"))
        };
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (num(a)?, num(b)?),
            None => (num(part)?, num(part)?),
        };
        if lo > hi {
            return Err(format!("'{part}' is an empty range"));
        }
        for c in lo..=hi {
            if !out.contains(&c) {
                out.push(c);
            }
        }
    }
    if out.is_empty() {
        return Err("no CPU given".into());
    }
    Ok(CpuList(out))
}

impl RunArgs {
    /// What the daemon is started with.
    pub fn config(self) -> daemon::Config {
        let (ip, prefix) = self.ip;
        daemon::Config {
            iface: self.iface,
            ip,
            prefix,
            ip6: self.ip6,
            mac: self.mac,
            mode: self.mode,
            capture_all: self.capture == Capture::All,
            fastpath: self.fastpath == Switch::On,
            gateway: self.gateway,
            gateway6: self.gateway6,
            arp_timeout: Duration::from_secs(self.arp_timeout),
            arp_max: self.arp_max,
            control_dir: self.control_dir,
            services: self.services,
            metrics: self.metrics,
            tcp_cc: self.tcp_cc,
            queues: match self.queues {
                Queues::All => None,
                Queues::Count(n) => Some(n),
            },
            cpus: self.cpus.map(|c| c.0).unwrap_or_default(),
            busy_poll: self
                .busy_poll
                .then(|| Duration::from_micros(u64::from(self.busy_poll_us))),
        }
    }
}

/// `--mode`: name, value, help.
const ATTACH_MODES: &[(&str, AttachMode, &str)] = &[
    (
        "auto",
        AttachMode::Auto,
        "Native (driver) mode where XDP_TX replies can arrive, else generic (skb) mode",
    ),
    ("native", AttachMode::Native, "Native (driver) mode only"),
    (
        "skb",
        AttachMode::Skb,
        "Generic (skb) mode: works everywhere, slower",
    ),
];

/// `--tcp-cc`: name, value, help.
const TCP_CC: &[(&str, CongestionAlgorithm, &str)] = &[
    (
        "cubic",
        CongestionAlgorithm::Cubic,
        "CUBIC (RFC 9438), as Linux",
    ),
    (
        "reno",
        CongestionAlgorithm::Reno,
        "NewReno (RFC 5681, 6582)",
    ),
];

/// `--services`: name, value, help.
const SERVICES: &[(&str, ServiceName, &str)] = &[
    ("echo", ServiceName::Echo, "UDP and TCP port 7 (RFC 862)"),
    (
        "discard",
        ServiceName::Discard,
        "UDP and TCP port 9 (RFC 863)",
    ),
    ("http", ServiceName::Http, "TCP port 80: the status page"),
    (
        "chargen",
        ServiceName::Chargen,
        "UDP and TCP port 19 (RFC 864)",
    ),
    ("none", ServiceName::None, "No service"),
];

/// A parser for one of `choices`, for types that are not the CLI's own
/// (so they need no clap derive).
fn choice<T: Copy + Send + Sync + 'static>(
    choices: &'static [(&'static str, T, &'static str)],
) -> impl TypedValueParser<Value = T> {
    PossibleValuesParser::new(
        choices
            .iter()
            .map(|(n, _, h)| PossibleValue::new(*n).help(*h)),
    )
    .try_map(move |s| {
        choices
            .iter()
            .find(|(n, ..)| *n == s)
            .map(|(_, v, _)| *v)
            .ok_or("not one of the possible values")
    })
}

/// `ADDR` or `ADDR%IFACE` (a zone, RFC 4007 11).
fn parse_ping_dst(s: &str) -> Result<(IpAddr, Option<String>), String> {
    let (addr, zone) = match s.split_once('%') {
        Some((a, z)) => (a, Some(z.to_string())),
        None => (s, None),
    };
    let ip: IpAddr = addr.parse().map_err(|e| format!("{addr}: {e}"))?;
    if zone.is_some() && !matches!(ip, IpAddr::V6(v6) if v6.is_unicast_link_local()) {
        return Err("only a link-local IPv6 address takes %IFACE".into());
    }
    Ok((ip, zone))
}

/// How the CLI finds a daemon.
#[derive(Debug, Args)]
pub struct Target {
    /// The daemon's interface (may be omitted when exactly one runs).
    /// Global, so `xdpstack arp add IP MAC --iface IF` works too.
    #[arg(long, global = true)]
    pub iface: Option<String>,
    /// Directory of the control sockets.
    #[arg(long, global = true, default_value = crate::control::DEFAULT_DIR)]
    pub control_dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct ArpArgs {
    #[command(flatten)]
    pub target: Target,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    #[command(subcommand)]
    pub action: Option<ArpAction>,
}

#[derive(Debug, Subcommand)]
pub enum ArpAction {
    /// Add a permanent entry.
    Add { ip: Ipv4Addr, mac: MacAddr },
    /// Delete an entry.
    Del { ip: Ipv4Addr },
    /// Remove every entry that is not permanent.
    Flush,
}

#[derive(Debug, Args)]
pub struct NeighArgs {
    #[command(flatten)]
    pub target: Target,
    /// Print JSON (`ip -j neigh`'s keys: dst, dev, lladdr, state).
    #[arg(short = 'j', long)]
    pub json: bool,
    /// IPv4 (ARP) entries only.
    #[arg(short = '4', conflicts_with = "ipv6")]
    pub ipv4: bool,
    /// IPv6 entries only.
    #[arg(short = '6')]
    pub ipv6: bool,
    #[command(subcommand)]
    pub action: Option<NeighAction>,
}

#[derive(Debug, Subcommand)]
pub enum NeighAction {
    /// Add a permanent entry (IPv4 or IPv6).
    Add { ip: IpAddr, mac: MacAddr },
    /// Delete an entry.
    Del { ip: IpAddr },
    /// Remove every entry that is not permanent, from both tables.
    Flush,
}

#[derive(Debug, Args)]
pub struct StatsArgs {
    #[command(flatten)]
    pub target: Target,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Refresh every second, with per-second rates.
    #[arg(long)]
    pub watch: bool,
    /// Show the counters that are zero too (as `nstat -a`).
    #[arg(short = 'a', long)]
    pub all: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Only the daemon of this interface, and the XDP programs on it that
    /// are not xdpstack's (like `xdp-loader status`).
    #[arg(long)]
    pub iface: Option<String>,
    /// Directory of the control sockets.
    #[arg(long, default_value = crate::control::DEFAULT_DIR)]
    pub control_dir: PathBuf,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ConnsArgs {
    #[command(flatten)]
    pub target: Target,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct PingArgs {
    /// The address to ping, IPv4 or IPv6 (a link-local one may carry
    /// `%IFACE`, which must be the daemon's interface).
    #[arg(value_parser = parse_ping_dst)]
    pub dst: (IpAddr, Option<String>),
    #[command(flatten)]
    pub target: Target,
    /// Stop after this many replies or timeouts.
    #[arg(short = 'c', long, default_value_t = 4)]
    pub count: u32,
    /// Bytes of ICMP data.
    #[arg(short = 's', long, default_value_t = 56)]
    pub size: usize,
    /// Seconds between requests.
    #[arg(short = 'i', long, default_value_t = 1.0)]
    pub interval: f64,
    /// Seconds to wait for each reply.
    #[arg(short = 'W', long, default_value_t = 1.0)]
    pub timeout: f64,
}

#[derive(Debug, Args)]
pub struct CaptureArgs {
    #[command(flatten)]
    pub target: Target,
    /// Write the frames to FILE (`-`: stdout, flushed per frame) instead of
    /// printing one line each.
    #[arg(short = 'w', long = "write", value_name = "FILE")]
    pub write: Option<PathBuf>,
    /// Stop after this many frames.
    #[arg(short = 'c', long)]
    pub count: Option<u64>,
    /// Bytes of each frame to keep.
    #[arg(short = 's', long, default_value_t = crate::capture::MAX_SNAPLEN,
          value_parser = clap::value_parser!(u32).range(1..=i64::from(crate::capture::MAX_SNAPLEN)))]
    pub snaplen: u32,
    /// Only frames the stack receives.
    #[arg(long = "in", conflicts_with = "outbound")]
    pub inbound: bool,
    /// Only frames the stack sends.
    #[arg(long = "out")]
    pub outbound: bool,
    /// Classic pcap instead of PcapNG (no direction or path per frame).
    #[arg(long)]
    pub pcap: bool,
}

/// Parses `A.B.C.D/N`.
pub fn parse_cidr(s: &str) -> Result<(Ipv4Addr, u8), String> {
    let (ip, prefix) = s
        .split_once('/')
        .ok_or_else(|| format!("'{s}' needs a prefix length, like 10.10.0.4/24"))?;
    let ip: Ipv4Addr = ip
        .parse()
        .map_err(|_| format!("'{ip}' is not an IPv4 address"))?;
    let prefix: u8 = prefix
        .parse()
        .ok()
        .filter(|p| (1..=32).contains(p))
        .ok_or_else(|| format!("prefix length '{prefix}' must be between 1 and 32"))?;
    if ip.is_unspecified() || ip.is_multicast() || ip.is_broadcast() || ip.is_loopback() {
        return Err(format!("{ip} cannot be a host's address"));
    }
    Ok((ip, prefix))
}

/// Parses `ADDR/N` for IPv6: a unicast address (not ::, ::1 or a group).
pub fn parse_cidr6(s: &str) -> Result<(Ipv6Addr, u8), String> {
    let (ip, prefix) = s
        .split_once('/')
        .ok_or_else(|| format!("'{s}' needs a prefix length, like fd00:10:10::4/64"))?;
    let ip: Ipv6Addr = ip
        .parse()
        .map_err(|_| format!("'{ip}' is not an IPv6 address"))?;
    let prefix: u8 = prefix
        .parse()
        .ok()
        .filter(|p| (1..=128).contains(p))
        .ok_or_else(|| format!("prefix length '{prefix}' must be between 1 and 128"))?;
    if ip.is_unspecified() || ip.is_multicast() || ip.is_loopback() {
        return Err(format!("{ip} cannot be a host's address"));
    }
    Ok((ip, prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capture_options_parse() {
        let cli = Cli::try_parse_from([
            "xdpstack", "capture", "-w", "-", "-c", "5", "-s", "96", "--out", "--pcap",
        ])
        .unwrap();
        let Command::Capture(a) = cli.command else {
            panic!("not capture")
        };
        assert_eq!(a.write.as_deref(), Some(std::path::Path::new("-")));
        assert_eq!(
            (a.count, a.snaplen, a.inbound, a.outbound, a.pcap),
            (Some(5), 96, false, true, true)
        );
        let a = Cli::try_parse_from(["xdpstack", "capture"]).unwrap();
        let Command::Capture(a) = a.command else {
            panic!("not capture")
        };
        assert_eq!((a.write, a.snaplen), (None, crate::capture::MAX_SNAPLEN));
        for bad in [
            &["xdpstack", "capture", "--in", "--out"][..],
            &["xdpstack", "capture", "-s", "0"],
            &["xdpstack", "capture", "-s", "70000"],
        ] {
            assert!(Cli::try_parse_from(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn queue_and_cpu_options_parse() {
        assert_eq!(parse_queues("all"), Ok(Queues::All));
        assert_eq!(parse_queues("4"), Ok(Queues::Count(4)));
        for bad in ["0", "-1", "two", "1025", ""] {
            assert!(parse_queues(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_cpus("1"), Ok(CpuList(vec![1])));
        assert_eq!(parse_cpus("3,0-2,1"), Ok(CpuList(vec![3, 0, 1, 2])));
        for bad in ["", ",", "2-1", "a", "0-x", "5000"] {
            assert!(parse_cpus(bad).is_err(), "{bad}");
        }
        let c = Cli::try_parse_from([
            "xdpstack",
            "run",
            "--iface",
            "x",
            "--ip",
            "10.0.0.1/24",
            "--queues",
            "2",
            "--cpus",
            "0,1",
            "--busy-poll",
        ])
        .unwrap();
        let Command::Run(r) = c.command else {
            panic!("not run")
        };
        let cfg = r.config();
        assert_eq!((cfg.queues, cfg.cpus), (Some(2), vec![0, 1]));
        assert_eq!(cfg.busy_poll, Some(Duration::from_micros(200)));
    }

    #[test]
    fn cidr6() {
        assert_eq!(
            parse_cidr6("fd00:10:10::4/64"),
            Ok(("fd00:10:10::4".parse().unwrap(), 64))
        );
        for bad in [
            "fd00:10:10::4",
            "fd00:10:10::4/129",
            "fd00:10:10::4/0",
            "10.10.0.4/24",
            "::/64",
            "::1/128",
            "ff02::1/64",
        ] {
            assert!(parse_cidr6(bad).is_err(), "{bad}");
        }
        let c = Cli::try_parse_from([
            "xdpstack",
            "run",
            "--iface",
            "eth0",
            "--ip",
            "10.10.0.4/24",
            "--ip6",
            "fd00:10:10::4/64",
            "--ip6",
            "fe80::4/64",
        ])
        .unwrap();
        let Command::Run(run) = c.command else {
            panic!("not run")
        };
        assert_eq!(run.config().ip6.len(), 2);
    }

    #[test]
    fn cidr() {
        assert_eq!(
            parse_cidr("10.10.0.4/24"),
            Ok((Ipv4Addr::new(10, 10, 0, 4), 24))
        );
        for bad in [
            "10.10.0.4",
            "10.10.0.4/33",
            "10.10.0.4/0",
            "10.10.0/24",
            "0.0.0.0/8",
            "224.0.0.1/4",
            "127.0.0.1/8",
            "x/24",
        ] {
            assert!(parse_cidr(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn run_command_line_parses() {
        let cli =
            Cli::try_parse_from(["xdpstack", "run", "--iface", "eth0", "--ip", "10.10.0.4/24"])
                .unwrap();
        let Command::Run(r) = cli.command else {
            panic!("not run")
        };
        assert_eq!(r.iface, "eth0");
        assert_eq!(r.mode, AttachMode::Auto);
        assert_eq!(r.fastpath, Switch::On);
        assert_eq!(
            r.services,
            [ServiceName::Echo, ServiceName::Discard, ServiceName::Http]
        );
        assert!(
            Cli::try_parse_from(["xdpstack", "run", "--iface", "eth0", "--ip", "10.10.0.4"])
                .is_err()
        );
        assert!(Cli::try_parse_from(["xdpstack", "run", "--ip", "10.10.0.4/24"]).is_err());
    }

    #[test]
    fn services_parse_as_a_list() {
        let parse = |v: &str| {
            Cli::try_parse_from([
                "xdpstack",
                "run",
                "--iface",
                "eth0",
                "--ip",
                "10.10.0.4/24",
                "--services",
                v,
            ])
            .map(|c| match c.command {
                Command::Run(r) => r.services,
                _ => panic!("not run"),
            })
        };
        assert_eq!(parse("none").unwrap(), [ServiceName::None]);
        assert_eq!(
            parse("http,echo").unwrap(),
            [ServiceName::Http, ServiceName::Echo]
        );
        assert!(parse("telnet").is_err());
    }

    #[test]
    fn run_arguments_become_the_daemon_config() {
        let cli = Cli::try_parse_from([
            "xdpstack",
            "run",
            "--iface",
            "eth0",
            "--ip",
            "10.10.0.4/24",
            "--mode",
            "skb",
            "--capture",
            "all",
            "--fastpath",
            "off",
            "--arp-timeout",
            "5",
        ])
        .unwrap();
        let Command::Run(r) = cli.command else {
            panic!("not run")
        };
        let c = r.config();
        assert_eq!((c.ip, c.prefix), (Ipv4Addr::new(10, 10, 0, 4), 24));
        assert_eq!(c.mode, AttachMode::Skb);
        assert!(c.capture_all && !c.fastpath);
        assert_eq!(c.arp_timeout, Duration::from_secs(5));
        assert_eq!(
            c.services,
            [ServiceName::Echo, ServiceName::Discard, ServiceName::Http]
        );
        assert!(Cli::try_parse_from([
            "xdpstack",
            "run",
            "--iface",
            "eth0",
            "--ip",
            "10.10.0.4/24",
            "--mode",
            "fast"
        ])
        .is_err());
    }

    #[test]
    fn tcp_cc_selects_the_congestion_control() {
        let parse = |extra: &[&str]| {
            let mut args = vec!["xdpstack", "run", "--iface", "eth0", "--ip", "10.10.0.4/24"];
            args.extend_from_slice(extra);
            Cli::try_parse_from(args).map(|c| match c.command {
                Command::Run(r) => r.config().tcp_cc,
                _ => panic!("not run"),
            })
        };
        assert_eq!(parse(&[]).unwrap(), CongestionAlgorithm::Cubic);
        assert_eq!(
            parse(&["--tcp-cc", "reno"]).unwrap(),
            CongestionAlgorithm::Reno
        );
        assert!(parse(&["--tcp-cc", "bbr"]).is_err());
    }

    #[test]
    fn iface_may_follow_arp_subcommands() {
        let cli = Cli::try_parse_from([
            "xdpstack",
            "arp",
            "add",
            "10.10.0.9",
            "02:00:00:00:00:09",
            "--iface",
            "veth-stack",
        ])
        .unwrap();
        let Command::Arp(a) = cli.command else {
            panic!("not arp")
        };
        assert_eq!(a.target.iface.as_deref(), Some("veth-stack"));
        assert!(matches!(a.action, Some(ArpAction::Add { .. })));
    }
}
