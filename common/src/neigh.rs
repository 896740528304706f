//! Neighbour events: the sender binding of ARP frames the XDP program saw but
//! did not hand to userspace (the requests it answered, the ARP it passed),
//! so the userspace ARP cache can learn from them (RFC 826 merge rule), and
//! the link-layer bindings of Neighbor Discovery messages (`NeighEvent6`).

/// The XDP program answered this request in-kernel.
pub const EVENT_ANSWERED: u8 = 1 << 0;

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NeighEvent {
    pub sender_ip: [u8; 4],
    pub target_ip: [u8; 4],
    pub sender_mac: [u8; 6],
    /// ARP operation, host byte order (1 request, 2 reply).
    pub op: u16,
    pub flags: u8,
    pub _pad: [u8; 3],
}

impl NeighEvent {
    pub const SIZE: usize = core::mem::size_of::<NeighEvent>();

    /// Reads an event from a ring record; `None` unless it is exactly an
    /// event's size (a longer record is a `NeighEvent6`, see `NeighRecord`).
    pub fn from_bytes(b: &[u8]) -> Option<Self> {
        if b.len() != Self::SIZE {
            return None;
        }
        let mut ev = NeighEvent::default();
        ev.sender_ip.copy_from_slice(&b[0..4]);
        ev.target_ip.copy_from_slice(&b[4..8]);
        ev.sender_mac.copy_from_slice(&b[8..14]);
        ev.op = u16::from_ne_bytes([b[14], b[15]]);
        ev.flags = b[16];
        Some(ev)
    }
}

/// What the program last published about one sender (the `NEIGH_SEEN` LRU
/// hash, keyed by the sender's IPv4 address as on the wire): an event that
/// repeats it adds nothing until `FastpathConfig::neigh_refresh_ns` passed.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NeighSeen {
    /// `bpf_ktime_get_coarse_ns` (CLOCK_MONOTONIC_COARSE, one tick of
    /// resolution, ample for a refresh interval of a second, and about 16 ns
    /// cheaper per frame than `bpf_ktime_get_ns` here) of the last published
    /// event.
    pub published_ns: u64,
    pub mac: [u8; 6],
    /// The last event's flags: an answered request (which lets userspace
    /// create an entry) is not covered by an earlier unanswered one.
    pub flags: u8,
    pub _pad: u8,
}

/// Entries of `NEIGH_SEEN`: more than the userspace ARP cache holds by
/// default (`--arp-max` 1024); a flood of random senders only recycles them.
pub const NEIGH_SEEN_MAX: u32 = 4096;

/// An IPv6 neighbour binding from Neighbor Discovery (RFC 4861 7.2.3,
/// 7.2.5): the source link-layer option of a solicitation (for its source
/// address) or the target link-layer option of an advertisement (for its
/// target). Published on the same ring as `NeighEvent`; the two are told
/// apart by their record length (`NeighRecord::from_bytes`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NeighEvent6 {
    /// The address bound: the solicitation's source, the advert's target.
    pub ip: [u8; 16],
    /// The solicitation's target, or the advert's destination.
    pub target_ip: [u8; 16],
    pub mac: [u8; 6],
    /// ICMPv6 type: 135 solicitation, 136 advertisement.
    pub icmp_type: u8,
    /// `EVENT_ANSWERED`, or for an advert its first flags byte shifted
    /// into `NA_FLAGS_SHIFT` (router, solicited, override).
    pub flags: u8,
}

/// An advert's R/S/O flags (RFC 4861 4.4) sit in `NeighEvent6::flags`
/// above `EVENT_ANSWERED`: bit 7 router, 6 solicited, 5 override.
pub const NA_FLAGS_MASK: u8 = 0xe0;

impl NeighEvent6 {
    pub const SIZE: usize = core::mem::size_of::<NeighEvent6>();

    /// Reads an event from a ring record of exactly this size.
    pub fn from_bytes(b: &[u8]) -> Option<Self> {
        if b.len() != Self::SIZE {
            return None;
        }
        let mut ev = NeighEvent6::default();
        ev.ip.copy_from_slice(&b[0..16]);
        ev.target_ip.copy_from_slice(&b[16..32]);
        ev.mac.copy_from_slice(&b[32..38]);
        ev.icmp_type = b[38];
        ev.flags = b[39];
        Some(ev)
    }
}

/// One record of the neighbour event ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NeighRecord {
    Arp(NeighEvent),
    Ndp(NeighEvent6),
}

impl NeighRecord {
    /// Reads a ring record by its exact length (a ring record's length is
    /// the size the program reserved); `None` for any other length, which
    /// a newer program may send and this reader must skip.
    pub fn from_bytes(b: &[u8]) -> Option<Self> {
        match b.len() {
            NeighEvent::SIZE => NeighEvent::from_bytes(b).map(NeighRecord::Arp),
            NeighEvent6::SIZE => NeighEvent6::from_bytes(b).map(NeighRecord::Ndp),
            _ => None,
        }
    }
}

/// What the program last published about one IPv6 neighbour (the
/// `NEIGH_SEEN6` LRU hash, keyed by address as on the wire).
pub type NeighSeen6 = NeighSeen;

#[cfg(feature = "user")]
unsafe impl aya::Pod for NeighEvent {}

#[cfg(feature = "user")]
unsafe impl aya::Pod for NeighEvent6 {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_told_apart_by_length() {
        assert_eq!(NeighEvent::SIZE, 20);
        assert_eq!(NeighEvent6::SIZE, 40);
        let mut b = [0u8; 40];
        b[0] = 0xfd;
        b[32..38].copy_from_slice(&[2, 0, 0, 0, 0, 2]);
        b[38] = 135;
        match NeighRecord::from_bytes(&b) {
            Some(NeighRecord::Ndp(ev)) => {
                assert_eq!(ev.ip[0], 0xfd);
                assert_eq!(ev.mac, [2, 0, 0, 0, 0, 2]);
                assert_eq!(ev.icmp_type, 135);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            NeighRecord::from_bytes(&b[..20]),
            Some(NeighRecord::Arp(_))
        ));
        assert_eq!(NeighRecord::from_bytes(&b[..21]), None);
        // An NDP record never reads as an ARP event.
        assert_eq!(NeighEvent::from_bytes(&b), None);
        assert_eq!(NeighRecord::from_bytes(&[]), None);
    }
}
