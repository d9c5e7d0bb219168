/*
 * Figures for bench/bench_nss.sh, which runs this program in several roles
 * (and the glibc ones inside a private mount namespace) and prints the table.
 *
 *   bench_nss build DIR N        a store of N users (u0000000...), ten of
 *                                them admins, in one transaction
 *   bench_nss module DIR N       the module's own entry points (dlopen)
 *   bench_nss glibc N LOCAL...   getpwnam_r & co through glibc, for
 *                                application users (if N > 0) and for the
 *                                local users named (nss_files baselines;
 *                                "!name" for a name that must not exist)
 *
 * Output: one "key value" line per figure (ns per call unless the key says
 * otherwise).  A timed figure is the median of BATCHES batches; names are
 * drawn at random from the whole store so that size shows.
 */
#include <sys/types.h>
#include <dlfcn.h>
#include <errno.h>
#include <grp.h>
#include <nss.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "appuser.h"
#include "record.h"
#include "store.h"

#include "../nss_appuser/entry.h"
#include "bench.h"

#define BATCHES		7
#define NNAMES		4096		/* random names cycled through */
#define NADMINS		10
#define MODULE_DEFAULT	"build/test-nss/libnss_appuser.so.2"	/* reads APPUSER_STORE */

/* The module's entry points, found with dlsym: typed as the module
 * declares them (nss_appuser/entry.h), never spelled again here. */
#define ENTRY(f)	__typeof__(_nss_appuser_##f) *f
static struct {
	ENTRY(getpwnam_r);
	ENTRY(getpwuid_r);
	ENTRY(getgrgid_r);
	ENTRY(setpwent);
	ENTRY(getpwent_r);
	ENTRY(endpwent);
	ENTRY(initgroups_dyn);
} M;
#undef ENTRY

static char names[NNAMES][24];
static uid_t uids[NNAMES];
static char buf[16384];
static long errors;

static double
now_ns(void)
{
	return fs_mono_s() * 1e9;
}

/* Median over BATCHES of the mean cost of op in a batch of n calls. */
static double
measure(void (*op)(size_t), size_t n)
{
	double v[BATCHES];
	size_t b, i;

	for (i = 0; i < n / 10 + 1; i++)	/* warm up */
		op(i);
	for (b = 0; b < BATCHES; b++) {
		double t0 = now_ns();

		for (i = 0; i < n; i++)
			op(i);
		v[b] = (now_ns() - t0) / n;
	}
	return median(v, BATCHES);
}

static void
pick_names(size_t nusers)
{
	uint64_t x = 88172645463325252ull;
	size_t i;

	for (i = 0; i < NNAMES; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		snprintf(names[i], sizeof(names[i]), "u%07lu",
		    (unsigned long)(x % nusers));
	}
}

/* ---------------------------------------------------------------------- */

static int
build(const char *dir, size_t n)
{
	struct store *st = NULL;
	struct user u;
	char name[24];
	double t0, t1;
	size_t i;
	int r;

	t0 = now_ns();
	if ((r = store_open(dir, STORE_WRITE, &st)) != 0 ||
	    (r = store_begin(st)) != 0)
		goto out;
	memset(&u, 0, sizeof(u));
	u.name = name;
	u.description = "benchmark user";
	for (i = 0; i < n && r == 0; i++) {
		snprintf(name, sizeof(name), "u%07zu", i);
		r = store_user_add(st, &u, NULL);
	}
	for (i = 0; i < NADMINS && i < n && r == 0; i++) {
		snprintf(name, sizeof(name), "u%07zu", i);
		r = store_user_set_admin(st, name, true);
	}
	if (r == 0)
		r = store_commit(st);
	else
		store_cancel(st);
 out:
	store_close(st);
	t1 = now_ns();
	if (r != 0) {
		fprintf(stderr, "bench_nss: build %s: %s\n", dir,
		    appuser_strerror(r));
		return 1;
	}
	printf("build_seconds %.2f\n", (t1 - t0) / 1e9);
	printf("build_users_per_s %.0f\n", n / ((t1 - t0) / 1e9));
	return 0;
}

/* ---------------------------------------------------------------------- */
/* The module's own entry points. */

static void
op_mod_pwnam(size_t i)
{
	struct passwd pw;
	int err;

	if (M.getpwnam_r(names[i % NNAMES], &pw, buf, sizeof(buf), &err) !=
	    NSS_STATUS_SUCCESS)
		errors++;
}

static void
op_mod_pwuid(size_t i)
{
	struct passwd pw;
	int err;

	if (M.getpwuid_r(uids[i % NNAMES], &pw, buf, sizeof(buf), &err) !=
	    NSS_STATUS_SUCCESS)
		errors++;
}

static void
op_mod_grgid(size_t i)
{
	struct group gr;
	int err;

	if (M.getgrgid_r(uids[i % NNAMES], &gr, buf, sizeof(buf), &err) !=
	    NSS_STATUS_SUCCESS)
		errors++;
}

static void
op_mod_initgr(size_t i)
{
	static gid_t *groups;
	static long int size;
	long int start = 1;
	int err;

	if (groups == NULL) {
		if ((groups = malloc(16 * sizeof(gid_t))) == NULL)
			abort();
		size = 16;
	}
	groups[0] = uids[i % NNAMES];
	(void)M.initgroups_dyn(names[i % NNAMES], uids[i % NNAMES], &start,
	    &size, &groups, 0, &err);
}

static double
mod_enumerate(size_t *countp)
{
	struct passwd pw;
	double t0 = now_ns();
	size_t n = 0;
	int err;

	M.setpwent(0);
	while (M.getpwent_r(&pw, buf, sizeof(buf), &err) == NSS_STATUS_SUCCESS)
		n++;
	M.endpwent();
	*countp = n;
	return now_ns() - t0;
}

#define SYM(f) do { \
	*(void **)&M.f = dlsym(h, "_nss_appuser_" #f); \
	if (M.f == NULL) \
		return 1; \
} while (0)

static int
module(const char *dir, size_t nusers)
{
	const char *so = getenv("NSS_APPUSER_SO");
	struct passwd pw;
	size_t i, count, reps = nusers > 100000 ? 20000 : 50000;
	double t0, first;
	void *h;
	int err;

	if (setenv(APPUSER_STORE_ENV, dir, 1) != 0 ||
	    (h = dlopen(so != NULL ? so : MODULE_DEFAULT, RTLD_NOW)) == NULL) {
		fprintf(stderr, "bench_nss: %s\n", dlerror());
		return 1;
	}
	SYM(getpwnam_r);
	SYM(getpwuid_r);
	SYM(getgrgid_r);
	SYM(setpwent);
	SYM(getpwent_r);
	SYM(endpwent);
	SYM(initgroups_dyn);
	pick_names(nusers);
	t0 = now_ns();
	if (M.getpwnam_r(names[0], &pw, buf, sizeof(buf), &err) !=
	    NSS_STATUS_SUCCESS) {
		fprintf(stderr, "bench_nss: %s not found in %s\n", names[0],
		    dir);
		return 1;
	}
	first = now_ns() - t0;
	for (i = 0; i < NNAMES; i++) {
		if (M.getpwnam_r(names[i], &pw, buf, sizeof(buf), &err) !=
		    NSS_STATUS_SUCCESS)
			return 1;
		uids[i] = pw.pw_uid;
	}
	printf("mod_first_call_ns %.0f\n", first);
	printf("mod_getpwnam_r %.0f\n", measure(op_mod_pwnam, reps));
	printf("mod_getpwuid_r %.0f\n", measure(op_mod_pwuid, reps));
	printf("mod_getgrgid_r %.0f\n", measure(op_mod_grgid, reps));
	printf("mod_initgroups_dyn %.0f\n", measure(op_mod_initgr, reps));
	if (getenv("NSS_BENCH_NOENUM") != NULL) {	/* for profiling */
		printf("errors %ld\n", errors);
		return errors != 0;
	}
	printf("mod_enum_ms %.1f\n", mod_enumerate(&count) / 1e6);
	printf("mod_enum_count %zu\n", count);
	printf("errors %ld\n", errors);
	return errors == 0 && count == nusers ? 0 : 1;
}

/* ---------------------------------------------------------------------- */
/* Through glibc (nsswitch.conf set up by the caller). */

static const char *local_name;
static bool local_missing;	/* "!name": expected not to exist */

static void
op_glibc_local(size_t i)
{
	struct passwd pw, *pwp = NULL;

	(void)i;
	if (getpwnam_r(local_name, &pw, buf, sizeof(buf), &pwp) != 0 ||
	    (pwp == NULL) != local_missing)
		errors++;
}

static void
op_glibc_pwnam(size_t i)
{
	struct passwd pw, *pwp = NULL;

	if (getpwnam_r(names[i % NNAMES], &pw, buf, sizeof(buf), &pwp) != 0 ||
	    pwp == NULL)
		errors++;
}

static void
op_glibc_pwuid(size_t i)
{
	struct passwd pw, *pwp = NULL;

	if (getpwuid_r(uids[i % NNAMES], &pw, buf, sizeof(buf), &pwp) != 0 ||
	    pwp == NULL)
		errors++;
}

static void
op_glibc_grgid(size_t i)
{
	struct group gr, *grp = NULL;

	if (getgrgid_r(uids[i % NNAMES], &gr, buf, sizeof(buf), &grp) != 0 ||
	    grp == NULL)
		errors++;
}

static void
op_glibc_grouplist(size_t i)
{
	gid_t groups[64];
	int n = 64;

	if (getgrouplist(names[i % NNAMES], uids[i % NNAMES], groups, &n) < 0)
		errors++;
}

static double
glibc_enumerate(size_t *countp)
{
	double t0 = now_ns();
	size_t n = 0;

	setpwent();
	while (getpwent() != NULL)
		n++;
	endpwent();
	*countp = n;
	return now_ns() - t0;
}

static int
glibc(size_t nusers, int nlocal, char **local)
{
	struct passwd pw, *pwp;
	size_t i, count, reps;
	int k;

	for (k = 0; k < nlocal; k++) {
		double t0, once;

		local_name = local[k];
		local_missing = local_name[0] == '!';
		if (local_missing)
			local_name++;
		t0 = now_ns();
		op_glibc_local(0);
		once = now_ns() - t0;
		if (errors != 0) {
			fprintf(stderr, "bench_nss: local user %s %s\n",
			    local_name, local_missing ? "found" : "not found");
			return 1;
		}
		/* batches of ~50 ms (~11 ms a call at the end of 100k lines) */
		reps = once > 5e7 / 5 ? 5 : (size_t)(5e7 / once);
		printf("glibc_local_%s %.0f\n", local_name,
		    measure(op_glibc_local, reps < 20000 ? reps : 20000));
	}
	if (nusers == 0)
		return 0;
	pick_names(nusers);
	for (i = 0; i < NNAMES; i++) {
		pwp = NULL;
		if (getpwnam_r(names[i], &pw, buf, sizeof(buf), &pwp) != 0 ||
		    pwp == NULL) {
			fprintf(stderr, "bench_nss: %s not resolved through "
			    "glibc (is the module configured?)\n", names[i]);
			return 1;
		}
		uids[i] = pw.pw_uid;
	}
	reps = 10000;
	printf("glibc_getpwnam_r %.0f\n", measure(op_glibc_pwnam, reps));
	printf("glibc_getpwuid_r %.0f\n", measure(op_glibc_pwuid, reps));
	printf("glibc_getgrgid_r %.0f\n", measure(op_glibc_grgid, reps));
	printf("glibc_getgrouplist %.0f\n", measure(op_glibc_grouplist, reps));
	printf("glibc_enum_ms %.1f\n", glibc_enumerate(&count) / 1e6);
	printf("glibc_enum_count %zu\n", count);
	printf("errors %ld\n", errors);
	return errors == 0 ? 0 : 1;
}

int
main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "build") == 0)
		return build(argv[2], strtoul(argv[3], NULL, 10));
	if (argc == 4 && strcmp(argv[1], "module") == 0)
		return module(argv[2], strtoul(argv[3], NULL, 10));
	if (argc >= 3 && strcmp(argv[1], "glibc") == 0)
		return glibc(strtoul(argv[2], NULL, 10), argc - 3, argv + 3);
	fprintf(stderr, "usage: bench_nss build DIR N | module DIR N | "
	    "glibc N [LOCALUSER...]\n");
	return 2;
}
