//! CUBIC (RFC 9438): after a congestion event the window follows
//! W_cubic(t) = C * (t - K)^3 + W_max (eq. 1), concave up to the window
//! where the loss happened, then convex beyond it, with Reno's rate as a
//! floor (the Reno-friendly region, 4.3). Windows are kept in segments as
//! floating point, as the RFC writes them; the connection sees bytes.

use std::time::Duration;

use super::{slow_start, Controller};
use crate::stack::time::Instant;

/// RFC 9438 4.1: C, in segments per second cubed.
pub const C: f64 = 0.4;
/// RFC 9438 4.6: the multiplicative decrease factor.
pub const BETA: f64 = 0.7;

/// One connection's CUBIC state.
#[derive(Clone, Debug, Default)]
pub struct Cubic {
    /// W_max: the window (segments) just before the last reduction.
    w_max: f64,
    /// The current congestion avoidance epoch: starts at the first ACK in
    /// congestion avoidance after slow start or recovery (4.2).
    epoch: Option<Epoch>,
    /// Byte fractions of growth not yet added to cwnd.
    carry: f64,
}

#[derive(Clone, Copy, Debug)]
struct Epoch {
    start: Instant,
    /// K (eq. 2), seconds.
    k: f64,
    /// W_est (4.3), segments: what Reno would have reached.
    w_est: f64,
}

impl Cubic {
    /// W_cubic(t) (eq. 1), segments, `t` seconds into the epoch.
    fn w_cubic(&self, k: f64, t: f64) -> f64 {
        C * (t - k).powi(3) + self.w_max
    }

    /// W_max, segments (for tests and the curious).
    pub fn w_max(&self) -> f64 {
        self.w_max
    }
}

impl Controller for Cubic {
    fn on_ack(
        &mut self,
        now: Instant,
        cwnd: u32,
        ssthresh: u32,
        acked: u32,
        mss: u32,
        rtt: Option<Duration>,
    ) -> u32 {
        if acked == 0 {
            return cwnd;
        }
        if cwnd < ssthresh {
            return slow_start(cwnd, ssthresh, acked);
        }
        let mss_f = f64::from(mss.max(1));
        let w = f64::from(cwnd) / mss_f;
        let epoch = *self.epoch.get_or_insert_with(|| {
            // 4.2: a first epoch with no loss yet starts at the origin.
            if self.w_max < w {
                self.w_max = w;
            }
            Epoch {
                start: now,
                k: ((self.w_max - w) / C).cbrt(),
                w_est: w,
            }
        });
        let t = now.since(epoch.start).as_secs_f64();
        let rtt = rtt.map_or(0.0, |r| r.as_secs_f64());
        let segs = f64::from(acked) / mss_f;
        // 4.3: W_est grows by alpha_cubic segments per window of ACKs;
        // alpha_cubic = 3 (1 - beta) / (1 + beta) until W_est reaches
        // W_max, then Reno's 1.
        let alpha = if epoch.w_est >= self.w_max {
            1.0
        } else {
            3.0 * (1.0 - BETA) / (1.0 + BETA)
        };
        let w_est = epoch.w_est + alpha * segs / w;
        if let Some(e) = self.epoch.as_mut() {
            e.w_est = w_est;
        }
        let new = if self.w_cubic(epoch.k, t) < w_est {
            // 4.3: the Reno-friendly region.
            w_est
        } else {
            // 4.4/4.5: towards W_cubic one RTT ahead, at most 1.5 cwnd,
            // by (target - cwnd) / cwnd per segment acknowledged.
            let target = self.w_cubic(epoch.k, t + rtt).clamp(w, 1.5 * w);
            w + (target - w) / w * segs
        };
        self.carry += (new - w).max(0.0) * mss_f;
        let whole = self.carry.floor();
        self.carry -= whole;
        cwnd.saturating_add(whole.min(f64::from(u32::MAX)) as u32)
    }

    fn on_congestion(&mut self, _now: Instant, cwnd: u32, _flight: u32, mss: u32) -> u32 {
        let mss_f = f64::from(mss.max(1));
        let w = f64::from(cwnd) / mss_f;
        // 4.7 fast convergence: a flow whose window is below the last
        // W_max yields: it remembers less than it had.
        self.w_max = if w < self.w_max {
            w * (1.0 + BETA) / 2.0
        } else {
            w
        };
        self.epoch = None;
        self.carry = 0.0;
        // 4.6: ssthresh = cwnd * beta, at least 2 segments (RFC 5681).
        ((f64::from(cwnd) * BETA) as u32).max(2 * mss)
    }

    /// RFC 9438 5.8, as Linux (CA_EVENT_TX_START): time spent idle does
    /// not count as time in the epoch, so W_cubic(t) does not leap ahead
    /// when the sender resumes.
    fn on_idle(&mut self, now: Instant, idle: Duration) {
        if let Some(e) = self.epoch.as_mut() {
            e.start = (e.start + idle).min(now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSS: u32 = 1000;

    /// Feeds a full window of one-segment ACKs per RTT for `secs`,
    /// returning cwnd (bytes) sampled every RTT with its time.
    fn grow(c: &mut Cubic, start: Instant, cwnd: u32, secs: f64, rtt: Duration) -> Vec<(f64, u32)> {
        let mut w = cwnd;
        let mut now = start;
        let mut out = Vec::new();
        while now.since(start).as_secs_f64() < secs {
            let acks = w / MSS;
            for i in 0..acks {
                let at = now + rtt * i / acks.max(1);
                w = c.on_ack(at, w, cwnd, MSS, MSS, Some(rtt));
            }
            now = now + rtt;
            out.push((now.since(start).as_secs_f64(), w));
        }
        out
    }

    #[test]
    fn window_follows_the_cubic_curve_after_a_loss() {
        let mut c = Cubic::default();
        let t0 = Instant::from_secs(10);
        // A loss at 100 segments: ssthresh = beta * W (4.6).
        let ss = c.on_congestion(t0, 100 * MSS, 100 * MSS, MSS);
        assert_eq!(ss, 70 * MSS);
        assert_eq!(c.w_max(), 100.0);
        // K = cbrt((100 - 70) / 0.4) = 4.217 s (eq. 2).
        let k = (30.0f64 / C).cbrt();
        let rtt = Duration::from_millis(100);
        let trace = grow(&mut c, t0, ss, 8.0, rtt);
        // At a few points the window is W_cubic(t) (eq. 1) within 2%: the
        // per-ACK steps aim one RTT ahead, so they land on the curve.
        // (Past about 5.5 s Reno's estimate, 4.3, overtakes the curve at
        // this RTT; `short_rtt_growth_is_reno_friendly` covers that.)
        for at in [1.0, 2.5, k, 5.0] {
            let &(t, w) = trace
                .iter()
                .find(|(t, _)| *t >= at)
                .expect("sampled that far");
            let want = C * (t - k).powi(3) + 100.0;
            let got = f64::from(w) / f64::from(MSS);
            assert!(
                (got - want).abs() / want < 0.02,
                "t={t:.2}: cwnd {got:.2} segments, W_cubic {want:.2}"
            );
        }
        // Concave below W_max, a plateau near K, convex after it.
        let at = |s: f64| trace.iter().find(|(t, _)| *t >= s).map_or(0, |e| e.1);
        assert!(at(1.0) - at(0.1) > at(4.0) - at(3.1));
        assert!(at(5.5) - at(5.0) > at(4.7) - at(4.2));
        // Never below the curve afterwards.
        let &(t, w) = trace.iter().find(|(t, _)| *t >= 7.5).unwrap();
        assert!(f64::from(w) / f64::from(MSS) >= C * (t - k).powi(3) + 100.0 - 0.5);
    }

    #[test]
    fn fast_convergence_lowers_w_max() {
        let mut c = Cubic::default();
        let now = Instant::ZERO;
        c.on_congestion(now, 100 * MSS, 0, MSS);
        // A second loss below the old W_max (4.7): W_max = W (1 + beta) / 2.
        let ss = c.on_congestion(now, 80 * MSS, 0, MSS);
        assert_eq!(ss, 56 * MSS);
        assert!((c.w_max() - 68.0).abs() < 1e-9);
        // Never below two segments.
        assert_eq!(c.on_congestion(now, 2 * MSS, 0, MSS), 2 * MSS);
    }

    #[test]
    fn short_rtt_growth_is_reno_friendly() {
        // With a 1 ms RTT the cubic curve barely moves in a few hundred
        // RTTs; Reno's estimate (4.3) then sets the pace: alpha_cubic
        // = 3 * 0.3 / 1.7 segments per RTT.
        let mut c = Cubic::default();
        let t0 = Instant::from_secs(1);
        let ss = c.on_congestion(t0, 1000 * MSS, 0, MSS);
        let rtt = Duration::from_millis(1);
        let trace = grow(&mut c, t0, ss, 0.2, rtt);
        let (_, last) = *trace.last().unwrap();
        let rtts = trace.len() as f64;
        let alpha = 3.0 * (1.0 - BETA) / (1.0 + BETA);
        let want = 700.0 + alpha * rtts;
        let got = f64::from(last) / f64::from(MSS);
        assert!((got - want).abs() < 2.0, "{got} vs {want}");
        assert!(got - 700.0 > 50.0, "grew like Reno, not stuck on the curve");
    }

    #[test]
    fn first_epoch_without_a_loss_starts_at_the_origin_with_reno_pace() {
        let mut c = Cubic::default();
        let t0 = Instant::from_secs(1);
        let rtt = Duration::from_millis(50);
        let trace = grow(&mut c, t0, 10 * MSS, 2.0, rtt);
        // K = 0, W_max = 10 (4.2); W_est starts at W_max, so alpha is 1
        // (4.3) and the window grows as Reno's, one segment per RTT, which
        // over 2 s is more than the cubic curve's 0.4 * 2^3 = 3.2.
        assert_eq!(c.w_max(), 10.0);
        let (_, w) = *trace.last().unwrap();
        let got = f64::from(w) / f64::from(MSS);
        let want = 10.0 + trace.len() as f64;
        assert!((got - want).abs() < 2.0, "{got} vs {want}");
    }

    #[test]
    fn idle_time_does_not_count_in_the_epoch() {
        // Two flows 1 s into an epoch after a loss at 100 segments; one
        // then sits idle for 3 s. Its next ACK grows the window as the
        // other's did at 1 s, not as W_cubic(4 s) near W_max would.
        let rtt = Duration::from_millis(100);
        let t0 = Instant::from_secs(10);
        let mut busy = Cubic::default();
        let ss = busy.on_congestion(t0, 100 * MSS, 0, MSS);
        let mut idle = busy.clone();
        let w = busy.on_ack(t0, ss, ss, MSS, MSS, Some(rtt));
        assert_eq!(idle.on_ack(t0, ss, ss, MSS, MSS, Some(rtt)), w);
        let step = |c: &mut Cubic, at: Instant| c.on_ack(at, w, ss, 10 * MSS, MSS, Some(rtt)) - w;
        let mut resting = idle.clone();
        idle.on_idle(t0 + Duration::from_secs(4), Duration::from_secs(3));
        let want = step(&mut busy, t0 + Duration::from_secs(1));
        assert_eq!(step(&mut idle, t0 + Duration::from_secs(4)), want);
        // Without the shift the curve has moved on: a bigger step.
        assert!(step(&mut resting, t0 + Duration::from_secs(4)) > want + MSS);
    }
}
