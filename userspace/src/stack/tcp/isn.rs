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

/// SipHash-2-4 of `data` under a 128-bit `key` (the `siphasher` crate;
/// `Hasher::write` hashes the bytes as they are, with no length prefix).
pub fn siphash24(key: &[u8; 16], data: &[u8]) -> u64 {
    use std::hash::Hasher;
    let mut h = siphasher::sip::SipHasher24::new_with_key(key);
    h.write(data);
    h.finish()
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
        // Past one 8-byte block too (vectors.h, messages of 8 and 63 bytes).
        assert_eq!(siphash24(&key(), &msg[..8]), 0x93f5_f579_9a93_2462);
        assert_eq!(siphash24(&key(), &msg[..63]), 0x958a_324c_eb06_4572);
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
