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
use crate::stack::tcp::{ConnView, TcpState};
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
/// Copies only rows that are not TIME-WAIT, of which the engine holds a
/// bounded number (`max_connections`), whatever TIME-WAIT holds.
fn first_connections(stack: &Stack, limit: usize) -> (Vec<ConnView>, usize, usize) {
    let key = |r: &ConnView| (r.local.port(), *r.remote.ip(), r.remote.port());
    let mut time_wait = 0;
    let mut rows: Vec<ConnView> = stack
        .tcp_views()
        .filter(|c| {
            let tw = c.state == TcpState::TimeWait;
            time_wait += usize::from(tw);
            !tw
        })
        .collect();
    let hidden = rows.len().saturating_sub(limit);
    if hidden > 0 {
        rows.select_nth_unstable_by_key(limit, key);
        rows.truncate(limit);
    }
    rows.sort_unstable_by_key(key);
    (rows, hidden, time_wait)
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
