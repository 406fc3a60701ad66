#!/usr/bin/env bash
# weft-wg as wg-quick and wg users drive it (issue 13): what a drop-in for wireguard-go must do.
#
#   ns a [198.18.30.1] eth-b ===veth=== eth-a [198.18.30.2] ns b
#        wg-quick: wq<pid> 10.200.30.1        wgB 10.200.30.2 (weft-wg, configured with wg)
#   ns c: no route anywhere (an unreachable endpoint), one interface of each implementation
#
# 1. `out=$(wg-quick up x.conf 2>&1)` and `wg-quick up x.conf | tee`, with
#    WG_QUICK_USERSPACE_IMPLEMENTATION=weft-wg, return within seconds (the daemon holds none
#    of the caller's pipes; with LOG_LEVEL it logs to a file instead of the pipe), then a ping.
# 2. LOG_LEVEL=INFO, DEBUG, warn, 1 (unknown: one warning) do not stop wg-quick up.
# 3. `wg set ... listen-port P` with P in use says "Address already in use" (errno=-98).
# 4. `wg showconf` lists allowed IPs in the order they were added (not sorted), IPv4 and
#    IPv6 mixed, as wireguard-go does; after removing one, the others keep their order.
# 5. tx_bytes stays 0 while every handshake initiation is refused by the kernel (no route).
# 6. A set request that ends at EOF (no empty line; the last line with or without '\n') is
#    applied and answered errno=0, as wireguard-go does.
# Parts 3-6 also run against Debian's wireguard-go, which sets the expectations.
# PARTS=3456 (any of 1-6, default all) runs only those parts, and IMPLS="weft" only that one.
source "$(dirname "$0")/lib.sh"

newns a
newns b
newns c
link a b 198.18.30.1/24 198.18.30.2/24

B="wd$$b"
Q="wq$$"
kq=$(genkey); pq=$(pubkey "$kq")
kb=$(genkey); pb=$(pubkey "$kb")
start_wg b weft "$B"
in_ns b wg set "$B" private-key <(echo "$kb") listen-port 53002 peer "$pq" allowed-ips 10.200.30.1/32
in_ns b ip addr add 10.200.30.2/24 dev "$B"
in_ns b ip link set "$B" up
mkdir -p "$LOGDIR/q"
cat >"$LOGDIR/q/$Q.conf" <<CONF
[Interface]
PrivateKey = $kq
Address = 10.200.30.1/24
ListenPort = 53001

[Peer]
PublicKey = $pb
AllowedIPs = 10.200.30.2/32
Endpoint = 198.18.30.2:53002
CONF

quick() { # quick ENV... -- CMD: wg-quick with weft-wg in ns a
	in_ns a env WG_QUICK_USERSPACE_IMPLEMENTATION="$WEFT_WG" "$@"
}
quick_down() {
	in_ns a wg-quick down "$LOGDIR/q/$Q.conf" >>"$LOGDIR/wg-quick.log" 2>&1 || fail "wg-quick down"
	wait_for 5 test ! -e "/var/run/wireguard/$Q.sock" || fail "socket left after wg-quick down"
}
check_up() { # check_up TAG
	[ -S "/var/run/wireguard/$Q.sock" ] || fail "$1: no UAPI socket (not the userspace implementation?)"
	in_ns a ping -c 2 -W 5 10.200.30.2 >/dev/null || fail "$1: ping over the wg-quick interface"
}

# capture SECONDS NAME CMD...: `out=$(CMD 2>&1)` in the background (a daemon that holds the
# pipe would hang it, and a foreground capture would hang this script), waiting SECONDS at
# most; 0 if it returned, with the output in $LOGDIR/NAME.out and the status in .rc.
# (The | tee variant: NAME ending in "tee".)
capture() {
	local secs=$1 f="$LOGDIR/$2"
	shift 2
	rm -f "$f.out" "$f.rc"
	if [[ $f == *tee ]]; then
		( "$@" 2>&1 | tee "$f.out" >/dev/null; echo "${PIPESTATUS[0]}" >"$f.rc" ) &
	else
		( rc=0; out=$("$@" 2>&1) || rc=$?; printf '%s\n' "$out" >"$f.out"; echo $rc >"$f.rc" ) &
	fi
	wait_for "$secs" test -s "$f.rc"
}
# wg-quick up in ns a with weft-wg, captured: quick_up NAME [ENV=...]...
quick_up() {
	local name=$1
	shift
	capture 10 "$name" env WG_QUICK_USERSPACE_IMPLEMENTATION="$WEFT_WG" "$@" \
		ip netns exec "$(ns a)" wg-quick up "$LOGDIR/q/$Q.conf" ||
		fail "$name: wg-quick up did not return within 10 s (the daemon holds the caller's pipe)"
	cat "$LOGDIR/$name.out" >>"$LOGDIR/wg-quick.log"
	[ "$(cat "$LOGDIR/$name.rc")" = 0 ] ||
		fail "$name: wg-quick up exit $(cat "$LOGDIR/$name.rc"): $(cat "$LOGDIR/$name.out")"
}

part() { [[ ${PARTS:-123456} == *$1* ]]; }

# --- 1. output captured -------------------------------------------------------------------
if part 1; then
t0=$(date +%s%N)
quick_up capture
ms=$((($(date +%s%N) - t0) / 1000000))
check_up "captured wg-quick up"
quick_down
ok "out=\$(wg-quick up x.conf 2>&1) returned in $ms ms; the interface works"

t0=$(date +%s%N)
quick_up tee
ms=$((($(date +%s%N) - t0) / 1000000))
has "ip link add" "$LOGDIR/tee.out" || fail "tee got no wg-quick output: $(cat "$LOGDIR/tee.out")"
check_up "wg-quick up | tee"
quick_down
ok "wg-quick up x.conf 2>&1 | tee returned in $ms ms"

# With logging asked for and the caller's stderr a pipe: a log file, named on the pipe.
quick_up logfile LOG_LEVEL=debug
check_up "LOG_LEVEL=debug, captured"
logf="/var/log/weft-wg/$Q.log"
has -F "logging to $logf" "$LOGDIR/logfile.out" ||
	fail "the capture does not say where the log went: $(cat "$LOGDIR/logfile.out")"
has "$Q: up, listening on UDP port" "$logf" || fail "no log in $logf: $(tail -3 "$logf")"
quick_down
rm -f "$logf"
ok "LOG_LEVEL=debug with a captured stderr: returned, logged to $logf"
fi

# --- 2. LOG_LEVEL values ------------------------------------------------------------------
part 2 && for lvl in INFO DEBUG warn 1; do
	quick_up "level-$lvl" LOG_LEVEL=$lvl
	check_up "LOG_LEVEL=$lvl"
	n=$(grep -c "unknown LOG_LEVEL" "$LOGDIR/level-$lvl.out" || true)
	want=0
	[ "$lvl" = 1 ] && want=1
	[ "$n" = $want ] || fail "LOG_LEVEL=$lvl: $n warning lines, want $want: $(cat "$LOGDIR/level-$lvl.out")"
	quick_down
	rm -f "/var/log/weft-wg/$Q.log"
done
part 2 && ok "LOG_LEVEL=INFO, DEBUG, warn start wg-quick's interface; 1 too, with one warning"

# --- 3-6 against both implementations -----------------------------------------------------
PY="$ROOT/tests/e2e/uapi_client.py"
for impl in ${IMPLS:-go weft}; do
	C="wd$$${impl:0:1}"
	start_wg c "$impl" "$C"
	sock="/var/run/wireguard/$C.sock"

	# 3. the port-in-use error text (a port of its own per implementation: the holder's
	# process outlives the shell that started it, and lib.sh's cleanup ends it)
	if part 3; then
	busy=$((53110 + 10 * ${#impl}))
	in_ns c python3 -c 'import socket,time,sys
p=int(sys.argv[1]); s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.bind(("0.0.0.0",p))
s6=socket.socket(socket.AF_INET6,socket.SOCK_DGRAM)
s6.setsockopt(socket.IPPROTO_IPV6,socket.IPV6_V6ONLY,1); s6.bind(("::",p)); time.sleep(20)' $busy &
	wait_for 5 bash -c "ip netns exec $(ns c) ss -Huln | grep -c ':$busy ' | grep -qx 2" ||
		fail "the port holder did not bind $busy"
	rc=0
	msg=$(in_ns c wg set "$C" listen-port $busy 2>&1) || rc=$?
	[ $rc -ne 0 ] || fail "$impl: wg set listen-port on a port in use succeeded"
	has -F "Address already in use" <<<"$msg" || fail "$impl: wg set on a port in use said: $msg"
	reply=$(in_ns c python3 "$PY" "$sock" 'set=1\nlisten_port=53101\n\n')
	[ "$reply" = "errno=0" ] || fail "$impl: set listen_port answered '$reply'"
	ok "$impl: wg set listen-port <in use>: '$msg'"
	fi

	# 4. allowed IPs in insertion order
	kx=$(genkey); px=$(pubkey "$kx")
	in_ns c wg set "$C" private-key <(genkey) peer "$px"
	if part 4; then
	in_ns c wg set "$C" private-key <(genkey) peer "$px" \
		allowed-ips 10.200.31.0/24,fd00:31::/64,10.200.30.7/32,10.200.30.0/28,fd00:30::1/128,10.200.29.0/24
	in_ns c wg set "$C" peer "$px" allowed-ips \
		10.200.31.0/24,fd00:31::/64,10.200.30.7/32,10.200.30.0/28,fd00:30::1/128,10.200.29.0/24,192.168.255.0/24,10.0.0.0/8
	got=$(in_ns c wg showconf "$C" | sed -n 's/^AllowedIPs = //p')
	want="10.200.31.0/24, fd00:31::/64, 10.200.30.7/32, 10.200.30.0/28, fd00:30::1/128, 10.200.29.0/24, 192.168.255.0/24, 10.0.0.0/8"
	[ "$got" = "$want" ] || fail "$impl: showconf AllowedIPs '$got', want '$want'"
	reply=$(in_ns c python3 "$PY" "$sock" "set=1\npublic_key=$(echo "$px" | base64 -d | od -An -tx1 | tr -d ' \n')\nallowed_ip=-10.200.30.7/32\nallowed_ip=10.200.28.0/24\n\n")
	got=$(in_ns c wg showconf "$C" | sed -n 's/^AllowedIPs = //p')
	want="10.200.31.0/24, fd00:31::/64, 10.200.30.0/28, fd00:30::1/128, 10.200.29.0/24, 192.168.255.0/24, 10.0.0.0/8, 10.200.28.0/24"
	if [ "$reply" = "errno=0" ]; then
		[ "$got" = "$want" ] || fail "$impl: after a removal and an addition: '$got', want '$want'"
		ok "$impl: wg showconf keeps the order allowed IPs were added in (also after a removal)"
	else
		# Debian 12's wireguard-go does not know allowed_ip=- (it came in 2023).
		[ "$impl" = go ] || fail "$impl: allowed_ip removal answered '$reply'"
		ok "$impl: wg showconf keeps the order allowed IPs were added in ('$reply' to a removal)"
	fi
	fi

	# 5. tx_bytes without a route to the endpoint
	if part 5; then
	in_ns c ip addr add 10.200.32.1/24 dev "$C"
	in_ns c ip link set "$C" up
	in_ns c wg set "$C" peer "$px" endpoint 198.19.200.1:51820 allowed-ips 10.200.32.2/32
	in_ns c ping -c 3 -i 0.3 -W 1 10.200.32.2 >/dev/null 2>&1 || true
	sleep 5.5 # a retry after REKEY_TIMEOUT (5 s) too
	tx=$(in_ns c wg show "$C" dump | awk -v k="$px" '$1 == k { print $7 }')
	[ "$tx" = 0 ] || fail "$impl: tx_bytes $tx with no route to the endpoint"
	if [ "$impl" = weft ]; then
		errs=$("$WEFT_WG" --stats "$C" | sed -n 's/^tx_drop_send_error=//p')
		[ "${errs:-0}" -gt 0 ] || fail "weft: no send error counted: the initiation was not even tried"
		ok "$impl: tx_bytes 0 with no route to the endpoint ($errs initiations refused by the kernel)"
	else
		ok "$impl: tx_bytes 0 with no route to the endpoint"
	fi
	fi

	# 6. a set request ended by EOF, not by the empty line
	part 6 && for req in 'set=1\nlisten_port=53102\n' 'set=1\nlisten_port=53103'; do
		port=$(grep -o '5310[0-9]' <<<"$req")
		reply=$(in_ns c python3 - "$sock" "$req" <<'PYEOF'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(10)
s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode().decode("unicode_escape").encode())
s.shutdown(socket.SHUT_WR)
out = b""
while True:
    b = s.recv(4096)
    if not b:
        break
    out += b
print(out.decode().strip())
PYEOF
)
		[ "$reply" = "errno=0" ] || fail "$impl: set ended by EOF ('$req') answered '$reply'"
		in_ns c wg show "$C" listen-port | has -x "$port" ||
			fail "$impl: set ended by EOF ('$req') not applied: port $(in_ns c wg show "$C" listen-port)"
	done
	part 6 && ok "$impl: a set request ended by EOF (last line with and without '\\n') is applied, errno=0"
	in_ns c ip link del "$C"
	wait_for 5 test ! -e "$sock" || fail "$impl: $C did not exit on link deletion"
done
echo "PASS $TEST"
