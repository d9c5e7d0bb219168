#!/bin/sh
# The appuser CLI as a user runs it: every command, --json output, --help,
# and every error path with its exact exit status.  The store lives in a
# fresh temporary directory.  See also t_cli_perm.sh (non-owners),
# t_cli_syslog.sh (logging, secrets) and t_cli_crash.sh (kill -9).
. "$(dirname "$0")/lib.sh"

T=$(mktemp -d) || exit 2
trap 'rm -rf "$T"' EXIT
S=$T/store

# py NAME CODE: run python on $out as JSON (variable j), CODE asserts
py() {
	if _o=$(printf '%s' "$out" | python3 -c "import json,sys
j = json.load(sys.stdin)
$2" 2>&1); then ok "$1"; else not_ok "$1" "$_o"; fi
}
snapshot() { au --json list >"$T/users.$1" 2>&1; au --json token list >"$T/tokens.$1" 2>&1; }
unchanged() { # NAME: nothing changed since `snapshot before`
	snapshot after
	if cmp -s "$T/users.before" "$T/users.after" &&
	    cmp -s "$T/tokens.before" "$T/tokens.after"; then ok "$1"
	else not_ok "$1" "$(diff "$T/users.before" "$T/users.after"; diff "$T/tokens.before" "$T/tokens.after")"; fi
}

need_built "$APPUSER"

# --- help and usage --------------------------------------------------------
rc 0 "--help" "$APPUSER" --help
has "--help lists the commands" "token create NAME" "$out"
rc 0 "help" "$APPUSER" help
rc 0 "--version" "$APPUSER" --version
has "--version prints it" '^appuser [0-9]+\.[0-9]+' "$out"
for c in create delete list show "admin grant" "admin revoke" "token create" \
    "token list" "token revoke" "config show" "config set" check import help; do
	# shellcheck disable=SC2086
	rc 0 "$c --help" "$APPUSER" $c --help
	has "$c --help shows its usage" "^usage: appuser $c" "$out"
	# shellcheck disable=SC2086
	rc 0 "help $c" "$APPUSER" help $c
	has "help $c shows its usage" "^usage: appuser $c" "$out"
done
rc 0 "token --help (group)" "$APPUSER" token --help
has "group help lists subcommands" "token revoke" "$out"
rc 0 "help token (group)" "$APPUSER" help token
rc 2 "no command" "$APPUSER"
rc 2 "unknown command" "$APPUSER" frobnicate
has "unknown command is named" "unknown command 'frobnicate'" "$err"
rc 2 "unknown subcommand" "$APPUSER" token frob
rc 2 "missing subcommand" "$APPUSER" token
rc 2 "help for an unknown command" "$APPUSER" help frob
rc 2 "unknown global option" "$APPUSER" --bogus list
rc 2 "unknown command option" au create x --bogus
has "unknown option is named" "unknown option '--bogus'" "$err"
rc 2 "unknown short option" au create -x y
rc 2 "missing argument" au create
has "missing argument shows the usage" "usage: appuser create NAME" "$err"
rc 2 "option without its value" au create x --description
rc 2 "extra argument" au list extra
rc 2 "token revoke without prefix" au token revoke x
rc 2 "token revoke with prefix and --all" au token revoke x apu_AAAAAAAAAAAA --all
rc 2 "relative --store" "$APPUSER" --store rel list
rc 2 "config set: unknown setting" au config set colour blue
[ ! -e "$S" ] && ok "usage errors create no store" || not_ok "usage errors create no store"

# --- a missing store ----------------------------------------------------------
rc 0 "list on a missing store" au list
[ -z "$out" ] && ok "... prints nothing on stdout" || not_ok "... prints nothing" "$out"
rc 0 "list --json on a missing store" au --json list
py "... prints []" 'assert j == [], j'
rc 1 "show on a missing store" au show nobody1
rc 0 "token list on a missing store" au --json token list
py "... prints []" 'assert j == [], j'
rc 2 "config show on a missing store" au config show
has "... says there is no store" "no store at $S" "$err"
rc 2 "check on a missing store" au check
[ ! -e "$S" ] && ok "reads create no store" || not_ok "reads create no store"

# --- create, list, show -------------------------------------------------------
rc 0 "create" au create ci-bot --description "CI bot" --shell /bin/bash --home /srv/ci
has "create reports the uid" "^created user ci-bot \(uid 19[0-9]{8}, gid 19[0-9]{8}\)$" "$out"
rc 0 "create --json (options after the name)" au create deploy --json --description "déploiement"
py "create --json gives the user" '
assert j["name"] == "deploy" and j["uid"] == j["gid"] and j["uid"] >= 1900000001, j
assert j["description"] == "déploiement" and j["home"] == "/nonexistent" and j["shell"] == "/bin/sh", j
assert j["admin"] is False and j["create_time"].endswith("Z"), j'
rc 0 "list" au list
has "list has a header" "^NAME +UID +GID +ADMIN +CREATED +DESCRIPTION$" "$out"
has "list shows ci-bot" "^ci-bot +19[0-9]{8} +19[0-9]{8} +no +just now +CI bot$" "$out"
rc 0 "list --json" au --json list
py "list --json has every field" '
assert [u["name"] for u in j] == ["ci-bot", "deploy"], j
u = j[0]
assert set(u) == {"name","uid","gid","description","home","shell","admin","create_time"}, u
assert u["home"] == "/srv/ci" and u["shell"] == "/bin/bash" and u["description"] == "CI bot", u
import re; assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", u["create_time"]), u'
rc 0 "list via APPUSER_STORE" env APPUSER_STORE="$S" "$APPUSER" --json list
py "APPUSER_STORE is honoured" 'assert len(j) == 2, j'
rc 0 "show" au show ci-bot
has "show: name" "^name: +ci-bot$" "$out"
has "show: shell" "^shell: +/bin/bash$" "$out"
has "show: active tokens (owner)" "^active tokens: +0$" "$out"
rc 0 "show --json" au show ci-bot --json
py "show --json" 'assert j["name"] == "ci-bot" and j["active_tokens"] == 0, j'

# --- create: refusals -----------------------------------------------------------
snapshot before
rc 1 "duplicate name" au create ci-bot
has "duplicate says why" "user 'ci-bot' already exists" "$err"
rc 1 "host user root" au create root
has "root is refused as a host name" "name 'root' is already used on this host by a user" "$err"
rc 1 "host user daemon" au create daemon
host_group=$(getent group | cut -d: -f1 | while read -r g; do getent passwd "$g" >/dev/null || { echo "$g"; break; }; done)
if [ -n "$host_group" ] && printf '%s' "$host_group" | grep -Eq '^[a-z_][a-z0-9_.-]*$'; then
	rc 1 "host group $host_group (no such user)" au create "$host_group"
	has "... named as a group" "by a group" "$err"
else
	skip "host group name" "no group without a user of the same name"
fi
rc 2 "invalid name (upper case)" au create Root
has "invalid name explained" "name 'Root' is not a valid name \(1-32 characters" "$err"
rc 2 "invalid name (digits)" au create 1234
rc 2 "invalid name (slash)" au create "a/b"
rc 2 "invalid name (too long)" au create abcdefghijklmnopqrstuvwxyz0123456
rc 2 "invalid description (colon)" au create x1 --description "a:b"
rc 2 "invalid shell (relative)" au create x1 --shell bin/sh
rc 2 "invalid home (..)" au create x1 --home /srv/../etc
unchanged "refused creates changed nothing"

# --- token create ---------------------------------------------------------------
rc 0 "token create" au token create ci-bot --description "deploys" --max-age 30d \
    --extend-when-used --allow-from "10.0.0.0/8,2001:db8::/32,local" --scope sshd,sudo
TOK=$out
[ "$(printf '%s\n' "$out" | wc -l)" -eq 1 ] && ok "token create prints one line" ||
    not_ok "token create prints one line" "$out"
has "the line is the token" '^apu_[A-Za-z0-9]{48}$' "$out"
PREFIX=$(printf '%s' "$TOK" | cut -c1-16)
has "stderr says it is shown once" "token $PREFIX created for ci-bot; it is shown only once" "$err"
rc 0 "token create in \$( )" sh -c "T=\$('$APPUSER' --store '$S' token create deploy 2>/dev/null) && test \${#T} -eq 52"
rc 0 "token create --json" au --json token create deploy --max-age 90m
py "token create --json" '
import re
assert re.fullmatch(r"apu_[A-Za-z0-9]{48}", j["token"]), j
assert j["prefix"] == j["token"][:16] and j["user"] == "deploy", j
assert j["max_age_seconds"] == 5400 and j["extend_when_used"] is False, j
assert j["status"] == "active" and j["revoked"] is False and j["last_used_time"] is None, j'
TOK2_PREFIX=$(printf '%s' "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["prefix"])')
for d in 600 600s 90m 12h 30d 2w 1y; do
	rc 0 "duration $d" au token create deploy --max-age "$d"
done
snapshot before
rc 2 "extend-when-used without max-age" au token create ci-bot --extend-when-used
has "... says why" "needs --max-age" "$err"
rc 2 "invalid duration" au token create ci-bot --max-age 10x
has "... names the duration" "max-age '10x' is not a valid duration" "$err"
rc 2 "zero duration" au token create ci-bot --max-age 0
rc 2 "negative duration" au token create ci-bot --max-age -5
rc 2 "duration over 100 years" au token create ci-bot --max-age 101y
rc 2 "CIDR with host bits" au token create ci-bot --allow-from 10.0.0.1/8
has "... names the list" "allow-from '10.0.0.1/8' is not valid" "$err"
rc 2 "not an address" au token create ci-bot --allow-from example.com
rc 2 "prefix length too long" au token create ci-bot --allow-from 10.0.0.0/33
rc 2 "invalid scope" au token create ci-bot --scope 'ssh!d'
# an empty variable must not silently lift a restriction
rc 2 "--scope '' refused" au token create ci-bot --scope ''
has "... says it is empty" "--scope is empty: give at least one PAM service" "$err"
[ -z "$out" ] && ok "... prints no token" || not_ok "... prints no token" "$out"
rc 2 "--allow-from '' refused" au token create ci-bot --allow-from ''
has "... says it is empty" "--allow-from is empty: give at least one address" "$err"
rc 2 "--scope ' , ' refused" au token create ci-bot --scope ' , '
rc 2 "--allow-from=, refused" au token create ci-bot --allow-from=,
rc 2 "invalid token description" au token create ci-bot --description "$(printf 'a\tb')"
rc 2 "token for an invalid name" au token create Bad
rc 1 "token for an unknown user" au token create nobody1
has "... says who" "no application user 'nobody1'" "$err"
[ -z "$out" ] && ok "... prints no token" || not_ok "... prints no token" "$out"
( au token create ci-bot >&- 2>"$T/err" ); _rc=$?
[ $_rc -eq 2 ] && grep -q "standard output is closed" "$T/err" && ok "token create with stdout closed is refused" ||
    not_ok "token create with stdout closed is refused" "exit $_rc: $(cat "$T/err")"
unchanged "refused token creates changed nothing"
( au create closed-fds >&- 2>&- <&- ); _rc=$?
[ $_rc -eq 0 ] && [ ! -s "$S/lock" ] && ok "closed standard fds do not land in store files" ||
    not_ok "closed standard fds do not land in store files" "exit $_rc, lock: $(wc -c <"$S/lock")"
rc 0 "... and the user is whole" au delete closed-fds

# --- token list ---------------------------------------------------------------
rc 0 "token list" au token list
has "token list header" "^PREFIX +USER +DESCRIPTION +CREATED +EXPIRES +LAST USED +LAST FROM +STATUS$" "$out"
has "token list row" "^$PREFIX +ci-bot +deploys +just now +in (29|30) days +never +- +active$" "$out"
rc 0 "token list NAME --json" au token list ci-bot --json
py "token list --json fields" '
assert len(j) == 1, j
t = j[0]
want = {"prefix","user","description","create_time","max_age_seconds","extend_when_used",
        "expiry_time","allow_from","scope","last_used_time","last_ip","last_service",
        "revoked","revoke_time","status"}
assert set(t) == want, set(t) ^ want
assert t["prefix"] == "'"$PREFIX"'" and t["user"] == "ci-bot" and t["description"] == "deploys", t
assert t["max_age_seconds"] == 30 * 86400 and t["extend_when_used"] is True, t
assert t["allow_from"] == ["10.0.0.0/8", "2001:db8::/32", "local"], t
assert t["scope"] == ["sshd", "sudo"], t
assert t["expiry_time"].endswith("Z") and t["revoke_time"] is None and t["last_ip"] is None, t
assert t["status"] == "active", t'
rc 0 "token list (all) --json" au --json token list
py "token list shows every user's tokens" '
assert {t["user"] for t in j} == {"ci-bot", "deploy"} and len(j) == 10, len(j)'
rc 1 "token list of an unknown user" au token list nobody1
rc 2 "token list of an invalid name" au token list "x y"
rc 0 "show counts active tokens" au show deploy
has "... 9 active" "^active tokens: +9$" "$out"

# --- token revoke ---------------------------------------------------------------
rc 1 "revoke an unknown prefix" au token revoke ci-bot apu_AAAAAAAAAAAA
has "... says so" "ci-bot has no token apu_AAAAAAAAAAAA" "$err"
rc 1 "revoke another user's token" au token revoke ci-bot "$TOK2_PREFIX"
rc 1 "revoke for an unknown user" au token revoke nobody1 "$PREFIX"
rc 2 "revoke a malformed prefix" au token revoke ci-bot apu_short
rc 2 "revoke with an invalid name" au token revoke Bad "$PREFIX"
rc 0 "revoke by prefix" au token revoke ci-bot "$PREFIX"
has "... confirms" "token $PREFIX of ci-bot revoked" "$out"
rc 0 "revoke again (no change)" au token revoke ci-bot "$PREFIX"
has "... says already" "already revoked" "$out"
rc 0 "revoke by bare id" au token revoke ci-bot "$(printf '%s' "$PREFIX" | cut -c5-)"
rc 0 "revoked token is listed as revoked" au --json token list ci-bot
py "... with a revoke time" '
assert j[0]["status"] == "revoked" and j[0]["revoked"] is True and j[0]["revoke_time"].endswith("Z"), j'
rc 0 "revoke by the whole token" au --json token revoke deploy "$TOK2_PREFIX"
py "revoke --json lists it" 'assert j == {"user": "deploy", "revoked": ["'"$TOK2_PREFIX"'"]}, j'
rc 0 "revoke --all" au --json token revoke deploy --all
py "revoke --all lists the 8 live ones" 'assert len(j["revoked"]) == 8, j'
rc 0 "revoke --all again" au token revoke deploy --all
has "... revokes none" "^revoked 0 tokens of deploy$" "$out"
rc 1 "revoke --all for an unknown user" au token revoke nobody1 --all
rc 0 "all of deploy's tokens are revoked" au --json token list deploy
py "... status revoked" 'assert len(j) == 9 and all(t["status"] == "revoked" for t in j), j'

# --- admin ---------------------------------------------------------------------------
rc 0 "admin grant" au admin grant ci-bot
has "... confirms" "^ci-bot is now an admin$" "$out"
rc 0 "admin grant again" au admin grant ci-bot
has "... already" "^ci-bot is already an admin$" "$out"
rc 0 "admin shows in list --json" au --json list
py "... admin true" 'assert [u["admin"] for u in j] == [True, False], j'
rc 0 "config show lists admins" au --json config show
py "... admins" 'assert j["admins"] == ["ci-bot"] and j["admin_group"] == "appuser-admins", j'
rc 0 "admin revoke" au admin revoke ci-bot
has "... confirms" "^ci-bot is no longer an admin$" "$out"
rc 0 "admin revoke again" au --json admin revoke ci-bot
py "... unchanged" 'assert j == {"user": "ci-bot", "admin": False, "changed": False}, j'
rc 1 "admin grant unknown user" au admin grant nobody1
rc 1 "admin revoke unknown user" au admin revoke nobody1
rc 2 "admin grant invalid name" au admin grant "-x"

# --- config -----------------------------------------------------------------------
rc 0 "config show" au config show
has "config show: range" "^uid range: +1900000000-1999999999$" "$out"
has "config show: group" "^admin group: +appuser-admins \(gid 1900000000\)$" "$out"
has "config show: users" "^users: +2$" "$out"
rc 0 "config show --json" au --json config show
py "config show --json" '
assert j["uid_min"] == 1900000000 and j["uid_max"] == 1999999999 and j["users"] == 2, j
assert j["store"] == "'"$S"'" and j["generation"] >= 1, j'
rc 2 "invalid range" au config set uid-range 100
rc 2 "range with 0" au config set uid-range 0-100
rc 2 "range min > max" au config set uid-range 200-100
rc 1 "range that leaves users out" au config set uid-range 1900000000-1900000001
has "... says why" "would be outside .*the range must hold every existing uid" "$err"
rc 1 "range that leaves the admin gid out" au config set uid-range 1900000001-1999999999
rc 2 "range below the system floor" au config set uid-range 500-600000
has "... says why" "ids below 1000 are the system's" "$err"
rc 1 "admin group named like a host user" au config set admin-group daemon
rc 1 "admin group named like an app user" au config set admin-group deploy
rc 2 "admin group invalid name" au config set admin-group "Bad Name"
rc 0 "admin group renamed" au config set admin-group ops
rc 0 "... shows" au --json config show
py "... new name" 'assert j["admin_group"] == "ops", j'
rc 1 "user named like the admin group" au create ops
L=$T/low
rc 0 "fresh store: range full of host ids" "$APPUSER" --store "$L" config set uid-range 65533-1900000000
rc 0 "create in a range full of host ids" "$APPUSER" --store "$L" --json create lowid
uid=$(printf '%s' "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["uid"])')
if [ -n "$uid" ] && [ "$uid" -gt 65533 ] && ! getent passwd "$uid" >/dev/null &&
    ! getent group "$uid" >/dev/null; then ok "... skipped every id the host uses ($uid)"
else not_ok "... skipped every id the host uses" "uid $uid"; fi
printf '{"name": "ok1"}\n{"name": "ok2", "uid": 65534}\n' >"$T/bad.jsonl"
rc 1 "import: a fixed id the host uses" "$APPUSER" --store "$L" import "$T/bad.jsonl"
has "... names the line and the account" "line 2: id 65534 is already used on this host by user nobody" "$err"
rc 1 "... imported nothing" "$APPUSER" --store "$L" show ok1
rc 0 "narrow range" au config set uid-range 1899999999-1900000002
rc 1 "range exhausted" au create full1
has "... says so" "no free id left in the range" "$err"
rc 0 "restore range" au config set uid-range 1900000000-1999999999
rc 0 "config set --json" au --json config set uid-range 1900000000-1999999999
py "... prints the settings" 'assert j == {"uid_min": 1900000000, "uid_max": 1999999999, "admin_group": "ops", "admin_gid": 1900000000}, j'
rc 0 "config set admin-group --json" au --json config set admin-group ops
py "... prints the settings" 'assert j["admin_group"] == "ops" and j["admin_gid"] == 1900000000, j'

# moving the range: the admin group follows while it has no member
M=$T/move
rc 0 "fresh store: move the range" "$APPUSER" --store "$M" config set uid-range 3000000-3999999
has "... the admin group moved with it" "^uid range is now 3000000-3999999 \(admin group appuser-admins: gid 3000000\)$" "$out"
rc 0 "... user gets an id of the new range" "$APPUSER" --store "$M" --json create mv1
py "... uid 3000001" 'assert j["uid"] == 3000001, j'
rc 0 "move again with a user but no admin" "$APPUSER" --store "$M" config set uid-range 2000000-3999999
rc 0 "... still the admin gid" "$APPUSER" --store "$M" --json config show
py "... gid unchanged when inside" 'assert j["admin_gid"] == 3000000, j'
rc 1 "first id taken by a user: refused" "$APPUSER" --store "$M" config set uid-range 3000001-3999999
has "... says which id and what to do" "gid 3000001, which is an application user's uid; choose a range whose first id is free" "$err"
rc 0 "grant admin" "$APPUSER" --store "$M" admin grant mv1
rc 1 "admin group with a member cannot move" "$APPUSER" --store "$M" config set uid-range 3000001-3999999
has "... says what to do" "keeps its gid 3000000 while it has members \(mv1\): choose a range that contains 3000000, or run 'appuser admin revoke NAME'" "$err"
rc 0 "... check is clean" "$APPUSER" --store "$M" check
N=$T/none
rc 1 "fresh store: first id the host uses: refused" "$APPUSER" --store "$N" config set uid-range 65534-70000
has "... names the host's account" "gid 65534, but id 65534 is already used on this host" "$err"
[ ! -e "$N" ] && ok "... and left no store directory behind" ||
    not_ok "... left no store directory behind" "$(ls -la "$N")"
rc 1 "fresh store: admin group named like a host group: refused" "$APPUSER" --store "$N" config set admin-group daemon
[ ! -e "$N" ] && ok "... and left no store directory behind" ||
    not_ok "... left no store directory behind" "$(ls -la "$N")"
rc 1 "fresh store: range and admin group, the name a host group's: refused" "$APPUSER" --store "$N" config set uid-range 3000000-3999999 admin-group daemon
has "... says the name clashes" "admin group's name 'daemon' is already used on this host" "$err"
[ ! -e "$N" ] && ok "... and left no store directory behind" ||
    not_ok "... left no store directory behind" "$(ls -la "$N")"

# config set: both settings in one command and one transaction
rc 2 "config set: a setting without a value" au config set uid-range 1-2 admin-group
has "... says so" "setting 'admin-group' without a value" "$err"
rc 2 "config set: a setting given twice" au config set admin-group a1 admin-group a2
has "... says so" "setting 'admin-group' given twice" "$err"
rc 2 "config set: an unknown second setting" au config set admin-group a1 colour blue
P=$T/pair
rc 0 "fresh store: uid-range and admin-group at once" "$APPUSER" --store "$P" config set admin-group pairadm uid-range 3000000-3999999
has "... prints the range" "^uid range is now 3000000-3999999 \(admin group pairadm: gid 3000000\)$" "$out"
has "... and the group" "^admin group is now pairadm \(gid 3000000\)$" "$out"
rc 0 "... --json, both again" "$APPUSER" --store "$P" --json config set uid-range 3000000-3999999 admin-group pairadm2
py "... one object with both" 'assert j == {"uid_min": 3000000, "uid_max": 3999999, "admin_group": "pairadm2", "admin_gid": 3000000}, j'
rc 1 "both, the group named like a host account: refused" "$APPUSER" --store "$P" config set uid-range 2000000-3999999 admin-group daemon
rc 0 "... config show" "$APPUSER" --store "$P" --json config show
py "... the range did not change either" 'assert j["uid_min"] == 3000000 and j["admin_group"] == "pairadm2", j'

# --- import ---------------------------------------------------------------------------
cat >"$T/imp.jsonl" <<'EOF'
{"name": "imp1", "description": "first", "shell": "/bin/bash", "home": "/srv/imp1"}

{"name": "imp2", "admin": true}
{"name": "imp3", "uid": 1950000000, "description": null}
EOF
rc 0 "import" au import "$T/imp.jsonl"
has "import reports users/s" "^appuser: imported 3 users in [0-9.]+ s \([0-9]+ users/s\)$" "$err"
has "import says what it did on stdout" "^imported 3 users$" "$out"
rc 0 "imported users are there" au --json list
py "... with their fields" '
u = {x["name"]: x for x in j}
assert u["imp1"]["shell"] == "/bin/bash" and u["imp1"]["home"] == "/srv/imp1", u["imp1"]
assert u["imp2"]["admin"] is True and u["imp3"]["uid"] == 1950000000, u'
printf '{"name": "imp4"}\n{"name": "imp5"}\n' | au import - >"$T/out" 2>"$T/err"
[ $? -eq 0 ] && ok "import from stdin" || not_ok "import from stdin" "$(cat "$T/err")"
rc 0 "... imported" au show imp5
rc 0 "import --json" sh -c "printf '{\"name\": \"imp6\"}\n' | '$APPUSER' --store '$S' --json import -"
py "... reports" 'assert j["imported"] == 1 and j["users_per_second"] >= 0, j'
snapshot before
bad_import() { # NAME WANT-RC LINE-PATTERN LINES...
	bi_name=$1 bi_rc=$2 bi_pat=$3; shift 3
	printf '%s\n' "$@" >"$T/bad.jsonl"
	rc "$bi_rc" "import: $bi_name" au import "$T/bad.jsonl"
	has "... names the line" "$bi_pat" "$err"
	has "... imports nothing" "nothing was imported" "$err"
}
bad_import "not JSON" 2 "line 2: not valid JSON" '{"name": "ok1"}' '{"name": '
bad_import "not an object" 2 "line 2: not a JSON object" '{"name": "ok1"}' '["x"]'
bad_import "unknown field" 2 "line 3: unknown field 'colour'" '{"name": "ok1"}' '' '{"name": "ok2", "colour": "red"}'
bad_import "wrong type" 2 "line 2: field 'name' must be a string" '{"name": "ok1"}' '{"name": 5}'
bad_import "admin not bool" 2 "line 1: field 'admin' must be true or false" '{"name": "ok1", "admin": "yes"}'
bad_import "uid not int" 2 "line 2: field 'uid' must be an integer" '{"name": "ok1"}' '{"name": "ok2", "uid": "7"}'
bad_import "missing name" 2 "line 2: missing field 'name'" '{"name": "ok1"}' '{"shell": "/bin/sh"}'
bad_import "invalid name" 2 "line 2: name 'OK2' is not a valid name" '{"name": "ok1"}' '{"name": "OK2"}'
bad_import "invalid shell" 2 "line 2: shell 'sh' is not valid" '{"name": "ok1"}' '{"name": "ok2", "shell": "sh"}'
bad_import "duplicate key" 2 "line 1: not valid JSON" '{"name": "ok1", "name": "ok2"}'
bad_import "duplicate in file" 1 "line 3: user 'ok1' already exists" '{"name": "ok1"}' '{"name": "ok2"}' '{"name": "ok1"}'
bad_import "existing user" 1 "line 2: user 'ci-bot' already exists" '{"name": "ok1"}' '{"name": "ci-bot"}'
bad_import "host name" 1 "line 2: name 'daemon' is already used on this host" '{"name": "ok1"}' '{"name": "daemon"}'
bad_import "id outside the range" 1 "line 2: id 1000 is outside the store's range" '{"name": "ok1"}' '{"name": "ok2", "uid": 1000}'
bad_import "taken id" 1 "line 2: .*1950000000.* already taken" '{"name": "ok1"}' '{"name": "ok2", "uid": 1950000000}'
rc 2 "import: missing file" au import "$T/nonexistent.jsonl"
has "... names it" "cannot open $T/nonexistent.jsonl" "$err"
unchanged "failed imports changed nothing"

# --- delete -----------------------------------------------------------------------------
DTOK=$(au token create imp1 2>/dev/null)
rc 0 "delete" au delete imp1
has "... confirms with the token count" "^deleted user imp1 \(uid [0-9]+\) and its 1 token$" "$out"
rc 1 "show deleted user" au show imp1
rc 1 "delete again" au delete imp1
has "... says so" "no application user 'imp1'" "$err"
rc 2 "delete invalid name" au delete "Bad"
rc 0 "deleted user's tokens are gone" au --json token list
py "... none left for imp1" 'assert not [t for t in j if t["user"] == "imp1"], j'
rc 0 "a new user of the same name has no tokens" au create imp1
rc 0 "... token list" au --json token list imp1
py "... empty" 'assert j == [], j'
[ -n "$DTOK" ] && ok "delete test had a token" || not_ok "delete test had a token"

# --- a writer that never lets go -----------------------------------------------
# (issue 8: every appuser command finishes; a busy store says who holds it)
out=$(python3 - "$S/lock" "$APPUSER" "$S" <<'EOF'
import fcntl, os, subprocess, sys, time
fd = os.open(sys.argv[1], os.O_RDWR)
fcntl.lockf(fd, fcntl.LOCK_EX)
t = time.monotonic()
p = subprocess.run([sys.argv[2], "--store", sys.argv[3], "create", "busy1"],
                   capture_output=True, text=True)
print(p.returncode, round(time.monotonic() - t, 1), os.getpid())
print(p.stderr.strip())
EOF
)
set -- $out
if [ "$1" = 2 ] && [ "${2%.*}" -lt 8 ]; then ok "a held writer lock: exit 2 after ${2}s"
else not_ok "a held writer lock: exit 2 within the deadline" "$out"; fi
has "... says the store is busy and who holds it" "store is busy.*\(held by pid $3\)" "$out"
rc 1 "... and changed nothing" au show busy1

# --- check ----------------------------------------------------------------------
rc 0 "check" au check
has "check says OK" "^store $S: OK, [0-9]+ users, [0-9]+ tokens$" "$out"
rc 0 "check --json" au --json check
py "check --json" 'assert j["ok"] is True and j["problems"] == [] and j["users"] >= 8, j'
C=$T/corrupt
mkdir "$C" && "$APPUSER" --store "$C" create c1 >/dev/null 2>&1 &&
    "$APPUSER" --store "$C" create c2 >/dev/null 2>&1
# put back an older identity pair, as a writer killed before publishing
# leaves it (the master has c3, the published pair does not)
mkdir "$T/old" && cp -p "$C/identity.snap" "$C/identity.delta" "$T/old/"
"$APPUSER" --store "$C" create c3 >/dev/null 2>&1
cp -p "$T/old/identity.snap" "$T/old/identity.delta" "$C/"
if grep -q c3 "$C/identity.snap" "$C/identity.delta"; then
	not_ok "a lagging pair lacks the last user"
else ok "a lagging pair lacks the last user"; fi
rc 0 "check republishes a lagging pair" "$APPUSER" --store "$C" check
if grep -q c3 "$C/identity.snap" "$C/identity.delta"; then
	ok "... and the last user is published again"
else not_ok "... and the last user is published again"; fi
# damage a user record in the master: its name no longer matches its key
python3 - "$C/store.tdb" <<'EOF'
import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
i = b.find(b"\x00\x03c2\x00")
assert i > 0
b[i + 3] = ord("9")
open(p, "wb").write(b)
EOF
rc 1 "check finds a damaged record" "$APPUSER" --store "$C" check
has "... and prints the problem" "c2" "$out"
has "... and the count" "problems? found" "$out"
rc 1 "check --json on a damaged store" "$APPUSER" --store "$C" --json check
py "... lists the problems" 'assert j["ok"] is False and len(j["problems"]) >= 1, j'

# --- the man page -----------------------------------------------------------------
if command -v groff >/dev/null; then
	w=$(groff -man -ww -z "$TOP/man/appuser.8" 2>&1)
	[ -z "$w" ] && ok "man page: groff -ww finds nothing" || not_ok "man page: groff warnings" "$w"
else
	skip "man page: groff" "groff not installed"
fi
if command -v man >/dev/null; then
	w=$(MANWIDTH=80 man --warnings -l "$TOP/man/appuser.8" 2>&1 >/dev/null)
	[ -z "$w" ] && ok "man page: man --warnings finds nothing" || not_ok "man page: man warnings" "$w"
	for sec in NAME SYNOPSIS DESCRIPTION COMMANDS OPTIONS TOKENS "JSON OUTPUT" "EXIT STATUS" \
	    ENVIRONMENT FILES SECURITY EXAMPLES "SEE ALSO"; do
		grep -q "^\.SH \"*$sec\"*\$" "$TOP/man/appuser.8" && ok "man page has $sec" ||
		    not_ok "man page has $sec"
	done
else
	skip "man page: man" "man-db not installed"
fi

# --- a refused command creates no store -------------------------------------------
E=$T/empty
for cmd in "delete x" "admin grant x" "admin revoke x" "token create x" \
    "token revoke x --all" "show x" "token list x"; do
	# shellcheck disable=SC2086
	rc 1 "no store: $cmd refused" "$APPUSER" --store "$E" $cmd
	has "... no such user" "no application user 'x'" "$err"
	[ ! -e "$E" ] && ok "... and no store created" ||
	    { not_ok "... and no store created" "$(ls -la "$E")"; rm -rf "$E"; }
done

# --- scopes: libpam lowercases services; su covers su-l ---------------------------
P=$T/scope
"$APPUSER" --store "$P" create sc-bot >/dev/null 2>&1
rc 0 "token create --scope SSHD,Su" "$APPUSER" --store "$P" --json token create sc-bot --scope SSHD,Su,sshd
py "... stored lowercased, once each" 'assert j["scope"] == ["sshd", "su"], j["scope"]'
rc 0 "token create --help names the usual services" "$APPUSER" token create --help
has "... sshd, sudo, su, login, cron" "sshd, sudo, su, login \(console\)," "$out"
has "... and the su-l rule" "su covers su-l" "$out"

# --- every command honours --json (or has no output) ------------------------------
J=$T/json
for cmd in "create jb" "admin grant jb" "admin revoke jb" "show jb" "list" \
    "token list" "token revoke jb --all" "config show" \
    "config set uid-range 1900000000-1999999999" "config set admin-group jadm" \
    "check" "delete jb"; do
	# shellcheck disable=SC2086
	rc 0 "--json $cmd" "$APPUSER" --store "$J" --json $cmd
	py "... prints JSON on stdout" 'assert j is not None'
done
printf '{"name": "jimp"}\n' >"$T/j.jsonl"
rc 0 "--json import" "$APPUSER" --store "$J" --json import "$T/j.jsonl"
py "... prints JSON on stdout" 'assert j["imported"] == 1, j'

done_testing
