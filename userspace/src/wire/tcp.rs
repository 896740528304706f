//! TCP (RFC 9293) segments.
//!
//! The checksum covers a pseudo-header ([`super::ip::pseudo_header_sum`]:
//! addresses, protocol 6, TCP length), the header with its options, and the data
//! (RFC 9293 3.1). TCP has no length field: the segment is the whole IP
//! payload, so the view's buffer must be exactly that.
//!
//! Options parsed: MSS (RFC 9293 3.7.1), window scale (RFC 7323 2),
//! SACK-permitted (RFC 2018), timestamps (RFC 7323 3). Any other option is
//! skipped by its length (RFC 9293 3.2: "must be prepared to handle an
//! illegal option length"); a length that runs past the header is malformed.

use std::fmt;
use std::net::IpAddr;
use std::ops::BitOr;

use xdpstack_common::checksum;
use xdpstack_common::layout::ipv4::PROTO_TCP;

use super::{ip, read_u16, write_u16, Error, Result};

/// Byte offsets of the header fields (RFC 9293 3.1).
pub mod field {
    pub const SRC_PORT: usize = 0;
    pub const DST_PORT: usize = 2;
    pub const SEQ: usize = 4;
    pub const ACK: usize = 8;
    /// Data offset in 32-bit words (high nibble), then reserved bits.
    pub const DATA_OFF: usize = 12;
    pub const FLAGS: usize = 13;
    pub const WINDOW: usize = 14;
    pub const CHECKSUM: usize = 16;
    pub const URGENT: usize = 18;
    pub const OPTIONS: usize = 20;
}

/// Option kinds (IANA "TCP Option Kind Numbers").
pub mod option {
    pub const END: u8 = 0;
    pub const NOP: u8 = 1;
    pub const MSS: u8 = 2;
    pub const WINDOW_SCALE: u8 = 3;
    pub const SACK_PERMITTED: u8 = 4;
    pub const SACK: u8 = 5;
    pub const TIMESTAMPS: u8 = 8;
}

/// Up to four SACK blocks (RFC 2018 3): [left edge, right edge) each, the
/// first the most recent (or a D-SACK, RFC 2883).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SackBlocks {
    len: u8,
    blocks: [(u32, u32); 4],
}

impl SackBlocks {
    /// The most blocks an option carries (40 bytes of options).
    pub const MAX: usize = 4;

    /// Adds a block; false (and nothing added) when full.
    pub fn push(&mut self, left: u32, right: u32) -> bool {
        let n = usize::from(self.len);
        if n >= Self::MAX {
            return false;
        }
        self.blocks[n] = (left, right);
        self.len += 1;
        true
    }

    pub fn as_slice(&self) -> &[(u32, u32)] {
        &self.blocks[..usize::from(self.len)]
    }

    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub const fn len(&self) -> usize {
        self.len as usize
    }
}

/// The header without options.
pub const HEADER_LEN: usize = 20;
/// The data offset field is 4 bits of 32-bit words.
pub const MAX_HEADER_LEN: usize = 60;

fn read_u32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn write_u32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_be_bytes());
}

/// The control bits (RFC 9293 3.1, RFC 3168 for ECE/CWR).
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Flags(pub u8);

impl Flags {
    pub const NONE: Flags = Flags(0);
    pub const FIN: Flags = Flags(0x01);
    pub const SYN: Flags = Flags(0x02);
    pub const RST: Flags = Flags(0x04);
    pub const PSH: Flags = Flags(0x08);
    pub const ACK: Flags = Flags(0x10);
    pub const URG: Flags = Flags(0x20);
    pub const ECE: Flags = Flags(0x40);
    pub const CWR: Flags = Flags(0x80);

    /// True if every bit of `other` is set.
    pub const fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }

    pub fn fin(self) -> bool {
        self.contains(Flags::FIN)
    }
    pub fn syn(self) -> bool {
        self.contains(Flags::SYN)
    }
    pub fn rst(self) -> bool {
        self.contains(Flags::RST)
    }
    pub fn psh(self) -> bool {
        self.contains(Flags::PSH)
    }
    pub fn ack(self) -> bool {
        self.contains(Flags::ACK)
    }
    pub fn urg(self) -> bool {
        self.contains(Flags::URG)
    }
}

impl BitOr for Flags {
    type Output = Flags;
    fn bitor(self, rhs: Flags) -> Flags {
        Flags(self.0 | rhs.0)
    }
}

/// tcpdump's letters in tcpdump's order: `S.` is SYN-ACK, `.` a bare ACK.
impl fmt::Display for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == 0 {
            return f.write_str("none");
        }
        const LETTERS: [(Flags, char); 8] = [
            (Flags::FIN, 'F'),
            (Flags::SYN, 'S'),
            (Flags::RST, 'R'),
            (Flags::PSH, 'P'),
            (Flags::ACK, '.'),
            (Flags::URG, 'U'),
            (Flags::ECE, 'E'),
            (Flags::CWR, 'W'),
        ];
        for (flag, c) in LETTERS {
            if self.contains(flag) {
                write!(f, "{c}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{self}]")
    }
}

/// The options this stack understands; others are skipped when parsing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TcpOptions {
    /// Maximum segment size the sender can receive (RFC 9293 3.7.1).
    pub mss: Option<u16>,
    /// Window shift count (RFC 7323 2.2); values above 14 are kept as sent.
    pub window_scale: Option<u8>,
    /// SACK may be used (RFC 2018 2).
    pub sack_permitted: bool,
    /// TSval, TSecr (RFC 7323 3.2).
    pub timestamps: Option<(u32, u32)>,
    /// SACK blocks (RFC 2018 3).
    pub sack: SackBlocks,
}

impl TcpOptions {
    /// Parses the option bytes between the fixed header and the data.
    pub fn parse(mut b: &[u8]) -> Result<TcpOptions> {
        let mut o = TcpOptions::default();
        while let Some(&kind) = b.first() {
            match kind {
                option::END => break,
                option::NOP => {
                    b = &b[1..];
                    continue;
                }
                _ => {}
            }
            let len = usize::from(*b.get(1).ok_or(Error::Malformed)?);
            if len < 2 || len > b.len() {
                return Err(Error::Malformed);
            }
            let data = &b[2..len];
            // A known kind with the wrong length is ignored, like Linux does.
            match (kind, data.len()) {
                (option::MSS, 2) => o.mss = Some(read_u16(data, 0)),
                (option::WINDOW_SCALE, 1) => o.window_scale = Some(data[0]),
                (option::SACK_PERMITTED, 0) => o.sack_permitted = true,
                (option::TIMESTAMPS, 8) => {
                    o.timestamps = Some((read_u32(data, 0), read_u32(data, 4)))
                }
                (option::SACK, n) if n > 0 && n % 8 == 0 && n <= 8 * SackBlocks::MAX => {
                    o.sack = SackBlocks::default();
                    for i in 0..n / 8 {
                        o.sack
                            .push(read_u32(data, 8 * i), read_u32(data, 8 * i + 4));
                    }
                }
                _ => {}
            }
            b = &b[len..];
        }
        // Our emit pads every option to 4 bytes: keep only the SACK blocks
        // that still fit the 40 bytes of option space, so what we parse we
        // can always write back (the first blocks matter most, RFC 2018 4).
        while o.buffer_len() > MAX_HEADER_LEN - HEADER_LEN && o.sack.len > 0 {
            o.sack.len -= 1;
        }
        Ok(o)
    }

    /// Bytes the options take when emitted (always a multiple of 4).
    pub const fn buffer_len(&self) -> usize {
        let mut n = 0;
        if self.mss.is_some() {
            n += 4;
        }
        if self.window_scale.is_some() {
            n += 4;
        }
        // SACK-permitted shares the timestamps' padding (see `emit`).
        if self.timestamps.is_some() {
            n += 12;
        } else if self.sack_permitted {
            n += 4;
        }
        if !self.sack.is_empty() {
            n += 4 + 8 * self.sack.len();
        }
        n
    }

    /// Writes the options in 4-byte words, laid out as Linux's
    /// tcp_options_write lays them out, so a SYN or SYN-ACK looks like a
    /// Linux one byte for byte: MSS; SACK-permitted and timestamps sharing
    /// one 12-byte run (else each behind two NOPs); NOP and window scale;
    /// then SACK blocks behind two NOPs. A SYN with all four takes 20 bytes
    /// of options, as Linux's does.
    ///
    /// # Panics
    /// If `b` is shorter than [`TcpOptions::buffer_len`].
    pub fn emit(&self, b: &mut [u8]) {
        let mut at = 0;
        if let Some(mss) = self.mss {
            b[at..at + 2].copy_from_slice(&[option::MSS, 4]);
            write_u16(b, at + 2, mss);
            at += 4;
        }
        match (self.sack_permitted, self.timestamps) {
            (sack_ok, Some((val, ecr))) => {
                let lead = if sack_ok {
                    [option::SACK_PERMITTED, 2]
                } else {
                    [option::NOP, option::NOP]
                };
                b[at..at + 2].copy_from_slice(&lead);
                b[at + 2..at + 4].copy_from_slice(&[option::TIMESTAMPS, 10]);
                write_u32(b, at + 4, val);
                write_u32(b, at + 8, ecr);
                at += 12;
            }
            (true, None) => {
                b[at..at + 4].copy_from_slice(&[
                    option::NOP,
                    option::NOP,
                    option::SACK_PERMITTED,
                    2,
                ]);
                at += 4;
            }
            (false, None) => {}
        }
        if let Some(ws) = self.window_scale {
            b[at..at + 4].copy_from_slice(&[option::NOP, option::WINDOW_SCALE, 3, ws]);
            at += 4;
        }
        if !self.sack.is_empty() {
            let len = 2 + 8 * self.sack.len() as u8;
            b[at..at + 4].copy_from_slice(&[option::NOP, option::NOP, option::SACK, len]);
            at += 4;
            for &(l, r) in self.sack.as_slice() {
                write_u32(b, at, l);
                write_u32(b, at + 4, r);
                at += 8;
            }
        }
    }
}

/// `mss 1460,wscale 7,sackOK,TS val 1 ecr 0`, as tcpdump lists them.
impl fmt::Display for TcpOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut sep = "";
        if let Some(mss) = self.mss {
            write!(f, "mss {mss}")?;
            sep = ",";
        }
        if let Some(ws) = self.window_scale {
            write!(f, "{sep}wscale {ws}")?;
            sep = ",";
        }
        if self.sack_permitted {
            write!(f, "{sep}sackOK")?;
            sep = ",";
        }
        if let Some((val, ecr)) = self.timestamps {
            write!(f, "{sep}TS val {val} ecr {ecr}")?;
            sep = ",";
        }
        if !self.sack.is_empty() {
            write!(f, "{sep}sack {}", self.sack.len())?;
            for (l, r) in self.sack.as_slice() {
                write!(f, " {{{l}:{r}}}")?;
            }
        }
        Ok(())
    }
}

/// A zero-copy view over a TCP segment (the whole IPv4 payload).
///
/// Built with [`Packet::new_checked`] (20-byte header, data offset between
/// 5 words and the buffer size) the accessors never panic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking it; accessors may panic.
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps a buffer whose header and options fit it.
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// `Truncated` if the buffer cannot hold the fixed header or the header
    /// length the data offset claims; `Malformed` if that is below 20 bytes.
    pub fn check_len(&self) -> Result<()> {
        let b = self.buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let hlen = usize::from(b[field::DATA_OFF] >> 4) * 4;
        if hlen < HEADER_LEN {
            return Err(Error::Malformed);
        }
        if hlen > b.len() {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn src_port(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::SRC_PORT)
    }

    pub fn dst_port(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::DST_PORT)
    }

    pub fn seq_number(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::SEQ)
    }

    pub fn ack_number(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::ACK)
    }

    /// Header length in bytes, options included.
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::DATA_OFF] >> 4) * 4
    }

    pub fn flags(&self) -> Flags {
        Flags(self.buffer.as_ref()[field::FLAGS])
    }

    pub fn window_len(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::WINDOW)
    }

    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    pub fn urgent_at(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::URGENT)
    }

    /// The raw option bytes.
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[field::OPTIONS..self.header_len()]
    }

    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }

    /// True if the checksum verifies against the pseudo-header (RFC 9293 3.1).
    pub fn verify_checksum(&self, src: impl Into<IpAddr>, dst: impl Into<IpAddr>) -> bool {
        let b = self.buffer.as_ref();
        let Ok(len) = u16::try_from(b.len()) else {
            return false;
        };
        checksum::fold(checksum::sum_be(
            ip::pseudo_header_sum(src.into(), dst.into(), PROTO_TCP, u32::from(len)),
            b,
        )) == 0xffff
    }

    /// True if the checksum field holds only the folded pseudo-header sum,
    /// not complemented: what a sender with TX checksum offload leaves for
    /// the hardware to finish (Linux's CHECKSUM_PARTIAL, `__tcp_v4_send_check`).
    /// Only a peer on this host (a veth) can hand such a frame over unfinished.
    pub fn has_partial_checksum(&self, src: impl Into<IpAddr>, dst: impl Into<IpAddr>) -> bool {
        let Ok(len) = u16::try_from(self.buffer.as_ref().len()) else {
            return false;
        };
        self.checksum()
            == checksum::fold(ip::pseudo_header_sum(
                src.into(),
                dst.into(),
                PROTO_TCP,
                u32::from(len),
            ))
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_src_port(&mut self, v: u16) {
        write_u16(self.buffer.as_mut(), field::SRC_PORT, v);
    }

    pub fn set_dst_port(&mut self, v: u16) {
        write_u16(self.buffer.as_mut(), field::DST_PORT, v);
    }

    pub fn set_seq_number(&mut self, v: u32) {
        write_u32(self.buffer.as_mut(), field::SEQ, v);
    }

    pub fn set_ack_number(&mut self, v: u32) {
        write_u32(self.buffer.as_mut(), field::ACK, v);
    }

    /// Sets the data offset from a header length in bytes (a multiple of 4).
    pub fn set_header_len(&mut self, len: usize) {
        self.buffer.as_mut()[field::DATA_OFF] = ((len / 4) as u8) << 4;
    }

    pub fn set_flags(&mut self, v: Flags) {
        self.buffer.as_mut()[field::FLAGS] = v.0;
    }

    pub fn set_window_len(&mut self, v: u16) {
        write_u16(self.buffer.as_mut(), field::WINDOW, v);
    }

    pub fn set_checksum(&mut self, v: u16) {
        write_u16(self.buffer.as_mut(), field::CHECKSUM, v);
    }

    pub fn set_urgent_at(&mut self, v: u16) {
        write_u16(self.buffer.as_mut(), field::URGENT, v);
    }

    pub fn options_mut(&mut self) -> &mut [u8] {
        let end = self.header_len();
        &mut self.buffer.as_mut()[field::OPTIONS..end]
    }

    pub fn payload_mut(&mut self) -> &mut [u8] {
        let start = self.header_len();
        &mut self.buffer.as_mut()[start..]
    }

    /// Computes the checksum over the pseudo-header and the whole buffer.
    ///
    /// # Panics
    /// If the buffer is longer than 65535 bytes.
    pub fn fill_checksum(&mut self, src: impl Into<IpAddr>, dst: impl Into<IpAddr>) {
        self.set_checksum(0);
        let b = self.buffer.as_ref();
        let len = u16::try_from(b.len()).expect("a TCP segment fits 65535 bytes");
        let c = checksum::finish(checksum::sum_be(
            ip::pseudo_header_sum(src.into(), dst.into(), PROTO_TCP, u32::from(len)),
            b,
        ));
        self.set_checksum(c);
    }
}

/// Writes the tcpdump-like text shared by the view and the Repr.
fn write_summary(
    f: &mut fmt::Formatter<'_>,
    repr: &TcpRepr<'_>,
    options: Option<&TcpOptions>,
) -> fmt::Result {
    write!(
        f,
        "TCP {} > {}: Flags [{}], seq {}",
        repr.src_port, repr.dst_port, repr.flags, repr.seq
    )?;
    if !repr.payload.is_empty() {
        write!(f, ":{}", repr.seq.wrapping_add(repr.payload.len() as u32))?;
    }
    if repr.flags.ack() {
        write!(f, ", ack {}", repr.ack)?;
    }
    write!(f, ", win {}", repr.window)?;
    if let Some(o) = options.filter(|o| **o != TcpOptions::default()) {
        write!(f, ", options [{o}]")?;
    }
    write!(f, ", length {}", repr.payload.len())
}

/// `TCP 40000 > 80: Flags [S], seq 16909060, win 64240, options [mss 1460,...], length 0`.
impl<T: AsRef<[u8]>> fmt::Display for Packet<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Err(e) = self.check_len() {
            return write!(f, "TCP {e}");
        }
        let options = TcpOptions::parse(self.options()).ok();
        let repr = TcpRepr {
            src_port: self.src_port(),
            dst_port: self.dst_port(),
            seq: self.seq_number(),
            ack: self.ack_number(),
            flags: self.flags(),
            window: self.window_len(),
            urgent: self.urgent_at(),
            options: options.unwrap_or_default(),
            payload: self.payload(),
        };
        write_summary(f, &repr, options.as_ref())?;
        if options.is_none() {
            f.write_str(" [bad options]")?;
        }
        Ok(())
    }
}

/// A TCP segment as plain data, borrowing its payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpRepr<'a> {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    /// Meaningful only when `flags` has ACK.
    pub ack: u32,
    pub flags: Flags,
    /// The raw window field (scaled by the receiver per RFC 7323).
    pub window: u16,
    pub urgent: u16,
    pub options: TcpOptions,
    pub payload: &'a [u8],
}

impl<'a> TcpRepr<'a> {
    /// Reads a segment carried from `src` to `dst`, verifying its checksum.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        packet: &Packet<&'a T>,
        src: impl Into<IpAddr>,
        dst: impl Into<IpAddr>,
    ) -> Result<TcpRepr<'a>> {
        packet.check_len()?;
        if !packet.verify_checksum(src, dst) {
            return Err(Error::Checksum);
        }
        TcpRepr::parse_unverified(packet)
    }

    /// Reads a segment without looking at its checksum: for a caller that
    /// verified it already, or accepted a partial one from a local peer
    /// ([`Packet::has_partial_checksum`]).
    pub fn parse_unverified<T: AsRef<[u8]> + ?Sized>(
        packet: &Packet<&'a T>,
    ) -> Result<TcpRepr<'a>> {
        packet.check_len()?;
        let buffer: &'a T = packet.buffer;
        let bytes = buffer.as_ref();
        let hlen = packet.header_len();
        Ok(TcpRepr {
            src_port: packet.src_port(),
            dst_port: packet.dst_port(),
            seq: packet.seq_number(),
            ack: packet.ack_number(),
            flags: packet.flags(),
            window: packet.window_len(),
            urgent: packet.urgent_at(),
            options: TcpOptions::parse(&bytes[field::OPTIONS..hlen])?,
            payload: &bytes[hlen..],
        })
    }

    /// Header length with options.
    pub const fn header_len(&self) -> usize {
        HEADER_LEN + self.options.buffer_len()
    }

    /// Bytes the whole segment takes.
    pub const fn buffer_len(&self) -> usize {
        self.header_len() + self.payload.len()
    }

    /// Sequence space the segment occupies: data, plus one each for SYN and FIN.
    pub fn segment_len(&self) -> u32 {
        self.payload.len() as u32 + u32::from(self.flags.syn()) + u32::from(self.flags.fin())
    }

    /// Writes the header and options only (not the data, not the checksum):
    /// for callers that copy the data in themselves, then fill the checksum.
    ///
    /// # Panics
    /// If the buffer is shorter than [`TcpRepr::header_len`].
    pub fn emit_header<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        packet.set_src_port(self.src_port);
        packet.set_dst_port(self.dst_port);
        packet.set_seq_number(self.seq);
        packet.set_ack_number(if self.flags.ack() { self.ack } else { 0 });
        packet.set_header_len(self.header_len());
        packet.set_flags(self.flags);
        packet.set_window_len(self.window);
        packet.set_checksum(0);
        packet.set_urgent_at(self.urgent);
        self.options.emit(packet.options_mut());
    }

    /// Writes the whole segment for `src` to `dst`, checksum included.
    ///
    /// # Panics
    /// If the buffer is not exactly [`TcpRepr::buffer_len`] bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut Packet<T>,
        src: impl Into<IpAddr>,
        dst: impl Into<IpAddr>,
    ) {
        self.emit_header(packet);
        packet.payload_mut().copy_from_slice(self.payload);
        packet.fill_checksum(src, dst);
    }
}

impl fmt::Display for TcpRepr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_summary(f, self, Some(&self.options))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::net::Ipv4Addr;

    const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 10, 0, 2);
    const SERVER: Ipv4Addr = Ipv4Addr::new(10, 10, 0, 4);

    /// A Linux-style SYN 10.10.0.2:40000 > 10.10.0.4:80 with mss, sackOK,
    /// timestamps, nop, wscale 7; checksum computed independently (Python).
    const SYN: [u8; 40] = [
        0x9c, 0x40, 0x00, 0x50, 0x01, 0x02, 0x03, 0x04, 0x00, 0x00, 0x00, 0x00, 0xa0, 0x02, 0xfa,
        0xf0, 0x98, 0x5e, 0x00, 0x00, 0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a, 0x00, 0x00,
        0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x03, 0x07,
    ];

    /// The SYN-ACK answer, options in this stack's order (mss, nop, wscale).
    const SYN_ACK: [u8; 28] = [
        0x00, 0x50, 0x9c, 0x40, 0xaa, 0xbb, 0xcc, 0xdd, 0x01, 0x02, 0x03, 0x05, 0x70, 0x12, 0xff,
        0xff, 0x57, 0xbe, 0x00, 0x00, 0x02, 0x04, 0x05, 0xb4, 0x01, 0x03, 0x03, 0x07,
    ];

    /// PSH-ACK carrying "hello\n".
    const DATA: [u8; 26] = [
        0x9c, 0x40, 0x00, 0x50, 0x01, 0x02, 0x03, 0x05, 0xaa, 0xbb, 0xcc, 0xde, 0x50, 0x18, 0x01,
        0xf6, 0x3d, 0xa9, 0x00, 0x00, 0x68, 0x65, 0x6c, 0x6c, 0x6f, 0x0a,
    ];

    fn syn_ack_repr() -> TcpRepr<'static> {
        TcpRepr {
            src_port: 80,
            dst_port: 40000,
            seq: 0xaabbccdd,
            ack: 0x01020305,
            flags: Flags::SYN | Flags::ACK,
            window: 65535,
            urgent: 0,
            options: TcpOptions {
                mss: Some(1460),
                window_scale: Some(7),
                ..TcpOptions::default()
            },
            payload: &[],
        }
    }

    #[test]
    fn known_syn_to_fields() {
        let p = Packet::new_checked(&SYN[..]).unwrap();
        assert_eq!((p.src_port(), p.dst_port()), (40000, 80));
        assert_eq!((p.seq_number(), p.header_len()), (0x01020304, 40));
        assert_eq!((p.flags(), p.window_len()), (Flags::SYN, 64240));
        assert!(p.verify_checksum(CLIENT, SERVER));
        assert!(!p.verify_checksum(CLIENT, Ipv4Addr::new(10, 10, 0, 5)));
        let r = TcpRepr::parse(&p, CLIENT, SERVER).unwrap();
        assert_eq!(
            r.options,
            TcpOptions {
                mss: Some(1460),
                window_scale: Some(7),
                sack_permitted: true,
                timestamps: Some((1, 0)),
                ..TcpOptions::default()
            }
        );
        assert_eq!(r.segment_len(), 1);
        assert!(r.payload.is_empty());
    }

    #[test]
    fn known_data_to_fields() {
        let p = Packet::new_checked(&DATA[..]).unwrap();
        let r = TcpRepr::parse(&p, CLIENT, SERVER).unwrap();
        assert_eq!(r.flags, Flags::PSH | Flags::ACK);
        assert_eq!(
            (r.ack, r.window, r.payload),
            (0xaabbccde, 502, &b"hello\n"[..])
        );
        assert_eq!(r.segment_len(), 6);
    }

    #[test]
    fn emit_gives_the_same_bytes() {
        let r = syn_ack_repr();
        let mut buf = vec![0u8; r.buffer_len()];
        r.emit(&mut Packet::new_unchecked(&mut buf), SERVER, CLIENT);
        assert_eq!(buf, SYN_ACK);

        let p = Packet::new_checked(&DATA[..]).unwrap();
        let d = TcpRepr::parse(&p, CLIENT, SERVER).unwrap();
        let mut buf = vec![0u8; d.buffer_len()];
        d.emit(&mut Packet::new_unchecked(&mut buf), CLIENT, SERVER);
        assert_eq!(buf, DATA);
    }

    /// Options laid out as Linux lays them out: Linux's own SYN (MSS,
    /// SACK-permitted, timestamps, window scale) parsed and emitted again
    /// is the same 40 bytes; the two other timestamp/SACK combinations
    /// take NOP padding as Linux's do.
    #[test]
    fn options_come_out_in_linux_layout() {
        let p = Packet::new_checked(&SYN[..]).unwrap();
        let r = TcpRepr::parse(&p, CLIENT, SERVER).unwrap();
        let mut buf = vec![0u8; r.buffer_len()];
        r.emit(&mut Packet::new_unchecked(&mut buf), CLIENT, SERVER);
        assert_eq!(buf, SYN);
        let layout = |o: TcpOptions| {
            let mut b = vec![0u8; o.buffer_len()];
            o.emit(&mut b);
            b
        };
        let ts_only = TcpOptions {
            timestamps: Some((1, 2)),
            ..TcpOptions::default()
        };
        assert_eq!(layout(ts_only), [1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]);
        let sack_ok_ws = TcpOptions {
            mss: Some(1460),
            sack_permitted: true,
            window_scale: Some(7),
            ..TcpOptions::default()
        };
        assert_eq!(
            layout(sack_ok_ws),
            [2, 4, 0x05, 0xb4, 1, 1, 4, 2, 1, 3, 3, 7]
        );
    }

    #[test]
    fn round_trips() {
        let payload = [0x5a; 1000];
        let options = [
            TcpOptions::default(),
            TcpOptions {
                mss: Some(536),
                window_scale: Some(14),
                sack_permitted: true,
                timestamps: Some((u32::MAX, 7)),
                ..TcpOptions::default()
            },
            TcpOptions {
                timestamps: Some((5, 6)),
                sack: {
                    let mut b = SackBlocks::default();
                    b.push(1, 2);
                    b.push(u32::MAX - 3, 9);
                    b.push(100, 200);
                    b
                },
                ..TcpOptions::default()
            },
        ];
        for options in options {
            for payload in [&b""[..], b"x", &payload] {
                let r = TcpRepr {
                    options,
                    payload,
                    flags: Flags::ACK | Flags::FIN,
                    ..syn_ack_repr()
                };
                let mut buf = vec![0u8; r.buffer_len()];
                r.emit(&mut Packet::new_unchecked(&mut buf), SERVER, CLIENT);
                let p = Packet::new_checked(&buf[..]).unwrap();
                assert_eq!(TcpRepr::parse(&p, SERVER, CLIENT).unwrap(), r);
            }
        }
    }

    #[test]
    fn unknown_options_are_skipped_and_bad_lengths_refused() {
        // kind 30 (MPTCP) length 4, then MSS, then END and garbage.
        let o = TcpOptions::parse(&[30, 4, 0, 0, 2, 4, 0x05, 0xb4, 0, 9, 9, 9]).unwrap();
        assert_eq!(o.mss, Some(1460));
        // MSS with a wrong length is ignored, not misread.
        assert_eq!(TcpOptions::parse(&[2, 3, 5, 1]).unwrap().mss, None);
        assert_eq!(TcpOptions::parse(&[30, 1]), Err(Error::Malformed));
        assert_eq!(TcpOptions::parse(&[30, 8, 0]), Err(Error::Malformed));
        assert_eq!(TcpOptions::parse(&[30]), Err(Error::Malformed));
        assert_eq!(
            TcpOptions::parse(&[1, 1, 1]).unwrap(),
            TcpOptions::default()
        );
    }

    #[test]
    fn sack_blocks_parse_and_emit() {
        // nop nop sack(5) len 18: two blocks, as Linux sends them.
        let b = [
            1, 1, 5, 18, 0, 0, 0, 10, 0, 0, 0, 20, 0xff, 0xff, 0xff, 0xf0, 0, 0, 0, 5,
        ];
        let o = TcpOptions::parse(&b).unwrap();
        assert_eq!(o.sack.as_slice(), &[(10, 20), (0xffff_fff0, 5)]);
        let mut out = vec![0u8; o.buffer_len()];
        o.emit(&mut out);
        assert_eq!(out, b);
        assert_eq!(o.to_string(), "sack 2 {10:20} {4294967280:5}");
        // A length that is not 2 + 8n is ignored, like any bad known option.
        let bad = [5, 7, 0, 0, 0, 1, 0, 0];
        assert!(TcpOptions::parse(&bad).unwrap().sack.is_empty());
        // 40 bytes as sent unpadded: mss, TS and 3 blocks; padded they take
        // 44, so the last block is dropped and the rest writes back whole.
        let mut tight = vec![2, 4, 5, 0xb4, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2, 5, 26];
        for i in 0..6u32 {
            tight.extend_from_slice(&(i * 100).to_be_bytes());
        }
        assert_eq!(tight.len(), 40);
        let o = TcpOptions::parse(&tight).unwrap();
        assert_eq!(o.sack.as_slice(), &[(0, 100), (200, 300)]);
        assert!(o.buffer_len() <= 40);
        let mut full = SackBlocks::default();
        for i in 0..4 {
            assert!(full.push(i, i + 1));
        }
        assert!(!full.push(9, 10));
    }

    #[test]
    fn a_partial_checksum_is_recognised_and_only_it() {
        // What Linux leaves with TX offload on: the pseudo-header sum, folded,
        // not complemented. By hand: 0x0a0a + 0x0002 + 0x0a0a + 0x0004 + 6 + 26.
        let mut b = DATA;
        b[16..18].copy_from_slice(&0x143au16.to_be_bytes());
        let p = Packet::new_checked(&b[..]).unwrap();
        assert!(!p.verify_checksum(CLIENT, SERVER));
        assert!(p.has_partial_checksum(CLIENT, SERVER));
        assert!(!p.has_partial_checksum(CLIENT, Ipv4Addr::new(10, 10, 0, 5)));
        assert_eq!(
            TcpRepr::parse(&p, CLIENT, SERVER).unwrap_err(),
            Error::Checksum
        );
        let r = TcpRepr::parse_unverified(&p).unwrap();
        assert_eq!(r.payload, b"hello\n");
        // A complete checksum is not a partial one, nor is its complement.
        let full = Packet::new_checked(&DATA[..]).unwrap();
        assert!(!full.has_partial_checksum(CLIENT, SERVER));
        b[16..18].copy_from_slice(&(!0x143au16).to_be_bytes());
        assert!(!Packet::new_checked(&b[..])
            .unwrap()
            .has_partial_checksum(CLIENT, SERVER));
    }

    #[test]
    fn bad_checksum_is_detected() {
        for at in 0..SYN.len() {
            let mut b = SYN.to_vec();
            b[at] ^= 0x10;
            if let Ok(p) = Packet::new_checked(&b[..]) {
                assert_eq!(
                    TcpRepr::parse(&p, CLIENT, SERVER),
                    Err(Error::Checksum),
                    "byte {at}"
                );
            }
        }
    }

    #[test]
    fn truncation_and_bad_offset_are_refused() {
        for n in 0..SYN.len() {
            assert_eq!(Packet::new_checked(&SYN[..n]), Err(Error::Truncated), "{n}");
            assert!(Packet::new_unchecked(&SYN[..n])
                .to_string()
                .starts_with("TCP truncated"));
        }
        let mut b = SYN.to_vec();
        b[field::DATA_OFF] = 0x40;
        assert_eq!(Packet::new_checked(&b[..]), Err(Error::Malformed));
    }

    #[test]
    fn display_like_tcpdump() {
        let p = Packet::new_checked(&SYN[..]).unwrap();
        assert_eq!(
            p.to_string(),
            "TCP 40000 > 80: Flags [S], seq 16909060, win 64240, \
             options [mss 1460,wscale 7,sackOK,TS val 1 ecr 0], length 0"
        );
        let p = Packet::new_checked(&DATA[..]).unwrap();
        assert_eq!(
            p.to_string(),
            "TCP 40000 > 80: Flags [P.], seq 16909061:16909067, ack 2864434398, win 502, length 6"
        );
        assert_eq!(
            syn_ack_repr().to_string(),
            Packet::new_checked(&SYN_ACK[..]).unwrap().to_string()
        );
        assert_eq!(Flags::NONE.to_string(), "none");
        assert_eq!((Flags::RST | Flags::ACK).to_string(), "R.");
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            let _ = Packet::new_unchecked(&bytes[..]).to_string();
            if let Ok(p) = Packet::new_checked(&bytes[..]) {
                let _ = (p.payload(), p.options());
                let _ = TcpOptions::parse(p.options());
                if let Ok(r) = TcpRepr::parse(&p, CLIENT, SERVER) {
                    let mut out = vec![0u8; r.buffer_len()];
                    r.emit(&mut Packet::new_unchecked(&mut out), CLIENT, SERVER);
                    prop_assert!(Packet::new_unchecked(&out[..]).verify_checksum(CLIENT, SERVER));
                }
            }
        }
    }
}
