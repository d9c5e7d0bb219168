/*
 * Fleet loader for bench/bench_fleet_sync.sh (make bench): fills a fleet
 * with many users and tokens fast, in exactly the fleet's data model
 * (admin/fleet.h), so that the initial sync of a host can be timed.
 * `appuser --fleet F import` does the same one chunk at a time, reading
 * every name and uid first (~225 users/s); this writes 42 users and their
 * tokens per txn from several connections at once.
 *
 *   bench_fleet_load FLEETCONF NUSERS TOKENS_PER_USER JOBS TOKENFILE
 *       [USERSFILE]
 *
 * Users are named fb0000001 ... (fb + NUSERS zero-padded to 7 digits).
 * Their uids are allocated as the fleet allocates them (cmd_fleet.c,
 * alloc_uid): from the meta's next_uid on, inside (uid_min, uid_max],
 * never the admin gid, never a uid whose uid/ key exists, wrapping around.
 * One txn first moves the meta's next_uid past all of them, guarded by the
 * meta's mod_revision (create_revision 0 if absent), so the meta is what
 * the fleet would hold after creating them one by one, and a concurrent
 * `appuser --fleet F create` cannot take one of these uids.  Then every
 * txn puts user/<name>, uid/<uid> and token/<name>/<id> for its users,
 * each guarded by create_revision == 0, as the CLI's are; a txn whose
 * outcome is unknown (BUSY) is sent again as it was and counts as done if
 * its first user is there with its uid.  Users and tokens are filled as
 * `appuser --fleet F create NAME` and `token create NAME` fill them (home
 * /nonexistent, shell /bin/sh, no description, no expiry, no allow list,
 * no scope); only the tokens' verifiers go to etcd.
 *
 * TOKENFILE (created 0600, must not exist): the last user's first token,
 * so that the bench can check a host admits it.  Every other secret is
 * wiped unseen.  USERSFILE: the same users as JSON lines for a local
 * `appuser import` (the baseline).  Prints one line: users, tokens, txns,
 * seconds.  Exit 0, 1 if the fleet refused (a name or uid taken, the meta
 * changed meanwhile), 2 on errors.
 */
#include <sys/wait.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "fleet.h"
#include "token.h"

#include "bench.h"

#define TXN_OPS		128	/* etcd's default --max-txn-ops */
#define MAX_JOBS	16
#define MAX_TOKENS	32	/* per user */
#define TRIES		5
#define TIMEOUT_MS	30000

struct plan {
	const char	*conf;
	size_t		 n, k;		/* users, tokens per user */
	uint32_t	*uid;		/* uid[i] of user i */
	int64_t		 now;
	const char	*tokfile;
};

static void
user_name(size_t i, char *buf, size_t len)
{
	snprintf(buf, len, "fb%07zu", i + 1);
}

static int
open_fleet(const char *conf, struct fleet **fp)
{
	char err[512];
	int r;

	if ((r = fleet_open(conf, TIMEOUT_MS, fp, err, sizeof(err))) != 0)
		fprintf(stderr, "bench_fleet_load: %s\n", err);
	return r;
}

static int
fail(struct fleet *f, int r, const char *what)
{
	fprintf(stderr, "bench_fleet_load: %s: %s\n", what,
	    f != NULL && etcd_errmsg(f->etcd)[0] ? etcd_errmsg(f->etcd) :
	    appuser_strerror(r));
	return r;
}

/* ---- planning: the meta, the taken uids, the allocation ------------- */

struct taken {
	uint32_t	*v;
	size_t		 n, cap;
	size_t		 prefixlen;
};

static int
collect_uid(void *arg, const struct etcd_kv *kv)
{
	struct taken *t = arg;
	uint32_t *nv;

	if (kv->keylen != t->prefixlen + 10)
		return 0;	/* not a uid key of ours */
	if (t->n == t->cap) {
		t->cap = t->cap ? 2 * t->cap : 1024;
		if ((nv = reallocarray(t->v, t->cap, sizeof(*nv))) == NULL)
			return APPUSER_ERR_NOMEM;
		t->v = nv;
	}
	t->v[t->n++] = (uint32_t)strtoul(kv->key + t->prefixlen, NULL, 10);
	return 0;
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

/* Every uid the fleet holds (uid/ keys, sorted: 10 digits). */
static int
read_taken(struct fleet *f, struct taken *t)
{
	char key[FLEET_KEY_MAX], *end = NULL;
	size_t endlen;
	int64_t rev;
	int n, r;

	if ((n = fleet_key_uid(f, 0, key, sizeof(key))) < 0)
		return APPUSER_ERR_INVALID;
	t->prefixlen = (size_t)n - 10;
	if ((r = etcd_prefix_end(key, t->prefixlen, &end, &endlen)) != 0)
		return r;
	r = etcd_range_all(f->etcd, key, t->prefixlen, end, endlen, 0, 5000,
	    ETCD_RANGE_KEYS_ONLY, collect_uid, t, &rev);
	free(end);
	return r;
}

/* As alloc_uid in admin/cmd_fleet.c: the next free uid from *cursor. */
static int
alloc_uid(const struct meta *m, const struct taken *t, uint32_t *cursor,
    uint32_t *uidp)
{
	uint64_t tried, span = (uint64_t)m->uid_max - m->uid_min;
	uint32_t uid = *cursor;

	for (tried = 0; tried < span; tried++, uid++) {
		if (uid <= m->uid_min || uid > m->uid_max)
			uid = m->uid_min + 1;
		if (uid == m->admin_gid || (t->n > 0 && bsearch(&uid, t->v,
		    t->n, sizeof(*t->v), cmp_u32) != NULL))
			continue;
		*uidp = uid;
		*cursor = uid + 1;
		return 0;
	}
	return APPUSER_ERR_RANGE;
}

/*
 * Allocate every uid and move the fleet's next_uid past them, in one txn
 * guarded by the meta as read.
 */
static int
reserve(struct fleet *f, struct plan *p)
{
	struct etcd_range_res *res = NULL;
	struct taken t = { NULL, 0, 0, 0 };
	struct etcd_cmp cmp;
	struct etcd_op op;
	struct meta m;
	char key[FLEET_KEY_MAX];
	uint8_t *val = NULL;
	size_t i, len;
	uint32_t cursor;
	int64_t rev;
	bool ok;
	int n, r;

	memset(&m, 0, sizeof(m));
	if ((n = fleet_key_meta(f, key, sizeof(key))) < 0)
		return APPUSER_ERR_INVALID;
	memset(&cmp, 0, sizeof(cmp));
	memset(&op, 0, sizeof(op));
	cmp.key = op.key = key;
	cmp.keylen = op.keylen = (size_t)n;
	cmp.target = ETCD_CMP_CREATE;
	if ((r = etcd_range(f->etcd, &(struct etcd_range_req){ .key = key,
	    .keylen = (size_t)n }, &res)) != 0)
		return fail(f, r, "cannot read the fleet's meta");
	if (res->nkvs == 0)
		fleet_meta_default(&m);
	else if ((r = record_decode_meta((const uint8_t *)res->kvs[0].value,
	    res->kvs[0].valuelen, &m)) != 0) {
		fail(NULL, r, "the fleet's meta");
		goto out;
	} else {
		cmp.target = ETCD_CMP_MOD;
		cmp.number = res->kvs[0].mod_revision;
	}
	if ((r = read_taken(f, &t)) != 0) {
		fail(f, r, "cannot read the fleet's uids");
		goto out;
	}
	if (t.n > 0)
		qsort(t.v, t.n, sizeof(*t.v), cmp_u32);
	cursor = m.next_uid;
	for (i = 0; i < p->n; i++)
		if ((r = alloc_uid(&m, &t, &cursor, &p->uid[i])) != 0) {
			fail(NULL, r, "no free uid left in the fleet's range");
			goto out;
		}
	m.next_uid = cursor;
	if ((r = fleet_encode_meta(&m, &val, &len)) != 0)
		goto out;
	op.type = ETCD_OP_PUT;
	op.value = val;
	op.valuelen = len;
	if ((r = etcd_txn(f->etcd, &cmp, 1, &op, 1, NULL, 0, &ok, &rev)) != 0)
		fail(f, r, "cannot reserve the uids");
	else if (!ok) {
		fprintf(stderr, "bench_fleet_load: the fleet's meta changed "
		    "meanwhile\n");
		r = APPUSER_ERR_EXISTS;
	}
 out:
	free(val);
	free(t.v);
	meta_clear(&m);
	etcd_range_free(res);
	return r;
}

/* ---- loading: txns of users and their tokens ------------------------- */

struct chunk {
	struct etcd_cmp	 cmp[TXN_OPS];
	struct etcd_op	 op[TXN_OPS];
	char		 key[TXN_OPS][FLEET_KEY_MAX];
	uint8_t		*val[TXN_OPS];
	char		 name[TXN_OPS / 2][APPUSER_NAME_MAX + 1];
	size_t		 nops;
	char		 sample[TOKEN_LEN + 1];	/* "" unless in this chunk */
};

static void
chunk_clear(struct chunk *c)
{
	size_t i;

	for (i = 0; i < TXN_OPS; i++)	/* also one encoded but not put */
		free(c->val[i]);
	sodium_memzero(c->sample, sizeof(c->sample));
	memset(c, 0, sizeof(*c));
}

/* One put of key (formatted by the caller into c->key[nops]), created. */
static void
chunk_put(struct chunk *c, size_t keylen, const void *val, size_t vallen)
{
	struct etcd_cmp *cmp = &c->cmp[c->nops];
	struct etcd_op *op = &c->op[c->nops];

	cmp->key = op->key = c->key[c->nops];
	cmp->keylen = op->keylen = keylen;
	cmp->target = ETCD_CMP_CREATE;
	cmp->result = ETCD_CMP_EQUAL;
	op->type = ETCD_OP_PUT;
	op->value = val;
	op->valuelen = vallen;
	c->nops++;
}

static int
chunk_tokens(struct fleet *f, const struct plan *p, struct chunk *c,
    size_t i, size_t ui)
{
	char tok[TOKEN_LEN + 1];
	struct token t;
	size_t j, len;
	int r = 0;

	for (j = 0; j < p->k && r == 0; j++) {
		int n;

		memset(&t, 0, sizeof(t));
		t.user = c->name[ui];
		t.uid = p->uid[i];
		t.description = t.last_ip = t.last_service = "";
		t.create_time = p->now;
		if ((r = token_generate(tok, t.id, t.verifier)) != 0 ||
		    (r = fleet_encode_token(&t, &c->val[c->nops], &len)) != 0)
			break;
		if ((n = fleet_key_token(f, t.user, t.id, c->key[c->nops],
		    FLEET_KEY_MAX)) < 0)
			r = APPUSER_ERR_INVALID;
		else
			chunk_put(c, (size_t)n, c->val[c->nops], len);
		if (i == p->n - 1 && j == 0)
			memcpy(c->sample, tok, sizeof(c->sample));
	}
	sodium_memzero(tok, sizeof(tok));
	return r;
}

/* The txn of users [first, first + nu): user/, uid/, their token/ keys. */
static int
chunk_build(struct fleet *f, const struct plan *p, struct chunk *c,
    size_t first, size_t nu)
{
	struct user u;
	size_t ui, len;

	for (ui = 0; ui < nu; ui++) {
		int n, r;

		user_name(first + ui, c->name[ui], sizeof(c->name[ui]));
		memset(&u, 0, sizeof(u));
		u.name = c->name[ui];
		u.description = "";
		u.home = "/nonexistent";
		u.shell = "/bin/sh";
		u.uid = u.gid = p->uid[first + ui];
		u.create_time = p->now;
		if ((r = record_encode_user(&u, &c->val[c->nops], &len)) != 0)
			return r;
		if ((n = fleet_key_user(f, u.name, c->key[c->nops],
		    FLEET_KEY_MAX)) < 0)
			return APPUSER_ERR_INVALID;
		chunk_put(c, (size_t)n, c->val[c->nops], len);
		if ((n = fleet_key_uid(f, u.uid, c->key[c->nops],
		    FLEET_KEY_MAX)) < 0)
			return APPUSER_ERR_INVALID;
		chunk_put(c, (size_t)n, u.name, strlen(u.name));
		if ((r = chunk_tokens(f, p, c, first + ui, ui)) != 0)
			return r;
	}
	return 0;
}

/* After a txn of unknown outcome: is its first user there, with its uid? */
static bool
chunk_landed(struct fleet *f, const struct chunk *c, uint32_t uid)
{
	struct etcd_range_res *res = NULL;
	struct user u;
	bool there;

	if (etcd_range(f->etcd, &(struct etcd_range_req){ .key = c->key[0],
	    .keylen = c->cmp[0].keylen }, &res) != 0)
		return false;
	there = res->nkvs == 1 && record_decode_user(
	    (const uint8_t *)res->kvs[0].value, res->kvs[0].valuelen, &u) ==
	    0 && u.uid == uid;
	etcd_range_free(res);
	return there;
}

static int
chunk_send(struct fleet *f, struct chunk *c, uint32_t first_uid)
{
	bool ok, busy = false;
	int64_t rev;
	int tries, r = APPUSER_ERR_BUSY;

	for (tries = 0; tries < TRIES; tries++) {
		r = etcd_txn(f->etcd, c->cmp, c->nops, c->op, c->nops, NULL, 0,
		    &ok, &rev);
		if (r == 0 && ok)
			return 0;
		if (r == 0 || r == APPUSER_ERR_BUSY) {
			if ((r == APPUSER_ERR_BUSY || busy) &&
			    chunk_landed(f, c, first_uid))
				return 0;
			if (r == 0) {
				fprintf(stderr, "bench_fleet_load: %.*s or "
				    "another key of its txn already exists\n",
				    (int)c->cmp[0].keylen, c->key[0]);
				return APPUSER_ERR_EXISTS;
			}
			busy = true;
			continue;
		}
		break;
	}
	return fail(f, r, "txn failed");
}

static int
write_sample(const char *path, const char *tok)
{
	int fd, r = 0;

	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    0600)) == -1 || write(fd, tok, strlen(tok)) !=
	    (ssize_t)strlen(tok) || write(fd, "\n", 1) != 1)
		r = APPUSER_ERR_SYSTEM;
	if (fd != -1 && close(fd) != 0)
		r = APPUSER_ERR_SYSTEM;
	if (r != 0)
		fprintf(stderr, "bench_fleet_load: %s: %s\n", path,
		    strerror(errno));
	return r;
}

/* Worker j of jobs: chunks j, j + jobs, ...  Returns an exit status. */
static int
worker(const struct plan *p, size_t j, size_t jobs)
{
	struct fleet *f = NULL;
	struct chunk *c = NULL;
	size_t per = TXN_OPS / (2 + p->k), first;
	int r;

	if ((c = calloc(1, sizeof(*c))) == NULL || open_fleet(p->conf,
	    &f) != 0) {
		free(c);
		return 2;
	}
	r = 0;
	for (first = j * per; first < p->n && r == 0; first += jobs * per) {
		size_t nu = p->n - first < per ? p->n - first : per;

		if ((r = chunk_build(f, p, c, first, nu)) != 0)
			fail(NULL, r, "cannot encode");
		else if ((r = chunk_send(f, c, p->uid[first])) == 0 &&
		    c->sample[0] != '\0')
			r = write_sample(p->tokfile, c->sample);
		chunk_clear(c);
	}
	free(c);
	fleet_close(f);
	return r == 0 ? 0 : r == APPUSER_ERR_EXISTS ? 1 : 2;
}

static int
write_users(const char *path, const struct plan *p)
{
	char name[APPUSER_NAME_MAX + 1];
	FILE *fp;
	size_t i;
	int r = 0;

	if ((fp = fopen(path, "wxe")) == NULL)
		return APPUSER_ERR_SYSTEM;
	for (i = 0; i < p->n; i++) {
		user_name(i, name, sizeof(name));
		fprintf(fp, "{\"name\": \"%s\"}\n", name);
	}
	if (ferror(fp))
		r = APPUSER_ERR_SYSTEM;
	if (fclose(fp) != 0)
		r = APPUSER_ERR_SYSTEM;
	return r;
}

/* Run the workers; the worst exit status. */
static int
run_jobs(const struct plan *p, size_t jobs)
{
	pid_t pid[MAX_JOBS];
	size_t j, started = 0;
	int st, rc = 0;

	fflush(NULL);
	for (j = 0; j < jobs; j++) {
		if ((pid[j] = fork()) == -1) {
			rc = 2;
			break;
		}
		if (pid[j] == 0)
			_exit(worker(p, j, jobs));
		started++;
	}
	for (j = 0; j < started; j++) {
		if (waitpid(pid[j], &st, 0) == -1 || !WIFEXITED(st))
			rc = 2;
		else if (WEXITSTATUS(st) > rc)
			rc = WEXITSTATUS(st);
	}
	return rc;
}

int
main(int argc, char **argv)
{
	struct plan p;
	struct fleet *f = NULL;
	size_t jobs, per;
	double t0, secs;
	int rc;

	memset(&p, 0, sizeof(p));
	if (argc < 6 || argc > 7 || (p.n = strtoul(argv[2], NULL, 10)) == 0 ||
	    p.n > 9999999 || (p.k = strtoul(argv[3], NULL, 10)) >
	    MAX_TOKENS || (jobs = strtoul(argv[4], NULL, 10)) == 0 ||
	    jobs > MAX_JOBS || argv[1][0] != '/') {
		fprintf(stderr, "usage: bench_fleet_load /FLEETCONF NUSERS "
		    "TOKENS_PER_USER JOBS TOKENFILE [USERSFILE]\n");
		return 2;
	}
	p.conf = argv[1];
	p.tokfile = argv[5];
	p.now = (int64_t)time(NULL);
	if (crypto_init() != 0 || (p.uid = calloc(p.n, sizeof(*p.uid))) ==
	    NULL || open_fleet(p.conf, &f) != 0)
		return 2;
	t0 = fs_mono_s();
	rc = reserve(f, &p);
	fleet_close(f);
	if (rc != 0)
		return rc == APPUSER_ERR_EXISTS ? 1 : 2;
	if (argc == 7 && write_users(argv[6], &p) != 0) {
		fprintf(stderr, "bench_fleet_load: %s: %s\n", argv[6],
		    strerror(errno));
		return 2;
	}
	rc = run_jobs(&p, jobs);
	secs = fs_mono_s() - t0;
	per = TXN_OPS / (2 + p.k);
	if (rc == 0)
		printf("loaded %zu users and %zu tokens in %zu txns, %zu "
		    "connections: %.2f s (%.0f keys/s)\n", p.n, p.n * p.k,
		    (p.n + per - 1) / per + 1, jobs, secs,
		    (double)(p.n * (2 + p.k)) / secs);
	free(p.uid);
	return rc;
}
