/*
 * identity.gen, the change counter (gencount.h; why: idview.c).
 */
#include <sys/mman.h>
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "fsutil.h"
#include "gencount.h"

/* A file readers may map once its mode is fixed (an empty one was left by
 * a writer that died just after creating it: it is grown). */
static bool
gen_reusable(uid_t owner, const struct stat *sb)
{
	return S_ISREG(sb->st_mode) && sb->st_uid == owner &&
	    (sb->st_size == 0 || sb->st_size == GEN_FILE_SIZE);
}

/*
 * identity.gen opened read-write (created if missing), as readers may map
 * it: a regular file of ours, 0644, GEN_FILE_SIZE bytes.  Anything else
 * that is there (a symlink, another size or owner) no reader maps, so it
 * is replaced; a wrong mode is fixed in place, keeping mappings valid.
 * UNSAFE: something that cannot be removed (a directory) is in the way.
 */
static int
gen_open(uid_t owner, const char *path, int *fdp)
{
	struct stat sb;
	int fd;

	if (lstat(path, &sb) == 0 && !gen_reusable(owner, &sb) &&
	    unlink(path) == -1)
		return APPUSER_ERR_UNSAFE;
	/* O_NONBLOCK: a FIFO put there meanwhile must not hang the writer */
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK,
	    0644);
	if (fd == -1)
		return fs_errno(errno, APPUSER_ERR_SYSTEM);
	if (fstat(fd, &sb) == -1 || !gen_reusable(owner, &sb)) {
		close(fd);
		return APPUSER_ERR_UNSAFE;
	}
	if (((sb.st_mode & 07777) != 0644 && fchmod(fd, 0644) == -1) ||
	    (sb.st_size == 0 && ftruncate(fd, GEN_FILE_SIZE) == -1)) {
		int e = errno;

		close(fd);
		return fs_errno(e, APPUSER_ERR_SYSTEM);
	}
	*fdp = fd;
	return 0;
}

int
gencount_publish(const char *dir, uid_t owner, uint64_t generation,
    bool bump)
{
	uint64_t w[GEN_WORDS];
	char *path;
	int fd = -1, r = APPUSER_ERR_INTERNAL;

	if ((path = fs_join(dir, APPUSER_GEN_FILE)) == NULL)
		return APPUSER_ERR_NOMEM;
	r = gen_open(owner, path, &fd);
	free(path);
	if (r != 0)
		return r == APPUSER_ERR_UNSAFE ? 0 : r;
	if (pread(fd, w, sizeof(w), 0) != (ssize_t)sizeof(w))
		r = APPUSER_ERR_SYSTEM;
	else if (bump || w[GEN_W_PUBLISHED] != generation) {
		w[GEN_W_COUNTER]++;
		w[GEN_W_PUBLISHED] = generation;
		if (pwrite(fd, w, sizeof(w), 0) != (ssize_t)sizeof(w))
			r = fs_errno(errno, APPUSER_ERR_SYSTEM);
	}
	close(fd);
	return r;
}

bool
gencount_stat_ok(const struct stat *sb, uid_t owner)
{
	return S_ISREG(sb->st_mode) && sb->st_size == GEN_FILE_SIZE &&
	    (sb->st_mode & 022) == 0 && sb->st_uid == owner;
}

void
gencount_map(const char *path, uid_t owner, struct gencount_map *m)
{
	struct stat sb;
	void *p;
	int fd;

	m->w = NULL;
	/* O_NONBLOCK: a FIFO put there must not hang a lookup */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd == -1)
		return;
	if (fstat(fd, &sb) == 0 && gencount_stat_ok(&sb, owner) &&
	    (p = mmap(NULL, GEN_FILE_SIZE, PROT_READ, MAP_SHARED, fd, 0)) !=
	    MAP_FAILED) {
		m->w = p;
		m->dev = sb.st_dev;
		m->ino = sb.st_ino;
	}
	close(fd);
}

void
gencount_unmap(struct gencount_map *m)
{
	if (m->w != NULL)
		munmap((void *)(uintptr_t)m->w, GEN_FILE_SIZE);
	m->w = NULL;
}

uint64_t
gencount_load(const struct gencount_map *m)
{
	return __atomic_load_n(&m->w[GEN_W_COUNTER], __ATOMIC_ACQUIRE);
}
