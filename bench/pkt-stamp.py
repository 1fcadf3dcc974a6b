#!/usr/bin/env python3
"""Passive packet timestamps for bench/netns-latency.ts.

Run inside one network namespace: captures every interface of that namespace
(AF_PACKET, ETH_P_ALL) for DURATION seconds and prints one line per
interesting packet, with the kernel's receive timestamp (SO_TIMESTAMPNS,
CLOCK_REALTIME, shared by all namespaces):

    <ns since epoch> <ifname> <in|out> icmp <type> <id> <seq>
    <ns since epoch> <ifname> <in|out> tcp|udp <src> <sport> <dst> <dport> <payload bytes>

Only ICMP echo requests/replies and TCP/UDP segments with payload are printed
(bare ACKs carry no data and would only confuse the matching). Links with an
Ethernet header and raw-IP links (TUN) are understood (a capture on a TUN/TAP
netdev sees the packet without the virtio-net header of the device fd).

    python3 pkt-stamp.py DURATION
"""
import select
import socket
import struct
import sys
import time

ETH_P_ALL = 0x0003
SO_TIMESTAMPNS = 35
PACKET_OUTGOING = 4
ARPHRD_ETHER = 1


def ipv4(buf, off):
    if len(buf) < off + 20 or (buf[off] >> 4) != 4:
        return None
    ihl = (buf[off] & 0x0F) * 4
    total = struct.unpack_from('!H', buf, off + 2)[0]
    proto = buf[off + 9]
    src = socket.inet_ntoa(buf[off + 12:off + 16])
    dst = socket.inet_ntoa(buf[off + 16:off + 20])
    l4 = off + ihl
    end = min(len(buf), off + total) if total > 0 else len(buf)
    if proto == 1 and end >= l4 + 8:
        typ = buf[l4]
        if typ not in (0, 8):
            return None
        ident, seq = struct.unpack_from('!HH', buf, l4 + 4)
        return 'icmp %d %d %d' % (typ, ident, seq)
    if proto == 6 and end >= l4 + 20:
        sport, dport = struct.unpack_from('!HH', buf, l4)
        doff = (buf[l4 + 12] >> 4) * 4
        payload = end - l4 - doff
        if payload <= 0:
            return None
        return 'tcp %s %d %s %d %d' % (src, sport, dst, dport, payload)
    if proto == 17 and end >= l4 + 8:
        sport, dport, length = struct.unpack_from('!HHH', buf, l4)
        return 'udp %s %d %s %d %d' % (src, sport, dst, dport, length - 8)
    return None


def main():
    duration = float(sys.argv[1])
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 * 1024 * 1024)
    print('ready', flush=True)
    out = []
    deadline = time.time() + duration
    while True:
        left = deadline - time.time()
        if left <= 0:
            break
        r, _, _ = select.select([s], [], [], left)
        if not r:
            continue
        data, anc, _flags, addr = s.recvmsg(256, socket.CMSG_SPACE(16))
        ts = None
        for level, typ, cdata in anc:
            if level == socket.SOL_SOCKET and typ == SO_TIMESTAMPNS:
                sec, nsec = struct.unpack('qq', cdata[:16])
                ts = sec * 1000000000 + nsec
        if ts is None:
            ts = time.time_ns()
        ifname, _proto, pkttype, hatype = addr[0], addr[1], addr[2], addr[3]
        off = 14 if hatype == ARPHRD_ETHER else 0
        if hatype == ARPHRD_ETHER and (len(data) < off or data[off - 2:off] != b'\x08\x00'):
            continue
        desc = ipv4(data, off)
        if desc is None:
            continue
        out.append('%d %s %s %s' % (ts, ifname, 'out' if pkttype == PACKET_OUTGOING else 'in', desc))
    sys.stdout.write('\n'.join(out) + ('\n' if out else ''))
    sys.stdout.flush()


if __name__ == '__main__':
    main()
