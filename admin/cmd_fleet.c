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

/* Fill a compare: key (NUL-terminated, not copied) still at mod revision
 * number (ETCD_CMP_MOD), or still absent (ETCD_CMP_CREATE, number 0). */
static void
cmp_set(struct etcd_cmp *cmp, const char *key, enum etcd_cmp_target target,
    int64_t number)
{
	memset(cmp, 0, sizeof(*cmp));
	cmp->key = key;
	cmp->keylen = strlen(key);
	cmp->target = target;
	cmp->result = ETCD_CMP_EQUAL;
	cmp->number = number;
}

/* Fill a put of val[0..len) at key; neither is copied. */
static void
op_put(struct etcd_op *op, const char *key, const void *val, size_t len)
{
	memset(op, 0, sizeof(*op));
	op->type = ETCD_OP_PUT;
	op->key = key;
	op->keylen = strlen(key);
	op->value = val;
	op->valuelen = len;
}

/* Fill a delete of key, or of the range [key, end) when end is not NULL;
 * neither is copied. */
static void
op_delete(struct etcd_op *op, const char *key, const char *end,
    size_t endlen)
{
	memset(op, 0, sizeof(*op));
	op->type = ETCD_OP_DELETE;
	op->key = key;
	op->keylen = strlen(key);
	op->range_end = end;
	op->range_endlen = endlen;
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
	cmp_set(cmp, fm->key, fm->mod == 0 ? ETCD_CMP_CREATE : ETCD_CMP_MOD,
	    fm->mod);
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
 * What a guarded write of a user's record works from: the user and its
 * mod revision, read afresh for each attempt (uw_read), and the value
 * being written.  Both owned; uw_clear frees them.
 */
struct uw {
	struct user	*u;
	int64_t		 mod;
	uint8_t		*val;
};

static void
uw_clear(struct uw *w)
{
	user_free(w->u);
	w->u = NULL;
	free(w->val);
	w->val = NULL;
}

/*
 * Clear w and read name's record again; an exit status: a user the fleet
 * does not have is refused (hint: what to add to the message, or NULL).
 */
static int
uw_read(struct cli *c, struct uw *w, const char *name, const char *hint)
{
	int r;

	uw_clear(w);
	if ((r = user_read(c, name, &w->u, &w->mod)) == 0)
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

/*
 * A write of a few keys, guarded by compares on what it read.  The build
 * function of guarded_write reads the fleet and fills cmp[] and op[]
 * (pointing into its own state arg, which it frees and refills on each
 * attempt, and its caller frees at the end).  It returns EXIT_OK (commit
 * this), TXN_DONE (nothing to write: success) or an exit status (printed).
 */
#define TXN_DONE	(-2)
#define GTXN_MAX	3
struct gtxn {
	struct etcd_cmp	 cmp[GTXN_MAX];
	struct etcd_op	 op[GTXN_MAX];
	size_t		 ncmp, nop;
};
typedef int (*gtxn_build_fn)(struct cli *c, void *arg, struct gtxn *g);

/*
 * Build and commit until the compares hold: a failed compare or a txn of
 * unknown outcome (busy) builds again from a fresh read, after a jittered
 * pause, up to FLEET_TRIES attempts.  what: the errors' prefix.  Returns
 * an exit status (errors printed).
 */
static int
guarded_write(struct cli *c, const char *what, gtxn_build_fn build,
    void *arg)
{
	struct gtxn g;
	int64_t rev;
	bool ok;
	int attempt;

	for (attempt = 0; attempt < FLEET_TRIES; attempt++) {
		int r;

		if (attempt > 0)
			jitter(attempt);
		memset(&g, 0, sizeof(g));
		if ((r = build(c, arg, &g)) != EXIT_OK)
			return r == TXN_DONE ? EXIT_OK : r;
		r = etcd_txn(c->fleet->etcd, g.cmp, g.ncmp, g.op, g.nop, NULL,
		    0, &ok, &rev);
		if ((r = txn_outcome(c, r, ok, what)) != TXN_AGAIN)
			return r;
	}
	return conflict(c, what);
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
				fleet_key_user(c->fleet, u->name, p[i].ukey,
				    sizeof(p[i].ukey));
				fleet_key_uid(c->fleet, p[i].u.uid, p[i].ikey,
				    sizeof(p[i].ikey));
			}
			fm.m.next_uid = cursor;
			free(mval);
			mval = NULL;
			if ((e = fleet_encode_meta(&fm.m, &mval, &mlen)) != 0) {
				r = fail(c, e, "cannot encode the settings");
				goto out;
			}
			fmeta_cmp(&fm, &cmp[0]);
			op_put(&ops[0], fm.key, mval, mlen);
			for (i = 0; i < nc; i++) {
				cmp_set(&cmp[1 + 2 * i], p[i].ukey,
				    ETCD_CMP_CREATE, 0);
				cmp_set(&cmp[2 + 2 * i], p[i].ikey,
				    ETCD_CMP_CREATE, 0);
				op_put(&ops[1 + 2 * i], p[i].ukey, p[i].val,
				    p[i].vallen);
				op_put(&ops[2 + 2 * i], p[i].ikey, p[i].u.name,
				    strlen(p[i].u.name));
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

/* A user delete's state (guarded_write's arg). */
struct user_del {
	const char	*name;
	char		 ukey[FLEET_KEY_MAX], ikey[FLEET_KEY_MAX];
	char		 tkey[FLEET_KEY_MAX];
	char		*tend;		/* the end of the token prefix */
	size_t		 tendlen, ntok;
	struct uw	 w;
};

static int
user_del_build(struct cli *c, void *arg, struct gtxn *g)
{
	struct user_del *x = arg;
	int r;

	if ((r = uw_read(c, &x->w, x->name, NULL)) != EXIT_OK)
		return r;
	x->ntok = 0;
	if ((r = fleet_cli_token_foreach(c, x->name, count_tok, &x->ntok)) !=
	    EXIT_OK)
		return r;
	fleet_key_uid(c->fleet, x->w.u->uid, x->ikey, sizeof(x->ikey));
	cmp_set(&g->cmp[g->ncmp++], x->ukey, ETCD_CMP_MOD, x->w.mod);
	/* the user first: a host sees it gone before its tokens */
	op_delete(&g->op[g->nop++], x->ukey, NULL, 0);
	op_delete(&g->op[g->nop++], x->ikey, NULL, 0);
	op_delete(&g->op[g->nop++], x->tkey, x->tend, x->tendlen);
	return EXIT_OK;
}

int
fleet_cli_user_delete(struct cli *c, const char *name, struct user **up,
    size_t *ntokp)
{
	struct user_del x;
	int r;

	memset(&x, 0, sizeof(x));
	x.name = name;
	if ((r = fleet_cli_open(c)) != EXIT_OK)
		return r;
	if (fleet_key_user(c->fleet, name, x.ukey, sizeof(x.ukey)) < 0 ||
	    fleet_key_tokens(c->fleet, name, x.tkey, sizeof(x.tkey)) < 0 ||
	    etcd_prefix_end(x.tkey, strlen(x.tkey), &x.tend, &x.tendlen) != 0)
		return fail(c, APPUSER_ERR_INVALID, "bad key");
	if ((r = guarded_write(c, "cannot delete the user", user_del_build,
	    &x)) == EXIT_OK) {
		*up = x.w.u;
		x.w.u = NULL;
		*ntokp = x.ntok;
	}
	free(x.tend);
	uw_clear(&x.w);
	return r;
}

/* A change of the admin flag (guarded_write's arg). */
struct admin_set {
	const char	*name;
	char		 key[FLEET_KEY_MAX];
	bool		 admin, *wasp;
	struct uw	 w;
};

static int
admin_set_build(struct cli *c, void *arg, struct gtxn *g)
{
	struct admin_set *x = arg;
	struct user *u;
	size_t len;
	int r;

	if ((r = uw_read(c, &x->w, x->name, NULL)) != EXIT_OK)
		return r;
	u = x->w.u;
	*x->wasp = u->admin;
	if (u->admin == x->admin)
		return TXN_DONE;
	u->admin = x->admin;
	if ((r = record_encode_user(u, &x->w.val, &len)) != 0)
		return fail(c, r, "cannot encode the user");
	cmp_set(&g->cmp[g->ncmp++], x->key, ETCD_CMP_MOD, x->w.mod);
	op_put(&g->op[g->nop++], x->key, x->w.val, len);
	return EXIT_OK;
}

/* Set name's admin flag; *wasp: what it was. */
int
fleet_cli_set_admin(struct cli *c, const char *name, bool admin, bool *wasp)
{
	struct admin_set x;
	int r;

	memset(&x, 0, sizeof(x));
	x.name = name;
	x.admin = admin;
	x.wasp = wasp;
	if ((r = fleet_cli_open(c)) != EXIT_OK)
		return r;
	fleet_key_user(c->fleet, name, x.key, sizeof(x.key));
	r = guarded_write(c, "cannot change the user", admin_set_build, &x);
	uw_clear(&x.w);
	return r;
}

/* ---- tokens ----------------------------------------------------------- */

/* A token create's state (guarded_write's arg). */
struct tok_add {
	const char	*name;
	struct token	*t;
	char		*tok;
	char		 ukey[FLEET_KEY_MAX], tkey[FLEET_KEY_MAX], hint[256];
	struct uw	 w;
};

static int
tok_add_build(struct cli *c, void *arg, struct gtxn *g)
{
	struct tok_add *x = arg;
	size_t len;
	int r;

	/* after a busy txn that token may have landed: never print it, make
	 * a new one */
	sodium_memzero(x->tok, TOKEN_LEN + 1);
	if ((r = uw_read(c, &x->w, x->name, x->hint)) != EXIT_OK)
		return r;
	x->t->user = x->w.u->name;
	x->t->uid = x->w.u->uid;
	if ((r = token_generate(x->tok, x->t->id, x->t->verifier)) != 0 ||
	    (r = fleet_encode_token(x->t, &x->w.val, &len)) != 0)
		return fail(c, r, "cannot make a token");
	fleet_key_token(c->fleet, x->name, x->t->id, x->tkey,
	    sizeof(x->tkey));
	cmp_set(&g->cmp[g->ncmp++], x->ukey, ETCD_CMP_MOD, x->w.mod);
	cmp_set(&g->cmp[g->ncmp++], x->tkey, ETCD_CMP_CREATE, 0);
	op_put(&g->op[g->nop++], x->tkey, x->w.val, len);
	return EXIT_OK;
}

/*
 * Mint a token for name from template t (metadata filled in by the caller)
 * and store its record; tok receives the token, t its id, verifier, user
 * and uid (t->user then points into *ownerp, an owned user).
 */
int
fleet_cli_token_add(struct cli *c, const char *name, struct token *t,
    char *tok, struct user **ownerp)
{
	struct tok_add x;
	int r;

	memset(&x, 0, sizeof(x));
	x.name = name;
	x.t = t;
	x.tok = tok;
	if ((r = fleet_cli_open(c)) != EXIT_OK)
		return r;
	fleet_key_user(c->fleet, name, x.ukey, sizeof(x.ukey));
	snprintf(x.hint, sizeof(x.hint), " (create it first: appuser --fleet "
	    "%s create %s)", c->fleet_path, name);
	if ((r = guarded_write(c, "cannot create the token", tok_add_build,
	    &x)) == EXIT_OK) {
		*ownerp = x.w.u;
		x.w.u = NULL;
	} else
		sodium_memzero(tok, TOKEN_LEN + 1);
	uw_clear(&x.w);
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
			cmp_set(&cmp[i], s.v[i].key, ETCD_CMP_MOD, s.v[i].mod);
			op_put(&ops[i], s.v[i].key, vals[i], lens[i]);
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

		cmp_set(&cmp[0], x->ukey, ETCD_CMP_MOD, x->umod);
		cmp_set(&cmp[1], x->okey, ETCD_CMP_MOD, x->omod);
		cmp_set(&cmp[2], x->nkey, ETCD_CMP_CREATE, 0);
		op_put(&op[0], x->nkey, nv, nlen);
		op_put(&op[1], x->okey, ov, olen);
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

/* What fleet_cli_meta collects: the admins' names (owned copies). */
struct admins {
	struct rec_vec	 names;		/* char * */
	uint64_t	 n_users;
};

static int
collect_admin(const struct user *u, void *arg)
{
	struct admins *a = arg;

	a->n_users++;
	return u->admin ? rec_vec_push(&a->names, strdup(u->name)) : 0;
}

/* The fleet's settings as a meta that print_meta shows; free with
 * fleet_cli_meta_free. */
struct fleet_meta_hold {
	struct fmeta	 fm;
	struct rec_vec	 names;		/* m->admins */
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
	memset(&a, 0, sizeof(a));
	a.names.free_rec = free;
	r = fleet_cli_user_foreach(c, collect_admin, &a);
	h->names = a.names;
	m->admins = (const char **)a.names.v;
	m->n_admins = a.names.n;
	m->n_users = a.n_users;
	*holdp = h;
	if (r == EXIT_OK && a.names.err != 0)
		r = fail(c, a.names.err, "out of memory");
	return r;
}

void
fleet_cli_meta_free(void *hold)
{
	struct fleet_meta_hold *h = hold;

	if (h == NULL)
		return;
	rec_vec_free(&h->names);
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

/* A settings change's state (guarded_write's arg). */
struct cfg_set {
	const char	*name;		/* admin-group, or NULL: uid-range */
	uint32_t	 min, max;
	struct fmeta	 fm;
	char		 gkey[FLEET_KEY_MAX], ikey[FLEET_KEY_MAX];
	uint8_t		*val;
};

/* The uid range into x->fm; the admin group moves to min while it has no
 * member (then min's uid key must stay free).  An exit status. */
static int
cfg_range(struct cli *c, struct cfg_set *x, struct gtxn *g)
{
	struct span s;
	int r;

	memset(&s, 0, sizeof(s));
	s.min = x->min;
	s.max = x->max;
	if ((r = fleet_cli_user_foreach(c, check_span, &s)) != EXIT_OK)
		return r;
	if (s.outside > 0) {
		cli_err(c, "%zu user%s of the fleet would be outside %lu-%lu; "
		    "the range must hold every existing uid", s.outside,
		    s.outside == 1 ? "" : "s", (unsigned long)x->min,
		    (unsigned long)x->max);
		return EXIT_REFUSED;
	}
	if (x->fm.m.admin_gid < x->min || x->fm.m.admin_gid > x->max) {
		if (s.admins > 0) {
			cli_err(c, "the admin group %s keeps its gid %lu while "
			    "it has members: choose a range that contains it",
			    x->fm.m.admin_group,
			    (unsigned long)x->fm.m.admin_gid);
			return EXIT_REFUSED;
		}
		x->fm.m.admin_gid = x->min;
		fleet_key_uid(c->fleet, x->min, x->ikey, sizeof(x->ikey));
		cmp_set(&g->cmp[g->ncmp++], x->ikey, ETCD_CMP_CREATE, 0);
	}
	x->fm.m.uid_min = x->min;
	x->fm.m.uid_max = x->max;
	if (x->fm.m.next_uid <= x->min || x->fm.m.next_uid > x->max)
		x->fm.m.next_uid = x->min + 1;
	return EXIT_OK;
}

static int
cfg_build(struct cli *c, void *arg, struct gtxn *g)
{
	struct cfg_set *x = arg;
	size_t len;
	int r;

	fmeta_clear(&x->fm);
	free(x->val);
	x->val = NULL;
	if ((r = fmeta_read(c, &x->fm)) != 0)
		return fail(c, r, "cannot read the fleet's settings");
	fmeta_cmp(&x->fm, &g->cmp[g->ncmp++]);
	if (x->name != NULL) {
		x->fm.m.admin_group = x->name;
		/* no user may hold that name, now or meanwhile */
		fleet_key_user(c->fleet, x->name, x->gkey, sizeof(x->gkey));
		cmp_set(&g->cmp[g->ncmp++], x->gkey, ETCD_CMP_CREATE, 0);
	} else if ((r = cfg_range(c, x, g)) != EXIT_OK)
		return r;
	if ((r = fleet_encode_meta(&x->fm.m, &x->val, &len)) != 0)
		return fail(c, r, "cannot encode the settings");
	op_put(&g->op[g->nop++], x->fm.key, x->val, len);
	return EXIT_OK;
}

/* The settings as set: syslog, and stdout.  An exit status. */
static int
cfg_report(const struct cli *c, const struct cfg_set *x)
{
	const struct meta *m = &x->fm.m;

	if (x->name != NULL) {
		cli_log("fleet config set admin-group=%s", x->name);
		if (c->json)
			return cli_json_print(json_pack("{s:s, s:I}",
			    "admin_group", x->name, "admin_gid",
			    (json_int_t)m->admin_gid));
		printf("admin group is now %s (gid %lu)\n", x->name,
		    (unsigned long)m->admin_gid);
		return EXIT_OK;
	}
	cli_log("fleet config set uid-range=%lu-%lu", (unsigned long)x->min,
	    (unsigned long)x->max);
	if (c->json)
		return cli_json_print(json_pack("{s:I, s:I, s:s, s:I}",
		    "uid_min", (json_int_t)x->min, "uid_max",
		    (json_int_t)x->max, "admin_group", m->admin_group,
		    "admin_gid", (json_int_t)m->admin_gid));
	printf("uid range is now %lu-%lu (admin group %s: gid %lu)\n",
	    (unsigned long)x->min, (unsigned long)x->max, m->admin_group,
	    (unsigned long)m->admin_gid);
	return EXIT_OK;
}

int
fleet_cli_config_set(struct cli *c, const char *name, uint32_t min,
    uint32_t max)
{
	struct cfg_set x;
	int r;

	memset(&x, 0, sizeof(x));
	x.name = name;
	x.min = min;
	x.max = max;
	if ((r = fleet_cli_open(c)) != EXIT_OK)
		return r;
	if ((r = guarded_write(c, "cannot change the settings", cfg_build,
	    &x)) == EXIT_OK)
		r = cfg_report(c, &x);
	free(x.val);
	fmeta_clear(&x.fm);
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
