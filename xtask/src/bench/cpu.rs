//! Where the CPU went during a measurement: the daemon's own CPU time
//! (utime + stime of every thread, `/proc/PID/stat`) per frame it received,
//! and the machine's softirq time (`/proc/stat`, all CPUs) per packet that
//! crossed the veth pair. Also the load average and the daemon's memory.

use serde::Serialize;

/// Clock ticks per second of `/proc/stat` and `/proc/PID/stat` (USER_HZ).
pub fn clock_ticks() -> f64 {
    extern "C" {
        // sysconf(3); xtask has no libc dependency for this one call.
        fn sysconf(name: i32) -> std::ffi::c_long;
    }
    const SC_CLK_TCK: i32 = 2;
    // SAFETY: sysconf reads a constant of the C library; no memory is passed.
    let hz = unsafe { sysconf(SC_CLK_TCK) };
    if hz > 0 {
        hz as f64
    } else {
        100.0
    }
}

/// The aggregate `cpu` line of `/proc/stat`, in ticks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProcStat {
    pub softirq: u64,
    /// Everything but idle and iowait (user, nice, system, irq, softirq, steal).
    pub busy: u64,
    pub steal: u64,
}

/// Parses the first line of `/proc/stat`:
/// `cpu user nice system idle iowait irq softirq steal guest guest_nice`.
pub fn parse_proc_stat(text: &str) -> Option<ProcStat> {
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse().ok())
        .collect::<Option<_>>()?;
    if v.len() < 8 {
        return None;
    }
    // guest time is already counted in user (and guest_nice in nice).
    let (user, nice, system, irq, softirq, steal) = (v[0], v[1], v[2], v[5], v[6], v[7]);
    Some(ProcStat {
        softirq,
        busy: user + nice + system + irq + softirq + steal,
        steal,
    })
}

/// utime and stime (ticks) from a `/proc/PID/stat` text: fields 14 and 15,
/// counted after the `(comm)` field, which may itself hold spaces.
pub fn parse_pid_stat(text: &str) -> Option<(u64, u64)> {
    let rest = &text[text.rfind(')')? + 1..];
    // After ')': state is field 3, so utime (14) is the 12th here.
    let mut f = rest.split_whitespace().skip(11);
    Some((f.next()?.parse().ok()?, f.next()?.parse().ok()?))
}

/// `name` of the `Tcp:` lines of a `/proc/net/snmp` text.
pub fn snmp_tcp(snmp: &str, name: &str) -> Option<u64> {
    let mut tcp = snmp.lines().filter(|l| l.starts_with("Tcp:"));
    let (names, values) = (tcp.next()?, tcp.next()?);
    let i = names.split_whitespace().position(|n| n == name)?;
    values.split_whitespace().nth(i)?.parse().ok()
}

/// The 1, 5 and 15 minute load averages from `/proc/loadavg`.
pub fn parse_loadavg(text: &str) -> Option<[f64; 3]> {
    let mut f = text.split_whitespace().map(|v| v.parse::<f64>().ok());
    Some([f.next()??, f.next()??, f.next()??])
}

/// The load average now (zeros if unreadable).
pub fn loadavg() -> [f64; 3] {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|t| parse_loadavg(&t))
        .unwrap_or_default()
}

/// A `kB` line of `/proc/PID/status` (`VmRSS`, `VmHWM`), in KiB.
pub fn status_kib(status: &str, key: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.split(':').next() == Some(key))?;
    line.split(':')
        .nth(1)?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The daemon's memory at the end of its mode.
#[derive(Clone, Debug, Serialize)]
pub struct DaemonMemory {
    /// Resident set now, and its peak (`VmRSS`, `VmHWM`).
    pub rss_kib: u64,
    pub hwm_kib: u64,
}

pub fn daemon_memory(pid: u32) -> Option<DaemonMemory> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    Some(DaemonMemory {
        rss_kib: status_kib(&status, "VmRSS")?,
        hwm_kib: status_kib(&status, "VmHWM")?,
    })
}

/// What one measurement cost, both modes alike except `daemon`.
#[derive(Clone, Debug, Serialize)]
pub struct CpuUse {
    pub elapsed_s: f64,
    /// Softirq seconds of the whole machine (every CPU, every namespace):
    /// both veth ends' receive processing (NAPI, XDP, the kernel's TCP
    /// receive path, AF_XDP's copy into UMEM), and timers, RCU and anything
    /// else the neighbours' work raised.
    pub softirq_s: f64,
    /// Busy seconds of the whole machine, and the cores it had.
    pub busy_s: f64,
    pub steal_s: f64,
    pub cores: usize,
    /// TCP segments the client namespace sent (to the responder) and
    /// received (from it): every packet crossing the veth either way.
    pub client_segs_out: u64,
    pub client_segs_in: u64,
    /// `softirq_s / (client_segs_out + client_segs_in)`, in ns.
    pub softirq_ns_per_packet: f64,
    /// xdpstack modes only.
    pub daemon: Option<DaemonCpu>,
}

/// The daemon's CPU time over one measurement.
#[derive(Clone, Debug, Serialize)]
pub struct DaemonCpu {
    pub utime_s: f64,
    pub stime_s: f64,
    /// Frames its AF_XDP sockets received and sent (`xsk[].rx_frames`,
    /// `tx_frames` of `xdpstack stats --json`).
    pub rx_frames: u64,
    pub tx_frames: u64,
    /// `(utime + stime) / rx_frames`, in ns.
    pub ns_per_rx_frame: f64,
    /// `utime / rx_frames`, in ns: the daemon's own code, without the
    /// system calls (in copy mode `sendto` transmits synchronously, and
    /// softirq work it raises may run inside it: with tick-based
    /// accounting that is charged to stime and to the softirq total both).
    pub user_ns_per_rx_frame: f64,
}

/// What is read before and after a measurement.
#[derive(Clone, Copy, Debug)]
pub struct Snapshot {
    pub at: std::time::Instant,
    pub stat: ProcStat,
    /// Client namespace Tcp OutSegs, InSegs.
    pub segs: (u64, u64),
    /// Daemon utime, stime (ticks) and AF_XDP rx, tx frames.
    pub daemon: Option<(u64, u64, u64, u64)>,
}

/// The difference of two snapshots.
pub fn cpu_use(before: &Snapshot, after: &Snapshot, hz: f64) -> CpuUse {
    let secs = |t: u64| t as f64 / hz;
    let softirq_s = secs(after.stat.softirq.saturating_sub(before.stat.softirq));
    let out = after.segs.0.saturating_sub(before.segs.0);
    let inn = after.segs.1.saturating_sub(before.segs.1);
    let daemon = match (before.daemon, after.daemon) {
        (Some((u0, s0, rx0, tx0)), Some((u1, s1, rx1, tx1))) => {
            let (utime_s, stime_s) = (secs(u1.saturating_sub(u0)), secs(s1.saturating_sub(s0)));
            let rx_frames = rx1.saturating_sub(rx0);
            Some(DaemonCpu {
                utime_s,
                stime_s,
                rx_frames,
                tx_frames: tx1.saturating_sub(tx0),
                ns_per_rx_frame: per(utime_s + stime_s, rx_frames),
                user_ns_per_rx_frame: per(utime_s, rx_frames),
            })
        }
        _ => None,
    };
    CpuUse {
        elapsed_s: after.at.duration_since(before.at).as_secs_f64(),
        softirq_s,
        busy_s: secs(after.stat.busy.saturating_sub(before.stat.busy)),
        steal_s: secs(after.stat.steal.saturating_sub(before.stat.steal)),
        cores: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
        client_segs_out: out,
        client_segs_in: inn,
        softirq_ns_per_packet: per(softirq_s, out + inn),
        daemon,
    }
}

/// Seconds per item in ns; 0 when there was no item.
fn per(seconds: f64, items: u64) -> f64 {
    if items == 0 {
        0.0
    } else {
        seconds * 1e9 / items as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_stat_line() {
        let text = "cpu  66055 6850 22492 48049 1273 0 307 1110 0 0\n\
                    cpu0 32457 3163 10492 25981 451 0 35 411 0 0\nintr 1 2\n";
        let s = parse_proc_stat(text).unwrap();
        assert_eq!(s.softirq, 307);
        assert_eq!(s.steal, 1110);
        assert_eq!(s.busy, 66055 + 6850 + 22492 + 307 + 1110);
        assert_eq!(parse_proc_stat("cpu  1 2 3\n"), None);
        assert_eq!(parse_proc_stat("cpu0 1 2 3 4 5 6 7 8\n"), None);
    }

    #[test]
    fn pid_stat_with_spaces_in_comm() {
        let text = "4242 (xdp stack) S 1 4242 4242 0 -1 4194560 100 0 0 0 \
                    1234 567 0 0 20 0 3 0 100 1000000 500\n";
        assert_eq!(parse_pid_stat(text), Some((1234, 567)));
        assert_eq!(parse_pid_stat("4242 (x) S 1"), None);
        assert_eq!(parse_pid_stat("no parenthesis"), None);
    }

    #[test]
    fn snmp_counters() {
        let snmp = "Tcp: RtoAlgorithm RetransSegs InSegs OutSegs\n\
                    Tcp: 1 17 1000 2000\n";
        assert_eq!(snmp_tcp(snmp, "InSegs"), Some(1000));
        assert_eq!(snmp_tcp(snmp, "OutSegs"), Some(2000));
        assert_eq!(snmp_tcp(snmp, "Nope"), None);
    }

    #[test]
    fn loadavg_and_status() {
        assert_eq!(
            parse_loadavg("4.52 2.41 1.27 10/163 22625\n"),
            Some([4.52, 2.41, 1.27])
        );
        assert_eq!(parse_loadavg("4.52"), None);
        let status = "Name:\txdpstack\nVmHWM:\t   20480 kB\nVmRSS:\t   18000 kB\n";
        assert_eq!(status_kib(status, "VmRSS"), Some(18000));
        assert_eq!(status_kib(status, "VmHWM"), Some(20480));
        assert_eq!(status_kib(status, "VmSwap"), None);
    }

    #[test]
    fn differences_per_packet() {
        let t0 = std::time::Instant::now();
        let before = Snapshot {
            at: t0,
            stat: ProcStat {
                softirq: 100,
                busy: 1000,
                steal: 0,
            },
            segs: (10, 10),
            daemon: Some((50, 50, 1000, 1000)),
        };
        let after = Snapshot {
            at: t0 + std::time::Duration::from_secs(1),
            stat: ProcStat {
                softirq: 110,
                busy: 1150,
                steal: 5,
            },
            segs: (10_010, 10_010),
            daemon: Some((70, 80, 11_000, 11_000)),
        };
        let c = cpu_use(&before, &after, 100.0);
        assert!((c.softirq_s - 0.1).abs() < 1e-9);
        assert!((c.busy_s - 1.5).abs() < 1e-9);
        // 0.1 s over 20000 packets: 5 µs each.
        assert!((c.softirq_ns_per_packet - 5000.0).abs() < 1e-6);
        let d = c.daemon.unwrap();
        assert_eq!(d.rx_frames, 10_000);
        // 0.5 s over 10000 frames: 50 µs each.
        assert!((d.ns_per_rx_frame - 50_000.0).abs() < 1e-6);
        // 0.2 s of it in user mode.
        assert!((d.user_ns_per_rx_frame - 20_000.0).abs() < 1e-6);
        let none = cpu_use(&before, &before, 100.0);
        assert_eq!(none.softirq_ns_per_packet, 0.0);
    }
}
