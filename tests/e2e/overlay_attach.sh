#!/bin/bash
# Container attach across nodes: containers (network namespaces) attached to services on
# different nodes reach each other through the encrypted overlay, are published in every
# node's DNS (A and AAAA per container, SRV for declared ports), are dual-stack (an IPv6
# TCP stream across nodes), detach cleanly, and a container that dies is swept. Bad
# requests change nothing.
#
#   n1 (leader) ── br0 ── n2 ─ wb-web ─ c1 (web, http:80/tcp)
#                  (ul)    └─────────────────────────────────
#                       ── n3 ─ wb-web ─ c2 (web)
#                              └ wb-db  ─ c3 (db, by --pid of a process in it)
source "$(dirname "$0")/overlay_lib.sh"

underlay 3
init_leader
join_node 2
join_node 3
wait_for 10 in_ns n2 ping -c1 -W1 10.200.0.3 || fail "n2 -> n3"
for c in c1 c2 c3; do newns "$c"; done
nspath() { echo "/var/run/netns/$(ns "$1")"; }

out=$(weftc 2 attach --service web --netns "$(nspath c1)" --name c1 --port http:80/tcp) ||
	fail "attach c1: $out"
a1=$(echo "$out" | sed -n 's/.*: \([0-9.]*\) (gateway.*/\1/p')
out=$(weftc 3 attach --service web --netns "$(nspath c2)" --name c2) || fail "attach c2: $out"
a2=$(echo "$out" | sed -n 's/.*: \([0-9.]*\) (gateway.*/\1/p')
ip netns exec "$(ns c3)" sleep 600 &
pid3=$!
sleep 0.2
[ "$(stat -Lc %i /proc/$pid3/ns/net)" = "$(stat -Lc %i "$(nspath c3)")" ] || fail "sleep not in c3"
out=$(weftc 3 attach --service db --pid "$pid3" --name c3) || fail "attach c3 by pid: $out"
a3=$(echo "$out" | sed -n 's/.*: \([0-9.]*\) (gateway.*/\1/p')
[ -n "$a1" ] && [ -n "$a2" ] && [ -n "$a3" ] || fail "no addresses: '$a1' '$a2' '$a3'"
in_ns c1 ip -4 addr show eth0 | has "$a1/28" || fail "c1 eth0 lacks $a1/28"
in_ns c1 ip route | has "^default via" || fail "c1 has no default route"
ok "c1 $a1 (web on n2), c2 $a2 (web on n3), c3 $a3 (db on n3)"

wait_for 10 in_ns c1 ping -c1 -W1 "$a2" || fail "c1 -> c2 across nodes"
in_ns c2 ping -c2 -W1 "$a1" >/dev/null || fail "c2 -> c1"
in_ns c1 ping -c1 -W1 "$a3" >/dev/null || fail "c1 -> c3"
in_ns c1 ping -c1 -W1 10.200.0.1 >/dev/null || fail "c1 -> the leader's overlay address"
in_ns n1 wg show "$(ifname 1)" allowed-ips | has "${a1%.*}" || fail "n1 lacks c1's subnet in allowed IPs"
in_ns c2 timeout 5 python3 -c '
import socket
s=socket.socket(); s.bind(("0.0.0.0",8080)); s.listen(1)
c,_=s.accept(); d=b""
while True:
    b=c.recv(65536)
    if not b: break
    d+=b
assert d==b"x"*1000000, len(d)
' &
srv=$!
sleep 0.4
in_ns c1 python3 -c "
import socket
s=socket.create_connection(('$a2',8080)); s.sendall(b'x'*1000000); s.close()"
wait $srv || fail "TCP c1 -> c2 across nodes"
ok "containers reach each other across nodes (ICMP and a 1 MB TCP stream)"

# Dual stack (issue 12 item 4): each container also has the IPv6 twin of its IPv4 address
# (fd00:200::/48 + its offset in 10.200.0.0/16), a v6 default route, and reaches the others.
six() { python3 -c "import ipaddress as i; print(i.IPv6Address(int(i.IPv6Address('fd00:200::')) + int(i.IPv4Address('$1')) - int(i.IPv4Address('10.200.0.0'))))"; }
b1=$(six "$a1")
b2=$(six "$a2")
in_ns c1 ip -6 addr show eth0 | has "$b1/124" || fail "c1 eth0 lacks $b1/124"
in_ns c2 ip -6 addr show eth0 | has "$b2/124" || fail "c2 eth0 lacks $b2/124"
in_ns c1 ip -6 route | has "^default via" || fail "c1 has no IPv6 default route"
in_ns n1 wg show "$(ifname 1)" allowed-ips | has "$(six "${a1%.*}.$(( ${a1##*.} & ~15 ))")/124" ||
	fail "n1 lacks c1's IPv6 subnet in allowed IPs"
wait_for 10 in_ns c1 ping -6 -c1 -W1 "$b2" || fail "c1 -> c2 over IPv6 across nodes"
in_ns c2 ping -6 -c1 -W1 fd00:200::1 >/dev/null || fail "c2 -> the leader's overlay IPv6"
in_ns c2 timeout 5 python3 -c '
import socket
s=socket.socket(socket.AF_INET6); s.bind(("::",8081)); s.listen(1)
c,_=s.accept(); d=b""
while True:
    b=c.recv(65536)
    if not b: break
    d+=b
assert d==b"y"*1000000, len(d)
' &
srv=$!
sleep 0.4
in_ns c1 python3 -c "
import socket
s=socket.create_connection(('$b2',8081)); s.sendall(b'y'*1000000); s.close()"
wait $srv || fail "TCP over IPv6 c1 -> c2 across nodes"
ok "containers are dual-stack: $b1 and $b2 exchange a 1 MB TCP stream over IPv6"

dq() { in_ns n1 dig +short +time=2 +tries=1 -p 15353 @127.0.0.1 "$@"; }
[ "$(dq c1.web.weft.local AAAA)" = "$b1" ] || fail "c1.web AAAA: $(dq c1.web.weft.local AAAA)"
[ "$(dq web.weft.local AAAA | sort | tr '\n' ' ')" = "$(printf '%s\n' "$b1" "$b2" | sort | tr '\n' ' ')" ] ||
	fail "web AAAA records: $(dq web.weft.local AAAA | tr '\n' ' ')"
[ "$(dq web.weft.local A | sort | tr '\n' ' ')" = "$(printf '%s\n' "$a1" "$a2" | sort | tr '\n' ' ')" ] ||
	fail "web A records: $(dq web.weft.local A | tr '\n' ' ')"
[ "$(dq c3.db.weft.local A)" = "$a3" ] || fail "c3.db A"
[ "$(dq _http._tcp.web.weft.local SRV)" = "0 0 80 c1.web.weft.local." ] ||
	fail "SRV: $(dq _http._tcp.web.weft.local SRV)"
in_ns n2 dig -p 15353 @127.0.0.1 _http._tcp.web.weft.local SRV | grep -A3 "ADDITIONAL SECTION" | has "$a1" ||
	fail "SRV without the target's address in the additional section"
in_ns c1 dig +short -p 15353 @10.200.0.2 web.weft.local A | has "$a2" || fail "a container cannot use DNS"
ok "DNS: one A per container, SRV with additional A, from nodes and containers"

out=$(weftc 2 attach --service web --netns "$(nspath c1)" --name c1 2>&1) && fail "attached twice"
out=$(weftc 2 attach --service web --netns /var/run/netns/nonexistent --name cx 2>&1) && fail "bad netns"
echo "$out" | has "No such file" || fail "bad netns: $out"
out=$(weftc 2 attach --service Web_1 --netns "$(nspath c1)" --name cy 2>&1) && fail "bad service"
out=$(weftc 2 attach --service web 2>&1) && fail "attach without a namespace"
out=$(weftc 2 attach --service web --netns "$(nspath c1)" --name cz 2>&1) && fail "eth0 twice in c1"
[ "$(dq web.weft.local A | wc -l)" = 2 ] || fail "a failed attach left a record"
in_ns n2 ip -o link | grep -c "weft-attach" | has -x 1 || fail "a failed attach left a veth"
ok "bad attaches refused, nothing left behind"

weftc 3 detach c2 >/dev/null || fail "detach c2"
! in_ns c2 ip link show eth0 >/dev/null 2>&1 || fail "c2 still has eth0"
wait_for 5 sh -c "[ \"\$(ip netns exec $(ns n1) dig +short -p 15353 @127.0.0.1 web.weft.local A)\" = '$a1' ]" ||
	fail "web still lists c2"
out=$(weftc 3 detach c2 2>&1) && fail "detached twice"
ok "detach removes the veth and the record"

kill "$pid3"
wait "$pid3" 2>/dev/null || true
ip netns del "$(ns c3)"
wait_for 15 sh -c "[ -z \"\$(ip netns exec $(ns n1) dig +short -p 15353 @127.0.0.1 c3.db.weft.local A)\" ]" ||
	fail "dead container c3 not swept"
grep -q "container c3 is gone" "$LOGDIR/n3.log" || fail "sweep not logged"
ok "a container whose namespace died is swept from the cluster"
