/*
 * File system helpers for the store (see fsutil.h).
 */
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fsutil.h"

#define COPY_CHUNK	(1024 * 1024)

int
fs_errno(int e, int enoent_err)
{
	switch (e) {
	case EACCES:
	case EPERM:
	case EROFS:
		return APPUSER_ERR_PERMISSION;
	case ENOMEM:
		return APPUSER_ERR_NOMEM;
	case ENOENT:
	case ENOTDIR:
		return enoent_err;
	default:
		return APPUSER_ERR_SYSTEM;
	}
}

void
fs_io_errno(int fd)
{
	struct statvfs vfs;
	struct stat sb;
	int e = errno;

	if (fd != -1 && fstat(fd, &sb) == 0 && fstatvfs(fd, &vfs) == 0 &&
	    ((uint64_t)vfs.f_bavail * vfs.f_frsize < (uint64_t)sb.st_size ||
	    (vfs.f_files != 0 && vfs.f_favail == 0)))
		e = ENOSPC;
	errno = e != 0 ? e : EIO;
}

char *
fs_join(const char *dir, const char *name)
{
	char *p;

	if (asprintf(&p, "%s/%s", dir, name) == -1)
		return NULL;
	return p;
}

/* Owner root or euid; not group/other writable unless sticky_ok and +t. */
static int
check_mode(const struct stat *st, bool sticky_ok)
{
	if (st->st_uid != 0 && st->st_uid != geteuid())
		return APPUSER_ERR_UNSAFE;
	if ((st->st_mode & (S_IWGRP | S_IWOTH)) == 0)
		return 0;
	if (sticky_ok && (st->st_mode & S_ISVTX) != 0)
		return 0;
	return APPUSER_ERR_UNSAFE;
}

/* A link in path (literal, up to it): owner root or euid, parent safe. */
static int
check_link(char *path, const struct stat *lst)
{
	struct stat st;
	char *slash = strrchr(path, '/');
	int r;

	if (lst->st_uid != 0 && lst->st_uid != geteuid())
		return APPUSER_ERR_UNSAFE;
	*slash = '\0';
	r = stat(slash == path ? "/" : path, &st) == -1 ?
	    fs_errno(errno, APPUSER_ERR_NOSTORE) : check_mode(&st, true);
	*slash = '/';
	return r;
}

/* Walk the parents of the absolute, resolved path buf (modified). */
static int
check_parents(char *buf)
{
	struct stat st;
	char *slash;

	while ((slash = strrchr(buf, '/')) != NULL) {
		int r;

		if (slash == buf)
			slash[1] = '\0';	/* the root itself */
		else
			*slash = '\0';
		if (stat(buf, &st) == -1)
			return fs_errno(errno, APPUSER_ERR_NOSTORE);
		if ((r = check_mode(&st, true)) != 0)
			return r;
		if (slash == buf)
			break;
	}
	return 0;
}

/*
 * The path as given may pass through symbolic links that realpath() then
 * hides from check_parents(): each link must belong to root or the caller
 * and sit in a directory that passes the same test, or whoever controls it
 * could point the store somewhere else between the check and the open.
 */
static int
check_links(const char *dir)
{
	struct stat st;
	char cwd[PATH_MAX], *buf = NULL, *p, c;
	int r = APPUSER_ERR_INTERNAL;

	if (dir[0] == '/')
		buf = strdup(dir);
	else if (getcwd(cwd, sizeof(cwd)) != NULL)
		buf = fs_join(cwd, dir);
	else
		return fs_errno(errno, APPUSER_ERR_NOSTORE);
	if (buf == NULL)
		return APPUSER_ERR_NOMEM;
	for (p = buf + 1; ; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		c = *p;
		*p = '\0';
		if (lstat(buf, &st) == -1) {
			r = fs_errno(errno, APPUSER_ERR_NOSTORE);
			goto out;
		}
		if (S_ISLNK(st.st_mode) && (r = check_link(buf, &st)) != 0)
			goto out;
		*p = c;
		if (c == '\0')
			break;
	}
	r = 0;
 out:
	free(buf);
	return r;
}

int
fs_check_dir(const char *dir, uid_t *ownerp)
{
	struct stat st;
	char *buf = NULL;
	int r = APPUSER_ERR_INTERNAL;

	if ((r = check_links(dir)) != 0)
		return r;
	if ((buf = realpath(dir, NULL)) == NULL) {
		r = fs_errno(errno, APPUSER_ERR_NOSTORE);
		goto out;
	}
	if (stat(buf, &st) == -1) {
		r = fs_errno(errno, APPUSER_ERR_NOSTORE);
		goto out;
	}
	if (!S_ISDIR(st.st_mode)) {
		r = APPUSER_ERR_UNSAFE;
		goto out;
	}
	if ((r = check_mode(&st, false)) != 0 || (r = check_parents(buf)) != 0)
		goto out;
	*ownerp = st.st_uid;
	r = 0;
 out:
	free(buf);
	return r;
}

int
fs_mkdir(const char *dir, mode_t mode)
{
	if (mkdir(dir, mode) == -1) {
		if (errno == EEXIST)
			return 0;
		return fs_errno(errno, APPUSER_ERR_NOSTORE);
	}
	if (chmod(dir, mode) == -1)
		return fs_errno(errno, APPUSER_ERR_SYSTEM);
	return 0;
}

int
fs_check_file(int fd, uid_t owner, mode_t mode)
{
	struct stat st;

	if (fstat(fd, &st) == -1)
		return fs_errno(errno, APPUSER_ERR_SYSTEM);
	if (!S_ISREG(st.st_mode) || st.st_uid != owner ||
	    (st.st_mode & 07777) != mode)
		return APPUSER_ERR_UNSAFE;
	return 0;
}

/* Plain read/write loop, for file systems without copy_file_range. */
static int
copy_rw(int in, int out, off_t off)
{
	char *buf;
	ssize_t n, w, done;
	int r = APPUSER_ERR_INTERNAL;

	if ((buf = malloc(COPY_CHUNK)) == NULL)
		return APPUSER_ERR_NOMEM;
	for (;;) {
		if ((n = pread(in, buf, COPY_CHUNK, off)) == -1) {
			if (errno == EINTR)
				continue;
			r = fs_errno(errno, APPUSER_ERR_SYSTEM);
			goto out;
		}
		if (n == 0)
			break;
		for (done = 0; done < n; done += w) {
			if ((w = write(out, buf + done, n - done)) == -1) {
				if (errno == EINTR) {
					w = 0;
					continue;
				}
				r = fs_errno(errno, APPUSER_ERR_SYSTEM);
				goto out;
			}
		}
		off += n;
	}
	r = 0;
 out:
	free(buf);
	return r;
}

int
fs_copy_fd(int in, int out)
{
	loff_t off = 0;

	for (;;) {
		ssize_t n = copy_file_range(in, &off, out, NULL, COPY_CHUNK,
		    0);

		if (n == 0)
			return 0;
		if (n > 0)
			continue;
		if (errno == EINTR)
			continue;
		if (errno == EXDEV || errno == ENOSYS || errno == EINVAL ||
		    errno == EOPNOTSUPP)
			return copy_rw(in, out, off);
		return fs_errno(errno, APPUSER_ERR_SYSTEM);
	}
}

int
fs_fsync_dir(const char *dir)
{
	int fd, r = 0, e;

	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return fs_errno(errno, APPUSER_ERR_SYSTEM);
	if (fsync(fd) == -1)
		r = fs_errno(errno, APPUSER_ERR_SYSTEM);
	e = errno;
	close(fd);
	errno = e;	/* fsync's cause (EIO, ENOSPC), not close's */
	return r;
}

int
fs_remove_prefixed(const char *dir, const char *prefix)
{
	DIR *d;
	struct dirent *de;
	size_t plen = strlen(prefix);
	int dfd, r = 0, e = 0;

	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return fs_errno(errno, APPUSER_ERR_SYSTEM);
	if ((d = fdopendir(dfd)) == NULL) {
		close(dfd);
		return fs_errno(errno, APPUSER_ERR_SYSTEM);
	}
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, prefix, plen) != 0)
			continue;
		if (unlinkat(dfd, de->d_name, 0) == -1 && errno != ENOENT) {
			r = fs_errno(errno, APPUSER_ERR_SYSTEM);
			e = errno;
		}
	}
	closedir(d);
	if (r != 0)
		errno = e;	/* unlinkat's cause, not readdir's/close's */
	return r;
}

int64_t
fs_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

double
fs_mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
