/*
 * Packing NSS answers into the caller's memory (pack.h).
 */
#include <errno.h>
#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pack.h"

size_t
pack_field_len(const char *s)
{
	size_t i;

	if (s == NULL)
		return SIZE_MAX;
	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] == ':' || (unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return SIZE_MAX;
	}
	return i;
}

int
pack_passwd(const struct user *u, struct passwd *pwd, char *buf,
    size_t buflen)
{
	const char *src[5];
	char *dst[5];
	size_t len[5], need = 0, off = 0, i;

	src[0] = u->name;
	src[1] = "x";
	src[2] = u->description;
	src[3] = u->home;
	src[4] = u->shell;
	for (i = 0; i < 5; i++) {
		if ((len[i] = pack_field_len(src[i])) == SIZE_MAX)
			return EINVAL;
		len[i]++;
		need += len[i];		/* each field is < 64k: no overflow */
	}
	if (buf == NULL || need > buflen)
		return ERANGE;
	for (i = 0; i < 5; i++) {
		dst[i] = memcpy(buf + off, src[i], len[i]);
		off += len[i];
	}
	pwd->pw_name = dst[0];
	pwd->pw_passwd = dst[1];
	pwd->pw_gecos = dst[2];
	pwd->pw_dir = dst[3];
	pwd->pw_shell = dst[4];
	pwd->pw_uid = u->uid;
	pwd->pw_gid = u->gid;
	return 0;
}

int
pack_group(const char *name, gid_t gid, const char *const *mem, size_t nmem,
    struct group *grp, char *buf, size_t buflen)
{
	size_t pad, need, i;
	char **arr, *p;

	if (buf == NULL)
		return ERANGE;
	if (pack_field_len(name) == SIZE_MAX || nmem > 65536)
		return EINVAL;
	pad = (alignof(char *) - (uintptr_t)buf % alignof(char *)) %
	    alignof(char *);
	need = pad + (nmem + 1) * sizeof(char *) + strlen(name) + 1 + 2;
	for (i = 0; i < nmem; i++) {
		size_t len;

		if ((len = pack_field_len(mem[i])) == SIZE_MAX ||
		    strchr(mem[i], ',') != NULL)
			return EINVAL;
		need += len + 1;	/* at most 65536 * 64k: fits size_t */
	}
	if (need > buflen)
		return ERANGE;
	arr = (char **)(void *)(buf + pad);
	p = buf + pad + (nmem + 1) * sizeof(char *);
	grp->gr_name = p;
	p = stpcpy(p, name) + 1;
	grp->gr_passwd = p;
	p = stpcpy(p, "x") + 1;
	for (i = 0; i < nmem; i++) {
		arr[i] = p;
		p = stpcpy(p, mem[i]) + 1;
	}
	arr[nmem] = NULL;
	grp->gr_mem = arr;
	grp->gr_gid = gid;
	return 0;
}

int
pack_gid(gid_t gid, long int *start, long int *size, gid_t **groupsp,
    long int limit)
{
	gid_t *g;
	long int i;

	for (i = 0; i < *start; i++) {
		if ((*groupsp)[i] == gid)
			return 0;
	}
	if (*start >= *size) {
		long int newsize;

		if (limit > 0 && *size >= limit)
			return 0;	/* full: as glibc */
		newsize = *size > 0 ? 2 * *size : 16;
		if (limit > 0 && newsize > limit)
			newsize = limit;
		if ((size_t)newsize > SIZE_MAX / sizeof(gid_t) ||
		    (g = realloc(*groupsp, newsize * sizeof(gid_t))) == NULL)
			return ENOMEM;
		*groupsp = g;
		*size = newsize;
	}
	(*groupsp)[(*start)++] = gid;
	return 0;
}
