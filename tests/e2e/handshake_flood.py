#!/usr/bin/env python3
"""Floods a WireGuard peer with handshake initiations whose mac1 is valid (so they pass the
first check and reach the handshake queue) and whose mac2 is not, for the end-to-end tests.
   handshake_flood.py SRC DST PORT PUBKEY SECONDS [BURST PERIOD_MS]
As fast as it can, or BURST initiations every PERIOD_MS. Stops after SECONDS or on SIGTERM,
then prints "sent N cookies C bad B": C cookie replies (type 3, 64 bytes) whose receiver index is
the sender index of one of our initiations, B other datagrams that came back."""
import base64, hashlib, os, signal, socket, struct, sys, time

LABEL_MAC1 = b"mac1----"


def main():
    src, dst, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    pub, secs = base64.b64decode(sys.argv[4]), float(sys.argv[5])
    burst = int(sys.argv[6]) if len(sys.argv) > 6 else 0
    period = float(sys.argv[7]) / 1000 if len(sys.argv) > 7 else 0
    # whitepaper §5.4.4: mac1 = MAC(HASH(LABEL_MAC1 || Spub_m'), msg_alpha), MAC = keyed BLAKE2s-128
    key = hashlib.blake2s(LABEL_MAC1 + pub).digest()
    pkts, ids = [], set()
    for i in range(1024):
        idx = 0x51000000 + i
        body = struct.pack("<BxxxI", 1, idx) + os.urandom(32 + 48 + 28)
        pkts.append(body + hashlib.blake2s(body, key=key, digest_size=16).digest() + bytes(16))
        ids.add(idx)
    fam = socket.AF_INET6 if ":" in dst else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.bind((src, 0))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.setblocking(False)
    sent = cookies = bad = 0
    end = time.monotonic() + secs
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))

    def drain():
        nonlocal cookies, bad
        while True:
            try:
                b = s.recv(2048)
            except (BlockingIOError, InterruptedError):
                return
            if len(b) == 64 and b[0] == 3 and struct.unpack_from("<I", b, 4)[0] in ids:
                cookies += 1
            else:
                bad += 1

    k = 0
    while time.monotonic() < end and not stop:
        t = time.monotonic()
        for _ in range(burst or len(pkts)):
            try:
                s.sendto(pkts[k % len(pkts)], (dst, port))
                sent += 1
                k += 1
            except (BlockingIOError, InterruptedError):
                break
        drain()
        if burst:
            time.sleep(max(0.0, period - (time.monotonic() - t)))
    time.sleep(0.5)
    drain()
    print("sent %d cookies %d bad %d" % (sent, cookies, bad))


main()
