/*
 * Bounds-checked writer/reader for the record encoding (see codec.h).
 */
#include <stdlib.h>
#include <string.h>

#include "codec.h"

#define WBUF_MAX	(16u * 1024 * 1024)	/* no record comes near this */

static int
wbuf_reserve(struct wbuf *w, size_t n)
{
	size_t ncap;
	uint8_t *nbuf;

	if (w->err != 0)
		return w->err;
	if (n <= w->cap - w->len)
		return 0;
	if (n > WBUF_MAX - w->len) {
		w->err = APPUSER_ERR_INVALID;
		return w->err;
	}
	ncap = w->cap ? w->cap : 128;
	while (ncap - w->len < n)
		ncap *= 2;
	if ((nbuf = realloc(w->buf, ncap)) == NULL) {
		w->err = APPUSER_ERR_NOMEM;
		return w->err;
	}
	w->buf = nbuf;
	w->cap = ncap;
	return 0;
}

void
wbuf_put_bytes(struct wbuf *w, const void *p, size_t n)
{
	if (n == 0 || wbuf_reserve(w, n) != 0)
		return;
	memcpy(w->buf + w->len, p, n);
	w->len += n;
}

void
wbuf_put_u8(struct wbuf *w, uint8_t v)
{
	wbuf_put_bytes(w, &v, 1);
}

/* v's low n bytes (n <= 8), big-endian: every integer of the format. */
static void
put_be(struct wbuf *w, uint64_t v, size_t n)
{
	uint8_t b[8];
	size_t i;

	for (i = 0; i < n; i++)
		b[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
	wbuf_put_bytes(w, b, n);
}

void
wbuf_put_u16(struct wbuf *w, uint16_t v)
{
	put_be(w, v, 2);
}

void
wbuf_put_u32(struct wbuf *w, uint32_t v)
{
	put_be(w, v, 4);
}

void
wbuf_put_u64(struct wbuf *w, uint64_t v)
{
	put_be(w, v, 8);
}

void
wbuf_put_str(struct wbuf *w, const char *s)
{
	size_t n;

	if (w->err != 0)
		return;
	if (s == NULL || (n = strnlen(s, UINT16_MAX)) >= UINT16_MAX) {
		w->err = APPUSER_ERR_INVALID;
		return;
	}
	wbuf_put_u16(w, (uint16_t)(n + 1));
	wbuf_put_bytes(w, s, n + 1);
}

int
wbuf_finish(struct wbuf *w, uint8_t **bufp, size_t *lenp)
{
	int r = w->err;

	if (r == 0 && w->len == 0)
		r = APPUSER_ERR_INTERNAL;
	if (r != 0) {
		free(w->buf);
		w->buf = NULL;
		w->len = w->cap = 0;
		return r;
	}
	*bufp = w->buf;
	*lenp = w->len;
	w->buf = NULL;
	w->len = w->cap = 0;
	return 0;
}

void
rbuf_init(struct rbuf *r, const uint8_t *buf, size_t len)
{
	r->buf = buf;
	r->len = buf == NULL ? 0 : len;
	r->off = 0;
	r->err = 0;
}

size_t
rbuf_left(const struct rbuf *r)
{
	return r->err != 0 ? 0 : r->len - r->off;
}

void
rbuf_get_bytes(struct rbuf *r, void *p, size_t n)
{
	if (r->err == 0 && n > r->len - r->off)
		r->err = APPUSER_ERR_CORRUPT;
	if (r->err != 0) {
		if (n > 0)
			memset(p, 0, n);
		return;
	}
	if (n > 0)
		memcpy(p, r->buf + r->off, n);
	r->off += n;
}

uint8_t
rbuf_get_u8(struct rbuf *r)
{
	uint8_t v;

	rbuf_get_bytes(r, &v, 1);
	return v;
}

uint16_t
rbuf_get_u16(struct rbuf *r)
{
	uint8_t b[2];

	rbuf_get_bytes(r, b, sizeof(b));
	return (uint16_t)((b[0] << 8) | b[1]);
}

uint32_t
rbuf_get_u32(struct rbuf *r)
{
	uint8_t b[4];

	rbuf_get_bytes(r, b, sizeof(b));
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 |
	    (uint32_t)b[2] << 8 | (uint32_t)b[3];
}

uint64_t
rbuf_get_u64(struct rbuf *r)
{
	uint8_t b[8];
	uint64_t v = 0;
	int i;

	rbuf_get_bytes(r, b, sizeof(b));
	for (i = 0; i < 8; i++)
		v = v << 8 | b[i];
	return v;
}

const char *
rbuf_get_str(struct rbuf *r)
{
	const char *s;
	size_t n;

	n = rbuf_get_u16(r);
	if (r->err != 0)
		return NULL;
	/* n counts the NUL: it must be there, at the end and nowhere else */
	if (n == 0 || n > r->len - r->off) {
		r->err = APPUSER_ERR_CORRUPT;
		return NULL;
	}
	s = (const char *)(r->buf + r->off);
	if (memchr(s, '\0', n) != s + n - 1) {
		r->err = APPUSER_ERR_CORRUPT;
		return NULL;
	}
	r->off += n;
	return s;
}

int
rbuf_finish(const struct rbuf *r)
{
	if (r->err != 0)
		return r->err;
	return r->off == r->len ? 0 : APPUSER_ERR_CORRUPT;
}

/* 1 if lo <= c <= hi, without a branch (c, lo, hi < 256). */
static unsigned int
ct_in_range(unsigned int c, unsigned int lo, unsigned int hi)
{
	return (((c - lo) | (hi - c)) >> (sizeof(unsigned int) * 8 - 1)) ^ 1u;
}

bool
base62_valid(const char *s, size_t n)
{
	unsigned int bad = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned int c = (unsigned char)s[i];

		bad |= 1u ^ (ct_in_range(c, '0', '9') |
		    ct_in_range(c, 'A', 'Z') | ct_in_range(c, 'a', 'z'));
	}
	return bad == 0;
}

uint32_t
le32_get(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

uint64_t
le64_get(const uint8_t *p)
{
	return (uint64_t)le32_get(p) | (uint64_t)le32_get(p + 4) << 32;
}

void
le32_put(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

void
le64_put(uint8_t *p, uint64_t v)
{
	le32_put(p, (uint32_t)v);
	le32_put(p + 4, (uint32_t)(v >> 32));
}
