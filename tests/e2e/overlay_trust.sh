#!/bin/bash
# The control plane's trust model under attack (issue 11): each attack that worked against the
# address-trusting control channels is performed again and must fail, next to the legitimate
# operation that must still work.
#
#   n1 (leader) 198.18.0.1, n2 .2, n3 .3, n4 .4 (joins late) ── br0 in "ul"
#   n5 198.18.0.5 to .14: a host on the underlay that is no member (the outsider)
#
#   1. forged view: uid 65534 on the leader's host sends n2 a view (v1 plain frame; v2 with
#      its own key): refused, n2's view and peers unchanged; a real change still arrives.
#   2. impersonation: uid 65534 on n3 asks the leader to re-point `leader` (v1; v2 with its
#      own key): refused; it cannot read n3's key nor talk to n3's weftd socket.
#   3. records: n3 (root) cannot add a record shadowing `leader` or a node, nor remove the
#      admin's record; its own record works.
#   4. quota: n3 asks for service subnets until the quota stops it; a join still gets an address.
#   5. WELCOME rewrite: an on-path holder of the token relays a victim's join and flips a
#      byte of the WELCOME, or answers as the leader itself: the join fails, nothing is kept.
#   6. expired token at JOIN: a token that expires between the handshake and the JOIN.
#   7. floods on the join port: trickling connections (from 10 addresses, more than the
#      port's budget) and 4 MiB "handshakes" from the outsider while `weft status`, `weft
#      token create` and a real join keep working; the leader's peak RSS stays under 100 MB.
#   8. a local user on n3 holds n3's share of the leader's control port with connections that
#      never finish a handshake: n3's own requests still get through.
#   9. a local user on n3 answers the leader's health probes for n3 (the probe port is UDP on
#      the overlay address): its echoes are not counted.
source "$(dirname "$0")/overlay_lib.sh"

PROBE=$BIN/../tests/weft-ctl-probe
[ -x "$PROBE" ] || fail "$PROBE not built"
NOBODY=(setpriv --reuid 65534 --regid 65534 --clear-groups --)
PY3=/usr/bin/python3 # the system's: a per-user python (pyenv) may not run for uid 65534
CTL=51421

underlay 5
for a in $(seq 6 14); do in_ns n5 ip addr add "198.18.0.$a/24" dev eth0; done
init_leader
join_node 2
join_node 3
wait_for 10 in_ns n2 ping -c1 -W1 10.200.0.3 || fail "n2 -> n3"
chmod 755 "$LOGDIR" # the state directories inside stay 0700: nobody must not read them

status() { weftc "$1" status --json; }
gen_of() { status "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["node"]["generation"])'; }
key_of() { status "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["node"]["public_key"])'; }
key1=$(key_of 1)
key2=$(key_of 2)
key3=$(key_of 3)

# --- 1. a forged view from an unprivileged local user on the leader's host ------------------
gen=$(gen_of 2)
forged=$(python3 - "$key3" <<'PY'
import json, sys
print(json.dumps({"generation": 2**63 - 1, "leader": "n1", "nodes": [], "subnets": [],
                  "services": [], "records": [], "forged_key": sys.argv[1]}))
PY
)
out=$(in_ns n1 "${NOBODY[@]}" "$PROBE" --connect 10.200.0.2:$CTL --v1 6 "$forged" 2>&1) || true
echo "$out" | has "^closed" || fail "n2 answered a plain v1 view: $out"
out=$(in_ns n1 "${NOBODY[@]}" "$PROBE" --connect 10.200.0.2:$CTL --overlay \
	--remote-key "$key2" --view "$forged" 2>&1) && fail "n2 took a view from a stranger's key: $out"
echo "$out" | has "^refused" || fail "stranger's key: $out"
wait_for 3 grep -q "control: connection from 10.200.0.1 refused: key .* is not the leader's" \
	"$LOGDIR/n2.log" || fail "n2 did not log the refused key"
[ "$(gen_of 2)" = "$gen" ] || fail "n2's view generation moved: $(gen_of 2)"
in_ns n2 wg show "$(ifname 2)" peers | has -x "$(echo "$key3" | tr -d '\n')" || fail "n2 lost n3's key"
out=$(in_ns n1 "${NOBODY[@]}" "$WEFT" -d "$(dir 1)" status 2>&1) && fail "nobody used weftd's socket"
weftc 1 dns add probe-rec 10.200.0.99 >/dev/null || fail "admin dns add"
wait_for 10 sh -c "[ \$($WEFT -d $(dir 2) status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"node\"][\"generation\"])') -gt $gen ]" ||
	fail "a real view no longer reaches n2"
in_ns n2 ping -c1 -W2 10.200.0.3 >/dev/null || fail "n2 -> n3 after the forged views"
ok "forged views from a local user refused; real views still arrive"

# --- 2. a local user on n3 acting as n3 toward the leader -----------------------------------
repoint='{"op":"dns-add","name":"leader","addr":"198.18.0.66"}'
out=$(in_ns n3 "${NOBODY[@]}" "$PROBE" --connect 10.200.0.1:$CTL --v1 7 "$repoint" 2>&1) || true
echo "$out" | has "^closed" || fail "the leader answered a plain v1 request: $out"
out=$(in_ns n3 "${NOBODY[@]}" "$PROBE" --connect 10.200.0.1:$CTL --overlay \
	--remote-key "$key1" --request "$repoint" 2>&1) && fail "leader took a stranger's request"
echo "$out" | has "^refused" || fail "stranger's request: $out"
wait_for 3 grep -q "control: connection from 10.200.0.3 refused: key .* is not a member's" \
	"$LOGDIR/n1.log" || fail "the leader did not log the refused key"
in_ns n3 "${NOBODY[@]}" cat "$(dir 3)/private.key" >/dev/null 2>&1 && fail "nobody read n3's key"
in_ns n3 "${NOBODY[@]}" "$WEFT" -d "$(dir 3)" dns add leader 198.18.0.66 >/dev/null 2>&1 &&
	fail "nobody used n3's weftd socket"
in_ns n2 dig +short -p 15353 @127.0.0.1 leader.weft.local | has -x 10.200.0.1 ||
	fail "leader.weft.local moved"
# The legitimate path: n3's own key, over the overlay.
out=$(in_ns n3 "$PROBE" --connect 10.200.0.1:$CTL --overlay --remote-key "$key1" \
	--key-file "$(dir 3)/private.key" --request '{"op":"get-view","generation":0}' 2>&1) ||
	fail "n3 with its own key: $out"
ok "impersonation of n3 by a local user refused; n3 itself is served"

# --- 3. records: owned, and no shadowing ----------------------------------------------------
for name in leader n2 node-0-2 leader.weft.local.; do
	out=$(weftc 3 dns add "$name" 10.200.0.66 2>&1) && fail "n3 added a record shadowing $name"
done
weftc 3 dns add n3-extra 10.200.0.77 >/dev/null || fail "n3's own record"
weftc 1 dns add admin-rec 10.200.0.88 >/dev/null || fail "admin record"
out=$(weftc 3 dns rm admin-rec 2>&1) && fail "n3 removed the admin's record"
weftc 3 dns rm n3-extra >/dev/null || fail "n3 could not remove its own record"
wait_for 10 sh -c "ip netns exec $(ns n2) dig +short -p 15353 @127.0.0.1 admin-rec.weft.local | grep -qx 10.200.0.88" ||
	fail "the admin's record is gone"
in_ns n2 dig +short -p 15353 @127.0.0.1 leader.weft.local | has -x 10.200.0.1 || fail "leader moved"
grep -q "dns-add from n3 refused" "$LOGDIR/n1.log" || fail "refused record not logged"
ok "records shadowing leader, nodes and node-* refused; n3 cannot remove the admin's record, only its own"

# --- 4. subnet quota ------------------------------------------------------------------------
refused=0
for i in $(seq 0 79); do
	out=$(in_ns n3 "$PROBE" --connect 10.200.0.1:$CTL --overlay --remote-key "$key1" \
		--key-file "$(dir 3)/private.key" --request "{\"op\":\"subnet\",\"service\":\"s$i\"}" 2>&1) ||
		{ refused=$((refused + 1)); echo "$out" | has "quota" || fail "subnet $i: $out"; }
done
[ "$refused" -gt 0 ] || fail "80 subnets for one node were all granted"
join_node 4
wait_for 10 in_ns n4 ping -c1 -W1 10.200.0.1 || fail "n4 cannot reach the leader after the quota"
ok "one node's subnets stop at its quota ($refused of 80 refused); joins still get addresses"

# --- 5. an on-path holder of the token relays a join ----------------------------------------
relay() { # relay MODE: on 198.18.0.5:51420 in n5, towards the leader
	in_ns n5 python3 - "$1" >"$LOGDIR/relay.log" 2>&1 <<'PY' &
import os, socket, struct, sys, threading
mode = sys.argv[1]
ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("198.18.0.5", 51420)); ls.listen(1)
c, _ = ls.accept()
def frames(s):
    buf = b""
    while True:
        while len(buf) < 8:
            d = s.recv(65536)
            if not d: return
            buf += d
        n = struct.unpack(">I", buf[4:8])[0]
        while len(buf) < 8 + n:
            d = s.recv(65536)
            if not d: return
            buf += d
        yield buf[:8 + n]; buf = buf[8 + n:]
if mode == "impersonate":
    # It holds the token, not the leader's key: the best it can answer is its own message 2.
    next(frames(c))
    c.sendall(b"WF\x02\x02" + struct.pack(">I", 48) + os.urandom(48))
    c.recv(100); sys.exit(0)
u = socket.create_connection(("198.18.0.1", 51420))
def up():
    for f in frames(c): u.sendall(f)
threading.Thread(target=up, daemon=True).start()
for f in frames(u):
    if f[3] == 4:  # WELCOME: the generation, a peer... any byte
        f = f[:40] + bytes([f[40] ^ 1]) + f[41:]
        print("flipped a byte of the WELCOME", flush=True)
    c.sendall(f)
PY
	sleep 0.5
}
via_relay() { python3 -c 'import sys; t=sys.argv[1].split("-"); t[-1]="198.18.0.5:51420"; print("-".join(t))' "$1"; }
for mode in tamper impersonate; do
	relay "$mode"
	tok=$(weftc 1 token create --uses 2)
	out=$(weftc 4 join "$(via_relay "$tok")" --name "victim-$mode" -d "$LOGDIR/v-$mode" --no-start 2>&1) &&
		fail "the join through a $mode relay succeeded: $out"
	[ ! -e "$LOGDIR/v-$mode/state.json" ] && [ ! -e "$LOGDIR/v-$mode/view.json" ] ||
		fail "the victim of the $mode relay kept state"
	echo "$out" | has -i "authenticate\|expected key" || fail "$mode relay: $out"
	wait
	if [ "$mode" = tamper ]; then
		# The leader admitted it before the WELCOME was spoiled: the victim keeps only
		# its key (issue 12 item 1), and the same join straight to the leader finishes it.
		[ -e "$LOGDIR/v-$mode/private.key" ] || fail "the admitted key of the victim is gone"
		weftc 4 join "$tok" --name "victim-$mode" -d "$LOGDIR/v-$mode" --no-start \
			>/dev/null 2>&1 || fail "the victim's retry without the relay failed"
		weftc 1 node remove "victim-$mode" >/dev/null || fail "remove victim-$mode"
	else
		[ ! -e "$LOGDIR/v-$mode/private.key" ] || fail "a key the leader never saw was kept"
	fi
done
grep -q "flipped a byte of the WELCOME" "$LOGDIR/relay.log" || true
ok "a token holder on the path can neither rewrite the WELCOME nor pose as the leader"

# --- 6. a token that expires between the handshake and the JOIN -----------------------------
tok=$(weftc 1 token create --ttl 1)
out=$(in_ns n5 "$PROBE" --connect 198.18.0.1:51420 --token "$tok" --delay-ms 2500 \
	--join '{"name":"late"}' 2>&1) && fail "an expired token joined: $out"
echo "$out" | has "token expired" || fail "expired at JOIN: $out"
tok=$(weftc 1 token create --ttl 60)
out=$(in_ns n5 "$PROBE" --connect 198.18.0.1:51420 --token "$tok" --join '{"name":"prompt"}' 2>&1) ||
	fail "a live token did not join: $out"
weftc 1 node remove prompt >/dev/null || fail "remove prompt"
ok "a token expired at JOIN is refused; a live one joins"

# --- 7. floods on the join port -------------------------------------------------------------
pid=$(pgrep -nf "weftd --data-dir $(dir 1) ")
hwm0=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
in_ns n5 python3 - >"$LOGDIR/flood.log" 2>&1 <<'PY' &
import socket, struct, threading, time
def trickle(src):
    try:
        s = socket.socket(); s.bind((src, 0)); s.connect(("198.18.0.1", 51420))
        for b in b"WF\x02\x01\x00\x00\x00\x70" * 4:
            s.send(bytes([b])); time.sleep(2)
    except OSError: pass
def big(src):
    try:
        s = socket.socket(); s.bind((src, 0)); s.connect(("198.18.0.1", 51420))
        s.sendall(b"WF\x02\x01" + struct.pack(">I", 4 << 20))
        chunk = b"\0" * 65536
        for _ in range(64): s.sendall(chunk)
    except OSError: pass
ts = []
for i in range(40):
    ts.append(threading.Thread(target=trickle, args=("198.18.0.%d" % (5 + i % 10),)))
for i in range(32):
    ts.append(threading.Thread(target=big, args=("198.18.0.%d" % (5 + i % 10),)))
for t in ts: t.start()
for t in ts: t.join()
PY
flood=$!
sleep 2
for i in 1 2 3; do
	timeout 5 "$WEFT" -d "$(dir 1)" status >/dev/null || fail "weft status during the flood"
	sleep 1
done
tok=$(weftc 1 token create) || fail "token create during the flood"
in_ns n4 "$PROBE" --connect 198.18.0.1:51420 --token "$tok" --join '{"name":"during-flood"}' \
	>/dev/null 2>&1 || fail "a real join during the flood"
hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
kill "$flood" 2>/dev/null || true
wait "$flood" 2>/dev/null || true
# Under AddressSanitizer the shadow memory and quarantine alone take about 100 MB: there the
# flood's share is what is bounded.
if ldd "$WEFTD" | grep -q libasan; then
	[ $((hwm - hwm0)) -lt 102400 ] || fail "the flood took the leader's peak RSS from $hwm0 to $hwm kB"
else
	[ "$hwm" -lt 102400 ] || fail "the leader's peak RSS reached $hwm kB under the flood"
fi
ok "join-port floods: status, token create and a join kept working; peak RSS $((hwm0 / 1024)) MB before, $((hwm / 1024)) MB after"

# --- 8. a local user holds n3's connections to the leader's control port ------------------
in_ns n3 "${NOBODY[@]}" "$PY3" - >"$LOGDIR/hold.log" 2>&1 <<'PY' &
import socket, threading, time
def hold():
    try:
        s = socket.create_connection(("10.200.0.1", 51421))
        print("connected", flush=True)
        for b in b"WF\x02\x01":
            s.send(bytes([b])); time.sleep(3)
    except OSError: pass
ts = [threading.Thread(target=hold) for _ in range(12)]
for t in ts: t.start(); time.sleep(0.05)
for t in ts: t.join()
PY
hold=$!
sleep 1
[ "$(grep -c connected "$LOGDIR/hold.log")" -ge 8 ] || fail "the holder did not connect: $(cat "$LOGDIR/hold.log")"
weftc 3 dns add held-rec 10.200.0.55 >/dev/null || fail "n3's request while a local user held its connections"
kill "$hold" 2>/dev/null || true
wait "$hold" 2>/dev/null || true
ok "connections that never finish a handshake give way to n3's own request"

# --- 9. a local user on n3 answers the leader's health probes for n3 --------------------------
# Echoes with every small nonce (the old probes counted 1, 2, 3, ...), in rounds over a few
# seconds: each one taken would count a reply for a probe that had its reply already.
in_ns n3 "${NOBODY[@]}" "$PY3" - <<'PY' || fail "forging echoes"
import socket, struct, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for rnd in range(15):
    for seq in range(1, 5000):
        s.sendto(b"WFR1" + struct.pack(">IQ", seq, 1), ("10.200.0.1", 51421))
    time.sleep(0.2)
PY
read -r probes replies < <(weftc 1 status --json | python3 -c '
import json, sys
for p in json.load(sys.stdin)["peers"]:
    if p["name"] == "n3": print(p["probes"], p["replies"])')
[ "$replies" -le "$probes" ] || fail "forged echoes counted: $replies replies to $probes probes"
ok "forged health echoes from a local user are not taken ($replies replies to $probes probes)"
