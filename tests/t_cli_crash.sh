#!/bin/sh
# Crash consistency: appuser writes (create, token create, import, delete,
# token revoke) killed with SIGKILL at random moments, then `appuser check`
# must find a clean store, each import must be all or nothing, and every
# listed user and token must be whole and consistent.
. "$(dirname "$0")/lib.sh"

T=$(mktemp -d) || exit 2
trap 'rm -rf "$T"' EXIT
S=$T/store
ROUNDS=${CRASH_ROUNDS:-48}
IMPORT_N=300

au create seed >/dev/null 2>&1 && au token create seed >/dev/null 2>&1 &&
    ok "setup" || not_ok "setup"

# random delays (seconds) for the kill, long enough to land inside a command
awk -v n="$ROUNDS" 'BEGIN { srand(); for (i = 0; i < n; i++)
    printf "%.3f %.3f\n", rand() * 0.015, rand() * 0.08 }' >"$T/delays"

i=0 killed=0 finished=0
while read -r short long; do
	i=$((i + 1))
	delay=$short
	case $((i % 6)) in
	0) set -- create "c$i" ;;
	1) set -- token create seed --max-age 1h ;;
	2) set -- token create "c$((i - 2))" ;;
	3) python3 -c "import sys
for k in range($IMPORT_N): print('{\"name\": \"i${i}_%d\", \"description\": \"round $i\"}' % k)" \
	    >"$T/imp$i"
	   delay=$long
	   set -- import "$T/imp$i" ;;
	4) set -- delete "c$((i - 4))" ;;
	5) set -- token revoke seed --all ;;
	esac
	# a simple command in the background: $! is appuser itself
	"$APPUSER" --store "$S" "$@" >/dev/null 2>&1 &
	pid=$!
	sleep "$delay"
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	if [ $? -eq 137 ]; then killed=$((killed + 1)); else finished=$((finished + 1)); fi
done <"$T/delays"
echo "# $ROUNDS rounds: $killed killed by SIGKILL, $finished finished first"
[ "$killed" -gt 0 ] && ok "some writers were killed mid-way ($killed)" ||
    not_ok "some writers were killed mid-way" "all $finished finished"

# validate LABEL: what readers see is whole (users, tokens, imports)
validate() {
	au --json list >"$T/users" 2>"$T/err" && ok "$1: list" || not_ok "$1: list" "$(cat "$T/err")"
	au --json token list >"$T/tokens" 2>"$T/err" && ok "$1: token list" || not_ok "$1: token list" "$(cat "$T/err")"
	au --json config show >"$T/meta" 2>"$T/err" && ok "$1: config show" || not_ok "$1: config show" "$(cat "$T/err")"
	if out=$(python3 - "$T/users" "$T/tokens" "$T/meta" "$IMPORT_N" <<'EOF' 2>&1
import collections, json, sys
users = json.load(open(sys.argv[1]))
tokens = json.load(open(sys.argv[2]))
meta = json.load(open(sys.argv[3]))
n = int(sys.argv[4])
names = {u["name"] for u in users}
uids = [u["uid"] for u in users]
assert len(names) == len(users), "duplicate names"
assert len(set(uids)) == len(uids), "duplicate uids"
assert meta["users"] == len(users), ("user count", meta["users"], len(users))
for u in users:
    assert u["uid"] == u["gid"] and meta["uid_min"] < u["uid"] <= meta["uid_max"], u
rounds = collections.Counter(u["name"].split("_")[0] for u in users if u["name"].startswith("i"))
for r, c in rounds.items():
    assert c == n, "import %s is partial: %d of %d users" % (r, c, n)
for t in tokens:
    assert t["user"] in names, "token of a missing user: %s" % t
    assert t["status"] in ("active", "revoked"), t
print("%d users, %d complete imports, %d tokens" % (len(users), len(rounds), len(tokens)))
EOF
	); then ok "$1: consistent: $out"; else not_ok "$1: consistent" "$out"; fi
}

validate "before check"
"$APPUSER" --store "$S" check >"$T/check" 2>&1; rc=$?
[ $rc -eq 0 ] && ok "check after the kills" || not_ok "check after the kills (exit $rc)" "$(cat "$T/check")"
"$APPUSER" --store "$S" check >"$T/check" 2>&1; rc=$?
[ $rc -eq 0 ] && ok "check again" || not_ok "check again (exit $rc)" "$(cat "$T/check")"
validate "after check"

# every user is whole in the snapshot, and the store still takes writes
bad=$(python3 -c 'import json,sys; print("\n".join(u["name"] for u in json.load(open(sys.argv[1]))[:40]))' "$T/users" |
    while read -r name; do au show "$name" >/dev/null 2>&1 || echo "$name"; done)
[ -z "$bad" ] && ok "show works for listed users" || not_ok "show works for listed users" "$bad"
au create after-crash >/dev/null 2>"$T/err" && ok "a write after the crashes" ||
    not_ok "a write after the crashes" "$(cat "$T/err")"
au token create after-crash >/dev/null 2>"$T/err" && ok "a token after the crashes" ||
    not_ok "a token after the crashes" "$(cat "$T/err")"
"$APPUSER" --store "$S" check >/dev/null 2>&1 && ok "final check" || not_ok "final check"
ls "$S" | grep -v -x -e store.tdb -e identity.snap -e identity.delta -e identity.gen \
    -e tokens.snap -e tokens.delta -e usage -e lock >"$T/extra"
[ ! -s "$T/extra" ] && ok "no temporary files left behind" ||
    not_ok "no temporary files left behind" "$(cat "$T/extra")"

done_testing
