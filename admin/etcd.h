/*
 * A client for etcd v3 (3.4) over its JSON gateway, with libcurl and
 * jansson.  It lives in admin/ because network code never goes into the
 * PAM or NSS modules; the CLI and the fleet agent link it.
 *
 * Protocol facts it relies on (see /work/shared/FLEET.md): POST
 * /v3/kv/range, /v3/kv/txn, /v3/watch (a long response, one JSON object a
 * line), /v3/auth/authenticate; keys and values are base64; int64 fields are
 * JSON strings; default values are omitted (no "succeeded" is false, an
 * event without "type" is a PUT); errors are HTTP 4xx/5xx with
 * {"error","message","code"} or an {"error":{...}} line inside a stream.
 *
 * Every call has a deadline (the client's timeout) that covers failover:
 * when an endpoint does not answer, is not ready or lost its leader, the
 * call moves to the next one after a jittered, capped backoff.  A read is
 * retried freely; a txn is retried only when it certainly did not reach a
 * member (connection refused), since a txn that timed out may have
 * committed: then the call fails with APPUSER_ERR_BUSY and the caller
 * re-reads (guard every txn with compares, so a retry cannot apply twice).
 * With a user configured, the client authenticates on first use and again,
 * after a random pause, when the server says its token is invalid or the
 * auth store revision is old (adding any etcd user does that).
 *
 * Errors are 0 or a negative APPUSER_ERR_*; etcd_errmsg() then says what
 * happened (endpoint and the server's text).  Mapping:
 *   SYSTEM      no endpoint answered before the deadline (unreachable, no
 *               leader, timeouts); the message names the last endpoint
 *   BUSY        a txn whose outcome is unknown: re-read before retrying
 *   EXPIRED     the revision asked for was compacted (range, watch)
 *   PERMISSION  the etcd user may not do this
 *   DENIED      authentication failed or is required
 *   INVALID     the server refused the request (too many operations, a
 *               duplicate key, a future revision, a bad argument)
 *   CORRUPT     a response that does not parse or exceeds a size cap
 *   NOMEM, INTERNAL
 * Neither the password nor the token is ever put into a message.  Both are
 * kept in sodium_malloc'd memory and wiped (the request body that carries
 * the password too); the token also passes through libcurl's copy of the
 * request headers, and both through libcurl's and OpenSSL's I/O buffers,
 * which are freed without being wiped.
 *
 * A struct etcd is used by one thread at a time.  Not for use across fork.
 */
#ifndef APPUSER_ETCD_H
#define APPUSER_ETCD_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fleet_conf.h"

struct etcd;

#define ETCD_TIMEOUT_DEFAULT_MS		5000
#define ETCD_CONNECT_TIMEOUT_DEFAULT_MS	1000
#define ETCD_BACKOFF_MAX_DEFAULT_MS	1000
#define ETCD_MAX_RESPONSE_DEFAULT	(64u << 20)	/* bytes */

struct etcd_config {
	const char *const *endpoints;	/* "http(s)://host:port", no path */
	size_t		 nendpoints;
	const char	*cacert;	/* NULL: the system's CAs */
	const char	*cert, *key;	/* client certificate (no CommonName:
					 * the gateway refuses those) */
	const char	*user;		/* NULL: no authentication */
	const char	*password;	/* copied; the caller wipes its own */
	int		 timeout_ms;	/* whole call, failover included */
	int		 connect_timeout_ms; /* one connection attempt */
	int		 backoff_max_ms; /* cap of the pause between attempts */
	size_t		 max_response;	/* bytes of one response or line */
	bool		 in_order;	/* start with the first endpoint (else
					 * a random one, so hosts spread out) */
};

/*
 * New client; zero fields of cfg take the defaults above.  Nothing is
 * contacted yet.  On success *ep is freed with etcd_close().  On failure
 * errbuf says why.  Errors: INVALID, NOMEM, INTERNAL.
 */
int etcd_open(const struct etcd_config *cfg, struct etcd **ep, char *errbuf,
    size_t errlen);

/* The same from a fleet configuration (reads its password file). */
int etcd_open_fleet(const struct fleet_conf *conf, int timeout_ms,
    struct etcd **ep, char *errbuf, size_t errlen);

void etcd_close(struct etcd *e);

/* Text of the last error of e ("" after a success); owned by e. */
const char *etcd_errmsg(const struct etcd *e);

/* The deadline of each following call, in milliseconds (> 0). */
void etcd_set_timeout(struct etcd *e, int timeout_ms);

/* Successful authentications so far (a renewed token counts again). */
unsigned etcd_auth_count(const struct etcd *e);

/*
 * A key-value pair as etcd returns it.  key and value are NUL terminated
 * for convenience (they may hold NULs: use the lengths).
 */
struct etcd_kv {
	char	*key;
	size_t	 keylen;
	char	*value;
	size_t	 valuelen;
	int64_t	 create_revision;
	int64_t	 mod_revision;
	int64_t	 version;
};

/*
 * range_end for "every key that starts with prefix": prefix with its last
 * byte incremented (trailing 0xff bytes dropped; "\0" when every byte is
 * 0xff, which etcd reads as "to the end").  *endp is malloc'd, NUL
 * terminated, caller frees.  Errors: INVALID (empty prefix), NOMEM.
 */
int etcd_prefix_end(const void *prefix, size_t len, char **endp,
    size_t *endlenp);

#define ETCD_RANGE_SERIALIZABLE	0x1	/* any member answers, even alone */
#define ETCD_RANGE_KEYS_ONLY	0x2	/* no values */
#define ETCD_RANGE_COUNT_ONLY	0x4	/* count only, no kvs */

struct etcd_range_req {
	const void	*key;
	size_t		 keylen;
	const void	*range_end;	/* NULL: the single key */
	size_t		 range_endlen;
	int64_t		 revision;	/* 0: the latest */
	int64_t		 limit;		/* 0: no limit */
	int		 flags;		/* ETCD_RANGE_* */
};

struct etcd_range_res {
	int64_t		 revision;	/* the revision it was read at: the
					 * one asked for, else the latest */
	int64_t		 header_revision; /* the store's latest revision (etcd
					 * sends it even for older reads) */
	struct etcd_kv	*kvs;		/* sorted by key */
	size_t		 nkvs;
	int64_t		 count;		/* keys in the whole range */
	bool		 more;		/* limit cut it short */
};

/*
 * One range request.  On success *resp is freed with etcd_range_free().
 * Errors: see above (EXPIRED: revision was compacted).
 */
int etcd_range(struct etcd *e, const struct etcd_range_req *req,
    struct etcd_range_res **resp);
void etcd_range_free(struct etcd_range_res *res);

/*
 * Every key in [key, range_end), in pages of page keys, all read at one
 * revision: revision, or (0) the revision of the first page.  cb is called
 * for each pair in key order; a nonzero return stops the walk and is
 * returned.  *revisionp: the revision read at (set on success only).
 * Errors: as etcd_range (EXPIRED: compacted while paging; start again).
 */
typedef int (*etcd_kv_cb)(void *arg, const struct etcd_kv *kv);
int etcd_range_all(struct etcd *e, const void *key, size_t keylen,
    const void *range_end, size_t range_endlen, int64_t revision,
    int64_t page, int flags, etcd_kv_cb cb, void *arg, int64_t *revisionp);

enum etcd_cmp_target {
	ETCD_CMP_VERSION,
	ETCD_CMP_CREATE,	/* create_revision; 0: the key does not exist */
	ETCD_CMP_MOD,		/* mod_revision */
	ETCD_CMP_VALUE,
};
enum etcd_cmp_result {
	ETCD_CMP_EQUAL,
	ETCD_CMP_GREATER,
	ETCD_CMP_LESS,
	ETCD_CMP_NOT_EQUAL,
};
struct etcd_cmp {
	const void	*key;
	size_t		 keylen;
	enum etcd_cmp_target target;
	enum etcd_cmp_result result;
	int64_t		 number;	/* VERSION, CREATE, MOD */
	const void	*value;		/* VALUE */
	size_t		 valuelen;
};

enum etcd_op_type {
	ETCD_OP_PUT,
	ETCD_OP_DELETE,		/* the key, or [key, range_end) */
};
struct etcd_op {
	enum etcd_op_type type;
	const void	*key;
	size_t		 keylen;
	const void	*value;		/* PUT */
	size_t		 valuelen;
	const void	*range_end;	/* DELETE; NULL: the single key */
	size_t		 range_endlen;
};

/*
 * One transaction: if every compare holds, the success operations run,
 * else the failure ones.  *succeededp: which; *revisionp: the store
 * revision after it (the txn's own revision when it wrote).  Both set on
 * success only.  Errors: see above; BUSY: the outcome is unknown.
 */
int etcd_txn(struct etcd *e, const struct etcd_cmp *cmp, size_t ncmp,
    const struct etcd_op *success, size_t nsuccess,
    const struct etcd_op *failure, size_t nfailure, bool *succeededp,
    int64_t *revisionp);

/* An unconditional put (a txn without compares). */
int etcd_put(struct etcd *e, const void *key, size_t keylen,
    const void *value, size_t valuelen, int64_t *revisionp);

enum etcd_event_type {
	ETCD_EVENT_PUT,
	ETCD_EVENT_DELETE,	/* kv holds the key and mod_revision only */
};
struct etcd_event {
	enum etcd_event_type type;
	struct etcd_kv	 kv;
};

/*
 * What a watch delivers.  With events: every event of the revisions in the
 * batch, in order (etcd never splits a revision across batches); revision
 * is the mod_revision of the last one.  Without events: a progress
 * notification: revision is the server's revision, and no event up to it
 * is pending for this watch.  header_revision: the server's revision when
 * it sent the batch.
 */
struct etcd_watch_batch {
	int64_t			 revision;
	int64_t			 header_revision;
	const struct etcd_event	*events;
	size_t			 nevents;
};
/* 0: go on; nonzero: stop the watch, which returns that value. */
typedef int (*etcd_watch_cb)(void *arg, const struct etcd_watch_batch *b);

struct etcd_watch_opts {
	int	 idle_ms;	/* nothing received for this long: the stream
				 * is dead, move to another member (default
				 * 10000; the members should send progress
				 * notifications more often) */
	int	 unreachable_ms; /* no member serves the watch for this long:
				 * give up (default: the client's timeout) */
	volatile sig_atomic_t *stop; /* set (by a signal handler): return 0
				 * within a second */
};

/*
 * Watches [key, range_end) (range_end NULL: the single key) from
 * start_revision (> 0), with progress notifications and
 * "Grpc-Metadata-hasleader: true" so a member without a leader ends the
 * stream.  When a stream breaks, it resumes on the next member from the
 * revision after the last event delivered, after a jittered backoff; it
 * returns only when cb returns nonzero (that value), *o->stop is set (0),
 * the revision was compacted (EXPIRED, *compact_revisionp set: resync from
 * a range at or after it), no member served it (delivered an event or a
 * progress notification) for unreachable_ms (SYSTEM), or the server
 * refused it (PERMISSION, DENIED, INVALID, CORRUPT).  One line of the
 * stream may be at most the client's max_response bytes.  o may be NULL
 * (defaults).
 */
int etcd_watch(struct etcd *e, const void *key, size_t keylen,
    const void *range_end, size_t range_endlen, int64_t start_revision,
    const struct etcd_watch_opts *o, etcd_watch_cb cb, void *arg,
    int64_t *compact_revisionp);

#endif
