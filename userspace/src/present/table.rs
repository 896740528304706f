//! Aligned text tables for the CLI, like `ip neigh` and `ss -tan`.

use super::json::{ConnJson, NeighEntryJson};

/// The ARP cache, like `ip neigh`.
pub fn arp_table(entries: &[NeighEntryJson], iface: &str) -> String {
    let rows: Vec<[String; 5]> = entries
        .iter()
        .map(|e| {
            [
                e.ip.to_string(),
                iface.to_string(),
                e.mac.map_or_else(|| "-".to_string(), |m| m.to_string()),
                e.state.to_uppercase(),
                format!("{:.1}s", e.age_ms as f64 / 1000.0),
            ]
        })
        .collect();
    table(&["ADDRESS", "DEV", "LLADDR", "STATE", "AGE"], &rows)
}

/// TCP connections, like `ss -tan` (plus the congestion control
/// algorithm, retransmission timer, congestion window and retransmissions).
pub fn conns_table(conns: &[ConnJson]) -> String {
    let rows: Vec<[String; 9]> = conns
        .iter()
        .map(|c| {
            [
                c.state_name.clone(),
                c.recv_q.to_string(),
                c.send_q.to_string(),
                c.local.to_string(),
                c.remote.to_string(),
                c.cc.clone().unwrap_or_else(|| "-".to_string()),
                format!("{}ms", c.rto_ms),
                c.cwnd.to_string(),
                c.retransmits.to_string(),
            ]
        })
        .collect();
    table(
        &[
            "STATE",
            "RECV-Q",
            "SEND-Q",
            "LOCAL ADDRESS:PORT",
            "PEER ADDRESS:PORT",
            "CC",
            "RTO",
            "CWND",
            "RETRANS",
        ],
        &rows,
    )
}

/// `XDP mode: skb (why)`; nothing when the daemon did not say (an older one).
pub fn mode_line(mode: Option<&str>, reason: Option<&str>) -> String {
    match mode {
        Some(mode) => format!("XDP mode: {mode} ({})\n", reason.unwrap_or("-")),
        None => String::new(),
    }
}

/// Counters with their rate per second since `previous` (same names,
/// `secs` earlier), when there is one.
pub fn counters_table(
    values: &[(String, u64)],
    previous: Option<(f64, &[(String, u64)])>,
) -> String {
    let rows: Vec<[String; 3]> = values
        .iter()
        .map(|(k, v)| {
            let rate = previous.and_then(|(secs, prev)| {
                let old = prev.iter().find(|(pk, _)| pk == k)?.1;
                (secs > 0.0).then(|| format!("{:.0}/s", v.saturating_sub(old) as f64 / secs))
            });
            [k.clone(), v.to_string(), rate.unwrap_or_default()]
        })
        .collect();
    table(&["COUNTER", "VALUE", "RATE"], &rows)
}

/// Left-aligned columns separated by two spaces.
pub fn table<const N: usize>(header: &[&str; N], rows: &[[String; N]]) -> String {
    let mut widths = header.map(str::len);
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.len());
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<&str>| {
        let parts: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out.push_str(parts.join("  ").trim_end());
        out.push('\n');
    };
    line(header.to_vec());
    for r in rows {
        line(r.iter().map(String::as_str).collect());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arp_table_is_aligned() {
        let entries: Vec<NeighEntryJson> = serde_json::from_value(serde_json::json!([
            {"ip":"10.10.0.2","mac":"02:00:00:00:00:02","state":"reachable","age_ms":1500,"learned_ms":1500,"queued":0},
            {"ip":"10.10.0.100","mac":null,"state":"incomplete","age_ms":0,"learned_ms":0,"queued":1}
        ]))
        .unwrap();
        let t = arp_table(&entries, "veth-stack");
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("ADDRESS      DEV"));
        assert!(
            lines[1].contains("02:00:00:00:00:02")
                && lines[1].contains("REACHABLE")
                && lines[1].ends_with("1.5s")
        );
        assert!(lines[2].contains("INCOMPLETE"));
        // Columns line up: "DEV" starts where each row's device does.
        let col = lines[0].find("DEV").unwrap();
        assert_eq!(&lines[1][col..col + 10], "veth-stack");
    }

    #[test]
    fn conns_table_reads_like_ss() {
        let conns: Vec<ConnJson> = serde_json::from_value(serde_json::json!([
            {"state":"Listen","state_name":"LISTEN","local":"10.10.0.4:80","remote":"0.0.0.0:0",
             "recv_q":0,"send_q":0,"rto_ms":0,"cwnd":0,"retransmits":0},
            {"state":"Established","state_name":"ESTAB","local":"10.10.0.4:7","remote":"10.10.0.2:41234",
             "recv_q":12,"send_q":1448,"rto_ms":201,"cwnd":14480,"retransmits":3}
        ]))
        .unwrap();
        let t = conns_table(&conns);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("STATE   RECV-Q  SEND-Q  LOCAL ADDRESS:PORT"));
        assert!(lines[1].starts_with("LISTEN  0       0       10.10.0.4:80"));
        assert!(lines[2].starts_with("ESTAB   12      1448    10.10.0.4:7"));
        assert!(lines[2].contains("10.10.0.2:41234") && lines[2].ends_with("201ms  14480  3"));
    }

    #[test]
    fn mode_is_shown_and_not_a_counter() {
        assert_eq!(
            mode_line(Some("skb"), Some("eth0 is a veth")),
            "XDP mode: skb (eth0 is a veth)\n"
        );
        assert_eq!(mode_line(None, None), "");
        let v = serde_json::json!({"xdp_mode":"skb","xdp_mode_reason":"eth0 is a veth","xdp":{"arp_replied":1}});
        assert_eq!(
            super::super::counters::flatten(&v),
            vec![("xdp.arp_replied".into(), 1)]
        );
    }

    #[test]
    fn rates_come_from_the_previous_reading() {
        let before = vec![("a".to_string(), 10)];
        let now = vec![("a".to_string(), 30), ("b".to_string(), 1)];
        let t = counters_table(&now, Some((2.0, &before)));
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[1], "a        30     10/s");
        assert_eq!(lines[2], "b        1");
    }
}
