/*
 * User commands: create, delete, list, show, admin grant/revoke.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "names.h"
#include "token.h"

static void
print_user_created(const struct user *u)
{
	printf("created user %s (uid %lu, gid %lu)\n", u->name,
	    (unsigned long)u->uid, (unsigned long)u->gid);
}

int
cmd_create(struct cli *c, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "description", required_argument, NULL, 'd' },
		{ "shell", required_argument, NULL, 's' },
		{ "home", required_argument, NULL, 'H' },
		CLI_COMMON_OPTIONS, { NULL, 0, NULL, 0 }
	};
	struct store *st = NULL;
	struct user u, *created = NULL;
	int ch, r;

	memset(&u, 0, sizeof(u));
	while ((ch = cli_getopt(c, argc, argv, longopts)) != -1) {
		switch (ch) {
		case 'd': u.description = optarg; break;
		case 's': u.shell = optarg; break;
		case 'H': u.home = optarg; break;
		default: return c->exit;
		}
	}
	if ((r = cli_nargs(c, argc, argv, 1, 1)) != EXIT_OK)
		return r;
	u.name = argv[optind];
	if ((r = cli_check_user(c, "", &u)) != EXIT_OK)
		return r;
	if (c->fleet_path != NULL) {
		size_t done;

		if ((r = fleet_cli_users_add(c, &u, 1, NULL, &created,
		    &done)) != EXIT_OK)
			goto out;
	} else {
		if ((r = cli_open_write(c, &st)) != EXIT_OK)
			return r;
		nss_check_reset(cli_nss());
		if ((r = store_user_add(st, &u, &created)) != 0) {
			r = cli_add_error(c, st, r, "", &u);
			goto out;
		}
	}
	cli_log("%screate user=%s uid=%lu home=%s shell=%s",
	    c->fleet_path != NULL ? "fleet " : "", created->name,
	    (unsigned long)created->uid, created->home, created->shell);
	if (c->json)
		r = cli_json_print(json_user(created));
	else {
		print_user_created(created);
		r = EXIT_OK;
	}
 out:
	user_free(created);
	store_close(st);
	return r;
}

int
cmd_delete(struct cli *c, int argc, char **argv)
{
	struct store *st = NULL;
	struct user *u = NULL;
	size_t ntok = 0;
	const char *name;
	int r;

	if (!cli_one_name(c, argc, argv, &name))
		return c->exit;
	if (c->fleet_path != NULL) {
		if ((r = fleet_cli_user_delete(c, name, &u, &ntok)) != EXIT_OK)
			goto out;
		goto done;
	}
	if ((r = cli_open_user_write(c, name, &st)) != EXIT_OK)
		return r;
	if ((r = store_begin(st)) != 0) {
		r = cli_store_err(c, r, "cannot start a transaction");
		goto out;
	}
	if ((r = store_user_get(st, name, &u)) != 0 ||
	    (r = cli_count_tokens(st, name, false, &ntok)) != 0 ||
	    (r = store_user_delete(st, name)) != 0 ||
	    (r = store_commit(st)) != 0) {
		store_cancel(st);
		if (r == APPUSER_ERR_NOT_FOUND) {
			cli_err(c, "no application user '%s'", name);
			r = EXIT_REFUSED;
		} else
			r = cli_store_err(c, r, "cannot delete user '%s'",
			    name);
		goto out;
	}
 done:
	cli_log("%sdelete user=%s uid=%lu tokens=%zu",
	    c->fleet_path != NULL ? "fleet " : "", u->name,
	    (unsigned long)u->uid, ntok);
	if (c->json)
		r = cli_json_print(json_pack("{s:s, s:I, s:I}", "deleted",
		    u->name, "uid", (json_int_t)u->uid, "tokens",
		    (json_int_t)ntok));
	else {
		printf("deleted user %s (uid %lu) and its %zu token%s\n",
		    u->name, (unsigned long)u->uid, ntok, ntok == 1 ? "" : "s");
		r = EXIT_OK;
	}
 out:
	user_free(u);
	store_close(st);
	return r;
}

static int
cmp_uid(const void *a, const void *b)
{
	const struct user *ua = *(void *const *)a;
	const struct user *ub = *(void *const *)b;

	return ua->uid < ub->uid ? -1 : ua->uid > ub->uid;
}

static json_t *
user_json(const void *u, int64_t now)
{
	(void)now;
	return json_user(u);
}

static int
print_users(struct cli *c, const struct rec_vec *uv)
{
	static const char *const hdr[] = { "NAME", "UID", "GID", "ADMIN",
	    "CREATED", "DESCRIPTION" };
	char uid[16], gid[16], created[32];
	const char *row[6];
	const struct user *u;
	struct table *t;
	int64_t now = cli_now();
	bool ok;
	size_t i;

	if (c->json)
		return cli_json_print(json_list(uv, user_json, now));
	if (uv->n == 0) {
		fprintf(stderr, "appuser: list: no application users\n");
		return EXIT_OK;
	}
	ok = (t = table_new(6, hdr)) != NULL;
	for (i = 0; ok && i < uv->n; i++) {
		u = uv->v[i];
		snprintf(uid, sizeof(uid), "%lu", (unsigned long)u->uid);
		snprintf(gid, sizeof(gid), "%lu", (unsigned long)u->gid);
		format_time_human(u->create_time, now, created,
		    sizeof(created));
		row[0] = u->name;
		row[1] = uid;
		row[2] = gid;
		row[3] = u->admin ? "yes" : "no";
		row[4] = created;
		row[5] = u->description;
		ok = table_add(t, row) == 0;
	}
	return table_emit(t, ok);
}

int
cmd_list(struct cli *c, int argc, char **argv)
{
	struct idview_cursor cur = IDVIEW_CURSOR_INIT;
	struct rec_vec uv = { .free_rec = rec_free_user };
	struct idview *v = NULL;
	int r;

	if (!cli_plain_args(c, argc, argv, 0, 0))
		return c->exit;
	if (c->fleet_path != NULL) {
		if ((r = fleet_cli_user_foreach(c, rec_collect_user, &uv)) !=
		    EXIT_OK)
			goto out;
	} else if ((r = cli_open_view(c, &v)) != EXIT_OK)
		return r;
	if (v != NULL) {
		while ((r = idview_next_user(v, &cur, rec_collect_user, &uv)) == 0)
			;
		idview_cursor_release(v, &cur);
		if (r != APPUSER_ERR_NOT_FOUND) {
			r = cli_store_err(c, uv.err != 0 ? uv.err : r,
			    "cannot read the users of %s", c->store_dir);
			goto out;
		}
	}
	rec_vec_sort(&uv, cmp_uid);
	r = print_users(c, &uv);
 out:
	rec_vec_free(&uv);
	idview_close(v);
	return r;
}

static int
copy_user(const struct user *u, void *arg)
{
	struct user **up = arg;

	if ((*up = user_dup(u)) == NULL)
		return APPUSER_ERR_NOMEM;
	return 0;
}

/* Active tokens of name, if the caller can read the master; else -1. */
static long
active_tokens(struct cli *c, const char *name)
{
	struct store *st = NULL;
	size_t ntok;
	long n = -1;

	if (!cli_is_owner(c, NULL) ||
	    store_open(c->store_dir, STORE_READ, &st) != 0)
		return -1;
	if (cli_count_tokens(st, name, true, &ntok) == 0)
		n = (long)ntok;
	store_close(st);
	return n;
}

static int
print_user(struct cli *c, const struct user *u, long ntok)
{
	char rfc[32], human[32];

	if (c->json) {
		json_t *o;

		if ((o = json_user(u)) != NULL && ntok >= 0 &&
		    json_object_set_new(o, "active_tokens",
		    json_integer(ntok)) != 0) {
			json_decref(o);
			o = NULL;
		}
		return cli_json_print(o);
	}
	format_time_rfc3339(u->create_time, rfc, sizeof(rfc));
	format_time_human(u->create_time, cli_now(), human, sizeof(human));
	printf("name:          %s\n", u->name);
	printf("uid:           %lu\n", (unsigned long)u->uid);
	printf("gid:           %lu\n", (unsigned long)u->gid);
	printf("description:   %s\n", u->description);
	printf("home:          %s\n", u->home);
	printf("shell:         %s\n", u->shell);
	printf("admin:         %s\n", u->admin ? "yes" : "no");
	printf("created:       %s (%s)\n", rfc, human);
	if (ntok >= 0)
		printf("active tokens: %ld\n", ntok);
	return EXIT_OK;
}

int
cmd_show(struct cli *c, int argc, char **argv)
{
	struct idview *v = NULL;
	struct user *u = NULL;
	const char *name;
	int r;

	if (!cli_one_name(c, argc, argv, &name))
		return c->exit;
	if (c->fleet_path != NULL) {
		struct token_count tc = { 0, true, cli_now() };

		if ((r = fleet_cli_user_get(c, name, &u)) == EXIT_OK &&
		    (r = fleet_cli_token_foreach(c, name, cli_count_token,
		    &tc)) == EXIT_OK)
			r = print_user(c, u, (long)tc.n);
		user_free(u);
		return r;
	}
	if ((r = cli_open_view(c, &v)) != EXIT_OK)
		return r;
	r = v == NULL ? APPUSER_ERR_NOT_FOUND :
	    idview_user_by_name(v, name, copy_user, &u);
	if (r == APPUSER_ERR_NOT_FOUND) {
		cli_err(c, "no application user '%s'", name);
		r = EXIT_REFUSED;
	} else if (r != 0)
		r = cli_store_err(c, r, "cannot read user '%s'", name);
	else
		r = print_user(c, u, active_tokens(c, name));
	user_free(u);
	idview_close(v);
	return r;
}

static int
set_admin(struct cli *c, int argc, char **argv, bool admin)
{
	struct store *st = NULL;
	struct user *u = NULL;
	const char *name;
	bool was = false;
	int r;

	if (!cli_one_name(c, argc, argv, &name))
		return c->exit;
	if (c->fleet_path != NULL) {
		if ((r = fleet_cli_set_admin(c, name, admin, &was)) != EXIT_OK)
			goto out;
	} else if ((r = cli_open_user_write(c, name, &st)) != EXIT_OK)
		return r;
	else if ((r = store_user_get(st, name, &u)) != 0 ||
	    (was = u->admin, r = store_user_set_admin(st, name, admin)) != 0) {
		if (r == APPUSER_ERR_NOT_FOUND) {
			cli_err(c, "no application user '%s'", name);
			r = EXIT_REFUSED;
		} else
			r = cli_store_err(c, r, "cannot change user '%s'",
			    name);
		goto out;
	}
	if (was != admin)
		cli_log("%sadmin %s user=%s", c->fleet_path ? "fleet " : "",
		    admin ? "grant" : "revoke", name);
	if (c->json)
		r = cli_json_print(json_pack("{s:s, s:b, s:b}", "user", name,
		    "admin", admin, "changed", was != admin));
	else {
		printf("%s %s an admin\n", name, was == admin ?
		    (admin ? "is already" : "is not") :
		    (admin ? "is now" : "is no longer"));
		r = EXIT_OK;
	}
 out:
	user_free(u);
	store_close(st);
	return r;
}

int
cmd_admin_grant(struct cli *c, int argc, char **argv)
{
	return set_admin(c, argc, argv, true);
}

int
cmd_admin_revoke(struct cli *c, int argc, char **argv)
{
	return set_admin(c, argc, argv, false);
}
