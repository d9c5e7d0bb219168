/*
 * Unit tests of the store (store.h): creation, users, ids, tokens,
 * verification, bookkeeping, transactions, check, roll-forward.  Each test
 * runs in a fresh mkdtemp directory, removed afterwards.
 */
#include <sys/stat.h>
#include <sys/wait.h>
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>
#include <tdb.h>

#include "appuser.h"
#include "idview_int.h"
#include "names.h"
#include "record.h"
#include "store.h"
#include "token.h"

#include "store_fixture.h"

#define UMIN	APPUSER_DEFAULT_UID_MIN

struct fx {
	char		 base[64];
	char		 dir[128];
	char		 master[160];
	char		 ident[160];
	char		 gen[160];
	struct store	*st;
};

/* ---- helpers ---------------------------------------------------------- */

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(fx_make_base(f->base, sizeof(f->base),
	    "/tmp/appuser-store-XXXXXX", f->dir, sizeof(f->dir)), 0);
	snprintf(f->master, sizeof(f->master), "%s/store.tdb", f->dir);
	snprintf(f->ident, sizeof(f->ident), "%s/identity.tdb", f->dir);
	snprintf(f->gen, sizeof(f->gen), "%s/%s", f->dir, APPUSER_GEN_FILE);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	store_close(f->st);
	fx_remove_tree(f->base);
	free(f);
	return 0;
}

static struct store *
open_w(struct fx *f)
{
	assert_int_equal(store_open(f->dir, STORE_WRITE, &f->st), 0);
	return f->st;
}

static void
reopen(struct fx *f, int flags)
{
	store_close(f->st);
	f->st = NULL;
	assert_int_equal(store_open(f->dir, flags, &f->st), 0);
}

static void
close_st(struct fx *f)
{
	store_close(f->st);
	f->st = NULL;
}

static uint32_t
add(struct store *st, const char *name)
{
	struct user in = { .name = name }, *c = NULL;
	uint32_t uid;

	assert_int_equal(store_user_add(st, &in, &c), 0);
	assert_non_null(c);
	uid = c->uid;
	user_free(c);
	return uid;
}

static uint64_t
gen(struct store *st)
{
	struct meta m;

	assert_int_equal(store_get_meta(st, &m), 0);
	return m.generation;
}

static uint64_t
n_users(struct store *st)
{
	struct meta m;

	assert_int_equal(store_get_meta(st, &m), 0);
	return m.n_users;
}

static mode_t
mode_of(const char *path)
{
	struct stat sb;

	assert_int_equal(stat(path, &sb), 0);
	return sb.st_mode & 07777;
}

static off_t
size_of(const char *path)
{
	struct stat sb;

	assert_int_equal(lstat(path, &sb), 0);
	return sb.st_size;
}

static ino_t
ino_of(const char *path)
{
	struct stat sb;

	assert_int_equal(stat(path, &sb), 0);
	return sb.st_ino;
}

/* An idview lookup's result: does the snapshot have name, with what uid? */
static int
snap_uid(struct fx *f, const char *name, uint32_t *uidp)
{
	struct idview *v = NULL;
	int r;

	if ((r = idview_open(f->dir, &v)) != 0)
		return r;
	r = idview_user_by_name(v, name, copy_uid, uidp);
	idview_close(v);
	return r;
}

static uint64_t
snap_gen(struct fx *f)
{
	struct idview *v = NULL;
	uint64_t g;

	assert_int_equal(idview_open(f->dir, &v), 0);
	g = idview_meta(v)->generation;
	idview_close(v);
	return g;
}

/* A token record for user (uid), from a freshly generated token. */
struct tok {
	char		 str[TOKEN_LEN + 1];
	struct token	 t;
};

static void
mint(struct store *st, struct tok *k, const char *user, uint32_t uid)
{
	memset(k, 0, sizeof(*k));
	assert_int_equal(token_generate(k->str, k->t.id, k->t.verifier), 0);
	k->t.user = user;
	k->t.uid = uid;
	k->t.description = "ci";
	k->t.create_time = time(NULL);
	if (st != NULL)
		assert_int_equal(store_token_add(st, &k->t), 0);
}

static const char b62[] =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/* Give tok a correct checksum after editing its first 46 chars. */
static void
fix_crc(char *tok)
{
	uint32_t crc = crc32_ieee(tok, TOKEN_PREFIX_LEN + TOKEN_SECRET_LEN);
	int i;

	for (i = TOKEN_CRC_LEN - 1; i >= 0; i--) {
		tok[TOKEN_PREFIX_LEN + TOKEN_SECRET_LEN + i] = b62[crc % 62];
		crc /= 62;
	}
}

static int
verify(struct store *st, const char *user, const char *tok,
    const char *service, const char *rhost, int64_t now)
{
	return store_verify(st, user, tok, strlen(tok), service, rhost, now,
	    NULL);
}

/* Raw tdb access to a closed store file, for planting faults. */
static struct tdb_context *
raw(const char *path)
{
	struct tdb_context *t;

	t = tdb_open(path, 0, 0, O_RDWR, 0);
	assert_non_null(t);
	return t;
}

static void
copy_file(const char *from, const char *to)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "cp -p '%s' '%s'", from, to);
	assert_int_equal(system(cmd), 0);
}

/* ---- creation, safety ------------------------------------------------- */

static void
test_create(void **state)
{
	struct fx *f = *state;
	char lock[200];
	struct meta m;

	open_w(f);
	snprintf(lock, sizeof(lock), "%s/lock", f->dir);
	assert_int_equal(mode_of(f->dir), 0755);
	assert_int_equal(mode_of(f->master), 0600);
	assert_int_equal(mode_of(f->ident), 0644);
	assert_int_equal(mode_of(lock), 0600);
	assert_int_equal(mode_of(f->gen), 0644);
	assert_int_equal(size_of(f->gen), GEN_FILE_SIZE);
	assert_int_equal(store_get_meta(f->st, &m), 0);
	assert_int_equal(m.format, STORE_FORMAT_VERSION);
	assert_int_equal(m.generation, 0);
	assert_int_equal(m.uid_min, APPUSER_DEFAULT_UID_MIN);
	assert_int_equal(m.uid_max, APPUSER_DEFAULT_UID_MAX);
	assert_int_equal(m.admin_gid, UMIN);
	assert_int_equal(m.next_uid, UMIN + 1);
	assert_string_equal(m.admin_group, APPUSER_DEFAULT_ADMIN_GROUP);
	assert_int_equal(m.n_users, 0);
	assert_int_equal(m.n_admins, 0);
	assert_string_equal(store_dir(f->st), f->dir);
	assert_int_equal(snap_gen(f), 0);
	/* reopening keeps everything */
	reopen(f, STORE_WRITE);
	assert_int_equal(gen(f->st), 0);
	assert_int_equal(store_check(f->st, NULL, NULL), 0);
}

static void
test_create_umask(void **state)
{
	struct fx *f = *state;
	mode_t old = umask(0277);

	assert_int_equal(store_open(f->dir, STORE_WRITE, &f->st), 0);
	umask(old);
	assert_int_equal(mode_of(f->dir), 0755);
	assert_int_equal(mode_of(f->master), 0600);
	assert_int_equal(mode_of(f->ident), 0644);
	assert_int_equal(mode_of(f->gen), 0644);
}

static void
test_unsafe(void **state)
{
	struct fx *f = *state;
	struct store *st = NULL;

	open_w(f);
	close_st(f);
	assert_int_equal(chmod(f->dir, 0777), 0);
	assert_int_equal(store_open(f->dir, STORE_WRITE, &st), APPUSER_ERR_UNSAFE);
	assert_int_equal(store_open(f->dir, STORE_READ, &st), APPUSER_ERR_UNSAFE);
	assert_int_equal(chmod(f->dir, 0775), 0);
	assert_int_equal(store_open(f->dir, STORE_WRITE, &st), APPUSER_ERR_UNSAFE);
	assert_int_equal(chmod(f->dir, 0755), 0);
	/* a writable parent without the sticky bit is unsafe, with it fine */
	assert_int_equal(chmod(f->base, 0777), 0);
	assert_int_equal(store_open(f->dir, STORE_WRITE, &st), APPUSER_ERR_UNSAFE);
	assert_int_equal(chmod(f->base, 01777), 0);
	assert_int_equal(store_open(f->dir, STORE_WRITE, &f->st), 0);
	close_st(f);
	assert_int_equal(chmod(f->base, 0700), 0);
	/* master with the wrong mode or owner */
	assert_int_equal(chmod(f->master, 0644), 0);
	assert_int_equal(store_open(f->dir, STORE_READ, &st), APPUSER_ERR_UNSAFE);
	assert_int_equal(chmod(f->master, 0600), 0);
	/* only root can give the master another owner than the directory's */
	if (geteuid() == 0) {
		assert_int_equal(chown(f->master, 65534, 65534), 0);
		assert_int_equal(store_open(f->dir, STORE_WRITE, &st),
		    APPUSER_ERR_UNSAFE);
		assert_null(st);
	}
}

static void
test_nostore(void **state)
{
	struct fx *f = *state;
	struct store *st = NULL;

	assert_int_equal(store_open(f->dir, STORE_READ, &st), APPUSER_ERR_NOSTORE);
	assert_int_equal(store_open(f->dir, STORE_AUTH, &st), APPUSER_ERR_NOSTORE);
	assert_int_equal(mkdir(f->dir, 0755), 0);
	assert_int_equal(store_open(f->dir, STORE_READ, &st), APPUSER_ERR_NOSTORE);
	assert_int_equal(store_open(f->dir, STORE_AUTH, &st), APPUSER_ERR_NOSTORE);
	/* READ and AUTH never create anything */
	assert_int_equal(access(f->master, F_OK), -1);
	assert_int_equal(access(f->ident, F_OK), -1);
	assert_int_equal(store_open(f->dir, 0x10, &st), APPUSER_ERR_INVALID);
	assert_null(st);
}

/* As nobody: reading a root store is PERMISSION, writing it too. */
static void
test_permission(void **state)
{
	struct fx *f = *state;
	struct store *st = NULL;
	pid_t pid;
	int status;

	if (geteuid() != 0) {
		skip();
		return;
	}
	open_w(f);
	close_st(f);
	assert_int_equal(chmod(f->base, 0755), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int a, b;

		if (setgroups(0, NULL) != 0 || setresgid(65534, 65534, 65534) ||
		    setresuid(65534, 65534, 65534) != 0)
			_exit(3);
		a = store_open(f->dir, STORE_READ, &st);
		b = store_open(f->dir, STORE_WRITE, &st);
		_exit(a == APPUSER_ERR_PERMISSION &&
		    b == APPUSER_ERR_PERMISSION ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void
test_version(void **state)
{
	struct fx *f = *state;
	struct store *st = NULL;
	struct tdb_context *t;
	struct meta m;
	TDB_DATA d;
	uint8_t *buf;
	size_t len;

	open_w(f);
	close_st(f);
	t = raw(f->master);
	d = tdb_fetch(t, kd("!meta", 5));
	assert_non_null(d.dptr);
	assert_int_equal(record_decode_meta(d.dptr, d.dsize, &m), 0);
	m.format = STORE_FORMAT_VERSION + 1;
	assert_int_equal(record_encode_meta(&m, &buf, &len), 0);
	assert_int_equal(tdb_store(t, kd("!meta", 5), kd(buf, len),
	    TDB_REPLACE), 0);
	meta_clear(&m);
	free(d.dptr);
	free(buf);
	tdb_close(t);
	assert_int_equal(store_open(f->dir, STORE_WRITE, &st), APPUSER_ERR_VERSION);
	assert_int_equal(store_open(f->dir, STORE_READ, &st), APPUSER_ERR_VERSION);
	/* a master whose meta is gone (but that has records) is corrupt */
	t = raw(f->master);
	assert_int_equal(tdb_store(t, kd("Uxx", 3), kd("junk", 4),
	    TDB_REPLACE), 0);
	assert_int_equal(tdb_delete(t, kd("!meta", 5)), 0);
	tdb_close(t);
	assert_int_equal(store_open(f->dir, STORE_WRITE, &st), APPUSER_ERR_CORRUPT);
	assert_int_equal(store_open(f->dir, STORE_READ, &st), APPUSER_ERR_CORRUPT);
	/* an empty master (a writer died right after creating it): readers
	 * call it corrupt, the next writer initialises it */
	assert_int_equal(truncate(f->master, 0), 0);
	assert_int_equal(store_open(f->dir, STORE_READ, &st), APPUSER_ERR_CORRUPT);
	assert_int_equal(store_open(f->dir, STORE_WRITE, &f->st), 0);
	assert_int_equal(gen(f->st), 0);
	assert_int_equal(store_check(f->st, NULL, NULL), 0);
	close_st(f);
	/* garbage is not opened, and never overwritten */
	assert_int_equal(unlink(f->master), 0);
	t = tdb_open(f->master, 0, 0, O_RDWR | O_CREAT, 0600);
	tdb_close(t);
	assert_int_equal(truncate(f->master, 100), 0);
	assert_int_equal(store_open(f->dir, STORE_WRITE, &st), APPUSER_ERR_CORRUPT);
	assert_int_equal(mode_of(f->master), 0600);
	assert_null(st);
}

/* ---- users and ids ---------------------------------------------------- */

static void
test_users(void **state)
{
	struct fx *f = *state;
	struct user in = { .name = "alice", .description = "Alice A.",
	    .home = "/srv/alice", .shell = "/bin/bash" };
	struct user *c = NULL, *u = NULL;
	uint32_t suid = 0;
	time_t now = time(NULL);

	open_w(f);
	assert_int_equal(store_user_add(f->st, &in, &c), 0);
	assert_int_equal(c->uid, UMIN + 1);
	assert_int_equal(c->gid, UMIN + 1);
	assert_string_equal(c->name, "alice");
	assert_false(c->admin);
	assert_true(c->create_time >= now && c->create_time <= now + 5);
	user_free(c);
	assert_int_equal(store_user_get(f->st, "alice", &u), 0);
	assert_string_equal(u->description, "Alice A.");
	assert_string_equal(u->home, "/srv/alice");
	assert_string_equal(u->shell, "/bin/bash");
	user_free(u);
	/* defaults */
	assert_int_equal(add(f->st, "bob"), UMIN + 2);
	assert_int_equal(store_user_get(f->st, "bob", &u), 0);
	assert_string_equal(u->description, "");
	assert_string_equal(u->home, "/nonexistent");
	assert_string_equal(u->shell, "/bin/sh");
	user_free(u);
	assert_int_equal(n_users(f->st), 2);
	assert_int_equal(gen(f->st), 2);
	assert_int_equal(snap_uid(f, "bob", &suid), 0);
	assert_int_equal(suid, UMIN + 2);
	/* delete */
	assert_int_equal(store_user_delete(f->st, "alice"), 0);
	assert_int_equal(store_user_get(f->st, "alice", &u), APPUSER_ERR_NOT_FOUND);
	assert_int_equal(store_user_delete(f->st, "alice"), APPUSER_ERR_NOT_FOUND);
	assert_int_equal(snap_uid(f, "alice", &suid), APPUSER_ERR_NOT_FOUND);
	assert_int_equal(n_users(f->st), 1);
	assert_int_equal(store_user_get(f->st, "no/such", &u),
	    APPUSER_ERR_NOT_FOUND);
	/* the id of a deleted user is not reused while the cursor moves on */
	assert_int_equal(add(f->st, "carol"), UMIN + 3);
	assert_int_equal(store_check(f->st, NULL, NULL), 0);
}

static int
count_user(const struct user *u, void *arg)
{
	(void)u;
	(*(int *)arg)++;
	return 0;
}

static int
stop_at_two(const struct user *u, void *arg)
{
	(void)u;
	return ++(*(int *)arg) == 2 ? 42 : 0;
}

static void
test_user_foreach(void **state)
{
	struct fx *f = *state;
	char name[16];
	int i, n = 0;

	open_w(f);
	assert_int_equal(store_begin(f->st), 0);
	for (i = 0; i < 600; i++) {
		snprintf(name, sizeof(name), "u%d", i);
		add(f->st, name);
	}
	/* inside the transaction */
	assert_int_equal(store_user_foreach(f->st, count_user, &n), 0);
	assert_int_equal(n, 600);
	assert_int_equal(store_commit(f->st), 0);
	/* outside (batched), and as a reader */
	n = 0;
	assert_int_equal(store_user_foreach(f->st, count_user, &n), 0);
	assert_int_equal(n, 600);
	reopen(f, STORE_READ);
	n = 0;
	assert_int_equal(store_user_foreach(f->st, count_user, &n), 0);
	assert_int_equal(n, 600);
	n = 0;
	assert_int_equal(store_user_foreach(f->st, stop_at_two, &n), 42);
	assert_int_equal(n, 2);
}

static void
test_id_alloc(void **state)
{
	struct fx *f = *state;
	struct user in = { .name = "x" };
	uint32_t seen[16], uid;
	char name[16];
	uint64_t g;
	int i, j;

	open_w(f);
	/* admin gid (UMIN) inside [lo, hi] once the range starts lower */
	assert_int_equal(store_set_range(f->st, UMIN - 10, UMIN + 3), 0);
	for (i = 0; i < 12; i++) {
		snprintf(name, sizeof(name), "n%d", i);
		seen[i] = add(f->st, name);
		assert_int_not_equal(seen[i], 0);
		assert_int_not_equal(seen[i], UMIN);
		assert_true(seen[i] > UMIN - 10 && seen[i] <= UMIN + 3);
		for (j = 0; j < i; j++)
			assert_int_not_equal(seen[i], seen[j]);
	}
	/* sequential from the cursor, then wrapping */
	assert_int_equal(seen[0], UMIN + 1);
	assert_int_equal(seen[2], UMIN + 3);
	assert_int_equal(seen[3], UMIN - 9);
	g = gen(f->st);
	in.name = "full";
	assert_int_equal(store_user_add(f->st, &in, NULL), APPUSER_ERR_RANGE);
	assert_int_equal(gen(f->st), g);
	assert_int_equal(n_users(f->st), 12);
	/* a freed id is found again */
	assert_int_equal(store_user_delete(f->st, "n5"), 0);
	uid = add(f->st, "again");
	assert_int_equal(uid, seen[5]);
	/* the range cannot shrink past an existing id or the admin gid */
	assert_int_equal(store_set_range(f->st, UMIN - 5, UMIN + 3),
	    APPUSER_ERR_RANGE);
	assert_int_equal(store_set_range(f->st, UMIN + 1, UMIN + 30),
	    APPUSER_ERR_RANGE);
	assert_int_equal(store_set_range(f->st, 0, 10), APPUSER_ERR_INVALID);
	assert_int_equal(store_set_range(f->st, 10, 10), APPUSER_ERR_INVALID);
	assert_int_equal(store_set_range(f->st, 10, 2147483647u),
	    APPUSER_ERR_INVALID);
	assert_int_equal(store_set_range(f->st, UMIN - 20, UMIN + 40), 0);
	assert_int_equal(store_check(f->st, NULL, NULL), 0);
}

static void
test_explicit_uid(void **state)
{
	struct fx *f = *state;
	struct user in = { .name = "imp" }, *c = NULL;

	open_w(f);
	in.uid = UMIN;			/* the admin gid */
	assert_int_equal(store_user_add(f->st, &in, NULL), APPUSER_ERR_RANGE);
	in.uid = UMIN - 1;
	assert_int_equal(store_user_add(f->st, &in, NULL), APPUSER_ERR_RANGE);
	in.uid = APPUSER_DEFAULT_UID_MAX + 1;
	assert_int_equal(store_user_add(f->st, &in, NULL), APPUSER_ERR_RANGE);
	in.uid = UMIN + 500;
	assert_int_equal(store_user_add(f->st, &in, &c), 0);
	assert_int_equal(c->uid, UMIN + 500);
	assert_int_equal(c->gid, UMIN + 500);
	user_free(c);
	in.name = "imp2";
	assert_int_equal(store_user_add(f->st, &in, NULL), APPUSER_ERR_EXISTS);
	/* allocation is not disturbed by the import */
	assert_int_equal(add(f->st, "next"), UMIN + 1);
	assert_int_equal(n_users(f->st), 2);
}

struct hook {
	int	 names;
	int	 ids;
};

static int
hook(const char *name, uint32_t id, void *arg)
{
	struct hook *h = arg;

	if (name != NULL) {
		h->names++;
		assert_int_equal(id, 0);
		return strcmp(name, "root") == 0 || strcmp(name, "wheel") == 0 ?
		    APPUSER_ERR_EXISTS : 0;
	}
	h->ids++;
	return id == UMIN + 1 || id == 4242 ? APPUSER_ERR_EXISTS : 0;
}

static void
test_collision(void **state)
{
	struct fx *f = *state;
	struct user in = { .name = "root" };
	struct hook h = { 0, 0 };

	open_w(f);
	store_set_collision_check(f->st, hook, &h);
	assert_int_equal(store_user_add(f->st, &in, NULL), APPUSER_ERR_EXISTS);
	assert_int_equal(h.names, 1);
	assert_int_equal(add(f->st, "carol"), UMIN + 2);	/* +1 skipped */
	assert_int_equal(h.ids, 2);
	in.name = "imp";
	in.uid = 4242;
	assert_int_equal(store_set_range(f->st, 4000, UMIN + 10), 0);
	assert_int_equal(store_user_add(f->st, &in, NULL), APPUSER_ERR_EXISTS);
	assert_int_equal(store_set_admin_group(f->st, "wheel"),
	    APPUSER_ERR_EXISTS);
	assert_int_equal(n_users(f->st), 1);
}

static void
test_duplicate_and_invalid(void **state)
{
	struct fx *f = *state;
	static const char *bad_names[] = { "", "Alice", "-x", "a:b", "1234",
	    "a b", "a/b", "abcdefghijklmnopqrstuvwxyz0123456", NULL };
	struct user in = { .name = "alice" };
	uint64_t g;
	ino_t ino;
	int i;

	open_w(f);
	add(f->st, "alice");
	g = gen(f->st);
	ino = ino_of(f->ident);
	assert_int_equal(store_user_add(f->st, &in, NULL), APPUSER_ERR_EXISTS);
	in.name = APPUSER_DEFAULT_ADMIN_GROUP;
	assert_int_equal(store_user_add(f->st, &in, NULL), APPUSER_ERR_EXISTS);
	for (i = 0; bad_names[i] != NULL; i++) {
		in.name = bad_names[i];
		assert_int_equal(store_user_add(f->st, &in, NULL),
		    APPUSER_ERR_INVALID);
	}
	in.name = NULL;
	assert_int_equal(store_user_add(f->st, &in, NULL), APPUSER_ERR_INVALID);
	in.name = "ok";
	in.description = "a:b";
	assert_int_equal(store_user_add(f->st, &in, NULL), APPUSER_ERR_INVALID);
	in.description = "line\nbreak";
	assert_int_equal(store_user_add(f->st, &in, NULL), APPUSER_ERR_INVALID);
	in.description = NULL;
	in.home = "relative";
	assert_int_equal(store_user_add(f->st, &in, NULL), APPUSER_ERR_INVALID);
	in.home = NULL;
	in.shell = "/bin/../sh";
	assert_int_equal(store_user_add(f->st, &in, NULL), APPUSER_ERR_INVALID);
	assert_int_equal(gen(f->st), g);
	assert_int_equal(n_users(f->st), 1);
	assert_int_equal(ino_of(f->ident), ino);
	assert_int_equal(store_check(f->st, NULL, NULL), 0);
}

/* Aux values live in the master, inside the caller's transaction. */
static void
test_aux(void **state)
{
	struct fx *f = *state;
	uint8_t *v = NULL;
	size_t n = 0;

	open_w(f);
	assert_int_equal(store_aux_get(f->st, "rev", &v, &n),
	    APPUSER_ERR_NOT_FOUND);
	assert_int_equal(store_aux_put(f->st, "rev", "42", 2), 0);
	assert_int_equal(store_aux_get(f->st, "rev", &v, &n), 0);
	assert_int_equal(n, 2);
	assert_memory_equal(v, "42", 2);
	free(v);
	assert_int_equal(store_begin(f->st), 0);
	assert_int_equal(store_aux_put(f->st, "rev", "43", 2), 0);
	add(f->st, "alice");
	store_cancel(f->st);
	assert_int_equal(store_aux_get(f->st, "rev", &v, &n), 0);
	assert_memory_equal(v, "42", 2);	/* cancelled with the txn */
	free(v);
	assert_int_equal(store_aux_put(f->st, "", "x", 1),
	    APPUSER_ERR_INVALID);
	assert_int_equal(store_aux_put(f->st,
	    "123456789012345678901234567890123", "x", 1), APPUSER_ERR_INVALID);
	assert_int_equal(store_aux_delete(f->st, "rev"), 0);
	assert_int_equal(store_aux_delete(f->st, "rev"), 0);
	assert_int_equal(store_aux_get(f->st, "rev", &v, &n),
	    APPUSER_ERR_NOT_FOUND);
	assert_int_equal(store_aux_put(f->st, "rev", "1", 1), 0);
	assert_int_equal(store_check(f->st, NULL, NULL), 0);
}

static void
test_admin(void **state)
{
	struct fx *f = *state;
	struct user *u = NULL;
	struct idview *v = NULL;
	struct meta m;
	uint64_t g;

	open_w(f);
	add(f->st, "alice");
	add(f->st, "bob");
	assert_int_equal(store_user_set_admin(f->st, "alice", true), 0);
	assert_int_equal(store_user_set_admin(f->st, "bob", true), 0);
	assert_int_equal(store_get_meta(f->st, &m), 0);
	assert_int_equal(m.n_admins, 2);
	assert_string_equal(m.admins[0], "alice");
	assert_string_equal(m.admins[1], "bob");
	assert_int_equal(store_user_get(f->st, "alice", &u), 0);
	assert_true(u->admin);
	user_free(u);
	g = gen(f->st);
	assert_int_equal(store_user_set_admin(f->st, "alice", true), 0);
	assert_int_equal(gen(f->st), g);		/* idempotent */
	assert_int_equal(store_user_set_admin(f->st, "alice", false), 0);
	assert_int_equal(store_get_meta(f->st, &m), 0);
	assert_int_equal(m.n_admins, 1);
	assert_string_equal(m.admins[0], "bob");
	assert_int_equal(store_user_get(f->st, "alice", &u), 0);
	assert_false(u->admin);
	user_free(u);
	assert_int_equal(store_user_set_admin(f->st, "nobody", true),
	    APPUSER_ERR_NOT_FOUND);
	assert_int_equal(idview_open(f->dir, &v), 0);
	assert_int_equal(idview_meta(v)->n_admins, 1);
	assert_string_equal(idview_meta(v)->admins[0], "bob");
	idview_close(v);
	/* deleting an admin takes it off the list */
	assert_int_equal(store_user_delete(f->st, "bob"), 0);
	assert_int_equal(store_get_meta(f->st, &m), 0);
	assert_int_equal(m.n_admins, 0);
	assert_int_equal(store_check(f->st, NULL, NULL), 0);
}

static void
test_admin_group(void **state)
{
	struct fx *f = *state;
	struct idview *v = NULL;
	struct meta m;

	open_w(f);
	add(f->st, "alice");
	assert_int_equal(store_set_admin_group(f->st, "Bad Name"),
	    APPUSER_ERR_INVALID);
	assert_int_equal(store_set_admin_group(f->st, "alice"),
	    APPUSER_ERR_EXISTS);
	assert_int_equal(store_set_admin_group(f->st, "ops-admins"), 0);
	assert_int_equal(store_get_meta(f->st, &m), 0);
	assert_string_equal(m.admin_group, "ops-admins");
	assert_int_equal(m.admin_gid, UMIN);
	assert_int_equal(idview_open(f->dir, &v), 0);
	assert_string_equal(idview_meta(v)->admin_group, "ops-admins");
	idview_close(v);
	assert_int_equal(store_check(f->st, NULL, NULL), 0);
}

static void
test_transactions(void **state)
{
	struct fx *f = *state;
	struct user in = { .name = "a1" }, *u = NULL;
	uint64_t g;

	open_w(f);
	g = gen(f->st);
	assert_int_equal(store_begin(f->st), 0);
	assert_int_equal(store_begin(f->st), APPUSER_ERR_INVALID);
	add(f->st, "a1");
	add(f->st, "a2");
	store_cancel(f->st);
	assert_int_equal(store_user_get(f->st, "a1", &u), APPUSER_ERR_NOT_FOUND);
	assert_int_equal(gen(f->st), g);
	assert_int_equal(store_commit(f->st), APPUSER_ERR_INVALID);
	/* one commit, one generation; a refused mutator does not spoil it */
	assert_int_equal(store_begin(f->st), 0);
	add(f->st, "a1");
	assert_int_equal(store_user_add(f->st, &in, NULL), APPUSER_ERR_EXISTS);
	add(f->st, "a2");
	assert_int_equal(store_user_set_admin(f->st, "a2", true), 0);
	assert_int_equal(store_user_delete(f->st, "a1"), 0);
	add(f->st, "a3");
	assert_int_equal(store_commit(f->st), 0);
	assert_int_equal(gen(f->st), g + 1);
	assert_int_equal(n_users(f->st), 2);
	assert_int_equal(snap_gen(f), g + 1);
	assert_int_equal(store_check(f->st, NULL, NULL), 0);
	/* a reader may not write */
	reopen(f, STORE_READ);
	assert_int_equal(store_begin(f->st), APPUSER_ERR_PERMISSION);
	assert_int_equal(store_user_add(f->st, &in, NULL), APPUSER_ERR_PERMISSION);
	assert_int_equal(store_user_delete(f->st, "a2"), APPUSER_ERR_PERMISSION);
	reopen(f, STORE_AUTH);
	assert_int_equal(store_user_add(f->st, &in, NULL), APPUSER_ERR_PERMISSION);
}

/* Many users in one commit: a full rebuild with a fitting hash; one more
 * user afterwards goes through copy + delta and keeps the hash. */
static void
test_rebuild_and_delta(void **state)
{
	struct fx *f = *state;
	struct tdb_context *t;
	char name[16];
	uint32_t uid = 0;
	int i, hs;

	open_w(f);
	assert_int_equal(store_begin(f->st), 0);
	for (i = 0; i < 3000; i++) {
		snprintf(name, sizeof(name), "bulk%d", i);
		add(f->st, name);
	}
	assert_int_equal(store_commit(f->st), 0);
	t = tdb_open(f->ident, 0, 0, O_RDONLY, 0);
	assert_non_null(t);
	hs = tdb_hash_size(t);
	tdb_close(t);
	assert_true(hs >= 6000 && hs < 6100);
	/* a marker planted in the published file survives copy + delta */
	t = tdb_open(f->ident, 0, 0, O_RDWR, 0);
	assert_non_null(t);
	assert_int_equal(tdb_store(t, kd("Xmark", 5), kd("1", 1), TDB_INSERT),
	    0);
	tdb_close(t);
	add(f->st, "one-more");
	t = tdb_open(f->ident, 0, 0, O_RDONLY, 0);
	assert_non_null(t);
	assert_int_equal(tdb_hash_size(t), hs);
	assert_true(tdb_exists(t, kd("Xmark", 5)));
	tdb_close(t);
	assert_int_equal(snap_uid(f, "one-more", &uid), 0);
	assert_int_equal(uid, UMIN + 3001);
	assert_int_equal(snap_uid(f, "bulk2999", &uid), 0);
	assert_int_equal(uid, UMIN + 3000);
	assert_int_equal(store_check(f->st, NULL, NULL), APPUSER_ERR_CORRUPT);
	/* a big delete in one commit rebuilds: the marker is gone */
	assert_int_equal(store_begin(f->st), 0);
	for (i = 0; i < 2500; i++) {
		snprintf(name, sizeof(name), "bulk%d", i);
		assert_int_equal(store_user_delete(f->st, name), 0);
	}
	assert_int_equal(store_commit(f->st), 0);
	t = tdb_open(f->ident, 0, 0, O_RDONLY, 0);
	assert_non_null(t);
	assert_false(tdb_exists(t, kd("Xmark", 5)));
	assert_int_equal(tdb_hash_size(t), 1021);	/* max(1021, 2 * 501) */
	tdb_close(t);
	assert_int_equal(snap_uid(f, "bulk0", &uid), APPUSER_ERR_NOT_FOUND);
	assert_int_equal(store_check(f->st, NULL, NULL), 0);
}

/* ---- tokens ----------------------------------------------------------- */

static int
count_token(const struct token *t, void *arg)
{
	(void)t;
	(*(int *)arg)++;
	return 0;
}

static void
test_tokens(void **state)
{
	struct fx *f = *state;
	struct tok a, b, c;
	struct token *t = NULL;
	uint32_t au, bu;
	uint64_t g;
	ino_t ino;
	size_t n = 99;
	int cnt;

	open_w(f);
	au = add(f->st, "alice");
	bu = add(f->st, "bob");
	g = gen(f->st);
	ino = ino_of(f->ident);
	mint(f->st, &a, "alice", au);
	mint(f->st, &b, "alice", au);
	mint(f->st, &c, "bob", bu);
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
	/* tokens never touch the snapshot or the generation */
	assert_int_equal(gen(f->st), g);
	assert_int_equal(ino_of(f->ident), ino);
	assert_int_equal(store_check(f->st, NULL, NULL), 0);
	/* a reader lists them too */
	reopen(f, STORE_READ);
	cnt = 0;
	assert_int_equal(store_token_foreach(f->st, NULL, count_token, &cnt), 0);
	assert_int_equal(cnt, 3);
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
	fix_crc(x.str);
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
	mint(NULL, &a, "alice", au);
	a.t.max_age_seconds = 3600;
	a.t.extend_when_used = true;
	a.t.expiry_time = now + 100;
	assert_int_equal(store_token_add(f->st, &a.t), 0);
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
	assert_int_equal(store_token_touch(f->st, a.t.id, now + 5, "192.0.2.9",
	    "sshd", 1000), 0);
	assert_int_equal(store_token_get(f->st, a.t.id, &t), 0);
	assert_int_equal(t->last_used_time, now + 5);
	assert_string_equal(t->last_ip, "192.0.2.9");
	assert_string_equal(t->last_service, "sshd");
	assert_int_equal(t->expiry_time, now + 5 + 3600);
	token_free(t);
	/* control bytes from the network are not stored */
	assert_int_equal(store_token_touch(f->st, a.t.id, now + 6,
	    "evil\033[2J", NULL, 1000), 0);
	assert_int_equal(store_token_get(f->st, a.t.id, &t), 0);
	assert_string_equal(t->last_ip, "evil?[2J");
	assert_string_equal(t->last_service, "");
	token_free(t);
	/* a token revoked between verify and touch is left alone */
	reopen(f, STORE_WRITE);
	assert_int_equal(verify(f->st, "alice", r.str, "sshd", NULL, now),
	    VERIFY_OK);
	assert_int_equal(store_token_revoke(f->st, "alice", r.t.id), 0);
	assert_int_equal(store_token_touch(f->st, r.t.id, now + 9, NULL,
	    "sshd", 1000), 0);
	assert_int_equal(store_token_get(f->st, r.t.id, &t), 0);
	assert_int_equal(t->last_used_time, 0);
	token_free(t);
	reopen(f, STORE_READ);
	assert_int_equal(store_token_touch(f->st, a.t.id, now, NULL, "sshd",
	    1000), APPUSER_ERR_PERMISSION);
}

/* touch waits for a writer's transaction, then gives up with BUSY. */
static void
test_touch_busy(void **state)
{
	struct fx *f = *state;
	struct tok a;
	int pfd[2], status;
	char c;
	pid_t pid;
	struct timespec t0, t1;
	long ms;

	open_w(f);
	mint(f->st, &a, "alice", add(f->st, "alice"));
	close_st(f);
	assert_int_equal(pipe(pfd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct store *st = NULL;

		if (store_open(f->dir, STORE_WRITE, &st) != 0 ||
		    store_begin(st) != 0)
			_exit(1);
		if (write(pfd[1], "x", 1) != 1)
			_exit(1);
		sleep(2);
		store_cancel(st);
		store_close(st);
		_exit(0);
	}
	assert_int_equal(read(pfd[0], &c, 1), 1);
	assert_int_equal(store_open(f->dir, STORE_AUTH, &f->st), 0);
	assert_int_equal(verify(f->st, "alice", a.str, "sshd", NULL,
	    time(NULL)), VERIFY_OK);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(store_token_touch(f->st, a.t.id, time(NULL), NULL,
	    "sshd", 200), APPUSER_ERR_BUSY);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	assert_true(ms >= 190 && ms < 1500);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(store_token_touch(f->st, a.t.id, time(NULL), NULL,
	    "sshd", 200), 0);
	close(pfd[0]);
	close(pfd[1]);
}

static void
test_no_secret_in_files(void **state)
{
	struct fx *f = *state;
	const char *files[2] = { f->master, f->ident };
	struct tok a;
	struct stat sb;
	char *buf;
	int fd, i;

	open_w(f);
	mint(f->st, &a, "alice", add(f->st, "alice"));
	assert_int_equal(verify(f->st, "alice", a.str, "sshd", NULL,
	    time(NULL)), VERIFY_OK);
	close_st(f);
	for (i = 0; i < 2; i++) {
		assert_int_equal(stat(files[i], &sb), 0);
		buf = malloc(sb.st_size);
		assert_non_null(buf);
		fd = open(files[i], O_RDONLY);
		assert_true(fd >= 0);
		assert_int_equal(read(fd, buf, sb.st_size), sb.st_size);
		close(fd);
		assert_null(memmem(buf, sb.st_size, a.str, TOKEN_LEN));
		assert_null(memmem(buf, sb.st_size, a.str + TOKEN_PREFIX_LEN,
		    TOKEN_SECRET_LEN));
		/* the id is public and in the master */
		if (i == 0)
			assert_non_null(memmem(buf, sb.st_size, a.t.id,
			    TOKEN_ID_LEN));
		free(buf);
	}
}

/* ---- check, open twice, roll-forward ---------------------------------- */

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
	/* file modes */
	t = raw(f->master);
	assert_int_equal(tdb_delete(t, kd("Zjunk", 5)), 0);
	tdb_close(t);
	assert_int_equal(chmod(f->ident, 0600), 0);
	assert_int_equal(store_open(f->dir, STORE_READ, &f->st), 0);
	memset(&rep, 0, sizeof(rep));
	assert_int_equal(store_check(f->st, collect, &rep), APPUSER_ERR_CORRUPT);
	assert_non_null(strstr(rep.all, "identity.tdb: mode 0600"));
}

/* Bump the record version of key in the tdb file at path. */
static void
bump_version(const char *path, const void *key, size_t klen)
{
	struct tdb_context *t = raw(path);
	TDB_DATA d;

	d = tdb_fetch(t, kd(key, klen));
	assert_non_null(d.dptr);
	assert_true(d.dsize >= 2);
	d.dptr[1] = RECORD_VERSION + 1;
	assert_int_equal(tdb_store(t, kd(key, klen), d, TDB_REPLACE), 0);
	free(d.dptr);
	tdb_close(t);
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
	bump_version(f->ident, "Ualice", 6);

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
	assert_non_null(strstr(appuser_strerror(APPUSER_ERR_VERSION),
	    "upgrade appuser"));
}

static void
test_open_twice(void **state)
{
	struct fx *f = *state;
	struct store *st2 = NULL;
	struct idview *v = NULL, *v2 = NULL;
	uint32_t uid = 0;

	open_w(f);
	add(f->st, "alice");
	assert_int_equal(store_open(f->dir, STORE_WRITE, &st2), APPUSER_ERR_BUSY);
	assert_int_equal(store_open(f->dir, STORE_READ, &st2), APPUSER_ERR_BUSY);
	assert_int_equal(store_open(f->dir, STORE_AUTH, &st2), APPUSER_ERR_BUSY);
	assert_null(st2);
	/* the snapshot reader and the master in one process */
	assert_int_equal(idview_open(f->dir, &v), 0);
	assert_int_equal(idview_open(f->dir, &v2), 0);
	add(f->st, "bob");
	assert_int_equal(idview_refresh(v), 0);
	assert_int_equal(idview_user_by_name(v, "bob", copy_uid, &uid), 0);
	assert_int_equal(uid, UMIN + 2);
	/* roll-forward and check work while the reader holds the file */
	reopen(f, STORE_WRITE);
	assert_int_equal(store_check(f->st, NULL, NULL), 0);
	reopen(f, STORE_READ);
	assert_int_equal(store_check(f->st, NULL, NULL), 0);
	idview_close(v);
	idview_close(v2);
	close_st(f);
	/* closed: can be opened again */
	assert_int_equal(store_open(f->dir, STORE_WRITE, &f->st), 0);
}

static void
test_snapshot_deleted(void **state)
{
	struct fx *f = *state;
	uint32_t uid = 0;

	open_w(f);
	add(f->st, "alice");
	close_st(f);
	assert_int_equal(unlink(f->ident), 0);
	assert_int_equal(snap_uid(f, "alice", &uid), APPUSER_ERR_NOSTORE);
	open_w(f);
	assert_int_equal(mode_of(f->ident), 0644);
	assert_int_equal(snap_uid(f, "alice", &uid), 0);
	assert_int_equal(uid, UMIN + 1);
	/* deleted while a writer is open: the next commit rebuilds it */
	assert_int_equal(unlink(f->ident), 0);
	add(f->st, "bob");
	assert_int_equal(snap_uid(f, "alice", &uid), 0);
	assert_int_equal(snap_uid(f, "bob", &uid), 0);
	assert_int_equal(store_check(f->st, NULL, NULL), 0);
}

static void
test_roll_forward(void **state)
{
	struct fx *f = *state;
	char old[200];
	struct reports rep;
	uint32_t uid = 0;

	snprintf(old, sizeof(old), "%s/old.tdb", f->base);
	open_w(f);
	add(f->st, "alice");
	copy_file(f->ident, old);
	add(f->st, "bob");
	close_st(f);
	assert_int_equal(rename(old, f->ident), 0);
	assert_int_equal(snap_uid(f, "bob", &uid), APPUSER_ERR_NOT_FOUND);
	/* a reader's check sees the lag, does not repair it */
	assert_int_equal(store_open(f->dir, STORE_READ, &f->st), 0);
	memset(&rep, 0, sizeof(rep));
	assert_int_equal(store_check(f->st, collect, &rep), APPUSER_ERR_CORRUPT);
	assert_non_null(strstr(rep.all, "generation 1, the master is at 2"));
	close_st(f);
	/* the next writer republishes */
	open_w(f);
	assert_int_equal(snap_uid(f, "bob", &uid), 0);
	assert_int_equal(uid, UMIN + 2);
	assert_int_equal(snap_gen(f), 2);
	/* lag planted under an open writer: check repairs and says so */
	copy_file(f->ident, old);
	add(f->st, "carol");
	assert_int_equal(rename(old, f->ident), 0);
	memset(&rep, 0, sizeof(rep));
	assert_int_equal(store_check(f->st, collect, &rep), 0);
	assert_int_equal(rep.n, 1);
	assert_non_null(strstr(rep.all, "repaired:"));
	assert_int_equal(snap_uid(f, "carol", &uid), 0);
	/* a lagging snapshot also makes the next commit rebuild */
	copy_file(f->ident, old);
	add(f->st, "dave");
	assert_int_equal(rename(old, f->ident), 0);
	add(f->st, "erin");
	assert_int_equal(snap_uid(f, "dave", &uid), 0);
	assert_int_equal(snap_uid(f, "erin", &uid), 0);
	assert_int_equal(store_check(f->st, NULL, NULL), 0);
	/* stale temporary files of dead writers are removed */
	close_st(f);
	snprintf(old, sizeof(old), "%s/identity.tdb.tmp.99999", f->dir);
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
	ino = ino_of(f->gen);

	assert_int_equal(chmod(f->gen, 0600), 0);
	check_reports(f, "identity.gen: mode 0600, should be 0644");
	open_w(f);
	close_st(f);
	assert_int_equal(mode_of(f->gen), 0644);
	assert_int_equal(ino_of(f->gen), ino);		/* fixed in place */

	assert_int_equal(truncate(f->gen, 100), 0);
	check_reports(f, "identity.gen: size 100, should be 4096");
	open_w(f);
	close_st(f);
	assert_int_equal(size_of(f->gen), GEN_FILE_SIZE);
	assert_int_equal(gen_word(f, GEN_W_PUBLISHED), 1);

	fd = open(f->gen, O_WRONLY);
	assert_true(fd >= 0);
	c = 0;
	assert_int_equal(pwrite(fd, &c, sizeof(c), 8 * GEN_W_PUBLISHED),
	    sizeof(c));
	close(fd);
	check_reports(f, "identity.gen: records generation 0, identity.tdb "
	    "is at 1");
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
	assert_int_equal(size_of(f->gen), GEN_FILE_SIZE);

	/* a directory in the way: writes still work, check says so */
	assert_int_equal(unlink(f->gen), 0);
	assert_int_equal(mkdir(f->gen, 0755), 0);
	open_w(f);
	add(f->st, "bob");
	close_st(f);
	check_reports(f, "identity.gen: not a regular file");
}

/* Every descriptor the store and the reader opened is close-on-exec. */
static void
test_cloexec(void **state)
{
	struct fx *f = *state;
	struct idview *v = NULL;
	char path[PATH_MAX], link[PATH_MAX + 64];
	struct dirent *de;
	DIR *d;
	ssize_t n;
	int fd, found = 0;

	open_w(f);
	add(f->st, "alice");
	assert_int_equal(idview_open(f->dir, &v), 0);
	d = opendir("/proc/self/fd");
	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		fd = atoi(de->d_name);
		snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
		if ((n = readlink(link, path, sizeof(path) - 1)) <= 0)
			continue;
		path[n] = '\0';
		if (strncmp(path, f->dir, strlen(f->dir)) != 0)
			continue;
		found++;
		assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	}
	closedir(d);
	assert_int_equal(found, 3);	/* lock, store.tdb, identity.tdb */
	idview_close(v);
}

/* A store reached through a symbolic link: the link must be as safe as
 * the directories (owner root or the caller, in a safe directory). */
static void
test_symlinked_store(void **state)
{
	struct fx *f = *state;
	struct store *st = NULL;
	char link[PATH_MAX + 8], lnkdir[PATH_MAX];

	open_w(f);
	close_st(f);
	snprintf(lnkdir, sizeof(lnkdir), "%s/links", f->base);
	snprintf(link, sizeof(link), "%s/s", lnkdir);
	assert_int_equal(mkdir(lnkdir, 0755), 0);
	assert_int_equal(symlink(f->dir, link), 0);
	assert_int_equal(store_open(link, STORE_READ, &st), 0);
	store_close(st);
	st = NULL;
	/* a directory others may write: they could swap the link */
	assert_int_equal(chmod(lnkdir, 0777), 0);
	assert_int_equal(store_open(link, STORE_READ, &st), APPUSER_ERR_UNSAFE);
	assert_null(st);
	assert_int_equal(chmod(lnkdir, 0755), 0);
	if (geteuid() == 0) {	/* a link that belongs to someone else */
		assert_int_equal(lchown(link, 65534, 65534), 0);
		assert_int_equal(store_open(link, STORE_READ, &st),
		    APPUSER_ERR_UNSAFE);
		assert_null(st);
	}
}

/*
 * Count the syncs libtdb asks for: a transaction commit on the master must
 * sync, whatever the environment says (tdb honours TDB_NO_FSYNC, which a
 * user controls when running setuid sudo or su).
 */
static int sync_calls;

int
fdatasync(int fd)
{
	int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");

	sync_calls++;
	return real(fd);
}

int
fsync(int fd)
{
	int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fsync");

	sync_calls++;
	return real(fd);
}

static void
test_env_cannot_disable_sync(void **state)
{
	struct fx *f = *state;
	struct tok k;
	uint32_t uid;

	open_w(f);
	uid = add(f->st, "alice");
	close_st(f);
	assert_int_equal(setenv("TDB_NO_FSYNC", "1", 1), 0);
	reopen(f, STORE_WRITE);
	sync_calls = 0;
	mint(f->st, &k, "alice", uid);		/* a master-only transaction */
	assert_true(sync_calls > 0);
	reopen(f, STORE_AUTH);
	assert_int_equal(verify(f->st, "alice", k.str, "sshd", NULL,
	    time(NULL)), VERIFY_OK);
	sync_calls = 0;
	assert_int_equal(store_token_touch(f->st, k.t.id, time(NULL), NULL,
	    "sshd", 1000), 0);
	assert_true(sync_calls > 0);
	unsetenv("TDB_NO_FSYNC");
	sodium_memzero(k.str, sizeof(k.str));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create, setup, teardown),
		cmocka_unit_test_setup_teardown(test_aux, setup, teardown),
		cmocka_unit_test_setup_teardown(test_create_umask, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unsafe, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nostore, setup, teardown),
		cmocka_unit_test_setup_teardown(test_permission, setup, teardown),
		cmocka_unit_test_setup_teardown(test_version, setup, teardown),
		cmocka_unit_test_setup_teardown(test_users, setup, teardown),
		cmocka_unit_test_setup_teardown(test_user_foreach, setup, teardown),
		cmocka_unit_test_setup_teardown(test_id_alloc, setup, teardown),
		cmocka_unit_test_setup_teardown(test_explicit_uid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_collision, setup, teardown),
		cmocka_unit_test_setup_teardown(test_duplicate_and_invalid, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_admin, setup, teardown),
		cmocka_unit_test_setup_teardown(test_admin_group, setup, teardown),
		cmocka_unit_test_setup_teardown(test_transactions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rebuild_and_delta, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_tokens, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delete_user_tokens, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_verify, setup, teardown),
		cmocka_unit_test_setup_teardown(test_touch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_touch_busy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_secret_in_files, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_check, setup, teardown),
		cmocka_unit_test_setup_teardown(test_newer_records, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_gen_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_twice, setup, teardown),
		cmocka_unit_test_setup_teardown(test_snapshot_deleted, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_roll_forward, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cloexec, setup, teardown),
		cmocka_unit_test_setup_teardown(test_symlinked_store, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_env_cannot_disable_sync,
		    setup, teardown),
	};

	if (crypto_init() != 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
