/*
 * Tokens.  In the master, T<id> holds the record and L<name> the user's
 * ids; every change also goes to the token snapshot (tokens.snap/.delta,
 * root-only, snapfile.h), which is all that verification reads.  Last use
 * goes to the usage file (usage.h), never to the master.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "codec.h"
#include "names.h"
#include "store_int.h"
#include "token.h"
#include "usage.h"

#define SLOTS_FREE_MAX	65536	/* free list cap; beyond it slots leak */

static bool
id_valid(const char *id)
{
	return id != NULL && strnlen(id, TOKEN_ID_LEN + 1) == TOKEN_ID_LEN &&
	    base62_valid(id, TOKEN_ID_LEN);
}

/* Fetch and decode T<id>: t is a view into *dp (free it, token_clear t). */
static int
token_fetch(struct store *st, const char *id, TDB_DATA *dp, struct token *t)
{
	struct key k;
	TDB_DATA d;
	int r;

	if (!id_valid(id))
		return APPUSER_ERR_NOT_FOUND;
	key_token(&k, id);
	if ((r = db_fetch(st, &k, &d)) != 0)
		return r;
	if ((r = record_decode_token(d.dptr, d.dsize, t)) != 0) {
		free(d.dptr);
		return r == APPUSER_ERR_NOMEM || r == APPUSER_ERR_VERSION ? r :
		    APPUSER_ERR_CORRUPT;
	}
	if (memcmp(t->id, id, TOKEN_ID_LEN) != 0) {
		token_clear(t);
		free(d.dptr);
		return APPUSER_ERR_CORRUPT;
	}
	*dp = d;
	return 0;
}

static int
token_put(struct store *st, const struct token *t, int flag)
{
	uint8_t *buf = NULL;
	size_t len;
	struct key k;
	int r;

	if ((r = record_encode_token(t, &buf, &len)) != 0)
		return r;
	key_token(&k, t->id);
	r = db_store(st, &k, buf, len, flag);
	free(buf);
	return r;
}

static int
token_valid(const struct token *t)
{
	size_t i;

	if (!name_is_valid(t->user) || !id_valid(t->id) ||
	    (t->description != NULL && !text_is_valid(t->description)) ||
	    t->n_allow > TOKEN_MAX_ALLOW || t->n_scope > TOKEN_MAX_SCOPE ||
	    (t->n_allow > 0 && t->allow == NULL) ||
	    (t->n_scope > 0 && t->scope == NULL))
		return APPUSER_ERR_INVALID;
	for (i = 0; i < t->n_scope; i++)
		if (t->scope[i] == NULL || !text_is_valid(t->scope[i]))
			return APPUSER_ERR_INVALID;
	return 0;
}

/*
 * !slots: be32 next never-used slot (from 1), then be32 freed slots.  A
 * freed slot may still hold its old token's data; usage_read compares the
 * id, so the new token does not inherit it.
 */
static int
slots_fetch(struct store *st, TDB_DATA *dp)
{
	TDB_DATA k = { (unsigned char *)KEY_SLOTS, KEY_SLOTS_LEN };

	*dp = tdb_fetch(st->tdb, k);
	if (dp->dptr == NULL) {
		if (tdb_error(st->tdb) != TDB_ERR_NOEXIST)
			return db_err(st->tdb);
		if ((dp->dptr = calloc(1, 4)) == NULL)
			return APPUSER_ERR_NOMEM;
		dp->dptr[3] = 1;
		dp->dsize = 4;
	}
	if (dp->dsize < 4 || dp->dsize % 4 != 0) {
		free(dp->dptr);
		return APPUSER_ERR_CORRUPT;
	}
	return 0;
}

static uint32_t
get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

static void
set_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

int
slot_alloc(struct store *st, uint32_t *slotp)
{
	TDB_DATA k = { (unsigned char *)KEY_SLOTS, KEY_SLOTS_LEN }, d;
	uint32_t slot, next;
	int r;

	if ((r = slots_fetch(st, &d)) != 0)
		return r;
	next = get_be32(d.dptr);
	if (d.dsize > 4) {		/* reuse the last freed one */
		slot = get_be32(d.dptr + d.dsize - 4);
		d.dsize -= 4;
	} else if (next == 0 || next >= USAGE_MAX_SLOT) {
		free(d.dptr);
		return APPUSER_ERR_RANGE;
	} else
		set_be32(d.dptr, (slot = next) + 1);
	r = tdb_store(st->tdb, k, d, TDB_REPLACE) == 0 ? 0 : db_err(st->tdb);
	free(d.dptr);
	if (r == 0)
		*slotp = slot;
	return r;
}

int
slot_free(struct store *st, uint32_t slot)
{
	TDB_DATA k = { (unsigned char *)KEY_SLOTS, KEY_SLOTS_LEN }, d;
	uint8_t *nb;
	int r;

	if (slot == 0 || slot >= USAGE_MAX_SLOT)
		return 0;
	if ((r = slots_fetch(st, &d)) != 0)
		return r;
	if (d.dsize / 4 > SLOTS_FREE_MAX) {
		free(d.dptr);
		return 0;
	}
	if ((nb = realloc(d.dptr, d.dsize + 4)) == NULL) {
		free(d.dptr);
		return APPUSER_ERR_NOMEM;
	}
	d.dptr = nb;
	set_be32(d.dptr + d.dsize, slot);
	d.dsize += 4;
	r = tdb_store(st->tdb, k, d, TDB_REPLACE) == 0 ? 0 : db_err(st->tdb);
	free(d.dptr);
	return r;
}

static int
token_add(struct store *st, const struct token *in)
{
	uint8_t *ubuf = NULL;
	struct token tc = *in, *t = &tc;
	struct user u;
	struct key k;
	TDB_DATA id = { (unsigned char *)(uintptr_t)in->id, TOKEN_ID_LEN };
	int r = APPUSER_ERR_INTERNAL;

	if ((r = token_valid(t)) != 0 ||
	    (r = user_fetch(st, t->user, &ubuf, &u)) != 0)
		return r;
	r = APPUSER_ERR_INVALID;
	if (t->uid != u.uid)
		goto out;
	key_token(&k, t->id);
	r = APPUSER_ERR_EXISTS;
	if (db_exists(st, &k))
		goto out;
	if ((r = slot_alloc(st, &t->usage_slot)) != 0 ||
	    (r = token_put(st, t, TDB_INSERT)) != 0 ||
	    (r = tdelta_add(st, t->id)) != 0 ||
	    (r = key_user(&k, KEY_LIST, t->user)) != 0)
		goto fail;
	if (tdb_append(st->tdb, key_data(&k), id) != 0)
		r = db_err(st->tdb);
 fail:
	if (r != 0)
		txn_fail(st, r);
 out:
	free(ubuf);
	return r;
}

int
store_token_add(struct store *st, const struct token *t)
{
	bool began;
	int r;

	if (t == NULL)
		return APPUSER_ERR_INVALID;
	if ((r = txn_enter(st, &began)) != 0)
		return r;
	return txn_leave(st, began, token_add(st, t));
}

/* User's token id list (L<name>), malloc'd; a user with none gets an
 * empty list, no such user NOT_FOUND. */
static int
list_fetch(struct store *st, const char *user, TDB_DATA *dp)
{
	struct key k;
	int r;

	if ((r = key_user(&k, KEY_LIST, user)) != 0)
		return r;
	r = db_fetch(st, &k, dp);
	if (r != APPUSER_ERR_NOT_FOUND)
		return r;
	if (key_user(&k, KEY_USER, user) != 0 || !db_exists(st, &k))
		return APPUSER_ERR_NOT_FOUND;
	dp->dptr = NULL;
	dp->dsize = 0;
	return 0;
}

int
token_list_walk(struct store *st, const char *user, id_fn fn, void *arg)
{
	TDB_DATA l = { NULL, 0 };
	char id[TOKEN_ID_LEN + 1];
	size_t off;
	int r;

	if ((r = list_fetch(st, user, &l)) != 0)
		return r;
	for (off = 0; r == 0 && TOKEN_ID_LEN <= l.dsize - off;
	    off += TOKEN_ID_LEN) {
		memcpy(id, l.dptr + off, TOKEN_ID_LEN);
		id[TOKEN_ID_LEN] = '\0';
		r = fn(st, id, arg);
	}
	free(l.dptr);
	return r;
}

static bool
list_has(TDB_DATA l, const char *id)
{
	size_t off;

	for (off = 0; TOKEN_ID_LEN <= l.dsize - off; off += TOKEN_ID_LEN)
		if (memcmp(l.dptr + off, id, TOKEN_ID_LEN) == 0)
			return true;
	return false;
}

/*
 * Write back t, a changed version of a stored token (record and snapshot
 * delta).  A failure poisons the txn.
 */
static int
token_rewrite(struct store *st, const struct token *t)
{
	int r;

	if ((r = token_put(st, t, TDB_REPLACE)) != 0 ||
	    (r = tdelta_add(st, t->id)) != 0)
		txn_fail(st, r);
	return r;
}

/* As token_fetch, but NOT_FOUND unless id is on user's list too. */
static int
listed_fetch(struct store *st, const char *user, const char *id, TDB_DATA *dp,
    struct token *t)
{
	TDB_DATA l = { NULL, 0 };
	int r;

	if (!id_valid(id))
		return APPUSER_ERR_NOT_FOUND;
	if ((r = list_fetch(st, user, &l)) != 0)
		return r;
	r = list_has(l, id) ? token_fetch(st, id, dp, t) :
	    APPUSER_ERR_NOT_FOUND;
	free(l.dptr);
	return r;
}

/* Revoke the token t (a view into d, both released); *newp if it was
 * live. */
static int
revoke_fetched(struct store *st, TDB_DATA d, struct token *t, bool *newp)
{
	int r = 0;

	*newp = false;
	if (t->revoke_time == 0) {
		t->revoke_time = (int64_t)time(NULL);
		r = token_rewrite(st, t);
		*newp = r == 0;
	}
	token_clear(t);
	free(d.dptr);
	return r;
}

static int
token_revoke(struct store *st, const char *user, const char *id)
{
	struct token t;
	TDB_DATA d;
	bool revoked;
	int r;

	if ((r = listed_fetch(st, user, id, &d, &t)) != 0)
		return r;
	return revoke_fetched(st, d, &t, &revoked);
}

int
store_token_revoke(struct store *st, const char *user, const char *id)
{
	bool began;
	int r;

	if ((r = txn_enter(st, &began)) != 0)
		return r;
	return txn_leave(st, began, token_revoke(st, user, id));
}

/*
 * Bring user's token id's expiry forward to expiry (never later: a fleet's
 * rotation ends the old token early, and nothing may give a token a longer
 * life); its sliding expiry stops, as in a local rotation.
 */
static int
token_shorten(struct store *st, const char *user, const char *id,
    int64_t expiry)
{
	TDB_DATA d = { NULL, 0 };
	struct token t;
	int r;

	if (!id_valid(id))
		return APPUSER_ERR_NOT_FOUND;
	if (expiry <= 0 || expiry > RECORD_TIME_MAX)
		return APPUSER_ERR_INVALID;
	if ((r = listed_fetch(st, user, id, &d, &t)) != 0)
		return r;
	if (t.expiry_time == 0 || expiry < t.expiry_time) {
		t.expiry_time = expiry;
		t.extend_when_used = false;
		r = token_rewrite(st, &t);
	}
	token_clear(&t);
	free(d.dptr);
	return r;
}

int
store_token_shorten(struct store *st, const char *user, const char *id,
    int64_t expiry)
{
	bool began;
	int r;

	if ((r = txn_enter(st, &began)) != 0)
		return r;
	return txn_leave(st, began, token_shorten(st, user, id, expiry));
}

static int
revoke_listed(struct store *st, const char *id, void *arg)
{
	size_t *np = arg;
	struct token t;
	TDB_DATA d;
	bool revoked = false;
	int r;

	if ((r = token_fetch(st, id, &d, &t)) == 0)
		r = revoke_fetched(st, d, &t, &revoked);
	if (r == APPUSER_ERR_NOT_FOUND)
		r = 0;		/* listed but gone: nothing to revoke */
	*np += revoked;
	return r;
}

static int
token_revoke_all(struct store *st, const char *user, size_t *countp)
{
	size_t n = 0;
	int r;

	if ((r = token_list_walk(st, user, revoke_listed, &n)) == 0)
		*countp = n;
	return r;
}

int
store_token_revoke_all(struct store *st, const char *user, size_t *countp)
{
	size_t n = 0;
	bool began;
	int r;

	if ((r = txn_enter(st, &began)) != 0)
		return r;
	r = txn_leave(st, began, token_revoke_all(st, user, &n));
	if (r == 0 && countp != NULL)
		*countp = n;
	return r;
}

/* Last use from the usage file over t (see usage.h); fd -1: none. */
static void
overlay(int fd, struct token *t, struct usage *u)
{
	if (fd != -1 && usage_read(fd, t->usage_slot, t->id, u) == 0)
		usage_overlay(t, u);
}

static int
usage_fd(struct store *st)
{
	int fd = -1;

	/* closed by the caller; dup() would not set close-on-exec */
	if (st->usagefd != -1)
		return fcntl(st->usagefd, F_DUPFD_CLOEXEC, 0);
	if (usage_open(st->dir, st->owner, false, &fd) != 0)
		return -1;
	return fd;
}

int
store_token_get(struct store *st, const char *id, struct token **tp)
{
	struct token t, *c;
	struct usage u;
	TDB_DATA d;
	int r, fd;

	if ((r = token_fetch(st, id, &d, &t)) != 0)
		return r;
	if ((fd = usage_fd(st)) != -1) {
		overlay(fd, &t, &u);
		close(fd);
	}
	c = token_dup(&t);
	token_clear(&t);
	free(d.dptr);
	if (c == NULL)
		return APPUSER_ERR_NOMEM;
	*tp = c;
	return 0;
}

struct token_walk {
	token_fn	 fn;
	void		*arg;
	int		 fd;	/* usage file or -1 */
};

static int
token_walk_cb(TDB_DATA key, TDB_DATA data, void *arg)
{
	struct token_walk *w = arg;
	struct usage u;
	struct token t;
	int r;

	(void)key;
	if ((r = record_decode_token(data.dptr, data.dsize, &t)) != 0)
		return r == APPUSER_ERR_NOMEM || r == APPUSER_ERR_VERSION ? r :
		    APPUSER_ERR_CORRUPT;
	overlay(w->fd, &t, &u);
	r = w->fn(&t, w->arg);
	token_clear(&t);
	return r;
}

static int
foreach_listed(struct store *st, const char *id, void *arg)
{
	struct token_walk *w = arg;
	struct usage u;
	struct token t;
	TDB_DATA d;
	int r;

	if ((r = token_fetch(st, id, &d, &t)) != 0)
		return r == APPUSER_ERR_NOT_FOUND ? 0 : r;
	overlay(w->fd, &t, &u);
	r = w->fn(&t, w->arg);
	token_clear(&t);
	free(d.dptr);
	return r;
}

int
store_token_foreach(struct store *st, const char *user, token_fn fn,
    void *arg)
{
	struct token_walk w = { fn, arg, -1 };
	int r;

	if (st->tdb == NULL)	/* STORE_AUTH: the lists are in the master */
		return APPUSER_ERR_PERMISSION;
	w.fd = usage_fd(st);
	if (user != NULL)
		r = token_list_walk(st, user, foreach_listed, &w);
	else
		r = db_walk(st, KEY_TOKEN, token_walk_cb, &w);
	if (w.fd != -1)
		close(w.fd);
	return r;
}

/*
 * What an unknown id is checked against, so that it costs what a known id
 * with a wrong secret does: the same decode, user lookup, usage read and
 * comparison (pam_appuser(8) promises the same time).
 */
static int
dummy_encode(uint8_t **bufp, size_t *lenp)
{
	static const char *scope[] = { "sshd" };
	struct token t;

	memset(&t, 0, sizeof(t));
	memcpy(t.id, "000000000000", TOKEN_ID_LEN);
	t.user = "nobody-appuser";
	t.uid = APPUSER_DEFAULT_UID_MIN;
	t.description = "unknown token";
	t.scope = scope;
	t.n_scope = 1;
	t.usage_slot = USAGE_MAX_SLOT - 1;
	return record_encode_token(&t, bufp, lenp);
}

/*
 * The token record for id from the token snapshot (or the dummy, encoded
 * each time: the module is loaded and unloaded per PAM handle, so a
 * once-only allocation would leak at every dlclose).
 */
static int
verify_fetch(struct store *st, const char *id, struct token *t, bool *knownp)
{
	struct snaprec rec;
	uint8_t *dummy = NULL;
	size_t dlen = 0;
	struct key k;
	int r;

	key_token(&k, id);
	r = snapset_get(&st->toks, k.b, k.len, &rec);
	if (r != 0 && r != APPUSER_ERR_NOT_FOUND)
		return r;
	*knownp = r == 0;
	if (r != 0) {
		if ((r = dummy_encode(&dummy, &dlen)) != 0)
			return r;
		rec.val = dummy;
		rec.vlen = dlen;
	}
	r = record_decode_token(rec.val, rec.vlen, t);
	free(dummy);
	if (r != 0)
		return r;
	if (*knownp && memcmp(t->id, id, TOKEN_ID_LEN) != 0) {
		token_clear(t);
		return APPUSER_ERR_CORRUPT;
	}
	return 0;
}

/* uid of the application user name from the identity snapshot. */
static int
verify_uid(struct store *st, const char *name, uint32_t *uidp)
{
	struct snaprec rec;
	struct user u;
	struct key k;
	int r;

	if ((r = key_user(&k, KEY_USER, name)) != 0 ||
	    (r = snapset_get(&st->ids, k.b, k.len, &rec)) != 0)
		return r;
	if (record_decode_user(rec.val, rec.vlen, &u) != 0 ||
	    strcmp(u.name, name) != 0 || u.uid < APPUSER_ID_FLOOR)
		return APPUSER_ERR_CORRUPT;
	*uidp = u.uid;
	return 0;
}

static int
verify_views(struct store *st)
{
	if (st->flags == STORE_AUTH)
		return 0;		/* opened with the handle */
	store_views_close(st);		/* the newest published pair */
	return store_views_open(st);
}

int
store_verify(struct store *st, const char *user, const char *tok,
    size_t len, const char *service, const char *rhost, int64_t now,
    struct token **tokenp)
{
	char id[TOKEN_ID_LEN + 1];
	uint8_t ver[TOKEN_VERIFIER_LEN];
	struct usage u;
	struct token t;
	uint32_t uid = 0;
	bool known = false;
	int r, v, fd;

	if (tokenp != NULL)
		*tokenp = NULL;
	if (st == NULL)
		return VERIFY_UNAVAILABLE;
	st->verified.set = false;
	if ((v = token_parse(tok, len, id, ver)) != VERIFY_OK)
		goto out;
	if (verify_views(st) != 0 || verify_fetch(st, id, &t, &known) != 0) {
		v = VERIFY_UNAVAILABLE;
		goto out;
	}
	r = verify_uid(st, user, &uid);
	fd = st->usagefd != -1 ? st->usagefd : -1;
	if (fd != -1 && usage_read(fd, t.usage_slot, t.id, &u) == 0 && known)
		usage_overlay(&t, &u);
	if (r != 0)
		v = r == APPUSER_ERR_NOT_FOUND ? VERIFY_NO_USER :
		    VERIFY_UNAVAILABLE;
	else
		v = token_check(known ? &t : NULL, user, uid, ver, service,
		    rhost, now);
	if (!known) {
		token_clear(&t);
		goto out;
	}
	if (v == VERIFY_OK) {
		st->verified.set = true;
		memcpy(st->verified.id, id, sizeof(id));
		st->verified.slot = t.usage_slot;
		st->verified.max_age = t.extend_when_used ? t.max_age_seconds :
		    0;
	}
	if (tokenp != NULL && (*tokenp = token_dup(&t)) == NULL)
		v = VERIFY_UNAVAILABLE;
	token_clear(&t);
 out:
	sodium_memzero(ver, sizeof(ver));
	return v;
}

int
store_token_touch(struct store *st, const char *id, int64_t now,
    const char *rhost, const char *service, int timeout_ms)
{
	int fd = st != NULL ? st->usagefd : -1, r;
	int64_t expiry;

	if (st == NULL || st->flags == STORE_READ)	/* store.h: AUTH, WRITE */
		return APPUSER_ERR_PERMISSION;
	if (!st->verified.set || id == NULL ||
	    strcmp(id, st->verified.id) != 0)
		return 0;	/* only a token verified on this handle */
	if (fd == -1 && (r = usage_open(st->dir, st->owner, true, &fd)) != 0)
		return r;
	expiry = st->verified.max_age > 0 ? now + st->verified.max_age : 0;
	r = usage_write(fd, st->verified.slot, id, now, rhost, service, expiry,
	    timeout_ms);
	if (fd != st->usagefd)
		close(fd);
	return r;
}

/*
 * End the old token of a rotation (eff: its record with the usage file's
 * sliding expiry over it).  Write errors poison the transaction.
 */
static int
rotate_end_old(struct store *st, struct token *old, const struct token *eff,
    int64_t now, int64_t grace)
{
	if (grace <= 0)
		old->revoke_time = now;
	else {
		int64_t end = grace < RECORD_TIME_MAX - now ? now + grace :
		    RECORD_TIME_MAX;
		if (eff->expiry_time != 0 && eff->expiry_time < end)
			end = eff->expiry_time;	/* never a longer life */
		old->expiry_time = end;
		old->extend_when_used = false;
	}
	return token_rewrite(st, old);
}

/* The new token of a rotation: old's restrictions, fresh times. */
static void
rotate_new(const struct token *old, const char *new_id,
    const uint8_t *verifier, int64_t now, struct token *nt)
{
	*nt = *old;
	memcpy(nt->id, new_id, TOKEN_ID_LEN);
	nt->id[TOKEN_ID_LEN] = '\0';
	memcpy(nt->verifier, verifier, TOKEN_VERIFIER_LEN);
	nt->create_time = now;
	nt->expiry_time = old->max_age_seconds > 0 ?
	    now + old->max_age_seconds : 0;
	nt->revoke_time = 0;
	nt->last_used_time = 0;
	nt->last_ip = "";
	nt->last_service = "";
	nt->usage_slot = 0;
}

static int
token_rotate(struct store *st, const char *user, const char *old_id,
    const char *new_id, const uint8_t *verifier, int64_t now, int64_t grace)
{
	struct token old, eff, nt;
	struct usage u;
	TDB_DATA d = { NULL, 0 };
	int r, fd;

	if (!id_valid(old_id))
		return APPUSER_ERR_NOT_FOUND;
	if (!id_valid(new_id) || verifier == NULL || now <= 0 ||
	    now > RECORD_TIME_MAX)
		return APPUSER_ERR_INVALID;
	if ((r = listed_fetch(st, user, old_id, &d, &old)) != 0)
		return r;
	eff = old;		/* a login may have pushed its expiry out */
	if ((fd = usage_fd(st)) != -1) {
		overlay(fd, &eff, &u);
		close(fd);
	}
	if (old.revoke_time != 0)
		r = APPUSER_ERR_DENIED;
	else if (token_is_expired(&eff, now))
		r = APPUSER_ERR_EXPIRED;
	else {
		rotate_new(&old, new_id, verifier, now, &nt);
		if ((r = token_add(st, &nt)) == 0)
			r = rotate_end_old(st, &old, &eff, now, grace);
	}
	token_clear(&old);
	free(d.dptr);
	return r;
}

int
store_token_rotate(struct store *st, const char *user, const char *old_id,
    const char *new_id, const uint8_t verifier[TOKEN_VERIFIER_LEN],
    int64_t now, int64_t grace)
{
	bool began;
	int r;

	if ((r = txn_enter(st, &began)) != 0)
		return r;
	return txn_leave(st, began, token_rotate(st, user, old_id, new_id,
	    verifier, now, grace));
}
