//! Neighbour events: the sender binding of ARP frames the XDP program saw but
//! did not hand to userspace (the requests it answered, the ARP it passed),
//! so the userspace ARP cache can learn from them (RFC 826 merge rule).

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

    /// Reads an event from ring buffer bytes; `None` when too short.
    pub fn from_bytes(b: &[u8]) -> Option<Self> {
        if b.len() < Self::SIZE {
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

#[cfg(feature = "user")]
unsafe impl aya::Pod for NeighEvent {}
