#!/bin/sh
# make coverage, after the suite ran on the --coverage build: gcovr's line
# and branch figures per directory as one table, the per-file report in
# BUILD/coverage.txt.  Only the shipped code counts (libappuser, admin and
# the two modules), not the tests.  Usage: tests/coverage.sh BUILD
cd "$(dirname "$0")/.." || exit 2
b=$1
command -v gcovr >/dev/null || { echo "coverage: gcovr not installed (make deps)"; exit 2; }
# one gcov pass over everything, kept as JSON; the table reads from it
gcovr -r . --object-directory "$b" --json "$b/coverage.json" \
    --filter 'libappuser/' --filter 'admin/' --filter 'pam_appuser/' \
    --filter 'nss_appuser/' --exclude-unreachable-branches \
    --gcov-ignore-parse-errors 2>"$b/gcovr.err" || {
	cat "$b/gcovr.err"; exit 2; }
gcovr -a "$b/coverage.json" --branches >"$b/coverage-branches.txt"
gcovr -a "$b/coverage.json" >"$b/coverage.txt"
python3 - "$b/coverage.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
tot = {}
for f in d["files"]:
    top = f["file"].split("/")[0]
    t = tot.setdefault(top, [0, 0, 0, 0])
    for l in f["lines"]:
        if l.get("gcovr/noncode"):
            continue
        t[1] += 1
        t[0] += l["count"] > 0
        for br in l.get("branches", []):
            t[3] += 1
            t[2] += br["count"] > 0
def pct(a, b):
    return "%5.1f%%" % (100.0 * a / b) if b else "    -"
print("%-14s %8s %14s %8s %14s" % ("directory", "lines", "", "branches", ""))
all_ = [0, 0, 0, 0]
for top in sorted(tot):
    t = tot[top]
    all_ = [x + y for x, y in zip(all_, t)]
    print("%-14s %8s %6d/%-7d %8s %6d/%-7d" % (top + "/", pct(t[0], t[1]),
          t[0], t[1], pct(t[2], t[3]), t[2], t[3]))
t = all_
print("%-14s %8s %6d/%-7d %8s %6d/%-7d" % ("total", pct(t[0], t[1]), t[0],
      t[1], pct(t[2], t[3]), t[2], t[3]))
PY
echo "per file: $b/coverage.txt (lines), $b/coverage-branches.txt (branches)"
