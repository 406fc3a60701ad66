#!/usr/bin/env bash
TEST=zzdev3
source "$(dirname "$0")/nat_lib.sh"
nat_topology "2" "4"
start_turn
echo "$TURN_SECRET" > $LOGDIR/secret
weftc 1 init --name n1 --endpoint 198.18.0.1 --stun 198.18.0.3:3479 --turn turn:198.18.0.2:3478 --turn-secret-file $LOGDIR/secret >/dev/null || fail init
start_node 1
for i in 2 4; do join_node $i; done
sleep 6
weftc 2 peers | tail -4
echo "=== restart"
stop_node 2; stop_node 4; flush_conntrack a; flush_conntrack b
echo "RESTART $(date +%T)" >> $LOGDIR/n2.log
echo "RESTART $(date +%T)" >> $LOGDIR/n4.log
start_node 2; start_node 4
sleep 8
weftc 2 peers | tail -4
in_ns ra conntrack -L 2>/dev/null | grep udp | head
in_ns rb conntrack -L 2>/dev/null | grep udp | head
fail keep
