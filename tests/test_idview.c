/*
 * Unit tests of the identity snapshot reader (idview_* in store.h) and of
 * the snapshot files it reads (snapfile.h): the code the NSS module runs.
 * Bad files (truncated, garbage, hostile headers and records, pairs that
 * do not belong together) must give an error, never a crash or a loop.
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
#include "fsutil.h"
#include "gencount.h"
#include "keys.h"
#include "record.h"
#include "snapfile.h"
#include "store.h"
#include "token.h"

#include "tmpdir_fixture.h"

#define UMIN	APPUSER_DEFAULT_UID_MIN
#define NUSERS	40

struct fx {
	struct tmpdir	 td;		/* td.dir: the store */
	char		 bad[128];	/* a directory for damaged copies */
	char		 ident[160];	/* identity.snap */
	char		 idelta[160];	/* identity.delta */
	char		 badident[160];
	char		 baddelta[160];
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
	struct fx *f = tmpdir_new(sizeof(*f), "/tmp/appuser-idview-XXXXXX",
	    false);
	const char *dir = f->td.dir;

	tmpdir_path(f->bad, sizeof(f->bad), f->td.base, "bad");
	tmpdir_path(f->ident, sizeof(f->ident), dir, APPUSER_IDENTITY_FILE);
	tmpdir_path(f->idelta, sizeof(f->idelta), dir, APPUSER_IDENTITY_DELTA);
	tmpdir_path(f->badident, sizeof(f->badident), f->bad,
	    APPUSER_IDENTITY_FILE);
	tmpdir_path(f->baddelta, sizeof(f->baddelta), f->bad,
	    APPUSER_IDENTITY_DELTA);
	tmpdir_path(f->gen, sizeof(f->gen), dir, APPUSER_GEN_FILE);
	assert_int_equal(mkdir(f->bad, 0755), 0);
	make_store(f->td.dir, NUSERS);
	assert_int_equal(idview_open(f->td.dir, &f->v), 0);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	idview_close(f->v);
	tmpdir_free(&f->td);
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

/* One writer's commit: name deleted from f's store. */
static void
delete_user(struct fx *f, const char *name)
{
	struct store *st = NULL;

	assert_int_equal(store_open(f->td.dir, STORE_WRITE, &st), 0);
	assert_int_equal(store_user_delete(st, name), 0);
	store_close(st);
}

static void
copy_file(const char *from, const char *to)
{
	assert_int_equal(fx_copy_file(from, to, 0644), 0);
}

/* The store's pair into the directory for damaged copies. */
static void
copy_pair(struct fx *f)
{
	copy_file(f->ident, f->badident);
	copy_file(f->idelta, f->baddelta);
}

/* Republish the store's pair as one base holding every record and an
 * empty delta (what a writer's roll-forward does). */
static void
all_in_base(struct fx *f)
{
	struct store *st = NULL;

	assert_int_equal(unlink(f->ident), 0);
	assert_int_equal(store_open(f->td.dir, STORE_WRITE, &st), 0);
	store_close(st);
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
	assert_int_equal(store_open(f->td.dir, STORE_WRITE, &st), 0);
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

	assert_int_equal(idview_open(f->td.dir, &v2), 0);
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
	size_t plen = strlen(path);
	FILE *fp;
	int n = 0;

	fp = fopen("/proc/self/maps", "r");
	assert_non_null(fp);
	while (fgets(line, sizeof(line), fp) != NULL) {
		size_t len = strcspn(line, "\n");

		if (len >= plen && strncmp(line + len - plen, path, plen) == 0)
			n++;
	}
	fclose(fp);
	return n;
}

/* Refresh every 10 ms until name's presence is want; seconds it took, or
 * -1 after limit seconds. */
static double
wait_for(struct idview *v, const char *name, bool want, double limit)
{
	double t0 = fs_mono_s();
	struct got g = { .calls = 0 };

	for (;;) {
		int r = idview_refresh(v);

		assert_true(r == 0 || r == APPUSER_ERR_NOSTORE);
		if (r == 0 && (idview_user_by_name(v, name, grab, &g) == 0) ==
		    want)
			return fs_mono_s() - t0;
		if (fs_mono_s() - t0 > limit)
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
	t0 = fs_mono_s();
	while ((r = idview_refresh(f->v)) == 0 && fs_mono_s() - t0 < 3)
		usleep(10000);
	t = fs_mono_s() - t0;
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
	assert_int_equal(idview_open(f->td.dir, &f->v), 0);
	assert_int_equal(maps_count(f->gen), 1);
	/* a write that publishes: +1; opening a writer alone: nothing */
	assert_int_equal(store_open(f->td.dir, STORE_WRITE, &st), 0);
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
	assert_int_equal(store_open(f->td.dir, STORE_WRITE, &st), 0);
	store_close(st);
	gen_words(f, w);
	assert_int_equal(w[GEN_W_COUNTER], w2[GEN_W_COUNTER] + 1);
	assert_int_equal(w[GEN_W_PUBLISHED], w2[GEN_W_PUBLISHED] + 1);
	/* missing (an older store), or with a bad mode: the writer fixes it */
	assert_int_equal(unlink(f->gen), 0);
	assert_int_equal(store_open(f->td.dir, STORE_WRITE, &st), 0);
	store_close(st);
	assert_int_equal(lstat(f->gen, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0644);
	assert_int_equal(sb.st_size, GEN_FILE_SIZE);
	memcpy(w2, w, sizeof(w));
	gen_words(f, w);
	assert_int_equal(w[GEN_W_COUNTER], 1);
	assert_int_equal(w[GEN_W_PUBLISHED], w2[GEN_W_PUBLISHED]);
	assert_int_equal(chmod(f->gen, 0666), 0);
	assert_int_equal(store_open(f->td.dir, STORE_WRITE, &st), 0);
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
	assert_int_equal(idview_open(f->td.dir, &f->v), 0);
	assert_int_equal(maps_count(f->gen), mode == 0);
	assert_int_equal(store_open(f->td.dir, STORE_WRITE, &st), 0);
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
 * A delta renamed into place by hand (no writer, no bump): the refresh
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

	snprintf(old, sizeof(old), "%s/old.delta", f->td.base);
	copy_file(f->idelta, old);
	delete_user(f, "user5");
	t0 = fs_mono_s();
	assert_int_equal(idview_refresh(f->v), 0);	/* bumped: seen */
	assert_int_equal(wait_for(f->v, "user5", false, 0), 0);
	assert_int_equal(rename(old, f->idelta), 0);
	assert_int_equal(idview_refresh(f->v), 0);
	if (fs_mono_s() - t0 < 0.5)	/* else the clock may have run out */
		assert_int_equal(wait_for(f->v, "user5", false, 0), 0);
	t = wait_for(f->v, "user5", true, 3);
	assert_true(t >= 0 && t < 2.5);
	/* identity.gen deleted by hand while mapped, then a writer */
	assert_int_equal(unlink(f->gen), 0);
	assert_int_equal(store_open(f->td.dir, STORE_WRITE, &st), 0);
	assert_int_equal(store_user_add(st, &in, NULL), 0);
	store_close(st);
	t = wait_for(f->v, "late", true, 3);
	assert_true(t >= 0 && t < 2.5);
	/* the view follows the new file from then on, at once */
	delete_user(f, "late");
	assert_int_equal(wait_for(f->v, "late", false, 0), 0);
}

/*
 * A view that opened in the middle of a merge (the new base renamed, the
 * old delta still there: the view reads the base alone) must still see
 * the changes published after, in a new delta on that same base.  The
 * middle of a merge is made by hand: the new base with the old delta put
 * back, which is also what a writer killed between the two renames
 * leaves (test_crash), and which no writer repairs (the pair is at the
 * master's generation).
 */
static void
test_view_opened_mid_merge(void **state)
{
	struct fx *f = *state;
	char oldd[200], name[16];
	struct store *st = NULL;
	struct user in;
	struct got g = { .calls = 0 };
	double t;
	int i;

	snprintf(oldd, sizeof(oldd), "%s/old.delta", f->td.base);
	copy_file(f->idelta, oldd);
	/* a merge: enough users in one commit */
	assert_int_equal(store_open(f->td.dir, STORE_WRITE, &st), 0);
	assert_int_equal(store_begin(st), 0);
	for (i = 0; i < 2100; i++) {
		memset(&in, 0, sizeof(in));
		snprintf(name, sizeof(name), "m%d", i);
		in.name = name;
		assert_int_equal(store_user_add(st, &in, NULL), 0);
	}
	assert_int_equal(store_commit(st), 0);
	store_close(st);
	assert_int_equal(rename(oldd, f->idelta), 0);
	idview_close(f->v);
	f->v = NULL;
	assert_int_equal(idview_open(f->td.dir, &f->v), 0);
	assert_int_equal(idview_user_by_name(f->v, "m2099", grab, &g), 0);
	/* the next change: a delta on the same base */
	assert_int_equal(store_open(f->td.dir, STORE_WRITE, &st), 0);
	memset(&in, 0, sizeof(in));
	in.name = "after";
	assert_int_equal(store_user_add(st, &in, NULL), 0);
	assert_int_equal(store_user_delete(st, "user5"), 0);
	store_close(st);
	t = wait_for(f->v, "after", true, 2.5);
	if (t < 0)
		fail_msg("a view opened mid-merge never sees a later change");
	assert_int_equal(idview_user_by_name(f->v, "user5", grab, &g),
	    APPUSER_ERR_NOT_FOUND);
}

/* ---- damaged files ---------------------------------------------------- */

static bool
result_ok(int r)
{
	return r == 0 || r == APPUSER_ERR_NOT_FOUND ||
	    r == APPUSER_ERR_CORRUPT || r == APPUSER_ERR_VERSION;
}

/* Open the copy in f->bad; if it opens, every lookup (by name, by uid)
 * and a full walk must come back (with anything) without crashing.
 * Returns what idview_open said. */
static int
probe(struct fx *f)
{
	struct idview_cursor c = IDVIEW_CURSOR_INIT;
	struct idview *v = NULL;
	struct seen s;
	struct got g = { .calls = 0 };
	char name[16];
	int i, r, steps = 0;

	if ((r = idview_open(f->bad, &v)) != 0)
		return r;
	for (i = 0; i < NUSERS + 2; i++) {
		snprintf(name, sizeof(name), "user%d", i);
		assert_true(result_ok(idview_user_by_name(v, name, grab, &g)));
		assert_true(result_ok(idview_user_by_uid(v, UMIN + 1 + i, grab,
		    &g)));
	}
	assert_true(result_ok(idview_user_by_name(v, "!meta", grab, &g)));
	/* a walk ends, whatever it meets on the way */
	memset(&s, 0, sizeof(s));
	while ((r = idview_next_user(v, &c, note, &s)) != APPUSER_ERR_NOT_FOUND) {
		assert_true(result_ok(r));
		assert_true(++steps <= 4 * NUSERS + 8);
	}
	idview_cursor_release(v, &c);
	assert_true(result_ok(idview_refresh(v)));
	idview_close(v);
	return 0;
}

/* A file cut anywhere no longer matches its header: refused at open. */
static void
test_truncated(void **state)
{
	struct fx *f = *state;
	struct idview *v = NULL;
	const char *files[2] = { f->badident, f->baddelta };
	off_t size, cuts[7];
	int i, j;

	all_in_base(f);
	for (j = 0; j < 2; j++) {
		copy_pair(f);
		size = fx_stat(files[j], true).st_size;
		cuts[0] = size / 2;
		cuts[1] = size - 1;
		cuts[2] = size - 8;
		cuts[3] = SNAPFILE_HEADER;
		cuts[4] = SNAPFILE_HEADER - 1;
		cuts[5] = 10;
		cuts[6] = 0;
		for (i = 0; i < 7; i++) {
			copy_pair(f);
			assert_int_equal(truncate(files[j], cuts[i]), 0);
			assert_int_equal(probe(f), APPUSER_ERR_CORRUPT);
		}
		/* longer than the header says: refused too */
		copy_pair(f);
		assert_int_equal(truncate(files[j], size + 8), 0);
		assert_int_equal(probe(f), APPUSER_ERR_CORRUPT);
	}
	copy_pair(f);
	assert_int_equal(probe(f), 0);
	assert_null(v);
}

/* Flip a few bytes of buf (n bytes) at random places past the magic. */
static void
mutate(uint8_t *buf, size_t n)
{
	int k = 1 + rand() % 6;

	while (k-- > 0) {
		size_t at = 8 + (size_t)rand() % (n - 8);

		switch (rand() % 4) {
		case 0:
			buf[at] ^= (uint8_t)(1u << (rand() % 8));
			break;
		case 1:
			buf[at] = 0xff;
			break;
		case 2:
			buf[at] = 0;
			break;
		default:
			buf[at] = (uint8_t)rand();
		}
	}
}

static uint8_t *
read_file(const char *path, size_t *np)
{
	uint8_t *buf;
	size_t n = (size_t)fx_stat(path, true).st_size;
	int fd;

	buf = malloc(n);
	assert_non_null(buf);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, buf, n), (ssize_t)n);
	close(fd);
	*np = n;
	return buf;
}

/*
 * Random bytes, then valid files with random damage (header, records,
 * index, slots, in the base or the delta): 3000 variants, each opened,
 * looked up and walked.  Anything but a clean error fails the test.
 */
static void
test_garbage(void **state)
{
	struct fx *f = *state;
	struct idview *v = NULL;
	uint8_t rnd[8192], *good[2] = { NULL, NULL };
	const char *files[2] = { f->badident, f->baddelta };
	size_t n[2] = { 0, 0 }, i;
	int k, opened = 0;

	srand(1);
	for (i = 0; i < sizeof(rnd); i++)
		rnd[i] = (uint8_t)rand();
	fx_write_file(f->badident, rnd, sizeof(rnd), 0644);
	assert_int_equal(idview_open(f->bad, &v), APPUSER_ERR_CORRUPT);
	/* the magic right, the rest random */
	memcpy(rnd, SNAPFILE_MAGIC, sizeof(SNAPFILE_MAGIC));
	fx_write_file(f->badident, rnd, sizeof(rnd), 0644);
	assert_int_not_equal(idview_open(f->bad, &v), 0);
	/* a valid pair with damage: half of it with the records in the
	 * base, half in the delta */
	for (k = 0; k < 3000; k++) {
		uint8_t *buf;

		if (k == 0 || k == 1500) {
			if (k == 1500) {
				free(good[0]);
				free(good[1]);
				all_in_base(f);
			}
			copy_pair(f);
			good[0] = read_file(f->badident, &n[0]);
			good[1] = read_file(f->baddelta, &n[1]);
		}
		i = (size_t)(rand() % 2);
		buf = malloc(n[i]);
		assert_non_null(buf);
		memcpy(buf, good[i], n[i]);
		mutate(buf, n[i]);
		fx_write_file(files[i], buf, n[i], 0644);
		fx_write_file(files[1 - i], good[1 - i], n[1 - i], 0644);
		free(buf);
		opened += probe(f) == 0;
	}
	free(good[0]);
	free(good[1]);
	print_message("# %d of 3000 damaged pairs opened (and were probed)\n",
	    opened);
	assert_true(opened > 100);
	/* a directory, a symlink, a FIFO where the base should be */
	copy_pair(f);
	assert_int_equal(unlink(f->badident), 0);
	assert_int_equal(mkdir(f->badident, 0755), 0);
	assert_int_not_equal(idview_open(f->bad, &v), 0);
	assert_int_equal(rmdir(f->badident), 0);
	assert_int_equal(symlink(f->ident, f->badident), 0);
	assert_int_equal(idview_open(f->bad, &v), APPUSER_ERR_UNSAFE);
	assert_int_equal(unlink(f->badident), 0);
	assert_int_equal(mkfifo(f->badident, 0644), 0);
	assert_int_equal(idview_open(f->bad, &v), APPUSER_ERR_UNSAFE);
	assert_null(v);
}

/* Patch width (4 or 8) bytes little-endian at off of path. */
static void
patch(const char *path, off_t off, int width, uint64_t val)
{
	uint8_t b[8];
	int fd, i;

	for (i = 0; i < width; i++)
		b[i] = (uint8_t)(val >> (8 * i));
	fd = open(path, O_WRONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, b, width, off), width);
	close(fd);
}

static uint64_t
peek(const char *path, off_t off, int width)
{
	uint8_t b[8];
	uint64_t v = 0;
	int fd, i;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, b, width, off), width);
	close(fd);
	for (i = width - 1; i >= 0; i--)
		v = v << 8 | b[i];
	return v;
}

/*
 * Headers that lie (snapfile.h's layout): a huge slot table or record
 * count in a small file, offsets past the end or wrapping around, a slot
 * count that is no power of two, another kind, an unknown format or flag,
 * generations that cannot be.  Each is refused at open, nothing is read
 * through it.
 */
static void
test_bad_header(void **state)
{
	struct fx *f = *state;
	static const struct {
		bool		 delta;		/* patch the delta, else the base */
		off_t		 off;
		int		 width;
		uint64_t	 val;
		int		 want;
	} cases[] = {
		{ false, 36, 4, 1u << 30, APPUSER_ERR_CORRUPT },  /* nslots */
		{ false, 36, 4, 0, APPUSER_ERR_CORRUPT },
		{ false, 36, 4, 24, APPUSER_ERR_CORRUPT },	   /* not 2^n */
		{ true, 40, 4, 0xffffffffu, APPUSER_ERR_CORRUPT }, /* nrecords */
		{ false, 48, 8, UINT64_MAX - 7, APPUSER_ERR_CORRUPT }, /* index */
		{ false, 48, 8, 0, APPUSER_ERR_CORRUPT },
		{ true, 56, 8, UINT64_MAX, APPUSER_ERR_CORRUPT },  /* slots */
		{ true, 56, 8, 64, APPUSER_ERR_CORRUPT },
		{ false, 12, 4, SNAP_KIND_TOKENS, APPUSER_ERR_CORRUPT },
		{ false, 8, 4, SNAPFILE_FORMAT + 1, APPUSER_ERR_VERSION },
		{ true, 8, 4, 0, APPUSER_ERR_CORRUPT },
		{ false, 32, 4, 0x2, APPUSER_ERR_CORRUPT },	   /* flags */
		{ false, 32, 4, SNAPFILE_DELTA, APPUSER_ERR_CORRUPT },
		{ true, 32, 4, 0, APPUSER_ERR_CORRUPT },	/* not a delta */
		{ false, 24, 8, 1, APPUSER_ERR_CORRUPT },	/* base_gen != gen */
		{ true, 24, 8, 99, APPUSER_ERR_CORRUPT },	/* base_gen > gen */
		{ false, 0, 4, 0x5355504a, APPUSER_ERR_CORRUPT }, /* magic */
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		copy_pair(f);
		patch(cases[i].delta ? f->baddelta : f->badident, cases[i].off,
		    cases[i].width, cases[i].val);
		if (probe(f) != cases[i].want)
			fail_msg("header case %zu: %d", i, probe(f));
	}
	copy_pair(f);
	assert_int_equal(probe(f), 0);
}

/*
 * Slot tables and indexes that lie, in a base that holds every record: a
 * table full of one wrong hash (a lookup probes every slot once, then
 * stops), slots naming records that do not exist, index entries pointing
 * outside the records or at a record whose lengths run past them.
 */
static void
test_bad_tables(void **state)
{
	struct fx *f = *state;
	struct got g = { .calls = 0 };
	struct idview *v = NULL;
	uint64_t nslots, slots_off, index_off, nrec, i;

	all_in_base(f);
	copy_pair(f);
	nslots = peek(f->badident, 36, 4);
	nrec = peek(f->badident, 40, 4);
	index_off = peek(f->badident, 48, 8);
	slots_off = peek(f->badident, 56, 8);
	assert_int_equal(nrec, 1 + 2 * NUSERS);
	/* every slot: a hash nothing has, record 1 */
	for (i = 0; i < nslots; i++) {
		patch(f->badident, slots_off + 8 * i, 4, 0x12345678u);
		patch(f->badident, slots_off + 8 * i + 4, 4, 1);
	}
	assert_int_equal(idview_open(f->bad, &v), APPUSER_ERR_CORRUPT);
	copy_pair(f);
	for (i = 0; i < nslots; i++)
		patch(f->badident, slots_off + 8 * i + 4, 4, nrec + 5);
	assert_int_equal(probe(f), APPUSER_ERR_CORRUPT); /* !meta: corrupt */
	/* the index: entries past the records, into the header, or at a
	 * record whose key length runs over the end */
	copy_pair(f);
	for (i = 1; i < nrec; i++)
		patch(f->badident, index_off + 8 * i, 8,
		    i % 3 == 0 ? index_off : i % 3 == 1 ? 3 : UINT64_MAX);
	assert_int_equal(probe(f), 0);
	copy_pair(f);
	patch(f->badident, peek(f->badident, index_off + 8, 8), 4,
	    0x7fffffff);
	assert_int_equal(probe(f), 0);
	assert_int_equal(idview_open(f->bad, &v), 0);
	assert_int_equal(idview_user_by_uid(v, UMIN + 1, grab, &g), 0);
	idview_close(v);
}

static void
put_user(const char *dir, const char *key, size_t klen, uint32_t uid,
    uint32_t gid, const char *name)
{
	struct user u = { .name = name, .description = "", .home = "/",
	    .shell = "/bin/sh", .uid = uid, .gid = gid };
	uint8_t *buf;
	size_t len;

	assert_int_equal(record_encode_user(&u, &buf, &len), 0);
	assert_int_equal(fx_plant_delta(dir, SNAP_KIND_IDENTITY, key, klen, buf,
	    len), 0);
	free(buf);
}

/*
 * Records that lie, planted in a delta: garbage, uid 0, a record filed
 * under another user's uid, ids below the floor, outside the store's
 * range, the admin group's gid, uid != gid.  None is handed out; the walk
 * reports each and goes on past it.
 */
static void
test_bad_records(void **state)
{
	struct fx *f = *state;
	uint8_t key5[5];
	struct idview_cursor c = IDVIEW_CURSOR_INIT;
	struct seen s;
	struct got g = { .calls = 0 };
	uint32_t uid = UMIN + 4;	/* user3's */
	int r, bad = 0;

	copy_pair(f);
	assert_int_equal(fx_plant_delta(f->bad, SNAP_KIND_IDENTITY, "Uuser1", 6,
	    "garbage", 7), 0);
	put_user(f->bad, "Uuser2", 6, 0, 0, "user2");
	fx_uid_key(key5, uid);		/* I<user3's uid> -> user2 (uid 0) */
	put_user(f->bad, (const char *)key5, 5, 0, 0, "user2");
	put_user(f->bad, "Uuser4", 6, 500, 500, "user4");	/* < floor */
	put_user(f->bad, "Uuser5", 6, APPUSER_DEFAULT_UID_MAX + 1,
	    APPUSER_DEFAULT_UID_MAX + 1, "user5");		/* > range */
	put_user(f->bad, "Uuser6", 6, UMIN, UMIN, "user6");	/* admin gid */
	put_user(f->bad, "Uuser7", 6, UMIN + 8, 0, "user7");	/* gid 0 */
	/* filed under another name: by name refused; a walk, which has
	 * no name to compare, hands it out as the user9 it says it is */
	put_user(f->bad, "Uuser8", 6, UMIN + 9, UMIN + 9, "user9");
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
	for (r = 4; r <= 8; r++) {
		char name[16];

		snprintf(name, sizeof(name), "user%d", r);
		assert_int_equal(idview_user_by_name(f->v, name, grab, &g),
		    APPUSER_ERR_CORRUPT);
	}
	assert_int_equal(idview_user_by_uid(f->v, 500, grab, &g),
	    APPUSER_ERR_NOT_FOUND);
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
	assert_int_equal(bad, 6);
	assert_int_equal(s.n, NUSERS - 6);
	for (r = 0; r < s.n; r++)
		assert_true(s.uids[r] > UMIN && s.uids[r] <= UMIN + NUSERS);
}

static void
put_meta(struct fx *f, const struct meta *m)
{
	uint8_t *buf;
	size_t len;

	assert_int_equal(record_encode_meta(m, &buf, &len), 0);
	assert_int_equal(fx_plant_delta(f->bad, SNAP_KIND_IDENTITY, KEY_META, KEY_META_LEN,
	    buf, len), 0);
	free(buf);
}

/*
 * Meta that lies: a newer format ("upgrade"), junk, none (a tombstone in
 * the delta), and settings that would hand out ids the writer never
 * would: a range reaching below the floor, an empty one, the admin group
 * outside the range.
 */
static void
test_meta_problems(void **state)
{
	struct fx *f = *state;
	const struct meta *good = idview_meta(f->v);
	struct idview *v = NULL;
	struct meta m;

	copy_pair(f);
	m = *good;
	m.format = STORE_FORMAT_VERSION + 1;
	put_meta(f, &m);
	assert_int_equal(idview_open(f->bad, &v), APPUSER_ERR_VERSION);
	copy_pair(f);
	assert_int_equal(fx_plant_delta(f->bad, SNAP_KIND_IDENTITY, KEY_META, KEY_META_LEN,
	    "junk", 4), 0);
	assert_int_equal(idview_open(f->bad, &v), APPUSER_ERR_CORRUPT);
	copy_pair(f);
	assert_int_equal(fx_plant_delta(f->bad, SNAP_KIND_IDENTITY, KEY_META, KEY_META_LEN,
	    NULL, 0), 0);
	assert_int_equal(idview_open(f->bad, &v), APPUSER_ERR_CORRUPT);
	copy_pair(f);
	m = *good;
	m.uid_min = 0;
	m.admin_gid = 0;
	put_meta(f, &m);
	assert_int_equal(idview_open(f->bad, &v), APPUSER_ERR_CORRUPT);
	copy_pair(f);
	m = *good;
	m.uid_min = APPUSER_ID_FLOOR - 1;
	m.admin_gid = APPUSER_ID_FLOOR - 1;
	put_meta(f, &m);
	assert_int_equal(idview_open(f->bad, &v), APPUSER_ERR_CORRUPT);
	copy_pair(f);
	m = *good;
	m.uid_max = m.uid_min;
	put_meta(f, &m);
	assert_int_equal(idview_open(f->bad, &v), APPUSER_ERR_CORRUPT);
	copy_pair(f);
	m = *good;
	m.admin_gid = 0;
	put_meta(f, &m);
	assert_int_equal(idview_open(f->bad, &v), APPUSER_ERR_CORRUPT);
	copy_pair(f);
	m = *good;
	m.admin_gid = m.uid_max + 1;
	put_meta(f, &m);
	assert_int_equal(idview_open(f->bad, &v), APPUSER_ERR_CORRUPT);
	assert_null(v);
	/* as it was: fine */
	copy_pair(f);
	put_meta(f, good);
	assert_int_equal(idview_open(f->bad, &v), 0);
	idview_close(v);
}

/*
 * Which pairs a reader accepts (snapfile.h, CONSISTENT PAIRS): a missing
 * delta is an empty one; a delta older than the base (a merge renamed
 * the base after the reader opened the delta, or a crash between the two
 * renames) gives way to the base; a delta newer than a base it does not
 * extend cannot arise and is refused; a base in the delta's place or a
 * delta in the base's is refused.
 */
static void
test_pairs(void **state)
{
	struct fx *f = *state;
	char oldd[200], oldb[200];
	struct idview *v = NULL;
	struct got g = { .calls = 0 };

	snprintf(oldd, sizeof(oldd), "%s/old.delta", f->td.base);
	snprintf(oldb, sizeof(oldb), "%s/old.snap", f->td.base);
	copy_file(f->idelta, oldd);
	copy_file(f->ident, oldb);
	/* no delta: the base alone (here meta only, no user) */
	copy_pair(f);
	assert_int_equal(unlink(f->baddelta), 0);
	assert_int_equal(idview_open(f->bad, &v), 0);
	assert_int_equal(idview_user_by_name(v, "user1", grab, &g),
	    APPUSER_ERR_NOT_FOUND);
	assert_int_equal(idview_meta(v)->generation, 0);
	idview_close(v);
	v = NULL;
	/* after a merge: new base, then the old delta put back */
	delete_user(f, "user1");
	all_in_base(f);
	copy_pair(f);
	copy_file(oldd, f->baddelta);
	assert_int_equal(idview_open(f->bad, &v), 0);
	assert_int_equal(idview_user_by_name(v, "user1", grab, &g),
	    APPUSER_ERR_NOT_FOUND);		/* the base's, not the delta's */
	assert_int_equal(idview_user_by_name(v, "user2", grab, &g), 0);
	assert_int_equal(idview_meta(v)->generation, 3);
	idview_close(v);
	v = NULL;
	/* the new delta on the old base: cannot arise, refused */
	delete_user(f, "user2");
	copy_pair(f);
	copy_file(oldb, f->badident);
	assert_int_equal(idview_open(f->bad, &v), APPUSER_ERR_CORRUPT);
	/* swapped */
	copy_file(f->idelta, f->badident);
	copy_file(f->ident, f->baddelta);
	assert_int_equal(idview_open(f->bad, &v), APPUSER_ERR_CORRUPT);
	copy_pair(f);
	copy_file(f->ident, f->baddelta);
	assert_int_equal(idview_open(f->bad, &v), APPUSER_ERR_CORRUPT);
	/* a token file in the identity's place */
	copy_pair(f);
	tmpdir_path(oldb, sizeof(oldb), f->td.dir, APPUSER_TOKENS_FILE);
	copy_file(oldb, f->badident);
	assert_int_equal(idview_open(f->bad, &v), APPUSER_ERR_CORRUPT);
	assert_null(v);
	/* the real pair, as the writer left it */
	copy_pair(f);
	assert_int_equal(idview_open(f->bad, &v), 0);
	assert_int_equal(idview_user_by_name(v, "user2", grab, &g),
	    APPUSER_ERR_NOT_FOUND);
	assert_int_equal(idview_user_by_name(v, "user3", grab, &g), 0);
	idview_close(v);
}

static void
test_missing(void **state)
{
	struct fx *f = *state;
	struct idview *v = NULL;
	char nodir[200];

	assert_int_equal(idview_open(f->bad, &v), APPUSER_ERR_NOSTORE);
	snprintf(nodir, sizeof(nodir), "%s/nonexistent", f->td.base);
	assert_int_equal(idview_open(nodir, &v), APPUSER_ERR_NOSTORE);
	assert_null(v);
}

/* For test_unreadable, as nobody: the unreadable copy is refused, the
 * real snapshot (world-readable) is read. */
static bool
nobody_reads_real_only(void *arg)
{
	struct fx *f = arg;
	struct got g = { .calls = 0 };
	struct idview *v = NULL;
	int a, b;

	a = idview_open(f->bad, &v);
	if ((b = idview_open(f->td.dir, &v)) == 0)
		b = idview_user_by_name(v, "user4", grab, &g);
	return a == APPUSER_ERR_PERMISSION && b == 0;
}

/* As an unprivileged user, an unreadable snapshot is PERMISSION. */
static void
test_unreadable(void **state)
{
	struct fx *f = *state;
	struct idview *v = NULL;

	copy_pair(f);
	assert_int_equal(chmod(f->badident, 0), 0);
	assert_int_equal(chmod(f->td.base, 0755), 0);
	if (geteuid() != 0) {
		assert_int_equal(idview_open(f->bad, &v), APPUSER_ERR_PERMISSION);
		return;
	}
	fx_as_nobody(nobody_reads_real_only, f);
}

/*
 * The reader applies the writer's checks (issue 8, section 3): a file
 * someone else could have written (group or other write bit, another
 * owner) or a directory others may write is refused as UNSAFE; an
 * identity.gen others could write is not trusted (not mapped), and the
 * view stats instead.
 */
static void
test_unsafe_files(void **state)
{
	struct fx *f = *state;
	struct idview *v = NULL;
	struct got g = { .calls = 0 };

	copy_pair(f);
	assert_int_equal(probe(f), 0);
	assert_int_equal(chmod(f->badident, 0664), 0);
	assert_int_equal(idview_open(f->bad, &v), APPUSER_ERR_UNSAFE);
	assert_int_equal(chmod(f->badident, 0644), 0);
	assert_int_equal(chmod(f->baddelta, 0646), 0);
	assert_int_equal(idview_open(f->bad, &v), APPUSER_ERR_UNSAFE);
	assert_int_equal(chmod(f->baddelta, 0444), 0);	/* fewer bits: fine */
	assert_int_equal(probe(f), 0);
	assert_int_equal(chmod(f->bad, 0775), 0);
	assert_int_equal(idview_open(f->bad, &v), APPUSER_ERR_UNSAFE);
	assert_int_equal(chmod(f->bad, 0755), 0);
	if (geteuid() == 0) {
		assert_int_equal(chown(f->baddelta, 65534, 65534), 0);
		assert_int_equal(idview_open(f->bad, &v), APPUSER_ERR_UNSAFE);
		assert_int_equal(chown(f->baddelta, 0, 0), 0);
	}
	/* identity.gen writable by others: the view works, unmapped */
	idview_close(f->v);
	f->v = NULL;
	assert_int_equal(chmod(f->gen, 0666), 0);
	assert_int_equal(idview_open(f->td.dir, &v), 0);
	assert_int_equal(maps_count(f->gen), 0);
	assert_int_equal(idview_user_by_name(v, "user4", grab, &g), 0);
	idview_close(v);
	assert_int_equal(chmod(f->gen, 0644), 0);
}

/* A view keeps no descriptor at all (the files are mapped, their
 * descriptors closed at once): nothing to leak across an exec. */
static void
test_cloexec(void **state)
{
	struct fx *f = *state;
	struct got g = { .calls = 0 };
	struct idview *v2 = NULL;
	int n = -1;

	assert_int_equal(idview_user_by_name(f->v, "user4", grab, &g), 0);
	assert_int_equal(idview_refresh(f->v), 0);
	assert_int_equal(idview_open(f->td.dir, &v2), 0);
	assert_int_equal(fx_fds_without_cloexec(f->td.dir, &n), 0);
	assert_int_equal(n, 0);
	assert_true(maps_count(f->idelta) >= 1);
	assert_true(maps_count(f->gen) >= 1);
	idview_close(v2);
}

/* A forked child reads through the parent's view, whose identity.gen
 * mapping it inherited: a change the parent makes after the fork is seen
 * by the child's next refresh. */
static void
test_fork(void **state)
{
	struct fx *f = *state;
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
	delete_user(f, "user7");
	assert_int_equal(write(p[1], "x", 1), 1);
	close(p[1]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(WEXITSTATUS(status), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		fx_test(test_lookup),
		fx_test(test_not_found),
		fx_test(test_enumerate),
		fx_test(test_cursor_pins),
		fx_test(test_shared_and_close),
		fx_test(test_refresh_missing),
		fx_test(test_gen_file),
		fx_test(test_changes_seen),
		fx_test(test_changes_seen_gen_deleted),
		fx_test(test_changes_seen_gen_unusable),
		fx_test(test_changes_by_hand),
		fx_test(test_view_opened_mid_merge),
		fx_test(test_truncated),
		fx_test(test_garbage),
		fx_test(test_bad_header),
		fx_test(test_bad_tables),
		fx_test(test_bad_records),
		fx_test(test_meta_problems),
		fx_test(test_pairs),
		fx_test(test_unsafe_files),
		fx_test(test_missing),
		fx_test(test_unreadable),
		fx_test(test_cloexec),
		fx_test(test_fork),
	};

	if (crypto_init() != 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
