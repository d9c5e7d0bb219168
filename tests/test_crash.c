/*
 * Crash consistency: a child adds users c0, c1, ... (each its own
 * transaction) and a token for each (another transaction) until it is
 * killed with SIGKILL at a random moment.  After every kill the store must
 * open, pass store_check (after the writer's roll-forward), agree with the
 * snapshot, and hold exactly a prefix of the sequence: users c0..c(k-1),
 * one token each, except that the last may still lack its token.
 *
 * APPUSER_CRASH_SEED=N repeats a run; the seed is printed.
 */
#include <sys/stat.h>
#include <sys/wait.h>
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
	};

	if (crypto_init() != 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
