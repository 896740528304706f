//! `xdpstack run`: wires the pieces together.
//!
//! ```text
//! NIC queue --XDP--> XDP_TX (ARP, ping answered in-kernel)
//!           \------> XSKMAP --> worker thread per queue --> Stack --> AF_XDP TX
//!  NEIGH_EVENTS ring ---------> main task --> Stack (ARP cache learns)
//!  control socket, signals, link events (rtnetlink), eBPF logs --> main task
//! ```
//!
//! The stack is one state machine behind a mutex, shared by the queue
//! workers (the single owner of the ARP cache). After every received batch
//! a worker runs the services (echo, discard, http) on the stack's socket
//! APIs and sends what came out: frames are written into the socket's
//! TX frames by the stack itself. Worker 0 alone drives the timers: it
//! sleeps exactly until the earliest deadline of the stack and the services
//! (`poll_at`), a frame, or a wake-up, with no tick. Whoever else changes
//! the stack (the main task, other workers) wakes it through an eventfd
//! when frames made without a device wait in the stack or a deadline is
//! earlier than the one it sleeps until. An idle daemon does not wake at all.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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
use xdpstack_common::neigh::NeighRecord;

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
use crate::stack::tcp::CongestionAlgorithm;
use crate::stack::time::{Instant, MonotonicClock};
use crate::stack::{Stack, StackConfig};
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
}

/// State shared by the workers, the main task and control requests.
struct Shared {
    stack: Mutex<Stack>,
    /// Locked after `stack`, never before.
    services: Mutex<Services>,
    fastpath: Mutex<Fastpath>,
    /// Each socket's counters, copied by its worker after every batch (the
    /// sockets live in the workers; the kernel's part is re-read there).
    xsk_stats: Mutex<Vec<XskStats>>,
    clock: MonotonicClock,
    stop: AtomicBool,
    /// Signalled once at shutdown and never read: wakes every worker.
    stop_fd: EventFd,
    /// Wakes worker 0 to flush what waits in the stack (made
    /// without a device), or to
    /// sleep until an earlier deadline.
    wake: EventFd,
    /// The deadline worker 0 sleeps until (µs of the stack's clock,
    /// u64::MAX: none). Written and read with the stack locked.
    armed: AtomicU64,
    /// Signalled when ping replies arrive.
    ping_replies: tokio::sync::Notify,
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
    fn stack(&self) -> MutexGuard<'_, Stack> {
        // A worker that panicked mid-update leaves a poisoned lock; the stack
        // is still consistent enough to serve and report, so keep going.
        self.stack.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn services(&self) -> MutexGuard<'_, Services> {
        self.services.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn fastpath(&self) -> MutexGuard<'_, Fastpath> {
        self.fastpath.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// After the stack changed outside worker 0 (call with the stack
    /// locked): wakes worker 0 when frames wait to be sent or `deadline` is
    /// earlier than the one it sleeps until.
    fn kick(&self, frames_waiting: bool, deadline: Option<Instant>) {
        let armed = self.armed.load(Ordering::SeqCst);
        if frames_waiting || deadline.is_some_and(|d| d.micros() < armed) {
            self.wake.signal();
        }
    }

    /// Tells every worker to stop.
    fn shut_down(&self) {
        self.stop.store(true, Ordering::SeqCst);
        self.stop_fd.signal();
    }
}

impl Shared {
    /// The XDP counters (empty when the map cannot be read) and the
    /// sockets' counters; locks only the fast path and the socket table.
    fn fast_counters(&self) -> (std::collections::BTreeMap<String, u64>, Vec<XskStats>) {
        let xdp = self
            .fastpath()
            .counters()
            .map(|c| c.values.into_iter().collect())
            .unwrap_or_default();
        let xsk = self.xsk_stats.lock().map(|s| s.clone()).unwrap_or_default();
        (xdp, xsk)
    }

    /// Copies of what the metrics read from the stack (call with it locked).
    fn stack_view(&self, stack: &Stack) -> (crate::stack::StackStats, metrics::Extra) {
        let now = self.clock.now();
        let extra = metrics::Extra {
            iface: self.status.iface.clone(),
            xdp_mode: self.status.xdp_mode.clone(),
            prog_id: self.status.prog_id,
            neighbours: metrics::neighbour_states(&stack.arp_entries(now)),
            connections: metrics::connection_states(stack.tcp_views(true)),
            process: metrics::ProcessStats::read(),
        };
        (stack.stats(), extra)
    }

    /// One scrape: copies taken under each lock in turn, formatted after.
    fn metrics_text(&self) -> String {
        let (xdp, xsk) = self.fast_counters();
        let (stack, extra) = {
            let st = self.stack();
            self.stack_view(&st)
        };
        let services = self.services().stats();
        render_metrics(xdp, stack, services, xsk, extra)
    }
}

fn render_metrics(
    xdp: std::collections::BTreeMap<String, u64>,
    stack: crate::stack::StackStats,
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
    let queues = iface::rx_queues(&args.iface)?;
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
        let s = XskSocket::open(&args.iface, q)?;
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
        seed: os_random()?,
    };
    let mut stack = Stack::new(config, clock.now());
    stack.set_tcp_congestion(args.tcp_cc);
    if local_peer {
        // The peer is on this host and may leave checksums partial (TX offload).
        stack.accept_partial_checksums(true);
        log::info!(
            "{} is a veth: accepting partial checksums from its peer",
            args.iface
        );
    }
    let services = Services::start(&mut stack, &args.services).map_err(|e| anyhow!(e))?;
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
    let shared = Arc::new(Shared {
        stack: Mutex::new(stack),
        services: Mutex::new(services),
        fastpath: Mutex::new(fastpath),
        xsk_stats: Mutex::new(
            sockets
                .iter()
                .map(XskSocket::stats)
                .collect::<Vec<XskStats>>(),
        ),
        clock,
        stop: AtomicBool::new(false),
        stop_fd: EventFd::new()?,
        wake: EventFd::new()?,
        armed: AtomicU64::new(u64::MAX),
        ping_replies: tokio::sync::Notify::new(),
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
    // when the last strong reference goes at shutdown.
    let weak = Arc::downgrade(&shared);
    shared
        .services()
        .set_metrics(Box::new(move |stack: &Stack, services: &ServicesStats| {
            weak.upgrade().map_or_else(String::new, |sh| {
                let (xdp, xsk) = sh.fast_counters();
                let (stack_stats, extra) = sh.stack_view(stack);
                render_metrics(xdp, stack_stats, services.clone(), xsk, extra)
            })
        }));
    if let Some(listener) = metrics_listener {
        let weak = Arc::downgrade(&shared);
        crate::control::metrics::spawn(
            listener,
            Arc::new(move || weak.upgrade().map(|sh| sh.metrics_text())),
        )?;
    }
    let workers: Vec<JoinHandle<()>> = sockets
        .into_iter()
        .enumerate()
        .map(|(i, s)| {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name(format!("xsk-q{}", s.queue()))
                .spawn(move || worker(i, s, &shared))
                .map_err(|e| anyhow!("starting a queue worker: {e}"))
        })
        .collect::<Result<_>>()?;

    // Install the signal handlers before saying we are ready, so a SIGTERM
    // right after the ready line already means a clean shutdown.
    let signals = Signals::install()?;
    println!(
        "xdpstack: serving {ip}/{prefix} ({mac}) on {}: XDP {} mode, {queues} queue{}, fast path {}, control {}{}",
        args.iface,
        attached.mode,
        if queues == 1 { "" } else { "s" },
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
            async move {
                let response = handle_request(&shared, req).await;
                // A request may have queued frames (ARP resolution of an
                // `arp add`) or started a timer: hand them to worker 0.
                let st = shared.stack();
                shared.kick(st.has_pending_output(), st.poll_at());
                response
            }
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
                let now = shared.clock.now();
                {
                    let mut st = shared.stack();
                    let ring = guard.get_inner_mut();
                    while let Some(item) = ring.next() {
                        // NDP bindings wait for the userspace IPv6 stack;
                        // a record of unknown length is skipped.
                        match NeighRecord::from_bytes(&item) {
                            Some(NeighRecord::Arp(ev)) => st.on_neigh_event(now, &ev),
                            Some(NeighRecord::Ndp(ev)) => st.on_neigh_event6(now, &ev),
                            None => {}
                        }
                    }
                    // Learning flushes queued packets and (re)arms ARP
                    // timers: worker 0 sends and sleeps accordingly.
                    shared.kick(st.has_pending_output(), st.poll_at());
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

/// One queue's loop: receive a batch, let the stack and the services
/// answer, send. Worker 0 is the one place that runs the stack's and the
/// services' timers: it sleeps exactly until their earliest deadline.
fn worker(index: usize, mut sock: XskSocket, shared: &Shared) {
    let timers = index == 0;
    // Set after frames moved: the kernel counters to re-read once quiet.
    let mut stats_due: Option<std::time::Instant> = None;
    while !shared.stop.load(Ordering::SeqCst) {
        let timer_wait = if timers {
            let st = shared.stack();
            let deadline = earliest(st.poll_at(), shared.services().poll_at());
            // Published with the stack locked: whoever changes the stack
            // after this sees it and wakes us for an earlier deadline.
            shared
                .armed
                .store(deadline.map_or(u64::MAX, Instant::micros), Ordering::SeqCst);
            deadline.map(|d| d.since(shared.clock.now()))
        } else {
            None
        };
        let stats_wait = stats_due.map(|t| t.saturating_duration_since(std::time::Instant::now()));
        let wait = timer_wait.into_iter().chain(stats_wait).min();
        match sleep(&sock, shared, timers, wait) {
            None => continue, // EINTR: check `stop` and sleep again.
            Some(true) => shared.wake.clear(),
            Some(false) => {}
        }
        let mut moved = false;
        loop {
            let mut replied = false;
            let tx_before = sock.tx_frames();
            let n = {
                let mut st = shared.stack();
                let now = shared.clock.now();
                // Replies are written straight into the socket's TX frames,
                // through the capture tap (one atomic test without a client).
                let hub = &*shared.capture;
                let n = match sock.recv(0, |frame, tx| {
                    hub.tap_xsk(capture::Direction::In, frame);
                    st.receive(now, frame, &mut Tap::new(tx, hub))
                }) {
                    Ok(n) => n,
                    Err(e) => {
                        log::error!("queue {}: {e:#}", sock.queue());
                        0
                    }
                };
                let mut services = shared.services();
                if timers && st.poll_at().is_some_and(|at| at <= now) {
                    st.poll(now, &mut Tap::new(sock.tx(), hub));
                }
                services.poll(now, std::time::SystemTime::now(), &mut st);
                st.flush(now, &mut Tap::new(sock.tx(), hub));
                replied |= st.take_ping_replied();
                if !timers {
                    // What this batch armed (a retransmission, an ARP
                    // retry) must not wait for worker 0's older deadline.
                    shared.kick(false, earliest(st.poll_at(), services.poll_at()));
                }
                n
            };
            // The batch's frames are written; one kick sends the rest.
            sock.commit();
            moved |= n > 0 || sock.tx_frames() != tx_before;
            if replied {
                shared.ping_replies.notify_waiters();
            }
            // At most every 100 ms: a getsockopt, kept off the per-batch path.
            sock.maybe_refresh_kernel_stats();
            // Under a flood batches never run dry: stop promptly anyway.
            if n == 0 || shared.stop.load(Ordering::Relaxed) {
                break;
            }
        }
        if moved {
            stats_due = Some(std::time::Instant::now() + KERNEL_STATS_AFTER);
        } else if stats_due.is_some_and(|t| t <= std::time::Instant::now()) {
            stats_due = None;
            sock.refresh_kernel_stats();
        }
        if let Ok(mut stats) = shared.xsk_stats.lock() {
            if let Some(s) = stats.get_mut(index) {
                *s = sock.stats();
            }
        }
    }
}

/// Blocks until a frame arrives on `sock`, the stop signal, a wake-up
/// (worker 0), or `wait` passed (None: no deadline). ppoll, not poll, so
/// the deadline is kept to the microsecond rather than rounded to a
/// millisecond. None: interrupted; else whether the wake-up came.
fn sleep(sock: &XskSocket, shared: &Shared, timers: bool, wait: Option<Duration>) -> Option<bool> {
    let fd = |fd: std::os::fd::RawFd| libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    let mut fds = [
        fd(sock.as_raw_fd()),
        fd(shared.stop_fd.as_raw_fd()),
        // A negative fd is ignored by ppoll.
        fd(if timers { shared.wake.as_raw_fd() } else { -1 }),
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
    let now = shared.clock.now();
    match req {
        Request::Stats {} => {
            let xdp = match shared.fastpath().counters() {
                Ok(c) => c,
                Err(e) => return Response::error(format!("reading XDP counters: {e:#}")),
            };
            let stack = shared.stack().stats();
            let services = shared.services().stats();
            let xsk = shared
                .xsk_stats
                .lock()
                .map(|s| s.clone())
                .unwrap_or_default();
            Response::ok(StatsReply {
                xdp_mode: Some(shared.attached.mode.to_string()),
                xdp_mode_reason: Some(shared.attached.reason.clone()),
                xdp: xdp.values.into_iter().collect(),
                stack,
                services,
                xsk,
            })
        }
        Request::Status {} => Response::ok(StatusReply {
            uptime_s: shared.started.elapsed().as_secs(),
            ..shared.status.clone()
        }),
        Request::Arp {} => {
            let entries = shared.stack().arp_entries(now);
            let dev = &shared.status.iface;
            Response::ok(
                entries
                    .iter()
                    .map(|e| NeighEntryJson::new(e, dev))
                    .collect::<Vec<_>>(),
            )
        }
        Request::Neigh {} => {
            let st = shared.stack();
            let dev = &shared.status.iface;
            let v4 = st.arp_entries(now);
            let v6 = st.ndp_entries(now);
            let rows = v4.iter().map(|e| NeighEntryJson::new(e, dev));
            let rows = rows.chain(v6.iter().map(|e| NeighEntryJson::from_ndp(e, dev)));
            Response::ok(rows.collect::<Vec<_>>())
        }
        Request::NeighAdd { ip, mac } => match parse_mac(&mac) {
            Ok(mac) => match ip {
                IpAddr::V4(v4) => shared.stack().arp_add(now, v4, mac),
                IpAddr::V6(v6) => shared.stack().ndp_add(now, v6, mac),
            }
            .map_or_else(Response::error, |()| Response::done()),
            Err(e) => Response::error(e),
        },
        Request::NeighDel { ip } => {
            let gone = match ip {
                IpAddr::V4(v4) => shared.stack().arp_del(v4),
                IpAddr::V6(v6) => shared.stack().ndp_del(v6),
            };
            if gone {
                Response::done()
            } else {
                Response::error(format!("no neighbour entry for {ip}"))
            }
        }
        Request::NeighFlush {} => {
            let mut st = shared.stack();
            st.arp_flush();
            st.ndp_flush();
            Response::done()
        }
        Request::Conns {} => {
            let conns = shared.stack().tcp_connections();
            Response::ok(conns.iter().map(ConnJson::from).collect::<Vec<_>>())
        }
        Request::ArpAdd { ip, mac } => match parse_mac(&mac) {
            Ok(mac) => match shared.stack().arp_add(now, ip, mac) {
                Ok(()) => Response::done(),
                Err(e) => Response::error(e),
            },
            Err(e) => Response::error(e),
        },
        Request::ArpDel { ip } => {
            if shared.stack().arp_del(ip) {
                Response::done()
            } else {
                Response::error(format!("no ARP entry for {ip}"))
            }
        }
        Request::ArpFlush {} => {
            shared.stack().arp_flush();
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

/// Sends one echo request from the stack and waits for its reply.
async fn ping(shared: &Shared, dst: IpAddr, size: usize, seq: u16, timeout_ms: u64) -> Response {
    let timeout = Duration::from_millis(timeout_ms.clamp(1, 60_000));
    let key = {
        let mut st = shared.stack();
        match st.ping_start(shared.clock.now(), dst, seq, size) {
            Ok(k) => k,
            Err(e) => return Response::error(e),
        }
    };
    shared.wake.signal();
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        // Register interest before checking, so a reply between the check
        // and the wait is not missed.
        let notified = shared.ping_replies.notified();
        if let Some(reply) = shared.stack().ping_result(key) {
            return Response::ok(PingJson::from(reply));
        }
        if tokio::time::timeout_at(deadline, notified).await.is_err() {
            shared.stack().ping_forget(key);
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

/// A Linux eventfd, to wake a thread blocked in poll().
struct EventFd(std::os::fd::OwnedFd);

impl EventFd {
    fn new() -> Result<Self> {
        // SAFETY: plain syscall; the fd is owned below.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            bail!("eventfd: {}", std::io::Error::last_os_error());
        }
        // SAFETY: fd is a fresh descriptor we own.
        Ok(EventFd(unsafe { std::os::fd::FromRawFd::from_raw_fd(fd) }))
    }

    fn signal(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64 to our own fd.
        unsafe { libc::write(self.0.as_raw_fd(), (&one as *const u64).cast(), 8) };
    }

    fn clear(&self) {
        let mut v: u64 = 0;
        // SAFETY: reads 8 bytes into a live u64 from our own fd.
        unsafe { libc::read(self.0.as_raw_fd(), (&mut v as *mut u64).cast(), 8) };
    }
}

impl AsRawFd for EventFd {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.0.as_raw_fd()
    }
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
