//! Request/response over TCP, netperf's TCP_RR and TCP_CRR shapes, from
//! the client namespace to whoever serves 10.10.0.4:7 (echo, RFC 862):
//! xdpstack's built-in echo, or in kernel mode a kernel-socket server in the
//! stack namespace, in two shapes ([`Server`]): a thread per connection
//! (netperf's netserver shape) and one thread over poll(2) (the daemon's
//! shape: one thread serving every connection).
//!
//! - TCP_RR: [`RR_CONNECTIONS`] connections opened first, each in its own
//!   thread sending 1 byte and waiting for its echo, again and again for the
//!   run's duration: transactions per second.
//! - TCP_CRR: [`CRR_WORKERS`] threads each connect, send 1 byte, read its
//!   echo and close (a normal close(), not SO_LINGER 0, so the client end
//!   keeps every port in TIME-WAIT for 60 s): connections per second.
//!
//! Every loop is bounded by the run's deadline and by a count; every socket
//! operation by [`IO_TIMEOUT`].

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use serde::Serialize;

use super::cpu::CpuUse;
use super::transport::ECHO_PORT;
use crate::netns::{in_namespace, STACK_ADDR};

/// Concurrent connections of TCP_RR.
pub const RR_CONNECTIONS: usize = 64;
/// Concurrent connect/request/close loops of TCP_CRR.
pub const CRR_WORKERS: usize = 8;
/// The client namespace's ephemeral ports during the bench (its
/// `net.ipv4.ip_local_port_range`; Linux's default is 32768-60999).
pub const CLIENT_PORT_RANGE: (u16, u16) = (1024, 65535);
/// TCP_CRR stops once the client namespace holds this share of the port
/// range in sockets (TIME-WAIT mostly). Linux's connect() takes even ports
/// first (odd ones are left for bind()): once the even half is held, every
/// connect() walks all of it before it tries an odd port, and the rate
/// collapses (measured: 31 connections/s with 32 338 sockets held, against
/// ~10 000/s with 20 000).
const PORT_BUDGET_SHARE: f64 = 0.45;
/// Connections one TCP_CRR run may make: every one holds a client port for
/// 60 s (TIME-WAIT), and three runs a round (two kernel servers, xdpstack)
/// must fit in the budget with those of the last minute.
pub const CRR_MAX_PER_RUN: u64 = 5_000;
/// Below this budget the bench waits for TIME-WAIT entries of earlier runs
/// to expire before a run, rather than measure a stunted one.
pub const CRR_MIN_BUDGET: u64 = 2_500;
/// A socket operation that takes longer fails the run instead of hanging it.
const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// Count bounds beside the deadline (far above what 2 cores reach).
const RR_MAX_PER_CONN: u64 = 10_000_000;
/// Kernel echo server threads: one per RR connection.
const SERVER_THREADS: usize = RR_CONNECTIONS;
/// How long a kernel server thread blocks in read before it looks at `stop`.
const SERVER_POLL: Duration = Duration::from_millis(200);
/// Client threads start together this long after they are spawned (a
/// common start time rather than a barrier: a thread that fails before it
/// cannot leave the others waiting).
const START_DELAY: Duration = Duration::from_millis(100);

fn echo_addr() -> SocketAddr {
    SocketAddr::new(
        STACK_ADDR.parse().expect("STACK_ADDR is an IPv4 address"),
        ECHO_PORT,
    )
}

/// The kernel-socket echo server's shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Server {
    /// [`SERVER_THREADS`] blocking threads sharing the listener, each
    /// serving one connection at a time.
    Threads,
    /// One thread, non-blocking sockets, poll(2) over all of them.
    Poll,
}

impl Server {
    pub fn describe(self) -> String {
        match self {
            Server::Threads => format!("kernel sockets, {SERVER_THREADS} blocking threads"),
            Server::Poll => "kernel sockets, 1 thread, poll(2)".to_string(),
        }
    }
}

/// Who answered: `Server::describe`, or xdpstack's echo.
pub const XDPSTACK_SERVER: &str = "xdpstack echo service";

/// One TCP_RR run.
#[derive(Clone, Debug, Serialize)]
pub struct TcpRr {
    /// Who answered.
    pub server: String,
    pub connections: usize,
    /// Completed transactions (1 byte out, the same byte back), all connections.
    pub transactions: u64,
    /// From the common start until the last connection's last transaction.
    pub elapsed_s: f64,
    pub trans_per_s: f64,
    /// `connections / trans_per_s`: the mean time of one transaction.
    pub mean_latency_us: f64,
    /// The least and most transactions one connection completed (fairness).
    pub per_conn_min: u64,
    pub per_conn_max: u64,
    /// What the run cost the machine and the daemon.
    pub cpu: Option<CpuUse>,
}

/// One TCP_CRR run.
#[derive(Clone, Debug, Serialize)]
pub struct TcpCrr {
    /// Who answered.
    pub server: String,
    pub workers: usize,
    /// Connections that completed connect, 1 byte each way and close.
    pub connections: u64,
    pub elapsed_s: f64,
    pub conn_per_s: f64,
    /// TCP sockets of the client namespace before the run (TIME-WAIT of
    /// earlier runs), and the connections this run was allowed.
    pub client_sockets_before: u64,
    pub port_budget: u64,
    /// True if the run ended on `port_budget`, not its duration.
    pub stopped_by_port_budget: bool,
    /// Seconds the bench waited before the run for TIME-WAIT entries of
    /// earlier runs to expire (budget below `CRR_MIN_BUDGET`).
    pub waited_for_ports_s: f64,
    /// connect() refused for want of a local port (EADDRNOTAVAIL).
    pub no_port_errors: u64,
    /// What the run cost the machine and the daemon.
    pub cpu: Option<CpuUse>,
}

/// Opens [`RR_CONNECTIONS`] connections to echo from `client_ns` and runs
/// transactions on all of them for `duration` seconds.
pub fn tcp_rr(client_ns: &str, duration: f64) -> Result<TcpRr> {
    let streams = in_namespace(client_ns, || {
        (0..RR_CONNECTIONS)
            .map(|i| {
                let s = TcpStream::connect_timeout(&echo_addr(), IO_TIMEOUT)
                    .with_context(|| format!("TCP_RR: connection {i} to {STACK_ADDR}:7"))?;
                s.set_nodelay(true)?;
                s.set_read_timeout(Some(IO_TIMEOUT))?;
                s.set_write_timeout(Some(IO_TIMEOUT))?;
                Ok(s)
            })
            .collect::<Result<Vec<_>>>()
    })?;
    let run = Duration::from_secs_f64(duration);
    let start_at = Instant::now() + START_DELAY;
    let results: Vec<Result<(u64, Duration)>> = thread::scope(|s| {
        let handles: Vec<_> = streams
            .into_iter()
            .enumerate()
            .map(|(i, mut stream)| {
                s.spawn(move || {
                    let byte = i as u8;
                    // One transaction before the clock starts: the
                    // connection is accepted and answered.
                    transaction(&mut stream, byte)
                        .with_context(|| format!("TCP_RR: first transaction on connection {i}"))?;
                    thread::sleep(start_at.saturating_duration_since(Instant::now()));
                    let began = Instant::now();
                    let mut done = 0u64;
                    while began.elapsed() < run && done < RR_MAX_PER_CONN {
                        transaction(&mut stream, byte.wrapping_add(done as u8))
                            .with_context(|| format!("TCP_RR: connection {i}, after {done}"))?;
                        done += 1;
                    }
                    Ok((done, began.elapsed()))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow!("a TCP_RR client thread panicked")))
            })
            .collect()
    });
    let per_conn = results.into_iter().collect::<Result<Vec<_>>>()?;
    let transactions: u64 = per_conn.iter().map(|(n, _)| n).sum();
    let elapsed_s = per_conn
        .iter()
        .map(|(_, d)| d.as_secs_f64())
        .fold(0.0, f64::max);
    let trans_per_s = transactions as f64 / elapsed_s;
    Ok(TcpRr {
        server: String::new(),
        connections: RR_CONNECTIONS,
        transactions,
        elapsed_s,
        trans_per_s,
        mean_latency_us: if trans_per_s > 0.0 {
            RR_CONNECTIONS as f64 / trans_per_s * 1e6
        } else {
            0.0
        },
        per_conn_min: per_conn.iter().map(|(n, _)| *n).min().unwrap_or(0),
        per_conn_max: per_conn.iter().map(|(n, _)| *n).max().unwrap_or(0),
        cpu: None,
    })
}

/// 1 byte out, the same byte back.
fn transaction(stream: &mut TcpStream, byte: u8) -> Result<()> {
    stream.write_all(&[byte]).context("sending the request")?;
    let mut reply = [0u8; 1];
    stream
        .read_exact(&mut reply)
        .context("reading the response")?;
    if reply[0] != byte {
        bail!("echo answered {:#04x} to {byte:#04x}", reply[0]);
    }
    Ok(())
}

/// [`CRR_WORKERS`] connect/request/response/close loops from `client_ns`
/// for `duration` seconds, or until the connections would take more than
/// the port budget (see [`port_budget`]) given `client_sockets` already
/// held in the client namespace.
pub fn tcp_crr(client_ns: &str, duration: f64, client_sockets: u64) -> Result<TcpCrr> {
    let budget = port_budget(client_sockets);
    if budget < CRR_WORKERS as u64 {
        bail!(
            "TCP_CRR: the client namespace holds {client_sockets} TCP sockets; no ports left \
             in its range {}-{}",
            CLIENT_PORT_RANGE.0,
            CLIENT_PORT_RANGE.1
        );
    }
    let run = Duration::from_secs_f64(duration);
    let started = AtomicU64::new(0);
    let budget_hit = AtomicBool::new(false);
    let start_at = Instant::now() + START_DELAY;
    let results: Vec<Result<(u64, u64, Duration)>> = thread::scope(|s| {
        let (started, budget_hit) = (&started, &budget_hit);
        let handles: Vec<_> = (0..CRR_WORKERS)
            .map(|w| {
                s.spawn(move || {
                    // Each worker makes its sockets inside the client namespace.
                    in_namespace(client_ns, || {
                        thread::sleep(start_at.saturating_duration_since(Instant::now()));
                        let began = Instant::now();
                        let (mut done, mut no_port) = (0u64, 0u64);
                        while began.elapsed() < run {
                            if started.fetch_add(1, Ordering::SeqCst) >= budget {
                                budget_hit.store(true, Ordering::SeqCst);
                                break;
                            }
                            match crr_once((w + done as usize) as u8) {
                                Ok(()) => done += 1,
                                Err(Crr::NoPort) => {
                                    no_port += 1;
                                    break;
                                }
                                Err(Crr::Failed(e)) => {
                                    return Err(e).with_context(|| {
                                        format!("TCP_CRR: worker {w}, after {done} connections")
                                    })
                                }
                            }
                        }
                        Ok((done, no_port, began.elapsed()))
                    })
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow!("a TCP_CRR client thread panicked")))
            })
            .collect()
    });
    let per_worker = results.into_iter().collect::<Result<Vec<_>>>()?;
    let connections: u64 = per_worker.iter().map(|(n, _, _)| n).sum();
    let no_port_errors: u64 = per_worker.iter().map(|(_, e, _)| e).sum();
    if connections == 0 {
        bail!("TCP_CRR: no connection completed ({no_port_errors} found no local port)");
    }
    let elapsed_s = per_worker
        .iter()
        .map(|(_, _, d)| d.as_secs_f64())
        .fold(0.0, f64::max);
    Ok(TcpCrr {
        server: String::new(),
        workers: CRR_WORKERS,
        connections,
        elapsed_s,
        conn_per_s: connections as f64 / elapsed_s,
        client_sockets_before: client_sockets,
        port_budget: budget,
        stopped_by_port_budget: budget_hit.load(Ordering::SeqCst),
        waited_for_ports_s: 0.0,
        no_port_errors,
        cpu: None,
    })
}

enum Crr {
    /// No local port left: the run ends, not the bench.
    NoPort,
    Failed(anyhow::Error),
}

/// Connect, 1 byte each way, close. The caller's thread is in the client
/// namespace.
fn crr_once(byte: u8) -> std::result::Result<(), Crr> {
    let mut s = match TcpStream::connect_timeout(&echo_addr(), IO_TIMEOUT) {
        Ok(s) => s,
        Err(e) if e.kind() == ErrorKind::AddrNotAvailable => return Err(Crr::NoPort),
        Err(e) => return Err(Crr::Failed(anyhow!(e).context("connect"))),
    };
    let io = |s: &mut TcpStream| -> Result<()> {
        s.set_nodelay(true)?;
        s.set_read_timeout(Some(IO_TIMEOUT))?;
        s.set_write_timeout(Some(IO_TIMEOUT))?;
        transaction(s, byte)
    };
    io(&mut s).map_err(Crr::Failed)?;
    // Dropping the stream is a normal close(): FIN, and TIME-WAIT here.
    drop(s);
    Ok(())
}

/// Connections TCP_CRR may make when the client namespace already holds
/// `client_sockets` TCP sockets: up to [`PORT_BUDGET_SHARE`] of the range,
/// at most [`CRR_MAX_PER_RUN`].
pub fn port_budget(client_sockets: u64) -> u64 {
    let range = (CLIENT_PORT_RANGE.1 - CLIENT_PORT_RANGE.0) as u64 + 1;
    ((range as f64 * PORT_BUDGET_SHARE) as u64)
        .saturating_sub(client_sockets)
        .min(CRR_MAX_PER_RUN)
}

/// The rows of a `/proc/net/tcp` text: one per socket, after the header.
pub fn tcp_sockets(proc_net_tcp: &str) -> u64 {
    proc_net_tcp
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .count() as u64
}

/// The kernel's TCP echo on 10.10.0.4:7 in `stack_ns`, shaped as [`Server`]
/// says. [`KernelEcho::stop`] ends it.
pub struct KernelEcho {
    listener: Arc<TcpListener>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<Result<u64>>>,
}

impl KernelEcho {
    pub fn start(stack_ns: &str, shape: Server) -> Result<KernelEcho> {
        let listener = in_namespace(stack_ns, || {
            TcpListener::bind(echo_addr())
                .with_context(|| format!("binding the kernel TCP echo server to {STACK_ADDR}:7"))
        })?;
        Ok(KernelEcho::on(listener, shape))
    }

    /// The server on a listener already bound.
    fn on(listener: TcpListener, shape: Server) -> KernelEcho {
        let listener = Arc::new(listener);
        let stop = Arc::new(AtomicBool::new(false));
        let n = match shape {
            Server::Threads => SERVER_THREADS,
            Server::Poll => 1,
        };
        let threads = (0..n)
            .map(|_| {
                let (listener, stop) = (listener.clone(), stop.clone());
                match shape {
                    Server::Threads => thread::spawn(move || serve(&listener, &stop)),
                    Server::Poll => thread::spawn(move || serve_poll(&listener, &stop)),
                }
            })
            .collect();
        KernelEcho {
            listener,
            stop,
            threads,
        }
    }

    /// Stops the threads; returns the connections they served.
    pub fn stop(self) -> Result<u64> {
        self.stop.store(true, Ordering::SeqCst);
        wake_accepts(&self.listener);
        let mut served = 0;
        for t in self.threads {
            served += t
                .join()
                .map_err(|_| anyhow!("a kernel TCP echo thread panicked"))??;
        }
        Ok(served)
    }
}

/// Shuts the listener down, which makes every blocked accept() return
/// (EINVAL) on Linux.
fn wake_accepts(listener: &TcpListener) {
    use std::os::fd::AsRawFd;
    extern "C" {
        // shutdown(2); xtask has no libc dependency for this one call.
        fn shutdown(fd: i32, how: i32) -> i32;
    }
    const SHUT_RDWR: i32 = 2;
    // SAFETY: shutdown only acts on the descriptor, which `listener` keeps
    // open for the duration of the call.
    unsafe {
        shutdown(listener.as_raw_fd(), SHUT_RDWR);
    }
}

/// One server thread: accept, echo until EOF, again, until `stop`.
fn serve(listener: &TcpListener, stop: &AtomicBool) -> Result<u64> {
    let mut served = 0u64;
    let mut buf = [0u8; 256];
    while !stop.load(Ordering::SeqCst) {
        let mut stream = match listener.accept() {
            Ok((s, _)) => s,
            Err(_) if stop.load(Ordering::SeqCst) => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).context("kernel TCP echo: accept"),
        };
        served += 1;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(SERVER_POLL))?;
        stream.set_write_timeout(Some(IO_TIMEOUT))?;
        loop {
            match stream.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    if stream.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                // A reset by the client ends this connection, not the server.
                Err(_) => break,
            }
        }
        // Dropping the stream closes it (FIN after the client's).
    }
    Ok(served)
}

/// `struct pollfd` (poll.h).
#[repr(C)]
struct PollFd {
    fd: i32,
    events: i16,
    revents: i16,
}
const POLLIN: i16 = 0x1;
const POLLOUT: i16 = 0x4;

/// One connection of [`serve_poll`]: bytes read but not yet echoed.
struct PollConn {
    stream: TcpStream,
    pending: Vec<u8>,
}

/// The one-thread server: poll(2) over the listener and every connection,
/// non-blocking sockets, until `stop`.
fn serve_poll(listener: &TcpListener, stop: &AtomicBool) -> Result<u64> {
    use std::os::fd::AsRawFd;
    extern "C" {
        // poll(2); xtask has no libc dependency for this one call.
        fn poll(fds: *mut PollFd, nfds: std::ffi::c_ulong, timeout: i32) -> i32;
    }
    listener.set_nonblocking(true)?;
    let mut conns: Vec<PollConn> = Vec::new();
    let mut fds: Vec<PollFd> = Vec::new();
    let mut served = 0u64;
    let mut buf = [0u8; 4096];
    while !stop.load(Ordering::SeqCst) {
        fds.clear();
        fds.push(PollFd {
            fd: listener.as_raw_fd(),
            events: POLLIN,
            revents: 0,
        });
        for c in &conns {
            fds.push(PollFd {
                fd: c.stream.as_raw_fd(),
                events: if c.pending.is_empty() {
                    POLLIN
                } else {
                    POLLOUT
                },
                revents: 0,
            });
        }
        // SAFETY: `fds` is a live, initialised array of `fds.len()` pollfd
        // structures, borrowed mutably for the call only.
        let n = unsafe {
            poll(
                fds.as_mut_ptr(),
                fds.len() as std::ffi::c_ulong,
                SERVER_POLL.as_millis() as i32,
            )
        };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == ErrorKind::Interrupted {
                continue;
            }
            return Err(e).context("kernel TCP echo: poll");
        }
        if n == 0 {
            continue;
        }
        let mut keep = vec![true; conns.len()];
        for (i, c) in conns.iter_mut().enumerate() {
            if fds[i + 1].revents == 0 {
                continue;
            }
            keep[i] = echo_ready(c, &mut buf);
        }
        let mut k = keep.into_iter();
        conns.retain(|_| k.next().unwrap_or(true));
        if fds[0].revents != 0 {
            loop {
                match listener.accept() {
                    Ok((stream, _)) => {
                        stream.set_nonblocking(true)?;
                        stream.set_nodelay(true)?;
                        conns.push(PollConn {
                            stream,
                            pending: Vec::new(),
                        });
                        served += 1;
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    // ECONNABORTED and the like: that connection, not the server.
                    Err(_) => break,
                }
            }
        }
    }
    Ok(served)
}

/// Reads what a ready connection has and echoes it; false once it is done
/// (closed by the peer, reset). At most `ECHO_ROUNDS` reads, so one busy
/// connection cannot starve the others.
fn echo_ready(c: &mut PollConn, buf: &mut [u8]) -> bool {
    const ECHO_ROUNDS: usize = 16;
    for _ in 0..ECHO_ROUNDS {
        let step = if c.pending.is_empty() {
            c.stream
                .read(buf)
                .inspect(|&n| c.pending.extend_from_slice(&buf[..n]))
        } else {
            // Never 0: `pending` is not empty.
            c.stream.write(&c.pending).map(|n| {
                c.pending.drain(..n);
                n.max(1)
            })
        };
        match step {
            Ok(0) => return false,
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_stays_below_the_even_ports_less_what_is_held() {
        // 45% of 64512 ports is 29030.
        assert_eq!(port_budget(0), CRR_MAX_PER_RUN);
        assert_eq!(port_budget(26_030), 3000);
        assert_eq!(port_budget(29_030), 0);
        assert_eq!(port_budget(70_000), 0);
    }

    /// Both server shapes on loopback: long connections echo every byte,
    /// short ones (connect, 1 byte, close) each get their echo, and stop()
    /// ends every thread and counts every connection.
    #[test]
    fn kernel_echo_servers_echo_and_stop() {
        for shape in [Server::Threads, Server::Poll] {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let server = KernelEcho::on(listener, shape);
            let mut long: Vec<TcpStream> = (0..3)
                .map(|_| {
                    let s = TcpStream::connect(addr).unwrap();
                    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
                    s
                })
                .collect();
            for i in 0..100u8 {
                for s in &mut long {
                    transaction(s, i).unwrap();
                }
            }
            for i in 0..20u8 {
                let mut s = TcpStream::connect(addr).unwrap();
                s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
                transaction(&mut s, i).unwrap();
            }
            drop(long);
            assert_eq!(server.stop().unwrap(), 23, "{shape:?}");
        }
    }

    #[test]
    fn sockets_of_proc_net_tcp() {
        let text = "  sl  local_address rem_address   st tx_queue rx_queue\n\
                    \x20  0: 0200000A:9C40 0400000A:0007 06 00000000:00000000\n\
                    \x20  1: 0200000A:9C42 0400000A:0007 06 00000000:00000000\n";
        assert_eq!(tcp_sockets(text), 2);
        assert_eq!(tcp_sockets("  sl  local_address\n"), 0);
        assert_eq!(tcp_sockets(""), 0);
    }
}
