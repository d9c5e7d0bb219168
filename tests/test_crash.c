/*
 * Crash consistency.
 *
 * test_crash: a child adds users c0, c1, ... (each its own transaction)
 * and a token for each (another transaction) until it is killed with
 * SIGKILL at a random moment.  After every kill the store must open, pass
 * store_check (after the writer's roll-forward), agree with the snapshot,
 * and hold exactly a prefix of the sequence: users c0..c(k-1), one token
 * each, except that the last may still lack its token.
 * APPUSER_CRASH_SEED=N repeats a run; the seed is printed.
 *
 * test_crash_steps: the writer is killed at EVERY point of a publication
 * in turn (each step appuser_snap_step_hook names in store_snap.c, and
 * before each rename(), which this file interposes), for a delta
 * publication of each kind, a merge of both pairs, and the roll-forward
 * that repairs a crash.  See there for what is checked after each kill.
 */
#include <sys/stat.h>
#include <sys/wait.h>
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "appuser.h"
#include "record.h"
#include "snapfile.h"
#include "store.h"
#include "token.h"

#include "store_fixture.h"

#define ROUNDS		30
#define MAX_SLEEP_US	30000
#define CHILD_LIMIT	100000	/* users; the child never gets near */

static char base[64];
static char dir[128];

static int
count_token(const struct token *t, void *arg)
{
	(void)t;
	(*(size_t *)arg)++;
	return 0;
}

/* ---- the child: writes until killed (no cmocka in here) ---------------- */

static int
child_token(struct store *st, const char *name)
{
	char tok[TOKEN_LEN + 1];
	struct user *u = NULL;
	struct token t;
	int r;

	if ((r = store_user_get(st, name, &u)) != 0)
		return r;
	memset(&t, 0, sizeof(t));
	r = token_generate(tok, t.id, t.verifier);
	t.user = name;
	t.uid = u->uid;
	t.description = "crash";
	t.create_time = time(NULL);
	if (r == 0)
		r = store_token_add(st, &t);
	user_free(u);
	return r;
}

static void
child(void)
{
	struct store *st = NULL;
	struct user in;
	struct meta m;
	char name[24];
	size_t i, k, n;

	if (store_open(dir, STORE_WRITE, &st) != 0 ||
	    store_get_meta(st, &m) != 0)
		_exit(10);
	k = m.n_users;
	/* the previous child may have died between a user and its token */
	snprintf(name, sizeof(name), "c%zu", k - 1);
	n = 0;
	if (k > 0 && (store_token_foreach(st, name, count_token, &n) != 0 ||
	    (n == 0 && child_token(st, name) != 0)))
		_exit(11);
	for (i = k; i < CHILD_LIMIT; i++) {
		snprintf(name, sizeof(name), "c%zu", i);
		memset(&in, 0, sizeof(in));
		in.name = name;
		if (store_user_add(st, &in, NULL) != 0)
			_exit(12);
		if (child_token(st, name) != 0)
			_exit(13);
	}
	_exit(0);
}

/* ---- the parent's checks ---------------------------------------------- */

/* Users c0..c(k-1) in the master and the snapshot, nothing after. */
static void
check_users(struct store *st, struct idview *v, size_t k)
{
	struct user *u = NULL;
	uint32_t suid;
	char name[24];
	size_t i;

	for (i = 0; i < k + 3; i++) {
		snprintf(name, sizeof(name), "c%zu", i);
		if (i >= k) {
			assert_int_equal(store_user_get(st, name, &u),
			    APPUSER_ERR_NOT_FOUND);
			assert_int_equal(idview_user_by_name(v, name, copy_uid,
			    &suid), APPUSER_ERR_NOT_FOUND);
			continue;
		}
		assert_int_equal(store_user_get(st, name, &u), 0);
		assert_int_equal(u->uid, APPUSER_DEFAULT_UID_MIN + 1 + i);
		suid = 0;
		assert_int_equal(idview_user_by_name(v, name, copy_uid, &suid),
		    0);
		assert_int_equal(suid, u->uid);
		assert_int_equal(idview_user_by_uid(v, u->uid, copy_uid, &suid),
		    0);
		user_free(u);
	}
}

/* One token per user, the last user's possibly missing. */
static void
check_tokens(struct store *st, size_t k)
{
	char name[24];
	size_t i, n, total = 0;

	for (i = 0; i < k; i++) {
		snprintf(name, sizeof(name), "c%zu", i);
		n = 0;
		assert_int_equal(store_token_foreach(st, name, count_token, &n),
		    0);
		if (i + 1 < k)
			assert_int_equal(n, 1);
		else
			assert_true(n <= 1);
	}
	assert_int_equal(store_token_foreach(st, NULL, count_token, &total), 0);
	assert_true(total == k || total + 1 == k);
}

/* Before any writer repairs it: is the snapshot behind the master? */
static bool
snapshot_lags(void)
{
	struct store *st = NULL;
	struct idview *v = NULL;
	struct meta m;
	bool lag = true;

	assert_int_equal(store_open(dir, STORE_READ, &st), 0);
	assert_int_equal(store_get_meta(st, &m), 0);
	if (idview_open(dir, &v) == 0) {
		lag = idview_meta(v)->generation != m.generation;
		idview_close(v);
	}
	store_close(st);
	return lag;
}

/* Returns the number of users now in the store. */
static size_t
check_after_kill(size_t prev)
{
	struct store *st = NULL;
	struct idview *v = NULL;
	struct reports rep;
	struct meta m;
	size_t k;
	int r;

	assert_int_equal(store_open(dir, STORE_WRITE, &st), 0);
	memset(&rep, 0, sizeof(rep));
	r = store_check(st, collect, &rep);
	if (r != 0 || rep.n != 0)
		print_message("# store_check: %s", rep.all);
	assert_int_equal(r, 0);
	assert_int_equal(rep.n, 0);	/* store_open already rolled forward */
	assert_int_equal(store_get_meta(st, &m), 0);
	k = (size_t)m.n_users;
	assert_true(k >= prev);
	assert_int_equal(idview_open(dir, &v), 0);
	assert_int_equal(idview_meta(v)->generation, m.generation);
	assert_int_equal(idview_meta(v)->n_users, k);
	check_users(st, v, k);
	check_tokens(st, k);
	idview_close(v);
	store_close(st);
	return k;
}

static void
test_crash(void **state)
{
	struct store *st = NULL;
	unsigned int seed;
	const char *e;
	size_t k = 0;
	pid_t pid;
	int i, lags = 0, rounds = ROUNDS, status;

	(void)state;
	e = getenv("APPUSER_CRASH_SEED");
	seed = e != NULL ? (unsigned int)strtoul(e, NULL, 10) :
	    (unsigned int)time(NULL) ^ (unsigned int)getpid();
	if ((e = getenv("APPUSER_CRASH_ROUNDS")) != NULL)
		rounds = atoi(e);
	print_message("# seed %u\n", seed);
	srand(seed);
	assert_int_equal(store_open(dir, STORE_WRITE, &st), 0);
	store_close(st);
	for (i = 0; i < rounds; i++) {
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0)
			child();
		usleep((useconds_t)(rand() % (MAX_SLEEP_US + 1)));
		kill(pid, SIGKILL);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		/* killed, or it failed on its own (exit code says where) */
		if (!WIFSIGNALED(status))
			fail_msg("child exited with %d", WEXITSTATUS(status));
		lags += snapshot_lags();
		k = check_after_kill(k);
	}
	print_message("# %zu users written in %d rounds; %d found the snapshot "
	    "behind the master (rolled forward)\n", k, rounds, lags);
	assert_true(k > 0);
}

/* ---- a kill at every step --------------------------------------------- */

extern void (*appuser_snap_step_hook)(const char *step);

/* In the child: die at crash point crash_n (1-based); points passed so
 * far in crash_seen, the last one's name in crash_what. */
static int crash_n, crash_seen;

static void
crash_point(const char *what)
{
	(void)what;
	if (crash_n > 0 && ++crash_seen == crash_n)
		_exit(77);
}

/* Every rename() of the library (the publication) is a crash point too:
 * right before it, which for the first one is "the master committed,
 * nothing published". */
int
rename(const char *from, const char *to)
{
	int (*real)(const char *, const char *) =
	    (int (*)(const char *, const char *))dlsym(RTLD_NEXT, "rename");

	crash_point("rename");
	return real(from, to);
}

#define UNIVERSE_MAX	4200

/* Every token a scenario may hold, with its owner's name. */
struct utok {
	char	 str[TOKEN_LEN + 1];
	char	 id[TOKEN_ID_LEN + 1];
	char	 user[24];
};

static struct utok universe[UNIVERSE_MAX];
static int n_universe;

/* Mint a token for user into the universe (and into st if not NULL). */
static struct utok *
mint_u(struct store *st, const char *user)
{
	struct user *u = NULL;
	struct token t;
	struct utok *k;

	assert_true(n_universe < UNIVERSE_MAX);
	k = &universe[n_universe++];
	memset(&t, 0, sizeof(t));
	assert_int_equal(token_generate(k->str, k->id, t.verifier), 0);
	memcpy(t.id, k->id, sizeof(t.id));
	snprintf(k->user, sizeof(k->user), "%s", user);
	if (st != NULL) {
		assert_int_equal(store_user_get(st, user, &u), 0);
		t.user = user;
		t.uid = u->uid;
		t.description = "step";
		t.create_time = time(NULL);
		assert_int_equal(store_token_add(st, &t), 0);
		user_free(u);
	}
	return k;
}

/* ---- digests: a kind's content as one sorted string ------------------- */

struct strs {
	char	**v;
	size_t	 n;
	size_t	 cap;
};

static void
strs_add(struct strs *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
strs_add(struct strs *s, const char *fmt, ...)
{
	va_list ap;
	char *p = NULL;

	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 256;
		char **nv = realloc(s->v, s->cap * sizeof(*s->v));

		if (nv == NULL)
			abort();	/* out of memory in a test */
		s->v = nv;
	}
	va_start(ap, fmt);
	assert_true(vasprintf(&p, fmt, ap) >= 0);
	va_end(ap);
	s->v[s->n++] = p;
}

static int
str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sort, join, free: the digest (malloc'd). */
static char *
strs_digest(struct strs *s)
{
	size_t i, len = 1;
	char *d;

	if (s->n > 0)
		qsort(s->v, s->n, sizeof(*s->v), str_cmp);
	for (i = 0; i < s->n; i++)
		len += strlen(s->v[i]) + 1;
	d = malloc(len);
	assert_non_null(d);
	d[0] = '\0';
	for (i = 0; i < s->n; i++) {
		strcat(d, s->v[i]);
		strcat(d, ";");
		free(s->v[i]);
	}
	free(s->v);
	memset(s, 0, sizeof(*s));
	return d;
}

static void
meta_strs(struct strs *s, const struct meta *m)
{
	size_t i;

	strs_add(s, "!gen=%llu n=%llu group=%s/%u range=%u-%u",
	    (unsigned long long)m->generation, (unsigned long long)m->n_users,
	    m->admin_group, m->admin_gid, m->uid_min, m->uid_max);
	for (i = 0; i < m->n_admins; i++)
		strs_add(s, "!admin=%s", m->admins[i]);
}

static int
user_str(const struct user *u, void *arg)
{
	strs_add(arg, "U%s:%u:%u:%d", u->name, u->uid, u->gid, u->admin);
	return 0;
}

static int
token_str(const struct token *t, void *arg)
{
	strs_add(arg, "T%s:%s:%u:%d:%u", t->id, t->user, t->uid,
	    t->revoke_time != 0, t->usage_slot);
	return 0;
}

/* The master's identity and tokens (a reader's open: no repair). */
static void
master_digests(char **identp, char **tokensp)
{
	struct store *st = NULL;
	struct strs s = { NULL, 0, 0 };
	struct meta m;

	assert_int_equal(store_open(dir, STORE_READ, &st), 0);
	assert_int_equal(store_get_meta(st, &m), 0);
	meta_strs(&s, &m);
	assert_int_equal(store_user_foreach(st, user_str, &s), 0);
	*identp = strs_digest(&s);
	assert_int_equal(store_token_foreach(st, NULL, token_str, &s), 0);
	*tokensp = strs_digest(&s);
	store_close(st);
}

/* What NSS sees: the identity pair through idview. */
static char *
view_identity(void)
{
	struct idview_cursor c = IDVIEW_CURSOR_INIT;
	struct idview *v = NULL;
	struct strs s = { NULL, 0, 0 };
	int r;

	assert_int_equal(idview_open(dir, &v), 0);
	meta_strs(&s, idview_meta(v));
	while ((r = idview_next_user(v, &c, user_str, &s)) == 0)
		;
	assert_int_equal(r, APPUSER_ERR_NOT_FOUND);
	idview_cursor_release(v, &c);
	idview_close(v);
	return strs_digest(&s);
}

/* What PAM verifies against: the token pair, record by record. */
static char *
view_tokens(void)
{
	struct snapset set;
	struct snaprec rec;
	struct strs s = { NULL, 0, 0 };
	struct token t;
	uint64_t pos = 0;
	int r;

	memset(&set, 0, sizeof(set));
	assert_int_equal(snapset_open(dir, SNAP_KIND_TOKENS, geteuid(), 077,
	    &set), 0);
	while ((r = snapset_next(&set, &pos, &rec)) == 0) {
		assert_int_equal(record_decode_token(rec.val, rec.vlen, &t), 0);
		token_str(&t, &s);
		token_clear(&t);
	}
	assert_int_equal(r, APPUSER_ERR_NOT_FOUND);
	snapset_close(&set);
	return strs_digest(&s);
}

struct state {
	char	*m_ident;	/* the master's users and meta */
	char	*m_tokens;	/* the master's tokens */
	char	*v_ident;	/* idview's */
	char	*v_tokens;	/* the token pair's */
};

static void
state_take(struct state *st)
{
	master_digests(&st->m_ident, &st->m_tokens);
	st->v_ident = view_identity();
	st->v_tokens = view_tokens();
}

static void
state_free(struct state *st)
{
	free(st->m_ident);
	free(st->m_tokens);
	free(st->v_ident);
	free(st->v_tokens);
	memset(st, 0, sizeof(*st));
}

/* Is got one of the two (a message naming what if not)? */
static void
one_of(const char *what, const char *got, const char *pre, const char *post,
    const char *scen, int n)
{
	if (strcmp(got, pre) != 0 && strcmp(got, post) != 0)
		fail_msg("%s, kill %d: %s is neither the state before nor the "
		    "one after", scen, n, what);
}

/* ---- scenarios ---------------------------------------------------------- */

struct scenario {
	const char	*name;
	char		 tpl[256];	/* the store before */
	void		(*op)(struct store *st);
	int		 min_points;	/* at least this many crash points */
	struct state	 pre;
	struct state	 post;
	uint32_t	 post_deltas;	/* records in both deltas after */
};

static uint32_t delta_count(int kind);

static struct utok *op_new_token;	/* minted for the scenario */
static const char *op_revoke_user;
static const char *op_revoke_id;

/* A user and its token, and a revocation, in one commit: both pairs
 * change. */
static void
op_add(struct store *st)
{
	struct user in = { .name = "newbie" }, *u = NULL;
	struct token t;

	memset(&t, 0, sizeof(t));
	if (token_parse(op_new_token->str, TOKEN_LEN, t.id, t.verifier) != 0 ||
	    store_begin(st) != 0 || store_user_add(st, &in, &u) != 0)
		_exit(20);
	t.user = "newbie";
	t.uid = u->uid;
	t.description = "step";
	user_free(u);
	if (store_token_add(st, &t) != 0 || store_token_revoke(st,
	    op_revoke_user, op_revoke_id) != 0 || store_commit(st) != 0)
		_exit(21);
}

/* A revocation alone: the token delta only. */
static void
op_revoke(struct store *st)
{
	if (store_token_revoke(st, op_revoke_user, op_revoke_id) != 0)
		_exit(25);
}

/* A user deleted with its token: tombstones in both deltas. */
static void
op_delete(struct store *st)
{
	if (store_user_delete(st, "u2") != 0)
		_exit(26);
}

/* Nothing: store_open's roll-forward is the publication. */
static void
op_open(struct store *st)
{
	(void)st;
}

static void
copy_store(const char *from, const char *to)
{
	char src[PATH_MAX], dst[PATH_MAX];
	struct dirent *de;
	struct stat sb;
	DIR *d;

	fx_remove_tree(to);
	assert_int_equal(mkdir(to, 0755), 0);
	assert_non_null(d = opendir(from));
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(src, sizeof(src), "%s/%s", from, de->d_name);
		snprintf(dst, sizeof(dst), "%s/%s", to, de->d_name);
		assert_int_equal(stat(src, &sb), 0);
		assert_int_equal(fx_copy_file(src, dst, sb.st_mode & 07777), 0);
	}
	closedir(d);
}

/* In a child: open the store as a writer and run op, dying at crash
 * point n (0: never).  Exit 77 if it died there, 0 if it finished. */
static int
run_child(struct scenario *sc, int n)
{
	struct store *st = NULL;
	int status;
	pid_t pid;

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		crash_n = n;
		crash_seen = 0;
		appuser_snap_step_hook = crash_point;
		if (store_open(dir, STORE_WRITE, &st) != 0)
			_exit(10);
		sc->op(st);
		store_close(st);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status) ||
	    (WEXITSTATUS(status) != 0 && WEXITSTATUS(status) != 77))
		fail_msg("%s, kill %d: the writer failed on its own (status "
		    "%#x)", sc->name, n, status);
	return WEXITSTATUS(status);
}

/* What a login says now for each token of the universe (STORE_AUTH). */
static void
check_logins(const char *m_ident, const char *m_tokens, const char *scen,
    int n)
{
	char want_u[64], want_t[64];
	struct store *st = NULL;
	int i, want;

	assert_int_equal(store_open(dir, STORE_AUTH, &st), 0);
	for (i = 0; i < n_universe; i++) {
		int v;

		snprintf(want_u, sizeof(want_u), ";U%s:", universe[i].user);
		snprintf(want_t, sizeof(want_t), "T%s:", universe[i].id);
		if (strstr(m_ident, want_u) == NULL &&
		    strncmp(m_ident, want_u + 1, strlen(want_u + 1)) != 0)
			want = VERIFY_NO_USER;
		else if (strstr(m_tokens, want_t) == NULL)
			want = VERIFY_UNKNOWN;
		else {
			char *p = strstr(m_tokens, want_t);

			p = strchr(p, ':') + 1;		/* user */
			p = strchr(p, ':') + 1;		/* uid */
			p = strchr(p, ':') + 1;		/* revoked */
			want = *p == '1' ? VERIFY_REVOKED : VERIFY_OK;
		}
		v = store_verify(st, universe[i].user, universe[i].str,
		    TOKEN_LEN, "sshd", NULL, time(NULL), NULL);
		if (v != want)
			fail_msg("%s, kill %d: token of %s verifies %d, the "
			    "master says %d", scen, n, universe[i].user, v,
			    want);
	}
	store_close(st);
}

/*
 * After a kill at point n:
 *  - before any writer repairs: the master is the state before or after
 *    (one transaction); each pair, as NSS and PAM read it, is the state
 *    before or after, never a mix within a kind, and never ahead of the
 *    master (nothing is published before the commit);
 *  - a writer opens (rolling forward), store_check finds nothing, no
 *    temporary file is left;
 *  - then both pairs equal the master, and every token of the universe
 *    verifies as the master says it should;
 *  - a view (NSS) opened on what the kill left sees the next change.
 */
static void
check_kill(struct scenario *sc, int n)
{
	struct user in = { .name = "latecomer" };
	struct store *st = NULL;
	struct idview *v = NULL;
	struct state now, fixed;
	struct reports rep;
	struct dirent *de;
	uint32_t uid = 0;
	DIR *d;
	int r;

	state_take(&now);
	assert_int_equal(idview_open(dir, &v), 0);
	one_of("the master's users", now.m_ident, sc->pre.m_ident,
	    sc->post.m_ident, sc->name, n);
	one_of("the master's tokens", now.m_tokens, sc->pre.m_tokens,
	    sc->post.m_tokens, sc->name, n);
	one_of("the identity pair", now.v_ident, sc->pre.v_ident,
	    sc->post.v_ident, sc->name, n);
	one_of("the token pair", now.v_tokens, sc->pre.v_tokens,
	    sc->post.v_tokens, sc->name, n);
	if ((strcmp(sc->pre.m_ident, sc->post.m_ident) != 0 ||
	    strcmp(sc->pre.m_tokens, sc->post.m_tokens) != 0) &&
	    strcmp(now.m_ident, sc->pre.m_ident) == 0 &&
	    strcmp(now.m_tokens, sc->pre.m_tokens) == 0 &&
	    (strcmp(now.v_ident, sc->pre.v_ident) != 0 ||
	    strcmp(now.v_tokens, sc->pre.v_tokens) != 0))
		fail_msg("%s, kill %d: published before the commit", sc->name,
		    n);
	assert_int_equal(store_open(dir, STORE_WRITE, &st), 0);
	memset(&rep, 0, sizeof(rep));
	r = store_check(st, collect, &rep);
	if (r != 0 || rep.n != 0)
		fail_msg("%s, kill %d: store_check: %s", sc->name, n, rep.all);
	store_close(st);
	assert_non_null(d = opendir(dir));
	while ((de = readdir(d)) != NULL)
		if (strncmp(de->d_name, "tmp.", 4) == 0)
			fail_msg("%s, kill %d: %s left", sc->name, n,
			    de->d_name);
	closedir(d);
	state_take(&fixed);
	assert_string_equal(fixed.m_ident, now.m_ident);
	assert_string_equal(fixed.m_tokens, now.m_tokens);
	assert_string_equal(fixed.v_ident, fixed.m_ident);
	assert_string_equal(fixed.v_tokens, fixed.m_tokens);
	check_logins(fixed.m_ident, fixed.m_tokens, sc->name, n);
	assert_int_equal(store_open(dir, STORE_WRITE, &st), 0);
	assert_int_equal(store_user_add(st, &in, NULL), 0);
	store_close(st);
	assert_int_equal(idview_refresh(v), 0);
	if (idview_user_by_name(v, "latecomer", copy_uid, &uid) != 0)
		fail_msg("%s, kill %d: a view opened then misses a later "
		    "change", sc->name, n);
	idview_close(v);
	state_free(&now);
	state_free(&fixed);
}

/* The scenario name (op on the store in sc->tpl): kill its writer at
 * point 1, 2, ... until it finishes unharmed, which must take at least
 * min_points kills.  Returns the number of kills. */
static int
run_scenario(struct scenario *sc, const char *name,
    void (*op)(struct store *st), int min_points)
{
	int n;

	sc->name = name;
	sc->op = op;
	sc->min_points = min_points;
	copy_store(sc->tpl, dir);
	state_take(&sc->pre);
	assert_int_equal(run_child(sc, 0), 0);		/* unharmed */
	state_take(&sc->post);
	sc->post_deltas = delta_count(SNAP_KIND_IDENTITY) +
	    delta_count(SNAP_KIND_TOKENS);
	assert_true(strcmp(sc->pre.v_ident, sc->post.v_ident) != 0 ||
	    strcmp(sc->pre.v_tokens, sc->post.v_tokens) != 0);
	for (n = 1; ; n++) {
		int r;

		copy_store(sc->tpl, dir);
		r = run_child(sc, n);
		check_kill(sc, n);
		if (r == 0)
			break;
	}
	print_message("# %s: killed at each of %d points\n", sc->name, n - 1);
	assert_true(n - 1 >= sc->min_points);
	state_free(&sc->pre);
	state_free(&sc->post);
	return n - 1;
}

/* Users u0..u(users-1) and tokens spread over them, in one commit. */
static void
fill(struct store *st, int users, int tokens)
{
	struct user in;
	char name[24];
	int i;

	assert_int_equal(store_begin(st), 0);
	for (i = 0; i < users; i++) {
		snprintf(name, sizeof(name), "u%d", i);
		memset(&in, 0, sizeof(in));
		in.name = name;
		assert_int_equal(store_user_add(st, &in, NULL), 0);
	}
	for (i = 0; i < tokens; i++) {
		snprintf(name, sizeof(name), "u%d", i % users);
		mint_u(st, name);
	}
	assert_int_equal(store_commit(st), 0);
}

/* A template store: users u0.., tokens, u3's token revoked, u1 an admin
 * if admin. */
static void
make_template(const char *tpl, int users, int tokens, bool admin)
{
	struct store *st = NULL;

	fx_remove_tree(dir);
	assert_int_equal(store_open(dir, STORE_WRITE, &st), 0);
	fill(st, users, tokens);
	if (admin)
		assert_int_equal(store_user_set_admin(st, "u1", true), 0);
	assert_int_equal(store_token_revoke(st, "u3", universe[n_universe -
	    tokens + 3].id), 0);
	store_close(st);
	copy_store(dir, tpl);
}

static uint32_t
delta_count(int kind)
{
	char path[PATH_MAX];
	struct snapr *r = NULL;
	uint32_t n;

	snprintf(path, sizeof(path), "%s/%s", dir, snapset_delta_name(kind));
	assert_int_equal(snapr_open(path, kind, geteuid(), 0, &r), 0);
	n = snapr_count(r);
	snapr_close(r);
	return n;
}

static void
test_crash_steps(void **state)
{
	struct scenario sc;
	struct utok *first;
	int total = 0;

	(void)state;
	n_universe = 0;
	/* a small store: deltas */
	memset(&sc, 0, sizeof(sc));
	snprintf(sc.tpl, sizeof(sc.tpl), "%s/small", base);
	make_template(sc.tpl, 6, 6, true);
	first = &universe[0];
	op_new_token = mint_u(NULL, "newbie");
	op_revoke_user = first[1].user;
	op_revoke_id = first[1].id;

	total += run_scenario(&sc, "user + token + revoke (two deltas)",
	    op_add, 4);
	total += run_scenario(&sc, "revoke (token delta)", op_revoke, 3);
	total += run_scenario(&sc, "delete a user with a token (tombstones)",
	    op_delete, 4);

	/* both pairs one publication behind the master, as a writer killed
	 * between its commit and its renames leaves them: the repair itself
	 * is killed at each of its steps */
	{
		char lag[256];

		snprintf(lag, sizeof(lag), "%s/lag", base);
		copy_store(sc.tpl, dir);
		crash_n = 0;
		{
			struct store *st = NULL;

			assert_int_equal(store_open(dir, STORE_WRITE, &st), 0);
			op_add(st);
			store_close(st);
		}
		/* the pairs of before over the master of after */
		{
			static const char *pairs[] = { APPUSER_IDENTITY_FILE,
			    APPUSER_IDENTITY_DELTA, APPUSER_TOKENS_FILE,
			    APPUSER_TOKENS_DELTA };
			char from[PATH_MAX], to[PATH_MAX];
			size_t i;

			for (i = 0; i < 4; i++) {
				snprintf(from, sizeof(from), "%s/%s", sc.tpl,
				    pairs[i]);
				snprintf(to, sizeof(to), "%s/%s", dir, pairs[i]);
				assert_int_equal(fx_copy_file(from, to,
				    strstr(pairs[i], "tokens") ? 0600 : 0644),
				    0);
			}
		}
		copy_store(dir, lag);
		snprintf(sc.tpl, sizeof(sc.tpl), "%s", lag);
		total += run_scenario(&sc, "roll-forward of both pairs",
		    op_open, 7);
	}

	/* a store whose deltas are just under their bound (4096 records:
	 * 1 + 2 * 2047 identity records, 4095 tokens): the next change of
	 * three identity keys and two tokens merges both pairs */
	snprintf(sc.tpl, sizeof(sc.tpl), "%s/big", base);
	make_template(sc.tpl, 2047, 4095, false);
	first = &universe[n_universe - 4095];
	op_revoke_user = first[5].user;
	op_revoke_id = first[5].id;
	total += run_scenario(&sc, "merge of both pairs", op_add, 10);
	assert_int_equal(sc.post_deltas, 0);	/* it was one */
	print_message("# %d kills in all\n", total);
}

static int
setup(void **state)
{
	(void)state;
	return fx_make_base(base, sizeof(base), "/tmp/appuser-crash-XXXXXX",
	    dir, sizeof(dir));
}

static int
teardown(void **state)
{
	(void)state;
	fx_remove_tree(base);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_crash, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crash_steps, setup,
		    teardown),
	};

	if (crypto_init() != 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
