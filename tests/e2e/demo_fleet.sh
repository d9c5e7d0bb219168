#!/bin/sh
# `make demo-fleet`: one bot, one token, two hosts, for real.
#
# In private mount, pid and network namespaces (tests/e2e/nslib.sh):
# installs appuser as README.md says, starts a 3-member etcd with TLS and
# authentication (tests/etcd/lib.sh) and two hosts, each in network and
# mount namespaces of its own (its address on a veth link, its own store,
# fleet.conf with its own read-only etcd user, appuser-syncd and sshd).
# Creates a bot and its token once, in etcd; logs in to both hosts over ssh
# with that one token; revokes it centrally; shows both hosts refusing it,
# with how long the revocation took to reach them.  Nothing outside the
# namespaces changes.  Needs root.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/nslib.sh"

if [ "$APPUSER_NS_INNER" != 1 ]; then
	why=$(ns_supported)
	for c in etcd etcdctl openssl ip; do
		[ -n "$why" ] || command -v "$c" >/dev/null 2>&1 ||
		    [ -x "/usr/sbin/$c" ] || why="missing $c (make deps)"
	done
	if [ -n "$why" ]; then
		echo "make demo-fleet: cannot run here: $why" >&2
		exit 2
	fi
	for f in appuser appuser-syncd pam_appuser.so libnss_appuser.so.2; do
		[ -f "$NS_TOP/build/$f" ] && continue
		echo "make demo-fleet: build/$f is missing; run make" >&2
		exit 2
	done
	ns_run "$0"
	rc=$?
	echo
	if [ "$rc" = 0 ]; then
		echo "==> Done.  The namespaces are gone: nothing on this host changed."
	else
		echo "==> The demo stopped with an error (status $rc)."
	fi
	exit "$rc"
fi

# --- a host: its own network and mount namespace --------------------------------
# demo_fleet.sh --host NAME IFACE ADDR GATEWAY (started by the part below)
if [ "$1" = --host ]; then
	name=$2 ifc=$3 addr=$4 gw=$5 d=$NS_W/$2
	i=0
	while ! ip link show "$ifc" >/dev/null 2>&1 && [ $i -lt 200 ]; do
		sleep 0.05; i=$((i + 1))
	done
	ip link set lo up && ip addr add "$addr/24" dev "$ifc" &&
	    ip link set "$ifc" up && ip route add default via "$gw" ||
	    { echo "$name: network setup failed" >"$d/failed"; exit 1; }
	# this host's store and fleet configuration, in the usual places
	mount --bind "$d/store" /var/lib/appuser &&
	    mount --bind "$d/etc" /etc/appuser ||
	    { echo "$name: mounts failed" >"$d/failed"; exit 1; }
	ssh-keygen -q -t ed25519 -N '' -f "$d/hostkey" >/dev/null
	cat >"$d/sshd_config" <<-EOF
	ListenAddress $addr
	HostKey $d/hostkey
	PidFile $d/sshd.pid
	PasswordAuthentication no
	PubkeyAuthentication no
	AuthorizedKeysFile none
	PermitRootLogin no
	UseDNS no
	PrintMotd no
	PrintLastLog no
	Include /etc/ssh/sshd_config.d/appuser.conf
	EOF
	/usr/sbin/sshd -D -f "$d/sshd_config" -E "$d/sshd.log" </dev/null &
	# what the systemd unit runs
	/usr/sbin/appuser-syncd --fleet /etc/appuser/fleet.conf --stderr \
	    </dev/null >>"$d/syncd.log" 2>&1 &
	touch "$d/up"
	wait
	exit 0
fi

# --- narration helpers (as in demo.sh) ---------------------------------------------
BOLD='' DIM='' OFF=''
if [ -t 1 ]; then BOLD=$(printf '\033[1m') DIM=$(printf '\033[2m') OFF=$(printf '\033[0m'); fi
step() { echo; echo "${BOLD}==> $*${OFF}"; }
say() { printf '    %s\n' "$*"; }
cmd() { printf '    %s#%s %s\n' "$DIM" "$OFF" "$*"; }
indent() { sed 's/^/      /'; }
fail() { echo "demo-fleet: $*" >&2; exit 1; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }

ns_setup
. "$NS_TOP/tests/etcd/lib.sh"
HOSTS="web1 web2"
stop_all() {
	etcd_cleanup
	ns_stop
}
trap stop_all EXIT
# etcd's data on a tmpfs of ours too (each member preallocates a 64 MB log)
mkdir "$NS_W/etcd" && mount -t tmpfs -o mode=0700,size=1g appuser-etcd "$NS_W/etcd" ||
    fail "tmpfs for etcd"
ETCD_TMP=$NS_W/etcd
TOK=$NS_W/secret/deploy-bot.token

step "Private namespaces ready: /etc, /usr, /var are throw-away overlays here"
cmd "make install PREFIX=/usr; nsswitch.conf, pam-auth-update, the sshd drop-in (README)"
ns_install || fail "install failed"
say "installed: $(ls /usr/sbin/appuser /usr/sbin/appuser-syncd | tr '\n' ' ')"

step "Two hosts, web1 (10.99.1.2) and web2 (10.99.2.2), each in network and mount namespaces of its own"
# veth links: 10.99.N.1 here (where etcd listens), 10.99.N.2 in host N
n=0
for h in $HOSTS; do
	n=$((n + 1))
	ip link add "v$h" type veth peer name "e$h" &&
	    ip addr add "10.99.$n.1/24" dev "v$h" && ip link set "v$h" up ||
	    fail "veth for $h"
done
say "each host: its own address, store (/var/lib/appuser), /etc/appuser/fleet.conf, sshd and appuser-syncd"

step "A 3-member etcd cluster with TLS and authentication (here, for both hosts)"
ETCD_CLIENT_IPS="127.0.0.1 10.99.1.1 10.99.2.1"
etcd_cluster_start --tls --auth || fail "etcd did not start: $(tail -n 5 "$ETCD_DIR"/m*.out)"
trap stop_all EXIT
P=$ETCD_DIR/pki
say "members: $ETCD_ENDPOINTS (also on 10.99.1.1 and 10.99.2.1)"
say "client certificates without a CommonName; etcd users: root (the fleet admin),"
say "host1 and host2 (role reader: read-only on /appuser/)"
(umask 077; head -c 18 /dev/urandom | base64 >"$ETCD_DIR/host2.pw")
etcd_ctl user add host2 --new-user-password="$(cat "$ETCD_DIR/host2.pw")" >/dev/null &&
    etcd_ctl user grant-role host2 reader >/dev/null || fail "etcd user host2"
mkdir -p /etc/appuser
etcd_conf /etc/appuser/fleet-admin.conf root client
n=0
for h in $HOSTS; do
	n=$((n + 1)) d=$NS_W/$h
	mkdir -p "$d/store" "$d/etc" && chmod 0755 "$d" "$d/store" && chmod 0700 "$d/etc"
	port1=${ETCD_EP1##*:} port2=${ETCD_EP2##*:} port3=${ETCD_EP3##*:}
	cp "$ETCD_DIR/host$n.pw" "$d/etc/etcd.password"
	cat >"$d/etc/fleet.conf" <<-EOF
	endpoints = https://10.99.$n.1:$port1, https://10.99.$n.1:$port2, https://10.99.$n.1:$port3
	cacert = $P/ca.crt
	cert = $P/host1.crt
	key = $P/host1.key
	user = host$n
	password_file = /etc/appuser/etcd.password
	host = $h
	EOF
	chmod 0600 "$d/etc/fleet.conf" "$d/etc/etcd.password"
	unshare --net --mount --propagation private sh "$0" --host "$h" "e$h" \
	    "10.99.$n.2" "10.99.$n.1" &
	hpid=$!
	# move the link once the host has its own network namespace
	i=0
	while [ "$(readlink "/proc/$hpid/ns/net")" = "$(readlink /proc/self/ns/net)" ] &&
	    [ $i -lt 100 ]; do
		sleep 0.05; i=$((i + 1))
	done
	ip link set "e$h" netns "$hpid" || fail "move e$h into $h"
	eval "PID_$h=$hpid"
	i=0
	while [ ! -e "$d/up" ] && [ ! -e "$d/failed" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
	[ -e "$d/up" ] || fail "$h did not come up: $(cat "$d/failed" 2>/dev/null)"
done
cmd "cat /etc/appuser/fleet.conf                  (on web1)"
indent <"$NS_W/web1/etc/fleet.conf"

step "Creating the bot and its token once, in etcd"
A() { appuser --fleet /etc/appuser/fleet-admin.conf "$@"; }
cmd "appuser --fleet /etc/appuser/fleet-admin.conf create deploy-bot --description \"deploy pipeline\" --home /home/deploy-bot"
A create deploy-bot --description "deploy pipeline" --home /home/deploy-bot 2>&1 | indent
uid=$(A --json show deploy-bot | sed -n 's/.*"uid": \([0-9]*\).*/\1/p')
cmd "install -d -o deploy-bot -g deploy-bot -m 0750 /home/deploy-bot     (on each host)"
install -d -o "$uid" -g "$uid" -m 0750 /home/deploy-bot || fail "home"
cmd "(umask 077; appuser --fleet /etc/appuser/fleet-admin.conf token create deploy-bot --max-age 30d > token)"
(umask 077 && A token create deploy-bot --max-age 30d >"$TOK") 2>&1 | indent
[ -s "$TOK" ] || fail "token create"
PFX=$(cut -c1-16 "$TOK")
say "token: $PFX... (only its hash is in etcd)"

# revoked_on HOST: does HOST's store say the token is revoked?
revoked_on() {
	appuser --store "$NS_W/$1/store" --json token list deploy-bot 2>/dev/null |
	    grep -A16 "\"$PFX\"" | grep -q '"revoked": true'
}
has_user() { appuser --store "$NS_W/$1/store" show deploy-bot >/dev/null 2>&1; }
i=0
while ! { has_user web1 && has_user web2; } && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
# on_host HOST CMD...: CMD in HOST's namespaces
on_host() { _h=$1; shift; eval "nsenter -t \$PID_$_h -m -n \"\$@\""; }
for h in $HOSTS; do
	cmd "appuser fleet status                        (on $h)"
	on_host "$h" appuser fleet status 2>&1 | indent
done

# ssh to a host, answering the Token: prompt from the token file
ns_ssh_config
login() {
	NS_ASKPASS_FILE=$TOK NS_ASKPASS_LOG=$NS_W/prompts \
	    SSH_ASKPASS=$NS_W/askpass SSH_ASKPASS_REQUIRE=force DISPLAY=none \
	    timeout 30 ssh -F "$NS_W/ssh_config" "deploy-bot@$1" \
	    'echo "$(hostname -I | cut -d" " -f1): $(id)"' </dev/null 2>&1
}

step "Logging in to both hosts over ssh with that one token"
for a in 10.99.1.2 10.99.2.2; do
	cmd "ssh deploy-bot@$a id                      (Token: answered with the token)"
	login "$a" | indent
done

step "Revoking the token centrally"
cmd "appuser --fleet /etc/appuser/fleet-admin.conf token revoke deploy-bot $PFX"
t0=$(now_ms)
A token revoke deploy-bot "$PFX" 2>&1 | indent
t1=$(now_ms)
left=$HOSTS seen=''
while [ -n "$left" ] && [ $(($(now_ms) - t1)) -lt 10000 ]; do
	still=''
	for h in $left; do
		if revoked_on "$h"; then seen="$seen $h:$(($(now_ms) - t1))"
		else still="$still $h"; fi
	done
	left=$still
done
[ -z "$left" ] || fail "still not revoked on:$left"
say "the command took $((t1 - t0)) ms (it connects and authenticates to etcd);"
say "after it returned, the hosts' stores had the revocation within (ms):$seen"
say "(polled from here, each host's store in turn: an upper bound)"

step "Both hosts refuse the token now"
for a in 10.99.1.2 10.99.2.2; do
	cmd "ssh deploy-bot@$a id"
	login "$a" | indent
done
say "what pam_appuser logged on the hosts (prefixes only, never a secret):"
grep -h 'pam_appuser' "$NS_SYSLOG" | grep -E 'accepted|refused' |
    sed -E 's/^<[0-9]+>//; s/^/      /'
if grep -qF -f "$TOK" "$NS_SYSLOG" "$NS_W"/web*/sshd.log "$NS_W"/web*/syncd.log; then
	fail "a token reached the logs"
fi
exit 0
