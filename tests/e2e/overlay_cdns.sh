#!/bin/bash
# The cluster DNS for containers (issue 12 item 3): a resolver on port 53 at each service
# bridge's gateway (IPv4 and IPv6), device-bound to the bridge; `weft attach --dns` writes the
# container's resolv.conf (an `ip netns` namespace: /etc/netns/NAME; a process: its root's
# /etc), plain `weft attach` prints what to use; the node's DNS on ::1 and the overlay IPv6.
#
#   n1 198.18.0.1 (leader) ─┐
#   n2 198.18.0.2 ──────────┼─ br0 in "ul" ─ up 198.18.0.53 (stub upstream: outside.test)
#                           │    n2 ─ wb-web ─ c1 (ip netns, --dns), c2 (ip netns, no --dns)
#                           │              └─ a process in its own net+mount namespaces (--pid --dns)
#   out 198.18.0.99 ────────┘    not a member: routes 10.200.0.0/16 and fd00:200::/48 via n2
#
# Asserted: from c1, dig without -p at the gateway answers web1.web.<zone> (A, AAAA; UDP and
# TCP), n1.<zone> and a forwarded outside name, and at the IPv6 gateway too; `getent hosts`
# in c1 through the resolv.conf weft wrote; the --pid container's own /etc/resolv.conf (a
# symlink out of its root replaced, not followed); bad input (a netns path weft cannot map,
# a file in /run/netns that is no namespace, a read-only root) refused with the reason and
# nothing attached or left in /etc/netns; dig @::1 -p 15353 on n2
# and at n2's overlay IPv6 from n1; from out nothing answers on 53 or 15353 (gateways, overlay
# addresses, n2's underlay address), UDP and TCP.
source "$(dirname "$0")/overlay_lib.sh"

ETCNS=() PIDS=()
cleanup_etc() { # what lib.sh's cleanup does not know: /etc/netns/NAME, processes outside its namespaces
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for d in "${ETCNS[@]}"; do rm -rf "/etc/netns/$d"; done
	[ ! -f "/run/netns/$(ns fake)" ] || rm -f "/run/netns/$(ns fake)"
}
trap 'r=$?; cleanup_etc; set +e; (exit $r); cleanup' EXIT

underlay 2
newns up
ip link add "$PFX-uu" netns "$(ns ul)" type veth peer "$PFX-ud" netns "$(ns up)"
in_ns ul ip link set "$PFX-uu" master br0 up
in_ns up ip addr add 198.18.0.53/24 dev "$PFX-ud"
in_ns up ip link set "$PFX-ud" up
in_ns up python3 "$ROOT/tests/e2e/dns_stub.py" 198.18.0.53 53 outside.test=198.18.7.7 \
	>"$LOGDIR/stub.log" 2>&1 &
printf 'nameserver 198.18.0.53\n' >"$LOGDIR/resolv.conf"
WEFTD_OPTS="$WEFTD_OPTS --resolv-conf $LOGDIR/resolv.conf"

newns out
ip link add "$PFX-uo" netns "$(ns ul)" type veth peer "$PFX-eo" netns "$(ns out)"
in_ns ul ip link set "$PFX-uo" master br0 up
in_ns out ip link set "$PFX-eo" name eth0
in_ns out ip addr add 198.18.0.99/24 dev eth0
in_ns out ip addr add fd00:18::99/64 dev eth0 nodad
in_ns out ip link set eth0 up
in_ns n2 ip addr add fd00:18::2/64 dev eth0 nodad
in_ns out ip route add 10.200.0.0/16 via 198.18.0.2
in_ns out ip -6 route add fd00:200::/48 via fd00:18::2

init_leader
join_node 2
wait_for 10 in_ns n2 ping -c1 -W1 10.200.0.1 || fail "n2 -> n1"

expect() { # expect DESCRIPTION GOT WANT
	[ "$2" = "$3" ] || fail "$1: got '$2', want '$3'"
}
d() { # d NS SERVER NAME TYPE [dig options]: the answers (port 53 unless -p is given)
	local n=$1 s=$2 name=$3 type=$4
	shift 4
	in_ns "$n" dig +short +time=2 +tries=1 "@$s" "$name" "$type" "$@" 2>&1 | grep -v '^;;' || true
}

# c1: an `ip netns` namespace, attached with --dns.
newns c1
ETCNS+=("$(ns c1)")
[ ! -e "/etc/netns/$(ns c1)" ] || fail "/etc/netns/$(ns c1) exists already"
out=$(weftc 2 attach --service web --netns "/run/netns/$(ns c1)" --name web1 --dns) ||
	fail "attach --dns: $out"
a4=$(echo "$out" | sed -n 's/.*: \([0-9.]*\) (gateway.*/\1/p')
gw4=$(echo "$out" | sed -n 's/.*(gateway \([0-9.]*\),.*/\1/p')
a6=$(echo "$out" | sed -n 's/.* and \([0-9a-f:]*\)$/\1/p')
[ -n "$a4" ] && [ -n "$gw4" ] && [ -n "$a6" ] || fail "addresses not in '$out'"
gw6=$(in_ns n2 ip -6 -j addr show dev wb-web | python3 -c '
import json, sys
print([a["local"] for a in json.load(sys.stdin)[0]["addr_info"] if a["scope"] == "global"][0])')
echo "$out" | has -F "dns: nameserver $gw4, nameserver $gw6, search weft.local: written to /etc/netns/$(ns c1)/resolv.conf" ||
	fail "attach --dns did not say what it wrote: $out"
grep -qx "nameserver $gw4" "/etc/netns/$(ns c1)/resolv.conf" || fail "resolv.conf: $(cat "/etc/netns/$(ns c1)/resolv.conf")"
grep -qx "search weft.local" "/etc/netns/$(ns c1)/resolv.conf" || fail "no search line"
[ -z "$(ls -A "/etc/netns/$(ns c1)" | grep -v '^resolv.conf$')" ] || fail "a temporary file was left"
ok "attach --dns wrote /etc/netns/NAME/resolv.conf: nameserver $gw4 and $gw6, search weft.local"

wait_for 10 sh -c "[ -n \"\$(ip netns exec $(ns c1) dig +short +time=1 +tries=1 @$gw4 web1.web.weft.local A)\" ]" ||
	fail "no answer from the gateway on port 53"
expect "A at the gateway" "$(d c1 "$gw4" web1.web.weft.local A)" "$a4"
expect "AAAA at the gateway" "$(d c1 "$gw4" web1.web.weft.local AAAA)" "$a6"
expect "A over TCP" "$(d c1 "$gw4" web1.web.weft.local A +tcp)" "$a4"
expect "node name" "$(d c1 "$gw4" n1.weft.local A)" 10.200.0.1
expect "forwarded" "$(d c1 "$gw4" outside.test A)" 198.18.7.7
expect "A at the IPv6 gateway" "$(d c1 "$gw6" web1.web.weft.local A)" "$a4"
expect "AAAA at the IPv6 gateway over TCP" "$(d c1 "$gw6" web1.web.weft.local AAAA +tcp)" "$a6"
ok "from the container, port 53 at $gw4 and $gw6: its own name (A, AAAA, UDP, TCP), a node, a forwarded name"

got=$(in_ns c1 getent hosts web1.web.weft.local | awk '{print $1}' | sort | tr '\n' ' ')
case "$got" in *"$a4"* | *"$a6"*) ;; *) fail "getent hosts web1.web.weft.local in c1: '$got'" ;; esac
got=$(in_ns c1 getent ahostsv4 n1.weft.local | awk 'NR == 1 {print $1}')
expect "getent ahostsv4 n1" "$got" 10.200.0.1
got=$(in_ns c1 getent ahostsv4 web1.web | awk 'NR == 1 {print $1}')
expect "getent ahostsv4 web1.web (search)" "$got" "$a4"
ok "getent hosts in c1 through the resolv.conf weft wrote: web1.web.weft.local, n1, web1.web by search"

# c2: plain attach prints what to use and writes nothing.
newns c2
ETCNS+=("$(ns c2)")
out=$(weftc 2 attach --service web --netns "/run/netns/$(ns c2)" --name web2) || fail "attach: $out"
echo "$out" | has -F "dns: nameserver $gw4, nameserver $gw6, search weft.local (give these" ||
	fail "attach did not print the resolver: $out"
[ ! -e "/etc/netns/$(ns c2)" ] || fail "attach without --dns wrote /etc/netns/$(ns c2)"
newns c2x
out=$(weftc 2 attach --service web --netns "/run/netns/$(ns c2x)" --name web2x --json) || fail "attach --json: $out"
weftc 2 detach web2x >/dev/null
echo "$out" | python3 -c '
import json, sys
j = json.load(sys.stdin)
assert j["dns"]["nameservers"] == [sys.argv[1], sys.argv[2]] and j["dns"]["search"] == "weft.local", j
' "$gw4" "$gw6" || fail "attach --json has no dns: $out"
ok "attach without --dns prints 'nameserver $gw4, nameserver $gw6, search weft.local' and writes nothing"

# Another service's gateway is not reachable from c1 (device-bound to its own bridge).
newns c3
out=$(weftc 2 attach --service db --netns "/run/netns/$(ns c3)" --name db1) || fail "attach db: $out"
gwdb=$(echo "$out" | sed -n 's/.*(gateway \([0-9.]*\),.*/\1/p')
expect "db's gateway from c3" "$(d c3 "$gwdb" web1.web.weft.local A)" "$a4"
expect "db's gateway from c1 (another bridge)" "$(d c1 "$gwdb" web1.web.weft.local A)" ""
ok "a gateway answers only its own bridge's containers"

# A process in its own network and mount namespaces, its /etc a tmpfs whose resolv.conf is a
# symlink pointing out of its root: --pid --dns writes its own /etc/resolv.conf.
victim=$LOGDIR/victim
echo untouched >"$victim"
unshare --net --mount --propagation private sh -c "
	mount -t tmpfs tmpfs /etc && ln -s $victim /etc/resolv.conf &&
	echo 'hosts: files dns' > /etc/nsswitch.conf && exec sleep 600" &
ppid=$!
PIDS+=("$ppid")
wait_for 5 sh -c "[ -L /proc/$ppid/root/etc/resolv.conf ]" || fail "the --pid container did not start"
out=$(weftc 2 attach --service web --pid "$ppid" --name web3 --dns) || fail "attach --pid --dns: $out"
echo "$out" | has -F "written to /proc/$ppid/root/etc/resolv.conf" || fail "attach --pid --dns: $out"
expect "victim outside the root" "$(cat "$victim")" untouched
[ -f "/proc/$ppid/root/etc/resolv.conf" ] && [ ! -L "/proc/$ppid/root/etc/resolv.conf" ] ||
	fail "resolv.conf in the container is not a file"
got=$(nsenter -t "$ppid" -n -m getent ahostsv4 web1.web.weft.local | awk 'NR == 1 {print $1}')
expect "getent in the --pid container" "$got" "$a4"
ok "--pid --dns: the process's own /etc/resolv.conf written (a symlink out of its root replaced, not followed)"

# Bad input changes nothing.
mkdir -p "$LOGDIR/nsdir" && touch "$LOGDIR/nsdir/c4"
newns c4
mount --bind "/run/netns/$(ns c4)" "$LOGDIR/nsdir/c4"
out=$(weftc 2 attach --service web --netns "$LOGDIR/nsdir/c4" --name web4 --dns 2>&1) &&
	fail "--dns with an unknown place was accepted: $out"
echo "$out" | has "does not know which filesystem is the container's" || fail "message: $out"
umount "$LOGDIR/nsdir/c4"
out=$(weftc 2 attach --service web --netns "$LOGDIR/resolv.conf" --name web4 --dns 2>&1) &&
	fail "--dns with a file for --netns was accepted: $out"
fake=$(ns fake)
ETCNS+=("$fake")
touch "/run/netns/$fake"
out=$(weftc 2 attach --service web --netns "/run/netns/$fake" --name web6 --dns 2>&1) &&
	fail "--dns with a file in /run/netns was accepted: $out"
rm -f "/run/netns/$fake"
echo "$out" | has "not a network namespace: /run/netns/$fake" || fail "message: $out"
[ ! -e "/etc/netns/$fake" ] || fail "/etc/netns/$fake left behind by a refused attach"
unshare --net --mount --propagation private sh -c "
	mount -t tmpfs -o ro tmpfs /etc && exec sleep 600" &
rpid=$!
PIDS+=("$rpid")
wait_for 5 sh -c "[ \"\$(stat -f -c %T /proc/$rpid/root/etc)\" = tmpfs ]" || fail "the read-only container did not start"
out=$(weftc 2 attach --service web --pid "$rpid" --name web5 --dns 2>&1) &&
	fail "--dns on a read-only root was accepted: $out"
echo "$out" | has -F "/proc/$rpid/root/etc/resolv.conf: Read-only file system (nothing attached)" ||
	fail "message: $out"
for c in web4 web5 web6; do
	weftc 2 dns list | has "^$c\." && fail "$c is in the zone after a refused attach"
	weftc 2 detach "$c" >/dev/null 2>&1 && fail "$c was attached"
done
kill "$rpid"
ok "--dns refused without a known place, for a file that is no namespace and on a read-only root, with the reason; nothing attached or written"

# The node's DNS on ::1 and the overlay IPv6.
o6=$(ip6_of 2)
expect "::1 on n2" "$(d n2 ::1 n1.weft.local A -p 15353)" 10.200.0.1
expect "::1 over TCP" "$(d n2 ::1 n1.weft.local AAAA -p 15353 +tcp)" fd00:200::1
expect "n2's overlay IPv6 on n2" "$(d n2 "$o6" web1.web.weft.local A -p 15353)" "$a4"
wait_for 10 sh -c "[ -n \"\$(ip netns exec $(ns n1) dig +short +time=1 +tries=1 -p 15353 @$o6 n2.weft.local A)\" ]" ||
	fail "n2's overlay IPv6 from n1"
expect "n2's overlay IPv6 from n1" "$(d n1 "$o6" web1.web.weft.local AAAA -p 15353)" "$a6"
ok "the node's DNS on ::1 and on its overlay IPv6 $o6 (from n2 and n1)"

# The underlay gets no answer.
in_ns out ping -c1 -W1 198.18.0.2 >/dev/null || fail "out cannot reach n2 at all"
# query_out: out asks every address on 53 and 15353, UDP and TCP; each must get nothing.
query_out() {
	local s p t got
	for s in "$gw4" "$gw6" 10.200.0.2 "$o6" 198.18.0.2 fd00:18::2; do
		for p in 53 15353; do
			for t in +notcp +tcp; do
				got=$(in_ns out dig +short +time=1 +tries=1 -p "$p" "@$s" web1.web.weft.local A "$t" 2>&1 | grep -v '^;;' || true)
				expect "out -> $s:$p $t ($1)" "$got" ""
			done
		done
	done
}
counter() { in_ns n2 nft list counter inet weft underlay_to_overlay | awk '$1 == "packets" { print $2 }'; }
before=$(counter)
query_out sealed
[ "$(counter)" -gt "$before" ] || fail "the seal's underlay_to_overlay counter did not rise ($before)"
in_ns n2 nft delete table inet weft
query_out "table deleted"
ok "the underlay gets no answer on 53 or 15353 (gateways, overlay addresses, n2's underlay address; UDP and TCP), sealed and with the table deleted"
