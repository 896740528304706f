//! The HTTP service's pages: the status page (what `xdpstack arp`, `conns`
//! and `stats` show) and the error pages.
//!
//! The status page must not grow with load: a client that opens and closes
//! connections fast leaves thousands of TIME-WAIT entries, and listing them
//! made each page (and each request's cost) grow with them. So each table
//! shows at most [`PAGE_ROWS`] rows and says how many more there are;
//! TIME-WAIT entries are counted, not listed. Everything is written
//! straight into the caller's buffer: no JSON, maps or per-row strings.

use std::fmt::{self, Write};

use super::{counters, names};
use crate::stack::tcp::ConnView;
use crate::stack::time::Instant;
use crate::stack::Stack;

/// The most rows each table of the status page shows.
pub const PAGE_ROWS: usize = 100;

/// Appends the status page to `out`.
pub fn status_page(out: &mut String, now: Instant, stack: &Stack) {
    // Writing into a String cannot fail.
    let _ = write_status_page(out, now, stack);
}

fn write_status_page(out: &mut String, now: Instant, stack: &Stack) -> fmt::Result {
    let cfg = stack.config();
    let up = stack.uptime(now).as_secs();
    write!(
        out,
        "<!DOCTYPE html>\n<html><head><title>xdpstack {ip}</title></head>\n<body>\n<h1>xdpstack at {ip}/{prefix}</h1>\n<p>MAC {mac}, MTU {mtu}, up {d}d {h:02}:{m:02}:{sec:02} ({up} s)</p>\n",
        ip = cfg.ip,
        prefix = cfg.prefix,
        mac = cfg.mac,
        mtu = cfg.mtu,
        d = up / 86_400,
        h = up / 3600 % 24,
        m = up / 60 % 60,
        sec = up % 60,
    )?;

    out.push_str("<h2>ARP cache</h2>\n<table>\n<tr><th>address</th><th>lladdr</th><th>state</th><th>age</th></tr>\n");
    let entries = stack.arp_entries(now);
    for e in entries.iter().take(PAGE_ROWS) {
        write!(out, "<tr><td>{}</td><td>", e.ip)?;
        match e.mac {
            Some(m) => write!(out, "{m}")?,
            None => out.push('-'),
        }
        writeln!(
            out,
            "</td><td>{}</td><td>{:.1}s</td></tr>",
            names::arp_state(e.state),
            e.since_confirmed.as_millis() as f64 / 1000.0
        )?;
    }
    out.push_str("</table>\n");
    more(
        out,
        entries.len().saturating_sub(PAGE_ROWS),
        "entries",
        "xdpstack arp",
    )?;

    if !cfg.ip6.is_empty() {
        out.push_str("<p>IPv6");
        for (a, p) in &cfg.ip6 {
            write!(out, " {a}/{p}")?;
        }
        out.push_str("</p>\n<h2>IPv6 neighbours</h2>\n<table>\n<tr><th>address</th><th>lladdr</th><th>state</th><th>age</th></tr>\n");
        let entries = stack.ndp_entries(now);
        for e in entries.iter().take(PAGE_ROWS) {
            write!(out, "<tr><td>{}</td><td>", e.ip)?;
            match e.mac {
                Some(m) => write!(out, "{m}")?,
                None => out.push('-'),
            }
            writeln!(
                out,
                "</td><td>{}</td><td>{:.1}s</td></tr>",
                e.state,
                e.since_confirmed.as_millis() as f64 / 1000.0
            )?;
        }
        out.push_str("</table>\n");
        more(
            out,
            entries.len().saturating_sub(PAGE_ROWS),
            "entries",
            "xdpstack neigh -6",
        )?;
    }

    out.push_str("<h2>TCP</h2>\n<table>\n<tr><th>state</th><th>local</th><th>peer</th><th>recv-q</th><th>send-q</th></tr>\n");
    let (rows, hidden, time_wait) = first_connections(stack, PAGE_ROWS);
    for c in &rows {
        writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            names::tcp_state(c.state),
            c.local,
            c.remote,
            c.recv_q,
            c.send_q
        )?;
    }
    out.push_str("</table>\n");
    more(out, hidden, "connections", "xdpstack conns")?;
    if time_wait > 0 {
        writeln!(out, "<p>{time_wait} in TIME-WAIT, not listed.</p>")?;
    }

    out.push_str("<h2>Counters</h2>\n<table>\n");
    let mut result = Ok(());
    counters::for_each(&stack.stats(), "", &mut |name, v| {
        if v != 0 && result.is_ok() {
            result = writeln!(out, "<tr><td>{}</td><td>{v}</td></tr>", Escaped(name));
        }
    });
    result?;
    out.push_str("</table>\n</body></html>\n");
    Ok(())
}

/// The first `limit` listeners and connections (by local port, then peer),
/// how many others there are, and how many TIME-WAIT entries were left out.
/// TIME-WAIT entries are skipped by the engine before anything is copied;
/// the rest are bounded (`max_connections`), whatever TIME-WAIT holds.
fn first_connections(stack: &Stack, limit: usize) -> (Vec<ConnView>, usize, u64) {
    let key = |r: &ConnView| (r.local.port(), r.remote.ip(), r.remote.port());
    let mut rows: Vec<ConnView> = stack.tcp_views(false).collect();
    let hidden = rows.len().saturating_sub(limit);
    if hidden > 0 {
        rows.select_nth_unstable_by_key(limit, key);
        rows.truncate(limit);
    }
    rows.sort_unstable_by_key(key);
    (rows, hidden, stack.tcp_counters().time_wait)
}

fn more(out: &mut String, n: usize, what: &str, command: &str) -> fmt::Result {
    if n > 0 {
        writeln!(
            out,
            "<p>{n} more {what}: <code>{command}</code> lists them all.</p>"
        )?;
    }
    Ok(())
}

/// A page for an error `status` with its `reason` phrase and a sentence.
pub fn error_page(status: u16, reason: &str, text: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html><head><title>{status} {reason}</title></head>\n<body><h1>{status} {reason}</h1>\n<p>{}</p></body></html>\n",
        Escaped(text)
    )
}

/// Text with `<`, `>`, `&` and `"` escaped for HTML, written as it goes.
pub struct Escaped<'a>(pub &'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        while let Some(i) = rest.find(['<', '>', '&', '"']) {
            f.write_str(&rest[..i])?;
            f.write_str(match rest.as_bytes()[i] {
                b'<' => "&lt;",
                b'>' => "&gt;",
                b'&' => "&amp;",
                _ => "&quot;",
            })?;
            rest = &rest[i + 1..];
        }
        f.write_str(rest)
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;
    use std::time::Duration;

    use super::*;
    use crate::stack::test_peer::Peer;
    use crate::stack::StackConfig;
    use crate::wire::{MacAddr, TcpFlags};

    const PORT: u16 = 8080;

    fn t(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    fn stack() -> Stack {
        Stack::new(
            StackConfig {
                ip: Ipv4Addr::new(10, 10, 0, 4),
                prefix: 24,
                mac: MacAddr([2, 0, 0, 0, 0, 4]),
                gateway: None,
                ip6: Vec::new(),
                gateway6: None,
                mtu: 1500,
                arp_timeout: Duration::from_secs(60),
                arp_max: 1024,
                seed: [7; 32],
            },
            t(0),
        )
    }

    /// A stack listening on PORT with `established` open connections and
    /// `time_wait` closed ones in TIME-WAIT (we closed first), and `neighbours`
    /// extra ARP entries.
    fn loaded(established: u16, time_wait: u16, neighbours: u8) -> Stack {
        let mut s = stack();
        let now = t(10);
        let peer = Peer::new(
            &mut s,
            now,
            Ipv4Addr::new(10, 10, 0, 2),
            MacAddr([2, 0, 0, 0, 0, 2]),
        );
        s.tcp().listen(PORT).unwrap();
        for port in 20_000..20_000 + established {
            peer.connect(&mut s, now, port, PORT);
            assert!(s.tcp().accept(PORT).is_some());
        }
        for port in 30_000..30_000 + time_wait {
            let seqs = peer.connect(&mut s, now, port, PORT);
            let id = s.tcp().accept(PORT).unwrap();
            s.tcp().close(now, id).unwrap();
            let fin = peer.take(&mut s, now);
            assert!(
                fin.iter().any(|f| f.flags.fin() && f.seq == seqs.theirs),
                "{fin:?}"
            );
            let fin_ack = TcpFlags(TcpFlags::FIN.0 | TcpFlags::ACK.0);
            peer.send(
                &mut s,
                now,
                port,
                PORT,
                fin_ack,
                seqs.ours,
                seqs.theirs.wrapping_add(1),
                &[],
            );
            s.tcp().release(now, id);
            peer.take(&mut s, now);
        }
        for i in 0..neighbours {
            s.arp_add(
                now,
                Ipv4Addr::new(10, 10, 1, i),
                MacAddr([2, 0, 0, 0, 1, i]),
            )
            .unwrap();
        }
        peer.take(&mut s, now);
        s
    }

    fn page(s: &Stack) -> String {
        let mut out = String::new();
        status_page(&mut out, t(20), s);
        out
    }

    #[test]
    fn ipv6_addresses_and_neighbours_are_shown_when_configured() {
        assert!(!page(&stack()).contains("IPv6"));
        let mut cfg = stack().config().clone();
        cfg.ip6 = vec![("fd00:10:10::4".parse().unwrap(), 64)];
        let mut s = Stack::new(cfg, t(0));
        s.ndp_add(
            t(1),
            "fd00:10:10::2".parse().unwrap(),
            MacAddr([2, 0, 0, 0, 0, 2]),
        )
        .unwrap();
        let p = page(&s);
        assert!(p.contains("<p>IPv6 fd00:10:10::4/64</p>"), "{p}");
        let n = rows(&p, "IPv6 neighbours");
        assert_eq!(n.len(), 1);
        assert!(n[0].contains("fd00:10:10::2") && n[0].contains("PERMANENT"));
    }

    /// The rows of the table under heading `h2`.
    fn rows<'a>(page: &'a str, h2: &str) -> Vec<&'a str> {
        let start = page.find(&format!("<h2>{h2}</h2>")).unwrap();
        let end = start + page[start..].find("</table>").unwrap();
        page[start..end]
            .lines()
            .filter(|l| l.starts_with("<tr><td>"))
            .collect()
    }

    #[test]
    fn small_tables_are_listed_whole() {
        let s = loaded(3, 2, 2);
        assert_eq!(s.tcp_counters().time_wait, 2);
        let p = page(&s);
        assert!(p.contains("<h1>xdpstack at 10.10.0.4/24</h1>"), "{p}");
        let tcp = rows(&p, "TCP");
        // The listener, then the connections by peer port.
        assert_eq!(tcp.len(), 4, "{p}");
        assert!(tcp[0].starts_with("<tr><td>LISTEN</td><td>10.10.0.4:8080</td>"));
        assert!(
            tcp[1].starts_with("<tr><td>ESTAB</td><td>10.10.0.4:8080</td><td>10.10.0.2:20000</td>")
        );
        assert!(tcp[3].contains("10.10.0.2:20002"));
        assert!(p.contains("<p>2 in TIME-WAIT, not listed.</p>"), "{p}");
        assert!(!p.contains("more connections"));
        // The peer, then ours, sorted by address.
        let arp = rows(&p, "ARP cache");
        assert_eq!(arp.len(), 3);
        assert!(arp[0]
            .starts_with("<tr><td>10.10.0.2</td><td>02:00:00:00:00:02</td><td>reachable</td>"));
        assert!(arp[1].contains("<td>permanent</td>"));
        // Counters by their dotted names, zeros left out.
        assert!(
            p.contains("<tr><td>tcp.passive_opens</td><td>5</td></tr>"),
            "{p}"
        );
        assert!(p.contains("<tr><td>tcp.time_wait</td><td>2</td></tr>"));
        assert!(p.contains("<tr><td>arp_entries</td><td>3</td></tr>"));
        assert!(rows(&p, "Counters")
            .iter()
            .all(|r| !r.ends_with("<td>0</td></tr>")));
        assert!(p.ends_with("</table>\n</body></html>\n"));
    }

    #[test]
    fn the_page_stays_bounded_under_load() {
        let quiet = page(&loaded(300, 0, 150));
        let s = loaded(300, 4000, 150);
        assert_eq!(s.tcp_counters().time_wait, 4000);
        assert_eq!(s.tcp_connections().len(), 1 + 300 + 4000);
        let busy = page(&s);
        let tcp = rows(&busy, "TCP");
        assert_eq!(tcp.len(), PAGE_ROWS);
        assert!(tcp.iter().all(|r| !r.contains("TIME-WAIT")));
        // The first rows in order: the listener, then peer ports from 20000.
        assert!(tcp[0].starts_with("<tr><td>LISTEN"));
        assert!(tcp[99].contains("10.10.0.2:20098"), "{}", tcp[99]);
        assert!(
            busy.contains(
                "<p>201 more connections: <code>xdpstack conns</code> lists them all.</p>"
            ),
            "{busy}"
        );
        assert!(busy.contains("<p>4000 in TIME-WAIT, not listed.</p>"));
        assert_eq!(rows(&busy, "ARP cache").len(), PAGE_ROWS);
        assert!(busy.contains("<p>51 more entries: <code>xdpstack arp</code> lists them all.</p>"));
        // 4000 TIME-WAIT entries add one line and a few wider counters.
        assert_eq!(rows(&quiet, "TCP").len(), PAGE_ROWS);
        assert!(
            busy.len() <= quiet.len() + 512,
            "{} vs {}",
            busy.len(),
            quiet.len()
        );
        assert!(busy.len() < 32 * 1024, "{}", busy.len());
    }

    /// Not a test: how long a status page takes with many TIME-WAIT
    /// entries (`cargo test -p xdpstack --lib render_cost -- --ignored --nocapture`).
    #[test]
    #[ignore]
    fn render_cost() {
        for tw in [0, 4000] {
            let s = loaded(300, tw, 150);
            let mut out = String::new();
            let rounds = 200;
            let start = std::time::Instant::now();
            for _ in 0..rounds {
                out.clear();
                status_page(&mut out, t(20), &s);
            }
            let each = start.elapsed() / rounds;
            println!(
                "300 established, {tw} TIME-WAIT, 151 neighbours: {} bytes, {each:?} per page",
                out.len()
            );
        }
    }
}
