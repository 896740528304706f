//! Request and response types of the control protocol (see `control`).
//! The daemon serializes the replies and the CLI deserializes the same
//! types: [`StatsReply`], `Vec<NeighEntryJson>`, `Vec<ConnJson>`,
//! [`PingJson`] (the documents of `present::json`).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::capture::Filter;
use crate::services::ServicesStats;
use crate::stack::StackStats;
use crate::wire::MacAddr;
use crate::xsk::XskStats;

pub use crate::present::json::{ConnJson, NeighEntryJson, PingJson, StatusReply, XdpProgram};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case", deny_unknown_fields)]
pub enum Request {
    // Empty braces rather than unit variants: serde's deny_unknown_fields
    // only applies to variants with fields, and the protocol refuses
    // unknown fields everywhere.
    Stats {},
    /// What `xdpstack status` lists for this daemon.
    Status {},
    Arp {},
    ArpAdd {
        ip: Ipv4Addr,
        mac: String,
    },
    ArpDel {
        ip: Ipv4Addr,
    },
    ArpFlush {},
    /// TCP connections, listeners and TIME-WAIT entries, like `ss -tan`.
    Conns {},
    /// Both neighbour tables (ARP and IPv6), like `ip neigh`.
    Neigh {},
    /// A permanent entry in the table of `ip`'s version.
    NeighAdd {
        ip: IpAddr,
        mac: String,
    },
    NeighDel {
        ip: IpAddr,
    },
    /// Every entry that is not permanent, of both tables.
    NeighFlush {},
    /// An echo request to an IPv4 or IPv6 address.
    Ping {
        dst: IpAddr,
        size: usize,
        seq: u16,
        timeout_ms: u64,
    },
    /// Turns the connection into a stream of captured frames
    /// (`capture::stream`) after one answer line ([`CaptureReply`]).
    Capture {
        snaplen: u32,
        #[serde(default)]
        filter: Filter,
    },
}

/// The answer to `capture`, before the frames.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct CaptureReply {
    /// The snap length the daemon applies.
    pub snaplen: u32,
    /// Capture clients connected, this one included.
    pub clients: usize,
}

/// The answer to `stats`: what `xdpstack stats --json` prints.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct StatsReply {
    /// How the XDP program is attached (`native`, `skb`) and why; absent
    /// from daemons older than the field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub xdp_mode: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub xdp_mode_reason: Option<String>,
    /// The XDP program's verdict counters by name.
    pub xdp: BTreeMap<String, u64>,
    pub stack: StackStats,
    pub services: ServicesStats,
    /// One per AF_XDP socket (queue).
    pub xsk: Vec<XskStats>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Response {
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub data: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<String>,
}

impl Response {
    pub fn ok(data: impl Serialize) -> Response {
        match serde_json::to_value(data) {
            Ok(v) => Response {
                ok: true,
                data: Some(v),
                error: None,
            },
            Err(e) => Response::error(format!("could not encode the answer: {e}")),
        }
    }

    pub fn done() -> Response {
        Response {
            ok: true,
            data: None,
            error: None,
        }
    }

    pub fn error(msg: impl Into<String>) -> Response {
        Response {
            ok: false,
            data: None,
            error: Some(msg.into()),
        }
    }

    /// The reply of a successful request, as the type that request answers
    /// with; the error message of a failed one.
    pub fn into_reply<T: DeserializeOwned>(self) -> Result<T, String> {
        if !self.ok {
            return Err(self.error.unwrap_or_else(|| "request failed".into()));
        }
        serde_json::from_value(self.data.unwrap_or(serde_json::Value::Null))
            .map_err(|e| format!("malformed answer: {e}"))
    }
}

/// Parses one request line; the error is the message sent back.
pub fn parse_request(line: &str) -> Result<Request, String> {
    serde_json::from_str(line.trim()).map_err(|e| format!("bad request: {e}"))
}

/// Parses a MAC address given in a request.
pub fn parse_mac(s: &str) -> Result<MacAddr, String> {
    s.parse::<MacAddr>().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip() {
        for (line, req) in [
            (r#"{"cmd":"stats"}"#, Request::Stats {}),
            (r#"{"cmd":"status"}"#, Request::Status {}),
            (r#"{"cmd":"arp_flush"}"#, Request::ArpFlush {}),
            (r#"{"cmd":"conns"}"#, Request::Conns {}),
            (r#"{"cmd":"neigh"}"#, Request::Neigh {}),
            (
                r#"{"cmd":"neigh_del","ip":"fd00:10:10::2"}"#,
                Request::NeighDel {
                    ip: "fd00:10:10::2".parse().unwrap(),
                },
            ),
            (
                r#"{"cmd":"ping","dst":"10.10.0.2","size":56,"seq":1,"timeout_ms":1000}"#,
                Request::Ping {
                    dst: Ipv4Addr::new(10, 10, 0, 2).into(),
                    size: 56,
                    seq: 1,
                    timeout_ms: 1000,
                },
            ),
            (
                r#"{"cmd":"capture","snaplen":96}"#,
                Request::Capture {
                    snaplen: 96,
                    filter: Filter::Both,
                },
            ),
            (
                r#"{"cmd":"capture","snaplen":96,"filter":"out"}"#,
                Request::Capture {
                    snaplen: 96,
                    filter: Filter::Out,
                },
            ),
            (
                r#"{"cmd":"arp_del","ip":"10.10.0.2"}"#,
                Request::ArpDel {
                    ip: Ipv4Addr::new(10, 10, 0, 2),
                },
            ),
        ] {
            assert_eq!(parse_request(line), Ok(req.clone()));
            assert_eq!(
                parse_request(&serde_json::to_string(&req).unwrap()),
                Ok(req)
            );
        }
    }

    #[test]
    fn replies_are_read_back_as_the_type_sent() {
        let mut sent = StatsReply {
            xdp_mode: Some("skb".into()),
            xdp_mode_reason: Some("a veth".into()),
            ..StatsReply::default()
        };
        sent.xdp.insert("redirected".into(), 9);
        sent.stack.tcp.retransmits = 3;
        sent.xsk.push(XskStats::default());
        let line = serde_json::to_string(&Response::ok(&sent)).unwrap();
        let back: Response = serde_json::from_str(&line).unwrap();
        let got: StatsReply = back.into_reply().unwrap();
        assert_eq!(got.xdp_mode.as_deref(), Some("skb"));
        assert_eq!(got.xdp["redirected"], 9);
        assert_eq!(got.stack.tcp.retransmits, 3);
        assert_eq!(got.xsk.len(), 1);
        assert!(got.services.http.is_none());
        // `arp_add` and friends answer with no data.
        let done: Response =
            serde_json::from_str(&serde_json::to_string(&Response::done()).unwrap()).unwrap();
        done.into_reply::<()>().unwrap();
        assert_eq!(
            Response::error("no ARP entry for 10.0.0.1").into_reply::<()>(),
            Err("no ARP entry for 10.0.0.1".into())
        );
        // A reply of the wrong shape is an error, not a default.
        assert!(Response::ok(vec![1, 2]).into_reply::<PingJson>().is_err());
    }

    #[test]
    fn malformed_requests_are_errors() {
        for line in [
            "",
            "{",
            "[]",
            r#"{"cmd":"reboot"}"#,
            r#"{"cmd":"arp_del","ip":"10.10.0"}"#,
            r#"{"cmd":"stats","x":1}"#,
        ] {
            assert!(parse_request(line).is_err(), "{line}");
        }
    }
}
