#!/bin/sh
# make install / make uninstall (DESTDIR, PREFIX), the shipped files (sudoers
# drop-in, pam-auth-update profile, examples), the man pages, and -- as root,
# in a private mount namespace -- pam-auth-update --enable/--disable on the
# real /etc/pam.d with pamtester logins for a local and an application user,
# then `make uninstall` with the profile enabled: a local user must still log
# in (pamtester, su).
. "$(dirname "$0")/lib.sh"
NS_LIBDIR=$TOP/tests/e2e
. "$TOP/tests/e2e/nslib.sh"
cd "$TOP" || exit 2
unset MAKEFLAGS MFLAGS MAKELEVEL
if other_build; then
	skip "make install and pam-auth-update" "$APPUSER_BUILD/ under test: make install ships build/ (runs under plain make check)"
	done_testing
	exit
fi
MA=$(${CC:-cc} -print-multiarch 2>/dev/null)
MANS="appuser.8 pam_appuser.8 nss_appuser.8 appuser-syncd.8"
EXAMPLES="pam.d-sshd sshd_config.d-appuser.conf nsswitch.conf"

# --- inside the namespace (root): pam-auth-update on the real layout ---------
if [ "$APPUSER_NS_INNER" = 1 ]; then
	ns_setup
	pw=$NS_W/secret/pw
	printf 'Local-pw-install\n' >"$pw"
	useradd -m e2e-local &&
	    printf 'e2e-local:%s\n' Local-pw-install | chpasswd ||
	    not_ok "local account"
	if ns_install; then
		ok "make install into the private /usr, pam-auth-update --enable appuser"
	else
		not_ok "make install; pam-auth-update --enable appuser"
	fi
	for f in common-auth common-account common-session; do
		got=$(grep -v '^#' "/etc/pam.d/$f" | grep -oE 'pam_(appuser|unix)\.so' |
		    tr '\n' ' ')
		want="pam_appuser.so pam_unix.so "
		[ "$got" = "$want" ] && ok "$f: $got" ||
		    not_ok "$f has pam_appuser then pam_unix" "$got"
	done
	line=$(grep pam_appuser /etc/pam.d/common-auth)
	case $line in
	*"success=2"*"default=die"*) ok "common-auth: token failures are final, success skips pam_unix";;
	*) not_ok "common-auth line for pam_appuser" "$line";;
	esac
	grep -q 'pam_appuser' /etc/pam.d/common-password &&
	    not_ok "common-password left alone" || ok "common-password left alone"

	# no store yet: local logins must work as before
	expect_rc 0 "no store yet: local user logs in (pamtester sshd)" \
	    sh -c "pamtester sshd e2e-local authenticate acct_mgmt <'$pw'"
	printf 'wrong-password\n' >"$NS_W/secret/bad"
	expect_rc 1 "no store yet: local user, wrong password refused" \
	    sh -c "pamtester sshd e2e-local authenticate <'$NS_W/secret/bad'"

	# a store with one application user
	/usr/sbin/appuser create inst-bot >/dev/null
	(umask 077 && /usr/sbin/appuser token create inst-bot >"$NS_W/secret/tok") 2>/dev/null
	expect_rc 0 "getent passwd inst-bot through the installed NSS module" \
	    getent passwd inst-bot
	expect_rc 0 "application user logs in with its token (pamtester sshd)" \
	    sh -c "pamtester sshd inst-bot authenticate acct_mgmt <'$NS_W/secret/tok'"
	expect_rc 1 "application user refused with a local user's password" \
	    sh -c "pamtester sshd inst-bot authenticate <'$pw'"
	# the metrics unit: systemd accepts it, and its command works as written
	U=/usr/lib/systemd/system
	if command -v systemd-analyze >/dev/null 2>&1; then
		out=$(SYSTEMD_LOG_LEVEL=warning systemd-analyze verify \
		    "$U/appuser-metrics.service" "$U/appuser-metrics.timer" 2>&1)
		[ -z "$out" ] && ok "systemd-analyze verify appuser-metrics.service and .timer" ||
		    not_ok "systemd-analyze verify appuser-metrics.*" "$out"
	else
		skip "systemd-analyze verify appuser-metrics.*" "systemd not installed"
	fi
	mkdir -p /var/lib/prometheus/node-exporter
	expect_rc 0 "appuser-metrics.service's ExecStart, run as written" \
	    sh -c "$(sed -n 's/^ExecStart=//p' "$U/appuser-metrics.service")"
	grep -q '^appuser_users 1$' /var/lib/prometheus/node-exporter/appuser.prom &&
	    ok "... writes the textfile collector's appuser.prom" ||
	    not_ok "... writes appuser.prom" "$(ls -l /var/lib/prometheus/node-exporter)"
	expect_rc 0 "store present: local user still logs in" \
	    sh -c "pamtester sshd e2e-local authenticate acct_mgmt <'$pw'"
	ns_asks_password "$pw" "local user is asked for a Password, not a Token" \
	    "local user's prompt"

	DEBIAN_FRONTEND=noninteractive pam-auth-update --disable appuser \
	    >/dev/null 2>&1
	if grep -q pam_appuser /etc/pam.d/common-*; then
		not_ok "pam-auth-update --disable appuser removes it"
	else
		ok "pam-auth-update --disable appuser removes it"
	fi
	expect_rc 0 "after --disable: local user logs in" \
	    sh -c "pamtester sshd e2e-local authenticate acct_mgmt <'$pw'"

	# the hand-written alternative: examples/pam.d-sshd as a service of its own
	grep -vE '^[[:space:]]*(#|$)' /usr/share/doc/appuser/examples/pam.d-sshd \
	    >/etc/pam.d/appuser-example
	expect_rc 0 "examples/pam.d-sshd: application user logs in with its token" \
	    sh -c "pamtester appuser-example inst-bot authenticate acct_mgmt open_session close_session <'$NS_W/secret/tok'"
	expect_rc 1 "examples/pam.d-sshd: application user refused with a password" \
	    sh -c "pamtester appuser-example inst-bot authenticate <'$pw'"
	expect_rc 0 "examples/pam.d-sshd: local user logs in with its password" \
	    sh -c "pamtester appuser-example e2e-local authenticate acct_mgmt <'$pw'"
	umount /var/lib/appuser

	# make uninstall with a hand-written PAM file still naming the module:
	# refused before anything is removed
	out=$(make -s --no-print-directory -o all uninstall PREFIX=/usr 2>&1)
	urc=$?
	if [ "$urc" != 0 ] && [ -f /usr/lib/"$MA"/security/pam_appuser.so ] &&
	    echo "$out" | grep -q '/etc/pam.d/appuser-example' &&
	    echo "$out" | grep -q 'Nothing was removed'; then
		ok "make uninstall refuses while /etc/pam.d/appuser-example uses the module, removes nothing"
	else
		not_ok "make uninstall refuses while a PAM file uses the module" "exit $urc: $out"
	fi
	rm -f /etc/pam.d/appuser-example

	# the host as most will have it: profile enabled, nsswitch edited
	DEBIAN_FRONTEND=noninteractive pam-auth-update --enable appuser \
	    >/dev/null 2>&1
	grep -q pam_appuser /etc/pam.d/common-auth &&
	    ok "profile enabled again before uninstalling" ||
	    not_ok "profile enabled again before uninstalling"
	nss_before=$(grep -E '^(passwd|group):' /etc/nsswitch.conf)
	out=$(make -s --no-print-directory -o all uninstall PREFIX=/usr 2>&1)
	urc=$?
	[ "$urc" = 0 ] && ok "make uninstall with the profile enabled" ||
	    not_ok "make uninstall with the profile enabled" "exit $urc: $out"
	if grep -q pam_appuser /etc/pam.d/common-* /etc/pam.d/*; then
		not_ok "make uninstall disabled the profile" "$(grep pam_appuser /etc/pam.d/*)"
	else
		ok "make uninstall disabled the profile (no PAM file names pam_appuser)"
	fi
	left=$(ls /usr/sbin/appuser /usr/lib/"$MA"/security/pam_appuser.so \
	    /usr/lib/"$MA"/libnss_appuser.so.2 /usr/share/pam-configs/appuser \
	    /etc/sudoers.d/appuser 2>/dev/null)
	[ -z "$left" ] && ok "make uninstall (real paths, private namespace)" ||
	    not_ok "make uninstall removed everything" "$left"
	[ "$(grep -E '^(passwd|group):' /etc/nsswitch.conf)" = "$nss_before" ] &&
	    ok "nsswitch.conf untouched without NSSWITCH=1" ||
	    not_ok "nsswitch.conf untouched without NSSWITCH=1" "$(cat /etc/nsswitch.conf)"
	has "... and says how to take it off" "make uninstall NSSWITCH=1" "$out"

	# a local user still logs in: pamtester on several stacks, and su
	for svc in sshd login su sudo; do
		expect_rc 0 "after uninstall: local user logs in (pamtester $svc)" \
		    sh -c "pamtester $svc e2e-local authenticate acct_mgmt <'$pw'"
	done
	expect_rc 1 "after uninstall: wrong password still refused" \
	    sh -c "pamtester sshd e2e-local authenticate <'$NS_W/secret/bad'"
	useradd -m e2e-other || not_ok "second local account"
	out=$(ns_su e2e-other e2e-local "$pw" 'id -un' 2>&1)
	case $out in
	*e2e-local*) ok "after uninstall: su - e2e-local, password typed on a terminal";;
	*) not_ok "after uninstall: su - e2e-local" "$out";;
	esac
	expect_rc 0 "after uninstall: getent passwd root" getent passwd root

	out=$(make -s --no-print-directory -o all uninstall PREFIX=/usr NSSWITCH=1 2>&1)
	urc=$?
	if [ "$urc" = 0 ] && ! grep -qE '^(passwd|group):.*appuser' /etc/nsswitch.conf &&
	    grep -qE '^passwd:[[:space:]]+files' /etc/nsswitch.conf; then
		ok "make uninstall NSSWITCH=1 takes appuser off passwd and group"
	else
		not_ok "make uninstall NSSWITCH=1" "exit $urc: $out $(grep -E '^(passwd|group):' /etc/nsswitch.conf)"
	fi
	expect_rc 0 "after NSSWITCH=1: local user logs in (pamtester sshd)" \
	    sh -c "pamtester sshd e2e-local authenticate acct_mgmt <'$pw'"
	ns_stop
	exit 0
fi

# --- host side: DESTDIR installs (no root needed) ---------------------------------
for f in dist/pam-configs/appuser dist/sudoers.d/appuser dist/appuser-metrics.service \
    dist/appuser-metrics.timer; do
	[ -f "$f" ] && ok "$f shipped" || not_ok "$f shipped"
done
for e in $EXAMPLES; do
	[ -f "dist/examples/$e" ] && ok "dist/examples/$e shipped" ||
	    not_ok "dist/examples/$e shipped"
done

have_bins=1
for f in appuser appuser-syncd pam_appuser.so libnss_appuser.so.2; do
	[ -f "build/$f" ] || have_bins=0
done

check_layout()
{
	_d=$1 _p=$2 _lib=$3
	for f in "$_p/sbin/appuser:755" "$_lib/security/pam_appuser.so:644" \
	    "$_lib/libnss_appuser.so.2:644" "$_p/share/pam-configs/appuser:644" \
	    "etc/sudoers.d/appuser:440" \
	    "$_p/share/man/man8/appuser.8:644" "$_p/share/man/man8/pam_appuser.8:644" \
	    "$_p/share/man/man8/nss_appuser.8:644" \
	    "$_p/sbin/appuser-syncd:755" "$_p/share/man/man8/appuser-syncd.8:644" \
	    "$_p/lib/systemd/system/appuser-syncd.service:644" \
	    "$_p/share/doc/appuser/examples/pam.d-sshd:644" \
	    "$_p/share/doc/appuser/examples/sshd_config.d-appuser.conf:644" \
	    "$_p/share/doc/appuser/examples/nsswitch.conf:644" \
	    "$_p/lib/systemd/system/appuser-metrics.service:644" \
	    "$_p/lib/systemd/system/appuser-metrics.timer:644"; do
		path=${f%:*} mode=${f##*:}
		got=$(stat -c %a "$_d/$path" 2>/dev/null)
		[ "$got" = "$mode" ] && ok "installed /$path mode $mode" ||
		    not_ok "installed /$path mode $mode" "got '${got:-missing}'"
	done
}

if [ "$have_bins" = 0 ] || [ ! -f man/appuser.8 ]; then
	skip "make install DESTDIR" "build/ or man/ incomplete (run make)"
else
	d=$(mktemp -d) || exit 2
	trap 'rm -rf "$d"' EXIT
	out=$(make -s --no-print-directory install DESTDIR="$d/usr-prefix" PREFIX=/usr 2>&1)
	[ $? = 0 ] && ok "make install DESTDIR=... PREFIX=/usr" ||
	    not_ok "make install DESTDIR=... PREFIX=/usr" "$out"
	check_layout "$d/usr-prefix" usr "usr/lib/$MA"
	cmp -s build/appuser "$d/usr-prefix/usr/sbin/appuser" &&
	    ok "installed appuser is build/appuser" || not_ok "installed appuser is build/appuser"
	if command -v visudo >/dev/null 2>&1 || [ -x /usr/sbin/visudo ]; then
		out=$(PATH=$PATH:/usr/sbin visudo -cf "$d/usr-prefix/etc/sudoers.d/appuser" 2>&1)
		[ $? = 0 ] && ok "visudo -cf on the installed sudoers drop-in" ||
		    not_ok "visudo -cf sudoers drop-in" "$out"
	else
		skip "visudo -cf sudoers drop-in" "visudo not installed (make deps)"
	fi
	grep -qx '%appuser-admins ALL=(ALL:ALL) ALL' dist/sudoers.d/appuser &&
	    ok "sudoers drop-in grants %appuser-admins" ||
	    not_ok "sudoers drop-in grants %appuser-admins"
	out=$(make -s --no-print-directory uninstall DESTDIR="$d/usr-prefix" PREFIX=/usr 2>&1)
	left=$(find "$d/usr-prefix" -type f)
	[ -z "$left" ] && ok "make uninstall DESTDIR=... removes every file" ||
	    not_ok "make uninstall DESTDIR=... removes every file" "$left$out"

	out=$(make -s --no-print-directory install DESTDIR="$d/local" PREFIX=/usr/local 2>&1)
	[ $? = 0 ] && ok "make install DESTDIR=... PREFIX=/usr/local" ||
	    not_ok "make install PREFIX=/usr/local" "$out"
	check_layout "$d/local" usr/local "usr/local/lib/$MA"
	out=$(make -s --no-print-directory uninstall DESTDIR="$d/local" PREFIX=/usr/local 2>&1)
	left=$(find "$d/local" -type f)
	[ -z "$left" ] && ok "make uninstall PREFIX=/usr/local removes every file" ||
	    not_ok "make uninstall PREFIX=/usr/local" "$left$out"
fi

# --- man pages: render with man -l and groff, no warnings ------------------------
for m in $MANS; do
	f=man/$m
	if [ ! -f "$f" ]; then
		not_ok "man/$m exists"
		continue
	fi
	if ! command -v man >/dev/null 2>&1; then
		skip "man -l $m" "man-db not installed (make deps)"
		continue
	fi
	err=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$f" 2>&1 >/dev/null)
	text=$(LC_ALL=C.UTF-8 MANWIDTH=80 man -l "$f" 2>/dev/null)
	[ -z "$err" ] && [ -n "$text" ] && ok "man -l $m renders without warnings" ||
	    not_ok "man -l $m renders without warnings" "$err"
	err=$(groff -ww -z -man "$f" 2>&1)
	[ -z "$err" ] && ok "groff -ww -z -man $m: no warnings" ||
	    not_ok "groff -ww -z -man $m" "$err"
	name=${m%.8}
	what=$(lexgrog "$f" 2>/dev/null)
	case $what in
	*"\"$name - "*) ok "$m: NAME section parses (lexgrog: ${what#*: })";;
	*) not_ok "$m: NAME section parses as '$name - ...'" "$what";;
	esac
	for s in NAME SYNOPSIS DESCRIPTION; do
		echo "$text" | grep -q "^$s" || not_ok "$m has a $s section"
	done
done

# --- root: the real layout in a private namespace --------------------------------
why=$(ns_supported)
if [ -n "$why" ]; then
	skip "pam-auth-update and pamtester in a private namespace" "$why"
else
	ns_run_relayed "$0" "host's pam.d, nsswitch.conf, sudoers, passwd unchanged"
fi
done_testing
