//! The ARP cache: RFC 826 learning, RFC 1122 2.3.2 resolution with a bounded
//! queue, ageing and a bounded table, as a pure state machine.
//!
//! Time is passed in; `poll(now)` runs retries, failures, reachable -> stale
//! and garbage collection, and `poll_at()` says when it next needs to run.
//! The caller turns [`ArpAction`]s into frames.
//!
//! Lifecycle of an entry:
//! - `send` to an unknown IP creates it `Incomplete` (packet queued, request
//!   broadcast); a request is retried every `retrans_time` up to
//!   `max_requests` in all, then it becomes `Failed` and its queue is dropped.
//! - Any ARP from its IP makes it `Reachable` (queued packets are flushed).
//! - An ARP request or reply addressed to us from an unknown sender creates it
//!   `Reachable` (the sender just proved it is there). Linux creates such
//!   entries `Stale` instead; xdpstack's ARP requests are answered in-kernel,
//!   so the cache would otherwise show a neighbour that pings us as stale.
//!   A flood of random senders stays within `max_entries` by eviction.
//! - `Reachable` turns `Stale` `reachable_time` after the last confirmation;
//!   `Stale` and `Failed` entries are collected `gc_time` after entering
//!   that state. A `Stale` entry is still used to send until collected.
//! - `Permanent` entries come only from `add_permanent` and never change.
//!
//! Eviction when the table is full (a new entry needs a slot): `Failed`
//! (oldest first), then `Stale` (oldest first), then `Incomplete` (oldest
//! first), then the least recently confirmed `Reachable`. `Permanent`
//! entries are never evicted; if every slot is permanent the new entry is
//! refused and counted in `table_full`.

use std::collections::VecDeque;
use std::fmt;
use std::net::Ipv4Addr;
use std::time::Duration;

use serde::{Serialize, Serializer};

use super::neigh_table::{NeighTable, Slot};
use super::time::Instant;
use crate::wire::MacAddr;

/// Tunables of the cache; `Default` gives the values documented per field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArpCacheConfig {
    /// How long a confirmed entry stays `Reachable` (default 60 s).
    pub reachable_time: Duration,
    /// How long `Stale` and `Failed` entries live before collection (default 60 s).
    pub gc_time: Duration,
    /// Maximum number of entries, permanent ones included (default 1024).
    pub max_entries: usize,
    /// Packets queued per unresolved entry; the oldest is dropped first (default 3).
    pub queue_len: usize,
    /// Interval between requests for one destination; raised to at least 1 s (RFC 1122 2.3.2.1).
    pub retrans_time: Duration,
    /// Requests sent per resolution before the entry fails (default 3).
    pub max_requests: u32,
}

impl Default for ArpCacheConfig {
    fn default() -> Self {
        ArpCacheConfig {
            reachable_time: Duration::from_secs(60),
            gc_time: Duration::from_secs(60),
            max_entries: 1024,
            queue_len: 3,
            retrans_time: Duration::from_secs(1),
            max_requests: 3,
        }
    }
}

/// RFC 1122 2.3.2.1: at most one request per second per destination.
const MIN_RETRANS: Duration = Duration::from_secs(1);

/// The state of a cache entry, named as `ip neigh` names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ArpState {
    /// Resolution in progress: requests sent, packets queued.
    Incomplete,
    /// Recently confirmed by an ARP from the host.
    Reachable,
    /// Usable but not recently confirmed; collected after `gc_time`.
    Stale,
    /// Resolution gave up; collected after `gc_time`.
    Failed,
    /// Added by the administrator; never aged, learned over or evicted.
    Permanent,
}

impl fmt::Display for ArpState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ArpState::Incomplete => "INCOMPLETE",
            ArpState::Reachable => "REACHABLE",
            ArpState::Stale => "STALE",
            ArpState::Failed => "FAILED",
            ArpState::Permanent => "PERMANENT",
        })
    }
}

/// What the caller must do on the cache's behalf.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ArpAction {
    /// Broadcast an ARP request for this IP.
    Request(Ipv4Addr),
    /// Resolution completed: send these queued packets, in order, to `mac`.
    Flush {
        ip: Ipv4Addr,
        mac: MacAddr,
        packets: Vec<Vec<u8>>,
    },
    /// Resolution failed: the entry is `Failed` and `dropped` queued packets were discarded.
    Failed { ip: Ipv4Addr, dropped: usize },
}

/// The answer to [`ArpCache::send`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SendOutcome {
    /// The address is resolved: send `packet` to `mac` now.
    Now { mac: MacAddr, packet: Vec<u8> },
    /// The packet is queued; when `request` is set, broadcast an ARP request for it now.
    Queued { request: Option<Ipv4Addr> },
    /// The packet was dropped (counted).
    Refused(ArpError),
}

/// Why the cache refused a packet or an admin change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArpError {
    /// Every slot holds a permanent entry.
    TableFull,
    /// The address can never be resolved by ARP (unspecified, loopback).
    InvalidAddress,
}

impl fmt::Display for ArpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ArpError::TableFull => "ARP cache is full of permanent entries: remove one first",
            ArpError::InvalidAddress => {
                "address cannot be resolved by ARP: use a unicast IPv4 address"
            }
        })
    }
}

impl std::error::Error for ArpError {}

/// Counters of the cache (monotonic).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(default)]
pub struct ArpCounters {
    /// ARP requests asked of the caller.
    pub requests: u64,
    /// Incomplete entries that became reachable.
    pub resolved: u64,
    /// Resolutions that gave up after `max_requests`.
    pub failed: u64,
    /// Queued packets dropped because their entry's queue was full (oldest first).
    pub queue_overflow: u64,
    /// Queued packets dropped on failure, eviction, removal or flush.
    pub queue_dropped: u64,
    /// Entries created by learning (ARP addressed to us from an unknown sender).
    pub learned: u64,
    /// Existing entries updated by an ARP from their IP (RFC 826 merge).
    pub updated: u64,
    /// ARPs not learned from: unknown sender, not addressed to us (incl. gratuitous).
    pub not_learned: u64,
    /// ARPs or next hops with an unusable address (unspecified, broadcast, our own IP...).
    pub invalid: u64,
    /// Reachable entries that turned stale.
    pub aged: u64,
    /// Stale or failed entries collected.
    pub collected: u64,
    /// Entries evicted to make room.
    pub evicted: u64,
    /// New entries refused because every slot is permanent.
    pub table_full: u64,
}

/// A snapshot of one entry for the CLI (`xdpstack arp`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ArpEntry {
    pub ip: Ipv4Addr,
    /// `None` while incomplete or failed.
    #[serde(serialize_with = "ser_mac")]
    pub mac: Option<MacAddr>,
    pub state: ArpState,
    /// Time since the entry was created or its MAC last changed.
    #[serde(rename = "since_learned_ms", serialize_with = "ser_ms")]
    pub since_learned: Duration,
    /// Time since an ARP from the host (or `confirm`) last confirmed it.
    #[serde(rename = "since_confirmed_ms", serialize_with = "ser_ms")]
    pub since_confirmed: Duration,
    /// Packets waiting for resolution.
    pub queued: usize,
}

fn ser_mac<S: Serializer>(mac: &Option<MacAddr>, s: S) -> Result<S::Ok, S::Error> {
    match mac {
        Some(m) => s.collect_str(m),
        None => s.serialize_none(),
    }
}

fn ser_ms<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[derive(Debug)]
struct Entry {
    /// Some for reachable, stale and permanent entries.
    mac: Option<MacAddr>,
    state: ArpState,
    learned: Instant,
    confirmed: Instant,
    /// When the current state began.
    since: Instant,
    queue: VecDeque<Vec<u8>>,
    /// Requests sent in the current resolution.
    requests: u32,
    /// Kept across states so a failed entry asked again still honours the rate limit.
    last_request: Option<Instant>,
}

impl Slot for Entry {
    type Config = ArpCacheConfig;

    /// When `poll` next has work for this entry.
    fn deadline(&self, cfg: &ArpCacheConfig) -> Option<Instant> {
        match self.state {
            ArpState::Incomplete => Some(self.next_request_at(cfg)),
            ArpState::Reachable => Some(self.confirmed + cfg.reachable_time),
            ArpState::Stale | ArpState::Failed => Some(self.since + cfg.gc_time),
            ArpState::Permanent => None,
        }
    }

    /// Position in the eviction order; `None` for permanent entries.
    fn evict_rank(&self) -> Option<(u8, Instant)> {
        match self.state {
            ArpState::Failed => Some((0, self.since)),
            ArpState::Stale => Some((1, self.since)),
            ArpState::Incomplete => Some((2, self.since)),
            ArpState::Reachable => Some((3, self.confirmed)),
            ArpState::Permanent => None,
        }
    }
}

impl Entry {
    /// The earliest time another request may go out (RFC 1122 2.3.2.1).
    fn next_request_at(&self, cfg: &ArpCacheConfig) -> Instant {
        self.last_request
            .map_or(self.since, |t| t + cfg.retrans_time)
    }

    /// Queue a packet, dropping the oldest beyond `limit` (RFC 1122 2.3.2.2
    /// says keep at least one, and the latest). Returns how many were dropped.
    fn enqueue(&mut self, packet: Vec<u8>, limit: usize) -> u64 {
        self.queue.push_back(packet);
        let mut dropped = 0;
        while self.queue.len() > limit {
            self.queue.pop_front();
            dropped += 1;
        }
        dropped
    }
}

/// The ARP cache. See the module documentation for states and eviction.
#[derive(Debug)]
pub struct ArpCache {
    config: ArpCacheConfig,
    /// The entries, with their deadline and eviction orderings.
    entries: NeighTable<Ipv4Addr, Entry>,
    counters: ArpCounters,
}

impl Default for ArpCache {
    fn default() -> Self {
        ArpCache::new(ArpCacheConfig::default())
    }
}

/// RFC 1112 6.4 and RFC 919: group destinations map to a MAC without ARP.
fn direct_mac(ip: Ipv4Addr) -> Option<MacAddr> {
    if ip.is_broadcast() {
        Some(MacAddr::BROADCAST)
    } else if ip.is_multicast() {
        let o = ip.octets();
        Some(MacAddr([0x01, 0x00, 0x5e, o[1] & 0x7f, o[2], o[3]]))
    } else {
        None
    }
}

/// Addresses that never belong to a neighbour on the link.
fn unresolvable(ip: Ipv4Addr) -> bool {
    ip.is_unspecified() || ip.is_loopback() || ip.is_broadcast() || ip.is_multicast()
}

impl ArpCache {
    /// An empty cache; `retrans_time` is raised to 1 s if lower (RFC 1122 2.3.2.1).
    pub fn new(mut config: ArpCacheConfig) -> Self {
        config.retrans_time = config.retrans_time.max(MIN_RETRANS);
        ArpCache {
            config,
            entries: NeighTable::default(),
            counters: ArpCounters::default(),
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &ArpCacheConfig {
        &self.config
    }

    /// The counters so far.
    pub fn counters(&self) -> &ArpCounters {
        &self.counters
    }

    /// Number of entries, all states included.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when the cache holds no entry.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The MAC to use for `ip` now, if resolved (reachable, stale or permanent).
    pub fn lookup(&self, ip: Ipv4Addr) -> Option<MacAddr> {
        let e = self.entries.get(&ip)?;
        match e.state {
            ArpState::Reachable | ArpState::Stale | ArpState::Permanent => e.mac,
            ArpState::Incomplete | ArpState::Failed => None,
        }
    }

    /// The MAC to send to `next_hop` now, if it is resolved: what
    /// [`ArpCache::send`] answers `Now` with, asked before a datagram is
    /// built so a resolved one is written straight into the device.
    pub fn resolved(&self, next_hop: Ipv4Addr) -> Option<MacAddr> {
        direct_mac(next_hop).or_else(|| self.lookup(next_hop))
    }

    /// Send an IPv4 datagram to the on-link `next_hop`: either now to its MAC,
    /// or queued while ARP resolves it.
    pub fn send(&mut self, now: Instant, next_hop: Ipv4Addr, packet: Vec<u8>) -> SendOutcome {
        if let Some(mac) = direct_mac(next_hop) {
            return SendOutcome::Now { mac, packet };
        }
        if unresolvable(next_hop) {
            self.counters.invalid += 1;
            return SendOutcome::Refused(ArpError::InvalidAddress);
        }
        let cfg = self.config.clone();
        let existing = self.entries.get(&next_hop).map(|e| (e.state, e.mac));
        match existing {
            Some((ArpState::Reachable | ArpState::Stale | ArpState::Permanent, Some(mac))) => {
                SendOutcome::Now { mac, packet }
            }
            Some((ArpState::Failed, _)) => {
                // Asked again after failing: resolve afresh, but the request
                // clock carries over so the rate limit still holds.
                let out = self.modify(next_hop, |e| {
                    e.state = ArpState::Incomplete;
                    e.since = now;
                    e.requests = 0;
                    let dropped = e.enqueue(packet, cfg.queue_len);
                    let request = e.requests < cfg.max_requests && now >= e.next_request_at(&cfg);
                    if request {
                        e.requests = 1;
                        e.last_request = Some(now);
                    }
                    (dropped, request)
                });
                let (dropped, request) = out.unwrap_or((0, false));
                self.counters.queue_overflow += dropped;
                self.queued(next_hop, request)
            }
            Some(_) => {
                // Incomplete: wait for the pending resolution; poll retries.
                let dropped = self
                    .modify(next_hop, |e| e.enqueue(packet, cfg.queue_len))
                    .unwrap_or(0);
                self.counters.queue_overflow += dropped;
                SendOutcome::Queued { request: None }
            }
            None => {
                if !self.make_room() {
                    self.counters.table_full += 1;
                    return SendOutcome::Refused(ArpError::TableFull);
                }
                let request = cfg.max_requests > 0;
                let mut e = Entry {
                    mac: None,
                    state: ArpState::Incomplete,
                    learned: now,
                    confirmed: now,
                    since: now,
                    queue: VecDeque::new(),
                    requests: u32::from(request),
                    last_request: request.then_some(now),
                };
                self.counters.queue_overflow += e.enqueue(packet, cfg.queue_len);
                self.insert(next_hop, e);
                self.queued(next_hop, request)
            }
        }
    }

    fn queued(&mut self, ip: Ipv4Addr, request: bool) -> SendOutcome {
        if request {
            self.counters.requests += 1;
        }
        SendOutcome::Queued {
            request: request.then_some(ip),
        }
    }

    /// Learn from a received ARP request or reply (RFC 826 "Packet
    /// Reception"). Returns the queued packets to send if this resolved an
    /// incomplete entry.
    pub fn on_arp(
        &mut self,
        now: Instant,
        our_ip: Ipv4Addr,
        sender_ip: Ipv4Addr,
        sender_mac: MacAddr,
        target_ip: Ipv4Addr,
    ) -> Option<ArpAction> {
        // Sender IP 0 is an RFC 5227 probe and must not pollute caches; our
        // own IP from elsewhere is a conflict, handled by `ArpDefence`.
        if unresolvable(sender_ip) || sender_ip == our_ip || !sender_mac.is_unicast() {
            self.counters.invalid += 1;
            return None;
        }
        match self.entries.get(&sender_ip).map(|e| e.state) {
            // Permanent entries are never changed by learning.
            Some(ArpState::Permanent) => None,
            Some(before) => {
                // Merge: the sender is known, so update it whoever the ARP was for.
                let packets = self.modify(sender_ip, |e| {
                    if e.mac != Some(sender_mac) {
                        e.learned = now;
                    }
                    e.mac = Some(sender_mac);
                    e.state = ArpState::Reachable;
                    e.since = now;
                    e.confirmed = now;
                    e.requests = 0;
                    std::mem::take(&mut e.queue)
                });
                self.counters.updated += 1;
                let packets = packets?;
                if before != ArpState::Incomplete {
                    return None;
                }
                self.counters.resolved += 1;
                Some(ArpAction::Flush {
                    ip: sender_ip,
                    mac: sender_mac,
                    packets: packets.into(),
                })
            }
            None if target_ip == our_ip => {
                if !self.make_room() {
                    self.counters.table_full += 1;
                    return None;
                }
                self.insert(
                    sender_ip,
                    Entry {
                        mac: Some(sender_mac),
                        state: ArpState::Reachable,
                        learned: now,
                        confirmed: now,
                        since: now,
                        queue: VecDeque::new(),
                        requests: 0,
                        last_request: None,
                    },
                );
                self.counters.learned += 1;
                None
            }
            // Unknown sender, not for us (gratuitous ARPs included): ignore,
            // like Linux with arp_accept=0.
            None => {
                self.counters.not_learned += 1;
                None
            }
        }
    }

    /// Upper-layer advice that `ip` is reachable (RFC 1122 2.3.2.1), e.g. a
    /// TCP ACK for new data. Returns false if there is no resolved entry.
    pub fn confirm(&mut self, now: Instant, ip: Ipv4Addr) -> bool {
        let resolved = matches!(
            self.entries.get(&ip).map(|e| e.state),
            Some(ArpState::Reachable | ArpState::Stale)
        );
        if resolved {
            self.modify(ip, |e| {
                e.state = ArpState::Reachable;
                e.since = now;
                e.confirmed = now;
            });
        }
        resolved
    }

    /// Drive time: retries, failures, reachable -> stale and collection.
    pub fn poll(&mut self, now: Instant) -> Vec<ArpAction> {
        let mut actions = Vec::new();
        let max_requests = self.config.max_requests;
        while let Some((deadline, ip)) = self.entries.next_due(now) {
            let Some(entry) = self.entries.get(&ip) else {
                // Cannot happen (the index follows the map); drop the key so the loop ends.
                self.entries.drop_deadline(deadline, ip);
                continue;
            };
            match entry.state {
                ArpState::Reachable => {
                    self.modify(ip, |e| {
                        e.state = ArpState::Stale;
                        // The exact boundary, not `now`, so polling late does not stretch GC.
                        e.since = deadline;
                    });
                    self.counters.aged += 1;
                }
                ArpState::Stale | ArpState::Failed => {
                    self.remove_entry(ip);
                    self.counters.collected += 1;
                }
                ArpState::Incomplete if entry.requests < max_requests => {
                    self.modify(ip, |e| {
                        e.requests += 1;
                        // `now`, not `deadline`: a late poll must not shorten the next gap.
                        e.last_request = Some(now);
                    });
                    self.counters.requests += 1;
                    actions.push(ArpAction::Request(ip));
                }
                ArpState::Incomplete => {
                    // No reply one interval after the last request: give up
                    // and drop the queue (RFC 1122 2.3.2.2 only asks to queue).
                    let dropped = self
                        .modify(ip, |e| {
                            e.state = ArpState::Failed;
                            e.since = now;
                            std::mem::take(&mut e.queue).len()
                        })
                        .unwrap_or(0);
                    self.counters.failed += 1;
                    self.counters.queue_dropped += dropped as u64;
                    actions.push(ArpAction::Failed { ip, dropped });
                }
                ArpState::Permanent => {
                    self.entries.drop_deadline(deadline, ip);
                }
            }
        }
        actions
    }

    /// When `poll` next has work to do; `None` when nothing is timed.
    pub fn poll_at(&self) -> Option<Instant> {
        self.entries.poll_at()
    }

    /// Add or replace a permanent entry (`ip neigh replace ... nud permanent`).
    /// Returns the queued packets to send if `ip` was being resolved.
    pub fn add_permanent(
        &mut self,
        now: Instant,
        ip: Ipv4Addr,
        mac: MacAddr,
    ) -> Result<Option<ArpAction>, ArpError> {
        if unresolvable(ip) {
            return Err(ArpError::InvalidAddress);
        }
        match self.entries.get(&ip).map(|e| e.state) {
            Some(before) => {
                let packets = self
                    .modify(ip, |e| {
                        e.mac = Some(mac);
                        e.state = ArpState::Permanent;
                        e.learned = now;
                        e.confirmed = now;
                        e.since = now;
                        std::mem::take(&mut e.queue)
                    })
                    .unwrap_or_default();
                if before != ArpState::Incomplete {
                    return Ok(None);
                }
                self.counters.resolved += 1;
                Ok(Some(ArpAction::Flush {
                    ip,
                    mac,
                    packets: packets.into(),
                }))
            }
            None => {
                if !self.make_room() {
                    self.counters.table_full += 1;
                    return Err(ArpError::TableFull);
                }
                let e = Entry {
                    mac: Some(mac),
                    state: ArpState::Permanent,
                    learned: now,
                    confirmed: now,
                    since: now,
                    queue: VecDeque::new(),
                    requests: 0,
                    last_request: None,
                };
                self.insert(ip, e);
                Ok(None)
            }
        }
    }

    /// Remove the entry for `ip`, permanent or not (`ip neigh del`); false if absent.
    pub fn remove(&mut self, ip: Ipv4Addr) -> bool {
        self.remove_entry(ip).is_some()
    }

    /// Remove every non-permanent entry, like `ip neigh flush`; permanent
    /// entries survive. Returns how many were removed.
    pub fn flush(&mut self) -> usize {
        let victims: Vec<Ipv4Addr> = self
            .entries
            .iter()
            .filter(|(_, e)| e.state != ArpState::Permanent)
            .map(|(ip, _)| *ip)
            .collect();
        for ip in &victims {
            self.remove_entry(*ip);
        }
        victims.len()
    }

    /// Snapshots of all entries, sorted by IP, with ages relative to `now`.
    pub fn entries(&self, now: Instant) -> Vec<ArpEntry> {
        let mut out: Vec<ArpEntry> = self
            .entries
            .iter()
            .map(|(ip, e)| ArpEntry {
                ip: *ip,
                mac: e.mac,
                state: e.state,
                since_learned: now.since(e.learned),
                since_confirmed: now.since(e.confirmed),
                queued: e.queue.len(),
            })
            .collect();
        out.sort_by_key(|e| e.ip);
        out
    }

    /// Change an entry through `f`, keeping the indexes in step.
    fn modify<R>(&mut self, ip: Ipv4Addr, f: impl FnOnce(&mut Entry) -> R) -> Option<R> {
        self.entries.modify(&self.config, ip, f)
    }

    fn insert(&mut self, ip: Ipv4Addr, e: Entry) {
        // Callers insert only absent IPs; a replaced entry's queue is counted.
        if let Some(old) = self.entries.insert(&self.config, ip, e) {
            self.counters.queue_dropped += old.queue.len() as u64;
        }
    }

    fn remove_entry(&mut self, ip: Ipv4Addr) -> Option<Entry> {
        let e = self.entries.remove(&self.config, ip)?;
        self.counters.queue_dropped += e.queue.len() as u64;
        Some(e)
    }

    /// Evict until a new entry fits; false if only permanent entries remain.
    fn make_room(&mut self) -> bool {
        while self.entries.len() >= self.config.max_entries {
            let Some(victim) = self.entries.victim() else {
                return false;
            };
            self.remove_entry(victim);
            self.counters.evicted += 1;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const US: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    const A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
    const B: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 3);
    const MAC_A: MacAddr = MacAddr([2, 0, 0, 0, 0, 2]);
    const MAC_A2: MacAddr = MacAddr([2, 0, 0, 0, 0, 0x22]);
    const MAC_B: MacAddr = MacAddr([2, 0, 0, 0, 0, 3]);

    fn ms(n: u64) -> Instant {
        Instant::from_millis(n)
    }

    fn secs(n: u64) -> Instant {
        Instant::from_secs(n)
    }

    fn state(c: &ArpCache, ip: Ipv4Addr) -> Option<ArpState> {
        c.entries.get(&ip).map(|e| e.state)
    }

    /// A request from `ip` asking for us: creates or refreshes its entry.
    fn hear(c: &mut ArpCache, now: Instant, ip: Ipv4Addr, mac: MacAddr) -> Option<ArpAction> {
        c.on_arp(now, US, ip, mac, US)
    }

    /// Check the indexes agree with the map (the table's own check: every
    /// non-permanent entry filed once in each ordering).
    fn check_index(c: &ArpCache) {
        let evict: usize = c
            .entries
            .iter()
            .filter(|(_, e)| e.state != ArpState::Permanent)
            .count();
        let timed = c
            .entries
            .iter()
            .filter(|(_, e)| e.deadline(&c.config).is_some())
            .count();
        assert_eq!(timed, evict);
        c.entries.check(&c.config);
    }

    #[test]
    fn resolve_queue_then_reply_flushes_in_order() {
        let mut c = ArpCache::default();
        assert_eq!(
            c.send(ms(0), A, vec![1]),
            SendOutcome::Queued { request: Some(A) }
        );
        assert_eq!(state(&c, A), Some(ArpState::Incomplete));
        assert_eq!(
            c.send(ms(10), A, vec![2]),
            SendOutcome::Queued { request: None }
        );
        assert_eq!(c.lookup(A), None);
        // A reply (addressed to us) resolves it: reachable, queue flushed in order.
        let got = c.on_arp(ms(20), US, A, MAC_A, US);
        assert_eq!(
            got,
            Some(ArpAction::Flush {
                ip: A,
                mac: MAC_A,
                packets: vec![vec![1], vec![2]]
            })
        );
        assert_eq!(state(&c, A), Some(ArpState::Reachable));
        assert_eq!(
            c.send(ms(30), A, vec![3]),
            SendOutcome::Now {
                mac: MAC_A,
                packet: vec![3]
            }
        );
        assert_eq!(c.counters().resolved, 1);
        assert_eq!(c.counters().requests, 1);
        check_index(&c);
    }

    #[test]
    fn resolved_answers_what_send_would_send_now() {
        let mut c = ArpCache::default();
        assert_eq!(c.resolved(A), None);
        let _ = c.send(ms(0), A, vec![1]);
        assert_eq!(c.resolved(A), None, "incomplete");
        let _ = c.on_arp(ms(20), US, A, MAC_A, US);
        assert_eq!(c.resolved(A), Some(MAC_A));
        assert_eq!(
            c.resolved(Ipv4Addr::BROADCAST),
            Some(MacAddr::BROADCAST),
            "no ARP for the broadcast address"
        );
        // Asking does not queue, count or request anything.
        assert_eq!(c.resolved(B), None);
        assert_eq!(state(&c, B), None);
        assert_eq!(c.counters().requests, 1);
    }

    #[test]
    fn retries_once_per_second_three_in_all_then_fails() {
        let mut c = ArpCache::default();
        assert_eq!(
            c.send(ms(0), A, vec![1]),
            SendOutcome::Queued { request: Some(A) }
        );
        assert_eq!(c.poll_at(), Some(ms(1000)));
        assert!(c.poll(ms(999)).is_empty());
        // More packets do not trigger more requests.
        assert_eq!(
            c.send(ms(500), A, vec![2]),
            SendOutcome::Queued { request: None }
        );
        assert_eq!(c.poll(ms(1000)), vec![ArpAction::Request(A)]);
        assert!(c.poll(ms(1999)).is_empty());
        assert_eq!(c.poll(ms(2000)), vec![ArpAction::Request(A)]);
        assert_eq!(c.counters().requests, 3);
        assert!(c.poll(ms(2999)).is_empty());
        assert_eq!(state(&c, A), Some(ArpState::Incomplete));
        assert_eq!(
            c.poll(ms(3000)),
            vec![ArpAction::Failed { ip: A, dropped: 2 }]
        );
        assert_eq!(state(&c, A), Some(ArpState::Failed));
        assert_eq!(c.counters().failed, 1);
        assert_eq!(c.counters().queue_dropped, 2);
        assert_eq!(c.counters().requests, 3);
        check_index(&c);
    }

    #[test]
    fn late_poll_keeps_a_full_second_between_requests() {
        let mut c = ArpCache::default();
        c.send(ms(0), A, vec![1]);
        assert_eq!(c.poll(ms(1700)), vec![ArpAction::Request(A)]);
        assert_eq!(c.poll_at(), Some(ms(2700)));
        assert!(c.poll(ms(2699)).is_empty());
    }

    #[test]
    fn failed_entry_asked_again_respects_rate_limit() {
        let mut c = ArpCache::default();
        c.send(ms(0), A, vec![1]);
        c.poll(ms(1000));
        c.poll(ms(2000));
        c.poll(ms(3000));
        assert_eq!(state(&c, A), Some(ArpState::Failed));
        // Last request at 2000: asking again at 2500 would be too soon, but
        // failure happens only at 3000, so the first new request goes out now.
        assert_eq!(
            c.send(ms(3000), A, vec![2]),
            SendOutcome::Queued { request: Some(A) }
        );
        assert_eq!(state(&c, A), Some(ArpState::Incomplete));
        assert!(c.poll(ms(3999)).is_empty());
        assert_eq!(c.poll(ms(4000)), vec![ArpAction::Request(A)]);
        check_index(&c);
    }

    #[test]
    fn failed_entry_asked_again_within_a_second_waits() {
        // Force the situation with a failure right after a request by
        // failing with max_requests reached, then asking again.
        let mut c = ArpCache::default();
        c.send(ms(0), A, vec![1]);
        for t in [1000, 2000, 3000] {
            c.poll(ms(t));
        }
        // Rewind the request clock as if the last request were recent.
        c.modify(A, |e| e.last_request = Some(ms(2900)));
        assert_eq!(
            c.send(ms(3100), A, vec![2]),
            SendOutcome::Queued { request: None }
        );
        assert_eq!(c.poll_at(), Some(ms(3900)));
        assert!(c.poll(ms(3899)).is_empty());
        assert_eq!(c.poll(ms(3900)), vec![ArpAction::Request(A)]);
        check_index(&c);
    }

    #[test]
    fn failed_entry_learns_and_is_collected() {
        let mut c = ArpCache::default();
        c.send(ms(0), A, vec![1]);
        for t in [1000, 2000, 3000] {
            c.poll(ms(t));
        }
        assert_eq!(state(&c, A), Some(ArpState::Failed));
        assert_eq!(c.poll_at(), Some(ms(63_000)));
        assert!(c.poll(ms(62_999)).is_empty());
        assert_eq!(state(&c, A), Some(ArpState::Failed));
        c.poll(ms(63_000));
        assert_eq!(state(&c, A), None);
        assert_eq!(c.counters().collected, 1);

        // Failed -> reachable when the host finally answers; nothing to flush.
        c.send(ms(100_000), B, vec![1]);
        for t in [101_000, 102_000, 103_000] {
            c.poll(ms(t));
        }
        assert_eq!(c.on_arp(ms(104_000), US, B, MAC_B, US), None);
        assert_eq!(state(&c, B), Some(ArpState::Reachable));
        check_index(&c);
    }

    #[test]
    fn queue_bound_keeps_the_latest() {
        let mut c = ArpCache::default();
        for p in 1..=5u8 {
            c.send(ms(0), A, vec![p]);
        }
        assert_eq!(c.counters().queue_overflow, 2);
        let got = hear(&mut c, ms(1), A, MAC_A);
        assert_eq!(
            got,
            Some(ArpAction::Flush {
                ip: A,
                mac: MAC_A,
                packets: vec![vec![3], vec![4], vec![5]]
            })
        );
    }

    #[test]
    fn reachable_turns_stale_at_the_boundary_then_collected() {
        let mut c = ArpCache::default();
        c.send(ms(0), A, vec![1]);
        hear(&mut c, ms(500), A, MAC_A);
        assert_eq!(c.poll_at(), Some(ms(60_500)));
        c.poll(ms(60_499));
        assert_eq!(state(&c, A), Some(ArpState::Reachable));
        c.poll(ms(60_500));
        assert_eq!(state(&c, A), Some(ArpState::Stale));
        assert_eq!(c.counters().aged, 1);
        // Stale is still usable.
        assert_eq!(c.lookup(A), Some(MAC_A));
        c.poll(ms(120_499));
        assert_eq!(state(&c, A), Some(ArpState::Stale));
        c.poll(ms(120_500));
        assert_eq!(state(&c, A), None);
        assert_eq!(c.poll_at(), None);
        check_index(&c);
    }

    #[test]
    fn late_poll_does_not_stretch_stale_lifetime() {
        let mut c = ArpCache::default();
        hear(&mut c, ms(0), A, MAC_A);
        c.confirm(ms(0), A);
        // One very late poll: the entry became stale at 60 s and is collected at 120 s.
        c.poll(ms(120_000));
        assert_eq!(state(&c, A), None);
    }

    #[test]
    fn stale_refreshed_by_arp_or_confirm_becomes_reachable() {
        let mut c = ArpCache::default();
        hear(&mut c, ms(0), A, MAC_A);
        assert_eq!(state(&c, A), Some(ArpState::Reachable));
        c.poll(ms(60_000));
        assert_eq!(state(&c, A), Some(ArpState::Stale));
        assert!(c.confirm(ms(60_010), A));
        assert_eq!(state(&c, A), Some(ArpState::Reachable));
        c.poll(ms(120_010));
        assert_eq!(state(&c, A), Some(ArpState::Stale));
        hear(&mut c, ms(130_000), A, MAC_A);
        assert_eq!(state(&c, A), Some(ArpState::Reachable));
        assert!(!c.confirm(ms(0), B));
        check_index(&c);
    }

    #[test]
    fn merge_rule() {
        let mut c = ArpCache::default();
        // Gratuitous ARP (sender == target) from an unknown host: no entry.
        assert_eq!(c.on_arp(ms(0), US, A, MAC_A, A), None);
        assert_eq!(state(&c, A), None);
        // A request for someone else from an unknown host: no entry.
        c.on_arp(ms(0), US, A, MAC_A, B);
        assert_eq!(state(&c, A), None);
        assert_eq!(c.counters().not_learned, 2);
        // Addressed to us: created.
        c.on_arp(ms(0), US, A, MAC_A, US);
        assert_eq!(c.lookup(A), Some(MAC_A));
        assert_eq!(c.counters().learned, 1);
        // Known host, gratuitous with a new MAC: updated.
        c.on_arp(secs(5), US, A, MAC_A2, A);
        assert_eq!(c.lookup(A), Some(MAC_A2));
        assert_eq!(state(&c, A), Some(ArpState::Reachable));
        let e = &c.entries(secs(6))[0];
        assert_eq!(e.since_learned, Duration::from_secs(1));
        // Known host, request not for us: updated too.
        c.on_arp(secs(7), US, A, MAC_A, B);
        assert_eq!(c.lookup(A), Some(MAC_A));
        assert_eq!(c.counters().updated, 2);
        // Permanent: untouched by any learning.
        c.add_permanent(secs(8), B, MAC_B).unwrap();
        c.on_arp(secs(9), US, B, MAC_A2, US);
        c.on_arp(secs(9), US, B, MAC_A2, B);
        assert_eq!(c.lookup(B), Some(MAC_B));
        assert_eq!(state(&c, B), Some(ArpState::Permanent));
        check_index(&c);
    }

    #[test]
    fn invalid_senders_are_not_learned() {
        let mut c = ArpCache::default();
        // RFC 5227 probe (sender IP 0), our own IP, group MACs.
        c.on_arp(ms(0), US, Ipv4Addr::UNSPECIFIED, MAC_A, US);
        c.on_arp(ms(0), US, US, MAC_A, US);
        c.on_arp(ms(0), US, A, MacAddr::BROADCAST, US);
        c.on_arp(ms(0), US, A, MacAddr::ZERO, US);
        c.on_arp(ms(0), US, Ipv4Addr::new(224, 0, 0, 1), MAC_A, US);
        assert!(c.is_empty());
        assert_eq!(c.counters().invalid, 5);
    }

    #[test]
    fn group_and_invalid_next_hops() {
        let mut c = ArpCache::default();
        assert_eq!(
            c.send(ms(0), Ipv4Addr::BROADCAST, vec![]),
            SendOutcome::Now {
                mac: MacAddr::BROADCAST,
                packet: vec![]
            }
        );
        assert_eq!(
            c.send(ms(0), Ipv4Addr::new(239, 129, 2, 3), vec![]),
            SendOutcome::Now {
                mac: MacAddr([0x01, 0x00, 0x5e, 0x01, 0x02, 0x03]),
                packet: vec![]
            }
        );
        assert_eq!(
            c.send(ms(0), Ipv4Addr::UNSPECIFIED, vec![]),
            SendOutcome::Refused(ArpError::InvalidAddress)
        );
        assert!(c.is_empty());
    }

    #[test]
    fn permanent_entries() {
        let mut c = ArpCache::default();
        c.send(ms(0), A, vec![7]);
        // Adding a permanent entry for a pending IP flushes its queue.
        assert_eq!(
            c.add_permanent(ms(1), A, MAC_A),
            Ok(Some(ArpAction::Flush {
                ip: A,
                mac: MAC_A,
                packets: vec![vec![7]]
            }))
        );
        assert_eq!(c.poll_at(), None);
        assert!(c.poll(secs(1_000_000)).is_empty());
        assert_eq!(state(&c, A), Some(ArpState::Permanent));
        assert_eq!(
            c.add_permanent(ms(1), Ipv4Addr::LOCALHOST, MAC_A),
            Err(ArpError::InvalidAddress)
        );
        check_index(&c);
    }

    #[test]
    fn admin_remove_flush_and_snapshots() {
        let mut c = ArpCache::default();
        c.add_permanent(ms(0), A, MAC_A).unwrap();
        hear(&mut c, ms(0), B, MAC_B);
        c.send(ms(1000), Ipv4Addr::new(10, 0, 0, 9), vec![1, 2]);
        let snap = c.entries(ms(3000));
        assert_eq!(snap.len(), 3);
        assert_eq!(snap[0].ip, A);
        assert_eq!(snap[0].state, ArpState::Permanent);
        assert_eq!(snap[2].mac, None);
        assert_eq!(snap[2].queued, 1);
        assert_eq!(snap[1].since_confirmed, Duration::from_secs(3));
        let json = serde_json::to_string(&snap[1]).unwrap();
        assert!(json.contains("\"mac\":\"02:00:00:00:00:03\""), "{json}");
        assert!(json.contains("\"state\":\"reachable\""), "{json}");
        assert!(json.contains("\"since_confirmed_ms\":3000"), "{json}");

        // `ip neigh flush` semantics: permanent entries survive.
        assert_eq!(c.flush(), 2);
        assert_eq!(c.len(), 1);
        assert_eq!(c.counters().queue_dropped, 1);
        assert!(c.remove(A));
        assert!(!c.remove(A));
        assert!(c.is_empty());
        check_index(&c);
    }

    #[test]
    fn eviction_order() {
        let cfg = ArpCacheConfig {
            max_entries: 5,
            ..ArpCacheConfig::default()
        };
        let mut c = ArpCache::new(cfg);
        let ip = |n: u8| Ipv4Addr::new(10, 0, 1, n);
        let mac = |n: u8| MacAddr([2, 0, 0, 0, 1, n]);
        c.add_permanent(ms(0), ip(1), mac(1)).unwrap();
        // 2 turns stale at 60 s; 3 fails after its third request (3 s).
        hear(&mut c, ms(0), ip(2), mac(2));
        c.send(ms(0), ip(3), vec![]);
        for t in [1000, 2000, 3000, 60_000] {
            c.poll(ms(t));
        }
        assert_eq!(state(&c, ip(2)), Some(ArpState::Stale));
        assert_eq!(state(&c, ip(3)), Some(ArpState::Failed));
        // 4 reachable, 5 incomplete: the table is full.
        hear(&mut c, ms(60_000), ip(4), mac(4));
        c.send(ms(60_000), ip(5), vec![]);
        assert_eq!(c.len(), 5);
        // Each newcomer evicts: failed, then stale, then incomplete, then
        // the least recently confirmed reachable; never the permanent one.
        for (n, evicted) in [(6, 3), (7, 2), (8, 5), (9, 4), (10, 6)] {
            hear(&mut c, ms(60_000 + u64::from(n) * 100), ip(n), mac(n));
            assert_eq!(state(&c, ip(evicted)), None, "newcomer {n}");
            assert_eq!(c.len(), 5);
        }
        assert_eq!(state(&c, ip(1)), Some(ArpState::Permanent));
        check_index(&c);

        // Every slot permanent: newcomers are refused and counted.
        let mut full = ArpCache::new(ArpCacheConfig {
            max_entries: 1,
            ..ArpCacheConfig::default()
        });
        full.add_permanent(ms(0), ip(1), mac(1)).unwrap();
        hear(&mut full, ms(1), ip(2), mac(2));
        assert_eq!(state(&full, ip(2)), None);
        assert_eq!(full.counters().table_full, 1);
    }

    #[test]
    fn all_permanent_refuses_and_counts() {
        let cfg = ArpCacheConfig {
            max_entries: 2,
            ..ArpCacheConfig::default()
        };
        let mut c = ArpCache::new(cfg);
        c.add_permanent(ms(0), A, MAC_A).unwrap();
        c.add_permanent(ms(0), B, MAC_B).unwrap();
        let x = Ipv4Addr::new(10, 0, 0, 9);
        hear(&mut c, ms(1), x, MAC_A2);
        assert_eq!(
            c.send(ms(1), x, vec![1]),
            SendOutcome::Refused(ArpError::TableFull)
        );
        assert_eq!(c.add_permanent(ms(1), x, MAC_A2), Err(ArpError::TableFull));
        assert_eq!(c.counters().table_full, 3);
        assert_eq!(c.len(), 2);
    }

    #[test]
    fn flood_of_random_senders_stays_bounded() {
        let cfg = ArpCacheConfig::default();
        let max = cfg.max_entries;
        let mut c = ArpCache::new(cfg);
        for n in 0..16u8 {
            c.add_permanent(ms(0), Ipv4Addr::new(10, 1, 0, n), MAC_A)
                .unwrap();
        }
        // A legitimate reachable neighbour and a pending resolution.
        c.send(ms(0), A, vec![1]);
        hear(&mut c, ms(1), A, MAC_A);
        c.send(ms(2), B, vec![2]);
        // xorshift: deterministic "random" senders.
        let mut x: u32 = 0x1234_5678;
        for i in 0..100_000u64 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let ip = Ipv4Addr::from(x);
            let mac = MacAddr([
                2,
                0,
                (x >> 24) as u8,
                (x >> 16) as u8,
                (x >> 8) as u8,
                x as u8,
            ]);
            c.on_arp(ms(10 + i / 100), US, ip, mac, US);
            assert!(c.len() <= max);
        }
        assert_eq!(c.len(), max);
        for n in 0..16u8 {
            assert_eq!(
                state(&c, Ipv4Addr::new(10, 1, 0, n)),
                Some(ArpState::Permanent)
            );
        }
        // The newest sender is in; the oldest unconfirmed ones made room.
        assert!(c.lookup(Ipv4Addr::from(x)).is_some());
        check_index(&c);
    }

    #[test]
    fn zero_sized_config_does_not_panic_or_hang() {
        let cfg = ArpCacheConfig {
            reachable_time: Duration::ZERO,
            gc_time: Duration::ZERO,
            max_entries: 1,
            queue_len: 0,
            retrans_time: Duration::ZERO,
            max_requests: 0,
        };
        let mut c = ArpCache::new(cfg);
        assert_eq!(
            c.send(ms(0), A, vec![1]),
            SendOutcome::Queued { request: None }
        );
        assert_eq!(c.counters().queue_overflow, 1);
        assert_eq!(c.poll(ms(0)), vec![ArpAction::Failed { ip: A, dropped: 0 }]);
        hear(&mut c, ms(1), A, MAC_A);
        c.poll(ms(1));
        assert!(c.is_empty());
        let cfg0 = ArpCacheConfig {
            max_entries: 0,
            ..ArpCacheConfig::default()
        };
        let mut c0 = ArpCache::new(cfg0);
        assert_eq!(
            c0.send(ms(0), A, vec![1]),
            SendOutcome::Refused(ArpError::TableFull)
        );
    }
}
