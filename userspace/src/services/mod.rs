//! Applications that run on the stack's socket APIs (UDP: `Stack::udp_*`,
//! TCP: `Stack::tcp`), outside the stack itself: echo (RFC 862), discard
//! (RFC 863), chargen (RFC 864) and a small HTTP/1.1 status page (`http.rs`).
//!
//! The daemon calls [`Services::poll`] after every batch of received frames
//! and after the stack's timers, on the worker that owns both; a service does what
//! it can without blocking and keeps the rest for the next call. Time comes
//! in as values: the stack's monotonic `now`, and the wall clock for what
//! people read (the HTTP `Date` header).

mod chargen;
mod discard;
mod echo;
mod http;
pub mod http_parse;
mod tcp_conns;

use std::net::IpAddr;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::stack::time::Instant;
use crate::stack::Stack;

pub use chargen::{Chargen, ChargenCounters};
pub use discard::{Discard, DiscardCounters};
pub use echo::{Echo, EchoCounters};
pub use http::{Http, HttpCounters};

/// Renders `/metrics` for the HTTP service from the stack and every
/// service's counters. Set by the daemon, which adds what only it holds
/// (the XDP program's counters, the AF_XDP sockets); without one the page
/// shows the stack and the services alone.
pub type MetricsSource = Box<dyn Fn(&Stack, &ServicesStats) -> String + Send>;

/// The built-in services (`--services echo,discard,http|none`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ServiceName {
    /// UDP and TCP port 7 (RFC 862).
    Echo,
    /// UDP and TCP port 9 (RFC 863).
    Discard,
    /// TCP port 80: the status page.
    Http,
    /// UDP and TCP port 19 (RFC 864).
    Chargen,
    /// No service.
    None,
}

/// The services that run; dropping one does not close its sockets (the
/// stack goes away with the daemon).
pub struct Services {
    echo: Option<Echo>,
    discard: Option<Discard>,
    http: Option<Http>,
    chargen: Option<Chargen>,
}

impl Services {
    /// Binds the ports of each named service. `None` alone means no
    /// service; combined with others it is an error.
    pub fn start(stack: &mut Stack, names: &[ServiceName]) -> Result<Services, String> {
        if names.contains(&ServiceName::None) && names.len() > 1 {
            return Err("--services none cannot be combined with other services".into());
        }
        let on = |n| names.contains(&n);
        Ok(Services {
            echo: on(ServiceName::Echo)
                .then(|| Echo::start(stack))
                .transpose()?,
            discard: on(ServiceName::Discard)
                .then(|| Discard::start(stack))
                .transpose()?,
            http: on(ServiceName::Http)
                .then(|| Http::start(stack))
                .transpose()?,
            chargen: on(ServiceName::Chargen)
                .then(|| Chargen::start(stack))
                .transpose()?,
        })
    }

    /// Lets every service move what it can. `wall` is the time of day,
    /// for what people read (the HTTP `Date` header); `now` runs the rest.
    pub fn poll(&mut self, now: Instant, wall: SystemTime, stack: &mut Stack) {
        if let Some(s) = &mut self.echo {
            s.poll(now, stack);
        }
        if let Some(s) = &mut self.discard {
            s.poll(now, stack);
        }
        if let Some(s) = &mut self.chargen {
            s.poll(now, stack);
        }
        let (echo, discard, chargen) = (&self.echo, &self.discard, &self.chargen);
        // The other services' counters, copied only when /metrics is asked.
        let others = || ServicesStats {
            echo: echo.as_ref().map(|s| s.counters().clone()),
            discard: discard.as_ref().map(|s| s.counters().clone()),
            http: None,
            chargen: chargen.as_ref().map(|s| s.counters().clone()),
        };
        if let Some(s) = &mut self.http {
            s.poll(now, wall, stack, &others);
        }
    }

    /// What the HTTP service's `/metrics` shows (nothing without http).
    pub fn set_metrics(&mut self, source: MetricsSource) {
        if let Some(h) = &mut self.http {
            h.set_metrics(source);
        }
    }

    /// When [`Services::poll`] next has something to do without new input
    /// (an idle HTTP connection to close); the daemon wakes for it.
    pub fn poll_at(&self) -> Option<Instant> {
        self.http.as_ref().and_then(Http::poll_at)
    }

    /// A snapshot of the running services' counters.
    pub fn stats(&self) -> ServicesStats {
        ServicesStats {
            echo: self.echo.as_ref().map(|s| s.counters().clone()),
            discard: self.discard.as_ref().map(|s| s.counters().clone()),
            http: self.http.as_ref().map(|s| s.counters().clone()),
            chargen: self.chargen.as_ref().map(|s| s.counters().clone()),
        }
    }
}

/// The counters of each running service (absent: not running).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ServicesStats {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub echo: Option<EchoCounters>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub discard: Option<DiscardCounters>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpCounters>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chargen: Option<ChargenCounters>,
}

/// Where the services listen: our address, for messages.
fn ours(stack: &Stack) -> IpAddr {
    stack.config().ip.into()
}
