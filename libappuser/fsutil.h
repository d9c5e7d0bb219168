/*
 * Internal: file system helpers for the store (directory safety checks in
 * the manner of OpenSSH's StrictModes, whole-file copy, fsync).  Nothing
 * here prints; every function returns 0 or a negative APPUSER_ERR_*.
 */
#ifndef APPUSER_FSUTIL_H
#define APPUSER_FSUTIL_H

#include <sys/types.h>

#include "appuser.h"

/*
 * errno -> APPUSER_ERR_*: EACCES/EPERM/EROFS -> PERMISSION, ENOMEM -> NOMEM,
 * ENOENT/ENOTDIR -> enoent_err, anything else -> SYSTEM.
 */
int fs_errno(int e, int enoent_err);

/*
 * After a failed write to fd whose cause errno may not hold (tdb reports a
 * posix_fallocate refused for lack of space as TDB_ERR_IO and leaves errno
 * alone): sets errno to ENOSPC when fd's file system has less room left
 * than fd's size or no free inode, else keeps errno (EIO if it is 0).
 */
void fs_io_errno(int fd);

/* "dir/name", malloc'd (caller frees); NULL on ENOMEM. */
char *fs_join(const char *dir, const char *name);

/*
 * StrictModes check: dir (symlinks resolved) must be a directory owned by
 * root or the euid and not writable by group or other; so must each parent
 * up to "/", except that a sticky parent (such as /tmp) may be writable.
 * Sets *ownerp to the owner of dir.  Errors: NOSTORE (missing), UNSAFE,
 * PERMISSION, SYSTEM.
 */
int fs_check_dir(const char *dir, uid_t *ownerp);

/* mkdir dir with exactly mode (chmod after, so the umask does not count);
 * an existing dir is left alone.  Only the last component is created. */
int fs_mkdir(const char *dir, mode_t mode);

/* fd must be a regular file owned by owner with mode (07777 bits) exactly
 * mode, else UNSAFE. */
int fs_check_file(int fd, uid_t owner, mode_t mode);

/* Copy all of in (from offset 0) into out (at its current offset). */
int fs_copy_fd(int in, int out);

/* fsync a directory (after a rename in it). */
int fs_fsync_dir(const char *dir);

/* Unlink every entry of dir whose name starts with prefix. */
int fs_remove_prefixed(const char *dir, const char *prefix);

/* CLOCK_MONOTONIC in milliseconds: the deadlines of lock attempts. */
int64_t fs_mono_ms(void);

/* CLOCK_MONOTONIC in seconds, to the nanosecond: the durations the CLI and
 * the agent report (subtract two readings). */
double fs_mono_s(void);

#endif
