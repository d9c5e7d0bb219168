/*
 * Unit tests for the record codec (libappuser/codec.c) on its own: the
 * writer's sticky error (a refused field stops every later one, and
 * finish frees and reports it), the reader's bounds, and the fixed-width
 * and base62 helpers.  Records built on it are tests/test_record.c's.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "codec.h"

static void
test_writer(void **state)
{
	struct wbuf w = WBUF_INIT;
	uint8_t *buf = NULL, want[] = {
		0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a,
		0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x00, 0x03, 'h', 'i', 0x00,
	};
	size_t len = 0;

	(void)state;
	wbuf_put_u8(&w, 0x01);
	wbuf_put_u16(&w, 0x0203);
	wbuf_put_u32(&w, 0x04050607);
	wbuf_put_u64(&w, 0x08090a0b0c0d0e0fULL);
	wbuf_put_bytes(&w, "", 0);		/* nothing, no error */
	wbuf_put_str(&w, "hi");
	assert_int_equal(wbuf_finish(&w, &buf, &len), 0);
	assert_int_equal(len, sizeof(want));
	assert_memory_equal(buf, want, sizeof(want));
	assert_null(w.buf);
	free(buf);
	/* nothing written is not a record */
	assert_int_equal(wbuf_finish(&w, &buf, &len), APPUSER_ERR_INTERNAL);
}

/* The first refused field sticks: later ones write nothing, and finish
 * frees the buffer and returns it. */
static void
test_writer_sticky(void **state)
{
	static uint8_t big[16u * 1024 * 1024 + 1];
	char *longstr;
	struct wbuf w = WBUF_INIT;
	uint8_t *buf = NULL;
	size_t len = 0;

	(void)state;
	wbuf_put_u32(&w, 1);
	wbuf_put_str(&w, NULL);
	assert_int_equal(w.err, APPUSER_ERR_INVALID);
	wbuf_put_str(&w, "x");
	wbuf_put_u32(&w, 2);
	assert_int_equal(w.len, 4);
	assert_int_equal(wbuf_finish(&w, &buf, &len), APPUSER_ERR_INVALID);
	assert_null(buf);
	assert_null(w.buf);
	assert_int_equal(w.len, 0);
	/* beyond what any record may be (a fresh writer each time: the
	 * error outlives finish) */
	w = (struct wbuf)WBUF_INIT;
	wbuf_put_u8(&w, 1);
	assert_int_equal(w.err, 0);
	wbuf_put_bytes(&w, big, sizeof(big));
	assert_int_equal(w.err, APPUSER_ERR_INVALID);
	assert_int_equal(w.len, 1);
	assert_int_equal(wbuf_finish(&w, &buf, &len), APPUSER_ERR_INVALID);
	/* a string longer than its u16 length can say */
	w = (struct wbuf)WBUF_INIT;
	longstr = malloc(UINT16_MAX + 1);
	assert_non_null(longstr);
	memset(longstr, 'a', UINT16_MAX);
	longstr[UINT16_MAX] = '\0';
	wbuf_put_str(&w, longstr);
	assert_int_equal(w.err, APPUSER_ERR_INVALID);
	assert_int_equal(w.len, 0);
	assert_int_equal(wbuf_finish(&w, &buf, &len), APPUSER_ERR_INVALID);
	free(longstr);
}

static void
test_reader(void **state)
{
	static const uint8_t in[] = {
		0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x00, 0x03, 'h', 'i',
		0x00, 0x00, 0x02, 'x', 'y',
	};
	struct rbuf r;
	uint8_t b[2];

	(void)state;
	rbuf_init(&r, in, sizeof(in));
	assert_int_equal(rbuf_get_u8(&r), 0x01);
	assert_int_equal(rbuf_get_u16(&r), 0x0203);
	assert_int_equal(rbuf_get_u32(&r), 0x04050607);
	assert_string_equal(rbuf_get_str(&r), "hi");
	assert_int_equal(rbuf_left(&r), 4);
	assert_null(rbuf_get_str(&r));		/* no NUL where it says */
	assert_int_equal(rbuf_finish(&r), APPUSER_ERR_CORRUPT);
	assert_int_equal(rbuf_get_u64(&r), 0);	/* sticky */
	rbuf_init(&r, in, 3);
	rbuf_get_bytes(&r, b, 2);
	assert_int_equal(rbuf_finish(&r), APPUSER_ERR_CORRUPT); /* 1 left */
	assert_int_equal(rbuf_get_u32(&r), 0);		/* past the end */
	assert_int_equal(rbuf_finish(&r), APPUSER_ERR_CORRUPT);
}

static void
test_fixed_and_base62(void **state)
{
	uint8_t b[8];

	(void)state;
	le32_put(b, 0x01020304u);
	assert_int_equal(b[0], 0x04);
	assert_int_equal(le32_get(b), 0x01020304u);
	le64_put(b, 0x0102030405060708ULL);
	assert_int_equal(b[0], 0x08);
	assert_true(le64_get(b) == 0x0102030405060708ULL);
	assert_true(base62_valid("az09AZ", 6));
	assert_true(base62_valid("", 0));
	assert_false(base62_valid("a-b", 3));
	assert_false(base62_valid("ab\0", 3));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_writer),
		cmocka_unit_test(test_writer_sticky),
		cmocka_unit_test(test_reader),
		cmocka_unit_test(test_fixed_and_base62),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
