#!/bin/sh
# Issue 8, section 1, the quick variant (no sshd, su or sudo; only a
# private mount namespace for /etc/pam.d, as tests/t_pam_pamtester.sh):
#   - nobody takes flock, fcntl and OFD locks on every file of the store it
#     can open and keeps them (tests/e2e/lock_hostage.py hold);
#   - pamtester runs pam_appuser over and over (an application user with its
#     token, so logins write bookkeeping; one with a wrong token; root), and
#     is SIGSTOPped whenever it holds ANY lock on ANY file of the store
#     (/proc/locks, by major:minor:inode) -- what a local user does to its
#     own setuid su;
#   - meanwhile every PAM call (an application user's login with its token,
#     root's, which pam_appuser must step aside from) and every `appuser`
#     command tried (token create and revoke, create, delete) must finish,
#     and succeed, in under 1 s.
#   - then, not left to chance (a lock held for microseconds is rarely
#     caught in /proc/locks): each pamtester job is run again and again
#     under strace, which SIGSTOPs it right after its 1st, 2nd, 3rd...
#     fcntl/flock call, until it runs to its end; the same operations are
#     timed at every one of those stops (needs strace; skipped without).
# The operations include a login with the very token the stopped pamtester
# is using (its bookkeeping may wait for that slot, but not for 1 s).
# The full attack, with the real su and sudo run by an unprivileged user,
# is tests/e2e/t_lock_hostage.sh.  Knob: HOLD_SECONDS (attack time, 8).
. "$(dirname "$0")/lib.sh"
LH=$TOP/tests/e2e/lock_hostage.py

if [ "$1" != --inner ]; then
	why=
	is_root || why="needs root (mount namespace over /etc/pam.d)"
	need_cmds pamtester unshare mount python3 setpriv timeout
	[ -n "$why" ] || ! coverage_build ||
	    why="coverage build: gcov's runtime takes a whole-file fcntl lock on each .gcda as a process exits, so a pamtester stopped there stalls every other instrumented process (the store's locks are tested under plain make check)"
	[ -n "$why" ] || [ -x "$APPUSER" ] || why="build/appuser not built"
	[ -n "$why" ] || [ -f "$B/pam_appuser.so" ] ||
	    why="build/pam_appuser.so not built"
	skip_if_why "store locks held, pamtester stopped holding a lock"
	ns_rerun t_lock_hold
	exit $irc
fi

# --- inside the private mount namespace -------------------------------------
ns_inner "$2" t_lock_hold
STRACE=$(command -v strace)
# the module's log lines go nowhere rather than to the host's syslog
[ -e /dev/log ] && { mount --bind /dev/null /dev/log || die "bind /dev/log"; }

pam_test_services
cp "$LH" "$W/lock_hostage.py" && chmod 0755 "$W/lock_hostage.py" ||
    die "copy lock_hostage.py"
cat >/etc/pam.d/t-hold <<EOF
auth     required   $MOD store=$S
account  required   $MOD store=$S
EOF

au create ci-bot >/dev/null && au create busy-bot >/dev/null &&
(umask 077 && au token create ci-bot >"$W/secret/ci" 2>/dev/null) &&
(umask 077 && au token create busy-bot >"$W/secret/busy" 2>/dev/null) ||
    die "users and tokens"
printf 'apu_000000000000WrongWrongWrongWrongWrongWrong000000\n' >"$W/secret/bad"
printf 'x\n' >"$W/secret/none"
: >"$W/pool"
for i in $(seq 1 80); do
	au token create ci-bot 2>/dev/null | cut -c1-16 >>"$W/pool"
done
seq -f 'gone%02g' 1 80 >"$W/users"
sed 's/.*/{"name": "&"}/' "$W/users" >"$W/users.json"
au import "$W/users.json" >/dev/null 2>&1 || die "import"
ok "store with ci-bot, busy-bot, 80 tokens to revoke, 80 users to delete"

measure_script "$W/measure.sh"
cat >>"$W/measure.sh" <<EOF
t root-login "$W/secret/none" pamtester t-stack root authenticate
t app-login "$W/secret/ci" pamtester t-hold ci-bot authenticate acct_mgmt
t same-token-login "$W/secret/busy" pamtester t-hold busy-bot authenticate
t token-create /dev/null sh -c "umask 077 && '$APPUSER' --store '$S' token create ci-bot >'$W/secret/t.new'"
_p=\$(head -n 1 "$W/pool"); sed -i 1d "$W/pool"
t token-revoke /dev/null "$APPUSER" --store "$S" token revoke ci-bot "\$_p"
t create /dev/null "$APPUSER" --store "$S" create "new\$(date +%N)"
_u=\$(head -n 1 "$W/users"); sed -i 1d "$W/users"
t delete /dev/null "$APPUSER" --store "$S" delete "\$_u"
EOF
# control: with no attack every operation takes well under 1 s; a round
# slowed by a busy machine (CI's other jobs) is measured again, 3 at most
for round in 1 2 3; do
	quiet=$(TMO=5 sh "$W/measure.sh")
	[ -z "$(echo "$quiet" | awk '$2 >= 1000 || $3 != 0')" ] &&
	    [ "$(echo "$quiet" | wc -l)" -eq 7 ] && break
	echo "# control round $round slow or failed: $(echo "$quiet" | tr '\n' ' ')"
done
[ -z "$(echo "$quiet" | awk '$2 >= 1000 || $3 != 0')" ] &&
    [ "$(echo "$quiet" | wc -l)" -eq 7 ] &&
    ok "control, no attack: 7 operations succeed under 1 s (round $round)" ||
    not_ok "control: operations succeed quickly without an attack" "$quiet"

# nobody holds locks on all it can open, for the whole run
mkfifo "$W/hold.in" || die mkfifo
setpriv --reuid=65534 --regid=65534 --clear-groups --reset-env \
    python3 "$W/lock_hostage.py" hold --store "$S" <"$W/hold.in" >"$W/hold.out" 2>&1 &
HOLDER=$!
exec 7>"$W/hold.in"
trap 'exec 7>&-; kill $HOLDER 2>/dev/null' EXIT
for i in $(seq 1 50); do [ -s "$W/hold.out" ] && break; sleep 0.1; done
echo "# nobody's locks: $(head -n 1 "$W/hold.out")"

R=$W/result
python3 "$W/lock_hostage.py" run --user root --no-hold --store "$S" \
    --ignore-locks-of "$HOLDER" --ops 7 --max-rounds 30 \
    --seconds "${HOLD_SECONDS:-8}" --budget $((${HOLD_SECONDS:-8} + 12)) \
    --parallel 3 --miss-every 4 --measure "$W/measure.sh" --out "$R" \
    --pipe-job "$W/secret/busy pamtester t-hold busy-bot authenticate" \
    --pipe-job "$W/secret/bad pamtester t-hold ci-bot authenticate" \
    --pipe-job "$W/secret/none pamtester t-stack root authenticate" ||
    not_ok "attack ran"
SW=$W/sweep
if [ -n "$STRACE" ]; then
	python3 "$W/lock_hostage.py" sweep --store "$S" --ops 7 \
	    --timeout 2 --max-slow-rounds 1 --max-rounds 30 --budget 25 \
	    --miss-every 1 \
	    --measure "$W/measure.sh" --out "$SW" \
	    --pipe-job "$W/secret/busy pamtester t-hold busy-bot authenticate acct_mgmt" \
	    --pipe-job "$W/secret/bad pamtester t-hold ci-bot authenticate" \
	    --pipe-job "$W/secret/none pamtester t-stack root authenticate" ||
	    not_ok "sweep ran"
fi
exec 7>&-
wait "$HOLDER"
echo "# nobody's locks at the end: $(tail -n 1 "$W/hold.out")"

OPS="root-login app-login same-token-login token-create token-revoke create delete"
sed 's/^/# /' "$R"
val() { sed -n "s/.*[ ]$1=\([^ ]*\).*/\1/p" "$R" | head -n 1; }
[ "$(val stops)" -ge 10 ] 2>/dev/null &&
    ok "$(val spawned) pamtester runs, $(val stops) stops, $(val hits) holding a store lock ($(val hit_files))" ||
    not_ok "at least 10 stops" "$(head -n 1 "$R")"
opcheck "$R" "pamtester stopped at random and on seen locks, nobody's locks" "" $OPS

if [ -z "$STRACE" ]; then
	skip "pamtester stopped after each of its fcntl/flock calls" "missing strace (make deps)"
else
	sed 's/^/# /' "$SW"
	# the logins with a token must have made lock calls (bookkeeping on
	# the fixed store, tdb's locks before), and every job ran to its end
	# or to a stall (end=stalled: then the operations below fail)
	pts=$(sed -n 's/^sweep stop_points=\([0-9]*\) .*job=pamtester_t-hold_busy-bot.*/\1/p' "$SW")
	cut=$(grep -c '^sweep .* end=cut ' "$SW")
	[ "${pts:-0}" -gt 0 ] && [ "$cut" -eq 0 ] &&
	    ok "sweep: pamtester stopped after each of its fcntl/flock calls in turn ($(grep -c '^sweep ' "$SW") jobs, $(grep '^sweep ' "$SW" | sed 's/.*stop_points=\([0-9]*\) hits=\([0-9]*\).*/\1\/\2/' | paste -sd' ') stops/holding)" ||
	    not_ok "sweep: every fcntl/flock call of every job stopped and measured" "$(grep '^sweep ' "$SW")"
	opcheck "$SW" "pamtester stopped after each fcntl/flock call" "" $OPS
fi
check "appuser check: the store is consistent afterwards" au check
done_testing
