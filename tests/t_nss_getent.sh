#!/bin/sh
# NSS module through the real glibc NSS, configured as an administrator
# would: "passwd: files appuser" in /etc/nsswitch.conf.  Each command runs in
# its own private mount namespace (unshare -m) where a temporary
# nsswitch.conf is bind-mounted over the host's, and LD_LIBRARY_PATH lets
# glibc find the build's libnss_appuser.so.2 (build/test-nss/, or
# build-san/ or build-cov/'s).  The host's file is never touched.
. "$(dirname "$0")/lib.sh"

if ! is_root; then
	skip "getent/id through glibc NSS" "needs root for unshare -m and bind mounts"
	done_testing
	exit 0
fi
if ! command -v unshare >/dev/null || ! unshare -m true 2>/dev/null; then
	skip "getent/id through glibc NSS" "unshare -m not available here"
	done_testing
	exit 0
fi
# the test build: it takes the store from APPUSER_STORE (the real one never)
SO="$B/test-nss/libnss_appuser.so.2"
need_built "$SO" "$APPUSER"

HOST_SUM=$(sha256sum /etc/nsswitch.conf)
T=$(mktemp -d /tmp/t_nss_getent.XXXXXX) || exit 2
trap 'rm -rf "$T"' EXIT
chmod 755 "$T"
STORE="$T/store"
mkdir -m 755 "$STORE"
cat >"$T/nsswitch.conf" <<'EOF'
passwd:         files appuser
group:          files appuser
shadow:         files appuser
gshadow:        files
hosts:          files
EOF

# ns COMMAND...: run with our nsswitch.conf, in a namespace of its own (a
# sanitized build: the ASan runtime first; getent's leaks are not ours)
ns() {
	unshare -m --propagation private sh -c '
		mount --bind "$1" /etc/nsswitch.conf || exit 99
		shift
		exec "$@"' sh "$T/nsswitch.conf" \
	    env ${SAN_PRELOAD:+LD_PRELOAD="$SAN_PRELOAD"} \
	    ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
	    LD_LIBRARY_PATH="$B/test-nss" APPUSER_STORE="$STORE" "$@"
}
au() { ns "$APPUSER" --store "$STORE" "$@" >/dev/null; }

# The CLI itself runs with the module enabled, as on a real host: its
# collision check asks NSS, which now includes our own module.
nss_two_users ns

is_out "getent passwd alice" "alice:x:$UA:$UA:Alice bot:/srv/alice:/bin/bash" \
    ns getent passwd alice
is_out "getent passwd UID" "bob:x:$UB:$UB::/nonexistent:/bin/sh" \
    ns getent passwd "$UB"
is_out "local users still from files" "$(getent passwd root)" ns getent passwd root
expect_rc 2 "unknown name" ns getent passwd nosuchuser
is_out "getent group alice" "alice:x:$UA:" ns getent group alice
# the admin group lists no member by name: membership comes from
# initgroups, by uid (a host account named alice must not match)
is_out "getent group GID" "appuser-admins:x:$G:" ns getent group "$G"
is_out "getent group appuser-admins" "appuser-admins:x:$G:" \
    ns getent group appuser-admins
is_out "id alice" "uid=$UA(alice) gid=$UA(alice) groups=$UA(alice),$G(appuser-admins)" \
    ns id alice
is_out "id bob" "uid=$UB(bob) gid=$UB(bob) groups=$UB(bob)" ns id bob
# getent initgroups asks getgrouplist(name, -1): with no primary gid there
# is no uid to check, so the admin group is not given (id, login, su and
# sudo pass the primary gid and get it)
got=$(ns getent initgroups alice | tr -s " \t" " " | sed "s/ *$//")
is "getent initgroups alice (no primary gid): no admin group" "alice" "$got"
expect_rc 2 "no shadow entry even with 'shadow: files appuser'" \
    ns getent shadow alice

check "admin revoke alice" au admin revoke alice
check "admin grant bob" au admin grant bob
is_out "id alice after revoke" "uid=$UA(alice) gid=$UA(alice) groups=$UA(alice)" \
    ns id alice
is_out "id bob after grant" "uid=$UB(bob) gid=$UB(bob) groups=$UB(bob),$G(appuser-admins)" \
    ns id bob
got=$(ns getent initgroups alice | tr -s " \t" " " | sed "s/ *$//")
is "getent initgroups alice after revoke" "alice" "$got"
is_out "admin group still lists no member by name" "appuser-admins:x:$G:" \
    ns getent group appuser-admins

# Enumeration: every line of the host's files, then every user of ours.
i=0
while [ $i -lt 40 ]; do
	printf '{"name": "bulk%02d"}\n' $i
	i=$((i + 1))
done >"$T/bulk.jsonl"
check "import 40 users" au import "$T/bulk.jsonl"
ns getent passwd >"$T/all" 2>&1
nhost=$(wc -l </etc/passwd)
is_out "getent passwd: host lines + 42" "$((nhost + 42))" sh -c "wc -l <'$T/all' | tr -d ' '"
is_out "getent passwd: all of ours, once each" "42" \
    sh -c "grep -E '^(alice|bob|bulk[0-9][0-9]):x:19' '$T/all' | sort -u | wc -l | tr -d ' '"
ns getent passwd >"$T/all2" 2>&1
check "enumeration order is stable" cmp "$T/all" "$T/all2"
ns getent group >"$T/groups" 2>&1
is_out "getent group: admin group + 42 private groups" "43" \
    sh -c "grep -cE '^(appuser-admins|alice|bob|bulk[0-9][0-9]):x:19' '$T/groups'"

check "delete bob" au delete bob
expect_rc 2 "deleted user gone" ns getent passwd bob
expect_rc 2 "deleted user's group gone" ns getent group bob
is_out "deleted admin left the group" "appuser-admins:x:$G:" \
    ns getent group appuser-admins

# the host never saw any of it
is_out "host nsswitch.conf unchanged" "$HOST_SUM" sha256sum /etc/nsswitch.conf
expect_rc 2 "host does not resolve alice" getent passwd alice
done_testing
