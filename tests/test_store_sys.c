/*
 * Unit tests of what the store asks of the system, through interposed libc
 * calls (open, dup, fsync, fdatasync, msync): every descriptor below the
 * store is close-on-exec, and a commit's syncs happen whatever the
 * environment says.  A program of their own, so that the interposers
 * stand between the library and libc in no other test.  Each test runs in
 * a fresh mkdtemp directory, removed afterwards (tests/store_test.h).
 */
#include "store_test.h"

/*
 * Close-on-exec.  Every open() the library makes below the store while
 * watch_dir is set must pass O_CLOEXEC (so that no thread's fork + exec
 * can inherit it in between), except libtdb's of the master, which sets
 * FD_CLOEXEC right after (and only root's appuser opens the master); and
 * every descriptor below the store seen at any moment is close-on-exec.
 * The open interposers are named with asm labels: the fortified headers
 * define open() inline.
 */
static const char *watch_dir;
static const char *watch_skip;		/* the master's path */
static int opens_seen, opens_bad;
static char bad_open[PATH_MAX];

static void
note_open(const char *path, int flags)
{
	size_t n;

	if (watch_dir == NULL || path == NULL)
		return;
	n = strlen(watch_dir);
	if (strncmp(path, watch_dir, n) != 0 ||
	    (path[n] != '/' && path[n] != '\0'))
		return;
	opens_seen++;
	if ((flags & O_CLOEXEC) == 0 && strcmp(path, watch_skip) != 0) {
		opens_bad++;
		snprintf(bad_open, sizeof(bad_open), "%s", path);
	}
}

typedef int (*open_fn)(const char *, int, ...);

#define OPEN_INTERPOSER(fname, sym)					\
int fname(const char *path, int flags, ...) __asm__(sym);		\
int									\
fname(const char *path, int flags, ...)					\
{									\
	open_fn real = (open_fn)dlsym(RTLD_NEXT, sym);			\
	mode_t mode = 0;						\
	va_list ap;							\
									\
	if ((flags & O_CREAT) != 0 || (flags & O_TMPFILE) == O_TMPFILE) { \
		va_start(ap, flags);					\
		mode = va_arg(ap, mode_t);				\
		va_end(ap);						\
	}								\
	note_open(path, flags);						\
	return real(path, flags, mode);					\
}

OPEN_INTERPOSER(ip_open, "open")
OPEN_INTERPOSER(ip_open64, "open64")

/* The checking variants _FORTIFY_SOURCE calls: no mode argument. */
typedef int (*open2_fn)(const char *, int);

#define OPEN2_INTERPOSER(fname, sym)					\
int fname(const char *path, int flags) __asm__(sym);			\
int									\
fname(const char *path, int flags)					\
{									\
	open2_fn real = (open2_fn)dlsym(RTLD_NEXT, sym);		\
									\
	note_open(path, flags);						\
	return real(path, flags);					\
}

OPEN2_INTERPOSER(ip_open_2, "__open_2")
OPEN2_INTERPOSER(ip_open64_2, "__open64_2")

/* dup() never sets close-on-exec: the library must not call it on a
 * descriptor of the store (F_DUPFD_CLOEXEC does it at once). */
int
dup(int fd)
{
	int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "dup");
	char link[64], path[PATH_MAX];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	if (watch_dir != NULL &&
	    (n = readlink(link, path, sizeof(path) - 1)) > 0) {
		path[n] = '\0';
		note_open(path, 0);
	}
	return real(fd);
}

extern void (*appuser_snap_step_hook)(const char *step);
static int scans, scans_bad;

static void
scan_fds(void)
{
	int n = 0;

	scans++;
	if (fx_fds_without_cloexec(watch_dir, &n) != 0)
		scans_bad++;
}

static void
scan_step(const char *step)
{
	(void)step;
	scan_fds();
}

static int
scan_token(const struct token *t, void *arg)
{
	(void)t;
	(void)arg;
	scan_fds();
	return 0;
}

static void
test_cloexec(void **state)
{
	struct fx *f = *state;
	struct store *auth = NULL;
	struct idview *v = NULL;
	struct token *t = NULL;
	struct tok k;
	int n = 0;

	watch_dir = f->dir;
	watch_skip = f->master;
	opens_seen = opens_bad = scans = scans_bad = 0;
	appuser_snap_step_hook = scan_step;
	open_w(f);
	mint(f->st, &k, "alice", add(f->st, "alice"));
	add_bulk(f->st, "bulk", 2100);		/* a merge */
	assert_int_equal(store_token_revoke(f->st, "alice", k.t.id), 0);
	assert_int_equal(store_token_foreach(f->st, NULL, scan_token, NULL), 0);
	assert_int_equal(store_check(f->st, NULL, NULL), 0);
	assert_int_equal(store_open(f->dir, STORE_AUTH, &auth), 0);
	assert_int_equal(verify(auth, "alice", k.str, "sshd", NULL, time(NULL)),
	    VERIFY_REVOKED);
	assert_int_equal(store_token_get(auth, k.t.id, &t), 0);
	token_free(t);
	assert_int_equal(idview_open(f->dir, &v), 0);
	assert_int_equal(idview_refresh(v), 0);
	appuser_snap_step_hook = NULL;
	/* held now: the lock and the master (writer), the usage file (PAM) */
	assert_int_equal(fx_fds_without_cloexec(f->dir, &n), 0);
	assert_true(n >= 3);
	watch_dir = NULL;
	if (opens_bad != 0)
		fail_msg("%d of %d opens without O_CLOEXEC, e.g. %s", opens_bad,
		    opens_seen, bad_open);
	assert_true(opens_seen > 10);
	assert_true(scans > 5);
	assert_int_equal(scans_bad, 0);
	idview_close(v);
	store_close(auth);
}

/*
 * The syncs a commit asks for, by file: the master's transaction, the new
 * snapshot file and the directory (after the renames) must all be synced,
 * whatever the environment says (libtdb honours TDB_NO_FSYNC, which a
 * user controls when running setuid sudo or su).
 */
static int sync_master, sync_snap, sync_dir;
static const char *sync_dir_path, *sync_master_path;

static void
note_sync(int fd)
{
	char link[64], path[PATH_MAX];
	ssize_t n;

	if (sync_dir_path == NULL)
		return;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	if ((n = readlink(link, path, sizeof(path) - 1)) <= 0)
		return;
	path[n] = '\0';
	if (strcmp(path, sync_master_path) == 0)
		sync_master++;
	else if (strcmp(path, sync_dir_path) == 0)
		sync_dir++;
	else if (strstr(path, "/tmp.tokens.delta.") != NULL)
		sync_snap++;
}

int
fdatasync(int fd)
{
	int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");

	note_sync(fd);
	return real(fd);
}

int
fsync(int fd)
{
	int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fsync");

	note_sync(fd);
	return real(fd);
}

int
msync(void *addr, size_t len, int flags)
{
	int (*real)(void *, size_t, int) =
	    (int (*)(void *, size_t, int))dlsym(RTLD_NEXT, "msync");

	if ((flags & MS_SYNC) != 0 && sync_dir_path != NULL)
		sync_master++;		/* only libtdb maps and msyncs */
	return real(addr, len, flags);
}

static void
test_env_cannot_disable_sync(void **state)
{
	struct fx *f = *state;
	struct tok k;
	uint32_t uid;

	open_w(f);
	uid = add(f->st, "alice");
	close_st(f);
	assert_int_equal(setenv("TDB_NO_FSYNC", "1", 1), 0);
	reopen(f, STORE_WRITE);
	sync_master_path = f->master;
	sync_dir_path = f->dir;
	sync_master = sync_snap = sync_dir = 0;
	mint(f->st, &k, "alice", uid);		/* master + token delta */
	sync_dir_path = NULL;
	unsetenv("TDB_NO_FSYNC");
	assert_true(sync_master > 0);
	assert_int_equal(sync_snap, 1);
	assert_int_equal(sync_dir, 1);
	sodium_memzero(k.str, sizeof(k.str));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		fx_test(test_cloexec),
		fx_test(test_env_cannot_disable_sync),
	};

	if (crypto_init() != 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
