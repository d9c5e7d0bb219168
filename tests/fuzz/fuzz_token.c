/*
 * Token parser and verifier.  Input: lines "token\nallow_from\nscope\n
 * service\nrhost".  The whole input goes through token_parse; the first
 * line through token_id_from_prefix; a token that parses is then checked
 * (token_check) against a stored token with its own id and verifier and the
 * allow_from and scope lists parsed from the input: the verdict must be
 * one a matching secret can get.
 */
#include <stdbool.h>

#include "fuzz.h"
#include "names.h"
#include "token.h"

#define UID	1900000100u

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	char id[TOKEN_ID_LEN + 1], id2[TOKEN_ID_LEN + 1];
	uint8_t ver[TOKEN_VERIFIER_LEN], bad[TOKEN_VERIFIER_LEN];
	struct addr_rule *allow = NULL;
	char **scope = NULL;
	size_t nallow = 0, nscope = 0;
	struct token t;
	char *f[5], *blob;
	int v;

	if (!ready) {
		if (crypto_init() != 0)
			abort();
		ready = true;
	}
	(void)token_parse((const char *)data, size, id, ver);
	fuzz_split(data, size, '\n', f, 5, &blob);
	if (token_id_from_prefix(f[0], id2) == 0 && strlen(id2) != TOKEN_ID_LEN)
		fuzz_fail("token_id_from_prefix: id of the wrong length");
	if (token_parse(f[0], strlen(f[0]), id, ver) != 0)
		goto out;
	if (token_id_from_prefix(f[0], id2) != 0 || strcmp(id, id2) != 0)
		fuzz_fail("a token that parses has no usable prefix");
	memset(&t, 0, sizeof(t));
	memcpy(t.id, id, sizeof(t.id));
	t.user = "bot";
	t.uid = UID;
	memcpy(t.verifier, ver, sizeof(t.verifier));
	t.description = t.last_ip = t.last_service = "";
	if (parse_allow_list(f[1], &allow, &nallow) == 0) {
		t.allow = allow;
		t.n_allow = nallow;
	}
	if (parse_scope_list(f[2], &scope, &nscope) == 0) {
		t.scope = (const char **)scope;
		t.n_scope = nscope;
	}
	v = token_check(&t, "bot", UID, ver, f[3], f[4], 1000);
	if (v != VERIFY_OK && v != VERIFY_ADDRESS && v != VERIFY_SERVICE)
		fuzz_fail("the right secret got a wrong verdict");
	if (verify_reason(v) == NULL)
		fuzz_fail("verify_reason");
	memcpy(bad, ver, sizeof(bad));
	bad[0] ^= 1;
	if (token_check(&t, "bot", UID, bad, f[3], f[4], 1000) !=
	    VERIFY_MISMATCH)
		fuzz_fail("another secret was not a mismatch");
	if (token_check(&t, "bob", UID, ver, f[3], f[4], 1000) !=
	    VERIFY_WRONG_USER)
		fuzz_fail("another user's token was accepted");
	if (token_check(NULL, "bot", UID, ver, f[3], f[4], 1000) !=
	    VERIFY_UNKNOWN)
		fuzz_fail("no stored token, yet not unknown");
	t.revoke_time = 500;
	if (token_check(&t, "bot", UID, ver, f[3], f[4], 1000) !=
	    VERIFY_REVOKED)
		fuzz_fail("a revoked token was not refused as revoked");
 out:
	free(allow);
	strv_free(scope);
	free(blob);
	return 0;
}
