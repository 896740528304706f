//! One-line, tcpdump-like descriptions of whole Ethernet frames, for logs.
//!
//! Decoding goes as deep as the bytes allow (Ethernet, one 802.1Q tag, ARP,
//! IPv4, ICMP, IPv6 and its extension headers, ICMPv6 with NDP and MLD, UDP, TCP) and says what stopped it ("truncated", "bad checksum")
//! instead of failing: a log line must be written for any frame.

use super::ethernet::{EtherType, EthernetRepr, Frame};
use super::ipv4::IpProtocol;
use super::ipv6::NextHeader;
use super::ipv6ext::{FragmentHeader, OptionsHeader, RoutingHeader, MAX_EXT_HEADERS};
use super::{arp, icmpv4, icmpv6, ipv4, ipv6, ipv6ext, tcp, udp};

/// Length of an IEEE 802.1Q tag: TCI then the inner EtherType.
const VLAN_TAG_LEN: usize = 4;

/// Describes a whole Ethernet frame in one line, e.g.
/// `02:00:00:00:00:02 > ff:ff:ff:ff:ff:ff, ethertype ARP (0x0806), length 42: ARP, Request who-has 10.10.0.4 tell 10.10.0.2`.
/// Never panics, whatever the bytes.
pub fn describe(frame: &[u8]) -> String {
    let eth = match Frame::new_checked(frame) {
        Ok(eth) => eth,
        Err(e) => return format!("Ethernet {e}, length {}", frame.len()),
    };
    let header = match EthernetRepr::parse(&eth) {
        Ok(repr) => repr.to_string(),
        Err(e) => format!("Ethernet {e}"),
    };
    let mut out = format!("{header}, length {}", frame.len());
    let payload = eth.payload();
    match eth.ethertype() {
        EtherType::Vlan => match (payload.get(..2), payload.get(2..VLAN_TAG_LEN)) {
            (Some(tci), Some(inner)) => {
                let tci = u16::from_be_bytes([tci[0], tci[1]]);
                let inner_type = EtherType::from(u16::from_be_bytes([inner[0], inner[1]]));
                // TCI (IEEE 802.1Q 9.6): priority 3 bits, DEI 1 bit, VLAN id 12 bits.
                out.push_str(&format!(
                    ": vlan {}, p {}, ethertype {inner_type}",
                    tci & 0x0fff,
                    tci >> 13
                ));
                let rest = payload.get(VLAN_TAG_LEN..).unwrap_or_default();
                describe_network(inner_type, rest, &mut out);
            }
            _ => out.push_str(": vlan truncated"),
        },
        other => describe_network(other, payload, &mut out),
    }
    out
}

/// Appends the ARP, IPv4 or IPv6 layer, if it is one of those.
fn describe_network(ethertype: EtherType, payload: &[u8], out: &mut String) {
    let text = match ethertype {
        // The view's Display says "truncated" or lists odd hardware types itself.
        EtherType::Arp => arp::Packet::new_unchecked(payload).to_string(),
        EtherType::Ipv4 => describe_ipv4(payload),
        EtherType::Ipv6 => describe_ipv6(payload),
        _ => return,
    };
    out.push_str(": ");
    out.push_str(&text);
}

fn describe_ipv4(bytes: &[u8]) -> String {
    let ip = match ipv4::Packet::new_checked(bytes) {
        Ok(ip) => ip,
        Err(e) => return format!("IP {e}"),
    };
    let mut out = ip.to_string();
    if ip.is_fragment() {
        // Only a reassembled datagram has a whole transport message to check.
        out.push_str(": fragment");
        return out;
    }
    let payload = ip.payload();
    let inner = match ip.protocol() {
        IpProtocol::Icmp => icmpv4::Packet::new_unchecked(payload).to_string(),
        IpProtocol::Udp => {
            let udp = udp::Packet::new_unchecked(payload);
            let mut s = udp.to_string();
            if udp.check_len().is_ok() && !udp.verify_checksum(ip.src(), ip.dst()) {
                s.push_str(" [bad checksum]");
            }
            s
        }
        IpProtocol::Tcp => {
            let tcp = tcp::Packet::new_unchecked(payload);
            let mut s = tcp.to_string();
            if tcp.check_len().is_ok() && !tcp.verify_checksum(ip.src(), ip.dst()) {
                s.push_str(" [bad checksum]");
            }
            s
        }
        _ => return out,
    };
    out.push_str(": ");
    out.push_str(&inner);
    out
}

/// tcpdump's short IPv6 line: `IP6 fe80::1 > ff02::1:ff00:4: ICMP6,
/// neighbor solicitation, who has fd00:10:10::4, length 32`, extension
/// headers named on the way (`HBH`, `DSTOPT`, `srcrt (...)`, `frag (...)`).
fn describe_ipv6(bytes: &[u8]) -> String {
    let ip = match ipv6::Packet::new_checked(bytes) {
        Ok(ip) => ip,
        Err(e) => return format!("IP6 {e}"),
    };
    let mut out = format!("IP6 {} > {}: ", ip.src(), ip.dst());
    out.push_str(&describe_ext_headers(ip.packet()));
    let walk = match ipv6ext::walk(&ip) {
        Ok(w) => w,
        Err(e) => {
            out.push_str(&e.to_string());
            return out;
        }
    };
    if walk.is_fragment() {
        // Only a reassembled packet has a whole upper-layer message.
        return out.trim_end().to_string();
    }
    let upper = &ip.packet()[walk.offset..];
    let inner = match walk.protocol {
        NextHeader::Icmpv6 => {
            let icmp = icmpv6::Packet::new_unchecked(upper);
            let mut s = icmp.to_string();
            if icmp.check_len().is_ok() && !icmp.verify_checksum(ip.src(), ip.dst()) {
                s.push_str(" [bad checksum]");
            }
            s
        }
        // Their checksum helpers take IPv4 addresses: not verified here.
        NextHeader::Udp => udp::Packet::new_unchecked(upper).to_string(),
        NextHeader::Tcp => tcp::Packet::new_unchecked(upper).to_string(),
        other => format!("ip-proto-{} {}", u8::from(other), upper.len()),
    };
    out.push_str(&inner);
    out
}

/// The extension headers of a length-checked packet, tcpdump-style, each
/// followed by a space; stops quietly where the walk would fail.
fn describe_ext_headers(packet: &[u8]) -> String {
    let mut out = String::new();
    let mut nh = NextHeader::from(packet[ipv6::field::NEXT_HEADER]);
    let mut at = ipv6::HEADER_LEN;
    for _ in 0..MAX_EXT_HEADERS {
        let rest = &packet[at.min(packet.len())..];
        let (name, next, len) = match nh {
            NextHeader::HopByHop | NextHeader::DstOpts => {
                let Ok(h) = OptionsHeader::new_checked(rest) else {
                    break;
                };
                let name = if nh == NextHeader::HopByHop {
                    "HBH"
                } else {
                    "DSTOPT"
                };
                (name.to_string(), h.next_header(), h.header_len())
            }
            NextHeader::Routing => {
                let Ok(h) = RoutingHeader::new_checked(rest) else {
                    break;
                };
                let name = format!(
                    "srcrt (type {}, segleft {})",
                    h.routing_type(),
                    h.segments_left()
                );
                (name, h.next_header(), h.header_len())
            }
            NextHeader::Fragment => {
                let Ok(h) = FragmentHeader::new_checked(rest) else {
                    break;
                };
                let data = rest.len() - 8;
                let name = format!("frag (0x{:08x}:{}|{})", h.ident(), h.frag_offset(), data);
                (name, h.next_header(), 8)
            }
            _ => break,
        };
        out.push_str(&name);
        out.push(' ');
        nh = next;
        at += len;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::testdata::{
        frame, ARP_REQUEST_FRAME, ETH_IPV4_HEADER, ICMP_ECHO_REQUEST_IP, ICMP_PORT_UNREACHABLE_IP,
        IP_WITH_OPTIONS, UDP_IP,
    };
    use crate::wire::testdata::{
        DAD_NS_IP6, ECHO_REQUEST_IP6, ETH_IPV6_HEADER, FRAG_LAST_IP6, MLD_REPORT_IP6, NA_IP6,
        NS_IP6, PORT_UNREACHABLE_IP6,
    };
    use proptest::prelude::*;

    fn v6(ip: &[u8]) -> String {
        let s = describe(&frame(&ETH_IPV6_HEADER, ip, 60));
        let at = s.find(": IP6").expect("an IPv6 line");
        s[at + 2..].to_string()
    }

    #[test]
    fn ipv6_like_tcpdump() {
        assert!(describe(&frame(&ETH_IPV6_HEADER, &NS_IP6, 0)).starts_with(
            "02:00:00:00:00:02 > 02:00:00:00:00:04, ethertype IPv6 (0x86dd), length 86: IP6"
        ));
        assert_eq!(
            v6(&NS_IP6),
            "IP6 fd00:10:10::2 > ff02::1:ff00:4: ICMP6, neighbor solicitation, who has fd00:10:10::4, length 32"
        );
        assert_eq!(
            v6(&NA_IP6),
            "IP6 fd00:10:10::4 > fd00:10:10::2: ICMP6, neighbor advertisement, tgt is fd00:10:10::4, length 32"
        );
        assert_eq!(
            v6(&DAD_NS_IP6),
            "IP6 :: > ff02::1:ff00:2: ICMP6, neighbor solicitation, who has fd00:10:10::2, length 32"
        );
        assert_eq!(
            v6(&ECHO_REQUEST_IP6),
            "IP6 fd00:10:10::2 > fd00:10:10::4: ICMP6, echo request, id 32109, seq 1, length 64"
        );
        assert_eq!(
            v6(&MLD_REPORT_IP6),
            "IP6 fe80::ff:fe00:2 > ff02::16: HBH ICMP6, multicast listener report v2, 1 group record(s), length 28"
        );
        assert_eq!(
            v6(&FRAG_LAST_IP6),
            "IP6 fd00:10:10::2 > fd00:10:10::4: frag (0xf36107ac:2896|112)"
        );
        assert_eq!(
            v6(&PORT_UNREACHABLE_IP6),
            "IP6 fd00:10:10::4 > fd00:10:10::2: ICMP6, destination unreachable, unreachable port, fd00:10:10::4 udp port 9999, length 62"
        );
        let mut bad = ECHO_REQUEST_IP6;
        bad[60] ^= 1;
        assert!(v6(&bad).ends_with("length 64 [bad checksum]"));
        // An unknown next header, and a routing header the walk refuses.
        let mut odd = NS_IP6;
        odd[6] = 253;
        assert!(v6(&odd).ends_with(": ip-proto-253 32"), "{}", v6(&odd));
        odd[6] = 43;
        odd[42] = 0;
        odd[43] = 1;
        assert!(
            v6(&odd).ends_with("srcrt (type 0, segleft 1) parameter problem, code 0, pointer 42"),
            "{}",
            v6(&odd)
        );
        let s = describe(&frame(&ETH_IPV6_HEADER, &NS_IP6[..50], 0));
        assert!(
            s.ends_with("IP6 truncated (payload length longer than buffer)"),
            "{s}"
        );
    }

    #[test]
    fn arp_request() {
        assert_eq!(
            describe(&ARP_REQUEST_FRAME),
            "02:00:00:00:00:02 > ff:ff:ff:ff:ff:ff, ethertype ARP (0x0806), length 42: \
             ARP, Request who-has 10.10.0.4 tell 10.10.0.2"
        );
    }

    #[test]
    fn ping() {
        assert_eq!(
            describe(&frame(&ETH_IPV4_HEADER, &ICMP_ECHO_REQUEST_IP, 60)),
            "02:00:00:00:00:02 > 02:00:00:00:00:04, ethertype IPv4 (0x0800), length 98: \
             IP 10.10.0.2 > 10.10.0.4: ICMP, id 40764, offset 0, flags [DF], length 84: \
             ICMP echo request, id 7211, seq 1, length 64"
        );
    }

    #[test]
    fn udp_padded_and_port_unreachable() {
        let s = describe(&frame(&ETH_IPV4_HEADER, &UDP_IP, 60));
        assert!(s.ends_with("length 38: UDP 40000 > 7, length 10"), "{s}");
        assert!(s.contains("length 60:"), "{s}");
        let s = describe(&frame(&ETH_IPV4_HEADER, &ICMP_PORT_UNREACHABLE_IP, 60));
        assert!(
            s.ends_with("ICMP 10.10.0.4 udp port 7 unreachable, length 36"),
            "{s}"
        );
    }

    #[test]
    fn tcp_segment() {
        // PSH-ACK "hello\n" 10.10.0.2:40000 > 10.10.0.4:80 (as in wire::tcp's tests).
        let seg = [
            0x9c, 0x40, 0x00, 0x50, 0x01, 0x02, 0x03, 0x05, 0xaa, 0xbb, 0xcc, 0xde, 0x50, 0x18,
            0x01, 0xf6, 0x3d, 0xa9, 0x00, 0x00, 0x68, 0x65, 0x6c, 0x6c, 0x6f, 0x0a,
        ];
        let mut ip = UDP_IP[..20].to_vec();
        ip[9] = 6;
        ip[2..4].copy_from_slice(&((20 + seg.len()) as u16).to_be_bytes());
        ip[10..12].fill(0);
        let c = xdpstack_common::checksum::checksum(&ip);
        ip[10..12].copy_from_slice(&c.to_be_bytes());
        ip.extend_from_slice(&seg);
        let s = describe(&frame(&ETH_IPV4_HEADER, &ip, 60));
        assert!(
            s.ends_with(
                "TCP 40000 > 80: Flags [P.], seq 16909061:16909067, ack 2864434398, win 502, length 6"
            ),
            "{s}"
        );
        let n = ip.len();
        ip[n - 1] ^= 1;
        assert!(describe(&frame(&ETH_IPV4_HEADER, &ip, 60)).ends_with("length 6 [bad checksum]"));
        ip.truncate(30);
        ip[2..4].copy_from_slice(&30u16.to_be_bytes());
        ip[10..12].fill(0);
        let c = xdpstack_common::checksum::checksum(&ip[..20]);
        ip[10..12].copy_from_slice(&c.to_be_bytes());
        let s = describe(&frame(&ETH_IPV4_HEADER, &ip, 60));
        assert!(s.ends_with("TCP truncated"), "{s}");
    }

    #[test]
    fn says_what_is_wrong_instead_of_failing() {
        let ping = frame(&ETH_IPV4_HEADER, &ICMP_ECHO_REQUEST_IP, 0);
        assert_eq!(describe(&ping[..5]), "Ethernet truncated, length 5");
        assert!(describe(&ping[..40]).ends_with("IP truncated (total length longer than buffer)"));
        assert!(describe(&ARP_REQUEST_FRAME[..30]).ends_with("ARP, truncated"));

        let mut bad = ping.clone();
        bad[14 + 20 + 30] ^= 1; // ICMP data
        assert!(
            describe(&bad).ends_with("length 64 [bad checksum]"),
            "{}",
            describe(&bad)
        );
        let mut bad = ping.clone();
        bad[14 + 8] = 1; // IP TTL
        assert!(describe(&bad).contains("length 84 [bad checksum]: ICMP echo request"));
        let mut bad = frame(&ETH_IPV4_HEADER, &UDP_IP, 0);
        bad[14 + 20 + 9] ^= 1; // UDP data
        assert!(describe(&bad).ends_with("UDP 40000 > 7, length 10 [bad checksum]"));
        // The options frame's UDP checksum was computed for another destination.
        let s = describe(&frame(&ETH_IPV4_HEADER, &IP_WITH_OPTIONS, 0));
        assert!(
            s.contains("options 4 bytes") && s.ends_with("[bad checksum]"),
            "{s}"
        );
    }

    #[test]
    fn fragments_and_vlan() {
        let mut ip = ICMP_ECHO_REQUEST_IP;
        let mut p = ipv4::Packet::new_unchecked(&mut ip[..]);
        p.set_more_frags(true);
        p.fill_checksum();
        let s = describe(&frame(&ETH_IPV4_HEADER, &ip, 0));
        assert!(s.ends_with("flags [+, DF], length 84: fragment"), "{s}");

        let mut tagged = ARP_REQUEST_FRAME[..12].to_vec();
        tagged.extend_from_slice(&[0x81, 0x00, 0x20, 0x0a]); // 802.1Q, p 1, vlan 10
        tagged.extend_from_slice(&ARP_REQUEST_FRAME[12..]);
        assert_eq!(
            describe(&tagged),
            "02:00:00:00:00:02 > ff:ff:ff:ff:ff:ff, ethertype 802.1Q (0x8100), length 46: \
             vlan 10, p 1, ethertype ARP (0x0806): ARP, Request who-has 10.10.0.4 tell 10.10.0.2"
        );
        assert!(describe(&tagged[..16]).ends_with("vlan truncated"));
    }

    #[test]
    fn every_truncation_of_every_frame_is_described() {
        let frames = [
            ARP_REQUEST_FRAME.to_vec(),
            frame(&ETH_IPV4_HEADER, &ICMP_ECHO_REQUEST_IP, 0),
            frame(&ETH_IPV4_HEADER, &UDP_IP, 0),
            frame(&ETH_IPV4_HEADER, &ICMP_PORT_UNREACHABLE_IP, 0),
            frame(&ETH_IPV6_HEADER, &NS_IP6, 0),
            frame(&ETH_IPV6_HEADER, &MLD_REPORT_IP6, 0),
            frame(&ETH_IPV6_HEADER, &FRAG_LAST_IP6, 0),
        ];
        for f in frames {
            for n in 0..f.len() {
                let s = describe(&f[..n]);
                assert!(s.contains("truncated"), "{n}: {s}");
            }
        }
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..128)) {
            let _ = describe(&bytes);
        }

        #[test]
        fn random_ipv4_frames_never_panic(ip in proptest::collection::vec(any::<u8>(), 0..100), proto in any::<u8>()) {
            // Random bytes behind a plausible header reach the deeper layers.
            let mut ip = ip;
            if ip.len() >= 20 {
                ip[0] = 0x45;
                ip[9] = proto % 20;
            }
            let _ = describe(&frame(&ETH_IPV4_HEADER, &ip, 0));
        }

        #[test]
        fn random_ipv6_frames_never_panic(payload in proptest::collection::vec(any::<u8>(), 0..100), nh in prop::sample::select(vec![0u8, 43, 44, 58, 60, 6, 17])) {
            let mut ip = NS_IP6[..40].to_vec();
            ip[4..6].copy_from_slice(&(payload.len() as u16).to_be_bytes());
            ip[6] = nh;
            ip.extend_from_slice(&payload);
            let _ = describe(&frame(&ETH_IPV6_HEADER, &ip, 0));
        }

        #[test]
        fn mutated_real_frames_never_panic(which in 0usize..7, at in any::<prop::sample::Index>(), v in any::<u8>(), cut in any::<prop::sample::Index>()) {
            let frames = [
                ARP_REQUEST_FRAME.to_vec(),
                frame(&ETH_IPV4_HEADER, &ICMP_ECHO_REQUEST_IP, 0),
                frame(&ETH_IPV4_HEADER, &UDP_IP, 0),
                frame(&ETH_IPV4_HEADER, &ICMP_PORT_UNREACHABLE_IP, 0),
                frame(&ETH_IPV6_HEADER, &NS_IP6, 0),
                frame(&ETH_IPV6_HEADER, &MLD_REPORT_IP6, 0),
                frame(&ETH_IPV6_HEADER, &PORT_UNREACHABLE_IP6, 0),
            ];
            let mut f = frames[which].clone();
            let i = at.index(f.len());
            f[i] = v;
            let n = cut.index(f.len() + 1);
            let _ = describe(&f[..n]);
        }
    }
}
