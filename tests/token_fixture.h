/*
 * What the token tests share (tests/test_token.c, test_store_token.c,
 * test_pam.c): the token alphabet and the checksum put right after a test
 * edited a token, so that the edit reaches the check it means to test
 * instead of failing the checksum first.  No cmocka; static inline, so a
 * program that does not use a helper gets no copy of it.
 */
#ifndef APPUSER_TESTS_TOKEN_FIXTURE_H
#define APPUSER_TESTS_TOKEN_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

#include "token.h"

/* The base-62 alphabet of a token's secret and checksum (token.c). */
static const char fx_b62[] =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/* Give tok a correct checksum after editing its prefix or secret. */
static inline void
fx_fix_crc(char *tok)
{
	const size_t hashed = TOKEN_PREFIX_LEN + TOKEN_SECRET_LEN;
	uint32_t crc = crc32_ieee(tok, hashed);
	int i;

	for (i = TOKEN_CRC_LEN - 1; i >= 0; i--) {
		tok[hashed + (size_t)i] = fx_b62[crc % 62];
		crc /= 62;
	}
}

#endif /* APPUSER_TESTS_TOKEN_FIXTURE_H */
