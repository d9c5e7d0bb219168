/*
 * The snapshot file reader (snapfile.c) on any bytes: open, read every
 * record by number, look each key up again.  Property: no crash, no
 * sanitizer report, no endless loop; a record found by number is found by
 * its key (or the file is called corrupt), never another record.
 */
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "fuzz.h"
#include "snapfile.h"

static char path[64];

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct snaprec a, b;
	struct snapr *r = NULL;
	uint32_t i, n;
	int fd, kind;

	if (path[0] == '\0')
		snprintf(path, sizeof(path), "/tmp/fuzz_snapfile.%ld",
		    (long)getpid());
	(void)unlink(path);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600)) < 0 ||
	    (size > 0 && write(fd, data, size) != (ssize_t)size) ||
	    close(fd) != 0)
		fuzz_fail("cannot write the input file");
	kind = size > 12 && data[12] == SNAP_KIND_TOKENS ? SNAP_KIND_TOKENS :
	    SNAP_KIND_IDENTITY;
	if (snapr_open(path, kind, geteuid(), 077, &r) != 0)
		return 0;
	n = snapr_count(r);
	for (i = 0; i < n && i < 100000; i++) {
		if (snapr_at(r, i, &a) != 0)
			continue;
		if (a.klen > SNAPFILE_MAX_KEY ||
		    (a.val != NULL && a.vlen > SNAPFILE_MAX_VALUE))
			fuzz_fail("a record longer than the format allows");
		if (snapr_get(r, a.key, a.klen, &b) == 0 &&
		    (b.klen != a.klen || memcmp(b.key, a.key, a.klen) != 0))
			fuzz_fail("a lookup returned another key");
	}
	(void)snapr_get(r, "!meta", 5, &b);
	snapr_close(r);
	return 0;
}
