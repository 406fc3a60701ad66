#!/bin/bash
# DNS service discovery with dig: node, IP-derived, leader and custom names (A and AAAA), on
# 127.0.0.1 and over the overlay, UDP and TCP; NXDOMAIN vs NODATA; names outside the zone
# forwarded to the upstream of resolv.conf (a stub in namespace "up"), SERVFAIL once it is
# stopped; malformed queries do not hurt the server.
#
#   n1 (leader) 198.18.0.1 ─┐
#   n2          198.18.0.2 ─┼─ br0 in "ul" ─ up 198.18.0.53 (stub name server)
#   n3          198.18.0.3 ─┘
source "$(dirname "$0")/overlay_lib.sh"

underlay 3
newns up
ip link add "$PFX-uu" netns "$(ns ul)" type veth peer "$PFX-ud" netns "$(ns up)"
in_ns ul ip link set "$PFX-uu" master br0 up
in_ns up ip addr add 198.18.0.53/24 dev "$PFX-ud"
in_ns up ip link set "$PFX-ud" up
in_ns up python3 "$ROOT/tests/e2e/dns_stub.py" 198.18.0.53 53 outside.test=198.18.7.7 \
	>"$LOGDIR/stub.log" 2>&1 &
printf 'nameserver 127.0.0.53\nnameserver 198.18.0.53\noptions edns0\n' >"$LOGDIR/resolv.conf"
WEFTD_OPTS="$WEFTD_OPTS --resolv-conf $LOGDIR/resolv.conf"
init_leader
join_node 2
join_node 3
wait_for 10 in_ns n3 ping -c1 -W1 10.200.0.1 || fail "n3 -> n1"

q() { # q NODE SERVER NAME TYPE [dig options]: the answers, one per line
	local i=$1 s=$2 name=$3 type=$4
	shift 4
	in_ns "n$i" dig +short +time=2 +tries=1 -p 15353 "@$s" "$name" "$type" "$@"
}
status() { in_ns "n$1" dig +time=2 +tries=1 -p 15353 "@$2" "$3" "$4" | sed -n 's/.*status: \([A-Z]*\),.*/\1/p'; }
expect() { # expect DESCRIPTION GOT WANT
	[ "$2" = "$3" ] || fail "$1: got '$2', want '$3'"
}

expect "A n1 via 127.0.0.1" "$(q 2 127.0.0.1 n1.weft.local A)" 10.200.0.1
expect "AAAA n1" "$(q 2 127.0.0.1 n1.weft.local AAAA)" fd00:200::1
expect "A n3 over the overlay" "$(q 2 10.200.0.1 n3.weft.local A)" 10.200.0.3
expect "A n2 over TCP" "$(q 3 10.200.0.2 n2.weft.local A +tcp)" 10.200.0.2
expect "node-0-2" "$(q 1 127.0.0.1 node-0-2.weft.local A)" 10.200.0.2
expect "node-0003 AAAA" "$(q 1 127.0.0.1 node-0003.weft.local AAAA)" fd00:200::3
expect "leader A" "$(q 3 127.0.0.1 leader.weft.local A)" 10.200.0.1
expect "leader AAAA" "$(q 3 127.0.0.1 leader.weft.local AAAA)" fd00:200::1
expect "NXDOMAIN" "$(status 2 127.0.0.1 nope.weft.local A)" NXDOMAIN
expect "NODATA" "$(status 2 127.0.0.1 n1.weft.local MX)" NOERROR
expect "NODATA is empty" "$(q 2 127.0.0.1 n1.weft.local MX)" ""
in_ns n2 dig +time=2 +tries=1 -p 15353 @127.0.0.1 n1.weft.local A | has "flags: qr aa" ||
	fail "zone answers are not authoritative"
ok "node, IP-derived and leader names, A and AAAA, UDP and TCP, NXDOMAIN vs NODATA"

weftc 2 dns add db 10.200.9.9 >/dev/null || fail "dns add from a member"
weftc 1 dns add db fd00:200::99 >/dev/null || fail "dns add AAAA"
out=$(weftc 1 dns add db 10.200.9.9 2>&1) && fail "a duplicate record was accepted"
out=$(weftc 1 dns add 'Bad Name' 10.200.9.9 2>&1) && fail "a bad name was accepted"
echo "$out" | has "not a lower-case DNS name" || fail "bad name: $out"
out=$(weftc 1 dns add x 10.200.9 2>&1) && fail "a bad address was accepted"
wait_for 10 sh -c "ip netns exec $(ns n3) dig +short -p 15353 @127.0.0.1 db.weft.local A | grep -qx 10.200.9.9" ||
	fail "custom A not on n3"
expect "custom AAAA on n2" "$(q 2 127.0.0.1 db.weft.local AAAA)" fd00:200::99
weftc 3 dns list | has "^db .*10.200.9.9" || fail "dns list on n3"
# Records are owned (n2's A, the admin's AAAA): another member may neither remove them nor
# add to their name, and nobody may shadow leader, a node or the IP-derived names.
out=$(weftc 3 dns rm db 2>&1) && fail "a member removed another node's record"
echo "$out" | has "owned by" || fail "dns rm by n3: $out"
out=$(weftc 3 dns add db 198.18.0.66 2>&1) && fail "a member added to another node's name"
for name in leader leader.weft.local. n2 x.n1 node-0-2; do
	out=$(weftc 3 dns add "$name" 198.18.0.66 2>&1) && fail "a member shadowed $name"
	echo "$out" | has "would shadow" || fail "dns add $name: $out"
done
out=$(weftc 1 dns add leader 198.18.0.66 2>&1) && fail "the admin shadowed leader"
expect "leader still the leader" "$(q 3 127.0.0.1 leader.weft.local A)" 10.200.0.1
weftc 2 dns rm db >/dev/null || fail "dns rm of its own record from a member"
expect "the admin's AAAA kept" "$(q 1 127.0.0.1 db.weft.local AAAA)" fd00:200::99
weftc 1 dns rm db >/dev/null || fail "dns rm by the admin"
wait_for 10 sh -c "[ \"\$(ip netns exec $(ns n1) dig +short -p 15353 @127.0.0.1 db.weft.local A)\" = '' ]" ||
	fail "custom record not removed"
ok "custom records added and removed from any node reach every node; owners only remove theirs; no shadowing; bad input refused"

expect "forwarded" "$(q 2 127.0.0.1 outside.test A)" 198.18.7.7
expect "forwarded NXDOMAIN" "$(status 2 127.0.0.1 missing.test A)" NXDOMAIN
in_ns up pkill -f dns_stub.py || true
sleep 0.3
expect "SERVFAIL without upstream" "$(status 2 127.0.0.1 outside.test A)" SERVFAIL
expect "zone still answers" "$(q 2 127.0.0.1 n1.weft.local A)" 10.200.0.1
ok "names outside the zone forwarded to resolv.conf's upstream (127.0.0.53 skipped); SERVFAIL when it is gone"

in_ns n2 python3 - <<'PY'
import socket, os
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for n in range(0, 600, 7):
    s.sendto(os.urandom(n), ("127.0.0.1", 15353))
s.sendto(b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\xc0\x0c\x00\x01\x00\x01", ("127.0.0.1", 15353))
PY
expect "after garbage" "$(q 2 127.0.0.1 n1.weft.local A)" 10.200.0.1
ok "garbage queries do not hurt the server"
