#!/usr/bin/env bash
# Runs every fuzz_* binary of a -Dfuzzing=true build for N seconds on a scratch copy of its
# corpus (tests/fuzz/corpus/NAME). A crash leaves its reproducer in the scratch directory
# and fails the run. Usage: run-fuzzers.sh BUILD_DIR SECONDS
set -euo pipefail
build=$(cd "$1" && pwd)
secs=$2
root=$(cd "$(dirname "$0")/.." && pwd)
status=0
for bin in "$build"/tests/fuzz/fuzz_*; do
	[ -f "$bin" ] && [ -x "$bin" ] || continue
	name=$(basename "$bin" | sed 's/^fuzz_//')
	work=$(mktemp -d "/tmp/weft-fuzz-$name.XXXXXX")
	cp -r "$root/tests/fuzz/corpus/$name/." "$work/"
	echo "fuzz: $name for ${secs}s"
	if ! (cd "$work" && "$bin" -max_total_time="$secs" -max_len=4096 -print_final_stats=1 \
		"$work" >"$work.log" 2>&1); then
		echo "fuzz: $name FAILED, reproducer and log in $work ($work.log)" >&2
		tail -n 40 "$work.log" >&2
		status=1
		continue
	fi
	grep -E '^stat::number_of_executed_units|^stat::new_units_added' "$work.log" | sed "s/^/fuzz: $name /"
	rm -rf "$work" "$work.log"
done
exit $status
