//! Malformed and hostile frames from the client namespace (an AF_PACKET raw
//! socket), against the real daemon and, in the same test, against a lab
//! where the Linux kernel owns 10.10.0.4 and xdpstack is not running. For
//! each frame: the daemon survives, it replies only where Linux replies,
//! and the counter that says why it did not moves. Root only.

mod hostile;
mod support;

use std::time::Duration;

use hostile::*;
use support::*;
use xdpstack_common::checksum;
use xtask::netns::Lab;

const US: [u8; 4] = [10, 10, 0, 4];
const CLIENT: [u8; 4] = [10, 10, 0, 2];

/// The two ends' MAC addresses in one lab.
#[derive(Clone, Copy)]
struct Macs {
    client: [u8; 6],
    stack: [u8; 6],
}

fn eth(dst: [u8; 6], src: [u8; 6], ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(14 + payload.len());
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// An IPv4 datagram with a 20-byte header; `edit` may change the header
/// before its checksum is computed.
fn ip(src: [u8; 4], dst: [u8; 4], proto: u8, payload: &[u8], edit: impl Fn(&mut [u8])) -> Vec<u8> {
    let mut p = vec![0u8; 20 + payload.len()];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&((20 + payload.len()) as u16).to_be_bytes());
    p[4..6].copy_from_slice(&0x5151u16.to_be_bytes());
    p[8] = 64;
    p[9] = proto;
    p[12..16].copy_from_slice(&src);
    p[16..20].copy_from_slice(&dst);
    p[20..].copy_from_slice(payload);
    edit(&mut p);
    let c = checksum::checksum(&p[..20]);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p
}

fn echo(ident: u16, seq: u16, data: &[u8]) -> Vec<u8> {
    let mut m = vec![8u8, 0, 0, 0];
    m.extend_from_slice(&ident.to_be_bytes());
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend_from_slice(data);
    let c = checksum::checksum(&m);
    m[2..4].copy_from_slice(&c.to_be_bytes());
    m
}

fn arp(op: u16, sha: [u8; 6], spa: [u8; 4], tpa: [u8; 4], edit: impl Fn(&mut [u8])) -> Vec<u8> {
    let mut a = vec![0, 1, 8, 0, 6, 4];
    a.extend_from_slice(&op.to_be_bytes());
    a.extend_from_slice(&sha);
    a.extend_from_slice(&spa);
    a.extend_from_slice(&[0; 6]);
    a.extend_from_slice(&tpa);
    edit(&mut a);
    a
}

/// One crafted case: its frames (built for a lab's MACs), and the counter
/// of `xdpstack stats --json` that must move when the daemon gets them.
struct Case {
    name: &'static str,
    frames: fn(Macs) -> Vec<Vec<u8>>,
    counter: &'static str,
}

fn ping_data() -> Vec<u8> {
    (0..56u8).collect()
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "Ethernet header only",
            frames: |m| vec![eth(m.stack, m.client, 0x0800, &[])],
            counter: "xdp.passed_malformed",
        },
        Case {
            name: "truncated ARP",
            frames: |m| {
                let a = arp(1, m.client, CLIENT, US, |_| {});
                vec![eth([0xff; 6], m.client, 0x0806, &a[..20])]
            },
            counter: "xdp.passed_malformed",
        },
        Case {
            name: "ARP with hlen 8",
            frames: |m| {
                vec![eth(
                    [0xff; 6],
                    m.client,
                    0x0806,
                    &arp(1, m.client, CLIENT, US, |a| a[4] = 8),
                )]
            },
            counter: "xdp.passed_malformed",
        },
        Case {
            name: "ARP with plen 6",
            frames: |m| {
                vec![eth(
                    [0xff; 6],
                    m.client,
                    0x0806,
                    &arp(1, m.client, CLIENT, US, |a| a[5] = 6),
                )]
            },
            counter: "xdp.passed_malformed",
        },
        Case {
            name: "ARP request from a broadcast sender MAC",
            frames: |m| {
                vec![eth(
                    [0xff; 6],
                    m.client,
                    0x0806,
                    &arp(1, [0xff; 6], CLIENT, US, |_| {}),
                )]
            },
            counter: "xdp.slow_arp",
        },
        Case {
            name: "truncated IPv4 header",
            frames: |m| {
                vec![eth(
                    m.stack,
                    m.client,
                    0x0800,
                    &ip(CLIENT, US, 1, &echo(1, 1, &[]), |_| {})[..12],
                )]
            },
            counter: "xdp.passed_malformed",
        },
        Case {
            name: "truncated ICMP",
            frames: |m| {
                let e = echo(1, 1, &ping_data());
                vec![eth(
                    m.stack,
                    m.client,
                    0x0800,
                    &ip(CLIENT, US, 1, &e[..4], |_| {}),
                )]
            },
            counter: "stack.stack.icmp_malformed",
        },
        Case {
            name: "IHL 4",
            frames: |m| {
                vec![eth(
                    m.stack,
                    m.client,
                    0x0800,
                    &ip(CLIENT, US, 1, &echo(1, 1, &ping_data()), |h| h[0] = 0x44),
                )]
            },
            counter: "stack.stack.ipv4_bad_header_len",
        },
        Case {
            name: "total length past the frame",
            frames: |m| {
                vec![eth(
                    m.stack,
                    m.client,
                    0x0800,
                    &ip(CLIENT, US, 1, &echo(1, 1, &ping_data()), |h| {
                        h[2..4].copy_from_slice(&200u16.to_be_bytes())
                    }),
                )]
            },
            counter: "stack.stack.ipv4_bad_total_len",
        },
        Case {
            name: "total length below the header",
            frames: |m| {
                vec![eth(
                    m.stack,
                    m.client,
                    0x0800,
                    &ip(CLIENT, US, 1, &echo(1, 1, &ping_data()), |h| {
                        h[2..4].copy_from_slice(&12u16.to_be_bytes())
                    }),
                )]
            },
            counter: "stack.stack.ipv4_bad_total_len",
        },
        Case {
            name: "bad IPv4 header checksum",
            frames: |m| {
                let mut p = ip(CLIENT, US, 1, &echo(1, 1, &ping_data()), |_| {});
                p[10] ^= 0x40;
                vec![eth(m.stack, m.client, 0x0800, &p)]
            },
            counter: "stack.stack.ipv4_bad_checksum",
        },
        Case {
            name: "bad ICMP checksum",
            frames: |m| {
                let mut e = echo(1, 1, &ping_data());
                e[2] ^= 0x40;
                vec![eth(
                    m.stack,
                    m.client,
                    0x0800,
                    &ip(CLIENT, US, 1, &e, |_| {}),
                )]
            },
            counter: "stack.stack.icmp_bad_checksum",
        },
        Case {
            name: "overlapping fragments that disagree",
            frames: |m| {
                let e = echo(7, 7, &[0x11; 64]);
                // 0..48 with MF, then 40..72 with other bytes in 40..48.
                let first = ip(CLIENT, US, 1, &e[..48], |h| {
                    h[6..8].copy_from_slice(&0x2000u16.to_be_bytes())
                });
                let mut tail = e[40..].to_vec();
                tail[0..8].fill(0x22);
                let second = ip(CLIENT, US, 1, &tail, |h| {
                    h[6..8].copy_from_slice(&5u16.to_be_bytes())
                });
                vec![
                    eth(m.stack, m.client, 0x0800, &first),
                    eth(m.stack, m.client, 0x0800, &second),
                ]
            },
            counter: "stack.stack.ipv4_fragments_dropped",
        },
        Case {
            name: "fragment reaching past 65535",
            frames: |m| {
                let e = echo(8, 8, &[0x33; 64]);
                let first = ip(CLIENT, US, 1, &e[..48], |h| {
                    h[6..8].copy_from_slice(&0x2000u16.to_be_bytes())
                });
                // Offset 8190 * 8 = 65520, plus 32 bytes: past 65535.
                let last = ip(CLIENT, US, 1, &[0x44; 32], |h| {
                    h[6..8].copy_from_slice(&8190u16.to_be_bytes())
                });
                vec![
                    eth(m.stack, m.client, 0x0800, &first),
                    eth(m.stack, m.client, 0x0800, &last),
                ]
            },
            counter: "stack.stack.ipv4_fragments_dropped",
        },
        Case {
            name: "zero-length fragment",
            frames: |m| {
                vec![eth(
                    m.stack,
                    m.client,
                    0x0800,
                    &ip(CLIENT, US, 1, &[], |h| {
                        h[6..8].copy_from_slice(&0x2001u16.to_be_bytes())
                    }),
                )]
            },
            counter: "stack.stack.ipv4_fragments",
        },
        Case {
            name: "802.1Q-tagged echo request",
            frames: |m| {
                let mut payload = vec![0x00, 0x05, 0x08, 0x00];
                payload.extend(ip(CLIENT, US, 1, &echo(1, 1, &ping_data()), |_| {}));
                vec![eth(m.stack, m.client, 0x8100, &payload)]
            },
            counter: "xdp.passed_not_ours",
        },
        Case {
            name: "echo to another station's MAC",
            frames: |m| {
                vec![eth(
                    [0x02, 9, 9, 9, 9, 9],
                    m.client,
                    0x0800,
                    &ip(CLIENT, US, 1, &echo(1, 1, &ping_data()), |_| {}),
                )]
            },
            counter: "xdp.passed_not_ours",
        },
        Case {
            name: "echo in a broadcast frame",
            frames: |m| {
                vec![eth(
                    [0xff; 6],
                    m.client,
                    0x0800,
                    &ip(CLIENT, US, 1, &echo(1, 1, &ping_data()), |_| {}),
                )]
            },
            counter: "xdp.slow_l2_not_unicast",
        },
        Case {
            // Linux answers this one (its source check accepts the subnet
            // broadcast here), and so does the fast path.
            name: "echo from the subnet broadcast address",
            frames: |m| {
                vec![eth(
                    m.stack,
                    m.client,
                    0x0800,
                    &ip([10, 10, 0, 255], US, 1, &echo(1, 1, &ping_data()), |_| {}),
                )]
            },
            counter: "xdp.icmp_echo_replied",
        },
        Case {
            name: "echo from 255.255.255.255",
            frames: |m| {
                vec![eth(
                    m.stack,
                    m.client,
                    0x0800,
                    &ip([255; 4], US, 1, &echo(1, 1, &ping_data()), |_| {}),
                )]
            },
            counter: "xdp.slow_martian",
        },
        Case {
            name: "echo from a multicast address",
            frames: |m| {
                vec![eth(
                    m.stack,
                    m.client,
                    0x0800,
                    &ip([224, 0, 0, 1], US, 1, &echo(1, 1, &ping_data()), |_| {}),
                )]
            },
            counter: "xdp.slow_martian",
        },
        Case {
            name: "echo from 127.0.0.1",
            frames: |m| {
                vec![eth(
                    m.stack,
                    m.client,
                    0x0800,
                    &ip([127, 0, 0, 1], US, 1, &echo(1, 1, &ping_data()), |_| {}),
                )]
            },
            counter: "xdp.slow_martian",
        },
        Case {
            name: "echo from 0.0.0.0",
            frames: |m| {
                vec![eth(
                    m.stack,
                    m.client,
                    0x0800,
                    &ip([0; 4], US, 1, &echo(1, 1, &ping_data()), |_| {}),
                )]
            },
            counter: "xdp.slow_martian",
        },
        Case {
            name: "echo from our own address",
            frames: |m| {
                vec![eth(
                    m.stack,
                    m.client,
                    0x0800,
                    &ip(US, US, 1, &echo(1, 1, &ping_data()), |_| {}),
                )]
            },
            counter: "xdp.slow_martian",
        },
        Case {
            name: "echo to the subnet broadcast",
            frames: |m| {
                vec![eth(
                    [0xff; 6],
                    m.client,
                    0x0800,
                    &ip(
                        CLIENT,
                        [10, 10, 0, 255],
                        1,
                        &echo(1, 1, &ping_data()),
                        |_| {},
                    ),
                )]
            },
            counter: "xdp.passed_not_ours",
        },
        // Two that both must answer, as controls that the comparison sees
        // replies at all: padding after the datagram, and an all-zero echo.
        Case {
            name: "valid echo with trailing bytes after the datagram",
            frames: |m| {
                let mut p = ip(CLIENT, US, 1, &echo(1, 1, &ping_data()), |_| {});
                p.extend_from_slice(&[0xee; 16]);
                vec![eth(m.stack, m.client, 0x0800, &p)]
            },
            counter: "xdp.icmp_echo_replied",
        },
        Case {
            name: "echo with identifier, sequence and data all zero",
            frames: |m| {
                vec![eth(
                    m.stack,
                    m.client,
                    0x0800,
                    &ip(CLIENT, US, 1, &echo(0, 0, &[0; 8]), |_| {}),
                )]
            },
            counter: "xdp.slow_zero_sum",
        },
    ]
}

/// Replies from 10.10.0.4 among `frames`: IPv4 from it, or ARP replies.
fn replies(frames: &[Vec<u8>]) -> Vec<Vec<u8>> {
    frames
        .iter()
        .filter(|f| {
            f.len() >= 42
                && ((f[12..14] == [0x08, 0x00] && f[26..30] == US)
                    || (f[12..14] == [0x08, 0x06] && f[20..22] == [0, 2] && f[28..32] == US))
        })
        .cloned()
        .collect()
}

/// Replies must be well-formed: valid IPv4 and ICMP checksums.
fn assert_valid(case: &str, who: &str, reply: &[u8]) {
    if reply[12..14] != [0x08, 0x00] {
        return;
    }
    let ihl = usize::from(reply[14] & 0x0f) * 4;
    assert!(
        checksum::verify(&reply[14..14 + ihl]),
        "{case}: {who}: bad IP checksum"
    );
    let total = usize::from(u16::from_be_bytes([reply[16], reply[17]]));
    if reply[23] == 1 {
        assert!(
            checksum::verify(&reply[14 + ihl..14 + total]),
            "{case}: {who}: bad ICMP checksum {reply:02x?}"
        );
    }
}

#[test]
fn root_malformed_frames_get_no_reply_linux_would_not_send() {
    if !root_or_skip("root_malformed_frames_get_no_reply_linux_would_not_send") {
        return;
    }
    let (r, stderr) = start_in(Default::default(), &[], &[]);
    let linux = Lab::test(kernel_addr()).expect("the kernel lab");
    let xmacs = Macs {
        client: r.lab.client().mac().unwrap(),
        stack: r.lab.stack().mac().unwrap(),
    };
    let kmacs = Macs {
        client: linux.client().mac().unwrap(),
        stack: linux.stack().mac().unwrap(),
    };
    // Both sides know each other before the cases (no ARP in the window).
    r.client_ok(&["ping", "-c", "1", "-W", "2", "10.10.0.4"]);
    assert!(ping_once(&linux, "10.10.0.4"));
    let window = Duration::from_millis(300);
    let mut problems = Vec::new();
    for case in cases() {
        let before = r.stat(case.counter);
        let k = replies(&raw_exchange(
            linux.client().ns(),
            linux.client().iface(),
            (case.frames)(kmacs),
            window,
        ));
        let x = replies(&raw_exchange(
            r.lab.client().ns(),
            r.lab.client().iface(),
            (case.frames)(xmacs),
            window,
        ));
        let after = r.stat(case.counter);
        println!(
            "{:<50} linux {} repl{}, xdpstack {}, {} {before} -> {after}",
            case.name,
            k.len(),
            if k.len() == 1 { "y" } else { "ies" },
            x.len(),
            case.counter
        );
        for reply in &x {
            assert_valid(case.name, "xdpstack", reply);
        }
        if x.len() > k.len() {
            problems.push(format!(
                "{}: xdpstack replied {} times, Linux {}: {:02x?}",
                case.name,
                x.len(),
                k.len(),
                x
            ));
        }
        if after <= before {
            problems.push(format!(
                "{}: {} did not move ({before})",
                case.name, case.counter
            ));
        }
        assert!(
            r.daemon_alive(),
            "{}: the daemon died: {}",
            case.name,
            stderr.text()
        );
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // Still serving, and nothing panicked.
    r.client_ok(&["ping", "-c", "2", "-i", "0.2", "-W", "2", "10.10.0.4"]);
    assert!(!stderr.text().contains("panicked"), "{}", stderr.text());
}

// IPv6 (issue 13): the same comparison for Neighbor Discovery and echo,
// with xdpstack serving fd00:10:10::4 (`--ip6`) and Linux owning it in the
// twin lab.

const US6: [u8; 16] = [0xfd, 0, 0, 0x10, 0, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4];
const CLIENT6: [u8; 16] = [0xfd, 0, 0, 0x10, 0, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
/// ff02::1:ff00:4, the solicited-node group of US6.
const US6_GROUP: [u8; 16] = [0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0, 0, 4];
const GROUP_MAC: [u8; 6] = [0x33, 0x33, 0xff, 0, 0, 4];

/// An ICMPv6 message's checksum with its pseudo-header (RFC 8200 8.1).
fn icmp6_checksum(src: &[u8; 16], dst: &[u8; 16], msg: &[u8]) -> u16 {
    let mut acc = checksum::sum_be(0, src);
    acc = checksum::sum_be(acc, dst);
    acc = checksum::sum_be(acc, &(msg.len() as u32).to_be_bytes());
    acc = checksum::sum_be(acc, &[0, 0, 0, 58]);
    checksum::finish(checksum::sum_be(acc, msg))
}

/// An IPv6 packet: `payload` after a header with next header `nh`; for
/// ICMPv6 (`nh` 58) the checksum is filled in unless `bad_sum`.
fn ip6(src: [u8; 16], dst: [u8; 16], nh: u8, hop: u8, payload: &[u8], bad_sum: bool) -> Vec<u8> {
    let mut m = payload.to_vec();
    if nh == 58 && m.len() >= 4 {
        m[2..4].fill(0);
        let mut c = icmp6_checksum(&src, &dst, &m);
        if bad_sum {
            c ^= 0x0101;
        }
        m[2..4].copy_from_slice(&c.to_be_bytes());
    }
    let mut p = vec![0x60, 0, 0, 0];
    p.extend_from_slice(&(m.len() as u16).to_be_bytes());
    p.extend_from_slice(&[nh, hop]);
    p.extend_from_slice(&src);
    p.extend_from_slice(&dst);
    p.extend_from_slice(&m);
    p
}

fn ns6(target: [u8; 16], slla: Option<[u8; 6]>) -> Vec<u8> {
    let mut m = vec![135, 0, 0, 0, 0, 0, 0, 0];
    m.extend_from_slice(&target);
    if let Some(mac) = slla {
        m.extend_from_slice(&[1, 1]);
        m.extend_from_slice(&mac);
    }
    m
}

fn echo6() -> Vec<u8> {
    let mut m = vec![128, 0, 0, 0, 0x51, 0x51, 0, 1];
    m.extend(ping_data());
    m
}

fn cases6() -> Vec<Case> {
    vec![
        Case {
            name: "NS with hop limit 254",
            frames: |m| {
                let p = ip6(
                    CLIENT6,
                    US6_GROUP,
                    58,
                    254,
                    &ns6(US6, Some(m.client)),
                    false,
                );
                vec![eth(GROUP_MAC, m.client, 0x86dd, &p)]
            },
            counter: "xdp.slow_ndp_invalid",
        },
        Case {
            name: "NS with a bad checksum",
            frames: |m| {
                let p = ip6(CLIENT6, US6_GROUP, 58, 255, &ns6(US6, Some(m.client)), true);
                vec![eth(GROUP_MAC, m.client, 0x86dd, &p)]
            },
            counter: "xdp.slow_icmp6_bad_checksum",
        },
        Case {
            name: "NS for a multicast target",
            frames: |m| {
                let t = [0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
                let p = ip6(CLIENT6, US6_GROUP, 58, 255, &ns6(t, Some(m.client)), false);
                vec![eth(GROUP_MAC, m.client, 0x86dd, &p)]
            },
            counter: "xdp.slow_ndp_invalid",
        },
        Case {
            name: "DAD NS (from ::) with a source link-layer option",
            frames: |m| {
                let p = ip6(
                    [0; 16],
                    US6_GROUP,
                    58,
                    255,
                    &ns6(US6, Some(m.client)),
                    false,
                );
                vec![eth(GROUP_MAC, m.client, 0x86dd, &p)]
            },
            counter: "xdp.slow_ndp_invalid",
        },
        Case {
            name: "NS with a zero-length option",
            frames: |m| {
                let mut ns = ns6(US6, Some(m.client));
                ns[25] = 0;
                let p = ip6(CLIENT6, US6_GROUP, 58, 255, &ns, false);
                vec![eth(GROUP_MAC, m.client, 0x86dd, &p)]
            },
            counter: "xdp.slow_ndp_invalid",
        },
        Case {
            name: "NS with code 1",
            frames: |m| {
                let mut ns = ns6(US6, Some(m.client));
                ns[1] = 1;
                let p = ip6(CLIENT6, US6_GROUP, 58, 255, &ns, false);
                vec![eth(GROUP_MAC, m.client, 0x86dd, &p)]
            },
            counter: "xdp.slow_ndp_invalid",
        },
        Case {
            name: "NS cut inside its option",
            frames: |m| {
                let mut p = ip6(
                    CLIENT6,
                    US6_GROUP,
                    58,
                    255,
                    &ns6(US6, Some(m.client)),
                    false,
                );
                p.truncate(40 + 28);
                vec![eth(GROUP_MAC, m.client, 0x86dd, &p)]
            },
            counter: "xdp.slow_ip6_bad_header",
        },
        Case {
            name: "echo with a hop-by-hop extension header",
            frames: |m| {
                let mut e = echo6();
                e[2..4].fill(0);
                let c = icmp6_checksum(&CLIENT6, &US6, &e);
                e[2..4].copy_from_slice(&c.to_be_bytes());
                let mut payload = vec![58, 0, 1, 4, 0, 0, 0, 0];
                payload.extend(e);
                let p = ip6(CLIENT6, US6, 0, 64, &payload, false);
                vec![eth(m.stack, m.client, 0x86dd, &p)]
            },
            counter: "xdp.slow_ip6_not_icmp",
        },
        Case {
            name: "echo with a bad checksum",
            frames: |m| {
                let p = ip6(CLIENT6, US6, 58, 64, &echo6(), true);
                vec![eth(m.stack, m.client, 0x86dd, &p)]
            },
            counter: "xdp.slow_icmp6_bad_checksum",
        },
        Case {
            name: "echo from a multicast source",
            frames: |m| {
                let src = [0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
                let p = ip6(src, US6, 58, 64, &echo6(), false);
                vec![eth(m.stack, m.client, 0x86dd, &p)]
            },
            counter: "xdp.slow_ip6_martian",
        },
        Case {
            name: "IPv6 header cut at 30 bytes",
            frames: |m| {
                let p = ip6(CLIENT6, US6, 58, 64, &echo6(), false);
                vec![eth(m.stack, m.client, 0x86dd, &p[..30])]
            },
            counter: "xdp.passed_malformed6",
        },
        // Controls: both must answer these.
        Case {
            name: "valid NS to our solicited-node group",
            frames: |m| {
                let p = ip6(
                    CLIENT6,
                    US6_GROUP,
                    58,
                    255,
                    &ns6(US6, Some(m.client)),
                    false,
                );
                vec![eth(GROUP_MAC, m.client, 0x86dd, &p)]
            },
            counter: "xdp.ndp_advert_sent",
        },
        Case {
            name: "valid echo request",
            frames: |m| {
                let p = ip6(CLIENT6, US6, 58, 64, &echo6(), false);
                vec![eth(m.stack, m.client, 0x86dd, &p)]
            },
            counter: "xdp.icmp6_echo_replied",
        },
    ]
}

/// Echo replies and neighbour adverts from fd00:10:10::4 among `frames`,
/// after checking that each is well-formed (its ICMPv6 checksum).
fn replies6(case: &str, who: &str, frames: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for f in frames {
        if f.len() < 58 || f[12..14] != [0x86, 0xdd] || f[22..38] != US6 || f[20] != 58 {
            continue;
        }
        if f[54] != 129 && f[54] != 136 {
            continue;
        }
        let plen = usize::from(u16::from_be_bytes([f[18], f[19]]));
        let (mut src, mut dst) = ([0u8; 16], [0u8; 16]);
        src.copy_from_slice(&f[22..38]);
        dst.copy_from_slice(&f[38..54]);
        let msg = &f[54..54 + plen];
        let mut acc = checksum::sum_be(0, &src);
        acc = checksum::sum_be(acc, &dst);
        acc = checksum::sum_be(acc, &(msg.len() as u32).to_be_bytes());
        acc = checksum::sum_be(acc, &[0, 0, 0, 58]);
        assert_eq!(
            checksum::fold(checksum::sum_be(acc, msg)),
            0xffff,
            "{case}: {who}: bad ICMPv6 checksum {f:02x?}"
        );
        out.push(f.clone());
    }
    out
}

#[test]
fn root_malformed_ipv6_gets_no_reply_linux_would_not_send() {
    if !root_or_skip("root_malformed_ipv6_gets_no_reply_linux_would_not_send") {
        return;
    }
    let (r, stderr) = start_in(Default::default(), &[], &["--ip6", "fd00:10:10::4/64"]);
    let linux = Lab::test(kernel_addr()).expect("the kernel lab");
    let xmacs = Macs {
        client: r.lab.client().mac().unwrap(),
        stack: r.lab.stack().mac().unwrap(),
    };
    let kmacs = Macs {
        client: linux.client().mac().unwrap(),
        stack: linux.stack().mac().unwrap(),
    };
    // Both sides resolve each other first (no NDP of their own in the window).
    let ping6 = ["ping", "-6", "-n", "-c", "1", "-W", "2", "fd00:10:10::4"];
    r.client_ok(&ping6);
    assert!(linux.client().exec(ping6).is_ok_and(|o| o.status.success()));
    let window = Duration::from_millis(300);
    let mut problems = Vec::new();
    let mut controls = 0;
    for case in cases6() {
        let before = r.stat(case.counter);
        let k = replies6(
            case.name,
            "linux",
            &raw_exchange(
                linux.client().ns(),
                linux.client().iface(),
                (case.frames)(kmacs),
                window,
            ),
        );
        let x = replies6(
            case.name,
            "xdpstack",
            &raw_exchange(
                r.lab.client().ns(),
                r.lab.client().iface(),
                (case.frames)(xmacs),
                window,
            ),
        );
        let after = r.stat(case.counter);
        println!(
            "{:<50} linux {} repl{}, xdpstack {}, {} {before} -> {after}",
            case.name,
            k.len(),
            if k.len() == 1 { "y" } else { "ies" },
            x.len(),
            case.counter
        );
        // Where Linux answers we answer, and only then: the userspace
        // stack now answers what XDP hands it (the hop-by-hop echo).
        if x.len() != k.len() {
            problems.push(format!(
                "{}: xdpstack replied {} times, Linux {}: {:02x?}",
                case.name,
                x.len(),
                k.len(),
                x
            ));
        }
        if !k.is_empty() && !x.is_empty() {
            controls += 1;
        }
        if after <= before {
            problems.push(format!(
                "{}: {} did not move ({before})",
                case.name, case.counter
            ));
        }
        assert!(
            r.daemon_alive(),
            "{}: the daemon died: {}",
            case.name,
            stderr.text()
        );
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert_eq!(
        controls, 3,
        "the valid NS and echo, and the echo with a hop-by-hop header (through userspace), \
         must be answered by both"
    );
    r.client_ok(&[
        "ping",
        "-6",
        "-c",
        "2",
        "-i",
        "0.2",
        "-W",
        "2",
        "fd00:10:10::4",
    ]);
    assert!(!stderr.text().contains("panicked"), "{}", stderr.text());
}
