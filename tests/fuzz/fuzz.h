/*
 * Shared by the libFuzzer targets in tests/fuzz/ (see HACKING.md).  Each
 * target defines LLVMFuzzerTestOneInput; a broken property calls
 * fuzz_fail(), which aborts so that libFuzzer keeps the input.
 */
#ifndef APPUSER_FUZZ_H
#define APPUSER_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define fuzz_fail(why) do {						\
	fprintf(stderr, "fuzz property broken at %s:%d: %s\n",		\
	    __FILE__, __LINE__, (why));					\
	abort();							\
} while (0)

#define FUZZ_MAX_FIELDS	8

/*
 * Split data at sep into at most n NUL-terminated fields (the last one
 * takes the rest, missing ones are "").  One allocation, owned by the
 * caller through *blobp; aborts when out of memory.
 */
static inline void
fuzz_split(const uint8_t *data, size_t size, char sep, char **f, size_t n,
    char **blobp)
{
	char *blob, *p, *q;
	size_t i;

	if ((blob = malloc(size + 1)) == NULL)
		abort();
	if (size > 0)
		memcpy(blob, data, size);
	blob[size] = '\0';
	p = blob;
	for (i = 0; i < n; i++) {
		f[i] = p;
		if (i + 1 < n && (q = memchr(p, sep, strlen(p))) != NULL) {
			*q = '\0';
			p = q + 1;
		} else
			p += strlen(p);
	}
	*blobp = blob;
}

/* For FUZZ_RECORD_TARGET: a step a record type does not need. */
static inline void
fuzz_nothing(const void *p)
{
	(void)p;
}

/* For FUZZ_RECORD_TARGET: fuzz_copies_T(r) checks that a decoded struct
 * T copies (T_dup) and the copy frees (T_free). */
#define FUZZ_COPIES(T)							\
static void								\
fuzz_copies_##T(const struct T *r)					\
{									\
	struct T *c = T##_dup(r);					\
									\
	if (c == NULL)							\
		abort();						\
	T##_free(c);							\
}

/*
 * The whole target for the codec of struct T (record.h): what
 * record_decode_T accepts must encode again, and decoding that encoding
 * must give the same encoding back (the codec is stable), so a decoder
 * that accepts more than the encoder can write is a finding too.  Then
 * check(&a) runs on the decoded record, and clear() releases what each
 * decoding took (fuzz_nothing where there is nothing to do).
 */
#define FUZZ_RECORD_TARGET(T, check, clear)				\
int									\
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)		\
{									\
	struct T a, b;							\
	uint8_t *e1 = NULL, *e2 = NULL;					\
	size_t n1 = 0, n2 = 0;						\
									\
	memset(&a, 0, sizeof(a));					\
	memset(&b, 0, sizeof(b));					\
	if (record_decode_##T(data, size, &a) != 0)			\
		return 0;						\
	if (record_encode_##T(&a, &e1, &n1) != 0)			\
		fuzz_fail("a decoded " #T " does not encode");		\
	if (record_decode_##T(e1, n1, &b) != 0)				\
		fuzz_fail("an encoded " #T " does not decode");		\
	if (record_encode_##T(&b, &e2, &n2) != 0 || n1 != n2 ||	\
	    memcmp(e1, e2, n1) != 0)					\
		fuzz_fail(#T ": encode(decode(x)) is not stable");	\
	check(&a);							\
	clear(&a);							\
	clear(&b);							\
	free(e1);							\
	free(e2);							\
	return 0;							\
}

#endif
