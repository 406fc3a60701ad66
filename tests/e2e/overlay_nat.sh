#!/bin/bash
# Nodes behind NAT (issue 14): reflexive candidates, coordinated punching, relay through coturn
# and back to direct, on nat_lib.sh's topology (its header has the diagram and the NAT facts):
#
#   n1 leader 198.18.0.1 and coturn 198.18.0.2 on the wan; site A (router ra, 198.18.0.10)
#   with n2 and n3 on 198.19.1.0/24; site B (router rb, 198.18.0.20) with n4 on 198.19.2.0/24.
#
# Cases, in this order (the topology is built once; NAT modes are switched between cases and
# n2/n4 restarted only where "from both being up" is measured). Every timing is logged as
# "time: CASE S s" and asserted against its bound:
#   1. ei/ei: n2-n4 direct within 5 s of both being up, no relay bytes (n3 not joined yet)
#   2. same NAT: n3 joins; n2-n3 direct over their LAN (host) candidates within 10 s, and
#      never relayed (checked after every later case too)
#   3. NAT rebinding: router B's wan address changes (198.18.0.20 -> .21) and its conntrack
#      is flushed: n2-n4 and n4-leader traffic resumes within 30 s, n4 knows its new address
#   4. UDP between the sites blocked: n2-n4 relayed (within 30 s of the block), ping works;
#      unblocked: direct again within 15 s and the relay bytes stop growing
#   5. sym/sym: relayed through coturn within 5 s of both being up; ping and a 16 MiB TCP
#      transfer with sha256 check over the overlay
#   6. relayed, then router A switched to fullcone (its conntrack kept, so the TURN allocation
#      survives): direct within 15 s, relay bytes stop growing
#   7. fullcone/sym from both being up (n2 and n4 restarted): direct within 10 s
#   8. TURN down: relay.state "failed" with an error within 20 s; n2-n3 and n2-n1 still direct
#   9. TURN back with a wrong secret: still "failed" with an error, coturn logged the refusal;
#      back with the right one: "allocated" and n2-n4 relayed within 30 s (the node retries)
#  10. STUN Binding requests at 2000/s from a non-peer to the leader's WireGuard port: answers
#      at most $NAT_STUN_MAX_RATE per second, none larger than its request
#
# What it reads: weft init --turn turn:IP:PORT --turn-secret-file F --stun IP:PORT; `weft
# peers --json` = [{"name", "path": direct|relay|none, "endpoint", "via", "since_s",
# "reason", ...}]; `weft status --json`'s "nat" = {"type", "reflexive": [{"server",
# "mapped"}], "relay": {"server", "state", "relayed", "error", "bytes_to_peers",
# "bytes_from_peers"}, "stun": {...}} (nat_lib.sh's pj).
#
# One NAT, two nodes: weft nodes all listen on the cluster's port, so behind one Linux
# masquerade the second of n2/n3 to reach a destination gets another port for it (that node's
# mapping looks endpoint-dependent), and packets to the router's port 51420 from that
# destination go to the first. So n3 joins only once n2-n4 is direct (ei/ei, case 1), and
# cases that need n2's mapping endpoint-independent run before anything flushes site A's
# conntrack (the rebinding is done on site B). n3-n4 is never asserted: it may be relayed.
#
# Until weft has NAT traversal (weft init knows no --turn) this script skips (exit 77);
# WEFT_NAT_FORCE=1 runs it anyway.
_root=$(cd "$(dirname "$0")/../.." && pwd)
_weft=$(dirname "${WEFT_WG:-$_root/build/src/daemon/weft-wg}")/../cli/weft
if [ -z "${WEFT_NAT_FORCE:-}" ] && [ -x "$_weft" ] && ! "$_weft" help init 2>&1 | grep -q -- --turn; then
	echo "SKIP overlay_nat: weft init has no --turn yet (issue 14); WEFT_NAT_FORCE=1 runs it"
	exit 77
fi
source "$(dirname "$0")/nat_lib.sh"

NAT_STUN_MAX_RATE=${NAT_STUN_MAX_RATE:-100}

# n2-n3 (one NAT) direct over their LAN addresses: called after every case
same_site_direct() {
	local p e
	p=$(path_of 2 3) || p='?'
	e=$(pj 2 "p('n3').get('endpoint', '')") || e='?'
	[ "$p" = direct ] && [ "${e%:*}" = "$(lan_ip 3)" ] ||
		{ dump_peers 2; fail "$1: n2 sees n3 $p at $e, not direct at its LAN address"; }
	p=$(path_of 3 2) || p='?'
	[ "$p" = direct ] || { dump_peers 3; fail "$1: n3 sees n2 $p"; }
}

# relay_bytes_stop I CASE: nI's relay byte counters do not grow over 3 s of pings n2<->n4
relay_bytes_stop() {
	local b1 b2
	in_ns n2 ping -c3 -i0.2 -W1 "$A4" >/dev/null 2>&1 || true
	b1=$(pj "$1" "relay_bytes()") || fail "$2: no relay counters on n$1"
	in_ns n2 ping -c10 -i0.3 -W1 "$A4" >/dev/null 2>&1 || fail "$2: n2 cannot ping n4"
	b2=$(pj "$1" "relay_bytes()") || fail "$2: no relay counters on n$1"
	[ "$b2" = "$b1" ] || fail "$2: n$1's relay bytes still grow on a direct path ($b1 -> $b2)"
}

# --- the cluster: ei on both sides
nat_topology "2 3" "4"
start_turn
(umask 077 && echo "$TURN_SECRET" >"$LOGDIR/turn.secret")
weftc 1 init --name n1 --endpoint 198.18.0.1 --turn "turn:$TURN_IP:$TURN_PORT" \
	--turn-secret-file "$LOGDIR/turn.secret" --stun "${NAT_TEST_STUN:-$ECHO_IP:$ECHO_PORT}" \
	>/dev/null || fail "weft init --turn --turn-secret-file"
start_node 1
join_node 2
join_node 4 # n3 later: see the note on one NAT above
T0=$(now)
A1=$(ip4_of 1)
A2=$(ip4_of 2)
A4=$(ip4_of 4)
WGPORT2=$(in_ns n2 wg show "$(ifname 2)" listen-port)

# --- 1. ei/ei
wait_pair 5 direct "ei/ei direct"
for i in 2 4; do
	[ "$(pj $i "relay_bytes()")" = 0 ] || { dump_peers $i; fail "ei/ei: n$i has relay bytes"; }
done
ping_ok 2 "$A4" || fail "ei/ei: n2 cannot ping n4"
[ "$(pj 2 "j.get('type')")" = endpoint-independent ] || { dump_peers 2; fail "ei/ei: n2's nat type"; }
pj 2 "any(r.startswith('198.18.0.10:') for r in (x['mapped'] for x in j.get('reflexive', [])))" | has -x 1 ||
	{ dump_peers 2; fail "ei/ei: n2 has no reflexive address on 198.18.0.10"; }
ok "ei/ei: n2-n4 direct, no relay bytes, n2 sees its NAT as endpoint-independent"

# --- 2. same NAT
join_node 3
A3=$(ip4_of 3)
wait_path 10 2 3 direct || { dump_peers 2; fail "same NAT: n2-n3 not direct"; }
same_site_direct "same NAT"
ping_ok 2 "$A3" || fail "same NAT: n2 cannot ping n3"
ok "same NAT: n2-n3 direct over their LAN addresses"

# --- 3. NAT rebinding (site B: n4 alone behind it; see the note on one NAT above)
rebind b
t=$(traffic_resumes 30 2 "$A4") || { dump_peers 2; fail "rebinding: n2 -> n4 did not resume within 30 s"; }
timing "rebinding, n2->n4 resumed" "$t"
t=$(traffic_resumes 30 4 "$A2") || { dump_peers 4; fail "rebinding: n4 -> n2 did not resume within 30 s"; }
t=$(traffic_resumes 30 4 "$A1") || { dump_peers 4; fail "rebinding: n4 -> leader did not resume within 30 s"; }
new_reflexive() { pj 4 "any(r.startswith('$(site_wan b):') for r in (x['mapped'] for x in j.get('reflexive', [])))" | has -x 1; }
t0=$(now)
wait_for 30 new_reflexive ||
	{ dump_peers 4; fail "rebinding: n4's reflexive addresses do not show $(site_wan b) in 30 s"; }
timing "rebinding, n4 knows its new reflexive address" "$(since "$t0")"
same_site_direct "rebinding"
ok "rebinding: router B moved to $(site_wan b), traffic resumed, n4 found its new address"

# --- 4. UDP between the sites blocked, then unblocked
block_sites on
T0=$(now)
wait_pair 30 relay "blocked sites, relayed"
ping_ok 2 "$A4" || fail "blocked: n2 cannot ping n4 through the relay"
pj 2 "p('n4').get('via', '').startswith('$TURN_IP:')" | has -x 1 ||
	{ dump_peers 2; fail "blocked: n2's relayed path to n4 is not via $TURN_IP"; }
block_sites off
T0=$(now)
wait_pair 15 direct "unblocked, direct again"
relay_bytes_stop 2 "unblocked"
same_site_direct "blocked sites"
ok "UDP between the sites blocked: relayed via coturn; unblocked: direct again, relay bytes stop"

# --- 5. sym/sym
nat_mode a sym
nat_mode b sym
flush_conntrack a
flush_conntrack b
restart 2 4
wait_pair 5 relay "sym/sym relayed"
for i in 2 4; do
	pj $i "p('n$((6 - i))').get('via', '').startswith('$TURN_IP:')" | has -x 1 ||
		{ dump_peers $i; fail "sym/sym: n$i is not relayed via $TURN_IP"; }
	relay_state_is $i allocated || { dump_peers $i; fail "sym/sym: n$i relay not allocated"; }
done
[ "$(pj 2 "j.get('type')")" = endpoint-dependent ] || { dump_peers 2; fail "sym/sym: n2's nat type"; }
pj 2 "p('n4').get('reason', '')" | has . || { dump_peers 2; fail "sym/sym: no reason for the relay"; }
in_ns n2 ping -c5 -i0.2 -W1 "$A4" >/dev/null || fail "sym/sym: n2 cannot ping n4"
head -c 16M /dev/urandom >"$LOGDIR/blob"
b0=$(pj 2 "relay_bytes()")
in_ns n4 "$PY" "$ROOT/tests/e2e/tcp_check.py" serve "$A4" 5301 "$LOGDIR/recv" &
srv=$!
wait_for 5 in_ns n4 ss -ltn sport = :5301 || true
sleep 0.3
t1=$(now)
sent=$(in_ns n2 "$PY" "$ROOT/tests/e2e/tcp_check.py" send "$A4" 5301 "$LOGDIR/blob") ||
	fail "sym/sym: 16 MiB TCP send"
wait $srv || fail "sym/sym: TCP receiver"
timing "sym/sym, 16 MiB TCP through the relay" "$(since "$t1")"
[ "$sent" = "$(cat "$LOGDIR/recv")" ] || fail "sym/sym: sha256 sent $sent, got $(cat "$LOGDIR/recv")"
b1=$(pj 2 "relay_bytes()")
[ $((b1 - b0)) -ge $((16 << 20)) ] || fail "sym/sym: only $((b1 - b0)) relay bytes for 16 MiB"
same_site_direct "sym/sym"
ok "sym/sym: relayed via coturn, ping and 16 MiB TCP (sha256 matches, $((b1 - b0)) relay bytes)"

# --- 6. relayed, then router A becomes fullcone (conntrack kept: n2's mappings to the leader
# and to coturn stay, and now take anything from anyone to n2's WireGuard port)
nat_mode a fullcone 2 "$WGPORT2"
T0=$(now)
wait_pair 15 direct "relayed -> A fullcone, direct"
relay_bytes_stop 2 "A fullcone"
# (not n4's: n3-n4 stay relayed, n3 being behind a router whose inbound all goes to n2)
same_site_direct "A fullcone"
ok "relayed, router A switched to fullcone: direct again, relay bytes stopped"

# --- 7. fullcone/sym from both being up
flush_conntrack a
flush_conntrack b
restart 2 4
wait_pair 10 direct "fullcone/sym direct"
ping_ok 2 "$A4" || fail "fullcone/sym: n2 cannot ping n4"
ok "fullcone/sym: direct"

# --- 8. TURN down
nat_mode a sym
flush_conntrack a
flush_conntrack b
stop_turn
restart 2 4
t0=$(now)
wait_for 20 relay_state_is 2 failed || { dump_peers 2; fail "TURN down: n2's relay state"; }
timing "TURN down, relay state failed" "$(since "$t0")"
pj 2 "(j.get('relay') or {}).get('error', '')" | has . || { dump_peers 2; fail "TURN down: no error"; }
[ "$(path_of 2 4)" != direct ] || fail "TURN down: sym/sym n2-n4 direct?"
wait_path 10 2 1 direct || { dump_peers 2; fail "TURN down: n2-leader not direct"; }
same_site_direct "TURN down"
ok "TURN down: relay failed with \"$(pj 2 "j['relay']['error']")\"; n2-n3 and n2-leader direct"

# --- 9. wrong secret, then the right one
refusals() { grep -c "Cannot find credentials" "$LOGDIR/turn.log" || true; }
r0=$(refusals)
TURN_SERVER_SECRET=not-the-cluster-secret start_turn
refused_again() { [ "$(refusals)" -gt "$r0" ]; }
wait_for 30 refused_again ||
	fail "wrong secret: no node tried the TURN server within 30 s"
relay_state_is 2 failed || { dump_peers 2; fail "wrong secret: n2's relay state"; }
pj 2 "(j.get('relay') or {}).get('error', '')" | has . || { dump_peers 2; fail "wrong secret: no error"; }
ok "TURN with a wrong secret: relay failed with \"$(pj 2 "j['relay']['error']")\""
stop_turn
start_turn
t0=$(now)
wait_for 30 relay_state_is 2 allocated || { dump_peers 2; fail "TURN back: n2 did not allocate in 30 s"; }
timing "TURN back, allocated again" "$(since "$t0")"
T0=$(now)
wait_pair 30 relay "TURN back, n2-n4 relayed"
ping_ok 2 "$A4" || fail "TURN back: n2 cannot ping n4"
same_site_direct "TURN back"
ok "TURN back with the right secret: allocated again, n2-n4 relayed"

# --- 10. STUN flood from a non-peer (the wan's echo address) at the leader's WireGuard port
port=$(in_ns n1 wg show "$(ifname 1)" listen-port)
for pad in 0 44; do
	r=$(in_ns ul "$PY" "$PUNCH" stun-flood --target "198.18.0.1:$port" --rate 2000 --seconds 2 \
		--pad "$pad") || fail "stun-flood"
	echo "stun flood (request $((20 + pad)) bytes): $r"
	echo "$r" | "$PY" -c '
import json, sys
r = json.load(sys.stdin)
assert r["answer_rate"] <= float(sys.argv[1]), "answers %s/s" % r["answer_rate"]
assert r["max_answer_len"] <= r["request_len"], "answer %d > request %d" % (r["max_answer_len"], r["request_len"])
' "$NAT_STUN_MAX_RATE" || fail "STUN flood of $((20 + pad))-byte requests: $r"
done
ping_ok 2 "$A1" || fail "after the flood: n2 cannot ping the leader"
ok "STUN flood: at most $NAT_STUN_MAX_RATE answers/s, none larger than its request"

echo "--- timings"
printf '%s\n' "${TIMES[@]}"
