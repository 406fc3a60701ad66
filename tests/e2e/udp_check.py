#!/usr/bin/env python3
"""UDP datagrams with checkable contents, for the end-to-end tests.
   udp_check.py serve ADDR PORT COUNT   receive until COUNT distinct datagrams (or 5 s of
                                        silence); print "got N bad M dup D"
   udp_check.py send ADDR PORT COUNT    send COUNT datagrams from one connected socket in
                                        bursts: equal sizes within a burst, a shorter last one
Each datagram carries its sequence number and length; every byte after them is a function
of both, so a datagram that was cut, merged, shifted or altered is counted as bad."""
import socket, struct, sys, time

BURST = 48


def payload(seq, size):
    head = struct.pack(">IH", seq, size)
    return head + bytes((seq * 31 + i) & 0xFF for i in range(size - len(head)))


def sizes(count):
    out = []
    for seq in range(count):
        burst, pos = divmod(seq, BURST)
        size = 64 + (burst * 149) % 1300
        out.append(size // 2 if pos == BURST - 1 else size)
    return out


def main():
    mode, addr, port, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    if mode == "serve":
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        s.bind((addr, port))
        s.settimeout(5)
        want = sizes(count)
        seen, bad, dup = set(), 0, 0
        print("ready", flush=True)
        while len(seen) < count:
            try:
                b = s.recv(65536)
            except socket.timeout:
                break
            if len(b) < 6:
                bad += 1
                continue
            seq, size = struct.unpack(">IH", b[:6])
            if seq >= count or size != want[seq] or b != payload(seq, size):
                bad += 1
            elif seq in seen:
                dup += 1
            else:
                seen.add(seq)
        print("got %d bad %d dup %d" % (len(seen), bad, dup))
    else:
        s.connect((addr, port))
        for seq, size in enumerate(sizes(count)):
            s.send(payload(seq, size))
            if seq % BURST == BURST - 1:
                time.sleep(0.003)


main()
