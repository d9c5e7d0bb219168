/*
 * NSS module, stores that are missing, broken, replaced or unreadable:
 * every entry point answers UNAVAIL (never crashes or prints), and the
 * failure memo retries as soon as the store is back.
 */
#include "nss_fixture.h"

/* ---------------------------------------------------------------------- */
/* Other stores, in children. */

static void
child_missing(void *arg)
{
	const char *dir = arg;
	struct passwd pw;
	struct group gr;
	gid_t out[4];
	long int n;
	double t0;
	int err, i;

	CHECK(setenv(APPUSER_STORE_ENV, dir, 1) == 0);
	CHECK(pwnam("alice", &pw, &err) == NSS_STATUS_UNAVAIL);
	CHECK(err == ENOENT);
	CHECK(M.getpwuid_r(UID_ALICE, &pw, (char *)out, sizeof(out), &err) ==
	    NSS_STATUS_UNAVAIL);
	CHECK(grnam(ADMINS, &gr, &err) == NSS_STATUS_UNAVAIL);
	CHECK(initgr("alice", UID_ALICE, out, &n, 0) == NSS_STATUS_UNAVAIL);
	CHECK(M.setpwent(0) == NSS_STATUS_SUCCESS);
	CHECK(M.getpwent_r(&pw, (char *)out, sizeof(out), &err) ==
	    NSS_STATUS_UNAVAIL);
	M.endpwent();
	/* quick: no open attempt per call */
	t0 = fs_mono_s();
	for (i = 0; i < 10000; i++)
		CHECK(pwnam("alice", &pw, &err) == NSS_STATUS_UNAVAIL);
	if (!g_slow)
		CHECK(fs_mono_s() - t0 < 0.1);
	/* created meanwhile: seen at once, not after a delay */
	CHECK(make_small_store(dir) == 0);
	CHECK(pwnam("alice", &pw, &err) == NSS_STATUS_SUCCESS);
	CHECK(pw.pw_uid == UID_ALICE);
}

static void
test_missing_store(void **state)
{
	char dir[PATH_MAX], empty[PATH_MAX];

	(void)state;
	/* no directory at all, then an empty one */
	subdir(dir, sizeof(dir), "missing");
	assert_int_equal(run_child(child_missing, dir), 0);
	subdir(empty, sizeof(empty), "empty");
	assert_int_equal(mkdir(empty, 0755), 0);
	assert_int_equal(run_child(child_missing, empty), 0);
}

/* Every entry point on a broken store: UNAVAIL, no crash, no output. */
struct broken {
	const char	*dir;
	bool		 exact;	/* only UNAVAIL is acceptable */
};

static bool
ok_or_unavail(enum nss_status s, bool exact)
{
	if (exact)
		return s == NSS_STATUS_UNAVAIL;
	return s == NSS_STATUS_UNAVAIL || s == NSS_STATUS_NOTFOUND ||
	    s == NSS_STATUS_SUCCESS;
}

static void
child_broken(void *arg)
{
	const struct broken *b = arg;
	char buf[4096], out_path[PATH_MAX + 8];
	struct passwd pw;
	struct group gr;
	struct stat sb;
	gid_t out[4];
	long int n;
	enum nss_status s;
	int err, fd, i;

	snprintf(out_path, sizeof(out_path), "%s.out", b->dir);
	CHECK((fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600)) >= 0);
	CHECK(dup2(fd, 1) == 1 && dup2(fd, 2) == 2);
	CHECK(setenv(APPUSER_STORE_ENV, b->dir, 1) == 0);
	for (i = 0; i < 3; i++) {
		s = pwnam("alice", &pw, &err);
		CHECK(ok_or_unavail(s, b->exact));
		if (s == NSS_STATUS_SUCCESS)
			CHECK(pw.pw_uid == UID_ALICE);
		if (s == NSS_STATUS_UNAVAIL)
			CHECK(err != ERANGE && err != SENTINEL && err != 0);
		CHECK(ok_or_unavail(M.getpwuid_r(UID_BOB, &pw, buf,
		    sizeof(buf), &err), b->exact));
		CHECK(ok_or_unavail(grnam(ADMINS, &gr, &err), b->exact));
		CHECK(ok_or_unavail(M.getgrgid_r(UID_ALICE, &gr, buf,
		    sizeof(buf), &err), b->exact));
		CHECK(ok_or_unavail(initgr("alice", UID_ALICE, out, &n, 0),
		    b->exact));
		M.setpwent(0);
		while ((s = M.getpwent_r(&pw, buf, sizeof(buf), &err)) ==
		    NSS_STATUS_SUCCESS)
			;
		CHECK(ok_or_unavail(s, b->exact));
		M.endpwent();
		M.setgrent(0);
		while ((s = M.getgrent_r(&gr, buf, sizeof(buf), &err)) ==
		    NSS_STATUS_SUCCESS)
			;
		CHECK(ok_or_unavail(s, b->exact));
		M.endgrent();
	}
	fflush(stdout);
	fflush(stderr);
	CHECK(fstat(fd, &sb) == 0);
	if (sb.st_size != 0)
		_exit(3);	/* the module printed something */
}

static int
replace_with_garbage(const char *path, size_t len, bool tdb_magic)
{
	char tmp[PATH_MAX + 8];
	unsigned char *junk;
	size_t i;
	int fd, r = -1;

	snprintf(tmp, sizeof(tmp), "%s.junk", path);
	if ((junk = malloc(len)) == NULL)
		return -1;
	srand(42);
	for (i = 0; i < len; i++)
		junk[i] = (unsigned char)rand();
	if (tdb_magic && len > 32)
		memcpy(junk, "TDB file\n", 9);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644)) >= 0 &&
	    write(fd, junk, len) == (ssize_t)len && close(fd) == 0 &&
	    rename(tmp, path) == 0)
		r = 0;
	free(junk);
	return r;
}

static void
test_corrupt_store(void **state)
{
	static const struct { const char *name; int kind; bool exact; } v[] = {
		{ "trunc0", 0, true },		/* empty file */
		{ "trunc100", 1, true },	/* inside the header */
		{ "trunchalf", 2, false },	/* records cut off */
		{ "garbage", 3, true },
		{ "garbagemagic", 4, true },
	};
	char dir[PATH_MAX], id[PATH_MAX];
	struct broken b;
	struct stat sb;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		subdir(dir, sizeof(dir), v[i].name);
		assert_int_equal(make_small_store(dir), 0);
		assert_int_equal(identity_path(id, sizeof(id), dir), 0);
		assert_int_equal(stat(id, &sb), 0);
		switch (v[i].kind) {
		case 0:
			assert_int_equal(truncate(id, 0), 0);
			break;
		case 1:
			assert_int_equal(truncate(id, 100), 0);
			break;
		case 2:
			assert_int_equal(truncate(id, sb.st_size / 2), 0);
			break;
		default:
			assert_int_equal(replace_with_garbage(id, sb.st_size,
			    v[i].kind == 4), 0);
		}
		b.dir = dir;
		b.exact = v[i].exact;
		if (run_child(child_broken, &b) != 0)
			fail_msg("store %s", v[i].name);
	}
}

/* Look name up every 10 ms until the answer is want; false after limit
 * seconds. */
static bool
wait_pwnam(const char *name, enum nss_status want, double limit,
    struct passwd *pw, int *err)
{
	double t0 = fs_mono_s();

	for (;;) {
		if (pwnam(name, pw, err) == want)
			return true;
		if (fs_mono_s() - t0 > limit)
			return false;
		usleep(10000);
	}
}

/*
 * Replace the snapshot by an older one while the process holds it open.
 * Changes made by hand, not by appuser, bump no counter in identity.gen:
 * the module notices them at its next full check, within a second.
 */
static void
child_replaced(void *arg)
{
	const char *dir = arg;
	char id[PATH_MAX], old[PATH_MAX + 8], cmd[5 * PATH_MAX];
	char dl[PATH_MAX], oldd[PATH_MAX + 8];
	struct passwd pw;
	int err;

	CHECK(setenv(APPUSER_STORE_ENV, dir, 1) == 0);
	CHECK(identity_path(id, sizeof(id), dir) == 0);
	snprintf(dl, sizeof(dl), "%s/%s", dir, APPUSER_IDENTITY_DELTA);
	snprintf(old, sizeof(old), "%s.old", id);
	snprintf(oldd, sizeof(oldd), "%s.old", dl);
	CHECK(pwnam("bob", &pw, &err) == NSS_STATUS_SUCCESS);
	snprintf(cmd, sizeof(cmd), "cp -p '%s' '%s' && cp -p '%s' '%s'", id,
	    old, dl, oldd);
	CHECK(system(cmd) == 0);
	CHECK(write1(dir, OP_DEL, "bob", 0) == 0);
	CHECK(pwnam("bob", &pw, &err) == NSS_STATUS_NOTFOUND);
	/* rename an older pair into place: bob is back */
	CHECK(rename(oldd, dl) == 0);
	CHECK(rename(old, id) == 0);
	CHECK(wait_pwnam("bob", NSS_STATUS_SUCCESS, 2.5, &pw, &err));
	CHECK(pw.pw_uid == UID_BOB);
	/* appuser's next change (which also rolls the old one forward) is
	 * seen at once again */
	CHECK(write1(dir, OP_ADD, "carol", 0) == 0);
	CHECK(pwnam("carol", &pw, &err) == NSS_STATUS_SUCCESS);
	CHECK(pwnam("bob", &pw, &err) == NSS_STATUS_NOTFOUND);
	/* the store is deleted under us: unavailable, not stale */
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	CHECK(system(cmd) == 0);
	CHECK(wait_pwnam("alice", NSS_STATUS_UNAVAIL, 2.5, &pw, &err));
	CHECK(err == ENOENT);
	CHECK(pwnam("alice", &pw, &err) == NSS_STATUS_UNAVAIL);
}

static void
test_store_replaced(void **state)
{
	(void)state;
	run_child_in_store(child_replaced, "replaced");
}

struct unreadable {
	const char	*dir;
	bool		 readable;
};

static void
child_nobody(void *arg)
{
	const struct unreadable *u = arg;
	struct passwd pw;
	int err;

	CHECK(setenv(APPUSER_STORE_ENV, u->dir, 1) == 0);
	CHECK(setgroups(0, NULL) == 0);
	CHECK(setresgid(65534, 65534, 65534) == 0);
	CHECK(setresuid(65534, 65534, 65534) == 0);
	if (u->readable) {
		CHECK(pwnam("alice", &pw, &err) == NSS_STATUS_SUCCESS);
		CHECK(pw.pw_uid == UID_ALICE);
	} else {
		CHECK(pwnam("alice", &pw, &err) == NSS_STATUS_UNAVAIL);
		CHECK(err == EACCES);
		CHECK(pwnam("alice", &pw, &err) == NSS_STATUS_UNAVAIL);
	}
}

static void
test_unreadable(void **state)
{
	char locked[PATH_MAX], dir[PATH_MAX + 16];
	struct unreadable u;

	(void)state;
	if (geteuid() != 0)
		skip();		/* needs root to drop to another uid */
	/* the snapshot is world-readable: nobody resolves users */
	u.dir = g_store;
	u.readable = true;
	assert_int_equal(run_child(child_nobody, &u), 0);
	/* ...unless the directory forbids it */
	subdir(locked, sizeof(locked), "locked");
	assert_int_equal(mkdir(locked, 0700), 0);
	snprintf(dir, sizeof(dir), "%s/store", locked);
	assert_int_equal(make_small_store(dir), 0);
	u.dir = dir;
	u.readable = false;
	assert_int_equal(run_child(child_nobody, &u), 0);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_missing_store),
		cmocka_unit_test(test_corrupt_store),
		cmocka_unit_test(test_store_replaced),
		cmocka_unit_test(test_unreadable),
	};

	return nss_fx_run(argc, argv, "nss_appuser failures", tests);
}
