//! `ping -f -c N -q` as users run it, and its summary parsed.

use anyhow::{bail, Context, Result};
use serde::Serialize;

use crate::netns::{Side, STACK_ADDR, STACK_ADDR6};

/// The summary of one flood ping.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PingResult {
    pub transmitted: u64,
    pub received: u64,
    pub loss: f64,
    pub time_ms: f64,
    pub rtt_min_ms: f64,
    pub rtt_avg_ms: f64,
    pub rtt_max_ms: f64,
    pub rtt_mdev_ms: f64,
    /// Replies per second over ping's own `time`.
    pub rate_pps: f64,
}

/// Runs `ping -f -c count -q` from the client at the stack's address,
/// bounded by a deadline (`-w`) so a lost reply cannot hang the bench.
pub fn flood(client: &Side, count: u32) -> Result<PingResult> {
    flood_family(client, count, "-4", STACK_ADDR)
}

/// The same over IPv6 (`ping -6 -f`) at fd00:10:10::4.
pub fn flood6(client: &Side, count: u32) -> Result<PingResult> {
    flood_family(client, count, "-6", STACK_ADDR6)
}

fn flood_family(client: &Side, count: u32, family: &str, dst: &str) -> Result<PingResult> {
    // Linux answers `ping -f` at ~1 µs; even 100 µs per ping fits this.
    let deadline = (count / 10_000).max(5) + 5;
    let out = client.exec([
        "ping",
        family,
        "-f",
        "-q",
        "-c",
        &count.to_string(),
        "-w",
        &deadline.to_string(),
        dst,
    ])?;
    let text = String::from_utf8_lossy(&out.stdout);
    parse(&text).with_context(|| {
        format!(
            "cannot read the summary of `ping -f` ({}): {}{}",
            out.status,
            text.trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        )
    })
}

/// Parses iputils ping's summary:
/// `N packets transmitted, M received, X% packet loss, time Tms` and
/// `rtt min/avg/max/mdev = a/b/c/d ms[, ipg/ewma ...]`.
pub fn parse(text: &str) -> Result<PingResult> {
    let Some(counts) = text.lines().find(|l| l.contains("packets transmitted")) else {
        bail!("no `packets transmitted` line");
    };
    let mut transmitted = None;
    let mut received = None;
    let mut time_ms = None;
    for part in counts.split(',').map(str::trim) {
        let mut words = part.split_whitespace();
        let (Some(first), second) = (words.next(), words.next()) else {
            continue;
        };
        match second {
            Some("packets") => transmitted = first.parse().ok(),
            Some("received") => received = first.parse().ok(),
            _ if first == "time" => {
                time_ms = second
                    .and_then(|t| t.strip_suffix("ms"))
                    .and_then(|t| t.parse().ok())
            }
            _ => {}
        }
    }
    let (Some(transmitted), Some(received), Some(time_ms)) = (transmitted, received, time_ms)
    else {
        bail!("malformed counts line: {counts}");
    };
    // No replies at all: ping prints no rtt line.
    let rtt = match text.lines().find(|l| l.starts_with("rtt ")) {
        Some(line) => parse_rtt(line)?,
        None if received == 0 => [0.0; 4],
        None => bail!("no rtt line although {received} replies arrived"),
    };
    let time_s: f64 = time_ms / 1000.0;
    Ok(PingResult {
        transmitted,
        received,
        loss: if transmitted == 0 {
            0.0
        } else {
            1.0 - received as f64 / transmitted as f64
        },
        time_ms,
        rtt_min_ms: rtt[0],
        rtt_avg_ms: rtt[1],
        rtt_max_ms: rtt[2],
        rtt_mdev_ms: rtt[3],
        rate_pps: if time_s > 0.0 {
            received as f64 / time_s
        } else {
            0.0
        },
    })
}

fn parse_rtt(line: &str) -> Result<[f64; 4]> {
    let values = line
        .split('=')
        .nth(1)
        .and_then(|v| v.split_whitespace().next())
        .with_context(|| format!("malformed rtt line: {line}"))?;
    let mut rtt = [0.0; 4];
    let mut parts = values.split('/');
    for slot in rtt.iter_mut() {
        *slot = parts
            .next()
            .and_then(|p| p.parse().ok())
            .with_context(|| format!("malformed rtt line: {line}"))?;
    }
    Ok(rtt)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flood_summary() {
        let text = "PING 10.10.0.4 (10.10.0.4) 56(84) bytes of data.\n\n\
                    --- 10.10.0.4 ping statistics ---\n\
                    20000 packets transmitted, 19990 received, 0.05% packet loss, time 412ms\n\
                    rtt min/avg/max/mdev = 0.004/0.012/0.187/0.003 ms, ipg/ewma 0.020/0.011 ms\n";
        let r = parse(text).unwrap();
        assert_eq!(r.transmitted, 20000);
        assert_eq!(r.received, 19990);
        assert_eq!(r.time_ms, 412.0);
        assert_eq!(r.rtt_avg_ms, 0.012);
        assert_eq!(r.rtt_mdev_ms, 0.003);
        assert!((r.loss - 0.0005).abs() < 1e-9);
        assert!((r.rate_pps - 19990.0 / 0.412).abs() < 1e-6);
    }

    #[test]
    fn flood6_summary() {
        // iputils prints the same summary for `ping -6`.
        let text = "PING fd00:10:10::4 (fd00:10:10::4) 56 data bytes\n\n\
                    --- fd00:10:10::4 ping statistics ---\n\
                    20000 packets transmitted, 20000 received, 0% packet loss, time 301ms\n\
                    rtt min/avg/max/mdev = 0.003/0.009/0.090/0.002 ms, ipg/ewma 0.015/0.009 ms\n";
        let r = parse(text).unwrap();
        assert_eq!((r.transmitted, r.received, r.loss), (20000, 20000, 0.0));
        assert_eq!(
            (r.rtt_min_ms, r.rtt_avg_ms, r.rtt_max_ms),
            (0.003, 0.009, 0.090)
        );
    }

    #[test]
    fn no_replies_and_errors() {
        let text = "--- 10.10.0.4 ping statistics ---\n\
                    100 packets transmitted, 0 received, +3 errors, 100% packet loss, time 5000ms\n";
        let r = parse(text).unwrap();
        assert_eq!(r.received, 0);
        assert_eq!(r.loss, 1.0);
        assert_eq!(r.rtt_avg_ms, 0.0);
        assert!(parse("connect: Network is unreachable\n").is_err());
        assert!(parse("3 packets transmitted, 3 received, time 2ms\n").is_err());
    }
}
