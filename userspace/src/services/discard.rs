//! Discard (RFC 863): everything sent to port 9 over UDP or TCP is read and
//! thrown away. A TCP connection is closed once the peer closes its side.

use serde::Serialize;

use super::tcp_conns::{accept_new, Finished};
use crate::stack::tcp::{ConnId, TcpError};
use crate::stack::time::Instant;
use crate::stack::{Stack, UdpHandle};

pub const PORT: u16 = 9;
const UDP_PER_POLL: usize = 1024;
const CHUNK: usize = 64 * 1024;

#[derive(Clone, Debug, Default, Serialize, serde::Deserialize)]
#[serde(default)]
pub struct DiscardCounters {
    pub udp_datagrams: u64,
    pub udp_bytes: u64,
    pub tcp_connections: u64,
    pub tcp_bytes: u64,
    pub tcp_refused: u64,
    pub tcp_open: u64,
}

struct Conn {
    id: ConnId,
    closed: bool,
}

pub struct Discard {
    udp: UdpHandle,
    conns: Vec<Conn>,
    buf: Vec<u8>,
    counters: DiscardCounters,
}

impl Discard {
    pub fn start(stack: &mut Stack) -> Result<Discard, String> {
        let udp = stack
            .udp_bind(PORT)
            .map_err(|e| format!("discard on {}: {e}", super::ours(stack)))?;
        stack
            .tcp()
            .listen(PORT)
            .map_err(|e| format!("discard on TCP port {PORT}: {e:?}"))?;
        Ok(Discard {
            udp,
            conns: Vec::new(),
            buf: vec![0; CHUNK],
            counters: DiscardCounters::default(),
        })
    }

    pub fn poll(&mut self, now: Instant, stack: &mut Stack) {
        for _ in 0..UDP_PER_POLL {
            let Ok(Some(d)) = stack.udp_recv_from(self.udp) else {
                break;
            };
            self.counters.udp_datagrams += 1;
            self.counters.udp_bytes += d.data.len() as u64;
        }
        let c = &mut self.counters;
        for id in accept_new(now, stack, PORT, self.conns.len(), &mut c.tcp_refused) {
            c.tcp_connections += 1;
            self.conns.push(Conn { id, closed: false });
        }
        let buf = &mut self.buf;
        let counters = &mut self.counters;
        self.conns
            .retain_mut(|conn| !discard_conn(now, stack, conn, buf, counters).is_done());
        self.counters.tcp_open = self.conns.len() as u64;
    }

    pub fn counters(&self) -> &DiscardCounters {
        &self.counters
    }
}

fn discard_conn(
    now: Instant,
    stack: &mut Stack,
    conn: &mut Conn,
    buf: &mut [u8],
    counters: &mut DiscardCounters,
) -> Finished {
    let tcp = stack.tcp();
    loop {
        match tcp.recv(now, conn.id, buf) {
            Ok(0) => break,
            Ok(n) => counters.tcp_bytes += n as u64,
            Err(TcpError::Eof) => {
                if !conn.closed {
                    conn.closed = true;
                    if tcp.close(now, conn.id).is_err() {
                        return Finished::release(now, tcp, conn.id);
                    }
                }
                break;
            }
            Err(_) => return Finished::release(now, tcp, conn.id),
        }
    }
    Finished::when_closed(now, tcp, conn.id, conn.closed)
}
