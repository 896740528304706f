//! UDP view and Repr (RFC 768). The first 8 bytes are the pseudo-header's
//! source and destination addresses, the rest is the datagram.
#![no_main]

use std::net::Ipv4Addr;

use libfuzzer_sys::fuzz_target;
use xdpstack::wire::{UdpPacket, UdpRepr};

fuzz_target!(|data: &[u8]| {
    let [a, b, c, d, e, f, g, h, rest @ ..] = data else {
        return;
    };
    let src = Ipv4Addr::new(*a, *b, *c, *d);
    let dst = Ipv4Addr::new(*e, *f, *g, *h);
    let Ok(packet) = UdpPacket::new_checked(rest) else {
        return;
    };
    let _ = packet.to_string();
    let _ = packet.verify_checksum(src, dst);
    let Ok(repr) = UdpRepr::parse(&packet, src, dst) else {
        return;
    };
    let _ = repr.to_string();
    // Emit and parse again: the same Repr, with a valid checksum.
    let mut buf = vec![0u8; repr.buffer_len()];
    repr.emit(&mut UdpPacket::new_unchecked(&mut buf[..]), src, dst);
    let again = UdpPacket::new_checked(&buf[..]).expect("emitted datagram checks");
    assert!(again.verify_checksum(src, dst));
    assert_eq!(UdpRepr::parse(&again, src, dst), Ok(repr));
});
