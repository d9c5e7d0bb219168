#!/bin/sh
# Issue 8, section 2: the admin group goes to the application user's uid,
# never to a name.  Application user bob is an admin; then a host account
# bob (uid 1500, with a password) appears in /etc/passwd, /etc/shadow and
# /etc/group (copies bind-mounted over the namespace's own).  With the real
# id, getent, sudo, sg, su and pamtester:
#   - before: app bob gets appuser-admins at su, and sudo works;
#   - after:  `id bob` has no appuser-admins, the group lists nobody, local
#     bob's `sudo -S id -u` with his own password is refused by policy, `sg`
#     refuses him, and another admin (alice) is not affected.
# Everything runs in private mount, pid and network namespaces
# (tests/e2e/nslib.sh); the host's files are compared before and after.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/nslib.sh"

if [ "$APPUSER_NS_INNER" != 1 ]; then
	why=$(ns_supported)
	need_cmds pamtester openssl
	ns_host_part "admin group by uid, not by name (sudo, id, su)" \
	    "host's passwd, shadow, group, nsswitch.conf, sudoers unchanged"
fi

# --- inside the namespaces ----------------------------------------------------
ns_setup
trap ns_stop EXIT
O=$NS_W/out
mkdir -p "$O"
AU=/usr/sbin/appuser

# groups_of NAME: supplementary group names, one line
groups_of() { id -Gn "$1" 2>&1; }
in_list() { case " $2 " in *" $1 "*) return 0;; esac; return 1; }
# admin_works NAME: the application user and admin NAME has appuser-admins
# (id -Gn, and su - with its token: its uid), and its token works for sudo
# and for pamtester
admin_works()
{
	_u=$1
	in_list appuser-admins "$(groups_of "$_u")" &&
	    ok "id -Gn $_u: appuser-admins" ||
	    not_ok "id -Gn $_u: appuser-admins" "$(groups_of "$_u")"
	run "su-$_u" ns_su nobody "$_u" "$NS_W/secret/$_u" 'id -u; id -Gn'
	if [ "$RC" = 0 ] && echo "$OUT" | grep -qx "$(id -u "$_u")" &&
	    in_list appuser-admins "$(echo "$OUT" | tail -n 1)"; then
		ok "su - $_u with its token: its uid, appuser-admins"
	else
		not_ok "su - $_u with its token: its uid, appuser-admins" \
		    "rc $RC: $OUT"
	fi
	run "sudo-$_u" ns_sudo "$_u" "$NS_W/secret/$_u" id -u
	is "$_u: sudo -S id -u with its token" "0:0" "$RC:$OUT" "$ERR"
	run "pt-$_u" pamtester login "$_u" authenticate <"$NS_W/secret/$_u"
	is "$_u: pamtester login authenticate with its token" 0 "$RC" "$ERR"
}

ns_install || { not_ok "install and enable inside the namespace"; exit 1; }
ok "make install, nsswitch (files appuser), pam-auth-update, sudoers drop-in"
ns_sudoers t-admin
run visudo visudo -c
is "sudoers valid" 0 "$RC" "$ERR"

run create sh -c "'$AU' create bob && '$AU' create alice &&
    '$AU' admin grant bob && '$AU' admin grant alice"
is "app users bob and alice, both admins" 0 "$RC" "$ERR"
ns_mint bob bob 2>/dev/null && ns_mint alice alice 2>/dev/null
is "tokens for bob and alice" 0 $? "$ERR"
ADMIN_GID=$(getent group appuser-admins | cut -d: -f3)

# --- before: bob is only the application user -----------------------------------
run grp getent group appuser-admins
is "getent group appuser-admins: no member listed by name" \
    "appuser-admins:x:$ADMIN_GID:" "$OUT" "$ERR"
admin_works bob

# --- a host account bob appears (uid 1500, with a password) ------------------------
printf 'Local-bob-pw\n' >"$NS_W/secret/local-bob"
HASH=$(openssl passwd -6 -stdin <"$NS_W/secret/local-bob")
for f in passwd shadow group; do
	cp -p "/etc/$f" "$NS_W/$f" || not_ok "copy /etc/$f"
done
echo 'bob:x:1500:1500:Local Bob:/nonexistent:/bin/sh' >>"$NS_W/passwd"
echo "bob:$HASH:19000:0:99999:7:::" >>"$NS_W/shadow"
echo 'bob:x:1500:' >>"$NS_W/group"
chmod 0640 "$NS_W/shadow"
chown root:shadow "$NS_W/shadow" 2>/dev/null
ok=1
for f in passwd shadow group; do
	mount --bind "$NS_W/$f" "/etc/$f" || ok=0
done
[ "$ok" = 1 ] && ok "local bob (uid 1500) in bind-mounted /etc/passwd, shadow, group" ||
    not_ok "bind-mount passwd, shadow, group"

run pw-bob getent passwd bob
is "getent passwd bob: the host account now" \
    "bob:x:1500:1500:Local Bob:/nonexistent:/bin/sh" "$OUT" "$ERR"
run id-bob id bob
is "id bob: no appuser-admins" "uid=1500(bob) gid=1500(bob) groups=1500(bob)" "$OUT" "$ERR"
run grp2 getent group appuser-admins
is "getent group appuser-admins does not list bob" \
    "appuser-admins:x:$ADMIN_GID:" "$OUT" "$ERR"
run pt-local pamtester login bob authenticate <"$NS_W/secret/local-bob"
is "control: local bob's password is accepted (pam_unix)" 0 "$RC" "$ERR"
run sudo-local ns_sudo bob "$NS_W/secret/local-bob" id -u
if [ "$RC" = 1 ] && [ -z "$OUT" ] && grep -q 'not in the sudoers file' "$O/sudo-local.err"; then
	ok "local bob: sudo -S id -u with his password refused by policy"
else
	not_ok "local bob: sudo refused" "rc $RC: $OUT $ERR"
fi
run sudo-l sudo -l -U bob
if [ "$RC" != 0 ] || grep -q 'not allowed to run sudo' "$O/sudo-l"; then
	ok "sudo -l -U bob (root asks): bob may run nothing"
else
	not_ok "sudo -l -U bob" "rc $RC: $OUT"
fi
run sg-local setpriv --reuid=1500 --regid=1500 --init-groups --reset-env \
    timeout 10 sg appuser-admins -c 'id -u' </dev/null
is "local bob: sg appuser-admins refused (not a member by name)" "1:" \
    "$([ "$RC" = 0 ] && echo 0 || echo 1):$OUT" "$ERR"
run pt-tok pamtester login bob authenticate <"$NS_W/secret/bob"
is "app bob's token is not local bob's password (pam_appuser steps aside)" 1 \
    "$([ "$RC" = 0 ] && echo 0 || echo 1)" "$ERR"

# --- another admin is not affected -----------------------------------------------------
admin_works alice
