#!/usr/bin/env bash
# make deb: the Debian package of the working tree (tracked and untracked-but-not-ignored
# files), built with dpkg-buildpackage -us -uc -b in a copy under $DEB_BUILD (default
# build-deb/), so nothing is written beside the repository. Then lintian on the result
# (its findings are printed; README "Debian package" explains the ones that remain).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${DEB_BUILD:-$ROOT/build-deb}
cd "$ROOT"
ver=$(dpkg-parsechangelog -l debian/changelog -SVersion)
rm -rf "$OUT"
mkdir -p "$OUT/weft-$ver"
git ls-files -z --cached --others --exclude-standard |
	tar --null -T - -cf - | tar -xf - -C "$OUT/weft-$ver"
(cd "$OUT/weft-$ver" && dpkg-buildpackage -us -uc -b) >"$OUT/build.log" 2>&1 ||
	{ tail -n 40 "$OUT/build.log"; echo "deb: dpkg-buildpackage failed (log: $OUT/build.log)" >&2; exit 1; }
if command -v lintian >/dev/null; then
	lintian -I --pedantic "$OUT"/weft_"$ver"_*.changes >"$OUT/lintian.txt" 2>&1 || true
	echo "deb: lintian says ($OUT/lintian.txt):"
	grep -E '^[EWIPX]: ' "$OUT/lintian.txt" | sort -u || echo "  nothing"
fi
ls -l "$OUT"/*.deb
