#!/bin/bash
# NAT traversal's numbers (make bench-nat), in the namespaces of tests/e2e/nat_lib.sh: a
# leader and coturn on the "wan", n2 behind router A, n4 behind router B.
#
#   direct    per NAT case, both weftds restarted at once (conntrack flushed) until each
#             shows the other on the path the case gets (weft peers --json), RUNS times
#             (default 5): median, min, max
#   speed     iperf3 TCP (single stream, SECONDS s) and ping RTT (50 x 20 ms) between the
#             two overlay addresses, direct (ei/ei) and relayed (sym/sym through coturn)
#   relay CPU user+system CPU of both weftds and of turnserver per GB carried through the
#             relay (iperf3 -n 1G)
#   idle      STUN and TURN messages router A forwards for n2 in IDLE s (default 60), when
#             every path is direct and when n4 is relayed (tcpdump on A's wan leg)
#
# Usage: WEFT_WG=build/src/daemon/weft-wg bench/nat.sh. Root; everything removed at exit.
TEST=bench-nat
source "$(dirname "$0")/../tests/e2e/nat_lib.sh"
RUNS=${RUNS:-5}
SECONDS_IPERF=${SECONDS_IPERF:-5}
IDLE=${IDLE:-60}
WEFTD_OPTS=${BENCH_WEFTD_OPTS:-"--log-level info"}

median() { sort -n | awk '{a[NR]=$1} END {if (NR) print (NR % 2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
now_ms() { date +%s%3N; }
path_of() { # path_of I PEER
	weftc "$1" peers --json 2>/dev/null | /usr/bin/python3 -c '
import json, sys
for p in json.load(sys.stdin):
    if p["name"] == sys.argv[1]: print(p.get("path", "none"))' "$2" 2>/dev/null || echo none
}
pid_of() { pgrep -nf "weftd --data-dir $(dir "$1") "; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

nat_topology "2" "4"
start_turn
echo "$TURN_SECRET" >"$LOGDIR/turn.secret"
weftc 1 init --name n1 --endpoint 198.18.0.1 --stun "$ECHO_IP:$ECHO_PORT" \
	--turn "turn:$TURN_IP:$TURN_PORT" --turn-secret-file "$LOGDIR/turn.secret" >/dev/null ||
	fail "weft init"
start_node 1
join_node 2
join_node 4
A2=$(ip4_of 2)
A4=$(ip4_of 4)

# case MODE-A MODE-B WANT: RUNS restarts, time until both see WANT
measure_case() {
	local ma=$1 mb=$2 want=$3 times=() t0 t
	for _ in $(seq "$RUNS"); do
		stop_node 2
		stop_node 4
		nat_mode a "$ma"
		nat_mode b "$mb"
		flush_conntrack a
		flush_conntrack b
		t0=$(now_ms)
		start_node 2
		start_node 4
		t=""
		for _ in $(seq 300); do
			if [ "$(path_of 2 n4)" = "$want" ] && [ "$(path_of 4 n2)" = "$want" ]; then
				t=$(($(now_ms) - t0))
				break
			fi
			sleep 0.1
		done
		[ -n "$t" ] || { echo "timeout: n2 sees n4 $(path_of 2 n4), n4 sees n2 $(path_of 4 n2)"; weftc 2 peers; }
		times+=("${t:-timeout}")
	done
	printf '%-10s %-10s %-7s ms: median %s  (runs: %s)\n' "$ma" "$mb" "$want" \
		"$(printf '%s\n' "${times[@]}" | grep -v timeout | median)" "${times[*]}"
}

echo "== time to the path, both weftds restarted at once ($RUNS runs)"
measure_case ei ei direct
measure_case sym fullcone direct
measure_case sym sym relay

speed() { # speed LABEL
	local bps rtt
	in_ns n4 iperf3 -s -1 -D -B "$A4" >/dev/null 2>&1
	sleep 0.3
	bps=$(in_ns n2 iperf3 -c "$A4" -t "$SECONDS_IPERF" -J 2>/dev/null | /usr/bin/python3 -c '
import json, sys; print("%.2f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"] / 1e9))')
	rtt=$(in_ns n2 ping -q -c 50 -i 0.02 "$A4" | awk -F/ '/^rtt/ {print $5}')
	echo "$1: TCP $bps Gbit/s, RTT avg $rtt ms"
}

echo "== speed"
nat_mode a ei
nat_mode b ei
stop_node 2; stop_node 4; flush_conntrack a; flush_conntrack b; start_node 2; start_node 4
wait_for 20 sh -c "[ \"\$($WEFT -d $(dir 2) peers --json | grep -c '\"path\": \"direct\"')\" -ge 2 ]" || true
speed "direct (ei/ei)"
echo "== idle: STUN and TURN messages through router A for n2 in $IDLE s (all direct)"
idle_count() {
	in_ns ra timeout "$IDLE" tcpdump -i wan -nn -q -l \
		"udp and src host $(site_wan a) and (udp[12:4] = 0x2112A442 or dst host $TURN_IP)" \
		2>/dev/null | wc -l
}
echo "messages: $(idle_count)"

nat_mode a sym
nat_mode b sym
stop_node 2; stop_node 4; flush_conntrack a; flush_conntrack b; start_node 2; start_node 4
wait_for 20 sh -c "[ \"\$($WEFT -d $(dir 2) peers --json | grep -c '\"path\": \"relay\"')\" -ge 1 ]" || true
speed "relayed (sym/sym, coturn)"
echo "== CPU per GB through the relay"
p2=$(pid_of 2); p4=$(pid_of 4); pt=$(cat "$LOGDIR/turn.pid" 2>/dev/null || pgrep -n turnserver)
c2=$(cpu_ticks "$p2"); c4=$(cpu_ticks "$p4"); ct=$(cpu_ticks "$pt")
in_ns n4 iperf3 -s -1 -D -B "$A4" >/dev/null 2>&1
sleep 0.3
t0=$(now_ms)
in_ns n2 iperf3 -c "$A4" -n 1G >/dev/null 2>&1 || echo "iperf3 -n 1G failed"
t1=$(now_ms)
hz=$(getconf CLK_TCK)
awk -v a="$(($(cpu_ticks "$p2") - c2))" -v b="$(($(cpu_ticks "$p4") - c4))" \
	-v t="$(($(cpu_ticks "$pt") - ct))" -v hz="$hz" -v ms="$((t1 - t0))" 'BEGIN {
	printf "1 GiB in %.1f s: weftd n2 %.2f s, weftd n4 %.2f s, turnserver %.2f s of CPU\n",
		ms / 1000, a / hz, b / hz, t / hz }'
echo "== idle: STUN and TURN messages through router A for n2 in $IDLE s (n4 relayed)"
echo "messages: $(idle_count)"
