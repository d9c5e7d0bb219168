/*
 * pam_appuser through the real libpam: pam_wrapper (LD_PRELOAD) points
 * pam_start at service files in a temporary directory that load
 * build/pam_appuser.so by absolute path; libpamtest runs the PAM calls.
 *
 * Run directly (build/tests/test_pam): without PAM_WRAPPER=1 in the
 * environment the program creates the temporary directory, re-runs itself
 * under pam_wrapper and removes the directory afterwards.
 *
 * A module returning PAM_IGNORE is invisible to an application, so the
 * "sentinel" services stack it as [ignore=ignore default=done] above
 * pam_debug.so returning PAM_CRED_INSUFFICIENT (a code pam_appuser never
 * returns): the application sees SENTINEL exactly when pam_appuser ignored.
 * One test also calls pam_sm_authenticate itself (dlopen) to see the
 * literal PAM_IGNORE.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpamtest.h>
#include <security/pam_appl.h>
#include <security/pam_modules.h>
#include <sodium.h>

#include "appuser.h"
#include "fsutil.h"
#include "names.h"
#include "record.h"
#include "store.h"
#include "token.h"

#include "token_fixture.h"

#define SENTINEL	PAM_CRED_INSUFFICIENT
#define NOBODY		65534
#define MISSING_STORE	"/nonexistent/appuser-test-store"
#define MAX_MSGS	8


/* Tokens minted in the group setup (all for the store g.store). */
enum tok {
	T_BOT,		/* ci-bot, plain */
	T_DEPLOY,	/* deploy, plain */
	T_REVOKED,	/* ci-bot, revoked */
	T_SHORT,	/* ci-bot, max age 2 s */
	T_EXTEND,	/* ci-bot, extend_when_used, half its life gone */
	T_ALLOW,	/* ci-bot, allow_from 10.0.0.0/8 2001:db8::/32 */
	T_LOCAL,	/* ci-bot, allow_from local */
	T_SCOPE,	/* ci-bot, scope sshd */
	T_SOON,		/* ci-bot, expires in 3 days + 10 min */
	T_EXTSOON,	/* ci-bot, max age 2 days, extend, 1 day gone */
	T_DOOMED,	/* doomed, plain (user deleted by a test) */
	T_GONE,		/* gone, plain (user deleted between auth/account) */
	T_MAX
};

static struct {
	char	 tmp[256];		/* temporary root */
	char	 store[PATH_MAX];
	char	 svcdir[PATH_MAX];
	char	 module[PATH_MAX];	/* build/pam_appuser.so */
	char	 passdb[PATH_MAX];	/* pam_matrix users */
	char	 tok[T_MAX][TOKEN_LEN + 1];
	char	 id[T_MAX][TOKEN_ID_LEN + 1];
	time_t	 short_created;
	bool	 quick;			/* under valgrind: fewer rounds */
} g;

/* ------------------------------------------------------------------ */
/* Conversation: answers prompts in order, records what the module says. */

struct conv {
	const char	*answers[4];
	int		 n_prompts;
	char		 prompt[MAX_MSGS][PAM_MAX_MSG_SIZE];
	char		 info[MAX_MSGS][PAM_MAX_MSG_SIZE];
	int		 n_info;
	char		 err[MAX_MSGS][PAM_MAX_MSG_SIZE];
	int		 n_err;
};

static void
save_msg(char dst[][PAM_MAX_MSG_SIZE], int *n, const char *msg)
{
	if (*n < MAX_MSGS)
		snprintf(dst[(*n)++], PAM_MAX_MSG_SIZE, "%s", msg);
}

static int
test_conv(int n, const struct pam_message **msg, struct pam_response **resp,
    void *arg)
{
	struct conv *cv = arg;
	struct pam_response *r;
	int i;

	if ((r = calloc((size_t)n, sizeof(*r))) == NULL)
		return PAM_BUF_ERR;
	for (i = 0; i < n; i++) {
		switch (msg[i]->msg_style) {
		case PAM_PROMPT_ECHO_OFF:
		case PAM_PROMPT_ECHO_ON:
			if (cv->n_prompts < MAX_MSGS)
				snprintf(cv->prompt[cv->n_prompts],
				    PAM_MAX_MSG_SIZE, "%s", msg[i]->msg);
			if (cv->n_prompts >= 4 ||
			    cv->answers[cv->n_prompts] == NULL) {
				cv->n_prompts++;
				free(r);
				return PAM_CONV_ERR;
			}
			r[i].resp = strdup(cv->answers[cv->n_prompts++]);
			break;
		case PAM_TEXT_INFO:
			save_msg(cv->info, &cv->n_info, msg[i]->msg);
			break;
		case PAM_ERROR_MSG:
			save_msg(cv->err, &cv->n_err, msg[i]->msg);
			break;
		}
	}
	*resp = r;
	return PAM_SUCCESS;
}

/* ------------------------------------------------------------------ */
/* Running PAM */

#define AUTH(rv)	pam_test(PAMTEST_AUTHENTICATE, rv)
#define ACCT(rv)	pam_test(PAMTEST_ACCOUNT, rv)
#define CRED(rv)	pam_test(PAMTEST_SETCRED, rv)
#define OPEN(rv)	pam_test(PAMTEST_OPEN_SESSION, rv)
#define CLOSE(rv)	pam_test(PAMTEST_CLOSE_SESSION, rv)
#define PASSWD(rv)	pam_test(PAMTEST_CHAUTHTOK, rv)

static const char *
op_name(enum pamtest_ops op)
{
	static const char *names[] = { "authenticate", "setcred", "acct_mgmt",
	    "open_session", "close_session", "chauthtok" };

	return (unsigned)op < 6 ? names[op] : "?";
}

/*
 * libpamtest on a handle we started, so that PAM_RHOST can be set first
 * (rhost NULL: a local session).  Fails the test on the first case whose
 * return code differs, naming both codes.
 */
static void
run_cases_(const char *service, const char *user, const char *rhost,
    struct conv *cv, struct pam_testcase *cases, size_t n)
{
	struct pam_conv conv = { test_conv, cv };
	const struct pam_testcase *bad;
	pam_handle_t *ph = NULL;
	enum pamtest_err perr;

	assert_int_equal(pam_start(service, user, &conv, &ph), PAM_SUCCESS);
	if (rhost != NULL)
		assert_int_equal(pam_set_item(ph, PAM_RHOST, rhost),
		    PAM_SUCCESS);
	perr = _pamtest_conv(service, user, test_conv, cv, cases, n, ph);
	if (perr == PAMTEST_ERR_CASE &&
	    (bad = _pamtest_failed_case(cases, n)) != NULL)
		fail_msg("%s as %s via %s: %s returned %d (%s), wanted %d (%s)",
		    service, user, rhost ? rhost : "local",
		    op_name(bad->pam_operation), bad->op_rv,
		    pam_strerror(NULL, bad->op_rv), bad->expected_rv,
		    pam_strerror(NULL, bad->expected_rv));
	assert_int_equal(perr, PAMTEST_ERR_OK);
}
#define run_cases(svc, user, rhost, cv, cases) \
	run_cases_(svc, user, rhost, cv, cases, sizeof(cases) / sizeof(cases[0]))

/* One authentication with one answer; returns pam_authenticate's code. */
static int
auth_once(const char *service, const char *user, const char *rhost,
    const char *answer)
{
	struct conv cv = { .answers = { answer } };
	struct pam_conv conv = { test_conv, &cv };
	pam_handle_t *ph = NULL;
	int rv;

	if (pam_start(service, user, &conv, &ph) != PAM_SUCCESS)
		return -1;
	if (rhost != NULL && pam_set_item(ph, PAM_RHOST, rhost) != PAM_SUCCESS)
		rv = -1;
	else
		rv = pam_authenticate(ph, 0);
	pam_end(ph, rv);
	return rv;
}

/*
 * pam_wrapper passes pam_syslog() to its own log on stderr ("SYSLOG"
 * lines, printed when PAM_WRAPPER_DEBUGLEVEL allows).  log_start() sends
 * stderr to a file, log_stop() restores it and opens the file for reading.
 */
struct logcap {
	char	 path[PATH_MAX];
	int	 saved;
	char	*level;
};

static void
log_start(struct logcap *lc)
{
	const char *old = getenv("PAM_WRAPPER_DEBUGLEVEL");
	int fd;

	snprintf(lc->path, sizeof(lc->path), "%s/log", g.tmp);
	lc->level = old != NULL ? strdup(old) : NULL;
	assert_true((fd = open(lc->path, O_WRONLY | O_CREAT | O_TRUNC |
	    O_CLOEXEC, 0600)) >= 0);
	fflush(stderr);
	assert_true((lc->saved = dup(2)) >= 0);
	assert_int_equal(dup2(fd, 2), 2);
	close(fd);
	setenv("PAM_WRAPPER_DEBUGLEVEL", "3", 1);
}

static FILE *
log_stop(struct logcap *lc)
{
	FILE *f;

	if (lc->level != NULL)
		setenv("PAM_WRAPPER_DEBUGLEVEL", lc->level, 1);
	else
		unsetenv("PAM_WRAPPER_DEBUGLEVEL");
	free(lc->level);
	fflush(stderr);
	dup2(lc->saved, 2);
	close(lc->saved);
	assert_non_null(f = fopen(lc->path, "r"));
	return f;
}

/* How many module log lines contain every one of the (NULL-ended) words. */
static int
log_count(FILE *f, ...)
{
	char line[1024];
	const char *w;
	va_list ap;
	bool all;
	int n = 0;

	rewind(f);
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strstr(line, "SYSLOG") == NULL)
			continue;
		all = true;
		va_start(ap, f);
		while ((w = va_arg(ap, const char *)) != NULL)
			if (strstr(line, w) == NULL)
				all = false;
		va_end(ap);
		n += all;
	}
	return n;
}

/* ------------------------------------------------------------------ */
/* Fixtures: the store is filled through the library. */

static struct store *
open_writer(void)
{
	struct store *st = NULL;
	int r;

	if ((r = store_open(g.store, STORE_WRITE, &st)) != 0)
		fail_msg("store_open(%s): %s", g.store, appuser_strerror(r));
	return st;
}

static void
add_user(const char *name)
{
	struct store *st = open_writer();
	struct user u = { .name = name };
	int r;

	if ((r = store_user_add(st, &u, NULL)) != 0)
		fail_msg("store_user_add(%s): %s", name, appuser_strerror(r));
	store_close(st);
}

static void
delete_user(const char *name)
{
	struct store *st = open_writer();

	assert_int_equal(store_user_delete(st, name), 0);
	store_close(st);
}

struct tokspec {
	const char	*user;
	int64_t		 age;		/* seconds since creation */
	int64_t		 max_age;	/* 0: never expires */
	bool		 extend;
	const char	*allow;
	const char	*scope;
};

static void
add_token(enum tok which, const struct tokspec *s)
{
	struct store *st = open_writer();
	struct token t;
	struct user *u = NULL;
	char **scope = NULL;
	int64_t now = (int64_t)time(NULL);
	int r;

	memset(&t, 0, sizeof(t));
	assert_int_equal(store_user_get(st, s->user, &u), 0);
	assert_int_equal(token_generate(g.tok[which], t.id, t.verifier), 0);
	memcpy(g.id[which], t.id, sizeof(t.id));
	t.user = s->user;
	t.uid = u->uid;
	t.description = "test";
	t.create_time = now - s->age;
	t.max_age_seconds = s->max_age;
	t.extend_when_used = s->extend;
	t.expiry_time = s->max_age ? t.create_time + s->max_age : 0;
	t.last_ip = "";
	t.last_service = "";
	if (s->allow != NULL)
		assert_int_equal(parse_allow_list(s->allow, &t.allow,
		    &t.n_allow), 0);
	if (s->scope != NULL) {
		assert_int_equal(parse_scope_list(s->scope, &scope,
		    &t.n_scope), 0);
		t.scope = (const char **)scope;
	}
	if ((r = store_token_add(st, &t)) != 0)
		fail_msg("store_token_add: %s", appuser_strerror(r));
	free(t.allow);
	strv_free(scope);
	user_free(u);
	store_close(st);
}

static struct token *
get_token(enum tok which)
{
	struct store *st = NULL;
	struct token *t = NULL;

	assert_int_equal(store_open(g.store, STORE_READ, &st), 0);
	assert_int_equal(store_token_get(st, g.id[which], &t), 0);
	store_close(st);
	return t;
}

/* Same id, other bytes from position pos on, checksum recomputed. */
static void
forge(const char *tok, size_t pos, char out[TOKEN_LEN + 1])
{
	memcpy(out, tok, TOKEN_LEN + 1);
	out[pos] = out[pos] == 'a' ? 'b' : 'a';
	fx_fix_crc(out);
}

/* Plain stdio: also used by the parent, before cmocka runs. */
static int
write_file(const char *dir, const char *name, const char *fmt, ...)
{
	char path[PATH_MAX];
	va_list ap;
	FILE *f;
	int r;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((f = fopen(path, "w")) == NULL)
		return -1;
	va_start(ap, fmt);
	r = vfprintf(f, fmt, ap) < 0 ? -1 : 0;
	va_end(ap);
	if (fclose(f) != 0 || chmod(path, 0644) != 0)
		r = -1;
	return r;
}

/* A service using pam_appuser for every type with control ctl. */
static int
service_plain(const char *name, const char *ctl, const char *store,
    const char *opts)
{
	return write_file(g.svcdir, name,
	    "auth %s %s store=%s %s\n"
	    "account %s %s store=%s %s\n"
	    "session %s %s store=%s %s\n"
	    "password %s %s store=%s %s\n",
	    ctl, g.module, store, opts, ctl, g.module, store, opts,
	    ctl, g.module, store, opts, ctl, g.module, store, opts);
}

/*
 * pam_wrapper copies the service directory when the program starts, so the
 * parent writes every service file before re-running the program.
 */
static int
write_services(void)
{
	const char *dbg = "/usr/lib/x86_64-linux-gnu/security/pam_debug.so";
	const char *pw = "/usr/lib/x86_64-linux-gnu/pam_wrapper";
	const char *sent = "[ignore=ignore default=done]";
	const char *strict = "[success=done ignore=ignore authinfo_unavail=ignore "
	    "user_unknown=ignore default=die]";
	const char *acct = "[success=done perm_denied=die user_unknown=die "
	    "default=ignore]";
	char corrupt[PATH_MAX - 16], path[PATH_MAX];
	int r = 0;

	r |= write_file(g.svcdir, "other", "auth required pam_deny.so\n"
	    "account required pam_deny.so\npassword required pam_deny.so\n"
	    "session required pam_deny.so\n");
	r |= service_plain("appuser", "required", g.store, "");
	r |= service_plain("sshd", "required", g.store, "");
	r |= service_plain("sudo", "required", g.store, "");
	r |= service_plain("nostore", "required", MISSING_STORE, "");
	/* a store whose files are none of them what they claim to be */
	snprintf(corrupt, sizeof(corrupt), "%s/corrupt", g.tmp);
	r |= mkdir(corrupt, 0755);
	r |= write_file(corrupt, "store.tdb", "this is not a tdb file\n");
	r |= write_file(corrupt, "identity.snap", "not a snapshot\n");
	r |= write_file(corrupt, "tokens.snap", "not a snapshot\n");
	snprintf(path, sizeof(path), "%s/store.tdb", corrupt);
	r |= chmod(path, 0600);
	snprintf(path, sizeof(path), "%s/tokens.snap", corrupt);
	r |= chmod(path, 0600);
	snprintf(path, sizeof(path), "%s/identity.snap", corrupt);
	r |= chmod(path, 0644);
	r |= service_plain("corrupt", "required", corrupt, "");
	r |= service_plain("quiet", "required", g.store, "quiet");
	r |= service_plain("warn2", "required", g.store, "warn_expire=2");
	r |= service_plain("prompt", "required", g.store, "[prompt=Access token: ]");
	r |= service_plain("odd", "required", g.store, "frobnicate=1 warn_expire=x");
	r |= write_file(g.svcdir, "sentinel",
	    "auth %s %s store=%s\nauth requisite %s auth=cred_insufficient "
	    "cred=cred_insufficient\n"
	    "account %s %s store=%s\naccount requisite %s acct=cred_insufficient\n"
	    "session %s %s store=%s\nsession requisite %s "
	    "open_session=cred_insufficient close_session=cred_insufficient\n"
	    "password %s %s store=%s\npassword requisite %s "
	    "prechauthtok=cred_insufficient chauthtok=cred_insufficient\n",
	    sent, g.module, g.store, dbg, sent, g.module, g.store, dbg,
	    sent, g.module, g.store, dbg, sent, g.module, g.store, dbg);
	/* the recommended line above a password module (pam_matrix) */
	r |= write_file(g.svcdir, "stack",
	    "auth sufficient %s store=%s\nauth required %s/pam_matrix.so "
	    "passdb=%s\n", g.module, g.store, pw, g.passdb);
	r |= write_file(g.svcdir, "stack_nostore",
	    "auth sufficient %s store=%s\nauth required %s/pam_matrix.so "
	    "passdb=%s\n", g.module, MISSING_STORE, pw, g.passdb);
	/* the lines of the pam-auth-update profile and the man page */
	r |= write_file(g.svcdir, "profile", "auth %s %s store=%s\n"
	    "auth required %s/pam_matrix.so passdb=%s\n"
	    "account %s %s store=%s token_only\naccount required pam_permit.so\n",
	    strict, g.module, g.store, pw, g.passdb, acct, g.module, g.store);
	r |= write_file(g.svcdir, "profile_nostore", "auth %s %s store=%s\n"
	    "auth required %s/pam_matrix.so passdb=%s\n"
	    "account %s %s store=%s token_only\naccount required pam_permit.so\n",
	    strict, g.module, MISSING_STORE, pw, g.passdb, acct, g.module,
	    MISSING_STORE);
	/* an earlier module sets PAM_AUTHTOK (from $PAM_AUTHTOK) */
	r |= write_file(g.svcdir, "first_pass",
	    "auth required %s/pam_set_items.so\nauth required %s store=%s "
	    "use_first_pass\n", pw, g.module, g.store);
	r |= write_file(g.svcdir, "try_first",
	    "auth required %s/pam_set_items.so\nauth required %s store=%s "
	    "try_first_pass\n", pw, g.module, g.store);
	/* auth without a token (as sshd's publickey), then account */
	r |= write_file(g.svcdir, "token_only",
	    "auth required %s/pam_matrix.so passdb=%s\n"
	    "account required %s store=%s token_only\n"
	    "account required %s/pam_matrix.so passdb=%s\n",
	    pw, g.passdb, g.module, g.store, pw, g.passdb);
	r |= write_file(g.svcdir, "token_only_ok",
	    "auth required %s store=%s\n"
	    "account required %s store=%s token_only\n",
	    g.module, g.store, g.module, g.store);
	r |= write_file(g.tmp, "passdb", "alice:alicepw:token_only\n"
	    "ci-bot:botpw:token_only\n");
	return r;
}

static int
group_setup(void **state)
{
	const struct tokspec specs[T_MAX] = {
		[T_BOT] = { .user = "ci-bot" },
		[T_DEPLOY] = { .user = "deploy" },
		[T_REVOKED] = { .user = "ci-bot" },
		[T_SHORT] = { .user = "ci-bot", .max_age = 2 },
		[T_EXTEND] = { .user = "ci-bot", .age = 500, .max_age = 1000,
		    .extend = true },
		[T_ALLOW] = { .user = "ci-bot",
		    .allow = "10.0.0.0/8, 2001:db8::/32" },
		[T_LOCAL] = { .user = "ci-bot", .allow = "local" },
		[T_SCOPE] = { .user = "ci-bot", .scope = "sshd" },
		[T_SOON] = { .user = "ci-bot", .age = 600,
		    .max_age = 3 * 86400 + 1200 },
		[T_EXTSOON] = { .user = "ci-bot", .age = 86400,
		    .max_age = 2 * 86400 + 600, .extend = true },
		[T_DOOMED] = { .user = "doomed" },
		[T_GONE] = { .user = "gone" },
	};
	struct store *st;
	int i;

	(void)state;
	assert_int_equal(crypto_init(), 0);
	add_user("ci-bot");
	add_user("deploy");
	add_user("doomed");
	add_user("gone");
	for (i = 0; i < T_MAX; i++) {
		if (i == T_SHORT)
			g.short_created = time(NULL);
		add_token((enum tok)i, &specs[i]);
	}
	st = open_writer();
	assert_int_equal(store_token_revoke(st, "ci-bot", g.id[T_REVOKED]), 0);
	store_close(st);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Tests */

static void
test_valid_token_full_stack(void **state)
{
	struct conv cv = { .answers = { g.tok[T_BOT] } };
	struct pam_testcase cases[] = {
		AUTH(PAM_SUCCESS), CRED(PAM_SUCCESS), ACCT(PAM_SUCCESS),
		OPEN(PAM_SUCCESS), CLOSE(PAM_SUCCESS),
	};

	struct logcap lc = { "", -1, NULL };
	char pfx[32];
	FILE *f;

	(void)state;
	snprintf(pfx, sizeof(pfx), "token=apu_%s ", g.id[T_BOT]);
	log_start(&lc);
	run_cases("appuser", "ci-bot", "192.0.2.7", &cv, cases);
	f = log_stop(&lc);
	assert_int_equal(cv.n_prompts, 1);
	assert_string_equal(cv.prompt[0], "Token: ");
	assert_int_equal(cv.n_info, 0);		/* never expires: no warning */
	assert_int_equal(cv.n_err, 0);
	assert_int_equal(log_count(f, "accepted token apu_", "user=ci-bot",
	    (char *)NULL), 1);
	assert_int_equal(log_count(f, "session opened for user=ci-bot", pfx,
	    "service=appuser rhost=192.0.2.7", (char *)NULL), 1);
	assert_int_equal(log_count(f, "session closed for user=ci-bot", pfx,
	    "service=appuser rhost=192.0.2.7", (char *)NULL), 1);
	fclose(f);
}

static void
test_bookkeeping(void **state)
{
	struct token *t;
	time_t before = time(NULL);

	(void)state;
	assert_int_equal(auth_once("sshd", "ci-bot", "198.51.100.9",
	    g.tok[T_BOT]), PAM_SUCCESS);
	t = get_token(T_BOT);
	assert_true(t->last_used_time >= before);
	assert_true(t->last_used_time <= time(NULL));
	assert_string_equal(t->last_ip, "198.51.100.9");
	assert_string_equal(t->last_service, "sshd");
	token_free(t);
}

/*
 * ci-bot's token with one character changed is refused: in the secret or
 * the id with the checksum put right (forge), or in the checksum itself.
 * One function, a case each (its initial state), named as before.
 */
struct forgery {
	size_t		 pos;		/* the character changed */
	bool		 fix_crc;	/* checksum recomputed after */
};

static const struct forgery wrong_secret = { TOKEN_PREFIX_LEN + 3, true };
static const struct forgery unknown_id = { TOKEN_MAGIC_LEN + 2, true };
static const struct forgery flipped_checksum = { TOKEN_LEN - 1, false };

static void
test_forged(void **state)
{
	const struct forgery *fg = *state;
	char bad[TOKEN_LEN + 1];

	if (fg->fix_crc)
		forge(g.tok[T_BOT], fg->pos, bad);
	else {
		memcpy(bad, g.tok[T_BOT], sizeof(bad));
		bad[fg->pos] = bad[fg->pos] == '0' ? '1' : '0';
	}
	assert_int_equal(auth_once("appuser", "ci-bot", NULL, bad),
	    PAM_AUTH_ERR);
}

/* The table entry of case c (a struct forgery), as test_<c>. */
#define forged_test(c)							\
	{ .name = "test_" #c, .test_func = test_forged,			\
	    .initial_state = (void *)(uintptr_t)&(c) }

static void
test_other_users_token(void **state)
{
	(void)state;
	assert_int_equal(auth_once("appuser", "ci-bot", NULL,
	    g.tok[T_DEPLOY]), PAM_AUTH_ERR);
	assert_int_equal(auth_once("appuser", "deploy", NULL,
	    g.tok[T_BOT]), PAM_AUTH_ERR);
	assert_int_equal(auth_once("appuser", "deploy", NULL,
	    g.tok[T_DEPLOY]), PAM_SUCCESS);
}

static void
test_revoked(void **state)
{
	(void)state;
	assert_int_equal(auth_once("appuser", "ci-bot", NULL,
	    g.tok[T_REVOKED]), PAM_AUTH_ERR);
}

static void
test_deleted_user(void **state)
{
	(void)state;
	assert_int_equal(auth_once("appuser", "doomed", NULL,
	    g.tok[T_DOOMED]), PAM_SUCCESS);
	delete_user("doomed");
	/* no longer an application user at all */
	assert_int_equal(auth_once("sentinel", "doomed", NULL,
	    g.tok[T_DOOMED]), SENTINEL);
	assert_int_equal(auth_once("appuser", "doomed", NULL,
	    g.tok[T_DOOMED]), PAM_PERM_DENIED);	/* only IGNOREs */
}

static void
test_deleted_between_auth_and_account(void **state)
{
	struct conv cv = { .answers = { g.tok[T_GONE] } };
	struct pam_conv conv = { test_conv, &cv };
	pam_handle_t *ph = NULL;

	(void)state;
	assert_int_equal(pam_start("appuser", "gone", &conv, &ph), PAM_SUCCESS);
	assert_int_equal(pam_authenticate(ph, 0), PAM_SUCCESS);
	delete_user("gone");
	assert_int_equal(pam_acct_mgmt(ph, 0), PAM_USER_UNKNOWN);
	pam_end(ph, PAM_USER_UNKNOWN);
}

static void
test_expired(void **state)
{
	time_t wait;

	(void)state;
	/* created at setup with a max age of 2 s; wait it out */
	wait = g.short_created + 3 - time(NULL);
	if (wait > 0)
		sleep((unsigned)wait);
	assert_int_equal(auth_once("appuser", "ci-bot", NULL, g.tok[T_SHORT]),
	    PAM_AUTH_ERR);
}

static void
test_extend_when_used(void **state)
{
	struct token *t;
	int64_t before = (int64_t)time(NULL), old;

	(void)state;
	t = get_token(T_EXTEND);
	old = t->expiry_time;
	token_free(t);
	assert_true(old <= before + 500);
	assert_int_equal(auth_once("appuser", "ci-bot", NULL, g.tok[T_EXTEND]),
	    PAM_SUCCESS);
	t = get_token(T_EXTEND);
	assert_true(t->expiry_time >= before + 1000);
	assert_true(t->expiry_time <= (int64_t)time(NULL) + 1000);
	token_free(t);
}

/* A login from rhost (NULL: none) and its pam_authenticate code. */
struct from_case {
	const char	*rhost;
	int		 want;
};

/* ci-bot logs in with tk from each rhost; a failure names the rhost. */
static void
assert_from_each(const char *tk, const struct from_case *c, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		int r = auth_once("appuser", "ci-bot", c[i].rhost, tk);

		if (r != c[i].want)
			fail_msg("from %s: %d, want %d", c[i].rhost != NULL ?
			    c[i].rhost : "(no rhost)", r, c[i].want);
	}
}

static void
test_allow_from(void **state)
{
	static const struct from_case c[] = {
		{ "10.1.2.3", PAM_SUCCESS },
		{ "192.168.1.1", PAM_AUTH_ERR },
		{ "2001:db8::5", PAM_SUCCESS },
		{ "2001:db9::5", PAM_AUTH_ERR },
		{ "::ffff:10.9.8.7", PAM_SUCCESS },
		{ "::ffff:11.9.8.7", PAM_AUTH_ERR },
		/* a hostname is not an address and matches no CIDR */
		{ "ten.example", PAM_AUTH_ERR },
		{ NULL, PAM_AUTH_ERR },
	};

	(void)state;
	assert_from_each(g.tok[T_ALLOW], c, sizeof(c) / sizeof(c[0]));
}

static void
test_allow_local(void **state)
{
	static const struct from_case c[] = {
		{ NULL, PAM_SUCCESS },
		{ "", PAM_SUCCESS },
		{ "127.0.0.1", PAM_AUTH_ERR },
	};

	(void)state;
	assert_from_each(g.tok[T_LOCAL], c, sizeof(c) / sizeof(c[0]));
}

static void
test_scope(void **state)
{
	(void)state;
	assert_int_equal(auth_once("sshd", "ci-bot", NULL, g.tok[T_SCOPE]),
	    PAM_SUCCESS);
	assert_int_equal(auth_once("sudo", "ci-bot", NULL, g.tok[T_SCOPE]),
	    PAM_AUTH_ERR);
}

static void
test_non_app_user_ignored(void **state)
{
	struct conv cv = { .answers = { "whatever" } };
	struct pam_testcase cases[] = {
		AUTH(SENTINEL), CRED(SENTINEL), ACCT(SENTINEL),
		OPEN(SENTINEL), CLOSE(SENTINEL), PASSWD(SENTINEL),
	};

	(void)state;
	run_cases("sentinel", "root", NULL, &cv, cases);
	assert_int_equal(cv.n_prompts, 0);	/* never asked for a token */
	/* invalid names are nobody's: ignored, not an error */
	assert_int_equal(auth_once("sentinel", "Bad Name", NULL, "x"),
	    SENTINEL);
	assert_int_equal(auth_once("sentinel", "alice", NULL, "x"), SENTINEL);
}

/* The literal PAM_IGNORE, from the module's own entry point. */
static void
test_direct_pam_ignore(void **state)
{
	int (*fn)(pam_handle_t *, int, int, const char **);
	struct conv cv = { .answers = { NULL } };
	struct pam_conv conv = { test_conv, &cv };
	char storearg[PATH_MAX + 8];
	const char *argv[1] = { storearg };
	pam_handle_t *ph = NULL;
	void *dl;

	(void)state;
	snprintf(storearg, sizeof(storearg), "store=%s", g.store);
	assert_non_null(dl = dlopen(g.module, RTLD_NOW | RTLD_LOCAL));
	*(void **)&fn = dlsym(dl, "pam_sm_authenticate");
	assert_non_null(fn);
	assert_int_equal(pam_start("appuser", "root", &conv, &ph), PAM_SUCCESS);
	assert_int_equal(fn(ph, 0, 1, argv), PAM_IGNORE);
	*(void **)&fn = dlsym(dl, "pam_sm_acct_mgmt");
	assert_int_equal(fn(ph, 0, 1, argv), PAM_IGNORE);
	*(void **)&fn = dlsym(dl, "pam_sm_setcred");
	assert_int_equal(fn(ph, 0, 1, argv), PAM_IGNORE);
	*(void **)&fn = dlsym(dl, "pam_sm_chauthtok");
	assert_int_equal(fn(ph, PAM_PRELIM_CHECK, 1, argv), PAM_IGNORE);
	pam_end(ph, PAM_SUCCESS);
	/* the application user is not ignored (and has no token here) */
	assert_int_equal(pam_start("appuser", "ci-bot", &conv, &ph),
	    PAM_SUCCESS);
	*(void **)&fn = dlsym(dl, "pam_sm_authenticate");
	assert_int_equal(fn(ph, 0, 1, argv), PAM_AUTH_ERR);
	pam_end(ph, PAM_SUCCESS);
	dlclose(dl);
}

static void
test_local_user_falls_through(void **state)
{
	(void)state;
	assert_int_equal(auth_once("stack", "alice", NULL, "alicepw"),
	    PAM_SUCCESS);
	assert_int_equal(auth_once("stack", "alice", NULL, "nope"),
	    PAM_AUTH_ERR);
	/* the application user still gets in with the token */
	assert_int_equal(auth_once("stack", "ci-bot", NULL, g.tok[T_BOT]),
	    PAM_SUCCESS);
}

/* The stricter lines: a refused token does not fall through. */
static void
test_recommended_profile(void **state)
{
	struct conv c1 = { .answers = { "alicepw" } };
	struct conv c2 = { .answers = { g.tok[T_BOT] } };
	struct conv c3 = { .answers = { "alicepw" } };
	struct conv c4 = { .answers = { "botpw", "botpw" } };
	struct pam_testcase fallthrough[] = { AUTH(PAM_SUCCESS) };
	struct pam_testcase local[] = { AUTH(PAM_SUCCESS), ACCT(PAM_SUCCESS) };
	struct pam_testcase app[] = { AUTH(PAM_SUCCESS), ACCT(PAM_SUCCESS) };
	struct pam_testcase nostore[] = { AUTH(PAM_SUCCESS),
	    ACCT(PAM_SUCCESS) };

	(void)state;
	run_cases("profile", "alice", NULL, &c1, local);
	run_cases("profile", "ci-bot", NULL, &c2, app);
	/* ci-bot's pam_matrix password is never tried: the refusal dies */
	assert_int_equal(auth_once("profile", "ci-bot", NULL, "botpw"),
	    PAM_AUTH_ERR);
	/* whereas after "sufficient" pam_matrix asks again and accepts */
	run_cases("stack", "ci-bot", NULL, &c4, fallthrough);
	assert_int_equal(c4.n_prompts, 2);
	run_cases("profile_nostore", "alice", NULL, &c3, nostore);
}

static void
test_store_missing(void **state)
{
	(void)state;
	assert_int_equal(auth_once("nostore", "ci-bot", NULL, g.tok[T_BOT]),
	    PAM_AUTHINFO_UNAVAIL);
	assert_int_equal(auth_once("nostore", "alice", NULL, "alicepw"),
	    PAM_AUTHINFO_UNAVAIL);
	/* with the recommended "sufficient" line local users are unaffected */
	assert_int_equal(auth_once("stack_nostore", "alice", NULL, "alicepw"),
	    PAM_SUCCESS);
	assert_int_equal(auth_once("stack_nostore", "alice", NULL, "bad"),
	    PAM_AUTH_ERR);
}

/* In a child that dropped root, the 0600 master cannot be read. */
static void
test_store_unreadable(void **state)
{
	pid_t pid;
	int status = 0;

	(void)state;
	if (geteuid() != 0)
		skip();
	fflush(NULL);
	if ((pid = fork()) == 0) {
		/*
		 * Load the module while still root, as an installed module
		 * under /usr/lib would be readable: the checkout holding it
		 * may be in a directory nobody cannot enter (/root/appuser).
		 * libpam's dlopen of the same path then finds it loaded.
		 */
		if (dlopen(g.module, RTLD_NOW | RTLD_LOCAL) == NULL)
			_exit(101);
		if (setgroups(0, NULL) != 0 || setresgid(NOBODY, NOBODY,
		    NOBODY) != 0 || setresuid(NOBODY, NOBODY, NOBODY) != 0)
			_exit(100);
		/* exit, not _exit: pam_wrapper's destructor removes the
		 * directory it made for this (new) process */
		exit(auth_once("appuser", "ci-bot", NULL, g.tok[T_BOT]));
	}
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), PAM_AUTHINFO_UNAVAIL);
}

/*
 * A corrupt master: authentication is unavailable; the account stage
 * cannot tell who is an application user, so it ignores (default) or fails
 * closed (token_only).
 */
static void
test_store_corrupt(void **state)
{
	int (*acct)(pam_handle_t *, int, int, const char **);
	struct conv cv = { .answers = { NULL } };
	struct pam_conv conv = { test_conv, &cv };
	char storearg[PATH_MAX + 8];
	const char *argv[2] = { storearg, "token_only" };
	pam_handle_t *ph = NULL;
	void *dl;

	(void)state;
	assert_int_equal(auth_once("corrupt", "ci-bot", NULL, g.tok[T_BOT]),
	    PAM_AUTHINFO_UNAVAIL);
	assert_int_equal(auth_once("corrupt", "root", NULL, "pw"),
	    PAM_AUTHINFO_UNAVAIL);
	snprintf(storearg, sizeof(storearg), "store=%s/corrupt", g.tmp);
	assert_non_null(dl = dlopen(g.module, RTLD_NOW | RTLD_LOCAL));
	*(void **)&acct = dlsym(dl, "pam_sm_acct_mgmt");
	assert_non_null(acct);
	assert_int_equal(pam_start("corrupt", "root", &conv, &ph), PAM_SUCCESS);
	assert_int_equal(acct(ph, 0, 1, argv), PAM_IGNORE);
	assert_int_equal(acct(ph, 0, 2, argv), PAM_AUTHINFO_UNAVAIL);
	pam_end(ph, PAM_SUCCESS);
	dlclose(dl);
}

/* A store directory writable by others is refused (unsafe), not used. */
static void
test_store_unsafe(void **state)
{
	(void)state;
	assert_int_equal(chmod(g.store, 0777), 0);
	assert_int_equal(auth_once("appuser", "ci-bot", NULL, g.tok[T_BOT]),
	    PAM_AUTHINFO_UNAVAIL);
	assert_int_equal(chmod(g.store, 0755), 0);
	assert_int_equal(auth_once("appuser", "ci-bot", NULL, g.tok[T_BOT]),
	    PAM_SUCCESS);
}

static void
test_huge_token(void **state)
{
	char *big;

	(void)state;
	assert_non_null(big = malloc(64 * 1024 + 1));
	memset(big, 'A', 64 * 1024);
	memcpy(big, g.tok[T_BOT], TOKEN_LEN);	/* a real token, then junk */
	big[64 * 1024] = '\0';
	assert_int_equal(auth_once("appuser", "ci-bot", NULL, big),
	    PAM_AUTH_ERR);
	free(big);
}

static void
test_nul_and_newline(void **state)
{
	char buf[TOKEN_LEN + 3];

	(void)state;
	/* a NUL in the answer: libpam hands on a C string, cut at the NUL */
	memcpy(buf, g.tok[T_BOT], TOKEN_LEN + 1);
	buf[20] = '\0';
	assert_int_equal(auth_once("appuser", "ci-bot", NULL, buf),
	    PAM_AUTH_ERR);
	snprintf(buf, sizeof(buf), "%s\n", g.tok[T_BOT]);
	assert_int_equal(auth_once("appuser", "ci-bot", NULL, buf),
	    PAM_AUTH_ERR);
	snprintf(buf, sizeof(buf), "\n%s", g.tok[T_BOT]);
	assert_int_equal(auth_once("appuser", "ci-bot", NULL, buf),
	    PAM_AUTH_ERR);
	memcpy(buf, g.tok[T_BOT], TOKEN_LEN + 1);
	buf[30] = '\n';
	assert_int_equal(auth_once("appuser", "ci-bot", NULL, buf),
	    PAM_AUTH_ERR);
	assert_int_equal(auth_once("appuser", "ci-bot", NULL, ""),
	    PAM_AUTH_ERR);
}

static void
test_expiry_warning(void **state)
{
	struct conv cv = { .answers = { g.tok[T_SOON] } };
	struct conv quiet = { .answers = { g.tok[T_SOON] } };
	struct conv w2 = { .answers = { g.tok[T_SOON] } };
	struct pam_testcase cases[] = { AUTH(PAM_SUCCESS), ACCT(PAM_SUCCESS) };
	struct pam_testcase cases2[] = { AUTH(PAM_SUCCESS), ACCT(PAM_SUCCESS) };
	struct pam_testcase cases3[] = { AUTH(PAM_SUCCESS), ACCT(PAM_SUCCESS) };
	struct pam_testcase silent[] = {
		AUTH(PAM_SUCCESS), pam_test_flags(PAMTEST_ACCOUNT, PAM_SUCCESS,
		    PAM_SILENT),
	};
	struct conv cs = { .answers = { g.tok[T_SOON] } };
	char want[128];

	(void)state;
	snprintf(want, sizeof(want), "token apu_%s expires in 3 days",
	    g.id[T_SOON]);
	run_cases("appuser", "ci-bot", NULL, &cv, cases);
	assert_int_equal(cv.n_info, 1);
	assert_string_equal(cv.info[0], want);
	run_cases("quiet", "ci-bot", NULL, &quiet, cases2);
	assert_int_equal(quiet.n_info, 0);
	run_cases("warn2", "ci-bot", NULL, &w2, cases3);
	assert_int_equal(w2.n_info, 0);
	run_cases("appuser", "ci-bot", NULL, &cs, silent);
	assert_int_equal(cs.n_info, 0);
}

/* The warning tells the expiry as moved by this very login. */
static void
test_expiry_warning_after_extend(void **state)
{
	struct conv cv = { .answers = { g.tok[T_EXTSOON] } };
	struct pam_testcase cases[] = { AUTH(PAM_SUCCESS), ACCT(PAM_SUCCESS) };
	char want[128];

	(void)state;
	snprintf(want, sizeof(want), "token apu_%s expires in 2 days",
	    g.id[T_EXTSOON]);
	run_cases("appuser", "ci-bot", NULL, &cv, cases);
	assert_int_equal(cv.n_info, 1);
	assert_string_equal(cv.info[0], want);
}

/* One authentication of ci-bot after an earlier module's password. */
struct pass_step {
	const char	*authtok;	/* PAM_AUTHTOK already set, or NULL */
	const char	*answer;	/* to a prompt, if one comes */
	int		 want;		/* pam_authenticate's code */
	int		 prompts;	/* how many prompts came */
};

/* Each step through service; pam_set_items.so sets PAM_AUTHTOK from the
 * environment variable of that name. */
static void
run_pass_steps(const char *service, const struct pass_step *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		struct conv cv = { .answers = { s[i].answer } };
		struct pam_testcase cases[] = { AUTH(s[i].want) };

		if (s[i].authtok != NULL)
			setenv("PAM_AUTHTOK", s[i].authtok, 1);
		else
			unsetenv("PAM_AUTHTOK");
		run_cases(service, "ci-bot", NULL, &cv, cases);
		assert_int_equal(cv.n_prompts, s[i].prompts);
	}
	unsetenv("PAM_AUTHTOK");
}

static void
test_use_first_pass(void **state)
{
	/* never prompts */
	const struct pass_step steps[] = {
		{ g.tok[T_BOT], NULL, PAM_SUCCESS, 0 },
		{ "hunter2", NULL, PAM_AUTH_ERR, 0 },
		{ NULL, NULL, PAM_AUTH_ERR, 0 },
	};

	(void)state;
	run_pass_steps("first_pass", steps, sizeof(steps) / sizeof(steps[0]));
}

static void
test_try_first_pass(void **state)
{
	/* a password for an earlier module is not a token: ask once */
	const struct pass_step steps[] = {
		{ g.tok[T_BOT], NULL, PAM_SUCCESS, 0 },
		{ "hunter2", g.tok[T_BOT], PAM_SUCCESS, 1 },
		{ "hunter2", "still not a token", PAM_AUTH_ERR, 1 },
	};

	(void)state;
	run_pass_steps("try_first", steps, sizeof(steps) / sizeof(steps[0]));
}

static void
test_prompt_option(void **state)
{
	struct conv cv = { .answers = { g.tok[T_BOT] } };
	struct pam_testcase cases[] = { AUTH(PAM_SUCCESS) };

	(void)state;
	run_cases("prompt", "ci-bot", NULL, &cv, cases);
	assert_int_equal(cv.n_prompts, 1);
	assert_string_equal(cv.prompt[0], "Access token: ");
}

static void
test_unknown_option(void **state)
{
	struct logcap lc = { "", -1, NULL };
	FILE *f;

	(void)state;
	log_start(&lc);
	assert_int_equal(auth_once("odd", "ci-bot", NULL, g.tok[T_BOT]),
	    PAM_SUCCESS);
	f = log_stop(&lc);
	/* one line per call naming the first offender, the rest applies */
	assert_int_equal(log_count(f, "ignoring 2 unknown or malformed",
	    "frobnicate=1", (char *)NULL), 1);
	assert_int_equal(log_count(f, "ignoring", (char *)NULL), 1);
	fclose(f);
	assert_int_equal(auth_once("odd", "ci-bot", NULL, "nope"),
	    PAM_AUTH_ERR);
}

static void
test_token_only(void **state)
{
	struct conv c1 = { .answers = { "botpw" } };
	struct conv c2 = { .answers = { "alicepw" } };
	struct conv c3 = { .answers = { g.tok[T_BOT] } };
	struct pam_testcase planted[] = { AUTH(PAM_SUCCESS),
	    ACCT(PAM_PERM_DENIED) };
	struct pam_testcase local[] = { AUTH(PAM_SUCCESS), ACCT(PAM_SUCCESS) };
	struct pam_testcase token[] = { AUTH(PAM_SUCCESS), ACCT(PAM_SUCCESS) };

	(void)state;
	/* ci-bot got past auth without a token (a "planted key") */
	run_cases("token_only", "ci-bot", NULL, &c1, planted);
	/* pam_appuser ignores alice: pam_matrix decides */
	run_cases("token_only", "alice", NULL, &c2, local);
	run_cases("token_only_ok", "ci-bot", NULL, &c3, token);
}

static void
test_chauthtok(void **state)
{
	struct conv cv = { .answers = { "new", "new" } };
	struct pam_testcase cases[] = { PASSWD(PAM_PERM_DENIED) };

	(void)state;
	run_cases("appuser", "ci-bot", NULL, &cv, cases);
	assert_int_equal(cv.n_prompts, 0);
	assert_int_equal(cv.n_err, 1);
	assert_non_null(strstr(cv.err[0], "tokens, not a password"));
}

static void
test_session_without_auth(void **state)
{
	struct conv cv = { .answers = { NULL } };
	struct pam_testcase cases[] = { OPEN(PAM_SUCCESS), CLOSE(PAM_SUCCESS),
	    CRED(PAM_SUCCESS) };

	(void)state;
	run_cases("appuser", "ci-bot", NULL, &cv, cases);
}

/* Around a success and failures: the prefix is logged, a token never. */
static void
test_logs_never_hold_the_token(void **state)
{
	char line[1024], bad[TOKEN_LEN + 1], pfx[32];
	int n_accept = 0, n_refuse = 0;
	struct logcap lc = { "", -1, NULL };
	FILE *f;

	(void)state;
	forge(g.tok[T_BOT], TOKEN_PREFIX_LEN + 5, bad);
	snprintf(pfx, sizeof(pfx), "apu_%s", g.id[T_BOT]);
	log_start(&lc);
	assert_int_equal(auth_once("sshd", "ci-bot", "192.0.2.1", g.tok[T_BOT]),
	    PAM_SUCCESS);
	assert_int_equal(auth_once("sshd", "ci-bot", "192.0.2.1", bad),
	    PAM_AUTH_ERR);
	assert_int_equal(auth_once("sshd", "ci-bot", "192.0.2.1",
	    "my-password-typed-here"), PAM_AUTH_ERR);
	assert_int_equal(auth_once("sshd", "nosuchperson", "192.0.2.1", "pw"),
	    PAM_PERM_DENIED);	/* only IGNOREs in the stack */
	f = log_stop(&lc);
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strstr(line, "SYSLOG") == NULL)
			continue;	/* pam_wrapper's own item tracing */
		assert_null(strstr(line, g.tok[T_BOT]));
		assert_null(strstr(line, bad));
		assert_null(strstr(line, g.tok[T_BOT] + TOKEN_PREFIX_LEN));
		assert_null(strstr(line, "my-password"));
		assert_null(strstr(line, "nosuchperson"));
		if (strstr(line, "accepted token") && strstr(line, pfx) &&
		    strstr(line, "user=ci-bot") && strstr(line, "service=sshd")
		    && strstr(line, "rhost=192.0.2.1"))
			n_accept++;
		if (strstr(line, "refused user=ci-bot") && strstr(line, pfx) &&
		    strstr(line, "reason="))
			n_refuse++;
	}
	fclose(f);
	assert_int_equal(n_accept, 1);
	assert_int_equal(n_refuse, 1);	/* the password has no prefix */
}

/*
 * A writer holds the master's transaction for a second: the bookkeeping
 * write gives up after 200 ms, the login still succeeds, a warning is
 * logged and the record is unchanged.
 */
static void
test_bookkeeping_failure_still_logs_in(void **state)
{
	int p[2], q[2], status = 0;
	char c = 0, want[128];
	struct token *t;
	int64_t before;
	struct logcap lc = { "", -1, NULL };
	pid_t pid;
	FILE *f;

	(void)state;
	t = get_token(T_DEPLOY);
	before = t->last_used_time;
	token_free(t);
	assert_int_equal(pipe(p), 0);
	assert_int_equal(pipe(q), 0);
	if ((pid = fork()) == 0) {
		struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
		char path[PATH_MAX + 8];
		int fd;

		/* what a stopped setuid su holding the usage file does */
		snprintf(path, sizeof(path), "%s/usage", g.store);
		if ((fd = open(path, O_RDWR | O_CLOEXEC)) < 0 ||
		    fcntl(fd, F_OFD_SETLK, &fl) != 0)
			_exit(1);
		/* ready; then hold the lock until the parent is done */
		if (write(p[1], "x", 1) != 1 || read(q[0], &c, 1) < 0)
			_exit(2);
		_exit(0);
	}
	assert_true(pid > 0);
	assert_int_equal(read(p[0], &c, 1), 1);
	sleep(1);	/* so that last_used_time would differ */
	log_start(&lc);
	assert_int_equal(auth_once("appuser", "deploy", NULL, g.tok[T_DEPLOY]),
	    PAM_SUCCESS);
	f = log_stop(&lc);
	assert_int_equal(write(q[1], "x", 1), 1);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(status, 0);
	close(p[0]), close(p[1]), close(q[0]), close(q[1]);
	snprintf(want, sizeof(want), "could not record use of token apu_%s "
	    "for user=deploy", g.id[T_DEPLOY]);
	assert_int_equal(log_count(f, want, "(login allowed)", (char *)NULL), 1);
	fclose(f);
	t = get_token(T_DEPLOY);
	assert_true(t->last_used_time == before);
	token_free(t);
	/* and once the writer is gone, bookkeeping works again */
	assert_int_equal(auth_once("appuser", "deploy", NULL, g.tok[T_DEPLOY]),
	    PAM_SUCCESS);
	t = get_token(T_DEPLOY);
	assert_true(t->last_used_time > before);
	token_free(t);
}

static void *
auth_loop(void *arg)
{
	long fails = 0;
	int i;

	(void)arg;
	for (i = 0; i < 50; i++)
		if (auth_once("appuser", "ci-bot", "192.0.2.3", g.tok[T_BOT]) !=
		    PAM_SUCCESS)
			fails++;
	return (void *)fails;
}

/*
 * Four threads of one application authenticate at once: tdb allows one
 * open of the master per process, so the module must take turns rather
 * than report the store unavailable.
 */
static void
test_threads(void **state)
{
	pthread_t th[4];
	void *fails;
	long total = 0;
	int i;

	(void)state;
	for (i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&th[i], NULL, auth_loop, NULL),
		    0);
	for (i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(th[i], &fails), 0);
		total += (long)fails;
	}
	assert_int_equal(total, 0);
}

/* An unknown id costs about what a wrong secret costs (a loose check). */
static void
test_unknown_id_timing(void **state)
{
	char unknown[TOKEN_LEN + 1], wrong[TOKEN_LEN + 1];
	double t_unknown = 0, t_wrong = 0, ratio;
	int i, rounds = g.quick ? 100 : 1000;

	(void)state;
	forge(g.tok[T_BOT], TOKEN_MAGIC_LEN + 1, unknown);
	forge(g.tok[T_BOT], TOKEN_PREFIX_LEN + 1, wrong);
	for (i = 0; i < rounds; i++) {	/* interleaved against drift */
		double t0 = fs_mono_s();

		assert_int_equal(auth_once("appuser", "ci-bot", NULL, unknown),
		    PAM_AUTH_ERR);
		t_unknown += fs_mono_s() - t0;
		t0 = fs_mono_s();
		assert_int_equal(auth_once("appuser", "ci-bot", NULL, wrong),
		    PAM_AUTH_ERR);
		t_wrong += fs_mono_s() - t0;
	}
	ratio = t_unknown / t_wrong;
	print_message("# unknown id %.1f us, wrong secret %.1f us, ratio %.2f\n",
	    t_unknown / rounds * 1e6, t_wrong / rounds * 1e6, ratio);
	assert_true(ratio > 0.5 && ratio < 2.0);
}

/* ------------------------------------------------------------------ */
/* Setup and the re-run under pam_wrapper */

static int
rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p) == 0 ? 0 : -1;
}

/* The build directory this program sits in (build/ or build-san/). */
static int
find_build(char *top, size_t len, const char *argv0)
{
	char exe[PATH_MAX];
	int i;

	if (realpath(strchr(argv0, '/') ? argv0 : "/proc/self/exe", exe) == NULL)
		return -1;
	/* build/tests/test_pam -> build */
	for (i = 0; i < 2; i++) {
		char *p;

		if ((p = strrchr(exe, '/')) == NULL)
			return -1;
		*p = '\0';
	}
	if (strlen(exe) >= len)
		return -1;
	memcpy(top, exe, strlen(exe) + 1);
	return 0;
}

/* g's paths, from the temporary root and the program's location. */
static int
set_paths(const char *tmp, const char *argv0)
{
	char top[PATH_MAX / 2];

	if (find_build(top, sizeof(top), argv0) != 0 ||
	    strlen(tmp) >= sizeof(g.tmp))
		return -1;
	snprintf(g.tmp, sizeof(g.tmp), "%s", tmp);
	snprintf(g.store, sizeof(g.store), "%s/store", g.tmp);
	snprintf(g.svcdir, sizeof(g.svcdir), "%s/services", g.tmp);
	snprintf(g.passdb, sizeof(g.passdb), "%s/passdb", g.tmp);
	snprintf(g.module, sizeof(g.module), "%s/pam_appuser.so", top);
	return 0;
}

static int
parent(char **argv)
{
	char tmp[] = "/tmp/test_pam.XXXXXX";
	int status = 0;
	void *pw;
	pid_t pid;

#ifdef __SANITIZE_ADDRESS__
	/* pam_wrapper 1.1.4 (Debian 12) dlopens libpam with RTLD_DEEPBIND,
	 * which the ASan runtime refuses (it dies) */
	(void)argv; (void)tmp; (void)status; (void)pw; (void)pid;
	printf("ok 1 - test_pam # SKIP ASan build: pam_wrapper dlopens libpam "
	    "with RTLD_DEEPBIND, which ASan refuses; t_pam_pamtester.sh runs "
	    "the module under ASan, t_pam_valgrind.sh under valgrind\n1..1\n");
	return 0;
#endif
	if ((pw = dlopen("libpam_wrapper.so", RTLD_LAZY)) == NULL) {
		printf("1..0 # SKIP libpam_wrapper.so not installed "
		    "(make deps)\n");
		return 0;
	}
	dlclose(pw);
	if (mkdtemp(tmp) == NULL || chmod(tmp, 0755) != 0 ||
	    set_paths(tmp, argv[0]) != 0 || mkdir(g.svcdir, 0755) != 0 ||
	    write_services() != 0) {
		printf("not ok - test_pam setup in %s: %s\n", tmp,
		    strerror(errno));
		nftw(tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
		return 1;
	}
	setenv("LD_PRELOAD", "libpam_wrapper.so", 1);
	setenv("PAM_WRAPPER", "1", 1);
	setenv("PAM_WRAPPER_SERVICE_DIR", g.svcdir, 1);
	setenv("PAM_WRAPPER_DISABLE_DEEPBIND", "1", 1);	/* valgrind */
	setenv("TEST_PAM_TMP", g.tmp, 1);
	if ((pid = fork()) == 0) {
		execv(strchr(argv[0], '/') ? argv[0] : "/proc/self/exe", argv);
		perror("execv");
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		status = 2 << 8;
	nftw(g.tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	if (WIFSIGNALED(status)) {
		printf("not ok - test_pam killed by signal %d\n",
		    WTERMSIG(status));
		return 1;
	}
	return WEXITSTATUS(status);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_token_full_stack),
		cmocka_unit_test(test_bookkeeping),
		forged_test(wrong_secret),
		forged_test(unknown_id),
		forged_test(flipped_checksum),
		cmocka_unit_test(test_other_users_token),
		cmocka_unit_test(test_revoked),
		cmocka_unit_test(test_deleted_user),
		cmocka_unit_test(test_deleted_between_auth_and_account),
		cmocka_unit_test(test_extend_when_used),
		cmocka_unit_test(test_allow_from),
		cmocka_unit_test(test_allow_local),
		cmocka_unit_test(test_scope),
		cmocka_unit_test(test_non_app_user_ignored),
		cmocka_unit_test(test_direct_pam_ignore),
		cmocka_unit_test(test_local_user_falls_through),
		cmocka_unit_test(test_recommended_profile),
		cmocka_unit_test(test_store_missing),
		cmocka_unit_test(test_store_unreadable),
		cmocka_unit_test(test_store_unsafe),
		cmocka_unit_test(test_store_corrupt),
		cmocka_unit_test(test_huge_token),
		cmocka_unit_test(test_nul_and_newline),
		cmocka_unit_test(test_expiry_warning),
		cmocka_unit_test(test_expiry_warning_after_extend),
		cmocka_unit_test(test_use_first_pass),
		cmocka_unit_test(test_try_first_pass),
		cmocka_unit_test(test_prompt_option),
		cmocka_unit_test(test_unknown_option),
		cmocka_unit_test(test_token_only),
		cmocka_unit_test(test_chauthtok),
		cmocka_unit_test(test_session_without_auth),
		cmocka_unit_test(test_logs_never_hold_the_token),
		cmocka_unit_test(test_bookkeeping_failure_still_logs_in),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_unknown_id_timing),
		cmocka_unit_test(test_expired),
	};
	const char *tmp = getenv("TEST_PAM_TMP");

	(void)argc;
	if (getenv("PAM_WRAPPER") == NULL || tmp == NULL)
		return parent(argv);
	if (set_paths(tmp, argv[0]) != 0) {
		printf("not ok - cannot locate the build directory\n");
		return 1;
	}
	/* never the host's /etc/pam.d: only run with pam_wrapper active */
	if (dlsym(RTLD_DEFAULT, "pam_wrapper_enabled") == NULL) {
		printf("not ok - pam_wrapper is not preloaded\n");
		return 1;
	}
	g.quick = getenv("TEST_PAM_QUICK") != NULL;
	return cmocka_run_group_tests_name("pam_appuser", tests, group_setup,
	    NULL);
}
