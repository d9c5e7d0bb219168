#!/bin/sh
# The store at scale (bench_store.c): bulk import of N users in one
# transaction, the commit that publishes the snapshot, one change on the
# large store, snapshot lookups and enumeration (the NSS path), token
# verification (the PAM path).  Needs ~0.5 GB of /tmp and memory at 1M.
# Usage: sh bench/bench_store.sh [N_USERS]   (default 1000000)
cd "$(dirname "$0")/.." || exit 2
[ -x build/bench/bench_store ] || { echo "bench_store: build/bench/bench_store missing (make bench-bins)"; exit 2; }
exec build/bench/bench_store "${1:-1000000}"
