//! Crafted TCP segments, the same ones to xdpstack and to the Linux kernel:
//! a peer made of an AF_PACKET socket in the client namespace, with an
//! address of its own (10.10.0.77, whose ARP it answers itself, so the
//! client's kernel never sees these connections and sends no RSTs), talks
//! to the echo (7) and discard (9) services of the daemon in one lab and to
//! echo and discard sockets of the kernel in a twin lab where Linux owns
//! 10.10.0.4. Each reply is reduced to what both must agree on (flags,
//! sequence and acknowledgment numbers relative to the handshake, data
//! length, the option kinds in order, TSecr) and the two transcripts must
//! be equal, case by case. Window values are left out: the two stacks size
//! their buffers differently. Root only.

mod hostile;
mod support;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hostile::*;
use support::*;
use xdpstack_common::checksum;
use xtask::netns::Lab;

const US: [u8; 4] = [10, 10, 0, 4];
const PEER: [u8; 4] = [10, 10, 0, 77];
const PEER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x77];

/// A segment to send; sequence and acknowledgment numbers are offsets from
/// the peer's ISN and from the server's ISN.
struct Seg {
    flags: u8,
    seq: u32,
    ack: u32,
    data: &'static [u8],
    /// TSval, sent with two NOPs when the connection uses timestamps.
    ts: Option<u32>,
    syn_opts: bool,
    window: u16,
    /// The urgent pointer, sent with URG when not 0.
    urgent: u16,
    /// How long to collect replies, when not the default for the flags.
    wait: Option<Duration>,
}

const F: u8 = 0x01;
const S: u8 = 0x02;
const R: u8 = 0x04;
const P: u8 = 0x08;
const A: u8 = 0x10;
const U: u8 = 0x20;

fn seg(flags: u8, seq: u32, ack: u32, data: &'static [u8], ts: Option<u32>) -> Seg {
    Seg {
        flags,
        seq,
        ack,
        data,
        ts,
        syn_opts: false,
        window: 64240,
        urgent: 0,
        wait: None,
    }
}

/// The peer: a raw socket in the client namespace (used from the thread
/// that entered it) and the server's MAC.
struct Peer {
    sock: RawSocket,
    server_mac: [u8; 6],
}

impl Peer {
    fn frame(&self, sport: u16, dport: u16, seq: u32, ack: u32, s: &Seg) -> Vec<u8> {
        let mut opts = Vec::new();
        if s.syn_opts {
            // Linux's SYN: MSS 1460, SACK-permitted, timestamps, WS 7.
            opts.extend_from_slice(&[2, 4, 0x05, 0xb4, 4, 2, 8, 10]);
            opts.extend_from_slice(&s.ts.unwrap_or(0).to_be_bytes());
            opts.extend_from_slice(&[0, 0, 0, 0, 1, 3, 3, 7]);
        } else if let Some(ts) = s.ts {
            opts.extend_from_slice(&[1, 1, 8, 10]);
            opts.extend_from_slice(&ts.to_be_bytes());
            opts.extend_from_slice(&[0, 0, 0, 0]);
        }
        let mut tcp = Vec::new();
        tcp.extend_from_slice(&sport.to_be_bytes());
        tcp.extend_from_slice(&dport.to_be_bytes());
        tcp.extend_from_slice(&seq.to_be_bytes());
        tcp.extend_from_slice(&ack.to_be_bytes());
        tcp.push(((20 + opts.len()) as u8 / 4) << 4);
        tcp.push(s.flags);
        tcp.extend_from_slice(&s.window.to_be_bytes());
        tcp.extend_from_slice(&[0, 0]);
        tcp.extend_from_slice(&s.urgent.to_be_bytes());
        tcp.extend_from_slice(&opts);
        tcp.extend_from_slice(s.data);
        let mut pseudo = Vec::new();
        pseudo.extend_from_slice(&PEER);
        pseudo.extend_from_slice(&US);
        pseudo.extend_from_slice(&[0, 6]);
        pseudo.extend_from_slice(&(tcp.len() as u16).to_be_bytes());
        pseudo.extend_from_slice(&tcp);
        let c = checksum::checksum(&pseudo);
        tcp[16..18].copy_from_slice(&c.to_be_bytes());
        let mut ip = vec![0x45, 0, 0, 0, 0, 1, 0x40, 0, 63, 6, 0, 0];
        ip[2..4].copy_from_slice(&(20 + tcp.len() as u16).to_be_bytes());
        ip.extend_from_slice(&PEER);
        ip.extend_from_slice(&US);
        let c = checksum::checksum(&ip);
        ip[10..12].copy_from_slice(&c.to_be_bytes());
        let mut f = Vec::new();
        f.extend_from_slice(&self.server_mac);
        f.extend_from_slice(&PEER_MAC);
        f.extend_from_slice(&[0x08, 0x00]);
        f.extend_from_slice(&ip);
        f.extend_from_slice(&tcp);
        f
    }

    /// Sends `frames`, then for `window` answers ARP for PEER and collects
    /// the TCP segments from US to PEER.
    fn exchange(&self, frames: &[Vec<u8>], window: Duration) -> Vec<Vec<u8>> {
        for f in frames {
            self.sock.send(f).expect("sending a crafted frame");
        }
        let mut got = Vec::new();
        let end = Instant::now() + window;
        while Instant::now() < end {
            let Some(f) = self.sock.recv_incoming() else {
                continue;
            };
            if f.len() >= 42
                && f[12..14] == [0x08, 0x06]
                && f[20..22] == [0, 1]
                && f[38..42] == PEER
            {
                self.answer_arp(&f);
            } else if f.len() >= 54
                && f[12..14] == [0x08, 0x00]
                && f[23] == 6
                && f[26..30] == US
                && f[30..34] == PEER
            {
                got.push(f);
            }
        }
        got
    }

    fn answer_arp(&self, req: &[u8]) {
        let mut f = Vec::new();
        f.extend_from_slice(&req[22..28]);
        f.extend_from_slice(&PEER_MAC);
        f.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 2]);
        f.extend_from_slice(&PEER_MAC);
        f.extend_from_slice(&PEER);
        f.extend_from_slice(&req[22..28]);
        f.extend_from_slice(&req[28..32]);
        self.sock.send(&f).expect("answering ARP");
    }
}

/// One connection of a case: its ports, the peer's ISN, the server's once
/// its SYN-ACK came.
struct Conn {
    sport: u16,
    dport: u16,
    iss: u32,
    irs: Option<u32>,
}

impl Conn {
    /// Sends `s` and describes the replies within `window` as one line.
    fn step(&mut self, peer: &Peer, label: &str, s: Seg, window: Duration) -> String {
        let seq = self.iss.wrapping_add(s.seq);
        let ack = self.irs.map_or(0, |irs| irs.wrapping_add(s.ack));
        let f = peer.frame(self.sport, self.dport, seq, ack, &s);
        let replies = peer.exchange(&[f], window);
        let mut parts = Vec::new();
        for r in replies {
            let t = 14 + usize::from(r[14] & 0x0f) * 4;
            if u16::from_be_bytes([r[t + 2], r[t + 3]]) != self.sport {
                continue;
            }
            let rseq = u32::from_be_bytes([r[t + 4], r[t + 5], r[t + 6], r[t + 7]]);
            let rack = u32::from_be_bytes([r[t + 8], r[t + 9], r[t + 10], r[t + 11]]);
            let flags = r[t + 13];
            if flags & S != 0 && self.irs.is_none() {
                self.irs = Some(rseq);
            }
            let doff = usize::from(r[t + 12] >> 4) * 4;
            let total = 14 + usize::from(u16::from_be_bytes([r[16], r[17]]));
            let rel_seq = rseq.wrapping_sub(self.irs.unwrap_or(0)) as i32;
            let rel_ack = if flags & A != 0 {
                rack.wrapping_sub(self.iss) as i32
            } else {
                0
            };
            parts.push(format!(
                "{} seq {rel_seq} ack {rel_ack} len {} opts {}",
                flag_names(flags),
                total.saturating_sub(t + doff),
                option_kinds(&r[t + 20..t + doff]),
            ));
        }
        let answer = if parts.is_empty() {
            "(silence)".to_string()
        } else {
            parts.join(" | ")
        };
        format!("{label}: {answer}")
    }
}

fn flag_names(f: u8) -> String {
    [(S, 'S'), (F, 'F'), (R, 'R'), (P, 'P'), (A, 'A'), (U, 'U')]
        .iter()
        .filter(|(b, _)| f & b != 0)
        .map(|&(_, c)| c)
        .collect()
}

/// Option kinds in order, with TSecr (the peer's own TSval echoed) and
/// the number of SACK blocks; lengths and values that differ between two
/// correct stacks (MSS clamp, window scale, TSval) are left out.
fn option_kinds(mut o: &[u8]) -> String {
    let mut out = Vec::new();
    while let Some(&k) = o.first() {
        match k {
            0 => break,
            1 => {
                out.push("nop".to_string());
                o = &o[1..];
            }
            _ => {
                let len = usize::from(*o.get(1).unwrap_or(&2)).clamp(2, o.len());
                let v = &o[2..len];
                out.push(match k {
                    2 => "mss".to_string(),
                    3 => "ws".to_string(),
                    4 => "sackok".to_string(),
                    5 => format!("sack{}", v.len() / 8),
                    8 if v.len() == 8 => {
                        format!("ts/{}", u32::from_be_bytes([v[4], v[5], v[6], v[7]]))
                    }
                    k => format!("kind{k}"),
                });
                o = &o[len..];
            }
        }
    }
    out.join(",")
}

/// How long each step collects replies; a FIN step waits longer, for the
/// delayed ACK and the application's own FIN.
const STEP: Duration = Duration::from_millis(250);
const FIN_STEP: Duration = Duration::from_millis(400);

/// The cases, run against one server: connections, each a list of steps
/// sent in order; one line per step.
fn cases(peer: &Peer, first_port: u16) -> Vec<String> {
    let syn = |ts: Option<u32>| Seg {
        syn_opts: ts.is_some(),
        ..seg(S, 0, 0, b"", ts)
    };
    let ts = |v: u32| Some(v);
    let with = |flags: u8, s: Seg| Seg { flags, ..s };
    let urgent = |at: u32, ack: u32, data: &'static [u8], ptr: u16| Seg {
        urgent: ptr,
        ..seg(U | P | A, at, ack, data, ts(1002))
    };
    let conns: Vec<(u16, Vec<(&str, Seg)>)> = vec![
        // Closed port, listener edge cases.
        (4444, vec![("SYN to a closed port", syn(ts(1000)))]),
        (9, vec![("ACK to a listener", seg(A, 5, 77, b"", None))]),
        (
            9,
            vec![("SYN+FIN to a listener", with(S | F, syn(ts(1000))))],
        ),
        (
            9,
            vec![
                ("bare SYN", syn(None)),
                ("its RST", seg(R, 1, 0, b"", None)),
            ],
        ),
        // An established discard connection with timestamps and SACK.
        (
            9,
            vec![
                ("SYN", syn(ts(1000))),
                ("ACK", seg(A, 1, 1, b"", ts(1001))),
                ("100 bytes", seg(P | A, 1, 1, &[b'a'; 100], ts(1002))),
                ("100 more", seg(P | A, 101, 1, &[b'b'; 100], ts(1002))),
                ("old duplicate", seg(P | A, 1, 1, &[b'a'; 100], ts(1002))),
                ("out of order", seg(P | A, 501, 1, &[b'c'; 100], ts(1002))),
                ("fills the hole", seg(P | A, 201, 1, &[b'd'; 300], ts(1002))),
                (
                    "one tick older TSval",
                    seg(P | A, 601, 1, &[b'e'; 10], ts(1001)),
                ),
                (
                    "three ticks older TSval",
                    seg(P | A, 611, 1, &[b'f'; 10], ts(999)),
                ),
                ("old pure ACK, older TSval", seg(A, 300, 1, b"", ts(990))),
                (
                    "far out of window, data",
                    seg(P | A, 9_000_000, 1, b"zz", ts(1003)),
                ),
                (
                    "SYN in ESTABLISHED",
                    Seg {
                        syn_opts: true,
                        ..seg(S, 611, 0, b"", ts(1003))
                    },
                ),
                ("FIN", seg(F | A, 611, 1, b"", ts(1004))),
                ("ACK of their FIN", seg(A, 612, 2, b"", ts(1005))),
                ("FIN again after close", seg(F | A, 611, 2, b"", ts(1006))),
            ],
        ),
        // Echo, data then FIN: the FIN's ACK rides on the server's FIN.
        (
            7,
            vec![
                ("echo SYN", syn(ts(1000))),
                ("echo ACK", seg(A, 1, 1, b"", ts(1001))),
                ("echo data", seg(P | A, 1, 1, b"hello\n", ts(1002))),
                ("echo FIN", seg(F | A, 7, 7, b"", ts(1003))),
                ("echo last ACK", seg(A, 8, 8, b"", ts(1004))),
            ],
        ),
        // Urgent data on echo: the urgent byte is acknowledged, not echoed.
        (
            7,
            vec![
                ("urgent SYN", syn(ts(1000))),
                ("urgent ACK", seg(A, 1, 1, b"", ts(1001))),
                ("URG, 7 bytes, pointer 7", urgent(1, 1, b"urgent!", 7)),
                ("URG, 3 bytes, pointer 1", urgent(8, 7, b"abc", 1)),
            ],
        ),
        // A retransmission of acknowledged data with a newer TSval: its
        // D-SACK echoes that TSval.
        (
            9,
            vec![
                ("retransmission SYN", syn(ts(1000))),
                ("retransmission ACK", seg(A, 1, 1, b"", ts(1001))),
                ("data, TSval 1002", seg(P | A, 1, 1, b"abcd", ts(1002))),
                ("again, TSval 1003", seg(P | A, 1, 1, b"abcd", ts(1003))),
            ],
        ),
        // Data and FIN in one segment to echo.
        (
            7,
            vec![
                ("data+FIN SYN", syn(ts(1000))),
                ("data+FIN ACK", seg(A, 1, 1, b"", ts(1001))),
                (
                    "data and FIN in one segment",
                    seg(F | P | A, 1, 1, b"bye\n", ts(1002)),
                ),
            ],
        ),
        // Nagle on echo: the second short echo waits for the ACK of the
        // first. The two short steps take 120 ms; both stacks first resend
        // an unacknowledged echo about 0.8 s after it (their RTT sample is
        // the 250 ms handshake step), so nothing else comes meanwhile.
        (
            7,
            vec![
                ("nagle SYN", syn(ts(1000))),
                ("nagle ACK", seg(A, 1, 1, b"", ts(1001))),
                (
                    "'a'",
                    Seg {
                        wait: Some(Duration::from_millis(60)),
                        ..seg(P | A, 1, 1, b"a", ts(1002))
                    },
                ),
                (
                    "'b', the echo of 'a' unacknowledged",
                    Seg {
                        wait: Some(Duration::from_millis(60)),
                        ..seg(P | A, 2, 1, b"b", ts(1003))
                    },
                ),
                ("ACK of the echo of 'a'", seg(A, 3, 2, b"", ts(1004))),
            ],
        ),
        // No timestamps, no SACK.
        (
            9,
            vec![
                ("plain SYN", seg(S, 0, 0, b"", None)),
                ("plain ACK", seg(A, 1, 1, b"", None)),
                ("plain out of order", seg(P | A, 21, 1, &[b'x'; 10], None)),
                ("plain RST exact", seg(R, 1, 0, b"", None)),
                ("plain after RST", seg(A, 1, 1, b"", None)),
            ],
        ),
    ];
    let mut lines = Vec::new();
    for (i, (dport, steps)) in conns.into_iter().enumerate() {
        let sport = first_port + 1 + i as u16;
        let mut c = Conn {
            sport,
            dport,
            iss: 0x1000_0000u32.wrapping_mul(u32::from(sport)),
            irs: None,
        };
        for (label, s) in steps {
            let wait = s
                .wait
                .unwrap_or(if s.flags & F != 0 { FIN_STEP } else { STEP });
            lines.push(c.step(peer, label, s, wait));
        }
    }
    lines
}

/// Echo (7) and discard (9) on the kernel's sockets in `ns`, until `stop`.
fn kernel_services(ns: &str, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    let ns = ns.to_string();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let h = std::thread::spawn(move || {
        xdpstack::fastpath::peer::enter_netns(&ns).expect("entering the stack namespace");
        let listeners: Vec<(TcpListener, bool)> = [(7, true), (9, false)]
            .into_iter()
            .map(|(port, echo)| {
                let l = TcpListener::bind(("10.10.0.4", port)).expect("binding");
                l.set_nonblocking(true).expect("nonblocking");
                (l, echo)
            })
            .collect();
        ready_tx.send(()).expect("ready");
        let deadline = Instant::now() + Duration::from_secs(120);
        while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
            for (l, echo) in &listeners {
                if let Ok((mut s, _)) = l.accept() {
                    let echo = *echo;
                    std::thread::spawn(move || {
                        let _ = s.set_nonblocking(false);
                        let _ = s.set_read_timeout(Some(Duration::from_secs(20)));
                        let mut buf = [0u8; 4096];
                        while let Ok(n) = s.read(&mut buf) {
                            if n == 0 || (echo && s.write_all(&buf[..n]).is_err()) {
                                break;
                            }
                        }
                    });
                }
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    });
    ready_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("kernel services ready");
    h
}

/// Runs the cases from the client namespace `ns` against the server at
/// `server_mac`, on a thread that entered it.
fn run_cases(ns: &str, iface: &str, server_mac: [u8; 6], first_port: u16) -> Vec<String> {
    let (ns, iface) = (ns.to_string(), iface.to_string());
    std::thread::spawn(move || {
        xdpstack::fastpath::peer::enter_netns(&ns).expect("entering the client namespace");
        let peer = Peer {
            sock: RawSocket::open(&iface).expect("AF_PACKET socket"),
            server_mac,
        };
        cases(&peer, first_port)
    })
    .join()
    .expect("the cases' thread")
}

#[test]
fn root_tcp_crafted_segments_get_the_answers_linux_gives() {
    if !root_or_skip("root_tcp_crafted_segments_get_the_answers_linux_gives") {
        return;
    }
    let (r, stderr) = start_in(Default::default(), &[], &["--services", "echo,discard"]);
    let linux = Lab::test(kernel_addr()).expect("the kernel lab");
    let stop = Arc::new(AtomicBool::new(false));
    let services = kernel_services(linux.stack().ns(), stop.clone());
    let x = run_cases(
        r.lab.client().ns(),
        r.lab.client().iface(),
        r.lab.stack().mac().unwrap(),
        20000,
    );
    let k = run_cases(
        linux.client().ns(),
        linux.client().iface(),
        linux.stack().mac().unwrap(),
        20000,
    );
    stop.store(true, Ordering::Relaxed);
    let _ = services.join();
    let mut problems = Vec::new();
    for (xl, kl) in x.iter().zip(&k) {
        println!("linux    {kl}\nxdpstack {xl}");
        if xl != kl {
            problems.push(format!("linux:    {kl}\nxdpstack: {xl}"));
        }
    }
    assert_eq!(x.len(), k.len());
    assert!(
        k.iter().any(|l| l.contains("SA seq 0 ack 1")),
        "Linux answered: {k:?}"
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(!stderr.text().contains("panicked"), "{}", stderr.text());
}
