//! The control plane: a Unix socket per interface
//! (`/run/xdpstack/<iface>.sock`, mode 0600) speaking JSON lines.
//!
//! One request per line, one response per line:
//!
//! ```text
//! {"cmd":"stats"}                                  -> {"ok":true,"data":{"xdp":{..},"stack":{..},"xsk":[..]}}
//! {"cmd":"status"}                                 -> {"ok":true,"data":{"iface":..,"ip":..,"xdp_mode":..,"prog_id":..}}
//! {"cmd":"arp"}                                    -> {"ok":true,"data":[{"dst":..,"dev":..,"lladdr":..,"state":["REACHABLE"],"age_ms":..}]}
//! {"cmd":"conns"}                                  -> {"ok":true,"data":[{"state":"ESTAB","local":..,"peer":..}]}
//! {"cmd":"arp_add","ip":"10.10.0.9","mac":"02:00:00:00:00:09"}
//! {"cmd":"arp_del","ip":"10.10.0.9"}
//! {"cmd":"arp_flush"}
//! {"cmd":"ping","dst":"10.10.0.2","size":56,"seq":1,"timeout_ms":1000}
//!                                                  -> {"ok":true,"data":{"rtt_us":..,"ttl":..,"bytes":..}}
//! anything else                                    -> {"ok":false,"error":"..."}
//! ```
//!
//! Requests longer than [`MAX_REQUEST`] bytes are refused with an error
//! response, and the connection is closed. The `data` of each answer is a
//! typed reply (`protocol::StatsReply`, `present::json`'s documents) that
//! the client reads back as the same type.

pub mod client;
pub mod metrics;
pub mod protocol;
pub mod server;

pub use protocol::{Request, Response, StatsReply};

/// Where daemons put their sockets.
pub const DEFAULT_DIR: &str = "/run/xdpstack";

/// The largest request line accepted, newline included.
pub const MAX_REQUEST: usize = 4096;

/// The socket path of the daemon serving `iface`.
pub fn socket_path(dir: &std::path::Path, iface: &str) -> std::path::PathBuf {
    dir.join(format!("{iface}.sock"))
}
