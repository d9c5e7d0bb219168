/*
 * make bench only: the bookkeeping call of pam_appuser, made a no-op.
 *
 * bench/bench_pam.c compares pam_authenticate through the real module with
 * the same module built from the same sources except that its one call of
 * store_token_touch() (last use, address, service, sliding expiry) lands
 * here: the Makefile compiles the sources of pam_appuser/ again with
 * -Dstore_token_touch=bench_touch_skipped.  Everything else a login costs
 * (libpam, the store opens, the user lookup, store_verify, the host check,
 * syslog) stays in both figures, so their ratio is the price of the
 * bookkeeping alone.  Never installed; never linked into anything but
 * build/bench/pam_appuser_nobook.so.
 */
#include "store.h"

int bench_touch_skipped(struct store *st, const char *id, int64_t now,
    const char *rhost, const char *service, int timeout_ms);

int
bench_touch_skipped(struct store *st, const char *id, int64_t now,
    const char *rhost, const char *service, int timeout_ms)
{
	(void)st;
	(void)id;
	(void)now;
	(void)rhost;
	(void)service;
	(void)timeout_ms;
	return 0;
}
