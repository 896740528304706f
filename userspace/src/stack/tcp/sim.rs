//! A simulated network for the engine's tests: two [`Tcp`]s joined by a
//! link with delay and reordering drawn from a seeded xorshift generator,
//! loss and duplication from the fault-injecting device wrapper each side
//! sends through, and a fake clock that jumps to the next event.
//!
//! The seed also draws both ends' ISN keys and ephemeral ports, so
//! [`run_with_many_seeds`] runs one test over many sequence spaces (near
//! the 2^32 wrap too), port choices and loss patterns.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use super::{Tcp, TcpConfig};
use crate::device::{Device, FaultConfig, Faulty, FrameQueue, TxToken};
use crate::stack::rng::Rng;
use crate::stack::time::Instant;
use crate::wire::tcp::{Packet, TcpRepr};

pub const A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
pub const B: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

/// xorshift64* (Vigna): deterministic and good enough to drop packets with.
pub struct XorShift(u64);

impl XorShift {
    pub fn new(seed: u64) -> XorShift {
        XorShift(seed.max(1))
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// True with probability `per_mille` / 1000.
    pub fn chance(&mut self, per_mille: u32) -> bool {
        self.next() % 1000 < u64::from(per_mille)
    }
}

/// Seeds each test runs with; `XDPSTACK_SIM_SEEDS=n` runs more (or fewer).
pub const SEEDS: u64 = 16;

/// Runs `test` once per seed (like netstack3's `run_with_many_seeds`),
/// saying which seed failed.
pub fn run_with_many_seeds(test: impl Fn(u64)) {
    let n = std::env::var("XDPSTACK_SIM_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(SEEDS);
    run_with_seeds(0..n, test);
}

/// Runs `test` once per seed of `seeds`, saying which seed failed.
pub fn run_with_seeds(seeds: impl IntoIterator<Item = u64>, test: impl Fn(u64)) {
    for seed in seeds {
        /// Prints the seed when the test panics (and unwinds through it).
        struct Say(u64);
        impl Drop for Say {
            fn drop(&mut self) {
                if std::thread::panicking() {
                    eprintln!("failed with seed {}", self.0);
                }
            }
        }
        let _say = Say(seed);
        test(seed);
    }
}

/// FNV-1a, 64 bits: to compare large transfers.
pub fn fnv1a(data: &[u8]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for &b in data {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Bytes that differ everywhere, so misplaced data shows.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut r = XorShift::new(seed);
    (0..len).map(|_| r.next() as u8).collect()
}

#[derive(Clone, Copy, Debug, Default)]
pub struct LinkConfig {
    pub delay: Duration,
    /// Per mille of packets lost.
    pub loss: u32,
    /// Per mille of packets held back by `reorder_extra`.
    pub reorder: u32,
    pub reorder_extra: Duration,
    /// Per mille of packets delivered twice.
    pub duplicate: u32,
}

impl LinkConfig {
    pub fn clean(delay_ms: u64) -> LinkConfig {
        LinkConfig {
            delay: Duration::from_millis(delay_ms),
            ..LinkConfig::default()
        }
    }
}

type Filter = Box<dyn FnMut(&TcpRepr) -> bool>;
/// A segment on the link: (deliver at, order sent, towards B, bytes).
type InFlight = Reverse<(Instant, u64, bool, Vec<u8>)>;

pub struct Sim {
    pub now: Instant,
    pub a: Tcp,
    pub b: Tcp,
    pub link: LinkConfig,
    rng: XorShift,
    /// Per mille of segments damaged by one flipped bit (both ways).
    pub corrupt: u32,
    /// What A and B send through: loss and duplication per `link`.
    dev_a: Faulty<FrameQueue>,
    dev_b: Faulty<FrameQueue>,
    /// (deliver at, order, towards B, bytes)
    flight: BinaryHeap<InFlight>,
    order: u64,
    /// Returns true for a segment from A to B that the link must drop.
    pub drop_a_to_b: Option<Filter>,
    pub drop_b_to_a: Option<Filter>,
    /// Every segment put on the link: (towards B, bytes).
    pub trace: Vec<(bool, Vec<u8>)>,
    pub record: bool,
    pub steps: u64,
}

pub fn config(ip: Ipv4Addr) -> TcpConfig {
    let mut key = [0u8; 16];
    key[0] = ip.octets()[3];
    TcpConfig::new(ip, 1500, key)
}

impl Sim {
    pub fn new(link: LinkConfig, seed: u64) -> Sim {
        Sim::with_configs(config(A), config(B), link, seed)
    }

    /// The seed draws the link's loss pattern, both ISN keys (replacing the
    /// configs') and both ends' ephemeral ports.
    pub fn with_configs(mut a: TcpConfig, mut b: TcpConfig, link: LinkConfig, seed: u64) -> Sim {
        let mut rng = Rng::from_seed(Rng::seed_from_u64(seed));
        a.isn_secret = rng.bytes();
        b.isn_secret = rng.bytes();
        Sim {
            now: Instant::from_secs(1),
            a: Tcp::with_rng(a, rng.fork()),
            b: Tcp::with_rng(b, rng.fork()),
            link,
            rng: XorShift::new(seed),
            corrupt: 0,
            dev_a: Faulty::new(
                FrameQueue::new(usize::MAX, usize::MAX),
                FaultConfig {
                    seed: seed.wrapping_mul(2).wrapping_add(1),
                    ..FaultConfig::default()
                },
            ),
            dev_b: Faulty::new(
                FrameQueue::new(usize::MAX, usize::MAX),
                FaultConfig {
                    seed: seed.wrapping_mul(2).wrapping_add(2),
                    ..FaultConfig::default()
                },
            ),
            flight: BinaryHeap::new(),
            order: 0,
            drop_a_to_b: None,
            drop_b_to_a: None,
            trace: Vec::new(),
            record: false,
            steps: 0,
        }
    }

    pub fn addr_a(port: u16) -> SocketAddrV4 {
        SocketAddrV4::new(A, port)
    }

    pub fn addr_b(port: u16) -> SocketAddrV4 {
        SocketAddrV4::new(B, port)
    }

    /// Puts what both sides sent on the link.
    fn transmit(&mut self) {
        let mut out = Vec::new();
        for to_b in [true, false] {
            out.clear();
            if to_b {
                self.a.drain_output(&mut out);
            } else {
                self.b.drain_output(&mut out);
            }
            for (_, bytes) in out.drain(..) {
                let (src, dst) = if to_b { (A, B) } else { (B, A) };
                let filter = if to_b {
                    &mut self.drop_a_to_b
                } else {
                    &mut self.drop_b_to_a
                };
                if let Some(f) = filter {
                    let p = Packet::new_checked(&bytes[..]).expect("engine output parses");
                    let r = TcpRepr::parse(&p, src, dst).expect("engine output checks");
                    if f(&r) {
                        continue;
                    }
                }
                if self.record {
                    self.trace.push((to_b, bytes.clone()));
                }
                // Onto the wire through the sender's device, which loses
                // and duplicates at the link's rates.
                let dev = if to_b {
                    &mut self.dev_a
                } else {
                    &mut self.dev_b
                };
                dev.set_config(FaultConfig {
                    drop: self.link.loss,
                    duplicate: self.link.duplicate,
                    corrupt: self.corrupt,
                    ..FaultConfig::default()
                });
                if let Some(t) = dev.transmit() {
                    t.consume(bytes.len(), |b| b.copy_from_slice(&bytes));
                }
                for bytes in dev.inner.take() {
                    let mut at = self.now + self.link.delay;
                    if self.rng.chance(self.link.reorder) {
                        at = at + self.link.reorder_extra;
                    }
                    self.order += 1;
                    self.flight.push(Reverse((at, self.order, to_b, bytes)));
                }
            }
        }
    }

    /// Advances the clock to the next event and runs it.
    pub fn step(&mut self) {
        self.steps += 1;
        self.transmit();
        let next = [
            self.flight.peek().map(|p| p.0 .0),
            self.a.poll_at(),
            self.b.poll_at(),
        ]
        .into_iter()
        .flatten()
        .min();
        self.now = match next {
            Some(t) if t > self.now => t,
            Some(_) => self.now,
            None => self.now + Duration::from_millis(1),
        };
        while self.flight.peek().is_some_and(|p| p.0 .0 <= self.now) {
            let Some(Reverse((_, _, to_b, bytes))) = self.flight.pop() else {
                break;
            };
            if to_b {
                self.b.receive(self.now, A, B, &bytes);
            } else {
                self.a.receive(self.now, B, A, &bytes);
            }
        }
        self.a.poll(self.now);
        self.b.poll(self.now);
        self.transmit();
    }

    /// Runs `f` then a step, until `f` says done; false after `max_steps`.
    pub fn run(&mut self, max_steps: u64, mut f: impl FnMut(&mut Sim) -> bool) -> bool {
        for _ in 0..max_steps {
            if f(self) {
                return true;
            }
            self.step();
        }
        f(self)
    }

    /// Advances simulated time by `d`, running every event on the way.
    pub fn advance(&mut self, d: Duration) {
        let until = self.now + d;
        let mut guard = 0;
        while self.now < until && guard < 1_000_000 {
            guard += 1;
            self.transmit();
            let next = [
                self.flight.peek().map(|p| p.0 .0),
                self.a.poll_at(),
                self.b.poll_at(),
            ]
            .into_iter()
            .flatten()
            .min();
            if next.is_none_or(|t| t > until) {
                self.now = until;
                self.a.poll(self.now);
                self.b.poll(self.now);
                self.transmit();
                break;
            }
            self.step();
        }
    }

    /// Every segment traced so far, parsed, with its direction.
    pub fn parsed_trace(&self) -> Vec<(bool, TcpRepr<'_>)> {
        self.trace
            .iter()
            .map(|(to_b, bytes)| {
                let (src, dst) = if *to_b { (A, B) } else { (B, A) };
                let p = Packet::new_checked(&bytes[..]).expect("parses");
                (*to_b, TcpRepr::parse(&p, src, dst).expect("checks"))
            })
            .collect()
    }
}
