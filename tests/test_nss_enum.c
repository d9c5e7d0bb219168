/*
 * NSS module, enumeration: setpwent/getpwent_r/endpwent and the group
 * calls, whole passes, short buffers, lookups in the middle of a pass.
 */
#include "nss_fixture.h"

/* ---------------------------------------------------------------------- */
/* enumeration */

static void
enum_passwd(struct namelist *l, size_t buflen)
{
	struct passwd pw;
	enum nss_status s;
	char *buf;
	size_t len = buflen;
	int err;

	memset(l, 0, sizeof(*l));
	assert_int_equal(M.setpwent(0), NSS_STATUS_SUCCESS);
	assert_non_null(buf = malloc(4096));
	for (;;) {
		err = SENTINEL;
		s = M.getpwent_r(&pw, buf, len, &err);
		if (s == NSS_STATUS_TRYAGAIN) {
			assert_int_equal(err, ERANGE);
			assert_true(len < 4096);
			len = 4096;	/* glibc grows the buffer and retries */
			continue;
		}
		if (s == NSS_STATUS_NOTFOUND)
			break;
		assert_int_equal(s, NSS_STATUS_SUCCESS);
		assert_true(l->n < 64);
		assert_true(str_inside(pw.pw_name, buf, len));
		assert_true(str_inside(pw.pw_shell, buf, len));
		snprintf(l->names[l->n], sizeof(l->names[0]), "%s", pw.pw_name);
		l->ids[l->n++] = pw.pw_uid;
		len = buflen;
	}
	/* the end stays the end */
	assert_int_equal(M.getpwent_r(&pw, buf, 4096, &err),
	    NSS_STATUS_NOTFOUND);
	assert_int_equal(M.endpwent(), NSS_STATUS_SUCCESS);
	free(buf);
}

static void
test_enum_passwd(void **state)
{
	static const char *const want[] = { "alice", "bob", NAME32, "host1$" };
	struct namelist *a, *b, *c;
	size_t i;

	(void)state;
	assert_non_null(a = malloc(sizeof(*a)));
	assert_non_null(b = malloc(sizeof(*b)));
	assert_non_null(c = malloc(sizeof(*c)));
	enum_passwd(a, 4096);
	assert_int_equal(a->n, 4);
	for (i = 0; i < 4; i++) {
		size_t k;

		assert_int_not_equal(k = find_name(a, want[i]), SIZE_MAX);
		assert_int_not_equal(a->ids[k], 0);
	}
	/* same order twice */
	enum_passwd(b, 4096);
	assert_memory_equal(a, b, sizeof(*a));
	/* a short buffer for each entry first: nothing skipped or repeated */
	enum_passwd(c, 8);
	assert_memory_equal(a, c, sizeof(*a));
	/* lookups in the middle of an enumeration do not disturb it */
	free(a);
	free(b);
	free(c);
}

static void
test_enum_interleaved(void **state)
{
	char buf[4096];
	struct passwd pw;
	struct namelist *l;
	int err;

	(void)state;
	assert_non_null(l = calloc(1, sizeof(*l)));
	M.setpwent(1);
	while (M.getpwent_r(&pw, buf, sizeof(buf), &err) ==
	    NSS_STATUS_SUCCESS) {
		snprintf(l->names[l->n++], sizeof(l->names[0]), "%s",
		    pw.pw_name);
		assert_int_equal(pwnam("bob", &pw, &err), NSS_STATUS_SUCCESS);
		assert_true(l->n < 64);
	}
	M.endpwent();
	assert_int_equal(l->n, 4);
	/* endpwent then getpwent without setpwent starts over */
	assert_int_equal(M.getpwent_r(&pw, buf, sizeof(buf), &err),
	    NSS_STATUS_SUCCESS);
	assert_string_equal(pw.pw_name, l->names[0]);
	M.endpwent();
	free(l);
}

static void
enum_group(struct namelist *l, size_t buflen, int *admin_members)
{
	struct group gr;
	enum nss_status s;
	char *buf;
	size_t len = buflen;
	int err;

	memset(l, 0, sizeof(*l));
	assert_non_null(buf = malloc(4096));
	assert_int_equal(M.setgrent(0), NSS_STATUS_SUCCESS);
	for (;;) {
		err = SENTINEL;
		s = M.getgrent_r(&gr, buf, len, &err);
		if (s == NSS_STATUS_TRYAGAIN) {
			assert_int_equal(err, ERANGE);
			assert_true(len < 4096);
			len = 4096;
			continue;
		}
		if (s == NSS_STATUS_NOTFOUND)
			break;
		assert_int_equal(s, NSS_STATUS_SUCCESS);
		assert_true(l->n < 64);
		assert_true(inside(gr.gr_mem, buf, len));
		if (strcmp(gr.gr_name, ADMINS) == 0)
			*admin_members = (int)count_mem(&gr);
		else
			assert_int_equal(count_mem(&gr), 0);
		snprintf(l->names[l->n], sizeof(l->names[0]), "%s", gr.gr_name);
		l->ids[l->n++] = gr.gr_gid;
		len = buflen;
	}
	assert_int_equal(M.endgrent(), NSS_STATUS_SUCCESS);
	free(buf);
}

static void
test_enum_group(void **state)
{
	struct namelist *a, *b;
	int members = -1;

	(void)state;
	assert_non_null(a = malloc(sizeof(*a)));
	assert_non_null(b = malloc(sizeof(*b)));
	enum_group(a, 4096, &members);
	assert_int_equal(a->n, 5);
	assert_string_equal(a->names[0], ADMINS);	/* admin group first */
	assert_int_equal(a->ids[0], g_admin_gid);
	assert_int_equal(members, 0);	/* membership by uid only */
	assert_int_not_equal(find_name(a, "alice"), SIZE_MAX);
	assert_int_equal(a->ids[find_name(a, "bob")], UID_BOB);
	assert_int_not_equal(find_name(a, "host1$"), SIZE_MAX);
	enum_group(b, 16, &members);
	assert_memory_equal(a, b, sizeof(*a));
	free(a);
	free(b);
}

/*
 * Each entry of a pass at buffer sizes N-1, then N (N its exact need):
 * N-1 gives TRYAGAIN/ERANGE and the retry at N returns that same entry,
 * as glibc's retry does.  The needs come from a first pass with a roomy
 * buffer.
 */
static void
test_enum_erange_passwd(void **state)
{
	struct namelist *l;
	struct passwd pw;
	size_t need[64], i, n;
	char big[4096];
	int err;

	(void)state;
	assert_non_null(l = calloc(1, sizeof(*l)));
	M.setpwent(0);
	for (n = 0; M.getpwent_r(&pw, big, sizeof(big), &err) ==
	    NSS_STATUS_SUCCESS; n++) {
		assert_true(n < 64);
		snprintf(l->names[n], sizeof(l->names[0]), "%s", pw.pw_name);
		need[n] = passwd_need(pw.pw_name, pw.pw_gecos, pw.pw_dir,
		    pw.pw_shell);
	}
	M.endpwent();
	assert_int_equal(n, 4);
	M.setpwent(0);
	for (i = 0; i < n; i++) {
		char *buf;

		assert_non_null(buf = malloc(need[i]));
		assert_erange(err, M.getpwent_r(&pw, buf, need[i] - 1, &err));
		assert_int_equal(M.getpwent_r(&pw, buf, need[i], &err),
		    NSS_STATUS_SUCCESS);
		assert_string_equal(pw.pw_name, l->names[i]);
		assert_true(str_inside(pw.pw_name, buf, need[i]));
		assert_true(str_inside(pw.pw_shell, buf, need[i]));
		free(buf);
	}
	assert_int_equal(M.getpwent_r(&pw, big, sizeof(big), &err),
	    NSS_STATUS_NOTFOUND);
	M.endpwent();
	free(l);
}

/* The same for groups, the admin group first. */
static void
test_enum_erange_group(void **state)
{
	struct namelist *l;
	struct group gr;
	size_t need[64], i, n;
	char big[4096];
	int err;

	(void)state;
	assert_non_null(l = calloc(1, sizeof(*l)));
	M.setgrent(0);
	for (n = 0; M.getgrent_r(&gr, big, sizeof(big), &err) ==
	    NSS_STATUS_SUCCESS; n++) {
		assert_true(n < 64);
		assert_int_equal(count_mem(&gr), 0);
		snprintf(l->names[n], sizeof(l->names[0]), "%s", gr.gr_name);
		need[n] = group_need(gr.gr_name, NULL, 0);
	}
	M.endgrent();
	assert_int_equal(n, 5);
	assert_string_equal(l->names[0], ADMINS);
	M.setgrent(0);
	for (i = 0; i < n; i++) {
		char *buf;

		assert_non_null(buf = malloc(need[i]));	/* malloc: aligned */
		assert_erange(err, M.getgrent_r(&gr, buf, need[i] - 1, &err));
		assert_int_equal(M.getgrent_r(&gr, buf, need[i], &err),
		    NSS_STATUS_SUCCESS);
		assert_string_equal(gr.gr_name, l->names[i]);
		assert_true(str_inside(gr.gr_name, buf, need[i]));
		assert_true(inside(gr.gr_mem, buf, need[i]));
		free(buf);
	}
	assert_int_equal(M.getgrent_r(&gr, big, sizeof(big), &err),
	    NSS_STATUS_NOTFOUND);
	M.endgrent();
	free(l);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_enum_passwd),
		cmocka_unit_test(test_enum_interleaved),
		cmocka_unit_test(test_enum_group),
		cmocka_unit_test(test_enum_erange_passwd),
		cmocka_unit_test(test_enum_erange_group),
	};

	return nss_fx_run(argc, argv, "nss_appuser enumeration", tests);
}
