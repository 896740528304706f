//! One view of every shard: what `xdpstack stats`, `conns`, `arp` and the
//! metrics show, merged from each shard's own snapshot.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::services::ServicesStats;
use crate::stack::arp_cache::ArpEntry;
use crate::stack::ndp_cache::NdpEntry;
use crate::stack::tcp::{ConnView, TcpState};
use crate::stack::StackStats;

/// Adds `b`'s numbers into `a`, field by field (objects recursively; a
/// field only `b` has is copied).
fn add_json(a: &mut Value, b: &Value) {
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, bv) in b {
                match a.get_mut(k) {
                    Some(av) => add_json(av, bv),
                    None => {
                        a.insert(k.clone(), bv.clone());
                    }
                }
            }
        }
        (a @ Value::Number(_), Value::Number(y)) => {
            if let (Some(x), Some(y)) = (a.as_u64(), y.as_u64()) {
                *a = Value::from(x.saturating_add(y));
            }
        }
        (a @ Value::Null, b) => *a = b.clone(),
        _ => {}
    }
}

/// The field-by-field sum of counter structs (every counter of the stack
/// and the services is a u64 that adds up across shards).
fn sum<T: Serialize + DeserializeOwned + Default>(parts: &[T]) -> T {
    let mut acc = Value::Null;
    for p in parts {
        match serde_json::to_value(p) {
            Ok(v) => add_json(&mut acc, &v),
            Err(_) => continue,
        }
    }
    serde_json::from_value(acc).unwrap_or_default()
}

/// Every shard's stack counters added up, except what is replicated in
/// every shard rather than split between them: the neighbour table and
/// the bound UDP ports (every shard binds the services'), whose gauges are
/// the largest of any shard's.
pub fn stack_stats(parts: &[StackStats]) -> StackStats {
    let mut s: StackStats = sum(parts);
    s.arp_entries = parts.iter().map(|p| p.arp_entries).max().unwrap_or(0);
    s.ndp_entries = parts.iter().map(|p| p.ndp_entries).max().unwrap_or(0);
    s.udp.sockets = parts.iter().map(|p| p.udp.sockets).max().unwrap_or(0);
    s
}

pub fn services_stats(parts: &[ServicesStats]) -> ServicesStats {
    sum(parts)
}

/// One row per neighbour: the replicas hold the same bindings, so the
/// entry that has a MAC and was confirmed last wins; packets waiting for
/// it add up (each shard queues its own).
pub fn arp_entries(parts: Vec<Vec<ArpEntry>>) -> Vec<ArpEntry> {
    one_per_neighbour(
        parts,
        |e: &ArpEntry| (e.ip, e.mac.is_some(), e.since_confirmed),
        |e| &mut e.queued,
    )
}

/// The IPv6 neighbour caches, merged as [`arp_entries`] merges ARP's.
pub fn ndp_entries(parts: Vec<Vec<NdpEntry>>) -> Vec<NdpEntry> {
    one_per_neighbour(
        parts,
        |e: &NdpEntry| (e.ip, e.mac.is_some(), e.since_confirmed),
        |e| &mut e.queued,
    )
}

/// `key` gives an entry's address, whether it has a MAC and how long ago
/// it was confirmed; `queued` its count of waiting packets.
fn one_per_neighbour<E, A: Ord>(
    parts: Vec<Vec<E>>,
    key: impl Fn(&E) -> (A, bool, Duration),
    queued: impl Fn(&mut E) -> &mut usize,
) -> Vec<E> {
    let mut by_ip: BTreeMap<A, E> = BTreeMap::new();
    for mut e in parts.into_iter().flatten() {
        let (ip, has_mac, since) = key(&e);
        match by_ip.get_mut(&ip) {
            None => {
                by_ip.insert(ip, e);
            }
            Some(have) => {
                let (_, had_mac, had_since) = key(have);
                let total = *queued(have) + *queued(&mut e);
                let better = (has_mac && !had_mac) || (has_mac == had_mac && since < had_since);
                if better {
                    *have = e;
                }
                *queued(have) = total;
            }
        }
    }
    by_ip.into_values().collect()
}

/// Every shard's connections, and each listener once (they are
/// replicated: its queue lengths add up), sorted as one stack sorts them.
pub fn connections(parts: Vec<Vec<ConnView>>) -> Vec<ConnView> {
    let mut out: Vec<ConnView> = Vec::new();
    for v in parts.into_iter().flatten() {
        if v.state == TcpState::Listen {
            if let Some(l) = out
                .iter_mut()
                .find(|l| l.state == TcpState::Listen && l.local == v.local)
            {
                l.recv_q += v.recv_q;
                l.send_q += v.send_q;
                continue;
            }
        }
        out.push(v);
    }
    out.sort_by_key(|r| (r.local.port(), r.remote.ip(), r.remote.port()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stack::arp_cache::ArpState;
    use crate::wire::MacAddr;
    use std::net::Ipv4Addr;

    #[test]
    fn counters_add_up_and_replicated_gauges_do_not() {
        let mut a = StackStats::default();
        a.stack.rx_frames = 3;
        a.tcp.segments_received = 10;
        a.arp_entries = 2;
        a.udp.sockets = 4;
        let mut b = StackStats::default();
        b.stack.rx_frames = 4;
        b.tcp.segments_received = 1;
        b.arp_entries = 3;
        b.udp.sockets = 4;
        let m = stack_stats(&[a, b]);
        assert_eq!((m.stack.rx_frames, m.tcp.segments_received), (7, 11));
        assert_eq!((m.arp_entries, m.udp.sockets), (3, 4));
        assert_eq!(stack_stats(&[]).stack.rx_frames, 0);
    }

    #[test]
    fn services_add_up_and_absent_ones_stay_absent() {
        let mut a = ServicesStats {
            echo: Some(Default::default()),
            ..Default::default()
        };
        if let Some(e) = a.echo.as_mut() {
            e.udp_datagrams = 2;
        }
        let b = a.clone();
        let m = services_stats(&[a, b]);
        assert_eq!(m.echo.map(|e| e.udp_datagrams), Some(4));
        assert!(m.http.is_none());
    }

    fn entry(ip: [u8; 4], mac: Option<u8>, confirmed_ms: u64, queued: usize) -> ArpEntry {
        ArpEntry {
            ip: Ipv4Addr::from(ip),
            mac: mac.map(|m| MacAddr([2, 0, 0, 0, 0, m])),
            state: if mac.is_some() {
                ArpState::Reachable
            } else {
                ArpState::Incomplete
            },
            since_learned: Duration::from_millis(confirmed_ms),
            since_confirmed: Duration::from_millis(confirmed_ms),
            queued,
        }
    }

    #[test]
    fn neighbours_appear_once_with_the_freshest_binding() {
        let got = arp_entries(vec![
            vec![
                entry([10, 0, 0, 2], None, 0, 1),
                entry([10, 0, 0, 3], Some(3), 500, 0),
            ],
            vec![
                entry([10, 0, 0, 2], Some(2), 90, 0),
                entry([10, 0, 0, 3], Some(3), 100, 0),
            ],
        ]);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].mac, Some(MacAddr([2, 0, 0, 0, 0, 2])));
        assert_eq!(got[0].queued, 1);
        assert_eq!(got[1].since_confirmed, Duration::from_millis(100));
    }
}
