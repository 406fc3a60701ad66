#!/usr/bin/env bash
# `make check`: every test suite in turn, then one summary line "N passed, N failed".
#   1. -Werror build, unit/table tests and fuzz-corpus replays (meson test)
#   2. the same under ASan + UBSan
#   3. each libFuzzer target for FUZZ_SECONDS (clang)
#   3b. the Windows cross-build (mingw-w64) and its tests under Wine (scripts/windows.sh test)
#   4. the end-to-end scripts tests/e2e/*.sh (network namespaces; root), against build/
# A stage that fails to build counts as one failure; later stages still run.
set -uo pipefail
cd "$(dirname "$0")/.."

passed=0
failed=0
declare -A e2e_seen
failures=()
whys=()

# Adds the results of a meson testlog.json to the totals.
count_meson() {
	local log=$1/meson-logs/testlog.json
	[ -f "$log" ] || return 0
	read -r p f < <(python3 - "$log" <<'PY'
import json, sys
p = f = 0
for line in open(sys.argv[1]):
    r = json.loads(line).get("result")
    if r in ("OK", "EXPECTEDFAIL", "SKIP"):
        p += r != "SKIP"
    else:
        f += 1
        print(json.loads(line).get("name"), file=sys.stderr)
print(p, f)
PY
)
	passed=$((passed + p))
	failed=$((failed + f))
}

stage() {
	local name=$1
	shift
	echo "=== check: $name"
	if ! "$@"; then
		failures+=("$name")
		return 1
	fi
	return 0
}

rm -f build/meson-logs/testlog.json build-asan/meson-logs/testlog.json build-win/meson-logs/testlog.json
if stage build make --no-print-directory check-build; then :; elif [ ! -f build/meson-logs/testlog.json ]; then failed=$((failed + 1)); fi
count_meson build
if stage asan make --no-print-directory check-asan; then :; elif [ ! -f build-asan/meson-logs/testlog.json ]; then failed=$((failed + 1)); fi
count_meson build-asan
if stage fuzz make --no-print-directory check-fuzz; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
if stage windows make --no-print-directory check-windows; then :; elif [ ! -f build-win/meson-logs/testlog.json ]; then failed=$((failed + 1)); fi
count_meson build-win

echo "=== check: end-to-end (build/, then build-asan/ with ASan+UBSan daemons)"
for t in tests/e2e/*.sh tests/e2e/*.sh; do
	case "$(basename "$t")" in *lib.sh) continue ;; esac
	if [ -n "${e2e_seen[$t]:-}" ]; then
		bin=build-asan/src/daemon/weft-wg
	else
		bin=build/src/daemon/weft-wg
	fi
	e2e_seen[$t]=1
	echo "--- $t ($bin)"
	out=$(mktemp)
	WEFT_WG=$PWD/$bin timeout 900 bash "$t" 2>&1 | tee "$out"
	rc=${PIPESTATUS[0]}
	if [ $rc -eq 0 ]; then
		passed=$((passed + 1))
	elif [ $rc -eq 77 ]; then
		echo "(skipped)"
	else
		failed=$((failed + 1))
		failures+=("$t")
		# why, again at the end: a CI log is often read from its tail
		whys+=("$t ($bin): $(grep -E '^FAIL ' "$out" | tail -n 3 | cut -c1-600)")
		[ $rc -eq 124 ] && whys+=("$t ($bin): timed out after 900 s")
	fi
	rm -f "$out"
done

echo
[ ${#failures[@]} -eq 0 ] || echo "failing stages: ${failures[*]}"
for w in "${whys[@]}"; do echo "  $w"; done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
