/*
 * identity.gen, the change counter: the one module that writes it (the
 * writer, after each publication of the identity pair), maps it (idview.c,
 * in every process using the NSS module) and reads it (store_check.c).
 * Why it exists is explained at the top of idview.c.
 *
 * Layout: exactly GEN_FILE_SIZE bytes, which readers
 * check before they map it, so that what they read is always inside the
 * file.  It starts with native-endian, 8-aligned 64-bit words:
 *   [GEN_W_COUNTER]    +1 after each publication of the identity pair; readers
 *                      watch this word only
 *   [GEN_W_PUBLISHED]  generation of the identity pair published when the
 *                      counter was last written (lets the next writer see
 *                      that a writer died between the rename and the bump)
 * The rest is zero.  Only the store's owner writes it, with pwrite, under
 * the store lock; a usable file is never truncated nor replaced.
 */
#ifndef APPUSER_GENCOUNT_H
#define APPUSER_GENCOUNT_H

#include <sys/stat.h>
#include <sys/types.h>

#include "appuser.h"

#define GEN_FILE_SIZE		4096
#define GEN_W_COUNTER		0
#define GEN_W_PUBLISHED		1
#define GEN_WORDS		2

/*
 * Writer: make dir's identity.gen record generation as published, owned
 * by owner, 0644.  The counter advances with bump (a new identity pair was
 * just renamed into place) or when the file recorded another generation (a
 * writer died between its rename and its bump); nothing is written
 * otherwise.  Something unusable in the way that cannot be replaced is not
 * an error (readers then stat on every lookup; store_check reports it).
 */
int gencount_publish(const char *dir, uid_t owner, uint64_t generation,
    bool bump);

/* Reader: a file only owner can write, of the size a mapping assumes. */
bool gencount_stat_ok(const struct stat *sb, uid_t owner);

/* A read-only mapping of the counter; w == NULL when not mapped. */
struct gencount_map {
	const uint64_t	*w;
	dev_t		 dev;
	ino_t		 ino;
};

/* Map path if it is usable (else m->w stays NULL); unmap accepts either. */
void gencount_map(const char *path, uid_t owner, struct gencount_map *m);
void gencount_unmap(struct gencount_map *m);
uint64_t gencount_load(const struct gencount_map *m);	/* m->w != NULL */

#endif
