/*
 * Reports: audit (the best practices as findings) and metrics (Prometheus
 * text format for node_exporter's textfile collector).  Both read records
 * through records_load and judge them with audit_run (admin/audit.c);
 * neither writes the store.  Nothing here sees a secret: the records hold
 * verifiers, which no output includes.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "names.h"
#include "token.h"

/* ---- audit ------------------------------------------------------------ */

static int
duration_opt(struct cli *c, const char *opt, const char *s, int64_t *vp)
{
	if (parse_duration(s, vp) == 0)
		return EXIT_OK;
	cli_err(c, "%s '%s' is not a valid duration (a positive number of "
	    "seconds, or with a unit: 90m, 12h, 30d, 2w, 1y)", opt, s);
	return EXIT_ERROR;
}

static json_t *
finding_json(const void *rec, int64_t now)
{
	const struct finding *f = rec;
	char p[TOKEN_PREFIX_LEN + 1];

	(void)now;
	if (f->t != NULL)
		token_prefix(f->t->id, p, sizeof(p));
	return json_pack("{s:s, s:s, s:o, s:o, s:s}",
	    "severity", severity_name(f->severity), "code", f->code,
	    "user", f->user != NULL ? json_string(f->user) : json_null(),
	    "prefix", f->t != NULL ? json_string(p) : json_null(),
	    "message", f->message);
}

/* SEVERITY CODE USER PREFIX MESSAGE, "-" for what a finding is not about */
static int
print_findings(struct cli *c, const struct rec_vec *fv)
{
	char p[TOKEN_PREFIX_LEN + 1];
	size_t i;

	if (c->json)
		return cli_json_print(json_list(fv, finding_json, 0));
	for (i = 0; i < fv->n; i++) {
		const struct finding *f = fv->v[i];

		if (f->t != NULL)
			token_prefix(f->t->id, p, sizeof(p));
		printf("%s %s %s %s %s\n", severity_name(f->severity), f->code,
		    f->user != NULL ? f->user : "-", f->t != NULL ? p : "-",
		    f->message);
	}
	return EXIT_OK;
}

struct audit_args {
	struct audit_opts	o;
	enum severity		fail_on;
};

/* The options: an exit status, or OPT_DONE (return c->exit). */
static int
audit_args(struct cli *c, int argc, char **argv, struct audit_args *a)
{
	static const struct option longopts[] = {
		{ "unused", required_argument, NULL, 'u' },
		{ "expiring", required_argument, NULL, 'e' },
		{ "max-age", required_argument, NULL, 'm' },
		{ "fail-on", required_argument, NULL, 'f' },
		CLI_COMMON_OPTIONS, { NULL, 0, NULL, 0 }
	};
	int ch, r = EXIT_OK;

	a->o.unused = AUDIT_UNUSED_DEFAULT;
	a->o.expiring = AUDIT_EXPIRING_DEFAULT;
	a->o.max_age = AUDIT_MAX_AGE_DEFAULT;
	a->fail_on = SEV_MEDIUM;
	while (r == EXIT_OK &&
	    (ch = cli_getopt(c, argc, argv, longopts)) != -1) {
		switch (ch) {
		case 'u':
			r = duration_opt(c, "--unused", optarg, &a->o.unused);
			break;
		case 'e':
			r = duration_opt(c, "--expiring", optarg,
			    &a->o.expiring);
			break;
		case 'm':
			r = duration_opt(c, "--max-age", optarg, &a->o.max_age);
			break;
		case 'f':
			if (severity_parse(optarg, &a->fail_on) != 0)
				r = cli_usage(c, "--fail-on '%s': give high, "
				    "medium, low or info", optarg);
			break;
		default:
			return OPT_DONE;
		}
	}
	return r != EXIT_OK ? r : cli_nargs(c, argc, argv, 0, 0);
}

int
cmd_audit(struct cli *c, int argc, char **argv)
{
	struct rec_vec fv = { .free_rec = free };
	struct records rs;
	struct audit_args a;
	size_t i;
	int r;

	if ((r = audit_args(c, argc, argv, &a)) != EXIT_OK)
		return r == OPT_DONE ? c->exit : r;
	if ((r = records_load(c, &rs)) != EXIT_OK)
		return r;
	if (!rs.last_use)	/* stderr: stdout stays the findings only */
		fprintf(stderr, "appuser: note: token-unused is not checked "
		    "with --fleet: last use is kept on each host (run appuser "
		    "audit there)\n");
	if (audit_run(&rs, &a.o, &fv) != 0) {
		cli_err(c, "out of memory");
		r = EXIT_ERROR;
	} else if ((r = print_findings(c, &fv)) == EXIT_OK) {
		for (i = 0; i < fv.n; i++)
			if (((struct finding *)fv.v[i])->severity >= a.fail_on)
				r = EXIT_REFUSED;
	}
	rec_vec_free(&fv);
	records_free(&rs);
	return r;
}

/* ---- metrics ---------------------------------------------------------- */

/* What metrics reports: counts, findings by code, the active tokens. */
struct summary {
	size_t		 users;
	size_t		 admins;
	size_t		 by_status[3];		/* active, expired, revoked */
	size_t		*by_code;		/* audit_ncodes counts */
};
static const char *const statuses[3] = { "active", "expired", "revoked" };

static int
summarise(const struct records *rs, struct summary *s)
{
	struct audit_opts o = { AUDIT_UNUSED_DEFAULT, AUDIT_EXPIRING_DEFAULT,
	    AUDIT_MAX_AGE_DEFAULT };
	struct rec_vec fv = { .free_rec = free };
	size_t i, k;
	int r;

	memset(s, 0, sizeof(*s));
	if ((s->by_code = calloc(audit_ncodes, sizeof(size_t))) == NULL)
		return APPUSER_ERR_NOMEM;
	s->users = rs->users.n;
	for (i = 0; i < rs->users.n; i++)
		s->admins += ((const struct user *)rs->users.v[i])->admin;
	for (i = 0; i < rs->tokens.n; i++)
		for (k = 0; k < 3; k++)
			if (strcmp(token_status(rs->tokens.v[i], rs->now),
			    statuses[k]) == 0)
				s->by_status[k]++;
	if ((r = audit_run(rs, &o, &fv)) == 0)
		for (i = 0; i < fv.n; i++) {
			const struct finding *f = fv.v[i];

			for (k = 0; k < audit_ncodes; k++)
				if (strcmp(f->code, audit_codes[k].code) == 0)
					s->by_code[k]++;
		}
	rec_vec_free(&fv);
	return r;
}

/* A label value, escaped as the text format wants (\\, \", \n). */
static void
label(FILE *f, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\' || *s == '"')
			fputc('\\', f);
		if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
}

static void
metric_head(FILE *f, const char *name, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
}

static int64_t
created(const struct token *t)
{
	return t->create_time;
}

static int64_t
expiry(const struct token *t)
{
	return t->expiry_time;
}

static int64_t
last_used(const struct token *t)
{
	return t->last_used_time;
}

/* One sample per active token whose time is not 0 (never). */
static void
token_samples(FILE *f, const struct records *rs, const char *name,
    int64_t (*get)(const struct token *))
{
	char p[TOKEN_PREFIX_LEN + 1];
	size_t i;

	for (i = 0; i < rs->tokens.n; i++) {
		const struct token *t = rs->tokens.v[i];

		if (get(t) == 0 ||
		    strcmp(token_status(t, rs->now), "active") != 0)
			continue;
		token_prefix(t->id, p, sizeof(p));
		fprintf(f, "%s{user=\"", name);
		label(f, t->user);
		fprintf(f, "\",prefix=\"%s\"} %lld\n", p, (long long)get(t));
	}
}

static void
prom_text(FILE *f, const struct records *rs, const struct summary *s)
{
	size_t k;

	metric_head(f, "appuser_users", "Application users in the store.");
	fprintf(f, "appuser_users %zu\n", s->users);
	metric_head(f, "appuser_admins", "Application users who are "
	    "organization admins (sudo through the admin group).");
	fprintf(f, "appuser_admins %zu\n", s->admins);
	metric_head(f, "appuser_tokens", "Tokens by status (revoked and "
	    "expired tokens stay in the store).");
	for (k = 0; k < 3; k++)
		fprintf(f, "appuser_tokens{status=\"%s\"} %zu\n", statuses[k],
		    s->by_status[k]);
	metric_head(f, "appuser_audit_findings", "Findings of appuser audit "
	    "with its default thresholds, by code and severity.");
	for (k = 0; k < audit_ncodes; k++)
		fprintf(f, "appuser_audit_findings{code=\"%s\",severity=\"%s\"}"
		    " %zu\n", audit_codes[k].code,
		    severity_name(audit_codes[k].severity), s->by_code[k]);
	metric_head(f, "appuser_token_created_timestamp_seconds", "When each "
	    "active token was created, in Unix seconds.");
	token_samples(f, rs, "appuser_token_created_timestamp_seconds",
	    created);
	metric_head(f, "appuser_token_expiry_timestamp_seconds", "When each "
	    "active token expires, in Unix seconds (no sample: never).");
	token_samples(f, rs, "appuser_token_expiry_timestamp_seconds",
	    expiry);
	if (!rs->last_use)
		return;
	metric_head(f, "appuser_token_last_used_timestamp_seconds", "When each "
	    "active token was last used, in Unix seconds (no sample: never).");
	token_samples(f, rs, "appuser_token_last_used_timestamp_seconds",
	    last_used);
}

static json_t *
token_times(const void *rec, int64_t now)
{
	const struct token *t = rec;
	char p[TOKEN_PREFIX_LEN + 1];

	(void)now;
	token_prefix(t->id, p, sizeof(p));
	return json_pack("{s:s, s:s, s:o, s:o, s:o}", "user", t->user,
	    "prefix", p, "create_time", json_time(t->create_time),
	    "expiry_time", json_time(t->expiry_time),
	    "last_used_time", json_time(t->last_used_time));
}

/* The same figures as one JSON object; NULL: out of memory. */
static json_t *
summary_json(const struct records *rs, const struct summary *s)
{
	json_t *o, *by, *a;
	bool ok;
	size_t i, k;

	o = json_pack("{s:I, s:I, s:{s:I, s:I, s:I}, s:[], s:[]}", "users",
	    (json_int_t)s->users, "admins", (json_int_t)s->admins, "tokens",
	    statuses[0], (json_int_t)s->by_status[0], statuses[1],
	    (json_int_t)s->by_status[1], statuses[2],
	    (json_int_t)s->by_status[2], "findings", "active_tokens");
	by = json_object_get(o, "findings");
	a = json_object_get(o, "active_tokens");
	ok = by != NULL && a != NULL;
	for (k = 0; ok && k < audit_ncodes; k++)
		ok = json_array_append_new(by, json_pack("{s:s, s:s, s:I}",
		    "code", audit_codes[k].code, "severity",
		    severity_name(audit_codes[k].severity), "count",
		    (json_int_t)s->by_code[k])) == 0;
	for (i = 0; ok && i < rs->tokens.n; i++)
		if (strcmp(token_status(rs->tokens.v[i], rs->now), "active") ==
		    0)
			ok = json_array_append_new(a,
			    token_times(rs->tokens.v[i], 0)) == 0;
	if (!ok) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* The document (Prometheus text, or JSON): *bufp malloc'd, or NOMEM. */
static int
render(struct cli *c, const struct records *rs, const struct summary *s,
    char **bufp, size_t *lenp)
{
	char *buf = NULL;
	size_t len = 0;
	json_t *o = NULL;
	FILE *m;
	bool ok;

	if ((m = open_memstream(&buf, &len)) == NULL)
		return APPUSER_ERR_NOMEM;
	if (c->json) {
		o = summary_json(rs, s);
		ok = o != NULL && json_dumpf(o, m, JSON_INDENT(2) |
		    JSON_PRESERVE_ORDER) == 0 && fputc('\n', m) != EOF;
		json_decref(o);
	} else {
		prom_text(m, rs, s);
		ok = ferror(m) == 0;
	}
	if (fclose(m) != 0 || !ok) {
		free(buf);
		return APPUSER_ERR_NOMEM;
	}
	*bufp = buf;
	*lenp = len;
	return 0;
}

/*
 * Replace path by way of a temporary file in its directory and a rename,
 * so that node_exporter never reads half a file (it reads only *.prom:
 * the temporary name is not one).  A new file gets 0644: it holds what any
 * scrape of node_exporter shows anyway.  An existing file keeps its group
 * and its mode (less write bits for group and others): restrict it once
 * with chgrp and chmod and it stays so.
 */
static int
write_replace(struct cli *c, const char *path, const char *buf, size_t len)
{
	const char *base = strrchr(path, '/');
	char *tmp = NULL;
	struct stat sb;
	mode_t mode = 0644;
	gid_t gid = getegid();
	int fd = -1, saved = 0;
	bool ok;

	base = base != NULL ? base + 1 : path;
	if (*base == '\0' || strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
		return cli_usage(c, "--output %s: give a file name, such as "
		    "appuser.prom", path);
	if (asprintf(&tmp, "%.*s.%s.XXXXXX", (int)(base - path), path,
	    base) < 0) {
		cli_err(c, "out of memory");
		return EXIT_ERROR;
	}
	/* lstat: a symlink planted in a shared directory lends its target's
	 * group and mode to nothing (the rename replaces the link itself) */
	if (lstat(path, &sb) == 0 && S_ISREG(sb.st_mode)) {
		mode = sb.st_mode & 0644;
		gid = sb.st_gid;
	}
	fd = mkostemp(tmp, O_CLOEXEC);
	ok = fd != -1 && fchmod(fd, mode) == 0 && (gid == getegid() ||
	    fchown(fd, (uid_t)-1, gid) == 0) &&
	    cli_write_all(fd, buf, len) == 0 && fsync(fd) == 0;
	saved = errno;
	if (fd != -1 && close(fd) != 0 && ok) {
		ok = false;
		saved = errno;
	}
	if (ok && rename(tmp, path) != 0) {
		ok = false;
		saved = errno;
	}
	if (!ok && fd != -1)
		unlink(tmp);
	if (!ok)
		cli_err(c, "cannot write %s: %s", path, strerror(saved));
	free(tmp);
	return ok ? EXIT_OK : EXIT_ERROR;
}

int
cmd_metrics(struct cli *c, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "output", required_argument, NULL, 'o' },
		CLI_COMMON_OPTIONS, { NULL, 0, NULL, 0 }
	};
	struct summary s = { 0 };
	struct records rs;
	const char *out = NULL;
	char *buf = NULL;
	size_t len = 0;
	int ch, r;

	while ((ch = cli_getopt(c, argc, argv, longopts)) != -1) {
		if (ch != 'o')
			return c->exit;
		out = optarg;
	}
	if ((r = cli_nargs(c, argc, argv, 0, 0)) != EXIT_OK)
		return r;
	if (out != NULL && out[0] == '\0')
		return cli_usage(c, "--output needs a file name");
	if ((r = records_load(c, &rs)) != EXIT_OK)
		return r;
	if (summarise(&rs, &s) != 0 || render(c, &rs, &s, &buf, &len) != 0) {
		cli_err(c, "out of memory");
		r = EXIT_ERROR;
	} else if (out != NULL)
		r = write_replace(c, out, buf, len);
	else if (fwrite(buf, 1, len, stdout) != len)
		r = EXIT_ERROR;		/* main says that writing failed */
	free(buf);
	free(s.by_code);
	records_free(&rs);
	return r;
}
