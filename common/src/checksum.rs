//! Internet checksum arithmetic (RFC 1071) and its incremental update
//! (RFC 1624).
//!
//! One's-complement sums do not depend on byte order as long as every word
//! is read the same way (RFC 1071 2.(B)), so these functions work on 16-bit
//! words loaded in whatever order the caller uses, as long as it is
//! consistent. The userspace wire code reads big-endian words; the XDP
//! program reads native-endian words, like the kernel's `csum_partial`.

/// Adds the bytes of `data` to a 32-bit running sum as big-endian 16-bit
/// words, padding an odd trailing byte with zero (RFC 1071 4.1).
///
/// It reads eight bytes at a time into a 64-bit sum with end-around carry
/// and folds that at the end (RFC 1071 2.(C): since 2^16 = 1 modulo
/// 0xffff, a 64-bit big-endian word adds what its four 16-bit words add).
/// One add per eight bytes instead of four: this runs over every segment
/// the stack sends and receives.
pub fn sum_be(acc: u32, data: &[u8]) -> u32 {
    let mut sum = acc as u64;
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_be_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        sum = add64(sum, w);
    }
    let mut words = chunks.remainder().chunks_exact(2);
    for w in &mut words {
        sum = add64(sum, u16::from_be_bytes([w[0], w[1]]) as u64);
    }
    if let [last] = words.remainder() {
        sum = add64(sum, u16::from_be_bytes([*last, 0]) as u64);
    }
    // Two halves, then the carry of that: at most 2^32 - 1.
    let sum = (sum >> 32) + (sum & 0xffff_ffff);
    ((sum >> 32) + (sum & 0xffff_ffff)) as u32
}

/// One's-complement addition of 64-bit partial sums. With a carry the
/// wrapped sum is at most 2^64 - 2, so adding the carry back cannot wrap.
const fn add64(a: u64, b: u64) -> u64 {
    let (s, carry) = a.overflowing_add(b);
    s + carry as u64
}

/// One's-complement addition of two 32-bit partial sums (end-around carry).
pub const fn add(a: u32, b: u32) -> u32 {
    let (s, carry) = a.overflowing_add(b);
    s.wrapping_add(carry as u32)
}

/// Folds a 32-bit partial sum to 16 bits.
pub const fn fold(mut acc: u32) -> u16 {
    acc = (acc & 0xffff) + (acc >> 16);
    acc = (acc & 0xffff) + (acc >> 16);
    acc as u16
}

/// The checksum field value for data whose partial sum is `acc`.
pub const fn finish(acc: u32) -> u16 {
    !fold(acc)
}

/// The RFC 1071 checksum of `data`, as the big-endian field value.
pub fn checksum(data: &[u8]) -> u16 {
    finish(sum_be(0, data))
}

/// True when data that includes its own checksum field sums to all ones
/// (RFC 1071 1.(4)): the verification a receiver does.
pub fn verify(data: &[u8]) -> bool {
    fold(sum_be(0, data)) == 0xffff
}

/// RFC 1624 eqn. 3: the new checksum `HC'` after one 16-bit word changes
/// from `old` to `new`: `HC' = ~(~HC + ~m + m')`. Unlike eqn. 2 of RFC 1141
/// this never produces 0x0000 from a valid header (RFC 1624 3).
pub const fn update16(hc: u16, old: u16, new: u16) -> u16 {
    let acc = add(add(!hc as u32, !old as u32), new as u32);
    !fold(acc)
}

/// RFC 1624 applied to a 32-bit field (an IPv4 address), word by word.
pub const fn update32(hc: u16, old: u32, new: u32) -> u16 {
    let hc = update16(hc, (old >> 16) as u16, (new >> 16) as u16);
    update16(hc, old as u16, new as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 1071 3: the example sum of 00 01 f2 03 f4 f5 f6 f7 is ddf2.
    #[test]
    fn rfc1071_example() {
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(fold(sum_be(0, &data)), 0xddf2);
        assert_eq!(checksum(&data), !0xddf2);
    }

    #[test]
    fn ipv4_header_known_checksum() {
        // The classic example header (UDP, 192.168.0.1 -> 192.168.0.199): checksum 0xb861.
        let mut h = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert_eq!(checksum(&h), 0xb861);
        h[10..12].copy_from_slice(&0xb861u16.to_be_bytes());
        assert!(verify(&h));
    }

    #[test]
    fn sums_that_carry_out_of_64_bits_wrap_around() {
        // 0xffff words: every add carries; the sum stays one's complement
        // -0 (0xffff), never +0, as the word-by-word sum does.
        let ones = [0xffu8; 64];
        assert_eq!(fold(sum_be(0xffff_ffff, &ones)), 0xffff);
        assert_eq!(fold(sum_be(0, &[0u8; 64])), 0);
        assert_eq!(fold(sum_be(1, &ones)), 1);
    }

    #[test]
    fn odd_length_pads_with_zero() {
        assert_eq!(sum_be(0, &[0x12, 0x34, 0x56]), 0x1234 + 0x5600);
    }

    #[test]
    fn update_matches_recompute_exhaustive_small() {
        // A header whose word 4 (TTL/protocol) changes, as the fast path does.
        let mut h = [
            0x45u8, 0x00, 0x00, 0x54, 0x12, 0x34, 0x40, 0x00, 0x3f, 0x01, 0x00, 0x00, 0x0a, 0x0a,
            0x00, 0x02, 0x0a, 0x0a, 0x00, 0x04,
        ];
        let c = checksum(&h);
        h[10..12].copy_from_slice(&c.to_be_bytes());
        for ttl in 0..=255u8 {
            let old = u16::from_be_bytes([h[8], h[9]]);
            let mut n = h;
            n[8] = ttl;
            let new = u16::from_be_bytes([n[8], n[9]]);
            let inc = update16(u16::from_be_bytes([h[10], h[11]]), old, new);
            n[10..12].copy_from_slice(&[0, 0]);
            assert_eq!(inc, checksum(&n), "ttl {ttl}");
        }
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        // RFC 1624: updating one word incrementally equals recomputing the
        // checksum of the changed data from scratch.
        #[test]
        fn incremental_update_equals_recompute(
            mut data in proptest::collection::vec(any::<u8>(), 4..200usize),
            word in any::<prop::sample::Index>(),
            new in any::<u16>(),
        ) {
            if data.len() % 2 == 1 { data.push(0); }
            let words = data.len() / 2;
            let i = word.index(words);
            let hc = checksum(&data);
            let old = u16::from_be_bytes([data[2 * i], data[2 * i + 1]]);
            data[2 * i..2 * i + 2].copy_from_slice(&new.to_be_bytes());
            let inc = update16(hc, old, new);
            // Equal, up to one's complement's two zeros (0x0000 and 0xffff).
            let full = checksum(&data);
            prop_assert!(inc == full || (inc | full == 0xffff && inc & full == 0),
                "inc {inc:#06x} full {full:#06x}");
        }

        // The eight-bytes-at-a-time sum folds to what RFC 1071's
        // word-at-a-time sum folds to, for any start and length.
        #[test]
        fn wide_sum_equals_the_word_by_word_sum(
            data in proptest::collection::vec(any::<u8>(), 0..300usize),
            acc in any::<u32>(),
        ) {
            let mut reference = acc;
            let mut words = data.chunks_exact(2);
            for w in &mut words {
                reference = add(reference, u16::from_be_bytes([w[0], w[1]]) as u32);
            }
            if let [last] = words.remainder() {
                reference = add(reference, u16::from_be_bytes([*last, 0]) as u32);
            }
            prop_assert_eq!(fold(sum_be(acc, &data)), fold(reference));
        }

        #[test]
        fn incremental_update32_keeps_data_valid(
            mut hdr in proptest::collection::vec(any::<u8>(), 20..=20usize),
            new in any::<u32>(),
        ) {
            hdr[10] = 0; hdr[11] = 0;
            let c = checksum(&hdr);
            hdr[10..12].copy_from_slice(&c.to_be_bytes());
            let old = u32::from_be_bytes([hdr[12], hdr[13], hdr[14], hdr[15]]);
            hdr[12..16].copy_from_slice(&new.to_be_bytes());
            let inc = update32(c, old, new);
            hdr[10..12].copy_from_slice(&inc.to_be_bytes());
            prop_assert!(verify(&hdr));
        }
    }
}
