/*
 * store_check: every structural and cross-record invariant of the store,
 * reported in plain words (never a secret: token ids are public, verifiers
 * are never printed).
 */
#include <sys/stat.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <tdb.h>

#include "gencount.h"
#include "snapfile.h"
#include "names.h"
#include "store_int.h"

#define KEYREPR_MAX	(4 * KEY_MAX + 1)

struct check {
	struct store		*st;
	report_fn		 report;
	void			*arg;
	size_t			 problems;
	uint64_t		 users;		/* master U records */
	uint64_t		 uids;		/* master I records */
	uint64_t		 tokens;	/* master T records */
};

static void problem(struct check *, const char *, ...)
    __attribute__((format(printf, 2, 3)));

static void
problem(struct check *c, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	c->problems++;
	if (c->report != NULL)
		c->report(buf, c->arg);
}

/* A key as text: printable bytes as they are, others as \xNN. */
static const char *
keyrepr(TDB_DATA k, char buf[KEYREPR_MAX])
{
	size_t i, o = 0;

	for (i = 0; i < k.dsize && i < KEY_MAX && o < KEYREPR_MAX - 5; i++) {
		if (k.dptr[i] >= 0x21 && k.dptr[i] <= 0x7e && k.dptr[i] != '\\')
			buf[o++] = (char)k.dptr[i];
		else
			o += (size_t)snprintf(buf + o, 5, "\\x%02x", k.dptr[i]);
	}
	buf[o] = '\0';
	return buf;
}

static uint32_t
be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

/* The key's name part (after the type byte), NUL-terminated, or NULL. */
static const char *
key_name(TDB_DATA k, char buf[APPUSER_NAME_MAX + 1])
{
	if (k.dsize < 2 || k.dsize - 1 > APPUSER_NAME_MAX ||
	    memchr(k.dptr + 1, '\0', k.dsize - 1) != NULL)
		return NULL;
	memcpy(buf, k.dptr + 1, k.dsize - 1);
	buf[k.dsize - 1] = '\0';
	return buf;
}

static void
check_mode(struct check *c, const char *file, mode_t want)
{
	struct stat sb;
	char *path = NULL;

	if (asprintf(&path, "%s/%s", c->st->dir, file) == -1)
		return;
	if (lstat(path, &sb) == -1)
		problem(c, "%s: missing", file);
	else if (!S_ISREG(sb.st_mode))
		problem(c, "%s: not a regular file", file);
	else if (sb.st_uid != c->st->owner)
		problem(c, "%s: owned by uid %u, not by the directory's owner "
		    "(uid %u)", file, (unsigned)sb.st_uid,
		    (unsigned)c->st->owner);
	else if ((sb.st_mode & 07777) != want)
		problem(c, "%s: mode %04o, should be %04o", file,
		    (unsigned)(sb.st_mode & 07777), (unsigned)want);
	free(path);
}

static void
check_files(struct check *c)
{
	struct stat sb;

	if (stat(c->st->dir, &sb) == -1)
		problem(c, "store directory: cannot stat");
	else if ((sb.st_mode & 022) != 0)
		problem(c, "store directory: writable by group or other "
		    "(mode %04o)", (unsigned)(sb.st_mode & 07777));
	check_mode(c, APPUSER_MASTER_FILE, 0600);
	check_mode(c, APPUSER_IDENTITY_FILE, 0644);
	check_mode(c, APPUSER_IDENTITY_DELTA, 0644);
	check_mode(c, APPUSER_GEN_FILE, 0644);
	check_mode(c, APPUSER_TOKENS_FILE, 0600);
	check_mode(c, APPUSER_TOKENS_DELTA, 0600);
	check_mode(c, APPUSER_USAGE_FILE, 0600);
	if (c->st->flags == STORE_WRITE)
		check_mode(c, APPUSER_LOCK_FILE, 0600);
}

/* U<name> from the master, decoded (view into *dp; free it). */
static int
master_user(struct check *c, const char *name, TDB_DATA *dp, struct user *u)
{
	struct key k;

	if (key_user(&k, KEY_USER, name) != 0 ||
	    db_fetch(c->st, &k, dp) != 0)
		return APPUSER_ERR_NOT_FOUND;
	if (record_decode_user(dp->dptr, dp->dsize, u) != 0) {
		free(dp->dptr);
		return APPUSER_ERR_CORRUPT;
	}
	return 0;
}

static void
check_user_ids(struct check *c, const struct user *u)
{
	const struct meta *m = &c->st->meta;
	struct key k;
	TDB_DATA d;

	if (u->uid == 0 || u->gid != u->uid)
		problem(c, "user %s: uid %u / gid %u (must be equal and not 0)",
		    u->name, u->uid, u->gid);
	if (u->uid < m->uid_min || u->uid > m->uid_max ||
	    u->uid == m->admin_gid)
		problem(c, "user %s: uid %u outside the range %u-%u or equal "
		    "to the admin group's gid", u->name, u->uid, m->uid_min,
		    m->uid_max);
	key_uid(&k, u->uid);
	if (db_fetch(c->st, &k, &d) != 0) {
		problem(c, "user %s: uid %u missing from the uid index",
		    u->name, u->uid);
		return;
	}
	if (d.dsize != strlen(u->name) || memcmp(d.dptr, u->name, d.dsize))
		problem(c, "user %s: uid index entry %u names another user",
		    u->name, u->uid);
	free(d.dptr);
}

static void
check_user_rec(struct check *c, TDB_DATA k, TDB_DATA d)
{
	char nb[APPUSER_NAME_MAX + 1];
	const char *name = key_name(k, nb);
	struct user u;

	c->users++;
	if (name == NULL || !name_is_valid(name)) {
		char kr[KEYREPR_MAX];

		problem(c, "master: invalid user key %s", keyrepr(k, kr));
		return;
	}
	if (record_decode_user(d.dptr, d.dsize, &u) != 0) {
		problem(c, "user %s: record does not decode", name);
		return;
	}
	if (strcmp(u.name, name) != 0) {
		problem(c, "user %s: record names %s", name, u.name);
		return;
	}
	check_user_ids(c, &u);
	if (u.admin != meta_has_admin(&c->st->meta, name))
		problem(c, "user %s: admin flag disagrees with the admin list",
		    name);
}

static void
check_uid_rec(struct check *c, TDB_DATA k, TDB_DATA d)
{
	char nb[APPUSER_NAME_MAX + 1];
	struct user u;
	TDB_DATA ud;
	uint32_t uid;

	c->uids++;
	if (k.dsize != 5 || (uid = be32(k.dptr + 1)) == 0) {
		char kr[KEYREPR_MAX];

		problem(c, "master: invalid uid key %s", keyrepr(k, kr));
		return;
	}
	if (d.dsize == 0 || d.dsize > APPUSER_NAME_MAX ||
	    memchr(d.dptr, '\0', d.dsize) != NULL) {
		problem(c, "uid %u: index entry is not a name", uid);
		return;
	}
	memcpy(nb, d.dptr, d.dsize);
	nb[d.dsize] = '\0';
	if (master_user(c, nb, &ud, &u) != 0) {
		problem(c, "uid %u: indexed user %s does not exist", uid, nb);
		return;
	}
	if (u.uid != uid)
		problem(c, "uid %u: indexed user %s has uid %u", uid, nb,
		    u.uid);
	free(ud.dptr);
}

static bool
list_contains(struct check *c, const char *user, const char *id)
{
	struct key k;
	TDB_DATA l;
	size_t off;
	bool found = false;

	if (key_user(&k, KEY_LIST, user) != 0 || db_fetch(c->st, &k, &l) != 0)
		return false;
	for (off = 0; TOKEN_ID_LEN <= l.dsize - off; off += TOKEN_ID_LEN)
		if (memcmp(l.dptr + off, id, TOKEN_ID_LEN) == 0)
			found = true;
	free(l.dptr);
	return found;
}

static void
check_token_rec(struct check *c, TDB_DATA k, TDB_DATA d)
{
	char kr[KEYREPR_MAX];
	struct token t;
	struct user u;
	TDB_DATA ud;

	if (k.dsize != 1 + TOKEN_ID_LEN ||
	    record_decode_token(d.dptr, d.dsize, &t) != 0) {
		problem(c, "token %s: record does not decode", keyrepr(k, kr));
		return;
	}
	if (memcmp(t.id, k.dptr + 1, TOKEN_ID_LEN) != 0)
		problem(c, "token %s: record carries id %s", keyrepr(k, kr),
		    t.id);
	else if (master_user(c, t.user, &ud, &u) != 0)
		problem(c, "token %s: its user %s does not exist", t.id, t.user);
	else {
		if (u.uid != t.uid)
			problem(c, "token %s: made for uid %u, user %s has uid "
			    "%u", t.id, t.uid, t.user, u.uid);
		free(ud.dptr);
		if (!list_contains(c, t.user, t.id))
			problem(c, "token %s: missing from %s's token list",
			    t.id, t.user);
	}
	token_clear(&t);
}

/* Each listed id: a token of this user, listed once. */
static void
check_list_ids(struct check *c, const char *name, TDB_DATA d)
{
	char id[TOKEN_ID_LEN + 1];
	struct token t;
	struct key k;
	TDB_DATA td;
	size_t off, o2;

	for (off = 0; TOKEN_ID_LEN <= d.dsize - off; off += TOKEN_ID_LEN) {
		memcpy(id, d.dptr + off, TOKEN_ID_LEN);
		id[TOKEN_ID_LEN] = '\0';
		for (o2 = 0; o2 < off; o2 += TOKEN_ID_LEN)
			if (memcmp(d.dptr + o2, id, TOKEN_ID_LEN) == 0)
				problem(c, "user %s: token %s listed twice",
				    name, id);
		key_token(&k, id);
		if (db_fetch(c->st, &k, &td) != 0) {
			problem(c, "user %s: listed token %s does not exist",
			    name, id);
			continue;
		}
		if (record_decode_token(td.dptr, td.dsize, &t) == 0) {
			if (strcmp(t.user, name) != 0)
				problem(c, "user %s: listed token %s belongs "
				    "to %s", name, id, t.user);
			token_clear(&t);
		}
		free(td.dptr);
	}
}

static void
check_list_rec(struct check *c, TDB_DATA k, TDB_DATA d)
{
	char nb[APPUSER_NAME_MAX + 1];
	const char *name = key_name(k, nb);
	struct key uk;

	if (name == NULL || key_user(&uk, KEY_USER, name) != 0) {
		char kr[KEYREPR_MAX];

		problem(c, "master: invalid token list key %s", keyrepr(k, kr));
		return;
	}
	if (!db_exists(c->st, &uk))
		problem(c, "token list of %s: no such user", name);
	if (d.dsize % TOKEN_ID_LEN != 0)
		problem(c, "token list of %s: length %zu is not a multiple of "
		    "%d", name, d.dsize, TOKEN_ID_LEN);
	check_list_ids(c, name, d);
}

static int
master_cb(struct tdb_context *tdb, TDB_DATA k, TDB_DATA d, void *arg)
{
	struct check *c = arg;
	char kr[KEYREPR_MAX];

	(void)tdb;
	if ((k.dsize == KEY_META_LEN && memcmp(k.dptr, KEY_META, k.dsize) == 0) ||
	    (k.dsize == KEY_TGEN_LEN && memcmp(k.dptr, KEY_TGEN, k.dsize) == 0) ||
	    (k.dsize == KEY_SLOTS_LEN &&
	    memcmp(k.dptr, KEY_SLOTS, k.dsize) == 0))
		return 0;
	switch (k.dsize > 0 ? k.dptr[0] : 0) {
	case KEY_USER:
		check_user_rec(c, k, d);
		break;
	case KEY_UID:
		check_uid_rec(c, k, d);
		break;
	case KEY_TOKEN:
		c->tokens++;
		check_token_rec(c, k, d);
		break;
	case KEY_LIST:
		check_list_rec(c, k, d);
		break;
	case KEY_AUX:	/* opaque to the store: its owner checks it */
		break;
	default:
		problem(c, "master: unknown key %s", keyrepr(k, kr));
	}
	return 0;
}

static void
check_meta(struct check *c)
{
	const struct meta *m = &c->st->meta;
	struct user u;
	TDB_DATA d;
	size_t i, j;

	if (m->n_users != c->users)
		problem(c, "meta: counts %llu users, the master holds %llu",
		    (unsigned long long)m->n_users,
		    (unsigned long long)c->users);
	if (c->uids != c->users)
		problem(c, "master: %llu uid index entries for %llu users",
		    (unsigned long long)c->uids, (unsigned long long)c->users);
	if (!name_is_valid(m->admin_group) || m->admin_gid < m->uid_min ||
	    m->admin_gid > m->uid_max)
		problem(c, "meta: admin group %s (gid %u) invalid or outside "
		    "the range", m->admin_group, m->admin_gid);
	for (i = 0; i < m->n_admins; i++) {
		for (j = 0; j < i; j++)
			if (strcmp(m->admins[i], m->admins[j]) == 0)
				problem(c, "meta: admin %s listed twice",
				    m->admins[i]);
		if (master_user(c, m->admins[i], &d, &u) != 0) {
			problem(c, "meta: admin %s is not a user",
			    m->admins[i]);
			continue;
		}
		if (!u.admin)
			problem(c, "meta: admin %s lacks the admin flag",
			    m->admins[i]);
		free(d.dptr);
	}
}

static void
check_master(struct check *c)
{
	if (tdb_check(c->st->tdb, NULL, NULL) != 0)
		problem(c, "%s: tdb structure check failed: %s",
		    APPUSER_MASTER_FILE, tdb_errorstr(c->st->tdb));
	if (tdb_traverse_read(c->st->tdb, master_cb, c) == -1)
		problem(c, "%s: traversal failed: %s", APPUSER_MASTER_FILE,
		    tdb_errorstr(c->st->tdb));
	check_meta(c);
}

static const char *
kind_name(int kind)
{
	return kind == KIND_TOKENS ? "token snapshot" : "identity snapshot";
}

/* Every live record of the pair equals what the master says it should
 * hold; the count matches, so nothing the master has is missing. */
static void
snap_records(struct check *c, int kind, const struct snapset *set)
{
	char kr[KEYREPR_MAX];
	struct snaprec rec;
	uint64_t pos = 0, n = 0, want;
	TDB_DATA k, md;
	int r;

	while ((r = snapset_next(set, &pos, &rec)) == 0) {
		n++;
		k.dptr = (unsigned char *)(uintptr_t)rec.key;
		k.dsize = rec.klen;
		r = snap_master_value(c->st, kind, rec.key, rec.klen, &md);
		if (r != 0) {
			problem(c, "%s: %s is not in the master",
			    kind_name(kind), keyrepr(k, kr));
			continue;
		}
		if (md.dsize != rec.vlen ||
		    memcmp(md.dptr, rec.val, rec.vlen) != 0)
			problem(c, "%s: %s differs from the master",
			    kind_name(kind), keyrepr(k, kr));
		free(md.dptr);
	}
	if (r != APPUSER_ERR_NOT_FOUND)
		problem(c, "%s: cannot be read: %s", kind_name(kind),
		    appuser_strerror(r));
	want = kind == KIND_TOKENS ? c->tokens : 2 * c->users + 1;
	if (n != want)
		problem(c, "%s: %llu records, the master calls for %llu",
		    kind_name(kind), (unsigned long long)n,
		    (unsigned long long)want);
}

static void
check_kind(struct check *c, int kind)
{
	struct snapset set = { NULL, NULL, NULL };
	uint64_t gen;
	int r;

	r = snapset_open(c->st->dir, snap_kind_file(kind), c->st->owner,
	    snap_kind_forbid(kind), &set);
	if (r != 0) {
		problem(c, "%s: cannot be read: %s", kind_name(kind),
		    appuser_strerror(r));
		return;
	}
	gen = kind == KIND_TOKENS ? c->st->tgen : c->st->meta.generation;
	if (snapset_generation(&set) != gen)
		problem(c, "%s: generation %llu, the master is at %llu",
		    kind_name(kind),
		    (unsigned long long)snapset_generation(&set),
		    (unsigned long long)gen);
	snap_records(c, kind, &set);
	snapset_close(&set);
}

/*
 * identity.gen beyond its mode (check_files): readers map only a file of
 * GEN_FILE_SIZE bytes, and one that records an older generation than the
 * snapshot's was not bumped after the last rename.
 */
static void
check_gen(struct check *c, uint64_t snap_gen)
{
	uint64_t w[GEN_WORDS];
	struct stat sb;
	char *path = NULL;
	int fd;

	if (asprintf(&path, "%s/%s", c->st->dir, APPUSER_GEN_FILE) == -1)
		return;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	free(path);
	if (fd == -1)
		return;		/* missing or a symlink: check_mode said so */
	if (fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode)) {
		close(fd);	/* check_mode said so */
		return;
	}
	if (sb.st_size != GEN_FILE_SIZE)
		problem(c, "%s: size %lld, should be %d", APPUSER_GEN_FILE,
		    (long long)sb.st_size, GEN_FILE_SIZE);
	else if (pread(fd, w, sizeof(w), 0) != (ssize_t)sizeof(w))
		problem(c, "%s: cannot be read", APPUSER_GEN_FILE);
	else if (w[GEN_W_PUBLISHED] != snap_gen)
		problem(c, "%s: records generation %llu, the identity snapshot is at "
		    "%llu (running processes may miss the last change for a "
		    "second)", APPUSER_GEN_FILE,
		    (unsigned long long)w[GEN_W_PUBLISHED],
		    (unsigned long long)snap_gen);
	close(fd);
}

static void
check_snapshot(struct check *c)
{
	if (tgen_load(c->st) != 0) {
		problem(c, "master: token generation unreadable");
		return;
	}
	check_gen(c, c->st->meta.generation);
	check_kind(c, KIND_IDENTITY);
	check_kind(c, KIND_TOKENS);
}

/*
 * tdb 1.4's tdb_check() misreads the dead space that a commit killed while
 * it moved the recovery area leaves behind (tdb_dead_space() re-reads the
 * same byte, so the scan swallows the rest of the file and then misses the
 * recovery area), and fails although every record is intact.  tdb_repack()
 * rewrites the file in one transaction without that dead space; if the
 * check still fails afterwards, the problem is real and is reported.
 */
static int
repack_if_check_fails(struct check *c)
{
	struct tdb_context *tdb = c->st->tdb;

	if (tdb_check(tdb, NULL, NULL) == 0)
		return 0;
	if (tdb_repack(tdb) != 0)
		return 0;	/* leave it to check_master() to report */
	if (tdb_check(tdb, NULL, NULL) == 0 && c->report != NULL)
		c->report("repaired: " APPUSER_MASTER_FILE " had dead space "
		    "left by an interrupted commit that tdb_check could not "
		    "account for; repacked it (no record changed)", c->arg);
	return 0;
}

/* With STORE_WRITE, republish a snapshot that lags (or is unusable), and
 * recreate or fix identity.gen (opening the store for writing did that
 * already: a problem left is one that cannot be repaired). */
static int
check_repair(struct check *c)
{
	bool repaired;
	int r;

	if (c->st->flags != STORE_WRITE)
		return 0;
	if ((r = repack_if_check_fails(c)) != 0)
		return r;
	if ((r = snap_roll_forward(c->st, &repaired)) != 0)
		return r;
	if (repaired && c->report != NULL)
		c->report("repaired: a snapshot did not match the master's "
		    "generation; republished it from the master", c->arg);
	return 0;
}

int
store_check(struct store *st, report_fn report, void *arg)
{
	struct check c;
	int r;

	if (st == NULL || st->in_txn)
		return APPUSER_ERR_INVALID;
	if (st->tdb == NULL)	/* STORE_AUTH: no master to check */
		return APPUSER_ERR_PERMISSION;
	memset(&c, 0, sizeof(c));
	c.st = st;
	c.report = report;
	c.arg = arg;
	if ((r = check_repair(&c)) != 0 || (r = meta_load(st)) != 0)
		return r;
	check_files(&c);
	if (tdb_lockall_read(st->tdb) != 0)
		return db_err(st->tdb);
	check_master(&c);
	check_snapshot(&c);
	tdb_unlockall_read(st->tdb);
	return c.problems == 0 ? 0 : APPUSER_ERR_CORRUPT;
}
