//! Indices into the per-CPU `COUNTERS` array: one counter for every verdict
//! and every reason the XDP program can reach, so no frame leaves it
//! uncounted.

macro_rules! counters {
    ($($variant:ident = $name:literal: $doc:literal,)*) => {
        #[repr(u32)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Counter {
            $(#[doc = $doc] $variant,)*
        }

        impl Counter {
            pub const ALL: &'static [Counter] = &[$(Counter::$variant,)*];

            pub const fn name(self) -> &'static str {
                match self { $(Counter::$variant => $name,)* }
            }

            pub const fn help(self) -> &'static str {
                match self { $(Counter::$variant => $doc,)* }
            }
        }
    };
}

counters! {
    ArpReplied = "arp_replied": "ARP requests for our address answered in-kernel (XDP_TX)",
    IcmpEchoReplied = "icmp_echo_replied": "ICMP echo requests answered in-kernel (XDP_TX)",
    Redirected = "redirected": "frames handed to the AF_XDP socket of their queue",
    RedirectNoSocket = "redirect_no_socket": "frames for us passed to the kernel: no AF_XDP socket on their queue",
    PassedNotOurs = "passed_not_ours": "frames not addressed to us, passed to the kernel",
    PassedMalformed = "passed_malformed": "truncated or malformed Ethernet, ARP or IPv4 headers, passed to the kernel (which drops them)",
    PassedUnconfigured = "passed_unconfigured": "frames passed because no address is configured yet",
    SlowArp = "slow_arp": "ARP for our address that is not an answerable request (to userspace)",
    SlowIpNotEcho = "slow_ip_not_echo": "IPv4 for us that is not an ICMP echo request (to userspace)",
    SlowIpOptionsOrFragment = "slow_ip_options_or_fragment": "echo requests with IP options or fragmented (to userspace)",
    SlowBadHeader = "slow_bad_header": "IPv4 version, IHL or total length invalid for the frame (to userspace, which drops)",
    SlowTooLong = "slow_too_long": "echo requests longer than the fast path checksums, jumbo frames (to userspace)",
    SlowBadChecksum = "slow_bad_checksum": "IPv4 header or ICMP checksum wrong (to userspace, which drops)",
    SlowMartian = "slow_martian": "martian or group source address (to userspace, which drops)",
    SlowL2NotUnicast = "slow_l2_not_unicast": "IPv4 for us in a broadcast or multicast Ethernet frame (to userspace)",
    SlowFastpathOff = "slow_fastpath_off": "ARP or echo that the disabled fast path hands to userspace",
    CapturedAll = "captured_all": "frames redirected because of --capture all",
    NeighEvents = "neigh_events": "ARP sender bindings published to userspace",
    NeighEventsLost = "neigh_events_lost": "ARP sender bindings lost: the event ring was full",
    SlowZeroSum = "slow_zero_sum": "echo requests whose reply sums to zero, where the incremental checksum update is ambiguous (to userspace)",
    NeighEventsSuppressed = "neigh_events_suppressed": "ARP sender bindings not published: unchanged since an event less than the refresh interval ago",
    CaptureFrames = "capture_frames": "frames and XDP_TX replies copied for `xdpstack capture`",
    CaptureLost = "capture_lost": "frame copies for `xdpstack capture` lost: the capture ring was full",
}

impl Counter {
    pub const COUNT: usize = Counter::ALL.len();

    pub const fn index(self) -> u32 {
        self as u32
    }
}

/// Indices into `PEER_COUNTERS`, kept by the `peer_counter` program on the
/// far end of a veth (the lab's client side).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerCounter {
    ArpReplies,
    EchoReplies,
    Other,
}

impl PeerCounter {
    pub const COUNT: usize = 3;
    pub const ALL: [PeerCounter; 3] = [
        PeerCounter::ArpReplies,
        PeerCounter::EchoReplies,
        PeerCounter::Other,
    ];

    pub const fn name(self) -> &'static str {
        match self {
            PeerCounter::ArpReplies => "arp_replies",
            PeerCounter::EchoReplies => "echo_replies",
            PeerCounter::Other => "other",
        }
    }
}
