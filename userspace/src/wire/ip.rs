//! What the transports need to know about the IP version under them, for
//! both versions: the pseudo-header that TCP and UDP checksums cover and
//! the size of the IP header that MSS and payload limits subtract.
//!
//! Addresses are std's [`IpAddr`] / [`SocketAddr`]: one type for both
//! versions, so tables and sockets need no generics (as smoltcp's
//! `wire::ip::Address`/`Endpoint`).

use std::net::IpAddr;

use xdpstack_common::checksum;

/// The fixed IPv4 header, no options (RFC 791 3.1).
pub const IPV4_HEADER_LEN: usize = 20;
/// The fixed IPv6 header (RFC 8200 3).
pub const IPV6_HEADER_LEN: usize = 40;

/// The IP header size a datagram to or from `addr` carries (IPv4 without
/// options): what MSS and the largest payload subtract from the MTU.
pub const fn header_len(addr: IpAddr) -> usize {
    match addr {
        IpAddr::V4(_) => IPV4_HEADER_LEN,
        IpAddr::V6(_) => IPV6_HEADER_LEN,
    }
}

/// The partial one's-complement sum of the pseudo-header for an
/// upper-layer packet of `len` bytes: IPv4 (RFC 9293 3.1, RFC 768) sums
/// source, destination, zero, protocol and the 16-bit length; IPv6
/// (RFC 8200 8.1) sources, destination, the 32-bit length and the next
/// header. The sum is the same whether the length is counted as 16 or 32
/// bits when it fits 16, so one arithmetic serves both.
pub fn pseudo_header_sum(src: IpAddr, dst: IpAddr, protocol: u8, len: u32) -> u32 {
    let acc = match src {
        IpAddr::V4(a) => checksum::sum_be(0, &a.octets()),
        IpAddr::V6(a) => checksum::sum_be(0, &a.octets()),
    };
    let acc = match dst {
        IpAddr::V4(a) => checksum::sum_be(acc, &a.octets()),
        IpAddr::V6(a) => checksum::sum_be(acc, &a.octets()),
    };
    let acc = checksum::add(acc, u32::from(protocol));
    let acc = checksum::add(acc, len >> 16);
    checksum::add(acc, len & 0xffff)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn ipv4_pseudo_header_is_the_rfc_768_sum() {
        let src = Ipv4Addr::new(10, 10, 0, 2);
        let dst = Ipv4Addr::new(10, 10, 0, 4);
        // The 12 bytes written out: src, dst, zero, protocol 17, length 10.
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&src.octets());
        bytes.extend_from_slice(&dst.octets());
        bytes.extend_from_slice(&[0, 17, 0, 10]);
        assert_eq!(
            checksum::fold(pseudo_header_sum(src.into(), dst.into(), 17, 10)),
            checksum::fold(checksum::sum_be(0, &bytes))
        );
    }

    #[test]
    fn ipv6_pseudo_header_is_the_rfc_8200_sum() {
        let src: Ipv6Addr = "2001:db8::2".parse().unwrap();
        let dst: Ipv6Addr = "2001:db8::4".parse().unwrap();
        // 40 bytes: src, dst, 32-bit length, three zeros, next header.
        let len: u32 = 70_000;
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&src.octets());
        bytes.extend_from_slice(&dst.octets());
        bytes.extend_from_slice(&len.to_be_bytes());
        bytes.extend_from_slice(&[0, 0, 0, 6]);
        assert_eq!(
            checksum::fold(pseudo_header_sum(src.into(), dst.into(), 6, len)),
            checksum::fold(checksum::sum_be(0, &bytes))
        );
    }

    #[test]
    fn header_len_by_version() {
        assert_eq!(header_len(Ipv4Addr::LOCALHOST.into()), 20);
        assert_eq!(header_len(Ipv6Addr::LOCALHOST.into()), 40);
    }
}
