//! TCP (RFC 9293) as a pure state machine: segments in ([`Tcp::receive`]),
//! segments out ([`Tcp::dispatch`]), time passed in as a value.
//!
//! Output is queued as compact descriptors (the header, and where the data
//! lies in the connection's send buffer), not as bytes: the stack writes
//! each one at flush straight into the device's buffer, so a segment's data
//! is copied once, from the send buffer into the frame. Descriptors are
//! written at flush rather than when the connection emits because the
//! services call TCP where no device is at hand (and the connection code
//! stays free of it). Before anything can trim or drop a send buffer
//! (input, timers, abort) the descriptors still queued get their own copy
//! of the data ([`Tcp::materialize`]); the stack flushes before input, so
//! that copy is the exception.
//!
//! - `mod.rs`: the tables (listeners, connections by 4-tuple, TIME-WAIT
//!   list), LISTEN and CLOSED processing (RFC 9293 3.10.7.1-2), the API;
//! - `conn.rs`: one connection: states, data, timers, RTO (RFC 6298),
//!   loss recovery (RFC 5681, NewReno RFC 6582), SACK (RFC 2018,
//!   2883, 6675), timestamps and PAWS (RFC 7323), path MTU (RFC 1191),
//!   the tail loss probe (RFC 8985 7), keep-alive (RFC 9293 3.8.4);
//! - `congestion/`: congestion control behind a trait: CUBIC (RFC 9438,
//!   the default) and NewReno's window arithmetic (RFC 5681);
//! - `isn.rs`: initial sequence numbers (RFC 6528, SipHash-2-4);
//! - `cookie.rs`: SYN cookies for a full half-open table (RFC 4987);
//! - `seq.rs`: sequence number arithmetic.
//!
//! Everything is bounded: connections (`max_connections`), each listener's
//! half-open plus not-yet-accepted connections (`backlog`), TIME-WAIT
//! entries (`max_time_wait`, oldest evicted), per-connection buffers and
//! out-of-order segments, and the output queue.

pub mod congestion;
mod conn;
mod cookie;
mod isn;
mod seq;
#[cfg(test)]
mod sim;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::stack::rate_limit::{RateLimitConfig, TokenBucket};
use crate::stack::rng::{self, Rng};
use crate::stack::time::Instant;
use crate::wire::ip;
use crate::wire::tcp::{Flags, Packet, TcpOptions, TcpRepr};
use crate::wire::Error as WireError;
pub use congestion::Algorithm as CongestionAlgorithm;
use conn::Conn;

/// Segments the output queue holds; more are dropped and counted.
const OUTPUT_MAX: usize = 16384;
/// The largest per-connection buffer accepted from the configuration.
const MAX_BUFFER: usize = 64 * 1024 * 1024;
/// The smallest MTU an ICMP "fragmentation needed" may lower a path to;
/// smaller claims are raised to it (Linux's min_pmtu, 552), so a forged
/// message cannot shrink segments to a few bytes each.
const MIN_PMTU: u16 = 552;
/// RFC 1191 7: the plateaus to try when a router reports no next-hop MTU.
const MTU_PLATEAUS: [u16; 10] = [32000, 17914, 8166, 4352, 2002, 1492, 1006, 508, 296, 68];
/// Ephemeral ports (RFC 6335 6).
const EPHEMERAL: std::ops::RangeInclusive<u16> = 49152..=65535;
/// The longest TIME-WAIT accepted from the configuration (2 * MSL with a
/// generous MSL of 2 minutes, RFC 9293 3.4.2).
const MAX_TIME_WAIT: Duration = Duration::from_secs(240);

/// What the engine is configured with.
#[derive(Clone, Debug)]
pub struct TcpConfig {
    pub local_ip: IpAddr,
    /// Our other addresses (the IPv6 ones of a dual-stack host): segments
    /// to them are ours too, and listeners accept on them.
    pub also_local: Vec<IpAddr>,
    /// The MSS we announce: the MTU less the IP and TCP headers (RFC 9293
    /// 3.7.1, RFC 8200 8.3): MTU - 40 over IPv4, MTU - 60 over IPv6.
    pub mss: u16,
    /// Per-connection receive buffer (bytes); the window advertises its free space.
    pub rcv_buf: usize,
    /// Per-connection send buffer (bytes).
    pub snd_buf: usize,
    /// Connections from SYN-SENT/SYN-RECEIVED to LAST-ACK, bounded.
    pub max_connections: usize,
    /// Per listener: half-open plus not yet accepted.
    pub backlog: usize,
    /// TIME-WAIT entries; past this the oldest is dropped.
    pub max_time_wait: usize,
    /// 2 * MSL.
    pub time_wait: Duration,
    /// RFC 6528 key (also the SYN cookies' MAC key).
    pub isn_secret: [u8; 16],
    /// Answer SYNs with SYN cookies when a listener's backlog is full
    /// (RFC 4987), as Linux does by default; off: such SYNs are dropped.
    pub syn_cookies: bool,
    /// Congestion control for every connection (`--tcp-cc`).
    pub congestion: CongestionAlgorithm,
}

impl TcpConfig {
    /// Sensible defaults; `mtu` is the link's MTU, the IP header size comes
    /// from the version of `local_ip`.
    pub fn new(local_ip: impl Into<IpAddr>, mtu: usize, isn_secret: [u8; 16]) -> TcpConfig {
        let local_ip = local_ip.into();
        let headers = ip::header_len(local_ip) + crate::wire::tcp::HEADER_LEN;
        let mss = mtu.saturating_sub(headers).clamp(88, usize::from(u16::MAX)) as u16;
        TcpConfig {
            local_ip,
            also_local: Vec::new(),
            mss,
            rcv_buf: 256 * 1024,
            snd_buf: 256 * 1024,
            max_connections: 1024,
            backlog: 128,
            max_time_wait: 4096,
            time_wait: Duration::from_secs(60),
            isn_secret,
            syn_cookies: true,
            congestion: CongestionAlgorithm::default(),
        }
    }
}

impl TcpConfig {
    /// True for any of our addresses.
    pub fn is_local(&self, ip: IpAddr) -> bool {
        ip == self.local_ip || self.also_local.contains(&ip)
    }

    /// The MSS to announce on a connection from `local`: `mss` is for
    /// `local_ip`'s version; the IPv6 header is 20 bytes longer (RFC 8200
    /// 8.3).
    pub fn mss_for(&self, local: IpAddr) -> u16 {
        match (self.local_ip.is_ipv4(), local.is_ipv4()) {
            (true, false) => self.mss.saturating_sub(20).max(88),
            (false, true) => self.mss.saturating_add(20),
            _ => self.mss,
        }
    }

    /// Our address of `remote`'s version for an active open: link-local
    /// for a link-local IPv6 peer (RFC 6724 rule 2), else the first.
    fn local_for(&self, remote: IpAddr) -> Option<IpAddr> {
        let mut candidates = std::iter::once(self.local_ip)
            .chain(self.also_local.iter().copied())
            .filter(|a| a.is_ipv4() == remote.is_ipv4());
        match remote {
            IpAddr::V6(r) => {
                let ll = r.is_unicast_link_local();
                let all: Vec<IpAddr> = candidates.collect();
                all.iter()
                    .copied()
                    .find(|a| matches!(a, IpAddr::V6(v) if v.is_unicast_link_local() == ll))
                    .or(all.first().copied())
            }
            IpAddr::V4(_) => candidates.next(),
        }
    }
}

/// Keep-alive for one connection (RFC 9293 3.8.4, RFC 1122 4.2.3.6;
/// Linux's TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeepAlive {
    /// Silence from the peer before the first probe (RFC 1122: at least
    /// two hours by default; a service may choose less).
    pub idle: Duration,
    /// Between unanswered probes.
    pub interval: Duration,
    /// Unanswered probes before the connection is aborted.
    pub count: u32,
}

/// A connection's handle, valid until it is released (or aborted).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct ConnId(u64);

/// RFC 9293 3.3.2.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum TcpState {
    Listen,
    SynSent,
    SynReceived,
    Established,
    FinWait1,
    FinWait2,
    CloseWait,
    Closing,
    LastAck,
    TimeWait,
    Closed,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TcpError {
    PortInUse,
    NotListening,
    NoSuchConnection,
    TooManyConnections,
    /// The connection is gone (reset, aborted, timed out): no more send/recv.
    Closed,
    /// recv only: the peer sent FIN and every byte before it was read.
    Eof,
    /// The peer reset it.
    Reset,
    TimedOut,
    InvalidState,
}

impl std::fmt::Display for TcpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TcpError::PortInUse => "port in use",
            TcpError::NotListening => "not listening",
            TcpError::NoSuchConnection => "no such connection",
            TcpError::TooManyConnections => "too many connections",
            TcpError::Closed => "connection closed",
            TcpError::Eof => "end of stream",
            TcpError::Reset => "connection reset by peer",
            TcpError::TimedOut => "connection timed out",
            TcpError::InvalidState => "invalid state for this call",
        })
    }
}

impl std::error::Error for TcpError {}

/// One connection, listener or TIME-WAIT entry at one moment (what
/// `xdpstack conns` and the status page show, like `ss -tan`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnView {
    pub state: TcpState,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    /// Bytes received, not yet read (LISTEN: connections waiting for accept).
    pub recv_q: usize,
    /// Bytes not yet acknowledged (LISTEN: the backlog).
    pub send_q: usize,
    pub rto_ms: u64,
    pub cwnd: u32,
    /// The slow start threshold, once a loss (or HyStart) set one.
    pub ssthresh: Option<u32>,
    /// The smoothed round-trip time in µs, once measured.
    pub srtt_us: Option<u64>,
    pub retransmits: u64,
    /// The congestion control algorithm (none for a listener).
    pub congestion: Option<CongestionAlgorithm>,
}

/// Counters shown by `xdpstack stats` under "tcp".
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct TcpCounters {
    pub segments_received: u64,
    pub segments_sent: u64,
    pub bad_checksum: u64,
    /// Checksums left partial by a local peer's TX offload, accepted
    /// ([`Tcp::set_accept_partial_checksums`]).
    pub partial_checksum_accepted: u64,
    pub malformed: u64,
    pub active_opens: u64,
    pub passive_opens: u64,
    pub resets_sent: u64,
    pub resets_received: u64,
    /// Segments sent again (timeouts, fast retransmit, partial ACKs).
    pub retransmits: u64,
    pub fast_retransmits: u64,
    /// Retransmission timer expiries.
    pub timeouts: u64,
    /// Connections aborted after too many retransmissions.
    pub retransmit_aborts: u64,
    pub challenge_acks: u64,
    /// Challenge ACKs not sent because of the rate limit (RFC 5961 7).
    pub challenge_acks_suppressed: u64,
    /// Duplicate ACKs for out-of-window or PAWS-failing segments without
    /// data not sent: one per 500 ms per connection, as Linux.
    pub oow_acks_suppressed: u64,
    /// SYNs that found the listener's backlog full (answered with a SYN
    /// cookie when those are on, else dropped), and cookie ACKs dropped
    /// because the accept queue was full.
    pub listen_overflows: u64,
    /// SYN-ACKs sent with a cookie instead of state (RFC 4987).
    pub syn_cookies_sent: u64,
    /// ACKs whose cookie was valid: connections made from them.
    pub syn_cookies_validated: u64,
    /// ACKs to a listener that had sent cookies, with no valid cookie
    /// (answered with a RST).
    pub syn_cookies_failed: u64,
    /// SYNs or connects refused because `max_connections` was reached.
    pub connection_limit_drops: u64,
    /// Gauge: ESTABLISHED to LAST-ACK.
    pub current_connections: u64,
    /// Gauge: SYN-SENT and SYN-RECEIVED.
    pub half_open: u64,
    /// Gauge: TIME-WAIT.
    pub time_wait: u64,
    /// TIME-WAIT entries dropped early because of `max_time_wait`.
    pub time_wait_evicted: u64,
    pub dup_acks_received: u64,
    pub out_of_order: u64,
    pub out_of_order_dropped: u64,
    pub window_probes: u64,
    /// Segments to a closed port or otherwise unmatched (answered with RST
    /// unless they were RSTs themselves).
    pub no_connection: u64,
    /// Released connections closed after waiting too long in FIN-WAIT-2.
    pub fin_wait_2_timeouts: u64,
    /// Closes turned into resets because received data was never read
    /// (RFC 1122 4.2.2.13).
    pub closed_with_unread_data: u64,
    /// Segments not sent because the output queue was full.
    pub output_dropped: u64,
    /// Segments dropped by PAWS: a TSval older than TS.Recent (RFC 7323 5).
    pub paws_rejected: u64,
    /// ICMP "fragmentation needed" that lowered a connection's segment
    /// size (RFC 1191).
    pub pmtu_reductions: u64,
    /// ICMP "fragmentation needed" ignored: no such connection, a quoted
    /// sequence number outside SND.UNA..SND.MAX (RFC 5927 5.1), an MTU
    /// below 68 or not below the current one.
    pub pmtu_ignored: u64,
    /// Tail loss probes sent (RFC 8985 7).
    pub tail_loss_probes: u64,
    /// Probes that resent the last segment and repaired a loss (no D-SACK
    /// said the original had arrived).
    pub tail_loss_probe_recoveries: u64,
    /// Segments RACK marked lost (RFC 8985 6.2): sent before one that
    /// was delivered, and not delivered within RACK.rtt + reo_wnd.
    pub rack_marked_lost: u64,
    /// RACK reordering timer expiries that marked a loss (the losses a
    /// tail, or a retransmission, would otherwise wait for an RTO for).
    pub rack_timer_losses: u64,
    /// Initial slow starts HyStart++ ended because the delay grew
    /// (RFC 9406), before any loss.
    pub hystart_exits: u64,
    /// Keep-alive probes sent (RFC 9293 3.8.4).
    pub keepalive_probes: u64,
    /// Connections aborted after unanswered keep-alive probes.
    pub keepalive_aborts: u64,
}

/// What a connection's code needs from the engine while it runs.
pub(crate) struct Ctx<'a> {
    now: Instant,
    time_wait: Duration,
    out: &'a mut Vec<Queued>,
    counters: &'a mut TcpCounters,
    challenge: &'a mut TokenBucket,
    /// The connection being run, whose send buffer holds the data of the
    /// segments it queues.
    conn: Option<ConnId>,
}

/// Where a queued segment's data is.
enum Data {
    None,
    /// `len` bytes from sequence number `seq` of the connection's send buffer.
    Send {
        conn: ConnId,
        seq: u32,
        len: u32,
    },
    /// A copy, made when the send buffer could change before the flush.
    Owned(Vec<u8>),
}

/// A segment waiting for [`Tcp::dispatch`].
pub(crate) struct Queued {
    src: IpAddr,
    dst: IpAddr,
    /// Header fields and options; its `payload` is empty (see `data`).
    header: TcpRepr<'static>,
    data: Data,
}

/// One segment to write, handed out by [`Tcp::dispatch`].
pub struct OutSegment<'a> {
    pub src: IpAddr,
    pub dst: IpAddr,
    header: &'a TcpRepr<'static>,
    /// The data, in two parts (the send buffer is a ring).
    data: (&'a [u8], &'a [u8]),
}

impl OutSegment<'_> {
    /// Bytes of the whole segment: header, options and data.
    pub fn buffer_len(&self) -> usize {
        self.header.header_len() + self.data.0.len() + self.data.1.len()
    }

    /// Writes the segment into `buf` (exactly [`OutSegment::buffer_len`] bytes),
    /// checksum included.
    pub fn write(&self, buf: &mut [u8]) {
        let hlen = self.header.header_len();
        let (a, b) = self.data;
        buf[hlen..hlen + a.len()].copy_from_slice(a);
        buf[hlen + a.len()..].copy_from_slice(b);
        let mut packet = Packet::new_unchecked(buf);
        self.header.emit_header(&mut packet);
        packet.fill_checksum(self.src, self.dst);
    }
}

/// Queues one segment: the header from `repr` (its payload ignored) and
/// `len` bytes of the running connection's send buffer from `seq`.
fn push_segment(ctx: &mut Ctx, src: IpAddr, dst: IpAddr, repr: &TcpRepr, seq: u32, len: u32) {
    if ctx.out.len() >= OUTPUT_MAX {
        ctx.counters.output_dropped += 1;
        return;
    }
    let data = match (len, ctx.conn) {
        (0, _) => Data::None,
        (len, Some(conn)) => Data::Send { conn, seq, len },
        (_, None) => {
            // Data with no connection to read it from: a bug, not a packet.
            ctx.counters.output_dropped += 1;
            return;
        }
    };
    ctx.counters.segments_sent += 1;
    if repr.flags.rst() {
        ctx.counters.resets_sent += 1;
    }
    ctx.out.push(Queued {
        src,
        dst,
        header: TcpRepr {
            payload: &[],
            ..*repr
        },
        data,
    });
}

/// A RST `<SEQ=seq>`, with `<ACK=ack><CTL=RST,ACK>` when `ack` is given
/// (RFC 9293 3.10.7.1).
fn send_rst(ctx: &mut Ctx, local: SocketAddr, remote: SocketAddr, seq: u32, ack: Option<u32>) {
    let repr = TcpRepr {
        src_port: local.port(),
        dst_port: remote.port(),
        seq,
        ack: ack.unwrap_or(0),
        flags: match ack {
            Some(_) => Flags::RST | Flags::ACK,
            None => Flags::RST,
        },
        window: 0,
        urgent: 0,
        options: TcpOptions::default(),
        payload: &[],
    };
    push_segment(ctx, local.ip(), remote.ip(), &repr, 0, 0);
}

/// The reply to a segment no connection wants (RFC 9293 3.10.7.1): none to a
/// RST; `<SEQ=SEG.ACK><CTL=RST>` to an ACK; otherwise
/// `<SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>`.
fn reset_for(ctx: &mut Ctx, local: SocketAddr, remote: SocketAddr, seg: &TcpRepr) {
    if seg.flags.rst() {
        return;
    }
    if seg.flags.ack() {
        send_rst(ctx, local, remote, seg.ack, None);
    } else {
        let ack = seg.seq.wrapping_add(seg.segment_len());
        send_rst(ctx, local, remote, 0, Some(ack));
    }
}

/// An address one host can have: not unspecified, multicast or the IPv4
/// limited broadcast (RFC 1122 4.2.3.10; RFC 4291 2.7 for IPv6).
fn is_unicast_host(a: IpAddr) -> bool {
    match a {
        IpAddr::V4(v4) => !(v4.is_broadcast() || v4.is_multicast() || v4.is_unspecified()),
        IpAddr::V6(v6) => !(v6.is_multicast() || v6.is_unspecified()),
    }
}

/// The unspecified address of `a`'s version (a listener's remote end).
fn unspecified_like(a: IpAddr) -> IpAddr {
    match a {
        IpAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
        IpAddr::V6(_) => Ipv6Addr::UNSPECIFIED.into(),
    }
}

struct Listener {
    /// Connections established and waiting for `accept`, oldest first.
    accept_queue: VecDeque<ConnId>,
    /// Half-open plus queued: what the backlog bounds.
    pending: usize,
    /// When this listener last sent a SYN cookie: ACKs are checked for
    /// one only while cookies it sent may still be valid (as Linux does),
    /// so a guessed cookie is no way in while the backlog has room.
    last_cookie: Option<Instant>,
}

/// The TCP engine: every connection of one local address.
pub struct Tcp {
    cfg: TcpConfig,
    counters: TcpCounters,
    listeners: HashMap<u16, Listener>,
    conns: HashMap<ConnId, Conn>,
    /// (local port, remote) -> connection, for every connection not Closed.
    tuples: HashMap<(u16, SocketAddr), ConnId>,
    /// TIME-WAIT connections, oldest first, with the deadline they had
    /// when queued (a restarted timer is found when the entry comes up).
    time_wait: VecDeque<(Instant, ConnId)>,
    out: Vec<Queued>,
    challenge: TokenBucket,
    next_id: u64,
    /// Ephemeral ports (its own stream of the stack's generator).
    rng: Rng,
    /// Accept checksums a local peer left partial.
    accept_partial: bool,
    /// (index, count): ephemeral ports are those equal to index modulo
    /// count, so any shard of the daemon knows whose a segment is.
    port_owner: (u16, u16),
}

impl Tcp {
    /// An engine whose ephemeral ports come from a generator seeded with its
    /// ISN key (for tests and tools; the stack gives it its own generator
    /// with [`Tcp::with_rng`]).
    pub fn new(cfg: TcpConfig) -> Tcp {
        let mut seed = [0u8; 32];
        seed[..16].copy_from_slice(&cfg.isn_secret);
        seed[16..].copy_from_slice(b"ephemeral ports\0");
        Tcp::with_rng(cfg, Rng::from_seed(seed))
    }

    /// An engine drawing its ephemeral ports from `rng`.
    pub fn with_rng(mut cfg: TcpConfig, rng: Rng) -> Tcp {
        cfg.time_wait = cfg.time_wait.min(MAX_TIME_WAIT);
        cfg.mss = cfg.mss.max(88);
        // Window arithmetic is 32-bit and a scaled window covers at most 1 GiB
        // (RFC 7323 2.3); a buffer holds at least one segment.
        cfg.rcv_buf = cfg.rcv_buf.clamp(usize::from(cfg.mss), MAX_BUFFER);
        cfg.snd_buf = cfg.snd_buf.clamp(usize::from(cfg.mss), MAX_BUFFER);
        Tcp {
            cfg,
            counters: TcpCounters::default(),
            listeners: HashMap::new(),
            conns: HashMap::new(),
            tuples: HashMap::new(),
            time_wait: VecDeque::new(),
            out: Vec::new(),
            // RFC 5961 7: a system-wide limit on challenge ACKs (Linux: 1000/s).
            challenge: TokenBucket::new(RateLimitConfig {
                per_sec: 1000,
                burst: 100,
            }),
            next_id: 1,
            rng,
            accept_partial: false,
            port_owner: (0, 1),
        }
    }

    /// Picks ephemeral ports equal to `index` modulo `count` only (the
    /// daemon's shard `index` of `count`, see `Stack::set_shard`).
    pub fn set_port_owner(&mut self, index: u16, count: u16) {
        let count = count.max(1);
        self.port_owner = (index % count, count);
    }

    /// Accept segments whose checksum field holds only the pseudo-header
    /// sum, as a local peer with TX checksum offload leaves it (see
    /// `Stack::accept_partial_checksums` for when that is safe).
    pub fn set_accept_partial_checksums(&mut self, on: bool) {
        self.accept_partial = on;
    }

    /// Congestion control for connections made from now on.
    pub fn set_congestion(&mut self, alg: CongestionAlgorithm) {
        self.cfg.congestion = alg;
    }

    pub fn config(&self) -> &TcpConfig {
        &self.cfg
    }

    /// Whether a connection (or TIME-WAIT entry) of this engine has the
    /// tuple; the daemon's shards ask it to find a segment's owner.
    pub fn has_connection(&self, local_port: u16, remote: SocketAddr) -> bool {
        self.tuples.contains_key(&(local_port, remote))
    }

    /// Whether a listener has `port`.
    pub fn is_listening(&self, port: u16) -> bool {
        self.listeners.contains_key(&port)
    }

    pub fn listen(&mut self, port: u16) -> Result<(), TcpError> {
        if port == 0 {
            return Err(TcpError::InvalidState);
        }
        if self.listeners.contains_key(&port) {
            return Err(TcpError::PortInUse);
        }
        self.listeners.insert(
            port,
            Listener {
                accept_queue: VecDeque::new(),
                pending: 0,
                last_cookie: None,
            },
        );
        Ok(())
    }

    /// Stops listening; connections already established stay, the ones
    /// not yet accepted are reset at `now`.
    pub fn unlisten(&mut self, now: Instant, port: u16) -> Result<(), TcpError> {
        let l = self.listeners.remove(&port).ok_or(TcpError::NotListening)?;
        let mut orphans: Vec<ConnId> = l.accept_queue.into_iter().collect();
        orphans.extend(
            self.conns
                .iter()
                .filter(|(_, c)| c.listener == Some(port) && !c.queued)
                .map(|(id, _)| *id),
        );
        for id in orphans {
            if let Some(c) = self.conns.get_mut(&id) {
                c.listener = None;
            }
            let _ = self.abort(now, id);
        }
        Ok(())
    }

    fn ctx(&mut self, now: Instant) -> (Ctx<'_>, &mut HashMap<ConnId, Conn>) {
        (
            Ctx {
                now,
                time_wait: self.cfg.time_wait,
                out: &mut self.out,
                counters: &mut self.counters,
                challenge: &mut self.challenge,
                conn: None,
            },
            &mut self.conns,
        )
    }

    /// Gives every queued segment whose data is in a send buffer its own
    /// copy (of connection `only`, or all), before that buffer may change.
    fn materialize(&mut self, only: Option<ConnId>) {
        for q in self.out.iter_mut() {
            let Data::Send { conn, seq, len } = q.data else {
                continue;
            };
            if only.is_some_and(|o| o != conn) {
                continue;
            }
            q.data = match self.conns.get(&conn).and_then(|c| c.send_data(seq, len)) {
                Some((a, b)) => Data::Owned([a, b].concat()),
                // Gone already: an empty segment would lie about its
                // sequence space, so dispatch drops it.
                None => Data::Send { conn, seq, len },
            };
        }
    }

    fn live_connections(&self) -> u64 {
        self.counters.current_connections + self.counters.half_open
    }

    /// One TCP segment (the IP payload) from `src` to `dst`.
    pub fn receive(
        &mut self,
        now: Instant,
        src: impl Into<IpAddr>,
        dst: impl Into<IpAddr>,
        segment: &[u8],
    ) {
        let (src, dst) = (src.into(), dst.into());
        if !self.out.is_empty() {
            self.materialize(None);
        }
        self.counters.segments_received += 1;
        let packet = match Packet::new_checked(segment) {
            Ok(p) => p,
            Err(_) => {
                self.counters.malformed += 1;
                return;
            }
        };
        let seg = match TcpRepr::parse(&packet, src, dst) {
            Ok(r) => r,
            Err(WireError::Checksum)
                if self.accept_partial && packet.has_partial_checksum(src, dst) =>
            {
                self.counters.partial_checksum_accepted += 1;
                match TcpRepr::parse_unverified(&packet) {
                    Ok(r) => r,
                    Err(_) => {
                        self.counters.malformed += 1;
                        return;
                    }
                }
            }
            Err(WireError::Checksum) => {
                self.counters.bad_checksum += 1;
                return;
            }
            Err(_) => {
                self.counters.malformed += 1;
                return;
            }
        };
        // Not ours, or from an address no connection can have (RFC 1122 4.2.3.10).
        if !self.cfg.is_local(dst)
            || src.is_ipv4() != dst.is_ipv4()
            || !is_unicast_host(src)
            || seg.src_port == 0
            || seg.dst_port == 0
        {
            self.counters.malformed += 1;
            return;
        }
        let local = SocketAddr::new(dst, seg.dst_port);
        let remote = SocketAddr::new(src, seg.src_port);
        if let Some(&id) = self.tuples.get(&(seg.dst_port, remote)) {
            let reuse = self
                .conns
                .get(&id)
                .is_some_and(|c| c.state == TcpState::TimeWait && c.accepts_new_syn(&seg))
                && self.listeners.contains_key(&seg.dst_port);
            if !reuse {
                let (mut ctx, conns) = self.ctx(now);
                ctx.conn = Some(id);
                if let Some(c) = conns.get_mut(&id) {
                    c.on_segment(&mut ctx, &seg);
                }
                self.settle(now, id);
                return;
            }
            // RFC 9293 3.10.7.4 / RFC 6191: a new SYN above the old sequence
            // space may reopen a connection in TIME-WAIT.
            self.time_wait.retain(|e| e.1 != id);
            self.finish(now, id);
        }
        if self.listeners.contains_key(&seg.dst_port) {
            self.on_listen(now, local, remote, &seg);
            return;
        }
        self.counters.no_connection += 1;
        let (mut ctx, _) = self.ctx(now);
        reset_for(&mut ctx, local, remote, &seg);
    }

    /// RFC 9293 3.10.7.2.
    fn on_listen(&mut self, now: Instant, local: SocketAddr, remote: SocketAddr, seg: &TcpRepr) {
        let f = seg.flags;
        if f.rst() {
            return;
        }
        if f.ack() {
            if !f.syn() && self.cookie_ack(now, local, remote, seg) {
                return;
            }
            let (mut ctx, _) = self.ctx(now);
            send_rst(&mut ctx, local, remote, seg.ack, None);
            return;
        }
        if !f.syn() {
            return;
        }
        // A SYN with FIN set is no connection request Linux answers
        // (tcp_rcv_state_process drops it in LISTEN): a scan or a forgery.
        if f.fin() {
            self.counters.malformed += 1;
            return;
        }
        let backlog = self.cfg.backlog;
        let Some(l) = self.listeners.get(&local.port()) else {
            return;
        };
        if l.pending >= backlog {
            // SYN-flood resilience: a bounded half-open table. Past it, a
            // SYN cookie (RFC 4987) keeps answering real clients without
            // state; with cookies off the SYN is dropped (the client retries).
            self.counters.listen_overflows += 1;
            if self.cfg.syn_cookies {
                self.send_cookie(now, local, remote, seg);
            }
            return;
        }
        if self.live_connections() >= self.cfg.max_connections as u64 {
            self.counters.connection_limit_drops += 1;
            return;
        }
        let iss = isn::isn(&self.cfg.isn_secret, local, remote, now);
        let id = self.new_id();
        let cfg = self.cfg.clone();
        let (mut ctx, conns) = self.ctx(now);
        ctx.conn = Some(id);
        let mut c = Conn::new_passive(&mut ctx, &cfg, local, remote, iss, seg);
        c.listener = Some(local.port());
        conns.insert(id, c);
        self.tuples.insert((local.port(), remote), id);
        if let Some(l) = self.listeners.get_mut(&local.port()) {
            l.pending += 1;
        }
    }

    /// A SYN-ACK whose ISN is a cookie (RFC 4987 3.6); nothing is kept.
    /// It offers the MSS only: window scaling (and SACK, timestamps) would
    /// need state the cookie cannot hold.
    fn send_cookie(&mut self, now: Instant, local: SocketAddr, remote: SocketAddr, seg: &TcpRepr) {
        let our_mss = self.cfg.mss_for(local.ip());
        let peer_mss = seg.options.mss.unwrap_or(536).min(our_mss);
        let (iss, _) = cookie::encode(&self.cfg.isn_secret, local, remote, seg.seq, peer_mss, now);
        if let Some(l) = self.listeners.get_mut(&local.port()) {
            l.last_cookie = Some(now);
        }
        self.counters.syn_cookies_sent += 1;
        let repr = TcpRepr {
            src_port: local.port(),
            dst_port: remote.port(),
            seq: iss,
            ack: seg.seq.wrapping_add(1),
            flags: Flags::SYN | Flags::ACK,
            window: conn::cookie_window(&self.cfg),
            urgent: 0,
            options: TcpOptions {
                mss: Some(our_mss),
                ..TcpOptions::default()
            },
            payload: &[],
        };
        let (mut ctx, _) = self.ctx(now);
        push_segment(&mut ctx, local.ip(), remote.ip(), &repr, 0, 0);
    }

    /// An ACK to a listener that recently sent cookies: if it returns a
    /// valid one, the connection is made ESTABLISHED from it and the
    /// segment (which may carry data) processed. True if it was taken.
    fn cookie_ack(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        seg: &TcpRepr,
    ) -> bool {
        if !self.cfg.syn_cookies || seg.flags.rst() {
            return false;
        }
        let backlog = self.cfg.backlog;
        let Some(l) = self.listeners.get(&local.port()) else {
            return false;
        };
        let recent = l
            .last_cookie
            .is_some_and(|t| now.since(t) <= cookie::LIFETIME);
        if !recent {
            return false;
        }
        let peer_isn = seg.seq.wrapping_sub(1);
        let iss = seg.ack.wrapping_sub(1);
        let Some(mss) = cookie::decode(&self.cfg.isn_secret, local, remote, peer_isn, iss, now)
        else {
            self.counters.syn_cookies_failed += 1;
            return false;
        };
        if l.accept_queue.len() >= backlog {
            // Like Linux: the ACK is dropped; the peer retransmits its data
            // or times out, and nothing is kept meanwhile.
            self.counters.listen_overflows += 1;
            return true;
        }
        if self.live_connections() >= self.cfg.max_connections as u64 {
            self.counters.connection_limit_drops += 1;
            return true;
        }
        self.counters.syn_cookies_validated += 1;
        let id = self.new_id();
        let cfg = self.cfg.clone();
        let (mut ctx, conns) = self.ctx(now);
        ctx.conn = Some(id);
        let mut c = Conn::new_from_cookie(&mut ctx, &cfg, local, remote, iss, mss, seg);
        c.listener = Some(local.port());
        // The rest of the segment: its data, a FIN.
        c.on_segment(&mut ctx, seg);
        conns.insert(id, c);
        self.tuples.insert((local.port(), remote), id);
        if let Some(l) = self.listeners.get_mut(&local.port()) {
            l.pending += 1;
        }
        self.settle(now, id);
        true
    }

    fn new_id(&mut self) -> ConnId {
        let id = ConnId(self.next_id);
        self.next_id += 1;
        id
    }

    /// Brings the tables in line with a connection's new state.
    fn settle(&mut self, now: Instant, id: ConnId) {
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        match c.state {
            TcpState::Closed => {
                self.tuples.remove(&(c.local.port(), c.remote));
                if let Some(port) = c.listener.take() {
                    if let Some(l) = self.listeners.get_mut(&port) {
                        l.pending = l.pending.saturating_sub(1);
                        if c.queued {
                            l.accept_queue.retain(|q| *q != id);
                        }
                    }
                }
                c.queued = false;
                if !c.held {
                    self.conns.remove(&id);
                }
            }
            TcpState::SynReceived | TcpState::SynSent | TcpState::Listen => {}
            state => {
                if let (Some(port), false) = (c.listener, c.queued) {
                    // Handshake done: hand it to the application (RFC 9293 3.10.7.4).
                    c.queued = true;
                    self.counters.passive_opens += 1;
                    if let Some(l) = self.listeners.get_mut(&port) {
                        l.accept_queue.push_back(id);
                    }
                }
                if state == TcpState::TimeWait && !c.tw_queued {
                    c.tw_queued = true;
                    self.time_wait.push_back((c.tw_until, id));
                    // Bounded: the oldest TIME-WAIT goes first.
                    while self.counters.time_wait > self.cfg.max_time_wait as u64 {
                        let Some((_, old)) = self.time_wait.pop_front() else {
                            break;
                        };
                        if self
                            .conns
                            .get(&old)
                            .is_some_and(|c| c.state == TcpState::TimeWait)
                        {
                            self.counters.time_wait_evicted += 1;
                            self.finish(now, old);
                        }
                    }
                }
            }
        }
    }

    /// Ends a connection without sending anything (TIME-WAIT expiry).
    fn finish(&mut self, now: Instant, id: ConnId) {
        let (mut ctx, conns) = self.ctx(now);
        ctx.conn = Some(id);
        if let Some(c) = conns.get_mut(&id) {
            c.set_state(&mut ctx, TcpState::Closed);
        }
        self.settle(now, id);
    }

    /// ICMP destination unreachable, code 4 (RFC 1191): a datagram we sent
    /// to `remote_ip`, `quoted_len` bytes long (its Total Length), needed
    /// fragmenting but had DF; `quoted_tcp` is the start of its TCP header
    /// as the error quotes it (at least 8 bytes: ports and sequence number);
    /// the next hop takes `next_hop_mtu` (0: an old router that does not
    /// say; RFC 1191 7's plateaus then). True if a connection's segment size
    /// went down. Validation against spoofing: RFC 5927 5.1.
    pub fn on_frag_needed(
        &mut self,
        now: Instant,
        remote_ip: Ipv4Addr,
        quoted_tcp: &[u8],
        quoted_len: u16,
        next_hop_mtu: u16,
    ) -> bool {
        let Some(h) = quoted_tcp.get(..8) else {
            self.counters.pmtu_ignored += 1;
            return false;
        };
        let local_port = u16::from_be_bytes([h[0], h[1]]);
        let remote_port = u16::from_be_bytes([h[2], h[3]]);
        let seq = u32::from_be_bytes([h[4], h[5], h[6], h[7]]);
        let mtu = if next_hop_mtu == 0 {
            MTU_PLATEAUS
                .into_iter()
                .find(|&p| p < quoted_len)
                .unwrap_or(0)
        } else {
            next_hop_mtu
        };
        // RFC 791: every host takes 68 bytes; less is nonsense.
        if mtu < 68 {
            self.counters.pmtu_ignored += 1;
            return false;
        }
        let mss = u32::from(mtu.max(MIN_PMTU)) - 40;
        let remote = SocketAddr::new(remote_ip.into(), remote_port);
        let Some(&id) = self.tuples.get(&(local_port, remote)) else {
            self.counters.pmtu_ignored += 1;
            return false;
        };
        let (mut ctx, conns) = self.ctx(now);
        ctx.conn = Some(id);
        let applied = conns
            .get_mut(&id)
            .is_some_and(|c| c.on_path_mtu(&mut ctx, seq, mss));
        if applied {
            self.counters.pmtu_reductions += 1;
        } else {
            self.counters.pmtu_ignored += 1;
        }
        applied
    }

    /// ICMPv6 Packet Too Big (RFC 4443 3.2, RFC 8201 4) about a segment we
    /// sent to `remote_ip`; `quoted_tcp` as for [`Tcp::on_frag_needed`].
    /// The path MTU is taken as at least 1280 (RFC 8200 5), the segment
    /// size is it less 60 bytes of headers. True if a connection's segment
    /// size went down.
    pub fn on_packet_too_big(
        &mut self,
        now: Instant,
        remote_ip: Ipv6Addr,
        quoted_tcp: &[u8],
        mtu: u32,
    ) -> bool {
        let Some(h) = quoted_tcp.get(..8) else {
            self.counters.pmtu_ignored += 1;
            return false;
        };
        let local_port = u16::from_be_bytes([h[0], h[1]]);
        let remote_port = u16::from_be_bytes([h[2], h[3]]);
        let seq = u32::from_be_bytes([h[4], h[5], h[6], h[7]]);
        let mss = mtu.clamp(1280, u32::from(u16::MAX)) - 60;
        let remote = SocketAddr::new(remote_ip.into(), remote_port);
        let Some(&id) = self.tuples.get(&(local_port, remote)) else {
            self.counters.pmtu_ignored += 1;
            return false;
        };
        let (mut ctx, conns) = self.ctx(now);
        ctx.conn = Some(id);
        let applied = conns
            .get_mut(&id)
            .is_some_and(|c| c.on_path_mtu(&mut ctx, seq, mss));
        if applied {
            self.counters.pmtu_reductions += 1;
        } else {
            self.counters.pmtu_ignored += 1;
        }
        applied
    }

    /// Counts a "fragmentation needed" the stack found not to be about one
    /// of our TCP segments.
    pub fn note_pmtu_ignored(&mut self) {
        self.counters.pmtu_ignored += 1;
    }

    /// Timers: retransmission, delayed ACK, zero-window probe, keep-alive,
    /// TIME-WAIT.
    pub fn poll(&mut self, now: Instant) {
        if !self.out.is_empty() {
            self.materialize(None);
        }
        let mut changed = Vec::new();
        {
            let (mut ctx, conns) = self.ctx(now);
            for (id, c) in conns.iter_mut() {
                ctx.conn = Some(*id);
                if c.next_timer().is_some_and(|t| t <= now) {
                    let before = c.state;
                    c.on_timers(&mut ctx);
                    if c.state != before {
                        changed.push(*id);
                    }
                }
            }
        }
        for id in changed {
            self.settle(now, id);
        }
        while let Some(&(at, id)) = self.time_wait.front() {
            if at > now {
                break;
            }
            self.time_wait.pop_front();
            match self.conns.get(&id) {
                Some(c) if c.state == TcpState::TimeWait && c.tw_until > now => {
                    // The timer was restarted by a retransmitted FIN.
                    self.time_wait.push_back((c.tw_until, id));
                }
                Some(c) if c.state == TcpState::TimeWait => self.finish(now, id),
                _ => {}
            }
        }
    }

    /// When `poll` next has something to do: the earliest retransmission,
    /// delayed ACK, persist, FIN-WAIT-2 or TIME-WAIT deadline.
    pub fn poll_at(&self) -> Option<Instant> {
        let conns = self.conns.values().filter_map(|c| c.next_timer()).min();
        let tw = self.time_wait.front().map(|e| e.0);
        conns.into_iter().chain(tw).min()
    }

    /// True when segments wait for [`Tcp::dispatch`].
    pub fn has_output(&self) -> bool {
        !self.out.is_empty()
    }

    /// Hands every queued segment to `f`, oldest first, with its data read
    /// from the send buffer it is in; `f` writes it where it goes.
    pub fn dispatch(&mut self, mut f: impl FnMut(&OutSegment<'_>)) {
        let mut queue = std::mem::take(&mut self.out);
        for q in queue.drain(..) {
            let data = match &q.data {
                Data::None => (&[][..], &[][..]),
                Data::Owned(v) => (&v[..], &[][..]),
                Data::Send { conn, seq, len } => {
                    match self.conns.get(conn).and_then(|c| c.send_data(*seq, *len)) {
                        Some(ab) => ab,
                        None => {
                            self.counters.output_dropped += 1;
                            continue;
                        }
                    }
                }
            };
            f(&OutSegment {
                src: q.src,
                dst: q.dst,
                header: &q.header,
                data,
            });
        }
        // Keep the allocation for the next round.
        self.out = queue;
    }

    /// Moves the segments to send into `out` as bytes: (destination, whole
    /// segment). For tests that look at TCP alone, without a device.
    pub fn drain_output(&mut self, out: &mut Vec<(IpAddr, Vec<u8>)>) {
        self.dispatch(|s| {
            let mut buf = vec![0u8; s.buffer_len()];
            s.write(&mut buf);
            out.push((s.dst, buf));
        });
    }

    /// A connection that completed its handshake on `port`, once.
    pub fn accept(&mut self, port: u16) -> Option<ConnId> {
        let l = self.listeners.get_mut(&port)?;
        let id = l.accept_queue.pop_front()?;
        l.pending = l.pending.saturating_sub(1);
        if let Some(c) = self.conns.get_mut(&id) {
            c.listener = None;
            c.queued = false;
            c.held = true;
        }
        Some(id)
    }

    /// Active open (RFC 9293 3.10.1); `local_port` 0 picks an ephemeral port.
    pub fn connect(
        &mut self,
        now: Instant,
        local_port: u16,
        remote: impl Into<SocketAddr>,
    ) -> Result<ConnId, TcpError> {
        let remote = remote.into();
        let Some(local_ip) = self.cfg.local_for(remote.ip()) else {
            return Err(TcpError::InvalidState);
        };
        if remote.port() == 0 || !is_unicast_host(remote.ip()) {
            return Err(TcpError::InvalidState);
        }
        if self.live_connections() >= self.cfg.max_connections as u64 {
            self.counters.connection_limit_drops += 1;
            return Err(TcpError::TooManyConnections);
        }
        let port = if local_port == 0 {
            self.ephemeral_port(remote)?
        } else if self.tuples.contains_key(&(local_port, remote)) {
            return Err(TcpError::PortInUse);
        } else {
            local_port
        };
        let local = SocketAddr::new(local_ip, port);
        let iss = isn::isn(&self.cfg.isn_secret, local, remote, now);
        let id = self.new_id();
        let cfg = self.cfg.clone();
        let (mut ctx, conns) = self.ctx(now);
        ctx.conn = Some(id);
        let mut c = Conn::new_active(&mut ctx, &cfg, local, remote, iss);
        c.held = true;
        conns.insert(id, c);
        self.counters.active_opens += 1;
        self.tuples.insert((port, remote), id);
        Ok(id)
    }

    /// A port no listener has and no connection to `remote` uses (RFC 6056
    /// 3.3.1: from a random start, so it cannot be guessed).
    fn ephemeral_port(&mut self, remote: SocketAddr) -> Result<u16, TcpError> {
        let (listeners, tuples) = (&self.listeners, &self.tuples);
        let (index, count) = self.port_owner;
        rng::ephemeral_port(&mut self.rng, EPHEMERAL, |p| {
            p % count == index && !listeners.contains_key(&p) && !tuples.contains_key(&(p, remote))
        })
        .ok_or(TcpError::PortInUse)
    }

    /// Runs `f` on a connection, then settles the tables.
    fn with_conn<R>(
        &mut self,
        now: Instant,
        id: ConnId,
        f: impl FnOnce(&mut Conn, &mut Ctx) -> R,
    ) -> Result<R, TcpError> {
        let (mut ctx, conns) = self.ctx(now);
        ctx.conn = Some(id);
        let c = conns.get_mut(&id).ok_or(TcpError::NoSuchConnection)?;
        let r = f(c, &mut ctx);
        self.settle(now, id);
        Ok(r)
    }

    /// Copies received in-order bytes into `buf`. Ok(0): nothing now.
    pub fn recv(&mut self, now: Instant, id: ConnId, buf: &mut [u8]) -> Result<usize, TcpError> {
        self.with_conn(now, id, |c, ctx| c.recv(ctx, buf))?
    }

    /// Queues bytes; returns how many were taken.
    pub fn send(&mut self, now: Instant, id: ConnId, data: &[u8]) -> Result<usize, TcpError> {
        self.with_conn(now, id, |c, ctx| c.send(ctx, data))?
    }

    /// TCP_NODELAY: `true` sends short segments at once (no Nagle).
    pub fn set_nodelay(&mut self, id: ConnId, on: bool) -> Result<(), TcpError> {
        let c = self.conns.get_mut(&id).ok_or(TcpError::NoSuchConnection)?;
        c.set_nodelay(on);
        Ok(())
    }

    /// Keep-alive on a connection (`None`: off, the default).
    pub fn set_keepalive(&mut self, id: ConnId, ka: Option<KeepAlive>) -> Result<(), TcpError> {
        let c = self.conns.get_mut(&id).ok_or(TcpError::NoSuchConnection)?;
        c.set_keepalive(ka);
        Ok(())
    }

    pub fn send_capacity(&self, id: ConnId) -> usize {
        self.conns.get(&id).map_or(0, |c| c.send_capacity())
    }

    /// Graceful close: FIN after the queued data.
    pub fn close(&mut self, now: Instant, id: ConnId) -> Result<(), TcpError> {
        // RFC 1122 4.2.2.13: closing with received data still unread loses
        // it, and the peer must learn that: a RST, as Linux sends, not a FIN
        // that would look like a clean end of the conversation.
        if self.conns.get(&id).is_some_and(|c| c.has_unread_data()) {
            self.counters.closed_with_unread_data += 1;
            return self.abort(now, id);
        }
        self.with_conn(now, id, |c, ctx| c.close(ctx))
    }

    /// RST now and forget the connection.
    pub fn abort(&mut self, now: Instant, id: ConnId) -> Result<(), TcpError> {
        // Data queued before the abort still goes out ahead of the RST.
        self.materialize(Some(id));
        self.with_conn(now, id, |c, ctx| {
            c.held = false;
            c.abort(ctx)
        })?;
        self.time_wait.retain(|e| e.1 != id);
        self.conns.remove(&id);
        Ok(())
    }

    pub fn state(&self, id: ConnId) -> Option<TcpState> {
        self.conns.get(&id).map(|c| c.state)
    }

    /// The application lets go of a connection at `now`: a closed one is
    /// forgotten; an open one is closed gracefully and forgotten when done.
    pub fn release(&mut self, now: Instant, id: ConnId) {
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        c.held = false;
        if c.state == TcpState::Closed {
            self.conns.remove(&id);
            return;
        }
        let _ = self.close(now, id);
    }

    /// Every row, sorted by local port, then peer.
    pub fn connections(&self) -> Vec<ConnView> {
        let mut v: Vec<ConnView> = self.views(true).collect();
        v.sort_by_key(|r| (r.local.port(), r.remote.ip(), r.remote.port()));
        v
    }

    /// Listeners, then connections in no order; TIME-WAIT entries only if
    /// `time_wait` (skipped before anything is copied: the gauge
    /// `counters().time_wait` says how many there are).
    pub fn views(&self, time_wait: bool) -> impl Iterator<Item = ConnView> + '_ {
        let listeners = self.listeners.iter().map(|(port, l)| ConnView {
            state: TcpState::Listen,
            local: SocketAddr::new(self.cfg.local_ip, *port),
            remote: SocketAddr::new(unspecified_like(self.cfg.local_ip), 0),
            recv_q: l.accept_queue.len(),
            send_q: self.cfg.backlog,
            rto_ms: 0,
            cwnd: 0,
            ssthresh: None,
            srtt_us: None,
            retransmits: 0,
            congestion: None,
        });
        let conns = self
            .conns
            .values()
            .filter(move |c| time_wait || c.state != TcpState::TimeWait);
        listeners.chain(conns.map(|c| ConnView {
            state: c.state,
            local: c.local,
            remote: c.remote,
            recv_q: c.recv_queue(),
            send_q: c.send_queue(),
            rto_ms: c.rto().as_millis() as u64,
            cwnd: c.cwnd(),
            ssthresh: c.ssthresh(),
            srtt_us: c.srtt().map(|d| d.as_micros() as u64),
            retransmits: c.retransmits,
            congestion: Some(c.congestion()),
        }))
    }

    pub fn counters(&self) -> &TcpCounters {
        &self.counters
    }
}
