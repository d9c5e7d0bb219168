#!/usr/bin/python3
"""Shell transcripts in the docs, run for real and compared with what the
docs show (tests/t_docs_readme.sh, tests/t_docs_man.sh).

A transcript is a list of commands, each a line starting with "# " (root)
or "$ " (a user; run as root here too), continued by lines ending in "\\",
followed by the output the docs show for it.  Comparison ignores what
changes from run to run: token secrets and prefixes, ids of 6 digits or
more and pids, times (RFC 3339 and "just now", "in 30 days", "3 hours
ago"...), runs of blanks (table widths follow the content) and trailing
blanks.

  t_docs_blocks.py readme FILE         marked blocks of a Markdown file
                                        (a "<!-- doc-test -->" line before
                                        the fence) as JSON
  t_docs_blocks.py man FILE...          the EXAMPLES sections of man pages
                                        (.nf/.fi blocks) as JSON
  t_docs_blocks.py script BLOCKS OUT    a sh script that runs every command
                                        of BLOCKS in one shell, each one's
                                        stdout+stderr in OUT/N
  t_docs_blocks.py compare BLOCKS OUT [SYSLOG]
                                        TAP lines: one per block; a block
                                        marked "doc-test: syslog" holds
                                        lines SYSLOG must contain; with
                                        DOC_MUST_SUCCEED=1 every command
                                        must also exit 0

A prefix (apu_ and 12 characters) in a command stands for the token the
docs just made (./token, or $T); "$ cat FILE" followed by lines shows a
file the reader has written, so the script writes it first.
"""
import json
import os
import re
import sys


def transcript(lines, first):
    """[{cmd, want: [expected lines], where}] from the lines of a block
    whose first line is line number first of its file."""
    cmds = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith(("# ", "$ ")):
            where = "line %d" % (first + i)
            cmd = line[2:]
            while cmd.endswith("\\") and i + 1 < len(lines):
                i += 1
                cmd = cmd + "\n" + lines[i]
            cmds.append({"cmd": cmd, "want": [], "where": where})
        elif cmds:
            cmds[-1]["want"].append(line)
        i += 1
    return cmds


def readme_blocks(path):
    blocks = []
    with open(path) as f:
        lines = f.read().split("\n")
    i = 0
    while i < len(lines):
        if lines[i].strip().startswith("<!-- doc-test") and \
                i + 1 < len(lines) and lines[i + 1].startswith("```"):
            start = i + 2
            end = start
            while end < len(lines) and not lines[end].startswith("```"):
                end += 1
            name = "%s:%d" % (os.path.basename(path), start + 1)
            if "syslog" in lines[i]:
                blocks.append({"name": name, "cmds": [],
                               "syslog": lines[start:end]})
            else:
                blocks.append({"name": name,
                               "cmds": transcript(lines[start:end],
                                                  start + 1)})
            i = end
        i += 1
    return blocks


def man_text(roff):
    """The few escapes our EXAMPLES sections use, as a reader sees them."""
    s = roff
    for a, b in (("\\-", "-"), ("\\e", "\\"), ("\\(aq", "'"),
                 ("\\(dq", '"'), ("\\&", ""), ("\\(em", "--")):
        s = s.replace(a, b)
    return s


def man_blocks(paths):
    blocks = []
    for path in paths:
        with open(path) as f:
            lines = f.read().split("\n")
        in_ex = False
        block = None
        for n, line in enumerate(lines, 1):
            if line.startswith(".SH"):
                in_ex = line.strip() == ".SH EXAMPLES"
                continue
            if not in_ex:
                continue
            if line.startswith(".nf"):
                block = {"name": "%s:%d" % (os.path.basename(path), n + 1),
                         "lines": []}
            elif line.startswith(".fi") and block is not None:
                block["cmds"] = transcript(block.pop("lines"),
                                           block_start)
                if block["cmds"]:	# not a configuration snippet
                    blocks.append(block)
                block = None
            elif block is not None:
                if not block["lines"]:
                    block_start = n
                block["lines"].append(man_text(line))
    return blocks


def script(blocks, out):
    sh = ["exec </dev/null",
          # the public prefix of the token the docs last made: ./token, or
          # $T for the examples that keep it in a variable
          "doc_prefix() { { [ -n \"$T\" ] && printf '%s\\n' \"$T\" ||"
          " cat token; } 2>/dev/null | head -n 1 | cut -c1-16; }"]
    n = 0
    for b in blocks:
        for c in b["cmds"]:
            n += 1
            c["n"] = n
            cmd = c["cmd"]
            m = re.fullmatch(r"cat ([\w.-]+)", cmd)
            if m and c["want"]:
                # "$ cat FILE" shows a file the reader writes: write it
                sh.append("cat >%s <<'DOC_EOF'\n%s\nDOC_EOF" % (
                    m.group(1), "\n".join(c["want"]).rstrip("\n")))
            # a prefix in the docs stands for the one of the token the
            # docs just made
            cmd = re.sub(r"apu_[A-Za-z0-9]{12}\b", '"$(doc_prefix)"', cmd)
            sh.append("{\n%s\n} >%s/%d 2>&1; echo $? >%s/%d.rc" % (
                cmd, out, n, out, n))
    return "\n".join(sh) + "\n", blocks


TIME_RE = re.compile(
    r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ|just now|never|"
    r"in \d+ (second|minute|hour|day|week|year)s?|"
    r"\d+ (second|minute|hour|day|week|year)s? ago")


def norm(line):
    s = re.sub(r"apu_[A-Za-z0-9]{12}[A-Za-z0-9]{36}", "TOKEN", line)
    s = re.sub(r"apu_[A-Za-z0-9]{12}", "PREFIX", s)
    s = TIME_RE.sub("TIME", s)
    s = re.sub(r"in \d+\.\d+ s \(\d+ users/s\)", "in N s (N users/s)", s)
    s = re.sub(r"\b\d{6,}\b", "ID", s)
    s = re.sub(r"\[\d+\]", "[PID]", s)
    s = re.sub(r"[ \t]+", " ", s).rstrip()
    return s


def compare(blocks, out, syslog=None, must_succeed=False):
    res = []
    logged = []
    if syslog is not None:
        with open(syslog, errors="replace") as f:
            logged = [norm(x) for x in f.read().split("\n")]
    for b in blocks:
        diffs = []
        if "syslog" in b:
            # each line shown, minus its program name, was logged
            for line in b["syslog"]:
                msg = norm(line.split(": ", 1)[-1])
                if syslog is not None and \
                        not any(msg in x for x in logged):
                    diffs.append("not in syslog: %s" % line)
            res.append((b["name"], len(b["syslog"]), diffs))
            continue
        for c in b["cmds"]:
            try:
                with open("%s/%d" % (out, c["n"]), errors="replace") as f:
                    got = f.read().split("\n")
            except OSError:
                got = ["(did not run)"]
            want = [norm(x) for x in c["want"]]
            got = [norm(x) for x in got]
            while want and want[-1] == "":
                want.pop()
            while got and got[-1] == "":
                got.pop()
            if must_succeed:
                try:
                    with open("%s/%d.rc" % (out, c["n"])) as f:
                        rc = f.read().strip()
                except OSError:
                    rc = "none"
                if rc != "0":
                    diffs.append("%s: %s\n  exit status %s" % (
                        c["where"], c["cmd"], rc))
            if want != got:
                diffs.append("%s: %s\n  docs show:\n%s\n  it printed:\n%s" % (
                    c["where"], c["cmd"],
                    "\n".join("    | " + x for x in want),
                    "\n".join("    | " + x for x in got)))
        res.append((b["name"], len(b["cmds"]), diffs))
    return res


def main():
    what = sys.argv[1]
    if what == "readme":
        json.dump(readme_blocks(sys.argv[2]), sys.stdout)
    elif what == "man":
        json.dump(man_blocks(sys.argv[2:]), sys.stdout)
    elif what == "script":
        with open(sys.argv[2]) as f:
            blocks = json.load(f)
        text, blocks = script(blocks, sys.argv[3])
        with open(sys.argv[2], "w") as f:
            json.dump(blocks, f)
        sys.stdout.write(text)
    elif what == "compare":
        with open(sys.argv[2]) as f:
            blocks = json.load(f)
        syslog = sys.argv[4] if len(sys.argv) > 4 and sys.argv[4] else None
        must = os.environ.get("DOC_MUST_SUCCEED") == "1"
        for name, n, diffs in compare(blocks, sys.argv[3], syslog, must):
            if diffs:
                print("not ok - %s: %d commands, output differs from the "
                      "docs" % (name, n))
                for d in diffs:
                    print("\n".join("#   " + x for x in d.split("\n")))
            else:
                print("ok - %s: %d commands print what the docs show"
                      % (name, n))
    else:
        sys.exit("usage: see the top of this file")


if __name__ == "__main__":
    main()
