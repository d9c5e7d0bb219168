/*
 * pam_appuser benchmark (make bench, via bench/bench_pam.sh).
 *
 *  1. One token verification in-process (store_verify on an open store of
 *     1000 users and 10000 tokens), and what the module does per login:
 *     open the store, look the user up, verify, close.  Median of many.
 *  2. The baseline on the same machine: pam_unix's password hash, yescrypt
 *     at the default cost (crypt_gensalt "$y$" count 0), median.
 *  3. store_verify of an unknown token id against a known id with a wrong
 *     secret (both well formed, checksums good), 200,000 runs of each,
 *     interleaved: pam_appuser(8) says they cost the same (issue 8, s. 4).
 *  4. Authentications per second through libpam (pam_start_confdir with a
 *     service file in a temporary directory) from 2 processes, in three
 *     phases, each run twice in turn so that a burst of load elsewhere on
 *     the machine hits all three alike:
 *       a. build/bench/pam_appuser_nobook.so: the module built from the
 *          same sources with its one store_token_touch() call made a no-op
 *          (bench/nobook/), i.e. the login without bookkeeping;
 *       b. build/pam_appuser.so, the real module, bookkeeping included
 *          (last use, address, service, and the sliding expiry: the token
 *          has --extend-when-used);
 *       c. the same while a third process creates and revokes tokens of
 *          another user in a loop.
 *     b/a is the price of the bookkeeping and c/b that of concurrent
 *     writers (issue 8, s. 1: goal >= 0.5 each).  The phases use different
 *     client addresses, and the token's last_ip read back after each phase
 *     shows that a wrote nothing and b did write.
 *
 * Every figure with a goal prints one "FIGURE ... MET|NOT MET" line.
 * Usage: bench_pam TOPDIR [SECONDS]   (SECONDS: all of phase 4, default 15)
 */
#include <crypt.h>
#include <errno.h>
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

#include "../tests/store_fixture.h"	/* fx_remove_tree */

#define BENCH_NAME		"bench_pam"
#define BENCH_DIE_STATUS	2
#include "bench.h"

#define N_USERS		1000
#define N_TOKENS	10	/* per user */
#define N_VERIFY	20000
#define N_LOGIN_PATH	5000
#define N_YESCRYPT	15
#define N_TOUCH		300
#define N_WORKERS	2
#define N_PROBE		200000	/* figure 3: runs of each kind */
#define N_PROBE_TOK	1000	/* distinct tokens of each kind */
#define HASHED_LEN	(TOKEN_PREFIX_LEN + TOKEN_SECRET_LEN)	/* crc'd */
#define RHOST_NOBOOK	"192.0.2.99"
#define RHOST_BOOK	"192.0.2.10"
#define RHOST_CHURN	"192.0.2.11"

static char tmpdir[] = "/tmp/bench_pam.XXXXXX";
static char storedir[PATH_MAX / 2];
static char token[TOKEN_LEN + 1];	/* a valid token of user u0500 */
static char token_id[TOKEN_ID_LEN + 1];
static char known[N_USERS][TOKEN_LEN + 1];	/* token 0 of each user */

static int
new_token(struct store *st, const struct user *u, char *out, char *keep)
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
	if (out != NULL) {	/* the login token: sliding expiry, 30 days */
		t.max_age_seconds = 30 * 86400;
		t.expiry_time = t.create_time + t.max_age_seconds;
		t.extend_when_used = true;
	}
	r = store_token_add(st, &t);
	if (r == 0 && out != NULL) {
		memcpy(out, tok, sizeof(tok));
		memcpy(token_id, t.id, sizeof(t.id));
	}
	if (r == 0 && keep != NULL)
		memcpy(keep, tok, sizeof(tok));
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
			    token : NULL, j == 0 ? known[i] : NULL)) != 0)
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
	int i, r;

	if ((r = store_open(storedir, STORE_AUTH, &st)) != 0)
		die("store_open", r);
	for (i = 0; i < N_VERIFY; i++) {
		double t0 = fs_mono_s();
		int v;

		v = store_verify(st, "u0500", token, TOKEN_LEN, "bench", "",
		    (int64_t)time(NULL), NULL);
		t[i] = fs_mono_s() - t0;
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
	int i;

	for (i = 0; i < N_LOGIN_PATH; i++) {
		double t0 = fs_mono_s();
		int v;

		st = NULL;
		u = NULL;
		if (store_open(storedir, STORE_AUTH, &st) != 0 ||
		    store_user_get(st, "u0500", &u) != 0)
			die("login path", APPUSER_ERR_INTERNAL);
		v = store_verify(st, "u0500", token, TOKEN_LEN, "bench", "",
		    (int64_t)time(NULL), NULL);
		user_free(u);
		store_close(st);
		t[i] = fs_mono_s() - t0;
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
	int i;

	for (i = 0; i < N_TOUCH; i++) {
		double t0;
		int r;

		st = NULL;
		if (store_open(storedir, STORE_AUTH, &st) != 0 ||
		    store_verify(st, "u0500", token, TOKEN_LEN, "bench", "",
		    (int64_t)time(NULL), NULL) != VERIFY_OK)
			die("touch setup", APPUSER_ERR_INTERNAL);
		t0 = fs_mono_s();
		if ((r = store_token_touch(st, token_id, (int64_t)time(NULL),
		    "192.0.2.10", "bench", 200)) != 0)
			die("store_token_touch", r);
		t[i] = fs_mono_s() - t0;
		store_close(st);
	}
	return median(t, N_TOUCH) * 1e6;
}

static double
bench_yescrypt(void)
{
	double t[N_YESCRYPT];
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
		double t0;

		memset(&cd, 0, sizeof(cd));
		t0 = fs_mono_s();
		crypt_r("correct horse battery", hash, &cd);
		t[i] = fs_mono_s() - t0;
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

/* One worker: log in until the deadline; counts in out[0..1]. */
static void
worker(const char *confdir, const char *rhost, double deadline, long *out)
{
	struct pam_conv conv = { conv_token, token };
	pam_handle_t *ph;
	int rv;

	while (fs_mono_s() < deadline) {
		ph = NULL;
		if (pam_start_confdir("bench", "u0500", &conv, confdir, &ph) !=
		    PAM_SUCCESS) {
			out[1]++;
			continue;
		}
		pam_set_item(ph, PAM_RHOST, rhost);
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

	while (fs_mono_s() < deadline) {
		st = NULL;
		u = NULL;
		n = 0;
		if (store_open(storedir, STORE_WRITE, &st) == 0 &&
		    store_user_get(st, "churn", &u) == 0 &&
		    new_token(st, u, NULL, NULL) == 0 &&
		    store_token_revoke_all(st, "churn", &n) == 0 && n == 1)
			out[0] += 2;
		else
			out[1]++;
		user_free(u);
		store_close(st);
	}
}

/* A pam.d directory whose service "bench" stacks module alone. */
static void
write_confdir(const char *confdir, const char *module)
{
	char path[PATH_MAX + 16];
	FILE *f;

	mkdir(confdir, 0755);
	snprintf(path, sizeof(path), "%s/bench", confdir);
	if ((f = fopen(path, "w")) == NULL) {
		perror(path);
		exit(2);
	}
	fprintf(f, "auth required %s store=%s\n", module, storedir);
	fclose(f);
}

struct phase {
	const char	*name;
	char		 confdir[PATH_MAX];
	const char	*rhost;
	bool		 churn;
	long		 ok, bad, changes, change_fail;
	double		 elapsed;
};

/* Run phase p for seconds (2 workers, and the churner if p->churn). */
static void
run_phase(struct phase *p, double seconds)
{
	long *counts;
	pid_t pids[N_WORKERS + 1];
	double deadline, t0;
	int i, status;

	counts = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (counts == MAP_FAILED) {
		perror("mmap");
		exit(2);
	}
	memset(counts, 0, 4096);
	t0 = fs_mono_s();
	deadline = t0 + seconds;
	for (i = 0; i <= N_WORKERS; i++) {
		if (i == N_WORKERS && !p->churn) {
			pids[i] = -1;
			break;
		}
		if ((pids[i] = fork()) == 0) {
			if (i < N_WORKERS)
				worker(p->confdir, p->rhost, deadline,
				    counts + 2 * i);
			else
				churner(deadline, counts + 2 * i);
			_exit(0);
		}
	}
	for (i = 0; i <= N_WORKERS; i++)
		if (pids[i] > 0)
			waitpid(pids[i], &status, 0);
	p->elapsed += fs_mono_s() - t0;
	for (i = 0; i < N_WORKERS; i++) {
		p->ok += counts[2 * i];
		p->bad += counts[2 * i + 1];
	}
	p->changes += counts[2 * N_WORKERS];
	p->change_fail += counts[2 * N_WORKERS + 1];
	munmap(counts, 4096);
}

/* The login token's last_ip as the store reports it ("" if unknown). */
static void
last_ip(char *buf, size_t len)
{
	struct store *st = NULL;
	struct token *t = NULL;

	snprintf(buf, len, "?");
	if (store_open(storedir, STORE_READ, &st) == 0 &&
	    store_token_get(st, token_id, &t) == 0)
		snprintf(buf, len, "%s", t->last_ip != NULL ? t->last_ip : "");
	token_free(t);
	store_close(st);
}

static int
throughput(const char *top, double seconds)
{
	struct phase ph[3] = {
		{ .name = "pam_authenticate, no bookkeeping (nobook module)",
		  .rhost = RHOST_NOBOOK },
		{ .name = "pam_authenticate, with bookkeeping, quiet store",
		  .rhost = RHOST_BOOK },
		{ .name = "pam_authenticate, with bookkeeping, token churn",
		  .rhost = RHOST_CHURN, .churn = true },
	};
	char mod[PATH_MAX], ip[64], v[64];
	bool nobook_wrote = false, book_wrote = true;
	double rate[3], r1, r2;
	int round, k;

	for (k = 0; k < 3; k++) {
		snprintf(ph[k].confdir, sizeof(ph[k].confdir), "%s/pam%d.d",
		    tmpdir, k);
		snprintf(mod, sizeof(mod), k == 0 ?
		    "%s/build/bench/pam_appuser_nobook.so" :
		    "%s/build/pam_appuser.so", top);
		write_confdir(ph[k].confdir, mod);
	}
	for (round = 0; round < 2; round++)
		for (k = 0; k < 3; k++) {
			run_phase(&ph[k], seconds / 6);
			last_ip(ip, sizeof(ip));
			if (k == 0 && strcmp(ip, RHOST_NOBOOK) == 0)
				nobook_wrote = true;
			if (k == 1 && strcmp(ip, RHOST_BOOK) != 0)
				book_wrote = false;
		}
	for (k = 0; k < 3; k++) {
		rate[k] = ph[k].ok / ph[k].elapsed;
		printf("%-52s %10.0f /s  (%ld ok, %ld failed, %.1f s)\n",
		    ph[k].name, rate[k], ph[k].ok, ph[k].bad, ph[k].elapsed);
		if (ph[k].bad != 0 || ph[k].ok == 0) {
			printf("FAIL: %ld authentications failed\n", ph[k].bad);
			return 1;
		}
	}
	printf("%-52s %10.0f /s  (%ld changes, %ld failed)\n",
	    "  concurrent token create+revoke (3rd process)",
	    ph[2].changes / ph[2].elapsed, ph[2].changes, ph[2].change_fail);
	if (nobook_wrote)
		printf("WARNING: the nobook module still recorded the use: "
		    "pam_appuser no longer does its bookkeeping through "
		    "store_token_touch(); fix bench/nobook/ and the Makefile "
		    "(figure 1 compares bookkeeping with itself)\n");
	if (!book_wrote)
		printf("note: the token's last_ip did not show the real "
		    "module's writes (the store may report use lazily)\n");
	r1 = rate[1] / rate[0];
	r2 = rate[2] / rate[1];
	snprintf(v, sizeof(v), "%.0f/%.0f=%.2f", rate[1], rate[0], r1);
	goal("pam auth rate, bookkeeping / no bookkeeping", v, ">= 0.5",
	    r1 >= 0.5 && !nobook_wrote);
	snprintf(v, sizeof(v), "%.0f/%.0f=%.2f", rate[2], rate[1], r2);
	goal("pam auth rate, token churn / quiet", v, ">= 0.5", r2 >= 0.5);
	return 0;
}

/* tok with its secret replaced by a random one and its checksum fixed. */
static void
wrong_secret(const char *tok, char out[TOKEN_LEN + 1])
{
	static const char b62[] =
	    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
	char fresh[TOKEN_LEN + 1], id[TOKEN_ID_LEN + 1];
	uint8_t v[TOKEN_VERIFIER_LEN];
	uint32_t crc;
	int i;

	if (token_generate(fresh, id, v) != 0)
		die("token_generate", APPUSER_ERR_INTERNAL);
	memcpy(out, tok, TOKEN_PREFIX_LEN);
	memcpy(out + TOKEN_PREFIX_LEN, fresh + TOKEN_PREFIX_LEN,
	    TOKEN_SECRET_LEN);
	crc = crc32_ieee(out, HASHED_LEN);
	for (i = TOKEN_CRC_LEN - 1; i >= 0; i--) {
		out[HASHED_LEN + i] = b62[crc % 62];
		crc /= 62;
	}
	out[TOKEN_LEN] = '\0';
}

/*
 * Figure 3: median store_verify time of an unknown id and of a known id
 * with a wrong secret, N_PROBE of each, alternating which kind goes first.
 */
/* store_verify of tok for user (a VERIFY_* result), its time in *secs. */
static int
timed_verify(struct store *st, const char *user, const char *tok,
    int64_t now, double *secs)
{
	double t0 = fs_mono_s();
	int v = store_verify(st, user, tok, TOKEN_LEN, "bench", "", now, NULL);

	*secs = fs_mono_s() - t0;
	return v;
}

static void
bench_unknown_vs_wrong(void)
{
	static char unknown[N_PROBE_TOK][TOKEN_LEN + 1];
	static char wrong[N_PROBE_TOK][TOKEN_LEN + 1];
	static double tu[N_PROBE], tw[N_PROBE];
	char user[N_PROBE_TOK][8], id[TOKEN_ID_LEN + 1], v[64];
	uint8_t ver[TOKEN_VERIFIER_LEN];
	struct store *st = NULL;
	int64_t now = (int64_t)time(NULL);
	double mu, mw, ratio;
	int i, k, r, vu, vw;

	for (i = 0; i < N_PROBE_TOK; i++) {
		k = i * N_USERS / N_PROBE_TOK;
		snprintf(user[i], sizeof(user[i]), "u%04d", k);
		if (token_generate(unknown[i], id, ver) != 0)
			die("token_generate", APPUSER_ERR_INTERNAL);
		wrong_secret(known[k], wrong[i]);
	}
	if ((r = store_open(storedir, STORE_AUTH, &st)) != 0)
		die("store_open", r);
	for (i = 0; i < N_PROBE; i++) {
		k = i % N_PROBE_TOK;
		/* in turn first, so that neither kind always finds the
		 * caches as the other left them */
		if (i % 2 == 0) {
			vu = timed_verify(st, user[k], unknown[k], now, &tu[i]);
			vw = timed_verify(st, user[k], wrong[k], now, &tw[i]);
		} else {
			vw = timed_verify(st, user[k], wrong[k], now, &tw[i]);
			vu = timed_verify(st, user[k], unknown[k], now, &tu[i]);
		}
		if (vu != VERIFY_UNKNOWN || vw != VERIFY_MISMATCH) {
			fprintf(stderr, "bench_pam: probe: unknown id gave %s, "
			    "wrong secret gave %s\n", verify_reason(vu),
			    verify_reason(vw));
			exit(2);
		}
	}
	store_close(st);
	sodium_memzero(wrong, sizeof(wrong));
	mu = median(tu, N_PROBE) * 1e6;
	mw = median(tw, N_PROBE) * 1e6;
	ratio = mu > mw ? mu / mw : mw / mu;
	printf("%-52s %10.2f us\n", "store_verify, unknown token id (median)",
	    mu);
	printf("%-52s %10.2f us\n",
	    "store_verify, known id, wrong secret (median)", mw);
	snprintf(v, sizeof(v), "%.2f/%.2fus=%.2f", mu, mw, mu / mw);
	goal("store_verify unknown id / known id wrong secret", v,
	    "0.91-1.10", ratio <= 1.10);
}

static void
cleanup(void)
{
	fx_remove_tree(tmpdir);
}

int
main(int argc, char **argv)
{
	double seconds = 15, verify_us, login_us, touch_us, yes_ms, t0;

	if (argc < 2) {
		fprintf(stderr, "usage: bench_pam TOPDIR [SECONDS]\n");
		return 2;
	}
	if (argc > 2 && (seconds = atof(argv[2])) <= 0)
		seconds = 15;
	if (crypto_init() != 0 || mkdtemp(tmpdir) == NULL) {
		perror("setup");
		return 2;
	}
	atexit(cleanup);
	chmod(tmpdir, 0755);
	snprintf(storedir, sizeof(storedir), "%s/store", tmpdir);
	t0 = fs_mono_s();
	fill_store();
	printf("store: %d users, %d tokens (built in %.1f s)\n", N_USERS,
	    N_USERS * N_TOKENS, fs_mono_s() - t0);
	verify_us = bench_verify();
	login_us = bench_login_path();
	touch_us = bench_touch();
	yes_ms = bench_yescrypt();
	printf("%-52s %10.1f us  (target < 50 us)\n",
	    "store_verify, one token, open store (median)", verify_us);
	printf("%-52s %10.1f us\n",
	    "open + user lookup + verify + close (median)", login_us);
	printf("%-52s %10.1f us\n",
	    "bookkeeping write after a login (store_token_touch)", touch_us);
	printf("%-52s %10.2f ms\n",
	    "baseline: yescrypt, default cost (pam_unix; median)", yes_ms);
	printf("%-52s %10.0fx\n", "ratio yescrypt / store_verify",
	    yes_ms * 1e3 / verify_us);
	printf("%-52s %10.0fx\n", "ratio yescrypt / whole login path",
	    yes_ms * 1e3 / login_us);
	fflush(stdout);
	bench_unknown_vs_wrong();
	fflush(stdout);
	if (throughput(argv[1], seconds) != 0)
		return 1;
	/* a goal not met is a figure to report, not a failed run */
	return verify_us < 50 ? 0 : 1;
}
