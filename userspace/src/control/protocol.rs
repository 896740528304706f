//! Request and response types of the control protocol (see `control`).

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::wire::MacAddr;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case", deny_unknown_fields)]
pub enum Request {
    // Empty braces rather than unit variants: serde's deny_unknown_fields
    // only applies to variants with fields, and the protocol refuses
    // unknown fields everywhere.
    Stats {},
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
    Ping {
        dst: Ipv4Addr,
        size: usize,
        seq: u16,
        timeout_ms: u64,
    },
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
            (r#"{"cmd":"arp_flush"}"#, Request::ArpFlush {}),
            (r#"{"cmd":"conns"}"#, Request::Conns {}),
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
