/*
 * appuser-syncd: keeps a host's store in step with its fleet's etcd.
 *
 *   appuser-syncd --fleet FILE [--store DIR] [--once] [--stderr]
 *
 * Full load: the meta, every user/ and every token/ key (the uid/ index
 * only guards allocation in etcd) read in pages of SYNCD_PAGE keys, all
 * pinned at one revision R, applied to the local store in ONE local
 * transaction that also records R (aux "fleet.rev"), so a store always
 * reflects exactly one etcd revision.  The host's NSS answers for every
 * user (four lookups each, which dominate a large load) come from threads
 * that take each user as it is read (nss_check_prefetch_add), so they run
 * during the whole read.
 * Then it watches from R+1 (progress notifications, hasleader)
 * and applies each batch of events in one local transaction recording the
 * batch's last revision; events at or below the recorded revision are
 * ignored, so a batch replayed after a crash or a reconnect cannot apply
 * twice.  A compacted revision means a full resync; a lost endpoint is left
 * for the next one (the etcd client rotates with a jittered backoff); after
 * a restart it resumes from the recorded revision.
 *
 * Merge rules: a fleet user whose name or id the host already resolves
 * (NSS) is skipped and listed in aux "fleet.skipped"; a token revoked
 * locally stays revoked (aux "fleet.lrevoked", and a sync never clears
 * revoke_time anyway, nor moves an expiry later: a rotation only brings
 * it forward); last use is never touched (the store keeps it).
 *
 * The local store is changed only through libappuser/store.h.  Logs go to
 * syslog (authpriv), never a token or a password.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <jansson.h>
#include <pwd.h>
#include <signal.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "fsutil.h"
#include "fleet.h"
#include "token.h"

#define SYNCD_TIMEOUT_MS	5000
#define SYNCD_PAGE		5000
#define SYNCD_UNREACHABLE_MS	30000	/* the watch rides out this much */
#define SYNCD_BACKOFF_MAX_MS	30000

static volatile sig_atomic_t stopping;

struct kvcopy {
	char	*key;
	size_t	 keylen;
	uint8_t	*val;
	size_t	 vallen;
};

struct syncd {
	struct fleet	*f;
	const char	*conf_path;
	const char	*dir;
	char		*prefix_end;
	size_t		 prefix_endlen;
	bool		 once;
	int64_t		 rev;		/* recorded in the store */
	int64_t		 target;	/* --once: reach this revision */
	int64_t		 fleet_rev;	/* etcd's revision, last we heard */
	int64_t		 synced_rev;	/* no event pending up to here */
	time_t		 heard;		/* 0: not yet */
	time_t		 state_written;
	char		 last_error[300];	/* "" when none yet */
	time_t		 last_error_time;
	/* the batch being applied */
	char		*skipped;	/* "name\treason\n" lines */
	bool		 skipped_dirty;
	uint8_t		*lrevoked;
	size_t		 nlrevoked;
	struct kvcopy	*kv;		/* full load: meta, users, tokens */
	size_t		 nkv, capkv;
	size_t		 users, nusers;	/* the users' part of kv */
	size_t		 pf_prefix;	/* reading users: their keys' prefix */
	int		 err;
};

static void
logmsg(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
logmsg(int prio, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsyslog(prio, fmt, ap);
	va_end(ap);
}

static void
on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (!stopping && nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/*
 * STORE/fleet.state (0644 JSON, replaced by rename; read by `appuser fleet
 * status`): endpoints, when the agent last heard from etcd, etcd's revision
 * then and the revision up to which nothing is pending here (their
 * difference is the lag), and the last error.  Written at most once a
 * second unless forced.
 */
static void
write_state(struct syncd *s, bool force)
{
	char path[4096], tmp[4200], eps[1024];
	time_t now = time(NULL);
	json_t *o;
	int fd;
	char *txt;

	if (!force && now == s->state_written)
		return;
	s->state_written = now;
	fleet_endpoints(s->f->conf, eps, sizeof(eps));
	snprintf(path, sizeof(path), "%s/%s", s->dir, FLEET_STATE_FILE);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if ((o = json_pack("{s:I, s:I, s:I, s:I, s:s, s:s, s:s, s:I}",
	    "heard", (json_int_t)s->heard, "revision", (json_int_t)s->rev,
	    "fleet_revision", (json_int_t)s->fleet_rev, "synced_revision",
	    (json_int_t)s->synced_rev, "endpoints", eps, "config",
	    s->conf_path, "last_error", s->last_error, "last_error_time",
	    (json_int_t)s->last_error_time)) == NULL)
		return;
	txt = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (txt == NULL)
		return;
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW |
	    O_CLOEXEC, 0644)) != -1) {
		if (write(fd, txt, strlen(txt)) == (ssize_t)strlen(txt) &&
		    close(fd) == 0)
			(void)rename(tmp, path);
		else
			(void)unlink(tmp);
	}
	free(txt);
}

/*
 * Heard from etcd: its revision, and nothing pending here up to synced.
 * After a change was applied (applied: the state is written at once, so
 * that it never lags the store's recorded revision).
 */
static void
heard(struct syncd *s, int64_t fleet_rev, int64_t synced, bool applied)
{
	s->heard = time(NULL);
	if (fleet_rev > s->fleet_rev)
		s->fleet_rev = fleet_rev;
	if (synced > s->synced_rev)
		s->synced_rev = synced;
	write_state(s, applied);
}

/* Log an error and keep it for `appuser fleet status`. */
static void
note_error(struct syncd *s, int prio, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
note_error(struct syncd *s, int prio, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->last_error, sizeof(s->last_error), fmt, ap);
	va_end(ap);
	s->last_error_time = time(NULL);
	syslog(prio, "%s", s->last_error);
	write_state(s, true);
}

/* ---- the local store ------------------------------------------------- */

struct own {
	const char	*name;		/* look up by name, or by uid */
	uint32_t	 uid;
	bool		 found;
	char		 sname[APPUSER_NAME_MAX + 1];
	uint32_t	 suid;
};

static int
own_copy(const struct user *u, void *arg)
{
	struct own *o = arg;

	o->found = snprintf(o->sname, sizeof(o->sname), "%s", u->name) <
	    (int)sizeof(o->sname);
	o->suid = u->uid;
	return 0;
}

/*
 * Is what the host resolves for o->name (or o->uid) exactly an entry of the
 * snapshot this store has published?  Then the answer came from our own NSS
 * module, about the user this very transaction replaces (deleted and
 * created again with a new uid, in one batch or one full load): not a host
 * account.  Only asked after NSS reported a hit.
 */
static bool
own_entry(const char *dir, struct own *o)
{
	struct idview *v = NULL;
	struct passwd pw, *pwp = NULL;
	struct group gr, *grp = NULL;
	char *buf = NULL;
	size_t len = 16384;
	bool own = false;
	int r;

	if (idview_open(dir, &v) != 0)
		return false;
	r = o->name != NULL ? idview_user_by_name(v, o->name, own_copy, o) :
	    idview_user_by_uid(v, o->uid, own_copy, o);
	idview_close(v);
	if (r != 0 || !o->found || (buf = malloc(len)) == NULL)
		goto out;
	if (o->name != NULL ? getpwnam_r(o->name, &pw, buf, len, &pwp) :
	    getpwuid_r(o->suid, &pw, buf, len, &pwp))
		goto out;
	if (pwp != NULL && (pw.pw_uid != o->suid ||
	    strcmp(pw.pw_name, o->sname) != 0))
		goto out;
	if (o->name != NULL ? getgrnam_r(o->name, &gr, buf, len, &grp) :
	    getgrgid_r(o->suid, &gr, buf, len, &grp))
		goto out;
	if (grp != NULL && (gr.gr_gid != o->suid ||
	    strcmp(gr.gr_name, o->sname) != 0))
		goto out;
	own = true;
 out:
	free(buf);
	return own;
}

/*
 * The store's collision check: NSS, as for the CLI, except that an answer
 * coming from this store's own published snapshot is no host account.
 */
static int
collision(const char *name, uint32_t id, void *arg)
{
	struct syncd *s = arg;
	struct nss_check *n = cli_nss();
	struct own o;
	int r = 0;

	if (name != NULL && name[0] != '\0' &&
	    (r = nss_collision(name, 0, n)) == APPUSER_ERR_EXISTS) {
		memset(&o, 0, sizeof(o));
		o.name = name;
		if (own_entry(s->dir, &o)) {
			nss_check_reset(n);
			r = 0;
		}
	}
	if (r == 0 && id != 0 &&
	    (r = nss_collision(NULL, id, n)) == APPUSER_ERR_EXISTS) {
		memset(&o, 0, sizeof(o));
		o.uid = id;
		if (own_entry(s->dir, &o)) {
			nss_check_reset(n);
			r = 0;
		}
	}
	return r;
}

static int
open_store(struct syncd *s, struct store **stp)
{
	struct store *st = NULL;
	int r;

	if ((r = store_open(s->dir, STORE_WRITE, &st)) != 0) {
		note_error(s, LOG_ERR, "cannot open the store %s: %s",
		    s->dir, appuser_strerror(r));
		return r;
	}
	store_set_collision_check(st, collision, s);
	*stp = st;
	return 0;
}

static int
aux_string(struct store *st, const char *name, char **sp)
{
	uint8_t *v = NULL;
	size_t len = 0;
	int r;

	*sp = NULL;
	if ((r = store_aux_get(st, name, &v, &len)) != 0)
		return r;
	if ((*sp = malloc(len + 1)) == NULL) {
		free(v);
		return APPUSER_ERR_NOMEM;
	}
	memcpy(*sp, v, len);
	(*sp)[len] = '\0';
	free(v);
	return 0;
}

static int
read_recorded(struct syncd *s)
{
	struct store *st = NULL;
	char *v = NULL;
	int r;

	if ((r = open_store(s, &st)) != 0)
		return r;
	r = aux_string(st, FLEET_AUX_REV, &v);
	s->rev = r == 0 ? strtoll(v, NULL, 10) : 0;
	free(v);
	store_close(st);
	return r == 0 || r == APPUSER_ERR_NOT_FOUND ? 0 : r;
}

/* Batch context: the skipped list and the local revocations. */
static int
batch_load(struct syncd *s, struct store *st, bool reset_skipped)
{
	int r;

	free(s->skipped);
	s->skipped = NULL;
	free(s->lrevoked);
	s->lrevoked = NULL;
	s->nlrevoked = 0;
	s->skipped_dirty = reset_skipped;
	if (!reset_skipped &&
	    (r = aux_string(st, FLEET_AUX_SKIPPED, &s->skipped)) != 0 &&
	    r != APPUSER_ERR_NOT_FOUND)
		return r;
	if (s->skipped == NULL && (s->skipped = strdup("")) == NULL)
		return APPUSER_ERR_NOMEM;
	r = store_aux_get(st, FLEET_AUX_LREVOKED, &s->lrevoked, &s->nlrevoked);
	return r == APPUSER_ERR_NOT_FOUND ? 0 : r;
}

/* Drop name's line from the skipped list. */
static void
skip_remove(struct syncd *s, const char *name)
{
	size_t nl = strlen(name);
	char *p = s->skipped, *eol;

	while (p != NULL && *p != '\0') {
		eol = strchr(p, '\n');
		if (strncmp(p, name, nl) == 0 && p[nl] == '\t') {
			if (eol == NULL)
				*p = '\0';
			else
				memmove(p, eol + 1, strlen(eol + 1) + 1);
			s->skipped_dirty = true;
			return;
		}
		p = eol != NULL ? eol + 1 : NULL;
	}
}

static int
skip_add(struct syncd *s, const char *name, const char *reason)
{
	size_t len;
	char *n;

	skip_remove(s, name);
	len = strlen(s->skipped);
	if ((n = realloc(s->skipped, len + strlen(name) + strlen(reason) +
	    3)) == NULL)
		return APPUSER_ERR_NOMEM;
	s->skipped = n;
	sprintf(n + len, "%s\t%s\n", name, reason);
	s->skipped_dirty = true;
	return 0;
}

static int
batch_finish(struct syncd *s, struct store *st, int64_t rev)
{
	char buf[32];
	int r;

	if (s->skipped_dirty && (r = store_aux_put(st, FLEET_AUX_SKIPPED,
	    s->skipped, strlen(s->skipped))) != 0)
		return r;
	snprintf(buf, sizeof(buf), "%lld", (long long)rev);
	return store_aux_put(st, FLEET_AUX_REV, buf, strlen(buf));
}

static int
apply_meta(struct syncd *s, struct store *st, const struct meta *fm)
{
	struct meta m;
	int r;

	(void)s;
	if ((r = store_get_meta(st, &m)) != 0)
		return r;
	if ((m.uid_min != fm->uid_min || m.uid_max != fm->uid_max) &&
	    (r = store_set_range(st, fm->uid_min, fm->uid_max)) != 0) {
		logmsg(LOG_ERR, "cannot take the fleet's uid range %lu-%lu: "
		    "%s", (unsigned long)fm->uid_min,
		    (unsigned long)fm->uid_max, appuser_strerror(r));
		return r;
	}
	if ((r = store_get_meta(st, &m)) != 0)
		return r;
	if (strcmp(m.admin_group, fm->admin_group) != 0 &&
	    (r = store_set_admin_group(st, fm->admin_group)) != 0) {
		logmsg(LOG_ERR, "cannot take the fleet's admin group name %s: "
		    "%s", fm->admin_group, appuser_strerror(r));
		return r;
	}
	return 0;
}

static int
apply_user(struct syncd *s, struct store *st, const struct user *u)
{
	struct nss_check *n = cli_nss();
	struct user *l = NULL, a;
	int r;

	r = store_user_get(st, u->name, &l);
	if (r == 0 && l->uid == u->uid) {
		if (l->admin != u->admin)
			r = store_user_set_admin(st, u->name, u->admin);
		user_free(l);
		return r;
	}
	if (r == 0) {
		/* deleted and created again meanwhile: a new uid */
		user_free(l);
		if ((r = store_user_delete(st, u->name)) != 0)
			return r;
	} else if (r != APPUSER_ERR_NOT_FOUND)
		return r;
	a = *u;
	nss_check_reset(n);
	if ((r = store_user_add(st, &a, NULL)) != 0) {
		char reason[300];

		if (r != APPUSER_ERR_EXISTS && r != APPUSER_ERR_RANGE &&
		    r != APPUSER_ERR_INVALID)
			return r;
		if (nss_check_last(n)[0] != '\0')
			snprintf(reason, sizeof(reason), "%s",
			    nss_check_last(n));
		else
			snprintf(reason, sizeof(reason), "uid %lu: %s",
			    (unsigned long)u->uid, appuser_strerror(r));
		logmsg(LOG_WARNING, "skipped fleet user %s (uid %lu): %s",
		    u->name, (unsigned long)u->uid, reason);
		return skip_add(s, u->name, reason);
	}
	if (u->admin && (r = store_user_set_admin(st, u->name, true)) != 0)
		return r;
	skip_remove(s, u->name);
	return 0;
}

static int
apply_token(struct syncd *s, struct store *st, const struct token *t)
{
	struct token *l = NULL;
	struct user *u = NULL;
	int r;

	r = store_token_get(st, t->id, &l);
	if (r == 0) {
		/* a rotation's old token: revoked, or ending early */
		if (t->revoke_time != 0 && l->revoke_time == 0)
			r = store_token_revoke(st, l->user, t->id);
		else if (t->expiry_time != 0 && (l->expiry_time == 0 ||
		    t->expiry_time < l->expiry_time))
			r = store_token_shorten(st, l->user, t->id,
			    t->expiry_time);
		token_free(l);
		return r;
	}
	if (r != APPUSER_ERR_NOT_FOUND)
		return r;
	/* the owner is skipped here, or another user holds the name */
	if (store_user_get(st, t->user, &u) != 0 || u->uid != t->uid) {
		user_free(u);
		return 0;
	}
	user_free(u);
	if ((r = store_token_add(st, t)) != 0) {
		logmsg(LOG_ERR, "cannot add token of %s: %s", t->user,
		    appuser_strerror(r));
		return r;
	}
	if (t->revoke_time == 0 &&
	    fleet_locally_revoked(s->lrevoked, s->nlrevoked, t->id))
		r = store_token_revoke(st, t->user, t->id);
	return r;
}

/* One key's new value (PUT) or its deletion. */
static int
apply_kv(struct syncd *s, struct store *st, const char *key, size_t keylen,
    const uint8_t *val, size_t vallen, bool del)
{
	char buf[FLEET_KEY_MAX];
	const char *name, *id;
	struct meta m;
	struct user u;
	struct token t;
	int r;

	switch (fleet_key_kind(s->f, key, keylen, buf, sizeof(buf), &name,
	    &id)) {
	case FLEET_KEY_META:
		if (del)
			return 0;
		if ((r = record_decode_meta(val, vallen, &m)) != 0)
			return r;
		r = apply_meta(s, st, &m);
		meta_clear(&m);
		return r;
	case FLEET_KEY_USER:
		if (del) {
			skip_remove(s, name);
			r = store_user_delete(st, name);
			return r == APPUSER_ERR_NOT_FOUND ? 0 : r;
		}
		if ((r = record_decode_user(val, vallen, &u)) != 0)
			return r;
		if (strcmp(u.name, name) != 0)
			return APPUSER_ERR_CORRUPT;
		return apply_user(s, st, &u);
	case FLEET_KEY_TOKEN:
		/* tokens go with their user (deleted in the same txn) */
		if (del)
			return 0;
		if ((r = record_decode_token(val, vallen, &t)) != 0)
			return r;
		r = strcmp(t.user, name) != 0 || strcmp(t.id, id) != 0 ?
		    APPUSER_ERR_CORRUPT : apply_token(s, st, &t);
		token_clear(&t);
		return r;
	default:
		return 0;	/* uid/ index, or not ours */
	}
}

/* ---- full load ---------------------------------------------------------- */

/*
 * Queue a user just read for the host lookups (its name and uid); one the
 * prefetch cannot take is looked up when the store asks, and one that does
 * not decode is refused by apply_kv, with the reason.
 */
static void
prefetch_user(struct syncd *s, const struct kvcopy *kv)
{
	struct user u;

	if (kv->keylen <= s->pf_prefix || record_decode_user(kv->val,
	    kv->vallen, &u) != 0)
		return;
	(void)nss_check_prefetch_add(cli_nss(), kv->key + s->pf_prefix,
	    u.uid);
}

static int
collect_kv(void *arg, const struct etcd_kv *kv)
{
	struct syncd *s = arg;
	struct kvcopy *nv;

	if (s->nkv == s->capkv) {
		s->capkv = s->capkv ? s->capkv * 2 : 1024;
		if ((nv = reallocarray(s->kv, s->capkv, sizeof(*nv))) == NULL)
			return s->err = APPUSER_ERR_NOMEM;
		s->kv = nv;
	}
	nv = &s->kv[s->nkv];
	if ((nv->key = malloc(kv->keylen + 1)) == NULL ||
	    (nv->val = malloc(kv->valuelen ? kv->valuelen : 1)) == NULL) {
		free(nv->key);
		return s->err = APPUSER_ERR_NOMEM;
	}
	memcpy(nv->key, kv->key, kv->keylen);
	nv->key[kv->keylen] = '\0';
	nv->keylen = kv->keylen;
	memcpy(nv->val, kv->value, kv->valuelen);
	nv->vallen = kv->valuelen;
	s->nkv++;
	if (s->pf_prefix > 0)
		prefetch_user(s, nv);
	return 0;
}

static void
kv_free(struct syncd *s)
{
	size_t i;

	/* the prefetched names point into kv */
	nss_check_prefetch_clear(cli_nss());
	s->pf_prefix = 0;
	s->users = s->nusers = 0;

	for (i = 0; i < s->nkv; i++) {
		free(s->kv[i].key);
		free(s->kv[i].val);
	}
	free(s->kv);
	s->kv = NULL;
	s->nkv = s->capkv = 0;
}

struct lnames {
	char	**v;
	uint32_t *uid;
	size_t	 n, cap;
};

static int
collect_local(const struct user *u, void *arg)
{
	struct lnames *l = arg;
	void *nv;

	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 64;
		if ((nv = reallocarray(l->v, l->cap, sizeof(*l->v))) == NULL)
			return APPUSER_ERR_NOMEM;
		l->v = nv;
		if ((nv = reallocarray(l->uid, l->cap, sizeof(*l->uid))) ==
		    NULL)
			return APPUSER_ERR_NOMEM;
		l->uid = nv;
	}
	if ((l->v[l->n] = strdup(u->name)) == NULL)
		return APPUSER_ERR_NOMEM;
	l->uid[l->n++] = u->uid;
	return 0;
}

/* The fleet's uid for name at the loaded revision, 0 if none. */
static uint32_t
fleet_uid(struct syncd *s, const char *name)
{
	char key[FLEET_KEY_MAX];
	struct user u;
	size_t lo, hi;
	int n;

	if ((n = fleet_key_user(s->f, name, key, sizeof(key))) < 0)
		return 0;
	lo = s->users;
	hi = s->users + s->nusers;
	while (lo < hi) {	/* etcd returns keys sorted */
		size_t mid = lo + (hi - lo) / 2;
		int c = memcmp(s->kv[mid].key, key, s->kv[mid].keylen <
		    (size_t)n ? s->kv[mid].keylen : (size_t)n);
		if (c == 0)
			c = s->kv[mid].keylen < (size_t)n ? -1 :
			    s->kv[mid].keylen > (size_t)n;
		if (c == 0)
			return record_decode_user(s->kv[mid].val,
			    s->kv[mid].vallen, &u) == 0 ? u.uid : 0;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

static int
apply_full(struct syncd *s, int64_t rev)
{
	struct lnames l = { NULL, NULL, 0, 0 };
	struct store *st = NULL;
	size_t i;
	int r;

	if ((r = open_store(s, &st)) != 0)
		return r;
	if ((r = store_begin(st)) != 0 ||
	    (r = batch_load(s, st, true)) != 0)
		goto out;
	/* local users the fleet no longer has (or has with another uid) */
	if ((r = store_user_foreach(st, collect_local, &l)) != 0)
		goto out;
	for (i = 0; i < l.n; i++)
		if (fleet_uid(s, l.v[i]) != l.uid[i] &&
		    (r = store_user_delete(st, l.v[i])) != 0)
			goto out;
	/* in the order read: meta first (the range), users, tokens */
	for (i = 0; i < s->nkv; i++)
		if ((r = apply_kv(s, st, s->kv[i].key, s->kv[i].keylen,
		    s->kv[i].val, s->kv[i].vallen, false)) != 0) {
			note_error(s, LOG_ERR, "full load at revision %lld: "
			    "%.*s: %s", (long long)rev, (int)s->kv[i].keylen,
			    s->kv[i].key, appuser_strerror(r));
			goto out;
		}
	if ((r = store_aux_put(st, FLEET_AUX_CONF, s->conf_path,
	    strlen(s->conf_path))) != 0 ||
	    (r = batch_finish(s, st, rev)) != 0)
		goto out;
	r = store_commit(st);
 out:
	if (r != 0)
		store_cancel(st);
	store_close(st);
	for (i = 0; i < l.n; i++)
		free(l.v[i]);
	free(l.v);
	free(l.uid);
	return r;
}

/* One key (prefix false) or every key under it, at *revp (0: the latest;
 * then *revp is set to the revision read at). */
static int
read_range(struct syncd *s, const char *key, bool prefix, int64_t *revp)
{
	char *end = NULL;
	size_t endlen = 0;
	int r;

	if (prefix && (r = etcd_prefix_end(key, strlen(key), &end,
	    &endlen)) != 0)
		return r;
	s->err = 0;
	r = etcd_range_all(s->f->etcd, key, strlen(key), end, endlen, *revp,
	    SYNCD_PAGE, 0, collect_kv, s, revp);
	free(end);
	return r;
}

/*
 * What a host applies, at one revision (*revp): the meta, the users, the
 * tokens, in that order into s->kv (users sorted, for fleet_uid).
 */
static int
read_fleet(struct syncd *s, int64_t *revp)
{
	char key[FLEET_KEY_MAX];
	int64_t rev = 0;
	int r;

	if (fleet_key_meta(s->f, key, sizeof(key)) < 0)
		return APPUSER_ERR_INVALID;
	if ((r = read_range(s, key, false, &rev)) != 0)
		return r;
	s->users = s->nkv;
	if (fleet_key_users(s->f, key, sizeof(key)) < 0)
		return APPUSER_ERR_INVALID;
	/* host lookups of each user as it arrives, while the rest is read */
	if (nss_check_prefetch_begin(cli_nss()) == 0)
		s->pf_prefix = strlen(key);
	r = read_range(s, key, true, &rev);
	s->pf_prefix = 0;
	if (r != 0)
		return r;
	s->nusers = s->nkv - s->users;
	if (fleet_key_tokens(s->f, NULL, key, sizeof(key)) < 0)
		return APPUSER_ERR_INVALID;
	if ((r = read_range(s, key, true, &rev)) != 0)
		return r;
	*revp = rev;
	return 0;
}

static int
full_sync(struct syncd *s)
{
	double t0;
	double t_read, t_nss;
	int64_t rev = 0;
	int r, tries;

	t0 = fs_mono_s();
	for (tries = 0; tries < 5; tries++) {
		kv_free(s);
		r = read_fleet(s, &rev);
		if (r != APPUSER_ERR_EXPIRED)	/* compacted while paging */
			break;
	}
	if (r != 0) {
		note_error(s, LOG_ERR, "full load failed: %s",
		    etcd_errmsg(s->f->etcd)[0] ? etcd_errmsg(s->f->etcd) :
		    appuser_strerror(r));
		kv_free(s);
		return r;
	}
	t_read = fs_mono_s() - t0;
	nss_check_prefetch_wait(cli_nss());
	t_nss = (fs_mono_s() - t0) - t_read;
	r = apply_full(s, rev);
	if (r == 0) {
		s->rev = rev;
		logmsg(LOG_INFO, "full load of %zu keys at revision %lld in "
		    "%.2f s (read %.2f s, host accounts %.2f s more, applied "
		    "in %.2f s)", s->nkv, (long long)rev, (fs_mono_s() - t0),
		    t_read, t_nss, (fs_mono_s() - t0) - t_read - t_nss);
		heard(s, rev, rev, true);
	} else
		logmsg(LOG_ERR, "full load at revision %lld not applied: %s",
		    (long long)rev, appuser_strerror(r));
	kv_free(s);
	return r;
}

/* ---- watch --------------------------------------------------------------- */

#define WATCH_DONE	1	/* --once reached its target */
#define WATCH_FAILED	2	/* a batch could not be applied */

static int
on_batch(void *arg, const struct etcd_watch_batch *b)
{
	struct syncd *s = arg;
	struct store *st = NULL;
	const struct etcd_event *ev;
	size_t i, applied = 0;
	int r;

	if (b->nevents == 0 || b->revision <= s->rev) {
		heard(s, b->header_revision, b->revision, false);
		return s->once && b->revision >= s->target ? WATCH_DONE : 0;
	}
	if ((r = open_store(s, &st)) != 0)
		return WATCH_FAILED;
	if ((r = store_begin(st)) != 0 || (r = batch_load(s, st, false)) != 0)
		goto out;
	for (i = 0; i < b->nevents; i++) {
		ev = &b->events[i];
		if (ev->kv.mod_revision <= s->rev)
			continue;	/* applied before */
		if ((r = apply_kv(s, st, ev->kv.key, ev->kv.keylen,
		    (const uint8_t *)ev->kv.value, ev->kv.valuelen,
		    ev->type == ETCD_EVENT_DELETE)) != 0) {
			note_error(s, LOG_ERR, "revision %lld: %.*s: %s",
			    (long long)ev->kv.mod_revision, (int)ev->kv.keylen,
			    ev->kv.key, appuser_strerror(r));
			goto out;
		}
		applied++;
	}
	if ((r = batch_finish(s, st, b->revision)) != 0 ||
	    (r = store_commit(st)) != 0)
		goto out;
	s->rev = b->revision;
	logmsg(LOG_DEBUG, "applied %zu events up to revision %lld", applied,
	    (long long)b->revision);
	heard(s, b->header_revision, b->revision, true);
 out:
	if (r != 0) {
		store_cancel(st);
		logmsg(LOG_ERR, "batch up to revision %lld not applied: %s",
		    (long long)b->revision, appuser_strerror(r));
	}
	store_close(st);
	if (r != 0)
		return WATCH_FAILED;
	return s->once && s->rev >= s->target ? WATCH_DONE : 0;
}

/* --once: the fleet's current revision (a linearizable read). */
static int
current_revision(struct syncd *s, int64_t *revp)
{
	struct etcd_range_req q;
	struct etcd_range_res *res = NULL;
	const char *p = s->f->conf->prefix;
	int r;

	memset(&q, 0, sizeof(q));
	q.key = p;
	q.keylen = strlen(p);
	q.range_end = s->prefix_end;
	q.range_endlen = s->prefix_endlen;
	q.flags = ETCD_RANGE_COUNT_ONLY;
	if ((r = etcd_range(s->f->etcd, &q, &res)) != 0)
		return r;
	*revp = res->header_revision;
	heard(s, res->header_revision, 0, false);
	etcd_range_free(res);
	return 0;
}

static int
run(struct syncd *s)
{
	struct etcd_watch_opts o;
	int64_t compact = 0;
	long backoff = 1000;
	time_t since;
	bool full = false;
	int r;

	if (read_recorded(s) != 0)
		return 2;
	logmsg(LOG_INFO, "following the fleet of %s into %s from revision "
	    "%lld", s->conf_path, s->dir, (long long)s->rev);
	if (s->once && current_revision(s, &s->target) != 0) {
		char eps[1024];

		fleet_endpoints(s->f->conf, eps, sizeof(eps));
		note_error(s, LOG_ERR, "no etcd endpoint answered (%s): %s",
		    eps, etcd_errmsg(s->f->etcd));
		return 2;
	}
	memset(&o, 0, sizeof(o));
	o.unreachable_ms = s->once ? SYNCD_TIMEOUT_MS : SYNCD_UNREACHABLE_MS;
	o.stop = &stopping;
	while (!stopping) {
		if (s->rev == 0 || full) {
			if ((r = full_sync(s)) != 0) {
				if (s->once)
					return 2;
				goto retry;
			}
			full = false;
			backoff = 1000;
		}
		if (s->once && s->rev >= s->target)
			return 0;
		since = s->heard;
		r = etcd_watch(s->f->etcd, s->f->conf->prefix,
		    strlen(s->f->conf->prefix), s->prefix_end,
		    s->prefix_endlen, s->rev + 1, &o, on_batch, s, &compact);
		if (r == WATCH_DONE)
			return 0;
		if (r == 0)
			break;		/* stopping */
		if (r == APPUSER_ERR_EXPIRED) {
			logmsg(LOG_NOTICE, "revision %lld was compacted (at "
			    "%lld): full resync", (long long)s->rev + 1,
			    (long long)compact);
			full = true;
			continue;
		}
		if (r == WATCH_FAILED)
			full = true;	/* start over from a clean load */
		else
			note_error(s, LOG_WARNING, "watch ended: %s",
			    etcd_errmsg(s->f->etcd)[0] ?
			    etcd_errmsg(s->f->etcd) : appuser_strerror(r));
		if (s->heard != since)
			backoff = 1000;	/* it worked for a while */
		if (s->once)
			return 2;
 retry:
		/* jittered, growing: hosts must not return all at once */
		sleep_ms(backoff / 2 + (long)randombytes_uniform(
		    (uint32_t)backoff / 2 + 1));
		if (backoff < SYNCD_BACKOFF_MAX_MS)
			backoff *= 2;
	}
	logmsg(LOG_INFO, "stopping at revision %lld", (long long)s->rev);
	return 0;
}

static void
usage(FILE *f)
{
	fprintf(f, "usage: appuser-syncd --fleet FILE [--store DIR] [--once] "
	    "[--stderr]\n");
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "fleet", required_argument, NULL, 'f' },
		{ "store", required_argument, NULL, 's' },
		{ "once", no_argument, NULL, 'o' },
		{ "stderr", no_argument, NULL, 'e' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct syncd s;
	struct sigaction sa;
	char err[512];
	const char *p;
	bool to_stderr = false;
	int ch, r;

	memset(&s, 0, sizeof(s));
	s.conf_path = FLEET_CONF_DEFAULT;
	s.dir = getenv("APPUSER_STORE") != NULL && getenv("APPUSER_STORE")[0] ?
	    getenv("APPUSER_STORE") : APPUSER_DEFAULT_STORE;
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'f': s.conf_path = optarg; break;
		case 's': s.dir = optarg; break;
		case 'o': s.once = true; break;
		case 'e': to_stderr = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc || s.dir[0] != '/' || s.conf_path[0] != '/') {
		usage(stderr);
		fprintf(stderr, "appuser-syncd: --fleet and --store take "
		    "absolute paths\n");
		return 2;
	}
	/* TLS keys never go to a file the environment names; a dropped
	 * connection is an error, not a signal */
	unsetenv("SSLKEYLOGFILE");
	signal(SIGPIPE, SIG_IGN);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	openlog("appuser-syncd", LOG_PID | (to_stderr || s.once ? LOG_PERROR :
	    0), LOG_AUTHPRIV);
	umask(022);
	if (crypto_init() != 0) {
		logmsg(LOG_ERR, "cannot initialise libsodium");
		return 2;
	}
	if ((r = fleet_open(s.conf_path, SYNCD_TIMEOUT_MS, &s.f, err,
	    sizeof(err))) != 0) {
		logmsg(LOG_ERR, "%s", err);
		return 2;
	}
	p = s.f->conf->prefix;
	if (etcd_prefix_end(p, strlen(p), &s.prefix_end,
	    &s.prefix_endlen) != 0) {
		fleet_close(s.f);
		return 2;
	}
	r = run(&s);
	free(s.prefix_end);
	free(s.skipped);
	free(s.lrevoked);
	fleet_close(s.f);
	closelog();
	return r;
}
