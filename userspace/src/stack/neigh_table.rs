//! The table both neighbour caches are built on, ARP's (`arp_cache.rs`)
//! and IPv6's (`ndp_cache.rs`), as gVisor's one neighbour cache serves
//! both: entries by address, kept in step with the two orderings a cache
//! needs, when each entry next needs `poll` and which entry goes first when
//! room is needed, so that a poll or an eviction costs a logarithm, not a
//! scan, whatever a flood put in the table.
//!
//! What differs between the protocols stays in their caches: the states
//! and their transitions (NUD's DELAY and PROBE exist only for IPv6), what
//! is learned from which message. An entry tells the table its deadline and
//! its eviction rank through [`Slot`]; every change goes through
//! [`NeighTable::modify`], which re-files it.

use std::collections::{BTreeSet, HashMap};
use std::hash::Hash;

use super::time::Instant;

/// What the table needs to know of an entry.
pub trait Slot {
    /// The cache's configuration, which deadlines may depend on.
    type Config;
    /// When `poll` next has work for this entry; `None`: never.
    fn deadline(&self, cfg: &Self::Config) -> Option<Instant>;
    /// Position in the eviction order, lowest first; `None`: never evicted
    /// (permanent entries).
    fn evict_rank(&self) -> Option<(u8, Instant)>;
}

/// Entries of type `E` by address `A`, with their deadline and eviction
/// orderings.
#[derive(Debug)]
pub struct NeighTable<A, E> {
    entries: HashMap<A, E>,
    evict: BTreeSet<(u8, Instant, A)>,
    timers: BTreeSet<(Instant, A)>,
}

impl<A, E> Default for NeighTable<A, E> {
    fn default() -> Self {
        NeighTable {
            entries: HashMap::new(),
            evict: BTreeSet::new(),
            timers: BTreeSet::new(),
        }
    }
}

impl<A: Copy + Ord + Hash, E: Slot> NeighTable<A, E> {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn get(&self, a: &A) -> Option<&E> {
        self.entries.get(a)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&A, &E)> {
        self.entries.iter()
    }

    /// Changes the entry for `a` through `f`, re-filing it in both orderings.
    pub fn modify<R>(&mut self, cfg: &E::Config, a: A, f: impl FnOnce(&mut E) -> R) -> Option<R> {
        let e = self.entries.get_mut(&a)?;
        unfile(&mut self.evict, &mut self.timers, cfg, a, e);
        let r = f(e);
        file(&mut self.evict, &mut self.timers, cfg, a, e);
        Some(r)
    }

    /// Puts `e` at `a`; returns the entry it replaced.
    pub fn insert(&mut self, cfg: &E::Config, a: A, e: E) -> Option<E> {
        let old = self.remove(cfg, a);
        file(&mut self.evict, &mut self.timers, cfg, a, &e);
        self.entries.insert(a, e);
        old
    }

    pub fn remove(&mut self, cfg: &E::Config, a: A) -> Option<E> {
        let e = self.entries.remove(&a)?;
        unfile(&mut self.evict, &mut self.timers, cfg, a, &e);
        Some(e)
    }

    /// The earliest deadline and its entry, if due at `now`.
    pub fn next_due(&self, now: Instant) -> Option<(Instant, A)> {
        self.timers.first().copied().filter(|(t, _)| *t <= now)
    }

    /// Drops a deadline key (one whose entry is gone or wants no timer),
    /// so a poll loop over [`NeighTable::next_due`] ends.
    pub fn drop_deadline(&mut self, at: Instant, a: A) {
        self.timers.remove(&(at, a));
    }

    /// When the earliest entry needs `poll`.
    pub fn poll_at(&self) -> Option<Instant> {
        self.timers.first().map(|&(t, _)| t)
    }

    /// The entry to evict first, if any may be.
    pub fn victim(&self) -> Option<A> {
        self.evict.first().map(|&(_, _, a)| a)
    }

    /// Asserts the orderings hold exactly the entries' keys (tests).
    #[cfg(test)]
    pub fn check(&self, cfg: &E::Config)
    where
        A: std::fmt::Debug,
    {
        let evictable = self
            .entries
            .values()
            .filter(|e| e.evict_rank().is_some())
            .count();
        let timed = self
            .entries
            .values()
            .filter(|e| e.deadline(cfg).is_some())
            .count();
        assert_eq!(self.evict.len(), evictable);
        assert_eq!(self.timers.len(), timed);
        for (a, e) in &self.entries {
            if let Some((rank, at)) = e.evict_rank() {
                assert!(self.evict.contains(&(rank, at, *a)), "{a:?} not in evict");
            }
            if let Some(d) = e.deadline(cfg) {
                assert!(self.timers.contains(&(d, *a)), "{a:?} not in timers");
            }
        }
    }
}

fn file<A: Copy + Ord, E: Slot>(
    evict: &mut BTreeSet<(u8, Instant, A)>,
    timers: &mut BTreeSet<(Instant, A)>,
    cfg: &E::Config,
    a: A,
    e: &E,
) {
    if let Some((rank, at)) = e.evict_rank() {
        evict.insert((rank, at, a));
    }
    if let Some(d) = e.deadline(cfg) {
        timers.insert((d, a));
    }
}

fn unfile<A: Copy + Ord, E: Slot>(
    evict: &mut BTreeSet<(u8, Instant, A)>,
    timers: &mut BTreeSet<(Instant, A)>,
    cfg: &E::Config,
    a: A,
    e: &E,
) {
    if let Some((rank, at)) = e.evict_rank() {
        evict.remove(&(rank, at, a));
    }
    if let Some(d) = e.deadline(cfg) {
        timers.remove(&(d, a));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A toy entry: a deadline and a rank, set by the test.
    struct T {
        deadline: Option<Instant>,
        rank: Option<(u8, Instant)>,
    }

    impl Slot for T {
        type Config = ();
        fn deadline(&self, _: &()) -> Option<Instant> {
            self.deadline
        }
        fn evict_rank(&self) -> Option<(u8, Instant)> {
            self.rank
        }
    }

    fn ms(n: u64) -> Instant {
        Instant::from_millis(n)
    }

    #[test]
    fn orderings_follow_every_change() {
        let mut t: NeighTable<u32, T> = NeighTable::default();
        t.insert(
            &(),
            1,
            T {
                deadline: Some(ms(30)),
                rank: Some((1, ms(0))),
            },
        );
        t.insert(
            &(),
            2,
            T {
                deadline: Some(ms(10)),
                rank: Some((0, ms(5))),
            },
        );
        t.insert(
            &(),
            3,
            T {
                deadline: None,
                rank: None,
            },
        );
        t.check(&());
        assert_eq!(t.poll_at(), Some(ms(10)));
        assert_eq!(t.next_due(ms(9)), None);
        assert_eq!(t.next_due(ms(10)), Some((ms(10), 2)));
        assert_eq!(t.victim(), Some(2));
        t.modify(&(), 2, |e| {
            e.deadline = Some(ms(50));
            e.rank = Some((2, ms(0)));
        });
        t.check(&());
        assert_eq!(t.poll_at(), Some(ms(30)));
        assert_eq!(t.victim(), Some(1));
        assert!(t.remove(&(), 1).is_some());
        assert!(t.remove(&(), 1).is_none());
        t.check(&());
        // Replacing keeps one filing.
        let old = t.insert(
            &(),
            2,
            T {
                deadline: None,
                rank: None,
            },
        );
        assert!(old.is_some());
        t.check(&());
        assert_eq!((t.poll_at(), t.victim(), t.len()), (None, None, 2));
        assert_eq!(t.modify(&(), 9, |_| ()), None);
    }
}
