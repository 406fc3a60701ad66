#!/usr/bin/env bash
# Crossing initiations (issue 16): both ends of a tunnel start sending at the same instant,
# so both initiate and each initiation is in flight while the other's is.
#
#   ns a 198.18.0.1 ==veth== 198.18.0.2 ns r 198.18.1.2 ==veth== 198.18.1.1 ns b
#   wgA 10.200.0.1 :51001    delay_relay.py (DELAY_MS each way)      wgB 10.200.0.2 :51002
#
# A's endpoint for B is the relay (198.18.0.2:51002), B's for A too (198.18.1.2:51001); the
# relay holds each datagram DELAY_MS, so the two initiations surely cross. Both sides ping
# at once; each side's time to its first reply is measured. The kernel and wireguard-go
# drop their own initiation when they consume the other's, so go against go waits
# REKEY_TIMEOUT (5 s) for a retry, and with this round trip the retries tend to cross
# again (printed, not asserted; 60000+ = no reply within 60 s). weft keeps its own: weft against
# weft, and weft against wireguard-go in either key order, must be up in under 2 s (two
# round trips and a bit, well under REKEY_TIMEOUT).
source "$(dirname "$0")/lib.sh"
DELAY_MS=${DELAY_MS:-100}
ROUNDS=${ROUNDS:-3}
GO_GO=${GO_GO:-0} # rounds of the go/go baseline (a measurement, off in make check: GO_GO=1 to see it)
ASSERT=${ASSERT:-yes} # no: only print (to measure an older build)

newns a
newns r
newns b
link a r 198.18.0.1/24 198.18.0.2/24
link r b 198.18.1.2/24 198.18.1.1/24
in_ns r python3 "$ROOT/tests/e2e/delay_relay.py" "$DELAY_MS" 198.18.0.2:51002 198.18.1.1:51002 \
	198.18.1.2:51001 198.18.0.1:51001 >"$LOGDIR/relay.log" 2>&1 &
wait_for 5 grep -q ready "$LOGDIR/relay.log" || fail "relay did not start"
now_ms() { date +%s%3N; }

run_pair() { # impl_a impl_b: prints "ms_a ms_b"
	local ia=$1 ib=$2 A="wt$$a" B="wt$$b" ka kb t0
	ka=$(genkey)
	kb=$(genkey)
	start_wg a "$ia" "$A"
	start_wg b "$ib" "$B"
	in_ns a wg set "$A" private-key <(echo "$ka") listen-port 51001 \
		peer "$(pubkey "$kb")" allowed-ips 10.200.0.2/32 endpoint 198.18.0.2:51002
	in_ns b wg set "$B" private-key <(echo "$kb") listen-port 51002 \
		peer "$(pubkey "$ka")" allowed-ips 10.200.0.1/32 endpoint 198.18.1.2:51001
	in_ns a ip addr add 10.200.0.1/24 dev "$A"
	in_ns b ip addr add 10.200.0.2/24 dev "$B"
	in_ns a ip link set "$A" up
	in_ns b ip link set "$B" up
	rm -f "$LOGDIR"/t.*
	t0=$(now_ms)
	(in_ns a ping -n -q -c1 -w60 -i0.05 10.200.0.2 >/dev/null && now_ms >"$LOGDIR/t.a") &
	(in_ns b ping -n -q -c1 -w60 -i0.05 10.200.0.1 >/dev/null && now_ms >"$LOGDIR/t.b") &
	wait
	for s in a b; do
		if [ -s "$LOGDIR/t.$s" ]; then echo -n "$(($(cat "$LOGDIR/t.$s") - t0)) "; else echo -n "60000+ "; fi
	done
	echo
	in_ns a ip link del "$A"
	in_ns b ip link del "$B"
	wait_for 5 test ! -e "/var/run/wireguard/$A.sock" || fail "$A did not exit"
	wait_for 5 test ! -e "/var/run/wireguard/$B.sock" || fail "$B did not exit"
}

check() { # impl_a impl_b assert(yes|no)
	local r max
	for k in $(seq "$ROUNDS"); do
		r=$(run_pair "$1" "$2")
		max=$(tr ' ' '\n' <<<"$r" | tr -d + | sort -n | tail -1)
		echo "$1(a)/$2(b) round $k: first reply after $r ms (a b), ${DELAY_MS} ms each way"
		if [ "$3" = yes ] && [ "$max" -ge 2000 ]; then
			fail "$1/$2: crossing initiations took $max ms (REKEY_TIMEOUT wait?)"
		fi
	done
	[ "$3" = yes ] && ok "$1/$2: crossing initiations, up in under 2 s, $ROUNDS rounds"
	return 0
}

check weft weft "$ASSERT"
if command -v wireguard-go >/dev/null; then
	check weft go "$ASSERT"
	check go weft "$ASSERT"
	[ "$GO_GO" -gt 0 ] && ROUNDS=$GO_GO check go go no
else
	echo "(wireguard-go not installed: weft/go pairings skipped)"
fi
echo "PASS $TEST"
