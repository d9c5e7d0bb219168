/*
 * Internal: what store_check and the store's roll-forward need from the
 * identity reader beyond the public API in store.h, and the layout of
 * identity.gen, which the writer (store_snap.c) writes and readers map.
 */
#ifndef APPUSER_IDVIEW_INT_H
#define APPUSER_IDVIEW_INT_H

#include <tdb.h>

#include "store.h"

/* Run fn on the view's tdb (read-only) under the process-wide idview lock;
 * returns fn's return value. */
int idview_with_tdb(struct idview *v,
    int (*fn)(struct tdb_context *tdb, void *arg), void *arg);

/* Size of the tdb header on disk (struct tdb_header in tdb_private.h):
 * 32 bytes of magic, 9 u32 fields, 25 reserved u32. */
#define TDB_HEADER_SIZE		168

/* Smallest plausible file for a tdb with hash_size chains: the header,
 * the free list head and one u32 per chain. */
#define TDB_MIN_FILE_SIZE(hash_size) \
	(TDB_HEADER_SIZE + 4 * ((uint64_t)(hash_size) + 1))

/*
 * identity.gen (see store.h): exactly GEN_FILE_SIZE bytes, which readers
 * check before they map it, so that what they read is always inside the
 * file.  It starts with native-endian, 8-aligned 64-bit words:
 *   [GEN_W_COUNTER]    +1 after each rename of a new identity.tdb; readers
 *                      watch this word only
 *   [GEN_W_PUBLISHED]  generation of the identity.tdb published when the
 *                      counter was last written (lets the next writer see
 *                      that a writer died between the rename and the bump)
 * The rest is zero.  Only the store's owner writes it, with pwrite, under
 * the store lock; a usable file is never truncated nor replaced.
 */
#define GEN_FILE_SIZE		4096
#define GEN_W_COUNTER		0
#define GEN_W_PUBLISHED		1
#define GEN_WORDS		2

/* A tdb log function that discards everything: library code never prints. */
extern const struct tdb_logging_context appuser_tdb_nolog;

#endif
