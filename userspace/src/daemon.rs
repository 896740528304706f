//! `xdpstack run`: wires the pieces together.
//!
//! ```text
//! NIC queue --XDP--> XDP_TX (ARP, ping answered in-kernel)
//!           \------> XSKMAP --> worker thread per queue --> Stack --> AF_XDP TX
//!  NEIGH_EVENTS ring ---------> main task --> Stack (ARP cache learns)
//!  control socket, 100 ms timer, signals --> main task
//! ```
//!
//! The stack is one state machine behind a mutex, shared by the queue
//! workers (the single owner of the ARP cache). After every received batch
//! a worker runs the services (echo, discard, http) on the stack's socket
//! APIs and sends what came out. Worker 0 also sleeps only until the stack's
//! next timer (TCP retransmissions and delayed ACKs need milliseconds), runs
//! it and sends. Frames the main task makes (ARP timers, `xdpstack ping`)
//! wait in the stack's outbox; an eventfd wakes worker 0 to send them.

use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use tokio::io::unix::AsyncFd;
use xdpstack_common::config::{
    neigh_refresh_ns, FastpathConfig, FLAG_CAPTURE_ALL, FLAG_FASTPATH, FLAG_NEIGH_EVENTS,
};
use xdpstack_common::neigh::NeighEvent;

use crate::cli::{Capture, RunArgs, Switch};
use crate::control::protocol::parse_mac;
use crate::control::server::ControlSocket;
use crate::control::{socket_path, Request, Response};
use crate::fastpath::{iface, AttachOutcome, Fastpath};
use crate::services::Services;
use crate::stack::time::MonotonicClock;
use crate::stack::{Stack, StackConfig};
use crate::xsk::{XskSocket, XskStats};

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
    /// Wakes worker 0 to send what waits in the stack's outbox.
    wake: EventFd,
    /// Signalled when ping replies arrive.
    ping_replies: tokio::sync::Notify,
    /// The XDP attach mode and why, shown by `xdpstack stats`.
    attached: AttachOutcome,
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
}

pub fn run(args: RunArgs) -> Result<()> {
    check_privileges()?;
    iface::ensure_exists(&args.iface)?;
    let (ip, prefix) = args.ip;
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

    let mut flags = FLAG_NEIGH_EVENTS;
    if args.fastpath == Switch::On {
        flags |= FLAG_FASTPATH;
    }
    if args.capture == Capture::All {
        flags |= FLAG_CAPTURE_ALL;
    }
    // Unchanged ARP senders are republished often enough to keep their cache
    // entries reachable (`neigh_refresh_ns`), not on every frame.
    let fp_config = FastpathConfig::new(ip.octets(), mac.octets(), flags)
        .with_neigh_refresh_ns(neigh_refresh_ns(args.arp_timeout));
    let mut fastpath = Fastpath::load(fp_config)?;
    let neigh_ring = fastpath.take_neigh_events()?;
    let attached = fastpath.attach(&args.iface, args.mode)?;
    log::info!(
        "XDP {} mode on {}: {}",
        attached.mode,
        args.iface,
        attached.reason
    );
    let local_peer = is_veth(&args.iface);
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

    let clock = MonotonicClock::start();
    let config = StackConfig {
        ip,
        prefix,
        mac,
        gateway: args.gateway,
        mtu,
        arp_timeout: Duration::from_secs(args.arp_timeout),
        arp_max: args.arp_max,
        isn_secret: os_random()?,
    };
    let mut stack = Stack::new(config, clock.now());
    if local_peer {
        // The peer is on this host and may leave checksums partial (TX offload).
        stack.accept_partial_checksums(true);
        log::info!(
            "{} is a veth: accepting partial checksums from its peer",
            args.iface
        );
    }
    let services = Services::start(&mut stack, &args.services).map_err(|e| anyhow!(e))?;
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
        wake: EventFd::new()?,
        ping_replies: tokio::sync::Notify::new(),
        attached: attached.clone(),
    });
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
        "xdpstack: serving {ip}/{prefix} ({mac}) on {}: XDP {} mode, {queues} queue{}, fast path {}, control {}",
        args.iface,
        attached.mode,
        if queues == 1 { "" } else { "s" },
        if args.fastpath == Switch::On { "on" } else { "off" },
        socket_path(&args.control_dir, &args.iface).display()
    );

    let result = runtime.block_on(main_task(
        shared.clone(),
        control,
        neigh_ring,
        signals,
        watch,
    ));
    shared.stop.store(true, Ordering::Relaxed);
    shared.wake.signal();
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
    mut signals: Signals,
    watch: IfaceWatch,
) -> Result<()> {
    // SAFETY: the ring owns its fd and keeps it open as long as the AsyncFd
    // holds the ring.
    let mut neigh = unsafe { AsyncFd::register(neigh_ring) }
        .map_err(|e| anyhow!("watching the neighbour event ring: {e}"))?;
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);

    let handler = {
        let shared = shared.clone();
        Arc::new(move |req: Request| {
            let shared = shared.clone();
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
            _ = tick.tick() => {
                watch.check()?;
                let now = shared.clock.now();
                let pending = {
                    let mut st = shared.stack();
                    st.poll(now);
                    st.has_outbox()
                };
                if pending {
                    shared.wake.signal();
                }
                shared.fastpath().flush_logs();
            }
            guard = neigh.readable_mut() => {
                let mut guard = guard.context("neighbour event ring")?;
                let now = shared.clock.now();
                let pending = {
                    let mut st = shared.stack();
                    let ring = guard.get_inner_mut();
                    while let Some(item) = ring.next() {
                        if let Some(ev) = NeighEvent::from_bytes(&item) {
                            st.on_neigh_event(now, &ev);
                        }
                    }
                    st.has_outbox()
                };
                guard.clear_ready();
                if pending {
                    shared.wake.signal();
                }
            }
        }
    }
    Ok(())
}

/// Notices that the interface went away (deleted, or moved to another
/// namespace): the kernel then detaches the program and unbinds the
/// sockets by itself, and the daemon has nothing left to serve.
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

/// One queue's loop: receive a batch, let the stack and the services
/// answer, send. Worker 0 also runs the stack's timers.
fn worker(index: usize, mut sock: XskSocket, shared: &Shared) {
    let mut out: Vec<Vec<u8>> = Vec::new();
    while !shared.stop.load(Ordering::Relaxed) {
        let timeout_ms = if index == 0 {
            let now = shared.clock.now();
            match shared.stack().next_timer() {
                // Round up: waking a little late is fine, early spins.
                Some(at) => at.since(now).as_micros().div_ceil(1000).min(100) as i32,
                None => 100,
            }
        } else {
            100
        };
        let mut fds = [
            libc::pollfd {
                fd: sock.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: if index == 0 {
                    shared.wake.as_raw_fd()
                } else {
                    -1
                },
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: fds is a valid array of two pollfds for the whole call.
        let ready = unsafe { libc::poll(fds.as_mut_ptr(), 2, timeout_ms) };
        if ready < 0 {
            continue; // EINTR: check `stop` and poll again.
        }
        if fds[1].revents & libc::POLLIN != 0 {
            shared.wake.clear();
        }
        loop {
            let mut replied = false;
            let n = {
                let mut st = shared.stack();
                let now = shared.clock.now();
                let n = match sock.recv(0, |frame| st.receive(now, frame)) {
                    Ok(n) => n,
                    Err(e) => {
                        log::error!("queue {}: {e:#}", sock.queue());
                        0
                    }
                };
                if index == 0 && st.next_timer().is_some_and(|at| at <= now) {
                    st.poll(now);
                }
                shared.services().poll(now, &mut st);
                st.flush(now);
                st.drain_outbox(&mut out);
                replied |= st.take_ping_replied();
                n
            };
            if replied {
                shared.ping_replies.notify_waiters();
            }
            if !out.is_empty() {
                if let Err(e) = sock.send(&out) {
                    log::error!("queue {}: {e:#}", sock.queue());
                }
                out.clear();
            }
            // At most every 100 ms: a getsockopt, kept off the per-batch path.
            sock.maybe_refresh_kernel_stats();
            if let Ok(mut stats) = shared.xsk_stats.lock() {
                if let Some(s) = stats.get_mut(index) {
                    *s = sock.stats();
                }
            }
            if n == 0 {
                break;
            }
        }
    }
}

async fn handle_request(shared: &Shared, req: Request) -> Response {
    let now = shared.clock.now();
    match req {
        Request::Stats {} => {
            let xdp = match shared.fastpath().counters() {
                Ok(c) => c,
                Err(e) => return Response::error(format!("reading XDP counters: {e:#}")),
            };
            let xdp: serde_json::Map<String, serde_json::Value> =
                xdp.values.into_iter().map(|(k, v)| (k, v.into())).collect();
            let stack = shared.stack().counters();
            let services = shared.services().counters();
            let xsk = shared
                .xsk_stats
                .lock()
                .map(|s| s.clone())
                .unwrap_or_default();
            Response::ok(serde_json::json!({
                "xdp_mode": shared.attached.mode.to_string(),
                "xdp_mode_reason": shared.attached.reason,
                "xdp": xdp,
                "stack": stack,
                "services": services,
                "xsk": xsk,
            }))
        }
        Request::Arp {} => Response::ok(shared.stack().arp_entries(now)),
        Request::Conns {} => Response::ok(shared.stack().tcp_connections()),
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
    }
}

/// Sends one echo request from the stack and waits for its reply.
async fn ping(shared: &Shared, dst: Ipv4Addr, size: usize, seq: u16, timeout_ms: u64) -> Response {
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
            return Response::ok(reply);
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

/// 16 bytes from the kernel's random source, for the RFC 6528 ISN key: it
/// must be unguessable and new at every start.
/// True if `iface` is a veth: every frame it receives was sent by a kernel
/// on this host, so a checksum left partial by TX offload is trustworthy
/// (see [`Stack::accept_partial_checksums`]).
fn is_veth(iface: &str) -> bool {
    iface::index(iface)
        .ok()
        .and_then(|i| crate::fastpath::link::query(i, None).ok())
        .is_some_and(|l| l.kind.as_deref() == Some("veth"))
}

fn os_random() -> Result<[u8; 16]> {
    let mut key = [0u8; 16];
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
            bail!("getrandom for the TCP ISN key: {e}");
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
