#!/bin/sh
# pam_appuser: token verification in-process against pam_unix's yescrypt on
# this machine; store_verify of an unknown id vs a known id with a wrong
# secret; authentications per second through libpam from 2 processes
# without bookkeeping (build/bench/pam_appuser_nobook.so), with it, and
# with it while a third process creates and revokes tokens (bench_pam.c).
# Usage: sh bench/bench_pam.sh [SECONDS]   (all login phases; default
# $BENCH_PAM_SECONDS or 15)
cd "$(dirname "$0")/.." || exit 2
for f in build/bench/bench_pam build/pam_appuser.so \
    build/bench/pam_appuser_nobook.so; do
	[ -x "$f" ] || [ -f "$f" ] || { echo "bench_pam: $f missing (make bench-bins)"; exit 2; }
done
exec build/bench/bench_pam "$PWD" "${1:-${BENCH_PAM_SECONDS:-15}}"
