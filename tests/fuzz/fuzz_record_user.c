/*
 * The user record decoder on any bytes.  What it accepts must encode
 * again, and decoding that encoding must give the same encoding back (the
 * codec is stable), so a decoder that accepts more than the encoder can
 * write is a finding too.
 */
#include "fuzz.h"
#include "record.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct user a, b;
	uint8_t *e1 = NULL, *e2 = NULL;
	size_t n1 = 0, n2 = 0;

	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	if (record_decode_user(data, size, &a) != 0)
		return 0;
	if (record_encode_user(&a, &e1, &n1) != 0)
		fuzz_fail("a decoded user does not encode");
	if (record_decode_user(e1, n1, &b) != 0)
		fuzz_fail("an encoded user does not decode");
	if (record_encode_user(&b, &e2, &n2) != 0 || n1 != n2 ||
	    memcmp(e1, e2, n1) != 0)
		fuzz_fail("user: encode(decode(x)) is not stable");
	{
		struct user *c = user_dup(&a);

		if (c == NULL)
			abort();
		user_free(c);
	}

	free(e1);
	free(e2);
	return 0;
}
