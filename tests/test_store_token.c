/*
 * Unit tests of the store's tokens (store.h): add, list, revoke and
 * rotate, verification and its bookkeeping (store_token_touch, the usage
 * file's slots, a slot another process holds), what a STORE_AUTH handle
 * (PAM's) may and may not do, and that no file holds a secret.  Each test
 * runs in a fresh mkdtemp directory, removed afterwards
 * (tests/store_test.h).
 */
#include "store_test.h"
#include "token_fixture.h"

/* As mint, a token that expires at expiry, extended to an hour from its
 * last use whenever it is used (max_age 3600, extend_when_used). */
static void
mint_extending(struct store *st, struct tok *k, const char *user,
    uint32_t uid, int64_t expiry)
{
	mint(NULL, k, user, uid);
	k->t.max_age_seconds = 3600;
	k->t.extend_when_used = true;
	k->t.expiry_time = expiry;
	assert_int_equal(store_token_add(st, &k->t), 0);
}

static void
test_tokens(void **state)
{
	struct fx *f = *state;
	struct tok a, b, c;
	struct token *t = NULL;
	char aid[TOKEN_ID_LEN + 1];
	struct inos i0, i1;
	struct sinfo si;
	uint32_t au, bu;
	uint64_t g;
	size_t n = 99;
	int cnt;

	open_w(f);
	au = add(f->st, "alice");
	bu = add(f->st, "bob");
	g = gen(f->st);
	inos(f, &i0);
	mint(f->st, &a, "alice", au);
	mint(f->st, &b, "alice", au);
	mint(f->st, &c, "bob", bu);
	memcpy(aid, a.t.id, sizeof(aid));
	assert_int_equal(store_token_get(f->st, a.t.id, &t), 0);
	assert_string_equal(t->user, "alice");
	assert_int_equal(t->uid, au);
	assert_string_equal(t->description, "ci");
	assert_memory_equal(t->verifier, a.t.verifier, TOKEN_VERIFIER_LEN);
	assert_int_equal(t->revoke_time, 0);
	token_free(t);
	cnt = 0;
	assert_int_equal(store_token_foreach(f->st, "alice", count_token,
	    &cnt), 0);
	assert_int_equal(cnt, 2);
	cnt = 0;
	assert_int_equal(store_token_foreach(f->st, NULL, count_token, &cnt), 0);
	assert_int_equal(cnt, 3);
	assert_int_equal(store_token_foreach(f->st, "ghost", count_token, &cnt),
	    APPUSER_ERR_NOT_FOUND);
	/* refusals */
	assert_int_equal(store_token_add(f->st, &a.t), APPUSER_ERR_EXISTS);
	a.t.user = "ghost";
	assert_int_equal(store_token_add(f->st, &a.t), APPUSER_ERR_NOT_FOUND);
	a.t.user = "bob";
	a.t.id[0] = a.t.id[0] == 'x' ? 'y' : 'x';
	assert_int_equal(store_token_add(f->st, &a.t), APPUSER_ERR_INVALID);
	a.t.uid = bu;
	a.t.description = "bad:desc";
	assert_int_equal(store_token_add(f->st, &a.t), APPUSER_ERR_INVALID);
	a.t.description = "ok";
	a.t.id[1] = '*';
	assert_int_equal(store_token_add(f->st, &a.t), APPUSER_ERR_INVALID);
	/* revoke */
	assert_int_equal(store_token_revoke(f->st, "alice", b.t.id), 0);
	assert_int_equal(store_token_get(f->st, b.t.id, &t), 0);
	assert_true(t->revoke_time > 0);
	token_free(t);
	assert_int_equal(store_token_revoke(f->st, "alice", b.t.id), 0);
	assert_int_equal(store_token_revoke(f->st, "alice", c.t.id),
	    APPUSER_ERR_NOT_FOUND);			/* bob's */
	assert_int_equal(store_token_revoke(f->st, "alice", "AAAAAAAAAAAA"),
	    APPUSER_ERR_NOT_FOUND);
	assert_int_equal(store_token_revoke(f->st, "ghost", c.t.id),
	    APPUSER_ERR_NOT_FOUND);
	assert_int_equal(store_token_revoke_all(f->st, "alice", &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(store_token_revoke_all(f->st, "alice", &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(store_token_get(f->st, "AAAAAAAAAAAA", &t),
	    APPUSER_ERR_NOT_FOUND);
	/* tokens never touch the identity pair or its generation; each
	 * change rewrote the token delta only */
	assert_int_equal(gen(f->st), g);
	inos(f, &i1);
	assert_memory_equal(&i1.ident, &i0.ident, sizeof(i0.ident));
	assert_memory_equal(&i1.idelta, &i0.idelta, sizeof(i0.idelta));
	assert_memory_equal(&i1.toks, &i0.toks, sizeof(i0.toks));
	sinfo(f->tdelta, SNAP_KIND_TOKENS, &si);
	assert_int_equal(si.count, 3);
	assert_int_equal(si.gen, 5);	/* 3 adds, revoke, revoke_all */
	assert_int_equal(si.base_gen, 0);
	assert_int_equal(store_check(f->st, NULL, NULL), 0);
	/* each token has a usage slot of its own */
	assert_int_not_equal(tok_nums(f->st, aid).slot, 0);
	assert_int_not_equal(tok_nums(f->st, aid).slot,
	    tok_nums(f->st, b.t.id).slot);
	assert_int_not_equal(tok_nums(f->st, b.t.id).slot,
	    tok_nums(f->st, c.t.id).slot);
	/* a commit that changes nothing publishes nothing */
	assert_int_equal(store_begin(f->st), 0);
	assert_int_equal(store_commit(f->st), 0);
	inos(f, &i0);
	assert_memory_equal(&i0, &i1, sizeof(i0));
	/* the PAM handle reads the token pair */
	reopen(f, STORE_AUTH);
	assert_int_equal(verify(f->st, "bob", c.str, "sshd", NULL, time(NULL)),
	    VERIFY_OK);
	assert_int_equal(verify(f->st, "alice", b.str, "sshd", NULL,
	    time(NULL)), VERIFY_REVOKED);
	/* a reader lists them too */
	reopen(f, STORE_READ);
	cnt = 0;
	assert_int_equal(store_token_foreach(f->st, NULL, count_token, &cnt), 0);
	assert_int_equal(cnt, 3);
}

/* A fresh id and verifier for a rotation's new token (the secret in k). */
static void
mint_id(struct tok *k)
{
	memset(k, 0, sizeof(*k));
	assert_int_equal(token_generate(k->str, k->t.id, k->t.verifier), 0);
}

/* The record as the store has it now (usage file over it). */
static struct token *
get_tok(struct store *st, const char *id)
{
	struct token *t = NULL;

	assert_int_equal(store_token_get(st, id, &t), 0);
	return t;
}

/*
 * Rotation: the new token copies the old one's restrictions and works at
 * once; the old one works until the grace ends (a sliding expiry can no
 * longer push it out, not even through a PAM handle opened before the
 * rotation) and never longer than it would have; grace 0 revokes it.
 */
static void
test_token_rotate(void **state)
{
	struct fx *f = *state;
	struct tok o, n, n2;
	struct token *t;
	struct store *auth = NULL;
	struct addr_rule *rules = NULL;
	char *scope[] = { "sshd", NULL }, buf[ADDR_RULE_STRLEN];
	int64_t now = time(NULL);
	uint32_t au;
	size_t nr;

	open_w(f);
	au = add(f->st, "alice");
	mint(NULL, &o, "alice", au);
	assert_int_equal(parse_allow_list("10.0.0.0/8", &rules, &nr), 0);
	o.t.description = "deploys";
	o.t.max_age_seconds = 3600;
	o.t.extend_when_used = true;
	o.t.expiry_time = now + 3600;
	o.t.allow = rules;
	o.t.n_allow = nr;
	o.t.scope = (const char **)scope;
	o.t.n_scope = 1;
	assert_int_equal(store_token_add(f->st, &o.t), 0);
	/* a login through a handle opened before the rotation */
	assert_int_equal(store_open(f->dir, STORE_AUTH, &auth), 0);
	mint_id(&n);
	assert_int_equal(store_token_rotate(f->st, "alice", o.t.id, n.t.id,
	    n.t.verifier, now, 600), 0);
	t = get_tok(f->st, n.t.id);
	assert_string_equal(t->user, "alice");
	assert_int_equal(t->uid, au);
	assert_string_equal(t->description, "deploys");
	assert_int_equal(t->max_age_seconds, 3600);
	assert_true(t->extend_when_used);
	assert_int_equal(t->create_time, now);
	assert_int_equal(t->expiry_time, now + 3600);
	assert_int_equal(t->revoke_time, 0);
	assert_int_equal(t->last_used_time, 0);
	assert_int_equal(t->n_allow, 1);
	addr_rule_format(&t->allow[0], buf, sizeof(buf));
	assert_string_equal(buf, "10.0.0.0/8");
	assert_int_equal(t->n_scope, 1);
	assert_string_equal(t->scope[0], "sshd");
	assert_int_not_equal(t->usage_slot, 0);
	assert_int_not_equal(t->usage_slot, tok_nums(f->st, o.t.id).slot);
	token_free(t);
	t = get_tok(f->st, o.t.id);
	assert_int_equal(t->expiry_time, now + 600);
	assert_false(t->extend_when_used);
	assert_int_equal(t->revoke_time, 0);
	token_free(t);
	/* the old handle still sees a sliding token, and pushes it out */
	assert_int_equal(verify(auth, "alice", o.str, "sshd", "10.0.0.1",
	    now + 5), VERIFY_OK);
	assert_int_equal(store_token_touch(auth, o.t.id, now + 5, "10.0.0.1",
	    "sshd", 1000), 0);
	store_close(auth);
	reopen(f, STORE_AUTH);
	assert_int_equal(verify(f->st, "alice", n.str, "sshd", "10.0.0.1", now),
	    VERIFY_OK);
	assert_int_equal(verify(f->st, "alice", n.str, "sudo", "10.0.0.1", now),
	    VERIFY_SERVICE);
	assert_int_equal(verify(f->st, "alice", n.str, "sshd", "192.0.2.1",
	    now), VERIFY_ADDRESS);
	assert_int_equal(verify(f->st, "alice", o.str, "sshd", "10.0.0.1",
	    now + 599), VERIFY_OK);
	assert_int_equal(verify(f->st, "alice", o.str, "sshd", "10.0.0.1",
	    now + 600), VERIFY_EXPIRED);
	assert_int_equal(verify(f->st, "alice", n.str, "sshd", "10.0.0.1",
	    now + 600), VERIFY_OK);
	/* a grace past the old token's own end does not lengthen its life;
	 * rotating the new one with grace 0 revokes it at once */
	reopen(f, STORE_WRITE);
	mint_id(&n2);
	assert_int_equal(store_token_rotate(f->st, "alice", o.t.id, n2.t.id,
	    n2.t.verifier, now + 10, 86400), 0);
	assert_int_equal(tok_nums(f->st, o.t.id).expiry, now + 600);
	assert_int_equal(store_token_rotate(f->st, "alice", n.t.id, o.t.id,
	    o.t.verifier, now, 0), APPUSER_ERR_EXISTS);
	mint_id(&o);
	assert_int_equal(store_token_rotate(f->st, "alice", n.t.id, o.t.id,
	    o.t.verifier, now, 0), 0);
	t = get_tok(f->st, n.t.id);
	assert_int_equal(t->revoke_time, now);
	token_free(t);
	assert_int_equal(verify(f->st, "alice", n.str, "sshd", "10.0.0.1",
	    now), VERIFY_REVOKED);
	assert_int_equal(verify(f->st, "alice", o.str, "sshd", "10.0.0.1",
	    now), VERIFY_OK);
	free(rules);
	sodium_memzero(&o, sizeof(o));
	sodium_memzero(&n, sizeof(n));
	sodium_memzero(&n2, sizeof(n2));
	assert_int_equal(store_check(f->st, NULL, NULL), 0);
}

/*
 * store_token_shorten (a fleet rotation's old token on a host): brings an
 * expiry forward, never later, stops the sliding expiry; only the owner's.
 */
static void
test_token_shorten(void **state)
{
	struct fx *f = *state;
	struct tok a, z;
	struct token *t;
	int64_t now = time(NULL);
	uint32_t au;

	open_w(f);
	au = add(f->st, "alice");
	(void)add(f->st, "bob");
	mint_extending(f->st, &a, "alice", au, now + 3600);
	mint(f->st, &z, "alice", au);		/* never expires */
	assert_int_equal(store_token_shorten(f->st, "alice", a.t.id,
	    now + 600), 0);
	t = get_tok(f->st, a.t.id);
	assert_int_equal(t->expiry_time, now + 600);
	assert_false(t->extend_when_used);
	token_free(t);
	assert_int_equal(store_token_shorten(f->st, "alice", a.t.id,
	    now + 1200), 0);
	t = get_tok(f->st, a.t.id);
	assert_int_equal(t->expiry_time, now + 600);	/* never later */
	token_free(t);
	assert_int_equal(store_token_shorten(f->st, "alice", z.t.id,
	    now + 60), 0);
	t = get_tok(f->st, z.t.id);
	assert_int_equal(t->expiry_time, now + 60);
	token_free(t);
	assert_int_equal(store_token_shorten(f->st, "bob", a.t.id, now + 60),
	    APPUSER_ERR_NOT_FOUND);
	assert_int_equal(store_token_shorten(f->st, "alice", "bad*", now + 60),
	    APPUSER_ERR_NOT_FOUND);
	assert_int_equal(store_token_shorten(f->st, "alice", a.t.id, 0),
	    APPUSER_ERR_INVALID);
	t = get_tok(f->st, a.t.id);
	assert_int_equal(t->expiry_time, now + 600);
	token_free(t);
}

/* What rotation refuses changes nothing; a clash of ids can be retried
 * inside the caller's transaction. */
static void
test_token_rotate_refused(void **state)
{
	struct fx *f = *state;
	struct tok a, b, x, n;
	struct token *t;
	int64_t now = time(NULL);
	uint32_t au, bu;
	int cnt = 0;

	open_w(f);
	au = add(f->st, "alice");
	bu = add(f->st, "bob");
	mint(f->st, &a, "alice", au);
	mint(f->st, &b, "bob", bu);
	mint(NULL, &x, "alice", au);
	x.t.expiry_time = now - 1;
	assert_int_equal(store_token_add(f->st, &x.t), 0);
	mint_id(&n);
	assert_int_equal(store_token_rotate(f->st, "alice", b.t.id, n.t.id,
	    n.t.verifier, now, 60), APPUSER_ERR_NOT_FOUND);	/* bob's */
	assert_int_equal(store_token_rotate(f->st, "ghost", a.t.id, n.t.id,
	    n.t.verifier, now, 60), APPUSER_ERR_NOT_FOUND);
	assert_int_equal(store_token_rotate(f->st, "alice", "AAAAAAAAAAAA",
	    n.t.id, n.t.verifier, now, 60), APPUSER_ERR_NOT_FOUND);
	assert_int_equal(store_token_rotate(f->st, "alice", "bad*", n.t.id,
	    n.t.verifier, now, 60), APPUSER_ERR_NOT_FOUND);
	assert_int_equal(store_token_rotate(f->st, "alice", x.t.id, n.t.id,
	    n.t.verifier, now, 60), APPUSER_ERR_EXPIRED);
	assert_int_equal(store_token_rotate(f->st, "alice", a.t.id, "bad*",
	    n.t.verifier, now, 60), APPUSER_ERR_INVALID);
	assert_int_equal(store_token_revoke(f->st, "bob", b.t.id), 0);
	assert_int_equal(store_token_rotate(f->st, "bob", b.t.id, n.t.id,
	    n.t.verifier, now, 60), APPUSER_ERR_DENIED);
	/* an id clash: nothing written, the transaction goes on */
	assert_int_equal(store_begin(f->st), 0);
	assert_int_equal(store_token_rotate(f->st, "alice", a.t.id, b.t.id,
	    n.t.verifier, now, 60), APPUSER_ERR_EXISTS);
	assert_int_equal(tok_nums(f->st, a.t.id).expiry, 0);
	assert_int_equal(store_token_rotate(f->st, "alice", a.t.id, n.t.id,
	    n.t.verifier, now, 60), 0);
	store_cancel(f->st);
	/* cancelled: neither half happened */
	assert_int_equal(tok_nums(f->st, a.t.id).expiry, 0);
	assert_int_equal(store_token_get(f->st, n.t.id, &t),
	    APPUSER_ERR_NOT_FOUND);
	assert_int_equal(store_token_foreach(f->st, NULL, count_token, &cnt), 0);
	assert_int_equal(cnt, 3);
	/* a reader cannot rotate */
	reopen(f, STORE_READ);
	assert_int_equal(store_token_rotate(f->st, "alice", a.t.id, n.t.id,
	    n.t.verifier, now, 60), APPUSER_ERR_PERMISSION);
	sodium_memzero(&a, sizeof(a));
	sodium_memzero(&b, sizeof(b));
	sodium_memzero(&x, sizeof(x));
	sodium_memzero(&n, sizeof(n));
}

static void
test_delete_user_tokens(void **state)
{
	struct fx *f = *state;
	struct tok a, b, c;
	struct token *t = NULL;
	uint32_t au;
	int cnt = 0;

	open_w(f);
	au = add(f->st, "alice");
	mint(f->st, &a, "alice", au);
	mint(f->st, &b, "alice", au);
	mint(f->st, &c, "bob", add(f->st, "bob"));
	assert_int_equal(store_user_delete(f->st, "alice"), 0);
	assert_int_equal(store_token_get(f->st, a.t.id, &t), APPUSER_ERR_NOT_FOUND);
	assert_int_equal(store_token_get(f->st, b.t.id, &t), APPUSER_ERR_NOT_FOUND);
	assert_int_equal(store_token_foreach(f->st, NULL, count_token, &cnt), 0);
	assert_int_equal(cnt, 1);
	/* a new alice does not inherit anything */
	(void)add(f->st, "alice");
	assert_int_equal(store_token_foreach(f->st, "alice", count_token, &cnt),
	    0);
	assert_int_equal(cnt, 1);
	assert_int_equal(verify(f->st, "alice", a.str, "sshd", NULL,
	    time(NULL)), VERIFY_UNKNOWN);
	assert_int_equal(store_check(f->st, NULL, NULL), 0);
}

static void
test_verify(void **state)
{
	struct fx *f = *state;
	struct tok a, b, x, exp, scoped, net;
	struct addr_rule *rules = NULL;
	char *scope[] = { "sshd", NULL }, bad[TOKEN_LEN + 1];
	struct token *t = NULL;
	int64_t now = time(NULL);
	size_t nr;
	uint32_t au, bu;

	open_w(f);
	au = add(f->st, "alice");
	bu = add(f->st, "bob");
	mint(f->st, &a, "alice", au);
	mint(f->st, &b, "bob", bu);
	assert_int_equal(store_verify(f->st, "alice", a.str, TOKEN_LEN, "sshd",
	    "192.0.2.1", now, &t), VERIFY_OK);
	assert_non_null(t);
	assert_memory_equal(t->id, a.t.id, TOKEN_ID_LEN);
	token_free(t);
	/* not NUL-terminated input is fine */
	memcpy(bad, a.str, TOKEN_LEN);
	bad[TOKEN_LEN] = 'Z';
	assert_int_equal(store_verify(f->st, "alice", bad, TOKEN_LEN, "sshd",
	    NULL, now, NULL), VERIFY_OK);
	/* mismatch: a's id with another secret and a valid checksum */
	mint(NULL, &x, "alice", au);
	memcpy(x.str + TOKEN_MAGIC_LEN, a.t.id, TOKEN_ID_LEN);
	fx_fix_crc(x.str);
	assert_int_equal(store_verify(f->st, "alice", x.str, TOKEN_LEN, "sshd",
	    NULL, now, &t), VERIFY_MISMATCH);
	assert_non_null(t);
	token_free(t);
	/* unknown id: no copy handed out */
	mint(NULL, &x, "alice", au);
	t = (struct token *)1;
	assert_int_equal(store_verify(f->st, "alice", x.str, TOKEN_LEN, "sshd",
	    NULL, now, &t), VERIFY_UNKNOWN);
	assert_null(t);
	assert_int_equal(verify(f->st, "alice", b.str, "sshd", NULL, now),
	    VERIFY_WRONG_USER);
	assert_int_equal(verify(f->st, "ghost", a.str, "sshd", NULL, now),
	    VERIFY_NO_USER);
	assert_int_equal(verify(f->st, "alice", "apu_short", "sshd", NULL, now),
	    VERIFY_MALFORMED);
	assert_int_equal(verify(f->st, "alice", "", "sshd", NULL, now),
	    VERIFY_MALFORMED);
	strcpy(bad, a.str);
	bad[TOKEN_PREFIX_LEN + 3] = bad[TOKEN_PREFIX_LEN + 3] == 'a' ? 'b' : 'a';
	assert_int_equal(verify(f->st, "alice", bad, "sshd", NULL, now),
	    VERIFY_BAD_CHECKSUM);
	/* expired */
	mint(NULL, &exp, "alice", au);
	exp.t.expiry_time = now - 10;
	assert_int_equal(store_token_add(f->st, &exp.t), 0);
	assert_int_equal(verify(f->st, "alice", exp.str, "sshd", NULL, now),
	    VERIFY_EXPIRED);
	/* scope */
	mint(NULL, &scoped, "alice", au);
	scoped.t.scope = (const char **)scope;
	scoped.t.n_scope = 1;
	assert_int_equal(store_token_add(f->st, &scoped.t), 0);
	assert_int_equal(verify(f->st, "alice", scoped.str, "sudo", NULL, now),
	    VERIFY_SERVICE);
	assert_int_equal(verify(f->st, "alice", scoped.str, "sshd", NULL, now),
	    VERIFY_OK);
	/* address */
	mint(NULL, &net, "alice", au);
	assert_int_equal(parse_allow_list("10.0.0.0/8", &rules, &nr), 0);
	net.t.allow = rules;
	net.t.n_allow = nr;
	assert_int_equal(store_token_add(f->st, &net.t), 0);
	assert_int_equal(verify(f->st, "alice", net.str, "sshd", "192.0.2.7",
	    now), VERIFY_ADDRESS);
	assert_int_equal(verify(f->st, "alice", net.str, "sshd", NULL, now),
	    VERIFY_ADDRESS);
	assert_int_equal(verify(f->st, "alice", net.str, "sshd", "10.1.2.3",
	    now), VERIFY_OK);
	free(rules);
	/* revoked */
	assert_int_equal(store_token_revoke(f->st, "alice", a.t.id), 0);
	assert_int_equal(verify(f->st, "alice", a.str, "sshd", NULL, now),
	    VERIFY_REVOKED);
	/* the same answers through a PAM-style handle */
	reopen(f, STORE_AUTH);
	assert_int_equal(verify(f->st, "bob", b.str, "sshd", NULL, now),
	    VERIFY_OK);
	assert_int_equal(verify(f->st, "alice", a.str, "sshd", NULL, now),
	    VERIFY_REVOKED);
	assert_int_equal(store_verify(NULL, "bob", b.str, TOKEN_LEN, "sshd",
	    NULL, now, NULL), VERIFY_UNAVAILABLE);
}

static void
test_touch(void **state)
{
	struct fx *f = *state;
	struct tok a, r;
	struct token *t = NULL;
	int64_t now = time(NULL);
	uint32_t au;

	open_w(f);
	au = add(f->st, "alice");
	mint_extending(f->st, &a, "alice", au, now + 100);
	mint(f->st, &r, "alice", au);
	reopen(f, STORE_AUTH);
	/* nothing verified on this handle yet: nothing recorded */
	assert_int_equal(store_token_touch(f->st, a.t.id, now, "192.0.2.9",
	    "sshd", 1000), 0);
	assert_int_equal(store_token_get(f->st, a.t.id, &t), 0);
	assert_int_equal(t->last_used_time, 0);
	token_free(t);
	assert_int_equal(verify(f->st, "alice", a.str, "sshd", "192.0.2.9",
	    now), VERIFY_OK);
	/* only the token verified last on this handle */
	assert_int_equal(store_token_touch(f->st, r.t.id, now, NULL, "sshd",
	    1000), 0);
	assert_int_equal(store_token_touch(f->st, a.t.id, now + 5, "192.0.2.9",
	    "sshd", 1000), 0);
	assert_int_equal(store_token_get(f->st, a.t.id, &t), 0);
	assert_int_equal(t->last_used_time, now + 5);
	assert_string_equal(t->last_ip, "192.0.2.9");
	assert_string_equal(t->last_service, "sshd");
	assert_int_equal(t->expiry_time, now + 5 + 3600);
	token_free(t);
	assert_int_equal(store_token_get(f->st, r.t.id, &t), 0);
	assert_int_equal(t->last_used_time, 0);
	token_free(t);
	/* the sliding expiry counts for verification, bounded by max_age */
	assert_int_equal(verify(f->st, "alice", a.str, "sshd", NULL, now + 200),
	    VERIFY_OK);
	assert_int_equal(verify(f->st, "alice", a.str, "sshd", NULL,
	    now + 5 + 3601), VERIFY_EXPIRED);
	/* control bytes from the network are not stored */
	assert_int_equal(verify(f->st, "alice", a.str, "sshd", NULL, now),
	    VERIFY_OK);
	assert_int_equal(store_token_touch(f->st, a.t.id, now + 6,
	    "evil\033[2J", NULL, 1000), 0);
	assert_int_equal(store_token_get(f->st, a.t.id, &t), 0);
	assert_string_equal(t->last_ip, "evil?[2J");
	assert_string_equal(t->last_service, "");
	token_free(t);
	/* the master (and its snapshot) never learn of a use */
	reopen(f, STORE_WRITE);
	assert_int_equal(store_check(f->st, NULL, NULL), 0);
	/* a token revoked between verify and touch: the use may be
	 * recorded, but the revocation stands */
	assert_int_equal(verify(f->st, "alice", r.str, "sshd", NULL, now),
	    VERIFY_OK);
	assert_int_equal(store_token_revoke(f->st, "alice", r.t.id), 0);
	assert_int_equal(store_token_touch(f->st, r.t.id, now + 9, NULL,
	    "sshd", 1000), 0);
	assert_int_equal(store_token_get(f->st, r.t.id, &t), 0);
	assert_true(t->revoke_time > 0);
	token_free(t);
	assert_int_equal(verify(f->st, "alice", r.str, "sshd", NULL, now + 10),
	    VERIFY_REVOKED);
	reopen(f, STORE_AUTH);
	assert_int_equal(verify(f->st, "alice", r.str, "sshd", NULL, now + 10),
	    VERIFY_REVOKED);
	/* a reader's handle records nothing, verified or not */
	reopen(f, STORE_READ);
	assert_int_equal(verify(f->st, "alice", a.str, "sshd", NULL, now), 0);
	assert_int_equal(store_token_touch(f->st, a.t.id, now + 20, NULL,
	    "sshd", 1000), APPUSER_ERR_PERMISSION);
	assert_int_equal(tok_nums(f->st, a.t.id).last_used, now + 6);
}

/* Take (F_OFD_SETLK) or drop a write lock on a token's usage slot through
 * a descriptor of our own, as a stopped setuid su might hold it. */
static int
lock_slot(int fd, uint32_t slot, short type)
{
	struct flock fl;

	memset(&fl, 0, sizeof(fl));
	fl.l_type = type;
	fl.l_whence = SEEK_SET;
	fl.l_start = (off_t)slot * USAGE_SLOT_SIZE;
	fl.l_len = USAGE_SLOT_SIZE;
	return fcntl(fd, F_OFD_SETLK, &fl);
}

/*
 * touch waits for a lock held on its token's slot of the usage file (by
 * another process, stopped) no longer than its deadline, then gives up
 * with BUSY; a lock on another slot costs nothing; the login itself
 * (verify) never looks at locks.
 */
static void
test_touch_busy(void **state)
{
	struct fx *f = *state;
	struct tok a, b;
	uint32_t sa, uid;
	int pfd[2], status, fd;
	int64_t t0, ms;
	char c;
	pid_t pid;

	open_w(f);
	uid = add(f->st, "alice");
	mint(f->st, &a, "alice", uid);
	mint(f->st, &b, "alice", uid);
	sa = tok_nums(f->st, a.t.id).slot;
	close_st(f);
	assert_int_equal(pipe(pfd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if ((fd = open(f->usage, O_RDWR | O_CLOEXEC)) < 0 ||
		    lock_slot(fd, sa, F_WRLCK) != 0 ||
		    write(pfd[1], "x", 1) != 1)
			_exit(1);
		raise(SIGSTOP);		/* holds the lock, stopped */
		/* cppcheck-suppress unreachableCode ; raise(SIGSTOP) returns
		 * once continued (cppcheck takes raise for noreturn) */
		_exit(0);
	}
	assert_int_equal(read(pfd[0], &c, 1), 1);
	assert_int_equal(store_open(f->dir, STORE_AUTH, &f->st), 0);
	t0 = fs_mono_ms();
	assert_int_equal(verify(f->st, "alice", a.str, "sshd", NULL,
	    time(NULL)), VERIFY_OK);
	assert_true(fs_mono_ms() - t0 < 500);
	t0 = fs_mono_ms();
	assert_int_equal(store_token_touch(f->st, a.t.id, time(NULL), NULL,
	    "sshd", 200), APPUSER_ERR_BUSY);
	ms = fs_mono_ms() - t0;
	assert_true(ms >= 190 && ms < 1000);
	/* the neighbouring slot is free */
	assert_int_equal(verify(f->st, "alice", b.str, "sshd", NULL,
	    time(NULL)), VERIFY_OK);
	t0 = fs_mono_ms();
	assert_int_equal(store_token_touch(f->st, b.t.id, time(NULL), NULL,
	    "sshd", 200), 0);
	assert_true(fs_mono_ms() - t0 < 150);
	/* the holder goes away: the next touch records */
	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(verify(f->st, "alice", a.str, "sshd", NULL,
	    time(NULL)), VERIFY_OK);
	assert_int_equal(store_token_touch(f->st, a.t.id, time(NULL), NULL,
	    "sshd", 200), 0);
	/* a lock of this very process's on another descriptor: OFD locks
	 * conflict per open file, so it is waited for like any other */
	fd = open(f->usage, O_RDWR | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(lock_slot(fd, sa, F_WRLCK), 0);
	assert_int_equal(verify(f->st, "alice", a.str, "sshd", NULL,
	    time(NULL)), VERIFY_OK);
	t0 = fs_mono_ms();
	assert_int_equal(store_token_touch(f->st, a.t.id, time(NULL), NULL,
	    "sshd", 50), APPUSER_ERR_BUSY);
	assert_true(fs_mono_ms() - t0 >= 45);
	close(fd);
	close(pfd[0]);
	close(pfd[1]);
}

/* No file of the store holds a token or its secret; the public id is in
 * the master and the token pair (both root's). */
static void
test_no_secret_in_files(void **state)
{
	struct fx *f = *state;
	char path[PATH_MAX];
	struct dirent *de;
	struct tok a;
	size_t n;
	char *buf;
	int files = 0;
	DIR *d;

	open_w(f);
	mint(f->st, &a, "alice", add(f->st, "alice"));
	assert_int_equal(verify(f->st, "alice", a.str, "sshd", NULL,
	    time(NULL)), VERIFY_OK);
	assert_int_equal(store_token_touch(f->st, a.t.id, time(NULL),
	    "192.0.2.1", "sshd", 1000), 0);
	close_st(f);
	assert_non_null(d = opendir(f->dir));
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", f->dir, de->d_name);
		n = slurp(path, &buf);
		files++;
		if (memmem(buf, n, a.str, TOKEN_LEN) != NULL ||
		    memmem(buf, n, a.str + TOKEN_PREFIX_LEN,
		    TOKEN_SECRET_LEN) != NULL)
			fail_msg("the secret is in %s", de->d_name);
		if (strcmp(de->d_name, APPUSER_MASTER_FILE) == 0 ||
		    strcmp(de->d_name, APPUSER_TOKENS_DELTA) == 0 ||
		    strcmp(de->d_name, APPUSER_USAGE_FILE) == 0)
			assert_non_null(memmem(buf, n, a.t.id, TOKEN_ID_LEN));
		if (strcmp(de->d_name, APPUSER_IDENTITY_FILE) == 0 ||
		    strcmp(de->d_name, APPUSER_IDENTITY_DELTA) == 0 ||
		    strcmp(de->d_name, APPUSER_GEN_FILE) == 0)
			assert_null(memmem(buf, n, a.t.id, TOKEN_ID_LEN));
		free(buf);
	}
	closedir(d);
	assert_int_equal(files, 8);	/* master, 2 pairs, usage, gen, lock */
	sodium_memzero(a.str, sizeof(a.str));
}

/* Run one call on a STORE_AUTH handle in a child: its result, or a
 * value no call returns if the child died (a crash). */
enum auth_call { AC_TOKEN_FOREACH_USER, AC_TOKEN_FOREACH_ALL,
    AC_USER_FOREACH, AC_CHECK, AC_USER_GET, AC_TOKEN_GET, AC_META,
    AC_REVOKE, AC_AUX_GET, AC_N };

static int
auth_call(struct fx *f, enum auth_call c, const char *id)
{
	struct store *st = NULL;
	struct token *t = NULL;
	struct user *u = NULL;
	struct meta m;
	uint8_t *v = NULL;
	size_t len;
	int n = 0, status;
	pid_t pid;

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int r;

		signal(SIGSEGV, SIG_DFL);	/* not cmocka's: die */
		signal(SIGBUS, SIG_DFL);
		if (store_open(f->dir, STORE_AUTH, &st) != 0)
			_exit(100);
		switch (c) {
		case AC_TOKEN_FOREACH_USER:
			r = store_token_foreach(st, "alice", count_token, &n);
			break;
		case AC_TOKEN_FOREACH_ALL:
			r = store_token_foreach(st, NULL, count_token, &n);
			break;
		case AC_USER_FOREACH:
			r = store_user_foreach(st, count_user, &n);
			break;
		case AC_CHECK:
			r = store_check(st, NULL, NULL);
			break;
		case AC_USER_GET:
			r = store_user_get(st, "alice", &u);
			break;
		case AC_TOKEN_GET:
			r = store_token_get(st, id, &t);
			break;
		case AC_META:
			r = store_get_meta(st, &m);
			break;
		case AC_REVOKE:
			r = store_token_revoke(st, "alice", id);
			break;
		default:
			r = store_aux_get(st, "rev", &v, &len);
			break;
		}
		_exit(-r);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (WIFSIGNALED(status))
		fail_msg("call %d on a STORE_AUTH handle died of signal %d",
		    (int)c, WTERMSIG(status));
	assert_true(WIFEXITED(status));
	return -WEXITSTATUS(status);
}

/*
 * A STORE_AUTH handle (PAM's) has no master: what it can answer from the
 * published pairs it answers; what needs the master is refused, never a
 * crash and never a wrong "none".
 */
static void
test_auth_handle(void **state)
{
	struct fx *f = *state;
	struct tok k;
	int c, r;

	open_w(f);
	mint(f->st, &k, "alice", add(f->st, "alice"));
	assert_int_equal(store_aux_put(f->st, "rev", "1", 1), 0);
	close_st(f);
	assert_int_equal(auth_call(f, AC_USER_GET, k.t.id), 0);
	assert_int_equal(auth_call(f, AC_TOKEN_GET, k.t.id), 0);
	assert_int_equal(auth_call(f, AC_META, k.t.id), 0);
	assert_int_equal(auth_call(f, AC_REVOKE, k.t.id),
	    APPUSER_ERR_PERMISSION);
	for (c = AC_TOKEN_FOREACH_USER; c <= AC_CHECK; c++) {
		r = auth_call(f, (enum auth_call)c, k.t.id);
		if (r != APPUSER_ERR_PERMISSION)
			fail_msg("call %d on a STORE_AUTH handle: %d", c, r);
	}
	r = auth_call(f, AC_AUX_GET, k.t.id);
	assert_true(r == APPUSER_ERR_PERMISSION || r == APPUSER_ERR_NOT_FOUND);
}

/* ---- the usage file --------------------------------------------------- */

/* Write a slot as usage.h lays it out, with a valid CRC unless torn. */
static void
write_slot(struct fx *f, uint32_t slot, const char *id, int64_t used,
    int64_t expiry, bool torn)
{
	uint8_t b[USAGE_SLOT_SIZE];
	uint32_t crc;
	int fd, i;

	memset(b, 0, sizeof(b));
	for (i = 0; i < 4; i++)
		b[i] = (uint8_t)(USAGE_MAGIC >> (8 * i));
	memcpy(b + 4, id, TOKEN_ID_LEN);
	for (i = 0; i < 8; i++) {
		b[16 + i] = (uint8_t)((uint64_t)used >> (8 * i));
		b[24 + i] = (uint8_t)((uint64_t)expiry >> (8 * i));
	}
	memcpy(b + 32, "203.0.113.5", 11);
	memcpy(b + 80, "forged", 6);
	crc = crc32_ieee(b, 120);
	for (i = 0; i < 4; i++)
		b[120 + i] = (uint8_t)(crc >> (8 * i));
	if (torn)
		b[17] ^= 0x40;		/* a write that did not finish */
	fd = open(f->usage, O_WRONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, b, sizeof(b),
	    (off_t)slot * USAGE_SLOT_SIZE), sizeof(b));
	close(fd);
}

/*
 * The usage file only ever subtracts: a torn, truncated, foreign or
 * forged slot reads as "never used" or is ignored; it never lengthens a
 * token's life past max_age from its last use, nor makes a revoked or
 * unknown token pass; a slot freed by a user's deletion is reused without
 * its old data; logins work without the file (unrecorded).
 */
static void
test_usage_file(void **state)
{
	struct fx *f = *state;
	struct tok a, b, d;
	int64_t now = time(NULL);
	uint32_t au, sa, sb;
	struct stat sb_;

	open_w(f);
	assert_int_equal(stat(f->usage, &sb_), 0);
	assert_int_equal(sb_.st_mode & 07777, 0600);
	assert_int_equal(sb_.st_uid, geteuid());
	au = add(f->st, "alice");
	mint_extending(f->st, &a, "alice", au, now + 100);
	mint(f->st, &b, "alice", au);
	sa = tok_nums(f->st, a.t.id).slot;
	sb = tok_nums(f->st, b.t.id).slot;
	assert_int_not_equal(sa, 0);
	assert_int_not_equal(sb, 0);
	assert_int_not_equal(sa, sb);
	reopen(f, STORE_AUTH);
	assert_int_equal(verify(f->st, "alice", a.str, "sshd", NULL, now), 0);
	assert_int_equal(store_token_touch(f->st, a.t.id, now, "192.0.2.1",
	    "sshd", 1000), 0);
	assert_int_equal(tok_nums(f->st, a.t.id).last_used, now);
	assert_int_equal(tok_nums(f->st, a.t.id).expiry, now + 3600);
	/* torn: never used, and the sliding extension is lost (expires
	 * sooner: safe) */
	write_slot(f, sa, a.t.id, now + 10, now + 10 + 3600, true);
	assert_int_equal(tok_nums(f->st, a.t.id).last_used, 0);
	assert_int_equal(tok_nums(f->st, a.t.id).expiry, now + 100);
	assert_int_equal(verify(f->st, "alice", a.str, "sshd", NULL, now + 200),
	    VERIFY_EXPIRED);
	/* cut short (a file truncated inside the slot): the same */
	assert_int_equal(truncate(f->usage, (off_t)sa * USAGE_SLOT_SIZE + 60),
	    0);
	assert_int_equal(tok_nums(f->st, a.t.id).last_used, 0);
	/* the next login writes it whole again */
	assert_int_equal(verify(f->st, "alice", a.str, "sshd", NULL, now), 0);
	assert_int_equal(store_token_touch(f->st, a.t.id, now + 1, NULL,
	    "sshd", 1000), 0);
	assert_int_equal(tok_nums(f->st, a.t.id).last_used, now + 1);
	/* another token's data in the slot: not ours */
	write_slot(f, sa, b.t.id, now + 20, now + 20 + 3600, false);
	assert_int_equal(tok_nums(f->st, a.t.id).last_used, 0);
	/* forged: an expiry beyond max_age from the last use is ignored,
	 * and a token without a sliding expiry gets none */
	write_slot(f, sa, a.t.id, now + 30, now + 30 + 10 * 3600, false);
	assert_int_equal(tok_nums(f->st, a.t.id).last_used, now + 30);
	assert_int_equal(tok_nums(f->st, a.t.id).expiry, now + 100);
	write_slot(f, sb, b.t.id, now + 30, now + 3600, false);
	assert_int_equal(tok_nums(f->st, b.t.id).expiry, 0);
	/* a slot past the end of the file: never used */
	assert_int_equal(truncate(f->usage, (off_t)sa * USAGE_SLOT_SIZE), 0);
	assert_int_equal(tok_nums(f->st, a.t.id).last_used, 0);
	assert_int_equal(verify(f->st, "alice", a.str, "sshd", NULL, now), 0);
	/* a revocation stands whatever the slot says */
	reopen(f, STORE_WRITE);
	assert_int_equal(store_token_revoke(f->st, "alice", b.t.id), 0);
	write_slot(f, sb, b.t.id, now + 40, 0, false);
	reopen(f, STORE_AUTH);
	assert_int_equal(verify(f->st, "alice", b.str, "sshd", NULL, now + 41),
	    VERIFY_REVOKED);
	/* slot reuse: alice's slots go back with her; dave's new token takes
	 * one, and starts as never used although the slot holds data */
	assert_int_equal(verify(f->st, "alice", a.str, "sshd", NULL, now), 0);
	assert_int_equal(store_token_touch(f->st, a.t.id, now + 50, NULL,
	    "sshd", 1000), 0);
	reopen(f, STORE_WRITE);
	assert_int_equal(store_user_delete(f->st, "alice"), 0);
	mint(f->st, &d, "dave", add(f->st, "dave"));
	assert_true(tok_nums(f->st, d.t.id).slot == sa ||
	    tok_nums(f->st, d.t.id).slot == sb);
	assert_int_equal(tok_nums(f->st, d.t.id).last_used, 0);
	reopen(f, STORE_AUTH);
	assert_int_equal(verify(f->st, "alice", a.str, "sshd", NULL, now),
	    VERIFY_NO_USER);
	assert_int_equal(verify(f->st, "dave", d.str, "sshd", NULL, now), 0);
	assert_int_equal(store_token_touch(f->st, d.t.id, now + 60, NULL,
	    "sshd", 1000), 0);
	assert_int_equal(tok_nums(f->st, d.t.id).last_used, now + 60);
	close_st(f);
	/* no usage file, or one that is not as the writer leaves it: logins
	 * work, unrecorded; the next writer puts it back */
	assert_int_equal(unlink(f->usage), 0);
	assert_int_equal(store_open(f->dir, STORE_AUTH, &f->st), 0);
	assert_int_equal(verify(f->st, "dave", d.str, "sshd", NULL, now), 0);
	assert_int_not_equal(store_token_touch(f->st, d.t.id, now + 70, NULL,
	    "sshd", 1000), 0);
	assert_int_equal(tok_nums(f->st, d.t.id).last_used, 0);
	reopen(f, STORE_WRITE);
	assert_int_equal(mode_of(f->usage), 0600);
	close_st(f);
	assert_int_equal(chmod(f->usage, 0606), 0);
	assert_int_equal(store_open(f->dir, STORE_AUTH, &f->st), 0);
	assert_int_equal(verify(f->st, "dave", d.str, "sshd", NULL, now), 0);
	assert_int_equal(store_token_touch(f->st, d.t.id, now + 80, NULL,
	    "sshd", 1000), APPUSER_ERR_UNSAFE);
	reopen(f, STORE_WRITE);
	assert_int_equal(mode_of(f->usage), 0600);
	assert_int_equal(store_check(f->st, NULL, NULL), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		fx_test(test_tokens),
		fx_test(test_token_rotate),
		fx_test(test_token_shorten),
		fx_test(test_token_rotate_refused),
		fx_test(test_delete_user_tokens),
		fx_test(test_verify),
		fx_test(test_touch),
		fx_test(test_touch_busy),
		fx_test(test_no_secret_in_files),
		fx_test(test_usage_file),
		fx_test(test_auth_handle),
	};

	if (crypto_init() != 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
