# Helpers of the overlay end-to-end scripts (sourced after lib.sh's conventions).
#
#   underlay: namespace "ul" holds bridge br0; node namespaces n1..nN each have eth0
#   198.18.0.N/24 on it. Every node's weftd keeps its state in $LOGDIR/nN and logs to
#   $LOGDIR/nN.log; its WireGuard interface is named $PFX-N (UAPI sockets live in the one
#   /var/run/wireguard all namespaces share, so names must differ).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BIN=$(cd "$(dirname "$WEFT_WG")/.." && pwd)
WEFTD=$BIN/daemon/weftd
WEFT=$BIN/cli/weft
[ -x "$WEFTD" ] && [ -x "$WEFT" ] || fail "weftd/weft not built in $BIN"
# Test-tunable timers: fast health and view pulls.
WEFTD_OPTS=${WEFTD_OPTS:---health-interval 500 --health-timeout 3000 --pull-interval 2000 --log-level debug}

underlay() { # underlay N: namespaces ul, n1..nN
	newns ul
	in_ns ul ip link add br0 type bridge
	in_ns ul ip link set br0 up
	for i in $(seq "$1"); do add_node_ns "$i"; done
}

add_node_ns() {
	local i=$1
	newns "n$i"
	ip link add "$PFX-u$i" netns "$(ns ul)" type veth peer "$PFX-e$i" netns "$(ns "n$i")"
	in_ns ul ip link set "$PFX-u$i" master br0 up
	in_ns "n$i" ip link set "$PFX-e$i" name eth0
	in_ns "n$i" ip addr add "198.18.0.$i/24" dev eth0
	in_ns "n$i" ip link set eth0 up
}

ifname() { echo "$PFX-$1"; }
dir() { echo "$LOGDIR/n$1"; }
weft() { local i=$1; shift; in_ns "n$i" "$WEFT" -d "$(dir "$i")" "$@"; }
# weft with the data dir after the subcommand words (weft token create -d ...)
weftc() { local i=$1; shift; in_ns "n$i" env WEFT_DATA_DIR="$(dir "$i")" "$WEFT" "$@"; }

start_node() { # start_node I [extra weftd options]
	local i=$1
	shift
	in_ns "n$i" "$WEFTD" --data-dir "$(dir "$i")" --interface "$(ifname "$i")" \
		--log-file "$LOGDIR/n$i.log" $WEFTD_OPTS "$@" </dev/null 2>>"$LOGDIR/n$i.log" ||
		fail "weftd of n$i did not start: $(tail -n 5 "$LOGDIR/n$i.log")"
}

stop_node() {
	local pid
	pid=$(pgrep -nf "weftd --data-dir $(dir "$1") " || true)
	[ -n "$pid" ] || return 0
	kill "$pid"
	for _ in $(seq 50); do exited "$pid" && return 0; sleep 0.1; done
	fail "weftd of n$1 did not stop"
}

init_leader() { # init_leader [extra init options]
	weftc 1 init --name n1 --endpoint 198.18.0.1 "$@" >/dev/null || fail "weft init"
	start_node 1
}

join_node() { # join_node I [extra join options]: the token in a file, never on a command line
	local i=$1 tok=$LOGDIR/n$1.token
	shift
	(umask 077 && weftc 1 token create >"$tok") || fail "token create"
	weftc "$i" join --token-file "$tok" --name "n$i" --no-start "$@" >/dev/null || fail "n$i join"
	start_node "$i"
}

ip4_of() { weftc "$1" status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["node"]["ip4"])'; }
ip6_of() { weftc "$1" status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["node"]["ip6"])'; }
