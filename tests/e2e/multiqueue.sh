#!/usr/bin/env bash
# Multi-queue TUN (WEFT_TUN_QUEUES=2): one reader thread per queue, flows spread over them.
#
#   ns a [198.18.6.1] eth-b ====== eth-a [198.18.6.2] ns b
#   weft-wg (2 queues) 10.200.6.1  <->  10.200.6.2 weft-wg (2 queues)
#   weft-wg (2 queues) 10.200.7.1  <->  10.200.7.2 wireguard-go
#
# 16 TCP flows at once each way, every byte checked; both queues of each weft-wg read
# packets; a second daemon cannot take a queue of a running interface; SIGTERM removes it.
source "$(dirname "$0")/lib.sh"

export WEFT_TUN_QUEUES=2
FLOWS=16

newns a
newns b
link a b 198.18.6.1/24 198.18.6.2/24
A="wq$$a"
B="wq$$b"
A2="wq$$c"
G="wq$$g"
ka=$(genkey); kb=$(genkey); pa=$(pubkey "$ka"); pb=$(pubkey "$kb")
ka2=$(genkey); kg=$(genkey); pa2=$(pubkey "$ka2"); pg=$(pubkey "$kg")
stat_of() { "$WEFT_WG" --stats "$1" | awk -F= -v k="$2" '$1 == k { print $2 }'; }

start_wg a weft "$A"
start_wg b weft "$B"
start_wg a weft "$A2"
start_wg b go "$G"
for ifc in "$A" "$B" "$A2"; do
	[ "$(stat_of "$ifc" tun_queues)" = 2 ] || fail "$ifc: tun_queues=$(stat_of "$ifc" tun_queues), want 2"
done
ok "weft-wg opened 2 TUN queues with a reader each"

in_ns a wg set "$A" private-key <(echo "$ka") listen-port 52601 peer "$pb" allowed-ips 10.200.6.2/32 endpoint 198.18.6.2:52602
in_ns b wg set "$B" private-key <(echo "$kb") listen-port 52602 peer "$pa" allowed-ips 10.200.6.1/32 endpoint 198.18.6.1:52601
in_ns a wg set "$A2" private-key <(echo "$ka2") listen-port 52701 peer "$pg" allowed-ips 10.200.7.2/32 endpoint 198.18.6.2:52702
in_ns b wg set "$G" private-key <(echo "$kg") listen-port 52702 peer "$pa2" allowed-ips 10.200.7.1/32 endpoint 198.18.6.1:52701
in_ns a ip addr add 10.200.6.1/24 dev "$A"; in_ns a ip link set "$A" up
in_ns b ip addr add 10.200.6.2/24 dev "$B"; in_ns b ip link set "$B" up
in_ns a ip addr add 10.200.7.1/24 dev "$A2"; in_ns a ip link set "$A2" up
in_ns b ip addr add 10.200.7.2/24 dev "$G"; in_ns b ip link set "$G" up
in_ns a ping -c 2 -W 5 10.200.6.2 >/dev/null || fail "ping weft <-> weft"
in_ns a ping -c 2 -W 5 10.200.7.2 >/dev/null || fail "ping weft <-> wireguard-go"

head -c $((4 << 20)) /dev/urandom >"$LOGDIR/blob"

# FLOWS transfers at once from ns $1 to address $3 in ns $2, each checked by sha256.
flows() {
	local from=$1 to=$2 dst=$3 tag=$4 srv=() sends=()
	for i in $(seq 0 $((FLOWS - 1))); do
		in_ns "$to" python3 "$ROOT/tests/e2e/tcp_check.py" serve "$dst" $((5600 + i)) "$LOGDIR/recv$i" &
		srv+=($!)
	done
	for i in $(seq 0 $((FLOWS - 1))); do
		wait_for 5 in_ns "$to" ss -ltnH "sport = :$((5600 + i))" || fail "$tag: server $i"
	done
	for i in $(seq 0 $((FLOWS - 1))); do
		in_ns "$from" python3 "$ROOT/tests/e2e/tcp_check.py" send "$dst" $((5600 + i)) "$LOGDIR/blob" >"$LOGDIR/sent$i" &
		sends+=($!)
	done
	for p in "${sends[@]}"; do wait "$p" || fail "$tag: a sender failed"; done
	for p in "${srv[@]}"; do wait "$p" || fail "$tag: a receiver failed"; done
	for i in $(seq 0 $((FLOWS - 1))); do
		[ "$(cat "$LOGDIR/sent$i")" = "$(cat "$LOGDIR/recv$i")" ] ||
			fail "$tag: flow $i: sent $(cat "$LOGDIR/sent$i"), got $(cat "$LOGDIR/recv$i")"
	done
}

# Both queues of ifc read packets: none of the numbers in tun_packets_read_per_queue below min.
both_queues() {
	local ifc=$1 min=$2 q
	q=$(stat_of "$ifc" tun_packets_read_per_queue)
	for n in ${q//,/ }; do
		[ "$n" -ge "$min" ] || { echo "$q"; return 1; }
	done
	echo "$q"
}

flows a b 10.200.6.2 "weft -> weft"
flows b a 10.200.6.1 "weft <- weft"
qa=$(both_queues "$A" 1000) || fail "$A: a queue read (almost) nothing: $qa"
qb=$(both_queues "$B" 1000) || fail "$B: a queue read (almost) nothing: $qb"
ok "weft <-> weft: $FLOWS x 4 MiB each way, sha256 match; packets read per queue: $A $qa, $B $qb"

flows a b 10.200.7.2 "weft -> wireguard-go"
flows b a 10.200.7.1 "weft <- wireguard-go"
qa=$(both_queues "$A2" 1000) || fail "$A2: a queue read (almost) nothing: $qa"
ok "weft <-> wireguard-go: $FLOWS x 4 MiB each way, sha256 match; packets read per queue: $qa"

# A second daemon on the same name must not become a third queue of the running one.
rc=0
in_ns a timeout 10 env LOG_LEVEL=error "$WEFT_WG" -f "$A" >"$LOGDIR/second.out" 2>&1 || rc=$?
[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || fail "a second weft-wg on $A started (exit $rc)"

grep -q "in use" "$LOGDIR/second.out" || fail "second daemon: $(cat "$LOGDIR/second.out")"
[ "$(stat_of "$A" tun_queues)" = 2 ] || fail "$A lost a queue"
in_ns a ping -c 2 -W 5 10.200.6.2 >/dev/null || fail "$A stopped working after the second daemon"
ok "a second daemon on $A is refused: $(tail -1 "$LOGDIR/second.out")"

pid=$(pgrep -f "weft-wg $A\$")
kill -TERM "$pid"
wait_for 5 test ! -e "/var/run/wireguard/$A.sock" || fail "$A: socket still there after SIGTERM"
wait_for 5 bash -c "! ip netns exec $(ns a) ip link show $A" || fail "$A: interface still there after SIGTERM"
ok "SIGTERM: socket and interface (every queue) gone"
