#!/bin/sh
# The appuser CLI run by someone who does not own the store (nobody, via
# setpriv): identity reads work, token data and every change are refused
# with a message that names the owner; and a private store owned by an
# ordinary user works for that user.  Needs root (to switch users).
. "$(dirname "$0")/lib.sh"

if ! is_root; then
	skip "non-owner tests" "needs root to run commands as nobody"
	done_testing; exit 0
fi
if ! command -v setpriv >/dev/null; then
	skip "non-owner tests" "setpriv (util-linux) not installed"
	done_testing; exit 0
fi

T=$(mktemp -d) || exit 2
trap 'rm -rf "$T"' EXIT
chmod 755 "$T"
# nobody runs the CLI: a copy in $T, since the checkout may be in a
# directory that nobody cannot enter (/root/appuser)
cp "$APPUSER" "$T/appuser" && chmod 0755 "$T/appuser" || exit 2
APPUSER=$T/appuser
S=$T/store
asnobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }

au create bot --description "a bot" >/dev/null 2>&1 &&
    TOK=$(au token create bot 2>/dev/null) && au admin grant bot >/dev/null 2>&1
[ -n "$TOK" ] && ok "setup as root" || not_ok "setup as root"
au --json list >"$T/before" 2>&1

# --- reads that anyone may do -----------------------------------------------------
rc 0 "nobody: list" asnobody "$APPUSER" --store "$S" list
has "... shows the user" "^bot +19[0-9]{8} +19[0-9]{8} +yes " "$out"
rc 0 "nobody: list --json" asnobody "$APPUSER" --store "$S" --json list
rc 0 "nobody: show" asnobody "$APPUSER" --store "$S" show bot
has "... shows the user" "^name: +bot$" "$out"
hasnt "... without token data" "tokens" "$out"
rc 0 "nobody: config show" asnobody "$APPUSER" --store "$S" config show
rc 0 "nobody: list via APPUSER_STORE" asnobody env APPUSER_STORE="$S" "$APPUSER" list
rc 0 "nobody: --help" asnobody "$APPUSER" token create --help

# --- token data and writes: refused, exit 2, naming the owner --------------------
rc 2 "nobody: token list" asnobody "$APPUSER" --store "$S" token list
has "... says token data is root's" "token data is readable only by the store's owner \(uid 0, normally root\); run with sudo" "$err"
rc 2 "nobody: token list NAME" asnobody "$APPUSER" --store "$S" token list bot
want_tail="$S: writes need the store's owner \(uid 0, normally root\); run with sudo"
for cmd in "create x1" "delete bot" "admin grant bot" "admin revoke bot" \
    "token create bot" "token revoke bot --all" "config set admin-group grp" \
    "config set uid-range 1900000000-1900001000"; do
	# shellcheck disable=SC2086
	rc 2 "nobody: $cmd" asnobody "$APPUSER" --store "$S" $cmd
	# "appuser: <command>: <store>: ...", like every other error
	what=$(echo "$cmd" | awk '$1 ~ /^(admin|token|config)$/ { print $1 " " $2; next } { print $1 }')
	has "... names the command and the owner" "^appuser: $what: $want_tail" "$err"
	[ -z "$out" ] && ok "... prints nothing on stdout" || not_ok "... stdout" "$out"
done
printf '{"name": "x2"}\n' >"$T/imp.jsonl"; chmod 644 "$T/imp.jsonl"
rc 2 "nobody: import" asnobody "$APPUSER" --store "$S" import "$T/imp.jsonl"
has "... names the command and the owner" "^appuser: import: $want_tail" "$err"
rc 2 "nobody: check" asnobody "$APPUSER" --store "$S" check
has "... names the command and the owner" "^appuser: check: $S: checking the store needs its owner \(uid 0" "$err"
au --json list >"$T/after" 2>&1
cmp -s "$T/before" "$T/after" && ok "refused commands changed nothing" ||
    not_ok "refused commands changed nothing" "$(diff "$T/before" "$T/after")"
rc 0 "the token is still active" au --json token list bot
has "... active" '"status": "active"' "$out"

# --- a store nobody cannot read ------------------------------------------------------
chmod 700 "$S"
rc 2 "nobody: list on a 0700 store" asnobody "$APPUSER" --store "$S" list
has "... says why" "appuser: list: .*(permission|Permission)" "$err"
chmod 755 "$S"

# --- creating a store where one may not -----------------------------------------------
rc 2 "nobody: create in a root-owned directory" asnobody "$APPUSER" --store "$T/new" create x3
has "... says why" "appuser: create: .*$T/new" "$err"
[ ! -e "$T/new" ] && ok "... creates nothing" || not_ok "... creates nothing"

# --- a private store owned by an ordinary user ------------------------------------------
mkdir "$T/mine" && chown 65534:65534 "$T/mine" && chmod 755 "$T/mine"
P=$T/mine/store
rc 0 "nobody: create in its own store" asnobody "$APPUSER" --store "$P" create own1
rc 0 "nobody: token create in its own store" asnobody "$APPUSER" --store "$P" token create own1
has "... prints the token" '^apu_[A-Za-z0-9]{48}$' "$out"
rc 0 "nobody: token list in its own store" asnobody "$APPUSER" --store "$P" token list
rc 0 "nobody: check its own store" asnobody "$APPUSER" --store "$P" check
rc 2 "root: writes to nobody's store are refused" "$APPUSER" --store "$P" create own2
has "... naming the owner" "writes need the store's owner \(uid 65534, normally root\)" "$err"
# as sshd's StrictModes: what a non-root user controls is not trusted by root
rc 2 "root: does not trust nobody's store" "$APPUSER" --store "$P" list
has "... and says why" "must be owned by root \(or you\)" "$err"

done_testing
