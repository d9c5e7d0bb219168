/*
 * Snapshot files: the immutable hash files that readers use without locks.
 *
 * This header is the one home of the snapshot design; store.h and the
 * README point here.
 *
 * WHY.  Readers (the NSS module in every process, the PAM module in sshd,
 * su and sudo) must never wait on anything an unprivileged user can hold:
 * no lock, no open transaction.  So what they read is a file that is never
 * modified once published: the writer builds a new file next to it, fsyncs
 * it and rename()s it into place.  A reader that opened the old file keeps
 * reading it, consistent, until it opens again.
 *
 * BASE + DELTA.  Rebuilding a whole file for every change would cost
 * O(store) per write (a second at a million users).  So each kind of
 * snapshot is a pair, as an LSM tree keeps a run and a memtable:
 *   NAME.snap   the base: every record as of generation G_b.
 *   NAME.delta  the changes since the base: records that replace the base's,
 *               and tombstones for keys deleted since.  Its header names the
 *               base generation it extends (base_gen == G_b) and its own
 *               generation G_d >= G_b.
 * A change rewrites only the delta (old delta + the change: O(delta)).
 * When the delta outgrows a bound (SNAP_DELTA_MAX_RECORDS, or 1/16 of the
 * base), the writer merges: it builds a new base from the master and an
 * empty delta on it, and publishes the base first, then the delta.
 *
 * CONSISTENT PAIRS.  A reader opens the delta FIRST, then the base.  The
 * base it then gets is either the one the delta extends (base_gen == G_b:
 * use both) or a newer one built after the delta was read, which already
 * holds everything the delta did (G_b >= G_d: use the base alone).  No
 * other combination can arise (a new base is always built from the master
 * at or after the last delta), and a reader that sees one anyway treats the
 * pair as corrupt.  A missing delta is an empty one.
 *
 * CRASH SAFETY.  Files are written under a temporary name, fsynced, then
 * renamed; the master commits between building and renaming (store.c).  A
 * crash before the master commit leaves the old state everywhere; after it,
 * the published pair lags the master, which the next writer (or `appuser
 * check`) sees by generation and repairs by publishing a fresh base and an
 * empty delta ("roll forward").  Every step of a merge is tested with a
 * crash (tests/test_crash.c).
 *
 * FILE LAYOUT (integers little-endian):
 *   0   magic "APUSNAP" NUL                 8 bytes
 *   8   u32 format (SNAPFILE_FORMAT)
 *   12  u32 kind (SNAP_KIND_IDENTITY or SNAP_KIND_TOKENS)
 *   16  u64 generation (every change through it is in the pair)
 *   24  u64 base_gen (a base: its own generation; a delta: its base's)
 *   32  u32 flags (SNAPFILE_DELTA)
 *   36  u32 nslots: a power of two, at least 2 * nrecords
 *   40  u32 nrecords
 *   44  u32 zero
 *   48  u64 index_off: nrecords u64 record offsets, in record order
 *   56  u64 slots_off: nslots slots of {u32 hash, u32 record number + 1}
 *   64  records: u32 key length, u32 value length (SNAPFILE_TOMBSTONE for
 *       a deleted key), key, value.
 * Lookups probe at most nslots slots (linear probing from hash & mask);
 * enumeration walks the index; every offset and length read from the file
 * is checked against the file before use, so a damaged file gives
 * APPUSER_ERR_CORRUPT, never a fault or an endless loop.  Opening costs
 * O(1): records are checked when they are read.
 */
#ifndef APPUSER_SNAPFILE_H
#define APPUSER_SNAPFILE_H

#include <sys/types.h>

#include "appuser.h"

#define SNAPFILE_MAGIC		"APUSNAP"
#define SNAPFILE_FORMAT		1
#define SNAPFILE_HEADER		64
#define SNAPFILE_DELTA		0x1
#define SNAPFILE_TOMBSTONE	0xffffffffu
#define SNAPFILE_MAX_KEY	256
#define SNAPFILE_MAX_VALUE	(1u << 24)

#define SNAP_KIND_IDENTITY	0x49	/* 'I' */
#define SNAP_KIND_TOKENS	0x54	/* 'T' */

/* Merge when the delta holds more records than this (or than 1/16 of the
 * base, whichever is larger).  Rewriting a delta of this size costs a few
 * milliseconds; a merge costs O(store), once every this many changes. */
#define SNAP_DELTA_MIN_BOUND	4096
#define SNAP_DELTA_MAX_RECORDS	65536

/* ---------------------------------------------------------------------- */
/* One file, read-only. */
struct snapr;

/*
 * Open and map path (O_NOFOLLOW, O_CLOEXEC, O_NONBLOCK).  The file must be a
 * regular file owned by owner whose mode has none of the bits in forbid
 * (022 for public files, 077 for root-only ones), of the given kind, with a
 * valid header.  Errors: NOSTORE (missing), UNSAFE (owner, mode, type,
 * symlink), PERMISSION, CORRUPT, VERSION, NOMEM, SYSTEM.  The descriptor is
 * closed before return; the mapping lives until snapr_close().
 */
int snapr_open(const char *path, int kind, uid_t owner, mode_t forbid,
    struct snapr **rp);
void snapr_close(struct snapr *r);	/* accepts NULL */

uint64_t snapr_generation(const struct snapr *r);
uint64_t snapr_base_gen(const struct snapr *r);
bool snapr_is_delta(const struct snapr *r);
uint32_t snapr_count(const struct snapr *r);
dev_t snapr_dev(const struct snapr *r);
ino_t snapr_ino(const struct snapr *r);

/* A record as read: views into the mapping (valid until snapr_close). */
struct snaprec {
	const uint8_t	*key;
	size_t		 klen;
	const uint8_t	*val;	/* NULL for a tombstone */
	size_t		 vlen;
};

/*
 * Look key up.  0: found, *recp set (a tombstone has val == NULL);
 * NOT_FOUND; CORRUPT if the file is damaged on the way.
 */
int snapr_get(const struct snapr *r, const void *key, size_t klen,
    struct snaprec *recp);

/* Record number i (0 <= i < snapr_count), in file order. */
int snapr_at(const struct snapr *r, uint32_t i, struct snaprec *recp);

/* ---------------------------------------------------------------------- */
/* Writing one file (store owner only). */
struct snapw;

/*
 * Create path (O_EXCL, mode exactly mode) for a file of kind.  flags:
 * SNAPFILE_DELTA or 0.  Add records with snapw_add (keys must be unique;
 * val NULL adds a tombstone), then snapw_finish (writes the tables and
 * header, fsyncs, closes; the file is complete) or snapw_abort (closes and
 * unlinks).  Either frees w.
 */
int snapw_create(const char *path, int kind, uint32_t flags, uint64_t gen,
    uint64_t base_gen, mode_t mode, struct snapw **wp);
int snapw_add(struct snapw *w, const void *key, size_t klen,
    const void *val, size_t vlen);
int snapw_finish(struct snapw *w);
void snapw_abort(struct snapw *w);	/* accepts NULL */

/* ---------------------------------------------------------------------- */
/*
 * A consistent base + delta pair (see CONSISTENT PAIRS above).  delta is
 * NULL when there is none, or when the base already holds it.
 */
struct snapset {
	struct snapr	*base;
	struct snapr	*delta;
	struct snapr	*stale;	/* a delta the base superseded: never read,
				   kept mapped so that a reader can tell a
				   newer delta from it (snap_current) */
};

/*
 * Open dir/NAME.delta then dir/NAME.snap (names from snapset_names()).
 * Errors as snapr_open; a missing base is NOSTORE.  A delta the base
 * already holds goes to s->stale, not s->delta.  Close with
 * snapset_close (which zeroes *s).
 */
int snapset_open(const char *dir, int kind, uid_t owner, mode_t forbid,
    struct snapset *s);
void snapset_close(struct snapset *s);

/* File names of a kind: NAME.snap and NAME.delta. */
const char *snapset_base_name(int kind);
const char *snapset_delta_name(int kind);

/* The generation the pair is complete through. */
uint64_t snapset_generation(const struct snapset *s);

/* Live value of key: 0 and *recp; NOT_FOUND (absent or deleted); CORRUPT. */
int snapset_get(const struct snapset *s, const void *key, size_t klen,
    struct snaprec *recp);

/*
 * Enumeration in a stable order: the delta's live records, then the base's
 * records the delta does not shadow.  Start with *posp = 0; each call
 * returns the next live record (0) and advances *posp, NOT_FOUND at the end.
 * A damaged record gives CORRUPT and is passed over too, so the caller may
 * go on.  Bounded: at most snapr_count(delta) + snapr_count(base) steps.
 */
int snapset_next(const struct snapset *s, uint64_t *posp,
    struct snaprec *recp);

/* The 32-bit FNV-1a hash the slot tables use. */
uint32_t snapfile_hash(const void *key, size_t klen);

#endif
