#!/bin/bash
# A join is all or nothing (issue 12 item 1): it ends with weftd running and the node
# reachable, or it leaves nothing in the state directory but the key the leader admitted, and
# the same command with the same (single-use) token finishes it, spending no second use.
# And `join --interface X` is remembered: a later plain `weftd -d DIR` comes up on X.
#
#   n1 (leader) 198.18.0.1 ─┐
#   n2          198.18.0.2 ─┤  weftd fails to start (WEFTD=/bin/false, then an interface
#                           │  name that exists); the retry runs it, on the interface asked
#   n3          198.18.0.3 ─┼─ br0 in "ul"   a local save fails after the WELCOME
#   n4          198.18.0.4 ─┘  weft killed while weftd starts (after it wrote the state)
source "$(dirname "$0")/overlay_lib.sh"

underlay 4
init_leader
token() { (umask 077 && weftc 1 token create >"$LOGDIR/n$1.token") || fail "token create"; }
running() { pgrep -f "weftd --data-dir $(dir "$1") " >/dev/null; }
only_key_left() { # only_key_left I: no state, no view, no weftd; the admitted key kept
	[ ! -e "$(dir "$1")/state.json" ] && [ ! -e "$(dir "$1")/view.json" ] ||
		fail "n$1: a failed join left state: $(ls "$(dir "$1")")"
	[ -e "$(dir "$1")/private.key" ] || fail "n$1: the admitted key is gone"
	! running "$1" || fail "n$1: weftd runs after a failed join"
}

# n2: weftd does not start, twice: nothing left but the key; the third try finishes.
token 2
out=$(in_ns n2 env WEFTD=/bin/false "$WEFT" -d "$(dir 2)" join --token-file "$LOGDIR/n2.token" \
	--name n2 --interface "$(ifname 2)" 2>&1) && fail "a join whose weftd failed succeeded"
echo "$out" | has "weftd did not start" || fail "n2, weftd false: $out"
echo "$out" | has "run the same join again" || fail "n2: no way forward said: $out"
! echo "$out" | has "joined the cluster" || fail "n2: said joined: $out"
only_key_left 2
out=$(weft 2 init --name n2 --endpoint 198.18.0.2 2>&1) && fail "init over a pending join"
echo "$out" | has "left by a join that did not finish" || fail "init over a pending join: $out"
# eth0 exists and is no WireGuard device: weftd cannot create it and exits.
out=$(weft 2 join --token-file "$LOGDIR/n2.token" --name n2 --interface eth0 2>&1) &&
	fail "a join on eth0 succeeded"
echo "$out" | has "finishing an earlier join" || fail "n2 did not reuse its key: $out"
echo "$out" | has "weftd did not start" || fail "n2, eth0: $out"
only_key_left 2
out=$(weft 2 join --token-file "$LOGDIR/n2.token" --name n2 --interface "$(ifname 2)" 2>&1) ||
	fail "the retry of n2 with its single-use token failed: $out"
echo "$out" | has "joined the cluster of n1 as n2" || fail "n2 retry: $out"
running 2 || fail "n2: no weftd after the join"
[ "$(grep -c "node n2 joined from" "$LOGDIR/n1.log")" = 3 ] ||
	fail "the leader did not admit n2's three tries with one single-use token"
wait_for 10 in_ns n2 ping -c1 -W1 10.200.0.1 || fail "n2 cannot reach the leader"
ok "a join whose weftd fails leaves only the key; the same token finishes it, and n2 is up"

# --interface remembered: stopped, then started with no --interface, n2 is on the same one.
stop_node 2
in_ns n2 "$WEFTD" --data-dir "$(dir 2)" --log-file "$LOGDIR/n2.log" </dev/null \
	2>>"$LOGDIR/n2.log" || fail "plain weftd on n2"
in_ns n2 ip link show "$(ifname 2)" >/dev/null || fail "n2 did not come up on $(ifname 2)"
! in_ns n2 ip link show weft0 >/dev/null 2>&1 || fail "n2 came up on weft0"
wait_for 10 in_ns n2 ping -c1 -W1 10.200.0.1 || fail "n2 cannot reach the leader on restart"
ok "join --interface is remembered by a later plain weftd -d DIR"

# n3: the WELCOME arrived but the view could not be saved (view.json is a directory).
token 3
mkdir -p -m 700 "$(dir 3)/view.json"
out=$(weft 3 join --token-file "$LOGDIR/n3.token" --name n3 --no-start 2>&1) &&
	fail "a join whose save failed succeeded"
echo "$out" | has "run the same join again" || fail "n3: $out"
rmdir "$(dir 3)/view.json"
only_key_left 3
out=$(weft 3 join --token-file "$LOGDIR/n3.token" --name n3 --no-start 2>&1) ||
	fail "the retry of n3 failed: $out"
start_node 3
wait_for 10 in_ns n3 ping -c1 -W1 10.200.0.1 || fail "n3 cannot reach the leader"
ok "a join whose local save failed after the WELCOME is finished by the same command"

# n4: weft killed while weftd starts (the state is written): the same command starts it.
token 4
printf '#!/bin/sh\nkill -9 $PPID\nexit 1\n' >"$LOGDIR/killer"
chmod 755 "$LOGDIR/killer"
in_ns n4 env WEFTD="$LOGDIR/killer" "$WEFT" -d "$(dir 4)" join --token-file "$LOGDIR/n4.token" \
	--name n4 --interface "$(ifname 4)" >/dev/null 2>&1 && fail "killed weft succeeded"
out=$(weft 4 join --token-file "$LOGDIR/n4.token" --name n4 2>&1) || fail "n4 retry: $out"
echo "$out" | has "joined this cluster as n4 already" || fail "n4 retry: $out"
running 4 || fail "n4: no weftd after the retry"
in_ns n4 ip link show "$(ifname 4)" >/dev/null || fail "n4 is not on $(ifname 4)"
wait_for 10 in_ns n4 ping -c1 -W1 10.200.0.2 || fail "n4 cannot reach n2"
ok "a join killed while weftd started is finished by the same command"

# The single-use tokens were spent once each: a new node with one of them is refused.
out=$(in_ns n4 "$WEFT" -d "$LOGDIR/x" join --token-file "$LOGDIR/n4.token" --name n5 \
	--no-start 2>&1) && fail "a spent token admitted a new node"
echo "$out" | has "unknown or used-up token" || fail "spent token: $out"
[ ! -e "$LOGDIR/x/private.key" ] && [ ! -e "$LOGDIR/x/state.json" ] ||
	fail "a refused join left files"
ok "a spent token admits no new node, and its refusal leaves nothing"
