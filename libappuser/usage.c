/*
 * The usage file (design and layout in usage.h).  Linked into the PAM
 * module: nothing here prints, waits unboundedly or keeps a descriptor.
 */
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "codec.h"
#include "fsutil.h"
#include "token.h"
#include "usage.h"

#define OFF_ID		4
#define OFF_USED	16
#define OFF_EXPIRY	24
#define OFF_IP		32
#define OFF_SERVICE	80
#define OFF_CRC		120
#define SLEEP_MIN_NS	50000L		/* 50 us, doubling */
#define SLEEP_MAX_NS	2000000L	/* 2 ms */

static int64_t
get64(const uint8_t *p)
{
	return (int64_t)le64_get(p);
}

static bool
slot_ok(uint32_t slot)
{
	return slot > 0 && slot < USAGE_MAX_SLOT;
}

int
usage_read(int fd, uint32_t slot, const char *id, struct usage *up)
{
	uint8_t b[USAGE_SLOT_SIZE];
	struct usage u;

	if (fd < 0 || !slot_ok(slot) || id == NULL)
		return APPUSER_ERR_NOT_FOUND;
	if (pread(fd, b, sizeof(b), (off_t)slot * USAGE_SLOT_SIZE) !=
	    (ssize_t)sizeof(b))
		return APPUSER_ERR_NOT_FOUND;
	if (le32_get(b) != USAGE_MAGIC || le32_get(b + OFF_CRC) !=
	    crc32_ieee(b, OFF_CRC) || memcmp(b + OFF_ID, id, TOKEN_ID_LEN) != 0)
		return APPUSER_ERR_NOT_FOUND;
	u.last_used = get64(b + OFF_USED);
	u.expiry = get64(b + OFF_EXPIRY);
	if (u.last_used < 0 || u.last_used > RECORD_TIME_MAX ||
	    u.expiry < 0 || u.expiry > RECORD_TIME_MAX)
		return APPUSER_ERR_NOT_FOUND;
	memcpy(u.ip, b + OFF_IP, USAGE_IP_LEN);
	u.ip[USAGE_IP_LEN - 1] = '\0';
	memcpy(u.service, b + OFF_SERVICE, USAGE_SERVICE_LEN);
	u.service[USAGE_SERVICE_LEN - 1] = '\0';
	*up = u;
	return 0;
}

int
usage_open(const char *dir, uid_t owner, bool writable, int *fdp)
{
	struct stat sb;
	char *path;
	int fd, e;

	if ((path = fs_join(dir, APPUSER_USAGE_FILE)) == NULL)
		return APPUSER_ERR_NOMEM;
	fd = open(path, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC |
	    O_NOFOLLOW | O_NONBLOCK);
	e = errno;
	free(path);
	if (fd == -1)
		return e == ELOOP ? APPUSER_ERR_UNSAFE :
		    fs_errno(e, APPUSER_ERR_NOSTORE);
	if (fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode) ||
	    sb.st_uid != owner || (sb.st_mode & 077) != 0) {
		close(fd);
		return APPUSER_ERR_UNSAFE;
	}
	*fdp = fd;
	return 0;
}

/* Printable ASCII only, cut to n - 1: rhost comes from the network and
 * ends up on an admin's terminal. */
static void
put_text(uint8_t *dst, const char *s, size_t n)
{
	size_t i;

	memset(dst, 0, n);
	for (i = 0; s != NULL && s[i] != '\0' && i < n - 1; i++)
		dst[i] = (s[i] < 0x21 || s[i] > 0x7e) ? '?' : (uint8_t)s[i];
}

/* F_OFD_SETLK on the slot's bytes, retried with backoff until deadline. */
static int
slot_lock(int fd, uint32_t slot, short type, int timeout_ms)
{
	struct timespec pause = { 0, SLEEP_MIN_NS };
	struct flock fl;
	int64_t deadline = fs_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);

	for (;;) {
		memset(&fl, 0, sizeof(fl));
		fl.l_type = type;
		fl.l_whence = SEEK_SET;
		fl.l_start = (off_t)slot * USAGE_SLOT_SIZE;
		fl.l_len = USAGE_SLOT_SIZE;
		if (fcntl(fd, F_OFD_SETLK, &fl) == 0)
			return 0;
		if (errno != EAGAIN && errno != EACCES && errno != EINTR)
			return fs_errno(errno, APPUSER_ERR_SYSTEM);
		if (type == F_UNLCK || fs_mono_ms() >= deadline)
			return APPUSER_ERR_BUSY;
		nanosleep(&pause, NULL);
		pause.tv_nsec = pause.tv_nsec < SLEEP_MAX_NS / 2 ?
		    pause.tv_nsec * 2 : SLEEP_MAX_NS;
	}
}

int
usage_write(int fd, uint32_t slot, const char *id, int64_t now,
    const char *rhost, const char *service, int64_t expiry, int timeout_ms)
{
	uint8_t b[USAGE_SLOT_SIZE];
	ssize_t n;
	int r;

	if (fd < 0 || !slot_ok(slot) || id == NULL ||
	    strlen(id) != TOKEN_ID_LEN)
		return APPUSER_ERR_INVALID;
	memset(b, 0, sizeof(b));
	le32_put(b, USAGE_MAGIC);
	memcpy(b + OFF_ID, id, TOKEN_ID_LEN);
	le64_put(b + OFF_USED, (uint64_t)now);
	le64_put(b + OFF_EXPIRY, (uint64_t)expiry);
	put_text(b + OFF_IP, rhost, USAGE_IP_LEN);
	put_text(b + OFF_SERVICE, service, USAGE_SERVICE_LEN);
	le32_put(b + OFF_CRC, crc32_ieee(b, OFF_CRC));
	if ((r = slot_lock(fd, slot, F_WRLCK, timeout_ms)) != 0)
		return r;
	n = pwrite(fd, b, sizeof(b), (off_t)slot * USAGE_SLOT_SIZE);
	r = n == (ssize_t)sizeof(b) ? 0 :
	    fs_errno(n < 0 ? errno : ENOSPC, APPUSER_ERR_SYSTEM);
	(void)slot_lock(fd, slot, F_UNLCK, 0);
	return r;
}

int
usage_create(const char *dir)
{
	char *path;
	int fd, e;

	if ((path = fs_join(dir, APPUSER_USAGE_FILE)) == NULL)
		return APPUSER_ERR_NOMEM;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK,
	    0600);
	e = errno;
	free(path);
	if (fd == -1)
		return e == ELOOP ? APPUSER_ERR_UNSAFE :
		    fs_errno(e, APPUSER_ERR_SYSTEM);
	if (fchmod(fd, 0600) == -1) {
		e = errno;
		close(fd);
		return fs_errno(e, APPUSER_ERR_SYSTEM);
	}
	close(fd);
	return 0;
}

void
usage_overlay(struct token *t, const struct usage *u)
{
	if (u->last_used > t->last_used_time) {
		t->last_used_time = u->last_used;
		t->last_ip = u->ip;
		t->last_service = u->service;
	}
	if (t->extend_when_used && t->expiry_time != 0 &&
	    u->expiry > t->expiry_time && t->max_age_seconds > 0 &&
	    u->expiry <= u->last_used + t->max_age_seconds)
		t->expiry_time = u->expiry;
}
