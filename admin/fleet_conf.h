/*
 * The fleet configuration file (default /etc/appuser/fleet.conf): which etcd
 * cluster holds the fleet's users, and how this host talks to it.
 *
 * Format: one "key = value" per line; blank lines and lines whose first
 * non-blank character is '#' are ignored; blanks around key and value are
 * trimmed; a value runs to the end of the line (so it may contain '#').
 * Keys, each at most once:
 *   endpoints      required: comma-separated http:// or https:// URLs
 *   prefix         key prefix in etcd, starts and ends with '/'
 *                  (default "/appuser/")
 *   cacert         CA file that signs the members' certificates
 *   cert, key      client certificate and its key (both or neither)
 *   user           etcd user (needs password_file)
 *   password_file  file whose first line is that user's password
 *   host           this host's name in the fleet (default: the host name)
 * File paths are absolute.  Unknown keys are errors, so a typo never turns
 * TLS or authentication off silently.
 *
 * Safety (the file decides which server a root daemon trusts): the file and
 * every directory above it (symbolic links resolved) must be owned by root
 * or the caller and not writable by group or others (a sticky directory
 * such as /tmp may be); the password file likewise, and it must not be
 * readable by others either.
 *
 * Errors: 0 or a negative APPUSER_ERR_*; every error also writes a line
 * naming the file (and the line number, for syntax errors) into errbuf.
 */
#ifndef APPUSER_FLEET_CONF_H
#define APPUSER_FLEET_CONF_H

#include <stddef.h>

#define FLEET_CONF_DEFAULT	"/etc/appuser/fleet.conf"
#define FLEET_PREFIX_DEFAULT	"/appuser/"
#define FLEET_MAX_ENDPOINTS	16
#define FLEET_CONF_MAX_SIZE	65536	/* bytes in the file */
#define FLEET_PASSWORD_MAX	512	/* bytes in the password */

struct fleet_conf {
	char	*path;			/* the file it came from */
	char	**endpoints;		/* nendpoints URLs */
	size_t	 nendpoints;
	char	*prefix;		/* never NULL */
	char	*cacert;		/* NULL: the system's CAs */
	char	*cert;			/* NULL: no client certificate */
	char	*key;
	char	*user;			/* NULL: no authentication */
	char	*password_file;
	char	*host;			/* never NULL */
};

/*
 * Reads and checks path.  On success *confp is a new configuration that the
 * caller frees with fleet_conf_free().  Errors: NOT_FOUND (no such file),
 * UNSAFE (ownership or modes), INVALID (syntax, unknown or repeated key,
 * bad value, missing endpoints), NOMEM, SYSTEM.
 */
int fleet_conf_load(const char *path, struct fleet_conf **confp,
    char *errbuf, size_t errlen);

/*
 * Reads the password of conf->user from conf->password_file (its first line,
 * without the newline), after the checks above.  *passwordp is NUL
 * terminated; the caller wipes and frees it with fleet_password_free().
 * Errors: INVALID (no user configured, empty or too long), NOT_FOUND,
 * UNSAFE, NOMEM, SYSTEM.
 */
int fleet_conf_read_password(const struct fleet_conf *conf, char **passwordp,
    char *errbuf, size_t errlen);

void fleet_password_free(char *password);
void fleet_conf_free(struct fleet_conf *conf);

#endif
