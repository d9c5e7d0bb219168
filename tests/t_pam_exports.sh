#!/bin/sh
# build/pam_appuser.so exports only the PAM entry points, and links nothing
# a module must never call (exit, abort, printing to stdio, spawning).
. "$(dirname "$0")/lib.sh"
SO=$B/pam_appuser.so
if [ ! -f "$SO" ] || ! command -v nm >/dev/null 2>&1; then
	skip "pam_appuser.so symbols" "build/pam_appuser.so or nm missing"
	done_testing
	exit 0
fi
defined=$(nm -D --defined-only "$SO" | awk '{ print $3 }' | sort | tr '\n' ' ')
want="pam_sm_acct_mgmt pam_sm_authenticate pam_sm_chauthtok pam_sm_close_session pam_sm_open_session pam_sm_setcred "
if [ "$defined" = "$want" ]
then ok "exports exactly the six pam_sm_* entry points"
else not_ok "exports" "defined: $defined"; fi

bad=$(nm -D --undefined-only "$SO" | awk '{ print $2 }' | sed 's/@.*//' |
    grep -xE 'exit|_exit|abort|system|popen|execv|execvp|execl|execlp|fork|printf|__printf_chk|fprintf|__fprintf_chk|vfprintf|__vfprintf_chk|puts|fputs|putchar|perror|openlog|syslog|vsyslog' |
    tr '\n' ' ')
if coverage_build
then skip "no exit/abort/stdio/spawn/raw syslog symbols" "coverage build: gcov's runtime writes its counts with stdio at exit"
elif [ -z "$bad" ]
then ok "no exit/abort/stdio/spawn/raw syslog symbols"
else not_ok "forbidden symbols" "$bad"; fi

# the module's own code reads no environment variable (the store path is
# store= or the compiled-in default, never $APPUSER_STORE)
env=$(nm --undefined-only "$B"/pam_appuser/*.o | grep -wE 'getenv|secure_getenv|appuser_default_store_dir')
if [ -z "$env" ]
then ok "pam_appuser's objects never read the environment"
else not_ok "environment" "$env"; fi

if readelf -d "$SO" | grep -q BIND_NOW && readelf -lW "$SO" | grep -q GNU_RELRO
then ok "full RELRO (-z relro -z now)"
else not_ok "RELRO" "$(readelf -d "$SO" | grep -i flags)"; fi
done_testing
