//! `xdpstack run`: wires the pieces together.
//!
//! ```text
//! NIC queue q --XDP--> XDP_TX (ARP, ping answered in-kernel)
//!             \------> XSKMAP --> worker q --> its own Stack + Services --> AF_XDP TX q
//!  worker q --(frames of flows other shards own)--> worker k's mailbox
//!  NEIGH_EVENTS ring --> main task --(bindings, by message)--> every worker
//!  control socket, signals, link events (rtnetlink), eBPF logs --> main task
//!                  --(requests, by message; replies gathered)--> every worker
//! ```
//!
//! Each RX queue's worker owns a whole shard (see `crate::shard`): a stack
//! and its services, with no lock on the per-frame path. After every
//! received batch it runs the services on its stack's socket APIs, runs
//! the timers that are due and sends what came out: frames are written
//! into the socket's TX frames by the stack itself. Each worker sleeps
//! exactly until the earliest deadline of its own stack and services
//! (`poll_at`), a frame, its mailbox's eventfd, or the stop signal, with
//! no tick; an idle daemon does not wake at all. Host-wide state is either
//! immutable (the configuration, copied into each shard) or replicated and
//! updated by messages: ARP bindings reported by the XDP program (read by
//! the main task) or learned by one shard from an ARP frame are posted to
//! every other shard, whose worker applies them before its next batch.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use tokio::io::unix::AsyncFd;
use xdpstack_common::config::{
    neigh_refresh_ns, FastpathConfig, FLAG_CAPTURE, FLAG_CAPTURE_ALL, FLAG_FASTPATH,
    FLAG_NEIGH_EVENTS, MAX_IP6,
};
use xdpstack_common::layout::ipv6;
use xdpstack_common::neigh::{NeighEvent, NeighEvent6, NeighRecord};

use crate::capture::tap::Tap;
use crate::capture::{self, Hub};
use crate::control::protocol::{
    parse_mac, ConnJson, NeighEntryJson, PingJson, StatsReply, StatusReply,
};
use crate::control::server::ControlSocket;
use crate::control::{socket_path, Request, Response};
use crate::fastpath::{iface, AttachMode, AttachOutcome, Fastpath};
use crate::present::metrics;
use crate::services::{ServiceName, Services, ServicesStats};
use crate::shard::handoff::{mailbox, EventFd, Mailbox, Post};
use crate::shard::{merge, steer, Flow, ShardId, Steer};
use crate::stack::tcp::CongestionAlgorithm;
use crate::stack::time::{Instant, MonotonicClock};
use crate::stack::{Stack, StackConfig, StackStats};
use crate::wire::MacAddr;
use crate::xsk::{XskSocket, XskStats};

/// What `xdpstack run` serves and how (`cli::RunArgs` builds it).
#[derive(Clone, Debug)]
pub struct Config {
    /// The interface to serve on.
    pub iface: String,
    /// Our address and prefix length.
    pub ip: Ipv4Addr,
    pub prefix: u8,
    /// Our IPv6 addresses and prefix lengths (`--ip6`); empty: IPv6 is the
    /// kernel's. The link-local one is added by `ip6_addresses`.
    pub ip6: Vec<(Ipv6Addr, u8)>,
    /// Our MAC address; `None`: the interface's.
    pub mac: Option<MacAddr>,
    pub mode: AttachMode,
    /// Every frame goes to userspace, not only those addressed to us.
    pub capture_all: bool,
    /// Answer ARP and ping in-kernel.
    pub fastpath: bool,
    /// Next hop for off-link destinations.
    pub gateway: Option<Ipv4Addr>,
    /// IPv6 next hop for off-link destinations (`--gateway6`).
    pub gateway6: Option<Ipv6Addr>,
    /// How long a reachable ARP entry stays reachable.
    pub arp_timeout: Duration,
    pub arp_max: usize,
    /// Directory of the control sockets.
    pub control_dir: PathBuf,
    pub services: Vec<ServiceName>,
    /// Where to serve Prometheus metrics (a host TCP socket); None: nowhere.
    pub metrics: Option<std::net::SocketAddr>,
    /// TCP congestion control (`--tcp-cc`).
    pub tcp_cc: CongestionAlgorithm,
    /// RX queues served (0..n); None: every queue the interface has.
    pub queues: Option<u32>,
    /// CPUs the workers are pinned to, worker i on `cpus[i % len]`;
    /// empty: not pinned.
    pub cpus: Vec<usize>,
    /// Busy-poll the sockets and spin this long for more frames before
    /// sleeping; None: sleep as soon as a batch is done.
    pub busy_poll: Option<Duration>,
}

/// A frame handed from the shard that received it to the one that owns
/// its flow; `hops`: shards it went through.
struct Handoff {
    frame: Vec<u8>,
    hops: u16,
}

/// Work for a shard, run by its worker between batches.
type Job = Box<dyn FnOnce(&mut Shard, Instant) + Send>;

/// What other threads post to a shard, besides frames.
enum Msg {
    /// An ARP binding learned elsewhere (the XDP program, another shard).
    Neigh(NeighEvent),
    /// An NDP binding the XDP program reported (it sees every NS and NA
    /// before userspace does, so no shard needs to export its own).
    Neigh6(NeighEvent6),
    /// A control request's part for this shard; it sends its own reply.
    Run(Job),
}

/// What one worker owns outright.
struct Shard {
    id: ShardId,
    stack: Stack,
    services: Services,
    /// Its socket's counters and its hand-offs, as of the last batch.
    xsk: XskStats,
}

/// What a shard publishes for the HTTP service's `/metrics` (served from
/// inside another shard, which cannot wait on this one): refreshed by its
/// worker at most every `KERNEL_STATS_AFTER`, never per frame.
#[derive(Clone, Default)]
struct Snapshot {
    stack: StackStats,
    services: ServicesStats,
    xsk: XskStats,
}

/// State shared by the workers, the main task and control requests; none
/// of it is touched per frame.
struct Shared {
    fastpath: Mutex<Fastpath>,
    /// Our IPv4 address.
    ip: Ipv4Addr,
    /// Each shard's mailbox.
    posts: Vec<Post<Handoff, Msg>>,
    /// Each shard's last published counters (see [`Snapshot`]).
    snapshots: Vec<Mutex<Snapshot>>,
    /// The queue each shard serves.
    queues: Vec<u32>,
    clock: MonotonicClock,
    stop: AtomicBool,
    /// Signalled once at shutdown and never read: wakes every worker.
    stop_fd: EventFd,
    /// Signalled when ping replies arrive.
    ping_replies: tokio::sync::Notify,
    /// The shard the next `xdpstack ping` starts from.
    next_ping: AtomicUsize,
    /// Busy-poll spin per worker (`--busy-poll`).
    busy_poll: Option<Duration>,
    /// The XDP attach mode and why, shown by `xdpstack stats`.
    attached: AttachOutcome,
    /// `xdpstack capture` clients, fed by the XDP program's `CAPTURE` ring
    /// and by the workers' taps on their AF_XDP sockets.
    capture: Arc<Hub>,
    /// What `xdpstack status` shows beyond the counters.
    status: StatusReply,
    started: std::time::Instant,
}

impl Shared {
    fn fastpath(&self) -> MutexGuard<'_, Fastpath> {
        self.fastpath.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Tells every worker to stop.
    fn shut_down(&self) {
        self.stop.store(true, Ordering::SeqCst);
        self.stop_fd.signal();
    }

    /// Runs `f` on shard `k` by message; None if it is gone.
    fn ask<R: Send + 'static>(
        &self,
        k: usize,
        f: impl FnOnce(&mut Shard, Instant) -> R + Send + 'static,
    ) -> Option<tokio::sync::oneshot::Receiver<R>> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |s, now| {
            let _ = tx.send(f(s, now));
        });
        self.posts.get(k)?.message(Msg::Run(job)).then_some(rx)
    }

    /// Runs `f` on every shard by message and gathers the answers, in
    /// shard order (a shard that stopped is left out).
    async fn ask_all<R: Send + 'static>(
        &self,
        f: impl Fn(&mut Shard, Instant) -> R + Send + Sync + Clone + 'static,
    ) -> Vec<R> {
        let pending: Vec<_> = (0..self.posts.len())
            .filter_map(|k| self.ask(k, f.clone()))
            .collect();
        let mut out = Vec::with_capacity(pending.len());
        for rx in pending {
            if let Ok(r) = rx.await {
                out.push(r);
            }
        }
        out
    }

    /// As `ask_all`, from a thread outside the async runtime.
    fn ask_all_blocking<R: Send + 'static>(
        &self,
        f: impl Fn(&mut Shard, Instant) -> R + Send + Sync + Clone + 'static,
    ) -> Vec<R> {
        let pending: Vec<_> = (0..self.posts.len())
            .filter_map(|k| self.ask(k, f.clone()))
            .collect();
        pending
            .into_iter()
            .filter_map(|rx| rx.blocking_recv().ok())
            .collect()
    }

    /// The XDP counters (empty when the map cannot be read).
    fn xdp_counters(&self) -> std::collections::BTreeMap<String, u64> {
        self.fastpath()
            .counters()
            .map(|c| c.values.into_iter().collect())
            .unwrap_or_default()
    }

    fn extra(
        &self,
        neighbours: &[crate::stack::arp_cache::ArpEntry],
        conns: &[crate::stack::tcp::ConnView],
    ) -> metrics::Extra {
        metrics::Extra {
            iface: self.status.iface.clone(),
            xdp_mode: self.status.xdp_mode.clone(),
            prog_id: self.status.prog_id,
            neighbours: metrics::neighbour_states(neighbours),
            connections: metrics::connection_states(conns.iter().cloned()),
            process: metrics::ProcessStats::read(),
        }
    }

    /// One scrape of every shard, gathered by message (from the metrics
    /// endpoint's thread).
    fn metrics_text(&self) -> String {
        let parts = self.ask_all_blocking(|s: &mut Shard, now| {
            (
                s.stack.stats(),
                s.services.stats(),
                s.xsk,
                s.stack.arp_entries(now),
                s.stack.tcp_connections(),
            )
        });
        let mut stacks = Vec::new();
        let mut services = Vec::new();
        let mut xsk = Vec::new();
        let mut arp = Vec::new();
        let mut conns = Vec::new();
        for (st, sv, x, a, c) in parts {
            stacks.push(st);
            services.push(sv);
            xsk.push(x);
            arp.push(a);
            conns.push(c);
        }
        let extra = self.extra(&merge::arp_entries(arp), &merge::connections(conns));
        render_metrics(
            self.xdp_counters(),
            merge::stack_stats(&stacks),
            merge::services_stats(&services),
            xsk,
            extra,
        )
    }
}

fn render_metrics(
    xdp: std::collections::BTreeMap<String, u64>,
    stack: StackStats,
    services: ServicesStats,
    xsk: Vec<XskStats>,
    extra: metrics::Extra,
) -> String {
    let reply = StatsReply {
        xdp_mode: None,
        xdp_mode_reason: None,
        xdp,
        stack,
        services,
        xsk,
    };
    metrics::render(&reply, &extra)
}

/// The IPv6 addresses served: those given, plus the link-local address
/// derived from the MAC (modified EUI-64, RFC 4291 2.5.1 and appendix A)
/// unless a link-local one was given (RFC 4862 5.3: every interface has
/// one). None given: none at all, IPv6 stays the kernel's.
pub fn ip6_addresses(given: &[(Ipv6Addr, u8)], mac: MacAddr) -> Result<Vec<(Ipv6Addr, u8)>> {
    if given.is_empty() {
        return Ok(Vec::new());
    }
    let mut out: Vec<(Ipv6Addr, u8)> = Vec::new();
    for &(a, p) in given {
        if !out.iter().any(|(b, _)| *b == a) {
            out.push((a, p));
        }
    }
    if !out.iter().any(|(a, _)| a.is_unicast_link_local()) {
        out.push((Ipv6Addr::from(ipv6::link_local_from_mac(mac.0)), 64));
    }
    if out.len() > MAX_IP6 {
        bail!(
            "{} IPv6 addresses with the link-local one; the fast path holds at most {MAX_IP6}",
            out.len()
        );
    }
    Ok(out)
}

/// The earlier of two optional deadlines.
fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    a.into_iter().chain(b).min()
}

pub fn run(args: Config) -> Result<()> {
    check_privileges()?;
    iface::ensure_exists(&args.iface)?;
    let (ip, prefix) = (args.ip, args.prefix);
    let mac = match args.mac {
        Some(m) => m,
        None => iface::mac(&args.iface)?,
    };
    if !mac.is_unicast() {
        bail!("{mac} is not a unicast MAC address; give one with --mac");
    }
    let available = rx_channels(&args.iface).unwrap_or(iface::rx_queues(&args.iface)?);
    let queues = match args.queues {
        None => available,
        Some(n) if n <= available => n,
        Some(n) => bail!(
            "--queues {n}: {} has {available} RX queue{} (see `ethtool -l {}`)",
            args.iface,
            if available == 1 { "" } else { "s" },
            args.iface
        ),
    };
    let mtu = iface::mtu(&args.iface)? as usize;

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let _enter = runtime.enter();
    let control = ControlSocket::bind(&socket_path(&args.control_dir, &args.iface))?;
    // A host socket, bound while we still may bind any port.
    let metrics_listener = args
        .metrics
        .map(|addr| {
            std::net::TcpListener::bind(addr)
                .with_context(|| format!("binding the metrics endpoint {addr}"))
        })
        .transpose()?;

    let mut flags = FLAG_NEIGH_EVENTS;
    if args.fastpath {
        flags |= FLAG_FASTPATH;
    }
    if args.capture_all {
        flags |= FLAG_CAPTURE_ALL;
    }
    // Unchanged ARP senders are republished often enough to keep their cache
    // entries reachable (`neigh_refresh_ns`), not on every frame.
    let ip6 = ip6_addresses(&args.ip6, mac)?;
    let ip6_octets: Vec<[u8; 16]> = ip6.iter().map(|(a, _)| a.octets()).collect();
    for (a, p) in &ip6 {
        log::info!("IPv6 {a}/{p}: neighbour solicitations and echo answered in-kernel");
    }
    let fp_config = FastpathConfig::new(ip.octets(), mac.octets(), flags)
        .with_neigh_refresh_ns(neigh_refresh_ns(args.arp_timeout.as_secs()))
        .with_ip6(&ip6_octets);
    let mut fastpath = Fastpath::load(fp_config)?;
    let neigh_ring = fastpath.take_neigh_events()?;
    let capture_map = fastpath.take_capture_map()?;
    let attached = fastpath.attach(&args.iface, args.mode)?;
    log::info!(
        "XDP {} mode on {}: {}",
        attached.mode,
        args.iface,
        attached.reason
    );
    let local_peer = is_veth(&args.iface);
    let prog_id = fastpath
        .program()
        .ok()
        .and_then(|p| p.info().ok())
        .map(|i| i.id());
    let mut sockets = Vec::new();
    for q in 0..queues {
        let mut s = XskSocket::open(&args.iface, q)?;
        if let Some(spin) = args.busy_poll {
            // Needs CAP_NET_ADMIN: before the capabilities go.
            let usecs = u32::try_from(spin.as_micros()).unwrap_or(u32::MAX);
            if let Err(e) = s.set_busy_poll(usecs) {
                log::warn!("{e:#}; spinning in userspace only");
            }
        }
        fastpath.register_socket(q, &s)?;
        sockets.push(s);
    }
    // Setup is done: the rest needs no capability (see `privilege`). Drop
    // them here, before the workers start, since threads inherit the set.
    let dropped = crate::privilege::drop_all()?;
    log::info!(
        "dropped all capabilities{}",
        if dropped.bounding_set {
            " and cleared the bounding set"
        } else {
            " (bounding set kept: no CAP_SETPCAP; no_new_privs is set)"
        }
    );
    let watch = IfaceWatch::new(&args.iface)?;
    let log_fd = fastpath.log_fd();

    let clock = MonotonicClock::start();
    let count = sockets.len();
    let mut shards = Vec::with_capacity(count);
    for (index, sock) in sockets.iter().enumerate() {
        let config = StackConfig {
            ip,
            prefix,
            mac,
            gateway: args.gateway,
            ip6: ip6.clone(),
            gateway6: args.gateway6,
            mtu,
            arp_timeout: args.arp_timeout,
            arp_max: args.arp_max,
            // Each shard its own secret: its flows' ISNs and ports are its own.
            seed: os_random()?,
        };
        let mut stack = Stack::new(config, clock.now());
        stack.set_tcp_congestion(args.tcp_cc);
        stack.set_shard(index as u16, count as u16);
        if local_peer {
            // The peer is on this host and may leave checksums partial (TX offload).
            stack.accept_partial_checksums(true);
        }
        // Every shard listens on the services' ports (like SO_REUSEPORT).
        let services = Services::start(&mut stack, &args.services).map_err(|e| anyhow!(e))?;
        shards.push(Shard {
            id: ShardId { index, count },
            stack,
            services,
            xsk: sock.stats(),
        });
    }
    if local_peer {
        log::info!(
            "{} is a veth: accepting partial checksums from its peer",
            args.iface
        );
    }
    let status = StatusReply {
        iface: args.iface.clone(),
        ip: format!("{ip}/{prefix}"),
        ip6: ip6.iter().map(|(a, p)| format!("{a}/{p}")).collect(),
        mac: mac.to_string(),
        xdp_mode: attached.mode.to_string(),
        xdp_mode_reason: attached.reason.clone(),
        prog_id,
        queues,
        uptime_s: 0,
        fastpath: args.fastpath,
        services: args
            .services
            .iter()
            .filter(|s| **s != ServiceName::None)
            .map(|s| format!("{s:?}").to_lowercase())
            .collect(),
        control: socket_path(&args.control_dir, &args.iface)
            .display()
            .to_string(),
        metrics: metrics_listener
            .as_ref()
            .and_then(|l| l.local_addr().ok())
            .map(|a| a.to_string()),
        pid: std::process::id(),
        other_xdp: Vec::new(),
    };
    let mut posts = Vec::with_capacity(count);
    let mut mailboxes = Vec::with_capacity(count);
    for _ in 0..count {
        let (p, m) = mailbox(HANDOFF_QUEUE)?;
        posts.push(p);
        mailboxes.push(m);
    }
    let shared = Arc::new(Shared {
        fastpath: Mutex::new(fastpath),
        ip,
        posts,
        snapshots: shards
            .iter()
            .map(|s| {
                Mutex::new(Snapshot {
                    stack: s.stack.stats(),
                    services: s.services.stats(),
                    xsk: s.xsk,
                })
            })
            .collect(),
        queues: sockets.iter().map(XskSocket::queue).collect(),
        clock,
        stop: AtomicBool::new(false),
        stop_fd: EventFd::new()?,
        ping_replies: tokio::sync::Notify::new(),
        next_ping: AtomicUsize::new(0),
        busy_poll: args.busy_poll,
        attached: attached.clone(),
        capture: Arc::new(Hub::new()),
        status,
        started: std::time::Instant::now(),
    });
    // The first capture client turns the program's copying on, the last one
    // leaving turns it off. Weak: the hub lives in `shared`, which must drop
    // (detaching the program) when the daemon ends.
    let weak = Arc::downgrade(&shared);
    shared.capture.set_switch(Box::new(move |on| {
        if let Some(shared) = weak.upgrade() {
            match shared.fastpath().set_flag(FLAG_CAPTURE, on) {
                Ok(()) => log::info!("capture {}", if on { "started" } else { "stopped" }),
                Err(e) => log::error!(
                    "turning the in-kernel capture {}: {e:#}",
                    if on { "on" } else { "off" }
                ),
            }
        }
    }));
    let control = control.with_capture(shared.capture.clone());
    // Both metrics views hold the daemon weakly: it detaches its program
    // when the last strong reference goes at shutdown. The HTTP service's
    // page is served from inside one shard, which cannot wait for the
    // others: it adds its own live counters to their last snapshots.
    for shard in &mut shards {
        let weak = Arc::downgrade(&shared);
        let me = shard.id.index;
        shard
            .services
            .set_metrics(Box::new(move |stack: &Stack, services: &ServicesStats| {
                weak.upgrade().map_or_else(String::new, |sh| {
                    let mut stacks = vec![stack.stats()];
                    let mut svcs = vec![services.clone()];
                    let mut xsk = Vec::new();
                    for (k, slot) in sh.snapshots.iter().enumerate() {
                        let snap = slot.lock().map(|s| s.clone()).unwrap_or_default();
                        if k != me {
                            stacks.push(snap.stack);
                            svcs.push(snap.services);
                        }
                        xsk.push(snap.xsk);
                    }
                    let now = sh.clock.now();
                    let views: Vec<_> = stack.tcp_views(true).collect();
                    let extra = sh.extra(&stack.arp_entries(now), &views);
                    render_metrics(
                        sh.xdp_counters(),
                        merge::stack_stats(&stacks),
                        merge::services_stats(&svcs),
                        xsk,
                        extra,
                    )
                })
            }));
    }
    if let Some(listener) = metrics_listener {
        let weak = Arc::downgrade(&shared);
        crate::control::metrics::spawn(
            listener,
            Arc::new(move || weak.upgrade().map(|sh| sh.metrics_text())),
        )?;
    }
    let workers: Vec<JoinHandle<()>> = sockets
        .into_iter()
        .zip(shards)
        .zip(mailboxes)
        .map(|((sock, shard), mb)| {
            let shared = shared.clone();
            let cpu = (!args.cpus.is_empty()).then(|| args.cpus[shard.id.index % args.cpus.len()]);
            std::thread::Builder::new()
                .name(format!("xsk-q{}", sock.queue()))
                .spawn(move || {
                    if let Some(cpu) = cpu {
                        if let Err(e) = pin_to_cpu(cpu) {
                            log::warn!("queue {}: pinning to CPU {cpu}: {e}", sock.queue());
                        }
                    }
                    worker(shard, sock, mb, &shared)
                })
                .map_err(|e| anyhow!("starting a queue worker: {e}"))
        })
        .collect::<Result<_>>()?;

    // Install the signal handlers before saying we are ready, so a SIGTERM
    // right after the ready line already means a clean shutdown.
    let signals = Signals::install()?;
    println!(
        "xdpstack: serving {ip}/{prefix} ({mac}) on {}: XDP {} mode, {queues} queue{} ({}){}, fast path {}, control {}{}",
        args.iface,
        attached.mode,
        if queues == 1 { "" } else { "s" },
        queue_list(&shared.queues),
        if args.cpus.is_empty() {
            String::new()
        } else {
            format!(" on CPUs {}", queue_list(&args.cpus))
        },
        if args.fastpath { "on" } else { "off" },
        socket_path(&args.control_dir, &args.iface).display(),
        shared
            .status
            .metrics
            .as_ref()
            .map(|m| format!(", metrics http://{m}/metrics"))
            .unwrap_or_default()
    );

    let result = runtime.block_on(main_task(
        shared.clone(),
        control,
        neigh_ring,
        capture_map,
        signals,
        watch,
        log_fd,
    ));
    shared.shut_down();
    for w in workers {
        let _ = w.join();
    }
    // Dropping the fast path closes the bpf_link: the program detaches.
    drop(shared);
    result
}

/// How soon a worker kicks again frames a busy device left on the TX ring.
const TX_RETRY: Duration = Duration::from_micros(50);
const TX_RETRY_MAX: Duration = Duration::from_millis(100);

/// Handed-off frames a shard's mailbox holds; past that they are dropped
/// and counted (`handoff_dropped`), as a full RX ring drops.
const HANDOFF_QUEUE: usize = 4096;

/// `0, 1, 2` for the ready line.
fn queue_list<T: std::fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(|q| q.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The interface's RX channels by the ethtool channel query
/// (ETHTOOL_GCHANNELS): combined plus RX-only; None when the driver does
/// not answer it (then /sys/class/net/IF/queues is counted).
fn rx_channels(iface: &str) -> Option<u32> {
    const ETHTOOL_GCHANNELS: u32 = 0x3c;
    // struct ethtool_channels (linux/ethtool.h): cmd then eight u32s.
    let mut ch = [0u32; 9];
    ch[0] = ETHTOOL_GCHANNELS;
    // SAFETY: ifreq is plain data; all-zero is a valid value.
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    let name = iface.as_bytes();
    if name.len() >= ifr.ifr_name.len() {
        return None;
    }
    for (d, s) in ifr.ifr_name.iter_mut().zip(name) {
        *d = *s as libc::c_char;
    }
    ifr.ifr_ifru.ifru_data = ch.as_mut_ptr().cast();
    // SAFETY: plain syscall; the fd is owned below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return None;
    }
    // SAFETY: fd is a fresh descriptor we own.
    let fd: std::os::fd::OwnedFd = unsafe { std::os::fd::FromRawFd::from_raw_fd(fd) };
    // SAFETY: SIOCETHTOOL with an ifreq whose data points at a live
    // ethtool_channels for the whole call.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::SIOCETHTOOL, &mut ifr) };
    // rx_count is ch[5], combined_count ch[8].
    let n = ch[5] + ch[8];
    (rc == 0 && n > 0).then_some(n)
}

/// Runs the calling thread on `cpu` only.
fn pin_to_cpu(cpu: usize) -> std::io::Result<()> {
    // SAFETY: cpu_set_t is plain data; all-zero is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    if cpu >= 8 * std::mem::size_of::<libc::cpu_set_t>() {
        return Err(std::io::Error::from_raw_os_error(libc::EINVAL));
    }
    // SAFETY: `cpu` is within the set, checked above.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: a valid set of the size passed; 0 is the calling thread.
    let rc = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) };
    if rc < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

async fn main_task(
    shared: Arc<Shared>,
    control: ControlSocket,
    neigh_ring: aya::maps::RingBuf<aya::maps::MapData>,
    capture_map: aya::maps::Map,
    mut signals: Signals,
    watch: IfaceWatch,
    log_fd: Option<std::os::fd::RawFd>,
) -> Result<()> {
    // SAFETY: the ring owns its fd and keeps it open as long as the AsyncFd
    // holds the ring.
    let mut neigh = unsafe { AsyncFd::register(neigh_ring) }
        .map_err(|e| anyhow!("watching the neighbour event ring: {e}"))?;
    // Link changes, instead of polling the interface: subscribe first, then
    // check, so a deletion in between is not missed.
    // SAFETY: LinkEvents owns its fd and keeps it open as long as the
    // AsyncFd holds it.
    let links = unsafe { AsyncFd::register(LinkEvents::open()?) }
        .map_err(|e| anyhow!("watching link events: {e}"))?;
    watch.check()?;
    // eBPF log lines, flushed when the log ring says it has some.
    let logs = log_fd
        .map(|fd| {
            // SAFETY: the logger in `shared.fastpath` owns this fd and keeps
            // it open until `shared` is dropped, after this AsyncFd (a local
            // of this function, dropped before its parameters).
            unsafe {
                AsyncFd::register_with_interest(BorrowedRawFd(fd), tokio::io::Interest::READABLE)
            }
        })
        .transpose()
        .map_err(|e| anyhow!("watching the eBPF log ring: {e}"))?;

    // The program copies without waking the daemon (a wakeup per copy
    // would cost more than the copy): drain the ring on a tick instead,
    // while a capture runs.
    let mut capture_tick = tokio::time::interval(CAPTURE_POLL);
    capture_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    // Mapped only while a capture runs: mmap maps all of a ring's pages at
    // once, twice (the data is mapped twice for wrap-around), so a mapped
    // 4 MiB ring is 8 MiB of resident memory. Records made meanwhile wait.
    let mut capture_ring: Option<aya::maps::RingBuf<&aya::maps::MapData>> = None;

    let handler = {
        let shared = shared.clone();
        Arc::new(move |req: Request| {
            let shared = shared.clone();
            // A request's work runs in the shards' own loops, which send
            // what it queued and rearm their timers themselves.
            async move { handle_request(&shared, req).await }
        })
    };
    let serve = control.serve(handler);
    tokio::pin!(serve);

    loop {
        tokio::select! {
            _ = signals.int.recv() => break,
            _ = signals.term.recv() => break,
            _ = &mut serve => break,
            guard = links.readable() => {
                let mut guard = guard.context("link events")?;
                guard.get_inner().drain();
                guard.clear_ready();
                watch.check()?;
            }
            guard = async {
                match &logs {
                    Some(l) => l.readable().await,
                    None => std::future::pending().await,
                }
            } => {
                let mut guard = guard.context("eBPF log ring")?;
                guard.clear_ready();
                shared.fastpath().flush_logs();
            }
            // A client came or left: loop, so the tick below is (re)armed.
            _ = shared.capture.changed.notified() => {
                if !shared.capture.active() {
                    capture_ring = None;
                }
            }
            _ = capture_tick.tick(), if shared.capture.active() => {
                if capture_ring.is_none() {
                    match aya::maps::RingBuf::try_from(&capture_map) {
                        Ok(ring) => capture_ring = Some(ring),
                        Err(e) => log::error!("mapping the capture ring: {e}"),
                    }
                }
                if let Some(ring) = capture_ring.as_mut() {
                    while let Some(item) = ring.next() {
                        if !shared.capture.tap_xdp_record(&item) {
                            log::debug!("skipped a malformed capture record");
                        }
                    }
                }
            }
            guard = neigh.readable_mut() => {
                let mut guard = guard.context("neighbour event ring")?;
                let ring = guard.get_inner_mut();
                while let Some(item) = ring.next() {
                    // A record of unknown length is skipped.
                    match NeighRecord::from_bytes(&item) {
                        Some(NeighRecord::Arp(ev)) => shared.neigh_event(ev),
                        Some(NeighRecord::Ndp(ev)) => shared.neigh_event6(ev),
                        None => {}
                    }
                }
                guard.clear_ready();
            }
        }
    }
    Ok(())
}

/// A descriptor owned elsewhere, to watch it with tokio.
struct BorrowedRawFd(std::os::fd::RawFd);

impl AsRawFd for BorrowedRawFd {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        // The eBPF log ring's fd: the logger in `Shared::fastpath` keeps it
        // open for the daemon's whole life, longer than `main_task`.
        self.0
    }
}

/// An rtnetlink socket subscribed to link changes (RTMGRP_LINK): any
/// message is a reason to check the interface, so none is parsed.
struct LinkEvents(std::os::fd::OwnedFd);

impl LinkEvents {
    fn open() -> Result<Self> {
        // SAFETY: plain syscall; the fd is owned below.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                libc::NETLINK_ROUTE,
            )
        };
        if fd < 0 {
            bail!("netlink socket: {}", std::io::Error::last_os_error());
        }
        // SAFETY: fd is a fresh descriptor we own.
        let fd: std::os::fd::OwnedFd = unsafe { std::os::fd::FromRawFd::from_raw_fd(fd) };
        // SAFETY: sockaddr_nl is plain data; all-zero is a valid value.
        let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        addr.nl_groups = libc::RTMGRP_LINK as u32;
        // SAFETY: a valid sockaddr_nl of the size passed, on our own fd.
        let rc = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&addr as *const libc::sockaddr_nl).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            bail!(
                "subscribing to link events: {}",
                std::io::Error::last_os_error()
            );
        }
        Ok(LinkEvents(fd))
    }

    /// Reads every pending message (ENOBUFS, an overrun, counts as one).
    fn drain(&self) {
        let mut buf = [0u8; 8192];
        loop {
            // SAFETY: reads at most buf.len() bytes into our own buffer.
            let n = unsafe {
                libc::recv(
                    self.0.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    libc::MSG_DONTWAIT,
                )
            };
            if n < 0 {
                let e = std::io::Error::last_os_error();
                if e.raw_os_error() == Some(libc::ENOBUFS)
                    || e.kind() == std::io::ErrorKind::Interrupted
                {
                    continue;
                }
                return; // EAGAIN: drained.
            }
        }
    }
}

impl AsRawFd for LinkEvents {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.0.as_raw_fd()
    }
}

/// Notices that the interface went away (deleted, or moved to another
/// namespace): the kernel then detaches the program and unbinds the
/// sockets by itself, and the daemon has nothing left to serve. Checked
/// on every link event.
struct IfaceWatch {
    name: String,
    c_name: std::ffi::CString,
    index: u32,
}

impl IfaceWatch {
    fn new(name: &str) -> Result<Self> {
        let c_name = std::ffi::CString::new(name).context("interface name")?;
        let mut w = IfaceWatch {
            name: name.to_string(),
            c_name,
            index: 0,
        };
        w.index = w.current();
        if w.index == 0 {
            bail!("no interface named '{name}' (see `ip link show`)");
        }
        Ok(w)
    }

    /// The interface's index now, 0 when there is none by that name.
    fn current(&self) -> u32 {
        // SAFETY: a valid NUL-terminated string; no capability needed.
        unsafe { libc::if_nametoindex(self.c_name.as_ptr()) }
    }

    /// Fails once the interface is gone or its name now means another one.
    fn check(&self) -> Result<()> {
        if self.current() != self.index {
            bail!(
                "interface {} disappeared while serving (deleted or moved to another namespace); stopping",
                self.name
            );
        }
        Ok(())
    }
}

/// SIGINT and SIGTERM, caught from the moment they are installed.
struct Signals {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> Result<Self> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals {
            int: signal(SignalKind::interrupt()).context("installing the SIGINT handler")?,
            term: signal(SignalKind::terminate()).context("installing the SIGTERM handler")?,
        })
    }
}

/// How often the daemon drains the XDP program's capture ring while a
/// capture client is connected: 2048 records of room last 5 ms at 400k
/// frames a second.
const CAPTURE_POLL: Duration = Duration::from_millis(5);

/// How long after the last batch a worker re-reads its socket's kernel
/// counters once more, so `xdpstack stats` is current once traffic stops.
const KERNEL_STATS_AFTER: Duration = Duration::from_millis(100);

impl Shared {
    /// A binding the XDP program reported, for every shard's replica. A
    /// claim on our own address goes to shard 0 alone, so the host defends
    /// it once (RFC 5227 2.4), not once per shard.
    fn neigh_event(&self, ev: NeighEvent) {
        let claim = Ipv4Addr::from(ev.sender_ip) == self.ip;
        for (k, p) in self.posts.iter().enumerate() {
            if !claim || k == 0 {
                p.message(Msg::Neigh(ev));
            }
        }
    }

    /// An NDP binding the XDP program reported, for every shard's replica.
    /// An advert claiming one of our addresses goes to every shard too:
    /// during DAD each of them stops using the address (RFC 4862 5.4.5);
    /// only shard 0 sends anything about it.
    fn neigh_event6(&self, ev: NeighEvent6) {
        for p in &self.posts {
            p.message(Msg::Neigh6(ev));
        }
    }
}

/// What a shard has for a TCP tuple, for [`steer`].
fn flow_of(stack: &mut Stack, local_port: u16, remote: std::net::SocketAddr) -> Flow {
    let tcp = stack.tcp();
    if tcp.has_connection(local_port, remote) {
        Flow::Connection
    } else if tcp.is_listening(local_port) {
        Flow::Listener
    } else {
        Flow::Unknown
    }
}

/// One queue's loop: receive a batch, hand over the frames other shards
/// own, let this shard's stack and services answer the rest, run its
/// timers, send. It sleeps exactly until its own earliest deadline.
fn worker(mut shard: Shard, mut sock: XskSocket, mb: Mailbox<Handoff, Msg>, shared: &Shared) {
    let me = shard.id;
    // Shards this batch handed frames to: each is woken once per batch.
    let mut to_wake = vec![false; me.count];
    let mut handoff_out = 0u64;
    // Set after frames moved: the kernel counters to re-read once quiet.
    let mut stats_due: Option<std::time::Instant> = None;
    let mut published = std::time::Instant::now();
    let mut skip_sleep = false;
    let mut tx_retry = TX_RETRY;
    while !shared.stop.load(Ordering::SeqCst) {
        // Whether the mailbox's eventfd may be signalled (unknown after a
        // busy-poll spin): cleared before draining, so a post after the
        // drain wakes the next sleep; not read when it was not signalled.
        let mut mail = true;
        if !skip_sleep {
            let deadline = earliest(shard.stack.poll_at(), shard.services.poll_at());
            let timer_wait = deadline.map(|d| d.since(shared.clock.now()));
            let stats_wait =
                stats_due.map(|t| t.saturating_duration_since(std::time::Instant::now()));
            // Replies the device had no room for are kicked again soon,
            // backing off while it stays stuck (a link down).
            let tx_wait = if sock.tx_pending() {
                let w = tx_retry;
                tx_retry = (tx_retry * 2).min(TX_RETRY_MAX);
                Some(w)
            } else {
                tx_retry = TX_RETRY;
                None
            };
            let wait = timer_wait
                .into_iter()
                .chain(stats_wait)
                .chain(tx_wait)
                .min();
            match sleep(&sock, &mb, shared, wait) {
                None => continue, // EINTR: check `stop` and sleep again.
                Some(m) => mail = m,
            }
        }
        skip_sleep = false;
        if mail {
            mb.clear_wake();
        }
        let mut moved = false;
        loop {
            let now = shared.clock.now();
            let hub = &*shared.capture;
            let mut work = 0usize;
            while let Some(m) = mb.message() {
                work += 1;
                match m {
                    Msg::Neigh(ev) => shard.stack.on_neigh_event(now, &ev),
                    Msg::Neigh6(ev) => shard.stack.on_neigh_event6(now, &ev),
                    Msg::Run(job) => {
                        // Current even in the middle of a flood.
                        shard.xsk = xsk_stats(&sock, &mb, handoff_out);
                        job(&mut shard, now)
                    }
                }
            }
            let Shard {
                stack, services, ..
            } = &mut shard;
            let tx_before = sock.tx_frames();
            // Frames other shards received for flows this one owns, in the
            // order they were handed over; or on round the ring.
            while let Some(h) = mb.frame() {
                work += 1;
                let target = steer(&h.frame, me, usize::from(h.hops), |p, r| {
                    flow_of(stack, p, r)
                });
                match target {
                    Steer::To(k) if k != me.index => {
                        let hops = h.hops.saturating_add(1);
                        if shared.posts[k].frame(Handoff {
                            frame: h.frame,
                            hops,
                        }) {
                            to_wake[k] = true;
                        }
                        handoff_out += 1;
                    }
                    _ => stack.receive(now, &h.frame, &mut Tap::new(sock.tx(), hub)),
                }
            }
            // Replies are written straight into the socket's TX frames,
            // through the capture tap (one atomic test without a client).
            let n = match sock.recv(0, |frame, tx| {
                hub.tap_xsk(capture::Direction::In, frame);
                match steer(frame, me, 0, |p, r| flow_of(stack, p, r)) {
                    Steer::To(k) if k != me.index => {
                        let h = Handoff {
                            frame: frame.to_vec(),
                            hops: 1,
                        };
                        if shared.posts[k].frame(h) {
                            to_wake[k] = true;
                        }
                        handoff_out += 1;
                    }
                    _ => stack.receive(now, frame, &mut Tap::new(tx, hub)),
                }
            }) {
                Ok(n) => n,
                Err(e) => {
                    log::error!("queue {}: {e:#}", sock.queue());
                    0
                }
            };
            // Datagrams reassembled here belong to whoever owns their flow
            // (an echo reply to another shard's ping, say).
            for frame in stack.take_reassembled() {
                match steer(&frame, me, 0, |p, r| flow_of(stack, p, r)) {
                    Steer::To(k) if k != me.index => {
                        if shared.posts[k].frame(Handoff { frame, hops: 1 }) {
                            to_wake[k] = true;
                        }
                        handoff_out += 1;
                    }
                    _ => stack.receive(now, &frame, &mut Tap::new(sock.tx(), hub)),
                }
            }
            if stack.poll_at().is_some_and(|at| at <= now) {
                stack.poll(now, &mut Tap::new(sock.tx(), hub));
            }
            services.poll(now, std::time::SystemTime::now(), stack);
            stack.flush(now, &mut Tap::new(sock.tx(), hub));
            if stack.take_ping_replied() {
                shared.ping_replies.notify_waiters();
            }
            // What this shard learned from ARP frames, for the replicas.
            for ev in stack.take_neigh_exports() {
                for (k, p) in shared.posts.iter().enumerate() {
                    if k != me.index {
                        p.message(Msg::Neigh(ev));
                    }
                }
            }
            // The batch's frames are written; kicks send the rest.
            sock.commit();
            for (k, w) in to_wake.iter_mut().enumerate() {
                if std::mem::take(w) {
                    shared.posts[k].wake();
                }
            }
            moved |= n > 0 || work > 0 || sock.tx_frames() != tx_before;
            // At most every 100 ms: a getsockopt, kept off the per-batch path.
            sock.maybe_refresh_kernel_stats();
            let done = (n == 0 && work == 0) || shared.stop.load(Ordering::Relaxed);
            // For the HTTP service's page in other shards: at most every
            // 100 ms under load, and once when the batches run dry.
            if published.elapsed() >= KERNEL_STATS_AFTER || done {
                published = std::time::Instant::now();
                shard.xsk = xsk_stats(&sock, &mb, handoff_out);
                if let Some(slot) = shared.snapshots.get(me.index) {
                    if let Ok(mut s) = slot.lock() {
                        *s = Snapshot {
                            stack: shard.stack.stats(),
                            services: shard.services.stats(),
                            xsk: shard.xsk,
                        };
                    }
                }
            }
            // Under a flood batches never run dry: stop promptly anyway.
            if done {
                break;
            }
        }
        if moved {
            stats_due = Some(std::time::Instant::now() + KERNEL_STATS_AFTER);
        } else if stats_due.is_some_and(|t| t <= std::time::Instant::now()) {
            stats_due = None;
            sock.refresh_kernel_stats();
            shard.xsk = xsk_stats(&sock, &mb, handoff_out);
        }
        if let Some(spin) = shared.busy_poll {
            skip_sleep = spin_for_frames(&mut sock, spin, shared);
        }
    }
}

/// A shard's socket counters with its hand-offs.
fn xsk_stats(sock: &XskSocket, mb: &Mailbox<Handoff, Msg>, handoff_out: u64) -> XskStats {
    XskStats {
        handoff_out,
        handoff_in: mb.counters().frames_in.load(Ordering::Relaxed),
        handoff_dropped: mb.counters().frames_dropped.load(Ordering::Relaxed),
        ..sock.stats()
    }
}

/// `--busy-poll`: instead of sleeping at once, polls the socket (running
/// its NAPI context when the kernel busy-polls it) for up to `spin`; true
/// if frames arrived meanwhile. Costs up to `spin` of CPU after every
/// batch, so a steady trickle of frames keeps a core busy.
fn spin_for_frames(sock: &mut XskSocket, spin: Duration, shared: &Shared) -> bool {
    let until = std::time::Instant::now() + spin;
    while std::time::Instant::now() < until {
        sock.busy_poll_once();
        if sock.rx_ready() {
            return true;
        }
        if shared.stop.load(Ordering::Relaxed) {
            return false;
        }
        std::hint::spin_loop();
    }
    false
}

/// Blocks until a frame arrives on `sock`, a message or hand-off in the
/// mailbox, the stop signal, or `wait` passed (None: no deadline). ppoll,
/// not poll, so the deadline is kept to the microsecond rather than
/// rounded to a millisecond. None: interrupted; else whether the
/// mailbox was signalled.
fn sleep(
    sock: &XskSocket,
    mb: &Mailbox<Handoff, Msg>,
    shared: &Shared,
    wait: Option<Duration>,
) -> Option<bool> {
    let fd = |fd: std::os::fd::RawFd| libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    let mut fds = [
        fd(sock.as_raw_fd()),
        fd(shared.stop_fd.as_raw_fd()),
        fd(mb.as_raw_fd()),
    ];
    let ts = wait.map(|w| libc::timespec {
        tv_sec: w.as_secs().min(i32::MAX as u64) as libc::time_t,
        tv_nsec: libc::c_long::from(w.subsec_nanos() as i32),
    });
    let ts_ptr = ts
        .as_ref()
        .map_or(std::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: fds is a valid array of three pollfds and ts_ptr null or a
    // live timespec for the whole call; no signal mask is changed.
    let ready = unsafe { libc::ppoll(fds.as_mut_ptr(), 3, ts_ptr, std::ptr::null()) };
    (ready >= 0).then_some(fds[2].revents & libc::POLLIN != 0)
}

async fn handle_request(shared: &Shared, req: Request) -> Response {
    match req {
        Request::Stats {} => {
            let xdp = match shared.fastpath().counters() {
                Ok(c) => c,
                Err(e) => return Response::error(format!("reading XDP counters: {e:#}")),
            };
            let parts = shared
                .ask_all(|s: &mut Shard, _| (s.stack.stats(), s.services.stats(), s.xsk))
                .await;
            let stacks: Vec<StackStats> = parts.iter().map(|p| p.0.clone()).collect();
            let services: Vec<ServicesStats> = parts.iter().map(|p| p.1.clone()).collect();
            Response::ok(StatsReply {
                xdp_mode: Some(shared.attached.mode.to_string()),
                xdp_mode_reason: Some(shared.attached.reason.clone()),
                xdp: xdp.values.into_iter().collect(),
                stack: merge::stack_stats(&stacks),
                services: merge::services_stats(&services),
                xsk: parts.iter().map(|p| p.2).collect(),
            })
        }
        Request::Status {} => Response::ok(StatusReply {
            uptime_s: shared.started.elapsed().as_secs(),
            ..shared.status.clone()
        }),
        Request::Arp {} => {
            let parts = shared
                .ask_all(|s: &mut Shard, now| s.stack.arp_entries(now))
                .await;
            let dev = &shared.status.iface;
            Response::ok(
                merge::arp_entries(parts)
                    .iter()
                    .map(|e| NeighEntryJson::new(e, dev))
                    .collect::<Vec<_>>(),
            )
        }
        Request::Neigh {} => {
            let parts = shared
                .ask_all(|s: &mut Shard, now| (s.stack.arp_entries(now), s.stack.ndp_entries(now)))
                .await;
            let (v4, v6): (Vec<_>, Vec<_>) = parts.into_iter().unzip();
            let dev = &shared.status.iface;
            let v4 = merge::arp_entries(v4);
            let v6 = merge::ndp_entries(v6);
            let rows = v4.iter().map(|e| NeighEntryJson::new(e, dev));
            let rows = rows.chain(v6.iter().map(|e| NeighEntryJson::from_ndp(e, dev)));
            Response::ok(rows.collect::<Vec<_>>())
        }
        // Neighbour administration applies to every replica.
        Request::NeighAdd { ip, mac } => neigh_add(shared, ip, &mac).await,
        Request::NeighDel { ip } => neigh_del(shared, ip, "neighbour").await,
        Request::NeighFlush {} => {
            shared
                .ask_all(|s: &mut Shard, _| {
                    s.stack.arp_flush();
                    s.stack.ndp_flush();
                })
                .await;
            Response::done()
        }
        Request::Conns {} => {
            let parts = shared
                .ask_all(|s: &mut Shard, _| s.stack.tcp_connections())
                .await;
            Response::ok(
                merge::connections(parts)
                    .iter()
                    .map(ConnJson::from)
                    .collect::<Vec<_>>(),
            )
        }
        Request::ArpAdd { ip, mac } => neigh_add(shared, ip.into(), &mac).await,
        Request::ArpDel { ip } => neigh_del(shared, ip.into(), "ARP").await,
        Request::ArpFlush {} => {
            shared.ask_all(|s: &mut Shard, _| s.stack.arp_flush()).await;
            Response::done()
        }
        Request::Ping {
            dst,
            size,
            seq,
            timeout_ms,
        } => ping(shared, dst, size, seq, timeout_ms).await,
        // The control socket streams captures itself (`with_capture`).
        Request::Capture { .. } => Response::error("capture is not a single request"),
    }
}

/// `neigh add` / `arp add`: a permanent entry in every shard's replica.
async fn neigh_add(shared: &Shared, ip: IpAddr, mac: &str) -> Response {
    let mac = match parse_mac(mac) {
        Ok(m) => m,
        Err(e) => return Response::error(e),
    };
    let results = shared
        .ask_all(move |s: &mut Shard, now| match ip {
            IpAddr::V4(v4) => s.stack.arp_add(now, v4, mac),
            IpAddr::V6(v6) => s.stack.ndp_add(now, v6, mac),
        })
        .await;
    match results.into_iter().find_map(Result::err) {
        None => Response::done(),
        Some(e) => Response::error(e),
    }
}

/// `neigh del` / `arp del` from every shard's replica; `table` names the
/// table in the error when no shard had the entry.
async fn neigh_del(shared: &Shared, ip: IpAddr, table: &str) -> Response {
    let found = shared
        .ask_all(move |s: &mut Shard, _| match ip {
            IpAddr::V4(v4) => s.stack.arp_del(v4),
            IpAddr::V6(v6) => s.stack.ndp_del(v6),
        })
        .await;
    if found.contains(&true) {
        Response::done()
    } else {
        Response::error(format!("no {table} entry for {ip}"))
    }
}

/// Sends one echo request from a shard (in turn) and waits for its reply,
/// which whichever shard receives it hands to that one (its identifier
/// says whose it is, see `Stack::set_shard`).
async fn ping(shared: &Shared, dst: IpAddr, size: usize, seq: u16, timeout_ms: u64) -> Response {
    let timeout = Duration::from_millis(timeout_ms.clamp(1, 60_000));
    let k = shared.next_ping.fetch_add(1, Ordering::Relaxed) % shared.posts.len().max(1);
    let started = match shared.ask(k, move |s: &mut Shard, now| {
        s.stack.ping_start(now, dst, seq, size)
    }) {
        Some(rx) => rx.await.ok(),
        None => None,
    };
    let key = match started {
        Some(Ok(key)) => key,
        Some(Err(e)) => return Response::error(e),
        None => return Response::error("the daemon is stopping"),
    };
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        // Register interest before checking, so a reply between the check
        // and the wait is not missed.
        let notified = shared.ping_replies.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let result = match shared.ask(k, move |s: &mut Shard, _| s.stack.ping_result(key)) {
            Some(rx) => rx.await.ok().flatten(),
            None => None,
        };
        if let Some(reply) = result {
            return Response::ok(PingJson::from(reply));
        }
        if tokio::time::timeout_at(deadline, notified).await.is_err() {
            if let Some(rx) = shared.ask(k, move |s: &mut Shard, _| s.stack.ping_forget(key)) {
                let _ = rx.await;
            }
            return Response::error(format!(
                "no reply from {dst} within {} ms",
                timeout.as_millis()
            ));
        }
    }
}

/// True if `iface` is a veth: every frame it receives was sent by a kernel
/// on this host, so a checksum left partial by TX offload is trustworthy
/// (see [`Stack::accept_partial_checksums`]).
fn is_veth(iface: &str) -> bool {
    iface::index(iface)
        .ok()
        .and_then(|i| crate::fastpath::link::query(i, None).ok())
        .is_some_and(|l| l.kind.as_deref() == Some("veth"))
}

/// The stack's seed from the kernel's random source: the RFC 6528 ISN key
/// drawn from it must be unguessable and new at every start.
fn os_random() -> Result<crate::stack::rng::Seed> {
    let mut key = [0u8; 32];
    let mut filled = 0;
    while filled < key.len() {
        // SAFETY: writes at most `len - filled` bytes into our own array.
        let n =
            unsafe { libc::getrandom(key[filled..].as_mut_ptr().cast(), key.len() - filled, 0) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            bail!("getrandom for the stack's random seed: {e}");
        }
        filled += n as usize;
    }
    Ok(key)
}

/// The capabilities `xdpstack run` needs, with their bit numbers:
/// CAP_NET_ADMIN (12) attach XDP, CAP_NET_RAW (13) AF_XDP sockets,
/// CAP_PERFMON (38) and CAP_BPF (39) load the program. CAP_SYS_ADMIN (21)
/// covers them all on older kernels. Public so the compose file's `cap_add`
/// is tested against it.
pub const NEEDED_CAPABILITIES: [(u32, &str); 4] = [
    (12, "CAP_NET_ADMIN"),
    (13, "CAP_NET_RAW"),
    (38, "CAP_PERFMON"),
    (39, "CAP_BPF"),
];

/// Fails with a message naming the capabilities when they are missing.
fn check_privileges() -> Result<()> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let Some(eff) = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|h| u64::from_str_radix(h.trim(), 16).ok())
    else {
        return Ok(()); // Cannot tell: let the kernel decide below.
    };
    if eff & (1 << 21) != 0 {
        return Ok(());
    }
    let missing: Vec<&str> = NEEDED_CAPABILITIES
        .iter()
        .filter(|(bit, _)| eff & (1 << bit) == 0)
        .map(|(_, n)| *n)
        .collect();
    if !missing.is_empty() {
        bail!(
            "xdpstack run needs {} (run it as root, or grant them with setcap)",
            missing.join(", ")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x04]);

    #[test]
    fn ip6_link_local_is_derived_unless_given() {
        assert!(ip6_addresses(&[], MAC).unwrap().is_empty());
        let g: Ipv6Addr = "fd00:10:10::4".parse().unwrap();
        let got = ip6_addresses(&[(g, 64)], MAC).unwrap();
        // 02:00:00:00:00:04: the U/L bit flips, ff:fe in the middle.
        let ll: Ipv6Addr = "fe80::ff:fe00:4".parse().unwrap();
        assert_eq!(got, vec![(g, 64), (ll, 64)]);
        let mine: Ipv6Addr = "fe80::4".parse().unwrap();
        assert_eq!(
            ip6_addresses(&[(g, 64), (mine, 64), (g, 64)], MAC).unwrap(),
            vec![(g, 64), (mine, 64)]
        );
        let many: Vec<(Ipv6Addr, u8)> = (1..=4u16)
            .map(|i| (Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, i), 64))
            .collect();
        assert!(ip6_addresses(&many, MAC).is_err());
        assert_eq!(ip6_addresses(&many[..3], MAC).unwrap().len(), 4);
    }
}
