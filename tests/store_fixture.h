/*
 * Helpers shared by the store tests (and bench/bench_store.c): a fresh
 * temporary directory to hold a store, its removal, and small callbacks
 * that several tests pass to the store.  Each test file is built alone, so
 * everything here is static inline: a file that does not use a helper gets
 * no copy of it and no -Wunused-function.  No cmocka in here, so that the
 * benchmark can include it too.
 */
#ifndef APPUSER_TESTS_STORE_FIXTURE_H
#define APPUSER_TESTS_STORE_FIXTURE_H

#include <sys/stat.h>
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <tdb.h>

#include "keys.h"
#include "snapfile.h"
#include "store.h"

/*
 * Make a fresh directory from tmpl (a path ending in XXXXXX) in base and
 * name the store inside it, base/store, in dir; the store itself is not
 * created.  Returns 0, or -1 if mkdtemp failed.
 */
static inline int
fx_make_base(char *base, size_t baselen, const char *tmpl, char *dir,
    size_t dirlen)
{
	snprintf(base, baselen, "%s", tmpl);
	if (mkdtemp(base) == NULL)
		return -1;
	snprintf(dir, dirlen, "%s/store", base);
	return 0;
}

static inline int
fx_rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

/* Remove base and everything below it; links are removed, not followed. */
static inline void
fx_remove_tree(const char *base)
{
	nftw(base, fx_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* store_check's problems, counted and kept one a line, for the message. */
struct reports {
	int	 n;
	char	 all[4096];
};

static inline void
collect(const char *problem, void *arg)
{
	struct reports *r = arg;

	r->n++;
	strncat(r->all, problem, sizeof(r->all) - strlen(r->all) - 2);
	strcat(r->all, "\n");
}

/* An idview lookup's callback: the user's uid into *(uint32_t *)arg. */
static inline int
copy_uid(const struct user *u, void *arg)
{
	*(uint32_t *)arg = u->uid;
	return 0;
}

/* A TDB_DATA over n bytes at p, for raw tdb calls that plant faults. */
static inline TDB_DATA
kd(const void *p, size_t n)
{
	TDB_DATA d = { (unsigned char *)(uintptr_t)p, n };

	return d;
}

/* The master's uid index key of uid (keys.h): 'I' and uid, big-endian. */
static inline void
fx_uid_key(uint8_t key[KEY_UID_LEN], uint32_t uid)
{
	key[0] = KEY_UID;
	key[1] = (uint8_t)(uid >> 24);
	key[2] = (uint8_t)(uid >> 16);
	key[3] = (uint8_t)(uid >> 8);
	key[4] = (uint8_t)uid;
}

/* Copy from to to (created or truncated, given mode).  0 or -1. */
static inline int
fx_copy_file(const char *from, const char *to, mode_t mode)
{
	char buf[65536];
	ssize_t n = 0;
	int in, out, r = 0;

	if ((in = open(from, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (out == -1) {
		close(in);
		return -1;
	}
	while (r == 0 && (n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n)
			r = -1;
	if (n < 0 || fchmod(out, mode) != 0)
		r = -1;
	close(in);
	if (close(out) != 0)
		r = -1;
	return r;
}

/*
 * Descriptors of this process that point below dir (dir NULL: all of
 * them): how many (*np) and how many of those lack close-on-exec
 * (returned; each one below dir is named on stderr as a TAP comment), or
 * -1.
 */
static inline int
fx_fds_without_cloexec(const char *dir, int *np)
{
	char path[PATH_MAX], link[64];
	struct dirent *de;
	size_t dlen = dir != NULL ? strlen(dir) : 0;
	ssize_t n;
	DIR *d;
	int bad = 0, found = 0;

	if ((d = opendir("/proc/self/fd")) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		int fd;

		if (de->d_name[0] == '.' || (fd = atoi(de->d_name)) == dirfd(d))
			continue;
		snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
		if ((n = readlink(link, path, sizeof(path) - 1)) <= 0)
			continue;
		path[n] = '\0';
		if (dir != NULL && (strncmp(path, dir, dlen) != 0 ||
		    (path[dlen] != '/' && path[dlen] != '\0')))
			continue;
		found++;
		if ((fcntl(fd, F_GETFD) & FD_CLOEXEC) == 0) {
			if (dir != NULL)
				fprintf(stderr, "# fd %d (%s) lacks "
				    "FD_CLOEXEC\n", fd, path);
			bad++;
		}
	}
	closedir(d);
	if (np != NULL)
		*np = found;
	return bad;
}

/*
 * Replace dir's published delta of kind (snapfile.h) by one that holds
 * the current delta's records plus key -> val (val NULL: a tombstone),
 * which replaces a record of the same key; the generations stay.  What a
 * hand (or a bug) could leave there; readers and store_check must cope.
 * 0 or a negative APPUSER_ERR_*.
 */
static inline int
fx_plant_delta(const char *dir, int kind, const void *key, size_t klen,
    const void *val, size_t vlen)
{
	char path[PATH_MAX], tmp[PATH_MAX + 16];
	struct snapr *old = NULL;
	struct snapw *w = NULL;
	struct snaprec rec;
	uint32_t i;
	mode_t mode = kind == SNAP_KIND_TOKENS ? 0600 : 0644;
	int r;

	snprintf(path, sizeof(path), "%s/%s", dir, snapset_delta_name(kind));
	snprintf(tmp, sizeof(tmp), "%s.planted", path);
	if ((r = snapr_open(path, kind, geteuid(), 0, &old)) != 0)
		return r;
	r = snapw_create(tmp, kind, SNAPFILE_DELTA, snapr_generation(old),
	    snapr_base_gen(old), mode, &w);
	if (r == 0)
		r = snapw_add(w, key, klen, val, vlen);
	for (i = 0; r == 0 && i < snapr_count(old); i++) {
		if ((r = snapr_at(old, i, &rec)) != 0)
			break;
		if (rec.klen == klen && memcmp(rec.key, key, klen) == 0)
			continue;
		r = snapw_add(w, rec.key, rec.klen, rec.val, rec.vlen);
	}
	snapr_close(old);
	if (w != NULL && r != 0)
		snapw_abort(w);
	else if (w != NULL && (r = snapw_finish(w)) == 0 &&
	    rename(tmp, path) != 0)
		r = APPUSER_ERR_SYSTEM;
	return r;
}

#endif /* APPUSER_TESTS_STORE_FIXTURE_H */
