/*
 * Module arguments (after pam_faillock's faillock_config.c): one struct,
 * defaults first, then every argument through set_option().
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include <security/pam_ext.h>

#include "appuser.h"
#include "pam_appuser.h"

/* "key" alone or "key=value": returns the value ("" for a bare flag). */
static const char *
match_key(const char *arg, const char *key)
{
	size_t n = strlen(key);

	if (strncmp(arg, key, n) != 0)
		return NULL;
	if (arg[n] == '\0')
		return "";
	if (arg[n] == '=')
		return arg + n + 1;
	return NULL;
}

static int
parse_days(const char *s, unsigned long *daysp)
{
	char *end = NULL;
	unsigned long v;

	if (s[0] < '0' || s[0] > '9')
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' ||
	    v > PAM_APPUSER_MAX_WARN_DAYS)
		return -1;
	*daysp = v;
	return 0;
}

/* Returns 0 if arg was understood, -1 otherwise (the caller logs it). */
static int
set_option(pam_handle_t *pamh, struct pam_opts *o, const char *arg)
{
	const char *v;

	if ((v = match_key(arg, "store")) != NULL && *v != '\0') {
		o->store = v;
		o->bad_store = v[0] != '/';
		if (o->bad_store)
			pam_syslog(pamh, LOG_ERR,
			    "store= must be an absolute path; store disabled");
	} else if ((v = match_key(arg, "prompt")) != NULL && *v != '\0')
		o->prompt = v;
	else if ((v = match_key(arg, "warn_expire")) != NULL) {
		if (parse_days(v, &o->warn_days) != 0)
			return -1;
	} else if (strcmp(arg, "use_first_pass") == 0)
		o->use_first_pass = true;
	else if (strcmp(arg, "try_first_pass") == 0)
		o->try_first_pass = true;
	else if (strcmp(arg, "token_only") == 0)
		o->token_only = true;
	else if (strcmp(arg, "debug") == 0)
		o->debug = true;
	else if (strcmp(arg, "quiet") == 0)
		o->quiet = true;
	else
		return -1;
	return 0;
}

void
pam_opts_parse(pam_handle_t *pamh, int flags, int argc, const char **argv,
    struct pam_opts *o)
{
	const char *bad = NULL;
	int nbad = 0;
	int i;

	memset(o, 0, sizeof(*o));
	o->store = APPUSER_DEFAULT_STORE;	/* never from the environment */
	o->prompt = PAM_APPUSER_DEFAULT_PROMPT;
	o->warn_days = PAM_APPUSER_DEFAULT_WARN_DAYS;
	o->quiet = (flags & PAM_SILENT) != 0;

	for (i = 0; i < argc && argv != NULL; i++) {
		if (argv[i] == NULL || set_option(pamh, o, argv[i]) == 0)
			continue;
		if (bad == NULL)
			bad = argv[i];
		nbad++;
	}
	/* once per call; "prompt=" text is the admin's, not a secret */
	if (bad != NULL)
		pam_syslog(pamh, LOG_WARNING,
		    "ignoring %d unknown or malformed option(s), first: \"%.64s\"",
		    nbad, bad);
}
