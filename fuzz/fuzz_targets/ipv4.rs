//! IPv4 view and Repr (RFC 791): length checks, checksum, round trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use xdpstack::wire::{Ipv4Packet, Ipv4Repr};

fuzz_target!(|data: &[u8]| {
    let Ok(packet) = Ipv4Packet::new_checked(data) else {
        return;
    };
    let _ = packet.to_string();
    let _ = (packet.verify_checksum(), packet.is_fragment());
    let (header, options, payload) = (packet.header(), packet.options(), packet.payload());
    assert_eq!(header.len(), packet.header_len());
    assert_eq!(options.len(), packet.header_len() - 20);
    assert_eq!(
        header.len() + payload.len(),
        usize::from(packet.total_len())
    );
    let Ok(repr) = Ipv4Repr::parse(&packet) else {
        return;
    };
    let _ = repr.to_string();
    // Emit (without options) and parse again: the same Repr.
    let mut buf = vec![0u8; repr.buffer_len()];
    let mut out = Ipv4Packet::new_unchecked(&mut buf[..]);
    repr.emit(&mut out);
    out.payload_mut().copy_from_slice(payload);
    let again = Ipv4Packet::new_checked(&buf[..]).expect("emitted header checks");
    assert_eq!(Ipv4Repr::parse(&again), Ok(repr));
});
