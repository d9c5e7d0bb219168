/*
 * Record encoding (format described in record.h).  Decoders treat their
 * input as hostile: every length is checked through struct rbuf, and a
 * decoder sets its output only on success.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "record.h"

#define TOKEN_FLAG_EXTEND	0x01
#define TOKEN_FLAGS_KNOWN	TOKEN_FLAG_EXTEND

/* Smallest encoded string: u16 length + NUL. */
#define STR_MIN_ENC		3

/* Version a record type is written with (see record.h). */
static uint8_t
type_version(uint8_t type)
{
	return type == RECORD_TYPE_TOKEN ? RECORD_VERSION_TOKEN : RECORD_VERSION;
}

static void
put_header(struct wbuf *w, uint8_t type)
{
	wbuf_put_u8(w, type);
	wbuf_put_u8(w, type_version(type));
}

/* *versionp: the record's version (1 .. what this build writes). */
static int
get_header(struct rbuf *r, uint8_t type, uint8_t *versionp)
{
	uint8_t t, v;

	t = rbuf_get_u8(r);
	v = rbuf_get_u8(r);
	if (r->err != 0 || t != type || v == 0)
		return APPUSER_ERR_CORRUPT;
	if (v > type_version(type))
		return APPUSER_ERR_VERSION;
	*versionp = v;
	return 0;
}

static const char *
opt(const char *s)
{
	return s == NULL ? "" : s;
}

int
record_encode_user(const struct user *u, uint8_t **bufp, size_t *lenp)
{
	struct wbuf w = WBUF_INIT;

	if (u == NULL || u->name == NULL)
		return APPUSER_ERR_INVALID;
	put_header(&w, RECORD_TYPE_USER);
	wbuf_put_str(&w, u->name);
	wbuf_put_str(&w, opt(u->description));
	wbuf_put_str(&w, opt(u->home));
	wbuf_put_str(&w, opt(u->shell));
	wbuf_put_u32(&w, u->uid);
	wbuf_put_u32(&w, u->gid);
	wbuf_put_u8(&w, u->admin ? 1 : 0);
	wbuf_put_u64(&w, (uint64_t)u->create_time);
	return wbuf_finish(&w, bufp, lenp);
}

int
record_decode_user(const uint8_t *buf, size_t len, struct user *u)
{
	struct rbuf r;
	struct user tmp;
	uint8_t admin;
	uint8_t version;
	int ret;

	memset(&tmp, 0, sizeof(tmp));
	rbuf_init(&r, buf, len);
	if ((ret = get_header(&r, RECORD_TYPE_USER, &version)) != 0)
		return ret;
	tmp.name = rbuf_get_str(&r);
	tmp.description = rbuf_get_str(&r);
	tmp.home = rbuf_get_str(&r);
	tmp.shell = rbuf_get_str(&r);
	tmp.uid = rbuf_get_u32(&r);
	tmp.gid = rbuf_get_u32(&r);
	admin = rbuf_get_u8(&r);
	tmp.create_time = (int64_t)rbuf_get_u64(&r);
	if ((ret = rbuf_finish(&r)) != 0)
		return ret;
	if (admin > 1)
		return APPUSER_ERR_CORRUPT;
	tmp.admin = admin == 1;
	*u = tmp;
	return 0;
}

static void
put_rule(struct wbuf *w, const struct addr_rule *a)
{
	wbuf_put_u8(w, a->family);
	wbuf_put_u8(w, a->prefix);
	wbuf_put_bytes(w, a->addr, sizeof(a->addr));
}

static bool
rule_is_valid(const struct addr_rule *a)
{
	switch (a->family) {
	case ADDR_LOCAL:
		return a->prefix == 0;
	case AF_INET:
		return a->prefix <= 32;
	case AF_INET6:
		return a->prefix <= 128;
	default:
		return false;
	}
}

static bool
time_ok(int64_t t)
{
	return t >= 0 && t <= RECORD_TIME_MAX;
}

/* Every time in range and the max age within bounds (see record.h). */
static bool
token_times_ok(const struct token *t)
{
	return time_ok(t->create_time) && time_ok(t->expiry_time) &&
	    time_ok(t->revoke_time) && time_ok(t->last_used_time) &&
	    t->max_age_seconds >= 0 &&
	    t->max_age_seconds <= TOKEN_MAX_AGE_SECONDS;
}

int
record_encode_token(const struct token *t, uint8_t **bufp, size_t *lenp)
{
	struct wbuf w = WBUF_INIT;
	size_t i;

	if (t == NULL || t->user == NULL ||
	    strnlen(t->id, sizeof(t->id)) != TOKEN_ID_LEN ||
	    !base62_valid(t->id, TOKEN_ID_LEN) ||
	    t->n_allow > TOKEN_MAX_ALLOW || t->n_scope > TOKEN_MAX_SCOPE ||
	    (t->n_allow > 0 && t->allow == NULL) ||
	    (t->n_scope > 0 && t->scope == NULL) || !token_times_ok(t))
		return APPUSER_ERR_INVALID;
	for (i = 0; i < t->n_allow; i++)
		if (!rule_is_valid(&t->allow[i]))
			return APPUSER_ERR_INVALID;
	put_header(&w, RECORD_TYPE_TOKEN);
	wbuf_put_bytes(&w, t->id, TOKEN_ID_LEN);
	wbuf_put_str(&w, t->user);
	wbuf_put_u32(&w, t->uid);
	wbuf_put_bytes(&w, t->verifier, TOKEN_VERIFIER_LEN);
	wbuf_put_str(&w, opt(t->description));
	wbuf_put_u64(&w, (uint64_t)t->create_time);
	wbuf_put_u64(&w, (uint64_t)t->max_age_seconds);
	wbuf_put_u8(&w, t->extend_when_used ? TOKEN_FLAG_EXTEND : 0);
	wbuf_put_u64(&w, (uint64_t)t->expiry_time);
	wbuf_put_u64(&w, (uint64_t)t->revoke_time);
	wbuf_put_u64(&w, (uint64_t)t->last_used_time);
	wbuf_put_str(&w, opt(t->last_ip));
	wbuf_put_str(&w, opt(t->last_service));
	wbuf_put_u16(&w, (uint16_t)t->n_allow);
	for (i = 0; i < t->n_allow; i++)
		put_rule(&w, &t->allow[i]);
	wbuf_put_u16(&w, (uint16_t)t->n_scope);
	for (i = 0; i < t->n_scope; i++)
		wbuf_put_str(&w, t->scope[i]);
	wbuf_put_u32(&w, t->usage_slot);
	return wbuf_finish(&w, bufp, lenp);
}

/* The allow list: u16 count, then family, prefix, 16 address bytes each. */
static int
get_allow(struct rbuf *r, struct addr_rule **allowp, size_t *np)
{
	struct addr_rule *a = NULL;
	size_t i, n;

	n = rbuf_get_u16(r);
	if (r->err != 0 || n > TOKEN_MAX_ALLOW ||
	    n > rbuf_left(r) / (2 + sizeof(a->addr)))
		return APPUSER_ERR_CORRUPT;
	if (n > 0 && (a = calloc(n, sizeof(*a))) == NULL)
		return APPUSER_ERR_NOMEM;
	for (i = 0; i < n; i++) {
		a[i].family = rbuf_get_u8(r);
		a[i].prefix = rbuf_get_u8(r);
		rbuf_get_bytes(r, a[i].addr, sizeof(a[i].addr));
		if (r->err != 0 || !rule_is_valid(&a[i])) {
			free(a);
			return APPUSER_ERR_CORRUPT;
		}
	}
	*allowp = a;
	*np = n;
	return 0;
}

static int
get_scope(struct rbuf *r, const char ***scopep, size_t *np)
{
	const char **s = NULL;
	size_t i, n;

	n = rbuf_get_u16(r);
	if (r->err != 0 || n > TOKEN_MAX_SCOPE || n > rbuf_left(r) / STR_MIN_ENC)
		return APPUSER_ERR_CORRUPT;
	if (n > 0 && (s = calloc(n, sizeof(*s))) == NULL)
		return APPUSER_ERR_NOMEM;
	for (i = 0; i < n; i++) {
		if ((s[i] = rbuf_get_str(r)) == NULL) {
			free(s);
			return APPUSER_ERR_CORRUPT;
		}
	}
	*scopep = s;
	*np = n;
	return 0;
}

int
record_decode_token(const uint8_t *buf, size_t len, struct token *t)
{
	struct rbuf r;
	struct token tmp;
	uint8_t flags;
	uint8_t version;
	int ret;

	memset(&tmp, 0, sizeof(tmp));
	rbuf_init(&r, buf, len);
	if ((ret = get_header(&r, RECORD_TYPE_TOKEN, &version)) != 0)
		return ret;
	rbuf_get_bytes(&r, tmp.id, TOKEN_ID_LEN);
	tmp.id[TOKEN_ID_LEN] = '\0';
	tmp.user = rbuf_get_str(&r);
	tmp.uid = rbuf_get_u32(&r);
	rbuf_get_bytes(&r, tmp.verifier, TOKEN_VERIFIER_LEN);
	tmp.description = rbuf_get_str(&r);
	tmp.create_time = (int64_t)rbuf_get_u64(&r);
	tmp.max_age_seconds = (int64_t)rbuf_get_u64(&r);
	flags = rbuf_get_u8(&r);
	tmp.expiry_time = (int64_t)rbuf_get_u64(&r);
	tmp.revoke_time = (int64_t)rbuf_get_u64(&r);
	tmp.last_used_time = (int64_t)rbuf_get_u64(&r);
	tmp.last_ip = rbuf_get_str(&r);
	tmp.last_service = rbuf_get_str(&r);
	if (r.err != 0 || (flags & ~TOKEN_FLAGS_KNOWN) != 0 ||
	    !base62_valid(tmp.id, TOKEN_ID_LEN) || !token_times_ok(&tmp))
		return APPUSER_ERR_CORRUPT;
	tmp.extend_when_used = (flags & TOKEN_FLAG_EXTEND) != 0;
	if ((ret = get_allow(&r, &tmp.allow, &tmp.n_allow)) != 0)
		goto out;
	if ((ret = get_scope(&r, &tmp.scope, &tmp.n_scope)) != 0)
		goto out;
	if (version >= 2)
		tmp.usage_slot = rbuf_get_u32(&r);
	if ((ret = rbuf_finish(&r)) != 0)
		goto out;
	*t = tmp;
	memset(&tmp, 0, sizeof(tmp));
	ret = 0;
 out:
	token_clear(&tmp);
	return ret;
}

int
record_encode_meta(const struct meta *m, uint8_t **bufp, size_t *lenp)
{
	struct wbuf w = WBUF_INIT;
	size_t i;

	if (m == NULL || m->n_admins > UINT32_MAX ||
	    (m->n_admins > 0 && m->admins == NULL))
		return APPUSER_ERR_INVALID;
	put_header(&w, RECORD_TYPE_META);
	wbuf_put_u32(&w, m->format);
	wbuf_put_u64(&w, m->generation);
	wbuf_put_u32(&w, m->uid_min);
	wbuf_put_u32(&w, m->uid_max);
	wbuf_put_u32(&w, m->next_uid);
	wbuf_put_str(&w, opt(m->admin_group));
	wbuf_put_u32(&w, m->admin_gid);
	wbuf_put_u64(&w, m->n_users);
	wbuf_put_u32(&w, (uint32_t)m->n_admins);
	for (i = 0; i < m->n_admins; i++)
		wbuf_put_str(&w, m->admins[i]);
	return wbuf_finish(&w, bufp, lenp);
}

int
record_decode_meta(const uint8_t *buf, size_t len, struct meta *m)
{
	struct rbuf r;
	struct meta tmp;
	size_t i, n;
	uint8_t version;
	int ret;

	memset(&tmp, 0, sizeof(tmp));
	rbuf_init(&r, buf, len);
	if ((ret = get_header(&r, RECORD_TYPE_META, &version)) != 0)
		return ret;
	tmp.format = rbuf_get_u32(&r);
	tmp.generation = rbuf_get_u64(&r);
	tmp.uid_min = rbuf_get_u32(&r);
	tmp.uid_max = rbuf_get_u32(&r);
	tmp.next_uid = rbuf_get_u32(&r);
	tmp.admin_group = rbuf_get_str(&r);
	tmp.admin_gid = rbuf_get_u32(&r);
	tmp.n_users = rbuf_get_u64(&r);
	n = rbuf_get_u32(&r);
	/* bound the allocation by what the buffer can hold */
	if (r.err != 0 || n > rbuf_left(&r) / STR_MIN_ENC)
		return APPUSER_ERR_CORRUPT;
	if (n > 0 && (tmp.admins = calloc(n, sizeof(*tmp.admins))) == NULL)
		return APPUSER_ERR_NOMEM;
	tmp.n_admins = n;
	for (i = 0; i < n; i++)
		tmp.admins[i] = rbuf_get_str(&r);
	if ((ret = rbuf_finish(&r)) != 0)
		goto out;
	*m = tmp;
	memset(&tmp, 0, sizeof(tmp));
	ret = 0;
 out:
	meta_clear(&tmp);
	return ret;
}

static size_t
slen(const char *s)
{
	return s == NULL ? 1 : strlen(s) + 1;
}

/* Copies s (NULL as "") to *pp and advances it. */
static const char *
scopy(char **pp, const char *s)
{
	char *d = *pp;
	size_t n = slen(s);

	memcpy(d, s == NULL ? "" : s, n);
	*pp += n;
	return d;
}

struct user *
user_dup(const struct user *u)
{
	struct user *c;
	size_t need;
	char *p;

	if (u == NULL)
		return NULL;
	/* struct and strings in one block: user_free() is free() */
	need = sizeof(*c) + slen(u->name) + slen(u->description) +
	    slen(u->home) + slen(u->shell);
	if ((c = malloc(need)) == NULL)
		return NULL;
	*c = *u;
	p = (char *)(c + 1);
	c->name = scopy(&p, u->name);
	c->description = scopy(&p, u->description);
	c->home = scopy(&p, u->home);
	c->shell = scopy(&p, u->shell);
	return c;
}

void
user_free(struct user *u)
{
	free(u);
}

static size_t
token_dup_size(const struct token *t)
{
	size_t need, i;

	need = sizeof(*t) + t->n_scope * sizeof(*t->scope) +
	    t->n_allow * sizeof(*t->allow) + slen(t->user) +
	    slen(t->description) + slen(t->last_ip) + slen(t->last_service);
	for (i = 0; i < t->n_scope; i++)
		need += slen(t->scope[i]);
	return need;
}

struct token *
token_dup(const struct token *t)
{
	struct token *c;
	char *p;
	size_t i;

	if (t == NULL || t->n_allow > TOKEN_MAX_ALLOW ||
	    t->n_scope > TOKEN_MAX_SCOPE)
		return NULL;
	/*
	 * One block: struct, scope pointers (pointer-aligned right after the
	 * struct), allow rules (byte-aligned), strings.  token_free() is free().
	 */
	if ((c = malloc(token_dup_size(t))) == NULL)
		return NULL;
	*c = *t;
	p = (char *)(c + 1);
	c->scope = NULL;
	if (t->n_scope > 0) {
		c->scope = (const char **)(void *)p;
		p += t->n_scope * sizeof(*c->scope);
	}
	c->allow = NULL;
	if (t->n_allow > 0) {
		c->allow = (struct addr_rule *)(void *)p;
		memcpy(c->allow, t->allow, t->n_allow * sizeof(*c->allow));
		p += t->n_allow * sizeof(*c->allow);
	}
	c->user = scopy(&p, t->user);
	c->description = scopy(&p, t->description);
	c->last_ip = scopy(&p, t->last_ip);
	c->last_service = scopy(&p, t->last_service);
	for (i = 0; i < t->n_scope; i++)
		c->scope[i] = scopy(&p, t->scope[i]);
	return c;
}

void
token_clear(struct token *t)
{
	if (t == NULL)
		return;
	free(t->allow);
	free(t->scope);
	t->allow = NULL;
	t->scope = NULL;
	t->n_allow = 0;
	t->n_scope = 0;
}

void
token_free(struct token *t)
{
	free(t);
}

void
meta_clear(struct meta *m)
{
	if (m == NULL)
		return;
	free(m->admins);
	m->admins = NULL;
	m->n_admins = 0;
}

bool
meta_has_admin(const struct meta *m, const char *name)
{
	size_t i;

	for (i = 0; i < m->n_admins; i++) {
		if (m->admins[i] != NULL && strcmp(m->admins[i], name) == 0)
			return true;
	}
	return false;
}
