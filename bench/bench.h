/*
 * What the benchmarks share: a monotonic clock, the median of a sample,
 * the fatal error of a setup step and the "FIGURE ... MET|NOT MET" line
 * (bench/run.sh repeats those at the end).  Each bench is built alone from
 * its one .c file, so everything here is static inline: a bench that does
 * not use a helper gets no copy and no -Wunused-function.
 *
 * A bench that calls die() defines BENCH_NAME (the prefix of its message)
 * first, and BENCH_DIE_STATUS if it exits with another status than 1.
 */
#ifndef APPUSER_BENCH_H
#define APPUSER_BENCH_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "appuser.h"
#include "fsutil.h"

#ifndef BENCH_DIE_STATUS
#define BENCH_DIE_STATUS	1
#endif

/* Seconds on the monotonic clock: only differences mean anything. */
static inline int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* The median of v[0..n-1], n > 0; sorts v. */
static inline double
median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

#ifdef BENCH_NAME
/* A setup step failed with r (an APPUSER_ERR_*): no figure can follow. */
static inline void
die(const char *what, int r)
{
	fprintf(stderr, BENCH_NAME ": %s: %s\n", what, appuser_strerror(r));
	exit(BENCH_DIE_STATUS);
}
#endif

/* Goals not met so far (a figure to report, not a failure). */
static int failed_goals;

/* One line per figure that has a goal. */
static inline void
goal(const char *what, const char *value, const char *target, bool met)
{
	printf("FIGURE %-56s %16s  goal %-10s %s\n", what, value, target,
	    met ? "MET" : "NOT MET");
	if (!met)
		failed_goals++;
}

#endif
