#!/bin/sh
# The libpamtest runs (build/tests/test_pam: real libpam under pam_wrapper,
# loading build/pam_appuser.so) under valgrind memcheck: no invalid access,
# no use of uninitialised memory, no definite leak.  test_pam re-runs itself
# under pam_wrapper, hence --trace-children; TEST_PAM_QUICK shortens its
# timing loop.
. "$(dirname "$0")/lib.sh"
T=$B/tests/test_pam
name="test_pam under valgrind: no memory errors, no definite leaks"
if sanitized; then
	skip "$name" "sanitized build: valgrind cannot run ASan binaries (runs under plain make check)"
	done_testing
	exit 0
fi
if ! command -v valgrind >/dev/null 2>&1; then
	skip "$name" "valgrind not installed (make deps)"
	done_testing
	exit 0
fi
if [ ! -x "$T" ]; then
	skip "$name" "build/tests/test_pam not built (make test-bins)"
	done_testing
	exit 0
fi
log=$(mktemp /tmp/t_pam_valgrind.XXXXXX) || exit 2
supp=$(mktemp /tmp/t_pam_valgrind.XXXXXX) || exit 2
trap 'rm -f "$log" "$supp"' EXIT
# pam_wrapper's constructor keeps two strdup()ed paths for the whole run
cat >"$supp" <<'EOF'
{
   pam_wrapper_constructor_paths
   Memcheck:Leak
   match-leak-kinds: definite
   fun:malloc
   fun:strdup
   obj:*/libpam_wrapper.so
}
EOF
# 99: valgrind found something; anything else non-zero: a test failed
CMOCKA_MESSAGE_OUTPUT=TAP TEST_PAM_QUICK=1 valgrind -q --trace-children=yes \
    --vgdb=no --suppressions="$supp" \
    --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
    --show-leak-kinds=definite --child-silent-after-fork=no "$T" >"$log" 2>&1
rc=$?
# With LD_PRELOAD in its environment valgrind's own launcher also runs
# pam_wrapper's constructor, then execs the tool: the directory it made is
# left behind.  Remove such stale ones from this run (dead pid), as
# pam_wrapper itself would.
for d in /tmp/pam.?; do
	[ -f "$d/pid" ] && [ "$d" -nt "$supp" ] || continue
	kill -0 "$(cat "$d/pid")" 2>/dev/null || rm -rf "$d"
done
case $rc in
0) ok "$name";;
99) not_ok "$name" "$(grep -E '^==[0-9]+==' "$log" | head -60)";;
*) not_ok "$name" "test_pam failed under valgrind (exit $rc): $(grep -E '^not ok|^==[0-9]+==' "$log" | head -40)";;
esac
# every cmocka case ran and passed under valgrind too
n=$(grep -c '^ok ' "$log")
if [ "$n" -ge 30 ]
then ok "all $n test_pam cases ran under valgrind"
else not_ok "test_pam cases under valgrind" "only $n ok lines"; fi
done_testing
