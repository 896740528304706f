//! `xdpstack capture` against the real daemon in a namespace lab: the
//! stack-side capture records every exchange of a client (ARP, ping, UDP,
//! TCP) in both directions, byte for byte as the client's own tcpdump sees
//! them, and a killed capture client turns the in-kernel copy off. Root only.

mod support;

use std::process::{Child, Stdio};
use std::time::Duration;

use support::{command_exists, eventually, kill, root_or_skip, Running};

/// One frame of a capture file: direction (None: not recorded), comment,
/// bytes.
#[derive(Debug)]
struct Rec {
    outbound: Option<bool>,
    /// The frame's length on the wire (the data may be shorter).
    orig_len: usize,
    comment: String,
    data: Vec<u8>,
}

fn u32le(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
}

/// The enhanced packet blocks of a little-endian PcapNG file.
fn read_pcapng(b: &[u8]) -> Vec<Rec> {
    assert_eq!(u32le(b, 0), 0x0A0D_0D0A, "section header first");
    let mut out = Vec::new();
    let mut o = 0;
    while o + 12 <= b.len() {
        let (kind, len) = (u32le(b, o), u32le(b, o + 4) as usize);
        assert!(len >= 12 && o + len <= b.len(), "block at {o}");
        if kind == 6 {
            let caplen = u32le(b, o + 20) as usize;
            let orig_len = u32le(b, o + 24) as usize;
            let data = b[o + 28..o + 28 + caplen].to_vec();
            let mut p = o + 28 + caplen.div_ceil(4) * 4;
            let (mut outbound, mut comment) = (None, String::new());
            while p + 4 <= o + len - 4 {
                let code = u16::from_le_bytes([b[p], b[p + 1]]);
                let olen = u16::from_le_bytes([b[p + 2], b[p + 3]]) as usize;
                let v = &b[p + 4..p + 4 + olen];
                match code {
                    0 => break,
                    1 => comment = String::from_utf8_lossy(v).into_owned(),
                    2 => outbound = Some(u32le(v, 0) & 3 == 2),
                    _ => {}
                }
                p += 4 + olen.div_ceil(4) * 4;
            }
            out.push(Rec {
                outbound,
                orig_len,
                comment,
                data,
            });
        }
        o += len;
    }
    out
}

/// The frames of a classic pcap file (tcpdump -w).
fn read_pcap(b: &[u8]) -> Vec<Vec<u8>> {
    assert!(
        matches!(u32le(b, 0), 0xA1B2_C3D4 | 0xA1B2_3C4D),
        "pcap magic"
    );
    let mut out = Vec::new();
    let mut o = 24;
    while o + 16 <= b.len() {
        let caplen = u32le(b, o + 8) as usize;
        out.push(b[o + 16..o + 16 + caplen].to_vec());
        o += 16 + caplen;
    }
    out
}

/// ARP and IPv4 only: IPv6 chatter of the namespaces' kernels is not what
/// the test is about (the stack side's own kernel sends some that xdpstack
/// never sees).
fn ours(f: &[u8]) -> bool {
    f.len() >= 14 && matches!([f[12], f[13]], [0x08, 0x06] | [0x08, 0x00])
}

fn start_capture(r: &Running, args: &[&str]) -> Child {
    let mut all: Vec<String> = vec![env!("CARGO_BIN_EXE_xdpstack").into(), "capture".into()];
    all.extend(args.iter().map(|s| s.to_string()));
    all.extend(["--iface".into(), r.lab.stack().iface().into()]);
    r.lab
        .stack()
        .command(&all)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting xdpstack capture")
}

fn capture_flag_on(r: &Running) -> bool {
    // The program counts each copy it makes: a ping shows whether it copies.
    let before = r.stat("xdp.capture_frames");
    r.client_ok(&["ping", "-c", "1", "-W", "2", "10.10.0.4"]);
    r.stat("xdp.capture_frames") > before
}

#[test]
fn root_capture_records_both_directions_byte_for_byte() {
    if !root_or_skip("root_capture_records_both_directions_byte_for_byte") {
        return;
    }
    if !command_exists("tcpdump") {
        eprintln!("tcpdump missing: skipped");
        return;
    }
    let r = Running::start(&[]);
    let dir = std::env::temp_dir().join(format!("xdpstack-capture-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let stack_file = dir.join("stack.pcapng");
    let client_file = dir.join("client.pcap");
    let mut tcpdump = r
        .lab
        .client()
        .command([
            "tcpdump",
            "-i",
            r.lab.client().iface(),
            // Each frame written as it comes, and read as it comes: without
            // immediate mode the last second's frames may never be written.
            "-U",
            "--immediate-mode",
            "-n",
            "-w",
            client_file.to_str().unwrap(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("tcpdump on the client");
    // tcpdump first: everything the capture records, it must see too.
    assert!(eventually(5, || std::fs::metadata(&client_file)
        .is_ok_and(|m| m.len() >= 24)));
    std::thread::sleep(Duration::from_millis(200));
    let cap = start_capture(&r, &["-w", stack_file.to_str().unwrap()]);
    // The capture listens once the program copies.
    assert!(eventually(5, || r.stat("xdp.capture_frames") > 0 || {
        r.client(&["ping", "-c", "1", "-W", "1", "10.10.0.4"]);
        false
    }));
    std::thread::sleep(Duration::from_millis(300));
    let iface = r.lab.client().iface().to_string();
    r.client_ok(&["arping", "-c", "1", "-w", "2", "-i", &iface, "10.10.0.4"]);
    r.client_ok(&["ping", "-c", "1", "-W", "2", "10.10.0.4"]);
    let echoed = r.client_ok(&["sh", "-c", "printf 'udp\\n' | nc -u -w 1 10.10.0.4 7"]);
    assert_eq!(echoed, "udp\n");
    r.client_ok(&["nc", "-z", "-w", "2", "10.10.0.4", "80"]);
    std::thread::sleep(Duration::from_millis(500));
    kill(cap.id() as i32, libc::SIGINT);
    kill(tcpdump.id() as i32, libc::SIGINT);
    let out = cap.wait_with_output().unwrap();
    let _ = tcpdump.wait();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "capture: {stderr}");
    assert!(stderr.contains(" frames captured, 0 lost"), "{stderr}");

    let stack = read_pcapng(&std::fs::read(&stack_file).unwrap());
    let client = read_pcap(&std::fs::read(&client_file).unwrap());
    // Every frame recorded says which way it went, and the way matches its
    // source address.
    let stack_mac = r.lab.stack().mac().expect("the stack end's MAC");
    for rec in &stack {
        let from_us = rec.data[6..12] == stack_mac;
        assert_eq!(rec.outbound, Some(from_us), "{rec:?}");
    }
    let stack_frames: Vec<&Rec> = stack.iter().filter(|r| ours(&r.data)).collect();
    let client_frames: Vec<&Vec<u8>> = client.iter().filter(|f| ours(f)).collect();
    // The exchanges, in order, with the path each took.
    let comments: Vec<&str> = stack_frames.iter().map(|r| r.comment.as_str()).collect();
    // tcpdump listened before the capture started, and both ended after a
    // quiet moment: each way, the frames the stack recorded are, in order
    // and byte for byte, the last ones the client saw going that way.
    // (Across the two directions the order may differ: frames that cross
    // on the wire, like two FINs, are seen in opposite orders at the ends.)
    for outbound in [false, true] {
        let s: Vec<&Vec<u8>> = stack_frames
            .iter()
            .filter(|r| r.outbound == Some(outbound))
            .map(|r| &r.data)
            .collect();
        let c: Vec<&Vec<u8>> = client_frames
            .iter()
            .filter(|f| (f[6..12] == stack_mac) == outbound)
            .copied()
            .collect();
        let common = s
            .iter()
            .rev()
            .zip(c.iter().rev())
            .take_while(|(a, b)| a == b)
            .count();
        assert_eq!(
            common,
            s.len(),
            "outbound {outbound}: only the last {common} of {} frames match the client's: {comments:?}\nstack's last: {:02x?}\nclient's last: {:02x?}",
            s.len(),
            s.last().map(|f| &f[..f.len().min(64)]),
            c.iter().rev().take(3).map(|f| &f[..f.len().min(64)]).collect::<Vec<_>>()
        );
    }
    let find = |from: usize, want: &str| {
        comments[from..]
            .iter()
            .position(|c| *c == want)
            .map(|p| p + from)
            .unwrap_or_else(|| panic!("no '{want}' after {from} in {comments:?}"))
    };
    let is_arp = |i: usize| stack_frames[i].data[12..14] == [0x08, 0x06];
    let proto = |i: usize| stack_frames[i].data.get(23).copied();
    let tcp_flags = |i: usize| stack_frames[i].data.get(47).copied();
    // arping: request and in-kernel reply.
    let a = (0..comments.len())
        .find(|&i| {
            is_arp(i)
                && comments[i] == "xdp_tx arp_replied"
                && stack_frames[i].outbound == Some(false)
        })
        .expect("the ARP request");
    assert!(is_arp(a + 1) && stack_frames[a + 1].outbound == Some(true));
    // ping: request and in-kernel reply.
    let e = find(a + 2, "xdp_tx icmp_echo_replied");
    assert_eq!(proto(e), Some(1));
    assert_eq!(comments[e + 1], "xdp_tx icmp_echo_replied");
    assert_eq!(stack_frames[e + 1].outbound, Some(true));
    // UDP: the datagram and the echo service's answer, through AF_XDP.
    let u = find(e + 2, "xsk rx");
    assert_eq!(proto(u), Some(17));
    assert_eq!((comments[u + 1], proto(u + 1)), ("xsk tx", Some(17)));
    // TCP: SYN, SYN-ACK, ACK.
    let t = (u + 2..comments.len())
        .find(|&i| proto(i) == Some(6))
        .expect("a TCP segment");
    assert_eq!((comments[t], tcp_flags(t)), ("xsk rx", Some(0x02)));
    assert_eq!((comments[t + 1], tcp_flags(t + 1)), ("xsk tx", Some(0x12)));
    assert_eq!(comments[t + 2], "xsk rx");
    assert_eq!(tcp_flags(t + 2).map(|f| f & 0x17), Some(0x10));

    // tcpdump reads the file.
    let read = std::process::Command::new("tcpdump")
        .arg("-enr")
        .arg(&stack_file)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&read.stdout);
    assert!(
        read.status.success(),
        "{}",
        String::from_utf8_lossy(&read.stderr)
    );
    assert!(text.contains("Request who-has 10.10.0.4"), "{text}");
    assert!(text.contains("ICMP echo reply"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn root_killed_capture_client_turns_the_copy_off() {
    if !root_or_skip("root_killed_capture_client_turns_the_copy_off") {
        return;
    }
    let r = Running::start(&[]);
    assert!(!capture_flag_on(&r), "copying before any client");
    let mut a = start_capture(&r, &["-w", "/dev/null"]);
    let mut b = start_capture(&r, &["-w", "/dev/null", "--pcap"]);
    assert!(eventually(5, || capture_flag_on(&r)));
    kill(a.id() as i32, libc::SIGKILL);
    let _ = a.wait();
    // One client is left: still copying.
    std::thread::sleep(Duration::from_millis(300));
    assert!(capture_flag_on(&r));
    kill(b.id() as i32, libc::SIGKILL);
    let _ = b.wait();
    std::thread::sleep(Duration::from_secs(1));
    assert!(
        !capture_flag_on(&r),
        "still copying a second after the last client died"
    );
}

/// "N frames captured, M lost" from a capture client's last words.
fn tally(stderr: &str) -> (u64, u64) {
    let line = stderr
        .lines()
        .find(|l| l.contains(" frames captured, "))
        .unwrap_or_else(|| panic!("no tally in {stderr}"));
    let words: Vec<&str> = line.split_whitespace().collect();
    (words[0].parse().unwrap(), words[3].parse().unwrap())
}

#[test]
fn root_capture_of_an_echo_flood_loses_nothing_or_counts_it() {
    if !root_or_skip("root_capture_of_an_echo_flood_loses_nothing_or_counts_it") {
        return;
    }
    let r = Running::start(&[]);
    r.client_ok(&["ping", "-c", "1", "-W", "2", "10.10.0.4"]);
    let cap = start_capture(&r, &["-w", "/dev/null"]);
    assert!(eventually(5, || capture_flag_on(&r)));
    let replied = r.stat("xdp.icmp_echo_replied");
    let before = r.stat("xdp.capture_frames") + r.stat("xdp.capture_lost");
    r.client_ok(&["ping", "-f", "-q", "-c", "2000", "-s", "1472", "10.10.0.4"]);
    let answered = r.stat("xdp.icmp_echo_replied") - replied;
    let kernel = r.stat("xdp.capture_frames") + r.stat("xdp.capture_lost") - before;
    // Each answered request is two copies (request and reply), made or lost
    // (and a stray frame of the namespaces' kernels may be copied too).
    assert!(
        kernel >= 2 * answered && kernel <= 2 * answered + 20,
        "{kernel} copies"
    );
    std::thread::sleep(Duration::from_millis(300));
    kill(cap.id() as i32, libc::SIGINT);
    let out = cap.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let (captured, lost) = tally(&stderr);
    eprintln!("flood of {answered} echo requests: {captured} frames captured, {lost} lost");
    // Everything the flood produced is either in the file or counted lost
    // (the pings of `capture_flag_on` add a few more).
    assert!(captured + lost >= 2 * answered, "{stderr}");
    assert!(captured + lost <= 2 * answered + 20, "{stderr}");
}

#[test]
fn root_snaplen_limited_capture_keeps_each_frames_head_and_length() {
    if !root_or_skip("root_snaplen_limited_capture_keeps_each_frames_head_and_length") {
        return;
    }
    if !command_exists("tcpdump") {
        eprintln!("tcpdump missing: skipped");
        return;
    }
    const SNAPLEN: usize = 80;
    let r = Running::start(&[]);
    r.client_ok(&["ping", "-c", "1", "-W", "2", "10.10.0.4"]);
    let dir = std::env::temp_dir().join(format!("xdpstack-snaplen-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let stack_file = dir.join("stack.pcapng");
    let client_file = dir.join("client.pcap");
    let mut tcpdump = r
        .lab
        .client()
        .command([
            "tcpdump",
            "-i",
            r.lab.client().iface(),
            "-U",
            "--immediate-mode",
            "-n",
            "-w",
            client_file.to_str().unwrap(),
            "icmp",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("tcpdump on the client");
    assert!(eventually(5, || std::fs::metadata(&client_file)
        .is_ok_and(|m| m.len() >= 24)));
    std::thread::sleep(Duration::from_millis(200));
    let snaplen = SNAPLEN.to_string();
    let cap = start_capture(&r, &["-s", &snaplen, "-w", stack_file.to_str().unwrap()]);
    assert!(eventually(5, || capture_flag_on(&r)));
    std::thread::sleep(Duration::from_millis(200));
    // Longer than the snap length: answered in-kernel (1000 data bytes, one
    // frame) and in userspace (3000, three fragments each way).
    r.client_ok(&[
        "ping",
        "-c",
        "2",
        "-i",
        "0.2",
        "-W",
        "2",
        "-s",
        "1000",
        "10.10.0.4",
    ]);
    r.client_ok(&["ping", "-c", "1", "-W", "2", "-s", "3000", "10.10.0.4"]);
    std::thread::sleep(Duration::from_millis(500));
    kill(cap.id() as i32, libc::SIGINT);
    kill(tcpdump.id() as i32, libc::SIGINT);
    let out = cap.wait_with_output().unwrap();
    let _ = tcpdump.wait();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "capture: {stderr}");
    assert!(stderr.contains(" frames captured, 0 lost"), "{stderr}");
    let stack: Vec<Rec> = read_pcapng(&std::fs::read(&stack_file).unwrap())
        .into_iter()
        .filter(|r| r.data.len() >= 24 && r.data[12..14] == [0x08, 0x00] && r.data[23] == 1)
        .collect();
    let client = read_pcap(&std::fs::read(&client_file).unwrap());
    // Each recorded frame is cut at the snap length and keeps its length.
    for rec in &stack {
        assert_eq!(rec.data.len(), rec.orig_len.min(SNAPLEN), "{rec:?}");
    }
    // The last 2 x 2 + 2 x 3 frames are the two pings' requests and
    // replies; they are the heads of the client's last ones, in order.
    let want = |comment: &str, n: usize| stack.iter().filter(|r| r.comment == comment).count() >= n;
    assert!(want("xdp_tx icmp_echo_replied", 4), "{stack:?}");
    assert!(want("xsk rx", 3) && want("xsk tx", 3), "{stack:?}");
    let stack_mac = r.lab.stack().mac().expect("the stack end's MAC");
    for outbound in [false, true] {
        let s: Vec<&Rec> = stack
            .iter()
            .filter(|r| r.outbound == Some(outbound))
            .collect();
        let c: Vec<&Vec<u8>> = client
            .iter()
            .filter(|f| f.len() >= 12 && (f[6..12] == stack_mac) == outbound)
            .collect();
        assert!(
            s.len() >= 5 && c.len() >= s.len(),
            "{} {}",
            s.len(),
            c.len()
        );
        for (rec, frame) in s.iter().rev().zip(c.iter().rev()).take(5) {
            assert_eq!(rec.orig_len, frame.len(), "outbound {outbound}");
            assert!(rec.orig_len > SNAPLEN, "outbound {outbound}: {rec:?}");
            assert_eq!(rec.data[..], frame[..SNAPLEN], "outbound {outbound}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Resident KiB of the daemon's BPF map mappings (mmap'ed rings).
fn bpf_map_rss_kib(pid: i32) -> u64 {
    let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps")).unwrap();
    let mut total = 0;
    let mut in_map = false;
    for line in smaps.lines() {
        let first = line.split_whitespace().next().unwrap_or("");
        if first.contains('-') && first.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
            in_map = line.ends_with("anon_inode:bpf-map");
        } else if in_map {
            if let Some(kb) = line.strip_prefix("Rss:") {
                total += kb
                    .trim()
                    .trim_end_matches(" kB")
                    .trim()
                    .parse::<u64>()
                    .unwrap();
            }
        }
    }
    total
}

#[test]
fn root_capture_ring_is_mapped_only_while_a_capture_runs() {
    if !root_or_skip("root_capture_ring_is_mapped_only_while_a_capture_runs") {
        return;
    }
    // A ring's mmap maps all its pages at once, the data twice: the 4 MiB
    // capture ring is 8 MiB of the daemon's resident memory while mapped.
    const MAPPED_KIB: u64 = 8 * 1024;
    let r = Running::start(&[]);
    let idle = bpf_map_rss_kib(r.pid());
    assert!(
        idle < MAPPED_KIB,
        "{idle} KiB of maps resident with no capture"
    );
    let cap = start_capture(&r, &["-w", "/dev/null"]);
    assert!(eventually(5, || capture_flag_on(&r)));
    assert!(eventually(5, || bpf_map_rss_kib(r.pid()) >= idle + MAPPED_KIB));
    kill(cap.id() as i32, libc::SIGINT);
    let out = cap.wait_with_output().unwrap();
    assert!(out.status.success());
    assert!(
        eventually(5, || bpf_map_rss_kib(r.pid()) == idle),
        "{} KiB after the capture, {idle} before",
        bpf_map_rss_kib(r.pid())
    );
}
