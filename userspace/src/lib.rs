//! xdpstack's userspace: the half of the stack that runs outside the kernel.
//!
//! Data flows one way through these modules:
//!
//! - [`wire`]: typed views over packet bytes (parse and emit), no policy;
//! - [`fastpath`]: loads the XDP program, configures it, reads its counters
//!   and neighbour events;
//! - [`xsk`]: AF_XDP sockets that receive what the fast path hands over and
//!   send what the stack answers;
//! - [`stack`]: the host itself (ARP cache, IPv4, ICMP) as a pure state
//!   machine: frames in, frames out, time passed in as a value;
//! - [`services`]: applications on the stack's socket APIs (echo, discard,
//!   the HTTP status page);
//! - [`control`]: the daemon's control socket and the CLI's client side;
//! - [`loadgen`]: the load generator and per-packet cost probe that
//!   `cargo xtask bench` drives.

pub mod cli;
pub mod control;
pub mod daemon;
pub mod device;
pub mod fastpath;
pub mod loadgen;
pub mod privilege;
pub mod services;
pub mod stack;
pub mod wire;
pub mod xsk;
