/*
 * Checks and refusals shared by the commands that take a user's name or
 * fields: create, import, token and admin commands, and every command on
 * one existing user (cli_one_name).  Above the plumbing in util.c and
 * nss.c, below the commands: nothing here calls a command.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "names.h"

#define NAME_RULE "1-32 characters of a-z 0-9 _ . -, starting with a " \
	"letter or _, not all digits"

int
cli_check_name(struct cli *c, const char *where, const char *name)
{
	if (name_is_valid(name))
		return EXIT_OK;
	cli_err(c, "%sname '%s' is not a valid name (%s)", where, name,
	    NAME_RULE);
	return EXIT_ERROR;
}

/* Validate the fields of a new user; where prefixes errors ("line 3: "). */
int
cli_check_user(struct cli *c, const char *where, const struct user *u)
{
	int r;

	if ((r = cli_check_name(c, where, u->name)) != EXIT_OK)
		return r;
	if (u->description != NULL && !text_is_valid(u->description)) {
		cli_err(c, "%sdescription is not valid (at most %d bytes of "
		    "printable text, no ':')", where, APPUSER_TEXT_MAX);
		return EXIT_ERROR;
	}
	if (u->home != NULL && !path_is_valid(u->home)) {
		cli_err(c, "%shome '%s' is not valid (an absolute path without "
		    "':' or '..' components)", where, u->home);
		return EXIT_ERROR;
	}
	if (u->shell != NULL && !path_is_valid(u->shell)) {
		cli_err(c, "%sshell '%s' is not valid (an absolute path "
		    "without ':' or '..' components)", where, u->shell);
		return EXIT_ERROR;
	}
	return EXIT_OK;
}

/* Explain why store_user_add refused u; returns the exit status. */
int
cli_add_error(struct cli *c, struct store *st, int r, const char *where,
    const struct user *u)
{
	struct nss_check *n = cli_nss();
	struct user *old = NULL;
	struct meta m;

	switch (r) {
	case APPUSER_ERR_EXISTS:
		if (nss_check_name_hit(n) || nss_check_id_hit(n))
			cli_err(c, "%s%s; choose another %s", where,
			    nss_check_last(n), nss_check_name_hit(n) ?
			    "name" : "id");
		else if (store_user_get(st, u->name, &old) == 0)
			cli_err(c, "%suser '%s' already exists", where,
			    u->name);
		else if (u->uid != 0)
			cli_err(c, "%sname '%s' or id %lu is already taken in "
			    "the store", where, u->name, (unsigned long)u->uid);
		else
			cli_err(c, "%sname '%s' is already taken in the store "
			    "(it names the admin group)", where, u->name);
		user_free(old);
		return EXIT_REFUSED;
	case APPUSER_ERR_RANGE:
		if (store_get_meta(st, &m) != 0)
			m.uid_min = m.uid_max = 0;
		if (u->uid != 0)
			cli_err(c, "%sid %lu is outside the store's range "
			    "%lu-%lu (see appuser config set uid-range)", where,
			    (unsigned long)u->uid, (unsigned long)m.uid_min,
			    (unsigned long)m.uid_max);
		else
			cli_err(c, "%sno free id left in the range %lu-%lu "
			    "(ids the host uses are skipped); widen it with "
			    "appuser config set uid-range", where,
			    (unsigned long)m.uid_min, (unsigned long)m.uid_max);
		return EXIT_REFUSED;
	case APPUSER_ERR_SYSTEM:
		if (nss_check_last(n)[0] != '\0') {
			cli_err(c, "%s%s", where, nss_check_last(n));
			return EXIT_ERROR;
		}
		break;
	}
	return cli_store_err(c, r, "%scannot create user '%s'", where,
	    u->name);
}

bool
cli_one_name(struct cli *c, int argc, char **argv, const char **namep)
{
	if (!cli_plain_args(c, argc, argv, 1, 1))
		return false;
	if ((c->exit = cli_check_name(c, "", argv[optind])) != EXIT_OK)
		return false;
	*namep = argv[optind];
	return true;
}
