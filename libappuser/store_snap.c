/*
 * Publishing the snapshot pairs: identity (users, 0644, read by NSS) and
 * tokens (0600, read by PAM).  The design (base + delta, the order of
 * renames, why a reader never sees a torn pair) is in snapfile.h; the
 * identity.gen counter that tells running readers about a new pair is in
 * gencount.h.
 *
 * A commit that changed a kind builds, before the master commits, either
 * a new delta (the published delta plus this transaction's keys, O(delta))
 * or, when the delta has outgrown its bound or the published pair does
 * not match the master's generation, a new base from the master plus an
 * empty delta (O(store)).  After the master commits, snap_install renames
 * the base (if any), then the delta, fsyncs the directory and bumps
 * identity.gen.
 */
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <tdb.h>

#include "fsutil.h"
#include "gencount.h"
#include "store_int.h"

/* Test hook: called at each step of publishing (see test_crash.c). */
void (*appuser_snap_step_hook)(const char *step);

static void
step(const char *name)
{
	if (appuser_snap_step_hook != NULL)
		appuser_snap_step_hook(name);
}

int
snap_kind_file(int kind)
{
	return kind == KIND_TOKENS ? SNAP_KIND_TOKENS : SNAP_KIND_IDENTITY;
}

mode_t
snap_kind_forbid(int kind)
{
	return kind == KIND_TOKENS ? 077 : 022;
}

static mode_t
kind_mode(int kind)
{
	return kind == KIND_TOKENS ? 0600 : 0644;
}

static uint64_t
kind_gen(const struct store *st, int kind)
{
	return kind == KIND_TOKENS ? st->tgen : st->meta.generation;
}

static uint64_t
kind_gen0(const struct store *st, int kind)
{
	return kind == KIND_TOKENS ? st->tgen0 : st->gen0;
}

/* The snapshot's meta: the master's, without the allocation cursor. */
static int
meta_value(struct store *st, TDB_DATA *dp)
{
	struct meta m = st->meta;
	uint8_t *buf = NULL;
	size_t len;
	int r;

	m.next_uid = 0;
	if ((r = record_encode_meta(&m, &buf, &len)) != 0)
		return r;
	dp->dptr = buf;
	dp->dsize = len;
	return 0;
}

static uint32_t
be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

int
snap_master_value(struct store *st, int kind, const uint8_t *key,
    size_t klen, TDB_DATA *dp)
{
	char name[APPUSER_NAME_MAX + 1];
	struct key k;
	TDB_DATA d;
	int r;

	if (kind == KIND_TOKENS) {
		if (klen != 1 + TOKEN_ID_LEN || key[0] != KEY_TOKEN)
			return APPUSER_ERR_NOT_FOUND;
		memcpy(k.b, key, klen);
		k.len = klen;
		return db_fetch(st, &k, dp);
	}
	if (klen == KEY_META_LEN && memcmp(key, KEY_META, klen) == 0)
		return meta_value(st, dp);
	if (klen == 5 && key[0] == KEY_UID) {
		key_uid(&k, be32(key + 1));
		if ((r = db_fetch(st, &k, &d)) != 0)
			return r;
		if (d.dsize == 0 || d.dsize > APPUSER_NAME_MAX) {
			free(d.dptr);
			return APPUSER_ERR_CORRUPT;
		}
		memcpy(name, d.dptr, d.dsize);
		name[d.dsize] = '\0';
		free(d.dptr);
		if (strlen(name) != d.dsize)
			return APPUSER_ERR_CORRUPT;
	} else if (klen >= 2 && klen <= KEY_MAX && key[0] == KEY_USER) {
		memcpy(name, key + 1, klen - 1);
		name[klen - 1] = '\0';
		if (strlen(name) != klen - 1)
			return APPUSER_ERR_NOT_FOUND;
	} else
		return APPUSER_ERR_NOT_FOUND;
	if ((r = key_user(&k, KEY_USER, name)) != 0)
		return r;
	return db_fetch(st, &k, dp);
}

static char *
tmp_name(struct store *st, int kind, bool base)
{
	char *p = NULL;

	if (asprintf(&p, "%s/%s%s.%ld", st->dir, SNAP_TMP_PREFIX,
	    base ? snapset_base_name(snap_kind_file(kind)) :
	    snapset_delta_name(snap_kind_file(kind)), (long)getpid()) == -1)
		return NULL;
	return p;
}

static void
pending_clear(struct store *st, int kind, bool unlink_files)
{
	struct pending *p = &st->pend[kind];
	int e = errno;	/* called on failure paths: keep their cause */

	if (unlink_files) {
		if (p->base_tmp != NULL)
			unlink(p->base_tmp);
		if (p->delta_tmp != NULL)
			unlink(p->delta_tmp);
	}
	free(p->base_tmp);
	free(p->delta_tmp);
	p->base_tmp = p->delta_tmp = NULL;
	errno = e;
}

/* ---------------------------------------------------------------------- */
/* Full build: a base from the master, and an empty delta on it. */

struct fill {
	struct snapw	*w;
	int		 kind;
};

static int
fill_cb(TDB_DATA key, TDB_DATA data, void *arg)
{
	struct fill *f = arg;
	struct user u;
	struct key k;
	int r;

	if (f->kind == KIND_TOKENS)
		return snapw_add(f->w, key.dptr, key.dsize, data.dptr,
		    data.dsize);
	/* a user: filed under U<name> and I<uid>, the same bytes */
	if (record_decode_user(data.dptr, data.dsize, &u) != 0 ||
	    u.uid == 0 || strlen(u.name) != key.dsize - 1 ||
	    memcmp(u.name, key.dptr + 1, key.dsize - 1) != 0)
		return APPUSER_ERR_CORRUPT;
	if ((r = snapw_add(f->w, key.dptr, key.dsize, data.dptr,
	    data.dsize)) != 0)
		return r;
	key_uid(&k, u.uid);
	return snapw_add(f->w, k.b, k.len, data.dptr, data.dsize);
}

static int
build_full(struct store *st, int kind)
{
	struct pending *p = &st->pend[kind];
	struct fill f = { NULL, kind };
	uint64_t gen = kind_gen(st, kind);
	int fk = snap_kind_file(kind);
	TDB_DATA m = { NULL, 0 };
	int r;

	if ((p->base_tmp = tmp_name(st, kind, true)) == NULL ||
	    (p->delta_tmp = tmp_name(st, kind, false)) == NULL)
		return APPUSER_ERR_NOMEM;
	if ((r = snapw_create(p->base_tmp, fk, 0, gen, gen, kind_mode(kind),
	    &f.w)) != 0)
		return r;
	if (kind == KIND_IDENTITY && (r = meta_value(st, &m)) == 0) {
		r = snapw_add(f.w, KEY_META, KEY_META_LEN, m.dptr, m.dsize);
		free(m.dptr);
	}
	if (r == 0)
		r = db_walk(st, kind == KIND_TOKENS ? KEY_TOKEN : KEY_USER,
		    fill_cb, &f);
	if (r != 0) {
		snapw_abort(f.w);
		return r;
	}
	if ((r = snapw_finish(f.w)) != 0)
		return r;
	step("base-written");
	if ((r = snapw_create(p->delta_tmp, fk, SNAPFILE_DELTA, gen, gen,
	    kind_mode(kind), &f.w)) != 0)
		return r;
	return snapw_finish(f.w);
}

/* ---------------------------------------------------------------------- */
/* Delta build: the published delta plus this transaction's keys. */

struct keyset {
	struct key	*k;
	size_t		 n;
	size_t		 cap;
};

static int
keyset_add(struct keyset *ks, const uint8_t *b, size_t len)
{
	struct key *nk;

	if (len == 0 || len > KEY_MAX)
		return APPUSER_ERR_CORRUPT;
	if (ks->n == ks->cap) {
		size_t ncap = ks->cap ? ks->cap * 2 : 64;

		if ((nk = realloc(ks->k, ncap * sizeof(*nk))) == NULL)
			return APPUSER_ERR_NOMEM;
		ks->k = nk;
		ks->cap = ncap;
	}
	memcpy(ks->k[ks->n].b, b, len);
	ks->k[ks->n++].len = len;
	return 0;
}

static int
key_cmp(const void *a, const void *b)
{
	const struct key *x = a, *y = b;
	size_t n = x->len < y->len ? x->len : y->len;
	int c = memcmp(x->b, y->b, n);

	return c != 0 ? c : (x->len > y->len) - (x->len < y->len);
}

static bool
keyset_has(const struct keyset *ks, const uint8_t *b, size_t len)
{
	struct key k;

	if (len > KEY_MAX)
		return false;
	memcpy(k.b, b, len);
	k.len = len;
	return bsearch(&k, ks->k, ks->n, sizeof(k), key_cmp) != NULL;
}

/* For a user name: U<name>, the uid it had in the published pair and
 * the uid it has now (an id freed and taken again in one transaction
 * moves from its old owner to the new one). */
static int
identity_keys(struct store *st, const struct snapset *pub, const char *name,
    struct keyset *ks)
{
	struct snaprec rec;
	struct user u;
	struct key k;
	TDB_DATA d;
	int r;

	if ((r = key_user(&k, KEY_USER, name)) != 0 ||
	    (r = keyset_add(ks, k.b, k.len)) != 0)
		return r == APPUSER_ERR_NOT_FOUND ? APPUSER_ERR_CORRUPT : r;
	if ((r = snapset_get(pub, k.b, k.len, &rec)) == 0) {
		if (record_decode_user(rec.val, rec.vlen, &u) != 0)
			return APPUSER_ERR_CORRUPT;
		key_uid(&k, u.uid);
		if ((r = keyset_add(ks, k.b, k.len)) != 0)
			return r;
	} else if (r != APPUSER_ERR_NOT_FOUND)
		return r;
	if ((r = key_user(&k, KEY_USER, name)) != 0)
		return r;
	if ((r = db_fetch(st, &k, &d)) == 0) {
		r = record_decode_user(d.dptr, d.dsize, &u);
		if (r == 0)
			key_uid(&k, u.uid);
		free(d.dptr);
		if (r != 0)
			return APPUSER_ERR_CORRUPT;
		return keyset_add(ks, k.b, k.len);
	}
	return r == APPUSER_ERR_NOT_FOUND ? 0 : r;
}

static int
changed_keys(struct store *st, int kind, const struct snapset *pub,
    struct keyset *ks)
{
	const struct delta *d = kind == KIND_TOKENS ? &st->tdelta : &st->delta;
	const char *p, *end = d->buf + d->len;
	struct key k;
	size_t i, o;
	int r;

	if (kind == KIND_IDENTITY &&
	    (r = keyset_add(ks, (const uint8_t *)KEY_META, KEY_META_LEN)) != 0)
		return r;
	for (p = d->buf; p != NULL && p < end; p += strlen(p) + 1) {
		if (kind == KIND_TOKENS) {
			if (strlen(p) != TOKEN_ID_LEN)
				return APPUSER_ERR_INTERNAL;
			key_token(&k, p);
			r = keyset_add(ks, k.b, k.len);
		} else
			r = identity_keys(st, pub, p, ks);
		if (r != 0)
			return r;
	}
	qsort(ks->k, ks->n, sizeof(*ks->k), key_cmp);
	for (i = o = 0; i < ks->n; i++)	/* unique */
		if (o == 0 || key_cmp(&ks->k[o - 1], &ks->k[i]) != 0)
			ks->k[o++] = ks->k[i];
	ks->n = o;
	return 0;
}

static int
add_changed(struct store *st, int kind, struct snapw *w,
    const struct keyset *ks)
{
	TDB_DATA d;
	size_t i;

	for (i = 0; i < ks->n; i++) {
		int r = snap_master_value(st, kind, ks->k[i].b, ks->k[i].len,
		    &d);

		if (r == APPUSER_ERR_NOT_FOUND)
			r = snapw_add(w, ks->k[i].b, ks->k[i].len, NULL, 0);
		else if (r == 0) {
			r = snapw_add(w, ks->k[i].b, ks->k[i].len, d.dptr,
			    d.dsize);
			free(d.dptr);
		}
		if (r != 0)
			return r;
	}
	return 0;
}

/* Records of the published delta that this transaction did not touch. */
static int
add_kept(struct snapw *w, const struct snapset *pub, const struct keyset *ks)
{
	struct snaprec rec;
	uint32_t i, n;

	if (pub->delta == NULL)
		return 0;
	n = snapr_count(pub->delta);
	for (i = 0; i < n; i++) {
		int r;

		if ((r = snapr_at(pub->delta, i, &rec)) != 0)
			return r;
		if (keyset_has(ks, rec.key, rec.klen))
			continue;
		if ((r = snapw_add(w, rec.key, rec.klen, rec.val,
		    rec.vlen)) != 0)
			return r;
	}
	return 0;
}

static uint64_t
delta_bound(const struct snapset *pub)
{
	uint64_t b = snapr_count(pub->base) / 16;

	if (b < SNAP_DELTA_MIN_BOUND)
		b = SNAP_DELTA_MIN_BOUND;
	return b > SNAP_DELTA_MAX_RECORDS ? SNAP_DELTA_MAX_RECORDS : b;
}

/* 0: built; NOT_FOUND: a full build is needed instead. */
static int
build_delta(struct store *st, int kind, const struct snapset *pub)
{
	struct pending *p = &st->pend[kind];
	struct keyset ks = { NULL, 0, 0 };
	struct snapw *w = NULL;
	uint64_t have = pub->delta ? snapr_count(pub->delta) : 0;
	int r;

	if ((r = changed_keys(st, kind, pub, &ks)) != 0)
		goto out;
	if (have + ks.n > delta_bound(pub)) {
		r = APPUSER_ERR_NOT_FOUND;	/* merge */
		goto out;
	}
	if ((p->delta_tmp = tmp_name(st, kind, false)) == NULL) {
		r = APPUSER_ERR_NOMEM;
		goto out;
	}
	if ((r = snapw_create(p->delta_tmp, snap_kind_file(kind),
	    SNAPFILE_DELTA, kind_gen(st, kind), snapr_generation(pub->base),
	    kind_mode(kind), &w)) != 0)
		goto out;
	if ((r = add_changed(st, kind, w, &ks)) != 0 ||
	    (r = add_kept(w, pub, &ks)) != 0) {
		snapw_abort(w);
		goto out;
	}
	r = snapw_finish(w);
 out:
	free(ks.k);
	return r;
}

static int
build_kind(struct store *st, int kind, bool full)
{
	struct snapset pub = { NULL, NULL, NULL };
	int r = APPUSER_ERR_NOT_FOUND;

	pending_clear(st, kind, true);
	if (!full && snapset_open(st->dir, snap_kind_file(kind), st->owner,
	    snap_kind_forbid(kind), &pub) == 0) {
		if (snapset_generation(&pub) == kind_gen0(st, kind))
			r = build_delta(st, kind, &pub);
		snapset_close(&pub);
	}
	if (r == APPUSER_ERR_NOT_FOUND) {
		pending_clear(st, kind, true);
		r = build_full(st, kind);
	}
	if (r != 0)
		pending_clear(st, kind, true);
	return r;
}

int
snap_build(struct store *st)
{
	int r = 0;

	if (st->identity_dirty)
		r = build_kind(st, KIND_IDENTITY, false);
	if (r == 0 && st->tokens_dirty)
		r = build_kind(st, KIND_TOKENS, false);
	if (r != 0)
		snap_discard(st);
	else
		step("built");
	return r;
}

/* ---------------------------------------------------------------------- */

static int
rename_into(struct store *st, const char *tmp, const char *name)
{
	char *path;
	int r = 0;

	if ((path = fs_join(st->dir, name)) == NULL)
		return APPUSER_ERR_NOMEM;
	if (rename(tmp, path) == -1)
		r = fs_errno(errno, APPUSER_ERR_SYSTEM);
	free(path);
	return r;
}

/* Base first, then delta: see CONSISTENT PAIRS in snapfile.h. */
static int
install_kind(struct store *st, int kind)
{
	struct pending *p = &st->pend[kind];
	int fk = snap_kind_file(kind), r = 0;

	if (p->base_tmp != NULL) {
		r = rename_into(st, p->base_tmp, snapset_base_name(fk));
		if (r == 0)
			step(kind == KIND_TOKENS ? "tokens-base-renamed" :
			    "identity-base-renamed");
	}
	if (r == 0 && p->delta_tmp != NULL)
		r = rename_into(st, p->delta_tmp, snapset_delta_name(fk));
	pending_clear(st, kind, r != 0);
	return r;
}

/*
 * After the master's commit.  The counter is bumped even if the
 * directory's fsync failed, since the renames themselves are visible.
 */
int
snap_install(struct store *st)
{
	bool ident = st->pend[KIND_IDENTITY].delta_tmp != NULL;
	bool any = ident || st->pend[KIND_TOKENS].delta_tmp != NULL;
	int r, r2, fr = 0, gr = 0;

	r = install_kind(st, KIND_TOKENS);
	r2 = install_kind(st, KIND_IDENTITY);
	if (any) {
		step("renamed");
		fr = fs_fsync_dir(st->dir);
	}
	if (ident && r2 == 0)
		gr = gencount_publish(st->dir, st->owner, st->meta.generation, true);
	snap_discard(st);
	return r != 0 ? r : r2 != 0 ? r2 : fr != 0 ? fr : gr;
}

void
snap_discard(struct store *st)
{
	pending_clear(st, KIND_IDENTITY, true);
	pending_clear(st, KIND_TOKENS, true);
}

/* Is kind's published pair readable and at the master's generation? */
static bool
kind_current(struct store *st, int kind)
{
	struct snapset pub = { NULL, NULL, NULL };
	bool ok;

	if (snapset_open(st->dir, snap_kind_file(kind), st->owner,
	    snap_kind_forbid(kind), &pub) != 0)
		return false;
	ok = snapset_generation(&pub) == kind_gen(st, kind);
	snapset_close(&pub);
	return ok;
}

/*
 * Republish every kind whose pair is missing, unreadable, not as the
 * writer leaves it, or of another generation than the master (a writer
 * died between its commit and its renames).  Reads the master under a
 * transaction, so the read is consistent; nothing is written to it.
 * identity.gen is created or repaired as far as possible: readers fall
 * back to a stat() without it, so a failure there does not stop the
 * writer (store_check reports what is left).
 */
int
snap_roll_forward(struct store *st, bool *repairedp)
{
	bool stale[2];
	int kind, r;

	*repairedp = false;
	if ((r = meta_load(st)) != 0 || (r = tgen_load(st)) != 0)
		return r;
	stale[KIND_IDENTITY] = !kind_current(st, KIND_IDENTITY);
	stale[KIND_TOKENS] = !kind_current(st, KIND_TOKENS);
	if (!stale[KIND_IDENTITY] && !stale[KIND_TOKENS]) {
		(void)gencount_publish(st->dir, st->owner, st->meta.generation, false);
		return 0;
	}
	if (tdb_transaction_start(st->tdb) != 0)
		return db_err(st->tdb);
	r = 0;
	for (kind = 0; r == 0 && kind < 2; kind++)
		if (stale[kind])
			r = build_kind(st, kind, true);
	tdb_transaction_cancel(st->tdb);
	if (r == 0)
		r = snap_install(st);
	if (r == 0 && !stale[KIND_IDENTITY])
		(void)gencount_publish(st->dir, st->owner, st->meta.generation, false);
	snap_discard(st);
	if (r == 0)
		*repairedp = true;
	return r;
}
