//! A token bucket for ICMP errors (RFC 1812 4.3.2.8 asks that they be
//! rate-limited), like Linux's global `icmp_msgs_per_sec` (1000) with
//! `icmp_msgs_burst` (50).

use serde::Serialize;

use super::time::Instant;

/// Tokens are counted in billionths so that a rate per second refills an
/// exact integer amount per nanosecond, whatever the clock's resolution.
const SCALE: u64 = 1_000_000_000;

/// Rate and burst of a [`TokenBucket`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimitConfig {
    /// Sustained messages per second (default 1000).
    pub per_sec: u32,
    /// Messages allowed at once after a quiet period (default 50).
    pub burst: u32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            per_sec: 1000,
            burst: 50,
        }
    }
}

/// Counters of the bucket (monotonic).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(default)]
pub struct RateLimitCounters {
    /// Messages allowed.
    pub allowed: u64,
    /// Messages suppressed by the limit.
    pub suppressed: u64,
}

/// A token bucket that starts full; each allowed message takes one token.
#[derive(Clone, Debug)]
pub struct TokenBucket {
    config: RateLimitConfig,
    /// Billionths of a token.
    tokens: u64,
    last: Option<Instant>,
    counters: RateLimitCounters,
}

impl Default for TokenBucket {
    fn default() -> Self {
        TokenBucket::new(RateLimitConfig::default())
    }
}

impl TokenBucket {
    /// A full bucket with this rate and burst.
    pub fn new(config: RateLimitConfig) -> Self {
        TokenBucket {
            config,
            tokens: u64::from(config.burst) * SCALE,
            last: None,
            counters: RateLimitCounters::default(),
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> RateLimitConfig {
        self.config
    }

    /// The counters so far.
    pub fn counters(&self) -> &RateLimitCounters {
        &self.counters
    }

    /// Whether a message may be sent at `now`; takes a token if so, counts a
    /// suppression if not.
    pub fn allow(&mut self, now: Instant) -> bool {
        self.refill(now);
        if self.tokens >= SCALE {
            self.tokens -= SCALE;
            self.counters.allowed += 1;
            true
        } else {
            self.counters.suppressed += 1;
            false
        }
    }

    fn refill(&mut self, now: Instant) {
        // u32::MAX * SCALE fits in a u64.
        let capacity = u64::from(self.config.burst) * SCALE;
        if let Some(last) = self.last {
            // per_sec tokens per second is per_sec billionths per nanosecond.
            let elapsed_ns = now.since(last).as_nanos();
            let add = u64::try_from(elapsed_ns)
                .unwrap_or(u64::MAX)
                .saturating_mul(u64::from(self.config.per_sec));
            self.tokens = self.tokens.saturating_add(add).min(capacity);
        }
        // Never move backwards: a stale `now` must not earn tokens twice.
        self.last = Some(self.last.map_or(now, |last| last.max(now)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Instant {
        Instant::from_millis(n)
    }

    #[test]
    fn burst_then_rate() {
        let mut b = TokenBucket::default();
        let allowed = (0..100).filter(|_| b.allow(ms(0))).count();
        assert_eq!(allowed, 50);
        assert_eq!(b.counters().suppressed, 50);
        // 1000/s is one per millisecond.
        assert!(b.allow(ms(1)));
        assert!(!b.allow(ms(1)));
        // Over one second of constant pressure, about 1000 get through.
        let mut n = 0;
        for t in 2..1002 {
            for _ in 0..5 {
                n += usize::from(b.allow(ms(t)));
            }
        }
        assert_eq!(n, 1000);
        // A quiet period refills up to the burst, no more.
        let allowed = (0..100).filter(|_| b.allow(ms(60_000))).count();
        assert_eq!(allowed, 50);
    }

    #[test]
    fn sub_millisecond_calls_still_refill() {
        let mut b = TokenBucket::new(RateLimitConfig {
            per_sec: 1000,
            burst: 1,
        });
        assert!(b.allow(Instant::from_micros(0)));
        let allowed = (1..=40)
            .filter(|i| b.allow(Instant::from_micros(i * 250)))
            .count();
        assert_eq!(allowed, 10);
    }

    #[test]
    fn slow_rates_accumulate_fractions() {
        let mut b = TokenBucket::new(RateLimitConfig {
            per_sec: 3,
            burst: 1,
        });
        assert!(b.allow(ms(0)));
        assert!(!b.allow(ms(333)));
        assert!(b.allow(ms(334)));
        assert!(!b.allow(ms(334)));
    }

    #[test]
    fn clock_going_backwards_earns_nothing() {
        let mut b = TokenBucket::new(RateLimitConfig {
            per_sec: 1000,
            burst: 1,
        });
        assert!(b.allow(ms(100)));
        assert!(!b.allow(ms(50)));
        assert!(!b.allow(ms(100)));
        assert!(b.allow(ms(101)));
    }

    #[test]
    fn zero_config_never_allows() {
        let mut b = TokenBucket::new(RateLimitConfig {
            per_sec: 0,
            burst: 0,
        });
        assert!(!b.allow(ms(0)));
        assert!(!b.allow(Instant::from_secs(1_000_000)));
        assert_eq!(b.counters().suppressed, 2);
    }
}
