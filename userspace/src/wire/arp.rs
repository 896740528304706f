//! ARP (RFC 826), as used on Ethernet for IPv4.
//!
//! The view reads the fixed layout of Ethernet/IPv4 ARP (hardware addresses
//! 6 bytes, protocol addresses 4): other hardware or protocol types carry
//! their own lengths and are refused by [`ArpRepr::parse`] as `Unsupported`.

use std::fmt;
use std::net::Ipv4Addr;

use xdpstack_common::layout::{arp, eth};

use super::{read_ipv4, read_mac, read_u16, write_u16, Error, MacAddr, Result};

/// The ARP operation code (RFC 826 "ar$op").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ArpOp {
    Request,
    Reply,
    Unknown(u16),
}

impl From<u16> for ArpOp {
    fn from(v: u16) -> Self {
        match v {
            arp::OP_REQUEST => ArpOp::Request,
            arp::OP_REPLY => ArpOp::Reply,
            other => ArpOp::Unknown(other),
        }
    }
}

impl From<ArpOp> for u16 {
    fn from(op: ArpOp) -> u16 {
        match op {
            ArpOp::Request => arp::OP_REQUEST,
            ArpOp::Reply => arp::OP_REPLY,
            ArpOp::Unknown(v) => v,
        }
    }
}

/// A zero-copy view over an ARP packet (the Ethernet payload).
///
/// Built with [`Packet::new_checked`] (at least 28 bytes) the accessors never
/// panic; built with [`Packet::new_unchecked`] over fewer bytes they do.
/// Trailing Ethernet padding after the 28 bytes is ignored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking it; accessors may panic if it is short.
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps a buffer, refusing one shorter than an Ethernet/IPv4 ARP packet.
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// `Err(Truncated)` when the buffer is shorter than 28 bytes.
    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < arp::PACKET_LEN {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Hardware type ("ar$hrd"); 1 is Ethernet.
    pub fn hardware_type(&self) -> u16 {
        read_u16(self.buffer.as_ref(), arp::HTYPE)
    }

    /// Protocol type ("ar$pro"), an EtherType; 0x0800 is IPv4.
    pub fn protocol_type(&self) -> u16 {
        read_u16(self.buffer.as_ref(), arp::PTYPE)
    }

    /// Hardware address length ("ar$hln").
    pub fn hardware_len(&self) -> u8 {
        self.buffer.as_ref()[arp::HLEN]
    }

    /// Protocol address length ("ar$pln").
    pub fn protocol_len(&self) -> u8 {
        self.buffer.as_ref()[arp::PLEN]
    }

    pub fn operation(&self) -> ArpOp {
        ArpOp::from(read_u16(self.buffer.as_ref(), arp::OPER))
    }

    /// Sender hardware address, read at the Ethernet/IPv4 offset.
    pub fn sender_mac(&self) -> MacAddr {
        read_mac(self.buffer.as_ref(), arp::SHA)
    }

    /// Sender protocol address, read at the Ethernet/IPv4 offset.
    pub fn sender_ip(&self) -> Ipv4Addr {
        read_ipv4(self.buffer.as_ref(), arp::SPA)
    }

    /// Target hardware address, read at the Ethernet/IPv4 offset.
    pub fn target_mac(&self) -> MacAddr {
        read_mac(self.buffer.as_ref(), arp::THA)
    }

    /// Target protocol address, read at the Ethernet/IPv4 offset.
    pub fn target_ip(&self) -> Ipv4Addr {
        read_ipv4(self.buffer.as_ref(), arp::TPA)
    }

    /// True for the only combination this stack speaks: Ethernet and IPv4.
    pub fn is_ethernet_ipv4(&self) -> bool {
        self.hardware_type() == arp::HTYPE_ETHERNET
            && self.protocol_type() == arp::PTYPE_IPV4
            && usize::from(self.hardware_len()) == eth::ADDR_LEN
            && self.protocol_len() == 4
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_hardware_type(&mut self, v: u16) {
        write_u16(self.buffer.as_mut(), arp::HTYPE, v);
    }

    pub fn set_protocol_type(&mut self, v: u16) {
        write_u16(self.buffer.as_mut(), arp::PTYPE, v);
    }

    pub fn set_hardware_len(&mut self, v: u8) {
        self.buffer.as_mut()[arp::HLEN] = v;
    }

    pub fn set_protocol_len(&mut self, v: u8) {
        self.buffer.as_mut()[arp::PLEN] = v;
    }

    pub fn set_operation(&mut self, op: ArpOp) {
        write_u16(self.buffer.as_mut(), arp::OPER, op.into());
    }

    pub fn set_sender_mac(&mut self, mac: MacAddr) {
        self.buffer.as_mut()[arp::SHA..arp::SHA + eth::ADDR_LEN].copy_from_slice(&mac.0);
    }

    pub fn set_sender_ip(&mut self, ip: Ipv4Addr) {
        self.buffer.as_mut()[arp::SPA..arp::SPA + 4].copy_from_slice(&ip.octets());
    }

    pub fn set_target_mac(&mut self, mac: MacAddr) {
        self.buffer.as_mut()[arp::THA..arp::THA + eth::ADDR_LEN].copy_from_slice(&mac.0);
    }

    pub fn set_target_ip(&mut self, ip: Ipv4Addr) {
        self.buffer.as_mut()[arp::TPA..arp::TPA + 4].copy_from_slice(&ip.octets());
    }
}

impl<T: AsRef<[u8]>> fmt::Display for Packet<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.check_len().is_err() {
            return f.write_str("ARP, truncated");
        }
        match ArpRepr::parse(self) {
            Ok(repr) => write!(f, "{repr}"),
            Err(_) => write!(
                f,
                "ARP, hardware type {}, protocol type 0x{:04x}, hlen {}, plen {}, op {}",
                self.hardware_type(),
                self.protocol_type(),
                self.hardware_len(),
                self.protocol_len(),
                u16::from(self.operation())
            ),
        }
    }
}

/// An Ethernet/IPv4 ARP packet as plain data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ArpRepr {
    pub operation: ArpOp,
    pub sender_mac: MacAddr,
    pub sender_ip: Ipv4Addr,
    pub target_mac: MacAddr,
    pub target_ip: Ipv4Addr,
}

impl ArpRepr {
    /// Reads an ARP packet; `Unsupported` unless it is Ethernet (htype 1,
    /// hlen 6) and IPv4 (ptype 0x0800, plen 4), the only pair we resolve.
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<ArpRepr> {
        packet.check_len()?;
        if !packet.is_ethernet_ipv4() {
            return Err(Error::Unsupported);
        }
        Ok(ArpRepr {
            operation: packet.operation(),
            sender_mac: packet.sender_mac(),
            sender_ip: packet.sender_ip(),
            target_mac: packet.target_mac(),
            target_ip: packet.target_ip(),
        })
    }

    /// Bytes `emit` writes: 28.
    pub const fn buffer_len(&self) -> usize {
        arp::PACKET_LEN
    }

    /// Writes all 28 bytes of the packet.
    ///
    /// # Panics
    /// If the packet's buffer is shorter than [`ArpRepr::buffer_len`].
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        packet.set_hardware_type(arp::HTYPE_ETHERNET);
        packet.set_protocol_type(arp::PTYPE_IPV4);
        packet.set_hardware_len(eth::ADDR_LEN as u8);
        packet.set_protocol_len(4);
        packet.set_operation(self.operation);
        packet.set_sender_mac(self.sender_mac);
        packet.set_sender_ip(self.sender_ip);
        packet.set_target_mac(self.target_mac);
        packet.set_target_ip(self.target_ip);
    }
}

/// tcpdump's wording: `ARP, Request who-has 10.10.0.4 tell 10.10.0.2`,
/// `ARP, Reply 10.10.0.4 is-at 02:00:00:00:00:04`.
impl fmt::Display for ArpRepr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.operation {
            ArpOp::Request => write!(
                f,
                "ARP, Request who-has {} tell {}",
                self.target_ip, self.sender_ip
            ),
            ArpOp::Reply => write!(f, "ARP, Reply {} is-at {}", self.sender_ip, self.sender_mac),
            ArpOp::Unknown(op) => write!(
                f,
                "ARP, Unknown operation ({op}) sender {} ({}) target {} ({})",
                self.sender_ip, self.sender_mac, self.target_ip, self.target_mac
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The ARP part of an ARP request from 10.10.0.2 (02:00:00:00:00:02) for
    /// 10.10.0.4, as Linux sends it (target MAC zero, RFC 826 leaves it unset).
    const REQUEST: [u8; 28] = [
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, // htype, ptype, hlen, plen, oper
        0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x0a, 0x0a, 0x00, 0x02, // sha, spa
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0a, 0x0a, 0x00, 0x04, // tha, tpa
    ];

    /// The reply 10.10.0.4 (02:00:00:00:00:04) sends back.
    const REPLY: [u8; 28] = [
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x02, //
        0x02, 0x00, 0x00, 0x00, 0x00, 0x04, 0x0a, 0x0a, 0x00, 0x04, //
        0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x0a, 0x0a, 0x00, 0x02, //
    ];

    fn request() -> ArpRepr {
        ArpRepr {
            operation: ArpOp::Request,
            sender_mac: MacAddr([2, 0, 0, 0, 0, 2]),
            sender_ip: Ipv4Addr::new(10, 10, 0, 2),
            target_mac: MacAddr::ZERO,
            target_ip: Ipv4Addr::new(10, 10, 0, 4),
        }
    }

    fn reply() -> ArpRepr {
        ArpRepr {
            operation: ArpOp::Reply,
            sender_mac: MacAddr([2, 0, 0, 0, 0, 4]),
            sender_ip: Ipv4Addr::new(10, 10, 0, 4),
            target_mac: MacAddr([2, 0, 0, 0, 0, 2]),
            target_ip: Ipv4Addr::new(10, 10, 0, 2),
        }
    }

    #[test]
    fn known_bytes_to_fields() {
        let p = Packet::new_checked(&REQUEST[..]).unwrap();
        assert_eq!(p.hardware_type(), 1);
        assert_eq!(p.protocol_type(), 0x0800);
        assert_eq!(p.hardware_len(), 6);
        assert_eq!(p.protocol_len(), 4);
        assert_eq!(p.operation(), ArpOp::Request);
        assert_eq!(p.sender_mac(), MacAddr([2, 0, 0, 0, 0, 2]));
        assert_eq!(p.sender_ip(), Ipv4Addr::new(10, 10, 0, 2));
        assert_eq!(p.target_mac(), MacAddr::ZERO);
        assert_eq!(p.target_ip(), Ipv4Addr::new(10, 10, 0, 4));
        assert_eq!(ArpRepr::parse(&p).unwrap(), request());
    }

    #[test]
    fn parses_inside_a_padded_ethernet_frame() {
        // On the wire the 42-byte frame is padded to 60 bytes (IEEE 802.3 minimum).
        let mut frame = crate::wire::testdata::ARP_REQUEST_FRAME.to_vec();
        frame.resize(60, 0);
        let eth = crate::wire::EthernetFrame::new_checked(&frame[..]).unwrap();
        let p = Packet::new_checked(eth.payload()).unwrap();
        assert_eq!(ArpRepr::parse(&p).unwrap(), request());
    }

    #[test]
    fn emit_gives_the_same_bytes() {
        for (repr, bytes) in [(request(), REQUEST), (reply(), REPLY)] {
            let mut buf = [0xaau8; 28];
            assert_eq!(repr.buffer_len(), buf.len());
            repr.emit(&mut Packet::new_unchecked(&mut buf[..]));
            assert_eq!(buf, bytes);
        }
    }

    #[test]
    fn round_trip() {
        for op in [ArpOp::Request, ArpOp::Reply, ArpOp::Unknown(9)] {
            let repr = ArpRepr {
                operation: op,
                ..reply()
            };
            let mut buf = vec![0u8; repr.buffer_len()];
            repr.emit(&mut Packet::new_unchecked(&mut buf));
            assert_eq!(
                ArpRepr::parse(&Packet::new_checked(&buf).unwrap()).unwrap(),
                repr
            );
        }
    }

    #[test]
    fn truncations_are_refused() {
        for n in 0..REQUEST.len() {
            assert_eq!(
                Packet::new_checked(&REQUEST[..n]),
                Err(Error::Truncated),
                "{n}"
            );
            assert_eq!(
                ArpRepr::parse(&Packet::new_unchecked(&REQUEST[..n])),
                Err(Error::Truncated)
            );
            assert_eq!(
                Packet::new_unchecked(&REQUEST[..n]).to_string(),
                "ARP, truncated"
            );
        }
    }

    #[test]
    fn other_hardware_or_protocol_is_unsupported() {
        // (offset, value): a non-Ethernet htype, IPv6 ptype, hlen 8, plen 16.
        for (at, v) in [(1, 6u8), (2, 0x86), (4, 8), (5, 16)] {
            let mut b = REQUEST;
            b[at] = v;
            let p = Packet::new_checked(&b[..]).unwrap();
            assert_eq!(ArpRepr::parse(&p), Err(Error::Unsupported), "byte {at}");
            assert!(p.to_string().starts_with("ARP, hardware type"));
        }
    }

    #[test]
    fn display_like_tcpdump() {
        assert_eq!(
            Packet::new_checked(&REQUEST[..]).unwrap().to_string(),
            "ARP, Request who-has 10.10.0.4 tell 10.10.0.2"
        );
        assert_eq!(
            Packet::new_checked(&REPLY[..]).unwrap().to_string(),
            "ARP, Reply 10.10.0.4 is-at 02:00:00:00:00:04"
        );
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Ok(p) = Packet::new_checked(&bytes[..]) {
                let _ = p.to_string();
                if let Ok(repr) = ArpRepr::parse(&p) {
                    let mut out = vec![0u8; repr.buffer_len()];
                    repr.emit(&mut Packet::new_unchecked(&mut out));
                    prop_assert_eq!(&out[..], &bytes[..28]);
                }
            }
        }
    }
}
