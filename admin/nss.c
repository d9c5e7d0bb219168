/*
 * Does the host already resolve a name or an id?  Asked through NSS
 * (getpwnam_r, getgrnam_r, getpwuid_r, getgrgid_r), so every source the
 * host is configured with counts: files, LDAP, SSSD, systemd...
 *
 * Every answer comes from a direct lookup: an enumeration cannot rule a name
 * out for sources that do not enumerate (LDAP with enumeration off).  Import
 * and the agent's full load only make the lookups earlier and in parallel
 * (nss_check_prefetch*): a few threads compute the answers before the
 * store asks, which hides the latency of network sources and uses every
 * core.  Import asks for one batch at a time; the agent feeds each user to
 * the threads as it reads it, so the lookups run while it reads the rest of
 * the fleet.  Only "free" answers are used; a taken name or an error is
 * looked up again when the store asks, for the message.
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

/* One lookup: a name (user, then group) or an id (uid, then gid). */
struct pf_item {
	const char	*name;		/* the caller's; NULL: id */
	uint32_t	 id;
	bool		 free;		/* looked up and free */
};

struct pf_id {
	uint32_t	 id;
	bool		 free;
};

/*
 * Lookups fed while the caller works (the agent adds each user as it reads
 * it), done by a few threads; answered once nss_check_prefetch_wait has
 * closed the feed, joined the threads and indexed the answers.
 */
struct prefetch {
	const struct own_group *own;	/* the nss_check's */
	pthread_mutex_t	 mu;		/* guards the items and the feed */
	pthread_cond_t	 more;		/* an item was added or the feed closed */
	struct pf_item	*items;
	size_t		 nitems, capitems;
	size_t		 next;		/* the first item no thread took */
	bool		 closed;
	pthread_t	 tids[PREFETCH_THREADS];
	size_t		 nthreads;	/* running until nss_check_prefetch_wait */
	bool		 open;		/* begun and not yet waited for */
	/* the index, built by nss_check_prefetch_wait */
	uint32_t	*slots;		/* hash of names: item index + 1, 0 empty */
	size_t		 nslots;	/* power of two */
	struct pf_id	*ids;		/* sorted */
	size_t		 nids;
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

/* Index of the item that looked name up, or -1. */
static long
pf_find(const struct prefetch *pf, const char *name)
{
	size_t i, mask = pf->nslots - 1;

	if (pf->nslots == 0)
		return -1;
	for (i = hash_name(name) & mask; pf->slots[i] != 0; i = (i + 1) & mask)
		if (strcmp(pf->items[pf->slots[i] - 1].name, name) == 0)
			return (long)pf->slots[i] - 1;
	return -1;
}

static bool
pf_name_free(const struct prefetch *pf, const char *name)
{
	long i = pf_find(pf, name);

	return i >= 0 && pf->items[i].free;
}

static int
cmp_id(const void *a, const void *b)
{
	uint32_t x = ((const struct pf_id *)a)->id;
	uint32_t y = ((const struct pf_id *)b)->id;

	return (x > y) - (x < y);
}

static bool
pf_id_free(const struct prefetch *pf, uint32_t id)
{
	const struct pf_id key = { id, false }, *p;

	if (pf->nids == 0)
		return false;
	p = bsearch(&key, pf->ids, pf->nids, sizeof(*pf->ids), cmp_id);
	return p != NULL && p->free;
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

/* Take the next item, look it up unlocked, store the answer; until the
 * feed is closed and drained (or cleared). */
static void *
pf_worker(void *arg)
{
	struct prefetch *pf = arg;
	struct nbuf b = { NULL, 0 };
	char who[128];

	pthread_mutex_lock(&pf->mu);
	for (;;) {
		struct pf_item it;
		size_t i;
		bool free_;

		while (pf->next == pf->nitems && !pf->closed)
			pthread_cond_wait(&pf->more, &pf->mu);
		if (pf->next == pf->nitems)
			break;
		it = pf->items[i = pf->next++];
		pthread_mutex_unlock(&pf->mu);
		free_ = host_lookup(&b, pf->own, it.name, it.id, who,
		    sizeof(who)) == HOST_FREE;
		pthread_mutex_lock(&pf->mu);
		pf->items[i].free = free_;	/* items may have moved */
	}
	pthread_mutex_unlock(&pf->mu);
	free(b.p);
	return NULL;
}

/* Close the feed and join the threads: the items are final after. */
static void
pf_join(struct prefetch *pf)
{
	size_t i;

	if (!pf->open)
		return;
	pthread_mutex_lock(&pf->mu);
	pf->closed = true;
	pthread_cond_broadcast(&pf->more);
	pthread_mutex_unlock(&pf->mu);
	for (i = 0; i < pf->nthreads; i++)
		pthread_join(pf->tids[i], NULL);
	if (pf->nthreads == 0)
		pf_worker(pf);		/* no thread started: do it here */
	pf->nthreads = 0;
	pthread_cond_destroy(&pf->more);
	pthread_mutex_destroy(&pf->mu);
	pf->open = false;
}

static void
pf_clear(struct prefetch *pf)
{
	if (pf->open) {
		/* what the threads have not taken is not needed any more */
		pthread_mutex_lock(&pf->mu);
		pf->next = pf->nitems;
		pthread_mutex_unlock(&pf->mu);
		pf_join(pf);
	}
	free(pf->items);
	free(pf->slots);
	free(pf->ids);
	memset(pf, 0, sizeof(*pf));
}

/* Index the final answers: names by hash, ids sorted. */
static int
pf_index(struct prefetch *pf)
{
	size_t i, j, mask, nnames = 0;

	for (i = 0; i < pf->nitems; i++)
		nnames += pf->items[i].name != NULL;
	if (nnames > UINT32_MAX / 4 || (pf->ids = malloc((pf->nitems -
	    nnames + 1) * sizeof(*pf->ids))) == NULL)
		return APPUSER_ERR_NOMEM;
	for (pf->nslots = 16; pf->nslots < 2 * nnames; pf->nslots *= 2)
		;
	if ((pf->slots = calloc(pf->nslots, sizeof(*pf->slots))) == NULL)
		return APPUSER_ERR_NOMEM;
	mask = pf->nslots - 1;
	for (i = 0; i < pf->nitems; i++) {
		if (pf->items[i].name == NULL) {
			pf->ids[pf->nids].id = pf->items[i].id;
			pf->ids[pf->nids++].free = pf->items[i].free;
			continue;
		}
		if (pf_find(pf, pf->items[i].name) >= 0)
			continue;	/* the same answer twice */
		for (j = hash_name(pf->items[i].name) & mask;
		    pf->slots[j] != 0; j = (j + 1) & mask)
			;
		pf->slots[j] = (uint32_t)i + 1;
	}
	qsort(pf->ids, pf->nids, sizeof(*pf->ids), cmp_id);
	return 0;
}

int
nss_check_prefetch_begin(struct nss_check *n)
{
	struct prefetch *pf = &n->pf;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	size_t i, nthreads;

	pf_clear(pf);
	pf->own = &n->own;
	if (pthread_mutex_init(&pf->mu, NULL) != 0)
		return APPUSER_ERR_NOMEM;
	if (pthread_cond_init(&pf->more, NULL) != 0) {
		pthread_mutex_destroy(&pf->mu);
		return APPUSER_ERR_NOMEM;
	}
	pf->open = true;
	/* sources that wait (LDAP) gain from more threads than CPUs */
	nthreads = ncpu < 1 ? 2 : ncpu > PREFETCH_THREADS / 2 ?
	    PREFETCH_THREADS : 2 * (size_t)ncpu;
	for (i = 0; i < nthreads; i++) {
		if (pthread_create(&pf->tids[i], NULL, pf_worker, pf) != 0)
			break;
		pf->nthreads++;
	}
	return 0;
}

/* Append one item; the caller holds no lock. */
static int
pf_add(struct prefetch *pf, const char *name, uint32_t id)
{
	struct pf_item *nv;
	size_t cap;
	int r = 0;

	pthread_mutex_lock(&pf->mu);
	if (pf->nitems == pf->capitems) {
		cap = pf->capitems ? 2 * pf->capitems : 1024;
		if (cap > UINT32_MAX / 2 || (nv = reallocarray(pf->items, cap,
		    sizeof(*nv))) == NULL) {
			r = APPUSER_ERR_NOMEM;
			goto out;
		}
		pf->items = nv;
		pf->capitems = cap;
	}
	pf->items[pf->nitems].name = name;
	pf->items[pf->nitems].id = id;
	pf->items[pf->nitems++].free = false;
	pthread_cond_signal(&pf->more);
 out:
	pthread_mutex_unlock(&pf->mu);
	return r;
}

int
nss_check_prefetch_add(struct nss_check *n, const char *name, uint32_t id)
{
	int r = 0;

	if (!n->pf.open)
		return APPUSER_ERR_INVALID;
	if (name != NULL && name[0] != '\0')
		r = pf_add(&n->pf, name, 0);
	if (r == 0 && id != 0)
		r = pf_add(&n->pf, NULL, id);
	return r;
}

void
nss_check_prefetch_wait(struct nss_check *n)
{
	struct prefetch *pf = &n->pf;

	if (!pf->open)
		return;
	pf_join(pf);
	if (pf_index(pf) != 0) {	/* then one by one, as asked */
		free(pf->slots);
		free(pf->ids);
		pf->slots = NULL;
		pf->ids = NULL;
		pf->nslots = pf->nids = 0;
	}
}

int
nss_check_prefetch(struct nss_check *n, const char *const *names,
    size_t nnames, uint32_t id_first, size_t nids)
{
	size_t i;
	int r;

	if (nnames == 0 && nids == 0) {
		pf_clear(&n->pf);
		return 0;
	}
	if (id_first == 0 || nids > UINT32_MAX - id_first)
		nids = 0;
	if ((r = nss_check_prefetch_begin(n)) != 0)
		return r;
	for (i = 0; r == 0 && i < nnames; i++)
		r = nss_check_prefetch_add(n, names[i], 0);
	for (i = 0; r == 0 && i < nids; i++)
		r = nss_check_prefetch_add(n, NULL, id_first + (uint32_t)i);
	nss_check_prefetch_wait(n);
	return r;
}

void
nss_check_prefetch_clear(struct nss_check *n)
{
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
