//! UDP (RFC 768).
//!
//! The checksum covers a pseudo-header ([`super::ip::pseudo_header_sum`]: addresses,
//! protocol, UDP length), the UDP header and the data (RFC 768). Over IPv4
//! a zero checksum means the sender computed none (RFC 768, RFC 1122
//! 4.1.3.4), so a computed zero is sent as 0xffff instead.

use std::fmt;
use std::net::IpAddr;

use xdpstack_common::checksum;
use xdpstack_common::layout::{ipv4, udp};

use super::{ip, read_u16, write_u16, Error, Result};

/// A zero-copy view over a UDP datagram (the IPv4 payload).
///
/// Built with [`Packet::new_checked`] (8-byte header, Length field between
/// 8 and the buffer size) the accessors never panic; built with
/// [`Packet::new_unchecked`] over a short or inconsistent buffer they may.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking it; accessors may panic.
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps a buffer whose header and Length field fit it.
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// `Truncated` if the buffer cannot hold the header or the Length the
    /// header claims; `Malformed` if Length is below the 8-byte header.
    pub fn check_len(&self) -> Result<()> {
        let b = self.buffer.as_ref();
        if b.len() < udp::HEADER_LEN {
            return Err(Error::Truncated);
        }
        let len = usize::from(read_u16(b, udp::LENGTH));
        if len < udp::HEADER_LEN {
            return Err(Error::Malformed);
        }
        if len > b.len() {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn src_port(&self) -> u16 {
        read_u16(self.buffer.as_ref(), udp::SRC_PORT)
    }

    pub fn dst_port(&self) -> u16 {
        read_u16(self.buffer.as_ref(), udp::DST_PORT)
    }

    /// The Length field: header plus data, in bytes.
    pub fn len(&self) -> u16 {
        read_u16(self.buffer.as_ref(), udp::LENGTH)
    }

    /// True when the datagram carries no data.
    pub fn is_empty(&self) -> bool {
        usize::from(self.len()) == udp::HEADER_LEN
    }

    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), udp::CHECKSUM)
    }

    /// The data, up to the Length field (anything after it is not UDP's).
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[udp::HEADER_LEN..usize::from(self.len())]
    }

    /// The header and data, up to the Length field.
    fn datagram(&self) -> &[u8] {
        &self.buffer.as_ref()[..usize::from(self.len())]
    }

    /// True if the checksum verifies against the pseudo-header, or if it is
    /// zero: the sender computed none (RFC 768, RFC 1122 4.1.3.4).
    pub fn verify_checksum(&self, src: impl Into<IpAddr>, dst: impl Into<IpAddr>) -> bool {
        if self.checksum() == 0 {
            return true;
        }
        let acc = ip::pseudo_header_sum(
            src.into(),
            dst.into(),
            ipv4::PROTO_UDP,
            u32::from(self.len()),
        );
        checksum::fold(checksum::sum_be(acc, self.datagram())) == 0xffff
    }

    /// True if the checksum field holds only the folded pseudo-header sum,
    /// not complemented: what a sender with TX checksum offload leaves for
    /// the hardware to finish (Linux's CHECKSUM_PARTIAL, `udp4_hwcsum`).
    /// Only a peer on this host (a veth) can hand such a frame over unfinished.
    pub fn has_partial_checksum(&self, src: impl Into<IpAddr>, dst: impl Into<IpAddr>) -> bool {
        let acc = ip::pseudo_header_sum(
            src.into(),
            dst.into(),
            ipv4::PROTO_UDP,
            u32::from(self.len()),
        );
        self.checksum() == checksum::fold(acc)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_src_port(&mut self, v: u16) {
        write_u16(self.buffer.as_mut(), udp::SRC_PORT, v);
    }

    pub fn set_dst_port(&mut self, v: u16) {
        write_u16(self.buffer.as_mut(), udp::DST_PORT, v);
    }

    pub fn set_len(&mut self, v: u16) {
        write_u16(self.buffer.as_mut(), udp::LENGTH, v);
    }

    pub fn set_checksum(&mut self, v: u16) {
        write_u16(self.buffer.as_mut(), udp::CHECKSUM, v);
    }

    /// The data, up to the Length field.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = usize::from(self.len());
        &mut self.buffer.as_mut()[udp::HEADER_LEN..end]
    }

    /// Computes the checksum with the pseudo-header and writes it; a computed
    /// 0 is sent as 0xffff, since 0 would mean "no checksum" (RFC 768).
    pub fn fill_checksum(&mut self, src: impl Into<IpAddr>, dst: impl Into<IpAddr>) {
        self.set_checksum(0);
        let acc = ip::pseudo_header_sum(
            src.into(),
            dst.into(),
            ipv4::PROTO_UDP,
            u32::from(self.len()),
        );
        let c = match checksum::finish(checksum::sum_be(acc, self.datagram())) {
            0 => 0xffff,
            c => c,
        };
        self.set_checksum(c);
    }
}

/// `UDP 40000 > 7, length 10` (length of the data, as tcpdump prints it).
impl<T: AsRef<[u8]>> fmt::Display for Packet<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Err(e) = self.check_len() {
            return write!(f, "UDP {e}");
        }
        write!(
            f,
            "UDP {} > {}, length {}",
            self.src_port(),
            self.dst_port(),
            self.payload().len()
        )
    }
}

/// A UDP datagram as plain data, borrowing its payload from the packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct UdpRepr<'a> {
    pub src_port: u16,
    pub dst_port: u16,
    pub payload: &'a [u8],
}

impl<'a> UdpRepr<'a> {
    /// Reads a datagram carried from `src` to `dst`, verifying its checksum
    /// (`Error::Checksum` when wrong; a zero checksum is accepted as none).
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        packet: &Packet<&'a T>,
        src: impl Into<IpAddr>,
        dst: impl Into<IpAddr>,
    ) -> Result<UdpRepr<'a>> {
        packet.check_len()?;
        if !packet.verify_checksum(src, dst) {
            return Err(Error::Checksum);
        }
        UdpRepr::parse_unverified(packet)
    }

    /// Reads a datagram without looking at its checksum: for a caller that
    /// accepted a partial one from a local peer ([`Packet::has_partial_checksum`]).
    pub fn parse_unverified<T: AsRef<[u8]> + ?Sized>(
        packet: &Packet<&'a T>,
    ) -> Result<UdpRepr<'a>> {
        packet.check_len()?;
        // Copy the `&'a T` out so the payload borrows the buffer, not the view.
        let buffer: &'a T = packet.buffer;
        let payload = buffer
            .as_ref()
            .get(udp::HEADER_LEN..usize::from(packet.len()))
            .ok_or(Error::Truncated)?;
        Ok(UdpRepr {
            src_port: packet.src_port(),
            dst_port: packet.dst_port(),
            payload,
        })
    }

    /// Bytes the whole datagram takes: 8-byte header plus payload.
    pub const fn buffer_len(&self) -> usize {
        udp::HEADER_LEN + self.payload.len()
    }

    /// Writes the header, payload and checksum for a datagram from `src` to `dst`.
    ///
    /// # Panics
    /// If the buffer is shorter than [`UdpRepr::buffer_len`]. The payload
    /// must be at most 65507 bytes so Length fits 16 bits (with the IPv4
    /// header, 65535).
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut Packet<T>,
        src: impl Into<IpAddr>,
        dst: impl Into<IpAddr>,
    ) {
        debug_assert!(self.buffer_len() <= usize::from(u16::MAX));
        packet.set_src_port(self.src_port);
        packet.set_dst_port(self.dst_port);
        packet.set_len(self.buffer_len() as u16);
        packet.payload_mut().copy_from_slice(self.payload);
        packet.fill_checksum(src, dst);
    }
}

impl fmt::Display for UdpRepr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "UDP {} > {}, length {}",
            self.src_port,
            self.dst_port,
            self.payload.len()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::testdata::UDP_IP;
    use proptest::prelude::*;
    use std::net::Ipv4Addr;

    const SRC: Ipv4Addr = Ipv4Addr::new(10, 10, 0, 2);
    const DST: Ipv4Addr = Ipv4Addr::new(10, 10, 0, 4);

    fn datagram() -> &'static [u8] {
        &UDP_IP[20..]
    }

    fn repr() -> UdpRepr<'static> {
        UdpRepr {
            src_port: 40000,
            dst_port: 7,
            payload: b"hello xdp\n",
        }
    }

    #[test]
    fn known_bytes_to_fields() {
        let p = Packet::new_checked(datagram()).unwrap();
        assert_eq!(
            (p.src_port(), p.dst_port(), p.len(), p.checksum()),
            (40000, 7, 18, 0x2308)
        );
        assert_eq!(p.payload(), b"hello xdp\n");
        assert!(!p.is_empty());
        assert!(p.verify_checksum(SRC, DST));
        // The pseudo-header matters: the same bytes between other hosts fail.
        assert!(!p.verify_checksum(SRC, Ipv4Addr::new(10, 10, 0, 5)));
        assert_eq!(UdpRepr::parse(&p, SRC, DST).unwrap(), repr());
    }

    #[test]
    fn emit_gives_the_same_bytes() {
        let mut buf = vec![0u8; repr().buffer_len()];
        repr().emit(&mut Packet::new_unchecked(&mut buf), SRC, DST);
        assert_eq!(buf, datagram());
    }

    #[test]
    fn round_trips() {
        for payload in [&b""[..], b"x", &[0xff; 1000]] {
            let r = UdpRepr { payload, ..repr() };
            let mut buf = vec![0u8; r.buffer_len()];
            r.emit(&mut Packet::new_unchecked(&mut buf), SRC, DST);
            let p = Packet::new_checked(&buf[..]).unwrap();
            assert_ne!(p.checksum(), 0);
            assert_eq!(UdpRepr::parse(&p, SRC, DST).unwrap(), r);
        }
    }

    #[test]
    fn a_partial_checksum_is_recognised_and_only_it() {
        // What Linux leaves with TX offload on: the pseudo-header sum, folded,
        // not complemented. By hand: 0x0a0a + 0x0002 + 0x0a0a + 0x0004 + 17 + 18.
        let mut b = datagram().to_vec();
        b[udp::CHECKSUM..udp::CHECKSUM + 2].copy_from_slice(&0x143du16.to_be_bytes());
        let p = Packet::new_checked(&b[..]).unwrap();
        assert!(!p.verify_checksum(SRC, DST));
        assert!(p.has_partial_checksum(SRC, DST));
        assert!(!p.has_partial_checksum(SRC, Ipv4Addr::new(10, 10, 0, 5)));
        assert_eq!(UdpRepr::parse(&p, SRC, DST), Err(Error::Checksum));
        assert_eq!(UdpRepr::parse_unverified(&p).unwrap(), repr());
        let full = Packet::new_checked(datagram()).unwrap();
        assert!(!full.has_partial_checksum(SRC, DST));
    }

    #[test]
    fn zero_checksum_means_none() {
        let mut b = datagram().to_vec();
        b[udp::CHECKSUM..udp::CHECKSUM + 2].fill(0);
        let p = Packet::new_checked(&b[..]).unwrap();
        assert!(p.verify_checksum(SRC, DST));
        assert_eq!(UdpRepr::parse(&p, SRC, DST).unwrap(), repr());
    }

    #[test]
    fn computed_zero_is_sent_as_ffff() {
        // Choose the payload's last word so the checksum computes to zero: a
        // datagram that sums to 0xffff without its checksum field.
        let mut buf = [0u8; 10];
        let mut p = Packet::new_unchecked(&mut buf[..]);
        p.set_src_port(1);
        p.set_dst_port(2);
        p.set_len(10);
        let partial = checksum::fold(checksum::sum_be(
            ip::pseudo_header_sum(SRC.into(), DST.into(), ipv4::PROTO_UDP, 10),
            p.datagram(),
        ));
        p.payload_mut()
            .copy_from_slice(&(0xffff - partial).to_be_bytes());
        p.fill_checksum(SRC, DST);
        assert_eq!(p.checksum(), 0xffff);
        assert!(p.verify_checksum(SRC, DST));
    }

    #[test]
    fn bad_checksum_is_detected() {
        for at in 0..datagram().len() {
            let mut b = datagram().to_vec();
            b[at] ^= 0x04;
            if let Ok(p) = Packet::new_checked(&b[..]) {
                assert_eq!(
                    UdpRepr::parse(&p, SRC, DST),
                    Err(Error::Checksum),
                    "byte {at}"
                );
            }
        }
    }

    #[test]
    fn every_truncation_is_refused() {
        for n in 0..datagram().len() {
            assert_eq!(
                Packet::new_checked(&datagram()[..n]),
                Err(Error::Truncated),
                "{n}"
            );
            assert!(Packet::new_unchecked(&datagram()[..n])
                .to_string()
                .starts_with("UDP truncated"));
        }
        let mut b = datagram().to_vec();
        b[udp::LENGTH + 1] = 7;
        assert_eq!(Packet::new_checked(&b[..]), Err(Error::Malformed));
    }

    #[test]
    fn payload_stops_at_the_length_field() {
        let mut b = datagram().to_vec();
        b.extend_from_slice(&[0; 6]);
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.payload(), b"hello xdp\n");
        assert!(p.verify_checksum(SRC, DST));
    }

    #[test]
    fn display() {
        let p = Packet::new_checked(datagram()).unwrap();
        assert_eq!(p.to_string(), "UDP 40000 > 7, length 10");
        assert_eq!(repr().to_string(), p.to_string());
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = Packet::new_unchecked(&bytes[..]).to_string();
            if let Ok(p) = Packet::new_checked(&bytes[..]) {
                let _ = (p.payload(), p.is_empty());
                if let Ok(r) = UdpRepr::parse(&p, SRC, DST) {
                    let mut out = vec![0u8; r.buffer_len()];
                    r.emit(&mut Packet::new_unchecked(&mut out), SRC, DST);
                    prop_assert!(Packet::new_unchecked(&out[..]).verify_checksum(SRC, DST));
                }
            }
        }
    }
}
