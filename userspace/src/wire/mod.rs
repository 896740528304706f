//! Wire formats: zero-copy views over packet bytes (`Packet<T>`), checked
//! once at construction so accessors never panic, and plain-data `Repr`s
//! that protocol logic works on (`parse` from a view, `emit` into one).
//!
//! Every view has the same shape:
//! - `new_unchecked(buffer)`: no checks; accessors may panic on a short buffer;
//! - `check_len()` / `new_checked(buffer)`: validates the lengths once, after
//!   which no accessor panics whatever the bytes say;
//! - getters, and for `T: AsMut<[u8]>` setters, `payload_mut()` and checksum fillers;
//! - `Display`, reading like one tcpdump line.
//!
//! Errors are the coarse [`Error`]; IPv4 and IPv6 header validation have
//! their own finer [`Ipv4Error`] / [`Ipv6Error`] (one variant per reason, so
//! the stack can count each), and the IPv6 extension header walk returns an
//! [`ExtError`] carrying the ICMPv6 Parameter Problem to send; all convert
//! into [`Error`] with `?`.

use std::fmt;

pub mod arp;
pub mod ethernet;
pub mod icmpv4;
pub mod icmpv6;
pub mod ip;
pub mod ipv4;
pub mod ipv6;
pub mod ipv6ext;
pub mod pretty;
pub mod tcp;
pub mod udp;

#[cfg(test)]
mod testdata;

pub use arp::{ArpOp, ArpRepr, Packet as ArpPacket};
pub use ethernet::{EtherType, EthernetRepr, Frame as EthernetFrame, MacAddr};
pub use icmpv4::{Icmpv4Repr, Packet as Icmpv4Packet};
pub use icmpv6::{Icmpv6Repr, NdpRepr, Packet as Icmpv6Packet};
pub use ipv4::{IpProtocol, Ipv4Error, Ipv4Repr, Packet as Ipv4Packet};
pub use ipv6::{Ipv6Error, Ipv6Repr, NextHeader, Packet as Ipv6Packet};
pub use ipv6ext::{ExtError, FragmentRepr, Walk as Ipv6Walk};
pub use pretty::describe;
pub use tcp::{Flags as TcpFlags, Packet as TcpPacket, TcpOptions, TcpRepr};
pub use udp::{Packet as UdpPacket, UdpRepr};

/// Why bytes could not be read as a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Error {
    /// The buffer is shorter than the header, or than a length field says.
    Truncated,
    /// A field holds a value the format forbids (e.g. a length below the minimum).
    Malformed,
    /// The checksum does not verify (RFC 1071).
    Checksum,
    /// Well-formed, but a variant this stack does not handle (e.g. ARP over
    /// a non-Ethernet link).
    Unsupported,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Error::Truncated => "truncated",
            Error::Malformed => "malformed",
            Error::Checksum => "bad checksum",
            Error::Unsupported => "unsupported",
        })
    }
}

impl std::error::Error for Error {}

/// The result of parsing or checking wire data.
pub type Result<T> = core::result::Result<T, Error>;

/// Reads a big-endian u16 at `at`. Callers have checked the length.
fn read_u16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// Writes a big-endian u16 at `at`. Callers have checked the length.
fn write_u16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

/// Reads an IPv4 address at `at`. Callers have checked the length.
fn read_ipv4(b: &[u8], at: usize) -> std::net::Ipv4Addr {
    std::net::Ipv4Addr::new(b[at], b[at + 1], b[at + 2], b[at + 3])
}

/// Reads a MAC address at `at`. Callers have checked the length.
fn read_mac(b: &[u8], at: usize) -> MacAddr {
    MacAddr([b[at], b[at + 1], b[at + 2], b[at + 3], b[at + 4], b[at + 5]])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_display_and_conversion() {
        assert_eq!(Error::Checksum.to_string(), "bad checksum");
        let boxed: Box<dyn std::error::Error> = Box::new(Error::Truncated);
        assert_eq!(boxed.to_string(), "truncated");
        assert_eq!(
            Error::from(Ipv4Error::TotalLenExceedsBuffer),
            Error::Truncated
        );
        assert_eq!(Error::from(Ipv4Error::BadVersion), Error::Malformed);
    }
}
