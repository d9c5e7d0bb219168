# Shared helpers for shell tests: TAP output.  Source it, then call
#   ok "name"  |  not_ok "name" "why"  |  skip "name" "reason"
#   check "name" COMMAND...      (ok if COMMAND succeeds)
#   expect_rc RC "name" COMMAND... (ok if COMMAND exits with RC)
# and finish with `done_testing`.
TOP=$(cd "$(dirname "$0")" && while [ ! -f Makefile ] && [ "$PWD" != / ]; do cd ..; done; pwd)
# the build directory under test: build/, or build-san/ for make check
# SANITIZE=1 (the Makefile exports APPUSER_BUILD and APPUSER_SANITIZE)
B="$TOP/${APPUSER_BUILD:-build}"
APPUSER="$B/appuser"
# a sanitized build: true under make check SANITIZE=1
sanitized() { [ "${APPUSER_SANITIZE:-0}" = 1 ]; }
# build-san/ or build-cov/ under test: make install still ships build/
other_build() { [ "${APPUSER_BUILD:-build}" != build ]; }
# make coverage: gcov's runtime in every binary and module
coverage_build() { [ "${APPUSER_COVERAGE:-0}" = 1 ]; }
# A program not built with ASan (getent, pamtester) that loads a module of a
# sanitized build needs the ASan runtime first in its library list:
# LD_PRELOAD="$SAN_PRELOAD".  Empty for a plain build.
SAN_PRELOAD=
sanitized && SAN_PRELOAD=$(${CC:-cc} -print-file-name=libasan.so)
_n=0 _failed=0
ok() { _n=$((_n + 1)); echo "ok $_n - $1"; }
not_ok() { _n=$((_n + 1)); _failed=$((_failed + 1)); echo "not ok $_n - $1"; [ -n "$2" ] && echo "$2" | sed 's/^/#   /'; return 0; }
skip() { _n=$((_n + 1)); echo "ok $_n - $1 # SKIP $2"; }
check() { _name=$1; shift; if _out=$("$@" 2>&1); then ok "$_name"; else not_ok "$_name" "$_out"; fi; }
expect_rc() {
	_want=$1 _name=$2; shift 2
	_out=$("$@" 2>&1); _rc=$?
	if [ "$_rc" -eq "$_want" ]; then ok "$_name"; else not_ok "$_name" "exit $_rc, wanted $_want: $_out"; fi
}
is_root() { [ "$(id -u)" = 0 ]; }
# rc WANT NAME CMD...: ok if CMD exits WANT; leaves its stdout in $out and
# stderr in $err (uses the caller's scratch directory $T)
rc() {
	_want=$1 _name=$2; shift 2
	"$@" >"$T/out" 2>"$T/err"; _rc=$?
	out=$(cat "$T/out") err=$(cat "$T/err")
	if [ "$_rc" -eq "$_want" ]; then ok "$_name"
	else not_ok "$_name" "exit $_rc, wanted $_want; stdout: $out; stderr: $err"; fi
}
# has/hasnt NAME PATTERN TEXT: grep -E PATTERN in TEXT (or its absence)
has() {
	if printf '%s\n' "$3" | grep -Eq -- "$2"; then ok "$1"
	else not_ok "$1" "no /$2/ in: $3"; fi
}
hasnt() {
	if printf '%s\n' "$3" | grep -Eq -- "$2"; then not_ok "$1" "/$2/ in: $3"
	else ok "$1"; fi
}
done_testing() { echo "1..$_n"; [ "$_failed" -eq 0 ]; }
