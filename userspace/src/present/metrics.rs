//! Prometheus exposition (OpenMetrics text) of one stats snapshot, built
//! with `prometheus-client` from the same typed reply `xdpstack stats` reads
//! and named by the same walk (`counters::classify`): counters are
//! `xdpstack_<area>_<what>_total`, AF_XDP socket counters carry a `queue`
//! label, the XDP program's pass and slow-path verdicts a `reason` label.
//! A fresh registry per scrape: the values are copies taken under the
//! stack lock, the formatting happens after it is released.

use std::collections::BTreeMap;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};
use serde::Serialize;
use xdpstack_common::counters::Counter as XdpCounter;

use super::counters::{self, CounterName, SERVICE_AREAS};
use super::names;
use crate::stack::arp_cache::{ArpEntry, ArpState};
use crate::stack::tcp::{ConnView, TcpState};

/// The media type of what [`render`] writes.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// What a scrape shows besides the counters of the stats reply.
#[derive(Clone, Debug, Default)]
pub struct Extra {
    pub iface: String,
    /// `native` or `skb`.
    pub xdp_mode: String,
    /// The XDP program's id (`bpftool prog show id N`), when known.
    pub prog_id: Option<u32>,
    /// Neighbour entries by state, every state present (zeros included).
    pub neighbours: Vec<(&'static str, u64)>,
    /// TCP connections by state, every state present.
    pub connections: Vec<(&'static str, u64)>,
    pub process: Option<ProcessStats>,
}

/// Neighbour entries by state, as `ip neigh` names the states.
pub fn neighbour_states(entries: &[ArpEntry]) -> Vec<(&'static str, u64)> {
    [
        ArpState::Incomplete,
        ArpState::Reachable,
        ArpState::Stale,
        ArpState::Failed,
        ArpState::Permanent,
    ]
    .into_iter()
    .map(|s| {
        let n = entries.iter().filter(|e| e.state == s).count() as u64;
        (names::arp_state(s), n)
    })
    .collect()
}

/// TCP connections (listeners and TIME-WAIT included) by state, as `ss`
/// names them.
pub fn connection_states(views: impl Iterator<Item = ConnView>) -> Vec<(&'static str, u64)> {
    const ALL: [TcpState; 11] = [
        TcpState::Listen,
        TcpState::SynSent,
        TcpState::SynReceived,
        TcpState::Established,
        TcpState::FinWait1,
        TcpState::FinWait2,
        TcpState::CloseWait,
        TcpState::Closing,
        TcpState::LastAck,
        TcpState::TimeWait,
        TcpState::Closed,
    ];
    let mut counts = [0u64; ALL.len()];
    for v in views {
        if let Some(i) = ALL.iter().position(|s| *s == v.state) {
            counts[i] += 1;
        }
    }
    ALL.iter()
        .zip(counts)
        .map(|(s, n)| (names::tcp_state(*s), n))
        .collect()
}

/// The process's resident memory and CPU time, from /proc/self.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ProcessStats {
    pub resident_bytes: u64,
    pub cpu_seconds: f64,
}

impl ProcessStats {
    /// None when /proc cannot be read or parsed.
    pub fn read() -> Option<ProcessStats> {
        let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        // SAFETY: sysconf only reads a constant of the system.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        // SAFETY: as above.
        let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        Self::parse(&statm, &stat, page.max(1) as u64, ticks.max(1) as u64)
    }

    /// statm's second field is resident pages; stat's 14th and 15th
    /// (utime, stime, proc(5)) are clock ticks, counted after the `)` that
    /// ends the command name (which may hold spaces).
    fn parse(statm: &str, stat: &str, page: u64, ticks: u64) -> Option<ProcessStats> {
        let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
        let after = &stat[stat.rfind(')')? + 1..];
        let mut fields = after.split_whitespace().skip(11);
        let utime: u64 = fields.next()?.parse().ok()?;
        let stime: u64 = fields.next()?.parse().ok()?;
        Some(ProcessStats {
            resident_bytes: pages * page,
            cpu_seconds: (utime + stime) as f64 / ticks as f64,
        })
    }
}

type Labels = Vec<(String, String)>;

/// One metric name with its labelled values, before registration.
enum Series {
    Counter(Family<Labels, Counter>),
    Gauge(Family<Labels, Gauge>),
}

/// The exposition of `stats` (a stats reply: `xdp`, `stack`, `services`,
/// `xsk`) and `extra`.
pub fn render<T: Serialize + ?Sized>(stats: &T, extra: &Extra) -> String {
    let mut registry = Registry::with_prefix("xdpstack");
    // Name -> (help, series), in name order so the output is stable.
    let mut series: BTreeMap<String, (String, Series)> = BTreeMap::new();
    for (name, value) in counters::grouped(stats) {
        let (metric, labels, help) = metric_of(&name);
        let entry = series.entry(metric).or_insert_with(|| {
            let s = if name.gauge {
                Series::Gauge(Family::default())
            } else {
                Series::Counter(Family::default())
            };
            (help, s)
        });
        match &entry.1 {
            Series::Counter(f) => {
                f.get_or_create(&labels).inc_by(value);
            }
            Series::Gauge(f) => {
                f.get_or_create(&labels)
                    .set(i64::try_from(value).unwrap_or(i64::MAX));
            }
        }
    }
    for (metric, (help, s)) in series {
        match s {
            Series::Counter(f) => registry.register(metric, help, f),
            Series::Gauge(f) => registry.register(metric, help, f),
        }
    }

    let neigh = Family::<Labels, Gauge>::default();
    for (state, n) in &extra.neighbours {
        neigh
            .get_or_create(&vec![("state".into(), state.to_uppercase())])
            .set(*n as i64);
    }
    registry.register(
        "neighbours",
        "Neighbour (ARP) cache entries by state",
        neigh,
    );
    let conns = Family::<Labels, Gauge>::default();
    for (state, n) in &extra.connections {
        conns
            .get_or_create(&vec![("state".into(), state.to_string())])
            .set(*n as i64);
    }
    registry.register(
        "tcp_connections",
        "TCP connections, listeners and TIME-WAIT entries by state (as ss names them)",
        conns,
    );
    let mut info: Labels = vec![
        ("iface".into(), extra.iface.clone()),
        ("mode".into(), extra.xdp_mode.clone()),
    ];
    if let Some(id) = extra.prog_id {
        info.push(("prog_id".into(), id.to_string()));
    }
    // An info metric as a gauge of 1 (`node_uname_info`'s convention):
    // the classic text format, which promtool checks, has no `info` type.
    let xdp_info = Family::<Labels, Gauge>::default();
    xdp_info.get_or_create(&info).set(1);
    registry.register(
        "xdp_info",
        "The XDP program: interface, attach mode and program id",
        xdp_info,
    );
    if let Some(p) = extra.process {
        let process = registry.sub_registry_with_prefix("process");
        let rss = Gauge::<i64>::default();
        rss.set(i64::try_from(p.resident_bytes).unwrap_or(i64::MAX));
        process.register_with_unit("resident_memory", "Resident memory", Unit::Bytes, rss);
        let cpu = Counter::<f64, std::sync::atomic::AtomicU64>::default();
        cpu.inc_by(p.cpu_seconds);
        process.register_with_unit("cpu", "User and system CPU time spent", Unit::Seconds, cpu);
    }
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = encode(&mut out, &registry);
    out
}

/// The metric name (without prefix and `_total`), labels and help of one
/// counter of the stats reply.
fn metric_of(n: &CounterName) -> (String, Labels, String) {
    let mut labels = Labels::new();
    let what = n.name.replace('.', "_");
    let metric = if n.area == "xdp" {
        // One name per verdict, the reason as a label: `passed{reason}`
        // and `slow_path{reason}` read better than 15 names.
        if let Some(r) = what.strip_prefix("passed_") {
            labels.push(("reason".into(), r.to_string()));
            "xdp_passed".to_string()
        } else if let Some(r) = what.strip_prefix("slow_") {
            labels.push(("reason".into(), r.to_string()));
            "xdp_slow_path".to_string()
        } else {
            format!("xdp_{what}")
        }
    } else if SERVICE_AREAS.contains(&n.area) {
        format!("services_{}_{what}", n.area)
    } else {
        format!("{}_{what}", n.area)
    };
    if let Some(q) = n.queue {
        labels.push(("queue".into(), q.to_string()));
    }
    let help = if n.area == "xdp" {
        XdpCounter::ALL
            .iter()
            .find(|c| c.name() == n.name)
            .map_or_else(
                || format!("XDP counter {}", n.name),
                |c| c.help().to_string(),
            )
    } else if let Some(r) = labels.iter().find(|(k, _)| k == "reason") {
        format!("XDP verdicts ({})", r.1)
    } else {
        format!("{} {}", n.area, n.name.replace(['.', '_'], " "))
    };
    let help = if metric == "xdp_passed" {
        "Frames passed to the kernel by the XDP program, by reason".to_string()
    } else if metric == "xdp_slow_path" {
        "Frames the XDP program hands to userspace instead of answering, by reason".to_string()
    } else {
        help
    };
    (metric, labels, help)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// What a scraper needs from the text: every sample line parsed, every
    /// sample's family declared once by `# TYPE` before it, with a known
    /// type, counters ending in `_total`, label values quoted, `# EOF` last.
    /// Returns the samples as `name{labels}` -> value.
    fn parse_exposition(text: &str) -> Result<HashMap<String, f64>, String> {
        let mut types: HashMap<String, String> = HashMap::new();
        let mut samples = HashMap::new();
        let lines: Vec<&str> = text.lines().collect();
        if lines.last() != Some(&"# EOF") {
            return Err("no # EOF at the end".into());
        }
        for line in &lines[..lines.len() - 1] {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, ty) = rest.split_once(' ').ok_or(format!("bad TYPE: {line}"))?;
                if !["counter", "gauge", "info"].contains(&ty) {
                    return Err(format!("unknown type {ty}"));
                }
                if types.insert(name.to_string(), ty.to_string()).is_some() {
                    return Err(format!("{name} declared twice"));
                }
                continue;
            }
            if line.starts_with("# HELP ") || line.starts_with("# UNIT ") {
                continue;
            }
            if line.starts_with('#') || line.is_empty() {
                return Err(format!("stray line: {line:?}"));
            }
            let (series, value) = line.rsplit_once(' ').ok_or(format!("no value: {line}"))?;
            let value: f64 = value.parse().map_err(|_| format!("bad value: {line}"))?;
            let name = match series.split_once('{') {
                Some((name, labels)) => {
                    let labels = labels
                        .strip_suffix('}')
                        .ok_or(format!("bad labels: {line}"))?;
                    for pair in labels.split(',') {
                        let (k, v) = pair.split_once('=').ok_or(format!("bad label: {line}"))?;
                        let ok_key = !k.is_empty()
                            && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                        if !(ok_key && v.len() >= 2 && v.starts_with('"') && v.ends_with('"')) {
                            return Err(format!("bad label: {line}"));
                        }
                    }
                    name
                }
                None => series,
            };
            if !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
            {
                return Err(format!("bad name {name}"));
            }
            let family = ["_total", "_info"]
                .iter()
                .find_map(|s| name.strip_suffix(s).filter(|f| types.contains_key(*f)))
                .unwrap_or(name);
            let ty = types
                .get(family)
                .ok_or(format!("{name}: no TYPE before it"))?;
            if ty == "counter" && !name.ends_with("_total") {
                return Err(format!("counter {name} without _total"));
            }
            if samples.insert(series.to_string(), value).is_some() {
                return Err(format!("{series} twice"));
            }
        }
        Ok(samples)
    }

    fn reply() -> serde_json::Value {
        serde_json::json!({
            "xdp_mode": "skb",
            "xdp": {"redirected": 4, "arp_replied": 2, "passed_not_ours": 3, "slow_arp": 1},
            "stack": {
                "stack": {"rx_frames": 5, "ipv4_bad_checksum": 1},
                "reassembly": {"bytes_in_use": 0},
                "udp": {"sent": 6},
                "tcp": {"retransmits": 7, "time_wait": 2},
                "arp_entries": 1
            },
            "services": {"http": {"requests": 8, "open": 1}},
            "xsk": [{"rx_frames": 10, "kernel": {"rx_dropped": 0}}, {"rx_frames": 11}]
        })
    }

    fn extra() -> Extra {
        Extra {
            iface: "veth-stack".into(),
            xdp_mode: "skb".into(),
            prog_id: Some(42),
            neighbours: vec![("reachable", 1), ("stale", 0)],
            connections: vec![("LISTEN", 3), ("ESTAB", 1)],
            process: Some(ProcessStats {
                resident_bytes: 4096,
                cpu_seconds: 0.25,
            }),
        }
    }

    #[test]
    fn exposition_parses_and_names_every_counter() {
        let text = render(&reply(), &extra());
        let s = parse_exposition(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let get = |k: &str| *s.get(k).unwrap_or_else(|| panic!("no {k} in\n{text}"));
        assert_eq!(get("xdpstack_xdp_redirected_total"), 4.0);
        assert_eq!(get("xdpstack_xdp_arp_replied_total"), 2.0);
        assert_eq!(get(r#"xdpstack_xdp_passed_total{reason="not_ours"}"#), 3.0);
        assert_eq!(get(r#"xdpstack_xdp_slow_path_total{reason="arp"}"#), 1.0);
        assert_eq!(get("xdpstack_link_rx_frames_total"), 5.0);
        assert_eq!(get("xdpstack_ipv4_bad_checksum_total"), 1.0);
        assert_eq!(get("xdpstack_ipv4_reassembly_bytes_in_use"), 0.0);
        assert_eq!(get("xdpstack_udp_sent_total"), 6.0);
        assert_eq!(get("xdpstack_tcp_retransmits_total"), 7.0);
        assert_eq!(get("xdpstack_tcp_time_wait"), 2.0);
        assert_eq!(get("xdpstack_arp_entries"), 1.0);
        assert_eq!(get("xdpstack_services_http_requests_total"), 8.0);
        assert_eq!(get("xdpstack_services_http_open"), 1.0);
        assert_eq!(get(r#"xdpstack_xsk_rx_frames_total{queue="0"}"#), 10.0);
        assert_eq!(get(r#"xdpstack_xsk_rx_frames_total{queue="1"}"#), 11.0);
        assert_eq!(
            get(r#"xdpstack_xsk_kernel_rx_dropped_total{queue="0"}"#),
            0.0
        );
        assert_eq!(get(r#"xdpstack_neighbours{state="REACHABLE"}"#), 1.0);
        assert_eq!(get(r#"xdpstack_tcp_connections{state="LISTEN"}"#), 3.0);
        assert_eq!(
            get(r#"xdpstack_xdp_info{iface="veth-stack",mode="skb",prog_id="42"}"#),
            1.0
        );
        assert_eq!(get("xdpstack_process_resident_memory_bytes"), 4096.0);
        assert_eq!(get("xdpstack_process_cpu_seconds_total"), 0.25);
        assert!(text.contains("# TYPE xdpstack_tcp_time_wait gauge"));
        assert!(text.contains("# TYPE xdpstack_tcp_retransmits counter"));
        // The XDP counters keep their documented meaning as help.
        assert!(text.contains("# HELP xdpstack_xdp_redirected frames handed to the AF_XDP"));
        // Strings of the reply (the mode) are not samples.
        assert!(!text.contains("xdp_mode"));
    }

    /// Prometheus's own linter, where installed (`apt-get install
    /// prometheus` brings promtool). promtool reads the classic text format
    /// 0.0.4, where a counter's HELP line carries the `_total` name, while
    /// OpenMetrics (what prometheus-client writes, and Prometheus scrapes by
    /// its content type) puts HELP on the family name without it
    /// (prometheus/client_rust#194). So "`X_total` no help text" is
    /// accepted when `# HELP X` is there; any other finding fails, and so
    /// does any parse error.
    #[test]
    fn promtool_check_metrics_passes_where_installed() {
        use std::io::Write;
        use std::process::{Command, Stdio};
        let Ok(mut child) = Command::new("promtool")
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
        else {
            eprintln!("promtool not installed: the parser test above stands in for it");
            return;
        };
        let text = render(&reply(), &extra());
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let mut counters_seen = 0;
        for line in said.lines().filter(|l| !l.trim().is_empty()) {
            let family = line
                .strip_suffix(" no help text")
                .and_then(|n| n.strip_suffix("_total"));
            match family {
                Some(f) if text.contains(&format!("# HELP {f} ")) => counters_seen += 1,
                _ => panic!("promtool: {line}\n{said}\n{text}"),
            }
        }
        // Every finding was the OpenMetrics HELP name, one per counter.
        assert!(out.status.success() || counters_seen > 0, "{said}");
    }

    #[test]
    fn the_parser_refuses_what_a_scraper_would() {
        assert!(parse_exposition("a_total 1\n# EOF").is_err());
        assert!(parse_exposition("# TYPE a counter\na 1\n# EOF").is_err());
        assert!(parse_exposition("# TYPE a counter\na_total x\n# EOF").is_err());
        assert!(parse_exposition("# TYPE a counter\na_total{q=0} 1\n# EOF").is_err());
        assert!(parse_exposition("# TYPE a counter\na_total 1\n").is_err());
        assert!(parse_exposition("# TYPE a counter\na_total 1\n# EOF").is_ok());
    }

    #[test]
    fn states_are_counted_with_zeros() {
        let n = neighbour_states(&[]);
        assert_eq!(n.len(), 5);
        assert!(n.iter().all(|(_, c)| *c == 0));
        let c = connection_states(std::iter::empty());
        assert_eq!(c.len(), 11);
        assert_eq!(c[0], ("LISTEN", 0));
    }

    #[test]
    fn process_stats_parse_proc_lines() {
        let statm = "5000 1200 300 10 0 900 0";
        // A command name with a space and a parenthesis in it.
        let stat = "77 (xdp stack) S 1 77 77 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0";
        let p = ProcessStats::parse(statm, stat, 4096, 100).unwrap();
        assert_eq!(p.resident_bytes, 1200 * 4096);
        assert!((p.cpu_seconds - 3.0).abs() < 1e-9);
        assert_eq!(ProcessStats::parse("", stat, 4096, 100), None);
        assert_eq!(ProcessStats::parse(statm, "77 (x) S", 4096, 100), None);
        assert!(ProcessStats::read().is_some());
    }
}
