//! IPv6 view and Repr (RFC 8200 3), the extension header walk (RFC 8200 4)
//! and the tcpdump-like line of the packet in an Ethernet frame.
#![no_main]

use libfuzzer_sys::fuzz_target;
use xdpstack::wire::ipv6ext::{walk, ExtError};
use xdpstack::wire::{describe, Icmpv6Packet, Icmpv6Repr, Ipv6Packet, Ipv6Repr, NextHeader};

fuzz_target!(|data: &[u8]| {
    let mut frame = vec![2, 0, 0, 0, 0, 4, 2, 0, 0, 0, 0, 2, 0x86, 0xdd];
    frame.extend_from_slice(data);
    let _ = describe(&frame);
    let Ok(packet) = Ipv6Packet::new_checked(data) else {
        return;
    };
    let _ = packet.to_string();
    assert_eq!(
        packet.packet().len(),
        40 + usize::from(packet.payload_len())
    );
    match walk(&packet) {
        Ok(w) => {
            // The walk stays inside the packet and points before where it ends.
            assert!(w.offset <= packet.packet().len());
            assert!(w.next_header_at < w.offset);
            let _ = w.unrecognized();
            if w.protocol == NextHeader::Icmpv6 && !w.is_fragment() {
                let msg = &packet.packet()[w.offset..];
                if let Ok(p) = Icmpv6Packet::new_checked(msg) {
                    let _ = Icmpv6Repr::parse(packet.src(), packet.dst(), &p);
                }
            }
        }
        Err(ExtError::ParamProblem { pointer, .. }) => {
            assert!((pointer as usize) < packet.packet().len());
        }
        Err(_) => {}
    }
    let Ok(repr) = Ipv6Repr::parse(&packet) else {
        return;
    };
    let _ = repr.to_string();
    // Emit and parse again: the same Repr.
    let mut buf = vec![0u8; repr.buffer_len()];
    let mut out = Ipv6Packet::new_unchecked(&mut buf[..]);
    repr.emit(&mut out);
    out.payload_mut().copy_from_slice(packet.payload());
    let again = Ipv6Packet::new_checked(&buf[..]).expect("emitted header checks");
    assert_eq!(Ipv6Repr::parse(&again), Ok(repr));
});
