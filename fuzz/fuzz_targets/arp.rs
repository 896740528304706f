//! ARP view and Repr (RFC 826).
#![no_main]

use libfuzzer_sys::fuzz_target;
use xdpstack::wire::{ArpPacket, ArpRepr};

fuzz_target!(|data: &[u8]| {
    let Ok(packet) = ArpPacket::new_checked(data) else {
        return;
    };
    let _ = packet.to_string();
    let _ = (packet.operation(), packet.is_ethernet_ipv4());
    let Ok(repr) = ArpRepr::parse(&packet) else {
        return;
    };
    let _ = repr.to_string();
    // Ethernet/IPv4 ARP is 28 bytes; emitting the Repr gives them back.
    let mut buf = vec![0u8; 28];
    repr.emit(&mut ArpPacket::new_unchecked(&mut buf[..]));
    assert_eq!(&buf[..], &data[..28], "{repr:?}");
});
