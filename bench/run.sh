#!/bin/sh
# make bench: runs every bench/bench_*.sh; each prints a table of figures and
# ratios against a baseline measured in the same run on this machine.
cd "$(dirname "$0")/.." || exit 2
rc=0
for b in bench/bench_*.sh; do
	[ -e "$b" ] || continue
	echo "=== $b"
	sh "$b" || rc=1
done
exit $rc
