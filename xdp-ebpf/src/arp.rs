//! ARP (RFC 826): answer requests for our address in place.

use aya_ebpf::{bindings::xdp_action, programs::XdpContext};
use aya_log_ebpf::debug;
use xdp_ebpf::packet::Frame;
use xdpstack_common::{
    config::{FastpathConfig, FLAG_FASTPATH, FLAG_NEIGH_EVENTS},
    counters::Counter,
    layout::{arp, eth, ipv4},
    neigh::{NeighEvent, EVENT_ANSWERED},
};

use crate::{publish_neigh, to_userspace, verdict};

const A: usize = eth::HEADER_LEN;

pub fn handle(ctx: &XdpContext, f: &Frame, cfg: &FastpathConfig) -> u32 {
    if !f.has(A + arp::PACKET_LEN) {
        return verdict(Counter::PassedMalformed, xdp_action::XDP_PASS);
    }
    let (Some(htype), Some(ptype), Some(hlen), Some(plen), Some(op)) = (
        f.u16_be(A + arp::HTYPE),
        f.u16_be(A + arp::PTYPE),
        f.u8(A + arp::HLEN),
        f.u8(A + arp::PLEN),
        f.u16_be(A + arp::OPER),
    ) else {
        return verdict(Counter::PassedMalformed, xdp_action::XDP_PASS);
    };
    // Only IPv4 over Ethernet; Linux drops the rest too (arp_rcv checks
    // ar_hln against the device and ar_pln against 4).
    if htype != arp::HTYPE_ETHERNET || ptype != arp::PTYPE_IPV4 || hlen != 6 || plen != 4 {
        return verdict(Counter::PassedMalformed, xdp_action::XDP_PASS);
    }
    let sha = f.mac(A + arp::SHA);
    let spa = f.ip(A + arp::SPA);
    let tpa = f.ip(A + arp::TPA);
    let mut ev = NeighEvent {
        sender_ip: spa,
        target_ip: tpa,
        sender_mac: sha,
        op,
        flags: 0,
        _pad: [0; 3],
    };
    // A probe (sender 0.0.0.0, RFC 5227 2.1.1) binds no address to learn.
    let learnable = cfg.has(FLAG_NEIGH_EVENTS) && spa != [0; 4];

    if tpa != cfg.ip {
        // Not for us, but the userspace cache may hold the sender already
        // (RFC 826 merge rule), and it must see anyone claiming our address.
        if learnable {
            publish_neigh(&ev, cfg);
        }
        return verdict(Counter::PassedNotOurs, xdp_action::XDP_PASS);
    }
    if !cfg.has(FLAG_FASTPATH) {
        return to_userspace(ctx, Counter::SlowFastpathOff);
    }
    let dst = f.mac(eth::DST);
    // Answer only a plain request from a unicast station, addressed to us or
    // broadcast. Anything odd (a reply, a gratuitous ARP or a claim on our
    // address, a group or loopback sender) is the userspace stack's call.
    let answerable = op == arp::OP_REQUEST
        && (dst == eth::BROADCAST || dst == cfg.mac)
        && !eth::is_multicast(&sha)
        && sha != [0; 6]
        && spa != cfg.ip
        && (spa == [0; 4] || !ipv4::is_martian_source(spa));
    if !answerable {
        return to_userspace(ctx, Counter::SlowArp);
    }
    if learnable {
        ev.flags = EVENT_ANSWERED;
        publish_neigh(&ev, cfg);
    }
    // The reply goes back to the requester's hardware address (RFC 826,
    // "swap hardware and protocol fields"), from our own.
    f.set_mac(eth::DST, sha);
    f.set_mac(eth::SRC, cfg.mac);
    f.set_u16_ne(A + arp::OPER, arp::OP_REPLY.to_be());
    f.set_mac(A + arp::THA, sha);
    f.set_ip(A + arp::TPA, spa);
    f.set_mac(A + arp::SHA, cfg.mac);
    f.set_ip(A + arp::SPA, cfg.ip);
    // Filtered in-kernel by AYA_LOG_LEVEL: free unless RUST_LOG=debug.
    debug!(
        ctx,
        "arp: answered who-has {:i} tell {:i} ({:mac})",
        u32::from_be_bytes(tpa),
        u32::from_be_bytes(spa),
        sha
    );
    verdict(Counter::ArpReplied, xdp_action::XDP_TX)
}
