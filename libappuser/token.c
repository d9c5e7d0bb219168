/*
 * Token format, generation, parsing and the verification decision
 * (format described in token.h).
 */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "codec.h"
#include "names.h"
#include "token.h"

#define TOKEN_HASHED_LEN	(TOKEN_PREFIX_LEN + TOKEN_SECRET_LEN)	/* 46 */
#define TOKEN_RANDOM_LEN	(TOKEN_ID_LEN + TOKEN_SECRET_LEN)	/* 42 */

static const char b62[] =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/* The BLAKE2b key: exactly crypto_generichash_KEYBYTES_MIN (16) bytes. */
static const uint8_t vkey[16] = {
	'a', 'p', 'p', 'u', 's', 'e', 'r', '-',
	't', 'o', 'k', 'e', 'n', '-', 'v', '1'
};

int
crypto_init(void)
{
	/* sodium_init is thread-safe and returns 1 when already done */
	return sodium_init() < 0 ? APPUSER_ERR_INTERNAL : 0;
}

/* Bitwise and branch-free: the input includes the secret. */
uint32_t
crc32_ieee(const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint32_t crc = 0xffffffffu;
	size_t i;
	int k;

	for (i = 0; i < len; i++) {
		crc ^= p[i];
		for (k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
	}
	return crc ^ 0xffffffffu;
}

static void
crc_encode(uint32_t crc, char out[TOKEN_CRC_LEN])
{
	int i;

	for (i = TOKEN_CRC_LEN - 1; i >= 0; i--) {
		out[i] = b62[crc % 62];
		crc /= 62;
	}
}

/* 1 if lo <= c <= hi, without a branch (c, lo, hi < 256). */
static uint32_t
in_range(uint32_t c, uint32_t lo, uint32_t hi)
{
	return (((c - lo) | (hi - c)) >> 31) ^ 1u;
}

/* Value of a base62 digit (c already known valid), without a branch. */
static uint32_t
b62_value(unsigned char ch)
{
	uint32_t c = ch;

	return ((0u - in_range(c, '0', '9')) & (c - '0')) |
	    ((0u - in_range(c, 'A', 'Z')) & (c - 'A' + 10)) |
	    ((0u - in_range(c, 'a', 'z')) & (c - 'a' + 36));
}

static int
compute_verifier(const char *hashed, uint8_t verifier[TOKEN_VERIFIER_LEN])
{
	if (crypto_generichash(verifier, TOKEN_VERIFIER_LEN,
	    (const unsigned char *)hashed, TOKEN_HASHED_LEN,
	    vkey, sizeof(vkey)) != 0)
		return APPUSER_ERR_INTERNAL;
	return 0;
}

int
token_generate(char tokenbuf[TOKEN_LEN + 1], char idbuf[TOKEN_ID_LEN + 1],
    uint8_t verifier[TOKEN_VERIFIER_LEN])
{
	uint8_t pool[64], v[TOKEN_VERIFIER_LEN];
	char tok[TOKEN_LEN + 1];
	size_t have = 0, i;
	int r = APPUSER_ERR_INTERNAL;

	if ((r = crypto_init()) != 0)
		return r;
	memcpy(tok, TOKEN_MAGIC, TOKEN_MAGIC_LEN);
	/* rejection sampling: 248 = 4 * 62, so byte % 62 is uniform */
	while (have < TOKEN_RANDOM_LEN) {
		randombytes_buf(pool, sizeof(pool));
		for (i = 0; i < sizeof(pool) && have < TOKEN_RANDOM_LEN; i++)
			if (pool[i] < 248)
				tok[TOKEN_MAGIC_LEN + have++] = b62[pool[i] % 62];
	}
	crc_encode(crc32_ieee(tok, TOKEN_HASHED_LEN), tok + TOKEN_HASHED_LEN);
	tok[TOKEN_LEN] = '\0';
	if ((r = compute_verifier(tok, v)) != 0)
		goto out;
	memcpy(tokenbuf, tok, sizeof(tok));
	memcpy(idbuf, tok + TOKEN_MAGIC_LEN, TOKEN_ID_LEN);
	idbuf[TOKEN_ID_LEN] = '\0';
	memcpy(verifier, v, sizeof(v));
	r = 0;
 out:
	sodium_memzero(pool, sizeof(pool));
	sodium_memzero(tok, sizeof(tok));
	sodium_memzero(v, sizeof(v));
	return r;
}

int
token_parse(const char *tok, size_t len, char idbuf[TOKEN_ID_LEN + 1],
    uint8_t verifier[TOKEN_VERIFIER_LEN])
{
	uint8_t v[TOKEN_VERIFIER_LEN];
	uint64_t want = 0;
	int i;

	/* the length and the magic are public: branching on them is fine */
	if (tok == NULL || len > TOKEN_MAX_INPUT || len != TOKEN_LEN ||
	    memcmp(tok, TOKEN_MAGIC, TOKEN_MAGIC_LEN) != 0)
		return VERIFY_MALFORMED;
	/* one verdict for all 48 chars, computed without a data branch */
	if (!base62_valid(tok + TOKEN_MAGIC_LEN, TOKEN_LEN - TOKEN_MAGIC_LEN))
		return VERIFY_MALFORMED;
	for (i = 0; i < TOKEN_CRC_LEN; i++)
		want = want * 62 +
		    b62_value((unsigned char)tok[TOKEN_HASHED_LEN + i]);
	/* 62^6 > 2^32: want is 64-bit, a value above 2^32 never matches */
	if ((uint64_t)crc32_ieee(tok, TOKEN_HASHED_LEN) != want)
		return VERIFY_BAD_CHECKSUM;
	if (compute_verifier(tok, v) != 0) {
		sodium_memzero(v, sizeof(v));
		return VERIFY_MALFORMED;
	}
	memcpy(idbuf, tok + TOKEN_MAGIC_LEN, TOKEN_ID_LEN);
	idbuf[TOKEN_ID_LEN] = '\0';
	memcpy(verifier, v, sizeof(v));
	sodium_memzero(v, sizeof(v));
	return VERIFY_OK;
}

void
token_prefix(const char *id, char *buf, size_t buflen)
{
	if (buf == NULL || buflen == 0)
		return;
	snprintf(buf, buflen, "%s%.*s", TOKEN_MAGIC, TOKEN_ID_LEN,
	    id == NULL ? "" : id);
}

int
token_id_from_prefix(const char *s, char idbuf[TOKEN_ID_LEN + 1])
{
	const char *id;
	size_t len;

	if (s == NULL)
		return APPUSER_ERR_INVALID;
	len = strnlen(s, TOKEN_LEN + 1);
	if ((len == TOKEN_PREFIX_LEN || len == TOKEN_LEN) &&
	    memcmp(s, TOKEN_MAGIC, TOKEN_MAGIC_LEN) == 0)
		id = s + TOKEN_MAGIC_LEN;	/* prefix, or a whole token */
	else if (len == TOKEN_ID_LEN)
		id = s;
	else
		return APPUSER_ERR_INVALID;
	if (!base62_valid(id, TOKEN_ID_LEN))
		return APPUSER_ERR_INVALID;
	memcpy(idbuf, id, TOKEN_ID_LEN);
	idbuf[TOKEN_ID_LEN] = '\0';
	return 0;
}

static const char *const reasons[] = {
	[-VERIFY_OK] = "accepted",
	[-VERIFY_MALFORMED] = "malformed token",
	[-VERIFY_BAD_CHECKSUM] = "bad checksum",
	[-VERIFY_UNKNOWN] = "unknown token",
	[-VERIFY_WRONG_USER] = "token belongs to another user",
	[-VERIFY_MISMATCH] = "secret mismatch",
	[-VERIFY_EXPIRED] = "expired",
	[-VERIFY_REVOKED] = "revoked",
	[-VERIFY_ADDRESS] = "address not allowed",
	[-VERIFY_SERVICE] = "service not allowed",
	[-VERIFY_NO_USER] = "not an application user",
	[-VERIFY_UNAVAILABLE] = "store unavailable",
};

const char *
verify_reason(int v)
{
	if (v > 0 || (size_t)-(long)v >= sizeof(reasons) / sizeof(reasons[0]))
		return "unknown result";
	return reasons[-v];
}

int
token_check(const struct token *t, const char *user, uint32_t uid,
    const uint8_t presented_verifier[TOKEN_VERIFIER_LEN],
    const char *service, const char *rhost, int64_t now)
{
	/* an unknown id pays for one comparison, as a wrong secret does */
	static const uint8_t dummy[TOKEN_VERIFIER_LEN];

	if (presented_verifier == NULL)
		return VERIFY_MALFORMED;
	if (t == NULL) {
		volatile int sink;

		sink = sodium_memcmp(dummy, presented_verifier, sizeof(dummy));
		(void)sink;
		return VERIFY_UNKNOWN;
	}
	if (user == NULL || t->user == NULL || strcmp(t->user, user) != 0 ||
	    t->uid != uid)
		return VERIFY_WRONG_USER;
	if (sodium_memcmp(t->verifier, presented_verifier,
	    TOKEN_VERIFIER_LEN) != 0)
		return VERIFY_MISMATCH;
	if (t->revoke_time != 0)
		return VERIFY_REVOKED;
	if (token_is_expired(t, now))
		return VERIFY_EXPIRED;
	if (!addr_list_match(t->allow, t->n_allow, rhost))
		return VERIFY_ADDRESS;
	if (!scope_match(t->scope, t->n_scope, service))
		return VERIFY_SERVICE;
	return VERIFY_OK;
}

bool
token_is_expired(const struct token *t, int64_t now)
{
	if (t == NULL)
		return true;	/* fail closed */
	return t->expiry_time != 0 && now >= t->expiry_time;
}
