/*
 * Records and their byte encoding.
 *
 * Every record starts with a one-byte record type and a one-byte format
 * version, then fields in a fixed order, integers big-endian, strings as a
 * u16 length that counts a trailing NUL, followed by the bytes and the NUL
 * (so a decoded string can point straight into the buffer).  Decoders check
 * every length against what is left, reject a string with an interior NUL
 * or without its terminator, reject trailing bytes, and return
 * APPUSER_ERR_CORRUPT for anything malformed and APPUSER_ERR_VERSION for a
 * record version newer than this build knows.  Never raw structs.
 */
#ifndef APPUSER_RECORD_H
#define APPUSER_RECORD_H

#include "appuser.h"

#define RECORD_TYPE_USER	'U'
#define RECORD_TYPE_TOKEN	'T'
#define RECORD_TYPE_META	'M'
#define RECORD_VERSION		1	/* users and meta */
#define RECORD_VERSION_TOKEN	2	/* 2 added usage_slot (last field) */

/*
 * Store format version, kept in the meta record.  2: snapshot files
 * (snapfile.h) instead of identity.tdb, token records with a usage slot.
 * A writer upgrades a format-1 store in place when it opens it.
 */
#define STORE_FORMAT_VERSION	2

/*
 * An application user.  As decoded, the strings point into the buffer that
 * was decoded (a "view": valid while that buffer lives, never freed).
 * user_dup() makes an owned copy that user_free() releases.
 */
struct user {
	const char	*name;
	const char	*description;	/* "" when none; becomes the gecos */
	const char	*home;
	const char	*shell;
	uint32_t	 uid;
	uint32_t	 gid;		/* private group, == uid */
	bool		 admin;		/* member of the admin group */
	int64_t		 create_time;	/* unix seconds */
};

/* One allow_from entry. */
#define ADDR_LOCAL	0	/* the word "local": no remote host */
struct addr_rule {
	uint8_t	family;		/* ADDR_LOCAL, AF_INET or AF_INET6 */
	uint8_t	prefix;		/* prefix length in bits */
	uint8_t	addr[16];	/* network address, 4 or 16 bytes used */
};

#define TOKEN_ID_LEN		12	/* base62 chars of the public id */
#define TOKEN_VERIFIER_LEN	32	/* BLAKE2b-256 */
#define TOKEN_MAX_ALLOW		64
#define TOKEN_MAX_SCOPE		32
/* Bounds a record must respect (encode refuses, decode says CORRUPT), so that
 * "now + max_age" and "expiry - now" can never overflow an int64_t. */
#define TOKEN_MAX_AGE_SECONDS	(100LL * 365 * 86400)	/* 100 years */
#define RECORD_TIME_MAX		253402300799LL		/* 9999-12-31 */

/*
 * A token's stored record (never the token itself).  Times are unix seconds;
 * 0 means "none/never".  Like struct user, a decoded token is a view into
 * the buffer except for the two arrays, which token_decode allocates: call
 * token_clear() on a decoded token, token_free() on a token_dup() copy.
 */
struct token {
	char		 id[TOKEN_ID_LEN + 1];
	const char	*user;			/* owner's name */
	uint32_t	 uid;			/* owner's uid at creation */
	uint8_t		 verifier[TOKEN_VERIFIER_LEN];
	const char	*description;		/* "" when none */
	int64_t		 create_time;
	int64_t		 max_age_seconds;	/* 0: never expires */
	bool		 extend_when_used;	/* sliding expiry */
	int64_t		 expiry_time;		/* 0: never */
	int64_t		 revoke_time;		/* 0: not revoked */
	int64_t		 last_used_time;	/* 0: never used */
	const char	*last_ip;		/* "" when never / no rhost */
	const char	*last_service;		/* "" when never used */
	size_t		 n_allow;		/* 0: any address */
	struct addr_rule *allow;
	size_t		 n_scope;		/* 0: every service */
	const char	**scope;
	uint32_t	 usage_slot;		/* in the usage file; 0: none */
};

/*
 * Store-wide settings and bookkeeping ('!meta' key of both files).
 * admins lists the names of the organization admins (both files keep it, so
 * the admin group is one fetch); decoded as views plus an allocated array:
 * meta_clear() releases it.
 */
struct meta {
	uint32_t	 format;		/* STORE_FORMAT_VERSION */
	uint64_t	 generation;		/* bumped by every identity change */
	uint32_t	 uid_min;
	uint32_t	 uid_max;
	uint32_t	 next_uid;		/* allocation cursor (master only) */
	const char	*admin_group;
	uint32_t	 admin_gid;
	uint64_t	 n_users;
	size_t		 n_admins;
	const char	**admins;
};

/* Encoders: *bufp is malloc'd, the caller frees it. */
int record_encode_user(const struct user *u, uint8_t **bufp, size_t *lenp);
int record_encode_token(const struct token *t, uint8_t **bufp, size_t *lenp);
int record_encode_meta(const struct meta *m, uint8_t **bufp, size_t *lenp);

/* Decoders: on success *out is a view into buf (see above). */
int record_decode_user(const uint8_t *buf, size_t len, struct user *u);
int record_decode_token(const uint8_t *buf, size_t len, struct token *t);
int record_decode_meta(const uint8_t *buf, size_t len, struct meta *m);

/* Owned copies. All free/clear functions accept NULL. */
struct user *user_dup(const struct user *u);
void user_free(struct user *u);
struct token *token_dup(const struct token *t);
void token_clear(struct token *t);	/* frees arrays of a decoded view */
void token_free(struct token *t);	/* frees a token_dup() copy */
void meta_clear(struct meta *m);

/* Is name in m's list of admins?  (The one search of that list.) */
bool meta_has_admin(const struct meta *m, const char *name);

#endif
