/*
 * The master's records: keys, fetch and store, the user record check, the
 * meta and the token generation, and walks over a key type.  What every
 * part of the store reads and writes through; it knows nothing of
 * transactions (store.c) or publication (store_snap.c), which both build
 * on it.  A STORE_AUTH handle has no master: db_fetch then reads the
 * published pairs.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <tdb.h>

#include "fsutil.h"
#include "store_int.h"

#define WALK_BATCH	256

int
db_err(struct tdb_context *tdb)
{
	switch (tdb_error(tdb)) {
	case TDB_ERR_CORRUPT:
		return APPUSER_ERR_CORRUPT;
	case TDB_ERR_OOM:
		return APPUSER_ERR_NOMEM;
	case TDB_ERR_EXISTS:
		return APPUSER_ERR_EXISTS;
	case TDB_ERR_NOEXIST:
		return APPUSER_ERR_NOT_FOUND;
	case TDB_ERR_LOCK:
	case TDB_ERR_NOLOCK:
	case TDB_ERR_LOCK_TIMEOUT:
		return APPUSER_ERR_BUSY;
	case TDB_ERR_RDONLY:
		return APPUSER_ERR_PERMISSION;
	case TDB_ERR_IO:
		fs_io_errno(tdb_fd(tdb));	/* the cause, for the message */
		return APPUSER_ERR_SYSTEM;
	default:
		return APPUSER_ERR_SYSTEM;
	}
}

/* type + name, for U and L keys.  A name that cannot exist: NOT_FOUND. */
int
key_user(struct key *k, char type, const char *name)
{
	size_t len;

	if (name == NULL || (len = strnlen(name, APPUSER_NAME_MAX + 1)) == 0 ||
	    len > APPUSER_NAME_MAX)
		return APPUSER_ERR_NOT_FOUND;
	k->b[0] = (uint8_t)type;
	memcpy(k->b + 1, name, len);
	k->len = 1 + len;
	return 0;
}

void
key_uid(struct key *k, uint32_t uid)
{
	k->b[0] = KEY_UID;
	k->b[1] = (uint8_t)(uid >> 24);
	k->b[2] = (uint8_t)(uid >> 16);
	k->b[3] = (uint8_t)(uid >> 8);
	k->b[4] = (uint8_t)uid;
	k->len = 5;
}

void
key_token(struct key *k, const char *id)
{
	k->b[0] = KEY_TOKEN;
	memcpy(k->b + 1, id, TOKEN_ID_LEN);
	k->len = 1 + TOKEN_ID_LEN;
}

TDB_DATA
key_data(const struct key *k)
{
	TDB_DATA d = { (unsigned char *)(uintptr_t)k->b, k->len };

	return d;
}

/*
 * A STORE_AUTH handle has no master: users come from the identity pair and
 * tokens from the token pair it opened, copied so that callers free them
 * as they free tdb's.  Other keys live only in the master.
 */
static int
snap_fetch(struct store *st, const struct key *k, TDB_DATA *dp)
{
	const struct snapset *s;
	struct snaprec rec;
	TDB_DATA d;
	int r;

	if (k->b[0] == KEY_USER)
		s = &st->ids;
	else if (k->b[0] == KEY_TOKEN)
		s = &st->toks;
	else
		return APPUSER_ERR_NOT_FOUND;
	if ((r = snapset_get(s, k->b, k->len, &rec)) != 0)
		return r;
	if ((d.dptr = malloc(rec.vlen ? rec.vlen : 1)) == NULL)
		return APPUSER_ERR_NOMEM;
	memcpy(d.dptr, rec.val, rec.vlen);
	d.dsize = rec.vlen;
	*dp = d;
	return 0;
}

int
db_fetch(struct store *st, const struct key *k, TDB_DATA *dp)
{
	TDB_DATA d;

	if (st->tdb == NULL)
		return snap_fetch(st, k, dp);
	d = tdb_fetch(st->tdb, key_data(k));
	if (d.dptr == NULL)
		return db_err(st->tdb);
	*dp = d;
	return 0;
}

int
db_store(struct store *st, const struct key *k, const void *p, size_t n,
    int flag)
{
	TDB_DATA d = { (unsigned char *)(uintptr_t)p, n };

	if (tdb_store(st->tdb, key_data(k), d, flag) != 0)
		return db_err(st->tdb);
	return 0;
}

int
db_delete(struct store *st, const struct key *k)
{
	if (tdb_delete(st->tdb, key_data(k)) != 0)
		return db_err(st->tdb);
	return 0;
}

int
db_exists(struct store *st, const struct key *k)
{
	if (st->tdb == NULL)	/* STORE_AUTH: no master */
		return 0;
	return tdb_exists(st->tdb, key_data(k));
}

int
user_fetch(struct store *st, const char *name, uint8_t **bufp,
    struct user *u)
{
	struct key k;
	TDB_DATA d = { NULL, 0 };
	int r = APPUSER_ERR_INTERNAL;

	if ((r = key_user(&k, KEY_USER, name)) != 0 ||
	    (r = db_fetch(st, &k, &d)) != 0)
		return r;
	if ((r = record_decode_user(d.dptr, d.dsize, u)) != 0) {
		if (r != APPUSER_ERR_NOMEM && r != APPUSER_ERR_VERSION)
			r = APPUSER_ERR_CORRUPT;
		free(d.dptr);
		return r;
	}
	if (strcmp(u->name, name) != 0 || u->uid == 0) {
		free(d.dptr);
		return APPUSER_ERR_CORRUPT;
	}
	*bufp = d.dptr;
	return 0;
}

int
meta_check(const struct meta *m)
{
	if (m->format > STORE_FORMAT_VERSION)
		return APPUSER_ERR_VERSION;
	if (m->format == 0 || m->uid_min < APPUSER_ID_FLOOR ||
	    m->uid_min >= m->uid_max || m->admin_group == NULL)
		return APPUSER_ERR_CORRUPT;
	return 0;
}

/* Take over buf (a meta encoding) as st's current meta. */
static int
meta_adopt(struct store *st, uint8_t *buf, size_t len)
{
	struct meta m;
	int r;

	if ((r = record_decode_meta(buf, len, &m)) != 0) {
		free(buf);
		if (r != APPUSER_ERR_NOMEM && r != APPUSER_ERR_VERSION)
			r = APPUSER_ERR_CORRUPT;
		return r;
	}
	if ((r = meta_check(&m)) != 0) {
		meta_clear(&m);
		free(buf);
		return r;
	}
	meta_clear(&st->meta);
	free(st->metabuf);
	st->meta = m;
	st->metabuf = buf;
	return 0;
}

int
meta_load(struct store *st)
{
	TDB_DATA k = { (unsigned char *)KEY_META, KEY_META_LEN }, d;

	if (st->tdb == NULL) {	/* STORE_AUTH: the identity snapshot's */
		struct snaprec rec;
		int r;

		if ((r = snapset_get(&st->ids, KEY_META, KEY_META_LEN,
		    &rec)) != 0)
			return r == APPUSER_ERR_NOT_FOUND ?
			    APPUSER_ERR_CORRUPT : r;
		if ((d.dptr = malloc(rec.vlen ? rec.vlen : 1)) == NULL)
			return APPUSER_ERR_NOMEM;
		memcpy(d.dptr, rec.val, rec.vlen);
		return meta_adopt(st, d.dptr, rec.vlen);
	}
	d = tdb_fetch(st->tdb, k);
	if (d.dptr == NULL)
		return tdb_error(st->tdb) == TDB_ERR_NOEXIST ?
		    APPUSER_ERR_CORRUPT : db_err(st->tdb);
	return meta_adopt(st, d.dptr, d.dsize);
}

/* Replace st->meta by m (which may point into the current meta). */
int
meta_set(struct store *st, const struct meta *m)
{
	uint8_t *buf = NULL;
	size_t len;
	int r;

	if ((r = record_encode_meta(m, &buf, &len)) != 0)
		return r;
	if ((r = meta_adopt(st, buf, len)) != 0)
		return r;
	st->meta_dirty = true;
	return 0;
}

int
meta_flush(struct store *st)
{
	TDB_DATA k = { (unsigned char *)KEY_META, KEY_META_LEN }, d;
	uint8_t *buf = NULL;
	size_t len;
	int r;

	if ((r = record_encode_meta(&st->meta, &buf, &len)) != 0)
		return r;
	d.dptr = buf;
	d.dsize = len;
	r = tdb_store(st->tdb, k, d, TDB_REPLACE) == 0 ? 0 : db_err(st->tdb);
	free(buf);
	return r;
}

int
tgen_load(struct store *st)
{
	TDB_DATA k = { (unsigned char *)KEY_TGEN, KEY_TGEN_LEN }, d;
	uint64_t g = 0;
	size_t i;

	d = tdb_fetch(st->tdb, k);
	if (d.dptr == NULL) {
		if (tdb_error(st->tdb) != TDB_ERR_NOEXIST)
			return db_err(st->tdb);
		st->tgen = 0;	/* a format-1 store: no token snapshot yet */
		return 0;
	}
	if (d.dsize != 8) {
		free(d.dptr);
		return APPUSER_ERR_CORRUPT;
	}
	for (i = 0; i < 8; i++)
		g = g << 8 | d.dptr[i];
	free(d.dptr);
	st->tgen = g;
	return 0;
}

int
tgen_flush(struct store *st)
{
	TDB_DATA k = { (unsigned char *)KEY_TGEN, KEY_TGEN_LEN }, d;
	uint8_t b[8];
	size_t i;

	for (i = 0; i < 8; i++)
		b[i] = (uint8_t)(st->tgen >> (56 - 8 * i));
	d.dptr = b;
	d.dsize = sizeof(b);
	return tdb_store(st->tdb, k, d, TDB_REPLACE) == 0 ? 0 :
	    db_err(st->tdb);
}

struct walk {
	char		 type;
	walk_fn		 fn;
	void		*arg;
	int		 r;
};

static int
walk_cb(struct tdb_context *tdb, TDB_DATA k, TDB_DATA d, void *arg)
{
	struct walk *w = arg;

	(void)tdb;
	if (w->type != '\0' && (k.dsize == 0 || k.dptr[0] != w->type))
		return 0;
	w->r = w->fn(k, d, w->arg);
	return w->r != 0;
}

struct batch {
	TDB_DATA	 k[WALK_BATCH];
	TDB_DATA	 d[WALK_BATCH];
	size_t		 n;
};

static void
batch_clear(struct batch *b)
{
	size_t i;

	for (i = 0; i < b->n; i++) {
		free(b->k[i].dptr);
		free(b->d[i].dptr);
	}
	b->n = 0;
}

/* Add a copy of key k and its data (skipped if gone meanwhile). */
static int
batch_add(struct store *st, struct batch *b, TDB_DATA k)
{
	TDB_DATA d;
	uint8_t *kc;

	d = tdb_fetch(st->tdb, k);
	if (d.dptr == NULL)
		return 0;
	if ((kc = malloc(k.dsize)) == NULL) {
		free(d.dptr);
		return APPUSER_ERR_NOMEM;
	}
	memcpy(kc, k.dptr, k.dsize);
	b->k[b->n].dptr = kc;
	b->k[b->n].dsize = k.dsize;
	b->d[b->n++] = d;
	return 0;
}

/* Up to WALK_BATCH records after *last (owned; NULL: from the start). */
static int
batch_fill(struct store *st, char type, struct batch *b, TDB_DATA *last,
    bool *endp)
{
	TDB_DATA k;
	int r = 0;

	if (tdb_lockall_read(st->tdb) != 0)
		return db_err(st->tdb);
	while (r == 0 && b->n < WALK_BATCH) {
		k = last->dptr == NULL ? tdb_firstkey(st->tdb) :
		    tdb_nextkey(st->tdb, *last);
		if (k.dptr == NULL) {
			*endp = true;
			break;
		}
		free(last->dptr);
		*last = k;
		if (type == '\0' || (k.dsize > 0 && k.dptr[0] == type))
			r = batch_add(st, b, k);
	}
	tdb_unlockall_read(st->tdb);
	return r;
}

/* Outside a transaction: copies in batches, fn runs with no lock held. */
static int
walk_batched(struct store *st, char type, walk_fn fn, void *arg)
{
	struct batch *b;
	TDB_DATA last = { NULL, 0 };
	bool end = false;
	size_t i;
	int r = 0;

	if ((b = calloc(1, sizeof(*b))) == NULL)
		return APPUSER_ERR_NOMEM;
	while (r == 0 && !end) {
		if ((r = batch_fill(st, type, b, &last, &end)) != 0)
			break;
		for (i = 0; r == 0 && i < b->n; i++)
			r = fn(b->k[i], b->d[i], arg);
		batch_clear(b);
	}
	batch_clear(b);
	free(b);
	free(last.dptr);
	return r;
}

int
db_walk(struct store *st, char type, walk_fn fn, void *arg)
{
	struct walk w = { type, fn, arg, 0 };

	if (st->tdb == NULL)	/* STORE_AUTH: the master is not open */
		return APPUSER_ERR_PERMISSION;
	if (!tdb_transaction_active(st->tdb))
		return walk_batched(st, type, fn, arg);
	if (tdb_traverse_read(st->tdb, walk_cb, &w) == -1 && w.r == 0)
		return db_err(st->tdb);
	return w.r;
}
