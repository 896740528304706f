//! HyStart++ (RFC 9406): leaves slow start before the first loss when the
//! round-trip time grows (a queue is building), through Conservative Slow
//! Start (CSS), which grows the window by a quarter of slow start's rate
//! for a few rounds and goes back to slow start if the delay turns out to
//! have been a blip. Used for CUBIC's initial slow start, as Linux uses
//! HyStart with CUBIC.

use std::time::Duration;

use super::super::seq;

/// RFC 9406 4.3 constants.
const MIN_RTT_THRESH: Duration = Duration::from_millis(4);
const MAX_RTT_THRESH: Duration = Duration::from_millis(16);
const MIN_RTT_DIVISOR: u32 = 8;
const N_RTT_SAMPLE: u32 = 8;
pub const CSS_GROWTH_DIVISOR: u32 = 4;
const CSS_ROUNDS: u32 = 5;

/// What slow start does with this ACK.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Grow as slow start does.
    SlowStart,
    /// Grow by 1 / CSS_GROWTH_DIVISOR of that (RFC 9406 4.2, CSS).
    Conservative,
    /// CSS lasted CSS_ROUNDS rounds: ssthresh = cwnd, congestion avoidance.
    Exit,
}

#[derive(Clone, Debug, Default)]
pub struct HyStart {
    /// The round ends when this is acknowledged (SND.NXT at its start).
    window_end: Option<u32>,
    last_round_min_rtt: Option<Duration>,
    current_round_min_rtt: Option<Duration>,
    rtt_samples: u32,
    /// In CSS: the min RTT that made us enter it, and the rounds so far.
    css: Option<(Duration, u32)>,
    /// Left for good (after CSS, or after a congestion event).
    done: bool,
}

impl HyStart {
    /// One ACK in slow start acknowledging up to `ack`, with `snd_nxt` now
    /// and an RTT sample if the ACK gave one (RFC 9406 4.2).
    pub fn on_ack(&mut self, ack: u32, snd_nxt: u32, rtt: Option<Duration>) -> Phase {
        if self.done {
            return Phase::SlowStart;
        }
        // A new round starts once the previous round's data is acked.
        let round_over = self.window_end.is_none_or(|end| seq::ge(ack, end));
        if round_over {
            self.window_end = Some(snd_nxt);
            self.last_round_min_rtt = self.current_round_min_rtt.take();
            self.rtt_samples = 0;
            if let Some((base, rounds)) = self.css.as_mut() {
                *rounds += 1;
                if *rounds >= CSS_ROUNDS {
                    let _ = base;
                    self.css = None;
                    self.done = true;
                    return Phase::Exit;
                }
            }
        }
        if let Some(r) = rtt {
            self.current_round_min_rtt = Some(self.current_round_min_rtt.map_or(r, |m| m.min(r)));
            self.rtt_samples += 1;
        }
        match self.css {
            None => {
                if let (true, Some(cur), Some(last)) = (
                    self.rtt_samples >= N_RTT_SAMPLE,
                    self.current_round_min_rtt,
                    self.last_round_min_rtt,
                ) {
                    let thresh = (last / MIN_RTT_DIVISOR).clamp(MIN_RTT_THRESH, MAX_RTT_THRESH);
                    if cur >= last + thresh {
                        self.css = Some((cur, 0));
                        return Phase::Conservative;
                    }
                }
                Phase::SlowStart
            }
            Some((base, _)) => {
                // The delay fell back below the baseline: a spurious exit.
                if self.rtt_samples >= N_RTT_SAMPLE
                    && self.current_round_min_rtt.is_some_and(|cur| cur < base)
                {
                    self.css = None;
                    return Phase::SlowStart;
                }
                Phase::Conservative
            }
        }
    }

    /// A congestion event ends slow start: HyStart++ has no more to do
    /// (RFC 9406 4.2: loss in slow start or CSS goes to recovery).
    pub fn on_congestion(&mut self) {
        self.css = None;
        self.done = true;
    }

    /// In CSS now.
    pub fn in_css(&self) -> bool {
        self.css.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Option<Duration> {
        Some(Duration::from_millis(n))
    }

    /// Rounds of `n` ACKs each with RTT `rtt`; each round's data ends at
    /// `round * 100`. Returns the phases of the last round.
    fn round(h: &mut HyStart, round: u32, rtt: u64) -> Vec<Phase> {
        (0..10)
            .map(|i| h.on_ack(round * 100 + i, (round + 1) * 100, ms(rtt)))
            .collect()
    }

    #[test]
    fn a_steady_rtt_stays_in_slow_start() {
        let mut h = HyStart::default();
        for r in 0..20 {
            assert!(round(&mut h, r, 20).iter().all(|p| *p == Phase::SlowStart));
        }
    }

    #[test]
    fn a_delay_increase_goes_through_css_to_congestion_avoidance() {
        let mut h = HyStart::default();
        round(&mut h, 0, 20);
        round(&mut h, 1, 20);
        // 20 ms / 8 = 2.5 ms, raised to 4 ms: 23 ms is not enough...
        assert!(round(&mut h, 2, 23).iter().all(|p| *p == Phase::SlowStart));
        // ...24 ms over a round whose minimum was 23 would not be either;
        // 28 ms is (23 + 4 = 27): CSS after the 8th sample.
        let p = round(&mut h, 3, 28);
        assert_eq!(p[6], Phase::SlowStart);
        assert_eq!(p[7], Phase::Conservative);
        assert!(h.in_css());
        for r in 4..8 {
            assert!(round(&mut h, r, 28)
                .iter()
                .all(|p| *p == Phase::Conservative));
        }
        // The fifth round boundary in CSS: out of slow start.
        assert_eq!(h.on_ack(800, 900, ms(28)), Phase::Exit);
        assert_eq!(h.on_ack(801, 900, ms(28)), Phase::SlowStart);
    }

    #[test]
    fn a_delay_that_falls_back_returns_to_slow_start() {
        let mut h = HyStart::default();
        round(&mut h, 0, 20);
        round(&mut h, 1, 20);
        round(&mut h, 2, 30);
        assert!(h.in_css());
        let p = round(&mut h, 3, 20);
        assert_eq!(p[7], Phase::SlowStart);
        assert!(!h.in_css());
    }
}
