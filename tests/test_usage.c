/*
 * Unit tests for the usage file (libappuser/usage.c) on its own: a slot
 * written reads back (text made printable and cut), a slot that is empty,
 * foreign or out of range reads as never used, and the refusals: bad
 * arguments, a descriptor not open for writing, a file that cannot grow
 * (RLIMIT_FSIZE), a symbolic link or a file others may read.  The store's
 * use of it (bookkeeping of logins, slots of deleted users) is
 * tests/test_store_token.c's; any bytes are fuzz_usage's.
 */
#include <sys/resource.h>
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "token.h"
#include "usage.h"

#include "tmpdir_fixture.h"

#define ID_A	"AAAAAAAAAAAA"
#define ID_B	"BBBBBBBBBBBB"

struct fx {
	struct tmpdir	 td;		/* td.dir created */
	char		 path[192];	/* dir/usage */
};

static int
setup(void **state)
{
	struct fx *f = tmpdir_new(sizeof(*f), "/tmp/appuser-usage-XXXXXX",
	    true);

	tmpdir_path(f->path, sizeof(f->path), f->td.dir, APPUSER_USAGE_FILE);
	*state = f;
	return 0;
}

static int
open_rw(struct fx *f)
{
	int fd = -1;

	assert_int_equal(usage_create(f->td.dir), 0);
	assert_int_equal(usage_open(f->td.dir, geteuid(), true, &fd), 0);
	return fd;
}

static void
test_round_trip(void **state)
{
	struct fx *f = *state;
	struct usage u;
	struct token t;
	struct stat sb;
	char longsvc[100];
	int fd = open_rw(f);

	assert_true(TOKEN_ID_LEN == strlen(ID_A));
	assert_int_equal(stat(f->path, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0600);
	memset(longsvc, 's', sizeof(longsvc) - 1);
	longsvc[sizeof(longsvc) - 1] = '\0';
	assert_int_equal(usage_write(fd, 3, ID_A, 1000, "10.0.0.1\n\x1b[31m",
	    longsvc, 5000, 100), 0);
	assert_int_equal(usage_read(fd, 3, ID_A, &u), 0);
	assert_true(u.last_used == 1000 && u.expiry == 5000);
	assert_string_equal(u.ip, "10.0.0.1??[31m");
	assert_int_equal(strlen(u.service), USAGE_SERVICE_LEN - 1);
	/* the slot names its token: another one, or an unused slot, or one
	 * past the end of the file, was never used */
	assert_int_equal(usage_read(fd, 3, ID_B, &u), APPUSER_ERR_NOT_FOUND);
	assert_int_equal(usage_read(fd, 2, ID_A, &u), APPUSER_ERR_NOT_FOUND);
	assert_int_equal(usage_read(fd, 4, ID_A, &u), APPUSER_ERR_NOT_FOUND);
	assert_int_equal(usage_read(fd, 0, ID_A, &u), APPUSER_ERR_NOT_FOUND);
	assert_int_equal(usage_read(fd, USAGE_MAX_SLOT, ID_A, &u),
	    APPUSER_ERR_NOT_FOUND);
	assert_int_equal(usage_read(-1, 3, ID_A, &u), APPUSER_ERR_NOT_FOUND);
	assert_int_equal(usage_read(fd, 3, NULL, &u), APPUSER_ERR_NOT_FOUND);
	/* a time no record may hold (a slot a bug or a hand wrote) */
	assert_int_equal(usage_write(fd, 3, ID_A, -1, "", "", 0, 100), 0);
	assert_int_equal(usage_read(fd, 3, ID_A, &u), APPUSER_ERR_NOT_FOUND);
	/* the overlay takes the later use, and a sliding expiry within the
	 * token's maximum age */
	assert_int_equal(usage_write(fd, 3, ID_A, 2000, "::1", "sshd", 2500,
	    100), 0);
	assert_int_equal(usage_read(fd, 3, ID_A, &u), 0);
	memset(&t, 0, sizeof(t));
	t.last_used_time = 1500;
	t.extend_when_used = true;
	t.expiry_time = 2100;
	t.max_age_seconds = 600;
	usage_overlay(&t, &u);
	assert_int_equal(t.last_used_time, 2000);
	assert_string_equal(t.last_service, "sshd");
	assert_int_equal(t.expiry_time, 2500);
	close(fd);
}

static void
test_write_refusals(void **state)
{
	struct fx *f = *state;
	int fd = open_rw(f), ro = -1;

	assert_int_equal(usage_write(-1, 1, ID_A, 1, "", "", 0, 100),
	    APPUSER_ERR_INVALID);
	assert_int_equal(usage_write(fd, 0, ID_A, 1, "", "", 0, 100),
	    APPUSER_ERR_INVALID);
	assert_int_equal(usage_write(fd, 1, NULL, 1, "", "", 0, 100),
	    APPUSER_ERR_INVALID);
	assert_int_equal(usage_write(fd, 1, "short", 1, "", "", 0, 100),
	    APPUSER_ERR_INVALID);
	/* a descriptor opened for reading cannot take a write lock */
	assert_int_equal(usage_open(f->td.dir, geteuid(), false, &ro), 0);
	assert_int_equal(usage_write(ro, 1, ID_A, 1, "", "", 0, 100),
	    APPUSER_ERR_SYSTEM);
	close(ro);
	close(fd);
}

/* A file that cannot grow to the slot: the write fails, cleanly (no
 * cmocka call while the limit is low: its output may go to a file). */
static void
test_write_full(void **state)
{
	struct fx *f = *state;
	struct rlimit old, lim;
	void (*sig)(int) = signal(SIGXFSZ, SIG_IGN);
	struct usage u;
	int fd = open_rw(f), r;

	getrlimit(RLIMIT_FSIZE, &old);
	lim = old;
	lim.rlim_cur = 1024;
	setrlimit(RLIMIT_FSIZE, &lim);
	r = usage_write(fd, 100, ID_A, 1, "", "", 0, 100);
	setrlimit(RLIMIT_FSIZE, &old);
	signal(SIGXFSZ, sig);
	assert_int_equal(r, APPUSER_ERR_SYSTEM);
	assert_int_equal(usage_read(fd, 100, ID_A, &u), APPUSER_ERR_NOT_FOUND);
	/* and the slot is not left locked */
	assert_int_equal(usage_write(fd, 100, ID_A, 1, "", "", 0, 0), 0);
	close(fd);
}

static void
test_open_refusals(void **state)
{
	struct fx *f = *state;
	char missing[PATH_MAX], other[PATH_MAX];
	int fd = -1;

	assert_int_equal(usage_open(f->td.dir, geteuid(), false, &fd),
	    APPUSER_ERR_NOSTORE);
	snprintf(missing, sizeof(missing), "%s/none", f->td.base);
	assert_int_equal(usage_create(missing), APPUSER_ERR_SYSTEM);
	/* a symbolic link in its place is neither followed nor created */
	snprintf(other, sizeof(other), "%s/elsewhere", f->td.base);
	assert_int_equal(symlink(other, f->path), 0);
	assert_int_equal(usage_create(f->td.dir), APPUSER_ERR_UNSAFE);
	assert_int_equal(access(other, F_OK), -1);
	assert_int_equal(usage_open(f->td.dir, geteuid(), true, &fd),
	    APPUSER_ERR_UNSAFE);
	assert_int_equal(unlink(f->path), 0);
	/* as the writer leaves it, or refused */
	assert_int_equal(usage_create(f->td.dir), 0);
	assert_int_equal(chmod(f->path, 0640), 0);
	assert_int_equal(usage_open(f->td.dir, geteuid(), false, &fd),
	    APPUSER_ERR_UNSAFE);
	/* usage_create puts the mode right */
	assert_int_equal(usage_create(f->td.dir), 0);
	assert_int_equal(usage_open(f->td.dir, geteuid() + 1, false, &fd),
	    APPUSER_ERR_UNSAFE);
	assert_int_equal(usage_open(f->td.dir, geteuid(), false, &fd), 0);
	close(fd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		tmpdir_test(test_round_trip, setup),
		tmpdir_test(test_write_refusals, setup),
		tmpdir_test(test_write_full, setup),
		tmpdir_test(test_open_refusals, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
