/*
 * Internal: shared by store.c (open, transactions, keys, meta),
 * store_snap.c (publishing the snapshot pairs), store_user.c, store_token.c and
 * store_check.c.  See store.h for the design.
 */
#ifndef APPUSER_STORE_INT_H
#define APPUSER_STORE_INT_H

#include <sys/types.h>

#include <tdb.h>

#include "keys.h"
#include "snapfile.h"
#include "store.h"


#define MASTER_HASH_SIZE	1000003	/* fixed at creation; ~4 MB */
#define SNAP_TMP_PREFIX		"tmp."	/* tmp.<file>.<pid> while built */
#define KIND_IDENTITY		0	/* index into struct store's pend[] */
#define KIND_TOKENS		1
#define MASTER_TDB_FLAGS	(TDB_INCOMPATIBLE_HASH | TDB_DISALLOW_NESTING)

struct key {
	uint8_t		 b[KEY_MAX];
	size_t		 len;
};

/* Names whose identity records changed in the open transaction. */
struct delta {
	char		*buf;		/* NUL-separated names */
	size_t		 len;
	size_t		 cap;
	size_t		 n;
};

/* Last token store_verify accepted: what store_token_touch may update. */
struct verified {
	bool		 set;
	char		 id[TOKEN_ID_LEN + 1];
	uint32_t	 slot;
	int64_t		 max_age;	/* > 0 with a sliding expiry */
};

/* Snapshot files built in this transaction, renamed after the commit. */
struct pending {
	char		*base_tmp;	/* NULL: the base stays */
	char		*delta_tmp;	/* NULL: nothing to publish */
};

struct store {
	char			*dir;
	char			*master_path;
	int			 flags;
	uid_t			 owner;		/* of dir */
	int			 lockfd;	/* STORE_WRITE only, else -1 */
	dev_t			 lock_dev;
	ino_t			 lock_ino;
	struct store		*held_next;	/* process-wide writer list */
	struct tdb_context	*tdb;		/* master */
	uint8_t			*metabuf;	/* meta is a view into it */
	struct meta		 meta;
	bool			 in_txn;
	bool			 identity_dirty; /* users or meta changed */
	bool			 meta_dirty;
	int			 txn_err;	/* poisons the transaction */
	uint64_t		 gen0;		/* generation at store_begin */
	uint64_t		 tgen;		/* token generation (!tgen) */
	uint64_t		 tgen0;		/* ... at store_begin */
	bool			 tokens_dirty;	/* tokens changed */
	struct delta		 delta;		/* names changed */
	struct delta		 tdelta;	/* token ids changed */
	struct pending		 pend[2];	/* by KIND_* */
	struct snapset		 ids;		/* views for verify (AUTH) */
	struct snapset		 toks;
	bool			 views;		/* ids and toks are open */
	int			 usagefd;	/* -1: not open */
	collision_fn		 collide;
	void			*collide_arg;
	struct verified		 verified;
};

/* store.c: tdb access.  db_fetch's data is malloc'd, caller frees. */
int db_err(struct tdb_context *tdb);
int key_user(struct key *k, char type, const char *name);
void key_uid(struct key *k, uint32_t uid);
void key_token(struct key *k, const char *id);
TDB_DATA key_data(const struct key *k);
int db_fetch(struct store *st, const struct key *k, TDB_DATA *dp);
int db_store(struct store *st, const struct key *k, const void *p,
    size_t n, int flag);
int db_delete(struct store *st, const struct key *k);

/* store_token.c: usage slots (a token's place in the usage file). */
int slot_alloc(struct store *st, uint32_t *slotp);
int slot_free(struct store *st, uint32_t slot);

/* store.c: the snapshot views that verification reads (st->ids, toks). */
int store_views_open(struct store *st);
void store_views_close(struct store *st);
int db_exists(struct store *st, const struct key *k);

/* store.c: user records (u is a view into *bufp; free the buffer). */
int user_fetch(struct store *st, const char *name, uint8_t **bufp,
    struct user *u);

/* store.c: meta (st->meta is a view into st->metabuf). */
int meta_check(const struct meta *m);
int meta_load(struct store *st);
int meta_set(struct store *st, const struct meta *m);
int meta_flush(struct store *st);

/* store.c: transactions around a mutator. */
int txn_enter(struct store *st, bool *beganp);
int txn_leave(struct store *st, bool began, int r);
int txn_fail(struct store *st, int r);
int delta_add(struct store *st, const char *name);
int tdelta_add(struct store *st, const char *id);
/* fn for each id in user's token list (L<name>), in the order added,
 * until it returns non-zero; NOT_FOUND: no such user (store_token.c). */
typedef int (*id_fn)(struct store *st, const char *id, void *arg);
int token_list_walk(struct store *st, const char *user, id_fn fn,
    void *arg);
int tgen_load(struct store *st);	/* st->tgen from !tgen (0 if none) */
int tgen_flush(struct store *st);	/* st->tgen to !tgen */

/* store.c: walk records whose key starts with type ('\0': all).  fn gets
 * key and data (valid during the call); no tdb lock is held during fn
 * outside a transaction. */
typedef int (*walk_fn)(TDB_DATA key, TDB_DATA data, void *arg);
int db_walk(struct store *st, char type, walk_fn fn, void *arg);

/* store_snap.c: publishing the snapshot pairs (snapfile.h). */
int snap_build(struct store *st);	/* tmp files, in the transaction */
int snap_install(struct store *st);	/* rename them, after the commit */
void snap_discard(struct store *st);	/* unlink them */
int snap_roll_forward(struct store *st, bool *repairedp);
/* What the snapshot of kind should hold under key, from the master (in or
 * out of a transaction): 0 and *dp (malloc'd), or NOT_FOUND. */
int snap_master_value(struct store *st, int kind, const uint8_t *key,
    size_t klen, TDB_DATA *dp);
int snap_kind_file(int kind);		/* KIND_* -> SNAP_KIND_* */
mode_t snap_kind_forbid(int kind);	/* mode bits readers refuse */

#endif
