#!/bin/sh
# End to end, with the real programs: `make install`, pam-auth-update,
# nsswitch.conf and the sshd drop-in exactly as README.md tells an
# administrator, then OpenSSH's sshd on 127.0.0.1, sudo, su and getent, all
# in private mount, pid and network namespaces (tests/e2e/nslib.sh) so that
# the host's configuration is never touched -- which the last test checks.
#
# Needs root; prints one skip line otherwise.  Secrets stay in root-only
# files under the namespace's tmpfs and reach programs on a pipe or a pty,
# never in argv or the environment.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/nslib.sh"

# --- host side: run the body below in the namespaces, then compare ----------
if [ "$APPUSER_NS_INNER" != 1 ]; then
	# it installs build/ (make install); and sshd, sudo and su are not
	# built with ASan, su and sudo are setuid (an LD_PRELOAD of the ASan
	# runtime is ignored): ns_supported says so under make check SANITIZE=1
	why=$(ns_supported)
	ns_host_part "end to end with sshd, sudo, su and getent" \
	    "host's nsswitch.conf, pam.d, sudoers, passwd, sshd config unchanged"
fi

# --- inside the namespaces ----------------------------------------------------
ns_setup
trap ns_stop EXIT
START=$(date +%s)
O=$NS_W/out
mkdir -p "$O"
AU=/usr/sbin/appuser

# The listener writes what it receives a moment later: wait up to 3 s.
logged() {
	_i=0
	while ! grep -qF -- "$2" "$NS_SYSLOG" && [ $_i -lt 30 ]; do
		sleep 0.1
		_i=$((_i + 1))
	done
	grep -qF -- "$2" "$NS_SYSLOG" && ok "$1" || not_ok "$1" "no syslog line with: $2"
}

# An id-correct token with another secret and a valid checksum: it gets
# past the format checks and must fail on the secret itself.
forge()
{
	(umask 077 && "$NS_PY" - "$NS_W/secret/$1" >"$NS_W/secret/$2") <<-'EOF'
	import secrets, sys, zlib
	b62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	tok = open(sys.argv[1]).readline().strip()
	body = tok[:16] + "".join(secrets.choice(b62) for _ in range(30))
	crc, c = zlib.crc32(body.encode()), ""
	while len(c) < 6:
	    c, crc = b62[crc % 62] + c, crc // 62
	print(body + c)
	EOF
}

# ssh USER SECRETFILE CMD: the remote command's stdout in $OUT; the prompt
# ssh showed in $PROMPT.
ssh_as()
{
	_r=ssh-$1-$(basename "$2")-$$-$(date +%s%N)
	: >"$NS_W/prompts"
	run "$_r" ns_ssh "$2" "$1" "$3" </dev/null
	PROMPT=$(head -n 1 "$NS_W/prompts")
}

# --- install and enable, as the README says ----------------------------------
if ns_install; then
	ok "make install, nsswitch, pam-auth-update --enable appuser, sshd drop-in"
else
	not_ok "install and enable inside the namespace"
	exit 1
fi
auth=$(grep -v '^#' /etc/pam.d/common-auth | grep -oE 'pam_(appuser|unix)\.so' | tr '\n' ' ')
is "common-auth asks pam_appuser first, then pam_unix" "pam_appuser.so pam_unix.so " "$auth"
run visudo visudo -cf /etc/sudoers.d/appuser
is "installed sudoers drop-in passes visudo -c" 0 "$RC" "$ERR"

# a local account, made the usual way (useradd/chpasswd write the private /etc)
useradd -m -s /bin/sh e2e-local && useradd -m -s /bin/sh e2e-other &&
printf 'e2e-local:%s\ne2e-other:%s\n' 'Local-pw-e2e' 'Other-pw-e2e' | chpasswd ||
    not_ok "local accounts"
printf 'Local-pw-e2e\n' >"$NS_W/secret/local-pw"
printf 'Not-the-pw\n' >"$NS_W/secret/local-bad"
ns_sudoers e2e 'e2e-local ALL=(ALL:ALL) ALL'

# --- application users ----------------------------------------------------------
run create-ci "$AU" create ci-bot --description "CI bot" --home /home/ci-bot
is "appuser create ci-bot" 0 "$RC" "$ERR"
run create-ops "$AU" create ops-bot --description "operations bot" --home /home/ops-bot
is "appuser create ops-bot" 0 "$RC" "$ERR"
run grant "$AU" admin grant ops-bot
is "appuser admin grant ops-bot" 0 "$RC" "$ERR"
run create-gone "$AU" create gone-bot --home /home/gone-bot
is "appuser create gone-bot" 0 "$RC" "$ERR"
for u in ci-bot ops-bot gone-bot; do
	install -d -o "$u" -g "$u" -m 0750 "/home/$u" 2>/dev/null
done

run getent-ci getent passwd ci-bot
IFS=: read -r _ _ CI_UID CI_GID _ CI_HOME CI_SHELL <<-EOF
$OUT
EOF
if [ "$RC" = 0 ] && [ "$CI_UID" -ge 1900000000 ] && [ "$CI_UID" -le 1999999999 ] &&
    [ "$CI_GID" = "$CI_UID" ]; then
	ok "getent passwd ci-bot: uid $CI_UID in the default range, own group"
else
	not_ok "getent passwd ci-bot" "rc $RC: $OUT"
fi
is "getent: ci-bot's home and shell" "/home/ci-bot /bin/sh" "$CI_HOME $CI_SHELL"
run getent-admins getent group appuser-admins
ADMIN_GID=$(echo "$OUT" | cut -d: -f3)
is "getent group appuser-admins lists no member by name (by uid only)" "" "$(echo "$OUT" | cut -d: -f4)" "$ERR"
run id-ops id -Gn ops-bot
case " $OUT " in
*" appuser-admins "*) ok "id ops-bot: member of appuser-admins";;
*) not_ok "id ops-bot: member of appuser-admins" "$OUT";;
esac
OPS_UID=$(id -u ops-bot)

# --- tokens -------------------------------------------------------------------
ns_mint ci ci-bot --description "CI pipeline" && CI_PFX=$PFX &&
ns_mint ops ops-bot && OPS_PFX=$PFX &&
ns_mint ci-revoked ci-bot && REV_PFX=$PFX &&
ns_mint ci-expiring ci-bot --max-age 2 && EXP_PFX=$PFX &&
ns_mint ci-10net ci-bot --allow-from 10.0.0.0/8 && NET_PFX=$PFX &&
ns_mint ci-loopback ci-bot --allow-from "127.0.0.1,::1" && LOOP_PFX=$PFX &&
ns_mint ci-sudo-only ci-bot --scope sudo && SUDO_PFX=$PFX &&
ns_mint ops-sshd-only ops-bot --scope sshd && SSHD_PFX=$PFX &&
ns_mint gone gone-bot && GONE_PFX=$PFX &&
forge ci ci-wrong
is "appuser token create: 9 tokens of the documented format" 0 $?
EXP_MINTED=$(date +%s)
printf 'definitely-not-a-token\n' >"$NS_W/secret/garbage"

# --- ssh --------------------------------------------------------------------------
if ns_start_sshd; then
	ok "sshd listening on 127.0.0.1:$NS_PORT (keyboard-interactive only)"
else
	not_ok "sshd starts" "$(cat "$NS_W/sshd.log")"
fi
eff=$(/usr/sbin/sshd -T -f "$NS_W/sshd_config" 2>/dev/null | grep -E \
    '^(usepam|kbdinteractiveauthentication|passwordauthentication|pubkeyauthentication) ' |
    sort | tr '\n' ' ')
is "sshd -T: the drop-in's UsePAM and keyboard-interactive, nothing else" \
    "kbdinteractiveauthentication yes passwordauthentication no pubkeyauthentication no usepam yes " "$eff"
REMOTE='id -u; id -G; id -un; echo "$HOME"; pwd'

ssh_as ci-bot "$NS_W/secret/ci" "$REMOTE"
is "ssh ci-bot with its token: id, groups, home" \
    "$CI_UID|$CI_GID|ci-bot|/home/ci-bot|/home/ci-bot" "$(echo "$OUT" | tr '\n' '|' | sed 's/|$//')" "$ERR"
is "ssh asked with pam_appuser's prompt" "(ci-bot@127.0.0.1) Token: " "$PROMPT"
logged "syslog: accepted token $CI_PFX (sshd, 127.0.0.1)" \
    "accepted token $CI_PFX for user=ci-bot service=sshd rhost=127.0.0.1"

ssh_as ops-bot "$NS_W/secret/ops" 'id -u; id -G'
case " $(echo "$OUT" | sed -n 2p) " in
*" $ADMIN_GID "*) [ "$(echo "$OUT" | head -n 1)" = "$OPS_UID" ] &&
	ok "ssh ops-bot: its uid, and appuser-admins among its groups" ||
	not_ok "ssh ops-bot uid" "$OUT";;
*) not_ok "ssh ops-bot: appuser-admins among its groups" "rc $RC: $OUT";;
esac

ssh_as ci-bot "$NS_W/secret/ci-wrong" id
is "ssh refused: ci-bot's token id with a wrong secret" "255:" "$RC:$OUT" "$ERR"
logged "syslog: reason=secret mismatch" "refused user=ci-bot reason=secret mismatch token=$CI_PFX service=sshd"
ssh_as ci-bot "$NS_W/secret/garbage" id
is "ssh refused: not a token at all" "255:" "$RC:$OUT" "$ERR"
logged "syslog: reason=malformed token, no prefix" "refused user=ci-bot reason=malformed token token=- service=sshd"
ssh_as ci-bot "$NS_W/secret/ops" id
is "ssh refused: ops-bot's token for ci-bot" "255:" "$RC:$OUT" "$ERR"
logged "syslog: reason=token belongs to another user" "refused user=ci-bot reason=token belongs to another user token=$OPS_PFX"

ssh_as ci-bot "$NS_W/secret/ci-revoked" 'id -un'
is "ssh with a second token (before revocation)" "0:ci-bot" "$RC:$OUT" "$ERR"
run revoke "$AU" token revoke ci-bot "$REV_PFX"
is "appuser token revoke ci-bot $REV_PFX" 0 "$RC" "$ERR"
ssh_as ci-bot "$NS_W/secret/ci-revoked" id
is "ssh refused: revoked token" "255:" "$RC:$OUT" "$ERR"
logged "syslog: reason=revoked" "refused user=ci-bot reason=revoked token=$REV_PFX"

ssh_as ci-bot "$NS_W/secret/ci-10net" id
is "ssh refused: token with allow_from 10.0.0.0/8 from 127.0.0.1" "255:" "$RC:$OUT" "$ERR"
logged "syslog: reason=address not allowed" "refused user=ci-bot reason=address not allowed token=$NET_PFX"
ssh_as ci-bot "$NS_W/secret/ci-loopback" 'id -un'
is "ssh accepted: token with allow_from 127.0.0.1,::1" "0:ci-bot" "$RC:$OUT" "$ERR"
logged "syslog: accepted $LOOP_PFX from 127.0.0.1" "accepted token $LOOP_PFX for user=ci-bot service=sshd rhost=127.0.0.1"
ssh_as ci-bot "$NS_W/secret/ci-sudo-only" id
is "ssh refused: token scoped to sudo" "255:" "$RC:$OUT" "$ERR"
logged "syslog: reason=service not allowed" "refused user=ci-bot reason=service not allowed token=$SUDO_PFX service=sshd"
ssh_as ops-bot "$NS_W/secret/ops-sshd-only" 'id -un'
is "ssh accepted: token scoped to sshd" "0:ops-bot" "$RC:$OUT" "$ERR"

ssh_as gone-bot "$NS_W/secret/gone" 'id -un'
is "ssh gone-bot before deletion" "0:gone-bot" "$RC:$OUT" "$ERR"
logged "syslog: accepted token $GONE_PFX for gone-bot" "accepted token $GONE_PFX for user=gone-bot service=sshd"
run delete "$AU" delete gone-bot
is "appuser delete gone-bot" 0 "$RC" "$ERR"
run getent-gone getent passwd gone-bot
is "getent passwd gone-bot after deletion: not found" "2:" "$RC:$OUT" "$ERR"
ssh_as gone-bot "$NS_W/secret/gone" id
is "ssh refused: deleted user" "255:" "$RC:$OUT" "$ERR"

# --- sudo -----------------------------------------------------------------------
run sudo-ops ns_sudo ops-bot "$NS_W/secret/ops" id -u
is "sudo -S id -u as ops-bot (admin) with its token" "0:0" "$RC:$OUT" "$ERR"
logged "syslog: accepted token for sudo" "accepted token $OPS_PFX for user=ops-bot service=sudo"
run sudo-ops-wrong ns_sudo ops-bot "$NS_W/secret/ci" id -u
is "sudo refused: ops-bot with ci-bot's token" "1:" "$RC:$OUT" "$ERR"
run sudo-ci ns_sudo ci-bot "$NS_W/secret/ci" id -u
if [ "$RC" = 1 ] && [ -z "$OUT" ] && grep -q 'not in the sudoers file' "$O/sudo-ci.err"; then
	ok "sudo refused by policy: ci-bot is not an admin"
else
	not_ok "sudo refused by policy for ci-bot" "rc $RC: $OUT $(cat "$O/sudo-ci.err")"
fi
run sudo-sshd-only ns_sudo ops-bot "$NS_W/secret/ops-sshd-only" id -u
is "sudo refused: ops-bot's token scoped to sshd" "1:" "$RC:$OUT" "$ERR"
logged "syslog: service not allowed for sudo" "refused user=ops-bot reason=service not allowed token=$SSHD_PFX service=sudo"
run revoke-admin "$AU" admin revoke ops-bot
is "appuser admin revoke ops-bot" 0 "$RC" "$ERR"
run sudo-ops-after ns_sudo ops-bot "$NS_W/secret/ops" id -u
if [ "$RC" = 1 ] && [ -z "$OUT" ] && grep -q 'not in the sudoers file' "$O/sudo-ops-after.err"; then
	ok "sudo refused once ops-bot is no longer an admin"
else
	not_ok "sudo refused after admin revoke" "rc $RC: $OUT $(cat "$O/sudo-ops-after.err")"
fi

# --- su ---------------------------------------------------------------------------
run su-ci ns_su e2e-local ci-bot "$NS_W/secret/ci" 'id -un'
is "su - ci-bot from a local user, token typed on the terminal" "0:ci-bot" \
    "$RC:$(tail -n 1 "$O/su-ci" | tr -d '\r')" "$ERR"
run su-ci-wrong ns_su e2e-local ci-bot "$NS_W/secret/ci-wrong" 'id -un'
if [ "$RC" = 1 ] && grep -q 'Authentication failure' "$O/su-ci-wrong" &&
    ! grep -q '^ci-bot' "$O/su-ci-wrong"; then
	ok "su - ci-bot refused with a wrong token"
else
	not_ok "su - ci-bot refused with a wrong token" "rc $RC: $OUT"
fi

# --- expiry (minted above with --max-age 2) ------------------------------------
while [ $(($(date +%s) - EXP_MINTED)) -lt 3 ]; do sleep 1; done
ssh_as ci-bot "$NS_W/secret/ci-expiring" id
is "ssh refused: expired token (--max-age 2)" "255:" "$RC:$OUT" "$ERR"
logged "syslog: reason=expired" "refused user=ci-bot reason=expired token=$EXP_PFX"

# --- local accounts are not disturbed --------------------------------------------
ssh_as e2e-local "$NS_W/secret/local-pw" 'id -un'
is "ssh e2e-local (local account) with its password, through pam_unix" "0:e2e-local" "$RC:$OUT" "$ERR"
is "a local account gets pam_unix's prompt, not pam_appuser's" "(e2e-local@127.0.0.1) Password: " "$PROMPT"
ssh_as e2e-local "$NS_W/secret/local-bad" id
is "ssh refused: local account, wrong password" "255:" "$RC:$OUT" "$ERR"
run sudo-local ns_sudo e2e-local "$NS_W/secret/local-pw" id -u
is "sudo -S id -u as a local sudoer with its password" "0:0" "$RC:$OUT" "$ERR"
run su-local ns_su e2e-other e2e-local "$NS_W/secret/local-pw" 'id -un'
is "su - e2e-local with its password" "0:e2e-local" \
    "$RC:$(tail -n 1 "$O/su-local" | tr -d '\r')" "$ERR"

# --- bookkeeping ------------------------------------------------------------------
run tlist "$AU" --json token list ci-bot
if [ "$RC" = 0 ] && "$NS_PY" - "$O/tlist" "$CI_PFX" "$REV_PFX" "$EXP_PFX" 2>"$O/tlist.py" <<-'EOF'
	import json, sys
	by = {t["prefix"]: t for t in json.load(open(sys.argv[1]))}
	ci, rev, exp = by[sys.argv[2]], by[sys.argv[3]], by[sys.argv[4]]
	# last use of ci-bot's main token: su, on this host (no rhost)
	assert ci["status"] == "active" and ci["last_service"] == "su-l", ci
	assert ci["last_used_time"] and ci["last_ip"] is None, ci
	# the revoked one was last used over ssh from 127.0.0.1
	assert rev["status"] == "revoked" and rev["revoke_time"], rev
	assert (rev["last_service"], rev["last_ip"]) == ("sshd", "127.0.0.1"), rev
	assert exp["status"] == "expired" and exp["last_used_time"] is None, exp
	assert len(by) == 6, sorted(by)
	EOF
then
	ok "appuser token list: last use (service, address), revoked, expired"
else
	not_ok "appuser --json token list ci-bot" "$(tail -n 3 "$O/tlist.err" "$O/tlist.py")"
fi
run check "$AU" check
is "appuser check: the store is consistent after all this" 0 "$RC" "$ERR"

# --- no secret anywhere ------------------------------------------------------------
# Patterns go through a root-only file (grep -f), not argv.
pat=$NS_W/secret/patterns.txt
for f in "$NS_W"/secret/*; do
	case "$f" in *patterns.txt|*local-*|*garbage) continue;; esac
	head -n 1 "$f"
	head -n 1 "$f" | cut -c17-46
done >"$pat"
# control: the scan does find a secret where there is one
echo "stray $(sed -n 3p "$pat") text" >"$NS_W/control.txt"
found=$(grep -lraF -f "$pat" "$NS_W/control.txt")
is "control: the secret scan finds a token's secret part" "$NS_W/control.txt" "$found"
scan="$NS_SYSLOG $NS_W/sshd.log $NS_W/prompts $O/* /var/log/* /var/lib/appuser/*"
found=$(grep -lraF -f "$pat" $scan 2>/dev/null)
is "no token or token secret in syslog, sshd's log, outputs or the store" "" "$found"
[ -s "$NS_SYSLOG" ] && ok "syslog captured $(wc -l <"$NS_SYSLOG") lines" ||
    not_ok "syslog captured something"
# while a session is open: ssh, askpass, sshd's monitor and session
n0=$(grep -c "session opened for user=ci-bot" "$NS_SYSLOG")
ns_ssh "$NS_W/secret/ci" ci-bot 'sleep 4' </dev/null >/dev/null 2>&1 &
spid=$!
for _i in $(seq 1 40); do
	[ "$(grep -c "session opened for user=ci-bot" "$NS_SYSLOG")" -gt "$n0" ] && break
	sleep 0.1
done
nproc=$(ls -d /proc/[0-9]* | wc -l)
found=$(for p in /proc/[0-9]*; do cat "$p/cmdline" "$p/environ"; done 2>/dev/null |
    tr '\0' '\n' | grep -cF -f "$pat")
is "no token in the argv or environment of $nproc live processes (session open)" 0 "$found"
wait "$spid"

[ "$_failed" -gt 0 ] && sed 's/^/# syslog: /' "$NS_SYSLOG"
echo "# e2e body took $(($(date +%s) - START))s"
