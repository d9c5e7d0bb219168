#!/bin/sh
# appuser token rotate: the new token copies the old one's restrictions and
# is printed once; the old one keeps working until the grace ends (never
# longer than it would have), or is revoked at once with --grace 0; what it
# refuses changes nothing.  Then, as root in a private mount namespace
# (pamtester with a private /etc/pam.d and /dev/log, as in
# t_pam_pamtester.sh), rotation under concurrent logins: a login in
# progress with the old token and a stream of them during the rotation all
# succeed, the new token works at once, the old one is refused once the
# grace is over although it slid on every use, and syslog names both
# prefixes.  Tokens travel only through root-only files, never argv.
. "$(dirname "$0")/lib.sh"

if [ "$1" != --inner ]; then
	T=$(mktemp -d) || exit 2
	trap 'rm -rf "$T"' EXIT
	need_built "$APPUSER"
	S=$T/store
	# py NAME CODE: python on $out as JSON (variable j), CODE asserts
	py() {
		if _o=$(printf '%s' "$out" | python3 -c "import json,sys
j = json.load(sys.stdin)
$2" 2>&1); then ok "$1"; else not_ok "$1" "$_o"; fi
	}
	tokens() { au --json token list "$@" 2>&1; }

	rc 0 "token rotate --help" au token rotate --help
	has "... shows its usage" "^usage: appuser token rotate NAME PREFIX" "$out"
	rc 2 "missing prefix" au token rotate bot
	rc 1 "no store yet" au token rotate bot apu_AAAAAAAAAAAA
	has "... no such user" "no application user 'bot'" "$err"
	[ ! -e "$S" ] && ok "... creates no store" || not_ok "... creates no store"

	au create bot >/dev/null 2>&1 && au create other >/dev/null 2>&1
	(umask 077; au token create bot --description "deploy job" --max-age 30d \
	    --extend-when-used --allow-from 10.0.0.0/8,local --scope sshd,sudo \
	    >"$T/old" 2>/dev/null)
	OLD=$(cut -c1-16 "$T/old")
	rc 0 "rotate (default grace)" sh -c "umask 077; '$APPUSER' --store '$S' token rotate bot $OLD >'$T/new'"
	NEW=$(cut -c1-16 "$T/new")
	is "... prints one line: the new token" "1" "$(grep -c '^apu_[A-Za-z0-9]\{48\}$' "$T/new")"
	has "... the notice names both prefixes and the end of the grace" \
	    "^appuser: token $NEW created for bot to replace $OLD, which works until [0-9T:Z-]+ \(in 1 hour\); it is shown only once: store it now$" "$err"
	out=$(tokens bot)
	py "the new token copies description, max age, sliding expiry, allowlist, scope" "
import time
o = [t for t in j if t['prefix'] == '$OLD'][0]
n = [t for t in j if t['prefix'] == '$NEW'][0]
for k in ('description', 'max_age_seconds', 'allow_from', 'scope'):
    assert o[k] == n[k], (k, o[k], n[k])
assert n['description'] == 'deploy job' and n['max_age_seconds'] == 30 * 86400, n
assert n['allow_from'] == ['10.0.0.0/8', 'local'] and n['scope'] == ['sshd', 'sudo'], n
assert n['extend_when_used'] is True and n['status'] == 'active', n
assert o['status'] == 'active' and o['extend_when_used'] is False, o
ts = lambda s: time.mktime(time.strptime(s, '%Y-%m-%dT%H:%M:%SZ')) - time.timezone
assert abs(ts(o['expiry_time']) - time.time() - 3600) < 60, o
assert abs(ts(n['expiry_time']) - time.time() - 30 * 86400) < 60, n"

	# --json: the token first, then the new token's metadata and the old one
	rc 0 "rotate --json --grace 0" sh -c "umask 077; '$APPUSER' --store '$S' --json token rotate bot $NEW --grace 0 >'$T/new.json'"
	has "... the notice says the old one is revoked" "to replace $NEW, which is revoked" "$err"
	out=$(cat "$T/new.json")
	py "... token first, new token's fields, replaces: the old prefix and status" "
assert list(j)[0] == 'token' and j['token'].startswith(j['prefix']), list(j)
assert j['scope'] == ['sshd', 'sudo'] and j['user'] == 'bot', j
assert j['replaces']['prefix'] == '$NEW' and j['replaces']['status'] == 'revoked', j
assert j['replaces']['revoke_time'] is not None, j"
	NEWER=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["prefix"])' <"$T/new.json")
	out=$(tokens bot)
	py "--grace 0 revokes the old token at once" "
s = {t['prefix']: t['status'] for t in j}
assert s == {'$OLD': 'active', '$NEW': 'revoked', '$NEWER': 'active'}, s"
	end=$(tokens bot | python3 -c "import json,sys; print([t for t in json.load(sys.stdin) if t['prefix'] == '$OLD'][0]['expiry_time'])")
	rc 0 "rotate --grace 1d of a token in its grace" sh -c "'$APPUSER' --store '$S' token rotate bot $OLD --grace 1d >/dev/null"
	has "... its end does not move later" "which works until $end " "$err"

	# refusals change nothing
	(umask 077; au token create bot --max-age 1 >"$T/short" 2>/dev/null)
	SHORT=$(cut -c1-16 "$T/short")
	P_OTHER=$(au token create other 2>/dev/null | cut -c1-16)
	sleep 2
	au --json token list >"$T/before" 2>&1
	rc 1 "a revoked token" au token rotate bot "$NEW"
	has "... says so" "token $NEW of bot is revoked: there is nothing to rotate \(make a new one with appuser token create bot\)" "$err"
	rc 1 "an expired token" au token rotate bot "$SHORT"
	has "... says so" "token $SHORT of bot is expired" "$err"
	rc 1 "another user's token" au token rotate bot "$P_OTHER"
	has "... not bot's" "bot has no token $P_OTHER" "$err"
	rc 1 "an unknown user" au token rotate ghost "$OLD"
	has "... says so" "no application user 'ghost'" "$err"
	rc 2 "not a prefix" au token rotate bot apu_short
	rc 2 "a whole token mistyped is not echoed" au token rotate bot "$(cat "$T/old")x"
	if grep -qF "$(cut -c17- "$T/old")" "$T/err"; then not_ok "... the secret is not in the error"
	else ok "... the secret is not in the error"; fi
	rc 2 "--grace -1" au token rotate bot "$OLD" --grace -1
	rc 2 "--grace 5x" au token rotate bot "$OLD" --grace 5x
	rc 2 "standard output closed" sh -c "'$APPUSER' --store '$S' token rotate bot $OLD >&-"
	has "... nowhere to print the token" "standard output is closed" "$err"
	au --json token list >"$T/after" 2>&1
	cmp -s "$T/before" "$T/after" && ok "refused rotations changed nothing" ||
	    not_ok "refused rotations changed nothing" "$(diff "$T/before" "$T/after")"

	# the root part: pamtester in a private mount namespace
	why=
	is_root || why="needs root (mount namespace over /etc/pam.d and /dev/log)"
	need_cmds pamtester unshare mount python3
	[ -n "$why" ] || [ -f "$B/pam_appuser.so" ] || why="pam_appuser.so not built"
	[ -n "$why" ] || grep -qw overlay /proc/filesystems || why="kernel has no overlayfs"
	skip_if_why "rotation under concurrent pamtester logins"
	ns_rerun t_rotate >"$T/inner" 2>&1
	# the inner TAP lines count as ours
	f0=$_failed
	while IFS= read -r line; do
		case $line in
		"ok "*) ok "${line#ok * - }";;
		"not ok "*) not_ok "${line#not ok * - }";;
		"#"*) echo "$line";;
		esac
	done <"$T/inner"
	[ $irc = 0 ] || [ $_failed -gt $f0 ] ||
	    not_ok "inner part exited $irc" "$(tail -5 "$T/inner")"
	done_testing
	exit
fi

# --- inside the private mount namespace -------------------------------------
# (the outer part relays the TAP lines: die's plan line is ignored there)
ns_inner "$2" t_rotate
ns_devlog

S=$W/store
cat >/etc/pam.d/t-rotate <<EOF
auth     required   $B/pam_appuser.so store=$S
account  required   $B/pam_appuser.so store=$S
EOF
printf 'auth required pam_deny.so\naccount required pam_deny.so\n' \
    >/etc/pam.d/other
# login FILE: one pamtester login with the token in FILE; 0 if accepted
login() { pamtester t-rotate ci-bot authenticate acct_mgmt <"$1" >/dev/null 2>&1; }

au create ci-bot >/dev/null 2>&1 || die "create"
(umask 077; au token create ci-bot --max-age 1d --extend-when-used \
    --allow-from local --scope t-rotate >"$W/secret/old" 2>/dev/null) ||
    die "token create"
OLD=$(cut -c1-16 "$W/secret/old")
login "$W/secret/old" && ok "the old token logs in" || not_ok "the old token logs in"

GRACE=8
# a login in progress: pamtester has opened the store and waits at its
# Token: prompt while the rotation happens; the old token comes after
{ sleep 2; cat "$W/secret/old"; } |
    pamtester t-rotate ci-bot authenticate acct_mgmt >"$W/inflight" 2>&1 &
inflight=$!
# and a stream of logins with the old token across the rotation
(
	i=0
	while [ $i -lt 12 ]; do
		login "$W/secret/old" && echo ok || echo refused
		i=$((i + 1))
		sleep 0.1
	done
) >"$W/stream" &
stream=$!
sleep 0.5
t0=$(date +%s)
(umask 077; au token rotate ci-bot "$OLD" --grace $GRACE >"$W/secret/new" \
    2>"$W/rotate.err")
rrc=$?
NEW=$(cut -c1-16 "$W/secret/new")
is "rotate under logins: exit 0" 0 "$rrc" "$(cat "$W/rotate.err")"
login "$W/secret/new" && ok "the new token logs in at once" ||
    not_ok "the new token logs in at once"
wait $inflight
irc=$?
[ $irc = 0 ] && grep -q "successfully authenticated" "$W/inflight" &&
    ok "a login in progress with the old token succeeds" ||
    not_ok "a login in progress with the old token" "exit $irc: $(cat "$W/inflight")"
wait $stream
t1=$(date +%s)
if [ $((t1 - t0)) -ge $GRACE ]; then
	skip "logins with the old token during the grace" "the machine is too slow: the stream took $((t1 - t0)) s"
else
	is "logins with the old token before and during the grace: all accepted" \
	    "12 ok" "$(sort "$W/stream" | uniq -c | sed 's/^ *//')"
fi
login "$W/secret/old" && ok "the old token still works within the grace" ||
    not_ok "the old token still works within the grace"
out=$(au --json token list ci-bot)
py_exp=$(printf '%s' "$out" | python3 -c "import json,sys
t = [t for t in json.load(sys.stdin) if t['prefix'] == '$OLD'][0]
print(t['extend_when_used'], t['last_used_time'] is not None)")
is "the old token no longer slides (its logins were recorded)" "False True" "$py_exp"

# the grace ends, however often the old token slid
w=$((t0 + GRACE + 1 - $(date +%s)))
[ $w -gt 0 ] && sleep $w
login "$W/secret/old" && not_ok "after the grace the old token is refused" ||
    ok "after the grace the old token is refused"
login "$W/secret/new" && ok "... the new one still logs in" ||
    not_ok "... the new one still logs in"

# --grace 0: the previous token stops at once
(umask 077; au token rotate ci-bot "$NEW" --grace 0 >"$W/secret/newest" 2>/dev/null)
NEWEST=$(cut -c1-16 "$W/secret/newest")
login "$W/secret/new" && not_ok "--grace 0: the replaced token is refused at once" ||
    ok "--grace 0: the replaced token is refused at once"
login "$W/secret/newest" && ok "... the newest logs in" || not_ok "... the newest logs in"

# a last use, seen by audit and metrics
sleep 2
out=$(au audit --unused 1 | grep "token-unused ci-bot $NEWEST")
case $out in
"medium token-unused ci-bot $NEWEST last used "*" (not within 1s): revoke it if nothing uses it")
	ok "audit: token-unused after its last use";;
*) not_ok "audit: token-unused after its last use" "$out";;
esac
au metrics | grep -q "^appuser_token_last_used_timestamp_seconds{user=\"ci-bot\",prefix=\"$NEWEST\"} [0-9]*$" &&
    ok "metrics: the last use of the newest token" ||
    not_ok "metrics: the last use of the newest token" "$(au metrics | grep last_used)"

# syslog: both prefixes, never a secret
sleep 0.3
L=$W/syslog.txt
grep -q "appuser.*token rotate user=ci-bot prefix=$NEW old_prefix=$OLD old_expires=[0-9T:Z-]* by uid=0" "$L" &&
    ok "syslog: the rotation names both prefixes and the old one's end" ||
    not_ok "syslog: rotation" "$(grep rotate "$L")"
grep -q "token rotate user=ci-bot prefix=$NEWEST old_prefix=$NEW old_revoked=yes" "$L" &&
    ok "syslog: --grace 0 says the old one is revoked" ||
    not_ok "syslog: --grace 0" "$(grep rotate "$L")"
grep -q "refused user=ci-bot reason=expired token=$OLD" "$L" &&
    ok "syslog: the old token refused as expired after the grace" ||
    not_ok "syslog: the old token after the grace" "$(grep "token=$OLD" "$L" | tail -3)"
for f in old new newest; do cut -c17- "$W/secret/$f"; done >"$W/secret/secrets"
if grep -qF -f "$W/secret/secrets" "$L" "$W/rotate.err"; then
	not_ok "no token secret in syslog or on stderr"
else
	ok "no token secret in syslog or on stderr"
fi
done_testing
