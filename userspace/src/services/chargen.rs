//! Character generator (RFC 864) on port 19: a TCP connection gets the
//! rotating line pattern, continuously, until the client closes; a UDP
//! datagram is answered with one line. What the client sends is thrown away.
//!
//! TCP chargen writes only what the connection's send buffer takes
//! (`Tcp::send_capacity`) and keeps its place in the pattern, so a slow
//! reader holds it back without anything piling up here; it is polled again
//! after the next batch (the ACKs that free the buffer).

use serde::Serialize;

use super::tcp_conns::{accept_new, Finished};
use crate::stack::tcp::{ConnId, TcpError};
use crate::stack::time::Instant;
use crate::stack::{Stack, UdpHandle};

pub const PORT: u16 = 19;
/// Datagrams answered per poll (the socket queue keeps the rest).
const UDP_PER_POLL: usize = 256;
/// Bytes read (and thrown away) per connection per poll.
const CHUNK: usize = 16 * 1024;

/// RFC 864: the 95 printable ASCII characters (space to `~`), 72 per line,
/// each line starting one character later than the one before, CR LF.
const FIRST: u8 = b' ';
const CHARS: usize = 95;
const LINE_CHARS: usize = 72;
pub const LINE_LEN: usize = LINE_CHARS + 2;
/// After 95 lines the pattern starts over.
pub const PERIOD: usize = CHARS * LINE_LEN;

/// Line `n` of the pattern (0 starts with a space), CR LF included.
pub fn line(n: usize) -> [u8; LINE_LEN] {
    let mut l = [0u8; LINE_LEN];
    for (k, b) in l[..LINE_CHARS].iter_mut().enumerate() {
        *b = FIRST + ((n + k) % CHARS) as u8;
    }
    l[LINE_CHARS] = b'\r';
    l[LINE_CHARS + 1] = b'\n';
    l
}

/// One whole period of the stream: byte `i` of a connection is
/// `pattern()[i % PERIOD]`.
pub fn pattern() -> Vec<u8> {
    (0..CHARS).flat_map(line).collect()
}

#[derive(Clone, Debug, Default, Serialize, serde::Deserialize)]
#[serde(default)]
pub struct ChargenCounters {
    pub udp_datagrams: u64,
    /// Lines sent in answer, in bytes.
    pub udp_bytes: u64,
    /// Answers that could not be sent (counted by the stack too).
    pub udp_send_errors: u64,
    pub tcp_connections: u64,
    /// Bytes of the pattern queued on TCP connections.
    pub tcp_bytes: u64,
    /// Bytes the clients sent, thrown away.
    pub tcp_bytes_received: u64,
    pub tcp_refused: u64,
    pub tcp_open: u64,
}

struct Conn {
    id: ConnId,
    /// Where in the pattern the next byte comes from.
    at: usize,
    closed: bool,
}

pub struct Chargen {
    udp: UdpHandle,
    /// The next line a UDP answer carries.
    udp_line: usize,
    conns: Vec<Conn>,
    /// Two periods back to back, so any offset has a period's worth of
    /// contiguous bytes after it (one `send` call per refill).
    pattern: Vec<u8>,
    buf: Vec<u8>,
    counters: ChargenCounters,
}

impl Chargen {
    pub fn start(stack: &mut Stack) -> Result<Chargen, String> {
        let udp = stack
            .udp_bind(PORT)
            .map_err(|e| format!("chargen on {}: {e}", super::ours(stack)))?;
        stack
            .tcp()
            .listen(PORT)
            .map_err(|e| format!("chargen on TCP port {PORT}: {e:?}"))?;
        let once = pattern();
        Ok(Chargen {
            udp,
            udp_line: 0,
            conns: Vec::new(),
            pattern: [once.as_slice(), once.as_slice()].concat(),
            buf: vec![0; CHUNK],
            counters: ChargenCounters::default(),
        })
    }

    pub fn poll(&mut self, now: Instant, stack: &mut Stack) {
        for _ in 0..UDP_PER_POLL {
            let Ok(Some(d)) = stack.udp_recv_from(self.udp) else {
                break;
            };
            self.counters.udp_datagrams += 1;
            // RFC 864 lets the answer be 0 to 512 characters; one line
            // keeps it recognisable and far below any MTU.
            let l = line(self.udp_line);
            self.udp_line = (self.udp_line + 1) % CHARS;
            if stack.udp_send_to(now, self.udp, d.src, &l).is_ok() {
                self.counters.udp_bytes += l.len() as u64;
            } else {
                self.counters.udp_send_errors += 1;
            }
        }
        let c = &mut self.counters;
        for id in accept_new(now, stack, PORT, self.conns.len(), &mut c.tcp_refused) {
            c.tcp_connections += 1;
            self.conns.push(Conn {
                id,
                at: 0,
                closed: false,
            });
        }
        let (pattern, buf, counters) = (&self.pattern, &mut self.buf, &mut self.counters);
        self.conns
            .retain_mut(|conn| !chargen_conn(now, stack, conn, pattern, buf, counters).is_done());
        self.counters.tcp_open = self.conns.len() as u64;
    }

    pub fn counters(&self) -> &ChargenCounters {
        &self.counters
    }
}

/// Throws away what the client sent, then fills the send buffer.
fn chargen_conn(
    now: Instant,
    stack: &mut Stack,
    conn: &mut Conn,
    pattern: &[u8],
    buf: &mut [u8],
    counters: &mut ChargenCounters,
) -> Finished {
    let tcp = stack.tcp();
    loop {
        match tcp.recv(now, conn.id, buf) {
            Ok(0) => break,
            Ok(n) => counters.tcp_bytes_received += n as u64,
            // The client closed its side: RFC 864 stops at the client's
            // close, so ours follows (FIN after what is queued).
            Err(TcpError::Eof) => {
                if !conn.closed {
                    conn.closed = true;
                    if tcp.close(now, conn.id).is_err() {
                        return Finished::release(now, tcp, conn.id);
                    }
                }
                return Finished::when_closed(now, tcp, conn.id, conn.closed);
            }
            Err(_) => return Finished::release(now, tcp, conn.id),
        }
    }
    // Bounded: each pass takes up to a period and the capacity shrinks.
    loop {
        let room = tcp.send_capacity(conn.id).min(PERIOD);
        if room == 0 {
            break;
        }
        match tcp.send(now, conn.id, &pattern[conn.at..conn.at + room]) {
            Ok(0) => break,
            Ok(n) => {
                counters.tcp_bytes += n as u64;
                conn.at = (conn.at + n) % PERIOD;
            }
            Err(_) => return Finished::release(now, tcp, conn.id),
        }
    }
    Finished::when_closed(now, tcp, conn.id, conn.closed)
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::services::{ServiceName, Services};
    use crate::stack::test_peer::Peer;
    use crate::stack::StackConfig;
    use crate::wire::{MacAddr, TcpFlags};

    fn t(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    fn stack() -> Stack {
        Stack::new(
            StackConfig {
                ip: Ipv4Addr::new(10, 10, 0, 4),
                prefix: 24,
                mac: MacAddr([2, 0, 0, 0, 0, 4]),
                gateway: None,
                ip6: Vec::new(),
                gateway6: None,
                mtu: 1500,
                arp_timeout: Duration::from_secs(60),
                arp_max: 1024,
                seed: [7; 32],
            },
            t(0),
        )
    }

    #[test]
    fn the_pattern_is_rfc_864s() {
        let p = pattern();
        assert_eq!(p.len(), 7030);
        // The RFC's first lines.
        let first = "!\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefgh";
        assert_eq!(first.len(), LINE_CHARS);
        assert_eq!(&p[..LINE_LEN], format!(" {}\r\n", &first[..71]).as_bytes());
        assert_eq!(
            &p[LINE_LEN..2 * LINE_LEN],
            format!("{first}\r\n").as_bytes()
        );
        assert_eq!(
            &p[2 * LINE_LEN..3 * LINE_LEN],
            format!("{}i\r\n", &first[1..]).as_bytes()
        );
        // The last line wraps around from `~` to the space.
        assert_eq!(p[PERIOD - LINE_LEN], b'~');
        assert_eq!(p[PERIOD - LINE_LEN + 1], b' ');
        assert!(p
            .chunks(LINE_LEN)
            .all(|l| l[..LINE_CHARS].iter().all(|b| (b' '..=b'~').contains(b))));
    }

    /// A client that reads two periods' worth, acknowledging as it goes,
    /// gets the pattern byte-exact and in order; after its FIN, chargen
    /// closes too.
    #[test]
    fn tcp_streams_the_pattern_until_the_client_closes() {
        let mut s = stack();
        let mut services = Services::start(&mut s, &[ServiceName::Chargen]).unwrap();
        let wall = SystemTime::UNIX_EPOCH;
        let peer = Peer::new(
            &mut s,
            t(1),
            Ipv4Addr::new(10, 10, 0, 2),
            MacAddr([2, 0, 0, 0, 0, 2]),
        );
        let seqs = peer.connect(&mut s, t(1), 40_000, PORT);
        let mut got = Vec::new();
        let mut ack = seqs.theirs;
        let mut ms = 2;
        while got.len() < 2 * PERIOD + 5000 && ms < 500 {
            services.poll(t(ms), wall, &mut s);
            for seg in peer.take(&mut s, t(ms)) {
                assert_eq!(seg.src_port, PORT);
                // In order: nothing was lost on this link.
                assert_eq!(seg.seq, ack, "a gap or a resend");
                got.extend_from_slice(&seg.payload);
                ack = ack.wrapping_add(seg.payload.len() as u32);
            }
            peer.send(
                &mut s,
                t(ms),
                40_000,
                PORT,
                TcpFlags::ACK,
                seqs.ours,
                ack,
                &[],
            );
            ms += 1;
        }
        assert!(got.len() >= 2 * PERIOD + 5000, "only {} bytes", got.len());
        let p = pattern();
        for (i, b) in got.iter().enumerate() {
            assert_eq!(*b, p[i % PERIOD], "byte {i}");
        }
        let c = services.stats().chargen.unwrap();
        assert_eq!(c.tcp_connections, 1);
        assert_eq!(c.tcp_open, 1);
        assert!(c.tcp_bytes >= got.len() as u64);

        // Bytes from the client are read and thrown away; its FIN ends it.
        let fin = TcpFlags(TcpFlags::ACK.0 | TcpFlags::FIN.0);
        peer.send(&mut s, t(ms), 40_000, PORT, fin, seqs.ours, ack, b"bye");
        services.poll(t(ms), wall, &mut s);
        let c = services.stats().chargen.unwrap();
        assert_eq!(c.tcp_bytes_received, 3);
        assert_eq!(c.tcp_open, 0);
        // The FIN follows what was queued: keep reading (and checking)
        // until it comes.
        let ours = seqs.ours.wrapping_add(4);
        let mut fin_seen = false;
        for _ in 0..200 {
            ms += 1;
            for seg in peer.take(&mut s, t(ms)) {
                if seg.seq == ack {
                    got.extend_from_slice(&seg.payload);
                    ack = ack.wrapping_add(seg.payload.len() as u32);
                    if seg.flags.fin() {
                        fin_seen = true;
                        ack = ack.wrapping_add(1);
                    }
                }
            }
            peer.send(&mut s, t(ms), 40_000, PORT, TcpFlags::ACK, ours, ack, &[]);
            services.poll(t(ms), wall, &mut s);
            if fin_seen {
                break;
            }
        }
        assert!(fin_seen, "no FIN after the client's");
        assert!(got.iter().enumerate().all(|(i, b)| *b == p[i % PERIOD]));
    }

    #[test]
    fn a_reader_that_does_not_acknowledge_holds_chargen_back() {
        let mut s = stack();
        let mut services = Services::start(&mut s, &[ServiceName::Chargen]).unwrap();
        let wall = SystemTime::UNIX_EPOCH;
        let peer = Peer::new(
            &mut s,
            t(1),
            Ipv4Addr::new(10, 10, 0, 2),
            MacAddr([2, 0, 0, 0, 0, 2]),
        );
        peer.connect(&mut s, t(1), 40_001, PORT);
        services.poll(t(2), wall, &mut s);
        let queued = services.stats().chargen.unwrap().tcp_bytes;
        assert!(queued > 0);
        // Nothing acknowledged: the send buffer stays full, nothing more
        // is queued however often chargen is polled.
        for ms in 3..20 {
            services.poll(t(ms), wall, &mut s);
        }
        assert_eq!(services.stats().chargen.unwrap().tcp_bytes, queued);
    }
}
