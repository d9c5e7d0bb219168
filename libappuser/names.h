/*
 * Input validation and parsing shared by the CLI and the modules.
 */
#ifndef APPUSER_NAMES_H
#define APPUSER_NAMES_H

#include "appuser.h"
#include "record.h"

/*
 * A valid name: 1..32 bytes of [a-z0-9_.-], first byte [a-z_], not "." or
 * "..", not all digits, may end in '$' (Samba machine accounts).  This is
 * the "portable" subset of POSIX login names that useradd accepts by
 * default; it rejects '/', ':', ',', spaces, upper case and a leading '-'.
 */
bool name_is_valid(const char *name);

/* Description: printable UTF-8/ASCII, no ':' (passwd field separator), no
 * control bytes, at most APPUSER_TEXT_MAX bytes. */
bool text_is_valid(const char *s);

/* Home or shell: absolute path, no ':', no control bytes, no "/../"
 * components, at most APPUSER_PATH_MAX bytes. */
bool path_is_valid(const char *s);

/*
 * Duration: "600", "600s", "90m", "12h", "30d", "2w", "1y" (365 days).
 * Must be > 0 and at most 100 years.  Sets *secondsp.
 */
int parse_duration(const char *s, int64_t *secondsp);

/*
 * allow_from list: comma- or space-separated entries, each "local", an IPv4
 * or IPv6 address (host route) or CIDR "addr/len".  Host bits set under the
 * mask are rejected (likely a typo).  *rulesp is malloc'd (caller frees),
 * at least one and at most TOKEN_MAX_ALLOW entries, duplicates removed.
 * A list without an entry ("", ",") is INVALID: a token without rules is
 * usable from anywhere, which must be asked for by giving no list at all,
 * never by a script's empty variable.
 */
int parse_allow_list(const char *s, struct addr_rule **rulesp, size_t *np);

/* Format one rule as text ("local", "10.0.0.0/8", "2001:db8::/32").
 * buf must hold at least ADDR_RULE_STRLEN bytes. */
#define ADDR_RULE_STRLEN 64
void addr_rule_format(const struct addr_rule *r, char *buf, size_t buflen);

/*
 * Does rhost match the list?  rhost NULL or "" means a local session and
 * matches only "local".  Otherwise rhost must parse as an IPv4 or IPv6
 * address (IPv4-mapped IPv6 is compared as IPv4); a hostname matches no
 * rule.  An empty list (n == 0) matches everything.
 */
bool addr_list_match(const struct addr_rule *rules, size_t n, const char *rhost);

/*
 * scope list: comma- or space-separated PAM service names ([A-Za-z0-9_.-]+,
 * at most 64 bytes each, at least one and at most TOKEN_MAX_SCOPE),
 * lowercased as libpam lowercases the service it is given.  *scopep is a
 * malloc'd NULL-terminated array of malloc'd strings; free with strv_free().
 * A list without an entry is INVALID, as for allow_from.
 */
int parse_scope_list(const char *s, char ***scopep, size_t *np);
void strv_free(char **v);

/* Is service in the scope list?  n == 0 means every service; "su" also
 * covers "su-l" (su -) and "sudo" covers "sudo-i" (sudo -i). */
bool scope_match(const char *const *scope, size_t n, const char *service);

/* "MIN-MAX" id range; both > 0, MIN < MAX, MAX < 2^31 - 1. */
int parse_id_range(const char *s, uint32_t *minp, uint32_t *maxp);

/* RFC 3339 UTC ("2026-11-27T23:28:19Z"); buf at least 32 bytes. */
void format_time_rfc3339(int64_t t, char *buf, size_t buflen);

/* Human relative time against now: "never", "in 29 days", "3 hours ago",
 * "just now".  buf at least 32 bytes. */
void format_time_human(int64_t t, int64_t now, char *buf, size_t buflen);

#endif
