#!/usr/bin/python3
"""Stand-in syslog daemon for the tests (nslib.sh, and syslog_listen in
tests/lib.sh): binds a datagram socket
(bind-mounted on /dev/log inside the test's namespace) and appends every
message to a file, one per line, so the test can see what the modules,
sshd and sudo logged.  Usage: syslog_listener.py SOCKET FILE"""
import os
import socket
import sys

sock_path, out_path = sys.argv[1], sys.argv[2]
out = open(out_path, "ab", buffering=0)    # exists once the socket does
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sock_path + ".tmp")
os.chmod(sock_path + ".tmp", 0o666)
os.rename(sock_path + ".tmp", sock_path)   # appears only once bound
with out:
    while True:
        msg = s.recv(65536)
        out.write(msg.rstrip(b"\0\n") + b"\n")
