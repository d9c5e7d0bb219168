/*
 * Shared plumbing of the CLI: option parsing, errors and exit statuses,
 * opening the store, syslog.
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "fleet.h"
#include "token.h"

void
cli_verr(struct cli *c, const char *fmt, va_list ap)
{
	fprintf(stderr, "appuser: ");
	if (c != NULL && c->what[0] != '\0')
		fprintf(stderr, "%s: ", c->what);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void
cli_err(struct cli *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cli_verr(c, fmt, ap);
	va_end(ap);
}

int
cli_usage(struct cli *c, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "appuser: ");
	if (c->what[0] != '\0')
		fprintf(stderr, "%s: ", c->what);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (c->cmd != NULL)
		fprintf(stderr, "\nusage: appuser %s\n(see appuser %s --help)\n",
		    c->cmd->usage, c->what);
	else
		fprintf(stderr, " (see appuser --help)\n");
	return EXIT_ERROR;
}

int
cli_getopt(struct cli *c, int argc, char **argv, const struct option *longopts)
{
	int ch;

	opterr = 0;
	for (;;) {
		ch = getopt_long(argc, argv, ":h", longopts, NULL);
		switch (ch) {
		case 'h':
			if (c->cmd != NULL)
				cli_print_help(c->cmd, stdout);
			c->exit = EXIT_OK;
			return OPT_DONE;
		case OPT_JSON:
			c->json = 1;
			continue;
		case OPT_STORE:
			if (optarg[0] != '/') {
				c->exit = cli_usage(c, "--store %s: must be an "
				    "absolute path", optarg);
				return OPT_DONE;
			}
			c->store_dir = optarg;
			continue;
		case ':':
			c->exit = cli_usage(c, "option '%s' needs a value",
			    argv[optind - 1]);
			return OPT_DONE;
		case '?':
			if (optopt != 0 && optopt < 0x100)
				c->exit = cli_usage(c, "unknown option '-%c'",
				    optopt);
			else
				c->exit = cli_usage(c, "unknown option '%s'",
				    argv[optind - 1]);
			return OPT_DONE;
		default:
			return ch;
		}
	}
}

int
cli_nargs(struct cli *c, int argc, char **argv, int min, int max)
{
	int n = argc - optind;

	if (n < min)
		return cli_usage(c, "missing argument");
	if (n > max)
		return cli_usage(c, "unexpected argument '%s'",
		    argv[optind + max]);
	return EXIT_OK;
}

bool
cli_plain_args(struct cli *c, int argc, char **argv, int min, int max)
{
	static const struct option longopts[] = {
		CLI_COMMON_OPTIONS, { NULL, 0, NULL, 0 }
	};

	if (cli_getopt(c, argc, argv, longopts) != -1)
		return false;
	c->exit = cli_nargs(c, argc, argv, min, max);
	return c->exit == EXIT_OK;
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

int
cli_exit_for(int r)
{
	switch (r) {
	case 0:
		return EXIT_OK;
	case APPUSER_ERR_NOT_FOUND:
	case APPUSER_ERR_EXISTS:
	case APPUSER_ERR_DENIED:
	case APPUSER_ERR_RANGE:
	case APPUSER_ERR_EXPIRED:
		return EXIT_REFUSED;
	default:
		return EXIT_ERROR;
	}
}

static const char *
hint_for(int r)
{
	switch (r) {
	case APPUSER_ERR_PERMISSION:
		return "the store belongs to its owner (normally root); run "
		    "with sudo";
	case APPUSER_ERR_UNSAFE:
		return "the store directory, its parents and its files must "
		    "be owned by root (or you) and not writable by group or "
		    "others";
	case APPUSER_ERR_BUSY:
		return "another appuser command is changing the store; try "
		    "again";
	case APPUSER_ERR_CORRUPT:
		return "run 'appuser check' as root for details";
	case APPUSER_ERR_VERSION:
		return "this appuser is older than the store; upgrade it";
	case APPUSER_ERR_NOSTORE:
		return "create a user first, or pass --store";
	default:
		return NULL;
	}
}

int
cli_store_err(struct cli *c, int r, const char *fmt, ...)
{
	int saved = errno;
	const char *hint = hint_for(r);
	va_list ap;

	fprintf(stderr, "appuser: ");
	if (c->what[0] != '\0')
		fprintf(stderr, "%s: ", c->what);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, ": %s", appuser_strerror(r));
	if (r == APPUSER_ERR_SYSTEM && saved != 0)
		fprintf(stderr, " (%s)", strerror(saved));
	if (hint != NULL)
		fprintf(stderr, "; %s", hint);
	fputc('\n', stderr);
	return cli_exit_for(r);
}

bool
cli_is_owner(struct cli *c, uid_t *ownerp)
{
	struct stat sb;

	if (stat(c->store_dir, &sb) == -1)
		return false;
	if (ownerp != NULL)
		*ownerp = sb.st_uid;
	return sb.st_uid == geteuid();
}

/*
 * Explain up front why someone who does not own the store cannot use the
 * master; -1 to go on (also for a missing store).
 */
static int
owner_precheck(struct cli *c, const char *why)
{
	struct stat sb;

	if (stat(c->store_dir, &sb) == 0) {
		if (sb.st_uid == geteuid())
			return -1;
		cli_err(c, "%s: %s the store's owner (uid %lu, normally "
		    "root); run with sudo", c->store_dir, why,
		    (unsigned long)sb.st_uid);
		return EXIT_ERROR;
	}
	if (errno == ENOENT)
		return -1;
	cli_err(c, "%s: %s; %s the store's owner (normally root); run with "
	    "sudo", c->store_dir, strerror(errno), why);
	return EXIT_ERROR;
}

bool
cli_store_missing(struct cli *c)
{
	char path[4096];
	struct stat sb;

	if (snprintf(path, sizeof(path), "%s/%s", c->store_dir,
	    APPUSER_MASTER_FILE) >= (int)sizeof(path))
		return false;		/* the open says why */
	return stat(path, &sb) == -1 && errno == ENOENT;
}

int
cli_open_user_write(struct cli *c, const char *name, struct store **stp)
{
	if (cli_store_missing(c)) {
		cli_err(c, "no application user '%s' (no store at %s yet)",
		    name, c->store_dir);
		return EXIT_REFUSED;
	}
	return cli_open_write(c, stp);
}

int
cli_open_write(struct cli *c, struct store **stp)
{
	struct store *st = NULL;
	char *fleet = NULL;
	int r;

	if ((r = owner_precheck(c, "writes need")) != -1)
		return r;
	errno = 0;
	if ((r = store_open(c->store_dir, STORE_WRITE, &st)) != 0)
		return cli_store_err(c, r, "cannot open the store %s for "
		    "writing", c->store_dir);
	store_set_collision_check(st, nss_collision, cli_nss());
	/* a fleet's store changes through the fleet; only an emergency
	 * local revocation is allowed (and kept across syncs) */
	if (strcmp(c->what, "token revoke") != 0 &&
	    strcmp(c->what, "check") != 0 &&
	    fleet_store_following(st, &fleet) == 0) {
		cli_err(c, "the store %s follows the fleet configured in %s: "
		    "change the fleet instead (appuser --fleet %s %s ...); "
		    "only 'token revoke' may act locally", c->store_dir, fleet,
		    fleet, c->what);
		free(fleet);
		store_close(st);
		return EXIT_REFUSED;
	}
	*stp = st;
	return EXIT_OK;
}

int
cli_open_master(struct cli *c, struct store **stp)
{
	struct store *st = NULL;
	int r;

	*stp = NULL;
	if ((r = owner_precheck(c, "token data is readable only by")) != -1)
		return r;
	errno = 0;
	if ((r = store_open(c->store_dir, STORE_READ, &st)) != 0) {
		if (r == APPUSER_ERR_NOSTORE)
			return EXIT_OK;
		if (r == APPUSER_ERR_PERMISSION) {
			cli_err(c, "%s: token data is readable only by the "
			    "store's owner (normally root); run with sudo",
			    c->store_dir);
			return EXIT_ERROR;
		}
		return cli_store_err(c, r, "cannot open the store %s",
		    c->store_dir);
	}
	*stp = st;
	return EXIT_OK;
}

int
cli_open_view(struct cli *c, struct idview **vp)
{
	struct idview *v = NULL;
	int r;

	*vp = NULL;
	errno = 0;
	if ((r = idview_open(c->store_dir, &v)) != 0) {
		if (r == APPUSER_ERR_NOSTORE)
			return EXIT_OK;
		return cli_store_err(c, r, "cannot read the store %s",
		    c->store_dir);
	}
	*vp = v;
	return EXIT_OK;
}

/* SUDO_USER comes from the environment: keep it to name characters. */
static void
sanitize(const char *s, char *buf, size_t buflen)
{
	size_t i;

	for (i = 0; i < buflen - 1 && s[i] != '\0'; i++)
		buf[i] = (s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9') ||
		    strchr("._-$@", s[i]) != NULL ? s[i] : '?';
	buf[i] = '\0';
}

void
cli_log(const char *fmt, ...)
{
	char msg[1024], sudo[APPUSER_NAME_MAX + 1];
	const char *su = getenv("SUDO_USER");
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (su != NULL && su[0] != '\0') {
		sanitize(su, sudo, sizeof(sudo));
		syslog(LOG_NOTICE, "%s by uid=%lu sudo_user=%s", msg,
		    (unsigned long)getuid(), sudo);
	} else
		syslog(LOG_NOTICE, "%s by uid=%lu", msg,
		    (unsigned long)getuid());
}

int64_t
cli_now(void)
{
	return (int64_t)time(NULL);
}

const char *
token_status(const struct token *t, int64_t now)
{
	if (t->revoke_time != 0)
		return "revoked";
	if (token_is_expired(t, now))
		return "expired";
	return "active";
}
