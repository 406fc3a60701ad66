#!/usr/bin/env python3
"""A stub upstream name server for the DNS end-to-end test: answers A queries for the
names given as NAME=ADDR arguments over UDP, NXDOMAIN for anything else.
Usage: dns_stub.py LISTEN_ADDR PORT NAME=ADDR..."""
import socket
import struct
import sys


def main():
    addr, port = sys.argv[1], int(sys.argv[2])
    table = {}
    for kv in sys.argv[3:]:
        k, v = kv.split("=")
        table[k.lower().rstrip(".") + "."] = socket.inet_aton(v)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((addr, port))
    while True:
        q, peer = s.recvfrom(4096)
        if len(q) < 12:
            continue
        qid, flags, qd = struct.unpack(">HHH", q[:6])
        pos, labels = 12, []
        while pos < len(q) and q[pos]:
            n = q[pos]
            labels.append(q[pos + 1:pos + 1 + n].decode("ascii", "replace"))
            pos += 1 + n
        pos += 1
        qtype = struct.unpack(">H", q[pos:pos + 2])[0]
        question = q[12:pos + 4]
        name = ".".join(labels).lower() + "."
        rd = flags & 0x0100
        if name in table and qtype == 1:
            ans = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 60, 4) + table[name]
            hdr = struct.pack(">HHHHHH", qid, 0x8080 | rd, 1, 1, 0, 0)
            s.sendto(hdr + question + ans, peer)
        else:
            hdr = struct.pack(">HHHHHH", qid, 0x8083 | rd, 1, 0, 0, 0)
            s.sendto(hdr + question, peer)


if __name__ == "__main__":
    main()
