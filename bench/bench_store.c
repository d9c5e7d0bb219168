/*
 * Store benchmark: bulk import in one transaction, its commit (snapshot
 * rebuild included), a single change on a large store (copy + delta),
 * snapshot lookups and enumeration (what the NSS module does), token
 * verification (what the PAM module does).
 *
 *   bench_store [N_USERS] [DIR]     (default 1000000, a fresh mkdtemp dir)
 */
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "appuser.h"
#include "record.h"
#include "store.h"
#include "token.h"

#include "../tests/store_fixture.h"

#define N_TOKENS	1000
#define N_LOOKUPS	1000000

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
die(const char *what, int r)
{
	fprintf(stderr, "bench_store: %s: %s\n", what, appuser_strerror(r));
	exit(1);
}

static void
row(const char *what, double secs, double n)
{
	if (n > 0)
		printf("%-44s %10.3f s %12.0f /s\n", what, secs, n / secs);
	else
		printf("%-44s %10.3f s\n", what, secs);
}

static void
import(struct store *st, long n)
{
	struct user in;
	char name[32];
	double t0, t1, t2;
	long i;
	int r;

	t0 = now_s();
	if ((r = store_begin(st)) != 0)
		die("begin", r);
	for (i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "u%07ld", i);
		memset(&in, 0, sizeof(in));
		in.name = name;
		if ((r = store_user_add(st, &in, NULL)) != 0)
			die("user add", r);
	}
	t1 = now_s();
	if ((r = store_commit(st)) != 0)
		die("commit", r);
	t2 = now_s();
	row("import: store_user_add x N (master, in txn)", t1 - t0, n);
	row("import: store_commit (snapshot + master)", t2 - t1, 0);
	row("import: total", t2 - t0, n);
}

static void
one_change(struct store *st)
{
	struct user in = { .name = "one-more" };
	double t0;
	int r;

	t0 = now_s();
	if ((r = store_user_add(st, &in, NULL)) != 0)
		die("one add", r);
	row("one user add on the big store (copy+delta)", now_s() - t0, 0);
	t0 = now_s();
	if ((r = store_user_delete(st, "one-more")) != 0)
		die("one delete", r);
	row("one user delete on the big store", now_s() - t0, 0);
}

static int
nop(const struct user *u, void *arg)
{
	(void)u;
	(*(long *)arg)++;
	return 0;
}

static void
lookups(const char *dir, long n)
{
	struct idview_cursor c = IDVIEW_CURSOR_INIT;
	struct idview *v = NULL;
	char name[32];
	long i, hits = 0;
	double t0;
	int r;

	if ((r = idview_open(dir, &v)) != 0)
		die("idview_open", r);
	srand(1);
	t0 = now_s();
	for (i = 0; i < N_LOOKUPS; i++) {
		snprintf(name, sizeof(name), "u%07ld", (long)rand() % n);
		idview_user_by_name(v, name, nop, &hits);
	}
	row("idview_user_by_name (random)", now_s() - t0, N_LOOKUPS);
	t0 = now_s();
	for (i = 0; i < N_LOOKUPS; i++)
		idview_user_by_uid(v, APPUSER_DEFAULT_UID_MIN + 1 +
		    (uint32_t)(rand() % n), nop, &hits);
	row("idview_user_by_uid (random)", now_s() - t0, N_LOOKUPS);
	t0 = now_s();
	hits = 0;
	while (idview_next_user(v, &c, nop, &hits) == 0)
		;
	idview_cursor_release(v, &c);
	row("idview_next_user: full enumeration", now_s() - t0, hits);
	idview_close(v);
}

static void
verify(const char *dir, struct store *st, long n)
{
	static char toks[N_TOKENS][TOKEN_LEN + 1];
	static char names[N_TOKENS][32];
	struct user *u = NULL;
	struct token t;
	double t0;
	int i, r;

	for (i = 0; i < N_TOKENS; i++) {
		snprintf(names[i], sizeof(names[i]), "u%07ld", (long)i * n /
		    N_TOKENS);
		if ((r = store_user_get(st, names[i], &u)) != 0)
			die("user get", r);
		memset(&t, 0, sizeof(t));
		token_generate(toks[i], t.id, t.verifier);
		t.user = names[i];
		t.uid = u->uid;
		user_free(u);
		if ((r = store_token_add(st, &t)) != 0)
			die("token add", r);
	}
	store_close(st);
	if ((r = store_open(dir, STORE_AUTH, &st)) != 0)
		die("open auth", r);
	t0 = now_s();
	for (i = 0; i < N_TOKENS; i++)
		if (store_verify(st, names[i], toks[i], TOKEN_LEN, "sshd",
		    NULL, time(NULL), NULL) != VERIFY_OK)
			die("verify", APPUSER_ERR_DENIED);
	row("store_verify (STORE_AUTH handle)", now_s() - t0, N_TOKENS);
	t0 = now_s();
	for (i = 0; i < 100; i++) {
		char id[TOKEN_ID_LEN + 1];

		memcpy(id, toks[i] + TOKEN_MAGIC_LEN, TOKEN_ID_LEN);
		id[TOKEN_ID_LEN] = '\0';
		store_verify(st, names[i], toks[i], TOKEN_LEN, "sshd", NULL,
		    time(NULL), NULL);
		if ((r = store_token_touch(st, id, time(NULL), NULL, "sshd",
		    1000)) != 0)
			die("touch", r);
	}
	row("store_verify + store_token_touch", now_s() - t0, 100);
	sodium_memzero(toks, sizeof(toks));
	store_close(st);
}

int
main(int argc, char **argv)
{
	char base[32], dir[64];
	struct store *st = NULL;
	struct stat sb;
	char path[128];
	long n = argc > 1 ? atol(argv[1]) : 1000000;
	int r;

	if (n < N_TOKENS || crypto_init() != 0)
		die("arguments", APPUSER_ERR_INVALID);
	if (argc > 2)
		snprintf(dir, sizeof(dir), "%s", argv[2]);
	else if (fx_make_base(base, sizeof(base), "/tmp/appuser-bench-XXXXXX",
	    dir, sizeof(dir)) != 0)
		die("mkdtemp", APPUSER_ERR_SYSTEM);
	printf("store benchmark, %ld users, %s\n", n, dir);
	if ((r = store_open(dir, STORE_WRITE, &st)) != 0)
		die("open", r);
	import(st, n);
	one_change(st);
	snprintf(path, sizeof(path), "%s/" APPUSER_MASTER_FILE, dir);
	if (stat(path, &sb) == 0)
		printf("%-44s %10.1f MB\n", "store.tdb size", sb.st_size / 1e6);
	snprintf(path, sizeof(path), "%s/" APPUSER_IDENTITY_FILE, dir);
	if (stat(path, &sb) == 0)
		printf("%-44s %10.1f MB\n", "identity.tdb size", sb.st_size / 1e6);
	lookups(dir, n);
	verify(dir, st, n);
	if (argc <= 2)
		fx_remove_tree(base);
	return 0;
}
