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

#endif
