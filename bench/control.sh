#!/bin/bash
# The control plane's own numbers, on one machine, in network namespaces (make bench-control):
#
#   join      `weft join` + weftd start to the first ping of the leader's overlay address,
#             per joining node (median)
#   reach     from the new node's weftd start until each existing member's ping (every
#             100 ms from then on, as a health probe would) gets its first reply from the
#             new node: median and max over all (join, member) pairs, and how many took
#             longer than 1 s (issue 16: crossing initiations used to cost REKEY_TIMEOUT, 5 s)
#   view      a change on the leader (weft dns add) until every member has saved the new
#             view generation (a watcher per member on its view.json, a few ms of resolution)
#   idle CPU  every weftd's user+system CPU over IDLE_SECONDS (default 60) at the default
#             intervals (health every 5 s, pulls every 15 s), as % of one CPU
#   RSS       the leader's and a member's peak RSS (VmHWM)
#
# Usage: WEFT_WG=build/src/daemon/weft-wg bench/control.sh [NODES ...]   (default: 3 20)
# The binaries are taken from WEFT_WG's build tree, so an older build can be measured the
# same way. Root; underlay 198.18.0.0/24; everything is removed at exit.
TEST=bench-control
source "$(dirname "$0")/../tests/e2e/overlay_lib.sh"
IDLE_SECONDS=${IDLE_SECONDS:-60}
WEFTD_OPTS=${BENCH_WEFTD_OPTS:-"--log-level info"}

median() { sort -n | awk '{a[NR]=$1} END {if (NR) print (NR % 2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
now_ms() { date +%s%3N; }
gen_of() { "$WEFT" -d "$(dir "$1")" status --json 2>/dev/null |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["node"]["generation"])' 2>/dev/null || echo 0; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
pid_of() { pgrep -nf "weftd --data-dir $(dir "$1") "; }

run() {
	local n=$1 joins=() reach=() t0 t1 ts target gens addr out
	underlay "$n"
	init_leader
	for i in $(seq 2 "$n"); do
		tok=$(weftc 1 token create) || fail "token create"
		t0=$(now_ms)
		out=$(weftc "$i" join "$tok" --name "n$i" --no-start) || fail "n$i join"
		addr=$(sed -n 's/.*: overlay \([0-9.]*\),.*/\1/p' <<<"$out")
		[ -n "$addr" ] || fail "no address for n$i in: $out"
		rm -f "$LOGDIR"/reach.*
		# Every existing member starts pinging the new node as its weftd starts, as health
		# probes would (one ping process each, 100 ms apart, done at the first reply), while
		# the new node's own probes initiate handshakes to every member at its start.
		ts=$(now_ms)
		for j in $(seq 1 $((i - 1))); do
			(in_ns "n$j" ping -n -q -c1 -w30 -i0.1 "$addr" >/dev/null 2>&1 &&
				now_ms >"$LOGDIR/reach.$j") &
		done
		start_node "$i"
		until in_ns "n$i" ping -c1 -W1 10.200.0.1 >/dev/null 2>&1; do
			[ $(($(now_ms) - t0)) -lt 20000 ] || fail "n$i never reached the leader"
		done
		t1=$(now_ms)
		joins+=($((t1 - t0)))
		wait
		for j in $(seq 1 $((i - 1))); do
			[ -s "$LOGDIR/reach.$j" ] || fail "n$j never reached n$i"
			reach+=($(($(cat "$LOGDIR/reach.$j") - ts)))
		done
	done
	printf '%d nodes: members reach the new node: median %s ms, max %d ms, %d of %d over 1 s\n' \
		"$n" "$(printf '%s\n' "${reach[@]}" | median)" \
		"$(printf '%s\n' "${reach[@]}" | sort -n | tail -1)" \
		"$(printf '%s\n' "${reach[@]}" | awk '$1 > 1000' | wc -l)" "${#reach[@]}"
	[ -z "$REACH_ALL" ] || echo "reach (ms): ${reach[*]}"
	# Let the last pushes settle, then time one change to every member.
	sleep 3
	target=$(($(gen_of 1) + 1))
	# One watcher per member on its view.json (written once the view is applied), all
	# started before the change: the time is when the last member had it.
	rm -f "$LOGDIR"/seen.*
	for i in $(seq 2 "$n"); do
		(
			f=$(dir "$i")/view.json
			for _ in $(seq 20000); do
				g=$(grep -m1 -o '"generation": [0-9]*' "$f" 2>/dev/null | grep -o '[0-9]*$')
				[ "${g:-0}" -ge "$target" ] && { now_ms >"$LOGDIR/seen.$i"; exit 0; }
				sleep 0.002
			done
		) &
	done
	sleep 1
	t0=$(now_ms)
	weftc 1 dns add bench-rec 10.200.255.1 >/dev/null || fail "dns add"
	wait
	t1=0
	for i in $(seq 2 "$n"); do
		[ -s "$LOGDIR/seen.$i" ] || fail "n$i never got generation $target"
		t=$(cat "$LOGDIR/seen.$i")
		[ "$t" -gt "$t1" ] && t1=$t
	done
	view=$((t1 - t0))
	local before=0 after=0 hz
	hz=$(getconf CLK_TCK)
	for i in $(seq "$n"); do before=$((before + $(cpu_ticks "$(pid_of "$i")"))); done
	sleep "$IDLE_SECONDS"
	for i in $(seq "$n"); do after=$((after + $(cpu_ticks "$(pid_of "$i")"))); done
	printf '%d nodes: join median %d ms (min %d, max %d, %d joins); view to all members %d ms; idle CPU of all %d weftd %s%% of one CPU (%s%% each); peak RSS leader %d kB, member %d kB\n' \
		"$n" "$(printf '%s\n' "${joins[@]}" | median)" \
		"$(printf '%s\n' "${joins[@]}" | sort -n | head -1)" \
		"$(printf '%s\n' "${joins[@]}" | sort -n | tail -1)" "${#joins[@]}" "$view" "$n" \
		"$(awk -v t=$((after - before)) -v hz="$hz" -v s="$IDLE_SECONDS" 'BEGIN {printf "%.2f", 100 * t / hz / s}')" \
		"$(awk -v t=$((after - before)) -v hz="$hz" -v s="$IDLE_SECONDS" -v n="$n" 'BEGIN {printf "%.3f", 100 * t / hz / s / n}')" \
		"$(awk '/VmHWM/ {print $2}' "/proc/$(pid_of 1)/status")" \
		"$(awk '/VmHWM/ {print $2}' "/proc/$(pid_of 2)/status")"
	# Tear down this cluster before the next size.
	for ns in "${NAMESPACES[@]}"; do
		ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null || true
	done
	sleep 1
	for ns in "${NAMESPACES[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
	NAMESPACES=()
	rm -rf "${LOGDIR:?}"/n*
}

for n in "${@:-3 20}"; do
	for size in $n; do run "$size"; done
done
