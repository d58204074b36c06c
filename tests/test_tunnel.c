/*
 * Tests for core/tunnel: block-message parsing with input split anywhere, the
 * size rules of spec 11.1, and the batching encoder.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "core/tunnel.h"

#define MAX_SEEN 64

struct seen {
	size_t count;
	size_t len[MAX_SEEN];
	uint8_t data[MAX_SEEN][SV_TUNNEL_FRAME_MAX];
	const uint8_t *ptr[MAX_SEEN];
};

static void
record(void *arg, const uint8_t *f, size_t len)
{
	struct seen *s = arg;

	assert_true(s->count < MAX_SEEN);
	assert_true(len > 0 && len <= SV_TUNNEL_FRAME_MAX);
	s->len[s->count] = len;
	s->ptr[s->count] = f;
	memcpy(s->data[s->count], f, len);
	s->count++;
}

static void
put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* Appends a raw u32 / bytes to a test message. */
static size_t
w32(uint8_t *m, size_t at, uint32_t v)
{
	put_u32(m + at, v);
	return at + 4;
}

static size_t
wfill(uint8_t *m, size_t at, uint8_t byte, size_t n)
{
	memset(m + at, byte, n);
	return at + n;
}

/*
 * A stream of: empty message, 3 frames (60, 1514, 1 bytes) in one message, a
 * keep-alive with 40 bytes, and a message with one 42-byte frame.
 */
static size_t
sample_stream(uint8_t *m)
{
	size_t n = 0;

	n = w32(m, n, 0);
	n = w32(m, n, 3);
	n = w32(m, n, 60);
	n = wfill(m, n, 0xA1, 60);
	n = w32(m, n, 1514);
	n = wfill(m, n, 0xB2, 1514);
	n = w32(m, n, 1);
	n = wfill(m, n, 0xC3, 1);
	n = w32(m, n, SV_TUNNEL_KEEPALIVE_MAGIC);
	n = w32(m, n, 40);
	n = wfill(m, n, 0xEE, 40);
	n = w32(m, n, 1);
	n = w32(m, n, 42);
	n = wfill(m, n, 0xD4, 42);
	return n;
}

static void
check_sample_frames(const struct seen *s)
{
	static const size_t lens[] = {60, 1514, 1, 42};
	static const uint8_t bytes[] = {0xA1, 0xB2, 0xC3, 0xD4};

	assert_int_equal(s->count, 4);
	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(s->len[i], lens[i]);
		for (size_t j = 0; j < lens[i]; j++)
			assert_int_equal(s->data[i][j], bytes[i]);
	}
}

static void
sample_stream_in_one_piece_delivers_all_frames_without_copy(void **state)
{
	(void)state;
	static uint8_t m[4096];
	static struct seen s;
	struct sv_tunnel_rx rx;
	size_t n = sample_stream(m);

	memset(&s, 0, sizeof s);
	sv_tunnel_rx_init(&rx);
	assert_int_equal(sv_tunnel_rx_input(&rx, m, n, record, &s), 0);
	check_sample_frames(&s);
	for (size_t i = 0; i < s.count; i++)
		assert_true(s.ptr[i] >= m &&
		            s.ptr[i] < m + n); /* straight from input */
	assert_true(sv_tunnel_rx_is_idle(&rx));
	assert_int_equal(rx.keepalives, 1);
	assert_int_equal(rx.frames, 4);
}

static void
sample_stream_split_at_every_byte_delivers_same_frames(void **state)
{
	(void)state;
	static uint8_t m[4096];
	static struct seen s;
	struct sv_tunnel_rx rx;
	size_t n = sample_stream(m);

	for (size_t cut = 0; cut <= n; cut++) {
		memset(&s, 0, sizeof s);
		sv_tunnel_rx_init(&rx);
		assert_int_equal(sv_tunnel_rx_input(&rx, m, cut, record, &s),
		                 0);
		assert_int_equal(
		    sv_tunnel_rx_input(&rx, m + cut, n - cut, record, &s), 0);
		check_sample_frames(&s);
		assert_true(sv_tunnel_rx_is_idle(&rx));
	}
}

static void
sample_stream_fed_byte_by_byte_delivers_same_frames(void **state)
{
	(void)state;
	static uint8_t m[4096];
	static struct seen s;
	struct sv_tunnel_rx rx;
	size_t n = sample_stream(m);

	memset(&s, 0, sizeof s);
	sv_tunnel_rx_init(&rx);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(sv_tunnel_rx_input(&rx, m + i, 1, record, &s),
		                 0);
	check_sample_frames(&s);
	/* Split frames were reassembled in rx's own buffer. */
	assert_ptr_equal(s.ptr[1], rx.frame);
}

static void
wire_length_over_3200_is_protocol_error_and_sticks(void **state)
{
	(void)state;
	uint8_t m[16];
	struct seen s = {0};
	struct sv_tunnel_rx rx;
	size_t n = 0;

	n = w32(m, n, 1);
	n = w32(m, n, SV_TUNNEL_WIRE_MAX + 1);
	sv_tunnel_rx_init(&rx);
	/* Split inside the length word: the error comes when it completes. */
	assert_int_equal(sv_tunnel_rx_input(&rx, m, 6, record, &s), 0);
	assert_int_equal(sv_tunnel_rx_input(&rx, m + 6, n - 6, record, &s),
	                 SV_E_PROTO);
	assert_int_equal(sv_tunnel_rx_input(&rx, m, 4, record, &s), SV_E_PROTO);
	assert_int_equal(s.count, 0);
}

static void
keepalive_length_limit_is_512(void **state)
{
	(void)state;
	static uint8_t m[1024];
	struct seen s = {0};
	struct sv_tunnel_rx rx;
	size_t n = 0;

	n = w32(m, n, SV_TUNNEL_KEEPALIVE_MAGIC);
	n = w32(m, n, 512);
	n = wfill(m, n, 0xFF, 512);
	n = w32(m, n, SV_TUNNEL_KEEPALIVE_MAGIC);
	n = w32(m, n, 0);
	sv_tunnel_rx_init(&rx);
	assert_int_equal(sv_tunnel_rx_input(&rx, m, n, record, &s), 0);
	assert_int_equal(rx.keepalives, 2);
	assert_true(sv_tunnel_rx_is_idle(&rx));

	n = w32(m, 0, SV_TUNNEL_KEEPALIVE_MAGIC);
	n = w32(m, n, 513);
	sv_tunnel_rx_init(&rx);
	assert_int_equal(sv_tunnel_rx_input(&rx, m, n, record, &s), SV_E_PROTO);
	assert_int_equal(s.count, 0);
}

static void
oversize_frames_are_dropped_and_the_rest_delivered(void **state)
{
	(void)state;
	static uint8_t m[8192];
	static struct seen s;
	struct sv_tunnel_rx rx;
	size_t n = 0;

	n = w32(m, n, 5);
	n = w32(m, n, 1601);
	n = wfill(m, n, 1, 1601);
	n = w32(m, n, 0); /* zero-length: skipped */
	n = w32(m, n, 1600);
	n = wfill(m, n, 2, 1600);
	n = w32(m, n, 3200);
	n = wfill(m, n, 3, 3200);
	n = w32(m, n, 10);
	n = wfill(m, n, 4, 10);
	for (size_t cut = 0; cut <= n; cut += 7) {
		memset(&s, 0, sizeof s);
		sv_tunnel_rx_init(&rx);
		assert_int_equal(sv_tunnel_rx_input(&rx, m, cut, record, &s),
		                 0);
		assert_int_equal(
		    sv_tunnel_rx_input(&rx, m + cut, n - cut, record, &s), 0);
		assert_int_equal(s.count, 2);
		assert_int_equal(s.len[0], 1600);
		assert_int_equal(s.data[0][1599], 2);
		assert_int_equal(s.len[1], 10);
		assert_int_equal(s.data[1][0], 4);
		assert_int_equal(rx.dropped, 2);
		assert_true(sv_tunnel_rx_is_idle(&rx));
	}
}

static void
encoder_batches_frames_into_one_message(void **state)
{
	(void)state;
	struct sv_tunnel_tx tx;
	struct sv_buf out;
	const uint8_t f1[3] = {1, 2, 3}, f2[2] = {9, 8};
	static const uint8_t want[] = {0, 0, 0, 2, 0, 0, 0, 3, 1,
	                               2, 3, 0, 0, 0, 2, 9, 8};
	size_t n;

	sv_tunnel_tx_init(&tx);
	sv_buf_init(&out, 4096);
	assert_int_equal(sv_tunnel_put_frame(&tx, &out, f1, sizeof f1), 0);
	assert_int_equal(sv_tunnel_put_frame(&tx, &out, f2, sizeof f2), 0);
	/* An open message is not ready to send. */
	assert_int_equal(sv_tunnel_ready(&tx, &out), 0);
	assert_true(sv_tunnel_flush(&tx, &out));
	assert_false(sv_tunnel_flush(&tx, &out));
	assert_int_equal(sv_tunnel_ready(&tx, &out), sizeof want);
	const uint8_t *p = sv_buf_peek(&out, &n);
	assert_int_equal(n, sizeof want);
	assert_memory_equal(p, want, sizeof want);
	sv_buf_cleanup(&out);
}

static void
keepalive_closes_open_batch_then_follows_it(void **state)
{
	(void)state;
	struct sv_tunnel_tx tx;
	struct sv_buf out;
	const uint8_t f[1] = {7};
	const uint8_t pay[3] = {0xAA, 0xBB, 0xCC};
	static const uint8_t want[] = {0,    0,    0,    1,    0,    0,    0,
	                               1,    7,    0xFF, 0xFF, 0xFF, 0xFF, 0,
	                               0,    0,    3,    0xAA, 0xBB, 0xCC, 0xFF,
	                               0xFF, 0xFF, 0xFF, 0,    0,    0,    0};
	size_t n;

	sv_tunnel_tx_init(&tx);
	sv_buf_init(&out, 4096);
	assert_int_equal(sv_tunnel_put_frame(&tx, &out, f, 1), 0);
	assert_int_equal(sv_tunnel_put_keepalive(&tx, &out, pay, sizeof pay),
	                 0);
	assert_int_equal(sv_tunnel_put_keepalive(&tx, &out, NULL, 0), 0);
	assert_int_equal(sv_tunnel_ready(&tx, &out), sizeof want);
	const uint8_t *p = sv_buf_peek(&out, &n);
	assert_memory_equal(p, want, sizeof want);
	uint8_t big[SV_TUNNEL_KEEPALIVE_SEND_MAX + 1] = {0};
	assert_int_equal(sv_tunnel_put_keepalive(&tx, &out, big, sizeof big),
	                 SV_E_INVAL);
	sv_buf_cleanup(&out);
}

static void
encoder_count_survives_partial_send_of_earlier_bytes(void **state)
{
	(void)state;
	struct sv_tunnel_tx tx;
	struct sv_buf out;
	const uint8_t f[4] = {1, 2, 3, 4};
	size_t n;

	sv_tunnel_tx_init(&tx);
	sv_buf_init(&out, 4096);
	assert_int_equal(sv_tunnel_put_frame(&tx, &out, f, 4), 0);
	sv_tunnel_flush(&tx, &out);
	assert_int_equal(sv_tunnel_put_frame(&tx, &out, f, 4), 0);
	/* The socket takes part of the first message while the second is open.
	 */
	sv_buf_consume(&out, 5);
	assert_int_equal(sv_tunnel_put_frame(&tx, &out, f, 2), 0);
	sv_tunnel_flush(&tx, &out);
	const uint8_t *p = sv_buf_peek(&out, &n);
	assert_int_equal(n, 12 - 5 + 4 + 8 + 4 + 2);
	/* Second message starts after the 7 remaining bytes of the first. */
	assert_int_equal(p[7 + 3], 2);
	sv_buf_cleanup(&out);
}

static void
encoder_rejects_bad_sizes_and_full_queue_without_writing(void **state)
{
	(void)state;
	struct sv_tunnel_tx tx;
	struct sv_buf out;
	static uint8_t f[SV_TUNNEL_FRAME_MAX + 1];

	sv_tunnel_tx_init(&tx);
	sv_buf_init(&out, 2 * (SV_TUNNEL_FRAME_MAX + 8));
	assert_int_equal(sv_tunnel_put_frame(&tx, &out, f, 0), SV_E_INVAL);
	assert_int_equal(sv_tunnel_put_frame(&tx, &out, f, sizeof f),
	                 SV_E_TOOBIG);
	assert_int_equal(sv_tunnel_put_frame(&tx, &out, f, SV_TUNNEL_FRAME_MAX),
	                 0);
	assert_int_equal(sv_tunnel_put_frame(&tx, &out, f, SV_TUNNEL_FRAME_MAX),
	                 0);
	size_t before = sv_buf_len(&out);
	assert_int_equal(sv_tunnel_put_frame(&tx, &out, f, SV_TUNNEL_FRAME_MAX),
	                 SV_E_TOOBIG);
	assert_int_equal(sv_buf_len(&out), before);
	assert_int_equal(tx.open_count, 2);
	sv_buf_cleanup(&out);
}

static void
encoded_batches_decode_to_the_same_frames(void **state)
{
	(void)state;
	static struct seen s;
	static uint8_t frames[40][SV_TUNNEL_FRAME_MAX];
	size_t lens[40];
	struct sv_tunnel_tx tx;
	struct sv_tunnel_rx rx;
	struct sv_buf out;
	uint32_t seed = 12345;
	size_t n;

	memset(&s, 0, sizeof s);
	sv_tunnel_tx_init(&tx);
	sv_tunnel_rx_init(&rx);
	sv_buf_init(&out, SV_TUNNEL_QUEUE_MAX);
	for (size_t i = 0; i < 40; i++) {
		seed = seed * 1103515245u + 12345u;
		lens[i] = 1 + (seed >> 8) % SV_TUNNEL_FRAME_MAX;
		for (size_t j = 0; j < lens[i]; j++)
			frames[i][j] = (uint8_t)(i * 31 + j);
		assert_int_equal(
		    sv_tunnel_put_frame(&tx, &out, frames[i], lens[i]), 0);
		if (i % 7 == 6)
			sv_tunnel_flush(&tx, &out);
		if (i % 11 == 10)
			assert_int_equal(
			    sv_tunnel_put_keepalive(&tx, &out, frames[0], 9),
			    0);
	}
	sv_tunnel_flush(&tx, &out);
	const uint8_t *p = sv_buf_peek(&out, &n);
	/* Feed in uneven chunks. */
	for (size_t off = 0, step = 1; off < n;
	     off += step, step = step * 3 % 1013 + 1) {
		size_t k = n - off < step ? n - off : step;
		assert_int_equal(
		    sv_tunnel_rx_input(&rx, p + off, k, record, &s), 0);
	}
	assert_int_equal(s.count, 40);
	for (size_t i = 0; i < 40; i++) {
		assert_int_equal(s.len[i], lens[i]);
		assert_memory_equal(s.data[i], frames[i], lens[i]);
	}
	assert_int_equal(rx.keepalives, 3);
	assert_int_equal(tx.messages,
	                 9); /* 5 flushes, 3 keep-alives, 1 final */
	sv_buf_cleanup(&out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(
	        sample_stream_in_one_piece_delivers_all_frames_without_copy),
	    cmocka_unit_test(
	        sample_stream_split_at_every_byte_delivers_same_frames),
	    cmocka_unit_test(
	        sample_stream_fed_byte_by_byte_delivers_same_frames),
	    cmocka_unit_test(
	        wire_length_over_3200_is_protocol_error_and_sticks),
	    cmocka_unit_test(keepalive_length_limit_is_512),
	    cmocka_unit_test(
	        oversize_frames_are_dropped_and_the_rest_delivered),
	    cmocka_unit_test(encoder_batches_frames_into_one_message),
	    cmocka_unit_test(keepalive_closes_open_batch_then_follows_it),
	    cmocka_unit_test(
	        encoder_count_survives_partial_send_of_earlier_bytes),
	    cmocka_unit_test(
	        encoder_rejects_bad_sizes_and_full_queue_without_writing),
	    cmocka_unit_test(encoded_batches_decode_to_the_same_frames),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
