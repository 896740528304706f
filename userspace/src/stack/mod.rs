//! The host: ARP cache, IPv4 and ICMP, as a pure state machine.
//!
//! Frames come in through [`Stack::receive`] (from AF_XDP) and
//! [`Stack::on_neigh_event`] (ARP the XDP program saw); frames go out
//! through a [`Device`] passed to [`Stack::receive`], [`Stack::poll`] and
//! [`Stack::flush`], written straight into its buffers. Calls that have no
//! device at hand (the socket APIs, `ping`, ARP admin, neighbour events)
//! leave their output for the next flush: TCP as descriptors into its send
//! buffers, other frames in a bounded queue. Time is passed in as a value,
//! so everything here runs in unit tests without root, sockets or a real
//! clock.
//!
//! - `arp.rs`: ARP input, replies, requests, announcements (RFC 826, 5227);
//! - `ipv4.rs`: IPv4 input checks, reassembly, output with ARP resolution
//!   and fragmentation (RFC 791, 1122);
//! - `icmp.rs`: echo, errors with rate limiting, `xdpstack ping` (RFC 792),
//!   "fragmentation needed" handed to TCP (RFC 1191);
//! - `ipv6.rs`: IPv6 input checks, extension headers, reassembly, output
//!   with source selection, neighbour resolution and fragmentation (RFC
//!   8200); `icmpv6.rs`: echo, errors, ping and Neighbor Discovery input
//!   (RFC 4443, 4861); `ndp_cache.rs`: the IPv6 neighbour cache (RFC 4861
//!   7.3 NUD), on the same `neigh_table` as the ARP cache; `dad.rs`: DAD
//!   and MLDv2 reports for our addresses at start (RFC 4862, 3810);
//! - `udp.rs`: UDP input and output and the socket API the services use
//!   (RFC 768);
//! - `tcp/`: the TCP engine (RFC 9293); IPv4 hands it segments, and
//!   [`Stack::flush`] sends what it queued;
//! - the state machines they drive: `arp_cache`, `arp_defence`,
//!   `reassembly`, `rate_limit`; each says when it next needs `poll`
//!   (`poll_at`), and [`Stack::poll_at`] is the earliest of them all;
//! - `time.rs` and `rng.rs`: the clock value and the seeded generator
//!   the caller injects.

mod arp;
pub mod arp_cache;
pub mod arp_defence;
pub mod dad;
mod icmp;
pub mod icmpv6;
mod ipv4;
pub mod ipv6;
pub mod ndp_cache;
pub mod neigh_table;
pub mod rate_limit;
pub mod reassembly;
pub mod rng;
pub mod tcp;
#[cfg(test)]
pub mod test_peer;
pub mod time;
pub mod udp;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::device::{Device, FrameQueue, TxToken};
use crate::wire::{EtherType, EthernetFrame, MacAddr};
use arp_cache::{ArpCache, ArpCacheConfig, ArpCounters, ArpEntry, ArpError};
use arp_defence::{ArpDefence, DefenceCounters};
use dad::{Dad, DadConfig, DadCounters};
use icmpv6::Icmpv6Counters;
use ipv6::Ipv6Counters;
use ndp_cache::{NdpCache, NdpCounters, NdpEntry};
use rate_limit::{RateLimitConfig, RateLimitCounters, TokenBucket};
use reassembly::{FragKey6, Reassembler, ReassemblyConfig, ReassemblyCounters};
use rng::Rng;
use tcp::{ConnView, Tcp, TcpConfig, TcpCounters};
use time::Instant;

pub use icmp::{PingKey, PingReply};
pub use udp::{UdpCounters, UdpDatagram, UdpError, UdpHandle};

/// The most frames made without a device that wait for the next flush;
/// past that new ones are dropped and counted (`tx_no_buffer`).
const DEFERRED_MAX: usize = 4096;

/// What the daemon was started with.
#[derive(Clone, Debug)]
pub struct StackConfig {
    pub ip: Ipv4Addr,
    pub prefix: u8,
    pub mac: MacAddr,
    pub gateway: Option<Ipv4Addr>,
    /// Our IPv6 addresses and prefix lengths, the link-local one included
    /// (`daemon::ip6_addresses`); empty: the stack does not speak IPv6.
    pub ip6: Vec<(Ipv6Addr, u8)>,
    /// IPv6 next hop for off-link destinations (`--gateway6`).
    pub gateway6: Option<Ipv6Addr>,
    pub mtu: usize,
    pub arp_timeout: Duration,
    pub arp_max: usize,
    /// Seeds every random choice of the stack (IP identification, the
    /// RFC 6528 ISN key, ping identifier, ephemeral ports): from the OS's
    /// random source in the daemon, fixed in tests so a run replays.
    pub seed: rng::Seed,
}

/// The stack's own counters; the state machines keep theirs.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
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
    /// Datagrams a transport addressed to IPv6 while the stack has no
    /// IPv6 address (`--ip6`): dropped.
    pub ipv6_not_supported: u64,
    /// Frames dropped because the device had no free buffer (or, for
    /// frames made without a device, the deferred queue was full).
    pub tx_no_buffer: u64,
    /// Frames longer than the device's buffers: dropped.
    pub tx_too_big: u64,
}

/// Every counter of the stack at one moment, grouped by the part that
/// keeps it. The core hands out values; naming and formatting them for
/// people is the presentation layer's job (`present/`).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct StackStats {
    pub stack: StackCounters,
    pub arp_cache: ArpCounters,
    pub arp_defence: DefenceCounters,
    pub reassembly: ReassemblyCounters,
    pub icmp_rate_limit: RateLimitCounters,
    pub udp: UdpCounters,
    pub tcp: TcpCounters,
    /// Gauge: entries in the ARP cache.
    pub arp_entries: usize,
    pub ipv6: Ipv6Counters,
    pub icmpv6: Icmpv6Counters,
    pub icmpv6_rate_limit: RateLimitCounters,
    pub ndp_cache: NdpCounters,
    pub reassembly6: ReassemblyCounters,
    pub dad: DadCounters,
    /// Gauge: entries in the IPv6 neighbour cache.
    pub ndp_entries: usize,
}

pub struct Stack {
    cfg: StackConfig,
    arp: ArpCache,
    defence: ArpDefence,
    reasm: Reassembler,
    icmp_errors: TokenBucket,
    counters: StackCounters,
    ndp: NdpCache,
    reasm6: Reassembler<FragKey6>,
    /// RFC 4443 2.4 (f): ICMPv6 errors have a bucket of their own.
    icmp6_errors: TokenBucket,
    ipv6: Ipv6Counters,
    icmp6: Icmpv6Counters,
    /// Identification of our IPv6 fragments (RFC 8200 4.5, RFC 7739).
    next_ident6: u32,
    dad: Dad,
    /// Frames made where no device was at hand, sent at the next flush.
    deferred: FrameQueue,
    /// Scratch for a payload being fragmented.
    scratch: Vec<u8>,
    /// Identification for datagrams we originate (RFC 791 3.2).
    next_ident: u16,
    pings: HashMap<PingKey, icmp::PingState>,
    ping_ident: u16,
    ping_replied: bool,
    rng: Rng,
    udp: udp::Udp,
    tcp: Tcp,
    started: Instant,
    /// Bindings learned from ARP frames, kept for the other shards
    /// (`set_shard`); None: a lone stack keeps nothing.
    neigh_export: Option<Vec<xdpstack_common::neigh::NeighEvent>>,
    /// Reassembled datagrams as whole frames, kept for the daemon to give
    /// to the shard that owns their flow (`set_shard`); None: delivered here.
    reassembled_export: Option<Vec<Vec<u8>>>,
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
        let mut rng = Rng::from_seed(cfg.seed);
        // RFC 6528 3: the key must be secret and fresh at every start.
        let isn_key = rng.bytes();
        let mut tcp_cfg = TcpConfig::new(cfg.ip, cfg.mtu, isn_key);
        tcp_cfg.also_local = cfg.ip6.iter().map(|(a, _)| IpAddr::V6(*a)).collect();
        let tcp = Tcp::with_rng(tcp_cfg, rng.fork());
        Stack {
            arp,
            defence,
            reasm: Reassembler::new(ReassemblyConfig::default()),
            icmp_errors: TokenBucket::new(RateLimitConfig::default()),
            counters: StackCounters::default(),
            ndp: NdpCache::default(),
            reasm6: Reassembler::default(),
            icmp6_errors: TokenBucket::new(RateLimitConfig::default()),
            ipv6: Ipv6Counters::default(),
            icmp6: Icmpv6Counters::default(),
            next_ident6: rng.u32(),
            dad: Dad::new(
                DadConfig::default(),
                &cfg.ip6.iter().map(|(a, _)| *a).collect::<Vec<_>>(),
                now,
            ),
            deferred: FrameQueue::new(
                DEFERRED_MAX,
                crate::wire::ethernet::EthernetRepr::HEADER_LEN + cfg.mtu,
            ),
            scratch: Vec::new(),
            // A random start, then one per datagram (RFC 6864 4.1 asks
            // only for uniqueness within the datagrams' lifetime).
            next_ident: rng.u16(),
            pings: HashMap::new(),
            ping_ident: rng.u16(),
            ping_replied: false,
            rng,
            udp: udp::Udp::new(),
            tcp,
            started: now,
            neigh_export: None,
            reassembled_export: None,
            cfg,
        }
    }

    /// Makes this stack shard `index` of `count` (see `crate::shard`): its
    /// ping identifier is `index` modulo `count`, so whichever shard receives
    /// a reply knows whose it is; only shard 0 announces our address
    /// (RFC 5227 2.3 asks for the host's announcements, not one per shard),
    /// and only shard 0 sends DAD probes and MLD reports;
    /// ARP bindings it learns are kept for [`Stack::take_neigh_exports`].
    pub fn set_shard(&mut self, index: u16, count: u16) {
        let count = count.max(1);
        let base = self.ping_ident - self.ping_ident % count;
        self.ping_ident = base
            .checked_add(index % count)
            .unwrap_or(base - count + index % count);
        self.tcp.set_port_owner(index, count);
        // The host's ICMP error budget (RFC 1812 4.3.2.8) split between the
        // shards, so N of them do not send N times as many errors.
        let host = RateLimitConfig::default();
        let share = |v: u32| (v / u32::from(count)).max(1);
        self.icmp_errors = TokenBucket::new(RateLimitConfig {
            per_sec: share(host.per_sec),
            burst: share(host.burst),
        });
        self.icmp6_errors = TokenBucket::new(RateLimitConfig {
            per_sec: share(host.per_sec),
            burst: share(host.burst),
        });
        if index != 0 {
            self.defence = ArpDefence::new(self.cfg.ip, self.cfg.mac);
            // DAD probes and MLD reports are the host's (RFC 4862 5.4,
            // RFC 3810 6): sent once, by shard 0; the others follow the
            // addresses' states on the same clock.
            self.dad.set_quiet();
        }
        self.neigh_export = (count > 1).then(Vec::new);
        self.reassembled_export = (count > 1).then(Vec::new);
    }

    /// Datagrams this shard reassembled since the last call, each as one
    /// unfragmented frame (our MAC, or broadcast if it came so; no source
    /// MAC): the daemon passes each to the shard that owns its flow, this
    /// one included, through [`Stack::receive`].
    pub fn take_reassembled(&mut self) -> Vec<Vec<u8>> {
        self.reassembled_export
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    /// A reassembled datagram as one frame, or None when it cannot be one
    /// (no first header, longer than IPv4 allows) or this stack is not a
    /// shard: then it is delivered where it was reassembled.
    fn reassembled_frame(
        &self,
        l2_group: bool,
        whole: &reassembly::Reassembled,
    ) -> Option<Vec<u8>> {
        self.reassembled_export.as_ref()?;
        let hl = whole.header.len();
        let total = u16::try_from(hl + whole.payload.len()).ok()?;
        if hl < xdpstack_common::layout::ipv4::MIN_HEADER_LEN {
            return None;
        }
        let eth_len = crate::wire::ethernet::EthernetRepr::HEADER_LEN;
        let dst = if l2_group {
            MacAddr::BROADCAST
        } else {
            self.cfg.mac
        };
        let mut f = Vec::with_capacity(eth_len + usize::from(total));
        f.extend_from_slice(&dst.0);
        f.extend_from_slice(&MacAddr::ZERO.0);
        f.extend_from_slice(&xdpstack_common::layout::eth::ETHERTYPE_IPV4.to_be_bytes());
        f.extend_from_slice(&whole.header);
        f.extend_from_slice(&whole.payload);
        let mut ip = crate::wire::Ipv4Packet::new_unchecked(&mut f[eth_len..]);
        ip.set_total_len(total);
        ip.set_more_frags(false);
        ip.set_frag_offset(0);
        ip.fill_checksum();
        Some(f)
    }

    /// The ping identifier of this stack (`set_shard` chooses its residue).
    pub fn ping_ident(&self) -> u16 {
        self.ping_ident
    }

    /// Bindings learned from ARP frames since the last call, as the XDP
    /// program reports its own; the daemon gives them to the other shards'
    /// [`Stack::on_neigh_event`].
    pub fn take_neigh_exports(&mut self) -> Vec<xdpstack_common::neigh::NeighEvent> {
        self.neigh_export
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
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

    /// TCP congestion control for connections made from now on.
    pub fn set_tcp_congestion(&mut self, alg: tcp::CongestionAlgorithm) {
        self.tcp.set_congestion(alg);
    }

    /// How long the stack has run.
    pub fn uptime(&self, now: Instant) -> Duration {
        now.since(self.started)
    }

    /// Handles one frame the XDP program handed over; replies are written
    /// into `dev`.
    pub fn receive<D: Device>(&mut self, now: Instant, frame: &[u8], dev: &mut D) {
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
            EtherType::Arp => self.receive_arp(now, dev, eth.payload()),
            EtherType::Ipv4 => self.receive_ipv4(now, dev, dst.is_multicast(), eth.payload()),
            EtherType::Ipv6 => self.receive_ipv6(now, dev, dst.is_multicast(), eth.payload()),
            _ => self.counters.rx_unhandled_ethertype += 1,
        }
    }

    /// Runs the timers: ARP retries and expiry, announcements, reassembly
    /// timeouts, TCP retransmissions, delayed ACKs, probes, TIME-WAIT;
    /// sends what they make, and what waited, into `dev`.
    pub fn poll<D: Device>(&mut self, now: Instant, dev: &mut D) {
        self.flush(now, dev);
        self.poll_arp(now, dev);
        self.poll_ndp(now, dev);
        self.poll_dad(now, dev);
        self.poll_reassembly(now, dev);
        self.poll_reassembly6(now, dev);
        self.tcp.poll(now);
        self.flush_tcp(now, dev);
    }

    /// When [`Stack::poll`] next has something to do: the earliest deadline
    /// of every timer the stack owns (ARP cache, ARP announcements,
    /// reassembly, TCP); `None`: nothing until a frame or a call arrives.
    /// The daemon sleeps until then, with no tick of its own.
    pub fn poll_at(&self) -> Option<Instant> {
        [
            self.arp.poll_at(),
            self.defence.poll_at(),
            self.reasm.poll_at(),
            self.ndp.poll_at(),
            self.dad.poll_at(),
            self.reasm6.poll_at(),
            self.tcp.poll_at(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Sends what waits: frames made without a device (copied into `dev`'s
    /// buffers, oldest first), then the segments TCP queued (answering
    /// input, or after the services used their connections).
    pub fn flush<D: Device>(&mut self, now: Instant, dev: &mut D) {
        if !self.deferred.is_empty() {
            let mut q = std::mem::replace(&mut self.deferred, FrameQueue::new(0, 0));
            for frame in q.drain() {
                self.copy_frame(dev, &frame);
            }
            self.deferred = q;
        }
        self.flush_tcp(now, dev);
    }

    /// TCP's queued segments, each written once into a buffer of `dev`
    /// (Ethernet, IPv4 with DF set since TCP sizes segments to the MTU,
    /// RFC 1191, then the segment read from the send buffer).
    fn flush_tcp<D: Device>(&mut self, now: Instant, dev: &mut D) {
        if !self.tcp.has_output() {
            return;
        }
        let Stack {
            cfg,
            arp,
            ndp,
            counters,
            ipv6,
            icmp6,
            next_ident,
            next_ident6,
            scratch,
            tcp,
            ..
        } = self;
        let mut out = ipv4::Output {
            cfg,
            arp,
            ndp,
            counters,
            ipv6,
            icmp6,
            next_ident6,
            next_ident,
            scratch,
        };
        tcp.dispatch(|seg| {
            out.ip(
                now,
                dev,
                seg.src,
                seg.dst,
                crate::wire::IpProtocol::Tcp,
                seg.buffer_len(),
                true,
                |b| seg.write(b),
            )
        });
    }

    /// The output half of the stack, borrowed apart from the transports.
    fn output(&mut self) -> ipv4::Output<'_> {
        ipv4::Output {
            cfg: &self.cfg,
            arp: &mut self.arp,
            ndp: &mut self.ndp,
            counters: &mut self.counters,
            ipv6: &mut self.ipv6,
            icmp6: &mut self.icmp6,
            next_ident6: &mut self.next_ident6,
            next_ident: &mut self.next_ident,
            scratch: &mut self.scratch,
        }
    }

    /// Runs `f` with the deferred queue as its device (for calls that have
    /// no device at hand).
    fn deferred<R>(&mut self, f: impl FnOnce(&mut Stack, &mut FrameQueue) -> R) -> R {
        let mut q = std::mem::replace(&mut self.deferred, FrameQueue::new(0, 0));
        let r = f(self, &mut q);
        self.deferred = q;
        r
    }

    /// A frame made earlier, copied into a buffer of `dev`.
    fn copy_frame<D: Device>(&mut self, dev: &mut D, frame: &[u8]) {
        if frame.len() > dev.max_frame_len() {
            self.counters.tx_too_big += 1;
            return;
        }
        match dev.transmit() {
            Some(t) => t.consume(frame.len(), |b| b.copy_from_slice(frame)),
            None => self.counters.tx_no_buffer += 1,
        }
    }

    /// The TCP engine, for applications: listen, accept, connect, recv,
    /// send, close. Call [`Stack::flush`] after using it.
    pub fn tcp(&mut self) -> &mut Tcp {
        &mut self.tcp
    }

    pub fn tcp_counters(&self) -> &TcpCounters {
        self.tcp.counters()
    }

    /// Every connection, listener and TIME-WAIT entry, sorted by local
    /// port then peer (`xdpstack conns`).
    pub fn tcp_connections(&self) -> Vec<ConnView> {
        self.tcp.connections()
    }

    /// The same rows unsorted and one at a time, TIME-WAIT entries only if
    /// `time_wait`, so that a reader that shows only some of them (the
    /// status page) need not copy them all.
    pub fn tcp_views(&self, time_wait: bool) -> impl Iterator<Item = ConnView> + '_ {
        self.tcp.views(time_wait)
    }

    /// True when output waits for [`Stack::flush`].
    pub fn has_pending_output(&self) -> bool {
        !self.deferred.is_empty() || self.tcp.has_output()
    }

    /// A snapshot of every counter, grouped by the part that keeps it.
    pub fn stats(&self) -> StackStats {
        StackStats {
            stack: self.counters.clone(),
            arp_cache: self.arp.counters().clone(),
            arp_defence: self.defence.counters().clone(),
            reassembly: self.reasm.counters().clone(),
            icmp_rate_limit: self.icmp_errors.counters().clone(),
            udp: self.udp.counters().clone(),
            tcp: self.tcp.counters().clone(),
            arp_entries: self.arp.len(),
            ipv6: self.ipv6.clone(),
            icmpv6: self.icmp6.clone(),
            icmpv6_rate_limit: self.icmp6_errors.counters().clone(),
            ndp_cache: self.ndp.counters().clone(),
            reassembly6: self.reasm6.counters().clone(),
            dad: self.dad.counters().clone(),
            ndp_entries: self.ndp.len(),
        }
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

    /// Every ARP cache entry, sorted by IP, with ages relative to `now`.
    pub fn arp_entries(&self, now: Instant) -> Vec<ArpEntry> {
        self.arp.entries(now)
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
                    self.deferred(|s, q| s.apply_arp_action(q, a));
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

    /// DAD and MLD start-up state of our IPv6 addresses.
    pub fn dad(&self) -> &Dad {
        &self.dad
    }

    pub fn ndp_cache(&self) -> &NdpCache {
        &self.ndp
    }

    /// Every IPv6 neighbour entry, sorted by address (`xdpstack neigh`).
    pub fn ndp_entries(&self, now: Instant) -> Vec<NdpEntry> {
        self.ndp.entries(now)
    }

    /// `xdpstack neigh add` for an IPv6 neighbour: a permanent entry.
    pub fn ndp_add(&mut self, now: Instant, ip: Ipv6Addr, mac: MacAddr) -> Result<(), String> {
        if !mac.is_unicast() {
            return Err(format!("{mac} is not a unicast MAC address"));
        }
        if self.cfg.is_our_ip6(ip) {
            return Err(format!("{ip} is our own address"));
        }
        if ip.is_multicast() || ip.is_unspecified() || ip.is_loopback() {
            return Err(format!("{ip} is not a neighbour's address"));
        }
        match self.ndp.add_permanent(now, ip, mac) {
            Ok(action) => {
                if let Some(a) = action {
                    self.deferred(|s, q| s.apply_ndp_action(now, q, a));
                }
                Ok(())
            }
            Err(e) => Err(e.to_string()),
        }
    }

    pub fn ndp_del(&mut self, ip: Ipv6Addr) -> bool {
        self.ndp.remove(ip)
    }

    pub fn ndp_flush(&mut self) -> usize {
        self.ndp.flush()
    }
}

/// A whole Ethernet frame: header then `payload_len` bytes that `fill`
/// writes (the tests build their input with it).
#[cfg(test)]
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

#[cfg(test)]
mod tests6;
