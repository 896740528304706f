//! The host: ARP cache, IPv4 and ICMP, as a pure state machine.

pub mod time;
