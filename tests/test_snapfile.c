/*
 * Unit tests for the snapshot files (libappuser/snapfile.c) on their own,
 * without a store: a written file reads back record for record, a pair
 * answers as its base and delta together, and the writer's and reader's
 * refusals: bad arguments, a file that is already there, a tombstone in a
 * base, and a file system that refuses the write (RLIMIT_FSIZE stands in
 * for a full disk).  The store's use of them is tests/test_store_snap.c's;
 * damaged files are tests/test_idview.c's and fuzz_snapfile's.
 */
#include <sys/resource.h>
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "snapfile.h"

#include "tmpdir_fixture.h"

#define KIND	SNAP_KIND_IDENTITY

struct fx {
	struct tmpdir	 td;		/* td.dir created */
	char		 snap[192];	/* dir/identity.snap */
	char		 delta[192];	/* dir/identity.delta */
};

static int
setup(void **state)
{
	struct fx *f = tmpdir_new(sizeof(*f), "/tmp/appuser-snapfile-XXXXXX",
	    true);

	tmpdir_path(f->snap, sizeof(f->snap), f->td.dir,
	    snapset_base_name(KIND));
	tmpdir_path(f->delta, sizeof(f->delta), f->td.dir,
	    snapset_delta_name(KIND));
	*state = f;
	return 0;
}

/* Write path: keys "k0".."k<n-1>" with values "v0"..; tomb: key "dead"
 * as a tombstone too. */
static void
write_snap(const char *path, uint32_t flags, uint64_t gen, uint64_t base_gen,
    int n, bool tomb)
{
	struct snapw *w = NULL;
	char k[16], v[16];
	int i;

	assert_int_equal(snapw_create(path, KIND, flags, gen, base_gen, 0644,
	    &w), 0);
	for (i = 0; i < n; i++) {
		snprintf(k, sizeof(k), "k%d", i);
		snprintf(v, sizeof(v), "v%d", i);
		assert_int_equal(snapw_add(w, k, strlen(k), v, strlen(v)), 0);
	}
	if (tomb)
		assert_int_equal(snapw_add(w, "dead", 4, NULL, 0), 0);
	assert_int_equal(snapw_finish(w), 0);
}

static void
test_round_trip(void **state)
{
	struct fx *f = *state;
	struct snapr *r = NULL;
	struct snaprec rec;
	char k[16], v[16], big[SNAPFILE_MAX_KEY + 1];
	uint32_t i;

	write_snap(f->snap, 0, 7, 7, 1000, false);
	assert_int_equal(snapr_open(f->snap, KIND, geteuid(), 022, &r), 0);
	assert_int_equal(snapr_count(r), 1000);
	assert_int_equal(snapr_generation(r), 7);
	assert_int_equal(snapr_base_gen(r), 7);
	assert_false(snapr_is_delta(r));
	for (i = 0; i < 1000; i++) {
		snprintf(k, sizeof(k), "k%u", i);
		snprintf(v, sizeof(v), "v%u", i);
		assert_int_equal(snapr_get(r, k, strlen(k), &rec), 0);
		assert_int_equal(rec.vlen, strlen(v));
		assert_memory_equal(rec.val, v, rec.vlen);
		assert_int_equal(snapr_at(r, i, &rec), 0);
		assert_int_equal(rec.klen, strlen(k));
		assert_memory_equal(rec.key, k, rec.klen);
	}
	assert_int_equal(snapr_at(r, 1000, &rec), APPUSER_ERR_NOT_FOUND);
	assert_int_equal(snapr_get(r, "k1000", 5, &rec), APPUSER_ERR_NOT_FOUND);
	/* keys no file can hold are simply not there */
	assert_int_equal(snapr_get(r, "", 0, &rec), APPUSER_ERR_NOT_FOUND);
	memset(big, 'k', sizeof(big));
	assert_int_equal(snapr_get(r, big, sizeof(big), &rec),
	    APPUSER_ERR_NOT_FOUND);
	snapr_close(r);
	/* the reader's checks: kind, owner, mode */
	assert_int_equal(snapr_open(f->snap, SNAP_KIND_TOKENS, geteuid(), 022,
	    &r), APPUSER_ERR_CORRUPT);
	assert_int_equal(snapr_open(f->snap, KIND, geteuid() + 1, 022, &r),
	    APPUSER_ERR_UNSAFE);
	assert_int_equal(snapr_open(f->snap, KIND, geteuid(), 077, &r),
	    APPUSER_ERR_UNSAFE);
	snapr_close(NULL);
}

/* A delta over a base: its records win, its tombstones delete, and an
 * enumeration gives each live key once. */
static void
test_pair(void **state)
{
	struct fx *f = *state;
	struct snapset s;
	struct snaprec rec;
	uint64_t pos = 0;
	int n = 0, r;

	write_snap(f->snap, 0, 5, 5, 10, false);
	write_snap(f->delta, SNAPFILE_DELTA, 6, 5, 3, true);
	memset(&s, 0, sizeof(s));
	assert_int_equal(snapset_open(f->td.dir, KIND, geteuid(), 022, &s), 0);
	assert_non_null(s.delta);
	assert_int_equal(snapset_generation(&s), 6);
	assert_int_equal(snapset_get(&s, "k9", 2, &rec), 0);	/* the base's */
	assert_int_equal(snapset_get(&s, "k1", 2, &rec), 0);	/* the delta's */
	assert_int_equal(snapset_get(&s, "dead", 4, &rec),
	    APPUSER_ERR_NOT_FOUND);
	while ((r = snapset_next(&s, &pos, &rec)) == 0)
		n++;
	assert_int_equal(r, APPUSER_ERR_NOT_FOUND);
	assert_int_equal(n, 10);
	snapset_close(&s);
	assert_null(s.base);
	snapset_close(NULL);
}

/* A base never holds a tombstone (the writer builds bases from the master
 * alone): a reader that finds one calls the pair corrupt. */
static void
test_tombstone_in_base(void **state)
{
	struct fx *f = *state;
	struct snapset s;
	struct snaprec rec;
	uint64_t pos = 0;
	int r;

	write_snap(f->snap, 0, 5, 5, 2, true);
	memset(&s, 0, sizeof(s));
	assert_int_equal(snapset_open(f->td.dir, KIND, geteuid(), 022, &s), 0);
	assert_null(s.delta);
	assert_int_equal(snapset_get(&s, "dead", 4, &rec), APPUSER_ERR_CORRUPT);
	assert_int_equal(snapset_get(&s, "k1", 2, &rec), 0);
	while ((r = snapset_next(&s, &pos, &rec)) == 0)
		;
	assert_int_equal(r, APPUSER_ERR_CORRUPT);	/* the last record */
	assert_int_equal(pos, 3);
	assert_int_equal(snapset_next(&s, &pos, &rec), APPUSER_ERR_NOT_FOUND);
	snapset_close(&s);
}

/* Refused arguments stick: every later call says the same, and finish
 * leaves no file behind. */
static void
test_writer_refusals(void **state)
{
	struct fx *f = *state;
	struct snapw *w = NULL;
	char big[SNAPFILE_MAX_KEY + 1];
	char path[PATH_MAX];

	memset(big, 'k', sizeof(big));
	assert_int_equal(snapw_create(f->snap, KIND, 0, 1, 1, 0644, &w), 0);
	assert_int_equal(snapw_add(w, big, sizeof(big), "v", 1),
	    APPUSER_ERR_INVALID);
	assert_int_equal(snapw_add(w, "k", 1, "v", 1), APPUSER_ERR_INVALID);
	assert_int_equal(snapw_finish(w), APPUSER_ERR_INVALID);
	assert_int_equal(access(f->snap, F_OK), -1);
	w = NULL;
	assert_int_equal(snapw_create(f->snap, KIND, 0, 1, 1, 0644, &w), 0);
	assert_int_equal(snapw_add(w, "", 0, "v", 1), APPUSER_ERR_INVALID);
	snapw_abort(w);
	assert_int_equal(access(f->snap, F_OK), -1);
	snapw_abort(NULL);
	/* an existing file is not overwritten, nor removed */
	write_snap(f->snap, 0, 1, 1, 1, false);
	w = NULL;
	assert_int_equal(snapw_create(f->snap, KIND, 0, 2, 2, 0644, &w),
	    APPUSER_ERR_SYSTEM);
	assert_null(w);
	assert_int_equal(access(f->snap, F_OK), 0);
	/* nor is a file created where the directory is missing */
	snprintf(path, sizeof(path), "%s/none/x.snap", f->td.base);
	assert_int_equal(snapw_create(path, KIND, 0, 2, 2, 0644, &w),
	    APPUSER_ERR_NOSTORE);
	assert_null(w);
}

/*
 * The writer on a file system that refuses to grow the file: a record that
 * fills the buffer, the index entries after it, and the tables at finish
 * each report the failure, and the half-written file is removed.
 * RLIMIT_FSIZE (with SIGXFSZ ignored) makes write() fail with EFBIG past
 * the limit.  No cmocka call in the window: its output may go to a file.
 */
static int
add_with_limit(const char *path, size_t vlen, int *addp)
{
	struct rlimit old, lim;
	struct snapw *w = NULL;
	uint8_t *val;
	int r;

	if ((val = calloc(1, vlen)) == NULL)
		return APPUSER_ERR_NOMEM;
	if ((r = snapw_create(path, KIND, 0, 1, 1, 0644, &w)) != 0) {
		free(val);
		return r;
	}
	getrlimit(RLIMIT_FSIZE, &old);
	lim = old;
	lim.rlim_cur = 128;
	setrlimit(RLIMIT_FSIZE, &lim);
	*addp = snapw_add(w, "k", 1, val, vlen);
	r = snapw_finish(w);
	setrlimit(RLIMIT_FSIZE, &old);
	free(val);
	return r;
}

static void
test_writer_full(void **state)
{
	struct fx *f = *state;
	/* header 64 + record head 8 + key 1: the buffer one index entry
	 * short of full, or overflowing at the record */
	size_t fits = (1u << 20) - 64 - 8 - 1 - 4, over = 2u << 20;
	void (*old)(int) = signal(SIGXFSZ, SIG_IGN);
	int add = -1;

	assert_int_equal(add_with_limit(f->snap, 100, &add),
	    APPUSER_ERR_SYSTEM);	/* the tables */
	assert_int_equal(add, 0);
	assert_int_equal(access(f->snap, F_OK), -1);
	assert_int_equal(add_with_limit(f->snap, fits, &add),
	    APPUSER_ERR_SYSTEM);	/* the index */
	assert_int_equal(add, 0);
	assert_int_equal(access(f->snap, F_OK), -1);
	assert_int_equal(add_with_limit(f->snap, over, &add),
	    APPUSER_ERR_SYSTEM);	/* the record */
	assert_int_equal(add, APPUSER_ERR_SYSTEM);
	assert_int_equal(access(f->snap, F_OK), -1);
	signal(SIGXFSZ, old);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		tmpdir_test(test_round_trip, setup),
		tmpdir_test(test_pair, setup),
		tmpdir_test(test_tombstone_in_base, setup),
		tmpdir_test(test_writer_refusals, setup),
		tmpdir_test(test_writer_full, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
