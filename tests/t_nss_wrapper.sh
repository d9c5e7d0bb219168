#!/bin/sh
# NSS module through real glibc callers (getent, id) with nss_wrapper: the
# passwd/group files and the module are swapped in by LD_PRELOAD, so no root
# and no change to the host.  The store is built and changed with the CLI.
. "$(dirname "$0")/lib.sh"

# the test build: it takes the store from APPUSER_STORE (the real one never)
SO="$B/test-nss/libnss_appuser.so.2"
WRAP=
for d in /usr/lib/x86_64-linux-gnu /usr/lib/$(cc -print-multiarch 2>/dev/null) \
    /usr/lib64 /usr/lib; do
	[ -f "$d/libnss_wrapper.so" ] && { WRAP="$d/libnss_wrapper.so"; break; }
done
if [ -z "$WRAP" ]; then
	skip "nss_wrapper" "libnss_wrapper.so not installed (apt-get install libnss-wrapper)"
	done_testing
	exit 0
fi
need_built "$SO" "$APPUSER"

T=$(mktemp -d /tmp/t_nss_wrapper.XXXXXX) || exit 2
trap 'rm -rf "$T"' EXIT
chmod 755 "$T"
STORE="$T/store"
mkdir -m 755 "$STORE"
printf 'root:x:0:0:root:/root:/bin/bash\nlocal1:x:1000:1000:Local One:/home/local1:/bin/sh\n' >"$T/passwd"
printf 'root:x:0:\nlocal1:x:1000:\n' >"$T/group"

au() { "$APPUSER" --store "$STORE" "$@" >/dev/null; }
nw() {
	# sanitized build: the ASan runtime first; getent's leaks are not ours
	env LD_PRELOAD="${SAN_PRELOAD:+$SAN_PRELOAD }$WRAP" \
	    ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
	    NSS_WRAPPER_PASSWD="$T/passwd" \
	    NSS_WRAPPER_GROUP="$T/group" NSS_WRAPPER_MODULE_SO_PATH="$SO" \
	    NSS_WRAPPER_MODULE_FN_PREFIX=appuser APPUSER_STORE="$STORE" "$@"
}

check "config set uid-range" au config set uid-range 1900000000-1900009999
nss_two_users nw

is_out "getent passwd alice" "alice:x:$UA:$UA:Alice bot:/srv/alice:/bin/bash" \
    nw getent passwd alice
is_out "getent passwd bob (defaults)" "bob:x:$UB:$UB::/nonexistent:/bin/sh" \
    nw getent passwd bob
is_out "getent passwd by uid" "alice:x:$UA:$UA:Alice bot:/srv/alice:/bin/bash" \
    nw getent passwd "$UA"
is_out "files still answer first" "local1:x:1000:1000:Local One:/home/local1:/bin/sh" \
    nw getent passwd local1
expect_rc 2 "unknown user: exit 2" nw getent passwd nosuchuser
expect_rc 2 "invalid name: exit 2" nw getent passwd 'Bad:Name'
is_out "getent group alice (private group)" "alice:x:$UA:" nw getent group alice
is_out "getent group by gid" "bob:x:$UB:" nw getent group "$UB"
is_out "getent group appuser-admins: no member by name" "appuser-admins:x:$G:" \
    nw getent group appuser-admins
# nss_wrapper's getgrouplist() ignores initgroups_dyn and matches names in
# gr_mem (as glibc does for modules without initgroups_dyn): exactly the
# by-name path that must never hand out the admin group.  The real glibc
# path (by primary gid) is tested in t_nss_getent.sh and e2e.
is_out "id alice (admin) via a by-name matcher: no admin group" \
    "uid=$UA(alice) gid=$UA(alice) groups=$UA(alice)" nw id alice
is_out "id bob" "uid=$UB(bob) gid=$UB(bob) groups=$UB(bob)" nw id bob

check "admin revoke alice" au admin revoke alice
check "admin grant bob" au admin grant bob
is_out "id alice after revoke" "uid=$UA(alice) gid=$UA(alice) groups=$UA(alice)" \
    nw id alice
is_out "id bob after grant via a by-name matcher: no admin group" \
    "uid=$UB(bob) gid=$UB(bob) groups=$UB(bob)" nw id bob
is_out "admin group after the change: no member by name" "appuser-admins:x:$G:" \
    nw getent group appuser-admins

all=$(nw getent passwd | cut -d: -f1)
is "enumeration: local users first" "root
local1" "$(echo "$all" | head -n 2)"
is "enumeration: then every application user" "alice
bob" "$(echo "$all" | tail -n +3 | sort)"
n=$(nw getent group | grep -c -e '^appuser-admins:' -e '^alice:' -e '^bob:')
[ "$n" = 3 ] && ok "group enumeration lists admin and private groups" ||
    not_ok "group enumeration lists admin and private groups" "$(nw getent group)"

check "delete bob" au delete bob
expect_rc 2 "deleted user is gone" nw getent passwd bob
expect_rc 2 "deleted user's group is gone" nw getent group bob
is_out "deleted admin left the admin group" "appuser-admins:x:$G:" \
    nw getent group appuser-admins

# the store vanishes: glibc still answers from files, quietly
rm -rf "$STORE"
is_out "missing store: files still answer, no output" \
    "local1:x:1000:1000:Local One:/home/local1:/bin/sh" nw getent passwd local1
is_out "missing store: ours not found, no output" "" nw getent passwd alice
done_testing
