#!/bin/sh
# `make uninstall` runs this before it removes a single file.  Removing
# pam_appuser.so while a PAM file still names it makes libpam fail every
# stack that includes that file ("Module is unknown"): nobody, local users
# included, could log in or sudo.  So:
#
#   * the pam-auth-update profile is disabled first, the way Debian packages
#     do it before they remove a module (pam-auth-update --package --remove);
#   * a PAM file that still names pam_appuser afterwards (edited by hand, or
#     pam-auth-update refused to touch a locally modified common-* file) stops
#     the uninstall with the list of files, before anything is removed;
#   * nsswitch.conf is left alone unless NSSWITCH=1 (glibc skips a source
#     whose module is missing, so a leftover "appuser" is harmless); with
#     NSSWITCH=1 "appuser" is taken off the passwd and group lines.
#
# With DESTDIR (packaging, a staging tree) there is no live host to protect:
# nothing is checked.  The store (/var/lib/appuser) is never removed.
#
# usage: uninstall-prepare.sh DESTDIR SYSCONFDIR NSSWITCH
destdir=$1 sysconfdir=${2:-/etc} nsswitch=$3
[ -n "$destdir" ] && exit 0

pamd=$sysconfdir/pam.d
names_module()
{
	grep -lE '^[[:space:]]*[^#[:space:]].*pam_appuser\.so' "$@" 2>/dev/null
}

# 1. files the profile does not manage: refuse before touching anything
others=$(for f in "$pamd"/*; do
	case ${f##*/} in common-*) continue;; esac
	[ -f "$f" ] && names_module "$f"
done)
if [ -n "$others" ]; then
	echo "make uninstall: these PAM files still use pam_appuser.so:" >&2
	echo "$others" | sed 's/^/  /' >&2
	echo "make uninstall: remove the pam_appuser lines from them first;" \
	    "removing the module now would stop every login through them." \
	    "Nothing was removed." >&2
	exit 1
fi

# 2. the pam-auth-update profile: disable it while the module is still there
if [ -n "$(names_module "$pamd"/common-*)" ]; then
	if command -v pam-auth-update >/dev/null 2>&1 ||
	    [ -x /usr/sbin/pam-auth-update ]; then
		echo "make uninstall: disabling the PAM profile:" \
		    "pam-auth-update --package --remove appuser"
		DEBIAN_FRONTEND=noninteractive PATH=$PATH:/usr/sbin \
		    pam-auth-update --package --remove appuser || exit 1
	fi
	left=$(names_module "$pamd"/common-*)
	if [ -n "$left" ]; then
		echo "make uninstall: these PAM files still use pam_appuser.so:" >&2
		echo "$left" | sed 's/^/  /' >&2
		echo "make uninstall: they have local changes that" \
		    "pam-auth-update does not touch; remove the pam_appuser" \
		    "lines by hand, then run make uninstall again." \
		    "Nothing was removed." >&2
		exit 1
	fi
fi

# 3. nsswitch.conf: only when asked
nss=$sysconfdir/nsswitch.conf
if grep -qE '^(passwd|group):.*[[:space:]]appuser([[:space:]]|$)' "$nss" 2>/dev/null; then
	if [ "$nsswitch" = 1 ]; then
		echo "make uninstall: taking appuser off the passwd and group" \
		    "lines of $nss"
		sed -i -E '/^(passwd|group):/{s/[[:space:]]+appuser([[:space:]]|$)/\1/}' \
		    "$nss" || exit 1
	else
		echo "make uninstall: $nss still lists appuser (harmless: glibc" \
		    "skips a missing module); make uninstall NSSWITCH=1 takes" \
		    "it off"
	fi
fi
[ -d /var/lib/appuser ] && echo "make uninstall: the store /var/lib/appuser" \
    "is kept (its users and tokens); remove it yourself when done with it"
exit 0
