#!/bin/bash
# The leader can move (issue 12 item 6): its underlay address changes, the admin says so with
# `weft endpoint set`, and a token made after that carries the new address: a join with it
# works. Members learn the new endpoint from the view (their state follows), and only the
# admin on the leader may change it.
#
#   n1 (leader) 198.18.0.1, then 198.18.0.11 ─┐
#   n2          198.18.0.2                     ├─ br0 in "ul"
#   n3          198.18.0.3 (joins after the move) ─┘
source "$(dirname "$0")/overlay_lib.sh"

underlay 3
init_leader
join_node 2
wait_for 10 in_ns n2 ping -c1 -W1 10.200.0.1 || fail "n2 cannot reach the leader"

# The move: the old address goes away.
in_ns n1 ip addr del 198.18.0.1/24 dev eth0
in_ns n1 ip addr add 198.18.0.11/24 dev eth0
out=$(weftc 2 endpoint set 198.18.0.2 2>&1) && fail "a member set the leader's endpoint"
echo "$out" | has "runs on the leader" || fail "member endpoint set: $out"
out=$(weftc 1 endpoint set 198.18.0.999 2>&1) && fail "a bad endpoint was taken"
echo "$out" | has "is not IP" || fail "bad endpoint: $out"
out=$(weftc 1 endpoint set 198.18.0.11 2>&1) || fail "endpoint set: $out"
echo "$out" | has "198.18.0.11:51420" || fail "endpoint set said: $out"
grep -q "the leader's endpoint is 198.18.0.11:51420 (was 198.18.0.1:51420)" "$LOGDIR/n1.log" ||
	fail "the move is not in the leader's log"
grep -q '"endpoint": "198.18.0.11:51420"' "$(dir 1)/state.json" || fail "the leader did not save it"
ok "the admin moved the leader's endpoint; a member and a bad address are refused"

# A token made now carries the new address: n3 joins with it.
join_node 3
wait_for 10 in_ns n3 ping -c1 -W1 10.200.0.1 || fail "n3 cannot reach the leader"
wait_for 10 in_ns n3 ping -c1 -W1 10.200.0.2 || fail "n3 cannot reach n2"
ok "a join with a token made after the move works"

# n2 learned it through the view: its state names the new address.
wait_for 10 grep -q '"endpoint": "198.18.0.11:51420"' "$(dir 2)/state.json" ||
	fail "n2's state still has the old leader endpoint"
grep -q "the leader n1 is at 198.18.0.11:51420 now" "$LOGDIR/n2.log" || fail "n2 did not log it"
stop_node 2
start_node 2
wait_for 10 in_ns n2 ping -c1 -W1 10.200.0.1 || fail "n2 cannot reach the leader after a restart"
ok "members learn the new endpoint from the view and find the leader after a restart"
