/*
 * Does the host already resolve a name or an id?  Asked through NSS
 * (getpwnam_r, getgrnam_r, getpwuid_r, getgrgid_r), so every source the
 * host is configured with counts: files, LDAP, SSSD, systemd...
 *
 * Every answer comes from a direct lookup: an enumeration cannot rule a name
 * out for sources that do not enumerate (LDAP with enumeration off).  Import
 * and the agent's full load only make the lookups earlier and in parallel
 * (nss_check_prefetch): the answers of one batch are computed by a few
 * threads before the batch is written, which hides the latency of network
 * sources and uses every core; the agent starts them in the background and
 * reads the rest of the fleet meanwhile.  Only "free" answers are kept; a
 * taken name or an error is looked up again when the store asks, for the
 * message.
 *
 * With appuser in nsswitch.conf, NSS also answers with what the store
 * publishes itself.  The store checks its own names and ids before it asks
 * the host, so the one such answer that reaches us is its admin group
 * (config set admin-group checks the gid the group keeps): a group with
 * exactly the store's admin group name and gid (nss_check_own_group) is
 * not a collision.  A host group holding that gid under another name is.
 */
#include <errno.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

#define NBUF_MAX	(16u << 20)	/* a group with a huge member list */
#define PREFETCH_THREADS 8		/* at most; 2 per CPU */

struct nbuf {
	char	*p;
	size_t	 len;
};

struct own_group {
	char		 name[APPUSER_NAME_MAX + 1];	/* "" if none */
	uint32_t	 gid;
};

struct prefetch {
	const struct own_group *own;	/* the nss_check's */
	const char *const *names;	/* the caller's, alive for the batch */
	size_t		 nnames;
	uint32_t	*slots;		/* hash of names: index + 1, 0 empty */
	size_t		 nslots;	/* power of two */
	uint8_t		*name_free;	/* 1 if looked up and free */
	uint32_t	 id_first;	/* ids id_first.. (ids NULL), or */
	uint32_t	*ids;		/* these, sorted, distinct */
	size_t		 nids;
	uint8_t		*id_free;
	atomic_size_t	 next;		/* work counter */
	pthread_t	 tids[PREFETCH_THREADS];
	size_t		 nthreads;	/* running until nss_check_prefetch_wait */
};

struct nss_check {
	struct nbuf	 buf;
	struct own_group own;	/* read by the prefetch threads too */
	char		 last[512];
	bool		 name_hit;
	bool		 id_hit;
	struct prefetch	 pf;
};

static int
nbuf_grow(struct nbuf *b)
{
	size_t nlen = b->len == 0 ? 4096 : b->len * 2;
	char *p;

	if (nlen > NBUF_MAX || (p = realloc(b->p, nlen)) == NULL)
		return -1;
	b->p = p;
	b->len = nlen;
	return 0;
}

/* Error codes that POSIX implementations use for "no such entry". */
static bool
is_notfound(int e)
{
	return e == 0 || e == ENOENT || e == ESRCH || e == EBADF || e == EPERM;
}

#define HOST_FREE	0
#define HOST_USER	1
#define HOST_GROUP	2

/*
 * Look name (or id, when name is NULL) up as a user, then as a group.
 * Returns HOST_FREE, HOST_USER or HOST_GROUP (owner's name copied into
 * who), or -errno when a source failed: then we cannot tell, and refuse.
 */
static int
host_lookup(struct nbuf *b, const struct own_group *own, const char *name,
    uint32_t id, char *who, size_t wholen)
{
	struct passwd pw, *pwp;
	struct group gr, *grp;
	int e;

	if (b->len == 0 && nbuf_grow(b) != 0)
		return -ENOMEM;
	do {
		pwp = NULL;
		e = name != NULL ? getpwnam_r(name, &pw, b->p, b->len, &pwp) :
		    getpwuid_r((uid_t)id, &pw, b->p, b->len, &pwp);
	} while (e == ERANGE && nbuf_grow(b) == 0);
	if (pwp != NULL) {
		snprintf(who, wholen, "%s", pw.pw_name);
		return HOST_USER;
	}
	if (!is_notfound(e))
		return -e;
	do {
		grp = NULL;
		e = name != NULL ? getgrnam_r(name, &gr, b->p, b->len, &grp) :
		    getgrgid_r((gid_t)id, &gr, b->p, b->len, &grp);
	} while (e == ERANGE && nbuf_grow(b) == 0);
	if (grp != NULL && own->name[0] != '\0' && gr.gr_gid == own->gid &&
	    strcmp(gr.gr_name, own->name) == 0)
		grp = NULL;	/* the store's admin group, through our module */
	if (grp != NULL) {
		snprintf(who, wholen, "%s", gr.gr_name);
		return HOST_GROUP;
	}
	if (!is_notfound(e))
		return -e;
	return HOST_FREE;
}

static size_t
hash_name(const char *s)
{
	size_t h = 14695981039346656037ULL;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

/* Index of name among the prefetched names, or -1. */
static long
pf_find(const struct prefetch *pf, const char *name)
{
	size_t i, mask = pf->nslots - 1;

	if (pf->nslots == 0)
		return -1;
	for (i = hash_name(name) & mask; pf->slots[i] != 0; i = (i + 1) & mask)
		if (strcmp(pf->names[pf->slots[i] - 1], name) == 0)
			return (long)pf->slots[i] - 1;
	return -1;
}

static bool
pf_name_free(const struct prefetch *pf, const char *name)
{
	long i = pf_find(pf, name);

	return i >= 0 && pf->name_free[i];
}

static int
cmp_id(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

static bool
pf_id_free(const struct prefetch *pf, uint32_t id)
{
	const uint32_t *p;

	if (pf->ids == NULL)
		return id >= pf->id_first && id - pf->id_first < pf->nids &&
		    pf->id_free[id - pf->id_first];
	p = bsearch(&id, pf->ids, pf->nids, sizeof(*pf->ids), cmp_id);
	return p != NULL && pf->id_free[p - pf->ids];
}

/* The k-th id to look up. */
static uint32_t
pf_id(const struct prefetch *pf, size_t k)
{
	return pf->ids != NULL ? pf->ids[k] : pf->id_first + (uint32_t)k;
}

int
nss_collision(const char *name, uint32_t id, void *arg)
{
	struct nss_check *n = arg;
	char who[128];
	const char *what = "the name";
	int h;

	if (name != NULL && name[0] != '\0' && !pf_name_free(&n->pf, name)) {
		if ((h = host_lookup(&n->buf, &n->own, name, 0, who,
		    sizeof(who))) < 0)
			goto fail;
		if (h != HOST_FREE) {
			n->name_hit = true;
			snprintf(n->last, sizeof(n->last), "name '%s' is "
			    "already used on this host by a %s (NSS)", name,
			    h == HOST_USER ? "user" : "group");
			return APPUSER_ERR_EXISTS;
		}
	}
	what = "the id";
	if (id != 0 && !pf_id_free(&n->pf, id)) {
		if ((h = host_lookup(&n->buf, &n->own, NULL, id, who,
		    sizeof(who))) < 0)
			goto fail;
		if (h != HOST_FREE) {
			n->id_hit = true;
			snprintf(n->last, sizeof(n->last), "id %lu is already "
			    "used on this host by %s %s (NSS)",
			    (unsigned long)id, h == HOST_USER ? "user" :
			    "group", who);
			return APPUSER_ERR_EXISTS;
		}
	}
	return 0;
 fail:
	snprintf(n->last, sizeof(n->last), "cannot ask NSS whether %s is "
	    "taken on this host: %s", what, strerror(-h));
	errno = -h;
	return APPUSER_ERR_SYSTEM;
}

static void *
pf_worker(void *arg)
{
	struct prefetch *pf = arg;
	struct nbuf b = { NULL, 0 };
	char who[128];
	size_t i, total = pf->nnames + pf->nids;

	while ((i = atomic_fetch_add(&pf->next, 1)) < total) {
		if (i < pf->nnames)
			pf->name_free[i] = host_lookup(&b, pf->own,
			    pf->names[i], 0, who, sizeof(who)) == HOST_FREE;
		else
			pf->id_free[i - pf->nnames] = host_lookup(&b, pf->own,
			    NULL, pf_id(pf, i - pf->nnames), who,
			    sizeof(who)) == HOST_FREE;
	}
	free(b.p);
	return NULL;
}

static void
pf_clear(struct prefetch *pf)
{
	free(pf->slots);
	free(pf->name_free);
	free(pf->ids);
	free(pf->id_free);
	memset(pf, 0, sizeof(*pf));
}

static int
pf_index(struct prefetch *pf)
{
	size_t i, j, mask;

	for (pf->nslots = 16; pf->nslots < 2 * pf->nnames; pf->nslots *= 2)
		;
	if ((pf->slots = calloc(pf->nslots, sizeof(*pf->slots))) == NULL)
		return APPUSER_ERR_NOMEM;
	mask = pf->nslots - 1;
	for (i = 0; i < pf->nnames; i++) {
		if (pf_find(pf, pf->names[i]) >= 0)
			continue;	/* duplicate: the store refuses it */
		for (j = hash_name(pf->names[i]) & mask; pf->slots[j] != 0;
		    j = (j + 1) & mask)
			;
		pf->slots[j] = (uint32_t)i + 1;
	}
	return 0;
}

/* ids[0..nids): a sorted copy without duplicates in pf. */
static int
pf_ids(struct prefetch *pf, const uint32_t *ids, size_t nids)
{
	size_t i, n = 0;

	if ((pf->ids = malloc((nids + 1) * sizeof(*ids))) == NULL)
		return APPUSER_ERR_NOMEM;
	if (nids > 0)
		memcpy(pf->ids, ids, nids * sizeof(*ids));
	qsort(pf->ids, nids, sizeof(*ids), cmp_id);
	for (i = 0; i < nids; i++)
		if (n == 0 || pf->ids[i] != pf->ids[n - 1])
			pf->ids[n++] = pf->ids[i];
	pf->nids = n;
	return 0;
}

/*
 * Look names and ids up in threads: ids (sorted here) when not NULL, else
 * id_first.. (nids of them).  Returns with the threads running.
 */
static int
pf_start(struct nss_check *n, const char *const *names, size_t nnames,
    uint32_t id_first, const uint32_t *ids, size_t nids)
{
	struct prefetch *pf = &n->pf;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	size_t i, nthreads;
	int r = APPUSER_ERR_NOMEM;

	nss_check_prefetch_wait(n);
	pf_clear(pf);
	if (nnames == 0 && nids == 0)
		return 0;
	if (nnames > UINT32_MAX - 1)
		return APPUSER_ERR_INVALID;
	if (ids == NULL && (id_first == 0 || nids > UINT32_MAX - id_first))
		nids = 0;
	pf->own = &n->own;
	pf->names = names;
	pf->nnames = nnames;
	pf->id_first = id_first;
	pf->nids = nids;
	if ((ids != NULL && pf_ids(pf, ids, nids) != 0) ||
	    (pf->name_free = calloc(nnames + 1, 1)) == NULL ||
	    (pf->id_free = calloc(pf->nids + 1, 1)) == NULL ||
	    pf_index(pf) != 0)
		goto out;
	atomic_init(&pf->next, 0);
	/* sources that wait (LDAP) gain from more threads than CPUs */
	nthreads = ncpu < 1 ? 2 : ncpu > PREFETCH_THREADS / 2 ?
	    PREFETCH_THREADS : 2 * (size_t)ncpu;
	for (i = 0; i < nthreads; i++) {
		if (pthread_create(&pf->tids[i], NULL, pf_worker, pf) != 0)
			break;
		pf->nthreads++;
	}
	if (pf->nthreads == 0)
		pf_worker(pf);		/* no threads: do it here */
	r = 0;
 out:
	if (r != 0)
		pf_clear(pf);
	return r;
}

int
nss_check_prefetch(struct nss_check *n, const char *const *names,
    size_t nnames, uint32_t id_first, size_t nids)
{
	int r = pf_start(n, names, nnames, id_first, NULL, nids);

	nss_check_prefetch_wait(n);
	return r;
}

int
nss_check_prefetch_start(struct nss_check *n, const char *const *names,
    size_t nnames, const uint32_t *ids, size_t nids)
{
	return pf_start(n, names, nnames, 0, ids, nids);
}

void
nss_check_prefetch_wait(struct nss_check *n)
{
	size_t i;

	for (i = 0; i < n->pf.nthreads; i++)
		pthread_join(n->pf.tids[i], NULL);
	n->pf.nthreads = 0;
}

void
nss_check_prefetch_clear(struct nss_check *n)
{
	/* what the threads have not started is not needed any more */
	if (n->pf.nthreads > 0)
		atomic_store(&n->pf.next, n->pf.nnames + n->pf.nids);
	nss_check_prefetch_wait(n);
	pf_clear(&n->pf);
}

void
nss_check_own_group(struct nss_check *n, const char *name, uint32_t gid)
{
	n->own.name[0] = '\0';
	n->own.gid = 0;
	if (name == NULL || strlen(name) >= sizeof(n->own.name))
		return;
	memcpy(n->own.name, name, strlen(name) + 1);
	n->own.gid = gid;
}

void
nss_check_reset(struct nss_check *n)
{
	n->last[0] = '\0';
	n->name_hit = n->id_hit = false;
}

const char *
nss_check_last(const struct nss_check *n)
{
	return n->last;
}

bool
nss_check_name_hit(const struct nss_check *n)
{
	return n->name_hit;
}

bool
nss_check_id_hit(const struct nss_check *n)
{
	return n->id_hit;
}

/* One per process: the CLI runs one command. */
struct nss_check *
cli_nss(void)
{
	static struct nss_check n;

	return &n;
}
