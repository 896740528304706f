//! Time as a value: the stack never reads a clock itself. The daemon passes
//! `Instant::now()`-derived values in; the tests pass a fake clock.

use std::ops::{Add, Sub};
use std::time::Duration;

/// Microseconds since an arbitrary origin (the daemon's start): fine enough
/// for ping round trips on a veth, coarse enough to never overflow.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(u64);

impl Instant {
    pub const ZERO: Instant = Instant(0);

    pub const fn from_micros(us: u64) -> Self {
        Instant(us)
    }

    pub const fn from_millis(ms: u64) -> Self {
        Instant(ms.saturating_mul(1000))
    }

    pub const fn from_secs(s: u64) -> Self {
        Instant(s.saturating_mul(1_000_000))
    }

    pub const fn micros(self) -> u64 {
        self.0
    }

    pub const fn millis(self) -> u64 {
        self.0 / 1000
    }

    /// Time elapsed since `earlier`, zero when `earlier` is in the future.
    pub const fn since(self, earlier: Instant) -> Duration {
        Duration::from_micros(self.0.saturating_sub(earlier.0))
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, d: Duration) -> Instant {
        Instant(self.0.saturating_add(d.as_micros() as u64))
    }
}

impl Sub<Duration> for Instant {
    type Output = Instant;
    fn sub(self, d: Duration) -> Instant {
        Instant(self.0.saturating_sub(d.as_micros() as u64))
    }
}

/// A monotonic clock for the daemon: `Instant`s relative to its creation.
#[derive(Clone, Copy, Debug)]
pub struct MonotonicClock(std::time::Instant);

impl MonotonicClock {
    pub fn start() -> Self {
        MonotonicClock(std::time::Instant::now())
    }

    pub fn now(&self) -> Instant {
        Instant(self.0.elapsed().as_micros() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates() {
        let t = Instant::from_secs(2);
        assert_eq!((t + Duration::from_millis(500)).millis(), 2500);
        assert_eq!((t - Duration::from_secs(5)).millis(), 0);
        assert_eq!(t.since(Instant::from_secs(3)), Duration::ZERO);
        assert_eq!(Instant::from_secs(3).since(t), Duration::from_secs(1));
    }
}
