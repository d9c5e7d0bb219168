/*
 * Reader of the published identity snapshot pair (identity.snap and
 * identity.delta; format and consistency rules in snapfile.h).
 *
 * Linked into the NSS module: it must reference nothing from the store
 * writer or the token code (those pull libsodium and libtdb), never print,
 * never crash on a bad file, never read the environment, and never wait on
 * a lock: the files are immutable once published, so reading them needs
 * none.  Every loop is bounded by counts checked against the files.
 *
 * A reader checks the store as the writer does (OpenSSH's StrictModes):
 * the directory and its parents owned by root or the caller and not
 * writable by others, the files owned by the directory's owner and not
 * writable by group or other, no symbolic link.  What a file says is not
 * trusted beyond that: ids below APPUSER_ID_FLOOR or outside the store's
 * range are never handed out.
 *
 * Noticing a new snapshot costs no system call (idview_refresh runs before
 * every NSS lookup, and a stat() was a third of one).  The writer, after
 * the rename()s of a new pair, bumps a counter in identity.gen
 * (gencount.h), which each view maps read-only once.  A view remembers
 * the counter it read just BEFORE its last stat() of the files; while the
 * counter still holds that value, no rename has finished since, so the
 * open pair is current.  A lookup made after `appuser` returned therefore
 * sees its change.  Changes made by hand bump nothing; a view also does the
 * full check when its last one is a second old (CLOCK_MONOTONIC_COARSE, in
 * the vDSO).  Without a usable identity.gen a view stats on every refresh.
 * Truncating a mapped file by hand under a running process could make it
 * fault (SIGBUS): the files are root's, and appuser never does that.
 *
 * Not thread-safe: callers serialise (the NSS module holds a mutex).  A
 * forked child inherits the mappings, which stay valid.
 */
#include <sys/mman.h>
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fsutil.h"
#include "gencount.h"
#include "keys.h"
#include "record.h"
#include "snapfile.h"
#include "store.h"

struct snap {
	struct snapset	 set;
	uint8_t		*metabuf;	/* copy; meta points into it */
	struct meta	 meta;
	unsigned int	 refs;		/* the view's, and pinning cursors' */
};

struct idview {
	char		*dir;
	char		*delta_path;	/* identity.delta */
	char		*base_path;	/* identity.snap */
	char		*gen_path;	/* identity.gen */
	uid_t		 owner;		/* of the directory */
	struct snap	*cur;
	struct gencount_map gen;	/* identity.gen mapped, or gen.w NULL */
	uint64_t	 gen_seen;	/* counter read before the last check */
	struct timespec	 checked;	/* when the last full check began */
	struct timespec	 gen_tried;	/* last look at identity.gen itself */
};

/* Is meta one that may be handed out: ids above the floor, the admin gid
 * inside the range? */
static int
meta_sane(const struct meta *m)
{
	if (m->format > STORE_FORMAT_VERSION)
		return APPUSER_ERR_VERSION;
	if (m->format == 0 || m->uid_min < APPUSER_ID_FLOOR ||
	    m->uid_min >= m->uid_max || m->admin_group == NULL ||
	    m->admin_gid < m->uid_min || m->admin_gid > m->uid_max)
		return APPUSER_ERR_CORRUPT;
	return 0;
}

static int
snap_load_meta(struct snap *s)
{
	struct snaprec rec;
	int r;

	if ((r = snapset_get(&s->set, KEY_META, KEY_META_LEN, &rec)) != 0)
		return r == APPUSER_ERR_NOT_FOUND ? APPUSER_ERR_CORRUPT : r;
	if ((s->metabuf = malloc(rec.vlen ? rec.vlen : 1)) == NULL)
		return APPUSER_ERR_NOMEM;
	memcpy(s->metabuf, rec.val, rec.vlen);
	if ((r = record_decode_meta(s->metabuf, rec.vlen, &s->meta)) != 0)
		return r == APPUSER_ERR_NOMEM || r == APPUSER_ERR_VERSION ? r :
		    APPUSER_ERR_CORRUPT;
	return meta_sane(&s->meta);
}

static void
snap_free(struct snap *s)
{
	if (s == NULL)
		return;
	snapset_close(&s->set);
	meta_clear(&s->meta);
	free(s->metabuf);
	free(s);
}

static int
snap_open(const struct idview *v, struct snap **sp)
{
	struct snap *s;
	int r;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return APPUSER_ERR_NOMEM;
	if ((r = snapset_open(v->dir, SNAP_KIND_IDENTITY, v->owner, 022,
	    &s->set)) != 0 || (r = snap_load_meta(s)) != 0) {
		snap_free(s);
		return r;
	}
	s->refs = 1;
	*sp = s;
	return 0;
}

static void
snap_put(struct snap *s)
{
	if (s != NULL && --s->refs == 0)
		snap_free(s);
}

/* Same file as r (NULL: the file must be absent)? */
static bool
same_file(const char *path, const struct snapr *r)
{
	struct stat st;

	if (lstat(path, &st) == -1)
		return r == NULL && errno == ENOENT;
	return r != NULL && st.st_dev == snapr_dev(r) &&
	    st.st_ino == snapr_ino(r);
}

/*
 * The delta on disk must be the one the view reads, or, when the base
 * superseded it (the view opened between a merge's two renames, or after
 * a writer died there), that very superseded file, which the view keeps
 * mapped so that its inode cannot come back as a new delta's; or none if
 * there was none.  A new delta on the same base means a reopen.
 */
static bool
snap_current(const struct idview *v, const struct snap *s)
{
	if (!same_file(v->base_path, s->set.base))
		return false;
	return same_file(v->delta_path, s->set.delta != NULL ? s->set.delta :
	    s->set.stale);
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

/* At most once a second: is the mapped identity.gen still the file in
 * the store (not deleted or replaced by hand)?  Map it if not mapped. */
static void
gen_revalidate(struct idview *v, const struct timespec *now)
{
	struct stat sb;

	if (!second_passed(&v->gen_tried, now))
		return;
	v->gen_tried = *now;
	if (v->gen.w != NULL && lstat(v->gen_path, &sb) == 0 &&
	    sb.st_dev == v->gen.dev && sb.st_ino == v->gen.ino &&
	    gencount_stat_ok(&sb, v->owner))
		return;
	gencount_unmap(&v->gen);
	gencount_map(v->gen_path, v->owner, &v->gen);
}

/*
 * The full check: a stat() of each file of the pair, a reopen if either
 * was replaced.  The counter is read before the stat()s: a rename that
 * finished after the read bumps the counter afterwards, and the next
 * refresh sees it move.  On failure nothing is remembered, so the next
 * refresh checks again, and the view keeps its pair.
 */
static int
refresh_full(struct idview *v)
{
	struct timespec now = { 0, 0 };
	struct snap *s = NULL;
	uint64_t c;

	if (clock_gettime(CLOCK_MONOTONIC_COARSE, &now) != 0)
		now.tv_sec = now.tv_nsec = 0;	/* never "recent" */
	gen_revalidate(v, &now);
	c = v->gen.w != NULL ? gencount_load(&v->gen) : 0;
	if (!snap_current(v, v->cur)) {
		int r;

		if ((r = snap_open(v, &s)) != 0)
			return r;
		snap_put(v->cur);
		v->cur = s;
	}
	v->gen_seen = c;
	v->checked = now;
	return 0;
}

/* ---------------------------------------------------------------------- */

int
idview_open(const char *dir, struct idview **vp)
{
	struct idview *v;
	int r = APPUSER_ERR_INTERNAL;

	if (dir == NULL)
		return APPUSER_ERR_INVALID;	/* never from the environment */
	if ((v = calloc(1, sizeof(*v))) == NULL)
		return APPUSER_ERR_NOMEM;
	if ((v->dir = strdup(dir)) == NULL ||
	    (v->base_path = fs_join(dir, APPUSER_IDENTITY_FILE)) == NULL ||
	    (v->delta_path = fs_join(dir, APPUSER_IDENTITY_DELTA)) == NULL ||
	    (v->gen_path = fs_join(dir, APPUSER_GEN_FILE)) == NULL) {
		r = APPUSER_ERR_NOMEM;
		goto out;
	}
	if ((r = fs_check_dir(dir, &v->owner)) != 0 ||
	    (r = snap_open(v, &v->cur)) != 0)
		goto out;
	/* maps identity.gen, then reads the counter and stats again */
	if ((r = refresh_full(v)) != 0)
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
	snap_put(v->cur);
	gencount_unmap(&v->gen);
	free(v->dir);
	free(v->base_path);
	free(v->delta_path);
	free(v->gen_path);
	free(v);
}

int
idview_refresh(struct idview *v)
{
	struct timespec now;

	/* no system call while the counter stands and the check is recent */
	if (v->gen.w != NULL && gencount_load(&v->gen) == v->gen_seen &&
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

/*
 * Decode a user record and hand it to fn, never one that is filed under
 * another key or whose ids are below the floor, outside the store's
 * range, or unequal (uid == gid for every application user).
 */
static int
hand_out(const struct snap *s, const struct snaprec *rec, const char *name,
    uint32_t uid, user_fn fn, void *arg)
{
	const struct meta *m = &s->meta;
	struct user u;
	int r;

	if ((r = record_decode_user(rec->val, rec->vlen, &u)) != 0)
		/* a newer record says "upgrade", not "corrupt" */
		return r == APPUSER_ERR_VERSION || r == APPUSER_ERR_NOMEM ?
		    r : APPUSER_ERR_CORRUPT;
	if (u.uid < APPUSER_ID_FLOOR || u.gid != u.uid ||
	    u.uid < m->uid_min || u.uid > m->uid_max ||
	    u.uid == m->admin_gid ||
	    (name != NULL && strcmp(u.name, name) != 0) ||
	    (uid != 0 && u.uid != uid))
		return APPUSER_ERR_CORRUPT;
	return fn(&u, arg);
}

int
idview_user_by_name(struct idview *v, const char *name, user_fn fn,
    void *arg)
{
	uint8_t kb[1 + APPUSER_NAME_MAX];
	struct snaprec rec;
	size_t len;
	int r;

	if (name == NULL || (len = strnlen(name, APPUSER_NAME_MAX + 1)) == 0 ||
	    len > APPUSER_NAME_MAX)
		return APPUSER_ERR_NOT_FOUND;
	kb[0] = KEY_USER;
	memcpy(kb + 1, name, len);
	if ((r = snapset_get(&v->cur->set, kb, 1 + len, &rec)) != 0)
		return r;
	return hand_out(v->cur, &rec, name, 0, fn, arg);
}

int
idview_user_by_uid(struct idview *v, uint32_t uid, user_fn fn, void *arg)
{
	uint8_t kb[KEY_UID_LEN] = { KEY_UID, uid >> 24, uid >> 16, uid >> 8,
	    uid };
	struct snaprec rec;
	int r;

	if (uid < APPUSER_ID_FLOOR)
		return APPUSER_ERR_NOT_FOUND;
	if ((r = snapset_get(&v->cur->set, kb, sizeof(kb), &rec)) != 0)
		return r;
	return hand_out(v->cur, &rec, NULL, uid, fn, arg);
}

int
idview_next_user(struct idview *v, struct idview_cursor *c, user_fn fn,
    void *arg)
{
	struct snaprec rec;
	struct snap *s;

	if (c->done)
		return APPUSER_ERR_NOT_FOUND;
	if (c->snap == NULL) {		/* pin the pair for the whole pass */
		v->cur->refs++;
		c->snap = v->cur;
		c->pos = 0;
	}
	s = c->snap;
	do {
		int r;

		/* advances first: a record that fails is skipped next time */
		if ((r = snapset_next(&s->set, &c->pos, &rec)) != 0) {
			if (r == APPUSER_ERR_NOT_FOUND)
				c->done = true;
			return r;
		}
	} while (rec.klen < 2 || rec.key[0] != KEY_USER);
	return hand_out(s, &rec, NULL, 0, fn, arg);
}

void
idview_cursor_release(struct idview *v, struct idview_cursor *c)
{
	(void)v;
	if (c == NULL)
		return;
	snap_put(c->snap);
	c->snap = NULL;
	c->pos = 0;
	c->done = false;
}
