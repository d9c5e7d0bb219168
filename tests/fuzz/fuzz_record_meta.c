/*
 * The meta record decoder on any bytes.  What it accepts must encode
 * again, and decoding that encoding must give the same encoding back (the
 * codec is stable), so a decoder that accepts more than the encoder can
 * write is a finding too.
 */
#include "fuzz.h"
#include "record.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct meta a, b;
	uint8_t *e1 = NULL, *e2 = NULL;
	size_t n1 = 0, n2 = 0;

	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	if (record_decode_meta(data, size, &a) != 0)
		return 0;
	if (record_encode_meta(&a, &e1, &n1) != 0)
		fuzz_fail("a decoded meta does not encode");
	if (record_decode_meta(e1, n1, &b) != 0)
		fuzz_fail("an encoded meta does not decode");
	if (record_encode_meta(&b, &e2, &n2) != 0 || n1 != n2 ||
	    memcmp(e1, e2, n1) != 0)
		fuzz_fail("meta: encode(decode(x)) is not stable");

	meta_clear(&a);
	meta_clear(&b);
	free(e1);
	free(e2);
	return 0;
}
