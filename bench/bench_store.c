/*
 * Store benchmark: bulk import of N users and N tokens (one each) in one
 * transaction, its commit (snapshot rebuild included), a single change on
 * the large store, snapshot lookups and enumeration (what the NSS module
 * does), token verification (what the PAM module does), the store's size
 * on disk, and then the real `appuser` binary on the large store: median
 * latency of `token revoke`, `token create`, `create` and `delete` (issue
 * 8, s. 1: <= 50 ms each at 1M users and 1M tokens).  The same commands
 * on a store of BASE_USERS users and tokens, run in the same process just
 * before, are the baseline of each ratio (what a command costs when the
 * store's size does not matter: process start, NSS checks, fsync).
 *
 * Writes only through the public API (store.h) and the CLI.
 *
 *   bench_store N_USERS [DIR [APPUSER]]
 *     DIR      where the store goes (must not exist; kept afterwards so
 *              that bench_store.sh can point bench_nss at it); default a
 *              fresh mkdtemp directory, removed at the end
 *     APPUSER  the CLI to time (default build/appuser); "-" skips it
 */
#include <sys/stat.h>
#include <sys/wait.h>
#include <dirent.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdbool.h>
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

#define BENCH_NAME	"bench_store"
#include "bench.h"

#define N_TOKENS	1000	/* sampled for store_verify */
#define N_LOOKUPS	1000000
#define N_CLI		11	/* runs of each command, median */
#define BASE_USERS	1000
#define CLI_GOAL_MS	50.0

extern char **environ;

static void
row(const char *what, double secs, double n)
{
	if (n > 0)
		printf("%-44s %10.3f s %12.0f /s\n", what, secs, n / secs);
	else
		printf("%-44s %10.3f s\n", what, secs);
}

/* Sampled tokens: every (n / N_TOKENS)th user's, for verify and revoke. */
static char toks[N_TOKENS][TOKEN_LEN + 1];
static char names[N_TOKENS][32];

/* n users u0000000... with one token each, in one transaction. */
static void
import(const char *dir, long n, bool verbose)
{
	struct store *st = NULL;
	struct user in, *u = NULL;
	struct token t;
	char name[32], tok[TOKEN_LEN + 1];
	long i, step = n / N_TOKENS;
	double t0, t1, t2;
	int r;

	if ((r = store_open(dir, STORE_WRITE, &st)) != 0)
		die("open", r);
	t0 = fs_mono_s();
	if ((r = store_begin(st)) != 0)
		die("begin", r);
	for (i = 0; i < n; i++) {
		int k;

		snprintf(name, sizeof(name), "u%07ld", i);
		memset(&in, 0, sizeof(in));
		in.name = name;
		if ((r = store_user_add(st, &in, &u)) != 0)
			die("user add", r);
		memset(&t, 0, sizeof(t));
		if ((r = token_generate(tok, t.id, t.verifier)) != 0)
			die("token_generate", r);
		t.user = name;
		t.uid = u->uid;
		t.description = "bench";
		t.create_time = (int64_t)time(NULL);
		t.last_ip = "";
		t.last_service = "";
		user_free(u);
		u = NULL;
		if ((r = store_token_add(st, &t)) != 0)
			die("token add", r);
		if (i % step == 0 && (k = (int)(i / step)) < N_TOKENS) {
			memcpy(toks[k], tok, sizeof(tok));
			snprintf(names[k], sizeof(names[k]), "%s", name);
		}
	}
	sodium_memzero(tok, sizeof(tok));
	t1 = fs_mono_s();
	if ((r = store_commit(st)) != 0)
		die("commit", r);
	t2 = fs_mono_s();
	store_close(st);
	if (!verbose)
		return;
	row("import: user+token add x N (in one txn)", t1 - t0, n);
	row("import: store_commit (snapshot + master)", t2 - t1, 0);
	row("import: total", t2 - t0, n);
}

static void
one_change(const char *dir)
{
	struct user in = { .name = "one-more" };
	struct store *st = NULL;
	double t0;
	int r;

	if ((r = store_open(dir, STORE_WRITE, &st)) != 0)
		die("open", r);
	t0 = fs_mono_s();
	if ((r = store_user_add(st, &in, NULL)) != 0)
		die("one add", r);
	row("one store_user_add on the big store", fs_mono_s() - t0, 0);
	t0 = fs_mono_s();
	if ((r = store_user_delete(st, "one-more")) != 0)
		die("one delete", r);
	row("one store_user_delete on the big store", fs_mono_s() - t0, 0);
	store_close(st);
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
	t0 = fs_mono_s();
	for (i = 0; i < N_LOOKUPS; i++) {
		snprintf(name, sizeof(name), "u%07ld", (long)rand() % n);
		idview_user_by_name(v, name, nop, &hits);
	}
	row("idview_user_by_name (random)", fs_mono_s() - t0, N_LOOKUPS);
	t0 = fs_mono_s();
	for (i = 0; i < N_LOOKUPS; i++)
		idview_user_by_uid(v, APPUSER_DEFAULT_UID_MIN + 1 +
		    (uint32_t)(rand() % n), nop, &hits);
	row("idview_user_by_uid (random)", fs_mono_s() - t0, N_LOOKUPS);
	t0 = fs_mono_s();
	hits = 0;
	while (idview_next_user(v, &c, nop, &hits) == 0)
		;
	idview_cursor_release(v, &c);
	row("idview_next_user: full enumeration", fs_mono_s() - t0, hits);
	idview_close(v);
}

static void
verify(const char *dir)
{
	struct store *st = NULL;
	double t0;
	int i, r;

	if ((r = store_open(dir, STORE_AUTH, &st)) != 0)
		die("open auth", r);
	t0 = fs_mono_s();
	for (i = 0; i < N_TOKENS; i++)
		if (store_verify(st, names[i], toks[i], TOKEN_LEN, "sshd",
		    NULL, time(NULL), NULL) != VERIFY_OK)
			die("verify", APPUSER_ERR_DENIED);
	row("store_verify (STORE_AUTH handle)", fs_mono_s() - t0, N_TOKENS);
	store_close(st);
}

/* Bytes the store's files take on disk (blocks) and their sizes. */
static void
disk_usage(const char *dir, double *diskp, double *sizep, bool verbose)
{
	char path[PATH_MAX];
	struct dirent *e;
	struct stat sb;
	DIR *d;

	*diskp = *sizep = 0;
	if ((d = opendir(dir)) == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >=
		    (int)sizeof(path) || lstat(path, &sb) != 0 ||
		    !S_ISREG(sb.st_mode))
			continue;
		*diskp += (double)sb.st_blocks * 512;
		*sizep += (double)sb.st_size;
		if (verbose)
			printf("  %-42s %10.1f MB\n", e->d_name, sb.st_size / 1e6);
	}
	closedir(d);
}

/* Run the CLI with args (stdout/stderr to /dev/null); seconds, or < 0. */
static double
run_cli(const char *cli, const char *dir, const char *a1, const char *a2,
    const char *a3, const char *a4)
{
	const char *argv[] = { cli, "--store", dir, a1, a2, a3, a4, NULL };
	posix_spawn_file_actions_t fa;
	double t0, t;
	pid_t pid;
	int status;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	t0 = fs_mono_s();
	if (posix_spawn(&pid, cli, &fa, NULL, (char *const *)argv,
	    environ) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		return -1;
	}
	if (waitpid(pid, &status, 0) != pid)
		status = -1;
	t = fs_mono_s() - t0;
	posix_spawn_file_actions_destroy(&fa);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "bench_store: %s --store %s %s %s %s %s: "
		    "failed (status %d)\n", cli, dir, a1, a2 ? a2 : "",
		    a3 ? a3 : "", a4 ? a4 : "", status);
		return -1;
	}
	return t;
}

#define OP_REVOKE	0
#define OP_TCREATE	1
#define OP_CREATE	2
#define OP_DELETE	3
static const char *const op_name[] = {
	"token revoke", "token create", "create", "delete"
};

/* Median ms of each command (N_CLI runs) on the store in dir. */
static void
cli_latencies(const char *cli, const char *dir, double ms[4])
{
	double t[4][N_CLI];
	char name[32], prefix[TOKEN_PREFIX_LEN + 1];
	int i, k;

	for (i = 0; i < N_CLI; i++) {
		k = (i * 97) % N_TOKENS;	/* spread over the store */
		memcpy(prefix, toks[k], TOKEN_PREFIX_LEN);
		prefix[TOKEN_PREFIX_LEN] = '\0';
		t[OP_REVOKE][i] = run_cli(cli, dir, "token", "revoke",
		    names[k], prefix);
		t[OP_TCREATE][i] = run_cli(cli, dir, "token", "create",
		    names[(k + 1) % N_TOKENS], NULL);
		snprintf(name, sizeof(name), "benchnew%d", i);
		t[OP_CREATE][i] = run_cli(cli, dir, "create", name, NULL,
		    NULL);
	}
	for (i = 0; i < N_CLI; i++) {
		snprintf(name, sizeof(name), "benchnew%d", i);
		t[OP_DELETE][i] = run_cli(cli, dir, "delete", name, NULL,
		    NULL);
	}
	for (k = 0; k < 4; k++) {
		for (i = 0; i < N_CLI; i++)
			if (t[k][i] < 0)
				die(op_name[k], APPUSER_ERR_SYSTEM);
		ms[k] = median(t[k], N_CLI) * 1e3;
	}
}

int
main(int argc, char **argv)
{
	char base[64], dir[PATH_MAX], sdir[PATH_MAX];
	const char *cli = argc > 3 ? argv[3] : "build/appuser";
	double disk, size, small[4];
	long n = argc > 1 ? atol(argv[1]) : 1000000;
	bool own_dir = argc <= 2;

	if (n < N_TOKENS || crypto_init() != 0)
		die("arguments (N_USERS >= 1000)", APPUSER_ERR_INVALID);
	if (fx_make_base(base, sizeof(base), "/tmp/appuser-bench-XXXXXX",
	    sdir, sizeof(sdir)) != 0)
		die("mkdtemp", APPUSER_ERR_SYSTEM);
	if (own_dir)
		snprintf(dir, sizeof(dir), "%s/big", base);
	else
		snprintf(dir, sizeof(dir), "%s", argv[2]);
	if (strcmp(cli, "-") != 0 && access(cli, X_OK) != 0) {
		perror(cli);
		return 2;
	}

	/* the baseline: the same commands on a store of BASE_USERS */
	if (strcmp(cli, "-") != 0) {
		import(sdir, BASE_USERS, false);
		cli_latencies(cli, sdir, small);
	}

	printf("store benchmark, %ld users and %ld tokens, %s\n", n, n, dir);
	import(dir, n, true);
	one_change(dir);
	disk_usage(dir, &disk, &size, true);
	printf("%-44s %10.1f MB (%.1f MB on disk)\n", "store size, all files",
	    size / 1e6, disk / 1e6);
	lookups(dir, n);
	verify(dir);
	if (strcmp(cli, "-") != 0) {
		char what[96], v[64];
		double big[4];
		int k;

		cli_latencies(cli, dir, big);
		for (k = 0; k < 4; k++) {
			printf("%-44s %10.1f ms (%d users: %.1f ms, %.1fx)\n",
			    op_name[k], big[k], BASE_USERS, small[k],
			    big[k] / small[k]);
		}
		for (k = 0; k < 4; k++) {
			snprintf(what, sizeof(what), "appuser %s, median, "
			    "%ldk users+tokens", op_name[k], n / 1000);
			snprintf(v, sizeof(v), "%.1f ms", big[k]);
			goal(what, v, "<= 50 ms", big[k] <= CLI_GOAL_MS);
		}
		disk_usage(dir, &disk, &size, false);
		snprintf(what, sizeof(what), "store size on disk, %ldk users+"
		    "tokens (after the commands)", n / 1000);
		snprintf(v, sizeof(v), "%.1f MB", disk / 1e6);
		printf("FIGURE %-56s %16s  (no goal)\n", what, v);
	}
	sodium_memzero(toks, sizeof(toks));
	fx_remove_tree(base);	/* the baseline's store, and dir if ours */
	return 0;
}
