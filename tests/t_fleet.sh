#!/bin/sh
# The fleet for real: a 3-member etcd cluster with TLS and auth on free
# loopback ports (tests/etcd/lib.sh), five simulated hosts (a store
# directory and an appuser-syncd each, every host its own etcd user with a
# read-only role), and `appuser --fleet` as the administrator.  Runs in a
# private mount namespace where /etc/nsswitch.conf ("files appuser") and
# /etc/pam.d are ours, so getent and pamtester check each host's store as
# sshd would; host 5 also sees its own /etc/passwd with a host account named
# like a fleet user.  The host's files are never touched.
#
# Scenarios: create, token create and revoke reach every host (revocation
# latency measured and printed); logins and lookups need no network; local
# writes refused on a following store except token revoke, which stays in
# force across syncs; a colliding user skipped and listed; an agent killed
# (-9) and restarted resumes from its recorded revision, also when killed
# many times mid-batch; a stopped agent comes back after a compaction with
# a full resync; a user deleted and created again with a new uid; the etcd
# leader killed during a loop of changes, then a follower; every member
# stopped: hosts keep admitting, writes fail with exit 2, hosts catch up
# from their recorded revision; adding an etcd user (stale auth tokens);
# the hosts' etcd users cannot write; no token secret in etcd's data; fleet
# status; audit and metrics over the fleet, token rotate with a grace and
# with --grace 0.  Every host ends identical to the fleet (and passes
# appuser check).
. "$(dirname "$0")/lib.sh"

if [ "$1" != --inner ]; then
	. "$TOP/tests/etcd/lib.sh"
	why=
	is_root || why="needs root (a private mount namespace over /etc/nsswitch.conf and /etc/pam.d)"
	[ -n "$why" ] || etcd_available ||
	    why="etcd and etcdctl are not installed (make deps: etcd-server etcd-client)"
	for c in pamtester unshare mount python3 openssl getent; do
		[ -n "$why" ] || command -v "$c" >/dev/null 2>&1 ||
		    why="missing $c (make deps)"
	done
	for f in "$APPUSER" "$B/appuser-syncd" "$B/pam_appuser.so" \
	    "$B/test-nss/libnss_appuser.so.2"; do
		[ -n "$why" ] || [ -f "$f" ] || why="$f not built (make)"
	done
	[ -n "$why" ] || unshare -m true 2>/dev/null ||
	    why="unshare -m not available here"
	if [ -n "$why" ]; then
		skip "a fleet of 5 hosts over a 3-member etcd" "$why"
		done_testing
		exit 0
	fi
	exec unshare --mount --propagation private sh "$0" --inner
fi

# --- inside the private mount namespace -------------------------------------
. "$TOP/tests/etcd/lib.sh"
SYNCD=$B/appuser-syncd
MOD=$B/pam_appuser.so
HOSTS="1 2 3 4 5"
T=$(mktemp -d /tmp/appuser-t-fleet.XXXXXX) || exit 2
mkdir -m 0700 "$T/secret"
AGENTS=""
# T_FLEET_KEEP=DIR keeps the agents' logs there
cleanup() {
	for _p in $AGENTS; do kill -9 "$_p" 2>/dev/null; done
	for _p in $AGENTS; do wait "$_p" 2>/dev/null; done
	[ -n "$T_FLEET_KEEP" ] && cp "$T"/h*.log "$T_FLEET_KEEP"/ 2>/dev/null
	etcd_cleanup
	rm -rf "$T"
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT TERM
die() {
	not_ok "setup: $1" "$2"
	for _h in $HOSTS; do tail -n 5 "$T/h$_h.log" 2>/dev/null | sed "s/^/# h$_h: /"; done
	done_testing; exit 1
}
now_ms() { echo $(($(date +%s%N) / 1000000)); }

[ "$(readlink /proc/self/ns/mnt)" != "$(readlink /proc/1/ns/mnt)" ] ||
    die "private mount namespace" "not in one"
cat >"$T/nsswitch.conf" <<'EOF'
passwd:         files appuser
group:          files appuser
shadow:         files
gshadow:        files
hosts:          files
EOF
mkdir "$T/pam.d"
for h in $HOSTS; do
	printf 'auth required %s store=%s\naccount required %s store=%s\n' \
	    "$MOD" "$T/h$h" "$MOD" "$T/h$h" >"$T/pam.d/t-h$h"
done
printf 'auth required pam_deny.so\naccount required pam_deny.so\n' \
    >"$T/pam.d/other"
mount --bind "$T/nsswitch.conf" /etc/nsswitch.conf || die "bind nsswitch.conf"
mount --bind "$T/pam.d" /etc/pam.d || die "bind /etc/pam.d"
# the agents log to syslog too: keep that off the host's log
[ -S /dev/log ] && { mount --bind /dev/null /dev/log || die "bind /dev/log"; }
# host 5 has an account of its own that a fleet user will collide with
cp /etc/passwd "$T/passwd.h5" &&
    echo "clash:x:4242:4242:host 5 account:/nonexistent:/usr/sbin/nologin" \
    >>"$T/passwd.h5" || die "passwd.h5"

# make check SANITIZE=1: programs not built with ASan (getent, pamtester)
# load our ASan modules, so they get the ASan runtime first
SANENV=
[ -n "$SAN_PRELOAD" ] &&
    SANENV="LD_PRELOAD=$SAN_PRELOAD ASAN_OPTIONS=detect_leaks=0"
# on_host N COMMAND...: COMMAND as on host N (its store for NSS and PAM)
on_host() {
	_h=$1; shift
	# shellcheck disable=SC2086
	if [ "$_h" = 5 ]; then
		env APPUSER_STORE="$T/h5" LD_LIBRARY_PATH="$B/test-nss" $SANENV \
		    unshare -m --propagation private sh -c \
		    'mount --bind "$0" /etc/passwd && exec "$@"' \
		    "$T/passwd.h5" "$@"
	else
		env APPUSER_STORE="$T/h$_h" LD_LIBRARY_PATH="$B/test-nss" $SANENV "$@"
	fi
}
# login N TOKENFILE [USER]: pamtester on host N; 0 if admitted
login() {
	on_host "$1" pamtester "t-h$1" "${3:-bot}" authenticate \
	    <"$2" >"$T/pt.out" 2>&1
}
# admitted_on TOKENFILE USER HOSTS...: the hosts (of HOSTS) that admit it
admitted_on() {
	_f=$1 _u=$2; shift 2
	_got=
	for _h; do login "$_h" "$_f" "$_u" && _got="$_got $_h"; done
	echo "${_got# }"
}
uid_on() { on_host "$1" getent passwd "$2" | cut -d: -f3; }

A() { "$APPUSER" --fleet "$T/admin.conf" "$@"; }
status_of() { "$APPUSER" --store "$T/h$1" fleet status --json; }
status_of_dir() { "$APPUSER" --store "$1" fleet status --json; }
# json_get a.0.b: that field of the JSON on stdin ("" if absent or no JSON)
json_get() { python3 -c 'import json,sys
try: v = json.load(sys.stdin)
except ValueError: v = None
for k in sys.argv[1].split("."):
    try: v = v[int(k)] if isinstance(v, list) else v.get(k)
    except (AttributeError, IndexError): v = None
print("" if v is None else json.dumps(v) if isinstance(v, (list, dict)) else v)' "$1"; }
rev_of() { status_of "$1" 2>/dev/null | json_get revision; }
# the fleet's current revision (etcd's, any member that answers)
frev() {
	etcd_ctl get /appuser/meta -w json 2>/dev/null |
	    json_get header.revision
}
# wait_rev REV SECONDS HOSTS...: every host applied REV
wait_rev() {
	_want=$1 _until=$(($(date +%s) + $2)); shift 2
	while :; do
		_lag=
		for _h; do
			_r=$(rev_of "$_h")
			[ "${_r:-0}" -ge "$_want" ] || _lag="$_lag h$_h@${_r:-none}"
		done
		[ -z "$_lag" ] && return 0
		[ "$(date +%s)" -ge "$_until" ] && { echo "behind $_want:$_lag"; return 1; }
		sleep 0.05
	done
}
# settled NAME HOSTS...: every host reaches the fleet's revision
settled() {
	_name=$1; shift
	_fr=$(frev)
	if _o=$(wait_rev "${_fr:-999999999}" 20 "$@"); then ok "$_name (revision $_fr)"
	else not_ok "$_name" "$_o"; fi
}

# same_as_fleet HOST [skip=NAME] [lrevoked=PREFIX]: the host's users and
# tokens are exactly the fleet's, but for a user skipped there and tokens
# revoked there
fleet_dump() {
	A list --json >"$T/fleet.users" && A token list --json >"$T/fleet.tokens"
}
same_as_fleet() {
	_h=$1; shift
	"$APPUSER" --store "$T/h$_h" list --json >"$T/host.users" &&
	"$APPUSER" --store "$T/h$_h" token list --json >"$T/host.tokens" ||
	    { not_ok "h$_h: list its store"; return; }
	if _d=$(python3 - "$T" "$@" <<'EOF'
import json, sys
t = sys.argv[1]
skip = [a[5:] for a in sys.argv[2:] if a.startswith("skip=")]
lrev = [a[9:] for a in sys.argv[2:] if a.startswith("lrevoked=")]
def load(n): return json.load(open(t + "/" + n))
def users(v): return sorted((u["name"], u["uid"], u["gid"], u["admin"],
    u["description"]) for u in v if u["name"] not in skip)
def tokens(v): return sorted((k["prefix"], k["user"], k["revoked"] or
    k["prefix"] in lrev, k["expiry_time"]) for k in v if k["user"] not in skip)
fu, hu = users(load("fleet.users")), users(load("host.users"))
ft, ht = tokens(load("fleet.tokens")), tokens(load("host.tokens"))
out = []
if fu != hu: out.append("users: fleet only %s, host only %s" % (
    sorted(set(fu) - set(hu))[:5], sorted(set(hu) - set(fu))[:5]))
if ft != ht: out.append("tokens: fleet only %s, host only %s" % (
    sorted(set(ft) - set(ht))[:5], sorted(set(ht) - set(ft))[:5]))
if len(set(u[1] for u in hu)) != len(hu): out.append("a uid twice")
print("; ".join(out) or "%d users, %d tokens" % (len(hu), len(ht)))
sys.exit(1 if out else 0)
EOF
	); then ok "h$_h is identical to the fleet ($_d)"
	else not_ok "h$_h is identical to the fleet" "$_d"; fi
}
store_ok() {
	if _o=$("$APPUSER" --store "$T/h$1" check 2>&1); then ok "h$1: appuser check: $_o"
	else not_ok "h$1: appuser check" "$_o"; fi
}
# full_loads N: how many full loads host N's agent has done so far
full_loads() { grep -c "full load of" "$T/h$1.log"; }

# start_agent N: appuser-syncd for host N, in the background (its own
# process, not a subshell's child, so that its pid is $!)
start_agent() {
	# shellcheck disable=SC2086
	if [ "$1" = 5 ]; then
		env APPUSER_STORE="$T/h5" LD_LIBRARY_PATH="$B/test-nss" $SANENV \
		    unshare -m --propagation private sh -c \
		    'mount --bind "$0" /etc/passwd && exec "$@"' "$T/passwd.h5" \
		    "$SYNCD" --fleet "$T/h5.conf" --store "$T/h5" --stderr \
		    >>"$T/h5.log" 2>&1 &
	else
		env APPUSER_STORE="$T/h$1" LD_LIBRARY_PATH="$B/test-nss" $SANENV \
		    "$SYNCD" --fleet "$T/h$1.conf" --store "$T/h$1" --stderr \
		    >>"$T/h$1.log" 2>&1 &
	fi
	eval "AGENT$1=$!"
	AGENTS="$AGENTS $!"
}
# stop_agent N [SIGNAL]
stop_agent() {
	eval "_p=\$AGENT$1"
	[ -n "$_p" ] || return 0
	kill "-${2:-TERM}" "$_p" 2>/dev/null
	wait "$_p" 2>/dev/null
	eval "AGENT$1="
}

# --- the cluster, its users, the configs --------------------------------------
start=$(date +%s)
etcd_cluster_start --tls --auth ||
    die "a 3-member etcd with TLS and auth starts" "$(tail -n 20 "$ETCD_DIR"/m*.out "$ETCD_DIR"/auth.log 2>&1)"
# etcd_cluster_start set its own EXIT trap: ours stops the agents too
trap cleanup EXIT
trap 'cleanup; exit 130' INT TERM
ok "a 3-member etcd cluster with TLS (client certificates) and auth"
P=$ETCD_DIR/pki
# host1 comes with the cluster (role reader: read only on /appuser/)
for h in 2 3 4 5; do
	(umask 077; head -c 18 /dev/urandom | base64 >"$ETCD_DIR/host$h.pw") &&
	etcd_ctl user add "host$h" --new-user-password="$(cat "$ETCD_DIR/host$h.pw")" >/dev/null &&
	etcd_ctl user grant-role "host$h" reader >/dev/null ||
	    die "etcd user host$h"
done
# conf FILE USER PASSWORDFILE CERT HOST
conf() {
	cat >"$1" <<EOF
# made by tests/t_fleet.sh
endpoints = $ETCD_ENDPOINTS
cacert = $P/ca.crt
cert = $P/$4.crt
key = $P/$4.key
user = $2
password_file = $3
host = $5
EOF
	chmod 0600 "$1"
}
conf "$T/admin.conf" root "$ETCD_DIR/root.pw" client admin
for h in $HOSTS 6; do
	conf "$T/h$h.conf" "host$(( h > 5 ? 1 : h ))" \
	    "$ETCD_DIR/host$(( h > 5 ? 1 : h )).pw" host1 "h$h"
	mkdir -m 0700 "$T/h$h"
done

# --- five agents on an empty fleet ------------------------------------------
for h in $HOSTS; do start_agent "$h"; done
for h in $HOSTS; do
	i=0
	while [ -z "$(rev_of "$h")" ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
done
settled "five agents load the (empty) fleet" $HOSTS

# --- create a user and a token centrally --------------------------------------
t0=$(now_ms)
if A create bot --description "deploy bot" >"$T/out" 2>&1 &&
    (umask 077; A token create bot >"$T/secret/bot1" 2>"$T/err"); then
	ok "appuser --fleet create bot; token create bot"
else
	die "create bot and a token in the fleet" "$(cat "$T/out" "$T/err")"
fi
settled "every host applied them" $HOSTS
t1=$(now_ms)
echo "# create + token create reached 5 hosts $((t1 - t0)) ms after the create began"
FUID=$(A show bot --json | json_get uid)
uids=
for h in $HOSTS; do uids="$uids $(uid_on "$h" bot)"; done
if [ "$uids" = " $FUID $FUID $FUID $FUID $FUID" ]; then
	ok "getent passwd bot: uid $FUID on every host"
else
	not_ok "getent passwd bot: the same uid on every host" "fleet $FUID, hosts:$uids"
fi
got=$(admitted_on "$T/secret/bot1" bot $HOSTS)
if [ "$got" = "1 2 3 4 5" ]; then ok "pamtester: every host admits bot's token"
else not_ok "pamtester: every host admits bot's token" "admitted on: $got; $(cat "$T/pt.out")"; fi

# --- logins never touch the network -------------------------------------------
got=
for h in $HOSTS; do
	on_host "$h" unshare -n sh -c "pamtester t-h$h bot authenticate <'$T/secret/bot1' >/dev/null 2>&1 &&
	    getent passwd bot >/dev/null" && got="$got $h"
done
if [ "$got" = " 1 2 3 4 5" ]; then
	ok "in a network namespace without any network: every host admits and resolves bot"
else
	not_ok "logins without a network" "worked on:$got"
fi

# --- a user colliding with a host account ---------------------------------------
A create clash >/dev/null 2>&1 || not_ok "create clash in the fleet"
(umask 077; A token create clash >"$T/secret/clash" 2>/dev/null)
settled "clash applied (or skipped) everywhere" $HOSTS
h5uid=$(uid_on 5 clash) h1uid=$(uid_on 1 clash)
if [ "$h5uid" = 4242 ] && [ -n "$h1uid" ] && [ "$h1uid" != 4242 ]; then
	ok "h5 keeps its own account clash (4242); h1 has the fleet's ($h1uid)"
else
	not_ok "clash: the host account wins on h5" "h5 $h5uid, h1 $h1uid"
fi
sk=$(status_of 5 | json_get skipped.0.name):$(status_of 5 | json_get skipped.0.reason)
has "fleet status --json on h5 lists clash as skipped, with the reason" \
    "^clash:name 'clash' is already used on this host by a user" "$sk"
"$APPUSER" --store "$T/h5" fleet status >"$T/out" 2>&1
has "fleet status on h5 says why" "clash: name 'clash' is already used on this host by a user" "$(cat "$T/out")"
got=$(admitted_on "$T/secret/clash" clash 1 5)
[ "$got" = 1 ] && ok "clash's token admitted on h1, not on h5" ||
    not_ok "clash's token admitted on h1 only" "admitted on: $got"
"$APPUSER" --store "$T/h1" fleet status --json | json_get skipped >"$T/out"
has "h1 skipped nobody" '^\[\]$' "$(cat "$T/out")"

# --- local writes on a following store ------------------------------------------
for cmd in "create x" "delete bot" "admin grant bot" "token create bot" \
    "config set uid-range 2000000000-2000099999"; do
	# shellcheck disable=SC2086
	rc 1 "local '$cmd' on h1 is refused (exit 1)" "$APPUSER" --store "$T/h1" $cmd
	has "... naming the fleet config" "follows the fleet configured in $T/h1.conf" "$err"
done
echo '{"name":"imp"}' >"$T/imp.jsonl"
rc 1 "local import on h1 is refused" "$APPUSER" --store "$T/h1" import "$T/imp.jsonl"

# --- an emergency local revocation stays in force -------------------------------
(umask 077; A token create bot >"$T/secret/bot2" 2>/dev/null) || not_ok "token bot2"
P2=$(cut -c1-16 "$T/secret/bot2")
settled "token bot2 everywhere" $HOSTS
rc 0 "local 'token revoke bot $P2' on h2 is allowed" "$APPUSER" --store "$T/h2" token revoke bot "$P2"
got=$(admitted_on "$T/secret/bot2" bot $HOSTS)
[ "$got" = "1 3 4 5" ] && ok "bot2 refused on h2 only" ||
    not_ok "bot2 refused on h2 only" "admitted on: $got"

# --- revocation: how long until every host refuses --------------------------
# revoke_timed TOKENFILE: revokes it centrally, polls every host with
# pamtester; prints ms from the revoke command's start and its return
# until every host refused
revoke_timed() {
	_pfx=$(cut -c1-16 "$1")
	_t0=$(now_ms)
	A token revoke bot "$_pfx" >/dev/null 2>"$T/err" || { echo "revoke failed: $(cat "$T/err")"; return 1; }
	_t1=$(now_ms)
	_left="$HOSTS"
	while [ -n "$_left" ]; do
		_still=
		for _h in $_left; do login "$_h" "$1" && _still="$_still $_h"; done
		_left=$_still
		[ $(($(now_ms) - _t1)) -gt 10000 ] && { echo "still admitted after 10 s on:$_left"; return 1; }
	done
	_t2=$(now_ms)
	echo "$((_t2 - _t0)) $((_t2 - _t1))"
}
lat=
for i in 1 2 3 4 5; do
	(umask 077; A token create bot >"$T/secret/rev$i" 2>/dev/null)
	wait_rev "$(frev)" 20 $HOSTS >/dev/null || not_ok "token rev$i everywhere"
	got=$(admitted_on "$T/secret/rev$i" bot $HOSTS)
	[ "$got" = "1 2 3 4 5" ] || not_ok "rev$i admitted everywhere first" "$got"
	if r=$(revoke_timed "$T/secret/rev$i"); then lat="$lat $r"
	else not_ok "revocation $i reaches every host" "$r"; fi
done
# pairs "from-start from-return" (ms)
set -- $lat
worst=0 all='' alls=''
while [ $# -ge 2 ]; do
	alls="$alls $1" all="$all $2"
	[ "$2" -gt "$worst" ] && worst=$2
	shift 2
done
echo "# revocation, ms until all 5 hosts refuse (pamtester), from 'appuser --fleet token revoke' returning:$all (worst $worst); from its start (it authenticates to etcd first):$alls"
if [ "$worst" -le 2000 ]; then ok "5 revocations reached all 5 hosts within ${worst} ms (goal: about a second)"
else not_ok "revocations reach every host within 2 s" "took:$all ms"; fi

# --- audit, metrics and token rotate with --fleet -------------------------------
A create audmin >/dev/null 2>&1 && A admin grant audmin >/dev/null 2>&1 &&
    (umask 077; A token create audmin >"$T/secret/audmin" 2>/dev/null) ||
    not_ok "plant an admin with an unrestricted token"
AP=$(cut -c1-16 "$T/secret/audmin")
rc 1 "audit --fleet: a finding at or above medium, exit 1" A audit
has "... admin-token-unrestricted for audmin's token, high" \
    "^high admin-token-unrestricted audmin $AP " "$out"
hasnt "... no token-unused (the fleet keeps no last use)" "token-unused" "$out"
has "... and it says why" "token-unused is not checked with --fleet" "$err"
rc 1 "audit --fleet --json --fail-on high: exit 1" A audit --json --fail-on high
got=$(printf '%s' "$out" | python3 -c 'import json,sys
print(" ".join(f["severity"] + ":" + f["user"] for f in json.load(sys.stdin)
    if f["code"] == "admin-token-unrestricted"))')
is "... the JSON names it (severity high, user audmin)" "high:audmin" "$got"
A metrics >"$T/metrics" 2>"$T/err"; mrc=$?
bad=$(python3 -c 'import re,sys
n = 0
for l in open(sys.argv[1]):
    l = l.rstrip("\n")
    if l.startswith("#"):
        continue
    if not re.fullmatch(r"[a-z_]+(\{[a-z_]+=\"[^\"]*\"(,[a-z_]+=\"[^\"]*\")*\})? [0-9]+", l):
        print("bad line: " + l); sys.exit(0)
    n += 1
print("" if n else "no samples")' "$T/metrics")
[ "$mrc" = 0 ] && [ -z "$bad" ] && ok "metrics --fleet: exit 0, Prometheus text that parses" ||
    not_ok "metrics --fleet parses" "exit $mrc; $bad; $(cat "$T/err")"
has "... counts the fleet's admins" '^appuser_admins [1-9]' "$(cat "$T/metrics")"
has "... an expiry-less token of audmin listed by creation time" \
    "^appuser_token_created_timestamp_seconds\\{user=\"audmin\",prefix=\"$AP\"\\}" "$(cat "$T/metrics")"
hasnt "... no last-use metric (kept on each host)" "last_used" "$(cat "$T/metrics")"

# rotate with a short grace: the new token at once, the old one until then
(umask 077; A token create bot --max-age 30d >"$T/secret/rot0" 2>/dev/null) || not_ok "token rot0"
R0=$(cut -c1-16 "$T/secret/rot0")
tg=$(date +%s)
(umask 077; A token rotate bot "$R0" --grace 3s >"$T/secret/rot1" 2>"$T/err") &&
    ok "token rotate --fleet bot $R0 --grace 3s" ||
    not_ok "token rotate --fleet --grace 3s" "$(cat "$T/err")"
has "... says the old one works for the grace" "to replace $R0, which works until" "$(cat "$T/err")"
settled "the rotation everywhere" $HOSTS
got=$(admitted_on "$T/secret/rot1" bot $HOSTS)
is "the new token is admitted on every host" "1 2 3 4 5" "$got"
got=$(admitted_on "$T/secret/rot0" bot $HOSTS)
[ $(($(date +%s) - tg)) -lt 3 ] && is "the old token too, during its grace" "1 2 3 4 5" "$got"
R1=$(cut -c1-16 "$T/secret/rot1")
A token list bot --json >"$T/out"
is "the new token keeps the old one's maximum age" 2592000 \
    "$(python3 -c 'import json,sys
print([t["max_age_seconds"] for t in json.load(open(sys.argv[1]))
    if t["prefix"] == sys.argv[2]][0])' "$T/out" "$R1" 2>&1)"
while [ $(($(date +%s) - tg)) -lt 5 ]; do sleep 0.2; done
got=$(admitted_on "$T/secret/rot0" bot $HOSTS)
is "after the grace the old token is refused on every host" "" "$got"
rc 1 "rotating the expired one is refused" A token rotate bot "$R0"
has "... saying it is expired" "token $R0 of bot is expired" "$err"
# --grace 0: revoked in the same txn
(umask 077; A token rotate bot "$R1" --grace 0 >"$T/secret/rot2" 2>"$T/err") &&
    ok "token rotate --fleet bot $R1 --grace 0" ||
    not_ok "token rotate --fleet --grace 0" "$(cat "$T/err")"
settled "the second rotation everywhere" $HOSTS
got=$(admitted_on "$T/secret/rot2" bot $HOSTS)
is "the newest token is admitted on every host" "1 2 3 4 5" "$got"
got=$(admitted_on "$T/secret/rot1" bot $HOSTS)
is "the one rotated with --grace 0 is refused on every host" "" "$got"
rc 1 "rotating a revoked token is refused" A token rotate bot "$R1"
has "... saying it is revoked" "token $R1 of bot is revoked" "$err"
rc 1 "rotating another user's token is refused" A token rotate clash "$(cut -c1-16 "$T/secret/rot2")"
has "... as not found for that user" "clash has no token" "$err"
rc 1 "local token rotate on h1 is refused" "$APPUSER" --store "$T/h1" token rotate bot "$(cut -c1-16 "$T/secret/rot2")"
has "... pointing at --fleet, which does rotate" "appuser --fleet $T/h1.conf token rotate" "$err"
hasnt "--fleet token rotate is not refused as unsupported" "does not act on a fleet" "$(cat "$T/err")"

# --- an agent killed (-9) and restarted resumes from its recorded revision ----
rev3=$(rev_of 3)
stop_agent 3 KILL
A create while3 >/dev/null 2>&1
A admin grant bot >/dev/null 2>&1
loads=$(full_loads 3)
start_agent 3
settled "h3 killed -9, changes made, restarted: caught up" $HOSTS
if [ "$(full_loads 3)" = "$loads" ] &&
    grep -q "from revision $rev3\$" "$T/h3.log"; then
	ok "h3 resumed from its recorded revision $rev3 (no full load)"
else
	not_ok "h3 resumed from its recorded revision $rev3" "$(tail -n 5 "$T/h3.log")"
fi
fleet_dump
same_as_fleet 3

# --- a user deleted and created again (new uid) while an agent was away -------
stop_agent 4
A create phoenix >/dev/null 2>&1
settled "phoenix on the running hosts" 1 2 3 5
old=$(A show phoenix --json | json_get uid)
wait_rev "$(frev)" 20 1 >/dev/null
A delete phoenix >/dev/null 2>&1 && A create phoenix >/dev/null 2>&1 ||
    not_ok "delete and create phoenix again"
new=$(A show phoenix --json | json_get uid)
start_agent 4
settled "h4 back" $HOSTS
got1=$(uid_on 1 phoenix) got4=$(uid_on 4 phoenix)
if [ "$old" != "$new" ] && [ "$got1" = "$new" ] && [ "$got4" = "$new" ]; then
	ok "phoenix deleted and created again: its new uid $new on h1 (live) and h4 (catching up), never skipped"
else
	not_ok "phoenix has its new uid everywhere" "old $old new $new h1 $got1 h4 $got4; $(status_of 4)"
fi

# --- kill -9 an agent inside its local transactions, many times -------------
# An agent holds the store's lock (STORE/lock) for exactly one local
# transaction: a catch-up batch or a full load (an idle agent never takes
# it).  kill_in_txn starts h4's agent, waits until it holds the lock, and
# kills it (-9) there; after each kill the store must pass appuser check.
# 0: killed inside a transaction; 1: it held no lock for 3 s (caught up).
# Is the store's writer lock free?  The writer takes a POSIX lock on the
# whole file (flock(1) would not see it); /proc/locks shows it, with the
# file's inode, at the cost of one grep (the window is milliseconds).
lock_free() {
	! grep -q ":$(stat -c %i "$1") " /proc/locks
}
kill_in_txn() {
	start_agent 4
	sleep 0.1	# past reading its recorded revision
	_until=$(($(now_ms) + 3000))
	while [ "$(now_ms)" -lt "$_until" ]; do
		lock_free "$T/h4/lock" && continue
		stop_agent 4 KILL
		"$APPUSER" --store "$T/h4" check >"$T/check.out" 2>&1 ||
		    not_ok "h4 killed inside a transaction: appuser check" "$(cat "$T/check.out")"
		return 0
	done
	stop_agent 4 KILL
	return 1
}
imports() {
	python3 -c '
import sys
for i in range(int(sys.argv[1]), int(sys.argv[2])):
    print("{\"name\": \"imp%03d\", \"description\": \"imported %d\"}" % (i, i))
' "$1" "$2" >"$T/imp.jsonl"
	# (a third argument: report only a failure)
	if A import "$T/imp.jsonl" >"$T/import.out" 2>&1; then
		[ -n "$3" ] || ok "appuser --fleet import of $(($2 - $1)) users (h4 away)"
	else
		not_ok "appuser --fleet import" "$(cat "$T/import.out")"
	fi
}
stop_agent 4
imports 0 400
kills=0
while [ $kills -lt 12 ] && kill_in_txn; do kills=$((kills + 1)); done
# a loaded machine can let the agent apply everything before the first
# try: then more users while it is away (2 more rounds at most)
for more in 1000 1400; do
	[ $kills -ge 3 ] && break
	imports $more $((more + 400)) quiet
	while [ $kills -lt 12 ] && kill_in_txn; do kills=$((kills + 1)); done
done
[ $kills -ge 3 ] && ok "h4 killed -9 inside a catch-up batch $kills times" ||
    not_ok "h4 killed inside catch-up batches" "only $kills times"
# and inside a full load: h4 away over a compaction.  A kill counts when
# no full load had completed by then (none logged, and the store still
# records a revision before the compaction): the agent was still inside
# one.  A full load is quick, so one may complete between two tries; then
# h4 is away over another compaction (3 rounds at most).
kills=0 round=0 loads=$(full_loads 4)
while [ $kills -lt 4 ] && [ $round -lt 3 ]; do
	from=$((400 + 100 * round)) round=$((round + 1))
	imports $from $((from + 100)) $([ $round = 1 ] || echo quiet)
	crev=$(frev)
	etcd_compact "$crev" || not_ok "etcdctl compact"
	rl=$(full_loads 4)
	while [ $kills -lt 4 ] && [ "$(full_loads 4)" = "$rl" ] && kill_in_txn; do
		[ "$(full_loads 4)" = "$rl" ] && [ "$(rev_of 4)" -lt "$crev" ] &&
		    kills=$((kills + 1))
	done
done
[ $kills -ge 2 ] &&
    ok "h4 killed -9 inside a full load $kills times (before any completed)" ||
    not_ok "h4 killed inside full loads" "$kills times in $round rounds; full loads $loads -> $(full_loads 4)"
# A kill can land after a full load committed but before the agent logged
# it (the lock is released after the commit): then the store already
# records a revision past the compaction and no log line says so.
rev4=$(rev_of 4)
start_agent 4
settled "h4 then left alone catches up" $HOSTS
if [ "$(full_loads 4)" -gt "$loads" ]; then
	ok "... with a full load"
elif [ -n "$rev4" ] && [ "$rev4" -ge "$crev" ]; then
	ok "... with a full load (the last one killed had committed, at revision $rev4)"
else
	not_ok "h4 finished with a full load" "recorded revision ${rev4:-none} before restart, compacted at $crev"
fi
store_ok 4
fleet_dump
same_as_fleet 4

# --- a stopped agent, compaction, full resync ------------------------------------
stop_agent 2
A delete while3 >/dev/null 2>&1
A create after2 >/dev/null 2>&1
A delete phoenix >/dev/null 2>&1 && A create phoenix >/dev/null 2>&1
(umask 077; A token create after2 >"$T/secret/after2" 2>/dev/null)
crev=$(frev)
if etcd_compact "$crev"; then ok "etcd compacted at $crev while h2's agent was stopped"
else not_ok "etcdctl compact $crev"; fi
loads=$(full_loads 2)
start_agent 2
settled "h2 back after the compaction" $HOSTS
if [ "$(full_loads 2)" -gt "$loads" ] && grep -q "was compacted" "$T/h2.log"; then
	ok "h2 saw the compaction and did a full resync"
else
	not_ok "h2 did a full resync" "$(tail -n 5 "$T/h2.log")"
fi
fleet_dump
same_as_fleet 2 "lrevoked=$P2"
got=$(admitted_on "$T/secret/bot2" bot 1 2)
[ "$got" = 1 ] && ok "after the full resync, bot2 is still refused on h2 (local revocation kept)" ||
    not_ok "local revocation survives a full resync" "admitted on: $got"
[ "$(uid_on 2 phoenix)" = "$(A show phoenix --json | json_get uid)" ] &&
    ok "h2's full resync gave phoenix its newest uid" ||
    not_ok "phoenix's newest uid on h2" "$(uid_on 2 phoenix)"

# --- the etcd leader killed (-9) during a loop of changes ---------------------
L=$(etcd_leader)
case $L in 1|2|3) ok "the etcd leader is member $L";; *) not_ok "find the etcd leader" "$L";; esac
: >"$T/loop.ok"
for i in $(seq 1 16); do
	[ "$i" = 5 ] && etcd_kill "$L"
	if A create "loop$i" >/dev/null 2>"$T/err" &&
	    A token create "loop$i" >/dev/null 2>>"$T/err"; then
		echo "loop$i" >>"$T/loop.ok"
	else
		echo "# loop$i: $(cat "$T/err")"
	fi
done
nok=$(wc -l <"$T/loop.ok")
[ "$nok" -ge 12 ] && ok "$nok of 16 create + token create rounds succeeded across the leader's death" ||
    not_ok "most changes succeed across the leader's death" "$nok of 16"
etcd_restart "$L"
etcd_wait_healthy 20 && ok "the killed member rejoins" || not_ok "the killed member rejoins"
settled "every host caught up after the leader's death" $HOSTS
fleet_dump
missing=
while read -r u; do grep -q "\"name\": \"$u\"" "$T/fleet.users" || missing="$missing $u"; done <"$T/loop.ok"
[ -z "$missing" ] && ok "every acknowledged change is in the fleet" ||
    not_ok "every acknowledged change is in the fleet" "missing:$missing"
same_as_fleet 1
same_as_fleet 3
same_as_fleet 5 skip=clash

# --- a follower killed, after an etcd user was added (stale auth tokens) -----
etcd_ctl user add late --new-user-password=late-pw >/dev/null &&
    ok "an etcd user added: every issued auth token is now stale" ||
    not_ok "etcdctl user add late"
L=$(etcd_leader)
F=$((L % 3 + 1))
etcd_kill "$F"
(umask 077; A token create bot >"$T/secret/rev6" 2>/dev/null)
wait_rev "$(frev)" 20 $HOSTS >/dev/null || not_ok "rev6 everywhere with member $F down"
if r=$(revoke_timed "$T/secret/rev6"); then
	ok "member $F killed: a revocation still reaches every host in ${r#* } ms"
else
	not_ok "member $F killed: revocation reaches every host" "$r"
fi
etcd_restart "$F"
etcd_wait_healthy 20 || not_ok "member $F rejoins"

# --- every member stopped ---------------------------------------------------------
(umask 077; A token create bot >"$T/secret/down" 2>/dev/null)
settled "before the outage" $HOSTS
"$SYNCD" --fleet "$T/h6.conf" --store "$T/h6" --once >"$T/h6.log" 2>&1 &&
    ok "appuser-syncd --once brings an empty store h6 up to date (exit 0)" ||
    not_ok "appuser-syncd --once on h6" "$(cat "$T/h6.log")"
loads=
for h in $HOSTS; do loads="$loads $(full_loads "$h")"; done
for i in 1 2 3; do etcd_stop "$i"; done
sleep 3
got=$(admitted_on "$T/secret/down" bot $HOSTS)
[ "$got" = "1 2 3 4 5" ] && ok "every etcd member stopped: every host still admits a valid token" ||
    not_ok "hosts admit valid tokens with etcd down" "admitted on: $got"
uids=
for h in $HOSTS; do uids="$uids $(uid_on "$h" bot)"; done
[ "$uids" = " $FUID $FUID $FUID $FUID $FUID" ] && ok "... and resolve bot" ||
    not_ok "hosts resolve bot with etcd down" "$uids"
rc 2 "a fleet write with etcd down exits 2" A create during-outage
has "... saying no endpoint answered and nothing changed" "no etcd endpoint of the fleet answered .*nothing was changed" "$err"
rc 2 "appuser-syncd --once with etcd down exits 2" "$SYNCD" --fleet "$T/h6.conf" --store "$T/h6" --once
ago=$(status_of 1 | json_get last_heard_seconds_ago)
[ "${ago:-0}" -ge 2 ] && ok "fleet status: h1 last heard from etcd ${ago} s ago" ||
    not_ok "fleet status shows the silence" "$(status_of 1)"
status_of 6 | json_get last_error.message >"$T/out"
has "fleet status on h6 shows the last error" "no etcd endpoint answered" "$(cat "$T/out")"
for i in 1 2 3; do etcd_restart "$i"; done
etcd_wait_healthy 30 && ok "every member restarted" || not_ok "the members restart"
A create after-outage >/dev/null 2>&1 || not_ok "create after the outage"
settled "after the restart, every host caught up" $HOSTS
now=
for h in $HOSTS; do now="$now $(full_loads "$h")"; done
[ "$now" = "$loads" ] && ok "... from its recorded revision (no full load)" ||
    not_ok "hosts resumed without a full load" "before:$loads after:$now"

# --- the hosts' etcd users are read-only; no secret in etcd ------------------
rc 2 "appuser --fleet with a host's config cannot write" "$APPUSER" --fleet "$T/h1.conf" create nope
has "... etcd says permission denied" "etcd refused it \(user host1" "$err"
cat "$T"/secret/* >"$T/all.tokens"
leak='' found=0
: >"$T/etcd.dump"
etcd_ctl get --prefix /appuser/ >"$T/etcd.dump" 2>/dev/null
while read -r tok; do
	id=$(echo "$tok" | cut -c5-16) secret=$(echo "$tok" | cut -c17-46)
	grep -qF "$id" "$T/etcd.dump" && found=$((found + 1))
	grep -qF "$secret" "$T/etcd.dump" && leak="$leak apu_$id"
	grep -rqF "$secret" "$ETCD_DIR"/m*.data && leak="$leak apu_$id(on disk)"
done <"$T/all.tokens"
ntok=$(wc -l <"$T/all.tokens")
if [ -z "$leak" ] && [ "$found" = "$ntok" ]; then
	ok "none of $ntok token secrets is in etcd (its keys and values, its members' files); every id is"
else
	not_ok "no token secret in etcd" "leaked:$leak; ids found $found of $ntok"
fi

# --- new hosts join while the fleet changes ------------------------------------
# An empty store's --once is one full load: the meta, the users and the
# tokens read as three ranges, each at the revision of the first, while
# threads ask NSS about every user.  A writer keeps creating users with a
# token each meanwhile, so each joiner must hold exactly the fleet at the
# revision it recorded (a range read at another revision would leave a
# token without its user, or a user without its token).  The joiners have
# host 5's account clash: the threaded checks must still skip that user.
rm -f "$T/joinstop"
jsum='' bad='' jrevs=''
(
	i=0
	while [ $i -lt 60 ] && [ ! -e "$T/joinstop" ]; do
		i=$((i + 1))
		A create "join$i" >/dev/null 2>&1 &&
		    A token create "join$i" >/dev/null 2>&1
	done
) &
wpid=$!
sleep 0.5
for j in 1 2 3 4 5; do
	mkdir -m 0700 "$T/j$j"
	# shellcheck disable=SC2086
	env APPUSER_STORE="$T/j$j" LD_LIBRARY_PATH="$B/test-nss" $SANENV \
	    unshare -m --propagation private sh -c \
	    'mount --bind "$0" /etc/passwd && exec "$@"' "$T/passwd.h5" \
	    "$SYNCD" --fleet "$T/h6.conf" --store "$T/j$j" --once \
	    >"$T/j$j.log" 2>&1 || { bad="$bad j$j: exit $? $(tail -n 2 "$T/j$j.log");"; continue; }
	jrev=$(status_of_dir "$T/j$j" | json_get revision)
	case " $jrevs " in *" $jrev "*) ;; *) jrevs="$jrevs $jrev";; esac
	etcd_ctl get --prefix /appuser/ --keys-only --rev="$jrev" >"$T/j$j.keys" 2>&1 &&
	"$APPUSER" --store "$T/j$j" list --json >"$T/j$j.users" &&
	"$APPUSER" --store "$T/j$j" token list --json >"$T/j$j.tokens" ||
	    { bad="$bad j$j: cannot list (revision $jrev);"; continue; }
	d=$(python3 - "$T/j$j" <<'EOF2'
import json, sys
p = sys.argv[1]
keys = open(p + ".keys").read().split()
fu = sorted(k[14:] for k in keys if k.startswith("/appuser/user/"))
ft = sorted(tuple(k[15:].split("/")) for k in keys if k.startswith("/appuser/token/"))
hu = sorted(u["name"] for u in json.load(open(p + ".users")))
ht = sorted((t["user"], t["prefix"][4:]) for t in json.load(open(p + ".tokens")))
fu = [u for u in fu if u != "clash"]
ft = [t for t in ft if t[0] != "clash"]
out = []
if fu != hu: out.append("users: fleet only %s, host only %s" % (
    sorted(set(fu) - set(hu))[:3], sorted(set(hu) - set(fu))[:3]))
if ft != ht: out.append("tokens: fleet only %s, host only %s" % (
    sorted(set(ft) - set(ht))[:3], sorted(set(ht) - set(ft))[:3]))
print("; ".join(out) or "%d users, %d tokens" % (len(hu), len(ht)))
EOF2
	)
	case $d in
	*"users, "*" tokens") jsum="$jsum j$j@$jrev: $d;";;
	*) bad="$bad j$j at revision $jrev: $d;";;
	esac
	[ "$(status_of_dir "$T/j$j" | json_get skipped.0.name)" = clash ] ||
	    bad="$bad j$j did not skip clash;"
	"$APPUSER" --store "$T/j$j" check >/dev/null 2>&1 || bad="$bad j$j: appuser check;"
done
touch "$T/joinstop"
wait "$wpid"
nj=$(A list --json | python3 -c 'import json,sys; print(sum(u["name"].startswith("join") for u in json.load(sys.stdin)))')
nrevs=$(echo "$jrevs" | wc -w)
if [ -z "$bad" ] && [ "$nrevs" -gt 1 ]; then
	ok "5 hosts joined by full loads at $nrevs revisions while $nj users were created: each is the fleet at its revision, clash skipped"
	echo "#${jsum}"
else
	not_ok "hosts joining during changes are the fleet at their revision" "$bad (revisions:$jrevs; the writer created ${nj:-0})"
fi

# --- status, and the end state --------------------------------------------------
fr=$(frev)
wait_rev "$fr" 10 1 >/dev/null
st=$(status_of 1)
if [ "$(echo "$st" | json_get revision)" = "$fr" ] &&
    [ "$(echo "$st" | json_get lag_revisions)" = 0 ] &&
    [ "$(echo "$st" | json_get config)" = "$T/h1.conf" ]; then
	ok "fleet status --json on h1: revision $fr, lag 0, its config"
else
	not_ok "fleet status --json on h1" "$st (etcd at $fr)"
fi
"$APPUSER" --store "$T/h1" fleet status >"$T/out" 2>&1
has "fleet status (text) shows revision and lag" "revision: +$fr applied \(etcd at [0-9]+ when last heard: 0 behind\)" "$(cat "$T/out")"
rc 1 "fleet status on a store that follows no fleet: exit 1" "$APPUSER" --store "$T/nostore" fleet status
fleet_dump
for h in 1 3 4; do same_as_fleet "$h"; done
same_as_fleet 2 "lrevoked=$P2"
same_as_fleet 5 skip=clash
for h in $HOSTS; do store_ok "$h"; done
for h in $HOSTS; do
	kill -0 "$(eval echo "\$AGENT$h")" 2>/dev/null || not_ok "h$h's agent still running"
done
for h in $HOSTS; do stop_agent "$h"; done
# what the agents said besides routine lines: none of it may be a failure
# to apply something
grep -hv "following the fleet\|full load of\|applied [0-9]* events\|stopping at\|was compacted" \
    "$T"/h[1-5].log | sed 's/^appuser-syncd\[[0-9]*\]: //' | sort | uniq -c |
    sed 's/^/# agents said: /'
bad=$(grep -h "not applied\|cannot\|failed\|revision [0-9]*: " "$T"/h[1-5].log | head -5)
[ -z "$bad" ] && ok "no agent failed to apply anything" || not_ok "agents failed to apply" "$bad"
echo "# t_fleet.sh took $(($(date +%s) - start)) s"
done_testing
