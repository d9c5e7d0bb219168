/*
 * The store: a directory written only by its owner's `appuser` (root).
 *
 *   store.tdb       0600.  The master: config ('!meta'), users, uid index,
 *                   tokens, each user's token list, the token generation
 *                   ('!tgen') and the usage-slot allocation ('!slots').
 *                   Opened only by the owner's `appuser` (never by a PAM or
 *                   NSS module); every change is one tdb transaction.
 *   identity.snap   0644.  The published identity pair, base + delta
 *   identity.delta  (snapfile.h): meta and users by name and by uid, what
 *                   the NSS module, PAM's "is this an application user?"
 *                   and unprivileged `appuser list/show` read.
 *   tokens.snap     0600.  The published token pair: what PAM verifies
 *   tokens.delta    tokens against.
 *   identity.gen    0644, 4096 bytes: a change counter the writer bumps
 *                   after each publication, so that a reader notices one
 *                   without a system call (idview.c).
 *   usage           0600.  Last use of each token (time, address, service,
 *                   sliding expiry), one slot per token (usage.h); the only
 *                   file a login writes, best effort, with a deadline.
 *   lock            0600.  The writers' lock (a POSIX lock on the whole
 *                   file, F_SETLK retried until APPUSER_LOCK_WAIT_MS, then
 *                   APPUSER_ERR_BUSY naming the holder).
 *
 * WHY.  A local user can SIGSTOP their own setuid su or sudo at any instant.
 * So nothing a login opens may be locked in a way that matters: readers of
 * the published pairs take no lock at all (the files are immutable once
 * renamed into place), and the usage file is locked per slot, never waited
 * on past a deadline, and losing a write there only loses a last-use time
 * or makes a sliding token expire sooner.  The master and its lock are
 * touched only by root's `appuser`.
 *
 * A change commits the master, then publishes the changed pairs (a delta
 * rewrite, O(delta); a merge into a new base once the delta outgrows its
 * bound), then bumps identity.gen.  A writer killed in between leaves pairs
 * that lag the master by generation; the next writer (or `appuser check`)
 * republishes them ("roll forward").
 *
 * The keys of each file: keys.h.
 */
#ifndef APPUSER_STORE_H
#define APPUSER_STORE_H

#include <sys/types.h>

#include "appuser.h"
#include "record.h"

struct store;

/* Flags for store_open. */
#define STORE_READ	0x0	/* master read-only (root; token listing) */
#define STORE_WRITE	0x1	/* writer: creates the store if missing, takes
				   the lock, rolls a lagging snapshot forward */
#define STORE_AUTH	0x2	/* PAM: the published pairs and the usage file
				   only; no lock, never creates anything */

/*
 * Open the store in dir (NULL: appuser_default_store_dir()).  Checks the
 * directory as OpenSSH's StrictModes does: dir and each parent owned by root
 * or the caller and not writable by group/other (a sticky parent such as
 * /tmp is accepted); the master must be a regular file owned by the dir's
 * owner with mode 0600.  Writes need euid == owner of dir.
 * Errors: NOSTORE (missing, with STORE_READ/AUTH), PERMISSION, UNSAFE,
 * VERSION, CORRUPT, BUSY, SYSTEM.  Free with store_close().
 */
int store_open(const char *dir, int flags, struct store **stp);
void store_close(struct store *st);	/* accepts NULL */

/* After store_open(STORE_WRITE) returned BUSY: the pid of the writer that
 * held the store then (0 if unknown).  Per process, not per thread. */
pid_t store_busy_pid(void);

/* Directory in use (owned by st). */
const char *store_dir(const struct store *st);

/* Current meta (a decoded view that lives until the next call on st). */
int store_get_meta(struct store *st, struct meta *mp);

/*
 * Transactions (STORE_WRITE only).  store_begin starts one; the mutators
 * below then accumulate changes; store_commit commits the master and
 * publishes the snapshot; store_cancel drops everything.  A mutator called
 * outside a transaction runs in a transaction of its own.
 */
int store_begin(struct store *st);
int store_commit(struct store *st);
void store_cancel(struct store *st);

/*
 * Optional hook called by store_user_add before accepting a name/uid; returns
 * 0 if free, APPUSER_ERR_EXISTS if the host already resolves it.  The CLI sets
 * one that asks NSS (getpwnam_r/getgrnam_r/getpwuid_r/getgrgid_r).  Default:
 * none (tests).  A name is checked as fn(name, 0, arg), an id as
 * fn(NULL, id, arg).
 */
typedef int (*collision_fn)(const char *name, uint32_t id, void *arg);
void store_set_collision_check(struct store *st, collision_fn fn, void *arg);

/* Change the id range (every existing id must stay inside; RANGE if not) /
 * admin group name (must not collide).  An admin gid left outside the new
 * range moves to its first id when the group has no member (RANGE if it
 * has; EXISTS if that id is a user's or the host's). */
int store_set_range(struct store *st, uint32_t min, uint32_t max);
int store_set_admin_group(struct store *st, const char *name);

/*
 * Auxiliary values: opaque blobs (at most STORE_AUX_VALUE_MAX bytes) under
 * a name of 1..STORE_AUX_KEY_MAX bytes, kept in the master only (never in
 * a snapshot), written inside the current transaction like any mutator.
 * The fleet agent keeps its applied revision and local decisions here.
 * store_aux_get: *valp is malloc'd, caller frees; NOT_FOUND if absent.
 * store_aux_delete of an absent name is 0.
 */
#define STORE_AUX_KEY_MAX	32
#define STORE_AUX_VALUE_MAX	(1024 * 1024)
int store_aux_get(struct store *st, const char *name, uint8_t **valp,
    size_t *lenp);
int store_aux_put(struct store *st, const char *name, const void *val,
    size_t len);
int store_aux_delete(struct store *st, const char *name);

/*
 * Add a user.  u->name, description, home, shell are taken from *u
 * (description NULL -> "", home NULL -> "/nonexistent", shell NULL ->
 * "/bin/sh"); uid/gid are allocated (u->uid == 0) or taken from u->uid if
 * non-zero (import of a fixed id; must be inside the range and free).
 * create_time is now.  On success *createdp (optional) is an owned copy.
 * Errors: INVALID, EXISTS, RANGE.
 */
int store_user_add(struct store *st, const struct user *u,
    struct user **createdp);

/* Delete a user and, in the same transaction, all its tokens. */
int store_user_delete(struct store *st, const char *name);

/* Grant/revoke organization admin.  Idempotent (0 if already so). */
int store_user_set_admin(struct store *st, const char *name, bool admin);

/* Look up (any mode).  *up is owned: user_free(). */
int store_user_get(struct store *st, const char *name, struct user **up);

/* Enumerate users; fn returns 0 to go on, non-zero to stop (returned). */
typedef int (*user_fn)(const struct user *u, void *arg);
int store_user_foreach(struct store *st, user_fn fn, void *arg);

/*
 * Add token t for t->user (id, verifier, metadata filled in by the caller,
 * create_time/expiry by the caller too).  Errors: NOT_FOUND (user), EXISTS
 * (id collision), INVALID.
 */
int store_token_add(struct store *st, const struct token *t);

/* Revoke one token of user by id (sets revoke_time; the record stays so
 * that verification reports "revoked").  NOT_FOUND if the user has no such
 * token; 0 if it was already revoked. */
int store_token_revoke(struct store *st, const char *user, const char *id);

/* Make user's token id expire at expiry if that is sooner than its own
 * expiry (never later); its sliding expiry stops.  NOT_FOUND, INVALID. */
int store_token_shorten(struct store *st, const char *user, const char *id,
    int64_t expiry);

/* Revoke every live token of user; *countp = how many were revoked. */
int store_token_revoke_all(struct store *st, const char *user,
    size_t *countp);

/*
 * Rotate user's token old_id, in one transaction (or the caller's): add a
 * token new_id with verifier (minted by the caller: token_generate) that
 * copies the old one's description, max age, sliding expiry, allowlist and
 * scope, created at now and expiring at now + max age; and end the old
 * one: revoked at now when grace is 0, else expiring at now + grace (or
 * at its own expiry, if sooner) with its sliding expiry turned off, so
 * that logins during the grace cannot push it out again.  Read both
 * records back with store_token_get.  Errors: NOT_FOUND (no such user, or
 * no such token of user), DENIED (old_id is revoked), EXPIRED (old_id has
 * expired at now), EXISTS (new_id is taken: mint another), INVALID.
 */
int store_token_rotate(struct store *st, const char *user,
    const char *old_id, const char *new_id,
    const uint8_t verifier[TOKEN_VERIFIER_LEN], int64_t now, int64_t grace);

/* Fetch one token by id.  *tp is owned: token_free(). */
int store_token_get(struct store *st, const char *id, struct token **tp);

/* Tokens of user (or of everyone when user is NULL). */
typedef int (*token_fn)(const struct token *t, void *arg);
int store_token_foreach(struct store *st, const char *user, token_fn fn,
    void *arg);

/*
 * Verify a presented token (len bytes, need not be NUL-terminated) for user
 * and service from rhost (NULL/"" = local) at now.  Returns a verify_result
 * (VERIFY_OK = 0).  On VERIFY_OK and on failures after the token parsed,
 * *tokenp (if not NULL) receives an owned copy of the stored record (for the
 * caller's logs: prefix, expiry).  Never writes a file; on VERIFY_OK it
 * records on st which token it accepted, for store_token_touch.
 */
int store_verify(struct store *st, const char *user, const char *tok,
    size_t len, const char *service, const char *rhost, int64_t now,
    struct token **tokenp);

/*
 * Bookkeeping after a successful login (STORE_AUTH or STORE_WRITE): in one
 * short transaction, re-read token id; if it still exists, is not revoked
 * and has the same verifier, set last_used_time/last_ip/last_service and,
 * with extend_when_used, expiry_time = now + max_age.  Waits at most
 * timeout_ms for the lock (BUSY after).  It touches only the token that
 * store_verify last accepted on this same handle: for any other id
 * (another handle's, or none verified) it returns 0 and writes nothing.
 */
int store_token_touch(struct store *st, const char *id, int64_t now,
    const char *rhost, const char *service, int timeout_ms);

/*
 * Verify the whole store: tdb_check on the master, every record decodes,
 * indexes agree both ways, token lists match tokens, the published pairs
 * equal the master, ids inside the range, no id 0, file modes.  report() is called
 * for each problem (text never contains a secret).  Returns 0 if clean,
 * APPUSER_ERR_CORRUPT if any problem was found.  With STORE_WRITE, a
 * lagging snapshot is republished first (and reported as repaired).
 */
typedef void (*report_fn)(const char *problem, void *arg);
int store_check(struct store *st, report_fn report, void *arg);

/* ---------------------------------------------------------------------- */
/*
 * Reader of the published identity snapshot (NSS module, unprivileged CLI).
 * Not thread-safe: the caller serialises (the NSS module holds a mutex).
 * Opens O_RDONLY|O_CLOEXEC and keeps the handle, and maps identity.gen
 * read-only (its descriptor is closed at once; the mapping is released by
 * idview_close and survives fork).
 */
struct idview;

/*
 * dir is required (the NSS module passes its compiled-in path; nothing here
 * reads the environment).  The directory and files are checked as the
 * writer checks them (snapfile.h, idview.c).  Errors: NOSTORE (no
 * snapshot), UNSAFE, PERMISSION, CORRUPT, VERSION, SYSTEM, INVALID.
 */
int idview_open(const char *dir, struct idview **vp);
void idview_close(struct idview *v);	/* accepts NULL */

/*
 * Make the view current: reopen if the identity pair was replaced.  Costs no
 * system call while identity.gen's counter is unchanged and the last full
 * check is under a second old; otherwise one stat() (and a reopen if the
 * inode changed).  So a refresh after a writer's store_commit (in any
 * process) returned always sees its change; a file replaced or deleted by
 * hand shows within a second.  Without a usable identity.gen: one stat()
 * each time.  Errors as idview_open; after an error the next call checks
 * again, and the view keeps answering from the snapshot it had.
 */
int idview_refresh(struct idview *v);

/* The view's meta (decoded view, valid until the next refresh/close). */
const struct meta *idview_meta(const struct idview *v);

/*
 * Zero-copy lookups: fn is called with a view whose strings point into the
 * mapped file and are valid only during the call.  Returns fn's return value,
 * NOT_FOUND, or CORRUPT for a record that fails to decode.
 */
int idview_user_by_name(struct idview *v, const char *name, user_fn fn,
    void *arg);
int idview_user_by_uid(struct idview *v, uint32_t uid, user_fn fn,
    void *arg);

/*
 * Resumable enumeration for getpwent.  A cursor pins the snapshot it started
 * on (a replaced snapshot stays open until the cursor is released), so one
 * pass is a consistent, complete view in a stable order, while lookups
 * through the same idview already see the new snapshot.  Start with
 * c = IDVIEW_CURSOR_INIT; each call hands the next user to fn; NOT_FOUND at
 * the end.  idview_cursor_release() (endpwent) drops the pin; it accepts a
 * never-started cursor.
 */
struct idview_cursor {
	void	*snap;		/* pinned snapshot pair (internal) */
	uint64_t pos;		/* position in it */
	bool	 done;
};
#define IDVIEW_CURSOR_INIT { NULL, 0, false }
int idview_next_user(struct idview *v, struct idview_cursor *c, user_fn fn,
    void *arg);
void idview_cursor_release(struct idview *v, struct idview_cursor *c);

#endif
