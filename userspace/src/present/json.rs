//! The JSON documents of the control protocol, which `xdpstack arp --json`,
//! `conns --json` and `ping` read back: the daemon serializes these types
//! and the CLI deserializes the same ones.

use std::net::{Ipv4Addr, SocketAddr};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::names;
use crate::stack::arp_cache::ArpEntry;
use crate::stack::tcp::ConnView;
use crate::stack::PingReply;
use crate::wire::MacAddr;

/// One neighbour (ARP cache entry), as `xdpstack arp --json` prints it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NeighEntryJson {
    pub ip: Ipv4Addr,
    /// `null` while incomplete or failed.
    #[serde(with = "mac_text")]
    pub mac: Option<MacAddr>,
    /// `incomplete`, `reachable`, `stale`, `failed` or `permanent`.
    pub state: String,
    /// Milliseconds since the entry was last confirmed.
    pub age_ms: u64,
    /// Milliseconds since its address was learned.
    pub learned_ms: u64,
    /// Packets waiting for resolution.
    pub queued: usize,
}

impl From<&ArpEntry> for NeighEntryJson {
    fn from(e: &ArpEntry) -> Self {
        NeighEntryJson {
            ip: e.ip,
            mac: e.mac,
            state: names::arp_state(e.state).to_string(),
            age_ms: e.since_confirmed.as_millis() as u64,
            learned_ms: e.since_learned.as_millis() as u64,
            queued: e.queued,
        }
    }
}

/// One row of `xdpstack conns --json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnJson {
    /// The RFC 9293 state in one word (`Established`).
    pub state: String,
    /// The state as `ss` names it (`ESTAB`).
    pub state_name: String,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    /// Bytes received, not yet read (LISTEN: connections waiting for accept).
    pub recv_q: usize,
    /// Bytes not yet acknowledged (LISTEN: the backlog).
    pub send_q: usize,
    pub rto_ms: u64,
    pub cwnd: u32,
    pub retransmits: u64,
    /// The congestion control algorithm (`cubic`, `reno`); absent for a
    /// listener and from an older daemon.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cc: Option<String>,
}

impl From<&ConnView> for ConnJson {
    fn from(c: &ConnView) -> Self {
        ConnJson {
            state: names::tcp_state_id(c.state).to_string(),
            state_name: names::tcp_state(c.state).to_string(),
            local: c.local,
            remote: c.remote,
            recv_q: c.recv_q,
            send_q: c.send_q,
            rto_ms: c.rto_ms,
            cwnd: c.cwnd,
            retransmits: c.retransmits,
            cc: c.congestion.map(|a| a.name().to_string()),
        }
    }
}

/// The answer to one `ping` request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PingJson {
    pub rtt_us: u64,
    pub ttl: u8,
    /// ICMP bytes, header included, like ping's "64 bytes from".
    pub bytes: usize,
}

impl From<PingReply> for PingJson {
    fn from(r: PingReply) -> Self {
        PingJson {
            rtt_us: r.rtt_us,
            ttl: r.ttl,
            bytes: r.bytes,
        }
    }
}

/// A MAC address as `02:00:00:00:00:02`, or `null`.
mod mac_text {
    use super::*;

    pub fn serialize<S: Serializer>(mac: &Option<MacAddr>, s: S) -> Result<S::Ok, S::Error> {
        match mac {
            Some(m) => s.collect_str(m),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<MacAddr>, D::Error> {
        match Option::<String>::deserialize(d)? {
            Some(text) => text.parse().map(Some).map_err(serde::de::Error::custom),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stack::arp_cache::ArpState;
    use crate::stack::tcp::TcpState;
    use std::time::Duration;

    /// The transports are keyed by `SocketAddr` now; an IPv4 endpoint
    /// still prints as `a.b.c.d:port`, as `conns --json` always did.
    #[test]
    fn conns_json_prints_ipv4_endpoints_as_before() {
        use crate::stack::tcp::{Tcp, TcpConfig};
        let mut tcp = Tcp::new(TcpConfig::new(Ipv4Addr::new(10, 10, 0, 4), 1500, [0; 16]));
        tcp.listen(80).unwrap();
        let rows: Vec<ConnJson> = tcp.connections().iter().map(ConnJson::from).collect();
        let rows = serde_json::to_value(rows).unwrap();
        assert_eq!(rows[0]["local"], "10.10.0.4:80");
        assert_eq!(rows[0]["remote"], "0.0.0.0:0");
        assert_eq!(rows[0]["state_name"], "LISTEN");
    }

    #[test]
    fn neighbour_document_keeps_its_fields_and_round_trips() {
        let e = ArpEntry {
            ip: Ipv4Addr::new(10, 10, 0, 2),
            mac: Some(MacAddr([2, 0, 0, 0, 0, 2])),
            state: ArpState::Reachable,
            since_learned: Duration::from_millis(3050),
            since_confirmed: Duration::from_millis(1014),
            queued: 0,
        };
        let doc = NeighEntryJson::from(&e);
        let text = serde_json::to_string(&serde_json::to_value(&doc).unwrap()).unwrap();
        assert_eq!(
            text,
            r#"{"age_ms":1014,"ip":"10.10.0.2","learned_ms":3050,"mac":"02:00:00:00:00:02","queued":0,"state":"reachable"}"#
        );
        assert_eq!(serde_json::from_str::<NeighEntryJson>(&text).unwrap(), doc);
        let incomplete = NeighEntryJson {
            mac: None,
            ..doc.clone()
        };
        let text = serde_json::to_string(&incomplete).unwrap();
        assert!(text.contains(r#""mac":null"#), "{text}");
        assert_eq!(
            serde_json::from_str::<NeighEntryJson>(&text).unwrap(),
            incomplete
        );
        assert!(serde_json::from_str::<NeighEntryJson>(&text.replace("null", "\"x\"")).is_err());
    }

    #[test]
    fn connection_document_names_the_state_both_ways() {
        let v = ConnView {
            state: TcpState::Established,
            local: "10.10.0.4:7".parse().unwrap(),
            remote: "10.10.0.2:41234".parse().unwrap(),
            recv_q: 12,
            send_q: 1448,
            rto_ms: 201,
            cwnd: 14480,
            retransmits: 3,
            congestion: None,
        };
        let text =
            serde_json::to_string(&serde_json::to_value(ConnJson::from(&v)).unwrap()).unwrap();
        assert_eq!(
            text,
            r#"{"cwnd":14480,"local":"10.10.0.4:7","recv_q":12,"remote":"10.10.0.2:41234","retransmits":3,"rto_ms":201,"send_q":1448,"state":"Established","state_name":"ESTAB"}"#
        );
    }
}
