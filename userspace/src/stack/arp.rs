//! ARP input and output (RFC 826), address defence (RFC 5227).

use std::net::Ipv4Addr;

use xdpstack_common::neigh::{NeighEvent, EVENT_ANSWERED};

use super::arp_cache::ArpAction;
use super::arp_defence::ConflictOutcome;
use super::time::Instant;
use super::Stack;
use crate::device::Device;
use crate::wire::{ArpOp, ArpPacket, ArpRepr, Error, MacAddr};

impl Stack {
    /// An ARP packet that reached userspace: replies and gratuitous ARP for
    /// our address, odd requests, or everything when the fast path is off.
    pub(super) fn receive_arp<D: Device>(&mut self, now: Instant, dev: &mut D, payload: &[u8]) {
        self.counters.rx_arp += 1;
        let repr = match ArpPacket::new_checked(payload).and_then(|p| ArpRepr::parse(&p)) {
            Ok(r) => r,
            Err(Error::Unsupported) => {
                self.counters.arp_unsupported += 1;
                return;
            }
            Err(_) => {
                self.counters.arp_malformed += 1;
                return;
            }
        };
        if let Some(out) = &mut self.neigh_export {
            // Probes bind nothing; a claim on our address is this shard's to
            // defend, not every shard's.
            if !repr.sender_ip.is_unspecified() && repr.sender_ip != self.cfg.ip {
                out.push(NeighEvent {
                    sender_ip: repr.sender_ip.octets(),
                    target_ip: repr.target_ip.octets(),
                    sender_mac: repr.sender_mac.0,
                    op: repr.operation.into(),
                    ..NeighEvent::default()
                });
            }
        }
        let conflict = self.learn_arp(now, dev, repr.sender_ip, repr.sender_mac, repr.target_ip);
        // Answer like the fast path would have: a request for our address
        // from a unicast station that is not claiming our address. Probes
        // (sender 0.0.0.0, RFC 5227 2.1.1) are answered too, as Linux does.
        let answerable = repr.operation == ArpOp::Request
            && repr.target_ip == self.cfg.ip
            && !conflict
            && repr.sender_mac.is_unicast()
            && (repr.sender_ip.is_unspecified()
                || !crate::wire::ipv4::is_martian_source(repr.sender_ip));
        if answerable {
            let reply = ArpRepr {
                operation: ArpOp::Reply,
                sender_mac: self.cfg.mac,
                sender_ip: self.cfg.ip,
                target_mac: repr.sender_mac,
                target_ip: repr.sender_ip,
            };
            self.output().arp(dev, repr.sender_mac, reply);
            self.counters.arp_replies_sent += 1;
        }
    }

    /// An ARP the XDP program answered or passed; it only teaches the cache
    /// (what that releases waits for the next flush).
    pub fn on_neigh_event(&mut self, now: Instant, ev: &NeighEvent) {
        self.counters.neigh_events += 1;
        let sender_ip = Ipv4Addr::from(ev.sender_ip);
        let target_ip = Ipv4Addr::from(ev.target_ip);
        let sender_mac = MacAddr(ev.sender_mac);
        // An answered request was for us whatever its target field says.
        let target = if ev.flags & EVENT_ANSWERED != 0 {
            self.cfg.ip
        } else {
            target_ip
        };
        self.deferred(|s, q| s.learn_arp(now, q, sender_ip, sender_mac, target));
    }

    /// RFC 826 merge plus RFC 5227 conflict detection; true on a conflict.
    fn learn_arp<D: Device>(
        &mut self,
        now: Instant,
        dev: &mut D,
        sender_ip: Ipv4Addr,
        sender_mac: MacAddr,
        target_ip: Ipv4Addr,
    ) -> bool {
        if let ConflictOutcome::Conflict { sender_mac, defend } =
            self.defence.on_arp(now, sender_ip, sender_mac)
        {
            self.counters.arp_conflicts += 1;
            log::warn!("address conflict: {sender_mac} claims our address {sender_ip}");
            if let Some(a) = defend {
                log::warn!("defending {} with a gratuitous ARP", a.ip);
                self.send_announcement(dev);
            }
            return true;
        }
        if let Some(action) = self
            .arp
            .on_arp(now, self.cfg.ip, sender_ip, sender_mac, target_ip)
        {
            self.apply_arp_action(dev, action);
        }
        false
    }

    pub(super) fn poll_arp<D: Device>(&mut self, now: Instant, dev: &mut D) {
        for action in self.arp.poll(now) {
            self.apply_arp_action(dev, action);
        }
        if self.defence.poll(now).is_some() {
            self.send_announcement(dev);
        }
    }

    pub(super) fn apply_arp_action<D: Device>(&mut self, dev: &mut D, action: ArpAction) {
        match action {
            ArpAction::Request(ip) => self.output().arp_request(dev, ip),
            ArpAction::Flush { mac, packets, .. } => {
                let mut out = self.output();
                for p in packets {
                    out.datagram(dev, mac, &p);
                }
            }
            // The cache counted the drop; nothing else to send.
            ArpAction::Failed { ip, dropped } => {
                log::debug!("ARP resolution of {ip} failed, {dropped} packets dropped");
            }
        }
    }

    /// An ARP announcement: a broadcast request with sender and target both
    /// our address (RFC 5227 2.3), used at start-up and to defend.
    fn send_announcement<D: Device>(&mut self, dev: &mut D) {
        let ann = ArpRepr {
            operation: ArpOp::Request,
            sender_mac: self.cfg.mac,
            sender_ip: self.cfg.ip,
            target_mac: MacAddr::ZERO,
            target_ip: self.cfg.ip,
        };
        self.output().arp(dev, MacAddr::BROADCAST, ann);
    }
}
