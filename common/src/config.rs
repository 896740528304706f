//! The fast path's configuration, written by userspace into the one-entry
//! `CONFIG` array map before the program is attached.

/// Answer ARP requests and ICMP echo requests in-kernel. When clear, those
/// frames go to userspace like everything else addressed to us.
pub const FLAG_FASTPATH: u32 = 1 << 0;
/// Redirect every frame to AF_XDP, not only the ones addressed to us.
pub const FLAG_CAPTURE_ALL: u32 = 1 << 1;
/// Publish the sender binding of ARP frames as neighbour events.
pub const FLAG_NEIGH_EVENTS: u32 = 1 << 2;
/// Copy each frame and each XDP_TX reply into the `CAPTURE` ring: set by
/// the daemon while at least one `xdpstack capture` client is connected.
pub const FLAG_CAPTURE: u32 = 1 << 3;

/// How often, at most, the program repeats an unchanged ARP sender binding
/// as a neighbour event: 1 s. Repeats only keep the userspace cache entry
/// confirmed, so they need to come well within its reachable time (60 s by
/// default, `--arp-timeout`); see `neigh_refresh_ns`.
pub const NEIGH_REFRESH_NS: u64 = 1_000_000_000;

/// The refresh interval for a cache whose entries stay reachable
/// `arp_timeout_s` seconds: 1 s, or a quarter of the reachable time when that
/// is shorter, so an entry of an active sender never turns stale between two
/// repeats. A zero timeout gives zero: every event is published.
pub const fn neigh_refresh_ns(arp_timeout_s: u64) -> u64 {
    let quarter = arp_timeout_s.saturating_mul(1_000_000_000) / 4;
    if quarter < NEIGH_REFRESH_NS {
        quarter
    } else {
        NEIGH_REFRESH_NS
    }
}

/// The address the program answers for. Addresses are stored as on the
/// wire (network byte order), so the program compares bytes, not integers.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FastpathConfig {
    pub ip: [u8; 4],
    pub mac: [u8; 6],
    pub _pad: [u8; 2],
    pub flags: u32,
    pub _pad2: [u8; 4],
    /// An ARP sender binding already published, unchanged, is published
    /// again only after this many nanoseconds (`NEIGH_REFRESH_NS`).
    pub neigh_refresh_ns: u64,
}

impl FastpathConfig {
    pub const fn new(ip: [u8; 4], mac: [u8; 6], flags: u32) -> Self {
        Self {
            ip,
            mac,
            _pad: [0; 2],
            flags,
            _pad2: [0; 4],
            neigh_refresh_ns: NEIGH_REFRESH_NS,
        }
    }

    pub const fn with_neigh_refresh_ns(mut self, ns: u64) -> Self {
        self.neigh_refresh_ns = ns;
        self
    }

    /// An all-zero config (what the map holds before userspace writes it)
    /// answers nothing: 0.0.0.0 is never a valid target.
    pub const fn is_configured(&self) -> bool {
        u32::from_ne_bytes(self.ip) != 0
    }

    pub const fn has(&self, flag: u32) -> bool {
        self.flags & flag != 0
    }
}

#[cfg(feature = "user")]
unsafe impl aya::Pod for FastpathConfig {}
