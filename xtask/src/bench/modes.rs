//! Who answers at 10.10.0.4 in the bench's lab, one mode at a time, and the
//! `xdpstack` helpers the bench runs (peer-attach, loadgen).

use std::fs::{self, File};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};

use super::cpu::{self, CpuUse, DaemonCpu, DaemonMemory, Snapshot};
use super::rr::{self, KernelEcho, Server, TcpCrr, TcpRr};
use super::transport::{self, TcpBulk, TcpSend, UdpEcho};
use crate::cmd;
use crate::netns::{
    in_namespace, Lab, Side, CLIENT_ADDR, CLIENT_ADDR6, PREFIX_LEN, PREFIX_LEN6, STACK_ADDR,
    STACK_ADDR6,
};

/// The three responders compared, plus "nothing answers" for the
/// generator's ceiling.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Linux answers: 10.10.0.4 and fd00:10:10::4 on the stack veth, no
    /// xdpstack.
    Kernel,
    /// xdpstack answers in its XDP program.
    Fastpath,
    /// xdpstack with `--fastpath off`: ARP and ICMP through AF_XDP to userspace.
    Userspace,
    /// Nothing on the stack end: no address, no XDP program.
    None,
}

impl Mode {
    pub const COMPARED: [Mode; 3] = [Mode::Kernel, Mode::Fastpath, Mode::Userspace];
    /// The modes TCP bulk and UDP echo run in: TCP and UDP always go
    /// through the userspace stack, so `userspace` would only repeat `fastpath`.
    pub const TRANSPORT: [Mode; 2] = [Mode::Kernel, Mode::Fastpath];

    pub fn name(self) -> &'static str {
        match self {
            Mode::Kernel => "kernel",
            Mode::Fastpath => "fastpath",
            Mode::Userspace => "userspace",
            Mode::None => "none",
        }
    }
}

/// The lossy link, as recorded in results.json.
pub const LOSSY_LINK: &str = "client veth, tc clsact ingress and egress: classic BPF \
     dropping a random 1% of frames (TC_ACT_STOLEN, silent like a wire loss), no added delay";
/// `ld rand; jgt 0.99*2^32; ret STOLEN; ret OK` (as the netns tests' lossy link).
const LOSS_1PCT: &str = "4,32 0 0 4294963256,37 0 1 4252017622,6 0 0 4,6 0 0 0";

/// How long the daemon may take to load, attach and say "serving".
const DAEMON_READY: Duration = Duration::from_secs(20);
/// How long it may take to exit after SIGTERM before it is killed.
const DAEMON_STOP: Duration = Duration::from_secs(5);

/// The lab plus what the bench attached to it. Dropping it stops the
/// daemon, removes the pins (which detaches their programs) and deletes the
/// namespaces.
pub struct BenchLab {
    pub binary: PathBuf,
    /// This run's folder on the bpffs, for the pinned peer programs.
    pins: PathBuf,
    /// Where the daemon's control socket and log go.
    run_dir: PathBuf,
    daemon: Option<Child>,
    /// Added to `xdpstack run`'s arguments (the multi-queue rows).
    pub daemon_args: Vec<String>,
    /// The generator's sending CPUs (`loadgen flood --cpus`); empty: one
    /// unpinned thread.
    pub flood_cpus: Vec<usize>,
    // Last: dropped after the daemon and the pins.
    lab: Lab,
}

impl BenchLab {
    pub fn new(binary: &Path, out_dir: &Path) -> Result<BenchLab> {
        BenchLab::with_queues(binary, out_dir, 1)
    }

    /// A lab whose veth ends have `queues` RX/TX queues each.
    pub fn with_queues(binary: &Path, out_dir: &Path, queues: u32) -> Result<BenchLab> {
        let lab = Lab::test_with_queues(Default::default(), queues)?;
        let pins = PathBuf::from(format!(
            "{}/xdpbench-{}",
            crate::setup::BPFFS_DIR,
            std::process::id()
        ));
        let run_dir = out_dir.join("run");
        fs::create_dir_all(&run_dir).with_context(|| format!("creating {}", run_dir.display()))?;
        // TCP_CRR leaves a port in TIME-WAIT per connection: the widest
        // range gives it the most room (see `rr::port_budget`).
        let (lo, hi) = rr::CLIENT_PORT_RANGE;
        in_namespace(lab.client().ns(), || {
            fs::write(
                "/proc/sys/net/ipv4/ip_local_port_range",
                format!("{lo} {hi}"),
            )
            .context("setting the client's net.ipv4.ip_local_port_range")
        })?;
        Ok(BenchLab {
            binary: binary.to_path_buf(),
            pins,
            run_dir,
            daemon: None,
            daemon_args: Vec::new(),
            flood_cpus: Vec::new(),
            lab,
        })
    }

    pub fn client(&self) -> &Side {
        self.lab.client()
    }

    pub fn stack(&self) -> &Side {
        self.lab.stack()
    }

    /// Puts the stack end in `mode` (from whatever it was).
    pub fn set_mode(&mut self, mode: Mode) -> Result<()> {
        self.clear()?;
        match mode {
            Mode::None => {}
            Mode::Kernel => {
                let addr = format!("{STACK_ADDR}/{PREFIX_LEN}");
                let iface = self.stack().iface().to_string();
                self.stack()
                    .exec_ok(["ip", "addr", "replace", &addr, "dev", &iface])?;
                // nodad: usable at once, as the lab's own addresses.
                let addr6 = format!("{STACK_ADDR6}/{PREFIX_LEN6}");
                self.stack()
                    .exec_ok(["ip", "addr", "replace", &addr6, "dev", &iface, "nodad"])?;
                // The generator's frames reach a veth end only if it has an
                // XDP program (NAPI); xdpstack modes have theirs, the kernel
                // gets peer_counter, which passes every frame to it.
                let (ns, iface) = (self.stack().ns().to_string(), iface);
                self.pin_peer(&ns, &iface, "stack")?;
            }
            Mode::Fastpath | Mode::Userspace => self.start_daemon(mode)?,
        }
        Ok(())
    }

    /// Back to nothing answering.
    fn clear(&mut self) -> Result<()> {
        self.stop_daemon()?;
        self.unpin("stack")?;
        let iface = self.stack().iface().to_string();
        self.stack()
            .exec_ok(["ip", "-4", "addr", "flush", "dev", &iface])?;
        // The kernel's link-local address stays (xdpstack derives the same).
        self.stack().exec_ok([
            "ip", "-6", "addr", "flush", "dev", &iface, "scope", "global",
        ])?;
        Ok(())
    }

    fn start_daemon(&mut self, mode: Mode) -> Result<()> {
        let log_path = self.run_dir.join("xdpstack.log");
        let log = File::options()
            .create(true)
            .append(true)
            .open(&log_path)
            .with_context(|| format!("opening {}", log_path.display()))?;
        let mut args = vec![
            self.binary.display().to_string(),
            "run".into(),
            "--iface".into(),
            self.stack().iface().into(),
            "--ip".into(),
            format!("{STACK_ADDR}/{PREFIX_LEN}"),
            "--ip6".into(),
            format!("{STACK_ADDR6}/{PREFIX_LEN6}"),
            "--mode".into(),
            "native".into(),
            "--control-dir".into(),
            self.run_dir.display().to_string(),
        ];
        // chargen (TCP 19) for the sending benchmark, beside the defaults.
        args.extend(["--services".into(), "echo,discard,http,chargen".into()]);
        if mode == Mode::Userspace {
            args.extend(["--fastpath".into(), "off".into()]);
        }
        args.extend(self.daemon_args.iter().cloned());
        let mut child = self
            .stack()
            .command(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .context("starting xdpstack run")?;
        let stdout = child.stdout.take().ok_or_else(|| anyhow!("no stdout"))?;
        self.daemon = Some(child);
        let (tx, rx) = mpsc::channel();
        // Keeps reading until the daemon exits, so its pipe never fills.
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + DAEMON_READY;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) if line.contains("serving") => return Ok(()),
                Ok(_) => continue,
                Err(_) => bail!(
                    "xdpstack did not become ready within {DAEMON_READY:?}: see {}",
                    log_path.display()
                ),
            }
        }
    }

    fn stop_daemon(&mut self) -> Result<()> {
        let Some(mut child) = self.daemon.take() else {
            return Ok(());
        };
        // SIGTERM: the daemon shuts down cleanly (socket file removed).
        let _ = cmd::output(Command::new("kill").args(["-TERM", &child.id().to_string()]));
        let deadline = Instant::now() + DAEMON_STOP;
        while Instant::now() < deadline {
            if child.try_wait()?.is_some() {
                return Ok(());
            }
            thread::sleep(Duration::from_millis(20));
        }
        child.kill()?;
        child.wait()?;
        Ok(())
    }

    /// Attaches `peer_counter` to the client end for as long as `f` runs
    /// (the ping flood: replies sent with XDP_TX reach it only then).
    pub fn with_client_peer<T>(&self, f: impl FnOnce() -> Result<T>) -> Result<T> {
        let (ns, iface) = (self.client().ns(), self.client().iface());
        self.pin_peer(ns, iface, "client")?;
        let result = f();
        self.unpin("client")?;
        result
    }

    fn pin_peer(&self, ns: &str, iface: &str, name: &str) -> Result<()> {
        let pin = self.pins.join(name);
        cmd::stdout_ok(Command::new(&self.binary).args([
            "peer-attach",
            "--netns",
            ns,
            "--iface",
            iface,
            "--pin",
            &pin.display().to_string(),
        ]))?;
        Ok(())
    }

    fn unpin(&self, name: &str) -> Result<()> {
        let pin = self.pins.join(name);
        match fs::remove_file(&pin) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e).with_context(|| format!("removing {}", pin.display())),
        }
    }

    /// The id of the XDP program attached to the stack end, if any.
    pub fn stack_prog_id(&self) -> Result<Option<u32>> {
        let iface = self.stack().iface().to_string();
        let out = self
            .stack()
            .exec_ok(["ip", "-j", "link", "show", "dev", &iface])?;
        let json: serde_json::Value =
            serde_json::from_str(&out).context("reading `ip -j link show`")?;
        Ok(json[0]["xdp"]["prog"]["id"].as_u64().map(|id| id as u32))
    }

    /// One generator run: `xdpstack loadgen flood` from the client end.
    pub fn flood(&self, load: &Load, duration: f64, stats_prog: Option<u32>) -> Result<Flood> {
        let src_mac = format_mac(self.client().mac()?);
        let dst_mac = format_mac(self.stack().mac()?);
        let (src_ip, dst_ip) = if load.is_ipv6() {
            (CLIENT_ADDR6, STACK_ADDR6)
        } else {
            (CLIENT_ADDR, STACK_ADDR)
        };
        let mut args = vec![
            "loadgen".to_string(),
            "flood".into(),
            "--netns".into(),
            self.client().ns().into(),
            "--iface".into(),
            self.client().iface().into(),
            "--kind".into(),
            load.kind.into(),
            "--payload".into(),
            load.payload.to_string(),
            "--duration".into(),
            duration.to_string(),
            "--src-mac".into(),
            src_mac,
            "--src-ip".into(),
            src_ip.into(),
            "--dst-mac".into(),
            dst_mac,
            "--dst-ip".into(),
            dst_ip.into(),
        ];
        if let Some(id) = stats_prog {
            args.extend(["--stats-prog-id".into(), id.to_string()]);
        }
        if !self.flood_cpus.is_empty() {
            let list: Vec<String> = self.flood_cpus.iter().map(|c| c.to_string()).collect();
            args.extend(["--cpus".into(), list.join(",")]);
        }
        let out = cmd::stdout_ok(Command::new(&self.binary).args(&args))?;
        serde_json::from_str(&out).with_context(|| format!("reading loadgen's output: {out}"))
    }
}

impl BenchLab {
    /// The client kernel sends `bytes` into discard on TCP port 9: the
    /// kernel's (a server thread in the stack namespace) in kernel mode,
    /// xdpstack's otherwise. Fails unless every byte arrived.
    pub fn tcp_bulk(&self, mode: Mode, bytes: u64) -> Result<TcpBulk> {
        let retrans_before = self.client_retrans()?;
        let (elapsed_s, received) = if mode == Mode::Kernel {
            let server = transport::kernel_discard(self.stack().ns())?;
            let sent = transport::send_bulk(self.client().ns(), bytes);
            let received = server
                .join()
                .map_err(|_| anyhow!("the kernel discard server panicked"))?;
            (sent?, received?)
        } else {
            let before = self.daemon_stat("services.discard.tcp_bytes")?;
            let elapsed = transport::send_bulk(self.client().ns(), bytes)?;
            let after = self.daemon_stat("services.discard.tcp_bytes")?;
            (elapsed, after.saturating_sub(before))
        };
        if received != bytes {
            bail!(
                "{}: discard read {received} of the {bytes} bytes sent",
                mode.name()
            );
        }
        Ok(TcpBulk {
            bytes,
            received,
            elapsed_s,
            mbit_s: bytes as f64 * 8.0 / elapsed_s / 1e6,
            client_retransmits: self.client_retrans()?.saturating_sub(retrans_before),
        })
    }

    /// A bulk transfer the other way: the client reads `bytes` from
    /// chargen (TCP 19), the kernel's (a server thread in the stack
    /// namespace) in kernel mode, xdpstack's otherwise, checking every byte.
    pub fn tcp_send(&self, mode: Mode, bytes: u64) -> Result<TcpSend> {
        let client_before = self.client_retrans()?;
        let sender_before = self.sender_retrans(mode)?;
        let timeouts_before = self.sender_timeouts(mode)?;
        let (elapsed_s, received) = if mode == Mode::Kernel {
            let server = transport::kernel_chargen(self.stack().ns())?;
            let got = transport::recv_bulk(self.client().ns(), bytes);
            let written = server
                .join()
                .map_err(|_| anyhow!("the kernel chargen server panicked"))?;
            let got = got?;
            written?;
            got
        } else {
            transport::recv_bulk(self.client().ns(), bytes)?
        };
        if received != bytes {
            bail!(
                "{}: the client read {received} of {bytes} bytes from chargen",
                mode.name()
            );
        }
        Ok(TcpSend {
            bytes,
            received,
            elapsed_s,
            mbit_s: bytes as f64 * 8.0 / elapsed_s / 1e6,
            sender_retransmits: self.sender_retrans(mode)?.saturating_sub(sender_before),
            client_retransmits: self.client_retrans()?.saturating_sub(client_before),
            sender_timeouts: self.sender_timeouts(mode)?.saturating_sub(timeouts_before),
        })
    }

    /// Retransmission timeouts of whoever serves in `mode`.
    fn sender_timeouts(&self, mode: Mode) -> Result<u64> {
        if mode == Mode::Kernel {
            let netstat = self.stack().exec_ok(["cat", "/proc/net/netstat"])?;
            transport::tcp_timeouts(&netstat).context("no TcpExt TCPTimeouts in /proc/net/netstat")
        } else {
            self.daemon_stat("stack.tcp.timeouts")
        }
    }

    /// Segments retransmitted by whoever serves in `mode`: the stack
    /// namespace's kernel, or xdpstack.
    fn sender_retrans(&self, mode: Mode) -> Result<u64> {
        if mode == Mode::Kernel {
            let snmp = self.stack().exec_ok(["cat", "/proc/net/snmp"])?;
            transport::retrans_segs(&snmp).context("no Tcp RetransSegs in /proc/net/snmp")
        } else {
            self.daemon_stat("stack.tcp.retransmits")
        }
    }

    /// Runs `f` with the client's link losing 1% of frames each way (see
    /// [`LOSSY_LINK`]), and takes the loss away after.
    pub fn with_lossy_link<T>(&self, f: impl FnOnce() -> Result<T>) -> Result<T> {
        let iface = self.client().iface().to_string();
        self.client()
            .exec_ok(["tc", "qdisc", "add", "dev", &iface, "clsact"])?;
        let mut result = Ok(());
        for dir in ["ingress", "egress"] {
            if result.is_ok() {
                result = self
                    .client()
                    .exec_ok([
                        "tc", "filter", "add", "dev", &iface, dir, "bpf", "da", "bytecode",
                        LOSS_1PCT,
                    ])
                    .map(drop);
            }
        }
        let result = result.and_then(|()| f());
        self.client()
            .exec_ok(["tc", "qdisc", "del", "dev", &iface, "clsact"])?;
        result
    }

    /// UDP echo round trips for `duration` seconds: the kernel's echo (a
    /// server thread in the stack namespace) in kernel mode, xdpstack's
    /// otherwise.
    pub fn udp_echo(&self, mode: Mode, duration: f64) -> Result<UdpEcho> {
        if mode != Mode::Kernel {
            return transport::echo_client(self.client().ns(), duration);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let server = transport::kernel_echo(self.stack().ns(), stop.clone())?;
        let result = transport::echo_client(self.client().ns(), duration);
        stop.store(true, Ordering::SeqCst);
        server
            .join()
            .map_err(|_| anyhow!("the kernel echo server panicked"))??;
        result
    }

    /// TCP_RR from the client against echo (TCP 7): in kernel mode a
    /// kernel-socket server of `shape` in the stack namespace, xdpstack's
    /// echo otherwise (`shape` unused).
    pub fn tcp_rr(&self, mode: Mode, shape: Server, duration: f64) -> Result<TcpRr> {
        let (mut run, cpu, server) =
            self.against_echo(mode, shape, || rr::tcp_rr(self.client().ns(), duration))?;
        (run.cpu, run.server) = (Some(cpu), server);
        Ok(run)
    }

    /// TCP_CRR, as [`BenchLab::tcp_rr`].
    pub fn tcp_crr(&self, mode: Mode, shape: Server, duration: f64) -> Result<TcpCrr> {
        let (held, waited) = self.wait_for_ports()?;
        let (mut run, cpu, server) = self.against_echo(mode, shape, || {
            rr::tcp_crr(self.client().ns(), duration, held)
        })?;
        (run.cpu, run.server) = (Some(cpu), server);
        run.waited_for_ports_s = waited;
        Ok(run)
    }

    /// Runs `f` with the daemon's CPU over it (None without a daemon).
    pub fn daemon_cpu_during<T>(
        &self,
        f: impl FnOnce() -> Result<T>,
    ) -> Result<(T, Option<DaemonCpu>)> {
        let before = self.snapshot(true)?;
        let result = f()?;
        let after = self.snapshot(false)?;
        let cpu = cpu::cpu_use(&before, &after, cpu::clock_ticks());
        Ok((result, cpu.daemon))
    }

    /// Waits (at most a TIME-WAIT period and a bit) until the client
    /// namespace has ports for a TCP_CRR run; returns the sockets it holds
    /// then and the seconds waited.
    fn wait_for_ports(&self) -> Result<(u64, f64)> {
        const TIME_WAIT: Duration = Duration::from_secs(65);
        let started = Instant::now();
        loop {
            let held = self.client_tcp_sockets()?;
            if rr::port_budget(held) >= rr::CRR_MIN_BUDGET || started.elapsed() >= TIME_WAIT {
                return Ok((held, started.elapsed().as_secs_f64()));
            }
            super::check_interrupted()?;
            thread::sleep(Duration::from_secs(1));
        }
    }

    /// Runs `f` against the right echo server; with the CPU it cost and who
    /// answered.
    fn against_echo<T>(
        &self,
        mode: Mode,
        shape: Server,
        f: impl FnOnce() -> Result<T>,
    ) -> Result<(T, CpuUse, String)> {
        let (server, name) = match mode {
            Mode::Kernel => (
                Some(KernelEcho::start(self.stack().ns(), shape)?),
                shape.describe(),
            ),
            _ => (None, rr::XDPSTACK_SERVER.to_string()),
        };
        let before = self.snapshot(true);
        let result = f();
        let after = self.snapshot(false);
        if let Some(server) = server {
            server.stop()?;
        }
        let hz = cpu::clock_ticks();
        Ok((result?, cpu::cpu_use(&before?, &after?, hz), name))
    }

    /// What [`cpu::cpu_use`] compares. The daemon's frame counters take a
    /// control request: read before the CPU figures at the start and after
    /// them at the end, so the request's own CPU is outside.
    fn snapshot(&self, start: bool) -> Result<Snapshot> {
        let pid = self.daemon_pid();
        let frames = |yes: bool| -> Result<Option<(u64, u64)>> {
            match pid {
                Some(_) if yes => self.daemon_frames().map(Some),
                _ => Ok(None),
            }
        };
        let early = frames(start)?;
        let stat = fs::read_to_string("/proc/stat").context("reading /proc/stat")?;
        let stat = cpu::parse_proc_stat(&stat).context("no cpu line in /proc/stat")?;
        let daemon_ticks = match pid {
            Some(pid) => {
                let text = fs::read_to_string(format!("/proc/{pid}/stat"))
                    .with_context(|| format!("reading /proc/{pid}/stat"))?;
                Some(cpu::parse_pid_stat(&text).context("malformed /proc/PID/stat")?)
            }
            None => None,
        };
        let at = Instant::now();
        let snmp = self.client_read("/proc/thread-self/net/snmp")?;
        let seg = |name| cpu::snmp_tcp(&snmp, name).with_context(|| format!("no Tcp {name}"));
        let segs = (seg("OutSegs")?, seg("InSegs")?);
        let late = frames(!start)?;
        let daemon = match (daemon_ticks, early.or(late)) {
            (Some((utime, stime)), Some((rx, tx))) => Some((utime, stime, rx, tx)),
            _ => None,
        };
        Ok(Snapshot {
            at,
            stat,
            segs,
            daemon,
        })
    }

    /// The running daemon's pid (`ip netns exec` execs it in place).
    pub fn daemon_pid(&self) -> Option<u32> {
        self.daemon.as_ref().map(Child::id)
    }

    /// The running daemon's memory, if there is one.
    pub fn daemon_memory(&self) -> Option<DaemonMemory> {
        cpu::daemon_memory(self.daemon_pid()?)
    }

    /// AF_XDP frames received and sent, summed over the daemon's sockets.
    fn daemon_frames(&self) -> Result<(u64, u64)> {
        let json = self.daemon_stats()?;
        let xsk = json["xsk"]
            .as_array()
            .context("no xsk array in `xdpstack stats --json`")?;
        let sum = |key: &str| {
            xsk.iter()
                .map(|s| s[key].as_u64().with_context(|| format!("no xsk {key}")))
                .sum::<Result<u64>>()
        };
        Ok((sum("rx_frames")?, sum("tx_frames")?))
    }

    /// TCP sockets in the client namespace (TIME-WAIT of earlier TCP_CRR
    /// runs, mostly).
    fn client_tcp_sockets(&self) -> Result<u64> {
        Ok(rr::tcp_sockets(
            &self.client_read("/proc/thread-self/net/tcp")?,
        ))
    }

    /// A file of /proc read from a thread inside the client namespace
    /// (`thread-self`: `/proc/net` follows the process's first thread).
    fn client_read(&self, path: &str) -> Result<String> {
        let path = path.to_string();
        in_namespace(self.client().ns(), move || {
            fs::read_to_string(&path).with_context(|| format!("reading {path}"))
        })
    }

    /// The client kernel's TCP RetransSegs.
    fn client_retrans(&self) -> Result<u64> {
        let snmp = self.client().exec_ok(["cat", "/proc/net/snmp"])?;
        transport::retrans_segs(&snmp).context("no Tcp RetransSegs in /proc/net/snmp")
    }

    /// One counter of the running daemon's `xdpstack stats --json`, by its
    /// dotted path (`services.discard.tcp_bytes`).
    fn daemon_stat(&self, path: &str) -> Result<u64> {
        let json = self.daemon_stats()?;
        path.split('.')
            .fold(&json, |v, key| &v[key])
            .as_u64()
            .with_context(|| format!("no counter {path} in `xdpstack stats --json`"))
    }

    /// The running daemon's `xdpstack stats --json`.
    pub fn daemon_stats(&self) -> Result<serde_json::Value> {
        let out = self.stack().exec_ok([
            &self.binary.display().to_string(),
            "stats",
            "--json",
            "--iface",
            self.stack().iface(),
            "--control-dir",
            &self.run_dir.display().to_string(),
        ])?;
        serde_json::from_str(&out).context("reading `xdpstack stats --json`")
    }
}

impl Drop for BenchLab {
    fn drop(&mut self) {
        if let Err(e) = self.stop_daemon() {
            eprintln!("warning: stopping xdpstack: {e:#}");
        }
        let _ = self.unpin("client");
        let _ = self.unpin("stack");
        let _ = fs::remove_dir(&self.pins);
        // The lab itself is deleted by its own Drop.
    }
}

/// What the generator sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Load {
    /// `echo`, `arp`, `echo6` or `ns` (as `xdpstack loadgen flood --kind`).
    pub kind: &'static str,
    /// ICMP data bytes (0 for ARP and NS).
    pub payload: usize,
}

impl Load {
    pub const ECHO_56: Load = Load {
        kind: "echo",
        payload: 56,
    };
    pub const ARP: Load = Load {
        kind: "arp",
        payload: 0,
    };
    /// Echo 56 and ARP are the packet-rate floods; echo 56/512/1472 the sweep.
    pub const ALL: [Load; 4] = [
        Load::ECHO_56,
        Load::ARP,
        Load {
            kind: "echo",
            payload: 512,
        },
        Load {
            kind: "echo",
            payload: 1472,
        },
    ];

    /// The IPv6 floods (see `super::ipv6`).
    pub const ECHO6_56: Load = Load {
        kind: "echo6",
        payload: 56,
    };
    pub const NS: Load = Load {
        kind: "ns",
        payload: 0,
    };

    pub fn is_ipv6(&self) -> bool {
        matches!(self.kind, "echo6" | "ns")
    }

    pub fn label(&self) -> String {
        match self.kind {
            "arp" | "ns" => self.kind.to_string(),
            kind => format!("{kind} {}", self.payload),
        }
    }
}

/// `xdpstack loadgen flood`'s JSON.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Flood {
    pub kind: String,
    pub payload: usize,
    pub frame_len: usize,
    pub offered: u64,
    pub answered: u64,
    pub other: u64,
    pub elapsed_s: f64,
    pub offered_pps: f64,
    pub answered_pps: f64,
    pub loss: f64,
    pub prog_stats: Option<ProgStats>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ProgStats {
    pub prog_id: u32,
    pub name: String,
    pub run_cnt: u64,
    pub run_time_ns: u64,
    pub ns_per_run: f64,
}

fn format_mac(mac: [u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}
