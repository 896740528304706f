//! The CLI commands that talk to a running daemon: `arp`, `stats`, `conns`,
//! `ping`. They read typed replies and leave the formatting to `present`.

use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::{
    ArpAction, ArpArgs, CaptureArgs, ConnsArgs, NeighAction, NeighArgs, PingArgs, StatsArgs,
    StatusArgs,
};
use crate::capture::pcap::{Format, Writer};
use crate::capture::stream::{decode, Record};
use crate::capture::{Captured, Direction, Filter};
use crate::control::client::{running_daemons, Client};
use crate::control::protocol::{
    CaptureReply, ConnJson, NeighEntryJson, PingJson, StatusReply, XdpProgram,
};
use crate::control::{Request, StatsReply};
use crate::present::{counters, table};

pub fn arp(args: ArpArgs) -> Result<()> {
    let mut client = Client::connect(&args.target.control_dir, args.target.iface.as_deref())?;
    match args.action {
        Some(ArpAction::Add { ip, mac }) => {
            client.call::<()>(&Request::ArpAdd {
                ip,
                mac: mac.to_string(),
            })?;
        }
        Some(ArpAction::Del { ip }) => {
            client.call::<()>(&Request::ArpDel { ip })?;
        }
        Some(ArpAction::Flush) => {
            client.call::<()>(&Request::ArpFlush {})?;
        }
        None => {
            let entries: Vec<NeighEntryJson> = client.call(&Request::Arp {})?;
            if args.json {
                print_json(&entries, true)?;
            } else {
                print!("{}", table::arp_table(&entries));
            }
        }
    }
    Ok(())
}

pub fn neigh(args: NeighArgs) -> Result<()> {
    let mut client = Client::connect(&args.target.control_dir, args.target.iface.as_deref())?;
    match args.action {
        Some(NeighAction::Add { ip, mac }) => {
            client.call::<()>(&Request::NeighAdd {
                ip,
                mac: mac.to_string(),
            })?;
        }
        Some(NeighAction::Del { ip }) => client.call::<()>(&Request::NeighDel { ip })?,
        Some(NeighAction::Flush) => client.call::<()>(&Request::NeighFlush {})?,
        None => {
            let entries: Vec<NeighEntryJson> = client.call(&Request::Neigh {})?;
            let entries: Vec<NeighEntryJson> = entries
                .into_iter()
                .filter(|e| !(args.ipv4 && e.dst.is_ipv6() || args.ipv6 && e.dst.is_ipv4()))
                .collect();
            if args.json {
                print_json(&entries, true)?;
            } else {
                print!("{}", table::arp_table(&entries));
            }
        }
    }
    Ok(())
}

pub fn conns(args: ConnsArgs) -> Result<()> {
    let mut client = Client::connect(&args.target.control_dir, args.target.iface.as_deref())?;
    let conns: Vec<ConnJson> = client.call(&Request::Conns {})?;
    if args.json {
        print_json(&conns, true)?;
    } else {
        print!("{}", table::conns_table(&conns));
    }
    Ok(())
}

pub fn stats(args: StatsArgs) -> Result<()> {
    let mut client = Client::connect(&args.target.control_dir, args.target.iface.as_deref())?;
    let mut previous: Option<(Instant, Vec<(String, u64)>)> = None;
    loop {
        let data: StatsReply = client.call(&Request::Stats {})?;
        let now = Instant::now();
        let values = counters::stats_rows(&data, args.all);
        if args.json {
            print_json(&data, false)?;
        } else {
            if args.watch {
                // Clear the screen and go home, like `watch`.
                print!("\x1b[2J\x1b[H");
            }
            print!(
                "{}",
                table::mode_line(data.xdp_mode.as_deref(), data.xdp_mode_reason.as_deref())
            );
            let prev = previous
                .as_ref()
                .map(|(t, p)| (now.duration_since(*t).as_secs_f64(), p.as_slice()));
            print!("{}", table::counters_table(&values, prev));
        }
        std::io::stdout().flush()?;
        if !args.watch {
            return Ok(());
        }
        previous = Some((now, values));
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// `xdpstack status`: every daemon answering in the control directory.
pub fn status(args: StatusArgs) -> Result<()> {
    let mut rows = Vec::new();
    for (_, iface) in running_daemons(&args.control_dir) {
        if args.iface.as_deref().is_some_and(|i| i != iface) {
            continue;
        }
        match Client::connect(&args.control_dir, Some(&iface))
            .and_then(|mut c| c.call::<StatusReply>(&crate::control::Request::Status {}))
        {
            Ok(row) => rows.push(row),
            Err(e) => eprintln!("xdpstack: {iface}: {e:#}"),
        }
    }
    if let Some(iface) = &args.iface {
        let others = foreign_programs(iface, rows.first().and_then(|r| r.prog_id))?;
        match rows.first_mut() {
            Some(row) => row.other_xdp = others,
            None => {
                if !args.json {
                    println!("no xdpstack runs on {iface}");
                }
                for p in &others {
                    if !args.json {
                        println!(
                            "{iface}: XDP program {} ({} mode), not xdpstack's",
                            p.id, p.mode
                        );
                    }
                }
                if args.json {
                    // No daemon fields, only what is attached there.
                    #[derive(serde::Serialize)]
                    struct NotOurs<'a> {
                        iface: &'a str,
                        other_xdp: Vec<XdpProgram>,
                    }
                    print_json(
                        &[NotOurs {
                            iface,
                            other_xdp: others,
                        }],
                        true,
                    )?;
                }
                return Ok(());
            }
        }
    }
    if args.json {
        print_json(&rows, true)?;
    } else if rows.is_empty() {
        println!(
            "no xdpstack daemon is running (control sockets in {})",
            args.control_dir.display()
        );
    } else {
        print!("{}", table::status_table(&rows));
    }
    Ok(())
}

/// The XDP programs on `iface` (rtnetlink) other than `ours`.
fn foreign_programs(iface: &str, ours: Option<u32>) -> Result<Vec<XdpProgram>> {
    let index = crate::fastpath::iface::index(iface)?;
    let info = crate::fastpath::link::query(index, None)
        .with_context(|| format!("asking the kernel about {iface}"))?;
    Ok(info
        .xdp_programs
        .into_iter()
        .filter(|(_, id)| Some(*id) != ours)
        .map(|(mode, id)| XdpProgram {
            id,
            mode: mode.to_string(),
        })
        .collect())
}

/// Prints a reply as JSON with its keys in alphabetical order at every
/// level, as the CLI always has (and `jq -S` would).
fn print_json(value: &impl serde::Serialize, pretty: bool) -> Result<()> {
    let sorted = serde_json::to_value(value)?;
    let text = if pretty {
        serde_json::to_string_pretty(&sorted)?
    } else {
        serde_json::to_string(&sorted)?
    };
    println!("{text}");
    Ok(())
}

pub fn ping(args: PingArgs) -> Result<()> {
    let mut client = Client::connect(&args.target.control_dir, args.target.iface.as_deref())?;
    let interval =
        Duration::try_from_secs_f64(args.interval.max(0.001)).context("bad --interval")?;
    let timeout_ms = (args.timeout.max(0.001) * 1000.0) as u64;
    let (dst, zone) = args.dst;
    if let Some(z) = zone.filter(|z| *z != client.iface) {
        anyhow::bail!("xdpstack serves {}, not {z}", client.iface);
    }
    println!(
        "PING {} {} data bytes (from xdpstack on {})",
        dst, args.size, client.iface
    );
    let started = Instant::now();
    let mut rtts: Vec<f64> = Vec::new();
    for i in 0..args.count {
        let seq = (i + 1) as u16;
        let sent_at = Instant::now();
        match client.call::<PingJson>(&Request::Ping {
            dst,
            size: args.size,
            seq,
            timeout_ms,
        }) {
            Ok(PingJson { rtt_us, ttl, bytes }) => {
                let rtt_ms = rtt_us as f64 / 1000.0;
                println!(
                    "{bytes} bytes from {}: icmp_seq={seq} ttl={ttl} time={rtt_ms:.3} ms",
                    dst
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
    println!("\n--- {} ping statistics ---", dst);
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
        anyhow::bail!("no reply from {}", dst);
    }
    Ok(())
}

/// Set by SIGINT/SIGTERM during `capture`.
static STOP: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

extern "C" fn on_stop_signal(_: libc::c_int) {
    STOP.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// How often the capture loop looks at `STOP` while no frame arrives.
const CAPTURE_POLL: Duration = Duration::from_millis(200);

/// Where captured frames go: a capture file, or one line per frame.
enum Sink {
    File(Writer<Box<dyn Write>>),
    Lines,
}

impl Sink {
    fn write(&mut self, c: &Captured) -> std::io::Result<()> {
        match self {
            Sink::File(w) => w.write(c),
            Sink::Lines => {
                let secs = c.ts_ns / 1_000_000_000;
                let (h, m, s) = ((secs / 3600) % 24, (secs / 60) % 60, secs % 60);
                let us = (c.ts_ns % 1_000_000_000) / 1000;
                let dir = match c.dir {
                    Direction::In => "In ",
                    Direction::Out => "Out",
                };
                let mut out = std::io::stdout().lock();
                writeln!(
                    out,
                    "{h:02}:{m:02}:{s:02}.{us:06} {dir} [{}] {}",
                    c.path,
                    crate::wire::pretty::describe(&c.data)
                )?;
                out.flush()
            }
        }
    }
}

/// The XDP program's count of frame copies lost to a full ring.
fn kernel_capture_lost(client: &mut Client) -> u64 {
    client
        .call::<StatsReply>(&Request::Stats {})
        .ok()
        .and_then(|s| s.xdp.get("capture_lost").copied())
        .unwrap_or(0)
}

pub fn capture(args: CaptureArgs) -> Result<()> {
    let mut stats = Client::connect(&args.target.control_dir, args.target.iface.as_deref())?;
    let iface = stats.iface.clone();
    let kernel_lost_before = kernel_capture_lost(&mut stats);
    let filter = if args.inbound {
        Filter::In
    } else if args.outbound {
        Filter::Out
    } else {
        Filter::Both
    };
    let client = Client::connect(&args.target.control_dir, Some(&iface))?;
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(
            libc::SIGINT,
            on_stop_signal as *const () as libc::sighandler_t,
        );
        libc::signal(
            libc::SIGTERM,
            on_stop_signal as *const () as libc::sighandler_t,
        );
    }
    let (reply, mut stream): (CaptureReply, _) = client.into_stream(
        &Request::Capture {
            snaplen: args.snaplen,
            filter,
        },
        CAPTURE_POLL,
    )?;
    let format = if args.pcap {
        Format::Pcap
    } else {
        Format::PcapNg
    };
    let mut sink = match &args.write {
        None => Sink::Lines,
        Some(p) => {
            let out: Box<dyn Write> = if p.as_os_str() == "-" {
                Box::new(std::io::stdout())
            } else {
                Box::new(
                    std::fs::File::create(p)
                        .with_context(|| format!("creating {}", p.display()))?,
                )
            };
            Sink::File(Writer::new(out, format, reply.snaplen, &iface)?)
        }
    };
    if args.write.as_deref().is_none_or(|p| p.as_os_str() != "-") {
        eprintln!(
            "xdpstack: capturing on {iface}, snaplen {} (Ctrl-C stops)",
            reply.snaplen
        );
    }
    let (mut captured, mut lost) = (0u64, 0u64);
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    let mut ended = None;
    'read: while !STOP.load(std::sync::atomic::Ordering::SeqCst) {
        if args.count.is_some_and(|c| captured >= c) {
            break;
        }
        let n = match std::io::Read::read(&mut stream, &mut chunk) {
            Ok(0) => {
                ended = Some("the daemon closed the capture (it stopped?)");
                break;
            }
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::Interrupted
                ) =>
            {
                continue
            }
            Err(e) => return Err(e).context("reading the capture stream"),
        };
        buf.extend_from_slice(&chunk[..n]);
        let mut used = 0;
        while let Some((rec, len)) = decode(&buf[used..]).map_err(|e| anyhow::anyhow!(e))? {
            used += len;
            match rec {
                Record::Lost(n) => lost += n,
                Record::Frame(c) => {
                    if let Err(e) = sink.write(&c) {
                        // The reader went away (tcpdump quit): stop quietly.
                        if e.kind() == std::io::ErrorKind::BrokenPipe {
                            break 'read;
                        }
                        return Err(e).context("writing the capture");
                    }
                    captured += 1;
                    if args.count.is_some_and(|c| captured >= c) {
                        break 'read;
                    }
                }
            }
        }
        buf.drain(..used);
    }
    // Leave first: the last client leaving turns the in-kernel copy off.
    drop(stream);
    lost += kernel_capture_lost(&mut stats).saturating_sub(kernel_lost_before);
    eprintln!("{captured} frames captured, {lost} lost");
    if let Some(why) = ended {
        anyhow::bail!(why);
    }
    Ok(())
}
