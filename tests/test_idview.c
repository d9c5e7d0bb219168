/*
 * Unit tests of the identity snapshot reader (idview_* in store.h): the
 * code the NSS module runs.  Bad files must give an error, never a crash.
 */
#include <sys/stat.h>
#include <sys/wait.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <tdb.h>

#include "appuser.h"
#include "idview_int.h"
#include "record.h"
#include "store.h"
#include "token.h"

#include "store_fixture.h"

#define UMIN	APPUSER_DEFAULT_UID_MIN
#define NUSERS	40

struct fx {
	char		 base[64];
	char		 dir[128];	/* the store */
	char		 bad[128];	/* a directory for damaged copies */
	char		 ident[160];
	char		 badident[160];
	char		 gen[160];	/* the store's identity.gen */
	struct idview	*v;
};

static void
make_store(const char *dir, int n)
{
	struct store *st = NULL;
	struct user in;
	char name[16];
	int i;

	assert_int_equal(store_open(dir, STORE_WRITE, &st), 0);
	assert_int_equal(store_begin(st), 0);
	for (i = 0; i < n; i++) {
		memset(&in, 0, sizeof(in));
		snprintf(name, sizeof(name), "user%d", i);
		in.name = name;
		in.description = "a user";
		assert_int_equal(store_user_add(st, &in, NULL), 0);
	}
	assert_int_equal(store_commit(st), 0);
	assert_int_equal(store_user_set_admin(st, "user1", true), 0);
	store_close(st);
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(fx_make_base(f->base, sizeof(f->base),
	    "/tmp/appuser-idview-XXXXXX", f->dir, sizeof(f->dir)), 0);
	snprintf(f->bad, sizeof(f->bad), "%s/bad", f->base);
	snprintf(f->ident, sizeof(f->ident), "%s/identity.tdb", f->dir);
	snprintf(f->badident, sizeof(f->badident), "%s/identity.tdb", f->bad);
	snprintf(f->gen, sizeof(f->gen), "%s/%s", f->dir, APPUSER_GEN_FILE);
	assert_int_equal(mkdir(f->bad, 0755), 0);
	make_store(f->dir, NUSERS);
	assert_int_equal(idview_open(f->dir, &f->v), 0);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	idview_close(f->v);
	fx_remove_tree(f->base);
	free(f);
	return 0;
}

struct got {
	int		 calls;
	char		 name[APPUSER_NAME_MAX + 1];
	uint32_t	 uid;
	uint32_t	 gid;
	bool		 admin;
	char		 desc[64];
};

static int
grab(const struct user *u, void *arg)
{
	struct got *g = arg;

	g->calls++;
	snprintf(g->name, sizeof(g->name), "%s", u->name);
	snprintf(g->desc, sizeof(g->desc), "%s", u->description);
	g->uid = u->uid;
	g->gid = u->gid;
	g->admin = u->admin;
	return 0;
}

static int
ret7(const struct user *u, void *arg)
{
	(void)u;
	(void)arg;
	return 7;
}

static void
copy_file(const char *from, const char *to)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", from, to);
	assert_int_equal(system(cmd), 0);
}

/* ---- lookups ---------------------------------------------------------- */

static void
test_lookup(void **state)
{
	struct fx *f = *state;
	struct got g = { .calls = 0 };
	const struct meta *m = idview_meta(f->v);

	memset(&g, 0, sizeof(g));
	assert_int_equal(idview_user_by_name(f->v, "user3", grab, &g), 0);
	assert_int_equal(g.calls, 1);
	assert_string_equal(g.name, "user3");
	assert_int_equal(g.uid, UMIN + 4);
	assert_int_equal(g.gid, UMIN + 4);
	assert_string_equal(g.desc, "a user");
	assert_false(g.admin);
	memset(&g, 0, sizeof(g));
	assert_int_equal(idview_user_by_uid(f->v, UMIN + 2, grab, &g), 0);
	assert_string_equal(g.name, "user1");
	assert_true(g.admin);
	assert_int_equal(idview_user_by_name(f->v, "user3", ret7, NULL), 7);
	assert_int_equal(m->n_users, NUSERS);
	assert_int_equal(m->generation, 2);
	assert_int_equal(m->n_admins, 1);
	assert_string_equal(m->admins[0], "user1");
	assert_string_equal(m->admin_group, APPUSER_DEFAULT_ADMIN_GROUP);
	assert_int_equal(m->admin_gid, UMIN);
	assert_int_equal(m->next_uid, 0);	/* master only */
}

static void
test_not_found(void **state)
{
	struct fx *f = *state;
	struct got g = { .calls = 0 };

	memset(&g, 0, sizeof(g));
	assert_int_equal(idview_user_by_name(f->v, "nosuch", grab, &g),
	    APPUSER_ERR_NOT_FOUND);
	assert_int_equal(idview_user_by_name(f->v, "", grab, &g),
	    APPUSER_ERR_NOT_FOUND);
	assert_int_equal(idview_user_by_name(f->v, NULL, grab, &g),
	    APPUSER_ERR_NOT_FOUND);
	assert_int_equal(idview_user_by_name(f->v,
	    "abcdefghijklmnopqrstuvwxyz0123456789", grab, &g),
	    APPUSER_ERR_NOT_FOUND);
	assert_int_equal(idview_user_by_name(f->v, "!meta", grab, &g),
	    APPUSER_ERR_NOT_FOUND);
	assert_int_equal(idview_user_by_uid(f->v, 0, grab, &g),
	    APPUSER_ERR_NOT_FOUND);
	assert_int_equal(idview_user_by_uid(f->v, UMIN, grab, &g),
	    APPUSER_ERR_NOT_FOUND);		/* the admin group's gid */
	assert_int_equal(idview_user_by_uid(f->v, UMIN + NUSERS + 1, grab, &g),
	    APPUSER_ERR_NOT_FOUND);
	assert_int_equal(g.calls, 0);
}

/* ---- enumeration ------------------------------------------------------ */

struct seen {
	int		 n;
	uint32_t	 uids[NUSERS + 8];
};

static int
note(const struct user *u, void *arg)
{
	struct seen *s = arg;

	if (s->n < NUSERS + 8)
		s->uids[s->n] = u->uid;
	s->n++;
	return 0;
}

static int
walk(struct idview *v, struct seen *s)
{
	struct idview_cursor c = IDVIEW_CURSOR_INIT;
	int r;

	memset(s, 0, sizeof(*s));
	while ((r = idview_next_user(v, &c, note, s)) == 0)
		;
	idview_cursor_release(v, &c);
	return r;
}

static void
test_enumerate(void **state)
{
	struct fx *f = *state;
	struct seen a, b;
	int i, j;

	assert_int_equal(walk(f->v, &a), APPUSER_ERR_NOT_FOUND);
	assert_int_equal(a.n, NUSERS);
	for (i = 0; i < NUSERS; i++) {
		assert_true(a.uids[i] > UMIN && a.uids[i] <= UMIN + NUSERS);
		for (j = 0; j < i; j++)
			assert_int_not_equal(a.uids[i], a.uids[j]);
	}
	assert_int_equal(walk(f->v, &b), APPUSER_ERR_NOT_FOUND);
	assert_int_equal(b.n, NUSERS);
	assert_memory_equal(a.uids, b.uids, NUSERS * sizeof(uint32_t));
}

/* A pass started before a change finishes on its own snapshot, while
 * lookups through the same view see the change after a refresh. */
static void
test_cursor_pins(void **state)
{
	struct fx *f = *state;
	struct idview_cursor c = IDVIEW_CURSOR_INIT;
	struct store *st = NULL;
	struct user in = { .name = "newbie" };
	struct seen s, after;
	struct got g = { .calls = 0 };
	int i;

	memset(&s, 0, sizeof(s));
	assert_int_equal(idview_next_user(f->v, &c, note, &s), 0);
	assert_int_equal(store_open(f->dir, STORE_WRITE, &st), 0);
	assert_int_equal(store_user_add(st, &in, NULL), 0);
	assert_int_equal(store_user_delete(st, "user0"), 0);
	assert_int_equal(store_user_delete(st, "user39"), 0);
	store_close(st);
	/* not yet refreshed: the old snapshot */
	memset(&g, 0, sizeof(g));
	assert_int_equal(idview_user_by_name(f->v, "newbie", grab, &g),
	    APPUSER_ERR_NOT_FOUND);
	assert_int_equal(idview_refresh(f->v), 0);
	assert_int_equal(idview_user_by_name(f->v, "newbie", grab, &g), 0);
	assert_int_equal(g.uid, UMIN + NUSERS + 1);
	assert_int_equal(idview_user_by_name(f->v, "user0", grab, &g),
	    APPUSER_ERR_NOT_FOUND);
	assert_int_equal(idview_meta(f->v)->n_users, NUSERS - 1);
	/* the cursor still walks the old one, completely */
	for (i = 0; i < 2 * NUSERS && idview_next_user(f->v, &c, note, &s) == 0;
	    i++)
		;
	assert_int_equal(s.n, NUSERS);
	for (i = 0; i < s.n; i++)
		assert_true(s.uids[i] <= UMIN + NUSERS);
	assert_int_equal(idview_next_user(f->v, &c, note, &s),
	    APPUSER_ERR_NOT_FOUND);
	idview_cursor_release(f->v, &c);
	idview_cursor_release(f->v, &c);	/* twice is harmless */
	assert_int_equal(walk(f->v, &after), APPUSER_ERR_NOT_FOUND);
	assert_int_equal(after.n, NUSERS - 1);
}

/* A cursor outlives the view it started on; views share snapshots. */
static void
test_shared_and_close(void **state)
{
	struct fx *f = *state;
	struct idview_cursor c = IDVIEW_CURSOR_INIT, never = IDVIEW_CURSOR_INIT;
	struct idview *v2 = NULL;
	struct seen s;
	struct got g = { .calls = 0 };

	assert_int_equal(idview_open(f->dir, &v2), 0);
	memset(&s, 0, sizeof(s));
	assert_int_equal(idview_next_user(v2, &c, note, &s), 0);
	idview_close(v2);
	assert_int_equal(idview_next_user(NULL, &c, note, &s), 0);
	idview_cursor_release(NULL, &c);
	idview_cursor_release(f->v, &never);
	idview_close(NULL);
	assert_int_equal(s.n, 2);
	assert_int_equal(idview_user_by_name(f->v, "user5", grab, &g), 0);
	/* a refresh with nothing new changes nothing */
	assert_int_equal(idview_refresh(f->v), 0);
	assert_int_equal(idview_user_by_name(f->v, "user5", grab, &g), 0);
}

/* The words of identity.gen (the counter first). */
static void
gen_words(struct fx *f, uint64_t w[GEN_WORDS])
{
	int fd;

	fd = open(f->gen, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, w, GEN_WORDS * sizeof(uint64_t), 0),
	    GEN_WORDS * sizeof(uint64_t));
	close(fd);
}

/* What a writer does after renaming a snapshot into place. */
static void
gen_bump(struct fx *f)
{
	uint64_t w[GEN_WORDS];
	int fd;

	gen_words(f, w);
	w[GEN_W_COUNTER]++;
	fd = open(f->gen, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, w, sizeof(w), 0), sizeof(w));
	close(fd);
}

/* How many mappings of path this process has. */
static int
maps_count(const char *path)
{
	char line[PATH_MAX + 256];
	size_t plen = strlen(path), len;
	FILE *fp;
	int n = 0;

	fp = fopen("/proc/self/maps", "r");
	assert_non_null(fp);
	while (fgets(line, sizeof(line), fp) != NULL) {
		len = strcspn(line, "\n");
		if (len >= plen && strncmp(line + len - plen, path, plen) == 0)
			n++;
	}
	fclose(fp);
	return n;
}

static double
now_sec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Refresh every 10 ms until name's presence is want; seconds it took, or
 * -1 after limit seconds. */
static double
wait_for(struct idview *v, const char *name, bool want, double limit)
{
	double t0 = now_sec();
	struct got g = { .calls = 0 };
	int r;

	for (;;) {
		r = idview_refresh(v);
		assert_true(r == 0 || r == APPUSER_ERR_NOSTORE);
		if (r == 0 && (idview_user_by_name(v, name, grab, &g) == 0) ==
		    want)
			return now_sec() - t0;
		if (now_sec() - t0 > limit)
			return -1;
		usleep(10000);
	}
}

/* A snapshot deleted under the reader: refresh says so (at once when a
 * writer bumped the counter, else within a second), the view lives. */
static void
test_refresh_missing(void **state)
{
	struct fx *f = *state;
	struct got g = { .calls = 0 };
	double t0, t;
	int r;

	assert_int_equal(unlink(f->ident), 0);
	gen_bump(f);
	assert_int_equal(idview_refresh(f->v), APPUSER_ERR_NOSTORE);
	assert_int_equal(idview_user_by_name(f->v, "user5", grab, &g), 0);
	/* a failed check is not taken for a done one */
	assert_int_equal(idview_refresh(f->v), APPUSER_ERR_NOSTORE);
	/* by hand, no bump: the next full check, a second later at most */
	make_store(f->bad, 3);
	idview_close(f->v);
	f->v = NULL;
	assert_int_equal(idview_open(f->bad, &f->v), 0);
	assert_int_equal(unlink(f->badident), 0);
	t0 = now_sec();
	while ((r = idview_refresh(f->v)) == 0 && now_sec() - t0 < 3)
		usleep(10000);
	t = now_sec() - t0;
	assert_int_equal(r, APPUSER_ERR_NOSTORE);
	assert_true(t < 2.5);
}

/* ---- change detection through identity.gen --------------------------- */

/* The file as the writer leaves it: 0644, one page, a counter that moves
 * with each publication and the generation it published. */
static void
test_gen_file(void **state)
{
	struct fx *f = *state;
	struct store *st = NULL;
	struct stat sb;
	uint64_t w[GEN_WORDS], w2[GEN_WORDS];
	int fd;

	assert_int_equal(lstat(f->gen, &sb), 0);
	assert_true(S_ISREG(sb.st_mode));
	assert_int_equal(sb.st_mode & 07777, 0644);
	assert_int_equal(sb.st_size, GEN_FILE_SIZE);
	assert_int_equal(sb.st_uid, geteuid());
	gen_words(f, w);
	assert_int_equal(w[GEN_W_PUBLISHED], idview_meta(f->v)->generation);
	assert_true(w[GEN_W_COUNTER] >= 2);
	/* the view maps it (once), and unmaps it when closed */
	assert_int_equal(maps_count(f->gen), 1);
	idview_close(f->v);
	f->v = NULL;
	assert_int_equal(maps_count(f->gen), 0);
	assert_int_equal(idview_open(f->dir, &f->v), 0);
	assert_int_equal(maps_count(f->gen), 1);
	/* a write that publishes: +1; opening a writer alone: nothing */
	assert_int_equal(store_open(f->dir, STORE_WRITE, &st), 0);
	gen_words(f, w2);
	assert_memory_equal(w, w2, sizeof(w));
	assert_int_equal(store_user_delete(st, "user9"), 0);
	gen_words(f, w2);
	assert_int_equal(w2[GEN_W_COUNTER], w[GEN_W_COUNTER] + 1);
	assert_int_equal(w2[GEN_W_PUBLISHED], w[GEN_W_PUBLISHED] + 1);
	store_close(st);
	/* a writer that died between rename and bump: the next one bumps */
	w2[GEN_W_PUBLISHED]--;
	fd = open(f->gen, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, w2, sizeof(w2), 0), sizeof(w2));
	close(fd);
	assert_int_equal(store_open(f->dir, STORE_WRITE, &st), 0);
	store_close(st);
	gen_words(f, w);
	assert_int_equal(w[GEN_W_COUNTER], w2[GEN_W_COUNTER] + 1);
	assert_int_equal(w[GEN_W_PUBLISHED], w2[GEN_W_PUBLISHED] + 1);
	/* missing (an older store), or with a bad mode: the writer fixes it */
	assert_int_equal(unlink(f->gen), 0);
	assert_int_equal(store_open(f->dir, STORE_WRITE, &st), 0);
	store_close(st);
	assert_int_equal(lstat(f->gen, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0644);
	assert_int_equal(sb.st_size, GEN_FILE_SIZE);
	memcpy(w2, w, sizeof(w));
	gen_words(f, w);
	assert_int_equal(w[GEN_W_COUNTER], 1);
	assert_int_equal(w[GEN_W_PUBLISHED], w2[GEN_W_PUBLISHED]);
	assert_int_equal(chmod(f->gen, 0666), 0);
	assert_int_equal(store_open(f->dir, STORE_WRITE, &st), 0);
	store_close(st);
	assert_int_equal(lstat(f->gen, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0644);
}

/*
 * A writer's change is seen by the very next refresh, with no sleep: each
 * kind of change, 200 times.  mode selects identity.gen's state: 0 as
 * published, 1 deleted before the view opened (the writer recreates it;
 * the view stats until it maps it), 2 a directory in its place (no writer
 * can fix that: the view stats every time).
 */
static void
flip_changes(struct fx *f, int mode)
{
	struct store *st = NULL;
	struct user in = { .name = "flip", .description = "flipped" };
	struct got g = { .calls = 0 };
	int i, r;

	idview_close(f->v);
	f->v = NULL;
	if (mode == 1)
		assert_int_equal(unlink(f->gen), 0);
	if (mode == 2) {
		assert_int_equal(unlink(f->gen), 0);
		assert_int_equal(mkdir(f->gen, 0755), 0);
	}
	assert_int_equal(idview_open(f->dir, &f->v), 0);
	assert_int_equal(maps_count(f->gen), mode == 0);
	assert_int_equal(store_open(f->dir, STORE_WRITE, &st), 0);
	for (i = 0; i < 200; i++) {
		memset(&g, 0, sizeof(g));
		switch (i % 3) {
		case 0:
			assert_int_equal(store_user_add(st, &in, NULL), 0);
			assert_int_equal(idview_refresh(f->v), 0);
			assert_int_equal(idview_user_by_name(f->v, "flip", grab,
			    &g), 0);
			assert_false(g.admin);
			assert_int_equal(idview_user_by_uid(f->v, g.uid, grab,
			    &g), 0);
			assert_string_equal(g.name, "flip");
			break;
		case 1:
			assert_int_equal(store_user_set_admin(st, "flip", true),
			    0);
			assert_int_equal(idview_refresh(f->v), 0);
			assert_int_equal(idview_user_by_name(f->v, "flip", grab,
			    &g), 0);
			assert_true(g.admin);
			assert_int_equal(idview_meta(f->v)->n_admins, 2);
			break;
		default:
			assert_int_equal(store_user_delete(st, "flip"), 0);
			assert_int_equal(idview_refresh(f->v), 0);
			r = idview_user_by_name(f->v, "flip", grab, &g);
			assert_int_equal(r, APPUSER_ERR_NOT_FOUND);
			assert_int_equal(idview_meta(f->v)->n_admins, 1);
		}
		assert_int_equal(idview_meta(f->v)->n_users,
		    NUSERS + (i % 3 != 2));
	}
	store_close(st);
}

static void
test_changes_seen(void **state)
{
	flip_changes(*state, 0);
}

static void
test_changes_seen_gen_deleted(void **state)
{
	struct fx *f = *state;
	struct stat sb;

	flip_changes(f, 1);
	assert_int_equal(lstat(f->gen, &sb), 0);	/* recreated */
	assert_int_equal(sb.st_size, GEN_FILE_SIZE);
}

static void
test_changes_seen_gen_unusable(void **state)
{
	struct fx *f = *state;
	struct stat sb;

	flip_changes(f, 2);
	assert_int_equal(lstat(f->gen, &sb), 0);
	assert_true(S_ISDIR(sb.st_mode));
}

/*
 * A snapshot renamed into place by hand (no writer, no bump): the refresh
 * right after costs no stat() and does not see it; within a second one
 * does.  The same once identity.gen itself was deleted by hand under the
 * view and recreated by the next writer.
 */
static void
test_changes_by_hand(void **state)
{
	struct fx *f = *state;
	char old[200];
	struct store *st = NULL;
	struct user in = { .name = "late" };
	double t0, t;

	snprintf(old, sizeof(old), "%s/old.tdb", f->base);
	copy_file(f->ident, old);
	assert_int_equal(store_open(f->dir, STORE_WRITE, &st), 0);
	assert_int_equal(store_user_delete(st, "user5"), 0);
	store_close(st);
	t0 = now_sec();
	assert_int_equal(idview_refresh(f->v), 0);	/* bumped: seen */
	assert_int_equal(wait_for(f->v, "user5", false, 0), 0);
	assert_int_equal(rename(old, f->ident), 0);
	assert_int_equal(idview_refresh(f->v), 0);
	if (now_sec() - t0 < 0.5)	/* else the clock may have run out */
		assert_int_equal(wait_for(f->v, "user5", false, 0), 0);
	t = wait_for(f->v, "user5", true, 3);
	assert_true(t >= 0 && t < 2.5);
	/* identity.gen deleted by hand while mapped, then a writer */
	assert_int_equal(unlink(f->gen), 0);
	assert_int_equal(store_open(f->dir, STORE_WRITE, &st), 0);
	assert_int_equal(store_user_add(st, &in, NULL), 0);
	store_close(st);
	t = wait_for(f->v, "late", true, 3);
	assert_true(t >= 0 && t < 2.5);
	/* the view follows the new file from then on, at once */
	assert_int_equal(store_open(f->dir, STORE_WRITE, &st), 0);
	assert_int_equal(store_user_delete(st, "late"), 0);
	store_close(st);
	assert_int_equal(wait_for(f->v, "late", false, 0), 0);
}

/* ---- damaged files ---------------------------------------------------- */

/* Open a damaged copy; if it opens, every lookup and a full walk must
 * come back (with anything) without crashing. */
static int
probe(struct fx *f)
{
	struct idview *v = NULL;
	struct seen s;
	struct got g = { .calls = 0 };
	char name[16];
	int i, r;

	if ((r = idview_open(f->bad, &v)) != 0)
		return r;
	for (i = 0; i < NUSERS; i++) {
		snprintf(name, sizeof(name), "user%d", i);
		r = idview_user_by_name(v, name, grab, &g);
		assert_true(r == 0 || r == APPUSER_ERR_NOT_FOUND ||
		    r == APPUSER_ERR_CORRUPT);
		r = idview_user_by_uid(v, UMIN + 1 + i, grab, &g);
		assert_true(r == 0 || r == APPUSER_ERR_NOT_FOUND ||
		    r == APPUSER_ERR_CORRUPT);
	}
	r = walk(v, &s);
	assert_true(r == APPUSER_ERR_NOT_FOUND || r == APPUSER_ERR_CORRUPT);
	idview_close(v);
	return 0;
}

static void
test_truncated(void **state)
{
	struct fx *f = *state;
	struct stat sb;
	struct idview *v = NULL;
	off_t sizes[4];
	int i;

	assert_int_equal(stat(f->ident, &sb), 0);
	sizes[0] = sb.st_size / 2;
	sizes[1] = sb.st_size - 100;
	sizes[2] = 4096;
	sizes[3] = 200;
	for (i = 0; i < 4; i++) {
		copy_file(f->ident, f->badident);
		assert_int_equal(truncate(f->badident, sizes[i]), 0);
		probe(f);
	}
	copy_file(f->ident, f->badident);
	assert_int_equal(truncate(f->badident, 10), 0);
	assert_int_equal(idview_open(f->bad, &v), APPUSER_ERR_CORRUPT);
	assert_int_equal(truncate(f->badident, 0), 0);
	assert_int_equal(idview_open(f->bad, &v), APPUSER_ERR_CORRUPT);
	assert_null(v);
}

static void
test_garbage(void **state)
{
	struct fx *f = *state;
	struct idview *v = NULL;
	unsigned char buf[8192];
	size_t i;
	int fd;

	srand(1);
	for (i = 0; i < sizeof(buf); i++)
		buf[i] = (unsigned char)rand();
	fd = open(f->badident, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, sizeof(buf)), sizeof(buf));
	close(fd);
	assert_int_equal(idview_open(f->bad, &v), APPUSER_ERR_CORRUPT);
	/* a directory, a symlink */
	assert_int_equal(unlink(f->badident), 0);
	assert_int_equal(mkdir(f->badident, 0755), 0);
	assert_int_not_equal(idview_open(f->bad, &v), 0);
	assert_int_equal(rmdir(f->badident), 0);
	assert_int_equal(symlink(f->ident, f->badident), 0);
	assert_int_equal(idview_open(f->bad, &v), APPUSER_ERR_CORRUPT);
	assert_null(v);
}

/* A header claiming a huge hash table in a small file: tdb would scan the
 * table without bounds checks, so the reader refuses it up front. */
static void
test_huge_hash_header(void **state)
{
	struct fx *f = *state;
	struct idview *v = NULL;
	uint32_t hs = 50000000;
	int fd;

	copy_file(f->ident, f->badident);
	fd = open(f->badident, O_WRONLY);
	assert_true(fd >= 0);
	/* struct tdb_header: char magic_food[32]; u32 version; u32 hash_size */
	assert_int_equal(pwrite(fd, &hs, 4, 36), 4);
	close(fd);
	assert_int_equal(idview_open(f->bad, &v), APPUSER_ERR_CORRUPT);
}

static void
test_bad_records(void **state)
{
	struct fx *f = *state;
	struct tdb_context *t;
	struct user u = { .name = "user2", .description = "", .home = "/",
	    .shell = "/bin/sh", .uid = 0, .gid = 0 };
	uint8_t *buf, key5[5] = { 'I' };
	size_t len;
	struct idview_cursor c = IDVIEW_CURSOR_INIT;
	struct seen s;
	struct got g = { .calls = 0 };
	uint32_t uid = UMIN + 4;	/* user3's */
	int r, bad = 0;

	copy_file(f->ident, f->badident);
	t = tdb_open(f->badident, 0, 0, O_RDWR, 0);
	assert_non_null(t);
	assert_int_equal(tdb_store(t, kd("Uuser1", 6), kd("garbage", 7),
	    TDB_REPLACE), 0);
	assert_int_equal(record_encode_user(&u, &buf, &len), 0);
	assert_int_equal(tdb_store(t, kd("Uuser2", 6), kd(buf, len),
	    TDB_REPLACE), 0);
	key5[1] = uid >> 24;
	key5[2] = uid >> 16;
	key5[3] = uid >> 8;
	key5[4] = uid;
	assert_int_equal(tdb_store(t, kd(key5, 5), kd(buf, len),
	    TDB_REPLACE), 0);		/* I<user3's uid> -> user2 (uid 0) */
	free(buf);
	tdb_close(t);
	idview_close(f->v);
	f->v = NULL;
	assert_int_equal(idview_open(f->bad, &f->v), 0);
	memset(&g, 0, sizeof(g));
	assert_int_equal(idview_user_by_name(f->v, "user1", grab, &g),
	    APPUSER_ERR_CORRUPT);
	assert_int_equal(idview_user_by_name(f->v, "user2", grab, &g),
	    APPUSER_ERR_CORRUPT);		/* uid 0 is never handed out */
	assert_int_equal(idview_user_by_uid(f->v, uid, grab, &g),
	    APPUSER_ERR_CORRUPT);
	assert_int_equal(g.calls, 0);
	assert_int_equal(idview_user_by_name(f->v, "user3", grab, &g), 0);
	/* the walk reports the bad ones and goes on past them */
	memset(&s, 0, sizeof(s));
	while ((r = idview_next_user(f->v, &c, note, &s)) !=
	    APPUSER_ERR_NOT_FOUND) {
		if (r == APPUSER_ERR_CORRUPT)
			bad++;
		else
			assert_int_equal(r, 0);
	}
	idview_cursor_release(f->v, &c);
	assert_int_equal(bad, 2);
	assert_int_equal(s.n, NUSERS - 2);
}

static void
test_meta_problems(void **state)
{
	struct fx *f = *state;
	struct tdb_context *t;
	struct idview *v = NULL;
	struct meta m;
	TDB_DATA d;
	uint8_t *buf;
	size_t len;

	copy_file(f->ident, f->badident);
	t = tdb_open(f->badident, 0, 0, O_RDWR, 0);
	assert_non_null(t);
	d = tdb_fetch(t, kd("!meta", 5));
	assert_non_null(d.dptr);
	assert_int_equal(record_decode_meta(d.dptr, d.dsize, &m), 0);
	m.format = STORE_FORMAT_VERSION + 1;
	assert_int_equal(record_encode_meta(&m, &buf, &len), 0);
	assert_int_equal(tdb_store(t, kd("!meta", 5), kd(buf, len),
	    TDB_REPLACE), 0);
	tdb_close(t);
	assert_int_equal(idview_open(f->bad, &v), APPUSER_ERR_VERSION);
	free(buf);
	meta_clear(&m);
	free(d.dptr);
	t = tdb_open(f->badident, 0, 0, O_RDWR, 0);
	assert_int_equal(tdb_store(t, kd("!meta", 5), kd("junk", 4),
	    TDB_REPLACE), 0);
	tdb_close(t);
	assert_int_equal(idview_open(f->bad, &v), APPUSER_ERR_CORRUPT);
	t = tdb_open(f->badident, 0, 0, O_RDWR, 0);
	assert_int_equal(tdb_delete(t, kd("!meta", 5)), 0);
	tdb_close(t);
	assert_int_equal(idview_open(f->bad, &v), APPUSER_ERR_CORRUPT);
	assert_null(v);
}

static void
test_missing(void **state)
{
	struct fx *f = *state;
	struct idview *v = NULL;
	char nodir[200];

	assert_int_equal(idview_open(f->bad, &v), APPUSER_ERR_NOSTORE);
	snprintf(nodir, sizeof(nodir), "%s/nonexistent", f->base);
	assert_int_equal(idview_open(nodir, &v), APPUSER_ERR_NOSTORE);
	assert_null(v);
}

/* As an unprivileged user, an unreadable snapshot is PERMISSION. */
static void
test_unreadable(void **state)
{
	struct fx *f = *state;
	struct idview *v = NULL;
	pid_t pid;
	int status;

	copy_file(f->ident, f->badident);
	assert_int_equal(chmod(f->badident, 0), 0);
	assert_int_equal(chmod(f->base, 0755), 0);
	if (geteuid() != 0) {
		assert_int_equal(idview_open(f->bad, &v), APPUSER_ERR_PERMISSION);
		return;
	}
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct got g = { .calls = 0 };
		int a, b;

		if (setgroups(0, NULL) != 0 || setresgid(65534, 65534, 65534) ||
		    setresuid(65534, 65534, 65534) != 0)
			_exit(3);
		a = idview_open(f->bad, &v);
		/* the real snapshot is world-readable */
		if ((b = idview_open(f->dir, &v)) == 0)
			b = idview_user_by_name(v, "user4", grab, &g);
		_exit(a == APPUSER_ERR_PERMISSION && b == 0 ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void
test_cloexec(void **state)
{
	struct fx *f = *state;
	char path[PATH_MAX], link[PATH_MAX + 64];
	struct dirent *de;
	DIR *d;
	ssize_t n;
	int fd, found = 0;

	d = opendir("/proc/self/fd");
	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		fd = atoi(de->d_name);
		snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
		if ((n = readlink(link, path, sizeof(path) - 1)) <= 0)
			continue;
		path[n] = '\0';
		if (strcmp(path, f->ident) != 0)
			continue;
		found++;
		assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	}
	closedir(d);
	assert_int_equal(found, 1);
}

/* A forked child reads through the parent's view, whose identity.gen
 * mapping it inherited: a change the parent makes after the fork is seen
 * by the child's next refresh. */
static void
test_fork(void **state)
{
	struct fx *f = *state;
	struct store *st = NULL;
	struct got g = { .calls = 0 };
	pid_t pid;
	int status, p[2];
	char c;

	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[1]);
		memset(&g, 0, sizeof(g));
		if (idview_user_by_name(f->v, "user7", grab, &g) != 0 ||
		    g.uid != UMIN + 8 || idview_refresh(f->v) != 0)
			_exit(1);
		if (read(p[0], &c, 1) != 1)	/* the parent deleted user7 */
			_exit(2);
		_exit(idview_refresh(f->v) == 0 &&
		    idview_user_by_name(f->v, "user7", grab, &g) ==
		    APPUSER_ERR_NOT_FOUND ? 0 : 3);
	}
	close(p[0]);
	assert_int_equal(store_open(f->dir, STORE_WRITE, &st), 0);
	assert_int_equal(store_user_delete(st, "user7"), 0);
	store_close(st);
	assert_int_equal(write(p[1], "x", 1), 1);
	close(p[1]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(WEXITSTATUS(status), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_lookup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_found, setup, teardown),
		cmocka_unit_test_setup_teardown(test_enumerate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cursor_pins, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shared_and_close, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_refresh_missing, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_gen_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_changes_seen, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_changes_seen_gen_deleted,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_changes_seen_gen_unusable,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_changes_by_hand, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_truncated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_garbage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_huge_hash_header, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_bad_records, setup, teardown),
		cmocka_unit_test_setup_teardown(test_meta_problems, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_missing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unreadable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cloexec, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fork, setup, teardown),
	};

	if (crypto_init() != 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
