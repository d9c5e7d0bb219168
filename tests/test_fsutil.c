/*
 * Unit tests for the file system helpers (libappuser/fsutil.c): the
 * StrictModes directory check with its symbolic-link and parent rules, the
 * errno mapping, the copy with its read/write fallback, and the error
 * paths each helper reports.  Everything happens in a fresh directory
 * under /tmp; the cases that need another owner than the caller's run only
 * as root and skip otherwise.
 */
#include <sys/stat.h>
#include <sys/statvfs.h>
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

#include "fsutil.h"

#include "tmpdir_fixture.h"

/* Each test's fixture: base/store, not created. */
static int
setup(void **state)
{
	*state = tmpdir_new(sizeof(struct tmpdir), "/tmp/appuser-fsutil-XXXXXX",
	    false);
	return 0;
}

/* base/name, in buf. */
static const char *
in_base(struct tmpdir *f, const char *name, char *buf, size_t len)
{
	return tmpdir_path(buf, len, f->base, name);
}

static void
test_errno_map(void **state)
{
	char *p;

	(void)state;
	assert_int_equal(fs_errno(EACCES, 0), APPUSER_ERR_PERMISSION);
	assert_int_equal(fs_errno(EPERM, 0), APPUSER_ERR_PERMISSION);
	assert_int_equal(fs_errno(EROFS, 0), APPUSER_ERR_PERMISSION);
	assert_int_equal(fs_errno(ENOMEM, 0), APPUSER_ERR_NOMEM);
	assert_int_equal(fs_errno(ENOENT, APPUSER_ERR_NOSTORE),
	    APPUSER_ERR_NOSTORE);
	assert_int_equal(fs_errno(ENOTDIR, APPUSER_ERR_SYSTEM),
	    APPUSER_ERR_SYSTEM);
	assert_int_equal(fs_errno(EIO, APPUSER_ERR_NOSTORE), APPUSER_ERR_SYSTEM);
	assert_non_null(p = fs_join("/a/b", "c"));
	assert_string_equal(p, "/a/b/c");
	free(p);
}

/* fs_io_errno: no cause is EIO, a cause is kept, and a file larger than
 * the room left on its file system is ENOSPC (a sparse file says so
 * without filling anything). */
static void
test_io_errno(void **state)
{
	struct tmpdir *f = *state;
	struct statvfs vfs;
	char path[PATH_MAX];
	int fd;

	errno = 0;
	fs_io_errno(-1);
	assert_int_equal(errno, EIO);
	errno = EPERM;
	fs_io_errno(-1);
	assert_int_equal(errno, EPERM);
	fd = open(in_base(f, "sparse", path, sizeof(path)),
	    O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	errno = EIO;
	fs_io_errno(fd);		/* empty: there is room */
	assert_int_equal(errno, EIO);
	/* one GiB more than the room left, in a file with no blocks */
	assert_int_equal(fstatvfs(fd, &vfs), 0);
	if (ftruncate(fd, (off_t)(vfs.f_bavail * vfs.f_frsize) +
	    (1 << 30)) == 0) {
		errno = EIO;
		fs_io_errno(fd);
		assert_int_equal(errno, ENOSPC);
	} else
		print_message("# no sparse file that large here: ENOSPC "
		    "not seen\n");
	close(fd);
}

static void
test_check_dir(void **state)
{
	struct tmpdir *f = *state;
	char path[PATH_MAX], cwd[PATH_MAX];
	uid_t owner = 12345;

	assert_int_equal(fs_check_dir(f->dir, &owner), APPUSER_ERR_NOSTORE);
	assert_int_equal(mkdir(f->dir, 0755), 0);
	assert_int_equal(fs_check_dir(f->dir, &owner), 0);
	assert_int_equal(owner, geteuid());
	/* a relative path is checked from the working directory */
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(f->base), 0);
	owner = 12345;
	assert_int_equal(fs_check_dir("store", &owner), 0);
	assert_int_equal(owner, geteuid());
	assert_int_equal(chdir(cwd), 0);
	/* not a directory; a directory others may write into */
	fx_write_file(in_base(f, "file", path, sizeof(path)), "x", 1, 0644);
	assert_int_equal(fs_check_dir(path, &owner), APPUSER_ERR_UNSAFE);
	assert_int_equal(chmod(f->dir, 0775), 0);
	assert_int_equal(fs_check_dir(f->dir, &owner), APPUSER_ERR_UNSAFE);
	assert_int_equal(chmod(f->dir, 0755), 0);
	/* a parent others may write into, without the sticky bit */
	assert_int_equal(chmod(f->base, 0777), 0);
	assert_int_equal(fs_check_dir(f->dir, &owner), APPUSER_ERR_UNSAFE);
	assert_int_equal(chmod(f->base, 01777), 0);
	assert_int_equal(fs_check_dir(f->dir, &owner), 0);
	assert_int_equal(chmod(f->base, 0700), 0);
}

/* The working directory removed under the caller: a relative path cannot
 * be made absolute, and says so as "no store". */
static void
test_check_dir_no_cwd(void **state)
{
	struct tmpdir *f = *state;
	char cwd[PATH_MAX], gone[PATH_MAX];
	uid_t owner;

	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(mkdir(in_base(f, "gone", gone, sizeof(gone)), 0700),
	    0);
	assert_int_equal(chdir(gone), 0);
	assert_int_equal(rmdir(gone), 0);
	assert_int_equal(fs_check_dir("store", &owner), APPUSER_ERR_NOSTORE);
	assert_int_equal(chdir(cwd), 0);
}

/* Each symbolic link on the way must sit in a safe directory; a dangling
 * one is no store. */
static void
test_check_dir_links(void **state)
{
	struct tmpdir *f = *state;
	char link[PATH_MAX], sub[PATH_MAX - 16], link2[PATH_MAX];
	uid_t owner;

	assert_int_equal(mkdir(f->dir, 0755), 0);
	in_base(f, "link", link, sizeof(link));
	assert_int_equal(symlink(f->dir, link), 0);
	assert_int_equal(fs_check_dir(link, &owner), 0);
	/* the same link in a directory others may write into */
	assert_int_equal(mkdir(in_base(f, "open", sub, sizeof(sub)), 0755), 0);
	assert_int_equal(chmod(sub, 0777), 0);
	snprintf(link2, sizeof(link2), "%s/link", sub);
	assert_int_equal(symlink(f->dir, link2), 0);
	assert_int_equal(fs_check_dir(link2, &owner), APPUSER_ERR_UNSAFE);
	/* dangling */
	assert_int_equal(unlink(link), 0);
	assert_int_equal(symlink("/nonexistent/appuser-store", link), 0);
	assert_int_equal(fs_check_dir(link, &owner), APPUSER_ERR_NOSTORE);
}

/* Another owner than root or the caller: the directory, and a link. */
static void
test_check_dir_owner(void **state)
{
	struct tmpdir *f = *state;
	char link[PATH_MAX];
	uid_t owner;

	if (geteuid() != 0) {
		print_message("# SKIP other owners: needs root (chown)\n");
		skip();
		return;
	}
	assert_int_equal(mkdir(f->dir, 0755), 0);
	in_base(f, "link", link, sizeof(link));
	assert_int_equal(symlink(f->dir, link), 0);
	assert_int_equal(lchown(link, 65534, 65534), 0);
	assert_int_equal(fs_check_dir(link, &owner), APPUSER_ERR_UNSAFE);
	assert_int_equal(chown(f->dir, 65534, 65534), 0);
	assert_int_equal(fs_check_dir(f->dir, &owner), APPUSER_ERR_UNSAFE);
}

static void
test_mkdir_and_check_file(void **state)
{
	struct tmpdir *f = *state;
	char path[PATH_MAX], missing[PATH_MAX];
	struct stat sb;
	mode_t old = umask(077);
	int fd;

	assert_int_equal(fs_mkdir(f->dir, 0755), 0);	/* despite the umask */
	umask(old);
	assert_int_equal(stat(f->dir, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0755);
	assert_int_equal(fs_mkdir(f->dir, 0700), 0);	/* left alone */
	assert_int_equal(stat(f->dir, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0755);
	snprintf(missing, sizeof(missing), "%s/no/such", f->base);
	assert_int_equal(fs_mkdir(missing, 0755), APPUSER_ERR_NOSTORE);

	fx_write_file(in_base(f, "file", path, sizeof(path)), "x", 1, 0600);
	assert_int_equal(chmod(path, 0600), 0);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(fs_check_file(fd, geteuid(), 0600), 0);
	assert_int_equal(fs_check_file(fd, geteuid(), 0644),
	    APPUSER_ERR_UNSAFE);
	assert_int_equal(fs_check_file(fd, geteuid() + 1, 0600),
	    APPUSER_ERR_UNSAFE);
	close(fd);
	fd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(fs_check_file(fd, geteuid(), 0755),
	    APPUSER_ERR_UNSAFE);
	close(fd);
	assert_int_equal(fs_check_file(-1, geteuid(), 0600),
	    APPUSER_ERR_SYSTEM);
}

/* Pattern bytes, so that a copy at a wrong offset shows. */
static void
fill(uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 7 + i / 251);
}

static void
test_copy(void **state)
{
	struct tmpdir *f = *state;
	static uint8_t data[3 * 1024 * 1024 + 17], back[sizeof(data)];
	char src[PATH_MAX], dst[PATH_MAX];
	int in, out;

	fill(data, sizeof(data));
	fx_write_file(in_base(f, "src", src, sizeof(src)), data, sizeof(data),
	    0600);
	in = open(src, O_RDONLY | O_CLOEXEC);
	assert_true(in >= 0);
	out = open(in_base(f, "dst", dst, sizeof(dst)),
	    O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(out >= 0);
	assert_int_equal(fs_copy_fd(in, out), 0);
	assert_int_equal(pread(out, back, sizeof(back), 0),
	    (ssize_t)sizeof(back));
	assert_memory_equal(data, back, sizeof(data));
	close(out);
	/* a descriptor not open for writing: the copy's own error */
	out = open(dst, O_RDONLY | O_CLOEXEC);
	assert_true(out >= 0);
	assert_int_equal(fs_copy_fd(in, out), APPUSER_ERR_SYSTEM);
	close(out);
	close(in);
}

/* Where copy_file_range cannot go (not a regular file on one side), the
 * plain read/write loop does the copy, and reports its own errors. */
static void
test_copy_fallback(void **state)
{
	struct tmpdir *f = *state;
	uint8_t data[20000], back[sizeof(data)];
	char src[PATH_MAX], dst[PATH_MAX];
	int in, out, p[2];

	fill(data, sizeof(data));
	fx_write_file(in_base(f, "src", src, sizeof(src)), data, sizeof(data),
	    0600);
	in = open(src, O_RDONLY | O_CLOEXEC);
	assert_true(in >= 0);
	/* into a pipe: its buffer (64 KiB) holds the whole copy */
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_int_equal(fs_copy_fd(in, p[1]), 0);
	assert_int_equal(read(p[0], back, sizeof(back)),
	    (ssize_t)sizeof(back));
	assert_memory_equal(data, back, sizeof(data));
	/* from a pipe: it cannot be read at an offset */
	out = open(in_base(f, "dst", dst, sizeof(dst)),
	    O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(out >= 0);
	assert_int_equal(write(p[1], "abc", 3), 3);
	assert_int_equal(fs_copy_fd(p[0], out), APPUSER_ERR_SYSTEM);
	close(out);
	close(p[0]);
	close(p[1]);
	/* into a device that is always full */
	out = open("/dev/full", O_WRONLY | O_CLOEXEC);
	if (out >= 0) {
		assert_int_equal(fs_copy_fd(in, out), APPUSER_ERR_SYSTEM);
		close(out);
	} else
		print_message("# no /dev/full here: the write error not seen\n");
	close(in);
}

static void
test_fsync_and_remove(void **state)
{
	struct tmpdir *f = *state;
	char path[PATH_MAX];

	assert_int_equal(fs_mkdir(f->dir, 0755), 0);
	assert_int_equal(fs_fsync_dir(f->dir), 0);
	assert_int_equal(fs_fsync_dir(in_base(f, "none", path, sizeof(path))),
	    APPUSER_ERR_SYSTEM);
	snprintf(path, sizeof(path), "%s/.tmp-a", f->dir);
	fx_write_file(path, "a", 1, 0600);
	snprintf(path, sizeof(path), "%s/.tmp-b", f->dir);
	fx_write_file(path, "b", 1, 0600);
	snprintf(path, sizeof(path), "%s/keep", f->dir);
	fx_write_file(path, "k", 1, 0600);
	assert_int_equal(fs_remove_prefixed(f->dir, ".tmp-"), 0);
	assert_int_equal(access(path, F_OK), 0);
	snprintf(path, sizeof(path), "%s/.tmp-a", f->dir);
	assert_int_equal(access(path, F_OK), -1);
	/* an entry that cannot be unlinked (a directory): reported, with
	 * unlinkat's cause in errno, and the others still removed */
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/.tmp-c", f->dir);
	fx_write_file(path, "c", 1, 0600);
	errno = 0;
	assert_int_equal(fs_remove_prefixed(f->dir, ".tmp-"),
	    APPUSER_ERR_SYSTEM);
	assert_int_equal(errno, EISDIR);
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(fs_remove_prefixed(in_base(f, "none", path,
	    sizeof(path)), ".tmp-"), APPUSER_ERR_SYSTEM);
}

static void
test_mono_ms(void **state)
{
	int64_t a, b;

	(void)state;
	a = fs_mono_ms();
	usleep(20000);
	b = fs_mono_ms();
	assert_true(a > 0);
	assert_true(b - a >= 15 && b - a < 5000);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_errno_map),
		tmpdir_test(test_io_errno, setup),
		tmpdir_test(test_check_dir, setup),
		tmpdir_test(test_check_dir_no_cwd, setup),
		tmpdir_test(test_check_dir_links, setup),
		tmpdir_test(test_check_dir_owner, setup),
		tmpdir_test(test_mkdir_and_check_file, setup),
		tmpdir_test(test_copy, setup),
		tmpdir_test(test_copy_fallback, setup),
		tmpdir_test(test_fsync_and_remove, setup),
		cmocka_unit_test(test_mono_ms),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
