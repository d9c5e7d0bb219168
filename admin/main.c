/*
 * appuser: manage application users and their tokens.
 *
 * A table of commands (after git and tdbtool): global options, then one or
 * two command words, then the command's own arguments.
 */
#include <fcntl.h>
#include <locale.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include <signal.h>

#include "cli.h"
#include "fleet.h"
#include "token.h"

static const struct command commands[] = {
	{ NULL, "create", cmd_create,
	  "create NAME [--description TEXT] [--shell PATH] [--home DIR]",
	  "create an application user",
	  "Creates the application user NAME with its own group (gid = uid),\n"
	  "taking the next id of the store's range: ids go up from the last one\n"
	  "given, so a deleted user's id is not given again before the whole\n"
	  "range has been used (files it left behind stay orphaned rather than\n"
	  "owned by a newcomer).  A name or id that the host already resolves\n"
	  "(through NSS: users and groups) is refused.\n"
	  "\n"
	  "  --description TEXT  free text, shown as the GECOS field\n"
	  "  --shell PATH        login shell (default /bin/sh)\n"
	  "  --home DIR          home directory (default /nonexistent); appuser\n"
	  "                      does not create it: make it yourself, owned\n"
	  "                      by the new user (install -d -o NAME -g NAME)\n" },
	{ NULL, "delete", cmd_delete,
	  "delete NAME",
	  "delete an application user and all its tokens",
	  "Deletes NAME and, in the same transaction, every token it holds:\n"
	  "the tokens stop working at once.\n" },
	{ NULL, "list", cmd_list,
	  "list",
	  "list application users",
	  "Lists every application user (any user who can read the store).\n"
	  "Prints nothing (or [] with --json) when no store exists yet.\n" },
	{ NULL, "show", cmd_show,
	  "show NAME",
	  "show one application user",
	  "Shows NAME's identity; run by the store's owner it also counts\n"
	  "NAME's active tokens.\n" },
	{ "admin", "grant", cmd_admin_grant,
	  "admin grant NAME",
	  "make NAME an organization admin",
	  "Adds NAME to the store's admin group (see `appuser config show`).\n" },
	{ "admin", "revoke", cmd_admin_revoke,
	  "admin revoke NAME",
	  "remove NAME from the admin group",
	  "Removes NAME from the store's admin group.\n" },
	{ "token", "create", cmd_token_create,
	  "token create NAME [--description TEXT] [--max-age DURATION]\n"
	  "               [--extend-when-used] [--allow-from LIST] [--scope LIST]",
	  "create a token for NAME",
	  "Creates a token for NAME and prints it on standard output, alone on\n"
	  "one line (T=$(appuser token create bot) works).  It is shown only\n"
	  "once: the store keeps only a hash of it.\n"
	  "\n"
	  "  --description TEXT  what the token is for\n"
	  "  --max-age DURATION  expire after DURATION: 600, 600s, 90m, 12h,\n"
	  "                      30d, 2w, 1y (default: never expires)\n"
	  "  --extend-when-used  each login pushes the expiry to now + max-age\n"
	  "                      (needs --max-age)\n"
	  "  --allow-from LIST   addresses allowed to log in: comma-separated\n"
	  "                      IPv4/IPv6 addresses or CIDRs, or `local'\n"
	  "                      (default: any)\n"
	  "  --scope LIST        PAM services the token may log into, comma-\n"
	  "                      separated (default: every service).  The\n"
	  "                      usual names: sshd, sudo, su, login (console),\n"
	  "                      cron; su covers su-l (su -) and sudo covers\n"
	  "                      sudo-i (sudo -i).  Names are lowercased, as\n"
	  "                      libpam does.\n" },
	{ "token", "list", cmd_token_list,
	  "token list [NAME]",
	  "list tokens (of NAME, or of everyone)",
	  "Lists tokens with their prefix, expiry, last use and status\n"
	  "(active, expired, revoked).  Needs the store's owner (root): token\n"
	  "data is not world-readable.\n" },
	{ "token", "revoke", cmd_token_revoke,
	  "token revoke NAME PREFIX\n               token revoke NAME --all",
	  "revoke one token, or all tokens, of NAME",
	  "Revokes NAME's token PREFIX (apu_ and 12 characters, as `token list'\n"
	  "shows it; the whole token is accepted too), or with --all every\n"
	  "token of NAME.  Revoked tokens stay listed with status revoked.\n"
	  "\n"
	  "  --all         revoke every token of NAME\n" },
	{ "token", "rotate", cmd_token_rotate,
	  "token rotate NAME PREFIX [--grace DURATION]",
	  "replace a token of NAME by a new one",
	  "Mints a new token for NAME with the same description, maximum age,\n"
	  "sliding expiry, allowlist and scope as NAME's token PREFIX, and in\n"
	  "the same transaction makes PREFIX stop working after a grace\n"
	  "period (never later than it would have; a sliding expiry no longer\n"
	  "moves it).  Prints the new token once, like `token create'.  Refuses\n"
	  "a revoked or expired PREFIX.  Syslog names both prefixes.  With\n"
	  "--fleet it is one etcd transaction that every host applies.\n"
	  "\n"
	  "  --grace DURATION  how long the old token keeps working: 600, 90m,\n"
	  "                    12h, 2d... (default 1h); 0 revokes it at once\n" },
	{ "config", "show", cmd_config_show,
	  "config show",
	  "show the store's settings",
	  "Prints the id range, the admin group, the number of users, the store\n"
	  "directory and its generation.\n" },
	{ "config", "set", cmd_config_set,
	  "config set uid-range MIN-MAX\n               config set admin-group NAME\n"
	  "               config set uid-range MIN-MAX admin-group NAME",
	  "change the id range or the admin group's name",
	  "uid-range MIN-MAX  ids for new users (every existing id must stay\n"
	  "                   inside; 0 < MIN < MAX < 2147483647).  The admin\n"
	  "                   group's gid moves to MIN if it would fall outside\n"
	  "                   and the group has no member yet.\n"
	  "admin-group NAME   name of the group of organization admins\n"
	  "Both settings given together change in one transaction.  The first\n"
	  "write creates the store; it is refused, and nothing is created, while\n"
	  "the host already resolves the admin group's name or gid: set another\n"
	  "name or range first (both in one command if both clash).\n" },
	{ NULL, "check", cmd_check,
	  "check",
	  "verify the store's consistency",
	  "Checks both files, every record and index, and the public snapshot.\n"
	  "Run by the store's owner it first republishes a snapshot left\n"
	  "behind by an interrupted writer.  Exit status 1 if problems remain.\n" },
	{ NULL, "audit", cmd_audit,
	  "audit [--unused DURATION] [--expiring DURATION] [--max-age DURATION]\n"
	  "               [--fail-on SEVERITY]",
	  "check users and tokens against the best practices",
	  "Reports one finding per line: SEVERITY CODE USER PREFIX MESSAGE\n"
	  "(- for no user or no token; with --json an array of objects), most\n"
	  "severe first; nothing at all when everything is in order.  Codes:\n"
	  "  high    admin-token-unrestricted  an admin's active token with\n"
	  "                                    neither --allow-from nor --scope\n"
	  "  medium  token-no-expiry           an active token without --max-age\n"
	  "  medium  token-unrestricted        the same as the first, not an\n"
	  "                                    admin's\n"
	  "  medium  token-unused              an active token not used within\n"
	  "                                    --unused, or never and created\n"
	  "                                    longer ago than that\n"
	  "  medium  many-admins               more than a quarter of the users\n"
	  "                                    are admins\n"
	  "  low     token-too-long            an active token whose maximum age\n"
	  "                                    exceeds --max-age\n"
	  "  low     user-no-active-token      a user with no active token\n"
	  "  info    token-expiring            an active token expiring within\n"
	  "                                    --expiring\n"
	  "Reads only; needs the store's owner (root): token data is root's.\n"
	  "With --fleet it reads etcd instead and leaves out token-unused:\n"
	  "the fleet keeps no last use (each host does).\n"
	  "Exit status 1 when a finding is at or above --fail-on, else 0.\n"
	  "\n"
	  "  --unused DURATION    default 90d\n"
	  "  --expiring DURATION  default 14d\n"
	  "  --max-age DURATION   default 365d\n"
	  "  --fail-on SEVERITY   high, medium (default), low or info\n" },
	{ NULL, "metrics", cmd_metrics,
	  "metrics [--output FILE]",
	  "write figures for monitoring (Prometheus text format)",
	  "Prints, or writes to FILE through a temporary file and a rename\n"
	  "(node_exporter's textfile collector never reads half of it): the\n"
	  "numbers of users and admins, tokens by status, audit findings by\n"
	  "code (default thresholds) and, for each active token (labels user\n"
	  "and prefix), when it was created, expires and was last used, in\n"
	  "Unix seconds.  Never a token, never a verifier.  With --json the\n"
	  "same figures as one JSON object.  A new FILE gets mode 0644; an\n"
	  "existing one keeps its group and mode.  Needs the store's owner.\n"
	  "With --fleet: the fleet's records in etcd, without last use.\n"
	  "Every minute from cron:\n"
	  "  * * * * * root appuser metrics --output \\\n"
	  "      /var/lib/prometheus/node-exporter/appuser.prom\n"
	  "\n"
	  "  --output FILE  write FILE instead of standard output\n" },
	{ NULL, "import", cmd_import,
	  "import FILE",
	  "create many users from JSON lines",
	  "Reads FILE (- for standard input): one JSON object per line with the\n"
	  "fields name (required), description, shell, home, admin (true or\n"
	  "false) and uid (a fixed id inside the range).  Empty lines are\n"
	  "skipped.  All or nothing: one bad line and no user is created.\n"
	  "Reports users per second on standard error.\n" },
	{ "fleet", "status", cmd_fleet_status,
	  "fleet status",
	  "show how this host follows its fleet",
	  "On a host whose store appuser-syncd keeps in step with a fleet:\n"
	  "the fleet config and its etcd endpoints, the etcd revision the\n"
	  "store reflects and how far etcd was ahead (the lag, in revisions)\n"
	  "when the agent last heard from it, when that was, the agent's last\n"
	  "error, and the users skipped here because they collide with a host\n"
	  "account.  Needs the store's owner (root).\n" },
	{ NULL, "help", cli_help_main,
	  "help [COMMAND]",
	  "show help for appuser or one command",
	  "" },
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static const char *const groups[] = { "admin", "token", "config",
	"fleet" };

static bool
is_group(const char *w)
{
	size_t i;

	for (i = 0; i < sizeof(groups) / sizeof(groups[0]); i++)
		if (strcmp(w, groups[i]) == 0)
			return true;
	return false;
}

/* Find a command by its words; NULL if there is none. */
static const struct command *
find_command(const char *group, const char *name)
{
	size_t i;

	for (i = 0; i < NCOMMANDS; i++) {
		if (group == NULL ? commands[i].group != NULL :
		    commands[i].group == NULL ||
		    strcmp(group, commands[i].group) != 0)
			continue;
		if (strcmp(name, commands[i].name) == 0)
			return &commands[i];
	}
	return NULL;
}

/* One line of an overview: the usage's first line and the summary. */
static void
print_summary(const struct command *cmd, FILE *f)
{
	const char *nl = strchr(cmd->usage, '\n');
	int len = nl != NULL ? (int)(nl - cmd->usage) : (int)strlen(cmd->usage);

	if (len > 34 || nl != NULL)
		fprintf(f, "  %.*s ...\n  %-34s  %s\n", len, cmd->usage, "",
		    cmd->summary);
	else
		fprintf(f, "  %-34s  %s\n", cmd->usage, cmd->summary);
}

static void
print_group_help(const char *group, FILE *f)
{
	size_t i;

	fprintf(f, "usage: appuser [--store DIR] [--json] %s COMMAND ...\n\n",
	    group);
	for (i = 0; i < NCOMMANDS; i++)
		if (commands[i].group != NULL &&
		    strcmp(commands[i].group, group) == 0)
			print_summary(&commands[i], f);
	fprintf(f, "\nappuser help %s COMMAND shows the details of one.\n",
	    group);
}

static void
print_main_help(FILE *f)
{
	size_t i;

	fprintf(f, "usage: appuser [--store DIR] [--json] COMMAND [ARGS]\n\n"
	    "Manage application users (non-human accounts that log in with a\n"
	    "token) and their tokens.\n\nCommands:\n");
	for (i = 0; i < NCOMMANDS; i++)
		print_summary(&commands[i], f);
	fprintf(f, "\nGlobal options:\n" STORE_OPT_HELP
	    "  --fleet FILE  act on the fleet that FILE names (etcd; see\n"
	    "                appuser-syncd(8)) instead of the local store\n"
	    "  --version     print the version\n"
	    "\nappuser help COMMAND (or appuser COMMAND --help) shows the "
	    "details of one.\n"
	    "Exit status: 0 done, 1 refused or not found, 2 usage or system "
	    "error.\n");
}

int
cli_help_main(struct cli *c, int argc, char **argv)
{
	const struct command *cmd;
	int ch;
	static const struct option longopts[] = {
		CLI_COMMON_OPTIONS, { NULL, 0, NULL, 0 }
	};

	while ((ch = cli_getopt(c, argc, argv, longopts)) != -1)
		return c->exit;
	argc -= optind;
	argv += optind;
	if (argc == 0) {
		print_main_help(stdout);
		return EXIT_OK;
	}
	if (argc == 1 && is_group(argv[0])) {
		print_group_help(argv[0], stdout);
		return EXIT_OK;
	}
	if (argc <= 2 && (cmd = argc == 1 ? find_command(NULL, argv[0]) :
	    find_command(argv[0], argv[1])) != NULL) {
		cli_print_help(cmd, stdout);
		return EXIT_OK;
	}
	return cli_usage(c, "no command '%s%s%s'", argv[0],
	    argc > 1 ? " " : "", argc > 1 ? argv[1] : "");
}

static int
unknown_command(const char *w1, const char *w2)
{
	fprintf(stderr, "appuser: unknown command '%s%s%s' (see appuser "
	    "--help)\n", w1, w2 != NULL ? " " : "", w2 != NULL ? w2 : "");
	return EXIT_ERROR;
}

/* Global options; returns -1 to go on, else an exit status. */
static int
parse_global(struct cli *c, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "store", required_argument, NULL, OPT_STORE },
		{ "version", no_argument, NULL, 'V' },
		{ "fleet", required_argument, NULL, 'F' },
		{ NULL, 0, NULL, 0 }
	};
	int ch;

	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+hV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'h':
			print_main_help(stdout);
			return EXIT_OK;
		case 'V':
			printf("appuser %s\n", APPUSER_VERSION);
			return EXIT_OK;
		case OPT_JSON:
			c->json = 1;
			break;
		case OPT_STORE:
			c->store_dir = optarg;
			break;
		case 'F':
			c->fleet_path = optarg;
			break;
		default:
			if (optopt == 'F')
				fprintf(stderr, "appuser: option --fleet needs "
				    "a file\n");
			else if (optopt == OPT_STORE)
				fprintf(stderr, "appuser: option --store needs "
				    "a directory\n");
			else
				fprintf(stderr, "appuser: unknown option '%s' "
				    "(see appuser --help)\n", argv[optind - 1]);
			return EXIT_ERROR;
		}
	}
	if (c->store_dir != NULL && c->store_dir[0] != '/') {
		fprintf(stderr, "appuser: --store %s: must be an absolute "
		    "path\n", c->store_dir);
		return EXIT_ERROR;
	}
	return -1;
}

/* The lifecycle and report commands, which --fleet points at etcd. */
static bool
fleet_capable(const struct command *cmd)
{
	return cmd->fn == cmd_create || cmd->fn == cmd_delete ||
	    cmd->fn == cmd_list || cmd->fn == cmd_show ||
	    cmd->fn == cmd_admin_grant || cmd->fn == cmd_admin_revoke ||
	    cmd->fn == cmd_token_create || cmd->fn == cmd_token_list ||
	    cmd->fn == cmd_token_revoke || cmd->fn == cmd_token_rotate ||
	    cmd->fn == cmd_audit || cmd->fn == cmd_metrics ||
	    cmd->fn == cmd_import ||
	    cmd->fn == cmd_config_show || cmd->fn == cmd_config_set ||
	    cmd->fn == cli_help_main;
}

static int
dispatch(struct cli *c, int argc, char **argv)
{
	const struct command *cmd;
	int words = 1;

	if (argc == 0) {
		fprintf(stderr, "appuser: no command given (see appuser "
		    "--help)\n");
		return EXIT_ERROR;
	}
	if (is_group(argv[0])) {
		if (argc < 2) {
			fprintf(stderr, "appuser: %s: missing subcommand\n",
			    argv[0]);
			print_group_help(argv[0], stderr);
			return EXIT_ERROR;
		}
		if (strcmp(argv[1], "--help") == 0 ||
		    strcmp(argv[1], "-h") == 0) {
			print_group_help(argv[0], stdout);
			return EXIT_OK;
		}
		if ((cmd = find_command(argv[0], argv[1])) == NULL)
			return unknown_command(argv[0], argv[1]);
		words = 2;
	} else if ((cmd = find_command(NULL, argv[0])) == NULL)
		return unknown_command(argv[0], NULL);
	c->cmd = cmd;
	if (c->fleet_path != NULL && !fleet_capable(cmd)) {
		fprintf(stderr, "appuser: %s%s%s does not act on a fleet; "
		    "leave out --fleet\n", cmd->group != NULL ? cmd->group : "",
		    cmd->group != NULL ? " " : "", cmd->name);
		return EXIT_ERROR;
	}
	snprintf(c->what, sizeof(c->what), "%s%s%s", cmd->group != NULL ?
	    cmd->group : "", cmd->group != NULL ? " " : "", cmd->name);
	/* argv[0] of the command is its last word */
	argc -= words - 1;
	argv += words - 1;
	optind = 0;	/* glibc: full reinitialisation for the next scan */
	return cmd->fn(c, argc, argv);
}

/*
 * A closed standard descriptor would lend its number to the next open():
 * a store file would then receive what we print (a token).  Point closed
 * ones at /dev/null (as OpenSSH's sanitise_stdfd), noting a closed stdout.
 */
static int
sanitise_stdfd(struct cli *c)
{
	int fd;

	c->stdout_closed = fcntl(STDOUT_FILENO, F_GETFD) == -1;
	while ((fd = open("/dev/null", O_RDWR | O_CLOEXEC)) >= 0 &&
	    fd <= STDERR_FILENO)
		if (fcntl(fd, F_SETFD, 0) == -1)	/* a std fd: inherited */
			return -1;
	if (fd == -1)
		return -1;
	close(fd);
	return 0;
}

int
main(int argc, char **argv)
{
	struct cli c;
	int r;

	memset(&c, 0, sizeof(c));
	if (sanitise_stdfd(&c) != 0)
		return EXIT_ERROR;
	setlocale(LC_CTYPE, "");
	if ((r = parse_global(&c, argc, argv)) != -1)
		return r;
	if (c.store_dir == NULL)
		c.store_dir = appuser_default_store_dir();
	if (c.fleet_path != NULL) {
		/* TLS session keys never go to a file named by the
		 * environment; a dropped connection is an error, not a
		 * signal */
		unsetenv("SSLKEYLOGFILE");
		signal(SIGPIPE, SIG_IGN);
	}
	if (crypto_init() != 0) {
		fprintf(stderr, "appuser: cannot initialise libsodium\n");
		return EXIT_ERROR;
	}
	openlog("appuser", LOG_PID, LOG_AUTHPRIV);
	r = dispatch(&c, argc - optind, argv + optind);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "appuser: writing output failed\n");
		r = EXIT_ERROR;
	}
	fleet_close(c.fleet);
	closelog();
	return r;
}
