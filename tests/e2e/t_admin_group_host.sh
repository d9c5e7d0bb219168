#!/bin/sh
# Issue 8, section 4: the admin group and the host's groups.
#   - A store is created by its first write with the admin group
#     appuser-admins, gid 1900000000.  If the host already resolves that
#     name or that gid, the group would be shared with the host's group and
#     its members: the write is refused, says which clashes and what to
#     set, and creates nothing.  `config set uid-range ... admin-group ...`
#     sets both in one transaction, so such a store can still be set up.
#   - With appuser in nsswitch.conf, `config set admin-group NAME` used to
#     fail always: the gid check found the store's own admin group through
#     our own module.  It must work, while a host group holding the admin
#     gid under another name is still a collision.
# Installed as README says (make install, nsswitch "files appuser") in
# private mount, pid and network namespaces (tests/e2e/nslib.sh); host
# groups are added to the namespace's own /etc/group.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/nslib.sh"

if [ "$APPUSER_NS_INNER" != 1 ]; then
	why=$(ns_supported)
	[ -n "$why" ] || command -v groupadd >/dev/null 2>&1 ||
	    [ -x /usr/sbin/groupadd ] || why="missing groupadd (passwd package)"
	ns_host_part "admin group vs the host's groups (nsswitch with appuser)"
fi

# --- inside the namespaces: TAP lines for ns_run_relayed ------------------------
ok() { echo "ok - $1"; }
not_ok() { echo "not ok - $1"; [ -n "$2" ] && echo "$2" | sed 's/^/#   /'; return 0; }
ns_setup
trap ns_stop EXIT
AU=/usr/sbin/appuser
ST=/var/lib/appuser
run()
{
	OUT=$("$@" 2>"$NS_W/err")
	RC=$?
	ERR=$(cat "$NS_W/err")
}
is() { if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1" "got '$3', wanted '$2' $ERR"; fi; }
has() { if printf '%s\n' "$3" | grep -qE -- "$2"; then ok "$1"; else not_ok "$1" "no /$2/ in: $3"; fi; }
no_store() {
	if [ ! -e "$ST/store.tdb" ] && [ ! -e "$ST/identity.tdb" ]; then ok "$1"
	else not_ok "$1" "$(ls -la "$ST")"; fi
}

ns_install || { not_ok "install and enable inside the namespace"; exit 1; }
grep -qE '^group:.*[[:space:]]appuser' /etc/nsswitch.conf &&
    ok "installed; nsswitch.conf: group: ... appuser" ||
    not_ok "nsswitch.conf lists appuser for group" "$(cat /etc/nsswitch.conf)"

# --- a new store: the default admin group clashes with the host --------------------
groupadd -g 1900000000 hostgid || not_ok "groupadd -g 1900000000 hostgid"
run "$AU" create bot
is "host group with gid 1900000000: create refused (exit 1)" 1 "$RC"
has "... says the gid clashes, whose it is and what to set" \
    "the admin group would take gid 1900000000, but id 1900000000 is already used on this host by group hostgid.*config set uid-range" "$ERR"
has "... and that nothing was created" "nothing was created" "$ERR"
no_store "... no store was created"
run "$AU" import /dev/null
is "import into a store not created yet: refused too" 1 "$RC"
no_store "... no store was created"
run "$AU" config set admin-group ops
is "config set admin-group alone: the gid still clashes (refused)" 1 "$RC"
no_store "... no store was created"
groupadd -g 1800000005 appuser-admins || not_ok "groupadd appuser-admins"
run "$AU" config set uid-range 1800000000-1899999999
is "host group named appuser-admins: config set uid-range alone refused" 1 "$RC"
has "... says the name clashes and what to set" \
    "admin group's name 'appuser-admins' is already used on this host by a group.*config set admin-group NAME" "$ERR"
no_store "... no store was created"
run "$AU" config set uid-range 1800000000-1899999999 admin-group ops
is "config set uid-range MIN-MAX admin-group NAME: both at once" 0 "$RC"
has "... prints both settings" "^uid range is now 1800000000-1899999999 \(admin group ops: gid 1800000000\)$" "$OUT"
has "... (admin group line)" "^admin group is now ops \(gid 1800000000\)$" "$OUT"
run "$AU" create bot
is "create on the store set up that way" 0 "$RC"
run getent group ops
is "getent group ops: our admin group, through our module" "ops:x:1800000000:" "$OUT"
run getent group 1900000000
is "the host's group keeps gid 1900000000 alone" "hostgid:x:1900000000:" "$OUT"

# --- renaming the admin group with appuser in nsswitch.conf ---------------------
run "$AU" config set admin-group ops2
is "config set admin-group ops2 (our module answers for gid 1800000000)" 0 "$RC"
has "... prints it" "^admin group is now ops2 \(gid 1800000000\)$" "$OUT"
run getent group 1800000000
is "getent group 1800000000: ops2" "ops2:x:1800000000:" "$OUT"
run "$AU" config set admin-group hostgid
is "rename to a host group's name: refused" 1 "$RC"
has "... names the clash" "name 'hostgid' is already used on this host by a group" "$ERR"
run "$AU" config set uid-range 1800000000-1899999990 admin-group bot
is "both settings, the second refused (an app user's name)" 1 "$RC"
run "$AU" --json config show
has "... neither changed (one transaction)" '"uid_max": 1899999999.*"admin_group": "ops2"' "$(echo "$OUT" | tr -d '\n')"
# a host group that takes the admin gid under another name is a collision
cp -p /etc/group "$NS_W/group" && echo 'squatter:x:1800000000:' >>"$NS_W/group" &&
    mount --bind "$NS_W/group" /etc/group || not_ok "bind-mount /etc/group"
run "$AU" config set admin-group ops3
is "a host group squatting the admin gid: rename refused" 1 "$RC"
has "... names it" "id 1800000000 is already used on this host by group squatter" "$ERR"
umount /etc/group
run "$AU" check
is "appuser check: clean" 0 "$RC"
