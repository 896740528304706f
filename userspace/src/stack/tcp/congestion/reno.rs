//! NewReno's window arithmetic (RFC 5681 3.1): slow start, congestion
//! avoidance of about one SMSS per RTT, ssthresh = FlightSize / 2. The
//! recovery itself (RFC 6582) is the connection's.

use std::time::Duration;

use super::{slow_start, Controller};
use crate::stack::time::Instant;

#[derive(Clone, Copy, Debug, Default)]
pub struct Reno;

impl Controller for Reno {
    fn on_ack(
        &mut self,
        _now: Instant,
        cwnd: u32,
        ssthresh: u32,
        acked: u32,
        mss: u32,
        _rtt: Option<Duration>,
    ) -> u32 {
        if acked == 0 {
            cwnd
        } else if cwnd < ssthresh {
            slow_start(cwnd, ssthresh, acked)
        } else {
            // RFC 5681 eq. 3: SMSS * SMSS / cwnd per ACK.
            cwnd.saturating_add((mss * mss / cwnd.max(1)).max(1))
        }
    }

    fn on_congestion(&mut self, _now: Instant, _cwnd: u32, flight: u32, mss: u32) -> u32 {
        // RFC 5681 eq. 4.
        (flight / 2).max(2 * mss)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slow_start_then_one_mss_per_window() {
        let mut r = Reno;
        let now = Instant::ZERO;
        assert_eq!(r.on_ack(now, 4000, 10_000, 1000, 1000, None), 5000);
        // Every byte an ACK covers (Linux), up to ssthresh.
        assert_eq!(r.on_ack(now, 4000, 10_000, 3000, 1000, None), 7000);
        assert_eq!(r.on_ack(now, 9000, 10_000, 3000, 1000, None), 10_000);
        // Congestion avoidance: cwnd / SMSS ACKs add one SMSS.
        let mut w = 10_000;
        for _ in 0..10 {
            w = r.on_ack(now, w, 10_000, 1000, 1000, None);
        }
        assert!((10_900..=11_000).contains(&w), "{w}");
        assert_eq!(r.on_congestion(now, 20_000, 30_000, 1000), 15_000);
        assert_eq!(r.on_congestion(now, 20_000, 1000, 1000), 2000);
    }
}
