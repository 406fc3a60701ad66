#!/usr/bin/python3
"""A tiny UDP hole-punch tool for the NAT end-to-end tests (tests/e2e/nat_lib.sh).

  nat_punch.py stun-server --bind IP:PORT [--seconds N]
      A minimal STUN server (RFC 8489 Binding only): answers every Binding request with
      XOR-MAPPED-ADDRESS = the source address it saw. Stops after N seconds (default 600).

  nat_punch.py stun --stun IP:PORT [--bind IP:PORT]
      One Binding request from a socket; prints the reflexive address IP:PORT.

  nat_punch.py peer --name A --peer B --dir DIR --stun IP:PORT [--port P] [--target public|lan]
                    [--start-at EPOCH] [--seconds 3] [--interval 0.1] [--no-roam]
      One side of a simultaneous punch. On ONE socket (bound to port P, 0 = any):
        1. a STUN Binding to --stun gives this socket's public mapping as a third party sees it;
        2. writes DIR/A.json {"lan": "IP:PORT", "public": "IP:PORT"} and waits (<= 10 s) for
           DIR/B.json;
        3. from --start-at (epoch seconds; both sides are given the same one) sends a datagram
           "punch A n" every --interval s for --seconds s to B's "public" (or "lan") address,
           recording every datagram that arrives (and from where), then listens 0.5 s more;
           once B's datagrams arrive from another address than the published one, sends there
           instead (WireGuard's roaming; --no-roam keeps to the published address);
        4. writes DIR/A.result.json {"sent": n, "received": n, "from": ["IP:PORT", ...],
           "first_rx_s": seconds after start or null, "roamed_to": "IP:PORT" or null} and
           prints it.
      A datagram counts only if it carries B's name, whatever address it came from (a NAT
      that changed the port still delivers it: "from" shows where it came from).

  nat_punch.py stun-flood --target IP:PORT [--rate N] [--seconds S] [--pad B] [--bind IP:PORT]
      Sends STUN Binding requests (20-byte header, cookie 0x2112A442, random transaction id;
      with --pad B > 0 one comprehension-optional SOFTWARE attribute making it 20 + B bytes,
      B a multiple of 4, >= 8) at N per second for S seconds from one socket, counts the
      answers: prints JSON {"sent", "answers", "max_answer_len", "request_len", "answer_rate"}.

Every loop is bounded in count and time; nothing is sent anywhere but the addresses given.
"""
import argparse
import json
import os
import socket
import struct
import sys
import time

MAGIC = 0x2112A442
BINDING_REQUEST = 0x0001
BINDING_SUCCESS = 0x0101
XOR_MAPPED_ADDRESS = 0x0020
MAPPED_ADDRESS = 0x0001


def hostport(s):
    host, _, port = s.rpartition(":")
    return host.strip("[]"), int(port)


def fmt(addr):
    return "%s:%d" % (addr[0], addr[1])


SOFTWARE = 0x8022


def binding_request(txid=None, pad=0):
    txid = txid or os.urandom(12)
    attrs = b""
    if pad:
        attrs = struct.pack("!HH", SOFTWARE, pad - 4) + b"w" * (pad - 4)
    return struct.pack("!HHI", BINDING_REQUEST, len(attrs), MAGIC) + txid + attrs, txid


def parse_binding_response(data, txid):
    """Returns (ip, port) of XOR-MAPPED-ADDRESS (or MAPPED-ADDRESS), or None."""
    if len(data) < 20:
        return None
    mtype, mlen, cookie = struct.unpack("!HHI", data[:8])
    if mtype != BINDING_SUCCESS or cookie != MAGIC or data[8:20] != txid:
        return None
    pos, end = 20, min(len(data), 20 + mlen)
    mapped = None
    while pos + 4 <= end:
        atype, alen = struct.unpack("!HH", data[pos:pos + 4])
        val = data[pos + 4:pos + 4 + alen]
        if atype in (XOR_MAPPED_ADDRESS, MAPPED_ADDRESS) and len(val) >= 8 and val[1] == 1:
            port = struct.unpack("!H", val[2:4])[0]
            ip = struct.unpack("!I", val[4:8])[0]
            if atype == XOR_MAPPED_ADDRESS:
                port ^= MAGIC >> 16
                ip ^= MAGIC
                return socket.inet_ntoa(struct.pack("!I", ip)), port
            mapped = (socket.inet_ntoa(struct.pack("!I", ip)), port)
        pos += 4 + ((alen + 3) & ~3)
    return mapped


def stun_query(sock, server, tries=10, timeout=0.3):
    for _ in range(tries):
        req, txid = binding_request()
        sock.sendto(req, server)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            sock.settimeout(left)
            try:
                data, _ = sock.recvfrom(2048)
            except socket.timeout:
                break
            got = parse_binding_response(data, txid)
            if got:
                return got
    return None


def cmd_stun_server(a):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(hostport(a.bind))
    end = time.monotonic() + a.seconds
    while time.monotonic() < end:
        s.settimeout(max(0.01, end - time.monotonic()))
        try:
            data, src = s.recvfrom(2048)
        except socket.timeout:
            break
        if len(data) < 20:
            continue
        mtype, _, cookie = struct.unpack("!HHI", data[:8])
        if mtype != BINDING_REQUEST or cookie != MAGIC:
            continue
        ip = struct.unpack("!I", socket.inet_aton(src[0]))[0] ^ MAGIC
        attr = struct.pack("!HHBBHI", XOR_MAPPED_ADDRESS, 8, 0, 1, src[1] ^ (MAGIC >> 16), ip)
        s.sendto(struct.pack("!HHI", BINDING_SUCCESS, len(attr), MAGIC) + data[8:20] + attr, src)


def cmd_stun(a):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(hostport(a.bind))
    got = stun_query(s, hostport(a.stun))
    if not got:
        print("no answer from %s" % a.stun, file=sys.stderr)
        return 1
    print(fmt(got))
    return 0


def cmd_peer(a):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", a.port))
    public = stun_query(s, hostport(a.stun))
    # The LAN address: the source address the kernel picks towards the STUN server.
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.connect(hostport(a.stun))
    lan = (probe.getsockname()[0], s.getsockname()[1])
    probe.close()
    mine = {"lan": fmt(lan), "public": fmt(public) if public else None}
    tmp = os.path.join(a.dir, a.name + ".json.tmp")
    with open(tmp, "w") as f:
        json.dump(mine, f)
    os.rename(tmp, os.path.join(a.dir, a.name + ".json"))
    other_file = os.path.join(a.dir, a.peer + ".json")
    deadline = time.monotonic() + 10
    while not os.path.exists(other_file):
        if time.monotonic() > deadline:
            print("no %s" % other_file, file=sys.stderr)
            return 1
        time.sleep(0.02)
    with open(other_file) as f:
        other = json.load(f)
    target = other.get(a.target)
    result = {"me": mine, "peer": other, "target": target, "sent": 0, "received": 0,
              "from": [], "first_rx_s": None, "roamed_to": None}
    if target:
        dst = hostport(target)
        start = a.start_at if a.start_at else time.time()
        while time.time() < start:
            time.sleep(min(0.005, max(0.0, start - time.time())))
        t0 = time.monotonic()
        n = int(round(a.seconds / a.interval))
        my_tag = ("punch %s " % a.name).encode()
        peer_tag = ("punch %s " % a.peer).encode()
        for i in range(n + 5):  # n sends, then 0.5 s of listening
            if i < n:
                s.sendto(my_tag + str(i).encode(), dst)
                result["sent"] += 1
            slot_end = t0 + (i + 1) * a.interval
            while True:
                left = slot_end - time.monotonic()
                if left <= 0:
                    break
                s.settimeout(left)
                try:
                    data, src = s.recvfrom(2048)
                except socket.timeout:
                    break
                if data.startswith(peer_tag):
                    result["received"] += 1
                    if a.roam and src != dst:
                        dst = src  # like WireGuard: answer where the peer's packets come from
                        result["roamed_to"] = fmt(src)
                    if result["first_rx_s"] is None:
                        result["first_rx_s"] = round(time.monotonic() - t0, 3)
                    if fmt(src) not in result["from"]:
                        result["from"].append(fmt(src))
    with open(os.path.join(a.dir, a.name + ".result.json"), "w") as f:
        json.dump(result, f)
    print(json.dumps(result))
    return 0


def cmd_stun_flood(a):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(hostport(a.bind))
    s.setblocking(False)
    dst = hostport(a.target)
    sent = answers = max_len = 0
    if a.pad and (a.pad < 8 or a.pad % 4):
        print("--pad: a multiple of 4, at least 8", file=sys.stderr)
        return 2
    req_len = 20 + a.pad
    t0 = time.monotonic()
    end = t0 + a.seconds
    interval = 1.0 / a.rate
    nxt = t0
    while time.monotonic() < end + 0.5:  # 0.5 s more for the last answers
        now = time.monotonic()
        if now < end and now >= nxt and sent < a.rate * a.seconds:
            req, _ = binding_request(pad=a.pad)
            try:
                s.sendto(req, dst)
                sent += 1
            except BlockingIOError:
                pass
            nxt += interval
            continue
        try:
            data, _ = s.recvfrom(4096)
            answers += 1
            max_len = max(max_len, len(data))
        except BlockingIOError:
            time.sleep(min(0.0005, max(0.0, nxt - now)) if now < end else 0.005)
    print(json.dumps({"sent": sent, "answers": answers, "max_answer_len": max_len,
                      "request_len": req_len, "seconds": a.seconds,
                      "answer_rate": round(answers / a.seconds, 1)}))
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    q = sub.add_parser("stun-server")
    q.add_argument("--bind", required=True)
    q.add_argument("--seconds", type=float, default=600)
    q = sub.add_parser("stun")
    q.add_argument("--stun", required=True)
    q.add_argument("--bind", default="0.0.0.0:0")
    q = sub.add_parser("peer")
    q.add_argument("--name", required=True)
    q.add_argument("--peer", required=True)
    q.add_argument("--dir", required=True)
    q.add_argument("--stun", required=True)
    q.add_argument("--port", type=int, default=0)
    q.add_argument("--target", choices=("public", "lan"), default="public")
    q.add_argument("--start-at", type=float, default=0)
    q.add_argument("--seconds", type=float, default=3)
    q.add_argument("--interval", type=float, default=0.1)
    q.add_argument("--no-roam", dest="roam", action="store_false",
                   help="keep sending to the peer's published address even when its "
                   "datagrams come from another one (default: switch to it, as WireGuard does)")
    q = sub.add_parser("stun-flood")
    q.add_argument("--target", required=True)
    q.add_argument("--rate", type=int, default=1000)
    q.add_argument("--seconds", type=float, default=2)
    q.add_argument("--pad", type=int, default=0)
    q.add_argument("--bind", default="0.0.0.0:0")
    a = p.parse_args()
    return {"stun-server": cmd_stun_server, "stun": cmd_stun, "peer": cmd_peer,
            "stun-flood": cmd_stun_flood}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
