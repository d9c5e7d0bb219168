/*
 * Unit tests for the record encoding (libappuser/record.c, codec.c):
 * round trips, every truncation, version and structure checks, and a
 * mutation fuzz that must never crash or leak (run under valgrind too).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "record.h"

#define FUZZ_ROUNDS	3000

static const char *const scopes[] = { "sshd", "sudo" };
static const char *const admins[] = { "alice", "bob", "carol_ci" };

static struct addr_rule rules[2] = {
	{ AF_INET, 8, { 10 } },
	/* a marker the tests search for to find the rule in the encoding */
	{ AF_INET6, 128, { 0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4,
	    5, 6, 7, 8, 9, 10, 11, 12 } },
};

static struct user
sample_user(void)
{
	struct user u = {
		.name = "deploy-bot", .description = "Deploys things",
		.home = "/var/lib/deploy", .shell = "/bin/bash",
		.uid = 1900000001u, .gid = 1900000001u, .admin = true,
		.create_time = 1795821699,
	};
	return u;
}

static struct token
sample_token(void)
{
	struct token t = {
		.id = "Ab3dEfGh1jKl", .user = "deploy-bot", .uid = 1900000001u,
		.description = "CI token", .create_time = 1795821699,
		.max_age_seconds = 0xA1B2C3D4LL,	/* marker, < 100 years */
		.extend_when_used = true, .expiry_time = 1798413699,
		.revoke_time = 0, .last_used_time = 5,
		.last_ip = "2001:db8::1", .last_service = "sshd",
		.n_allow = 2, .allow = rules,
		.n_scope = 2, .scope = (const char **)scopes,
	};
	memset(t.verifier, 0xa5, sizeof(t.verifier));
	t.verifier[31] = 0x5a;
	return t;
}

static struct meta
sample_meta(void)
{
	struct meta m = {
		.format = STORE_FORMAT_VERSION, .generation = 0x1122334455667788ULL,
		.uid_min = 1900000000u, .uid_max = 1999999999u,
		.next_uid = 1900000042u, .admin_group = "appuser-admins",
		.admin_gid = 1900000000u, .n_users = 41,
		.n_admins = 3, .admins = (const char **)admins,
	};
	return m;
}

/* Exact-size heap copy, so valgrind sees any read past the end. */
static uint8_t *
copy_of(const uint8_t *buf, size_t len)
{
	uint8_t *c = malloc(len ? len : 1);

	assert_non_null(c);
	if (len > 0)
		memcpy(c, buf, len);
	return c;
}

static size_t
find(const uint8_t *buf, size_t len, const void *needle, size_t nlen)
{
	const uint8_t *p = memmem(buf, len, needle, nlen);

	assert_non_null(p);
	return (size_t)(p - buf);
}

static void
assert_user_eq(const struct user *a, const struct user *b)
{
	assert_string_equal(a->name, b->name);
	assert_string_equal(a->description, b->description);
	assert_string_equal(a->home, b->home);
	assert_string_equal(a->shell, b->shell);
	assert_int_equal(a->uid, b->uid);
	assert_int_equal(a->gid, b->gid);
	assert_int_equal(a->admin, b->admin);
	assert_true(a->create_time == b->create_time);
}

static void
assert_token_eq(const struct token *a, const struct token *b)
{
	size_t i;

	assert_string_equal(a->id, b->id);
	assert_string_equal(a->user, b->user);
	assert_int_equal(a->uid, b->uid);
	assert_memory_equal(a->verifier, b->verifier, TOKEN_VERIFIER_LEN);
	assert_string_equal(a->description, b->description);
	assert_true(a->create_time == b->create_time);
	assert_true(a->max_age_seconds == b->max_age_seconds);
	assert_int_equal(a->extend_when_used, b->extend_when_used);
	assert_true(a->expiry_time == b->expiry_time);
	assert_true(a->revoke_time == b->revoke_time);
	assert_true(a->last_used_time == b->last_used_time);
	assert_string_equal(a->last_ip, b->last_ip);
	assert_string_equal(a->last_service, b->last_service);
	assert_int_equal(a->n_allow, b->n_allow);
	for (i = 0; i < a->n_allow; i++)
		assert_memory_equal(&a->allow[i], &b->allow[i],
		    sizeof(struct addr_rule));
	assert_int_equal(a->n_scope, b->n_scope);
	for (i = 0; i < a->n_scope; i++)
		assert_string_equal(a->scope[i], b->scope[i]);
}

static void
assert_meta_eq(const struct meta *a, const struct meta *b)
{
	size_t i;

	assert_int_equal(a->format, b->format);
	assert_true(a->generation == b->generation);
	assert_int_equal(a->uid_min, b->uid_min);
	assert_int_equal(a->uid_max, b->uid_max);
	assert_int_equal(a->next_uid, b->next_uid);
	assert_string_equal(a->admin_group, b->admin_group);
	assert_int_equal(a->admin_gid, b->admin_gid);
	assert_true(a->n_users == b->n_users);
	assert_int_equal(a->n_admins, b->n_admins);
	for (i = 0; i < a->n_admins; i++)
		assert_string_equal(a->admins[i], b->admins[i]);
}

static void
test_user_roundtrip(void **state)
{
	struct user u = sample_user(), d, *c;
	uint8_t *buf = NULL;
	size_t len = 0;

	(void)state;
	assert_int_equal(record_encode_user(&u, &buf, &len), 0);
	assert_int_equal(buf[0], RECORD_TYPE_USER);
	assert_int_equal(buf[1], RECORD_VERSION);
	assert_int_equal(record_decode_user(buf, len, &d), 0);
	assert_user_eq(&d, &u);
	/* a view: strings point into the buffer */
	assert_true((const uint8_t *)d.name > buf &&
	    (const uint8_t *)d.name < buf + len);
	c = user_dup(&d);
	assert_non_null(c);
	free(buf);		/* the copy must not depend on buf */
	assert_user_eq(c, &u);
	user_free(c);
	user_free(NULL);
}

static void
test_user_null_optional_fields(void **state)
{
	struct user u = sample_user(), d;
	uint8_t *buf = NULL;
	size_t len = 0;

	(void)state;
	u.description = NULL;
	u.admin = false;
	assert_int_equal(record_encode_user(&u, &buf, &len), 0);
	assert_int_equal(record_decode_user(buf, len, &d), 0);
	assert_string_equal(d.description, "");
	assert_false(d.admin);
	free(buf);
	u.name = NULL;
	buf = NULL;
	assert_int_equal(record_encode_user(&u, &buf, &len),
	    APPUSER_ERR_INVALID);
	assert_null(buf);
}

static void
test_token_roundtrip(void **state)
{
	struct token t = sample_token(), d, *c, *c2;
	uint8_t *buf = NULL;
	size_t len = 0;

	(void)state;
	assert_int_equal(record_encode_token(&t, &buf, &len), 0);
	assert_int_equal(buf[0], RECORD_TYPE_TOKEN);
	assert_int_equal(record_decode_token(buf, len, &d), 0);
	assert_token_eq(&d, &t);
	c = token_dup(&d);
	assert_non_null(c);
	token_clear(&d);
	assert_null(d.allow);
	assert_null(d.scope);
	free(buf);
	assert_token_eq(c, &t);
	c2 = token_dup(c);	/* a copy of a copy is independent */
	token_free(c);
	assert_token_eq(c2, &t);
	token_free(c2);
	token_free(NULL);
	token_clear(NULL);
}

static void
test_token_empty_lists(void **state)
{
	struct token t = sample_token(), d, *c;
	uint8_t *buf = NULL;
	size_t len = 0;

	(void)state;
	t.n_allow = 0;
	t.allow = NULL;
	t.n_scope = 0;
	t.scope = NULL;
	t.extend_when_used = false;
	t.description = NULL;
	assert_int_equal(record_encode_token(&t, &buf, &len), 0);
	assert_int_equal(record_decode_token(buf, len, &d), 0);
	assert_int_equal(d.n_allow, 0);
	assert_null(d.allow);
	assert_int_equal(d.n_scope, 0);
	assert_null(d.scope);
	assert_false(d.extend_when_used);
	assert_string_equal(d.description, "");
	c = token_dup(&d);
	assert_non_null(c);
	assert_int_equal(c->n_scope, 0);
	token_free(c);
	token_clear(&d);
	free(buf);
}

static void
test_token_encode_rejects(void **state)
{
	struct token t;
	struct addr_rule many[TOKEN_MAX_ALLOW + 1], bad = { AF_INET, 33, { 0 } };
	uint8_t *buf = NULL;
	size_t len = 0;

	(void)state;
	memset(many, 0, sizeof(many));
	t = sample_token();
	t.user = NULL;
	assert_int_equal(record_encode_token(&t, &buf, &len),
	    APPUSER_ERR_INVALID);
	t = sample_token();
	strcpy(t.id, "short");
	assert_int_equal(record_encode_token(&t, &buf, &len),
	    APPUSER_ERR_INVALID);
	t = sample_token();
	memcpy(t.id, "Ab3dEfGh1jK_", 12);
	assert_int_equal(record_encode_token(&t, &buf, &len),
	    APPUSER_ERR_INVALID);
	t = sample_token();
	t.n_allow = TOKEN_MAX_ALLOW + 1;
	t.allow = many;
	assert_int_equal(record_encode_token(&t, &buf, &len),
	    APPUSER_ERR_INVALID);
	t = sample_token();
	t.n_allow = 1;
	t.allow = &bad;
	assert_int_equal(record_encode_token(&t, &buf, &len),
	    APPUSER_ERR_INVALID);
	t = sample_token();
	t.n_scope = TOKEN_MAX_SCOPE + 1;
	assert_int_equal(record_encode_token(&t, &buf, &len),
	    APPUSER_ERR_INVALID);
	/* times that could overflow "now + max_age" are never written */
	t = sample_token();
	t.max_age_seconds = TOKEN_MAX_AGE_SECONDS + 1;
	assert_int_equal(record_encode_token(&t, &buf, &len),
	    APPUSER_ERR_INVALID);
	t = sample_token();
	t.max_age_seconds = -1;
	assert_int_equal(record_encode_token(&t, &buf, &len),
	    APPUSER_ERR_INVALID);
	t = sample_token();
	t.last_used_time = -5;
	assert_int_equal(record_encode_token(&t, &buf, &len),
	    APPUSER_ERR_INVALID);
	t = sample_token();
	t.expiry_time = RECORD_TIME_MAX + 1;
	assert_int_equal(record_encode_token(&t, &buf, &len),
	    APPUSER_ERR_INVALID);
	assert_null(buf);
}

static void
test_meta_roundtrip(void **state)
{
	struct meta m = sample_meta(), d;
	uint8_t *buf = NULL;
	size_t len = 0;

	(void)state;
	assert_int_equal(record_encode_meta(&m, &buf, &len), 0);
	assert_int_equal(buf[0], RECORD_TYPE_META);
	assert_int_equal(record_decode_meta(buf, len, &d), 0);
	assert_meta_eq(&d, &m);
	meta_clear(&d);
	assert_null(d.admins);
	assert_int_equal(d.n_admins, 0);
	meta_clear(NULL);
	free(buf);

	m.n_admins = 0;
	m.admins = NULL;
	assert_int_equal(record_encode_meta(&m, &buf, &len), 0);
	assert_int_equal(record_decode_meta(buf, len, &d), 0);
	assert_meta_eq(&d, &m);
	assert_null(d.admins);
	meta_clear(&d);
	free(buf);
}

enum kind { K_USER, K_TOKEN, K_META };

static void
encode_sample(enum kind k, uint8_t **bufp, size_t *lenp)
{
	struct user u = sample_user();
	struct token t = sample_token();
	struct meta m = sample_meta();
	int r = -100;

	switch (k) {
	case K_USER: r = record_encode_user(&u, bufp, lenp); break;
	case K_TOKEN: r = record_encode_token(&t, bufp, lenp); break;
	case K_META: r = record_encode_meta(&m, bufp, lenp); break;
	}
	assert_int_equal(r, 0);
}

/* Decode as kind k; on success re-encode, exercise dup, release. */
static int
decode_any(enum kind k, const uint8_t *buf, size_t len)
{
	struct user u;
	struct token t;
	struct meta m;
	uint8_t *re = NULL;
	size_t relen;
	int r = -100;

	switch (k) {
	case K_USER:
		if ((r = record_decode_user(buf, len, &u)) == 0) {
			struct user *uc;

			assert_int_equal(record_encode_user(&u, &re, &relen), 0);
			assert_int_equal(relen, len);
			assert_memory_equal(re, buf, len);
			uc = user_dup(&u);
			assert_non_null(uc);
			user_free(uc);
		}
		break;
	case K_TOKEN:
		if ((r = record_decode_token(buf, len, &t)) == 0) {
			struct token *tc;

			assert_int_equal(record_encode_token(&t, &re, &relen), 0);
			assert_int_equal(relen, len);
			assert_memory_equal(re, buf, len);
			tc = token_dup(&t);
			assert_non_null(tc);
			token_free(tc);
			token_clear(&t);
		}
		break;
	case K_META:
		if ((r = record_decode_meta(buf, len, &m)) == 0) {
			assert_int_equal(record_encode_meta(&m, &re, &relen), 0);
			assert_int_equal(relen, len);
			assert_memory_equal(re, buf, len);
			meta_clear(&m);
		}
		break;
	}
	free(re);
	return r;
}

static void
test_every_truncation_is_corrupt(void **state)
{
	enum kind k;
	uint8_t *buf, *c;
	size_t len, n;

	(void)state;
	for (k = K_USER; k <= K_META; k++) {
		encode_sample(k, &buf, &len);
		for (n = 0; n < len; n++) {
			c = copy_of(buf, n);
			assert_int_equal(decode_any(k, c, n), APPUSER_ERR_CORRUPT);
			free(c);
		}
		c = copy_of(buf, len);
		assert_int_equal(decode_any(k, c, len), 0);
		free(c);
		assert_int_equal(decode_any(k, NULL, 0), APPUSER_ERR_CORRUPT);
		free(buf);
	}
}

static void
test_trailing_byte_is_corrupt(void **state)
{
	enum kind k;
	uint8_t *buf;
	size_t len;

	(void)state;
	for (k = K_USER; k <= K_META; k++) {
		uint8_t *c;

		encode_sample(k, &buf, &len);
		c = malloc(len + 1);
		assert_non_null(c);
		memcpy(c, buf, len);
		c[len] = 0;
		assert_int_equal(decode_any(k, c, len + 1), APPUSER_ERR_CORRUPT);
		free(c);
		free(buf);
	}
}

static void
test_version_and_type(void **state)
{
	enum kind k;
	uint8_t *buf;
	size_t len;

	(void)state;
	for (k = K_USER; k <= K_META; k++) {
		uint8_t v = k == K_TOKEN ? RECORD_VERSION_TOKEN :
		    RECORD_VERSION;

		encode_sample(k, &buf, &len);
		assert_int_equal(buf[1], v);
		buf[1] = v + 1;
		assert_int_equal(decode_any(k, buf, len), APPUSER_ERR_VERSION);
		buf[1] = 0xff;
		assert_int_equal(decode_any(k, buf, len), APPUSER_ERR_VERSION);
		/* a newer version is recognised from the header alone */
		assert_int_equal(decode_any(k, buf, 2), APPUSER_ERR_VERSION);
		buf[1] = 0;
		assert_int_equal(decode_any(k, buf, len), APPUSER_ERR_CORRUPT);
		buf[1] = v;
		/* decoding as another record type */
		assert_int_equal(decode_any((k + 1) % 3, buf, len),
		    APPUSER_ERR_CORRUPT);
		buf[0] = 'X';
		assert_int_equal(decode_any(k, buf, len), APPUSER_ERR_CORRUPT);
		free(buf);
	}
}

/*
 * A version-1 token (written before usage slots) still decodes, with no
 * slot: format-1 stores are upgraded from exactly such records.
 */
static void
test_token_v1(void **state)
{
	struct token t;
	uint8_t *buf;
	size_t len;

	(void)state;
	encode_sample(K_TOKEN, &buf, &len);
	assert_true(len > 6);
	buf[1] = 1;
	/* v1 ends where v2 appends the u32 slot */
	assert_int_equal(record_decode_token(buf, len - 4, &t), 0);
	assert_int_equal(t.usage_slot, 0);
	token_clear(&t);
	/* and a v1 record with the v2 field is one byte-run too long */
	assert_int_equal(record_decode_token(buf, len, &t),
	    APPUSER_ERR_CORRUPT);
	free(buf);
}

static void
test_string_nul_rules(void **state)
{
	struct user d;
	uint8_t *buf;
	size_t len, off;

	(void)state;
	encode_sample(K_USER, &buf, &len);
	off = find(buf, len, "deploy-bot", 11);	/* with its NUL */
	assert_int_equal(buf[off - 1], 11);	/* length counts the NUL */
	buf[off + 3] = '\0';			/* interior NUL */
	assert_int_equal(record_decode_user(buf, len, &d), APPUSER_ERR_CORRUPT);
	buf[off + 3] = 'l';
	buf[off + 10] = 'x';			/* terminator missing */
	assert_int_equal(record_decode_user(buf, len, &d), APPUSER_ERR_CORRUPT);
	buf[off + 10] = '\0';
	buf[off - 1] = 0;			/* zero length: no NUL */
	assert_int_equal(record_decode_user(buf, len, &d), APPUSER_ERR_CORRUPT);
	buf[off - 1] = 0xff;			/* length past the end */
	buf[off - 2] = 0xff;
	assert_int_equal(record_decode_user(buf, len, &d), APPUSER_ERR_CORRUPT);
	buf[off - 2] = 0;
	buf[off - 1] = 11;
	assert_int_equal(record_decode_user(buf, len, &d), 0);
	free(buf);
}

static void
test_user_admin_byte(void **state)
{
	struct user d;
	uint8_t *buf;
	size_t len;

	(void)state;
	encode_sample(K_USER, &buf, &len);
	/* layout ends: admin u8, create_time u64 */
	assert_int_equal(buf[len - 9], 1);
	buf[len - 9] = 2;
	memset(&d, 0x55, sizeof(d));
	assert_int_equal(record_decode_user(buf, len, &d), APPUSER_ERR_CORRUPT);
	/* output untouched on failure */
	assert_true(d.uid == 0x55555555u);
	free(buf);
}

static void
test_token_structure_checks(void **state)
{
	static const uint8_t marker[] = { 0xde, 0xad, 0xbe, 0xef };
	static const uint8_t age[] = { 0, 0, 0, 0, 0xA1, 0xB2, 0xC3, 0xD4 };
	struct token d;
	uint8_t *buf;
	size_t len, r, f, cnt;

	(void)state;
	encode_sample(K_TOKEN, &buf, &len);
	r = find(buf, len, marker, sizeof(marker));	/* rule 2 addr */
	f = find(buf, len, age, sizeof(age)) + sizeof(age);	/* flags */
	cnt = r - 2 - 18 - 2;		/* u16 count before rule 1 */
	assert_int_equal(buf[cnt], 0);
	assert_int_equal(buf[cnt + 1], 2);
	assert_int_equal(buf[r - 2], AF_INET6);
	assert_int_equal(buf[r - 1], 128);
	assert_int_equal(buf[f], 1);

	buf[r - 1] = 129;				/* prefix > 128 */
	assert_int_equal(record_decode_token(buf, len, &d), APPUSER_ERR_CORRUPT);
	buf[r - 1] = 128;
	buf[r - 2] = 3;					/* unknown family */
	assert_int_equal(record_decode_token(buf, len, &d), APPUSER_ERR_CORRUPT);
	buf[r - 2] = AF_INET;				/* prefix 128 > 32 */
	assert_int_equal(record_decode_token(buf, len, &d), APPUSER_ERR_CORRUPT);
	buf[r - 2] = AF_INET6;
	buf[cnt] = 0xff;				/* huge count */
	assert_int_equal(record_decode_token(buf, len, &d), APPUSER_ERR_CORRUPT);
	buf[cnt] = 0;
	buf[cnt + 1] = TOKEN_MAX_ALLOW + 1;
	assert_int_equal(record_decode_token(buf, len, &d), APPUSER_ERR_CORRUPT);
	buf[cnt + 1] = 2;
	buf[f] = 0x81;					/* unknown flag */
	assert_int_equal(record_decode_token(buf, len, &d), APPUSER_ERR_CORRUPT);
	buf[f] = 1;
	buf[f - 8] = 0x80;			/* max age negative (as int64) */
	assert_int_equal(record_decode_token(buf, len, &d), APPUSER_ERR_CORRUPT);
	buf[f - 8] = 0x01;			/* max age ~ 2^56 s: > 100 years */
	assert_int_equal(record_decode_token(buf, len, &d), APPUSER_ERR_CORRUPT);
	buf[f - 8] = 0;
	buf[f + 1] = 0x80;			/* expiry negative */
	assert_int_equal(record_decode_token(buf, len, &d), APPUSER_ERR_CORRUPT);
	buf[f + 1] = 0;
	buf[2] = '_';					/* id not base62 */
	assert_int_equal(record_decode_token(buf, len, &d), APPUSER_ERR_CORRUPT);
	buf[2] = 'A';
	/* scope count (u16 after the last rule) too large */
	assert_int_equal(buf[r + 16], 0);
	assert_int_equal(buf[r + 17], 2);
	buf[r + 17] = TOKEN_MAX_SCOPE + 1;
	assert_int_equal(record_decode_token(buf, len, &d), APPUSER_ERR_CORRUPT);
	buf[r + 17] = 2;
	assert_int_equal(record_decode_token(buf, len, &d), 0);
	token_clear(&d);
	free(buf);
}

static void
test_meta_has_admin(void **state)
{
	struct meta m = sample_meta(), none = { 0 };
	size_t i;

	(void)state;
	for (i = 0; i < m.n_admins; i++)
		assert_true(meta_has_admin(&m, m.admins[i]));
	assert_false(meta_has_admin(&m, "nosuch"));
	assert_false(meta_has_admin(&m, ""));
	assert_false(meta_has_admin(&none, m.admins[0]));
}

static void
test_meta_huge_admin_count(void **state)
{
	struct meta d;
	uint8_t *buf;
	size_t len, off;

	(void)state;
	encode_sample(K_META, &buf, &len);
	off = find(buf, len, "alice", 6) - 2 - 4;	/* u32 count */
	assert_int_equal(buf[off + 3], 3);
	buf[off] = 0xff;		/* 4 billion admins: no such allocation */
	assert_int_equal(record_decode_meta(buf, len, &d), APPUSER_ERR_CORRUPT);
	buf[off] = 0;
	buf[off + 3] = 4;		/* one more than present */
	assert_int_equal(record_decode_meta(buf, len, &d), APPUSER_ERR_CORRUPT);
	buf[off + 3] = 2;		/* one fewer: trailing bytes */
	assert_int_equal(record_decode_meta(buf, len, &d), APPUSER_ERR_CORRUPT);
	free(buf);
}

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint32_t
rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 11);
}

static void
test_fuzz_mutations(void **state)
{
	enum kind k;
	uint8_t *buf, *c;
	size_t len, n, i, flips;
	int r, ok = 0, bad = 0;

	(void)state;
	for (k = K_USER; k <= K_META; k++) {
		encode_sample(k, &buf, &len);
		for (i = 0; i < FUZZ_ROUNDS; i++) {
			n = len;
			if (rnd() % 4 == 0)	/* also vary the length */
				n = rnd() % (len + 8);
			c = malloc(n ? n : 1);
			assert_non_null(c);
			memcpy(c, buf, n < len ? n : len);
			if (n > len)
				memset(c + len, rnd() & 0xff, n - len);
			for (flips = 1 + rnd() % 4; n > 0 && flips > 0; flips--)
				c[rnd() % n] = (uint8_t)rnd();
			r = decode_any(k, c, n);
			assert_true(r == 0 || r == APPUSER_ERR_CORRUPT ||
			    r == APPUSER_ERR_VERSION);
			r == 0 ? ok++ : bad++;
			free(c);
		}
		free(buf);
	}
	/* both outcomes occur, so the loop exercised the decoders */
	assert_true(ok > 0);
	assert_true(bad > 0);
}

static void
test_fuzz_garbage(void **state)
{
	static const uint8_t types[] = {
		RECORD_TYPE_USER, RECORD_TYPE_TOKEN, RECORD_TYPE_META
	};
	int i;

	(void)state;
	for (i = 0; i < FUZZ_ROUNDS; i++) {
		size_t n = rnd() % 300, j;
		uint8_t *c = malloc(n ? n : 1);
		int r;

		assert_non_null(c);
		for (j = 0; j < n; j++)
			c[j] = (uint8_t)(rnd() % 4 ? rnd() % 8 : rnd());
		if (n >= 2) {
			c[0] = types[i % 3];
			c[1] = RECORD_VERSION;
		}
		r = decode_any((enum kind)(i % 3), c, n);
		assert_true(r == 0 || r == APPUSER_ERR_CORRUPT);
		free(c);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_user_roundtrip),
		cmocka_unit_test(test_user_null_optional_fields),
		cmocka_unit_test(test_token_roundtrip),
		cmocka_unit_test(test_token_empty_lists),
		cmocka_unit_test(test_token_encode_rejects),
		cmocka_unit_test(test_meta_roundtrip),
		cmocka_unit_test(test_every_truncation_is_corrupt),
		cmocka_unit_test(test_trailing_byte_is_corrupt),
		cmocka_unit_test(test_version_and_type),
		cmocka_unit_test(test_token_v1),
		cmocka_unit_test(test_string_nul_rules),
		cmocka_unit_test(test_user_admin_byte),
		cmocka_unit_test(test_token_structure_checks),
		cmocka_unit_test(test_meta_has_admin),
		cmocka_unit_test(test_meta_huge_admin_count),
		cmocka_unit_test(test_fuzz_mutations),
		cmocka_unit_test(test_fuzz_garbage),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
