# Helpers of the NAT end-to-end scripts (sourced; after overlay_lib.sh's conventions: names
# $PFX-*, logs in $LOGDIR, every namespace and process removed on exit).
#
#                          "ul": bridge br0 = the wan, 198.18.0.0/24
#                                 (198.18.0.3: a STUN echo, nat_punch.py stun-server :3479)
#        ┌───────────────────┬──────────┴─────────┬──────────────────────────┐
#   n1 (leader)           turn                   ra (router A)              rb (router B)
#   198.18.0.1            198.18.0.2             wan 198.18.0.10            wan 198.18.0.20
#                         coturn :3478 udp+tcp   nft table ip weftnat       nft table ip weftnat
#                         relays 49152-65535     lan 198.19.1.1/24 (br0)    lan 198.19.2.1/24 (br0)
#                                                 ├─ n2 198.19.1.2           ├─ n4 198.19.2.4
#                                                 └─ n3 198.19.1.3           └─ n5 198.19.2.5
#
# Node I sits in namespace nI (overlay_lib.sh's weft/weftc/start_node/join_node work as is);
# a node behind router A or B has default route via the router. The sites' LANs are
# 198.19.S.0/24, not 10.200.S.0/24: weftd's own table (platform/linux/firewall.c) drops
# underlay packets from or to the cluster network 10.200.0.0/16 (spoofed_source,
# underlay_to_overlay), so a LAN inside it would cut the node off.
#
# NAT modes of a router (nat_mode SITE MODE; SITE a|b): one nftables table of the test's own,
# "ip weftnat", replaced atomically; conntrack entries made before a change keep their old
# mapping until flush_conntrack SITE (a real router's reboot does the same).
#   ei        masquerade: Linux keeps the source port when it is free, so one socket has one
#             public mapping whatever the destination (endpoint-independent mapping); inbound
#             is filtered by conntrack (only replies get in: address-and-port-dependent
#             filtering).
#   sym       masquerade fully-random (iptables' --random-fully): a fresh random port per
#             destination (endpoint-dependent mapping, "symmetric").
#   fullcone  snat keeping the port + every inbound UDP port 1024-65535 dnat'ed back to the
#             site's first node (endpoint-independent mapping and filtering).
#   none      no NAT (routes only; the wan does not know the LANs, so nothing gets out).
# Every mode also has the router's own input firewall, as home routers do: new packets from
# the wan to the router itself are dropped (NAT_ROUTER_FIREWALL=0 leaves it out; see below).
# block_sites on|off: UDP between 198.18.0.10 and 198.18.0.20 dropped on the wan bridge
# (table bridge weftblock in "ul"); both still reach the leader, the TURN server and the echo.
#
# Facts, measured with nat_punch.py (kernel 6.18, nftables 1.0.6; tests/e2e/nat_topology.sh
# asserts them): each side has one UDP socket, learns its public mapping from the STUN echo
# at 198.18.0.3:3479, then both send to the other's mapping every 100 ms for 3 s from the same
# moment. "roam" = a side that receives from another address than the published one answers
# there (what WireGuard does with endpoints); "no roam" = keeps sending to the published one.
# through = both sides receive; one-way X>Y = only Y receives (from X); n/N = runs through.
#   A (n2)     B (n4)     path                 roam        no roam
#   ei         ei         public mappings      5/5 through through
#   ei         sym        public mappings      blocked     blocked
#   sym        ei         public mappings      blocked     blocked
#   sym        sym        public mappings      blocked     blocked
#   fullcone   sym        public mappings      through     one-way n4>n2 (n4's port toward
#                                                          n2 is not the one the echo saw)
#   fullcone   ei         public mappings      through     mostly one-way n4>n2
#   fullcone   fullcone   public mappings      through     through
#   fullcone   fullcone   block_sites on       blocked     blocked
#   same site (n2, n3; ei or sym) via public   blocked (no hairpin NAT on the router)
#   same site (n2, n3; ei or sym) via LAN      through
#   ei/ei WITHOUT the routers' input firewall: 1/5, 4/5, 2/4, 0/4 through in four rounds: the
#     first packet to reach router B before n4's first packet left is accepted as a packet to
#     the router itself; its conntrack entry (A:pa -> B:pb) makes masquerade give n4's
#     packets to A:pa another port pb', router A drops them, and it stays stuck while either
#     side keeps sending (conntrack -L shows both UNREPLIED pairs). A wan of microseconds
#     makes "simultaneous" first packets rarely cross in flight; netem is not in this kernel.
# So: ei needs both sides to punch (no prediction needed); sym is reachable only from a
# fullcone peer and only by roaming to where its packets come from; sym/sym and ei/sym need
# the relay; same-site peers need their LAN (host) candidates.
source "$(dirname "${BASH_SOURCE[0]}")/overlay_lib.sh"

PUNCH=$ROOT/tests/e2e/nat_punch.py
PY=/usr/bin/python3
TURN_IP=198.18.0.2
TURN_PORT=3478
TURN_SECRET=${TURN_SECRET:-weft-nat-test-secret}
ECHO_IP=198.18.0.3
ECHO_PORT=3479
SITE_A_NODES=()
SITE_B_NODES=()
_nat_veth=0

# veth_pair NS1 IF1 NS2 IF2: one veth, IF1 in NS1 and IF2 in NS2 (names unique per call)
veth_pair() {
	_nat_veth=$((_nat_veth + 1))
	local x="$PFX-x$_nat_veth" y="$PFX-y$_nat_veth"
	ip link add "$x" netns "$(ns "$1")" type veth peer "$y" netns "$(ns "$3")"
	in_ns "$1" ip link set "$x" name "$2"
	in_ns "$3" ip link set "$y" name "$4"
}

# wan_port NS IF: IF in NS is a port of the wan bridge
wan_port() {
	veth_pair ul "p-$1" "$1" "$2"
	in_ns ul ip link set "p-$1" master br0 up
}

site_lan() { [ "$1" = a ] && echo 198.19.1 || echo 198.19.2; }
site_wan() { [ "$1" = a ] && echo 198.18.0.10 || echo 198.18.0.20; }
site_of() { # site_of I: a or b (or "wan" for the leader)
	local k
	for k in "${SITE_A_NODES[@]}"; do [ "$k" = "$1" ] && { echo a; return; }; done
	for k in "${SITE_B_NODES[@]}"; do [ "$k" = "$1" ] && { echo b; return; }; done
	echo wan
}
lan_ip() { echo "$(site_lan "$(site_of "$1")").$1"; }

# nat_topology "A-NODES" "B-NODES": e.g. nat_topology "2 3" "4". Builds the wan with n1, the
# turn namespace and the echo, the two routers (NAT mode ei) and the nodes; starts the echo.
nat_topology() {
	read -ra SITE_A_NODES <<<"$1"
	read -ra SITE_B_NODES <<<"$2"
	newns ul
	in_ns ul ip link add br0 type bridge
	in_ns ul ip link set br0 up
	in_ns ul ip addr add "$ECHO_IP/24" dev br0
	newns n1
	wan_port n1 eth0
	in_ns n1 ip addr add 198.18.0.1/24 dev eth0
	in_ns n1 ip link set eth0 up
	newns turn
	wan_port turn eth0
	in_ns turn ip addr add "$TURN_IP/24" dev eth0
	in_ns turn ip link set eth0 up
	local s i
	for s in a b; do
		newns "r$s"
		wan_port "r$s" wan
		in_ns "r$s" ip addr add "$(site_wan $s)/24" dev wan
		in_ns "r$s" ip link set wan up
		in_ns "r$s" ip link add br0 type bridge
		in_ns "r$s" ip addr add "$(site_lan $s).1/24" dev br0
		in_ns "r$s" ip link set br0 up
		in_ns "r$s" sysctl -qw net.ipv4.ip_forward=1
		local nodes
		if [ $s = a ]; then nodes=("${SITE_A_NODES[@]}"); else nodes=("${SITE_B_NODES[@]}"); fi
		for i in "${nodes[@]}"; do
			newns "n$i"
			veth_pair "r$s" "l$i" "n$i" eth0
			in_ns "r$s" ip link set "l$i" master br0 up
			in_ns "n$i" ip addr add "$(site_lan $s).$i/24" dev eth0
			in_ns "n$i" ip link set eth0 up
			in_ns "n$i" ip route add default via "$(site_lan $s).1"
		done
		nat_mode $s ei
	done
	in_ns ul "$PY" "$PUNCH" stun-server --bind "$ECHO_IP:$ECHO_PORT" --seconds 900 \
		>>"$LOGDIR/echo.log" 2>&1 &
	for s in "${SITE_A_NODES[@]}" "${SITE_B_NODES[@]}"; do
		wait_for 5 in_ns "n$s" ping -c1 -W1 198.18.0.1 || fail "n$s cannot reach the wan"
	done
	wait_for 5 in_ns n1 "$PY" "$PUNCH" stun --stun "$ECHO_IP:$ECHO_PORT" ||
		fail "the STUN echo does not answer"
}

# nat_mode SITE ei|sym|fullcone|none [NODE]: NODE (default: the site's first) is where
# fullcone forwards inbound UDP.
nat_mode() {
	local s=$1 mode=$2 node=${3:-} rules wan
	wan=$(site_wan "$s")
	if [ -z "$node" ]; then
		if [ "$s" = a ]; then node=${SITE_A_NODES[0]}; else node=${SITE_B_NODES[0]}; fi
	fi
	case $mode in
	ei) rules="chain post { type nat hook postrouting priority srcnat
		oifname wan masquerade
	}" ;;
	sym) rules="chain post { type nat hook postrouting priority srcnat
		oifname wan masquerade fully-random
	}" ;;
	fullcone) rules="chain pre { type nat hook prerouting priority dstnat
		iifname wan ip daddr $wan udp dport 1024-65535 dnat to $(site_lan "$s").$node
	}
	chain post { type nat hook postrouting priority srcnat
		oifname wan snat to $wan
	}" ;;
	none) rules="" ;;
	*) fail "nat_mode: unknown mode $mode" ;;
	esac
	# The router's own firewall, as on any home router: unsolicited packets to the router
	# itself are dropped in input, before conntrack confirms them (an accepted one would leave
	# an entry that steals the port masquerade wants to keep for the LAN's next packet out).
	[ "${NAT_ROUTER_FIREWALL:-1}" = 1 ] && rules="$rules
	chain input { type filter hook input priority filter
		iifname wan ct state new drop
	}"
	in_ns "r$s" nft -f - <<-EOF || fail "nat_mode $s $mode"
		table ip weftnat
		delete table ip weftnat
		table ip weftnat {
		$rules
		}
	EOF
	eval "NAT_MODE_$s=$mode"
}

flush_conntrack() { in_ns "r$1" conntrack -F >/dev/null 2>&1 || true; }

block_sites() { # block_sites on|off
	if [ "$1" = on ]; then
		in_ns ul nft -f - <<-EOF || fail "block_sites on"
			table bridge weftblock
			delete table bridge weftblock
			table bridge weftblock {
				chain forward { type filter hook forward priority 0;
					ip saddr 198.18.0.10 ip daddr 198.18.0.20 meta l4proto udp counter drop
					ip saddr 198.18.0.20 ip daddr 198.18.0.10 meta l4proto udp counter drop
				}
			}
		EOF
	else
		in_ns ul nft delete table bridge weftblock 2>/dev/null || true
	fi
}

# start_turn [extra turnserver options]: coturn in "turn", TURN REST secret $TURN_SECRET
# (override with --static-auth-secret later in the options), logs to $LOGDIR/turn.log.
start_turn() {
	command -v turnserver >/dev/null || fail "turnserver not installed (scripts/deps.sh: coturn)"
	in_ns turn turnserver -n --no-tls --no-dtls --no-cli --no-auth-pings \
		--listening-ip "$TURN_IP" --relay-ip "$TURN_IP" --listening-port "$TURN_PORT" \
		--min-port 49152 --max-port 65535 --realm weft.test \
		--use-auth-secret --static-auth-secret "$TURN_SECRET" \
		--userdb "$LOGDIR/turndb" --pidfile "$LOGDIR/turn.pid" \
		--simple-log --log-file "$LOGDIR/turn.log" --no-stdout-log "$@" \
		</dev/null >/dev/null 2>&1 &
	wait_for 10 in_ns n1 "$PY" "$PUNCH" stun --stun "$TURN_IP:$TURN_PORT" ||
		fail "coturn does not answer STUN on $TURN_IP:$TURN_PORT: $(tail -n 5 "$LOGDIR/turn.log")"
}

stop_turn() {
	local pid
	for pid in $(ip netns pids "$(ns turn)" 2>/dev/null); do kill "$pid" 2>/dev/null || true; done
	for _ in $(seq 50); do
		[ -z "$(ip netns pids "$(ns turn)" 2>/dev/null)" ] && return 0
		sleep 0.1
	done
	fail "turnserver did not stop"
}

# punch NODE-A NODE-B [public|lan] [nat_punch.py peer options, e.g. --no-roam]: a
# simultaneous punch between the two nodes (nat_punch.py peer on each side, same start time,
# WireGuard-like roaming unless --no-roam); prints "through", "one-way A>B", "one-way B>A" or
# "blocked", and leaves the two results in a fresh $LOGDIR/punch.XXXX/ (punch runs in $(...),
# so a counter would not survive it).
punch() {
	local a=$1 b=$2 target=${3:-public} d start ra rb
	shift 3 || shift $#
	d=$(mktemp -d "$LOGDIR/punch.XXXX")
	start=$(awk -v t="$(date +%s.%N)" 'BEGIN { printf "%.3f", t + 1.5 }')
	in_ns "n$a" "$PY" "$PUNCH" peer --name "n$a" --peer "n$b" --dir "$d" \
		--stun "$ECHO_IP:$ECHO_PORT" --target "$target" --start-at "$start" "$@" >"$d/a.out" 2>&1 &
	local pa=$!
	in_ns "n$b" "$PY" "$PUNCH" peer --name "n$b" --peer "n$a" --dir "$d" \
		--stun "$ECHO_IP:$ECHO_PORT" --target "$target" --start-at "$start" "$@" >"$d/b.out" 2>&1 &
	local pb=$!
	wait $pa || true
	wait $pb || true
	ra=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["received"])' \
		"$d/n$a.result.json" 2>/dev/null || echo 0)
	rb=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["received"])' \
		"$d/n$b.result.json" 2>/dev/null || echo 0)
	if [ "$ra" -gt 0 ] && [ "$rb" -gt 0 ]; then echo through
	elif [ "$rb" -gt 0 ]; then echo "one-way n$a>n$b"
	elif [ "$ra" -gt 0 ]; then echo "one-way n$b>n$a"
	else echo blocked
	fi
}
