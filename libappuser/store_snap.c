/*
 * Publishing identity.tdb, the world-readable snapshot of the users.
 *
 * A commit that changed identities builds the next snapshot in
 * identity.tdb.tmp.<pid>: a byte copy of the published file with the
 * transaction's delta applied when the published file is exactly one
 * generation behind (the normal case), else a full rebuild from the
 * master's U records.  The copy is fsync'd and renamed over the published
 * file after the master commits.  The published file itself is never
 * tdb_open'ed here: the NSS module in this process may have it open, and
 * tdb refuses a second open of one inode (EBUSY).
 *
 * After each rename (and the directory's fsync) the writer bumps the
 * counter in identity.gen, which readers map to notice a new snapshot
 * without a system call (see idview.c for why the order matters).
 */
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <tdb.h>

#include "fsutil.h"
#include "idview_int.h"
#include "store_int.h"

#define SNAP_TDB_FLAGS	(TDB_INCOMPATIBLE_HASH | TDB_NOLOCK | \
			 TDB_DISALLOW_NESTING)
#define DELTA_REBUILD	1024	/* a delta above this and n_users/4: rebuild */

static bool
is_prime(uint32_t n)
{
	uint32_t d;

	if (n < 2 || n % 2 == 0)
		return n == 2;
	for (d = 3; d <= n / d; d += 2)
		if (n % d == 0)
			return false;
	return true;
}

/* Hash size for a rebuilt snapshot: a prime near 2 * n, at least 1021. */
static int
snap_hash_size(uint64_t n_users)
{
	uint64_t want = n_users * 2;
	uint32_t h;

	if (want < SNAP_HASH_MIN)
		want = SNAP_HASH_MIN;
	if (want > SNAP_HASH_MAX)
		want = SNAP_HASH_MAX;
	for (h = (uint32_t)want; !is_prime(h); h++)
		;
	return (int)h;
}

static int
tmp_open(struct store *st, int hash_size, int oflags,
    struct tdb_context **tdbp)
{
	struct tdb_context *tdb;
	struct stat sb;

	tdb = tdb_open_ex(st->tmp_path, hash_size, SNAP_TDB_FLAGS,
	    O_RDWR | O_CLOEXEC | O_NOFOLLOW | oflags, 0600,
	    &appuser_tdb_nolog, NULL);
	if (tdb == NULL)
		return fs_errno(errno, APPUSER_ERR_SYSTEM);
	if (fstat(tdb_fd(tdb), &sb) == -1 ||
	    (uint64_t)sb.st_size < TDB_MIN_FILE_SIZE(tdb_hash_size(tdb))) {
		tdb_close(tdb);
		return APPUSER_ERR_CORRUPT;
	}
	*tdbp = tdb;
	return 0;
}

/* Byte copy of the published snapshot, opened.  Any failure: rebuild. */
static int
snap_copy(struct store *st, struct tdb_context **tdbp)
{
	int in, out, r = APPUSER_ERR_INTERNAL;

	if ((in = open(st->ident_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW))
	    == -1)
		return APPUSER_ERR_NOT_FOUND;
	out = open(st->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC |
	    O_NOFOLLOW, 0600);
	if (out == -1) {
		close(in);
		return fs_errno(errno, APPUSER_ERR_SYSTEM);
	}
	r = fs_copy_fd(in, out);
	close(in);
	if (close(out) == -1 && r == 0)
		r = fs_errno(errno, APPUSER_ERR_SYSTEM);
	if (r == 0)
		r = tmp_open(st, 0, 0, tdbp);
	if (r != 0 && r != APPUSER_ERR_NOMEM) {
		snap_discard(st);
		r = APPUSER_ERR_NOT_FOUND;
	}
	return r;
}

/* Is the copy exactly the generation before this transaction, with a
 * hash table still fit for the user count and a modest delta? */
static bool
snap_delta_ok(struct store *st, struct tdb_context *tdb)
{
	TDB_DATA k = { (unsigned char *)KEY_META, KEY_META_LEN }, d;
	struct meta m;
	bool ok;

	d = tdb_fetch(tdb, k);
	if (d.dptr == NULL)
		return false;
	ok = record_decode_meta(d.dptr, d.dsize, &m) == 0 &&
	    m.format == STORE_FORMAT_VERSION && m.generation == st->gen0;
	if (ok)
		meta_clear(&m);
	free(d.dptr);
	if (!ok || st->meta.n_users > 4 * (uint64_t)tdb_hash_size(tdb))
		return false;
	return st->delta.n <= DELTA_REBUILD ||
	    st->delta.n <= st->meta.n_users / 4;
}

static int
tdb_put(struct tdb_context *tdb, const struct key *k, TDB_DATA d, int flag)
{
	if (tdb_store(tdb, key_data(k), d, flag) == 0)
		return 0;
	/* two users with one uid can only come from a corrupt master */
	return tdb_error(tdb) == TDB_ERR_EXISTS ? APPUSER_ERR_CORRUPT :
	    db_err(tdb);
}

/* Store one master user record d (filed under name) as U and I. */
static int
put_user(struct tdb_context *tdb, const char *name, size_t namelen,
    TDB_DATA d, int flag)
{
	struct user u;
	struct key k;
	int r;

	if (record_decode_user(d.dptr, d.dsize, &u) != 0 || u.uid == 0 ||
	    strlen(u.name) != namelen || memcmp(u.name, name, namelen) != 0)
		return APPUSER_ERR_CORRUPT;
	if ((r = key_user(&k, KEY_USER, u.name)) != 0 ||
	    (r = tdb_put(tdb, &k, d, flag)) != 0)
		return r == APPUSER_ERR_NOT_FOUND ? APPUSER_ERR_CORRUPT : r;
	key_uid(&k, u.uid);
	return tdb_put(tdb, &k, d, flag);
}

static int
fill_cb(TDB_DATA key, TDB_DATA data, void *arg)
{
	return put_user(arg, (const char *)key.dptr + 1, key.dsize - 1, data,
	    TDB_INSERT);
}

/* Drop name's U and I records from the old snapshot, if it had them. */
static int
drop_old(struct tdb_context *tdb, const char *name)
{
	struct user u;
	struct key k;
	TDB_DATA d;
	int r;

	if ((r = key_user(&k, KEY_USER, name)) != 0)
		return APPUSER_ERR_CORRUPT;
	d = tdb_fetch(tdb, key_data(&k));
	if (d.dptr == NULL)
		return tdb_error(tdb) == TDB_ERR_NOEXIST ? 0 : db_err(tdb);
	r = record_decode_user(d.dptr, d.dsize, &u);
	if (r == 0) {
		tdb_delete(tdb, key_data(&k));
		key_uid(&k, u.uid);
		tdb_delete(tdb, key_data(&k));
	}
	free(d.dptr);
	return r == 0 ? 0 : APPUSER_ERR_CORRUPT;
}

/* Copy name's current master record into the snapshot, if it exists. */
static int
put_new(struct store *st, struct tdb_context *tdb, const char *name)
{
	struct key k;
	TDB_DATA d;
	int r;

	if ((r = key_user(&k, KEY_USER, name)) != 0)
		return APPUSER_ERR_CORRUPT;
	if ((r = db_fetch(st, &k, &d)) != 0)
		return r == APPUSER_ERR_NOT_FOUND ? 0 : r;
	r = put_user(tdb, name, strlen(name), d, TDB_REPLACE);
	free(d.dptr);
	return r;
}

/* Two passes, so that an id freed and taken again in one transaction
 * moves cleanly from its old owner to the new one. */
static int
snap_apply(struct store *st, struct tdb_context *tdb)
{
	const char *p, *end = st->delta.buf + st->delta.len;
	int r;

	for (p = st->delta.buf; p < end; p += strlen(p) + 1)
		if ((r = drop_old(tdb, p)) != 0)
			return r;
	for (p = st->delta.buf; p < end; p += strlen(p) + 1)
		if ((r = put_new(st, tdb, p)) != 0)
			return r;
	return 0;
}

static int
snap_rebuild(struct store *st, struct tdb_context **tdbp)
{
	struct tdb_context *tdb = NULL;
	int r;

	if ((r = tmp_open(st, snap_hash_size(st->meta.n_users),
	    O_CREAT | O_EXCL, &tdb)) != 0)
		return r;
	if ((r = db_walk(st, KEY_USER, fill_cb, tdb)) != 0) {
		int e = errno;	/* ENOSPC, EIO... must reach the message */

		tdb_close(tdb);
		errno = e;
		return r;
	}
	*tdbp = tdb;
	return 0;
}

/* Meta (the master's, without the allocation cursor), fsync, 0644, close. */
static int
snap_finish(struct store *st, struct tdb_context *tdb)
{
	TDB_DATA k = { (unsigned char *)KEY_META, KEY_META_LEN }, d;
	struct meta m = st->meta;
	uint8_t *buf = NULL;
	size_t len;
	int r = APPUSER_ERR_INTERNAL, e;

	m.next_uid = 0;
	if ((r = record_encode_meta(&m, &buf, &len)) != 0)
		goto out;
	d.dptr = buf;
	d.dsize = len;
	if (tdb_store(tdb, k, d, TDB_REPLACE) != 0) {
		r = db_err(tdb);
		goto out;
	}
	/* tdb wrote through a shared mapping: on Linux fsync covers it */
	if (fsync(tdb_fd(tdb)) == -1 || fchmod(tdb_fd(tdb), 0644) == -1) {
		r = fs_errno(errno, APPUSER_ERR_SYSTEM);
		goto out;
	}
	r = 0;
 out:
	e = errno;
	if (tdb_close(tdb) != 0 && r == 0)
		r = APPUSER_ERR_SYSTEM;
	else if (r != 0)
		errno = e;	/* the first failure's cause, not close's */
	free(buf);
	return r;
}

/* Build the next snapshot into tmp_path (st->meta is the new meta). */
int
snap_build(struct store *st)
{
	struct tdb_context *tdb = NULL;
	int r = APPUSER_ERR_INTERNAL;

	snap_discard(st);
	r = snap_copy(st, &tdb);
	if (r == 0 && (!snap_delta_ok(st, tdb) || snap_apply(st, tdb) != 0)) {
		tdb_close(tdb);
		tdb = NULL;
		snap_discard(st);
		r = APPUSER_ERR_NOT_FOUND;
	}
	if (r == APPUSER_ERR_NOT_FOUND)
		r = snap_rebuild(st, &tdb);
	if (r == 0)
		r = snap_finish(st, tdb);
	if (r != 0)
		snap_discard(st);
	return r;
}

/* ---------------------------------------------------------------------- */
/* identity.gen */

/* A file readers may map once its mode is fixed (an empty one was left by
 * a writer that died just after creating it: it is grown). */
static bool
gen_reusable(const struct store *st, const struct stat *sb)
{
	return S_ISREG(sb->st_mode) && sb->st_uid == st->owner &&
	    (sb->st_size == 0 || sb->st_size == GEN_FILE_SIZE);
}

/*
 * identity.gen opened read-write (created if missing), as readers may map
 * it: a regular file of ours, 0644, GEN_FILE_SIZE bytes.  Anything else
 * that is there (a symlink, another size or owner) no reader maps, so it
 * is replaced; a wrong mode is fixed in place, keeping mappings valid.
 * UNSAFE: something that cannot be removed (a directory) is in the way.
 */
static int
gen_open(struct store *st, const char *path, int *fdp)
{
	struct stat sb;
	int fd;

	if (lstat(path, &sb) == 0 && !gen_reusable(st, &sb) &&
	    unlink(path) == -1)
		return APPUSER_ERR_UNSAFE;
	/* O_NONBLOCK: a FIFO put there meanwhile must not hang the writer */
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK,
	    0644);
	if (fd == -1)
		return fs_errno(errno, APPUSER_ERR_SYSTEM);
	if (fstat(fd, &sb) == -1 || !gen_reusable(st, &sb)) {
		close(fd);
		return APPUSER_ERR_UNSAFE;
	}
	if (((sb.st_mode & 07777) != 0644 && fchmod(fd, 0644) == -1) ||
	    (sb.st_size == 0 && ftruncate(fd, GEN_FILE_SIZE) == -1)) {
		close(fd);
		return fs_errno(errno, APPUSER_ERR_SYSTEM);
	}
	*fdp = fd;
	return 0;
}

/*
 * Make identity.gen record st->meta.generation as published.  The counter
 * readers watch advances with bump (a new identity.tdb was just renamed
 * into place) or when the file recorded another generation (a writer died
 * between its rename and its bump).  Nothing is written otherwise.  If
 * something unusable is in the way, readers cannot map it either and stat
 * identity.tdb on every lookup: not an error (store_check reports it).
 */
static int
gen_publish(struct store *st, bool bump)
{
	uint64_t w[GEN_WORDS];
	char *path;
	int fd = -1, r = APPUSER_ERR_INTERNAL;

	if ((path = fs_join(st->dir, APPUSER_GEN_FILE)) == NULL)
		return APPUSER_ERR_NOMEM;
	r = gen_open(st, path, &fd);
	free(path);
	if (r != 0)
		return r == APPUSER_ERR_UNSAFE ? 0 : r;
	if (pread(fd, w, sizeof(w), 0) != (ssize_t)sizeof(w))
		r = APPUSER_ERR_SYSTEM;
	else if (bump || w[GEN_W_PUBLISHED] != st->meta.generation) {
		w[GEN_W_COUNTER]++;
		w[GEN_W_PUBLISHED] = st->meta.generation;
		if (pwrite(fd, w, sizeof(w), 0) != (ssize_t)sizeof(w))
			r = APPUSER_ERR_SYSTEM;
	}
	close(fd);
	return r;
}

/*
 * Rename the new snapshot into place, then bump identity.gen's counter:
 * in this order, a reader that sees the new counter finds the new file.
 * The bump is done even if the directory's fsync failed, since the rename
 * itself is visible.  st->meta is the published meta.
 */
int
snap_install(struct store *st)
{
	int r, gr;

	if (rename(st->tmp_path, st->ident_path) == -1) {
		snap_discard(st);
		return fs_errno(errno, APPUSER_ERR_SYSTEM);
	}
	r = fs_fsync_dir(st->dir);
	gr = gen_publish(st, true);
	return r != 0 ? r : gr;
}

/* Keeps errno: called on failure paths, whose cause errno holds. */
void
snap_discard(struct store *st)
{
	int e = errno;

	unlink(st->tmp_path);
	errno = e;
}

int
snap_published_generation(struct store *st, uint64_t *genp)
{
	struct idview *v = NULL;
	int r;

	if ((r = idview_open(st->dir, &v)) != 0)
		return r;
	*genp = idview_meta(v)->generation;
	idview_close(v);
	return 0;
}

/* Full rebuild from the master as it is now (under a transaction so the
 * read is consistent; nothing is written to the master). */
int
snap_republish(struct store *st)
{
	struct tdb_context *tdb = NULL;
	int r = APPUSER_ERR_INTERNAL;

	if ((st->flags & STORE_WRITE) == 0 || st->in_txn)
		return APPUSER_ERR_INTERNAL;
	if (tdb_transaction_start(st->tdb) != 0)
		return db_err(st->tdb);
	snap_discard(st);
	if ((r = meta_load(st)) == 0 && (r = snap_rebuild(st, &tdb)) == 0)
		r = snap_finish(st, tdb);
	tdb_transaction_cancel(st->tdb);
	if (r == 0)
		return snap_install(st);
	snap_discard(st);
	return r;
}

/* The published file as a writer leaves it: ours, regular, 0644. */
static bool
snap_file_ok(struct store *st)
{
	struct stat sb;

	return lstat(st->ident_path, &sb) == 0 && S_ISREG(sb.st_mode) &&
	    sb.st_uid == st->owner && (sb.st_mode & 07777) == 0644;
}

/*
 * Republish if the snapshot is missing, unreadable, not as published, or
 * of another generation than the master.  Skipped when this process holds
 * the published file open by other means than idview (EBUSY).  A current
 * snapshot still gets identity.gen created or repaired if need be, as far
 * as possible: readers fall back to a stat() without it, so a failure
 * there does not stop the writer (store_check reports what is left).
 */
int
snap_roll_forward(struct store *st, bool *repairedp)
{
	uint64_t gen = 0;
	int r, pr;

	*repairedp = false;
	pr = snap_published_generation(st, &gen);
	if (pr == APPUSER_ERR_BUSY)
		return 0;
	if (pr == APPUSER_ERR_NOMEM)
		return pr;
	if ((r = meta_load(st)) != 0)
		return r;
	if (pr == 0 && gen == st->meta.generation && snap_file_ok(st)) {
		(void)gen_publish(st, false);
		return 0;
	}
	if ((r = snap_republish(st)) != 0)
		return r;
	*repairedp = true;
	return 0;
}
