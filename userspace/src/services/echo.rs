//! Echo (RFC 862): every UDP datagram to port 7 goes back to its sender;
//! every byte received on a TCP connection to port 7 is sent back.
//!
//! TCP echo is backpressure-correct: it reads only as many bytes as the
//! connection's send buffer can take, so when the peer does not read its
//! echoes, our receive window closes and the peer stops sending. Nothing is
//! dropped and nothing piles up here.

use serde::Serialize;

use super::tcp_conns::{accept_new, Finished};
use crate::stack::tcp::{ConnId, TcpError};
use crate::stack::time::Instant;
use crate::stack::{Stack, UdpHandle};

pub const PORT: u16 = 7;
/// Datagrams handled per poll, so one busy sender cannot hold the lock for
/// long (the socket queue keeps the rest).
const UDP_PER_POLL: usize = 256;
/// Bytes moved per connection per poll.
const CHUNK: usize = 64 * 1024;

#[derive(Clone, Debug, Default, Serialize, serde::Deserialize)]
#[serde(default)]
pub struct EchoCounters {
    pub udp_datagrams: u64,
    pub udp_bytes: u64,
    /// Datagrams that could not be sent back (counted by the stack too).
    pub udp_send_errors: u64,
    pub tcp_connections: u64,
    pub tcp_bytes: u64,
    /// Connections refused because the service holds its maximum.
    pub tcp_refused: u64,
    pub tcp_open: u64,
}

struct Conn {
    id: ConnId,
    /// The peer sent FIN and we read everything before it.
    eof: bool,
    closed: bool,
}

pub struct Echo {
    udp: UdpHandle,
    conns: Vec<Conn>,
    buf: Vec<u8>,
    counters: EchoCounters,
}

impl Echo {
    pub fn start(stack: &mut Stack) -> Result<Echo, String> {
        let udp = stack
            .udp_bind(PORT)
            .map_err(|e| format!("echo on {}: {e}", super::ours(stack)))?;
        stack
            .tcp()
            .listen(PORT)
            .map_err(|e| format!("echo on TCP port {PORT}: {e:?}"))?;
        Ok(Echo {
            udp,
            conns: Vec::new(),
            buf: vec![0; CHUNK],
            counters: EchoCounters::default(),
        })
    }

    pub fn poll(&mut self, now: Instant, stack: &mut Stack) {
        self.poll_udp(now, stack);
        let c = &mut self.counters;
        for id in accept_new(now, stack, PORT, self.conns.len(), &mut c.tcp_refused) {
            c.tcp_connections += 1;
            self.conns.push(Conn {
                id,
                eof: false,
                closed: false,
            });
        }
        let buf = &mut self.buf;
        let counters = &mut self.counters;
        self.conns
            .retain_mut(|conn| !echo_conn(now, stack, conn, buf, counters).is_done());
        self.counters.tcp_open = self.conns.len() as u64;
    }

    fn poll_udp(&mut self, now: Instant, stack: &mut Stack) {
        for _ in 0..UDP_PER_POLL {
            let Ok(Some(d)) = stack.udp_recv_from(self.udp) else {
                break;
            };
            self.counters.udp_datagrams += 1;
            self.counters.udp_bytes += d.data.len() as u64;
            // RFC 862: "send it back as the response", to its source (one
            // host, even when it was sent to a broadcast address).
            if stack.udp_send_to(now, self.udp, d.src, &d.data).is_err() {
                self.counters.udp_send_errors += 1;
            }
        }
    }

    pub fn counters(&self) -> &EchoCounters {
        &self.counters
    }
}

/// Moves what it can from the connection's receive side to its send side.
fn echo_conn(
    now: Instant,
    stack: &mut Stack,
    conn: &mut Conn,
    buf: &mut [u8],
    counters: &mut EchoCounters,
) -> Finished {
    let tcp = stack.tcp();
    while !conn.eof {
        // Read no more than can be sent right away: the bytes stay in our
        // receive buffer (and the window shrinks) until there is room.
        let room = tcp.send_capacity(conn.id).min(buf.len());
        if room == 0 {
            break;
        }
        match tcp.recv(now, conn.id, &mut buf[..room]) {
            Ok(0) => break,
            Ok(n) => match tcp.send(now, conn.id, &buf[..n]) {
                Ok(sent) if sent == n => counters.tcp_bytes += n as u64,
                // The engine promised `room` bytes of space; if it took
                // fewer, bytes would be lost: abort rather than corrupt.
                Ok(_) | Err(_) => {
                    let _ = tcp.abort(now, conn.id);
                    return Finished::release(now, tcp, conn.id);
                }
            },
            Err(TcpError::Eof) => conn.eof = true,
            Err(_) => return Finished::release(now, tcp, conn.id),
        }
    }
    if conn.eof && !conn.closed {
        // FIN after the echoed bytes (RFC 9293 3.10.4 queues it behind them).
        conn.closed = true;
        if tcp.close(now, conn.id).is_err() {
            return Finished::release(now, tcp, conn.id);
        }
    }
    Finished::when_closed(now, tcp, conn.id, conn.closed)
}
