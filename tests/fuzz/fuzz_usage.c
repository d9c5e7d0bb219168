/*
 * The usage file reader (usage.c) on any bytes: every slot of the input,
 * read as the token the input names.  Property: no crash, strings always
 * terminated, times inside the record range; and a slot written by
 * usage_write reads back as written.
 */
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz.h"
#include "token.h"
#include "usage.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char id[TOKEN_ID_LEN + 1] = "AAAAAAAAAAAA";
	struct usage u;
	uint32_t slot, n;
	int fd;

	if (size >= USAGE_SLOT_SIZE + 4 + TOKEN_ID_LEN)
		memcpy(id, data + USAGE_SLOT_SIZE + 4, TOKEN_ID_LEN);
	if ((fd = memfd_create("usage", MFD_CLOEXEC)) < 0)
		fuzz_fail("memfd_create");
	if (size > 0 && write(fd, data, size) != (ssize_t)size)
		fuzz_fail("write");
	n = (uint32_t)(size / USAGE_SLOT_SIZE) + 1;
	for (slot = 0; slot <= n; slot++) {
		if (usage_read(fd, slot, id, &u) != 0)
			continue;
		if (memchr(u.ip, '\0', sizeof(u.ip)) == NULL ||
		    memchr(u.service, '\0', sizeof(u.service)) == NULL)
			fuzz_fail("an unterminated string");
		if (u.last_used < 0 || u.expiry < 0)
			fuzz_fail("a negative time");
	}
	/* what is written reads back (address and service cut, not lost) */
	if (usage_write(fd, 1, id, 1700000000, "192.0.2.1", "sshd",
	    1700003600, 10) == 0) {
		if (usage_read(fd, 1, id, &u) != 0 ||
		    u.last_used != 1700000000 || u.expiry != 1700003600 ||
		    strcmp(u.ip, "192.0.2.1") != 0 ||
		    strcmp(u.service, "sshd") != 0)
			fuzz_fail("a written slot does not read back");
	}
	close(fd);
	return 0;
}
