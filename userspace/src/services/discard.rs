//! Discard (RFC 863): everything sent to port 9 over UDP or TCP is read and
//! thrown away.

use serde::Serialize;

use crate::stack::time::Instant;
use crate::stack::{Stack, UdpHandle};

pub const PORT: u16 = 9;
const UDP_PER_POLL: usize = 1024;

#[derive(Clone, Debug, Default, Serialize)]
pub struct DiscardCounters {
    pub udp_datagrams: u64,
    pub udp_bytes: u64,
}

pub struct Discard {
    udp: UdpHandle,
    counters: DiscardCounters,
}

impl Discard {
    pub fn start(stack: &mut Stack) -> Result<Discard, String> {
        let udp = stack
            .udp_bind(PORT)
            .map_err(|e| format!("discard on {}: {e}", super::ours(stack)))?;
        Ok(Discard {
            udp,
            counters: DiscardCounters::default(),
        })
    }

    pub fn poll(&mut self, _now: Instant, stack: &mut Stack) {
        for _ in 0..UDP_PER_POLL {
            let Ok(Some(d)) = stack.udp_recv_from(self.udp) else {
                break;
            };
            self.counters.udp_datagrams += 1;
            self.counters.udp_bytes += d.data.len() as u64;
        }
    }

    pub fn counters(&self) -> &DiscardCounters {
        &self.counters
    }
}
