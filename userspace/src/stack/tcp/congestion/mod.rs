//! Congestion control behind a trait, as Linux's `tcp_congestion_ops` and
//! smoltcp's `Controller`: the connection keeps `cwnd` and `ssthresh` and
//! runs loss recovery itself (NewReno RFC 6582, SACK RFC 6675: the same
//! for every algorithm); an algorithm decides how the window grows on an
//! ACK and what `ssthresh` becomes on a congestion event.
//!
//! - `reno.rs`: slow start, congestion avoidance and halving (RFC 5681);
//! - `cubic.rs`: CUBIC (RFC 9438), the default, as in Linux;
//! - `hystart.rs`: HyStart++ (RFC 9406), leaving CUBIC's initial slow
//!   start when the delay grows.

mod cubic;
mod hystart;
mod reno;

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::stack::time::Instant;
pub use cubic::Cubic;
pub use hystart::{HyStart, Phase, CSS_GROWTH_DIVISOR};
pub use reno::Reno;

/// Which algorithm a connection uses (`TcpConfig::congestion`, `--tcp-cc`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Algorithm {
    #[default]
    Cubic,
    Reno,
}

impl Algorithm {
    /// The name `--tcp-cc` and `xdpstack conns` use (as Linux's sysctl).
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Cubic => "cubic",
            Algorithm::Reno => "reno",
        }
    }
}

impl std::fmt::Display for Algorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Algorithm {
    type Err = String;
    fn from_str(s: &str) -> Result<Algorithm, String> {
        match s {
            "cubic" => Ok(Algorithm::Cubic),
            "reno" | "newreno" => Ok(Algorithm::Reno),
            _ => Err(format!("unknown congestion control {s:?} (cubic, reno)")),
        }
    }
}

/// What a congestion control algorithm decides. Windows are in bytes.
pub trait Controller {
    /// An ACK of `acked` new bytes outside loss recovery: the new cwnd.
    /// `rtt` is the smoothed RTT once there is one.
    fn on_ack(
        &mut self,
        now: Instant,
        cwnd: u32,
        ssthresh: u32,
        acked: u32,
        mss: u32,
        rtt: Option<Duration>,
    ) -> u32;

    /// A congestion event (loss found by duplicate ACKs or SACK, or the
    /// first retransmission timeout of a segment): the new ssthresh.
    fn on_congestion(&mut self, now: Instant, cwnd: u32, flight: u32, mss: u32) -> u32;

    /// The sender starts again at `now` after `idle` with nothing in flight.
    fn on_idle(&mut self, _now: Instant, _idle: Duration) {}
}

/// One connection's controller; an enum rather than a `Box<dyn>` so a
/// connection costs no extra allocation.
#[derive(Clone, Debug)]
pub enum Congestion {
    Reno(Reno),
    Cubic(Cubic),
}

impl Congestion {
    pub fn new(alg: Algorithm) -> Congestion {
        match alg {
            Algorithm::Reno => Congestion::Reno(Reno),
            Algorithm::Cubic => Congestion::Cubic(Cubic::default()),
        }
    }

    pub fn algorithm(&self) -> Algorithm {
        match self {
            Congestion::Reno(_) => Algorithm::Reno,
            Congestion::Cubic(_) => Algorithm::Cubic,
        }
    }
}

impl Controller for Congestion {
    fn on_ack(
        &mut self,
        now: Instant,
        cwnd: u32,
        ssthresh: u32,
        acked: u32,
        mss: u32,
        rtt: Option<Duration>,
    ) -> u32 {
        match self {
            Congestion::Reno(c) => c.on_ack(now, cwnd, ssthresh, acked, mss, rtt),
            Congestion::Cubic(c) => c.on_ack(now, cwnd, ssthresh, acked, mss, rtt),
        }
    }

    fn on_congestion(&mut self, now: Instant, cwnd: u32, flight: u32, mss: u32) -> u32 {
        match self {
            Congestion::Reno(c) => c.on_congestion(now, cwnd, flight, mss),
            Congestion::Cubic(c) => c.on_congestion(now, cwnd, flight, mss),
        }
    }

    fn on_idle(&mut self, now: Instant, idle: Duration) {
        match self {
            Congestion::Reno(c) => c.on_idle(now, idle),
            Congestion::Cubic(c) => c.on_idle(now, idle),
        }
    }
}

/// Slow start (shared by both): the window grows by every byte the ACK
/// newly covers, up to ssthresh, as Linux's tcp_slow_start does (RFC 3465
/// byte counting with no per-ACK limit). RFC 5681 3.1 allows one SMSS per
/// ACK, which against a receiver that acknowledges every second segment
/// (RFC 9293 3.8.6.3, Linux's delayed ACKs) grows the window by half
/// each round trip instead of doubling it.
fn slow_start(cwnd: u32, ssthresh: u32, acked: u32) -> u32 {
    cwnd.saturating_add(acked).min(ssthresh.max(cwnd))
}
