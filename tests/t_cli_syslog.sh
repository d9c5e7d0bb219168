#!/bin/sh
# What the appuser CLI logs, and where a token may appear.  Each change is
# logged to syslog (authpriv, ident appuser) with who ran it; a token never
# reaches syslog, stderr or the store files.  syslog(3) is captured by a
# listener on /dev/log inside a private mount namespace (unshare -m with a
# tmpfs on /dev): the host's /dev and logging are untouched.  Needs root.
. "$(dirname "$0")/lib.sh"

if [ "$1" != --in-namespace ]; then
	if ! is_root || ! command -v unshare >/dev/null; then
		skip "syslog capture" "needs root and unshare(1) for a private /dev/log"
		done_testing; exit 0
	fi
	T=$(mktemp -d) || exit 2
	# The namespace and its mounts end with the inner shell; only then is
	# $T removed, from here, where nothing is mounted inside it.
	trap 'rm -rf "$T"' EXIT
	unshare -m --propagation private sh "$0" --in-namespace "$T"
	exit $?
fi
T=$2
S=$T/store

# a tmpfs over /dev with the few devices needed, and our own /dev/log
for n in null zero urandom random; do
	: >"$T/dev-$n" && mount --bind "/dev/$n" "$T/dev-$n" || exit 2
done
mount -t tmpfs -o mode=0755 appuser-test /dev || exit 2
for n in null zero urandom random; do
	: >"/dev/$n" && mount --bind "$T/dev-$n" "/dev/$n" || exit 2
done
syslog_listen /dev/log "$T/syslog"
trap 'kill "$SYSLOG_PID" 2>/dev/null' EXIT
[ -S /dev/log ] && ok "private /dev/log is listening" || not_ok "private /dev/log" "no socket"
logs() { sleep 0.2; cat "$T/syslog"; }

export SUDO_USER=alice
au create logbot --description "log test" >/dev/null 2>"$T/err1"
TOK=$(au token create logbot --max-age 30d 2>"$T/err2")
PREFIX=$(printf '%s' "$TOK" | cut -c1-16)
SECRET=$(printf '%s' "$TOK" | cut -c17-46)
JTOK=$(au --json token create logbot 2>"$T/err3" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
au admin grant logbot >/dev/null 2>>"$T/err1"
au token revoke logbot "$PREFIX" >/dev/null 2>>"$T/err1"
au token revoke logbot "${JTOK}x" >/dev/null 2>>"$T/err4"	# mistyped: not echoed
au config set admin-group opsgroup >/dev/null 2>>"$T/err1"
printf '{"name": "imp1"}\n{"name": "imp2"}\n' | au import - >/dev/null 2>>"$T/err1"
au create logbot >/dev/null 2>>"$T/err1"	# refused: logs nothing
SUDO_USER="$(printf 'mal\nlory')" au delete imp2 >/dev/null 2>>"$T/err1"
unset SUDO_USER
au delete logbot >/dev/null 2>>"$T/err1"
L=$(logs)
kill "$SYSLOG_PID" 2>/dev/null

printf '%s' "$TOK" | grep -Eq '^apu_[A-Za-z0-9]{48}$' && ok "got a token" || not_ok "got a token" "$TOK"
printf '%s' "$JTOK" | grep -Eq '^apu_[A-Za-z0-9]{48}$' && ok "got a token (--json)" || not_ok "got a json token"
has "authpriv.notice, ident appuser with pid" '^<85>.*appuser\[[0-9]+\]: create user=logbot ' "$L"
has "create: what and who" "create user=logbot uid=19[0-9]{8} home=/nonexistent shell=/bin/sh by uid=0 sudo_user=alice$" "$L"
has "token create: prefix and policy" "token create user=logbot prefix=$PREFIX max_age=30d extend=no allow_from=any scope=any by uid=0 sudo_user=alice$" "$L"
has "admin grant" "admin grant user=logbot by uid=0 sudo_user=alice$" "$L"
has "token revoke" "token revoke user=logbot prefix=$PREFIX by uid=0 sudo_user=alice$" "$L"
has "config set" "config set admin-group=opsgroup by uid=0 sudo_user=alice$" "$L"
has "import" "import users=2 uids=19[0-9]{8}-19[0-9]{8} source=stdin by uid=0 sudo_user=alice$" "$L"
has "delete without sudo" "delete user=logbot uid=19[0-9]{8} tokens=2 by uid=0$" "$L"
has "SUDO_USER is sanitised" "delete user=imp2 uid=19[0-9]{8} tokens=0 by uid=0 sudo_user=mal\?lory$" "$L"
n=$(printf '%s\n' "$L" | grep -c ']: create user=logbot')
[ "$n" -eq 1 ] && ok "a refused change logs nothing" || not_ok "a refused change logs nothing" "$n create lines"

for what in "$TOK" "$SECRET" "$JTOK" "$(printf '%s' "$JTOK" | cut -c17-46)"; do
	if printf '%s' "$L" | grep -qF "$what"; then not_ok "token not in syslog" "found"
	else ok "token not in syslog"; fi
	if cat "$T"/err* | grep -qF "$what"; then not_ok "token not on stderr" "found"
	else ok "token not on stderr"; fi
	if grep -aqF "$what" "$S"/*; then not_ok "token not in the store files" "found"
	else ok "token not in the store files"; fi
done
has "a mistyped token is refused without echoing it" "that is not a token prefix" "$(cat "$T/err4")"
has "stderr notice names the prefix only" "^appuser: token $PREFIX created for logbot; it is shown only once: store it now$" "$(cat "$T/err2")"
[ "$(stat -c %a "$S/store.tdb")" = 600 ] && ok "master is 0600" || not_ok "master is 0600" "$(stat -c %a "$S/store.tdb")"
for f in identity.snap identity.delta identity.gen; do
	[ "$(stat -c %a "$S/$f")" = 644 ] && ok "$f is 0644" ||
	    not_ok "$f is 0644" "$(stat -c %a "$S/$f")"
done
for f in tokens.snap tokens.delta usage lock; do
	[ "$(stat -c %a "$S/$f")" = 600 ] && ok "$f is 0600" ||
	    not_ok "$f is 0600" "$(stat -c %a "$S/$f")"
done

done_testing
