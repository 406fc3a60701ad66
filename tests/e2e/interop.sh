#!/usr/bin/env bash
# weft-wg against itself and against Debian's wireguard-go, configured only with `wg` and `ip`.
#
#   ns a [198.18.0.1, fd00:18::1] eth-b ===veth=== eth-a [198.18.0.2, fd00:18::2] ns b
#        wgA 10.200.0.1 fd00:200::1    (WireGuard)    wgB 10.200.0.2 fd00:200::2
#
# For each pairing (weft/weft, weft/go, go/weft) and both initiator roles: ping over IPv4 and
# IPv6 inner addresses, 64 KiB ICMP (fragmented), a 64 MiB TCP transfer whose checksum
# matches, `wg show` checked (endpoint, allowed ips, handshake seconds ago, transfer growing).
# Then the same over an IPv6 underlay.
source "$(dirname "$0")/lib.sh"

newns a
newns b
link a b 198.18.0.1/24 198.18.0.2/24
in_ns a ip addr add fd00:18::1/64 dev eth-b nodad
in_ns b ip addr add fd00:18::2/64 dev eth-a nodad
head -c $((64 << 20)) /dev/urandom >"$LOGDIR/blob"

run_pair() { # impl_a impl_b initiator(a|b) underlay(4|6)
	local ia=$1 ib=$2 init=$3 u=$4 A="wt$$a" B="wt$$b"
	local ka kb pa pb ea eb
	ka=$(genkey)
	kb=$(genkey)
	pa=$(pubkey "$ka")
	pb=$(pubkey "$kb")
	if [ "$u" = 4 ]; then ea=198.18.0.1:51001; eb=198.18.0.2:51002; else ea=[fd00:18::1]:51001; eb=[fd00:18::2]:51002; fi
	start_wg a "$ia" "$A"
	start_wg b "$ib" "$B"
	in_ns a wg set "$A" private-key <(echo "$ka") listen-port 51001 \
		peer "$pb" allowed-ips 10.200.0.2/32,fd00:200::2/128 endpoint "$eb"
	in_ns b wg set "$B" private-key <(echo "$kb") listen-port 51002 \
		peer "$pa" allowed-ips 10.200.0.1/32,fd00:200::1/128 endpoint "$ea"
	in_ns a ip addr add 10.200.0.1/24 dev "$A"
	in_ns a ip addr add fd00:200::1/64 dev "$A" nodad
	in_ns b ip addr add 10.200.0.2/24 dev "$B"
	in_ns b ip addr add fd00:200::2/64 dev "$B" nodad
	in_ns a ip link set "$A" up
	in_ns b ip link set "$B" up
	local me=a peer=b dst=10.200.0.2 dst6=fd00:200::2
	if [ "$init" = b ]; then me=b peer=a dst=10.200.0.1 dst6=fd00:200::1; fi
	local tag="$ia(a)/$ib(b), $init initiates, IPv$u underlay"

	in_ns $me ping -c 3 -i 0.2 -W 5 $dst >/dev/null || fail "$tag: ping $dst"
	in_ns $me ping -6 -c 3 -i 0.2 -W 5 $dst6 >/dev/null || fail "$tag: ping6 $dst6"
	in_ns $peer ping -c 2 -i 0.2 -W 5 10.200.0.$([ $peer = a ] && echo 2 || echo 1) >/dev/null ||
		fail "$tag: reverse ping"
	in_ns $me ping -c 2 -s 65000 -W 5 $dst >/dev/null || fail "$tag: 64 KiB ICMP"
	ok "$tag: ping v4, v6, reverse, 64 KiB"

	# wg show on a weft side: endpoint, allowed ips, a recent handshake, counters.
	local s
	s=$(in_ns a wg show "$A" dump | sed -n 2p)
	[ "$(cut -f3 <<<"$s")" = "$eb" ] || fail "$tag: endpoint '$(cut -f3 <<<"$s")' != $eb"
	[ "$(cut -f4 <<<"$s")" = "10.200.0.2/32,fd00:200::2/128" ] || fail "$tag: allowed ips $(cut -f4 <<<"$s")"
	local hs now rx1 rx2
	hs=$(cut -f5 <<<"$s")
	now=$(date +%s)
	[ "$hs" -gt 0 ] && [ $((now - hs)) -lt 30 ] || fail "$tag: latest handshake $hs (now $now)"
	rx1=$(cut -f6 <<<"$s")

	in_ns b python3 "$ROOT/tests/e2e/tcp_check.py" serve 10.200.0.2 5201 "$LOGDIR/recv" &
	local srv=$!
	wait_for 5 in_ns b ss -ltn sport = :5201 || true
	sleep 0.3
	local sent got
	sent=$(in_ns a python3 "$ROOT/tests/e2e/tcp_check.py" send 10.200.0.2 5201 "$LOGDIR/blob") ||
		fail "$tag: TCP send"
	wait $srv || fail "$tag: TCP receiver"
	got=$(cat "$LOGDIR/recv")
	[ "$sent" = "$got" ] || fail "$tag: TCP checksum: sent $sent, got $got"
	rx2=$(in_ns a wg show "$A" dump | sed -n 2p | cut -f6)
	[ "$rx2" -gt "$rx1" ] || fail "$tag: rx counter did not grow ($rx1 -> $rx2)"
	ok "$tag: 64 MiB TCP, sha256 matches; wg show endpoint/allowed-ips/handshake/transfer"

	in_ns a ip link del "$A"
	in_ns b ip link del "$B"
	wait_for 5 test ! -e "/var/run/wireguard/$A.sock" || fail "$tag: $A did not exit on link deletion"
	wait_for 5 test ! -e "/var/run/wireguard/$B.sock" || fail "$tag: $B did not exit on link deletion"
}

run_pair weft weft a 4
run_pair weft go a 4
run_pair weft go b 4
run_pair go weft a 4
run_pair weft go a 6
run_pair weft weft b 6
echo "PASS $TEST"
