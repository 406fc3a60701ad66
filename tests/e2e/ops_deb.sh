#!/bin/bash
# make deb, then the package installed in a fresh Debian 12 chroot (debootstrap --variant=
# minbase bookworm, `apt-get install ./weft_*.deb` so its dependencies come from the mirror):
# weft, weftd and weft-wg --version run there, and the files are where the package put them.
# Needs a Debian mirror (DEBIAN_MIRROR, default http://deb.debian.org/debian): without one the
# chroot part is skipped (exit 77) with the reason; it never fails for lack of network.
# Skips decided before lib.sh sets its exit trap (which keeps the logs of anything but 0).
# The package is built from the source tree, not from the build under test: once is enough.
if ldd "${WEFT_WG:-}" 2>/dev/null | grep -q libasan; then
	echo "SKIP ops_deb: the package does not depend on the build under test (run against build/)"
	exit 77
fi
for t in dpkg-buildpackage debootstrap; do
	command -v "$t" >/dev/null || { echo "SKIP ops_deb: $t missing (scripts/deps.sh deb)"; exit 77; }
done
dpkg-query -W -f='${Status}' debhelper 2>/dev/null | grep -q "install ok installed" ||
	{ echo "SKIP ops_deb: debhelper missing (scripts/deps.sh deb)"; exit 77; }
source "$(dirname "$0")/lib.sh"
skip() { echo "SKIP $TEST: $*"; trap - EXIT; rm -rf "$LOGDIR"; exit 77; }

MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
DEB_BUILD=$LOGDIR/deb "$ROOT/scripts/deb.sh" >"$LOGDIR/deb.log" 2>&1 || { tail -n 30 "$LOGDIR/deb.log"; fail "make deb"; }
deb=$(ls "$LOGDIR"/deb/weft_*_*.deb | grep -v dbgsym)
grep -E '^[EW]: ' "$LOGDIR/deb/lintian.txt" && fail "lintian errors or warnings (above)"
ok "make deb: $(basename "$deb"); lintian: $(grep -cE '^[IPX]: ' "$LOGDIR/deb/lintian.txt" || true) info/pedantic tags, no warnings"

if ! timeout 15 curl -sfI "$MIRROR/dists/bookworm/Release" >/dev/null 2>&1; then
	skip "chroot part: the mirror $MIRROR cannot be reached (set DEBIAN_MIRROR)"
fi
CH=$LOGDIR/chroot
if ! timeout 900 debootstrap --variant=minbase bookworm "$CH" "$MIRROR" >"$LOGDIR/debootstrap.log" 2>&1; then
	tail -n 5 "$LOGDIR/debootstrap.log"
	skip "chroot part: debootstrap from $MIRROR failed (network?)"
fi
cleanup_chroot() { for m in proc dev; do umount "$CH/$m" 2>/dev/null || true; done; }
trap 'rc=$?; cleanup_chroot; (exit $rc); cleanup' EXIT
mount -t proc proc "$CH/proc"
cp "$deb" "$CH/tmp/"
if ! chroot "$CH" sh -c "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends /tmp/$(basename "$deb")" \
	>"$LOGDIR/chroot-install.log" 2>&1; then
	tail -n 20 "$LOGDIR/chroot-install.log"
	fail "dpkg/apt install of the package in the chroot"
fi
for b in weft weftd weft-wg; do
	chroot "$CH" "$b" --version | has -E "^$b [0-9.]+$" || fail "$b --version in the chroot"
done
chroot "$CH" dpkg -L weft | has '^/lib/systemd/system/weftd.service$' || fail "unit not installed"
[ -f "$CH/usr/share/man/man8/weftd.8.gz" ] || fail "man page not installed"
! [ -e "$CH/etc/systemd/system/multi-user.target.wants/weftd.service" ] || fail "weftd enabled at install"
ok "installed in a fresh bookworm chroot with its dependencies; weft, weftd, weft-wg --version run; weftd not enabled"
