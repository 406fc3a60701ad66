#!/usr/bin/env python3
"""A UDP relay that holds every datagram for a fixed delay, both ways (crossing.sh).

    delay_relay.py DELAY_MS LISTEN_A_HOST:PORT TO_B_HOST:PORT LISTEN_B_HOST:PORT TO_A_HOST:PORT

What arrives on LISTEN_A goes to TO_B from the LISTEN_B socket, and what arrives on
LISTEN_B goes to TO_A from the LISTEN_A socket, each DELAY_MS later: to each side the
relay is the other's endpoint, a path with a round trip of twice DELAY_MS (the machine has
no netem). Order is kept.
"""
import asyncio
import sys


def addr(s):
    host, port = s.rsplit(":", 1)
    return host, int(port)


class Side(asyncio.DatagramProtocol):
    def __init__(self, delay, dest):
        self.delay, self.dest, self.out = delay, dest, None

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, _src):
        loop = asyncio.get_running_loop()
        loop.call_later(self.delay, self.out.transport.sendto, data, self.dest)


async def main():
    delay = int(sys.argv[1]) / 1000
    la, tb, lb, ta = (addr(a) for a in sys.argv[2:6])
    loop = asyncio.get_running_loop()
    _, a = await loop.create_datagram_endpoint(lambda: Side(delay, tb), local_addr=la)
    _, b = await loop.create_datagram_endpoint(lambda: Side(delay, ta), local_addr=lb)
    a.out, b.out = b, a
    print("ready", flush=True)
    await asyncio.Event().wait()


asyncio.run(main())
