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
