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
//! - [`present`]: what people read, made from the typed snapshots the
//!   stack and services return: tables, JSON documents, the status page;
//! - [`control`]: the daemon's control socket, its typed requests and
//!   replies, and the client the CLI uses;
//! - [`logging`]: the log line formats (`--log-format text|json`);
//! - [`manual`]: completion scripts and man pages from the clap definitions;
//! - [`daemon`]: `xdpstack run`, from a plain [`daemon::Config`];
//! - [`cli`]: the command line (clap) and the commands that talk to a
//!   daemon;
//! - `loadgen` (with the `lab` feature only, as is the lab's eBPF object):
//!   the load generator and per-packet cost probe that `cargo xtask bench`
//!   drives.

pub mod capture;
pub mod cli;
pub mod control;
pub mod daemon;
pub mod device;
pub mod fastpath;
#[cfg(feature = "lab")]
pub mod loadgen;
pub mod logging;
pub mod manual;
pub mod present;
pub mod privilege;
pub mod services;
pub mod shard;
pub mod stack;
pub mod wire;
pub mod xsk;
