//! SYN cookies (RFC 4987 3.6): when a listener's half-open table is full,
//! the SYN-ACK's sequence number carries what the connection needs, so no
//! state is kept until the peer's ACK returns it (plus one).
//!
//! The 32 bits, as in Bernstein's design that RFC 4987 describes:
//!
//! ```text
//! | t mod 32 (5 bits) | MSS index (3 bits) | MAC (24 bits) |
//! ```
//!
//! `t` counts 64-second periods; the MAC is SipHash-2-4 under the ISN key
//! over a domain label, both endpoints, the peer's ISN, `t` and the MSS
//! index, so a cookie names one SYN and cannot be forged or moved to
//! another connection without the key. A cookie is good for the period it
//! was made in and the next (64 to 128 s, like Linux's MAX_SYNCOOKIE_AGE).
//! What a cookie cannot carry is lost: window scaling, SACK and timestamps
//! are not offered in a cookie's SYN-ACK.

use std::net::SocketAddr;

use super::isn::{siphash24, tuple_bytes, TUPLE_MAX};
use crate::stack::time::Instant;

/// The MSS values a cookie can name (3 bits), smallest first: common
/// Ethernet, tunnel and minimum values.
pub const MSS_TABLE: [u16; 8] = [216, 536, 1024, 1200, 1300, 1400, 1440, 1460];
/// Length of one cookie period.
const PERIOD_US: u64 = 64_000_000;
const MAC_MASK: u32 = 0x00ff_ffff;
/// The longest a cookie can stay valid: to the end of the next period.
pub const LIFETIME: std::time::Duration = std::time::Duration::from_micros(2 * PERIOD_US);

/// The cookie period `now` falls in.
fn period(now: Instant) -> u64 {
    now.micros() / PERIOD_US
}

fn mac(
    key: &[u8; 16],
    local: SocketAddr,
    remote: SocketAddr,
    peer_isn: u32,
    t: u64,
    mss_index: u8,
) -> u32 {
    let mut tuple = [0u8; TUPLE_MAX];
    let n = tuple_bytes(local, remote, &mut tuple);
    let mut m = [0u8; 8 + TUPLE_MAX + 13];
    m[..8].copy_from_slice(b"syncooki");
    m[8..8 + n].copy_from_slice(&tuple[..n]);
    let rest = 8 + n;
    m[rest..rest + 4].copy_from_slice(&peer_isn.to_be_bytes());
    m[rest + 4..rest + 12].copy_from_slice(&t.to_be_bytes());
    m[rest + 12] = mss_index;
    siphash24(key, &m[..rest + 13]) as u32 & MAC_MASK
}

/// The cookie for a SYN from `remote` to `local` with sequence number
/// `peer_isn`, for an MSS of at most `mss`; and the MSS it stands for
/// (the largest in [`MSS_TABLE`] not above `mss`, or the smallest).
pub fn encode(
    key: &[u8; 16],
    local: SocketAddr,
    remote: SocketAddr,
    peer_isn: u32,
    mss: u16,
    now: Instant,
) -> (u32, u16) {
    let index = MSS_TABLE.iter().rposition(|&m| m <= mss).unwrap_or(0) as u8;
    let t = period(now);
    let cookie = ((t as u32 & 31) << 27)
        | (u32::from(index) << 24)
        | mac(key, local, remote, peer_isn, t, index);
    (cookie, MSS_TABLE[usize::from(index)])
}

/// Checks `cookie` (the completing ACK's number minus one) against the
/// connection it claims to be and the time: the MSS it carries if valid.
pub fn decode(
    key: &[u8; 16],
    local: SocketAddr,
    remote: SocketAddr,
    peer_isn: u32,
    cookie: u32,
    now: Instant,
) -> Option<u16> {
    let now_t = period(now);
    let index = ((cookie >> 24) & 7) as u8;
    (0..=1u64)
        .filter_map(|age| now_t.checked_sub(age))
        .find(|t| {
            (*t as u32 & 31) == cookie >> 27
                && mac(key, local, remote, peer_isn, *t, index) == cookie & MAC_MASK
        })
        .map(|_| MSS_TABLE[usize::from(index)])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stack::tcp::sim::XorShift;
    use std::net::Ipv4Addr;
    use std::time::Duration;

    const KEY: [u8; 16] = [9; 16];

    fn local() -> SocketAddr {
        SocketAddr::new(Ipv4Addr::new(10, 10, 0, 4).into(), 80)
    }

    fn remote() -> SocketAddr {
        SocketAddr::new(Ipv4Addr::new(10, 10, 0, 2).into(), 40000)
    }

    #[test]
    fn a_cookie_decodes_to_its_mss_within_its_lifetime() {
        let t0 = Instant::from_secs(1000);
        for (offered, expect) in [
            (1460, 1460),
            (1459, 1440),
            (9000, 1460),
            (100, 216),
            (536, 536),
        ] {
            let (c, mss) = encode(&KEY, local(), remote(), 7, offered, t0);
            assert_eq!(mss, expect);
            assert_eq!(decode(&KEY, local(), remote(), 7, c, t0), Some(expect));
            // Still good in the next period, not after.
            let later = t0 + Duration::from_secs(64);
            assert_eq!(decode(&KEY, local(), remote(), 7, c, later), Some(expect));
            let too_late = t0 + Duration::from_secs(130);
            assert_eq!(decode(&KEY, local(), remote(), 7, c, too_late), None);
        }
    }

    #[test]
    fn a_cookie_is_bound_to_its_connection_key_and_isn() {
        let t0 = Instant::from_secs(5);
        let (c, _) = encode(&KEY, local(), remote(), 7, 1460, t0);
        let other = SocketAddr::new(Ipv4Addr::new(10, 10, 0, 2).into(), 40001);
        assert_eq!(decode(&KEY, local(), other, 7, c, t0), None);
        assert_eq!(decode(&KEY, remote(), local(), 7, c, t0), None);
        assert_eq!(decode(&KEY, local(), remote(), 8, c, t0), None);
        assert_eq!(decode(&[1; 16], local(), remote(), 7, c, t0), None);
        // Another MSS index with the same MAC does not pass.
        assert_eq!(decode(&KEY, local(), remote(), 7, c ^ (1 << 24), t0), None);
    }

    /// Guessing: a random cookie passes with odds of about 2^-28 (the 5
    /// time bits must match one of two periods, then the 24-bit MAC).
    #[test]
    fn random_cookies_are_rejected() {
        let mut rng = XorShift::new(42);
        let t0 = Instant::from_secs(500);
        let passed = (0..200_000)
            .filter(|_| decode(&KEY, local(), remote(), 7, rng.next() as u32, t0).is_some())
            .count();
        assert_eq!(passed, 0);
    }

    #[test]
    fn the_first_period_has_no_previous_one() {
        let (c, _) = encode(&KEY, local(), remote(), 7, 1460, Instant::ZERO);
        assert!(decode(&KEY, local(), remote(), 7, c, Instant::ZERO).is_some());
        // A cookie claiming period 31 at time 0 must not underflow.
        assert_eq!(
            decode(&KEY, local(), remote(), 7, 31 << 27, Instant::ZERO),
            None
        );
    }
}
