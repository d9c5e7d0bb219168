#!/bin/sh
# Keep the README true: its lifecycle transcripts (the shell blocks marked
# with a "<!-- doc-test -->" line) run for real, as root, in private mount,
# pid and network namespaces (tests/e2e/nslib.sh) where appuser is installed
# and enabled as "Enabling it on a host" says, with the real sshd (Debian's
# sshd_config plus the drop-in) on 127.0.0.1:22.  What each command prints
# must be what the README shows, except token secrets and prefixes, ids,
# pids and times (tests/t_docs_blocks.py).  The ssh client answers its
# prompts through SSH_ASKPASS with the README's own token file, and prints
# each prompt as a terminal would show it.
. "$(dirname "$0")/lib.sh"
NS_LIBDIR=$TOP/tests/e2e
. "$TOP/tests/e2e/nslib.sh"
cd "$TOP" || exit 2
BLOCKS=$TOP/tests/t_docs_blocks.py

if [ "$APPUSER_NS_INNER" = 1 ]; then
	ns_setup
	ns_doc_host || { echo "not ok - install as the README says, sshd on :22"; exit 1; }
	W=$NS_W/work
	mkdir -m 0700 "$W" "$NS_W/out"
	# what a person does at ssh's prompts: read it, type the token
	cat >"$NS_W/askpass" <<-EOA
	#!/bin/sh
	printf '%s\n' "\$1" >&2
	head -n 1 "$W/token"
	EOA
	chmod 0700 "$NS_W/askpass"
	python3 "$BLOCKS" readme "$TOP/README.md" >"$NS_W/blocks.json" &&
	    python3 "$BLOCKS" script "$NS_W/blocks.json" "$NS_W/out" \
	    >"$NS_W/run.sh" || exit 1
	(cd "$W" && SSH_ASKPASS=$NS_W/askpass SSH_ASKPASS_REQUIRE=force \
	    DISPLAY=none HOME=/root timeout 300 sh "$NS_W/run.sh")
	python3 "$BLOCKS" compare "$NS_W/blocks.json" "$NS_W/out" "$NS_SYSLOG"
	[ -n "$(cat "$NS_W/out"/* 2>/dev/null | grep -F -f "$W/token")" ] &&
	    echo "not ok - a token was printed by a README command" ||
	    echo "ok - no README command printed a token"
	ns_stop
	exit 0
fi

n=$(python3 "$BLOCKS" readme README.md | python3 -c 'import json,sys; b=json.load(sys.stdin); print(sum(len(x["cmds"]) for x in b))')
[ "${n:-0}" -ge 15 ] && ok "README marks its lifecycle blocks ($n commands)" ||
    not_ok "README marks its lifecycle blocks" "found ${n:-0} commands"
why=$(ns_supported)
if [ -n "$why" ]; then
	skip "README lifecycle in a private namespace" "$why"
else
	ns_run_relayed "$0"
fi
done_testing
