/*
 * The records that reports read, and the audit's rules.
 *
 * WHY one loader: `audit` and `metrics` judge records, not a store.  Today
 * they come from the local master, or with --fleet from etcd
 * (fleet_cli_user_foreach / fleet_cli_token_foreach fill the same
 * vectors).  The rules below never open anything, so both sources get the
 * same judgement, and the tests can build any store and read the verdict.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "names.h"
#include "token.h"

/* The fixed names and severities (the codes are an interface: scripts
 * match them; never rename one). */
enum {
	C_ADMIN_UNRESTRICTED, C_NO_EXPIRY, C_UNRESTRICTED, C_UNUSED,
	C_MANY_ADMINS, C_TOO_LONG, C_NO_ACTIVE, C_EXPIRING
};
const struct audit_code audit_codes[] = {
	[C_ADMIN_UNRESTRICTED] = { "admin-token-unrestricted", SEV_HIGH },
	[C_NO_EXPIRY] = { "token-no-expiry", SEV_MEDIUM },
	[C_UNRESTRICTED] = { "token-unrestricted", SEV_MEDIUM },
	[C_UNUSED] = { "token-unused", SEV_MEDIUM },
	[C_MANY_ADMINS] = { "many-admins", SEV_MEDIUM },
	[C_TOO_LONG] = { "token-too-long", SEV_LOW },
	[C_NO_ACTIVE] = { "user-no-active-token", SEV_LOW },
	[C_EXPIRING] = { "token-expiring", SEV_INFO },
};
const size_t audit_ncodes = sizeof(audit_codes) / sizeof(audit_codes[0]);

static const char *const sev_names[SEV_COUNT] = {
	[SEV_INFO] = "info", [SEV_LOW] = "low", [SEV_MEDIUM] = "medium",
	[SEV_HIGH] = "high"
};

const char *
severity_name(enum severity s)
{
	return (unsigned)s < SEV_COUNT ? sev_names[s] : "?";
}

int
severity_parse(const char *s, enum severity *sp)
{
	int i;

	for (i = 0; i < SEV_COUNT; i++)
		if (strcmp(s, sev_names[i]) == 0) {
			*sp = (enum severity)i;
			return 0;
		}
	return APPUSER_ERR_INVALID;
}

/* ---- the records ------------------------------------------------------ */

static int
cmp_user(const void *a, const void *b)
{
	return strcmp((*(struct user *const *)a)->name,
	    (*(struct user *const *)b)->name);
}

void
records_free(struct records *rs)
{
	rec_vec_free(&rs->users);
	rec_vec_free(&rs->tokens);
}

/*
 * From the fleet's etcd: the same records, without last use (each host
 * keeps its own logins), so token-unused and the last-use metric are left
 * out rather than reporting every token as never used.
 */
static int
records_fleet(struct cli *c, struct records *rs)
{
	int r;

	rs->last_use = false;
	/* each prints its own errors (a failed push as out of memory) */
	if ((r = fleet_cli_user_foreach(c, rec_collect_user, &rs->users)) ==
	    EXIT_OK)
		r = fleet_cli_token_foreach(c, NULL, rec_collect_token,
		    &rs->tokens);
	return r;
}

static int
records_local(struct cli *c, struct records *rs)
{
	struct store *st = NULL;
	int r;

	if ((r = cli_open_master(c, &st)) != EXIT_OK || st == NULL)
		return r;
	/*
	 * Two walks, not one snapshot: a change committed between them shows
	 * in one of them only (a user deleted meanwhile keeps no token here).
	 * That costs at most one finding that the next run corrects; a read
	 * transaction would hold the writers' lock for the whole walk.
	 */
	if ((r = store_user_foreach(st, rec_collect_user, &rs->users)) == 0)
		r = store_token_foreach(st, NULL, rec_collect_token, &rs->tokens);
	store_close(st);
	if (r != 0)
		r = cli_store_err(c, rs->users.err != 0 ? rs->users.err :
		    rs->tokens.err != 0 ? rs->tokens.err : r,
		    "cannot read the store %s", c->store_dir);
	return r;
}

int
records_load(struct cli *c, struct records *rs)
{
	int r;

	memset(rs, 0, sizeof(*rs));
	rs->users.free_rec = rec_free_user;
	rs->tokens.free_rec = rec_free_token;
	rs->last_use = true;
	rs->now = cli_now();
	r = c->fleet_path != NULL ? records_fleet(c, rs) :
	    records_local(c, rs);
	if (r != EXIT_OK) {
		records_free(rs);
		return r;
	}
	rec_vec_sort(&rs->users, cmp_user);
	rec_vec_sort(&rs->tokens, rec_cmp_token);
	return EXIT_OK;
}

/* ---- the rules -------------------------------------------------------- */

/* A setting for a message, in the largest unit that divides it: "365d". */
static const char *
span(int64_t s, char *buf, size_t len)
{
	static const struct { int64_t secs; char unit; } u[] = {
		{ 86400, 'd' }, { 3600, 'h' }, { 60, 'm' }, { 1, 's' }
	};
	size_t i;

	for (i = 0; i < 3 && s % u[i].secs != 0; i++)
		;
	snprintf(buf, len, "%lld%c", (long long)(s / u[i].secs), u[i].unit);
	return buf;
}

static int
add(struct rec_vec *fv, int code, const char *user, const struct token *t,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int
add(struct rec_vec *fv, int code, const char *user, const struct token *t,
    const char *fmt, ...)
{
	struct finding *f;
	va_list ap;

	if ((f = calloc(1, sizeof(*f))) == NULL)
		return rec_vec_push(fv, NULL);
	f->severity = audit_codes[code].severity;
	f->code = audit_codes[code].code;
	f->user = user;
	f->t = t;
	va_start(ap, fmt);
	vsnprintf(f->message, sizeof(f->message), fmt, ap);
	va_end(ap);
	return rec_vec_push(fv, f);
}

static bool
is_active(const struct token *t, int64_t now)
{
	return strcmp(token_status(t, now), "active") == 0;
}

/* How long a token has a life: its max age, or none. */
static int
rule_lifetime(struct rec_vec *fv, const struct token *t,
    const struct audit_opts *o)
{
	if (t->max_age_seconds == 0)
		return add(fv, C_NO_EXPIRY, t->user, t, "never expires (made "
		    "without --max-age): replace it with a token that does");
	if (t->max_age_seconds > o->max_age) {
		char a[24], b[24];

		return add(fv, C_TOO_LONG, t->user, t, "maximum age %s is "
		    "longer than %s", span(t->max_age_seconds, a, sizeof(a)),
		    span(o->max_age, b, sizeof(b)));
	}
	return 0;
}

static int
rule_expiring(struct rec_vec *fv, const struct token *t,
    const struct audit_opts *o, int64_t now)
{
	char rel[32], when[32], p[TOKEN_PREFIX_LEN + 1];

	if (t->expiry_time == 0 || t->expiry_time - now > o->expiring)
		return 0;
	format_time_human(t->expiry_time, now, rel, sizeof(rel));
	format_time_rfc3339(t->expiry_time, when, sizeof(when));
	token_prefix(t->id, p, sizeof(p));
	return add(fv, C_EXPIRING, t->user, t, "expires %s (%s): rotate it "
	    "if it is still in use: appuser token rotate %s %s", rel, when,
	    t->user, p);
}

static int
rule_unused(struct rec_vec *fv, const struct token *t,
    const struct audit_opts *o, int64_t now)
{
	char rel[32], d[24];

	span(o->unused, d, sizeof(d));
	if (t->last_used_time != 0 && now - t->last_used_time > o->unused) {
		format_time_human(t->last_used_time, now, rel, sizeof(rel));
		return add(fv, C_UNUSED, t->user, t, "last used %s (not within "
		    "%s): revoke it if nothing uses it", rel, d);
	}
	if (t->last_used_time == 0 && now - t->create_time > o->unused) {
		format_time_human(t->create_time, now, rel, sizeof(rel));
		return add(fv, C_UNUSED, t->user, t, "never used, created %s "
		    "(not within %s): revoke it if nothing uses it", rel, d);
	}
	return 0;
}

static int
rule_restricted(struct rec_vec *fv, const struct token *t, bool admin)
{
	if (t->n_allow > 0 || t->n_scope > 0)
		return 0;
	if (admin)
		return add(fv, C_ADMIN_UNRESTRICTED, t->user, t, "an admin's "
		    "token, usable from any address for every service, sudo "
		    "included (neither --allow-from nor --scope)");
	return add(fv, C_UNRESTRICTED, t->user, t, "usable from any address "
	    "for every service (neither --allow-from nor --scope)");
}

/* The owner of t in rs (sorted by name), or -1 (deleted meanwhile). */
static ssize_t
owner_of(const struct records *rs, const struct token *t)
{
	size_t lo = 0, hi = rs->users.n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct user *u = rs->users.v[mid];
		int d;

		if ((d = strcmp(t->user, u->name)) == 0)
			return (ssize_t)mid;
		if (d < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return -1;
}

/* Every active token's findings; active[i] counts user i's. */
static int
audit_tokens(const struct records *rs, const struct audit_opts *o,
    struct rec_vec *fv, size_t *active)
{
	size_t i;
	int r = 0;

	for (i = 0; r == 0 && i < rs->tokens.n; i++) {
		const struct token *t = rs->tokens.v[i];
		const struct user *u;
		ssize_t ui;

		if (!is_active(t, rs->now) || (ui = owner_of(rs, t)) < 0)
			continue;
		u = rs->users.v[ui];
		active[ui]++;
		if ((r = rule_lifetime(fv, t, o)) == 0 &&
		    (r = rule_expiring(fv, t, o, rs->now)) == 0 &&
		    (!rs->last_use ||
		    (r = rule_unused(fv, t, o, rs->now)) == 0))
			r = rule_restricted(fv, t, u->admin);
	}
	return r;
}

static int
audit_users(const struct records *rs, struct rec_vec *fv,
    const size_t *active)
{
	size_t i, admins = 0;
	int r = 0;

	for (i = 0; r == 0 && i < rs->users.n; i++) {
		const struct user *u = rs->users.v[i];

		admins += u->admin;
		if (active[i] == 0)
			r = add(fv, C_NO_ACTIVE, u->name, NULL, "no active "
			    "token: delete the user if nothing logs in as it");
	}
	if (r == 0 && admins * 4 > rs->users.n)
		r = add(fv, C_MANY_ADMINS, NULL, NULL, "%zu of %zu users are "
		    "admins (more than a quarter): admin grants root through "
		    "sudo; revoke it where it is not needed", admins,
		    rs->users.n);
	return r;
}

/* Most severe first, then by user (the store's own first), code, token. */
static int
cmp_finding(const void *a, const void *b)
{
	const struct finding *fa = *(void *const *)a;
	const struct finding *fb = *(void *const *)b;
	int d;

	if (fa->severity != fb->severity)
		return fa->severity > fb->severity ? -1 : 1;
	if ((fa->user == NULL) != (fb->user == NULL))
		return fa->user == NULL ? -1 : 1;
	if (fa->user != NULL && (d = strcmp(fa->user, fb->user)) != 0)
		return d;
	if ((d = strcmp(fa->code, fb->code)) != 0)
		return d;
	if ((fa->t == NULL) != (fb->t == NULL))
		return fa->t == NULL ? -1 : 1;
	return fa->t == NULL ? 0 : strcmp(fa->t->id, fb->t->id);
}

int
audit_run(const struct records *rs, const struct audit_opts *o,
    struct rec_vec *fv)
{
	size_t *active;
	int r;

	fv->free_rec = free;
	if ((active = calloc(rs->users.n + 1, sizeof(*active))) == NULL)
		return APPUSER_ERR_NOMEM;
	if ((r = audit_tokens(rs, o, fv, active)) == 0)
		r = audit_users(rs, fv, active);
	free(active);
	if (r == 0)
		rec_vec_sort(fv, cmp_finding);
	return r;
}
