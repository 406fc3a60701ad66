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
#             site's first node, same port or one given port (endpoint-independent mapping
#             and filtering).
#   none      no NAT (routes only; the wan does not know the LANs, so nothing gets out).
# Every mode also has the router's own input firewall, as home routers do: new packets from
# the wan to the router itself are dropped (NAT_ROUTER_FIREWALL=0 leaves it out; see below).
# block_sites on|off: UDP between site A's wan address (.10/.11) and B's (.20/.21) dropped on the wan bridge
# (table bridge weftblock in "ul"); both still reach the leader, the TURN server and the echo.
#
# Facts, measured with nat_punch.py (kernel 6.18, nftables 1.0.6; tests/e2e/nat_topology.sh
# asserts them): each side has one UDP socket, learns its public mapping from the STUN echo
# at 198.18.0.3:3479, then both send to the other's mapping every 100 ms for 3 s from the same
# moment. "roam" = a side that receives from another address than the published one answers
# there (what WireGuard does with endpoints); "no roam" = keeps sending to the published one.
# through = both sides receive; one-way X>Y = only Y receives (from X); n/N = runs through;
# every row held in every run (5 to 9 runs each) unless it says n/N.
#   A (n2)     B (n4)     path                 roam        no roam
#   ei         ei         public mappings      5/5 through through
#   ei         sym        public mappings      blocked     blocked
#   sym        ei         public mappings      blocked     blocked
#   sym        sym        public mappings      blocked     blocked
#   fullcone   sym        public mappings      through     one-way n4>n2 (n4's port toward
#                                                          n2 is not the one the echo saw)
#   fullcone   ei         public mappings      through     through
#   fullcone   fullcone   public mappings      through     through
#   fullcone   fullcone   block_sites on       blocked     blocked
#   same site (n2, n3; ei or sym) via public   blocked (no hairpin NAT on the router)
#   same site (n2, n3; ei or sym) via LAN      through
#   ei/ei WITHOUT the routers' input firewall: 1/5, 4/5, 2/4, 0/4, 2/3, 0/3, 0/3, 1/3, 1/3
#     through in nine rounds (13 of 33): the first packet to reach router B before n4's
#     first packet left is accepted as a packet to the router itself; its conntrack entry
#     (A:pa -> B:pb) makes
#     masquerade give n4's packets to A:pa another port pb', router A drops them (and
#     records its own such entry), and it stays stuck while either side keeps sending
#     (conntrack -L shows both UNREPLIED pairs). The wan is microseconds wide, so
#     "simultaneous" first packets rarely cross in flight; netem is not in this kernel.
# So: ei needs both sides to punch (no port prediction); sym is reachable only from a
# fullcone peer and only by answering where its packets come from (roaming); sym/sym and
# ei/sym need the relay; same-site peers need their LAN (host) candidates.
# Also measured: coturn answers a 20-byte Binding request with 80 bytes (500 of 500 at
# 500/s); weftd before issue 14 answers none; with weft before issue 14 the members behind
# NAT join the leader on the wan and reach it (and a member behind one router reaches the
# other over its LAN address, the one join advertises), members across the sites do not
# (n2's endpoint for n4 is n4's LAN address), and a member whose router changes its wan
# address reaches the leader again at once (WireGuard roaming at the leader). weft-wg alone,
# each side's endpoint set by hand to the other's listen port on its router's address
# (persistent keepalive 1 s): ei/ei first ping at once; fullcone/sym at once (the fullcone
# side roams to the symmetric side's real port); sym/fullcone after 5 s (one REKEY_TIMEOUT,
# an artifact of configuring n2 first); ei/sym and sym/sym never.
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
# shellcheck disable=SC2034 # read through site_wan's eval
WAN_a=198.18.0.10 # rebind a moves it to .11 and back
# shellcheck disable=SC2034
WAN_b=198.18.0.20 # rebind b: .21
site_wan() { eval "echo \$WAN_$1"; }
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

# nat_mode SITE ei|sym|fullcone|none [NODE [PORT]]: NODE (default: the site's first) is where
# fullcone forwards inbound UDP: to the same port, or with PORT (the node's WireGuard port)
# every port to that one, so that mappings made before a switch to fullcone (conntrack kept)
# also reach the node's socket, as they would on a real full-cone NAT.
nat_mode() {
	local s=$1 mode=$2 node=${3:-} port=${4:-} rules wan
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
		iifname wan ip daddr $wan udp dport 1024-65535 dnat to $(site_lan "$s").$node${port:+:$port}
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
	eval "NAT_MODE_$s=\"$mode $node $port\""
}

flush_conntrack() { in_ns "r$1" conntrack -F >/dev/null 2>&1 || true; }

# rebind SITE: the router's wan address changes (A: .10 <-> .11, B: .20 <-> .21, as after a
# DHCP renewal or a carrier NAT's reboot) and its conntrack is flushed: every mapping of the
# site's nodes changes, the NAT mode stays.
rebind() {
	local s=$1 old new mode
	old=$(site_wan "$s")
	case $old in
	198.18.0.10) new=198.18.0.11 ;; 198.18.0.11) new=198.18.0.10 ;;
	198.18.0.20) new=198.18.0.21 ;; 198.18.0.21) new=198.18.0.20 ;;
	esac
	# del first: deleting a primary address also deletes the secondaries of its subnet
	in_ns "r$s" ip addr del "$old/24" dev wan
	in_ns "r$s" ip addr add "$new/24" dev wan
	eval "WAN_$s=$new"
	# shellcheck disable=SC2046 # "MODE NODE PORT", split on purpose
	nat_mode "$s" $(eval "echo \$NAT_MODE_$s") # fullcone names the address
	flush_conntrack "$s"
}

block_sites() { # block_sites on|off
	if [ "$1" = on ]; then
		in_ns ul nft -f - <<-EOF || fail "block_sites on"
			table bridge weftblock
			delete table bridge weftblock
			table bridge weftblock {
				chain forward { type filter hook forward priority 0;
					ip saddr 198.18.0.10-198.18.0.11 ip daddr 198.18.0.20-198.18.0.21 meta l4proto udp counter drop
					ip saddr 198.18.0.20-198.18.0.21 ip daddr 198.18.0.10-198.18.0.11 meta l4proto udp counter drop
				}
			}
		EOF
	else
		in_ns ul nft delete table bridge weftblock 2>/dev/null || true
	fi
}

# start_turn [extra turnserver options]: coturn in "turn" with the TURN REST shared secret
# ${TURN_SERVER_SECRET:-$TURN_SECRET} (set TURN_SERVER_SECRET for a server that refuses the
# cluster's credentials), logging to $LOGDIR/turn.log (appended across restarts).
start_turn() {
	command -v turnserver >/dev/null || fail "turnserver not installed (scripts/deps.sh: coturn)"
	in_ns turn turnserver -n --no-tls --no-dtls --no-cli --no-auth-pings \
		--listening-ip "$TURN_IP" --relay-ip "$TURN_IP" --listening-port "$TURN_PORT" \
		--min-port 49152 --max-port 65535 --realm weft.test \
		--use-auth-secret --static-auth-secret "${TURN_SERVER_SECRET:-$TURN_SECRET}" \
		--userdb "$LOGDIR/turndb" --pidfile "$LOGDIR/turn.pid" \
		--verbose --simple-log --log-file "$LOGDIR/turn.log" --no-stdout-log "$@" \
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

# --- weft on the topology (issue 14's `weft peers --json`; see overlay_nat.sh)
TIMES=()

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
timing() { # timing CASE SECONDS: logged, and kept for the summary at the end
	echo "time: $1 $2 s"
	TIMES+=("$1: $2 s")
}

# pj I EXPR: EXPR (python) over nI's `weft peers --json` as j; p("nK") is that peer's object
# ({} when absent). Prints the value (booleans as 1/0); fails when the JSON or EXPR does.
# pj I EXPR: EXPR evaluated over nI's NAT state: j = `weft status --json`'s "nat" (type,
# reflexive [{server, mapped}], relay {server, state, relayed, error, bytes_*}, stun
# counters), p(NAME) = that peer of `weft peers --json` (path, endpoint, via, since_s, reason)
pj() {
	local out nat
	out=$(weftc "$1" peers --json 2>/dev/null) || return 1
	nat=$(weftc "$1" status --json 2>/dev/null) || return 1
	"$PY" -c '
import json, sys
peers = json.loads(sys.argv[2])
j = json.loads(sys.argv[3]).get("nat") or {}
def p(name):
    for x in peers:
        if x.get("name") == name:
            return x
    return {}
def relay_bytes():
    r = j.get("relay") or {}
    return int(r.get("bytes_to_peers", 0)) + int(r.get("bytes_from_peers", 0))
v = eval(sys.argv[1])
print(int(v) if isinstance(v, bool) else v)' "$2" "$out" "$nat"
}
path_of() { pj "$1" "p('n$2').get('path')"; }
dump_peers() { # for a failure message
	echo "--- weft peers of n$1:"
	weftc "$1" peers 2>&1 | head -c 3000
	echo
}

# deadline SECONDS [FROM]: the epoch time SECONDS after FROM (default: now)
deadline() { awk -v a="${2:-$(now)}" -v t="$1" 'BEGIN { printf "%.3f", a + t }'; }
before() { awk -v e="$1" -v n="$(now)" 'BEGIN { exit !(n < e) }'; }

# wait_path SECONDS I K PATH: until nI sees nK on PATH (polled every 0.2 s); 1 on timeout
wait_path() { wait_path_until "$(deadline "$1")" "${@:2}"; }
wait_path_until() { # wait_path_until END I K PATH
	while :; do
		[ "$(path_of "$2" "$3" 2>/dev/null)" = "$4" ] && return 0
		before "$1" || return 1
		sleep 0.2
	done
}
# wait_pair SECONDS PATH CASE [I K]: within SECONDS of $T0, nI sees nK and nK sees nI on PATH
# (default n2 and n4); logs and keeps the time it took.
wait_pair() {
	local t=$1 want=$2 name=$3 i=${4:-2} k=${5:-4} end
	end=$(deadline "$t" "$T0")
	wait_path_until "$end" "$i" "$k" "$want" ||
		{ dump_peers "$i"; fail "$name: n$i does not see n$k $want within $t s"; }
	wait_path_until "$end" "$k" "$i" "$want" ||
		{ dump_peers "$k"; fail "$name: n$k does not see n$i $want within $t s"; }
	timing "$name" "$(since "$T0")"
}

restart() { # restart I...: stop them all, then start them all; T0 = when the last is up
	local i
	for i in "$@"; do stop_node "$i"; done
	for i in "$@"; do start_node "$i"; done
	T0=$(now)
}

ping_ok() { in_ns "n$1" ping -c2 -i0.2 -W1 "$2" >/dev/null 2>&1; }
# traffic_resumes SECONDS FROM ADDR: until one ping gets through; prints how long it took
traffic_resumes() {
	local t0 end
	t0=$(now)
	end=$(deadline "$1" "$t0")
	while before "$end"; do
		in_ns "n$2" ping -c1 -W1 "$3" >/dev/null 2>&1 && { since "$t0"; return 0; }
	done
	return 1
}

relay_state_is() { [ "$(pj "$1" "(j.get('relay') or {}).get('state')")" = "$2" ]; }

