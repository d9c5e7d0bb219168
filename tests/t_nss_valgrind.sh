#!/bin/sh
# NSS module under valgrind: every module test program (lookups,
# enumeration, refresh, broken stores, defence, fork, threads, the packers;
# shortened by NSS_TEST_SLOW) with no memory error and no definite leak, in
# the parent and in every forked child.
. "$(dirname "$0")/lib.sh"

if sanitized; then
	skip "test_nss_* under valgrind" "sanitized build: valgrind cannot run ASan binaries (runs under plain make check)"
	done_testing
	exit 0
fi
if ! command -v valgrind >/dev/null; then
	skip "test_nss_* under valgrind" "valgrind not installed"
	done_testing
	exit 0
fi
set -- "$B"/tests/test_nss_*
if [ ! -x "$1" ]; then
	not_ok "test_nss_* built" "$B/tests/test_nss_* missing: make test-bins"
	done_testing
	exit 1
fi
log=$(mktemp) || exit 2
trap 'rm -f "$log"' EXIT
cd "$TOP" || exit 2
for bin in "$@"; do
	case "$bin" in *.d|*.o|*.gcno|*.gcda) continue;; esac
	t=$(basename "$bin")
	NSS_TEST_SLOW=1 CMOCKA_MESSAGE_OUTPUT=TAP valgrind -q --fair-sched=yes \
	    --error-exitcode=97 --leak-check=full \
	    --errors-for-leak-kinds=definite --show-leak-kinds=definite \
	    --child-silent-after-fork=no "$bin" >"$log" 2>&1
	rc=$?
	if [ "$rc" -eq 0 ]; then
		ok "$t under valgrind: no errors, no definite leaks"
	else
		not_ok "$t under valgrind: no errors, no definite leaks" \
		    "exit $rc; $(grep -E '^==|^not ok|^# ' "$log" | head -40)"
	fi
	n=$(grep -c '^ok ' "$log")
	if [ "$n" -gt 0 ] && ! grep '^not ok' "$log" | grep -qv '# SKIP'; then
		ok "all $n $t tests pass under valgrind"
	else
		not_ok "all $t tests pass under valgrind" "$(grep '^not ok' "$log")"
	fi
done
done_testing
