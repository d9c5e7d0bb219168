/*
 * The NSS module's reader of the published identity pair (snapfile.h,
 * idview.c) and its packers, on any bytes, through the module's own entry
 * points as glibc calls them.  The module is the test build
 * (NSS_APPUSER_TEST_BUILD: its store comes from APPUSER_STORE).
 *
 * Input: one mode byte, a 16-bit split, then bytes.  Mode bit 0 clear: all
 * the bytes are identity.snap and there is no delta.  Set: the first split
 * bytes are identity.delta, the rest identity.snap.  Each input is renamed
 * into place as appuser would, so the module sees a new file every time.
 * Property: no crash, no sanitizer report, no endless loop, and whatever
 * the module hands out is never id 0 nor below the floor.
 */
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <nss.h>
#include <pwd.h>
#include <unistd.h>

#include "appuser.h"
#include "entry.h"
#include "fuzz.h"

static char dir[64];

static void
put(const char *name, const uint8_t *p, size_t n)
{
	char tmp[128], path[128];
	int fd;

	snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, name);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644)) < 0 ||
	    (n > 0 && write(fd, p, n) != (ssize_t)n) || close(fd) != 0 ||
	    rename(tmp, path) != 0)
		fuzz_fail("cannot write the input file");
}

static void
setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/fuzz_nss_snapshot.%ld",
	    (long)getpid());
	if (mkdir(dir, 0755) != 0 && errno != EEXIST)
		fuzz_fail("mkdir");
	if (setenv(APPUSER_STORE_ENV, dir, 1) != 0)
		fuzz_fail("setenv");
}

static void
check_id(unsigned long id)
{
	if (id < APPUSER_ID_FLOOR)
		fuzz_fail("the module handed out an id below the floor");
}

static void
lookups(void)
{
	static const char *names[] = { "alice", "bob", "appuser-admins",
	    "root", "c0" };
	char buf[1024];
	struct passwd pw;
	struct group gr;
	gid_t *groups;
	long int start, size;
	size_t i;
	int err, n;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (_nss_appuser_getpwnam_r(names[i], &pw, buf, sizeof(buf),
		    &err) == NSS_STATUS_SUCCESS)
			check_id(pw.pw_uid);
		if (_nss_appuser_getgrnam_r(names[i], &gr, buf, sizeof(buf),
		    &err) == NSS_STATUS_SUCCESS)
			check_id(gr.gr_gid);
		start = 1, size = 4;
		if ((groups = calloc(4, sizeof(*groups))) == NULL)
			abort();
		(void)_nss_appuser_initgroups_dyn(names[i], 100, &start,
		    &size, &groups, 0, &err);
		while (--start > 0)
			check_id(groups[start]);
		free(groups);
	}
	for (i = 0; i < 4; i++) {
		if (_nss_appuser_getpwuid_r(1900000000 + i, &pw, buf,
		    sizeof(buf), &err) == NSS_STATUS_SUCCESS)
			check_id(pw.pw_uid);
		if (_nss_appuser_getgrgid_r(1900000000 + i, &gr, buf,
		    sizeof(buf), &err) == NSS_STATUS_SUCCESS)
			check_id(gr.gr_gid);
	}
	_nss_appuser_setpwent(0);
	for (n = 0; n < 100000 && _nss_appuser_getpwent_r(&pw, buf,
	    sizeof(buf), &err) == NSS_STATUS_SUCCESS; n++)
		check_id(pw.pw_uid);
	_nss_appuser_endpwent();
	_nss_appuser_setgrent(0);
	for (n = 0; n < 100000 && _nss_appuser_getgrent_r(&gr, buf,
	    sizeof(buf), &err) == NSS_STATUS_SUCCESS; n++)
		check_id(gr.gr_gid);
	_nss_appuser_endgrent();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[128];
	size_t split;

	if (dir[0] == '\0')
		setup();
	if (size < 3)
		return 0;
	split = (size_t)data[1] << 8 | data[2];
	if (split > size - 3)
		split = size - 3;
	snprintf(path, sizeof(path), "%s/%s", dir, APPUSER_IDENTITY_DELTA);
	if (data[0] & 1) {
		put(APPUSER_IDENTITY_DELTA, data + 3, split);
		put(APPUSER_IDENTITY_FILE, data + 3 + split, size - 3 - split);
	} else {
		if (unlink(path) != 0 && errno != ENOENT)
			fuzz_fail("unlink");
		put(APPUSER_IDENTITY_FILE, data + 3, size - 3);
	}
	lookups();
	return 0;
}
