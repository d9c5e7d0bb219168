/*
 * The NSS module links libtdb statically (see the Makefile): then libtdb's
 * open list and its locks belong to this module alone, instead of being
 * shared, without any lock, with the PAM module and the process (tdb_open_ex
 * and tdb_close edit a process-global list).  libtdb.a leaves one symbol to
 * Samba's libreplace, which libtdb.so carries privately: memset_s.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

int rep_memset_s(void *dest, size_t destsz, int ch, size_t count);

int
rep_memset_s(void *dest, size_t destsz, int ch, size_t count)
{
	if (dest == NULL)
		return EINVAL;
	if (destsz > SIZE_MAX >> 1 || count > SIZE_MAX >> 1 || count > destsz)
		return ERANGE;
	memset(dest, ch, count);
	/* keep the compiler from dropping a wipe of memory about to die */
	__asm__ volatile("" : : "r"(dest) : "memory");
	return 0;
}
