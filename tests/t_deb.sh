#!/bin/sh
# The Debian packages (README "Install from packages"): make deb, lintian
# (no error, no warning), then -- as root, in private namespaces whose /etc,
# /usr, /var and /home are overlays of the real system (tests/e2e/nslib.sh)
# -- their whole life as an operator sees it, with no network:
#   apt-get install ./build/deb/*.deb: nsswitch.conf and the PAM profile
#     enabled by the maintainer scripts, the sudoers drop-in a conffile;
#   a user and a token: getent, pamtester, su typed on a terminal;
#   apt-get remove: no PAM file names the module, local users log in, the
#     store and the drop-in (a conffile) stay;
#   apt-get purge: nothing of ours left; the PAM files, nsswitch.conf and
#     pam-auth-update's state byte for byte as before.
# The host's configuration and dpkg database are unchanged afterwards.
. "$(dirname "$0")/lib.sh"
NS_LIBDIR=$TOP/tests/e2e
. "$TOP/tests/e2e/nslib.sh"
cd "$TOP" || exit 2
unset MAKEFLAGS MFLAGS MAKELEVEL
PKGS="appuser libpam-appuser libnss-appuser"

# What the packages may change while installed, and must give back.
conf_state()
{
	for f in /etc/nsswitch.conf /etc/sudoers /etc/sudoers.d/* \
	    /etc/pam.d/* /usr/share/pam-configs/* /var/lib/pam/*; do
		[ -f "$f" ] && sha256sum "$f"
	done
}

# "ii", "rc" or "" (unknown to dpkg) for each of our packages
pkg_states()
{
	for p in $PKGS; do
		printf '%s=%s ' "$p" "$(dpkg-query -W -f='${db:Status-Abbrev}' \
		    "$p" 2>/dev/null | tr -d ' ')"
	done
}

pam_naming() { grep -lE '^[[:space:]]*[^#[:space:]].*pam_appuser\.so' /etc/pam.d/* 2>/dev/null; }

# apt-get as an operator runs it, its output in $NS_W/NAME.log
apt() {
	_l=$NS_W/$1.log; shift
	DEBIAN_FRONTEND=noninteractive apt-get -y -q -o Dpkg::Use-Pty=0 "$@" \
	    >"$_l" 2>&1
}

# apt_ok NAME LOG ARGS...: apt LOG ARGS; the test NAME, with the end of
# its log when it fails
apt_ok() {
	_an=$1; shift
	if apt "$@"; then ok "$_an"
	else not_ok "$_an" "$(tail -n 20 "$NS_W/$1.log")"; fi
}

local_logins()
{
	for svc in sshd login su sudo; do
		expect_rc 0 "$1: local user logs in (pamtester $svc)" \
		    sh -c "pamtester $svc e2e-local authenticate acct_mgmt <'$pw'"
	done
	out=$(ns_su e2e-other e2e-local "$pw" 'id -un' 2>&1)
	case $out in
	*e2e-local*) ok "$1: su - e2e-local, password typed on a terminal";;
	*) not_ok "$1: su - e2e-local" "$out";;
	esac
}

# --- inside the namespace ----------------------------------------------------
if [ "$APPUSER_NS_INNER" = 1 ]; then
	ns_setup
	ns_assert_private
	# a store or a module the host may have is not ours to test with:
	# hidden here (whiteouts in the overlay), the host keeps its own
	rm -rf /var/lib/appuser
	# the man-db trigger rebuilds its whole index: seconds for nothing
	rm -f /var/lib/man-db/auto-update
	before=$(conf_state)
	pw=$NS_W/secret/pw
	printf 'Local-pw-deb\n' >"$pw"
	for u in e2e-local e2e-other; do
		useradd -m "$u" && printf '%s:Local-pw-deb\n' "$u" | chpasswd ||
		    not_ok "local account $u"
	done

	# install
	t0=$(date +%s)
	if apt install install ./build/deb/*.deb; then
		ok "apt-get install ./build/deb/*.deb ($(($(date +%s) - t0)) s, no network)"
	else
		not_ok "apt-get install ./build/deb/*.deb" "$(tail -n 20 "$NS_W/install.log")"
	fi
	is "dpkg: installed" \
	    "appuser=ii libpam-appuser=ii libnss-appuser=ii " "$(pkg_states)"
	is "appuser --version" "appuser 0.1.0" "$(/usr/sbin/appuser --version 2>&1)"
	for db in passwd group; do
		line=$(grep -E "^$db:" /etc/nsswitch.conf)
		case $line in
		*[[:space:]]files*[[:space:]]appuser) ok "nsswitch.conf: $line";;
		*) not_ok "nsswitch.conf: $db ends with appuser, after files" "$line";;
		esac
	done
	grep -E '^(shadow|gshadow):.*appuser' /etc/nsswitch.conf &&
	    not_ok "nsswitch.conf: shadow and gshadow left alone" ||
	    ok "nsswitch.conf: shadow and gshadow left alone"
	for f in common-auth common-account; do
		got=$(grep -v '^#' "/etc/pam.d/$f" | grep -oE 'pam_(appuser|unix)\.so' |
		    tr '\n' ' ')
		is "profile enabled on installation: $f" \
		    "pam_appuser.so pam_unix.so " "$got"
	done
	grep -q pam_appuser /etc/pam.d/common-session &&
	    ok "profile enabled on installation: common-session" ||
	    not_ok "profile enabled on installation: common-session"
	is "sudoers drop-in: mode 440 root:root" "440 root:root" \
	    "$(stat -c '%a %U:%G' /etc/sudoers.d/appuser 2>&1)"
	has "sudoers drop-in is a conffile of appuser" "^ /etc/sudoers.d/appuser [0-9a-f]{32}" \
	    "$(dpkg-query -W -f='${Conffiles}\n' appuser)"
	expect_rc 0 "visudo -c with the drop-in" visudo -c
	# the fleet agent: installed, its unit where systemd looks, not enabled
	# (README "Many hosts": enabled once fleet.conf is written)
	[ -x /usr/sbin/appuser-syncd ] && ok "appuser-syncd installed" ||
	    not_ok "appuser-syncd installed"
	[ -f /lib/systemd/system/appuser-syncd.service ] &&
	    ok "its unit in /lib/systemd/system" ||
	    not_ok "its unit in /lib/systemd/system"
	left=$(find /etc/systemd -name 'appuser-syncd*' 2>/dev/null)
	[ -z "$left" ] && ok "the unit is not enabled" ||
	    not_ok "the unit is not enabled" "$left"

	# a user and a token
	check "appuser create deb-bot" /usr/sbin/appuser create deb-bot
	ns_mint bot deb-bot 2>/dev/null || not_ok "token for deb-bot"
	has "getent passwd deb-bot (the packaged NSS module)" "^deb-bot:x:19" \
	    "$(getent passwd deb-bot)"
	expect_rc 0 "deb-bot logs in with its token (pamtester sshd)" \
	    sh -c "pamtester sshd deb-bot authenticate acct_mgmt <'$NS_W/secret/bot'"
	expect_rc 1 "deb-bot refused with a local user's password" \
	    sh -c "pamtester sshd deb-bot authenticate <'$pw'"
	out=$(ns_su e2e-local deb-bot "$NS_W/secret/bot" 'id -un' 2>&1)
	case $out in
	*deb-bot*) ok "su - deb-bot, the token typed on a terminal";;
	*) not_ok "su - deb-bot with its token" "$out";;
	esac
	local_logins "installed"
	ns_asks_password "$pw" \
	    "installed: a local user is asked for a Password, not a Token" \
	    "installed: local user's prompt"

	# an upgrade (the same packages again) keeps the administrator's
	# choices: a profile turned off stays off, an nsswitch.conf line edited
	# since the first installation is not edited again
	DEBIAN_FRONTEND=noninteractive pam-auth-update --disable appuser \
	    >/dev/null 2>&1
	sed -i -E '/^group:/s/[[:space:]]+appuser$//' /etc/nsswitch.conf
	nss_mine=$(grep -E '^(passwd|group):' /etc/nsswitch.conf)
	apt_ok "apt-get install --reinstall" reinstall \
	    install --reinstall ./build/deb/*.deb
	left=$(pam_naming)
	[ -z "$left" ] && ok "upgrade: a profile turned off stays off" ||
	    not_ok "upgrade: a profile turned off stays off" "$left"
	is "upgrade: nsswitch.conf as the administrator left it" "$nss_mine" \
	    "$(grep -E '^(passwd|group):' /etc/nsswitch.conf)"
	[ -f /var/lib/appuser/store.tdb ] && ok "upgrade: the store stays" ||
	    not_ok "upgrade: the store stays"
	DEBIAN_FRONTEND=noninteractive pam-auth-update --enable appuser \
	    >/dev/null 2>&1
	sed -i -E '/^group:/s/$/ appuser/' /etc/nsswitch.conf
	expect_rc 0 "upgrade: deb-bot logs in (pamtester sshd)" \
	    sh -c "pamtester sshd deb-bot authenticate acct_mgmt <'$NS_W/secret/bot'"

	# a PAM file pam-auth-update does not manage names the module: removing
	# it now would break every login through that file, so prerm refuses
	# and dpkg puts the profile back (postinst abort-remove)
	grep -vE '^[[:space:]]*(#|$)' /usr/share/doc/appuser/examples/pam.d-sshd \
	    >/etc/pam.d/appuser-example
	if apt refused remove libpam-appuser; then
		not_ok "remove refused while /etc/pam.d/appuser-example uses the module"
	else
		has "remove refused while /etc/pam.d/appuser-example uses the module" \
		    "/etc/pam.d/appuser-example" "$(cat "$NS_W/refused.log")"
	fi
	is "refused: libpam-appuser still installed" "ii" \
	    "$(dpkg-query -W -f='${db:Status-Abbrev}' libpam-appuser | tr -d ' ')"
	grep -q pam_appuser /etc/pam.d/common-auth &&
	    ok "refused: the profile is enabled again" ||
	    not_ok "refused: the profile is enabled again"
	expect_rc 0 "refused: deb-bot still logs in (pamtester sshd)" \
	    sh -c "pamtester sshd deb-bot authenticate acct_mgmt <'$NS_W/secret/bot'"
	rm -f /etc/pam.d/appuser-example

	# remove
	apt_ok "apt-get remove" remove remove $PKGS
	is "dpkg: removed, configuration kept" \
	    "appuser=rc libpam-appuser=rc libnss-appuser=rc " "$(pkg_states)"
	left=$(pam_naming)
	[ -z "$left" ] && ok "removed: no PAM file names pam_appuser" ||
	    not_ok "removed: no PAM file names pam_appuser" "$left"
	grep -qE '^(passwd|group):.*appuser' /etc/nsswitch.conf &&
	    not_ok "removed: nsswitch.conf" "$(grep -E '^(passwd|group):' /etc/nsswitch.conf)" ||
	    ok "removed: appuser off the passwd and group lines"
	local_logins "removed"
	expect_rc 2 "removed: deb-bot unknown" getent passwd deb-bot
	[ -f /var/lib/appuser/store.tdb ] && ok "removed: the store stays" ||
	    not_ok "removed: the store stays" "$(ls -la /var/lib/appuser 2>&1)"
	[ -f /etc/sudoers.d/appuser ] && ok "removed: the conffile stays until purge" ||
	    not_ok "removed: the sudoers drop-in stays until purge"
	expect_rc 0 "removed: visudo -c" visudo -c

	# purge
	apt_ok "apt-get purge" purge purge $PKGS
	is "dpkg: purged" \
	    "appuser= libpam-appuser= libnss-appuser= " "$(pkg_states)"
	[ ! -e /var/lib/appuser ] && ok "purged: the store is gone" ||
	    not_ok "purged: the store is gone" "$(ls -la /var/lib/appuser 2>&1)"
	# every file the namespace created or changed sits in an overlay's
	# upper layer (whiteouts, character devices, mark deletions)
	left=$(for d in "$NS_W"/ovl/*/up; do
		find "$d" ! -type c \( -name '*appuser*' -o -name '*pam_appuser*' \) \
		    -printf '/%P\n'
	done)
	[ -z "$left" ] && ok "purged: no file of ours left" ||
	    not_ok "purged: no file of ours left" "$left"
	is "purged: PAM files, nsswitch.conf, sudoers, pam-auth-update's state as before" \
	    "$before" "$(conf_state)"
	expect_rc 0 "purged: local user logs in (pamtester sshd)" \
	    sh -c "pamtester sshd e2e-local authenticate acct_mgmt <'$pw'"
	ns_stop
	exit 0
fi

# --- host side ------------------------------------------------------------
if ! is_root; then
	skip "Debian packages: build, lintian, install, remove, purge" \
	    "needs root (private namespaces, apt-get)"
	done_testing
	exit
fi
if other_build; then
	skip "Debian packages" "$APPUSER_BUILD/ under test: the packages build the tree on their own (runs under plain make check)"
	done_testing
	exit
fi
missing=
for c in dpkg-buildpackage dpkg-checkbuilddeps dh dh_installnss lintian \
    apt-get pamtester; do
	command -v "$c" >/dev/null 2>&1 || missing="$missing $c"
done
if [ -n "$missing" ]; then
	skip "Debian packages" "missing$missing (make deps)"
	done_testing
	exit
fi
if ! out=$(dpkg-checkbuilddeps 2>&1); then
	skip "Debian packages" "build dependencies missing (make deps): ${out#*: }"
	done_testing
	exit
fi

t0=$(date +%s)
log=$(mktemp) || exit 2
trap 'rm -f "$log"' EXIT
if DEB_BUILD_OPTIONS="nocheck parallel=2" make -s --no-print-directory deb \
    >"$log" 2>&1; then
	ok "make deb ($(($(date +%s) - t0)) s)"
else
	not_ok "make deb" "$(tail -n 30 "$log")"
	done_testing
	exit 1
fi
for p in $PKGS; do
	[ -f "build/deb/${p}_0.1.0_$(dpkg --print-architecture).deb" ] &&
	    ok "build/deb/ has $p" || not_ok "build/deb/ has $p" "$(ls build/deb)"
done
n=$(ls build/deb/*.deb | wc -l)
is "build/deb/*.deb is the three packages (debug symbols in dbgsym/)" 3 "$n"
t0=$(date +%s)
out=$(lintian --fail-on error,warning build/deb/*.deb build/deb/dbgsym/*.deb 2>&1)
[ $? = 0 ] && ok "lintian: no error, no warning ($(($(date +%s) - t0)) s)" ||
    not_ok "lintian: no error, no warning" "$out"

why=$(ns_supported)
if [ -n "$why" ]; then
	skip "install, remove and purge in a private namespace" "$why"
	done_testing
	exit
fi
dpkg_before=$(pkg_states)
ns_run_relayed "$0" "host's pam.d, nsswitch.conf, sudoers, passwd unchanged"
is "host's dpkg knows nothing more of our packages" "$dpkg_before" "$(pkg_states)"
done_testing
