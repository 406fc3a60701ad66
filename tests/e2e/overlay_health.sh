#!/bin/bash
# Health: cut n3's underlay link; n1 and n2 see it down within the (test-tuned) timeout, log
# the transition and withhold its DNS records; restore the link and it comes back up.
# Also: no plaintext on the underlay — a capture on the bridge while pinging with a marker
# payload and sending a marked TCP stream over the overlay sees only WireGuard (UDP 51420)
# and the control traffic, never the marker.
#
#   n1 (leader), n2, n3 ── br0 in "ul" (tcpdump here), 198.18.0.0/24
source "$(dirname "$0")/overlay_lib.sh"

underlay 3
init_leader
join_node 2
join_node 3
wait_for 10 in_ns n1 ping -c1 -W1 10.200.0.3 || fail "n1 -> n3"
wait_for 10 sh -c "$WEFT -d $(dir 1) peers | grep -E '^n3 .* up '" || fail "n3 not up on n1"
rtt=$("$WEFT" -d "$(dir 1)" peers --json | python3 -c '
import json,sys
p=[p for p in json.load(sys.stdin) if p["name"]=="n3"][0]
assert p["health"]=="up" and p["rtt_ms"] is not None and p["replies"]>0, p
print(p["rtt_ms"])')
ok "n3 healthy on n1, probe rtt $rtt ms"

in_ns n3 ip link set eth0 down
for i in 1 2; do
	wait_for 10 sh -c "$WEFT -d $(dir $i) peers | grep -E '^n3 .* down '" || fail "n3 not down on n$i"
done
grep -q "health: n3 is down (no probe reply" "$LOGDIR/n1.log" || fail "transition not logged"
[ -z "$(in_ns n2 dig +short -p 15353 @127.0.0.1 n3.weft.local A)" ] || fail "n3 still resolvable on n2"
in_ns n2 dig -p 15353 @127.0.0.1 n3.weft.local A | has "status: NXDOMAIN" || fail "n3 not NXDOMAIN"
[ "$(in_ns n2 dig +short -p 15353 @127.0.0.1 n1.weft.local A)" = 10.200.0.1 ] || fail "n1 withheld too"
ok "n3 down on n1 and n2 after its link was cut; its records withheld"

in_ns n3 ip link set eth0 up
for i in 1 2; do
	wait_for 15 sh -c "$WEFT -d $(dir $i) peers | grep -E '^n3 .* up '" || fail "n3 not back up on n$i"
done
[ "$(in_ns n2 dig +short -p 15353 @127.0.0.1 n3.weft.local A)" = 10.200.0.3 ] || fail "n3 records not back"
grep -q "health: n3 is up" "$LOGDIR/n1.log" || fail "up transition not logged"
ok "n3 back up with its records once the link returns"

# No plaintext on the underlay.
in_ns ul tcpdump -i br0 -w "$LOGDIR/ul.pcap" -U >/dev/null 2>&1 &
sleep 1
marker=WEFTPLAINTEXTMARKER
in_ns n1 ping -c5 -i0.2 -p "$(printf %s "$marker" | od -An -tx1 | tr -d ' \n' | cut -c1-32)" 10.200.0.2 >/dev/null ||
	fail "ping with a marker"
in_ns n2 timeout 5 python3 -c '
import socket
s=socket.socket(); s.bind(("10.200.0.2",7777)); s.listen(1)
c,_=s.accept(); d=b""
while len(d)<200000:
    b=c.recv(65536)
    if not b: break
    d+=b
assert b"WEFTPLAINTEXTMARKER" in d
' &
srv=$!
sleep 0.5
in_ns n1 python3 -c '
import socket
s=socket.create_connection(("10.200.0.2",7777)); s.sendall(b"WEFTPLAINTEXTMARKER"*10000); s.close()'
wait $srv || fail "marked TCP stream did not arrive"
sleep 1
in_ns ul pkill -INT tcpdump || true
sleep 0.5
grep -qa "$marker" "$LOGDIR/ul.pcap" && fail "plaintext marker seen on the underlay"
grep -qa "$(printf %s "$marker" | cut -c1-16)" "$LOGDIR/ul.pcap" && fail "ping marker seen on the underlay"
# Everything but WireGuard must be the kernel's link housekeeping (ARP, IPv4 IGMP, IPv6 ND/MLD on
# link-local or multicast addresses; n3's link went down and up just before).
others=$(tcpdump -nr "$LOGDIR/ul.pcap" 'not udp port 51420 and not arp and not igmp and not ip6 src net fe80::/10 and not ip6 src host :: and not ip6 dst net ff00::/8' 2>/dev/null | wc -l)
udp=$(tcpdump -nr "$LOGDIR/ul.pcap" 'udp port 51420' 2>/dev/null | wc -l)
[ "$udp" -gt 20 ] || fail "too few WireGuard packets captured ($udp)"
[ "$others" -eq 0 ] || { tcpdump -nr "$LOGDIR/ul.pcap" 'not udp port 51420 and not arp' 2>/dev/null | head; fail "non-WireGuard packets on the underlay"; }
ok "underlay carried $udp WireGuard datagrams and no plaintext"
