#!/bin/sh
# Every appuser command under valgrind memcheck, on success and on its
# error paths: no invalid access, no use of uninitialised memory, no
# definite leak (the modules have t_nss_valgrind.sh and t_pam_valgrind.sh).
# The store is a fresh temporary one.
. "$(dirname "$0")/lib.sh"

name="appuser commands under valgrind"
if sanitized; then
	skip "$name" "sanitized build: valgrind cannot run ASan binaries (runs under plain make check)"
	done_testing; exit 0
fi
if ! command -v valgrind >/dev/null 2>&1; then
	skip "$name" "valgrind not installed (make deps)"
	done_testing; exit 0
fi
if [ ! -x "$APPUSER" ]; then
	not_ok "$name" "$APPUSER missing: run make"
	done_testing; exit 1
fi
T=$(mktemp -d) || exit 2
trap 'rm -rf "$T"' EXIT
S=$T/store

# vg WANT ARGS...: appuser --store S ARGS under memcheck exits WANT (97:
# memcheck found something); the report goes into the failure message
vg() {
	_want=$1; shift
	valgrind -q --error-exitcode=97 --leak-check=full \
	    --errors-for-leak-kinds=definite --show-leak-kinds=definite \
	    "$APPUSER" --store "$S" "$@" >"$T/out" 2>"$T/err" </dev/null
	_rc=$?
	if [ "$_rc" -eq "$_want" ]; then ok "valgrind: appuser $*"
	elif [ "$_rc" -eq 97 ]; then
		not_ok "valgrind: appuser $*" "$(grep -E '^==[0-9]+==' "$T/err" | head -40)"
	else not_ok "valgrind: appuser $*" "exit $_rc, wanted $_want: $(head -5 "$T/err")"
	fi
}

vg 0 --help
vg 0 token create --help
vg 2 frobnicate
vg 0 list				# no store yet
vg 0 --json token list
vg 0 create ci-bot --description "CI bot" --shell /bin/bash --home /srv/ci
vg 0 --json create deploy --description "déploiement"
vg 1 create ci-bot			# exists
vg 2 create "Bad Name"
vg 2 create x --home relative
vg 0 list
vg 0 --json list
vg 0 show ci-bot
vg 0 --json show deploy
vg 1 show nobody1
vg 0 token create ci-bot --description deploys --max-age 30d \
    --allow-from 10.0.0.0/8,2001:db8::/32,local --scope sshd,sudo --extend
PREFIX=$(cut -c1-16 "$T/out")
vg 0 --json token create deploy --max-age 90m
vg 2 token create deploy --max-age 0
vg 2 token create deploy --allow-from 10.0.0.1/8
vg 2 token create deploy --scope 'ss/h'
vg 1 token create nobody1
vg 0 token list
vg 0 --json token list ci-bot
vg 0 token revoke ci-bot "$PREFIX"
vg 2 token revoke ci-bot apu_
vg 0 --json token revoke deploy --all
vg 0 admin grant ci-bot
vg 0 --json admin revoke ci-bot
vg 1 admin grant nobody1
vg 0 config show
vg 0 --json config show
vg 0 config set admin-group bots
vg 2 config set uid-range 5-1
vg 0 check
vg 0 --json check
printf '{"name": "imp1", "description": "one"}\n\n{"name": "imp2", "admin": true}\n' >"$T/ok.jsonl"
printf '{"name": "imp3"}\n{"name": "imp3", "uid": "x"}\n' >"$T/bad.jsonl"
vg 0 import "$T/ok.jsonl"
vg 2 import "$T/bad.jsonl"
vg 2 import "$T/missing.jsonl"
vg 0 delete imp1
vg 0 --json delete imp2
vg 1 delete imp1
done_testing
