//! Ethernet II frames and MAC addresses.
//!
//! Only the Ethernet II header (destination, source, EtherType) is handled:
//! no 802.3 length field, no FCS (the NIC strips it before XDP sees the frame).

use std::fmt;
use std::str::FromStr;

use xdpstack_common::layout::eth;

use super::{read_mac, read_u16, write_u16, Error, Result};

/// A 48-bit IEEE 802 MAC address.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    pub const BROADCAST: MacAddr = MacAddr([0xff; 6]);
    pub const ZERO: MacAddr = MacAddr([0; 6]);

    pub const fn octets(self) -> [u8; 6] {
        self.0
    }

    pub fn from_slice(b: &[u8]) -> Option<MacAddr> {
        Some(MacAddr(b.get(..6)?.try_into().ok()?))
    }

    pub const fn is_broadcast(self) -> bool {
        u64::from_be_bytes([
            0, 0, self.0[0], self.0[1], self.0[2], self.0[3], self.0[4], self.0[5],
        ]) == 0xffff_ffff_ffff
    }

    /// The I/G bit: group (multicast or broadcast) addresses.
    pub const fn is_multicast(self) -> bool {
        self.0[0] & 0x01 != 0
    }

    /// A usable station address: not a group address, not all zeros.
    pub const fn is_unicast(self) -> bool {
        !self.is_multicast() && !self.is_zero()
    }

    pub const fn is_zero(self) -> bool {
        u64::from_be_bytes([
            0, 0, self.0[0], self.0[1], self.0[2], self.0[3], self.0[4], self.0[5],
        ]) == 0
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

impl fmt::Debug for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Why a MAC address did not parse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MacParseError(String);

impl fmt::Display for MacParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid MAC address '{}': expected six hex octets like 02:00:00:00:00:01",
            self.0
        )
    }
}

impl std::error::Error for MacParseError {}

impl FromStr for MacAddr {
    type Err = MacParseError;
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        let err = || MacParseError(s.to_string());
        let mut out = [0u8; 6];
        let mut parts = s.split([':', '-']);
        for o in out.iter_mut() {
            let p = parts.next().ok_or_else(err)?;
            if p.is_empty() || p.len() > 2 {
                return Err(err());
            }
            *o = u8::from_str_radix(p, 16).map_err(|_| err())?;
        }
        if parts.next().is_some() {
            return Err(err());
        }
        Ok(MacAddr(out))
    }
}

/// The EtherType field: which protocol the payload carries (IEEE 802.3 3.2.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EtherType {
    Ipv4,
    Arp,
    /// An IEEE 802.1Q tag; the real EtherType follows the 4-byte tag.
    Vlan,
    Ipv6,
    Unknown(u16),
}

impl From<u16> for EtherType {
    fn from(v: u16) -> Self {
        match v {
            eth::ETHERTYPE_IPV4 => EtherType::Ipv4,
            eth::ETHERTYPE_ARP => EtherType::Arp,
            eth::ETHERTYPE_VLAN => EtherType::Vlan,
            eth::ETHERTYPE_IPV6 => EtherType::Ipv6,
            other => EtherType::Unknown(other),
        }
    }
}

impl From<EtherType> for u16 {
    fn from(t: EtherType) -> u16 {
        match t {
            EtherType::Ipv4 => eth::ETHERTYPE_IPV4,
            EtherType::Arp => eth::ETHERTYPE_ARP,
            EtherType::Vlan => eth::ETHERTYPE_VLAN,
            EtherType::Ipv6 => eth::ETHERTYPE_IPV6,
            EtherType::Unknown(v) => v,
        }
    }
}

/// tcpdump's spelling: `ARP (0x0806)`.
impl fmt::Display for EtherType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            EtherType::Ipv4 => "IPv4",
            EtherType::Arp => "ARP",
            EtherType::Vlan => "802.1Q",
            EtherType::Ipv6 => "IPv6",
            EtherType::Unknown(_) => "Unknown",
        };
        write!(f, "{name} (0x{:04x})", u16::from(*self))
    }
}

/// A zero-copy view over an Ethernet II frame.
///
/// Built with [`Frame::new_checked`] the accessors never panic. Built with
/// [`Frame::new_unchecked`] over fewer than 14 bytes they panic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Frame<T> {
    /// Length of the Ethernet II header.
    pub const HEADER_LEN: usize = eth::HEADER_LEN;

    /// Wraps a buffer without checking it; accessors may panic if it is short.
    pub const fn new_unchecked(buffer: T) -> Frame<T> {
        Frame { buffer }
    }

    /// Wraps a buffer, refusing one shorter than the 14-byte header.
    pub fn new_checked(buffer: T) -> Result<Frame<T>> {
        let frame = Self::new_unchecked(buffer);
        frame.check_len()?;
        Ok(frame)
    }

    /// `Err(Truncated)` when the buffer cannot hold the header.
    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < eth::HEADER_LEN {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn dst(&self) -> MacAddr {
        read_mac(self.buffer.as_ref(), eth::DST)
    }

    pub fn src(&self) -> MacAddr {
        read_mac(self.buffer.as_ref(), eth::SRC)
    }

    pub fn ethertype(&self) -> EtherType {
        EtherType::from(read_u16(self.buffer.as_ref(), eth::ETHERTYPE))
    }

    /// Everything after the header, including any padding up to the 60-byte
    /// minimum frame (IEEE 802.3 4.2.3.3): upper layers trim it with their
    /// own length fields.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[eth::HEADER_LEN..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Frame<T> {
    pub fn set_dst(&mut self, mac: MacAddr) {
        self.buffer.as_mut()[eth::DST..eth::DST + eth::ADDR_LEN].copy_from_slice(&mac.0);
    }

    pub fn set_src(&mut self, mac: MacAddr) {
        self.buffer.as_mut()[eth::SRC..eth::SRC + eth::ADDR_LEN].copy_from_slice(&mac.0);
    }

    pub fn set_ethertype(&mut self, t: EtherType) {
        write_u16(self.buffer.as_mut(), eth::ETHERTYPE, t.into());
    }

    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[eth::HEADER_LEN..]
    }
}

impl<T: AsRef<[u8]>> fmt::Display for Frame<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match EthernetRepr::parse(self) {
            Ok(repr) => write!(f, "{repr}"),
            Err(e) => write!(f, "Ethernet {e}"),
        }
    }
}

/// The Ethernet II header as plain data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EthernetRepr {
    pub src: MacAddr,
    pub dst: MacAddr,
    pub ethertype: EtherType,
}

impl EthernetRepr {
    /// Length of the header `emit` writes.
    pub const HEADER_LEN: usize = eth::HEADER_LEN;

    /// Reads the header of a frame; fails only if the frame is too short.
    pub fn parse<T: AsRef<[u8]>>(frame: &Frame<T>) -> Result<EthernetRepr> {
        frame.check_len()?;
        Ok(EthernetRepr {
            src: frame.src(),
            dst: frame.dst(),
            ethertype: frame.ethertype(),
        })
    }

    /// Bytes the header takes; the payload follows it.
    pub const fn buffer_len(&self) -> usize {
        eth::HEADER_LEN
    }

    /// Writes the header into the first 14 bytes of the frame.
    ///
    /// # Panics
    /// If the frame's buffer is shorter than [`EthernetRepr::HEADER_LEN`].
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, frame: &mut Frame<T>) {
        frame.set_dst(self.dst);
        frame.set_src(self.src);
        frame.set_ethertype(self.ethertype);
    }
}

/// tcpdump -e's link-level part: `02:00:00:00:00:02 > ff:ff:ff:ff:ff:ff, ethertype ARP (0x0806)`.
impl fmt::Display for EthernetRepr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} > {}, ethertype {}",
            self.src, self.dst, self.ethertype
        )
    }
}

#[cfg(test)]
mod mac_tests {
    use super::*;

    #[test]
    fn parse_and_display_round_trip() {
        let m: MacAddr = "02:0A:ff:00:10:9c".parse().unwrap();
        assert_eq!(m.0, [0x02, 0x0a, 0xff, 0x00, 0x10, 0x9c]);
        assert_eq!(m.to_string(), "02:0a:ff:00:10:9c");
        assert!(m.is_unicast());
        assert!(MacAddr::BROADCAST.is_broadcast() && MacAddr::BROADCAST.is_multicast());
        for bad in [
            "",
            "02:00:00:00:00",
            "02:00:00:00:00:00:00",
            "zz:00:00:00:00:00",
            "002:0:0:0:0:0",
        ] {
            assert!(bad.parse::<MacAddr>().is_err(), "{bad}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::testdata::ARP_REQUEST_FRAME;

    fn repr() -> EthernetRepr {
        EthernetRepr {
            src: MacAddr([2, 0, 0, 0, 0, 2]),
            dst: MacAddr::BROADCAST,
            ethertype: EtherType::Arp,
        }
    }

    #[test]
    fn known_bytes_to_fields() {
        let frame = Frame::new_checked(&ARP_REQUEST_FRAME[..]).unwrap();
        assert_eq!(frame.dst(), MacAddr::BROADCAST);
        assert_eq!(frame.src(), MacAddr([2, 0, 0, 0, 0, 2]));
        assert_eq!(frame.ethertype(), EtherType::Arp);
        assert_eq!(frame.payload(), &ARP_REQUEST_FRAME[14..]);
        assert_eq!(EthernetRepr::parse(&frame).unwrap(), repr());
    }

    #[test]
    fn emit_gives_the_same_bytes() {
        let mut buf = ARP_REQUEST_FRAME;
        buf[..14].fill(0);
        let mut frame = Frame::new_unchecked(&mut buf[..]);
        repr().emit(&mut frame);
        assert_eq!(buf, ARP_REQUEST_FRAME);
    }

    #[test]
    fn round_trip_and_setters() {
        for t in [
            EtherType::Ipv4,
            EtherType::Arp,
            EtherType::Vlan,
            EtherType::Ipv6,
            EtherType::Unknown(0x88cc),
        ] {
            assert_eq!(EtherType::from(u16::from(t)), t);
            let r = EthernetRepr {
                ethertype: t,
                ..repr()
            };
            let mut buf = vec![0u8; r.buffer_len() + 4];
            let mut frame = Frame::new_checked(&mut buf).unwrap();
            r.emit(&mut frame);
            frame.payload_mut().copy_from_slice(&[1, 2, 3, 4]);
            assert_eq!(frame.payload(), &[1, 2, 3, 4]);
            assert_eq!(EthernetRepr::parse(&frame).unwrap(), r);
        }
    }

    #[test]
    fn truncated_frames_are_refused() {
        for n in 0..eth::HEADER_LEN {
            assert_eq!(
                Frame::new_checked(&ARP_REQUEST_FRAME[..n]),
                Err(Error::Truncated),
                "{n}"
            );
            // Display on an unchecked short frame must not panic either.
            let s = Frame::new_unchecked(&ARP_REQUEST_FRAME[..n]).to_string();
            assert_eq!(s, "Ethernet truncated");
        }
        assert!(Frame::new_checked(&ARP_REQUEST_FRAME[..14])
            .unwrap()
            .payload()
            .is_empty());
    }

    #[test]
    fn display_like_tcpdump() {
        let frame = Frame::new_checked(&ARP_REQUEST_FRAME[..]).unwrap();
        assert_eq!(
            frame.to_string(),
            "02:00:00:00:00:02 > ff:ff:ff:ff:ff:ff, ethertype ARP (0x0806)"
        );
        assert_eq!(EtherType::Unknown(0x88cc).to_string(), "Unknown (0x88cc)");
        assert_eq!(EtherType::Ipv4.to_string(), "IPv4 (0x0800)");
    }
}
