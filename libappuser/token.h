/*
 * Token format and verification.
 *
 *   apu_ IIIIIIIIIIII SSSSSSSSSSSSSSSSSSSSSSSSSSSSSS CCCCCC
 *   |    id: 12 base62   secret: 30 base62 (178 bits) crc32 of all before,
 *   |                                                 6 base62, big-endian
 *   +--- fixed prefix
 *
 * Only [A-Za-z0-9_] so one double-click selects it.  The prefix
 * ("apu_" + id, 16 chars) is public: listings show it, revocation takes it,
 * logs may carry it.  The store keeps only the verifier,
 * BLAKE2b-256(key = "appuser-token-v1", "apu_" + id + secret), compared in
 * constant time.  base62 digits are 0-9A-Za-z.
 */
#ifndef APPUSER_TOKEN_H
#define APPUSER_TOKEN_H

#include "appuser.h"
#include "record.h"

#define TOKEN_MAGIC		"apu_"
#define TOKEN_MAGIC_LEN		4
#define TOKEN_SECRET_LEN	30
#define TOKEN_CRC_LEN		6
#define TOKEN_PREFIX_LEN	(TOKEN_MAGIC_LEN + TOKEN_ID_LEN)		/* 16 */
#define TOKEN_LEN		(TOKEN_PREFIX_LEN + TOKEN_SECRET_LEN + TOKEN_CRC_LEN) /* 52 */
#define TOKEN_MAX_INPUT		4096	/* longer input is malformed unread */

/* Call once per process before anything below (wraps sodium_init). */
int crypto_init(void);

/* CRC-32 (IEEE 802.3, as zlib's crc32). */
uint32_t crc32_ieee(const void *buf, size_t len);

/*
 * Mint a new token: random id and secret from randombytes_buf.
 * tokenbuf receives the NUL-terminated token (TOKEN_LEN + 1 bytes); idbuf the
 * id (TOKEN_ID_LEN + 1); verifier the stored hash.  The caller must
 * sodium_memzero(tokenbuf) when done.
 */
int token_generate(char tokenbuf[TOKEN_LEN + 1], char idbuf[TOKEN_ID_LEN + 1],
    uint8_t verifier[TOKEN_VERIFIER_LEN]);

/*
 * Parse a presented token (any bytes, len given; not necessarily
 * NUL-terminated).  Returns 0 and fills idbuf and verifier, or
 * TOKEN_E_MALFORMED / TOKEN_E_CHECKSUM (as negative verify codes, below).
 * Works in time independent of the secret's value.
 */
int token_parse(const char *tok, size_t len, char idbuf[TOKEN_ID_LEN + 1],
    uint8_t verifier[TOKEN_VERIFIER_LEN]);

/* "apu_" + id, for display: buf at least TOKEN_PREFIX_LEN + 1 bytes. */
void token_prefix(const char *id, char *buf, size_t buflen);

/*
 * Accepts a prefix as an operator types it ("apu_XXXXXXXXXXXX", or the
 * whole token, whose prefix is then used, or the bare id).  Sets idbuf.
 */
int token_id_from_prefix(const char *s, char idbuf[TOKEN_ID_LEN + 1]);

/* Verification outcome: 0 = accepted, else one of these (negative). */
enum verify_result {
	VERIFY_OK = 0,
	VERIFY_MALFORMED = -1,		/* not apu_ + 48 base62 chars */
	VERIFY_BAD_CHECKSUM = -2,	/* mistyped or truncated */
	VERIFY_UNKNOWN = -3,		/* no token with that id */
	VERIFY_WRONG_USER = -4,		/* token belongs to another user */
	VERIFY_MISMATCH = -5,		/* secret does not match */
	VERIFY_EXPIRED = -6,
	VERIFY_REVOKED = -7,
	VERIFY_ADDRESS = -8,		/* rhost not in allow_from */
	VERIFY_SERVICE = -9,		/* service not in scope */
	VERIFY_NO_USER = -10,		/* user is not an application user */
	VERIFY_UNAVAILABLE = -11,	/* store missing/unreadable/corrupt */
};
/* Short reason for logs and errors ("expired", "address not allowed"). */
const char *verify_reason(int v);

/*
 * Decide whether a stored token t (already fetched by the id parsed from the
 * presented token, or NULL when no such id exists) admits user (name, uid)
 * for service from rhost at time now.  presented_verifier is what
 * token_parse computed.  When t is NULL the comparison still runs against a
 * dummy verifier so an unknown id costs the same time as a wrong secret.
 * Order of checks: unknown, wrong user, mismatch, revoked, expired,
 * address, service.
 */
int token_check(const struct token *t, const char *user, uint32_t uid,
    const uint8_t presented_verifier[TOKEN_VERIFIER_LEN],
    const char *service, const char *rhost, int64_t now);

/* Is the token expired at now? (expiry_time != 0 && now >= expiry_time) */
bool token_is_expired(const struct token *t, int64_t now);

#endif
