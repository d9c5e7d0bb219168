/*
 * Unit tests for the token format and the verification decision
 * (libappuser/token.c).  Known vectors were computed independently with
 * Python's zlib.crc32 and hashlib.blake2b(key=b"appuser-token-v1").
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <sodium.h>

#include "names.h"
#include "record.h"
#include "token.h"

#include "token_fixture.h"

#define N_GEN	1000


/* apu_ + id 0123456789ab + secret A..Za..d + crc 0xc27733ba as base62 */
static const char known_tok[] =
    "apu_0123456789abABCDEFGHIJKLMNOPQRSTUVWXYZabcd3YnVCU";
static const uint8_t known_verifier[TOKEN_VERIFIER_LEN] = {
	0xf7, 0x87, 0x7c, 0x87, 0x1b, 0x74, 0x75, 0x3b, 0xc2, 0xcb, 0x56,
	0x12, 0x3f, 0xa2, 0xa6, 0xc6, 0x2b, 0x0c, 0x45, 0x39, 0xb7, 0xf6,
	0x7b, 0x50, 0xec, 0x4a, 0x31, 0xaa, 0x91, 0x1a, 0x95, 0x93,
};

static int
setup(void **state)
{
	(void)state;
	return crypto_init();
}

static void
test_crc32(void **state)
{
	(void)state;
	assert_int_equal(crc32_ieee("123456789", 9), 0xcbf43926u);
	assert_int_equal(crc32_ieee("", 0), 0);
	assert_int_equal(crc32_ieee("a", 1), 0xe8b7be43u);
	assert_int_equal(crc32_ieee(known_tok, 46), 0xc27733bau);
	assert_int_equal(crypto_init(), 0);	/* idempotent */
}

static void
test_known_vector(void **state)
{
	char id[TOKEN_ID_LEN + 1];
	uint8_t v[TOKEN_VERIFIER_LEN];

	(void)state;
	assert_int_equal(strlen(known_tok), TOKEN_LEN);
	assert_int_equal(token_parse(known_tok, TOKEN_LEN, id, v), VERIFY_OK);
	assert_string_equal(id, "0123456789ab");
	assert_memory_equal(v, known_verifier, sizeof(v));
}

static void
test_generate_format(void **state)
{
	char tok[TOKEN_LEN + 1], id[TOKEN_ID_LEN + 1], pid[TOKEN_ID_LEN + 1];
	uint8_t v[TOKEN_VERIFIER_LEN], pv[TOKEN_VERIFIER_LEN];
	uint8_t expect[TOKEN_VERIFIER_LEN];
	regex_t re;
	int i;

	(void)state;
	assert_int_equal(regcomp(&re, "^apu_[0-9A-Za-z]{48}$",
	    REG_EXTENDED | REG_NOSUB), 0);
	for (i = 0; i < 50; i++) {
		memset(tok, 'x', sizeof(tok));
		assert_int_equal(token_generate(tok, id, v), 0);
		assert_int_equal(strlen(tok), TOKEN_LEN);
		assert_int_equal(regexec(&re, tok, 0, NULL, 0), 0);
		assert_int_equal(strlen(id), TOKEN_ID_LEN);
		assert_memory_equal(tok + 4, id, TOKEN_ID_LEN);
		/* the verifier is keyed BLAKE2b-256 of the first 46 chars */
		assert_int_equal(crypto_generichash(expect, sizeof(expect),
		    (const unsigned char *)tok, 46,
		    (const unsigned char *)"appuser-token-v1", 16), 0);
		assert_memory_equal(v, expect, sizeof(v));
		/* parse(generate) gives the same id and verifier */
		assert_int_equal(token_parse(tok, TOKEN_LEN, pid, pv), VERIFY_OK);
		assert_string_equal(pid, id);
		assert_memory_equal(pv, v, sizeof(v));
		sodium_memzero(tok, sizeof(tok));
	}
	regfree(&re);
}

static int
cmp_tok(const void *a, const void *b)
{
	return memcmp(a, b, TOKEN_LEN + 1);
}

static int
cmp_id(const void *a, const void *b)
{
	return memcmp(a, b, TOKEN_ID_LEN + 1);
}

static void
test_generate_unique_and_uniform(void **state)
{
	char (*toks)[TOKEN_LEN + 1], (*ids)[TOKEN_ID_LEN + 1];
	uint8_t v[TOKEN_VERIFIER_LEN];
	unsigned long count[256] = { 0 }, lo = 0, hi = 0;
	int i, j;

	(void)state;
	toks = calloc(N_GEN, sizeof(*toks));
	ids = calloc(N_GEN, sizeof(*ids));
	assert_non_null(toks);
	assert_non_null(ids);
	for (i = 0; i < N_GEN; i++) {
		assert_int_equal(token_generate(toks[i], ids[i], v), 0);
		for (j = 4; j < 46; j++)
			count[(unsigned char)toks[i][j]]++;
	}
	qsort(toks, N_GEN, sizeof(*toks), cmp_tok);
	qsort(ids, N_GEN, sizeof(*ids), cmp_id);
	for (i = 1; i < N_GEN; i++) {
		assert_true(memcmp(toks[i - 1], toks[i], TOKEN_LEN) != 0);
		assert_true(memcmp(ids[i - 1], ids[i], TOKEN_ID_LEN) != 0);
	}
	/*
	 * 42000 digits, ~677 per symbol (sd ~26).  Plain byte % 62 would give
	 * '0'..'7' 25% more (~820); rejection sampling keeps them level.
	 */
	for (j = 0; j < 62; j++) {
		assert_true(count[(unsigned char)fx_b62[j]] > 450);
		if (j < 8)
			lo += count[(unsigned char)fx_b62[j]];
		else
			hi += count[(unsigned char)fx_b62[j]];
	}
	assert_true(lo / 8 < 740);
	assert_true(hi / 54 > 620);
	sodium_memzero(toks, N_GEN * sizeof(*toks));
	free(toks);
	free(ids);
}

static int
parse(const char *tok, size_t len)
{
	char id[TOKEN_ID_LEN + 1] = "untouched!!";
	uint8_t v[TOKEN_VERIFIER_LEN];
	int r;

	r = token_parse(tok, len, id, v);
	if (r != VERIFY_OK)
		assert_string_equal(id, "untouched!!");
	return r;
}

static void
test_parse_checksum(void **state)
{
	char tok[TOKEN_LEN + 1];
	size_t pos;
	int c;

	(void)state;
	memcpy(tok, known_tok, sizeof(tok));
	/* each checksum char changed */
	for (pos = 46; pos < TOKEN_LEN; pos++) {
		tok[pos] = tok[pos] == 'z' ? 'y' : 'z';
		assert_int_equal(parse(tok, TOKEN_LEN), VERIFY_BAD_CHECKSUM);
		/* the next pos reads it back: */
		/* cppcheck-suppress unreadVariable */
		tok[pos] = known_tok[pos];
	}
	/* every single-char change of id or secret is caught by the crc */
	for (pos = 4; pos < 46; pos++) {
		for (c = 0; c < 62; c++) {
			if (fx_b62[c] == known_tok[pos])
				continue;
			tok[pos] = fx_b62[c];
			if (parse(tok, TOKEN_LEN) != VERIFY_BAD_CHECKSUM)
				fail_msg("pos %zu char %c not caught", pos,
				    fx_b62[c]);
		}
		/* read back by the next pos */
		/* cppcheck-suppress unreadVariable */
		tok[pos] = known_tok[pos];
	}
	/* crc digits above 2^32 ("zzzzzz") never match */
	memcpy(tok + 46, "zzzzzz", 6);
	assert_int_equal(parse(tok, TOKEN_LEN), VERIFY_BAD_CHECKSUM);
	/* two swapped chars */
	memcpy(tok, known_tok, sizeof(tok));
	tok[20] = known_tok[21];
	tok[21] = known_tok[20];
	assert_int_equal(parse(tok, TOKEN_LEN), VERIFY_BAD_CHECKSUM);
}

static void
test_parse_malformed(void **state)
{
	static const char *const bad_chars = "_- \t\n\r+/=.:\x80\xff";
	char tok[TOKEN_LEN + 2], *big, *exact;
	size_t pos, i;

	(void)state;
	memcpy(tok, known_tok, TOKEN_LEN + 1);
	assert_int_equal(parse(tok, 0), VERIFY_MALFORMED);
	assert_int_equal(parse(tok, TOKEN_LEN - 1), VERIFY_MALFORMED);
	assert_int_equal(parse(tok, TOKEN_LEN + 1), VERIFY_MALFORMED);
	assert_int_equal(parse(NULL, TOKEN_LEN), VERIFY_MALFORMED);
	/* trailing newline as read from a file */
	tok[TOKEN_LEN] = '\n';
	assert_int_equal(parse(tok, TOKEN_LEN + 1), VERIFY_MALFORMED);
	tok[TOKEN_LEN] = '\0';
	/* wrong magic */
	tok[0] = 'A';
	assert_int_equal(parse(tok, TOKEN_LEN), VERIFY_MALFORMED);
	tok[0] = 'a';
	tok[3] = '-';
	assert_int_equal(parse(tok, TOKEN_LEN), VERIFY_MALFORMED);
	tok[3] = '_';
	/* a bad char, NUL included, anywhere after the magic */
	for (pos = 4; pos < TOKEN_LEN; pos++) {
		for (i = 0; i <= strlen(bad_chars); i++) {
			tok[pos] = bad_chars[i];	/* last: the NUL */
			assert_int_equal(parse(tok, TOKEN_LEN), VERIFY_MALFORMED);
		}
		/* read back by the next pos */
		/* cppcheck-suppress unreadVariable */
		tok[pos] = known_tok[pos];
	}
	/* huge input: malformed, not read */
	big = malloc(64 * 1024);
	assert_non_null(big);
	for (i = 0; i + TOKEN_LEN <= 64 * 1024; i += TOKEN_LEN)
		memcpy(big + i, known_tok, TOKEN_LEN);
	assert_int_equal(parse(big, 64 * 1024), VERIFY_MALFORMED);
	assert_int_equal(parse(big, TOKEN_MAX_INPUT + 1), VERIFY_MALFORMED);
	assert_int_equal(parse(big, SIZE_MAX), VERIFY_MALFORMED);
	free(big);
	/* exactly TOKEN_LEN bytes, no terminator: must not read past */
	exact = malloc(TOKEN_LEN);
	assert_non_null(exact);
	memcpy(exact, known_tok, TOKEN_LEN);
	assert_int_equal(parse(exact, TOKEN_LEN), VERIFY_OK);
	free(exact);
}

static void
test_prefix(void **state)
{
	/* too short, too long, another magic, a character outside base62 */
	static const char *const bad[] = { "", "apu_", "apu_0123456789a",
	    "apu_0123456789abc", "xpu_0123456789ab", "apu_0123456789a_",
	    "0123456789a", "0123456789abc", "0123456789a-" };
	char buf[TOKEN_PREFIX_LEN + 1], small[6], id[TOKEN_ID_LEN + 1];
	size_t i;

	(void)state;
	token_prefix("0123456789ab", buf, sizeof(buf));
	assert_string_equal(buf, "apu_0123456789ab");
	token_prefix("0123456789abEXTRA", buf, sizeof(buf));
	assert_string_equal(buf, "apu_0123456789ab");
	token_prefix("0123456789ab", small, sizeof(small));
	assert_string_equal(small, "apu_0");

	assert_int_equal(token_id_from_prefix("apu_0123456789ab", id), 0);
	assert_string_equal(id, "0123456789ab");
	memset(id, 0, sizeof(id));
	assert_int_equal(token_id_from_prefix(known_tok, id), 0);
	assert_string_equal(id, "0123456789ab");
	memset(id, 0, sizeof(id));
	assert_int_equal(token_id_from_prefix("Zz0123456789", id), 0);
	assert_string_equal(id, "Zz0123456789");
	strcpy(id, "untouched!!");
	assert_int_equal(token_id_from_prefix(NULL, id), APPUSER_ERR_INVALID);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (token_id_from_prefix(bad[i], id) != APPUSER_ERR_INVALID)
			fail_msg("prefix '%s' accepted", bad[i]);
	assert_string_equal(id, "untouched!!");
}

static void
test_verify_reason(void **state)
{
	static const struct {
		int		 v;
		const char	*s;
	} tab[] = {
		{ VERIFY_OK, "accepted" },
		{ VERIFY_MALFORMED, "malformed token" },
		{ VERIFY_BAD_CHECKSUM, "bad checksum" },
		{ VERIFY_UNKNOWN, "unknown token" },
		{ VERIFY_WRONG_USER, "token belongs to another user" },
		{ VERIFY_MISMATCH, "secret mismatch" },
		{ VERIFY_EXPIRED, "expired" },
		{ VERIFY_REVOKED, "revoked" },
		{ VERIFY_ADDRESS, "address not allowed" },
		{ VERIFY_SERVICE, "service not allowed" },
		{ VERIFY_NO_USER, "not an application user" },
		{ VERIFY_UNAVAILABLE, "store unavailable" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(tab) / sizeof(tab[0]); i++)
		assert_string_equal(verify_reason(tab[i].v), tab[i].s);
	assert_non_null(verify_reason(-12));
	assert_non_null(verify_reason(1));
	assert_non_null(verify_reason(-2147483647 - 1));
}

static const char *const scope_sshd[] = { "sshd", "login" };
static struct addr_rule allow10 = { AF_INET, 8, { 10 } };

static struct token
good_token(void)
{
	struct token t = {
		.id = "0123456789ab", .user = "deploy", .uid = 1900000005u,
		.description = "", .create_time = 1000, .expiry_time = 5000,
		.last_ip = "", .last_service = "",
		.n_allow = 1, .allow = &allow10,
		.n_scope = 2, .scope = (const char **)scope_sshd,
	};
	memcpy(t.verifier, known_verifier, sizeof(t.verifier));
	return t;
}

#define UID	1900000005u	/* good_token's */

/* One call of token_check and what it must return. */
struct check_case {
	const struct token	*t;
	const char		*user;
	uint32_t		 uid;
	const uint8_t		*v;
	const char		*service;
	const char		*rhost;
	int64_t			 now;
	int			 want;
};

/* Each case in turn; a failure names its row. */
static void
run_checks(const struct check_case *c, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		int r = token_check(c[i].t, c[i].user, c[i].uid, c[i].v,
		    c[i].service, c[i].rhost, c[i].now);

		if (r != c[i].want)
			fail_msg("case %zu: %d, want %d", i, r, c[i].want);
	}
}

#define N_CASES(a)	(sizeof(a) / sizeof((a)[0]))

static void
test_check_reasons(void **state)
{
	const uint8_t *kv = known_verifier;
	uint8_t wrong[TOKEN_VERIFIER_LEN];
	struct token t = good_token(), rev = good_token(),
	    any = good_token();
	const char *gw = "gateway.example.com";
	const struct check_case cases[] = {
		{ &t, "deploy", UID, kv, "sshd", "10.1.2.3", 4999, VERIFY_OK },
		{ NULL, "deploy", UID, kv, "sshd", "10.1.2.3", 4999,
		    VERIFY_UNKNOWN },
		{ &t, "other", UID, kv, "sshd", "10.1.2.3", 4999,
		    VERIFY_WRONG_USER },
		{ &t, "deploy", UID + 1, kv, "sshd", "10.1.2.3", 4999,
		    VERIFY_WRONG_USER },
		{ &t, "deplo", UID, kv, "sshd", "10.1.2.3", 4999,
		    VERIFY_WRONG_USER },
		{ &t, NULL, UID, kv, "sshd", "10.1.2.3", 4999,
		    VERIFY_WRONG_USER },
		{ &t, "deploy", UID, wrong, "sshd", "10.1.2.3", 4999,
		    VERIFY_MISMATCH },
		{ &t, "deploy", UID, kv, "sshd", "10.1.2.3", 5000,
		    VERIFY_EXPIRED },
		{ &t, "deploy", UID, kv, "sshd", "11.1.2.3", 4999,
		    VERIFY_ADDRESS },
		{ &t, "deploy", UID, kv, "sshd", NULL, 4999, VERIFY_ADDRESS },
		{ &t, "deploy", UID, kv, "sshd", gw, 4999, VERIFY_ADDRESS },
		{ &t, "deploy", UID, kv, "sudo", "10.1.2.3", 4999,
		    VERIFY_SERVICE },
		{ &t, "deploy", UID, kv, NULL, "10.1.2.3", 4999,
		    VERIFY_SERVICE },
		{ &rev, "deploy", UID, kv, "sshd", "10.1.2.3", 4999,
		    VERIFY_REVOKED },
		/* no expiry, no allow list, no scope: anything goes */
		{ &any, "deploy", UID, kv, "cron", "example.com", INT64_MAX,
		    VERIFY_OK },
		{ &any, "deploy", UID, kv, NULL, NULL, 0, VERIFY_OK },
	};

	(void)state;
	memcpy(wrong, known_verifier, sizeof(wrong));
	wrong[31] ^= 1;
	rev.revoke_time = 2000;
	any.expiry_time = 0;
	any.n_allow = 0;
	any.allow = NULL;
	any.n_scope = 0;
	any.scope = NULL;
	run_checks(cases, N_CASES(cases));
}

static void
test_check_order(void **state)
{
	const uint8_t *kv = known_verifier;
	uint8_t wrong[TOKEN_VERIFIER_LEN];
	struct token rev = good_token(), t = good_token();
	/* everything wrong at once: each step reports the first failure */
	const struct check_case cases[] = {
		{ &rev, "other", 1, wrong, "sudo", "11.0.0.1", 9999,
		    VERIFY_WRONG_USER },
		{ &rev, "deploy", UID, wrong, "sudo", "11.0.0.1", 9999,
		    VERIFY_MISMATCH },
		{ &rev, "deploy", UID, kv, "sudo", "11.0.0.1", 9999,
		    VERIFY_REVOKED },
		{ &t, "deploy", UID, kv, "sudo", "11.0.0.1", 9999,
		    VERIFY_EXPIRED },
		{ &t, "deploy", UID, kv, "sudo", "11.0.0.1", 10,
		    VERIFY_ADDRESS },
		{ &t, "deploy", UID, kv, "sudo", "10.0.0.1", 10,
		    VERIFY_SERVICE },
	};

	(void)state;
	memset(wrong, 0, sizeof(wrong));
	rev.revoke_time = 2000;
	run_checks(cases, N_CASES(cases));
}

static void
test_is_expired(void **state)
{
	struct token t = good_token();

	(void)state;
	assert_false(token_is_expired(&t, 4999));
	assert_true(token_is_expired(&t, 5000));
	assert_true(token_is_expired(&t, 5001));
	t.expiry_time = 0;
	assert_false(token_is_expired(&t, INT64_MAX));
	assert_true(token_is_expired(NULL, 0));
}

static void
test_no_secret_in_verifier_or_record(void **state)
{
	char tok[TOKEN_LEN + 1], id[TOKEN_ID_LEN + 1];
	struct token t = good_token();
	uint8_t *buf = NULL;
	size_t len = 0, off;
	int i;

	(void)state;
	for (i = 0; i < 20; i++) {
		assert_int_equal(token_generate(tok, id, t.verifier), 0);
		memcpy(t.id, id, sizeof(t.id));
		/* no 6-char run of the secret in the verifier */
		for (off = 16; off + 6 <= 46; off++)
			assert_null(memmem(t.verifier, TOKEN_VERIFIER_LEN,
			    tok + off, 6));
		assert_int_equal(record_encode_token(&t, &buf, &len), 0);
		assert_null(memmem(buf, len, tok, TOKEN_LEN));
		for (off = 16; off + 6 <= 46; off++)
			assert_null(memmem(buf, len, tok + off, 6));
		/* the public id is stored, of course */
		assert_non_null(memmem(buf, len, id, TOKEN_ID_LEN));
		free(buf);
		buf = NULL;
		sodium_memzero(tok, sizeof(tok));
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc32),
		cmocka_unit_test(test_known_vector),
		cmocka_unit_test(test_generate_format),
		cmocka_unit_test(test_generate_unique_and_uniform),
		cmocka_unit_test(test_parse_checksum),
		cmocka_unit_test(test_parse_malformed),
		cmocka_unit_test(test_prefix),
		cmocka_unit_test(test_verify_reason),
		cmocka_unit_test(test_check_reasons),
		cmocka_unit_test(test_check_order),
		cmocka_unit_test(test_is_expired),
		cmocka_unit_test(test_no_secret_in_verifier_or_record),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
