//! A device wrapper that damages traffic on a seeded pattern: drops,
//! duplicates and corrupts frames, so tests see loss and damage without
//! hooks inside the stack.

use super::{Device, TxToken};

/// Per mille of frames each fault hits, and the seed of the pattern.
#[derive(Clone, Copy, Debug, Default)]
pub struct FaultConfig {
    pub drop: u32,
    pub duplicate: u32,
    pub corrupt: u32,
    pub seed: u64,
}

/// What the wrapper did, for tests to check against.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FaultCounters {
    pub dropped: u64,
    pub duplicated: u64,
    pub corrupted: u64,
    /// Duplicates the inner device had no buffer for.
    pub duplicate_lost: u64,
}

/// `inner` with faults injected on the way out.
pub struct Faulty<D> {
    pub inner: D,
    cfg: FaultConfig,
    rng: u64,
    counters: FaultCounters,
}

impl<D: Device> Faulty<D> {
    pub fn new(inner: D, cfg: FaultConfig) -> Faulty<D> {
        Faulty {
            inner,
            cfg,
            rng: cfg.seed.max(1),
            counters: FaultCounters::default(),
        }
    }

    pub fn counters(&self) -> FaultCounters {
        self.counters
    }

    /// New rates from now on; the pattern continues (the seed is not reused).
    pub fn set_config(&mut self, cfg: FaultConfig) {
        self.cfg = cfg;
    }

    /// xorshift64* (Vigna): deterministic per seed.
    fn next(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn chance(&mut self, per_mille: u32) -> bool {
        per_mille > 0 && self.next() % 1000 < u64::from(per_mille)
    }
}

/// A token of [`Faulty`]: the frame's fate is drawn when the token is made.
pub struct FaultToken<'a, D: Device> {
    dev: &'a mut Faulty<D>,
    drop: bool,
    duplicate: bool,
    /// Byte index (modulo the length) and bit to flip.
    corrupt: Option<(u64, u8)>,
}

impl<D: Device> TxToken for FaultToken<'_, D> {
    fn consume<R>(self, len: usize, f: impl FnOnce(&mut [u8]) -> R) -> R {
        let dev = self.dev;
        if self.drop {
            // Written and lost, as on the wire.
            dev.counters.dropped += 1;
            return f(&mut vec![0; len]);
        }
        let corrupt = self.corrupt;
        let duplicate = self.duplicate;
        let mut copy = None;
        let r = match dev.inner.transmit() {
            Some(t) => t.consume(len, |buf| {
                let r = f(buf);
                if let (Some((at, bit)), false) = (corrupt, buf.is_empty()) {
                    buf[(at % buf.len() as u64) as usize] ^= 1 << bit;
                }
                if duplicate {
                    copy = Some(buf.to_vec());
                }
                r
            }),
            // `transmit` checked there was room; keep the contract anyway.
            None => f(&mut vec![0; len]),
        };
        if corrupt.is_some() {
            dev.counters.corrupted += 1;
        }
        if let Some(bytes) = copy {
            match dev.inner.transmit() {
                Some(t) => {
                    t.consume(len, |b| b.copy_from_slice(&bytes));
                    dev.counters.duplicated += 1;
                }
                None => dev.counters.duplicate_lost += 1,
            }
        }
        r
    }
}

impl<D: Device> Device for Faulty<D> {
    type TxToken<'a>
        = FaultToken<'a, D>
    where
        Self: 'a;

    fn transmit(&mut self) -> Option<FaultToken<'_, D>> {
        // A full inner device refuses here, so the caller counts it as usual.
        self.inner.transmit()?;
        let drop = self.chance(self.cfg.drop);
        let duplicate = !drop && self.chance(self.cfg.duplicate);
        let corrupt = (!drop && self.chance(self.cfg.corrupt)).then(|| {
            let r = self.next();
            (r >> 8, (r & 7) as u8)
        });
        Some(FaultToken {
            dev: self,
            drop,
            duplicate,
            corrupt,
        })
    }

    fn max_frame_len(&self) -> usize {
        self.inner.max_frame_len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::FrameQueue;

    fn send(dev: &mut impl Device, n: u8) {
        for i in 0..n {
            if let Some(t) = dev.transmit() {
                t.consume(8, |b| b.fill(i));
            }
        }
    }

    #[test]
    fn faults_follow_the_seed_and_are_counted() {
        let cfg = FaultConfig {
            drop: 200,
            duplicate: 100,
            corrupt: 100,
            seed: 42,
        };
        let run = || {
            let mut d = Faulty::new(FrameQueue::new(10_000, 1514), cfg);
            send(&mut d, 200);
            (d.counters(), d.inner.take())
        };
        let (c, frames) = run();
        assert_eq!(run(), (c, frames.clone()), "same seed, same pattern");
        assert!(
            c.dropped > 0 && c.duplicated > 0 && c.corrupted > 0,
            "{c:?}"
        );
        assert_eq!(frames.len() as u64, 200 - c.dropped + c.duplicated);
        // A damaged frame differs from what was written (all bytes equal)
        // in exactly one bit; duplicates of a damaged frame are damaged too.
        let mut damaged = 0;
        for f in &frames {
            let mode = if f[0] == f[1] { f[0] } else { f[2] };
            let bits: u32 = f.iter().map(|b| (b ^ mode).count_ones()).sum();
            assert!(bits <= 1, "{f:?}");
            damaged += u64::from(bits);
        }
        assert!(damaged >= c.corrupted, "{damaged} {c:?}");
    }

    #[test]
    fn a_clean_config_passes_everything() {
        let mut d = Faulty::new(FrameQueue::new(100, 1514), FaultConfig::default());
        send(&mut d, 50);
        assert_eq!(d.inner.len(), 50);
        assert_eq!(d.counters(), FaultCounters::default());
    }

    #[test]
    fn a_full_inner_device_refuses_before_any_fault() {
        let mut d = Faulty::new(
            FrameQueue::new(1, 1514),
            FaultConfig {
                drop: 1000,
                ..FaultConfig::default()
            },
        );
        send(&mut d, 1);
        assert_eq!(
            d.counters().dropped,
            1,
            "dropped: the inner device had room"
        );
        d.inner.transmit().unwrap().consume(1, |b| b[0] = 0);
        assert!(
            d.transmit().is_none(),
            "full: refused, not counted as a fault"
        );
        assert_eq!(d.counters().dropped, 1);
    }
}
