//! IPv4 (RFC 791).
//!
//! Header validation is finer than the other formats: [`Packet::new_checked`]
//! returns an [`Ipv4Error`] naming which of the RFC 1122 3.2.1.1-style sanity
//! checks failed, so the stack can count each reason separately. `?` turns
//! it into the coarse [`Error`] where the detail is not needed.

use std::fmt;
use std::net::Ipv4Addr;

use xdpstack_common::checksum;
use xdpstack_common::layout::ipv4;

use super::{read_ipv4, read_u16, write_u16, Error, Result};

/// The IPv4 "Protocol" field (IANA protocol numbers).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IpProtocol {
    Icmp,
    Tcp,
    Udp,
    Unknown(u8),
}

impl From<u8> for IpProtocol {
    fn from(v: u8) -> Self {
        match v {
            ipv4::PROTO_ICMP => IpProtocol::Icmp,
            ipv4::PROTO_TCP => IpProtocol::Tcp,
            ipv4::PROTO_UDP => IpProtocol::Udp,
            other => IpProtocol::Unknown(other),
        }
    }
}

impl From<IpProtocol> for u8 {
    fn from(p: IpProtocol) -> u8 {
        match p {
            IpProtocol::Icmp => ipv4::PROTO_ICMP,
            IpProtocol::Tcp => ipv4::PROTO_TCP,
            IpProtocol::Udp => ipv4::PROTO_UDP,
            IpProtocol::Unknown(v) => v,
        }
    }
}

/// tcpdump's names: `ICMP`, `TCP`, `UDP`, `ip-proto-47`.
impl fmt::Display for IpProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IpProtocol::Icmp => f.write_str("ICMP"),
            IpProtocol::Tcp => f.write_str("TCP"),
            IpProtocol::Udp => f.write_str("UDP"),
            IpProtocol::Unknown(v) => write!(f, "ip-proto-{v}"),
        }
    }
}

/// Why an IPv4 header failed validation: one variant per reason, in the
/// order [`Packet::check_len`] tests them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Ipv4Error {
    /// Fewer than 20 bytes: not even a minimal header.
    ShortBuffer,
    /// The version nibble is not 4.
    BadVersion,
    /// IHL below 5 words (RFC 791 3.1: the minimum header is 20 bytes).
    BadHeaderLen,
    /// IHL says the header (with options) is longer than the buffer.
    HeaderExceedsBuffer,
    /// Total Length is smaller than the header length.
    TotalLenTooSmall,
    /// Total Length is larger than the buffer: the datagram was cut short.
    TotalLenExceedsBuffer,
}

impl From<Ipv4Error> for Error {
    fn from(e: Ipv4Error) -> Error {
        match e {
            Ipv4Error::ShortBuffer
            | Ipv4Error::HeaderExceedsBuffer
            | Ipv4Error::TotalLenExceedsBuffer => Error::Truncated,
            Ipv4Error::BadVersion | Ipv4Error::BadHeaderLen | Ipv4Error::TotalLenTooSmall => {
                Error::Malformed
            }
        }
    }
}

impl fmt::Display for Ipv4Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Ipv4Error::ShortBuffer => "truncated (shorter than 20 bytes)",
            Ipv4Error::BadVersion => "bad version",
            Ipv4Error::BadHeaderLen => "bad header length (IHL < 5)",
            Ipv4Error::HeaderExceedsBuffer => "truncated (header longer than buffer)",
            Ipv4Error::TotalLenTooSmall => "bad total length (shorter than header)",
            Ipv4Error::TotalLenExceedsBuffer => "truncated (total length longer than buffer)",
        })
    }
}

impl std::error::Error for Ipv4Error {}

/// A source address a host must never accept or answer (RFC 1122 3.2.1.3):
/// 0/8, 127/8, multicast, reserved and limited broadcast.
pub fn is_martian_source(ip: Ipv4Addr) -> bool {
    ipv4::is_martian_source(ip.octets())
}

/// True if `ip` is a broadcast address for the subnet `network/prefix_len`:
/// the limited broadcast 255.255.255.255 or the directed (all-ones host part)
/// broadcast (RFC 1122 3.2.1.3, RFC 919). A /31 or /32 has no directed
/// broadcast (RFC 3021).
pub fn is_broadcast(ip: Ipv4Addr, network: Ipv4Addr, prefix_len: u8) -> bool {
    if ip.is_broadcast() {
        return true;
    }
    if prefix_len >= 31 {
        return false;
    }
    let host_mask = u32::MAX >> prefix_len;
    same_subnet(ip, network, prefix_len) && u32::from(ip) & host_mask == host_mask
}

/// True when `a` and `b` share their first `prefix_len` bits (on-link for
/// a host whose address is `b`/`prefix_len`).
pub fn same_subnet(a: Ipv4Addr, b: Ipv4Addr, prefix_len: u8) -> bool {
    let mask = u32::MAX
        .checked_shl(32 - u32::from(prefix_len.min(32)))
        .unwrap_or(0);
    u32::from(a) & mask == u32::from(b) & mask
}

/// A zero-copy view over an IPv4 datagram.
///
/// Built with [`Packet::new_checked`] the accessors never panic: the header
/// (with its options) and Total Length both fit the buffer. Built with
/// [`Packet::new_unchecked`] over a short or inconsistent buffer they may.
/// Setters can make the view inconsistent again (e.g. a larger header
/// length); call [`Packet::check_len`] again before trusting it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking it; accessors may panic.
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps a buffer whose header and Total Length are consistent with its
    /// size. The error says which check failed; `?` converts it to [`Error`].
    pub fn new_checked(buffer: T) -> core::result::Result<Packet<T>, Ipv4Error> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// The RFC 1122 3.2.1.1-style sanity checks on lengths and version. The
    /// buffer may be longer than Total Length (Ethernet padding).
    pub fn check_len(&self) -> core::result::Result<(), Ipv4Error> {
        let b = self.buffer.as_ref();
        if b.len() < ipv4::MIN_HEADER_LEN {
            return Err(Ipv4Error::ShortBuffer);
        }
        let ver_ihl = b[ipv4::VER_IHL];
        if ver_ihl >> 4 != 4 {
            return Err(Ipv4Error::BadVersion);
        }
        let header_len = usize::from(ver_ihl & 0x0f) * 4;
        if header_len < ipv4::MIN_HEADER_LEN {
            return Err(Ipv4Error::BadHeaderLen);
        }
        if header_len > b.len() {
            return Err(Ipv4Error::HeaderExceedsBuffer);
        }
        let total_len = usize::from(read_u16(b, ipv4::TOTAL_LEN));
        if total_len < header_len {
            return Err(Ipv4Error::TotalLenTooSmall);
        }
        if total_len > b.len() {
            return Err(Ipv4Error::TotalLenExceedsBuffer);
        }
        Ok(())
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[ipv4::VER_IHL] >> 4
    }

    /// Header length in bytes (IHL * 4), options included.
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[ipv4::VER_IHL] & 0x0f) * 4
    }

    /// The whole Type of Service byte (DSCP and ECN, RFC 2474 / RFC 3168).
    pub fn tos(&self) -> u8 {
        self.buffer.as_ref()[ipv4::TOS]
    }

    /// Differentiated Services code point, the upper six bits (RFC 2474).
    pub fn dscp(&self) -> u8 {
        self.tos() >> 2
    }

    /// Explicit Congestion Notification, the lower two bits (RFC 3168).
    pub fn ecn(&self) -> u8 {
        self.tos() & 0x03
    }

    /// Total Length: header plus payload, in bytes.
    pub fn total_len(&self) -> u16 {
        read_u16(self.buffer.as_ref(), ipv4::TOTAL_LEN)
    }

    pub fn ident(&self) -> u16 {
        read_u16(self.buffer.as_ref(), ipv4::IDENT)
    }

    fn flags_frag(&self) -> u16 {
        read_u16(self.buffer.as_ref(), ipv4::FLAGS_FRAG)
    }

    pub fn dont_frag(&self) -> bool {
        self.flags_frag() & ipv4::FLAG_DF != 0
    }

    pub fn more_frags(&self) -> bool {
        self.flags_frag() & ipv4::FLAG_MF != 0
    }

    /// Fragment offset in bytes (the field counts 8-byte units, RFC 791 3.1).
    pub fn frag_offset(&self) -> u16 {
        (self.flags_frag() & ipv4::FRAG_OFFSET_MASK) * 8
    }

    /// True for any fragment of a fragmented datagram, first one included.
    pub fn is_fragment(&self) -> bool {
        self.more_frags() || self.frag_offset() != 0
    }

    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[ipv4::TTL]
    }

    pub fn protocol(&self) -> IpProtocol {
        IpProtocol::from(self.buffer.as_ref()[ipv4::PROTOCOL])
    }

    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), ipv4::CHECKSUM)
    }

    pub fn src(&self) -> Ipv4Addr {
        read_ipv4(self.buffer.as_ref(), ipv4::SRC)
    }

    pub fn dst(&self) -> Ipv4Addr {
        read_ipv4(self.buffer.as_ref(), ipv4::DST)
    }

    /// The header bytes, options included.
    pub fn header(&self) -> &[u8] {
        &self.buffer.as_ref()[..self.header_len()]
    }

    /// The options between the fixed 20-byte header and the payload (RFC 791 3.1).
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[ipv4::MIN_HEADER_LEN..self.header_len()]
    }

    /// The payload up to Total Length, so link-layer padding is left out.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..usize::from(self.total_len())]
    }

    /// True when the header, options included, sums to all ones (RFC 791 3.1,
    /// RFC 1071).
    pub fn verify_checksum(&self) -> bool {
        checksum::verify(self.header())
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_version(&mut self, v: u8) {
        let b = self.buffer.as_mut();
        b[ipv4::VER_IHL] = (b[ipv4::VER_IHL] & 0x0f) | (v << 4);
    }

    /// Sets IHL from a length in bytes (a multiple of 4, 20 to 60).
    pub fn set_header_len(&mut self, len: usize) {
        let b = self.buffer.as_mut();
        b[ipv4::VER_IHL] = (b[ipv4::VER_IHL] & 0xf0) | ((len / 4) as u8 & 0x0f);
    }

    pub fn set_tos(&mut self, tos: u8) {
        self.buffer.as_mut()[ipv4::TOS] = tos;
    }

    pub fn set_total_len(&mut self, len: u16) {
        write_u16(self.buffer.as_mut(), ipv4::TOTAL_LEN, len);
    }

    pub fn set_ident(&mut self, ident: u16) {
        write_u16(self.buffer.as_mut(), ipv4::IDENT, ident);
    }

    fn set_flag(&mut self, flag: u16, on: bool) {
        let v = self.flags_frag();
        let v = if on { v | flag } else { v & !flag };
        write_u16(self.buffer.as_mut(), ipv4::FLAGS_FRAG, v);
    }

    pub fn set_dont_frag(&mut self, on: bool) {
        self.set_flag(ipv4::FLAG_DF, on);
    }

    pub fn set_more_frags(&mut self, on: bool) {
        self.set_flag(ipv4::FLAG_MF, on);
    }

    /// Sets the fragment offset from bytes; the low 3 bits are dropped since
    /// the field counts 8-byte units (RFC 791 3.1).
    pub fn set_frag_offset(&mut self, bytes: u16) {
        let v = (self.flags_frag() & !ipv4::FRAG_OFFSET_MASK) | (bytes / 8);
        write_u16(self.buffer.as_mut(), ipv4::FLAGS_FRAG, v);
    }

    pub fn set_ttl(&mut self, ttl: u8) {
        self.buffer.as_mut()[ipv4::TTL] = ttl;
    }

    pub fn set_protocol(&mut self, p: IpProtocol) {
        self.buffer.as_mut()[ipv4::PROTOCOL] = p.into();
    }

    pub fn set_checksum(&mut self, c: u16) {
        write_u16(self.buffer.as_mut(), ipv4::CHECKSUM, c);
    }

    pub fn set_src(&mut self, ip: Ipv4Addr) {
        self.buffer.as_mut()[ipv4::SRC..ipv4::SRC + 4].copy_from_slice(&ip.octets());
    }

    pub fn set_dst(&mut self, ip: Ipv4Addr) {
        self.buffer.as_mut()[ipv4::DST..ipv4::DST + 4].copy_from_slice(&ip.octets());
    }

    /// Computes the header checksum (options included) and writes it.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let c = checksum::checksum(self.header());
        self.set_checksum(c);
    }

    pub fn options_mut(&mut self) -> &mut [u8] {
        let end = self.header_len();
        &mut self.buffer.as_mut()[ipv4::MIN_HEADER_LEN..end]
    }

    /// The payload up to Total Length.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let (start, end) = (self.header_len(), usize::from(self.total_len()));
        &mut self.buffer.as_mut()[start..end]
    }
}

/// tcpdump's flag spelling: `none`, `DF`, `+` (more fragments), joined by ", ".
fn flags_str(df: bool, mf: bool) -> &'static str {
    match (df, mf) {
        (false, false) => "none",
        (true, false) => "DF",
        (false, true) => "+",
        (true, true) => "+, DF",
    }
}

/// `IP 10.10.0.2 > 10.10.0.4: ICMP, id 1234, offset 0, flags [DF], length 84`,
/// with `[bad checksum]` appended when the header does not verify.
impl<T: AsRef<[u8]>> fmt::Display for Packet<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Err(e) = self.check_len() {
            return write!(f, "IP {e}");
        }
        write!(
            f,
            "IP {} > {}: {}, id {}, offset {}, flags [{}], length {}",
            self.src(),
            self.dst(),
            self.protocol(),
            self.ident(),
            self.frag_offset(),
            flags_str(self.dont_frag(), self.more_frags()),
            self.total_len()
        )?;
        if !self.options().is_empty() {
            write!(f, ", options {} bytes", self.options().len())?;
        }
        if !self.verify_checksum() {
            f.write_str(" [bad checksum]")?;
        }
        Ok(())
    }
}

/// An IPv4 header as plain data. `emit` writes a 20-byte header without
/// options; `parse` accepts options but does not keep them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ipv4Repr {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub protocol: IpProtocol,
    /// Bytes after the header, up to Total Length.
    pub payload_len: usize,
    pub ttl: u8,
    pub ident: u16,
    pub dont_frag: bool,
    pub more_frags: bool,
    /// In bytes; a multiple of 8 (RFC 791 3.1).
    pub frag_offset: u16,
    pub tos: u8,
}

impl Ipv4Repr {
    /// Length of the header `emit` writes.
    pub const HEADER_LEN: usize = ipv4::MIN_HEADER_LEN;

    /// Reads a header after the length checks, verifying its checksum
    /// (`Error::Checksum` when wrong, RFC 1122 3.2.1.2: silently discard).
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Ipv4Repr> {
        packet.check_len()?;
        if !packet.verify_checksum() {
            return Err(Error::Checksum);
        }
        Ok(Ipv4Repr {
            src: packet.src(),
            dst: packet.dst(),
            protocol: packet.protocol(),
            payload_len: usize::from(packet.total_len()) - packet.header_len(),
            ttl: packet.ttl(),
            ident: packet.ident(),
            dont_frag: packet.dont_frag(),
            more_frags: packet.more_frags(),
            frag_offset: packet.frag_offset(),
            tos: packet.tos(),
        })
    }

    /// Bytes the whole datagram takes: header plus payload.
    pub const fn buffer_len(&self) -> usize {
        ipv4::MIN_HEADER_LEN + self.payload_len
    }

    /// Writes a 20-byte header (no options) with its checksum; the caller
    /// writes the payload into `packet.payload_mut()` afterwards.
    ///
    /// # Panics
    /// If the buffer is shorter than [`Ipv4Repr::HEADER_LEN`] (and
    /// `payload_mut()` then panics if it is shorter than `buffer_len()`).
    /// `payload_len` must be at most 65515 so Total Length fits 16 bits.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        debug_assert!(self.buffer_len() <= usize::from(u16::MAX));
        packet.set_version(4);
        packet.set_header_len(ipv4::MIN_HEADER_LEN);
        packet.set_tos(self.tos);
        packet.set_total_len(self.buffer_len() as u16);
        packet.set_ident(self.ident);
        // Writes the whole flags/offset word so the reserved bit is zero.
        write_u16(packet.buffer.as_mut(), ipv4::FLAGS_FRAG, 0);
        packet.set_dont_frag(self.dont_frag);
        packet.set_more_frags(self.more_frags);
        packet.set_frag_offset(self.frag_offset);
        packet.set_ttl(self.ttl);
        packet.set_protocol(self.protocol);
        packet.set_src(self.src);
        packet.set_dst(self.dst);
        packet.fill_checksum();
    }
}

impl fmt::Display for Ipv4Repr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "IP {} > {}: {}, id {}, offset {}, flags [{}], length {}",
            self.src,
            self.dst,
            self.protocol,
            self.ident,
            self.frag_offset,
            flags_str(self.dont_frag, self.more_frags),
            self.buffer_len()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_subnet_at_the_edge_prefixes() {
        let a = Ipv4Addr::new(10, 10, 0, 4);
        assert!(same_subnet(a, Ipv4Addr::new(10, 10, 0, 200), 24));
        assert!(!same_subnet(a, Ipv4Addr::new(10, 10, 1, 4), 24));
        assert!(same_subnet(a, Ipv4Addr::new(192, 0, 2, 1), 0));
        assert!(same_subnet(a, a, 32));
        assert!(!same_subnet(a, Ipv4Addr::new(10, 10, 0, 5), 32));
    }
    use crate::wire::testdata::{frame, ETH_IPV4_HEADER, ICMP_ECHO_REQUEST_IP, IP_WITH_OPTIONS};
    use crate::wire::EthernetFrame;
    use proptest::prelude::*;

    fn echo_repr() -> Ipv4Repr {
        Ipv4Repr {
            src: Ipv4Addr::new(10, 10, 0, 2),
            dst: Ipv4Addr::new(10, 10, 0, 4),
            protocol: IpProtocol::Icmp,
            payload_len: 64,
            ttl: 64,
            ident: 0x9f3c,
            dont_frag: true,
            more_frags: false,
            frag_offset: 0,
            tos: 0,
        }
    }

    #[test]
    fn known_bytes_to_fields() {
        let p = Packet::new_checked(&ICMP_ECHO_REQUEST_IP[..]).unwrap();
        assert_eq!(p.version(), 4);
        assert_eq!(p.header_len(), 20);
        assert_eq!((p.tos(), p.dscp(), p.ecn()), (0, 0, 0));
        assert_eq!(p.total_len(), 84);
        assert_eq!(p.ident(), 0x9f3c);
        assert!(p.dont_frag() && !p.more_frags() && !p.is_fragment());
        assert_eq!(p.frag_offset(), 0);
        assert_eq!(p.ttl(), 64);
        assert_eq!(p.protocol(), IpProtocol::Icmp);
        assert_eq!(p.checksum(), 0x8753);
        assert_eq!(p.src(), Ipv4Addr::new(10, 10, 0, 2));
        assert_eq!(p.dst(), Ipv4Addr::new(10, 10, 0, 4));
        assert!(p.options().is_empty());
        assert_eq!(p.payload(), &ICMP_ECHO_REQUEST_IP[20..]);
        assert!(p.verify_checksum());
        assert_eq!(Ipv4Repr::parse(&p).unwrap(), echo_repr());
    }

    #[test]
    fn emit_gives_the_same_bytes() {
        let mut buf = [0xffu8; 84];
        let mut p = Packet::new_unchecked(&mut buf[..]);
        echo_repr().emit(&mut p);
        p.payload_mut().copy_from_slice(&ICMP_ECHO_REQUEST_IP[20..]);
        assert_eq!(buf, ICMP_ECHO_REQUEST_IP);
    }

    #[test]
    fn round_trips() {
        let reprs = [
            echo_repr(),
            Ipv4Repr {
                protocol: IpProtocol::Unknown(47),
                payload_len: 0,
                ttl: 1,
                dont_frag: false,
                more_frags: true,
                frag_offset: 8 * 8191,
                tos: 0xb8,
                ..echo_repr()
            },
        ];
        for repr in reprs {
            let mut buf = vec![0u8; repr.buffer_len()];
            repr.emit(&mut Packet::new_unchecked(&mut buf));
            let p = Packet::new_checked(&buf).unwrap();
            assert_eq!(Ipv4Repr::parse(&p).unwrap(), repr);
        }
    }

    #[test]
    fn payload_excludes_ethernet_padding() {
        // A 20-byte UDP-less datagram padded to the 60-byte Ethernet minimum.
        let repr = Ipv4Repr {
            payload_len: 4,
            ..echo_repr()
        };
        let mut ip = vec![0u8; repr.buffer_len()];
        repr.emit(&mut Packet::new_unchecked(&mut ip));
        let f = frame(&ETH_IPV4_HEADER, &ip, 60);
        let eth = EthernetFrame::new_checked(&f[..]).unwrap();
        assert_eq!(eth.payload().len(), 46);
        let p = Packet::new_checked(eth.payload()).unwrap();
        assert_eq!(p.payload().len(), 4);
        assert_eq!(Ipv4Repr::parse(&p).unwrap().payload_len, 4);
    }

    #[test]
    fn options_are_exposed() {
        let p = Packet::new_checked(&IP_WITH_OPTIONS[..]).unwrap();
        assert_eq!(p.header_len(), 24);
        assert_eq!(p.options(), &[0x94, 0x04, 0x00, 0x00]);
        assert_eq!(p.payload(), &IP_WITH_OPTIONS[24..]);
        assert!(p.verify_checksum());
        let repr = Ipv4Repr::parse(&p).unwrap();
        assert_eq!(repr.payload_len, 18);
        assert_eq!((repr.ttl, repr.dst), (1, Ipv4Addr::new(224, 0, 0, 22)));
        assert!(p.to_string().contains("options 4 bytes"));
    }

    #[test]
    fn every_truncation_is_refused() {
        for n in 0..ICMP_ECHO_REQUEST_IP.len() {
            let e = Packet::new_checked(&ICMP_ECHO_REQUEST_IP[..n]).unwrap_err();
            let want = if n < 20 {
                Ipv4Error::ShortBuffer
            } else {
                Ipv4Error::TotalLenExceedsBuffer
            };
            assert_eq!(e, want, "{n}");
            assert_eq!(Error::from(e), Error::Truncated);
            assert!(Ipv4Repr::parse(&Packet::new_unchecked(&ICMP_ECHO_REQUEST_IP[..n])).is_err());
            // Display re-checks, so even an unchecked view prints safely.
            assert!(Packet::new_unchecked(&ICMP_ECHO_REQUEST_IP[..n])
                .to_string()
                .starts_with("IP truncated"));
        }
        for n in 20..24 {
            assert_eq!(
                Packet::new_checked(&IP_WITH_OPTIONS[..n]),
                Err(Ipv4Error::HeaderExceedsBuffer)
            );
        }
    }

    #[test]
    fn each_header_error_is_distinguished() {
        let with = |at: usize, v: u8| {
            let mut b = ICMP_ECHO_REQUEST_IP;
            b[at] = v;
            Packet::new_checked(b.to_vec()).map(|_| ())
        };
        assert_eq!(with(ipv4::VER_IHL, 0x65), Err(Ipv4Error::BadVersion));
        assert_eq!(with(ipv4::VER_IHL, 0x44), Err(Ipv4Error::BadHeaderLen));
        assert_eq!(
            with(ipv4::TOTAL_LEN + 1, 19),
            Err(Ipv4Error::TotalLenTooSmall)
        );
        assert_eq!(
            with(ipv4::TOTAL_LEN + 1, 85),
            Err(Ipv4Error::TotalLenExceedsBuffer)
        );
        // IHL 15 (60 bytes) with Total Length 40: shorter than its own header.
        let mut b = ICMP_ECHO_REQUEST_IP;
        b[ipv4::VER_IHL] = 0x4f;
        b[ipv4::TOTAL_LEN + 1] = 40;
        assert_eq!(
            Packet::new_checked(&b[..]),
            Err(Ipv4Error::TotalLenTooSmall)
        );
        assert_eq!(
            Packet::new_checked(&[0u8; 0][..]),
            Err(Ipv4Error::ShortBuffer)
        );
    }

    #[test]
    fn bad_checksum_is_detected() {
        // A flipped bit anywhere in the header, or a wrong checksum field.
        for at in 0..20 {
            let mut b = ICMP_ECHO_REQUEST_IP;
            b[at] ^= 0x01;
            // Flipping the version/IHL or length bits may fail earlier checks.
            if let Ok(p) = Packet::new_checked(&b[..]) {
                assert!(!p.verify_checksum(), "byte {at}");
                assert_eq!(Ipv4Repr::parse(&p), Err(Error::Checksum), "byte {at}");
                assert!(p.to_string().ends_with("[bad checksum]"));
            }
        }
        let mut b = ICMP_ECHO_REQUEST_IP;
        let mut p = Packet::new_unchecked(&mut b[..]);
        p.set_ttl(63);
        assert!(!p.verify_checksum());
        p.fill_checksum();
        assert!(p.verify_checksum());
    }

    #[test]
    fn setters() {
        let mut b = ICMP_ECHO_REQUEST_IP;
        let mut p = Packet::new_unchecked(&mut b[..]);
        p.set_dont_frag(false);
        p.set_more_frags(true);
        p.set_frag_offset(1480);
        assert!(!p.dont_frag() && p.more_frags() && p.is_fragment());
        assert_eq!(p.frag_offset(), 1480);
        p.set_tos(0xb9);
        assert_eq!((p.dscp(), p.ecn()), (46, 1));
        p.set_src(Ipv4Addr::new(1, 2, 3, 4));
        p.set_dst(Ipv4Addr::new(5, 6, 7, 8));
        p.set_protocol(IpProtocol::Udp);
        assert_eq!(
            (p.src(), p.dst(), p.protocol()),
            (
                Ipv4Addr::new(1, 2, 3, 4),
                Ipv4Addr::new(5, 6, 7, 8),
                IpProtocol::Udp
            )
        );
        p.set_total_len(30);
        assert_eq!(p.payload_mut().len(), 10);
    }

    #[test]
    fn display_like_tcpdump() {
        let p = Packet::new_checked(&ICMP_ECHO_REQUEST_IP[..]).unwrap();
        assert_eq!(
            p.to_string(),
            "IP 10.10.0.2 > 10.10.0.4: ICMP, id 40764, offset 0, flags [DF], length 84"
        );
        assert_eq!(echo_repr().to_string(), p.to_string());
        assert_eq!(IpProtocol::Unknown(47).to_string(), "ip-proto-47");
    }

    #[test]
    fn address_helpers() {
        assert!(is_martian_source(Ipv4Addr::new(127, 0, 0, 1)));
        assert!(is_martian_source(Ipv4Addr::new(0, 1, 2, 3)));
        assert!(is_martian_source(Ipv4Addr::new(224, 0, 0, 1)));
        assert!(is_martian_source(Ipv4Addr::BROADCAST));
        assert!(!is_martian_source(Ipv4Addr::new(10, 10, 0, 2)));
        let net = Ipv4Addr::new(10, 10, 0, 0);
        assert!(is_broadcast(Ipv4Addr::new(10, 10, 0, 255), net, 24));
        assert!(is_broadcast(Ipv4Addr::BROADCAST, net, 24));
        assert!(!is_broadcast(Ipv4Addr::new(10, 10, 0, 4), net, 24));
        assert!(!is_broadcast(Ipv4Addr::new(10, 11, 0, 255), net, 24));
        assert!(!is_broadcast(Ipv4Addr::new(10, 10, 0, 1), net, 31));
        assert!(is_broadcast(Ipv4Addr::new(255, 255, 255, 255), net, 0));
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            let unchecked = Packet::new_unchecked(&bytes[..]).to_string();
            prop_assert!(unchecked.starts_with("IP"));
            if let Ok(p) = Packet::new_checked(&bytes[..]) {
                let _ = (p.options(), p.payload(), p.verify_checksum(), p.to_string());
                let _ = Ipv4Repr::parse(&p);
            }
        }

        #[test]
        fn valid_headers_with_one_byte_changed_never_panic(at in 0usize..84, v in any::<u8>()) {
            let mut b = ICMP_ECHO_REQUEST_IP;
            b[at] = v;
            if let Ok(p) = Packet::new_checked(&b[..]) {
                let _ = (p.payload(), p.to_string(), Ipv4Repr::parse(&p));
            }
        }
    }
}
