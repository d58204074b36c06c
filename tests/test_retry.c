/* Retry policy (spec 13.4) with fake randomness: permanent refusals, growing delays. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/err.h"
#include "core/retry.h"

static void
each_permanent_server_code_is_never_retried(void **state)
{
	static const unsigned codes[] = { 7, 8, 9, 12, 33, 51, 85, 87, 105, 107, 108, 109, 127 };
	for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
		struct sv_retry r;
		sv_retry_init(&r, 3);
		sv_retry_established(&r); /* even after a working session */
		assert_int_equal(sv_retry_failed(&r, SV_E_SERVER, codes[i], 60000, 0), SV_RETRY_NEVER);
	}
}

static void
certificate_and_not_a_vpn_are_never_retried(void **state)
{
	struct sv_retry r;
	sv_retry_init(&r, 3);
	assert_int_equal(sv_retry_failed(&r, SV_E_CERT, 0, 0, 0), SV_RETRY_NEVER);
	assert_int_equal(sv_retry_failed(&r, SV_E_NOTVPN, 0, 0, 0), SV_RETRY_NEVER);
	assert_int_equal(r.failures, 0);
}

static void
lost_session_retries_at_once_then_backs_off_to_a_minute(void **state)
{
	struct sv_retry r;
	sv_retry_init(&r, 3);
	sv_retry_established(&r);
	/* rnd = d/4 gives exactly d (-25 % + 25 %) */
	assert_int_equal(sv_retry_failed(&r, SV_E_TIMEOUT, 0, 60000, 0), 0);
	long want[] = { 1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000 };
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
		long d = sv_retry_failed(&r, -104 /* ECONNRESET */, 0, 0, (uint32_t)(want[i] / 4));
		assert_int_equal(d, want[i]);
	}
}

static void
jitter_stays_within_a_quarter(void **state)
{
	for (uint32_t rnd = 0; rnd < 100000; rnd += 997) {
		struct sv_retry r;
		sv_retry_init(&r, 3);
		sv_retry_established(&r);
		sv_retry_failed(&r, SV_E_CLOSED, 0, 60000, rnd); /* 0 */
		sv_retry_failed(&r, SV_E_CLOSED, 0, 0, rnd);     /* ~1 s */
		long d = sv_retry_failed(&r, SV_E_CLOSED, 0, 0, rnd); /* ~2 s */
		assert_true(d >= 1500 && d <= 2500);
	}
}

static void
before_any_session_few_attempts_then_give_up(void **state)
{
	struct sv_retry r;
	sv_retry_init(&r, 3);
	assert_int_equal(sv_retry_failed(&r, -111 /* ECONNREFUSED */, 0, 0, 250), 1000);
	assert_int_equal(sv_retry_failed(&r, -111, 0, 0, 500), 2000);
	assert_int_equal(sv_retry_failed(&r, -111, 0, 0, 0), SV_RETRY_GIVE_UP);
}

static void
busy_server_waits_at_least_half_a_minute(void **state)
{
	struct sv_retry r;
	sv_retry_init(&r, 3);
	sv_retry_established(&r);
	long d = sv_retry_failed(&r, SV_E_SERVER, 20 /* TOO_MANY_USER_SESSION */, 60000, 0);
	assert_true(d >= 30000 * 3 / 4);
	d = sv_retry_failed(&r, SV_E_SERVER, 16 /* HUB_IS_BUSY */, 0, 7500);
	assert_int_equal(d, 30000);
}

static void
a_lasting_session_resets_the_sequence(void **state)
{
	struct sv_retry r;
	sv_retry_init(&r, 3);
	sv_retry_established(&r);
	sv_retry_failed(&r, SV_E_CLOSED, 0, 60000, 0);
	sv_retry_failed(&r, SV_E_CLOSED, 0, 0, 0);
	sv_retry_failed(&r, SV_E_CLOSED, 0, 0, 0);
	sv_retry_established(&r);
	assert_int_equal(sv_retry_failed(&r, SV_E_CLOSED, 0, SV_RETRY_STABLE_MS, 0), 0);
}

/* A server that drops every session right after the welcome is not hammered. */
static void
sessions_that_die_at_once_still_back_off(void **state)
{
	struct sv_retry r;
	sv_retry_init(&r, 3);
	sv_retry_established(&r);
	assert_int_equal(sv_retry_failed(&r, SV_E_CLOSED, 0, 60000, 0), 0);
	long want = 1000;
	for (int i = 0; i < 5; i++, want *= 2) {
		sv_retry_established(&r); /* it came up ... */
		long d = sv_retry_failed(&r, SV_E_CLOSED, 0, 5, (uint32_t)(want / 4)); /* ... 5 ms */
		assert_int_equal(d, want);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(each_permanent_server_code_is_never_retried),
		cmocka_unit_test(certificate_and_not_a_vpn_are_never_retried),
		cmocka_unit_test(lost_session_retries_at_once_then_backs_off_to_a_minute),
		cmocka_unit_test(jitter_stays_within_a_quarter),
		cmocka_unit_test(before_any_session_few_attempts_then_give_up),
		cmocka_unit_test(busy_server_waits_at_least_half_a_minute),
		cmocka_unit_test(a_lasting_session_resets_the_sequence),
		cmocka_unit_test(sessions_that_die_at_once_still_back_off),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
