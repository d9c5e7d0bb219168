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
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <tdb.h>

#include "appuser.h"
#include "record.h"
#include "store.h"
#include "token.h"

#include "tmpdir_fixture.h"

struct fx {
	struct tmpdir	 td;
	char		 master[192];
	uint32_t	 uid_a;		/* alice, an admin */
	uint32_t	 uid_b;		/* bob */
	struct token	 t;		/* alice's token */
	struct store	*st;
};

static uint32_t
add(struct store *st, const char *name)
{
	struct user in = { .name = name }, *c = NULL;
	uint32_t uid;

	assert_int_equal(store_user_add(st, &in, &c), 0);
	uid = c->uid;
	user_free(c);
	return uid;
}

static int
setup(void **state)
{
	char tok[TOKEN_LEN + 1];
	struct store *st = NULL;
	struct fx *f = tmpdir_new(sizeof(*f), "/tmp/appuser-check-XXXXXX",
	    false);

	tmpdir_path(f->master, sizeof(f->master), f->td.dir,
	    APPUSER_MASTER_FILE);
	assert_int_equal(store_open(f->td.dir, STORE_WRITE, &st), 0);
	assert_int_equal(store_begin(st), 0);
	f->uid_a = add(st, "alice");
	f->uid_b = add(st, "bob");
	assert_int_equal(store_user_set_admin(st, "alice", true), 0);
	assert_int_equal(token_generate(tok, f->t.id, f->t.verifier), 0);
	f->t.user = "alice";
	f->t.uid = f->uid_a;
	f->t.description = "ci";
	f->t.create_time = time(NULL);
	assert_int_equal(store_token_add(st, &f->t), 0);
	assert_int_equal(store_commit(st), 0);
	assert_int_equal(store_check(st, NULL, NULL), 0);
	store_close(st);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	store_close(f->st);
	tmpdir_free(&f->td);
	return 0;
}

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

	assert_int_equal(store_open(f->td.dir, STORE_READ, &f->st), 0);
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
	u = user_like("carol", f->uid_b + 10, false);
	plant_user(f, "Ucar\001ol", &u);
	plant(f, "U\\x", 3, "junk", 4);
	says(f, "master: invalid user key Ucar\\x01ol",
	    "master: invalid user key U\\x5cx");
	plant(f, "Ucar\001ol", 7, NULL, 0);
	plant(f, "U\\x", 3, NULL, 0);
	/* bob's record: garbage, then another name, then other ids */
	plant(f, "Ubob", 4, "garbage", 7);
	says(f, "user bob: record does not decode");
	u = user_like("robert", f->uid_b, false);
	plant_user(f, "Ubob", &u);
	says(f, "user bob: record names robert");
	u = user_like("bob", f->uid_b, false);
	u.gid = f->uid_b + 1;
	plant_user(f, "Ubob", &u);
	says(f, "user bob: uid", "must be equal and not 0");
	u = user_like("bob", 500, false);
	plant_user(f, "Ubob", &u);
	says(f, "user bob: uid 500 outside the range");
	/* the admin flag without the admin list */
	u = user_like("bob", f->uid_b, true);
	plant_user(f, "Ubob", &u);
	says(f, "user bob: admin flag disagrees with the admin list");
}

static void
test_uid_index(void **state)
{
	struct fx *f = *state;
	uint8_t key[5];

	/* alice's uid names bob: both users' entries are wrong */
	fx_uid_key(key, f->uid_a);
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
	fx_uid_key(key, f->uid_b + 5);
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
	struct token t = f->t;

	tkey[0] = 'T';
	memcpy(tkey + 1, f->t.id, TOKEN_ID_LEN);
	memset(other, 'Z', TOKEN_ID_LEN);
	other[TOKEN_ID_LEN] = '\0';
	plant(f, tkey, sizeof(tkey), "garbage", 7);
	says(f, "record does not decode");
	/* the same record under another id's key */
	plant_token(f, f->t.id, &f->t);
	plant_token(f, other, &f->t);
	says(f, "token TZZZZZZZZZZZZ: record carries id");
	plant(f, "TZZZZZZZZZZZZ", 13, NULL, 0);
	/* a token of nobody, and one of another uid */
	t.user = "ghost";
	plant_token(f, f->t.id, &t);
	says(f, "its user ghost does not exist");
	t.user = "alice";
	t.uid = f->uid_b;
	plant_token(f, f->t.id, &t);
	says(f, "made for uid");
	plant_token(f, f->t.id, &f->t);
	/* token lists: twice, a missing token, another user's, no user, a
	 * stray length, an invalid key */
	snprintf(list, sizeof(list), "%s%s", f->t.id, f->t.id);
	plant(f, "Lalice", 6, list, 2 * TOKEN_ID_LEN);
	says(f, "listed twice");
	snprintf(list, sizeof(list), "%s%s", f->t.id, other);
	plant(f, "Lalice", 6, list, 2 * TOKEN_ID_LEN);
	says(f, "user alice: listed token ZZZZZZZZZZZZ does not exist");
	plant(f, "Lalice", 6, f->t.id, TOKEN_ID_LEN);
	plant(f, "Lbob", 4, f->t.id, TOKEN_ID_LEN);
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

	assert_int_equal(store_open(f->td.dir, STORE_READ, &st), 0);
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
	struct user u = user_like("alice", f->uid_a, false);

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

	tmpdir_path(snap, sizeof(snap), f->td.dir, APPUSER_IDENTITY_FILE);
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

	tmpdir_path(snap, sizeof(snap), f->td.dir, APPUSER_IDENTITY_DELTA);
	assert_int_equal(unlink(snap), 0);	/* stale: a full build is due */
	tmpdir_path(snap, sizeof(snap), f->td.dir, APPUSER_IDENTITY_FILE);
	assert_int_equal(stat(snap, &before), 0);
	plant(f, "Ubob", 4, "garbage", 7);
	assert_int_equal(store_open(f->td.dir, STORE_WRITE, &f->st),
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
	assert_int_equal(store_open(f->td.dir, STORE_AUTH, &st), 0);
	assert_int_equal(store_check(st, NULL, NULL), APPUSER_ERR_PERMISSION);
	store_close(st);
	st = NULL;
	assert_int_equal(store_open(f->td.dir, STORE_WRITE, &st), 0);
	assert_int_equal(store_begin(st), 0);
	assert_int_equal(store_check(st, NULL, NULL), APPUSER_ERR_INVALID);
	store_cancel(st);
	/* the directory opened to others after the handle was */
	assert_int_equal(chmod(f->td.dir, 0775), 0);
	memset(&rep, 0, sizeof(rep));
	assert_int_equal(store_check(st, collect, &rep), APPUSER_ERR_CORRUPT);
	assert_non_null(strstr(rep.all, "store directory: writable by group "
	    "or other (mode 0775)"));
	assert_int_equal(chmod(f->td.dir, 0755), 0);
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
	tmpdir_path(usage, sizeof(usage), f->td.dir, APPUSER_USAGE_FILE);
	assert_int_equal(chown(usage, 65534, 65534), 0);
	says(f, "usage: owned by uid 65534, not by the directory's "
	    "owner");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		fx_test(test_user_records),
		fx_test(test_uid_index),
		fx_test(test_tokens),
		fx_test(test_meta),
		fx_test(test_meta_admin_flag),
		fx_test(test_tgen_unreadable),
		fx_test(test_snapshot_unreadable),
		fx_test(test_republish_damaged),
		fx_test(test_handles_and_files),
		fx_test(test_file_owner),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
