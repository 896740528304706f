//! ICMPv6 (RFC 4443), with Neighbor Discovery (RFC 4861) and MLDv2 reports
//! (RFC 3810 5.2): the messages a host sends, answers and learns from.
//!
//! The view covers the whole message, i.e. the upper-layer payload the
//! extension header walk ends at. Its checksum covers the IPv6
//! pseudo-header (RFC 8200 8.1) and is mandatory (RFC 4443 2.3), so
//! [`Icmpv6Repr::parse`] and [`Icmpv6Repr::emit`] take the addresses.

use std::fmt;
use std::net::Ipv6Addr;

use xdpstack_common::checksum;

use super::ethernet::MacAddr;
use super::ipv6::{self, pseudo_header_sum, read_ipv6, NextHeader};
use super::ipv6ext::MAX_EXT_HEADERS;
use super::{read_mac, read_u16, write_u16, Error, Result};

/// Offsets inside an ICMPv6 message.
pub mod field {
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: usize = 2;
    /// Echo identifier, or the MTU / pointer of errors (bytes 4-7).
    pub const IDENT: usize = 4;
    pub const SEQ: usize = 6;
    pub const HEADER_LEN: usize = 8;
    /// NS, NA, Redirect: the target address after 4 reserved/flag bytes.
    pub const TARGET: usize = 8;
    /// Redirect: the destination after the target.
    pub const REDIRECT_DST: usize = 24;
    /// NA flags byte: Router, Solicited, Override (RFC 4861 4.4).
    pub const NA_FLAGS: usize = 4;
    /// RA: current hop limit, M/O flags, router lifetime, reachable, retrans.
    pub const RA_HOP_LIMIT: usize = 4;
    pub const RA_FLAGS: usize = 5;
    pub const RA_LIFETIME: usize = 6;
    pub const RA_REACHABLE: usize = 8;
    pub const RA_RETRANS: usize = 12;
    /// MLDv2 report: number of address records, then the records.
    pub const MLD_NR_RECORDS: usize = 6;
}

/// ICMPv6 message types (RFC 4443 2.1, RFC 4861 4, RFC 3810 5).
pub mod msg_type {
    pub const DST_UNREACHABLE: u8 = 1;
    pub const PACKET_TOO_BIG: u8 = 2;
    pub const TIME_EXCEEDED: u8 = 3;
    pub const PARAM_PROBLEM: u8 = 4;
    pub const ECHO_REQUEST: u8 = 128;
    pub const ECHO_REPLY: u8 = 129;
    pub const MLD_QUERY: u8 = 130;
    pub const ROUTER_SOLICIT: u8 = 133;
    pub const ROUTER_ADVERT: u8 = 134;
    pub const NEIGHBOR_SOLICIT: u8 = 135;
    pub const NEIGHBOR_ADVERT: u8 = 136;
    pub const REDIRECT: u8 = 137;
    pub const MLDV2_REPORT: u8 = 143;

    /// Error messages have the high bit clear (RFC 4443 2.1); no error is
    /// ever sent about one (RFC 4443 2.4 (e.1)).
    pub const fn is_error(t: u8) -> bool {
        t < 128
    }
}

/// Destination unreachable codes (RFC 4443 3.1).
pub mod unreachable {
    pub const NO_ROUTE: u8 = 0;
    pub const PROHIBITED: u8 = 1;
    pub const BEYOND_SCOPE: u8 = 2;
    pub const ADDRESS: u8 = 3;
    pub const PORT: u8 = 4;
}

/// Time exceeded codes (RFC 4443 3.3).
pub mod time_exceeded {
    pub const HOP_LIMIT: u8 = 0;
    pub const REASSEMBLY: u8 = 1;
}

/// The most of an invoking packet an error may quote so the error fits the
/// minimum MTU: 1280 - 40 (IPv6) - 8 (ICMPv6) (RFC 4443 2.4 (c)).
pub const MAX_INVOKING: usize = ipv6::MIN_MTU - ipv6::HEADER_LEN - field::HEADER_LEN;

/// The part of `packet` (header onwards, as received) an error quotes: as
/// much as fits [`MAX_INVOKING`].
pub fn quote(packet: &[u8]) -> &[u8] {
    &packet[..packet.len().min(MAX_INVOKING)]
}

/// A zero-copy view over an ICMPv6 message.
///
/// Built with [`Packet::new_checked`] (at least the 8-byte header) the
/// accessors never panic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps a buffer, refusing one shorter than the 8-byte header.
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < field::HEADER_LEN {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[field::TYPE]
    }

    pub fn code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }

    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    pub fn ident(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::IDENT)
    }

    pub fn seq(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::SEQ)
    }

    /// Bytes 4-7 as one number: Packet Too Big's MTU, Parameter Problem's pointer.
    pub fn rest_u32(&self) -> u32 {
        let b = self.buffer.as_ref();
        u32::from_be_bytes([b[4], b[5], b[6], b[7]])
    }

    pub fn rest_of_header(&self) -> [u8; 4] {
        let b = self.buffer.as_ref();
        [b[4], b[5], b[6], b[7]]
    }

    /// Everything after the 8-byte header.
    pub fn data(&self) -> &[u8] {
        &self.buffer.as_ref()[field::HEADER_LEN..]
    }

    /// True when message and pseudo-header sum to all ones (RFC 4443 2.3).
    pub fn verify_checksum(&self, src: Ipv6Addr, dst: Ipv6Addr) -> bool {
        let b = self.buffer.as_ref();
        let acc = pseudo_header_sum(src, dst, 58, b.len() as u32);
        checksum::fold(checksum::sum_be(acc, b)) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_msg_type(&mut self, v: u8) {
        self.buffer.as_mut()[field::TYPE] = v;
    }

    pub fn set_code(&mut self, v: u8) {
        self.buffer.as_mut()[field::CODE] = v;
    }

    pub fn set_checksum(&mut self, v: u16) {
        write_u16(self.buffer.as_mut(), field::CHECKSUM, v);
    }

    pub fn set_rest_of_header(&mut self, v: [u8; 4]) {
        self.buffer.as_mut()[4..8].copy_from_slice(&v);
    }

    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::HEADER_LEN..]
    }

    /// Computes the checksum over the pseudo-header and the whole buffer.
    pub fn fill_checksum(&mut self, src: Ipv6Addr, dst: Ipv6Addr) {
        self.set_checksum(0);
        let b = self.buffer.as_ref();
        let acc = pseudo_header_sum(src, dst, 58, b.len() as u32);
        let c = checksum::finish(checksum::sum_be(acc, b));
        self.set_checksum(c);
    }
}

/// The message without checksum verification (which needs the addresses):
/// `ICMP6, echo request, id 1, seq 2, length 64`.
impl<T: AsRef<[u8]>> fmt::Display for Packet<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.check_len().is_err() {
            return f.write_str("ICMP6 truncated");
        }
        let view = Packet::new_unchecked(self.buffer.as_ref());
        match Icmpv6Repr::parse_fields(&view) {
            Ok(repr) => {
                repr.fmt_message(f)?;
                write!(f, ", length {}", self.buffer.as_ref().len())
            }
            Err(e) => write!(
                f,
                "ICMP6, type {}, code {}, {e}, length {}",
                self.msg_type(),
                self.code(),
                self.buffer.as_ref().len()
            ),
        }
    }
}

/// One NDP option (RFC 4861 4.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NdpOption<'a> {
    SourceLinkLayerAddr(MacAddr),
    TargetLinkLayerAddr(MacAddr),
    PrefixInformation(PrefixInfo),
    Mtu(u32),
    /// Redirected Header: as much of the redirected packet as fits.
    RedirectedHeader(&'a [u8]),
    /// Any other type, or a known type with a length it should not have
    /// (skipped, RFC 4861 4.6).
    Unknown {
        option_type: u8,
        data: &'a [u8],
    },
}

/// NDP option types (RFC 4861 4.6).
pub mod ndp_option {
    pub const SOURCE_LL_ADDR: u8 = 1;
    pub const TARGET_LL_ADDR: u8 = 2;
    pub const PREFIX_INFO: u8 = 3;
    pub const REDIRECTED_HEADER: u8 = 4;
    pub const MTU: u8 = 5;
}

/// The Prefix Information option (RFC 4861 4.6.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PrefixInfo {
    pub prefix_len: u8,
    /// L: the prefix is on-link.
    pub on_link: bool,
    /// A: usable for address autoconfiguration (RFC 4862).
    pub autonomous: bool,
    pub valid_lifetime: u32,
    pub preferred_lifetime: u32,
    pub prefix: Ipv6Addr,
}

/// The options of an NDP message, checked once: every option has a
/// non-zero length (RFC 4861 4.6: a zero length makes the message invalid)
/// and ends inside the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NdpOptions<'a> {
    bytes: &'a [u8],
}

impl<'a> NdpOptions<'a> {
    pub const EMPTY: NdpOptions<'static> = NdpOptions { bytes: &[] };

    pub fn new(bytes: &'a [u8]) -> Result<NdpOptions<'a>> {
        let mut at = 0;
        while at < bytes.len() {
            let len = usize::from(*bytes.get(at + 1).ok_or(Error::Malformed)?) * 8;
            if len == 0 {
                return Err(Error::Malformed);
            }
            if at + len > bytes.len() {
                return Err(Error::Malformed);
            }
            at += len;
        }
        Ok(NdpOptions { bytes })
    }

    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    pub fn iter(&self) -> impl Iterator<Item = NdpOption<'a>> + 'a {
        let bytes = self.bytes;
        let mut at = 0;
        std::iter::from_fn(move || {
            let t = *bytes.get(at)?;
            let len = usize::from(*bytes.get(at + 1)?) * 8;
            let opt = bytes.get(at..at + len).filter(|_| len > 0)?;
            at += len;
            let data = &opt[2..];
            Some(match (t, len) {
                (ndp_option::SOURCE_LL_ADDR, 8) => NdpOption::SourceLinkLayerAddr(read_mac(opt, 2)),
                (ndp_option::TARGET_LL_ADDR, 8) => NdpOption::TargetLinkLayerAddr(read_mac(opt, 2)),
                (ndp_option::PREFIX_INFO, 32) => NdpOption::PrefixInformation(PrefixInfo {
                    prefix_len: opt[2],
                    on_link: opt[3] & 0x80 != 0,
                    autonomous: opt[3] & 0x40 != 0,
                    valid_lifetime: read_u32(opt, 4),
                    preferred_lifetime: read_u32(opt, 8),
                    prefix: read_ipv6(opt, 16),
                }),
                (ndp_option::MTU, 8) => NdpOption::Mtu(read_u32(opt, 4)),
                (ndp_option::REDIRECTED_HEADER, _) => NdpOption::RedirectedHeader(&opt[8..]),
                (option_type, _) => NdpOption::Unknown { option_type, data },
            })
        })
    }

    /// The first Source Link-Layer Address option.
    pub fn source_lladdr(&self) -> Option<MacAddr> {
        self.iter().find_map(|o| match o {
            NdpOption::SourceLinkLayerAddr(m) => Some(m),
            _ => None,
        })
    }

    /// The first Target Link-Layer Address option.
    pub fn target_lladdr(&self) -> Option<MacAddr> {
        self.iter().find_map(|o| match o {
            NdpOption::TargetLinkLayerAddr(m) => Some(m),
            _ => None,
        })
    }

    pub fn mtu(&self) -> Option<u32> {
        self.iter().find_map(|o| match o {
            NdpOption::Mtu(m) => Some(m),
            _ => None,
        })
    }

    pub fn prefixes(&self) -> impl Iterator<Item = PrefixInfo> + 'a {
        self.iter().filter_map(|o| match o {
            NdpOption::PrefixInformation(p) => Some(p),
            _ => None,
        })
    }
}

/// A link-layer address option of `option_type` (1 source, 2 target).
pub fn lladdr_option(option_type: u8, mac: MacAddr) -> [u8; 8] {
    let m = mac.octets();
    [option_type, 1, m[0], m[1], m[2], m[3], m[4], m[5]]
}

/// A Neighbor Discovery message (RFC 4861 4) as plain data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NdpRepr<'a> {
    RouterSolicit {
        lladdr: Option<MacAddr>,
    },
    RouterAdvert {
        hop_limit: u8,
        managed: bool,
        other: bool,
        router_lifetime: u16,
        reachable_time: u32,
        retrans_time: u32,
        options: NdpOptions<'a>,
    },
    /// `lladdr` is the Source Link-Layer Address option.
    NeighborSolicit {
        target: Ipv6Addr,
        lladdr: Option<MacAddr>,
    },
    /// `lladdr` is the Target Link-Layer Address option.
    NeighborAdvert {
        router: bool,
        solicited: bool,
        override_: bool,
        target: Ipv6Addr,
        lladdr: Option<MacAddr>,
    },
    Redirect {
        target: Ipv6Addr,
        dest: Ipv6Addr,
        options: NdpOptions<'a>,
    },
}

impl NdpRepr<'_> {
    fn msg_type(&self) -> u8 {
        match self {
            NdpRepr::RouterSolicit { .. } => msg_type::ROUTER_SOLICIT,
            NdpRepr::RouterAdvert { .. } => msg_type::ROUTER_ADVERT,
            NdpRepr::NeighborSolicit { .. } => msg_type::NEIGHBOR_SOLICIT,
            NdpRepr::NeighborAdvert { .. } => msg_type::NEIGHBOR_ADVERT,
            NdpRepr::Redirect { .. } => msg_type::REDIRECT,
        }
    }

    /// Fixed part length (header included) before the options.
    fn fixed_len(&self) -> usize {
        match self {
            NdpRepr::RouterSolicit { .. } => 8,
            NdpRepr::RouterAdvert { .. } => 16,
            NdpRepr::NeighborSolicit { .. } | NdpRepr::NeighborAdvert { .. } => 24,
            NdpRepr::Redirect { .. } => 40,
        }
    }

    fn options_len(&self) -> usize {
        match self {
            NdpRepr::RouterSolicit { lladdr }
            | NdpRepr::NeighborSolicit { lladdr, .. }
            | NdpRepr::NeighborAdvert { lladdr, .. } => 8 * usize::from(lladdr.is_some()),
            NdpRepr::RouterAdvert { options, .. } | NdpRepr::Redirect { options, .. } => {
                options.bytes.len()
            }
        }
    }

    /// The checks of RFC 4861 6.1.1, 6.1.2, 7.1.1, 7.1.2 and 8.1 that
    /// depend on the IPv6 header the message came in: hop limit 255 (it
    /// was not forwarded) and the address rules of each type.
    pub fn check_ip_header(&self, src: Ipv6Addr, dst: Ipv6Addr, hop_limit: u8) -> Result<()> {
        let ok = hop_limit == 255
            && match *self {
                NdpRepr::RouterSolicit { lladdr } => !src.is_unspecified() || lladdr.is_none(),
                NdpRepr::RouterAdvert { .. } => ipv6::is_link_local(src),
                NdpRepr::NeighborSolicit { lladdr, .. } => {
                    !src.is_unspecified() || (ipv6::is_solicited_node(dst) && lladdr.is_none())
                }
                NdpRepr::NeighborAdvert { solicited, .. } => !(dst.is_multicast() && solicited),
                NdpRepr::Redirect { target, dest, .. } => {
                    ipv6::is_link_local(src)
                        && !dest.is_multicast()
                        && (ipv6::is_link_local(target) || target == dest)
                }
            };
        if ok {
            Ok(())
        } else {
            Err(Error::Malformed)
        }
    }
}

/// MLDv2 address record types (RFC 3810 5.2.12).
pub mod mld_record {
    pub const MODE_IS_INCLUDE: u8 = 1;
    pub const MODE_IS_EXCLUDE: u8 = 2;
    pub const CHANGE_TO_INCLUDE: u8 = 3;
    /// With no sources: "join the group" (RFC 3810 6.1), what a host sends
    /// for its solicited-node groups.
    pub const CHANGE_TO_EXCLUDE: u8 = 4;
    pub const ALLOW_NEW_SOURCES: u8 = 5;
    pub const BLOCK_OLD_SOURCES: u8 = 6;
}

/// One Multicast Address Record of an MLDv2 report (RFC 3810 5.2.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AddressRecord<'a> {
    pub record_type: u8,
    pub mcast_addr: Ipv6Addr,
    /// The source addresses, 16 bytes each.
    pub sources: &'a [u8],
    pub aux_data: &'a [u8],
}

impl AddressRecord<'_> {
    pub fn sources(&self) -> impl Iterator<Item = Ipv6Addr> + '_ {
        self.sources.chunks_exact(16).map(|c| read_ipv6(c, 0))
    }
}

/// The address records of an MLDv2 report, checked once: exactly `count`
/// records, each inside the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MldRecords<'a> {
    count: u16,
    bytes: &'a [u8],
}

/// Length of a record with `sources` sources and no auxiliary data.
const fn record_len(sources: usize) -> usize {
    20 + 16 * sources
}

impl<'a> MldRecords<'a> {
    /// Reads `count` records from the start of `bytes`; trailing bytes are
    /// left out.
    pub fn new(count: u16, bytes: &'a [u8]) -> Result<MldRecords<'a>> {
        let mut at = 0;
        for _ in 0..count {
            let head = bytes.get(at..at + 4).ok_or(Error::Truncated)?;
            let aux = usize::from(head[1]) * 4;
            let n = usize::from(u16::from_be_bytes([head[2], head[3]]));
            at += record_len(n) + aux;
            if at > bytes.len() {
                return Err(Error::Truncated);
            }
        }
        Ok(MldRecords {
            count,
            bytes: &bytes[..at],
        })
    }

    /// Writes one source-less record per `(record_type, group)` into `buf`
    /// (e.g. CHANGE_TO_EXCLUDE joins, RFC 3810 6.1) and returns them;
    /// `Err(Truncated)` if `buf` is too small.
    pub fn write<'b>(groups: &[(u8, Ipv6Addr)], buf: &'b mut [u8]) -> Result<MldRecords<'b>> {
        let len = groups.len() * record_len(0);
        let count = u16::try_from(groups.len()).map_err(|_| Error::Malformed)?;
        let out = buf.get_mut(..len).ok_or(Error::Truncated)?;
        for (rec, &(t, group)) in out.chunks_exact_mut(record_len(0)).zip(groups) {
            rec[..4].copy_from_slice(&[t, 0, 0, 0]);
            rec[4..20].copy_from_slice(&group.octets());
        }
        let bytes: &'b [u8] = out;
        Ok(MldRecords { count, bytes })
    }

    pub fn count(&self) -> u16 {
        self.count
    }

    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    pub fn iter(&self) -> impl Iterator<Item = AddressRecord<'a>> + 'a {
        let bytes = self.bytes;
        let mut at = 0;
        std::iter::from_fn(move || {
            let head = bytes.get(at..at + 4)?;
            let aux = usize::from(head[1]) * 4;
            let n = usize::from(u16::from_be_bytes([head[2], head[3]]));
            let rec = bytes.get(at..at + record_len(n) + aux)?;
            at += rec.len();
            Some(AddressRecord {
                record_type: rec[0],
                mcast_addr: read_ipv6(rec, 4),
                sources: &rec[20..20 + 16 * n],
                aux_data: &rec[20 + 16 * n..],
            })
        })
    }
}

/// An ICMPv6 message as plain data, borrowing its payload from the packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Icmpv6Repr<'a> {
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
    /// `invoking` is as much of the offending packet as fits ([`quote`]).
    DstUnreachable {
        code: u8,
        invoking: &'a [u8],
    },
    PacketTooBig {
        mtu: u32,
        invoking: &'a [u8],
    },
    TimeExceeded {
        code: u8,
        invoking: &'a [u8],
    },
    /// `pointer`: offset in the invoking packet where the problem is (RFC 4443 3.4).
    ParamProblem {
        code: u8,
        pointer: u32,
        invoking: &'a [u8],
    },
    Ndp(NdpRepr<'a>),
    /// An MLDv2 Multicast Listener Report (RFC 3810 5.2).
    MldReport {
        records: MldRecords<'a>,
    },
    /// Any other type (or an echo with a non-zero code), kept verbatim.
    Other {
        msg_type: u8,
        code: u8,
        rest_of_header: [u8; 4],
        data: &'a [u8],
    },
}

fn read_u32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

impl<'a> Icmpv6Repr<'a> {
    /// Reads a message sent from `src` to `dst`, verifying its checksum
    /// (`Error::Checksum`), and for NDP the RFC 4861 checks that need only
    /// the message: code 0, minimum length, options of non-zero length,
    /// target not multicast (`Error::Malformed` or `Truncated`: discard).
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        src: Ipv6Addr,
        dst: Ipv6Addr,
        packet: &Packet<&'a T>,
    ) -> Result<Icmpv6Repr<'a>> {
        packet.check_len()?;
        if !packet.verify_checksum(src, dst) {
            return Err(Error::Checksum);
        }
        Self::parse_fields(packet)
    }

    /// The fields of a length-checked packet, checksum not verified.
    fn parse_fields<T: AsRef<[u8]> + ?Sized>(packet: &Packet<&'a T>) -> Result<Icmpv6Repr<'a>> {
        let b: &'a [u8] = packet.buffer.as_ref();
        let data = &b[field::HEADER_LEN..];
        let (t, code) = (packet.msg_type(), packet.code());
        let ndp_len = |min: usize| -> Result<NdpOptions<'a>> {
            if code != 0 {
                return Err(Error::Malformed);
            }
            NdpOptions::new(b.get(min..).ok_or(Error::Truncated)?)
        };
        Ok(match t {
            msg_type::ECHO_REQUEST | msg_type::ECHO_REPLY if code == 0 => {
                let (ident, seq) = (packet.ident(), packet.seq());
                if t == msg_type::ECHO_REQUEST {
                    Icmpv6Repr::EchoRequest { ident, seq, data }
                } else {
                    Icmpv6Repr::EchoReply { ident, seq, data }
                }
            }
            msg_type::DST_UNREACHABLE => Icmpv6Repr::DstUnreachable {
                code,
                invoking: data,
            },
            msg_type::PACKET_TOO_BIG if code == 0 => Icmpv6Repr::PacketTooBig {
                mtu: packet.rest_u32(),
                invoking: data,
            },
            msg_type::TIME_EXCEEDED => Icmpv6Repr::TimeExceeded {
                code,
                invoking: data,
            },
            msg_type::PARAM_PROBLEM => Icmpv6Repr::ParamProblem {
                code,
                pointer: packet.rest_u32(),
                invoking: data,
            },
            msg_type::ROUTER_SOLICIT => {
                let options = ndp_len(8)?;
                Icmpv6Repr::Ndp(NdpRepr::RouterSolicit {
                    lladdr: options.source_lladdr(),
                })
            }
            msg_type::ROUTER_ADVERT => {
                let options = ndp_len(16)?;
                Icmpv6Repr::Ndp(NdpRepr::RouterAdvert {
                    hop_limit: b[field::RA_HOP_LIMIT],
                    managed: b[field::RA_FLAGS] & 0x80 != 0,
                    other: b[field::RA_FLAGS] & 0x40 != 0,
                    router_lifetime: read_u16(b, field::RA_LIFETIME),
                    reachable_time: read_u32(b, field::RA_REACHABLE),
                    retrans_time: read_u32(b, field::RA_RETRANS),
                    options,
                })
            }
            msg_type::NEIGHBOR_SOLICIT | msg_type::NEIGHBOR_ADVERT => {
                let options = ndp_len(24)?;
                let target = read_ipv6(b, field::TARGET);
                if target.is_multicast() {
                    return Err(Error::Malformed);
                }
                if t == msg_type::NEIGHBOR_SOLICIT {
                    Icmpv6Repr::Ndp(NdpRepr::NeighborSolicit {
                        target,
                        lladdr: options.source_lladdr(),
                    })
                } else {
                    let flags = b[field::NA_FLAGS];
                    Icmpv6Repr::Ndp(NdpRepr::NeighborAdvert {
                        router: flags & 0x80 != 0,
                        solicited: flags & 0x40 != 0,
                        override_: flags & 0x20 != 0,
                        target,
                        lladdr: options.target_lladdr(),
                    })
                }
            }
            msg_type::REDIRECT => {
                let options = ndp_len(40)?;
                Icmpv6Repr::Ndp(NdpRepr::Redirect {
                    target: read_ipv6(b, field::TARGET),
                    dest: read_ipv6(b, field::REDIRECT_DST),
                    options,
                })
            }
            msg_type::MLDV2_REPORT => Icmpv6Repr::MldReport {
                records: MldRecords::new(read_u16(b, field::MLD_NR_RECORDS), data)?,
            },
            msg_type => Icmpv6Repr::Other {
                msg_type,
                code,
                rest_of_header: packet.rest_of_header(),
                data,
            },
        })
    }

    /// Bytes the whole message takes.
    pub fn buffer_len(&self) -> usize {
        match self {
            Icmpv6Repr::EchoRequest { data, .. }
            | Icmpv6Repr::EchoReply { data, .. }
            | Icmpv6Repr::Other { data, .. } => field::HEADER_LEN + data.len(),
            Icmpv6Repr::DstUnreachable { invoking, .. }
            | Icmpv6Repr::PacketTooBig { invoking, .. }
            | Icmpv6Repr::TimeExceeded { invoking, .. }
            | Icmpv6Repr::ParamProblem { invoking, .. } => field::HEADER_LEN + invoking.len(),
            Icmpv6Repr::Ndp(ndp) => ndp.fixed_len() + ndp.options_len(),
            Icmpv6Repr::MldReport { records } => field::HEADER_LEN + records.bytes.len(),
        }
    }

    /// True for error messages, about which no error is sent (RFC 4443 2.4 (e.1)).
    pub fn is_error(&self) -> bool {
        matches!(
            self,
            Icmpv6Repr::DstUnreachable { .. }
                | Icmpv6Repr::PacketTooBig { .. }
                | Icmpv6Repr::TimeExceeded { .. }
                | Icmpv6Repr::ParamProblem { .. }
        ) || matches!(self, Icmpv6Repr::Other { msg_type, .. } if msg_type::is_error(*msg_type))
    }

    /// Writes the message from `src` to `dst` and its checksum.
    ///
    /// # Panics
    /// If the buffer is shorter than [`Icmpv6Repr::buffer_len`]. It should
    /// be exactly that long: the checksum covers every byte of it.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        src: Ipv6Addr,
        dst: Ipv6Addr,
        packet: &mut Packet<T>,
    ) {
        let len = self.buffer_len();
        let b = &mut packet.buffer.as_mut()[..len];
        b.fill(0);
        let put = |b: &mut [u8], t: u8, code: u8, rest: [u8; 4], data: &[u8]| {
            b[0] = t;
            b[1] = code;
            b[4..8].copy_from_slice(&rest);
            b[8..8 + data.len()].copy_from_slice(data);
        };
        let echo = |ident: u16, seq: u16| {
            let (i, s) = (ident.to_be_bytes(), seq.to_be_bytes());
            [i[0], i[1], s[0], s[1]]
        };
        match *self {
            Icmpv6Repr::EchoRequest { ident, seq, data } => {
                put(b, msg_type::ECHO_REQUEST, 0, echo(ident, seq), data)
            }
            Icmpv6Repr::EchoReply { ident, seq, data } => {
                put(b, msg_type::ECHO_REPLY, 0, echo(ident, seq), data)
            }
            Icmpv6Repr::DstUnreachable { code, invoking } => {
                put(b, msg_type::DST_UNREACHABLE, code, [0; 4], invoking)
            }
            Icmpv6Repr::PacketTooBig { mtu, invoking } => {
                put(b, msg_type::PACKET_TOO_BIG, 0, mtu.to_be_bytes(), invoking)
            }
            Icmpv6Repr::TimeExceeded { code, invoking } => {
                put(b, msg_type::TIME_EXCEEDED, code, [0; 4], invoking)
            }
            Icmpv6Repr::ParamProblem {
                code,
                pointer,
                invoking,
            } => put(
                b,
                msg_type::PARAM_PROBLEM,
                code,
                pointer.to_be_bytes(),
                invoking,
            ),
            Icmpv6Repr::Other {
                msg_type,
                code,
                rest_of_header,
                data,
            } => put(b, msg_type, code, rest_of_header, data),
            Icmpv6Repr::MldReport { records } => {
                let n = records.count.to_be_bytes();
                put(
                    b,
                    msg_type::MLDV2_REPORT,
                    0,
                    [0, 0, n[0], n[1]],
                    records.bytes,
                )
            }
            Icmpv6Repr::Ndp(ndp) => {
                b[0] = ndp.msg_type();
                let fixed = ndp.fixed_len();
                match ndp {
                    NdpRepr::RouterSolicit { lladdr } => {
                        put_lladdr(b, fixed, ndp_option::SOURCE_LL_ADDR, lladdr)
                    }
                    NdpRepr::RouterAdvert {
                        hop_limit,
                        managed,
                        other,
                        router_lifetime,
                        reachable_time,
                        retrans_time,
                        options,
                    } => {
                        b[field::RA_HOP_LIMIT] = hop_limit;
                        b[field::RA_FLAGS] = u8::from(managed) << 7 | u8::from(other) << 6;
                        write_u16(b, field::RA_LIFETIME, router_lifetime);
                        b[8..12].copy_from_slice(&reachable_time.to_be_bytes());
                        b[12..16].copy_from_slice(&retrans_time.to_be_bytes());
                        b[fixed..].copy_from_slice(options.bytes);
                    }
                    NdpRepr::NeighborSolicit { target, lladdr } => {
                        b[8..24].copy_from_slice(&target.octets());
                        put_lladdr(b, fixed, ndp_option::SOURCE_LL_ADDR, lladdr);
                    }
                    NdpRepr::NeighborAdvert {
                        router,
                        solicited,
                        override_,
                        target,
                        lladdr,
                    } => {
                        b[field::NA_FLAGS] = u8::from(router) << 7
                            | u8::from(solicited) << 6
                            | u8::from(override_) << 5;
                        b[8..24].copy_from_slice(&target.octets());
                        put_lladdr(b, fixed, ndp_option::TARGET_LL_ADDR, lladdr);
                    }
                    NdpRepr::Redirect {
                        target,
                        dest,
                        options,
                    } => {
                        b[8..24].copy_from_slice(&target.octets());
                        b[24..40].copy_from_slice(&dest.octets());
                        b[fixed..].copy_from_slice(options.bytes);
                    }
                }
            }
        }
        let mut p = Packet::new_unchecked(b);
        p.fill_checksum(src, dst);
    }
}

fn put_lladdr(b: &mut [u8], at: usize, option_type: u8, mac: Option<MacAddr>) {
    if let Some(mac) = mac {
        b[at..at + 8].copy_from_slice(&lladdr_option(option_type, mac));
    }
}

/// What an ICMPv6 error says about the packet that caused it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Quoted<'a> {
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    /// The upper layer after any extension headers the quote holds.
    pub protocol: NextHeader,
    /// The quoted bytes from the upper-layer header on.
    pub transport: &'a [u8],
}

impl Quoted<'_> {
    pub fn src_port(&self) -> Option<u16> {
        self.port(0)
    }

    pub fn dst_port(&self) -> Option<u16> {
        self.port(2)
    }

    fn port(&self, at: usize) -> Option<u16> {
        match self.protocol {
            NextHeader::Udp | NextHeader::Tcp => {
                let b = self.transport.get(at..at + 2)?;
                Some(u16::from_be_bytes([b[0], b[1]]))
            }
            _ => None,
        }
    }
}

/// Reads the packet quoted by an error. The quote may be cut anywhere, so
/// only the fixed header must be whole; extension headers are skipped as
/// far as the quote goes (bounded like the walk).
pub fn parse_invoking(invoking: &[u8]) -> Result<Quoted<'_>> {
    if invoking.len() < ipv6::HEADER_LEN {
        return Err(Error::Truncated);
    }
    if invoking[0] >> 4 != 6 {
        return Err(Error::Malformed);
    }
    let mut nh = NextHeader::from(invoking[ipv6::field::NEXT_HEADER]);
    let mut at = ipv6::HEADER_LEN;
    for _ in 0..MAX_EXT_HEADERS {
        let len = match nh {
            NextHeader::HopByHop | NextHeader::DstOpts | NextHeader::Routing => {
                invoking.get(at + 1).map(|&l| (usize::from(l) + 1) * 8)
            }
            // Only a first fragment holds the upper-layer header.
            NextHeader::Fragment => match invoking.get(at + 2..at + 4) {
                Some(o) if o[0] == 0 && o[1] & 0xf8 == 0 => Some(8),
                _ => None,
            },
            _ => break,
        };
        let Some(next) = invoking.get(at).copied().zip(len) else {
            at = invoking.len();
            nh = NextHeader::NoNext;
            break;
        };
        nh = NextHeader::from(next.0);
        at = (at + next.1).min(invoking.len());
    }
    Ok(Quoted {
        src: read_ipv6(invoking, ipv6::field::SRC),
        dst: read_ipv6(invoking, ipv6::field::DST),
        protocol: nh,
        transport: &invoking[at..],
    })
}

/// tcpdump's wording, e.g. `ICMP6, neighbor solicitation, who has
/// fd00:10:10::4, length 32`.
impl fmt::Display for Icmpv6Repr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.fmt_message(f)?;
        write!(f, ", length {}", self.buffer_len())
    }
}

impl Icmpv6Repr<'_> {
    /// Everything of the tcpdump line but the length: a parsed NDP message
    /// may carry options its Repr leaves out, so the packet's Display
    /// prints the length it really has.
    fn fmt_message(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ICMP6, ")?;
        match *self {
            Icmpv6Repr::EchoRequest { ident, seq, .. } => {
                write!(f, "echo request, id {ident}, seq {seq}")?
            }
            Icmpv6Repr::EchoReply { ident, seq, .. } => {
                write!(f, "echo reply, id {ident}, seq {seq}")?
            }
            Icmpv6Repr::DstUnreachable { code, invoking } => {
                f.write_str("destination unreachable, ")?;
                match parse_invoking(invoking) {
                    Ok(q) => {
                        let dst = q.dst;
                        match (code, q.dst_port()) {
                            (unreachable::NO_ROUTE, _) => write!(f, "unreachable route {dst}")?,
                            (unreachable::PROHIBITED, _) => {
                                write!(f, "unreachable prohibited {dst}")?
                            }
                            (unreachable::BEYOND_SCOPE, _) => write!(f, "beyond scope {dst}")?,
                            (unreachable::ADDRESS, _) => write!(f, "unreachable address {dst}")?,
                            (unreachable::PORT, Some(port)) => {
                                let proto = if q.protocol == NextHeader::Udp {
                                    "udp"
                                } else {
                                    "tcp"
                                };
                                write!(f, "unreachable port, {dst} {proto} port {port}")?
                            }
                            (code, _) => write!(f, "code {code}, {dst}")?,
                        }
                    }
                    Err(e) => write!(f, "code {code}, quoted packet {e}")?,
                }
            }
            Icmpv6Repr::PacketTooBig { mtu, .. } => write!(f, "packet too big, mtu {mtu}")?,
            Icmpv6Repr::TimeExceeded { code, invoking } => match code {
                time_exceeded::HOP_LIMIT => match parse_invoking(invoking) {
                    Ok(q) => write!(f, "time exceeded in-transit for {}", q.dst)?,
                    Err(_) => f.write_str("time exceeded in-transit")?,
                },
                time_exceeded::REASSEMBLY => f.write_str("ip6 reassembly time exceeded")?,
                code => write!(f, "time exceeded, code {code}")?,
            },
            Icmpv6Repr::ParamProblem { code, pointer, .. } => {
                let what = match code {
                    0 => "erroneous",
                    1 => "next header",
                    2 => "option",
                    3 => "incomplete chain",
                    _ => "unknown code",
                };
                write!(f, "parameter problem, {what} - octet {pointer}")?
            }
            Icmpv6Repr::Ndp(ndp) => match ndp {
                NdpRepr::RouterSolicit { .. } => f.write_str("router solicitation")?,
                NdpRepr::RouterAdvert { .. } => f.write_str("router advertisement")?,
                NdpRepr::NeighborSolicit { target, .. } => {
                    write!(f, "neighbor solicitation, who has {target}")?
                }
                NdpRepr::NeighborAdvert { target, .. } => {
                    write!(f, "neighbor advertisement, tgt is {target}")?
                }
                NdpRepr::Redirect { target, dest, .. } => {
                    write!(f, "redirect, {dest} to {target}")?
                }
            },
            Icmpv6Repr::MldReport { records } => write!(
                f,
                "multicast listener report v2, {} group record(s)",
                records.count
            )?,
            Icmpv6Repr::Other { msg_type, code, .. } => write!(f, "type {msg_type}, code {code}")?,
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ipv6::Packet as Ipv6Packet;
    use crate::wire::ipv6ext;
    use crate::wire::testdata::{
        DAD_NS_IP6, ECHO_REPLY_IP6, ECHO_REQUEST_IP6, MLD_REPORT_IP6, NA_IP6, NS_IP6,
        PORT_UNREACHABLE_IP6, RS_IP6,
    };
    use proptest::prelude::*;

    /// Source, destination and ICMPv6 message of a captured packet.
    fn split(ip: &[u8]) -> (Ipv6Addr, Ipv6Addr, &[u8]) {
        let p = Ipv6Packet::new_checked(ip).unwrap();
        let w = ipv6ext::walk(&p).unwrap();
        assert_eq!(w.protocol, NextHeader::Icmpv6);
        (p.src(), p.dst(), &ip[w.offset..])
    }

    fn parse(ip: &[u8]) -> Icmpv6Repr<'_> {
        let (src, dst, msg) = split(ip);
        Icmpv6Repr::parse(src, dst, &Packet::new_checked(msg).unwrap()).unwrap()
    }

    /// Emits `repr` as the message of `ip` would be, compares the bytes.
    fn emits_as(repr: Icmpv6Repr<'_>, ip: &[u8]) {
        let (src, dst, msg) = split(ip);
        assert_eq!(repr.buffer_len(), msg.len());
        let mut buf = vec![0xa5u8; repr.buffer_len()];
        repr.emit(src, dst, &mut Packet::new_unchecked(&mut buf[..]));
        assert_eq!(buf, msg);
    }

    fn addr(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    const MAC2: MacAddr = MacAddr([2, 0, 0, 0, 0, 2]);
    const MAC4: MacAddr = MacAddr([2, 0, 0, 0, 0, 4]);

    #[test]
    fn neighbor_solicitation() {
        let (_, _, msg) = split(&NS_IP6);
        let p = Packet::new_checked(msg).unwrap();
        assert_eq!((p.msg_type(), p.code(), p.checksum()), (135, 0, 0x7d51));
        let repr = parse(&NS_IP6);
        let want = Icmpv6Repr::Ndp(NdpRepr::NeighborSolicit {
            target: addr("fd00:10:10::4"),
            lladdr: Some(MAC2),
        });
        assert_eq!(repr, want);
        emits_as(want, &NS_IP6);
        let Icmpv6Repr::Ndp(ndp) = repr else {
            unreachable!()
        };
        let (src, dst, _) = split(&NS_IP6);
        assert_eq!(ndp.check_ip_header(src, dst, 255), Ok(()));
        assert_eq!(ndp.check_ip_header(src, dst, 64), Err(Error::Malformed));
        assert_eq!(
            repr.to_string(),
            "ICMP6, neighbor solicitation, who has fd00:10:10::4, length 32"
        );
    }

    #[test]
    fn neighbor_advertisement() {
        let want = Icmpv6Repr::Ndp(NdpRepr::NeighborAdvert {
            router: false,
            solicited: true,
            override_: true,
            target: addr("fd00:10:10::4"),
            lladdr: Some(MAC4),
        });
        assert_eq!(parse(&NA_IP6), want);
        emits_as(want, &NA_IP6);
        assert_eq!(
            want.to_string(),
            "ICMP6, neighbor advertisement, tgt is fd00:10:10::4, length 32"
        );
        let Icmpv6Repr::Ndp(na) = want else {
            unreachable!()
        };
        // Solicited to a multicast destination is invalid (RFC 4861 7.1.2).
        let src = addr("fd00:10:10::4");
        assert_eq!(
            na.check_ip_header(src, ipv6::ALL_NODES, 255),
            Err(Error::Malformed)
        );
        assert_eq!(na.check_ip_header(src, addr("fd00:10:10::2"), 255), Ok(()));
    }

    #[test]
    fn dad_probe_with_an_unknown_option() {
        let repr = parse(&DAD_NS_IP6);
        let (src, dst, msg) = split(&DAD_NS_IP6);
        assert!(src.is_unspecified());
        let Icmpv6Repr::Ndp(ndp) = repr else {
            panic!("{repr:?}")
        };
        assert_eq!(
            ndp,
            NdpRepr::NeighborSolicit {
                target: addr("fd00:10:10::2"),
                lladdr: None
            }
        );
        assert_eq!(ndp.check_ip_header(src, dst, 255), Ok(()));
        // From :: with a source link-layer option, or not to the solicited-node group.
        let with_ll = NdpRepr::NeighborSolicit {
            target: addr("fd00:10:10::2"),
            lladdr: Some(MAC2),
        };
        assert_eq!(
            with_ll.check_ip_header(src, dst, 255),
            Err(Error::Malformed)
        );
        assert_eq!(
            ndp.check_ip_header(src, ipv6::ALL_NODES, 255),
            Err(Error::Malformed)
        );
        // The nonce (RFC 7527) is an option this host does not know: kept, skipped.
        let opts = NdpOptions::new(&msg[24..]).unwrap();
        let all: Vec<_> = opts.iter().collect();
        assert_eq!(
            all,
            [NdpOption::Unknown {
                option_type: 14,
                data: &msg[26..32]
            }]
        );
        // The packet prints its real length, the Repr the length it would emit.
        let p = Packet::new_checked(msg).unwrap();
        assert!(p.to_string().ends_with("who has fd00:10:10::2, length 32"));
        assert!(repr.to_string().ends_with("length 24"));
    }

    #[test]
    fn echo_request_and_reply() {
        let req = parse(&ECHO_REQUEST_IP6);
        let data = &ECHO_REQUEST_IP6[48..];
        assert_eq!(
            req,
            Icmpv6Repr::EchoRequest {
                ident: 32109,
                seq: 1,
                data
            }
        );
        emits_as(req, &ECHO_REQUEST_IP6);
        let reply = Icmpv6Repr::EchoReply {
            ident: 32109,
            seq: 1,
            data,
        };
        assert_eq!(parse(&ECHO_REPLY_IP6), reply);
        emits_as(reply, &ECHO_REPLY_IP6);
        assert_eq!(
            req.to_string(),
            "ICMP6, echo request, id 32109, seq 1, length 64"
        );
        assert!(!req.is_error());
    }

    #[test]
    fn mldv2_report() {
        let repr = parse(&MLD_REPORT_IP6);
        let Icmpv6Repr::MldReport { records } = repr else {
            panic!("{repr:?}")
        };
        let recs: Vec<_> = records.iter().collect();
        assert_eq!(recs.len(), 1);
        assert_eq!(recs[0].record_type, mld_record::CHANGE_TO_EXCLUDE);
        assert_eq!(recs[0].mcast_addr, addr("ff02::1:ff00:2"));
        assert_eq!(recs[0].sources().count(), 0);
        // What the stack emits to join its solicited-node group: the same bytes.
        let mut buf = [0u8; 64];
        let ours = MldRecords::write(
            &[(
                mld_record::CHANGE_TO_EXCLUDE,
                ipv6::solicited_node(addr("fd00:10:10::2")),
            )],
            &mut buf,
        )
        .unwrap();
        emits_as(Icmpv6Repr::MldReport { records: ours }, &MLD_REPORT_IP6);
        assert_eq!(
            repr.to_string(),
            "ICMP6, multicast listener report v2, 1 group record(s), length 28"
        );
        assert_eq!(
            MldRecords::write(&[(4, ipv6::ALL_NODES)], &mut buf[..19]),
            Err(Error::Truncated)
        );
        // Records with sources and auxiliary data.
        let mut rec = vec![mld_record::ALLOW_NEW_SOURCES, 1, 0, 2];
        rec.extend_from_slice(&addr("ff0e::42").octets());
        rec.extend_from_slice(&addr("2001:db8::1").octets());
        rec.extend_from_slice(&addr("2001:db8::2").octets());
        rec.extend_from_slice(&[9, 9, 9, 9]);
        let r = MldRecords::new(1, &rec).unwrap();
        let one = r.iter().next().unwrap();
        assert_eq!(
            one.sources().collect::<Vec<_>>(),
            [addr("2001:db8::1"), addr("2001:db8::2")]
        );
        assert_eq!(one.aux_data, &[9, 9, 9, 9]);
        for n in 0..rec.len() {
            assert_eq!(MldRecords::new(1, &rec[..n]), Err(Error::Truncated), "{n}");
        }
        assert_eq!(MldRecords::new(2, &rec), Err(Error::Truncated));
    }

    #[test]
    fn router_solicitation() {
        let want = Icmpv6Repr::Ndp(NdpRepr::RouterSolicit { lladdr: Some(MAC4) });
        assert_eq!(parse(&RS_IP6), want);
        emits_as(want, &RS_IP6);
        assert_eq!(want.to_string(), "ICMP6, router solicitation, length 16");
    }

    #[test]
    fn router_advertisement_and_redirect() {
        let mut opts = lladdr_option(1, MAC4).to_vec();
        opts.extend_from_slice(&[5, 1, 0, 0, 0, 0, 0x05, 0xdc]); // MTU 1500
        opts.extend_from_slice(&[
            3, 4, 64, 0xc0, 0, 0, 0x0e, 0x10, 0, 0, 0x07, 0x08, 0, 0, 0, 0,
        ]);
        opts.extend_from_slice(&addr("fd00:10:10::").octets());
        let options = NdpOptions::new(&opts).unwrap();
        assert_eq!(options.source_lladdr(), Some(MAC4));
        assert_eq!(options.target_lladdr(), None);
        assert_eq!(options.mtu(), Some(1500));
        assert_eq!(
            options.prefixes().collect::<Vec<_>>(),
            [PrefixInfo {
                prefix_len: 64,
                on_link: true,
                autonomous: true,
                valid_lifetime: 3600,
                preferred_lifetime: 1800,
                prefix: addr("fd00:10:10::")
            }]
        );
        let (src, dst) = (addr("fe80::1"), ipv6::ALL_NODES);
        let ra = Icmpv6Repr::Ndp(NdpRepr::RouterAdvert {
            hop_limit: 64,
            managed: false,
            other: true,
            router_lifetime: 1800,
            reachable_time: 30_000,
            retrans_time: 1000,
            options,
        });
        let redirect = Icmpv6Repr::Ndp(NdpRepr::Redirect {
            target: addr("fe80::1"),
            dest: addr("2001:db8::9"),
            options: NdpOptions::new(&opts[..8]).unwrap(),
        });
        for repr in [ra, redirect] {
            let mut buf = vec![0u8; repr.buffer_len()];
            repr.emit(src, dst, &mut Packet::new_unchecked(&mut buf[..]));
            let p = Packet::new_checked(&buf[..]).unwrap();
            assert_eq!(Icmpv6Repr::parse(src, dst, &p), Ok(repr));
            let Icmpv6Repr::Ndp(ndp) = repr else {
                unreachable!()
            };
            assert_eq!(ndp.check_ip_header(src, dst, 255), Ok(()));
            assert_eq!(
                ndp.check_ip_header(addr("fd00::1"), dst, 255),
                Err(Error::Malformed)
            );
        }
        assert_eq!(
            redirect.to_string(),
            "ICMP6, redirect, 2001:db8::9 to fe80::1, length 48"
        );
        assert!(ra.to_string().starts_with("ICMP6, router advertisement"));
    }

    #[test]
    fn invalid_ndp_is_refused() {
        let (src, dst, msg) = split(&NS_IP6);
        let refix = |f: &dyn Fn(&mut Vec<u8>)| {
            let mut b = msg.to_vec();
            f(&mut b);
            Packet::new_unchecked(&mut b[..]).fill_checksum(src, dst);
            Icmpv6Repr::parse(src, dst, &Packet::new_checked(&b[..]).unwrap()).map(|_| ())
        };
        // Option length 0 (RFC 4861 4.6), an option past the end, code != 0,
        // a multicast target (RFC 4861 7.1.1).
        assert_eq!(refix(&|b| b[25] = 0), Err(Error::Malformed));
        assert_eq!(refix(&|b| b[25] = 2), Err(Error::Malformed));
        assert_eq!(refix(&|b| b.push(1)), Err(Error::Malformed));
        assert_eq!(refix(&|b| b[1] = 1), Err(Error::Malformed));
        assert_eq!(refix(&|b| b[8] = 0xff), Err(Error::Malformed));
        assert_eq!(refix(&|_| ()), Ok(()));
        // Every cut: shorter than the fixed part or through the option is an
        // error; exactly the fixed part is a valid NS without options.
        for n in 0..msg.len() {
            let r = refix(&|b| b.truncate(n.max(8)));
            if n < 8 {
                assert!(Packet::new_checked(&msg[..n]).is_err());
            } else if n == 24 {
                assert_eq!(r, Ok(()));
            } else {
                assert!(r.is_err(), "{n}");
            }
        }
    }

    #[test]
    fn port_unreachable_quotes_the_invoking_packet() {
        let repr = parse(&PORT_UNREACHABLE_IP6);
        let invoking = &PORT_UNREACHABLE_IP6[48..];
        assert_eq!(
            repr,
            Icmpv6Repr::DstUnreachable {
                code: unreachable::PORT,
                invoking
            }
        );
        assert!(repr.is_error());
        emits_as(
            Icmpv6Repr::DstUnreachable {
                code: unreachable::PORT,
                invoking: quote(invoking),
            },
            &PORT_UNREACHABLE_IP6,
        );
        let q = parse_invoking(invoking).unwrap();
        assert_eq!(
            (q.src, q.dst),
            (addr("fd00:10:10::2"), addr("fd00:10:10::4"))
        );
        assert_eq!(
            (q.protocol, q.src_port(), q.dst_port()),
            (NextHeader::Udp, Some(38591), Some(9999))
        );
        assert_eq!(
            repr.to_string(),
            "ICMP6, destination unreachable, unreachable port, fd00:10:10::4 udp port 9999, length 62"
        );
        for n in 0..40 {
            assert_eq!(parse_invoking(&invoking[..n]), Err(Error::Truncated));
        }
        for n in 40..invoking.len() {
            assert!(parse_invoking(&invoking[..n]).is_ok());
        }
    }

    #[test]
    fn errors_fit_the_minimum_mtu() {
        let big = vec![0x60u8; 3000];
        let invoking = quote(&big);
        assert_eq!(invoking.len(), MAX_INVOKING);
        let (src, dst) = (addr("fd00:10:10::4"), addr("fd00:10:10::2"));
        for repr in [
            Icmpv6Repr::PacketTooBig {
                mtu: 1280,
                invoking,
            },
            Icmpv6Repr::TimeExceeded { code: 1, invoking },
            Icmpv6Repr::ParamProblem {
                code: 1,
                pointer: 40,
                invoking,
            },
            Icmpv6Repr::DstUnreachable { code: 0, invoking },
            Icmpv6Repr::Other {
                msg_type: 200,
                code: 3,
                rest_of_header: [1, 2, 3, 4],
                data: &[5, 6],
            },
        ] {
            assert!(ipv6::HEADER_LEN + repr.buffer_len() <= ipv6::MIN_MTU);
            let mut buf = vec![0u8; repr.buffer_len()];
            repr.emit(src, dst, &mut Packet::new_unchecked(&mut buf[..]));
            let p = Packet::new_checked(&buf[..]).unwrap();
            assert!(p.verify_checksum(src, dst) && !p.verify_checksum(dst, dst));
            assert_eq!(Icmpv6Repr::parse(src, dst, &p), Ok(repr));
        }
        let pp = Icmpv6Repr::ParamProblem {
            code: 1,
            pointer: 40,
            invoking: &ECHO_REQUEST_IP6,
        };
        assert_eq!(
            pp.to_string(),
            "ICMP6, parameter problem, next header - octet 40, length 112"
        );
        let ptb = Icmpv6Repr::PacketTooBig {
            mtu: 1400,
            invoking: &[],
        };
        assert_eq!(ptb.to_string(), "ICMP6, packet too big, mtu 1400, length 8");
        let te = Icmpv6Repr::TimeExceeded {
            code: 0,
            invoking: &ECHO_REQUEST_IP6,
        };
        assert_eq!(
            te.to_string(),
            "ICMP6, time exceeded in-transit for fd00:10:10::4, length 112"
        );
    }

    #[test]
    fn bad_checksum_is_detected() {
        let (src, dst, msg) = split(&ECHO_REQUEST_IP6);
        for at in 0..msg.len() {
            let mut b = msg.to_vec();
            b[at] ^= 0x10;
            let p = Packet::new_checked(&b[..]).unwrap();
            assert_eq!(
                Icmpv6Repr::parse(src, dst, &p),
                Err(Error::Checksum),
                "{at}"
            );
        }
        // The pseudo-header counts: another destination does not verify.
        let p = Packet::new_checked(msg).unwrap();
        assert_eq!(Icmpv6Repr::parse(src, src, &p), Err(Error::Checksum));
    }

    #[test]
    fn truncated_messages_never_panic() {
        for ip in [
            &NS_IP6[..],
            &NA_IP6,
            &ECHO_REQUEST_IP6,
            &MLD_REPORT_IP6,
            &PORT_UNREACHABLE_IP6,
        ] {
            let (src, dst, msg) = split(ip);
            for n in 0..msg.len() {
                let mut b = msg[..n].to_vec();
                let s = Packet::new_unchecked(&b[..]).to_string();
                if n < 8 {
                    assert_eq!(s, "ICMP6 truncated");
                    assert!(Packet::new_checked(&b[..]).is_err());
                    continue;
                }
                Packet::new_unchecked(&mut b[..]).fill_checksum(src, dst);
                let _ = Icmpv6Repr::parse(src, dst, &Packet::new_checked(&b[..]).unwrap());
            }
        }
        // An MLD report cut inside its record is an error.
        let (src, dst, msg) = split(&MLD_REPORT_IP6);
        for n in 8..msg.len() {
            let mut b = msg[..n].to_vec();
            Packet::new_unchecked(&mut b[..]).fill_checksum(src, dst);
            let p = Packet::new_checked(&b[..]).unwrap();
            assert_eq!(
                Icmpv6Repr::parse(src, dst, &p),
                Err(Error::Truncated),
                "{n}"
            );
        }
    }

    proptest! {
        #[test]
        fn ndp_round_trips(t in any::<u128>(), mac in any::<[u8; 6]>(), has in any::<bool>(),
                           flags in any::<[bool; 3]>(), src in any::<u128>(), dst in any::<u128>()) {
            let target = Ipv6Addr::from(t & !(0xff << 120)); // not multicast
            let lladdr = has.then_some(MacAddr(mac));
            let (src, dst) = (Ipv6Addr::from(src), Ipv6Addr::from(dst));
            for repr in [
                Icmpv6Repr::Ndp(NdpRepr::NeighborSolicit { target, lladdr }),
                Icmpv6Repr::Ndp(NdpRepr::NeighborAdvert {
                    router: flags[0], solicited: flags[1], override_: flags[2], target, lladdr,
                }),
                Icmpv6Repr::Ndp(NdpRepr::RouterSolicit { lladdr }),
                Icmpv6Repr::EchoReply { ident: t as u16, seq: (t >> 16) as u16, data: &mac },
            ] {
                let mut buf = vec![0u8; repr.buffer_len()];
                repr.emit(src, dst, &mut Packet::new_unchecked(&mut buf[..]));
                let p = Packet::new_checked(&buf[..]).unwrap();
                prop_assert_eq!(Icmpv6Repr::parse(src, dst, &p), Ok(repr));
            }
        }

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..120),
                                    t in prop::sample::select(vec![1u8, 2, 3, 4, 128, 129, 133, 134, 135, 136, 137, 143])) {
            let mut bytes = bytes;
            if !bytes.is_empty() {
                bytes[0] = t;
            }
            let (src, dst) = (addr("fe80::1"), addr("ff02::1"));
            let _ = Packet::new_unchecked(&bytes[..]).to_string();
            let _ = parse_invoking(&bytes);
            if bytes.len() >= 8 {
                Packet::new_unchecked(&mut bytes[..]).fill_checksum(src, dst);
                if let Ok(repr) = Icmpv6Repr::parse(src, dst, &Packet::new_checked(&bytes[..]).unwrap()) {
                    let _ = repr.to_string();
                    let mut buf = vec![0u8; repr.buffer_len()];
                    repr.emit(src, dst, &mut Packet::new_unchecked(&mut buf[..]));
                    let again = Packet::new_checked(&buf[..]).unwrap();
                    prop_assert_eq!(Icmpv6Repr::parse(src, dst, &again), Ok(repr));
                }
            }
        }
    }
}
