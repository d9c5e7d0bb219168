/*
 * Fleet data model: keys, values, and the host's bookkeeping (fleet.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fleet.h"

int
fleet_open(const char *path, int timeout_ms, struct fleet **fp,
    char *errbuf, size_t errlen)
{
	struct fleet *f;
	int r;

	if ((f = calloc(1, sizeof(*f))) == NULL)
		return APPUSER_ERR_NOMEM;
	if ((r = fleet_conf_load(path, &f->conf, errbuf, errlen)) != 0 ||
	    (r = etcd_open_fleet(f->conf, timeout_ms, &f->etcd, errbuf,
	    errlen)) != 0) {
		fleet_close(f);
		return r;
	}
	*fp = f;
	return 0;
}

void
fleet_close(struct fleet *f)
{
	if (f == NULL)
		return;
	etcd_close(f->etcd);
	fleet_conf_free(f->conf);
	free(f);
}

void
fleet_endpoints(const struct fleet_conf *conf, char *buf, size_t len)
{
	size_t i, off = 0;

	buf[0] = '\0';
	for (i = 0; i < conf->nendpoints && off < len; i++) {
		int n = snprintf(buf + off, len - off, "%s%s", i ? ", " : "",
		    conf->endpoints[i]);
		if (n < 0)
			break;
		off += (size_t)n;
	}
}

static int
key_fmt(const struct fleet *f, char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
key_fmt(const struct fleet *f, char *buf, size_t len, const char *fmt, ...)
{
	size_t pl = strlen(f->conf->prefix);
	va_list ap;
	int n;

	if (pl >= len)
		return -1;
	memcpy(buf, f->conf->prefix, pl);
	va_start(ap, fmt);
	n = vsnprintf(buf + pl, len - pl, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= len - pl)
		return -1;
	return (int)pl + n;
}

int
fleet_key_meta(const struct fleet *f, char *buf, size_t len)
{
	return key_fmt(f, buf, len, "meta");
}

int
fleet_key_user(const struct fleet *f, const char *name, char *buf,
    size_t len)
{
	return key_fmt(f, buf, len, "user/%s", name);
}

int
fleet_key_uid(const struct fleet *f, uint32_t uid, char *buf, size_t len)
{
	return key_fmt(f, buf, len, "uid/%010lu", (unsigned long)uid);
}

int
fleet_key_token(const struct fleet *f, const char *user, const char *id,
    char *buf, size_t len)
{
	return key_fmt(f, buf, len, "token/%s/%s", user, id);
}

int
fleet_key_users(const struct fleet *f, char *buf, size_t len)
{
	return key_fmt(f, buf, len, "user/");
}

int
fleet_key_tokens(const struct fleet *f, const char *user, char *buf,
    size_t len)
{
	if (user == NULL)
		return key_fmt(f, buf, len, "token/");
	return key_fmt(f, buf, len, "token/%s/", user);
}

enum fleet_kind
fleet_key_kind(const struct fleet *f, const char *key, size_t keylen,
    char *buf, size_t buflen, const char **namep, const char **idp)
{
	size_t pl = strlen(f->conf->prefix);
	char *slash;

	*namep = *idp = NULL;
	if (keylen <= pl || keylen >= buflen ||
	    memcmp(key, f->conf->prefix, pl) != 0 ||
	    memchr(key, '\0', keylen) != NULL)
		return FLEET_KEY_OTHER;
	memcpy(buf, key + pl, keylen - pl);
	buf[keylen - pl] = '\0';
	if (strcmp(buf, "meta") == 0)
		return FLEET_KEY_META;
	if (strncmp(buf, "user/", 5) == 0 && buf[5] != '\0' &&
	    strchr(buf + 5, '/') == NULL) {
		*namep = buf + 5;
		return FLEET_KEY_USER;
	}
	if (strncmp(buf, "uid/", 4) == 0)
		return FLEET_KEY_UID;
	if (strncmp(buf, "token/", 6) == 0 &&
	    (slash = strchr(buf + 6, '/')) != NULL && slash != buf + 6 &&
	    strlen(slash + 1) == TOKEN_ID_LEN) {
		*slash = '\0';
		*namep = buf + 6;
		*idp = slash + 1;
		return FLEET_KEY_TOKEN;
	}
	return FLEET_KEY_OTHER;
}

void
fleet_meta_default(struct meta *m)
{
	memset(m, 0, sizeof(*m));
	m->format = STORE_FORMAT_VERSION;
	m->uid_min = APPUSER_DEFAULT_UID_MIN;
	m->uid_max = APPUSER_DEFAULT_UID_MAX;
	m->next_uid = m->uid_min + 1;
	m->admin_group = APPUSER_DEFAULT_ADMIN_GROUP;
	m->admin_gid = m->uid_min;
}

int
fleet_encode_meta(const struct meta *m, uint8_t **bufp, size_t *lenp)
{
	struct meta c = *m;

	/* derived on each host: the fleet keeps only the settings */
	c.format = STORE_FORMAT_VERSION;
	c.generation = 0;
	c.n_users = 0;
	c.n_admins = 0;
	c.admins = NULL;
	return record_encode_meta(&c, bufp, lenp);
}

int
fleet_encode_token(const struct token *t, uint8_t **bufp, size_t *lenp)
{
	struct token c = *t;

	/* last use is each host's own; a sliding expiry is refused */
	c.last_used_time = 0;
	c.last_ip = "";
	c.last_service = "";
	c.extend_when_used = false;
	return record_encode_token(&c, bufp, lenp);
}

int
fleet_store_following(struct store *st, char **pathp)
{
	uint8_t *v = NULL;
	size_t len = 0;
	char *p;
	int r;

	if ((r = store_aux_get(st, FLEET_AUX_CONF, &v, &len)) != 0)
		return r;
	if (pathp != NULL) {
		if ((p = malloc(len + 1)) == NULL) {
			free(v);
			return APPUSER_ERR_NOMEM;
		}
		memcpy(p, v, len);
		p[len] = '\0';
		*pathp = p;
	}
	free(v);
	return 0;
}

bool
fleet_locally_revoked(const uint8_t *list, size_t len, const char *id)
{
	size_t off;

	for (off = 0; off + TOKEN_ID_LEN <= len; off += TOKEN_ID_LEN)
		if (memcmp(list + off, id, TOKEN_ID_LEN) == 0)
			return true;
	return false;
}

int
fleet_note_local_revoke(struct store *st, const char *id)
{
	uint8_t *v = NULL, *nv;
	size_t len = 0;
	int r;

	r = store_aux_get(st, FLEET_AUX_LREVOKED, &v, &len);
	if (r == APPUSER_ERR_NOT_FOUND)
		r = 0;
	if (r != 0)
		return r;
	if (fleet_locally_revoked(v, len, id)) {
		free(v);
		return 0;
	}
	if (len + TOKEN_ID_LEN > STORE_AUX_VALUE_MAX ||
	    (nv = realloc(v, len + TOKEN_ID_LEN)) == NULL) {
		free(v);
		return APPUSER_ERR_NOMEM;
	}
	memcpy(nv + len, id, TOKEN_ID_LEN);
	r = store_aux_put(st, FLEET_AUX_LREVOKED, nv, len + TOKEN_ID_LEN);
	free(nv);
	return r;
}
