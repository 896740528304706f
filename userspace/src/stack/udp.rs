//! UDP (RFC 768, RFC 1122 4.1): checksums, demultiplexing by port, and the
//! stack's internal socket API that the services (and future applications)
//! use: [`Stack::udp_bind`], [`Stack::udp_send_to`], [`Stack::udp_recv_from`],
//! [`Stack::udp_close`].
//!
//! A socket is bound to one local port on our address; every datagram to
//! that port (unicast or broadcast) is queued for it. Queues are bounded in
//! datagrams and bytes: when full, the new datagram is dropped and counted,
//! like a full socket receive buffer in Linux (`RcvbufErrors`).

use std::collections::{BTreeMap, VecDeque};
use std::net::{IpAddr, SocketAddr};

use serde::Serialize;
use xdpstack_common::layout::icmp;

use super::ipv4::Datagram;
use super::ipv6::Datagram6;
use super::rng::{self, Rng};
use super::time::Instant;
use super::Stack;
use crate::device::Device;
use crate::wire::{IpProtocol, UdpPacket, UdpRepr};

/// The most sockets open at once.
const MAX_SOCKETS: usize = 256;
/// Per socket receive queue bounds.
const QUEUE_DATAGRAMS: usize = 1024;
const QUEUE_BYTES: usize = 1 << 20;
/// The largest payload one IPv4 datagram carries: 65535 - 20 - 8.
pub const MAX_PAYLOAD: usize = 65_507;
/// Ephemeral ports for `bind(0)`, as IANA suggests (RFC 6335 6).
const EPHEMERAL: std::ops::RangeInclusive<u16> = 49152..=65535;

/// A bound socket. The generation tells a socket from a later one bound to
/// the same port after a close, so a stale handle cannot read its data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct UdpHandle {
    port: u16,
    generation: u32,
}

impl UdpHandle {
    pub fn port(self) -> u16 {
        self.port
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UdpError {
    PortInUse(u16),
    NoFreePort,
    TooManySockets,
    /// The handle's socket was closed.
    NotBound,
    /// More than 65507 bytes: does not fit one IPv4 datagram.
    TooBig(usize),
    /// Port 0, or an address we cannot send to.
    BadDestination(SocketAddr),
}

impl std::fmt::Display for UdpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UdpError::PortInUse(p) => write!(f, "UDP port {p} is already bound"),
            UdpError::NoFreePort => write!(f, "no free ephemeral UDP port"),
            UdpError::TooManySockets => write!(f, "too many UDP sockets ({MAX_SOCKETS})"),
            UdpError::NotBound => write!(f, "the UDP socket is closed"),
            UdpError::TooBig(n) => write!(f, "{n} bytes do not fit one datagram ({MAX_PAYLOAD})"),
            UdpError::BadDestination(a) => write!(f, "cannot send a UDP datagram to {a}"),
        }
    }
}

impl std::error::Error for UdpError {}

/// One datagram as an application receives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UdpDatagram {
    pub src: SocketAddr,
    /// Our address or a broadcast address.
    pub dst: IpAddr,
    pub data: Vec<u8>,
}

/// Shown by `xdpstack stats` under "udp" (names follow Linux's
/// /proc/net/snmp Udp line where one exists).
#[derive(Clone, Debug, Default, Serialize, serde::Deserialize)]
#[serde(default)]
pub struct UdpCounters {
    /// Datagrams handed to UDP by IPv4, valid or not.
    pub received: u64,
    /// Queued for a socket (`InDatagrams`).
    pub delivered: u64,
    /// Shorter than 8 bytes, or Length disagreeing with the IPv4 length.
    pub malformed: u64,
    /// `InCsumErrors`.
    pub bad_checksum: u64,
    /// Checksums left partial by a local peer's TX offload, accepted (see
    /// [`Stack::accept_partial_checksums`]).
    pub partial_checksum_accepted: u64,
    /// To a port no socket is bound to (`NoPorts`): port unreachable.
    pub no_port: u64,
    /// Dropped because the socket's queue was full (`RcvbufErrors`).
    pub queue_full: u64,
    /// Sent by sockets (`OutDatagrams`).
    pub sent: u64,
    pub sockets: u64,
}

/// What became of one datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum UdpInput {
    Delivered,
    /// Malformed or bad checksum (counted).
    Dropped,
    /// No socket on its port: port unreachable is due.
    NoPort,
}

struct Socket {
    generation: u32,
    queue: VecDeque<UdpDatagram>,
    queued_bytes: usize,
}

/// The sockets and counters; [`Stack`] drives them.
pub(super) struct Udp {
    sockets: BTreeMap<u16, Socket>,
    counters: UdpCounters,
    next_generation: u32,
    /// Accept checksums a local peer left partial.
    pub(super) accept_partial: bool,
}

impl Udp {
    pub(super) fn new() -> Udp {
        Udp {
            sockets: BTreeMap::new(),
            counters: UdpCounters::default(),
            next_generation: 1,
            accept_partial: false,
        }
    }

    pub(super) fn counters(&self) -> &UdpCounters {
        &self.counters
    }

    /// Binds `port`; 0 picks an ephemeral port with `rng`.
    fn bind(&mut self, port: u16, rng: &mut Rng) -> Result<UdpHandle, UdpError> {
        if self.sockets.len() >= MAX_SOCKETS {
            return Err(UdpError::TooManySockets);
        }
        let port = if port == 0 {
            self.free_ephemeral(rng)?
        } else if self.sockets.contains_key(&port) {
            return Err(UdpError::PortInUse(port));
        } else {
            port
        };
        let generation = self.next_generation;
        self.next_generation = self.next_generation.wrapping_add(1);
        self.sockets.insert(
            port,
            Socket {
                generation,
                queue: VecDeque::new(),
                queued_bytes: 0,
            },
        );
        self.counters.sockets = self.sockets.len() as u64;
        Ok(UdpHandle { port, generation })
    }

    /// RFC 6056 3.3.1: a free port from a random start.
    fn free_ephemeral(&mut self, rng: &mut Rng) -> Result<u16, UdpError> {
        rng::ephemeral_port(rng, EPHEMERAL, |p| !self.sockets.contains_key(&p))
            .ok_or(UdpError::NoFreePort)
    }

    fn socket_mut(&mut self, h: UdpHandle) -> Result<&mut Socket, UdpError> {
        self.sockets
            .get_mut(&h.port)
            .filter(|s| s.generation == h.generation)
            .ok_or(UdpError::NotBound)
    }

    fn recv_from(&mut self, h: UdpHandle) -> Result<Option<UdpDatagram>, UdpError> {
        let s = self.socket_mut(h)?;
        let d = s.queue.pop_front();
        if let Some(d) = &d {
            s.queued_bytes -= d.data.len();
        }
        Ok(d)
    }

    fn close(&mut self, h: UdpHandle) -> Result<(), UdpError> {
        self.socket_mut(h)?;
        self.sockets.remove(&h.port);
        self.counters.sockets = self.sockets.len() as u64;
        Ok(())
    }

    /// Queues a datagram for the socket on `port`. Err(()) when no socket
    /// is bound there.
    fn deliver(&mut self, port: u16, d: UdpDatagram) -> Result<(), ()> {
        let Some(s) = self.sockets.get_mut(&port) else {
            return Err(());
        };
        if s.queue.len() >= QUEUE_DATAGRAMS || s.queued_bytes + d.data.len() > QUEUE_BYTES {
            self.counters.queue_full += 1;
            return Ok(());
        }
        s.queued_bytes += d.data.len();
        s.queue.push_back(d);
        self.counters.delivered += 1;
        Ok(())
    }
}

impl Stack {
    /// RFC 768 input: check the length and checksum, then hand the data to
    /// the socket bound to the destination port, or answer port unreachable
    /// (RFC 1122 4.1.3.1; the ICMP rules decide whether it may be sent).
    pub(super) fn receive_udp<D: Device>(&mut self, now: Instant, dev: &mut D, d: &Datagram<'_>) {
        if self.udp_input(d.src.into(), d.dst.into(), d.payload) == UdpInput::NoPort {
            self.send_icmp_error(now, dev, d, icmp::CODE_PORT_UNREACHABLE);
        }
    }

    /// UDP over IPv6: the same, with port unreachable per RFC 4443 3.1.
    pub(super) fn receive_udp6<D: Device>(&mut self, now: Instant, dev: &mut D, d: &Datagram6<'_>) {
        if self.udp_input(d.src.into(), d.dst.into(), d.payload) == UdpInput::NoPort {
            self.send_port_unreachable6(now, dev, d);
        }
    }

    /// The checks and the delivery, for either IP version.
    fn udp_input(&mut self, src: IpAddr, dst: IpAddr, payload: &[u8]) -> UdpInput {
        self.udp.counters.received += 1;
        let Ok(packet) = UdpPacket::new_checked(payload) else {
            self.udp.counters.malformed += 1;
            return UdpInput::Dropped;
        };
        // A zero checksum means the sender computed none (RFC 768); over
        // IPv6 it is mandatory (RFC 8200 8.1).
        if src.is_ipv6() && packet.checksum() == 0 {
            self.udp.counters.bad_checksum += 1;
            return UdpInput::Dropped;
        }
        let repr = match UdpRepr::parse(&packet, src, dst) {
            Ok(r) => r,
            Err(crate::wire::Error::Checksum)
                if self.udp.accept_partial && packet.has_partial_checksum(src, dst) =>
            {
                self.udp.counters.partial_checksum_accepted += 1;
                match UdpRepr::parse_unverified(&packet) {
                    Ok(r) => r,
                    Err(_) => {
                        self.udp.counters.malformed += 1;
                        return UdpInput::Dropped;
                    }
                }
            }
            Err(_) => {
                self.udp.counters.bad_checksum += 1;
                return UdpInput::Dropped;
            }
        };
        let datagram = UdpDatagram {
            src: SocketAddr::new(src, repr.src_port),
            dst,
            data: repr.payload.to_vec(),
        };
        if self.udp.deliver(repr.dst_port, datagram).is_err() {
            self.udp.counters.no_port += 1;
            return UdpInput::NoPort;
        }
        UdpInput::Delivered
    }

    /// Binds a socket to `port` on our address (0: an ephemeral port).
    pub fn udp_bind(&mut self, port: u16) -> Result<UdpHandle, UdpError> {
        self.udp.bind(port, &mut self.rng)
    }

    /// Sends one datagram from the socket's port, checksum always filled in
    /// (RFC 1122 4.1.3.4 lets a host omit it; we never do). Larger than the
    /// MTU, it goes out in fragments (over IPv6 with a Fragment header).
    ///
    /// There is no device at hand here: the frame is built in the stack's
    /// deferred queue (the socket's send buffer, as it were) and copied
    /// into the device at the next flush.
    pub fn udp_send_to(
        &mut self,
        now: Instant,
        h: UdpHandle,
        dst: impl Into<SocketAddr>,
        data: &[u8],
    ) -> Result<(), UdpError> {
        self.udp_send_from(now, h, None, dst.into(), data)
    }

    /// [`Stack::udp_send_to`] from a given local address (`src`: the
    /// address the datagram being answered was sent to, so a reply to our
    /// link-local address comes from it), else the one selected for `dst`.
    pub fn udp_send_from(
        &mut self,
        now: Instant,
        h: UdpHandle,
        src: Option<IpAddr>,
        dst: SocketAddr,
        data: &[u8],
    ) -> Result<(), UdpError> {
        self.udp.socket_mut(h)?;
        if data.len() > MAX_PAYLOAD {
            return Err(UdpError::TooBig(data.len()));
        }
        let ip = dst.ip();
        let ours = match ip {
            IpAddr::V4(v4) => v4 == self.cfg.ip,
            IpAddr::V6(v6) => self.cfg.is_our_ip6(v6),
        };
        if dst.port() == 0 || ip.is_unspecified() || ip.is_loopback() || ours {
            return Err(UdpError::BadDestination(dst));
        }
        let src: IpAddr = match ip {
            IpAddr::V4(_) => self.cfg.ip.into(),
            // No IPv6 address: the IP layer drops it, counted
            // (`ipv6_not_supported`).
            IpAddr::V6(v6) => self
                .source6(src, v6)
                .unwrap_or(std::net::Ipv6Addr::UNSPECIFIED)
                .into(),
        };
        let repr = UdpRepr {
            src_port: h.port,
            dst_port: dst.port(),
            payload: data,
        };
        self.udp.counters.sent += 1;
        self.deferred(|s, q| {
            s.output().ip(
                now,
                q,
                src,
                ip,
                IpProtocol::Udp,
                repr.buffer_len(),
                false,
                |b| repr.emit(&mut UdpPacket::new_unchecked(b), src, ip),
            )
        });
        Ok(())
    }

    /// The oldest datagram queued for the socket, if any.
    pub fn udp_recv_from(&mut self, h: UdpHandle) -> Result<Option<UdpDatagram>, UdpError> {
        self.udp.recv_from(h)
    }

    /// Unbinds the socket; datagrams still queued are discarded.
    pub fn udp_close(&mut self, h: UdpHandle) -> Result<(), UdpError> {
        self.udp.close(h)
    }

    pub fn udp_counters(&self) -> &UdpCounters {
        self.udp.counters()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn rng() -> Rng {
        Rng::from_seed(Rng::seed_from_u64(3))
    }

    fn d(port: u16, n: usize) -> UdpDatagram {
        UdpDatagram {
            src: SocketAddr::new(Ipv4Addr::new(10, 0, 0, 2).into(), port),
            dst: Ipv4Addr::new(10, 0, 0, 4).into(),
            data: vec![0; n],
        }
    }

    #[test]
    fn bind_refuses_a_bound_port_and_picks_ephemeral_ones() {
        let mut u = Udp::new();
        let r = &mut rng();
        let a = u.bind(7, r).unwrap();
        assert_eq!(a.port(), 7);
        assert_eq!(u.bind(7, r), Err(UdpError::PortInUse(7)));
        let e1 = u.bind(0, r).unwrap();
        let e2 = u.bind(0, r).unwrap();
        assert!(EPHEMERAL.contains(&e1.port()) && EPHEMERAL.contains(&e2.port()));
        assert_ne!(e1.port(), e2.port());
        assert_eq!(u.counters().sockets, 3);
    }

    #[test]
    fn a_stale_handle_cannot_use_a_rebound_port() {
        let mut u = Udp::new();
        let r = &mut rng();
        let old = u.bind(9, r).unwrap();
        u.close(old).unwrap();
        let new = u.bind(9, r).unwrap();
        u.deliver(9, d(1, 3)).unwrap();
        assert_eq!(u.recv_from(old), Err(UdpError::NotBound));
        assert_eq!(u.close(old), Err(UdpError::NotBound));
        assert_eq!(u.recv_from(new).unwrap().unwrap().data.len(), 3);
        assert_eq!(u.recv_from(new), Ok(None));
    }

    #[test]
    fn queues_are_bounded_and_drops_counted() {
        let mut u = Udp::new();
        let r = &mut rng();
        let h = u.bind(7, r).unwrap();
        for _ in 0..QUEUE_DATAGRAMS + 5 {
            u.deliver(7, d(1, 1)).unwrap();
        }
        assert_eq!(u.counters().delivered, QUEUE_DATAGRAMS as u64);
        assert_eq!(u.counters().queue_full, 5);
        // Reading makes room again.
        u.recv_from(h).unwrap().unwrap();
        u.deliver(7, d(1, 1)).unwrap();
        assert_eq!(u.counters().queue_full, 5);
        // Bytes bound too.
        let h2 = u.bind(8, r).unwrap();
        for _ in 0..20 {
            u.deliver(8, d(1, 65_507)).unwrap();
        }
        let mut n = 0;
        while u.recv_from(h2).unwrap().is_some() {
            n += 1;
        }
        assert_eq!(n, QUEUE_BYTES / 65_507);
        assert_eq!(u.deliver(99, d(1, 1)), Err(()));
    }

    #[test]
    fn socket_count_is_bounded() {
        let mut u = Udp::new();
        let r = &mut rng();
        for p in 1..=MAX_SOCKETS as u16 {
            u.bind(p, r).unwrap();
        }
        assert_eq!(u.bind(0, r), Err(UdpError::TooManySockets));
    }
}
