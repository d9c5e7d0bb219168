#!/bin/sh
# The store at scale (bench_store.c): bulk import of N users and N tokens in
# one transaction, the commit that publishes the snapshot, one change on the
# large store, snapshot lookups and enumeration (the NSS path), token
# verification (the PAM path), the size on disk, and the real `appuser`
# binary's token revoke / token create / create / delete median latency on
# that store against the same commands on a store of 1000 (the baseline).
# Then the NSS module's own lookup call on the same large store
# (bench_nss module, dlopen: no glibc in the figure).  Needs ~1.5 GB of /tmp
# at 1M.  Usage: sh bench/bench_store.sh [N]   (default $BENCH_USERS or
# 1000000; BENCH_USERS=100000 make bench for a quick run)
cd "$(dirname "$0")/.." || exit 2
N=${1:-${BENCH_USERS:-1000000}}
for f in build/bench/bench_store build/bench/bench_nss build/appuser \
    build/test-nss/libnss_appuser.so.2; do
	[ -x "$f" ] || [ -f "$f" ] || { echo "bench_store: $f missing (make bench-bins)"; exit 2; }
done
T=$(mktemp -d /tmp/bench_store.XXXXXX) || exit 2
trap 'rm -rf "$T"' EXIT
chmod 755 "$T"
build/bench/bench_store "$N" "$T/store" "$PWD/build/appuser" || exit 1
if ! build/bench/bench_nss module "$T/store" "$N" >"$T/nss" 2>&1; then
	echo "bench_store: bench_nss module failed:"
	cat "$T/nss"
	exit 1
fi
awk -v n="$N" '$1 == "mod_getpwnam_r" { ns = $2 }
	$1 == "mod_getpwuid_r" { uid = $2 }
	END {
		printf "%-44s %10.2f us (getpwuid_r %.2f us)\n", "NSS module getpwnam_r (dlopen, median)", ns / 1000, uid / 1000
		printf "FIGURE %-56s %16s  goal %-10s %s\n", sprintf("NSS module getpwnam_r call, %dk users+tokens", n / 1000), sprintf("%.2f us", ns / 1000), "< 1 us", ns < 1000 ? "MET" : "NOT MET"
	}' "$T/nss"
