#!/usr/bin/python3
"""Runs a command on a new pseudo-terminal and, when it prints the prompt,
types the first line of SECRETFILE (su reads its password from the
terminal, not from stdin).  The secret travels only through the pty and is
scrubbed from what we print, should anything echo it.
Exit status: the command's; 124 on timeout.
Usage: pty_answer.py [--prompt TEXT] [--max N] SECRETFILE -- COMMAND..."""
import os
import pty
import select
import sys
import termios
import time

args = sys.argv[1:]
prompt, max_answers, timeout = b":", 1, 30.0
while args and args[0] in ("--prompt", "--max"):
    if args[0] == "--prompt":
        prompt = args[1].encode()
    else:
        max_answers = int(args[1])
    args = args[2:]
secret_file, cmd = args[0], args[2:]
with open(secret_file, "rb") as f:
    secret = f.readline().rstrip(b"\n")


def wait_echo_off(fd, limit=5.0):
    """The program prints its prompt, then turns echo off with TCSAFLUSH,
    which throws away input typed before: answer only once echo is off."""
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if not termios.tcgetattr(fd)[3] & termios.ECHO:
            return
        time.sleep(0.01)


pid, fd = pty.fork()
if pid == 0:
    try:
        os.execvp(cmd[0], cmd)
    finally:
        os._exit(127)

out, tail, answers, status = b"", b"", 0, None
deadline = time.monotonic() + timeout
while True:
    if time.monotonic() > deadline:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        status = 124 << 8
        break
    r, _, _ = select.select([fd], [], [], 0.2)
    if r:
        try:
            data = os.read(fd, 4096)
        except OSError:
            data = b""
        if data:
            out += data
            tail += data
            if answers < max_answers and tail.rstrip().endswith(prompt):
                wait_echo_off(fd)
                os.write(fd, secret + b"\n")
                answers += 1
                tail = b""
            continue
    p, st = os.waitpid(pid, os.WNOHANG)
    if p == pid:
        status = st
        break
    if r:   # EOF on the pty but not reaped yet
        _, status = os.waitpid(pid, 0)
        break

if secret:
    out = out.replace(secret, b"<secret>")
sys.stdout.write(out.decode(errors="replace"))
sys.stdout.flush()
sys.exit(os.waitstatus_to_exitcode(status))
