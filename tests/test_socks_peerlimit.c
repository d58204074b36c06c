/*
 * Per-client connection counting for --max-conns-per-client (socks/peerlimit.c), and
 * the replies the front-ends give a client over that limit.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "socks/http_parse.h"
#include "socks/peerlimit.h"
#include "socks/socks5.h"

static void
peerlimit_refuses_the_connection_past_the_limit_for_that_client_only(void **state)
{
	struct sv_peerlimit pl;

	(void)state;
	sv_peerlimit_init(&pl);
	assert_int_equal(sv_peerlimit_take(&pl, "10.0.0.1", 2), 0);
	assert_int_equal(sv_peerlimit_take(&pl, "10.0.0.1", 2), 0);
	assert_int_equal(sv_peerlimit_take(&pl, "10.0.0.1", 2), SV_CONN_E_LIMIT);
	assert_int_equal(sv_peerlimit_count(&pl, "10.0.0.1"), 2);
	/* another client, and the same one on another listener kind, are counted apart */
	assert_int_equal(sv_peerlimit_take(&pl, "10.0.0.2", 2), 0);
	assert_int_equal(sv_peerlimit_take(&pl, "unix:/tmp/s", 2), 0);
	assert_int_equal(sv_peerlimit_count(&pl, "10.0.0.2"), 1);
	assert_int_equal(pl.n_keys, 3);
	sv_peerlimit_cleanup(&pl);
	assert_int_equal(pl.n_keys, 0);
}

static void
peerlimit_release_makes_room_and_forgets_idle_clients(void **state)
{
	struct sv_peerlimit pl;

	(void)state;
	sv_peerlimit_init(&pl);
	assert_int_equal(sv_peerlimit_take(&pl, "::1", 1), 0);
	assert_int_equal(sv_peerlimit_take(&pl, "::1", 1), SV_CONN_E_LIMIT);
	sv_peerlimit_release(&pl, "::1");
	assert_int_equal(sv_peerlimit_count(&pl, "::1"), 0);
	assert_int_equal(pl.n_keys, 0); /* the entry went with its last connection */
	assert_int_equal(sv_peerlimit_take(&pl, "::1", 1), 0);
	sv_peerlimit_release(&pl, "::1");
	sv_peerlimit_release(&pl, "::1");   /* one too many: ignored */
	sv_peerlimit_release(&pl, "never"); /* unknown: ignored */
	assert_int_equal(sv_peerlimit_count(&pl, "::1"), 0);
	sv_peerlimit_cleanup(&pl);
}

static void
peerlimit_zero_means_no_limit_and_many_keys_share_buckets(void **state)
{
	struct sv_peerlimit pl;
	char key[32];

	(void)state;
	sv_peerlimit_init(&pl);
	for (unsigned i = 0; i < 5000; i++)
		assert_int_equal(sv_peerlimit_take(&pl, "127.0.0.1", 0), 0);
	assert_int_equal(sv_peerlimit_count(&pl, "127.0.0.1"), 5000);
	for (unsigned i = 0; i < 2000; i++) { /* more keys than buckets */
		snprintf(key, sizeof key, "10.1.%u.%u", i / 256, i % 256);
		assert_int_equal(sv_peerlimit_take(&pl, key, 1), 0);
	}
	for (unsigned i = 0; i < 2000; i++) {
		snprintf(key, sizeof key, "10.1.%u.%u", i / 256, i % 256);
		assert_int_equal(sv_peerlimit_take(&pl, key, 1), SV_CONN_E_LIMIT);
		sv_peerlimit_release(&pl, key);
	}
	assert_int_equal(pl.n_keys, 1);
	sv_peerlimit_cleanup(&pl);
}

static void
peerlimit_long_keys_are_cut_and_never_overflow(void **state)
{
	struct sv_peerlimit pl;
	char a[300], b[300];

	(void)state;
	sv_peerlimit_init(&pl);
	memset(a, 'p', sizeof a - 1);
	a[sizeof a - 1] = '\0';
	memcpy(b, a, sizeof b);
	b[200] = 'q'; /* differs only past the kept prefix: the same client */
	assert_int_equal(sv_peerlimit_take(&pl, a, 1), 0);
	assert_int_equal(sv_peerlimit_take(&pl, b, 1), SV_CONN_E_LIMIT);
	sv_peerlimit_release(&pl, b);
	assert_int_equal(sv_peerlimit_count(&pl, a), 0);
	sv_peerlimit_cleanup(&pl);
}

static void
peerlimit_refusal_maps_to_each_protocols_refusal(void **state)
{
	(void)state;
	assert_int_equal(sv_socks5_rep_from_err(SV_CONN_E_LIMIT), SV_SOCKS5_REP_NOT_ALLOWED);
	assert_int_equal(sv_httpp_status_from_err(SV_CONN_E_LIMIT), 429);
	assert_int_equal(sv_httpp_status_from_err(-ENOENT), 502);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(peerlimit_refuses_the_connection_past_the_limit_for_that_client_only),
		cmocka_unit_test(peerlimit_release_makes_room_and_forgets_idle_clients),
		cmocka_unit_test(peerlimit_zero_means_no_limit_and_many_keys_share_buckets),
		cmocka_unit_test(peerlimit_long_keys_are_cut_and_never_overflow),
		cmocka_unit_test(peerlimit_refusal_maps_to_each_protocols_refusal),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
