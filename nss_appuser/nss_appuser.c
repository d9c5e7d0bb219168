/*
 * nss_appuser: application users as passwd and group entries.
 *
 * A thin front end over the identity snapshot reader (idview_* in
 * store.h).  One process-global state sits behind a mutex: the open view
 * (opened on first use and kept), the enumeration cursors, and a memo of
 * the last failure to open so that a missing store costs one stat().  Every
 * lookup first calls idview_refresh(), which reads the change counter that
 * appuser bumps in identity.gen after each publication (mapped memory, no
 * system call) and stats/reopens only when it moved, so a running process
 * never answers from a snapshot older than the last `appuser` that
 * returned.  A forked child notices (atfork handler) and reopens.
 *
 * Answers are packed into the caller's buffer (pack.c); a short buffer
 * gives NSS_STATUS_TRYAGAIN with *errnop = ERANGE, the only pair on which
 * glibc retries with a bigger buffer.  Records that would give
 * uid/gid 0, uid != gid or an id outside the store's range are never
 * returned, whatever the store says.
 */
#include <sys/stat.h>
#include <sys/types.h>
#include <errno.h>
#include <grp.h>
#include <nss.h>
#include <pthread.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "appuser.h"
#include "names.h"
#include "record.h"
#include "store.h"

#include "entry.h"
#include "pack.h"

/* Retry a failed open at most this often, unless identity.snap changed. */
#define RETRY_SECONDS	1
#define PATH_BUF	4096

/* What identity.snap looked like when opening last failed. */
struct file_sig {
	int		stat_errno;	/* 0 if stat() worked */
	dev_t		dev;
	ino_t		ino;
	off_t		size;
	struct timespec	mtime;
	struct timespec	ctime;
};

/* The process state ("ps": "st" names a store everywhere else). */
static struct {
	struct idview		*view;
	bool			 forked;	/* set in the atfork child */
	char			 path[PATH_BUF];	/* identity.snap */
	int			 fail_errno;	/* last open failure, or 0 */
	struct timespec		 fail_time;
	struct file_sig		 fail_sig;
	struct idview_cursor	 pwcur;
	struct user		*pw_pending;	/* entry a short buffer refused */
	struct idview_cursor	 grcur;
	bool			 gr_admin_done;	/* admin group already listed */
	struct user		*gr_pending;
} ps = {
	.pwcur = IDVIEW_CURSOR_INIT,
	.grcur = IDVIEW_CURSOR_INIT,
};
static pthread_mutex_t ps_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t ps_once = PTHREAD_ONCE_INIT;

/* Results of a lookup callback (the callbacks always return 0). */
#define LK_NONE		0	/* callback not called or record refused */
#define LK_OK		1
#define LK_RANGE	2	/* caller's buffer too small */
#define LK_NOMEM	3

/* ---------------------------------------------------------------------- */
/* Validation (defence in depth). */

static bool
meta_ok(const struct meta *m)
{
	return m != NULL && m->uid_min > 0 && m->uid_min <= m->uid_max &&
	    m->uid_max < INT32_MAX;
}

static bool
id_ok(const struct meta *m, uint32_t id)
{
	return id != 0 && id >= m->uid_min && id <= m->uid_max;
}

/* Ids fit for passwd and group.  The name and the fields are checked by
 * lookup_match and the packers (each string is scanned once). */
static bool
ids_ok(const struct meta *m, const struct user *u)
{
	return id_ok(m, u->uid) && u->gid == u->uid;
}

static bool
fields_ok(const struct user *u)
{
	return pack_field_len(u->description) != SIZE_MAX &&
	    pack_field_len(u->home) != SIZE_MAX &&
	    pack_field_len(u->shell) != SIZE_MAX;
}

static bool
admin_group_ok(const struct meta *m)
{
	return id_ok(m, m->admin_gid) && name_is_valid(m->admin_group);
}

/* ---------------------------------------------------------------------- */
/* Process-global state: ps is only touched with ps_lock held. */

static void
atfork_prepare(void)
{
	pthread_mutex_lock(&ps_lock);
}

static void
atfork_parent(void)
{
	pthread_mutex_unlock(&ps_lock);
}

static void
atfork_child(void)
{
	ps.forked = true;
	pthread_mutex_unlock(&ps_lock);
}

/*
 * Lock order is ps_lock, then idview's lock.  Prepare handlers run in the
 * reverse order of registration, so ours must be registered after
 * idview's, which idview registers on its first use: releasing a
 * never-started cursor is such a use, with no other effect.
 */
static void
register_atfork(void)
{
	struct idview_cursor c = IDVIEW_CURSOR_INIT;

	idview_cursor_release(NULL, &c);
	/* fails only for lack of memory: a child then keeps the parent's
	 * read-only handles, which stay valid */
	(void)pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

static void
state_lock(void)
{
	pthread_once(&ps_once, register_atfork);
	pthread_mutex_lock(&ps_lock);
}

static void
state_unlock(void)
{
	pthread_mutex_unlock(&ps_lock);
}

static void
enum_reset_pw(void)
{
	idview_cursor_release(ps.view, &ps.pwcur);
	ps.pwcur = (struct idview_cursor)IDVIEW_CURSOR_INIT;
	user_free(ps.pw_pending);
	ps.pw_pending = NULL;
}

static void
enum_reset_gr(void)
{
	idview_cursor_release(ps.view, &ps.grcur);
	ps.grcur = (struct idview_cursor)IDVIEW_CURSOR_INIT;
	ps.gr_admin_done = false;
	user_free(ps.gr_pending);
	ps.gr_pending = NULL;
}

static void
state_drop(void)
{
	enum_reset_pw();
	enum_reset_gr();
	idview_close(ps.view);
	ps.view = NULL;
}

/*
 * On unload (dlclose, or glibc's __libc_freeres under valgrind) release the
 * snapshot.  A lookup still running in another thread while the process
 * ends keeps its state: never block or free under it.
 */
static void nss_appuser_fini(void) __attribute__((destructor));

static void
nss_appuser_fini(void)
{
	if (pthread_mutex_trylock(&ps_lock) != 0)
		return;
	state_drop();
	pthread_mutex_unlock(&ps_lock);
}

/* errno value for an idview error (never ERANGE, which means "grow"). */
static int
err_to_errno(int r, int sys_errno)
{
	switch (r) {
	case APPUSER_ERR_NOSTORE:
		return ENOENT;
	case APPUSER_ERR_BUSY:
		/*
		 * tdb refuses a second open of one file per process: only an
		 * appuser program holding the snapshot itself gets this.  Say
		 * "no answer" (ENOENT), as for a missing store, so that its
		 * NSS collision check does not take it for a failure.
		 */
		return ENOENT;
	case APPUSER_ERR_PERMISSION:
	case APPUSER_ERR_UNSAFE:
		return EACCES;
	case APPUSER_ERR_NOMEM:
		return ENOMEM;
	case APPUSER_ERR_SYSTEM:
		if (sys_errno != 0 && sys_errno != ERANGE)
			return sys_errno;
		return EIO;
	default:
		return EIO;
	}
}

static void
file_sig_get(struct file_sig *s)
{
	struct stat sb;

	memset(s, 0, sizeof(*s));
	if (stat(ps.path, &sb) != 0) {
		s->stat_errno = errno;
		return;
	}
	s->dev = sb.st_dev;
	s->ino = sb.st_ino;
	s->size = sb.st_size;
	s->mtime = sb.st_mtim;
	s->ctime = sb.st_ctim;
}

static bool
file_sig_same(const struct file_sig *a, const struct file_sig *b)
{
	return a->stat_errno == b->stat_errno && a->dev == b->dev &&
	    a->ino == b->ino && a->size == b->size &&
	    a->mtime.tv_sec == b->mtime.tv_sec &&
	    a->mtime.tv_nsec == b->mtime.tv_nsec &&
	    a->ctime.tv_sec == b->ctime.tv_sec &&
	    a->ctime.tv_nsec == b->ctime.tv_nsec;
}

static void
remember_failure(int err)
{
	ps.fail_errno = err;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ps.fail_time);
	file_sig_get(&ps.fail_sig);
}

/* After a failed open: retry only if a second passed or the file changed. */
static bool
retry_due(void)
{
	struct timespec now;
	struct file_sig sig;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
	if (now.tv_sec - ps.fail_time.tv_sec >= RETRY_SECONDS)
		return true;
	file_sig_get(&sig);
	return !file_sig_same(&sig, &ps.fail_sig);
}

/*
 * The store the module reads: compiled in, never from the environment of
 * the process it is loaded into (a setuid su inherits its caller's).  The
 * test build (NSS_APPUSER_TEST_BUILD, build/test-nss/, never installed)
 * reads APPUSER_STORE so that tests can point it at a temporary store.
 */
static const char *
store_path(void)
{
#ifdef NSS_APPUSER_TEST_BUILD
	const char *d = getenv(APPUSER_STORE_ENV);

	if (d != NULL && d[0] == '/')
		return d;
#endif
	return APPUSER_DEFAULT_STORE;
}

static int
state_open(void)
{
	const char *dir;
	int n, r;

	dir = store_path();
	n = snprintf(ps.path, sizeof(ps.path), "%s/%s", dir,
	    APPUSER_IDENTITY_FILE);
	if (n < 0 || (size_t)n >= sizeof(ps.path)) {
		ps.path[0] = '\0';
		return ENAMETOOLONG;
	}
	errno = 0;
	if ((r = idview_open(dir, &ps.view)) != 0) {
		int saved = errno;

		ps.view = NULL;
		return err_to_errno(r, saved);
	}
	return 0;
}

/*
 * Make ps.view usable and current.  With refresh false (enumeration in
 * progress: its cursor pins a snapshot anyway) skip the refresh.
 * Returns NSS_STATUS_SUCCESS or UNAVAIL with *errnop set.
 */
static enum nss_status
state_get(bool refresh, int *errnop)
{
	int r, err, saved;

	/*
	 * A child of fork(): never share the parent's handles or cursors.
	 * The atfork handler tells, not getpid(): a syscall per lookup costs
	 * 10%, and glibc's own NSS state needs fork() handlers just the same.
	 */
	if (ps.forked) {
		state_drop();
		ps.forked = false;
		ps.fail_errno = 0;
	}
	if (ps.view != NULL) {
		if (!refresh)
			return NSS_STATUS_SUCCESS;
		errno = 0;
		if ((r = idview_refresh(ps.view)) == 0)
			goto check;
		/*
		 * The view still answers from the snapshot it has (store.h):
		 * a reopen that failed for want of a descriptor or memory must
		 * not take working answers away.  Only a store that is gone is
		 * given up.
		 */
		if (r != APPUSER_ERR_NOSTORE)
			goto check;
		saved = errno;
		state_drop();
		remember_failure(err_to_errno(r, saved));
		*errnop = ps.fail_errno;
		return NSS_STATUS_UNAVAIL;
	}
	if (ps.fail_errno != 0 && ps.path[0] != '\0' && !retry_due()) {
		*errnop = ps.fail_errno;
		return NSS_STATUS_UNAVAIL;
	}
	if ((err = state_open()) != 0) {
		remember_failure(err);
		*errnop = err;
		return NSS_STATUS_UNAVAIL;
	}
	ps.fail_errno = 0;
 check:
	if (!meta_ok(idview_meta(ps.view))) {
		*errnop = EIO;
		return NSS_STATUS_UNAVAIL;
	}
	return NSS_STATUS_SUCCESS;
}

/* ---------------------------------------------------------------------- */
/* Lookup callbacks. */

struct lookup {
	const struct meta	*m;
	const char		*name;	/* expected name, or NULL */
	uint32_t		 uid;	/* expected uid, or 0 */
	struct passwd		*pwd;	/* pack into one of these... */
	struct group		*grp;
	char			*buf;
	size_t			 buflen;
	struct user		**pendingp;	/* enumeration: keep on ERANGE */
	bool			 admin;	/* out: user is an admin */
	int			 res;	/* LK_* */
};

/*
 * Is u the record asked for, with valid ids and name?  A name equal to the
 * one asked for was validated by the entry point already.  The fields are
 * checked here only where no packer scans them (passwd packing does).
 */
static bool
lookup_match(const struct lookup *lk, const struct user *u)
{
	if (!ids_ok(lk->m, u))
		return false;
	if (lk->name != NULL) {
		if (strcmp(lk->name, u->name) != 0)
			return false;
	} else if (!name_is_valid(u->name))
		return false;
	if (lk->uid != 0 && lk->uid != u->uid)
		return false;
	return lk->pwd != NULL || fields_ok(u);
}

/* Pack u as a passwd entry or as its private group. */
static int
lookup_pack(const struct user *u, void *arg)
{
	struct lookup *lk = arg;
	int r;

	lk->res = LK_NONE;
	if (!lookup_match(lk, u))
		return 0;
	if (lk->pwd != NULL) {
		r = pack_passwd(u, lk->pwd, lk->buf, lk->buflen);
	} else {
		const char *none[1] = { NULL };

		r = pack_group(u->name, u->gid, none, 0, lk->grp, lk->buf,
		    lk->buflen);
	}
	if (r == EINVAL)
		return 0;
	if (r == ERANGE) {
		lk->res = LK_RANGE;
		if (lk->pendingp != NULL &&
		    (*lk->pendingp = user_dup(u)) == NULL)
			lk->res = LK_NOMEM;
		return 0;
	}
	lk->res = LK_OK;
	return 0;
}

/* Is u a valid admin (flag in the record and name in meta's list)? */
static int
lookup_admin(const struct user *u, void *arg)
{
	struct lookup *lk = arg;

	lk->res = LK_NONE;
	if (!lookup_match(lk, u))
		return 0;
	lk->res = LK_OK;
	lk->admin = u->admin && meta_has_admin(lk->m, u->name);
	return 0;
}

/* Map an idview lookup result and the callback's verdict to NSS. */
static enum nss_status
lookup_status(int r, const struct lookup *lk, int *errnop)
{
	if (r == APPUSER_ERR_NOT_FOUND)
		return NSS_STATUS_NOTFOUND;
	if (r != 0) {
		*errnop = err_to_errno(r, 0);
		return NSS_STATUS_UNAVAIL;
	}
	switch (lk->res) {
	case LK_OK:
		return NSS_STATUS_SUCCESS;
	case LK_RANGE:
		*errnop = ERANGE;
		return NSS_STATUS_TRYAGAIN;
	case LK_NOMEM:
		*errnop = ENOMEM;
		return NSS_STATUS_UNAVAIL;
	default:
		return NSS_STATUS_NOTFOUND;
	}
}

static enum nss_status
user_by_name(const char *name, struct lookup *lk, user_fn fn, int *errnop)
{
	lk->name = name;
	return lookup_status(idview_user_by_name(ps.view, name, fn, lk), lk,
	    errnop);
}

static enum nss_status
user_by_uid(uint32_t uid, struct lookup *lk, int *errnop)
{
	if (!id_ok(lk->m, uid))
		return NSS_STATUS_NOTFOUND;
	lk->uid = uid;
	return lookup_status(idview_user_by_uid(ps.view, uid, lookup_pack, lk),
	    lk, errnop);
}

/* ---------------------------------------------------------------------- */
/* The prologue every entry point shares. */

/* The enumeration an entry point continues, if any. */
enum pass { PASS_NONE, PASS_PW, PASS_GR };

/*
 * Lock the state, make the view usable (and current, unless pass is under
 * way: its cursor pins a snapshot anyway) and aim lk at the caller's
 * buffer (pwd or grp, or neither for initgroups).  The state stays locked
 * whatever this returns: the caller unlocks on its way out.  Returns
 * NSS_STATUS_SUCCESS or UNAVAIL with *errnop set.
 */
static enum nss_status
lookup_begin(struct lookup *lk, enum pass pass, struct passwd *pwd,
    struct group *grp, char *buf, size_t buflen, int *errnop)
{
	bool started = false;
	enum nss_status s;

	state_lock();
	if (pass == PASS_PW)
		started = ps.pwcur.snap != NULL || ps.pw_pending != NULL;
	else if (pass == PASS_GR)
		started = ps.gr_admin_done;
	if ((s = state_get(!started, errnop)) != NSS_STATUS_SUCCESS)
		return s;
	lk->m = idview_meta(ps.view);
	lk->pwd = pwd;
	lk->grp = grp;
	lk->buf = buf;
	lk->buflen = buflen;
	return NSS_STATUS_SUCCESS;
}

/* ---------------------------------------------------------------------- */
/* passwd */

enum nss_status
_nss_appuser_getpwnam_r(const char *name, struct passwd *pwd, char *buf,
    size_t buflen, int *errnop)
{
	struct lookup lk = { 0 };
	enum nss_status s;

	if (!name_is_valid(name))
		return NSS_STATUS_NOTFOUND;
	if ((s = lookup_begin(&lk, PASS_NONE, pwd, NULL, buf, buflen,
	    errnop)) == NSS_STATUS_SUCCESS)
		s = user_by_name(name, &lk, lookup_pack, errnop);
	state_unlock();
	return s;
}

enum nss_status
_nss_appuser_getpwuid_r(uid_t uid, struct passwd *pwd, char *buf,
    size_t buflen, int *errnop)
{
	struct lookup lk = { 0 };
	enum nss_status s;

	if (uid == 0)
		return NSS_STATUS_NOTFOUND;
	if ((s = lookup_begin(&lk, PASS_NONE, pwd, NULL, buf, buflen,
	    errnop)) == NSS_STATUS_SUCCESS)
		s = user_by_uid(uid, &lk, errnop);
	state_unlock();
	return s;
}

enum nss_status
_nss_appuser_endpwent(void)
{
	state_lock();
	if (ps.view != NULL)
		enum_reset_pw();
	state_unlock();
	return NSS_STATUS_SUCCESS;
}

/* Starting over is ending the pass: the next call opens a new cursor. */
enum nss_status
_nss_appuser_setpwent(int stayopen)
{
	(void)stayopen;
	return _nss_appuser_endpwent();
}

/* Consecutive unreadable records an enumeration skips before giving up. */
#define ENUM_SKIP_MAX	1000

/*
 * Next entry of an enumeration.  A record refused by a short buffer was
 * kept in *pendingp (the cursor has moved past it) and is served first.
 * Records that fail validation are skipped, as a lookup would not find
 * them either.
 */
static enum nss_status
enum_next(struct idview_cursor *c, struct user **pendingp,
    struct lookup *lk, int *errnop)
{
	enum nss_status s;
	int skipped = 0;

	if (*pendingp != NULL) {
		lk->pendingp = NULL;
		lookup_pack(*pendingp, lk);
		if ((s = lookup_status(0, lk, errnop)) != NSS_STATUS_NOTFOUND) {
			if (s == NSS_STATUS_SUCCESS) {
				user_free(*pendingp);
				*pendingp = NULL;
			}
			return s;
		}
		user_free(*pendingp);	/* refused record: skip it */
		*pendingp = NULL;
	}
	lk->pendingp = pendingp;
	for (;;) {
		int r = idview_next_user(ps.view, c, lookup_pack, lk);

		if ((r == APPUSER_ERR_CORRUPT || r == APPUSER_ERR_VERSION) &&
		    ++skipped < ENUM_SKIP_MAX)
			continue;	/* the cursor moved past it */
		s = lookup_status(r, lk, errnop);
		if (s != NSS_STATUS_NOTFOUND || r != 0)
			return s;
	}
}

enum nss_status
_nss_appuser_getpwent_r(struct passwd *pwd, char *buf, size_t buflen,
    int *errnop)
{
	struct lookup lk = { 0 };
	enum nss_status s;

	if ((s = lookup_begin(&lk, PASS_PW, pwd, NULL, buf, buflen,
	    errnop)) == NSS_STATUS_SUCCESS)
		s = enum_next(&ps.pwcur, &ps.pw_pending, &lk, errnop);
	state_unlock();
	return s;
}

/* ---------------------------------------------------------------------- */
/* group */

/*
 * The admin group, always with an empty member list.  Listing the admins
 * by name would hand the group to any host account of the same name:
 * newgrp, sudo's group matching for users other than the invoking one
 * (sudo -l -U, older sudo), and glibc's initgroups for modules without
 * initgroups_dyn all trust gr_mem by name.  Membership comes only from
 * _nss_appuser_initgroups_dyn, which checks the primary gid the host
 * resolved the name to.
 */
static enum nss_status
admin_group(const struct meta *m, struct group *grp, char *buf,
    size_t buflen, int *errnop)
{
	const char *none[1] = { NULL };
	int r;

	r = pack_group(m->admin_group, m->admin_gid, none, 0, grp, buf,
	    buflen);
	if (r == ERANGE) {
		*errnop = ERANGE;
		return NSS_STATUS_TRYAGAIN;
	}
	return r == 0 ? NSS_STATUS_SUCCESS : NSS_STATUS_NOTFOUND;
}

enum nss_status
_nss_appuser_getgrnam_r(const char *name, struct group *grp, char *buf,
    size_t buflen, int *errnop)
{
	struct lookup lk = { 0 };
	const struct meta *m;
	enum nss_status s;

	if (!name_is_valid(name))
		return NSS_STATUS_NOTFOUND;
	if ((s = lookup_begin(&lk, PASS_NONE, NULL, grp, buf, buflen,
	    errnop)) != NSS_STATUS_SUCCESS)
		goto out;
	m = lk.m;
	if (admin_group_ok(m) && strcmp(name, m->admin_group) == 0)
		s = admin_group(m, grp, buf, buflen, errnop);
	else
		s = user_by_name(name, &lk, lookup_pack, errnop);
 out:
	state_unlock();
	return s;
}

enum nss_status
_nss_appuser_getgrgid_r(gid_t gid, struct group *grp, char *buf,
    size_t buflen, int *errnop)
{
	struct lookup lk = { 0 };
	const struct meta *m;
	enum nss_status s;

	if (gid == 0)
		return NSS_STATUS_NOTFOUND;
	if ((s = lookup_begin(&lk, PASS_NONE, NULL, grp, buf, buflen,
	    errnop)) != NSS_STATUS_SUCCESS)
		goto out;
	m = lk.m;
	if (admin_group_ok(m) && gid == m->admin_gid)
		s = admin_group(m, grp, buf, buflen, errnop);
	else
		s = user_by_uid(gid, &lk, errnop);
 out:
	state_unlock();
	return s;
}

enum nss_status
_nss_appuser_endgrent(void)
{
	state_lock();
	if (ps.view != NULL)
		enum_reset_gr();
	state_unlock();
	return NSS_STATUS_SUCCESS;
}

/* Starting over is ending the pass: the next call opens a new cursor. */
enum nss_status
_nss_appuser_setgrent(int stayopen)
{
	(void)stayopen;
	return _nss_appuser_endgrent();
}

/* The admin group first, then each user's private group. */
enum nss_status
_nss_appuser_getgrent_r(struct group *grp, char *buf, size_t buflen,
    int *errnop)
{
	struct lookup lk = { 0 };
	const struct meta *m;
	enum nss_status s;

	if ((s = lookup_begin(&lk, PASS_GR, NULL, grp, buf, buflen,
	    errnop)) != NSS_STATUS_SUCCESS)
		goto out;
	m = lk.m;
	if (!ps.gr_admin_done) {
		s = admin_group_ok(m) ?
		    admin_group(m, grp, buf, buflen, errnop) :
		    NSS_STATUS_NOTFOUND;
		if (s == NSS_STATUS_TRYAGAIN || s == NSS_STATUS_UNAVAIL)
			goto out;
		ps.gr_admin_done = true;
		if (s == NSS_STATUS_SUCCESS)
			goto out;
	}
	s = enum_next(&ps.grcur, &ps.gr_pending, &lk, errnop);
 out:
	state_unlock();
	return s;
}

/* ---------------------------------------------------------------------- */
/* initgroups */

/*
 * Supplementary groups of user from this source: the admin group when user
 * is an admin and group is the user's own gid.  group is the primary gid
 * the host resolved user to (files, LDAP... come first in nsswitch.conf):
 * if a host account shadows the application user's name, group is that
 * account's gid and the name gets nothing from us (a name is not an
 * identity).  The private group is the primary group, which glibc adds
 * itself.
 */
enum nss_status
_nss_appuser_initgroups_dyn(const char *user, gid_t group, long int *start,
    long int *size, gid_t **groupsp, long int limit, int *errnop)
{
	struct lookup lk = { 0 };
	const struct meta *m;
	enum nss_status s;

	if (!name_is_valid(user) || group == 0)
		return NSS_STATUS_NOTFOUND;
	if ((s = lookup_begin(&lk, PASS_NONE, NULL, NULL, NULL, 0,
	    errnop)) != NSS_STATUS_SUCCESS)
		goto out;
	m = lk.m;
	if (!admin_group_ok(m) || !id_ok(m, group)) {
		s = NSS_STATUS_NOTFOUND;
		goto out;
	}
	lk.uid = group;		/* uid == gid (ids_ok): the record's own gid */
	if ((s = user_by_name(user, &lk, lookup_admin, errnop)) !=
	    NSS_STATUS_SUCCESS)
		goto out;
	if (!lk.admin) {
		s = NSS_STATUS_NOTFOUND;
		goto out;
	}
	if (m->admin_gid == group) {
		s = NSS_STATUS_SUCCESS;
		goto out;
	}
	if (pack_gid(m->admin_gid, start, size, groupsp, limit) != 0) {
		*errnop = ENOMEM;
		s = NSS_STATUS_TRYAGAIN;
	}
 out:
	state_unlock();
	return s;
}
