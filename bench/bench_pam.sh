#!/bin/sh
# pam_appuser: one token verification in-process against pam_unix's
# yescrypt on this machine, then authentications per second through libpam
# from 2 processes while a third creates and revokes tokens (bench_pam.c).
# Usage: sh bench/bench_pam.sh [SECONDS]   (default 5)
cd "$(dirname "$0")/.." || exit 2
for f in build/bench/bench_pam build/pam_appuser.so; do
	[ -x "$f" ] || [ -f "$f" ] || { echo "bench_pam: $f missing (make bench-bins)"; exit 2; }
done
exec build/bench/bench_pam "$PWD" "${1:-5}"
