#!/bin/bash
# Names are unique per their kind's scope (issue 12 item 5), checked end to end through the
# CLI: node names cluster-wide and never reserved (leader, node-...), service names distinct
# from node names, container names unique within their service across nodes, records not
# shadowing any of them. Each collision is refused with a message naming it, and changes
# nothing: the zone keeps one answer per name.
#
#   n1 (leader) ── br0 ── n2 ─ web: c1 "web1"
#                  (ul) ── n3 ─ web: c2 "web1" (refused), "web2"
source "$(dirname "$0")/overlay_lib.sh"

underlay 4
init_leader
join_node 2
join_node 3
wait_for 10 in_ns n2 ping -c1 -W1 10.200.0.3 || fail "n2 -> n3"
for c in c1 c2 c3; do newns "$c"; done
nspath() { echo "/var/run/netns/$(ns "$1")"; }
refused() { # refused PATTERN CMD...: exit != 0 and the message has PATTERN
	local pat=$1 out rc=0
	shift
	out=$("$@" 2>&1) || rc=$?
	[ $rc -ne 0 ] || fail "accepted: $*"
	echo "$out" | has -- "$pat" || fail "'$*' said: $out"
}
tok=$LOGDIR/t
(umask 077 && weftc 1 token create --uses 10 >"$tok") || fail "token"

# Node names: reserved words, the leader's and another node's name.
for name in leader node-0-5 node-ab; do
	refused "the name $name is reserved" weft 4 join --token-file "$tok" --name "$name" --no-start
done
refused "name or key of the leader" weft 4 join --token-file "$tok" --name n1 --no-start
refused "name n2 is taken by node n2" weft 4 join --token-file "$tok" --name n2 --no-start
[ ! -e "$(dir 4)/state.json" ] && [ ! -e "$(dir 4)/private.key" ] || fail "a refused join left files"
refused "--name: 'node-1' is reserved" "$WEFT" init -d "$LOGDIR/x" --endpoint 198.18.0.9 --name node-1
ok "node names: leader, node-..., the leader's and a member's name refused, nothing left"

# Services and containers.
weftc 2 attach --service web --netns "$(nspath c1)" --name web1 >/dev/null || fail "attach web1"
refused "service web has a container web1 already (on n2)" \
	weftc 3 attach --service web --netns "$(nspath c2)" --name web1
refused "service name n2 is the name of a node" weftc 3 attach --service n2 --netns "$(nspath c2)" --name c2
refused "service name leader is reserved" weftc 3 attach --service leader --netns "$(nspath c2)" --name c2
in_ns c2 ip link show eth0 >/dev/null 2>&1 && fail "a refused attach left eth0 in c2"
weftc 3 attach --service web --netns "$(nspath c2)" --name web2 >/dev/null || fail "attach web2"
refused "web is the name of a service" weft 4 join --token-file "$tok" --name web --no-start
ok "a second web1 in service web, a service named like a node or leader, a node named like a service: refused"

# Records may not shadow nodes, services or their containers.
refused "n3 would shadow the node n3" weftc 1 dns add n3 10.9.9.9
refused "web1.web would shadow the service web" weftc 1 dns add web1.web 10.9.9.9
refused "leader would shadow leader" weftc 2 dns add leader 10.9.9.9
dq() { in_ns n1 dig +short +time=2 +tries=1 -p 15353 @127.0.0.1 "$@"; }
[ "$(dq web1.web.weft.local A | wc -l)" = 1 ] || fail "web1.web has $(dq web1.web.weft.local A | wc -l) addresses"
[ "$(dq n2.weft.local A | wc -l)" = 1 ] || fail "n2 has more than one address"
[ "$(dq leader.weft.local A)" = 10.200.0.1 ] || fail "leader.<zone>: $(dq leader.weft.local A)"
ok "records cannot shadow a node, a container or leader; each name has one answer"
