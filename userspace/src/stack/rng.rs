//! The stack's randomness, injected: one seeded generator, so the daemon
//! seeds it from the kernel (getrandom) and tests replay a run from a
//! fixed seed. It draws the IP identification start, the RFC 6528 ISN key,
//! the `xdpstack ping` identifier and ephemeral ports (RFC 6056 3.3.1).
//!
//! ChaCha20 (RFC 8439) as a generator: its outputs do not reveal its state,
//! so values seen on the wire (ports, idents) tell nothing about the ISN key
//! drawn from the same seed.

use chacha20::rand_core::{Rng as _, SeedableRng};
use chacha20::ChaCha20Rng;

/// The generator's seed: 256 bits.
pub type Seed = [u8; 32];

/// A cryptographic, seeded random generator.
#[derive(Debug)]
pub struct Rng(ChaCha20Rng);

impl Rng {
    pub fn from_seed(seed: Seed) -> Rng {
        Rng(ChaCha20Rng::from_seed(seed))
    }

    /// For tests and the fuzzer: a whole seed from one number.
    pub fn seed_from_u64(n: u64) -> Seed {
        let mut seed = [0u8; 32];
        seed[..8].copy_from_slice(&n.to_le_bytes());
        seed
    }

    /// An independent generator for a part of the stack that keeps its own
    /// (TCP), seeded from this one.
    pub fn fork(&mut self) -> Rng {
        Rng::from_seed(self.bytes())
    }

    pub fn u16(&mut self) -> u16 {
        self.0.next_u32() as u16
    }

    pub fn u32(&mut self) -> u32 {
        self.0.next_u32()
    }

    pub fn u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    pub fn bytes<const N: usize>(&mut self) -> [u8; N] {
        let mut b = [0u8; N];
        self.0.fill_bytes(&mut b);
        b
    }

    /// A number in `range` (uniform but for a bias below 2^-47 for ranges
    /// of 16-bit numbers).
    pub fn in_range(&mut self, range: std::ops::RangeInclusive<u16>) -> u16 {
        let (lo, hi) = (*range.start(), *range.end());
        if hi <= lo {
            return lo;
        }
        let span = u64::from(hi - lo) + 1;
        lo + (self.u64() % span) as u16
    }
}

/// RFC 6056 3.3.1 (algorithm 1): start at a random port of `range` and take
/// the first one `free` accepts, so the next port cannot be guessed from
/// the last one. `None` when every port is taken.
pub fn ephemeral_port(
    rng: &mut Rng,
    range: std::ops::RangeInclusive<u16>,
    mut free: impl FnMut(u16) -> bool,
) -> Option<u16> {
    let (lo, hi) = (*range.start(), *range.end());
    let mut p = rng.in_range(range);
    for _ in 0..=u32::from(hi.saturating_sub(lo)) {
        if free(p) {
            return Some(p);
        }
        p = if p >= hi { lo } else { p + 1 };
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence_other_seed_other_sequence() {
        let mut a = Rng::from_seed(Rng::seed_from_u64(1));
        let mut b = Rng::from_seed(Rng::seed_from_u64(1));
        let mut c = Rng::from_seed(Rng::seed_from_u64(2));
        let xa: Vec<u64> = (0..4).map(|_| a.u64()).collect();
        let xb: Vec<u64> = (0..4).map(|_| b.u64()).collect();
        let xc: Vec<u64> = (0..4).map(|_| c.u64()).collect();
        assert_eq!(xa, xb);
        assert_ne!(xa, xc);
        // A fork is its own stream, not a copy of the parent's.
        let mut f = a.fork();
        assert_ne!(f.u64(), a.u64());
    }

    #[test]
    fn chacha20_matches_rfc_8439_keystream() {
        // RFC 8439 2.4.2's key, nonce 0, block 0 (rand_core's ChaCha20Rng is
        // the keystream of that key with a zero nonce). The first keystream
        // word of an all-zero key and nonce is 0xade0b876 (RFC 8439 A.1 #1).
        let mut r = Rng::from_seed([0; 32]);
        assert_eq!(r.u32(), 0xade0_b876);
    }

    #[test]
    fn ranges_and_ephemeral_ports() {
        let mut r = Rng::from_seed(Rng::seed_from_u64(9));
        for _ in 0..1000 {
            let p = r.in_range(49152..=65535);
            assert!((49152..=65535).contains(&p));
        }
        assert_eq!(r.in_range(7..=7), 7);
        // Every port but one taken: that one is found whatever the start.
        for _ in 0..20 {
            assert_eq!(ephemeral_port(&mut r, 100..=199, |p| p == 150), Some(150));
        }
        assert_eq!(ephemeral_port(&mut r, 100..=199, |_| false), None);
        // Starts differ from one call to the next.
        let picks: std::collections::HashSet<u16> = (0..50)
            .filter_map(|_| ephemeral_port(&mut r, 49152..=65535, |_| true))
            .collect();
        assert!(picks.len() > 40, "{picks:?}");
    }
}
