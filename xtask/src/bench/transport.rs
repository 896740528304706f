//! TCP bulk throughput and UDP echo round trips, from the client
//! namespace's kernel sockets to whoever serves 10.10.0.4: xdpstack's
//! built-in discard (TCP 9) and echo (UDP 7), or the small kernel-socket
//! servers here, run in the stack namespace in kernel mode. Client and
//! servers are threads of this process that entered their namespace
//! ([`crate::netns::in_namespace`]), so both sides of the comparison use the
//! same client code and no extra tool.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::Serialize;

use crate::netns::{in_namespace, CLIENT_ADDR, STACK_ADDR};

/// RFC 863 discard, RFC 862 echo and RFC 864 chargen.
pub const DISCARD_PORT: u16 = 9;
pub const ECHO_PORT: u16 = 7;
pub const CHARGEN_PORT: u16 = 19;

/// What each `write` hands the client's kernel: large, so the sender's
/// system calls are not what is measured.
const SEND_CHUNK: usize = 1 << 20;
/// A stalled transfer fails instead of hanging the bench.
const STALL: Duration = Duration::from_secs(30);
/// How long the kernel discard server waits for the client to connect.
const ACCEPT_WAIT: Duration = Duration::from_secs(10);
/// UDP echo: bytes per request, and how long one may stay unanswered
/// before it counts as lost (Linux and xdpstack answer in tens of µs).
pub const UDP_PAYLOAD: usize = 64;
pub const UDP_TIMEOUT: Duration = Duration::from_millis(20);
/// Requests tried before the timed run, so ARP and the first wakeups are
/// not in the figure (and an unreachable service is a clear error).
const UDP_WARMUP_TRIES: u32 = 10;
const UDP_WARMUP_TIMEOUT: Duration = Duration::from_millis(200);

fn stack_addr(port: u16) -> SocketAddr {
    SocketAddr::new(
        STACK_ADDR.parse().expect("STACK_ADDR is an IPv4 address"),
        port,
    )
}

/// One bulk transfer into discard.
#[derive(Clone, Debug, Serialize)]
pub struct TcpBulk {
    pub bytes: u64,
    /// What the receiver counted (the kernel server's reads, or the delta
    /// of xdpstack's `services.discard.tcp_bytes`); the bench fails unless
    /// it equals `bytes`.
    pub received: u64,
    /// From before connect() until the receiver's FIN arrives (it closes
    /// after reading everything before the client's FIN).
    pub elapsed_s: f64,
    pub mbit_s: f64,
    /// The client kernel's RetransSegs during the transfer.
    pub client_retransmits: u64,
}

/// The client's side of a bulk transfer: connect from `client_ns`, send
/// `bytes` zeros, close the sending side, wait for the receiver to close.
/// Returns the seconds it took.
pub fn send_bulk(client_ns: &str, bytes: u64) -> Result<f64> {
    let started = Instant::now();
    let mut stream = in_namespace(client_ns, || {
        TcpStream::connect_timeout(&stack_addr(DISCARD_PORT), STALL)
            .with_context(|| format!("connecting to {STACK_ADDR}:{DISCARD_PORT} (discard)"))
    })?;
    stream.set_write_timeout(Some(STALL))?;
    stream.set_read_timeout(Some(STALL))?;
    let chunk = vec![0u8; SEND_CHUNK];
    let mut left = bytes;
    while left > 0 {
        let n = left.min(SEND_CHUNK as u64) as usize;
        stream
            .write_all(&chunk[..n])
            .with_context(|| format!("sending into discard, {left} of {bytes} bytes left"))?;
        left -= n as u64;
    }
    stream.shutdown(Shutdown::Write)?;
    // Discard sends nothing: the next read is the receiver's FIN.
    let mut buf = [0u8; 64];
    let n = stream
        .read(&mut buf)
        .context("waiting for discard to close after the transfer")?;
    if n != 0 {
        bail!("discard sent {n} bytes back");
    }
    Ok(started.elapsed().as_secs_f64())
}

/// The kernel's discard server: a listener on 10.10.0.4:9 in `stack_ns`
/// (which must own the address) that takes one connection and reads it to
/// the end. The thread returns the bytes read.
pub fn kernel_discard(stack_ns: &str) -> Result<JoinHandle<Result<u64>>> {
    let listener = in_namespace(stack_ns, || {
        TcpListener::bind(stack_addr(DISCARD_PORT))
            .with_context(|| format!("binding the kernel discard server to {STACK_ADDR}:9"))
    })?;
    listener.set_nonblocking(true)?;
    Ok(thread::spawn(move || {
        let deadline = Instant::now() + ACCEPT_WAIT;
        let mut stream = loop {
            match listener.accept() {
                Ok((s, _)) => break s,
                Err(e) if e.kind() == ErrorKind::WouldBlock && Instant::now() < deadline => {
                    thread::sleep(Duration::from_millis(1))
                }
                Err(e) => return Err(e).context("kernel discard server: accept"),
            }
        };
        stream.set_nonblocking(false)?;
        stream.set_read_timeout(Some(STALL))?;
        let mut buf = vec![0u8; SEND_CHUNK];
        let mut total = 0u64;
        loop {
            match stream.read(&mut buf) {
                Ok(0) => return Ok(total),
                Ok(n) => total += n as u64,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e).context("kernel discard server: read"),
            }
        }
    }))
}

/// One bulk transfer from chargen (TCP 19) to the client.
#[derive(Clone, Debug, Serialize)]
pub struct TcpSend {
    pub bytes: u64,
    /// What the client read and found to be the RFC 864 pattern, byte for
    /// byte; the bench fails unless it equals `bytes`.
    pub received: u64,
    /// From before connect() until the client has read `bytes`.
    pub elapsed_s: f64,
    pub mbit_s: f64,
    /// The sender's retransmitted segments during the transfer: the stack
    /// namespace kernel's RetransSegs, or xdpstack's `stack.tcp.retransmits`.
    pub sender_retransmits: u64,
    /// The client kernel's RetransSegs (ACKs only flow that way: ~0).
    pub client_retransmits: u64,
    /// The sender's retransmission timer expiries: the stack namespace's
    /// TcpExt TCPTimeouts, or xdpstack's `stack.tcp.timeouts`; losses that
    /// waited for an RTO instead of being repaired within a round trip.
    pub sender_timeouts: u64,
}

/// The RFC 864 stream, one period (95 lines of 72 characters and CR LF):
/// byte `i` of a connection is `chargen_pattern()[i % len]`. Written from
/// the RFC here, apart from xdpstack's, so the check is independent.
pub fn chargen_pattern() -> Vec<u8> {
    let mut p = Vec::with_capacity(95 * 74);
    for line in 0..95u8 {
        p.extend((0..72u8).map(|k| b' ' + (line + k) % 95));
        p.extend_from_slice(b"\r\n");
    }
    p
}

/// The client's side of a transfer from chargen: connect from `client_ns`,
/// read `bytes` bytes checking each against the pattern, close. Returns the
/// seconds it took and the bytes verified.
pub fn recv_bulk(client_ns: &str, bytes: u64) -> Result<(f64, u64)> {
    let pattern = chargen_pattern();
    let started = Instant::now();
    let mut stream = in_namespace(client_ns, || {
        TcpStream::connect_timeout(&stack_addr(CHARGEN_PORT), STALL)
            .with_context(|| format!("connecting to {STACK_ADDR}:{CHARGEN_PORT} (chargen)"))
    })?;
    stream.set_read_timeout(Some(STALL))?;
    let mut buf = vec![0u8; SEND_CHUNK];
    let repeated: Vec<u8> = pattern
        .iter()
        .copied()
        .cycle()
        .take(SEND_CHUNK + pattern.len())
        .collect();
    let mut got = 0u64;
    while got < bytes {
        let want = (bytes - got).min(buf.len() as u64) as usize;
        let n = match stream.read(&mut buf[..want]) {
            Ok(0) => bail!("chargen closed after {got} of {bytes} bytes"),
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(e).with_context(|| format!("reading chargen, {got} of {bytes} bytes"))
            }
        };
        // One slice comparison (memcmp) against the pattern repeated: a
        // byte-by-byte loop in a debug build would bound the throughput.
        let at = (got % pattern.len() as u64) as usize;
        if buf[..n] != repeated[at..at + n] {
            let i = (0..n)
                .find(|&i| buf[i] != repeated[at + i])
                .unwrap_or_default();
            bail!("chargen byte {} is not the pattern's", got + i as u64);
        }
        got += n as u64;
    }
    let elapsed = started.elapsed().as_secs_f64();
    // Closing with unread data resets the connection (RFC 1122 4.2.2.13):
    // how a chargen client ends it.
    drop(stream);
    Ok((elapsed, got))
}

/// The kernel's chargen server: a listener on 10.10.0.4:19 in `stack_ns`
/// that takes one connection and writes the pattern until the client goes
/// away. The thread returns the bytes written.
pub fn kernel_chargen(stack_ns: &str) -> Result<JoinHandle<Result<u64>>> {
    let listener = in_namespace(stack_ns, || {
        TcpListener::bind(stack_addr(CHARGEN_PORT))
            .with_context(|| format!("binding the kernel chargen server to {STACK_ADDR}:19"))
    })?;
    listener.set_nonblocking(true)?;
    Ok(thread::spawn(move || {
        let deadline = Instant::now() + ACCEPT_WAIT;
        let mut stream = loop {
            match listener.accept() {
                Ok((s, _)) => break s,
                Err(e) if e.kind() == ErrorKind::WouldBlock && Instant::now() < deadline => {
                    thread::sleep(Duration::from_millis(1))
                }
                Err(e) => return Err(e).context("kernel chargen server: accept"),
            }
        };
        stream.set_nonblocking(false)?;
        stream.set_write_timeout(Some(STALL))?;
        // Whole periods, so every write starts where the last one ended.
        let once = chargen_pattern();
        let chunk: Vec<u8> = once
            .iter()
            .copied()
            .cycle()
            .take(once.len() * 150)
            .collect();
        let mut at = 0usize;
        let mut total = 0u64;
        loop {
            match stream.write(&chunk[at..at + once.len() * 140]) {
                Ok(0) => return Ok(total),
                Ok(n) => {
                    total += n as u64;
                    at = (at + n) % once.len();
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                // The client read what it wanted and closed: done.
                Err(e)
                    if matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe) =>
                {
                    return Ok(total)
                }
                Err(e) => return Err(e).context("kernel chargen server: write"),
            }
        }
    }))
}

/// One run of UDP echo round trips, one request in flight at a time.
#[derive(Clone, Debug, Serialize)]
pub struct UdpEcho {
    pub payload: usize,
    pub timeout_ms: f64,
    pub sent: u64,
    pub answered: u64,
    /// Requests unanswered within the timeout (or refused).
    pub lost: u64,
    /// Replies that were not the current request's: late ones, after
    /// their request had been counted lost.
    pub late: u64,
    pub elapsed_s: f64,
    /// Completed round trips per second.
    pub rtt_per_s: f64,
    /// Mean time from send to the matching reply, answered requests only.
    pub mean_rtt_us: f64,
}

/// Sends a request, waits for its reply, and again, for `duration`: a
/// request carries its sequence number so a late reply is not mistaken for
/// the current one.
pub fn echo_client(client_ns: &str, duration: f64) -> Result<UdpEcho> {
    let socket = in_namespace(client_ns, || {
        let s = UdpSocket::bind((CLIENT_ADDR, 0)).context("binding the UDP echo client")?;
        s.connect(stack_addr(ECHO_PORT))?;
        Ok(s)
    })?;
    let mut req = [0u8; UDP_PAYLOAD];
    let mut reply = [0u8; UDP_PAYLOAD + 64];
    let mut seq = 0u64;
    let mut late = 0u64;
    // One exchange: Some(rtt) if request `seq` was answered within `timeout`.
    let mut exchange = |seq: u64, timeout: Duration, late: &mut u64| -> Result<Option<Duration>> {
        req[..8].copy_from_slice(&seq.to_be_bytes());
        let sent_at = Instant::now();
        socket.send(&req).context("sending a UDP echo request")?;
        loop {
            let left = timeout.saturating_sub(sent_at.elapsed());
            if left.is_zero() {
                return Ok(None);
            }
            socket.set_read_timeout(Some(left))?;
            match socket.recv(&mut reply) {
                Ok(n) if n == UDP_PAYLOAD && reply[..8] == req[..8] => {
                    return Ok(Some(sent_at.elapsed()))
                }
                Ok(_) => *late += 1,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    return Ok(None)
                }
                // ICMP port unreachable for an earlier request.
                Err(e) if e.kind() == ErrorKind::ConnectionRefused => return Ok(None),
                Err(e) => return Err(e).context("reading a UDP echo reply"),
            }
        }
    };
    let mut warmed = false;
    for _ in 0..UDP_WARMUP_TRIES {
        seq += 1;
        if exchange(seq, UDP_WARMUP_TIMEOUT, &mut late)?.is_some() {
            warmed = true;
            break;
        }
    }
    if !warmed {
        bail!(
            "no UDP echo reply from {STACK_ADDR}:{ECHO_PORT} in {UDP_WARMUP_TRIES} tries of {UDP_WARMUP_TIMEOUT:?}"
        );
    }
    late = 0;
    let (mut sent, mut answered, mut rtt_total) = (0u64, 0u64, Duration::ZERO);
    let started = Instant::now();
    let run = Duration::from_secs_f64(duration);
    while started.elapsed() < run {
        seq += 1;
        sent += 1;
        if let Some(rtt) = exchange(seq, UDP_TIMEOUT, &mut late)? {
            answered += 1;
            rtt_total += rtt;
        }
    }
    let elapsed_s = started.elapsed().as_secs_f64();
    Ok(UdpEcho {
        payload: UDP_PAYLOAD,
        timeout_ms: UDP_TIMEOUT.as_secs_f64() * 1e3,
        sent,
        answered,
        lost: sent - answered,
        late,
        elapsed_s,
        rtt_per_s: answered as f64 / elapsed_s,
        mean_rtt_us: if answered == 0 {
            0.0
        } else {
            rtt_total.as_secs_f64() * 1e6 / answered as f64
        },
    })
}

/// The kernel's UDP echo server on 10.10.0.4:7 in `stack_ns`, until `stop`
/// is set. The thread returns the datagrams it echoed.
pub fn kernel_echo(stack_ns: &str, stop: Arc<AtomicBool>) -> Result<JoinHandle<Result<u64>>> {
    let socket = in_namespace(stack_ns, || {
        UdpSocket::bind(stack_addr(ECHO_PORT))
            .with_context(|| format!("binding the kernel echo server to {STACK_ADDR}:7"))
    })?;
    // Wakes up now and then to see `stop`.
    socket.set_read_timeout(Some(Duration::from_millis(50)))?;
    Ok(thread::spawn(move || {
        let mut buf = [0u8; 2048];
        let mut echoed = 0u64;
        while !stop.load(Ordering::SeqCst) {
            match socket.recv_from(&mut buf) {
                Ok((n, from)) => {
                    socket.send_to(&buf[..n], from)?;
                    echoed += 1;
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) => return Err(e).context("kernel echo server"),
            }
        }
        Ok(echoed)
    }))
}

/// `512 MiB`, or plain bytes below a MiB.
pub fn byte_size(bytes: u64) -> String {
    if bytes >= 1 << 20 && bytes.is_multiple_of(1 << 20) {
        format!("{} MiB", bytes >> 20)
    } else if bytes >= 1 << 20 {
        format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64)
    } else {
        format!("{bytes} bytes")
    }
}

/// `RetransSegs` from a `/proc/net/snmp` text (a `Tcp:` header line, then a
/// `Tcp:` values line).
pub fn retrans_segs(snmp: &str) -> Option<u64> {
    let mut tcp = snmp.lines().filter(|l| l.starts_with("Tcp:"));
    let (names, values) = (tcp.next()?, tcp.next()?);
    let i = names.split_whitespace().position(|n| n == "RetransSegs")?;
    values.split_whitespace().nth(i)?.parse().ok()
}

/// `TCPTimeouts` from a `/proc/net/netstat` text (`TcpExt:` header, values).
pub fn tcp_timeouts(netstat: &str) -> Option<u64> {
    let mut ext = netstat.lines().filter(|l| l.starts_with("TcpExt:"));
    let (names, values) = (ext.next()?, ext.next()?);
    let i = names.split_whitespace().position(|n| n == "TCPTimeouts")?;
    values.split_whitespace().nth(i)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_sizes() {
        assert_eq!(byte_size(512 << 20), "512 MiB");
        assert_eq!(byte_size(3 << 19), "1.5 MiB");
        assert_eq!(byte_size(1000), "1000 bytes");
    }

    #[test]
    fn the_chargen_pattern_is_rfc_864s() {
        let p = chargen_pattern();
        assert_eq!(p.len(), 95 * 74);
        assert!(p.starts_with(b" !\"#$%&'()*+,-./0123456789"));
        assert_eq!(&p[70..76], b"fg\r\n!\"");
        assert_eq!(&p[p.len() - 74..p.len() - 72], b"~ ");
    }

    #[test]
    fn retrans_segs_from_snmp() {
        let snmp = "Ip: Forwarding DefaultTTL\nIp: 1 64\n\
                    Tcp: RtoAlgorithm RtoMin ActiveOpens RetransSegs InErrs\n\
                    Tcp: 1 200 3 17 0\nUdp: InDatagrams\nUdp: 5\n";
        assert_eq!(retrans_segs(snmp), Some(17));
        assert_eq!(retrans_segs("Tcp: RetransSegs\n"), None);
        assert_eq!(retrans_segs(""), None);
        let netstat = "TcpExt: SyncookiesSent TCPTimeouts\nTcpExt: 0 42\n";
        assert_eq!(tcp_timeouts(netstat), Some(42));
        assert_eq!(tcp_timeouts("TcpExt: TCPTimeouts\n"), None);
    }
}
