/*
 * Unit tests for store_check (libappuser/store_check.c): each kind of damage
 * to the master that a crash cannot leave but a bug, a hand edit or a
 * restored backup can (a record under the wrong key, an index naming the
 * wrong user, a token list out of step with the tokens, a meta whose counts
 * or admin list disagree with the records, files with the wrong owner or
 * mode), planted with raw tdb calls into a store of two users and one
 * token, and named by `check` in plain words.  The damage a crash leaves,
 * and the snapshots' disagreements with the master, are
 * tests/test_store_snap.c's (test_check).
 */
#include "store_test.h"

/*
 * The store each test starts from (check_setup, over store_test.h's
 * setup): alice, an admin, with one token, and bob.
 */
static uint32_t uid_a;		/* alice */
static uint32_t uid_b;		/* bob */
static struct tok tok_a;	/* alice's token */

static int
check_setup(void **state)
{
	struct fx *f;

	setup(state);
	f = *state;
	open_w(f);
	assert_int_equal(store_begin(f->st), 0);
	uid_a = add(f->st, "alice");
	uid_b = add(f->st, "bob");
	assert_int_equal(store_user_set_admin(f->st, "alice", true), 0);
	mint(f->st, &tok_a, "alice", uid_a);
	assert_int_equal(store_commit(f->st), 0);
	assert_int_equal(store_check(f->st, NULL, NULL), 0);
	close_st(f);
	return 0;
}

#define check_test(fn)	\
	cmocka_unit_test_setup_teardown(fn, check_setup, teardown)

/* Replace key's value in the closed store's master (val NULL: delete). */
static void
plant(struct fx *f, const void *key, size_t klen, const void *val,
    size_t vlen)
{
	struct tdb_context *t = tdb_open(f->master, 0, 0, O_RDWR, 0);

	assert_non_null(t);
	if (val == NULL)
		assert_int_equal(tdb_delete(t, kd(key, klen)), 0);
	else
		assert_int_equal(tdb_store(t, kd(key, klen), kd(val, vlen),
		    TDB_REPLACE), 0);
	assert_int_equal(tdb_close(t), 0);
}

static void
plant_user(struct fx *f, const char *key, const struct user *u)
{
	uint8_t *buf;
	size_t len;

	assert_int_equal(record_encode_user(u, &buf, &len), 0);
	plant(f, key, strlen(key), buf, len);
	free(buf);
}

static void
plant_token(struct fx *f, const char *id, const struct token *t)
{
	char key[1 + TOKEN_ID_LEN];
	uint8_t *buf;
	size_t len;

	key[0] = 'T';
	memcpy(key + 1, id, TOKEN_ID_LEN);
	assert_int_equal(record_encode_token(t, &buf, &len), 0);
	plant(f, key, sizeof(key), buf, len);
	free(buf);
}

/* check, on a reader's handle, reports every one of the phrases. */
static void
says_all(struct fx *f, const char *const *what)
{
	struct reports rep;

	assert_int_equal(store_open(f->dir, STORE_READ, &f->st), 0);
	memset(&rep, 0, sizeof(rep));
	assert_int_equal(store_check(f->st, collect, &rep), APPUSER_ERR_CORRUPT);
	for (; *what != NULL; what++)
		if (strstr(rep.all, *what) == NULL)
			fail_msg("expected \"%s\" in:\n%s", *what, rep.all);
	store_close(f->st);
	f->st = NULL;
}
#define says(f, ...) \
	says_all((f), (const char *const []){ __VA_ARGS__, NULL })

static struct user
user_like(const char *name, uint32_t uid, bool admin)
{
	struct user u = { .name = name, .uid = uid, .gid = uid,
	    .description = "", .home = "/nonexistent", .shell = "/bin/sh",
	    .admin = admin };

	return u;
}

static void
test_user_records(void **state)
{
	struct fx *f = *state;
	struct user u;

	/* a key no user can have, shown with its odd byte escaped */
	u = user_like("carol", uid_b + 10, false);
	plant_user(f, "Ucar\001ol", &u);
	plant(f, "U\\x", 3, "junk", 4);
	says(f, "master: invalid user key Ucar\\x01ol",
	    "master: invalid user key U\\x5cx");
	plant(f, "Ucar\001ol", 7, NULL, 0);
	plant(f, "U\\x", 3, NULL, 0);
	/* bob's record: garbage, then another name, then other ids */
	plant(f, "Ubob", 4, "garbage", 7);
	says(f, "user bob: record does not decode");
	u = user_like("robert", uid_b, false);
	plant_user(f, "Ubob", &u);
	says(f, "user bob: record names robert");
	u = user_like("bob", uid_b, false);
	u.gid = uid_b + 1;
	plant_user(f, "Ubob", &u);
	says(f, "user bob: uid", "must be equal and not 0");
	u = user_like("bob", 500, false);
	plant_user(f, "Ubob", &u);
	says(f, "user bob: uid 500 outside the range");
	/* the admin flag without the admin list */
	u = user_like("bob", uid_b, true);
	plant_user(f, "Ubob", &u);
	says(f, "user bob: admin flag disagrees with the admin list");
}

static void
test_uid_index(void **state)
{
	struct fx *f = *state;
	uint8_t key[5];

	/* alice's uid names bob: both users' entries are wrong */
	fx_uid_key(key, uid_a);
	plant(f, key, 5, "bob", 3);
	says(f, "names another user", "indexed user bob has uid");
	plant(f, key, 5, "alice", 5);
	/* keys and entries that cannot be */
	plant(f, "I\0\0\0", 4, "alice", 5);
	fx_uid_key(key, 0);
	plant(f, key, 5, "alice", 5);
	says(f, "master: invalid uid key I\\x00\\x00\\x00",
	    "master: invalid uid key I\\x00\\x00\\x00\\x00");
	plant(f, "I\0\0\0", 4, NULL, 0);
	plant(f, key, 5, NULL, 0);
	fx_uid_key(key, uid_b + 5);
	plant(f, key, 5, "a\0b", 3);
	says(f, "index entry is not a name");
	plant(f, key, 5, "ghost", 5);
	says(f, "indexed user ghost does not exist",
	    "3 uid index entries for 2 users");
	/* an entry naming a user whose record does not decode */
	plant(f, key, 5, NULL, 0);
	plant(f, "Ubob", 4, "garbage", 7);
	says(f, "indexed user bob does not exist");
}

static void
test_tokens(void **state)
{
	struct fx *f = *state;
	char tkey[1 + TOKEN_ID_LEN], other[TOKEN_ID_LEN + 1], list[64];
	struct token t = tok_a.t;

	tkey[0] = 'T';
	memcpy(tkey + 1, tok_a.t.id, TOKEN_ID_LEN);
	memset(other, 'Z', TOKEN_ID_LEN);
	other[TOKEN_ID_LEN] = '\0';
	plant(f, tkey, sizeof(tkey), "garbage", 7);
	says(f, "record does not decode");
	/* the same record under another id's key */
	plant_token(f, tok_a.t.id, &tok_a.t);
	plant_token(f, other, &tok_a.t);
	says(f, "token TZZZZZZZZZZZZ: record carries id");
	plant(f, "TZZZZZZZZZZZZ", 13, NULL, 0);
	/* a token of nobody, and one of another uid */
	t.user = "ghost";
	plant_token(f, tok_a.t.id, &t);
	says(f, "its user ghost does not exist");
	t.user = "alice";
	t.uid = uid_b;
	plant_token(f, tok_a.t.id, &t);
	says(f, "made for uid");
	plant_token(f, tok_a.t.id, &tok_a.t);
	/* token lists: twice, a missing token, another user's, no user, a
	 * stray length, an invalid key */
	snprintf(list, sizeof(list), "%s%s", tok_a.t.id, tok_a.t.id);
	plant(f, "Lalice", 6, list, 2 * TOKEN_ID_LEN);
	says(f, "listed twice");
	snprintf(list, sizeof(list), "%s%s", tok_a.t.id, other);
	plant(f, "Lalice", 6, list, 2 * TOKEN_ID_LEN);
	says(f, "user alice: listed token ZZZZZZZZZZZZ does not exist");
	plant(f, "Lalice", 6, tok_a.t.id, TOKEN_ID_LEN);
	plant(f, "Lbob", 4, tok_a.t.id, TOKEN_ID_LEN);
	says(f, "user bob: listed token", "belongs to alice");
	plant(f, "Lbob", 4, NULL, 0);
	plant(f, "Lghost", 6, "", 0);
	plant(f, "Lalice", 6, list, TOKEN_ID_LEN + 3);
	plant(f, "La\0b", 4, "", 0);
	says(f, "token list of ghost: no such user",
	    "token list of alice: length 15 is not a multiple of 12",
	    "master: invalid token list key La\\x00b");
}

/* A meta that disagrees with the records (meta_check lets all of these
 * through: the store opens, check says what is wrong). */
static void
test_meta(void **state)
{
	struct fx *f = *state;
	struct store *st = NULL;
	struct meta m;
	const char *admins[3] = { "alice", "alice", "ghost" };
	uint8_t *buf;
	size_t len;

	assert_int_equal(store_open(f->dir, STORE_READ, &st), 0);
	assert_int_equal(store_get_meta(st, &m), 0);
	m.n_users = 5;
	m.admin_group = "Bad Group";
	m.n_admins = 3;
	m.admins = admins;
	assert_int_equal(record_encode_meta(&m, &buf, &len), 0);
	store_close(st);
	plant(f, "!meta", 5, buf, len);
	free(buf);
	says(f, "meta: counts 5 users, the master holds 2",
	    "meta: admin group Bad Group", "meta: admin alice listed twice",
	    "meta: admin ghost is not a user");
}

static void
test_meta_admin_flag(void **state)
{
	struct fx *f = *state;
	struct user u = user_like("alice", uid_a, false);

	plant_user(f, "Ualice", &u);
	says(f, "meta: admin alice lacks the admin flag",
	    "user alice: admin flag disagrees");
}

/* The token generation in the master cannot be read: the snapshots are
 * not compared with it. */
static void
test_tgen_unreadable(void **state)
{
	struct fx *f = *state;

	plant(f, "!tgen", 5, "x", 1);
	says(f, "master: token generation unreadable");
}

/* A published record that cannot be read: the identity base's first record
 * claims a key longer than any. */
static void
test_snapshot_unreadable(void **state)
{
	struct fx *f = *state;
	char snap[256];
	int fd;

	tmpdir_path(snap, sizeof(snap), f->dir, APPUSER_IDENTITY_FILE);
	fd = open(snap, O_WRONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "\xff\xff\xff\x7f", 4, SNAPFILE_HEADER),
	    4);
	close(fd);
	says(f, "identity snapshot: cannot be read: ");
}

/* A writer that must republish the identity pair from a master whose user
 * record does not decode refuses, and leaves the published pair alone. */
static void
test_republish_damaged(void **state)
{
	struct fx *f = *state;
	char snap[256];
	struct stat before, after;

	tmpdir_path(snap, sizeof(snap), f->dir, APPUSER_IDENTITY_DELTA);
	assert_int_equal(unlink(snap), 0);	/* stale: a full build is due */
	tmpdir_path(snap, sizeof(snap), f->dir, APPUSER_IDENTITY_FILE);
	assert_int_equal(stat(snap, &before), 0);
	plant(f, "Ubob", 4, "garbage", 7);
	assert_int_equal(store_open(f->dir, STORE_WRITE, &f->st),
	    APPUSER_ERR_CORRUPT);
	assert_null(f->st);
	assert_int_equal(stat(snap, &after), 0);
	assert_int_equal(before.st_ino, after.st_ino);
}

/* What the handle cannot check, and the store directory and files as
 * seen from an open handle. */
static void
test_handles_and_files(void **state)
{
	struct fx *f = *state;
	struct store *st = NULL;
	struct reports rep;

	assert_int_equal(store_check(NULL, NULL, NULL), APPUSER_ERR_INVALID);
	assert_int_equal(store_open(f->dir, STORE_AUTH, &st), 0);
	assert_int_equal(store_check(st, NULL, NULL), APPUSER_ERR_PERMISSION);
	store_close(st);
	st = NULL;
	assert_int_equal(store_open(f->dir, STORE_WRITE, &st), 0);
	assert_int_equal(store_begin(st), 0);
	assert_int_equal(store_check(st, NULL, NULL), APPUSER_ERR_INVALID);
	store_cancel(st);
	/* the directory opened to others after the handle was */
	assert_int_equal(chmod(f->dir, 0775), 0);
	memset(&rep, 0, sizeof(rep));
	assert_int_equal(store_check(st, collect, &rep), APPUSER_ERR_CORRUPT);
	assert_non_null(strstr(rep.all, "store directory: writable by group "
	    "or other (mode 0775)"));
	assert_int_equal(chmod(f->dir, 0755), 0);
	store_close(st);
}

/* Files of another owner (only root can give them one). */
static void
test_file_owner(void **state)
{
	struct fx *f = *state;
	char usage[256];

	if (geteuid() != 0) {
		print_message("# SKIP files of another owner: needs root "
		    "(chown)\n");
		skip();
		return;
	}
	tmpdir_path(usage, sizeof(usage), f->dir, APPUSER_USAGE_FILE);
	assert_int_equal(chown(usage, 65534, 65534), 0);
	says(f, "usage: owned by uid 65534, not by the directory's "
	    "owner");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		check_test(test_user_records),
		check_test(test_uid_index),
		check_test(test_tokens),
		check_test(test_meta),
		check_test(test_meta_admin_flag),
		check_test(test_tgen_unreadable),
		check_test(test_snapshot_unreadable),
		check_test(test_republish_damaged),
		check_test(test_handles_and_files),
		check_test(test_file_owner),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
