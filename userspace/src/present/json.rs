//! The JSON documents of the control protocol, which `xdpstack arp --json`,
//! `conns --json` and `ping` read back: the daemon serializes these types
//! and the CLI deserializes the same ones.

use std::net::{Ipv4Addr, SocketAddrV4};

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
    pub local: SocketAddrV4,
    pub remote: SocketAddrV4,
    /// Bytes received, not yet read (LISTEN: connections waiting for accept).
    pub recv_q: usize,
    /// Bytes not yet acknowledged (LISTEN: the backlog).
    pub send_q: usize,
    pub rto_ms: u64,
    pub cwnd: u32,
    pub retransmits: u64,
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

/// The answer to `status`: one row of `xdpstack status`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct StatusReply {
    pub iface: String,
    /// Our address with its prefix length.
    pub ip: String,
    pub mac: String,
    pub xdp_mode: String,
    pub xdp_mode_reason: String,
    /// The XDP program's id, as `bpftool prog` and `ip link` show it.
    pub prog_id: Option<u32>,
    pub queues: u32,
    pub uptime_s: u64,
    pub fastpath: bool,
    pub services: Vec<String>,
    /// The control socket's path.
    pub control: String,
    /// The `--metrics` address, when serving one.
    pub metrics: Option<String>,
    pub pid: u32,
    /// XDP programs on the interface that are not this daemon's (filled by
    /// `xdpstack status --iface`, from rtnetlink, not by the daemon).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub other_xdp: Vec<XdpProgram>,
}

/// One XDP program attached to an interface.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct XdpProgram {
    pub id: u32,
    /// `native`, `skb` or `offload`.
    pub mode: String,
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
        };
        let text =
            serde_json::to_string(&serde_json::to_value(ConnJson::from(&v)).unwrap()).unwrap();
        assert_eq!(
            text,
            r#"{"cwnd":14480,"local":"10.10.0.4:7","recv_q":12,"remote":"10.10.0.2:41234","retransmits":3,"rto_ms":201,"send_q":1448,"state":"Established","state_name":"ESTAB"}"#
        );
    }
}
