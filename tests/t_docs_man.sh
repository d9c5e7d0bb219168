#!/bin/sh
# Keep the man pages true: every command of the EXAMPLES sections of
# appuser(8) and pam_appuser(8) (lines starting with "# " or "$ " inside
# .nf/.fi; configuration snippets are not commands) runs for real, in that
# order, in one shell, as root, in private mount, pid and network
# namespaces (tests/e2e/nslib.sh) where appuser is installed and enabled as
# the README says, with the real sshd (Debian's sshd_config plus the
# drop-in) on 127.0.0.1:22 and "host" naming 127.0.0.1.  Every command must
# exit 0 and print what the page shows, except token secrets and prefixes,
# ids, pids, times and import rates (tests/t_docs_blocks.py).
. "$(dirname "$0")/lib.sh"
NS_LIBDIR=$TOP/tests/e2e
. "$TOP/tests/e2e/nslib.sh"
cd "$TOP" || exit 2
BLOCKS=$TOP/tests/t_docs_blocks.py
MANS="man/appuser.8 man/pam_appuser.8"

if [ "$APPUSER_NS_INNER" = 1 ]; then
	ns_setup
	echo "127.0.0.1 host" >>/etc/hosts
	ns_doc_host || { echo "not ok - install as the README says, sshd on :22"; exit 1; }
	W=$NS_W/work
	mkdir -m 0700 "$W" "$NS_W/out"
	python3 "$BLOCKS" man $MANS >"$NS_W/blocks.json" &&
	    python3 "$BLOCKS" script "$NS_W/blocks.json" "$NS_W/out" \
	    >"$NS_W/run.sh" || exit 1
	(cd "$W" && HOME=/root timeout 300 sh "$NS_W/run.sh")
	DOC_MUST_SUCCEED=1 python3 "$BLOCKS" compare "$NS_W/blocks.json" \
	    "$NS_W/out"
	ns_stop
	exit 0
fi

for m in $MANS; do
	n=$(python3 "$BLOCKS" man "$m" | python3 -c 'import json,sys; b=json.load(sys.stdin); print(sum(len(x["cmds"]) for x in b))')
	[ "${n:-0}" -ge 2 ] && ok "$m: EXAMPLES has commands ($n)" ||
	    not_ok "$m: EXAMPLES has commands" "found ${n:-0}"
done
why=$(ns_supported)
[ -z "$why" ] && ! command -v jq >/dev/null 2>&1 && why="jq not installed"
[ -z "$why" ] && ! command -v pamtester >/dev/null 2>&1 && why="pamtester not installed (make deps)"
[ -z "$why" ] && ! command -v sshpass >/dev/null 2>&1 && why="sshpass not installed (make deps)"
if [ -n "$why" ]; then
	skip "man page EXAMPLES in a private namespace" "$why"
else
	ns_run_relayed "$0"
fi
done_testing
