//! ICMPv6 view and Repr (RFC 4443, RFC 4861 NDP, RFC 3810 MLDv2). The input
//! is the source and destination addresses (32 bytes, for the
//! pseudo-header checksum) then the message.
#![no_main]

use std::net::Ipv6Addr;

use libfuzzer_sys::fuzz_target;
use xdpstack::wire::icmpv6::{parse_invoking, quote, NdpRepr};
use xdpstack::wire::{Icmpv6Packet, Icmpv6Repr};

fuzz_target!(|data: &[u8]| {
    if data.len() < 32 {
        return;
    }
    let addr = |b: &[u8]| Ipv6Addr::from(<[u8; 16]>::try_from(b).expect("16 bytes"));
    let (src, dst, msg) = (addr(&data[..16]), addr(&data[16..32]), &data[32..]);
    assert!(quote(msg).len() <= msg.len());
    if let Ok(q) = parse_invoking(msg) {
        let _ = (q.src_port(), q.dst_port());
    }
    let _ = Icmpv6Packet::new_unchecked(msg).to_string();
    // Fix the checksum too, so the fuzzer reaches the message parsers with
    // the real one and with whatever checksum it wrote.
    let mut fixed = msg.to_vec();
    if let Ok(mut p) = Icmpv6Packet::new_checked(&mut fixed[..]) {
        p.fill_checksum(src, dst);
    }
    for bytes in [msg, &fixed[..]] {
        let Ok(packet) = Icmpv6Packet::new_checked(bytes) else {
            return;
        };
        let _ = (packet.rest_of_header(), packet.data());
        let Ok(repr) = Icmpv6Repr::parse(src, dst, &packet) else {
            continue;
        };
        let _ = (repr.to_string(), repr.is_error());
        if let Icmpv6Repr::Ndp(ndp) = repr {
            let _ = ndp.check_ip_header(src, dst, 255);
            if let NdpRepr::RouterAdvert { options, .. } | NdpRepr::Redirect { options, .. } = ndp {
                let _ = (
                    options.mtu(),
                    options.prefixes().count(),
                    options.iter().count(),
                );
            }
        }
        if let Icmpv6Repr::MldReport { records } = repr {
            for r in records.iter() {
                let _ = r.sources().count();
            }
        }
        // Emit and parse again: the same Repr, with a valid checksum.
        let mut buf = vec![0u8; repr.buffer_len()];
        repr.emit(src, dst, &mut Icmpv6Packet::new_unchecked(&mut buf[..]));
        let again = Icmpv6Packet::new_checked(&buf[..]).expect("emitted message checks");
        assert!(again.verify_checksum(src, dst));
        assert_eq!(Icmpv6Repr::parse(src, dst, &again), Ok(repr));
    }
});
