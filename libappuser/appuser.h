/*
 * appuser: shared definitions (error codes, limits, default paths).
 *
 * Error convention (after OpenSSH): every function returns 0 on success or
 * a negative APPUSER_ERR_* code; appuser_strerror() turns a code into text.
 * Out-parameters are named *p and are set only on success.
 */
#ifndef APPUSER_H
#define APPUSER_H

#include <stdint.h>
#include <stddef.h>
#include <stdbool.h>

#define APPUSER_ERR_INTERNAL	-1	/* a bug: should not happen */
#define APPUSER_ERR_NOT_FOUND	-2	/* no such user, token, key */
#define APPUSER_ERR_EXISTS	-3	/* name or id already taken */
#define APPUSER_ERR_INVALID	-4	/* bad input (name, duration, CIDR...) */
#define APPUSER_ERR_CORRUPT	-5	/* store or record fails validation */
#define APPUSER_ERR_PERMISSION	-6	/* not allowed (file modes, not owner) */
#define APPUSER_ERR_BUSY	-7	/* locked by someone else, try again */
#define APPUSER_ERR_NOMEM	-8	/* out of memory */
#define APPUSER_ERR_SYSTEM	-9	/* system call failed; see errno */
#define APPUSER_ERR_EXPIRED	-10	/* token past its expiry */
#define APPUSER_ERR_DENIED	-11	/* refused by policy */
#define APPUSER_ERR_VERSION	-12	/* store written by a newer appuser */
#define APPUSER_ERR_UNSAFE	-13	/* directory/file ownership or modes unsafe */
#define APPUSER_ERR_RANGE	-14	/* id range exhausted or id outside it */
#define APPUSER_ERR_NOSTORE	-15	/* store does not exist (not initialised) */
#define APPUSER_ERR_MAX		15

/* Static string for an error code; never NULL. */
const char *appuser_strerror(int r);

#define APPUSER_DEFAULT_STORE	"/var/lib/appuser"
#define APPUSER_STORE_ENV	"APPUSER_STORE"

/* File names inside the store directory. */
#define APPUSER_MASTER_FILE	"store.tdb"	/* root only, 0600: everything */
/* Snapshots (immutable, replaced by rename; see snapfile.h): */
#define APPUSER_IDENTITY_FILE	"identity.snap"	/* 0644 users, base */
#define APPUSER_IDENTITY_DELTA	"identity.delta" /* 0644 users, changes */
#define APPUSER_TOKENS_FILE	"tokens.snap"	/* 0600 tokens, base */
#define APPUSER_TOKENS_DELTA	"tokens.delta"	/* 0600 tokens, changes */
#define APPUSER_USAGE_FILE	"usage"		/* 0600 last use (usage.h) */
#define APPUSER_LOCK_FILE	"lock"		/* 0600, serialises writers */
#define APPUSER_GEN_FILE	"identity.gen"	/* 0644, change counter */
#define APPUSER_OLD_IDENTITY	"identity.tdb"	/* format 1's snapshot */

/* How long a writer waits for another writer (root's appuser) before it
 * gives up with APPUSER_ERR_BUSY, naming the holder. */
#define APPUSER_LOCK_WAIT_MS	5000

/* No id below this is ever given out or returned, whatever a file says. */
#define APPUSER_ID_FLOOR	1000

/* POSIX-ish login name limit (see names.h for the full rule). */
#define APPUSER_NAME_MAX	32
#define APPUSER_TEXT_MAX	256	/* description */
#define APPUSER_PATH_MAX	1024	/* home, shell */

/*
 * Default id range: clear of regular users (1000-59999), the 16-bit system
 * range and systemd's dynamic/homed ranges (60001-65519), typical
 * /etc/subuid blocks (100000-600100000) and systemd-nspawn's container
 * range (524288-1879048191), and below 2^31 (signed-uid bugs).
 */
#define APPUSER_DEFAULT_UID_MIN	1900000000u
#define APPUSER_DEFAULT_UID_MAX	1999999999u
#define APPUSER_DEFAULT_ADMIN_GROUP "appuser-admins"

/* Directory that holds the store for the CLI (secure_getenv(APPUSER_STORE)
 * or the default).  In store.c: the modules never link it (the NSS module
 * has its path compiled in, the PAM module takes store=). */
const char *appuser_default_store_dir(void);

#endif
