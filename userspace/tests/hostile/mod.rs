//! Helpers of the hostile-input and fault suites (root_faults, root_malformed,
//! root_floods): daemons started with their stderr captured, labs where the
//! stack namespace's kernel owns 10.10.0.4 too, and /proc readings.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use xdpstack::fastpath::peer::PeerProgram;
use xtask::netns::{Lab, LabOptions};

use crate::support::{run_args, wait_ready, Running};

/// A daemon's stderr lines, collected by a thread as they come.
#[derive(Clone, Default)]
pub struct Stderr(Arc<Mutex<Vec<String>>>);

impl Stderr {
    pub fn text(&self) -> String {
        self.0.lock().map(|l| l.join("\n")).unwrap_or_default()
    }
}

/// Starts `[prefix...] xdpstack run --iface <stack> --ip 10.10.0.4/24 [extra]`
/// (see `support::run_args`) in the stack namespace and waits (at most
/// 20 s) for its ready line, with its stderr captured.
pub fn spawn_daemon(lab: &Lab, prefix: &[&str], extra: &[&str]) -> (Child, Stderr) {
    let mut child = lab
        .stack()
        .command(run_args(lab, prefix, extra))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting xdpstack run");
    let stderr = Stderr::default();
    let lines = stderr.0.clone();
    let err = child.stderr.take().expect("piped stderr");
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            eprintln!("xdpstack stderr: {line}");
            if let Ok(mut l) = lines.lock() {
                l.push(line);
            }
        }
    });
    wait_ready(&mut child, || stderr.text());
    (child, stderr)
}

/// Like `Running::start`, in a lab made with `opts`, with the daemon's
/// stderr captured.
pub fn start_in(opts: LabOptions, prefix: &[&str], extra: &[&str]) -> (Running, Stderr) {
    let lab = Lab::test(opts).expect("creating the test lab");
    let peer = PeerProgram::attach(Some(lab.client().ns()), lab.client().iface())
        .expect("attaching peer_counter to the client end");
    let (daemon, stderr) = spawn_daemon(&lab, prefix, extra);
    (Running { lab, daemon, peer }, stderr)
}

/// A lab where the stack namespace's kernel also owns 10.10.0.4, so what
/// xdpstack does not answer, Linux does.
pub fn kernel_addr() -> LabOptions {
    LabOptions {
        stack_kernel_addr: true,
    }
}

/// Waits (bounded by `limit`) for the child to exit; its status and how long
/// it took, or None if it is still running.
pub fn wait_exit(
    child: &mut Child,
    limit: Duration,
) -> Option<(std::process::ExitStatus, Duration)> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Ok(Some(s)) = child.try_wait() {
            return Some((s, start.elapsed()));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    None
}

/// One `ping -c 1 -W 1` from the client namespace; true when answered.
pub fn ping_once(lab: &Lab, dst: &str) -> bool {
    lab.client()
        .exec(["ping", "-n", "-c", "1", "-W", "1", dst])
        .is_ok_and(|o| o.status.success())
}

/// A field of /proc/PID/status (e.g. "VmRSS", "CapEff") of every thread of
/// `pid`, as the text after the colon.
pub fn thread_status_fields(pid: i32, field: &str) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for t in tasks.flatten() {
        let Ok(status) = std::fs::read_to_string(t.path().join("status")) else {
            continue;
        };
        if let Some(v) = status
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{field}:")))
        {
            out.push(v.trim().to_string());
        }
    }
    out
}

/// A field of /proc/PID/status of the process.
pub fn status_field(pid: i32, field: &str) -> Option<String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .map(|v| v.trim().to_string())
}

/// The daemon's resident set size in KiB.
pub fn rss_kib(pid: i32) -> u64 {
    status_field(pid, "VmRSS")
        .and_then(|v| v.trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// A column of the `Icmp:` lines of /proc/net/snmp in the namespace `side`.
pub fn icmp_snmp(side: &xtask::netns::Side, column: &str) -> u64 {
    let snmp = side
        .exec_ok(["cat", "/proc/net/snmp"])
        .expect("reading snmp");
    let icmp: Vec<&str> = snmp.lines().filter(|l| l.starts_with("Icmp:")).collect();
    let names: Vec<&str> = icmp[0].split_whitespace().collect();
    let values: Vec<&str> = icmp[1].split_whitespace().collect();
    let i = names
        .iter()
        .position(|n| *n == column)
        .unwrap_or_else(|| panic!("no column {column} in /proc/net/snmp"));
    values[i].parse().expect("a number")
}

/// Sends UDP datagrams of `size` bytes from the client namespace's kernel
/// to `dst:port` as fast as a plain socket goes, for at most `secs` seconds
/// or until `stop` is set. Returns how many were sent.
pub fn udp_blast(
    client_ns: &str,
    dst: &str,
    size: usize,
    secs: u64,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<u64> {
    let ns = client_ns.to_string();
    let dst = dst.to_string();
    std::thread::spawn(move || {
        if xdpstack::fastpath::peer::enter_netns(&ns).is_err() {
            return 0;
        }
        let Ok(sock) = std::net::UdpSocket::bind("0.0.0.0:0") else {
            return 0;
        };
        let payload = vec![0x5au8; size];
        let deadline = Instant::now() + Duration::from_secs(secs);
        let mut sent = 0u64;
        while Instant::now() < deadline && !stop.load(std::sync::atomic::Ordering::Relaxed) {
            // ENOBUFS or refused (ICMP unreachable) are part of a flood.
            if sock.send_to(&payload, &dst).is_ok() {
                sent += 1;
            }
        }
        sent
    })
}

/// Sends `frames` from `iface` in the namespace `ns` through an AF_PACKET
/// raw socket, then collects for `window` the frames arriving there
/// (outgoing ones left out). Runs on a thread of its own, since setns
/// changes only the calling thread.
pub fn raw_exchange(ns: &str, iface: &str, frames: Vec<Vec<u8>>, window: Duration) -> Vec<Vec<u8>> {
    let ns = ns.to_string();
    let iface = iface.to_string();
    std::thread::spawn(move || -> Vec<Vec<u8>> {
        xdpstack::fastpath::peer::enter_netns(&ns).expect("entering the client namespace");
        let sock = RawSocket::open(&iface).expect("AF_PACKET socket");
        for f in &frames {
            sock.send(f).expect("sending a raw frame");
        }
        let mut got = Vec::new();
        let end = Instant::now() + window;
        while Instant::now() < end {
            if let Some(f) = sock.recv_incoming() {
                got.push(f);
            }
        }
        got
    })
    .join()
    .expect("raw socket thread")
}

/// An AF_PACKET SOCK_RAW socket bound to one interface.
pub struct RawSocket {
    fd: std::os::fd::OwnedFd,
    ifindex: i32,
}

impl RawSocket {
    pub fn open(iface: &str) -> std::io::Result<RawSocket> {
        use std::os::fd::FromRawFd;
        let name = std::ffi::CString::new(iface).map_err(std::io::Error::other)?;
        // SAFETY: a valid NUL-terminated string.
        let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) } as i32;
        if ifindex == 0 {
            return Err(std::io::Error::last_os_error());
        }
        let proto = (libc::ETH_P_ALL as u16).to_be() as i32;
        // SAFETY: plain syscall; the fd is owned below.
        let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, proto) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: a fresh fd we own.
        let fd = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) };
        let s = RawSocket { fd, ifindex };
        let mut addr = s.sockaddr();
        addr.sll_protocol = proto as u16;
        // SAFETY: binds our fd to a valid sockaddr_ll.
        let r = unsafe {
            libc::bind(
                std::os::fd::AsRawFd::as_raw_fd(&s.fd),
                (&addr as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        if r != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let tv = libc::timeval {
            tv_sec: 0,
            tv_usec: 20_000,
        };
        // SAFETY: sets a receive timeout from a live timeval.
        unsafe {
            libc::setsockopt(
                std::os::fd::AsRawFd::as_raw_fd(&s.fd),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&tv as *const libc::timeval).cast(),
                std::mem::size_of::<libc::timeval>() as u32,
            );
        }
        Ok(s)
    }

    fn sockaddr(&self) -> libc::sockaddr_ll {
        // SAFETY: sockaddr_ll is plain data; all-zero is a valid value.
        let mut a: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        a.sll_family = libc::AF_PACKET as u16;
        a.sll_ifindex = self.ifindex;
        a.sll_halen = 6;
        a
    }

    /// Skips the qdisc: the frame goes straight to the driver (floods).
    pub fn bypass_qdisc(&self) {
        let one: libc::c_int = 1;
        // SAFETY: sets an int option from a live value.
        unsafe {
            libc::setsockopt(
                std::os::fd::AsRawFd::as_raw_fd(&self.fd),
                libc::SOL_PACKET,
                libc::PACKET_QDISC_BYPASS,
                (&one as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as u32,
            );
        }
    }

    pub fn send(&self, frame: &[u8]) -> std::io::Result<()> {
        let addr = self.sockaddr();
        // SAFETY: sends from a live buffer to a valid sockaddr_ll.
        let r = unsafe {
            libc::sendto(
                std::os::fd::AsRawFd::as_raw_fd(&self.fd),
                frame.as_ptr().cast(),
                frame.len(),
                0,
                (&addr as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        if r < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }

    /// One frame that arrived on the interface (not one we sent), or None
    /// after the 20 ms receive timeout.
    pub fn recv_incoming(&self) -> Option<Vec<u8>> {
        let mut buf = vec![0u8; 4096];
        // SAFETY: see sockaddr().
        let mut from: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::sockaddr_ll>() as u32;
        // SAFETY: receives into a live buffer and sockaddr.
        let n = unsafe {
            libc::recvfrom(
                std::os::fd::AsRawFd::as_raw_fd(&self.fd),
                buf.as_mut_ptr().cast(),
                buf.len(),
                0,
                (&mut from as *mut libc::sockaddr_ll).cast(),
                &mut len,
            )
        };
        if n <= 0 || from.sll_pkttype == libc::PACKET_OUTGOING {
            return None;
        }
        buf.truncate(n as usize);
        Some(buf)
    }
}

/// Whether the daemon of `r` still runs.
pub trait Alive {
    fn daemon_alive(&self) -> bool;
}

impl Alive for Running {
    fn daemon_alive(&self) -> bool {
        std::fs::read_to_string(format!("/proc/{}/stat", self.pid()))
            .is_ok_and(|s| !s.contains(") Z "))
    }
}
