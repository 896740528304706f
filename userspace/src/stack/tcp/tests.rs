//! Engine tests over the simulated network (`sim.rs`) and with hand-made
//! segments. Every loop is bounded in simulated steps.

use std::time::Duration;

use super::sim::{fnv1a, pattern, run_with_many_seeds, run_with_seeds, LinkConfig, Sim, A, B};
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
    run_with_many_seeds(handshake_and_data_both_ways_with_seed);
}

fn handshake_and_data_both_ways_with_seed(seed: u64) {
    let mut sim = Sim::new(LinkConfig::clean(5), seed);
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
        .any(|r| r.state == TcpState::Established && r.remote.ip() == A));
    assert_eq!(
        crate::present::names::tcp_state(TcpState::Established),
        "ESTAB"
    );
}

#[test]
fn client_closes_first_and_ends_in_time_wait() {
    run_with_many_seeds(client_closes_first_and_ends_in_time_wait_with_seed);
}

fn client_closes_first_and_ends_in_time_wait_with_seed(seed: u64) {
    let mut sim = Sim::new(LinkConfig::clean(5), seed);
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
    sim.b.release(sim.now, cb);
    assert_eq!(sim.b.state(cb), None);
    // TIME-WAIT lasts 2 MSL, then the connection is gone.
    sim.advance(Duration::from_secs(61));
    assert_eq!(sim.a.counters().time_wait, 0);
    assert_eq!(sim.a.state(ca), Some(TcpState::Closed));
    sim.a.release(sim.now, ca);
    assert!(sim.a.connections().is_empty());
}

#[test]
fn server_closes_first() {
    run_with_many_seeds(server_closes_first_with_seed);
}

fn server_closes_first_with_seed(seed: u64) {
    let mut sim = Sim::new(LinkConfig::clean(5), seed);
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
    run_with_many_seeds(simultaneous_close_goes_through_closing_to_time_wait_with_seed);
}

fn simultaneous_close_goes_through_closing_to_time_wait_with_seed(seed: u64) {
    let mut sim = Sim::new(LinkConfig::clean(10), seed);
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
    run_with_many_seeds(simultaneous_open_with_seed);
}

fn simultaneous_open_with_seed(seed: u64) {
    let mut sim = Sim::new(LinkConfig::clean(10), seed);
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
    run_with_many_seeds(connect_to_closed_port_is_reset_with_seed);
}

fn connect_to_closed_port_is_reset_with_seed(seed: u64) {
    let mut sim = Sim::new(LinkConfig::clean(5), seed);
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
    run_with_many_seeds(abort_resets_the_peer_with_seed);
}

fn abort_resets_the_peer_with_seed(seed: u64) {
    let mut sim = Sim::new(LinkConfig::clean(5), seed);
    let (ca, cb) = connected(&mut sim);
    sim.a.abort(sim.now, ca).unwrap();
    assert_eq!(sim.a.state(ca), None);
    assert!(sim.run(STEPS, |s| s.b.state(cb) == Some(TcpState::Closed)));
    assert_eq!(sim.b.recv(sim.now, cb, &mut [0; 4]), Err(TcpError::Reset));
    assert_eq!(sim.b.counters().current_connections, 0);
}

#[test]
fn close_with_unread_data_resets_the_peer() {
    run_with_many_seeds(close_with_unread_data_resets_the_peer_with_seed);
}

fn close_with_unread_data_resets_the_peer_with_seed(seed: u64) {
    let mut sim = Sim::new(LinkConfig::clean(5), seed);
    let (ca, cb) = connected(&mut sim);
    assert_eq!(sim.a.send(sim.now, ca, b"never read").unwrap(), 10);
    assert!(sim.run(STEPS, |s| s.b.connections().iter().any(|c| c.recv_q == 10)));
    sim.b.close(sim.now, cb).unwrap();
    assert_eq!(sim.b.state(cb), None, "aborted, not closing");
    assert_eq!(sim.b.counters().closed_with_unread_data, 1);
    assert!(sim.run(STEPS, |s| s.a.state(ca) == Some(TcpState::Closed)));
    assert_eq!(sim.a.recv(sim.now, ca, &mut [0; 4]), Err(TcpError::Reset));
}

/// A close with unread data resets the peer the way Linux's
/// tcp_send_active_reset does: RST and ACK, SEQ = SND.NXT, ACK = RCV.NXT,
/// the timestamps option echoing the peer's last TSval.
#[test]
fn an_active_reset_carries_the_ack_and_timestamps_as_linux_sends_it() {
    let (mut b, snd, id) = established(linux_syn_options());
    b.receive(
        ms(2),
        A,
        B,
        &raw_ts(
            Flags::ACK | Flags::PSH,
            PEER_ISS + 1,
            snd,
            (9, 0),
            &[],
            b"unread",
        ),
    );
    out(&mut b);
    b.close(ms(3), id).unwrap();
    let o = out(&mut b);
    assert_eq!(o.len(), 1, "{o:?}");
    assert_eq!(o[0].flags, Flags::RST | Flags::ACK);
    assert_eq!((o[0].seq, o[0].ack), (snd, PEER_ISS + 7));
    assert_eq!(o[0].options.timestamps.map(|t| t.1), Some(9), "TSecr");
    assert_eq!(b.counters().resets_sent, 1);
}

#[test]
fn lost_segment_is_retransmitted_on_timeout() {
    run_with_many_seeds(lost_segment_is_retransmitted_on_timeout_with_seed);
}

fn lost_segment_is_retransmitted_on_timeout_with_seed(seed: u64) {
    let mut sim = Sim::new(LinkConfig::clean(5), seed);
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
    run_with_many_seeds(lost_syn_is_retransmitted_with_seed);
}

fn lost_syn_is_retransmitted_with_seed(seed: u64) {
    let mut sim = Sim::new(LinkConfig::clean(5), seed);
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
    // Ten megabytes take seconds: one seed (the lossy many-seeds test
    // below covers other loss patterns).
    run_with_seeds(
        [10],
        ten_megabytes_through_a_bad_link_arrive_intact_with_seed,
    );
}

fn ten_megabytes_through_a_bad_link_arrive_intact_with_seed(seed: u64) {
    let link = LinkConfig {
        delay: Duration::from_millis(5),
        loss: 50,
        reorder: 50,
        reorder_extra: Duration::from_millis(3),
        duplicate: 50,
    };
    let mut sim = Sim::new(link, seed);
    let (ca, cb) = connected(&mut sim);
    let data = pattern(10 * 1024 * 1024, 11);
    let got = transfer(&mut sim, ca, cb, &data, 3_000_000);
    assert_eq!(got.len(), data.len());
    assert_eq!(fnv1a(&got), fnv1a(&data));
    let c = sim.a.counters();
    assert!(c.retransmits > 0 && c.fast_retransmits > 0, "{c:?}");
    assert!(sim.b.counters().out_of_order > 0);
}

/// The seed draws which segments the link loses, delays and duplicates:
/// many patterns of a lossy link, each delivering the data intact.
#[test]
fn lossy_links_of_many_seeds_deliver_intact() {
    run_with_many_seeds(|seed| {
        let link = LinkConfig {
            delay: Duration::from_millis(3),
            loss: 30,
            reorder: 30,
            reorder_extra: Duration::from_millis(2),
            duplicate: 30,
        };
        let mut sim = Sim::new(link, seed);
        let (ca, cb) = connected(&mut sim);
        let data = pattern(100_000, seed);
        let got = transfer(&mut sim, ca, cb, &data, STEPS * 10);
        assert_eq!(fnv1a(&got), fnv1a(&data));
    });
}

#[test]
fn three_duplicate_acks_trigger_fast_retransmit_not_a_timeout() {
    // Hundreds of kilobytes each: fewer seeds keep the suite quick.
    run_with_seeds(
        0..8,
        three_duplicate_acks_trigger_fast_retransmit_not_a_timeout_with_seed,
    );
}

fn three_duplicate_acks_trigger_fast_retransmit_not_a_timeout_with_seed(seed: u64) {
    let mut sim = Sim::new(LinkConfig::clean(5), seed);
    let (ca, cb) = connected(&mut sim);
    let mut data_segments = 0;
    sim.drop_a_to_b = Some(Box::new(move |r| {
        if r.payload.is_empty() {
            return false;
        }
        data_segments += 1;
        data_segments == 10
    }));
    let data = pattern(200_000, 13);
    let got = transfer(&mut sim, ca, cb, &data, STEPS);
    assert_eq!(fnv1a(&got), fnv1a(&data));
    let c = sim.a.counters();
    assert_eq!(c.fast_retransmits, 1, "{c:?}");
    assert_eq!(c.timeouts, 0, "{c:?}");
    assert_eq!(c.retransmits, 1, "{c:?}");
    assert!(c.dup_acks_received >= 3);
}

#[test]
fn reordering_and_duplication_without_loss() {
    // A megabyte each: fewer seeds keep the suite quick.
    run_with_seeds(0..4, reordering_and_duplication_without_loss_with_seed);
}

fn reordering_and_duplication_without_loss_with_seed(seed: u64) {
    let link = LinkConfig {
        delay: Duration::from_millis(2),
        reorder: 200,
        reorder_extra: Duration::from_millis(4),
        duplicate: 200,
        ..LinkConfig::default()
    };
    let mut sim = Sim::new(link, seed);
    let (ca, cb) = connected(&mut sim);
    let data = pattern(1_000_000, 15);
    let got = transfer(&mut sim, ca, cb, &data, STEPS * 10);
    assert_eq!(fnv1a(&got), fnv1a(&data));
    assert!(sim.b.counters().out_of_order > 0);
}

#[test]
fn zero_window_is_probed_and_reopens() {
    run_with_many_seeds(zero_window_is_probed_and_reopens_with_seed);
}

fn zero_window_is_probed_and_reopens_with_seed(seed: u64) {
    let mut b = super::sim::config(B);
    b.rcv_buf = 8 * 1024;
    let mut sim = Sim::with_configs(super::sim::config(A), b, LinkConfig::clean(5), seed);
    sim.record = true;
    let (ca, cb) = connected(&mut sim);
    let data = pattern(64 * 1024, 17);
    let mut sent = 0;
    // B does not read: the window closes and A probes it.
    assert!(sim.run(STEPS, |s| {
        if sent < data.len() {
            sent += s.a.send(s.now, ca, &data[sent..]).unwrap();
        }
        s.a.counters().window_probes >= 2
    }));
    // B's window never went past its buffer and reached zero.
    let windows: Vec<u16> = sim
        .parsed_trace()
        .iter()
        .filter(|(to_b, r)| !to_b && !r.flags.syn())
        .map(|(_, r)| r.window)
        .collect();
    assert!(windows.contains(&0));
    assert_eq!(sim.a.counters().retransmit_aborts, 0);
    let mut got = Vec::new();
    let mut closed = false;
    assert!(sim.run(STEPS, |s| {
        if sent < data.len() {
            sent += s.a.send(s.now, ca, &data[sent..]).unwrap();
        } else if !closed {
            s.a.close(s.now, ca).unwrap();
            closed = true;
        }
        drain(&mut s.b, s.now, cb, &mut got).unwrap()
    }));
    assert_eq!(fnv1a(&got), fnv1a(&data));
}

#[test]
fn retransmissions_are_bounded_then_the_connection_aborts() {
    run_with_many_seeds(retransmissions_are_bounded_then_the_connection_aborts_with_seed);
}

fn retransmissions_are_bounded_then_the_connection_aborts_with_seed(seed: u64) {
    let mut sim = Sim::new(LinkConfig::clean(5), seed);
    let (ca, _cb) = connected(&mut sim);
    sim.link.loss = 1000;
    sim.a.send(sim.now, ca, b"into the void").unwrap();
    assert!(sim.run(STEPS, |s| s.a.state(ca) == Some(TcpState::Closed)));
    let c = sim.a.counters();
    assert_eq!(c.retransmit_aborts, 1);
    assert_eq!(c.timeouts, 13);
    assert_eq!(c.current_connections, 0);
    assert_eq!(
        sim.a.recv(sim.now, ca, &mut [0; 4]),
        Err(TcpError::TimedOut)
    );
}

#[test]
fn time_wait_is_bounded_in_count() {
    run_with_many_seeds(time_wait_is_bounded_in_count_with_seed);
}

fn time_wait_is_bounded_in_count_with_seed(seed: u64) {
    let mut a = super::sim::config(A);
    a.max_time_wait = 2;
    let mut sim = Sim::with_configs(a, super::sim::config(B), LinkConfig::clean(1), seed);
    sim.b.listen(80).unwrap();
    for _ in 0..3 {
        let ca = sim.a.connect(sim.now, 0, Sim::addr_b(80)).unwrap();
        let mut cb = None;
        assert!(sim.run(STEPS, |s| {
            if cb.is_none() {
                cb = s.b.accept(80);
                if cb.is_some() {
                    s.a.close(s.now, ca).unwrap();
                }
            }
            if let Some(cb) = cb {
                if s.b.recv(s.now, cb, &mut [0; 4]) == Err(TcpError::Eof) {
                    s.b.close(s.now, cb).unwrap();
                }
            }
            cb.is_some_and(|cb| s.b.state(cb) == Some(TcpState::Closed))
                && s.a.state(ca) == Some(TcpState::TimeWait)
        }));
        sim.b.release(sim.now, cb.unwrap());
        sim.a.release(sim.now, ca);
    }
    let c = sim.a.counters();
    assert_eq!((c.time_wait, c.time_wait_evicted), (2, 1));
    assert_eq!(sim.a.connections().len(), 2);
    sim.advance(Duration::from_secs(61));
    assert_eq!(sim.a.counters().time_wait, 0);
    assert!(sim.a.connections().is_empty());
}

#[test]
fn full_backlog_drops_syns_and_counts_them() {
    run_with_many_seeds(full_backlog_drops_syns_and_counts_them_with_seed);
}

fn full_backlog_drops_syns_and_counts_them_with_seed(seed: u64) {
    let mut b = super::sim::config(B);
    b.backlog = 2;
    // What a full backlog does without SYN cookies (see the cookie tests).
    b.syn_cookies = false;
    let mut sim = Sim::with_configs(super::sim::config(A), b, LinkConfig::clean(1), seed);
    sim.b.listen(80).unwrap();
    let ids: Vec<ConnId> = (0..3)
        .map(|_| sim.a.connect(sim.now, 0, Sim::addr_b(80)).unwrap())
        .collect();
    sim.advance(Duration::from_millis(100));
    assert_eq!(sim.b.counters().listen_overflows, 1);
    let established = ids
        .iter()
        .filter(|id| sim.a.state(**id) == Some(TcpState::Established))
        .count();
    assert_eq!(established, 2);
    // Once the application accepts, the third SYN's retry gets in.
    let mut accepted = 0;
    assert!(sim.run(STEPS, |s| {
        while s.b.accept(80).is_some() {
            accepted += 1;
        }
        accepted == 3
    }));
}

// ----- hand-made segments against B (the engine under test) -----

/// An owned, parsed segment the engine sent.
#[derive(Debug)]
struct Out {
    flags: Flags,
    seq: u32,
    ack: u32,
    window: u16,
    options: TcpOptions,
    len: usize,
}

const PEER_PORT: u16 = 40000;
const PEER_ISS: u32 = 1_000_000;

fn ms(n: u64) -> Instant {
    Instant::from_millis(1000 + n)
}

/// A segment from A:40000 to B:`port`.
fn raw(
    port: u16,
    flags: Flags,
    seq: u32,
    ack: u32,
    options: TcpOptions,
    payload: &[u8],
) -> Vec<u8> {
    let r = TcpRepr {
        src_port: PEER_PORT,
        dst_port: port,
        seq,
        ack,
        flags,
        window: 1000,
        urgent: 0,
        options,
        payload,
    };
    let mut buf = vec![0u8; r.buffer_len()];
    r.emit(&mut Packet::new_unchecked(&mut buf[..]), A, B);
    buf
}

fn out(tcp: &mut Tcp) -> Vec<Out> {
    let mut v = Vec::new();
    tcp.drain_output(&mut v);
    v.iter()
        .map(|(dst, bytes)| {
            assert_eq!(*dst, A);
            let p = Packet::new_checked(&bytes[..]).unwrap();
            let r = TcpRepr::parse(&p, B, A).unwrap();
            Out {
                flags: r.flags,
                seq: r.seq,
                ack: r.ack,
                window: r.window,
                options: r.options,
                len: r.payload.len(),
            }
        })
        .collect()
}

/// B listening on 80 and ESTABLISHED with A:40000 after a SYN with `options`.
/// Returns (engine, B's ISS + 1, the connection).
fn established(options: TcpOptions) -> (Tcp, u32, ConnId) {
    let mut b = Tcp::new(super::sim::config(B));
    b.listen(80).unwrap();
    b.receive(ms(0), A, B, &raw(80, Flags::SYN, PEER_ISS, 0, options, b""));
    let synack = out(&mut b);
    assert_eq!(synack.len(), 1);
    assert_eq!(synack[0].flags, Flags::SYN | Flags::ACK);
    assert_eq!(synack[0].ack, PEER_ISS + 1);
    let snd = synack[0].seq.wrapping_add(1);
    b.receive(
        ms(1),
        A,
        B,
        &raw(
            80,
            Flags::ACK,
            PEER_ISS + 1,
            snd,
            TcpOptions::default(),
            b"",
        ),
    );
    assert!(out(&mut b).is_empty());
    let id = b.accept(80).unwrap();
    assert_eq!(b.state(id), Some(TcpState::Established));
    (b, snd, id)
}

fn linux_syn_options() -> TcpOptions {
    TcpOptions {
        mss: Some(1460),
        window_scale: Some(7),
        sack_permitted: true,
        timestamps: Some((1, 0)),
        ..TcpOptions::default()
    }
}

#[test]
fn syn_ack_carries_mss_and_window_scale_only_if_offered() {
    let mut b = Tcp::new(super::sim::config(B));
    b.listen(80).unwrap();
    b.receive(
        ms(0),
        A,
        B,
        &raw(80, Flags::SYN, PEER_ISS, 0, linux_syn_options(), b""),
    );
    let o = out(&mut b);
    assert_eq!(o[0].options.mss, Some(1460));
    // 256 KiB needs a shift of 3 to fit 16 bits (RFC 7323 2.3).
    assert_eq!(o[0].options.window_scale, Some(3));
    // Issue 12 failure 1: SACK-permitted and timestamps offered back, as
    // Linux does (this asserted their absence before they were handled).
    assert!(o[0].options.sack_permitted);
    assert_eq!(
        o[0].options.timestamps.map(|t| t.1),
        Some(1),
        "TSecr echoes the SYN"
    );
    assert_eq!(o[0].window, 65535);

    let mut b = Tcp::new(super::sim::config(B));
    b.listen(80).unwrap();
    b.receive(
        ms(0),
        A,
        B,
        &raw(80, Flags::SYN, PEER_ISS, 0, TcpOptions::default(), b""),
    );
    let o = out(&mut b);
    assert_eq!(o[0].options.window_scale, None);
    assert!(!o[0].options.sack_permitted && o[0].options.timestamps.is_none());
}

#[test]
fn window_is_scaled_and_reflects_free_space() {
    let (mut b, snd, _) = established(linux_syn_options());
    let data = [7u8; 1000];
    b.receive(
        ms(2),
        A,
        B,
        &raw(
            80,
            Flags::ACK,
            PEER_ISS + 1,
            snd,
            TcpOptions::default(),
            &data,
        ),
    );
    b.receive(
        ms(3),
        A,
        B,
        &raw(
            80,
            Flags::ACK,
            PEER_ISS + 1001,
            snd,
            TcpOptions::default(),
            &data,
        ),
    );
    let o = out(&mut b);
    // Two segments: acknowledged at once (RFC 1122 4.2.3.2).
    assert_eq!(o.len(), 1);
    assert_eq!(o[0].ack, PEER_ISS + 2001);
    // The right edge stays where it was: 256 KiB of buffer, 2000 bytes used.
    let wnd = u32::from(o[0].window) << 3;
    assert!(
        wnd <= 256 * 1024 - 2000 && wnd > 256 * 1024 - 2000 - 8,
        "{wnd}"
    );
}

#[test]
fn peer_mss_is_honoured_and_536_without_option() {
    let (mut b, _, id) = established(TcpOptions::default());
    b.send(ms(2), id, &[1u8; 3000]).unwrap();
    let o = out(&mut b);
    assert!(!o.is_empty());
    assert!(o.iter().all(|s| s.len <= 536), "{o:?}");

    let opts = TcpOptions {
        mss: Some(1000),
        ..TcpOptions::default()
    };
    let (mut b, _, id) = established(opts);
    b.send(ms(2), id, &[1u8; 3000]).unwrap();
    let o = out(&mut b);
    assert_eq!(o[0].len, 1000);
}

#[test]
fn one_segment_gets_a_delayed_ack() {
    let (mut b, snd, _) = established(linux_syn_options());
    b.receive(
        ms(2),
        A,
        B,
        &raw(
            80,
            Flags::ACK | Flags::PSH,
            PEER_ISS + 1,
            snd,
            TcpOptions::default(),
            b"hi",
        ),
    );
    assert!(out(&mut b).is_empty());
    let t = b.poll_at().unwrap();
    assert!(t <= ms(2) + Duration::from_millis(200) && t > ms(2));
    b.poll(t);
    let o = out(&mut b);
    assert_eq!((o.len(), o[0].ack), (1, PEER_ISS + 3));
}

#[test]
fn in_window_rst_gets_a_challenge_ack_exact_rst_resets() {
    let (mut b, snd, id) = established(linux_syn_options());
    // RFC 5961 3.2: in the window but not RCV.NXT.
    b.receive(
        ms(2),
        A,
        B,
        &raw(
            80,
            Flags::RST,
            PEER_ISS + 100,
            0,
            TcpOptions::default(),
            b"",
        ),
    );
    let o = out(&mut b);
    assert_eq!(o.len(), 1);
    assert_eq!(
        (o[0].flags, o[0].seq, o[0].ack),
        (Flags::ACK, snd, PEER_ISS + 1)
    );
    assert_eq!(b.state(id), Some(TcpState::Established));
    assert_eq!(b.counters().challenge_acks, 1);
    // Out of the window: silently dropped.
    b.receive(
        ms(3),
        A,
        B,
        &raw(
            80,
            Flags::RST,
            PEER_ISS + 10_000_000,
            0,
            TcpOptions::default(),
            b"",
        ),
    );
    assert!(out(&mut b).is_empty());
    assert_eq!(b.state(id), Some(TcpState::Established));
    // Exactly RCV.NXT: reset.
    b.receive(
        ms(4),
        A,
        B,
        &raw(80, Flags::RST, PEER_ISS + 1, 0, TcpOptions::default(), b""),
    );
    assert!(out(&mut b).is_empty());
    assert_eq!(b.state(id), Some(TcpState::Closed));
    assert_eq!(b.recv(ms(5), id, &mut [0; 4]), Err(TcpError::Reset));
    assert_eq!(b.counters().resets_received, 1);
    assert_eq!(b.counters().current_connections, 0);
}

#[test]
fn syn_on_an_established_connection_gets_a_challenge_ack() {
    let (mut b, snd, id) = established(linux_syn_options());
    b.receive(
        ms(2),
        A,
        B,
        &raw(80, Flags::SYN, PEER_ISS + 5, 0, linux_syn_options(), b""),
    );
    let o = out(&mut b);
    assert_eq!(o.len(), 1);
    assert_eq!(
        (o[0].flags, o[0].seq, o[0].ack),
        (Flags::ACK, snd, PEER_ISS + 1)
    );
    assert_eq!(b.state(id), Some(TcpState::Established));
    assert_eq!(b.counters().challenge_acks, 1);
}

#[test]
fn ack_of_unsent_data_is_challenged_and_dropped() {
    let (mut b, snd, id) = established(linux_syn_options());
    b.receive(
        ms(2),
        A,
        B,
        &raw(
            80,
            Flags::ACK,
            PEER_ISS + 1,
            snd + 5000,
            TcpOptions::default(),
            b"data",
        ),
    );
    let o = out(&mut b);
    assert_eq!(o.len(), 1);
    assert_eq!(o[0].ack, PEER_ISS + 1, "the data was not taken");
    assert_eq!(b.recv(ms(3), id, &mut [0; 8]), Ok(0));
}

#[test]
fn challenge_acks_are_rate_limited() {
    let (mut b, _, id) = established(linux_syn_options());
    for i in 0..300 {
        b.receive(
            ms(2),
            A,
            B,
            &raw(
                80,
                Flags::RST,
                PEER_ISS + 10 + i,
                0,
                TcpOptions::default(),
                b"",
            ),
        );
    }
    let c = b.counters();
    assert_eq!(c.challenge_acks + c.challenge_acks_suppressed, 300);
    assert!(
        c.challenge_acks <= 101 && c.challenge_acks_suppressed >= 199,
        "{c:?}"
    );
    assert_eq!(out(&mut b).len() as u64, b.counters().challenge_acks);
    assert_eq!(b.state(id), Some(TcpState::Established));
}

#[test]
fn closed_port_and_listen_resets_follow_rfc9293() {
    let mut b = Tcp::new(super::sim::config(B));
    // SYN to a closed port: <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>.
    b.receive(
        ms(0),
        A,
        B,
        &raw(81, Flags::SYN, 77, 0, TcpOptions::default(), b""),
    );
    let o = out(&mut b);
    assert_eq!(
        (o[0].flags, o[0].seq, o[0].ack),
        (Flags::RST | Flags::ACK, 0, 78)
    );
    // An ACK with data to a closed port: <SEQ=SEG.ACK><CTL=RST>.
    b.receive(
        ms(0),
        A,
        B,
        &raw(81, Flags::ACK, 77, 4242, TcpOptions::default(), b"abc"),
    );
    let o = out(&mut b);
    assert_eq!((o[0].flags, o[0].seq), (Flags::RST, 4242));
    // A RST is never answered.
    b.receive(
        ms(0),
        A,
        B,
        &raw(81, Flags::RST, 77, 0, TcpOptions::default(), b""),
    );
    assert!(out(&mut b).is_empty());
    // LISTEN: an ACK gets a RST, a RST is ignored, data without SYN is dropped.
    b.listen(80).unwrap();
    b.receive(
        ms(0),
        A,
        B,
        &raw(80, Flags::ACK, 5, 99, TcpOptions::default(), b""),
    );
    let o = out(&mut b);
    assert_eq!((o[0].flags, o[0].seq), (Flags::RST, 99));
    b.receive(
        ms(0),
        A,
        B,
        &raw(80, Flags::RST, 5, 0, TcpOptions::default(), b""),
    );
    b.receive(
        ms(0),
        A,
        B,
        &raw(80, Flags::PSH, 5, 0, TcpOptions::default(), b"x"),
    );
    assert!(out(&mut b).is_empty());
    assert_eq!(b.counters().resets_sent, 3);
}

/// A SYN with FIN set gets no SYN-ACK from a listener, as from Linux's.
#[test]
fn a_syn_with_fin_set_is_dropped_by_the_listener() {
    let mut b = Tcp::new(super::sim::config(B));
    b.listen(80).unwrap();
    b.receive(
        ms(0),
        A,
        B,
        &raw(
            80,
            Flags::SYN | Flags::FIN,
            PEER_ISS,
            0,
            linux_syn_options(),
            b"",
        ),
    );
    assert!(out(&mut b).is_empty());
    assert_eq!((b.counters().malformed, b.counters().half_open), (1, 0));
}

#[test]
fn bad_ack_in_syn_received_is_reset() {
    let mut b = Tcp::new(super::sim::config(B));
    b.listen(80).unwrap();
    b.receive(
        ms(0),
        A,
        B,
        &raw(80, Flags::SYN, PEER_ISS, 0, TcpOptions::default(), b""),
    );
    let iss = out(&mut b)[0].seq;
    b.receive(
        ms(1),
        A,
        B,
        &raw(
            80,
            Flags::ACK,
            PEER_ISS + 1,
            iss + 77,
            TcpOptions::default(),
            b"",
        ),
    );
    let o = out(&mut b);
    assert_eq!((o[0].flags, o[0].seq), (Flags::RST, iss + 77));
    assert_eq!(b.accept(80), None);
    // A retransmitted SYN gets the SYN-ACK again.
    b.receive(
        ms(2),
        A,
        B,
        &raw(80, Flags::SYN, PEER_ISS, 0, TcpOptions::default(), b""),
    );
    let o = out(&mut b);
    assert_eq!((o[0].flags, o[0].seq), (Flags::SYN | Flags::ACK, iss));
}

#[test]
fn bad_checksum_and_garbage_are_counted_not_answered() {
    let mut b = Tcp::new(super::sim::config(B));
    b.listen(80).unwrap();
    let mut syn = raw(80, Flags::SYN, PEER_ISS, 0, TcpOptions::default(), b"");
    syn[4] ^= 1;
    b.receive(ms(0), A, B, &syn);
    b.receive(ms(0), A, B, &[1, 2, 3]);
    // From a broadcast address: never a connection (RFC 1122 4.2.3.10).
    let bcast = std::net::Ipv4Addr::BROADCAST;
    let r = TcpRepr {
        src_port: PEER_PORT,
        dst_port: 80,
        seq: 1,
        ack: 0,
        flags: Flags::SYN,
        window: 100,
        urgent: 0,
        options: TcpOptions::default(),
        payload: &[],
    };
    let mut buf = vec![0u8; r.buffer_len()];
    r.emit(&mut Packet::new_unchecked(&mut buf[..]), bcast, B);
    b.receive(ms(0), bcast, B, &buf);
    assert!(out(&mut b).is_empty());
    let c = b.counters();
    assert_eq!((c.bad_checksum, c.malformed, c.half_open), (1, 2, 0));
}

#[test]
fn syn_flood_fills_only_the_bounded_half_open_table() {
    let mut cfg = super::sim::config(B);
    cfg.backlog = 16;
    let mut b = Tcp::new(cfg);
    b.listen(80).unwrap();
    for port in 1..=1000u16 {
        let r = TcpRepr {
            src_port: port,
            dst_port: 80,
            seq: u32::from(port),
            ack: 0,
            flags: Flags::SYN,
            window: 100,
            urgent: 0,
            options: TcpOptions::default(),
            payload: &[],
        };
        let mut buf = vec![0u8; r.buffer_len()];
        r.emit(&mut Packet::new_unchecked(&mut buf[..]), A, B);
        b.receive(ms(0), A, B, &buf);
    }
    let c = b.counters();
    assert_eq!((c.half_open, c.listen_overflows), (16, 984));
    // The half-open entries give up after their SYN-ACK retries.
    for _ in 0..100 {
        let Some(t) = b.poll_at() else {
            break;
        };
        b.poll(t);
    }
    assert_eq!(b.counters().half_open, 0);
    assert!(b.connections().iter().all(|r| r.state == TcpState::Listen));
}

#[test]
fn new_syn_reopens_time_wait() {
    run_with_many_seeds(new_syn_reopens_time_wait_with_seed);
}

fn new_syn_reopens_time_wait_with_seed(seed: u64) {
    let mut sim = Sim::new(LinkConfig::clean(1), seed);
    let (ca, cb) = connected(&mut sim);
    // B closes first, so B ends in TIME-WAIT with A's port.
    sim.b.close(sim.now, cb).unwrap();
    assert!(sim.run(STEPS, |s| {
        if s.a.recv(s.now, ca, &mut [0; 4]) == Err(TcpError::Eof) {
            s.a.close(s.now, ca).unwrap();
        }
        s.b.state(cb) == Some(TcpState::TimeWait) && s.a.state(ca) == Some(TcpState::Closed)
    }));
    let port = sim
        .b
        .connections()
        .iter()
        .find(|r| r.state == TcpState::TimeWait)
        .unwrap()
        .remote
        .port();
    sim.a.release(sim.now, ca);
    // Same 4-tuple again, seconds later: the ISN clock moved past the old space.
    sim.advance(Duration::from_secs(5));
    let ca2 = sim.a.connect(sim.now, port, Sim::addr_b(80)).unwrap();
    let mut cb2 = None;
    assert!(sim.run(STEPS, |s| {
        cb2 = cb2.or_else(|| s.b.accept(80));
        cb2.is_some() && s.a.state(ca2) == Some(TcpState::Established)
    }));
    assert_eq!(sim.b.counters().time_wait, 0);
}

#[test]
fn released_connection_in_fin_wait_2_times_out() {
    run_with_many_seeds(released_connection_in_fin_wait_2_times_out_with_seed);
}

fn released_connection_in_fin_wait_2_times_out_with_seed(seed: u64) {
    let mut sim = Sim::new(LinkConfig::clean(1), seed);
    let (ca, cb) = connected(&mut sim);
    // A lets go; B never closes: A sits in FIN-WAIT-2, then gives up.
    sim.a.release(sim.now, ca);
    assert!(sim.run(STEPS, |s| s.a.state(ca) == Some(TcpState::FinWait2)));
    sim.advance(Duration::from_secs(61));
    assert_eq!(sim.a.state(ca), None);
    assert_eq!(sim.a.counters().fin_wait_2_timeouts, 1);
    assert_eq!(sim.a.counters().current_connections, 0);
    assert_eq!(sim.b.state(cb), Some(TcpState::CloseWait));
}

#[test]
fn advertised_right_edge_never_moves_left() {
    // Hundreds of kilobytes each: fewer seeds keep the suite quick.
    run_with_seeds(0..4, advertised_right_edge_never_moves_left_with_seed);
}

fn advertised_right_edge_never_moves_left_with_seed(seed: u64) {
    let mut b = super::sim::config(B);
    b.rcv_buf = 20_000;
    let mut sim = Sim::with_configs(super::sim::config(A), b, LinkConfig::clean(2), seed);
    sim.record = true;
    let (ca, cb) = connected(&mut sim);
    let data = pattern(300_000, 24);
    let (mut sent, mut got) = (0, Vec::new());
    let mut tick = 0u32;
    // B reads in small bites every few steps, so its window opens and closes.
    assert!(sim.run(STEPS, |s| {
        if sent < data.len() {
            sent += s.a.send(s.now, ca, &data[sent..]).unwrap();
        }
        tick += 1;
        if tick.is_multiple_of(3) {
            let mut buf = [0u8; 700];
            let n = s.b.recv(s.now, cb, &mut buf).unwrap();
            got.extend_from_slice(&buf[..n]);
        }
        got.len() == data.len()
    }));
    assert_eq!(fnv1a(&got), fnv1a(&data));
    // 20 000 bytes fit 16 bits: shift 0, the field is the window itself.
    let mut edge: Option<u32> = None;
    for (to_b, r) in sim.parsed_trace() {
        if to_b || r.flags.syn() {
            continue;
        }
        let e = r.ack.wrapping_add(u32::from(r.window));
        if let Some(prev) = edge {
            assert!(super::seq::ge(e, prev), "edge moved left: {prev} -> {e}");
        }
        assert!(r.window <= 20_000);
        edge = Some(e);
    }
}

#[test]
fn random_segments_never_panic() {
    let mut rng = super::sim::XorShift::new(25);
    for round in 0..20u64 {
        let (mut b, snd, id) = established(linux_syn_options());
        b.send(ms(2), id, &[9u8; 5000]).unwrap();
        for i in 0..1000u64 {
            let r = rng.next();
            let flags = Flags((r & 0x3f) as u8);
            let seq = (PEER_ISS + 1)
                .wrapping_add((rng.next() % 70_000) as u32)
                .wrapping_sub(3000);
            let ack = snd
                .wrapping_add((rng.next() % 12_000) as u32)
                .wrapping_sub(2000);
            let len = (rng.next() % 1500) as usize;
            let payload = vec![round as u8; len];
            let now = ms(3 + i * 7);
            b.receive(
                now,
                A,
                B,
                &raw(80, flags, seq, ack, TcpOptions::default(), &payload),
            );
            b.poll(now);
            let _ = b.recv(now, id, &mut [0u8; 3000]);
            let _ = out(&mut b);
        }
    }
}

/// TIME-WAIT and FIN-WAIT-2 end exactly at `poll_at`, not a microsecond before.
#[test]
fn time_wait_and_fin_wait_2_end_exactly_at_poll_at() {
    run_with_many_seeds(|seed| {
        let mut sim = Sim::new(LinkConfig::clean(1), seed);
        let (ca, cb) = connected(&mut sim);
        sim.a.close(sim.now, ca).unwrap();
        sim.b.close(sim.now, cb).unwrap();
        assert!(sim.run(STEPS, |s| s.a.state(ca) == Some(TcpState::TimeWait)
            || s.b.state(cb) == Some(TcpState::TimeWait)));
        sim.advance(Duration::from_secs(1));
        let (tcp, id) = if sim.a.state(ca) == Some(TcpState::TimeWait) {
            (&mut sim.a, ca)
        } else {
            (&mut sim.b, cb)
        };
        let at = tcp.poll_at().expect("the TIME-WAIT deadline");
        tcp.poll(at - Duration::from_micros(1));
        assert_eq!(tcp.state(id), Some(TcpState::TimeWait));
        tcp.poll(at);
        assert_eq!(tcp.state(id), Some(TcpState::Closed));
        assert_eq!(tcp.poll_at(), None);

        let mut sim = Sim::new(LinkConfig::clean(1), seed);
        let (ca, _cb) = connected(&mut sim);
        sim.a.release(sim.now, ca);
        assert!(sim.run(STEPS, |s| s.a.state(ca) == Some(TcpState::FinWait2)));
        sim.advance(Duration::from_secs(1));
        let at = sim.a.poll_at().expect("the FIN-WAIT-2 deadline");
        sim.a.poll(at - Duration::from_micros(1));
        assert_eq!(sim.a.state(ca), Some(TcpState::FinWait2));
        sim.a.poll(at);
        assert_eq!(sim.a.state(ca), None, "released and timed out");
        assert_eq!(sim.a.counters().fin_wait_2_timeouts, 1);
    });
}

/// The zero-window probe (persist timer) goes out exactly at `poll_at`.
#[test]
fn window_probe_is_sent_exactly_at_poll_at() {
    run_with_many_seeds(|seed| {
        let mut b = super::sim::config(B);
        b.rcv_buf = 8 * 1024;
        let mut sim = Sim::with_configs(super::sim::config(A), b, LinkConfig::clean(5), seed);
        let (ca, _cb) = connected(&mut sim);
        let data = pattern(64 * 1024, seed);
        let mut sent = 0;
        // B does not read: its window closes and A starts probing.
        assert!(sim.run(STEPS, |s| {
            if sent < data.len() {
                sent += s.a.send(s.now, ca, &data[sent..]).unwrap();
            }
            s.a.counters().window_probes >= 1
        }));
        // Let the probe and its answer cross; A then waits for its next probe.
        sim.advance(Duration::from_millis(20));
        let probes = sim.a.counters().window_probes;
        let at = sim.a.poll_at().expect("the persist deadline");
        let mut o = Vec::new();
        sim.a.poll(at - Duration::from_micros(1));
        sim.a.drain_output(&mut o);
        assert!(o.is_empty(), "sent before its deadline");
        sim.a.poll(at);
        sim.a.drain_output(&mut o);
        assert_eq!(o.len(), 1);
        assert_eq!(sim.a.counters().window_probes, probes + 1);
    });
}

#[test]
fn mss_comes_from_the_ip_version_in_use() {
    assert_eq!(super::sim::config(A).mss, 1460);
    let v6: std::net::IpAddr = "2001:db8::1".parse().unwrap();
    assert_eq!(TcpConfig::new(v6, 1500, [0; 16]).mss, 1440);
}

/// The engine over IPv6 addresses: a handshake, data both ways and a close,
/// segments passed by hand with the IPv6 pseudo-header checksums.
#[test]
fn a_connection_over_ipv6_addresses() {
    use std::net::{IpAddr, SocketAddr};
    let a_ip: IpAddr = "2001:db8::1".parse().unwrap();
    let b_ip: IpAddr = "2001:db8::2".parse().unwrap();
    let mut a = Tcp::new(TcpConfig::new(a_ip, 1500, [1; 16]));
    let mut b = Tcp::new(TcpConfig::new(b_ip, 1500, [2; 16]));
    b.listen(80).unwrap();
    let mut now = Instant::from_secs(1);
    let ca = a.connect(now, 0, SocketAddr::new(b_ip, 80)).unwrap();
    // IPv4 remotes are refused by an IPv6 engine.
    assert_eq!(
        a.connect(now, 0, Sim::addr_b(80)),
        Err(TcpError::InvalidState)
    );
    let mut cb = None;
    let mut got = Vec::new();
    let mut sent = false;
    for _ in 0..100 {
        let mut out = Vec::new();
        a.drain_output(&mut out);
        for (dst, seg) in out.drain(..) {
            assert_eq!(dst, b_ip);
            b.receive(now, a_ip, b_ip, &seg);
        }
        b.drain_output(&mut out);
        for (dst, seg) in out.drain(..) {
            assert_eq!(dst, a_ip);
            a.receive(now, b_ip, a_ip, &seg);
        }
        if cb.is_none() {
            cb = b.accept(80);
        }
        if let (Some(id), false) = (cb, sent) {
            b.send(now, id, b"over six").unwrap();
            sent = true;
        }
        let _ = drain(&mut a, now, ca, &mut got);
        now = now + Duration::from_millis(50);
        a.poll(now);
        b.poll(now);
    }
    assert_eq!(got, b"over six");
    let rows = b.connections();
    let conn = rows
        .iter()
        .find(|r| r.state == TcpState::Established)
        .unwrap();
    assert_eq!(conn.local, SocketAddr::new(b_ip, 80));
    assert_eq!(conn.remote.ip(), a_ip);
    let listener = rows.iter().find(|r| r.state == TcpState::Listen).unwrap();
    assert!(listener.remote.ip().is_unspecified() && listener.remote.is_ipv6());
    assert_eq!(b.counters().bad_checksum + a.counters().bad_checksum, 0);
}

/// Segments damaged on the wire (one flipped bit, by the fault-injecting
/// device) fail their checksum, are dropped, and the data arrives intact.
#[test]
fn corrupted_segments_are_dropped_and_recovered() {
    let mut sim = Sim::new(LinkConfig::clean(2), 17);
    let (ca, cb) = connected(&mut sim);
    sim.corrupt = 30;
    let data = pattern(500_000, 18);
    let got = transfer(&mut sim, ca, cb, &data, STEPS * 10);
    assert_eq!(fnv1a(&got), fnv1a(&data));
    let damaged = sim.a.counters().bad_checksum + sim.b.counters().bad_checksum;
    assert!(damaged > 0, "no damage seen");
    assert!(sim.a.counters().retransmits > 0);
}

/// A pure ACK from A:40000 acknowledging `ack` with window `window`.
fn ack_with_window(ack: u32, window: u16) -> Vec<u8> {
    let r = TcpRepr {
        src_port: PEER_PORT,
        dst_port: 80,
        seq: PEER_ISS + 1,
        ack,
        flags: Flags::ACK,
        window,
        urgent: 0,
        options: TcpOptions::default(),
        payload: &[],
    };
    let mut buf = vec![0u8; r.buffer_len()];
    r.emit(&mut Packet::new_unchecked(&mut buf[..]), A, B);
    buf
}

/// Issue 12 failure 4: a peer whose window stays 0 and who answers every
/// probe gets zero-length probes only (RFC 9293 3.8.6.1, as Linux sends
/// them); its answers are no duplicate ACKs, so no fast retransmit sends
/// data into the closed window.
#[test]
fn zero_window_probes_never_send_data_past_the_window() {
    let (mut b, snd, id) = established(TcpOptions::default());
    // The peer's window takes two segments (536 bytes, the default MSS).
    b.receive(ms(2), A, B, &ack_with_window(snd, 1072));
    assert_eq!(b.send(ms(2), id, &[7u8; 5000]).unwrap(), 5000);
    let first: usize = out(&mut b).iter().map(|o| o.len).sum();
    assert_eq!(first, 1072);
    let una = snd.wrapping_add(1072);
    b.receive(ms(3), A, B, &ack_with_window(una, 0));
    assert!(out(&mut b).is_empty());
    let mut probes = 0;
    let mut now = ms(3);
    while probes < 6 {
        now = b.poll_at().expect("the persist timer runs");
        b.poll(now);
        for o in out(&mut b) {
            assert_eq!(o.len, 0, "data sent into a zero window: {o:?}");
            assert!(!o.flags.fin() && !o.flags.syn());
            // Below SND.UNA: the receiver cannot accept it and answers.
            assert_eq!(o.seq, una.wrapping_sub(1));
            probes += 1;
            b.receive(now, A, B, &ack_with_window(una, 0));
            assert!(out(&mut b).is_empty(), "an answer to a probe was answered");
        }
    }
    let c = b.counters();
    assert!(c.window_probes >= 6);
    assert_eq!((c.dup_acks_received, c.fast_retransmits), (0, 0));
    assert_eq!(c.timeouts, 0);
    // The probes back off (RFC 1122 4.2.2.17).
    assert!(now > ms(3) + Duration::from_secs(10), "{now:?}");
    // The window opens: data flows again from SND.UNA, within it (one
    // full segment; the 64 bytes left wait, RFC 1122 4.2.3.4).
    b.receive(now, A, B, &ack_with_window(una, 600));
    let o = out(&mut b);
    assert_eq!(o.iter().map(|o| o.len).sum::<usize>(), 536);
    assert_eq!(o[0].seq, una);
}

/// Fast retransmit stays inside the send window: three duplicate ACKs
/// that also shrink the window to less than a segment resend only what
/// fits.
#[test]
fn fast_retransmit_respects_the_send_window() {
    let (mut b, snd, id) = established(TcpOptions::default());
    b.receive(ms(2), A, B, &ack_with_window(snd, 3000));
    b.send(ms(2), id, &[1u8; 3000]).unwrap();
    let sent: usize = out(&mut b).iter().map(|o| o.len).sum();
    assert!(sent >= 1072, "{sent}");
    // The first segment is lost; the peer's window shrinks to 100 bytes
    // (RFC 9293 3.8.6 discourages it but a sender must cope).
    b.receive(ms(3), A, B, &ack_with_window(snd, 100));
    for t in 4..=6 {
        b.receive(ms(t), A, B, &ack_with_window(snd, 100));
    }
    let o = out(&mut b);
    assert_eq!(b.counters().fast_retransmits, 1, "{o:?}");
    assert!(o.iter().all(|o| o.len <= 100), "{o:?}");
}

/// Over the simulated link: a receiver that does not read for 10 s then
/// reads everything; no segment from A ever ends past the right edge B has
/// advertised so far, and B never dropped a byte for lack of room.
#[test]
fn zero_window_persist_never_exceeds_the_advertised_window() {
    let mut b = super::sim::config(B);
    b.rcv_buf = 8 * 1024;
    let mut sim = Sim::with_configs(super::sim::config(A), b, LinkConfig::clean(5), 23);
    sim.record = true;
    let (ca, cb) = connected(&mut sim);
    let data = pattern(200 * 1024, 29);
    let mut sent = 0;
    let stall_until = sim.now + Duration::from_secs(10);
    let mut got = Vec::new();
    let mut closed = false;
    assert!(sim.run(STEPS, |s| {
        if sent < data.len() {
            sent += s.a.send(s.now, ca, &data[sent..]).unwrap();
        } else if !closed {
            s.a.close(s.now, ca).unwrap();
            closed = true;
        }
        s.now >= stall_until && drain(&mut s.b, s.now, cb, &mut got).unwrap()
    }));
    assert_eq!(fnv1a(&got), fnv1a(&data));
    let trace = sim.parsed_trace();
    let shift = trace
        .iter()
        .find(|(to_b, r)| !to_b && r.flags.syn())
        .and_then(|(_, r)| r.options.window_scale)
        .unwrap_or(0);
    let mut edge: Option<u32> = None;
    let mut zero_windows = 0;
    for (to_b, r) in &trace {
        if !to_b {
            // The window in a SYN is never scaled (RFC 7323 2.2).
            let sh = if r.flags.syn() { 0 } else { shift };
            let e = r.ack.wrapping_add(u32::from(r.window) << sh);
            if r.window == 0 {
                zero_windows += 1;
            }
            edge = Some(edge.map_or(e, |x| if seq::gt(e, x) { e } else { x }));
        } else if !r.payload.is_empty() {
            let end = r.seq.wrapping_add(r.payload.len() as u32);
            let edge = edge.expect("data only after B's SYN-ACK");
            assert!(
                seq::le(end, edge),
                "{} bytes at {} past edge {edge}",
                r.payload.len(),
                r.seq
            );
        }
    }
    assert!(zero_windows > 0);
    assert!(sim.a.counters().window_probes >= 3);
    assert_eq!(sim.a.counters().fast_retransmits, 0);
    assert_eq!(sim.b.counters().out_of_order_dropped, 0);
}

/// The first 8 bytes of a TCP header from B:80 to A:40000 with `seq`, as
/// an ICMP error quotes them.
fn quoted_tcp(seq: u32) -> Vec<u8> {
    let mut q = Vec::new();
    q.extend_from_slice(&80u16.to_be_bytes());
    q.extend_from_slice(&PEER_PORT.to_be_bytes());
    q.extend_from_slice(&seq.to_be_bytes());
    q
}

/// Issue 12 failure 3: "fragmentation needed" with next-hop MTU 1000
/// quoting one of our segments lowers the segment size to 960: what is in
/// flight goes again in the new size, and later segments stay under it.
#[test]
fn fragmentation_needed_lowers_the_segment_size() {
    let (mut b, snd, id) = established(linux_syn_options());
    b.receive(ms(2), A, B, &ack_with_window(snd, 60000));
    b.send(ms(2), id, &[3u8; 20000]).unwrap();
    let first = out(&mut b);
    // 1460 less the 12 bytes of the timestamps option (RFC 6691).
    assert!(first.len() >= 3 && first.iter().all(|o| o.len == 1448));
    let cwnd = b.connections().iter().map(|c| c.cwnd).max().unwrap();
    // A router on the way takes 1000 bytes; it quotes the second segment.
    assert!(b.on_frag_needed(ms(3), A, &quoted_tcp(snd + 1448), 1500, 1000));
    let again = out(&mut b);
    assert_eq!(again[0].seq, snd, "resent from SND.UNA");
    assert!(again.iter().all(|o| o.len <= 960 && o.len > 0), "{again:?}");
    let c = b.counters();
    assert_eq!((c.pmtu_reductions, c.pmtu_ignored), (1, 0));
    assert!(c.retransmits >= 1);
    // Not a congestion signal (RFC 1191 6.5).
    assert_eq!(b.connections().iter().map(|c| c.cwnd).max().unwrap(), cwnd);
    // Everything acked so far: new data keeps to the new size.
    let una = snd + 1448 * first.len() as u32;
    b.receive(ms(4), A, B, &ack_with_window(una, 60000));
    let later = out(&mut b);
    assert!(
        !later.is_empty() && later.iter().all(|o| o.len <= 960),
        "{later:?}"
    );
}

/// RFC 5927 5.1 and the bounds: what cannot be about a segment in flight,
/// or would not lower the size sensibly, is ignored and counted.
#[test]
fn fragmentation_needed_is_validated_and_bounded() {
    let (mut b, snd, id) = established(linux_syn_options());
    b.receive(ms(2), A, B, &ack_with_window(snd, 60000));
    b.send(ms(2), id, &[3u8; 3000]).unwrap();
    assert_eq!(out(&mut b).len(), 3);
    let ignored = |b: &Tcp| b.counters().pmtu_ignored;
    // A sequence number we never sent, or one already acknowledged.
    assert!(!b.on_frag_needed(ms(3), A, &quoted_tcp(snd + 5000), 1500, 1000));
    assert!(!b.on_frag_needed(ms(3), A, &quoted_tcp(snd - 1), 1500, 1000));
    // Another connection's ports, another host, or a quote too short.
    let mut other = quoted_tcp(snd);
    other[2] ^= 1;
    assert!(!b.on_frag_needed(ms(3), A, &other, 1500, 1000));
    assert!(!b.on_frag_needed(ms(3), B, &quoted_tcp(snd), 1500, 1000));
    assert!(!b.on_frag_needed(ms(3), A, &quoted_tcp(snd)[..7], 1500, 1000));
    // Below 68 (RFC 791), or no smaller than what we send now.
    assert!(!b.on_frag_needed(ms(3), A, &quoted_tcp(snd), 1500, 67));
    assert!(!b.on_frag_needed(ms(3), A, &quoted_tcp(snd), 1500, 1500));
    assert_eq!(ignored(&b), 7);
    assert!(out(&mut b).is_empty());
    // A tiny MTU is raised to 552 (Linux's min_pmtu): 512 bytes of TCP
    // payload, 500 of data beside the timestamps.
    assert!(b.on_frag_needed(ms(3), A, &quoted_tcp(snd), 1500, 100));
    let o = out(&mut b);
    assert_eq!(o[0].len, 500, "{o:?}");
    assert!(o.iter().all(|o| o.len <= 500), "{o:?}");
    // No MTU given (an old router): the next plateau below the quoted
    // length (RFC 1191 7) would be 508, raised to 552 again: no change.
    assert!(!b.on_frag_needed(ms(4), A, &quoted_tcp(snd), 552, 0));
    assert_eq!(b.counters().pmtu_reductions, 1);
}

#[test]
fn fragmentation_needed_without_an_mtu_uses_rfc1191_plateaus() {
    let (mut b, snd, id) = established(linux_syn_options());
    b.receive(ms(2), A, B, &ack_with_window(snd, 60000));
    b.send(ms(2), id, &[3u8; 3000]).unwrap();
    out(&mut b);
    assert!(b.on_frag_needed(ms(3), A, &quoted_tcp(snd), 1500, 0));
    let o = out(&mut b);
    // 1492 (the plateau below 1500) - 40, less 12 for the timestamps.
    assert_eq!(o[0].len, 1440, "{o:?}");
}

/// A SYN to B:80 from `src`:`port` with a Linux-like MSS.
fn syn_from(src: Ipv4Addr, port: u16, seq: u32) -> Vec<u8> {
    let r = TcpRepr {
        src_port: port,
        dst_port: 80,
        seq,
        ack: 0,
        flags: Flags::SYN,
        window: 64240,
        urgent: 0,
        options: linux_syn_options(),
        payload: &[],
    };
    let mut buf = vec![0u8; r.buffer_len()];
    r.emit(&mut Packet::new_unchecked(&mut buf[..]), src, B);
    buf
}

/// Issue 12 failure 2: with the half-open table full of SYNs that never
/// complete, a real client still gets in through a SYN cookie (RFC 4987);
/// forged, altered and stale cookies are refused.
#[test]
fn syn_cookies_let_a_real_client_in_past_a_full_backlog() {
    let mut cfg = super::sim::config(B);
    cfg.backlog = 8;
    let mut b = Tcp::new(cfg);
    b.listen(80).unwrap();
    let spoofed = Ipv4Addr::new(10, 0, 9, 9);
    for port in 1..=100u16 {
        b.receive(
            ms(0),
            spoofed,
            B,
            &syn_from(spoofed, port, u32::from(port) * 7),
        );
    }
    let c = b.counters();
    assert_eq!(
        (c.half_open, c.listen_overflows, c.syn_cookies_sent),
        (8, 92, 92)
    );
    let mut v = Vec::new();
    b.drain_output(&mut v);
    // The real client: its SYN gets a cookie SYN-ACK, MSS only.
    b.receive(ms(10), A, B, &syn_from(A, PEER_PORT, PEER_ISS));
    let o = out(&mut b);
    assert_eq!(o.len(), 1);
    assert_eq!(
        (o[0].flags, o[0].ack),
        (Flags::SYN | Flags::ACK, PEER_ISS + 1)
    );
    assert_eq!(o[0].options.mss, Some(1460));
    assert_eq!(o[0].options.window_scale, None);
    assert!(!o[0].options.sack_permitted && o[0].options.timestamps.is_none());
    let cookie = o[0].seq;
    assert_eq!(b.counters().half_open, 8, "no state for the cookie");
    // A forged ACK, then the real one carrying the request.
    let ack = |seq_off: u32, ack: u32, data: &[u8]| {
        raw(
            80,
            Flags::ACK | Flags::PSH,
            PEER_ISS + 1 + seq_off,
            ack,
            TcpOptions::default(),
            data,
        )
    };
    b.receive(ms(11), A, B, &ack(0, cookie.wrapping_add(2), b"GET"));
    let o = out(&mut b);
    assert_eq!(o.len(), 1);
    assert!(o[0].flags.rst());
    assert_eq!(b.counters().syn_cookies_failed, 1);
    b.receive(ms(12), A, B, &ack(0, cookie.wrapping_add(1), b"GET"));
    let id = b.accept(80).expect("the cookie made a connection");
    assert_eq!(b.state(id), Some(TcpState::Established));
    let mut buf = [0u8; 16];
    assert_eq!(b.recv(ms(13), id, &mut buf).unwrap(), 3);
    assert_eq!(&buf[..3], b"GET");
    assert_eq!(b.counters().syn_cookies_validated, 1);
    // Our data goes in segments of the cookie's MSS, from ISS + 1.
    b.send(ms(14), id, &[5u8; 3000]).unwrap();
    let o: Vec<Out> = out(&mut b).into_iter().filter(|o| o.len > 0).collect();
    assert_eq!(o[0].seq, cookie.wrapping_add(1));
    assert!(o.iter().all(|o| o.len <= 1000), "{o:?}");
    // A cookie returned too late (over 128 s) is refused.
    b.receive(ms(20_000), A, B, &syn_from(A, PEER_PORT + 1, 5));
    let late = out(&mut b)[0].seq;
    let r = TcpRepr {
        src_port: PEER_PORT + 1,
        dst_port: 80,
        seq: 6,
        ack: late.wrapping_add(1),
        flags: Flags::ACK,
        window: 1000,
        urgent: 0,
        options: TcpOptions::default(),
        payload: &[],
    };
    let mut buf = vec![0u8; r.buffer_len()];
    r.emit(&mut Packet::new_unchecked(&mut buf[..]), A, B);
    // (Another client's SYN keeps cookies in use, so the ACK is checked.)
    b.receive(ms(149_000), A, B, &syn_from(A, PEER_PORT + 2, 9));
    out(&mut b);
    b.receive(ms(150_000), A, B, &buf);
    assert!(out(&mut b)[0].flags.rst());
    assert_eq!(b.counters().syn_cookies_failed, 2);
    assert_eq!(b.counters().syn_cookies_validated, 1);
}

/// Without cookies sent recently, an ACK to a listener is a plain RST
/// (RFC 9293 3.10.7.2), never checked as a cookie.
#[test]
fn acks_are_checked_for_cookies_only_after_cookies_were_sent() {
    let mut b = Tcp::new(super::sim::config(B));
    b.listen(80).unwrap();
    b.receive(
        ms(0),
        A,
        B,
        &raw(80, Flags::ACK, 5, 6, TcpOptions::default(), b""),
    );
    assert!(out(&mut b)[0].flags.rst());
    assert_eq!(b.counters().syn_cookies_failed, 0);
}

/// Over the simulated link: B's backlog is full of spoofed half-open
/// connections; A connects anyway and data flows both ways.
#[test]
fn a_connection_made_from_a_cookie_carries_data_both_ways() {
    let mut b = super::sim::config(B);
    b.backlog = 4;
    let mut sim = Sim::with_configs(super::sim::config(A), b, LinkConfig::clean(2), 31);
    sim.b.listen(80).unwrap();
    let spoofed = Ipv4Addr::new(10, 0, 9, 9);
    for port in 1..=4u16 {
        let now = sim.now;
        sim.b.receive(now, spoofed, B, &syn_from(spoofed, port, 77));
    }
    assert_eq!(sim.b.counters().half_open, 4);
    let now = sim.now;
    let ca = sim.a.connect(now, 0, Sim::addr_b(80)).unwrap();
    let mut cb = None;
    assert!(sim.run(STEPS, |s| {
        if cb.is_none() {
            cb = s.b.accept(80);
        }
        cb.is_some() && s.a.state(ca) == Some(TcpState::Established)
    }));
    let cb = cb.unwrap();
    assert_eq!(sim.b.counters().syn_cookies_validated, 1);
    let data = pattern(300_000, 3);
    let got = transfer(&mut sim, ca, cb, &data, STEPS);
    assert_eq!(fnv1a(&got), fnv1a(&data));
}

/// A segment from A:40000 with timestamps `ts` (TSval, TSecr).
fn raw_ts(
    flags: Flags,
    seq: u32,
    ack: u32,
    ts: (u32, u32),
    sack: &[(u32, u32)],
    data: &[u8],
) -> Vec<u8> {
    let mut options = TcpOptions {
        timestamps: Some(ts),
        ..TcpOptions::default()
    };
    for &(l, r) in sack {
        options.sack.push(l, r);
    }
    raw(80, flags, seq, ack, options, data)
}

/// RFC 7323: once negotiated every segment carries TSval and TSecr (the
/// newest TSval at the window's left edge), and the RTT is measured from
/// TSecr even for a retransmission, where Karn's rule leaves the backed-off
/// RTO without a sample.
#[test]
fn timestamps_on_every_segment_and_rtt_from_retransmissions() {
    let (mut b, snd, id) = established(linux_syn_options());
    b.receive(
        ms(2),
        A,
        B,
        &raw_ts(Flags::ACK, PEER_ISS + 1, snd, (5, 0), &[], b"hi"),
    );
    b.send(ms(3), id, b"hello").unwrap();
    let o = out(&mut b);
    assert!(!o.is_empty());
    assert!(
        o.iter()
            .all(|o| o.options.timestamps.map(|t| t.1) == Some(5)),
        "{o:?}"
    );
    // No answer: the RTO fires and backs off.
    let t = b.poll_at().unwrap();
    b.poll(t);
    let rx = out(&mut b);
    let rx = rx.iter().find(|o| o.len == 5).expect("a retransmission");
    assert_eq!(b.connections()[1].rto_ms, 400);
    let tsval = rx.options.timestamps.unwrap().0;
    // The ACK echoes the retransmission's TSval 50 ms later.
    let later = t + Duration::from_millis(50);
    b.receive(
        later,
        A,
        B,
        &raw_ts(Flags::ACK, PEER_ISS + 3, snd + 5, (6, tsval), &[], b""),
    );
    assert_eq!(b.connections()[1].rto_ms, 200, "sampled from TSecr");
}

/// RFC 7323 5.3: a segment with an older TSval than TS.Recent is dropped
/// and answered with an ACK; an RST is exempt.
#[test]
fn paws_drops_old_duplicates_but_not_resets() {
    let (mut b, snd, id) = established(linux_syn_options());
    b.receive(
        ms(2),
        A,
        B,
        &raw_ts(Flags::ACK, PEER_ISS + 1, snd, (100, 0), &[], b"new"),
    );
    b.receive(
        ms(3),
        A,
        B,
        &raw_ts(Flags::ACK, PEER_ISS + 4, snd, (50, 0), &[], b"old"),
    );
    let o = out(&mut b);
    assert_eq!(b.counters().paws_rejected, 1);
    assert!(
        o.iter().any(|o| o.ack == PEER_ISS + 4),
        "answered with an ACK: {o:?}"
    );
    let mut buf = [0u8; 16];
    assert_eq!(b.recv(ms(4), id, &mut buf).unwrap(), 3);
    assert_eq!(&buf[..3], b"new");
    // TSecr now echoes 100.
    b.send(ms(5), id, b"x").unwrap();
    assert_eq!(out(&mut b)[0].options.timestamps.map(|t| t.1), Some(100));
    b.receive(
        ms(6),
        A,
        B,
        &raw_ts(Flags::RST, PEER_ISS + 4, 0, (1, 0), &[], b""),
    );
    assert_eq!(b.state(id), Some(TcpState::Closed));
}

/// Linux's PAWS details (tcp_validate_incoming), each seen in a crafted
/// comparison with Linux: a TSval one tick older than TS.Recent passes; an
/// old pure ACK below RCV.NXT is dropped without an answer; a SYN gets a
/// challenge ACK; a segment that failed (and a challenged RST) leaves
/// TS.Recent alone.
#[test]
fn paws_follows_linux_at_its_edges() {
    let (mut b, snd, id) = established(linux_syn_options());
    let s = PEER_ISS + 1;
    let seg = |at: u32, ts: u32, data: &'static [u8]| {
        raw_ts(Flags::ACK | Flags::PSH, s + at, snd, (ts, 0), &[], data)
    };
    b.receive(ms(2), A, B, &seg(0, 1010, b"0123456789"));
    b.receive(ms(2), A, B, &seg(10, 1009, b"0123456789"));
    b.receive(ms(2), A, B, &seg(20, 1007, b"0123456789"));
    let o = out(&mut b);
    assert_eq!(
        o.last().unwrap().ack,
        s + 20,
        "one tick older passes, three not: {o:?}"
    );
    assert_eq!(b.counters().paws_rejected, 1);
    // An old pure ACK below RCV.NXT: no answer.
    b.receive(
        ms(3),
        A,
        B,
        &raw_ts(Flags::ACK, s + 10, snd, (1005, 0), &[], b""),
    );
    assert!(out(&mut b).is_empty());
    // A RST that is not exact is challenged and does not move TS.Recent.
    b.receive(
        ms(900),
        A,
        B,
        &raw_ts(Flags::RST, s + 50, 0, (5000, 0), &[], b""),
    );
    let o = out(&mut b);
    assert_eq!(o.len(), 1, "{o:?}");
    assert_eq!(o[0].options.timestamps.map(|t| t.1), Some(1010));
    // A SYN that fails PAWS gets a challenge ACK (after the interval).
    b.receive(
        ms(1500),
        A,
        B,
        &raw_ts(Flags::SYN, s + 20, 0, (1000, 0), &[], b""),
    );
    assert_eq!(out(&mut b).len(), 1);
    assert_eq!(b.state(id), Some(TcpState::Established));
}

/// Linux's tcp_invalid_ratelimit: segments without data that are out of
/// the window (or are challenged) get at most one ACK per 500 ms per
/// connection; a segment with data always gets one.
#[test]
fn out_of_window_acks_are_rate_limited_unless_data_came() {
    let (mut b, snd, _) = established(linux_syn_options());
    let far = PEER_ISS + 10_000_000;
    let oow = |data: &'static [u8]| raw_ts(Flags::ACK, far, snd, (7, 0), &[], data);
    b.receive(ms(10), A, B, &oow(b""));
    assert_eq!(out(&mut b).len(), 1);
    b.receive(ms(20), A, B, &oow(b""));
    b.receive(
        ms(30),
        A,
        B,
        &raw_ts(Flags::RST, PEER_ISS + 50, 0, (7, 0), &[], b""),
    );
    assert!(out(&mut b).is_empty(), "within 500 ms");
    b.receive(ms(40), A, B, &oow(b"zz"));
    assert_eq!(out(&mut b).len(), 1, "data is answered");
    b.receive(ms(520), A, B, &oow(b""));
    assert_eq!(out(&mut b).len(), 1, "500 ms later");
    let c = b.counters();
    assert_eq!((c.oow_acks_suppressed, c.challenge_acks_suppressed), (1, 1));
}

/// As Linux (tcp_fin's pingpong mode): the ACK of a FIN in ESTABLISHED
/// waits the delayed-ACK time, so the application's own FIN carries it;
/// if the application does nothing, a bare ACK follows within 40 ms. A
/// FIN above a hole is answered at once with a duplicate ACK.
#[test]
fn the_ack_of_a_fin_waits_for_the_application() {
    let (mut b, snd, id) = established(linux_syn_options());
    let s = PEER_ISS + 1;
    b.receive(
        ms(2),
        A,
        B,
        &raw_ts(Flags::ACK | Flags::FIN, s, snd, (3, 0), &[], b""),
    );
    assert!(out(&mut b).is_empty(), "no bare ACK at once");
    assert_eq!(b.state(id), Some(TcpState::CloseWait));
    b.close(ms(3), id).unwrap();
    let o = out(&mut b);
    assert_eq!(o.len(), 1, "{o:?}");
    assert_eq!((o[0].flags, o[0].ack), (Flags::FIN | Flags::ACK, s + 1));

    let (mut b, snd, _) = established(linux_syn_options());
    b.receive(
        ms(2),
        A,
        B,
        &raw_ts(Flags::ACK | Flags::FIN, s, snd, (3, 0), &[], b""),
    );
    assert!(out(&mut b).is_empty());
    b.poll(ms(42));
    let o = out(&mut b);
    assert_eq!((o.len(), o[0].flags, o[0].ack), (1, Flags::ACK, s + 1));

    let (mut b, snd, _) = established(linux_syn_options());
    b.receive(
        ms(2),
        A,
        B,
        &raw_ts(Flags::ACK | Flags::FIN, s + 5, snd, (3, 0), &[], b""),
    );
    let o = out(&mut b);
    assert_eq!((o.len(), o[0].ack), (1, s), "a duplicate ACK for the hole");
}

/// Urgent data as Linux delivers it without SO_OOBINLINE (RFC 6093 3):
/// the urgent pointer names the byte after the urgent one, which is
/// acknowledged but never reaches the application.
#[test]
fn the_urgent_byte_is_acknowledged_but_kept_out_of_the_stream() {
    let (mut b, snd, id) = established(linux_syn_options());
    let s = PEER_ISS + 1;
    let mut urg = |at: u32, data: &[u8], ptr: u16| {
        let mut seg = raw_ts(Flags::ACK | Flags::PSH, s + at, snd, (5, 0), &[], data);
        seg[13] |= 0x20;
        seg[18..20].copy_from_slice(&ptr.to_be_bytes());
        let mut p = Packet::new_unchecked(&mut seg[..]);
        p.fill_checksum(A, B);
        b.receive(ms(2), A, B, &seg);
        b.poll(ms(100));
        out(&mut b)
    };
    let o = urg(0, b"urgent!", 7);
    assert_eq!(o.last().unwrap().ack, s + 7);
    let o = urg(7, b"abc", 1);
    assert_eq!(o.last().unwrap().ack, s + 10);
    let mut buf = [0u8; 32];
    let n = b.recv(ms(3), id, &mut buf).unwrap();
    assert_eq!(&buf[..n], b"urgentbc");
}

/// As Linux's tcp_sequence: a retransmission of data acknowledged a moment
/// ago (it ends at the last ACK sent) is processed for its ACK and TSval,
/// so the D-SACK answering it echoes the retransmission's TSval; RFC 9293
/// alone would drop it with an ACK echoing the original's.
#[test]
fn a_retransmission_of_acknowledged_data_has_its_timestamp_taken() {
    let (mut b, snd, _) = established(linux_syn_options());
    let s = PEER_ISS + 1;
    b.receive(
        ms(2),
        A,
        B,
        &raw_ts(Flags::ACK | Flags::PSH, s, snd, (1001, 0), &[], b"abcd"),
    );
    b.poll(ms(100));
    assert_eq!(out(&mut b).last().unwrap().ack, s + 4);
    b.receive(
        ms(103),
        A,
        B,
        &raw_ts(Flags::ACK | Flags::PSH, s, snd, (1002, 0), &[], b"abcd"),
    );
    let o = out(&mut b);
    assert_eq!(o.len(), 1, "{o:?}");
    assert_eq!(o[0].ack, s + 4);
    assert_eq!(o[0].options.timestamps.map(|t| t.1), Some(1002));
    assert_eq!(o[0].options.sack.as_slice(), &[(s, s + 4)], "a D-SACK");
}

/// A peer's MSS below 48 is raised to 48, Linux's tcp_min_snd_mss: with
/// timestamps each segment then carries 36 bytes, as Linux's do.
#[test]
fn a_tiny_peer_mss_is_raised_to_linuxs_minimum() {
    let options = TcpOptions {
        mss: Some(20),
        ..linux_syn_options()
    };
    let (mut b, snd, id) = established(options);
    b.receive(
        ms(2),
        A,
        B,
        &raw_ts(Flags::ACK, PEER_ISS + 1, snd, (2, 0), &[], b""),
    );
    b.send(ms(3), id, &[9u8; 100]).unwrap();
    let lens: Vec<usize> = out(&mut b).iter().map(|o| o.len).collect();
    assert_eq!(lens, [36, 36, 28]);
}

/// Nagle's algorithm as Linux applies it (Minshall's variant): a second
/// short write waits while the first short segment is unacknowledged and
/// goes with the ACK; with TCP_NODELAY it goes at once; full segments never
/// wait.
#[test]
fn a_short_segment_waits_for_the_ack_of_the_previous_short_one() {
    let (mut b, snd, id) = established_rtt(1);
    b.send(ms(2), id, b"a").unwrap();
    assert_eq!(out(&mut b).len(), 1, "nothing in flight: at once");
    b.send(ms(3), id, b"b").unwrap();
    assert!(out(&mut b).is_empty(), "held behind the unacknowledged 'a'");
    b.send(ms(3), id, &[7u8; 1448]).unwrap();
    let o = out(&mut b);
    assert_eq!(
        o.iter().map(|o| o.len).collect::<Vec<_>>(),
        [1448],
        "a full segment goes"
    );
    b.receive(ms(4), A, B, &ack_with_window(snd + 1, 60000));
    let o = out(&mut b);
    assert_eq!(
        (o.len(), o[0].len, o[0].seq),
        (1, 1, snd + 1449),
        "the rest with the ACK"
    );

    let (mut b, _, id) = established_rtt(1);
    b.set_nodelay(id, true).unwrap();
    b.send(ms(2), id, b"a").unwrap();
    b.send(ms(3), id, b"b").unwrap();
    assert_eq!(out(&mut b).len(), 2, "TCP_NODELAY");
}

/// TIME-WAIT as Linux keeps it by default (tcp_rfc1337 = 0): a RST at
/// exactly RCV.NXT ends it, any other RST is ignored.
#[test]
fn a_reset_at_rcv_nxt_ends_time_wait_as_linux_does() {
    let (mut b, snd, id) = established(linux_syn_options());
    let s = PEER_ISS + 1;
    b.close(ms(2), id).unwrap();
    out(&mut b);
    b.receive(
        ms(3),
        A,
        B,
        &raw_ts(Flags::ACK | Flags::FIN, s, snd + 1, (3, 0), &[], b""),
    );
    out(&mut b);
    assert_eq!(b.state(id), Some(TcpState::TimeWait));
    b.receive(ms(4), A, B, &raw_ts(Flags::RST, s + 5, 0, (4, 0), &[], b""));
    assert_eq!(b.state(id), Some(TcpState::TimeWait), "not at RCV.NXT");
    b.receive(ms(5), A, B, &raw_ts(Flags::RST, s + 1, 0, (5, 0), &[], b""));
    assert_ne!(b.state(id), Some(TcpState::TimeWait));
    assert_eq!(b.counters().time_wait, 0);
}

/// Linux's tcp_reset_check: after the peer's FIN, a RST numbered as that
/// FIN (RCV.NXT - 1) resets the connection.
#[test]
fn a_reset_numbered_as_the_peers_fin_is_taken_after_it() {
    let (mut b, snd, id) = established(linux_syn_options());
    let s = PEER_ISS + 1;
    b.receive(
        ms(2),
        A,
        B,
        &raw_ts(Flags::ACK | Flags::FIN, s, snd, (3, 0), &[], b""),
    );
    assert_eq!(b.state(id), Some(TcpState::CloseWait));
    b.receive(ms(3), A, B, &raw_ts(Flags::RST, s, 0, (4, 0), &[], b""));
    assert_eq!(b.state(id), Some(TcpState::Closed));
    assert_eq!(b.counters().resets_received, 1);
}

/// RFC 2018 4 and RFC 2883: out-of-order data is reported in SACK blocks,
/// the most recent first; data received twice is reported once as a D-SACK.
#[test]
fn sack_blocks_report_out_of_order_data_and_duplicates() {
    let (mut b, snd, _) = established(linux_syn_options());
    let s = PEER_ISS + 1;
    b.receive(
        ms(2),
        A,
        B,
        &raw_ts(Flags::ACK, s + 1000, snd, (2, 0), &[], &[1; 100]),
    );
    b.receive(
        ms(3),
        A,
        B,
        &raw_ts(Flags::ACK, s + 2000, snd, (3, 0), &[], &[1; 100]),
    );
    let o = out(&mut b);
    let last = o.last().unwrap();
    assert_eq!(last.ack, s);
    assert_eq!(
        last.options.sack.as_slice(),
        &[(s + 2000, s + 2100), (s + 1000, s + 1100)]
    );
    // In-order data, then the same bytes again: a D-SACK, then nothing.
    b.receive(
        ms(4),
        A,
        B,
        &raw_ts(Flags::ACK, s, snd, (4, 0), &[], &[1; 10]),
    );
    out(&mut b);
    b.receive(
        ms(5),
        A,
        B,
        &raw_ts(Flags::ACK, s, snd, (5, 0), &[], &[1; 10]),
    );
    let o = out(&mut b);
    assert_eq!(o.len(), 1);
    assert_eq!(o[0].options.sack.as_slice()[0], (s, s + 10));
    assert_eq!(o[0].options.sack.as_slice()[1], (s + 2000, s + 2100));
    b.receive(
        ms(6),
        A,
        B,
        &raw_ts(Flags::ACK, s + 10, snd, (6, 0), &[], &[1; 990]),
    );
    let o = out(&mut b);
    assert_eq!(o.last().unwrap().ack, s + 1100);
    assert_eq!(
        o.last().unwrap().options.sack.as_slice(),
        &[(s + 2000, s + 2100)]
    );
}

/// RFC 6675 on the sending side: three segments of one flight are lost;
/// the SACK scoreboard resends all three within one round trip (NewReno
/// would need one round trip per hole), without a timeout, and nothing
/// the receiver already had.
#[test]
fn sack_recovery_resends_every_hole_in_one_round_trip() {
    let mut sim = Sim::new(LinkConfig::clean(10), 41);
    sim.record = true;
    let (ca, cb) = connected(&mut sim);
    let data = pattern(120_000, 5);
    let mut dropped = Vec::new();
    let mut seen = std::collections::HashSet::new();
    sim.drop_a_to_b = Some(Box::new(move |r: &TcpRepr| {
        // The 60th, 62nd and 64th data segments, once each (one flight).
        if r.payload.is_empty() || !seen.insert(r.seq) {
            return false;
        }
        let n = seen.len();
        if [60, 62, 64].contains(&n) {
            dropped.push(r.seq);
            return true;
        }
        false
    }));
    let got = transfer(&mut sim, ca, cb, &data, STEPS);
    assert_eq!(fnv1a(&got), fnv1a(&data));
    let c = sim.a.counters();
    assert_eq!((c.timeouts, c.fast_retransmits), (0, 1), "{c:?}");
    assert_eq!(c.retransmits, 3, "only the lost segments: {c:?}");
    // The three retransmissions left within one RTT (20 ms): their TSvals.
    let mut max_seq = 0u32;
    let mut rx_ts = Vec::new();
    for (to_b, r) in sim.parsed_trace() {
        if !to_b || r.payload.is_empty() {
            continue;
        }
        let end = r.seq.wrapping_add(r.payload.len() as u32);
        if max_seq != 0 && seq::lt(r.seq, max_seq) {
            rx_ts.push(r.options.timestamps.expect("timestamps on").0);
        }
        if max_seq == 0 || seq::gt(end, max_seq) {
            max_seq = end;
        }
    }
    assert_eq!(rx_ts.len(), 3);
    assert!(rx_ts[2].wrapping_sub(rx_ts[0]) < 20, "{rx_ts:?}");
}

/// A peer SACKing hundreds of one-byte ranges (the scoreboard keeps at
/// most MAX_SACK_RANGES of them): the connection keeps working.
#[test]
fn many_tiny_sack_ranges_keep_the_connection_working() {
    let (mut b, snd, id) = established(linux_syn_options());
    b.receive(
        ms(2),
        A,
        B,
        &raw_ts(Flags::ACK, PEER_ISS + 1, snd, (2, 0), &[], b""),
    );
    b.receive(ms(2), A, B, &ack_with_window(snd, 60000));
    b.send(ms(2), id, &[1u8; 40000]).unwrap();
    let sent: u32 = out(&mut b).iter().map(|o| o.len as u32).sum();
    for i in 0..200u32 {
        let l = snd + 100 + 4 * i;
        let blocks = [(l, l + 1), (l + 2, l + 3)];
        b.receive(
            ms(3),
            A,
            B,
            &raw_ts(Flags::ACK, PEER_ISS + 1, snd, (3, 0), &blocks, b""),
        );
    }
    out(&mut b);
    // What was sent is acknowledged: the connection carries on.
    b.receive(
        ms(4),
        A,
        B,
        &raw_ts(Flags::ACK, PEER_ISS + 1, snd + sent, (4, 0), &[], b""),
    );
    let c = b
        .connections()
        .into_iter()
        .find(|c| c.state == TcpState::Established)
        .unwrap();
    assert_eq!(c.send_q, 40000 - sent as usize);
    assert!(!out(&mut b).is_empty(), "more data goes out");
}

/// A sim whose sender (A) uses `alg`.
fn sim_with_cc(alg: CongestionAlgorithm, link: LinkConfig, seed: u64) -> Sim {
    let mut a = super::sim::config(A);
    a.congestion = alg;
    Sim::with_configs(a, super::sim::config(B), link, seed)
}

/// RFC 9438 4.6 / RFC 5681 eq. 4: at the fast retransmit of one lost
/// segment the window drops to beta * W: 0.7 with CUBIC, half with NewReno.
/// The loss measured is the second: the first ends slow start, and in
/// congestion avoidance the window hardly moves within one simulator step
/// (in slow start, one step's burst of ACKs grows it by dozens of segments
/// before the step's duplicate ACKs show the loss).
#[test]
fn a_loss_multiplies_the_window_by_beta() {
    for (alg, beta) in [
        (CongestionAlgorithm::Cubic, 0.7),
        (CongestionAlgorithm::Reno, 0.5),
    ] {
        run_with_seeds(0..4, |seed| {
            let mut sim = sim_with_cc(alg, LinkConfig::clean(5), seed);
            let (ca, cb) = connected(&mut sim);
            let mut n = 0;
            sim.drop_a_to_b = Some(Box::new(move |r| {
                if r.payload.is_empty() {
                    return false;
                }
                n += 1;
                n == 100 || n == 900
            }));
            let data = pattern(2_000_000, seed);
            let (mut sent, mut got) = (0, Vec::new());
            let view = |s: &Sim| s.a.connections()[0].clone();
            let mut before = 0;
            let mut after = None;
            sim.run(STEPS * 10, |s| {
                if sent < data.len() {
                    sent += s.a.send(s.now, ca, &data[sent..]).unwrap();
                }
                drain(&mut s.b, s.now, cb, &mut got).unwrap();
                let v = view(s);
                match s.a.counters().fast_retransmits {
                    // Out of the first recovery: cwnd at or above ssthresh.
                    1 if v.ssthresh.is_some_and(|t| v.cwnd >= t) => before = v.cwnd,
                    // The threshold the recovery brings the window down
                    // to (PRR gets there over the round trip).
                    2 if after.is_none() => after = v.ssthresh,
                    _ => {}
                }
                got.len() == data.len()
            });
            assert_eq!(fnv1a(&got), fnv1a(&data));
            assert_eq!(sim.a.connections()[0].congestion, Some(alg));
            assert_eq!(sim.a.counters().fast_retransmits, 2, "{alg}");
            let after = f64::from(after.expect("a second fast retransmit"));
            // The window the reduction started from: the step that saw the
            // loss may also have grown it a little by ACKs of new data
            // first, and NewReno halves the flight, which may be a little
            // under cwnd.
            let from = after / beta;
            let before = f64::from(before);
            assert!(
                from >= before - 4.0 * 1460.0 && from <= before + 4.0 * 1460.0,
                "{alg}: cwnd {before} -> {after}, beta {beta}"
            );
        });
    }
}

/// Ten megabytes over a lossy, reordering, duplicating link arrive
/// byte-exact with either algorithm, over several seeds (more with
/// `XDPSTACK_SIM_SEEDS`; each run takes seconds).
#[test]
fn ten_megabytes_over_a_lossy_link_with_either_algorithm() {
    let seeds = std::env::var("XDPSTACK_SIM_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(3, |n: u64| n.min(16));
    for alg in [CongestionAlgorithm::Cubic, CongestionAlgorithm::Reno] {
        run_with_seeds(0..seeds, |seed| {
            let link = LinkConfig {
                delay: Duration::from_millis(5),
                loss: 20,
                reorder: 30,
                reorder_extra: Duration::from_millis(3),
                duplicate: 20,
            };
            let mut sim = sim_with_cc(alg, link, seed);
            let (ca, cb) = connected(&mut sim);
            let data = pattern(10 * 1024 * 1024, seed);
            let got = transfer(&mut sim, ca, cb, &data, 3_000_000);
            assert_eq!(got.len(), data.len(), "{alg}");
            assert_eq!(fnv1a(&got), fnv1a(&data), "{alg}");
            assert!(sim.a.counters().fast_retransmits > 0, "{alg}");
        });
    }
}

/// The lossy many-seeds transfer with NewReno too (the default is CUBIC).
#[test]
fn lossy_links_of_many_seeds_deliver_intact_with_newreno() {
    run_with_many_seeds(|seed| {
        let link = LinkConfig {
            delay: Duration::from_millis(3),
            loss: 30,
            reorder: 30,
            reorder_extra: Duration::from_millis(2),
            duplicate: 30,
        };
        let mut sim = sim_with_cc(CongestionAlgorithm::Reno, link, seed);
        let (ca, cb) = connected(&mut sim);
        let data = pattern(100_000, seed);
        let got = transfer(&mut sim, ca, cb, &data, STEPS * 10);
        assert_eq!(fnv1a(&got), fnv1a(&data));
    });
}

const KA: KeepAlive = KeepAlive {
    idle: Duration::from_secs(10),
    interval: Duration::from_secs(2),
    count: 3,
};

/// Keep-alive probes from A: (when, SEG.SEQ) of every empty ACK A sent
/// after `from` (A has nothing else to send then).
fn probes(sim: &Sim, from: usize) -> Vec<(bool, u32)> {
    sim.parsed_trace()[from..]
        .iter()
        .filter(|(to_b, r)| *to_b && r.payload.is_empty() && !r.flags.rst())
        .map(|(to_b, r)| (*to_b, r.seq))
        .collect()
}

/// RFC 9293 3.8.4 / RFC 1122 4.2.3.6: off by default; when set, a silent
/// peer gets probes at exactly idle, idle + interval, ... (the deadlines
/// are in `poll_at`); after `count` unanswered ones the connection is
/// aborted with a RST and counted.
#[test]
fn unanswered_keepalive_probes_abort_the_connection() {
    run_with_seeds(0..4, |seed| {
        let mut sim = Sim::new(LinkConfig::clean(5), seed);
        let (ca, _cb) = connected(&mut sim);
        // Off by default: a minute of silence sends nothing.
        sim.record = true;
        sim.advance(Duration::from_secs(60));
        assert!(sim.trace.is_empty());
        assert_eq!(sim.a.counters().keepalive_probes, 0);

        // On, counted from the last segment heard (60 s ago): at once.
        let t0 = sim.now;
        sim.a.set_keepalive(ca, Some(KA)).unwrap();
        assert!(sim.a.poll_at().is_some_and(|t| t <= t0));
        // The peer vanished: nothing reaches it.
        sim.drop_a_to_b = Some(Box::new(|_| true));
        let mut times = Vec::new();
        let mut sent = 0;
        assert!(sim.run(STEPS, |s| {
            let n = s.a.counters().keepalive_probes;
            if n > sent {
                sent = n;
                times.push(s.now);
            }
            s.a.state(ca) == Some(TcpState::Closed)
        }));
        // The first fires at once (idle long past), then every interval.
        assert_eq!(times.len(), 3, "{times:?}");
        assert_eq!(times[0], t0);
        assert_eq!(times[1], t0 + KA.interval);
        assert_eq!(times[2], t0 + KA.interval * 2);
        assert_eq!(sim.now, t0 + KA.interval * 3, "aborted after count");
        let c = sim.a.counters();
        assert_eq!((c.keepalive_probes, c.keepalive_aborts), (3, 1));
        assert_eq!(
            sim.a.recv(sim.now, ca, &mut [0u8; 8]),
            Err(TcpError::TimedOut)
        );
    });
}

/// Probes at exactly idle, idle + interval, ... after the last segment
/// heard; each is SEG.SEQ = SND.NXT - 1 with no data; an answered probe
/// keeps the connection, and the idle time starts again.
#[test]
fn answered_keepalive_probes_keep_the_connection() {
    run_with_seeds(0..4, |seed| {
        let mut sim = Sim::new(LinkConfig::clean(5), seed);
        let (ca, cb) = connected(&mut sim);
        sim.a.set_keepalive(ca, Some(KA)).unwrap();
        // Something to hear from B now.
        sim.b.send(sim.now, cb, b"hi").unwrap();
        let mut got = Vec::new();
        assert!(sim.run(STEPS, |s| {
            drain(&mut s.a, s.now, ca, &mut got).unwrap();
            got == b"hi" && s.a.poll_at().is_some_and(|t| t > s.now + KA.idle / 2)
        }));
        let heard = sim.a.poll_at().unwrap() - KA.idle;
        sim.record = true;
        let from = sim.trace.len();
        // The first probe is due at exactly heard + idle.
        sim.advance((heard + KA.idle).since(sim.now) - Duration::from_micros(1));
        assert_eq!(sim.a.counters().keepalive_probes, 0);
        sim.advance(Duration::from_micros(1));
        assert_eq!(sim.a.counters().keepalive_probes, 1);
        let p = probes(&sim, from);
        assert_eq!(p.len(), 1);
        // Answered: a minute later, a probe every idle + RTT, no abort.
        sim.advance(Duration::from_secs(60));
        // SND.NXT - 1: the peer cannot accept it and must ACK SND.NXT.
        let answer = sim.parsed_trace()[from..]
            .iter()
            .find(|(to_b, _)| !*to_b)
            .map(|(_, r)| r.ack)
            .expect("the probe was answered");
        assert_eq!(p[0].1, answer.wrapping_sub(1));
        let c = sim.a.counters().clone();
        assert_eq!(c.keepalive_aborts, 0);
        assert!((6..=7).contains(&c.keepalive_probes), "{c:?}");
        assert_eq!(sim.a.state(ca), Some(TcpState::Established));
        assert_eq!(sim.b.state(cb), Some(TcpState::Established));
        // Turned off: silence.
        sim.a.set_keepalive(ca, None).unwrap();
        sim.advance(Duration::from_secs(60));
        assert_eq!(sim.a.counters().keepalive_probes, c.keepalive_probes);
    });
}

/// RFC 8985 7: the last segment of a burst is lost and nothing follows to
/// produce duplicate ACKs; the tail loss probe (2 SRTT after the last ACK)
/// resends it and the burst completes well before the RTO (200 ms).
#[test]
fn tail_loss_probe_recovers_a_lost_last_segment_without_an_rto() {
    use std::cell::Cell;
    use std::rc::Rc;
    run_with_many_seeds(|seed| {
        let mut sim = Sim::new(LinkConfig::clean(5), seed);
        let (ca, cb) = connected(&mut sim);
        // Warm up: an RTT estimate and a window larger than the burst.
        let warm = pattern(100_000, seed);
        let mut got = Vec::new();
        sim.a.send(sim.now, ca, &warm).unwrap();
        assert!(sim.run(STEPS, |s| {
            drain(&mut s.b, s.now, cb, &mut got).unwrap();
            got.len() == warm.len()
        }));
        sim.advance(Duration::from_secs(1));
        let armed = Rc::new(Cell::new(0u32));
        let seen = armed.clone();
        sim.drop_a_to_b = Some(Box::new(move |r| {
            if r.payload.is_empty() || seen.get() == 0 {
                return false;
            }
            seen.set(seen.get() + 1);
            // Data segments of the burst are 2, 3, 4, 5: drop the last.
            seen.get() == 5
        }));
        armed.set(1);
        let before = sim.a.counters().clone();
        // Four full segments (the MSS less the timestamps option).
        let burst = pattern(4 * 1448, seed + 1);
        let start = sim.now;
        assert_eq!(sim.a.send(sim.now, ca, &burst).unwrap(), burst.len());
        got.clear();
        assert!(sim.run(STEPS, |s| {
            drain(&mut s.b, s.now, cb, &mut got).unwrap();
            got.len() == burst.len()
        }));
        assert_eq!(got, burst);
        let took = sim.now.since(start);
        // The probe's ACK on its way back.
        sim.advance(Duration::from_millis(20));
        assert_eq!(armed.get(), 6, "four segments, the last lost, one probe");
        let c = sim.a.counters();
        assert_eq!(c.timeouts, before.timeouts, "{c:?}");
        assert_eq!(c.fast_retransmits, before.fast_retransmits);
        assert_eq!(c.tail_loss_probes, before.tail_loss_probes + 1);
        assert_eq!(
            c.tail_loss_probe_recoveries,
            before.tail_loss_probe_recoveries + 1
        );
        // 2 SRTT after the first ACK plus a trip: about 40 ms, not 200.
        assert!(took < Duration::from_millis(100), "{took:?}");
    });
}

/// CUBIC unless set otherwise; `set_congestion` applies to connections
/// made from then on, and the views name the algorithm.
#[test]
fn congestion_control_is_cubic_by_default_and_selectable() {
    let mut sim = Sim::new(LinkConfig::clean(5), 1);
    assert_eq!(sim.a.config().congestion, CongestionAlgorithm::Cubic);
    sim.a.set_congestion(CongestionAlgorithm::Reno);
    let (_, _) = connected(&mut sim);
    let a = sim.a.connections();
    assert_eq!(a[0].congestion, Some(CongestionAlgorithm::Reno));
    let b = sim.b.connections();
    assert!(b
        .iter()
        .any(|v| v.state == TcpState::Listen && v.congestion.is_none()));
    assert!(b
        .iter()
        .any(|v| v.state == TcpState::Established
            && v.congestion == Some(CongestionAlgorithm::Cubic)));
}

/// Issue 12: a bulk sender over 1% loss each way (data and ACKs), with a
/// short round trip and large buffers as in `cargo xtask bench`, repairs
/// its losses by fast recovery rather than waiting for timeouts (Linux
/// took 0-1 RTOs for 64 MiB over such a link). Before the fix a loss of
/// the first segment past the previous recovery point (ACK == recover)
/// could not start a recovery and always cost an RTO (seeds 3 and 6),
/// and a lost retransmission of SND.UNA waited for the RTO while the
/// rest of the window went on (seed 6). What may still take an RTO: a
/// loss near the tail with fewer than DupThresh segments SACKed above it
/// after the tail loss probe was spent (seed 2; Linux uses RACK's timer).
#[test]
fn one_percent_loss_both_ways_repairs_without_timeouts() {
    let total = std::cell::Cell::new(0);
    run_with_seeds(0..10, |seed| {
        let link = LinkConfig {
            delay: Duration::from_micros(100),
            loss: 10,
            ..LinkConfig::default()
        };
        let mut ca = super::sim::config(A);
        let mut cb = super::sim::config(B);
        ca.snd_buf = 4 * 1024 * 1024;
        cb.rcv_buf = 4 * 1024 * 1024;
        let mut sim = Sim::with_configs(ca, cb, link, seed);
        let (ca, cb) = connected(&mut sim);
        let data = pattern(5 * 1024 * 1024, seed);
        let got = transfer(&mut sim, ca, cb, &data, 3_000_000);
        assert_eq!(fnv1a(&got), fnv1a(&data));
        let c = sim.a.counters();
        assert!(c.fast_retransmits > 0, "{c:?}");
        assert!(c.timeouts <= 1, "{c:?}");
        total.set(total.get() + c.timeouts);
    });
    let total = total.get();
    assert!(total <= 1, "{total} timeouts over ten 5 MB transfers");
}

/// `established` with a handshake round trip of `rtt_ms` (the first RTT
/// sample and RACK's min RTT), and a window of 60000 << 7 bytes.
fn established_rtt(rtt_ms: u64) -> (Tcp, u32, ConnId) {
    let mut b = Tcp::new(super::sim::config(B));
    b.listen(80).unwrap();
    let syn = raw(80, Flags::SYN, PEER_ISS, 0, linux_syn_options(), b"");
    b.receive(ms(0), A, B, &syn);
    let snd = out(&mut b)[0].seq.wrapping_add(1);
    b.receive(ms(rtt_ms), A, B, &ack_with_window(snd, 60000));
    assert!(out(&mut b).is_empty());
    let id = b.accept(80).unwrap();
    (b, snd, id)
}

/// As [`established_rtt`], then two rounds of three segments sent and
/// acknowledged 1 ms later: slow start opens the window past its initial
/// ten segments, and RTT samples of 1 ms come in. Returns the connection,
/// SND.UNA after them and its id.
fn established_warm(rtt_ms: u64) -> (Tcp, u32, ConnId) {
    let (mut b, snd, id) = established_rtt(rtt_ms);
    let mut una = snd;
    for k in 0..2 {
        b.send(ms(50 + k), id, &[5u8; 3 * 1448]).unwrap();
        let n: u32 = out(&mut b).iter().map(|o| o.len as u32).sum();
        assert_eq!(n, 3 * 1448);
        una += n;
        b.receive(ms(51 + k), A, B, &ack_with_window(una, 60000));
        assert!(out(&mut b).is_empty());
    }
    (b, una, id)
}

/// RFC 6928 2, as Linux (TCP_INIT_CWND): a new connection's first flight
/// is ten full segments; the rest waits for an ACK, which slow start then
/// answers with two segments for each one acknowledged (RFC 5681 3.1).
#[test]
fn the_first_flight_is_ten_segments() {
    let (mut b, snd, id) = established_rtt(1);
    b.send(ms(2), id, &[3u8; 40 * 1448]).unwrap();
    let first = out(&mut b);
    assert_eq!(first.iter().map(|o| o.len).collect::<Vec<_>>(), [1448; 10]);
    assert_eq!(first[0].seq, snd);
    b.receive(ms(3), A, B, &ack_with_window(snd + 2 * 1448, 60000));
    let next = out(&mut b);
    assert_eq!(next.iter().map(|o| o.len).collect::<Vec<_>>(), [1448; 4]);
    assert_eq!(next[0].seq, snd + 10 * 1448);
}

/// The established connection's view (the listener is listed too).
fn conn_view(b: &Tcp) -> ConnView {
    b.connections()
        .into_iter()
        .find(|c| c.state == TcpState::Established)
        .expect("an established connection")
}

/// RFC 3042 (limited transmit), without SACK: each of the first two
/// duplicate ACKs sends one new segment beyond the window; the third
/// starts the fast retransmit, with ssthresh from the flight before them
/// (RFC 5681 3.2 step 2).
#[test]
fn the_first_two_duplicate_acks_each_send_one_new_segment() {
    let options = TcpOptions {
        mss: Some(1460),
        ..TcpOptions::default()
    };
    let (mut b, snd, id) = established(options);
    b.receive(ms(2), A, B, &ack_with_window(snd, 60000));
    b.send(ms(2), id, &[4u8; 20 * 1460]).unwrap();
    assert_eq!(out(&mut b).len(), 10, "the initial window");
    let cwnd = conn_view(&b).cwnd;
    for k in 0..2u32 {
        b.receive(ms(3), A, B, &ack_with_window(snd, 60000));
        let o = out(&mut b);
        assert_eq!(o.len(), 1, "duplicate ACK {}: {o:?}", k + 1);
        assert_eq!((o[0].seq, o[0].len), (snd + (10 + k) * 1460, 1460));
    }
    assert_eq!(conn_view(&b).cwnd, cwnd, "cwnd unchanged");
    b.receive(ms(3), A, B, &ack_with_window(snd, 60000));
    let o = out(&mut b);
    assert_eq!((o[0].seq, o[0].len), (snd, 1460), "the fast retransmit");
    assert_eq!(b.counters().fast_retransmits, 1);
    // CUBIC: 0.7 of the window, the limited-transmit segments left out.
    assert_eq!(conn_view(&b).ssthresh, Some(cwnd * 7 / 10));
}

/// `rounds` round trips of 1 ms from `now_ms`: each sends what the window
/// allows and has all of it acknowledged. Returns SND.UNA after them and
/// the time of the last ACK.
fn ack_rounds(b: &mut Tcp, mut una: u32, now_ms: u64, rounds: u64) -> (u32, u64) {
    let mut t = now_ms;
    for _ in 0..rounds {
        let n: u32 = out(b).iter().map(|o| o.len as u32).sum();
        una += n;
        t += 1;
        b.receive(ms(t), A, B, &ack_with_window(una, 60000));
    }
    (una, t)
}

/// Linux's tcp_is_cwnd_limited (RFC 7661's aim): a sender that keeps two
/// segments in flight, however many rounds acknowledge them, does not
/// earn a window beyond the initial ten segments; one that fills its
/// window doubles it each round (slow start).
#[test]
fn the_window_grows_only_while_it_limits_the_sender() {
    let (mut b, snd, id) = established_rtt(1);
    let mut una = snd;
    for k in 0..20 {
        b.send(ms(10 + 2 * k), id, &[1u8; 2 * 1448]).unwrap();
        (una, _) = ack_rounds(&mut b, una, 10 + 2 * k, 1);
    }
    assert_eq!(una, snd + 40 * 1448);
    assert_eq!(conn_view(&b).cwnd, 10 * 1460, "application-limited");
    // Now more than the window is waiting: 10, 20, 40 segments go.
    b.send(ms(100), id, &[1u8; 200 * 1448]).unwrap();
    let before = conn_view(&b).cwnd;
    ack_rounds(&mut b, una, 100, 2);
    let after = conn_view(&b).cwnd;
    assert!(after >= 4 * before - 1460, "{before} -> {after}");
}

/// RFC 5681 4.1, as Linux's tcp_cwnd_restart: after more than an RTO with
/// nothing in flight, new data starts from the initial window again (the
/// old window halved per RTO idle, never below ten segments), ssthresh at
/// least 3/4 of the old window; after a shorter pause the whole window
/// goes at once.
#[test]
fn a_sender_idle_for_more_than_an_rto_restarts_from_the_initial_window() {
    let (mut b, snd, id) = established_rtt(1);
    let (mut una, mut t) = (snd, 10);
    // Slow start while the window limits the sender, then everything
    // acknowledged.
    for _ in 0..60 {
        if t < 30 {
            b.send(ms(t), id, &[1u8; 100 * 1448]).unwrap();
        } else if conn_view(&b).send_q == 0 {
            break;
        }
        (una, t) = ack_rounds(&mut b, una, t, 1);
    }
    assert!(out(&mut b).is_empty());
    let v = conn_view(&b);
    assert_eq!(v.send_q, 0, "all sent and acknowledged");
    assert!(v.cwnd >= 100 * 1460, "{v:?}");
    assert_eq!(v.rto_ms, 200, "{v:?}");
    // A pause shorter than the RTO: the whole window may go.
    t += 150;
    let n = b.send(ms(t), id, &[2u8; 200 * 1448]).unwrap() as u32;
    let burst: u32 = out(&mut b).iter().map(|o| o.len as u32).sum();
    assert_eq!(burst, n.min(v.cwnd / 1460 * 1448), "{v:?}");
    una += burst;
    t += 1;
    b.receive(ms(t), A, B, &ack_with_window(una, 60000));
    for _ in 0..60 {
        if conn_view(&b).send_q == 0 {
            break;
        }
        (una, t) = ack_rounds(&mut b, una, t, 1);
    }
    assert_eq!(conn_view(&b).send_q, 0);
    let big = conn_view(&b).cwnd;
    // Ten seconds of silence: ten segments, then slow start.
    b.send(ms(t + 10_000), id, &[3u8; 100 * 1448]).unwrap();
    assert_eq!(out(&mut b).len(), 10);
    let v = conn_view(&b);
    assert_eq!(v.cwnd, 10 * 1460);
    assert!(v.ssthresh.is_none_or(|s| s >= big / 4 * 3), "{big} {v:?}");
}

/// RFC 8985 6.2: a segment sent before one that was SACKed is lost only
/// once RACK.rtt + reo_wnd has passed since it was sent; the RACK timer
/// (in `poll_at`) fires exactly then, before the TLP and the RTO. Here
/// min RTT = 40 ms, so reo_wnd = 10 ms with one segment SACKed: the data
/// went at 100 ms, the SACK came at 140 ms, the loss is due at 150 ms.
#[test]
fn rack_marks_a_loss_after_the_reordering_window_not_before() {
    let (mut b, snd, id) = established_rtt(40);
    b.send(ms(100), id, &[5u8; 3 * 1448]).unwrap();
    let first = out(&mut b);
    assert_eq!(first.iter().map(|o| o.len).collect::<Vec<_>>(), [1448; 3]);
    // The first segment is lost: the second is SACKed, the third on its way.
    let sack = [(snd + 1448, snd + 2 * 1448)];
    b.receive(
        ms(140),
        A,
        B,
        &raw_ts(Flags::ACK, PEER_ISS + 1, snd, (140, 0), &sack, b""),
    );
    assert!(out(&mut b).is_empty(), "marked lost before reo_wnd passed");
    assert_eq!(b.poll_at(), Some(ms(150)), "the RACK timer");
    b.poll(ms(150) - Duration::from_micros(1));
    assert!(out(&mut b).is_empty());
    b.poll(ms(150));
    let o = out(&mut b);
    assert_eq!(o.len(), 1, "{o:?}");
    assert_eq!((o[0].seq, o[0].len), (snd, 1448));
    let c = b.counters();
    assert_eq!((c.rack_timer_losses, c.rack_marked_lost), (1, 1), "{c:?}");
    assert_eq!(
        (c.fast_retransmits, c.timeouts, c.tail_loss_probes),
        (1, 0, 0)
    );
}

/// RFC 8985 6.2 (DupThresh equivalent): with three segments SACKed and
/// no reordering seen the window is 0: the hole is lost at once.
#[test]
fn rack_marks_a_loss_at_once_with_three_segments_sacked() {
    // The window opened past five segments first.
    let (mut b, una, id) = established_warm(40);
    b.send(ms(100), id, &[5u8; 4 * 1448]).unwrap();
    assert_eq!(out(&mut b).len(), 4);
    let sack = [(una + 1448, una + 4 * 1448)];
    b.receive(
        ms(140),
        A,
        B,
        &raw_ts(Flags::ACK, PEER_ISS + 1, una, (140, 0), &sack, b""),
    );
    let o = out(&mut b);
    assert_eq!(o.len(), 1, "{o:?}");
    assert_eq!((o[0].seq, o[0].len), (una, 1448));
    assert_eq!(b.counters().rack_timer_losses, 0);
}

/// RFC 8985 6.2: a retransmission that is lost again is found by RACK
/// like any other segment (a segment sent after it was delivered) and
/// sent a third time, with no timeout.
#[test]
fn a_lost_retransmission_is_found_without_a_timeout() {
    use std::cell::Cell;
    use std::rc::Rc;
    run_with_seeds(0..6, |seed| {
        let mut ca = super::sim::config(A);
        let mut cb = super::sim::config(B);
        ca.snd_buf = 4 * 1024 * 1024;
        cb.rcv_buf = 4 * 1024 * 1024;
        let mut sim = Sim::with_configs(ca, cb, LinkConfig::clean(5), seed);
        let (ca, cb) = connected(&mut sim);
        let mut n = 0;
        let mut target = None;
        let sendings = Rc::new(Cell::new(0));
        let count = sendings.clone();
        sim.drop_a_to_b = Some(Box::new(move |r: &TcpRepr| {
            if r.payload.is_empty() {
                return false;
            }
            n += 1;
            if n == 300 {
                target = Some(r.seq);
            }
            if target == Some(r.seq) {
                count.set(count.get() + 1);
                // The original and the first retransmission.
                return count.get() <= 2;
            }
            false
        }));
        let data = pattern(3_000_000, seed);
        let got = transfer(&mut sim, ca, cb, &data, STEPS * 10);
        assert_eq!(fnv1a(&got), fnv1a(&data));
        let c = sim.a.counters();
        assert_eq!(sendings.get(), 3, "{c:?}");
        assert_eq!(c.timeouts, 0, "{c:?}");
        assert_eq!(c.retransmits, 2, "{c:?}");
        assert_eq!(c.fast_retransmits, 1, "{c:?}");
    });
}

/// RFC 8985 6.2: a segment delayed by less than the reordering window
/// (a quarter of the 20 ms min RTT) is not retransmitted once reordering
/// has been seen: at most the first such delay costs a (spurious)
/// recovery; its D-SACK marks reordering.
#[test]
fn reordering_within_the_window_causes_no_spurious_retransmissions() {
    run_with_many_seeds(|seed| {
        let link = LinkConfig {
            delay: Duration::from_millis(10),
            reorder: 20,
            reorder_extra: Duration::from_millis(2),
            ..LinkConfig::default()
        };
        let mut sim = Sim::new(link, seed);
        let (ca, cb) = connected(&mut sim);
        let data = pattern(2_000_000, seed);
        let got = transfer(&mut sim, ca, cb, &data, STEPS * 10);
        assert_eq!(fnv1a(&got), fnv1a(&data));
        let (a, b) = (sim.a.counters(), sim.b.counters());
        assert!(b.out_of_order > 10, "reordered: {b:?}");
        // One recovery at most (its retransmissions: the segments held
        // back together then), against one per reordering without RACK.
        assert!(a.fast_retransmits <= 1, "{a:?}");
        assert!(a.retransmits <= 4, "{a:?}");
        assert_eq!(a.timeouts, 0, "{a:?}");
    });
}

/// RFC 6675 5.1 / RFC 8985 6.3: a timeout keeps the scoreboard: the
/// first segment of a burst, its fast retransmission and the probe that
/// resends it (the last segment not SACKed) are lost, the other nine
/// were SACKed; after the RTO only the first goes again (not go-back-N
/// through all ten).
#[test]
fn a_timeout_keeps_the_scoreboard_and_resends_only_unsacked_data() {
    use std::cell::Cell;
    use std::rc::Rc;
    run_with_many_seeds(|seed| {
        let mut sim = Sim::new(LinkConfig::clean(5), seed);
        let (ca, cb) = connected(&mut sim);
        // Warm up: an RTT estimate and a window of more than ten segments.
        let warm = pattern(200_000, seed);
        let mut got = Vec::new();
        sim.a.send(sim.now, ca, &warm).unwrap();
        assert!(sim.run(STEPS, |s| {
            drain(&mut s.b, s.now, cb, &mut got).unwrap();
            got.len() == warm.len()
        }));
        sim.advance(Duration::from_secs(1));
        assert!(sim.a.connections()[0].cwnd > 12 * 1448);
        let armed = Rc::new(Cell::new(false));
        let on = armed.clone();
        let mut first = None;
        let mut dropped = 0;
        sim.drop_a_to_b = Some(Box::new(move |r| {
            if r.payload.is_empty() || !on.get() {
                return false;
            }
            let s = *first.get_or_insert(r.seq);
            if r.seq == s && dropped < 3 {
                dropped += 1;
                return true;
            }
            false
        }));
        armed.set(true);
        sim.record = true;
        let before = sim.a.counters().clone();
        let burst = pattern(10 * 1448, seed + 1);
        assert_eq!(sim.a.send(sim.now, ca, &burst).unwrap(), burst.len());
        got.clear();
        assert!(sim.run(STEPS, |s| {
            drain(&mut s.b, s.now, cb, &mut got).unwrap();
            got.len() == burst.len()
        }));
        assert_eq!(got, burst);
        let c = sim.a.counters();
        assert_eq!(c.timeouts, before.timeouts + 1, "{c:?}");
        assert_eq!(
            c.retransmits,
            before.retransmits + 3,
            "only the lost one: {c:?}"
        );
        assert_eq!(c.tail_loss_probes, before.tail_loss_probes + 1);
        let resent: Vec<u32> = sim
            .parsed_trace()
            .iter()
            .filter(|(to_b, r)| *to_b && !r.payload.is_empty())
            .map(|(_, r)| r.seq)
            .collect();
        // On the link (the three dropped sendings are not): the other
        // nine once each, then the first, once.
        assert_eq!(resent.len(), 10, "{resent:?}");
        let mut distinct = resent.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), 10, "{resent:?}");
    });
}

/// The tail loss probe resends the last segment sent, even with new data
/// waiting and the window open (RFC 8985 7.3 would send new data): a new
/// in-order segment falls under the receiver's delayed-ACK policy, while
/// one it already holds must be acknowledged at once. It is due 2 SRTT
/// plus Linux's 2 ms after the last send.
#[test]
fn a_tail_loss_probe_resends_the_last_segment_even_with_new_data_waiting() {
    let (mut b, snd, id) = established_rtt(40);
    b.send(ms(50), id, &[7u8; 20 * 1448]).unwrap();
    let o = out(&mut b);
    let n = o.len() as u32;
    assert!((2..20).contains(&n), "the initial window holds some back");
    let at = b.poll_at().unwrap();
    assert_eq!(at, ms(50 + 2 * 40 + 2), "PTO = 2 SRTT + 2 ms");
    b.poll(at);
    let o = out(&mut b);
    assert_eq!(o.len(), 1);
    assert_eq!(
        o[0].seq,
        snd + (n - 1) * 1448,
        "the last sent, not new data"
    );
    assert_eq!(b.counters().tail_loss_probes, 1);
    // The peer held it: its D-SACK says nothing was lost, no window is cut.
    let cwnd = b.connections()[1].cwnd;
    let end = snd + n * 1448;
    let dsack = [(end - 1448, end)];
    b.receive(
        ms(140),
        A,
        B,
        &raw_ts(Flags::ACK, PEER_ISS + 1, end, (140, 0), &dsack, b""),
    );
    assert_eq!(b.counters().tail_loss_probe_recoveries, 0);
    assert!(b.connections()[1].cwnd >= cwnd);
}

/// A fast recovery whose one answering ACK is lost: the hole's
/// retransmission and new data leave together, and nothing comes back.
/// RACK's timer watches only segments sent before a delivered one, so
/// there is nothing for it; RFC 8985 and Linux would wait for the RTO
/// (200 ms, then slow start from one segment). The probe goes after
/// 2 SRTT + 2 ms instead, resending the last segment not SACKed.
#[test]
fn a_recovery_whose_answer_is_lost_is_probed_before_the_rto() {
    // The window opened past five segments first.
    let (mut b, una, id) = established_warm(40);
    b.send(ms(60), id, &[5u8; 5 * 1448]).unwrap();
    assert_eq!(out(&mut b).len(), 5);
    // The first is lost, the other four SACKed: RACK, recovery, resend.
    let sack = [(una + 1448, una + 5 * 1448)];
    b.receive(
        ms(100),
        A,
        B,
        &raw_ts(Flags::ACK, PEER_ISS + 1, una, (100, 0), &sack, b""),
    );
    b.send(ms(100), id, &[6u8; 2 * 1448]).unwrap();
    let o = out(&mut b);
    assert_eq!(o[0].seq, una, "the hole first");
    let last = o.iter().map(|s| s.seq).max().unwrap();
    assert!(last > una + 4 * 1448, "new data behind it: {o:?}");
    assert_eq!(b.counters().fast_retransmits, 1);
    // Nothing answers: the probe is due long before the RTO.
    let at = b.poll_at().unwrap();
    assert!(at < ms(100 + 200), "{at:?}");
    b.poll(at);
    let o = out(&mut b);
    assert_eq!(o.len(), 1);
    assert_eq!(o[0].seq, last, "the last segment not SACKed");
    assert_eq!(b.counters().timeouts, 0);
    assert_eq!(b.counters().tail_loss_probes, 1);
}

/// RACK judges which of two segments left later by the order they were
/// sent in, not by the clock alone: a batch stamps everything with one
/// reading, and the RFC's tie-break on sequence (RACK_sent_after) would
/// call a retransmission sent after new data "older", marking it lost
/// again as soon as that data is SACKed.
#[test]
fn a_resend_after_new_data_in_one_instant_is_not_marked_lost_again() {
    // The window opened past five segments first.
    let (mut b, una, id) = established_warm(40);
    let seg = |k: u32| una + k * 1448;
    // s0..s2 at 60 ms, s3 at 70 ms.
    b.send(ms(60), id, &[1u8; 3 * 1448]).unwrap();
    assert_eq!(out(&mut b).len(), 3);
    b.send(ms(70), id, &[2u8; 1448]).unwrap();
    assert_eq!(out(&mut b).len(), 1);
    // At 80 ms: new data goes out on a SACK of s1 (s0 is not yet late)...
    b.send(ms(80), id, &[3u8; 2 * 1448]).unwrap();
    let ts = |t: u32| (t, 0);
    let s1 = [(seg(1), seg(2))];
    b.receive(
        ms(80),
        A,
        B,
        &raw_ts(Flags::ACK, PEER_ISS + 1, una, ts(80), &s1, b""),
    );
    let fresh: Vec<u32> = out(&mut b).iter().map(|o| o.seq).collect();
    assert!(fresh.contains(&seg(4)), "new data first: {fresh:?}");
    // ...then, in the same instant, a SACK of s3 (10 ms RTT) makes s0 and
    // s2 late: both are resent, after that new data.
    let s13 = [(seg(3), seg(4)), (seg(1), seg(2))];
    b.receive(
        ms(80),
        A,
        B,
        &raw_ts(Flags::ACK, PEER_ISS + 1, una, ts(80), &s13, b""),
    );
    let resent: Vec<u32> = out(&mut b).iter().map(|o| o.seq).collect();
    assert!(resent.contains(&seg(0)), "{resent:?}");
    let before = b.counters().retransmits;
    // At 90 ms the new data is SACKed, the resends not yet acknowledged:
    // they left after it, so they are not late.
    let all = [(seg(3), seg(6)), (seg(1), seg(2))];
    b.receive(
        ms(90),
        A,
        B,
        &raw_ts(Flags::ACK, PEER_ISS + 1, una, ts(90), &all, b""),
    );
    for t in [91, 95, 100] {
        b.poll(ms(t));
    }
    let again: Vec<u32> = out(&mut b)
        .iter()
        .filter(|o| o.len > 0)
        .map(|o| o.seq)
        .collect();
    assert!(!again.contains(&seg(0)), "resent again: {again:?}");
    assert_eq!(b.counters().retransmits, before + again.len() as u64);
}

/// RFC 9406: CUBIC's initial slow start ends without a loss when the
/// round trip grows (here from 20 to 40 ms once the window passed 64
/// segments: a queue building): Conservative Slow Start for five rounds,
/// then congestion avoidance, so the window ends far smaller than slow
/// start's. A steady delay keeps slow start.
#[test]
fn hystart_leaves_slow_start_when_the_delay_grows() {
    run_with_seeds(0..4, |seed| {
        let mut end_cwnd = Vec::new();
        for grow in [false, true] {
            let mut ca = super::sim::config(A);
            let mut cb = super::sim::config(B);
            ca.snd_buf = 16 * 1024 * 1024;
            cb.rcv_buf = 16 * 1024 * 1024;
            let mut sim = Sim::with_configs(ca, cb, LinkConfig::clean(10), seed);
            let (ca, cb) = connected(&mut sim);
            let data = pattern(4_000_000, seed);
            let (mut sent, mut got) = (0, Vec::new());
            assert!(sim.run(STEPS * 10, |s| {
                if sent < data.len() {
                    sent += s.a.send(s.now, ca, &data[sent..]).unwrap();
                }
                drain(&mut s.b, s.now, cb, &mut got).unwrap();
                if grow && s.a.connections()[0].cwnd > 64 * 1448 {
                    s.link.delay = Duration::from_millis(20);
                }
                got.len() == data.len()
            }));
            assert_eq!(fnv1a(&got), fnv1a(&data));
            let c = sim.a.counters();
            assert_eq!((c.fast_retransmits, c.timeouts), (0, 0), "{c:?}");
            assert_eq!(c.hystart_exits, u64::from(grow), "grow {grow}: {c:?}");
            end_cwnd.push(sim.a.connections()[0].cwnd);
        }
        assert!(end_cwnd[1] < end_cwnd[0] / 2, "{end_cwnd:?}");
    });
}

/// RTT samples come from the scoreboard's send times, to the microsecond
/// (TSecr counts milliseconds: on a LAN every sample would read 0 or 1
/// ms): a 300 µs round trip gives SRTT 300 µs, so the tail loss probe is
/// due 2 SRTT = 600 µs after the ACK, plus Linux's 2 ms floor
/// (`TLP_MIN_EXTRA`).
#[test]
fn rtt_samples_are_timed_to_the_microsecond() {
    let us = |n: u64| ms(0) + Duration::from_micros(n);
    let mut b = Tcp::new(super::sim::config(B));
    b.listen(80).unwrap();
    let syn = raw(80, Flags::SYN, PEER_ISS, 0, linux_syn_options(), b"");
    b.receive(us(0), A, B, &syn);
    let snd = out(&mut b)[0].seq.wrapping_add(1);
    b.receive(us(300), A, B, &ack_with_window(snd, 60000));
    let id = b.accept(80).unwrap();
    b.send(us(10_000), id, &[1u8; 3 * 1448]).unwrap();
    let o = out(&mut b);
    assert_eq!(o.len(), 3);
    let tsval = o[0].options.timestamps.unwrap().0;
    // One acknowledged 300 µs later, the TSecr echoing its TSval; two
    // still out (one alone would add 200 ms to the probe's timeout).
    b.receive(
        us(10_300),
        A,
        B,
        &raw_ts(Flags::ACK, PEER_ISS + 1, snd + 1448, (5, tsval), &[], b""),
    );
    assert!(out(&mut b).is_empty());
    assert_eq!(
        b.poll_at(),
        Some(us(10_300 + 600 + 2_000)),
        "TLP at 2 SRTT + 2 ms"
    );
}

/// RFC 6937 3: a SACK recovery (PRR) ends with cwnd = ssthresh = 0.7 of
/// the window before the loss (CUBIC), not the flight left when the last
/// ACK came (here nothing: the full ACK drained it), which would leave a
/// window of two segments to slow-start from.
#[test]
fn a_sack_recovery_ends_with_the_window_at_ssthresh() {
    // The window opened past five segments first.
    let (mut b, una, id) = established_warm(40);
    let before = b.connections()[1].cwnd;
    b.send(ms(100), id, &[5u8; 5 * 1448]).unwrap();
    assert_eq!(out(&mut b).len(), 5);
    // The first is lost, the other four SACKed: RACK, recovery, resend.
    let sack = [(una + 1448, una + 5 * 1448)];
    b.receive(
        ms(140),
        A,
        B,
        &raw_ts(Flags::ACK, PEER_ISS + 1, una, (140, 0), &sack, b""),
    );
    let o = out(&mut b);
    assert_eq!((o.len(), o[0].seq), (1, una));
    assert_eq!(b.counters().fast_retransmits, 1);
    // The resend arrives: everything is acknowledged.
    b.receive(ms(180), A, B, &ack_with_window(una + 5 * 1448, 60000));
    let after = b.connections()[1].cwnd;
    let beta = (f64::from(before) * 0.7) as u32;
    assert!(after + 1 >= beta && after <= before, "{before} -> {after}");
}
