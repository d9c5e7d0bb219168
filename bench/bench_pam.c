/*
 * pam_appuser benchmark (make bench, via bench/bench_pam.sh).
 *
 *  1. One token verification in-process (store_verify on an open store of
 *     1000 users and 10000 tokens), and what the module does per login:
 *     open the store, look the user up, verify, close.  Median of many.
 *  2. The baseline on the same machine: pam_unix's password hash, yescrypt
 *     at the default cost (crypt_gensalt "$y$" count 0), median.
 *  3. Authentications per second through libpam (pam_start_confdir with a
 *     service file in a temporary directory, build/pam_appuser.so) from 2
 *     processes for a few seconds while a third process creates and revokes
 *     tokens of another user; every authentication must succeed.  Then the
 *     same load on the store's read side only, to show what the bookkeeping
 *     write after each login (a tdb transaction, fsync) costs.
 *
 * Usage: bench_pam TOPDIR [SECONDS]
 */
#include <crypt.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <security/pam_appl.h>
#include <sodium.h>

#include "appuser.h"
#include "record.h"
#include "store.h"
#include "token.h"

#define N_USERS		1000
#define N_TOKENS	10	/* per user */
#define N_VERIFY	20000
#define N_LOGIN_PATH	5000
#define N_YESCRYPT	15
#define N_TOUCH		300
#define N_WORKERS	2

static char tmpdir[] = "/tmp/bench_pam.XXXXXX";
static char storedir[PATH_MAX / 2];
static char token[TOKEN_LEN + 1];	/* a valid token of user u0500 */
static char token_id[TOKEN_ID_LEN + 1];

static double
now_sec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double
median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void
die(const char *what, int r)
{
	fprintf(stderr, "bench_pam: %s: %s\n", what, appuser_strerror(r));
	exit(2);
}

static int
new_token(struct store *st, const struct user *u, char *out)
{
	char tok[TOKEN_LEN + 1];
	struct token t;
	int r;

	memset(&t, 0, sizeof(t));
	if ((r = token_generate(tok, t.id, t.verifier)) != 0)
		return r;
	t.user = u->name;
	t.uid = u->uid;
	t.description = "bench";
	t.create_time = (int64_t)time(NULL);
	t.last_ip = "";
	t.last_service = "";
	r = store_token_add(st, &t);
	if (r == 0 && out != NULL) {
		memcpy(out, tok, sizeof(tok));
		memcpy(token_id, t.id, sizeof(t.id));
	}
	sodium_memzero(tok, sizeof(tok));
	return r;
}

/* 1000 users with 10 tokens each, in one transaction. */
static void
fill_store(void)
{
	struct store *st = NULL;
	struct user u = { 0 }, *created = NULL;
	char name[32];
	int i, j, r;

	if ((r = store_open(storedir, STORE_WRITE, &st)) != 0)
		die("store_open", r);
	if ((r = store_begin(st)) != 0)
		die("store_begin", r);
	for (i = 0; i < N_USERS; i++) {
		snprintf(name, sizeof(name), "u%04d", i);
		u.name = name;
		if ((r = store_user_add(st, &u, &created)) != 0)
			die("store_user_add", r);
		for (j = 0; j < N_TOKENS; j++)
			if ((r = new_token(st, created, i == 500 && j == 5 ?
			    token : NULL)) != 0)
				die("store_token_add", r);
		user_free(created);
	}
	u.name = "churn";
	if ((r = store_user_add(st, &u, NULL)) != 0)
		die("store_user_add", r);
	if ((r = store_commit(st)) != 0)
		die("store_commit", r);
	store_close(st);
}

static double
bench_verify(void)
{
	static double t[N_VERIFY];
	struct store *st = NULL;
	double t0;
	int i, r, v;

	if ((r = store_open(storedir, STORE_AUTH, &st)) != 0)
		die("store_open", r);
	for (i = 0; i < N_VERIFY; i++) {
		t0 = now_sec();
		v = store_verify(st, "u0500", token, TOKEN_LEN, "bench", "",
		    (int64_t)time(NULL), NULL);
		t[i] = now_sec() - t0;
		if (v != VERIFY_OK) {
			fprintf(stderr, "bench_pam: verify: %s\n",
			    verify_reason(v));
			exit(2);
		}
	}
	store_close(st);
	return median(t, N_VERIFY) * 1e6;
}

/* The module's whole store work for one login, without libpam. */
static double
bench_login_path(void)
{
	static double t[N_LOGIN_PATH];
	struct store *st;
	struct user *u;
	double t0;
	int i, v;

	for (i = 0; i < N_LOGIN_PATH; i++) {
		t0 = now_sec();
		st = NULL;
		u = NULL;
		if (store_open(storedir, STORE_AUTH, &st) != 0 ||
		    store_user_get(st, "u0500", &u) != 0)
			die("login path", APPUSER_ERR_INTERNAL);
		v = store_verify(st, "u0500", token, TOKEN_LEN, "bench", "",
		    (int64_t)time(NULL), NULL);
		user_free(u);
		store_close(st);
		t[i] = now_sec() - t0;
		if (v != VERIFY_OK)
			die("login path verify", APPUSER_ERR_INTERNAL);
	}
	return median(t, N_LOGIN_PATH) * 1e6;
}

/* The bookkeeping write after a login: one tdb transaction (fsync). */
static double
bench_touch(void)
{
	static double t[N_TOUCH];
	struct store *st;
	double t0;
	int i, r;

	for (i = 0; i < N_TOUCH; i++) {
		st = NULL;
		if (store_open(storedir, STORE_AUTH, &st) != 0 ||
		    store_verify(st, "u0500", token, TOKEN_LEN, "bench", "",
		    (int64_t)time(NULL), NULL) != VERIFY_OK)
			die("touch setup", APPUSER_ERR_INTERNAL);
		t0 = now_sec();
		if ((r = store_token_touch(st, token_id, (int64_t)time(NULL),
		    "192.0.2.10", "bench", 200)) != 0)
			die("store_token_touch", r);
		t[i] = now_sec() - t0;
		store_close(st);
	}
	return median(t, N_TOUCH) * 1e6;
}

static double
bench_yescrypt(void)
{
	double t[N_YESCRYPT], t0;
	char salt[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data cd;
	char hash[CRYPT_OUTPUT_SIZE];
	int i;

	if (crypt_gensalt_rn("$y$", 0, NULL, 0, salt, sizeof(salt)) == NULL) {
		perror("crypt_gensalt_rn");
		exit(2);
	}
	memset(&cd, 0, sizeof(cd));
	if (crypt_r("correct horse battery", salt, &cd) == NULL ||
	    cd.output[0] == '*') {
		fprintf(stderr, "bench_pam: yescrypt unavailable\n");
		exit(2);
	}
	snprintf(hash, sizeof(hash), "%s", cd.output);
	for (i = 0; i < N_YESCRYPT; i++) {
		memset(&cd, 0, sizeof(cd));
		t0 = now_sec();
		crypt_r("correct horse battery", hash, &cd);
		t[i] = now_sec() - t0;
		if (strcmp(cd.output, hash) != 0) {
			fprintf(stderr, "bench_pam: yescrypt mismatch\n");
			exit(2);
		}
	}
	return median(t, N_YESCRYPT) * 1e3;
}

/*
 * gcc -fanalyzer (12) loses the strdup()s stored in r[] and reports a leak:
 * libpam frees every response it is handed.
 */
#ifndef __clang__	/* a gcc-only warning */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wanalyzer-malloc-leak"
#endif
static int
conv_token(int n, const struct pam_message **msg, struct pam_response **resp,
    void *arg)
{
	struct pam_response *r;
	int i;

	if ((r = calloc((size_t)n, sizeof(*r))) == NULL)
		return PAM_BUF_ERR;
	for (i = 0; i < n; i++)
		if (msg[i]->msg_style == PAM_PROMPT_ECHO_OFF &&
		    (r[i].resp = strdup(arg)) == NULL) {
			while (i-- > 0)
				free(r[i].resp);
			free(r);
			return PAM_BUF_ERR;
		}
	*resp = r;
	return PAM_SUCCESS;
}
#ifndef __clang__
#pragma GCC diagnostic pop
#endif

/* The store part of a login without the bookkeeping write. */
static int
verify_only(void)
{
	struct store *st = NULL;
	int v = VERIFY_UNAVAILABLE;

	if (store_open(storedir, STORE_AUTH, &st) == 0)
		v = store_verify(st, "u0500", token, TOKEN_LEN, "bench", "",
		    (int64_t)time(NULL), NULL);
	store_close(st);
	return v == VERIFY_OK ? PAM_SUCCESS : PAM_AUTH_ERR;
}

/*
 * One worker: log in until the deadline (through libpam, or only the
 * store's read side when reads_only); counts in out[0..1].
 */
static void
worker(const char *confdir, double deadline, bool reads_only, long *out)
{
	struct pam_conv conv = { conv_token, token };
	pam_handle_t *ph;
	int rv;

	while (now_sec() < deadline) {
		if (reads_only) {
			out[verify_only() == PAM_SUCCESS ? 0 : 1]++;
			continue;
		}
		ph = NULL;
		if (pam_start_confdir("bench", "u0500", &conv, confdir, &ph) !=
		    PAM_SUCCESS) {
			out[1]++;
			continue;
		}
		pam_set_item(ph, PAM_RHOST, "192.0.2.10");
		rv = pam_authenticate(ph, 0);
		pam_end(ph, rv);
		out[rv == PAM_SUCCESS ? 0 : 1]++;
	}
}

/* Creates a token for "churn" and revokes it, until the deadline. */
static void
churner(double deadline, long *out)
{
	struct store *st;
	struct user *u;
	size_t n;

	while (now_sec() < deadline) {
		st = NULL;
		u = NULL;
		n = 0;
		if (store_open(storedir, STORE_WRITE, &st) == 0 &&
		    store_user_get(st, "churn", &u) == 0 &&
		    new_token(st, u, NULL) == 0 &&
		    store_token_revoke_all(st, "churn", &n) == 0 && n == 1)
			out[0] += 2;
		else
			out[1]++;
		user_free(u);
		store_close(st);
	}
}

static void
bench_throughput(const char *top, double seconds, bool churn,
    bool reads_only)
{
	char confdir[PATH_MAX], path[PATH_MAX + 16];
	long *counts;
	pid_t pids[N_WORKERS + 1];
	double deadline, t0, elapsed;
	long ok = 0, bad = 0;
	int i, status;
	FILE *f;

	snprintf(confdir, sizeof(confdir), "%s/pam.d", tmpdir);
	mkdir(confdir, 0755);
	snprintf(path, sizeof(path), "%s/bench", confdir);
	if ((f = fopen(path, "w")) == NULL) {
		perror(path);
		exit(2);
	}
	fprintf(f, "auth required %s/build/pam_appuser.so store=%s\n", top,
	    storedir);
	fclose(f);
	counts = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (counts == MAP_FAILED) {
		perror("mmap");
		exit(2);
	}
	memset(counts, 0, 4096);
	t0 = now_sec();
	deadline = t0 + seconds;
	for (i = 0; i <= N_WORKERS; i++) {
		if (i == N_WORKERS && !churn) {
			pids[i] = -1;
			break;
		}
		if ((pids[i] = fork()) == 0) {
			if (i < N_WORKERS)
				worker(confdir, deadline, reads_only,
				    counts + 2 * i);
			else
				churner(deadline, counts + 2 * i);
			_exit(0);
		}
	}
	for (i = 0; i <= N_WORKERS; i++)
		if (pids[i] > 0)
			waitpid(pids[i], &status, 0);
	elapsed = now_sec() - t0;
	for (i = 0; i < N_WORKERS; i++) {
		ok += counts[2 * i];
		bad += counts[2 * i + 1];
	}
	printf("%-52s %10.0f /s  (%ld ok, %ld failed, %.1f s)\n",
	    reads_only ? "  same, store reads only (no bookkeeping write)" :
	    churn ? "pam_authenticate, 2 processes, with token churn" :
	    "pam_authenticate, 2 processes, quiet store", ok / elapsed, ok,
	    bad, elapsed);
	if (churn && !reads_only)
		printf("%-52s %10.0f /s  (%ld changes, %ld failed)\n",
		    "  concurrent token create+revoke (3rd process)",
		    counts[2 * N_WORKERS] / elapsed, counts[2 * N_WORKERS],
		    counts[2 * N_WORKERS + 1]);
	if (bad != 0 || ok == 0) {
		printf("FAIL: %ld authentications failed\n", bad);
		exit(1);
	}
}

static int
rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p) == 0 ? 0 : -1;
}

static void
cleanup(void)
{
	nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int
main(int argc, char **argv)
{
	double seconds = 5, verify_us, login_us, touch_us, yes_ms, t0;

	if (argc < 2) {
		fprintf(stderr, "usage: bench_pam TOPDIR [SECONDS]\n");
		return 2;
	}
	if (argc > 2 && (seconds = atof(argv[2])) <= 0)
		seconds = 5;
	if (crypto_init() != 0 || mkdtemp(tmpdir) == NULL) {
		perror("setup");
		return 2;
	}
	atexit(cleanup);
	chmod(tmpdir, 0755);
	snprintf(storedir, sizeof(storedir), "%s/store", tmpdir);
	t0 = now_sec();
	fill_store();
	printf("store: %d users, %d tokens (built in %.1f s)\n", N_USERS,
	    N_USERS * N_TOKENS, now_sec() - t0);
	verify_us = bench_verify();
	login_us = bench_login_path();
	touch_us = bench_touch();
	yes_ms = bench_yescrypt();
	printf("%-52s %10.1f us  (target < 50 us)\n",
	    "store_verify, one token, open store (median)", verify_us);
	printf("%-52s %10.1f us\n",
	    "open + user lookup + verify + close (median)", login_us);
	printf("%-52s %10.1f us\n",
	    "bookkeeping write after a login (tdb commit; median)", touch_us);
	printf("%-52s %10.2f ms\n",
	    "baseline: yescrypt, default cost (pam_unix; median)", yes_ms);
	printf("%-52s %10.0fx\n", "ratio yescrypt / store_verify",
	    yes_ms * 1e3 / verify_us);
	printf("%-52s %10.0fx\n", "ratio yescrypt / whole login path",
	    yes_ms * 1e3 / login_us);
	fflush(stdout);
	bench_throughput(argv[1], seconds / 2, false, false);
	bench_throughput(argv[1], seconds, true, false);
	bench_throughput(argv[1], seconds / 2, true, true);
	return verify_us < 50 ? 0 : 1;
}
