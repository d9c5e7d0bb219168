/*
 * Unit tests of the store (store.h): creation and the safety checks on its
 * directory and files, the format version, users and ids, admins, aux
 * values, transactions, and the writer's lock (a second writer, one
 * stopped while it holds the lock, a store opened twice in one process).
 * The tokens are tests/test_store_token.c's, the published pairs
 * tests/test_store_snap.c's, the format-1 upgrade
 * tests/test_store_upgrade.c's, the system calls the store makes
 * tests/test_store_sys.c's.  Each test runs in a fresh mkdtemp directory,
 * removed afterwards (tests/store_test.h).
 */
#include "store_test.h"

/* The users the meta counts. */
static uint64_t
n_users(struct store *st)
{
	struct meta m;

	assert_int_equal(store_get_meta(st, &m), 0);
	return m.n_users;
}

/* ---- creation, safety ------------------------------------------------- */

/* The modes a store's directory and files are made with, whatever the
 * umask: the identity files and the counter readable by all (NSS), the
 * rest by root alone. */
static void
assert_modes(struct fx *f)
{
	assert_int_equal(mode_of(f->dir), 0755);
	assert_int_equal(mode_of(f->master), 0600);
	assert_int_equal(mode_of(f->ident), 0644);
	assert_int_equal(mode_of(f->idelta), 0644);
	assert_int_equal(mode_of(f->toks), 0600);
	assert_int_equal(mode_of(f->tdelta), 0600);
	assert_int_equal(mode_of(f->usage), 0600);
	assert_int_equal(mode_of(f->lock), 0600);
	assert_int_equal(mode_of(f->gen), 0644);
}

static void
test_create(void **state)
{
	struct fx *f = *state;
	struct sinfo si;
	struct meta m;

	open_w(f);
	assert_modes(f);
	assert_int_equal(fx_stat(f->gen, false).st_size, GEN_FILE_SIZE);
	/* a base holding meta alone, an empty delta on it; no tokens */
	sinfo(f->ident, SNAP_KIND_IDENTITY, &si);
	assert_false(si.delta);
	assert_int_equal(si.gen, 0);
	assert_int_equal(si.count, 1);
	sinfo(f->idelta, SNAP_KIND_IDENTITY, &si);
	assert_true(si.delta);
	assert_int_equal(si.base_gen, 0);
	assert_int_equal(si.count, 0);
	sinfo(f->toks, SNAP_KIND_TOKENS, &si);
	assert_int_equal(si.count, 0);
	sinfo(f->tdelta, SNAP_KIND_TOKENS, &si);
	assert_int_equal(si.count, 0);
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
	struct tok k;
	uint32_t uid = 0;

	assert_int_equal(store_open(f->dir, STORE_WRITE, &f->st), 0);
	/* and publications made under that umask */
	mint(f->st, &k, "alice", add(f->st, "alice"));
	umask(old);
	assert_modes(f);
	/* and a reader who is not root could use them */
	assert_int_equal(snap_uid(f, "alice", &uid), 0);
	assert_int_equal(uid, UMIN + 1);
}

/* The ways test_unsafe opens a store (bits of its opens). */
#define BY_WRITE	0x1	/* store_open STORE_WRITE */
#define BY_READ		0x2	/* STORE_READ */
#define BY_AUTH		0x4	/* STORE_AUTH (PAM) */
#define BY_IDVIEW	0x8	/* idview_open (NSS) */
#define BY_ALL		0xf

/* With path at mode bad, each way in opens refuses the store as unsafe;
 * then path goes back to good. */
static void
assert_unsafe_at(struct fx *f, const char *path, mode_t bad, mode_t good,
    int opens)
{
	static const int flags[] = { STORE_WRITE, STORE_READ, STORE_AUTH };
	struct store *st = NULL;
	struct idview *v = NULL;
	int i;

	assert_int_equal(chmod(path, bad), 0);
	for (i = 0; i < 3; i++)
		if (opens & (1 << i))
			assert_int_equal(store_open(f->dir, flags[i], &st),
			    APPUSER_ERR_UNSAFE);
	if (opens & BY_IDVIEW)
		assert_int_equal(idview_open(f->dir, &v), APPUSER_ERR_UNSAFE);
	assert_null(st);
	assert_null(v);
	assert_int_equal(chmod(path, good), 0);
}

static void
test_unsafe(void **state)
{
	struct fx *f = *state;
	struct store *st = NULL;

	open_w(f);
	close_st(f);
	assert_unsafe_at(f, f->dir, 0777, 0755, BY_ALL);
	assert_unsafe_at(f, f->dir, 0775, 0755, BY_WRITE);
	/* a writable parent without the sticky bit is unsafe, with it fine */
	assert_unsafe_at(f, f->base, 0777, 01777, BY_WRITE);
	assert_int_equal(store_open(f->dir, STORE_WRITE, &f->st), 0);
	close_st(f);
	assert_int_equal(chmod(f->base, 0700), 0);
	/* master with the wrong mode or owner */
	assert_unsafe_at(f, f->master, 0644, 0600, BY_READ);
	/* PAM reads no token file others could read, nor an identity file
	 * others could write */
	assert_unsafe_at(f, f->toks, 0640, 0600, BY_AUTH);
	assert_unsafe_at(f, f->tdelta, 0604, 0600, BY_AUTH);
	assert_unsafe_at(f, f->idelta, 0664, 0644, BY_AUTH | BY_IDVIEW);
	/* a writer puts wrong modes right, republishing what it must */
	assert_int_equal(chmod(f->toks, 0644), 0);
	open_w(f);
	close_st(f);
	assert_int_equal(mode_of(f->toks), 0600);
	assert_int_equal(store_open(f->dir, STORE_AUTH, &f->st), 0);
	close_st(f);
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
	assert_int_equal(access(f->toks, F_OK), -1);
	assert_int_equal(access(f->usage, F_OK), -1);
	assert_int_equal(store_open(f->dir, 0x10, &st), APPUSER_ERR_INVALID);
	assert_null(st);
}

/* For test_permission, as nobody: both opens of f's store refused. */
static bool
nobody_refused(void *arg)
{
	struct fx *f = arg;
	struct store *st = NULL;
	int a, b;

	a = store_open(f->dir, STORE_READ, &st);
	b = store_open(f->dir, STORE_WRITE, &st);
	return a == APPUSER_ERR_PERMISSION && b == APPUSER_ERR_PERMISSION;
}

/* As nobody: reading a root store is PERMISSION, writing it too. */
static void
test_permission(void **state)
{
	struct fx *f = *state;

	if (geteuid() != 0) {
		skip();
		return;
	}
	open_w(f);
	close_st(f);
	assert_int_equal(chmod(f->base, 0755), 0);
	fx_as_nobody(nobody_refused, f);
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
	struct inos i0, i1;
	uint64_t g;
	int i;

	open_w(f);
	add(f->st, "alice");
	g = gen(f->st);
	inos(f, &i0);
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
	/* nothing was published for the refusals */
	inos(f, &i1);
	assert_memory_equal(&i0, &i1, sizeof(i0));
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

/* ---- the writer's lock, a store opened twice, a linked store --------- */

/*
 * The writer's lock: another writer (root's appuser, here stopped while
 * it holds it in the middle of a transaction) makes store_open(STORE_WRITE)
 * give up with BUSY after APPUSER_LOCK_WAIT_MS and store_busy_pid() name
 * it; logins (STORE_AUTH verify and touch) and NSS lookups meanwhile take
 * no lock and finish at once.
 */
static void
test_writer_busy(void **state)
{
	struct fx *f = *state;
	struct store *st = NULL;
	struct tok a;
	uint32_t uid = 0;
	int pfd[2], status;
	int64_t t0, ms;
	char c;
	pid_t pid;

	open_w(f);
	mint(f->st, &a, "alice", add(f->st, "alice"));
	close_st(f);
	assert_int_equal(pipe(pfd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (store_open(f->dir, STORE_WRITE, &st) != 0 ||
		    store_begin(st) != 0 || write(pfd[1], "x", 1) != 1)
			_exit(1);
		raise(SIGSTOP);
		/* cppcheck-suppress unreachableCode ; as above */
		_exit(0);
	}
	assert_int_equal(read(pfd[0], &c, 1), 1);
	t0 = fs_mono_ms();
	assert_int_equal(store_open(f->dir, STORE_AUTH, &f->st), 0);
	assert_int_equal(verify(f->st, "alice", a.str, "sshd", NULL,
	    time(NULL)), VERIFY_OK);
	assert_int_equal(store_token_touch(f->st, a.t.id, time(NULL), NULL,
	    "sshd", 200), 0);
	assert_int_equal(snap_uid(f, "alice", &uid), 0);
	assert_true(fs_mono_ms() - t0 < 1000);	/* issue 8: under 1 s */
	close_st(f);
	t0 = fs_mono_ms();
	assert_int_equal(store_open(f->dir, STORE_WRITE, &st),
	    APPUSER_ERR_BUSY);
	ms = fs_mono_ms() - t0;
	assert_null(st);
	assert_int_equal(store_busy_pid(), pid);
	assert_true(ms >= APPUSER_LOCK_WAIT_MS - 10 &&
	    ms < APPUSER_LOCK_WAIT_MS + 1000);
	/* the holder dies (its transaction with it): the lock is free */
	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	t0 = fs_mono_ms();
	open_w(f);
	assert_true(fs_mono_ms() - t0 < 1000);
	assert_int_equal(store_check(f->st, NULL, NULL), 0);
	close(pfd[0]);
	close(pfd[1]);
}

static void
test_open_twice(void **state)
{
	struct fx *f = *state;
	struct store *st2 = NULL;
	struct idview *v = NULL, *v2 = NULL;
	uint32_t uid = 0;

	struct tok k;
	int64_t t0;

	open_w(f);
	mint(f->st, &k, "alice", add(f->st, "alice"));
	/* a second writer in this process is refused at once (it would
	 * wait for itself); tdb opens the master once per process */
	t0 = fs_mono_ms();
	assert_int_equal(store_open(f->dir, STORE_WRITE, &st2), APPUSER_ERR_BUSY);
	assert_true(fs_mono_ms() - t0 < 1000);
	assert_int_equal(store_open(f->dir, STORE_READ, &st2), APPUSER_ERR_BUSY);
	assert_null(st2);
	/* PAM's handle never opens the master: it works beside the writer */
	assert_int_equal(store_open(f->dir, STORE_AUTH, &st2), 0);
	assert_int_equal(verify(st2, "alice", k.str, "sshd", NULL, time(NULL)),
	    VERIFY_OK);
	store_close(st2);
	st2 = NULL;
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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		fx_test(test_create),
		fx_test(test_aux),
		fx_test(test_create_umask),
		fx_test(test_unsafe),
		fx_test(test_nostore),
		fx_test(test_permission),
		fx_test(test_version),
		fx_test(test_users),
		fx_test(test_user_foreach),
		fx_test(test_id_alloc),
		fx_test(test_explicit_uid),
		fx_test(test_collision),
		fx_test(test_duplicate_and_invalid),
		fx_test(test_admin),
		fx_test(test_admin_group),
		fx_test(test_transactions),
		fx_test(test_writer_busy),
		fx_test(test_open_twice),
		fx_test(test_symlinked_store),
	};

	if (crypto_init() != 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
