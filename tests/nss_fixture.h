/*
 * The fixture the NSS module tests share (tests/test_nss_*.c): each loads
 * build/test-nss/libnss_appuser.so.2 (the test build, which reads
 * APPUSER_STORE) with dlopen and calls its entry points as glibc does.  Stores are built with the library, always in a fresh process (as
 * `appuser` would: the test program runs itself with --write), in a
 * temporary directory.  Scenarios that need another store or a fresh
 * process state run in a forked child too (the module notices the fork and
 * reopens, reading APPUSER_STORE again).
 *
 * The shared store (nss_fx_setup): alice (admin, all fields set), bob (the
 * defaults), NAME32 (the longest name, description and home) and host1$.
 *
 * Each test program is built alone, so the helpers here are static inline:
 * a program that does not use one gets no copy and no -Wunused-function.
 * A program's main ends in nss_fx_run(): nss_fx_main() first, then its
 * tests with nss_fx_setup and nss_fx_teardown.
 *
 * NSS_TEST_SLOW=1 (set by the valgrind run) shortens the stress loops and
 * skips timing assertions.
 */
#ifndef APPUSER_TESTS_NSS_FIXTURE_H
#define APPUSER_TESTS_NSS_FIXTURE_H

#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <nss.h>
#include <pthread.h>
#include <pwd.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <tdb.h>

#include "appuser.h"
#include "fsutil.h"
#include "record.h"
#include "snapfile.h"
#include "store.h"


#define MODULE_DEFAULT	"build/test-nss/libnss_appuser.so.2"	/* reads APPUSER_STORE */
#define RANGE_MIN	1900000000u
#define RANGE_MAX	1900009999u
#define UID_ALICE	1900000100u
#define UID_BOB		1900000101u
#define UID_LONG	1900000102u
#define UID_MACH	1900000103u
#define ADMINS		"appuser-admins"
#define NAME32		"abcdefghijklmnopqrstuvwxyz_01234"	/* 32 bytes */
#define NAME33		NAME32 "5"
#define SENTINEL	12345

/*
 * call, an entry point given &err, must ask for a bigger buffer:
 * TRYAGAIN with err ERANGE, the one pair glibc grows the buffer on.  err
 * is set to SENTINEL first, so an entry point that leaves it fails.
 */
#define assert_erange(err, call) do {					\
	(err) = SENTINEL;						\
	assert_int_equal((call), NSS_STATUS_TRYAGAIN);			\
	assert_int_equal((err), ERANGE);				\
} while (0)

typedef enum nss_status (*pwnam_fn)(const char *, struct passwd *, char *,
    size_t, int *);
typedef enum nss_status (*pwuid_fn)(uid_t, struct passwd *, char *, size_t,
    int *);
typedef enum nss_status (*pwent_fn)(struct passwd *, char *, size_t, int *);
typedef enum nss_status (*grnam_fn)(const char *, struct group *, char *,
    size_t, int *);
typedef enum nss_status (*grgid_fn)(gid_t, struct group *, char *, size_t,
    int *);
typedef enum nss_status (*grent_fn)(struct group *, char *, size_t, int *);
typedef enum nss_status (*setent_fn)(int);
typedef enum nss_status (*endent_fn)(void);
typedef enum nss_status (*initgr_fn)(const char *, gid_t, long int *,
    long int *, gid_t **, long int, int *);

static struct {
	void		*h;
	pwnam_fn	 getpwnam_r;
	pwuid_fn	 getpwuid_r;
	setent_fn	 setpwent;
	pwent_fn	 getpwent_r;
	endent_fn	 endpwent;
	grnam_fn	 getgrnam_r;
	grgid_fn	 getgrgid_r;
	setent_fn	 setgrent;
	grent_fn	 getgrent_r;
	endent_fn	 endgrent;
	initgr_fn	 initgroups_dyn;
} M;

static char g_tmp[64];		/* mkdtemp, 0755 */
static char g_store[PATH_MAX];	/* the shared fixture store */
static gid_t g_admin_gid;
static bool g_slow;
static char g_self[PATH_MAX];	/* this program, to run the writer */

static char g_long_desc[APPUSER_TEXT_MAX + 1];
static char g_long_home[APPUSER_PATH_MAX + 1];

/* ---------------------------------------------------------------------- */
/* Writing stores from a child process. */

enum { OP_ADD, OP_DEL, OP_ADMIN, OP_UNADMIN, OP_RANGE };
struct op {
	int		 kind;
	const char	*name;
	uint32_t	 uid;		/* OP_ADD (0: allocate); OP_RANGE min */
	const char	*desc;
	const char	*home;
	const char	*shell;
	uint32_t	 max;		/* OP_RANGE */
};

static inline int
apply_op(struct store *st, const struct op *o)
{
	struct user u;

	switch (o->kind) {
	case OP_ADD:
		memset(&u, 0, sizeof(u));
		u.name = o->name;
		u.uid = o->uid;
		u.description = o->desc;
		u.home = o->home;
		u.shell = o->shell;
		return store_user_add(st, &u, NULL);
	case OP_DEL:
		return store_user_delete(st, o->name);
	case OP_ADMIN:
	case OP_UNADMIN:
		return store_user_set_admin(st, o->name, o->kind == OP_ADMIN);
	case OP_RANGE:
		return store_set_range(st, o->uid, o->max);
	}
	return APPUSER_ERR_INTERNAL;
}

#define NULL_ARG	"\x1f"	/* NULL through argv (never a valid field) */

static inline const char *
arg_out(const char *s)
{
	return s == NULL ? NULL_ARG : s;
}

static inline const char *
arg_in(const char *s)
{
	return strcmp(s, NULL_ARG) == 0 ? NULL : s;
}

/*
 * The writer: `test_nss_* --write DIR OP...` applies the ops in one
 * transaction, in a fresh process as `appuser` would (a forked copy of
 * this process would share its open tdb handles: tdb refuses a second
 * open of one file in one process).
 */
static inline int
writer_main(int argc, char **argv)
{
	struct store *st = NULL;
	struct op o;
	int i = 1, r;

	if ((r = store_open(argv[0], STORE_WRITE, &st)) != 0 ||
	    (r = store_begin(st)) != 0)
		goto out;
	while (r == 0 && i + 7 <= argc) {
		memset(&o, 0, sizeof(o));
		o.kind = atoi(argv[i]);
		o.name = arg_in(argv[i + 1]);
		o.uid = strtoul(argv[i + 2], NULL, 10);
		o.desc = arg_in(argv[i + 3]);
		o.home = arg_in(argv[i + 4]);
		o.shell = arg_in(argv[i + 5]);
		o.max = strtoul(argv[i + 6], NULL, 10);
		i += 7;
		r = apply_op(st, &o);
	}
	if (r == 0)
		r = store_commit(st);
	else
		store_cancel(st);
 out:
	if (r != 0)
		fprintf(stderr, "# writer %s: %s\n", argv[0],
		    appuser_strerror(r));
	store_close(st);
	return r == 0 ? 0 : -r;
}

/* The ops in one transaction, in a child; returns 0 or the failing code. */
static inline int
write_store(const char *dir, const struct op *ops, size_t n)
{
	char **argv, num[3][16 * 64];
	size_t i, k = 0;
	pid_t pid;
	int status;

	if (n > 64 || (argv = calloc(3 + 7 * n + 1, sizeof(*argv))) == NULL)
		return APPUSER_ERR_INVALID;
	argv[k++] = g_self;
	argv[k++] = "--write";
	argv[k++] = (char *)dir;
	for (i = 0; i < n; i++) {
		snprintf(num[0] + 16 * i, 16, "%d", ops[i].kind);
		snprintf(num[1] + 16 * i, 16, "%lu", (unsigned long)ops[i].uid);
		snprintf(num[2] + 16 * i, 16, "%lu", (unsigned long)ops[i].max);
		argv[k++] = num[0] + 16 * i;
		argv[k++] = (char *)arg_out(ops[i].name);
		argv[k++] = num[1] + 16 * i;
		argv[k++] = (char *)arg_out(ops[i].desc);
		argv[k++] = (char *)arg_out(ops[i].home);
		argv[k++] = (char *)arg_out(ops[i].shell);
		argv[k++] = num[2] + 16 * i;
	}
	if ((pid = fork()) == 0) {
		execv(g_self, argv);
		_exit(127);
	}
	free(argv);
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return APPUSER_ERR_SYSTEM;
	return -WEXITSTATUS(status);
}

static inline int
write1(const char *dir, int kind, const char *name, uint32_t uid)
{
	struct op o = { .kind = kind, .name = name, .uid = uid };

	return write_store(dir, &o, 1);
}

/* A fresh store in dir (created, 0755) with alice (admin) and bob. */
static inline int
make_small_store(const char *dir)
{
	struct op ops[] = {
		{ OP_RANGE, NULL, RANGE_MIN, NULL, NULL, NULL, RANGE_MAX },
		{ OP_ADD, "alice", UID_ALICE, "Alice bot", "/srv/alice",
		    "/bin/bash", 0 },
		{ OP_ADD, "bob", UID_BOB, NULL, NULL, NULL, 0 },
		{ OP_ADMIN, "alice", 0, NULL, NULL, NULL, 0 },
	};

	if (mkdir(dir, 0755) != 0 && errno != EEXIST)
		return APPUSER_ERR_SYSTEM;
	return write_store(dir, ops, sizeof(ops) / sizeof(ops[0]));
}

static inline void
subdir(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", g_tmp, name);
}

static inline int
identity_path(char *buf, size_t len, const char *dir)
{
	int n = snprintf(buf, len, "%s/%s", dir, APPUSER_IDENTITY_FILE);

	return n > 0 && (size_t)n < len ? 0 : -1;
}

/* ---------------------------------------------------------------------- */
/* Helpers. */

static inline bool
inside(const void *p, const char *buf, size_t len)
{
	const char *c = p;

	return c >= buf && c < buf + len;
}

static inline bool
str_inside(const char *s, const char *buf, size_t len)
{
	return inside(s, buf, len) && strlen(s) < (size_t)(buf + len - s);
}

static inline size_t
passwd_need(const char *name, const char *gecos, const char *home,
    const char *shell)
{
	return strlen(name) + 1 + 2 + strlen(gecos) + 1 + strlen(home) + 1 +
	    strlen(shell) + 1;
}

/* Exact need of a group packed at an 8-aligned address. */
static inline size_t
group_need(const char *name, const char *const *mem, size_t nmem)
{
	size_t i, need = (nmem + 1) * sizeof(char *) + strlen(name) + 1 + 2;

	for (i = 0; i < nmem; i++)
		need += strlen(mem[i]) + 1;
	return need;
}

static inline enum nss_status
pwnam(const char *name, struct passwd *pw, int *err)
{
	static char buf[8192];

	*err = SENTINEL;
	return M.getpwnam_r(name, pw, buf, sizeof(buf), err);
}

static inline enum nss_status
grnam(const char *name, struct group *gr, int *err)
{
	static char buf[8192];

	*err = SENTINEL;
	return M.getgrnam_r(name, gr, buf, sizeof(buf), err);
}

static inline size_t
count_mem(const struct group *gr)
{
	size_t n = 0;

	while (gr->gr_mem[n] != NULL)
		n++;
	return n;
}

/* Supplementary groups initgroups_dyn adds for user (primary excluded). */
static inline enum nss_status
initgr(const char *user, gid_t primary, gid_t *out, long int *nout,
    long int limit)
{
	long int start = 1, size = 1, i;
	gid_t *groups = malloc(sizeof(gid_t));
	enum nss_status s;
	int err = SENTINEL;

	if (groups == NULL)
		return NSS_STATUS_UNAVAIL;
	groups[0] = primary;
	s = M.initgroups_dyn(user, primary, &start, &size, &groups, limit,
	    &err);
	*nout = 0;
	for (i = 1; i < start; i++)
		out[(*nout)++] = groups[i];
	free(groups);
	return s;
}

/* Child checks: report and exit non-zero without cmocka's longjmp. */
#define CHECK(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "# %s:%d: check failed: %s\n", __FILE__, \
		    __LINE__, #cond); \
		_exit(1); \
	} \
} while (0)

typedef void (*child_fn)(void *arg);

/*
 * make coverage: a child that leaves with _exit never writes the counts of
 * the module it loaded (each shared object has its own gcov runtime, run at
 * exit), so there children leave with exit, stdio flushed before the fork.
 */
#ifdef APPUSER_COVERAGE
#define child_exit(s)	exit(s)
#else
#define child_exit(s)	_exit(s)
#endif

/* Run fn in a forked child (which must _exit(0) on success). */
static inline int
run_child(child_fn fn, void *arg)
{
	pid_t pid;
	int status;

	fflush(NULL);
	if ((pid = fork()) < 0)
		return -1;
	if (pid == 0) {
		alarm(120);	/* a deadlock fails instead of hanging */
		fn(arg);
		child_exit(0);
	}
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	if (WIFSIGNALED(status)) {
		fprintf(stderr, "# child killed by signal %d\n",
		    WTERMSIG(status));
		return 128 + WTERMSIG(status);
	}
	return WEXITSTATUS(status);
}

/*
 * A fresh small store (make_small_store) in g_tmp/name, and fn run in a
 * forked child with that directory as its argument; asserts both.
 */
static inline void
run_child_in_store(child_fn fn, const char *name)
{
	char dir[PATH_MAX];

	subdir(dir, sizeof(dir), name);
	assert_int_equal(make_small_store(dir), 0);
	assert_int_equal(run_child(fn, dir), 0);
}

/* Names an enumeration returned. */
struct namelist {
	char	names[64][APPUSER_NAME_MAX + 1];
	gid_t	ids[64];
	size_t	n;
};

static inline size_t
find_name(const struct namelist *l, const char *name)
{
	size_t i;

	for (i = 0; i < l->n; i++) {
		if (strcmp(l->names[i], name) == 0)
			return i;
	}
	return SIZE_MAX;
}

/* ---------------------------------------------------------------------- */
/* Setup. */

#define SYM(f) do { \
	*(void **)&M.f = dlsym(M.h, "_nss_appuser_" #f); \
	if (M.f == NULL) { \
		fprintf(stderr, "# missing _nss_appuser_%s\n", #f); \
		return -1; \
	} \
} while (0)

static inline int
load_module(void)
{
	const char *so = getenv("NSS_APPUSER_SO");

	if ((M.h = dlopen(so != NULL ? so : MODULE_DEFAULT,
	    RTLD_NOW | RTLD_LOCAL)) == NULL) {
		fprintf(stderr, "# dlopen: %s\n", dlerror());
		return -1;
	}
	SYM(getpwnam_r);
	SYM(getpwuid_r);
	SYM(setpwent);
	SYM(getpwent_r);
	SYM(endpwent);
	SYM(getgrnam_r);
	SYM(getgrgid_r);
	SYM(setgrent);
	SYM(getgrent_r);
	SYM(endgrent);
	SYM(initgroups_dyn);
	return 0;
}

static inline int
nss_fx_setup(void **state)
{
	struct op ops[] = {
		{ OP_RANGE, NULL, RANGE_MIN, NULL, NULL, NULL, RANGE_MAX },
		{ OP_ADD, "alice", UID_ALICE, "Alice bot", "/srv/alice",
		    "/bin/bash", 0 },
		{ OP_ADD, "bob", UID_BOB, NULL, NULL, NULL, 0 },
		{ OP_ADD, NAME32, UID_LONG, g_long_desc, g_long_home,
		    "/usr/bin/nologin", 0 },
		{ OP_ADD, "host1$", UID_MACH, "", "/", "/bin/false", 0 },
		{ OP_ADMIN, "alice", 0, NULL, NULL, NULL, 0 },
	};
	struct group gr;
	size_t i;
	int err;

	(void)state;
	g_slow = getenv("NSS_TEST_SLOW") != NULL;
	for (i = 0; i < APPUSER_TEXT_MAX; i++)
		g_long_desc[i] = "Descriptive text, Unicode-free "[i % 31];
	g_long_home[0] = '/';
	for (i = 1; i < APPUSER_PATH_MAX; i++)
		g_long_home[i] = i % 64 == 0 ? '/' : 'h';
	snprintf(g_tmp, sizeof(g_tmp), "/tmp/test_nss.XXXXXX");
	if (mkdtemp(g_tmp) == NULL || chmod(g_tmp, 0755) != 0)
		return -1;
	subdir(g_store, sizeof(g_store), "store");
	if (mkdir(g_store, 0755) != 0)
		return -1;
	if (write_store(g_store, ops, sizeof(ops) / sizeof(ops[0])) != 0)
		return -1;
	if (setenv(APPUSER_STORE_ENV, g_store, 1) != 0 || load_module() != 0)
		return -1;
	if (grnam(ADMINS, &gr, &err) != NSS_STATUS_SUCCESS) {
		fprintf(stderr, "# admin group not found (err %d)\n", err);
		return -1;
	}
	g_admin_gid = gr.gr_gid;
	return 0;
}

static inline int
nss_fx_teardown(void **state)
{
	(void)state;
	if (M.h != NULL)
		dlclose(M.h);
	if (g_tmp[0] != '\0' && getenv("NSS_TEST_KEEP") == NULL) {
		char cmd[PATH_MAX + 16];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_tmp);
		if (system(cmd) != 0)
			return -1;
	}
	return 0;
}

/*
 * The start of each program's main: serves `--write` (the writer) and
 * resolves the program's own path.  Returns true when main must return
 * *rp now.
 */
static inline bool
nss_fx_main(int argc, char **argv, int *rp)
{
	ssize_t n;

	if (argc > 2 && strcmp(argv[1], "--write") == 0) {
		*rp = writer_main(argc - 2, argv + 2);
		return true;
	}
	/* resolved now: under valgrind the kernel's /proc/self/exe is the
	 * tool, the syscall wrapper gives this program */
	if ((n = readlink("/proc/self/exe", g_self, sizeof(g_self) - 1)) <= 0) {
		*rp = 2;
		return true;
	}
	g_self[n] = '\0';
	alarm(300);	/* a deadlock (fork vs. locks) fails the run, not hangs it */
	return false;
}

/* nss_fx_main's exit status, for nss_fx_run. */
static int nss_fx_rc;

/*
 * Each program's main returns this: what nss_fx_main says, or else the
 * group of tests (an array of struct CMUnitTest) named name, run over the
 * shared store.  A macro, as cmocka's runner needs the array's size.
 */
#define nss_fx_run(argc, argv, name, tests)				\
	(nss_fx_main((argc), (argv), &nss_fx_rc) ? nss_fx_rc :		\
	    cmocka_run_group_tests_name((name), (tests), nss_fx_setup,	\
	    nss_fx_teardown))

#endif
