//! Address conflict detection and defence (RFC 5227), as a pure state machine.
//!
//! Our address is statically configured, so we do not probe (RFC 5227 2.1);
//! we announce it at start-up (2.3) and, when another host claims it, keep
//! it and defend it indefinitely (2.4 (c)), with at most one defensive
//! announcement per DEFEND_INTERVAL (2.4 (b), (c)).

use std::net::Ipv4Addr;
use std::time::Duration;

use serde::Serialize;

use super::time::Instant;
use crate::wire::MacAddr;

/// Number of gratuitous announcements at start-up (RFC 5227 2.3, ANNOUNCE_NUM).
pub const ANNOUNCE_NUM: u32 = 2;
/// Time between start-up announcements (RFC 5227 2.3, ANNOUNCE_INTERVAL).
pub const ANNOUNCE_INTERVAL: Duration = Duration::from_secs(2);
/// Minimum time between defensive announcements (RFC 5227 2.4 (b), DEFEND_INTERVAL).
pub const DEFEND_INTERVAL: Duration = Duration::from_secs(10);

/// Why an announcement is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AnnounceReason {
    /// One of the ANNOUNCE_NUM start-up announcements.
    Startup,
    /// Defending our address against a conflicting host.
    Defend,
}

/// Broadcast an ARP announcement: a request with sender and target IP both
/// `ip` and sender MAC `mac` (RFC 5227 2.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Announce {
    pub ip: Ipv4Addr,
    pub mac: MacAddr,
    pub reason: AnnounceReason,
}

/// The verdict on a received ARP packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConflictOutcome {
    /// The packet does not claim our address.
    NoConflict,
    /// Another MAC claims our IP (counted): warn about it, and send `defend` if set.
    Conflict {
        /// The MAC of the host claiming our address.
        sender_mac: MacAddr,
        /// The defensive announcement to send now, unless one went out in the last DEFEND_INTERVAL.
        defend: Option<Announce>,
    },
}

/// Counters of the defence (monotonic).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(default)]
pub struct DefenceCounters {
    /// Start-up announcements sent.
    pub announcements: u64,
    /// ARP packets from another MAC claiming our IP.
    pub conflicts: u64,
    /// Defensive announcements sent.
    pub defences: u64,
    /// Conflicts not answered because of DEFEND_INTERVAL.
    pub defences_suppressed: u64,
}

/// Announces our address at start-up and defends it against conflicts.
#[derive(Clone, Debug)]
pub struct ArpDefence {
    ip: Ipv4Addr,
    mac: MacAddr,
    announces_left: u32,
    next_announce: Option<Instant>,
    last_defence: Option<Instant>,
    counters: DefenceCounters,
}

impl ArpDefence {
    /// A defence for `ip` owned by `mac`; nothing is announced until `start`.
    pub fn new(ip: Ipv4Addr, mac: MacAddr) -> Self {
        ArpDefence {
            ip,
            mac,
            announces_left: 0,
            next_announce: None,
            last_defence: None,
            counters: DefenceCounters::default(),
        }
    }

    /// The address defended.
    pub fn ip(&self) -> Ipv4Addr {
        self.ip
    }

    /// The counters so far.
    pub fn counters(&self) -> &DefenceCounters {
        &self.counters
    }

    /// Schedule the start-up announcements: the first at `now`, the next
    /// ANNOUNCE_INTERVAL later (RFC 5227 2.3).
    pub fn start(&mut self, now: Instant) {
        self.announces_left = ANNOUNCE_NUM;
        self.next_announce = Some(now);
    }

    /// Check a received ARP packet (request or reply) for a conflict: sender
    /// IP ours, sender MAC not ours (RFC 5227 2.4).
    pub fn on_arp(
        &mut self,
        now: Instant,
        sender_ip: Ipv4Addr,
        sender_mac: MacAddr,
    ) -> ConflictOutcome {
        if sender_ip != self.ip || sender_mac == self.mac {
            return ConflictOutcome::NoConflict;
        }
        self.counters.conflicts += 1;
        let may_defend = self
            .last_defence
            .is_none_or(|last| now >= last + DEFEND_INTERVAL);
        let defend = if may_defend {
            self.last_defence = Some(now);
            self.counters.defences += 1;
            Some(self.announce(AnnounceReason::Defend))
        } else {
            self.counters.defences_suppressed += 1;
            None
        };
        ConflictOutcome::Conflict { sender_mac, defend }
    }

    /// The start-up announcement due at `now`, if any.
    pub fn poll(&mut self, now: Instant) -> Option<Announce> {
        self.next_announce.filter(|&t| now >= t)?;
        self.announces_left = self.announces_left.saturating_sub(1);
        // From `now`, so a late poll still leaves ANNOUNCE_INTERVAL between the two.
        self.next_announce = (self.announces_left > 0).then(|| now + ANNOUNCE_INTERVAL);
        self.counters.announcements += 1;
        Some(self.announce(AnnounceReason::Startup))
    }

    /// When `poll` next has an announcement to make.
    pub fn poll_at(&self) -> Option<Instant> {
        self.next_announce
    }

    fn announce(&self, reason: AnnounceReason) -> Announce {
        Announce {
            ip: self.ip,
            mac: self.mac,
            reason,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const US: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    const OUR_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);
    const THEIR_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 0x66]);

    fn ms(n: u64) -> Instant {
        Instant::from_millis(n)
    }

    #[test]
    fn two_announcements_two_seconds_apart() {
        let mut d = ArpDefence::new(US, OUR_MAC);
        assert_eq!(d.poll_at(), None);
        assert_eq!(d.poll(ms(0)), None);
        d.start(ms(1000));
        assert_eq!(d.poll_at(), Some(ms(1000)));
        assert_eq!(d.poll(ms(999)), None);
        let a = d.poll(ms(1000)).unwrap();
        assert_eq!(
            a,
            Announce {
                ip: US,
                mac: OUR_MAC,
                reason: AnnounceReason::Startup
            }
        );
        assert_eq!(d.poll_at(), Some(ms(3000)));
        assert_eq!(d.poll(ms(2999)), None);
        assert!(d.poll(ms(3000)).is_some());
        assert_eq!(d.poll_at(), None);
        assert_eq!(d.poll(ms(100_000)), None);
        assert_eq!(d.counters().announcements, 2);
    }

    #[test]
    fn ours_and_others_are_not_conflicts() {
        let mut d = ArpDefence::new(US, OUR_MAC);
        assert_eq!(d.on_arp(ms(0), US, OUR_MAC), ConflictOutcome::NoConflict);
        assert_eq!(
            d.on_arp(ms(0), Ipv4Addr::new(10, 0, 0, 2), THEIR_MAC),
            ConflictOutcome::NoConflict
        );
        assert_eq!(d.counters().conflicts, 0);
    }

    #[test]
    fn defend_at_most_every_ten_seconds() {
        let mut d = ArpDefence::new(US, OUR_MAC);
        let t = 5_000;
        let defend = Some(Announce {
            ip: US,
            mac: OUR_MAC,
            reason: AnnounceReason::Defend,
        });
        assert_eq!(
            d.on_arp(ms(t), US, THEIR_MAC),
            ConflictOutcome::Conflict {
                sender_mac: THEIR_MAC,
                defend
            }
        );
        // Reported and counted, but not defended, until t + 10 s.
        for dt in [0, 1, 5_000, 9_999] {
            assert_eq!(
                d.on_arp(ms(t + dt), US, THEIR_MAC),
                ConflictOutcome::Conflict {
                    sender_mac: THEIR_MAC,
                    defend: None
                }
            );
        }
        assert_eq!(
            d.on_arp(ms(t + 10_000), US, THEIR_MAC),
            ConflictOutcome::Conflict {
                sender_mac: THEIR_MAC,
                defend
            }
        );
        let c = d.counters();
        assert_eq!((c.conflicts, c.defences, c.defences_suppressed), (6, 2, 4));
    }
}
