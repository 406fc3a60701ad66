#!/bin/bash
# weft node remove: the node disappears from every member's WireGuard peers and DNS, learns
# it was removed, and can no longer reach anyone; bad names are refused.
#
#   n1 (leader), n2, n3 ── br0 in "ul", 198.18.0.0/24
source "$(dirname "$0")/overlay_lib.sh"

underlay 3
init_leader
join_node 2
join_node 3
wait_for 10 in_ns n2 ping -c1 -W1 10.200.0.3 || fail "n2 -> n3 before removal"
key3=$(in_ns n3 wg show "$(ifname 3)" public-key)
in_ns n2 dig +short -p 15353 @127.0.0.1 n3.weft.local | has -x 10.200.0.3 || fail "n3 not in n2's DNS"

out=$(weftc 2 node remove n3 2>&1) && fail "a member removed a node"
echo "$out" | has "runs on the leader" || fail "member remove: $out"
out=$(weftc 1 node remove nobody 2>&1) && fail "removed a node that does not exist"
echo "$out" | has "no node named nobody" || fail "unknown node: $out"
out=$(weftc 1 node remove n1 2>&1) && fail "removed the leader"
out=$(weftc 1 node remove 'Bad_Name' 2>&1) && fail "accepted a bad name"
ok "bad removals refused"

weftc 1 node remove n3 >/dev/null || fail "node remove n3"
for i in 1 2; do
	wait_for 10 sh -c "! ip netns exec $(ns n$i) wg show $(ifname $i) peers | grep -q '$key3'" ||
		fail "n$i still has n3 as a peer"
done
wait_for 10 sh -c "! ip netns exec $(ns n2) dig +short -p 15353 @127.0.0.1 n3.weft.local | grep -q ." ||
	fail "n3 still in n2's DNS"
wait_for 10 sh -c "$WEFT -d $(dir 3) status | grep -q REMOVED" ||
	in_ns n3 "$WEFT" -d "$(dir 3)" status --json | has '"removed": true' ||
	fail "n3 does not know it was removed"
[ -z "$(in_ns n3 wg show "$(ifname 3)" peers)" ] || fail "n3 kept its peers"
in_ns n3 ping -c1 -W1 10.200.0.2 >/dev/null 2>&1 && fail "n3 still reaches n2"
in_ns n2 ping -c1 -W1 10.200.0.1 >/dev/null || fail "n2 lost the leader"
weftc 1 status --json | python3 -c '
import json,sys
s=json.load(sys.stdin)
assert sorted(n["name"] for n in s["allocations"]["nodes"])==["n1","n2"]
' || fail "the leader still allocates to n3"
ok "n3 removed from every member, its DNS names and allocation gone"
