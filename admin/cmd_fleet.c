/*
 * `appuser --fleet FILE ...`: the lifecycle commands acting on the fleet's
 * etcd instead of the local store (data model: fleet.h), and `appuser fleet
 * status`.  The command functions in cmd_*.c parse and print as always and
 * call these in place of the store calls.
 *
 * Every change is one txn guarded by compares on what it read; a failed
 * compare (someone else changed the fleet meanwhile) re-reads and retries
 * after a jittered pause.  A txn whose outcome is unknown (BUSY: it timed
 * out and may have committed) is also re-read: a user create then finds its
 * own record (same bytes) and reports success.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "fleet.h"
#include "names.h"
#include "token.h"

#define FLEET_TRIES		12
#define FLEET_TIMEOUT_MS	5000
#define FLEET_PAGE		1000
#define CHUNK_USERS		40	/* 3 puts + 2 compares each, < 128 */
#define CHUNK_TOKENS		120

static void
jitter(int attempt)
{
	unsigned base = 10000u << (attempt < 6 ? attempt : 6);

	usleep(base + randombytes_uniform(base));
}

int
fleet_cli_open(struct cli *c)
{
	char err[512];
	int r;

	if (c->fleet != NULL)
		return EXIT_OK;
	if ((r = fleet_open(c->fleet_path, FLEET_TIMEOUT_MS, &c->fleet, err,
	    sizeof(err))) != 0) {
		cli_err(c, "%s", err);
		return r == APPUSER_ERR_NOT_FOUND || r == APPUSER_ERR_UNSAFE ||
		    r == APPUSER_ERR_INVALID ? EXIT_ERROR : cli_exit_for(r);
	}
	return EXIT_OK;
}

/* Report a failed etcd call; always EXIT_ERROR (a system error). */
static int
fail(struct cli *c, int r, const char *what)
{
	char eps[1024];

	fleet_endpoints(c->fleet->conf, eps, sizeof(eps));
	switch (r) {
	case APPUSER_ERR_SYSTEM:
		cli_err(c, "%s: no etcd endpoint of the fleet answered (%s; "
		    "config %s): %s; nothing was changed", what, eps,
		    c->fleet_path, etcd_errmsg(c->fleet->etcd));
		break;
	case APPUSER_ERR_BUSY:
		cli_err(c, "%s: etcd did not confirm the change (%s); it may "
		    "or may not have been applied: check with appuser --fleet "
		    "%s list", what, etcd_errmsg(c->fleet->etcd),
		    c->fleet_path);
		break;
	case APPUSER_ERR_PERMISSION:
	case APPUSER_ERR_DENIED:
		cli_err(c, "%s: etcd refused it (user %s, config %s): %s",
		    what, c->fleet->conf->user != NULL ?
		    c->fleet->conf->user : "none", c->fleet_path,
		    etcd_errmsg(c->fleet->etcd));
		break;
	case APPUSER_ERR_CORRUPT:
		cli_err(c, "%s: a record in etcd does not decode (written by "
		    "a newer appuser, or damaged)", what);
		break;
	default:
		cli_err(c, "%s: %s%s%s", what, appuser_strerror(r),
		    etcd_errmsg(c->fleet->etcd)[0] ? ": " : "",
		    etcd_errmsg(c->fleet->etcd));
	}
	return EXIT_ERROR;
}

static int
conflict(struct cli *c, const char *what)
{
	cli_err(c, "%s: the fleet kept changing under us (%d attempts); try "
	    "again", what, FLEET_TRIES);
	return EXIT_ERROR;
}

/* One key; *resp always set on success (nkvs 0 when absent). */
static int
get_key(struct cli *c, const char *key, size_t keylen,
    struct etcd_range_res **resp)
{
	struct etcd_range_req q;

	memset(&q, 0, sizeof(q));
	q.key = key;
	q.keylen = keylen;
	return etcd_range(c->fleet->etcd, &q, resp);
}

/* The fleet's meta (defaults when absent); res keeps the view alive. */
struct fmeta {
	struct etcd_range_res	*res;
	struct meta		 m;
	int64_t			 mod;	/* 0: absent */
	char			 key[FLEET_KEY_MAX];
	size_t			 keylen;
};

static void
fmeta_clear(struct fmeta *fm)
{
	meta_clear(&fm->m);
	etcd_range_free(fm->res);
	memset(fm, 0, sizeof(*fm));
}

static int
fmeta_read(struct cli *c, struct fmeta *fm)
{
	int n, r;

	memset(fm, 0, sizeof(*fm));
	if ((n = fleet_key_meta(c->fleet, fm->key, sizeof(fm->key))) < 0)
		return APPUSER_ERR_INVALID;
	fm->keylen = (size_t)n;
	if ((r = get_key(c, fm->key, fm->keylen, &fm->res)) != 0)
		return r;
	if (fm->res->nkvs == 0) {
		fleet_meta_default(&fm->m);
		return 0;
	}
	fm->mod = fm->res->kvs[0].mod_revision;
	if ((r = record_decode_meta((const uint8_t *)fm->res->kvs[0].value,
	    fm->res->kvs[0].valuelen, &fm->m)) != 0)
		return r;
	return 0;
}

/* A compare that holds while the meta is unchanged (or still absent). */
static void
fmeta_cmp(const struct fmeta *fm, struct etcd_cmp *cmp)
{
	memset(cmp, 0, sizeof(*cmp));
	cmp->key = fm->key;
	cmp->keylen = fm->keylen;
	cmp->target = fm->mod == 0 ? ETCD_CMP_CREATE : ETCD_CMP_MOD;
	cmp->result = ETCD_CMP_EQUAL;
	cmp->number = fm->mod;
}

/* A user as stored in etcd: owned copy, mod revision. */
static int
user_read(struct cli *c, const char *name, struct user **up, int64_t *modp)
{
	struct etcd_range_res *res = NULL;
	char key[FLEET_KEY_MAX];
	struct user u;
	int n, r;

	if ((n = fleet_key_user(c->fleet, name, key, sizeof(key))) < 0)
		return APPUSER_ERR_INVALID;
	if ((r = get_key(c, key, (size_t)n, &res)) != 0)
		return r;
	if (res->nkvs == 0)
		r = APPUSER_ERR_NOT_FOUND;
	else if ((r = record_decode_user((const uint8_t *)res->kvs[0].value,
	    res->kvs[0].valuelen, &u)) == 0) {
		if ((*up = user_dup(&u)) == NULL)
			r = APPUSER_ERR_NOMEM;
		else if (modp != NULL)
			*modp = res->kvs[0].mod_revision;
	}
	etcd_range_free(res);
	return r;
}

/*
 * name's record and its mod revision for a guarded write; an exit status:
 * a user the fleet does not have is refused (hint: what to add to the
 * message, or NULL).
 */
static int
user_read_for_write(struct cli *c, const char *name, const char *hint,
    struct user **up, int64_t *modp)
{
	int r;

	if ((r = user_read(c, name, up, modp)) == 0)
		return EXIT_OK;
	if (r != APPUSER_ERR_NOT_FOUND)
		return fail(c, r, "cannot read the fleet");
	cli_err(c, "no application user '%s' in the fleet%s", name,
	    hint != NULL ? hint : "");
	return EXIT_REFUSED;
}

/* After a guarded txn: TXN_AGAIN (busy, or a compare failed: read again
 * and retry) or an exit status (what: the error's prefix). */
#define TXN_AGAIN	(-1)
static int
txn_outcome(struct cli *c, int r, bool ok, const char *what)
{
	if (r == APPUSER_ERR_BUSY)
		return TXN_AGAIN;
	if (r != 0)
		return fail(c, r, what);
	return ok ? EXIT_OK : TXN_AGAIN;
}

static bool
key_exists(struct cli *c, const char *key, size_t keylen, int *errp)
{
	struct etcd_range_res *res = NULL;
	bool found;

	if ((*errp = get_key(c, key, keylen, &res)) != 0)
		return false;
	found = res->nkvs > 0;
	etcd_range_free(res);
	return found;
}

/* ---- users ------------------------------------------------------------ */

/* The next free uid from *cursor, inside (min, max], not the admin gid. */
static int
alloc_uid(struct cli *c, const struct meta *m, uint32_t *cursor,
    uint32_t *uidp)
{
	char key[FLEET_KEY_MAX];
	uint64_t tried, span = (uint64_t)m->uid_max - m->uid_min;
	uint32_t uid = *cursor;
	int n, r = 0;

	for (tried = 0; tried < span; tried++, uid++) {
		if (uid <= m->uid_min || uid > m->uid_max)
			uid = m->uid_min + 1;
		if (uid == m->admin_gid)
			continue;
		if ((n = fleet_key_uid(c->fleet, uid, key, sizeof(key))) < 0)
			return APPUSER_ERR_INVALID;
		if (!key_exists(c, key, (size_t)n, &r)) {
			if (r != 0)
				return r;
			*uidp = uid;
			*cursor = uid + 1;
			return 0;
		}
	}
	return APPUSER_ERR_RANGE;
}

struct upend {
	struct user	 u;
	char		 ukey[FLEET_KEY_MAX], ikey[FLEET_KEY_MAX];
	size_t		 ukeylen, ikeylen;
	uint8_t		*val;
	size_t		 vallen;
};

/*
 * Create users in[0..n) (uid 0: allocate) in txns of CHUNK_USERS; each
 * chunk is all or nothing.  created[i] receives owned copies.  Prints
 * errors; where[i] (optional) prefixes them.  Returns an exit status;
 * *donep: users created before a failure.
 */
int
fleet_cli_users_add(struct cli *c, const struct user *in, size_t n,
    const char *const *where, struct user **created, size_t *donep)
{
	struct etcd_cmp *cmp = NULL;
	struct etcd_op *ops = NULL;
	struct upend *p = NULL;
	struct fmeta fm;
	struct user *old = NULL;
	uint8_t *mval = NULL;
	size_t mlen, done = 0, k, i, nc;
	uint32_t cursor;
	int64_t rev;
	bool ok, busy = false;
	int attempt, r = EXIT_OK, e;
	char ikey[FLEET_KEY_MAX];

	memset(&fm, 0, sizeof(fm));
	*donep = 0;
	if ((r = fleet_cli_open(c)) != EXIT_OK)
		return r;
	if ((p = calloc(CHUNK_USERS, sizeof(*p))) == NULL ||
	    (cmp = calloc(2 * CHUNK_USERS + 1, sizeof(*cmp))) == NULL ||
	    (ops = calloc(2 * CHUNK_USERS + 1, sizeof(*ops))) == NULL) {
		r = fail(c, APPUSER_ERR_NOMEM, "out of memory");
		goto out;
	}
	while (done < n) {
		nc = n - done < CHUNK_USERS ? n - done : CHUNK_USERS;
		for (attempt = 0;; attempt++) {
			if (attempt == FLEET_TRIES) {
				r = conflict(c, "cannot create users");
				goto out;
			}
			if (attempt > 0)
				jitter(attempt);
			fmeta_clear(&fm);
			if ((e = fmeta_read(c, &fm)) != 0) {
				r = fail(c, e, "cannot read the fleet's "
				    "settings");
				goto out;
			}
			cursor = fm.m.next_uid;
			for (i = 0; i < nc; i++) {
				const struct user *u = &in[done + i];
				const char *w = where != NULL ?
				    where[done + i] : "";

				free(p[i].val);
				p[i].val = NULL;
				user_free(old);
				old = NULL;
				e = user_read(c, u->name, &old, NULL);
				if (e == 0) {
					/* ours, if a txn of unknown outcome
					 * went through after all */
					if (busy && old->uid != 0 &&
					    (u->uid == 0 || u->uid == old->uid)
					    && attempt > 0 &&
					    strcmp(old->description,
					    u->description ? u->description :
					    "") == 0 && i == 0 && nc == 1) {
						created[done] = old;
						old = NULL;
						done++;
						goto next_chunk;
					}
					cli_err(c, "%suser '%s' already exists "
					    "in the fleet", w, u->name);
					r = EXIT_REFUSED;
					goto out;
				}
				if (e != APPUSER_ERR_NOT_FOUND) {
					r = fail(c, e, "cannot read the fleet");
					goto out;
				}
				if (strcmp(u->name, fm.m.admin_group) == 0) {
					cli_err(c, "%sname '%s' is already "
					    "taken in the fleet (it names the "
					    "admin group)", w, u->name);
					r = EXIT_REFUSED;
					goto out;
				}
				p[i].u = *u;
				if (p[i].u.description == NULL)
					p[i].u.description = "";
				if (p[i].u.home == NULL)
					p[i].u.home = "/nonexistent";
				if (p[i].u.shell == NULL)
					p[i].u.shell = "/bin/sh";
				p[i].u.create_time = cli_now();
				if (u->uid != 0) {
					if (u->uid <= fm.m.uid_min ||
					    u->uid > fm.m.uid_max) {
						cli_err(c, "%sid %lu is outside "
						    "the fleet's range %lu-%lu",
						    w, (unsigned long)u->uid,
						    (unsigned long)fm.m.uid_min,
						    (unsigned long)fm.m.uid_max);
						r = EXIT_REFUSED;
						goto out;
					}
					if (fleet_key_uid(c->fleet, u->uid,
					    ikey, sizeof(ikey)) < 0 ||
					    key_exists(c, ikey, strlen(ikey),
					    &e) || e != 0) {
						if (e != 0) {
							r = fail(c, e, "cannot "
							    "read the fleet");
							goto out;
						}
						cli_err(c, "%sid %lu is already "
						    "taken in the fleet", w,
						    (unsigned long)u->uid);
						r = EXIT_REFUSED;
						goto out;
					}
				} else if ((e = alloc_uid(c, &fm.m, &cursor,
				    &p[i].u.uid)) != 0) {
					if (e == APPUSER_ERR_RANGE) {
						cli_err(c, "%sno free id left in "
						    "the fleet's range %lu-%lu",
						    w, (unsigned long)
						    fm.m.uid_min,
						    (unsigned long)
						    fm.m.uid_max);
						r = EXIT_REFUSED;
					} else
						r = fail(c, e, "cannot read "
						    "the fleet");
					goto out;
				}
				/* two of ours in one chunk: different uids */
				for (k = 0; k < i; k++)
					if (p[k].u.uid == p[i].u.uid ||
					    strcmp(p[k].u.name,
					    p[i].u.name) == 0) {
						cli_err(c, "%suser '%s' or id "
						    "%lu is given twice", w,
						    u->name, (unsigned long)
						    p[i].u.uid);
						r = EXIT_REFUSED;
						goto out;
					}
				p[i].u.gid = p[i].u.uid;
				if ((e = record_encode_user(&p[i].u,
				    &p[i].val, &p[i].vallen)) != 0) {
					r = fail(c, e, "cannot encode a user");
					goto out;
				}
				p[i].ukeylen = (size_t)fleet_key_user(c->fleet,
				    u->name, p[i].ukey, sizeof(p[i].ukey));
				p[i].ikeylen = (size_t)fleet_key_uid(c->fleet,
				    p[i].u.uid, p[i].ikey, sizeof(p[i].ikey));
			}
			fm.m.next_uid = cursor;
			free(mval);
			mval = NULL;
			if ((e = fleet_encode_meta(&fm.m, &mval, &mlen)) != 0) {
				r = fail(c, e, "cannot encode the settings");
				goto out;
			}
			memset(cmp, 0, (2 * CHUNK_USERS + 1) * sizeof(*cmp));
			memset(ops, 0, (2 * CHUNK_USERS + 1) * sizeof(*ops));
			fmeta_cmp(&fm, &cmp[0]);
			ops[0].type = ETCD_OP_PUT;
			ops[0].key = fm.key;
			ops[0].keylen = fm.keylen;
			ops[0].value = mval;
			ops[0].valuelen = mlen;
			for (i = 0; i < nc; i++) {
				cmp[1 + 2 * i].key = p[i].ukey;
				cmp[1 + 2 * i].keylen = p[i].ukeylen;
				cmp[1 + 2 * i].target = ETCD_CMP_CREATE;
				cmp[2 + 2 * i].key = p[i].ikey;
				cmp[2 + 2 * i].keylen = p[i].ikeylen;
				cmp[2 + 2 * i].target = ETCD_CMP_CREATE;
				ops[1 + 2 * i].type = ETCD_OP_PUT;
				ops[1 + 2 * i].key = p[i].ukey;
				ops[1 + 2 * i].keylen = p[i].ukeylen;
				ops[1 + 2 * i].value = p[i].val;
				ops[1 + 2 * i].valuelen = p[i].vallen;
				ops[2 + 2 * i].type = ETCD_OP_PUT;
				ops[2 + 2 * i].key = p[i].ikey;
				ops[2 + 2 * i].keylen = p[i].ikeylen;
				ops[2 + 2 * i].value = p[i].u.name;
				ops[2 + 2 * i].valuelen = strlen(p[i].u.name);
			}
			e = etcd_txn(c->fleet->etcd, cmp, 1 + 2 * nc, ops,
			    1 + 2 * nc, NULL, 0, &ok, &rev);
			if (e == APPUSER_ERR_BUSY) {
				busy = true;
				continue;
			}
			if (e != 0) {
				r = fail(c, e, "cannot create users");
				goto out;
			}
			if (!ok)
				continue;
			for (i = 0; i < nc; i++) {
				if ((created[done + i] = user_dup(&p[i].u)) ==
				    NULL) {
					r = fail(c, APPUSER_ERR_NOMEM,
					    "out of memory");
					done += i;
					goto out;
				}
			}
			done += nc;
			break;
		}
 next_chunk:
		busy = false;
	}
	r = EXIT_OK;
 out:
	*donep = done;
	if (p != NULL)
		for (i = 0; i < CHUNK_USERS; i++)
			free(p[i].val);
	user_free(old);
	free(p);
	free(cmp);
	free(ops);
	free(mval);
	fmeta_clear(&fm);
	return r;
}

int
fleet_cli_user_get(struct cli *c, const char *name, struct user **up)
{
	int r;

	if ((r = fleet_cli_open(c)) != EXIT_OK)
		return r;
	if ((r = user_read(c, name, up, NULL)) == APPUSER_ERR_NOT_FOUND) {
		cli_err(c, "no application user '%s' in the fleet", name);
		return EXIT_REFUSED;
	}
	return r != 0 ? fail(c, r, "cannot read the fleet") : EXIT_OK;
}

struct walk {
	user_fn		 ufn;
	token_fn	 tfn;
	void		*arg;
	int		 err;
};

static int
walk_user(void *arg, const struct etcd_kv *kv)
{
	struct walk *w = arg;
	struct user u;
	int r;

	if ((r = record_decode_user((const uint8_t *)kv->value, kv->valuelen,
	    &u)) != 0)
		return w->err = r;
	return w->ufn(&u, w->arg);
}

static int
walk_token(void *arg, const struct etcd_kv *kv)
{
	struct walk *w = arg;
	struct token t;
	int r;

	if ((r = record_decode_token((const uint8_t *)kv->value, kv->valuelen,
	    &t)) != 0)
		return w->err = r;
	r = w->tfn(&t, w->arg);
	token_clear(&t);
	return r;
}

static int
walk_prefix(struct cli *c, const char *key, etcd_kv_cb cb, struct walk *w)
{
	char *end = NULL;
	size_t endlen;
	int64_t rev;
	int r;

	if ((r = etcd_prefix_end(key, strlen(key), &end, &endlen)) != 0)
		return r;
	r = etcd_range_all(c->fleet->etcd, key, strlen(key), end, endlen, 0,
	    FLEET_PAGE, 0, cb, w, &rev);
	free(end);
	return w->err != 0 ? w->err : r;
}

/* Every user; fn's non-zero return stops (returned as an exit status). */
int
fleet_cli_user_foreach(struct cli *c, user_fn fn, void *arg)
{
	struct walk w = { fn, NULL, arg, 0 };
	char key[FLEET_KEY_MAX];
	int r;

	if ((r = fleet_cli_open(c)) != EXIT_OK)
		return r;
	if (fleet_key_users(c->fleet, key, sizeof(key)) < 0)
		return fail(c, APPUSER_ERR_INVALID, "bad prefix");
	if ((r = walk_prefix(c, key, walk_user, &w)) != 0)
		return fail(c, r, "cannot read the fleet's users");
	return EXIT_OK;
}

/* Tokens of name (NULL: everyone); prints NOT_FOUND for a missing user. */
int
fleet_cli_token_foreach(struct cli *c, const char *name, token_fn fn,
    void *arg)
{
	struct walk w = { NULL, fn, arg, 0 };
	struct user *u = NULL;
	char key[FLEET_KEY_MAX];
	int r;

	if ((r = fleet_cli_open(c)) != EXIT_OK)
		return r;
	if (name != NULL) {
		if ((r = fleet_cli_user_get(c, name, &u)) != EXIT_OK)
			return r;
		user_free(u);
	}
	if (fleet_key_tokens(c->fleet, name, key, sizeof(key)) < 0)
		return fail(c, APPUSER_ERR_INVALID, "bad prefix");
	if ((r = walk_prefix(c, key, walk_token, &w)) != 0)
		return fail(c, r, "cannot read the fleet's tokens");
	return EXIT_OK;
}

static int
count_tok(const struct token *t, void *arg)
{
	(void)t;
	(*(size_t *)arg)++;
	return 0;
}

int
fleet_cli_user_delete(struct cli *c, const char *name, struct user **up,
    size_t *ntokp)
{
	struct etcd_cmp cmp;
	struct etcd_op ops[3];
	struct user *u = NULL;
	char ukey[FLEET_KEY_MAX], ikey[FLEET_KEY_MAX], tkey[FLEET_KEY_MAX];
	char *tend = NULL;
	size_t tendlen, ntok;
	int64_t mod, rev;
	bool ok;
	int attempt, r;

	if ((r = fleet_cli_open(c)) != EXIT_OK)
		return r;
	if (fleet_key_user(c->fleet, name, ukey, sizeof(ukey)) < 0 ||
	    fleet_key_tokens(c->fleet, name, tkey, sizeof(tkey)) < 0 ||
	    etcd_prefix_end(tkey, strlen(tkey), &tend, &tendlen) != 0)
		return fail(c, APPUSER_ERR_INVALID, "bad key");
	for (attempt = 0; attempt < FLEET_TRIES; attempt++) {
		if (attempt > 0)
			jitter(attempt);
		user_free(u);
		u = NULL;
		if ((r = user_read_for_write(c, name, NULL, &u, &mod)) !=
		    EXIT_OK)
			goto out;
		ntok = 0;
		if ((r = fleet_cli_token_foreach(c, name, count_tok, &ntok)) !=
		    EXIT_OK)
			goto out;
		fleet_key_uid(c->fleet, u->uid, ikey, sizeof(ikey));
		memset(&cmp, 0, sizeof(cmp));
		memset(ops, 0, sizeof(ops));
		cmp.key = ukey;
		cmp.keylen = strlen(ukey);
		cmp.target = ETCD_CMP_MOD;
		cmp.number = mod;
		/* the user first: a host sees it gone before its tokens */
		ops[0].type = ops[1].type = ops[2].type = ETCD_OP_DELETE;
		ops[0].key = ukey;
		ops[0].keylen = strlen(ukey);
		ops[1].key = ikey;
		ops[1].keylen = strlen(ikey);
		ops[2].key = tkey;
		ops[2].keylen = strlen(tkey);
		ops[2].range_end = tend;
		ops[2].range_endlen = tendlen;
		r = etcd_txn(c->fleet->etcd, &cmp, 1, ops, 3, NULL, 0, &ok,
		    &rev);
		if ((r = txn_outcome(c, r, ok, "cannot delete the user")) ==
		    TXN_AGAIN)
			continue;
		if (r == EXIT_OK) {
			*up = u;
			u = NULL;
			*ntokp = ntok;
		}
		goto out;
	}
	r = conflict(c, "cannot delete the user");
 out:
	free(tend);
	user_free(u);
	return r;
}

/* Set name's admin flag; *wasp: what it was. */
int
fleet_cli_set_admin(struct cli *c, const char *name, bool admin, bool *wasp)
{
	struct etcd_cmp cmp;
	struct etcd_op op;
	struct user *u = NULL;
	char key[FLEET_KEY_MAX];
	uint8_t *val = NULL;
	size_t len;
	int64_t mod, rev;
	bool ok;
	int attempt, r;

	if ((r = fleet_cli_open(c)) != EXIT_OK)
		return r;
	fleet_key_user(c->fleet, name, key, sizeof(key));
	for (attempt = 0; attempt < FLEET_TRIES; attempt++) {
		if (attempt > 0)
			jitter(attempt);
		user_free(u);
		u = NULL;
		free(val);
		val = NULL;
		if ((r = user_read_for_write(c, name, NULL, &u, &mod)) !=
		    EXIT_OK)
			goto out;
		*wasp = u->admin;
		if (u->admin == admin) {
			r = EXIT_OK;
			goto out;
		}
		u->admin = admin;
		if ((r = record_encode_user(u, &val, &len)) != 0) {
			r = fail(c, r, "cannot encode the user");
			goto out;
		}
		memset(&cmp, 0, sizeof(cmp));
		memset(&op, 0, sizeof(op));
		cmp.key = op.key = key;
		cmp.keylen = op.keylen = strlen(key);
		cmp.target = ETCD_CMP_MOD;
		cmp.number = mod;
		op.type = ETCD_OP_PUT;
		op.value = val;
		op.valuelen = len;
		r = etcd_txn(c->fleet->etcd, &cmp, 1, &op, 1, NULL, 0, &ok,
		    &rev);
		if ((r = txn_outcome(c, r, ok, "cannot change the user")) !=
		    TXN_AGAIN)
			goto out;
	}
	r = conflict(c, "cannot change the user");
 out:
	free(val);
	user_free(u);
	return r;
}

/* ---- tokens ----------------------------------------------------------- */

/*
 * Mint a token for name from template t (metadata filled in by the caller)
 * and store its record; tok receives the token, t its id, verifier, user
 * and uid (t->user then points into *ownerp, an owned user).
 */
int
fleet_cli_token_add(struct cli *c, const char *name, struct token *t,
    char *tok, struct user **ownerp)
{
	struct etcd_cmp cmp[2];
	struct etcd_op op;
	struct user *u = NULL;
	char ukey[FLEET_KEY_MAX], tkey[FLEET_KEY_MAX], hint[256];
	uint8_t *val = NULL;
	size_t len;
	int64_t mod, rev;
	bool ok;
	int attempt, r;

	if ((r = fleet_cli_open(c)) != EXIT_OK)
		return r;
	fleet_key_user(c->fleet, name, ukey, sizeof(ukey));
	for (attempt = 0; attempt < FLEET_TRIES; attempt++) {
		if (attempt > 0)
			jitter(attempt);
		user_free(u);
		u = NULL;
		free(val);
		val = NULL;
		sodium_memzero(tok, TOKEN_LEN + 1);
		snprintf(hint, sizeof(hint), " (create it first: appuser "
		    "--fleet %s create %s)", c->fleet_path, name);
		if ((r = user_read_for_write(c, name, hint, &u, &mod)) !=
		    EXIT_OK)
			goto out;
		t->user = u->name;
		t->uid = u->uid;
		if ((r = token_generate(tok, t->id, t->verifier)) != 0 ||
		    (r = fleet_encode_token(t, &val, &len)) != 0) {
			r = fail(c, r, "cannot make a token");
			goto out;
		}
		fleet_key_token(c->fleet, name, t->id, tkey, sizeof(tkey));
		memset(cmp, 0, sizeof(cmp));
		memset(&op, 0, sizeof(op));
		cmp[0].key = ukey;
		cmp[0].keylen = strlen(ukey);
		cmp[0].target = ETCD_CMP_MOD;
		cmp[0].number = mod;
		cmp[1].key = op.key = tkey;
		cmp[1].keylen = op.keylen = strlen(tkey);
		cmp[1].target = ETCD_CMP_CREATE;
		op.type = ETCD_OP_PUT;
		op.value = val;
		op.valuelen = len;
		r = etcd_txn(c->fleet->etcd, cmp, 2, &op, 1, NULL, 0, &ok,
		    &rev);
		/* busy: it may have committed; never print that token */
		if ((r = txn_outcome(c, r, ok, "cannot create the token")) ==
		    TXN_AGAIN)
			continue;
		if (r == EXIT_OK) {
			*ownerp = u;
			u = NULL;
		}
		goto out;
	}
	r = conflict(c, "cannot create the token");
 out:
	if (r != EXIT_OK)
		sodium_memzero(tok, TOKEN_LEN + 1);
	free(val);
	user_free(u);
	return r;
}

struct tkv {
	struct token	 t;
	char		 key[FLEET_KEY_MAX];
	int64_t		 mod;
	uint8_t		*val;
	size_t		 len;
};
struct tkvs {
	struct tkv	*v;
	size_t		 n, cap;
	const char	*id;	/* only this one (NULL: every live one) */
	bool		 found, already;
	int		 err;
};

/*
 * gcc -fanalyzer (12) loses the malloc()ed copy stored in s->v[].val and
 * reports a leak: tkvs_clear() frees every entry up to s->n.
 */
#ifndef __clang__	/* a gcc-only warning */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wanalyzer-malloc-leak"
#endif
static int
collect_tkv(void *arg, const struct etcd_kv *kv)
{
	struct tkvs *s = arg;
	struct tkv *nv;
	int r;

	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 16;
		if ((nv = reallocarray(s->v, s->cap, sizeof(*nv))) == NULL)
			return s->err = APPUSER_ERR_NOMEM;
		s->v = nv;
	}
	memset(&s->v[s->n], 0, sizeof(s->v[s->n]));
	if ((r = record_decode_token((const uint8_t *)kv->value, kv->valuelen,
	    &s->v[s->n].t)) != 0)
		return s->err = r;
	if (s->id != NULL && strcmp(s->v[s->n].t.id, s->id) != 0) {
		token_clear(&s->v[s->n].t);
		return 0;
	}
	s->found = true;
	if (s->v[s->n].t.revoke_time != 0) {
		s->already = true;
		token_clear(&s->v[s->n].t);
		return 0;
	}
	/* the view points into kv: keep the bytes */
	if ((s->v[s->n].val = malloc(kv->valuelen)) == NULL) {
		token_clear(&s->v[s->n].t);
		return s->err = APPUSER_ERR_NOMEM;
	}
	memcpy(s->v[s->n].val, kv->value, kv->valuelen);
	token_clear(&s->v[s->n].t);
	if ((r = record_decode_token(s->v[s->n].val, kv->valuelen,
	    &s->v[s->n].t)) != 0) {	/* the same bytes decoded above */
		free(s->v[s->n].val);
		return s->err = r;
	}
	s->v[s->n].len = kv->valuelen;
	s->v[s->n].mod = kv->mod_revision;
	snprintf(s->v[s->n].key, sizeof(s->v[s->n].key), "%.*s",
	    (int)kv->keylen, kv->key);
	s->n++;
	return 0;
}
#ifndef __clang__
#pragma GCC diagnostic pop
#endif

static void
tkvs_clear(struct tkvs *s)
{
	size_t i;

	for (i = 0; i < s->n; i++) {
		token_clear(&s->v[i].t);
		free(s->v[i].val);
	}
	free(s->v);
	s->v = NULL;
	s->n = s->cap = 0;
	s->found = s->already = false;
	s->err = 0;
}

/*
 * Revoke name's token id (NULL: every live one) in txns of CHUNK_TOKENS.
 * fn receives each token this call revoked.  *alreadyp: id was revoked
 * before.  Prints errors; returns an exit status.
 */
int
fleet_cli_token_revoke(struct cli *c, const char *name, const char *id,
    token_fn fn, void *arg, bool *alreadyp)
{
	struct tkvs s;
	struct etcd_cmp *cmp = NULL;
	struct etcd_op *ops = NULL;
	struct user *u = NULL;
	char tkey[FLEET_KEY_MAX], *end = NULL;
	uint8_t **vals = NULL;
	size_t endlen, i, nc, lens[CHUNK_TOKENS];
	int64_t now = cli_now(), rev;
	bool ok;
	int attempt, r;

	memset(&s, 0, sizeof(s));
	s.id = id;
	if ((r = fleet_cli_user_get(c, name, &u)) != EXIT_OK)
		return r;
	if (fleet_key_tokens(c->fleet, name, tkey, sizeof(tkey)) < 0 ||
	    etcd_prefix_end(tkey, strlen(tkey), &end, &endlen) != 0 ||
	    (cmp = calloc(CHUNK_TOKENS, sizeof(*cmp))) == NULL ||
	    (ops = calloc(CHUNK_TOKENS, sizeof(*ops))) == NULL ||
	    (vals = calloc(CHUNK_TOKENS, sizeof(*vals))) == NULL) {
		r = fail(c, APPUSER_ERR_NOMEM, "out of memory");
		goto out;
	}
	for (attempt = 0;; attempt++) {
		if (attempt == FLEET_TRIES) {
			r = conflict(c, "cannot revoke");
			goto out;
		}
		if (attempt > 0)
			jitter(attempt);
		tkvs_clear(&s);
		r = etcd_range_all(c->fleet->etcd, tkey, strlen(tkey), end,
		    endlen, 0, FLEET_PAGE, 0, collect_tkv, &s, &rev);
		if (r != 0 || s.err != 0) {
			r = fail(c, s.err ? s.err : r, "cannot read the "
			    "fleet's tokens");
			goto out;
		}
		if (id != NULL && !s.found) {
			char p[TOKEN_PREFIX_LEN + 1];

			token_prefix(id, p, sizeof(p));
			cli_err(c, "%s has no token %s in the fleet (see "
			    "appuser --fleet %s token list %s)", name, p,
			    c->fleet_path, name);
			r = EXIT_REFUSED;
			goto out;
		}
		*alreadyp = s.already;
		if (s.n == 0)
			break;
		nc = s.n < CHUNK_TOKENS ? s.n : CHUNK_TOKENS;
		memset(cmp, 0, CHUNK_TOKENS * sizeof(*cmp));
		memset(ops, 0, CHUNK_TOKENS * sizeof(*ops));
		/* collect_tkv filled s through etcd_range_all, which cppcheck
		 * does not follow: it takes s.n for 0 */
		// cppcheck-suppress knownConditionTrueFalse
		for (i = 0; i < nc; i++) {
			s.v[i].t.revoke_time = now;
			free(vals[i]);
			vals[i] = NULL;
			if ((r = fleet_encode_token(&s.v[i].t, &vals[i],
			    &lens[i])) != 0) {
				r = fail(c, r, "cannot encode a token");
				goto out;
			}
			cmp[i].key = ops[i].key = s.v[i].key;
			cmp[i].keylen = ops[i].keylen = strlen(s.v[i].key);
			cmp[i].target = ETCD_CMP_MOD;
			cmp[i].number = s.v[i].mod;
			ops[i].type = ETCD_OP_PUT;
			ops[i].value = vals[i];
			ops[i].valuelen = lens[i];
		}
		r = etcd_txn(c->fleet->etcd, cmp, nc, ops, nc, NULL, 0, &ok,
		    &rev);
		if ((r = txn_outcome(c, r, ok, "cannot revoke")) == TXN_AGAIN)
			continue;
		if (r != EXIT_OK)
			goto out;
		for (i = 0; i < nc; i++)
			if ((r = fn(&s.v[i].t, arg)) != 0) {
				r = fail(c, r, "out of memory");
				goto out;
			}
		if (nc == s.n)
			break;
		attempt = -1;	/* the next chunk: the same round again */
	}
	r = EXIT_OK;
 out:
	if (vals != NULL)
		for (i = 0; i < CHUNK_TOKENS; i++)
			free(vals[i]);
	free(vals);
	free(cmp);
	free(ops);
	free(end);
	tkvs_clear(&s);
	user_free(u);
	return r;
}

/* ---- rotation -------------------------------------------------------- */

/* One attempt's view of a rotation: what it read, what it will write. */
struct rot {
	char			 ukey[FLEET_KEY_MAX], okey[FLEET_KEY_MAX];
	char			 nkey[FLEET_KEY_MAX];
	const char		*old_id;
	struct etcd_range_res	*ores;
	struct token		 old;		/* a view into ores */
	bool			 have_old;
	int64_t			 umod, omod;
};

static void
rot_reset(struct rot *x)
{
	if (x->have_old)
		token_clear(&x->old);
	x->have_old = false;
	etcd_range_free(x->ores);
	x->ores = NULL;
}

/* The old token as it stands: 0, NOT_FOUND (absent, or not name's). */
static int
rot_read_old(struct cli *c, const char *name, struct rot *x)
{
	int r;

	if ((r = get_key(c, x->okey, strlen(x->okey), &x->ores)) != 0)
		return r;
	if (x->ores->nkvs == 0)
		return APPUSER_ERR_NOT_FOUND;
	if ((r = record_decode_token((const uint8_t *)x->ores->kvs[0].value,
	    x->ores->kvs[0].valuelen, &x->old)) != 0)
		return r;
	x->have_old = true;
	x->omod = x->ores->kvs[0].mod_revision;
	return strcmp(x->old.user, name) == 0 ? 0 : APPUSER_ERR_NOT_FOUND;
}

/*
 * Did an earlier attempt commit (its outcome unknown)?  1: yes, *ntp its
 * new token; 0: the new key is free; EXISTS: taken by another token.
 */
static int
rot_committed(struct cli *c, const struct rot *x, const uint8_t *ver,
    struct token **ntp)
{
	struct etcd_range_res *res = NULL;
	struct token t;
	int r;

	if ((r = get_key(c, x->nkey, strlen(x->nkey), &res)) != 0)
		return r;
	if (res->nkvs == 0)
		r = 0;
	else if ((r = record_decode_token((const uint8_t *)res->kvs[0].value,
	    res->kvs[0].valuelen, &t)) == 0) {
		if (sodium_memcmp(t.verifier, ver, TOKEN_VERIFIER_LEN) != 0)
			r = APPUSER_ERR_EXISTS;
		else
			r = (*ntp = token_dup(&t)) != NULL ? 1 :
			    APPUSER_ERR_NOMEM;
		token_clear(&t);
	}
	etcd_range_free(res);
	return r;
}

/* The two records of a rotation (as in the local store_token_rotate). */
static void
rot_build(const struct rot *x, const char *id, const uint8_t *ver,
    int64_t now, int64_t grace, struct token *nt, struct token *ot)
{
	int64_t end;

	*nt = x->old;
	memcpy(nt->id, id, TOKEN_ID_LEN + 1);
	memcpy(nt->verifier, ver, TOKEN_VERIFIER_LEN);
	nt->create_time = now;
	nt->expiry_time = x->old.max_age_seconds > 0 ?
	    now + x->old.max_age_seconds : 0;
	nt->revoke_time = 0;
	*ot = x->old;
	if (grace <= 0) {
		ot->revoke_time = now;
		return;
	}
	end = grace < RECORD_TIME_MAX - now ? now + grace : RECORD_TIME_MAX;
	if (ot->expiry_time == 0 || end < ot->expiry_time)
		ot->expiry_time = end;	/* never a longer life */
}

/* The txn: user and old token unchanged, new key free; *okp: it held. */
static int
rot_txn(struct cli *c, const struct rot *x, const struct token *nt,
    const struct token *ot, bool *okp)
{
	uint8_t *nv = NULL, *ov = NULL;
	size_t nlen, olen;
	int64_t rev;
	int r;

	if ((r = fleet_encode_token(nt, &nv, &nlen)) == 0 &&
	    (r = fleet_encode_token(ot, &ov, &olen)) == 0) {
		struct etcd_cmp cmp[3];
		struct etcd_op op[2];

		memset(cmp, 0, sizeof(cmp));
		memset(op, 0, sizeof(op));
		cmp[0].key = x->ukey;
		cmp[0].keylen = strlen(x->ukey);
		cmp[0].target = ETCD_CMP_MOD;
		cmp[0].number = x->umod;
		cmp[1].key = op[1].key = x->okey;
		cmp[1].keylen = op[1].keylen = strlen(x->okey);
		cmp[1].target = ETCD_CMP_MOD;
		cmp[1].number = x->omod;
		cmp[2].key = op[0].key = x->nkey;
		cmp[2].keylen = op[0].keylen = strlen(x->nkey);
		cmp[2].target = ETCD_CMP_CREATE;
		op[0].type = op[1].type = ETCD_OP_PUT;
		op[0].value = nv;
		op[0].valuelen = nlen;
		op[1].value = ov;
		op[1].valuelen = olen;
		r = etcd_txn(c->fleet->etcd, cmp, 3, op, 2, NULL, 0, okp,
		    &rev);
	}
	free(nv);
	free(ov);
	return r;
}

/* Why a token cannot be rotated (printed); an exit status. */
static int
rot_refuse(struct cli *c, const char *name, const char *old_id, int r)
{
	char p[TOKEN_PREFIX_LEN + 1];

	token_prefix(old_id, p, sizeof(p));
	if (r == APPUSER_ERR_NOT_FOUND)
		cli_err(c, "%s has no token %s in the fleet (see appuser "
		    "--fleet %s token list %s)", name, p, c->fleet_path, name);
	else
		cli_err(c, "token %s of %s is %s: there is nothing to rotate "
		    "(make a new one with appuser --fleet %s token create %s)",
		    p, name, r == APPUSER_ERR_DENIED ? "revoked" : "expired",
		    c->fleet_path, name);
	return EXIT_REFUSED;
}

#define ROT_RETRY	(-1)	/* rot_attempt: try again */
#define ROT_DONE	(-2)	/* rot_attempt: *ntp, *otp set */

/* One attempt: ROT_RETRY, ROT_DONE, or an exit status (printed). */
static int
rot_attempt(struct cli *c, const char *name, struct rot *x, const char *id,
    const uint8_t *ver, int64_t grace, bool *busyp, struct token **ntp,
    struct token **otp)
{
	struct token nt, ot;
	struct user *u = NULL;
	int64_t now = cli_now();
	bool ok = false;
	int r;

	if ((r = user_read(c, name, &u, &x->umod)) == APPUSER_ERR_NOT_FOUND) {
		cli_err(c, "no application user '%s' in the fleet", name);
		return EXIT_REFUSED;
	}
	user_free(u);
	if (r == 0 && (r = rot_read_old(c, name, x)) == APPUSER_ERR_NOT_FOUND)
		return rot_refuse(c, name, x->old_id, r);
	if (r != 0)
		return fail(c, r, "cannot read the fleet");
	if (*busyp && (r = rot_committed(c, x, ver, ntp)) != 0) {
		if (r != 1)
			return fail(c, r, "cannot read the fleet");
		if ((*otp = token_dup(&x->old)) != NULL)
			return ROT_DONE;
		token_free(*ntp);
		*ntp = NULL;
		return fail(c, APPUSER_ERR_NOMEM, "out of memory");
	}
	if (x->old.revoke_time != 0 || token_is_expired(&x->old, now))
		return rot_refuse(c, name, x->old.id, x->old.revoke_time != 0 ?
		    APPUSER_ERR_DENIED : APPUSER_ERR_EXPIRED);
	rot_build(x, id, ver, now, grace, &nt, &ot);
	if ((r = rot_txn(c, x, &nt, &ot, &ok)) == APPUSER_ERR_BUSY)
		*busyp = true;	/* it may have committed: look next time */
	else if (r != 0)
		return fail(c, r, "cannot rotate the token");
	if (r != 0 || !ok)
		return ROT_RETRY;
	if ((*ntp = token_dup(&nt)) != NULL &&
	    (*otp = token_dup(&ot)) != NULL)
		return ROT_DONE;
	token_free(*ntp);
	*ntp = NULL;
	return fail(c, APPUSER_ERR_NOMEM, "out of memory");
}

/*
 * Rotate name's token old_id: one txn that creates the new token (old's
 * restrictions, fresh times) and ends the old one at now + grace (grace
 * 0: revoked), guarded by the user's and the old token's mod revisions.
 * tok receives the new token; *ntp, *otp the records as written.  A txn
 * of unknown outcome is re-read: the same new token, if it landed, is
 * the result (never a second one).  Prints errors; an exit status.
 */
int
fleet_cli_token_rotate(struct cli *c, const char *name, const char *old_id,
    int64_t grace, char *tok, struct token **ntp, struct token **otp)
{
	struct rot x;
	char id[TOKEN_ID_LEN + 1];
	uint8_t ver[TOKEN_VERIFIER_LEN];
	bool busy = false;
	int attempt, r;

	memset(&x, 0, sizeof(x));
	memset(id, 0, sizeof(id));
	memset(ver, 0, sizeof(ver));
	x.old_id = old_id;
	if ((r = fleet_cli_open(c)) != EXIT_OK)
		return r;
	if (fleet_key_user(c->fleet, name, x.ukey, sizeof(x.ukey)) < 0 ||
	    fleet_key_token(c->fleet, name, old_id, x.okey,
	    sizeof(x.okey)) < 0)
		return fail(c, APPUSER_ERR_INVALID, "bad prefix");
	r = ROT_RETRY;
	for (attempt = 0; r == ROT_RETRY && attempt < FLEET_TRIES; attempt++) {
		if (attempt > 0)
			jitter(attempt);
		rot_reset(&x);
		/* a fresh token each time, unless one may have landed */
		if (!busy && ((r = token_generate(tok, id, ver)) != 0 ||
		    fleet_key_token(c->fleet, name, id, x.nkey,
		    sizeof(x.nkey)) < 0)) {
			r = fail(c, r ? r : APPUSER_ERR_INVALID, "cannot make "
			    "a token");
			break;
		}
		r = rot_attempt(c, name, &x, id, ver, grace, &busy, ntp, otp);
	}
	if (r == ROT_RETRY)
		r = conflict(c, "cannot rotate the token");
	else if (r == ROT_DONE)
		r = EXIT_OK;
	rot_reset(&x);
	sodium_memzero(ver, sizeof(ver));
	if (r != EXIT_OK)
		sodium_memzero(tok, TOKEN_LEN + 1);
	return r;
}

/* ---- settings ------------------------------------------------------- */

struct admins {
	struct meta	*m;
	size_t		 cap;
	char		**names;
	uint64_t	 n_users;
	int		 err;
};

/*
 * gcc -fanalyzer (12) loses the strdup()s stored in a->names[] and reports
 * a leak: fleet_cli_meta_free() frees every name up to n_admins.
 */
#ifndef __clang__	/* a gcc-only warning */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wanalyzer-malloc-leak"
#endif
static int
collect_admin(const struct user *u, void *arg)
{
	struct admins *a = arg;
	char **nv;

	a->n_users++;
	if (!u->admin)
		return 0;
	if (a->m->n_admins == a->cap) {
		a->cap = a->cap ? a->cap * 2 : 8;
		if ((nv = reallocarray(a->names, a->cap, sizeof(*nv))) ==
		    NULL)
			return a->err = APPUSER_ERR_NOMEM;
		a->names = nv;
	}
	if ((a->names[a->m->n_admins] = strdup(u->name)) == NULL)
		return a->err = APPUSER_ERR_NOMEM;
	a->m->n_admins++;
	return 0;
}
#ifndef __clang__
#pragma GCC diagnostic pop
#endif

/* The fleet's settings as a meta that print_meta shows; free with
 * fleet_cli_meta_free. */
struct fleet_meta_hold {
	struct fmeta	 fm;
	char		**names;
	size_t		 n;
};

int
fleet_cli_meta(struct cli *c, struct meta *m, void **holdp)
{
	struct fleet_meta_hold *h;
	struct admins a;
	int r;

	if ((r = fleet_cli_open(c)) != EXIT_OK)
		return r;
	if ((h = calloc(1, sizeof(*h))) == NULL)
		return fail(c, APPUSER_ERR_NOMEM, "out of memory");
	if ((r = fmeta_read(c, &h->fm)) != 0) {
		free(h);
		return fail(c, r, "cannot read the fleet's settings");
	}
	*m = h->fm.m;
	m->n_admins = 0;
	m->admins = NULL;
	memset(&a, 0, sizeof(a));
	a.m = m;
	r = fleet_cli_user_foreach(c, collect_admin, &a);
	h->names = a.names;
	h->n = m->n_admins;
	m->admins = (const char **)a.names;
	m->n_users = a.n_users;
	*holdp = h;
	if (r == EXIT_OK && a.err != 0)
		r = fail(c, a.err, "out of memory");
	return r;
}

void
fleet_cli_meta_free(void *hold)
{
	struct fleet_meta_hold *h = hold;
	size_t i;

	if (h == NULL)
		return;
	for (i = 0; i < h->n; i++)
		free(h->names[i]);
	free(h->names);
	fmeta_clear(&h->fm);
	free(h);
}

/*
 * config set: uid-range (min/max, name NULL) or admin-group (name).  The
 * same rules as the local store: every user stays inside, the admin group
 * takes the range's first id and moves with it only while it has no
 * member.  Prints errors and the result; returns an exit status.
 */
struct span {
	uint32_t	 min, max;
	size_t		 outside, admins;
};

static int
check_span(const struct user *u, void *arg)
{
	struct span *s = arg;

	if (u->uid < s->min || u->uid > s->max)
		s->outside++;
	if (u->admin)
		s->admins++;
	return 0;
}

int
fleet_cli_config_set(struct cli *c, const char *name, uint32_t min,
    uint32_t max)
{
	struct etcd_cmp cmp[2];
	struct etcd_op op;
	struct fmeta fm;
	struct span s;
	char gkey[FLEET_KEY_MAX], ikey[FLEET_KEY_MAX];
	uint8_t *val = NULL;
	size_t len, ncmp;
	int64_t rev;
	bool ok;
	int attempt, r;

	memset(&fm, 0, sizeof(fm));
	if ((r = fleet_cli_open(c)) != EXIT_OK)
		return r;
	for (attempt = 0; attempt < FLEET_TRIES; attempt++) {
		if (attempt > 0)
			jitter(attempt);
		fmeta_clear(&fm);
		free(val);
		val = NULL;
		if ((r = fmeta_read(c, &fm)) != 0)
			return fail(c, r, "cannot read the fleet's settings");
		memset(cmp, 0, sizeof(cmp));
		fmeta_cmp(&fm, &cmp[0]);
		ncmp = 1;
		if (name != NULL) {
			fm.m.admin_group = name;
			/* no user may hold that name, now or meanwhile */
			fleet_key_user(c->fleet, name, gkey, sizeof(gkey));
			cmp[1].key = gkey;
			cmp[1].keylen = strlen(gkey);
			cmp[1].target = ETCD_CMP_CREATE;
			ncmp = 2;
		} else {
			memset(&s, 0, sizeof(s));
			s.min = min;
			s.max = max;
			if ((r = fleet_cli_user_foreach(c, check_span, &s)) !=
			    EXIT_OK)
				goto out;
			if (s.outside > 0) {
				cli_err(c, "%zu user%s of the fleet would be "
				    "outside %lu-%lu; the range must hold "
				    "every existing uid", s.outside,
				    s.outside == 1 ? "" : "s",
				    (unsigned long)min, (unsigned long)max);
				r = EXIT_REFUSED;
				goto out;
			}
			if (fm.m.admin_gid < min || fm.m.admin_gid > max) {
				if (s.admins > 0) {
					cli_err(c, "the admin group %s keeps "
					    "its gid %lu while it has members: "
					    "choose a range that contains it",
					    fm.m.admin_group,
					    (unsigned long)fm.m.admin_gid);
					r = EXIT_REFUSED;
					goto out;
				}
				fm.m.admin_gid = min;
				fleet_key_uid(c->fleet, min, ikey,
				    sizeof(ikey));
				cmp[1].key = ikey;
				cmp[1].keylen = strlen(ikey);
				cmp[1].target = ETCD_CMP_CREATE;
				ncmp = 2;
			}
			fm.m.uid_min = min;
			fm.m.uid_max = max;
			if (fm.m.next_uid <= min || fm.m.next_uid > max)
				fm.m.next_uid = min + 1;
		}
		if ((r = fleet_encode_meta(&fm.m, &val, &len)) != 0) {
			r = fail(c, r, "cannot encode the settings");
			goto out;
		}
		memset(&op, 0, sizeof(op));
		op.type = ETCD_OP_PUT;
		op.key = fm.key;
		op.keylen = fm.keylen;
		op.value = val;
		op.valuelen = len;
		r = etcd_txn(c->fleet->etcd, cmp, ncmp, &op, 1, NULL, 0, &ok,
		    &rev);
		if (r == APPUSER_ERR_BUSY)
			continue;
		if (r != 0) {
			r = fail(c, r, "cannot change the settings");
			goto out;
		}
		if (!ok)
			continue;
		if (name != NULL) {
			cli_log("fleet config set admin-group=%s", name);
			if (c->json)
				r = cli_json_print(json_pack("{s:s, s:I}",
				    "admin_group", name, "admin_gid",
				    (json_int_t)fm.m.admin_gid));
			else {
				printf("admin group is now %s (gid %lu)\n",
				    name, (unsigned long)fm.m.admin_gid);
				r = EXIT_OK;
			}
		} else {
			cli_log("fleet config set uid-range=%lu-%lu",
			    (unsigned long)min, (unsigned long)max);
			if (c->json)
				r = cli_json_print(json_pack("{s:I, s:I, s:s, "
				    "s:I}", "uid_min", (json_int_t)min,
				    "uid_max", (json_int_t)max, "admin_group",
				    fm.m.admin_group, "admin_gid",
				    (json_int_t)fm.m.admin_gid));
			else {
				printf("uid range is now %lu-%lu (admin group "
				    "%s: gid %lu)\n", (unsigned long)min,
				    (unsigned long)max, fm.m.admin_group,
				    (unsigned long)fm.m.admin_gid);
				r = EXIT_OK;
			}
		}
		goto out;
	}
	r = conflict(c, "cannot change the settings");
 out:
	free(val);
	fmeta_clear(&fm);
	return r;
}

/* ---- fleet status (on a host) ------------------------------------------ */

/* An aux value as a string ("" when absent); NULL when out of memory. */
static char *
aux_str(struct store *st, const char *name)
{
	uint8_t *v = NULL;
	size_t len = 0;
	char *p;

	if (store_aux_get(st, name, &v, &len) != 0)
		return strdup("");
	p = strndup((const char *)v, len);
	free(v);
	return p;
}

/* STORE/fleet.state (written by appuser-syncd; see fleet.h), or NULL. */
static json_t *
read_state(const char *dir)
{
	char path[4096];

	if (snprintf(path, sizeof(path), "%s/%s", dir, FLEET_STATE_FILE) >=
	    (int)sizeof(path))
		return NULL;
	return json_load_file(path, JSON_REJECT_DUPLICATES, NULL);
}

static int64_t
state_int(json_t *state, const char *key)
{
	return (int64_t)json_integer_value(json_object_get(state, key));
}

/* "name\treason\n" lines into [{"name", "reason"}...] (consumes lines). */
static json_t *
skipped_json(char *lines)
{
	json_t *a = json_array();
	char *line, *save = NULL;

	for (line = strtok_r(lines, "\n", &save); a != NULL && line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		char *tab;
		json_t *sk;

		if ((tab = strchr(line, '\t')) != NULL)
			*tab++ = '\0';
		sk = json_pack("{s:s, s:s}", "name", line, "reason",
		    tab ? tab : "");
		if (sk == NULL || json_array_append_new(a, sk) != 0) {
			json_decref(a);
			a = NULL;
		}
	}
	return a;
}

/*
 * Everything status shows, as one JSON object.  The lag is counted in etcd
 * revisions: etcd's revision when the agent last heard from it, minus the
 * revision up to which nothing was pending here.
 */
static json_t *
status_json(const char *conf_path, const char *rev, char *skipped,
    json_t *state)
{
	struct fleet_conf *conf = NULL;
	char eps[1024], err[512];
	int64_t applied = strtoll(rev, NULL, 10), synced, frev, heard, lag;
	const char *msg;
	json_t *o;

	if (fleet_conf_load(conf_path, &conf, err, sizeof(err)) == 0)
		fleet_endpoints(conf, eps, sizeof(eps));
	else
		snprintf(eps, sizeof(eps), "(cannot read: %s)", err);
	fleet_conf_free(conf);
	heard = state_int(state, "heard");
	frev = state_int(state, "fleet_revision");
	synced = state_int(state, "synced_revision");
	if (synced < applied)
		synced = applied;
	if (frev > 0 && frev < synced)	/* the state file is a bit older */
		frev = synced;
	lag = frev > synced ? frev - synced : 0;
	if ((msg = json_string_value(json_object_get(state, "last_error"))) ==
	    NULL)
		msg = "";
	o = json_pack("{s:s, s:s, s:I, s:o, s:o, s:o, s:o, s:o, s:o}",
	    "config", conf_path, "endpoints", eps, "revision",
	    (json_int_t)applied, "fleet_revision", frev > 0 ?
	    json_integer(frev) : json_null(), "lag_revisions", frev > 0 ?
	    json_integer(lag) : json_null(), "last_heard", json_time(heard),
	    "last_heard_seconds_ago", heard > 0 ?
	    json_integer(cli_now() - heard) : json_null(),
	    "last_error", state_int(state, "last_error_time") > 0 ?
	    json_pack("{s:s, s:o}", "message", msg, "time",
	    json_time(state_int(state, "last_error_time"))) : json_null(),
	    "skipped", skipped_json(skipped));
	return o;
}

static void
print_status(json_t *o)
{
	json_t *a = json_object_get(o, "skipped"), *e;
	size_t i;

	printf("config:        %s\n", json_string_value(json_object_get(o,
	    "config")));
	printf("endpoints:     %s\n", json_string_value(json_object_get(o,
	    "endpoints")));
	printf("revision:      %lld applied", (long long)json_integer_value(
	    json_object_get(o, "revision")));
	if (json_is_integer(json_object_get(o, "fleet_revision")))
		printf(" (etcd at %lld when last heard: %lld behind)",
		    (long long)json_integer_value(json_object_get(o,
		    "fleet_revision")), (long long)json_integer_value(
		    json_object_get(o, "lag_revisions")));
	printf("\nlast heard:    ");
	if (json_is_string(json_object_get(o, "last_heard")))
		printf("%s (%lld s ago)\n", json_string_value(json_object_get(o,
		    "last_heard")), (long long)json_integer_value(
		    json_object_get(o, "last_heard_seconds_ago")));
	else
		printf("never (is appuser-syncd running?)\n");
	e = json_object_get(o, "last_error");
	if (json_is_object(e))
		printf("last error:    %s: %s\n", json_string_value(
		    json_object_get(e, "time")), json_string_value(
		    json_object_get(e, "message")));
	else
		printf("last error:    none\n");
	printf("skipped users: %zu\n", json_array_size(a));
	for (i = 0; i < json_array_size(a); i++)
		printf("  %s: %s\n", json_string_value(json_object_get(
		    json_array_get(a, i), "name")), json_string_value(
		    json_object_get(json_array_get(a, i), "reason")));
}

int
cmd_fleet_status(struct cli *c, int argc, char **argv)
{
	struct store *st = NULL;
	char *path = NULL, *rev = NULL, *skipped = NULL;
	json_t *state = NULL, *o = NULL;
	int r;

	if (!cli_plain_args(c, argc, argv, 0, 0))
		return c->exit;
	if ((r = cli_open_master(c, &st)) != EXIT_OK)
		return r;
	if (st == NULL || fleet_store_following(st, &path) != 0) {
		cli_err(c, "the store %s does not follow a fleet (start "
		    "appuser-syncd --fleet FILE --store %s)", c->store_dir,
		    c->store_dir);
		r = EXIT_REFUSED;
		goto out;
	}
	if ((rev = aux_str(st, FLEET_AUX_REV)) == NULL ||
	    (skipped = aux_str(st, FLEET_AUX_SKIPPED)) == NULL ||
	    ((state = read_state(c->store_dir)) == NULL &&
	    (state = json_object()) == NULL) ||
	    (o = status_json(path, rev, skipped, state)) == NULL) {
		r = cli_json_print(NULL);
		goto out;
	}
	if (c->json) {
		r = cli_json_print(o);
		o = NULL;
		goto out;
	}
	print_status(o);
	r = EXIT_OK;
 out:
	json_decref(o);
	json_decref(state);
	free(path);
	free(rev);
	free(skipped);
	store_close(st);
	return r;
}
