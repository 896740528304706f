//! Echo (RFC 862): every UDP datagram to port 7 goes back to its sender;
//! every byte received on a TCP connection to port 7 is sent back.

use serde::Serialize;

use crate::stack::time::Instant;
use crate::stack::{Stack, UdpHandle};

pub const PORT: u16 = 7;
/// Datagrams handled per poll, so one busy sender cannot hold the lock for
/// long (the socket queue keeps the rest).
const UDP_PER_POLL: usize = 256;

#[derive(Clone, Debug, Default, Serialize)]
pub struct EchoCounters {
    pub udp_datagrams: u64,
    pub udp_bytes: u64,
    /// Datagrams that could not be sent back (counted by the stack too).
    pub udp_send_errors: u64,
}

pub struct Echo {
    udp: UdpHandle,
    counters: EchoCounters,
}

impl Echo {
    pub fn start(stack: &mut Stack) -> Result<Echo, String> {
        let udp = stack
            .udp_bind(PORT)
            .map_err(|e| format!("echo on {}: {e}", super::ours(stack)))?;
        Ok(Echo {
            udp,
            counters: EchoCounters::default(),
        })
    }

    pub fn poll(&mut self, now: Instant, stack: &mut Stack) {
        for _ in 0..UDP_PER_POLL {
            let Ok(Some(d)) = stack.udp_recv_from(self.udp) else {
                break;
            };
            self.counters.udp_datagrams += 1;
            self.counters.udp_bytes += d.data.len() as u64;
            // RFC 862: "send it back as the response"; not to a broadcast
            // (the reply goes to the source, which is always one host).
            if stack.udp_send_to(now, self.udp, d.src, &d.data).is_err() {
                self.counters.udp_send_errors += 1;
            }
        }
    }

    pub fn counters(&self) -> &EchoCounters {
        &self.counters
    }
}
