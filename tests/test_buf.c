/*
 * sv_buf and sv_rd: ceilings, compaction, big-endian helpers, cursor rules.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/err.h"

static void
buf_starts_empty_without_allocating(void **state)
{
	struct sv_buf b;
	size_t n;

	sv_buf_init(&b, 100);
	assert_int_equal(sv_buf_len(&b), 0);
	assert_null(b.data);
	assert_non_null(sv_buf_peek(&b, &n));
	assert_int_equal(n, 0);
	sv_buf_cleanup(&b);
	sv_buf_cleanup(&b); /* twice is fine */
}

static void
buf_put_integers_are_big_endian(void **state)
{
	struct sv_buf b;
	size_t n;
	static const uint8_t want[] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06,
	                               0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c,
	                               0x0d, 0x0e, 0x0f, 'h',  'i'};

	sv_buf_init(&b, 1024);
	assert_int_equal(sv_buf_put_u8(&b, 0x01), 0);
	assert_int_equal(sv_buf_put_u16(&b, 0x0203), 0);
	assert_int_equal(sv_buf_put_u32(&b, 0x04050607), 0);
	assert_int_equal(sv_buf_put_u64(&b, 0x08090a0b0c0d0e0fULL), 0);
	assert_int_equal(sv_buf_put_str(&b, "hi"), 0);
	const uint8_t *p = sv_buf_peek(&b, &n);
	assert_int_equal(n, sizeof want);
	assert_memory_equal(p, want, sizeof want);
	sv_buf_cleanup(&b);
}

static void
buf_rejects_put_past_ceiling_and_keeps_contents(void **state)
{
	struct sv_buf b;
	size_t n;

	sv_buf_init(&b, 8);
	assert_int_equal(sv_buf_put(&b, "12345678", 8), 0);
	assert_int_equal(sv_buf_put_u8(&b, 'x'), SV_E_TOOBIG);
	assert_int_equal(sv_buf_put_u64(&b, 1), SV_E_TOOBIG);
	assert_int_equal(sv_buf_reserve(&b, SIZE_MAX), SV_E_TOOBIG);
	const uint8_t *p = sv_buf_peek(&b, &n);
	assert_int_equal(n, 8);
	assert_memory_equal(p, "12345678", 8);
	assert_true(b.cap <= 8);
	sv_buf_cleanup(&b);
}

static void
buf_consume_frees_room_under_ceiling(void **state)
{
	struct sv_buf b;
	size_t n;

	sv_buf_init(&b, 8);
	assert_int_equal(sv_buf_put(&b, "abcdefgh", 8), 0);
	sv_buf_consume(&b, 3);
	assert_int_equal(sv_buf_len(&b), 5);
	/* Room comes back by compaction, without growing past the ceiling. */
	assert_int_equal(sv_buf_put(&b, "xyz", 3), 0);
	const uint8_t *p = sv_buf_peek(&b, &n);
	assert_int_equal(n, 8);
	assert_memory_equal(p, "defghxyz", 8);
	assert_true(b.cap <= 8);
	sv_buf_cleanup(&b);
}

static void
buf_grows_and_keeps_unread_bytes(void **state)
{
	struct sv_buf b;
	uint8_t chunk[100];
	size_t n;

	sv_buf_init(&b, 1 << 20);
	for (int i = 0; i < 100; i++) {
		memset(chunk, i, sizeof chunk);
		assert_int_equal(sv_buf_put(&b, chunk, sizeof chunk), 0);
		if (i % 3 == 0)
			sv_buf_consume(&b, 50);
	}
	const uint8_t *p = sv_buf_peek(&b, &n);
	assert_int_equal(n, 100 * 100 - 34 * 50);
	/* 34 * 50 = 1700 bytes consumed: 17 whole chunks gone. */
	assert_int_equal(p[0], 17);
	assert_int_equal(p[n - 1], 99);
	sv_buf_cleanup(&b);
}

static void
buf_reserve_tail_commit_appends(void **state)
{
	struct sv_buf b;
	size_t n;

	sv_buf_init(&b, 64);
	assert_int_equal(sv_buf_put_str(&b, "ab"), 0);
	assert_int_equal(sv_buf_reserve(&b, 10), 0);
	memcpy(sv_buf_tail(&b), "cdef", 4);
	sv_buf_commit(&b, 4);
	const uint8_t *p = sv_buf_peek(&b, &n);
	assert_int_equal(n, 6);
	assert_memory_equal(p, "abcdef", 6);
	sv_buf_cleanup(&b);
}

static void
buf_printf_formats_and_respects_ceiling(void **state)
{
	struct sv_buf b;
	size_t n;

	sv_buf_init(&b, 16);
	assert_int_equal(sv_buf_printf(&b, "%s %d", "POST", 42), 0);
	const uint8_t *p = sv_buf_peek(&b, &n);
	assert_int_equal(n, 7);
	assert_memory_equal(p, "POST 42", 7);
	/* Fills exactly to the ceiling (the NUL vsnprintf writes is not kept).
	 */
	assert_int_equal(sv_buf_printf(&b, "%s", "123456789"), 0);
	assert_int_equal(sv_buf_len(&b), 16);
	assert_int_equal(sv_buf_printf(&b, "x"), SV_E_TOOBIG);
	assert_int_equal(sv_buf_len(&b), 16);
	sv_buf_cleanup(&b);
}

static void
buf_set_u32_at_patches_relative_to_unread(void **state)
{
	struct sv_buf b;
	size_t n;

	sv_buf_init(&b, 64);
	assert_int_equal(sv_buf_put_str(&b, "zz"), 0);
	sv_buf_consume(&b, 1);
	assert_int_equal(sv_buf_put_u32(&b, 0), 0);
	sv_buf_set_u32_at(&b, 1, 0xdeadbeef);
	const uint8_t *p = sv_buf_peek(&b, &n);
	assert_int_equal(n, 5);
	assert_memory_equal(p, "z\xde\xad\xbe\xef", 5);
	sv_buf_cleanup(&b);
}

static void
buf_reset_drops_bytes(void **state)
{
	struct sv_buf b;

	sv_buf_init(&b, 64);
	assert_int_equal(sv_buf_put_str(&b, "hello"), 0);
	sv_buf_reset(&b);
	assert_int_equal(sv_buf_len(&b), 0);
	assert_int_equal(sv_buf_put_str(&b, "x"), 0);
	assert_int_equal(sv_buf_len(&b), 1);
	sv_buf_cleanup(&b);
	assert_null(b.data);
	assert_int_equal(sv_buf_len(&b), 0);
}

static void
rd_reads_big_endian_and_advances(void **state)
{
	static const uint8_t in[] = {1,  2,  3,  4,  5,  6,  7,  8, 9,
	                             10, 11, 12, 13, 14, 15, 16, 17};
	struct sv_rd r = sv_rd_make(in, sizeof in);
	uint8_t a;
	uint16_t b;
	uint32_t c;
	uint64_t d;
	const uint8_t *p;

	assert_int_equal(sv_rd_u8(&r, &a), 0);
	assert_int_equal(a, 1);
	assert_int_equal(sv_rd_u16(&r, &b), 0);
	assert_int_equal(b, 0x0203);
	assert_int_equal(sv_rd_u32(&r, &c), 0);
	assert_int_equal(c, 0x04050607);
	assert_int_equal(sv_rd_u64(&r, &d), 0);
	assert_true(d == 0x08090a0b0c0d0e0fULL);
	assert_int_equal(sv_rd_skip(&r, 1), 0);
	assert_int_equal(sv_rd_bytes(&r, &p, 1), 0);
	assert_int_equal(p[0], 17);
	assert_int_equal(r.n, 0);
}

static void
rd_short_read_is_incomplete_and_leaves_cursor(void **state)
{
	static const uint8_t in[] = {1, 2, 3};
	struct sv_rd r = sv_rd_make(in, sizeof in);
	uint32_t c = 77;
	uint64_t d = 77;
	const uint8_t *p = NULL;

	assert_int_equal(sv_rd_u32(&r, &c), SV_E_INCOMPLETE);
	assert_int_equal(c, 77);
	assert_int_equal(sv_rd_u64(&r, &d), SV_E_INCOMPLETE);
	assert_int_equal(sv_rd_bytes(&r, &p, 4), SV_E_INCOMPLETE);
	assert_null(p);
	assert_int_equal(sv_rd_skip(&r, SIZE_MAX), SV_E_INCOMPLETE);
	assert_int_equal(r.n, 3);
	assert_ptr_equal(r.p, in);
}

static void
hexval_reads_digits_of_either_case_only(void **state)
{
	(void)state;
	assert_int_equal(sv_hexval('0'), 0);
	assert_int_equal(sv_hexval('9'), 9);
	assert_int_equal(sv_hexval('a'), 10);
	assert_int_equal(sv_hexval('F'), 15);
	assert_int_equal(sv_hexval('g'), -1);
	assert_int_equal(sv_hexval('G'), -1);
	assert_int_equal(sv_hexval('/'), -1);
	assert_int_equal(sv_hexval(':'), -1);
	assert_int_equal(sv_hexval('@'), -1);
	assert_int_equal(sv_hexval('`'), -1);
	assert_int_equal(sv_hexval(0xc3), -1);
	assert_int_equal(sv_hexval(-1), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(buf_starts_empty_without_allocating),
	    cmocka_unit_test(buf_put_integers_are_big_endian),
	    cmocka_unit_test(buf_rejects_put_past_ceiling_and_keeps_contents),
	    cmocka_unit_test(buf_consume_frees_room_under_ceiling),
	    cmocka_unit_test(buf_grows_and_keeps_unread_bytes),
	    cmocka_unit_test(buf_reserve_tail_commit_appends),
	    cmocka_unit_test(buf_printf_formats_and_respects_ceiling),
	    cmocka_unit_test(buf_set_u32_at_patches_relative_to_unread),
	    cmocka_unit_test(buf_reset_drops_bytes),
	    cmocka_unit_test(rd_reads_big_endian_and_advances),
	    cmocka_unit_test(rd_short_read_is_incomplete_and_leaves_cursor),
	    cmocka_unit_test(hexval_reads_digits_of_either_case_only),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
