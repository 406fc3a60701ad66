#!/usr/bin/env bash
# wireguard-go's tests/netns.sh (itself ported from the kernel's selftest), the parts that apply
# to a userspace implementation, against weft-wg (IMPL=go runs the same against wireguard-go).
#
# Part 1: the daemons run in ns 0 and their interfaces are moved away (`ip link set IF netns`):
# the UDP sockets stay in ns 0 (endpoints on its loopback), the interfaces work from ns 1/2.
#
#   ns 1                       ns 0                                  ns 2
#   W1 10.200.241.1/24  <--  weft-wg W1 [lo 127.0.0.1:10000]         W2 10.200.241.2/24
#      fd00:241::1/64        weft-wg W2 [lo 127.0.0.1:20000] -->        fd00:241::2/64
#                                  ([::1] for the IPv6 underlay)
#
#   ping both families both ways (flood, then 64 KiB), interface counters, TCP and UDP iperf3
#   both families, all again with a 34 KiB MTU, then over an IPv6 underlay; roaming on IPv4
#   and IPv6 (new address, new listen port: the peer shows the new endpoint); the cryptokey
#   routing filter (a more specific allowed IP moved to another peer stops traffic); the
#   endpoint learnt from the last authenticated packet; deleting a moved interface stops its
#   daemon; SIGTERM removes the moved interface.
#
# Part 2: sticky source addresses, not too sticky (daemons in ns 1 and ns 2 this time):
#
#   ns 1  W1 -- veth1 [10.0.0.x/24, fd00:aa::x/96] ==== veth2 [.3 / ::3] -- W2  ns 2
#   (addresses 198.18.20.0/24 and fd00:aa::/96 here)
#
#   the source moves when the old address goes away; replies leave from the address the peer
#   sent to (wg show on the other side keeps the endpoint it configured), both families; a
#   link-local endpoint with its %scope, set with wg and learnt from the peer; an unroutable
#   endpoint: nothing counted as sent.
#
# (Debian's wireguard-go 0.0.20220316, IMPL=go, passes part 1 and fails part 2's first step:
# it keeps sending from the removed address, "network is unreachable".)
#
# Part 3: big configurations through the UAPI (what splits netlink replies in the kernel):
#   130,560 allowed IPs on one peer, 40 peers x 52 allowed IPs, 30 peers.
source "$(dirname "$0")/lib.sh"

IMPL=${IMPL:-weft}
W1="wn$$1"
W2="wn$$2"
newns 0
newns 1
newns 2

# Like start_wg, in ns 0; then move the interface.
start_moved() { # IF NS
	start_wg 0 "$IMPL" "$1"
	ip -n "$(ns 0)" link set "$1" netns "$(ns "$2")" || fail "moving $1 to ns $2"
}
w0() { in_ns 0 wg "$@"; }
iperf_pair() { # SERVER_NS ADDR CLIENT_NS ARGS...
	local sns=$1 addr=$2 cns=$3
	shift 3
	in_ns "$sns" iperf3 -s -1 -B "$addr" >/dev/null 2>&1 &
	local srv=$!
	listening() { [ -n "$(in_ns "$sns" ss -Hltn sport = :5201)" ]; }
	wait_for 5 listening || fail "iperf3 server on $addr"
	in_ns "$cns" iperf3 -Z -t 2 -c "$addr" "$@" >"$LOGDIR/iperf.log" 2>&1 ||
		fail "iperf3 $* to $addr: $(tail -3 "$LOGDIR/iperf.log")"
	wait $srv || true
}

k1=$(genkey); k2=$(genkey); p1=$(pubkey "$k1"); p2=$(pubkey "$k2"); psk=$(wg genpsk)
configure_peers() {
	in_ns 1 ip addr add 10.200.241.1/24 dev "$W1"
	in_ns 1 ip addr add fd00:241::1/64 dev "$W1" nodad
	in_ns 2 ip addr add 10.200.241.2/24 dev "$W2"
	in_ns 2 ip addr add fd00:241::2/64 dev "$W2" nodad
	w0 set "$W1" private-key <(echo "$k1") listen-port 10000 \
		peer "$p2" preshared-key <(echo "$psk") allowed-ips 10.200.241.2/32,fd00:241::2/128
	w0 set "$W2" private-key <(echo "$k2") listen-port 20000 \
		peer "$p1" preshared-key <(echo "$psk") allowed-ips 10.200.241.1/32,fd00:241::1/128
	in_ns 1 ip link set "$W1" up
	in_ns 2 ip link set "$W2" up
}

tests() { # LABEL
	in_ns 2 ping -c 10 -f -W 1 10.200.241.1 >/dev/null || fail "$1: ping 2->1"
	in_ns 1 ping -c 10 -f -W 1 10.200.241.2 >/dev/null || fail "$1: ping 1->2"
	in_ns 2 ping -6 -c 10 -f -W 1 fd00:241::1 >/dev/null || fail "$1: ping6 2->1"
	in_ns 1 ping -6 -c 10 -f -W 1 fd00:241::2 >/dev/null || fail "$1: ping6 1->2"
	in_ns 1 ping -c 2 -s 65000 -W 2 10.200.241.2 >/dev/null || fail "$1: 64 KiB ping"
	in_ns 2 ping -6 -c 2 -s 65000 -W 2 fd00:241::1 >/dev/null || fail "$1: 64 KiB ping6"
	iperf_pair 2 10.200.241.2 1
	iperf_pair 1 fd00:241::1 2
	iperf_pair 1 10.200.241.1 2 -u -b 0
	iperf_pair 2 fd00:241::2 1 -u -b 0
	ok "$1: ping v4/v6 both ways (flood, 64 KiB), iperf3 TCP and UDP v4/v6"
}

# ---- part 1: interfaces moved out of the daemons' namespace -----------------------------------
start_moved "$W1" 1
start_moved "$W2" 2
[ -z "$(in_ns 0 ip -o link show dev "$W1" 2>/dev/null)" ] || fail "$W1 still in ns 0"
in_ns 1 ip link show dev "$W1" >/dev/null || fail "$W1 not in ns 1"
configure_peers
orig_mtu=$(in_ns 1 cat "/sys/class/net/$W1/mtu")
big_mtu=$((34816 - 1500 + orig_mtu))
ok "$IMPL: $W1 and $W2 created in ns 0, moved to ns 1 and ns 2, configured from ns 0"

w0 set "$W1" peer "$p2" endpoint 127.0.0.1:20000
w0 set "$W2" peer "$p1" endpoint 127.0.0.1:10000
# The interface counters work (10 flood pings of 84 bytes, plus whatever IPv6 sends).
in_ns 2 ping -c 10 -f -W 1 10.200.241.1 >/dev/null || fail "first ping"
read -r rx tx < <(in_ns 2 cat "/sys/class/net/$W2/statistics/rx_bytes" "/sys/class/net/$W2/statistics/tx_bytes" | xargs)
[ "$rx" -ge 840 ] && [ "$rx" -lt 2500 ] && [ "$tx" -ge 840 ] || fail "interface counters rx=$rx tx=$tx"
ok "interface counters rx=$rx tx=$tx after 10 pings"
tests "IPv4 underlay, MTU $orig_mtu"
in_ns 1 ip link set "$W1" mtu $big_mtu
in_ns 2 ip link set "$W2" mtu $big_mtu
tests "IPv4 underlay, MTU $big_mtu"
in_ns 1 ip link set "$W1" mtu "$orig_mtu"
in_ns 2 ip link set "$W2" mtu "$orig_mtu"

w0 set "$W1" peer "$p2" endpoint [::1]:20000
w0 set "$W2" peer "$p1" endpoint [::1]:10000
tests "IPv6 underlay, MTU $orig_mtu"
in_ns 1 ip link set "$W1" mtu $big_mtu
in_ns 2 ip link set "$W2" mtu $big_mtu
tests "IPv6 underlay, MTU $big_mtu"
in_ns 1 ip link set "$W1" mtu "$orig_mtu"
in_ns 2 ip link set "$W2" mtu "$orig_mtu"

# Roaming over IPv4: ns 0's loopback address and W1's port change.
in_ns 0 ip -4 addr del 127.0.0.1/8 dev lo
in_ns 0 ip -4 addr add 127.212.121.99/8 dev lo
w0 set "$W1" listen-port 9999
w0 set "$W1" peer "$p2" endpoint 127.0.0.1:20000
in_ns 1 ping -6 -W 1 -c 1 fd00:241::2 >/dev/null || fail "ping after the IPv4 move"
[ "$(w0 show "$W2" endpoints)" = "$p1	127.212.121.99:9999" ] ||
	fail "IPv4 roaming: $W2 shows '$(w0 show "$W2" endpoints)'"
ok "roaming over IPv4: $W2 shows 127.212.121.99:9999"

# Roaming over IPv6: W1's port changes again.
w0 set "$W1" listen-port 9998
w0 set "$W1" peer "$p2" endpoint [::1]:20000
in_ns 1 ping -W 1 -c 1 10.200.241.2 >/dev/null || fail "ping after the IPv6 move"
[ "$(w0 show "$W2" endpoints)" = "$p1	[::1]:9998" ] ||
	fail "IPv6 roaming: $W2 shows '$(w0 show "$W2" endpoints)'"
ok "roaming over IPv6: $W2 shows [::1]:9998"

# The cryptokey routing filter: W1 accepts 10.200.241.0/24 from W2 until a more specific
# allowed IP for W2's address belongs to another peer. A UDP probe 2 -> 1 shows it.
udp_probe() { # expect: 1 = arrives, 0 = does not
	in_ns 1 timeout 3 python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("10.200.241.1", 1111)); s.settimeout(2); print("ready", flush=True)
try: print(s.recv(16).decode())
except OSError: pass' >"$LOGDIR/probe.out" 2>&1 &
	local pid=$!
	wait_for 3 grep -q ready "$LOGDIR/probe.out" || fail "UDP probe listener"
	in_ns 2 python3 -c '
import socket
socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"X", ("10.200.241.1", 1111))'
	wait $pid || true
	if [ "$1" = 1 ]; then grep -q '^X$' "$LOGDIR/probe.out"; else ! grep -q '^X$' "$LOGDIR/probe.out"; fi
}
w0 set "$W1" peer "$p2" allowed-ips 10.200.241.0/24
udp_probe 1 || fail "UDP probe over the /24 did not arrive"
more_specific=$(pubkey "$(genkey)")
w0 set "$W1" peer "$more_specific" allowed-ips 10.200.241.2/32
w0 set "$W2" listen-port 9997
udp_probe 0 || fail "a packet from an address routed to another peer was accepted"
w0 set "$W1" peer "$more_specific" remove
# W2's probe (and handshake) came from its new port: W1 learnt it although the data was dropped.
[ "$(w0 show "$W1" endpoints)" = "$p2	[::1]:9997" ] ||
	fail "W1 shows '$(w0 show "$W1" endpoints)' after W2's port change"
ok "cryptokey filter: accepted under the /24, dropped once a /32 points at another peer; endpoint [::1]:9997 learnt"

# Deleting a moved interface stops its daemon, which lives in another namespace.
in_ns 1 ip link del "$W1"
in_ns 2 ip link del "$W2"
wait_for 5 test ! -e "/var/run/wireguard/$W1.sock" || fail "$W1's daemon did not exit after deletion in ns 1"
wait_for 5 test ! -e "/var/run/wireguard/$W2.sock" || fail "$W2's daemon did not exit after deletion in ns 2"
ns0_empty() { [ -z "$(ip netns pids "$(ns 0)")" ]; }
wait_for 10 ns0_empty || fail "processes left in ns 0: $(ip netns pids "$(ns 0)")"
ok "deleting the moved interfaces stopped both daemons"
# And SIGTERM to a daemon removes its interface from the namespace it was moved to.
start_moved "$W1" 1
pid=$(ip netns pids "$(ns 0)")
kill -TERM $pid
wait_for 5 test ! -e "/var/run/wireguard/$W1.sock" || fail "$W1's socket left after SIGTERM"
wait_for 5 bash -c "! ip -n $(ns 1) link show dev $W1" || fail "$W1 left in ns 1 after SIGTERM"
ok "SIGTERM to the daemon in ns 0 removed the socket and the interface in ns 1"

# ---- part 2: sticky source, not too sticky -----------------------------------------------------
start_wg 1 "$IMPL" "$W1"
start_wg 2 "$IMPL" "$W2"
w1() { in_ns 1 wg "$@"; }
w2() { in_ns 2 wg "$@"; }
configure_peers
ip -n "$(ns 1)" link add veth1 type veth peer name veth2 netns "$(ns 2)"
in_ns 1 sysctl -qw net.ipv6.conf.veth1.accept_dad=0
in_ns 2 sysctl -qw net.ipv6.conf.veth2.accept_dad=0
in_ns 1 sysctl -qw net.ipv4.conf.veth1.promote_secondaries=1
in_ns 1 ip addr add 198.18.20.1/24 dev veth1
in_ns 1 ip addr add fd00:aa::1/96 dev veth1
in_ns 2 ip addr add 198.18.20.2/24 dev veth2
in_ns 2 ip addr add fd00:aa::2/96 dev veth2
in_ns 1 ip link set veth1 up
in_ns 2 ip link set veth2 up
# (Neighbour discovery on a link that just came up can take a retransmission: 1 s.)
wait_for 5 in_ns 1 ping -c 1 -W 1 198.18.20.2 || fail "sticky: IPv4 underlay"
wait_for 5 in_ns 1 ping -6 -c 1 -W 1 fd00:aa::2 || fail "sticky: IPv6 underlay"
w1 set "$W1" peer "$p2" endpoint 198.18.20.2:20000
in_ns 1 ping -W 1 -c 1 10.200.241.2 >/dev/null || fail "sticky: first ping"
in_ns 1 ip addr add 198.18.20.10/24 dev veth1
in_ns 1 ip addr del 198.18.20.1/24 dev veth1
in_ns 1 ping -W 2 -c 1 10.200.241.2 >/dev/null || fail "sticky: ping after 198.18.20.1 went away"
w1 set "$W1" peer "$p2" endpoint [fd00:aa::2]:20000
in_ns 1 ping -W 1 -c 1 10.200.241.2 >/dev/null || fail "sticky: ping over IPv6"
in_ns 1 ip addr add fd00:aa::10/96 dev veth1
in_ns 1 ip addr del fd00:aa::1/96 dev veth1
in_ns 1 ping -W 2 -c 1 10.200.241.2 >/dev/null || fail "sticky: ping after fd00:aa::1 went away"
ok "source address follows when the old one is removed (IPv4, IPv6)"

# Reply to sender: ns 1 has two addresses per family; W2 picks one and must keep it.
in_ns 1 ip link set veth1 down
in_ns 2 ip link set veth2 down
in_ns 1 ip addr flush dev veth1
in_ns 2 ip addr flush dev veth2
in_ns 1 ip addr add 198.18.20.1/24 dev veth1
in_ns 1 ip addr add 198.18.20.2/24 dev veth1
in_ns 1 ip addr add fd00:aa::1/96 dev veth1
in_ns 1 ip addr add fd00:aa::2/96 dev veth1
in_ns 2 ip addr add 198.18.20.3/24 dev veth2
in_ns 2 ip addr add fd00:aa::3/96 dev veth2
in_ns 1 ip link set veth1 up
in_ns 2 ip link set veth2 up
for a in 198.18.20.1 198.18.20.2 fd00:aa::1 fd00:aa::2; do
	wait_for 5 in_ns 2 ping -c 1 -W 1 $a || fail "reply to sender: underlay $a"
done
for ep in 198.18.20.1:10000 [fd00:aa::1]:10000 198.18.20.2:10000 [fd00:aa::2]:10000; do
	w2 set "$W2" peer "$p1" endpoint "$ep"
	in_ns 2 ping -W 2 -c 1 10.200.241.1 >/dev/null || fail "reply to sender: ping via $ep"
	[ "$(w2 show "$W2" endpoints)" = "$p1	$ep" ] ||
		fail "reply to sender: $W2 set $ep, now shows '$(w2 show "$W2" endpoints)'"
done
ok "replies leave from the address the peer sent to (4 endpoints, both families)"

# Link-local endpoints need their scope: `wg` sends "[fe80::..%veth2]:port".
ll1=$(in_ns 1 ip -6 -o addr show dev veth1 scope link | awk '{ print $4 }' | cut -d/ -f1)
ll2=$(in_ns 2 ip -6 -o addr show dev veth2 scope link | awk '{ print $4 }' | cut -d/ -f1)
[ -n "$ll1" ] && [ -n "$ll2" ] || fail "no link-local addresses on the veth pair"
wait_for 5 in_ns 2 ping -6 -c 1 -W 1 "$ll1%veth2" || fail "link-local underlay"
w2 set "$W2" peer "$p1" endpoint "[$ll1%veth2]:10000" || fail "link-local endpoint refused"
in_ns 2 ping -W 2 -c 1 10.200.241.1 >/dev/null || fail "ping via link-local endpoint [$ll1%veth2]:10000"
[ "$(w2 show "$W2" endpoints)" = "$p1	[$ll1%veth2]:10000" ] ||
	fail "link-local: $W2 shows '$(w2 show "$W2" endpoints)'"
[ "$(w1 show "$W1" endpoints)" = "$p2	[$ll2%veth1]:20000" ] ||
	fail "link-local: $W1 learnt '$(w1 show "$W1" endpoints)', want [$ll2%veth1]:20000"
ok "link-local endpoint with its scope: [$ll1%veth2]:10000 set, [$ll2%veth1]:20000 learnt"

# Nothing counted as sent that the kernel refused: an endpoint without a route.
tx0=$(w1 show "$W1" transfer | cut -f3)
e0=$("$WEFT_WG" --stats "$W1" 2>/dev/null | awk -F= '/^tx_drop_send_error=/ { print $2 }')
w1 set "$W1" peer "$p2" endpoint 198.18.99.1:20000
if in_ns 1 ping -c 3 -i 0.2 -W 1 10.200.241.2 >/dev/null; then fail "ping through an unroutable endpoint"; fi
tx1=$(w1 show "$W1" transfer | cut -f3)
[ "$tx1" = "$tx0" ] || fail "tx bytes grew $tx0 -> $tx1 though the kernel took nothing"
if [ "$IMPL" = weft ]; then
	e1=$("$WEFT_WG" --stats "$W1" | awk -F= '/^tx_drop_send_error=/ { print $2 }')
	[ "$e1" -ge $((e0 + 3)) ] || fail "send errors not counted ($e0 -> $e1)"
fi
ok "unroutable endpoint: tx bytes stay at $tx0, send errors counted"
in_ns 1 ip link del veth1
in_ns 1 ip link del "$W1"
in_ns 2 ip link del "$W2"

# ---- part 3: big configurations --------------------------------------------------------------
W0="wn$$0"
start_wg 0 "$IMPL" "$W0"
{
	echo "[Interface]"; echo "PrivateKey=$(genkey)"; echo "[Peer]"; echo "PublicKey=$(genkey)"
	for a in {1..255}; do for b in {0..255}; do echo "AllowedIPs=$a.$b.0.0/16,$a::$b/128"; done; done
} >"$LOGDIR/big.conf"
w0 setconf "$W0" "$LOGDIR/big.conf" || fail "setconf with 130,560 allowed IPs"
n=$(w0 show "$W0" allowed-ips | wc -w)
[ "$n" -eq $((255 * 256 * 2 + 1)) ] || fail "wg show allowed-ips: $n words, want $((255 * 256 * 2 + 1))"
in_ns 0 ip link del "$W0"
wait_for 5 test ! -e "/var/run/wireguard/$W0.sock" || fail "$W0 did not exit"
start_wg 0 "$IMPL" "$W0"
{
	echo "[Interface]"; echo "PrivateKey=$(genkey)"
	for a in {1..40}; do
		echo "[Peer]"; echo "PublicKey=$(genkey)"
		for b in {1..52}; do echo "AllowedIPs=$a.$b.0.0/16"; done
	done
} >"$LOGDIR/peers.conf"
w0 setconf "$W0" "$LOGDIR/peers.conf" || fail "setconf with 40 peers"
[ "$(w0 show "$W0" allowed-ips | awk 'NF == 53' | wc -l)" -eq 40 ] || fail "40 peers x 52 allowed IPs"
in_ns 0 ip link del "$W0"
wait_for 5 test ! -e "/var/run/wireguard/$W0.sock" || fail "$W0 did not exit"
start_wg 0 "$IMPL" "$W0"
{
	for _ in {1..29}; do echo "[Peer]"; echo "PublicKey=$(genkey)"; done
	echo "[Peer]"; echo "PublicKey=$(genkey)"; echo "AllowedIPs=255.2.3.4/32,abcd::255/128"
} >"$LOGDIR/thirty.conf"
w0 setconf "$W0" "$LOGDIR/thirty.conf" || fail "setconf with 30 peers"
w0 showconf "$W0" >/dev/null || fail "showconf with 30 peers"
[ "$(w0 show "$W0" peers | wc -l)" -eq 30 ] || fail "30 peers"
in_ns 0 ip link del "$W0"
if w0 show doesnotexist >/dev/null 2>&1; then fail "wg show of a missing interface succeeded"; fi
ok "big configurations: 130,560 allowed IPs on one peer, 40 x 52, 30 peers; missing interface refused"
echo "PASS $TEST"
