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

/* ids below the floor are the system's (APPUSER_ID_FLOOR, appuser.h) */
#define RANGE_INVALID	"uid-range '%s' is not valid (MIN-MAX with " \
	"1000 <= MIN < MAX < 2147483647: ids below 1000 are the system's)"

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
	if (c->json) {
		json_t *o, *a;
		size_t i;

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
	if (c->fleet_path != NULL) {
		char where[4200];
		void *hold = NULL;
		struct meta m;

		if ((r = fleet_cli_meta(c, &m, &hold)) == EXIT_OK) {
			snprintf(where, sizeof(where), "etcd (fleet %s)",
			    c->fleet_path);
			c->store_dir = where;
			m.generation = 0;
			r = print_meta(c, &m);
		}
		fleet_cli_meta_free(hold);
		return r;
	}
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

/* Print what a successful config set left in place (key: "uid-range",
 * "admin-group" or "both"). */
static int
print_setting(struct cli *c, struct store *st, const char *key)
{
	struct meta m;
	int r;

	if ((r = store_get_meta(st, &m)) != 0)
		return cli_store_err(c, r, "cannot read the settings back");
	if (c->json)
		return cli_json_print(json_pack("{s:I, s:I, s:s, s:I}",
		    "uid_min", (json_int_t)m.uid_min,
		    "uid_max", (json_int_t)m.uid_max,
		    "admin_group", m.admin_group,
		    "admin_gid", (json_int_t)m.admin_gid));
	if (strcmp(key, "admin-group") != 0)
		printf("uid range is now %lu-%lu (admin group %s: gid %lu)\n",
		    (unsigned long)m.uid_min, (unsigned long)m.uid_max,
		    m.admin_group, (unsigned long)m.admin_gid);
	if (strcmp(key, "uid-range") != 0)
		printf("admin group is now %s (gid %lu)\n", m.admin_group,
		    (unsigned long)m.admin_gid);
	return EXIT_OK;
}

struct outside {
	uint32_t	 min, max;
	size_t		 n;
	char		 first[APPUSER_NAME_MAX + 1];
};

static int
count_outside(const struct user *u, void *arg)
{
	struct outside *o = arg;

	if (u->uid >= o->min && u->uid <= o->max)
		return 0;
	if (o->n++ == 0)
		snprintf(o->first, sizeof(o->first), "%s", u->name);
	return 0;
}

/* Say exactly why the store refused the range, and what to do. */
static int
range_refused(struct cli *c, struct store *st, int r, uint32_t min,
    uint32_t max)
{
	struct outside o = { min, max, 0, "" };
	struct nss_check *n = cli_nss();
	struct meta m;

	if (r == APPUSER_ERR_EXISTS) {
		if (nss_check_id_hit(n))
			cli_err(c, "the admin group would move to gid %lu, but "
			    "%s; choose a range whose first id is free",
			    (unsigned long)min, nss_check_last(n));
		else
			cli_err(c, "the admin group would move to gid %lu, "
			    "which is an application user's uid; choose a "
			    "range whose first id is free", (unsigned long)min);
		return EXIT_REFUSED;
	}
	if (r == APPUSER_ERR_SYSTEM && nss_check_last(n)[0] != '\0') {
		cli_err(c, "%s", nss_check_last(n));
		return EXIT_ERROR;
	}
	if (r != APPUSER_ERR_RANGE || store_get_meta(st, &m) != 0)
		return cli_store_err(c, r, "cannot set the uid range");
	(void)store_user_foreach(st, count_outside, &o);
	if (o.n > 0)
		cli_err(c, "%zu user%s (%s%s) would be outside %lu-%lu; the "
		    "range must hold every existing uid (appuser list shows "
		    "them)", o.n, o.n == 1 ? "" : "s", o.first,
		    o.n > 1 ? ", ..." : "", (unsigned long)min,
		    (unsigned long)max);
	if (m.admin_gid < min || m.admin_gid > max) {
		size_t i;

		fprintf(stderr, "appuser: %s: the admin group %s keeps its gid "
		    "%lu while it has members (", c->what, m.admin_group,
		    (unsigned long)m.admin_gid);
		for (i = 0; i < m.n_admins; i++)
			fprintf(stderr, "%s%s", i == 0 ? "" : ", ",
			    m.admins[i]);
		fprintf(stderr, "): choose a range that contains %lu, or run "
		    "'appuser admin revoke NAME' for each member, set the "
		    "range (the group then moves to gid %lu) and grant admin "
		    "again\n", (unsigned long)m.admin_gid, (unsigned long)min);
	}
	return EXIT_REFUSED;
}

static int
set_range(struct cli *c, struct store *st, uint32_t min, uint32_t max)
{
	struct meta m;
	uint32_t omin = 0, omax = 0, ogid = 0;
	int r;

	if (store_get_meta(st, &m) == 0) {
		omin = m.uid_min;
		omax = m.uid_max;
		ogid = m.admin_gid;
	}
	nss_check_reset(cli_nss());
	if ((r = store_set_range(st, min, max)) != 0)
		return range_refused(c, st, r, min, max);
	/* logged before the commit: a failed commit is reported after it */
	if (store_get_meta(st, &m) == 0 && m.admin_gid != ogid)
		cli_log("config set uid-range=%lu-%lu was=%lu-%lu "
		    "admin_gid=%lu was=%lu", (unsigned long)min,
		    (unsigned long)max, (unsigned long)omin,
		    (unsigned long)omax, (unsigned long)m.admin_gid,
		    (unsigned long)ogid);
	else
		cli_log("config set uid-range=%lu-%lu was=%lu-%lu",
		    (unsigned long)min, (unsigned long)max,
		    (unsigned long)omin, (unsigned long)omax);
	return EXIT_OK;
}

static int
set_admin_group(struct cli *c, struct store *st, const char *value)
{
	struct nss_check *n = cli_nss();
	int r;

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
	return EXIT_OK;
}

/*
 * KEY VALUE [KEY VALUE]: both settings in one transaction, so that a new
 * store whose default admin group collides with the host in name and gid
 * can be given another name and range at once, before anything exists
 * (cli_open_write checks the group the new store would publish).
 */
int
cmd_config_set(struct cli *c, int argc, char **argv)
{
	struct store *st = NULL;
	const char *range = NULL, *group = NULL, *key;
	uint32_t min = 0, max = 0;
	int r, i;

	if (!cli_plain_args(c, argc, argv, 2, 4))
		return c->exit;
	if ((argc - optind) % 2 != 0)
		return cli_usage(c, "setting '%s' without a value",
		    argv[argc - 1]);
	for (i = optind; i < argc; i += 2) {
		key = argv[i];
		if (strcmp(key, "uid-range") != 0 &&
		    strcmp(key, "admin-group") != 0)
			return cli_usage(c, "unknown setting '%s' (uid-range "
			    "or admin-group)", key);
		if (strcmp(key, "uid-range") == 0 ? range != NULL :
		    group != NULL)
			return cli_usage(c, "setting '%s' given twice", key);
		if (strcmp(key, "uid-range") == 0)
			range = argv[i + 1];
		else
			group = argv[i + 1];
	}
	if (range != NULL && parse_id_range(range, &min, &max) != 0) {
		cli_err(c, RANGE_INVALID, range);
		return EXIT_ERROR;
	}
	if (group != NULL &&
	    (r = cli_check_name(c, "admin-group: ", group)) != EXIT_OK)
		return r;
	if (c->fleet_path != NULL) {
		/* one etcd transaction per setting: one setting per command */
		if (range != NULL && group != NULL)
			return cli_usage(c, "with --fleet, set uid-range and "
			    "admin-group in two commands");
		return range != NULL ? fleet_cli_config_set(c, NULL, min, max) :
		    fleet_cli_config_set(c, group, 0, 0);
	}
	/* what a store created now would publish: a range without the
	 * default gid gives the admin group its MIN (store_set_range) */
	c->new_admin_group = group;
	if (range != NULL && (APPUSER_DEFAULT_UID_MIN < min ||
	    APPUSER_DEFAULT_UID_MIN > max))
		c->new_admin_gid = min;
	if ((r = cli_open_write(c, &st)) != EXIT_OK)
		return r;
	if ((r = store_begin(st)) != 0) {
		r = cli_store_err(c, r, "cannot change the settings");
		goto out;
	}
	if ((range != NULL && (r = set_range(c, st, min, max)) != EXIT_OK) ||
	    (group != NULL && (r = set_admin_group(c, st, group)) != EXIT_OK)) {
		store_cancel(st);
		goto out;
	}
	if ((r = store_commit(st)) != 0) {
		r = cli_store_err(c, r, "cannot change the settings");
		goto out;
	}
	r = print_setting(c, st, range == NULL ? "admin-group" :
	    group == NULL ? "uid-range" : "both");
 out:
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
		cli_err(c, "%s: checking the store needs its owner (uid %lu, "
		    "normally root); run with sudo", c->store_dir,
		    (unsigned long)owner);
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
	(void)cli_count_tokens(st, NULL, false, &ntok);
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
