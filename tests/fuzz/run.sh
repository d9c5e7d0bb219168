#!/bin/sh
# make fuzz: run each libFuzzer target for SECONDS, starting from its
# committed seeds (tests/fuzz/corpus/NAME) and regression inputs
# (tests/fuzz/regress/NAME, inputs that once failed), plus what earlier runs
# on this machine found (BUILD/corpus/NAME: new inputs go there, never into
# the committed seeds).  A crash, a sanitizer report, a hang (-timeout) or a
# leak fails the target; the input is kept in BUILD/artifacts/.
# Usage: tests/fuzz/run.sh BUILD SECONDS TARGET...
cd "$(dirname "$0")/../.." || exit 2
build=$1 secs=$2
shift 2
pass=0 fail=0
mkdir -p "$build/artifacts" "$build/logs"
for t in "$@"; do
	bin=$build/fuzz_$t
	log=$build/logs/$t.log
	mkdir -p "$build/corpus/$t"
	dirs="$build/corpus/$t tests/fuzz/corpus/$t"
	[ -d "tests/fuzz/regress/$t" ] && dirs="$dirs tests/fuzz/regress/$t"
	# shellcheck disable=SC2086
	"$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
	    -max_len=4096 -print_final_stats=1 \
	    -artifact_prefix="$build/artifacts/$t-" $dirs >"$log" 2>&1
	rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	took=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
	if [ "$rc" -eq 0 ]; then
		pass=$((pass + 1))
		echo "ok - fuzz_$t: ${runs:-?} runs in $secs s (${took:-?}/s), 0 crashes"
	else
		fail=$((fail + 1))
		echo "not ok - fuzz_$t: exit $rc after ${runs:-?} runs; log $log"
		grep -E 'ERROR|runtime error|fuzz property|Test unit written|SUMMARY' \
		    "$log" | head -20 | sed 's/^/#   /'
	fi
done
echo "fuzz: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
