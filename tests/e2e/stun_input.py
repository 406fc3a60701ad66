#!/usr/bin/python3
"""Bad and hostile STUN toward a weftd's WireGuard port (tests/e2e/nat_stun.sh).

stun_input.py HOST PORT prints one JSON object with what came back for each case; the shell
script asserts on it. Every request is sent from one socket that is not a cluster peer.
"""
import json
import os
import socket
import struct
import sys
import time
import zlib

MAGIC = 0x2112A442


def attr(t, v):
    pad = (4 - len(v) % 4) % 4
    return struct.pack("!HH", t, len(v)) + v + b"\0" * pad


def msg(mtype, attrs=b"", txid=None, length=None, fingerprint=True, bad_fp=False):
    txid = txid or os.urandom(12)
    body = attrs
    n = len(body) + (8 if fingerprint else 0)
    hdr = struct.pack("!HHI", mtype, n if length is None else length, MAGIC) + txid
    m = hdr + body
    if fingerprint:
        crc = (zlib.crc32(m) ^ 0x5354554E) & 0xFFFFFFFF
        if bad_fp:
            crc ^= 1
        m += attr(0x8028, struct.pack("!I", crc))
    return m, txid


def padded_request(extra=b""):
    # SOFTWARE padding so that the answer is never larger than the request
    return msg(0x0001, extra + attr(0x8022, b"x" * 40))


def xor_mapped(resp):
    off = 20
    while off + 4 <= len(resp):
        t, n = struct.unpack("!HH", resp[off:off + 4])
        v = resp[off + 4:off + 4 + n]
        if t == 0x0020 and n >= 8 and v[1] == 1:
            port = struct.unpack("!H", v[2:4])[0] ^ (MAGIC >> 16)
            ip = bytes(a ^ b for a, b in zip(v[4:8], struct.pack("!I", MAGIC)))
            return "%s:%d" % (socket.inet_ntoa(ip), port)
        off += 4 + n + (4 - n % 4) % 4
    return None


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", 0))
    s.settimeout(0.3)
    dst = (host, port)
    out = {"source": "%s:%d" % (s.getsockname()[0], s.getsockname()[1])}

    def ask(m, wait=0.3):
        s.settimeout(wait)
        s.sendto(m, dst)
        try:
            return s.recv(2048)
        except socket.timeout:
            return None

    def quiet(wait=0.3):
        s.settimeout(wait)
        got = []
        try:
            while True:
                got.append(s.recv(2048))
        except socket.timeout:
            return got

    # 1. a good, padded request
    m, txid = padded_request()
    r = ask(m)
    out["good"] = bool(r) and r[8:20] == txid and r[:2] == b"\x01\x01"
    out["good_len"] = [len(m), len(r) if r else 0]
    out["good_mapped"] = xor_mapped(r) if r else None
    time.sleep(0.3)  # the bucket refills
    # 2. a minimal request: the answer would be larger than it
    r = ask(msg(0x0001, fingerprint=False)[0])
    out["minimal_answered"] = r is not None
    # 3. malformed ones: none is answered
    bad = {
        "length_over": msg(0x0001, attr(0x8022, b"x" * 40), length=200)[0],
        "length_not_4": msg(0x0001, attr(0x8022, b"x" * 40), length=49)[0],
        "attr_overruns": padded_request()[0][:-12] + struct.pack("!HH", 0x8022, 400) + b"x" * 8,
        "unknown_required": padded_request(attr(0x0003, b"\0\0\0\0"))[0],
        "bad_fingerprint": msg(0x0001, attr(0x8022, b"x" * 40), bad_fp=True)[0],
        "wireguard_like": b"\x01\x00\x00\x00" + os.urandom(144),
        "random": os.urandom(100),
        "empty": b"",
    }
    answered = []
    for name, m in bad.items():
        time.sleep(0.06)
        r = ask(m, 0.2)
        if r is None:
            continue
        # unknown comprehension-required attributes: a 420 error, no larger than the request
        if name == "unknown_required" and r[:2] == b"\x01\x11" and len(r) <= len(m):
            out["unknown_required_420"] = True
            continue
        answered.append(name)
    out["bad_answered"] = answered
    # 4. responses nobody asked for (spoofed transaction ids), and indications: ignored
    for _ in range(20):
        s.sendto(msg(0x0101, attr(0x0020, b"\0\x01" + os.urandom(6)))[0], dst)
        s.sendto(msg(0x0011)[0], dst)
    out["unsolicited_answered"] = len(quiet(0.5))
    # 5. a flood from one source: rate-limited, never amplified
    time.sleep(1.0)
    sent = 0
    t0 = time.monotonic()
    sizes = []
    while time.monotonic() - t0 < 2.0:
        m, _ = padded_request()
        s.sendto(m, dst)
        sizes.append(len(m))
        sent += 1
        if sent % 50 == 0:
            time.sleep(0.001)
    replies = quiet(0.5)
    out["flood_sent"] = sent
    out["flood_seconds"] = round(time.monotonic() - t0, 2)
    out["flood_answered"] = len(replies)
    out["flood_max_reply"] = max((len(r) for r in replies), default=0)
    out["flood_min_request"] = min(sizes)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
