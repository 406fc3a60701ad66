#!/bin/bash
# Bad input to weft and weftd: flags, names, CIDRs, ports and tokens get a clear message and
# a non-zero exit, and create nothing; a corrupt or hand-edited state file is refused by
# name and never overwritten; key files are 0600; a state directory or file that others can
# write or own is refused with the fix; --netns paths that are not network namespaces (a
# FIFO among them) are refused at once while weftd keeps answering; a token given in a file
# is on no command line; weft join run from the build tree finds weftd, and weftd logs
# joins and refusals at its default level into DIR/weftd.log.
#
#   n1 (leader) ─┐
#   n2          ─┼─ br0 in "ul"     (n2 joins with --no-start; n3 joins from the build tree)
#   n3          ─┘
source "$(dirname "$0")/overlay_lib.sh"

underlay 3
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
# The allocator's limits in the flags' terms, not its internal slice_prefix (issue 12 item 7).
expect_fail "--cidr4: /30 is too small" "$WEFT" init -d "$D" --endpoint 198.18.0.1 --cidr4 10.200.0.0/30
expect_fail "--cidr4: /8 is too large" "$WEFT" init -d "$D" --endpoint 198.18.0.1 --cidr4 10.0.0.0/8
expect_fail "--cidr6: /120 has fewer addresses" "$WEFT" init -d "$D" --endpoint 198.18.0.1 \
	--cidr6 fd00:200::/120
out=$("$WEFT" init -d "$D" --endpoint 198.18.0.1 --cidr4 10.200.0.0/30 2>&1) || true
! echo "$out" | has slice_prefix || fail "init names an internal setting: $out"
expect_fail "--interface: 'a/b' is not an interface name" "$WEFT" join -d "$D" --interface a/b -
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
expect_fail "visible to every local user" "$WEFT" join -d "$D" garbage
expect_fail "no token in stdin" "$WEFT" join -d "$D" - </dev/null
expect_fail "token-file: $LOGDIR/none: No such file" "$WEFT" join -d "$D" --token-file "$LOGDIR/none"
expect_fail "cannot reach weftd" "$WEFT" status -d "$D"
expect_fail "--interface" "$WEFTD" -f -d "$D" --interface "this-name-is-too-long"
expect_fail "--dns-port" "$WEFTD" -f -d "$D" --dns-port 65536
expect_fail "weft init" "$WEFTD" -f -d "$D"
"$WEFT" init --help | has "init only writes the state directory" ||
	fail "init --help does not say why it leaves weftd to the user"
ok "bad flags, names, CIDRs, ports and tokens: clear errors, exit != 0, nothing created"

init_leader --zone cluster.test
[ "$(stat -c %a "$(dir 1)/private.key")" = 600 ] || fail "private.key is not 0600"
[ "$(stat -c %a "$(dir 1)/state.json")" = 600 ] || fail "state.json is not 0600"
out=$(weftc 1 init --name n1 --endpoint 198.18.0.1 2>&1) && fail "init ran twice"
echo "$out" | has "in use by a running weftd: this node is initialised already" ||
	fail "second init: $out"
! echo "$out" | has "held by another process" || fail "second init: $out"
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

# --netns that is not a network namespace: a FIFO (a blocking open would hang weftd), a regular
# file, another kind of namespace. Refused at once with the reason; weftd keeps answering.
mkfifo -m 600 "$LOGDIR/fifo"
: >"$LOGDIR/regular"
for p in "$LOGDIR/fifo" "$LOGDIR/regular" /proc/self/ns/uts; do
	rc=0
	out=$(timeout 5 ip netns exec "$(ns n1)" "$WEFT" -d "$(dir 1)" attach --service web \
		--netns "$p" --name c1 2>&1) || rc=$?
	[ $rc -ne 0 ] && [ $rc -ne 124 ] || fail "attach --netns $p: exit $rc (124: it hung): $out"
	echo "$out" | has -F "not a network namespace: $p" || fail "attach --netns $p said: $out"
	timeout 5 ip netns exec "$(ns n1)" "$WEFT" -d "$(dir 1)" status >/dev/null ||
		fail "weft status does not answer after attach --netns $p"
done
ok "--netns FIFO, regular file, uts namespace: refused at once; weft status answers"

# A state directory or file that group or others can write, or another uid owns: refused
# with the reason and the fix, nothing created.
O=$LOGDIR/open
mkdir "$O"
chmod 777 "$O"
out=$(in_ns n3 "$WEFT" init -d "$O" --endpoint 198.18.0.3 2>&1) && fail "init in a 0777 directory"
echo "$out" | has -F "$O: mode 0777 lets group or others write" || fail "init 0777: $out"
echo "$out" | has -F "fix: chmod 700 $O" || fail "init 0777 gives no fix: $out"
(umask 077 && weftc 1 token create >"$LOGDIR/open.token") || fail "token create"
out=$(in_ns n3 "$WEFT" join -d "$O" --token-file "$LOGDIR/open.token" 2>&1) && fail "join into 0777"
echo "$out" | has -F "fix: chmod 700 $O" || fail "join 0777: $out"
[ -z "$(ls -A "$O")" ] || fail "refused init/join left files in $O: $(ls -A "$O")"
stop_node 1
chmod 777 "$(dir 1)"
out=$(in_ns n1 "$WEFTD" -f -d "$(dir 1)" --interface "$(ifname 1)" 2>&1) && fail "weftd ran in 0777"
echo "$out" | has -F "fix: chmod 700 $(dir 1)" || fail "weftd 0777: $out"
chmod 700 "$(dir 1)"
chmod 666 "$(dir 1)/state.json"
out=$(in_ns n1 "$WEFTD" -f -d "$(dir 1)" --interface "$(ifname 1)" 2>&1) && fail "weftd ran, state 0666"
echo "$out" | has -F "fix: chmod 600 $(dir 1)/state.json" || fail "weftd state 0666: $out"
chmod 600 "$(dir 1)/state.json"
chown 65534 "$(dir 1)"
out=$(in_ns n1 "$WEFTD" -f -d "$(dir 1)" --interface "$(ifname 1)" 2>&1) && fail "weftd ran, dir of 65534"
echo "$out" | has -F "owned by uid 65534, not by uid 0" || fail "weftd foreign dir: $out"
chown 0 "$(dir 1)"
ok "0777 state directory, 0666 state.json, another uid's directory: refused with the fix"

# The leader again, at weftd's default log level and log file (DIR/weftd.log).
in_ns n1 "$WEFTD" --data-dir "$(dir 1)" --interface "$(ifname 1)" </dev/null ||
	fail "the leader did not start at the default log level"
wait_for 5 test -s "$(dir 1)/weftd.log" || fail "no $(dir 1)/weftd.log at the default level"

# n3 joins from the build tree with no WEFTD and no weftd in PATH; the token comes from a file
# (a FIFO here, so the join is caught waiting for it), and is on no command line meanwhile,
# nor on the command line of the weftd the join starts.
(umask 077 && weftc 1 token create >"$LOGDIR/n3.token") || fail "token create"
mkfifo -m 600 "$LOGDIR/n3.fifo"
ip netns exec "$(ns n3)" env -u WEFTD PATH=/usr/sbin:/usr/bin:/sbin:/bin "$WEFT" join \
	--token-file "$LOGDIR/n3.fifo" -d "$(dir 3)" --name n3 --interface "$(ifname 3)" \
	>"$LOGDIR/n3-join.out" 2>&1 &
jpid=$!
wait_for 5 pgrep -f "join --token-file $LOGDIR/n3.fifo" || fail "the join did not start"
# /proc/[0-9]*: not /proc/self, which would be grep itself; the pattern from a file so that
# grep's own command line does not hold it either.
! grep -laF -f "$LOGDIR/n3.token" /proc/[0-9]*/cmdline 2>/dev/null ||
	fail "the token is on a command line during the join"
cat "$LOGDIR/n3.token" >"$LOGDIR/n3.fifo"
wait "$jpid" || fail "join from the build tree: $(cat "$LOGDIR/n3-join.out")"
has "weftd started on" "$LOGDIR/n3-join.out" || fail "join did not start weftd: $(cat "$LOGDIR/n3-join.out")"
! grep -laF -f "$LOGDIR/n3.token" /proc/[0-9]*/cmdline 2>/dev/null ||
	fail "the token is on a command line after the join (weftd?)"
wait_for 10 in_ns n3 ping -c1 -W1 10.200.0.1 || fail "n3 -> n1 after the join from the build tree"
has "up on $(ifname 3)" "$(dir 3)/weftd.log" || fail "n3's weftd.log: $(cat "$(dir 3)/weftd.log")"
ok "join --token-file from the build tree: weftd found, the token on no command line"

# A refused join (the used token again, on stdin, blanks around it and a second line that is
# not read) at the default level: both in the log.
out=$(printf ' \t%s \r\nmore\n' "$(cat "$LOGDIR/n3.token")" |
	in_ns n2 "$WEFT" join - -d "$LOGDIR/again" --name again --no-start 2>&1) &&
	fail "a used token was accepted"
echo "$out" | has "unknown or used-up token" || fail "used token: $out"
has "node n3 joined from" "$(dir 1)/weftd.log" || fail "no join line: $(cat "$(dir 1)/weftd.log")"
has "refused: unknown or used-up token" "$(dir 1)/weftd.log" ||
	fail "no refusal line: $(cat "$(dir 1)/weftd.log")"
ok "the leader's weftd.log at the default level has the join and the refusal"

# The daemons logging into their state directories: stopped, so a sanitizer build's report
# (written at exit) is read too; lib.sh's check covers $LOGDIR/*.log only.
stop_node 3
stop_node 1
! grep -E "ERROR: (Address|Leak)Sanitizer|runtime error:" "$(dir 1)/weftd.log" "$(dir 3)/weftd.log" ||
	fail "sanitizer report in a weftd.log above"
