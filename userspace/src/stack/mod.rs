//! The host: ARP cache, IPv4 and ICMP, as a pure state machine.
//!
//! Frames come in through [`Stack::receive`] (from AF_XDP) and
//! [`Stack::on_neigh_event`] (ARP the XDP program saw); frames to send
//! collect in an outbox the caller drains. Time is passed in as a value, so
//! everything here runs in unit tests without root, sockets or a real clock.
//!
//! - `arp.rs`: ARP input, replies, requests, announcements (RFC 826, 5227);
//! - `ipv4.rs`: IPv4 input checks, reassembly, output with ARP resolution
//!   and fragmentation (RFC 791, 1122);
//! - `icmp.rs`: echo, errors with rate limiting, `xdpstack ping` (RFC 792),
//!   "fragmentation needed" handed to TCP (RFC 1191);
//! - `udp.rs`: UDP input and output and the socket API the services use
//!   (RFC 768);
//! - `tcp/`: the TCP engine (RFC 9293); IPv4 hands it segments, and
//!   [`Stack::flush`] sends what it queued;
//! - the state machines they drive: `arp_cache`, `arp_defence`,
//!   `reassembly`, `rate_limit`.

mod arp;
pub mod arp_cache;
pub mod arp_defence;
mod icmp;
mod ipv4;
pub mod rate_limit;
pub mod reassembly;
pub mod tcp;
pub mod time;
pub mod udp;

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::time::Duration;

use serde::Serialize;

use crate::wire::{EtherType, EthernetFrame, MacAddr};
use arp_cache::{ArpCache, ArpCacheConfig, ArpError, ArpState};
use arp_defence::ArpDefence;
use rate_limit::{RateLimitConfig, TokenBucket};
use reassembly::{Reassembler, ReassemblyConfig};
use tcp::{ConnView, Tcp, TcpConfig, TcpCounters};
use time::Instant;

pub use icmp::{PingKey, PingReply};
pub use udp::{UdpCounters, UdpDatagram, UdpError, UdpHandle};

/// The most frames the outbox holds; past that new ones are dropped and
/// counted (the queue workers drain it after every batch).
const OUTBOX_MAX: usize = 4096;

/// What the daemon was started with.
#[derive(Clone, Debug)]
pub struct StackConfig {
    pub ip: Ipv4Addr,
    pub prefix: u8,
    pub mac: MacAddr,
    pub gateway: Option<Ipv4Addr>,
    pub mtu: usize,
    pub arp_timeout: Duration,
    pub arp_max: usize,
    /// The RFC 6528 key for TCP initial sequence numbers (from the OS's
    /// random source in the daemon).
    pub isn_secret: [u8; 16],
}

/// The stack's own counters; the state machines keep theirs.
#[derive(Clone, Debug, Default, Serialize)]
pub struct StackCounters {
    pub rx_frames: u64,
    pub rx_truncated: u64,
    /// Unicast frames for another station (seen with `--capture all`).
    pub rx_other_host: u64,
    pub rx_arp: u64,
    pub rx_ipv4: u64,
    /// EtherTypes the stack does not speak (IPv6, VLAN tags, ...): dropped.
    pub rx_unhandled_ethertype: u64,
    pub arp_malformed: u64,
    pub arp_unsupported: u64,
    pub arp_replies_sent: u64,
    pub arp_requests_sent: u64,
    pub arp_conflicts: u64,
    pub neigh_events: u64,
    pub ipv4_truncated: u64,
    pub ipv4_bad_version: u64,
    pub ipv4_bad_header_len: u64,
    pub ipv4_bad_total_len: u64,
    pub ipv4_bad_checksum: u64,
    pub ipv4_not_for_us: u64,
    pub ipv4_martian_source: u64,
    pub ipv4_fragments: u64,
    pub ipv4_fragments_dropped: u64,
    pub ipv4_reassembled: u64,
    pub ipv4_sent: u64,
    pub ipv4_fragments_sent: u64,
    /// Off-link destinations without `--gateway`.
    pub ipv4_no_route: u64,
    /// Payloads too big for the MTU that must not be fragmented.
    pub ipv4_too_big_df: u64,
    /// Datagrams dropped because ARP could not take them (table full).
    pub ipv4_arp_refused: u64,
    pub icmp_received: u64,
    pub icmp_malformed: u64,
    pub icmp_bad_checksum: u64,
    pub icmp_echo_requests: u64,
    pub icmp_echo_replies_sent: u64,
    pub icmp_echo_replies_received: u64,
    /// Errors and other ICMP messages received (counted, no action).
    pub icmp_other_received: u64,
    /// Destination unreachable, fragmentation needed (RFC 1191), handed to
    /// TCP (see tcp's pmtu_reductions and pmtu_ignored).
    pub icmp_frag_needed_received: u64,
    pub icmp_errors_sent: u64,
    pub icmp_errors_rate_limited: u64,
    /// Errors not sent because RFC 1122 3.2.2 forbids them.
    pub icmp_errors_forbidden: u64,
    /// TCP segments in broadcast or multicast datagrams: dropped (TCP is
    /// unicast only, RFC 1122 4.2.3.10).
    pub tcp_not_unicast: u64,
    pub outbox_dropped: u64,
}

/// One ARP cache entry, as the CLI shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ArpEntryView {
    pub ip: Ipv4Addr,
    pub mac: Option<String>,
    pub state: String,
    /// Milliseconds since the entry was last confirmed.
    pub age_ms: u64,
    /// Milliseconds since its address was learned.
    pub learned_ms: u64,
    /// Packets waiting for resolution.
    pub queued: usize,
}

pub struct Stack {
    cfg: StackConfig,
    arp: ArpCache,
    defence: ArpDefence,
    reasm: Reassembler,
    icmp_errors: TokenBucket,
    counters: StackCounters,
    outbox: Vec<Vec<u8>>,
    /// Identification for datagrams we originate (RFC 791 3.2).
    next_ident: u16,
    pings: HashMap<PingKey, icmp::PingState>,
    ping_ident: u16,
    ping_replied: bool,
    udp: udp::Udp,
    tcp: Tcp,
    /// Scratch for TCP output between the engine and IPv4.
    tcp_out: Vec<(Ipv4Addr, Vec<u8>)>,
    started: Instant,
}

/// One row of `xdpstack conns`: the engine's view plus the `ss` state name.
#[derive(Clone, Debug, Serialize)]
pub struct ConnRow {
    pub state_name: &'static str,
    #[serde(flatten)]
    pub view: ConnView,
}

impl Stack {
    /// A stack that starts its RFC 5227 announcements at `now`.
    pub fn new(cfg: StackConfig, now: Instant) -> Stack {
        let arp = ArpCache::new(ArpCacheConfig {
            reachable_time: cfg.arp_timeout,
            max_entries: cfg.arp_max,
            ..ArpCacheConfig::default()
        });
        let mut defence = ArpDefence::new(cfg.ip, cfg.mac);
        defence.start(now);
        Stack {
            arp,
            defence,
            reasm: Reassembler::new(ReassemblyConfig::default()),
            icmp_errors: TokenBucket::new(RateLimitConfig::default()),
            counters: StackCounters::default(),
            outbox: Vec::new(),
            next_ident: (std::process::id() as u16).wrapping_mul(31),
            pings: HashMap::new(),
            ping_ident: std::process::id() as u16,
            ping_replied: false,
            udp: udp::Udp::new(),
            tcp: Tcp::new(TcpConfig::new(cfg.ip, cfg.mtu, cfg.isn_secret)),
            tcp_out: Vec::new(),
            started: now,
            cfg,
        }
    }

    pub fn config(&self) -> &StackConfig {
        &self.cfg
    }

    /// Accept UDP and TCP checksums that hold only the pseudo-header sum
    /// (counted as `partial_checksum_accepted`). A sender with TX checksum
    /// offload on (Linux's CHECKSUM_PARTIAL, the default on a veth, in a
    /// container, on the host) leaves the sum for hardware to finish, and a
    /// veth hands the frame to XDP before anyone does. The daemon turns this
    /// on only when its interface is a veth: such a frame then comes from
    /// memory on this host, where no bits flip in transit, which is why
    /// Linux itself trusts it. A frame forwarded from a real wire carries a
    /// complete checksum, and one whose field merely equals the partial sum
    /// by corruption would also have to pass the Ethernet CRC.
    pub fn accept_partial_checksums(&mut self, on: bool) {
        self.udp.accept_partial = on;
        self.tcp.set_accept_partial_checksums(on);
    }

    /// How long the stack has run.
    pub fn uptime(&self, now: Instant) -> Duration {
        now.since(self.started)
    }

    /// Handles one frame the XDP program handed over.
    pub fn receive(&mut self, now: Instant, frame: &[u8]) {
        self.counters.rx_frames += 1;
        let Ok(eth) = EthernetFrame::new_checked(frame) else {
            self.counters.rx_truncated += 1;
            return;
        };
        let dst = eth.dst();
        if dst != self.cfg.mac && !dst.is_multicast() {
            self.counters.rx_other_host += 1;
            return;
        }
        match eth.ethertype() {
            EtherType::Arp => self.receive_arp(now, eth.payload()),
            EtherType::Ipv4 => self.receive_ipv4(now, dst.is_multicast(), eth.payload()),
            _ => self.counters.rx_unhandled_ethertype += 1,
        }
    }

    /// Runs the timers: ARP retries and expiry, announcements, reassembly
    /// timeouts, TCP retransmissions, delayed ACKs, probes, TIME-WAIT.
    pub fn poll(&mut self, now: Instant) {
        self.poll_arp(now);
        self.poll_reassembly(now);
        self.tcp.poll(now);
        self.flush(now);
    }

    /// When [`Stack::poll`] next has something to do that cannot wait for
    /// the daemon's 100 ms tick (TCP's timers); `None`: nothing soon.
    pub fn next_timer(&self) -> Option<Instant> {
        self.tcp.next_timer()
    }

    /// Turns the segments TCP queued (answering input, or after the
    /// services used their connections) into frames in the outbox: IPv4
    /// with DF set, since TCP sizes segments to the MTU (RFC 1191).
    pub fn flush(&mut self, now: Instant) {
        let mut out = std::mem::take(&mut self.tcp_out);
        self.tcp.drain_output(&mut out);
        for (dst, segment) in out.drain(..) {
            self.send_ipv4(now, dst, crate::wire::IpProtocol::Tcp, &segment, true);
        }
        self.tcp_out = out;
    }

    /// The TCP engine, for applications: listen, accept, connect, recv,
    /// send, close. Call [`Stack::flush`] after using it.
    pub fn tcp(&mut self) -> &mut Tcp {
        &mut self.tcp
    }

    pub fn tcp_counters(&self) -> &TcpCounters {
        self.tcp.counters()
    }

    /// Every connection, listener and TIME-WAIT entry (`xdpstack conns`).
    pub fn tcp_connections(&self) -> Vec<ConnRow> {
        self.tcp
            .connections()
            .into_iter()
            .map(|view| ConnRow {
                state_name: view.state.name(),
                view,
            })
            .collect()
    }

    pub fn has_outbox(&self) -> bool {
        !self.outbox.is_empty()
    }

    /// Moves every waiting frame into `out`.
    pub fn drain_outbox(&mut self, out: &mut Vec<Vec<u8>>) {
        out.append(&mut self.outbox);
    }

    fn push_frame(&mut self, frame: Vec<u8>) {
        if self.outbox.len() >= OUTBOX_MAX {
            self.counters.outbox_dropped += 1;
            return;
        }
        self.outbox.push(frame);
    }

    /// Every counter, grouped by the part that keeps it.
    pub fn counters(&self) -> serde_json::Value {
        serde_json::json!({
            "stack": self.counters,
            "arp_cache": self.arp.counters(),
            "arp_defence": self.defence.counters(),
            "reassembly": self.reasm.counters(),
            "icmp_rate_limit": self.icmp_errors.counters(),
            "udp": self.udp.counters(),
            "tcp": self.tcp.counters(),
            "arp_entries": self.arp.len(),
        })
    }

    pub fn stack_counters(&self) -> &StackCounters {
        &self.counters
    }

    pub fn arp_cache(&self) -> &ArpCache {
        &self.arp
    }

    pub fn arp_defence(&self) -> &ArpDefence {
        &self.defence
    }

    pub fn reassembler(&self) -> &Reassembler {
        &self.reasm
    }

    pub fn arp_entries(&self, now: Instant) -> Vec<ArpEntryView> {
        // `ArpCache::entries` is already sorted by IP.
        self.arp
            .entries(now)
            .into_iter()
            .map(|e| ArpEntryView {
                ip: e.ip,
                mac: e.mac.map(|m| m.to_string()),
                state: state_name(e.state).to_string(),
                age_ms: e.since_confirmed.as_millis() as u64,
                learned_ms: e.since_learned.as_millis() as u64,
                queued: e.queued,
            })
            .collect()
    }

    /// `xdpstack arp add`: a permanent entry.
    pub fn arp_add(&mut self, now: Instant, ip: Ipv4Addr, mac: MacAddr) -> Result<(), String> {
        if !mac.is_unicast() {
            return Err(format!("{mac} is not a unicast MAC address"));
        }
        if ip == self.cfg.ip {
            return Err(format!("{ip} is our own address"));
        }
        match self.arp.add_permanent(now, ip, mac) {
            Ok(action) => {
                if let Some(a) = action {
                    self.apply_arp_action(a);
                }
                Ok(())
            }
            Err(ArpError::TableFull) => Err("the ARP cache is full of permanent entries".into()),
            Err(e) => Err(format!("cannot add {ip}: {e}")),
        }
    }

    pub fn arp_del(&mut self, ip: Ipv4Addr) -> bool {
        self.arp.remove(ip)
    }

    pub fn arp_flush(&mut self) -> usize {
        self.arp.flush()
    }
}

fn state_name(s: ArpState) -> &'static str {
    match s {
        ArpState::Incomplete => "incomplete",
        ArpState::Reachable => "reachable",
        ArpState::Stale => "stale",
        ArpState::Failed => "failed",
        ArpState::Permanent => "permanent",
    }
}

/// A whole Ethernet frame: header then `payload_len` bytes that `fill`
/// writes.
fn ethernet_frame(
    src: MacAddr,
    dst: MacAddr,
    ethertype: EtherType,
    payload_len: usize,
    fill: impl FnOnce(&mut [u8]),
) -> Vec<u8> {
    let mut buf = vec![0u8; crate::wire::ethernet::EthernetRepr::HEADER_LEN + payload_len];
    let mut frame = EthernetFrame::new_unchecked(&mut buf[..]);
    crate::wire::EthernetRepr {
        src,
        dst,
        ethertype,
    }
    .emit(&mut frame);
    fill(frame.payload_mut());
    buf
}

#[cfg(test)]
mod tests;
