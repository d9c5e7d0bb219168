# Shared helpers for shell tests: TAP output.  Source it, then call
#   ok "name"  |  not_ok "name" "why"  |  skip "name" "reason"
#   check "name" COMMAND...      (ok if COMMAND succeeds)
#   expect_rc RC "name" COMMAND... (ok if COMMAND exits with RC)
# and finish with `done_testing`.
TOP=$(cd "$(dirname "$0")" && while [ ! -f Makefile ] && [ "$PWD" != / ]; do cd ..; done; pwd)
APPUSER="$TOP/build/appuser"
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
done_testing() { echo "1..$_n"; [ "$_failed" -eq 0 ]; }
