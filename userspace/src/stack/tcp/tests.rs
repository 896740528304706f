//! Engine tests over the simulated network (`sim.rs`) and with hand-made
//! segments. Every loop is bounded in simulated steps.

use std::time::Duration;

use super::sim::{fnv1a, pattern, LinkConfig, Sim, A};
use super::*;

const STEPS: u64 = 100_000;

/// B listens on 80, A connects; returns (A's id, B's id) once both are ESTABLISHED.
fn connected(sim: &mut Sim) -> (ConnId, ConnId) {
    sim.b.listen(80).unwrap();
    let now = sim.now;
    let ca = sim.a.connect(now, 0, Sim::addr_b(80)).unwrap();
    let mut cb = None;
    assert!(sim.run(STEPS, |s| {
        if cb.is_none() {
            cb = s.b.accept(80);
        }
        cb.is_some() && s.a.state(ca) == Some(TcpState::Established)
    }));
    (ca, cb.unwrap())
}

/// Reads everything available on `id` into `into`; true at EOF.
fn drain(tcp: &mut Tcp, now: Instant, id: ConnId, into: &mut Vec<u8>) -> Result<bool, TcpError> {
    let mut buf = [0u8; 4096];
    loop {
        match tcp.recv(now, id, &mut buf) {
            Ok(0) => return Ok(false),
            Ok(n) => into.extend_from_slice(&buf[..n]),
            Err(TcpError::Eof) => return Ok(true),
            Err(e) => return Err(e),
        }
    }
}

/// Sends `data` from `from` (A if true) to the other side, which reads it
/// all; the sender closes after the last byte. Returns what arrived.
fn transfer(sim: &mut Sim, ca: ConnId, cb: ConnId, data: &[u8], steps: u64) -> Vec<u8> {
    let mut sent = 0;
    let mut got = Vec::with_capacity(data.len());
    let mut closed = false;
    let done = sim.run(steps, |s| {
        if sent < data.len() {
            sent += s.a.send(s.now, ca, &data[sent..]).unwrap();
        } else if !closed {
            s.a.close(s.now, ca).unwrap();
            closed = true;
        }
        drain(&mut s.b, s.now, cb, &mut got).unwrap()
    });
    assert!(
        done,
        "transfer incomplete: {} of {} bytes",
        got.len(),
        data.len()
    );
    got
}

#[test]
fn handshake_and_data_both_ways() {
    let mut sim = Sim::new(LinkConfig::clean(5), 1);
    let (ca, cb) = connected(&mut sim);
    assert_eq!(sim.b.state(cb), Some(TcpState::Established));
    assert_eq!(sim.a.counters().active_opens, 1);
    assert_eq!(sim.b.counters().passive_opens, 1);
    assert_eq!(sim.a.counters().current_connections, 1);
    assert_eq!(sim.b.counters().current_connections, 1);

    let now = sim.now;
    assert_eq!(sim.a.send(now, ca, b"hello from a").unwrap(), 12);
    assert_eq!(sim.b.send(now, cb, b"hello from b").unwrap(), 12);
    let (mut at_a, mut at_b) = (Vec::new(), Vec::new());
    assert!(sim.run(STEPS, |s| {
        drain(&mut s.a, s.now, ca, &mut at_a).unwrap();
        drain(&mut s.b, s.now, cb, &mut at_b).unwrap();
        at_a.len() == 12 && at_b.len() == 12
    }));
    assert_eq!(at_a, b"hello from b");
    assert_eq!(at_b, b"hello from a");

    let rows = sim.b.connections();
    assert!(rows
        .iter()
        .any(|r| r.state == TcpState::Listen && r.local.port() == 80));
    assert!(rows
        .iter()
        .any(|r| r.state == TcpState::Established && r.remote.ip() == &A));
    assert_eq!(TcpState::Established.name(), "ESTAB");
}

#[test]
fn client_closes_first_and_ends_in_time_wait() {
    let mut sim = Sim::new(LinkConfig::clean(5), 2);
    let (ca, cb) = connected(&mut sim);
    let data = pattern(5000, 7);
    let got = transfer(&mut sim, ca, cb, &data, STEPS);
    assert_eq!(got, data);
    assert_eq!(sim.b.state(cb), Some(TcpState::CloseWait));
    assert!(matches!(
        sim.a.state(ca),
        Some(TcpState::FinWait2 | TcpState::FinWait1)
    ));
    sim.b.close(sim.now, cb).unwrap();
    assert!(sim.run(STEPS, |s| {
        s.a.state(ca) == Some(TcpState::TimeWait) && s.b.state(cb) == Some(TcpState::Closed)
    }));
    assert_eq!(sim.a.counters().time_wait, 1);
    assert_eq!(sim.b.counters().current_connections, 0);
    // A keeps reporting EOF; B's closed connection stays until released.
    assert_eq!(sim.a.recv(sim.now, ca, &mut [0; 8]), Err(TcpError::Eof));
    sim.b.release(cb);
    assert_eq!(sim.b.state(cb), None);
    // TIME-WAIT lasts 2 MSL, then the connection is gone.
    sim.advance(Duration::from_secs(61));
    assert_eq!(sim.a.counters().time_wait, 0);
    assert_eq!(sim.a.state(ca), Some(TcpState::Closed));
    sim.a.release(ca);
    assert!(sim.a.connections().is_empty());
}

#[test]
fn server_closes_first() {
    let mut sim = Sim::new(LinkConfig::clean(5), 3);
    let (ca, cb) = connected(&mut sim);
    sim.b.send(sim.now, cb, b"bye").unwrap();
    sim.b.close(sim.now, cb).unwrap();
    let mut got = Vec::new();
    assert!(sim.run(STEPS, |s| drain(&mut s.a, s.now, ca, &mut got).unwrap()));
    assert_eq!(got, b"bye");
    assert_eq!(sim.a.state(ca), Some(TcpState::CloseWait));
    // Half-close: A can still send after B's FIN.
    sim.a.send(sim.now, ca, b"late").unwrap();
    sim.a.close(sim.now, ca).unwrap();
    let mut at_b = Vec::new();
    assert!(sim.run(STEPS, |s| {
        drain(&mut s.b, s.now, cb, &mut at_b).unwrap();
        s.a.state(ca) == Some(TcpState::Closed) && s.b.state(cb) == Some(TcpState::TimeWait)
    }));
    assert_eq!(at_b, b"late");
}

#[test]
fn simultaneous_close_goes_through_closing_to_time_wait() {
    let mut sim = Sim::new(LinkConfig::clean(10), 4);
    let (ca, cb) = connected(&mut sim);
    let now = sim.now;
    sim.a.close(now, ca).unwrap();
    sim.b.close(now, cb).unwrap();
    let mut saw_closing = (false, false);
    assert!(sim.run(STEPS, |s| {
        saw_closing.0 |= s.a.state(ca) == Some(TcpState::Closing);
        saw_closing.1 |= s.b.state(cb) == Some(TcpState::Closing);
        s.a.state(ca) == Some(TcpState::TimeWait) && s.b.state(cb) == Some(TcpState::TimeWait)
    }));
    assert_eq!(saw_closing, (true, true));
    assert_eq!(
        sim.a.counters().retransmits + sim.b.counters().retransmits,
        0
    );
}

#[test]
fn simultaneous_open() {
    let mut sim = Sim::new(LinkConfig::clean(10), 5);
    sim.record = true;
    let now = sim.now;
    let ca = sim.a.connect(now, 5000, Sim::addr_b(6000)).unwrap();
    let cb = sim.b.connect(now, 6000, Sim::addr_a(5000)).unwrap();
    let mut saw_syn_received = false;
    assert!(sim.run(STEPS, |s| {
        saw_syn_received |= s.a.state(ca) == Some(TcpState::SynReceived);
        s.a.state(ca) == Some(TcpState::Established) && s.b.state(cb) == Some(TcpState::Established)
    }));
    assert!(saw_syn_received);
    // Each side sent one SYN and one SYN-ACK, nothing retransmitted.
    let syns = sim
        .parsed_trace()
        .iter()
        .filter(|(_, r)| r.flags.syn())
        .count();
    assert_eq!(syns, 4);
    assert_eq!(sim.a.counters().timeouts, 0);
    assert_eq!(sim.a.counters().retransmits, 0);
    sim.a.send(sim.now, ca, b"crossed").unwrap();
    let mut got = Vec::new();
    assert!(sim.run(STEPS, |s| {
        drain(&mut s.b, s.now, cb, &mut got).unwrap();
        got.len() == 7
    }));
    assert_eq!(got, b"crossed");
}

#[test]
fn connect_to_closed_port_is_reset() {
    let mut sim = Sim::new(LinkConfig::clean(5), 6);
    let ca = sim.a.connect(sim.now, 0, Sim::addr_b(81)).unwrap();
    assert!(sim.run(STEPS, |s| s.a.state(ca) == Some(TcpState::Closed)));
    assert_eq!(sim.a.recv(sim.now, ca, &mut [0; 4]), Err(TcpError::Reset));
    assert_eq!(sim.a.send(sim.now, ca, b"x"), Err(TcpError::Reset));
    assert_eq!(sim.b.counters().resets_sent, 1);
    assert_eq!(sim.b.counters().no_connection, 1);
    assert_eq!(sim.a.counters().resets_received, 1);
    assert_eq!(sim.a.counters().half_open, 0);
}

#[test]
fn abort_resets_the_peer() {
    let mut sim = Sim::new(LinkConfig::clean(5), 7);
    let (ca, cb) = connected(&mut sim);
    sim.a.abort(sim.now, ca).unwrap();
    assert_eq!(sim.a.state(ca), None);
    assert!(sim.run(STEPS, |s| s.b.state(cb) == Some(TcpState::Closed)));
    assert_eq!(sim.b.recv(sim.now, cb, &mut [0; 4]), Err(TcpError::Reset));
    assert_eq!(sim.b.counters().current_connections, 0);
}

#[test]
fn lost_segment_is_retransmitted_on_timeout() {
    let mut sim = Sim::new(LinkConfig::clean(5), 8);
    let (ca, cb) = connected(&mut sim);
    let mut dropped = false;
    sim.drop_a_to_b = Some(Box::new(move |r| {
        if !r.payload.is_empty() && !dropped {
            dropped = true;
            return true;
        }
        false
    }));
    sim.a.send(sim.now, ca, b"only segment").unwrap();
    let mut got = Vec::new();
    assert!(sim.run(STEPS, |s| {
        drain(&mut s.b, s.now, cb, &mut got).unwrap();
        got.len() == 12
    }));
    assert_eq!(got, b"only segment");
    assert_eq!(sim.a.counters().timeouts, 1);
    assert_eq!(sim.a.counters().retransmits, 1);
}

#[test]
fn lost_syn_is_retransmitted() {
    let mut sim = Sim::new(LinkConfig::clean(5), 9);
    let mut dropped = false;
    sim.drop_a_to_b = Some(Box::new(move |r| {
        if r.flags.syn() && !dropped {
            dropped = true;
            return true;
        }
        false
    }));
    let (_, _) = connected(&mut sim);
    assert_eq!(sim.a.counters().timeouts, 1);
}

#[test]
fn ten_megabytes_through_a_bad_link_arrive_intact() {
    let link = LinkConfig {
        delay: Duration::from_millis(5),
        loss: 50,
        reorder: 50,
        reorder_extra: Duration::from_millis(3),
        duplicate: 50,
    };
    let mut sim = Sim::new(link, 10);
    let (ca, cb) = connected(&mut sim);
    let data = pattern(10 * 1024 * 1024, 11);
    let got = transfer(&mut sim, ca, cb, &data, 3_000_000);
    assert_eq!(got.len(), data.len());
    assert_eq!(fnv1a(&got), fnv1a(&data));
    let c = sim.a.counters();
    assert!(c.retransmits > 0 && c.fast_retransmits > 0, "{c:?}");
    assert!(sim.b.counters().out_of_order > 0);
}
