#!/bin/sh
# NSS module benchmark (make bench).  Builds stores of 1k, 100k and 1M users
# (one transaction each), then measures in one run:
#   - the module's own entry points (dlopen, no glibc);
#   - getpwnam_r & co through glibc with "passwd: files appuser", in a
#     private mount namespace where nsswitch.conf, /etc/passwd (25 lines) and
#     /etc/group are bind-mounted, so the files part is the same for all;
#   - the baseline: glibc getpwnam_r through nss_files for a local user of
#     that 25-line /etc/passwd, and the last line of a 100k-line one;
#   - full enumeration (getpwent) through the module and through glibc.
# Ratios are against the 25-line nss_files figure of the same run.
# NSS_BENCH_SIZES="1000 100000" limits the store sizes.
cd "$(dirname "$0")/.." || exit 2
TOP=$(pwd)
BIN="$TOP/build/bench/bench_nss"
SIZES=${NSS_BENCH_SIZES:-"1000 100000 1000000"}

if [ ! -x "$BIN" ] || [ ! -f "$TOP/build/test-nss/libnss_appuser.so.2" ]; then
	echo "bench_nss: run make bench-bins first" >&2
	exit 2
fi
GLIBC=yes
if [ "$(id -u)" != 0 ] || ! unshare -m true 2>/dev/null; then
	echo "bench_nss: not root or no unshare -m: glibc figures skipped"
	GLIBC=no
fi

T=$(mktemp -d /var/tmp/bench_nss.XXXXXX) || exit 2
trap 'rm -rf "$T"' EXIT
chmod 755 "$T"
R="$T/results"
: >"$R"

# A 25-line /etc/passwd (root, 23 service accounts, one person) and a
# 100k-line one ending in bulk99999; a 40-line /etc/group.
awk 'BEGIN {
	print "root:x:0:0:root:/root:/bin/bash"
	for (i = 1; i <= 23; i++)
		printf "svc%02d:x:%d:%d:Service %02d:/var/lib/svc%02d:/usr/sbin/nologin\n", i, 100 + i, 100 + i, i, i
	print "local25:x:1000:1000:Local User,,,:/home/local25:/bin/bash"
}' >"$T/passwd25"
awk 'BEGIN {
	print "root:x:0:0:root:/root:/bin/bash"
	for (i = 0; i < 100000; i++)
		printf "bulk%05d:x:%d:%d:Bulk %05d:/home/bulk%05d:/bin/sh\n", i, 200000 + i, 200000 + i, i, i
}' >"$T/passwd100k"
awk 'BEGIN {
	print "root:x:0:"
	for (i = 1; i <= 38; i++)
		printf "grp%02d:x:%d:\n", i, 100 + i
	print "local25:x:1000:"
}' >"$T/group"
printf 'passwd:         files appuser\ngroup:          files appuser\n' \
    >"$T/nsswitch.conf"
printf 'passwd:         files\ngroup:          files\n' >"$T/nsswitch.files"
NSSCONF="$T/nsswitch.conf"

# in_ns PASSWD STORE COMMAND...: $NSSCONF, PASSWD and our group file
in_ns() {
	_pw=$1 _st=$2
	shift 2
	unshare -m --propagation private sh -c '
		mount --bind "$1" /etc/nsswitch.conf &&
		mount --bind "$2" /etc/passwd &&
		mount --bind "$3" /etc/group || exit 99
		shift 3
		exec "$@"' sh "$NSSCONF" "$_pw" "$T/group" \
	    env LD_LIBRARY_PATH="$TOP/build/test-nss" APPUSER_STORE="$_st" "$@"
}

# record SIZE COMMAND...: append "SIZE key value" lines
record() {
	_size=$1
	shift
	if ! "$@" >"$T/out" 2>"$T/err"; then
		echo "bench_nss: failed: $*" >&2
		cat "$T/out" "$T/err" >&2
		exit 1
	fi
	sed "s/^/$_size /" "$T/out" >>"$R"
}

if [ "$GLIBC" = yes ]; then
	record base in_ns "$T/passwd25" "$T/none" "$BIN" glibc 0 root local25
	record base in_ns "$T/passwd100k" "$T/none" "$BIN" glibc 0 bulk99999
	# what any second source pays first: files' "not found", files only
	NSSCONF="$T/nsswitch.files"
	record base in_ns "$T/passwd25" "$T/none" "$BIN" glibc 0 '!nosuchuser'
	NSSCONF="$T/nsswitch.conf"
fi
for n in $SIZES; do
	st="$T/store$n"
	mkdir -m 755 "$st"
	record "$n" "$BIN" build "$st" "$n"
	record "$n" "$BIN" module "$st" "$n"
	if [ "$GLIBC" = yes ]; then
		record "$n" in_ns "$T/passwd25" "$st" "$BIN" glibc "$n"
	fi
	rm -rf "$st"
done

awk -v sizes="$SIZES" -v glibc="$GLIBC" '
{ v[$1 " " $2] = $3 }
function f(k) { return (k in v) ? v[k] : "-" }
function us(k) { return (k in v) ? sprintf("%.2f", v[k] / 1000) : "-" }
function ratio(k) { return (k in v) && base > 0 ? sprintf("%.2fx", v[k] / base) : "-" }
END {
	base = v["base glibc_local_local25"]
	n = split(sizes, s, " ")
	print "NSS module (microseconds per call, median of 7 batches of random users)"
	if (glibc == "yes") {
		printf "baseline nss_files getpwnam_r, 25-line /etc/passwd: root (line 1) %s us, local25 (line 25) %s us  <- 1.00x\n", us("base glibc_local_root"), us("base glibc_local_local25")
		printf "reference nss_files getpwnam_r, last of 100,000 lines: %.2f ms\n", v["base glibc_local_bulk99999"] / 1e6
		printf "reference nss_files getpwnam_r, unknown name (\"passwd: files\" only): %s us  %s\n", us("base glibc_local_nosuchuser"), ratio("base glibc_local_nosuchuser")
	}
	print ""
	printf "%-9s %11s %8s | %9s %9s %9s %9s | %14s %9s %9s %9s | %8s %8s\n", "users", "build u/s", "open us", "getpwnam", "getpwuid", "getgrgid", "initgr", "glibc getpwnam", "getpwuid", "getgrgid", "grouplst", "enum mod", "enum gl"
	printf "%-9s %11s %8s | %9s %9s %9s %9s | %14s %9s %9s %9s | %8s %8s\n", "", "", "", "(module)", "", "", "", "(files+appuser)", "", "", "", "(s)", "(s)"
	for (i = 1; i <= n; i++) {
		z = s[i]
		printf "%-9s %11s %8s | %9s %9s %9s %9s | %14s %9s %9s %9s | %8s %8s\n", z, f(z " build_users_per_s"), us(z " mod_first_call_ns"), us(z " mod_getpwnam_r"), us(z " mod_getpwuid_r"), us(z " mod_getgrgid_r"), us(z " mod_initgroups_dyn"), us(z " glibc_getpwnam_r") " " ratio(z " glibc_getpwnam_r"), us(z " glibc_getpwuid_r"), us(z " glibc_getgrgid_r"), us(z " glibc_getgrouplist"), (z " mod_enum_ms") in v ? sprintf("%.2f", v[z " mod_enum_ms"] / 1000) : "-", (z " glibc_enum_ms") in v ? sprintf("%.2f", v[z " glibc_enum_ms"] / 1000) : "-"
	}
	print ""
	big = s[n]
	ok = 1
	if (glibc == "yes") {
		worst = 0
		for (i = 1; i <= n; i++) {
			r = v[s[i] " glibc_getpwnam_r"] / base
			if (r > worst) worst = r
		}
		printf "target glibc getpwnam_r <= 1.5x nss_files (25 lines), all sizes: worst %.2fx  %s\n", worst, worst <= 1.5 ? "MET" : "NOT MET"
		if (worst > 1.5) ok = 0
		e = v[big " glibc_enum_ms"] / 1000
		printf "target enumeration of %s users through glibc < 2 s: %.2f s  %s\n", big, e, e < 2 ? "MET" : "NOT MET"
		if (e >= 2) ok = 0
	}
	m = v[big " mod_getpwnam_r"] / 1000
	printf "target module getpwnam_r < 2 us at %s users: %.2f us  %s\n", big, m, m < 2 ? "MET" : "NOT MET"
	if (m >= 2) ok = 0
	e = v[big " mod_enum_ms"] / 1000
	printf "target enumeration of %s users through the module < 2 s: %.2f s  %s\n", big, e, e < 2 ? "MET" : "NOT MET"
	if (e >= 2) ok = 0
	exit ok ? 0 : 3
}' "$R"
rc=$?
[ "$rc" -eq 3 ] && echo "bench_nss: some targets not met (see above)"
exit 0
