/*
 * The fixture the store's unit tests share (tests/test_store*.c): struct fx,
 * a fresh store directory per test (setup, teardown) with the paths of its
 * files, and helpers that build, read or damage a store (users, tokens,
 * the published pairs' headers, raw tdb access).  Over store_fixture.h
 * (which the benchmark shares too, so it has no cmocka) and
 * tmpdir_fixture.h (fx_stat, fx_test); this one asserts with cmocka.  Each test program is built alone, so the helpers here are
 * static inline: a program that does not use one gets no copy and no
 * -Wunused-function.  A helper only one program uses lives in that program.
 */
#ifndef APPUSER_TESTS_STORE_TEST_H
#define APPUSER_TESTS_STORE_TEST_H

#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>
#include <tdb.h>

#include "appuser.h"
#include "fsutil.h"
#include "gencount.h"
#include "names.h"
#include "record.h"
#include "snapfile.h"
#include "store.h"
#include "token.h"
#include "usage.h"

#include "store_fixture.h"
#include "tmpdir_fixture.h"

#define UMIN	APPUSER_DEFAULT_UID_MIN

struct fx {
	char		 base[64];
	char		 dir[128];
	char		 master[160];
	char		 ident[160];	/* identity.snap */
	char		 idelta[160];	/* identity.delta */
	char		 toks[160];	/* tokens.snap */
	char		 tdelta[160];	/* tokens.delta */
	char		 usage[160];
	char		 lock[160];
	char		 gen[160];
	struct store	*st;
};

/*
 * Each test's fixture: a fresh directory and the paths of the store's
 * files in it; the test makes the store (open_w).  teardown closes what
 * the test left open in f->st and removes the directory.
 */
static inline int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(fx_make_base(f->base, sizeof(f->base),
	    "/tmp/appuser-store-XXXXXX", f->dir, sizeof(f->dir)), 0);
	snprintf(f->master, sizeof(f->master), "%s/%s", f->dir,
	    APPUSER_MASTER_FILE);
	snprintf(f->ident, sizeof(f->ident), "%s/%s", f->dir,
	    APPUSER_IDENTITY_FILE);
	snprintf(f->idelta, sizeof(f->idelta), "%s/%s", f->dir,
	    APPUSER_IDENTITY_DELTA);
	snprintf(f->toks, sizeof(f->toks), "%s/%s", f->dir,
	    APPUSER_TOKENS_FILE);
	snprintf(f->tdelta, sizeof(f->tdelta), "%s/%s", f->dir,
	    APPUSER_TOKENS_DELTA);
	snprintf(f->usage, sizeof(f->usage), "%s/%s", f->dir,
	    APPUSER_USAGE_FILE);
	snprintf(f->lock, sizeof(f->lock), "%s/%s", f->dir, APPUSER_LOCK_FILE);
	snprintf(f->gen, sizeof(f->gen), "%s/%s", f->dir, APPUSER_GEN_FILE);
	*state = f;
	return 0;
}

static inline int
teardown(void **state)
{
	struct fx *f = *state;

	store_close(f->st);
	fx_remove_tree(f->base);
	free(f);
	return 0;
}

static inline struct store *
open_w(struct fx *f)
{
	assert_int_equal(store_open(f->dir, STORE_WRITE, &f->st), 0);
	return f->st;
}

static inline void
reopen(struct fx *f, int flags)
{
	store_close(f->st);
	f->st = NULL;
	assert_int_equal(store_open(f->dir, flags, &f->st), 0);
}

static inline void
close_st(struct fx *f)
{
	store_close(f->st);
	f->st = NULL;
}

static inline uint32_t
add(struct store *st, const char *name)
{
	struct user in = { .name = name }, *c = NULL;
	uint32_t uid;

	assert_int_equal(store_user_add(st, &in, &c), 0);
	assert_non_null(c);
	uid = c->uid;
	user_free(c);
	return uid;
}

static inline uint64_t
gen(struct store *st)
{
	struct meta m;

	assert_int_equal(store_get_meta(st, &m), 0);
	return m.generation;
}

/* The permission bits of path (a link followed). */
static inline mode_t
mode_of(const char *path)
{
	return fx_stat(path, true).st_mode & 07777;
}

/* An idview lookup's result: does the snapshot have name, with what uid? */
static inline int
snap_uid(struct fx *f, const char *name, uint32_t *uidp)
{
	struct idview *v = NULL;
	int r;

	if ((r = idview_open(f->dir, &v)) != 0)
		return r;
	r = idview_user_by_name(v, name, copy_uid, uidp);
	idview_close(v);
	return r;
}

static inline uint64_t
snap_gen(struct fx *f)
{
	struct idview *v = NULL;
	uint64_t g;

	assert_int_equal(idview_open(f->dir, &v), 0);
	g = idview_meta(v)->generation;
	idview_close(v);
	return g;
}

/* A token record for user (uid), from a freshly generated token. */
struct tok {
	char		 str[TOKEN_LEN + 1];
	struct token	 t;
};

static inline void
mint(struct store *st, struct tok *k, const char *user, uint32_t uid)
{
	memset(k, 0, sizeof(*k));
	assert_int_equal(token_generate(k->str, k->t.id, k->t.verifier), 0);
	k->t.user = user;
	k->t.uid = uid;
	k->t.description = "ci";
	k->t.create_time = time(NULL);
	if (st != NULL)
		assert_int_equal(store_token_add(st, &k->t), 0);
}

static inline int
verify(struct store *st, const char *user, const char *tok,
    const char *service, const char *rhost, int64_t now)
{
	return store_verify(st, user, tok, strlen(tok), service, rhost, now,
	    NULL);
}

/* Raw tdb access to a closed store file, for planting faults. */
static inline struct tdb_context *
raw(const char *path)
{
	struct tdb_context *t;

	t = tdb_open(path, 0, 0, O_RDWR, 0);
	assert_non_null(t);
	return t;
}

/* One published snapshot file as its header describes it. */
struct sinfo {
	uint64_t	 gen;
	uint64_t	 base_gen;
	uint32_t	 count;
	bool		 delta;
	ino_t		 ino;
};

static inline void
sinfo(const char *path, int kind, struct sinfo *si)
{
	struct snapr *r = NULL;

	assert_int_equal(snapr_open(path, kind, geteuid(), 0, &r), 0);
	si->gen = snapr_generation(r);
	si->base_gen = snapr_base_gen(r);
	si->count = snapr_count(r);
	si->delta = snapr_is_delta(r);
	si->ino = snapr_ino(r);
	snapr_close(r);
}

/*
 * The four published snapshot files, each as inode and generation: a file
 * that was not replaced keeps both (an inode number alone could come back
 * for a new file once the old one is gone).
 */
struct pub {
	ino_t		 ino;
	uint64_t	 gen;
};

struct inos {
	struct pub	 ident;
	struct pub	 idelta;
	struct pub	 toks;
	struct pub	 tdelta;
};

static inline void
pub_of(const char *path, int kind, struct pub *p)
{
	struct sinfo si;

	sinfo(path, kind, &si);
	memset(p, 0, sizeof(*p));
	p->ino = si.ino;
	p->gen = si.gen;
}

static inline void
inos(struct fx *f, struct inos *i)
{
	pub_of(f->ident, SNAP_KIND_IDENTITY, &i->ident);
	pub_of(f->idelta, SNAP_KIND_IDENTITY, &i->idelta);
	pub_of(f->toks, SNAP_KIND_TOKENS, &i->toks);
	pub_of(f->tdelta, SNAP_KIND_TOKENS, &i->tdelta);
}

/* A token's numbers as the master holds them (store_token_get). */
struct toknums {
	uint32_t	 slot;		/* usage slot */
	int64_t		 last_used;
	int64_t		 expiry;
};

static inline struct toknums
tok_nums(struct store *st, const char *id)
{
	struct token *t = NULL;
	struct toknums n;

	assert_int_equal(store_token_get(st, id, &t), 0);
	n.slot = t->usage_slot;
	n.last_used = t->last_used_time;
	n.expiry = t->expiry_time;
	token_free(t);
	return n;
}

static inline int
count_user(const struct user *u, void *arg)
{
	(void)u;
	(*(int *)arg)++;
	return 0;
}

/* n users named prefix0.. in one commit. */
static inline void
add_bulk(struct store *st, const char *prefix, int n)
{
	char name[24];
	int i;

	assert_int_equal(store_begin(st), 0);
	for (i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "%s%d", prefix, i);
		add(st, name);
	}
	assert_int_equal(store_commit(st), 0);
}

static inline int
count_token(const struct token *t, void *arg)
{
	(void)t;
	(*(int *)arg)++;
	return 0;
}

/* The whole of path, malloc'd, in *bufp; its size is returned. */
static inline size_t
slurp(const char *path, char **bufp)
{
	struct stat sb;
	char *buf;
	int fd;

	assert_int_equal(stat(path, &sb), 0);
	buf = malloc(sb.st_size + 1);
	assert_non_null(buf);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, buf, sb.st_size), sb.st_size);
	close(fd);
	*bufp = buf;
	return (size_t)sb.st_size;
}

#endif /* APPUSER_TESTS_STORE_TEST_H */
