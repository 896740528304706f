//! Header field offsets and protocol constants, one module per header.
//!
//! Offsets are relative to the start of their own header. The XDP program and
//! the userspace wire views both index packets with these, so a layout
//! mistake shows up in the unit tests of both.

/// Ethernet II (IEEE 802.3 with an EtherType).
pub mod eth {
    pub const DST: usize = 0;
    pub const SRC: usize = 6;
    pub const ETHERTYPE: usize = 12;
    pub const HEADER_LEN: usize = 14;
    pub const ADDR_LEN: usize = 6;
    pub const BROADCAST: [u8; 6] = [0xff; 6];

    pub const ETHERTYPE_IPV4: u16 = 0x0800;
    pub const ETHERTYPE_ARP: u16 = 0x0806;
    pub const ETHERTYPE_VLAN: u16 = 0x8100;
    pub const ETHERTYPE_IPV6: u16 = 0x86dd;

    /// Group (multicast or broadcast) addresses have the I/G bit set.
    pub const fn is_multicast(mac: &[u8; 6]) -> bool {
        mac[0] & 0x01 != 0
    }
}

/// ARP for IPv4 over Ethernet (RFC 826).
pub mod arp {
    pub const HTYPE: usize = 0;
    pub const PTYPE: usize = 2;
    pub const HLEN: usize = 4;
    pub const PLEN: usize = 5;
    pub const OPER: usize = 6;
    pub const SHA: usize = 8;
    pub const SPA: usize = 14;
    pub const THA: usize = 18;
    pub const TPA: usize = 24;
    pub const PACKET_LEN: usize = 28;

    pub const HTYPE_ETHERNET: u16 = 1;
    pub const PTYPE_IPV4: u16 = 0x0800;
    pub const OP_REQUEST: u16 = 1;
    pub const OP_REPLY: u16 = 2;
}

/// IPv4 (RFC 791).
pub mod ipv4 {
    pub const VER_IHL: usize = 0;
    pub const TOS: usize = 1;
    pub const TOTAL_LEN: usize = 2;
    pub const IDENT: usize = 4;
    pub const FLAGS_FRAG: usize = 6;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: usize = 10;
    pub const SRC: usize = 12;
    pub const DST: usize = 16;
    pub const MIN_HEADER_LEN: usize = 20;
    pub const MAX_HEADER_LEN: usize = 60;

    /// Flags and fragment offset share one 16-bit field (RFC 791 3.1).
    pub const FLAG_DF: u16 = 0x4000;
    pub const FLAG_MF: u16 = 0x2000;
    pub const FRAG_OFFSET_MASK: u16 = 0x1fff;

    pub const PROTO_ICMP: u8 = 1;
    pub const PROTO_TCP: u8 = 6;
    pub const PROTO_UDP: u8 = 17;

    /// TTL of datagrams we originate; Linux's default (`ip_default_ttl`).
    pub const DEFAULT_TTL: u8 = 64;

    /// Source addresses a host must never answer (RFC 1122 3.2.1.3):
    /// 0/8 ("this network"), 127/8 (loopback), 224/4 (multicast),
    /// 240/4 (reserved) and the limited broadcast 255.255.255.255.
    pub const fn is_martian_source(ip: [u8; 4]) -> bool {
        ip[0] == 0 || ip[0] == 127 || ip[0] >= 224
    }
}

/// ICMP for IPv4 (RFC 792).
pub mod icmp {
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: usize = 2;
    pub const IDENT: usize = 4;
    pub const SEQ: usize = 6;
    pub const HEADER_LEN: usize = 8;

    pub const TYPE_ECHO_REPLY: u8 = 0;
    pub const TYPE_DEST_UNREACHABLE: u8 = 3;
    pub const TYPE_ECHO_REQUEST: u8 = 8;
    pub const TYPE_TIME_EXCEEDED: u8 = 11;
    pub const CODE_PROTOCOL_UNREACHABLE: u8 = 2;
    pub const CODE_PORT_UNREACHABLE: u8 = 3;
    /// Time exceeded code: fragment reassembly time exceeded (RFC 792).
    pub const CODE_REASSEMBLY_TIME_EXCEEDED: u8 = 1;

    /// The error messages of RFC 1122 3.2.2: destination unreachable,
    /// source quench, redirect, time exceeded, parameter problem. No ICMP
    /// error is ever sent about one of these.
    pub const fn is_error(msg_type: u8) -> bool {
        matches!(msg_type, 3 | 4 | 5 | 11 | 12)
    }
}

/// UDP (RFC 768).
pub mod udp {
    pub const SRC_PORT: usize = 0;
    pub const DST_PORT: usize = 2;
    pub const LENGTH: usize = 4;
    pub const CHECKSUM: usize = 6;
    pub const HEADER_LEN: usize = 8;
}

/// IPv6 (RFC 8200).
pub mod ipv6 {
    pub const VER_TC_FLOW: usize = 0;
    pub const PAYLOAD_LEN: usize = 4;
    pub const NEXT_HEADER: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC: usize = 8;
    pub const DST: usize = 24;
    pub const HEADER_LEN: usize = 40;
    pub const ADDR_LEN: usize = 16;

    pub const NEXT_HEADER_ICMPV6: u8 = 58;
    /// Hop limit of datagrams we originate; Linux's default (`hop_limit`).
    pub const DEFAULT_HOP_LIMIT: u8 = 64;

    pub const UNSPECIFIED: [u8; 16] = [0; 16];
    pub const LOOPBACK: [u8; 16] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    /// ff02::1, the link-local all-nodes group (RFC 4291 2.7.1).
    pub const ALL_NODES: [u8; 16] = [0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    /// The Ethernet group of ff02::1 (RFC 2464 7).
    pub const ALL_NODES_MAC: [u8; 6] = [0x33, 0x33, 0, 0, 0, 1];

    pub const fn is_multicast(a: &[u8; 16]) -> bool {
        a[0] == 0xff
    }

    /// ff02::1:ffXX:XXXX, the solicited-node group of `a` (RFC 4291 2.7.1).
    pub const fn solicited_node(a: &[u8; 16]) -> [u8; 16] {
        [
            0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, a[13], a[14], a[15],
        ]
    }

    /// True for any solicited-node group, ff02::1:ff00:0/104.
    pub const fn is_solicited_node(g: &[u8; 16]) -> bool {
        is_solicited_node_of(g, g)
    }

    /// True when `g` is the solicited-node group of `a`.
    pub const fn is_solicited_node_of(g: &[u8; 16], a: &[u8; 16]) -> bool {
        g[0] == 0xff
            && g[1] == 2
            && g[2] == 0
            && g[3] == 0
            && g[4] == 0
            && g[5] == 0
            && g[6] == 0
            && g[7] == 0
            && g[8] == 0
            && g[9] == 0
            && g[10] == 0
            && g[11] == 1
            && g[12] == 0xff
            && g[13] == a[13]
            && g[14] == a[14]
            && g[15] == a[15]
    }

    /// The Ethernet group address of an IPv6 group (RFC 2464 7).
    pub const fn multicast_mac(g: &[u8; 16]) -> [u8; 6] {
        [0x33, 0x33, g[12], g[13], g[14], g[15]]
    }

    /// fe80::/64 with the modified EUI-64 interface identifier of `mac`
    /// (RFC 4291 2.5.1 and appendix A: ff:fe in the middle, the
    /// universal/local bit inverted).
    pub const fn link_local_from_mac(mac: [u8; 6]) -> [u8; 16] {
        [
            0xfe,
            0x80,
            0,
            0,
            0,
            0,
            0,
            0,
            mac[0] ^ 0x02,
            mac[1],
            mac[2],
            0xff,
            0xfe,
            mac[3],
            mac[4],
            mac[5],
        ]
    }
}

/// ICMPv6 (RFC 4443) and Neighbor Discovery (RFC 4861).
pub mod icmpv6 {
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: usize = 2;
    pub const HEADER_LEN: usize = 8;

    pub const TYPE_ECHO_REQUEST: u8 = 128;
    pub const TYPE_ECHO_REPLY: u8 = 129;
    pub const TYPE_NEIGHBOR_SOLICIT: u8 = 135;
    pub const TYPE_NEIGHBOR_ADVERT: u8 = 136;

    /// Neighbor Solicitation and Advertisement (RFC 4861 4.3, 4.4): the
    /// flags word (NA only; reserved in NS), then the target address.
    pub const ND_FLAGS: usize = 4;
    pub const ND_TARGET: usize = 8;
    /// Header plus target: the options start here, and an NS or NA shorter
    /// than this is invalid (RFC 4861 7.1.1, 7.1.2).
    pub const ND_MIN_LEN: usize = 24;

    /// NA flags, first byte of the flags word (RFC 4861 4.4).
    pub const NA_ROUTER: u8 = 0x80;
    pub const NA_SOLICITED: u8 = 0x40;
    pub const NA_OVERRIDE: u8 = 0x20;

    /// Option types (RFC 4861 4.6); an option's length is in units of 8 bytes.
    pub const OPT_SOURCE_LLADDR: u8 = 1;
    pub const OPT_TARGET_LLADDR: u8 = 2;
    /// An NA answering an NS: header, target and the target link-layer
    /// address option for Ethernet (8 bytes).
    pub const NA_LEN: usize = ND_MIN_LEN + 8;
}

#[cfg(test)]
mod tests {
    use super::ipv6;

    // RFC 4291 appendix A: 34-56-78-9A-BC-DE gives 3656:78ff:fe9a:bcde.
    #[test]
    fn link_local_uses_modified_eui64() {
        let ll = ipv6::link_local_from_mac([0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde]);
        assert_eq!(
            ll,
            [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0x36, 0x56, 0x78, 0xff, 0xfe, 0x9a, 0xbc, 0xde]
        );
    }

    #[test]
    fn solicited_node_group_and_mac() {
        let a = [
            0xfd, 0, 0, 0x10, 0, 0x10, 0, 0, 0, 0, 0, 0, 0, 0xab, 0xcd, 0x04,
        ];
        let g = ipv6::solicited_node(&a);
        assert_eq!(
            g,
            [0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0xab, 0xcd, 0x04]
        );
        assert!(ipv6::is_solicited_node_of(&g, &a));
        let mut b = a;
        b[13] ^= 1;
        assert!(!ipv6::is_solicited_node_of(&g, &b));
        assert!(!ipv6::is_solicited_node_of(&ipv6::ALL_NODES, &a));
        assert_eq!(
            ipv6::multicast_mac(&g),
            [0x33, 0x33, 0xff, 0xab, 0xcd, 0x04]
        );
    }
}
