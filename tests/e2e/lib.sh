# Shared helpers of the end-to-end scripts (sourced). Every script runs as root, creates its
# own namespaces named weft-<script>-<pid>-*, and removes them and every process in them on
# exit. Traffic stays inside those namespaces: 198.18.0.0/15 underlay, 10.200.0.0/16 and
# fd00::/8 inside the tunnels.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
WEFT_WG=${WEFT_WG:-$ROOT/build/src/daemon/weft-wg}
TEST=$(basename "$0" .sh)
PFX="w${TEST:0:4}$$"
LOGDIR=$(mktemp -d "/tmp/weft-e2e-$TEST.XXXXXX")
NAMESPACES=()
export WG_HIDE_KEYS=never

if [ "$(id -u)" -ne 0 ]; then
	echo "SKIP $TEST: needs root (network namespaces)"
	exit 77
fi
[ -x "$WEFT_WG" ] || { echo "FAIL $TEST: $WEFT_WG not built"; exit 1; }

cleanup() {
	local rc=$?
	for ns in "${NAMESPACES[@]}"; do
		ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null || true
	done
	sleep 0.3
	for ns in "${NAMESPACES[@]}"; do
		for _ in $(seq 30); do # sanitizer builds take a moment to exit and report
			[ -z "$(ip netns pids "$ns" 2>/dev/null)" ] && break
			sleep 0.1
		done
		ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
		ip netns del "$ns" 2>/dev/null || true
	done
	# A daemon built with sanitizers reports into its log; any report fails the test.
	if grep -lE "ERROR: (Address|Leak)Sanitizer|runtime error:" "$LOGDIR"/*.log 2>/dev/null; then
		echo "FAIL $TEST: sanitizer report in the daemon logs above"
		rc=1
	fi
	if [ $rc -ne 0 ]; then
		echo "--- logs of $TEST (kept in $LOGDIR)"
		tail -n 30 "$LOGDIR"/*.log 2>/dev/null || true
	else
		rm -rf "$LOGDIR"
	fi
	exit $rc
}
trap cleanup EXIT

ns() { echo "$PFX-$1"; }
newns() {
	local n
	n=$(ns "$1")
	ip netns add "$n"
	NAMESPACES+=("$n")
	ip -n "$n" link set lo up
}
in_ns() { local n=$1; shift; ip netns exec "$(ns "$n")" "$@"; }

fail() { echo "FAIL $TEST: $*" >&2; exit 1; }
# `... | has PATTERN`: grep that reads all of its input. `grep -q` exits at the first match,
# and under pipefail the writer's SIGPIPE then fails the pipe: `ip route` writes each route
# with its own write(2), so `ip route | grep -q "^default"` failed now and then.
has() { grep "$@" >/dev/null; }
# exited PID: the process has ended, all its threads (so its files are closed). A daemon's
# parent is the machine's init, which may reap it a second or two later: kill -0 still
# succeeds on the zombie. The thread-group leader is a zombie as soon as it is done, even
# while other threads are still on their way out: those are counted too.
exited() {
	local st tasks
	st=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
	st=${st##*) }
	case ${st:0:1} in Z | X) ;; *) return 1 ;; esac
	tasks=$(ls "/proc/$1/task" 2>/dev/null | wc -l)
	[ "$tasks" -le 1 ]
}
ok() { echo "ok - $*"; }

# veth between two namespaces: link A B addrA addrB (CIDR, e.g. 198.18.0.1/24)
link() {
	ip link add "$PFX-a" netns "$(ns "$1")" type veth peer "$PFX-b" netns "$(ns "$2")"
	in_ns "$1" ip link set "$PFX-a" name eth-"$2"
	in_ns "$2" ip link set "$PFX-b" name eth-"$1"
	in_ns "$1" ip addr add "$3" dev eth-"$2"
	in_ns "$2" ip addr add "$4" dev eth-"$1"
	in_ns "$1" ip link set eth-"$2" up
	in_ns "$2" ip link set eth-"$1" up
}

# Start a WireGuard daemon: start_wg NS IMPL IFNAME  (IMPL: weft | go)
start_wg() {
	local bin=$WEFT_WG
	[ "$2" = go ] && bin=wireguard-go
	in_ns "$1" env LOG_LEVEL=debug "$bin" "$3" >"$LOGDIR/$3.log" 2>&1 </dev/null ||
		fail "$2 could not create $3"
	[ -S "/var/run/wireguard/$3.sock" ] || fail "no UAPI socket for $3"
}

genkey() { wg genkey; }
pubkey() { echo "$1" | wg pubkey; }

wait_for() { # wait_for SECONDS CMD...
	local t=$1
	shift
	for _ in $(seq $((t * 10))); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}
