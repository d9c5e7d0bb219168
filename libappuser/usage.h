/*
 * The usage file: last-use bookkeeping, apart from the master and the
 * snapshots, so that a login never needs a lock that matters.
 *
 * WHY.  A login used to record its last use in the master, under tdb's
 * locks; a local user who SIGSTOPs their own setuid su while it holds such
 * a lock froze every login and every write.  Now the master and the
 * snapshots are written only by root's `appuser`, and a login writes only
 * its token's slot here, with a non-blocking lock and a deadline, best
 * effort.  Losing a write only loses a last-use time or a sliding
 * extension (the token then expires sooner: safe); nothing here can grant
 * anything the snapshot does not, nor undo a revocation.
 *
 * LAYOUT.  "usage" in the store directory, root-only (0600, owned by the
 * store's owner, like the master), an array of USAGE_SLOT_SIZE-byte slots;
 * slot 0 is never used.  Each token record names its slot (usage_slot,
 * allocated by the writer, freed when the token's user is deleted).  A slot:
 *   0    u32 USAGE_MAGIC
 *   4    token id (TOKEN_ID_LEN bytes; a reused slot names its new token)
 *   16   i64 last used (unix seconds)
 *   24   i64 sliding expiry (0: none)
 *   32   last address, NUL-padded (USAGE_IP_LEN)
 *   80   last service, NUL-padded (USAGE_SERVICE_LEN)
 *   120  u32 CRC-32 of bytes 0-119, then 4 zero bytes
 * Integers little-endian.  A torn or foreign slot fails the check and reads
 * as "never used".  Writers take an OFD write lock on the slot's bytes with
 * F_OFD_SETLK (never waiting inside the kernel) and retry until a deadline.
 */
#ifndef APPUSER_USAGE_H
#define APPUSER_USAGE_H

#include <sys/types.h>

#include "record.h"

#define USAGE_SLOT_SIZE		128
#define USAGE_MAGIC		0x31475355u	/* "USG1" */
#define USAGE_IP_LEN		48
#define USAGE_SERVICE_LEN	40
#define USAGE_MAX_SLOT		(1u << 26)	/* 8 GiB of slots: a bound */

struct usage {
	int64_t	 last_used;
	int64_t	 expiry;			/* 0: none */
	char	 ip[USAGE_IP_LEN];		/* NUL-terminated */
	char	 service[USAGE_SERVICE_LEN];	/* NUL-terminated */
};

/*
 * Read token id's slot from the open usage file fd (no lock).  0 and *up,
 * or NOT_FOUND when the slot is empty, torn, or names another token.
 */
int usage_read(int fd, uint32_t slot, const char *id, struct usage *up);

/*
 * Open dir's usage file: O_CLOEXEC|O_NOFOLLOW|O_NONBLOCK, owner must be
 * owner, no group/other bits.  writable: O_RDWR, else O_RDONLY.
 * NOSTORE if missing, UNSAFE if not as the writer leaves it.
 */
int usage_open(const char *dir, uid_t owner, bool writable, int *fdp);

/*
 * Record a use of token id in its slot: last used = now, address and
 * service (sanitised, cut), and, when expiry != 0, the sliding expiry.
 * Waits at most timeout_ms for the slot's lock (BUSY after).
 */
int usage_write(int fd, uint32_t slot, const char *id, int64_t now,
    const char *rhost, const char *service, int64_t expiry, int timeout_ms);

/* Create the usage file if missing (store owner, 0600). */
int usage_create(const char *dir);

/* Put the slot's data over t's last-use fields and, for a sliding token,
 * its expiry (the later of the two).  Strings point into *u. */
void usage_overlay(struct token *t, const struct usage *u);

#endif
