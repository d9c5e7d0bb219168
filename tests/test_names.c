/*
 * Unit tests for input validation and parsing (libappuser/names.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "names.h"

#define N_OF(a)	(sizeof(a) / sizeof((a)[0]))

/* valid(s) is want for each of the n strings in v; a failure names s. */
static void
assert_each(bool (*valid)(const char *), const char *const *v, size_t n,
    bool want)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (valid(v[i]) != want)
			fail_msg("%s \"%s\"", want ? "rejected valid" :
			    "accepted invalid", v[i] ? v[i] : "(null)");
}

/* valid accepts lead then fill up to max bytes, and refuses max + 1. */
static void
assert_max_len(bool (*valid)(const char *), size_t max, const char *lead,
    char fill)
{
	char *big = malloc(max + 2);

	assert_non_null(big);
	memset(big, fill, max + 1);
	memcpy(big, lead, strlen(lead));
	big[max] = '\0';
	assert_true(valid(big));
	big[max] = fill;
	big[max + 1] = '\0';
	assert_false(valid(big));
	free(big);
}

static void
test_names_valid(void **state)
{
	static const char *const good[] = {
		"a", "_", "deploy", "deploy-bot", "ci_runner.2", "bot$", "a1",
		"_1", "a-", "a.", "x$",
		"abcdefghijklmnopqrstuvwxyz012345",	/* 32 */
	};

	(void)state;
	assert_each(name_is_valid, good, N_OF(good), true);
}

static void
test_names_invalid(void **state)
{
	static const char *const bad[] = {
		"", ".", "..", "a/b", "a:b", "-a", "Root", "1234", "a b",
		"abcdefghijklmnopqrstuvwxyz0123456",	/* 33 */
		"b\xc3\xa9", "\xc3\xa9t\xc3\xa9", "$", "a$b", "bot$$", "a,b",
		".a", "1a", "a\n", "a\t", "A", "bot$ ", "a\x7f", "9",
	};

	(void)state;
	assert_each(name_is_valid, bad, N_OF(bad), false);
	assert_false(name_is_valid(NULL));
}

static void
test_text(void **state)
{
	static const char *const good[] = {
		"", "Deploys the web site (prod)",
		"Caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
	};
	static const char *const bad[] = {
		NULL, "a:b", "line\nbreak", "tab\there", "del\x7f",
		"\xc3",		/* truncated */
		"\xc0\xaf",		/* overlong */
		"\xed\xa0\x80",	/* surrogate */
		"\xf4\x90\x80\x80",	/* > U+10FFFF */
		"\xc2\x85",		/* C1 control */
		"\xff",
	};

	(void)state;
	assert_each(text_is_valid, good, N_OF(good), true);
	assert_each(text_is_valid, bad, N_OF(bad), false);
	assert_max_len(text_is_valid, APPUSER_TEXT_MAX, "", 'x');
}

static void
test_path(void **state)
{
	static const char *const good[] = {
		"/", "/bin/sh", "/var/lib/app..data", "/home/.../x",
		"/home/..x",
	};
	static const char *const bad[] = {
		NULL, "", "bin/sh", "/a:b", "/a\nb", "/a/../etc", "/..",
		"/a/..",
	};

	(void)state;
	assert_each(path_is_valid, good, N_OF(good), true);
	assert_each(path_is_valid, bad, N_OF(bad), false);
	assert_max_len(path_is_valid, APPUSER_PATH_MAX, "/", 'a');
}

static void
test_duration_units(void **state)
{
	static const struct {
		const char	*s;
		int64_t		 v;
	} ok[] = {
		{ "600", 600 }, { "600s", 600 }, { "1s", 1 }, { "90m", 5400 },
		{ "12h", 43200 }, { "30d", 2592000 }, { "2w", 1209600 },
		{ "1y", 31536000 }, { "100y", 3153600000LL },
		{ "36500d", 3153600000LL }, { "3153600000", 3153600000LL },
		{ "007m", 420 },
	};
	int64_t v;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		v = -1;
		assert_int_equal(parse_duration(ok[i].s, &v), 0);
		if (v != ok[i].v)
			fail_msg("%s: got %lld", ok[i].s, (long long)v);
	}
}

static void
test_duration_invalid(void **state)
{
	static const char *const bad[] = {
		"", "0", "0s", "-1", "-5m", "+5", " 5", "5 ", "5 m", "m",
		"5x", "5mm", "5ms", "1.5h", "0x10", "101y", "36501d",
		"3153600001", "99999999999999999999", "9223372036854775807",
		"9223372036854775807y", "5M", "1e3", "5\n",
	};
	int64_t v = 42;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (parse_duration(bad[i], &v) != APPUSER_ERR_INVALID)
			fail_msg("accepted duration \"%s\"", bad[i]);
	assert_int_equal(parse_duration(NULL, &v), APPUSER_ERR_INVALID);
	assert_true(v == 42);		/* untouched on error */
}

static void
assert_list(const char *in, const char *expect)
{
	struct addr_rule *r = NULL;
	char out[1024] = "", one[ADDR_RULE_STRLEN];
	size_t n = 99, i;

	assert_int_equal(parse_allow_list(in, &r, &n), 0);
	for (i = 0; i < n; i++) {
		addr_rule_format(&r[i], one, sizeof(one));
		if (i > 0)
			strcat(out, ",");
		strcat(out, one);
	}
	assert_string_equal(out, expect);
	free(r);
}

static void
test_cidr_parse(void **state)
{
	(void)state;
	assert_list("10.0.0.0/8", "10.0.0.0/8");
	assert_list("192.0.2.7", "192.0.2.7");
	assert_list("192.0.2.7/32", "192.0.2.7");
	assert_list("0.0.0.0/0", "0.0.0.0/0");
	assert_list("2001:db8::/32", "2001:db8::/32");
	assert_list("2001:DB8::1", "2001:db8::1");
	assert_list("::/0", "::/0");
	assert_list("local", "local");
	assert_list("local, 10.0.0.0/8 192.168.0.0/16,,fe80::/10",
	    "local,10.0.0.0/8,192.168.0.0/16,fe80::/10");
	/* duplicates removed; a v4-mapped rule becomes a v4 rule */
	assert_list("10.0.0.0/8,10.0.0.0/8 local local", "10.0.0.0/8,local");
	assert_list("::ffff:192.0.2.0/120", "192.0.2.0/24");
	assert_list("::ffff:192.0.2.1 192.0.2.1", "192.0.2.1");
	/* an empty list is refused (test_cidr_invalid) */
}

static void
test_cidr_invalid(void **state)
{
	static const char *const bad[] = {
		"10.0.0.1/8", "10.0.0.0/33", "2001:db8::/129", "2001:db8::1/64",
		"10.0.0.0/", "10.0.0.0/-1", "10.0.0.0/8x", "10.0.0.0/ 8",
		"/8", "10.0.0", "10.0.0.256", "example.com", "LOCAL",
		"localhost", "fe80::1%eth0", "10.0.0.0/0008", "1.2.3.4/+8",
		"0x0a.0.0.1", "10.0.0.0/8/8", "::ffff:10.0.0.0/97",
		"10.0.0.0/8, bogus",
	};
	struct addr_rule *r = (struct addr_rule *)(uintptr_t)1;
	size_t n = 7, i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (parse_allow_list(bad[i], &r, &n) != APPUSER_ERR_INVALID)
			fail_msg("accepted allow list \"%s\"", bad[i]);
	assert_int_equal(parse_allow_list(NULL, &r, &n), APPUSER_ERR_INVALID);
	/* no entry is refused: it would mean "from anywhere" */
	assert_int_equal(parse_allow_list("", &r, &n), APPUSER_ERR_INVALID);
	assert_int_equal(parse_allow_list(", \t,", &r, &n),
	    APPUSER_ERR_INVALID);
	assert_true(r == (struct addr_rule *)(uintptr_t)1 && n == 7);
}

static void
test_cidr_max_entries(void **state)
{
	char buf[2048] = "";
	struct addr_rule *r = NULL;
	size_t n = 0;
	int i;

	(void)state;
	for (i = 0; i < TOKEN_MAX_ALLOW; i++)
		snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf),
		    "10.0.%d.0/24 ", i);
	assert_int_equal(parse_allow_list(buf, &r, &n), 0);
	assert_int_equal(n, TOKEN_MAX_ALLOW);
	free(r);
	strcat(buf, "10.0.0.0/24 ");		/* a duplicate still fits */
	assert_int_equal(parse_allow_list(buf, &r, &n), 0);
	assert_int_equal(n, TOKEN_MAX_ALLOW);
	free(r);
	strcat(buf, "10.1.0.0/24");
	assert_int_equal(parse_allow_list(buf, &r, &n), APPUSER_ERR_INVALID);
}

static bool
match(const char *list, const char *rhost)
{
	struct addr_rule *r = NULL;
	size_t n = 0;
	bool m;

	assert_int_equal(parse_allow_list(list, &r, &n), 0);
	m = addr_list_match(r, n, rhost);
	free(r);
	return m;
}

static void
test_cidr_match(void **state)
{
	(void)state;
	assert_true(match("10.0.0.0/8", "10.200.3.4"));
	assert_false(match("10.0.0.0/8", "11.0.0.1"));
	assert_true(match("192.168.1.128/25", "192.168.1.200"));
	assert_false(match("192.168.1.128/25", "192.168.1.127"));
	assert_true(match("192.0.2.7", "192.0.2.7"));
	assert_false(match("192.0.2.7", "192.0.2.8"));
	assert_true(match("0.0.0.0/0", "203.0.113.9"));
	assert_false(match("0.0.0.0/0", "2001:db8::1"));
	assert_true(match("2001:db8::/32", "2001:db8:ffff::1"));
	assert_false(match("2001:db8::/32", "2001:db9::1"));
	assert_true(match("2001:db8::/33", "2001:db8:7fff::1"));
	assert_false(match("2001:db8::/33", "2001:db8:8000::1"));
	/* IPv4-mapped IPv6 rhost is compared as IPv4 */
	assert_true(match("10.0.0.0/8", "::ffff:10.1.2.3"));
	assert_false(match("10.0.0.0/8", "::ffff:11.1.2.3"));
	assert_false(match("::/0", "::ffff:10.1.2.3"));
	assert_true(match("::ffff:10.0.0.0/104", "10.9.9.9"));
	/* hostnames, zones and junk match nothing */
	assert_false(match("0.0.0.0/0 ::/0", "example.com"));
	assert_false(match("0.0.0.0/0 ::/0", "fe80::1%eth0"));
	assert_false(match("0.0.0.0/0 ::/0", "10.0.0.1 "));
	/* local */
	assert_true(match("local", NULL));
	assert_true(match("local", ""));
	assert_false(match("local", "127.0.0.1"));
	assert_false(match("0.0.0.0/0 ::/0", NULL));
	assert_false(match("0.0.0.0/0 ::/0", ""));
	assert_true(match("10.0.0.0/8 local", NULL));
	/* empty list matches everything */
	assert_true(addr_list_match(NULL, 0, "example.com"));
	assert_true(addr_list_match(NULL, 0, NULL));
	assert_true(addr_list_match(NULL, 0, "10.0.0.1"));
}

static void
test_rule_format_small_buffer(void **state)
{
	struct addr_rule r = { AF_INET6, 32, { 0x20, 0x01, 0x0d, 0xb8 } };
	char buf[8];

	(void)state;
	memset(buf, 'x', sizeof(buf));
	addr_rule_format(&r, buf, sizeof(buf));
	assert_string_equal(buf, "2001:db");
	addr_rule_format(&r, buf, 0);	/* must not write */
	assert_string_equal(buf, "2001:db");
}

static void
test_scope(void **state)
{
	char **v = NULL;
	size_t n = 99;
	char big[80];

	(void)state;
	assert_int_equal(parse_scope_list("sshd, sudo login", &v, &n), 0);
	assert_int_equal(n, 3);
	assert_string_equal(v[0], "sshd");
	assert_string_equal(v[1], "sudo");
	assert_string_equal(v[2], "login");
	assert_null(v[3]);
	assert_true(scope_match((const char *const *)v, n, "sudo"));
	assert_false(scope_match((const char *const *)v, n, "su"));
	assert_false(scope_match((const char *const *)v, n, "sudoX"));
	assert_false(scope_match((const char *const *)v, n, NULL));
	strv_free(v);
	assert_int_equal(parse_scope_list("sshd,sshd", &v, &n), 0);
	assert_int_equal(n, 1);
	strv_free(v);
	/* no entry is refused: it would mean "every service" */
	v = NULL;
	n = 99;
	assert_int_equal(parse_scope_list("", &v, &n), APPUSER_ERR_INVALID);
	assert_int_equal(parse_scope_list(" , ,", &v, &n),
	    APPUSER_ERR_INVALID);
	assert_true(v == NULL && n == 99);
	assert_true(scope_match(NULL, 0, "anything"));
	assert_true(scope_match(NULL, 0, NULL));
	strv_free(NULL);
	v = NULL;
	assert_int_equal(parse_scope_list("ss/hd", &v, &n), APPUSER_ERR_INVALID);
	assert_int_equal(parse_scope_list("a:b", &v, &n), APPUSER_ERR_INVALID);
	assert_int_equal(parse_scope_list(NULL, &v, &n), APPUSER_ERR_INVALID);
	memset(big, 'a', sizeof(big));
	big[65] = '\0';
	assert_int_equal(parse_scope_list(big, &v, &n), APPUSER_ERR_INVALID);
	big[64] = '\0';
	assert_int_equal(parse_scope_list(big, &v, &n), 0);
	assert_int_equal(n, 1);
	strv_free(v);
}

/* libpam lowercases service names, and su - / sudo -i use su-l / sudo-i. */
static void
test_scope_services(void **state)
{
	char **v = NULL;
	size_t n = 99;

	(void)state;
	assert_int_equal(parse_scope_list("SSHD,Sudo,sshd", &v, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(v[0], "sshd");
	assert_string_equal(v[1], "sudo");
	assert_true(scope_match((const char *const *)v, n, "sshd"));
	assert_true(scope_match((const char *const *)v, n, "sudo-i"));
	assert_false(scope_match((const char *const *)v, n, "su"));
	assert_false(scope_match((const char *const *)v, n, "su-l"));
	strv_free(v);
	assert_int_equal(parse_scope_list("su", &v, &n), 0);
	assert_true(scope_match((const char *const *)v, n, "su"));
	assert_true(scope_match((const char *const *)v, n, "su-l"));
	assert_false(scope_match((const char *const *)v, n, "sudo"));
	assert_false(scope_match((const char *const *)v, n, "su-x"));
	strv_free(v);
	/* the variant does not cover the base: su-l alone is not su */
	assert_int_equal(parse_scope_list("su-l", &v, &n), 0);
	assert_true(scope_match((const char *const *)v, n, "su-l"));
	assert_false(scope_match((const char *const *)v, n, "su"));
	strv_free(v);
}

static void
test_scope_max(void **state)
{
	char buf[512] = "";
	char **v = NULL;
	size_t n = 0;
	int i;

	(void)state;
	for (i = 0; i < TOKEN_MAX_SCOPE; i++)
		snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf),
		    "svc%d,", i);
	assert_int_equal(parse_scope_list(buf, &v, &n), 0);
	assert_int_equal(n, TOKEN_MAX_SCOPE);
	strv_free(v);
	strcat(buf, "one-more");
	assert_int_equal(parse_scope_list(buf, &v, &n), APPUSER_ERR_INVALID);
}

static void
test_id_range(void **state)
{
	static const char *const bad[] = {
		"", "1", "0-10", "10-10", "10-5", "-5-10", "1-2147483647",
		"1-4294967296", "1 -5", "1- 5", "1-5x", " 1-5", "+1-5", "1-",
		"-1", "a-b", "1--5", "1-99999999999999999999", "1-5000",
		"999-5000",
	};
	uint32_t lo = 7, hi = 7;
	size_t i;

	(void)state;
	assert_int_equal(parse_id_range("1900000000-1999999999", &lo, &hi), 0);
	assert_int_equal(lo, 1900000000u);
	assert_int_equal(hi, 1999999999u);
	assert_int_equal(parse_id_range("1000-2147483646", &lo, &hi), 0);
	assert_int_equal(hi, 2147483646u);
	lo = hi = 7;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (parse_id_range(bad[i], &lo, &hi) != APPUSER_ERR_INVALID)
			fail_msg("accepted range \"%s\"", bad[i]);
	assert_int_equal(parse_id_range(NULL, &lo, &hi), APPUSER_ERR_INVALID);
	assert_true(lo == 7 && hi == 7);
}

static void
test_time_rfc3339(void **state)
{
	char buf[32];

	(void)state;
	format_time_rfc3339(0, buf, sizeof(buf));
	assert_string_equal(buf, "1970-01-01T00:00:00Z");
	format_time_rfc3339(1795821699, buf, sizeof(buf));
	assert_string_equal(buf, "2026-11-27T23:21:39Z");
	format_time_rfc3339(951782400, buf, sizeof(buf));	/* leap day */
	assert_string_equal(buf, "2000-02-29T00:00:00Z");
	format_time_rfc3339(INT64_MAX, buf, sizeof(buf));	/* no crash */
	assert_true(strlen(buf) < sizeof(buf));
}

static void
human(int64_t t, int64_t now, const char *expect)
{
	char buf[32];

	format_time_human(t, now, buf, sizeof(buf));
	assert_string_equal(buf, expect);
}

static void
test_time_human(void **state)
{
	const int64_t now = 1795821699;

	(void)state;
	human(0, now, "never");
	human(now, now, "just now");
	human(now + 4, now, "just now");
	human(now - 4, now, "just now");
	human(now + 5, now, "in 5 seconds");
	human(now - 12, now, "12 seconds ago");
	human(now + 60, now, "in 1 minute");
	human(now + 5 * 60 + 59, now, "in 5 minutes");
	human(now + 3 * 3600, now, "in 3 hours");
	human(now - 3600, now, "1 hour ago");
	human(now + 86400, now, "in 1 day");
	human(now + 29 * 86400 + 100, now, "in 29 days");
	human(now - 3 * 86400, now, "3 days ago");
	human(now + 364 * 86400, now, "in 364 days");
	human(now + 365 * 86400, now, "in 1 year");
	human(now - 2 * 365 * 86400, now, "2 years ago");
	human(INT64_MAX, INT64_MIN + 1, "in 584942417355 years");
	human(INT64_MIN, INT64_MAX, "584942417355 years ago");
}

static void
test_strerror(void **state)
{
	int r;

	(void)state;
	assert_string_equal(appuser_strerror(0), "success");
	assert_string_equal(appuser_strerror(1), "unknown error");
	assert_string_equal(appuser_strerror(-APPUSER_ERR_MAX - 1),
	    "unknown error");
	assert_string_equal(appuser_strerror(-1000000), "unknown error");
	for (r = -1; r >= -APPUSER_ERR_MAX; r--) {
		assert_non_null(appuser_strerror(r));
		assert_string_not_equal(appuser_strerror(r), "unknown error");
	}
	assert_string_equal(appuser_strerror(APPUSER_ERR_NOT_FOUND),
	    "not found");
}

static void
test_default_store_dir(void **state)
{
	(void)state;
	unsetenv(APPUSER_STORE_ENV);
	assert_string_equal(appuser_default_store_dir(), APPUSER_DEFAULT_STORE);
	setenv(APPUSER_STORE_ENV, "/tmp/somewhere", 1);
	assert_string_equal(appuser_default_store_dir(), "/tmp/somewhere");
	setenv(APPUSER_STORE_ENV, "relative/dir", 1);
	assert_string_equal(appuser_default_store_dir(), APPUSER_DEFAULT_STORE);
	setenv(APPUSER_STORE_ENV, "", 1);
	assert_string_equal(appuser_default_store_dir(), APPUSER_DEFAULT_STORE);
	unsetenv(APPUSER_STORE_ENV);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names_valid),
		cmocka_unit_test(test_names_invalid),
		cmocka_unit_test(test_text),
		cmocka_unit_test(test_path),
		cmocka_unit_test(test_duration_units),
		cmocka_unit_test(test_duration_invalid),
		cmocka_unit_test(test_cidr_parse),
		cmocka_unit_test(test_cidr_invalid),
		cmocka_unit_test(test_cidr_max_entries),
		cmocka_unit_test(test_cidr_match),
		cmocka_unit_test(test_rule_format_small_buffer),
		cmocka_unit_test(test_scope),
		cmocka_unit_test(test_scope_max),
		cmocka_unit_test(test_scope_services),
		cmocka_unit_test(test_id_range),
		cmocka_unit_test(test_time_rfc3339),
		cmocka_unit_test(test_time_human),
		cmocka_unit_test(test_strerror),
		cmocka_unit_test(test_default_store_dir),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
