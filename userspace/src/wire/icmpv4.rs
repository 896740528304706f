//! ICMP for IPv4 (RFC 792), the messages a host sends and answers:
//! echo (ping), destination unreachable and time exceeded.
//!
//! The view covers the whole ICMP message, i.e. exactly the IPv4 payload
//! (use `ipv4::Packet::payload()`, which stops at Total Length): the
//! checksum covers every byte of it (RFC 792).

use std::fmt;
use std::net::Ipv4Addr;

use xdpstack_common::checksum;
use xdpstack_common::layout::{icmp, ipv4};

use super::ipv4::IpProtocol;
use super::{read_ipv4, read_u16, write_u16, Error, Result};

/// A zero-copy view over an ICMP message.
///
/// Built with [`Packet::new_checked`] (at least the 8-byte header) the
/// accessors never panic; built with [`Packet::new_unchecked`] over fewer
/// bytes they do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking it; accessors may panic if it is short.
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps a buffer, refusing one shorter than the 8-byte ICMP header.
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// `Err(Truncated)` when the buffer cannot hold the header.
    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < icmp::HEADER_LEN {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[icmp::TYPE]
    }

    pub fn code(&self) -> u8 {
        self.buffer.as_ref()[icmp::CODE]
    }

    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), icmp::CHECKSUM)
    }

    /// Echo identifier (bytes 4-5; other types use them differently).
    pub fn ident(&self) -> u16 {
        read_u16(self.buffer.as_ref(), icmp::IDENT)
    }

    /// Echo sequence number (bytes 6-7).
    pub fn seq(&self) -> u16 {
        read_u16(self.buffer.as_ref(), icmp::SEQ)
    }

    /// Bytes 4-7, whose meaning depends on the type ("unused" for errors).
    pub fn rest_of_header(&self) -> [u8; 4] {
        let b = self.buffer.as_ref();
        [
            b[icmp::IDENT],
            b[icmp::IDENT + 1],
            b[icmp::SEQ],
            b[icmp::SEQ + 1],
        ]
    }

    /// Everything after the 8-byte header: echo data, or the quoted datagram
    /// of an error message.
    pub fn data(&self) -> &[u8] {
        &self.buffer.as_ref()[icmp::HEADER_LEN..]
    }

    /// True when the whole message sums to all ones (RFC 792, RFC 1071).
    pub fn verify_checksum(&self) -> bool {
        checksum::verify(self.buffer.as_ref())
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_msg_type(&mut self, v: u8) {
        self.buffer.as_mut()[icmp::TYPE] = v;
    }

    pub fn set_code(&mut self, v: u8) {
        self.buffer.as_mut()[icmp::CODE] = v;
    }

    pub fn set_checksum(&mut self, v: u16) {
        write_u16(self.buffer.as_mut(), icmp::CHECKSUM, v);
    }

    pub fn set_ident(&mut self, v: u16) {
        write_u16(self.buffer.as_mut(), icmp::IDENT, v);
    }

    pub fn set_seq(&mut self, v: u16) {
        write_u16(self.buffer.as_mut(), icmp::SEQ, v);
    }

    pub fn set_rest_of_header(&mut self, v: [u8; 4]) {
        self.buffer.as_mut()[icmp::IDENT..icmp::HEADER_LEN].copy_from_slice(&v);
    }

    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[icmp::HEADER_LEN..]
    }

    /// Computes the checksum over the whole buffer and writes it.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let c = checksum::checksum(self.buffer.as_ref());
        self.set_checksum(c);
    }
}

/// `ICMP echo request, id 1, seq 2, length 64`, with `[bad checksum]`
/// appended when the message does not verify.
impl<T: AsRef<[u8]>> fmt::Display for Packet<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.check_len().is_err() {
            return f.write_str("ICMP truncated");
        }
        let view = Packet::new_unchecked(self.buffer.as_ref());
        write!(f, "{}", Icmpv4Repr::parse_fields(&view))?;
        if !self.verify_checksum() {
            f.write_str(" [bad checksum]")?;
        }
        Ok(())
    }
}

/// An ICMP message as plain data, borrowing its payload from the packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Icmpv4Repr<'a> {
    EchoRequest {
        ident: u16,
        seq: u16,
        data: &'a [u8],
    },
    EchoReply {
        ident: u16,
        seq: u16,
        data: &'a [u8],
    },
    /// `quoted` is the offending datagram's IP header plus at least its
    /// first 8 payload bytes (RFC 792; RFC 1122 3.2.2). Bytes 4-7 are
    /// "unused" and emitted as zero (no RFC 1191 next-hop MTU).
    DstUnreachable { code: u8, quoted: &'a [u8] },
    /// Same layout as `DstUnreachable`; code 0 is TTL expired in transit,
    /// 1 is fragment reassembly time exceeded (RFC 792).
    TimeExceeded { code: u8, quoted: &'a [u8] },
    /// Any other type (or an echo with a non-zero code), kept verbatim.
    Other {
        msg_type: u8,
        code: u8,
        rest_of_header: [u8; 4],
        data: &'a [u8],
    },
}

impl<'a> Icmpv4Repr<'a> {
    /// Reads a message, verifying its checksum (`Error::Checksum` when wrong).
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &Packet<&'a T>) -> Result<Icmpv4Repr<'a>> {
        packet.check_len()?;
        if !packet.verify_checksum() {
            return Err(Error::Checksum);
        }
        Ok(Self::parse_fields(packet))
    }

    /// The fields of a length-checked packet, checksum not verified.
    fn parse_fields<T: AsRef<[u8]> + ?Sized>(packet: &Packet<&'a T>) -> Icmpv4Repr<'a> {
        // Copy the `&'a T` out so the data borrows the buffer, not the view.
        let buffer: &'a T = packet.buffer;
        let data = buffer.as_ref().get(icmp::HEADER_LEN..).unwrap_or_default();
        match (packet.msg_type(), packet.code()) {
            (icmp::TYPE_ECHO_REQUEST, 0) => Icmpv4Repr::EchoRequest {
                ident: packet.ident(),
                seq: packet.seq(),
                data,
            },
            (icmp::TYPE_ECHO_REPLY, 0) => Icmpv4Repr::EchoReply {
                ident: packet.ident(),
                seq: packet.seq(),
                data,
            },
            (icmp::TYPE_DEST_UNREACHABLE, code) => {
                Icmpv4Repr::DstUnreachable { code, quoted: data }
            }
            (icmp::TYPE_TIME_EXCEEDED, code) => Icmpv4Repr::TimeExceeded { code, quoted: data },
            (msg_type, code) => Icmpv4Repr::Other {
                msg_type,
                code,
                rest_of_header: packet.rest_of_header(),
                data,
            },
        }
    }

    /// Bytes the whole message takes: 8-byte header plus data.
    pub fn buffer_len(&self) -> usize {
        icmp::HEADER_LEN + self.payload().len()
    }

    /// The echo data, the quoted datagram, or the data of another type.
    pub fn payload(&self) -> &'a [u8] {
        match *self {
            Icmpv4Repr::EchoRequest { data, .. }
            | Icmpv4Repr::EchoReply { data, .. }
            | Icmpv4Repr::Other { data, .. } => data,
            Icmpv4Repr::DstUnreachable { quoted, .. } | Icmpv4Repr::TimeExceeded { quoted, .. } => {
                quoted
            }
        }
    }

    /// Writes the message and its checksum.
    ///
    /// # Panics
    /// If the buffer is shorter than [`Icmpv4Repr::buffer_len`]. It should
    /// be exactly that long: the checksum covers every byte of the buffer.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        let (msg_type, code, rest) = match *self {
            Icmpv4Repr::EchoRequest { ident, seq, .. } => {
                (icmp::TYPE_ECHO_REQUEST, 0, echo_rest(ident, seq))
            }
            Icmpv4Repr::EchoReply { ident, seq, .. } => {
                (icmp::TYPE_ECHO_REPLY, 0, echo_rest(ident, seq))
            }
            Icmpv4Repr::DstUnreachable { code, .. } => (icmp::TYPE_DEST_UNREACHABLE, code, [0; 4]),
            Icmpv4Repr::TimeExceeded { code, .. } => (icmp::TYPE_TIME_EXCEEDED, code, [0; 4]),
            Icmpv4Repr::Other {
                msg_type,
                code,
                rest_of_header,
                ..
            } => (msg_type, code, rest_of_header),
        };
        packet.set_msg_type(msg_type);
        packet.set_code(code);
        packet.set_rest_of_header(rest);
        let payload = self.payload();
        packet.data_mut()[..payload.len()].copy_from_slice(payload);
        packet.fill_checksum();
    }
}

fn echo_rest(ident: u16, seq: u16) -> [u8; 4] {
    let (i, s) = (ident.to_be_bytes(), seq.to_be_bytes());
    [i[0], i[1], s[0], s[1]]
}

/// tcpdump's wording, e.g. `ICMP echo request, id 1, seq 2, length 64` or
/// `ICMP 10.10.0.4 udp port 7 unreachable, length 36`.
impl fmt::Display for Icmpv4Repr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Icmpv4Repr::EchoRequest { ident, seq, .. } => {
                write!(f, "ICMP echo request, id {ident}, seq {seq}")?
            }
            Icmpv4Repr::EchoReply { ident, seq, .. } => {
                write!(f, "ICMP echo reply, id {ident}, seq {seq}")?
            }
            Icmpv4Repr::DstUnreachable { code, quoted } => match parse_quoted(quoted) {
                Ok(q) => {
                    let dst = q.dst;
                    match (code, q.dst_port()) {
                        (0, _) => write!(f, "ICMP net {dst} unreachable")?,
                        (1, _) => write!(f, "ICMP host {dst} unreachable")?,
                        (2, _) => write!(
                            f,
                            "ICMP {dst} protocol {} unreachable",
                            u8::from(q.protocol)
                        )?,
                        (3, Some(port)) => {
                            let proto = q.protocol.to_string().to_lowercase();
                            write!(f, "ICMP {dst} {proto} port {port} unreachable")?
                        }
                        (4, _) => write!(f, "ICMP {dst} unreachable - need to frag")?,
                        (code, _) => write!(f, "ICMP {dst} unreachable, code {code}")?,
                    }
                }
                Err(e) => write!(
                    f,
                    "ICMP destination unreachable, code {code}, quoted datagram {e}"
                )?,
            },
            Icmpv4Repr::TimeExceeded { code, .. } => match code {
                0 => f.write_str("ICMP time exceeded in-transit")?,
                1 => f.write_str("ICMP ip reassembly time exceeded")?,
                code => write!(f, "ICMP time exceeded, code {code}")?,
            },
            Icmpv4Repr::Other { msg_type, code, .. } => {
                write!(f, "ICMP type {msg_type}, code {code}")?
            }
        }
        write!(f, ", length {}", self.buffer_len())
    }
}

/// What an ICMP error says about the datagram that caused it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Quoted<'a> {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub protocol: IpProtocol,
    /// The quoted payload bytes after the IP header: normally the first 8
    /// (enough for the UDP header or TCP ports), possibly fewer or more.
    pub transport: &'a [u8],
}

impl Quoted<'_> {
    /// The source port, if the quoted datagram is UDP or TCP and long enough.
    pub fn src_port(&self) -> Option<u16> {
        self.port(0)
    }

    /// The destination port, if the quoted datagram is UDP or TCP and long enough.
    pub fn dst_port(&self) -> Option<u16> {
        self.port(2)
    }

    fn port(&self, at: usize) -> Option<u16> {
        match self.protocol {
            IpProtocol::Udp | IpProtocol::Tcp => {
                let b = self.transport.get(at..at + 2)?;
                Some(u16::from_be_bytes([b[0], b[1]]))
            }
            _ => None,
        }
    }
}

/// Reads the datagram quoted in a destination unreachable or time exceeded
/// message. Only the header is checked (version, IHL, length): the quoted
/// Total Length describes the original datagram, not the quote, and its
/// checksum is not ours to judge.
pub fn parse_quoted(quoted: &[u8]) -> Result<Quoted<'_>> {
    if quoted.len() < ipv4::MIN_HEADER_LEN {
        return Err(Error::Truncated);
    }
    let ver_ihl = quoted[ipv4::VER_IHL];
    let header_len = usize::from(ver_ihl & 0x0f) * 4;
    if ver_ihl >> 4 != 4 || header_len < ipv4::MIN_HEADER_LEN {
        return Err(Error::Malformed);
    }
    let transport = quoted.get(header_len..).ok_or(Error::Truncated)?;
    Ok(Quoted {
        src: read_ipv4(quoted, ipv4::SRC),
        dst: read_ipv4(quoted, ipv4::DST),
        protocol: IpProtocol::from(quoted[ipv4::PROTOCOL]),
        transport,
    })
}

/// The part of `datagram` an ICMP error quotes: its IP header (options
/// included) and the first 8 bytes of its payload (RFC 792, RFC 1122
/// 3.2.2), or all of it if shorter. Never panics, whatever the bytes.
pub fn quote(datagram: &[u8]) -> &[u8] {
    let header_len = datagram
        .first()
        .map_or(ipv4::MIN_HEADER_LEN, |b| usize::from(b & 0x0f) * 4)
        .max(ipv4::MIN_HEADER_LEN);
    let n = datagram.len().min(header_len + 8);
    datagram.get(..n).unwrap_or(datagram)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::testdata::{ICMP_ECHO_REQUEST_IP, ICMP_PORT_UNREACHABLE_IP, UDP_IP};
    use proptest::prelude::*;

    fn echo_request() -> &'static [u8] {
        &ICMP_ECHO_REQUEST_IP[20..]
    }

    #[test]
    fn known_echo_request_to_fields() {
        let p = Packet::new_checked(echo_request()).unwrap();
        assert_eq!((p.msg_type(), p.code()), (8, 0));
        assert_eq!(p.checksum(), 0x86c8);
        assert_eq!((p.ident(), p.seq()), (0x1c2b, 1));
        assert_eq!(p.data().len(), 56);
        assert_eq!(p.data()[16..], (0x10..0x38).collect::<Vec<u8>>()[..]);
        assert!(p.verify_checksum());
        assert_eq!(
            Icmpv4Repr::parse(&p).unwrap(),
            Icmpv4Repr::EchoRequest {
                ident: 0x1c2b,
                seq: 1,
                data: &ICMP_ECHO_REQUEST_IP[28..]
            }
        );
    }

    #[test]
    fn emit_gives_the_same_bytes() {
        let repr = Icmpv4Repr::EchoRequest {
            ident: 0x1c2b,
            seq: 1,
            data: &ICMP_ECHO_REQUEST_IP[28..],
        };
        assert_eq!(repr.buffer_len(), 64);
        let mut buf = vec![0xeeu8; repr.buffer_len()];
        repr.emit(&mut Packet::new_unchecked(&mut buf));
        assert_eq!(buf, echo_request());

        let repr = Icmpv4Repr::DstUnreachable {
            code: icmp::CODE_PORT_UNREACHABLE,
            quoted: quote(&UDP_IP),
        };
        let mut buf = vec![0xeeu8; repr.buffer_len()];
        repr.emit(&mut Packet::new_unchecked(&mut buf));
        assert_eq!(buf, ICMP_PORT_UNREACHABLE_IP[20..]);
    }

    #[test]
    fn echo_reply_answers_the_request() {
        // The reply to a request swaps only the type (RFC 792 echo).
        let p = Packet::new_checked(echo_request()).unwrap();
        let Icmpv4Repr::EchoRequest { ident, seq, data } = Icmpv4Repr::parse(&p).unwrap() else {
            panic!("not an echo request");
        };
        let reply = Icmpv4Repr::EchoReply { ident, seq, data };
        let mut buf = vec![0u8; reply.buffer_len()];
        reply.emit(&mut Packet::new_unchecked(&mut buf));
        let mut want = echo_request().to_vec();
        want[0] = 0;
        // RFC 1624: lowering the type byte by 8 raises the checksum by 0x0800.
        want[2..4].copy_from_slice(&(0x86c8u16 + 0x0800).to_be_bytes());
        assert_eq!(buf, want);
    }

    #[test]
    fn round_trips() {
        let quoted = quote(&UDP_IP);
        let reprs = [
            Icmpv4Repr::EchoRequest {
                ident: 7,
                seq: 65535,
                data: b"",
            },
            Icmpv4Repr::EchoReply {
                ident: 0,
                seq: 3,
                data: b"odd",
            },
            Icmpv4Repr::DstUnreachable { code: 2, quoted },
            Icmpv4Repr::TimeExceeded { code: 0, quoted },
            Icmpv4Repr::Other {
                msg_type: 13,
                code: 0,
                rest_of_header: [1, 2, 3, 4],
                data: &[0; 12],
            },
            Icmpv4Repr::Other {
                msg_type: icmp::TYPE_ECHO_REQUEST,
                code: 1,
                rest_of_header: [0, 1, 0, 2],
                data: b"x",
            },
        ];
        for repr in reprs {
            let mut buf = vec![0u8; repr.buffer_len()];
            repr.emit(&mut Packet::new_unchecked(&mut buf));
            let p = Packet::new_checked(&buf[..]).unwrap();
            assert_eq!(Icmpv4Repr::parse(&p).unwrap(), repr);
        }
    }

    #[test]
    fn known_port_unreachable_quotes_the_datagram() {
        let p = Packet::new_checked(&ICMP_PORT_UNREACHABLE_IP[20..]).unwrap();
        let repr = Icmpv4Repr::parse(&p).unwrap();
        let Icmpv4Repr::DstUnreachable { code: 3, quoted } = repr else {
            panic!("{repr:?}");
        };
        assert_eq!(quoted, &UDP_IP[..28]);
        let q = parse_quoted(quoted).unwrap();
        assert_eq!(q.src, Ipv4Addr::new(10, 10, 0, 2));
        assert_eq!(q.dst, Ipv4Addr::new(10, 10, 0, 4));
        assert_eq!(q.protocol, IpProtocol::Udp);
        assert_eq!((q.src_port(), q.dst_port()), (Some(40000), Some(7)));
        assert_eq!(
            repr.to_string(),
            "ICMP 10.10.0.4 udp port 7 unreachable, length 36"
        );
    }

    #[test]
    fn quote_is_header_plus_eight_bytes() {
        assert_eq!(quote(&ICMP_ECHO_REQUEST_IP), &ICMP_ECHO_REQUEST_IP[..28]);
        assert_eq!(quote(&UDP_IP[..25]), &UDP_IP[..25]);
        assert_eq!(quote(&[]), &[0u8; 0]);
        let with_options = crate::wire::testdata::IP_WITH_OPTIONS;
        assert_eq!(quote(&with_options), &with_options[..32]);
        assert_eq!(parse_quoted(&UDP_IP[..19]), Err(Error::Truncated));
        assert_eq!(parse_quoted(&with_options[..22]), Err(Error::Truncated));
        let mut bad = UDP_IP;
        bad[0] = 0x44;
        assert_eq!(parse_quoted(&bad), Err(Error::Malformed));
    }

    #[test]
    fn every_truncation_is_refused() {
        let full = echo_request();
        for n in 0..full.len() {
            let r = Packet::new_checked(&full[..n]).and_then(|p| Icmpv4Repr::parse(&p).map(|_| ()));
            let want = if n < 8 {
                Error::Truncated
            } else {
                Error::Checksum
            };
            assert_eq!(r, Err(want), "{n}");
            let s = Packet::new_unchecked(&full[..n]).to_string();
            assert!(
                s == "ICMP truncated" || s.ends_with("[bad checksum]"),
                "{s}"
            );
        }
    }

    #[test]
    fn bad_checksum_is_detected() {
        for at in 0..64 {
            let mut b = echo_request().to_vec();
            b[at] ^= 0x80;
            let p = Packet::new_checked(&b[..]).unwrap();
            assert!(!p.verify_checksum(), "byte {at}");
            assert_eq!(Icmpv4Repr::parse(&p), Err(Error::Checksum));
        }
    }

    #[test]
    fn display_like_tcpdump() {
        let p = Packet::new_checked(echo_request()).unwrap();
        assert_eq!(
            p.to_string(),
            "ICMP echo request, id 7211, seq 1, length 64"
        );
        let te = Icmpv4Repr::TimeExceeded {
            code: 0,
            quoted: quote(&UDP_IP),
        };
        assert_eq!(te.to_string(), "ICMP time exceeded in-transit, length 36");
        let un = Icmpv4Repr::DstUnreachable {
            code: 1,
            quoted: quote(&UDP_IP),
        };
        assert_eq!(un.to_string(), "ICMP host 10.10.0.4 unreachable, length 36");
        let un = Icmpv4Repr::DstUnreachable {
            code: 3,
            quoted: &[],
        };
        assert_eq!(
            un.to_string(),
            "ICMP destination unreachable, code 3, quoted datagram truncated, length 8"
        );
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            let _ = Packet::new_unchecked(&bytes[..]).to_string();
            let _ = quote(&bytes);
            if let Ok(q) = parse_quoted(&bytes) {
                let _ = (q.src_port(), q.dst_port());
            }
            if let Ok(p) = Packet::new_checked(&bytes[..]) {
                let _ = (p.data(), p.rest_of_header(), p.verify_checksum());
                if let Ok(repr) = Icmpv4Repr::parse(&p) {
                    let _ = repr.to_string();
                    let mut out = vec![0u8; repr.buffer_len()];
                    repr.emit(&mut Packet::new_unchecked(&mut out));
                    prop_assert!(Packet::new_unchecked(&out[..]).verify_checksum());
                }
            }
        }
    }
}
