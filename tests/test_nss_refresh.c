/*
 * NSS module, process state: changes another process makes are seen by
 * the next lookup, an enumeration keeps its snapshot, descriptors are
 * close-on-exec and do not leak across reopens.
 */
#include "nss_fixture.h"
#include "store_fixture.h"

/* ---------------------------------------------------------------------- */
/* Changes by another process are seen by the next lookup. */

static void
test_changes_visible(void **state)
{
	struct passwd pw;
	struct group gr;
	gid_t out[8];
	long int n;
	uint32_t uid;
	int err;

	(void)state;
	assert_int_equal(pwnam("carol", &pw, &err), NSS_STATUS_NOTFOUND);
	assert_int_equal(write1(g_store, OP_ADD, "carol", 0), 0);
	assert_int_equal(pwnam("carol", &pw, &err), NSS_STATUS_SUCCESS);
	uid = pw.pw_uid;
	assert_true(uid >= RANGE_MIN && uid <= RANGE_MAX);
	assert_int_equal(grnam("carol", &gr, &err), NSS_STATUS_SUCCESS);
	assert_int_equal(gr.gr_gid, uid);

	/* admin granted: group membership and initgroups change */
	assert_int_equal(write1(g_store, OP_ADMIN, "carol", 0), 0);
	assert_int_equal(grnam(ADMINS, &gr, &err), NSS_STATUS_SUCCESS);
	assert_int_equal(count_mem(&gr), 0);
	assert_int_equal(initgr("carol", uid, out, &n, 0), NSS_STATUS_SUCCESS);
	assert_int_equal(n, 1);
	assert_int_equal(out[0], g_admin_gid);

	/* revoked */
	assert_int_equal(write1(g_store, OP_UNADMIN, "carol", 0), 0);
	assert_int_equal(grnam(ADMINS, &gr, &err), NSS_STATUS_SUCCESS);
	assert_int_equal(count_mem(&gr), 0);
	assert_int_equal(initgr("carol", uid, out, &n, 0), NSS_STATUS_NOTFOUND);
	assert_int_equal(n, 0);

	/* an admin deleted: gone from the group too */
	assert_int_equal(write1(g_store, OP_ADMIN, "carol", 0), 0);
	assert_int_equal(write1(g_store, OP_DEL, "carol", 0), 0);
	assert_int_equal(pwnam("carol", &pw, &err), NSS_STATUS_NOTFOUND);
	assert_int_equal(grnam("carol", &gr, &err), NSS_STATUS_NOTFOUND);
	assert_int_equal(M.getpwuid_r(uid, &pw, (char *)out, sizeof(out),
	    &err), NSS_STATUS_NOTFOUND);
	assert_int_equal(grnam(ADMINS, &gr, &err), NSS_STATUS_SUCCESS);
	assert_int_equal(count_mem(&gr), 0);
	assert_int_equal(initgr("carol", uid, out, &n, 0), NSS_STATUS_NOTFOUND);
	assert_int_equal(pwnam("alice", &pw, &err), NSS_STATUS_SUCCESS);
}

/*
 * Each change `appuser` makes is seen by the very next lookup of this
 * long-running process, with no sleep in between: create, grant admin,
 * delete, many times over (the module checks identity.gen's counter, not
 * the snapshot's inode, on each lookup).
 */
static void
test_changes_loop(void **state)
{
	struct passwd pw;
	struct group gr;
	gid_t out[8];
	long int n;
	uint32_t uid = 0;
	int err, i, rounds = g_slow ? 5 : 40;

	(void)state;
	for (i = 0; i < 3 * rounds; i++) {
		switch (i % 3) {
		case 0:
			assert_int_equal(write1(g_store, OP_ADD, "flip", 0), 0);
			assert_int_equal(pwnam("flip", &pw, &err),
			    NSS_STATUS_SUCCESS);
			uid = pw.pw_uid;
			assert_int_equal(M.getpwuid_r(uid, &pw, (char *)out,
			    sizeof(out), &err), NSS_STATUS_SUCCESS);
			assert_int_equal(initgr("flip", uid, out, &n, 0),
			    NSS_STATUS_NOTFOUND);
			break;
		case 1:
			assert_int_equal(write1(g_store, OP_ADMIN, "flip", 0),
			    0);
			assert_int_equal(grnam(ADMINS, &gr, &err),
			    NSS_STATUS_SUCCESS);
			assert_int_equal(count_mem(&gr), 0);
			assert_int_equal(initgr("flip", uid, out, &n, 0),
			    NSS_STATUS_SUCCESS);
			assert_int_equal(n, 1);
			break;
		default:
			assert_int_equal(write1(g_store, OP_DEL, "flip", 0), 0);
			assert_int_equal(pwnam("flip", &pw, &err),
			    NSS_STATUS_NOTFOUND);
			assert_int_equal(grnam("flip", &gr, &err),
			    NSS_STATUS_NOTFOUND);
			assert_int_equal(initgr("flip", uid, out, &n, 0),
			    NSS_STATUS_NOTFOUND);
		}
	}
}

/* An enumeration started before a change finishes on its own snapshot. */
static void
test_enum_during_change(void **state)
{
	char buf[4096];
	struct passwd pw;
	size_t n = 0;
	int err;

	(void)state;
	M.setpwent(0);
	assert_int_equal(M.getpwent_r(&pw, buf, sizeof(buf), &err),
	    NSS_STATUS_SUCCESS);
	n++;
	assert_int_equal(write1(g_store, OP_ADD, "dave", 0), 0);
	while (M.getpwent_r(&pw, buf, sizeof(buf), &err) == NSS_STATUS_SUCCESS)
		n++;
	M.endpwent();
	assert_int_equal(n, 4);
	/* the next pass sees dave */
	M.setpwent(0);
	n = 0;
	while (M.getpwent_r(&pw, buf, sizeof(buf), &err) == NSS_STATUS_SUCCESS)
		n++;
	M.endpwent();
	assert_int_equal(n, 5);
	assert_int_equal(write1(g_store, OP_DEL, "dave", 0), 0);
	assert_int_equal(pwnam("dave", &pw, &err), NSS_STATUS_NOTFOUND);
}

/* ---------------------------------------------------------------------- */
/* Descriptors: close-on-exec, and no leak across many reopens. */

/* Descriptors of this process below match (NULL: all): how many, and
 * how many of those lack close-on-exec in *no_cloexec. */
static int
count_fds(const char *match, int *no_cloexec)
{
	int n = 0;

	assert_true((*no_cloexec = fx_fds_without_cloexec(match, &n)) >= 0);
	return n;
}

static void
test_fds(void **state)
{
	char buf[2048];
	struct passwd pw;
	struct group gr;
	int err, bad, before, after, i;

	(void)state;
	assert_int_equal(pwnam("alice", &pw, &err), NSS_STATUS_SUCCESS);
	assert_true(count_fds(g_store, &bad) >= 0);
	assert_int_equal(bad, 0);
	before = count_fds(NULL, &bad);
	for (i = 0; i < 10; i++) {
		assert_int_equal(write1(g_store, OP_ADD, "erin", 0), 0);
		assert_int_equal(pwnam("erin", &pw, &err), NSS_STATUS_SUCCESS);
		/* an enumeration pins the snapshot across the next change */
		M.setgrent(0);
		assert_int_equal(M.getgrent_r(&gr, buf, sizeof(buf), &err),
		    NSS_STATUS_SUCCESS);
		assert_int_equal(M.getgrent_r(&gr, buf, sizeof(buf), &err),
		    NSS_STATUS_SUCCESS);
		assert_int_equal(write1(g_store, OP_DEL, "erin", 0), 0);
		assert_int_equal(pwnam("erin", &pw, &err), NSS_STATUS_NOTFOUND);
		assert_true(count_fds(g_store, &bad) <= 2);
		assert_int_equal(bad, 0);
		M.endgrent();
	}
	after = count_fds(NULL, &bad);
	assert_int_equal(before, after);
	assert_int_equal(count_fds(g_store, &bad) <= 2, 1);
	assert_int_equal(bad, 0);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_changes_visible),
		cmocka_unit_test(test_changes_loop),
		cmocka_unit_test(test_enum_during_change),
		cmocka_unit_test(test_fds),
	};

	return nss_fx_run(argc, argv, "nss_appuser refresh", tests);
}
