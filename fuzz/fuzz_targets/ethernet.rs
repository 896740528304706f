//! Ethernet view and Repr, and the tcpdump-style printer over whole frames.
#![no_main]

use libfuzzer_sys::fuzz_target;
use xdpstack::wire::{describe, EthernetFrame, EthernetRepr};

fuzz_target!(|data: &[u8]| {
    // The printer walks every layer it knows: it must never panic.
    let _ = describe(data);
    let Ok(frame) = EthernetFrame::new_checked(data) else {
        return;
    };
    let _ = frame.to_string();
    let _ = frame.payload();
    let Ok(repr) = EthernetRepr::parse(&frame) else {
        return;
    };
    let _ = repr.to_string();
    // Emitting what was parsed gives back the same header.
    let mut buf = data.to_vec();
    repr.emit(&mut EthernetFrame::new_unchecked(&mut buf[..]));
    assert_eq!(buf, data, "{repr:?}");
});
