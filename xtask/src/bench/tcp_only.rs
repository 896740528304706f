//! `cargo xtask bench --only tcp [--quick]`: only the four TCP
//! bulk transfers (receive, send, both over the 1% lossy link), kernel and
//! xdpstack in turn each round, printed as a table; for working on the TCP
//! sender without the minutes of floods, RR and CRR. Writes no results.json.

use anyhow::Result;

use super::modes::{BenchLab, Mode};
use super::transport::{TcpBulk, TcpSend};
use super::BenchOptions;

/// Every counter of xdpstack's `stats --json`, flattened to dotted names
/// (none in kernel mode).
type Counters = serde_json::Map<String, serde_json::Value>;

fn tcp_counters(lab: &BenchLab, mode: Mode) -> Option<Counters> {
    fn flatten(
        prefix: &str,
        v: &serde_json::Value,
        out: &mut serde_json::Map<String, serde_json::Value>,
    ) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, v) in m {
                    let name = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    flatten(&name, v, out);
                }
            }
            serde_json::Value::Array(a) => {
                for (i, v) in a.iter().enumerate() {
                    flatten(&format!("{prefix}.{i}"), v, out);
                }
            }
            serde_json::Value::Number(_) => {
                out.insert(prefix.to_string(), v.clone());
            }
            _ => {}
        }
    }
    if mode == Mode::Kernel {
        return None;
    }
    let stats = lab.daemon_stats().ok()?;
    let mut out = Counters::new();
    flatten("", &stats, &mut out);
    Some(out)
}

/// Prints every xdpstack counter that moved between `a` and `b`.
fn moved(a: &Option<Counters>, b: &Option<Counters>, what: &str) {
    let (Some(a), Some(b)) = (a, b) else {
        return;
    };
    let moved: Vec<String> = b
        .iter()
        .filter_map(|(k, v)| {
            let d = v.as_u64()?.checked_sub(a.get(k)?.as_u64()?)?;
            (d > 0).then(|| format!("{k} {d}"))
        })
        .collect();
    println!(
        "       xdpstack counters during {what}: {}",
        moved.join(", ")
    );
}

pub fn run(binary: &std::path::Path, opts: &BenchOptions) -> Result<()> {
    let mut lab = BenchLab::new(binary, &opts.out_dir)?;
    println!(
        "{:<6} {:<9} {:<13} {:>9} {:>8} {:>9} {:>9}",
        "round", "mode", "transfer", "Mbit/s", "secs", "retrans", "timeouts"
    );
    for r in 0..opts.rounds {
        let mut order = Mode::TRANSPORT.to_vec();
        order.rotate_left(r as usize % Mode::TRANSPORT.len());
        for mode in order {
            super::check_interrupted()?;
            lab.set_mode(mode)?;
            let n = opts.tcp_bytes;
            let row = |what: &str, mbit: f64, secs: f64, rtx: u64, rto: Option<u64>| {
                let rto = rto.map_or("-".to_string(), |t| t.to_string());
                println!(
                    "{:<6} {:<9} {:<13} {:>9.0} {:>8.2} {:>9} {:>9}",
                    r + 1,
                    mode.name(),
                    what,
                    mbit,
                    secs,
                    rtx,
                    rto
                );
            };
            let bulk = |b: &TcpBulk| (b.mbit_s, b.elapsed_s, b.client_retransmits, None);
            let send = |s: &TcpSend| {
                (
                    s.mbit_s,
                    s.elapsed_s,
                    s.sender_retransmits,
                    Some(s.sender_timeouts),
                )
            };
            let b = lab.with_client_peer(|| lab.tcp_bulk(mode, n))?;
            let (m, s, x, t) = bulk(&b);
            row("receive", m, s, x, t);
            let b = lab.with_client_peer(|| lab.tcp_send(mode, n))?;
            let (m, s, x, t) = send(&b);
            row("send", m, s, x, t);
            let before = tcp_counters(&lab, mode);
            let b = lab.with_client_peer(|| lab.with_lossy_link(|| lab.tcp_bulk(mode, n)))?;
            let (m, s, x, t) = bulk(&b);
            row("receive 1%", m, s, x, t);
            moved(&before, &tcp_counters(&lab, mode), "receive 1%");
            let before = tcp_counters(&lab, mode);
            let b = lab.with_client_peer(|| lab.with_lossy_link(|| lab.tcp_send(mode, n)))?;
            let (m, s, x, t) = send(&b);
            row("send 1%", m, s, x, t);
            moved(&before, &tcp_counters(&lab, mode), "send 1%");
        }
    }
    Ok(())
}
