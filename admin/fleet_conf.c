/*
 * The fleet configuration file: see fleet_conf.h for the format and the
 * rules.  Nothing here prints; errors go to the caller's buffer.
 */
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "appuser.h"
#include "fleet_conf.h"

#define HOST_MAX	253	/* a DNS name */

static void
seterr(char *errbuf, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (errbuf == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(errbuf, errlen, fmt, ap);
	va_end(ap);
}

static int
errno_err(int e)
{
	switch (e) {
	case ENOENT:
	case ENOTDIR:
		return APPUSER_ERR_NOT_FOUND;
	case EACCES:
	case EPERM:
		return APPUSER_ERR_PERMISSION;
	case ENOMEM:
		return APPUSER_ERR_NOMEM;
	default:
		return APPUSER_ERR_SYSTEM;
	}
}

static int
owner_ok(uid_t uid)
{
	return uid == 0 || uid == geteuid();
}

/*
 * Every directory above resolved (an absolute path without symbolic links)
 * must be owned by root or us and not writable by group or others, unless
 * sticky: otherwise someone else could replace the file under us.
 */
static int
check_parents(const char *what, const char *resolved, char *errbuf,
    size_t errlen)
{
	char *dir = NULL, *slash;
	struct stat st;
	int r = APPUSER_ERR_INTERNAL;

	if ((dir = strdup(resolved)) == NULL) {
		r = APPUSER_ERR_NOMEM;
		goto out;
	}
	for (;;) {
		if ((slash = strrchr(dir, '/')) == NULL)
			break;
		if (slash == dir)
			slash[1] = '\0';	/* "/" itself */
		else
			*slash = '\0';
		if (lstat(dir, &st) != 0) {
			r = errno_err(errno);
			seterr(errbuf, errlen, "%s %s: directory %s: %s", what,
			    resolved, dir, strerror(errno));
			goto out;
		}
		if (!S_ISDIR(st.st_mode) || !owner_ok(st.st_uid) ||
		    ((st.st_mode & 022) != 0 && (st.st_mode & S_ISVTX) == 0)) {
			r = APPUSER_ERR_UNSAFE;
			seterr(errbuf, errlen, "%s %s: directory %s must be owned "
			    "by root or uid %u and not writable by group or "
			    "others", what, resolved, dir, (unsigned)geteuid());
			goto out;
		}
		if (strcmp(dir, "/") == 0)
			break;
	}
	r = 0;
 out:
	free(dir);
	return r;
}

/*
 * Opens path for reading after the ownership and mode checks; forbid is
 * the mode bits the file must not have.  *resolvedp: the path without
 * symbolic links (caller frees).
 */
static int
open_checked(const char *what, const char *path, mode_t forbid, int *fdp,
    char *errbuf, size_t errlen)
{
	char *resolved = NULL;
	struct stat st;
	int fd = -1, r = APPUSER_ERR_INTERNAL;

	*fdp = -1;
	if (path[0] != '/') {
		r = APPUSER_ERR_INVALID;
		seterr(errbuf, errlen, "%s %s: the path must be absolute",
		    what, path);
		goto out;
	}
	if ((resolved = realpath(path, NULL)) == NULL) {
		r = errno_err(errno);
		seterr(errbuf, errlen, "%s %s: %s", what, path, strerror(errno));
		goto out;
	}
	if ((r = check_parents(what, resolved, errbuf, errlen)) != 0)
		goto out;
	/* O_NOFOLLOW: resolved has no links, unless one was swapped in */
	if ((fd = open(resolved, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY |
	    O_NONBLOCK)) == -1) {
		r = errno_err(errno);
		seterr(errbuf, errlen, "%s %s: %s", what, path, strerror(errno));
		goto out;
	}
	if (fstat(fd, &st) != 0) {
		r = errno_err(errno);
		seterr(errbuf, errlen, "%s %s: %s", what, path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = APPUSER_ERR_UNSAFE;
		seterr(errbuf, errlen, "%s %s: not a regular file", what, path);
		goto out;
	}
	if (!owner_ok(st.st_uid)) {
		r = APPUSER_ERR_UNSAFE;
		seterr(errbuf, errlen, "%s %s: owned by uid %u, must be owned "
		    "by root or uid %u", what, path, (unsigned)st.st_uid,
		    (unsigned)geteuid());
		goto out;
	}
	if ((st.st_mode & forbid) != 0) {
		r = APPUSER_ERR_UNSAFE;
		seterr(errbuf, errlen, "%s %s: mode %04o is unsafe (%s)", what,
		    path, (unsigned)(st.st_mode & 07777), (forbid & 04) != 0 ?
		    "it must not be writable by group or others, nor readable "
		    "by others" : "it must not be writable by group or others");
		goto out;
	}
	*fdp = fd;
	fd = -1;
	r = 0;
 out:
	if (fd != -1)
		close(fd);
	free(resolved);
	return r;
}

/* Reads all of fd (at most max bytes) into a NUL-terminated buffer. */
static int
read_all(int fd, size_t max, bool secret, char **bufp, size_t *lenp)
{
	char *buf = NULL;
	size_t len = 0;
	ssize_t n;
	int r = APPUSER_ERR_INTERNAL;

	*bufp = NULL;
	/* secret: sodium_malloc'd, so it is wiped on free and never swapped */
	buf = secret ? sodium_malloc(max + 2) : malloc(max + 2);
	if (buf == NULL) {
		r = APPUSER_ERR_NOMEM;
		goto out;
	}
	for (;;) {
		n = read(fd, buf + len, max + 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = errno_err(errno);
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > max) {
			r = APPUSER_ERR_INVALID;
			goto out;
		}
	}
	buf[len] = '\0';
	*bufp = buf;
	*lenp = len;
	buf = NULL;
	r = 0;
 out:
	if (secret)
		sodium_free(buf);
	else
		free(buf);
	return r;
}

static char *
trim(char *s, char *end)
{
	while (s < end && (*s == ' ' || *s == '\t'))
		s++;
	while (end > s && (end[-1] == ' ' || end[-1] == '\t' ||
	    end[-1] == '\r'))
		end--;
	*end = '\0';
	return s;
}

static bool
printable(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x21 || *s == 0x7f)
			return false;
	return true;
}

static bool
valid_url(const char *u)
{
	const char *host;

	if (strncmp(u, "http://", 7) == 0)
		host = u + 7;
	else if (strncmp(u, "https://", 8) == 0)
		host = u + 8;
	else
		return false;
	return host[0] != '\0' && host[0] != '/' && printable(u) &&
	    strlen(u) < 1024;
}

static bool
valid_host(const char *h)
{
	size_t n = strlen(h);

	if (n == 0 || n > HOST_MAX || h[0] == '.' || h[0] == '-')
		return false;
	for (; *h != '\0'; h++)
		if (!isalnum((unsigned char)*h) && *h != '.' && *h != '-' &&
		    *h != '_')
			return false;
	return true;
}

static int
set_endpoints(struct fleet_conf *c, const char *v, char *err, size_t errlen)
{
	char *copy = NULL, *p, *tok, *save = NULL, *u;
	size_t n = 0;
	int r = APPUSER_ERR_INTERNAL;

	if ((copy = strdup(v)) == NULL ||
	    (c->endpoints = calloc(FLEET_MAX_ENDPOINTS, sizeof(char *))) ==
	    NULL) {
		r = APPUSER_ERR_NOMEM;
		goto out;
	}
	for (p = copy; (tok = strtok_r(p, ",", &save)) != NULL; p = NULL) {
		u = trim(tok, tok + strlen(tok));
		if (*u == '\0')
			continue;
		if (!valid_url(u)) {
			r = APPUSER_ERR_INVALID;
			snprintf(err, errlen, "endpoint \"%.100s\" is not an "
			    "http:// or https:// URL", u);
			goto out;
		}
		if (n == FLEET_MAX_ENDPOINTS) {
			r = APPUSER_ERR_INVALID;
			snprintf(err, errlen, "more than %d endpoints",
			    FLEET_MAX_ENDPOINTS);
			goto out;
		}
		/* curl wants no trailing slash before our "/v3/..." */
		while (strlen(u) > 1 && u[strlen(u) - 1] == '/')
			u[strlen(u) - 1] = '\0';
		if ((c->endpoints[n] = strdup(u)) == NULL) {
			r = APPUSER_ERR_NOMEM;
			goto out;
		}
		c->nendpoints = ++n;
	}
	if (n == 0) {
		r = APPUSER_ERR_INVALID;
		snprintf(err, errlen, "no endpoint given");
		goto out;
	}
	r = 0;
 out:
	free(copy);
	return r;
}

/* Sets one key; on a bad value writes why into err (no file/line). */
static int
set_key(struct fleet_conf *c, const char *k, const char *v, char *err,
    size_t errlen)
{
	static const char *const paths[] = {
		"cacert", "cert", "key", "password_file",
	};
	char **dst = NULL;
	size_t i;

	if (strcmp(k, "endpoints") == 0) {
		if (c->endpoints != NULL)
			goto repeated;
		return set_endpoints(c, v, err, errlen);
	}
	if (strcmp(k, "prefix") == 0)
		dst = &c->prefix;
	else if (strcmp(k, "cacert") == 0)
		dst = &c->cacert;
	else if (strcmp(k, "cert") == 0)
		dst = &c->cert;
	else if (strcmp(k, "key") == 0)
		dst = &c->key;
	else if (strcmp(k, "user") == 0)
		dst = &c->user;
	else if (strcmp(k, "password_file") == 0)
		dst = &c->password_file;
	else if (strcmp(k, "host") == 0)
		dst = &c->host;
	else {
		snprintf(err, errlen, "unknown key \"%.64s\"", k);
		return APPUSER_ERR_INVALID;
	}
	if (*dst != NULL)
		goto repeated;
	if (*v == '\0') {
		snprintf(err, errlen, "%s: empty value", k);
		return APPUSER_ERR_INVALID;
	}
	if (!printable(v)) {
		snprintf(err, errlen, "%s: blanks or control characters in "
		    "the value", k);
		return APPUSER_ERR_INVALID;
	}
	for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		if (strcmp(k, paths[i]) == 0 && v[0] != '/') {
			snprintf(err, errlen, "%s: the path must be absolute",
			    k);
			return APPUSER_ERR_INVALID;
		}
	if (strcmp(k, "prefix") == 0 && (v[0] != '/' ||
	    v[strlen(v) - 1] != '/' || strlen(v) > 256)) {
		/* a trailing '/': "/appuser" would also match "/appuser2/" */
		snprintf(err, errlen, "prefix: must start and end with '/' "
		    "(at most 256 bytes)");
		return APPUSER_ERR_INVALID;
	}
	if (strcmp(k, "host") == 0 && !valid_host(v)) {
		snprintf(err, errlen, "host: \"%.64s\" is not a host name", v);
		return APPUSER_ERR_INVALID;
	}
	if (strcmp(k, "user") == 0 && strlen(v) > 256) {
		snprintf(err, errlen, "user: too long");
		return APPUSER_ERR_INVALID;
	}
	if ((*dst = strdup(v)) == NULL)
		return APPUSER_ERR_NOMEM;
	return 0;
 repeated:
	snprintf(err, errlen, "%s given twice", k);
	return APPUSER_ERR_INVALID;
}

static int
parse(struct fleet_conf *c, char *buf, size_t len, char *errbuf,
    size_t errlen)
{
	char *line, *next, *nl, *eq, *v, why[256];
	unsigned lineno = 0;
	int r = APPUSER_ERR_INTERNAL;

	if (buf == NULL)	/* read_all never gives one; says so to -fanalyzer */
		return APPUSER_ERR_INTERNAL;
	if (memchr(buf, '\0', len) != NULL) {
		seterr(errbuf, errlen, "%s: contains a NUL byte", c->path);
		return APPUSER_ERR_INVALID;
	}
	for (line = buf; line < buf + len; line = next) {
		char *k;

		lineno++;
		if ((nl = strchr(line, '\n')) != NULL) {
			*nl = '\0';
			next = nl + 1;
		} else
			next = line + strlen(line);
		k = trim(line, line + strlen(line));
		if (*k == '\0' || *k == '#')
			continue;
		if ((eq = strchr(k, '=')) == NULL) {
			seterr(errbuf, errlen, "%s:%u: expected \"key = "
			    "value\"", c->path, lineno);
			return APPUSER_ERR_INVALID;
		}
		v = trim(eq + 1, eq + 1 + strlen(eq + 1));
		k = trim(k, eq);
		why[0] = '\0';
		if ((r = set_key(c, k, v, why, sizeof(why))) != 0) {
			if (r == APPUSER_ERR_NOMEM)
				seterr(errbuf, errlen, "%s: out of memory",
				    c->path);
			else
				seterr(errbuf, errlen, "%s:%u: %s", c->path,
				    lineno, why);
			return r;
		}
	}
	return 0;
}

static int
finish(struct fleet_conf *c, char *errbuf, size_t errlen)
{
	if (c->nendpoints == 0) {
		seterr(errbuf, errlen, "%s: no \"endpoints\" given", c->path);
		return APPUSER_ERR_INVALID;
	}
	if ((c->cert == NULL) != (c->key == NULL)) {
		seterr(errbuf, errlen, "%s: \"cert\" and \"key\" go together",
		    c->path);
		return APPUSER_ERR_INVALID;
	}
	if ((c->user == NULL) != (c->password_file == NULL)) {
		seterr(errbuf, errlen, "%s: \"user\" and \"password_file\" go "
		    "together", c->path);
		return APPUSER_ERR_INVALID;
	}
	if (c->prefix == NULL &&
	    (c->prefix = strdup(FLEET_PREFIX_DEFAULT)) == NULL)
		return APPUSER_ERR_NOMEM;
	if (c->host == NULL) {
		char host[HOST_MAX + 2];

		memset(host, 0, sizeof(host));
		if (gethostname(host, sizeof(host) - 1) != 0 ||
		    !valid_host(host)) {
			seterr(errbuf, errlen, "%s: no \"host\" given and the "
			    "host name is not usable", c->path);
			return APPUSER_ERR_INVALID;
		}
		if ((c->host = strdup(host)) == NULL)
			return APPUSER_ERR_NOMEM;
	}
	return 0;
}

int
fleet_conf_load(const char *path, struct fleet_conf **confp, char *errbuf,
    size_t errlen)
{
	struct fleet_conf *c = NULL;
	char *buf = NULL;
	size_t len = 0;
	int fd = -1, r = APPUSER_ERR_INTERNAL;

	*confp = NULL;
	seterr(errbuf, errlen, "%s", "");
	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (c->path = strdup(path)) == NULL) {
		r = APPUSER_ERR_NOMEM;
		seterr(errbuf, errlen, "%s: out of memory", path);
		goto out;
	}
	if ((r = open_checked("fleet config", path, 022, &fd, errbuf,
	    errlen)) != 0)
		goto out;
	if ((r = read_all(fd, FLEET_CONF_MAX_SIZE, false, &buf, &len)) != 0) {
		seterr(errbuf, errlen, "fleet config %s: %s", path,
		    r == APPUSER_ERR_INVALID ? "larger than 64 KiB" :
		    appuser_strerror(r));
		goto out;
	}
	if ((r = parse(c, buf, len, errbuf, errlen)) != 0 ||
	    (r = finish(c, errbuf, errlen)) != 0)
		goto out;
	*confp = c;
	c = NULL;
	r = 0;
 out:
	if (fd != -1)
		close(fd);
	free(buf);
	fleet_conf_free(c);
	return r;
}

int
fleet_conf_read_password(const struct fleet_conf *conf, char **passwordp,
    char *errbuf, size_t errlen)
{
	char *buf = NULL, *nl;
	size_t len = 0;
	int fd = -1, r = APPUSER_ERR_INTERNAL;

	*passwordp = NULL;
	if (sodium_init() < 0) {
		r = APPUSER_ERR_INTERNAL;
		seterr(errbuf, errlen, "libsodium does not initialise");
		goto out;
	}
	if (conf->user == NULL || conf->password_file == NULL) {
		r = APPUSER_ERR_INVALID;
		seterr(errbuf, errlen, "%s: no \"user\" configured",
		    conf->path);
		goto out;
	}
	/* group may read (a group of operators), others nothing at all */
	if ((r = open_checked("password file", conf->password_file, 027, &fd,
	    errbuf, errlen)) != 0)
		goto out;
	if ((r = read_all(fd, FLEET_PASSWORD_MAX + 2, true, &buf, &len)) != 0) {
		seterr(errbuf, errlen, "password file %s: %s",
		    conf->password_file, r == APPUSER_ERR_INVALID ?
		    "too long" : appuser_strerror(r));
		goto out;
	}
	if ((nl = memchr(buf, '\n', len)) != NULL)
		*nl = '\0';
	len = strlen(buf);
	if (len > 0 && buf[len - 1] == '\r')
		buf[--len] = '\0';
	if (len == 0 || len > FLEET_PASSWORD_MAX) {
		r = APPUSER_ERR_INVALID;
		seterr(errbuf, errlen, "password file %s: the first line must "
		    "hold the password (1 to %d bytes)", conf->password_file,
		    FLEET_PASSWORD_MAX);
		goto out;
	}
	*passwordp = buf;
	buf = NULL;
	r = 0;
 out:
	if (fd != -1)
		close(fd);
	sodium_free(buf);
	return r;
}

void
fleet_password_free(char *password)
{
	sodium_free(password);
}

void
fleet_conf_free(struct fleet_conf *c)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < c->nendpoints; i++)
		free(c->endpoints[i]);
	free(c->endpoints);
	free(c->path);
	free(c->prefix);
	free(c->cacert);
	free(c->cert);
	free(c->key);
	free(c->user);
	free(c->password_file);
	free(c->host);
	free(c);
}
