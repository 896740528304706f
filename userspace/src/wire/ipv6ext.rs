//! IPv6 extension headers (RFC 8200 4): Hop-by-Hop and Destination
//! Options with their TLV options, Routing, Fragment, and [`walk`], which
//! goes through the chain after the fixed header to the upper layer.
//!
//! Every offset the walk reports (upper-layer start, Parameter Problem
//! pointers) counts from the first byte of the IPv6 header, as the ICMPv6
//! Parameter Problem pointer does (RFC 4443 3.4).

use std::fmt;

use super::ipv6::{self, NextHeader};
use super::{read_u16, write_u16, Error, Result};

/// Offsets inside an extension header.
pub mod field {
    /// Every extension header starts with the Next Header byte.
    pub const NEXT_HEADER: usize = 0;
    /// Length in 8-byte units, not counting the first 8 (Options, Routing).
    pub const HDR_EXT_LEN: usize = 1;
    pub const ROUTING_TYPE: usize = 2;
    pub const SEGMENTS_LEFT: usize = 3;
    /// Fragment header: offset (13 bits, 8-byte units), 2 reserved, M.
    pub const FRAG_OFFSET_M: usize = 2;
    pub const FRAG_IDENT: usize = 4;
    pub const FRAGMENT_LEN: usize = 8;
}

/// Headers the walk goes through before giving up: a real chain has at
/// most Hop-by-Hop, Destination Options twice, Routing and Fragment (RFC
/// 8200 4.1), so a longer one is an attack on the walk.
pub const MAX_EXT_HEADERS: usize = 8;

/// ICMPv6 Parameter Problem codes (RFC 4443 3.4, RFC 7112).
pub mod param_problem {
    pub const ERRONEOUS_HEADER_FIELD: u8 = 0;
    pub const UNRECOGNIZED_NEXT_HEADER: u8 = 1;
    pub const UNRECOGNIZED_OPTION: u8 = 2;
    /// The first fragment does not hold the whole header chain (RFC 7112 5).
    pub const INCOMPLETE_CHAIN: u8 = 3;
}

/// Option types this host knows (RFC 8200 4.2, RFC 2711).
pub mod option {
    pub const PAD1: u8 = 0;
    pub const PADN: u8 = 1;
    pub const ROUTER_ALERT: u8 = 5;
}

/// Why the extension header chain stops the packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ExtError {
    /// A header runs past Payload Length: drop.
    Truncated,
    /// An option runs past the end of its header: drop (as Linux does).
    BadOption,
    /// More than [`MAX_EXT_HEADERS`] headers: drop.
    TooManyHeaders,
    /// An unrecognized option whose action bits say discard silently
    /// (01, or 11 to a multicast destination, RFC 8200 4.2); `pointer` is
    /// the option's offset, for counting.
    Discard { pointer: u32 },
    /// Discard and answer with ICMPv6 Parameter Problem `code`, `pointer`
    /// (RFC 4443 3.4), the stack's rate limits and RFC 4443 2.4 (e)
    /// permitting.
    ParamProblem { code: u8, pointer: u32 },
}

impl From<ExtError> for Error {
    fn from(e: ExtError) -> Error {
        match e {
            ExtError::Truncated => Error::Truncated,
            ExtError::BadOption | ExtError::TooManyHeaders => Error::Malformed,
            ExtError::Discard { .. } | ExtError::ParamProblem { .. } => Error::Unsupported,
        }
    }
}

impl ExtError {
    /// The ICMPv6 Parameter Problem `(code, pointer)` this verdict asks
    /// for; `None` for the silent drops.
    pub const fn param_problem(&self) -> Option<(u8, u32)> {
        match *self {
            ExtError::ParamProblem { code, pointer } => Some((code, pointer)),
            _ => None,
        }
    }
}

impl fmt::Display for ExtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExtError::Truncated => f.write_str("extension header truncated"),
            ExtError::BadOption => f.write_str("option runs past its header"),
            ExtError::TooManyHeaders => f.write_str("too many extension headers"),
            ExtError::Discard { pointer } => write!(f, "unrecognized option at {pointer}"),
            ExtError::ParamProblem { code, pointer } => {
                write!(f, "parameter problem, code {code}, pointer {pointer}")
            }
        }
    }
}

impl std::error::Error for ExtError {}

/// What RFC 8200 4.2 says to do with an unrecognized option: the two
/// high-order bits of its type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OptionAction {
    /// 00: skip it and go on.
    Skip,
    /// 01: discard the packet.
    Discard,
    /// 10: discard and send Parameter Problem code 2, even to multicast.
    DiscardAndReport,
    /// 11: discard, and send Parameter Problem code 2 only if the
    /// destination was not multicast.
    DiscardAndReportUnlessMulticast,
}

impl OptionAction {
    pub const fn of(option_type: u8) -> OptionAction {
        match option_type >> 6 {
            0 => OptionAction::Skip,
            1 => OptionAction::Discard,
            2 => OptionAction::DiscardAndReport,
            _ => OptionAction::DiscardAndReportUnlessMulticast,
        }
    }
}

/// One TLV option of a Hop-by-Hop or Destination Options header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Ipv6Option<'a> {
    Pad1,
    /// PadN with this many bytes of data.
    PadN(u8),
    /// Router Alert (RFC 2711); value 0 is MLD.
    RouterAlert(u16),
    Unknown {
        option_type: u8,
        data: &'a [u8],
    },
}

/// Iterator over the options of an Options header, yielding each option's
/// offset inside the header with it, or `Err(BadOption)` once if one runs
/// past the end.
pub struct OptionIter<'a> {
    header: &'a [u8],
    at: usize,
}

impl<'a> Iterator for OptionIter<'a> {
    type Item = core::result::Result<(usize, Ipv6Option<'a>), ExtError>;

    fn next(&mut self) -> Option<Self::Item> {
        let at = self.at;
        let option_type = *self.header.get(at)?;
        if option_type == option::PAD1 {
            self.at += 1;
            return Some(Ok((at, Ipv6Option::Pad1)));
        }
        let parsed = self.header.get(at + 1).and_then(|&len| {
            let data = self.header.get(at + 2..at + 2 + usize::from(len))?;
            Some((len, data))
        });
        let Some((len, data)) = parsed else {
            self.at = self.header.len();
            return Some(Err(ExtError::BadOption));
        };
        self.at = at + 2 + usize::from(len);
        let opt = match (option_type, data) {
            (option::PADN, _) => Ipv6Option::PadN(len),
            (option::ROUTER_ALERT, &[a, b]) => Ipv6Option::RouterAlert(u16::from_be_bytes([a, b])),
            _ => Ipv6Option::Unknown { option_type, data },
        };
        Some(Ok((at, opt)))
    }
}

/// A zero-copy view over a Hop-by-Hop or Destination Options header
/// (RFC 8200 4.3, 4.6): next header, length, TLV options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OptionsHeader<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> OptionsHeader<T> {
    pub const fn new_unchecked(buffer: T) -> OptionsHeader<T> {
        OptionsHeader { buffer }
    }

    /// Wraps a buffer that holds the whole header its length field says.
    pub fn new_checked(buffer: T) -> Result<OptionsHeader<T>> {
        let h = Self::new_unchecked(buffer);
        h.check_len()?;
        Ok(h)
    }

    pub fn check_len(&self) -> Result<()> {
        let b = self.buffer.as_ref();
        if b.len() < 2 || b.len() < ext_len(b[field::HDR_EXT_LEN]) {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    pub fn next_header(&self) -> NextHeader {
        NextHeader::from(self.buffer.as_ref()[field::NEXT_HEADER])
    }

    /// The whole header's length in bytes, a multiple of 8.
    pub fn header_len(&self) -> usize {
        ext_len(self.buffer.as_ref()[field::HDR_EXT_LEN])
    }

    /// The TLV area after the first two bytes.
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[2..self.header_len()]
    }

    /// The options, each with its offset from the start of the header.
    pub fn iter(&self) -> OptionIter<'_> {
        OptionIter {
            header: &self.buffer.as_ref()[..self.header_len()],
            at: 2,
        }
    }

    /// RFC 8200 4.2 applied to every option: `Ok(router alert value, if
    /// any)` when the packet may go on, otherwise what to do. Pointers are
    /// offsets inside this header; the walk adds the header's position.
    pub fn check(&self, dst_is_multicast: bool) -> core::result::Result<Option<u16>, ExtError> {
        let mut alert = None;
        for item in self.iter() {
            let (at, opt) = item?;
            let Ipv6Option::Unknown { option_type, .. } = opt else {
                if let Ipv6Option::RouterAlert(v) = opt {
                    alert = Some(v);
                }
                continue;
            };
            let pointer = at as u32;
            let report = ExtError::ParamProblem {
                code: param_problem::UNRECOGNIZED_OPTION,
                pointer,
            };
            match OptionAction::of(option_type) {
                OptionAction::Skip => {}
                OptionAction::Discard => return Err(ExtError::Discard { pointer }),
                OptionAction::DiscardAndReport => return Err(report),
                OptionAction::DiscardAndReportUnlessMulticast if dst_is_multicast => {
                    return Err(ExtError::Discard { pointer })
                }
                OptionAction::DiscardAndReportUnlessMulticast => return Err(report),
            }
        }
        Ok(alert)
    }
}

/// `Hdr Ext Len` to bytes: 8-byte units not counting the first 8.
const fn ext_len(hdr_ext_len: u8) -> usize {
    (hdr_ext_len as usize + 1) * 8
}

/// The 8-byte Hop-by-Hop header MLD messages carry (RFC 3810 5): Router
/// Alert with value 0 (MLD, RFC 2711), then PadN to 8 bytes, as Linux sends it.
pub const fn router_alert_hop_by_hop(next_header: u8) -> [u8; 8] {
    [
        next_header,
        0,
        option::ROUTER_ALERT,
        2,
        0,
        0,
        option::PADN,
        0,
    ]
}

/// A zero-copy view over a Routing header (RFC 8200 4.4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoutingHeader<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> RoutingHeader<T> {
    pub const fn new_unchecked(buffer: T) -> RoutingHeader<T> {
        RoutingHeader { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<RoutingHeader<T>> {
        let h = Self::new_unchecked(buffer);
        h.check_len()?;
        Ok(h)
    }

    /// At least the 8 fixed bytes and the whole length.
    pub fn check_len(&self) -> Result<()> {
        let b = self.buffer.as_ref();
        if b.len() < 8 || b.len() < ext_len(b[field::HDR_EXT_LEN]) {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    pub fn next_header(&self) -> NextHeader {
        NextHeader::from(self.buffer.as_ref()[field::NEXT_HEADER])
    }

    pub fn header_len(&self) -> usize {
        ext_len(self.buffer.as_ref()[field::HDR_EXT_LEN])
    }

    /// 0 is the deprecated source route (RFC 5095), 2 Mobile IPv6, 3 RPL, 4 SRv6.
    pub fn routing_type(&self) -> u8 {
        self.buffer.as_ref()[field::ROUTING_TYPE]
    }

    pub fn segments_left(&self) -> u8 {
        self.buffer.as_ref()[field::SEGMENTS_LEFT]
    }

    /// The type-specific data after the first 4 bytes.
    pub fn data(&self) -> &[u8] {
        &self.buffer.as_ref()[4..self.header_len()]
    }
}

/// A zero-copy view over a Fragment header (RFC 8200 4.5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FragmentHeader<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> FragmentHeader<T> {
    pub const fn new_unchecked(buffer: T) -> FragmentHeader<T> {
        FragmentHeader { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<FragmentHeader<T>> {
        let h = Self::new_unchecked(buffer);
        h.check_len()?;
        Ok(h)
    }

    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < field::FRAGMENT_LEN {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    pub fn next_header(&self) -> NextHeader {
        NextHeader::from(self.buffer.as_ref()[field::NEXT_HEADER])
    }

    /// Offset of this fragment's data in the original fragmentable part, in
    /// bytes (the field counts 8-byte units).
    pub fn frag_offset(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::FRAG_OFFSET_M) & 0xfff8
    }

    /// The M flag: more fragments follow.
    pub fn more_frags(&self) -> bool {
        self.buffer.as_ref()[field::FRAG_OFFSET_M + 1] & 0x01 != 0
    }

    pub fn ident(&self) -> u32 {
        let b = self.buffer.as_ref();
        let i = field::FRAG_IDENT;
        u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> FragmentHeader<T> {
    pub fn set_next_header(&mut self, n: NextHeader) {
        self.buffer.as_mut()[field::NEXT_HEADER] = n.into();
    }

    /// Sets offset and M, zeroing the reserved bits; the low 3 bits of
    /// `offset` are dropped (8-byte units).
    pub fn set_offset_and_more(&mut self, offset: u16, more: bool) {
        write_u16(
            self.buffer.as_mut(),
            field::FRAG_OFFSET_M,
            (offset & 0xfff8) | u16::from(more),
        );
    }

    pub fn set_ident(&mut self, ident: u32) {
        let i = field::FRAG_IDENT;
        self.buffer.as_mut()[i..i + 4].copy_from_slice(&ident.to_be_bytes());
    }
}

/// A Fragment header as plain data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FragmentRepr {
    /// The first header of the fragmentable part.
    pub next_header: NextHeader,
    /// In bytes, a multiple of 8.
    pub offset: u16,
    pub more_frags: bool,
    pub ident: u32,
}

impl FragmentRepr {
    pub const HEADER_LEN: usize = field::FRAGMENT_LEN;

    pub fn parse<T: AsRef<[u8]>>(h: &FragmentHeader<T>) -> Result<FragmentRepr> {
        h.check_len()?;
        Ok(FragmentRepr {
            next_header: h.next_header(),
            offset: h.frag_offset(),
            more_frags: h.more_frags(),
            ident: h.ident(),
        })
    }

    /// An atomic fragment (offset 0, M clear) is a whole datagram and is
    /// processed as one, outside reassembly (RFC 6946 4).
    pub const fn is_atomic(&self) -> bool {
        self.offset == 0 && !self.more_frags
    }

    /// Writes the 8 bytes (reserved fields zero).
    ///
    /// # Panics
    /// If the buffer is shorter than [`FragmentRepr::HEADER_LEN`].
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, h: &mut FragmentHeader<T>) {
        h.buffer.as_mut()[..field::FRAGMENT_LEN].fill(0);
        h.set_next_header(self.next_header);
        h.set_offset_and_more(self.offset, self.more_frags);
        h.set_ident(self.ident);
    }
}

/// A Fragment header met on the walk, and where it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FragmentInfo {
    pub header: FragmentRepr,
    /// Offset of the Fragment header; the fragment's data starts 8 bytes later.
    pub at: usize,
}

/// Where the extension header chain of a packet leads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Walk {
    /// The first header that is not Hop-by-Hop, Destination Options,
    /// Routing (with segments left 0) or an atomic Fragment: the upper
    /// layer, ESP/AH, No Next Header, or one this walk does not know. The
    /// stack answers the ones it does not handle with [`Walk::unrecognized`].
    pub protocol: NextHeader,
    /// Where `protocol`'s header starts.
    pub offset: usize,
    /// Offset of the Next Header field that names `protocol`.
    pub next_header_at: usize,
    /// A non-atomic Fragment header: for a first fragment (offset 0) the
    /// walk went on to the upper layer inside it (RFC 7112); for a later
    /// one it stopped, and `protocol`/`offset` are the fragment header's
    /// next header and the fragment's data.
    pub fragment: Option<FragmentInfo>,
    /// An atomic fragment's header (RFC 6946), walked through.
    pub atomic_fragment: Option<FragmentRepr>,
    /// The value of a Router Alert option in the Hop-by-Hop header
    /// (RFC 2711; MLD requires one, RFC 3810 5).
    pub router_alert: Option<u16>,
}

impl Walk {
    /// The Parameter Problem for an upper layer the stack does not handle:
    /// code 1, pointing at the Next Header field that named it (RFC 8200 4).
    pub fn unrecognized(&self) -> ExtError {
        ExtError::ParamProblem {
            code: param_problem::UNRECOGNIZED_NEXT_HEADER,
            pointer: self.next_header_at as u32,
        }
    }

    /// True for any fragment that needs reassembly.
    pub fn is_fragment(&self) -> bool {
        self.fragment.is_some()
    }
}

/// Walks the extension headers of a length-checked IPv6 packet to the
/// upper layer (RFC 8200 4.1 order rules, 4.2 options, 4.4 routing, 4.5
/// fragments), at most [`MAX_EXT_HEADERS`] of them.
pub fn walk<T: AsRef<[u8]>>(packet: &ipv6::Packet<T>) -> core::result::Result<Walk, ExtError> {
    packet.check_len().map_err(|_| ExtError::Truncated)?;
    let bytes = packet.packet();
    let dst_multicast = packet.dst().is_multicast();
    let mut w = Walk {
        protocol: packet.next_header(),
        offset: ipv6::HEADER_LEN,
        next_header_at: ipv6::field::NEXT_HEADER,
        fragment: None,
        atomic_fragment: None,
        router_alert: None,
    };
    // One more round than headers allowed: the last finds the upper layer.
    for _ in 0..=MAX_EXT_HEADERS {
        let rest = &bytes[w.offset..];
        let at = w.offset;
        // Truncation inside a first fragment means the chain did not fit in
        // it: Parameter Problem code 3 (RFC 7112 5, RFC 8200 4.5).
        let short = |w: &Walk| match w.fragment {
            Some(_) => ExtError::ParamProblem {
                code: param_problem::INCOMPLETE_CHAIN,
                pointer: 0,
            },
            None => ExtError::Truncated,
        };
        let len = match w.protocol {
            NextHeader::HopByHop | NextHeader::DstOpts => {
                if w.protocol == NextHeader::HopByHop && at != ipv6::HEADER_LEN {
                    // Hop-by-Hop only right after the fixed header (RFC 8200 4.1, 4).
                    return Err(w.unrecognized());
                }
                let h = OptionsHeader::new_checked(rest).map_err(|_| short(&w))?;
                let alert = h.check(dst_multicast).map_err(|e| match e {
                    ExtError::Discard { pointer } => ExtError::Discard {
                        pointer: pointer + at as u32,
                    },
                    ExtError::ParamProblem { code, pointer } => ExtError::ParamProblem {
                        code,
                        pointer: pointer + at as u32,
                    },
                    other => other,
                })?;
                if w.protocol == NextHeader::HopByHop {
                    w.router_alert = alert;
                }
                h.header_len()
            }
            NextHeader::Routing => {
                let h = RoutingHeader::new_checked(rest).map_err(|_| short(&w))?;
                // A host implements no routing type, type 0 included (RFC
                // 5095 3): with segments left it must not go on (RFC 8200 4.4).
                if h.segments_left() != 0 {
                    return Err(ExtError::ParamProblem {
                        code: param_problem::ERRONEOUS_HEADER_FIELD,
                        pointer: (at + field::ROUTING_TYPE) as u32,
                    });
                }
                h.header_len()
            }
            NextHeader::Fragment => {
                let h = FragmentHeader::new_checked(rest).map_err(|_| short(&w))?;
                let frag = FragmentRepr::parse(&h).map_err(|_| ExtError::Truncated)?;
                if frag.is_atomic() {
                    w.atomic_fragment = Some(frag);
                } else {
                    if w.fragment.is_some() {
                        // A second fragmentation of the same packet is nonsense.
                        return Err(w.unrecognized());
                    }
                    let data_len = bytes.len() - at - field::FRAGMENT_LEN;
                    // RFC 8200 4.5: all but the last fragment are multiples of
                    // 8 long; pointer to Payload Length.
                    if frag.more_frags && !data_len.is_multiple_of(8) {
                        return Err(ExtError::ParamProblem {
                            code: param_problem::ERRONEOUS_HEADER_FIELD,
                            pointer: ipv6::field::PAYLOAD_LEN as u32,
                        });
                    }
                    // ... and never end past 65535; pointer to the offset.
                    if usize::from(frag.offset) + data_len > 65535 {
                        return Err(ExtError::ParamProblem {
                            code: param_problem::ERRONEOUS_HEADER_FIELD,
                            pointer: (at + field::FRAG_OFFSET_M) as u32,
                        });
                    }
                    w.fragment = Some(FragmentInfo { header: frag, at });
                    if frag.offset != 0 {
                        w.protocol = frag.next_header;
                        w.next_header_at = at;
                        w.offset = at + field::FRAGMENT_LEN;
                        return Ok(w);
                    }
                }
                field::FRAGMENT_LEN
            }
            _ => {
                if w.fragment.is_some() && w.protocol != NextHeader::NoNext && rest.is_empty() {
                    return Err(short(&w));
                }
                return Ok(w);
            }
        };
        w.protocol = NextHeader::from(bytes[at]);
        w.next_header_at = at;
        w.offset = at + len;
    }
    Err(ExtError::TooManyHeaders)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ipv6::{Ipv6Repr, Packet};
    use crate::wire::testdata::{ECHO_REQUEST_IP6, FRAG_LAST_IP6, MLD_REPORT_IP6};
    use proptest::prelude::*;
    use std::net::Ipv6Addr;

    /// An IPv6 packet to `dst` whose payload is `ext` then `upper`.
    fn packet(first: u8, dst: Ipv6Addr, ext: &[u8], upper: &[u8]) -> Vec<u8> {
        let repr = Ipv6Repr {
            src: "fd00:10:10::2".parse().unwrap(),
            dst,
            next_header: first.into(),
            payload_len: ext.len() + upper.len(),
            hop_limit: 64,
            traffic_class: 0,
            flow_label: 0,
        };
        let mut b = vec![0u8; repr.buffer_len()];
        repr.emit(&mut Packet::new_unchecked(&mut b));
        b[40..40 + ext.len()].copy_from_slice(ext);
        b[40 + ext.len()..].copy_from_slice(upper);
        b
    }

    fn us() -> Ipv6Addr {
        "fd00:10:10::4".parse().unwrap()
    }

    fn walk_bytes(b: &[u8]) -> core::result::Result<Walk, ExtError> {
        walk(&Packet::new_checked(b).unwrap())
    }

    const UDP8: [u8; 8] = [0x9c, 0x40, 0, 7, 0, 8, 0, 0];

    #[test]
    fn no_extension_headers() {
        let w = walk_bytes(&ECHO_REQUEST_IP6).unwrap();
        assert_eq!(
            (w.protocol, w.offset, w.next_header_at),
            (NextHeader::Icmpv6, 40, 6)
        );
        assert!(!w.is_fragment() && w.router_alert.is_none());
    }

    #[test]
    fn mld_report_hop_by_hop_with_router_alert() {
        let p = Packet::new_checked(&MLD_REPORT_IP6[..]).unwrap();
        let h = OptionsHeader::new_checked(p.payload()).unwrap();
        assert_eq!((h.next_header(), h.header_len()), (NextHeader::Icmpv6, 8));
        let opts: Vec<_> = h.iter().map(|o| o.unwrap()).collect();
        assert_eq!(
            opts,
            [(2, Ipv6Option::RouterAlert(0)), (6, Ipv6Option::PadN(0))]
        );
        assert_eq!(&p.payload()[..8], &router_alert_hop_by_hop(58));
        let w = walk(&p).unwrap();
        assert_eq!(
            (w.protocol, w.offset, w.next_header_at),
            (NextHeader::Icmpv6, 48, 40)
        );
        assert_eq!(w.router_alert, Some(0));
    }

    #[test]
    fn option_action_bits() {
        // Unknown options of each action class in a Destination Options header.
        for (t, mcast, want) in [
            (0x1e, false, Ok(())),
            (0x5e, false, Err(ExtError::Discard { pointer: 42 })),
            (
                0x9e,
                true,
                Err(ExtError::ParamProblem {
                    code: 2,
                    pointer: 42,
                }),
            ),
            (
                0xde,
                false,
                Err(ExtError::ParamProblem {
                    code: 2,
                    pointer: 42,
                }),
            ),
            (0xde, true, Err(ExtError::Discard { pointer: 42 })),
        ] {
            let dst = if mcast { ipv6::ALL_NODES } else { us() };
            let ext = [17, 0, t, 2, 0xaa, 0xbb, 0, 0]; // option then two Pad1
            let r = walk_bytes(&packet(60, dst, &ext, &UDP8)).map(|w| {
                assert_eq!((w.protocol, w.offset), (NextHeader::Udp, 48));
            });
            assert_eq!(r, want, "type {t:#x}");
            assert_eq!(
                OptionAction::of(t),
                match t >> 6 {
                    0 => OptionAction::Skip,
                    1 => OptionAction::Discard,
                    2 => OptionAction::DiscardAndReport,
                    _ => OptionAction::DiscardAndReportUnlessMulticast,
                }
            );
        }
        // An option running past its header.
        let ext = [17, 0, 1, 5, 0, 0, 0, 0];
        assert_eq!(
            walk_bytes(&packet(0, us(), &ext, &UDP8)),
            Err(ExtError::BadOption)
        );
        let ext = [17, 0, 0, 0, 0, 0, 0, 1];
        assert_eq!(
            walk_bytes(&packet(0, us(), &ext, &UDP8)),
            Err(ExtError::BadOption)
        );
    }

    #[test]
    fn hop_by_hop_must_come_first() {
        let ext = [0, 0, 1, 4, 0, 0, 0, 0, 17, 0, 1, 4, 0, 0, 0, 0];
        assert_eq!(
            walk_bytes(&packet(60, us(), &ext, &UDP8)),
            Err(ExtError::ParamProblem {
                code: 1,
                pointer: 40
            })
        );
        let ext = [60, 0, 1, 4, 0, 0, 0, 0, 0, 0, 1, 4, 0, 0, 0, 0];
        assert_eq!(
            walk_bytes(&packet(0, us(), &ext, &UDP8)),
            Err(ExtError::ParamProblem {
                code: 1,
                pointer: 48
            })
        );
    }

    #[test]
    fn routing_header() {
        // Segments left 0: ignored whatever the type (RFC 8200 4.4).
        let ext = [17, 0, 0, 0, 0, 0, 0, 0];
        let w = walk_bytes(&packet(43, us(), &ext, &UDP8)).unwrap();
        assert_eq!(
            (w.protocol, w.offset, w.next_header_at),
            (NextHeader::Udp, 48, 40)
        );
        let h = RoutingHeader::new_checked(&ext[..]).unwrap();
        assert_eq!(
            (h.routing_type(), h.segments_left(), h.data().len()),
            (0, 0, 4)
        );
        // Type 0 (RFC 5095) or unknown with segments left: code 0, pointer to the type.
        for t in [0u8, 2, 4, 253] {
            let ext = [
                17, 2, t, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            ];
            assert_eq!(
                walk_bytes(&packet(43, us(), &ext, &UDP8)),
                Err(ExtError::ParamProblem {
                    code: 0,
                    pointer: 42
                })
            );
        }
    }

    #[test]
    fn fragments() {
        let w = walk_bytes(&FRAG_LAST_IP6).unwrap();
        let f = w.fragment.unwrap();
        assert_eq!(f.at, 40);
        assert_eq!(
            f.header,
            FragmentRepr {
                next_header: NextHeader::Icmpv6,
                offset: 2896,
                more_frags: false,
                ident: 0xf361_07ac
            }
        );
        assert_eq!(
            (w.protocol, w.offset, w.next_header_at),
            (NextHeader::Icmpv6, 48, 40)
        );

        // A first fragment goes on to the upper layer inside it.
        let mut frag = [0u8; 8];
        let repr = FragmentRepr {
            next_header: NextHeader::DstOpts,
            offset: 0,
            more_frags: true,
            ident: 7,
        };
        repr.emit(&mut FragmentHeader::new_unchecked(&mut frag[..]));
        assert_eq!(frag, [60, 0, 0, 1, 0, 0, 0, 7]);
        let mut ext = frag.to_vec();
        ext.extend_from_slice(&[17, 0, 1, 4, 0, 0, 0, 0]);
        let w = walk_bytes(&packet(44, us(), &ext, &UDP8)).unwrap();
        assert_eq!(
            (w.protocol, w.offset, w.next_header_at),
            (NextHeader::Udp, 56, 48)
        );
        assert_eq!(w.fragment.unwrap().header, repr);
        // ... and must hold the whole chain and the upper-layer header (RFC 7112).
        let p = packet(44, us(), &ext, &[]);
        assert_eq!(
            walk_bytes(&p),
            Err(ExtError::ParamProblem {
                code: 3,
                pointer: 0
            })
        );
        let mut cut = ext.clone();
        cut[9] = 1; // the Destination Options header claims 16 bytes, has 8
        let p = packet(44, us(), &cut, &[]);
        assert_eq!(
            walk_bytes(&p),
            Err(ExtError::ParamProblem {
                code: 3,
                pointer: 0
            })
        );
        // M set and a length that is not a multiple of 8: pointer to Payload Length.
        assert_eq!(
            walk_bytes(&packet(44, us(), &ext, &UDP8[..7])),
            Err(ExtError::ParamProblem {
                code: 0,
                pointer: 4
            })
        );
        // Ending past 65535.
        let mut late = frag;
        FragmentHeader::new_unchecked(&mut late[..]).set_offset_and_more(65528, true);
        assert_eq!(
            walk_bytes(&packet(44, us(), &late, &[0; 16])),
            Err(ExtError::ParamProblem {
                code: 0,
                pointer: 42
            })
        );
        // An atomic fragment is walked through (RFC 6946).
        let mut atomic = frag;
        atomic[0] = 17;
        FragmentHeader::new_unchecked(&mut atomic[..]).set_offset_and_more(0, false);
        let w = walk_bytes(&packet(44, us(), &atomic, &UDP8)).unwrap();
        assert_eq!((w.protocol, w.offset), (NextHeader::Udp, 48));
        assert!(!w.is_fragment() && w.atomic_fragment.unwrap().is_atomic());
    }

    #[test]
    fn unknown_next_header_and_no_next() {
        let w = walk_bytes(&packet(253, us(), &[], &UDP8)).unwrap();
        assert_eq!(w.protocol, NextHeader::Unknown(253));
        assert_eq!(w.unrecognized().param_problem(), Some((1, 6)));
        assert_eq!(ExtError::Discard { pointer: 42 }.param_problem(), None);
        assert_eq!(Error::from(w.unrecognized()), Error::Unsupported);
        assert_eq!(Error::from(ExtError::Truncated), Error::Truncated);
        assert_eq!(
            w.unrecognized(),
            ExtError::ParamProblem {
                code: 1,
                pointer: 6
            }
        );
        let ext = [253, 0, 1, 4, 0, 0, 0, 0];
        let w = walk_bytes(&packet(60, us(), &ext, &[])).unwrap();
        assert_eq!(
            w.unrecognized(),
            ExtError::ParamProblem {
                code: 1,
                pointer: 40
            }
        );
        let w = walk_bytes(&packet(59, us(), &[], &[])).unwrap();
        assert_eq!((w.protocol, w.offset), (NextHeader::NoNext, 40));
    }

    #[test]
    fn chains_are_bounded() {
        let mut ext = Vec::new();
        for _ in 0..=MAX_EXT_HEADERS {
            ext.extend_from_slice(&[60, 0, 1, 4, 0, 0, 0, 0]);
        }
        assert_eq!(
            walk_bytes(&packet(60, us(), &ext, &UDP8)),
            Err(ExtError::TooManyHeaders)
        );
        let n = ext.len();
        ext[n - 8] = 17;
        assert_eq!(
            walk_bytes(&packet(60, us(), &ext[8..], &UDP8))
                .unwrap()
                .protocol,
            NextHeader::Udp
        );
    }

    #[test]
    fn every_truncation_is_an_error() {
        let mut ext = vec![43, 0, 5, 2, 0, 0, 1, 0];
        ext.extend_from_slice(&[44, 0, 0, 0, 0, 0, 0, 0]);
        ext.extend_from_slice(&[60, 0, 0, 0, 0, 0, 0, 1]);
        ext.extend_from_slice(&[17, 1, 1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        let full = packet(0, us(), &ext, &UDP8);
        let w = walk_bytes(&full).unwrap();
        assert_eq!((w.protocol, w.offset), (NextHeader::Udp, 40 + 40));
        for n in 40..40 + ext.len() {
            let mut b = full[..n].to_vec();
            Packet::new_unchecked(&mut b).set_payload_len((n - 40) as u16);
            assert_eq!(walk_bytes(&b), Err(ExtError::Truncated), "{n}");
        }
        for n in 0..8 {
            assert!(OptionsHeader::new_checked(&ext[..n]).is_err());
            assert!(RoutingHeader::new_checked(&ext[8..8 + n]).is_err());
            assert!(FragmentHeader::new_checked(&ext[16..16 + n]).is_err());
        }
    }

    proptest! {
        #[test]
        fn fragment_round_trips(nh in any::<u8>(), off in 0u16..8192, more in any::<bool>(), ident in any::<u32>()) {
            let repr = FragmentRepr { next_header: nh.into(), offset: off * 8, more_frags: more, ident };
            let mut b = [0xffu8; 8];
            repr.emit(&mut FragmentHeader::new_unchecked(&mut b[..]));
            prop_assert_eq!(FragmentRepr::parse(&FragmentHeader::new_checked(&b[..]).unwrap()).unwrap(), repr);
        }

        #[test]
        fn random_chains_never_panic(first in prop::sample::select(vec![0u8, 43, 44, 60, 17]),
                                     ext in proptest::collection::vec(any::<u8>(), 0..80),
                                     mcast in any::<bool>()) {
            let dst = if mcast { ipv6::ALL_NODES } else { us() };
            let b = packet(first, dst, &ext, &[]);
            if let Ok(w) = walk_bytes(&b) {
                prop_assert!(w.offset <= b.len());
                prop_assert!(w.next_header_at < w.offset);
            }
        }
    }
}
