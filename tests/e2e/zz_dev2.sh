#!/usr/bin/env bash
TEST=zzdev2
source "$(dirname "$0")/nat_lib.sh"
nat_topology "2" "4"
nat_mode a sym; nat_mode b sym
start_turn
echo "$TURN_SECRET" > $LOGDIR/secret
weftc 1 init --name n1 --endpoint 198.18.0.1 --stun 198.18.0.3:3479 --turn turn:198.18.0.2:3478 --turn-secret-file $LOGDIR/secret >/dev/null || fail init
start_node 1
for i in 2 4; do join_node $i; done
path() { weftc $1 peers --json 2>/dev/null | /usr/bin/python3 -c 'import json,sys; j=json.load(sys.stdin); print([p.get("path") for p in j if p["name"]=="'$2'"][0])'; }
t0=$(date +%s%N)
wait_for 20 sh -c "[ \"\$(weftc 2 peers --json | /usr/bin/python3 -c 'import json,sys; j=json.load(sys.stdin); print([p.get(\"path\") for p in j[\"peers\"] if p[\"name\"]==\"n4\"][0])')\" = relay ]" || true
echo "relay after $(( ($(date +%s%N)-t0)/1000000 )) ms: $(path 2 n4) $(path 4 n2)"
ip4=$(ip4_of 4); in_ns n2 ping -c3 -i0.2 -W1 "$ip4" | tail -2
nat_mode b fullcone; flush_conntrack b
t0=$(date +%s%N)
for s in $(seq 40); do sleep 0.5; p=$(path 2 n4); q=$(path 4 n2); [ "$p" = direct ] && [ "$q" = direct ] && break; done
echo "direct after $(( ($(date +%s%N)-t0)/1000000 )) ms: $p $q"
weftc 2 peers
in_ns n2 ping -c3 -i0.2 -W1 "$ip4" | tail -2
weftc 2 status --json | grep -A8 '"relay"'
sleep 3
weftc 2 status --json | grep -A8 '"relay"'
fail "keep logs"
