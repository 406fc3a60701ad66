#!/bin/bash
# The overlay stays sealed (issue 11, attacks 3 and 6): nothing reaches a container or the
# overlay's addresses except through WireGuard, the node itself and its local bridges.
#
#   n1 198.18.0.1 (leader) ─┐
#   n2 198.18.0.2 ──────────┼─ br0 in "ul" (the underlay)
#   n3 198.18.0.3 ──────────┤    n3 ─ wb-web ─ c1 (service web, HTTP on 8080)
#   out 198.18.0.99 ────────┘    an outside host, not a member: routes 10.200.0.0/16 via n3
#
# Asserted: (a) from out, the container times out, while n1 reaches it through the overlay;
# (b) packets with a source in c1's service subnet sent by out to n3, to the leader and via n3
# into the overlay are dropped and counted, none reaches the leader's WireGuard interface; a
# member sending with another node's service-subnet source is dropped by WireGuard's allowed
# IPs; (c) DNS from out gets no answer (UDP and TCP), from the node (127.0.0.1 and its overlay
# address), from n1 over the overlay and from c1 it answers; with n3's table deleted by hand
# the container answers out again (the attack is real) but DNS still does not (device-bound);
# (d) weftd killed (-9) and started again: table inet weft exists exactly once and seals again;
# stopped cleanly: the table is gone.
source "$(dirname "$0")/overlay_lib.sh"

underlay 3
newns out
ip link add "$PFX-uo" netns "$(ns ul)" type veth peer "$PFX-eo" netns "$(ns out)"
in_ns ul ip link set "$PFX-uo" master br0 up
in_ns out ip link set "$PFX-eo" name eth0
in_ns out ip addr add 198.18.0.99/24 dev eth0
in_ns out ip link set eth0 up
in_ns out ip route add 10.200.0.0/16 via 198.18.0.3

init_leader
join_node 2
join_node 3
wait_for 10 in_ns n1 ping -c1 -W1 10.200.0.3 || fail "n1 -> n3"

tables() { in_ns "n$1" nft list tables | grep -c '^table inet weft$' || true; }
counter() { in_ns "n$1" nft list counter inet weft "$2" | awk '$1 == "packets" { print $2 }'; }
for i in 1 2 3; do [ "$(tables "$i")" = 1 ] || fail "n$i: table inet weft $(tables "$i") times"; done
ok "every node has table inet weft once"

newns c1
out=$(weftc 3 attach --service web --netns "/var/run/netns/$(ns c1)" --name c1) || fail "attach: $out"
a1=$(echo "$out" | sed -n 's/.*: \([0-9.]*\) (gateway.*/\1/p')
[ -n "$a1" ] || fail "no address in '$out'"
in_ns c1 python3 -m http.server 8080 --bind 0.0.0.0 >/dev/null 2>&1 &
# http NODE ADDR: the status line's code, or nothing after 3 s (no proxy, no retries)
http() {
	in_ns "$1" python3 -c '
import socket, sys
try:
    s = socket.create_connection((sys.argv[1], 8080), timeout=3)
    s.sendall(b"GET / HTTP/1.0\r\n\r\n")
    print(s.recv(64).split()[1].decode())
except OSError:
    pass' "$2"
}
wait_for 10 sh -c "[ \"\$(ip netns exec $(ns n1) python3 -c 'import socket; socket.create_connection((\"$a1\", 8080), timeout=2)' 2>&1)\" = '' ]" ||
	fail "n1 cannot connect to c1 ($a1) through the overlay"
[ "$(http n1 "$a1")" = 200 ] || fail "n1 -> c1 HTTP through the overlay"
ok "c1 $a1 on n3 serves HTTP to n1 through the overlay"

# (a) the underlay host routes the service subnet via n3
before=$(counter 3 underlay_to_overlay)
t0=$(date +%s)
[ -z "$(http out "$a1")" ] || fail "out reached c1 from the underlay"
[ $(($(date +%s) - t0)) -ge 2 ] || fail "out -> c1 did not time out (refused instead?)"
[ "$(counter 3 underlay_to_overlay)" -gt "$before" ] || fail "underlay_to_overlay not counted"
[ "$(http n1 "$a1")" = 200 ] || fail "n1 -> c1 after the attempt"
ok "(a) out -> c1 via n3 times out (underlay_to_overlay counted), n1 -> c1 still 200"

# (b) spoofed sources from c1's subnet, sent by out
spoof=${a1%.*}.$(( ${a1##*.} + 1 ))
in_ns out ip addr add "$spoof/32" dev lo
send_from() { # send_from SRC DST: one UDP datagram
	in_ns out python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 0))
s.sendto(b"spoofed", (sys.argv[2], 9))' "$1" "$2"
}
in_ns n1 timeout 5 tcpdump -i "$(ifname 1)" -nn -l "src host $spoof" >"$LOGDIR/leader-wg.txt" 2>/dev/null &
dump=$!
in_ns c1 timeout 5 tcpdump -i eth0 -nn -l "src host $spoof" >"$LOGDIR/c1.txt" 2>/dev/null &
dump_c1=$!
sleep 1.5
s3=$(counter 3 spoofed_source)
s1=$(counter 1 spoofed_source)
send_from "$spoof" 198.18.0.3
send_from "$spoof" 10.200.0.1 # via n3, into the overlay: the leader's interface, as from n3
send_from "$spoof" 10.200.0.2
send_from "$spoof" "$a1" # to the container, from "its own" subnet
sleep 0.5
[ "$(counter 3 spoofed_source)" -ge $((s3 + 4)) ] ||
	fail "n3 spoofed_source $s3 -> $(counter 3 spoofed_source), 4 expected"
in_ns out ip route add 198.18.0.1/32 dev eth0 # straight to the leader
send_from "$spoof" 198.18.0.1
sleep 0.5
[ "$(counter 1 spoofed_source)" -ge $((s1 + 1)) ] || fail "leader spoofed_source not counted"
wait $dump || true
wait $dump_c1 || true
! grep -q . "$LOGDIR/leader-wg.txt" || fail "spoofed packets on the leader's interface: $(cat "$LOGDIR/leader-wg.txt")"
! grep -q . "$LOGDIR/c1.txt" || fail "spoofed packets reached c1: $(cat "$LOGDIR/c1.txt")"
ok "(b) spoofed service-subnet sources from the underlay dropped and counted (n3 +4, leader +1); none on the leader's WireGuard interface or in c1"

# A member claiming n3's service subnet: WireGuard's allowed IPs drop it on the leader.
in_ns n2 ip addr add "$spoof/32" dev lo
inner() { "$WEFT_WG" --stats "$(ifname 1)" | awk -F= '$1 == "rx_drop_inner_source" { print $2 }'; }
d0=$(inner)
in_ns n2 ping -c2 -i0.2 -W1 -I "$spoof" 10.200.0.1 >/dev/null 2>&1 && fail "n2 with n3's subnet source got a reply"
[ "$(inner)" -ge $((d0 + 2)) ] || fail "leader rx_drop_inner_source $d0 -> $(inner)"
in_ns n2 ip addr del "$spoof/32" dev lo
ok "(b) a member sending from another node's service subnet: dropped by allowed IPs (rx_drop_inner_source)"

# (c) DNS
dq() { # dq NS SERVER [dig options]: the answer to n1.weft.local A (dig +short prints its
	# "no servers could be reached" on stdout: only addresses count)
	in_ns "$1" dig +short +time=2 +tries=1 -p 15353 "@$2" n1.weft.local A "${@:3}" 2>/dev/null |
		grep -E '^[0-9.]+$' || true
}
for proto in "" +tcp; do
	[ -z "$(dq out 10.200.0.3 $proto)" ] || fail "out got a DNS answer from n3's overlay address $proto"
	in_ns out dig +time=2 +tries=1 -p 15353 @10.200.0.3 example.test A $proto 2>/dev/null |
		has "status:" && fail "out got a forwarded answer $proto"
done
[ "$(dq n3 127.0.0.1)" = 10.200.0.1 ] || fail "n3 at 127.0.0.1"
[ "$(dq n3 10.200.0.3)" = 10.200.0.1 ] || fail "n3 at its own overlay address"
[ "$(dq n1 10.200.0.3)" = 10.200.0.1 ] || fail "n1 -> n3's DNS over the overlay"
[ "$(dq n1 10.200.0.3 +tcp)" = 10.200.0.1 ] || fail "n1 -> n3's DNS over the overlay, TCP"
[ "$(dq c1 10.200.0.3)" = 10.200.0.1 ] || fail "c1 -> its node's DNS"
ok "(c) DNS: no answer to out (UDP, TCP, zone and forwarded names); answers on 127.0.0.1, over the overlay and to c1"

# Without the table (deleted by hand), the attack of (a) works again: the test is not
# passing by accident; DNS stays closed by its device binding alone.
in_ns n3 nft delete table inet weft
[ "$(http out "$a1")" = 200 ] || fail "out does not reach c1 even unsealed: the test proves nothing"
in_ns n1 timeout 3 tcpdump -i "$(ifname 1)" -nn -l "src host $spoof" >"$LOGDIR/leader-wg2.txt" 2>/dev/null &
dump=$!
sleep 1.5
send_from "$spoof" 10.200.0.1
wait $dump || true
grep -q "$spoof" "$LOGDIR/leader-wg2.txt" ||
	fail "unsealed, the spoofed packet did not reach the leader's interface either: the test proves nothing"
[ -z "$(dq out 10.200.0.3)" ] || fail "out got a DNS answer once the table was gone"
ok "unsealed by hand: out -> c1 is 200 again, a spoofed packet reaches the leader's WireGuard interface via n3; DNS still silent to out (device-bound)"

# (d) crash and restart
pid=$(pgrep -nf "weftd --data-dir $(dir 3) ")
kill -9 "$pid"
for _ in $(seq 50); do exited "$pid" && break; sleep 0.1; done
in_ns n3 nft add table inet weft # as a crashed run would have left it
start_node 3
[ "$(tables 3)" = 1 ] || fail "after kill -9 and start: table inet weft $(tables 3) times"
[ "$(in_ns n3 nft list table inet weft | grep -c 'chain prerouting')" = 1 ] || fail "prerouting chain duplicated"
pid=$(pgrep -nf "weftd --data-dir $(dir 3) ")
kill -9 "$pid"
for _ in $(seq 50); do exited "$pid" && break; sleep 0.1; done
[ "$(tables 3)" = 1 ] || fail "a crashed weftd's table is not left in force"
start_node 3
[ "$(tables 3)" = 1 ] || fail "after a second crash and start: table inet weft $(tables 3) times"
[ "$(in_ns n3 nft list table inet weft | grep -c 'counter name "spoofed_source"')" = 2 ] ||
	fail "rules duplicated: $(in_ns n3 nft list table inet weft)"
wait_for 15 sh -c "[ \"\$(ip netns exec $(ns n1) python3 -c 'import socket; socket.create_connection((\"$a1\", 8080), timeout=2)' 2>&1)\" = '' ]" ||
	fail "n1 -> c1 after n3's restart"
[ "$(http n1 "$a1")" = 200 ] || fail "n1 -> c1 HTTP after n3's restart"
[ -z "$(http out "$a1")" ] || fail "out reaches c1 after n3's restart"
wait_for 10 sh -c "[ \"\$(ip netns exec $(ns c1) dig +short +time=1 +tries=1 -p 15353 @10.200.0.3 n1.weft.local A)\" = 10.200.0.1 ]" ||
	fail "c1 -> its node's DNS after the restart"
ok "(d) kill -9 and start, twice: table inet weft once, sealed again, legitimate paths back"

stop_node 3
[ "$(tables 3)" = 0 ] || fail "table inet weft left after a clean stop"
stop_node 2
[ "$(tables 2)" = 0 ] || fail "n2's table left after a clean stop"
[ "$(tables 1)" = 1 ] || fail "n1's table gone with the others"
ok "(d) weftd stopped cleanly: its table is gone (other nodes keep theirs)"
