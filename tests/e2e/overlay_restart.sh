#!/bin/bash
# Restarts. The leader stops: members keep talking to each other; it comes back with its
# state, and the next join gets a fresh address (none reused). A member restarts: same
# overlay address and key, traffic resumes.
#
#   n1 (leader), n2, n3, later n4 ── br0 in "ul", 198.18.0.0/24
source "$(dirname "$0")/overlay_lib.sh"

underlay 4
init_leader
join_node 2
join_node 3
wait_for 10 in_ns n2 ping -c1 -W1 10.200.0.3 || fail "n2 -> n3 before restarts"

stop_node 1
in_ns n2 ping -c3 -i0.3 -W1 10.200.0.3 >/dev/null || fail "n2 -> n3 while the leader is down"
in_ns n3 ping -c1 -W1 10.200.0.2 >/dev/null || fail "n3 -> n2 while the leader is down"
ok "members keep working while the leader is down"

# n2 leaves for good while the leader is down? No: the leader removes n3 after restart, and
# a new node must not get n3's address.
cp "$(dir 1)/state.json" "$LOGDIR/state.before"
start_node 1
cmp -s "$(dir 1)/state.json" "$LOGDIR/state.before" || fail "state.json changed by a restart"
wait_for 10 in_ns n1 ping -c1 -W1 10.200.0.2 || fail "leader -> n2 after its restart"
weftc 1 node remove n3 >/dev/null || fail "node remove n3"
join_node 4
[ "$(ip4_of 4)" = 10.200.0.4 ] || fail "n4 got $(ip4_of 4), expected the fresh 10.200.0.4"
ok "leader restart keeps its state; a removed node's address is not handed out again"

key2=$(in_ns n2 wg show "$(ifname 2)" public-key)
stop_node 2
start_node 2
[ "$(ip4_of 2)" = 10.200.0.2 ] || fail "n2 came back as $(ip4_of 2)"
[ "$(in_ns n2 wg show "$(ifname 2)" public-key)" = "$key2" ] || fail "n2 came back with a new key"
wait_for 10 in_ns n4 ping -c1 -W1 10.200.0.2 || fail "n4 -> n2 after n2's restart"
wait_for 10 in_ns n2 ping -c1 -W1 10.200.0.1 || fail "n2 -> leader after n2's restart"
ok "a joined node restarts with the same address and key"

# Stopping the leader again and starting a member: it comes up from its saved view.
stop_node 1
stop_node 4
start_node 4
wait_for 10 in_ns n4 ping -c1 -W1 10.200.0.2 || fail "n4 restarted with the leader away"
ok "a member restarts while the leader is away and reaches its peers"

# A second weftd on the same directory is refused; the first keeps running.
out=$(in_ns n4 "$WEFTD" --data-dir "$(dir 4)" --interface x-dup -f 2>&1) && fail "second weftd ran"
echo "$out" | has "already running" || fail "second weftd: $out"
in_ns n4 ping -c1 -W1 10.200.0.2 >/dev/null || fail "n4 broken by a second weftd"
ok "a second weftd on the same state directory is refused"

# With the leader away, a member's view pulls time out (3 s each): they run on a thread of
# their own, so the member still answers at once, and stops at once (calls in progress are
# cut, not waited out). Before: `weft status` waited behind the pull, a stop took 2-4 s.
for i in 1 2 3 4 5 6; do
	t0=$(date +%s%N)
	weftc 4 status >/dev/null || fail "weft status on n4 with the leader away"
	ms=$((($(date +%s%N) - t0) / 1000000))
	[ "$ms" -lt 1000 ] || fail "weft status on n4 took $ms ms with the leader away"
	sleep 0.4
done
t0=$(date +%s%N)
stop_node 4
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$ms" -lt 1500 ] || fail "n4 took $ms ms to stop with the leader away"
ok "leader away: a member answers weft status in under 1 s and stops in $ms ms"
