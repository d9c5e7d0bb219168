/*
 * The store: opening, the writers' lock, transactions, the format-1
 * upgrade (design in store.h).  Record access, meta and walks are in
 * store_db.c, publishing the snapshot pairs in store_snap.c, the mutators
 * in store_user.c and store_token.c, the consistency check in
 * store_check.c.
 *
 * Nothing here prints: tdb gets a log function that discards everything.
 */
#include <sys/file.h>
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>
#include <tdb.h>

#include "fsutil.h"
#include "store_int.h"
#include "usage.h"

/* tdb gets a log function that discards everything: library code never
 * prints. */
static void nolog(struct tdb_context *, enum tdb_debug_level, const char *,
    ...) PRINTF_ATTRIBUTE(3, 4);

static void
nolog(struct tdb_context *tdb, enum tdb_debug_level level, const char *fmt,
    ...)
{
	(void)tdb;
	(void)level;
	(void)fmt;
}

static const struct tdb_logging_context appuser_tdb_nolog = { nolog, NULL };

/* Writers open in this process (flock does not exclude our own second
 * open file description: it would wait for itself). */
static pthread_mutex_t held_lock = PTHREAD_MUTEX_INITIALIZER;
static struct store *held;

static int
delta_push(struct store *st, struct delta *d, const char *name)
{
	size_t n = strlen(name) + 1;
	char *nbuf;

	if (n > d->cap - d->len) {
		size_t ncap = d->cap ? d->cap : 4096;

		while (n > ncap - d->len)
			ncap *= 2;
		if ((nbuf = realloc(d->buf, ncap)) == NULL)
			return txn_fail(st, APPUSER_ERR_NOMEM);
		d->buf = nbuf;
		d->cap = ncap;
	}
	memcpy(d->buf + d->len, name, n);
	d->len += n;
	d->n++;
	return 0;
}

int
delta_add(struct store *st, const char *name)
{
	st->identity_dirty = true;
	return delta_push(st, &st->delta, name);
}

int
tdelta_add(struct store *st, const char *id)
{
	st->tokens_dirty = true;
	return delta_push(st, &st->tdelta, id);
}

static void
txn_reset(struct store *st)
{
	st->in_txn = false;
	st->identity_dirty = false;
	st->tokens_dirty = false;
	st->meta_dirty = false;
	st->txn_err = 0;
	st->delta.len = 0;
	st->delta.n = 0;
	st->tdelta.len = 0;
	st->tdelta.n = 0;
}

int
store_begin(struct store *st)
{
	int r = APPUSER_ERR_INTERNAL;

	if (st == NULL || (st->flags & STORE_WRITE) == 0)
		return APPUSER_ERR_PERMISSION;
	if (st->in_txn)
		return APPUSER_ERR_INVALID;	/* no nesting */
	if (tdb_transaction_start(st->tdb) != 0)
		return db_err(st->tdb);
	if ((r = meta_load(st)) != 0 || (r = tgen_load(st)) != 0) {
		int e = errno;	/* the cause, for APPUSER_ERR_SYSTEM */

		tdb_transaction_cancel(st->tdb);
		errno = e;
		return r;
	}
	txn_reset(st);
	st->in_txn = true;
	st->gen0 = st->meta.generation;
	st->tgen0 = st->tgen;
	errno = 0;	/* a later SYSTEM error's errno is then its own */
	return 0;
}

/* Keeps errno: it is called after a failure whose cause errno holds. */
void
store_cancel(struct store *st)
{
	int e = errno;

	if (st == NULL || !st->in_txn)
		return;
	if (tdb_transaction_active(st->tdb))
		tdb_transaction_cancel(st->tdb);
	txn_reset(st);
	errno = e;
}

/*
 * Master meta and generations, then the new snapshot files (built before
 * the master commits, so a failure changes nothing), then the master
 * commit, then the renames.  A crash between the last two leaves the
 * published pairs one generation behind: the next writer rolls them
 * forward (snapfile.h, CRASH SAFETY).
 */
int
store_commit(struct store *st)
{
	bool publish;
	int r = APPUSER_ERR_INTERNAL;

	if (st == NULL || !st->in_txn)
		return APPUSER_ERR_INVALID;
	if ((r = st->txn_err) != 0)
		goto fail;
	if (st->meta_dirty)
		st->identity_dirty = true;	/* the snapshot carries meta */
	publish = st->identity_dirty || st->tokens_dirty;
	if (st->identity_dirty) {
		st->meta.generation = st->gen0 + 1;
		st->meta_dirty = true;
	}
	if (st->meta_dirty && (r = meta_flush(st)) != 0)
		goto fail;
	if (st->tokens_dirty) {
		st->tgen = st->tgen0 + 1;
		if ((r = tgen_flush(st)) != 0)
			goto fail;
	}
	if (publish && (r = snap_build(st)) != 0)
		goto fail;
	if (tdb_transaction_commit(st->tdb) != 0) {
		r = db_err(st->tdb);
		goto fail;
	}
	txn_reset(st);
	return publish ? snap_install(st) : 0;
 fail:
	store_cancel(st);
	snap_discard(st);
	return r;
}

int
txn_enter(struct store *st, bool *beganp)
{
	int r;

	*beganp = false;
	if (st == NULL || (st->flags & STORE_WRITE) == 0)
		return APPUSER_ERR_PERMISSION;
	if (st->in_txn)
		return st->txn_err;
	if ((r = store_begin(st)) != 0)
		return r;
	*beganp = true;
	return 0;
}

int
txn_leave(struct store *st, bool began, int r)
{
	if (!began)
		return r;
	if (r != 0) {
		store_cancel(st);
		return r;
	}
	return store_commit(st);
}

/* A write failed half-way: the transaction may only be cancelled now. */
int
txn_fail(struct store *st, int r)
{
	if (st->in_txn && st->txn_err == 0)
		st->txn_err = r;
	return r;
}

static int
held_add(struct store *st)
{
	struct store *s;
	int r = 0;

	pthread_mutex_lock(&held_lock);
	for (s = held; s != NULL; s = s->held_next)
		if (s->lock_dev == st->lock_dev && s->lock_ino == st->lock_ino)
			r = APPUSER_ERR_BUSY;
	if (r == 0) {
		st->held_next = held;
		held = st;
	}
	pthread_mutex_unlock(&held_lock);
	return r;
}

static void
held_del(struct store *st)
{
	struct store **pp;

	pthread_mutex_lock(&held_lock);
	for (pp = &held; *pp != NULL; pp = &(*pp)->held_next) {
		if (*pp == st) {
			*pp = st->held_next;
			break;
		}
	}
	pthread_mutex_unlock(&held_lock);
}

static int
tdb_open_errno(int e)
{
	if (e == EBUSY)
		return APPUSER_ERR_BUSY;	/* already open in this process */
	if (e == EIO || e == EINVAL)
		return APPUSER_ERR_CORRUPT;	/* not a tdb / bad header */
	if (e == ELOOP)
		return APPUSER_ERR_UNSAFE;	/* a symlink */
	return fs_errno(e, APPUSER_ERR_NOSTORE);
}

static int
store_alloc(const char *dir, int flags, struct store **stp)
{
	struct store *st;

	if ((st = calloc(1, sizeof(*st))) == NULL)
		return APPUSER_ERR_NOMEM;
	st->flags = flags;
	st->lockfd = -1;
	st->usagefd = -1;
	if ((st->dir = strdup(dir)) == NULL ||
	    (st->master_path = fs_join(dir, APPUSER_MASTER_FILE)) == NULL) {
		store_close(st);
		return APPUSER_ERR_NOMEM;
	}
	*stp = st;
	return 0;
}

/* Who holds the lock (0 if nobody now, or unknown). */
static pid_t
lock_holder(int fd)
{
	struct flock fl;

	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	if (fcntl(fd, F_GETLK, &fl) == -1 || fl.l_type == F_UNLCK)
		return 0;
	return fl.l_pid;
}

static pid_t appuser_busy_pid;	/* see store_busy_pid() */

pid_t
store_busy_pid(void)
{
	return appuser_busy_pid;
}

/*
 * A POSIX write lock on the whole lock file (F_SETLK, never a blocking
 * wait in the kernel), retried with a growing pause until
 * APPUSER_LOCK_WAIT_MS.  POSIX locks, not flock: F_GETLK names the holder.
 * Only root's `appuser` can open the file (0600), so only it can hold the
 * lock; the wait is bounded even so.
 */
static int
lock_wait(struct store *st)
{
	struct timespec pause = { 0, 1000000L };
	int64_t deadline = fs_mono_ms() + APPUSER_LOCK_WAIT_MS;
	struct flock fl;

	appuser_busy_pid = 0;
	for (;;) {
		memset(&fl, 0, sizeof(fl));
		fl.l_type = F_WRLCK;
		fl.l_whence = SEEK_SET;
		if (fcntl(st->lockfd, F_SETLK, &fl) == 0)
			return 0;
		if (errno != EACCES && errno != EAGAIN && errno != EINTR)
			return fs_errno(errno, APPUSER_ERR_SYSTEM);
		if (fs_mono_ms() >= deadline) {
			appuser_busy_pid = lock_holder(st->lockfd);
			return APPUSER_ERR_BUSY;
		}
		nanosleep(&pause, NULL);
		if (pause.tv_nsec < 50000000L)
			pause.tv_nsec *= 2;
	}
}

/* The lock file: ours, 0600, and held exclusively until store_close. */
static int
lock_open(struct store *st)
{
	struct stat sb;
	char *path;
	int r = APPUSER_ERR_INTERNAL;

	if ((path = fs_join(st->dir, APPUSER_LOCK_FILE)) == NULL)
		return APPUSER_ERR_NOMEM;
	st->lockfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
	    0600);
	free(path);
	if (st->lockfd == -1)
		return errno == ELOOP ? APPUSER_ERR_UNSAFE :
		    fs_errno(errno, APPUSER_ERR_SYSTEM);
	if (fstat(st->lockfd, &sb) == -1)
		return fs_errno(errno, APPUSER_ERR_SYSTEM);
	if (!S_ISREG(sb.st_mode) || sb.st_uid != st->owner)
		return APPUSER_ERR_UNSAFE;
	if ((sb.st_mode & 07777) != 0600 && fchmod(st->lockfd, 0600) == -1)
		return fs_errno(errno, APPUSER_ERR_SYSTEM);
	st->lock_dev = sb.st_dev;
	st->lock_ino = sb.st_ino;
	if ((r = held_add(st)) != 0) {
		close(st->lockfd);
		st->lockfd = -1;
		return r;
	}
	return lock_wait(st);
}

/* Create the master file if missing; *createdp if it is new (or empty,
 * left by a writer that died before initialising it). */
static int
master_create(struct store *st, bool *createdp)
{
	struct stat sb;
	int fd;

	*createdp = false;
	fd = open(st->master_path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600);
	if (fd != -1) {
		*createdp = true;
		if (fchmod(fd, 0600) == -1) {
			close(fd);
			return fs_errno(errno, APPUSER_ERR_SYSTEM);
		}
		close(fd);
		return 0;
	}
	if (errno != EEXIST)
		return fs_errno(errno, APPUSER_ERR_SYSTEM);
	if (lstat(st->master_path, &sb) == -1)
		return fs_errno(errno, APPUSER_ERR_SYSTEM);
	*createdp = S_ISREG(sb.st_mode) && sb.st_size == 0;
	return 0;
}

static int
master_open(struct store *st, bool create)
{
	int oflags = O_RDWR | O_CLOEXEC | O_NOFOLLOW | (create ? O_CREAT : 0);

	st->tdb = tdb_open_ex(st->master_path, MASTER_HASH_SIZE,
	    MASTER_TDB_FLAGS, oflags, 0600, &appuser_tdb_nolog, NULL);
	if (st->tdb == NULL)
		return tdb_open_errno(errno);
	/*
	 * tdb_open_ex turns on TDB_NOSYNC when TDB_NO_FSYNC is in the
	 * environment, which the caller of a setuid sudo or su controls: the
	 * master's durability must not depend on it.
	 */
	tdb_remove_flags(st->tdb, TDB_NOSYNC);
	return fs_check_file(tdb_fd(st->tdb), st->owner, 0600);
}

/* A new master's settings, in one transaction. */
static int
master_init(struct store *st)
{
	struct meta m;
	int r = APPUSER_ERR_INTERNAL;

	memset(&m, 0, sizeof(m));
	m.format = STORE_FORMAT_VERSION;
	m.uid_min = APPUSER_DEFAULT_UID_MIN;
	m.uid_max = APPUSER_DEFAULT_UID_MAX;
	m.next_uid = m.uid_min + 1;
	m.admin_group = APPUSER_DEFAULT_ADMIN_GROUP;
	m.admin_gid = m.uid_min;
	errno = 0;	/* a later SYSTEM error's errno is then its own */
	if (tdb_transaction_start(st->tdb) != 0)
		return db_err(st->tdb);
	if ((r = meta_set(st, &m)) != 0 || (r = meta_flush(st)) != 0) {
		int e = errno;	/* ENOSPC... for APPUSER_ERR_SYSTEM */

		tdb_transaction_cancel(st->tdb);
		errno = e;
		return r;
	}
	if (tdb_transaction_commit(st->tdb) != 0)
		return db_err(st->tdb);
	st->meta_dirty = false;
	return 0;
}

/* Meta of the master; initialise a master that has no record at all. */
static int
master_meta(struct store *st)
{
	TDB_DATA k = { (unsigned char *)KEY_META, KEY_META_LEN }, first;

	if (tdb_exists(st->tdb, k))
		return meta_load(st);
	first = tdb_firstkey(st->tdb);
	if (first.dptr != NULL) {
		free(first.dptr);
		return APPUSER_ERR_CORRUPT;	/* records but no meta */
	}
	return master_init(st);
}

static int
unlink_in(const char *dir, const char *name)
{
	char *path;
	int r = 0;

	if ((path = fs_join(dir, name)) == NULL)
		return APPUSER_ERR_NOMEM;
	if (unlink(path) == -1 && errno != ENOENT)
		r = fs_errno(errno, APPUSER_ERR_SYSTEM);
	free(path);
	return r;
}

/* Token ids of a format-1 store, collected by a read-only walk: a
 * traversal may not write, so the slots are given afterwards. */
struct idlist {
	char		*ids;		/* TOKEN_ID_LEN each */
	size_t		 n;
	size_t		 cap;
};

static int
upgrade_collect(TDB_DATA key, TDB_DATA data, void *arg)
{
	struct idlist *l = arg;
	char *p;

	(void)data;
	if (key.dsize != 1 + TOKEN_ID_LEN)
		return APPUSER_ERR_CORRUPT;
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 64;
		if ((p = realloc(l->ids, l->cap * TOKEN_ID_LEN)) == NULL)
			return APPUSER_ERR_NOMEM;
		l->ids = p;
	}
	memcpy(l->ids + l->n++ * TOKEN_ID_LEN, key.dptr + 1, TOKEN_ID_LEN);
	return 0;
}

/* Give a format-1 token a usage slot (format 2). */
static int
upgrade_token(struct store *st, const char *idp)
{
	char id[TOKEN_ID_LEN + 1];
	uint8_t *buf = NULL;
	struct token t;
	struct key k;
	TDB_DATA d;
	size_t len;
	int r;

	memcpy(id, idp, TOKEN_ID_LEN);
	id[TOKEN_ID_LEN] = '\0';
	key_token(&k, id);
	if ((r = db_fetch(st, &k, &d)) != 0)
		return r;
	if ((r = record_decode_token(d.dptr, d.dsize, &t)) != 0) {
		free(d.dptr);
		return r == APPUSER_ERR_VERSION ? r : APPUSER_ERR_CORRUPT;
	}
	if (t.usage_slot == 0 && (r = slot_alloc(st, &t.usage_slot)) != 0)
		goto out;
	if ((r = record_encode_token(&t, &buf, &len)) != 0)
		goto out;
	r = db_store(st, &k, buf, len, TDB_REPLACE);
 out:
	free(buf);
	token_clear(&t);
	free(d.dptr);		/* t's strings pointed into it */
	return r;
}

/*
 * A store written by format 1 (identity.tdb, token records without a
 * usage slot): give every token a slot and mark the store format 2, in one
 * transaction; the roll forward that follows publishes the snapshot files.
 */
static int
upgrade(struct store *st)
{
	struct idlist l = { NULL, 0, 0 };
	struct meta m;
	size_t i;
	int r;

	if (st->meta.format >= STORE_FORMAT_VERSION)
		return 0;
	if (tdb_transaction_start(st->tdb) != 0)
		return db_err(st->tdb);
	if ((r = db_walk(st, KEY_TOKEN, upgrade_collect, &l)) != 0)
		goto fail;
	for (i = 0; i < l.n; i++)
		if ((r = upgrade_token(st, l.ids + i * TOKEN_ID_LEN)) != 0)
			goto fail;
	free(l.ids);
	l.ids = NULL;
	m = st->meta;
	m.format = STORE_FORMAT_VERSION;
	if ((r = meta_set(st, &m)) != 0 || (r = meta_flush(st)) != 0)
		goto fail;
	if (tdb_transaction_commit(st->tdb) != 0)
		return db_err(st->tdb);
	st->meta_dirty = false;
	return 0;
 fail:
	free(l.ids);
	tdb_transaction_cancel(st->tdb);
	return r;
}

static int
open_writer(struct store *st)
{
	bool created, repaired;
	int r = APPUSER_ERR_INTERNAL;

	r = fs_check_dir(st->dir, &st->owner);
	if (r == APPUSER_ERR_NOSTORE) {
		if ((r = fs_mkdir(st->dir, 0755)) != 0)
			return r;
		r = fs_check_dir(st->dir, &st->owner);
	}
	if (r != 0)
		return r;
	if (geteuid() != st->owner)
		return APPUSER_ERR_PERMISSION;
	if ((r = lock_open(st)) != 0 ||
	    (r = fs_remove_prefixed(st->dir, SNAP_TMP_PREFIX)) != 0 ||
	    (r = master_create(st, &created)) != 0)
		return r;
	if ((r = master_open(st, created)) != 0) {
		if (created && r != APPUSER_ERR_BUSY)
			unlink(st->master_path);
		return r;
	}
	if ((r = master_meta(st)) != 0 || (r = upgrade(st)) != 0 ||
	    (r = usage_create(st->dir)) != 0 ||
	    (r = snap_roll_forward(st, &repaired)) != 0)
		return r;
	/* format 1's snapshot: no reader of this version opens it */
	(void)unlink_in(st->dir, APPUSER_OLD_IDENTITY);
	return 0;
}

static int
open_reader(struct store *st)
{
	int r = APPUSER_ERR_INTERNAL;

	if ((r = fs_check_dir(st->dir, &st->owner)) != 0 ||
	    (r = master_open(st, false)) != 0)
		return r;
	return meta_load(st);
}

int
store_views_open(struct store *st)
{
	int r;

	if (st->views)
		return 0;
	if ((r = snapset_open(st->dir, SNAP_KIND_IDENTITY, st->owner,
	    snap_kind_forbid(KIND_IDENTITY), &st->ids)) != 0)
		return r;
	if ((r = snapset_open(st->dir, SNAP_KIND_TOKENS, st->owner,
	    snap_kind_forbid(KIND_TOKENS), &st->toks)) != 0) {
		snapset_close(&st->ids);
		return r;
	}
	st->views = true;
	return 0;
}

void
store_views_close(struct store *st)
{
	snapset_close(&st->ids);
	snapset_close(&st->toks);
	st->views = false;
}

/*
 * PAM: the snapshots only, no lock, no master (snapfile.h says why).  The
 * usage file is optional: without it logins work, unrecorded.
 */
static int
open_auth(struct store *st)
{
	int r;

	if ((r = fs_check_dir(st->dir, &st->owner)) != 0)
		return r;
	if ((r = store_views_open(st)) != 0)
		return r;
	if ((r = meta_load(st)) != 0)
		return r;
	if (usage_open(st->dir, st->owner, true, &st->usagefd) != 0)
		st->usagefd = -1;
	return 0;
}

int
store_open(const char *dir, int flags, struct store **stp)
{
	struct store *st = NULL;
	int r = APPUSER_ERR_INTERNAL;

	if (dir == NULL)
		dir = appuser_default_store_dir();
	if (flags != STORE_READ && flags != STORE_WRITE && flags != STORE_AUTH)
		return APPUSER_ERR_INVALID;
	if ((r = store_alloc(dir, flags, &st)) != 0)
		return r;
	if (flags == STORE_WRITE)
		r = open_writer(st);
	else if (flags == STORE_AUTH)
		r = open_auth(st);
	else
		r = open_reader(st);
	if (r != 0)
		goto out;
	*stp = st;
	st = NULL;
 out:
	store_close(st);
	return r;
}

void
store_close(struct store *st)
{
	int e = errno;	/* callers report an earlier failure after this */

	if (st == NULL)
		return;
	store_cancel(st);
	if (st->tdb != NULL)
		tdb_close(st->tdb);
	store_views_close(st);
	if (st->usagefd != -1)
		close(st->usagefd);
	snap_discard(st);
	if (st->lockfd != -1) {
		held_del(st);
		close(st->lockfd);	/* drops the flock */
	}
	sodium_memzero(&st->verified, sizeof(st->verified));
	meta_clear(&st->meta);
	free(st->metabuf);
	free(st->delta.buf);
	free(st->tdelta.buf);
	free(st->dir);
	free(st->master_path);
	free(st);
	errno = e;
}

const char *
appuser_default_store_dir(void)
{
	const char *d;

	/* secure_getenv: a setuid caller never takes the path from the user */
	d = secure_getenv(APPUSER_STORE_ENV);
	if (d != NULL && d[0] == '/')
		return d;
	return APPUSER_DEFAULT_STORE;
}

const char *
store_dir(const struct store *st)
{
	return st->dir;
}

int
store_get_meta(struct store *st, struct meta *mp)
{
	int r;

	if (!st->in_txn && st->tdb != NULL && (r = meta_load(st)) != 0)
		return r;
	*mp = st->meta;
	return 0;
}

void
store_set_collision_check(struct store *st, collision_fn fn, void *arg)
{
	st->collide = fn;
	st->collide_arg = arg;
}
