#!/usr/bin/env python3
"""TCP transfer with a checksum, for the end-to-end tests.
   tcp_check.py serve ADDR PORT OUTFILE   accept one connection, write sha256 of what came
   tcp_check.py send ADDR PORT FILE       send FILE, print its sha256"""
import hashlib, socket, sys

def main():
    mode, addr, port, path = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    if mode == "serve":
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((addr, port))
        s.listen(1)
        s.settimeout(60)
        c, _ = s.accept()
        c.settimeout(60)
        h, n = hashlib.sha256(), 0
        while True:
            b = c.recv(1 << 16)
            if not b:
                break
            h.update(b)
            n += len(b)
        open(path, "w").write("%s %d\n" % (h.hexdigest(), n))
    else:
        data = open(path, "rb").read()
        c = socket.create_connection((addr, port), timeout=60)
        c.sendall(data)
        c.close()
        print("%s %d" % (hashlib.sha256(data).hexdigest(), len(data)))

main()
