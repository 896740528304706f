#!/usr/bin/env bash
# Rebuilds fuzz/corpus/*/seed-* from real frames: two namespaces whose
# kernels talk over a veth (ping, fragmented ping, arping, UDP, TCP SYN),
# captured with tcpdump, split per target. Root only; the namespaces are
# removed at exit. The committed seeds came from this script.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
A=xstseed-a B=xstseed-b
cleanup() { ip netns del "$A" 2>/dev/null || true; ip netns del "$B" 2>/dev/null || true; }
trap cleanup EXIT
cleanup
ip netns add "$A"; ip netns add "$B"
ip link add xstseeda netns "$A" type veth peer name xstseedb netns "$B"
ip -n "$A" addr add 10.10.0.2/24 dev xstseeda; ip -n "$B" addr add 10.10.0.4/24 dev xstseedb
ip -n "$A" link set xstseeda up; ip -n "$B" link set xstseedb up
ip netns exec "$A" ethtool -K xstseeda tx off >/dev/null 2>&1 || true
pcap=$(mktemp /tmp/xdpstack-seeds.XXXXXX.pcap)
ip netns exec "$B" tcpdump -i xstseedb -w "$pcap" -U -s 0 2>/dev/null & dump=$!
sleep 1
ip netns exec "$A" ping -c 2 -i 0.2 10.10.0.4 >/dev/null
ip netns exec "$A" ping -c 1 -s 0 10.10.0.4 >/dev/null
ip netns exec "$A" ping -c 1 -s 3000 10.10.0.4 >/dev/null
ip netns exec "$A" ping -c 1 -R 10.10.0.4 >/dev/null || true
ip netns exec "$A" ping -c 1 -b 10.10.0.255 >/dev/null 2>&1 || true
ip netns exec "$A" arping -c 1 -i xstseeda 10.10.0.4 >/dev/null || true
ip netns exec "$A" arping -c 1 -U -i xstseeda -S 10.10.0.2 10.10.0.2 >/dev/null || true
ip netns exec "$A" sh -c 'echo hello | timeout 2 nc -u -w 1 10.10.0.4 9999' || true
ip netns exec "$A" sh -c 'timeout 2 nc -w 1 10.10.0.4 80 </dev/null' || true
ip netns exec "$B" ping -c 1 10.10.0.2 >/dev/null
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
for d in ('ethernet', 'arp', 'ipv4', 'icmpv4', 'udp', 'tcp', 'stack'):
    for f in os.listdir(os.path.join('corpus', d)) if os.path.isdir(os.path.join('corpus', d)) else []:
        if f.startswith('seed-'): os.remove(os.path.join('corpus', d, f))
# xdpstack answers with its own MAC: make frames to B's MAC look like ours.
us = bytes([2, 0, 0, 0, 0, 4])
b_mac = None
for f in frames:
    if f[12:14] == b'\x08\x00' and f[30:34] == bytes([10, 10, 0, 4]): b_mac = f[0:6]; break
seq = b''
for i, f in enumerate(frames):
    if b_mac and f[0:6] == b_mac: f = us + f[6:]
    put('ethernet', i, f)
    et, p = f[12:14], f[14:]
    if et == b'\x08\x06': put('arp', i, p)
    if et == b'\x08\x00':
        put('ipv4', i, p)
        ihl = (p[0] & 15) * 4
        if p[9] == 1: put('icmpv4', i, p[ihl:])
        if p[9] == 17: put('udp', i, p[12:20] + p[ihl:])
        if p[9] == 6: put('tcp', i, p[12:20] + p[ihl:])
    rec = bytes([0]) + struct.pack('>H', len(f)) + f
    put('stack', i, rec + bytes([2, 0, 100]))
    seq += rec + bytes([2, 0x03, 0xe8])
put('stack', 999, seq + bytes([2, 0xea, 0x60]) * 3)
print(len(frames), 'frames')
PY
rm -f "$pcap"
