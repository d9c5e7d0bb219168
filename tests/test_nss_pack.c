/*
 * nss_appuser/pack.c on its own: each packer at buffer sizes N-1 and N
 * (N the exact need), the refusals, and initgroups' array growth.  The
 * entry points that call these are tested through the module at N-1 and
 * N too (test_nss_lookup.c, test_nss_enum.c); here the group packer also
 * gets members, which the module never packs today.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pack.h"

static bool
str_inside(const char *s, const char *buf, size_t len)
{
	return s >= buf && s < buf + len && strlen(s) < (size_t)(buf + len - s);
}

static void
test_field_len(void **state)
{
	(void)state;
	assert_int_equal(pack_field_len(""), 0);
	assert_int_equal(pack_field_len("/bin/sh"), 7);
	assert_int_equal(pack_field_len("caf\xc3\xa9"), 5);	/* UTF-8 ok */
	assert_true(pack_field_len(NULL) == SIZE_MAX);
	assert_true(pack_field_len("a:b") == SIZE_MAX);
	assert_true(pack_field_len("a\nb") == SIZE_MAX);
	assert_true(pack_field_len("a\tb") == SIZE_MAX);
	assert_true(pack_field_len("a\x7f") == SIZE_MAX);
}

/* pack_passwd at N-1 (ERANGE, *pwd untouched) and at N. */
static void
check_passwd(const struct user *u)
{
	size_t need = strlen(u->name) + 1 + 2 + strlen(u->description) + 1 +
	    strlen(u->home) + 1 + strlen(u->shell) + 1;
	struct passwd pw, zero;
	char *buf;

	memset(&zero, 0, sizeof(zero));
	assert_non_null(buf = malloc(need));
	memset(&pw, 0, sizeof(pw));
	assert_int_equal(pack_passwd(u, &pw, buf, need - 1), ERANGE);
	assert_memory_equal(&pw, &zero, sizeof(pw));
	assert_int_equal(pack_passwd(u, &pw, buf, need), 0);
	assert_string_equal(pw.pw_name, u->name);
	assert_string_equal(pw.pw_passwd, "x");
	assert_string_equal(pw.pw_gecos, u->description);
	assert_string_equal(pw.pw_dir, u->home);
	assert_string_equal(pw.pw_shell, u->shell);
	assert_int_equal(pw.pw_uid, u->uid);
	assert_int_equal(pw.pw_gid, u->gid);
	assert_true(str_inside(pw.pw_name, buf, need));
	assert_true(str_inside(pw.pw_passwd, buf, need));
	assert_true(str_inside(pw.pw_gecos, buf, need));
	assert_true(str_inside(pw.pw_dir, buf, need));
	assert_true(str_inside(pw.pw_shell, buf, need));
	free(buf);
}

static void
test_passwd(void **state)
{
	static char desc[APPUSER_TEXT_MAX + 1], home[APPUSER_PATH_MAX + 1];
	struct user u = {
		.name = "alice", .uid = 1900000100, .gid = 1900000100,
		.description = "Alice bot", .home = "/srv/alice",
		.shell = "/bin/bash",
	};
	char buf[256];
	struct passwd pw;

	(void)state;
	check_passwd(&u);
	u.description = "";
	check_passwd(&u);
	memset(desc, 'd', sizeof(desc) - 1);
	home[0] = '/';
	memset(home + 1, 'h', sizeof(home) - 2);
	u.description = desc;
	u.home = home;
	check_passwd(&u);

	/* no buffer at all, and fields that could break a passwd line */
	u.description = "Alice bot";
	u.home = "/srv/alice";
	assert_int_equal(pack_passwd(&u, &pw, NULL, 0), ERANGE);
	u.shell = "/bin/sh\nroot::0:0::/:/bin/sh";
	assert_int_equal(pack_passwd(&u, &pw, buf, sizeof(buf)), EINVAL);
	u.shell = "/bin/bash";
	u.description = NULL;
	assert_int_equal(pack_passwd(&u, &pw, buf, sizeof(buf)), EINVAL);
	u.description = "a:b";
	assert_int_equal(pack_passwd(&u, &pw, buf, sizeof(buf)), EINVAL);
}

/* pack_group at N-1 and N, at each misalignment of buf (N counts the pad). */
static void
check_group(const char *name, const char *const *mem, size_t nmem)
{
	size_t need = (nmem + 1) * sizeof(char *) + strlen(name) + 1 + 2;
	size_t i, off, slack = sizeof(char *);
	struct group gr, zero;
	char *base;

	for (i = 0; i < nmem; i++)
		need += strlen(mem[i]) + 1;
	memset(&zero, 0, sizeof(zero));
	/* malloc is aligned; slack leaves room for every misalignment */
	assert_non_null(base = malloc(need + slack));
	for (off = 0; off < slack; off++) {
		char *buf = base + off;
		size_t pad = (sizeof(char *) - off) % sizeof(char *);
		size_t len = pad + need;

		memset(&gr, 0, sizeof(gr));
		assert_int_equal(pack_group(name, 4242, mem, nmem, &gr, buf,
		    len - 1), ERANGE);
		assert_memory_equal(&gr, &zero, sizeof(gr));
		assert_int_equal(pack_group(name, 4242, mem, nmem, &gr, buf,
		    len), 0);
		assert_string_equal(gr.gr_name, name);
		assert_string_equal(gr.gr_passwd, "x");
		assert_int_equal(gr.gr_gid, 4242);
		assert_int_equal((uintptr_t)gr.gr_mem % sizeof(char *), 0);
		assert_true((char *)gr.gr_mem >= buf &&
		    (char *)&gr.gr_mem[nmem + 1] <= buf + len);
		assert_true(str_inside(gr.gr_name, buf, len));
		assert_true(str_inside(gr.gr_passwd, buf, len));
		for (i = 0; i < nmem; i++) {
			assert_string_equal(gr.gr_mem[i], mem[i]);
			assert_true(str_inside(gr.gr_mem[i], buf, len));
		}
		assert_null(gr.gr_mem[nmem]);
	}
	free(base);
}

static void
test_group(void **state)
{
	static const char *const one[] = { "alice" };
	static const char *const three[] = { "alice", "b", "host1$" };
	static const char *const comma[] = { "alice,bob" };
	static const char *const colon[] = { "al:ice" };
	char buf[256];
	struct group gr;

	(void)state;
	check_group("bob", NULL, 0);
	check_group("appuser-admins", one, 1);
	check_group("g", three, 3);
	assert_int_equal(pack_group("bob", 1, NULL, 0, &gr, NULL, 0), ERANGE);
	assert_int_equal(pack_group("b:ob", 1, NULL, 0, &gr, buf, sizeof(buf)),
	    EINVAL);
	assert_int_equal(pack_group("g", 1, comma, 1, &gr, buf, sizeof(buf)),
	    EINVAL);
	assert_int_equal(pack_group("g", 1, colon, 1, &gr, buf, sizeof(buf)),
	    EINVAL);
	assert_int_equal(pack_group("g", 1, one, 65537, &gr, buf, sizeof(buf)),
	    EINVAL);
}

static void
test_gid(void **state)
{
	gid_t *g;
	long int start, size, i;

	(void)state;
	/* room left: appended in place */
	assert_non_null(g = malloc(2 * sizeof(*g)));
	g[0] = 100;
	start = 1;
	size = 2;
	assert_int_equal(pack_gid(200, &start, &size, &g, 0), 0);
	assert_int_equal(start, 2);
	assert_int_equal(size, 2);
	assert_int_equal(g[1], 200);
	/* present already: not added twice */
	assert_int_equal(pack_gid(100, &start, &size, &g, 0), 0);
	assert_int_equal(start, 2);
	/* full: doubles */
	assert_int_equal(pack_gid(300, &start, &size, &g, 0), 0);
	assert_int_equal(start, 3);
	assert_int_equal(size, 4);
	assert_int_equal(g[2], 300);
	/* full at the limit: dropped, and that is success */
	start = size = 4;
	for (i = 3; i < 4; i++)
		g[i] = 400;
	assert_int_equal(pack_gid(500, &start, &size, &g, 4), 0);
	assert_int_equal(start, 4);
	assert_int_equal(size, 4);
	/* growth stops at the limit */
	assert_int_equal(pack_gid(500, &start, &size, &g, 5), 0);
	assert_int_equal(start, 5);
	assert_int_equal(size, 5);
	assert_int_equal(g[4], 500);
	free(g);
	/* an empty array starts at 16 */
	g = NULL;
	start = size = 0;
	assert_int_equal(pack_gid(7, &start, &size, &g, 0), 0);
	assert_int_equal(start, 1);
	assert_int_equal(size, 16);
	assert_int_equal(g[0], 7);
	free(g);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_field_len),
		cmocka_unit_test(test_passwd),
		cmocka_unit_test(test_group),
		cmocka_unit_test(test_gid),
	};

	return cmocka_run_group_tests_name("nss_appuser pack", tests, NULL,
	    NULL);
}
