/*
 * Reader of the published identity snapshot (identity.tdb).
 *
 * Linked into the NSS module: it must reference nothing from the store
 * writer or the token code (those pull libsodium), never print, never
 * crash on a bad file.
 *
 * tdb refuses a second tdb_open of one inode in one process (EBUSY), yet a
 * process may hold several idviews (the CLI's own, and the NSS module's
 * when the CLI resolves a name).  So open snapshots ("snaps") live in one
 * process-wide list keyed by device and inode, shared and refcounted: an
 * idview holds one reference to its current snap, a cursor another.  A
 * process-wide recursive lock serialises every use of a snap's tdb
 * (tdb_nextkey keeps state in the tdb context, and a read past the end of
 * a bad file remaps it); callbacks run under it, so fn may itself look up
 * names (NSS from inside a CLI callback) on the same thread.  A forked
 * child gets a fresh lock (see idv_postfork_child).
 *
 * Snapshots are opened O_RDONLY, which makes tdb skip locking: safe because
 * a published snapshot is never modified in place (writers rename a new
 * file over it).  Someone truncating a published file by hand while a
 * process has it mapped could still make that process fault (SIGBUS): the
 * file is root's, and no appuser code ever does that.
 *
 * Noticing a new snapshot costs no system call (idview_refresh runs before
 * every NSS lookup, and a stat() was a third of one).  The writer, after
 * the rename() of a new identity.tdb, bumps a counter in identity.gen,
 * which each view maps read-only once.  A view remembers the counter it
 * read just BEFORE its last stat() of identity.tdb; while the counter
 * still holds that value, no rename has finished since that stat (the bump
 * follows the rename), so the open snapshot is current.  A lookup made
 * after `appuser` returned therefore sees its change: the bump is done by
 * then, the counter differs, and the view stats and reopens.  Changes made
 * by hand (a file renamed or deleted without appuser) bump nothing; a view
 * also does the full check when its last one is a second old (by
 * CLOCK_MONOTONIC_COARSE, read in the vDSO), so they show within a second.
 * Without a usable identity.gen (missing, e.g. a store of an older
 * version, wrong size or owner, writable by others) a view falls back to a
 * stat() per refresh and looks for the file again once a second.  The
 * mapping carries the same accepted risk as identity.tdb's: truncating
 * identity.gen by hand under a running process would make it fault
 * (SIGBUS); appuser only ever pwrite()s its first bytes.  A forked child
 * inherits the mapping, which stays valid (MAP_SHARED of a file).
 */
#include <sys/mman.h>
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <tdb.h>

#include "idview_int.h"
#include "record.h"
#include "store.h"

struct snap {
	struct snap		*next;
	dev_t			 dev;
	ino_t			 ino;
	uid_t			 uid;		/* owner of the file */
	struct tdb_context	*tdb;
	uint8_t			*metabuf;	/* tdb_fetch'd; meta points in */
	struct meta		 meta;
	unsigned int		 refs;
};

struct idview {
	char		*path;		/* identity.tdb */
	char		*gen_path;	/* identity.gen */
	struct snap	*cur;
	const uint64_t	*gen;		/* identity.gen mapped, or NULL */
	dev_t		 gen_dev;
	ino_t		 gen_ino;
	uint64_t	 gen_seen;	/* counter read before the last check */
	struct timespec	 checked;	/* when the last full check began */
	struct timespec	 gen_tried;	/* last look at identity.gen itself */
};

struct lookup {
	const char	*name;		/* expected name, or NULL */
	uint32_t	 uid;		/* expected uid, or 0 */
	user_fn		 fn;
	void		*arg;
	int		 r;
};

static pthread_mutex_t idv_lock = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;
static pthread_once_t idv_once = PTHREAD_ONCE_INIT;
static struct snap *snaps;

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

const struct tdb_logging_context appuser_tdb_nolog = { nolog, NULL };

/*
 * The child has one thread: start it with a fresh, unowned lock.  No
 * prepare handler: taking our lock before fork would order it against the
 * callers' own locks (the NSS module's) by registration order, a deadlock
 * waiting to happen.  Callers that use idview from several threads
 * serialise around fork with their own lock, as the NSS module does.
 */
static void
idv_postfork_child(void)
{
	pthread_mutexattr_t a;

	pthread_mutexattr_init(&a);
	pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&idv_lock, &a);
	pthread_mutexattr_destroy(&a);
}

static void
idv_init(void)
{
	pthread_atfork(NULL, NULL, idv_postfork_child);
}

static void
idv_enter(void)
{
	pthread_once(&idv_once, idv_init);
	pthread_mutex_lock(&idv_lock);
}

static void
idv_leave(void)
{
	pthread_mutex_unlock(&idv_lock);
}

static int
open_errno(int e)
{
	switch (e) {
	case ENOENT:
	case ENOTDIR:
		return APPUSER_ERR_NOSTORE;
	case EACCES:
	case EPERM:
		return APPUSER_ERR_PERMISSION;
	case EBUSY:
		return APPUSER_ERR_BUSY;
	case ENOMEM:
		return APPUSER_ERR_NOMEM;
	case EIO:
	case EINVAL:
	case ELOOP:
		return APPUSER_ERR_CORRUPT;	/* not a tdb, or bad header */
	default:
		return APPUSER_ERR_SYSTEM;
	}
}

/* Read and decode the snapshot's meta into s (called once, at open). */
static int
snap_load_meta(struct snap *s)
{
	TDB_DATA key = { (unsigned char *)"!meta", 5 }, d;
	int r;

	d = tdb_fetch(s->tdb, key);
	if (d.dptr == NULL)
		return APPUSER_ERR_CORRUPT;
	if ((r = record_decode_meta(d.dptr, d.dsize, &s->meta)) != 0) {
		free(d.dptr);
		if (r != APPUSER_ERR_NOMEM && r != APPUSER_ERR_VERSION)
			r = APPUSER_ERR_CORRUPT;
		return r;
	}
	s->metabuf = d.dptr;
	if (s->meta.format > STORE_FORMAT_VERSION)
		return APPUSER_ERR_VERSION;
	if (s->meta.format == 0)
		return APPUSER_ERR_CORRUPT;
	return 0;
}

static void
snap_free(struct snap *s)
{
	if (s == NULL)
		return;
	if (s->tdb != NULL)
		tdb_close(s->tdb);
	meta_clear(&s->meta);
	free(s->metabuf);
	free(s);
}

/* The file must at least hold the header and the hash table that tdb
 * reads without bounds checks when it scans for the next chain. */
static int
snap_check_size(struct snap *s)
{
	struct stat st;
	int hs;

	if (fstat(tdb_fd(s->tdb), &st) == -1)
		return open_errno(errno);
	if (!S_ISREG(st.st_mode))
		return APPUSER_ERR_CORRUPT;
	hs = tdb_hash_size(s->tdb);
	if (hs <= 0 || (uint64_t)st.st_size < TDB_MIN_FILE_SIZE(hs))
		return APPUSER_ERR_CORRUPT;
	s->dev = st.st_dev;
	s->ino = st.st_ino;
	s->uid = st.st_uid;
	return 0;
}

static int
snap_open(const char *path, struct snap **sp)
{
	struct snap *s;
	int r = APPUSER_ERR_INTERNAL;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return APPUSER_ERR_NOMEM;
	s->tdb = tdb_open_ex(path, 0, 0, O_RDONLY | O_CLOEXEC | O_NOFOLLOW, 0,
	    &appuser_tdb_nolog, NULL);
	if (s->tdb == NULL) {
		r = open_errno(errno);
		goto out;
	}
	if ((r = snap_check_size(s)) != 0 || (r = snap_load_meta(s)) != 0)
		goto out;
	s->refs = 1;
	s->next = snaps;
	snaps = s;
	*sp = s;
	s = NULL;
	r = 0;
 out:
	snap_free(s);
	return r;
}

/* A reference to the snapshot now at path (shared if already open). */
static int
snap_get(const char *path, struct snap **sp)
{
	struct stat st;
	struct snap *s;

	if (lstat(path, &st) == -1)
		return open_errno(errno);
	if (!S_ISREG(st.st_mode))
		return APPUSER_ERR_CORRUPT;	/* as O_NOFOLLOW would say */
	for (s = snaps; s != NULL; s = s->next) {
		if (s->dev == st.st_dev && s->ino == st.st_ino) {
			s->refs++;
			*sp = s;
			return 0;
		}
	}
	return snap_open(path, sp);
}

static void
snap_put(struct snap *s)
{
	struct snap **pp;

	if (s == NULL || --s->refs > 0)
		return;
	for (pp = &snaps; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	}
	snap_free(s);
}

/* ---------------------------------------------------------------------- */
/* identity.gen: the change counter (see the top of this file). */

/* Has a second passed from *then to *now?  A never-set *then: yes. */
static bool
second_passed(const struct timespec *then, const struct timespec *now)
{
	time_t d = now->tv_sec - then->tv_sec;

	return d > 1 || (d == 1 && now->tv_nsec >= then->tv_nsec);
}

/* A counter only its owner, the snapshot's owner, can write, and whose
 * size is known, so that the mapped bytes are inside the file. */
static bool
gen_stat_ok(const struct stat *sb, uid_t owner)
{
	return S_ISREG(sb->st_mode) && sb->st_size == GEN_FILE_SIZE &&
	    (sb->st_mode & 022) == 0 && sb->st_uid == owner;
}

static uint64_t
gen_load(const struct idview *v)
{
	return __atomic_load_n(&v->gen[GEN_W_COUNTER], __ATOMIC_ACQUIRE);
}

static void
gen_unmap(struct idview *v)
{
	if (v->gen != NULL)
		munmap((void *)(uintptr_t)v->gen, GEN_FILE_SIZE);
	v->gen = NULL;
}

/* Map identity.gen if it is usable; without it, v stats every time. */
static void
gen_map(struct idview *v)
{
	struct stat sb;
	void *p;
	int fd;

	/* O_NONBLOCK: a FIFO put there must not hang a lookup */
	fd = open(v->gen_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd == -1)
		return;
	if (fstat(fd, &sb) == 0 && gen_stat_ok(&sb, v->cur->uid) &&
	    (p = mmap(NULL, GEN_FILE_SIZE, PROT_READ, MAP_SHARED, fd, 0)) !=
	    MAP_FAILED) {
		v->gen = p;
		v->gen_dev = sb.st_dev;
		v->gen_ino = sb.st_ino;
	}
	close(fd);
}

/* At most once a second: is the mapped identity.gen still the file in
 * the store (not deleted or replaced by hand)?  Map it if not mapped. */
static void
gen_revalidate(struct idview *v, const struct timespec *now)
{
	struct stat sb;

	if (!second_passed(&v->gen_tried, now))
		return;
	v->gen_tried = *now;
	if (v->gen != NULL && lstat(v->gen_path, &sb) == 0 &&
	    sb.st_dev == v->gen_dev && sb.st_ino == v->gen_ino &&
	    gen_stat_ok(&sb, v->cur->uid))
		return;
	gen_unmap(v);
	gen_map(v);
}

/*
 * The full check: one stat() of identity.tdb, a reopen if it was replaced.
 * The counter is read before the stat(): a rename that finished after the
 * read bumps the counter afterwards, and the next refresh sees it move.
 * On failure nothing is remembered, so the next refresh checks again.
 */
static int
refresh_full(struct idview *v)
{
	struct timespec now = { 0, 0 };
	struct stat st;
	struct snap *s = NULL;
	uint64_t c;
	int r;

	if (clock_gettime(CLOCK_MONOTONIC_COARSE, &now) != 0)
		now.tv_sec = now.tv_nsec = 0;	/* never "recent" */
	gen_revalidate(v, &now);
	c = v->gen != NULL ? gen_load(v) : 0;
	if (lstat(v->path, &st) == -1)
		return open_errno(errno);
	if (v->cur == NULL || st.st_dev != v->cur->dev ||
	    st.st_ino != v->cur->ino) {
		idv_enter();
		if ((r = snap_get(v->path, &s)) == 0) {
			snap_put(v->cur);
			v->cur = s;
		}
		idv_leave();
		if (r != 0)
			return r;
	}
	v->gen_seen = c;
	v->checked = now;
	return 0;
}

/* "dir/name", malloc'd. */
static char *
path_join(const char *dir, const char *name)
{
	size_t dl = strlen(dir), nl = strlen(name);
	char *p;

	if ((p = malloc(dl + 1 + nl + 1)) == NULL)
		return NULL;
	memcpy(p, dir, dl);
	p[dl] = '/';
	memcpy(p + dl + 1, name, nl + 1);
	return p;
}

/* ---------------------------------------------------------------------- */

int
idview_open(const char *dir, struct idview **vp)
{
	struct idview *v;
	int r = APPUSER_ERR_INTERNAL;

	if (dir == NULL)
		dir = appuser_default_store_dir();
	if ((v = calloc(1, sizeof(*v))) == NULL)
		return APPUSER_ERR_NOMEM;
	if ((v->path = path_join(dir, APPUSER_IDENTITY_FILE)) == NULL ||
	    (v->gen_path = path_join(dir, APPUSER_GEN_FILE)) == NULL) {
		r = APPUSER_ERR_NOMEM;
		goto out;
	}
	idv_enter();
	r = snap_get(v->path, &v->cur);
	idv_leave();
	/* maps identity.gen, then reads the counter and stats again */
	if (r != 0 || (r = refresh_full(v)) != 0)
		goto out;
	*vp = v;
	v = NULL;
 out:
	idview_close(v);
	return r;
}

void
idview_close(struct idview *v)
{
	if (v == NULL)
		return;
	idv_enter();
	snap_put(v->cur);
	idv_leave();
	gen_unmap(v);
	free(v->path);
	free(v->gen_path);
	free(v);
}

int
idview_refresh(struct idview *v)
{
	struct timespec now;

	/* no system call while the counter stands and the check is recent */
	if (v->gen != NULL && gen_load(v) == v->gen_seen &&
	    clock_gettime(CLOCK_MONOTONIC_COARSE, &now) == 0 &&
	    !second_passed(&v->checked, &now))
		return 0;
	return refresh_full(v);
}

const struct meta *
idview_meta(const struct idview *v)
{
	return &v->cur->meta;
}

/* tdb_parse_record callback: decode in place and hand the view to fn. */
static int
parse_user(TDB_DATA key, TDB_DATA data, void *arg)
{
	struct lookup *l = arg;
	struct user u;

	(void)key;
	if ((l->r = record_decode_user(data.dptr, data.dsize, &u)) != 0) {
		/* a newer record says "upgrade", not "corrupt" */
		if (l->r != APPUSER_ERR_NOMEM && l->r != APPUSER_ERR_VERSION)
			l->r = APPUSER_ERR_CORRUPT;
		return 0;
	}
	/* never hand out id 0 or a record filed under another key */
	if (u.uid == 0 || u.gid == 0 ||
	    (l->name != NULL && strcmp(u.name, l->name) != 0) ||
	    (l->uid != 0 && u.uid != l->uid)) {
		l->r = APPUSER_ERR_CORRUPT;
		return 0;
	}
	l->r = l->fn(&u, l->arg);
	return 0;
}

static int
lookup_key(struct snap *s, TDB_DATA key, struct lookup *l)
{
	int r;

	l->r = APPUSER_ERR_INTERNAL;
	idv_enter();
	if (tdb_parse_record(s->tdb, key, parse_user, l) == -1)
		r = tdb_error(s->tdb) == TDB_ERR_NOEXIST ?
		    APPUSER_ERR_NOT_FOUND : APPUSER_ERR_CORRUPT;
	else
		r = l->r;
	idv_leave();
	return r;
}

int
idview_user_by_name(struct idview *v, const char *name, user_fn fn,
    void *arg)
{
	uint8_t kb[1 + APPUSER_NAME_MAX];
	struct lookup l = { name, 0, fn, arg, 0 };
	TDB_DATA key;
	size_t len;

	if (name == NULL || (len = strnlen(name, APPUSER_NAME_MAX + 1)) == 0 ||
	    len > APPUSER_NAME_MAX)
		return APPUSER_ERR_NOT_FOUND;
	kb[0] = 'U';
	memcpy(kb + 1, name, len);
	key.dptr = kb;
	key.dsize = 1 + len;
	return lookup_key(v->cur, key, &l);
}

int
idview_user_by_uid(struct idview *v, uint32_t uid, user_fn fn, void *arg)
{
	uint8_t kb[5] = { 'I', uid >> 24, uid >> 16, uid >> 8, uid };
	struct lookup l = { NULL, uid, fn, arg, 0 };
	TDB_DATA key = { kb, sizeof(kb) };

	if (uid == 0)
		return APPUSER_ERR_NOT_FOUND;
	return lookup_key(v->cur, key, &l);
}

/* Next 'U' key after c->key (or the first), as a malloc'd TDB_DATA. */
static TDB_DATA
cursor_step(struct snap *s, struct idview_cursor *c)
{
	TDB_DATA k, prev;

	if (c->key == NULL)
		k = tdb_firstkey(s->tdb);
	else {
		prev.dptr = c->key;
		prev.dsize = c->keylen;
		k = tdb_nextkey(s->tdb, prev);
	}
	while (k.dptr != NULL && (k.dsize < 2 || k.dptr[0] != 'U')) {
		prev = k;
		k = tdb_nextkey(s->tdb, prev);
		free(prev.dptr);
	}
	return k;
}

/* Pin the view's snapshot on the cursor's first call. */
static void
cursor_start(struct idview *v, struct idview_cursor *c)
{
	if (c->snap != NULL)
		return;
	v->cur->refs++;
	c->snap = v->cur;
	free(c->key);
	c->key = NULL;
	c->keylen = 0;
}

int
idview_next_user(struct idview *v, struct idview_cursor *c, user_fn fn,
    void *arg)
{
	struct lookup l = { NULL, 0, fn, arg, 0 };
	struct snap *s;
	TDB_DATA k;
	int r = APPUSER_ERR_NOT_FOUND;

	if (c->done)
		return APPUSER_ERR_NOT_FOUND;
	idv_enter();
	cursor_start(v, c);
	s = c->snap;
	k = cursor_step(s, c);
	if (k.dptr == NULL) {
		c->done = true;
		goto out;
	}
	/* advance first: a record that fails to decode is skipped next time */
	free(c->key);
	c->key = k.dptr;
	c->keylen = k.dsize;
	r = lookup_key(s, k, &l);
	if (r == APPUSER_ERR_NOT_FOUND)
		r = APPUSER_ERR_CORRUPT;	/* key listed but unreadable */
 out:
	idv_leave();
	return r;
}

void
idview_cursor_release(struct idview *v, struct idview_cursor *c)
{
	(void)v;
	if (c == NULL)
		return;
	idv_enter();
	snap_put(c->snap);
	idv_leave();
	free(c->key);
	c->snap = NULL;
	c->key = NULL;
	c->keylen = 0;
	c->done = false;
}

int
idview_with_tdb(struct idview *v,
    int (*fn)(struct tdb_context *tdb, void *arg), void *arg)
{
	int r;

	idv_enter();
	r = fn(v->cur->tdb, arg);
	idv_leave();
	return r;
}
