/*
 * netstack/rxbudget: receive-window credits under a global budget (pure decisions).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "netstack/rxbudget.h"

#define K 1024u
#define INIT (64u * K)
#define MAX (4096u * K)

/* Receives n bytes and consumes them at once (all at time 0: a fast flow). */
static size_t
flow(struct sv_rxbudget *b, struct sv_rxbudget_conn *c, size_t n)
{
	sv_rxbudget_received(b, c, n);
	return sv_rxbudget_consume(b, c, n, 0);
}

static void
check_sums(const struct sv_rxbudget *b, struct sv_rxbudget_conn *cs, int n)
{
	size_t committed = 0, held = 0;

	for (int i = 0; i < n; i++) {
		if (!cs[i].open)
			continue;
		committed += cs[i].committed;
		held += cs[i].held;
		assert_int_equal(cs[i].limit, cs[i].committed + cs[i].owed);
		assert_true(cs[i].held <= cs[i].committed);
	}
	assert_int_equal(b->committed, committed);
	assert_int_equal(b->held, held);
}

static void
rxbudget_new_connection_starts_with_small_window(void **state)
{
	struct sv_rxbudget b;
	struct sv_rxbudget_conn c, d;

	(void)state;
	sv_rxbudget_init(&b, 64u * K * K, INIT, MAX);
	assert_int_equal(sv_rxbudget_open(&b, &c, MAX), INIT);
	/* without window scaling the peer can only be offered 65535 */
	assert_int_equal(sv_rxbudget_open(&b, &d, 0xFFFF), 0xFFFF);
	assert_int_equal(b.committed, INIT + 0xFFFF);
	assert_int_equal(b.conns, 2);
}

static void
rxbudget_fast_reader_grows_window_to_max(void **state)
{
	struct sv_rxbudget b;
	struct sv_rxbudget_conn c;
	size_t credit = 0;

	(void)state;
	sv_rxbudget_init(&b, 64u * K * K, INIT, MAX);
	sv_rxbudget_open(&b, &c, MAX);
	for (int i = 0; i < 400; i++)
		credit += flow(&b, &c, 16 * K);
	assert_int_equal(c.limit, MAX);
	assert_int_equal(c.owed, 0);
	/* every consumed byte came back, plus the growth */
	assert_int_equal(credit, 400 * 16 * K + (MAX - INIT));
	check_sums(&b, &c, 1);
}

static void
rxbudget_window_does_not_grow_when_sender_is_slow(void **state)
{
	struct sv_rxbudget b;
	struct sv_rxbudget_conn c;

	(void)state;
	sv_rxbudget_init(&b, 64u * K * K, INIT, MAX);
	sv_rxbudget_open(&b, &c, MAX);
	for (int i = 0; i < 200; i++) {
		/* 1 KiB every 100 ms: 10 KiB per period, far from a whole window */
		sv_rxbudget_received(&b, &c, K);
		assert_int_equal(sv_rxbudget_consume(&b, &c, K, (uint64_t)i * 100), K);
	}
	assert_int_equal(c.limit, INIT);
}

static void
rxbudget_window_does_not_grow_for_slow_reader(void **state)
{
	struct sv_rxbudget b;
	struct sv_rxbudget_conn c;

	(void)state;
	sv_rxbudget_init(&b, 64u * K * K, INIT, MAX);
	sv_rxbudget_open(&b, &c, MAX);
	/* the whole window arrives; the client takes 1 KiB now and then */
	sv_rxbudget_received(&b, &c, INIT);
	for (int i = 0; i < 500; i++) {
		size_t g = sv_rxbudget_consume(&b, &c, K, 0);
		assert_int_equal(g, K);
		sv_rxbudget_received(&b, &c, K);
	}
	assert_int_equal(c.limit, INIT);
	assert_int_equal(c.held, INIT);
}

static void
rxbudget_consumed_credit_is_withheld_when_over_budget(void **state)
{
	struct sv_rxbudget b;
	struct sv_rxbudget_conn slow[4], fast;

	(void)state;
	sv_rxbudget_init(&b, 768u * K, INIT, MAX);
	/* the fast one grows, to 512 KiB: 448 KiB over its floor; 1 MiB would not fit */
	sv_rxbudget_open(&b, &fast, MAX);
	for (int i = 0; i < 400; i++)
		flow(&b, &fast, 16 * K);
	assert_int_equal(fast.limit, 512u * K);
	assert_true(b.withheld > 0);
	assert_true(b.committed <= b.budget + b.floors);
	/* slow readers fill their first windows and take nothing: floors, not budget */
	for (int i = 0; i < 4; i++) {
		sv_rxbudget_open(&b, &slow[i], MAX);
		sv_rxbudget_received(&b, &slow[i], INIT);
	}
	assert_false(sv_rxbudget_is_full(&b));
	/* the budget is cut to 128 KiB: the fast one, the largest, gets nothing back for
	 * what it consumes */
	b.budget = 128u * K;
	assert_true(sv_rxbudget_is_full(&b));
	sv_rxbudget_received(&b, &fast, 128u * K);
	assert_int_equal(sv_rxbudget_consume(&b, &fast, 128u * K, 0), 0);
	assert_int_equal(sv_rxbudget_owed(&fast), 128u * K);
	assert_int_equal(fast.committed, 512u * K - 128u * K);
}

static void
rxbudget_credit_never_exceeds_window_limit(void **state)
{
	struct sv_rxbudget b;
	struct sv_rxbudget_conn c;

	(void)state;
	sv_rxbudget_init(&b, 64u * K * K, INIT, MAX);
	sv_rxbudget_open(&b, &c, MAX);
	for (int i = 0; i < 1000; i++) {
		size_t before = c.limit;
		sv_rxbudget_received(&b, &c, 4 * K);
		size_t g = sv_rxbudget_consume(&b, &c, 4 * K, (uint64_t)i);
		/* what is given back is the consumed bytes plus growth, never more */
		assert_int_equal(g, 4 * K + (c.limit - before));
		assert_true(c.limit >= before); /* never shrinks */
		assert_true(c.limit <= MAX);
	}
}

static void
rxbudget_release_serves_smallest_holders_first(void **state)
{
	struct sv_rxbudget b;
	struct sv_rxbudget_conn big, small, hog, filler;

	(void)state;
	sv_rxbudget_init(&b, 512u * K, INIT, MAX);
	sv_rxbudget_open(&b, &big, MAX);
	while (big.limit < 256u * K)
		flow(&b, &big, 16 * K);
	sv_rxbudget_open(&b, &small, MAX);
	sv_rxbudget_open(&b, &hog, MAX);
	sv_rxbudget_open(&b, &filler, MAX);
	sv_rxbudget_received(&b, &big, 256u * K);
	sv_rxbudget_received(&b, &small, INIT);
	sv_rxbudget_received(&b, &hog, INIT);
	/* 448 KiB committed, 256 of it floors; over the budget by 128 KiB */
	b.budget = b.committed - b.floors - 128u * K;
	assert_int_equal(sv_rxbudget_consume(&b, &big, 128u * K, 0), 0);
	assert_int_equal(sv_rxbudget_owed(&big), 128u * K);
	/* small is under its floor: it gets its bytes back regardless */
	assert_int_equal(sv_rxbudget_consume(&b, &small, 32u * K, 0), 32u * K);
	/* room for 64 KiB appears (the budget grows): the first pass skips big (over its
	 * fair share of 64 + 128 / 4 KiB) */
	b.budget += 64u * K;
	assert_int_equal(sv_rxbudget_release(&b, &big, true), 0);
	/* the second pass gives big what room there is */
	assert_int_equal(sv_rxbudget_release(&b, &big, false), 64u * K);
	assert_int_equal(sv_rxbudget_owed(&big), 64u * K);
	assert_true(sv_rxbudget_is_full(&b));
	assert_int_equal(sv_rxbudget_release(&b, &big, false), 0);
}

static void
rxbudget_connection_under_fair_share_is_not_throttled(void **state)
{
	struct sv_rxbudget b;
	struct sv_rxbudget_conn big, small;

	(void)state;
	sv_rxbudget_init(&b, 1024u * K, INIT, MAX);
	sv_rxbudget_open(&b, &big, MAX);
	while (big.limit < 512u * K)
		flow(&b, &big, 16 * K);
	sv_rxbudget_open(&b, &small, MAX);
	while (small.limit < 128u * K)
		flow(&b, &small, 16 * K);
	sv_rxbudget_received(&b, &big, 512u * K);
	sv_rxbudget_received(&b, &small, 128u * K);
	/* 640 KiB held, 128 of it floors; the budget shrinks to 48 KiB under the rest */
	b.budget = b.committed - b.floors - 48u * K;
	/* big, over its fair share, waits: its 64 KiB do not fit in the 16 KiB room */
	assert_int_equal(sv_rxbudget_consume(&b, &big, 64u * K, 0), 0);
	/* small, under its fair share, is paid from the room there is */
	assert_int_equal(sv_rxbudget_consume(&b, &small, 64u * K, 0), 64u * K);
	assert_int_equal(sv_rxbudget_owed(&big), 64u * K);
	assert_true(b.committed <= b.budget + b.floors);
}

static void
rxbudget_floor_keeps_every_connection_moving(void **state)
{
	struct sv_rxbudget b;
	struct sv_rxbudget_conn c[8];

	(void)state;
	sv_rxbudget_init(&b, 1, INIT, MAX); /* nothing beyond the floors */
	for (int i = 0; i < 8; i++)
		sv_rxbudget_open(&b, &c[i], MAX);
	for (int round = 0; round < 50; round++)
		for (int i = 0; i < 8; i++)
			assert_int_equal(flow(&b, &c[i], 8 * K), 8 * K);
	for (int i = 0; i < 8; i++)
		assert_int_equal(c[i].limit, INIT);
	check_sums(&b, c, 8);
}

static void
rxbudget_idle_connections_do_not_use_up_the_budget(void **state)
{
	static struct sv_rxbudget_conn idle[2000];
	struct sv_rxbudget b;
	struct sv_rxbudget_conn fast;

	(void)state;
	sv_rxbudget_init(&b, 2048u * K, INIT, MAX);
	for (int i = 0; i < 2000; i++)
		sv_rxbudget_open(&b, &idle[i], MAX);
	/* 2000 first windows are 125 MiB of promises, but only floors */
	assert_false(sv_rxbudget_is_full(&b));
	sv_rxbudget_open(&b, &fast, MAX);
	for (int i = 0; i < 400; i++)
		flow(&b, &fast, 16 * K);
	/* 64 KiB floor + 2 MiB budget: a 2 MiB window fits, 4 MiB does not */
	assert_int_equal(fast.limit, 2048u * K);
	assert_true(b.committed <= b.budget + b.floors);
}

static void
rxbudget_detach_drops_promised_window(void **state)
{
	struct sv_rxbudget b;
	struct sv_rxbudget_conn c;

	(void)state;
	sv_rxbudget_init(&b, 64u * K * K, INIT, MAX);
	sv_rxbudget_open(&b, &c, MAX);
	sv_rxbudget_received(&b, &c, 10 * K);
	sv_rxbudget_detach(&b, &c);
	assert_int_equal(b.committed, 10 * K);
	assert_int_equal(sv_rxbudget_consume(&b, &c, 4 * K, 0), 0);
	assert_int_equal(b.held, 6 * K);
	assert_int_equal(b.committed, 6 * K);
	sv_rxbudget_close(&b, &c);
	sv_rxbudget_close(&b, &c); /* idempotent */
	assert_int_equal(b.committed, 0);
	assert_int_equal(b.held, 0);
	assert_int_equal(b.conns, 0);
}

static void
rxbudget_total_stays_under_budget_plus_floors(void **state)
{
	struct sv_rxbudget b;
	struct sv_rxbudget_conn c[16];
	uint32_t x = 12345;

	(void)state;
	sv_rxbudget_init(&b, 2048u * K, INIT, MAX);
	for (int i = 0; i < 16; i++)
		sv_rxbudget_open(&b, &c[i], MAX);
	for (int step = 0; step < 20000; step++) {
		x = x * 1103515245u + 12345u;
		int i = (int)((x >> 16) % 16);
		size_t promised = c[i].committed - c[i].held;
		if (i < 8) { /* fast: take everything, the window full */
			sv_rxbudget_received(&b, &c[i], promised);
			sv_rxbudget_consume(&b, &c[i], c[i].held, 0);
		} else if ((x & 0xF) == 0) { /* slow: a little now and then */
			sv_rxbudget_consume(&b, &c[i], 2 * K, (uint64_t)step);
		} else {
			sv_rxbudget_received(&b, &c[i], promised);
		}
		for (int j = 0; j < 16; j++) {
			sv_rxbudget_release(&b, &c[j], true);
		}
		for (int j = 0; j < 16; j++)
			sv_rxbudget_release(&b, &c[j], false);
		assert_true(b.committed <= b.budget + 16 * INIT);
		assert_true(b.floors <= 16 * INIT);
	}
	check_sums(&b, c, 16);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(rxbudget_new_connection_starts_with_small_window),
		cmocka_unit_test(rxbudget_fast_reader_grows_window_to_max),
		cmocka_unit_test(rxbudget_window_does_not_grow_when_sender_is_slow),
		cmocka_unit_test(rxbudget_window_does_not_grow_for_slow_reader),
		cmocka_unit_test(rxbudget_consumed_credit_is_withheld_when_over_budget),
		cmocka_unit_test(rxbudget_credit_never_exceeds_window_limit),
		cmocka_unit_test(rxbudget_release_serves_smallest_holders_first),
		cmocka_unit_test(rxbudget_connection_under_fair_share_is_not_throttled),
		cmocka_unit_test(rxbudget_floor_keeps_every_connection_moving),
		cmocka_unit_test(rxbudget_idle_connections_do_not_use_up_the_budget),
		cmocka_unit_test(rxbudget_detach_drops_promised_window),
		cmocka_unit_test(rxbudget_total_stays_under_budget_plus_floors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
