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
    SlowL2NotUnicast = "slow_l2_not_unicast": "IPv4 or an IPv6 echo request for our unicast address in a broadcast or multicast Ethernet frame (to userspace)",
    SlowFastpathOff = "slow_fastpath_off": "ARP, echo or neighbor solicitation that the disabled fast path hands to userspace",
    CapturedAll = "captured_all": "frames redirected because of --capture all",
    NeighEvents = "neigh_events": "ARP sender bindings published to userspace",
    NeighEventsLost = "neigh_events_lost": "ARP sender bindings lost: the event ring was full",
    SlowZeroSum = "slow_zero_sum": "echo requests whose reply sums to zero, where the incremental checksum update is ambiguous (to userspace)",
    NeighEventsSuppressed = "neigh_events_suppressed": "ARP sender bindings not published: unchanged since an event less than the refresh interval ago",
    NdpAdvertSent = "ndp_advert_sent": "Neighbor Solicitations for our IPv6 addresses answered in-kernel with an advertisement (XDP_TX)",
    NdpDadAdvertSent = "ndp_dad_advert_sent": "duplicate address detection probes (from ::) for our IPv6 addresses answered in-kernel to ff02::1 (XDP_TX)",
    Icmp6EchoReplied = "icmp6_echo_replied": "ICMPv6 echo requests answered in-kernel (XDP_TX)",
    PassedMalformed6 = "passed_malformed6": "IPv6 frames too short for the IPv6 header, passed to the kernel (which drops them)",
    SlowIp6BadHeader = "slow_ip6_bad_header": "IPv6 for us with a wrong version or a payload length beyond the frame (to userspace, which drops)",
    SlowIp6NotIcmp = "slow_ip6_not_icmp": "IPv6 for us whose next header is not ICMPv6: extension headers, TCP, UDP (to userspace)",
    SlowIcmp6Other = "slow_icmp6_other": "ICMPv6 for us that is not an answerable echo request or neighbor solicitation (to userspace)",
    SlowIcmp6BadChecksum = "slow_icmp6_bad_checksum": "ICMPv6 for us with a wrong checksum (to userspace, which drops)",
    SlowNdpInvalid = "slow_ndp_invalid": "neighbor solicitations or advertisements failing RFC 4861 7.1 validation (to userspace, which drops)",
    SlowNdpNotAnswerable = "slow_ndp_not_answerable": "valid neighbor discovery the fast path does not answer: advertisements, solicitations for other targets (to userspace)",
    SlowIp6Martian = "slow_ip6_martian": "ICMPv6 echo from a multicast, unspecified, loopback or own source address (to userspace, which drops)",
    SlowNdpNoRoom = "slow_ndp_no_room": "neighbor solicitations whose frame could not be resized for the advertisement (to userspace)",
    Neigh6Events = "neigh6_events": "NDP link-layer bindings published to userspace",
    Neigh6EventsLost = "neigh6_events_lost": "NDP link-layer bindings lost: the event ring was full",
    Neigh6EventsSuppressed = "neigh6_events_suppressed": "NDP link-layer bindings not published: unchanged since an event less than the refresh interval ago",
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
    /// ICMPv6 echo replies (RFC 4443 4.2).
    Echo6Replies,
    /// Neighbor Advertisements (RFC 4861 4.4): IPv6's ARP replies.
    NeighborAdverts,
}

impl PeerCounter {
    pub const COUNT: usize = 5;
    pub const ALL: [PeerCounter; 5] = [
        PeerCounter::ArpReplies,
        PeerCounter::EchoReplies,
        PeerCounter::Other,
        PeerCounter::Echo6Replies,
        PeerCounter::NeighborAdverts,
    ];

    pub const fn name(self) -> &'static str {
        match self {
            PeerCounter::ArpReplies => "arp_replies",
            PeerCounter::EchoReplies => "echo_replies",
            PeerCounter::Other => "other",
            PeerCounter::Echo6Replies => "echo6_replies",
            PeerCounter::NeighborAdverts => "neighbor_adverts",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::PeerCounter;

    #[test]
    fn peer_counters_index_in_order() {
        assert_eq!(PeerCounter::ALL.len(), PeerCounter::COUNT);
        for (i, c) in PeerCounter::ALL.iter().enumerate() {
            assert_eq!(*c as usize, i, "{}", c.name());
        }
    }
}
