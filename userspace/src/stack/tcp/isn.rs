//! Initial sequence numbers per RFC 6528 3: `ISN = M + F(localip,
//! localport, remoteip, remoteport, secretkey)`, where M is a timer that
//! ticks every 4 µs and F is a keyed hash, here SipHash-2-4 (Aumasson and
//! Bernstein, 2012) truncated to 32 bits.

use std::net::{IpAddr, SocketAddr};

use crate::stack::time::Instant;

/// The ISN for a connection between `local` and `remote` at `now`. The
/// hashed message is address, port, address, port: 12 bytes for IPv4,
/// 36 for IPv6.
pub fn isn(key: &[u8; 16], local: SocketAddr, remote: SocketAddr, now: Instant) -> u32 {
    let mut m = [0u8; TUPLE_MAX];
    let n = tuple_bytes(local, remote, &mut m);
    let clock = (now.micros() / 4) as u32;
    clock.wrapping_add(siphash24(key, &m[..n]) as u32)
}

/// The most bytes [`tuple_bytes`] writes (two IPv6 endpoints).
pub const TUPLE_MAX: usize = 36;

/// Writes address, port, address, port into `m` (12 bytes for IPv4, 36 for
/// IPv6): the connection's identity for the keyed hashes (ISN, SYN
/// cookies, timestamp offsets). Returns how many bytes it wrote.
pub fn tuple_bytes(local: SocketAddr, remote: SocketAddr, m: &mut [u8; TUPLE_MAX]) -> usize {
    let mut n = 0;
    for end in [local, remote] {
        match end.ip() {
            IpAddr::V4(a) => {
                m[n..n + 4].copy_from_slice(&a.octets());
                n += 4;
            }
            IpAddr::V6(a) => {
                m[n..n + 16].copy_from_slice(&a.octets());
                n += 16;
            }
        }
        m[n..n + 2].copy_from_slice(&end.port().to_be_bytes());
        n += 2;
    }
    n
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
    use std::net::{Ipv4Addr, Ipv6Addr};

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
        let a = SocketAddr::new(Ipv4Addr::new(10, 0, 0, 1).into(), 80);
        let b = SocketAddr::new(Ipv4Addr::new(10, 0, 0, 2).into(), 40000);
        let c = SocketAddr::new(Ipv4Addr::new(10, 0, 0, 2).into(), 40001);
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

    #[test]
    fn ipv4_message_is_unchanged_and_ipv6_hashes_whole_addresses() {
        // IPv4: the 12 bytes RFC 6528 names, as before the address enums.
        let a = SocketAddr::new(Ipv4Addr::new(10, 0, 0, 1).into(), 80);
        let b = SocketAddr::new(Ipv4Addr::new(10, 0, 0, 2).into(), 40000);
        let m = [10, 0, 0, 1, 0, 80, 10, 0, 0, 2, 0x9c, 0x40];
        assert_eq!(
            isn(&key(), a, b, Instant::ZERO),
            siphash24(&key(), &m) as u32
        );
        // IPv6: addresses differing only in their last bytes differ.
        let x: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let y: Ipv6Addr = "2001:db8::2".parse().unwrap();
        let z: Ipv6Addr = "2001:db8::3".parse().unwrap();
        let t = Instant::ZERO;
        assert_ne!(
            isn(
                &key(),
                SocketAddr::new(x.into(), 80),
                SocketAddr::new(y.into(), 1),
                t
            ),
            isn(
                &key(),
                SocketAddr::new(x.into(), 80),
                SocketAddr::new(z.into(), 1),
                t
            )
        );
    }
}
