#!/usr/bin/env bash
# Bad input and lifecycle of weft-wg:
#   ns a [198.18.1.1] eth-b ===veth=== eth-a [198.18.1.2] ns b (sends garbage)
# - interface name too long, or taken by a non-TUN link: exit != 0, nothing touched;
# - malformed UAPI requests: errno=-22 and the configuration unchanged (nothing half applied);
# - random UDP datagrams of every length at the port: no crash, state unchanged, drops counted;
# - SIGTERM removes socket and interface; deleting the socket stops the daemon;
#   a second daemon on a live socket is refused.
source "$(dirname "$0")/lib.sh"

newns a
newns b
link a b 198.18.1.1/24 198.18.1.2/24
IF="wt$$r"
SOCK=/var/run/wireguard/$IF.sock

# Names.
if in_ns a "$WEFT_WG" 0123456789abcdef >"$LOGDIR/name.log" 2>&1; then fail "16-byte name accepted"; fi
grep -q "invalid interface name" "$LOGDIR/name.log" || fail "no clear message for a long name"
in_ns a ip link add "$IF" type bridge
if in_ns a "$WEFT_WG" "$IF" >"$LOGDIR/dummy.log" 2>&1; then fail "took over a bridge link"; fi
grep -q "not a TUN" "$LOGDIR/dummy.log" || fail "no clear message for a non-TUN link: $(cat "$LOGDIR/dummy.log")"
in_ns a ip -d link show "$IF" | has bridge || fail "the bridge link was changed"
[ ! -e "$SOCK" ] || fail "a socket was left behind"
in_ns a ip link del "$IF"
ok "bad interface names refused with a message, nothing touched"

start_wg a weft "$IF"
if in_ns a "$WEFT_WG" "$IF" >"$LOGDIR/second.log" 2>&1; then fail "second daemon on a live socket"; fi
ok "second daemon refused"
k=$(genkey)
p1=$(pubkey "$(genkey)")
p2=$(pubkey "$(genkey)")
in_ns a wg set "$IF" private-key <(echo "$k") listen-port 51820 \
	peer "$p1" allowed-ips 10.200.1.0/24,fd00:201::/64 endpoint 198.18.1.2:51820 persistent-keepalive 25
in_ns a ip link set "$IF" up
before=$(in_ns a wg showconf "$IF")
hex1=$(echo "$p1" | base64 -d | od -An -tx1 | tr -d ' \n')
hex2=$(echo "$p2" | base64 -d | od -An -tx1 | tr -d ' \n')

bad=(
	"set=1\nbogus_key=1\n\n"
	"set=1\nlisten_port=99999\n\n"
	"set=1\nlisten_port=12a\n\n"
	"set=1\nprivate_key=zz\n\n"
	"set=1\nreplace_peers=false\n\n"
	"set=1\npublic_key=$hex2\nendpoint=1.2.3.4\n\n"
	"set=1\npublic_key=$hex2\nendpoint=[fd00::1:51820\n\n"
	"set=1\npublic_key=$hex2\nallowed_ip=10.200.9.0/33\n\n"
	"set=1\npublic_key=$hex2\nallowed_ip=10.200.9.0\n\n"
	"set=1\npublic_key=$hex2\npersistent_keepalive_interval=70000\n\n"
	"set=1\npublic_key=$hex2\nallowed_ip=10.200.9.0/24\nlisten_port=1\n\n"
	"set=1\npublic_key=${hex2:0:60}\n\n"
	"set=1\nreplace_peers=true\npublic_key=$hex2\nprotocol_version=2\n\n"
	"set=1\npublic_key=$hex1\nremove=true\nnonsense\n\n"
	"set=1\nlisten_port=1000\nlisten_port=1001\n\n"
	"set=1\npublic_key=$hex2\nendpoint=1.2.3.4:5\nendpoint=1.2.3.4:6\n\n"
)
for req in "${bad[@]}"; do
	reply=$(python3 "$ROOT/tests/e2e/uapi_client.py" "$SOCK" "$req")
	[ "$reply" = "errno=-22" ] || fail "request '$req' answered '$reply'"
	[ "$(in_ns a wg showconf "$IF")" = "$before" ] || fail "request '$req' changed the configuration"
done
reply=$(python3 "$ROOT/tests/e2e/uapi_client.py" "$SOCK" "get=1\n\n")
grep -q "^public_key=$hex1$" <<<"$reply" || fail "get after bad requests: $reply"
ok "${#bad[@]} malformed UAPI requests: errno=-22, configuration unchanged"

# Unknown operation: the connection is closed without an answer (wireguard-go does so).
reply=$(python3 "$ROOT/tests/e2e/uapi_client.py" "$SOCK" "frobnicate=1\n\n" || true)
[ -z "$reply" ] || fail "unknown operation answered '$reply'"

n=$(in_ns b python3 "$ROOT/tests/e2e/udp_garbage.py" 198.18.1.1 51820 1600)
sleep 1
[ "$(in_ns a wg showconf "$IF")" = "$before" ] || fail "garbage datagrams changed the configuration"
stats=$("$WEFT_WG" --stats "$IF")
drops=$(awk -F= '/^rx_drop_/ { s += $2 } END { print s + 0 }' <<<"$stats")
[ "$drops" -gt 0 ] || fail "garbage not counted: $stats"
pgrep -f "weft-wg $IF\$" >/dev/null || fail "daemon died on garbage"
ok "$n garbage datagrams: alive, unchanged, $drops drops counted by reason"

# Lifecycle: SIGTERM.
pid=$(pgrep -nf "weft-wg $IF\$")
kill -TERM "$pid"
wait_for 5 exited "$pid" || fail "daemon alive after SIGTERM"
wait_for 5 test ! -e "$SOCK" || fail "socket left after SIGTERM"
wait_for 5 bash -c "! ip netns exec $(ns a) ip link show $IF" || fail "interface left after SIGTERM"
ok "SIGTERM: socket and interface removed"

# Lifecycle: deleting the socket.
start_wg a weft "$IF"
pid=$(pgrep -nf "weft-wg $IF\$")
rm -f "$SOCK"
wait_for 5 exited "$pid" || fail "daemon kept running without its socket"
wait_for 5 bash -c "! ip netns exec $(ns a) ip link show $IF" || fail "interface left after socket deletion"
ok "deleting the socket stops the daemon and removes the interface"
echo "PASS $TEST"
