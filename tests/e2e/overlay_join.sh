#!/bin/bash
# weft init on n1, weft join on n2 and n3, every pair reachable over IPv4 and IPv6 overlay
# addresses, every member told of every later joiner without anything run by hand.
#
#   n1 (leader) 198.18.0.1 ─┐
#   n2          198.18.0.2 ─┼─ br0 in "ul"
#   n3          198.18.0.3 ─┘
source "$(dirname "$0")/overlay_lib.sh"

underlay 3
init_leader
join_node 2
join_node 3

for i in 1 2 3; do eval "A$i=$(ip4_of $i)"; eval "B$i=$(ip6_of $i)"; done
[ "$A1" = 10.200.0.1 ] && [ "$A2" = 10.200.0.2 ] && [ "$A3" = 10.200.0.3 ] ||
	fail "addresses $A1 $A2 $A3"
[ "$B1" = fd00:200::1 ] || fail "leader v6 $B1"
ok "leader 10.200.0.1, joiners 10.200.0.2 and .3"

for i in 1 2 3; do for k in 1 2 3; do
	[ $i = $k ] && continue
	eval "a=\$A$k b=\$B$k"
	wait_for 10 in_ns "n$i" ping -c1 -W1 "$a" || fail "n$i cannot ping n$k at $a"
	in_ns "n$i" ping -c1 -W2 "$b" >/dev/null || fail "n$i cannot ping n$k at $b"
done; done
ok "all 6 ordered pairs reachable over v4 and v6"

# n2 learned of n3 (joined after it) from the leader's push, not by hand.
in_ns n2 wg show "$(ifname 2)" allowed-ips | has "10.200.0.3/32" || fail "n2 has no peer n3"
in_ns n2 wg show "$(ifname 2)" dump | awk 'NR>1 && $5 > 0 {n++} END {exit n==2 ? 0 : 1}' ||
	fail "n2 lacks recent handshakes with both peers"
weftc 2 status | has "^n3 " || fail "status of n2 does not list n3"
weftc 2 status --json | python3 -c '
import json,sys
s=json.load(sys.stdin)
assert s["node"]["role"]=="member", s
names=sorted(p["name"] for p in s["peers"])
assert names==["n1","n3"], names
for p in s["peers"]:
    assert p["rx_bytes"]>0 and p["tx_bytes"]>0, p
' || fail "status --json of n2"
ok "members know each other; wg show and weft status agree"

# A used token is refused, and so is garbage.
tok=$(weftc 1 token create)
in_ns n2 "$WEFT" join "$tok" --name n4 -d "$LOGDIR/x" --no-start >/dev/null ||
	fail "a fresh token was refused"
out=$(in_ns n3 "$WEFT" join "$tok" --name again -d "$LOGDIR/y" --no-start 2>&1) &&
	fail "a used token was accepted"
echo "$out" | has "unknown or used-up token" || fail "used token: $out"
[ ! -e "$LOGDIR/y/state.json" ] || fail "a refused join left a state file"
grep -q "refused: unknown or used-up token" "$LOGDIR/n1.log" || fail "refusal not logged"
ok "a used token is refused and logged, nothing written"

out=$(in_ns n3 "$WEFT" join "weft1-00-11" -d "$LOGDIR/z" 2>&1) && fail "garbage token accepted"
echo "$out" | has "token" || fail "garbage token: $out"
# A token whose secret is wrong: the leader cannot open the join and says nothing useful.
tok=$(weftc 1 token create)
bad=$(echo "$tok" | python3 -c 'import sys; t=sys.stdin.read().strip().split("-"); t[2]=("0" if t[2][0]!="0" else "1")+t[2][1:]; print("-".join(t))')
in_ns n3 "$WEFT" join "$bad" --name n5 -d "$LOGDIR/w" --no-start >/dev/null 2>&1 &&
	fail "a token with a wrong secret was accepted"
[ ! -e "$LOGDIR/w/state.json" ] || fail "a refused join left a state file"
wait_for 3 grep -q "hung up after the handshake (a joiner with a wrong token secret" "$LOGDIR/n1.log" ||
	fail "wrong secret not logged"
# Expired: a 1-second token used 2 seconds later.
tok=$(weftc 1 token create --ttl 1)
sleep 2.1
out=$(in_ns n3 "$WEFT" join "$tok" --name n6 -d "$LOGDIR/v" --no-start 2>&1) &&
	fail "an expired token was accepted"
echo "$out" | has "expired" || fail "expired token: $out"
weftc 1 status --json | python3 -c '
import json,sys
s=json.load(sys.stdin)
names=[n["name"] for n in s["allocations"]["nodes"]]
assert sorted(names)==["n1","n2","n3","n4"], names
' || fail "a refused join allocated something"
ok "garbage, wrong-secret and expired tokens refused; nothing allocated"
