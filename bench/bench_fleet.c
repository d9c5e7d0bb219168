/*
 * Revocation timer for bench/bench_fleet.sh (make bench).
 *
 *   bench_fleet TOKENFILE USER STOREDIR... -- COMMAND [ARGS...]
 *   bench_fleet TOKENFILE USER STOREDIR...
 *
 * Checks that every store admits the token in TOKENFILE for USER, then
 * runs COMMAND (the revocation: `appuser --fleet F token revoke ...`, or a
 * local `appuser --store D token revoke ...` for the baseline) and polls
 * every store the way pam_appuser does for each login (open the store,
 * store_verify, close) every half millisecond, until each refuses the
 * token.  Prints one line, in milliseconds from COMMAND's start:
 *
 *   EXIT LAST H1 H2 ...
 *
 * EXIT: when COMMAND exited (its change is committed by then); LAST: when
 * the last store refused; then each store's time.  Exit status 0; 3 if a
 * store did not admit the token at the start; 4 if COMMAND failed; 5 if a
 * store still admitted it after 10 s.  Without a COMMAND: exit 0 if every
 * store admits the token, else 3.
 */
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "appuser.h"
#include "store.h"
#include "token.h"

#include "bench.h"

#define MAX_STORES	64
#define TIMEOUT_MS	10000.0

static double
now_ms(void)
{
	return fs_mono_s() * 1e3;
}

/* Does the store in dir admit tok for user right now (as PAM would)? */
static bool
admits(const char *dir, const char *user, const char *tok)
{
	struct store *st = NULL;
	int r;

	if (store_open(dir, STORE_READ, &st) != 0)
		return true;	/* cannot tell yet: keep polling */
	r = store_verify(st, user, tok, strlen(tok), "sshd", NULL,
	    (int64_t)time(NULL), NULL);
	store_close(st);
	return r == VERIFY_OK;
}

static int
read_token(const char *path, char *tok, size_t len)
{
	FILE *f = fopen(path, "re");
	size_t n;

	if (f == NULL || fgets(tok, (int)len, f) == NULL) {
		if (f != NULL)
			fclose(f);
		return -1;
	}
	fclose(f);
	n = strcspn(tok, "\r\n");
	tok[n] = '\0';
	return n == TOKEN_LEN ? 0 : -1;
}

static pid_t
spawn(char **argv)
{
	pid_t pid = fork();

	if (pid == 0) {
		int fd;

		if ((fd = open("/dev/null", O_RDWR)) != -1) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execvp(argv[0], argv);
		_exit(127);
	}
	return pid;
}

int
main(int argc, char **argv)
{
	char tok[TOKEN_LEN + 2];
	const char *stores[MAX_STORES], *user;
	double t0, t_exit = -1, t_host[MAX_STORES], last = 0;
	size_t n = 0, left, i;
	pid_t pid;
	int a, status, r = 0;

	for (a = 3; a < argc && strcmp(argv[a], "--") != 0; a++)
		if (n < MAX_STORES)
			stores[n++] = argv[a];
	if (argc < 4 || a == argc - 1 || n == 0 || crypto_init() != 0 ||
	    read_token(argv[1], tok, sizeof(tok)) != 0) {
		fprintf(stderr, "usage: bench_fleet TOKENFILE USER STOREDIR... "
		    "-- COMMAND [ARGS...]\n");
		return 2;
	}
	user = argv[2];
	for (i = 0; i < n; i++)
		if (!admits(stores[i], user, tok)) {
			fprintf(stderr, "bench_fleet: %s does not admit the "
			    "token yet\n", stores[i]);
			return 3;
		}
	if (a >= argc)
		return 0;
	t0 = now_ms();
	if ((pid = spawn(argv + a + 1)) == -1)
		return 4;
	for (i = 0; i < n; i++)
		t_host[i] = -1;
	for (left = n; left > 0 || t_exit < 0;) {
		if (t_exit < 0 && waitpid(pid, &status, WNOHANG) == pid) {
			t_exit = now_ms() - t0;
			if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
				r = 4;
		}
		for (i = 0; i < n; i++)
			if (t_host[i] < 0 && !admits(stores[i], user, tok)) {
				t_host[i] = now_ms() - t0;
				if (t_host[i] > last)
					last = t_host[i];
				left--;
			}
		if (r != 0 || now_ms() - t0 > TIMEOUT_MS)
			break;
		usleep(500);
	}
	sodium_memzero(tok, sizeof(tok));
	if (r == 0 && left > 0)
		r = 5;
	printf("%.2f %.2f", t_exit, last);
	for (i = 0; i < n; i++)
		printf(" %.2f", t_host[i]);
	printf("\n");
	if (t_exit < 0)
		waitpid(pid, &status, 0);
	return r;
}
