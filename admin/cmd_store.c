/*
 * Store commands: config show/set, check.
 */
#include <sys/stat.h>

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "names.h"

static void
print_admins(const struct meta *m)
{
	size_t i;

	for (i = 0; i < m->n_admins; i++)
		printf("%s%s", i == 0 ? "" : ", ", m->admins[i]);
	printf("%s\n", m->n_admins == 0 ? "(none)" : "");
}

static int
print_meta(struct cli *c, const struct meta *m)
{
	json_t *o, *a;
	size_t i;

	if (c->json) {
		if ((o = json_pack("{s:s, s:I, s:I, s:s, s:I, s:[], s:I, s:I, "
		    "s:I}", "store", c->store_dir,
		    "uid_min", (json_int_t)m->uid_min,
		    "uid_max", (json_int_t)m->uid_max,
		    "admin_group", m->admin_group,
		    "admin_gid", (json_int_t)m->admin_gid,
		    "admins",
		    "users", (json_int_t)m->n_users,
		    "generation", (json_int_t)m->generation,
		    "format", (json_int_t)m->format)) == NULL)
			return cli_json_print(NULL);
		a = json_object_get(o, "admins");
		for (i = 0; i < m->n_admins; i++)
			if (json_array_append_new(a,
			    json_string(m->admins[i])) != 0) {
				json_decref(o);
				return cli_json_print(NULL);
			}
		return cli_json_print(o);
	}
	printf("store:        %s\n", c->store_dir);
	printf("uid range:    %lu-%lu\n", (unsigned long)m->uid_min,
	    (unsigned long)m->uid_max);
	printf("admin group:  %s (gid %lu)\n", m->admin_group,
	    (unsigned long)m->admin_gid);
	printf("admins:       ");
	print_admins(m);
	printf("users:        %llu\n", (unsigned long long)m->n_users);
	printf("generation:   %llu\n", (unsigned long long)m->generation);
	printf("format:       %lu\n", (unsigned long)m->format);
	return EXIT_OK;
}

int
cmd_config_show(struct cli *c, int argc, char **argv)
{
	struct idview *v = NULL;
	int r;

	if (!cli_plain_args(c, argc, argv, 0, 0))
		return c->exit;
	if ((r = cli_open_view(c, &v)) != EXIT_OK)
		return r;
	if (v == NULL) {
		cli_err(c, "no store at %s (create a user first, or pass "
		    "--store)", c->store_dir);
		return EXIT_ERROR;
	}
	r = print_meta(c, idview_meta(v));
	idview_close(v);
	return r;
}

static int
set_range(struct cli *c, struct store *st, const char *value)
{
	struct meta m;
	uint32_t min, max, omin = 0, omax = 0, gid = 0;
	int r;

	if (parse_id_range(value, &min, &max) != 0) {
		cli_err(c, "uid-range '%s' is not valid (MIN-MAX with "
		    "0 < MIN < MAX < 2147483647)", value);
		return EXIT_ERROR;
	}
	if (store_get_meta(st, &m) == 0) {
		omin = m.uid_min;
		omax = m.uid_max;
		gid = m.admin_gid;
	}
	if ((r = store_set_range(st, min, max)) != 0) {
		if (r == APPUSER_ERR_RANGE && (gid < min || gid > max)) {
			cli_err(c, "the admin group's gid %lu must stay inside "
			    "the range", (unsigned long)gid);
			return EXIT_REFUSED;
		}
		if (r == APPUSER_ERR_RANGE) {
			cli_err(c, "users exist outside %lu-%lu; the range "
			    "must hold every existing id", (unsigned long)min,
			    (unsigned long)max);
			return EXIT_REFUSED;
		}
		return cli_store_err(c, r, "cannot set the uid range");
	}
	cli_log("config set uid-range=%lu-%lu was=%lu-%lu", (unsigned long)min,
	    (unsigned long)max, (unsigned long)omin, (unsigned long)omax);
	printf("uid range is now %lu-%lu\n", (unsigned long)min,
	    (unsigned long)max);
	return EXIT_OK;
}

static int
set_admin_group(struct cli *c, struct store *st, const char *value)
{
	struct nss_check *n = cli_nss();
	int r;

	if ((r = cli_check_name(c, "admin-group: ", value)) != EXIT_OK)
		return r;
	nss_check_reset(n);
	if ((r = store_set_admin_group(st, value)) != 0) {
		if (r == APPUSER_ERR_EXISTS) {
			if (nss_check_name_hit(n) || nss_check_id_hit(n))
				cli_err(c, "%s", nss_check_last(n));
			else
				cli_err(c, "name '%s' is already taken by an "
				    "application user", value);
			return EXIT_REFUSED;
		}
		if (r == APPUSER_ERR_SYSTEM && nss_check_last(n)[0] != '\0') {
			cli_err(c, "%s", nss_check_last(n));
			return EXIT_ERROR;
		}
		return cli_store_err(c, r, "cannot rename the admin group");
	}
	cli_log("config set admin-group=%s", value);
	printf("admin group is now %s\n", value);
	return EXIT_OK;
}

int
cmd_config_set(struct cli *c, int argc, char **argv)
{
	struct store *st = NULL;
	const char *key, *value;
	int r;

	if (!cli_plain_args(c, argc, argv, 2, 2))
		return c->exit;
	key = argv[optind];
	value = argv[optind + 1];
	if (strcmp(key, "uid-range") != 0 && strcmp(key, "admin-group") != 0)
		return cli_usage(c, "unknown setting '%s' (uid-range or "
		    "admin-group)", key);
	if ((r = cli_open_write(c, &st)) != EXIT_OK)
		return r;
	if (strcmp(key, "uid-range") == 0)
		r = set_range(c, st, value);
	else
		r = set_admin_group(c, st, value);
	store_close(st);
	return r;
}

struct problems {
	json_t	*list;		/* --json: the problems, else NULL */
	size_t	 n;
};

static void
report(const char *problem, void *arg)
{
	struct problems *p = arg;

	p->n++;
	if (p->list != NULL)
		json_array_append_new(p->list, json_string(problem));
	else
		printf("%s\n", problem);
}

static int
count_one(const struct token *t, void *arg)
{
	(void)t;
	(*(size_t *)arg)++;
	return 0;
}

/* The master must exist: opening it for writing would create it. */
static int
check_exists(struct cli *c)
{
	char path[4096];
	struct stat sb;

	if (snprintf(path, sizeof(path), "%s/%s", c->store_dir,
	    APPUSER_MASTER_FILE) >= (int)sizeof(path)) {
		cli_err(c, "%s: path too long", c->store_dir);
		return EXIT_ERROR;
	}
	if (stat(path, &sb) == 0)
		return EXIT_OK;
	if (errno == ENOENT)
		cli_err(c, "no store at %s (create a user first, or pass "
		    "--store)", c->store_dir);
	else
		cli_err(c, "%s: %s", path, strerror(errno));
	return EXIT_ERROR;
}

int
cmd_check(struct cli *c, int argc, char **argv)
{
	struct problems p = { NULL, 0 };
	struct store *st = NULL;
	struct meta m;
	size_t ntok = 0;
	uint64_t nusers = 0;
	uid_t owner = 0;
	int r, cr;

	if (!cli_plain_args(c, argc, argv, 0, 0))
		return c->exit;
	if ((r = check_exists(c)) != EXIT_OK)
		return r;
	if (!cli_is_owner(c, &owner)) {
		fprintf(stderr, "appuser: %s: checking the store needs its "
		    "owner (uid %lu, normally root); run with sudo\n",
		    c->store_dir, (unsigned long)owner);
		return EXIT_ERROR;
	}
	if ((r = cli_open_write(c, &st)) != EXIT_OK)
		return r;
	if (c->json && (p.list = json_array()) == NULL) {
		store_close(st);
		return cli_json_print(NULL);
	}
	cr = store_check(st, report, &p);
	if (store_get_meta(st, &m) == 0)
		nusers = m.n_users;
	(void)store_token_foreach(st, NULL, count_one, &ntok);
	store_close(st);
	if (cr != 0 && cr != APPUSER_ERR_CORRUPT) {
		json_decref(p.list);
		return cli_store_err(c, cr, "cannot check %s", c->store_dir);
	}
	if (c->json) {
		r = cli_json_print(json_pack("{s:s, s:b, s:I, s:I, s:o}",
		    "store", c->store_dir, "ok", cr == 0,
		    "users", (json_int_t)nusers, "tokens", (json_int_t)ntok,
		    "problems", p.list));
		return r != EXIT_OK ? r : cr != 0 ? EXIT_REFUSED : EXIT_OK;
	}
	if (cr == 0) {
		printf("store %s: OK, %llu users, %zu tokens\n", c->store_dir,
		    (unsigned long long)nusers, ntok);
		return EXIT_OK;
	}
	printf("store %s: %zu problem%s found\n", c->store_dir, p.n,
	    p.n == 1 ? "" : "s");
	return EXIT_REFUSED;
}
