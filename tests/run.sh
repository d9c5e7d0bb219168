#!/bin/sh
# Runs every test program (build/tests/test_*, or $APPUSER_BUILD/tests/ as
# make check SANITIZE=1 sets it) and script (tests/t_*.sh,
# tests/e2e/t_*.sh), each speaking TAP (cmocka via CMOCKA_MESSAGE_OUTPUT=TAP),
# and ends with one summary line: "N passed, N failed, N skipped".
# A program that crashes or exits non-zero without reporting a failure counts
# as one failure.  Usage: tests/run.sh [PATTERN]   (substring filter)
cd "$(dirname "$0")/.." || exit 2
pass=0 fail=0 skip=0 failed_names=""
log=$(mktemp) || exit 2
trap 'rm -f "$log"' EXIT
export CMOCKA_MESSAGE_OUTPUT=TAP
APPUSER_BUILD=${APPUSER_BUILD:-build}
export APPUSER_BUILD
# test_nss_* take the module from here: the test build, which reads
# APPUSER_STORE (the installed module never does)
[ -n "$NSS_APPUSER_SO" ] ||
    NSS_APPUSER_SO=$PWD/$APPUSER_BUILD/test-nss/libnss_appuser.so.2
export NSS_APPUSER_SO
# make check SANITIZE=1: where UBSan found it, not only what
[ "${APPUSER_SANITIZE:-0}" = 1 ] &&
    export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}print_stacktrace=1"
for t in "$APPUSER_BUILD"/tests/test_* tests/t_*.sh tests/e2e/t_*.sh; do
	[ -e "$t" ] || continue
	case "$t" in *.d|*.o|*.gcno|*.gcda) continue;; esac
	[ -n "$1" ] && case "$t" in *"$1"*) ;; *) continue;; esac
	echo "# --- $t"
	case "$t" in
	*.sh) sh "$t" >"$log" 2>&1; rc=$?;;
	*) "$t" >"$log" 2>&1; rc=$?;;
	esac
	cat "$log"
	# cmocka's TAP marks a skipped test "not ok N # SKIP": a skip either way
	s=$(grep -Ec '^(not )?ok .*# *(SKIP|skip)' "$log" | tr -d ' ')
	p=$(grep -E '^ok ' "$log" | grep -Evc '# *(SKIP|skip)' | tr -d ' ')
	f=$(grep -E '^not ok ' "$log" | grep -Evc '# *(SKIP|skip)' | tr -d ' ')
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "not ok - $t exited with status $rc"
		f=1
	fi
	if [ $((p + s + f)) -eq 0 ]; then
		echo "not ok - $t reported no test"
		f=1
	fi
	pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + s))
	[ "$f" -gt 0 ] && failed_names="$failed_names $t"
done
[ -n "$failed_names" ] && echo "# failed:$failed_names"
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
