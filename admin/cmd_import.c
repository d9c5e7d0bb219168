/*
 * import FILE: many users from JSON lines, all or nothing.
 *
 * Lines are read (getline) and parsed (jansson) in batches; the host's NSS
 * answers for a batch's names and the ids it will probably get are looked
 * up in parallel (nss_check_prefetch) before the batch goes into the one
 * store transaction.  Memory stays bounded by the batch, time linear.
 */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "fsutil.h"

#define IMPORT_BATCH	8192
#define IMPORT_LINE_MAX	65536		/* a valid line is far shorter */
#define IMPORT_ID_SLACK	64		/* ids the host uses, skipped */

struct rec {
	json_t		*obj;		/* owns the strings of u */
	struct user	 u;
	size_t		 line;
};

struct import {
	struct cli	*c;
	FILE		*in;
	const char	*src;
	char		*buf;		/* getline's */
	size_t		 bufsize;
	size_t		 line;
	bool		 eof;
	struct rec	 recs[IMPORT_BATCH];
	const char	*names[IMPORT_BATCH];
	size_t		 n;		/* records in the batch */
	size_t		 total;
	uint32_t	 next_id;	/* where the next ids probably are */
	uint32_t	 first_uid, last_uid;
};

static bool
is_blank(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
			return false;
	return true;
}

/* Where a line comes from, for its errors. */
struct line_ctx {
	struct cli	*c;
	const char	*src;
	size_t		 line;
};

/* A string member (or null: absent); *sp points into the object. */
static int
get_str(const struct line_ctx *im, const char *key, json_t *v,
    const char **sp)
{
	if (json_is_null(v))
		return EXIT_OK;
	if (!json_is_string(v) ||
	    strlen(json_string_value(v)) != json_string_length(v)) {
		cli_err(im->c, "%s: line %zu: field '%s' must be a string",
		    im->src, im->line, key);
		return EXIT_ERROR;
	}
	*sp = json_string_value(v);
	return EXIT_OK;
}

static int
set_field(const struct line_ctx *im, struct user *u, const char *key,
    json_t *v)
{
	json_int_t id;

	if (strcmp(key, "name") == 0)
		return get_str(im, key, v, &u->name);
	if (strcmp(key, "description") == 0)
		return get_str(im, key, v, &u->description);
	if (strcmp(key, "home") == 0)
		return get_str(im, key, v, &u->home);
	if (strcmp(key, "shell") == 0)
		return get_str(im, key, v, &u->shell);
	if (strcmp(key, "admin") == 0) {
		if (!json_is_boolean(v) && !json_is_null(v))
			goto type;
		u->admin = json_is_true(v);
		return EXIT_OK;
	}
	if (strcmp(key, "uid") == 0) {
		if (json_is_null(v))
			return EXIT_OK;
		if (!json_is_integer(v) || (id = json_integer_value(v)) <= 0 ||
		    id >= 2147483647) {
			cli_err(im->c, "%s: line %zu: field 'uid' must be an "
			    "integer between 1 and 2147483646", im->src,
			    im->line);
			return EXIT_ERROR;
		}
		u->uid = (uint32_t)id;
		return EXIT_OK;
	}
	cli_err(im->c, "%s: line %zu: unknown field '%s' (known: name, "
	    "description, home, shell, admin, uid)", im->src, im->line, key);
	return EXIT_ERROR;
 type:
	cli_err(im->c, "%s: line %zu: field '%s' must be true or false",
	    im->src, im->line, key);
	return EXIT_ERROR;
}

int
import_parse_line(struct cli *c, const char *src, size_t line,
    const char *s, size_t len, json_t **objp, struct user *u)
{
	const struct line_ctx im = { c, src, line };
	json_error_t jerr;
	const char *key;
	char where[64];
	json_t *v;
	int r;

	memset(u, 0, sizeof(*u));
	if ((*objp = json_loadb(s, len, JSON_REJECT_DUPLICATES, &jerr)) ==
	    NULL) {
		cli_err(c, "%s: line %zu: not valid JSON: %s (column %d)",
		    src, line, jerr.text, jerr.column);
		return EXIT_ERROR;
	}
	if (!json_is_object(*objp)) {
		cli_err(c, "%s: line %zu: not a JSON object", src, line);
		return EXIT_ERROR;
	}
	json_object_foreach(*objp, key, v)
		if ((r = set_field(&im, u, key, v)) != EXIT_OK)
			return r;
	if (u->name == NULL) {
		cli_err(c, "%s: line %zu: missing field 'name'", src, line);
		return EXIT_ERROR;
	}
	snprintf(where, sizeof(where), "%s: line %zu: ",
	    strlen(src) < 32 ? src : "...", line);
	return cli_check_user(c, where, u);
}

static int
parse_line(struct import *im, const char *s, size_t len, struct rec *rec)
{
	memset(rec, 0, sizeof(*rec));
	rec->line = im->line;
	return import_parse_line(im->c, im->src, im->line, s, len, &rec->obj,
	    &rec->u);
}

static void
batch_clear(struct import *im)
{
	size_t i;

	for (i = 0; i < im->n; i++)
		json_decref(im->recs[i].obj);
	im->n = 0;
}

/* Read and parse up to IMPORT_BATCH users. */
static int
read_batch(struct import *im)
{
	int r;

	batch_clear(im);
	while (im->n < IMPORT_BATCH) {
		ssize_t len;

		errno = 0;
		if ((len = getline(&im->buf, &im->bufsize, im->in)) == -1) {
			if (ferror(im->in)) {
				cli_err(im->c, "%s: read error: %s", im->src,
				    strerror(errno));
				return EXIT_ERROR;
			}
			im->eof = true;
			break;
		}
		im->line++;
		if ((size_t)len > IMPORT_LINE_MAX) {
			cli_err(im->c, "%s: line %zu: too long", im->src,
			    im->line);
			return EXIT_ERROR;
		}
		if (is_blank(im->buf, (size_t)len))
			continue;
		r = parse_line(im, im->buf, (size_t)len, &im->recs[im->n]);
		im->names[im->n] = im->recs[im->n].u.name;
		im->n++;	/* batch_clear releases it either way */
		if (r != EXIT_OK)
			return r;
	}
	return EXIT_OK;
}

/*
 * The batch into the fleet: in etcd txns of a few dozen users each (the
 * txn limit), so a long import that fails part way leaves the users of the
 * txns before; the error says how many.
 */
static int
add_batch_fleet(struct import *im)
{
	struct user *users = NULL, **created = NULL;
	char (*where)[64] = NULL;
	const char **wp = NULL;
	size_t i, done = 0;
	int r = EXIT_ERROR;

	if ((users = calloc(im->n, sizeof(*users))) == NULL ||
	    (created = calloc(im->n, sizeof(*created))) == NULL ||
	    (where = calloc(im->n, sizeof(*where))) == NULL ||
	    (wp = calloc(im->n, sizeof(*wp))) == NULL) {
		fprintf(stderr, "appuser: out of memory\n");
		goto out;
	}
	for (i = 0; i < im->n; i++) {
		users[i] = im->recs[i].u;
		snprintf(where[i], sizeof(where[i]), "%s: line %zu: ",
		    strlen(im->src) < 32 ? im->src : "...", im->recs[i].line);
		wp[i] = where[i];
	}
	r = fleet_cli_users_add(im->c, users, im->n, wp, created, &done);
	for (i = 0; i < done; i++) {
		if (im->total++ == 0)
			im->first_uid = created[i]->uid;
		im->last_uid = created[i]->uid;
	}
	if (r != EXIT_OK && im->total > 0)
		fprintf(stderr, "appuser: import: %zu user%s were created in "
		    "the fleet before this error\n", im->total,
		    im->total == 1 ? "" : "s");
 out:
	if (created != NULL)
		for (i = 0; i < im->n; i++)
			user_free(created[i]);
	free(created);
	free(users);
	free(where);
	free(wp);
	return r;
}

static int
add_batch(struct import *im, struct store *st)
{
	struct nss_check *n = cli_nss();
	struct user *created = NULL;
	char where[64];
	struct rec *rec;
	size_t i;

	if (im->c->fleet_path != NULL)
		return add_batch_fleet(im);
	/* a failed prefetch only costs speed: lookups happen one by one */
	(void)nss_check_prefetch(n, im->names, im->n, im->next_id,
	    im->n + IMPORT_ID_SLACK);
	for (i = 0; i < im->n; i++) {
		int r;

		rec = &im->recs[i];
		nss_check_reset(n);
		if ((r = store_user_add(st, &rec->u, &created)) != 0 ||
		    (rec->u.admin &&
		    (r = store_user_set_admin(st, rec->u.name, true)) != 0)) {
			snprintf(where, sizeof(where), "%s: line %zu: ",
			    strlen(im->src) < 32 ? im->src : "...", rec->line);
			user_free(created);
			return cli_add_error(im->c, st, r, where, &rec->u);
		}
		if (im->total++ == 0)
			im->first_uid = created->uid;
		im->last_uid = created->uid;
		if (rec->u.uid == 0)
			im->next_id = created->uid + 1;
		user_free(created);
		created = NULL;
	}
	return EXIT_OK;
}

static int
report_import(struct import *im, double secs)
{
	double rate = secs > 0 ? (double)im->total / secs : 0;

	fprintf(stderr, "appuser: imported %zu user%s in %.2f s (%.0f "
	    "users/s)\n", im->total, im->total == 1 ? "" : "s", secs, rate);
	if (im->c->json)
		return cli_json_print(json_pack("{s:I, s:f, s:f}", "imported",
		    (json_int_t)im->total, "seconds", secs, "users_per_second",
		    rate));
	/* what was done goes to stdout, like every other change */
	printf("imported %zu user%s\n", im->total, im->total == 1 ? "" : "s");
	return EXIT_OK;
}

static int
run_import(struct import *im, struct store *st)
{
	struct meta m;
	int r;

	if (im->c->fleet_path != NULL) {
		while (!im->eof)
			if ((r = read_batch(im)) != EXIT_OK ||
			    (r = add_batch(im, NULL)) != EXIT_OK)
				return r;
		return EXIT_OK;
	}
	if ((r = store_begin(st)) != 0)
		return cli_store_err(im->c, r, "cannot start a transaction");
	/* the store allocates from its cursor, inside [uid_min + 1, uid_max] */
	if (store_get_meta(st, &m) == 0)
		im->next_id = m.next_uid > m.uid_min ? m.next_uid :
		    m.uid_min + 1;
	while (!im->eof) {
		if ((r = read_batch(im)) != EXIT_OK ||
		    (r = add_batch(im, st)) != EXIT_OK)
			goto fail;
	}
	(void)nss_check_prefetch(cli_nss(), NULL, 0, 0, 0);
	if ((r = store_commit(st)) != 0) {
		r = cli_store_err(im->c, r, "cannot commit the import");
		goto fail;
	}
	return EXIT_OK;
 fail:
	store_cancel(st);
	fprintf(stderr, "appuser: import: nothing was imported\n");
	return r;
}

int
cmd_import(struct cli *c, int argc, char **argv)
{
	static const struct option longopts[] = {
		CLI_COMMON_OPTIONS, { NULL, 0, NULL, 0 }
	};
	struct import *im = NULL;
	struct store *st = NULL;
	double t0;
	int r = EXIT_ERROR;

	if (cli_getopt(c, argc, argv, longopts) != -1)
		return c->exit;
	if ((r = cli_nargs(c, argc, argv, 1, 1)) != EXIT_OK)
		return r;
	if ((im = calloc(1, sizeof(*im))) == NULL) {
		fprintf(stderr, "appuser: out of memory\n");
		return EXIT_ERROR;
	}
	im->c = c;
	im->src = argv[optind];
	if (strcmp(im->src, "-") == 0) {
		im->in = stdin;
		im->src = "stdin";
	} else if ((im->in = fopen(im->src, "re")) == NULL) {
		cli_err(c, "cannot open %s: %s", im->src, strerror(errno));
		r = EXIT_ERROR;
		goto out;
	}
	if (c->fleet_path == NULL && (r = cli_open_write(c, &st)) != EXIT_OK)
		goto out;
	t0 = fs_mono_s();
	if ((r = run_import(im, st)) != EXIT_OK)
		goto out;
	if (im->total > 0)
		cli_log("import users=%zu uids=%lu-%lu source=%s", im->total,
		    (unsigned long)im->first_uid, (unsigned long)im->last_uid,
		    im->src);
	r = report_import(im, fs_mono_s() - t0);
 out:
	batch_clear(im);
	store_close(st);
	if (im->in != NULL && im->in != stdin)
		fclose(im->in);
	free(im->buf);
	free(im);
	return r;
}
