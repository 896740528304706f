//! IPv6 (RFC 8200): the fixed 40-byte header, and the address arithmetic
//! a host needs on an Ethernet link (RFC 4291, RFC 2464).
//!
//! Extension headers are walked by [`super::ipv6ext`]; [`Packet::payload`]
//! is everything after the fixed header up to Payload Length.

use std::fmt;
use std::net::Ipv6Addr;

use super::ethernet::MacAddr;
use super::{read_u16, write_u16, Error};

/// Offsets of the fixed header (RFC 8200 3).
pub mod field {
    /// Version (4 bits), Traffic Class (8), Flow Label (20).
    pub const VER_TC_FLOW: usize = 0;
    pub const PAYLOAD_LEN: usize = 4;
    pub const NEXT_HEADER: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC: usize = 8;
    pub const DST: usize = 24;
    pub const HEADER_LEN: usize = 40;
}

/// The fixed header's length; extension headers come after it.
pub const HEADER_LEN: usize = field::HEADER_LEN;

/// The minimum link MTU every IPv6 link supports (RFC 8200 5).
pub const MIN_MTU: usize = 1280;

/// ff02::1, all nodes on the link (RFC 4291 2.7.1).
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
/// ff02::2, all routers on the link (RFC 4291 2.7.1).
pub const ALL_ROUTERS: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 2);
/// ff02::16, where MLDv2 reports go (RFC 3810 5.2.14).
pub const ALL_MLDV2_ROUTERS: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x16);

/// The Next Header field: an extension header or an upper-layer protocol
/// (IANA protocol numbers, RFC 8200 4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NextHeader {
    HopByHop,
    Tcp,
    Udp,
    Routing,
    Fragment,
    Esp,
    Ah,
    Icmpv6,
    /// No Next Header (RFC 8200 4.7): nothing follows.
    NoNext,
    DstOpts,
    Unknown(u8),
}

impl From<u8> for NextHeader {
    fn from(v: u8) -> Self {
        match v {
            0 => NextHeader::HopByHop,
            6 => NextHeader::Tcp,
            17 => NextHeader::Udp,
            43 => NextHeader::Routing,
            44 => NextHeader::Fragment,
            50 => NextHeader::Esp,
            51 => NextHeader::Ah,
            58 => NextHeader::Icmpv6,
            59 => NextHeader::NoNext,
            60 => NextHeader::DstOpts,
            other => NextHeader::Unknown(other),
        }
    }
}

impl From<NextHeader> for u8 {
    fn from(n: NextHeader) -> u8 {
        match n {
            NextHeader::HopByHop => 0,
            NextHeader::Tcp => 6,
            NextHeader::Udp => 17,
            NextHeader::Routing => 43,
            NextHeader::Fragment => 44,
            NextHeader::Esp => 50,
            NextHeader::Ah => 51,
            NextHeader::Icmpv6 => 58,
            NextHeader::NoNext => 59,
            NextHeader::DstOpts => 60,
            NextHeader::Unknown(v) => v,
        }
    }
}

/// tcpdump -v's names: `ICMPv6 (58)`, `Fragment (44)`, `unknown (253)`.
impl fmt::Display for NextHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            NextHeader::HopByHop => "Options",
            NextHeader::Tcp => "TCP",
            NextHeader::Udp => "UDP",
            NextHeader::Routing => "Routing",
            NextHeader::Fragment => "Fragment",
            NextHeader::Esp => "ESP",
            NextHeader::Ah => "AH",
            NextHeader::Icmpv6 => "ICMPv6",
            NextHeader::NoNext => "NONE",
            NextHeader::DstOpts => "DSTOPT",
            NextHeader::Unknown(_) => "unknown",
        };
        write!(f, "{name} ({})", u8::from(*self))
    }
}

/// Why an IPv6 header failed validation, one variant per reason so the
/// stack can count each.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Ipv6Error {
    /// Fewer than 40 bytes: not even the fixed header.
    ShortBuffer,
    /// The version nibble is not 6.
    BadVersion,
    /// Payload Length says more bytes follow the header than the buffer has.
    PayloadLenExceedsBuffer,
}

impl From<Ipv6Error> for Error {
    fn from(e: Ipv6Error) -> Error {
        match e {
            Ipv6Error::ShortBuffer | Ipv6Error::PayloadLenExceedsBuffer => Error::Truncated,
            Ipv6Error::BadVersion => Error::Malformed,
        }
    }
}

impl fmt::Display for Ipv6Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Ipv6Error::ShortBuffer => "truncated (shorter than 40 bytes)",
            Ipv6Error::BadVersion => "bad version",
            Ipv6Error::PayloadLenExceedsBuffer => "truncated (payload length longer than buffer)",
        })
    }
}

impl std::error::Error for Ipv6Error {}

/// A zero-copy view over an IPv6 packet.
///
/// Built with [`Packet::new_checked`] the accessors never panic: the fixed
/// header and Payload Length both fit the buffer. Payload Length 0 is an
/// empty payload: jumbograms (RFC 2675) are not supported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking it; accessors may panic.
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps a buffer whose header and Payload Length fit; the error says
    /// which check failed and `?` converts it to [`Error`].
    pub fn new_checked(buffer: T) -> core::result::Result<Packet<T>, Ipv6Error> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Version 6 and Payload Length within the buffer (which may be longer:
    /// Ethernet padding).
    pub fn check_len(&self) -> core::result::Result<(), Ipv6Error> {
        let b = self.buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(Ipv6Error::ShortBuffer);
        }
        if b[field::VER_TC_FLOW] >> 4 != 6 {
            return Err(Ipv6Error::BadVersion);
        }
        if HEADER_LEN + usize::from(read_u16(b, field::PAYLOAD_LEN)) > b.len() {
            return Err(Ipv6Error::PayloadLenExceedsBuffer);
        }
        Ok(())
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn first_word(&self) -> u32 {
        let b = self.buffer.as_ref();
        u32::from_be_bytes([b[0], b[1], b[2], b[3]])
    }

    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_TC_FLOW] >> 4
    }

    /// The Traffic Class byte: DSCP and ECN, as IPv4's TOS (RFC 8200 7).
    pub fn traffic_class(&self) -> u8 {
        (self.first_word() >> 20) as u8
    }

    pub fn dscp(&self) -> u8 {
        self.traffic_class() >> 2
    }

    pub fn ecn(&self) -> u8 {
        self.traffic_class() & 0x03
    }

    /// The 20-bit Flow Label (RFC 6437).
    pub fn flow_label(&self) -> u32 {
        self.first_word() & 0x000f_ffff
    }

    /// Bytes after the fixed header, extension headers included.
    pub fn payload_len(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::PAYLOAD_LEN)
    }

    pub fn next_header(&self) -> NextHeader {
        NextHeader::from(self.buffer.as_ref()[field::NEXT_HEADER])
    }

    pub fn hop_limit(&self) -> u8 {
        self.buffer.as_ref()[field::HOP_LIMIT]
    }

    pub fn src(&self) -> Ipv6Addr {
        read_ipv6(self.buffer.as_ref(), field::SRC)
    }

    pub fn dst(&self) -> Ipv6Addr {
        read_ipv6(self.buffer.as_ref(), field::DST)
    }

    /// Header and payload up to Payload Length: the packet without
    /// link-layer padding (what an ICMPv6 error quotes, and what offsets of
    /// the extension header walk count from).
    pub fn packet(&self) -> &[u8] {
        &self.buffer.as_ref()[..HEADER_LEN + usize::from(self.payload_len())]
    }

    /// Everything after the fixed header up to Payload Length.
    pub fn payload(&self) -> &[u8] {
        &self.packet()[HEADER_LEN..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    fn set_first_word(&mut self, v: u32) {
        self.buffer.as_mut()[..4].copy_from_slice(&v.to_be_bytes());
    }

    pub fn set_version(&mut self, v: u8) {
        let w = (self.first_word() & 0x0fff_ffff) | (u32::from(v & 0x0f) << 28);
        self.set_first_word(w);
    }

    pub fn set_traffic_class(&mut self, tc: u8) {
        let w = (self.first_word() & 0xf00f_ffff) | (u32::from(tc) << 20);
        self.set_first_word(w);
    }

    /// Sets the Flow Label; bits above the low 20 are ignored.
    pub fn set_flow_label(&mut self, label: u32) {
        let w = (self.first_word() & 0xfff0_0000) | (label & 0x000f_ffff);
        self.set_first_word(w);
    }

    pub fn set_payload_len(&mut self, len: u16) {
        write_u16(self.buffer.as_mut(), field::PAYLOAD_LEN, len);
    }

    pub fn set_next_header(&mut self, n: NextHeader) {
        self.buffer.as_mut()[field::NEXT_HEADER] = n.into();
    }

    pub fn set_hop_limit(&mut self, h: u8) {
        self.buffer.as_mut()[field::HOP_LIMIT] = h;
    }

    pub fn set_src(&mut self, a: Ipv6Addr) {
        self.buffer.as_mut()[field::SRC..field::SRC + 16].copy_from_slice(&a.octets());
    }

    pub fn set_dst(&mut self, a: Ipv6Addr) {
        self.buffer.as_mut()[field::DST..field::DST + 16].copy_from_slice(&a.octets());
    }

    /// The payload up to Payload Length.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = HEADER_LEN + usize::from(self.payload_len());
        &mut self.buffer.as_mut()[HEADER_LEN..end]
    }
}

/// tcpdump -v's header: `IP6 (flowlabel 0x0bc30, hlim 64, next-header
/// ICMPv6 (58) payload length: 64) fd00:10:10::2 > fd00:10:10::4`.
impl<T: AsRef<[u8]>> fmt::Display for Packet<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Err(e) = self.check_len() {
            return write!(f, "IP6 {e}");
        }
        f.write_str("IP6 (")?;
        if self.traffic_class() != 0 {
            write!(f, "class 0x{:02x}, ", self.traffic_class())?;
        }
        if self.flow_label() != 0 {
            write!(f, "flowlabel 0x{:05x}, ", self.flow_label())?;
        }
        write!(
            f,
            "hlim {}, next-header {} payload length: {}) {} > {}",
            self.hop_limit(),
            self.next_header(),
            self.payload_len(),
            self.src(),
            self.dst()
        )
    }
}

/// The fixed IPv6 header as plain data. `emit` writes the 40 bytes; any
/// extension headers are part of the payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ipv6Repr {
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    /// The first header after the fixed one (an extension or upper layer).
    pub next_header: NextHeader,
    /// Bytes after the fixed header, up to Payload Length.
    pub payload_len: usize,
    pub hop_limit: u8,
    pub traffic_class: u8,
    /// 20 bits (RFC 6437); 0 when the source does not label flows.
    pub flow_label: u32,
}

impl Ipv6Repr {
    /// Length of the header `emit` writes.
    pub const HEADER_LEN: usize = HEADER_LEN;

    /// Reads the fixed header after the version and length checks (IPv6
    /// has no header checksum, RFC 8200 3).
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> super::Result<Ipv6Repr> {
        packet.check_len()?;
        Ok(Ipv6Repr {
            src: packet.src(),
            dst: packet.dst(),
            next_header: packet.next_header(),
            payload_len: usize::from(packet.payload_len()),
            hop_limit: packet.hop_limit(),
            traffic_class: packet.traffic_class(),
            flow_label: packet.flow_label(),
        })
    }

    /// Bytes the whole packet takes: header plus payload.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN + self.payload_len
    }

    /// Writes the fixed header; the caller writes the payload into
    /// `packet.payload_mut()` afterwards.
    ///
    /// # Panics
    /// If the buffer is shorter than [`Ipv6Repr::HEADER_LEN`]. `payload_len`
    /// must fit 16 bits (no jumbograms).
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        debug_assert!(self.payload_len <= usize::from(u16::MAX));
        packet.set_first_word(0);
        packet.set_version(6);
        packet.set_traffic_class(self.traffic_class);
        packet.set_flow_label(self.flow_label);
        packet.set_payload_len(self.payload_len as u16);
        packet.set_next_header(self.next_header);
        packet.set_hop_limit(self.hop_limit);
        packet.set_src(self.src);
        packet.set_dst(self.dst);
    }
}

/// tcpdump's short form: `IP6 fd00:10:10::2 > fd00:10:10::4: ICMPv6 (58), hlim 64, length 64`.
impl fmt::Display for Ipv6Repr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "IP6 {} > {}: {}, hlim {}, length {}",
            self.src, self.dst, self.next_header, self.hop_limit, self.payload_len
        )
    }
}

/// Reads an IPv6 address at `at`. Callers have checked the length.
pub(crate) fn read_ipv6(b: &[u8], at: usize) -> Ipv6Addr {
    let mut o = [0u8; 16];
    o.copy_from_slice(&b[at..at + 16]);
    Ipv6Addr::from(o)
}

/// The partial one's-complement sum of the IPv6 pseudo-header (RFC 8200
/// 8.1): [`super::ip::pseudo_header_sum`] with IPv6 addresses, which
/// ICMPv6, UDP and TCP over IPv6 add to the sum of their own bytes.
pub fn pseudo_header_sum(src: Ipv6Addr, dst: Ipv6Addr, next_header: u8, len: u32) -> u32 {
    super::ip::pseudo_header_sum(src.into(), dst.into(), next_header, len)
}

/// The solicited-node multicast group of `addr`: ff02::1:ff00:0/104 and
/// its low 24 bits (RFC 4291 2.7.1), where Neighbor Solicitations for it go.
pub fn solicited_node(addr: Ipv6Addr) -> Ipv6Addr {
    let o = addr.octets();
    Ipv6Addr::from([
        0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff, o[13], o[14], o[15],
    ])
}

/// True for any address of ff02::1:ff00:0/104 (RFC 4291 2.7.1).
pub fn is_solicited_node(addr: Ipv6Addr) -> bool {
    addr.octets()[..13] == [0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff]
}

/// True for unicast link-local addresses, fe80::/10 (RFC 4291 2.5.6).
pub fn is_link_local(addr: Ipv6Addr) -> bool {
    addr.segments()[0] & 0xffc0 == 0xfe80
}

/// True for ::, which only a node without an address yet may send from
/// (RFC 4291 2.5.2; DAD, RFC 4862 5.4).
pub fn is_unspecified(addr: Ipv6Addr) -> bool {
    addr.is_unspecified()
}

/// The scope of a multicast address (RFC 4291 2.7, RFC 7346).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MulticastScope {
    InterfaceLocal,
    LinkLocal,
    RealmLocal,
    AdminLocal,
    SiteLocal,
    OrganizationLocal,
    Global,
    /// Reserved or unassigned scope values.
    Other(u8),
}

/// The scope field of a multicast address, `None` for any other address.
pub fn multicast_scope(addr: Ipv6Addr) -> Option<MulticastScope> {
    let o = addr.octets();
    if o[0] != 0xff {
        return None;
    }
    Some(match o[1] & 0x0f {
        0x1 => MulticastScope::InterfaceLocal,
        0x2 => MulticastScope::LinkLocal,
        0x3 => MulticastScope::RealmLocal,
        0x4 => MulticastScope::AdminLocal,
        0x5 => MulticastScope::SiteLocal,
        0x8 => MulticastScope::OrganizationLocal,
        0xe => MulticastScope::Global,
        other => MulticastScope::Other(other),
    })
}

/// The modified EUI-64 interface identifier of a MAC: ff:fe inserted in
/// the middle and the universal/local bit inverted (RFC 4291 App. A).
pub fn eui64_interface_id(mac: MacAddr) -> [u8; 8] {
    let m = mac.octets();
    [m[0] ^ 0x02, m[1], m[2], 0xff, 0xfe, m[3], m[4], m[5]]
}

/// fe80::/64 with the modified EUI-64 identifier of `mac` (RFC 4862 5.3).
pub fn link_local_from_mac(mac: MacAddr) -> Ipv6Addr {
    let id = eui64_interface_id(mac);
    let mut o = [0u8; 16];
    o[0] = 0xfe;
    o[1] = 0x80;
    o[8..].copy_from_slice(&id);
    Ipv6Addr::from(o)
}

/// The Ethernet destination of an IPv6 multicast packet: 33:33 and the
/// group's low 32 bits (RFC 2464 7).
pub fn multicast_mac(group: Ipv6Addr) -> MacAddr {
    let o = group.octets();
    MacAddr([0x33, 0x33, o[12], o[13], o[14], o[15]])
}

/// True when `a` and `b` share their first `prefix_len` bits (on-link for
/// an address `b`/`prefix_len`).
pub fn same_prefix(a: Ipv6Addr, b: Ipv6Addr, prefix_len: u8) -> bool {
    let mask = u128::MAX
        .checked_shl(128 - u32::from(prefix_len.min(128)))
        .unwrap_or(0);
    u128::from(a) & mask == u128::from(b) & mask
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::testdata::{ECHO_REQUEST_IP6, FRAG_LAST_IP6, NS_IP6};
    use proptest::prelude::*;
    use xdpstack_common::checksum;

    fn echo_repr() -> Ipv6Repr {
        Ipv6Repr {
            src: "fd00:10:10::2".parse().unwrap(),
            dst: "fd00:10:10::4".parse().unwrap(),
            next_header: NextHeader::Icmpv6,
            payload_len: 64,
            hop_limit: 64,
            traffic_class: 0,
            flow_label: 0x0bc30,
        }
    }

    #[test]
    fn known_bytes_to_fields() {
        let p = Packet::new_checked(&ECHO_REQUEST_IP6[..]).unwrap();
        assert_eq!(p.version(), 6);
        assert_eq!((p.traffic_class(), p.dscp(), p.ecn()), (0, 0, 0));
        assert_eq!(p.flow_label(), 0x0bc30);
        assert_eq!(p.payload_len(), 64);
        assert_eq!(p.next_header(), NextHeader::Icmpv6);
        assert_eq!(p.hop_limit(), 64);
        assert_eq!(p.src(), "fd00:10:10::2".parse::<Ipv6Addr>().unwrap());
        assert_eq!(p.dst(), "fd00:10:10::4".parse::<Ipv6Addr>().unwrap());
        assert_eq!(p.payload(), &ECHO_REQUEST_IP6[40..]);
        assert_eq!(Ipv6Repr::parse(&p).unwrap(), echo_repr());

        let p = Packet::new_checked(&NS_IP6[..]).unwrap();
        assert_eq!((p.hop_limit(), p.flow_label()), (255, 0));
        assert_eq!(p.dst(), solicited_node("fd00:10:10::4".parse().unwrap()));
        let p = Packet::new_checked(&FRAG_LAST_IP6[..]).unwrap();
        assert_eq!(p.next_header(), NextHeader::Fragment);
    }

    #[test]
    fn emit_gives_the_same_bytes() {
        let mut buf = [0xffu8; 104];
        let mut p = Packet::new_unchecked(&mut buf[..]);
        echo_repr().emit(&mut p);
        p.payload_mut().copy_from_slice(&ECHO_REQUEST_IP6[40..]);
        assert_eq!(buf, ECHO_REQUEST_IP6);
    }

    #[test]
    fn payload_excludes_padding_and_setters_keep_other_bits() {
        let mut b = ECHO_REQUEST_IP6.to_vec();
        b.extend_from_slice(&[0; 6]);
        let mut p = Packet::new_checked(&mut b[..]).unwrap();
        assert_eq!(p.payload().len(), 64);
        assert_eq!(p.packet(), &ECHO_REQUEST_IP6[..]);
        p.set_traffic_class(0xb9);
        assert_eq!((p.dscp(), p.ecn(), p.flow_label()), (46, 1, 0x0bc30));
        p.set_flow_label(0xfff_ffff);
        assert_eq!(
            (p.traffic_class(), p.flow_label(), p.version()),
            (0xb9, 0xf_ffff, 6)
        );
        p.set_payload_len(10);
        assert_eq!(p.payload_mut().len(), 10);
    }

    #[test]
    fn every_truncation_is_refused() {
        for n in 0..ECHO_REQUEST_IP6.len() {
            let e = Packet::new_checked(&ECHO_REQUEST_IP6[..n]).unwrap_err();
            let want = if n < 40 {
                Ipv6Error::ShortBuffer
            } else {
                Ipv6Error::PayloadLenExceedsBuffer
            };
            assert_eq!(e, want, "{n}");
            assert_eq!(Error::from(e), Error::Truncated);
            assert!(Ipv6Repr::parse(&Packet::new_unchecked(&ECHO_REQUEST_IP6[..n])).is_err());
            assert!(Packet::new_unchecked(&ECHO_REQUEST_IP6[..n])
                .to_string()
                .starts_with("IP6 truncated"));
        }
        let mut b = ECHO_REQUEST_IP6;
        b[0] = 0x45;
        assert_eq!(Packet::new_checked(&b[..]), Err(Ipv6Error::BadVersion));
        assert_eq!(Error::from(Ipv6Error::BadVersion), Error::Malformed);
    }

    #[test]
    fn display_like_tcpdump() {
        let p = Packet::new_checked(&ECHO_REQUEST_IP6[..]).unwrap();
        assert_eq!(
            p.to_string(),
            "IP6 (flowlabel 0x0bc30, hlim 64, next-header ICMPv6 (58) payload length: 64) \
             fd00:10:10::2 > fd00:10:10::4"
        );
        assert_eq!(
            echo_repr().to_string(),
            "IP6 fd00:10:10::2 > fd00:10:10::4: ICMPv6 (58), hlim 64, length 64"
        );
        assert_eq!(NextHeader::Unknown(253).to_string(), "unknown (253)");
    }

    #[test]
    fn next_header_round_trips() {
        for v in 0..=255u8 {
            assert_eq!(u8::from(NextHeader::from(v)), v);
        }
    }

    #[test]
    fn pseudo_header_is_the_rfc_8200_sum() {
        // The echo request's checksum verifies with the 40-byte pseudo-header.
        let p = Packet::new_checked(&ECHO_REQUEST_IP6[..]).unwrap();
        let acc = pseudo_header_sum(p.src(), p.dst(), 58, 64);
        assert_eq!(checksum::fold(checksum::sum_be(acc, p.payload())), 0xffff);
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&p.src().octets());
        bytes.extend_from_slice(&p.dst().octets());
        bytes.extend_from_slice(&70_000u32.to_be_bytes());
        bytes.extend_from_slice(&[0, 0, 0, 6]);
        assert_eq!(
            checksum::fold(pseudo_header_sum(p.src(), p.dst(), 6, 70_000)),
            checksum::fold(checksum::sum_be(0, &bytes))
        );
    }

    #[test]
    fn address_helpers() {
        let a: Ipv6Addr = "fd00:10:10::4".parse().unwrap();
        assert_eq!(
            solicited_node(a),
            "ff02::1:ff00:4".parse::<Ipv6Addr>().unwrap()
        );
        let b: Ipv6Addr = "2001:db8::abcd:ef12:3456".parse().unwrap();
        assert_eq!(
            solicited_node(b),
            "ff02::1:ff12:3456".parse::<Ipv6Addr>().unwrap()
        );
        assert!(is_solicited_node(solicited_node(b)));
        assert!(!is_solicited_node(ALL_NODES));
        assert!(is_link_local("fe80::1".parse().unwrap()));
        assert!(is_link_local("febf::1".parse().unwrap()));
        assert!(!is_link_local("fec0::1".parse().unwrap()));
        assert!(!is_link_local(a));
        assert!(is_unspecified(Ipv6Addr::UNSPECIFIED) && !is_unspecified(a));
        assert_eq!(multicast_scope(ALL_NODES), Some(MulticastScope::LinkLocal));
        assert_eq!(
            multicast_scope("ff0e::1".parse().unwrap()),
            Some(MulticastScope::Global)
        );
        assert_eq!(
            multicast_scope("ff15::1".parse().unwrap()),
            Some(MulticastScope::SiteLocal)
        );
        assert_eq!(
            multicast_scope("ff00::1".parse().unwrap()),
            Some(MulticastScope::Other(0))
        );
        assert_eq!(multicast_scope(a), None);
        // The link-local addresses Linux derived in the capture.
        let mac = MacAddr([2, 0, 0, 0, 0, 4]);
        assert_eq!(eui64_interface_id(mac), [0, 0, 0, 0xff, 0xfe, 0, 0, 4]);
        assert_eq!(
            link_local_from_mac(mac),
            "fe80::ff:fe00:4".parse::<Ipv6Addr>().unwrap()
        );
        // RFC 4291 App. A: a universal MAC gets the u bit set.
        assert_eq!(
            link_local_from_mac(MacAddr([0x00, 0x1b, 0x21, 0x12, 0x34, 0x56])),
            "fe80::21b:21ff:fe12:3456".parse::<Ipv6Addr>().unwrap()
        );
        assert_eq!(
            multicast_mac(solicited_node(a)),
            MacAddr([0x33, 0x33, 0xff, 0, 0, 4])
        );
        assert_eq!(multicast_mac(ALL_NODES), MacAddr([0x33, 0x33, 0, 0, 0, 1]));
        assert!(same_prefix(a, "fd00:10:10::2".parse().unwrap(), 64));
        assert!(!same_prefix(a, "fd00:10:11::4".parse().unwrap(), 64));
        assert!(same_prefix(a, ALL_NODES, 0));
        assert!(same_prefix(a, a, 128) && !same_prefix(a, "fd00:10:10::5".parse().unwrap(), 128));
    }

    proptest! {
        #[test]
        fn round_trips(src in any::<u128>(), dst in any::<u128>(), nh in any::<u8>(),
                       len in 0usize..200, hop in any::<u8>(), tc in any::<u8>(), fl in 0u32..0x10_0000) {
            let repr = Ipv6Repr {
                src: src.into(), dst: dst.into(), next_header: nh.into(),
                payload_len: len, hop_limit: hop, traffic_class: tc, flow_label: fl,
            };
            let mut buf = vec![0xa5u8; repr.buffer_len()];
            repr.emit(&mut Packet::new_unchecked(&mut buf));
            let p = Packet::new_checked(&buf).unwrap();
            prop_assert_eq!(Ipv6Repr::parse(&p).unwrap(), repr);
        }

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..100)) {
            let _ = Packet::new_unchecked(&bytes[..]).to_string();
            if let Ok(p) = Packet::new_checked(&bytes[..]) {
                let _ = (p.payload(), p.to_string(), Ipv6Repr::parse(&p));
            }
        }
    }
}
