//! Presentation: what people and scripts read, made from the typed
//! snapshots the core returns (`Stack::stats`, `Stack::arp_entries`,
//! `Stack::tcp_views`, `Services::stats`). The core never formats; both the
//! control socket with its CLI and the HTTP status page format here, so the
//! names and units they show are the same.
//!
//! - `names.rs`: state names (`ip neigh`, `ss`);
//! - `json.rs`: the JSON documents of the control protocol and `--json`;
//! - `counters.rs`: counter structs as dotted names and values;
//! - `table.rs`: aligned text tables for the CLI;
//! - `metrics.rs`: the Prometheus exposition (`--metrics`, `/metrics`);
//! - `html.rs`: the HTTP status page, bounded whatever the load.

pub mod counters;
pub mod html;
pub mod json;
pub mod metrics;
pub mod names;
pub mod table;
