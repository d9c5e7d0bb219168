/*
 * Unit tests for the fleet configuration file (admin/fleet_conf.c): the
 * syntax, every key, the defaults, the file safety rules, and that each
 * error names the file and the line.  Files live in a fresh temporary
 * directory (mode 0700).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "appuser.h"
#include "fleet_conf.h"

static char dir[] = "/tmp/appuser-fleetconf.XXXXXX";
static char path[256], pwpath[256], errbuf[512];

static void
write_file(const char *p, const char *text, mode_t mode)
{
	FILE *f;

	unlink(p);
	assert_non_null(f = fopen(p, "w"));
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(p, mode), 0);
}

static int
load(const char *text, struct fleet_conf **cp)
{
	write_file(path, text, 0600);
	errbuf[0] = '\0';
	return fleet_conf_load(path, cp, errbuf, sizeof(errbuf));
}

/* text must fail with r and a message holding want (and the path) */
static void
refused(const char *text, int r, const char *want)
{
	struct fleet_conf *c = NULL;
	int got = load(text, &c);

	if (got != r || c != NULL || strstr(errbuf, want) == NULL ||
	    strstr(errbuf, path) == NULL)
		fail_msg("config <<%s>>: got %d \"%s\", wanted %d with \"%s\"",
		    text, got, errbuf, r, want);
}

static void
test_full(void **state)
{
	struct fleet_conf *c = NULL;
	char text[1024];

	(void)state;
	snprintf(text, sizeof(text),
	    "# the fleet\n"
	    "\n"
	    "  endpoints = https://10.0.0.1:2379/, https://10.0.0.2:2379 ,"
	    "http://[::1]:2379\n"
	    "prefix=/fleet/prod/\n"
	    "cacert = /etc/appuser/ca.crt\n"
	    "cert = /etc/appuser/host.crt\t\n"
	    "key = /etc/appuser/host.key\r\n"
	    "   # indented comment\n"
	    "user = host-web1\n"
	    "password_file = %s\n"
	    "host = web1.example.org", pwpath);
	assert_int_equal(load(text, &c), 0);
	assert_int_equal(c->nendpoints, 3);
	assert_string_equal(c->endpoints[0], "https://10.0.0.1:2379");
	assert_string_equal(c->endpoints[1], "https://10.0.0.2:2379");
	assert_string_equal(c->endpoints[2], "http://[::1]:2379");
	assert_string_equal(c->prefix, "/fleet/prod/");
	assert_string_equal(c->cacert, "/etc/appuser/ca.crt");
	assert_string_equal(c->cert, "/etc/appuser/host.crt");
	assert_string_equal(c->key, "/etc/appuser/host.key");
	assert_string_equal(c->user, "host-web1");
	assert_string_equal(c->password_file, pwpath);
	assert_string_equal(c->host, "web1.example.org");
	assert_string_equal(c->path, path);
	fleet_conf_free(c);
}

static void
test_defaults(void **state)
{
	struct fleet_conf *c = NULL;
	char host[256] = "";

	(void)state;
	assert_int_equal(load("endpoints = http://127.0.0.1:2379\n", &c), 0);
	assert_string_equal(c->prefix, FLEET_PREFIX_DEFAULT);
	assert_int_equal(gethostname(host, sizeof(host) - 1), 0);
	assert_string_equal(c->host, host);
	assert_null(c->cacert);
	assert_null(c->cert);
	assert_null(c->user);
	assert_null(c->password_file);
	fleet_conf_free(c);
}

static void
test_syntax_errors(void **state)
{
	(void)state;
	refused("", APPUSER_ERR_INVALID, "no \"endpoints\"");
	refused("# only a comment\n", APPUSER_ERR_INVALID, "no \"endpoints\"");
	refused("endpoints = http://a:1\nfoo = bar\n", APPUSER_ERR_INVALID,
	    ":2: unknown key \"foo\"");
	refused("endpoints = http://a:1\njust words\n", APPUSER_ERR_INVALID,
	    ":2: expected \"key = value\"");
	refused("endpoints = http://a:1\n\n\nprefix = /a/\nprefix = /b/\n",
	    APPUSER_ERR_INVALID, ":5: prefix given twice");
	refused("endpoints = ftp://a:1\n", APPUSER_ERR_INVALID,
	    ":1: endpoint \"ftp://a:1\" is not");
	refused("endpoints = http://\n", APPUSER_ERR_INVALID, ":1: endpoint");
	refused("endpoints = http://a b:1\n", APPUSER_ERR_INVALID,
	    ":1: endpoint");
	refused("endpoints = , ,\n", APPUSER_ERR_INVALID, ":1: no endpoint");
	refused("endpoints = http://a:1\nendpoints = http://b:1\n",
	    APPUSER_ERR_INVALID, ":2: endpoints given twice");
	refused("endpoints = http://a:1\nprefix = appuser/\n",
	    APPUSER_ERR_INVALID, ":2: prefix: must start and end");
	refused("endpoints = http://a:1\nprefix = /appuser\n",
	    APPUSER_ERR_INVALID, ":2: prefix: must start and end");
	refused("endpoints = http://a:1\ncacert = ca.crt\n",
	    APPUSER_ERR_INVALID, ":2: cacert: the path must be absolute");
	refused("endpoints = http://a:1\nuser =\n", APPUSER_ERR_INVALID,
	    ":2: user: empty value");
	refused("endpoints = http://a:1\nuser = a b\n", APPUSER_ERR_INVALID,
	    ":2: user: blanks");
	refused("endpoints = http://a:1\nhost = -x\n", APPUSER_ERR_INVALID,
	    ":2: host:");
	refused("endpoints = http://a:1\nhost = a/b\n", APPUSER_ERR_INVALID,
	    ":2: host:");
	refused("endpoints = http://a:1\ncert = /c\n", APPUSER_ERR_INVALID,
	    "\"cert\" and \"key\" go together");
	refused("endpoints = http://a:1\nuser = u\n", APPUSER_ERR_INVALID,
	    "\"user\" and \"password_file\" go together");
	refused("endpoints = http://a:1,http://b:1,http://c:1,http://d:1,"
	    "http://e:1,http://f:1,http://g:1,http://h:1,http://i:1,"
	    "http://j:1,http://k:1,http://l:1,http://m:1,http://n:1,"
	    "http://o:1,http://p:1,http://q:1\n", APPUSER_ERR_INVALID,
	    "more than 16 endpoints");
}

static void
test_nul_and_size(void **state)
{
	struct fleet_conf *c = NULL;
	char *big;
	FILE *f;

	(void)state;
	assert_non_null(f = fopen(path, "w"));
	fwrite("endpoints = http://a:1\n\0x\n", 1, 26, f);
	fclose(f);
	assert_int_equal(fleet_conf_load(path, &c, errbuf, sizeof(errbuf)),
	    APPUSER_ERR_INVALID);
	assert_non_null(strstr(errbuf, "NUL"));
	assert_non_null(big = malloc(FLEET_CONF_MAX_SIZE + 10));
	memset(big, '#', FLEET_CONF_MAX_SIZE + 9);
	big[FLEET_CONF_MAX_SIZE + 9] = '\0';
	refused(big, APPUSER_ERR_INVALID, "larger than 64 KiB");
	free(big);
}

static void
test_file_safety(void **state)
{
	struct fleet_conf *c = NULL;
	char sub[300], p2[320];

	(void)state;
	write_file(path, "endpoints = http://a:1\n", 0620);
	assert_int_equal(fleet_conf_load(path, &c, errbuf, sizeof(errbuf)),
	    APPUSER_ERR_UNSAFE);
	assert_non_null(strstr(errbuf, "mode 0620"));
	assert_non_null(strstr(errbuf, path));
	write_file(path, "endpoints = http://a:1\n", 0602);
	assert_int_equal(fleet_conf_load(path, &c, errbuf, sizeof(errbuf)),
	    APPUSER_ERR_UNSAFE);
	/* readable by all is fine for the config (no secret in it) */
	write_file(path, "endpoints = http://a:1\n", 0644);
	assert_int_equal(fleet_conf_load(path, &c, errbuf, sizeof(errbuf)),
	    0);
	fleet_conf_free(c);
	c = NULL;
	/* missing */
	assert_int_equal(fleet_conf_load("/nonexistent/fleet.conf", &c,
	    errbuf, sizeof(errbuf)), APPUSER_ERR_NOT_FOUND);
	assert_non_null(strstr(errbuf, "/nonexistent/fleet.conf"));
	/* relative */
	assert_int_equal(fleet_conf_load("fleet.conf", &c, errbuf,
	    sizeof(errbuf)), APPUSER_ERR_INVALID);
	/* a directory on the way that others may write */
	snprintf(sub, sizeof(sub), "%s/open", dir);
	assert_int_equal(mkdir(sub, 0777), 0);
	assert_int_equal(chmod(sub, 0777), 0);
	snprintf(p2, sizeof(p2), "%s/fleet.conf", sub);
	write_file(p2, "endpoints = http://a:1\n", 0600);
	assert_int_equal(fleet_conf_load(p2, &c, errbuf, sizeof(errbuf)),
	    APPUSER_ERR_UNSAFE);
	assert_non_null(strstr(errbuf, "not writable by group or others"));
	/* sticky, like /tmp: fine */
	assert_int_equal(chmod(sub, 01777), 0);
	assert_int_equal(fleet_conf_load(p2, &c, errbuf, sizeof(errbuf)), 0);
	fleet_conf_free(c);
	c = NULL;
	unlink(p2);
	rmdir(sub);
	/* not owned by root or the caller */
	if (geteuid() == 0) {
		write_file(path, "endpoints = http://a:1\n", 0600);
		assert_int_equal(chown(path, 12345, 12345), 0);
		assert_int_equal(fleet_conf_load(path, &c, errbuf,
		    sizeof(errbuf)), APPUSER_ERR_UNSAFE);
		assert_non_null(strstr(errbuf, "owned by uid 12345"));
	}
}

/*
 * The password file holding text at mode: read_password gives want, and
 * on success the password pw_want (a failure leaves no password).
 */
static void
assert_password(struct fleet_conf *c, const char *text, mode_t mode,
    int want, const char *pw_want)
{
	char *pw = NULL;

	write_file(pwpath, text, mode);
	assert_int_equal(fleet_conf_read_password(c, &pw, errbuf,
	    sizeof(errbuf)), want);
	if (want == 0)
		assert_string_equal(pw, pw_want);
	else
		assert_null(pw);
	fleet_password_free(pw);
}

static void
test_password(void **state)
{
	struct fleet_conf *c = NULL;
	char text[512], *pw = NULL;

	(void)state;
	snprintf(text, sizeof(text), "endpoints = http://a:1\nuser = h1\n"
	    "password_file = %s\n", pwpath);
	assert_int_equal(load(text, &c), 0);
	assert_password(c, "s3cret pass\nsecond line\n", 0640, 0,
	    "s3cret pass");
	assert_password(c, "nonewline", 0600, 0, "nonewline");
	assert_password(c, "s3cret\n", 0644, APPUSER_ERR_UNSAFE, NULL);
	assert_non_null(strstr(errbuf, pwpath));
	assert_non_null(strstr(errbuf, "readable by others"));
	assert_null(strstr(errbuf, "s3cret"));
	assert_password(c, "s3cret\n", 0660, APPUSER_ERR_UNSAFE, NULL);
	assert_password(c, "\nafter an empty line\n", 0600,
	    APPUSER_ERR_INVALID, NULL);
	unlink(pwpath);
	assert_int_equal(fleet_conf_read_password(c, &pw, errbuf,
	    sizeof(errbuf)), APPUSER_ERR_NOT_FOUND);
	fleet_conf_free(c);
	c = NULL;
	assert_int_equal(load("endpoints = http://a:1\n", &c), 0);
	assert_int_equal(fleet_conf_read_password(c, &pw, errbuf,
	    sizeof(errbuf)), APPUSER_ERR_INVALID);
	fleet_conf_free(c);
}

static int
setup(void **state)
{
	(void)state;
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/fleet.conf", dir);
	snprintf(pwpath, sizeof(pwpath), "%s/password", dir);
	return 0;
}

static int
teardown(void **state)
{
	char cmd[300];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_syntax_errors),
		cmocka_unit_test(test_nul_and_size),
		cmocka_unit_test(test_file_safety),
		cmocka_unit_test(test_password),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
