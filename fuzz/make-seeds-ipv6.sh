#!/usr/bin/env bash
# Rebuilds fuzz/corpus/{ipv6,icmpv6}/seed-* from real IPv6 frames: two
# namespaces whose kernels talk over a veth (MLDv2 report and DAD NS when an
# address is added, NS/NA, ping -6, fragmented ping -6, UDP to a closed port
# for the port unreachable, TCP SYN), captured with tcpdump. Root only; the
# namespaces are removed at exit. The committed seeds came from this script.
# With an argument, also keeps the pcap at that path (wire/testdata.rs
# holds frames from it).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
A=xst6seed-a B=xst6seed-b
cleanup() { ip netns del "$A" 2>/dev/null || true; ip netns del "$B" 2>/dev/null || true; }
trap cleanup EXIT
cleanup
ip netns add "$A"; ip netns add "$B"
ip link add xst6seeda netns "$A" address 02:00:00:00:00:02 type veth \
    peer name xst6seedb netns "$B" address 02:00:00:00:00:04
ip netns exec "$A" sysctl -qw net.ipv6.conf.xst6seeda.router_solicitations=0 || true
ip -n "$B" addr add fd00:10:10::4/64 dev xst6seedb nodad
ip -n "$A" link set xst6seeda up; ip -n "$B" link set xst6seedb up
ip netns exec "$A" ethtool -K xst6seeda tx off >/dev/null 2>&1 || true
sleep 2
pcap=${1:-$(mktemp /tmp/xdpstack-seeds6.XXXXXX.pcap)}
ip netns exec "$B" tcpdump -i xst6seedb -w "$pcap" -U -s 0 ip6 2>/dev/null & dump=$!
sleep 1
# DAD: an MLDv2 report for the solicited-node group, then NS from ::.
ip -n "$A" addr add fd00:10:10::2/64 dev xst6seeda
sleep 3
ip netns exec "$A" ping -6 -c 2 -i 0.2 fd00:10:10::4 >/dev/null
ip netns exec "$A" ping -6 -c 1 -s 0 fd00:10:10::4 >/dev/null
ip netns exec "$A" ping -6 -c 1 -s 3000 fd00:10:10::4 >/dev/null
ip netns exec "$A" sh -c 'echo hello | timeout 2 nc -6 -u -w 1 fd00:10:10::4 9999' || true
ip netns exec "$A" sh -c 'timeout 2 nc -6 -w 1 fd00:10:10::4 80 </dev/null' || true
sleep 1
kill "$dump"; wait "$dump" 2>/dev/null || true
python3 - "$pcap" <<'PY'
import os, struct, sys
data = open(sys.argv[1], 'rb').read()
frames, off = [], 24
while off + 16 <= len(data):
    _, _, incl, _ = struct.unpack('<IIII', data[off:off+16])
    frames.append(data[off+16:off+16+incl]); off += 16 + incl
def put(target, i, b):
    d = os.path.join('corpus', target); os.makedirs(d, exist_ok=True)
    open(os.path.join(d, 'seed-%03d' % i), 'wb').write(b)
for d in ('ipv6', 'icmpv6'):
    for f in os.listdir(os.path.join('corpus', d)) if os.path.isdir(os.path.join('corpus', d)) else []:
        if f.startswith('seed-'): os.remove(os.path.join('corpus', d, f))
for i, f in enumerate(frames):
    if f[12:14] != b'\x86\xdd': continue
    p = f[14:]
    put('ipv6', i, p)
    # ICMPv6 seeds: 32 bytes of addresses (for the pseudo-header) + message;
    # the Hop-by-Hop header of MLD reports (8 bytes, Router Alert) is skipped.
    nh, at = p[6], 40
    if nh == 0: nh, at = p[40], 40 + (p[41] + 1) * 8
    if nh == 58: put('icmpv6', i, p[8:40] + p[at:])
print(len(frames), 'frames')
PY
[ $# -gt 0 ] || rm -f "$pcap"
