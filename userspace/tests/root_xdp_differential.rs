//! Differential test of the fast path: the live XDP program, run by the
//! kernel on each frame (BPF_PROG_TEST_RUN), against the plain userspace
//! model `xdpstack::fastpath::reference`. Both must give the same verdict,
//! the same counter, the same neighbour event and byte-identical output,
//! over thousands of generated frames: valid ones, ones mutated one byte at
//! a time (with and without their checksums fixed up afterwards), ones cut
//! at every length and ones with random bytes appended. The generator is a
//! seeded PRNG, so a failure names a frame that can be replayed. Root only.

mod support;

use aya::maps::{MapData, RingBuf};
use support::ipv6 as ipv6t;
use support::*;
use xdpstack::fastpath::reference::{Action, NeighFilter};
use xdpstack::fastpath::Fastpath;
use xdpstack::wire::{ArpOp, EtherType, Icmpv4Repr, IpProtocol, MacAddr};
use xdpstack_common::capture::{CaptureHeader, CAPTURE_MAX, DIR_IN, DIR_OUT};
use xdpstack_common::checksum;
use xdpstack_common::config::{
    FastpathConfig, FLAG_CAPTURE, FLAG_CAPTURE_ALL, FLAG_FASTPATH, FLAG_NEIGH_EVENTS,
};
use xdpstack_common::counters::Counter;
use xdpstack_common::layout::ipv6 as l6;
use xdpstack_common::neigh::NeighRecord;

const XDP_PASS: u32 = 2;
const XDP_TX: u32 = 3;
/// BPF_PROG_TEST_RUN refuses frames shorter than an Ethernet header.
const MIN_TEST_FRAME: usize = 14;

/// xorshift64*: small, deterministic, good enough to pick bytes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// The program under one configuration, with its event ring, and the
/// model's memory of published neighbour events.
struct Live {
    fp: Fastpath,
    events: RingBuf<MapData>,
    /// The `CAPTURE` ring: the copies made while `FLAG_CAPTURE` is set.
    capture: RingBuf<MapData>,
    cfg: FastpathConfig,
    model: NeighFilter,
}

impl Live {
    /// `neigh_refresh_ns` is either 0 (every event published) or `u64::MAX`
    /// (a repeat is never refreshed), so the kernel's clock cannot make the
    /// two disagree; the refresh itself is tested in `root_xdp_test_run`.
    fn new(flags: u32, neigh_refresh_ns: u64, ip6: bool) -> Live {
        let addrs: &[[u8; 16]] = if ip6 {
            &[ipv6t::US_IP6, ipv6t::US_LL]
        } else {
            &[]
        };
        let cfg = FastpathConfig::new(US_IP.octets(), US_MAC.octets(), flags)
            .with_neigh_refresh_ns(neigh_refresh_ns)
            .with_ip6(addrs);
        let mut fp = Fastpath::load(cfg).expect("loading the XDP program");
        let events = fp.take_neigh_events().expect("event ring");
        let capture = fp.take_capture_ring().expect("capture ring");
        Live {
            fp,
            events,
            capture,
            cfg,
            model: NeighFilter::default(),
        }
    }

    fn counters(&self) -> Vec<u64> {
        let c = self.fp.counters().expect("counters");
        Counter::ALL.iter().map(|&k| c.get(k)).collect()
    }

    /// Runs one frame through the kernel and the model; an error names the
    /// first difference.
    fn compare(&mut self, frame: &[u8]) -> Result<(), String> {
        let before = self.counters();
        let (verdict, out) = test_run(&self.fp, frame)?;
        let after = self.counters();
        let moved: Vec<Counter> = Counter::ALL
            .iter()
            .zip(before.iter().zip(&after))
            .filter(|(_, (b, a))| a != b)
            .map(|(c, _)| *c)
            .collect();
        // Copies for a capture are not the model's business: checked apart.
        let moved: Vec<Counter> = moved
            .into_iter()
            .filter(|c| !matches!(c, Counter::CaptureFrames | Counter::CaptureLost))
            .collect();
        let (mut events, mut events6) = (Vec::new(), Vec::new());
        while let Some(item) = self.events.next() {
            match NeighRecord::from_bytes(&item) {
                Some(NeighRecord::Arp(ev)) => events.push(ev),
                Some(NeighRecord::Ndp(ev)) => events6.push(ev),
                None => return Err(format!("unreadable event of {} bytes", item.len())),
            }
        }
        let mut copies = Vec::new();
        while let Some(item) = self.capture.next() {
            let hdr = CaptureHeader::from_bytes(&item).ok_or("a short capture record")?;
            let data = item[CaptureHeader::SIZE..][..hdr.caplen as usize].to_vec();
            copies.push((hdr, data));
        }

        // The model's clock stands still: with the refresh intervals `new`
        // allows, time never decides.
        let want = self.model.decide(&self.cfg, frame, 0);
        let (want_verdict, want_bytes, mut want_moved) = match &want.action {
            Action::Tx(bytes) => (XDP_TX, bytes.clone(), vec![want.reason]),
            Action::Pass => (XDP_PASS, frame.to_vec(), vec![want.reason]),
            // No AF_XDP socket in a test run: the redirect falls back to PASS.
            Action::ToUserspace => (
                XDP_PASS,
                frame.to_vec(),
                vec![want.reason, Counter::RedirectNoSocket],
            ),
        };
        if want.neigh.is_some() {
            want_moved.push(Counter::NeighEvents);
        }
        if want.neigh6.is_some() {
            want_moved.push(Counter::Neigh6Events);
        }
        if want.neigh_suppressed {
            // The model has one flag; the frame's type says which counter.
            if frame[12..14] == [0x86, 0xdd] {
                want_moved.push(Counter::Neigh6EventsSuppressed);
            } else {
                want_moved.push(Counter::NeighEventsSuppressed);
            }
        }
        want_moved.sort_by_key(|c| c.index());
        if verdict != want_verdict {
            return Err(format!(
                "verdict: kernel {verdict} model {want_verdict} ({want:?})"
            ));
        }
        if moved != want_moved {
            return Err(format!("counters: kernel {moved:?} model {want_moved:?}"));
        }
        if out != want_bytes {
            let at = out
                .iter()
                .zip(&want_bytes)
                .position(|(a, b)| a != b)
                .unwrap_or(out.len().min(want_bytes.len()));
            return Err(format!(
                "bytes differ at offset {at} (lengths {} and {}):\n kernel {:02x?}\n model  {:02x?}",
                out.len(),
                want_bytes.len(),
                &out[at.saturating_sub(4)..(at + 12).min(out.len())],
                &want_bytes[at.saturating_sub(4)..(at + 12).min(want_bytes.len())]
            ));
        }
        if events != want.neigh.into_iter().collect::<Vec<_>>() {
            return Err(format!("events: kernel {events:?} model {:?}", want.neigh));
        }
        if events6 != want.neigh6.into_iter().collect::<Vec<_>>() {
            return Err(format!(
                "NDP events: kernel {events6:?} model {:?}",
                want.neigh6
            ));
        }
        // With a capture on, the program copies the frame as it came, with
        // the model's verdict and reason, and then the reply it sends.
        let mut want_copies = Vec::new();
        if self.cfg.has(FLAG_CAPTURE) {
            let cap = |f: &[u8]| f[..f.len().min(CAPTURE_MAX)].to_vec();
            let reason = want.reason.index();
            want_copies.push((DIR_IN, frame.len() as u32, want_verdict, reason, cap(frame)));
            if want_verdict == XDP_TX {
                want_copies.push((DIR_OUT, out.len() as u32, XDP_TX, reason, cap(&out)));
            }
        }
        let got_copies: Vec<_> = copies
            .into_iter()
            .map(|(h, d)| (h.dir, h.len, h.action, h.reason, d))
            .collect();
        if got_copies != want_copies {
            return Err(format!(
                "capture copies: kernel {:?} model {:?}",
                got_copies
                    .iter()
                    .map(|c| (c.0, c.1, c.2, c.3))
                    .collect::<Vec<_>>(),
                want_copies
                    .iter()
                    .map(|c| (c.0, c.1, c.2, c.3))
                    .collect::<Vec<_>>()
            ));
        }
        Ok(())
    }
}

/// Fixes the IPv4 header and ICMP checksums of an IPv4 frame (when they are
/// inside the frame), so mutations reach the checks behind them.
fn fix_checksums(frame: &mut [u8]) {
    if frame.len() >= 54 && frame[12..14] == [0x86, 0xdd] {
        // ICMPv6 directly after the IPv6 header: its checksum.
        let plen = usize::from(u16::from_be_bytes([frame[18], frame[19]]));
        if frame[20] == 58 && plen >= 4 && 54 + plen <= frame.len() {
            let mut src = [0u8; 16];
            let mut dst = [0u8; 16];
            src.copy_from_slice(&frame[22..38]);
            dst.copy_from_slice(&frame[38..54]);
            let m = ipv6t::with_checksum(&src, &dst, frame[54..54 + plen].to_vec());
            frame[54..54 + plen].copy_from_slice(&m);
        }
        return;
    }
    if frame.len() < 34 || frame[12..14] != [0x08, 0x00] {
        return;
    }
    let ihl = usize::from(frame[14] & 0x0f) * 4;
    if ihl < 20 || frame.len() < 14 + ihl {
        return;
    }
    frame[24..26].fill(0);
    let c = checksum::checksum(&frame[14..14 + ihl]);
    frame[24..26].copy_from_slice(&c.to_be_bytes());
    let total = usize::from(u16::from_be_bytes([frame[16], frame[17]]));
    if frame[23] == 1 && total >= ihl + 8 && 14 + total <= frame.len() {
        let m = &mut frame[14 + ihl..14 + total];
        m[2..4].fill(0);
        let c = checksum::checksum(m);
        m[2..4].copy_from_slice(&c.to_be_bytes());
    }
}

/// Valid frames of every kind the fast path distinguishes.
fn base_frames(rng: &mut Rng) -> Vec<Vec<u8>> {
    let mut v = vec![
        arp_request_frame(US_IP),
        arp_request_frame(std::net::Ipv4Addr::new(10, 10, 0, 9)),
        ethernet(
            PEER_MAC,
            US_MAC,
            EtherType::Arp,
            &arp(ArpOp::Request, PEER_MAC, PEER_IP, MacAddr::ZERO, US_IP),
        ),
        // A probe (RFC 5227) and a reply.
        ethernet(
            PEER_MAC,
            MacAddr::BROADCAST,
            EtherType::Arp,
            &arp(
                ArpOp::Request,
                PEER_MAC,
                std::net::Ipv4Addr::UNSPECIFIED,
                MacAddr::ZERO,
                US_IP,
            ),
        ),
        ethernet(
            PEER_MAC,
            US_MAC,
            EtherType::Arp,
            &arp(ArpOp::Reply, PEER_MAC, PEER_IP, US_MAC, US_IP),
        ),
    ];
    for size in [0usize, 1, 2, 3, 4, 7, 8, 56, 255, 256, 257, 1000, 1472] {
        v.push(echo_request_frame(size));
    }
    // ident 0, seq 0, all-zero data: the reply's message sums to zero.
    for size in [0usize, 8, 56] {
        let data = vec![0u8; size];
        let i = icmp(&Icmpv4Repr::EchoRequest {
            ident: 0,
            seq: 0,
            data: &data,
        });
        let ip = ipv4(PEER_IP, US_IP, IpProtocol::Icmp, 64, &i);
        v.push(ethernet(PEER_MAC, US_MAC, EtherType::Ipv4, &ip));
    }
    // Random payloads and identifiers.
    for _ in 0..20 {
        let n = rng.below(600);
        let data = rng.bytes(n);
        let i = icmp(&Icmpv4Repr::EchoRequest {
            ident: rng.next() as u16,
            seq: rng.next() as u16,
            data: &data,
        });
        let ip = ipv4(PEER_IP, US_IP, IpProtocol::Icmp, rng.next() as u8, &i);
        v.push(ethernet(PEER_MAC, US_MAC, EtherType::Ipv4, &ip));
    }
    let udp = ipv4(
        PEER_IP,
        US_IP,
        IpProtocol::Udp,
        64,
        &[0x30, 0x39, 0x27, 0x0f, 0, 12, 0, 0, 1, 2, 3, 4],
    );
    v.push(ethernet(PEER_MAC, US_MAC, EtherType::Ipv4, &udp));
    v.extend(ipv6_frames(rng));
    v
}

/// IPv6 frames: solicitations (to the group, unicast, probes, other
/// targets, with more options), adverts, echo to both addresses, an
/// extension header, UDP, echo to all nodes.
fn ipv6_frames(rng: &mut Rng) -> Vec<Vec<u8>> {
    use ipv6t::*;
    let group = l6::solicited_node(&US_IP6);
    let mut two_opts = slla(PEER_MAC.0);
    two_opts.extend(nonce());
    let mut other = US_IP6;
    other[2] = 0x77;
    let mut v = vec![
        ns_frame(US_IP6),
        ns_frame(US_LL),
        icmpv6_frame(PEER_IP6, US_IP6, 255, ns_msg(US_IP6, &[])),
        icmpv6_frame(PEER_LL, US_LL, 255, ns_msg(US_LL, &slla(PEER_MAC.0))),
        icmpv6_frame(PEER_IP6, group, 255, ns_msg(US_IP6, &two_opts)),
        icmpv6_frame(PEER_IP6, group, 255, ns_msg(other, &slla(PEER_MAC.0))),
        icmpv6_frame(
            PEER_IP6,
            l6::ALL_NODES,
            255,
            ns_msg(US_IP6, &slla(PEER_MAC.0)),
        ),
        dad_frame(US_IP6, &[]),
        dad_frame(US_LL, &nonce()),
        dad_frame(US_IP6, &slla(PEER_MAC.0)),
        na_frame(PEER_IP6, US_IP6, 0x60, PEER_MAC.0),
        na_frame(PEER_LL, l6::ALL_NODES, 0x20, PEER_MAC.0),
        na_frame(PEER_IP6, l6::ALL_NODES, 0xa0, [2, 0, 0, 0, 0, 9]),
    ];
    for size in [0usize, 1, 8, 56, 255, 256, 1000, 1452] {
        v.push(echo6_frame(US_IP6, size));
    }
    v.push(echo6_frame(US_LL, 56));
    let mut to_all = vec![128, 0, 0, 0, 0, 1, 0, 1];
    to_all.extend_from_slice(b"ping all");
    v.push(icmpv6_frame(PEER_IP6, l6::ALL_NODES, 64, to_all));
    for _ in 0..8 {
        let n = rng.below(300);
        let mut m = vec![128, 0, 0, 0];
        m.extend(rng.bytes(4 + n));
        v.push(icmpv6_frame(PEER_IP6, US_IP6, rng.next() as u8, m));
    }
    // Hop-by-hop options before an echo request (RFC 8200 4.3).
    let echo = with_checksum(&PEER_IP6, &US_IP6, vec![128, 0, 0, 0, 0, 1, 0, 1]);
    let mut ext = vec![58, 0, 1, 4, 0, 0, 0, 0];
    ext.extend(echo);
    v.push(ipv6_frame(
        PEER_MAC.0, US_MAC.0, PEER_IP6, US_IP6, 0, 64, &ext,
    ));
    v.push(ipv6_frame(
        PEER_MAC.0,
        US_MAC.0,
        PEER_IP6,
        US_IP6,
        17,
        64,
        &[0x30, 0x39, 0x27, 0x0f, 0, 12, 0, 0, 1, 2, 3, 4],
    ));
    v
}

fn check(live: &mut Live, frame: &[u8], what: &str, failures: &mut Vec<String>) {
    if frame.len() < MIN_TEST_FRAME {
        return;
    }
    if let Err(e) = live.compare(frame) {
        if failures.len() < 20 {
            failures.push(format!("{what}: {e}\n frame {frame:02x?}"));
        } else if failures.len() == 20 {
            failures.push("(more failures left out)".into());
        }
    }
}

#[test]
fn root_fast_path_matches_the_reference_model() {
    if !root_or_skip("root_fast_path_matches_the_reference_model") {
        return;
    }
    let mut rng = Rng(0x5eed_f00d_cafe_d00d);
    let bases = base_frames(&mut rng);
    let mut failures = Vec::new();
    let mut runs = 0usize;
    // Repeated ARP senders are suppressed under the first configuration and
    // all published under the third.
    let mut suppressed = 0;
    let mut suppressed6 = 0;
    for (flags, refresh, ip6) in [
        (FLAG_FASTPATH | FLAG_NEIGH_EVENTS, u64::MAX, true),
        (FLAG_FASTPATH, u64::MAX, true),
        (FLAG_NEIGH_EVENTS, 0, true),
        (FLAG_CAPTURE_ALL | FLAG_FASTPATH, u64::MAX, true),
        (FLAG_FASTPATH | FLAG_NEIGH_EVENTS, u64::MAX, false),
        // A capture client connected: the same verdicts, and copies.
        (
            FLAG_CAPTURE | FLAG_FASTPATH | FLAG_NEIGH_EVENTS,
            u64::MAX,
            true,
        ),
    ] {
        let mut live = Live::new(flags, refresh, ip6);
        // Capture-all, fast path off and IPv6 off are simple: fewer frames
        // suffice.
        let thorough = flags & FLAG_FASTPATH != 0 && flags & FLAG_CAPTURE_ALL == 0 && ip6;
        for (b, base) in bases.iter().enumerate() {
            check(
                &mut live,
                base,
                &format!("flags {flags:#x} base {b}"),
                &mut failures,
            );
            runs += 1;
            if !thorough {
                continue;
            }
            // Every byte of the headers (and a few of the payload) mutated,
            // left broken and with checksums fixed up.
            // IPv6: the header, and the ND header, target and options.
            let upto = if base[12..14] == [0x86, 0xdd] {
                base.len().min(14 + 40 + 40)
            } else {
                base.len().min(14 + 28 + 16)
            };
            for at in 0..upto {
                for value in [
                    base[at] ^ 0x01,
                    base[at] ^ 0x80,
                    0x00,
                    0xff,
                    rng.next() as u8,
                ] {
                    let mut m = base.clone();
                    m[at] = value;
                    check(
                        &mut live,
                        &m,
                        &format!("base {b} byte {at} = {value:#04x}"),
                        &mut failures,
                    );
                    fix_checksums(&mut m);
                    check(
                        &mut live,
                        &m,
                        &format!("base {b} byte {at} = {value:#04x}, fixed"),
                        &mut failures,
                    );
                    runs += 2;
                }
            }
            // Cut at every length.
            for len in MIN_TEST_FRAME..base.len() {
                check(
                    &mut live,
                    &base[..len],
                    &format!("base {b} cut at {len}"),
                    &mut failures,
                );
                runs += 1;
            }
            // Random bytes appended (Ethernet padding, trailers).
            for _ in 0..8 {
                let mut m = base.clone();
                let n = 1 + rng.below(64);
                m.extend(rng.bytes(n));
                check(
                    &mut live,
                    &m,
                    &format!("base {b} + {n} bytes"),
                    &mut failures,
                );
                runs += 1;
            }
        }
        // Random frames with a valid header prefix of a random base.
        for i in 0..300 {
            let base = &bases[rng.below(bases.len())];
            let keep = rng.below(base.len());
            let mut m = base[..keep].to_vec();
            let n = rng.below(200);
            m.extend(rng.bytes(n));
            if rng.below(2) == 0 {
                fix_checksums(&mut m);
            }
            check(
                &mut live,
                &m,
                &format!("flags {flags:#x} random {i}"),
                &mut failures,
            );
            runs += 1;
        }
        let c = live.fp.counters().expect("counters");
        suppressed += c.get(Counter::NeighEventsSuppressed);
        suppressed6 += c.get(Counter::Neigh6EventsSuppressed);
    }
    println!(
        "{runs} frames compared, {} differences, {suppressed} ARP and {suppressed6} NDP events suppressed",
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(runs > 5000, "only {runs} frames");
    assert!(suppressed > 0, "no repeated ARP sender was suppressed");
    assert!(suppressed6 > 0, "no repeated NDP binding was suppressed");
}
