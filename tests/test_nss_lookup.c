/*
 * NSS module, lookups by name and id: passwd, group (private and admin)
 * and initgroups, each at buffer sizes N-1 and N.
 */
#include "nss_fixture.h"

/* ---------------------------------------------------------------------- */
/* passwd lookups */

static void
test_getpwnam_found(void **state)
{
	char buf[1024];
	struct passwd pw;
	int err = SENTINEL;

	(void)state;
	memset(buf, 0xa5, sizeof(buf));
	assert_int_equal(M.getpwnam_r("alice", &pw, buf, sizeof(buf), &err),
	    NSS_STATUS_SUCCESS);
	assert_string_equal(pw.pw_name, "alice");
	assert_string_equal(pw.pw_passwd, "x");
	assert_int_equal(pw.pw_uid, UID_ALICE);
	assert_int_equal(pw.pw_gid, UID_ALICE);
	assert_string_equal(pw.pw_gecos, "Alice bot");
	assert_string_equal(pw.pw_dir, "/srv/alice");
	assert_string_equal(pw.pw_shell, "/bin/bash");
	assert_true(str_inside(pw.pw_name, buf, sizeof(buf)));
	assert_true(str_inside(pw.pw_passwd, buf, sizeof(buf)));
	assert_true(str_inside(pw.pw_gecos, buf, sizeof(buf)));
	assert_true(str_inside(pw.pw_dir, buf, sizeof(buf)));
	assert_true(str_inside(pw.pw_shell, buf, sizeof(buf)));

	/* the defaults of store_user_add */
	assert_int_equal(pwnam("bob", &pw, &err), NSS_STATUS_SUCCESS);
	assert_int_equal(pw.pw_uid, UID_BOB);
	assert_string_equal(pw.pw_gecos, "");
	assert_string_equal(pw.pw_dir, "/nonexistent");
	assert_string_equal(pw.pw_shell, "/bin/sh");
}

static void
test_getpwnam_limits(void **state)
{
	struct passwd pw;
	int err;

	(void)state;
	assert_int_equal(pwnam(NAME32, &pw, &err), NSS_STATUS_SUCCESS);
	assert_string_equal(pw.pw_name, NAME32);
	assert_int_equal(pw.pw_uid, UID_LONG);
	assert_string_equal(pw.pw_gecos, g_long_desc);
	assert_string_equal(pw.pw_dir, g_long_home);
	assert_int_equal(pwnam("host1$", &pw, &err), NSS_STATUS_SUCCESS);
	assert_int_equal(pw.pw_uid, UID_MACH);
	assert_string_equal(pw.pw_dir, "/");
	/* one byte too long: invalid, so not found without a lookup */
	assert_int_equal(pwnam(NAME33, &pw, &err), NSS_STATUS_NOTFOUND);
}

static void
test_getpwnam_notfound(void **state)
{
	static const char *const bad[] = {
		"", "Alice", "al:ice", "-alice", "alice\n", "../alice", ".",
		"12345", "al ice", "alice,bob", NAME33,
	};
	struct passwd pw;
	size_t i;
	int err;

	(void)state;
	assert_int_equal(pwnam("nosuchuser", &pw, &err), NSS_STATUS_NOTFOUND);
	assert_int_equal(err, SENTINEL);	/* errno left alone */
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(pwnam(bad[i], &pw, &err),
		    NSS_STATUS_NOTFOUND);
		assert_int_equal(err, SENTINEL);
	}
	/* local accounts are not ours */
	assert_int_equal(pwnam("root", &pw, &err), NSS_STATUS_NOTFOUND);
}

static void
test_getpwuid(void **state)
{
	static const uid_t miss[] = {
		0, 1, 1000, 65534, RANGE_MIN - 1, RANGE_MAX + 1,
		UID_ALICE + 50, (uid_t)-1, (uid_t)-2,
	};
	char buf[1024];
	struct passwd pw;
	size_t i;
	int err = SENTINEL;

	(void)state;
	assert_int_equal(M.getpwuid_r(UID_ALICE, &pw, buf, sizeof(buf), &err),
	    NSS_STATUS_SUCCESS);
	assert_string_equal(pw.pw_name, "alice");
	assert_int_equal(pw.pw_gid, UID_ALICE);
	assert_string_equal(pw.pw_shell, "/bin/bash");
	assert_true(str_inside(pw.pw_shell, buf, sizeof(buf)));
	assert_int_equal(M.getpwuid_r(UID_MACH, &pw, buf, sizeof(buf), &err),
	    NSS_STATUS_SUCCESS);
	assert_string_equal(pw.pw_name, "host1$");
	for (i = 0; i < sizeof(miss) / sizeof(miss[0]); i++) {
		assert_int_equal(M.getpwuid_r(miss[i], &pw, buf, sizeof(buf),
		    &err), NSS_STATUS_NOTFOUND);
		assert_int_equal(err, SENTINEL);
	}
}

/*
 * By name and by uid: a buffer of exactly N bytes succeeds, N-1 (and 0)
 * gives TRYAGAIN/ERANGE.
 */
static void
check_passwd_erange(const char *name, uid_t uid, size_t need)
{
	struct passwd pw;
	size_t len;
	int err;

	for (len = 0; len <= need; len += (len + 2 < need ? need - 1 - len : 1)) {
		char *buf;

		assert_non_null(buf = malloc(len > 0 ? len : 1));
		err = SENTINEL;
		if (len < need) {
			assert_erange(err, M.getpwnam_r(name, &pw, buf, len,
			    &err));
			/* by uid too, at the same length */
			assert_erange(err, M.getpwuid_r(uid, &pw, buf, len,
			    &err));
		} else {
			assert_int_equal(M.getpwnam_r(name, &pw, buf, len, &err),
			    NSS_STATUS_SUCCESS);
			assert_string_equal(pw.pw_name, name);
			assert_true(str_inside(pw.pw_name, buf, len));
			assert_true(str_inside(pw.pw_passwd, buf, len));
			assert_true(str_inside(pw.pw_gecos, buf, len));
			assert_true(str_inside(pw.pw_dir, buf, len));
			assert_true(str_inside(pw.pw_shell, buf, len));
			memset(&pw, 0, sizeof(pw));
			assert_int_equal(M.getpwuid_r(uid, &pw, buf, len, &err),
			    NSS_STATUS_SUCCESS);
			assert_string_equal(pw.pw_name, name);
			assert_int_equal(pw.pw_uid, uid);
			assert_true(str_inside(pw.pw_name, buf, len));
			assert_true(str_inside(pw.pw_shell, buf, len));
		}
		free(buf);
	}
}

static void
test_passwd_erange(void **state)
{
	(void)state;
	check_passwd_erange("alice", UID_ALICE, passwd_need("alice",
	    "Alice bot", "/srv/alice", "/bin/bash"));
	check_passwd_erange("bob", UID_BOB, passwd_need("bob", "",
	    "/nonexistent", "/bin/sh"));
	check_passwd_erange(NAME32, UID_LONG, passwd_need(NAME32,
	    g_long_desc, g_long_home, "/usr/bin/nologin"));
}

/* ---------------------------------------------------------------------- */
/* group lookups */

static void
test_group_private(void **state)
{
	char buf[1024];
	struct group gr;
	int err = SENTINEL;

	(void)state;
	assert_int_equal(M.getgrnam_r("bob", &gr, buf, sizeof(buf), &err),
	    NSS_STATUS_SUCCESS);
	assert_string_equal(gr.gr_name, "bob");
	assert_string_equal(gr.gr_passwd, "x");
	assert_int_equal(gr.gr_gid, UID_BOB);
	assert_int_equal(count_mem(&gr), 0);
	assert_true(inside(gr.gr_mem, buf, sizeof(buf)));
	assert_true(str_inside(gr.gr_name, buf, sizeof(buf)));
	assert_int_equal((uintptr_t)gr.gr_mem % sizeof(char *), 0);

	assert_int_equal(M.getgrgid_r(UID_ALICE, &gr, buf, sizeof(buf), &err),
	    NSS_STATUS_SUCCESS);
	assert_string_equal(gr.gr_name, "alice");
	assert_int_equal(gr.gr_gid, UID_ALICE);
	assert_int_equal(count_mem(&gr), 0);

	assert_int_equal(M.getgrnam_r("nosuch", &gr, buf, sizeof(buf), &err),
	    NSS_STATUS_NOTFOUND);
	assert_int_equal(M.getgrgid_r(0, &gr, buf, sizeof(buf), &err),
	    NSS_STATUS_NOTFOUND);
	assert_int_equal(M.getgrgid_r(UID_ALICE + 50, &gr, buf, sizeof(buf),
	    &err), NSS_STATUS_NOTFOUND);
	assert_int_equal(M.getgrnam_r("root", &gr, buf, sizeof(buf), &err),
	    NSS_STATUS_NOTFOUND);
	assert_int_equal(err, SENTINEL);
}

static void
test_group_admin(void **state)
{
	char buf[1024];
	struct passwd pw;
	struct group gr;
	int err = SENTINEL;

	(void)state;
	assert_int_equal(M.getgrnam_r(ADMINS, &gr, buf, sizeof(buf), &err),
	    NSS_STATUS_SUCCESS);
	assert_string_equal(gr.gr_name, ADMINS);
	assert_string_equal(gr.gr_passwd, "x");
	assert_int_not_equal(gr.gr_gid, 0);
	assert_true(gr.gr_gid >= RANGE_MIN && gr.gr_gid <= RANGE_MAX);
	/* no members by name: an admin's name may be a host account's too */
	assert_int_equal(count_mem(&gr), 0);
	assert_true(inside(gr.gr_mem, buf, sizeof(buf)));
	assert_int_equal(gr.gr_gid, g_admin_gid);

	assert_int_equal(M.getgrgid_r(g_admin_gid, &gr, buf, sizeof(buf), &err),
	    NSS_STATUS_SUCCESS);
	assert_string_equal(gr.gr_name, ADMINS);
	assert_int_equal(count_mem(&gr), 0);
	/* the admin group is a group, not a user */
	assert_int_equal(pwnam(ADMINS, &pw, &err), NSS_STATUS_NOTFOUND);
}

static void
check_group_erange(const char *name, gid_t gid, const char *const *mem,
    size_t nmem)
{
	size_t need = group_need(name, mem, nmem), len, i;
	struct group gr;
	char *buf;
	int err;

	for (len = need - 1; len <= need; len++) {
		assert_non_null(buf = malloc(len));	/* malloc: aligned */
		err = SENTINEL;
		if (len < need) {
			assert_erange(err, M.getgrnam_r(name, &gr, buf, len,
			    &err));
			assert_erange(err, M.getgrgid_r(gid, &gr, buf, len,
			    &err));
		} else {
			assert_int_equal(M.getgrnam_r(name, &gr, buf, len, &err),
			    NSS_STATUS_SUCCESS);
			assert_string_equal(gr.gr_name, name);
			assert_int_equal(gr.gr_gid, gid);
			assert_true(str_inside(gr.gr_name, buf, len));
			assert_true(str_inside(gr.gr_passwd, buf, len));
			assert_true(inside(gr.gr_mem, buf, len));
			assert_true(inside(&gr.gr_mem[nmem], buf, len));
			assert_int_equal(count_mem(&gr), nmem);
			for (i = 0; i < nmem; i++) {
				assert_string_equal(gr.gr_mem[i], mem[i]);
				assert_true(str_inside(gr.gr_mem[i], buf, len));
			}
			assert_int_equal(M.getgrgid_r(gid, &gr, buf, len, &err),
			    NSS_STATUS_SUCCESS);
		}
		free(buf);
	}
	/* a misaligned buffer of N + 7 bytes also works */
	assert_non_null(buf = malloc(need + 8));
	assert_int_equal(M.getgrnam_r(name, &gr, buf + 1, need + 7, &err),
	    NSS_STATUS_SUCCESS);
	assert_int_equal((uintptr_t)gr.gr_mem % sizeof(char *), 0);
	assert_true(inside(&gr.gr_mem[nmem], buf + 1, need + 7));
	free(buf);
}

static void
test_group_erange(void **state)
{
	(void)state;
	check_group_erange("bob", UID_BOB, NULL, 0);
	check_group_erange(NAME32, UID_LONG, NULL, 0);
	check_group_erange(ADMINS, g_admin_gid, NULL, 0);
}

/* ---------------------------------------------------------------------- */
/* initgroups */

static void
test_initgroups(void **state)
{
	gid_t out[8], *groups;
	long int n, start, size;
	int err = SENTINEL;

	(void)state;
	assert_int_equal(initgr("alice", UID_ALICE, out, &n, 0),
	    NSS_STATUS_SUCCESS);
	assert_int_equal(n, 1);
	assert_int_equal(out[0], g_admin_gid);
	/* not an admin: nothing added */
	assert_int_equal(initgr("bob", UID_BOB, out, &n, 0),
	    NSS_STATUS_NOTFOUND);
	assert_int_equal(n, 0);
	assert_int_equal(initgr("nosuch", 100, out, &n, 0),
	    NSS_STATUS_NOTFOUND);
	assert_int_equal(n, 0);
	assert_int_equal(initgr("Bad:name", 100, out, &n, 0),
	    NSS_STATUS_NOTFOUND);
	/* the limit holds: the list is full at 1 */
	assert_int_equal(initgr("alice", UID_ALICE, out, &n, 1),
	    NSS_STATUS_SUCCESS);
	assert_int_equal(n, 0);
	/* not duplicated when the caller already has it */
	start = 2;
	size = 2;
	assert_non_null(groups = malloc(2 * sizeof(*groups)));
	groups[0] = UID_ALICE;
	groups[1] = g_admin_gid;
	assert_int_equal(M.initgroups_dyn("alice", UID_ALICE, &start, &size,
	    &groups, 0, &err), NSS_STATUS_SUCCESS);
	assert_int_equal(start, 2);
	free(groups);
}

/*
 * A name is not an identity: when the host resolves an admin's name to
 * another account (a local or LDAP "alice" listed before appuser in
 * nsswitch.conf), glibc hands us that account's primary gid, and the name
 * gets nothing from this module.
 */
static void
test_initgroups_other_account(void **state)
{
	gid_t out[8];
	long int n;

	(void)state;
	/* a host account "alice", uid/gid 1500 */
	assert_int_equal(initgr("alice", 1500, out, &n, 0),
	    NSS_STATUS_NOTFOUND);
	assert_int_equal(n, 0);
	/* ... or with another application user's gid, or root's */
	assert_int_equal(initgr("alice", UID_BOB, out, &n, 0),
	    NSS_STATUS_NOTFOUND);
	assert_int_equal(n, 0);
	assert_int_equal(initgr("alice", 0, out, &n, 0), NSS_STATUS_NOTFOUND);
	assert_int_equal(n, 0);
	/* the admin group's own gid is not alice's either */
	assert_int_equal(initgr("alice", g_admin_gid, out, &n, 0),
	    NSS_STATUS_NOTFOUND);
	assert_int_equal(n, 0);
	/* control: her own gid still gets the admin group */
	assert_int_equal(initgr("alice", UID_ALICE, out, &n, 0),
	    NSS_STATUS_SUCCESS);
	assert_int_equal(n, 1);
	assert_int_equal(out[0], g_admin_gid);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_getpwnam_found),
		cmocka_unit_test(test_getpwnam_limits),
		cmocka_unit_test(test_getpwnam_notfound),
		cmocka_unit_test(test_getpwuid),
		cmocka_unit_test(test_passwd_erange),
		cmocka_unit_test(test_group_private),
		cmocka_unit_test(test_group_admin),
		cmocka_unit_test(test_group_erange),
		cmocka_unit_test(test_initgroups),
		cmocka_unit_test(test_initgroups_other_account),
	};

	return nss_fx_run(argc, argv, "nss_appuser lookups", tests);
}
