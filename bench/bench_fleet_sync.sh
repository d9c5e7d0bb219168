#!/bin/sh
# Initial sync of a new host: a 3-member etcd with TLS and authentication
# on free loopback ports (tests/etcd/lib.sh) filled with N users and N
# tokens in the fleet's data model (bench_fleet_load.c: uids allocated as
# the fleet allocates them, 42 users a txn over 8 connections), then
# `appuser-syncd --fleet F --store EMPTY --once` timed from its start to
# its exit: one full load at one revision into one local transaction.
# Checked: exit 0, `appuser check` counts N users and N tokens, and the
# store admits the last user's token.
#
# Each user costs the host four NSS lookups (its name and uid as a user
# and as a group: a user colliding with a host account is skipped), so the
# figure depends on the host's NSS sources.  It is measured twice: with
# this machine's nsswitch.conf as it is, and (root, private mount
# namespace) with "passwd: files" / "group: files".  Baseline of each: a
# local `appuser import` of the same N users (no tokens) into an empty
# store, the same NSS checks without etcd.  For reference, `etcdctl get
# --prefix` of the fleet's keys (gRPC, not the JSON gateway the agent
# uses) and the agent's own breakdown (read / host accounts / applied).
# Usage: sh bench/bench_fleet_sync.sh [N]   (default $BENCH_FLEET_USERS or
# 100000; BENCH_FLEET_USERS=10000 make bench for a quick run)
cd "$(dirname "$0")/.." || exit 2
. bench/fleet_lib.sh
N=${1:-${BENCH_FLEET_USERS:-100000}}
B=$PWD/build
APPUSER=$B/appuser SYNCD=$B/appuser-syncd LOAD=$B/bench/bench_fleet_load
ADMITS=$B/bench/bench_fleet
fleet_bench_start bench_fleet_sync "$APPUSER" "$SYNCD" "$LOAD" "$ADMITS"
LAST=fb$(printf %07d "$N")

# timed OUT COMMAND...: runs COMMAND (its stderr into OUT.err); OUT gets
# "exit-status seconds max-RSS-KB" (RSS of the largest process it waited for)
timed() {
	_o=$1; shift
	python3 - "$_o" "$@" <<'PY'
import resource, subprocess, sys, time
t = time.monotonic()
with open(sys.argv[1] + ".err", "w") as err:
    rc = subprocess.call(sys.argv[2:], stdout=subprocess.DEVNULL, stderr=err)
dt = time.monotonic() - t
rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
open(sys.argv[1], "w").write("%d %.3f %d\n" % (rc, dt, rss))
PY
}
printf 'passwd:         files\ngroup:          files\n' >"$T/nsswitch.files"
FILES=no
[ "$(id -u)" = 0 ] && unshare -m true 2>/dev/null && FILES=yes

echo "bench_fleet_sync: loading $N users and $N tokens into the fleet..."
"$LOAD" "$T/admin.conf" "$N" 1 8 "$T/token" "$T/users.jsonl" >"$T/load" ||
    { echo "bench_fleet_sync: loading the fleet failed"; exit 1; }
timed "$T/ctl" sh -c '. tests/etcd/lib.sh; ETCD_DIR=$1 ETCD_ENDPOINTS=$2 ETCD_TLS=1 _ETCD_AUTH_ON=1
	etcd_ctl get --prefix /appuser/ -w json --command-timeout 300s' sh \
    "$ETCD_DIR" "$ETCD_ENDPOINTS"

# run NAME [WRAPPER...]: an initial sync into $T/NAME, and the local import
# into $T/NAME.local, each run by WRAPPER; results in $T/NAME.sync and
# $T/NAME.import
run() {
	_n=$1; shift
	mkdir -m 0700 "$T/$_n" "$T/$_n.local"
	echo "bench_fleet_sync: initial sync ($_n NSS)..."
	timed "$T/$_n.sync" "$@" "$SYNCD" --fleet "$T/host.conf" --store "$T/$_n" --once
	_c=$("$APPUSER" --store "$T/$_n" check 2>&1)
	case $_c in
	*" $N users, $N tokens"*) ;;
	*) echo "bench_fleet_sync: $_n: the synced store is not the fleet: $_c"
	   echo "1 0 0" >"$T/$_n.sync";;
	esac
	"$ADMITS" "$T/token" "$LAST" "$T/$_n" ||
	    { echo "bench_fleet_sync: $_n: $LAST's token is not admitted"; echo "1 0 0" >"$T/$_n.sync"; }
	grep -h "full load of" "$T/$_n.sync.err" | sed "s/^[^:]*: /bench_fleet_sync: $_n: /"
	echo "bench_fleet_sync: local import of the same users ($_n NSS)..."
	timed "$T/$_n.import" "$@" "$APPUSER" --store "$T/$_n.local" import "$T/users.jsonl"
}
run host
# "passwd: files" in a private mount namespace (the host's file is untouched)
[ "$FILES" = yes ] && run files unshare -m --propagation private sh -c \
    'mount --bind "$0" /etc/nsswitch.conf && exec "$@"' "$T/nsswitch.files"
HOSTNSS=$(sed -n 's/^passwd:[[:space:]]*//p' /etc/nsswitch.conf | sed 's/[[:space:]]*$//')
python3 - "$T" "$N" "${HOSTNSS:-files}" "$FILES" <<'PY'
import re, sys
t, n, hostnss, files = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4] == "yes"
def res(name):
    rc, s, rss = open("%s/%s" % (t, name)).read().split()
    return int(rc), float(s), int(rss)
def parts(name):
    m = re.search(r"read ([0-9.]+) s, host accounts ([0-9.]+) s more, applied in ([0-9.]+) s",
        open("%s/%s.sync.err" % (t, name)).read())
    return "%s / %s / %s s" % m.groups() if m else "?"
load = open(t + "/load").read()
m = re.search(r": ([0-9.]+) s \(([0-9]+) keys/s\)", load)
cols = [("host", "NSS as configured here: passwd: " + hostnss)]
if files:
    cols.append(("files", "NSS files only (private mount namespace)"))
k = "%dk" % (n // 1000) if n >= 1000 else str(n)
print("| initial sync of %d users + %d tokens into an empty store (bench/bench_fleet_sync.sh) | %s |" % (n, n, " | ".join(c[1] for c in cols)))
print("|---|" + "---|" * len(cols))
row = lambda what, f: print("| %s | %s |" % (what, " | ".join(f(c[0]) for c in cols)))
def sync(c):
    rc, s, rss = res(c + ".sync")
    return "%.1f s" % s if rc == 0 else "FAILED (exit %d)" % rc
row("`appuser-syncd --once`, start to exit", sync)
row("... the agent's read / host account checks after the read / local transaction", parts)
row("... the agent's largest resident size", lambda c: "%d MB" % (res(c + ".sync")[2] // 1024))
row("baseline: local `appuser import` of the same %d users (no tokens)" % n,
    lambda c: "%.1f s" % res(c + ".import")[1] if res(c + ".import")[0] == 0 else "FAILED")
row("ratio sync / import", lambda c: "%.2fx" % (res(c + ".sync")[1] / res(c + ".import")[1]))
rc, s, _ = res("ctl")
print("| reference: `etcdctl get --prefix` of the fleet's %d keys (gRPC) | %s |" % (3 * n + 1, "%.1f s" % s if rc == 0 else "failed"))
if m:
    print("| setup: the fleet loaded by bench_fleet_load (8 connections) | %s s (%s keys/s) |" % m.groups())
for c, label in cols:
    rc, s, _ = res(c + ".sync")
    what = "fleet initial sync %s users+tokens, %s" % (k, "NSS " + (hostnss if c == "host" else "files"))
    print("FIGURE %-56s %16s  goal %-10s %s" % (what[:56], "%.1f s" % s if rc == 0 else "failed", "< 30 s",
        "MET" if rc == 0 and s < 30 else "NOT MET"))
PY
