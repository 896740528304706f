//! ICMPv4 view and Repr (RFC 792), and the quoted datagram of errors.
#![no_main]

use libfuzzer_sys::fuzz_target;
use xdpstack::wire::icmpv4::{parse_quoted, quote};
use xdpstack::wire::{Icmpv4Packet, Icmpv4Repr};

fuzz_target!(|data: &[u8]| {
    // What an ICMP error quotes, and reading a quote: never panic.
    let q = quote(data);
    assert!(q.len() <= data.len());
    if let Ok(quoted) = parse_quoted(data) {
        let _ = (quoted.src_port(), quoted.dst_port());
    }
    let Ok(packet) = Icmpv4Packet::new_checked(data) else {
        return;
    };
    let _ = packet.to_string();
    let _ = (
        packet.verify_checksum(),
        packet.rest_of_header(),
        packet.data(),
    );
    let Ok(repr) = Icmpv4Repr::parse(&packet) else {
        return;
    };
    let _ = repr.to_string();
    // Emit and parse again: the same Repr, with a valid checksum.
    let mut buf = vec![0u8; repr.buffer_len()];
    repr.emit(&mut Icmpv4Packet::new_unchecked(&mut buf[..]));
    let again = Icmpv4Packet::new_checked(&buf[..]).expect("emitted message checks");
    assert!(again.verify_checksum());
    assert_eq!(Icmpv4Repr::parse(&again), Ok(repr));
});
