//! A scripted TCP peer on the other end of a [`Stack`], for tests outside
//! `stack/` (the services, the status page) that need real connections in
//! the stack's tables: it writes whole Ethernet frames into the stack and
//! reads the segments the stack sends back.

use std::cell::RefCell;
use std::net::Ipv4Addr;

use xdpstack_common::neigh::{NeighEvent, EVENT_ANSWERED};

use super::time::Instant;
use super::{ethernet_frame, Stack};
use crate::device::FrameQueue;
use crate::wire::{
    EtherType, IpProtocol, Ipv4Packet, Ipv4Repr, MacAddr, TcpFlags, TcpOptions, TcpPacket, TcpRepr,
};

/// One segment the stack sent.
#[derive(Clone, Debug)]
pub struct Sent {
    pub src_port: u16,
    pub dst_port: u16,
    pub flags: TcpFlags,
    pub seq: u32,
    pub ack: u32,
    pub payload: Vec<u8>,
}

/// A host on the stack's link that the stack already knows (its ARP entry
/// is learned at [`Peer::new`]).
pub struct Peer {
    pub ip: Ipv4Addr,
    pub mac: MacAddr,
    /// The link as the stack sees it: what it sends lands here.
    link: RefCell<FrameQueue>,
}

/// Both sides' next sequence numbers on an established connection.
#[derive(Clone, Copy, Debug)]
pub struct Seqs {
    /// The peer's next sequence number (what the stack acknowledges).
    pub ours: u32,
    /// The stack's next sequence number (what the peer acknowledges).
    pub theirs: u32,
}

impl Peer {
    pub fn new(stack: &mut Stack, now: Instant, ip: Ipv4Addr, mac: MacAddr) -> Peer {
        let ev = NeighEvent {
            sender_ip: ip.octets(),
            target_ip: stack.config().ip.octets(),
            sender_mac: mac.0,
            op: 1,
            flags: EVENT_ANSWERED,
            _pad: [0; 3],
        };
        stack.on_neigh_event(now, &ev);
        Peer {
            ip,
            mac,
            link: RefCell::new(FrameQueue::new(100_000, 14 + 1500)),
        }
    }

    /// Sends one segment from `port` to the stack's `dst_port`.
    #[allow(clippy::too_many_arguments)]
    pub fn send(
        &self,
        stack: &mut Stack,
        now: Instant,
        port: u16,
        dst_port: u16,
        flags: TcpFlags,
        seq: u32,
        ack: u32,
        data: &[u8],
    ) {
        let us = stack.config().ip;
        let tcp = TcpRepr {
            src_port: port,
            dst_port,
            seq,
            ack,
            flags,
            window: 65535,
            urgent: 0,
            options: TcpOptions {
                mss: flags.syn().then_some(1460),
                ..Default::default()
            },
            payload: data,
        };
        let mut segment = vec![0u8; tcp.buffer_len()];
        tcp.emit(&mut TcpPacket::new_unchecked(&mut segment[..]), self.ip, us);
        let ip = Ipv4Repr {
            src: self.ip,
            dst: us,
            protocol: IpProtocol::Tcp,
            payload_len: segment.len(),
            ttl: 64,
            ident: 0,
            dont_frag: true,
            more_frags: false,
            frag_offset: 0,
            tos: 0,
        };
        let frame = ethernet_frame(
            self.mac,
            stack.config().mac,
            EtherType::Ipv4,
            ip.buffer_len(),
            |b| {
                let mut p = Ipv4Packet::new_unchecked(b);
                ip.emit(&mut p);
                p.payload_mut().copy_from_slice(&segment);
            },
        );
        stack.receive(now, &frame, &mut *self.link.borrow_mut());
    }

    /// The TCP segments the stack sent to us since the last call.
    pub fn take(&self, stack: &mut Stack, now: Instant) -> Vec<Sent> {
        let mut link = self.link.borrow_mut();
        stack.flush(now, &mut *link);
        let frames = link.take();
        frames
            .iter()
            .filter_map(|f| {
                let ip = Ipv4Packet::new_checked(f.get(14..)?).ok()?;
                if ip.protocol() != IpProtocol::Tcp || ip.dst() != self.ip {
                    return None;
                }
                let p = TcpPacket::new_checked(ip.payload()).ok()?;
                let r = TcpRepr::parse(&p, ip.src(), ip.dst()).ok()?;
                Some(Sent {
                    src_port: r.src_port,
                    dst_port: r.dst_port,
                    flags: r.flags,
                    seq: r.seq,
                    ack: r.ack,
                    payload: r.payload.to_vec(),
                })
            })
            .collect()
    }

    /// The three-way handshake from `port` to a listening `dst_port`.
    pub fn connect(&self, stack: &mut Stack, now: Instant, port: u16, dst_port: u16) -> Seqs {
        let isn = 1000 + u32::from(port);
        self.send(stack, now, port, dst_port, TcpFlags::SYN, isn, 0, &[]);
        let syn_ack = self
            .take(stack, now)
            .into_iter()
            .find(|s| s.dst_port == port && s.flags.syn() && s.flags.ack())
            .expect("a SYN-ACK");
        let seqs = Seqs {
            ours: isn.wrapping_add(1),
            theirs: syn_ack.seq.wrapping_add(1),
        };
        self.send(
            stack,
            now,
            port,
            dst_port,
            TcpFlags::ACK,
            seqs.ours,
            seqs.theirs,
            &[],
        );
        seqs
    }
}
