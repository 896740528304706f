//! The JSON documents of the control protocol, which `xdpstack arp --json`,
//! `conns --json` and `ping` read back: the daemon serializes these types
//! and the CLI deserializes the same ones.

use std::net::{IpAddr, SocketAddr};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::names;
use crate::stack::arp_cache::ArpEntry;
use crate::stack::ndp_cache::NdpEntry;
use crate::stack::tcp::ConnView;
use crate::stack::PingReply;
use crate::wire::MacAddr;

/// One neighbour (ARP cache entry), as `xdpstack arp --json` prints it:
/// the keys and shapes of `ip -j neigh` (`dst`, `dev`, `lladdr`, `state`
/// as a list of upper-case names), then xdpstack's own fields.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NeighEntryJson {
    pub dst: IpAddr,
    pub dev: String,
    /// Absent while incomplete or failed, as in `ip -j neigh`.
    #[serde(with = "mac_text", default, skip_serializing_if = "Option::is_none")]
    pub lladdr: Option<MacAddr>,
    /// `["REACHABLE"]`: one of INCOMPLETE, REACHABLE, STALE, DELAY, PROBE
    /// (IPv6 only), FAILED, PERMANENT.
    pub state: Vec<String>,
    /// Milliseconds since the entry was last confirmed. This and the two
    /// below are xdpstack's own; absent (0) when reading `ip -j neigh`.
    #[serde(default)]
    pub age_ms: u64,
    /// Milliseconds since its address was learned.
    #[serde(default)]
    pub learned_ms: u64,
    /// Packets waiting for resolution.
    #[serde(default)]
    pub queued: usize,
}

impl NeighEntryJson {
    /// The entry `e` of the cache of the daemon serving `dev`.
    pub fn new(e: &ArpEntry, dev: &str) -> Self {
        NeighEntryJson {
            dst: e.ip.into(),
            dev: dev.to_string(),
            lladdr: e.mac,
            state: vec![names::arp_state(e.state).to_uppercase()],
            age_ms: e.since_confirmed.as_millis() as u64,
            learned_ms: e.since_learned.as_millis() as u64,
            queued: e.queued,
        }
    }
}

impl NeighEntryJson {
    /// The IPv6 neighbour `e` of the daemon serving `dev`.
    pub fn from_ndp(e: &NdpEntry, dev: &str) -> Self {
        NeighEntryJson {
            dst: e.ip.into(),
            dev: dev.to_string(),
            lladdr: e.mac,
            state: vec![e.state.to_string()],
            age_ms: e.since_confirmed.as_millis() as u64,
            learned_ms: e.since_learned.as_millis() as u64,
            queued: e.queued,
        }
    }
}

/// One row of `xdpstack conns --json`, named as `ss -tani` names its
/// columns and fields (`state` ESTAB, `recv_q`, `send_q`, `local`, `peer`,
/// `retrans`), units in the names where `ss` leaves them implied.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnJson {
    /// The state as `ss` names it (`ESTAB`, `TIME-WAIT`).
    pub state: String,
    /// Bytes received, not yet read (LISTEN: connections waiting for accept).
    pub recv_q: usize,
    /// Bytes not yet acknowledged (LISTEN: the backlog).
    pub send_q: usize,
    pub local: SocketAddr,
    pub peer: SocketAddr,
    pub rto_ms: u64,
    /// The congestion window in bytes (`ss` shows segments).
    pub cwnd_bytes: u32,
    /// The slow start threshold (`ss -ti`'s ssthresh, in bytes); absent
    /// until a loss set one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssthresh_bytes: Option<u32>,
    /// The smoothed round-trip time (`ss -ti`'s rtt); absent before a
    /// sample.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtt_us: Option<u64>,
    pub retrans: u64,
    /// The congestion control algorithm (`cubic`, `reno`); absent for a
    /// listener and from an older daemon.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cc: Option<String>,
}

impl From<&ConnView> for ConnJson {
    fn from(c: &ConnView) -> Self {
        ConnJson {
            state: names::tcp_state(c.state).to_string(),
            recv_q: c.recv_q,
            send_q: c.send_q,
            local: c.local,
            peer: c.remote,
            rto_ms: c.rto_ms,
            cwnd_bytes: c.cwnd,
            ssthresh_bytes: c.ssthresh,
            rtt_us: c.srtt_us,
            retrans: c.retransmits,
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

/// The answer to `status`: one row of `xdpstack status`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct StatusReply {
    pub iface: String,
    /// Our address with its prefix length.
    pub ip: String,
    /// Our IPv6 addresses with their prefix lengths (`--ip6` and the
    /// link-local one); absent without IPv6.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ip6: Vec<String>,
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
    use std::net::Ipv4Addr;
    use std::time::Duration;

    #[test]
    fn ipv6_neighbour_row_has_ip_neigh_keys() {
        let e = NdpEntry {
            ip: "fd00:10:10::2".parse().unwrap(),
            mac: Some(MacAddr([2, 0, 0, 0, 0, 2])),
            state: crate::stack::ndp_cache::NdpState::Delay,
            router: false,
            since_learned: Duration::from_millis(20),
            since_confirmed: Duration::from_millis(10),
            queued: 0,
        };
        let v = serde_json::to_value(NeighEntryJson::from_ndp(&e, "veth0")).unwrap();
        assert_eq!(v["dst"], "fd00:10:10::2");
        assert_eq!(v["dev"], "veth0");
        assert_eq!(v["lladdr"], "02:00:00:00:00:02");
        assert_eq!(v["state"], serde_json::json!(["DELAY"]));
    }

    /// The transports are keyed by `SocketAddr`; an IPv4 endpoint prints
    /// as `a.b.c.d:port`, as `ss` shows it.
    #[test]
    fn conns_json_prints_ipv4_endpoints_as_before() {
        use crate::stack::tcp::{Tcp, TcpConfig};
        let mut tcp = Tcp::new(TcpConfig::new(Ipv4Addr::new(10, 10, 0, 4), 1500, [0; 16]));
        tcp.listen(80).unwrap();
        let rows: Vec<ConnJson> = tcp.connections().iter().map(ConnJson::from).collect();
        let rows = serde_json::to_value(rows).unwrap();
        assert_eq!(rows[0]["local"], "10.10.0.4:80");
        assert_eq!(rows[0]["peer"], "0.0.0.0:0");
        assert_eq!(rows[0]["state"], "LISTEN");
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
        let doc = NeighEntryJson::new(&e, "veth-stack");
        let text = serde_json::to_string(&serde_json::to_value(&doc).unwrap()).unwrap();
        assert_eq!(
            text,
            r#"{"age_ms":1014,"dev":"veth-stack","dst":"10.10.0.2","learned_ms":3050,"lladdr":"02:00:00:00:00:02","queued":0,"state":["REACHABLE"]}"#
        );
        assert_eq!(serde_json::from_str::<NeighEntryJson>(&text).unwrap(), doc);
        let incomplete = NeighEntryJson {
            lladdr: None,
            state: vec!["INCOMPLETE".into()],
            ..doc.clone()
        };
        // No lladdr at all while unresolved, as `ip -j neigh` prints it.
        let text = serde_json::to_string(&incomplete).unwrap();
        assert!(!text.contains("lladdr"), "{text}");
        assert_eq!(
            serde_json::from_str::<NeighEntryJson>(&text).unwrap(),
            incomplete
        );
        let bad = text.replace(r#""dev""#, r#""lladdr":"x","dev""#);
        assert!(serde_json::from_str::<NeighEntryJson>(&bad).is_err());
    }

    #[test]
    fn connection_document_reads_like_ss() {
        let v = ConnView {
            state: TcpState::Established,
            local: "10.10.0.4:7".parse().unwrap(),
            remote: "10.10.0.2:41234".parse().unwrap(),
            recv_q: 12,
            send_q: 1448,
            rto_ms: 201,
            cwnd: 14480,
            ssthresh: None,
            srtt_us: None,
            retransmits: 3,
            congestion: None,
        };
        let text =
            serde_json::to_string(&serde_json::to_value(ConnJson::from(&v)).unwrap()).unwrap();
        assert_eq!(
            text,
            r#"{"cwnd_bytes":14480,"local":"10.10.0.4:7","peer":"10.10.0.2:41234","recv_q":12,"retrans":3,"rto_ms":201,"send_q":1448,"state":"ESTAB"}"#
        );
        // Once measured, the round trip and the threshold, as `ss -ti`.
        let v = ConnView {
            ssthresh: Some(20272),
            srtt_us: Some(95),
            ..v
        };
        let json = serde_json::to_value(ConnJson::from(&v)).unwrap();
        assert_eq!(json["rtt_us"], 95);
        assert_eq!(json["ssthresh_bytes"], 20272);
    }
}
