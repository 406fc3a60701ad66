#!/bin/bash
# Bad input to weft and weftd: flags, names, CIDRs, ports and tokens get a clear message and
# a non-zero exit, and create nothing; a corrupt or hand-edited state file is refused by
# name and never overwritten; key files are 0600.
#
#   n1 (leader) ── br0 in "ul"     (n2 only runs refused commands)
source "$(dirname "$0")/overlay_lib.sh"

underlay 2
D=$LOGDIR/fresh
expect_fail() { # expect_fail PATTERN CMD...: exit != 0, the message matches, nothing in $D
	local pat=$1 out rc=0
	shift
	out=$("$@" 2>&1) || rc=$?
	[ $rc -ne 0 ] || fail "accepted: $*"
	echo "$out" | has -- "$pat" || fail "'$*' said: $out"
	[ ! -e "$D/state.json" ] && [ ! -e "$D/private.key" ] || fail "'$*' left files in $D"
}
expect_fail "--cidr4" "$WEFT" init -d "$D" --endpoint 198.18.0.1 --cidr4 10.200.0.0/33
expect_fail "--cidr4" "$WEFT" init -d "$D" --endpoint 198.18.0.1 --cidr4 10.200.0.1/16
expect_fail "--cidr6" "$WEFT" init -d "$D" --endpoint 198.18.0.1 --cidr6 10.0.0.0/8
expect_fail "--port" "$WEFT" init -d "$D" --endpoint 198.18.0.1 --port 70000
expect_fail "--port" "$WEFT" init -d "$D" --endpoint 198.18.0.1 --port -1
expect_fail "--mtu" "$WEFT" init -d "$D" --endpoint 198.18.0.1 --mtu 100
expect_fail "--name" "$WEFT" init -d "$D" --endpoint 198.18.0.1 --name "Bad_Name"
expect_fail "--zone" "$WEFT" init -d "$D" --endpoint 198.18.0.1 --zone "a..b"
expect_fail "--endpoint" "$WEFT" init -d "$D" --endpoint 198.18.0.999
expect_fail "--endpoint IP" "$WEFT" init -d "$D"
expect_fail "bad option" "$WEFT" init -d "$D" --endpoint 198.18.0.1 --bogus
expect_fail "unknown command" "$WEFT" frobnicate
expect_fail "not a weft token" "$WEFT" join -d "$D" garbage
expect_fail "cannot reach weftd" "$WEFT" status -d "$D"
expect_fail "--interface" "$WEFTD" -f -d "$D" --interface "this-name-is-too-long"
expect_fail "--dns-port" "$WEFTD" -f -d "$D" --dns-port 65536
expect_fail "weft init" "$WEFTD" -f -d "$D"
ok "bad flags, names, CIDRs, ports and tokens: clear errors, exit != 0, nothing created"

init_leader --zone cluster.test
[ "$(stat -c %a "$(dir 1)/private.key")" = 600 ] || fail "private.key is not 0600"
[ "$(stat -c %a "$(dir 1)/state.json")" = 600 ] || fail "state.json is not 0600"
out=$(weftc 1 init --name n1 --endpoint 198.18.0.1 2>&1) && fail "init ran twice"
echo "$out" | grep -Eq "weftd is running|initialised already" || fail "second init: $out"
stop_node 1
out=$(weftc 1 init --name n1 --endpoint 198.18.0.1 2>&1) && fail "init over an existing state"
echo "$out" | has "initialised already" || fail "init over state: $out"
ok "init refuses an initialised directory; keys and state are 0600"

# Hand-edited state: refused by name and left as it is.
cp "$(dir 1)/state.json" "$LOGDIR/good.json"
sed -i 's/"mtu": 1420/"mtu": 14200/' "$(dir 1)/state.json"
cp "$(dir 1)/state.json" "$LOGDIR/bad.json"
out=$(in_ns n1 "$WEFTD" -f -d "$(dir 1)" --interface "$(ifname 1)" 2>&1) && fail "started from a bad state"
echo "$out" | has "state.json: cluster.mtu" || fail "bad state message: $out"
cmp -s "$(dir 1)/state.json" "$LOGDIR/bad.json" || fail "the bad state file was rewritten"
! ip -n "$(ns n1)" link show "$(ifname 1)" >/dev/null 2>&1 || fail "an interface was left behind"
printf '{"version": 1' >"$(dir 1)/view.json.tmp"
cp "$LOGDIR/good.json" "$(dir 1)/state.json"
printf 'garbage' >"$(dir 1)/view.json"
out=$(in_ns n1 "$WEFTD" -f -d "$(dir 1)" --interface "$(ifname 1)" 2>&1) && fail "started from a bad view"
echo "$out" | has "view.json" || fail "bad view message: $out"
rm "$(dir 1)/view.json" "$(dir 1)/view.json.tmp"
chmod 644 "$(dir 1)/private.key"
out=$(in_ns n1 "$WEFTD" -f -d "$(dir 1)" --interface "$(ifname 1)" 2>&1) && fail "started with a readable key"
echo "$out" | has "private.key" || fail "key mode message: $out"
chmod 600 "$(dir 1)/private.key"
start_node 1
in_ns n1 ping -c1 -W1 10.200.0.1 >/dev/null || fail "the leader did not come back"
ok "corrupt state, view and key files refused by name, never overwritten; the good state runs"

# Garbage on the control ports does not hurt the leader.
in_ns n2 python3 - <<'PY'
import os, socket
for n in (0, 1, 7, 8, 9, 100, 5000):
    try:
        s = socket.create_connection(("198.18.0.1", 51420), timeout=2)
        s.sendall(os.urandom(n))
        s.sendall(b"WF\x01\x01\xff\xff\xff\xff")
        s.close()
    except OSError:
        pass
s = socket.create_connection(("198.18.0.1", 51420), timeout=2)
s.sendall(b"WF\x01\x01\x00\x00\x00\x05{}{}x")
s.settimeout(3)
try:
    s.recv(100)
except OSError:
    pass
PY
tok=$(weftc 1 token create) || fail "the leader stopped answering after garbage"
weftc 2 join "$tok" --name n2 --no-start >/dev/null || fail "join after garbage"
start_node 2
wait_for 10 in_ns n2 ping -c1 -W1 10.200.0.1 || fail "n2 -> n1 after garbage"
[ "$(in_ns n2 dig +short -p 15353 @127.0.0.1 leader.cluster.test A)" = 10.200.0.1 ] || fail "custom zone"
ok "garbage on the join port is refused; the leader keeps working (zone cluster.test)"
