/*
 * The input validators and parsers of names.h on any string: names, text,
 * paths, durations, allow_from (CIDR) lists, scope lists, id ranges, and
 * the matchers and formatters they feed.  Input: "string\nrhost\nservice"
 * (the string is also tried whole).  Properties: what parses is within its
 * documented bounds, and an allow_from list printed by addr_rule_format
 * parses back to the same rules.
 */
#include "fuzz.h"
#include "names.h"

#define MAX_DURATION	(100LL * 365 * 86400)

static void
one_string(const char *s, const char *rhost, const char *service)
{
	struct addr_rule *rules = NULL, *again = NULL;
	char **scope = NULL;
	size_t n = 0, n2 = 0;
	uint32_t min, max;
	int64_t secs;

	if (name_is_valid(s) && (strlen(s) == 0 || strlen(s) > 32 ||
	    strchr(s, '/') != NULL || strchr(s, ':') != NULL))
		fuzz_fail("name_is_valid accepted a bad name");
	if (text_is_valid(s) && strchr(s, ':') != NULL)
		fuzz_fail("text_is_valid accepted a ':'");
	if (path_is_valid(s) && (s[0] != '/' || strchr(s, ':') != NULL))
		fuzz_fail("path_is_valid accepted a bad path");
	if (parse_duration(s, &secs) == 0 && (secs <= 0 || secs > MAX_DURATION))
		fuzz_fail("parse_duration out of bounds");
	if (parse_id_range(s, &min, &max) == 0 &&
	    (min == 0 || min >= max || max >= 2147483647u))
		fuzz_fail("parse_id_range out of bounds");
	if (parse_allow_list(s, &rules, &n) == 0) {
		char text[TOKEN_MAX_ALLOW * (ADDR_RULE_STRLEN + 1)];
		size_t i, off = 0;

		if (n > TOKEN_MAX_ALLOW)
			fuzz_fail("too many allow_from rules");
		for (i = 0; i < n; i++) {
			addr_rule_format(&rules[i], text + off,
			    sizeof(text) - off);
			off += strlen(text + off);
			text[off++] = ',';
		}
		text[off > 0 ? off - 1 : 0] = '\0';
		if (n > 0 && (parse_allow_list(text, &again, &n2) != 0 ||
		    n2 != n || memcmp(rules, again, n * sizeof(*rules)) != 0))
			fuzz_fail("allow_from does not survive format+parse");
		(void)addr_list_match(rules, n, rhost);
		(void)addr_list_match(rules, n, NULL);
	}
	if (parse_scope_list(s, &scope, &n) == 0) {
		if (n > TOKEN_MAX_SCOPE || scope[n] != NULL)
			fuzz_fail("scope list out of bounds");
		if (n > 0 && !scope_match((const char *const *)scope, n,
		    scope[n - 1]))
			fuzz_fail("a listed service is out of scope");
		(void)scope_match((const char *const *)scope, n, service);
	}
	free(rules);
	free(again);
	strv_free(scope);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *f[3], *blob;
	int64_t t[2];

	fuzz_split(data, size, '\n', f, 3, &blob);
	one_string(f[0], f[1], f[2]);
	free(blob);
	fuzz_split(data, size, '\0', f, 1, &blob);
	one_string(f[0], "", "");
	free(blob);
	if (size >= sizeof(t)) {
		char buf[64];

		memcpy(t, data, sizeof(t));
		format_time_rfc3339(t[0], buf, sizeof(buf));
		format_time_human(t[0], t[1], buf, sizeof(buf));
	}
	return 0;
}
