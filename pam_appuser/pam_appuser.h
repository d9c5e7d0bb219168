/*
 * pam_appuser internals shared by the module's source files (not installed).
 */
#ifndef PAM_APPUSER_H
#define PAM_APPUSER_H

#include <stdbool.h>

#include <security/pam_modules.h>

#define PAM_APPUSER_DEFAULT_PROMPT	"Token: "
#define PAM_APPUSER_DEFAULT_WARN_DAYS	7
#define PAM_APPUSER_MAX_WARN_DAYS	36500

/* Module arguments, parsed afresh by every entry point (no global state). */
struct pam_opts {
	const char	*store;		/* store=DIR (absolute), else default */
	const char	*prompt;	/* prompt=TEXT */
	unsigned long	 warn_days;	/* warn_expire=DAYS, 0 disables */
	bool		 use_first_pass;
	bool		 try_first_pass;
	bool		 token_only;
	bool		 debug;
	bool		 quiet;		/* also set by PAM_SILENT */
	bool		 bad_store;	/* store= was not an absolute path */
};

/*
 * Defaults first, then each argument through one setter.  Unknown or
 * malformed arguments are logged (LOG_WARNING) and otherwise ignored; a
 * relative store= sets bad_store so that the store counts as unavailable
 * rather than silently falling back to the default directory.
 */
void pam_opts_parse(pam_handle_t *pamh, int flags, int argc,
    const char **argv, struct pam_opts *o);

#endif
