//! What the TCP services share: taking new connections from a listener
//! within a bound, and letting go of finished ones.

use crate::stack::tcp::{ConnId, Tcp, TcpState};
use crate::stack::time::Instant;
use crate::stack::Stack;

/// Connections one service holds at once; more are reset.
pub const MAX_CONNS: usize = 256;

/// Accepts every connection waiting on `port`; past `MAX_CONNS` (counting
/// `held`) they are aborted and counted in `refused`.
pub fn accept_new(
    now: Instant,
    stack: &mut Stack,
    port: u16,
    held: usize,
    refused: &mut u64,
) -> Vec<ConnId> {
    let tcp = stack.tcp();
    let mut new = Vec::new();
    while let Some(id) = tcp.accept(port) {
        if held + new.len() >= MAX_CONNS {
            let _ = tcp.abort(now, id);
            tcp.release(now, id);
            *refused += 1;
        } else {
            new.push(id);
        }
    }
    new
}

/// Whether a service is done with a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Finished {
    Yes,
    No,
}

impl Finished {
    pub fn is_done(self) -> bool {
        self == Finished::Yes
    }

    /// Gives the connection back to the engine.
    pub fn release(now: Instant, tcp: &mut Tcp, id: ConnId) -> Finished {
        tcp.release(now, id);
        Finished::Yes
    }

    /// Done once the connection is gone (reset, timed out), or once we
    /// closed it: the engine finishes the close (FIN-WAIT, LAST-ACK,
    /// TIME-WAIT) on its own after `release`.
    pub fn when_closed(now: Instant, tcp: &mut Tcp, id: ConnId, we_closed: bool) -> Finished {
        match tcp.state(id) {
            None | Some(TcpState::Closed) => Finished::release(now, tcp, id),
            Some(_) if we_closed => Finished::release(now, tcp, id),
            Some(_) => Finished::No,
        }
    }
}
