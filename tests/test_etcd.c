/*
 * The etcd client (admin/etcd.c) against a real cluster.  tests/t_etcd.sh
 * starts the cluster (tests/etcd/lib.sh) and runs one mode at a time, doing
 * what C cannot (killing members, compacting) between modes:
 *
 *   test_etcd basic PREFIX             put, range, txn, paging, watch, caps
 *   test_etcd compacted PREFIX REV C   REV was compacted at C
 *   test_etcd txnloop PREFIX N         N guarded increments while the shell
 *                                      kills the leader
 *   test_etcd strict                   against tests/etcd/fake_gateway.py
 *   test_etcd noleader                 one member of three left
 *   test_etcd down                     every member stopped
 *   test_etcd auth PREFIX HOSTCONF ROOTCONF CMD
 *                                      TLS + auth; CMD adds an etcd user
 *   test_etcd renew PREFIX HOSTCONF    simple tokens that expire
 *   test_etcd bench PREFIX N           latency of range and txn
 *
 * Endpoints come from $ETCD_ENDPOINTS (comma-separated).  Output is TAP
 * lines without numbers ("ok - name"); the script renumbers them.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "appuser.h"
#include "fsutil.h"
#include "etcd.h"
#include "fleet_conf.h"

static int failures;

static void
check(bool cond, const char *name, const char *fmt, ...)
{
	printf("%s - %s\n", cond ? "ok" : "not ok", name);
	if (!cond) {
		failures++;
		if (fmt != NULL) {
			va_list ap;

			printf("#   ");
			va_start(ap, fmt);
			vprintf(fmt, ap);
			va_end(ap);
			printf("\n");
		}
	}
	fflush(stdout);
}

static int64_t
now_us(void)
{
	return (int64_t)(fs_mono_s() * 1e6);
}

static struct etcd *
client(int timeout_ms, size_t max_response)
{
	static char *eps[FLEET_MAX_ENDPOINTS];
	/* filled on the first call, below */
	// cppcheck-suppress unassignedVariable
	static size_t neps;
	struct etcd_config cfg;
	struct etcd *e = NULL;
	char err[256], *tok, *save = NULL;

	if (neps == 0) {
		char *s;

		if ((s = getenv("ETCD_ENDPOINTS")) == NULL ||
		    (s = strdup(s)) == NULL) {
			fprintf(stderr, "ETCD_ENDPOINTS is not set\n");
			exit(2);
		}
		for (tok = strtok_r(s, ",", &save); tok != NULL &&
		    neps < FLEET_MAX_ENDPOINTS; tok = strtok_r(NULL, ",",
		    &save))
			eps[neps++] = tok;
	}
	memset(&cfg, 0, sizeof(cfg));
	cfg.endpoints = (const char *const *)eps;
	cfg.nendpoints = neps;
	cfg.timeout_ms = timeout_ms;
	cfg.max_response = max_response;
	cfg.in_order = getenv("ETCD_IN_ORDER") != NULL;
	/* optional TLS (for bench): ETCD_CACERT, ETCD_CERT, ETCD_KEY */
	cfg.cacert = getenv("ETCD_CACERT");
	cfg.cert = getenv("ETCD_CERT");
	cfg.key = getenv("ETCD_KEY");
	if (etcd_open(&cfg, &e, err, sizeof(err)) != 0) {
		fprintf(stderr, "etcd_open: %s\n", err);
		exit(2);
	}
	return e;
}

static char *
key(const char *prefix, const char *fmt, ...)
{
	static char buf[8][512];
	static int slot;
	char *k = buf[slot++ % 8];
	va_list ap;
	int n;

	n = snprintf(k, 512, "%s", prefix);
	va_start(ap, fmt);
	vsnprintf(k + n, 512 - (size_t)n, fmt, ap);
	va_end(ap);
	return k;
}

/* One key's value and mod_revision; (NULL, 0) when absent. */
static int
get(struct etcd *e, const char *k, char **valp, int64_t *modp)
{
	struct etcd_range_req q = { .key = k, .keylen = strlen(k) };
	struct etcd_range_res *res = NULL;
	int r;

	*valp = NULL;
	*modp = 0;
	if ((r = etcd_range(e, &q, &res)) != 0)
		return r;
	if (res->nkvs == 1) {
		*valp = strdup(res->kvs[0].value);
		*modp = res->kvs[0].mod_revision;
	}
	etcd_range_free(res);
	return 0;
}

static struct etcd_op
put_op(const char *k, const char *v)
{
	struct etcd_op op = {
		.type = ETCD_OP_PUT, .key = k, .keylen = strlen(k),
		.value = v, .valuelen = strlen(v),
	};
	return op;
}

static struct etcd_op
del_op(const char *k)
{
	struct etcd_op op = {
		.type = ETCD_OP_DELETE, .key = k, .keylen = strlen(k),
	};
	return op;
}

static struct etcd_cmp
cmp_num(const char *k, enum etcd_cmp_target t, int64_t n)
{
	struct etcd_cmp c = {
		.key = k, .keylen = strlen(k), .target = t,
		.result = ETCD_CMP_EQUAL, .number = n,
	};
	return c;
}

/* --- basic ------------------------------------------------------------- */

struct walk {
	struct etcd	*e;
	const char	*prefix;
	size_t		 n;
	bool		 ordered;
	char		 last[256];
};

static int
walk_cb(void *arg, const struct etcd_kv *kv)
{
	struct walk *w = arg;

	if (w->n > 0 && strcmp(kv->key, w->last) <= 0)
		w->ordered = false;
	snprintf(w->last, sizeof(w->last), "%s", kv->key);
	/* a write during the walk must not show up: one revision */
	if (++w->n == 10) {
		const char *k = key(w->prefix, "page/zzz");

		etcd_put(w->e, k, strlen(k), "late", 4, NULL);
	}
	return 0;
}

#define WATCH_MAX 64
struct watched {
	struct etcd	*e;
	const char	*prefix;
	int64_t		 revs[WATCH_MAX];
	int		 types[WATCH_MAX];
	char		 keys[WATCH_MAX][64];
	size_t		 n, batches, progress;
	size_t		 want;
	bool		 live_written;
	int64_t		 live_sent_us, live_lat_us;
};

static int
watch_cb(void *arg, const struct etcd_watch_batch *b)
{
	struct watched *w = arg;
	size_t i;

	if (b->nevents == 0) {
		w->progress++;
		/* caught up: now write, and expect it live */
		if (w->n >= w->want && !w->live_written) {
			w->live_written = true;
			const char *k = key(w->prefix, "w/live");

			w->live_sent_us = now_us();
			etcd_put(w->e, k, strlen(k), "L", 1, NULL);
		}
		return 0;
	}
	w->batches++;
	for (i = 0; i < b->nevents && w->n < WATCH_MAX; i++, w->n++) {
		w->revs[w->n] = b->events[i].kv.mod_revision;
		w->types[w->n] = b->events[i].type;
		snprintf(w->keys[w->n], sizeof(w->keys[0]), "%s",
		    b->events[i].kv.key + strlen(w->prefix));
	}
	if (w->live_written && w->n >= w->want + 1) {
		w->live_lat_us = now_us() - w->live_sent_us;
		return 1;	/* done */
	}
	return 0;
}

static void
mode_basic(const char *P)
{
	struct etcd *e = client(5000, 0), *small;
	struct etcd_range_req q;
	struct etcd_range_res *res = NULL;
	struct etcd_op ops[100];
	struct etcd_cmp c[2];
	struct walk w;
	struct watched *wd;
	char *v = NULL, *end = NULL, k[64], bin[8] = "a\0b\xff", *pend;
	int64_t rev = 0, rev2 = 0, mod = 0, start;
	size_t endlen, i;
	bool ok = true;
	int r;

	/* prefix end */
	r = etcd_prefix_end("/a/", 3, &end, &endlen);
	check(r == 0 && endlen == 3 && memcmp(end, "/a0", 3) == 0,
	    "prefix end of /a/ is /a0", "%d", r);
	free(end);
	r = etcd_prefix_end("a\xff\xff", 3, &end, &endlen);
	check(r == 0 && endlen == 1 && end[0] == 'b',
	    "prefix end drops trailing 0xff", "%d", r);
	free(end);
	r = etcd_prefix_end("\xff", 1, &end, &endlen);
	check(r == 0 && endlen == 1 && end[0] == '\0',
	    "prefix end of 0xff is NUL (to the end)", "%d", r);
	free(end);
	check(etcd_prefix_end("", 0, &end, &endlen) == APPUSER_ERR_INVALID,
	    "prefix end of nothing is refused", NULL);

	/* put, range */
	r = etcd_put(e, key(P, "k1"), strlen(key(P, "k1")), "v1", 2, &rev);
	check(r == 0 && rev > 0, "put", "%d %s", r, etcd_errmsg(e));
	memset(&q, 0, sizeof(q));
	q.key = key(P, "k1");
	q.keylen = strlen(q.key);
	r = etcd_range(e, &q, &res);
	check(r == 0 && res->nkvs == 1 && res->count == 1 && !res->more &&
	    strcmp(res->kvs[0].value, "v1") == 0 &&
	    res->kvs[0].mod_revision == rev && res->kvs[0].version == 1 &&
	    res->kvs[0].create_revision == rev && res->revision >= rev,
	    "range reads the put back with its revisions", "%d %s", r,
	    etcd_errmsg(e));
	etcd_range_free(res);
	res = NULL;
	q.key = key(P, "missing");
	q.keylen = strlen(q.key);
	r = etcd_range(e, &q, &res);
	check(r == 0 && res->nkvs == 0 && res->count == 0 && !res->more,
	    "range of a missing key: nothing (omitted fields)", "%d", r);
	etcd_range_free(res);
	res = NULL;

	/* binary key and value */
	snprintf(k, sizeof(k), "%sbin", P);
	memcpy(k + strlen(P) + 3, bin, 5);
	r = etcd_put(e, k, strlen(P) + 3 + 5, bin, 5, NULL);
	q.key = k;
	q.keylen = strlen(P) + 3 + 5;
	if (r == 0)
		r = etcd_range(e, &q, &res);
	check(r == 0 && res->nkvs == 1 && res->kvs[0].keylen == q.keylen &&
	    memcmp(res->kvs[0].key, k, q.keylen) == 0 &&
	    res->kvs[0].valuelen == 5 && memcmp(res->kvs[0].value, bin, 5) ==
	    0, "binary key and value round trip (base64)", "%d", r);
	etcd_range_free(res);
	res = NULL;

	/* txn: create if absent */
	c[0] = cmp_num(key(P, "k2"), ETCD_CMP_CREATE, 0);
	ops[0] = put_op(key(P, "k2"), "created");
	ops[1] = put_op(key(P, "k2-failed"), "yes");
	r = etcd_txn(e, c, 1, ops, 1, ops + 1, 1, &ok, &rev);
	check(r == 0 && ok && rev > 0, "txn create-if-absent succeeds",
	    "%d %d %s", r, ok, etcd_errmsg(e));
	r = etcd_txn(e, c, 1, ops, 1, ops + 1, 1, &ok, &rev2);
	check(r == 0 && !ok && rev2 >= rev,
	    "txn create-if-absent again: compare fails (no \"succeeded\")",
	    "%d %d", r, ok);
	r = get(e, key(P, "k2-failed"), &v, &mod);
	check(r == 0 && v != NULL && strcmp(v, "yes") == 0,
	    "a failed compare runs the failure operations", "%d", r);
	free(v);

	/* txn: compare mod_revision */
	r = get(e, key(P, "k1"), &v, &mod);
	free(v);
	check(r == 0, "read k1's mod_revision", "%d", r);
	c[0] = cmp_num(key(P, "k1"), ETCD_CMP_MOD, mod);
	ops[0] = put_op(key(P, "k1"), "v2");
	r = etcd_txn(e, c, 1, ops, 1, NULL, 0, &ok, &rev);
	check(r == 0 && ok && rev > mod, "txn on mod_revision succeeds",
	    "%d %d %s", r, ok, etcd_errmsg(e));
	ops[0] = put_op(key(P, "k1"), "v3");
	r = etcd_txn(e, c, 1, ops, 1, NULL, 0, &ok, &rev2);
	check(r == 0 && !ok && rev2 == rev,
	    "txn on a stale mod_revision fails and writes nothing", "%d %d "
	    "%" PRId64 " %" PRId64, r, ok, rev, rev2);
	r = get(e, key(P, "k1"), &v, &mod);
	check(r == 0 && v != NULL && strcmp(v, "v2") == 0 && mod == rev,
	    "the value is the one the successful txn wrote", "%s",
	    v ? v : "(null)");
	free(v);

	/* txn: compare value, delete */
	c[0].target = ETCD_CMP_VALUE;
	c[0].value = "v2";
	c[0].valuelen = 2;
	c[1] = cmp_num(key(P, "k2"), ETCD_CMP_VERSION, 1);
	ops[0] = del_op(key(P, "k2"));
	r = etcd_txn(e, c, 2, ops, 1, NULL, 0, &ok, NULL);
	check(r == 0 && ok, "txn comparing a value and a version, deleting",
	    "%d %d %s", r, ok, etcd_errmsg(e));
	r = get(e, key(P, "k2"), &v, &mod);
	check(r == 0 && v == NULL, "the deleted key is gone", "%d", r);
	free(v);
	c[0].value = "nope";
	c[0].valuelen = 4;
	c[0].result = ETCD_CMP_NOT_EQUAL;
	r = etcd_txn(e, c, 1, NULL, 0, NULL, 0, &ok, NULL);
	check(r == 0 && ok, "txn NOT_EQUAL on a value", "%d %d", r, ok);

	/* errors from the server */
	ops[0] = put_op(key(P, "dup"), "1");
	ops[1] = put_op(key(P, "dup"), "2");
	r = etcd_txn(e, NULL, 0, ops, 2, NULL, 0, &ok, NULL);
	check(r == APPUSER_ERR_INVALID &&
	    strstr(etcd_errmsg(e), "duplicate key") != NULL,
	    "a duplicate key: INVALID with the server's text", "%d %s", r,
	    etcd_errmsg(e));
	q.key = key(P, "k1");
	q.keylen = strlen(q.key);
	q.revision = INT64_C(1) << 40;
	r = etcd_range(e, &q, &res);
	check(r == APPUSER_ERR_INVALID &&
	    strstr(etcd_errmsg(e), "future revision") != NULL,
	    "a range at a future revision: INVALID", "%d %s", r,
	    etcd_errmsg(e));
	q.revision = 0;

	/* paging: 300 keys in 3 txns of 100 puts */
	for (i = 0; i < 300; i++) {
		static char ks[300][64], vs[300][16];

		snprintf(ks[i], sizeof(ks[i]), "%spage/%04zu", P, i);
		snprintf(vs[i], sizeof(vs[i]), "value %zu", i);
		ops[i % 100] = put_op(ks[i], vs[i]);
		if (i % 100 == 99 && (r = etcd_txn(e, NULL, 0, ops, 100, NULL,
		    0, &ok, NULL)) != 0)
			break;
	}
	check(r == 0, "3 txns of 100 puts", "%d %s", r, etcd_errmsg(e));
	pend = NULL;
	etcd_prefix_end(key(P, "page/"), strlen(key(P, "page/")), &pend,
	    &endlen);
	memset(&q, 0, sizeof(q));
	q.key = key(P, "page/");
	q.keylen = strlen(q.key);
	q.range_end = pend;
	q.range_endlen = endlen;
	q.limit = 100;
	r = etcd_range(e, &q, &res);
	check(r == 0 && res->nkvs == 100 && res->more && res->count == 300,
	    "a range with a limit: one page, more, the whole count", "%d",
	    r);
	etcd_range_free(res);
	res = NULL;
	memset(&w, 0, sizeof(w));
	w.e = e;
	w.prefix = P;
	w.ordered = true;
	r = etcd_range_all(e, q.key, q.keylen, pend, endlen, 0, 64, 0,
	    walk_cb, &w, &rev);
	check(r == 0 && w.n == 300 && w.ordered && rev > 0,
	    "paging over 5 pages of 64: every key once, in order, at one "
	    "revision (a write during the walk is not seen)",
	    "%d n=%zu ordered=%d %s", r, w.n, w.ordered, etcd_errmsg(e));
	/* a page size that divides the count exactly */
	memset(&w, 0, sizeof(w));
	w.e = e;
	w.prefix = "/unused/";
	w.ordered = true;
	r = etcd_range_all(e, q.key, q.keylen, pend, endlen, rev, 100, 0,
	    walk_cb, &w, &rev2);
	check(r == 0 && w.n == 300 && rev2 == rev,
	    "paging at a given revision, pages of 100", "%d n=%zu", r, w.n);

	/* size cap, before allocating */
	small = client(5000, 2048);
	q.limit = 0;
	r = etcd_range(small, &q, &res);
	check(r == APPUSER_ERR_CORRUPT &&
	    strstr(etcd_errmsg(small), "larger than 2048") != NULL,
	    "a response over the cap is refused", "%d %s", r,
	    etcd_errmsg(small));
	etcd_close(small);
	free(pend);

	/* watch: catch up from a revision, then live */
	r = etcd_put(e, key(P, "w/start"), strlen(key(P, "w/start")), "s", 1,
	    &start);
	for (i = 0; i < 6 && r == 0; i++) {
		snprintf(k, sizeof(k), "%sw/%02zu", P, i);
		r = etcd_put(e, k, strlen(k), "x", 1, NULL);
	}
	ops[0] = put_op(key(P, "w/m1"), "1");
	ops[1] = put_op(key(P, "w/m2"), "2");
	ops[2] = del_op(key(P, "w/00"));
	if (r == 0)
		r = etcd_txn(e, NULL, 0, ops, 3, NULL, 0, &ok, NULL);
	ops[0] = del_op(key(P, "w/01"));
	if (r == 0)
		r = etcd_txn(e, NULL, 0, ops, 1, NULL, 0, &ok, NULL);
	check(r == 0, "writes to watch", "%d", r);
	wd = calloc(1, sizeof(*wd));
	wd->e = e;
	wd->prefix = P;
	wd->want = 1 + 6 + 3 + 1;
	etcd_prefix_end(key(P, "w/"), strlen(key(P, "w/")), &pend, &endlen);
	{
		struct etcd_watch_opts o = { .idle_ms = 5000,
		    .unreachable_ms = 5000 };

		r = etcd_watch(e, key(P, "w/"), strlen(key(P, "w/")), pend,
		    endlen, start, &o, watch_cb, wd, NULL);
	}
	check(r == 1, "watch ends when the callback says so", "%d %s", r,
	    etcd_errmsg(e));
	ok = wd->n == wd->want + 1 && strcmp(wd->keys[0], "w/start") == 0 &&
	    wd->revs[0] == start;
	for (i = 1; i < wd->n; i++)
		if (wd->revs[i] < wd->revs[i - 1])
			ok = false;
	check(ok, "watch from a revision: every event, in order",
	    "n=%zu want=%zu first=%s", wd->n, wd->want + 1, wd->keys[0]);
	check(wd->n > 9 && wd->types[9] == ETCD_EVENT_DELETE &&
	    strcmp(wd->keys[9], "w/00") == 0 && wd->types[7] ==
	    ETCD_EVENT_PUT && wd->types[10] == ETCD_EVENT_DELETE,
	    "PUT (no \"type\") and DELETE events", NULL);
	check(wd->revs[7] == wd->revs[8] &&
	    wd->revs[8] == wd->revs[9],
	    "a txn's events come in one batch with one revision", NULL);
	check(wd->progress >= 1, "progress notifications arrive", "%zu",
	    wd->progress);
	check(wd->n > 11 && strcmp(wd->keys[11], "w/live") == 0,
	    "a live change is delivered", NULL);
	printf("# put -> watch event: %.1f ms\n", wd->live_lat_us / 1000.0);
	free(wd);
	free(pend);

	/* watch line cap */
	small = client(5000, 256);
	{
		struct etcd_watch_opts o = { .idle_ms = 5000,
		    .unreachable_ms = 3000 };
		struct watched *w2 = calloc(1, sizeof(*w2));

		etcd_prefix_end(P, strlen(P), &pend, &endlen);
		r = etcd_watch(small, P, strlen(P), pend, endlen, start, &o,
		    watch_cb, w2, NULL);
		check(r == APPUSER_ERR_CORRUPT && strstr(etcd_errmsg(small),
		    "longer than 256") != NULL,
		    "a watch line over the cap is refused", "%d %s", r,
		    etcd_errmsg(small));
		free(w2);
		free(pend);
	}
	etcd_close(small);
	etcd_close(e);
}

/* --- compacted ----------------------------------------------------------- */

static int
never_cb(void *arg, const struct etcd_watch_batch *b)
{
	(void)arg;
	return b->nevents > 0 ? 7 : 0;
}

/* etcd_range of q, and how long it took in *dtp (us). */
static int
timed_range(struct etcd *e, const struct etcd_range_req *q,
    struct etcd_range_res **resp, int64_t *dtp)
{
	int64_t t0 = now_us();
	int r = etcd_range(e, q, resp);

	*dtp = now_us() - t0;
	return r;
}

/* A watch of "/x" from revision 1 that no event ends (never_cb): how it
 * ended, and how long it took in *dtp (us). */
static int
timed_watch_x(struct etcd *e, const struct etcd_watch_opts *o,
    int64_t *dtp)
{
	int64_t t0 = now_us();
	int r = etcd_watch(e, "/x", 2, NULL, 0, 1, o, never_cb, NULL, NULL);

	*dtp = now_us() - t0;
	return r;
}

static void
mode_compacted(const char *P, int64_t rev, int64_t compacted)
{
	struct etcd *e = client(5000, 0);
	struct etcd_range_req q = { .key = P, .keylen = strlen(P),
	    .revision = rev };
	struct etcd_range_res *res = NULL;
	struct etcd_watch_opts o = { .idle_ms = 5000, .unreachable_ms = 5000 };
	int64_t crev = 0, t0;
	int r;

	r = etcd_range(e, &q, &res);
	check(r == APPUSER_ERR_EXPIRED && strstr(etcd_errmsg(e),
	    "compacted") != NULL, "a range at a compacted revision: EXPIRED",
	    "%d %s", r, etcd_errmsg(e));
	etcd_range_free(res);
	t0 = now_us();
	r = etcd_watch(e, P, strlen(P), NULL, 0, rev, &o, never_cb, NULL,
	    &crev);
	check(r == APPUSER_ERR_EXPIRED && crev == compacted,
	    "a watch from a compacted revision: EXPIRED with "
	    "compact_revision", "%d crev=%" PRId64 " want %" PRId64 " %s", r,
	    crev, compacted, etcd_errmsg(e));
	check(now_us() - t0 < 2000000,
	    "and it closes the stream that etcd leaves open", NULL);
	etcd_close(e);
}

/* --- txnloop ------------------------------------------------------------ */

static void
mode_txnloop(const char *P, long n)
{
	struct etcd *e = client(3000, 0);
	struct etcd_cmp c[2];
	struct etcd_op ops[2];
	char *v = NULL, logv[64], *lk, nv[32];
	int64_t mod, t0 = now_us(), cur;
	long done = 0, busy = 0, sys = 0, resolved = 0, i;
	bool ok, pending = false;
	struct etcd_range_req q;
	struct etcd_range_res *res = NULL;
	char *pend = NULL;
	size_t endlen;
	int r;

	while (done < n && now_us() - t0 < 60000000) {
		if ((r = get(e, key(P, "counter"), &v, &mod)) != 0) {
			sys++;
			continue;
		}
		cur = v == NULL ? 0 : strtoll(v, NULL, 10);
		free(v);
		v = NULL;
		if (pending) {
			/* the last txn's outcome was unknown: did it land? */
			pending = false;
			if (cur == done + 1) {
				resolved++;
				done++;
				continue;
			}
		}
		if (cur != done) {
			check(false, "txnloop: the counter matches the changes "
			    "made", "counter %" PRId64 " after %ld", cur,
			    done);
			break;
		}
		lk = key(P, "log/%06" PRId64, cur + 1);
		snprintf(logv, sizeof(logv), "%" PRId64 ":%ld", cur + 1,
		    (long)getpid());
		snprintf(nv, sizeof(nv), "%" PRId64, cur + 1);
		c[0] = cmp_num(key(P, "counter"), mod == 0 ? ETCD_CMP_CREATE :
		    ETCD_CMP_MOD, mod);
		c[1] = cmp_num(lk, ETCD_CMP_CREATE, 0);
		ops[0] = put_op(key(P, "counter"), nv);
		ops[1] = put_op(lk, logv);
		r = etcd_txn(e, c, 2, ops, 2, NULL, 0, &ok, NULL);
		if (r == 0 && ok)
			done++;
		else if (r == 0) {
			check(false, "txnloop: a compare failed with one "
			    "writer", NULL);
			break;
		} else if (r == APPUSER_ERR_BUSY) {
			busy++;
			pending = true;
		} else if (r == APPUSER_ERR_SYSTEM) {
			sys++;
		} else {
			check(false, "txnloop: txn", "%d %s", r,
			    etcd_errmsg(e));
			break;
		}
	}
	printf("# %ld changes in %.1f s; unknown outcomes %ld (landed %ld), "
	    "unavailable %ld\n", done, (now_us() - t0) / 1e6, busy, resolved,
	    sys);
	check(done == n, "txnloop: every change made", "%ld of %ld", done,
	    n);
	/* the log holds exactly 1..n, each once, written by us */
	etcd_prefix_end(key(P, "log/"), strlen(key(P, "log/")), &pend,
	    &endlen);
	memset(&q, 0, sizeof(q));
	q.key = key(P, "log/");
	q.keylen = strlen(q.key);
	q.range_end = pend;
	q.range_endlen = endlen;
	r = etcd_range(e, &q, &res);
	ok = r == 0 && res->nkvs == (size_t)n;
	for (i = 0; ok && i < n; i++) {
		snprintf(logv, sizeof(logv), "%ld:%ld", i + 1, (long)getpid());
		if (strcmp(res->kvs[i].value, logv) != 0 ||
		    res->kvs[i].version != 1)
			ok = false;
	}
	check(ok, "txnloop: no change lost or applied twice",
	    "%d nkvs=%zu", r, res ? res->nkvs : 0);
	etcd_range_free(res);
	res = NULL;
	r = get(e, key(P, "counter"), &v, &mod);
	check(r == 0 && v != NULL && strtol(v, NULL, 10) == n,
	    "txnloop: the counter ends at N", "%s", v ? v : "(null)");
	free(v);
	free(pend);
	etcd_close(e);
}

/* --- down ---------------------------------------------------------------- */

static void
mode_down(void)
{
	struct etcd *e = client(2000, 0);
	struct etcd_range_req q = { .key = "/x", .keylen = 2 };
	struct etcd_range_res *res = NULL;
	struct etcd_watch_opts o = { .idle_ms = 1000, .unreachable_ms = 2000 };
	struct etcd_op op = put_op("/x", "y");
	int64_t t0, dt;
	bool ok;
	int r;

	r = timed_range(e, &q, &res, &dt);
	check(r == APPUSER_ERR_SYSTEM && strstr(etcd_errmsg(e),
	    "no etcd endpoint answered within 2000 ms") != NULL &&
	    strstr(etcd_errmsg(e), "127.0.0.1") != NULL,
	    "all members down: range fails with a clear error", "%d %s", r,
	    etcd_errmsg(e));
	printf("# %s\n", etcd_errmsg(e));
	check(dt >= 1500000 && dt < 2600000, "within the timeout (2 s)",
	    "%.2f s", dt / 1e6);
	t0 = now_us();
	r = etcd_txn(e, NULL, 0, &op, 1, NULL, 0, &ok, NULL);
	dt = now_us() - t0;
	check(r == APPUSER_ERR_SYSTEM && dt < 2600000,
	    "all members down: a txn (never sent) fails in time", "%d %.2f s "
	    "%s", r, dt / 1e6, etcd_errmsg(e));
	r = timed_watch_x(e, &o, &dt);
	check(r == APPUSER_ERR_SYSTEM && dt < 3600000 &&
	    strstr(etcd_errmsg(e), "no etcd endpoint served") != NULL,
	    "all members down: a watch gives up after unreachable_ms",
	    "%d %.2f s %s", r, dt / 1e6, etcd_errmsg(e));
	etcd_close(e);
}

/* --- strict: a fake gateway (tests/etcd/fake_gateway.py) ------------------ */

static int
split_cb(void *arg, const struct etcd_watch_batch *b)
{
	(void)arg;
	return b->nevents == 1 && b->revision == 7 &&
	    strcmp(b->events[0].kv.value, "v") == 0 ? 1 : 0;
}

static void
mode_strict(void)
{
	static const char *const corrupt[] = {
		"rev-garbage", "rev-float", "no-header", "kvs-object",
		"bad-base64", "dup-field", "not-json", "array", "more-string",
		"count-short", "neg-rev", "empty-key", "huge-int",
	};
	static const struct {
		const char *scen;
		int want;
		const char *msg;
	} watches[] = {
		{ "w-bad-type", APPUSER_ERR_CORRUPT, "malformed event" },
		{ "w-before-created", APPUSER_ERR_CORRUPT, "malformed line" },
		{ "w-older", APPUSER_ERR_CORRUPT, "malformed event" },
		{ "w-unordered", APPUSER_ERR_CORRUPT, "malformed event" },
		{ "w-permission", APPUSER_ERR_PERMISSION, "permission denied" },
		{ "w-huge", APPUSER_ERR_CORRUPT, "longer than 65536" },
		{ "w-silent", APPUSER_ERR_SYSTEM, "nothing received for 700 ms" },
		{ "w-split", 1, NULL },
	};
	struct etcd *e = client(1500, 65536);
	struct etcd_range_req q;
	struct etcd_range_res *res = NULL;
	struct etcd_watch_opts o = { .idle_ms = 700, .unreachable_ms = 1500 };
	struct etcd_op op = put_op("/s/txn-succeeded-string", "x");
	char name[160];
	int64_t t0;
	size_t i;
	bool ok;
	int r;

	for (i = 0; i < sizeof(corrupt) / sizeof(corrupt[0]); i++) {
		memset(&q, 0, sizeof(q));
		q.key = key("/s/", "%s", corrupt[i]);
		q.keylen = strlen(q.key);
		r = etcd_range(e, &q, &res);
		snprintf(name, sizeof(name), "strict: range answer \"%s\" is "
		    "refused as corrupt", corrupt[i]);
		check(r == APPUSER_ERR_CORRUPT && res == NULL, name, "%d %s", r,
		    etcd_errmsg(e));
		etcd_range_free(res);
		res = NULL;
	}
	r = etcd_txn(e, NULL, 0, &op, 1, NULL, 0, &ok, NULL);
	check(r == APPUSER_ERR_CORRUPT, "strict: \"succeeded\" as a string is "
	    "refused", "%d %s", r, etcd_errmsg(e));
	memset(&q, 0, sizeof(q));
	q.key = "/s/http-502";
	q.keylen = strlen(q.key);
	t0 = now_us();
	r = etcd_range(e, &q, &res);
	check(r == APPUSER_ERR_SYSTEM && strstr(etcd_errmsg(e),
	    "HTTP status 502") != NULL && now_us() - t0 < 2500000,
	    "strict: HTTP 502 without JSON: retried until the deadline",
	    "%d %s", r, etcd_errmsg(e));
	for (i = 0; i < sizeof(watches) / sizeof(watches[0]); i++) {
		const char *k = key("/s/", "%s", watches[i].scen);

		r = etcd_watch(e, k, strlen(k), NULL, 0, 3, &o,
		    watches[i].want == 1 ? split_cb : never_cb, NULL, NULL);
		snprintf(name, sizeof(name), "strict: watch \"%s\" gives %d",
		    watches[i].scen, watches[i].want);
		check(r == watches[i].want && (watches[i].msg == NULL ||
		    strstr(etcd_errmsg(e), watches[i].msg) != NULL), name,
		    "%d %s", r, etcd_errmsg(e));
	}
	etcd_close(e);
}

/* --- noleader: one member left of three ----------------------------------- */

static void
mode_noleader(void)
{
	struct etcd *e = client(2000, 0);
	struct etcd_range_req q = { .key = "/x", .keylen = 2 };
	struct etcd_range_res *res = NULL;
	struct etcd_watch_opts o = { .idle_ms = 10000, .unreachable_ms = 5000 };
	int64_t dt;
	int r;

	q.flags = ETCD_RANGE_SERIALIZABLE;
	r = etcd_range(e, &q, &res);
	check(r == 0, "without quorum a serializable range still works",
	    "%d %s", r, etcd_errmsg(e));
	etcd_range_free(res);
	res = NULL;
	q.flags = 0;
	r = timed_range(e, &q, &res, &dt);
	check(r == APPUSER_ERR_SYSTEM && dt < 2600000,
	    "without quorum a linearizable range fails within the timeout",
	    "%d %.2f s %s", r, dt / 1e6, etcd_errmsg(e));
	etcd_range_free(res);
	r = timed_watch_x(e, &o, &dt);
	check(r == APPUSER_ERR_SYSTEM && strstr(etcd_errmsg(e), "no leader") !=
	    NULL && dt < 9000000,
	    "a watch on a member without a leader ends (hasleader) and gives "
	    "up after unreachable_ms", "%d %.2f s %s", r, dt / 1e6,
	    etcd_errmsg(e));
	printf("# %s (%.1f s)\n", etcd_errmsg(e), dt / 1e6);
	etcd_close(e);
}

/* --- auth ---------------------------------------------------------------- */

static struct etcd *
fleet_client(const char *conf, struct fleet_conf **cp)
{
	struct fleet_conf *c = NULL;
	struct etcd *e = NULL;
	char err[512];

	if (fleet_conf_load(conf, &c, err, sizeof(err)) != 0 ||
	    etcd_open_fleet(c, 5000, &e, err, sizeof(err)) != 0) {
		printf("# %s\n", err);
		fleet_conf_free(c);
		return NULL;
	}
	*cp = c;
	return e;
}

static int
first_event_cb(void *arg, const struct etcd_watch_batch *b)
{
	(void)arg;
	return b->nevents > 0 && strcmp(b->events[0].kv.value, "seen") == 0 ?
	    1 : 0;
}

static void
mode_auth(const char *P, const char *hostconf, const char *rootconf,
    const char *adduser)
{
	struct fleet_conf *hc = NULL, *rc = NULL;
	struct etcd *h, *root, *bad;
	struct etcd_config cfg;
	struct etcd_op op = put_op(key(P, "a"), "1");
	struct etcd_watch_opts o = { .idle_ms = 5000, .unreachable_ms = 5000 };
	char *v = NULL, err[256], *pw = NULL;
	int64_t mod, rev = 0;
	bool ok = false;
	int r;

	root = fleet_client(rootconf, &rc);
	h = fleet_client(hostconf, &hc);
	check(root != NULL && h != NULL, "clients from fleet.conf (TLS, a "
	    "password file)", NULL);
	if (root == NULL || h == NULL)
		return;
	r = etcd_txn(root, NULL, 0, &op, 1, NULL, 0, &ok, &rev);
	check(r == 0 && ok, "root writes over TLS with a token", "%d %s", r,
	    etcd_errmsg(root));
	r = get(h, key(P, "a"), &v, &mod);
	check(r == 0 && v != NULL && strcmp(v, "1") == 0 &&
	    etcd_auth_count(h) == 1, "the host user reads the prefix",
	    "%d %s", r, etcd_errmsg(h));
	free(v);
	op = put_op(key(P, "a"), "2");
	r = etcd_txn(h, NULL, 0, &op, 1, NULL, 0, &ok, NULL);
	check(r == APPUSER_ERR_PERMISSION && strstr(etcd_errmsg(h),
	    "permission denied") != NULL, "the host user cannot write",
	    "%d %s", r, etcd_errmsg(h));
	r = get(h, "/elsewhere/x", &v, &mod);
	check(r == APPUSER_ERR_PERMISSION,
	    "the host user cannot read outside the prefix", "%d %s", r,
	    etcd_errmsg(h));
	/* adding any user invalidates every token: renewed transparently */
	r = system(adduser);
	check(r == 0, "an etcd user is added", "%d", r);
	r = get(h, key(P, "a"), &v, &mod);
	check(r == 0 && v != NULL && etcd_auth_count(h) == 2,
	    "the host's token is renewed after the auth store changed",
	    "%d auths=%u %s", r, etcd_auth_count(h), etcd_errmsg(h));
	free(v);
	r = system(adduser);	/* again, then a write as root */
	check(r == 0, "etcdctl user add (again)", "%d", r);
	op = put_op(key(P, "a"), "seen");
	r = etcd_txn(root, NULL, 0, &op, 1, NULL, 0, &ok, &rev);
	check(r == 0 && ok && etcd_auth_count(root) == 2,
	    "a txn is re-sent after renewing the token", "%d auths=%u %s", r,
	    etcd_auth_count(root), etcd_errmsg(root));
	r = etcd_watch(h, key(P, "a"), strlen(key(P, "a")), NULL, 0, rev, &o,
	    first_event_cb, NULL, NULL);
	check(r == 1, "the host user watches the prefix over TLS", "%d %s",
	    r, etcd_errmsg(h));
	/* a wrong password: DENIED, and the message has no secret */
	if (fleet_conf_read_password(hc, &pw, err, sizeof(err)) == 0) {
		memset(&cfg, 0, sizeof(cfg));
		cfg.endpoints = (const char *const *)hc->endpoints;
		cfg.nendpoints = hc->nendpoints;
		cfg.cacert = hc->cacert;
		cfg.cert = hc->cert;
		cfg.key = hc->key;
		cfg.user = hc->user;
		cfg.password = "wrong-password";
		cfg.timeout_ms = 3000;
		if (etcd_open(&cfg, &bad, err, sizeof(err)) == 0) {
			r = get(bad, key(P, "a"), &v, &mod);
			check(r == APPUSER_ERR_DENIED && strstr(etcd_errmsg(bad),
			    "authentication") != NULL && strstr(
			    etcd_errmsg(bad), "wrong-password") == NULL,
			    "a wrong password: DENIED, a clear message "
			    "without the password", "%d %s", r,
			    etcd_errmsg(bad));
			etcd_close(bad);
		}
		cfg.user = NULL;
		cfg.password = NULL;
		if (etcd_open(&cfg, &bad, err, sizeof(err)) == 0) {
			r = get(bad, key(P, "a"), &v, &mod);
			check(r == APPUSER_ERR_DENIED,
			    "no user: DENIED", "%d %s", r, etcd_errmsg(bad));
			etcd_close(bad);
		}
		fleet_password_free(pw);
	} else
		check(false, "read the host password", "%s", err);
	etcd_close(h);
	etcd_close(root);
	fleet_conf_free(hc);
	fleet_conf_free(rc);
}

/* --- renew: simple tokens expire when unused ------------------------------- */

static void
mode_renew(const char *P, const char *hostconf)
{
	struct fleet_conf *hc = NULL;
	struct etcd *h;
	char *v = NULL;
	int64_t mod;
	int r;

	if ((h = fleet_client(hostconf, &hc)) == NULL) {
		check(false, "renew: a client from fleet.conf", NULL);
		return;
	}
	r = get(h, key(P, "a"), &v, &mod);
	check(r == 0 && etcd_auth_count(h) == 1,
	    "renew: the host user reads with a simple token", "%d %s", r,
	    etcd_errmsg(h));
	free(v);
	v = NULL;
	sleep(4);	/* the members run with --auth-token-ttl 2 */
	r = get(h, key(P, "a"), &v, &mod);
	check(r == 0 && etcd_auth_count(h) == 2,
	    "renew: an expired simple token (\"invalid auth token\") is "
	    "renewed", "%d auths=%u %s", r, etcd_auth_count(h),
	    etcd_errmsg(h));
	free(v);
	etcd_close(h);
	fleet_conf_free(hc);
}

/* --- bench --------------------------------------------------------------- */

static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

static void
report(const char *what, int64_t *us, long n)
{
	qsort(us, (size_t)n, sizeof(*us), cmp_i64);
	printf("# %s: n=%ld p50 %.2f ms, p99 %.2f ms, max %.2f ms\n", what,
	    n, us[n / 2] / 1000.0, us[(n * 99) / 100] / 1000.0,
	    us[n - 1] / 1000.0);
}

static void
mode_bench(const char *P, long n)
{
	struct etcd *e = client(5000, 0);
	int64_t *us = calloc((size_t)n, sizeof(*us)), t0, mod = 0;
	struct etcd_cmp c;
	struct etcd_op ops[2];
	char *v = NULL, val[32];
	bool ok;
	long i, fails = 0;

	etcd_put(e, key(P, "b"), strlen(key(P, "b")), "0", 1, &mod);
	for (i = 0; i < n; i++) {
		t0 = now_us();
		if (get(e, key(P, "b"), &v, &mod) != 0)
			fails++;
		us[i] = now_us() - t0;
		free(v);
	}
	report("range (1 key, linearizable)", us, n);
	for (i = 0; i < n; i++) {
		snprintf(val, sizeof(val), "%ld", i);
		c = cmp_num(key(P, "b"), ETCD_CMP_MOD, mod);
		ops[0] = put_op(key(P, "b"), val);
		ops[1] = put_op(key(P, "b2"), val);
		t0 = now_us();
		if (etcd_txn(e, &c, 1, ops, 2, NULL, 0, &ok, &mod) != 0 || !ok)
			fails++;
		us[i] = now_us() - t0;
	}
	report("txn (compare + 2 puts)", us, n);
	check(fails == 0, "bench: every call succeeded", "%ld failed", fails);
	free(us);
	etcd_close(e);
}

int
main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc >= 3 && strcmp(argv[1], "basic") == 0)
		mode_basic(argv[2]);
	else if (argc >= 5 && strcmp(argv[1], "compacted") == 0)
		mode_compacted(argv[2], strtoll(argv[3], NULL, 10),
		    strtoll(argv[4], NULL, 10));
	else if (argc >= 4 && strcmp(argv[1], "txnloop") == 0)
		mode_txnloop(argv[2], strtol(argv[3], NULL, 10));
	else if (argc >= 2 && strcmp(argv[1], "down") == 0)
		mode_down();
	else if (argc >= 2 && strcmp(argv[1], "strict") == 0)
		mode_strict();
	else if (argc >= 2 && strcmp(argv[1], "noleader") == 0)
		mode_noleader();
	else if (argc >= 6 && strcmp(argv[1], "auth") == 0)
		mode_auth(argv[2], argv[3], argv[4], argv[5]);
	else if (argc >= 4 && strcmp(argv[1], "renew") == 0)
		mode_renew(argv[2], argv[3]);
	else if (argc >= 4 && strcmp(argv[1], "bench") == 0)
		mode_bench(argv[2], strtol(argv[3], NULL, 10));
	else {
		fprintf(stderr, "usage: see tests/test_etcd.c\n");
		return 2;
	}
	return failures == 0 ? 0 : 1;
}
