/*
 * etcd v3 over the JSON gateway: see etcd.h for the contract.
 *
 * Layout: buffers and JSON helpers; one unary call with failover (call());
 * authentication; range, txn; the watch stream, which has its own curl
 * handle so that unary calls stay usable from its callback.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>
#include <sodium.h>

#include "appuser.h"
#include "etcd.h"
#include "fsutil.h"

#define TOKEN_MAX	1024	/* bytes of an auth token */
#define BACKOFF_MIN_MS	25
#define REAUTH_JITTER_MS 250	/* spread re-authentication of many hosts */
#define WATCH_IDLE_DEFAULT_MS 10000
#define KEY_MAX		(2u << 20)	/* bytes of a key or value we send */

struct etcd {
	CURL	*curl;			/* kept alive between unary calls */
	char	**endpoints;
	size_t	 nendpoints;
	size_t	 cur;			/* the endpoint in use */
	char	*cacert, *cert, *key;
	char	*user;
	char	*password;		/* sodium_malloc'd */
	char	*token;			/* sodium_malloc'd, "" when none */
	int	 timeout_ms, connect_timeout_ms, backoff_max_ms;
	size_t	 max_response;
	unsigned auth_count;
	char	 err[512];
};

struct buf {
	char	*p;
	size_t	 len, cap, max;
	bool	 too_big;
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static int global_ok;

static void
global_init(void)
{
	global_ok = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK &&
	    sodium_init() >= 0;
}

static void
seterr(struct etcd *e, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(e->err, sizeof(e->err), fmt, ap);
	va_end(ap);
}

static void
sleep_ms(int64_t ms)
{
	struct timespec ts;

	if (ms <= 0)
		return;
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000;
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* A pause in [ms/2, ms]: hosts that failed together retry apart. */
static int64_t
jitter(int64_t ms)
{
	if (ms <= 1)
		return ms;
	return ms / 2 + randombytes_uniform((uint32_t)(ms / 2) + 1);
}

/* --- buffers ---------------------------------------------------------- */

static bool
buf_reserve(struct buf *b, size_t add)
{
	size_t ncap;
	char *np;

	if (add > b->max || b->len > b->max - add) {
		b->too_big = true;
		return false;
	}
	if (b->len + add + 1 <= b->cap)
		return true;
	ncap = b->cap == 0 ? 4096 : b->cap;
	while (ncap < b->len + add + 1)
		ncap = ncap > SIZE_MAX / 2 ? SIZE_MAX : ncap * 2;
	if (ncap > b->max + 1)
		ncap = b->max + 1;
	if ((np = realloc(b->p, ncap)) == NULL)
		return false;
	b->p = np;
	b->cap = ncap;
	return true;
}

static void
buf_free(struct buf *b, bool wipe)
{
	if (b->p != NULL && wipe)
		sodium_memzero(b->p, b->cap);
	free(b->p);
	memset(b, 0, sizeof(*b));
}

static size_t
buf_write_cb(char *data, size_t size, size_t n, void *arg)
{
	struct buf *b = arg;

	if (!buf_reserve(b, n))
		return 0;	/* curl stops with CURLE_WRITE_ERROR */
	memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = '\0';
	(void)size;
	return n;
}

/* --- JSON fields --------------------------------------------------------- */

/* An int64 field: a JSON string of digits (as the gateway sends them) or
 * an integer; absent means 0. */
static int
get_i64(json_t *o, const char *name, int64_t *vp)
{
	json_t *v = json_object_get(o, name);
	const char *s, *p;
	char *end;
	long long x;

	if (v == NULL) {
		*vp = 0;
		return 0;
	}
	if (json_is_integer(v)) {
		*vp = json_integer_value(v);
		return 0;
	}
	if (!json_is_string(v))
		return APPUSER_ERR_CORRUPT;
	s = json_string_value(v);
	p = s[0] == '-' ? s + 1 : s;
	if (p[0] < '0' || p[0] > '9' || json_string_length(v) > 20)
		return APPUSER_ERR_CORRUPT;
	errno = 0;
	x = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return APPUSER_ERR_CORRUPT;
	*vp = x;
	return 0;
}

static int
get_bool(json_t *o, const char *name, bool *vp)
{
	json_t *v = json_object_get(o, name);

	if (v == NULL) {
		*vp = false;	/* the gateway omits false */
		return 0;
	}
	if (!json_is_boolean(v))
		return APPUSER_ERR_CORRUPT;
	*vp = json_is_true(v);
	return 0;
}

/* A base64 field, decoded into a NUL-terminated malloc'd buffer; absent
 * means empty.  The size is bounded by the encoded length, which the
 * response cap bounds, before anything is allocated. */
static int
get_b64(json_t *o, const char *name, char **pp, size_t *lenp)
{
	json_t *v = json_object_get(o, name);
	const char *s = "";
	size_t slen = 0, max, len = 0;
	char *p = NULL;

	if (v != NULL) {
		if (!json_is_string(v))
			return APPUSER_ERR_CORRUPT;
		s = json_string_value(v);
		slen = json_string_length(v);
	}
	max = slen / 4 * 3 + 3;
	if ((p = malloc(max + 1)) == NULL)
		return APPUSER_ERR_NOMEM;
	if (slen > 0 && sodium_base642bin((unsigned char *)p, max, s, slen,
	    NULL, &len, NULL, sodium_base64_VARIANT_ORIGINAL) != 0) {
		free(p);
		return APPUSER_ERR_CORRUPT;
	}
	p[len] = '\0';
	*pp = p;
	*lenp = len;
	return 0;
}

static json_t *
b64_json(const void *p, size_t len)
{
	size_t n = sodium_base64_encoded_len(len,
	    sodium_base64_VARIANT_ORIGINAL);
	char *s;
	json_t *j;

	if (len > KEY_MAX || (s = malloc(n)) == NULL)
		return NULL;
	sodium_bin2base64(s, n, p, len, sodium_base64_VARIANT_ORIGINAL);
	j = json_string(s);
	free(s);
	return j;
}

static json_t *
i64_json(int64_t v)
{
	char s[32];

	snprintf(s, sizeof(s), "%" PRId64, v);
	return json_string(s);
}

/* obj[name] = value, taking the reference; false if any step failed. */
static bool
put_new(json_t *obj, const char *name, json_t *value)
{
	return value != NULL && json_object_set_new(obj, name, value) == 0;
}

static void
kv_clear(struct etcd_kv *kv)
{
	free(kv->key);
	free(kv->value);
	memset(kv, 0, sizeof(*kv));
}

static int
parse_kv(json_t *o, struct etcd_kv *kv)
{
	int r;

	memset(kv, 0, sizeof(*kv));
	if (!json_is_object(o))
		return APPUSER_ERR_CORRUPT;
	if ((r = get_b64(o, "key", &kv->key, &kv->keylen)) != 0 ||
	    (r = get_b64(o, "value", &kv->value, &kv->valuelen)) != 0 ||
	    (r = get_i64(o, "create_revision", &kv->create_revision)) != 0 ||
	    (r = get_i64(o, "mod_revision", &kv->mod_revision)) != 0 ||
	    (r = get_i64(o, "version", &kv->version)) != 0)
		goto fail;
	if (kv->keylen == 0 || kv->create_revision < 0 ||
	    kv->mod_revision < 0 || kv->version < 0) {
		r = APPUSER_ERR_CORRUPT;
		goto fail;
	}
	return 0;
 fail:
	kv_clear(kv);
	return r;
}

static int
header_revision(json_t *resp, int64_t *revp)
{
	json_t *h = json_object_get(resp, "header");
	int r;

	if (!json_is_object(h))
		return APPUSER_ERR_CORRUPT;
	if ((r = get_i64(h, "revision", revp)) != 0)
		return r;
	return *revp > 0 ? 0 : APPUSER_ERR_CORRUPT;
}

/* --- errors from the server ---------------------------------------------- */

enum verdict {
	V_FATAL,	/* return the error */
	V_RETRY,	/* another member may do better */
	V_REAUTH,	/* get a new token, then again */
};

/*
 * gRPC code and message -> APPUSER_ERR_* and what to do.  Codes: 3
 * InvalidArgument, 4 DeadlineExceeded, 7 PermissionDenied, 8
 * ResourceExhausted, 11 OutOfRange, 14 Unavailable, 16 Unauthenticated.
 */
static int
classify(long code, const char *msg, enum verdict *vp)
{
	*vp = V_FATAL;
	if (strstr(msg, "revision of auth store is old") != NULL ||
	    strstr(msg, "invalid auth token") != NULL) {
		*vp = V_REAUTH;
		return APPUSER_ERR_DENIED;
	}
	if (strstr(msg, "user name is empty") != NULL ||
	    strstr(msg, "authentication failed") != NULL ||
	    strstr(msg, "authentication is not enabled") != NULL || code == 16)
		return APPUSER_ERR_DENIED;
	if (strstr(msg, "permission denied") != NULL || code == 7)
		return APPUSER_ERR_PERMISSION;
	if (strstr(msg, "has been compacted") != NULL)
		return APPUSER_ERR_EXPIRED;
	switch (code) {
	case 3:
	case 11:
		return APPUSER_ERR_INVALID;
	case 4:
	case 8:
	case 14:
		*vp = V_RETRY;
		return APPUSER_ERR_SYSTEM;
	default:
		return APPUSER_ERR_SYSTEM;
	}
}

/* A body that is not 200: {"error","message","code"} from the gateway. */
static int
http_error(struct etcd *e, const char *ep, long status, const struct buf *b,
    enum verdict *vp)
{
	json_t *j = NULL, *o = NULL;
	const char *msg = NULL;
	int64_t code = -1;
	int r;

	if (b->len > 0)
		j = json_loadb(b->p, b->len, 0, NULL);
	if (json_is_object(j)) {
		json_t *m;

		/* a stream's error answer nests it: {"error":{"grpc_code"}} */
		o = json_object_get(j, "error");
		if (!json_is_object(o))
			o = j;
		if (get_i64(o, o == j ? "code" : "grpc_code", &code) != 0)
			code = -1;
		m = json_object_get(o, "message");
		if (json_is_string(m))
			msg = json_string_value(m);
	}
	if (msg == NULL) {
		/* not the gateway's answer (a proxy, a member starting) */
		*vp = status >= 500 ? V_RETRY : V_FATAL;
		r = APPUSER_ERR_SYSTEM;
		seterr(e, "%s: HTTP status %ld", ep, status);
	} else {
		r = classify((long)code, msg, vp);
		seterr(e, "%s: %.300s", ep, msg);
	}
	json_decref(j);
	return r;
}

/* --- curl --------------------------------------------------------------- */

static int
setup_handle(struct etcd *e, CURL *h)
{
	CURLcode c = CURLE_OK;

#define SET(opt, val) do {					\
	if (c == CURLE_OK)						\
		c = curl_easy_setopt(h, opt, val);			\
} while (0)
	SET(CURLOPT_NOSIGNAL, 1L);	/* no SIGALRM: thread-safe */
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	/* never a proxy from the environment of a root process */
	SET(CURLOPT_PROXY, "");
	SET(CURLOPT_TCP_KEEPALIVE, 1L);
	SET(CURLOPT_TCP_NODELAY, 1L);
	SET(CURLOPT_SSL_VERIFYPEER, 1L);
	SET(CURLOPT_SSL_VERIFYHOST, 2L);
	if (e->cacert != NULL)
		SET(CURLOPT_CAINFO, e->cacert);
	if (e->cert != NULL) {
		SET(CURLOPT_SSLCERT, e->cert);
		SET(CURLOPT_SSLKEY, e->key);
	}
#undef SET
	return c == CURLE_OK ? 0 : APPUSER_ERR_INTERNAL;
}

/* Headers of a request; with the token when we have one (curl copies it). */
static struct curl_slist *
make_headers(struct etcd *e, bool auth, bool watch)
{
	struct curl_slist *l = NULL, *n;
	char *h = NULL;
	size_t hlen;

	if ((l = curl_slist_append(l, "Content-Type: application/json")) ==
	    NULL)
		return NULL;
	/* no "Expect: 100-continue" round trip for large txns */
	if ((n = curl_slist_append(l, "Expect:")) == NULL)
		goto fail;
	l = n;
	if (watch) {
		/* a member that lost its leader ends the stream */
		if ((n = curl_slist_append(l,
		    "Grpc-Metadata-hasleader: true")) == NULL)
			goto fail;
		l = n;
	}
	if (auth && e->token != NULL && e->token[0] != '\0') {
		hlen = strlen("Authorization: ") + strlen(e->token) + 1;
		if ((h = sodium_malloc(hlen)) == NULL)
			goto fail;
		snprintf(h, hlen, "Authorization: %s", e->token);
		n = curl_slist_append(l, h);
		sodium_free(h);
		if (n == NULL)
			goto fail;
		l = n;
	}
	return l;
 fail:
	curl_slist_free_all(l);
	return NULL;
}

/* Did the request certainly not reach the server? */
static bool
not_sent(CURL *h, CURLcode cc)
{
	long reqsize = 0;

	switch (cc) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CACERT_BADFILE:
		return true;
	default:
		break;
	}
	return curl_easy_getinfo(h, CURLINFO_REQUEST_SIZE, &reqsize) ==
	    CURLE_OK && reqsize == 0;
}

/*
 * POST body to path on the endpoints, failing over until the deadline.
 * idempotent: may be sent again after it might have reached a member.
 * auth: send the token, and re-authenticate once when it is refused.
 * *respp: the parsed 200 answer (caller json_decref's).  wipe: the
 * response holds a secret.
 */
static int authenticate(struct etcd *e, int64_t deadline);

static int
call(struct etcd *e, const char *path, const char *body, size_t bodylen,
    bool idempotent, bool auth, bool wipe, int64_t deadline, json_t **respp)
{
	struct curl_slist *hdrs = NULL;
	struct buf b = { .max = e->max_response };
	char url[1200], last[sizeof(e->err)];
	const char *ep;
	json_t *j = NULL;
	json_error_t jerr;
	enum verdict v;
	CURLcode cc;
	long status = 0;
	int64_t left, backoff = BACKOFF_MIN_MS;
	bool reauthed = false;
	int r = APPUSER_ERR_INTERNAL, attempt;

	*respp = NULL;
	e->err[0] = '\0';
	for (attempt = 0; ; attempt++) {
		if (auth && e->user != NULL && e->token[0] == '\0' &&
		    (r = authenticate(e, deadline)) != 0)
			goto out;
		ep = e->endpoints[e->cur];
		if ((left = deadline - fs_mono_ms()) <= 0) {
			r = APPUSER_ERR_SYSTEM;
			goto timeout;
		}
		snprintf(url, sizeof(url), "%s%s", ep, path);
		curl_slist_free_all(hdrs);
		if ((hdrs = make_headers(e, auth, false)) == NULL) {
			r = APPUSER_ERR_NOMEM;
			goto out;
		}
		buf_free(&b, wipe);
		b.max = e->max_response;
		curl_easy_setopt(e->curl, CURLOPT_URL, url);
		curl_easy_setopt(e->curl, CURLOPT_HTTPHEADER, hdrs);
		curl_easy_setopt(e->curl, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(e->curl, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)bodylen);
		curl_easy_setopt(e->curl, CURLOPT_WRITEFUNCTION, buf_write_cb);
		curl_easy_setopt(e->curl, CURLOPT_WRITEDATA, &b);
		curl_easy_setopt(e->curl, CURLOPT_TIMEOUT_MS, (long)left);
		curl_easy_setopt(e->curl, CURLOPT_CONNECTTIMEOUT_MS,
		    (long)(left < e->connect_timeout_ms ? left :
		    e->connect_timeout_ms));
		cc = curl_easy_perform(e->curl);
		if (cc != CURLE_OK) {
			if (b.too_big) {
				r = APPUSER_ERR_CORRUPT;
				seterr(e, "%s: response larger than %zu bytes",
				    ep, e->max_response);
				goto out;
			}
			r = APPUSER_ERR_SYSTEM;
			seterr(e, "%s: %s", ep, curl_easy_strerror(cc));
			if (!idempotent && !not_sent(e->curl, cc)) {
				r = APPUSER_ERR_BUSY;
				seterr(e, "%s: %s; the outcome is unknown, read "
				    "again before retrying", ep,
				    curl_easy_strerror(cc));
				goto out;
			}
			v = V_RETRY;
		} else {
			curl_easy_getinfo(e->curl, CURLINFO_RESPONSE_CODE,
			    &status);
			if (status == 200)
				break;
			r = http_error(e, ep, status, &b, &v);
			if (v == V_REAUTH && auth && e->user != NULL &&
			    !reauthed) {
				/* refused before it ran: safe to send again */
				reauthed = true;
				sodium_memzero(e->token, TOKEN_MAX);
				sleep_ms(jitter(REAUTH_JITTER_MS));
				attempt--;
				continue;
			}
			if (v == V_RETRY && !idempotent) {
				/* "request timed out" may have committed */
				r = APPUSER_ERR_BUSY;
				snprintf(last, sizeof(last), "%s", e->err);
				seterr(e, "%s; the outcome is unknown, read "
				    "again before retrying", last);
				goto out;
			}
			if (v != V_RETRY)
				goto out;
		}
		/* another member, after a pause that grows to the cap */
		e->cur = (e->cur + 1) % e->nendpoints;
		if (attempt + 1 >= (int)e->nendpoints) {
			left = deadline - fs_mono_ms();
			sleep_ms(jitter(backoff) < left ? jitter(backoff) :
			    left);
			backoff = backoff * 2 > e->backoff_max_ms ?
			    e->backoff_max_ms : backoff * 2;
		}
	}
	if ((j = json_loadb(b.p, b.len, JSON_REJECT_DUPLICATES, &jerr)) ==
	    NULL || !json_is_object(j)) {
		r = APPUSER_ERR_CORRUPT;
		seterr(e, "%s: the response is not a JSON object", ep);
		goto out;
	}
	*respp = j;
	j = NULL;
	/* an earlier attempt's error is dropped once one succeeds */
	// cppcheck-suppress redundantAssignment
	r = 0;
	goto out;
 timeout:
	snprintf(last, sizeof(last), "%s", e->err[0] != '\0' ? e->err :
	    "none tried");
	seterr(e, "no etcd endpoint answered within %d ms (last: %.400s)",
	    e->timeout_ms, last);
 out:
	json_decref(j);
	curl_slist_free_all(hdrs);
	/* curl keeps the header list pointer: do not leave it dangling */
	curl_easy_setopt(e->curl, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(e->curl, CURLOPT_POSTFIELDS, NULL);
	buf_free(&b, wipe);
	return r;
}

/* --- authentication ------------------------------------------------------ */

/* JSON string body of s into out (at most outlen with the NUL). */
static bool
json_quote(const char *s, char *out, size_t outlen)
{
	size_t o = 0;

	if (outlen < 3)
		return false;
	out[o++] = '"';
	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;

		if (outlen - o < 8)
			return false;
		if (ch == '"' || ch == '\\') {
			out[o++] = '\\';
			out[o++] = (char)ch;
		} else if (ch < 0x20 || ch == 0x7f)
			o += (size_t)snprintf(out + o, outlen - o, "\\u%04x",
			    ch);
		else
			out[o++] = (char)ch;
	}
	out[o++] = '"';
	out[o] = '\0';
	return true;
}

static int
authenticate(struct etcd *e, int64_t deadline)
{
	size_t cap = 2 * 6 * (strlen(e->user) + strlen(e->password)) + 64;
	char *body = NULL, *qu = NULL, *qp = NULL;
	json_t *resp = NULL, *t;
	char last[sizeof(e->err)];
	int r = APPUSER_ERR_INTERNAL;

	/* the password goes only into wiped, locked memory */
	if ((body = sodium_malloc(cap)) == NULL ||
	    (qu = sodium_malloc(cap)) == NULL ||
	    (qp = sodium_malloc(cap)) == NULL) {
		r = APPUSER_ERR_NOMEM;
		goto out;
	}
	if (!json_quote(e->user, qu, cap) || !json_quote(e->password, qp,
	    cap)) {
		r = APPUSER_ERR_INTERNAL;
		goto out;
	}
	snprintf(body, cap, "{\"name\":%s,\"password\":%s}", qu, qp);
	if ((r = call(e, "/v3/auth/authenticate", body, strlen(body), true,
	    false, true, deadline, &resp)) != 0) {
		if (r == APPUSER_ERR_DENIED || r == APPUSER_ERR_INVALID) {
			r = APPUSER_ERR_DENIED;
			snprintf(last, sizeof(last), "%s", e->err);
			seterr(e, "authentication as etcd user \"%.64s\" "
			    "failed: %.300s", e->user, last);
		}
		goto out;
	}
	t = json_object_get(resp, "token");
	if (!json_is_string(t) || json_string_length(t) == 0 ||
	    json_string_length(t) >= TOKEN_MAX) {
		r = APPUSER_ERR_CORRUPT;
		seterr(e, "authenticate: no usable token in the answer");
		goto out;
	}
	memcpy(e->token, json_string_value(t), json_string_length(t) + 1);
	/* jansson's copy is freed without wiping: wipe it here */
	sodium_memzero((char *)json_string_value(t), json_string_length(t));
	e->auth_count++;
	r = 0;
 out:
	json_decref(resp);
	sodium_free(body);
	sodium_free(qu);
	sodium_free(qp);
	return r;
}

/* POST a request object (JSON) with the token. */
static int
call_json(struct etcd *e, const char *path, json_t *req, bool idempotent,
    json_t **respp)
{
	char *body;
	int r;

	*respp = NULL;
	if ((body = json_dumps(req, JSON_COMPACT)) == NULL) {
		seterr(e, "out of memory");
		return APPUSER_ERR_NOMEM;
	}
	r = call(e, path, body, strlen(body), idempotent, true, false,
	    fs_mono_ms() + e->timeout_ms, respp);
	free(body);
	return r;
}

/* --- open, close --------------------------------------------------------- */

static char *
dup_opt(const char *s, bool *ok)
{
	char *d;

	if (s == NULL)
		return NULL;
	if ((d = strdup(s)) == NULL)
		*ok = false;
	return d;
}

int
etcd_open(const struct etcd_config *cfg, struct etcd **ep, char *errbuf,
    size_t errlen)
{
	struct etcd *e = NULL;
	bool ok = true;
	size_t i, n;
	int r = APPUSER_ERR_INTERNAL;

	*ep = NULL;
	pthread_once(&global_once, global_init);
	if (!global_ok) {
		snprintf(errbuf, errlen, "libcurl or libsodium does not "
		    "initialise");
		goto out;
	}
	if (cfg->nendpoints == 0 || cfg->endpoints == NULL) {
		r = APPUSER_ERR_INVALID;
		snprintf(errbuf, errlen, "no etcd endpoint");
		goto out;
	}
	if ((cfg->user == NULL) != (cfg->password == NULL) ||
	    (cfg->cert == NULL) != (cfg->key == NULL)) {
		r = APPUSER_ERR_INVALID;
		snprintf(errbuf, errlen, "user and password, cert and key go "
		    "together");
		goto out;
	}
	if ((e = calloc(1, sizeof(*e))) == NULL ||
	    (e->endpoints = calloc(cfg->nendpoints, sizeof(char *))) ==
	    NULL || (e->token = sodium_malloc(TOKEN_MAX)) == NULL) {
		r = APPUSER_ERR_NOMEM;
		snprintf(errbuf, errlen, "out of memory");
		goto out;
	}
	e->token[0] = '\0';
	for (i = 0; i < cfg->nendpoints; i++) {
		if (strncmp(cfg->endpoints[i], "http://", 7) != 0 &&
		    strncmp(cfg->endpoints[i], "https://", 8) != 0) {
			r = APPUSER_ERR_INVALID;
			snprintf(errbuf, errlen, "endpoint %.100s: not http:// "
			    "or https://", cfg->endpoints[i]);
			goto out;
		}
		if ((e->endpoints[i] = strdup(cfg->endpoints[i])) == NULL)
			ok = false;
		e->nendpoints = i + 1;
		if (ok && strlen(e->endpoints[i]) > 1000) {
			r = APPUSER_ERR_INVALID;
			snprintf(errbuf, errlen, "endpoint too long");
			goto out;
		}
	}
	e->cacert = dup_opt(cfg->cacert, &ok);
	e->cert = dup_opt(cfg->cert, &ok);
	e->key = dup_opt(cfg->key, &ok);
	e->user = dup_opt(cfg->user, &ok);
	if (ok && cfg->password != NULL) {
		n = strlen(cfg->password) + 1;
		if ((e->password = sodium_malloc(n)) == NULL)
			ok = false;
		else
			memcpy(e->password, cfg->password, n);
	}
	if (!ok) {
		r = APPUSER_ERR_NOMEM;
		snprintf(errbuf, errlen, "out of memory");
		goto out;
	}
	e->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms :
	    ETCD_TIMEOUT_DEFAULT_MS;
	e->connect_timeout_ms = cfg->connect_timeout_ms > 0 ?
	    cfg->connect_timeout_ms : ETCD_CONNECT_TIMEOUT_DEFAULT_MS;
	e->backoff_max_ms = cfg->backoff_max_ms > 0 ? cfg->backoff_max_ms :
	    ETCD_BACKOFF_MAX_DEFAULT_MS;
	if (e->backoff_max_ms < BACKOFF_MIN_MS)
		e->backoff_max_ms = BACKOFF_MIN_MS;
	e->max_response = cfg->max_response > 0 ? cfg->max_response :
	    ETCD_MAX_RESPONSE_DEFAULT;
	/* hosts start on different members */
	e->cur = cfg->in_order ? 0 :
	    randombytes_uniform((uint32_t)e->nendpoints);
	if ((e->curl = curl_easy_init()) == NULL ||
	    (r = setup_handle(e, e->curl)) != 0) {
		r = APPUSER_ERR_INTERNAL;
		snprintf(errbuf, errlen, "libcurl: cannot set up a handle "
		    "(does it support https?)");
		goto out;
	}
	*ep = e;
	e = NULL;
	r = 0;
 out:
	etcd_close(e);
	return r;
}

int
etcd_open_fleet(const struct fleet_conf *conf, int timeout_ms,
    struct etcd **ep, char *errbuf, size_t errlen)
{
	struct etcd_config cfg;
	char *password = NULL;
	int r;

	*ep = NULL;
	memset(&cfg, 0, sizeof(cfg));
	if (conf->user != NULL && (r = fleet_conf_read_password(conf,
	    &password, errbuf, errlen)) != 0)
		return r;
	cfg.endpoints = (const char *const *)conf->endpoints;
	cfg.nendpoints = conf->nendpoints;
	cfg.cacert = conf->cacert;
	cfg.cert = conf->cert;
	cfg.key = conf->key;
	cfg.user = conf->user;
	cfg.password = password;
	cfg.timeout_ms = timeout_ms;
	r = etcd_open(&cfg, ep, errbuf, errlen);
	fleet_password_free(password);
	return r;
}

void
etcd_close(struct etcd *e)
{
	size_t i;

	if (e == NULL)
		return;
	if (e->curl != NULL)
		curl_easy_cleanup(e->curl);
	for (i = 0; i < e->nendpoints; i++)
		free(e->endpoints[i]);
	free(e->endpoints);
	free(e->cacert);
	free(e->cert);
	free(e->key);
	free(e->user);
	sodium_free(e->password);
	sodium_free(e->token);
	free(e);
}

const char *
etcd_errmsg(const struct etcd *e)
{
	return e->err;
}

void
etcd_set_timeout(struct etcd *e, int timeout_ms)
{
	if (timeout_ms > 0)
		e->timeout_ms = timeout_ms;
}

unsigned
etcd_auth_count(const struct etcd *e)
{
	return e->auth_count;
}

/* --- range ---------------------------------------------------------------- */

int
etcd_prefix_end(const void *prefix, size_t len, char **endp, size_t *endlenp)
{
	const unsigned char *p = prefix;
	char *end;
	size_t n = len;

	*endp = NULL;
	if (len == 0 || len > KEY_MAX)
		return APPUSER_ERR_INVALID;
	while (n > 0 && p[n - 1] == 0xff)
		n--;
	if ((end = malloc(n == 0 ? 2 : n + 1)) == NULL)
		return APPUSER_ERR_NOMEM;
	if (n == 0) {
		end[0] = '\0';	/* "\0": every key from the start */
		n = 1;
	} else {
		memcpy(end, p, n);
		end[n - 1] = (char)(p[n - 1] + 1);
	}
	end[n] = '\0';
	*endp = end;
	*endlenp = n;
	return 0;
}

void
etcd_range_free(struct etcd_range_res *res)
{
	size_t i;

	if (res == NULL)
		return;
	for (i = 0; i < res->nkvs; i++)
		kv_clear(&res->kvs[i]);
	free(res->kvs);
	free(res);
}

int
etcd_range(struct etcd *e, const struct etcd_range_req *q,
    struct etcd_range_res **resp)
{
	struct etcd_range_res *res = NULL;
	json_t *req = NULL, *ans = NULL, *kvs;
	size_t i, n;
	int r = APPUSER_ERR_INTERNAL;

	*resp = NULL;
	e->err[0] = '\0';
	if (q->keylen == 0 || q->revision < 0 || q->limit < 0) {
		r = APPUSER_ERR_INVALID;
		seterr(e, "range: empty key or negative revision or limit");
		goto out;
	}
	if ((req = json_object()) == NULL ||
	    !put_new(req, "key", b64_json(q->key, q->keylen)) ||
	    (q->range_end != NULL && !put_new(req, "range_end",
	    b64_json(q->range_end, q->range_endlen))) ||
	    (q->revision > 0 && !put_new(req, "revision",
	    i64_json(q->revision))) ||
	    (q->limit > 0 && !put_new(req, "limit", i64_json(q->limit))) ||
	    ((q->flags & ETCD_RANGE_SERIALIZABLE) != 0 &&
	    !put_new(req, "serializable", json_true())) ||
	    ((q->flags & ETCD_RANGE_KEYS_ONLY) != 0 &&
	    !put_new(req, "keys_only", json_true())) ||
	    ((q->flags & ETCD_RANGE_COUNT_ONLY) != 0 &&
	    !put_new(req, "count_only", json_true()))) {
		r = APPUSER_ERR_NOMEM;
		seterr(e, "range: out of memory (or a key over 2 MiB)");
		goto out;
	}
	if ((r = call_json(e, "/v3/kv/range", req, true, &ans)) != 0)
		goto out;
	if ((res = calloc(1, sizeof(*res))) == NULL) {
		r = APPUSER_ERR_NOMEM;
		goto out;
	}
	if ((r = header_revision(ans, &res->header_revision)) != 0 ||
	    (r = get_i64(ans, "count", &res->count)) != 0 ||
	    (r = get_bool(ans, "more", &res->more)) != 0)
		goto bad;
	kvs = json_object_get(ans, "kvs");
	if (kvs != NULL) {
		if (!json_is_array(kvs)) {
			r = APPUSER_ERR_CORRUPT;
			goto bad;
		}
		n = json_array_size(kvs);
		if (n > 0 && (res->kvs = calloc(n, sizeof(*res->kvs))) ==
		    NULL) {
			r = APPUSER_ERR_NOMEM;
			goto out;
		}
		for (i = 0; i < n; i++) {
			if ((r = parse_kv(json_array_get(kvs, i),
			    &res->kvs[i])) != 0)
				goto bad;
			res->nkvs = i + 1;
		}
	}
	res->revision = q->revision > 0 ? q->revision : res->header_revision;
	if (res->revision > res->header_revision) {
		r = APPUSER_ERR_CORRUPT;
		goto bad;
	}
	if (res->count < (int64_t)res->nkvs && (q->flags &
	    ETCD_RANGE_COUNT_ONLY) == 0) {
		r = APPUSER_ERR_CORRUPT;
		goto bad;
	}
	*resp = res;
	res = NULL;
	r = 0;
	goto out;
 bad:
	if (r == APPUSER_ERR_CORRUPT)
		seterr(e, "range: a malformed answer from %s",
		    e->endpoints[e->cur]);
 out:
	etcd_range_free(res);
	json_decref(req);
	json_decref(ans);
	return r;
}

int
etcd_range_all(struct etcd *e, const void *key, size_t keylen,
    const void *range_end, size_t range_endlen, int64_t revision,
    int64_t page, int flags, etcd_kv_cb cb, void *arg, int64_t *revisionp)
{
	struct etcd_range_req q;
	struct etcd_range_res *res = NULL;
	struct etcd_kv *last;
	char *next = NULL;
	size_t i;
	int r = APPUSER_ERR_INTERNAL;

	memset(&q, 0, sizeof(q));
	q.key = key;
	q.keylen = keylen;
	q.range_end = range_end;
	q.range_endlen = range_endlen;
	q.revision = revision;
	q.limit = page;
	q.flags = flags & ~ETCD_RANGE_COUNT_ONLY;
	for (;;) {
		if ((r = etcd_range(e, &q, &res)) != 0)
			goto out;
		/* every page at the first page's revision: one snapshot */
		q.revision = res->revision;
		for (i = 0; i < res->nkvs; i++)
			if ((r = cb(arg, &res->kvs[i])) != 0)
				goto out;
		if (!res->more || res->nkvs == 0)
			break;
		/* the next page starts just after the last key: key + "\0" */
		last = &res->kvs[res->nkvs - 1];
		free(next);
		if ((next = malloc(last->keylen + 1)) == NULL) {
			r = APPUSER_ERR_NOMEM;
			goto out;
		}
		memcpy(next, last->key, last->keylen);
		next[last->keylen] = '\0';
		q.key = next;
		q.keylen = last->keylen + 1;
		etcd_range_free(res);
		res = NULL;
	}
	*revisionp = q.revision;
	r = 0;
 out:
	etcd_range_free(res);
	free(next);
	return r;
}

/* --- txn ---------------------------------------------------------------- */

static json_t *
op_json(const struct etcd_op *op)
{
	json_t *o = NULL, *inner = NULL;

	if ((o = json_object()) == NULL || (inner = json_object()) == NULL ||
	    !put_new(inner, "key", b64_json(op->key, op->keylen)))
		goto fail;
	switch (op->type) {
	case ETCD_OP_PUT:
		if (!put_new(inner, "value", b64_json(op->value == NULL ? "" :
		    op->value, op->valuelen)) ||
		    json_object_set_new(o, "request_put", inner) != 0)
			goto fail_inner;
		break;
	case ETCD_OP_DELETE:
		if ((op->range_end != NULL && !put_new(inner, "range_end",
		    b64_json(op->range_end, op->range_endlen))) ||
		    json_object_set_new(o, "request_delete_range", inner) != 0)
			goto fail_inner;
		break;
	default:
		goto fail;
	}
	return o;
 fail:
	json_decref(inner);
 fail_inner:
	json_decref(o);
	return NULL;
}

static json_t *
cmp_json(const struct etcd_cmp *c)
{
	static const char *const targets[] = {
		"VERSION", "CREATE", "MOD", "VALUE",
	};
	static const char *const fields[] = {
		"version", "create_revision", "mod_revision", "value",
	};
	static const char *const results[] = {
		"EQUAL", "GREATER", "LESS", "NOT_EQUAL",
	};
	json_t *o;

	if ((unsigned)c->target > ETCD_CMP_VALUE ||
	    (unsigned)c->result > ETCD_CMP_NOT_EQUAL)
		return NULL;
	if ((o = json_object()) == NULL ||
	    !put_new(o, "key", b64_json(c->key, c->keylen)) ||
	    !put_new(o, "target", json_string(targets[c->target])) ||
	    !put_new(o, "result", json_string(results[c->result])) ||
	    !put_new(o, fields[c->target], c->target == ETCD_CMP_VALUE ?
	    b64_json(c->value == NULL ? "" : c->value, c->valuelen) :
	    i64_json(c->number))) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static bool
ops_json(json_t *req, const char *name, const struct etcd_op *ops, size_t n)
{
	json_t *a;
	size_t i;

	if (n == 0)
		return true;
	if ((a = json_array()) == NULL || json_object_set_new(req, name, a))
		return false;
	for (i = 0; i < n; i++)
		if (json_array_append_new(a, op_json(&ops[i])) != 0)
			return false;
	return true;
}

int
etcd_txn(struct etcd *e, const struct etcd_cmp *cmp, size_t ncmp,
    const struct etcd_op *success, size_t nsuccess,
    const struct etcd_op *failure, size_t nfailure, bool *succeededp,
    int64_t *revisionp)
{
	json_t *req = NULL, *ans = NULL, *a;
	int64_t rev = 0;
	bool ok = false;
	size_t i;
	int r = APPUSER_ERR_INTERNAL;

	e->err[0] = '\0';
	for (i = 0; i < ncmp; i++)
		if (cmp[i].keylen == 0)
			goto invalid;
	for (i = 0; i < nsuccess; i++)
		if (success[i].keylen == 0)
			goto invalid;
	for (i = 0; i < nfailure; i++)
		if (failure[i].keylen == 0)
			goto invalid;
	if ((req = json_object()) == NULL) {
		r = APPUSER_ERR_NOMEM;
		goto out;
	}
	if (ncmp > 0) {
		if ((a = json_array()) == NULL ||
		    json_object_set_new(req, "compare", a) != 0) {
			r = APPUSER_ERR_NOMEM;
			goto out;
		}
		for (i = 0; i < ncmp; i++)
			if (json_array_append_new(a, cmp_json(&cmp[i])) != 0)
				goto invalid;
	}
	if (!ops_json(req, "success", success, nsuccess) ||
	    !ops_json(req, "failure", failure, nfailure))
		goto invalid;
	if ((r = call_json(e, "/v3/kv/txn", req, false, &ans)) != 0)
		goto out;
	if ((r = header_revision(ans, &rev)) != 0 ||
	    (r = get_bool(ans, "succeeded", &ok)) != 0) {
		seterr(e, "txn: a malformed answer from %s",
		    e->endpoints[e->cur]);
		goto out;
	}
	*succeededp = ok;
	if (revisionp != NULL)
		*revisionp = rev;
	r = 0;
	goto out;
 invalid:
	r = APPUSER_ERR_INVALID;
	seterr(e, "txn: an empty key, an unknown operation, a key over 2 MiB "
	    "or out of memory");
 out:
	json_decref(req);
	json_decref(ans);
	return r;
}

int
etcd_put(struct etcd *e, const void *key, size_t keylen, const void *value,
    size_t valuelen, int64_t *revisionp)
{
	struct etcd_op op = {
		.type = ETCD_OP_PUT, .key = key, .keylen = keylen,
		.value = value, .valuelen = valuelen,
	};
	bool ok;

	return etcd_txn(e, NULL, 0, &op, 1, NULL, 0, &ok, revisionp);
}

/* --- watch --------------------------------------------------------------- */

enum wstate {
	W_RUNNING,
	W_STOP,		/* the callback or *stop asked to stop */
	W_FATAL,	/* return wr */
	W_RETRY,	/* the stream broke: another member */
	W_REAUTH,	/* new token, then again */
};

struct watch {
	struct etcd	*e;
	CURL		*h;
	const char	*ep;
	struct buf	 line;		/* bytes not yet ending in '\n' */
	const struct etcd_watch_opts *o;
	etcd_watch_cb	 cb;
	void		*arg;
	int64_t		 next_rev;	/* resume from here */
	int64_t		 compact_rev;
	int64_t		 last_data;	/* fs_mono_ms() of the last byte */
	long		 status;	/* HTTP status, once known */
	bool		 created;
	bool		 served;	/* delivered an event or progress */
	bool		 idle;
	enum wstate	 state;
	int		 wr;		/* the result for W_STOP / W_FATAL */
};

static void
watch_fail(struct watch *w, enum wstate st, int r)
{
	w->state = st;
	w->wr = r;
}

/* A stream's {"error":{...}} or a canceled watch's reason. */
static void
watch_server_error(struct watch *w, long code, const char *msg)
{
	enum verdict v;
	int r = classify(code, msg, &v);

	seterr(w->e, "%s: watch: %.300s", w->ep, msg);
	if (v == V_REAUTH && w->e->user != NULL)
		watch_fail(w, W_REAUTH, r);
	else if (v == V_RETRY || r == APPUSER_ERR_SYSTEM)
		watch_fail(w, W_RETRY, r);	/* "no leader": elsewhere */
	else
		watch_fail(w, W_FATAL, r);
}

/*
 * Hand the watcher's callback a batch: the events ev[0..n) (ours to free
 * after), or none for a progress notification at hrev.  The callback's
 * non-zero return stops the watch.
 */
static void
watch_deliver(struct watch *w, struct etcd_event *ev, size_t n, int64_t hrev)
{
	struct etcd_watch_batch b;
	int r;

	b.revision = n > 0 ? ev[n - 1].kv.mod_revision : hrev;
	b.header_revision = hrev;
	b.events = ev;
	b.nevents = n;
	if (n > 0)
		w->next_rev = b.revision + 1;
	w->served = true;
	if ((r = w->cb(w->arg, &b)) != 0)
		watch_fail(w, W_STOP, r);
}

static void
watch_events(struct watch *w, json_t *evs, int64_t hrev)
{
	struct etcd_event *ev = NULL;
	json_t *o, *t;
	size_t i, n = 0;
	int r;

	if (!json_is_array(evs) || (n = json_array_size(evs)) == 0) {
		r = APPUSER_ERR_CORRUPT;
		goto bad;
	}
	if ((ev = calloc(n, sizeof(*ev))) == NULL) {
		watch_fail(w, W_FATAL, APPUSER_ERR_NOMEM);
		seterr(w->e, "watch: out of memory");
		goto out;
	}
	for (i = 0; i < n; i++) {
		o = json_array_get(evs, i);
		if (!json_is_object(o)) {
			r = APPUSER_ERR_CORRUPT;
			goto bad;
		}
		t = json_object_get(o, "type");	/* absent: PUT (0) */
		if (t == NULL || (json_is_string(t) &&
		    strcmp(json_string_value(t), "PUT") == 0))
			ev[i].type = ETCD_EVENT_PUT;
		else if (json_is_string(t) &&
		    strcmp(json_string_value(t), "DELETE") == 0)
			ev[i].type = ETCD_EVENT_DELETE;
		else {
			r = APPUSER_ERR_CORRUPT;
			goto bad;
		}
		if ((r = parse_kv(json_object_get(o, "kv"), &ev[i].kv)) != 0)
			goto bad;
		/* in order, none older than what we asked for */
		if (ev[i].kv.mod_revision < w->next_rev ||
		    (i > 0 && ev[i].kv.mod_revision <
		    ev[i - 1].kv.mod_revision)) {
			kv_clear(&ev[i].kv);
			r = APPUSER_ERR_CORRUPT;
			goto bad;
		}
	}
	watch_deliver(w, ev, n, hrev);
	goto out;
 bad:
	seterr(w->e, "%s: watch: a malformed event", w->ep);
	watch_fail(w, W_FATAL, r);
 out:
	if (ev != NULL)
		for (i = 0; i < n; i++)
			kv_clear(&ev[i].kv);
	free(ev);
}

static void
watch_line(struct watch *w, const char *s, size_t len)
{
	json_t *j = NULL, *res, *err, *m, *hdr;
	int64_t hrev = 0, code = -1;
	bool created, canceled;
	const char *reason;

	if ((j = json_loadb(s, len, JSON_REJECT_DUPLICATES, NULL)) == NULL ||
	    !json_is_object(j))
		goto bad;
	if ((err = json_object_get(j, "error")) != NULL) {
		if (!json_is_object(err) ||
		    get_i64(err, "grpc_code", &code) != 0 ||
		    !json_is_string(m = json_object_get(err, "message")))
			goto bad;
		watch_server_error(w, (long)code, json_string_value(m));
		goto out;
	}
	if (!json_is_object(res = json_object_get(j, "result")))
		goto bad;
	/* a cancel's header has no revision (3.4): required below only */
	hdr = json_object_get(res, "header");
	if ((hdr != NULL && (!json_is_object(hdr) ||
	    get_i64(hdr, "revision", &hrev) != 0)) ||
	    get_bool(res, "created", &created) != 0 ||
	    get_bool(res, "canceled", &canceled) != 0 ||
	    get_i64(res, "compact_revision", &w->compact_rev) != 0)
		goto bad;
	if (canceled || w->compact_rev > 0) {
		/* compacted: etcd leaves the stream open; we close it */
		if (w->compact_rev > 0) {
			seterr(w->e, "%s: watch: revision %" PRId64 " was "
			    "compacted (oldest kept: %" PRId64 ")", w->ep,
			    w->next_rev, w->compact_rev);
			watch_fail(w, W_FATAL, APPUSER_ERR_EXPIRED);
			goto out;
		}
		m = json_object_get(res, "cancel_reason");
		reason = json_is_string(m) ? json_string_value(m) :
		    "canceled by the server";
		watch_server_error(w, -1, reason);
		goto out;
	}
	if (created) {
		w->created = true;
		goto out;
	}
	if (!w->created || hrev <= 0)
		goto bad;
	if (json_object_get(res, "events") != NULL) {
		watch_events(w, json_object_get(res, "events"), hrev);
		goto out;
	}
	/* progress notification: nothing pending up to hrev */
	watch_deliver(w, NULL, 0, hrev);
	goto out;
 bad:
	seterr(w->e, "%s: watch: a malformed line", w->ep);
	watch_fail(w, W_FATAL, APPUSER_ERR_CORRUPT);
 out:
	json_decref(j);
}

static size_t
watch_write_cb(char *data, size_t size, size_t n, void *arg)
{
	struct watch *w = arg;
	char *nl, *start;
	size_t used;

	(void)size;
	w->last_data = fs_mono_ms();
	if (w->status == 0)
		curl_easy_getinfo(w->h, CURLINFO_RESPONSE_CODE, &w->status);
	if (!buf_reserve(&w->line, n)) {
		seterr(w->e, "%s: watch: a line longer than %zu bytes", w->ep,
		    w->line.max);
		watch_fail(w, W_FATAL, APPUSER_ERR_CORRUPT);
		return 0;
	}
	memcpy(w->line.p + w->line.len, data, n);
	w->line.len += n;
	w->line.p[w->line.len] = '\0';
	if (w->status != 200)
		return n;	/* an error body: read it whole */
	start = w->line.p;
	while (w->state == W_RUNNING && (nl = memchr(start, '\n',
	    w->line.len - (size_t)(start - w->line.p))) != NULL) {
		if (nl > start)
			watch_line(w, start, (size_t)(nl - start));
		start = nl + 1;
	}
	used = (size_t)(start - w->line.p);
	memmove(w->line.p, start, w->line.len - used);
	w->line.len -= used;
	w->line.p[w->line.len] = '\0';
	return w->state == W_RUNNING ? n : 0;
}

static int
watch_progress_cb(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut,
    curl_off_t un)
{
	struct watch *w = arg;

	(void)dt; (void)dn; (void)ut; (void)un;
	if (w->o->stop != NULL && *w->o->stop) {
		watch_fail(w, W_STOP, 0);
		return 1;
	}
	if (fs_mono_ms() - w->last_data > w->o->idle_ms) {
		w->idle = true;
		return 1;
	}
	return 0;
}

/* One stream on w->ep until it ends; sets w->state. */
static void
watch_stream(struct watch *w, const char *body)
{
	struct curl_slist *hdrs = NULL;
	char url[1200];
	enum verdict v;
	CURLcode cc;

	w->line.len = 0;
	w->status = 0;
	w->created = false;
	w->served = false;
	w->idle = false;
	w->state = W_RUNNING;
	w->last_data = fs_mono_ms();
	snprintf(url, sizeof(url), "%s/v3/watch", w->ep);
	if ((hdrs = make_headers(w->e, true, true)) == NULL) {
		watch_fail(w, W_FATAL, APPUSER_ERR_NOMEM);
		return;
	}
	curl_easy_setopt(w->h, CURLOPT_URL, url);
	curl_easy_setopt(w->h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(w->h, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(w->h, CURLOPT_WRITEFUNCTION, watch_write_cb);
	curl_easy_setopt(w->h, CURLOPT_WRITEDATA, w);
	curl_easy_setopt(w->h, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(w->h, CURLOPT_XFERINFOFUNCTION, watch_progress_cb);
	curl_easy_setopt(w->h, CURLOPT_XFERINFODATA, w);
	curl_easy_setopt(w->h, CURLOPT_TIMEOUT_MS, 0L);	/* idle_ms instead */
	curl_easy_setopt(w->h, CURLOPT_CONNECTTIMEOUT_MS,
	    (long)w->e->connect_timeout_ms);
	cc = curl_easy_perform(w->h);
	curl_easy_setopt(w->h, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(hdrs);
	if (w->state != W_RUNNING)
		return;		/* stopped, failed or told to retry */
	if (w->status != 0 && w->status != 200) {
		int r = http_error(w->e, w->ep, w->status, &w->line, &v);

		watch_fail(w, v == V_REAUTH && w->e->user != NULL ? W_REAUTH :
		    v == V_RETRY ? W_RETRY : W_FATAL, r);
		return;
	}
	if (w->idle)
		seterr(w->e, "%s: watch: nothing received for %d ms", w->ep,
		    w->o->idle_ms);
	else if (cc != CURLE_OK)
		seterr(w->e, "%s: watch: %s", w->ep, curl_easy_strerror(cc));
	else
		seterr(w->e, "%s: watch: the stream ended", w->ep);
	watch_fail(w, W_RETRY, APPUSER_ERR_SYSTEM);
}

static char *
watch_body(const void *key, size_t keylen, const void *range_end,
    size_t relen, int64_t rev)
{
	json_t *req = NULL, *cr = NULL;
	char *s = NULL;

	if ((req = json_object()) == NULL || (cr = json_object()) == NULL ||
	    !put_new(cr, "key", b64_json(key, keylen)) ||
	    (range_end != NULL && !put_new(cr, "range_end",
	    b64_json(range_end, relen))) ||
	    !put_new(cr, "start_revision", i64_json(rev)) ||
	    !put_new(cr, "progress_notify", json_true()) ||
	    json_object_set_new(req, "create_request", cr) != 0) {
		json_decref(cr);
		goto out;
	}
	s = json_dumps(req, JSON_COMPACT);
 out:
	json_decref(req);
	return s;
}

int
etcd_watch(struct etcd *e, const void *key, size_t keylen,
    const void *range_end, size_t range_endlen, int64_t start_revision,
    const struct etcd_watch_opts *o, etcd_watch_cb cb, void *arg,
    int64_t *compact_revisionp)
{
	struct etcd_watch_opts opts;
	struct watch w;
	char *body = NULL;
	int64_t deadline, backoff = BACKOFF_MIN_MS, left;
	int r = APPUSER_ERR_INTERNAL, failures = 0, reauths = 0;

	e->err[0] = '\0';
	memset(&opts, 0, sizeof(opts));
	if (o != NULL)
		opts = *o;
	if (opts.idle_ms <= 0)
		opts.idle_ms = WATCH_IDLE_DEFAULT_MS;
	if (opts.unreachable_ms <= 0)
		opts.unreachable_ms = e->timeout_ms;
	memset(&w, 0, sizeof(w));
	w.e = e;
	w.o = &opts;
	w.cb = cb;
	w.arg = arg;
	w.next_rev = start_revision;
	w.line.max = e->max_response;
	if (keylen == 0 || start_revision <= 0 || cb == NULL) {
		r = APPUSER_ERR_INVALID;
		seterr(e, "watch: an empty key or a revision below 1");
		goto out;
	}
	if ((w.h = curl_easy_init()) == NULL ||
	    (r = setup_handle(e, w.h)) != 0) {
		r = APPUSER_ERR_INTERNAL;
		seterr(e, "watch: libcurl: cannot set up a handle");
		goto out;
	}
	deadline = fs_mono_ms() + opts.unreachable_ms;
	for (;;) {
		if (opts.stop != NULL && *opts.stop) {
			r = 0;
			goto out;
		}
		if (e->user != NULL && e->token[0] == '\0' &&
		    (r = authenticate(e, deadline)) != 0) {
			if (r != APPUSER_ERR_SYSTEM)
				goto out;
			w.state = W_RETRY;	/* nobody answered: below */
			w.served = false;
		} else {
			free(body);
			if ((body = watch_body(key, keylen, range_end,
			    range_endlen, w.next_rev)) == NULL) {
				r = APPUSER_ERR_NOMEM;
				seterr(e, "watch: out of memory");
				goto out;
			}
			w.ep = e->endpoints[e->cur];
			watch_stream(&w, body);
		}
		switch (w.state) {
		case W_STOP:
			r = w.wr;
			goto out;
		case W_FATAL:
			r = w.wr;
			if (r == APPUSER_ERR_EXPIRED &&
			    compact_revisionp != NULL)
				*compact_revisionp = w.compact_rev;
			goto out;
		case W_REAUTH:
			/* a fresh token refused again: do not loop */
			if (++reauths > 3) {
				r = APPUSER_ERR_DENIED;
				goto out;
			}
			sleep_ms(jitter(REAUTH_JITTER_MS));
			sodium_memzero(e->token, TOKEN_MAX);
			continue;
		default:
			break;
		}
		/*
		 * W_RETRY: a stream that delivered resets the clock; one that
		 * was only created does not (a member without a leader
		 * accepts a watch, then ends it with "no leader")
		 */
		if (w.served) {
			deadline = fs_mono_ms() + opts.unreachable_ms;
			backoff = BACKOFF_MIN_MS;
			failures = 0;
			reauths = 0;
		}
		if ((left = deadline - fs_mono_ms()) <= 0) {
			char last[sizeof(e->err)];

			snprintf(last, sizeof(last), "%s", e->err);
			r = APPUSER_ERR_SYSTEM;
			seterr(e, "watch: no etcd endpoint served the watch "
			    "for %d ms (last: %.400s)", opts.unreachable_ms,
			    last);
			goto out;
		}
		e->cur = (e->cur + 1) % e->nendpoints;
		if (++failures >= (int)e->nendpoints) {
			sleep_ms(jitter(backoff) < left ? jitter(backoff) :
			    left);
			backoff = backoff * 2 > e->backoff_max_ms ?
			    e->backoff_max_ms : backoff * 2;
		}
	}
 out:
	if (w.h != NULL)
		curl_easy_cleanup(w.h);
	buf_free(&w.line, false);
	free(body);
	return r;
}
