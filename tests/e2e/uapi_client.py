#!/usr/bin/env python3
"""Raw UAPI client for tests: uapi_client.py SOCKET REQUEST-TEXT (\\n escapes allowed).
Prints the reply; exits 0 when a reply arrived."""
import socket, sys
req = sys.argv[2].encode().decode("unicode_escape").encode("latin-1")
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(10)
s.connect(sys.argv[1])
s.sendall(req)
out = b""
while not out.endswith(b"\n\n"):
    b = s.recv(65536)
    if not b:
        break
    out += b
sys.stdout.write(out.decode(errors="replace"))
