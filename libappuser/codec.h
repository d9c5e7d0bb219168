/*
 * Internal: bounds-checked byte writer and reader for record.c.
 *
 * Both carry a sticky error: after the first failure every call is a no-op,
 * so an encoder or decoder can run its fields in a row and check once at the
 * end.  Integers are big-endian.  A string is a u16 length counting the
 * trailing NUL, the bytes, and the NUL.
 */
#ifndef APPUSER_CODEC_H
#define APPUSER_CODEC_H

#include "appuser.h"

struct wbuf {
	uint8_t	*buf;
	size_t	 len;
	size_t	 cap;
	int	 err;		/* 0 or APPUSER_ERR_* */
};
#define WBUF_INIT { NULL, 0, 0, 0 }

void wbuf_put_bytes(struct wbuf *w, const void *p, size_t n);
void wbuf_put_u8(struct wbuf *w, uint8_t v);
void wbuf_put_u16(struct wbuf *w, uint16_t v);
void wbuf_put_u32(struct wbuf *w, uint32_t v);
void wbuf_put_u64(struct wbuf *w, uint64_t v);
/* s must not be NULL (INVALID); strings longer than 65534 bytes: INVALID. */
void wbuf_put_str(struct wbuf *w, const char *s);
/* Hands the buffer out (0) or frees it and returns the sticky error. */
int wbuf_finish(struct wbuf *w, uint8_t **bufp, size_t *lenp);

struct rbuf {
	const uint8_t	*buf;
	size_t		 len;
	size_t		 off;
	int		 err;	/* 0 or APPUSER_ERR_CORRUPT */
};

void rbuf_init(struct rbuf *r, const uint8_t *buf, size_t len);
/* Each getter leaves its output zeroed (or NULL) on error. */
void rbuf_get_bytes(struct rbuf *r, void *p, size_t n);
uint8_t rbuf_get_u8(struct rbuf *r);
uint16_t rbuf_get_u16(struct rbuf *r);
uint32_t rbuf_get_u32(struct rbuf *r);
uint64_t rbuf_get_u64(struct rbuf *r);
/* Returns a pointer into the buffer, or NULL on error. */
const char *rbuf_get_str(struct rbuf *r);
size_t rbuf_left(const struct rbuf *r);
/* 0 if no error and every byte was consumed, else APPUSER_ERR_CORRUPT. */
int rbuf_finish(const struct rbuf *r);

/* Are the n bytes at s all base62 digits [0-9A-Za-z]?  Constant time. */
/* Little-endian fixed-width integers in the on-disk files (snapshot and
 * usage files; records use the big-endian wbuf/rbuf above). */
uint32_t le32_get(const uint8_t *p);
uint64_t le64_get(const uint8_t *p);
void le32_put(uint8_t *p, uint32_t v);
void le64_put(uint8_t *p, uint64_t v);

bool base62_valid(const char *s, size_t n);

#endif
