#!/bin/sh
# NSS module under valgrind: the whole module test (lookups, enumeration,
# broken stores, fork, threads; shortened by NSS_TEST_SLOW) with no memory
# error and no definite leak, in the parent and in every forked child.
. "$(dirname "$0")/lib.sh"

BIN="$B/tests/test_nss"
if sanitized; then
	skip "test_nss under valgrind" "sanitized build: valgrind cannot run ASan binaries (runs under plain make check)"
	done_testing
	exit 0
fi
if ! command -v valgrind >/dev/null; then
	skip "test_nss under valgrind" "valgrind not installed"
	done_testing
	exit 0
fi
if [ ! -x "$BIN" ]; then
	not_ok "test_nss built" "$BIN missing: make test-bins"
	done_testing
	exit 1
fi
log=$(mktemp) || exit 2
trap 'rm -f "$log"' EXIT
cd "$TOP" || exit 2
NSS_TEST_SLOW=1 CMOCKA_MESSAGE_OUTPUT=TAP valgrind -q --fair-sched=yes --error-exitcode=97 \
    --leak-check=full --errors-for-leak-kinds=definite \
    --show-leak-kinds=definite --child-silent-after-fork=no \
    "$BIN" >"$log" 2>&1
rc=$?
if [ "$rc" -eq 0 ]; then
	ok "test_nss under valgrind: no errors, no definite leaks"
else
	not_ok "test_nss under valgrind: no errors, no definite leaks" \
	    "exit $rc; $(grep -E '^==|^not ok|^# ' "$log" | head -40)"
fi
n=$(grep -c '^ok ' "$log")
if [ "$n" -gt 0 ] && ! grep '^not ok' "$log" | grep -qv '# SKIP'; then
	ok "all $n module tests pass under valgrind"
else
	not_ok "all module tests pass under valgrind" "$(grep '^not ok' "$log")"
fi
done_testing
