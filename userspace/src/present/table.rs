//! Aligned text tables for the CLI, like `ip neigh` and `ss -tan`.

use super::json::{ConnJson, NeighEntryJson, StatusReply};

/// The ARP cache, like `ip neigh`.
pub fn arp_table(entries: &[NeighEntryJson]) -> String {
    let rows: Vec<[String; 5]> = entries
        .iter()
        .map(|e| {
            [
                e.dst.to_string(),
                e.dev.clone(),
                e.lladdr.map_or_else(|| "-".to_string(), |m| m.to_string()),
                e.state.join(","),
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
                c.state.clone(),
                c.recv_q.to_string(),
                c.send_q.to_string(),
                c.local.to_string(),
                c.peer.to_string(),
                c.cc.clone().unwrap_or_else(|| "-".to_string()),
                format!("{}ms", c.rto_ms),
                c.cwnd_bytes.to_string(),
                c.retrans.to_string(),
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

/// Running daemons, one row each, like `xdp-loader status`; programs of
/// others on an interface follow their row.
pub fn status_table(rows: &[StatusReply]) -> String {
    let cells: Vec<[String; 10]> = rows
        .iter()
        .map(|r| {
            [
                r.iface.clone(),
                // `ip -br addr`'s way: every address in one column.
                std::iter::once(&r.ip)
                    .chain(&r.ip6)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(" "),
                r.xdp_mode.clone(),
                r.prog_id.map_or_else(|| "-".into(), |id| id.to_string()),
                r.queues.to_string(),
                uptime(r.uptime_s),
                if r.fastpath { "on" } else { "off" }.to_string(),
                if r.services.is_empty() {
                    "-".to_string()
                } else {
                    r.services.join(",")
                },
                r.control.clone(),
                r.metrics.clone().unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    let mut out = table(
        &[
            "IFACE", "ADDRESS", "MODE", "PROG", "QUEUES", "UPTIME", "FASTPATH", "SERVICES",
            "CONTROL", "METRICS",
        ],
        &cells,
    );
    for r in rows {
        for p in &r.other_xdp {
            out.push_str(&format!(
                "{}: also XDP program {} ({} mode), not xdpstack's\n",
                r.iface, p.id, p.mode
            ));
        }
    }
    out
}

/// `1d 02:03:04`, or `02:03:04` under a day.
fn uptime(s: u64) -> String {
    let hms = format!("{:02}:{:02}:{:02}", s / 3600 % 24, s / 60 % 60, s % 60);
    if s >= 86_400 {
        format!("{}d {hms}", s / 86_400)
    } else {
        hms
    }
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
            {"dst":"10.10.0.2","dev":"veth-stack","lladdr":"02:00:00:00:00:02","state":["REACHABLE"],"age_ms":1500,"learned_ms":1500,"queued":0},
            {"dst":"10.10.0.100","dev":"veth-stack","state":["INCOMPLETE"],"age_ms":0,"learned_ms":0,"queued":1}
        ]))
        .unwrap();
        let t = arp_table(&entries);
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
            {"state":"LISTEN","local":"10.10.0.4:80","peer":"0.0.0.0:0",
             "recv_q":0,"send_q":0,"rto_ms":0,"cwnd_bytes":0,"retrans":0},
            {"state":"ESTAB","local":"10.10.0.4:7","peer":"10.10.0.2:41234",
             "recv_q":12,"send_q":1448,"rto_ms":201,"cwnd_bytes":14480,"retrans":3}
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
    fn status_shows_the_ipv6_addresses_beside_the_ipv4_one() {
        let r = StatusReply {
            iface: "veth0".into(),
            ip: "10.10.0.4/24".into(),
            ip6: vec!["fd00:10:10::4/64".into(), "fe80::4/64".into()],
            ..StatusReply::default()
        };
        let t = status_table(&[r]);
        assert!(
            t.contains("10.10.0.4/24 fd00:10:10::4/64 fe80::4/64"),
            "{t}"
        );
    }

    #[test]
    fn status_lists_each_daemon_and_foreign_programs() {
        let row = |iface: &str, up| StatusReply {
            iface: iface.into(),
            ip: "10.10.0.4/24".into(),
            xdp_mode: "skb".into(),
            prog_id: Some(77),
            queues: 1,
            uptime_s: up,
            fastpath: true,
            services: vec!["echo".into(), "http".into()],
            control: format!("/run/xdpstack/{iface}.sock"),
            ..StatusReply::default()
        };
        let mut b = row("veth-b", 90_061);
        b.other_xdp.push(super::super::json::XdpProgram {
            id: 9,
            mode: "native".into(),
        });
        let t = status_table(&[row("veth-a", 61), b]);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 4, "{t}");
        assert!(lines[0].starts_with("IFACE   ADDRESS       MODE  PROG  QUEUES  UPTIME"));
        assert!(lines[1].starts_with("veth-a  10.10.0.4/24  skb   77    1       00:01:01"));
        assert!(lines[1].contains("  on  ") && lines[1].ends_with("/run/xdpstack/veth-a.sock  -"));
        assert!(lines[2].contains("1d 01:01:01"));
        assert_eq!(
            lines[3],
            "veth-b: also XDP program 9 (native mode), not xdpstack's"
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
