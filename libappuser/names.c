/*
 * Validation and parsing of what operators type: names, descriptions,
 * paths, durations, allow_from lists, scopes, id ranges; and time display.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "names.h"

#define SCOPE_NAME_MAX	64
#define ENTRY_MAX	64	/* longest allow_from entry we try to parse */
#define MAX_DURATION	TOKEN_MAX_AGE_SECONDS

bool
name_is_valid(const char *name)
{
	size_t i, len;
	bool digits_only = true;

	if (name == NULL || (len = strnlen(name, APPUSER_NAME_MAX + 1)) == 0 ||
	    len > APPUSER_NAME_MAX)
		return false;
	if (!((name[0] >= 'a' && name[0] <= 'z') || name[0] == '_'))
		return false;
	for (i = 0; i < len; i++) {
		char c = name[i];

		if (c == '$' && i == len - 1 && i > 0)
			continue;
		if (c >= '0' && c <= '9')
			continue;
		digits_only = false;
		if ((c >= 'a' && c <= 'z') || c == '_' || c == '.' || c == '-')
			continue;
		return false;
	}
	/* the first-byte rule already excludes these; kept as the contract */
	if (digits_only || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return false;
	return true;
}

/*
 * Length of the well-formed UTF-8 sequence at s (1..4), or 0 if it is
 * malformed: overlong, surrogate, above U+10FFFF, truncated, or a C0/C1
 * control or DEL.
 */
static size_t
utf8_char_len(const unsigned char *s)
{
	uint32_t cp;
	size_t n, i;

	if (s[0] < 0x80)
		return (s[0] >= 0x20 && s[0] != 0x7f) ? 1 : 0;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		n = 2;
		cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		n = 3;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 4;
		cp = s[0] & 0x07;
	} else
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)	/* also stops at the NUL */
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) ||
	    (cp >= 0x80 && cp <= 0x9f))
		return 0;
	return n;
}

bool
text_is_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	if (s == NULL || strnlen(s, APPUSER_TEXT_MAX + 1) > APPUSER_TEXT_MAX)
		return false;
	while (*p != '\0') {
		size_t n;

		if (*p == ':' || (n = utf8_char_len(p)) == 0)
			return false;
		p += n;
	}
	return true;
}

bool
path_is_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	if (s == NULL || s[0] != '/' ||
	    strnlen(s, APPUSER_PATH_MAX + 1) > APPUSER_PATH_MAX)
		return false;
	for (; *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f || *p == ':')
			return false;
	/* no ".." component anywhere: "/..", "/../", trailing "/.." */
	for (p = (const unsigned char *)s; (p = (const unsigned char *)
	    strstr((const char *)p, "/..")) != NULL; p++)
		if (p[3] == '/' || p[3] == '\0')
			return false;
	return true;
}

int
parse_duration(const char *s, int64_t *secondsp)
{
	long long v, mult;
	char *end;

	if (s == NULL || s[0] < '0' || s[0] > '9')
		return APPUSER_ERR_INVALID;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || v <= 0)
		return APPUSER_ERR_INVALID;
	switch (*end) {
	case '\0':
	case 's': mult = 1; break;
	case 'm': mult = 60; break;
	case 'h': mult = 3600; break;
	case 'd': mult = 86400; break;
	case 'w': mult = 7 * 86400; break;
	case 'y': mult = 365 * 86400; break;
	default: return APPUSER_ERR_INVALID;
	}
	if (*end != '\0' && end[1] != '\0')
		return APPUSER_ERR_INVALID;
	if (v > MAX_DURATION / mult)
		return APPUSER_ERR_INVALID;
	*secondsp = (int64_t)(v * mult);
	return 0;
}

/* Does addr have any bit set past prefix (len bytes)? */
static bool
host_bits_set(const uint8_t *addr, unsigned int len, unsigned int prefix)
{
	unsigned int i;

	for (i = 0; i < len; i++) {
		unsigned int bits;
		uint8_t mask;

		bits = prefix >= 8 * (i + 1) ? 8 :
		    prefix <= 8 * i ? 0 : prefix - 8 * i;
		mask = (uint8_t)(0xff00u >> bits);

		if (addr[i] & (uint8_t)~mask)
			return true;
	}
	return false;
}

static bool
is_v4_mapped(const uint8_t *a)
{
	static const uint8_t pfx[12] = { 0,0,0,0,0,0,0,0,0,0,0xff,0xff };

	return memcmp(a, pfx, sizeof(pfx)) == 0;
}

/* Parse an address into rule->family/addr; v4-mapped v6 becomes v4. */
static int
parse_addr(const char *s, struct addr_rule *rule, unsigned int *maxp)
{
	memset(rule->addr, 0, sizeof(rule->addr));
	if (inet_pton(AF_INET, s, rule->addr) == 1) {
		rule->family = AF_INET;
		*maxp = 32;
		return 0;
	}
	if (inet_pton(AF_INET6, s, rule->addr) == 1) {
		rule->family = AF_INET6;
		*maxp = 128;
		return 0;
	}
	return APPUSER_ERR_INVALID;
}

static int
parse_rule(const char *entry, size_t len, struct addr_rule *rule)
{
	char buf[ENTRY_MAX + 1], *slash, *end;
	unsigned long prefix;
	unsigned int max;

	memset(rule, 0, sizeof(*rule));
	if (len > ENTRY_MAX)
		return APPUSER_ERR_INVALID;
	memcpy(buf, entry, len);
	buf[len] = '\0';
	if (strcmp(buf, "local") == 0) {
		rule->family = ADDR_LOCAL;
		return 0;
	}
	if ((slash = strchr(buf, '/')) != NULL)
		*slash++ = '\0';
	if (parse_addr(buf, rule, &max) != 0)
		return APPUSER_ERR_INVALID;
	prefix = max;
	if (slash != NULL) {
		if (slash[0] < '0' || slash[0] > '9' || strlen(slash) > 3)
			return APPUSER_ERR_INVALID;
		prefix = strtoul(slash, &end, 10);
		if (*end != '\0' || prefix > max)
			return APPUSER_ERR_INVALID;
	}
	if (host_bits_set(rule->addr, max / 8, (unsigned int)prefix))
		return APPUSER_ERR_INVALID;
	rule->prefix = (uint8_t)prefix;
	/* ::ffff:a.b.c.d/96+ is an IPv4 rule: match it as one */
	if (rule->family == AF_INET6 && rule->prefix >= 96 &&
	    is_v4_mapped(rule->addr)) {
		memmove(rule->addr, rule->addr + 12, 4);
		memset(rule->addr + 4, 0, 12);
		rule->family = AF_INET;
		rule->prefix -= 96;
	}
	return 0;
}

static bool
is_sep(char c)
{
	return c == ',' || c == ' ' || c == '\t';
}

/*
 * The next item of a list separated by commas and blanks (the allow and
 * scope lists): *sp moves past the separators before it, *lenp receives
 * its length.  false at the end of the list.
 */
static bool
next_item(const char **sp, size_t *lenp)
{
	const char *s = *sp;
	size_t len;

	while (is_sep(*s))
		s++;
	for (len = 0; s[len] != '\0' && !is_sep(s[len]); len++)
		;
	*sp = s;
	*lenp = len;
	return len > 0;
}

int
parse_allow_list(const char *s, struct addr_rule **rulesp, size_t *np)
{
	struct addr_rule rules[TOKEN_MAX_ALLOW], rule, *out = NULL;
	size_t n = 0, i, len;

	if (s == NULL)
		return APPUSER_ERR_INVALID;
	while (next_item(&s, &len)) {
		int r;

		if ((r = parse_rule(s, len, &rule)) != 0)
			return r;
		s += len;
		for (i = 0; i < n; i++)
			if (memcmp(&rules[i], &rule, sizeof(rule)) == 0)
				break;
		if (i < n)
			continue;	/* duplicate */
		if (n == TOKEN_MAX_ALLOW)
			return APPUSER_ERR_INVALID;
		rules[n++] = rule;
	}
	/* no entry means "from anywhere": never from an empty variable */
	if (n == 0)
		return APPUSER_ERR_INVALID;
	if ((out = calloc(n, sizeof(*out))) == NULL)
		return APPUSER_ERR_NOMEM;
	memcpy(out, rules, n * sizeof(*out));
	*rulesp = out;
	*np = n;
	return 0;
}

void
addr_rule_format(const struct addr_rule *r, char *buf, size_t buflen)
{
	char a[INET6_ADDRSTRLEN];
	unsigned int full;

	if (buf == NULL || buflen == 0)
		return;
	buf[0] = '\0';
	if (r == NULL)
		return;
	if (r->family == ADDR_LOCAL) {
		snprintf(buf, buflen, "local");
		return;
	}
	full = r->family == AF_INET ? 32 : 128;
	if ((r->family != AF_INET && r->family != AF_INET6) ||
	    inet_ntop(r->family, r->addr, a, sizeof(a)) == NULL) {
		snprintf(buf, buflen, "invalid");
		return;
	}
	if (r->prefix == full)
		snprintf(buf, buflen, "%s", a);
	else
		snprintf(buf, buflen, "%s/%u", a, (unsigned int)r->prefix);
}

static bool
prefix_match(const uint8_t *a, const uint8_t *net, unsigned int prefix)
{
	unsigned int full = prefix / 8, rest = prefix % 8;
	uint8_t mask;

	if (memcmp(a, net, full) != 0)
		return false;
	if (rest == 0)
		return true;
	mask = (uint8_t)(0xff00u >> rest);
	return (a[full] & mask) == (net[full] & mask);
}

bool
addr_list_match(const struct addr_rule *rules, size_t n, const char *rhost)
{
	struct addr_rule host;
	unsigned int max;
	size_t i;

	if (n == 0)
		return true;
	if (rules == NULL)
		return false;
	if (rhost == NULL || rhost[0] == '\0') {
		for (i = 0; i < n; i++)
			if (rules[i].family == ADDR_LOCAL)
				return true;
		return false;
	}
	/* inet_pton rejects hostnames and "%zone" suffixes: they match nothing */
	if (strnlen(rhost, ENTRY_MAX + 1) > ENTRY_MAX ||
	    parse_addr(rhost, &host, &max) != 0)
		return false;
	if (host.family == AF_INET6 && is_v4_mapped(host.addr)) {
		memmove(host.addr, host.addr + 12, 4);
		host.family = AF_INET;
	}
	for (i = 0; i < n; i++) {
		if (rules[i].family != host.family)
			continue;
		if (rules[i].prefix > (host.family == AF_INET ? 32 : 128))
			continue;
		if (prefix_match(host.addr, rules[i].addr, rules[i].prefix))
			return true;
	}
	return false;
}

static bool
scope_name_valid(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > SCOPE_NAME_MAX)
		return false;
	for (i = 0; i < len; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-'))
			return false;
	}
	return true;
}

/*
 * gcc -fanalyzer (12) loses the strndup()s stored in v[] and reports a
 * leak: strv_free(v) at out: frees every entry (v is calloc'd one longer
 * than it can fill, so it stays NULL-terminated).
 */
#ifndef __clang__	/* a gcc-only warning */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wanalyzer-malloc-leak"
#endif
int
parse_scope_list(const char *s, char ***scopep, size_t *np)
{
	char lower[SCOPE_NAME_MAX + 1];
	char **v = NULL;
	size_t n = 0, i, len;
	int r = APPUSER_ERR_INVALID;

	if (s == NULL)
		return APPUSER_ERR_INVALID;
	if ((v = calloc(TOKEN_MAX_SCOPE + 1, sizeof(*v))) == NULL)
		return APPUSER_ERR_NOMEM;
	while (next_item(&s, &len)) {
		if (!scope_name_valid(s, len))
			goto out;
		/* libpam lowercases the service name it is given */
		for (i = 0; i < len; i++)
			lower[i] = (s[i] >= 'A' && s[i] <= 'Z') ?
			    (char)(s[i] - 'A' + 'a') : s[i];
		for (i = 0; i < n; i++)
			if (strlen(v[i]) == len && memcmp(v[i], lower, len) == 0)
				break;
		if (i == n) {
			if (n == TOKEN_MAX_SCOPE)
				goto out;
			if ((v[n] = strndup(lower, len)) == NULL) {
				r = APPUSER_ERR_NOMEM;
				goto out;
			}
			n++;
		}
		s += len;
	}
	/* no entry means "every service": never from an empty variable */
	if (n == 0)
		goto out;
	*scopep = v;
	*np = n;
	v = NULL;
	r = 0;
 out:
	strv_free(v);
	return r;
}
#ifndef __clang__
#pragma GCC diagnostic pop
#endif

void
strv_free(char **v)
{
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; v[i] != NULL; i++)
		free(v[i]);
	free(v);
}

/*
 * Debian runs `su -` as the service su-l and `sudo -i` as sudo-i: people who
 * scope a token to su or sudo mean both forms, so each covers its variant.
 */
static const struct {
	const char	*scope;
	const char	*service;
} scope_variants[] = {
	{ "su", "su-l" },
	{ "sudo", "sudo-i" },
};

bool
scope_match(const char *const *scope, size_t n, const char *service)
{
	size_t i, j;

	if (n == 0)
		return true;
	if (scope == NULL || service == NULL)
		return false;
	for (i = 0; i < n; i++) {
		if (scope[i] == NULL)
			continue;
		if (strcmp(scope[i], service) == 0)
			return true;
		for (j = 0; j < sizeof(scope_variants) /
		    sizeof(scope_variants[0]); j++)
			if (strcmp(scope[i], scope_variants[j].scope) == 0 &&
			    strcmp(service, scope_variants[j].service) == 0)
				return true;
	}
	return false;
}

/* Decimal digits only, no sign or space; *endp past the number. */
static int
parse_u32_digits(const char *s, char **endp, uint32_t *vp)
{
	unsigned long long v;

	if (s[0] < '0' || s[0] > '9')
		return APPUSER_ERR_INVALID;
	errno = 0;
	v = strtoull(s, endp, 10);
	if (errno != 0 || v > UINT32_MAX)
		return APPUSER_ERR_INVALID;
	*vp = (uint32_t)v;
	return 0;
}

int
parse_id_range(const char *s, uint32_t *minp, uint32_t *maxp)
{
	uint32_t min, max;
	char *end;

	if (s == NULL || parse_u32_digits(s, &end, &min) != 0 || *end != '-' ||
	    parse_u32_digits(end + 1, &end, &max) != 0 || *end != '\0')
		return APPUSER_ERR_INVALID;
	/* below the floor are the system's ids: never an application user's */
	if (min < APPUSER_ID_FLOOR || min >= max || max >= 2147483647u)
		return APPUSER_ERR_INVALID;
	*minp = min;
	*maxp = max;
	return 0;
}

void
format_time_rfc3339(int64_t t, char *buf, size_t buflen)
{
	struct tm tm;
	time_t tt = (time_t)t;

	if (buf == NULL || buflen == 0)
		return;
	if ((int64_t)tt != t || gmtime_r(&tt, &tm) == NULL ||
	    strftime(buf, buflen, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, buflen, "%s", "invalid-time");
}

void
format_time_human(int64_t t, int64_t now, char *buf, size_t buflen)
{
	static const struct {
		uint64_t	 secs;
		const char	*name;
	} units[] = {
		{ 365ULL * 86400, "year" }, { 86400, "day" }, { 3600, "hour" },
		{ 60, "minute" }, { 1, "second" },
	};
	uint64_t mag, v = 0;
	bool future = t > now;
	size_t i;

	if (buf == NULL || buflen == 0)
		return;
	if (t == 0) {
		snprintf(buf, buflen, "never");
		return;
	}
	/* magnitude of t - now in unsigned arithmetic: cannot overflow */
	mag = future ? (uint64_t)t - (uint64_t)now : (uint64_t)now - (uint64_t)t;
	if (mag < 5) {
		snprintf(buf, buflen, "just now");
		return;
	}
	/* the last unit (seconds) always fits: mag >= 5 */
	for (i = 0; i + 1 < sizeof(units) / sizeof(units[0]); i++)
		if (mag >= units[i].secs)
			break;
	v = mag / units[i].secs;
	snprintf(buf, buflen, "%s%llu %s%s%s", future ? "in " : "",
	    (unsigned long long)v, units[i].name, v == 1 ? "" : "s",
	    future ? "" : " ago");
}
