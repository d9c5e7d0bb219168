/*
 * JSON output (jansson).  Users and tokens as objects whose member names
 * follow the store's field names; times are RFC 3339 UTC strings, null when
 * never.
 */
#include <jansson.h>
#include <stdlib.h>

#include "cli.h"
#include "names.h"
#include "token.h"

int
cli_json_print(json_t *v)
{
	int r;

	if (v == NULL) {
		fprintf(stderr, "appuser: out of memory\n");
		return EXIT_ERROR;
	}
	r = json_dumpf(v, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(v);
	if (r != 0) {
		fprintf(stderr, "appuser: writing JSON output failed\n");
		return EXIT_ERROR;
	}
	putchar('\n');
	return EXIT_OK;
}

json_t *
json_time(int64_t t)
{
	char buf[32];

	if (t == 0)
		return json_null();
	format_time_rfc3339(t, buf, sizeof(buf));
	return json_string(buf);
}

/* "" becomes null: never set, rather than set to nothing. */
static json_t *
json_str_or_null(const char *s)
{
	return s == NULL || s[0] == '\0' ? json_null() : json_string(s);
}

/* Set key to v (stolen); remembers a failure in *okp. */
static void
set(json_t *o, const char *key, json_t *v, bool *okp)
{
	if (v == NULL || json_object_set_new(o, key, v) != 0)
		*okp = false;
}

json_t *
json_user(const struct user *u)
{
	json_t *o;
	bool ok = true;

	if ((o = json_object()) == NULL)
		return NULL;
	set(o, "name", json_string(u->name), &ok);
	set(o, "uid", json_integer(u->uid), &ok);
	set(o, "gid", json_integer(u->gid), &ok);
	set(o, "description", json_string(u->description != NULL ?
	    u->description : ""), &ok);
	set(o, "home", json_string(u->home), &ok);
	set(o, "shell", json_string(u->shell), &ok);
	set(o, "admin", json_boolean(u->admin), &ok);
	set(o, "create_time", json_time(u->create_time), &ok);
	if (!ok) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *
json_allow(const struct token *t)
{
	char buf[ADDR_RULE_STRLEN];
	json_t *a;
	size_t i;

	if ((a = json_array()) == NULL)
		return NULL;
	for (i = 0; i < t->n_allow; i++) {
		addr_rule_format(&t->allow[i], buf, sizeof(buf));
		if (json_array_append_new(a, json_string(buf)) != 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

static json_t *
json_scope(const struct token *t)
{
	json_t *a;
	size_t i;

	if ((a = json_array()) == NULL)
		return NULL;
	for (i = 0; i < t->n_scope; i++)
		if (json_array_append_new(a, json_string(t->scope[i])) != 0) {
			json_decref(a);
			return NULL;
		}
	return a;
}

json_t *
json_token(const struct token *t, int64_t now)
{
	char prefix[TOKEN_PREFIX_LEN + 1];
	json_t *o;
	bool ok = true;

	if ((o = json_object()) == NULL)
		return NULL;
	token_prefix(t->id, prefix, sizeof(prefix));
	set(o, "prefix", json_string(prefix), &ok);
	set(o, "user", json_string(t->user), &ok);
	set(o, "description", json_string(t->description != NULL ?
	    t->description : ""), &ok);
	set(o, "create_time", json_time(t->create_time), &ok);
	set(o, "max_age_seconds", t->max_age_seconds != 0 ?
	    json_integer(t->max_age_seconds) : json_null(), &ok);
	set(o, "extend_when_used", json_boolean(t->extend_when_used), &ok);
	set(o, "expiry_time", json_time(t->expiry_time), &ok);
	set(o, "allow_from", json_allow(t), &ok);
	set(o, "scope", json_scope(t), &ok);
	set(o, "last_used_time", json_time(t->last_used_time), &ok);
	set(o, "last_ip", json_str_or_null(t->last_ip), &ok);
	set(o, "last_service", json_str_or_null(t->last_service), &ok);
	set(o, "revoked", json_boolean(t->revoke_time != 0), &ok);
	set(o, "revoke_time", json_time(t->revoke_time), &ok);
	set(o, "status", json_string(token_status(t, now)), &ok);
	if (!ok) {
		json_decref(o);
		return NULL;
	}
	return o;
}

json_t *
json_list(const struct rec_vec *rv, json_t *(*to_json)(const void *, int64_t),
    int64_t now)
{
	json_t *a;
	size_t i;

	if ((a = json_array()) == NULL)
		return NULL;
	for (i = 0; i < rv->n; i++)
		if (json_array_append_new(a, to_json(rv->v[i], now)) != 0) {
			json_decref(a);
			return NULL;
		}
	return a;
}
