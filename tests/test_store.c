/*
 * Unit tests of the store (store.h): creation, users, ids, tokens,
 * verification, bookkeeping (the usage file), transactions, the snapshot
 * pairs (snapfile.h), check, roll-forward, the format-1 upgrade.  Each
 * test runs in a fresh mkdtemp directory, removed afterwards.
 */
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
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
#include "gencount.h"
#include "names.h"
#include "record.h"
#include "snapfile.h"
#include "store.h"
#include "token.h"
#include "usage.h"

#include "store_fixture.h"

#define UMIN	APPUSER_DEFAULT_UID_MIN

struct fx {
	char		 base[64];
	char		 dir[128];
	char		 master[160];
	char		 ident[160];	/* identity.snap */
	char		 idelta[160];	/* identity.delta */
	char		 toks[160];	/* tokens.snap */
	char		 tdelta[160];	/* tokens.delta */
	char		 usage[160];
	char		 lock[160];
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
	snprintf(f->master, sizeof(f->master), "%s/%s", f->dir,
	    APPUSER_MASTER_FILE);
	snprintf(f->ident, sizeof(f->ident), "%s/%s", f->dir,
	    APPUSER_IDENTITY_FILE);
	snprintf(f->idelta, sizeof(f->idelta), "%s/%s", f->dir,
	    APPUSER_IDENTITY_DELTA);
	snprintf(f->toks, sizeof(f->toks), "%s/%s", f->dir,
	    APPUSER_TOKENS_FILE);
	snprintf(f->tdelta, sizeof(f->tdelta), "%s/%s", f->dir,
	    APPUSER_TOKENS_DELTA);
	snprintf(f->usage, sizeof(f->usage), "%s/%s", f->dir,
	    APPUSER_USAGE_FILE);
	snprintf(f->lock, sizeof(f->lock), "%s/%s", f->dir, APPUSER_LOCK_FILE);
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
	assert_int_equal(fx_copy_file(from, to, mode_of(from)), 0);
}

/* One published snapshot file as its header describes it. */
struct sinfo {
	uint64_t	 gen;
	uint64_t	 base_gen;
	uint32_t	 count;
	bool		 delta;
	ino_t		 ino;
};

static void
sinfo(const char *path, int kind, struct sinfo *si)
{
	struct snapr *r = NULL;

	assert_int_equal(snapr_open(path, kind, geteuid(), 0, &r), 0);
	si->gen = snapr_generation(r);
	si->base_gen = snapr_base_gen(r);
	si->count = snapr_count(r);
	si->delta = snapr_is_delta(r);
	si->ino = snapr_ino(r);
	snapr_close(r);
}

/*
 * The four published snapshot files, each as inode and generation: a file
 * that was not replaced keeps both (an inode number alone could come back
 * for a new file once the old one is gone).
 */
struct pub {
	ino_t		 ino;
	uint64_t	 gen;
};

struct inos {
	struct pub	 ident;
	struct pub	 idelta;
	struct pub	 toks;
	struct pub	 tdelta;
};

static void
pub_of(const char *path, int kind, struct pub *p)
{
	struct sinfo si;

	sinfo(path, kind, &si);
	memset(p, 0, sizeof(*p));
	p->ino = si.ino;
	p->gen = si.gen;
}

static void
inos(struct fx *f, struct inos *i)
{
	pub_of(f->ident, SNAP_KIND_IDENTITY, &i->ident);
	pub_of(f->idelta, SNAP_KIND_IDENTITY, &i->idelta);
	pub_of(f->toks, SNAP_KIND_TOKENS, &i->toks);
	pub_of(f->tdelta, SNAP_KIND_TOKENS, &i->tdelta);
}

/* A token's usage slot (from the master). */
static uint32_t
slot_of(struct store *st, const char *id)
{
	struct token *t = NULL;
	uint32_t s;

	assert_int_equal(store_token_get(st, id, &t), 0);
	s = t->usage_slot;
	token_free(t);
	return s;
}

static int64_t
last_used(struct store *st, const char *id)
{
	struct token *t = NULL;
	int64_t v;

	assert_int_equal(store_token_get(st, id, &t), 0);
	v = t->last_used_time;
	token_free(t);
	return v;
}

static int64_t
expiry_of(struct store *st, const char *id)
{
	struct token *t = NULL;
	int64_t v;

	assert_int_equal(store_token_get(st, id, &t), 0);
	v = t->expiry_time;
	token_free(t);
	return v;
}

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- creation, safety ------------------------------------------------- */

static void
test_create(void **state)
{
	struct fx *f = *state;
	struct sinfo si;
	struct meta m;

	open_w(f);
	assert_int_equal(mode_of(f->dir), 0755);
	assert_int_equal(mode_of(f->master), 0600);
	assert_int_equal(mode_of(f->ident), 0644);
	assert_int_equal(mode_of(f->idelta), 0644);
	assert_int_equal(mode_of(f->toks), 0600);
	assert_int_equal(mode_of(f->tdelta), 0600);
	assert_int_equal(mode_of(f->usage), 0600);
	assert_int_equal(mode_of(f->lock), 0600);
	assert_int_equal(mode_of(f->gen), 0644);
	assert_int_equal(size_of(f->gen), GEN_FILE_SIZE);
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
	assert_int_equal(mode_of(f->dir), 0755);
	assert_int_equal(mode_of(f->master), 0600);
	assert_int_equal(mode_of(f->ident), 0644);
	assert_int_equal(mode_of(f->idelta), 0644);
	assert_int_equal(mode_of(f->toks), 0600);
	assert_int_equal(mode_of(f->tdelta), 0600);
	assert_int_equal(mode_of(f->usage), 0600);
	assert_int_equal(mode_of(f->lock), 0600);
	assert_int_equal(mode_of(f->gen), 0644);
	/* and a reader who is not root could use them */
	assert_int_equal(snap_uid(f, "alice", &uid), 0);
	assert_int_equal(uid, UMIN + 1);
}

static void
test_unsafe(void **state)
{
	struct fx *f = *state;
	struct store *st = NULL;

	struct idview *v = NULL;

	open_w(f);
	close_st(f);
	assert_int_equal(chmod(f->dir, 0777), 0);
	assert_int_equal(store_open(f->dir, STORE_WRITE, &st), APPUSER_ERR_UNSAFE);
	assert_int_equal(store_open(f->dir, STORE_READ, &st), APPUSER_ERR_UNSAFE);
	assert_int_equal(store_open(f->dir, STORE_AUTH, &st), APPUSER_ERR_UNSAFE);
	assert_int_equal(idview_open(f->dir, &v), APPUSER_ERR_UNSAFE);
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
	/* PAM reads no token file others could read, nor an identity file
	 * others could write */
	assert_int_equal(chmod(f->toks, 0640), 0);
	assert_int_equal(store_open(f->dir, STORE_AUTH, &st), APPUSER_ERR_UNSAFE);
	assert_int_equal(chmod(f->toks, 0600), 0);
	assert_int_equal(chmod(f->tdelta, 0604), 0);
	assert_int_equal(store_open(f->dir, STORE_AUTH, &st), APPUSER_ERR_UNSAFE);
	assert_int_equal(chmod(f->tdelta, 0600), 0);
	assert_int_equal(chmod(f->idelta, 0664), 0);
	assert_int_equal(store_open(f->dir, STORE_AUTH, &st), APPUSER_ERR_UNSAFE);
	assert_int_equal(idview_open(f->dir, &v), APPUSER_ERR_UNSAFE);
	assert_int_equal(chmod(f->idelta, 0644), 0);
	assert_null(st);
	assert_null(v);
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

/* n users named prefix0.. in one commit. */
static void
add_bulk(struct store *st, const char *prefix, int n)
{
	char name[24];
	int i;

	assert_int_equal(store_begin(st), 0);
	for (i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "%s%d", prefix, i);
		add(st, name);
	}
	assert_int_equal(store_commit(st), 0);
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
	assert_int_not_equal(slot_of(f->st, aid), 0);
	assert_int_not_equal(slot_of(f->st, aid), slot_of(f->st, b.t.id));
	assert_int_not_equal(slot_of(f->st, b.t.id), slot_of(f->st, c.t.id));
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
	assert_int_not_equal(t->usage_slot, slot_of(f->st, o.t.id));
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
	assert_int_equal(expiry_of(f->st, o.t.id), now + 600);
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

/* What rotation refuses changes nothing; a clash of ids can be retried
 * inside the caller's transaction. */
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
	mint(NULL, &a, "alice", au);
	a.t.max_age_seconds = 3600;
	a.t.extend_when_used = true;
	a.t.expiry_time = now + 3600;
	assert_int_equal(store_token_add(f->st, &a.t), 0);
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
	assert_int_equal(expiry_of(f->st, a.t.id), 0);
	assert_int_equal(store_token_rotate(f->st, "alice", a.t.id, n.t.id,
	    n.t.verifier, now, 60), 0);
	store_cancel(f->st);
	/* cancelled: neither half happened */
	assert_int_equal(expiry_of(f->st, a.t.id), 0);
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
	assert_int_equal(last_used(f->st, a.t.id), now + 6);
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
	sa = slot_of(f->st, a.t.id);
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
	t0 = mono_ms();
	assert_int_equal(verify(f->st, "alice", a.str, "sshd", NULL,
	    time(NULL)), VERIFY_OK);
	assert_true(mono_ms() - t0 < 500);
	t0 = mono_ms();
	assert_int_equal(store_token_touch(f->st, a.t.id, time(NULL), NULL,
	    "sshd", 200), APPUSER_ERR_BUSY);
	ms = mono_ms() - t0;
	assert_true(ms >= 190 && ms < 1000);
	/* the neighbouring slot is free */
	assert_int_equal(verify(f->st, "alice", b.str, "sshd", NULL,
	    time(NULL)), VERIFY_OK);
	t0 = mono_ms();
	assert_int_equal(store_token_touch(f->st, b.t.id, time(NULL), NULL,
	    "sshd", 200), 0);
	assert_true(mono_ms() - t0 < 150);
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
	t0 = mono_ms();
	assert_int_equal(store_token_touch(f->st, a.t.id, time(NULL), NULL,
	    "sshd", 50), APPUSER_ERR_BUSY);
	assert_true(mono_ms() - t0 >= 45);
	close(fd);
	close(pfd[0]);
	close(pfd[1]);
}

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
	t0 = mono_ms();
	assert_int_equal(store_open(f->dir, STORE_AUTH, &f->st), 0);
	assert_int_equal(verify(f->st, "alice", a.str, "sshd", NULL,
	    time(NULL)), VERIFY_OK);
	assert_int_equal(store_token_touch(f->st, a.t.id, time(NULL), NULL,
	    "sshd", 200), 0);
	assert_int_equal(snap_uid(f, "alice", &uid), 0);
	assert_true(mono_ms() - t0 < 1000);	/* issue 8: under 1 s */
	close_st(f);
	t0 = mono_ms();
	assert_int_equal(store_open(f->dir, STORE_WRITE, &st),
	    APPUSER_ERR_BUSY);
	ms = mono_ms() - t0;
	assert_null(st);
	assert_int_equal(store_busy_pid(), pid);
	assert_true(ms >= APPUSER_LOCK_WAIT_MS - 10 &&
	    ms < APPUSER_LOCK_WAIT_MS + 1000);
	/* the holder dies (its transaction with it): the lock is free */
	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	t0 = mono_ms();
	open_w(f);
	assert_true(mono_ms() - t0 < 1000);
	assert_int_equal(store_check(f->st, NULL, NULL), 0);
	close(pfd[0]);
	close(pfd[1]);
}

/* The whole of path, malloc'd, in *bufp; its size is returned. */
static size_t
slurp(const char *path, char **bufp)
{
	struct stat sb;
	char *buf;
	int fd;

	assert_int_equal(stat(path, &sb), 0);
	buf = malloc(sb.st_size + 1);
	assert_non_null(buf);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, buf, sb.st_size), sb.st_size);
	close(fd);
	*bufp = buf;
	return (size_t)sb.st_size;
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
	mint(NULL, &a, "alice", au);
	a.t.max_age_seconds = 3600;
	a.t.extend_when_used = true;
	a.t.expiry_time = now + 100;
	assert_int_equal(store_token_add(f->st, &a.t), 0);
	mint(f->st, &b, "alice", au);
	sa = slot_of(f->st, a.t.id);
	sb = slot_of(f->st, b.t.id);
	assert_int_not_equal(sa, 0);
	assert_int_not_equal(sb, 0);
	assert_int_not_equal(sa, sb);
	reopen(f, STORE_AUTH);
	assert_int_equal(verify(f->st, "alice", a.str, "sshd", NULL, now), 0);
	assert_int_equal(store_token_touch(f->st, a.t.id, now, "192.0.2.1",
	    "sshd", 1000), 0);
	assert_int_equal(last_used(f->st, a.t.id), now);
	assert_int_equal(expiry_of(f->st, a.t.id), now + 3600);
	/* torn: never used, and the sliding extension is lost (expires
	 * sooner: safe) */
	write_slot(f, sa, a.t.id, now + 10, now + 10 + 3600, true);
	assert_int_equal(last_used(f->st, a.t.id), 0);
	assert_int_equal(expiry_of(f->st, a.t.id), now + 100);
	assert_int_equal(verify(f->st, "alice", a.str, "sshd", NULL, now + 200),
	    VERIFY_EXPIRED);
	/* cut short (a file truncated inside the slot): the same */
	assert_int_equal(truncate(f->usage, (off_t)sa * USAGE_SLOT_SIZE + 60),
	    0);
	assert_int_equal(last_used(f->st, a.t.id), 0);
	/* the next login writes it whole again */
	assert_int_equal(verify(f->st, "alice", a.str, "sshd", NULL, now), 0);
	assert_int_equal(store_token_touch(f->st, a.t.id, now + 1, NULL,
	    "sshd", 1000), 0);
	assert_int_equal(last_used(f->st, a.t.id), now + 1);
	/* another token's data in the slot: not ours */
	write_slot(f, sa, b.t.id, now + 20, now + 20 + 3600, false);
	assert_int_equal(last_used(f->st, a.t.id), 0);
	/* forged: an expiry beyond max_age from the last use is ignored,
	 * and a token without a sliding expiry gets none */
	write_slot(f, sa, a.t.id, now + 30, now + 30 + 10 * 3600, false);
	assert_int_equal(last_used(f->st, a.t.id), now + 30);
	assert_int_equal(expiry_of(f->st, a.t.id), now + 100);
	write_slot(f, sb, b.t.id, now + 30, now + 3600, false);
	assert_int_equal(expiry_of(f->st, b.t.id), 0);
	/* a slot past the end of the file: never used */
	assert_int_equal(truncate(f->usage, (off_t)sa * USAGE_SLOT_SIZE), 0);
	assert_int_equal(last_used(f->st, a.t.id), 0);
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
	assert_true(slot_of(f->st, d.t.id) == sa ||
	    slot_of(f->st, d.t.id) == sb);
	assert_int_equal(last_used(f->st, d.t.id), 0);
	reopen(f, STORE_AUTH);
	assert_int_equal(verify(f->st, "alice", a.str, "sshd", NULL, now),
	    VERIFY_NO_USER);
	assert_int_equal(verify(f->st, "dave", d.str, "sshd", NULL, now), 0);
	assert_int_equal(store_token_touch(f->st, d.t.id, now + 60, NULL,
	    "sshd", 1000), 0);
	assert_int_equal(last_used(f->st, d.t.id), now + 60);
	close_st(f);
	/* no usage file, or one that is not as the writer leaves it: logins
	 * work, unrecorded; the next writer puts it back */
	assert_int_equal(unlink(f->usage), 0);
	assert_int_equal(store_open(f->dir, STORE_AUTH, &f->st), 0);
	assert_int_equal(verify(f->st, "dave", d.str, "sshd", NULL, now), 0);
	assert_int_not_equal(store_token_touch(f->st, d.t.id, now + 70, NULL,
	    "sshd", 1000), 0);
	assert_int_equal(last_used(f->st, d.t.id), 0);
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

/* ---- format 1 --------------------------------------------------------- */

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
	assert_int_equal(slot_of(f->st, a.t.id), 0);
	assert_int_equal(last_used(f->st, a.t.id), now - 100);
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
	assert_int_equal(last_used(f->st, a.t.id), now - 100);
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
	assert_int_equal(last_used(f->st, a.t.id), now);
}

/* ---- check, open twice, roll-forward ---------------------------------- */

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
	t0 = mono_ms();
	assert_int_equal(store_open(f->dir, STORE_WRITE, &st2), APPUSER_ERR_BUSY);
	assert_true(mono_ms() - t0 < 1000);
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
	assert_int_equal(size_of(f->gen), GEN_FILE_SIZE);

	/* a directory in the way: writes still work, check says so */
	assert_int_equal(unlink(f->gen), 0);
	assert_int_equal(mkdir(f->gen, 0755), 0);
	open_w(f);
	add(f->st, "bob");
	close_st(f);
	check_reports(f, "identity.gen: not a regular file");
}

/*
 * Close-on-exec.  Every open() the library makes below the store while
 * watch_dir is set must pass O_CLOEXEC (so that no thread's fork + exec
 * can inherit it in between), except libtdb's of the master, which sets
 * FD_CLOEXEC right after (and only root's appuser opens the master); and
 * every descriptor below the store seen at any moment is close-on-exec.
 * The open interposers are named with asm labels: the fortified headers
 * define open() inline.
 */
static const char *watch_dir;
static const char *watch_skip;		/* the master's path */
static int opens_seen, opens_bad;
static char bad_open[PATH_MAX];

static void
note_open(const char *path, int flags)
{
	size_t n;

	if (watch_dir == NULL || path == NULL)
		return;
	n = strlen(watch_dir);
	if (strncmp(path, watch_dir, n) != 0 ||
	    (path[n] != '/' && path[n] != '\0'))
		return;
	opens_seen++;
	if ((flags & O_CLOEXEC) == 0 && strcmp(path, watch_skip) != 0) {
		opens_bad++;
		snprintf(bad_open, sizeof(bad_open), "%s", path);
	}
}

typedef int (*open_fn)(const char *, int, ...);

#define OPEN_INTERPOSER(fname, sym)					\
int fname(const char *path, int flags, ...) __asm__(sym);		\
int									\
fname(const char *path, int flags, ...)					\
{									\
	open_fn real = (open_fn)dlsym(RTLD_NEXT, sym);			\
	mode_t mode = 0;						\
	va_list ap;							\
									\
	if ((flags & O_CREAT) != 0 || (flags & O_TMPFILE) == O_TMPFILE) { \
		va_start(ap, flags);					\
		mode = va_arg(ap, mode_t);				\
		va_end(ap);						\
	}								\
	note_open(path, flags);						\
	return real(path, flags, mode);					\
}

OPEN_INTERPOSER(ip_open, "open")
OPEN_INTERPOSER(ip_open64, "open64")

int ip_open_2(const char *path, int flags) __asm__("__open_2");
int
ip_open_2(const char *path, int flags)
{
	int (*real)(const char *, int) =
	    (int (*)(const char *, int))dlsym(RTLD_NEXT, "__open_2");

	note_open(path, flags);
	return real(path, flags);
}

int ip_open64_2(const char *path, int flags) __asm__("__open64_2");
int
ip_open64_2(const char *path, int flags)
{
	int (*real)(const char *, int) =
	    (int (*)(const char *, int))dlsym(RTLD_NEXT, "__open64_2");

	note_open(path, flags);
	return real(path, flags);
}

/* dup() never sets close-on-exec: the library must not call it on a
 * descriptor of the store (F_DUPFD_CLOEXEC does it at once). */
int
dup(int fd)
{
	int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "dup");
	char link[64], path[PATH_MAX];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	if (watch_dir != NULL &&
	    (n = readlink(link, path, sizeof(path) - 1)) > 0) {
		path[n] = '\0';
		note_open(path, 0);
	}
	return real(fd);
}

extern void (*appuser_snap_step_hook)(const char *step);
static int scans, scans_bad;

static void
scan_fds(void)
{
	int n = 0;

	scans++;
	if (fx_fds_without_cloexec(watch_dir, &n) != 0)
		scans_bad++;
}

static void
scan_step(const char *step)
{
	(void)step;
	scan_fds();
}

static int
scan_token(const struct token *t, void *arg)
{
	(void)t;
	(void)arg;
	scan_fds();
	return 0;
}

static void
test_cloexec(void **state)
{
	struct fx *f = *state;
	struct store *auth = NULL;
	struct idview *v = NULL;
	struct token *t = NULL;
	struct tok k;
	int n = 0;

	watch_dir = f->dir;
	watch_skip = f->master;
	opens_seen = opens_bad = scans = scans_bad = 0;
	appuser_snap_step_hook = scan_step;
	open_w(f);
	mint(f->st, &k, "alice", add(f->st, "alice"));
	add_bulk(f->st, "bulk", 2100);		/* a merge */
	assert_int_equal(store_token_revoke(f->st, "alice", k.t.id), 0);
	assert_int_equal(store_token_foreach(f->st, NULL, scan_token, NULL), 0);
	assert_int_equal(store_check(f->st, NULL, NULL), 0);
	assert_int_equal(store_open(f->dir, STORE_AUTH, &auth), 0);
	assert_int_equal(verify(auth, "alice", k.str, "sshd", NULL, time(NULL)),
	    VERIFY_REVOKED);
	assert_int_equal(store_token_get(auth, k.t.id, &t), 0);
	token_free(t);
	assert_int_equal(idview_open(f->dir, &v), 0);
	assert_int_equal(idview_refresh(v), 0);
	appuser_snap_step_hook = NULL;
	/* held now: the lock and the master (writer), the usage file (PAM) */
	assert_int_equal(fx_fds_without_cloexec(f->dir, &n), 0);
	assert_true(n >= 3);
	watch_dir = NULL;
	if (opens_bad != 0)
		fail_msg("%d of %d opens without O_CLOEXEC, e.g. %s", opens_bad,
		    opens_seen, bad_open);
	assert_true(opens_seen > 10);
	assert_true(scans > 5);
	assert_int_equal(scans_bad, 0);
	idview_close(v);
	store_close(auth);
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
 * The syncs a commit asks for, by file: the master's transaction, the new
 * snapshot file and the directory (after the renames) must all be synced,
 * whatever the environment says (libtdb honours TDB_NO_FSYNC, which a
 * user controls when running setuid sudo or su).
 */
static int sync_master, sync_snap, sync_dir;
static const char *sync_dir_path, *sync_master_path;

static void
note_sync(int fd)
{
	char link[64], path[PATH_MAX];
	ssize_t n;

	if (sync_dir_path == NULL)
		return;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	if ((n = readlink(link, path, sizeof(path) - 1)) <= 0)
		return;
	path[n] = '\0';
	if (strcmp(path, sync_master_path) == 0)
		sync_master++;
	else if (strcmp(path, sync_dir_path) == 0)
		sync_dir++;
	else if (strstr(path, "/tmp.tokens.delta.") != NULL)
		sync_snap++;
}

int
fdatasync(int fd)
{
	int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");

	note_sync(fd);
	return real(fd);
}

int
fsync(int fd)
{
	int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fsync");

	note_sync(fd);
	return real(fd);
}

int
msync(void *addr, size_t len, int flags)
{
	int (*real)(void *, size_t, int) =
	    (int (*)(void *, size_t, int))dlsym(RTLD_NEXT, "msync");

	if ((flags & MS_SYNC) != 0 && sync_dir_path != NULL)
		sync_master++;		/* only libtdb maps and msyncs */
	return real(addr, len, flags);
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
	sync_master_path = f->master;
	sync_dir_path = f->dir;
	sync_master = sync_snap = sync_dir = 0;
	mint(f->st, &k, "alice", uid);		/* master + token delta */
	sync_dir_path = NULL;
	unsetenv("TDB_NO_FSYNC");
	assert_true(sync_master > 0);
	assert_int_equal(sync_snap, 1);
	assert_int_equal(sync_dir, 1);
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
		cmocka_unit_test_setup_teardown(test_token_rotate, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_token_rotate_refused, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_token_shorten, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_delete_user_tokens, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_verify, setup, teardown),
		cmocka_unit_test_setup_teardown(test_touch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_touch_busy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_writer_busy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_secret_in_files, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_usage_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_auth_handle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_upgrade_format1, setup,
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
