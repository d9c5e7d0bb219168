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

/* The start of every error line on stderr, "appuser: [command: ]" and
 * the message, without the newline (the callers add what follows). */
static void
err_start(struct cli *c, const char *fmt, va_list ap)
{
	fprintf(stderr, "appuser: ");
	if (c != NULL && c->what[0] != '\0')
		fprintf(stderr, "%s: ", c->what);
	vfprintf(stderr, fmt, ap);
}

void
cli_verr(struct cli *c, const char *fmt, va_list ap)
{
	err_start(c, fmt, ap);
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

	va_start(ap, fmt);
	err_start(c, fmt, ap);
	va_end(ap);
	if (c->cmd != NULL)
		fprintf(stderr, "\nusage: appuser %s\n(see appuser %s --help)\n",
		    c->cmd->usage, c->what);
	else
		fprintf(stderr, " (see appuser --help)\n");
	return EXIT_ERROR;
}

void
cli_print_help(const struct command *cmd, FILE *f)
{
	fprintf(f, "usage: appuser %s\n\n%s.\n", cmd->usage, cmd->summary);
	if (cmd->help[0] != '\0')
		fprintf(f, "\n%s", cmd->help);
	fprintf(f, "\nCommon options:\n" STORE_OPT_HELP);
}

int
cli_getopt(struct cli *c, int argc, char **argv, const struct option *longopts)
{
	opterr = 0;
	for (;;) {
		int ch = getopt_long(argc, argv, ":h", longopts, NULL);

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
		return "another appuser command has held it for 5 s; look at "
		    "that process, or try again later";
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
	pid_t pid;

	va_start(ap, fmt);
	err_start(c, fmt, ap);
	va_end(ap);
	fprintf(stderr, ": %s", appuser_strerror(r));
	if (r == APPUSER_ERR_BUSY && (pid = store_busy_pid()) > 0)
		fprintf(stderr, " (held by pid %ld)", (long)pid);
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

/*
 * What our own NSS module publishes is no host account: it serves only the
 * store at its compiled-in path.  Creating a store elsewhere (a test store)
 * on a host whose own store is in nsswitch.conf must not collide with that
 * store's admin group; creating the host's own store, nothing of ours is
 * published yet.
 */
static void
published_admin_group(struct cli *c, struct nss_check *n)
{
	struct idview *v = NULL;
	const struct meta *m;

	nss_check_own_group(n, NULL, 0);
	if (strcmp(c->store_dir, APPUSER_DEFAULT_STORE) == 0 ||
	    idview_open(APPUSER_DEFAULT_STORE, &v) != 0)
		return;
	if ((m = idview_meta(v)) != NULL && m->admin_group != NULL)
		nss_check_own_group(n, m->admin_group, m->admin_gid);
	idview_close(v);
}

/*
 * A store about to be created publishes an admin group (the defaults, or
 * what config set is about to give it): its name and gid get the host
 * check users get, before anything exists, or a host group of that name
 * or gid (and its members) would silently be shared.  Exit status.
 */
static int
new_admin_group_check(struct cli *c)
{
	struct nss_check *n = cli_nss();
	const char *name = c->new_admin_group != NULL ? c->new_admin_group :
	    APPUSER_DEFAULT_ADMIN_GROUP;
	uint32_t gid = c->new_admin_gid != 0 ? c->new_admin_gid :
	    APPUSER_DEFAULT_UID_MIN;
	int r;

	nss_check_reset(n);
	published_admin_group(c, n);
	if ((r = nss_collision(name, 0, n)) == 0 &&
	    (r = nss_collision(NULL, gid, n)) == 0)
		return EXIT_OK;
	if (r != APPUSER_ERR_EXISTS) {
		cli_err(c, "cannot create the store %s: %s", c->store_dir,
		    nss_check_last(n));
		return EXIT_ERROR;
	}
	if (nss_check_name_hit(n))
		cli_err(c, "cannot create the store %s: its admin group's %s; "
		    "choose another name first with `appuser config set "
		    "admin-group NAME` (uid-range MIN-MAX can be given in the "
		    "same command); nothing was created", c->store_dir,
		    nss_check_last(n));
	else
		cli_err(c, "cannot create the store %s: the admin group would "
		    "take gid %lu, but %s; choose a range whose first id is "
		    "free first with `appuser config set uid-range MIN-MAX` "
		    "(admin-group NAME can be given in the same command); "
		    "nothing was created", c->store_dir, (unsigned long)gid,
		    nss_check_last(n));
	return EXIT_REFUSED;
}

int
cli_open_write(struct cli *c, struct store **stp)
{
	struct store *st = NULL;
	struct meta m;
	char *fleet = NULL;
	int r;

	if ((r = owner_precheck(c, "writes need")) != -1)
		return r;
	if (cli_store_missing(c) && (r = new_admin_group_check(c)) != EXIT_OK)
		return r;
	errno = 0;
	if ((r = store_open(c->store_dir, STORE_WRITE, &st)) != 0)
		return cli_store_err(c, r, "cannot open the store %s for "
		    "writing", c->store_dir);
	if ((r = store_get_meta(st, &m)) != 0) {
		store_close(st);
		return cli_store_err(c, r, "cannot read the store %s",
		    c->store_dir);
	}
	nss_check_own_group(cli_nss(), m.admin_group, m.admin_gid);
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

int
rec_vec_push(struct rec_vec *rv, void *p)
{
	void **nv;

	if (p == NULL)
		return rv->err = APPUSER_ERR_NOMEM;
	if (rv->n == rv->cap) {
		size_t ncap = rv->cap == 0 ? 64 : rv->cap * 2;

		if ((nv = reallocarray(rv->v, ncap, sizeof(*nv))) == NULL) {
			rv->free_rec(p);
			return rv->err = APPUSER_ERR_NOMEM;
		}
		rv->v = nv;
		rv->cap = ncap;
	}
	rv->v[rv->n++] = p;
	return 0;
}

void
rec_vec_sort(struct rec_vec *rv, int (*cmp)(const void *, const void *))
{
	if (rv->n > 1)	/* qsort(NULL, 0) is undefined */
		qsort(rv->v, rv->n, sizeof(*rv->v), cmp);
}

void
rec_vec_free(struct rec_vec *rv)
{
	size_t i;

	for (i = 0; i < rv->n; i++)
		rv->free_rec(rv->v[i]);
	free(rv->v);
	rv->v = NULL;
	rv->n = rv->cap = 0;
}

void
rec_free_user(void *u)
{
	user_free(u);
}

void
rec_free_token(void *t)
{
	token_free(t);
}

int
rec_collect_user(const struct user *u, void *arg)
{
	return rec_vec_push(arg, user_dup(u));
}

int
rec_collect_token(const struct token *t, void *arg)
{
	return rec_vec_push(arg, token_dup(t));
}

int
rec_cmp_token(const void *a, const void *b)
{
	const struct token *ta = *(void *const *)a;
	const struct token *tb = *(void *const *)b;
	int d;

	if ((d = strcmp(ta->user, tb->user)) != 0)
		return d;
	if (ta->create_time != tb->create_time)
		return ta->create_time < tb->create_time ? -1 : 1;
	return strcmp(ta->id, tb->id);
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
	char msg[1024];
	const char *su = getenv("SUDO_USER");
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (su != NULL && su[0] != '\0') {
		char sudo[APPUSER_NAME_MAX + 1];

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

int
cli_count_token(const struct token *t, void *arg)
{
	struct token_count *tc = arg;

	if (!tc->active_only || strcmp(token_status(t, tc->now), "active") == 0)
		tc->n++;
	return 0;
}

int
cli_count_tokens(struct store *st, const char *user, bool active_only,
    size_t *np)
{
	struct token_count tc = { 0, active_only, cli_now() };
	int r;

	r = store_token_foreach(st, user, cli_count_token, &tc);
	*np = tc.n;
	return r;
}

int
cli_write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t w;

		if ((w = write(fd, p, len)) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		len -= (size_t)w;
	}
	return 0;
}
