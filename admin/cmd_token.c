/*
 * Token commands: create, list, revoke.
 *
 * The token exists in this process only between token_generate and the
 * write(2) that prints it, in one stack buffer that is wiped afterwards; it
 * never goes through stdio, jansson, syslog or an error message.
 */
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "fleet.h"
#include "names.h"
#include "token.h"

struct token_opts {
	const char	 *description;
	const char	 *max_age;
	const char	 *allow;
	const char	 *scope;
	bool		  extend;
	int64_t		  max_age_seconds;
	struct addr_rule *rules;
	size_t		  nrules;
	char		**scopes;
	size_t		  nscopes;
};

static void
token_opts_clear(struct token_opts *o)
{
	free(o->rules);
	strv_free(o->scopes);
}

/* A list option given with no entry at all ("", ",", " "). */
static bool
list_is_empty(const char *s)
{
	return s[strspn(s, ", \t")] == '\0';
}

/* Check and parse the options; nothing is opened before they pass. */
static int
token_opts_parse(struct cli *c, struct token_opts *o)
{
	if (o->description != NULL && !text_is_valid(o->description)) {
		cli_err(c, "description is not valid (at most %d bytes of "
		    "printable text, no ':')", APPUSER_TEXT_MAX);
		return EXIT_ERROR;
	}
	if (o->max_age != NULL &&
	    parse_duration(o->max_age, &o->max_age_seconds) != 0) {
		cli_err(c, "--max-age '%s' is not a valid duration (a positive "
		    "number of seconds, or with a unit: 90m, 12h, 30d, 2w, 1y; "
		    "at most 100 years)", o->max_age);
		return EXIT_ERROR;
	}
	if (o->extend && o->max_age == NULL)
		return cli_usage(c, "--extend-when-used needs --max-age (the "
		    "expiry it pushes forward)");
	/* an empty list would lift the restriction: refuse it, clearly */
	if (o->allow != NULL && list_is_empty(o->allow)) {
		cli_err(c, "--allow-from is empty: give at least one address, "
		    "CIDR or 'local' (leave the option out for a token usable "
		    "from anywhere)");
		return EXIT_ERROR;
	}
	if (o->scope != NULL && list_is_empty(o->scope)) {
		cli_err(c, "--scope is empty: give at least one PAM service "
		    "such as sshd (leave the option out for a token valid for "
		    "every service)");
		return EXIT_ERROR;
	}
	if (o->allow != NULL &&
	    parse_allow_list(o->allow, &o->rules, &o->nrules) != 0) {
		cli_err(c, "--allow-from '%s' is not valid (comma-separated "
		    "IPv4 or IPv6 addresses or CIDRs without host bits, such "
		    "as 10.0.0.0/8, or 'local'; at most %d)", o->allow,
		    TOKEN_MAX_ALLOW);
		return EXIT_ERROR;
	}
	if (o->scope != NULL &&
	    parse_scope_list(o->scope, &o->scopes, &o->nscopes) != 0) {
		cli_err(c, "--scope '%s' is not valid (comma-separated PAM "
		    "service names such as sshd,sudo; at most %d)", o->scope,
		    TOKEN_MAX_SCOPE);
		return EXIT_ERROR;
	}
	return EXIT_OK;
}

/*
 * The token alone, or an object with the token and the metadata, then the
 * members of more (stolen; NULL: none).
 */
static int
print_token(struct cli *c, const char *tok, const struct token *t,
    json_t *more)
{
	json_t *o = NULL;
	char *meta = NULL;
	int r = -1;

	if (fflush(stdout) != 0)
		goto out;
	if (!c->json) {
		r = cli_write_all(STDOUT_FILENO, tok, strlen(tok)) != 0 ||
		    cli_write_all(STDOUT_FILENO, "\n", 1) != 0 ? -1 : 0;
		goto out;
	}
	/* The metadata dumps as "{\n  \"prefix\"...": the token goes first. */
	if ((o = json_token(t, cli_now())) == NULL ||
	    (more != NULL && json_object_update(o, more) != 0) ||
	    (meta = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER)) ==
	    NULL || strncmp(meta, "{\n", 2) != 0)
		goto out;
	if (cli_write_all(STDOUT_FILENO, "{\n  \"token\": \"", 14) != 0 ||
	    cli_write_all(STDOUT_FILENO, tok, strlen(tok)) != 0 ||
	    cli_write_all(STDOUT_FILENO, "\",\n", 3) != 0 ||
	    cli_write_all(STDOUT_FILENO, meta + 2, strlen(meta + 2)) != 0 ||
	    cli_write_all(STDOUT_FILENO, "\n", 1) != 0)
		goto out;
	r = 0;
 out:
	free(meta);
	json_decref(o);
	json_decref(more);
	return r;
}

/* A new token's metadata from the options (no owner, id or verifier). */
static void
fill_token(const struct token_opts *o, struct token *t)
{
	memset(t, 0, sizeof(*t));
	t->description = o->description != NULL ? o->description : "";
	t->create_time = cli_now();
	t->max_age_seconds = o->max_age_seconds;
	t->extend_when_used = o->extend;
	t->expiry_time = o->max_age_seconds != 0 ?
	    t->create_time + o->max_age_seconds : 0;
	t->last_ip = "";
	t->last_service = "";
	t->n_allow = o->nrules;
	t->allow = o->rules;
	t->n_scope = o->nscopes;
	t->scope = (const char **)o->scopes;
}

/* Mint a token for u and add it; tok receives it.  Retries an id clash. */
static int
add_token(struct store *st, const struct user *u, const struct token_opts *o,
    char tok[TOKEN_LEN + 1], struct token *t)
{
	int tries, r = APPUSER_ERR_INTERNAL;

	fill_token(o, t);
	t->user = u->name;
	t->uid = u->uid;
	for (tries = 0; tries < 3; tries++) {
		if ((r = token_generate(tok, t->id, t->verifier)) != 0)
			break;
		if ((r = store_token_add(st, t)) != APPUSER_ERR_EXISTS)
			break;
		sodium_memzero(tok, TOKEN_LEN + 1);
	}
	return r;
}

int
cmd_token_create(struct cli *c, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "description", required_argument, NULL, 'd' },
		{ "max-age", required_argument, NULL, 'm' },
		{ "extend-when-used", no_argument, NULL, 'e' },
		{ "allow-from", required_argument, NULL, 'a' },
		{ "scope", required_argument, NULL, 's' },
		CLI_COMMON_OPTIONS, { NULL, 0, NULL, 0 }
	};
	struct token_opts o;
	struct store *st = NULL;
	struct user *u = NULL;
	struct token t;
	char tok[TOKEN_LEN + 1], prefix[TOKEN_PREFIX_LEN + 1];
	const char *name;
	int ch, r;

	memset(&o, 0, sizeof(o));
	memset(tok, 0, sizeof(tok));
	while ((ch = cli_getopt(c, argc, argv, longopts)) != -1) {
		switch (ch) {
		case 'd': o.description = optarg; break;
		case 'm': o.max_age = optarg; break;
		case 'e': o.extend = true; break;
		case 'a': o.allow = optarg; break;
		case 's': o.scope = optarg; break;
		default: return c->exit;
		}
	}
	if ((r = cli_nargs(c, argc, argv, 1, 1)) != EXIT_OK)
		return r;
	if (c->stdout_closed) {
		cli_err(c, "standard output is closed: nowhere to print the "
		    "token");
		return EXIT_ERROR;
	}
	name = argv[optind];
	memset(&t, 0, sizeof(t));
	if ((r = cli_check_name(c, "", name)) != EXIT_OK ||
	    (r = token_opts_parse(c, &o)) != EXIT_OK)
		goto out;
	if (c->fleet_path != NULL) {
		if (o.extend) {
			cli_err(c, "--extend-when-used is refused with --fleet: "
			    "a sliding expiry would need every host's logins, "
			    "and last use stays on each host; give --max-age "
			    "alone");
			r = EXIT_ERROR;
			goto out;
		}
		fill_token(&o, &t);
		if ((r = fleet_cli_token_add(c, name, &t, tok, &u)) != EXIT_OK)
			goto out;
	} else if ((r = cli_open_user_write(c, name, &st)) != EXIT_OK)
		goto out;
	else if ((r = store_user_get(st, name, &u)) != 0 ||
	    (r = add_token(st, u, &o, tok, &t)) != 0) {
		if (r == APPUSER_ERR_NOT_FOUND) {
			cli_err(c, "no application user '%s' (create it first: "
			    "appuser create %s)", name, name);
			r = EXIT_REFUSED;
		} else
			r = cli_store_err(c, r, "cannot create a token for "
			    "'%s'", name);
		goto out;
	}
	token_prefix(t.id, prefix, sizeof(prefix));
	cli_log("%stoken create user=%s prefix=%s max_age=%s extend=%s "
	    "allow_from=%s scope=%s", c->fleet_path ? "fleet " : "", name,
	    prefix,
	    o.max_age != NULL ? o.max_age : "none", o.extend ? "yes" : "no",
	    o.allow != NULL ? o.allow : "any", o.scope != NULL ? o.scope :
	    "any");
	/* a closed pipe must not kill us before we can say what to revoke */
	signal(SIGPIPE, SIG_IGN);
	if (print_token(c, tok, &t, NULL) != 0) {
		cli_err(c, "could not print the token (%s); revoke it: appuser "
		    "token revoke %s %s", strerror(errno), name, prefix);
		r = EXIT_ERROR;
		goto out;
	}
	fprintf(stderr, "appuser: token %s created for %s; it is shown only "
	    "once: store it now\n", prefix, name);
	r = EXIT_OK;
 out:
	sodium_memzero(tok, sizeof(tok));
	sodium_memzero(t.verifier, sizeof(t.verifier));
	user_free(u);
	store_close(st);
	token_opts_clear(&o);
	return r;
}

static int
print_token_table(const struct rec_vec *tv, int64_t now)
{
	static const char *const hdr[] = { "PREFIX", "USER", "DESCRIPTION",
	    "CREATED", "EXPIRES", "LAST USED", "LAST FROM", "STATUS" };
	char prefix[TOKEN_PREFIX_LEN + 1], created[32], expires[32], used[32];
	const char *row[8];
	const struct token *t;
	struct table *tab;
	bool ok;
	size_t i;

	ok = (tab = table_new(8, hdr)) != NULL;
	for (i = 0; ok && i < tv->n; i++) {
		t = tv->v[i];
		token_prefix(t->id, prefix, sizeof(prefix));
		format_time_human(t->create_time, now, created, sizeof(created));
		format_time_human(t->expiry_time, now, expires, sizeof(expires));
		format_time_human(t->last_used_time, now, used, sizeof(used));
		row[0] = prefix;
		row[1] = t->user;
		row[2] = t->description[0] != '\0' ? t->description : "-";
		row[3] = created;
		row[4] = expires;
		row[5] = used;
		row[6] = t->last_used_time == 0 ? "-" :
		    t->last_ip[0] != '\0' ? t->last_ip : "local";
		row[7] = token_status(t, now);
		ok = table_add(tab, row) == 0;
	}
	return table_emit(tab, ok);
}

static json_t *
token_json(const void *t, int64_t now)
{
	return json_token(t, now);
}

static int
print_tokens(struct cli *c, const struct rec_vec *tv)
{
	int64_t now = cli_now();

	if (c->json)
		return cli_json_print(json_list(tv, token_json, now));
	if (tv->n == 0) {
		fprintf(stderr, "appuser: token list: no tokens\n");
		return EXIT_OK;
	}
	return print_token_table(tv, now);
}

int
cmd_token_list(struct cli *c, int argc, char **argv)
{
	static const struct option longopts[] = {
		CLI_COMMON_OPTIONS, { NULL, 0, NULL, 0 }
	};
	struct rec_vec tv = { .free_rec = rec_free_token };
	struct store *st = NULL;
	struct user *u = NULL;
	const char *name = NULL;
	int r;

	if (cli_getopt(c, argc, argv, longopts) != -1)
		return c->exit;
	if ((r = cli_nargs(c, argc, argv, 0, 1)) != EXIT_OK)
		return r;
	if (optind < argc) {
		name = argv[optind];
		if ((r = cli_check_name(c, "", name)) != EXIT_OK)
			return r;
	}
	if (c->fleet_path != NULL) {
		if ((r = fleet_cli_token_foreach(c, name, rec_collect_token,
		    &tv)) == EXIT_OK) {
			if (tv.err != 0)
				r = cli_store_err(c, tv.err, "cannot list");
			else {
				rec_vec_sort(&tv, rec_cmp_token);
				r = print_tokens(c, &tv);
			}
		}
		rec_vec_free(&tv);
		return r;
	}
	if ((r = cli_open_master(c, &st)) != EXIT_OK)
		return r;
	r = 0;
	if (name != NULL)
		r = st == NULL ? APPUSER_ERR_NOT_FOUND :
		    store_user_get(st, name, &u);
	if (r == 0 && st != NULL)
		r = store_token_foreach(st, name, rec_collect_token, &tv);
	if (r == APPUSER_ERR_NOT_FOUND && name != NULL && u == NULL) {
		cli_err(c, "no application user '%s'", name);
		r = EXIT_REFUSED;
	} else if (r != 0)
		r = cli_store_err(c, tv.err != 0 ? tv.err : r, "cannot read "
		    "the tokens in %s", c->store_dir);
	else {
		rec_vec_sort(&tv, rec_cmp_token);
		r = print_tokens(c, &tv);
	}
	rec_vec_free(&tv);
	user_free(u);
	store_close(st);
	return r;
}

/* Live tokens of a user, for revoke --all's report. */
static int
collect_live(const struct token *t, void *arg)
{
	return t->revoke_time != 0 ? 0 : rec_collect_token(t, arg);
}

/*
 * Revoke in the open transaction: one token (id != NULL) or all.  tv
 * receives what this call revoked.  Returns an APPUSER_ERR_* code;
 * *alreadyp tells a single token that was revoked before.
 */
static int
revoke_tokens(struct store *st, const char *name, const char *id,
    struct rec_vec *tv, bool *alreadyp)
{
	struct user *u = NULL;
	struct token *t = NULL;
	size_t n;
	int r;

	if ((r = store_user_get(st, name, &u)) != 0)
		goto out;
	if (id == NULL) {
		if ((r = store_token_foreach(st, name, collect_live, tv)) == 0)
			r = store_token_revoke_all(st, name, &n);
		goto out;
	}
	if ((r = store_token_get(st, id, &t)) != 0)
		goto out;
	if (strcmp(t->user, name) != 0) {
		r = APPUSER_ERR_NOT_FOUND;	/* another user's token */
		goto out;
	}
	*alreadyp = t->revoke_time != 0;
	if ((r = store_token_revoke(st, name, id)) == 0 && !*alreadyp)
		r = rec_collect_token(t, tv);
 out:
	token_free(t);
	user_free(u);
	return r == 0 ? tv->err : r;
}

static json_t *
prefix_json(const void *t, int64_t now)
{
	char p[TOKEN_PREFIX_LEN + 1];

	(void)now;
	token_prefix(((const struct token *)t)->id, p, sizeof(p));
	return json_string(p);
}

static int
print_revoked(struct cli *c, const char *name, const char *prefix,
    const struct rec_vec *tv, bool already)
{
	if (c->json) {
		json_t *a;

		if ((a = json_list(tv, prefix_json, 0)) == NULL)
			return cli_json_print(NULL);
		/* "o" hands a over, also when the pack fails */
		return cli_json_print(json_pack("{s:s, s:o}", "user", name,
		    "revoked", a));
	}
	if (prefix == NULL)
		printf("revoked %zu token%s of %s\n", tv->n,
		    tv->n == 1 ? "" : "s", name);
	else
		printf("token %s of %s %s\n", prefix, name, already ?
		    "was already revoked" : "revoked");
	return EXIT_OK;
}

/* One syslog line for each token revoked. */
static void
log_revoked(const struct cli *c, const char *name, const struct rec_vec *tv)
{
	char p[TOKEN_PREFIX_LEN + 1];
	size_t i;

	for (i = 0; i < tv->n; i++) {
		const struct token *t = tv->v[i];

		token_prefix(t->id, p, sizeof(p));
		cli_log("%stoken revoke user=%s prefix=%s",
		    c->fleet_path ? "fleet " : "", name, p);
	}
}

static bool
user_exists(struct store *st, const char *name)
{
	struct user *u = NULL;
	bool found = store_user_get(st, name, &u) == 0;

	user_free(u);
	return found;
}

/*
 * On a store that follows a fleet, remember what was revoked here, so that
 * a sync that re-adds a token (a full resync) revokes it again: a local
 * emergency revocation is never undone.
 */
static int
note_local(struct store *st, const struct rec_vec *tv)
{
	size_t i;
	int r;

	if ((r = fleet_store_following(st, NULL)) != 0)
		return r == APPUSER_ERR_NOT_FOUND ? 0 : r;
	for (i = 0; i < tv->n; i++) {
		const struct token *t = tv->v[i];

		if ((r = fleet_note_local_revoke(st, t->id)) != 0)
			return r;
	}
	return 0;
}

int
cmd_token_revoke(struct cli *c, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "all", no_argument, NULL, 'A' },
		CLI_COMMON_OPTIONS, { NULL, 0, NULL, 0 }
	};
	struct rec_vec tv = { .free_rec = rec_free_token };
	struct store *st = NULL;
	char id[TOKEN_ID_LEN + 1], prefix[TOKEN_PREFIX_LEN + 1];
	const char *name;
	bool all = false, already = false;
	int ch, r;

	while ((ch = cli_getopt(c, argc, argv, longopts)) != -1) {
		if (ch != 'A')
			return c->exit;
		all = true;
	}
	if ((r = cli_nargs(c, argc, argv, all ? 1 : 2, all ? 1 : 2)) !=
	    EXIT_OK)
		return r;
	name = argv[optind];
	if ((r = cli_check_name(c, "", name)) != EXIT_OK)
		return r;
	if (!all && token_id_from_prefix(argv[optind + 1], id) != 0) {
		/* never echo what may be a (mistyped) whole token */
		if (strlen(argv[optind + 1]) <= TOKEN_PREFIX_LEN)
			cli_err(c, "'%s' is not a token prefix (apu_ and 12 "
			    "letters or digits, as appuser token list shows)",
			    argv[optind + 1]);
		else
			cli_err(c, "that is not a token prefix (apu_ and 12 "
			    "letters or digits, as appuser token list shows)");
		return EXIT_ERROR;
	}
	if (!all)
		token_prefix(id, prefix, sizeof(prefix));
	if (c->fleet_path != NULL) {
		if ((r = fleet_cli_token_revoke(c, name, all ? NULL : id,
		    rec_collect_token, &tv, &already)) != EXIT_OK)
			goto out;
	} else if ((r = cli_open_user_write(c, name, &st)) != EXIT_OK)
		return r;
	else if ((r = store_begin(st)) != 0 ||
	    (r = revoke_tokens(st, name, all ? NULL : id, &tv, &already)) != 0 ||
	    (r = note_local(st, &tv)) != 0 ||
	    (r = store_commit(st)) != 0) {
		store_cancel(st);
		if (r == APPUSER_ERR_NOT_FOUND) {
			if (all || !user_exists(st, name))
				cli_err(c, "no application user '%s'", name);
			else
				cli_err(c, "%s has no token %s (see appuser "
				    "token list %s)", name, prefix, name);
			r = EXIT_REFUSED;
		} else
			r = cli_store_err(c, r, "cannot revoke");
		goto out;
	}
	log_revoked(c, name, &tv);
	r = print_revoked(c, name, all ? NULL : prefix, &tv, already);
 out:
	rec_vec_free(&tv);
	store_close(st);
	return r;
}

/* --grace: a duration, or 0 ("0", "0s", "0h"...): revoke at once. */
static int
parse_grace(const char *s, int64_t *gracep)
{
	size_t z = strspn(s, "0");

	if (z > 0 && (s[z] == '\0' ||
	    (strchr("smhdwy", s[z]) != NULL && s[z + 1] == '\0'))) {
		*gracep = 0;
		return 0;
	}
	return parse_duration(s, gracep);
}

struct rotate_args {
	const char	*name;
	char		 id[TOKEN_ID_LEN + 1];		/* the old token */
	char		 prefix[TOKEN_PREFIX_LEN + 1];
	int64_t		 grace;
};

/* The arguments: an exit status, or OPT_DONE (return c->exit). */
static int
rotate_args(struct cli *c, int argc, char **argv, struct rotate_args *a)
{
	static const struct option longopts[] = {
		{ "grace", required_argument, NULL, 'g' },
		CLI_COMMON_OPTIONS, { NULL, 0, NULL, 0 }
	};
	const char *grace = NULL;
	int ch, r;

	while ((ch = cli_getopt(c, argc, argv, longopts)) != -1) {
		if (ch != 'g')
			return OPT_DONE;
		grace = optarg;
	}
	if ((r = cli_nargs(c, argc, argv, 2, 2)) != EXIT_OK)
		return r;
	a->name = argv[optind];
	a->grace = 3600;
	if ((r = cli_check_name(c, "", a->name)) != EXIT_OK)
		return r;
	if (token_id_from_prefix(argv[optind + 1], a->id) != 0) {
		/* never echo what may be a (mistyped) whole token */
		cli_err(c, "that is not a token prefix (apu_ and 12 letters or "
		    "digits, as appuser token list shows)");
		return EXIT_ERROR;
	}
	token_prefix(a->id, a->prefix, sizeof(a->prefix));
	if (grace != NULL && parse_grace(grace, &a->grace) != 0) {
		cli_err(c, "--grace '%s' is not a valid duration (0 to revoke "
		    "the old token at once, or a number of seconds, or with a "
		    "unit: 90m, 12h, 30d)", grace);
		return EXIT_ERROR;
	}
	if (c->stdout_closed) {
		cli_err(c, "standard output is closed: nowhere to print the "
		    "token");
		return EXIT_ERROR;
	}
	return EXIT_OK;
}

/*
 * One transaction: mint (retrying an id clash), rotate, read both records
 * back as they now stand.  tok receives the new token.
 */
static int
rotate_txn(struct store *st, const struct rotate_args *a,
    char tok[TOKEN_LEN + 1], struct token **ntp, struct token **otp)
{
	char id[TOKEN_ID_LEN + 1];
	uint8_t ver[TOKEN_VERIFIER_LEN];
	int64_t now = cli_now();
	int tries, r;

	if ((r = store_begin(st)) != 0)
		return r;
	for (tries = 0; tries < 3; tries++) {
		sodium_memzero(tok, TOKEN_LEN + 1);
		if ((r = token_generate(tok, id, ver)) != 0 ||
		    (r = store_token_rotate(st, a->name, a->id, id, ver, now,
		    a->grace)) != APPUSER_ERR_EXISTS)
			break;
	}
	sodium_memzero(ver, sizeof(ver));
	if (r == 0 && (r = store_token_get(st, id, ntp)) == 0 &&
	    (r = store_token_get(st, a->id, otp)) == 0)
		r = store_commit(st);
	if (r != 0)
		store_cancel(st);
	return r;
}

static int
rotate_error(struct cli *c, struct store *st, const struct rotate_args *a,
    int r)
{
	switch (r) {
	case APPUSER_ERR_NOT_FOUND:
		if (!user_exists(st, a->name))
			cli_err(c, "no application user '%s'", a->name);
		else
			cli_err(c, "%s has no token %s (see appuser token list "
			    "%s)", a->name, a->prefix, a->name);
		return EXIT_REFUSED;
	case APPUSER_ERR_DENIED:
	case APPUSER_ERR_EXPIRED:
		cli_err(c, "token %s of %s is %s: there is nothing to rotate "
		    "(make a new one with appuser token create %s)", a->prefix,
		    a->name, r == APPUSER_ERR_DENIED ? "revoked" : "expired",
		    a->name);
		return EXIT_REFUSED;
	default:
		return cli_store_err(c, r, "cannot rotate token %s of %s",
		    a->prefix, a->name);
	}
}

/* The old token as the JSON output shows it, under "replaces". */
static json_t *
replaced_json(const struct token *ot)
{
	char p[TOKEN_PREFIX_LEN + 1];

	token_prefix(ot->id, p, sizeof(p));
	return json_pack("{s:{s:s, s:s, s:o, s:o}}", "replaces", "prefix", p,
	    "status", token_status(ot, cli_now()), "expiry_time",
	    json_time(ot->expiry_time), "revoke_time",
	    json_time(ot->revoke_time));
}

/* syslog, the token on stdout, then the notice; an exit status. */
static int
rotate_report(struct cli *c, const struct rotate_args *a, const char *tok,
    const struct token *nt, const struct token *ot)
{
	char np[TOKEN_PREFIX_LEN + 1], when[32], left[96];
	json_t *more;

	token_prefix(nt->id, np, sizeof(np));
	format_time_rfc3339(ot->expiry_time, when, sizeof(when));
	if (ot->revoke_time != 0) {
		cli_log("%stoken rotate user=%s prefix=%s old_prefix=%s "
		    "old_revoked=yes", c->fleet_path ? "fleet " : "", a->name,
		    np, a->prefix);
		snprintf(left, sizeof(left), "which is revoked");
	} else {
		char rel[32];

		cli_log("%stoken rotate user=%s prefix=%s old_prefix=%s "
		    "old_expires=%s", c->fleet_path ? "fleet " : "", a->name,
		    np, a->prefix, when);
		format_time_human(ot->expiry_time, cli_now(), rel, sizeof(rel));
		snprintf(left, sizeof(left), "which works until %s (%s)", when,
		    rel);
	}
	signal(SIGPIPE, SIG_IGN);
	more = c->json ? replaced_json(ot) : NULL;
	if ((c->json && more == NULL) || print_token(c, tok, nt, more) != 0) {
		cli_err(c, "could not print the token (%s); revoke it: appuser "
		    "%s%s%stoken revoke %s %s (the old one, %s, %s)",
		    strerror(errno), c->fleet_path ? "--fleet " : "",
		    c->fleet_path ? c->fleet_path : "", c->fleet_path ? " " :
		    "", a->name, np, a->prefix, left);
		return EXIT_ERROR;
	}
	fprintf(stderr, "appuser: token %s created for %s to replace %s, %s; "
	    "it is shown only once: store it now\n", np, a->name, a->prefix,
	    left);
	return EXIT_OK;
}

int
cmd_token_rotate(struct cli *c, int argc, char **argv)
{
	struct rotate_args a;
	struct store *st = NULL;
	struct token *nt = NULL, *ot = NULL;
	char tok[TOKEN_LEN + 1];
	int r;

	memset(tok, 0, sizeof(tok));
	memset(&a, 0, sizeof(a));
	if ((r = rotate_args(c, argc, argv, &a)) == OPT_DONE)
		return c->exit;
	if (r != EXIT_OK)
		goto out;
	if (c->fleet_path != NULL) {
		if ((r = fleet_cli_token_rotate(c, a.name, a.id, a.grace, tok,
		    &nt, &ot)) == EXIT_OK)
			r = rotate_report(c, &a, tok, nt, ot);
		goto out;
	}
	if ((r = cli_open_user_write(c, a.name, &st)) != EXIT_OK)
		goto out;
	if ((r = rotate_txn(st, &a, tok, &nt, &ot)) != 0)
		r = rotate_error(c, st, &a, r);
	else
		r = rotate_report(c, &a, tok, nt, ot);
 out:
	sodium_memzero(tok, sizeof(tok));
	token_free(nt);
	token_free(ot);
	store_close(st);
	return r;
}
