# Private-namespace plumbing shared by tests/e2e/t_e2e.sh, t_admin_name.sh,
# demo.sh and tests/t_install.sh, t_docs_readme.sh, t_docs_man.sh.
#
# The scripts run the real sshd, sudo, su and getent against the built
# modules.  Everything that changes happens inside a private mount namespace
# (plus a private pid and network namespace) where /etc, /usr, /var and /home
# are overlays whose writable layer is a tmpfs, /run is a tmpfs and /dev/log
# is a socket of our own: `make install`, pam-auth-update, useradd and
# `sed -i /etc/nsswitch.conf` then run exactly as an administrator would run
# them on a real host, and all of it vanishes when the namespace ends.  The
# host's files are never written; ns_host_state lets a caller prove it.
#
# Host side:   ns_host_state            fingerprint of the host's config
#              ns_supported             why we cannot run ("" if we can)
#              ns_run SCRIPT ARGS...    SCRIPT inside fresh namespaces
#              ns_run_relayed SCRIPT [NAME]  ns_run, its TAP lines ours;
#                                       the host unchanged
#              ns_host_part SKIP [NAME] a skip line SKIP if $why, else
#                                       ns_run_relayed $0; then the end
# Inside:      ns_setup                 overlays, /dev/log, loopback
#              ns_install               make install + the README's steps
#              ns_doc_host              ns_install + sshd on :22, for the docs
#              ns_start_sshd            sshd on 127.0.0.1:$NS_PORT
#              ns_sudoers NAME [LINE...] a strict sudoers drop-in
#              ns_asks_password PWFILE OK FAIL  e2e-local's prompt: Password
#              run NAME CMD...          CMD's output in $O/NAME, $RC $OUT $ERR
#              ns_mint FILE USER [OPTS] a token into a root-only file, $PFX
#              ns_ssh SECRETFILE USER CMD   ssh, answering prompts from the file
#              ns_sudo USER SECRETFILE CMD  sudo -S as USER
#              ns_su FROM TO SECRETFILE CMD  su - TO, typed on a pty by FROM
#
# Secrets only ever travel in root-only files (0600, in a 0700 tmpfs) or on
# a pipe: never in argv or the environment of a child.
#
# Source tests/lib.sh first: the TAP helpers and syslog_listen come from it.

NS_LIBDIR=${NS_LIBDIR:-$(cd "$(dirname "$0")" && pwd)}
NS_TOP=$(cd "$NS_LIBDIR/../.." && pwd)
NS_PY=/usr/bin/python3
[ -x "$NS_PY" ] || NS_PY=$(command -v python3 2>/dev/null)
# Mount points the namespace makes private (writable, discarded at exit).
NS_OVERLAYS="/etc /usr /var /home"

# --- host side --------------------------------------------------------------

# Everything a test must leave alone, as one text blob to compare.
ns_host_state()
{
	for f in /etc/nsswitch.conf /etc/passwd /etc/shadow /etc/group \
	    /etc/gshadow /etc/sudoers /etc/sudoers.d/* /etc/pam.d/* \
	    /etc/ssh/sshd_config /etc/ssh/sshd_config.d/* \
	    /usr/share/pam-configs/* /var/lib/pam/*; do
		[ -f "$f" ] && sha256sum "$f"
	done
	ls -ld /etc/pam.d /etc/sudoers.d /var/lib/appuser /usr/sbin/appuser \
	    /dev/log /run/sshd /usr/lib/*/security/pam_appuser.so \
	    /usr/lib/*/libnss_appuser.so.2 /home/* 2>&1
}

# Prints the reason the namespaces cannot be set up here, or nothing.
ns_supported()
{
	[ "$(id -u)" = 0 ] || { echo "needs root (mount namespaces, sshd)"; return; }
	# every namespace test installs build/ and runs setuid sudo/su and
	# sshd over it, which cannot load an ASan module: they run under the
	# plain make check
	[ "${APPUSER_BUILD:-build}" = build ] ||
	    { echo "$APPUSER_BUILD/ under test: the namespace tests install build/, and setuid sudo/su and sshd cannot load an ASan module (they run under plain make check)"; return; }
	for c in unshare mount findmnt ip sshd ssh ssh-keygen timeout sudo su \
	    getent setpriv useradd chpasswd pam-auth-update visudo; do
		command -v "$c" >/dev/null 2>&1 ||
		    [ -x "/usr/sbin/$c" ] || { echo "missing $c (make deps)"; return; }
	done
	[ -n "$NS_PY" ] || { echo "missing python3 (make deps)"; return; }
	for _f in appuser pam_appuser.so libnss_appuser.so.2; do
		[ -f "$NS_TOP/build/$_f" ] ||
		    { echo "build/$_f is missing (run make)"; return; }
	done
	grep -qw overlay /proc/filesystems ||
	    modprobe overlay 2>/dev/null; grep -qw overlay /proc/filesystems ||
	    { echo "kernel has no overlayfs"; return; }
	unshare --mount --pid --fork --net true 2>/dev/null ||
	    { echo "cannot create mount/pid/net namespaces here"; return; }
}

# Runs "sh SCRIPT ARGS" in new mount, pid and network namespaces; the
# namespaces (and sshd, the syslog listener...) end with it.
ns_run()
{
	_w=$(mktemp -d /tmp/appuser-ns.XXXXXX) || return 2
	unshare --mount --propagation private --pid --fork --mount-proc \
	    --net env -u APPUSER_STORE APPUSER_NS_INNER=1 NS_W="$_w" \
	    NS_HOST_MNT="$(readlink /proc/self/ns/mnt)" \
	    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
	    sh "$@"
	_rc=$?
	rmdir "$_w" 2>/dev/null	# the namespace's tmpfs went with it
	return $_rc
}

# ns_run_relayed SCRIPT [NAME]: ns_run SCRIPT, its TAP lines ("ok - name"
# or lib.sh's numbered "ok 3 - name", and the not ok ones) renumbered into
# the caller's stream; then the namespace part must have run to the end, and
# the host's configuration (and /srv, /opt, /mnt, where examples may write)
# be unchanged: the test NAME, with a diff when it is not.
ns_run_relayed()
{
	_before=$(ns_host_state; ls -la /srv /opt /mnt 2>&1)
	_log=$(mktemp) || exit 2
	ns_run "$1" >"$_log" 2>&1
	_nrc=$?
	while IFS= read -r _l; do
		case $_l in
		"ok - "*) ok "${_l#ok - }";;
		"not ok - "*) not_ok "${_l#not ok - }";;
		"ok "[0-9]*" - "*) ok "${_l#ok * - }";;
		"not ok "[0-9]*" - "*) not_ok "${_l#not ok * - }";;
		1..[0-9]*) ;;
		*) echo "$_l";;
		esac
	done <"$_log"
	[ "$_nrc" = 0 ] || not_ok "namespace part ran to the end" "exit $_nrc"
	{ ns_host_state; ls -la /srv /opt /mnt 2>&1; } >"$_log"
	_name=${2:-"host's configuration unchanged"}
	if [ "$_before" = "$(cat "$_log")" ]; then ok "$_name"
	else not_ok "$_name" "$(printf '%s\n' "$_before" | diff - "$_log")"; fi
	rm -f "$_log"
}

# ns_host_part SKIP [NAME]: the whole host side of a test script, which
# ends here: one skip line SKIP when $why (ns_supported, and need_cmds of
# tests/lib.sh for what the script needs more) says it cannot run; else
# ns_run_relayed of the script itself, NAME the host-unchanged check.
ns_host_part()
{
	if [ -n "$why" ]; then
		skip "$1" "$why"
	else
		ns_run_relayed "$0" "$2"
	fi
	done_testing
	exit
}

# --- inside the namespace ---------------------------------------------------

ns_die() { echo "nslib: $*" >&2; exit 2; }

# Refuse to go on unless we really are in a mount namespace of our own:
# every later step writes to /etc, /usr and /var.
ns_assert_private()
{
	[ -n "$NS_HOST_MNT" ] && [ "$APPUSER_NS_INNER" = 1 ] ||
	    ns_die "not started through ns_run"
	[ "$(readlink /proc/self/ns/mnt)" != "$NS_HOST_MNT" ] ||
	    ns_die "still in the host's mount namespace"
	for d in $NS_OVERLAYS; do
		[ "$(findmnt -n -o FSTYPE --mountpoint "$d")" = overlay ] ||
		    ns_die "$d is not a private overlay"
	done
}

# Overlay DIR with a writable tmpfs layer, keeping the mounts below it.
ns_private_dir()
{
	_d=$1 _k=$(echo "$1" | tr / _)
	mkdir -p "$NS_W/ovl/$_k/up" "$NS_W/ovl/$_k/work" "$NS_W/ovl/$_k/orig"
	mount --rbind "$_d" "$NS_W/ovl/$_k/orig" || ns_die "rbind $_d"
	mount -t overlay overlay -o "lowerdir=$_d,upperdir=$NS_W/ovl/$_k/up,workdir=$NS_W/ovl/$_k/work" "$_d" ||
	    ns_die "overlay on $_d"
	# submounts (e.g. /dev/pts under /dev) are hidden by the overlay
	findmnt -rn -o TARGET -R "$NS_W/ovl/$_k/orig" | sed 1d |
	while read -r _m; do
		_rel=${_m#"$NS_W/ovl/$_k/orig"}
		[ -d "$_d$_rel" ] || [ -f "$_d$_rel" ] || continue
		mount --bind "$_m" "$_d$_rel" 2>/dev/null
	done
}

ns_setup()
{
	[ -d "$NS_W" ] || ns_die "no work directory"
	[ "$(readlink /proc/self/ns/mnt)" != "$NS_HOST_MNT" ] ||
	    ns_die "still in the host's mount namespace"
	mount --make-rprivate / || ns_die "make-rprivate"
	# the work dir is a tmpfs: nothing we put there reaches the disk
	mount -t tmpfs -o mode=0700,size=256m appuser-ns "$NS_W" || ns_die tmpfs
	mkdir -p "$NS_W/sock" "$NS_W/dev" "$NS_W/secret"
	chmod 0700 "$NS_W/secret"
	ip link set lo up || ns_die "loopback"

	# syslog: a datagram socket of ours, bind-mounted on /dev/log
	NS_SYSLOG=$NS_W/syslog.txt
	syslog_listen "$NS_W/sock/log" "$NS_SYSLOG"
	_up=$?
	NS_SYSLOG_PID=$SYSLOG_PID
	[ "$_up" = 0 ] || ns_die "syslog listener did not start"
	touch "$NS_W/dev/log"
	mkdir -p "$NS_W/ovl/_dev/orig"
	mount --rbind /dev "$NS_W/ovl/_dev/orig" || ns_die "rbind /dev"
	mount -t overlay overlay -o "lowerdir=$NS_W/dev:/dev" /dev ||
	    ns_die "overlay on /dev"
	for _m in pts shm mqueue hugepages; do
		[ -d "$NS_W/ovl/_dev/orig/$_m" ] &&
		    mount --rbind "$NS_W/ovl/_dev/orig/$_m" "/dev/$_m"
	done
	mount --bind "$NS_W/sock/log" /dev/log || ns_die "bind /dev/log"

	for _d in $NS_OVERLAYS; do
		ns_private_dir "$_d"
	done
	mount -t tmpfs -o mode=0755 appuser-run /run || ns_die "tmpfs /run"
	mkdir -m 0755 /run/sshd /run/lock
	ns_assert_private
	cat >"$NS_W/askpass" <<-'EOF'
	#!/bin/sh
	printf '%s\n' "$1" >>"$NS_ASKPASS_LOG"
	head -n 1 "$NS_ASKPASS_FILE"
	EOF
	chmod 0700 "$NS_W/askpass"
	NS_PORT=$("$NS_PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
}

# "make install" into the private /usr and /etc, then the steps README.md
# gives under "Enabling it on a host".
ns_install()
{
	ns_assert_private
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
	    make -s --no-print-directory -C "$NS_TOP" -o all install \
	    PREFIX=/usr >"$NS_W/install.log" 2>&1 ||
	    { cat "$NS_W/install.log" >&2; return 1; }
	# NSS: passwd and group also ask appuser (after files)
	sed -i -E '/^(passwd|group):/{/[[:space:]]appuser([[:space:]]|$)/!s/$/ appuser/}' \
	    /etc/nsswitch.conf || return 1
	# PAM: the Debian way, through the installed profile
	DEBIAN_FRONTEND=noninteractive pam-auth-update --enable appuser \
	    >"$NS_W/pam-auth-update.log" 2>&1 ||
	    { cat "$NS_W/pam-auth-update.log" >&2; return 1; }
	# sshd: the documented drop-in
	mkdir -p /etc/ssh/sshd_config.d
	install -m 0644 /usr/share/doc/appuser/examples/sshd_config.d-appuser.conf \
	    /etc/ssh/sshd_config.d/appuser.conf || return 1
	# the store lives in its default place, on a tmpfs of ours
	mkdir -p /var/lib/appuser && chmod 0755 /var/lib/appuser
	mount -t tmpfs -o mode=0755 appuser-store /var/lib/appuser || return 1
}

# What the documentation tests (tests/t_docs_*.sh) stand on: appuser
# installed as the README says, a first-time ssh client (no keys, no
# known_hosts), tmpfs on /srv, /opt and /mnt (where examples may write: not
# on the host), and the system's sshd (its sshd_config plus the drop-in) on
# 127.0.0.1:22.
ns_doc_host()
{
	ns_install || return 1
	mount -t tmpfs -o mode=0700 appuser-root /root || return 1
	for _d in /srv /opt /mnt; do
		mount -t tmpfs -o mode=0755 appuser-docs "$_d" || return 1
	done
	/usr/sbin/sshd -t || return 1
	/usr/sbin/sshd -D -o ListenAddress=127.0.0.1 \
	    -o PidFile="$NS_W/sshd.pid" -E "$NS_W/sshd.log" </dev/null &
	NS_SSHD_PID=$!
	ns_sshd_listening
}

# Waits up to 5 s for sshd to say it listens.
ns_sshd_listening()
{
	for _i in $(seq 1 50); do
		grep -q 'Server listening' "$NS_W/sshd.log" 2>/dev/null &&
		    return 0
		sleep 0.1
	done
	return 1
}

# sshd on 127.0.0.1:$NS_PORT: the system's defaults plus the documented
# drop-in; only keyboard-interactive (through PAM) is offered.
ns_start_sshd()
{
	ssh-keygen -q -t ed25519 -N '' -f "$NS_W/hostkey" >/dev/null || return 1
	cat >"$NS_W/sshd_config" <<-EOF
	Port $NS_PORT
	ListenAddress 127.0.0.1
	HostKey $NS_W/hostkey
	PidFile $NS_W/sshd.pid
	PasswordAuthentication no
	PubkeyAuthentication no
	HostbasedAuthentication no
	AuthorizedKeysFile none
	PermitRootLogin no
	UseDNS no
	PrintMotd no
	PrintLastLog no
	LogLevel VERBOSE
	Include /etc/ssh/sshd_config.d/appuser.conf
	EOF
	/usr/sbin/sshd -t -f "$NS_W/sshd_config" || return 1
	/usr/sbin/sshd -D -f "$NS_W/sshd_config" -E "$NS_W/sshd.log" \
	    </dev/null >/dev/null 2>&1 &
	NS_SSHD_PID=$!
	ns_sshd_listening
	ns_ssh_config "$NS_PORT"
}

# ns_ssh_config [PORT]: $NS_W/ssh_config, the ssh client's configuration
# for ns_ssh (and make demo-fleet's logins): keyboard-interactive only (the
# Token: prompt), no host key checks, one try
ns_ssh_config()
{
	{
		echo "Host *"
		[ -z "$1" ] || echo "  Port $1"
		cat <<-EOF
		  PreferredAuthentications keyboard-interactive
		  PubkeyAuthentication no
		  PasswordAuthentication no
		  StrictHostKeyChecking no
		  UserKnownHostsFile /dev/null
		  LogLevel ERROR
		  NumberOfPasswordPrompts 1
		  ConnectTimeout 10
		EOF
	} >"$NS_W/ssh_config"
}

# ns_sudoers NAME [LINE...]: the drop-in /etc/sudoers.d/NAME (0440): one
# password try, no cached credentials, no lecture (a wrong token fails at
# once, every sudo asks), then each LINE
ns_sudoers()
{
	_sf=/etc/sudoers.d/$1; shift
	{
		echo 'Defaults passwd_tries=1, timestamp_timeout=0, !lecture'
		for _sl in "$@"; do echo "$_sl"; done
	} >"$_sf" && chmod 0440 "$_sf"
}

# ns_asks_password PWFILE OKNAME FAILNAME: a login of the local user
# e2e-local (pamtester sshd, answered from PWFILE) is prompted for a
# Password, not a Token: the test OKNAME, or FAILNAME with what it saw
ns_asks_password()
{
	_ap=$(pamtester sshd e2e-local authenticate <"$1" 2>&1)
	case $_ap in
	"Password: "*) ok "$2";;
	*) not_ok "$3" "$_ap";;
	esac
}

# run NAME CMD...: stdout in $O/NAME (and, without carriage returns, in
# $OUT), stderr in $O/NAME.err (its last lines in $ERR), the status in $RC.
# The caller sets $O, a directory.
run()
{
	_r=$1; shift
	"$@" >"$O/$_r" 2>"$O/$_r.err"
	RC=$?
	OUT=$(tr -d '\r' <"$O/$_r")
	ERR=$(tail -n 5 "$O/$_r.err")
}

# ns_mint FILE USER [OPTIONS]: a token for USER into the root-only
# $NS_W/secret/FILE, its public prefix in $PFX.  The token goes from
# appuser's stdout straight into the file, never through argv or a variable.
ns_mint()
{
	_f=$NS_W/secret/$1 _u=$2; shift 2
	(umask 077 && /usr/sbin/appuser token create "$_u" "$@" >"$_f") ||
	    return 1
	grep -qE '^apu_[0-9A-Za-z]{48}$' "$_f" || return 1
	PFX=$(cut -c1-16 "$_f")
}

# Store a secret in a root-only file; prints the file's name.  The secret
# arrives on stdin.
ns_secret_file()
{
	_f=$NS_W/secret/$1
	(umask 077 && cat >"$_f") || return 1
	echo "$_f"
}

# ns_ssh SECRETFILE USER CMD: log in over ssh as USER and run CMD (stdin is
# the caller's, for the remote command).  ssh asks $NS_W/askpass at every
# prompt: it answers with the file's first line and notes the prompt (never
# the answer) in $NS_W/prompts.
ns_ssh()
{
	NS_ASKPASS_FILE=$1 NS_ASKPASS_LOG=$NS_W/prompts \
	    SSH_ASKPASS=$NS_W/askpass SSH_ASKPASS_REQUIRE=force DISPLAY=none \
	    timeout 30 ssh -F "$NS_W/ssh_config" "$2@127.0.0.1" "$3"
}

# ns_sudo USER SECRETFILE CMD...: USER runs `sudo -S CMD`, the secret on
# stdin.  The user's groups come from NSS (initgroups), as at login.
ns_sudo()
{
	_u=$1 _sf=$2; shift 2
	setpriv --reuid="$(id -u "$_u")" --regid="$(id -g "$_u")" \
	    --init-groups --reset-env \
	    sudo -S -p 'sudo-prompt: ' "$@" <"$_sf"
}

# ns_su FROM TO SECRETFILE CMD: FROM runs `su - TO -c CMD` on a pty and
# types the secret when su prompts for it (su reads from the terminal).
ns_su()
{
	_from=$1 _to=$2 _sf=$3 _cmd=$4
	"$NS_PY" "$NS_LIBDIR/pty_answer.py" "$_sf" -- \
	    setpriv --reuid="$(id -u "$_from")" --regid="$(id -g "$_from")" \
	    --init-groups --reset-env su - "$_to" -c "$_cmd"
}

# Stop what we started (the pid namespace would, too, when we exit).
ns_stop()
{
	[ -n "$NS_SSHD_PID" ] && kill "$NS_SSHD_PID" 2>/dev/null
	[ -n "$NS_SYSLOG_PID" ] && kill "$NS_SYSLOG_PID" 2>/dev/null
	NS_SSHD_PID='' NS_SYSLOG_PID=''
}
