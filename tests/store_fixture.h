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
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tdb.h>

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

#endif /* APPUSER_TESTS_STORE_FIXTURE_H */
