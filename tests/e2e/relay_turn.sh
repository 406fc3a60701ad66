#!/usr/bin/env bash
# The relay (daemon/relay.c) against a real coturn (Debian's `coturn`, started here).
#
#   [srv] 198.18.40.1/24 ---- veth ---- [node] 198.18.40.2/24 (relay: dmn_relay)
#    turnserver :3478 (use-auth-secret)          198.18.40.3/24 ("the peer": a plain UDP
#    turnserver :3479 (lt-cred-mech, static user)                 socket, as a peer's
#    turnserver :3480 (started late: "server down")               WireGuard socket)
#                                                 127.0.0.1:P ("the device")
#
# weft-relay-probe runs in [node] and plays relay, device and peer: the peer sends straight to
# the relayed address; the relay hands the payload to the device from a loopback forwarder;
# the device answers to the forwarder and the peer gets it from the relayed address (Send
# indication, then ChannelData once the channel is bound): 200 rounds byte for byte with
# static credentials, 20 with TURN REST credentials; a foreign datagram to a forwarder dropped
# and counted; expired REST credentials and a wrong password refused with a clear status and
# a retry (new credentials then allocate); the deallocation on free seen in coturn's log;
# a server that is down: "server did not answer"
# and retries until it is started. coturn needs no option to relay to 198.18.0.0/15 peers
# (only loopback peers need --allow-loopback-peers); one instance cannot mix use-auth-secret
# with static users (the secret wins), hence two.
source "$(dirname "$0")/lib.sh"

command -v turnserver >/dev/null || { echo "SKIP $TEST: turnserver (coturn) not installed"; exit 77; }
BUILD=${WEFT_WG%/src/daemon/weft-wg}
PROBE=$BUILD/tests/weft-relay-probe
[ -x "$PROBE" ] || fail "$PROBE not built"

newns srv
newns node
link srv node 198.18.40.1/24 198.18.40.2/24
in_ns node ip addr add 198.18.40.3/24 dev eth-srv

# turn NAME PORT MINPORT AUTH...: a turnserver in [srv], in the foreground of a background job
# (no daemon mode, no config file, no TLS/DTLS/CLI listeners), its files in $LOGDIR.
turn() {
	local name=$1 port=$2 min=$3
	shift 3
	in_ns srv turnserver -n --listening-ip=198.18.40.1 --relay-ip=198.18.40.1 \
		--listening-port="$port" --min-port="$min" --max-port=$((min + 99)) \
		--no-tls --no-dtls --no-cli --realm=weft.test --no-software-attribute \
		--userdb="$LOGDIR/$name.db" --pidfile="$LOGDIR/$name.pid" \
		--log-file="$LOGDIR/$name.log" --simple-log --no-stdout-log --verbose "$@" \
		>"$LOGDIR/$name.out" 2>&1 &
	wait_for 5 sh -c "ip netns exec $(ns srv) ss -Hlun | grep -q '198.18.40.1:$port '" ||
		fail "turnserver $name did not listen on :$port"
}
turn rest 3478 49200 --use-auth-secret --static-auth-secret=s3cret
turn static 3479 49300 --lt-cred-mech --user=node-b:pw-b

probe() { in_ns node "$PROBE" "$@" 2>>"$LOGDIR/probe.log"; }

probe 198.18.40.1 3479 data node-b pw-b 198.18.40.3 || fail "data through coturn (static credentials)"
ok "static credentials: data both ways through coturn"
# dmn_relay_free deallocated: coturn logged the Refresh with lifetime 0 (--verbose).
wait_for 3 grep -q "refreshed, realm=<weft.test>, username=<node-b>, lifetime=0" "$LOGDIR/static.log" ||
	fail "no deallocation (Refresh with lifetime 0) in coturn's log"
ok "the allocation was deallocated when the relay was freed"
# Throughput and the relay thread's CPU (printed, not judged: the machine is shared).
probe 198.18.40.1 3479 bench node-b pw-b 198.18.40.3 16 || fail "bench through coturn"
probe 198.18.40.1 3478 rest s3cret 198.18.40.3 || fail "data through coturn (REST credentials)"
ok "TURN REST credentials: data both ways"
probe 198.18.40.1 3478 expired s3cret || fail "expired REST credentials"
ok "expired REST credentials refused"
probe 198.18.40.1 3479 refused node-b wrong pw-b || fail "wrong password, then the right one"
ok "wrong password: clear status, then allocated with new credentials"

# Server down: nothing on :3480 until the probe reports the failure.
in_ns node "$PROBE" 198.18.40.1 3480 down node-b pw-b >"$LOGDIR/down.out" 2>>"$LOGDIR/probe.log" &
down_pid=$!
wait_for 60 grep -q '^failed:' "$LOGDIR/down.out" || fail "no failure reported for a server that is down"
cat "$LOGDIR/down.out"
turn late 3480 49400 --lt-cred-mech --user=node-b:pw-b
wait "$down_pid" || { cat "$LOGDIR/down.out"; fail "no allocation once the server was up"; }
tail -n 2 "$LOGDIR/down.out"
ok "server down: \"server did not answer\", retried, allocated once it was up"

# Every turnserver is still running (nothing here made one exit).
for n in rest static late; do
	kill -0 "$(cat "$LOGDIR/$n.pid")" 2>/dev/null || fail "turnserver $n exited"
done
ok "every turnserver still up; they and the namespaces go at exit"
