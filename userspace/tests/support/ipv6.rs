//! IPv6 test frames, built byte by byte here (the userspace IPv6 wire views
//! are another piece of work): Neighbor Discovery and ICMPv6 echo as Linux
//! sends them, checksums from RFC 1071 arithmetic over the RFC 8200 8.1
//! pseudo-header.

use xdpstack_common::checksum;
use xdpstack_common::layout::ipv6;

use super::{PEER_MAC, US_MAC};

/// fd00:10:10::4 and ::2, the lab's ULA addresses.
pub const US_IP6: [u8; 16] = [0xfd, 0, 0, 0x10, 0, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4];
pub const PEER_IP6: [u8; 16] = [0xfd, 0, 0, 0x10, 0, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
/// Derived from US_MAC (02:00:00:00:00:04): fe80::ff:fe00:4.
pub const US_LL: [u8; 16] = ipv6::link_local_from_mac(US_MAC.0);
pub const PEER_LL: [u8; 16] = ipv6::link_local_from_mac(PEER_MAC.0);

/// The folded sum of `msg` with its pseudo-header: 0xffff when valid.
pub fn icmpv6_sum(src: &[u8; 16], dst: &[u8; 16], msg: &[u8]) -> u16 {
    let mut acc = checksum::sum_be(0, src);
    acc = checksum::sum_be(acc, dst);
    acc = checksum::sum_be(acc, &(msg.len() as u32).to_be_bytes());
    acc = checksum::sum_be(acc, &[0, 0, 0, 58]);
    checksum::fold(checksum::sum_be(acc, msg))
}

/// An Ethernet frame with an IPv6 header around `payload` (next header
/// `nh`); the payload is taken as is.
pub fn ipv6_frame(
    eth_src: [u8; 6],
    eth_dst: [u8; 6],
    src: [u8; 16],
    dst: [u8; 16],
    nh: u8,
    hop: u8,
    payload: &[u8],
) -> Vec<u8> {
    let mut f = eth_dst.to_vec();
    f.extend_from_slice(&eth_src);
    f.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0]);
    f.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    f.extend_from_slice(&[nh, hop]);
    f.extend_from_slice(&src);
    f.extend_from_slice(&dst);
    f.extend_from_slice(payload);
    f
}

/// `msg` with its ICMPv6 checksum filled in for `src` -> `dst`.
pub fn with_checksum(src: &[u8; 16], dst: &[u8; 16], mut msg: Vec<u8>) -> Vec<u8> {
    msg[2..4].fill(0);
    let c = !icmpv6_sum(src, dst, &msg);
    msg[2..4].copy_from_slice(&c.to_be_bytes());
    msg
}

/// An ICMPv6 frame from the peer: to our MAC for a unicast destination,
/// to the group's MAC (RFC 2464 7) for a multicast one.
pub fn icmpv6_frame(src: [u8; 16], dst: [u8; 16], hop: u8, msg: Vec<u8>) -> Vec<u8> {
    let eth_dst = if ipv6::is_multicast(&dst) {
        ipv6::multicast_mac(&dst)
    } else {
        US_MAC.0
    };
    let msg = with_checksum(&src, &dst, msg);
    ipv6_frame(PEER_MAC.0, eth_dst, src, dst, 58, hop, &msg)
}

/// A Neighbor Solicitation message for `target` with `options`.
pub fn ns_msg(target: [u8; 16], options: &[u8]) -> Vec<u8> {
    let mut m = vec![135, 0, 0, 0, 0, 0, 0, 0];
    m.extend_from_slice(&target);
    m.extend_from_slice(options);
    m
}

/// The source link-layer address option carrying `mac`.
pub fn slla(mac: [u8; 6]) -> Vec<u8> {
    let mut o = vec![1, 1];
    o.extend_from_slice(&mac);
    o
}

/// A nonce option (RFC 7527), as Linux puts in its DAD probes.
pub fn nonce() -> Vec<u8> {
    vec![14, 1, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66]
}

/// The peer's solicitation for `target`, to its solicited-node group, with
/// the peer's link-layer address: what Linux sends to resolve `target`.
pub fn ns_frame(target: [u8; 16]) -> Vec<u8> {
    icmpv6_frame(
        PEER_IP6,
        ipv6::solicited_node(&target),
        255,
        ns_msg(target, &slla(PEER_MAC.0)),
    )
}

/// A duplicate address detection probe for `target` (from ::, no source
/// link-layer option), with `options`.
pub fn dad_frame(target: [u8; 16], options: &[u8]) -> Vec<u8> {
    icmpv6_frame(
        ipv6::UNSPECIFIED,
        ipv6::solicited_node(&target),
        255,
        ns_msg(target, options),
    )
}

/// A Neighbor Advertisement from `from` for `target` to `dst`, flags byte
/// `flags`, with the target link-layer option `mac`.
pub fn na_frame(from: [u8; 16], dst: [u8; 16], flags: u8, mac: [u8; 6]) -> Vec<u8> {
    let mut m = vec![136, 0, 0, 0, flags, 0, 0, 0];
    m.extend_from_slice(&from);
    m.extend_from_slice(&[2, 1]);
    m.extend_from_slice(&mac);
    icmpv6_frame(from, dst, 255, m)
}

/// An echo request from the peer to `dst` with `size` bytes of data.
pub fn echo6_frame(dst: [u8; 16], size: usize) -> Vec<u8> {
    let mut m = vec![128, 0, 0, 0, 0x42, 0x42, 0, 7];
    m.extend((0..size).map(|i| (i * 7) as u8));
    icmpv6_frame(PEER_IP6, dst, 64, m)
}

/// The advert we send for `target` to `to` (`to_mac`), flags byte
/// `flags`, built independently of the program and the model.
pub fn expected_na(target: [u8; 16], to: [u8; 16], to_mac: [u8; 6], flags: u8) -> Vec<u8> {
    let mut m = vec![136, 0, 0, 0, flags, 0, 0, 0];
    m.extend_from_slice(&target);
    m.extend_from_slice(&[2, 1]);
    m.extend_from_slice(&US_MAC.0);
    let m = with_checksum(&target, &to, m);
    ipv6_frame(US_MAC.0, to_mac, target, to, 58, 255, &m)
}
