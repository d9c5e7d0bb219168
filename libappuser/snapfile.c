/*
 * Snapshot files (design and layout in snapfile.h).
 *
 * Linked into the NSS and PAM modules: never prints, never crashes on a
 * bad file, and every loop is bounded by counts checked against the file's
 * size.  The writer half is used by the store's owner only.
 */
#include <sys/mman.h>
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codec.h"
#include "fsutil.h"
#include "snapfile.h"

#define SLOT_SIZE	8
#define INDEX_ENTRY	8
#define REC_HEAD	8
#define WBUF_FLUSH	(1 << 20)

struct snapr {
	const uint8_t	*map;
	uint64_t	 size;
	uint64_t	 gen;
	uint64_t	 base_gen;
	uint32_t	 flags;
	uint32_t	 nslots;
	uint32_t	 nrecords;
	uint64_t	 index_off;
	uint64_t	 slots_off;
	dev_t		 dev;
	ino_t		 ino;
};

uint32_t
snapfile_hash(const void *key, size_t klen)
{
	const uint8_t *p = key;
	uint32_t h = 2166136261u;
	size_t i;

	for (i = 0; i < klen; i++) {
		h ^= p[i];
		h *= 16777619u;
	}
	return h;
}

/* ---------------------------------------------------------------------- */
/* Reading */

/* Header fields, each checked against the file size without overflow. */
static int
header_parse(struct snapr *r, int kind)
{
	const uint8_t *h = r->map;
	uint64_t need;

	if (r->size < SNAPFILE_HEADER ||
	    memcmp(h, SNAPFILE_MAGIC, sizeof(SNAPFILE_MAGIC)) != 0)
		return APPUSER_ERR_CORRUPT;
	if (le32_get(h + 8) > SNAPFILE_FORMAT)
		return APPUSER_ERR_VERSION;
	if (le32_get(h + 8) == 0 || le32_get(h + 12) != (uint32_t)kind)
		return APPUSER_ERR_CORRUPT;
	r->gen = le64_get(h + 16);
	r->base_gen = le64_get(h + 24);
	r->flags = le32_get(h + 32);
	r->nslots = le32_get(h + 36);
	r->nrecords = le32_get(h + 40);
	r->index_off = le64_get(h + 48);
	r->slots_off = le64_get(h + 56);
	if ((r->flags & ~(uint32_t)SNAPFILE_DELTA) != 0 || r->nslots == 0 ||
	    (r->nslots & (r->nslots - 1)) != 0 ||
	    r->nrecords > r->nslots / 2 || r->base_gen > r->gen ||
	    ((r->flags & SNAPFILE_DELTA) == 0 && r->base_gen != r->gen))
		return APPUSER_ERR_CORRUPT;
	/* records, then the index, then the slots, then nothing */
	need = (uint64_t)r->nrecords * INDEX_ENTRY;
	if (r->index_off < SNAPFILE_HEADER || r->index_off > r->size ||
	    need > r->size - r->index_off ||
	    r->slots_off != r->index_off + need)
		return APPUSER_ERR_CORRUPT;
	need = (uint64_t)r->nslots * SLOT_SIZE;
	if (r->slots_off > r->size || need != r->size - r->slots_off)
		return APPUSER_ERR_CORRUPT;
	return 0;
}

static int
open_errno(int e)
{
	if (e == ELOOP || e == ENXIO)
		return APPUSER_ERR_UNSAFE;	/* a symlink, a FIFO */
	return fs_errno(e, APPUSER_ERR_NOSTORE);
}

int
snapr_open(const char *path, int kind, uid_t owner, mode_t forbid,
    struct snapr **rp)
{
	struct snapr *r = NULL;
	struct stat sb;
	void *map;
	int fd, ret = APPUSER_ERR_INTERNAL;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd == -1)
		return open_errno(errno);
	if (fstat(fd, &sb) == -1) {
		ret = fs_errno(errno, APPUSER_ERR_SYSTEM);
		goto out;
	}
	if (!S_ISREG(sb.st_mode) || sb.st_uid != owner ||
	    (sb.st_mode & forbid) != 0) {
		ret = APPUSER_ERR_UNSAFE;
		goto out;
	}
	if (sb.st_size < SNAPFILE_HEADER) {
		ret = APPUSER_ERR_CORRUPT;
		goto out;
	}
	if ((r = calloc(1, sizeof(*r))) == NULL) {
		ret = APPUSER_ERR_NOMEM;
		goto out;
	}
	map = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		ret = errno == ENOMEM ? APPUSER_ERR_NOMEM : APPUSER_ERR_SYSTEM;
		goto out;
	}
	r->map = map;
	r->size = (uint64_t)sb.st_size;
	r->dev = sb.st_dev;
	r->ino = sb.st_ino;
	if ((ret = header_parse(r, kind)) != 0)
		goto out;
	*rp = r;
	r = NULL;
	ret = 0;
 out:
	snapr_close(r);
	close(fd);
	return ret;
}

void
snapr_close(struct snapr *r)
{
	if (r == NULL)
		return;
	if (r->map != NULL)
		munmap((void *)(uintptr_t)r->map, (size_t)r->size);
	free(r);
}

uint64_t snapr_generation(const struct snapr *r) { return r->gen; }
uint64_t snapr_base_gen(const struct snapr *r) { return r->base_gen; }
bool snapr_is_delta(const struct snapr *r)
{ return (r->flags & SNAPFILE_DELTA) != 0; }
uint32_t snapr_count(const struct snapr *r) { return r->nrecords; }
dev_t snapr_dev(const struct snapr *r) { return r->dev; }
ino_t snapr_ino(const struct snapr *r) { return r->ino; }

/* The record at file offset off, which must lie in the records area. */
static int
rec_at(const struct snapr *r, uint64_t off, struct snaprec *recp)
{
	uint64_t end = r->index_off, klen, vlen;

	if (off < SNAPFILE_HEADER || off > end || end - off < REC_HEAD)
		return APPUSER_ERR_CORRUPT;
	klen = le32_get(r->map + off);
	vlen = le32_get(r->map + off + 4);
	off += REC_HEAD;
	if (klen == 0 || klen > SNAPFILE_MAX_KEY || klen > end - off)
		return APPUSER_ERR_CORRUPT;
	recp->key = r->map + off;
	recp->klen = (size_t)klen;
	off += klen;
	if (vlen == SNAPFILE_TOMBSTONE) {
		recp->val = NULL;
		recp->vlen = 0;
		return 0;
	}
	if (vlen > SNAPFILE_MAX_VALUE || vlen > end - off)
		return APPUSER_ERR_CORRUPT;
	recp->val = r->map + off;
	recp->vlen = (size_t)vlen;
	return 0;
}

int
snapr_at(const struct snapr *r, uint32_t i, struct snaprec *recp)
{
	if (i >= r->nrecords)
		return APPUSER_ERR_NOT_FOUND;
	return rec_at(r, le64_get(r->map + r->index_off +
	    (uint64_t)i * INDEX_ENTRY), recp);
}

int
snapr_get(const struct snapr *r, const void *key, size_t klen,
    struct snaprec *recp)
{
	struct snaprec rec;
	uint32_t h, mask = r->nslots - 1, i, n;
	int ret;

	if (klen == 0 || klen > SNAPFILE_MAX_KEY)
		return APPUSER_ERR_NOT_FOUND;
	h = snapfile_hash(key, klen);
	for (n = 0, i = h & mask; n < r->nslots; n++, i = (i + 1) & mask) {
		const uint8_t *slot;
		uint32_t num;

		slot = r->map + r->slots_off + (uint64_t)i * SLOT_SIZE;
		if ((num = le32_get(slot + 4)) == 0)
			return APPUSER_ERR_NOT_FOUND;
		if (le32_get(slot) != h)
			continue;
		if ((ret = snapr_at(r, num - 1, &rec)) != 0)
			return ret == APPUSER_ERR_NOT_FOUND ?
			    APPUSER_ERR_CORRUPT : ret;
		if (rec.klen == klen && memcmp(rec.key, key, klen) == 0) {
			*recp = rec;
			return 0;
		}
	}
	return APPUSER_ERR_NOT_FOUND;	/* a full table: bounded anyway */
}

/* ---------------------------------------------------------------------- */
/* Pairs */

const char *
snapset_base_name(int kind)
{
	return kind == SNAP_KIND_TOKENS ? APPUSER_TOKENS_FILE :
	    APPUSER_IDENTITY_FILE;
}

const char *
snapset_delta_name(int kind)
{
	return kind == SNAP_KIND_TOKENS ? APPUSER_TOKENS_DELTA :
	    APPUSER_IDENTITY_DELTA;
}

static int
open_in(const char *dir, const char *name, int kind, uid_t owner,
    mode_t forbid, struct snapr **rp)
{
	char *path;
	int r;

	if ((path = fs_join(dir, name)) == NULL)
		return APPUSER_ERR_NOMEM;
	r = snapr_open(path, kind, owner, forbid, rp);
	free(path);
	return r;
}

int
snapset_open(const char *dir, int kind, uid_t owner, mode_t forbid,
    struct snapset *s)
{
	struct snapr *base = NULL, *delta = NULL;
	int r;

	/* the delta first: see CONSISTENT PAIRS in snapfile.h */
	r = open_in(dir, snapset_delta_name(kind), kind, owner, forbid, &delta);
	if (r == APPUSER_ERR_NOSTORE)
		delta = NULL;
	else if (r != 0)
		return r;
	if ((r = open_in(dir, snapset_base_name(kind), kind, owner, forbid,
	    &base)) != 0)
		goto fail;
	if (snapr_is_delta(base) || (delta != NULL && !snapr_is_delta(delta))) {
		r = APPUSER_ERR_CORRUPT;
		goto fail;
	}
	if (delta != NULL && snapr_base_gen(delta) != snapr_generation(base)) {
		if (snapr_generation(base) < snapr_generation(delta)) {
			r = APPUSER_ERR_CORRUPT;	/* cannot arise */
			goto fail;
		}
		s->stale = delta;	/* the base already holds it */
		delta = NULL;
	} else
		s->stale = NULL;
	s->base = base;
	s->delta = delta;
	return 0;
 fail:
	snapr_close(base);
	snapr_close(delta);
	return r;
}

void
snapset_close(struct snapset *s)
{
	if (s == NULL)
		return;
	snapr_close(s->base);
	snapr_close(s->delta);
	snapr_close(s->stale);
	s->base = s->delta = s->stale = NULL;
}

uint64_t
snapset_generation(const struct snapset *s)
{
	return s->delta != NULL ? snapr_generation(s->delta) :
	    snapr_generation(s->base);
}

int
snapset_get(const struct snapset *s, const void *key, size_t klen,
    struct snaprec *recp)
{
	struct snaprec rec;
	int r;

	if (s->delta != NULL) {
		r = snapr_get(s->delta, key, klen, &rec);
		if (r == 0 && rec.val == NULL)
			return APPUSER_ERR_NOT_FOUND;	/* deleted */
		if (r != APPUSER_ERR_NOT_FOUND) {
			if (r == 0)
				*recp = rec;
			return r;
		}
	}
	if ((r = snapr_get(s->base, key, klen, &rec)) != 0)
		return r;
	if (rec.val == NULL)
		return APPUSER_ERR_CORRUPT;	/* no tombstones in a base */
	*recp = rec;
	return 0;
}

int
snapset_next(const struct snapset *s, uint64_t *posp, struct snaprec *recp)
{
	struct snaprec rec, shadow;
	uint64_t pos = *posp, nd = s->delta ? snapr_count(s->delta) : 0;
	uint64_t end = nd + snapr_count(s->base);
	int r;

	for (; pos < end; pos++) {
		if (pos < nd) {
			if ((r = snapr_at(s->delta, (uint32_t)pos, &rec)) != 0)
				break;
			if (rec.val == NULL)
				continue;
		} else {
			if ((r = snapr_at(s->base, (uint32_t)(pos - nd),
			    &rec)) != 0)
				break;
			if (rec.val == NULL) {
				r = APPUSER_ERR_CORRUPT;
				break;
			}
			if (nd > 0) {
				r = snapr_get(s->delta, rec.key, rec.klen,
				    &shadow);
				if (r == 0)
					continue;	/* replaced or deleted */
				if (r != APPUSER_ERR_NOT_FOUND)
					break;
			}
		}
		r = 0;
		break;
	}
	if (pos == end) {
		*posp = pos;
		return APPUSER_ERR_NOT_FOUND;
	}
	/* past it even when it is damaged: the caller may go on */
	*posp = pos + 1;
	if (r == 0)
		*recp = rec;
	return r;
}

/* ---------------------------------------------------------------------- */
/* Writing */

struct wslot {
	uint32_t	 hash;
	uint64_t	 off;
};

struct snapw {
	char		*path;
	int		 fd;
	uint8_t		 head[SNAPFILE_HEADER];
	uint8_t		*buf;		/* pending output */
	size_t		 blen;
	uint64_t	 off;		/* file offset of buf[0] + blen */
	struct wslot	*recs;
	size_t		 n;
	size_t		 cap;
	int		 err;
};

static int
w_flush(struct snapw *w)
{
	size_t done = 0;

	while (done < w->blen) {
		ssize_t k = write(w->fd, w->buf + done, w->blen - done);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return fs_errno(k < 0 ? errno : EIO, APPUSER_ERR_SYSTEM);
		done += (size_t)k;
	}
	w->blen = 0;
	return 0;
}

static int
w_put(struct snapw *w, const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n > 0) {
		size_t k;
		int r;

		if (w->blen == WBUF_FLUSH && (r = w_flush(w)) != 0)
			return r;
		k = WBUF_FLUSH - w->blen < n ? WBUF_FLUSH - w->blen : n;
		memcpy(w->buf + w->blen, b, k);
		w->blen += k;
		w->off += k;
		b += k;
		n -= k;
	}
	return 0;
}

int
snapw_create(const char *path, int kind, uint32_t flags, uint64_t gen,
    uint64_t base_gen, mode_t mode, struct snapw **wp)
{
	struct snapw *w;

	if ((w = calloc(1, sizeof(*w))) == NULL)
		return APPUSER_ERR_NOMEM;
	w->fd = -1;
	if ((w->path = strdup(path)) == NULL ||
	    (w->buf = malloc(WBUF_FLUSH)) == NULL) {
		snapw_abort(w);
		return APPUSER_ERR_NOMEM;
	}
	w->fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    mode);
	if (w->fd == -1) {
		int e = errno;

		free(w->path);
		w->path = NULL;		/* not ours: never unlink it */
		snapw_abort(w);
		return fs_errno(e, APPUSER_ERR_NOSTORE);
	}
	if (fchmod(w->fd, mode) == -1) {
		int e = errno;

		snapw_abort(w);
		return fs_errno(e, APPUSER_ERR_SYSTEM);
	}
	memcpy(w->head, SNAPFILE_MAGIC, sizeof(SNAPFILE_MAGIC));
	le32_put(w->head + 8, SNAPFILE_FORMAT);
	le32_put(w->head + 12, (uint32_t)kind);
	le64_put(w->head + 16, gen);
	le64_put(w->head + 24, base_gen);
	le32_put(w->head + 32, flags);
	/* the header is written last, over these zeros */
	memset(w->buf, 0, SNAPFILE_HEADER);
	w->blen = SNAPFILE_HEADER;
	w->off = SNAPFILE_HEADER;
	*wp = w;
	return 0;
}

int
snapw_add(struct snapw *w, const void *key, size_t klen, const void *val,
    size_t vlen)
{
	uint8_t head[REC_HEAD];
	struct wslot *nrecs;
	uint64_t off = w->off;

	if (w->err != 0)
		return w->err;
	if (klen == 0 || klen > SNAPFILE_MAX_KEY ||
	    (val != NULL && vlen > SNAPFILE_MAX_VALUE) ||
	    w->n >= UINT32_MAX / 4)
		return w->err = APPUSER_ERR_INVALID;
	if (w->n == w->cap) {
		size_t ncap = w->cap ? w->cap * 2 : 1024;

		if ((nrecs = realloc(w->recs, ncap * sizeof(*nrecs))) == NULL)
			return w->err = APPUSER_ERR_NOMEM;
		w->recs = nrecs;
		w->cap = ncap;
	}
	le32_put(head, (uint32_t)klen);
	le32_put(head + 4, val == NULL ? SNAPFILE_TOMBSTONE : (uint32_t)vlen);
	if ((w->err = w_put(w, head, sizeof(head))) != 0 ||
	    (w->err = w_put(w, key, klen)) != 0 ||
	    (val != NULL && (w->err = w_put(w, val, vlen)) != 0))
		return w->err;
	w->recs[w->n].hash = snapfile_hash(key, klen);
	w->recs[w->n].off = off;
	w->n++;
	return 0;
}

/* Index, then slots (linear probing), then the header at offset 0. */
static int
w_tables(struct snapw *w)
{
	uint8_t *slots = NULL, e[INDEX_ENTRY];
	uint32_t nslots = 16, mask;
	uint64_t index_off = w->off;
	size_t k;
	int r = 0;

	while (nslots / 2 < w->n)
		nslots *= 2;
	mask = nslots - 1;
	for (k = 0; r == 0 && k < w->n; k++) {
		le64_put(e, w->recs[k].off);
		r = w_put(w, e, sizeof(e));
	}
	if (r != 0)
		return r;
	if ((slots = calloc(nslots, SLOT_SIZE)) == NULL)
		return APPUSER_ERR_NOMEM;
	for (k = 0; k < w->n; k++) {
		uint32_t i = w->recs[k].hash & mask;

		while (le32_get(slots + (uint64_t)i * SLOT_SIZE + 4) != 0)
			i = (i + 1) & mask;
		le32_put(slots + (uint64_t)i * SLOT_SIZE, w->recs[k].hash);
		le32_put(slots + (uint64_t)i * SLOT_SIZE + 4, (uint32_t)k + 1);
	}
	le32_put(w->head + 36, nslots);
	le32_put(w->head + 40, (uint32_t)w->n);
	le64_put(w->head + 48, index_off);
	le64_put(w->head + 56, w->off);
	if ((r = w_flush(w)) == 0) {
		for (k = 0; r == 0 && k < nslots; k += WBUF_FLUSH / SLOT_SIZE) {
			size_t n = nslots - k < WBUF_FLUSH / SLOT_SIZE ?
			    nslots - k : WBUF_FLUSH / SLOT_SIZE;

			memcpy(w->buf, slots + k * SLOT_SIZE, n * SLOT_SIZE);
			w->blen = n * SLOT_SIZE;
			r = w_flush(w);
		}
	}
	free(slots);
	if (r == 0 && pwrite(w->fd, w->head, SNAPFILE_HEADER, 0) !=
	    SNAPFILE_HEADER)
		r = fs_errno(errno ? errno : EIO, APPUSER_ERR_SYSTEM);
	return r;
}

int
snapw_finish(struct snapw *w)
{
	int r;

	if ((r = w->err) != 0 || (r = w_tables(w)) != 0)
		goto fail;
	if (fsync(w->fd) == -1 || close(w->fd) == -1) {
		r = fs_errno(errno, APPUSER_ERR_SYSTEM);
		w->fd = -1;
		goto fail;
	}
	w->fd = -1;
	free(w->path);
	w->path = NULL;
	snapw_abort(w);
	return 0;
 fail:
	snapw_abort(w);
	return r;
}

void
snapw_abort(struct snapw *w)
{
	int e = errno;

	if (w == NULL)
		return;
	if (w->fd != -1)
		close(w->fd);
	if (w->path != NULL)
		unlink(w->path);
	free(w->path);
	free(w->buf);
	free(w->recs);
	free(w);
	errno = e;	/* the caller reports the first cause */
}
