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

/// IPv6 unicast addresses the program answers for (the link-local one
/// included); unused slots are all zeros (`::` is never ours).
pub const MAX_IP6: usize = 4;

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
    /// Our IPv6 addresses, `::` in unused slots. With none, IPv6 is passed
    /// to the kernel untouched. The program derives each solicited-node
    /// group from the last three bytes (RFC 4291 2.7.1).
    pub ip6: [[u8; 16]; MAX_IP6],
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
            ip6: [[0; 16]; MAX_IP6],
        }
    }

    /// Sets our IPv6 addresses; those beyond `MAX_IP6` are left out (the
    /// command line refuses more).
    pub const fn with_ip6(mut self, addrs: &[[u8; 16]]) -> Self {
        let mut i = 0;
        while i < MAX_IP6 {
            self.ip6[i] = if i < addrs.len() { addrs[i] } else { [0; 16] };
            i += 1;
        }
        self
    }

    /// True when at least one IPv6 address is configured.
    pub const fn has_ip6(&self) -> bool {
        let mut i = 0;
        while i < MAX_IP6 {
            if u128::from_ne_bytes(self.ip6[i]) != 0 {
                return true;
            }
            i += 1;
        }
        false
    }

    /// True when `a` is one of our IPv6 addresses.
    pub const fn is_our_ip6(&self, a: &[u8; 16]) -> bool {
        let a = u128::from_ne_bytes(*a);
        if a == 0 {
            return false;
        }
        let mut i = 0;
        while i < MAX_IP6 {
            if u128::from_ne_bytes(self.ip6[i]) == a {
                return true;
            }
            i += 1;
        }
        false
    }

    /// True when `g` is the solicited-node group of one of our addresses.
    pub const fn is_our_solicited_node(&self, g: &[u8; 16]) -> bool {
        let mut i = 0;
        while i < MAX_IP6 {
            if u128::from_ne_bytes(self.ip6[i]) != 0
                && crate::layout::ipv6::is_solicited_node_of(g, &self.ip6[i])
            {
                return true;
            }
            i += 1;
        }
        false
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
