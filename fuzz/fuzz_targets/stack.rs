//! The stack's input: a sequence of frames, neighbour events, clock steps
//! and pings, with a fake clock, and the built-in services (echo, discard,
//! HTTP) running on it as in the daemon, so TCP connections and HTTP
//! requests are fuzzed too. Every frame the stack sends must be well-formed
//! and from us.
//!
//! Input: records of `op, len_hi, len_lo, bytes[len]` (op 0-1: receive a
//! frame; 2: advance the clock `len` ms and poll, no bytes; 3: neighbour
//! event, ARP or NDP by its length; 4: `xdpstack ping` to the address in
//! the bytes, IPv4 or, with 16 bytes or more, IPv6). The stack has IPv6
//! addresses too, so IPv6 frames reach its IPv6 input.
#![no_main]

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use xdpstack::device::FrameQueue;
use xdpstack::services::{ServiceName, Services};
use xdpstack::stack::time::Instant;
use xdpstack::stack::{Stack, StackConfig};
use xdpstack::wire::ipv4::is_martian_source;
use xdpstack::wire::{
    ArpPacket, ArpRepr, EtherType, EthernetFrame, EthernetRepr, Icmpv4Packet, Icmpv6Packet,
    IpProtocol, Ipv4Packet, Ipv6Packet, MacAddr, NextHeader, TcpPacket, UdpPacket,
};
use xdpstack_common::neigh::{NeighEvent, NeighEvent6};

const US: Ipv4Addr = Ipv4Addr::new(10, 10, 0, 4);
const US_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x04]);
const US6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x10, 0x10, 0, 0, 0, 0, 4);
const MTU: usize = 1500;

fn link_local() -> Ipv6Addr {
    xdpstack::wire::ipv6::link_local_from_mac(US_MAC)
}

fn config() -> StackConfig {
    StackConfig {
        ip: US,
        prefix: 24,
        mac: US_MAC,
        gateway: Some(Ipv4Addr::new(10, 10, 0, 1)),
        ip6: vec![(US6, 64), (link_local(), 64)],
        gateway6: Some(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1)),
        mtu: MTU,
        arp_timeout: Duration::from_secs(60),
        // Small, so eviction runs.
        arp_max: 8,
        // Fixed, so a crash reproduces.
        seed: [7; 32],
    }
}

/// What every frame the stack sends must satisfy.
fn check_sent(frame: &[u8]) {
    assert!(
        frame.len() <= 14 + MTU,
        "longer than the MTU: {}",
        frame.len()
    );
    let eth = EthernetFrame::new_checked(frame).expect("sent frame has an Ethernet header");
    let repr = EthernetRepr::parse(&eth).expect("sent Ethernet header parses");
    assert_eq!(repr.src, US_MAC);
    match repr.ethertype {
        EtherType::Arp => {
            let p = ArpPacket::new_checked(eth.payload()).expect("sent ARP length");
            let a = ArpRepr::parse(&p).expect("sent ARP parses");
            assert_eq!(a.sender_mac, US_MAC);
            // Our address, or 0.0.0.0 in an RFC 5227 probe.
            assert!(a.sender_ip == US || a.sender_ip.is_unspecified(), "{a:?}");
        }
        EtherType::Ipv4 => {
            let ip = Ipv4Packet::new_checked(eth.payload()).expect("sent IPv4 checks");
            assert!(ip.verify_checksum(), "sent IPv4 checksum");
            assert_eq!(ip.src(), US);
            assert!(
                !is_martian_source(ip.dst()) || ip.dst().is_multicast(),
                "to {}",
                ip.dst()
            );
            if ip.is_fragment() {
                return;
            }
            match ip.protocol() {
                IpProtocol::Icmp => {
                    let m = Icmpv4Packet::new_checked(ip.payload()).expect("sent ICMP length");
                    assert!(m.verify_checksum(), "sent ICMP checksum");
                    // Never an ICMP error to a broadcast (RFC 1122 3.2.2).
                    assert!(!ip.dst().is_broadcast());
                }
                IpProtocol::Udp => {
                    let u = UdpPacket::new_checked(ip.payload()).expect("sent UDP length");
                    assert!(u.verify_checksum(ip.src(), ip.dst()), "sent UDP checksum");
                }
                IpProtocol::Tcp => {
                    let t = TcpPacket::new_checked(ip.payload()).expect("sent TCP length");
                    assert!(t.verify_checksum(ip.src(), ip.dst()), "sent TCP checksum");
                    // Never a segment to a broadcast or multicast address.
                    assert!(!ip.dst().is_broadcast() && !ip.dst().is_multicast());
                }
                _ => {}
            }
        }
        EtherType::Ipv6 => {
            let ip = Ipv6Packet::new_checked(eth.payload()).expect("sent IPv6 checks");
            let (src, dst) = (ip.src(), ip.dst());
            // One of ours, or :: in a DAD probe or an MLD report before it.
            assert!(
                src == US6 || src == link_local() || src.is_unspecified(),
                "from {src}"
            );
            assert!(!dst.is_unspecified() && !dst.is_loopback(), "to {dst}");
            if dst.is_multicast() {
                assert_eq!(
                    repr.dst,
                    xdpstack::wire::ipv6::multicast_mac(dst),
                    "group MAC"
                );
            }
            match ip.next_header() {
                NextHeader::Icmpv6 => {
                    let m = Icmpv6Packet::new_checked(ip.payload()).expect("sent ICMPv6 length");
                    assert!(m.verify_checksum(src, dst), "sent ICMPv6 checksum");
                }
                NextHeader::Udp => {
                    let u = UdpPacket::new_checked(ip.payload()).expect("sent UDP length");
                    assert!(
                        u.checksum() != 0 && u.verify_checksum(src, dst),
                        "UDP checksum"
                    );
                }
                NextHeader::Tcp => {
                    let t = TcpPacket::new_checked(ip.payload()).expect("sent TCP length");
                    assert!(t.verify_checksum(src, dst), "sent TCP checksum");
                    assert!(!dst.is_multicast());
                }
                // Fragments, and MLD behind its Hop-by-Hop header.
                _ => {}
            }
        }
        other => panic!("sent a frame of EtherType {other}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let mut now = Instant::from_secs(1);
    let mut stack = Stack::new(config(), now);
    let all = [ServiceName::Echo, ServiceName::Discard, ServiceName::Http];
    let mut services = Services::start(&mut stack, &all).expect("the ports are free");
    // The in-memory device: what the stack sends lands here.
    let mut dev = FrameQueue::new(usize::MAX, 14 + MTU);
    let mut rest = data;
    while let [op, hi, lo, tail @ ..] = rest {
        let len = usize::from(u16::from_be_bytes([*hi, *lo]));
        match op % 5 {
            2 => {
                now = now + Duration::from_millis(len as u64);
                stack.poll(now, &mut dev);
                // Nothing is still due after a poll: a daemon sleeping until
                // `poll_at` would otherwise spin.
                assert!(
                    stack.poll_at().is_none_or(|at| at > now),
                    "due after poll: {:?} at {now:?}",
                    stack.poll_at()
                );
                rest = tail;
            }
            op => {
                let (chunk, next) = tail.split_at(len.min(tail.len()));
                rest = next;
                match op {
                    3 => {
                        if let Some(ev) = chunk
                            .get(..NeighEvent6::SIZE)
                            .and_then(NeighEvent6::from_bytes)
                        {
                            stack.on_neigh_event6(now, &ev);
                        } else if let Some(ev) = chunk
                            .get(..NeighEvent::SIZE)
                            .and_then(NeighEvent::from_bytes)
                        {
                            stack.on_neigh_event(now, &ev);
                        }
                    }
                    4 => {
                        if let Some(a) = chunk.get(..16) {
                            let mut o = [0u8; 16];
                            o.copy_from_slice(a);
                            let s = chunk.get(16).copied().unwrap_or(1);
                            let dst = Ipv6Addr::from(o);
                            let _ = stack.ping_start(now, dst, u16::from(s), usize::from(s) * 16);
                        } else if let [a, b, c, d, s, ..] = chunk {
                            let dst = Ipv4Addr::new(*a, *b, *c, *d);
                            let _ = stack.ping_start(now, dst, u16::from(*s), usize::from(*s) * 8);
                        }
                    }
                    _ => stack.receive(now, chunk, &mut dev),
                }
            }
        }
        // What the daemon does after every batch.
        services.poll(now, std::time::SystemTime::UNIX_EPOCH, &mut stack);
        stack.flush(now, &mut dev);
        for f in dev.drain() {
            check_sent(&f);
        }
    }
    // Counters and the ARP table are readable whatever happened.
    let _ = stack.stats();
    assert!(stack.arp_entries(now).len() <= 8);
    assert!(stack.ndp_entries(now).len() <= 1024);
});
