/*
 * NSS module, defence in depth: records and metadata the writer would
 * never produce (uid 0, ids out of range, uid != gid, bad names and
 * fields) are never returned.
 */
#include "nss_fixture.h"
#include "keys.h"

/* ---------------------------------------------------------------------- */
/* Defence in depth: records the writer would never produce. */

/*
 * The published identity pair, edited by hand as an attacker with root's
 * files would: every live record read into memory, changed, and written
 * back as one base with no delta, at the same generation.
 */
#define CRAFT_MAX	64
struct craft {
	char		 dir[PATH_MAX];
	uint64_t	 gen;
	size_t		 n;
	struct {
		uint8_t	*k, *v;
		size_t	 kl, vl;
	} r[CRAFT_MAX];
};

static int
craft_put(struct craft *c, const void *k, size_t kl, const void *v,
    size_t vl)
{
	size_t i;

	for (i = 0; i < c->n; i++)
		if (c->r[i].kl == kl && memcmp(c->r[i].k, k, kl) == 0)
			break;
	if (i == c->n) {
		if (c->n == CRAFT_MAX || (c->r[i].k = malloc(kl)) == NULL)
			return -1;
		memcpy(c->r[i].k, k, kl);
		c->r[i].kl = kl;
		c->n++;
	}
	free(c->r[i].v);
	if ((c->r[i].v = malloc(vl ? vl : 1)) == NULL)
		return -1;
	memcpy(c->r[i].v, v, vl);
	c->r[i].vl = vl;
	return 0;
}

/* The value of k (a view into c), or NULL. */
static const uint8_t *
craft_get(const struct craft *c, const void *k, size_t kl, size_t *vlp)
{
	size_t i;

	for (i = 0; i < c->n; i++)
		if (c->r[i].kl == kl && memcmp(c->r[i].k, k, kl) == 0) {
			*vlp = c->r[i].vl;
			return c->r[i].v;
		}
	return NULL;
}

/* The pair of the store in dir, read for editing (free with craft_close);
 * *u a plain user to vary. */
static struct craft *
craft_open(const char *dir, struct user *u)
{
	struct snapset s = { NULL, NULL, NULL };
	struct snaprec rec;
	struct craft *c;
	uint64_t pos = 0;
	int r;

	memset(u, 0, sizeof(*u));
	u->description = "";
	u->home = "/";
	u->shell = "/bin/sh";
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	snprintf(c->dir, sizeof(c->dir), "%s", dir);
	if (snapset_open(dir, SNAP_KIND_IDENTITY, geteuid(), 022, &s) != 0) {
		free(c);
		return NULL;
	}
	c->gen = snapset_generation(&s);
	while ((r = snapset_next(&s, &pos, &rec)) == 0)
		if (craft_put(c, rec.key, rec.klen, rec.val, rec.vlen) != 0)
			break;
	snapset_close(&s);
	if (r != APPUSER_ERR_NOT_FOUND) {
		free(c);	/* a test failure: the leak does not matter */
		return NULL;
	}
	return c;
}

/* Publish c as the store's identity base (no delta) and free it. */
static int
craft_close(struct craft *c)
{
	char tmp[PATH_MAX + 32], path[PATH_MAX + 32];
	struct snapw *w = NULL;
	size_t i;
	int r;

	snprintf(tmp, sizeof(tmp), "%s/craft.tmp", c->dir);
	r = snapw_create(tmp, SNAP_KIND_IDENTITY, 0, c->gen, c->gen, 0644, &w);
	for (i = 0; r == 0 && i < c->n; i++)
		r = snapw_add(w, c->r[i].k, c->r[i].kl, c->r[i].v, c->r[i].vl);
	if (r == 0)
		r = snapw_finish(w);
	else
		snapw_abort(w);
	snprintf(path, sizeof(path), "%s/%s", c->dir, APPUSER_IDENTITY_DELTA);
	if (r == 0 && unlink(path) != 0 && errno != ENOENT)
		r = -1;
	snprintf(path, sizeof(path), "%s/%s", c->dir, APPUSER_IDENTITY_FILE);
	if (r == 0 && rename(tmp, path) != 0)
		r = -1;
	for (i = 0; i < c->n; i++) {
		free(c->r[i].k);
		free(c->r[i].v);
	}
	free(c);
	return r == 0 ? 0 : -1;
}

/* A user record under a name key, a uid key, or both. */
static int
craft_user(struct craft *t, const char *key_name, uint32_t key_uid,
    const struct user *u)
{
	uint8_t *rec = NULL, kb[1 + APPUSER_NAME_MAX + 8];
	size_t len, klen;
	int r = -1;

	if (record_encode_user(u, &rec, &len) != 0)
		return -1;
	if (key_name != NULL) {
		klen = strlen(key_name);
		kb[0] = KEY_USER;
		memcpy(kb + 1, key_name, klen);
		if (craft_put(t, kb, 1 + klen, rec, len) != 0)
			goto out;
	}
	if (key_uid != 0) {
		kb[0] = KEY_UID;
		kb[1] = key_uid >> 24;
		kb[2] = key_uid >> 16;
		kb[3] = key_uid >> 8;
		kb[4] = key_uid;
		if (craft_put(t, kb, 5, rec, len) != 0)
			goto out;
	}
	r = 0;
 out:
	free(rec);
	return r;
}

static void
child_defence(void *arg)
{
	const char *dir = arg;
	char buf[4096];
	struct craft *t;
	struct user u;
	struct passwd pw;
	struct group gr;
	struct namelist *l;
	int err;

	CHECK((t = craft_open(dir, &u)) != NULL);
	u.name = "zero";			/* uid 0 */
	CHECK(craft_user(t, "zero", 0, &u) == 0);
	u.name = "zero2";			/* uid 0 via the uid index */
	CHECK(craft_user(t, "zero2", 0, &u) == 0);
	u.uid = RANGE_MAX + 1;			/* outside the range */
	u.gid = u.uid;
	u.name = "outside";
	CHECK(craft_user(t, "outside", u.uid, &u) == 0);
	u.uid = RANGE_MIN - 1;
	u.gid = u.uid;
	u.name = "below";
	CHECK(craft_user(t, "below", u.uid, &u) == 0);
	u.uid = RANGE_MIN + 500;		/* uid != gid */
	u.gid = u.uid + 1;
	u.name = "mismatch";
	CHECK(craft_user(t, "mismatch", u.uid, &u) == 0);
	u.uid = RANGE_MIN + 502;		/* a field that breaks lines */
	u.gid = u.uid;
	u.name = "newline";
	u.shell = "/bin/sh\nroot::0:0::/:/bin/sh";
	CHECK(craft_user(t, "newline", u.uid, &u) == 0);
	u.uid = RANGE_MIN + 503;
	u.gid = u.uid;
	u.name = "Upper";			/* invalid name */
	u.shell = "/bin/sh";
	CHECK(craft_user(t, "Upper", u.uid, &u) == 0);
	/* an index entry in range leading to a uid-0 record */
	u.uid = 0;
	u.gid = 0;
	u.name = "rootish";
	CHECK(craft_user(t, NULL, RANGE_MIN + 504, &u) == 0);
	CHECK(craft_close(t) == 0);

	CHECK(setenv(APPUSER_STORE_ENV, dir, 1) == 0);
	CHECK(pwnam("alice", &pw, &err) == NSS_STATUS_SUCCESS);
	/* id 0 or a record under another key: the reader calls the record
	 * corrupt; fields the module cannot pack safely: not found */
	CHECK(pwnam("zero", &pw, &err) == NSS_STATUS_UNAVAIL && err == EIO);
	CHECK(pwnam("zero2", &pw, &err) == NSS_STATUS_UNAVAIL && err == EIO);
	CHECK(grnam("zero", &gr, &err) == NSS_STATUS_UNAVAIL && err == EIO);
	CHECK(M.getpwuid_r(0, &pw, buf, sizeof(buf), &err) ==
	    NSS_STATUS_NOTFOUND);
	CHECK(M.getpwuid_r(1, &pw, buf, sizeof(buf), &err) ==
	    NSS_STATUS_NOTFOUND);
	CHECK(M.getgrgid_r(0, &gr, buf, sizeof(buf), &err) ==
	    NSS_STATUS_NOTFOUND);
	/* ids the store's range does not hold, uid != gid: the reader
	 * (idview) calls the record corrupt and hands nothing out */
	CHECK(pwnam("outside", &pw, &err) == NSS_STATUS_UNAVAIL && err == EIO);
	CHECK(M.getpwuid_r(RANGE_MAX + 1, &pw, buf, sizeof(buf), &err) ==
	    NSS_STATUS_NOTFOUND);		/* never asked: out of range */
	CHECK(pwnam("below", &pw, &err) == NSS_STATUS_UNAVAIL && err == EIO);
	CHECK(M.getgrgid_r(RANGE_MIN - 1, &gr, buf, sizeof(buf), &err) ==
	    NSS_STATUS_NOTFOUND);
	CHECK(pwnam("mismatch", &pw, &err) == NSS_STATUS_UNAVAIL &&
	    err == EIO);
	CHECK(grnam("mismatch", &gr, &err) == NSS_STATUS_UNAVAIL &&
	    err == EIO);
	CHECK(M.getpwuid_r(RANGE_MIN + 504, &pw, buf, sizeof(buf), &err) ==
	    NSS_STATUS_UNAVAIL && err == EIO);
	CHECK(M.getgrgid_r(RANGE_MIN + 504, &gr, buf, sizeof(buf), &err) ==
	    NSS_STATUS_UNAVAIL && err == EIO);
	CHECK(pwnam("Upper", &pw, &err) == NSS_STATUS_NOTFOUND);
	CHECK(M.getpwuid_r(RANGE_MIN + 503, &pw, buf, sizeof(buf), &err) ==
	    NSS_STATUS_NOTFOUND);
	CHECK(pwnam("newline", &pw, &err) == NSS_STATUS_NOTFOUND);
	CHECK(grnam("newline", &gr, &err) == NSS_STATUS_NOTFOUND);
	CHECK(M.getpwuid_r(RANGE_MIN + 502, &pw, buf, sizeof(buf), &err) ==
	    NSS_STATUS_NOTFOUND);
	/* only the two real users are enumerated */
	CHECK((l = calloc(1, sizeof(*l))) != NULL);
	M.setpwent(0);
	while (M.getpwent_r(&pw, buf, sizeof(buf), &err) ==
	    NSS_STATUS_SUCCESS) {
		CHECK(l->n < 64);
		CHECK(pw.pw_uid >= RANGE_MIN && pw.pw_uid <= RANGE_MAX);
		snprintf(l->names[l->n++], sizeof(l->names[0]), "%s",
		    pw.pw_name);
	}
	M.endpwent();
	CHECK(l->n == 2);
	CHECK(find_name(l, "alice") != SIZE_MAX);
	CHECK(find_name(l, "bob") != SIZE_MAX);
	l->n = 0;
	M.setgrent(0);
	while (M.getgrent_r(&gr, buf, sizeof(buf), &err) ==
	    NSS_STATUS_SUCCESS) {
		CHECK(l->n < 64);
		CHECK(gr.gr_gid >= RANGE_MIN && gr.gr_gid <= RANGE_MAX);
		l->n++;
	}
	M.endgrent();
	CHECK(l->n == 3);
	free(l);
}

/* A name key whose record carries another name, a uid key whose record
 * carries another uid: neither lookup answers with the wrong record. */
static void
child_mismatch(void *arg)
{
	const char *dir = arg;
	char buf[4096];
	struct craft *t;
	struct user u;
	struct passwd pw;
	int err;

	CHECK((t = craft_open(dir, &u)) != NULL);
	u.name = "bob";
	u.uid = UID_BOB;
	u.gid = UID_BOB;
	CHECK(craft_user(t, "mallory", RANGE_MIN + 505, &u) == 0);
	CHECK(craft_close(t) == 0);
	CHECK(setenv(APPUSER_STORE_ENV, dir, 1) == 0);
	CHECK(pwnam("mallory", &pw, &err) == NSS_STATUS_UNAVAIL && err == EIO);
	CHECK(M.getpwuid_r(RANGE_MIN + 505, &pw, buf, sizeof(buf), &err) ==
	    NSS_STATUS_UNAVAIL && err == EIO);
	CHECK(pwnam("bob", &pw, &err) == NSS_STATUS_SUCCESS);
}

static void
test_defence(void **state)
{
	(void)state;
	run_child_in_store(child_defence, "defence");
	run_child_in_store(child_mismatch, "mismatch");
}

/* A tampered meta: admin group with gid 0, or a range that admits 0. */
static void
child_bad_meta(void *arg)
{
	const int *kind = arg;
	char dir[PATH_MAX];
	struct craft *t;
	struct user u;
	struct meta m;
	struct passwd pw;
	struct group gr;
	gid_t out[4];
	long int n;
	const uint8_t *v;
	uint8_t *enc;
	size_t len, vl;
	int err;

	snprintf(dir, sizeof(dir), "%s/badmeta%d", g_tmp, *kind);
	CHECK(make_small_store(dir) == 0);
	CHECK((t = craft_open(dir, &u)) != NULL);
	CHECK((v = craft_get(t, KEY_META, KEY_META_LEN, &vl)) != NULL);
	CHECK(record_decode_meta(v, vl, &m) == 0);
	if (*kind == 0)
		m.admin_gid = 0;
	else
		m.uid_min = 0;
	CHECK(record_encode_meta(&m, &enc, &len) == 0);
	meta_clear(&m);
	CHECK(craft_put(t, KEY_META, KEY_META_LEN, enc, len) == 0);
	free(enc);
	CHECK(craft_close(t) == 0);

	CHECK(setenv(APPUSER_STORE_ENV, dir, 1) == 0);
	if (*kind == 0) {
		char buf[4096];

		/* a meta the writer never writes: the whole store is
		 * unavailable, and nobody gets gid 0 */
		CHECK(pwnam("alice", &pw, &err) == NSS_STATUS_UNAVAIL);
		CHECK(err == EIO);
		CHECK(grnam(ADMINS, &gr, &err) != NSS_STATUS_SUCCESS);
		CHECK(M.getgrgid_r(0, &gr, buf, sizeof(buf), &err) ==
		    NSS_STATUS_NOTFOUND);
		n = 0;
		CHECK(initgr("alice", UID_ALICE, out, &n, 0) !=
		    NSS_STATUS_SUCCESS);
		CHECK(n == 0);
		M.setgrent(0);
		while (M.getgrent_r(&gr, buf, sizeof(buf), &err) ==
		    NSS_STATUS_SUCCESS)
			CHECK(gr.gr_gid != 0 && strcmp(gr.gr_name, ADMINS));
		M.endgrent();
	} else {
		/* a range that includes 0 is a broken store */
		CHECK(pwnam("alice", &pw, &err) == NSS_STATUS_UNAVAIL);
		CHECK(err == EIO);
	}
}

static void
test_bad_meta(void **state)
{
	int kind;

	(void)state;
	for (kind = 0; kind < 2; kind++)
		assert_int_equal(run_child(child_bad_meta, &kind), 0);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defence),
		cmocka_unit_test(test_bad_meta),
	};

	return nss_fx_run(argc, argv, "nss_appuser defence", tests);
}
