//! Initial sequence numbers per RFC 6528 3: `ISN = M + F(localip,
//! localport, remoteip, remoteport, secretkey)`, where M is a timer that
//! ticks every 4 µs and F is a keyed hash, here SipHash-2-4 (Aumasson and
//! Bernstein, 2012) truncated to 32 bits.

use std::net::SocketAddrV4;

use crate::stack::time::Instant;

/// The ISN for a connection between `local` and `remote` at `now`.
pub fn isn(key: &[u8; 16], local: SocketAddrV4, remote: SocketAddrV4, now: Instant) -> u32 {
    let mut m = [0u8; 12];
    m[..4].copy_from_slice(&local.ip().octets());
    m[4..6].copy_from_slice(&local.port().to_be_bytes());
    m[6..10].copy_from_slice(&remote.ip().octets());
    m[10..12].copy_from_slice(&remote.port().to_be_bytes());
    let clock = (now.micros() / 4) as u32;
    clock.wrapping_add(siphash24(key, &m) as u32)
}

/// SipHash-2-4 of `data` under a 128-bit `key`.
pub fn siphash24(key: &[u8; 16], data: &[u8]) -> u64 {
    let k0 = u64::from_le_bytes([
        key[0], key[1], key[2], key[3], key[4], key[5], key[6], key[7],
    ]);
    let k1 = u64::from_le_bytes([
        key[8], key[9], key[10], key[11], key[12], key[13], key[14], key[15],
    ]);
    let mut v = [
        k0 ^ 0x736f_6d65_7073_6575,
        k1 ^ 0x646f_7261_6e64_6f6d,
        k0 ^ 0x6c79_6765_6e65_7261,
        k1 ^ 0x7465_6462_7974_6573,
    ];
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let m = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        v[3] ^= m;
        sip_round(&mut v);
        sip_round(&mut v);
        v[0] ^= m;
    }
    // The last block: the remaining bytes, little-endian, and the length in the top byte.
    let mut last = (data.len() as u64) << 56;
    for (i, &b) in chunks.remainder().iter().enumerate() {
        last |= u64::from(b) << (8 * i);
    }
    v[3] ^= last;
    sip_round(&mut v);
    sip_round(&mut v);
    v[0] ^= last;
    v[2] ^= 0xff;
    for _ in 0..4 {
        sip_round(&mut v);
    }
    v[0] ^ v[1] ^ v[2] ^ v[3]
}

fn sip_round(v: &mut [u64; 4]) {
    v[0] = v[0].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(13) ^ v[0];
    v[0] = v[0].rotate_left(32);
    v[2] = v[2].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(16) ^ v[2];
    v[0] = v[0].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(21) ^ v[0];
    v[2] = v[2].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(17) ^ v[2];
    v[2] = v[2].rotate_left(32);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn key() -> [u8; 16] {
        core::array::from_fn(|i| i as u8)
    }

    // The reference vectors of the SipHash paper (appendix A and vectors.h):
    // key 00..0f, messages 00, 00 01, ... of growing length.
    #[test]
    fn reference_vectors() {
        let msg: Vec<u8> = (0..64).collect();
        assert_eq!(siphash24(&key(), &msg[..0]), 0x726f_db47_dd0e_0e31);
        assert_eq!(siphash24(&key(), &msg[..15]), 0xa129_ca61_49be_45e5);
    }

    #[test]
    fn isn_depends_on_tuple_and_clock() {
        let a = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 80);
        let b = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 40000);
        let c = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 40001);
        let t = Instant::from_secs(1);
        assert_ne!(isn(&key(), a, b, t), isn(&key(), a, c, t));
        assert_ne!(isn(&key(), a, b, t), isn(&[7; 16], a, b, t));
        // M advances one per 4 µs.
        let later = t + std::time::Duration::from_micros(400);
        assert_eq!(
            isn(&key(), a, b, later).wrapping_sub(isn(&key(), a, b, t)),
            100
        );
    }
}
