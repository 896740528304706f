//! The fast path's configuration, written by userspace into the one-entry
//! `CONFIG` array map before the program is attached.

/// Answer ARP requests and ICMP echo requests in-kernel. When clear, those
/// frames go to userspace like everything else addressed to us.
pub const FLAG_FASTPATH: u32 = 1 << 0;
/// Redirect every frame to AF_XDP, not only the ones addressed to us.
pub const FLAG_CAPTURE_ALL: u32 = 1 << 1;
/// Publish the sender binding of ARP frames as neighbour events.
pub const FLAG_NEIGH_EVENTS: u32 = 1 << 2;

/// The address the program answers for. Addresses are stored as on the
/// wire (network byte order), so the program compares bytes, not integers.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FastpathConfig {
    pub ip: [u8; 4],
    pub mac: [u8; 6],
    pub _pad: [u8; 2],
    pub flags: u32,
}

impl FastpathConfig {
    pub const fn new(ip: [u8; 4], mac: [u8; 6], flags: u32) -> Self {
        Self {
            ip,
            mac,
            _pad: [0; 2],
            flags,
        }
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
