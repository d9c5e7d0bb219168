/*
 * Unit tests of the store's published pairs (snapfile.h, store_snap.c):
 * base plus delta and their merge, check (the damage a crash leaves and
 * the snapshots' disagreements with the master; planted master damage is
 * tests/test_store_check.c's), records newer than this build, a deleted
 * snapshot, roll-forward of a pair a writer left behind, the generation
 * file (gencount.h).  Each test runs in a fresh mkdtemp directory, removed
 * afterwards (tests/store_test.h).
 */
#include "store_test.h"

static void
copy_file(const char *from, const char *to)
{
	assert_int_equal(fx_copy_file(from, to, mode_of(from)), 0);
}

/*
 * The identity pair: a change rewrites only the delta (the base keeps its
 * inode); a commit too big for the delta's bound, or a delta that would
 * outgrow it, merges into a new base with an empty delta; a reader that
 * opened the pair before a merge keeps reading its own pair, complete and
 * consistent, until it refreshes.
 */
static void
test_rebuild_and_delta(void **state)
{
	struct fx *f = *state;
	struct idview_cursor c = IDVIEW_CURSOR_INIT;
	struct idview *old = NULL;
	struct sinfo b, d;
	uint32_t uid = 0;
	ino_t base_ino;
	int n = 0;

	open_w(f);
	/* 1 + 2 * 3000 keys: more than a delta may hold, a full build */
	add_bulk(f->st, "bulk", 3000);
	sinfo(f->ident, SNAP_KIND_IDENTITY, &b);
	sinfo(f->idelta, SNAP_KIND_IDENTITY, &d);
	assert_int_equal(b.gen, 1);
	assert_int_equal(b.count, 1 + 2 * 3000);
	assert_int_equal(d.base_gen, 1);
	assert_int_equal(d.gen, 1);
	assert_int_equal(d.count, 0);
	base_ino = b.ino;
	/* one more user: the delta gets meta, U and I; the base stays */
	add(f->st, "one-more");
	sinfo(f->ident, SNAP_KIND_IDENTITY, &b);
	sinfo(f->idelta, SNAP_KIND_IDENTITY, &d);
	assert_int_equal(b.ino, base_ino);
	assert_int_equal(d.gen, 2);
	assert_int_equal(d.base_gen, 1);
	assert_int_equal(d.count, 3);
	assert_int_equal(snap_uid(f, "one-more", &uid), 0);
	assert_int_equal(uid, UMIN + 3001);
	assert_int_equal(snap_uid(f, "bulk2999", &uid), 0);
	assert_int_equal(uid, UMIN + 3000);
	/* a bigger change that still fits: the delta grows, the base stays */
	add_bulk(f->st, "mid", 1300);
	sinfo(f->ident, SNAP_KIND_IDENTITY, &b);
	sinfo(f->idelta, SNAP_KIND_IDENTITY, &d);
	assert_int_equal(b.ino, base_ino);
	assert_int_equal(d.count, 3 + 2 * 1300);
	assert_int_equal(store_check(f->st, NULL, NULL), 0);
	/* a reader in the middle of a pass over this pair */
	assert_int_equal(idview_open(f->dir, &old), 0);
	assert_int_equal(idview_next_user(old, &c, count_user, &n), 0);
	/* 2603 + 1601 records would outgrow the bound (4096): merge */
	add_bulk(f->st, "late", 800);
	sinfo(f->ident, SNAP_KIND_IDENTITY, &b);
	sinfo(f->idelta, SNAP_KIND_IDENTITY, &d);
	assert_int_not_equal(b.ino, base_ino);
	assert_int_equal(b.gen, 4);
	assert_int_equal(b.count, 1 + 2 * (3001 + 1300 + 800));
	assert_int_equal(d.gen, 4);
	assert_int_equal(d.base_gen, 4);
	assert_int_equal(d.count, 0);
	assert_int_equal(snap_uid(f, "late799", &uid), 0);
	assert_int_equal(uid, UMIN + 5101);
	/* the old reader: its own pair, all of it, nothing of the merge */
	assert_int_equal(idview_user_by_name(old, "late0", copy_uid, &uid),
	    APPUSER_ERR_NOT_FOUND);
	assert_int_equal(idview_user_by_name(old, "mid1299", copy_uid, &uid),
	    0);
	assert_int_equal(uid, UMIN + 3001 + 1300);
	assert_int_equal(idview_user_by_uid(old, UMIN + 3001, copy_uid, &uid),
	    0);
	assert_int_equal(idview_meta(old)->generation, 3);
	while (idview_next_user(old, &c, count_user, &n) == 0)
		;
	assert_int_equal(n, 3001 + 1300);
	idview_cursor_release(old, &c);
	/* refreshed, it moves to the new pair */
	assert_int_equal(idview_refresh(old), 0);
	assert_int_equal(idview_user_by_name(old, "late0", copy_uid, &uid), 0);
	assert_int_equal(idview_meta(old)->generation, 4);
	idview_close(old);
	/* a big delete in one commit merges too: the base shrinks */
	assert_int_equal(store_begin(f->st), 0);
	for (n = 0; n < 2500; n++) {
		char name[16];

		snprintf(name, sizeof(name), "bulk%d", n);
		assert_int_equal(store_user_delete(f->st, name), 0);
	}
	assert_int_equal(store_commit(f->st), 0);
	sinfo(f->ident, SNAP_KIND_IDENTITY, &b);
	sinfo(f->idelta, SNAP_KIND_IDENTITY, &d);
	assert_int_equal(b.count, 1 + 2 * (5101 - 2500));
	assert_int_equal(d.count, 0);
	assert_int_equal(snap_uid(f, "bulk0", &uid), APPUSER_ERR_NOT_FOUND);
	assert_int_equal(snap_uid(f, "bulk2500", &uid), 0);
	/* a delete in a delta is a tombstone: gone for readers too */
	assert_int_equal(store_user_delete(f->st, "bulk2500"), 0);
	sinfo(f->idelta, SNAP_KIND_IDENTITY, &d);
	assert_int_equal(d.count, 3);		/* meta, U and I tombstones */
	assert_int_equal(snap_uid(f, "bulk2500", &uid), APPUSER_ERR_NOT_FOUND);
	assert_int_equal(store_check(f->st, NULL, NULL), 0);
}

/* ---- check, newer records, roll-forward, the generation file --------- */

/* Check a reader's way (no repair), expecting problems that say what. */
static void
check_says(struct fx *f, const char *what, const char *what2)
{
	struct reports rep;

	assert_int_equal(store_open(f->dir, STORE_READ, &f->st), 0);
	memset(&rep, 0, sizeof(rep));
	assert_int_equal(store_check(f->st, collect, &rep), APPUSER_ERR_CORRUPT);
	if (strstr(rep.all, what) == NULL ||
	    (what2 != NULL && strstr(rep.all, what2) == NULL))
		fail_msg("expected \"%s\" and \"%s\" in: %s", what,
		    what2 ? what2 : "", rep.all);
	close_st(f);
}

/*
 * Published records that disagree with the master, planted in a delta
 * with the right generations: an extra record, a changed user, a user
 * missing, and a revoked token shown live.  check names each; a writer's
 * check puts the pair back (the same generation, so a writer's open does
 * not see it: check compares every record).
 */
static void
check_planted(struct fx *f, struct tok *a)
{
	char saved_i[200], saved_t[200], tkey[1 + TOKEN_ID_LEN];
	struct user u = { .name = "bob", .description = "changed",
	    .home = "/", .shell = "/bin/sh", .uid = UMIN + 2, .gid = UMIN + 2 };
	uint8_t *buf;
	size_t len;

	snprintf(saved_i, sizeof(saved_i), "%s/saved.i", f->base);
	snprintf(saved_t, sizeof(saved_t), "%s/saved.t", f->base);
	copy_file(f->idelta, saved_i);
	copy_file(f->tdelta, saved_t);

	assert_int_equal(fx_plant_delta(f->dir, SNAP_KIND_IDENTITY, "Xmark", 5,
	    "1", 1), 0);
	check_says(f, "identity snapshot: Xmark is not in the master",
	    "identity snapshot: 6 records, the master calls for 5");
	copy_file(saved_i, f->idelta);

	assert_int_equal(record_encode_user(&u, &buf, &len), 0);
	assert_int_equal(fx_plant_delta(f->dir, SNAP_KIND_IDENTITY, "Ubob", 4,
	    buf, len), 0);
	free(buf);
	check_says(f, "identity snapshot: Ubob differs from the master", NULL);
	copy_file(saved_i, f->idelta);

	assert_int_equal(fx_plant_delta(f->dir, SNAP_KIND_IDENTITY, "Ualice", 6,
	    NULL, 0), 0);
	check_says(f, "identity snapshot: 4 records, the master calls for 5",
	    NULL);
	copy_file(saved_i, f->idelta);

	/* the token revoked in the master, live in the snapshot */
	open_w(f);
	assert_int_equal(store_token_revoke(f->st, "alice", a->t.id), 0);
	close_st(f);
	copy_file(f->tdelta, saved_t);
	tkey[0] = 'T';
	memcpy(tkey + 1, a->t.id, TOKEN_ID_LEN);
	a->t.usage_slot = 1;
	assert_int_equal(record_encode_token(&a->t, &buf, &len), 0);
	assert_int_equal(fx_plant_delta(f->dir, SNAP_KIND_TOKENS, tkey,
	    sizeof(tkey), buf, len), 0);
	free(buf);
	check_says(f, "token snapshot: T", "differs from the master");
	/* a writer's check says so too (same generation: nothing lags) */
	open_w(f);
	assert_int_equal(store_check(f->st, NULL, NULL), APPUSER_ERR_CORRUPT);
	close_st(f);
	copy_file(saved_t, f->tdelta);
	open_w(f);
	assert_int_equal(store_check(f->st, NULL, NULL), 0);
	close_st(f);
}

static void
test_check(void **state)
{
	struct fx *f = *state;
	struct reports rep;
	struct tdb_context *t;
	uint8_t key[5] = { 'I' };
	uint32_t uid;
	struct tok a;

	open_w(f);
	uid = add(f->st, "alice");
	add(f->st, "bob");
	mint(f->st, &a, "alice", uid);
	memset(&rep, 0, sizeof(rep));
	assert_int_equal(store_check(f->st, collect, &rep), 0);
	assert_int_equal(rep.n, 0);
	close_st(f);
	t = raw(f->master);
	key[1] = uid >> 24;
	key[2] = uid >> 16;
	key[3] = uid >> 8;
	key[4] = uid;
	assert_int_equal(tdb_delete(t, kd(key, 5)), 0);
	tdb_close(t);
	assert_int_equal(store_open(f->dir, STORE_READ, &f->st), 0);
	memset(&rep, 0, sizeof(rep));
	assert_int_equal(store_check(f->st, collect, &rep), APPUSER_ERR_CORRUPT);
	assert_true(rep.n >= 2);
	assert_non_null(strstr(rep.all, "missing from the uid index"));
	assert_non_null(strstr(rep.all, "not in the master"));
	assert_null(strstr(rep.all, a.str + TOKEN_PREFIX_LEN));
	close_st(f);
	/* a token whose list entry is gone, and a stray key */
	t = raw(f->master);
	assert_int_equal(tdb_store(t, kd(key, 5), kd("alice", 5), TDB_INSERT),
	    0);
	assert_int_equal(tdb_delete(t, kd("Lalice", 6)), 0);
	assert_int_equal(tdb_store(t, kd("Zjunk", 5), kd("x", 1), TDB_INSERT),
	    0);
	tdb_close(t);
	assert_int_equal(store_open(f->dir, STORE_READ, &f->st), 0);
	memset(&rep, 0, sizeof(rep));
	assert_int_equal(store_check(f->st, collect, &rep), APPUSER_ERR_CORRUPT);
	assert_int_equal(rep.n, 2);
	assert_non_null(strstr(rep.all, "missing from alice's token list"));
	assert_non_null(strstr(rep.all, "unknown key Zjunk"));
	close_st(f);
	/* repaired by hand: clean again */
	t = raw(f->master);
	assert_int_equal(tdb_delete(t, kd("Zjunk", 5)), 0);
	assert_int_equal(tdb_store(t, kd("Lalice", 6), kd(a.t.id, TOKEN_ID_LEN),
	    TDB_INSERT), 0);
	tdb_close(t);
	assert_int_equal(store_open(f->dir, STORE_READ, &f->st), 0);
	assert_int_equal(store_check(f->st, NULL, NULL), 0);
	close_st(f);
	/* file modes: each file reported; a token file others could read is
	 * not read at all */
	assert_int_equal(chmod(f->ident, 0600), 0);
	assert_int_equal(chmod(f->tdelta, 0640), 0);
	assert_int_equal(chmod(f->usage, 0644), 0);
	assert_int_equal(store_open(f->dir, STORE_READ, &f->st), 0);
	memset(&rep, 0, sizeof(rep));
	assert_int_equal(store_check(f->st, collect, &rep), APPUSER_ERR_CORRUPT);
	assert_non_null(strstr(rep.all, "identity.snap: mode 0600, should be "
	    "0644"));
	assert_non_null(strstr(rep.all, "tokens.delta: mode 0640, should be "
	    "0600"));
	assert_non_null(strstr(rep.all, "token snapshot: cannot be read"));
	assert_non_null(strstr(rep.all, "usage: mode 0644, should be 0600"));
	assert_int_equal(rep.n, 4);
	close_st(f);
	assert_int_equal(chmod(f->ident, 0644), 0);
	assert_int_equal(chmod(f->tdelta, 0600), 0);
	assert_int_equal(chmod(f->usage, 0600), 0);
	check_planted(f, &a);
}

/* The record version one past what this build writes for key's type. */
static uint8_t
newer(const void *key)
{
	return *(const uint8_t *)key == 'T' ? RECORD_VERSION_TOKEN + 1 :
	    RECORD_VERSION + 1;
}

/* Bump the record version of key in the master. */
static void
bump_version(const char *path, const void *key, size_t klen)
{
	struct tdb_context *t = raw(path);
	TDB_DATA d;

	d = tdb_fetch(t, kd(key, klen));
	assert_non_null(d.dptr);
	assert_true(d.dsize >= 2);
	d.dptr[1] = newer(key);
	assert_int_equal(tdb_store(t, kd(key, klen), d, TDB_REPLACE), 0);
	free(d.dptr);
	tdb_close(t);
}

/*
 * The same in a published snapshot file, in place: every record filed
 * under key (u32 key length, u32 value length, key, value).  Returns how
 * many it changed.
 */
static int
bump_snap_version(const char *path, const void *key, size_t klen)
{
	uint8_t *buf, want[4] = { (uint8_t)klen, (uint8_t)(klen >> 8),
	    (uint8_t)(klen >> 16), (uint8_t)(klen >> 24) };
	size_t n, off;
	int fd, hits = 0;

	n = slurp(path, (char **)&buf);
	for (off = SNAPFILE_HEADER; off + 8 + klen + 2 <= n; off++) {
		uint8_t *p = buf + off;

		if (memcmp(p, want, 4) != 0 || memcmp(p + 8, key, klen) != 0 ||
		    p[8 + klen] != *(const uint8_t *)key)
			continue;
		p[8 + klen + 1] = newer(key);
		hits++;
	}
	fd = open(path, O_WRONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, buf, n, 0), (ssize_t)n);
	close(fd);
	free(buf);
	return hits;
}

static int
nop_user(const struct user *u, void *arg)
{
	(void)u;
	(void)arg;
	return 0;
}

/*
 * A record written by a newer appuser is reported as VERSION ("upgrade"),
 * not CORRUPT, by every reader: lookups, walks, the public snapshot.
 */
static void
test_newer_records(void **state)
{
	struct fx *f = *state;
	char key[1 + TOKEN_ID_LEN];
	struct idview *v = NULL;
	struct token *tp = NULL;
	struct user *u = NULL;
	struct tok a;
	uint32_t uid;
	int n = 0;

	open_w(f);
	uid = add(f->st, "alice");
	mint(f->st, &a, "alice", uid);
	close_st(f);
	bump_version(f->master, "Ualice", 6);
	key[0] = 'T';
	memcpy(key + 1, a.t.id, TOKEN_ID_LEN);
	bump_version(f->master, key, sizeof(key));
	assert_int_equal(bump_snap_version(f->ident, "Ualice", 6) +
	    bump_snap_version(f->idelta, "Ualice", 6), 1);
	assert_int_equal(bump_snap_version(f->toks, key, sizeof(key)) +
	    bump_snap_version(f->tdelta, key, sizeof(key)), 1);

	assert_int_equal(store_open(f->dir, STORE_READ, &f->st), 0);
	assert_int_equal(store_user_get(f->st, "alice", &u),
	    APPUSER_ERR_VERSION);
	assert_int_equal(store_user_foreach(f->st, count_user, &n),
	    APPUSER_ERR_VERSION);
	assert_int_equal(store_token_get(f->st, a.t.id, &tp),
	    APPUSER_ERR_VERSION);
	assert_int_equal(store_token_foreach(f->st, NULL, count_token, &n),
	    APPUSER_ERR_VERSION);
	close_st(f);
	assert_int_equal(idview_open(f->dir, &v), 0);
	assert_int_equal(idview_user_by_name(v, "alice", nop_user, NULL),
	    APPUSER_ERR_VERSION);
	idview_close(v);
	/* a login with it: the store cannot be used, not "unknown token" */
	assert_int_equal(store_open(f->dir, STORE_AUTH, &f->st), 0);
	assert_int_equal(verify(f->st, "alice", a.str, "sshd", NULL,
	    time(NULL)), VERIFY_UNAVAILABLE);
	close_st(f);
	assert_non_null(strstr(appuser_strerror(APPUSER_ERR_VERSION),
	    "upgrade appuser"));
}

static void
test_snapshot_deleted(void **state)
{
	struct fx *f = *state;
	struct store *st = NULL;
	struct tok k, k2;
	uint32_t uid = 0;

	open_w(f);
	mint(f->st, &k, "alice", add(f->st, "alice"));
	close_st(f);
	assert_int_equal(unlink(f->ident), 0);
	assert_int_equal(snap_uid(f, "alice", &uid), APPUSER_ERR_NOSTORE);
	assert_int_equal(store_open(f->dir, STORE_AUTH, &st), APPUSER_ERR_NOSTORE);
	open_w(f);
	assert_int_equal(mode_of(f->ident), 0644);
	assert_int_equal(snap_uid(f, "alice", &uid), 0);
	assert_int_equal(uid, UMIN + 1);
	/* the delta deleted: readers see the (older) base alone, a check
	 * calls it lagging, the next writer republishes */
	add(f->st, "bob");
	close_st(f);
	assert_int_equal(unlink(f->idelta), 0);
	assert_int_equal(snap_uid(f, "bob", &uid), APPUSER_ERR_NOT_FOUND);
	assert_int_equal(snap_uid(f, "alice", &uid), 0);
	check_says(f, "identity snapshot: generation 1, the master is at 2",
	    NULL);
	open_w(f);
	assert_int_equal(snap_uid(f, "bob", &uid), 0);
	close_st(f);
	/* the token pair: PAM has nothing to verify against until a writer
	 * republishes it */
	assert_int_equal(unlink(f->toks), 0);
	assert_int_equal(store_open(f->dir, STORE_AUTH, &st), APPUSER_ERR_NOSTORE);
	open_w(f);
	assert_int_equal(mode_of(f->toks), 0600);
	reopen(f, STORE_AUTH);
	assert_int_equal(verify(f->st, "alice", k.str, "sshd", NULL, time(NULL)),
	    VERIFY_OK);
	/* deleted while a writer is open: the next commit rebuilds them */
	reopen(f, STORE_WRITE);
	assert_int_equal(unlink(f->ident), 0);
	assert_int_equal(unlink(f->tdelta), 0);
	mint(f->st, &k2, "carol", add(f->st, "carol"));
	assert_int_equal(snap_uid(f, "alice", &uid), 0);
	assert_int_equal(snap_uid(f, "carol", &uid), 0);
	assert_int_equal(store_check(f->st, NULL, NULL), 0);
	reopen(f, STORE_AUTH);
	assert_int_equal(verify(f->st, "alice", k.str, "sshd", NULL, time(NULL)),
	    VERIFY_OK);
	assert_int_equal(verify(f->st, "carol", k2.str, "sshd", NULL,
	    time(NULL)), VERIFY_OK);
}

/* Copy a published pair (identity or tokens) aside, and back. */
static void
pair_copy(struct fx *f, bool tokens, bool back)
{
	char b[200], d[200];

	snprintf(b, sizeof(b), "%s/saved.%s", f->base, tokens ? "ts" : "is");
	snprintf(d, sizeof(d), "%s/saved.%s", f->base, tokens ? "td" : "id");
	if (back) {
		copy_file(b, tokens ? f->toks : f->ident);
		copy_file(d, tokens ? f->tdelta : f->idelta);
	} else {
		copy_file(tokens ? f->toks : f->ident, b);
		copy_file(tokens ? f->tdelta : f->idelta, d);
	}
}

/*
 * What a writer killed between its master commit and its renames leaves
 * (a published pair one generation behind), made by putting an old pair
 * back: readers see the old state, a reader's check reports the lag, the
 * next writer (or a writer's check, or commit) republishes.
 */
static void
test_roll_forward(void **state)
{
	struct fx *f = *state;
	char old[200];
	struct reports rep;
	struct tok k;
	uint32_t uid = 0;

	open_w(f);
	add(f->st, "alice");
	pair_copy(f, false, false);
	add(f->st, "bob");
	close_st(f);
	pair_copy(f, false, true);
	assert_int_equal(snap_uid(f, "bob", &uid), APPUSER_ERR_NOT_FOUND);
	/* a reader's check sees the lag, does not repair it */
	check_says(f, "identity snapshot: generation 1, the master is at 2",
	    NULL);
	assert_int_equal(snap_uid(f, "bob", &uid), APPUSER_ERR_NOT_FOUND);
	/* the next writer republishes */
	open_w(f);
	assert_int_equal(snap_uid(f, "bob", &uid), 0);
	assert_int_equal(uid, UMIN + 2);
	assert_int_equal(snap_gen(f), 2);
	/* lag planted under an open writer: check repairs and says so */
	pair_copy(f, false, false);
	add(f->st, "carol");
	pair_copy(f, false, true);
	memset(&rep, 0, sizeof(rep));
	assert_int_equal(store_check(f->st, collect, &rep), 0);
	assert_int_equal(rep.n, 1);
	assert_non_null(strstr(rep.all, "repaired:"));
	assert_int_equal(snap_uid(f, "carol", &uid), 0);
	/* a lagging pair also makes the next commit rebuild */
	pair_copy(f, false, false);
	add(f->st, "dave");
	pair_copy(f, false, true);
	add(f->st, "erin");
	assert_int_equal(snap_uid(f, "dave", &uid), 0);
	assert_int_equal(snap_uid(f, "erin", &uid), 0);
	assert_int_equal(store_check(f->st, NULL, NULL), 0);
	/* a revocation whose publication was lost: the token pair still
	 * has the token live until the next writer rolls it forward */
	mint(f->st, &k, "alice", UMIN + 1);
	pair_copy(f, true, false);
	assert_int_equal(store_token_revoke(f->st, "alice", k.t.id), 0);
	close_st(f);
	pair_copy(f, true, true);
	assert_int_equal(store_open(f->dir, STORE_AUTH, &f->st), 0);
	assert_int_equal(verify(f->st, "alice", k.str, "sshd", NULL,
	    time(NULL)), VERIFY_OK);
	close_st(f);
	check_says(f, "token snapshot: generation 1, the master is at 2",
	    NULL);
	open_w(f);
	reopen(f, STORE_AUTH);
	assert_int_equal(verify(f->st, "alice", k.str, "sshd", NULL,
	    time(NULL)), VERIFY_REVOKED);
	/* stale temporary files of dead writers are removed */
	close_st(f);
	snprintf(old, sizeof(old), "%s/tmp.identity.snap.99999", f->dir);
	copy_file(f->ident, old);
	open_w(f);
	assert_int_equal(access(old, F_OK), -1);
}

static uint64_t
gen_word(struct fx *f, int i)
{
	uint64_t w[GEN_WORDS];
	int fd;

	fd = open(f->gen, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, w, sizeof(w), 0), sizeof(w));
	close(fd);
	return w[i];
}

/* Check a reader's way (no repair), expecting one problem that says what. */
static void
check_reports(struct fx *f, const char *what)
{
	struct reports rep;

	assert_int_equal(store_open(f->dir, STORE_READ, &f->st), 0);
	memset(&rep, 0, sizeof(rep));
	assert_int_equal(store_check(f->st, collect, &rep), APPUSER_ERR_CORRUPT);
	if (strstr(rep.all, what) == NULL)
		fail_msg("expected \"%s\" in: %s", what, rep.all);
	assert_int_equal(rep.n, 1);
	close_st(f);
}

/*
 * identity.gen: each publication bumps its counter and records the
 * generation; check reports a missing, wrong-mode, wrong-size or
 * lagging one; a writer's open fixes them all (nothing readers map is
 * ever truncated: a wrong-size file is replaced, a wrong mode chmod'ed).
 */
static void
test_gen_file(void **state)
{
	struct fx *f = *state;
	uint64_t c;
	ino_t ino;
	int fd;

	open_w(f);
	c = gen_word(f, GEN_W_COUNTER);
	assert_int_equal(gen_word(f, GEN_W_PUBLISHED), 0);
	add(f->st, "alice");
	assert_int_equal(gen_word(f, GEN_W_COUNTER), c + 1);
	assert_int_equal(gen_word(f, GEN_W_PUBLISHED), 1);
	/* a commit that changes no identity publishes nothing */
	assert_int_equal(store_begin(f->st), 0);
	assert_int_equal(store_commit(f->st), 0);
	assert_int_equal(gen_word(f, GEN_W_COUNTER), c + 1);
	close_st(f);
	ino = fx_stat(f->gen, true).st_ino;

	assert_int_equal(chmod(f->gen, 0600), 0);
	check_reports(f, "identity.gen: mode 0600, should be 0644");
	open_w(f);
	close_st(f);
	assert_int_equal(mode_of(f->gen), 0644);
	/* fixed in place */
	assert_int_equal(fx_stat(f->gen, true).st_ino, ino);

	assert_int_equal(truncate(f->gen, 100), 0);
	check_reports(f, "identity.gen: size 100, should be 4096");
	open_w(f);
	close_st(f);
	assert_int_equal(fx_stat(f->gen, false).st_size, GEN_FILE_SIZE);
	assert_int_equal(gen_word(f, GEN_W_PUBLISHED), 1);

	fd = open(f->gen, O_WRONLY);
	assert_true(fd >= 0);
	c = 0;
	assert_int_equal(pwrite(fd, &c, sizeof(c), 8 * GEN_W_PUBLISHED),
	    sizeof(c));
	close(fd);
	check_reports(f, "identity.gen: records generation 0, the identity "
	    "snapshot is at 1");
	c = gen_word(f, GEN_W_COUNTER);
	open_w(f);
	close_st(f);
	assert_int_equal(gen_word(f, GEN_W_COUNTER), c + 1);
	assert_int_equal(gen_word(f, GEN_W_PUBLISHED), 1);

	assert_int_equal(unlink(f->gen), 0);
	check_reports(f, "identity.gen: missing");
	assert_int_equal(symlink(f->ident, f->gen), 0);
	check_reports(f, "identity.gen: not a regular file");
	open_w(f);
	assert_int_equal(store_check(f->st, NULL, NULL), 0);
	close_st(f);
	assert_int_equal(fx_stat(f->gen, false).st_size, GEN_FILE_SIZE);

	/* a directory in the way: writes still work, check says so */
	assert_int_equal(unlink(f->gen), 0);
	assert_int_equal(mkdir(f->gen, 0755), 0);
	open_w(f);
	add(f->st, "bob");
	close_st(f);
	check_reports(f, "identity.gen: not a regular file");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		fx_test(test_rebuild_and_delta),
		fx_test(test_check),
		fx_test(test_newer_records),
		fx_test(test_gen_file),
		fx_test(test_snapshot_deleted),
		fx_test(test_roll_forward),
	};

	if (crypto_init() != 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
