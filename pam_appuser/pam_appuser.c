/*
 * pam_appuser: application users log in (sshd, sudo, login...) with a bearer
 * token instead of a password.
 *
 * A thin front end over libappuser: the store decides who is an application
 * user and whether a token admits them; this file only translates between
 * that and PAM.  Every entry point parses its arguments afresh, opens the
 * store, closes it before returning and keeps nothing global except a mutex:
 * tdb refuses a second open of one file in one process, so two threads of one
 * application must not hold the master at the same time.  The store is never
 * held open while a human is being prompted.
 *
 * The only state carried between entry points of one PAM handle is
 * pam_set_data(DATA_KEY): the user, public prefix and expiry of the token
 * that authenticated in this handle (acct_mgmt warns with it, token_only
 * checks for it, the session log names it).
 */
#include <errno.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include <sodium.h>
#include <security/pam_ext.h>
#include <security/pam_modules.h>

#include "appuser.h"
#include "names.h"
#include "record.h"
#include "store.h"
#include "token.h"
#include "pam_appuser.h"

#define DATA_KEY		"pam_appuser_token"
#define TOUCH_TIMEOUT_MS	200	/* bookkeeping never delays a login */
#define STORE_LOCK_SECONDS	5	/* another thread inside the store */
#define LOGSTR_MAX		72
#define DAY			86400

/* What this handle learnt in pam_sm_authenticate (no secret in here). */
struct apu_data {
	char	 user[APPUSER_NAME_MAX + 1];
	char	 prefix[TOKEN_PREFIX_LEN + 1];
	int64_t	 expiry_time;		/* 0: never */
};

/* One entry point's view of the handle. */
struct call {
	pam_handle_t	*pamh;
	struct pam_opts	 o;
	const char	*user;		/* PAM_USER, owned by libpam */
	const char	*service;	/* PAM_SERVICE or "" */
	const char	*rhost;		/* PAM_RHOST or "" (local) */
	char		 log_user[LOGSTR_MAX];	/* printable copies for logs */
	char		 log_service[LOGSTR_MAX];
	char		 log_rhost[LOGSTR_MAX];
};

/* Is PAM_USER an application user? */
enum lookup {
	LOOKUP_UNAVAIL,		/* store unreadable, unsafe or corrupt */
	LOOKUP_NOSTORE,		/* no store: nobody is an application user */
	LOOKUP_OTHER,		/* not an application user */
	LOOKUP_APP,
};

static pthread_mutex_t store_mutex = PTHREAD_MUTEX_INITIALIZER;

/*
 * Printable copy of untrusted text (a reverse-DNS rhost, a typed user name)
 * for a log line: bytes outside 0x21-0x7e become '?', long text is cut.
 */
static const char *
log_str(const char *s, char *buf, size_t buflen)
{
	size_t i;

	if (s == NULL || *s == '\0') {
		snprintf(buf, buflen, "-");
		return buf;
	}
	for (i = 0; i < buflen - 1 && s[i] != '\0'; i++) {
		unsigned char ch = (unsigned char)s[i];

		buf[i] = (ch > 0x20 && ch < 0x7f) ? (char)ch : '?';
	}
	buf[i] = '\0';
	return buf;
}

static const char *
item_str(pam_handle_t *pamh, int type)
{
	const void *item = NULL;

	if (pam_get_item(pamh, type, &item) != PAM_SUCCESS || item == NULL)
		return "";
	return item;
}

/*
 * Common start of every entry point.  ask_user: prompt for the name if the
 * application did not set it (auth, account); else PAM_USER as it is.
 */
static int
call_init(struct call *c, pam_handle_t *pamh, int flags, int argc,
    const char **argv, bool ask_user)
{
	const char *user = NULL;
	int r;

	memset(c, 0, sizeof(*c));
	c->pamh = pamh;
	pam_opts_parse(pamh, flags, argc, argv, &c->o);
	c->service = item_str(pamh, PAM_SERVICE);
	c->rhost = item_str(pamh, PAM_RHOST);
	log_str(c->service, c->log_service, sizeof(c->log_service));
	log_str(c->rhost, c->log_rhost, sizeof(c->log_rhost));
	if (ask_user)
		r = pam_get_user(pamh, &user, NULL);
	else
		user = item_str(pamh, PAM_USER), r = PAM_SUCCESS;
	if (r == PAM_CONV_AGAIN)
		return PAM_INCOMPLETE;
	if (r != PAM_SUCCESS || user == NULL || *user == '\0')
		return PAM_USER_UNKNOWN;
	c->user = user;
	log_str(user, c->log_user, sizeof(c->log_user));
	return PAM_SUCCESS;
}

/* Open the master under store_mutex; store_release() undoes both. */
static int
store_acquire(struct call *c, struct store **stp)
{
	struct timespec ts;
	int r;

	*stp = NULL;
	if (c->o.bad_store)
		return APPUSER_ERR_INVALID;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += STORE_LOCK_SECONDS;
	/* timed: a child forked while another thread held it must not hang */
	if ((r = pthread_mutex_timedlock(&store_mutex, &ts)) != 0) {
		pam_syslog(c->pamh, LOG_ERR, "store %s busy in this process: %s",
		    c->o.store, strerror(r));
		return APPUSER_ERR_BUSY;
	}
	if ((r = store_open(c->o.store, STORE_AUTH, stp)) != 0) {
		pthread_mutex_unlock(&store_mutex);
		*stp = NULL;
		if (r != APPUSER_ERR_NOSTORE)
			pam_syslog(c->pamh, LOG_ERR, "cannot open store %s: %s",
			    c->o.store, appuser_strerror(r));
		else if (c->o.debug)
			pam_syslog(c->pamh, LOG_DEBUG, "no store at %s",
			    c->o.store);
	}
	return r;
}

static void
store_release(struct store *st)
{
	if (st == NULL)
		return;
	store_close(st);
	pthread_mutex_unlock(&store_mutex);
}

/*
 * Does the host resolve the name to another account than the application
 * user?  A local, LDAP or sssd account of the same name added after the
 * application user comes first in nsswitch.conf and is the account a login
 * would open: the token must not reach it, and the module must not stand in
 * that account's way either.  A name that resolves nowhere leaves no other
 * account to reach.
 */
static bool
shadowed_by_host(struct call *c, uint32_t uid)
{
	struct passwd pw, *res = NULL;
	char *buf = NULL, *nbuf;
	size_t len = 1024;
	bool other = false;
	int e;

	for (;;) {
		if ((nbuf = realloc(buf, len)) == NULL)
			goto out;
		buf = nbuf;
		e = getpwnam_r(c->user, &pw, buf, len, &res);
		if (e != ERANGE || len >= 1024 * 1024)
			break;
		len *= 2;
	}
	if (e != 0 || res == NULL || res->pw_uid == uid)
		goto out;
	other = true;
	pam_syslog(c->pamh, LOG_WARNING, "user=%s resolves to uid %lu on this "
	    "host, not to the application user (uid %lu): ignoring it; "
	    "rename or delete one of the two accounts", c->log_user,
	    (unsigned long)res->pw_uid, (unsigned long)uid);
 out:
	free(buf);
	return other;
}

static enum lookup
lookup_user(struct call *c)
{
	struct store *st = NULL;
	struct user *u = NULL;
	enum lookup ret = LOOKUP_UNAVAIL;
	int r;

	if (!name_is_valid(c->user)) {
		ret = LOOKUP_OTHER;
		goto out;
	}
	if ((r = store_acquire(c, &st)) != 0) {
		ret = r == APPUSER_ERR_NOSTORE ? LOOKUP_NOSTORE : LOOKUP_UNAVAIL;
		goto out;
	}
	if ((r = store_user_get(st, c->user, &u)) == 0)
		ret = LOOKUP_APP;
	else if (r == APPUSER_ERR_NOT_FOUND)
		ret = LOOKUP_OTHER;
	else
		pam_syslog(c->pamh, LOG_ERR, "cannot read user from store %s: %s",
		    c->o.store, appuser_strerror(r));
 out:
	store_release(st);	/* before NSS: never hold the master across it */
	if (ret == LOOKUP_APP && shadowed_by_host(c, u->uid))
		ret = LOOKUP_OTHER;
	/* people type secrets into the name: only debug logs a stranger */
	else if (ret == LOOKUP_OTHER && c->o.debug)
		pam_syslog(c->pamh, LOG_DEBUG,
		    "user=%s is not an application user", c->log_user);
	user_free(u);
	return ret;
}

static void
data_cleanup(pam_handle_t *pamh, void *data, int error_status)
{
	(void)pamh;
	(void)error_status;
	free(data);
}

/* The token that authenticated c->user in this handle, if any. */
static const struct apu_data *
get_data(struct call *c)
{
	const void *p = NULL;
	const struct apu_data *d;

	if (pam_get_data(c->pamh, DATA_KEY, &p) != PAM_SUCCESS || p == NULL)
		return NULL;
	d = p;
	/* PAM_USER may have been changed by a later module */
	if (strcmp(d->user, c->user) != 0)
		return NULL;
	return d;
}

static int
set_data(struct call *c, const char *prefix, int64_t expiry)
{
	struct apu_data *d;
	int r;

	if ((d = calloc(1, sizeof(*d))) == NULL)
		return PAM_BUF_ERR;
	snprintf(d->user, sizeof(d->user), "%s", c->user);
	snprintf(d->prefix, sizeof(d->prefix), "%s", prefix);
	d->expiry_time = expiry;
	if ((r = pam_set_data(c->pamh, DATA_KEY, d, data_cleanup)) != PAM_SUCCESS)
		free(d);
	return r;
}

/* Does a previous module's PAM_AUTHTOK parse as a token at all? */
static bool
parses_as_token(const char *s)
{
	char id[TOKEN_ID_LEN + 1];
	uint8_t verifier[TOKEN_VERIFIER_LEN];
	bool ok;

	ok = token_parse(s, strnlen(s, TOKEN_MAX_INPUT + 1), id, verifier) == 0;
	sodium_memzero(verifier, sizeof(verifier));
	return ok;
}

/*
 * try_first_pass: a password typed for an earlier module is not a token;
 * ask for the token and make it PAM_AUTHTOK (as pam_unix does).
 */
static int
reprompt_if_not_token(struct call *c)
{
	const void *item = NULL;
	char *resp = NULL;
	int r;

	if (pam_get_item(c->pamh, PAM_AUTHTOK, &item) != PAM_SUCCESS ||
	    item == NULL || parses_as_token(item))
		return PAM_SUCCESS;
	r = pam_prompt(c->pamh, PAM_PROMPT_ECHO_OFF, &resp, "%s", c->o.prompt);
	if (r == PAM_SUCCESS && resp == NULL)
		r = PAM_CONV_ERR;
	if (r == PAM_SUCCESS)
		r = pam_set_item(c->pamh, PAM_AUTHTOK, resp);
	if (resp != NULL) {
		sodium_memzero(resp, strlen(resp));
		free(resp);
	}
	return r;
}

/*
 * The presented token (owned by libpam as PAM_AUTHTOK).  use_first_pass:
 * never prompt.  Default: a PAM_AUTHTOK set by an earlier module is used,
 * else prompt (pam_get_authtok's rules).  try_first_pass: as the default, but
 * prompt again if the earlier PAM_AUTHTOK is not a token.
 */
static int
get_token(struct call *c, const char **tokp)
{
	const void *item = NULL;
	const char *tok = NULL;
	int r;

	*tokp = NULL;
	if (c->o.use_first_pass &&
	    (pam_get_item(c->pamh, PAM_AUTHTOK, &item) != PAM_SUCCESS ||
	    item == NULL)) {
		r = PAM_AUTH_ERR;
		goto fail;
	}
	if (c->o.try_first_pass && !c->o.use_first_pass &&
	    (r = reprompt_if_not_token(c)) != PAM_SUCCESS)
		goto fail;
	r = pam_get_authtok(c->pamh, PAM_AUTHTOK, &tok, c->o.prompt);
	if (r == PAM_SUCCESS && tok == NULL)
		r = PAM_AUTH_ERR;
	if (r != PAM_SUCCESS)
		goto fail;
	*tokp = tok;
	return PAM_SUCCESS;
 fail:
	pam_syslog(c->pamh, LOG_NOTICE, "no token for user=%s service=%s "
	    "rhost=%s: %s", c->log_user, c->log_service, c->log_rhost,
	    c->o.use_first_pass && item == NULL ? "none set by an earlier "
	    "module (use_first_pass)" : pam_strerror(c->pamh, r));
	if (r == PAM_CONV_AGAIN || r == PAM_INCOMPLETE)
		return PAM_INCOMPLETE;
	return PAM_AUTH_ERR;
}

/* Only an accepted token is PAM_SUCCESS; anything unexpected refuses. */
static int
verify_to_pam(int v)
{
	switch (v) {
	case VERIFY_OK:
		return PAM_SUCCESS;
	case VERIFY_UNAVAILABLE:
		return PAM_AUTHINFO_UNAVAIL;
	default:
		return PAM_AUTH_ERR;
	}
}

/*
 * The public prefix for logs, only once the token is known to be well
 * formed: before that the bytes may be a mistyped password.
 */
static void
presented_prefix(int v, const struct token *t, const char *tok,
    char buf[TOKEN_PREFIX_LEN + 1])
{
	snprintf(buf, TOKEN_PREFIX_LEN + 1, "-");
	if (t != NULL)
		token_prefix(t->id, buf, TOKEN_PREFIX_LEN + 1);
	else if (v == VERIFY_UNKNOWN)	/* parsed, checksum good, no record */
		snprintf(buf, TOKEN_PREFIX_LEN + 1, "%.*s",
		    (int)TOKEN_PREFIX_LEN, tok);
}

/* After VERIFY_OK: bookkeeping (best effort), then the handle's data. */
static int
accept_token(struct call *c, struct store *st, const struct token *t,
    const char *prefix, int64_t now)
{
	int64_t expiry = t->expiry_time;
	int r;

	r = store_token_touch(st, t->id, now, c->rhost, c->service,
	    TOUCH_TIMEOUT_MS);
	if (r != 0)
		pam_syslog(c->pamh, LOG_WARNING, "could not record use of "
		    "token %s for user=%s: %s (login allowed)", prefix,
		    c->log_user, appuser_strerror(r));
	else if (t->extend_when_used && t->max_age_seconds > 0)
		expiry = now + t->max_age_seconds;
	if ((r = set_data(c, prefix, expiry)) != PAM_SUCCESS) {
		pam_syslog(c->pamh, LOG_ERR, "pam_set_data: %s",
		    pam_strerror(c->pamh, r));
		return PAM_BUF_ERR;
	}
	pam_syslog(c->pamh, LOG_INFO, "accepted token %s for user=%s "
	    "service=%s rhost=%s", prefix, c->log_user, c->log_service,
	    c->log_rhost);
	return PAM_SUCCESS;
}

static int
verify_token(struct call *c, const char *tok)
{
	struct store *st = NULL;
	struct token *t = NULL;
	char prefix[TOKEN_PREFIX_LEN + 1];
	int64_t now = (int64_t)time(NULL);
	int ret = PAM_AUTH_ERR, v;

	if (store_acquire(c, &st) != 0) {
		ret = PAM_AUTHINFO_UNAVAIL;
		goto out;
	}
	/* strnlen: a 64 KiB answer is malformed without being read through */
	v = store_verify(st, c->user, tok, strnlen(tok, TOKEN_MAX_INPUT + 1),
	    c->service, c->rhost, now, &t);
	presented_prefix(v, t, tok, prefix);
	if (v != VERIFY_OK || t == NULL) {
		ret = v == VERIFY_OK ? PAM_AUTH_ERR : verify_to_pam(v);
		pam_syslog(c->pamh, LOG_NOTICE, "refused user=%s reason=%s "
		    "token=%s service=%s rhost=%s", c->log_user,
		    v == VERIFY_OK ? "no record" : verify_reason(v), prefix,
		    c->log_service, c->log_rhost);
		goto out;
	}
	ret = accept_token(c, st, t, prefix, now);
 out:
	token_free(t);
	store_release(st);
	return ret;
}

PAM_EXTERN int
pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc,
    const char **argv)
{
	struct call c;
	const char *tok = NULL;
	int ret = PAM_AUTH_ERR;

	if ((ret = call_init(&c, pamh, flags, argc, argv, true)) != PAM_SUCCESS)
		goto out;
	switch (lookup_user(&c)) {
	case LOOKUP_APP:
		break;
	case LOOKUP_OTHER:
		ret = PAM_IGNORE;
		goto out;
	default:
		ret = PAM_AUTHINFO_UNAVAIL;
		goto out;
	}
	if (crypto_init() != 0) {
		pam_syslog(pamh, LOG_ERR, "crypto_init failed");
		ret = PAM_AUTHINFO_UNAVAIL;
		goto out;
	}
	if ((ret = get_token(&c, &tok)) != PAM_SUCCESS)
		goto out;
	ret = verify_token(&c, tok);
 out:
	return ret;
}

/* Application user by this handle's authentication, or by the store. */
static bool
is_app_user(struct call *c)
{
	return get_data(c) != NULL || lookup_user(c) == LOOKUP_APP;
}

PAM_EXTERN int
pam_sm_setcred(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	struct call c;
	int ret = PAM_IGNORE;

	if (call_init(&c, pamh, flags, argc, argv, false) != PAM_SUCCESS)
		goto out;
	/* nothing to establish: a token grants no credential beyond login */
	if (is_app_user(&c))
		ret = PAM_SUCCESS;
 out:
	return ret;
}

/* "token apu_XXXX expires in 3 days": whole days left, rounded down. */
static void
warn_expiry(struct call *c, const struct apu_data *d)
{
	int64_t left, days;

	if (c->o.quiet || c->o.warn_days == 0 || d->expiry_time == 0)
		return;
	left = d->expiry_time - (int64_t)time(NULL);
	if (left >= (int64_t)c->o.warn_days * DAY)
		return;
	days = left > 0 ? left / DAY : 0;
	if (days == 0)
		pam_info(c->pamh, "token %s expires in less than a day",
		    d->prefix);
	else
		pam_info(c->pamh, "token %s expires in %lld day%s", d->prefix,
		    (long long)days, days == 1 ? "" : "s");
}

PAM_EXTERN int
pam_sm_acct_mgmt(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	const struct apu_data *d;
	struct call c;
	int ret = PAM_PERM_DENIED;

	if ((ret = call_init(&c, pamh, flags, argc, argv, true)) != PAM_SUCCESS)
		goto out;
	d = get_data(&c);
	switch (lookup_user(&c)) {
	case LOOKUP_APP:
		break;
	case LOOKUP_OTHER:
	case LOOKUP_NOSTORE:
		/* authenticated by us a moment ago, gone now: deleted */
		ret = d != NULL ? PAM_USER_UNKNOWN : PAM_IGNORE;
		if (d != NULL)
			pam_syslog(pamh, LOG_NOTICE, "refused account user=%s: "
			    "deleted since authentication", c.log_user);
		goto out;
	default:
		/* cannot tell; token_only fails closed (see the man page) */
		ret = d != NULL || c.o.token_only ? PAM_AUTHINFO_UNAVAIL :
		    PAM_IGNORE;
		goto out;
	}
	if (d == NULL && c.o.token_only) {
		pam_syslog(pamh, LOG_NOTICE, "refused account user=%s "
		    "service=%s rhost=%s: not authenticated by a token "
		    "(token_only)", c.log_user, c.log_service, c.log_rhost);
		ret = PAM_PERM_DENIED;
		goto out;
	}
	if (d != NULL)
		warn_expiry(&c, d);
	ret = PAM_SUCCESS;
 out:
	return ret;
}

static int
session_log(pam_handle_t *pamh, int flags, int argc, const char **argv,
    const char *what)
{
	const struct apu_data *d;
	struct call c;
	int ret = PAM_IGNORE;

	if (call_init(&c, pamh, flags, argc, argv, false) != PAM_SUCCESS)
		goto out;
	if ((d = get_data(&c)) == NULL && lookup_user(&c) != LOOKUP_APP)
		goto out;
	/* token=- : authenticated otherwise, or in another process */
	pam_syslog(pamh, LOG_INFO, "session %s for user=%s token=%s "
	    "service=%s rhost=%s", what, c.log_user, d != NULL ? d->prefix : "-",
	    c.log_service, c.log_rhost);
	ret = PAM_SUCCESS;
 out:
	return ret;
}

PAM_EXTERN int
pam_sm_open_session(pam_handle_t *pamh, int flags, int argc,
    const char **argv)
{
	return session_log(pamh, flags, argc, argv, "opened");
}

PAM_EXTERN int
pam_sm_close_session(pam_handle_t *pamh, int flags, int argc,
    const char **argv)
{
	return session_log(pamh, flags, argc, argv, "closed");
}

/*
 * Application users have no password to change.  Refusing in the first pass
 * (PAM_PRELIM_CHECK) stops the stack before any module asks for a new one.
 */
PAM_EXTERN int
pam_sm_chauthtok(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	struct call c;
	int ret = PAM_IGNORE;

	if (call_init(&c, pamh, flags, argc, argv, false) != PAM_SUCCESS)
		goto out;
	if (!is_app_user(&c))
		goto out;
	if (!(flags & PAM_SILENT))
		pam_error(pamh, "%s is an application user and signs in with "
		    "tokens, not a password; ask an administrator for a new "
		    "token (appuser token create)", c.user);
	pam_syslog(pamh, LOG_NOTICE, "refused password change for user=%s",
	    c.log_user);
	ret = PAM_PERM_DENIED;
 out:
	return ret;
}
