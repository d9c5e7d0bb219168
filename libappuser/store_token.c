/*
 * Tokens: records in the master only (never in the snapshot, never part of
 * the generation).  T<id> holds the record, L<name> the user's ids.
 * Token-only changes are master transactions that do not publish.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "codec.h"
#include "names.h"
#include "store_int.h"
#include "token.h"

/* Back-off while another process holds the transaction lock: start short,
 * since a token change holds it for about one fsync, and double up to 2 ms. */
#define TOUCH_SLEEP_MIN_NS	(50 * 1000)
#define TOUCH_SLEEP_MAX_NS	(2 * 1000 * 1000)
#define LAST_FIELD_MAX	255	/* last_ip, last_service as stored */

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

static int
token_add(struct store *st, const struct token *t)
{
	uint8_t *ubuf = NULL;
	struct user u;
	struct key k;
	TDB_DATA id = { (unsigned char *)(uintptr_t)t->id, TOKEN_ID_LEN };
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
	if ((r = token_put(st, t, TDB_INSERT)) != 0 ||
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

static bool
list_has(TDB_DATA l, const char *id)
{
	size_t off;

	for (off = 0; TOKEN_ID_LEN <= l.dsize - off; off += TOKEN_ID_LEN)
		if (memcmp(l.dptr + off, id, TOKEN_ID_LEN) == 0)
			return true;
	return false;
}

/* Revoke id now; *newp if it was live.  Write errors poison the txn. */
static int
revoke_one(struct store *st, const char *id, bool *newp)
{
	struct token t;
	TDB_DATA d;
	int r;

	*newp = false;
	if ((r = token_fetch(st, id, &d, &t)) != 0)
		return r;
	if (t.revoke_time == 0) {
		t.revoke_time = (int64_t)time(NULL);
		if ((r = token_put(st, &t, TDB_REPLACE)) != 0)
			txn_fail(st, r);
		*newp = r == 0;
	}
	token_clear(&t);
	free(d.dptr);
	return r;
}

static int
token_revoke(struct store *st, const char *user, const char *id)
{
	TDB_DATA l = { NULL, 0 };
	bool revoked;
	int r;

	if (!id_valid(id))
		return APPUSER_ERR_NOT_FOUND;
	if ((r = list_fetch(st, user, &l)) != 0)
		return r;
	if (list_has(l, id))
		r = revoke_one(st, id, &revoked);
	else
		r = APPUSER_ERR_NOT_FOUND;
	free(l.dptr);
	return r;
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

static int
token_revoke_all(struct store *st, const char *user, size_t *countp)
{
	TDB_DATA l = { NULL, 0 };
	char id[TOKEN_ID_LEN + 1];
	size_t off, n = 0;
	bool revoked;
	int r;

	if ((r = list_fetch(st, user, &l)) != 0)
		return r;
	for (off = 0; r == 0 && TOKEN_ID_LEN <= l.dsize - off;
	    off += TOKEN_ID_LEN) {
		memcpy(id, l.dptr + off, TOKEN_ID_LEN);
		id[TOKEN_ID_LEN] = '\0';
		r = revoke_one(st, id, &revoked);
		if (r == APPUSER_ERR_NOT_FOUND)
			r = 0;		/* listed but gone: nothing to revoke */
		n += revoked;
	}
	free(l.dptr);
	if (r == 0)
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

int
store_token_get(struct store *st, const char *id, struct token **tp)
{
	struct token t, *c;
	TDB_DATA d;
	int r;

	if ((r = token_fetch(st, id, &d, &t)) != 0)
		return r;
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
};

static int
token_walk_cb(TDB_DATA key, TDB_DATA data, void *arg)
{
	struct token_walk *w = arg;
	struct token t;
	int r;

	(void)key;
	if ((r = record_decode_token(data.dptr, data.dsize, &t)) != 0)
		return r == APPUSER_ERR_NOMEM || r == APPUSER_ERR_VERSION ? r :
		    APPUSER_ERR_CORRUPT;
	r = w->fn(&t, w->arg);
	token_clear(&t);
	return r;
}

/* The tokens in user's list, in the order they were added. */
static int
token_foreach_user(struct store *st, const char *user, token_fn fn,
    void *arg)
{
	TDB_DATA l = { NULL, 0 }, d;
	char id[TOKEN_ID_LEN + 1];
	struct token t;
	size_t off;
	int r;

	if ((r = list_fetch(st, user, &l)) != 0)
		return r;
	for (off = 0; r == 0 && TOKEN_ID_LEN <= l.dsize - off;
	    off += TOKEN_ID_LEN) {
		memcpy(id, l.dptr + off, TOKEN_ID_LEN);
		id[TOKEN_ID_LEN] = '\0';
		if ((r = token_fetch(st, id, &d, &t)) != 0) {
			if (r == APPUSER_ERR_NOT_FOUND)
				r = 0;
			continue;
		}
		r = fn(&t, arg);
		token_clear(&t);
		free(d.dptr);
	}
	free(l.dptr);
	return r;
}

int
store_token_foreach(struct store *st, const char *user, token_fn fn,
    void *arg)
{
	struct token_walk w = { fn, arg };

	if (user != NULL)
		return token_foreach_user(st, user, fn, arg);
	return db_walk(st, KEY_TOKEN, token_walk_cb, &w);
}

/* The decision, once the token parsed (t NULL: no such id). */
static int
verify_user(struct store *st, const struct token *t, const char *user,
    const uint8_t *ver, const char *service, const char *rhost, int64_t now)
{
	uint8_t *ubuf = NULL;
	struct user u;
	int r, v;

	if (t == NULL)
		return token_check(NULL, user, 0, ver, service, rhost, now);
	if ((r = user_fetch(st, user, &ubuf, &u)) != 0)
		return r == APPUSER_ERR_NOT_FOUND ? VERIFY_NO_USER :
		    VERIFY_UNAVAILABLE;
	v = token_check(t, user, u.uid, ver, service, rhost, now);
	free(ubuf);
	return v;
}

int
store_verify(struct store *st, const char *user, const char *tok,
    size_t len, const char *service, const char *rhost, int64_t now,
    struct token **tokenp)
{
	char id[TOKEN_ID_LEN + 1];
	uint8_t ver[TOKEN_VERIFIER_LEN];
	struct token t;
	TDB_DATA d = { NULL, 0 };
	int r, v;

	if (tokenp != NULL)
		*tokenp = NULL;
	if (st == NULL)
		return VERIFY_UNAVAILABLE;
	if ((v = token_parse(tok, len, id, ver)) != VERIFY_OK)
		goto out;
	r = token_fetch(st, id, &d, &t);
	if (r != 0 && r != APPUSER_ERR_NOT_FOUND) {
		v = VERIFY_UNAVAILABLE;
		goto out;
	}
	v = verify_user(st, r == 0 ? &t : NULL, user, ver, service, rhost,
	    now);
	if (r != 0)
		goto out;
	if (v == VERIFY_OK) {
		st->verified.set = true;
		memcpy(st->verified.id, id, sizeof(id));
		memcpy(st->verified.verifier, t.verifier, TOKEN_VERIFIER_LEN);
	}
	if (tokenp != NULL && (*tokenp = token_dup(&t)) == NULL)
		v = VERIFY_UNAVAILABLE;
	token_clear(&t);
 out:
	free(d.dptr);
	sodium_memzero(ver, sizeof(ver));
	return v;
}

/* s without control or non-ASCII bytes, cut to LAST_FIELD_MAX: these
 * come from the network (PAM_RHOST) and end up on an admin's terminal. */
static void
sanitize(const char *s, char *buf)
{
	size_t i;

	for (i = 0; s != NULL && s[i] != '\0' && i < LAST_FIELD_MAX; i++)
		buf[i] = (s[i] < 0x21 || s[i] > 0x7e) ? '?' : s[i];
	buf[i] = '\0';
}

/* Update the record if it is still the token that was verified; 1 if
 * written, 0 if skipped. */
static int
touch_apply(struct store *st, int64_t now, const char *rhost,
    const char *service)
{
	char ip[LAST_FIELD_MAX + 1], svc[LAST_FIELD_MAX + 1];
	struct token t;
	TDB_DATA d;
	int r;

	if ((r = token_fetch(st, st->verified.id, &d, &t)) != 0)
		return r == APPUSER_ERR_NOT_FOUND ? 0 : r;
	if (t.revoke_time != 0 || sodium_memcmp(t.verifier,
	    st->verified.verifier, TOKEN_VERIFIER_LEN) != 0) {
		r = 0;
		goto out;
	}
	sanitize(rhost, ip);
	sanitize(service, svc);
	t.last_used_time = now;
	t.last_ip = ip;
	t.last_service = svc;
	if (t.extend_when_used && t.max_age_seconds > 0)
		t.expiry_time = now + t.max_age_seconds;
	if ((r = token_put(st, &t, TDB_REPLACE)) == 0)
		r = 1;
 out:
	token_clear(&t);
	free(d.dptr);
	return r;
}

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Start a master transaction, retrying for up to timeout_ms. */
static int
txn_start_wait(struct store *st, int timeout_ms)
{
	struct timespec pause = { 0, TOUCH_SLEEP_MIN_NS };
	int64_t deadline = mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	int r;

	for (;;) {
		if (tdb_transaction_start_nonblock(st->tdb) == 0)
			return 0;
		if ((r = db_err(st->tdb)) != APPUSER_ERR_BUSY)
			return r;
		if (mono_ms() >= deadline)
			return APPUSER_ERR_BUSY;
		nanosleep(&pause, NULL);
		if (pause.tv_nsec < TOUCH_SLEEP_MAX_NS / 2)
			pause.tv_nsec *= 2;
		else
			pause.tv_nsec = TOUCH_SLEEP_MAX_NS;
	}
}

int
store_token_touch(struct store *st, const char *id, int64_t now,
    const char *rhost, const char *service, int timeout_ms)
{
	int r;

	if (st == NULL || st->flags == STORE_READ)
		return APPUSER_ERR_PERMISSION;
	if (!st->verified.set || id == NULL ||
	    strcmp(id, st->verified.id) != 0)
		return 0;	/* only a token verified on this handle */
	if (st->in_txn) {
		r = touch_apply(st, now, rhost, service);
		return r < 0 ? txn_fail(st, r) : 0;
	}
	if ((r = txn_start_wait(st, timeout_ms)) != 0)
		return r;
	r = touch_apply(st, now, rhost, service);
	if (r == 1 && tdb_transaction_commit(st->tdb) != 0)
		return db_err(st->tdb);
	if (r != 1)
		tdb_transaction_cancel(st->tdb);
	return r < 0 ? r : 0;
}
