#!/bin/sh
# Revocation across a fleet: a 3-member etcd with TLS and authentication on
# free loopback ports (tests/etcd/lib.sh), 5 hosts (a store directory and an
# appuser-syncd each), N tokens of one user created centrally, then each
# revoked with `appuser --fleet F token revoke` while bench_fleet.c polls
# every host's store as pam_appuser does for a login.  Figures: from the
# revoke command's exit (its etcd commit is done by then) to "refused on
# all 5 hosts", p50/p99; the same from the command's start, against the
# baseline of a local `appuser token revoke` on one host (start to
# refused), measured in the same run; and the CPU an idle agent uses.
# Usage: sh bench/bench_fleet.sh [N]   (default 100)
cd "$(dirname "$0")/.." || exit 2
. bench/fleet_lib.sh
N=${1:-100}
B=$PWD/build
APPUSER=$B/appuser SYNCD=$B/appuser-syncd TIMER=$B/bench/bench_fleet
fleet_bench_start bench_fleet "$APPUSER" "$SYNCD" "$TIMER"
A() { "$APPUSER" --fleet "$T/admin.conf" "$@"; }
HOSTS="$T/h1 $T/h2 $T/h3 $T/h4 $T/h5"
for h in $HOSTS; do
	mkdir -m 0700 "$h"
	"$SYNCD" --fleet "$T/host.conf" --store "$h" --stderr >>"$h.log" 2>&1 &
	AGENTS="$AGENTS $!"
done
mkdir -m 0700 "$T/secret" "$T/local"
echo "bench_fleet: $N tokens in the fleet and $N in a local store..."
A create bot >/dev/null || exit 1
"$APPUSER" --store "$T/local" create bot >/dev/null || exit 1
i=0
while [ $i -lt "$N" ]; do
	i=$((i + 1))
	(umask 077; A token create bot >"$T/secret/f$i" 2>/dev/null &&
	    "$APPUSER" --store "$T/local" token create bot >"$T/secret/l$i" 2>/dev/null) ||
	    { echo "bench_fleet: token create failed"; exit 1; }
done
# every host has every token before the first revocation
until "$TIMER" "$T/secret/f$N" bot $HOSTS 2>/dev/null; do sleep 0.1; done
echo "bench_fleet: $N revocations over the fleet, then $N local ones..."
: >"$T/fleet" && : >"$T/local.t"
i=0
while [ $i -lt "$N" ]; do
	i=$((i + 1))
	"$TIMER" "$T/secret/f$i" bot $HOSTS -- "$APPUSER" --fleet "$T/admin.conf" \
	    token revoke bot "$(cut -c1-16 "$T/secret/f$i")" >>"$T/fleet" ||
	    echo "bench_fleet: fleet revocation $i failed"
	"$TIMER" "$T/secret/l$i" bot "$T/local" -- "$APPUSER" --store "$T/local" \
	    token revoke bot "$(cut -c1-16 "$T/secret/l$i")" >>"$T/local.t" ||
	    echo "bench_fleet: local revocation $i failed"
done
# idle agents: CPU over 10 s (utime + stime, in clock ticks)
ticks() { for p in $AGENTS; do cut -d' ' -f14,15 "/proc/$p/stat"; done | awk '{ t += $1 + $2 } END { print t }'; }
c0=$(ticks); sleep 10; c1=$(ticks)
hz=$(getconf CLK_TCK)
python3 - "$T/fleet" "$T/local.t" "$c0" "$c1" "$hz" <<'PY'
import sys
def load(p): return [list(map(float, l.split())) for l in open(p) if l.strip()]
def pct(v, q):
    v = sorted(v); return v[min(len(v) - 1, int(q * len(v)))]
fl, lo = load(sys.argv[1]), load(sys.argv[2])
prop = [max(0.0, r[1] - r[0]) for r in fl]
e2e = [r[1] for r in fl]
base = [r[1] for r in lo]
cpu = (float(sys.argv[4]) - float(sys.argv[3])) / float(sys.argv[5]) / 10 / 5 * 100
print("| revocation, %d times, 5 hosts (bench/bench_fleet.sh) | p50 | p99 | max |" % len(fl))
print("|---|---|---|---|")
print("| the revoke command exits (etcd committed) -> refused on all 5 hosts (0: before it exited) | %.1f ms | %.1f ms | %.1f ms |" % (pct(prop, .5), pct(prop, .99), max(prop)))
print("| `appuser --fleet F token revoke`, start -> refused on all 5 hosts | %.1f ms | %.1f ms | %.1f ms |" % (pct(e2e, .5), pct(e2e, .99), max(e2e)))
print("| baseline: local `appuser token revoke`, start -> refused on that host | %.1f ms | %.1f ms | %.1f ms |" % (pct(base, .5), pct(base, .99), max(base)))
print("| ratio fleet / local, start -> refused (p50) | %.1fx | | |" % (pct(e2e, .5) / pct(base, .5)))
print("| an idle agent's CPU (10 s, progress notifications every 1 s) | %.3f%% of a core | | |" % cpu)
p99 = pct(prop, .99)
print("FIGURE %-56s %16s  goal %-10s %s" % ("fleet revocation, etcd commit -> refused on 5 hosts, p99",
    "%.1f ms" % p99, "< 1 s", "MET" if p99 < 1000 else "NOT MET"))
print("FIGURE %-56s %16s  (no goal)" % ("fleet idle agent CPU", "%.3f%% of a core" % cpu))
PY
