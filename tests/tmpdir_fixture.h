/*
 * A fresh temporary directory per test, for the unit tests that work on
 * files (tests/test_*.c): a fixture struct begins with a struct tmpdir
 * (base, made by mkdtemp, and dir, base/store), tmpdir_new() makes it and
 * tmpdir_free() removes the whole tree.  A fixture with nothing else to
 * release passes tmpdir_teardown to cmocka as it is.  With it, the file
 * helpers those tests share: a path in the directory (tmpdir_path), a
 * file written (fx_write_file), stat'ed (fx_stat), and a check run as
 * nobody (fx_as_nobody).  Asserts with cmocka, so include <cmocka.h>
 * first; the part without cmocka (which the benchmark shares) is
 * store_fixture.h.  Everything is static inline: a program that does not
 * use a helper gets no copy of it.
 */
#ifndef APPUSER_TESTS_TMPDIR_FIXTURE_H
#define APPUSER_TESTS_TMPDIR_FIXTURE_H

#include <sys/stat.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <grp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "store_fixture.h"

struct tmpdir {
	char	 base[64];	/* from mkdtemp; removed with all below it */
	char	 dir[128];	/* base/store */
};

/*
 * A zeroed fixture of size bytes, which must begin with a struct tmpdir:
 * base made from tmpl (a path ending in XXXXXX), dir named in it and, if
 * make_dir, created with mode 0755 (else left for the test, e.g. to
 * store_open, to create).
 */
static inline void *
tmpdir_new(size_t size, const char *tmpl, bool make_dir)
{
	struct tmpdir *t;

	assert_true(size >= sizeof(*t));
	t = calloc(1, size);
	assert_non_null(t);
	assert_int_equal(fx_make_base(t->base, sizeof(t->base), tmpl, t->dir,
	    sizeof(t->dir)), 0);
	if (make_dir)
		assert_int_equal(mkdir(t->dir, 0755), 0);
	return t;
}

/* Remove t's tree and free the fixture t begins. */
static inline void
tmpdir_free(struct tmpdir *t)
{
	fx_remove_tree(t->base);
	free(t);
}

static inline int
tmpdir_teardown(void **state)
{
	tmpdir_free(*state);
	return 0;
}

/* A cmocka test run in a fixture that setup makes with tmpdir_new. */
#define tmpdir_test(fn, setup) \
	cmocka_unit_test_setup_teardown(fn, setup, tmpdir_teardown)

/* A cmocka test run between the program's own setup and teardown. */
#define fx_test(fn)	cmocka_unit_test_setup_teardown(fn, setup, teardown)

/* dir/name in buf (asserted to fit), returned. */
static inline const char *
tmpdir_path(char *buf, size_t len, const char *dir, const char *name)
{
	assert_true((size_t)snprintf(buf, len, "%s/%s", dir, name) < len);
	return buf;
}

/* path's stat (lstat unless follow), asserted to succeed. */
static inline struct stat
fx_stat(const char *path, bool follow)
{
	struct stat sb;

	assert_int_equal(follow ? stat(path, &sb) : lstat(path, &sb), 0);
	return sb;
}

/*
 * fn(arg) in a forked child that has become nobody (uid and gid 65534, no
 * supplementary groups): asserts that the child could and that fn
 * returned true.  Only root can do this.
 */
static inline void
fx_as_nobody(bool (*fn)(void *), void *arg)
{
	pid_t pid;
	int status;

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (setgroups(0, NULL) != 0 ||
		    setresgid(65534, 65534, 65534) != 0 ||
		    setresuid(65534, 65534, 65534) != 0)
			_exit(3);
		_exit(fn(arg) ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* path (created or truncated) holding the n bytes at p, with mode. */
static inline void
fx_write_file(const char *path, const void *p, size_t n, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, p, n), (ssize_t)n);
	/* the mode as given, whatever the umask */
	assert_int_equal(fchmod(fd, mode), 0);
	assert_int_equal(close(fd), 0);
}

#endif /* APPUSER_TESTS_TMPDIR_FIXTURE_H */
