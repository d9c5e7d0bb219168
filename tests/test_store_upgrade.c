/*
 * Unit test of the store's format-1 upgrade: a store as format 1 left it
 * (identity.tdb, token records without a usage slot, last use in the
 * master) is upgraded in place by the first writer, every user and token
 * kept with its last use; until then this build's readers find no store.
 * In a fresh mkdtemp directory, removed afterwards (tests/store_test.h).
 */
#include "store_test.h"

/*
 * Turn a store made by this build into what format 1 left: meta format 1,
 * token records of version 1 (no usage slot), no !tgen or !slots, the
 * public snapshot identity.tdb instead of the two pairs, no usage file.
 */
static void
make_format1(struct fx *f)
{
	TDB_DATA keys[512] = { { NULL, 0 } }, k, nk, d;
	struct tdb_context *t = raw(f->master);
	struct token tk;
	struct meta m;
	uint8_t *buf;
	size_t n = 0, i, len;

	for (k = tdb_firstkey(t); k.dptr != NULL; k = nk) {
		nk = tdb_nextkey(t, k);
		if (k.dptr[0] == 'T' && n < 512)
			keys[n++] = k;
		else
			free(k.dptr);
	}
	for (i = 0; i < n; i++) {
		d = tdb_fetch(t, keys[i]);
		assert_non_null(d.dptr);
		assert_int_equal(record_decode_token(d.dptr, d.dsize, &tk), 0);
		assert_int_not_equal(tk.usage_slot, 0);
		token_clear(&tk);
		d.dptr[1] = 1;		/* version 1 ended before the slot */
		d.dsize -= 4;
		assert_int_equal(tdb_store(t, keys[i], d, TDB_REPLACE), 0);
		free(d.dptr);
		free(keys[i].dptr);
	}
	assert_int_equal(tdb_delete(t, kd("!tgen", 5)), 0);
	assert_int_equal(tdb_delete(t, kd("!slots", 6)), 0);
	d = tdb_fetch(t, kd("!meta", 5));
	assert_int_equal(record_decode_meta(d.dptr, d.dsize, &m), 0);
	m.format = 1;
	assert_int_equal(record_encode_meta(&m, &buf, &len), 0);
	assert_int_equal(tdb_store(t, kd("!meta", 5), kd(buf, len),
	    TDB_REPLACE), 0);
	free(buf);
	meta_clear(&m);
	free(d.dptr);
	tdb_close(t);
	assert_int_equal(unlink(f->ident), 0);
	assert_int_equal(unlink(f->idelta), 0);
	assert_int_equal(unlink(f->toks), 0);
	assert_int_equal(unlink(f->tdelta), 0);
	assert_int_equal(unlink(f->usage), 0);
}

struct slots {
	int		 n;
	uint32_t	 s[400];
};

/* Everything of a token but its slot, as text, XOR-folded into a sum
 * that does not depend on the order of the walk. */
static int
token_sum(const struct token *t, void *arg)
{
	uint8_t h[crypto_generichash_BYTES], *sum = arg;
	char buf[1024];
	size_t i;
	int n;

	n = snprintf(buf, sizeof(buf), "%s|%s|%u|%s|%lld|%lld|%d|%lld|%lld|"
	    "%lld|%s|%s|%zu|%zu|%s", t->id, t->user, t->uid, t->description,
	    (long long)t->create_time, (long long)t->max_age_seconds,
	    t->extend_when_used, (long long)t->expiry_time,
	    (long long)t->revoke_time, (long long)t->last_used_time,
	    t->last_ip, t->last_service, t->n_allow, t->n_scope,
	    t->n_scope > 0 ? t->scope[0] : "-");
	crypto_generichash(h, sizeof(h), (const uint8_t *)buf, (size_t)n,
	    t->verifier, TOKEN_VERIFIER_LEN);
	for (i = 0; i < sizeof(h); i++)
		sum[i] ^= h[i];
	return 0;
}

static int
note_slot(const struct token *t, void *arg)
{
	struct slots *sl = arg;
	int i;

	assert_int_not_equal(t->usage_slot, 0);
	for (i = 0; i < sl->n; i++)
		assert_int_not_equal(sl->s[i], t->usage_slot);
	if (sl->n < 400)
		sl->s[sl->n++] = t->usage_slot;
	return 0;
}

/*
 * A format-1 store (identity.tdb, token records without a usage slot,
 * last use kept in the master) is upgraded in place by the first writer:
 * every token gets a slot of its own, what the records said about last
 * use survives, the pairs are published, identity.tdb goes; a second
 * open changes nothing.  Before that, the readers of this build have
 * nothing to read (NOSTORE): installing it must open the store once.
 */
static void
test_upgrade_format1(void **state)
{
	struct fx *f = *state;
	char old[200];
	struct tdb_context *t;
	struct store *st = NULL;
	uint8_t sum0[crypto_generichash_BYTES], sum1[sizeof(sum0)];
	static const char *scope[] = { "sshd", "sudo" };
	struct slots s1, s2;
	struct tok a, b, many;
	struct meta m;
	uint32_t au, cu, uid = 0;
	int64_t now = time(NULL);
	int i;

	open_w(f);
	au = add(f->st, "alice");
	cu = add(f->st, "carol");
	assert_int_equal(store_user_set_admin(f->st, "carol", true), 0);
	mint(NULL, &a, "alice", au);
	a.t.last_used_time = now - 100;		/* as format 1 recorded it */
	a.t.last_ip = "198.51.100.7";
	a.t.last_service = "sshd";
	assert_int_equal(store_token_add(f->st, &a.t), 0);
	mint(f->st, &b, "alice", au);
	assert_int_equal(store_token_revoke(f->st, "alice", b.t.id), 0);
	assert_int_equal(store_begin(f->st), 0);
	for (i = 0; i < 300; i++) {	/* enough to fill hash chains */
		mint(NULL, &many, "carol", cu);
		many.t.description = "a longer description of this token";
		many.t.scope = scope;
		many.t.n_scope = 2;
		many.t.last_ip = "2001:db8::1";
		many.t.last_service = "sshd";
		many.t.last_used_time = now - i;
		assert_int_equal(store_token_add(f->st, &many.t), 0);
	}
	assert_int_equal(store_commit(f->st), 0);
	memset(sum0, 0, sizeof(sum0));
	assert_int_equal(store_token_foreach(f->st, NULL, token_sum, sum0), 0);
	close_st(f);
	make_format1(f);
	snprintf(old, sizeof(old), "%s/%s", f->dir, APPUSER_OLD_IDENTITY);
	t = tdb_open(old, 0, 0, O_RDWR | O_CREAT, 0644);
	assert_non_null(t);
	tdb_close(t);

	/* readers of this build before any writer ran */
	assert_int_equal(snap_uid(f, "alice", &uid), APPUSER_ERR_NOSTORE);
	assert_int_equal(store_open(f->dir, STORE_AUTH, &st), APPUSER_ERR_NOSTORE);
	/* the master reads fine (a format-1 token has no slot) */
	assert_int_equal(store_open(f->dir, STORE_READ, &f->st), 0);
	assert_int_equal(tok_nums(f->st, a.t.id).slot, 0);
	assert_int_equal(tok_nums(f->st, a.t.id).last_used, now - 100);
	close_st(f);

	assert_int_equal(store_open(f->dir, STORE_WRITE, &f->st), 0);
	assert_int_equal(store_get_meta(f->st, &m), 0);
	assert_int_equal(m.format, STORE_FORMAT_VERSION);
	assert_int_equal(m.n_users, 2);
	assert_int_equal(access(old, F_OK), -1);
	assert_int_equal(mode_of(f->ident), 0644);
	assert_int_equal(mode_of(f->toks), 0600);
	assert_int_equal(mode_of(f->usage), 0600);
	assert_int_equal(store_check(f->st, NULL, NULL), 0);
	memset(&s1, 0, sizeof(s1));
	assert_int_equal(store_token_foreach(f->st, NULL, note_slot, &s1), 0);
	assert_int_equal(s1.n, 302);
	assert_int_equal(tok_nums(f->st, a.t.id).last_used, now - 100);
	/* every field of every token as it was */
	memset(sum1, 0, sizeof(sum1));
	assert_int_equal(store_token_foreach(f->st, NULL, token_sum, sum1), 0);
	assert_memory_equal(sum0, sum1, sizeof(sum0));
	/* opened again: nothing moves */
	reopen(f, STORE_WRITE);
	memset(&s2, 0, sizeof(s2));
	assert_int_equal(store_token_foreach(f->st, NULL, note_slot, &s2), 0);
	assert_memory_equal(&s1, &s2, sizeof(s1));
	/* new tokens get fresh slots */
	mint(f->st, &many, "carol", cu);
	memset(&s2, 0, sizeof(s2));
	assert_int_equal(store_token_foreach(f->st, NULL, note_slot, &s2), 0);
	assert_int_equal(s2.n, 303);
	/* readers and logins */
	assert_int_equal(snap_uid(f, "carol", &uid), 0);
	assert_int_equal(uid, cu);
	reopen(f, STORE_AUTH);
	assert_int_equal(verify(f->st, "alice", b.str, "sshd", NULL, now),
	    VERIFY_REVOKED);
	assert_int_equal(verify(f->st, "alice", a.str, "sshd", NULL, now), 0);
	assert_int_equal(store_token_touch(f->st, a.t.id, now, NULL, "sshd",
	    1000), 0);
	assert_int_equal(tok_nums(f->st, a.t.id).last_used, now);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		fx_test(test_upgrade_format1),
	};

	if (crypto_init() != 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
