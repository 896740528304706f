//! TCP view and Repr (RFC 9293 3.1), options included. The first 8 bytes
//! are the pseudo-header's source and destination addresses, the rest is
//! the segment.
#![no_main]

use std::net::Ipv4Addr;

use libfuzzer_sys::fuzz_target;
use xdpstack::wire::{TcpPacket, TcpRepr};

fuzz_target!(|data: &[u8]| {
    let [a, b, c, d, e, f, g, h, rest @ ..] = data else {
        return;
    };
    // A segment travels in one IPv4 datagram: never more than 65535 bytes.
    if rest.len() > 65_515 {
        return;
    }
    let src = Ipv4Addr::new(*a, *b, *c, *d);
    let dst = Ipv4Addr::new(*e, *f, *g, *h);
    let Ok(packet) = TcpPacket::new_checked(rest) else {
        return;
    };
    let _ = packet.to_string();
    let _ = packet.verify_checksum(src, dst);
    let Ok(mut repr) = TcpRepr::parse(&packet, src, dst) else {
        return;
    };
    let _ = repr.to_string();
    let _ = repr.segment_len();
    // Emit and parse again: the same Repr, with a valid checksum. The
    // acknowledgment field is only meaningful, and only written, with ACK
    // set; unknown options are dropped on parse, so they never come back.
    let mut buf = vec![0u8; repr.buffer_len()];
    repr.emit(&mut TcpPacket::new_unchecked(&mut buf[..]), src, dst);
    let again = TcpPacket::new_checked(&buf[..]).expect("emitted segment checks");
    assert!(again.verify_checksum(src, dst));
    if !repr.flags.ack() {
        repr.ack = 0;
    }
    assert_eq!(TcpRepr::parse(&again, src, dst), Ok(repr));
});
