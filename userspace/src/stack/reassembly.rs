//! Fragment reassembly for IPv4 (RFC 791 3.2) and IPv6 (RFC 8200 4.5), as
//! a pure state machine generic over the fragment key; what differs between
//! the versions (header sizes, the largest datagram, overlaps) is
//! [`FragRules`] on the key.
//!
//! Each datagram in progress keeps one payload buffer and a sorted map of
//! the byte ranges received (merged, equivalent to RFC 815's hole list).
//!
//! Bounds (all configurable): at most 64 datagrams in progress and 1 MiB of
//! buffered bytes in all (16 maximum-size datagrams, many more typical ones;
//! Linux's `ipfrag_high_thresh` is 4 MiB for a whole host). A fragment that
//! would start a datagram beyond either bound is refused and counted: the
//! datagrams already in progress keep their chance to complete (like Linux
//! since 4.17, rather than evicting the oldest). A fragment that would grow
//! a datagram past the byte bound drops that datagram, which could never
//! complete. Datagrams expire 30 s after their first fragment (RFC 791
//! suggests a 15 s lower bound; Linux uses 30 s; RFC 8200 4.5 says 60 s at
//! most).
//!
//! Safety: over IPv4, in the spirit of RFC 5722, overlaps must carry
//! identical bytes or the whole datagram is dropped; over IPv6 any overlap
//! drops it (RFC 5722 3, RFC 8200 4.5), except an exact duplicate of a
//! fragment already held, which is ignored (RFC 8200 4.5 allows that). A
//! second last fragment must agree on the length; a datagram whose header
//! plus payload would exceed the version's bound is dropped (the "ping of
//! death").

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Debug;
use std::hash::Hash;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::ops::RangeInclusive;
use std::time::Duration;

use serde::Serialize;

use super::time::Instant;

/// Payload bytes quoted in ICMP time exceeded: 64 bits (RFC 792).
const QUOTE_LEN: usize = 8;

/// What a fragment key's IP version decides about reassembly.
pub trait FragRules: Copy + Eq + Hash + Ord + Debug {
    /// Lengths the first fragment's kept header may have.
    const HEADER_LEN: RangeInclusive<usize>;
    /// Header plus payload of the whole datagram, at most.
    const MAX_DATAGRAM: usize;
    /// Any overlap drops the datagram (RFC 5722), not only differing bytes.
    const OVERLAP_DROPS: bool;
}

/// Tunables of reassembly; `Default` gives the values documented per field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReassemblyConfig {
    /// Datagrams in progress at once (default 64).
    pub max_datagrams: usize,
    /// Header and payload bytes buffered across all datagrams (default 1 MiB).
    pub max_bytes: usize,
    /// Lifetime of a datagram from its first fragment received (default 30 s).
    pub timeout: Duration,
}

impl Default for ReassemblyConfig {
    fn default() -> Self {
        ReassemblyConfig {
            max_datagrams: 64,
            max_bytes: 1 << 20,
            timeout: Duration::from_secs(30),
        }
    }
}

/// What identifies the fragments of one datagram (RFC 791 3.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FragKey {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub protocol: u8,
    pub ident: u16,
}

impl FragRules for FragKey {
    /// IHL bounds: 5 to 15 words (RFC 791 3.1).
    const HEADER_LEN: RangeInclusive<usize> = 20..=60;
    /// The total length is 16 bits (RFC 791 3.1).
    const MAX_DATAGRAM: usize = 65535;
    const OVERLAP_DROPS: bool = false;
}

/// What identifies the fragments of one IPv6 packet (RFC 8200 4.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FragKey6 {
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    pub ident: u32,
}

impl FragRules for FragKey6 {
    /// The unfragmentable part (fixed header and the extension headers
    /// before the Fragment header) plus the Fragment header; longer than
    /// the minimum MTU is not a real packet.
    const HEADER_LEN: RangeInclusive<usize> = 48..=1280;
    /// The Payload Length is 16 bits (RFC 8200 3) and does not count the
    /// fixed header.
    const MAX_DATAGRAM: usize = 65535 + 40;
    const OVERLAP_DROPS: bool = true;
}

/// One received fragment, as the caller parsed it.
#[derive(Clone, Copy, Debug)]
pub struct Fragment<'a, K = FragKey> {
    pub key: K,
    /// Position of the payload in the datagram, in bytes (fragment offset * 8).
    pub offset: usize,
    /// The MF flag: more fragments follow.
    pub more: bool,
    /// The fragment's payload (after the IP header).
    pub payload: &'a [u8],
    /// The fragment's IP header bytes; required when `offset` is 0, ignored otherwise.
    pub header: Option<&'a [u8]>,
}

/// A reassembled datagram: the first fragment's header as received (the
/// caller fixes total length, flags and checksum) and the whole payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reassembled<K = FragKey> {
    pub key: K,
    pub header: Vec<u8>,
    pub payload: Vec<u8>,
}

/// Why a fragment was not taken (each is counted).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FragDrop {
    /// Malformed fragment (length or offset not a multiple of 8, bad or missing header); the datagram is kept.
    Invalid,
    /// Header plus payload would exceed 65535 bytes; the datagram is dropped.
    TooBig,
    /// Overlapping bytes differ (RFC 5722 spirit); the datagram is dropped.
    OverlapConflict,
    /// Last fragments disagree on the length, or data lies past the end; the datagram is dropped.
    LengthConflict,
    /// Too many datagrams in progress; this new one is refused.
    TableFull,
    /// Too many bytes buffered; a new datagram is refused, a growing one dropped.
    MemoryFull,
}

/// The result of feeding one fragment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FragOutcome<K = FragKey> {
    /// Stored; the datagram is not complete yet.
    Pending,
    /// This fragment completed the datagram.
    Complete(Reassembled<K>),
    /// Not stored; see the reason for what happened to the datagram.
    Dropped(FragDrop),
}

/// A datagram that timed out after its first fragment arrived: send ICMP
/// time exceeded, code 1, quoting these bytes (RFC 792, RFC 1122 3.2.1.4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimeExceeded<K = FragKey> {
    pub key: K,
    /// The first fragment's IP header.
    pub header: Vec<u8>,
    /// The first 8 payload bytes (fewer if the first fragment was shorter).
    pub data: Vec<u8>,
}

/// Counters of reassembly; all monotonic except the `bytes_in_use` gauge.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(default)]
pub struct ReassemblyCounters {
    /// Datagrams reassembled.
    pub completed: u64,
    /// Datagrams expired before completion.
    pub timed_out: u64,
    /// Datagrams dropped for overlapping fragments (with different bytes
    /// over IPv4, any over IPv6).
    pub overlap_conflicts: u64,
    /// Exact duplicates of an IPv6 fragment already held, ignored.
    pub duplicates: u64,
    /// Datagrams dropped for inconsistent lengths.
    pub length_conflicts: u64,
    /// Datagrams dropped for exceeding 65535 bytes.
    pub too_big: u64,
    /// Malformed fragments ignored.
    pub invalid: u64,
    /// New datagrams refused because the table was full.
    pub table_full: u64,
    /// New datagrams refused, or growing ones dropped, for the byte bound.
    pub memory_full: u64,
    /// Bytes buffered now (gauge).
    pub bytes_in_use: u64,
}

#[derive(Debug)]
struct Partial {
    first_seen: Instant,
    header: Option<Vec<u8>>,
    /// Payload length, known once the last fragment arrived.
    total: Option<usize>,
    /// Payload bytes, as long as the highest fragment end seen.
    data: Vec<u8>,
    /// Received ranges, start -> end: disjoint and never adjacent (merged).
    have: BTreeMap<usize, usize>,
    /// The fragments as received (start, end), to tell an exact duplicate
    /// from an overlap; kept only where overlaps drop (IPv6).
    pieces: BTreeSet<(usize, usize)>,
}

impl Partial {
    fn bytes(&self) -> usize {
        self.data.len() + self.header.as_ref().map_or(0, Vec::len)
    }

    /// True if the bytes already received in [start, end) equal `payload`'s.
    fn overlap_agrees(&self, start: usize, payload: &[u8]) -> bool {
        let end = start + payload.len();
        // Ranges overlapping [start, end) start before `end` and end after `start`.
        for (&s, &e) in self.have.range(..end).rev() {
            if e <= start {
                break;
            }
            let (lo, hi) = (s.max(start), e.min(end));
            if self.data.get(lo..hi) != payload.get(lo - start..hi - start) {
                return false;
            }
        }
        true
    }

    /// True if any byte of [start, end) was received already.
    fn overlaps(&self, start: usize, end: usize) -> bool {
        self.have
            .range(..end)
            .next_back()
            .is_some_and(|(_, &e)| e > start)
    }

    /// Record [start, end) as received, merging touching ranges.
    fn mark(&mut self, start: usize, end: usize) {
        if start == end {
            return;
        }
        let (mut lo, mut hi) = (start, end);
        let touching: Vec<(usize, usize)> = self
            .have
            .range(..=end)
            .rev()
            .take_while(|&(_, &e)| e >= start)
            .map(|(&s, &e)| (s, e))
            .collect();
        for (s, e) in touching {
            self.have.remove(&s);
            lo = lo.min(s);
            hi = hi.max(e);
        }
        self.have.insert(lo, hi);
    }

    fn is_complete(&self) -> bool {
        match (self.total, &self.header) {
            (Some(0), Some(_)) => true,
            (Some(t), Some(_)) => self.have.len() == 1 && self.have.get(&0) == Some(&t),
            _ => false,
        }
    }
}

/// Reassembles datagrams from their fragments (IPv4 with the default key,
/// IPv6 with [`FragKey6`]).
#[derive(Debug)]
pub struct Reassembler<K = FragKey> {
    config: ReassemblyConfig,
    partials: HashMap<K, Partial>,
    bytes: usize,
    counters: ReassemblyCounters,
}

impl<K: FragRules> Default for Reassembler<K> {
    fn default() -> Self {
        Reassembler::new(ReassemblyConfig::default())
    }
}

impl<K: FragRules> Reassembler<K> {
    /// An empty reassembler with these bounds.
    pub fn new(config: ReassemblyConfig) -> Self {
        Reassembler {
            config,
            partials: HashMap::new(),
            bytes: 0,
            counters: ReassemblyCounters::default(),
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &ReassemblyConfig {
        &self.config
    }

    /// The counters so far.
    pub fn counters(&self) -> &ReassemblyCounters {
        &self.counters
    }

    /// Datagrams in progress.
    pub fn len(&self) -> usize {
        self.partials.len()
    }

    /// True when no datagram is in progress.
    pub fn is_empty(&self) -> bool {
        self.partials.is_empty()
    }

    /// Feed one fragment received at `now`. Expiry happens only in `poll`.
    pub fn on_fragment(&mut self, now: Instant, frag: Fragment<'_, K>) -> FragOutcome<K> {
        let key = frag.key;
        let len = frag.payload.len();
        // RFC 791 3.2: offsets count 8-octet units and every fragment but the
        // last carries a multiple of 8 octets.
        let header = if frag.offset == 0 { frag.header } else { None };
        let bad_header =
            frag.offset == 0 && !header.is_some_and(|h| K::HEADER_LEN.contains(&h.len()));
        if !frag.offset.is_multiple_of(8) || (frag.more && !len.is_multiple_of(8)) || bad_header {
            self.counters.invalid += 1;
            return FragOutcome::Dropped(FragDrop::Invalid);
        }

        let existing = self.partials.get(&key);
        let header_len = header
            .map(<[u8]>::len)
            .or_else(|| existing.and_then(|p| p.header.as_ref().map(Vec::len)))
            .unwrap_or(*K::HEADER_LEN.start());
        let highest = existing.map_or(0, |p| p.data.len());
        let end = frag.offset.checked_add(len);
        let fits = end.is_some_and(|end| header_len + end.max(highest) <= K::MAX_DATAGRAM);
        let Some(end) = end.filter(|_| fits) else {
            return self.drop_datagram(key, FragDrop::TooBig);
        };

        let Some(p) = existing else {
            return self.start(now, key, frag, end);
        };
        // Length consistency: one end of datagram, no data past it.
        let conflict = match (frag.more, p.total) {
            (false, Some(total)) => total != end,
            (false, None) => highest > end,
            (true, Some(total)) => end > total,
            (true, None) => false,
        };
        if conflict {
            return self.drop_datagram(key, FragDrop::LengthConflict);
        }
        if K::OVERLAP_DROPS && p.overlaps(frag.offset, end) {
            // RFC 8200 4.5: an exact duplicate may be dropped alone.
            if p.pieces.contains(&(frag.offset, end))
                && p.overlap_agrees(frag.offset, frag.payload)
                && (frag.more || p.total == Some(end))
            {
                self.counters.duplicates += 1;
                return FragOutcome::Pending;
            }
            return self.drop_datagram(key, FragDrop::OverlapConflict);
        }
        if !p.overlap_agrees(frag.offset, frag.payload) {
            return self.drop_datagram(key, FragDrop::OverlapConflict);
        }
        let new_header = header.filter(|_| p.header.is_none());
        let growth = end.saturating_sub(highest) + new_header.map_or(0, <[u8]>::len);
        if self.bytes + growth > self.config.max_bytes {
            return self.drop_datagram(key, FragDrop::MemoryFull);
        }

        let Some(p) = self.partials.get_mut(&key) else {
            return FragOutcome::Pending;
        };
        store::<K>(p, frag.offset, frag.payload, frag.more, new_header);
        self.bytes += growth;
        self.counters.bytes_in_use = self.bytes as u64;
        if p.is_complete() {
            return self.complete(key);
        }
        FragOutcome::Pending
    }

    /// The first fragment of a datagram not in progress.
    fn start(&mut self, now: Instant, key: K, frag: Fragment<'_, K>, end: usize) -> FragOutcome<K> {
        let header = if frag.offset == 0 { frag.header } else { None };
        if frag.offset == 0 && !frag.more {
            // Not a fragment at all: hand it back without buffering.
            self.counters.completed += 1;
            return FragOutcome::Complete(Reassembled {
                key,
                header: header.map(<[u8]>::to_vec).unwrap_or_default(),
                payload: frag.payload.to_vec(),
            });
        }
        if self.partials.len() >= self.config.max_datagrams {
            self.counters.table_full += 1;
            return FragOutcome::Dropped(FragDrop::TableFull);
        }
        let need = end + header.map_or(0, <[u8]>::len);
        if self.bytes + need > self.config.max_bytes {
            self.counters.memory_full += 1;
            return FragOutcome::Dropped(FragDrop::MemoryFull);
        }
        let mut p = Partial {
            first_seen: now,
            header: None,
            total: None,
            data: Vec::new(),
            have: BTreeMap::new(),
            pieces: BTreeSet::new(),
        };
        store::<K>(&mut p, frag.offset, frag.payload, frag.more, header);
        self.bytes += need;
        self.counters.bytes_in_use = self.bytes as u64;
        self.partials.insert(key, p);
        FragOutcome::Pending
    }

    fn complete(&mut self, key: K) -> FragOutcome<K> {
        let Some(mut p) = self.remove(key) else {
            return FragOutcome::Pending;
        };
        self.counters.completed += 1;
        p.data.truncate(p.total.unwrap_or(0));
        FragOutcome::Complete(Reassembled {
            key,
            header: p.header.unwrap_or_default(),
            payload: p.data,
        })
    }

    fn drop_datagram(&mut self, key: K, why: FragDrop) -> FragOutcome<K> {
        self.remove(key);
        let counter = match why {
            FragDrop::Invalid => &mut self.counters.invalid,
            FragDrop::TooBig => &mut self.counters.too_big,
            FragDrop::OverlapConflict => &mut self.counters.overlap_conflicts,
            FragDrop::LengthConflict => &mut self.counters.length_conflicts,
            FragDrop::TableFull => &mut self.counters.table_full,
            FragDrop::MemoryFull => &mut self.counters.memory_full,
        };
        *counter += 1;
        FragOutcome::Dropped(why)
    }

    fn remove(&mut self, key: K) -> Option<Partial> {
        let p = self.partials.remove(&key)?;
        self.bytes = self.bytes.saturating_sub(p.bytes());
        self.counters.bytes_in_use = self.bytes as u64;
        Some(p)
    }

    /// Expire datagrams whose timeout has passed (at exactly `first + timeout`);
    /// returns, oldest first, those that had their first fragment.
    pub fn poll(&mut self, now: Instant) -> Vec<TimeExceeded<K>> {
        let timeout = self.config.timeout;
        let mut expired: Vec<(Instant, K)> = self
            .partials
            .iter()
            .filter(|(_, p)| now >= p.first_seen + timeout)
            .map(|(k, p)| (p.first_seen, *k))
            .collect();
        expired.sort();
        let mut out = Vec::new();
        for (_, key) in expired {
            let Some(p) = self.remove(key) else { continue };
            self.counters.timed_out += 1;
            // RFC 1122 3.2.1.4: only if fragment zero was received.
            let Some(header) = p.header else { continue };
            let first_end = p.have.get(&0).copied().unwrap_or(0).min(QUOTE_LEN);
            out.push(TimeExceeded {
                key,
                header,
                data: p.data.get(..first_end).unwrap_or_default().to_vec(),
            });
        }
        out
    }

    /// When `poll` next has a datagram to expire.
    pub fn poll_at(&self) -> Option<Instant> {
        let timeout = self.config.timeout;
        self.partials.values().map(|p| p.first_seen + timeout).min()
    }
}

/// Copy a validated fragment into `p` (bounds already checked by the caller).
fn store<K: FragRules>(
    p: &mut Partial,
    offset: usize,
    payload: &[u8],
    more: bool,
    header: Option<&[u8]>,
) {
    let end = offset + payload.len();
    if K::OVERLAP_DROPS {
        p.pieces.insert((offset, end));
    }
    if p.data.len() < end {
        p.data.resize(end, 0);
    }
    if let Some(dst) = p.data.get_mut(offset..end) {
        dst.copy_from_slice(payload);
    }
    p.mark(offset, end);
    if !more {
        p.total = Some(end);
    }
    if let Some(h) = header {
        p.header = Some(h.to_vec());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const KEY: FragKey = FragKey {
        src: Ipv4Addr::new(10, 0, 0, 2),
        dst: Ipv4Addr::new(10, 0, 0, 1),
        protocol: 17,
        ident: 0x1234,
    };

    fn header() -> Vec<u8> {
        let mut h = vec![0u8; 20];
        h[0] = 0x45;
        h[9] = 17;
        h
    }

    fn ms(n: u64) -> Instant {
        Instant::from_millis(n)
    }

    fn data(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 + i / 251) as u8).collect()
    }

    /// Feed payload[offset..offset+len] of `whole` as a fragment of `key`.
    fn feed(
        r: &mut Reassembler,
        now: Instant,
        key: FragKey,
        whole: &[u8],
        offset: usize,
        len: usize,
    ) -> FragOutcome {
        let end = offset + len;
        let h = header();
        r.on_fragment(
            now,
            Fragment {
                key,
                offset,
                more: end < whole.len(),
                payload: &whole[offset..end],
                header: (offset == 0).then_some(&h[..]),
            },
        )
    }

    fn complete(whole: &[u8]) -> FragOutcome {
        FragOutcome::Complete(Reassembled {
            key: KEY,
            header: header(),
            payload: whole.to_vec(),
        })
    }

    #[test]
    fn in_order() {
        let mut r = Reassembler::default();
        let d = data(100);
        assert_eq!(feed(&mut r, ms(0), KEY, &d, 0, 48), FragOutcome::Pending);
        assert_eq!(r.counters().bytes_in_use, 48 + 20);
        assert_eq!(feed(&mut r, ms(1), KEY, &d, 48, 48), FragOutcome::Pending);
        assert_eq!(feed(&mut r, ms(2), KEY, &d, 96, 4), complete(&d));
        assert!(r.is_empty());
        assert_eq!(r.counters().completed, 1);
        assert_eq!(r.counters().bytes_in_use, 0);
        assert_eq!(r.poll_at(), None);
    }

    #[test]
    fn out_of_order_and_duplicated() {
        let mut r = Reassembler::default();
        let d = data(100);
        assert_eq!(feed(&mut r, ms(0), KEY, &d, 96, 4), FragOutcome::Pending);
        assert_eq!(feed(&mut r, ms(0), KEY, &d, 96, 4), FragOutcome::Pending);
        assert_eq!(feed(&mut r, ms(0), KEY, &d, 48, 48), FragOutcome::Pending);
        assert_eq!(feed(&mut r, ms(0), KEY, &d, 48, 48), FragOutcome::Pending);
        assert_eq!(feed(&mut r, ms(0), KEY, &d, 0, 48), complete(&d));
    }

    #[test]
    fn first_fragment_last_still_needs_header() {
        // All payload present but fragment zero missing its header is invalid.
        let mut r = Reassembler::default();
        let d = data(16);
        feed(&mut r, ms(0), KEY, &d, 8, 8);
        let out = r.on_fragment(
            ms(0),
            Fragment {
                key: KEY,
                offset: 0,
                more: true,
                payload: &d[..8],
                header: None,
            },
        );
        assert_eq!(out, FragOutcome::Dropped(FragDrop::Invalid));
        assert_eq!(r.len(), 1);
    }

    #[test]
    fn overlap_identical_is_accepted() {
        let mut r = Reassembler::default();
        let d = data(64);
        feed(&mut r, ms(0), KEY, &d, 0, 24);
        feed(&mut r, ms(0), KEY, &d, 40, 24);
        // Covers the hole and overlaps both neighbours with the same bytes.
        assert_eq!(feed(&mut r, ms(0), KEY, &d, 16, 32), complete(&d));
    }

    #[test]
    fn overlap_conflicting_drops_the_datagram() {
        let mut r = Reassembler::default();
        let d = data(64);
        feed(&mut r, ms(0), KEY, &d, 0, 24);
        let mut evil = d.clone();
        evil[20] ^= 0xff;
        let out = feed(&mut r, ms(0), KEY, &evil, 16, 16);
        assert_eq!(out, FragOutcome::Dropped(FragDrop::OverlapConflict));
        assert!(r.is_empty());
        assert_eq!(r.counters().overlap_conflicts, 1);
        assert_eq!(r.counters().bytes_in_use, 0);
    }

    #[test]
    fn last_fragment_disagreement_drops() {
        let mut r = Reassembler::default();
        let d = data(100);
        feed(&mut r, ms(0), KEY, &d, 96, 4);
        // Another last fragment ending at 104.
        let out = r.on_fragment(
            ms(0),
            Fragment {
                key: KEY,
                offset: 96,
                more: false,
                payload: &[0; 8],
                header: None,
            },
        );
        assert_eq!(out, FragOutcome::Dropped(FragDrop::LengthConflict));
        assert!(r.is_empty());
        // Data past a known end, and a last fragment before data already held.
        feed(&mut r, ms(0), KEY, &d, 96, 4);
        let out = r.on_fragment(
            ms(0),
            Fragment {
                key: KEY,
                offset: 96,
                more: true,
                payload: &[0; 8],
                header: None,
            },
        );
        assert_eq!(out, FragOutcome::Dropped(FragDrop::LengthConflict));
        feed(&mut r, ms(0), KEY, &d, 48, 48);
        assert_eq!(
            feed(&mut r, ms(0), KEY, &d[..40], 32, 8),
            FragOutcome::Dropped(FragDrop::LengthConflict)
        );
        assert_eq!(r.counters().length_conflicts, 3);
    }

    #[test]
    fn invalid_fragments() {
        let mut r = Reassembler::default();
        let d = data(100);
        // Non-last fragment not a multiple of 8.
        assert_eq!(
            feed(&mut r, ms(0), KEY, &d, 0, 20),
            FragOutcome::Dropped(FragDrop::Invalid)
        );
        // Offset not a multiple of 8 (cannot come from the wire).
        assert_eq!(
            feed(&mut r, ms(0), KEY, &d, 4, 8),
            FragOutcome::Dropped(FragDrop::Invalid)
        );
        // Header too short.
        let out = r.on_fragment(
            ms(0),
            Fragment {
                key: KEY,
                offset: 0,
                more: true,
                payload: &d[..8],
                header: Some(&[0x45; 19]),
            },
        );
        assert_eq!(out, FragOutcome::Dropped(FragDrop::Invalid));
        assert_eq!(r.counters().invalid, 3);
        assert!(r.is_empty());
    }

    #[test]
    fn offset_past_65535_is_dropped() {
        let mut r = Reassembler::default();
        let d = data(100);
        feed(&mut r, ms(0), KEY, &d, 0, 48);
        // The classic ping of death: offset 65528, 16 bytes.
        let out = r.on_fragment(
            ms(0),
            Fragment {
                key: KEY,
                offset: 65528,
                more: false,
                payload: &[0; 16],
                header: None,
            },
        );
        assert_eq!(out, FragOutcome::Dropped(FragDrop::TooBig));
        assert!(r.is_empty());
        assert_eq!(r.counters().bytes_in_use, 0);
        // Header + payload must fit 65535: 20 + 65515 is the largest.
        let last = |offset: usize, len: usize, r: &mut Reassembler| {
            r.on_fragment(
                ms(0),
                Fragment {
                    key: KEY,
                    offset,
                    more: false,
                    payload: &vec![0; len],
                    header: None,
                },
            )
        };
        assert_eq!(last(65512, 3, &mut r), FragOutcome::Pending);
        assert_eq!(
            last(65512, 4, &mut Reassembler::default()),
            FragOutcome::Dropped(FragDrop::TooBig)
        );
        // Arithmetic overflow of offset + len is handled too.
        assert_eq!(
            last(usize::MAX - 7, 16, &mut r),
            FragOutcome::Dropped(FragDrop::TooBig)
        );
        assert_eq!(r.counters().too_big, 2);
    }

    #[test]
    fn long_header_arriving_late_can_make_it_too_big() {
        let mut r = Reassembler::default();
        let last = Fragment {
            key: KEY,
            offset: 65480,
            more: false,
            payload: &[0; 30],
            header: None,
        };
        assert_eq!(r.on_fragment(ms(0), last), FragOutcome::Pending);
        // 60 + 65510 > 65535.
        let first = Fragment {
            key: KEY,
            offset: 0,
            more: true,
            payload: &[0; 8],
            header: Some(&[0x4f; 60]),
        };
        assert_eq!(
            r.on_fragment(ms(0), first),
            FragOutcome::Dropped(FragDrop::TooBig)
        );
    }

    #[test]
    fn timeout_with_first_fragment_reports_quote() {
        let mut r = Reassembler::default();
        let d = data(100);
        feed(&mut r, ms(1000), KEY, &d, 0, 48);
        assert_eq!(r.poll_at(), Some(ms(31_000)));
        assert!(r.poll(ms(30_999)).is_empty());
        assert_eq!(r.len(), 1);
        let out = r.poll(ms(31_000));
        assert_eq!(
            out,
            vec![TimeExceeded {
                key: KEY,
                header: header(),
                data: d[..8].to_vec()
            }]
        );
        assert!(r.is_empty());
        assert_eq!(r.counters().timed_out, 1);
        assert_eq!(r.counters().bytes_in_use, 0);
    }

    #[test]
    fn timeout_without_first_fragment_is_silent() {
        let mut r = Reassembler::default();
        let d = data(100);
        feed(&mut r, ms(0), KEY, &d, 48, 48);
        // Later fragments do not extend the lifetime.
        feed(&mut r, ms(29_000), KEY, &d, 96, 4);
        assert!(r.poll(ms(29_999)).is_empty());
        assert_eq!(r.len(), 1);
        assert!(r.poll(ms(30_000)).is_empty());
        assert!(r.is_empty());
        assert_eq!(r.counters().timed_out, 1);
    }

    #[test]
    fn timeout_with_empty_first_fragment_quotes_nothing() {
        let mut r = Reassembler::default();
        let h = header();
        r.on_fragment(
            ms(0),
            Fragment {
                key: KEY,
                offset: 0,
                more: true,
                payload: &[],
                header: Some(&h),
            },
        );
        let out = r.poll(ms(30_000));
        assert_eq!(out.len(), 1);
        assert!(out[0].data.is_empty());
    }

    #[test]
    fn table_bound_refuses_new_datagrams() {
        let cfg = ReassemblyConfig {
            max_datagrams: 4,
            ..ReassemblyConfig::default()
        };
        let mut r = Reassembler::new(cfg);
        let d = data(100);
        let key = |ident| FragKey { ident, ..KEY };
        for i in 0..4 {
            assert_eq!(
                feed(&mut r, ms(0), key(i), &d, 48, 48),
                FragOutcome::Pending
            );
        }
        assert_eq!(
            feed(&mut r, ms(0), key(4), &d, 48, 48),
            FragOutcome::Dropped(FragDrop::TableFull)
        );
        assert_eq!(r.counters().table_full, 1);
        // Datagrams in progress still complete.
        feed(&mut r, ms(0), key(0), &d, 96, 4);
        assert!(matches!(
            feed(&mut r, ms(0), key(0), &d, 0, 48),
            FragOutcome::Complete(_)
        ));
        assert_eq!(
            feed(&mut r, ms(0), key(4), &d, 48, 48),
            FragOutcome::Pending
        );
        // An unfragmented datagram never needs a slot.
        assert!(matches!(
            feed(&mut r, ms(0), key(9), &d, 0, 100),
            FragOutcome::Complete(_)
        ));
    }

    #[test]
    fn memory_bound_refuses_new_and_drops_growing() {
        let cfg = ReassemblyConfig {
            max_bytes: 1000,
            ..ReassemblyConfig::default()
        };
        let mut r = Reassembler::new(cfg);
        let d = data(2000);
        let key = |ident| FragKey { ident, ..KEY };
        // A fragment high in the datagram buffers everything below it.
        assert_eq!(
            feed(&mut r, ms(0), key(1), &d, 800, 8),
            FragOutcome::Pending
        );
        assert_eq!(r.counters().bytes_in_use, 808);
        assert_eq!(
            feed(&mut r, ms(0), key(2), &d, 200, 8),
            FragOutcome::Dropped(FragDrop::MemoryFull)
        );
        assert_eq!(
            feed(&mut r, ms(0), key(2), &d, 0, 168),
            FragOutcome::Pending
        );
        assert_eq!(r.counters().bytes_in_use, 808 + 188);
        // Growing key(1) past the bound drops it and frees its bytes.
        assert_eq!(
            feed(&mut r, ms(0), key(1), &d, 808, 8),
            FragOutcome::Dropped(FragDrop::MemoryFull)
        );
        assert_eq!(r.len(), 1);
        assert_eq!(r.counters().bytes_in_use, 188);
        assert_eq!(r.counters().memory_full, 2);
    }

    #[test]
    fn default_memory_bound_holds_under_a_flood() {
        let mut r = Reassembler::default();
        for ident in 0..10_000u16 {
            let frag = Fragment {
                key: FragKey { ident, ..KEY },
                offset: 65000,
                more: true,
                payload: &[0; 8],
                header: None,
            };
            r.on_fragment(ms(0), frag);
            assert!(r.counters().bytes_in_use <= 1 << 20);
            assert!(r.len() <= 64);
        }
        assert_eq!(r.len(), 16);
    }

    /// Split `len` bytes into fragments of `size` (a multiple of 8).
    fn split(len: usize, size: usize) -> Vec<(usize, usize)> {
        (0..len)
            .step_by(size)
            .map(|o| (o, size.min(len - o)))
            .collect()
    }

    proptest! {
        #[test]
        fn random_fragments_in_random_order_reassemble(
            payload in prop::collection::vec(any::<u8>(), 1..4000),
            units_a in 1usize..64,
            units_b in 1usize..64,
            take_b in prop::collection::vec(any::<bool>(), 64),
            dups in prop::collection::vec(any::<prop::sample::Index>(), 0..8),
            seed in any::<u64>(),
        ) {
            // One complete fragmentation, part of a second one (overlaps with
            // identical bytes), and duplicates.
            let mut frags = split(payload.len(), units_a * 8);
            let b = split(payload.len(), units_b * 8);
            frags.extend(b.iter().zip(take_b.iter().cycle()).filter(|(_, t)| **t).map(|(f, _)| *f));
            let extra: Vec<_> = dups.iter().map(|i| frags[i.index(frags.len())]).collect();
            frags.extend(extra);
            // Fisher-Yates with a xorshift seeded by proptest.
            let mut x = seed | 1;
            for i in (1..frags.len()).rev() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                frags.swap(i, (x % (i as u64 + 1)) as usize);
            }
            let mut r = Reassembler::default();
            let mut done = None;
            for (i, &(offset, len)) in frags.iter().enumerate() {
                match feed(&mut r, ms(i as u64), KEY, &payload, offset, len) {
                    FragOutcome::Pending => {}
                    FragOutcome::Complete(d) => {
                        done = Some(d);
                        break;
                    }
                    FragOutcome::Dropped(why) => prop_assert!(false, "dropped: {why:?}"),
                }
            }
            let d = done.expect("all fragments fed but not complete");
            prop_assert_eq!(d.header, header());
            prop_assert_eq!(d.payload, payload);
            prop_assert!(r.is_empty());
            prop_assert_eq!(r.counters().bytes_in_use, 0);
        }
    }

    const KEY6: FragKey6 = FragKey6 {
        src: Ipv6Addr::new(0xfd00, 0x10, 0x10, 0, 0, 0, 0, 2),
        dst: Ipv6Addr::new(0xfd00, 0x10, 0x10, 0, 0, 0, 0, 4),
        ident: 0xdead_beef,
    };

    fn feed6(
        r: &mut Reassembler<FragKey6>,
        whole: &[u8],
        offset: usize,
        len: usize,
    ) -> FragOutcome<FragKey6> {
        let end = offset + len;
        let h = [0u8; 48];
        r.on_fragment(
            ms(0),
            Fragment {
                key: KEY6,
                offset,
                more: end < whole.len(),
                payload: &whole[offset..end],
                header: (offset == 0).then_some(&h[..]),
            },
        )
    }

    #[test]
    fn ipv6_reassembles_with_its_own_header_bounds() {
        let mut r: Reassembler<FragKey6> = Reassembler::default();
        let d = data(3008);
        assert_eq!(feed6(&mut r, &d, 1448, 1448), FragOutcome::Pending);
        assert_eq!(feed6(&mut r, &d, 2896, 112), FragOutcome::Pending);
        match feed6(&mut r, &d, 0, 1448) {
            FragOutcome::Complete(whole) => {
                assert_eq!(whole.payload, d);
                assert_eq!(whole.header.len(), 48);
            }
            other => panic!("{other:?}"),
        }
        // A 20-byte header is an IPv4 one: invalid here.
        let h = [0u8; 20];
        let bad = Fragment {
            key: KEY6,
            offset: 0,
            more: true,
            payload: &d[..8],
            header: Some(&h[..]),
        };
        assert_eq!(
            r.on_fragment(ms(0), bad),
            FragOutcome::Dropped(FragDrop::Invalid)
        );
    }

    #[test]
    fn ipv6_any_overlap_drops_the_datagram_rfc_5722() {
        let mut r: Reassembler<FragKey6> = Reassembler::default();
        let d = data(100);
        assert_eq!(feed6(&mut r, &d, 0, 48), FragOutcome::Pending);
        // Same bytes, but overlapping [40, 48): IPv4 would take it.
        assert_eq!(
            feed6(&mut r, &d, 40, 16),
            FragOutcome::Dropped(FragDrop::OverlapConflict)
        );
        assert!(r.is_empty());
        assert_eq!(r.counters().overlap_conflicts, 1);
        // The rest of the datagram starts a new one that never completes.
        assert_eq!(feed6(&mut r, &d, 56, 44), FragOutcome::Pending);
        assert_eq!(r.len(), 1);
    }

    #[test]
    fn ipv6_exact_duplicate_is_ignored_not_an_overlap() {
        let mut r: Reassembler<FragKey6> = Reassembler::default();
        let d = data(100);
        assert_eq!(feed6(&mut r, &d, 0, 48), FragOutcome::Pending);
        assert_eq!(feed6(&mut r, &d, 0, 48), FragOutcome::Pending);
        assert_eq!(r.counters().duplicates, 1);
        assert_eq!(feed6(&mut r, &d, 48, 48), FragOutcome::Pending);
        assert!(matches!(feed6(&mut r, &d, 96, 4), FragOutcome::Complete(_)));
        // A "duplicate" with other bytes is an overlap.
        let mut e = d.clone();
        assert_eq!(feed6(&mut r, &d, 0, 48), FragOutcome::Pending);
        e[3] ^= 1;
        assert_eq!(
            feed6(&mut r, &e, 0, 48),
            FragOutcome::Dropped(FragDrop::OverlapConflict)
        );
    }
}
