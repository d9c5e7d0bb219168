/*
 * Packing NSS answers into the caller's memory: pure functions with no
 * state and no lookups, so that each can be tested on its own at buffer
 * sizes N-1 and N (tests/test_nss_pack.c).  Every pointer they set points
 * into the caller's buf; nothing is allocated except by pack_gid, which
 * grows the caller's array as glibc's initgroups_dyn contract allows.
 *
 * The sizes: a passwd needs the five strings with their NULs (name, "x",
 * gecos, home, shell); a group needs the alignment pad of buf, nmem + 1
 * pointers, then name, "x" and the member names with their NULs.
 */
#ifndef NSS_APPUSER_PACK_H
#define NSS_APPUSER_PACK_H

#include <sys/types.h>

#include <grp.h>
#include <pwd.h>
#include <stddef.h>

#include "record.h"

/*
 * Length of a field (without the NUL), or SIZE_MAX if it could break a
 * passwd/group line: NULL, ':' or a control byte (newline).  The writer
 * validated the strings already; this is defence in depth against a
 * tampered file.
 */
size_t pack_field_len(const char *s);

/*
 * u as a passwd entry in buf.  Returns 0, ERANGE (buf NULL or shorter than
 * the need) or EINVAL (a field pack_field_len refuses); *pwd is written
 * only on 0.
 */
int pack_passwd(const struct user *u, struct passwd *pwd, char *buf,
    size_t buflen);

/*
 * A group with nmem members (mem[0..nmem-1]; mem may be NULL when nmem is
 * 0).  The member array goes first, aligned for char *.  Returns 0, ERANGE
 * or EINVAL (a refused name, a member with ',' or more than 65536
 * members); *grp is written only on 0.
 */
int pack_group(const char *name, gid_t gid, const char *const *mem,
    size_t nmem, struct group *grp, char *buf, size_t buflen);

/*
 * Append gid to the initgroups_dyn array (*groupsp, *size slots, *start
 * used) unless it is there already.  A full array grows (doubling, from
 * 16) up to limit when limit > 0; at the limit gid is dropped, as glibc's
 * own modules do, and that is success.  Returns 0 or ENOMEM (the array is
 * then unchanged).
 */
int pack_gid(gid_t gid, long int *start, long int *size, gid_t **groupsp,
    long int limit);

#endif
