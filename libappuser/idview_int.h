/*
 * Internal: what store_check and the store's roll-forward need from the
 * identity reader beyond the public API in store.h.
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

/* A tdb log function that discards everything: library code never prints. */
extern const struct tdb_logging_context appuser_tdb_nolog;

#endif
