//! Applications that run on the stack's socket APIs (UDP: `Stack::udp_*`,
//! TCP: `Stack::tcp`), outside the stack itself: echo (RFC 862), discard
//! (RFC 863) and a small HTTP/1.1 status page (`http.rs`).
//!
//! The daemon calls [`Services::poll`] after every batch of received frames
//! and after the stack's timers, with the stack locked; a service does what
//! it can without blocking and keeps the rest for the next call.

mod discard;
mod echo;
mod http;
pub mod http_parse;
mod tcp_conns;

use std::net::IpAddr;

use clap::ValueEnum;
use serde::Serialize;

use crate::stack::time::Instant;
use crate::stack::Stack;

pub use discard::Discard;
pub use echo::Echo;
pub use http::Http;

/// `--services echo,discard,http|none`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, ValueEnum, Serialize)]
pub enum ServiceName {
    /// UDP and TCP port 7 (RFC 862).
    Echo,
    /// UDP and TCP port 9 (RFC 863).
    Discard,
    /// TCP port 80: the status page.
    Http,
    /// No service.
    None,
}

/// The services that run; dropping one does not close its sockets (the
/// stack goes away with the daemon).
pub struct Services {
    echo: Option<Echo>,
    discard: Option<Discard>,
    http: Option<Http>,
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
        })
    }

    /// Lets every service move what it can.
    pub fn poll(&mut self, now: Instant, stack: &mut Stack) {
        if let Some(s) = &mut self.echo {
            s.poll(now, stack);
        }
        if let Some(s) = &mut self.discard {
            s.poll(now, stack);
        }
        if let Some(s) = &mut self.http {
            s.poll(now, stack);
        }
    }

    /// The services' own counters, for `xdpstack stats`.
    pub fn counters(&self) -> serde_json::Value {
        let mut m = serde_json::Map::new();
        if let Some(s) = &self.echo {
            m.insert("echo".into(), serde_json::json!(s.counters()));
        }
        if let Some(s) = &self.discard {
            m.insert("discard".into(), serde_json::json!(s.counters()));
        }
        if let Some(s) = &self.http {
            m.insert("http".into(), serde_json::json!(s.counters()));
        }
        serde_json::Value::Object(m)
    }
}

/// Where the services listen: our address, for messages.
fn ours(stack: &Stack) -> IpAddr {
    stack.config().ip.into()
}
