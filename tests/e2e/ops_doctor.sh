#!/bin/bash
# weft doctor (issue 15) on a 3-node cluster:
#   healthy: every check passes on the leader and on a member (text and --json)
#   the underlay MTU of n3 lowered to 1400 (the overlay's 1420 needs 1480): doctor on n3 names
#     the MTU problem (path MTU), doctor on n1 finds that 1420-byte DF probes do not cross
#   n3 cut off: doctor on n1 names n3 as down and for how long
#   clock skew: a namespace cannot have its own clock, so n2's weftd is started with the
#     test hook WEFT_TEST_CLOCK_OFFSET_MS=-600000 (it reports its clock 10 minutes back);
#     doctor on n2 names the skew against the leader
#   state directory mode 0755, weftd stopped, an unknown PEER: named, exit status 1
#
#   n1 (leader), n2, n3 on br0 in "ul", 198.18.0.0/24
source "$(dirname "$0")/overlay_lib.sh"

underlay 3
init_leader
join_node 2
join_node 3
for i in 2 3; do wait_for 10 in_ns n1 ping -c1 -W1 "10.200.0.$i" >/dev/null || fail "n1 -> n$i"; done
wait_for 10 in_ns n2 ping -c1 -W1 10.200.0.3 >/dev/null || fail "n2 -> n3"
for i in 1 2 3; do
	wait_for 15 sh -c "! $WEFT -d $(dir $i) peers | awk 'NR > 1 && NF == 0 { exit } NR > 1' | grep -v ' up '" || fail "peers of n$i not all up"
done

doctor() { local i=$1; shift; in_ns "n$i" "$WEFT" -d "$(dir "$i")" doctor "$@"; }

# Healthy.
for i in 1 2; do
	doctor "$i" >"$LOGDIR/doctor$i.txt" || { cat "$LOGDIR/doctor$i.txt"; fail "doctor on n$i failed on a healthy cluster"; }
	! grep -E '^  (WARN|FAIL|skip) ' "$LOGDIR/doctor$i.txt" || fail "doctor on n$i: not all pass"
done
cat "$LOGDIR/doctor2.txt"
for c in "state directory" weftd interface view clock dns "handshake n1" "mtu n1" "handshake n3" "mtu n3"; do
	grep -qE "^  ok    $c " "$LOGDIR/doctor2.txt" || fail "healthy doctor on n2 lacks '$c'"
done
doctor 2 --json | python3 -c '
import json, sys
r = json.load(sys.stdin)
assert r["failed"] == 0 and r["warnings"] == 0 and r["passed"] >= 10, r
assert all(c["verdict"] == "pass" for c in r["checks"]), r
assert {c.get("peer") for c in r["checks"]} == {None, "n1", "n3"}, r' || fail "doctor --json on n2"
doctor 2 n3 >"$LOGDIR/doctor2-n3.txt" || fail "doctor n3"
! grep -qE "^  [a-zA-Z]+ +(handshake|mtu) n1 " "$LOGDIR/doctor2-n3.txt" || fail "doctor PEER reported another peer"
grep -qE "^  ok    mtu n3 " "$LOGDIR/doctor2-n3.txt" || fail "doctor PEER left its peer out"
grep -qE "^  ok    underlay " "$LOGDIR/doctor2.txt" || fail "healthy doctor on n2 lacks the underlay check"
ok "healthy cluster: doctor passes every check on n1 and n2 (text, --json, one PEER)"

# The leader's port closed on the underlay (a table of the test's own on n1): n2 names it.
in_ns n1 nft -f - <<'NFT'
table inet doctortest {
	chain input {
		type filter hook input priority filter; policy accept;
		iifname "eth0" tcp dport 51420 drop
	}
}
NFT
doctor 2 >"$LOGDIR/doctor-port.txt" && fail "doctor on n2 passed with the leader's port closed"
grep -E '^  FAIL  underlay .*TCP port 51420 does not answer' "$LOGDIR/doctor-port.txt" >/dev/null ||
	{ cat "$LOGDIR/doctor-port.txt"; fail "doctor on n2 does not name the closed port"; }
grep -E 'fix: open TCP and UDP port 51420' "$LOGDIR/doctor-port.txt" >/dev/null || fail "no fix for the port"
in_ns n1 nft delete table inet doctortest
doctor 2 >/dev/null || fail "doctor on n2 still fails once the port is open"
ok "the leader's TCP port closed on the underlay: n2 names it and the fix"

# The underlay MTU lowered below what the overlay needs.
in_ns n3 ip link set eth0 mtu 1400
doctor 3 n1 >"$LOGDIR/doctor-mtu3.txt" && fail "doctor on n3 passed with a 1400-byte underlay"
cat "$LOGDIR/doctor-mtu3.txt"
grep -E '^  FAIL  mtu n1 .*carries 1400-byte packets, but the overlay MTU 1420 needs 1480' "$LOGDIR/doctor-mtu3.txt" >/dev/null ||
	fail "doctor on n3 does not name the MTU problem"
grep -E 'fix: .*MTU to 1480 .*--mtu 1340' "$LOGDIR/doctor-mtu3.txt" >/dev/null || fail "no MTU fix given on n3"
doctor 1 n3 >"$LOGDIR/doctor-mtu1.txt" && fail "doctor on n1 passed with n3's 1400-byte underlay"
cat "$LOGDIR/doctor-mtu1.txt"
grep -E '^  FAIL  mtu n3 .*1420-byte packets with DF set do not cross the overlay to n3 \(small ones do\)' "$LOGDIR/doctor-mtu1.txt" >/dev/null ||
	fail "doctor on n1 does not find that large packets do not cross"
in_ns n3 ip link set eth0 mtu 1500
doctor 1 n3 >/dev/null || fail "doctor on n1 still fails once the MTU is back"
ok "underlay MTU 1400 < 1480: n3 names the path MTU and the fix, n1 finds DF probes of 1420 bytes lost"

# A peer down.
in_ns n3 ip link set eth0 down
wait_for 15 sh -c "$WEFT -d $(dir 1) peers | grep -E '^n3 .* down '" || fail "n3 not down on n1"
sleep 2
doctor 1 >"$LOGDIR/doctor-down.txt" && fail "doctor passed with n3 down"
cat "$LOGDIR/doctor-down.txt"
grep -E '^  FAIL  handshake n3 +n3 is down: no health probe reply for [0-9]+ s' "$LOGDIR/doctor-down.txt" >/dev/null ||
	fail "doctor does not name n3 down and for how long"
grep -E '^  ok    handshake n2 ' "$LOGDIR/doctor-down.txt" >/dev/null || fail "n2 blamed too"
in_ns n3 ip link set eth0 up
wait_for 20 sh -c "$WEFT -d $(dir 1) peers | grep -E '^n3 .* up '" || fail "n3 not back"
ok "n3 cut off: doctor on n1 names it down and for how long, n2 still ok"

# Clock skew through the test hook (the namespaces share the host's clock).
stop_node 2
WEFTD_OPTS="$WEFTD_OPTS" in_ns n2 env WEFT_TEST_CLOCK_OFFSET_MS=-600000 "$WEFTD" --data-dir "$(dir 2)" \
	--interface "$(ifname 2)" --log-file "$LOGDIR/n2.log" $WEFTD_OPTS </dev/null 2>>"$LOGDIR/n2.log" ||
	fail "n2 with a skewed clock did not start"
wait_for 10 in_ns n2 ping -c1 -W1 10.200.0.1 >/dev/null || fail "n2 -> n1 after restart"
doctor 2 >"$LOGDIR/doctor-skew.txt" && fail "doctor passed with a 10-minute skew"
grep -E '^  FAIL  clock +this node.s clock is 600\.[0-9] s behind the leader n1.s' "$LOGDIR/doctor-skew.txt" >/dev/null ||
	{ cat "$LOGDIR/doctor-skew.txt"; fail "doctor does not name the skew"; }
grep -A1 '^  FAIL  clock' "$LOGDIR/doctor-skew.txt" | grep -q "fix: synchronise" || fail "no clock fix"
grep '^  FAIL  clock' "$LOGDIR/doctor-skew.txt"
ok "clock 10 minutes back (test hook WEFT_TEST_CLOCK_OFFSET_MS): doctor names the skew"

# State directory too open; weftd not running; unknown peer.
chmod 755 "$(dir 1)"
doctor 1 >"$LOGDIR/doctor-perm.txt" && fail "doctor passed with a 0755 state directory"
grep -E "^  FAIL  state directory .* is mode 755" "$LOGDIR/doctor-perm.txt" >/dev/null || fail "mode not named"
grep -E "fix: chmod 700 $(dir 1)" "$LOGDIR/doctor-perm.txt" >/dev/null || fail "no chmod fix"
chmod 700 "$(dir 1)"
out=$(doctor 1 nosuch 2>&1) && fail "doctor took an unknown peer"
echo "$out" | has "nosuch is not a peer of this node" || fail "unknown peer unclear: $out"
stop_node 3
out=$(doctor 3 2>&1) && fail "doctor passed with weftd stopped"
echo "$out" | has -E "^  FAIL  weftd +not answering: cannot reach .*weftd.sock" || fail "stopped weftd not named: $out"
ok "0755 state directory, unknown PEER and a stopped weftd: named, exit status 1"
