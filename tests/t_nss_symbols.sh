#!/bin/sh
# NSS module as a shared object: exports only its entry points (version
# script), nothing for shadow, the soname glibc loads, and no imports that a
# module loaded into every process must not use (stdio output, exit, spawn).
. "$(dirname "$0")/lib.sh"

SO="$B/libnss_appuser.so.2"
need_built "$SO"

defined=$(nm -D --defined-only "$SO" | awk 'NF == 3 { print $3 }')
bad=$(echo "$defined" | grep -v '^_nss_appuser_' | grep -v '^$')
if [ -z "$bad" ]; then ok "exports only _nss_appuser_*"
else not_ok "exports only _nss_appuser_*" "also exported: $bad"; fi

for f in getpwnam_r getpwuid_r setpwent getpwent_r endpwent getgrnam_r \
    getgrgid_r setgrent getgrent_r endgrent initgroups_dyn; do
	if echo "$defined" | grep -qx "_nss_appuser_$f"; then
		ok "exports _nss_appuser_$f"
	else
		not_ok "exports _nss_appuser_$f"
	fi
done
n=$(echo "$defined" | grep -c '^_nss_appuser_')
[ "$n" = 11 ] && ok "exactly 11 entry points" || not_ok "exactly 11 entry points" "$defined"
if echo "$defined" | grep -q -e spnam -e spent -e sgnam -e sgent; then
	not_ok "nothing for shadow/gshadow" "$defined"
else
	ok "nothing for shadow/gshadow"
fi

if readelf -d "$SO" | grep -q 'SONAME.*\[libnss_appuser\.so\.2\]'; then
	ok "soname libnss_appuser.so.2"
else
	not_ok "soname libnss_appuser.so.2" "$(readelf -d "$SO" | grep SONAME)"
fi
if readelf -d "$SO" | grep -q 'BIND_NOW\|FLAGS.*NOW'; then
	ok "linked with -z now"
else
	not_ok "linked with -z now"
fi

FORBIDDEN='printf|fprintf|vprintf|vfprintf|puts|fputs|putchar|perror|fwrite|__printf_chk|__fprintf_chk|__vfprintf_chk|exit|_exit|_Exit|abort|system|popen|fork|vfork|execv|execve|execvp|execl|execlp|posix_spawn|posix_spawnp|syslog|vsyslog|__assert_fail|getenv|setenv|putenv'
imports() { nm -D --undefined-only "$1" | awk '{ print $2 }' | sed 's/@.*//'; }
# The module carries a static libtdb (see the Makefile).  Our own code is
# checked by linking the same objects without libtdb: it must import none
# of these.  libtdb's code brings the ones libtdb.so itself imports (getenv
# for TDB_NO_FSYNC, fork/_exit/kill/abort for its robust-mutex probe, which
# a read-only, lock-free open as the module does never reaches): nothing
# beyond those is allowed.
if coverage_build; then
	skip "our code: no output, exit, spawn or getenv imports" "coverage build: gcov's runtime brings stdio, getenv and abort"
	skip "module: no such import beyond libtdb's own" "coverage build: gcov's runtime brings stdio, getenv and abort"
else
	probe=$(mktemp -d) || exit 2
	trap 'rm -rf "$probe"' EXIT
	if cc -shared -o "$probe/own.so" "$B"/nss_appuser/*.o \
	    "$B/libappuser.a" -Wl,--version-script="$TOP/nss_appuser/nss_appuser.map" \
	    -Wl,--unresolved-symbols=ignore-all 2>"$probe/err"; then
		forbidden=$(imports "$probe/own.so" | grep -xE "$FORBIDDEN")
		if [ -z "$forbidden" ]; then
			ok "our code: no output, exit, spawn or getenv imports"
		else
			not_ok "our code: no output, exit, spawn or getenv imports" "$forbidden"
		fi
	else
		not_ok "our code: no output, exit, spawn or getenv imports" "$(cat "$probe/err")"
	fi
	tdbso=$(ls /usr/lib/*/libtdb.so.1 2>/dev/null | head -n 1)
	extra=$(imports "$SO" | grep -xE "$FORBIDDEN" | while read -r sym; do
		imports "$tdbso" | grep -qx "$sym" || echo "$sym"; done)
	if [ -n "$tdbso" ] && [ -z "$extra" ]; then
		ok "module: no such import beyond libtdb's own"
	else
		not_ok "module: no such import beyond libtdb's own" "libtdb: ${tdbso:-missing}; extra: $extra"
	fi
fi
if ldd "$SO" | grep -q libtdb; then
	not_ok "libtdb linked statically (a private open list)" "$(ldd "$SO")"
else
	ok "libtdb linked statically (a private open list)"
fi

# Loads alone (all symbols resolved, as glibc's dlopen with RTLD_NOW does).
if out=$(LD_BIND_NOW=1 ldd -r "$SO" 2>&1) && ! echo "$out" | grep -q 'undefined symbol'; then
	ok "all symbols resolve (ldd -r)"
else
	not_ok "all symbols resolve (ldd -r)" "$out"
fi
done_testing
