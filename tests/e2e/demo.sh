#!/bin/sh
# `make demo`: the whole job of appuser, for real, in a private namespace.
#
# Installs appuser and enables it the way README.md says (nsswitch.conf,
# pam-auth-update, the sshd drop-in, the sudoers drop-in), creates an
# application user, makes it an admin, mints a token, logs in over ssh on
# 127.0.0.1 with it, runs sudo, lists the token with its last use, revokes it
# and shows the next login refused.  It all happens in private mount, pid and
# network namespaces (tests/e2e/nslib.sh): the host's /etc, /usr and /var are
# not touched, and everything vanishes at the end.  Needs root.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/nslib.sh"

if [ "$APPUSER_NS_INNER" != 1 ]; then
	why=$(ns_supported)
	if [ -n "$why" ]; then
		echo "make demo: cannot run here: $why" >&2
		exit 2
	fi
	ns_run "$0"
	rc=$?
	echo
	if [ "$rc" = 0 ]; then
		echo "==> Done.  The namespace is gone: nothing on this host changed."
	else
		echo "==> The demo stopped with an error (status $rc)."
	fi
	exit "$rc"
fi

# --- narration helpers -------------------------------------------------------------
BOLD='' DIM='' OFF=''
if [ -t 1 ]; then BOLD=$(printf '\033[1m') DIM=$(printf '\033[2m') OFF=$(printf '\033[0m'); fi
step() { echo; echo "${BOLD}==> $*${OFF}"; }
say() { printf '    %s\n' "$*"; }
cmd() { printf '    %s#%s %s\n' "$DIM" "$OFF" "$*"; }
# the command line as you would type it (arguments with spaces quoted)
typed()
{
	printf '    %s#%s' "$DIM" "$OFF"
	for _a; do
		case $_a in
		*[!A-Za-z0-9_./:=@%+,-]*|'') printf ' "%s"' "$_a";;
		*) printf ' %s' "$_a";;
		esac
	done
	echo
}
# show CMD...: print the command as you would type it, then run it, indented
show()
{
	typed "$@"
	_o=$("$@" 2>&1)
	_rc=$?
	[ -n "$_o" ] && printf '%s\n' "$_o" | sed 's/^/      /'
	return $_rc
}
fail() { echo "demo: $*" >&2; exit 1; }

ns_setup
trap ns_stop EXIT
TOK=$NS_W/secret/deploy-bot.token

step "Private namespace ready: /etc, /usr, /var are throw-away overlays here"

step "Installing appuser and enabling it on this (private) host"
cmd "make install PREFIX=/usr"
cmd "sed -i -E '/^(passwd|group):/{/[[:space:]]appuser([[:space:]]|\$)/!s/\$/ appuser/}' /etc/nsswitch.conf"
cmd "pam-auth-update --enable appuser"
cmd "cp .../examples/sshd_config.d-appuser.conf /etc/ssh/sshd_config.d/appuser.conf"
cmd "(the sudoers drop-in /etc/sudoers.d/appuser comes with make install)"
ns_install || fail "install failed"
grep -E '^(passwd|group):' /etc/nsswitch.conf | sed 's/^/      /'
grep pam_appuser /etc/pam.d/common-auth | sed 's/^/      common-auth: /'
sed -n '/^%/p' /etc/sudoers.d/appuser | sed 's/^/      sudoers.d: /'

step "Creating application user deploy-bot"
show appuser create deploy-bot --description "deploy pipeline" --home /home/deploy-bot ||
    fail "create"
install -d -o deploy-bot -g deploy-bot -m 0750 /home/deploy-bot

step "Making deploy-bot an organization admin (member of appuser-admins)"
show appuser admin grant deploy-bot
show appuser list

step "The system sees it through NSS, like any account"
show getent passwd deploy-bot
show id deploy-bot

step "Minting a token (printed once, on stdout; we keep it in a root-only file)"
cmd "(umask 077; appuser token create deploy-bot --description \"demo\" --max-age 30d > token)"
(umask 077 && appuser token create deploy-bot --description "demo" \
    --max-age 30d >"$TOK") 2>&1 | sed 's/^/      /'
[ -s "$TOK" ] || fail "token create"
PFX=$(cut -c1-16 "$TOK")
say "token: $PFX... (hidden; the first 16 characters are its public prefix)"

step "Starting sshd on 127.0.0.1 (keyboard-interactive through PAM only)"
ns_start_sshd || fail "sshd did not start: $(cat "$NS_W/sshd.log")"
say "listening on 127.0.0.1:$NS_PORT"

step "Logging in over ssh with the token, then running sudo with it"
cmd "ssh deploy-bot@127.0.0.1 'id; echo \"sudo says: \$(sudo -S -p \"\" id)\"' < token"
say "(ssh's Token: prompt answered with the token; the remote sudo reads it from stdin)"
: >"$NS_W/prompts"
ns_ssh "$TOK" deploy-bot 'id; echo "sudo says: $(sudo -S -p "" id)"' \
    <"$TOK" 2>&1 | sed 's/^/      /'
sed 's/^/      ssh prompted: /' "$NS_W/prompts"

step "The token's last use is on record"
show appuser token list deploy-bot
say "(LAST FROM is \"local\": its last use was the sudo, on this host)"

step "Revoking the token"
show appuser token revoke deploy-bot "$PFX"

step "The next login with it is refused"
cmd "ssh deploy-bot@127.0.0.1 id            (this sshd offers keyboard-interactive only)"
ns_ssh "$TOK" deploy-bot id </dev/null 2>&1 | sed 's/^/      /'
say "what pam_appuser logged (syslog; prefixes only, never a secret):"
grep -h 'pam_appuser' "$NS_SYSLOG" | grep -E 'accepted|refused' |
    sed -E 's/^<[0-9]+>//; s/^/      /'
if grep -qF -f "$TOK" "$NS_SYSLOG" "$NS_W/sshd.log"; then
	fail "a token reached the logs"
fi
exit 0
