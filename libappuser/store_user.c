/*
 * Users, the id range and the admin group.  Every mutator checks everything
 * first and writes after, so that a refused change writes nothing; a write
 * that fails half-way poisons the transaction (txn_fail) so it can only be
 * cancelled.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "names.h"
#include "store_int.h"

#define DEFAULT_HOME	"/nonexistent"
#define DEFAULT_SHELL	"/bin/sh"
#define ID_LIMIT	2147483647u	/* ids stay below 2^31 - 1 */

/* The host's accounts (the hook): EXISTS when name or id is taken there.
 * Names are checked as fn(name, 0), ids as fn(NULL, id). */
static int
collides(struct store *st, const char *name, uint32_t id)
{
	if (st->collide == NULL)
		return 0;
	return st->collide(name, id, st->collide_arg);
}

static int
name_taken(struct store *st, const char *name)
{
	struct key k;

	if (key_user(&k, KEY_USER, name) != 0)
		return APPUSER_ERR_INVALID;
	if (db_exists(st, &k) || strcmp(name, st->meta.admin_group) == 0)
		return APPUSER_ERR_EXISTS;
	return collides(st, name, 0);
}

/* Is id free for a new user (range, admin gid, our index, the host)? */
static int
id_free(struct store *st, uint32_t id)
{
	struct key k;

	if (id == 0)
		return APPUSER_ERR_INVALID;
	if (id < st->meta.uid_min || id > st->meta.uid_max ||
	    id == st->meta.admin_gid)
		return APPUSER_ERR_RANGE;
	key_uid(&k, id);
	if (db_exists(st, &k))
		return APPUSER_ERR_EXISTS;
	return collides(st, NULL, id);
}

/* Next free id from the cursor, wrapping inside [uid_min + 1, uid_max]. */
static int
id_alloc(struct store *st, uint32_t *idp)
{
	uint32_t lo = st->meta.uid_min + 1, hi = st->meta.uid_max, id;
	uint64_t n, span;

	if (lo > hi)
		return APPUSER_ERR_RANGE;
	span = (uint64_t)hi - lo + 1;
	id = st->meta.next_uid;
	if (id < lo || id > hi)
		id = lo;
	for (n = 0; n < span; n++, id = id == hi ? lo : id + 1) {
		int r = id_free(st, id);

		if (r == 0) {
			st->meta.next_uid = id == hi ? lo : id + 1;
			*idp = id;
			return 0;
		}
		if (r != APPUSER_ERR_EXISTS && r != APPUSER_ERR_RANGE)
			return r;
	}
	return APPUSER_ERR_RANGE;
}

static int
user_valid(const struct user *u)
{
	if (!name_is_valid(u->name) || !text_is_valid(u->description) ||
	    !path_is_valid(u->home) || !path_is_valid(u->shell))
		return APPUSER_ERR_INVALID;
	return 0;
}

/* Write u (complete) as U and I, count it, note it for the snapshot. */
static int
user_write(struct store *st, const struct user *u)
{
	uint8_t *buf = NULL;
	size_t len;
	struct key k;
	int r = APPUSER_ERR_INTERNAL;

	if ((r = record_encode_user(u, &buf, &len)) != 0)
		return r;
	if ((r = key_user(&k, KEY_USER, u->name)) != 0 ||
	    (r = db_store(st, &k, buf, len, TDB_INSERT)) != 0)
		goto out;
	key_uid(&k, u->uid);
	if ((r = db_store(st, &k, u->name, strlen(u->name), TDB_INSERT)) != 0)
		goto out;
	st->meta.n_users++;
	st->meta_dirty = st->identity_dirty = true;
	r = delta_add(st, u->name);
 out:
	free(buf);
	return r == 0 ? 0 : txn_fail(st, r);
}

static int
user_add(struct store *st, const struct user *in, struct user **createdp)
{
	struct user u = *in;
	int r = APPUSER_ERR_INTERNAL;

	u.description = in->description ? in->description : "";
	u.home = in->home ? in->home : DEFAULT_HOME;
	u.shell = in->shell ? in->shell : DEFAULT_SHELL;
	u.admin = false;
	u.create_time = (int64_t)time(NULL);
	if ((r = user_valid(&u)) != 0 || (r = name_taken(st, u.name)) != 0)
		return r;
	if (in->uid != 0)
		r = id_free(st, in->uid);
	else
		r = id_alloc(st, &u.uid);
	if (r != 0)
		return r;
	if (u.uid == 0)
		return APPUSER_ERR_INVALID;	/* never, whatever the range */
	u.gid = u.uid;
	if ((r = user_write(st, &u)) != 0)
		return r;
	if (createdp != NULL && (*createdp = user_dup(&u)) == NULL)
		return txn_fail(st, APPUSER_ERR_NOMEM);
	return 0;
}

int
store_user_add(struct store *st, const struct user *u, struct user **createdp)
{
	struct user *c = NULL;
	bool began;
	int r;

	if (u == NULL)
		return APPUSER_ERR_INVALID;
	if ((r = txn_enter(st, &began)) != 0)
		return r;
	r = txn_leave(st, began, user_add(st, u, createdp ? &c : NULL));
	if (r == 0 && createdp != NULL)
		*createdp = c;
	else
		user_free(c);
	return r;
}

/* meta.admins with name added (add) or removed; no-op if already so. */
static int
admins_update(struct store *st, const char *name, bool add)
{
	struct meta m = st->meta;
	const char **v;
	size_t i, n = 0;
	int r;

	if ((v = calloc(st->meta.n_admins + 1, sizeof(*v))) == NULL)
		return APPUSER_ERR_NOMEM;
	for (i = 0; i < st->meta.n_admins; i++)
		if (strcmp(st->meta.admins[i], name) != 0)
			v[n++] = st->meta.admins[i];
	if (add)
		v[n++] = name;
	m.admins = v;
	m.n_admins = n;
	r = meta_set(st, &m);
	free(v);
	return r;
}

static int
delete_listed(struct store *st, const char *id, void *arg)
{
	struct token t;
	struct key tk;
	TDB_DATA td;
	int r;

	(void)arg;
	key_token(&tk, id);
	if ((r = db_fetch(st, &tk, &td)) != 0)
		return r == APPUSER_ERR_NOT_FOUND ? 0 : r;
	if ((r = record_decode_token(td.dptr, td.dsize, &t)) == 0) {
		r = slot_free(st, t.usage_slot);
		token_clear(&t);
	}
	free(td.dptr);
	if (r == 0 && (r = db_delete(st, &tk)) == 0)
		r = tdelta_add(st, id);
	return r;
}

/* Delete every token of name (its L list) and the list itself. */
static int
tokens_delete(struct store *st, const char *name)
{
	struct key k;
	int r;

	if ((r = token_list_walk(st, name, delete_listed, NULL)) != 0 ||
	    (r = key_user(&k, KEY_LIST, name)) != 0)
		return r;
	r = db_delete(st, &k);
	return r == APPUSER_ERR_NOT_FOUND ? 0 : r;	/* never had a token */
}

static int
user_delete(struct store *st, const char *name)
{
	uint8_t *buf = NULL;
	struct user u;
	struct key k;
	int r = APPUSER_ERR_INTERNAL;

	if ((r = user_fetch(st, name, &buf, &u)) != 0)
		return r;
	if ((r = tokens_delete(st, name)) != 0)
		goto out;
	key_uid(&k, u.uid);
	if ((r = db_delete(st, &k)) != 0 && r != APPUSER_ERR_NOT_FOUND)
		goto out;
	if ((r = key_user(&k, KEY_USER, name)) != 0 ||
	    (r = db_delete(st, &k)) != 0 ||
	    (r = admins_update(st, name, false)) != 0)
		goto out;
	if (st->meta.n_users > 0)
		st->meta.n_users--;
	st->meta_dirty = st->identity_dirty = true;
	r = delta_add(st, name);
 out:
	free(buf);
	return r == 0 ? 0 : txn_fail(st, r);
}

int
store_user_delete(struct store *st, const char *name)
{
	bool began;
	int r;

	if ((r = txn_enter(st, &began)) != 0)
		return r;
	return txn_leave(st, began, user_delete(st, name));
}

static int
user_set_admin(struct store *st, const char *name, bool admin)
{
	uint8_t *buf = NULL, *nbuf = NULL;
	size_t nlen;
	struct user u;
	struct key k;
	int r = APPUSER_ERR_INTERNAL;

	if ((r = user_fetch(st, name, &buf, &u)) != 0)
		return r;
	if (u.admin == admin && meta_has_admin(&st->meta, name) == admin) {
		r = 0;
		goto out;
	}
	u.admin = admin;
	if ((r = record_encode_user(&u, &nbuf, &nlen)) != 0)
		goto out;
	if ((r = key_user(&k, KEY_USER, name)) != 0 ||
	    (r = db_store(st, &k, nbuf, nlen, TDB_REPLACE)) != 0 ||
	    (r = admins_update(st, name, admin)) != 0 ||
	    (r = delta_add(st, name)) != 0) {
		txn_fail(st, r);
		goto out;
	}
	st->identity_dirty = true;
 out:
	free(nbuf);
	free(buf);
	return r;
}

int
store_user_set_admin(struct store *st, const char *name, bool admin)
{
	bool began;
	int r;

	if ((r = txn_enter(st, &began)) != 0)
		return r;
	return txn_leave(st, began, user_set_admin(st, name, admin));
}

int
store_user_get(struct store *st, const char *name, struct user **up)
{
	uint8_t *buf = NULL;
	struct user u, *c;
	int r;

	if ((r = user_fetch(st, name, &buf, &u)) != 0)
		return r;
	c = user_dup(&u);
	free(buf);
	if (c == NULL)
		return APPUSER_ERR_NOMEM;
	*up = c;
	return 0;
}

struct user_walk {
	user_fn		 fn;
	void		*arg;
};

static int
user_walk_cb(TDB_DATA key, TDB_DATA data, void *arg)
{
	struct user_walk *w = arg;
	struct user u;
	int r;

	(void)key;
	if ((r = record_decode_user(data.dptr, data.dsize, &u)) != 0)
		return r == APPUSER_ERR_NOMEM || r == APPUSER_ERR_VERSION ? r :
		    APPUSER_ERR_CORRUPT;
	return w->fn(&u, w->arg);
}

int
store_user_foreach(struct store *st, user_fn fn, void *arg)
{
	struct user_walk w = { fn, arg };

	return db_walk(st, KEY_USER, user_walk_cb, &w);
}

struct range_walk {
	uint32_t	 min;
	uint32_t	 max;
};

static int
range_cb(TDB_DATA key, TDB_DATA data, void *arg)
{
	struct range_walk *w = arg;
	uint32_t id;

	(void)data;
	if (key.dsize != 5)
		return APPUSER_ERR_CORRUPT;
	id = (uint32_t)key.dptr[1] << 24 | (uint32_t)key.dptr[2] << 16 |
	    (uint32_t)key.dptr[3] << 8 | key.dptr[4];
	return id < w->min || id > w->max ? APPUSER_ERR_RANGE : 0;
}

static int
set_range(struct store *st, uint32_t min, uint32_t max)
{
	struct range_walk w = { min, max };
	struct key k;
	int r;

	if (min < APPUSER_ID_FLOOR || min >= max || max >= ID_LIMIT)
		return APPUSER_ERR_INVALID;
	if ((r = db_walk(st, KEY_UID, range_cb, &w)) != 0)
		return r;
	/*
	 * The admin group takes the first id of the range.  It moves with the
	 * range only while nobody gets it as a supplementary group (no admin
	 * yet): a member's running processes and files would keep the old
	 * gid.  The new gid must be free here and on the host.
	 */
	if (st->meta.admin_gid < min || st->meta.admin_gid > max) {
		if (st->meta.n_admins > 0)
			return APPUSER_ERR_RANGE;
		key_uid(&k, min);
		if (db_exists(st, &k))
			return APPUSER_ERR_EXISTS;
		if ((r = collides(st, NULL, min)) != 0)
			return r;
		st->meta.admin_gid = min;
	}
	st->meta.uid_min = min;
	st->meta.uid_max = max;
	if (st->meta.next_uid <= min || st->meta.next_uid > max)
		st->meta.next_uid = min + 1;
	st->meta_dirty = st->identity_dirty = true;
	return 0;
}

int
store_set_range(struct store *st, uint32_t min, uint32_t max)
{
	bool began;
	int r;

	if ((r = txn_enter(st, &began)) != 0)
		return r;
	return txn_leave(st, began, set_range(st, min, max));
}

static int
set_admin_group(struct store *st, const char *name)
{
	struct meta m = st->meta;
	struct key k;
	int r;

	if (!name_is_valid(name))
		return APPUSER_ERR_INVALID;
	if (strcmp(name, st->meta.admin_group) == 0)
		return 0;
	if ((r = key_user(&k, KEY_USER, name)) != 0)
		return APPUSER_ERR_INVALID;
	if (db_exists(st, &k))
		return APPUSER_ERR_EXISTS;
	if ((r = collides(st, name, 0)) != 0 ||
	    (r = collides(st, NULL, st->meta.admin_gid)) != 0)
		return r;
	m.admin_group = name;
	if ((r = meta_set(st, &m)) != 0)
		return txn_fail(st, r);
	st->identity_dirty = true;
	return 0;
}

int
store_set_admin_group(struct store *st, const char *name)
{
	bool began;
	int r;

	if ((r = txn_enter(st, &began)) != 0)
		return r;
	return txn_leave(st, began, set_admin_group(st, name));
}
