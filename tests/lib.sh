# Shared helpers for shell tests: TAP output.  Source it, then call
#   ok "name"  |  not_ok "name" "why"  |  skip "name" "reason"
#   check "name" COMMAND...      (ok if COMMAND succeeds)
#   expect_rc RC "name" COMMAND... (ok if COMMAND exits with RC)
#   is "name" WANT GOT [NOTE]    (ok if the strings are equal)
#   is_out "name" WANT COMMAND... (ok if COMMAND prints WANT)
# and finish with `done_testing`.  Also: rc, has/hasnt (below), au (the
# CLI on the store $S), need_built, syslog_listen (a private syslog),
# nss_two_users, and for a script that runs again in a private mount
# namespace: need_cmds, skip_if_why, ns_rerun, ns_inner, ns_devlog, die.
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
# need_built FILE...: a not ok line and the end of the script unless every
# FILE has been built
need_built() {
	for _f in "$@"; do
		[ -f "$_f" ] && continue
		not_ok "built: ${_f#"$TOP"/}" "run make first"
		done_testing
		exit 1
	done
}
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
# is NAME WANT GOT [NOTE]: ok if GOT = WANT; NOTE (say, stderr) on failure
is() {
	if [ "$3" = "$2" ]; then ok "$1"
	else not_ok "$1" "got:  $3
want: $2${4:+
$4}"; fi
}
# is_out NAME WANT CMD...: ok if CMD prints WANT (stdout and stderr)
is_out() {
	_name=$1 _want=$2; shift 2
	is "$_name" "$_want" "$("$@" 2>&1)"
}
# The CLI on the script's store $S.
au() { "$APPUSER" --store "$S" "$@"; }
# syslog_listen SOCKET FILE: start the one syslog listener
# (tests/e2e/syslog_listener.py) on SOCKET, each message a line of FILE;
# returns once the socket exists (false after 4 s), its pid in $SYSLOG_PID.
syslog_listen() {
	python3 "$TOP/tests/e2e/syslog_listener.py" "$1" "$2" \
	    </dev/null >/dev/null 2>&1 &
	SYSLOG_PID=$!
	for _ in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
		[ -S "$1" ] && return 0
		sleep 0.2
	done
	return 1
}
# nss_two_users RUN: the users the NSS scripts look up, made with the
# script's au: alice (description, home, shell; an admin) and bob (the
# defaults).  Their ids as `RUN getent` sees them: $UA, $UB, and the admin
# group's $G.
nss_two_users() {
	check "create alice" au create alice --description "Alice bot" \
	    --home /srv/alice --shell /bin/bash
	check "create bob" au create bob
	check "admin grant alice" au admin grant alice
	UA=$("$1" getent passwd alice | cut -d: -f3)
	UB=$("$1" getent passwd bob | cut -d: -f3)
	G=$("$1" getent group appuser-admins | cut -d: -f3)
	case "$UA$UB$G" in
	''|*[!0-9]*) not_ok "ids resolved" "alice=$UA bob=$UB admins=$G";;
	*) ok "ids resolved (alice=$UA bob=$UB admins=$G)";;
	esac
}
# --- scripts that run again as root in a private mount namespace ---------
# The host part sets why, the first reason it cannot run (is_root,
# need_cmds), then `skip_if_why NAME` and `ns_rerun TAG`; the part run
# there (`sh $0 --inner W`) starts with ns_inner, and may add ns_devlog.
# need_cmds CMD...: unless $why is set, the first CMD not on PATH sets it
need_cmds() {
	for _c in "$@"; do
		[ -n "$why" ] || command -v "$_c" >/dev/null 2>&1 ||
		    why="missing $_c (make deps)"
	done
}
# skip_if_why NAME: when $why is set, a skip line NAME with it and the end
# of the script
skip_if_why() {
	[ -n "$why" ] || return 0
	skip "$1" "$why"
	done_testing
	exit
}
# ns_rerun TAG: `sh $0 --inner W` in a private mount namespace, W a fresh
# directory /tmp/TAG.XXXXXX (empty again after: the tmpfs ns_inner mounts
# on it ends with the namespace, so rmdir removes it); its status in $irc
ns_rerun() {
	_w=$(mktemp -d "/tmp/$1.XXXXXX") || exit 2
	unshare --mount --propagation private sh "$0" --inner "$_w"
	irc=$?
	rmdir "$_w" 2>/dev/null
}
# die WHY: a setup step failed; the rest of the script cannot run
die() { echo "not ok - setup: $*"; echo "1..$((_n + 1))"; exit 1; }
# ns_inner W TAG: the start of the --inner part: W; programs not built with
# ASan (pamtester) get its runtime first, their leaks are not ours; then,
# only in a mount namespace of our own: a tmpfs TAG on W, a root-only
# W/secret, and W/pam.d bind-mounted on /etc/pam.d
ns_inner() {
	W=$1
	if [ -n "$SAN_PRELOAD" ]; then
		export LD_PRELOAD="$SAN_PRELOAD"
		export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
	fi
	[ "$(readlink /proc/self/ns/mnt)" != "$(readlink /proc/1/ns/mnt)" ] ||
	    die "not in a private mount namespace"
	mount -t tmpfs -o mode=0755,size=64m "$2" "$W" || die "tmpfs"
	mkdir -m 0700 "$W/secret" && mkdir "$W/pam.d" || die mkdir
	mount --bind "$W/pam.d" /etc/pam.d || die "bind /etc/pam.d"
	[ ! -e /etc/pam.d/common-auth ] || die "/etc/pam.d is not ours"
}
# ns_devlog: after ns_inner, our syslog listener on /dev/log (each message
# a line of $W/syslog.txt, the listener killed at exit): a socket bound
# over a placeholder in a read-only overlay of /dev, so the host's
# /dev/log is never touched
ns_devlog() {
	mkdir "$W/devlow" "$W/devorig" || die mkdir
	syslog_listen "$W/log.sock" "$W/syslog.txt"
	_up=$?
	trap 'kill $SYSLOG_PID 2>/dev/null' EXIT
	[ "$_up" = 0 ] || die "syslog listener did not start"
	touch "$W/devlow/log"
	mount --rbind /dev "$W/devorig" || die "rbind /dev"
	mount -t overlay overlay -o "lowerdir=$W/devlow:/dev" /dev ||
	    die "overlay /dev"
	for _m in pts shm mqueue; do
		[ -d "$W/devorig/$_m" ] && mount --rbind "$W/devorig/$_m" "/dev/$_m"
	done
	mount --bind "$W/log.sock" /dev/log || die "bind /dev/log"
}
# measure_script FILE: starts FILE, the script lock_hostage.py --measure
# runs at each stop, with its one function: `t NAME INPUT CMD...` runs CMD
# (stdin INPUT, output to m.out beside FILE) under timeout $TMO and prints
# "NAME MS RC"; once one took 1 s or more, the rest of the round runs
# under $TMO_SLOW (enough to show it, cheaper when all hang).  The caller
# appends the t lines.
measure_script() {
	cat >"$1" <<EOF
t() {
	_name=\$1 _in=\$2; shift 2
	_s=\$(date +%s%N)
	timeout -k 1 "\$TMO" "\$@" <"\$_in" >"${1%/*}/m.out" 2>&1
	_rc=\$?
	_ms=\$(( (\$(date +%s%N) - _s) / 1000000 ))
	echo "\$_name \$_ms \$_rc"
	[ "\$_ms" -lt 1000 ] || TMO=\${TMO_SLOW:-\$TMO}
}
EOF
}
# opcheck RESULT WHAT TAIL OP...: one line per operation OP from RESULT's
# "op OP n=.. max_ms=.. over_1s=.. failed=.." lines (tests/e2e/
# lock_hostage.py): ok when it ran, never took 1 s and never failed (its
# ok line ends with TAIL); WHAT is what was done to the victim meanwhile
opcheck() {
	_r=$1 _what=$2 _tail=$3; shift 3
	for op in "$@"; do
		l=$(grep "^op $op " "$_r")
		n=$(echo "$l" | sed -n 's/.* n=\([0-9]*\).*/\1/p')
		mx=$(echo "$l" | sed -n 's/.* max_ms=\([0-9]*\).*/\1/p')
		ov=$(echo "$l" | sed -n 's/.* over_1s=\([0-9]*\).*/\1/p')
		fl=$(echo "$l" | sed -n 's/.* failed=\([0-9]*\).*/\1/p')
		if [ "${n:-0}" -gt 0 ] && [ "$ov" = 0 ] && [ "$fl" = 0 ]; then
			ok "$op with $_what: $n runs, max $mx ms$_tail"
		else
			not_ok "$op under 1 s with $_what" \
			    "${n:-0} runs, max ${mx:-?} ms, ${ov:-?} took >= 1 s, ${fl:-?} failed or timed out"
		fi
	done
}
# pam_test_services: after ns_inner, the store's place $S=$W/store, the
# module copied to $MOD=$W/pam_appuser.so (pamtester may run as nobody,
# who must be able to read it, and the checkout may be in a directory
# nobody cannot enter), /etc/pam.d/t-stack (a local user's login:
# pam_appuser steps aside, pam_permit stands for pam_unix) and an
# /etc/pam.d/other that refuses everything
pam_test_services() {
	S=$W/store MOD=$W/pam_appuser.so
	cp "$B/pam_appuser.so" "$MOD" && chmod 0644 "$MOD" ||
	    die "copy the module to $W"
	cat >/etc/pam.d/t-stack <<EOF
auth     sufficient $MOD store=$S
auth     required   pam_permit.so
EOF
	cat >/etc/pam.d/other <<EOF
auth     required   pam_deny.so
account  required   pam_deny.so
password required   pam_deny.so
session  required   pam_deny.so
EOF
}
done_testing() { echo "1..$_n"; [ "$_failed" -eq 0 ]; }
