//! Start-up of our IPv6 addresses, as a pure state machine: Duplicate
//! Address Detection (RFC 4862 5.4) and the MLDv2 reports that join their
//! solicited-node groups (RFC 3810 6.1), so that switches with MLD
//! snooping deliver solicitations to us.
//!
//! At start every address is tentative: the caller sends an MLDv2 report
//! (from :: while the link-local address is tentative, RFC 3810 5.2.13),
//! then one Neighbor Solicitation from :: per address
//! (DupAddrDetectTransmits 1, RFC 4862 5.1) to its solicited-node group.
//! An address that no one claims within RetransTimer (1 s) becomes
//! preferred. One claimed by an advert from another node becomes duplicate
//! and the stack stops using it (RFC 4862 5.4.5). Tentative addresses are
//! used meanwhile, as RFC 4429's optimistic addresses are: the XDP program
//! answers for them from the first frame anyway.
//!
//! Reports are sent `robustness` times (2), 1 s apart (RFC 3810 9.1, 9.11),
//! and once again after a query, at a random moment within its Maximum
//! Response Delay (RFC 3810 6.2).

use std::net::Ipv6Addr;
use std::time::Duration;

use serde::Serialize;

use super::time::Instant;

/// RFC 4862 5.1 and RFC 4861 10 (RetransTimer), RFC 3810 9.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DadConfig {
    pub transmits: u32,
    pub retrans: Duration,
    pub robustness: u32,
    pub report_interval: Duration,
}

impl Default for DadConfig {
    fn default() -> Self {
        DadConfig {
            transmits: 1,
            retrans: Duration::from_secs(1),
            robustness: 2,
            report_interval: Duration::from_secs(1),
        }
    }
}

/// RFC 4862 2's address states, as far as a host without lifetimes has them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AddrState {
    Tentative,
    Preferred,
    /// Claimed by another node during DAD: not used.
    Duplicate,
}

/// What the caller must send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DadAction {
    /// A Neighbor Solicitation from :: for this address to its
    /// solicited-node group.
    Probe(Ipv6Addr),
    /// An MLDv2 report for every solicited-node group: state changes
    /// (CHANGE_TO_EXCLUDE) at start, current state (MODE_IS_EXCLUDE) for
    /// a query.
    Report { answer_to_query: bool },
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(default)]
pub struct DadCounters {
    pub probes_sent: u64,
    /// Addresses that passed DAD.
    pub succeeded: u64,
    /// Addresses another node claimed during DAD (not used since).
    pub failed: u64,
    /// Claims for addresses already preferred (the XDP program defends them).
    pub conflicts_later: u64,
    pub reports_sent: u64,
    pub queries_received: u64,
}

#[derive(Clone, Debug)]
struct Addr {
    ip: Ipv6Addr,
    state: AddrState,
    sent: u32,
    next: Option<Instant>,
}

#[derive(Clone, Debug)]
pub struct Dad {
    cfg: DadConfig,
    addrs: Vec<Addr>,
    reports_left: u32,
    next_report: Option<Instant>,
    query_report_at: Option<Instant>,
    counters: DadCounters,
    /// Keeps the addresses' states on the same clock but sends and counts
    /// nothing: the daemon's shards other than 0, so the host probes and
    /// reports once, not once per shard (see `Stack::set_shard`).
    quiet: bool,
}

impl Dad {
    /// Starts DAD for `addrs` at `now`.
    pub fn new(cfg: DadConfig, addrs: &[Ipv6Addr], now: Instant) -> Dad {
        let any = !addrs.is_empty();
        Dad {
            addrs: addrs
                .iter()
                .map(|&ip| Addr {
                    ip,
                    state: AddrState::Tentative,
                    sent: 0,
                    next: Some(now),
                })
                .collect(),
            reports_left: if any { cfg.robustness } else { 0 },
            next_report: any.then_some(now),
            query_report_at: None,
            counters: DadCounters::default(),
            quiet: false,
            cfg,
        }
    }

    /// From now on, follow the addresses' states without sending or
    /// counting anything (probes, reports, successes).
    pub fn set_quiet(&mut self) {
        self.quiet = true;
    }

    pub fn counters(&self) -> &DadCounters {
        &self.counters
    }

    /// The state of our address `ip`, if it is one.
    pub fn state(&self, ip: Ipv6Addr) -> Option<AddrState> {
        self.addrs.iter().find(|a| a.ip == ip).map(|a| a.state)
    }

    /// True unless DAD found `ip` duplicate.
    pub fn usable(&self, ip: Ipv6Addr) -> bool {
        self.state(ip) != Some(AddrState::Duplicate)
    }

    /// Another node advertised `ip`, one of ours (RFC 4862 5.4.4).
    /// True if this made the address duplicate.
    pub fn on_claim(&mut self, ip: Ipv6Addr) -> bool {
        let Some(a) = self.addrs.iter_mut().find(|a| a.ip == ip) else {
            return false;
        };
        match a.state {
            AddrState::Tentative => {
                a.state = AddrState::Duplicate;
                a.next = None;
                self.counters.failed += 1;
                true
            }
            AddrState::Preferred => {
                self.counters.conflicts_later += 1;
                false
            }
            AddrState::Duplicate => false,
        }
    }

    /// A Multicast Listener Query: report within `max_delay` (RFC 3810 6.2;
    /// `jitter` in [0, 1) picks the moment). A report already due sooner
    /// stands.
    pub fn on_query(&mut self, now: Instant, max_delay: Duration, jitter: f64) {
        self.counters.queries_received += 1;
        if self.addrs.is_empty() {
            return;
        }
        let at = now + max_delay.mul_f64(jitter.clamp(0.0, 1.0));
        if self.query_report_at.is_none_or(|t| at < t) {
            self.query_report_at = Some(at);
        }
    }

    /// Runs what is due at `now`.
    pub fn poll(&mut self, now: Instant) -> Vec<DadAction> {
        let mut out = Vec::new();
        // The report first: the groups are joined before the probes
        // (RFC 4862 5.4.2).
        if self.next_report.is_some_and(|t| t <= now) {
            self.reports_left = self.reports_left.saturating_sub(1);
            self.next_report = (self.reports_left > 0).then(|| now + self.cfg.report_interval);
            self.counters.reports_sent += u64::from(!self.quiet);
            out.push(DadAction::Report {
                answer_to_query: false,
            });
        }
        if self.query_report_at.is_some_and(|t| t <= now) {
            self.query_report_at = None;
            self.counters.reports_sent += u64::from(!self.quiet);
            out.push(DadAction::Report {
                answer_to_query: true,
            });
        }
        for a in &mut self.addrs {
            if a.state != AddrState::Tentative || a.next.is_none_or(|t| t > now) {
                continue;
            }
            if a.sent < self.cfg.transmits {
                a.sent += 1;
                a.next = Some(now + self.cfg.retrans);
                self.counters.probes_sent += u64::from(!self.quiet);
                out.push(DadAction::Probe(a.ip));
            } else {
                a.state = AddrState::Preferred;
                a.next = None;
                self.counters.succeeded += u64::from(!self.quiet);
            }
        }
        if self.quiet {
            out.clear();
        }
        out
    }

    pub fn poll_at(&self) -> Option<Instant> {
        self.addrs
            .iter()
            .filter_map(|a| a.next)
            .chain(self.next_report)
            .chain(self.query_report_at)
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 4);
    const B: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 4);

    fn ms(n: u64) -> Instant {
        Instant::from_millis(n)
    }

    #[test]
    fn report_then_probes_then_preferred_after_retrans_timer() {
        let mut d = Dad::new(DadConfig::default(), &[A, B], ms(0));
        assert_eq!(d.poll_at(), Some(ms(0)));
        assert_eq!(
            d.poll(ms(0)),
            vec![
                DadAction::Report {
                    answer_to_query: false
                },
                DadAction::Probe(A),
                DadAction::Probe(B)
            ]
        );
        assert_eq!(d.state(A), Some(AddrState::Tentative));
        assert_eq!(d.poll_at(), Some(ms(1000)));
        // The second report, and DAD done.
        assert_eq!(
            d.poll(ms(1000)),
            vec![DadAction::Report {
                answer_to_query: false
            }]
        );
        assert_eq!(d.state(A), Some(AddrState::Preferred));
        assert_eq!(d.state(B), Some(AddrState::Preferred));
        assert_eq!(d.poll_at(), None);
        assert_eq!(d.counters().succeeded, 2);
    }

    #[test]
    fn a_claim_during_dad_makes_the_address_duplicate() {
        let mut d = Dad::new(DadConfig::default(), &[A, B], ms(0));
        d.poll(ms(0));
        assert!(d.on_claim(A));
        assert!(!d.usable(A));
        d.poll(ms(1000));
        assert_eq!(d.state(A), Some(AddrState::Duplicate));
        assert_eq!(d.state(B), Some(AddrState::Preferred));
        // Later claims are counted; the address stays.
        assert!(!d.on_claim(B));
        assert!(d.usable(B));
        assert_eq!((d.counters().failed, d.counters().conflicts_later), (1, 1));
        assert!(!d.on_claim("fd00::99".parse().unwrap()));
    }

    #[test]
    fn a_query_is_answered_within_its_delay() {
        let mut d = Dad::new(DadConfig::default(), &[A], ms(0));
        d.poll(ms(0));
        d.poll(ms(1000));
        d.on_query(ms(5000), Duration::from_secs(10), 0.25);
        assert_eq!(d.poll_at(), Some(ms(7500)));
        // A later query with a longer delay does not postpone it.
        d.on_query(ms(6000), Duration::from_secs(10), 0.9);
        assert!(d.poll(ms(7499)).is_empty());
        assert_eq!(
            d.poll(ms(7500)),
            vec![DadAction::Report {
                answer_to_query: true
            }]
        );
        assert_eq!(d.poll_at(), None);
    }

    #[test]
    fn without_addresses_nothing_happens() {
        let mut d = Dad::new(DadConfig::default(), &[], ms(0));
        assert_eq!(d.poll_at(), None);
        d.on_query(ms(0), Duration::from_secs(1), 0.5);
        assert!(d.poll(ms(10_000)).is_empty());
    }

    #[test]
    fn a_quiet_dad_follows_the_states_but_sends_and_counts_nothing() {
        let mut loud = Dad::new(DadConfig::default(), &[A], ms(0));
        let mut quiet = Dad::new(DadConfig::default(), &[A], ms(0));
        quiet.set_quiet();
        for step in 0..20 {
            let now = ms(step * 250);
            assert!(quiet.poll(now).is_empty());
            loud.poll(now);
            assert_eq!(quiet.state(A), loud.state(A));
            assert_eq!(quiet.poll_at(), loud.poll_at());
        }
        assert_eq!(loud.state(A), Some(AddrState::Preferred));
        assert!(loud.counters().probes_sent > 0 && loud.counters().succeeded == 1);
        assert_eq!(quiet.counters(), &DadCounters::default());
    }
}
