/*
 * The appuser command line tool: shared declarations.
 *
 * main.c holds the command table and dispatch; each command is a function
 * in a cmd_*.c file that receives argc/argv after its command words
 * (argv[0] is the command's name) and returns the process exit status.
 * Exit statuses: 0 done, 1 refused or not found, 2 usage or system error.
 *
 * Calls only go down these layers, never up or sideways between commands:
 *   main.c                      command table, global options, dispatch
 *   cmd_*.c                     the commands
 *   usercheck.c                 name/field checks and refusals they share
 *   audit.c                     the records reports read, the audit's
 *                               rules (audit and metrics share them)
 *   util.c nss.c json.c table.c plumbing: options, errors, opening the
 *                               store, syslog; the NSS collision check;
 *                               output
 */
#ifndef APPUSER_CLI_H
#define APPUSER_CLI_H

#include <sys/types.h>

#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>

#include "appuser.h"
#include "record.h"
#include "store.h"

#define APPUSER_VERSION	"0.1.0"

#define EXIT_OK		0
#define EXIT_REFUSED	1	/* not found, already exists, refused */
#define EXIT_ERROR	2	/* usage or system error */

struct cli;
typedef int (*cmd_fn)(struct cli *c, int argc, char **argv);

struct command {
	const char	*group;		/* "token", "admin", "config" or NULL */
	const char	*name;
	cmd_fn		 fn;
	const char	*usage;		/* after "appuser " */
	const char	*summary;	/* one line for the overview */
	const char	*help;		/* details and options */
};

struct cli {
	const char	*store_dir;	/* --store, else the default */
	int		 json;		/* --json */
	const struct command *cmd;
	char		 what[64];	/* "token create": prefix of errors */
	int		 exit;		/* set by cli_getopt when it stops */
	bool		 stdout_closed;	/* started without a stdout */
	/* config set on a store that does not exist yet: the admin group it
	 * will publish, for cli_open_write's host check (NULL / 0: the
	 * defaults) */
	const char	*new_admin_group;
	uint32_t	 new_admin_gid;
	const char	*fleet_path;	/* --fleet FILE: act on the fleet */
	struct fleet	*fleet;		/* its client, opened on first use */
};

/* Long options every command accepts besides its own. */
#define OPT_JSON	0x1001
#define OPT_STORE	0x1002
#define OPT_DONE	0x1fff	/* cli_getopt: stop, return c->exit */
#define CLI_COMMON_OPTIONS \
	{ "help", no_argument, NULL, 'h' }, \
	{ "json", no_argument, NULL, OPT_JSON }, \
	{ "store", required_argument, NULL, OPT_STORE }
/* Their help text, in every command's help and the overview. */
#define STORE_OPT_HELP \
	"  --store DIR   use the store in DIR (default: $APPUSER_STORE or " \
	APPUSER_DEFAULT_STORE ")\n" \
	"  --json        machine-readable output\n" \
	"  -h, --help    show this help\n"

/* The plumbing (admin/util.c) from here to cli_count_tokens, except where
 * another file is named. */

/*
 * getopt_long for a command: handles --help (prints the command's help),
 * --json, --store and errors itself.  Returns the next command-specific
 * option, -1 at the end (positionals then start at optind), or OPT_DONE
 * with c->exit set (0 after --help, EXIT_ERROR after a usage error).
 */
int cli_getopt(struct cli *c, int argc, char **argv,
    const struct option *longopts);

/* Usage error: "appuser: <what>: <message> (usage: ...)"; EXIT_ERROR. */
int cli_usage(struct cli *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Check the number of positionals left after options. */
int cli_nargs(struct cli *c, int argc, char **argv, int min, int max);

/*
 * The start of a command that has only the common options: cli_getopt,
 * then cli_nargs(min, max).  True: go on, the arguments are at
 * argv[optind].  False: stop and return c->exit (0 after --help, else the
 * error's exit status; the error is printed).
 */
bool cli_plain_args(struct cli *c, int argc, char **argv, int min, int max);

/* "appuser: <what>: <message>" on stderr. */
void cli_err(struct cli *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void cli_verr(struct cli *c, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

/* Exit status for an APPUSER_ERR_* code (0 for 0). */
int cli_exit_for(int r);

/*
 * Report a failed store call: "appuser: <what>: <message>: <error>", plus a
 * hint for the error where one helps (permissions, busy, corrupt...).
 * Returns cli_exit_for(r).
 */
int cli_store_err(struct cli *c, int r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Print the help of one command (util.c) / of a group or everything
 * (main.c). */
void cli_print_help(const struct command *cmd, FILE *f);
int cli_help_main(struct cli *c, int argc, char **argv);

/*
 * Open the master for a change: refuses (EXIT_ERROR) unless the caller owns
 * the store directory, opens with STORE_WRITE and installs the NSS
 * collision check, which then ignores the store's own admin group.  When
 * the store does not exist yet, the admin group it would create (the
 * defaults, or c->new_admin_*) first gets the host check users get: a name
 * or gid the host resolves is refused (EXIT_REFUSED) and nothing is
 * created.  Returns an exit status; *stp on success.
 */
int cli_open_write(struct cli *c, struct store **stp);

/*
 * The same for a command about an existing user NAME: without a store
 * there is no such user, so it refuses (EXIT_REFUSED) rather than create
 * an empty store.
 */
int cli_open_user_write(struct cli *c, const char *name, struct store **stp);

/* Is there no store (no master file) yet? */
bool cli_store_missing(struct cli *c);

/*
 * Open the master read-only (token data: owner only) / the public snapshot
 * (anyone).  Both print their errors and return an exit status; a store that
 * does not exist yet is not an error: *stp / *vp is then NULL.
 */
int cli_open_master(struct cli *c, struct store **stp);
int cli_open_view(struct cli *c, struct idview **vp);

/* Does the caller own the store directory?  (false when missing) */
bool cli_is_owner(struct cli *c, uid_t *ownerp);

/* NSS collision state (admin/nss.c). */
struct nss_check;
void nss_check_reset(struct nss_check *n);
int nss_collision(const char *name, uint32_t id, void *arg);
/* Describe the last collision found ("" when none); owned by n. */
const char *nss_check_last(const struct nss_check *n);
bool nss_check_name_hit(const struct nss_check *n);
bool nss_check_id_hit(const struct nss_check *n);
/*
 * The store's own admin group (name copied; NULL: none): with appuser in
 * nsswitch.conf our module answers for it, and a host answer with exactly
 * this name and gid is that, not a collision.
 */
void nss_check_own_group(struct nss_check *n, const char *name,
    uint32_t gid);
/*
 * Speed-ups: host lookups made early, in a few threads, whose answers later
 * calls of nss_collision use (a name or id not looked up, or not free, is
 * looked up again when asked).  Names stay the caller's, alive until the
 * answers expire: at the next begin or prefetch, or at clear.
 *
 * Fed while the caller works (the agent adds each user as it reads it):
 * nss_check_prefetch_begin starts the threads; nss_check_prefetch_add
 * queues a name (as user and group; NULL: none) and an id (as uid and gid;
 * 0: none); nss_check_prefetch_wait lets the threads finish the queue and
 * makes the answers usable.  Errors: NOMEM (then the lookups happen one by
 * one, as asked), INVALID (add without begin).
 */
int nss_check_prefetch_begin(struct nss_check *n);
int nss_check_prefetch_add(struct nss_check *n, const char *name,
    uint32_t id);
void nss_check_prefetch_wait(struct nss_check *n);
/* All at once, for import: names[0..nnames) and the ids id_first..
 * (nids of them); returns with the answers ready. */
int nss_check_prefetch(struct nss_check *n, const char *const *names,
    size_t nnames, uint32_t id_first, size_t nids);
/* Drop the lookups not yet started, wait for the others, then forget
 * every answer (and the names). */
void nss_check_prefetch_clear(struct nss_check *n);

/* The collision check the write commands install (one per process). */
struct nss_check *cli_nss(void);

/* syslog: one line per mutation, with who ran it.  Never a secret. */
void cli_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Records collected from a walk (its views die with the callback): owned
 * pointers, each freed with free_rec.  rec_vec_push takes p (NULL counts
 * as out of memory, a failed user_dup) and returns 0 or APPUSER_ERR_NOMEM,
 * which it also keeps in err, so that a walk's callback can return it.
 * rec_vec_sort sorts with qsort's cmp (given pointers to the pointers).
 */
struct rec_vec {
	void	**v;
	size_t	  n;
	size_t	  cap;
	int	  err;
	void	(*free_rec)(void *);
};
int rec_vec_push(struct rec_vec *rv, void *p);
void rec_vec_sort(struct rec_vec *rv, int (*cmp)(const void *, const void *));
void rec_vec_free(struct rec_vec *rv);
/* free_rec for users and tokens; walk callbacks that push a copy of the
 * record into the rec_vec given as arg. */
void rec_free_user(void *u);
void rec_free_token(void *t);
int rec_collect_user(const struct user *u, void *arg);
int rec_collect_token(const struct token *t, void *arg);
/* rec_vec_sort's order for tokens: by user, then age, then id (the order
 * token list and audit print). */
int rec_cmp_token(const void *a, const void *b);

/*
 * Aligned table (admin/table.c).  table_emit prints the table on stdout
 * and frees it; when not complete (table_new or a table_add failed: t may
 * be NULL) it says "out of memory" instead.  It returns the exit status.
 */
struct table;
struct table *table_new(size_t ncols, const char *const *headers);
int table_add(struct table *t, const char *const *cells);
int table_emit(struct table *t, bool complete);
void table_free(struct table *t);

/* JSON output helpers (admin/json.c); every json_* result checked. */
struct json_t;
int cli_json_print(struct json_t *v);		/* steals v */
struct json_t *json_user(const struct user *u);
struct json_t *json_token(const struct token *t, int64_t now);
struct json_t *json_time(int64_t t);		/* RFC 3339 or null */
/* An array of rv's records, each from to_json; NULL: out of memory. */
struct json_t *json_list(const struct rec_vec *rv,
    struct json_t *(*to_json)(const void *rec, int64_t now), int64_t now);

/* "active", "expired" or "revoked". */
const char *token_status(const struct token *t, int64_t now);

/* write(2) all of p to fd, through EINTR.  0, or -1 with errno. */
int cli_write_all(int fd, const char *p, size_t len);

/* Now, in unix seconds. */
int64_t cli_now(void);

/*
 * Count the tokens of user (NULL: of everyone) in st, only the active ones
 * (token_status) if active_only.  Returns an APPUSER_ERR_* code.  *np is
 * set also on failure, to what was counted before the walk stopped: check
 * reports that much of a broken store.
 */
int cli_count_tokens(struct store *st, const char *user, bool active_only,
    size_t *np);

/* The token_fn behind it, for other sources of tokens (the fleet). */
struct token_count {
	size_t	n;
	bool	active_only;
	int64_t	now;
};
int cli_count_token(const struct token *t, void *arg);

/*
 * What the reports (audit, metrics) read (admin/audit.c): every user and
 * every token, as owned copies (user_dup, token_dup), users sorted by
 * name, tokens by user and creation.  records_load is their one source:
 * the local master now (the store's owner only; no store yet: nothing, not
 * an error); a fleet source is to fill the same structure, leaving
 * last_use false (last use stays on each host).  It prints its errors and
 * returns an exit status.
 */
struct records {
	struct rec_vec	users;		/* struct user * */
	struct rec_vec	tokens;		/* struct token * */
	bool		last_use;	/* tokens carry their last use */
	int64_t		now;		/* when they were read */
};
int records_load(struct cli *c, struct records *rs);
void records_free(struct records *rs);

/*
 * The audit's rules (admin/audit.c), shared by audit and metrics.  A
 * finding points into the records it was made from (user NULL: about the
 * whole store; t NULL: about a user); message never holds a secret.
 */
enum severity { SEV_INFO, SEV_LOW, SEV_MEDIUM, SEV_HIGH };
#define SEV_COUNT	4
struct finding {
	enum severity		 severity;
	const char		*code;		/* "token-unused"... */
	const char		*user;
	const struct token	*t;
	char			 message[256];
};
struct audit_opts {
	int64_t	unused;		/* seconds: --unused */
	int64_t	expiring;	/* --expiring */
	int64_t	max_age;	/* --max-age */
};
#define AUDIT_UNUSED_DEFAULT	(90 * 86400)
#define AUDIT_EXPIRING_DEFAULT	(14 * 86400)
#define AUDIT_MAX_AGE_DEFAULT	(365 * 86400)
/* Every code with its severity, in the order the help lists them. */
struct audit_code {
	const char	*code;
	enum severity	 severity;
};
extern const struct audit_code audit_codes[];
extern const size_t audit_ncodes;
/* Findings of rs into fv (struct finding *, free_rec set here), most
 * severe first.  0 or APPUSER_ERR_NOMEM. */
int audit_run(const struct records *rs, const struct audit_opts *o,
    struct rec_vec *fv);
const char *severity_name(enum severity s);
/* "high", "medium", "low", "info": 0 and *sp, or APPUSER_ERR_INVALID. */
int severity_parse(const char *s, enum severity *sp);

/*
 * Checks and refusals shared by the commands (admin/usercheck.c); where
 * prefixes messages ("line 3: " or "").  Each returns an exit status and
 * prints its error.  cli_check_user checks a new user's fields;
 * cli_add_error explains why store_user_add refused u.
 */
int cli_check_name(struct cli *c, const char *where, const char *name);
int cli_check_user(struct cli *c, const char *where, const struct user *u);
int cli_add_error(struct cli *c, struct store *st, int r, const char *where,
    const struct user *u);

/* The start of a command that takes exactly one argument, a user name:
 * true with *namep = that name once cli_check_name accepts it. */
bool cli_one_name(struct cli *c, int argc, char **argv, const char **namep);

/*
 * One line of an import file (admin/cmd_import.c): a JSON object with the
 * user's fields, validated as create validates them.  Errors name src and
 * line.  *objp is set whenever the line was JSON, also on an error, and
 * owns the strings of *u: the caller json_decref()s it.  Returns an exit
 * status.  (A function of its own so that tests/fuzz can call it.)
 */
struct json_t;
int import_parse_line(struct cli *c, const char *src, size_t line,
    const char *s, size_t len, struct json_t **objp, struct user *u);

/* Command functions. */
int cmd_create(struct cli *, int, char **);
int cmd_delete(struct cli *, int, char **);
int cmd_list(struct cli *, int, char **);
int cmd_show(struct cli *, int, char **);
int cmd_admin_grant(struct cli *, int, char **);
int cmd_admin_revoke(struct cli *, int, char **);
int cmd_token_create(struct cli *, int, char **);
int cmd_token_list(struct cli *, int, char **);
int cmd_token_revoke(struct cli *, int, char **);
int cmd_token_rotate(struct cli *, int, char **);
int cmd_audit(struct cli *, int, char **);
int cmd_metrics(struct cli *, int, char **);
int cmd_config_show(struct cli *, int, char **);
int cmd_config_set(struct cli *, int, char **);
int cmd_check(struct cli *, int, char **);
int cmd_import(struct cli *, int, char **);
int cmd_fleet_status(struct cli *, int, char **);

/*
 * Fleet mode (admin/cmd_fleet.c): the store calls of the commands above,
 * made against the fleet's etcd (fleet.h).  Each prints its own errors and
 * returns an exit status (etcd unreachable: EXIT_ERROR, naming the
 * endpoints).
 */
int fleet_cli_open(struct cli *c);
int fleet_cli_users_add(struct cli *c, const struct user *in, size_t n,
    const char *const *where, struct user **created, size_t *donep);
int fleet_cli_user_get(struct cli *c, const char *name, struct user **up);
int fleet_cli_user_foreach(struct cli *c, user_fn fn, void *arg);
int fleet_cli_user_delete(struct cli *c, const char *name, struct user **up,
    size_t *ntokp);
int fleet_cli_set_admin(struct cli *c, const char *name, bool admin,
    bool *wasp);
int fleet_cli_token_add(struct cli *c, const char *name, struct token *t,
    char *tok, struct user **ownerp);
int fleet_cli_token_foreach(struct cli *c, const char *name, token_fn fn,
    void *arg);
int fleet_cli_token_revoke(struct cli *c, const char *name, const char *id,
    token_fn fn, void *arg, bool *alreadyp);
int fleet_cli_token_rotate(struct cli *c, const char *name,
    const char *old_id, int64_t grace, char *tok, struct token **ntp,
    struct token **otp);
int fleet_cli_meta(struct cli *c, struct meta *m, void **holdp);
void fleet_cli_meta_free(void *hold);
int fleet_cli_config_set(struct cli *c, const char *name, uint32_t min,
    uint32_t max);

#endif
