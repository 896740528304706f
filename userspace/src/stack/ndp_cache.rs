//! The IPv6 neighbour cache: RFC 4861 7.3 Neighbor Unreachability Detection
//! with a bounded queue while resolving and a bounded table, as a pure
//! state machine of the same shape as the ARP cache (`arp_cache.rs`):
//! time is passed in, `poll(now)` runs the timers and returns
//! [`NdpAction`]s the caller turns into frames, `poll_at()` says when it
//! next needs to run.
//!
//! The table with its deadline and eviction orderings is the one the ARP
//! cache is built on (`neigh_table.rs`); the states differ (ARP has no
//! DELAY/PROBE: RFC 826 has no unicast probe), so each protocol keeps its
//! own state machine over it, with the same eviction order, queue bound
//! and snapshot rows.
//!
//! Lifecycle of an entry (RFC 4861 7.3.3, Appendix C):
//! - `send` to an unknown address creates it INCOMPLETE (packet queued, a
//!   Neighbor Solicitation to the solicited-node group); retried every
//!   `retrans_time`, `max_multicast_solicit` in all, then FAILED, its queue
//!   handed back for ICMPv6 address unreachable (RFC 4861 7.2.2).
//! - A solicited advert makes it REACHABLE; a solicitation with a source
//!   link-layer option, or an unsolicited advert, makes it STALE with the
//!   address given (7.2.3, 7.2.5); either flushes the queue.
//! - REACHABLE turns STALE `reachable_time` after the last confirmation.
//! - Sending to a STALE entry makes it DELAY; after `delay_first_probe`
//!   without confirmation it becomes PROBE: unicast solicitations every
//!   `retrans_time`, `max_unicast_solicit` in all, then FAILED.
//! - STALE and FAILED entries are collected `gc_time` after entering that
//!   state. PERMANENT entries come only from `add_permanent`.
//!
//! Eviction when the table is full (a new entry needs a slot): FAILED, then
//! STALE, then INCOMPLETE, then DELAY/PROBE, each oldest first, then the
//! least recently confirmed REACHABLE; never PERMANENT (then the new entry
//! is refused, `table_full`).

use std::collections::VecDeque;
use std::fmt;
use std::net::Ipv6Addr;
use std::time::Duration;

use serde::{Serialize, Serializer};

use super::neigh_table::{NeighTable, Slot};
use super::time::Instant;
use crate::wire::MacAddr;

/// Tunables of the cache; `Default` gives RFC 4861 10's constants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NdpCacheConfig {
    /// REACHABLE_TIME (30 s; not randomised).
    pub reachable_time: Duration,
    /// RETRANS_TIMER (1 s).
    pub retrans_time: Duration,
    /// DELAY_FIRST_PROBE_TIME (5 s).
    pub delay_first_probe: Duration,
    /// MAX_MULTICAST_SOLICIT (3).
    pub max_multicast_solicit: u32,
    /// MAX_UNICAST_SOLICIT (3).
    pub max_unicast_solicit: u32,
    /// How long STALE and FAILED entries live (60 s, Linux's gc_stale_time).
    pub gc_time: Duration,
    /// Entries at most, permanent ones included (1024).
    pub max_entries: usize,
    /// Packets queued per INCOMPLETE entry, oldest dropped first (3).
    pub queue_len: usize,
}

impl Default for NdpCacheConfig {
    fn default() -> Self {
        NdpCacheConfig {
            reachable_time: Duration::from_secs(30),
            retrans_time: Duration::from_secs(1),
            delay_first_probe: Duration::from_secs(5),
            max_multicast_solicit: 3,
            max_unicast_solicit: 3,
            gc_time: Duration::from_secs(60),
            max_entries: 1024,
            queue_len: 3,
        }
    }
}

/// RFC 4861 7.3.2's states (and Linux's FAILED and PERMANENT).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NdpState {
    Incomplete,
    Reachable,
    Stale,
    Delay,
    Probe,
    Failed,
    Permanent,
}

impl fmt::Display for NdpState {
    /// As `ip -6 neigh` prints them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NdpState::Incomplete => "INCOMPLETE",
            NdpState::Reachable => "REACHABLE",
            NdpState::Stale => "STALE",
            NdpState::Delay => "DELAY",
            NdpState::Probe => "PROBE",
            NdpState::Failed => "FAILED",
            NdpState::Permanent => "PERMANENT",
        })
    }
}

/// What the caller must send or report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NdpAction {
    /// A Neighbor Solicitation for `target`: to its solicited-node group
    /// (`unicast` None, resolution) or to the cached address (NUD probe).
    Solicit {
        target: Ipv6Addr,
        unicast: Option<MacAddr>,
    },
    /// `target` resolved: send its queued packets to `mac`, oldest first.
    Flush { mac: MacAddr, packets: Vec<Vec<u8>> },
    /// Resolution failed: these queued packets are dropped (RFC 4861 7.2.2
    /// asks for address unreachable about each).
    Unreachable {
        target: Ipv6Addr,
        packets: Vec<Vec<u8>>,
    },
}

/// The result of [`NdpCache::send`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SendOutcome {
    /// Resolved: send it now.
    Now { mac: MacAddr, packet: Vec<u8> },
    /// Queued; send a multicast solicitation for `solicit` if given.
    Queued { solicit: Option<Ipv6Addr> },
    /// No slot for the destination (all permanent): dropped.
    Refused,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NdpError {
    TableFull,
}

impl fmt::Display for NdpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the neighbour table is full of permanent entries")
    }
}

impl std::error::Error for NdpError {}

/// Counters of the cache, monotonic.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(default)]
pub struct NdpCounters {
    /// Multicast solicitations for resolution.
    pub solicits: u64,
    /// Unicast solicitations of PROBE.
    pub probes: u64,
    /// INCOMPLETE entries resolved.
    pub resolved: u64,
    /// Resolutions or probes that got no answer.
    pub failed: u64,
    /// Queued packets dropped for a newer one.
    pub queue_overflow: u64,
    /// Queued packets dropped when resolution failed.
    pub queue_dropped: u64,
    /// Entries created from a solicitation or advert.
    pub learned: u64,
    /// Link-layer addresses changed.
    pub updated: u64,
    /// Adverts for no entry, or without the address an INCOMPLETE one needs.
    pub adverts_ignored: u64,
    /// REACHABLE entries that turned STALE.
    pub aged: u64,
    /// STALE and FAILED entries collected.
    pub collected: u64,
    /// Entries evicted to make room.
    pub evicted: u64,
    /// New entries refused: every slot permanent.
    pub table_full: u64,
}

/// One row of `xdpstack neigh`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NdpEntry {
    pub ip: Ipv6Addr,
    #[serde(serialize_with = "ser_mac")]
    pub mac: Option<MacAddr>,
    pub state: NdpState,
    pub router: bool,
    /// Since the entry was created.
    #[serde(rename = "since_learned_ms", serialize_with = "ser_ms")]
    pub since_learned: Duration,
    /// Since the neighbour was last confirmed reachable.
    #[serde(rename = "since_confirmed_ms", serialize_with = "ser_ms")]
    pub since_confirmed: Duration,
    pub queued: usize,
}

fn ser_mac<S: Serializer>(mac: &Option<MacAddr>, s: S) -> Result<S::Ok, S::Error> {
    match mac {
        Some(m) => s.serialize_str(&m.to_string()),
        None => s.serialize_none(),
    }
}

fn ser_ms<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_millis() as u64)
}

#[derive(Clone, Debug)]
struct Entry {
    state: NdpState,
    mac: Option<MacAddr>,
    queue: VecDeque<Vec<u8>>,
    /// Solicitations sent in this INCOMPLETE or PROBE phase.
    sent: u32,
    /// When `poll` next acts on this entry.
    timer: Option<Instant>,
    learned: Instant,
    confirmed: Instant,
    /// When the entry entered its state.
    since: Instant,
    router: bool,
}

impl Entry {
    fn new(now: Instant, state: NdpState, mac: Option<MacAddr>) -> Entry {
        Entry {
            state,
            mac,
            queue: VecDeque::new(),
            sent: 0,
            timer: None,
            learned: now,
            confirmed: now,
            since: now,
            router: false,
        }
    }
}

impl Slot for Entry {
    type Config = NdpCacheConfig;

    fn deadline(&self, _: &NdpCacheConfig) -> Option<Instant> {
        self.timer
    }

    /// Which entries go first when room is needed (lower first).
    fn evict_rank(&self) -> Option<(u8, Instant)> {
        Some(match self.state {
            NdpState::Failed => (0, self.since),
            NdpState::Stale => (1, self.since),
            NdpState::Incomplete => (2, self.since),
            NdpState::Delay | NdpState::Probe => (3, self.since),
            NdpState::Reachable => (4, self.confirmed),
            NdpState::Permanent => return None,
        })
    }
}

/// The IPv6 neighbour cache.
#[derive(Debug)]
pub struct NdpCache {
    cfg: NdpCacheConfig,
    /// The entries, with their deadline and eviction orderings.
    entries: NeighTable<Ipv6Addr, Entry>,
    counters: NdpCounters,
}

impl Default for NdpCache {
    fn default() -> Self {
        NdpCache::new(NdpCacheConfig::default())
    }
}

/// Addresses no neighbour can have: never cached or resolved.
fn unresolvable(ip: Ipv6Addr) -> bool {
    ip.is_unspecified() || ip.is_multicast() || ip.is_loopback()
}

impl NdpCache {
    pub fn new(mut cfg: NdpCacheConfig) -> NdpCache {
        // A zero interval would make poll spin.
        cfg.retrans_time = cfg.retrans_time.max(Duration::from_millis(1));
        cfg.max_multicast_solicit = cfg.max_multicast_solicit.max(1);
        cfg.max_unicast_solicit = cfg.max_unicast_solicit.max(1);
        NdpCache {
            cfg,
            entries: NeighTable::default(),
            counters: NdpCounters::default(),
        }
    }

    pub fn config(&self) -> &NdpCacheConfig {
        &self.cfg
    }

    pub fn counters(&self) -> &NdpCounters {
        &self.counters
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn state(&self, ip: Ipv6Addr) -> Option<NdpState> {
        self.entries.get(&ip).map(|e| e.state)
    }

    /// The cached address, whatever the state (no side effect).
    pub fn lookup(&self, ip: Ipv6Addr) -> Option<MacAddr> {
        self.entries.get(&ip).and_then(|e| e.mac)
    }

    /// The address to send to `ip` now, if known; sending to a STALE entry
    /// starts NUD (STALE -> DELAY, RFC 4861 7.3.3).
    pub fn resolve(&mut self, now: Instant, ip: Ipv6Addr) -> Option<MacAddr> {
        let e = self.entries.get(&ip)?;
        let mac = e.mac?;
        match e.state {
            NdpState::Stale => {
                let at = now + self.cfg.delay_first_probe;
                self.set(ip, |e| {
                    e.state = NdpState::Delay;
                    e.since = now;
                    e.timer = Some(at);
                });
                Some(mac)
            }
            NdpState::Reachable | NdpState::Delay | NdpState::Probe | NdpState::Permanent => {
                Some(mac)
            }
            NdpState::Incomplete | NdpState::Failed => None,
        }
    }

    /// A packet for neighbour `ip`: sent now if resolved, else queued (the
    /// one owned copy) with a solicitation when one is due.
    pub fn send(&mut self, now: Instant, ip: Ipv6Addr, packet: Vec<u8>) -> SendOutcome {
        if unresolvable(ip) {
            return SendOutcome::Refused;
        }
        if let Some(mac) = self.resolve(now, ip) {
            return SendOutcome::Now { mac, packet };
        }
        let limit = self.cfg.queue_len;
        let retrans = self.cfg.retrans_time;
        match self.entries.get(&ip).map(|e| e.state) {
            Some(NdpState::Incomplete) => {
                let dropped = self.set(ip, |e| enqueue(&mut e.queue, packet, limit));
                self.counters.queue_overflow += dropped.unwrap_or(0);
                SendOutcome::Queued { solicit: None }
            }
            // FAILED, or new: resolution starts (again).
            state => {
                if state.is_none() && !self.make_room() {
                    self.counters.table_full += 1;
                    return SendOutcome::Refused;
                }
                let mut e = Entry::new(now, NdpState::Incomplete, None);
                if let Some(old) = self.entries.get(&ip) {
                    e.learned = old.learned;
                }
                e.sent = 1;
                e.timer = Some(now + retrans);
                self.counters.queue_overflow += enqueue(&mut e.queue, packet, limit);
                self.insert(ip, e);
                self.counters.solicits += 1;
                SendOutcome::Queued { solicit: Some(ip) }
            }
        }
    }

    /// A Neighbor Solicitation from `src` carrying its link-layer address
    /// (RFC 4861 7.2.3): the entry becomes STALE with that address unless
    /// it already holds it. A DAD probe (source ::) teaches nothing.
    pub fn on_solicit(
        &mut self,
        now: Instant,
        src: Ipv6Addr,
        lladdr: MacAddr,
    ) -> Option<NdpAction> {
        if unresolvable(src) || !lladdr.is_unicast() {
            return None;
        }
        self.learn(now, src, lladdr)
    }

    /// A Neighbor Advertisement for `target` (RFC 4861 7.2.5).
    pub fn on_advert(
        &mut self,
        now: Instant,
        target: Ipv6Addr,
        lladdr: Option<MacAddr>,
        solicited: bool,
        override_: bool,
        router: bool,
    ) -> Option<NdpAction> {
        let lladdr = lladdr.filter(|m| m.is_unicast());
        let Some(e) = self.entries.get(&target) else {
            // No entry: nothing to update (7.2.5, first paragraph).
            self.counters.adverts_ignored += 1;
            return None;
        };
        let reachable_until = now + self.cfg.reachable_time;
        let gc = now + self.cfg.gc_time;
        match e.state {
            NdpState::Permanent => None,
            NdpState::Incomplete | NdpState::Failed => {
                let Some(mac) = lladdr else {
                    self.counters.adverts_ignored += 1;
                    return None;
                };
                let packets = self.set(target, |e| {
                    e.mac = Some(mac);
                    e.router = router;
                    e.since = now;
                    if solicited {
                        e.state = NdpState::Reachable;
                        e.confirmed = now;
                        e.timer = Some(reachable_until);
                    } else {
                        e.state = NdpState::Stale;
                        e.timer = Some(gc);
                    }
                    e.queue.drain(..).collect::<Vec<_>>()
                })?;
                self.counters.resolved += 1;
                (!packets.is_empty()).then_some(NdpAction::Flush { mac, packets })
            }
            state => {
                let differs = lladdr.is_some_and(|m| Some(m) != e.mac);
                if !override_ && differs {
                    // Keep the address; a REACHABLE one is no longer sure.
                    if state == NdpState::Reachable {
                        self.set(target, |e| {
                            e.state = NdpState::Stale;
                            e.since = now;
                            e.timer = Some(gc);
                        });
                    }
                    return None;
                }
                if differs {
                    self.counters.updated += 1;
                }
                self.set(target, |e| {
                    if let Some(m) = lladdr {
                        e.mac = Some(m);
                    }
                    e.router = router;
                    if solicited {
                        e.state = NdpState::Reachable;
                        e.confirmed = now;
                        e.since = now;
                        e.timer = Some(reachable_until);
                    } else if differs {
                        e.state = NdpState::Stale;
                        e.since = now;
                        e.timer = Some(gc);
                    }
                });
                None
            }
        }
    }

    /// Forward progress seen by an upper layer (RFC 4861 7.3.1): REACHABLE.
    pub fn confirm(&mut self, now: Instant, ip: Ipv6Addr) -> bool {
        let until = now + self.cfg.reachable_time;
        self.set(ip, |e| {
            if e.mac.is_none() || e.state == NdpState::Permanent {
                return false;
            }
            e.state = NdpState::Reachable;
            e.confirmed = now;
            e.since = now;
            e.timer = Some(until);
            true
        })
        .unwrap_or(false)
    }

    /// Runs every timer due at `now`.
    pub fn poll(&mut self, now: Instant) -> Vec<NdpAction> {
        let mut out = Vec::new();
        while let Some((at, ip)) = self.entries.next_due(now) {
            let Some(state) = self.state(ip) else {
                self.entries.drop_deadline(at, ip);
                continue;
            };
            let cfg = self.cfg.clone();
            match state {
                NdpState::Incomplete | NdpState::Probe => {
                    let max = if state == NdpState::Incomplete {
                        cfg.max_multicast_solicit
                    } else {
                        cfg.max_unicast_solicit
                    };
                    let sent = self.entries.get(&ip).map_or(0, |e| e.sent);
                    if sent >= max {
                        self.counters.failed += 1;
                        let packets = self
                            .set(ip, |e| {
                                e.state = NdpState::Failed;
                                e.since = at;
                                e.timer = Some(at + cfg.gc_time);
                                e.queue.drain(..).collect::<Vec<_>>()
                            })
                            .unwrap_or_default();
                        if !packets.is_empty() {
                            self.counters.queue_dropped += packets.len() as u64;
                            out.push(NdpAction::Unreachable {
                                target: ip,
                                packets,
                            });
                        }
                    } else {
                        // Retries keep their spacing even if poll runs late.
                        let next = now + cfg.retrans_time;
                        let unicast = self.set(ip, |e| {
                            e.sent += 1;
                            e.timer = Some(next);
                            e.mac.filter(|_| e.state == NdpState::Probe)
                        });
                        let unicast = unicast.flatten();
                        if unicast.is_some() {
                            self.counters.probes += 1;
                        } else {
                            self.counters.solicits += 1;
                        }
                        out.push(NdpAction::Solicit {
                            target: ip,
                            unicast,
                        });
                    }
                }
                NdpState::Reachable => {
                    self.counters.aged += 1;
                    self.set(ip, |e| {
                        e.state = NdpState::Stale;
                        e.since = at;
                        e.timer = Some(at + cfg.gc_time);
                    });
                }
                NdpState::Delay => {
                    // DELAY_FIRST_PROBE_TIME passed unconfirmed: probe.
                    let mac = self.set(ip, |e| {
                        e.state = NdpState::Probe;
                        e.since = at;
                        e.sent = 1;
                        e.timer = Some(now + cfg.retrans_time);
                        e.mac
                    });
                    self.counters.probes += 1;
                    out.push(NdpAction::Solicit {
                        target: ip,
                        unicast: mac.flatten(),
                    });
                }
                NdpState::Stale | NdpState::Failed => {
                    self.counters.collected += 1;
                    self.remove(ip);
                }
                NdpState::Permanent => {
                    self.set(ip, |e| e.timer = None);
                }
            }
        }
        out
    }

    /// When `poll` next has something to do.
    pub fn poll_at(&self) -> Option<Instant> {
        self.entries.poll_at()
    }

    /// `xdpstack neigh add`: a permanent entry; flushes a queue waiting for it.
    pub fn add_permanent(
        &mut self,
        now: Instant,
        ip: Ipv6Addr,
        mac: MacAddr,
    ) -> Result<Option<NdpAction>, NdpError> {
        let queue = match self
            .entries
            .modify(&self.cfg, ip, |e| std::mem::take(&mut e.queue))
        {
            Some(q) => q,
            None => {
                if !self.make_room() {
                    self.counters.table_full += 1;
                    return Err(NdpError::TableFull);
                }
                VecDeque::new()
            }
        };
        self.insert(ip, Entry::new(now, NdpState::Permanent, Some(mac)));
        Ok((!queue.is_empty()).then(|| NdpAction::Flush {
            mac,
            packets: queue.into(),
        }))
    }

    pub fn remove(&mut self, ip: Ipv6Addr) -> bool {
        self.entries.remove(&self.cfg, ip).is_some()
    }

    /// Removes every entry but the permanent ones; returns how many went.
    pub fn flush(&mut self) -> usize {
        let gone: Vec<Ipv6Addr> = self
            .entries
            .iter()
            .filter(|(_, e)| e.state != NdpState::Permanent)
            .map(|(ip, _)| *ip)
            .collect();
        for ip in &gone {
            self.remove(*ip);
        }
        gone.len()
    }

    /// Every entry, sorted by address, ages relative to `now`.
    pub fn entries(&self, now: Instant) -> Vec<NdpEntry> {
        let mut v: Vec<NdpEntry> = self
            .entries
            .iter()
            .map(|(ip, e)| NdpEntry {
                ip: *ip,
                mac: e.mac,
                state: e.state,
                router: e.router,
                since_learned: now.since(e.learned),
                since_confirmed: now.since(e.confirmed),
                queued: e.queue.len(),
            })
            .collect();
        v.sort_by_key(|e| e.ip);
        v
    }

    /// RFC 4861 7.2.3: the sender's address as STALE, unless already held.
    fn learn(&mut self, now: Instant, ip: Ipv6Addr, mac: MacAddr) -> Option<NdpAction> {
        let gc = now + self.cfg.gc_time;
        match self.entries.get(&ip) {
            None => {
                if !self.make_room() {
                    self.counters.table_full += 1;
                    return None;
                }
                let mut e = Entry::new(now, NdpState::Stale, Some(mac));
                e.timer = Some(gc);
                self.insert(ip, e);
                self.counters.learned += 1;
                None
            }
            Some(e) if e.state == NdpState::Permanent => None,
            Some(e) if e.mac == Some(mac) && e.state != NdpState::Failed => None,
            Some(e) => {
                let was_incomplete = matches!(e.state, NdpState::Incomplete | NdpState::Failed);
                if !was_incomplete {
                    self.counters.updated += 1;
                }
                let packets = self.set(ip, |e| {
                    e.mac = Some(mac);
                    e.state = NdpState::Stale;
                    e.since = now;
                    e.timer = Some(gc);
                    e.queue.drain(..).collect::<Vec<_>>()
                })?;
                if was_incomplete {
                    self.counters.resolved += 1;
                }
                (!packets.is_empty()).then_some(NdpAction::Flush { mac, packets })
            }
        }
    }

    /// Changes an entry through `f`, keeping the table's orderings right.
    fn set<R>(&mut self, ip: Ipv6Addr, f: impl FnOnce(&mut Entry) -> R) -> Option<R> {
        self.entries.modify(&self.cfg, ip, f)
    }

    fn insert(&mut self, ip: Ipv6Addr, e: Entry) {
        self.entries.insert(&self.cfg, ip, e);
    }

    /// Evicts until a new entry fits; false if only permanent ones remain.
    fn make_room(&mut self) -> bool {
        while self.entries.len() >= self.cfg.max_entries {
            let Some(victim) = self.entries.victim() else {
                return false;
            };
            self.remove(victim);
            self.counters.evicted += 1;
        }
        true
    }
}

/// Queues `packet`, dropping the oldest past `limit`; returns how many went.
fn enqueue(queue: &mut VecDeque<Vec<u8>>, packet: Vec<u8>, limit: usize) -> u64 {
    if limit == 0 {
        return 1;
    }
    let mut dropped = 0;
    while queue.len() >= limit {
        queue.pop_front();
        dropped += 1;
    }
    queue.push_back(packet);
    dropped
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x10, 0x10, 0, 0, 0, 0, 2);
    const B: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x10, 0x10, 0, 0, 0, 0, 3);
    const MAC_A: MacAddr = MacAddr([2, 0, 0, 0, 0, 2]);
    const MAC_B: MacAddr = MacAddr([2, 0, 0, 0, 0, 3]);

    fn ms(n: u64) -> Instant {
        Instant::from_millis(n)
    }

    fn check_index(c: &NdpCache) {
        c.entries.check(&c.cfg);
    }

    #[test]
    fn resolution_queues_solicits_then_flushes_on_solicited_advert() {
        let mut c = NdpCache::default();
        assert_eq!(
            c.send(ms(0), A, vec![1]),
            SendOutcome::Queued { solicit: Some(A) }
        );
        assert_eq!(
            c.send(ms(10), A, vec![2]),
            SendOutcome::Queued { solicit: None }
        );
        assert_eq!(c.state(A), Some(NdpState::Incomplete));
        assert_eq!(c.poll_at(), Some(ms(1000)));
        // An advert without the target's address cannot complete it.
        assert_eq!(c.on_advert(ms(20), A, None, true, true, false), None);
        assert_eq!(c.counters().adverts_ignored, 1);
        let got = c.on_advert(ms(30), A, Some(MAC_A), true, true, false);
        assert_eq!(
            got,
            Some(NdpAction::Flush {
                mac: MAC_A,
                packets: vec![vec![1], vec![2]]
            })
        );
        assert_eq!(c.state(A), Some(NdpState::Reachable));
        assert_eq!(
            c.send(ms(40), A, vec![3]),
            SendOutcome::Now {
                mac: MAC_A,
                packet: vec![3]
            }
        );
        check_index(&c);
    }

    #[test]
    fn three_multicast_solicits_then_failed_with_the_queue_handed_back() {
        let mut c = NdpCache::default();
        c.send(ms(0), A, vec![1]);
        assert_eq!(
            c.poll(ms(1000)),
            vec![NdpAction::Solicit {
                target: A,
                unicast: None
            }]
        );
        assert!(c.poll(ms(1999)).is_empty());
        assert_eq!(c.poll(ms(2000)).len(), 1);
        assert_eq!(c.counters().solicits, 3);
        assert_eq!(
            c.poll(ms(3000)),
            vec![NdpAction::Unreachable {
                target: A,
                packets: vec![vec![1]]
            }]
        );
        assert_eq!(c.state(A), Some(NdpState::Failed));
        assert_eq!(c.counters().failed, 1);
        // Collected after gc_time.
        assert!(c.poll(ms(62_999)).is_empty());
        c.poll(ms(63_000));
        assert!(c.is_empty());
        check_index(&c);
    }

    #[test]
    fn nud_reachable_stale_delay_probe_and_back() {
        let mut c = NdpCache::default();
        c.send(ms(0), A, vec![1]);
        c.on_advert(ms(0), A, Some(MAC_A), true, true, false);
        // REACHABLE for 30 s, then STALE.
        c.poll(ms(29_999));
        assert_eq!(c.state(A), Some(NdpState::Reachable));
        c.poll(ms(30_000));
        assert_eq!(c.state(A), Some(NdpState::Stale));
        // Sending to a STALE entry uses it and starts DELAY.
        assert_eq!(c.resolve(ms(31_000), A), Some(MAC_A));
        assert_eq!(c.state(A), Some(NdpState::Delay));
        // 5 s later: PROBE with a unicast solicitation.
        assert!(c.poll(ms(35_999)).is_empty());
        assert_eq!(
            c.poll(ms(36_000)),
            vec![NdpAction::Solicit {
                target: A,
                unicast: Some(MAC_A)
            }]
        );
        assert_eq!(c.state(A), Some(NdpState::Probe));
        // Still usable while probing.
        assert_eq!(c.resolve(ms(36_100), A), Some(MAC_A));
        // The solicited answer confirms it.
        c.on_advert(ms(36_200), A, Some(MAC_A), true, false, false);
        assert_eq!(c.state(A), Some(NdpState::Reachable));
        check_index(&c);
    }

    #[test]
    fn probe_without_answer_fails() {
        let mut c = NdpCache::default();
        c.on_solicit(ms(0), A, MAC_A);
        assert_eq!(c.state(A), Some(NdpState::Stale));
        c.resolve(ms(0), A);
        c.poll(ms(5000));
        c.poll(ms(6000));
        c.poll(ms(7000));
        assert_eq!(c.counters().probes, 3);
        assert_eq!(c.state(A), Some(NdpState::Probe));
        c.poll(ms(8000));
        assert_eq!(c.state(A), Some(NdpState::Failed));
        assert_eq!(c.resolve(ms(8001), A), None);
        check_index(&c);
    }

    #[test]
    fn upper_layer_confirmation_during_delay_avoids_the_probe() {
        let mut c = NdpCache::default();
        c.on_solicit(ms(0), A, MAC_A);
        c.resolve(ms(0), A);
        assert!(c.confirm(ms(1000), A));
        assert!(c.poll(ms(5000)).is_empty());
        assert_eq!(c.state(A), Some(NdpState::Reachable));
    }

    #[test]
    fn advert_rules_of_rfc_4861_7_2_5() {
        let mut c = NdpCache::default();
        // No entry: ignored, nothing created.
        c.on_advert(ms(0), A, Some(MAC_A), false, true, false);
        assert!(c.is_empty());
        c.send(ms(0), A, vec![1]);
        // Unsolicited advert completes INCOMPLETE as STALE.
        c.on_advert(ms(1), A, Some(MAC_A), false, true, false);
        assert_eq!(c.state(A), Some(NdpState::Stale));
        c.confirm(ms(2), A);
        // Override clear, other address: REACHABLE -> STALE, address kept.
        c.on_advert(ms(3), A, Some(MAC_B), true, false, false);
        assert_eq!(c.state(A), Some(NdpState::Stale));
        assert_eq!(c.lookup(A), Some(MAC_A));
        // Override clear, other address, not REACHABLE: ignored.
        c.on_advert(ms(4), A, Some(MAC_B), false, false, false);
        assert_eq!(c.lookup(A), Some(MAC_A));
        // Override set: address replaced; solicited: REACHABLE.
        c.on_advert(ms(5), A, Some(MAC_B), true, true, true);
        assert_eq!(c.lookup(A), Some(MAC_B));
        assert_eq!(c.state(A), Some(NdpState::Reachable));
        assert!(c.entries(ms(5))[0].router);
        // Override set, unsolicited, other address: STALE.
        c.on_advert(ms(6), A, Some(MAC_A), false, true, false);
        assert_eq!(
            (c.lookup(A), c.state(A)),
            (Some(MAC_A), Some(NdpState::Stale))
        );
        assert_eq!(c.counters().updated, 2);
        check_index(&c);
    }

    #[test]
    fn solicitation_learns_stale_and_same_address_changes_nothing() {
        let mut c = NdpCache::default();
        c.on_solicit(ms(0), A, MAC_A);
        c.confirm(ms(1), A);
        c.on_solicit(ms(2), A, MAC_A);
        assert_eq!(c.state(A), Some(NdpState::Reachable));
        c.on_solicit(ms(3), A, MAC_B);
        assert_eq!(
            (c.lookup(A), c.state(A)),
            (Some(MAC_B), Some(NdpState::Stale))
        );
        // Multicast or unspecified sources, group MACs: never learned.
        c.on_solicit(ms(4), Ipv6Addr::UNSPECIFIED, MAC_A);
        c.on_solicit(ms(4), B, MacAddr([0x33, 0x33, 0, 0, 0, 1]));
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn solicitation_resolves_an_incomplete_entry() {
        let mut c = NdpCache::default();
        c.send(ms(0), A, vec![9]);
        assert_eq!(
            c.on_solicit(ms(1), A, MAC_A),
            Some(NdpAction::Flush {
                mac: MAC_A,
                packets: vec![vec![9]]
            })
        );
        assert_eq!(c.state(A), Some(NdpState::Stale));
    }

    #[test]
    fn queue_bound_keeps_the_latest() {
        let mut c = NdpCache::default();
        for i in 0..5u8 {
            c.send(ms(0), A, vec![i]);
        }
        assert_eq!(c.counters().queue_overflow, 2);
        let Some(NdpAction::Flush { packets, .. }) =
            c.on_advert(ms(1), A, Some(MAC_A), true, true, false)
        else {
            panic!("no flush");
        };
        assert_eq!(packets, vec![vec![2], vec![3], vec![4]]);
    }

    #[test]
    fn flood_of_random_solicitors_stays_bounded_and_keeps_permanent() {
        let mut c = NdpCache::new(NdpCacheConfig {
            max_entries: 16,
            ..NdpCacheConfig::default()
        });
        c.add_permanent(ms(0), A, MAC_A).unwrap();
        let mut rng = crate::stack::rng::Rng::from_seed(crate::stack::rng::Rng::seed_from_u64(5));
        for i in 0..2000u64 {
            let b: [u8; 16] = rng.bytes();
            let ip = Ipv6Addr::from(u128::from_be_bytes(b) & !(0xff << 120));
            c.on_solicit(ms(i), ip, MAC_B);
            assert!(c.len() <= 16);
        }
        assert_eq!(c.state(A), Some(NdpState::Permanent));
        assert!(c.counters().evicted > 1900);
        check_index(&c);
        // All permanent: refused and counted.
        let mut c = NdpCache::new(NdpCacheConfig {
            max_entries: 1,
            ..NdpCacheConfig::default()
        });
        c.add_permanent(ms(0), A, MAC_A).unwrap();
        assert_eq!(c.send(ms(0), B, vec![1]), SendOutcome::Refused);
        assert_eq!(c.add_permanent(ms(0), B, MAC_B), Err(NdpError::TableFull));
        assert_eq!(c.counters().table_full, 2);
    }

    #[test]
    fn eviction_prefers_stale_over_reachable() {
        let mut c = NdpCache::new(NdpCacheConfig {
            max_entries: 2,
            ..NdpCacheConfig::default()
        });
        c.on_solicit(ms(0), A, MAC_A);
        c.confirm(ms(0), A);
        c.on_solicit(ms(1), B, MAC_B);
        let third = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 9);
        c.on_solicit(ms(2), third, MAC_B);
        assert_eq!(c.state(A), Some(NdpState::Reachable));
        assert_eq!(c.state(B), None);
    }

    #[test]
    fn admin_add_remove_flush_and_snapshot() {
        let mut c = NdpCache::default();
        c.send(ms(0), A, vec![1]);
        assert_eq!(
            c.add_permanent(ms(1), A, MAC_A),
            Ok(Some(NdpAction::Flush {
                mac: MAC_A,
                packets: vec![vec![1]]
            }))
        );
        c.on_solicit(ms(2), B, MAC_B);
        let rows = c.entries(ms(1002));
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].ip, A);
        assert_eq!(rows[1].since_learned, Duration::from_millis(1000));
        assert_eq!(c.flush(), 1);
        assert!(c.remove(A));
        assert!(!c.remove(A));
        assert!(c.is_empty());
        assert_eq!(c.poll_at(), None);
        // Group addresses are never resolved.
        assert_eq!(
            c.send(ms(0), "ff02::1".parse().unwrap(), vec![]),
            SendOutcome::Refused
        );
    }

    #[test]
    fn zero_sized_config_does_not_panic_or_hang() {
        let mut c = NdpCache::new(NdpCacheConfig {
            reachable_time: Duration::ZERO,
            retrans_time: Duration::ZERO,
            delay_first_probe: Duration::ZERO,
            max_multicast_solicit: 0,
            max_unicast_solicit: 0,
            gc_time: Duration::ZERO,
            max_entries: 0,
            queue_len: 0,
        });
        assert_eq!(c.send(ms(0), A, vec![1]), SendOutcome::Refused);
        c.on_solicit(ms(0), A, MAC_A);
        c.poll(ms(10));
        assert!(c.is_empty());
    }
}
