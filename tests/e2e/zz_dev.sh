#!/usr/bin/env bash
TEST=zzdev
source "$(dirname "$0")/nat_lib.sh"
nat_topology "2 3" "4"
nat_mode a ${MODE_A:-ei}; nat_mode b ${MODE_B:-ei}
start_turn
echo "$TURN_SECRET" > $LOGDIR/secret
weftc 1 init --name n1 --endpoint 198.18.0.1 --stun 198.18.0.3:3479 --turn turn:198.18.0.2:3478 --turn-secret-file $LOGDIR/secret >/dev/null || fail init
start_node 1
for i in 2 3 4; do join_node $i; done
t0=$(date +%s.%N)
for s in $(seq 40); do
	sleep 0.5
	out=$(weftc 2 peers --json 2>/dev/null | /usr/bin/python3 -c 'import json,sys; j=json.load(sys.stdin); print(" ".join(p["name"]+"="+p.get("path","?") for p in j))')
	echo "$s: $out"
	case "$out" in *"n4=direct"*"") ;; esac
done
weftc 2 peers
weftc 4 peers
grep -h "nat:" $LOGDIR/n*.log | head -40
ip4=$(ip4_of 4); in_ns n2 ping -c2 -W1 "$ip4" && ok "ping n2->n4"
