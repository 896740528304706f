//! The CLI commands that talk to a running daemon: `arp`, `stats`, `conns`,
//! `ping`.

use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde_json::Value;

use super::client::Client;
use super::Request;
use crate::cli::{ArpAction, ArpArgs, ConnsArgs, PingArgs, StatsArgs};

pub fn arp(args: ArpArgs) -> Result<()> {
    let mut client = Client::connect(&args.target.control_dir, args.target.iface.as_deref())?;
    match args.action {
        Some(ArpAction::Add { ip, mac }) => {
            client.call(&Request::ArpAdd {
                ip,
                mac: mac.to_string(),
            })?;
        }
        Some(ArpAction::Del { ip }) => {
            client.call(&Request::ArpDel { ip })?;
        }
        Some(ArpAction::Flush) => {
            client.call(&Request::ArpFlush {})?;
        }
        None => {
            let entries = client.call(&Request::Arp {})?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&entries)?);
            } else {
                print!("{}", arp_table(&entries, &client.iface));
            }
        }
    }
    Ok(())
}

/// The cache as an aligned table, like `ip neigh`.
pub fn arp_table(entries: &Value, iface: &str) -> String {
    let rows: Vec<[String; 5]> = entries
        .as_array()
        .map(|a| a.as_slice())
        .unwrap_or_default()
        .iter()
        .map(|e| {
            let s = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or("-").to_string();
            let age = e.get("age_ms").and_then(Value::as_u64).unwrap_or(0);
            [
                s("ip"),
                iface.to_string(),
                s("mac"),
                s("state").to_uppercase(),
                format!("{:.1}s", age as f64 / 1000.0),
            ]
        })
        .collect();
    table(&["ADDRESS", "DEV", "LLADDR", "STATE", "AGE"], &rows)
}

pub fn conns(args: ConnsArgs) -> Result<()> {
    let mut client = Client::connect(&args.target.control_dir, args.target.iface.as_deref())?;
    let conns = client.call(&Request::Conns {})?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&conns)?);
    } else {
        print!("{}", conns_table(&conns));
    }
    Ok(())
}

/// TCP connections as an aligned table, like `ss -tan` (plus the
/// retransmission timer, congestion window and retransmissions).
pub fn conns_table(conns: &Value) -> String {
    let rows: Vec<[String; 8]> = conns
        .as_array()
        .map(|a| a.as_slice())
        .unwrap_or_default()
        .iter()
        .map(|c| {
            let s = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or("-").to_string();
            let n = |k: &str| c.get(k).and_then(Value::as_u64).unwrap_or(0).to_string();
            [
                s("state_name"),
                n("recv_q"),
                n("send_q"),
                s("local"),
                s("remote"),
                format!("{}ms", n("rto_ms")),
                n("cwnd"),
                n("retransmits"),
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
            "RTO",
            "CWND",
            "RETRANS",
        ],
        &rows,
    )
}

pub fn stats(args: StatsArgs) -> Result<()> {
    let mut client = Client::connect(&args.target.control_dir, args.target.iface.as_deref())?;
    let mut previous: Option<(Instant, Vec<(String, u64)>)> = None;
    loop {
        let data = client.call(&Request::Stats {})?;
        let now = Instant::now();
        let values = flatten_counters(&data);
        if args.json {
            println!("{}", serde_json::to_string(&data)?);
        } else {
            if args.watch {
                // Clear the screen and go home, like `watch`.
                print!("\x1b[2J\x1b[H");
            }
            print!("{}", mode_line(&data));
            let rows: Vec<[String; 3]> = values
                .iter()
                .map(|(k, v)| {
                    let rate = previous.as_ref().and_then(|(t, prev)| {
                        let old = prev.iter().find(|(pk, _)| pk == k)?.1;
                        let secs = now.duration_since(*t).as_secs_f64();
                        (secs > 0.0)
                            .then(|| format!("{:.0}/s", v.saturating_sub(old) as f64 / secs))
                    });
                    [k.clone(), v.to_string(), rate.unwrap_or_default()]
                })
                .collect();
            print!("{}", table(&["COUNTER", "VALUE", "RATE"], &rows));
        }
        std::io::stdout().flush()?;
        if !args.watch {
            return Ok(());
        }
        previous = Some((now, values));
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// `XDP mode: skb (why)`, from the daemon's stats answer (none from an
/// older daemon that does not say).
pub fn mode_line(data: &Value) -> String {
    match data.get("xdp_mode").and_then(Value::as_str) {
        Some(mode) => {
            let why = data
                .get("xdp_mode_reason")
                .and_then(Value::as_str)
                .unwrap_or("-");
            format!("XDP mode: {mode} ({why})\n")
        }
        None => String::new(),
    }
}

/// `{"xdp":{"a":1},"stack":{"b":2},"xsk":[{..}]}` -> `xdp.a 1`, `stack.b 2`, ...
pub fn flatten_counters(data: &Value) -> Vec<(String, u64)> {
    fn walk(prefix: &str, v: &Value, out: &mut Vec<(String, u64)>) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&key, v, out);
                }
            }
            Value::Array(a) => {
                for (i, v) in a.iter().enumerate() {
                    walk(&format!("{prefix}.{i}"), v, out);
                }
            }
            Value::Number(n) => out.push((prefix.to_string(), n.as_u64().unwrap_or(0))),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk("", data, &mut out);
    out
}

pub fn ping(args: PingArgs) -> Result<()> {
    let mut client = Client::connect(&args.target.control_dir, args.target.iface.as_deref())?;
    let interval =
        Duration::try_from_secs_f64(args.interval.max(0.001)).context("bad --interval")?;
    let timeout_ms = (args.timeout.max(0.001) * 1000.0) as u64;
    println!(
        "PING {} {} data bytes (from xdpstack on {})",
        args.dst, args.size, client.iface
    );
    let started = Instant::now();
    let mut rtts: Vec<f64> = Vec::new();
    for i in 0..args.count {
        let seq = (i + 1) as u16;
        let sent_at = Instant::now();
        match client.call(&Request::Ping {
            dst: args.dst,
            size: args.size,
            seq,
            timeout_ms,
        }) {
            Ok(r) => {
                let rtt_ms = r.get("rtt_us").and_then(Value::as_f64).unwrap_or(0.0) / 1000.0;
                let ttl = r.get("ttl").and_then(Value::as_u64).unwrap_or(0);
                let bytes = r.get("bytes").and_then(Value::as_u64).unwrap_or(0);
                println!(
                    "{bytes} bytes from {}: icmp_seq={seq} ttl={ttl} time={rtt_ms:.3} ms",
                    args.dst
                );
                rtts.push(rtt_ms);
            }
            Err(e) => println!("From xdpstack icmp_seq={seq}: {e:#}"),
        }
        if i + 1 < args.count {
            std::thread::sleep(interval.saturating_sub(sent_at.elapsed()));
        }
    }
    let sent = args.count as usize;
    let received = rtts.len();
    let loss = if sent == 0 {
        0.0
    } else {
        100.0 * (sent - received) as f64 / sent as f64
    };
    println!("\n--- {} ping statistics ---", args.dst);
    println!(
        "{sent} packets transmitted, {received} received, {loss:.0}% packet loss, time {}ms",
        started.elapsed().as_millis()
    );
    if !rtts.is_empty() {
        let min = rtts.iter().cloned().fold(f64::INFINITY, f64::min);
        let max = rtts.iter().cloned().fold(0.0, f64::max);
        let avg = rtts.iter().sum::<f64>() / received as f64;
        let mdev = (rtts.iter().map(|r| (r - avg).powi(2)).sum::<f64>() / received as f64).sqrt();
        println!("rtt min/avg/max/mdev = {min:.3}/{avg:.3}/{max:.3}/{mdev:.3} ms");
    }
    if received == 0 {
        anyhow::bail!("no reply from {}", args.dst);
    }
    Ok(())
}

/// Left-aligned columns separated by two spaces.
fn table<const N: usize>(header: &[&str; N], rows: &[[String; N]]) -> String {
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
        let entries = serde_json::json!([
            {"ip":"10.10.0.2","mac":"02:00:00:00:00:02","state":"reachable","age_ms":1500},
            {"ip":"10.10.0.100","mac":null,"state":"incomplete","age_ms":0}
        ]);
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
        let conns = serde_json::json!([
            {"state":"Listen","state_name":"LISTEN","local":"10.10.0.4:80","remote":"0.0.0.0:0",
             "recv_q":0,"send_q":0,"rto_ms":0,"cwnd":0,"retransmits":0},
            {"state":"Established","state_name":"ESTAB","local":"10.10.0.4:7","remote":"10.10.0.2:41234",
             "recv_q":12,"send_q":1448,"rto_ms":201,"cwnd":14480,"retransmits":3}
        ]);
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
        let v = serde_json::json!({"xdp_mode":"skb","xdp_mode_reason":"eth0 is a veth","xdp":{"arp_replied":1}});
        assert_eq!(mode_line(&v), "XDP mode: skb (eth0 is a veth)\n");
        assert_eq!(flatten_counters(&v), vec![("xdp.arp_replied".into(), 1)]);
        assert_eq!(mode_line(&serde_json::json!({})), "");
    }

    #[test]
    fn counters_flatten_with_paths() {
        let v = serde_json::json!({"xdp":{"arp_replied":3},"xsk":[{"rx_frames":2}]});
        assert_eq!(
            flatten_counters(&v),
            vec![("xdp.arp_replied".into(), 3), ("xsk.0.rx_frames".into(), 2)]
        );
    }

    #[test]
    fn kernel_socket_counters_flatten_under_the_socket() {
        let v =
            serde_json::json!({"xsk":[{"rx_frames":2,"kernel":{"rx_dropped":7,"rx_ring_full":0}}]});
        assert_eq!(
            flatten_counters(&v),
            vec![
                ("xsk.0.kernel.rx_dropped".into(), 7),
                ("xsk.0.kernel.rx_ring_full".into(), 0),
                ("xsk.0.rx_frames".into(), 2),
            ]
        );
    }
}
