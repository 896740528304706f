//! Root only: the daemon on a veth with 2 and 4 queues, one worker and
//! stack shard per queue. Many client flows land on different queues (every
//! socket's counters move); 200 concurrent TCP echo connections come back
//! byte-exact; UDP echo from many ports; ping and arping; `xdpstack ping`
//! (replies may land on a queue whose shard did not send the request and
//! are handed over); SIGTERM stops every worker.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use support::{kill, root_or_skip, run_args, wait_ready};
use xdpstack::fastpath::peer::PeerProgram;
use xtask::netns::{in_namespace, Lab, LabOptions};

const US: &str = "10.10.0.4";

/// The daemon serving every queue of a `queues`-queue lab.
struct Multi {
    lab: Lab,
    daemon: Child,
    _peer: PeerProgram,
}

impl Multi {
    fn start(queues: u32, extra: &[&str]) -> Multi {
        let lab = Lab::test_with_queues(LabOptions::default(), queues).expect("multi-queue lab");
        let peer = PeerProgram::attach(Some(lab.client().ns()), lab.client().iface())
            .expect("attaching peer_counter to the client end");
        let mut daemon = lab
            .stack()
            .command(run_args(&lab, &[], extra))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting xdpstack run");
        wait_ready(&mut daemon, String::new);
        Multi {
            lab,
            daemon,
            _peer: peer,
        }
    }

    fn cli(&self, args: &[&str]) -> std::process::Output {
        let mut all: Vec<String> = vec![env!("CARGO_BIN_EXE_xdpstack").to_string()];
        all.extend(args.iter().map(|s| s.to_string()));
        all.extend(["--iface".to_string(), self.lab.stack().iface().to_string()]);
        self.lab
            .stack()
            .command(&all)
            .output()
            .expect("running the CLI")
    }

    fn json(&self, args: &[&str]) -> serde_json::Value {
        let out = self.cli(args);
        assert!(
            out.status.success(),
            "xdpstack {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("JSON output")
    }

    fn client_ok(&self, args: &[&str]) -> String {
        let mut all = vec!["timeout", "20"];
        all.extend_from_slice(args);
        let out = self
            .lab
            .client()
            .command(all)
            .output()
            .expect("running a client command");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{args:?}: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        text
    }

    /// Each socket's received-frame counter, by queue.
    fn rx_per_queue(&self) -> Vec<u64> {
        let v = self.json(&["stats", "--json"]);
        v["xsk"]
            .as_array()
            .expect("xsk counters")
            .iter()
            .map(|s| s["rx_frames"].as_u64().unwrap_or(0))
            .collect()
    }
}

impl Drop for Multi {
    fn drop(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}

/// `conns` connections to the echo service, all open at once.
fn open_many(ns: &str, conns: usize) -> Vec<TcpStream> {
    in_namespace(ns, || {
        let to: SocketAddr = format!("{US}:7").parse()?;
        (0..conns)
            .map(|_| {
                let s = TcpStream::connect_timeout(&to, Duration::from_secs(5))?;
                s.set_read_timeout(Some(Duration::from_secs(10)))?;
                Ok(s)
            })
            .collect::<anyhow::Result<Vec<_>>>()
    })
    .expect("opening the connections")
}

/// Every connection sends its own pattern, then each echo is read back
/// whole and compared byte for byte.
fn echo_round(streams: &[TcpStream], round: usize) {
    let payload = |i: usize| -> Vec<u8> {
        (0..1000 + i * 7)
            .map(|j| (i.wrapping_mul(31) + j * 7 + round) as u8)
            .collect()
    };
    for (i, mut s) in streams.iter().enumerate() {
        s.write_all(&payload(i)).expect("sending");
    }
    for (i, mut s) in streams.iter().enumerate() {
        let want = payload(i);
        let mut got = vec![0u8; want.len()];
        s.read_exact(&mut got)
            .unwrap_or_else(|e| panic!("round {round}, connection {i}: reading the echo: {e}"));
        assert!(
            got == want,
            "round {round}, connection {i}: the echo differs"
        );
    }
}

/// Datagrams from `ports` sockets, each echoed back to its own port.
fn udp_echo_many(ns: &str, ports: usize) {
    let socks: Vec<UdpSocket> = in_namespace(ns, || {
        (0..ports)
            .map(|_| {
                let s = UdpSocket::bind("10.10.0.2:0")?;
                s.set_read_timeout(Some(Duration::from_millis(500)))?;
                Ok(s)
            })
            .collect::<anyhow::Result<Vec<_>>>()
    })
    .expect("binding the UDP sockets");
    let to = format!("{US}:7");
    for (i, s) in socks.iter().enumerate() {
        let msg = format!("datagram {i} from {:?}", s.local_addr().ok());
        let mut buf = [0u8; 128];
        // A datagram may be lost before ARP settles: a few tries each.
        let ok = (0..5).any(|_| {
            s.send_to(msg.as_bytes(), &to).expect("sending");
            matches!(s.recv_from(&mut buf), Ok((n, _)) if &buf[..n] == msg.as_bytes())
        });
        assert!(ok, "no echo for UDP socket {i}");
    }
}

fn serves_every_queue(queues: u32) {
    let m = Multi::start(queues, &[]);
    let status = m.json(&["status", "--json"]);
    assert_eq!(
        status[0]["queues"].as_u64(),
        Some(u64::from(queues)),
        "{status}"
    );

    // In-kernel answers still come from every queue.
    let out = m.client_ok(&["ping", "-c", "4", "-i", "0.2", "-W", "2", US]);
    assert!(out.contains("4 received"), "{out}");
    let out = m.client_ok(&[
        "arping",
        "-c",
        "2",
        "-w",
        "5",
        "-I",
        m.lab.client().iface(),
        US,
    ]);
    assert!(out.contains("2 packets received"), "{out}");

    let before = m.rx_per_queue();
    assert_eq!(before.len(), queues as usize, "one socket per queue");
    let streams = open_many(m.lab.client().ns(), 200);
    echo_round(&streams, 0);
    udp_echo_many(m.lab.client().ns(), 64);
    // Hundreds of flows hashed over the queues: every queue had some.
    let after = m.rx_per_queue();
    for (q, (a, b)) in after.iter().zip(&before).enumerate() {
        assert!(a > b, "queue {q} received nothing: {before:?} -> {after:?}");
    }
    let stats = m.json(&["stats", "--json"]);
    let echo = &stats["services"]["echo"];
    assert!(echo["tcp_connections"].as_u64() >= Some(200), "{echo}");
    assert!(echo["udp_datagrams"].as_u64() >= Some(64), "{echo}");
    assert_eq!(stats["stack"]["tcp"]["bad_checksum"].as_u64(), Some(0));

    // The daemon's own pings go out from each shard in turn; replies come
    // back on whichever queue the client's kernel picks.
    let out = m.cli(&["ping", "10.10.0.2", "-c", "6", "-i", "0.1"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("6 received"),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The replicas agree on the client's binding; listeners show once.
    let arp = m.json(&["arp", "--json"]);
    let rows = arp.as_array().expect("ARP rows");
    assert_eq!(
        rows.iter().filter(|r| r["dst"] == "10.10.0.2").count(),
        1,
        "{arp}"
    );
    let conns = m.json(&["conns", "--json"]);
    let listen7 = conns
        .as_array()
        .expect("rows")
        .iter()
        .filter(|c| {
            c["state"] == "LISTEN" && c["local"].as_str().is_some_and(|l| l.ends_with(":7"))
        })
        .count();
    assert_eq!(listen7, 1, "{conns}");
    // Steer everything the client sends to queue 0 (XPS: every CPU's
    // transmissions on TX queue 0, delivered on RX queue 0): the other
    // shards' ping replies now always arrive at shard 0, which hands them
    // over. Counted on both sides.
    let iface = m.lab.client().iface().to_string();
    let script = format!(
        "for q in /sys/class/net/{iface}/queues/tx-*; do echo 0 > $q/xps_cpus; done; \
         printf %x $(( (1 << $(nproc --all)) - 1 )) > /sys/class/net/{iface}/queues/tx-0/xps_cpus"
    );
    m.client_ok(&["sh", "-c", &script]);
    let count = (2 * queues).to_string();
    let out = m.cli(&["ping", "10.10.0.2", "-c", &count, "-i", "0.05"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains(&format!("{count} received")),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The connections the other shards own now arrive at shard 0 too
    // (an idle TCP socket re-picks its TX queue): handed round the ring
    // to their owners, every echo still byte-exact.
    echo_round(&streams, 1);
    // Replies too big for one frame: reassembled by shard 0, then handed
    // whole to the shard whose ping they answer.
    let out = m.cli(&[
        "ping",
        "10.10.0.2",
        "-c",
        &count,
        "-i",
        "0.05",
        "-s",
        "3000",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains(&format!("{count} received")),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stats = m.json(&["stats", "--json"]);
    let xsk = stats["xsk"].as_array().expect("xsk");
    let field = |q: usize, f: &str| xsk[q][f].as_u64().unwrap_or(0);
    for q in 1..queues as usize {
        assert!(
            field(q, "handoff_in") >= 2,
            "shard {q} got no replies handed over: {stats}"
        );
    }
    // Pings and the moved connections' segments.
    assert!(
        field(0, "handoff_out") >= 2 * u64::from(queues - 1) + 50,
        "{stats}"
    );
    drop(streams);
    let dropped: u64 = stats["xsk"]
        .as_array()
        .expect("xsk")
        .iter()
        .map(|s| s["handoff_dropped"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(dropped, 0, "{stats}");
}

#[test]
fn root_two_queues_serve_every_flow() {
    if !root_or_skip("root_two_queues_serve_every_flow") {
        return;
    }
    serves_every_queue(2);
}

#[test]
fn root_four_queues_serve_every_flow() {
    if !root_or_skip("root_four_queues_serve_every_flow") {
        return;
    }
    serves_every_queue(4);
}

#[test]
fn root_fewer_queues_pinned_and_sigterm_stops_every_worker() {
    if !root_or_skip("root_fewer_queues_pinned_and_sigterm_stops_every_worker") {
        return;
    }
    let mut m = Multi::start(4, &["--queues", "2", "--cpus", "0", "--busy-poll"]);
    let status = m.json(&["status", "--json"]);
    assert_eq!(status[0]["queues"].as_u64(), Some(2), "{status}");
    let out = m.client_ok(&["ping", "-c", "2", "-i", "0.2", "-W", "2", US]);
    assert!(out.contains("2 received"), "{out}");
    let workers = || {
        let dir = format!("/proc/{}/task", m.daemon.id());
        std::fs::read_dir(&dir)
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .filter(|e| {
                        std::fs::read_to_string(e.path().join("comm"))
                            .is_ok_and(|c| c.starts_with("xsk-q"))
                    })
                    .count()
            })
            .unwrap_or(0)
    };
    assert_eq!(workers(), 2, "one worker thread per served queue");
    kill(m.daemon.id() as i32, libc::SIGTERM);
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = m.daemon.try_wait().expect("waiting") {
            break s;
        }
        assert!(Instant::now() < deadline, "not stopped 10 s after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "exit after SIGTERM: {status:?}");
    let link = m
        .lab
        .stack()
        .exec_ok(["ip", "-d", "link", "show", "dev", m.lab.stack().iface()])
        .expect("ip link");
    assert!(!link.contains("prog/xdp"), "program left attached: {link}");
    let _ = &mut m;
}

/// Sends everything the client transmits on its TX queue `q` (XPS), which
/// the veth delivers on the stack end's RX queue `q`.
fn steer_client_to(m: &Multi, q: u32) {
    let iface = m.lab.client().iface().to_string();
    let script = format!(
        "for x in /sys/class/net/{iface}/queues/tx-*; do echo 0 > $x/xps_cpus; done; \
         printf %x $(( (1 << $(nproc --all)) - 1 )) > /sys/class/net/{iface}/queues/tx-{q}/xps_cpus"
    );
    m.client_ok(&["sh", "-c", &script]);
}

#[test]
fn root_userspace_arp_and_ping_on_every_queue_and_bindings_replicated() {
    if !root_or_skip("root_userspace_arp_and_ping_on_every_queue_and_bindings_replicated") {
        return;
    }
    // Fast path off: ARP and echo are answered by the shard of the queue
    // they arrive on.
    let queues = 4u32;
    let m = Multi::start(queues, &["--fastpath", "off"]);
    let iface = m.lab.client().iface().to_string();
    for q in 0..queues {
        steer_client_to(&m, q);
        // The client forgets us, so it resolves through queue q again.
        m.client_ok(&["ip", "neigh", "flush", "dev", &iface]);
        let before = m.rx_per_queue();
        let out = m.client_ok(&["ping", "-c", "2", "-i", "0.2", "-W", "2", US]);
        assert!(out.contains("2 received"), "queue {q}: {out}");
        let out = m.client_ok(&["arping", "-c", "1", "-w", "5", "-I", &iface, US]);
        assert!(out.contains("1 packets received"), "queue {q}: {out}");
        let after = m.rx_per_queue();
        assert!(
            after[q as usize] >= before[q as usize] + 4,
            "queue {q}: {before:?} -> {after:?}"
        );
    }
    // Every shard forgets the client, then only shard 0 hears from it; the
    // others learn its binding by message from shard 0: the daemon's own
    // pings go out from each shard in turn and none has to ask by ARP.
    let out = m.cli(&["arp", "flush"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let arp = m.json(&["arp", "--json"]);
    assert!(
        !arp.as_array()
            .expect("rows")
            .iter()
            .any(|r| r["dst"] == "10.10.0.2"),
        "{arp}"
    );
    steer_client_to(&m, 0);
    m.client_ok(&["ip", "neigh", "flush", "dev", &iface]);
    let out = m.client_ok(&["ping", "-c", "1", "-W", "2", US]);
    assert!(out.contains("1 received"), "{out}");
    let sent = |m: &Multi| {
        m.json(&["stats", "--json"])["stack"]["stack"]["arp_requests_sent"]
            .as_u64()
            .unwrap_or(0)
    };
    let asked = sent(&m);
    let count = (2 * queues).to_string();
    let out = m.cli(&["ping", "10.10.0.2", "-c", &count, "-i", "0.05"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains(&format!("{count} received")),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(sent(&m), asked, "a shard had to resolve the client itself");
}
