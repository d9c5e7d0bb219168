#!/bin/sh
# pam_appuser driven by pamtester as an administrator would: a service file
# in /etc/pam.d, the token typed on stdin, messages on the terminal, the
# module's log lines in syslog.  pamtester takes no config directory, so the
# test runs in a private mount namespace where a directory of ours is
# bind-mounted on /etc/pam.d and a socket of ours (a tiny syslog listener) on
# /dev/log; the host's files are never touched.  Tokens travel only through
# root-only files and pipes, never argv.
. "$(dirname "$0")/lib.sh"

if [ "$1" != --inner ]; then
	why=
	is_root || why="needs root (mount namespace over /etc/pam.d and /dev/log)"
	need_cmds pamtester unshare mount python3 setpriv
	[ -n "$why" ] || [ -x "$APPUSER" ] || why="build/appuser not built"
	[ -n "$why" ] || [ -f "$B/pam_appuser.so" ] ||
	    why="build/pam_appuser.so not built"
	[ -n "$why" ] || grep -qw overlay /proc/filesystems ||
	    why="kernel has no overlayfs"
	skip_if_why "pamtester against pam_appuser.so"
	ns_rerun t_pam_pamtester
	exit $irc
fi

# --- inside the private mount namespace -------------------------------------
ns_inner "$2" t_pam
ns_devlog

# pamtester runs as nobody below: pam_test_services copies the module
pam_test_services
cat >/etc/pam.d/t-appuser <<EOF
auth     required   $MOD store=$S
account  required   $MOD store=$S
session  required   $MOD store=$S
password required   $MOD store=$S
EOF
cat >/etc/pam.d/t-nostore <<EOF
auth     required   $MOD store=$W/no-such-store
EOF

# newtoken NAME USER ARGS...: token in $W/secret/NAME (0600), prefix printed
newtoken() {
	_f=$W/secret/$1; _u=$2; shift 2
	(umask 077 && au token create "$_u" "$@" >"$_f" 2>"$W/token.err") ||
	    { cat "$W/token.err"; return 1; }
	cut -c1-16 <"$_f"
}
# pt TOKENFILE ARGS...: pamtester with the file's content as the answer
pt() {
	_f=$1; shift
	pamtester "$@" <"$_f" >"$W/out" 2>&1
}
out_has() { grep -qF -- "$1" "$W/out"; }
# refused NAME TEXT TOKENFILE ARGS...: pt fails and pamtester says TEXT
refused() {
	_name=$1 _text=$2; shift 2
	pt "$@"; _rc=$?
	if [ $_rc -ne 0 ] && out_has "$_text"; then ok "$_name"
	else not_ok "$_name" "exit $_rc: $(cat "$W/out")"; fi
}

check "create application users" sh -c \
    "'$APPUSER' --store '$S' create ci-bot && '$APPUSER' --store '$S' create deploy"
P_OK=$(newtoken ok ci-bot) || die "token create"
P_SHORT=$(newtoken short ci-bot --max-age 2) || die "token create"
T_SHORT_MADE=$(date +%s)
P_SOON=$(newtoken soon ci-bot --max-age 80h) || die "token create"
P_NET=$(newtoken net ci-bot --allow-from 10.0.0.0/8,2001:db8::/32) ||
    die "token create"
P_DEP=$(newtoken dep deploy) || die "token create"

pt "$W/secret/ok" -I rhost=192.0.2.5 t-appuser ci-bot authenticate
rc=$?
if [ $rc -eq 0 ] && out_has "successfully authenticated" && out_has "Token:"
then ok "valid token: exit 0 after the Token: prompt"
else not_ok "valid token" "exit $rc: $(cat "$W/out")"; fi

# a wrong secret with a valid checksum cannot be made in sh; a typo can
(umask 077; awk '{ c = substr($0, 21, 1); print substr($0, 1, 20) \
    (c == "x" ? "y" : "x") substr($0, 22) }' "$W/secret/ok" >"$W/secret/typo")
refused "mistyped token: Authentication failure (PAM_AUTH_ERR)" \
    "Authentication failure" "$W/secret/typo" t-appuser ci-bot authenticate

refused "another user's token: Authentication failure" \
    "Authentication failure" "$W/secret/dep" t-appuser ci-bot authenticate

pt "$W/secret/net" -I rhost=10.20.30.40 t-appuser ci-bot authenticate
rc1=$?
pt "$W/secret/net" -I rhost=2001:db8::1 t-appuser ci-bot authenticate
rc2=$?
pt "$W/secret/net" -I rhost=192.0.2.5 t-appuser ci-bot authenticate
rc3=$?
pt "$W/secret/net" t-appuser ci-bot authenticate
rc4=$?
if [ "$rc1$rc2" = 00 ] && [ $rc3 -ne 0 ] && [ $rc4 -ne 0 ]
then ok "allow_from: 10/8 and 2001:db8::/32 in, 192.0.2.5 and local out"
else not_ok "allow_from" "exits $rc1 $rc2 $rc3 $rc4"; fi

pt "$W/secret/soon" t-appuser ci-bot authenticate acct_mgmt; rc=$?
if [ $rc -eq 0 ] && out_has "token $P_SOON expires in 3 days"
then ok "account: 'token $P_SOON expires in 3 days'"
else not_ok "expiry warning" "exit $rc: $(cat "$W/out")"; fi

pt "$W/secret/ok" t-appuser ci-bot authenticate acct_mgmt; rc=$?
if [ $rc -eq 0 ] && ! out_has "expires"
then ok "account: no warning for a token without expiry"
else not_ok "no warning" "exit $rc: $(cat "$W/out")"; fi

# An account of the same name that the host resolves first (files comes
# before appuser) is another account: the token must not open it, and the
# module must step aside for it (PAM_IGNORE, no prompt).
pt "$W/secret/dep" t-appuser deploy authenticate; rc=$?
cp /etc/passwd "$W/passwd" && echo "deploy:x:4242:4242::/nonexistent:/bin/sh" >>"$W/passwd"
mount --bind "$W/passwd" /etc/passwd || die "bind /etc/passwd"
pt "$W/secret/dep" t-appuser deploy authenticate; rc2=$?
cp "$W/out" "$W/out.shadowed"
pt "$W/secret/dep" t-stack deploy authenticate; rc3=$?
umount /etc/passwd
if [ $rc -eq 0 ] && [ $rc2 -ne 0 ] && ! grep -qF "Token:" "$W/out.shadowed" &&
    [ $rc3 -eq 0 ] && ! out_has "Token:"
then ok "name taken by a local account: token refused, module steps aside"
else not_ok "name taken by a local account" "exits $rc $rc2 $rc3: $(cat "$W/out.shadowed" "$W/out")"; fi

echo "not a token" >"$W/secret/junk"
pt "$W/secret/junk" t-stack root authenticate; rc=$?
if [ $rc -eq 0 ] && ! out_has "Token:"
then ok "local user: never prompted, falls through (PAM_IGNORE)"
else not_ok "local user falls through" "exit $rc: $(cat "$W/out")"; fi

refused "store missing: PAM_AUTHINFO_UNAVAIL" \
    "cannot retrieve authentication info" \
    "$W/secret/ok" t-nostore ci-bot authenticate

# the shell (root) opens the token file; pamtester runs as nobody
setpriv --reuid=65534 --regid=65534 --clear-groups \
    pamtester t-appuser ci-bot authenticate <"$W/secret/ok" >"$W/out" 2>&1
rc=$?
if [ $rc -ne 0 ] && out_has "cannot retrieve authentication info"
then ok "not root (store unreadable): PAM_AUTHINFO_UNAVAIL"
else not_ok "store unreadable" "exit $rc: $(cat "$W/out")"; fi

refused "chauthtok: refused with a clear message" \
    "tokens, not a password" "$W/secret/ok" t-appuser ci-bot chauthtok

au token revoke ci-bot "$P_OK" >/dev/null 2>&1
refused "revoked token: Authentication failure" \
    "Authentication failure" "$W/secret/ok" t-appuser ci-bot authenticate

w=$((T_SHORT_MADE + 3 - $(date +%s)))
[ $w -gt 0 ] && sleep $w
refused "token with --max-age 2, 3 s later: Authentication failure" \
    "Authentication failure" "$W/secret/short" t-appuser ci-bot authenticate

# syslog: prefixes and reasons, never a token
sleep 0.3
L=$W/syslog.txt
if grep -q "pam_appuser(t-appuser:auth): user=deploy resolves to uid 4242 on this host, not to the application user" "$L"
then ok "log: a name taken by another account is reported"
else not_ok "log: name taken by another account" "$(grep deploy "$L")"; fi
# <86>: facility authpriv (10 * 8) + LOG_INFO (6)
if grep -q "^<86>.*pam_appuser(t-appuser:auth): accepted token $P_OK for user=ci-bot service=t-appuser rhost=192.0.2.5" "$L"
then ok "log (authpriv.info): accepted token with prefix, user, service, rhost"
else not_ok "log: accepted" "$(cat "$L")"; fi
if grep -q "refused user=ci-bot reason=expired token=$P_SHORT service=t-appuser rhost=-" "$L" &&
    grep -q "refused user=ci-bot reason=revoked token=$P_OK" "$L" &&
    grep -q "refused user=ci-bot reason=.*token=$P_DEP" "$L" &&
    grep -q "refused user=ci-bot reason=.*token=- " "$L"
then ok "log: refusals with reason and prefix (none for a mistyped token)"
else not_ok "log: refused" "$(cat "$L")"; fi
for f in ok short soon net dep typo; do cut -c17- "$W/secret/$f"; done \
    >"$W/secret/secrets"
if ! grep -qF -f "$W/secret/secrets" "$L" && ! grep -q "not a token" "$L" &&
    ! grep -q "user=root" "$L"
then ok "log: no token secret, no typed junk, no non-application user"
else not_ok "log: leaked" "$(grep -F -f "$W/secret/secrets" "$L" | cut -c1-60)"; fi

done_testing
