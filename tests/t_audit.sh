#!/bin/sh
# appuser audit and appuser metrics on stores built to hold each kind of
# finding: the exact codes, severities, users and prefixes, the exit
# statuses (--fail-on), a clean store (exit 0, no output), the JSON, and
# metrics in Prometheus text format (checked line by line, against the
# audit, and scraped by the real node_exporter when it is installed),
# written to a file by a rename.  Token rotation: t_rotate.sh.
. "$(dirname "$0")/lib.sh"

T=$(mktemp -d) || exit 2
trap 'rm -rf "$T"' EXIT
need_built "$APPUSER"

# tok USER ARGS...: a token for USER (the secret into $T/secrets), its prefix
tok() {
	_u=$1; shift
	_t=$(au token create "$_u" "$@" 2>/dev/null) || return 1
	printf '%s\n' "$_t" | cut -c17- >>"$T/secrets"
	printf '%s\n' "$_t" | cut -c1-16
}
# findings ARGS...: audit's lines without their messages, in $out; rc in $arc
findings() {
	au audit "$@" >"$T/out" 2>"$T/err"; arc=$?
	out=$(cut -d' ' -f1-4 "$T/out") err=$(cat "$T/err")
}
# py NAME CODE: run python on $out as JSON (variable j), CODE asserts
py() {
	if _o=$(printf '%s' "$out" | python3 -c "import json,sys
j = json.load(sys.stdin)
$2" 2>&1); then ok "$1"; else not_ok "$1" "$_o"; fi
}

# --- usage --------------------------------------------------------------------
S=$T/none
for c in audit metrics; do
	rc 0 "$c --help" au $c --help
	has "$c --help shows its usage" "^usage: appuser $c" "$out"
done
rc 0 "audit --help lists every code" au audit --help
for code in admin-token-unrestricted token-no-expiry token-unrestricted \
    token-unused many-admins token-too-long user-no-active-token \
    token-expiring; do
	has "... $code" "$code" "$out"
done
rc 2 "audit: extra argument" au audit extra
rc 2 "audit: --fail-on bogus" au audit --fail-on bogus
has "... says what it takes" "give high, medium, low or info" "$err"
rc 2 "audit: --unused 0" au audit --unused 0
has "... names the option" "--unused '0' is not a valid duration" "$err"
rc 2 "audit: --max-age 3x" au audit --max-age 3x
rc 2 "audit: --expiring without a value" au audit --expiring
rc 2 "metrics: extra argument" au metrics extra
rc 2 "metrics: --output ''" au metrics --output ''
[ ! -e "$S" ] && ok "usage errors create no store" || not_ok "usage errors create no store"

# --- no store, then a clean store: exit 0, nothing printed ----------------------
rc 0 "audit on a missing store" au audit
is "... prints nothing" "" "$out$err"
rc 0 "metrics on a missing store" au metrics
has "... zero users" "^appuser_users 0$" "$out"
[ ! -e "$S" ] && ok "reports create no store" || not_ok "reports create no store"

S=$T/clean
check "clean store: four users" sh -c "'$APPUSER' --store '$S' create ann &&
    '$APPUSER' --store '$S' create bea && '$APPUSER' --store '$S' create cid &&
    '$APPUSER' --store '$S' create dan && '$APPUSER' --store '$S' admin grant ann"
tok ann --max-age 30d --scope sudo >/dev/null &&
    tok bea --max-age 365d --allow-from 10.0.0.0/8 >/dev/null &&
    tok cid --max-age 15d --scope sshd --extend-when-used >/dev/null &&
    tok dan --max-age 90d --scope sshd --allow-from local >/dev/null
ok "clean store: one restricted, expiring token each"
rc 0 "clean store: audit exits 0" au audit
is "... and prints nothing at all" "" "$out$err"
rc 0 "clean store: audit --fail-on info exits 0" au audit --fail-on info
rc 0 "clean store: audit --json" au --json audit
is "... prints []" "[]" "$out"
# one admin of four is a quarter, not more than a quarter
au create eve >/dev/null 2>&1 && au admin grant eve >/dev/null 2>&1 &&
    tok eve --max-age 30d --scope sudo >/dev/null
findings
is "two admins of five: many-admins (medium), exit 1" \
    "medium many-admins - -" "$out" "$err"
is "... exit 1" 1 "$arc"

# --- every kind of finding --------------------------------------------------------
S=$T/bad
for u in boss ops bot idle gone old; do
	au create $u >/dev/null 2>&1 || not_ok "create $u"
done
au admin grant boss >/dev/null && au admin grant ops >/dev/null
P_BOSS=$(tok boss)				# admin, unrestricted, no expiry
P_OPS=$(tok ops --max-age 30d --scope sudo)	# admin, fine
P_SOON=$(tok bot --max-age 10d --allow-from 10.0.0.0/8)	# expiring
P_LONG=$(tok bot --max-age 2y --scope sshd)	# too long
P_OPEN=$(tok bot --max-age 30d)			# unrestricted
P_GONE=$(tok gone --max-age 30d --scope sshd)
au token revoke gone "$P_GONE" >/dev/null
P_OLD=$(tok old --max-age 1 --scope sshd)
ok "store with every kind of finding (prefixes $P_BOSS $P_SOON $P_LONG $P_OPEN)"
sleep 2					# old's token expires
findings
is "default audit: every finding, most severe first" \
"high admin-token-unrestricted boss $P_BOSS
medium many-admins - -
medium token-no-expiry boss $P_BOSS
medium token-unrestricted bot $P_OPEN
low token-too-long bot $P_LONG
low user-no-active-token gone -
low user-no-active-token idle -
low user-no-active-token old -
info token-expiring bot $P_SOON" "$out" "$err"
is "... exit 1 (medium and above, by default)" 1 "$arc"
is "... nothing on stderr" "" "$err"
all=$(cat "$T/out")
has "message: too long, with both ages" \
    "^low token-too-long bot $P_LONG maximum age 730d is longer than 365d$" "$all"
has "message: expiring, with the time and the command that rotates it" \
    "^info token-expiring bot $P_SOON expires in 9 days \([0-9T:Z-]+\): rotate it if it is still in use: appuser token rotate bot $P_SOON$" "$all"
has "message: many-admins counts them" "^medium many-admins - - 2 of 6 users are admins" "$all"
if grep -qF -f "$T/secrets" "$T/out"; then not_ok "no token secret in the audit"
else ok "no token secret in the audit"; fi
hasnt "nothing about the revoked or the expired token" "$P_GONE|$P_OLD" "$all"

findings --fail-on high
is "--fail-on high: exit 1 (a high finding)" 1 "$arc"
findings --max-age 800d --expiring 5d
hasnt "--max-age 800d: no token-too-long" "token-too-long" "$out"
hasnt "--expiring 5d: no token-expiring" "token-expiring" "$out"
findings --expiring 30d
has "--expiring 30d: the 30-day tokens too" "info token-expiring ops $P_OPS" "$out"
has "... and bot's" "info token-expiring bot $P_OPEN" "$out"
findings --unused 1
# (one user's findings of one code come in the order of their ids)
is "--unused 1 (all made more than 1 s ago, none used): token-unused for each active one" \
"$(printf 'medium token-unused %s\n' "boss $P_BOSS" "bot $P_SOON" "bot $P_LONG" \
    "bot $P_OPEN" "ops $P_OPS" | sort)" \
    "$(printf '%s\n' "$out" | grep token-unused | sort)"
has "... never used, with the age" \
    "^medium token-unused ops $P_OPS never used, created (just now|[0-9]+ seconds ago) \(not within 1s\): revoke it if nothing uses it$" \
    "$(cat "$T/out")"

rc 1 "audit --json" au --json audit
py "--json: objects with severity, code, user, prefix (null: user and store findings), message" "
assert len(j) == 9, j
for f in j:
    assert set(f) == {'severity', 'code', 'user', 'prefix', 'message'}, f
    assert f['message'], f
m = [f for f in j if f['code'] == 'many-admins'][0]
assert m['user'] is None and m['prefix'] is None and m['severity'] == 'medium', m
u = [f for f in j if f['code'] == 'user-no-active-token']
assert [f['user'] for f in u] == ['gone', 'idle', 'old'], u
assert all(f['prefix'] is None and f['severity'] == 'low' for f in u), u
h = j[0]
assert (h['severity'], h['code'], h['user'], h['prefix']) == ('high', 'admin-token-unrestricted', 'boss', '$P_BOSS'), h"

# only low and info left: exit 0 by default, 1 from --fail-on low
au token revoke boss "$P_BOSS" >/dev/null
au token revoke bot "$P_OPEN" >/dev/null
au admin revoke ops >/dev/null
findings
is "low and info only: listed (by user within a severity)" \
"low user-no-active-token boss -
low token-too-long bot $P_LONG
low user-no-active-token gone -
low user-no-active-token idle -
low user-no-active-token old -
info token-expiring bot $P_SOON" "$out" "$err"
is "... exit 0 (below medium)" 0 "$arc"
findings --fail-on low
is "... --fail-on low: exit 1" 1 "$arc"
findings --fail-on info
is "... --fail-on info: exit 1" 1 "$arc"
findings --fail-on high
is "... --fail-on high: exit 0" 0 "$arc"

# --- metrics ----------------------------------------------------------------------
# promcheck FILE: the text format, strictly (what node_exporter's parser
# wants), and the figures as JSON on stdout
cat >"$T/promcheck.py" <<'EOF'
import json, re, sys
name = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
sample = re.compile(r"(%s)(\{(%s=\"(?:[^\"\\\n]|\\.)*\")(,%s=\"(?:[^\"\\\n]|\\.)*\")*\})? (-?[0-9]+)$"
                    % (name, name, name))
typed, helped, series, seen, fams = {}, set(), {}, set(), []
for n, line in enumerate(open(sys.argv[1]).read().split("\n")[:-1], 1):
    if line.startswith("# HELP "):
        f = line.split(" ")[2]
        assert f not in helped, "line %d: HELP twice" % n
        helped.add(f)
    elif line.startswith("# TYPE "):
        _, _, f, t = line.split(" ")
        assert t == "gauge" and f not in typed and f in helped, "line %d" % n
        typed[f] = True
        fams.append(f)
    else:
        m = sample.match(line)
        assert m, "line %d is not a sample: %r" % (n, line)
        f = m.group(1)
        assert f == fams[-1], "line %d: sample of %s outside its family" % (n, f)
        key = line.rsplit(" ", 1)[0]
        assert key not in seen, "line %d: series twice" % n
        seen.add(key)
        series[key] = int(line.rsplit(" ", 1)[1])
print(json.dumps(series))
EOF
rc 0 "metrics" au metrics
printf '%s\n' "$out" >"$T/m.prom"
if v=$(python3 "$T/promcheck.py" "$T/m.prom" 2>&1); then
	ok "metrics: valid text format (HELP, TYPE, then samples; no series twice)"
else
	not_ok "metrics: valid text format" "$v"
fi
out=$v
py "metrics: users, admins, tokens by status" '
assert j["appuser_users"] == 6 and j["appuser_admins"] == 1, j
assert j["appuser_tokens{status=\"active\"}"] == 3, j
assert j["appuser_tokens{status=\"expired\"}"] == 1, j
assert j["appuser_tokens{status=\"revoked\"}"] == 3, j'
py "metrics: findings by code match the audit" '
f = {k.split("\"")[1]: v for k, v in j.items() if k.startswith("appuser_audit_findings")}
assert len(f) == 8, f
assert f == {"admin-token-unrestricted": 0, "token-no-expiry": 0,
  "token-unrestricted": 0, "token-unused": 0, "many-admins": 0,
  "token-too-long": 1, "user-no-active-token": 4, "token-expiring": 1}, f
assert "appuser_audit_findings{code=\"token-too-long\",severity=\"low\"}" in j'
py "metrics: per active token (user, prefix) creation and expiry; no sample for never" "
exp = {k: v for k, v in j.items() if k.startswith('appuser_token_expiry')}
assert sorted(exp) == sorted('appuser_token_expiry_timestamp_seconds{user=\"%s\",prefix=\"%s\"}' % p
    for p in [('bot', '$P_SOON'), ('bot', '$P_LONG'), ('ops', '$P_OPS')]), exp
import time
soon = exp['appuser_token_expiry_timestamp_seconds{user=\"bot\",prefix=\"$P_SOON\"}']
assert abs(soon - time.time() - 10 * 86400) < 120, soon
c = [k for k in j if k.startswith('appuser_token_created')]
assert len(c) == 3, c
assert not [k for k in j if k.startswith('appuser_token_last_used')], j"
if grep -qF -f "$T/secrets" "$T/m.prom" || grep -Eq 'apu_[A-Za-z0-9]{13}' "$T/m.prom"
then not_ok "metrics: no token secret"
else ok "metrics: no token secret, no more than a prefix"; fi
rc 0 "metrics --json" au --json metrics
py "metrics --json: the same figures" '
assert j["users"] == 6 and j["admins"] == 1, j
assert j["tokens"] == {"active": 3, "expired": 1, "revoked": 3}, j
assert {f["code"]: f["count"] for f in j["findings"]}["user-no-active-token"] == 4, j
assert len(j["active_tokens"]) == 3 and all(set(t) == {"user", "prefix",
  "create_time", "expiry_time", "last_used_time"} for t in j["active_tokens"]), j'

# --output: a rename into place, 0644; an existing file keeps group and mode
D=$T/textfile
mkdir "$D"
rc 0 "metrics --output" au metrics --output "$D/appuser.prom"
is "... prints nothing" "" "$out$err"
cmp -s "$D/appuser.prom" "$T/m.prom" && ok "... the file holds what stdout showed" ||
    not_ok "... the file holds the metrics" "$(diff "$T/m.prom" "$D/appuser.prom")"
is "... mode 0644" 644 "$(stat -c %a "$D/appuser.prom")"
is "... no temporary file left" "appuser.prom" "$(ls -A "$D")"
ino=$(stat -c %i "$D/appuser.prom")
chmod 0640 "$D/appuser.prom"
if is_root; then chgrp nogroup "$D/appuser.prom"; fi
want=$(stat -c %a:%G "$D/appuser.prom")
rc 0 "metrics --output over an existing file" au metrics --output "$D/appuser.prom"
is "... keeps its mode and group ($want)" "$want" "$(stat -c %a:%G "$D/appuser.prom")"
[ "$(stat -c %i "$D/appuser.prom")" != "$ino" ] && ok "... replaced by a rename (new inode)" ||
    not_ok "... replaced by a rename" "same inode $ino"
rc 2 "metrics --output into a missing directory" au metrics --output "$T/nodir/x.prom"
has "... says why" "cannot write $T/nodir/x.prom: No such file or directory" "$err"
rc 2 "metrics --output naming a directory" au metrics --output "$D/"
is "... nothing left behind" "appuser.prom" "$(ls -A "$D")"

# the real consumer: node_exporter's textfile collector reads the file
NE=$(command -v prometheus-node-exporter || command -v node_exporter)
if [ -z "$NE" ] || ! command -v curl >/dev/null 2>&1; then
	skip "node_exporter reads the file" "prometheus-node-exporter or curl not installed"
else
	chmod 0644 "$D/appuser.prom"
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	"$NE" --collector.disable-defaults --collector.textfile \
	    --collector.textfile.directory="$D" \
	    --web.listen-address="127.0.0.1:$port" >"$T/ne.log" 2>&1 &
	ne=$!
	for _ in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
		curl -sf "http://127.0.0.1:$port/metrics" >"$T/scrape" 2>/dev/null && break
		sleep 0.25
	done
	kill "$ne" 2>/dev/null; wait "$ne" 2>/dev/null
	if grep -q '^node_textfile_scrape_error 0$' "$T/scrape" &&
	    grep -q '^appuser_users 6$' "$T/scrape" &&
	    grep -q "^appuser_token_expiry_timestamp_seconds{prefix=\"$P_SOON\",user=\"bot\"} " "$T/scrape"
	then ok "node_exporter reads the file: no scrape error, appuser_* served"
	else not_ok "node_exporter reads the file" "$(grep -E 'appuser_users|textfile' "$T/scrape"; cat "$T/ne.log" | tail -5)"; fi
fi

# --- who may run them ---------------------------------------------------------------
if is_root && command -v setpriv >/dev/null; then
	chmod 755 "$T"
	cp "$APPUSER" "$T/appuser" && chmod 0755 "$T/appuser"
	for c in audit metrics; do
		rc 2 "nobody: $c is refused" setpriv --reuid=65534 --regid=65534 \
		    --clear-groups "$T/appuser" --store "$S" $c
		has "... token data is root's" "$c: $S: token data is readable only by the store's owner \(uid 0, normally root\); run with sudo" "$err"
	done
	chmod 700 "$T"
else
	skip "non-owners are refused" "needs root and setpriv to run as nobody"
fi
done_testing
