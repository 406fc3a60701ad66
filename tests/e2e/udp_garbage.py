#!/usr/bin/env python3
"""Sends random datagrams of every length 0..MAX (and WireGuard-typed prefixes) to ADDR PORT."""
import os, random, socket, sys
addr, port, maxlen = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
s = socket.socket(fam, socket.SOCK_DGRAM)
random.seed(1)
n = 0
for length in range(0, maxlen + 1):
    for first in (None, 1, 2, 3, 4):
        b = bytearray(os.urandom(length))
        if first is not None and length >= 4:
            b[0:4] = bytes([first, 0, 0, 0])
        s.sendto(bytes(b), (addr, port))
        n += 1
print(n)
