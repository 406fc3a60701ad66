#!/usr/bin/env python3
"""The metrics endpoint's test client (tests/e2e/ops_metrics.sh).

  http_probe.py status HOST PORT HEXBYTES      send the bytes, print the status code (or
                                               "closed" when the server closed without one)
  http_probe.py slow HOST PORT N SECONDS       N connections each sending half a request and
                                               nothing more; prints how many the server closed
                                               within SECONDS, and after how long
  http_probe.py load HOST PORT RATE SECONDS    RATE GET /metrics per second for SECONDS (new
                                               connection each), prints "sent ok failed
                                               elapsed"
"""
import socket
import sys
import threading
import time


def request(host, port, data, timeout=5.0):
    s = socket.create_connection((host, port), timeout=timeout)
    got = b""
    try:
        s.sendall(data)
        while True:
            b = s.recv(65536)
            if not b:
                break
            got += b
    except (ConnectionResetError, BrokenPipeError):
        pass  # refused mid-request: what arrived so far is the answer
    finally:
        s.close()
    return got


def status(host, port, hexbytes):
    try:
        got = request(host, int(port), bytes.fromhex(hexbytes))
    except ConnectionResetError:
        got = b""
    if not got.startswith(b"HTTP/1.1 "):
        print("closed")
    else:
        print(got.split(b" ")[1].decode())


def slow(host, port, n, seconds):
    socks = []
    for _ in range(int(n)):
        s = socket.create_connection((host, int(port)), timeout=2)
        s.sendall(b"GET /met")
        socks.append(s)
    t0 = time.monotonic()
    closed = []
    for s in socks:
        s.settimeout(max(0.1, float(seconds) - (time.monotonic() - t0)))
        try:
            if s.recv(1) == b"":
                closed.append(time.monotonic() - t0)
        except (socket.timeout, ConnectionResetError):
            if not isinstance(sys.exc_info()[1], socket.timeout):
                closed.append(time.monotonic() - t0)
        s.close()
    print(len(closed), "%.1f" % (max(closed) if closed else -1))


def load(host, port, rate, seconds):
    rate, seconds, port = int(rate), float(seconds), int(port)
    threads = 8
    counts = [[0, 0] for _ in range(threads)]
    start = time.monotonic()

    def worker(k):
        i = 0
        per = rate / threads
        while True:
            due = start + i / per
            now = time.monotonic()
            if due - start >= seconds:
                return
            if due > now:
                time.sleep(due - now)
            i += 1
            try:
                got = request(host, port, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", 2)
                counts[k][0 if got.startswith(b"HTTP/1.1 200") else 1] += 1
            except OSError:
                counts[k][1] += 1

    ts = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    ok = sum(c[0] for c in counts)
    bad = sum(c[1] for c in counts)
    print(ok + bad, ok, bad, "%.2f" % (time.monotonic() - start))


if __name__ == "__main__":
    {"status": status, "slow": slow, "load": load}[sys.argv[1]](*sys.argv[2:])
