#!/bin/bash
# make install PREFIX=/usr/local DESTDIR=... from the build being tested: the DESTDIR tree holds
# exactly the binaries, the two systemd units (naming PREFIX/bin), the three man pages and the
# bash completion; `systemd-analyze verify` accepts the units (skipped, saying so, without
# systemd-analyze); the man pages render; the completion completes.
source "$(dirname "$0")/lib.sh"

BUILD=$(cd "$(dirname "$WEFT_WG")/../.." && pwd)
DEST=$LOGDIR/dest
make -C "$ROOT" --no-print-directory install BUILD="$BUILD" PREFIX=/usr/local DESTDIR="$DEST" \
	>"$LOGDIR/install.log" 2>&1 || { tail -n 20 "$LOGDIR/install.log"; fail "make install"; }
want="usr/local/bin/weft
usr/local/bin/weft-wg
usr/local/bin/weftd
usr/local/lib/systemd/system/weft-wg@.service
usr/local/lib/systemd/system/weftd.service
usr/local/share/bash-completion/completions/weft
usr/local/share/man/man8/weft-wg.8
usr/local/share/man/man8/weft.8
usr/local/share/man/man8/weftd.8"
got=$(cd "$DEST" && find . -type f | sed 's|^\./||' | sort)
[ "$got" = "$want" ] || fail "DESTDIR tree differs:$(diff <(echo "$want") <(echo "$got"))"
for b in weft weftd weft-wg; do
	[ -x "$DEST/usr/local/bin/$b" ] || fail "$b not executable"
	"$DEST/usr/local/bin/$b" --version | has -E "^$b [0-9]+\.[0-9]+\.[0-9]+$" || fail "$b --version"
done
has '^ExecStart=/usr/local/bin/weftd --foreground --data-dir /var/lib/weft$' \
	"$DEST/usr/local/lib/systemd/system/weftd.service" || fail "weftd.service ExecStart"
has '^ExecStart=/usr/local/bin/weft-wg --foreground %i$' \
	"$DEST/usr/local/lib/systemd/system/weft-wg@.service" || fail "weft-wg@.service ExecStart"
for m in weft weftd weft-wg; do
	MANWIDTH=100 man -l "$DEST/usr/local/share/man/man8/$m.8" 2>/dev/null | has -E "^NAME" ||
		fail "man page $m.8 does not render"
done
ok "make install DESTDIR: binaries (--version), units naming /usr/local/bin, man pages, completion; nothing else"

if command -v systemd-analyze >/dev/null; then
	mkdir -p "$LOGDIR/units"
	# The units name /usr/local/bin, which is not there: point them at the DESTDIR copy.
	for u in weftd.service weft-wg@.service; do
		sed "s|/usr/local/bin|$DEST/usr/local/bin|" "$DEST/usr/local/lib/systemd/system/$u" >"$LOGDIR/units/$u"
	done
	cp "$LOGDIR/units/weft-wg@.service" "$LOGDIR/units/weft-wg@wg0.service"
	MANPATH=$DEST/usr/local/share/man systemd-analyze verify "$LOGDIR/units/weftd.service" \
		"$LOGDIR/units/weft-wg@wg0.service" >"$LOGDIR/verify.log" 2>&1 ||
		{ cat "$LOGDIR/verify.log"; fail "systemd-analyze verify"; }
	[ ! -s "$LOGDIR/verify.log" ] || { cat "$LOGDIR/verify.log"; fail "systemd-analyze verify warned"; }
	exposure=$(systemd-analyze security --offline=true "$LOGDIR/units/weftd.service" 2>/dev/null |
		grep -o 'Overall exposure level for weftd.service: [0-9.]* [A-Z]*' || echo "not measured")
	ok "systemd-analyze verify: both units clean (man pages found); $exposure"
else
	echo "skip - systemd-analyze missing: units not verified"
fi

if [ -f /usr/share/bash-completion/bash_completion ]; then
	out=$(bash -c '
		source /usr/share/bash-completion/bash_completion
		source "$1"
		COMP_WORDS=(weft doc); COMP_CWORD=1; COMP_LINE="weft doc"; COMP_POINT=${#COMP_LINE}
		_weft; echo "${COMPREPLY[*]}"
		COMP_WORDS=(weft doctor --j); COMP_CWORD=2; COMP_LINE="weft doctor --j"; COMP_POINT=${#COMP_LINE}
		_weft; echo "${COMPREPLY[*]}"' _ "$DEST/usr/local/share/bash-completion/completions/weft")
	[ "$out" = "doctor
--json" ] || fail "completion: got '$out'"
	ok "bash completion: 'weft doc' -> doctor, 'weft doctor --j' -> --json"
else
	echo "skip - bash-completion not installed: completion not exercised"
fi
