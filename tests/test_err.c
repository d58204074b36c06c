/*
 * Error texts: SV_E_* and errno, SoftEther ERR_* names, texts and the
 * permanent (no retry) classification.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"

static void
strerror_names_project_codes(void **state)
{
	assert_string_equal(sv_strerror(SV_E_PROTO), "protocol violation");
	assert_string_equal(sv_strerror(SV_E_NOMEM), "out of memory");
	for (int r = SV_E_NOPORT; r <= SV_E_INCOMPLETE; r++) {
		assert_non_null(sv_strerror(r));
		assert_string_not_equal(sv_strerror(r), "unknown error");
	}
}

static void
strerror_passes_negative_errno_to_libc(void **state)
{
	assert_string_equal(sv_strerror(-ECONNREFUSED), strerror(ECONNREFUSED));
	assert_string_equal(sv_strerror(-ETIMEDOUT), strerror(ETIMEDOUT));
}

static void
strerror_never_returns_null(void **state)
{
	static const int odd[] = {0, 1, 12345, -999, -1015, -5000, -2000000000};

	for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++)
		assert_non_null(sv_strerror(odd[i]));
}

static void
softether_names_follow_appendix_a(void **state)
{
	assert_string_equal(sv_softether_err_name(0), "NO_ERROR");
	assert_string_equal(sv_softether_err_name(8), "HUB_NOT_FOUND");
	assert_string_equal(sv_softether_err_name(9), "AUTH_FAILED");
	assert_string_equal(sv_softether_err_name(20), "TOO_MANY_USER_SESSION");
	assert_string_equal(sv_softether_err_name(110), "TOO_MANT_ITEMS");
	assert_string_equal(sv_softether_err_name(152), "SSL_HANDSHAKE");
	assert_string_equal(sv_softether_err_name(71), "UNKNOWN");
	assert_string_equal(sv_softether_err_name(153), "UNKNOWN");
	assert_string_equal(sv_softether_err_name(0xffffffffu), "UNKNOWN");
}

static void
softether_texts_explain_client_codes(void **state)
{
	assert_non_null(strstr(sv_softether_err_text(9), "password"));
	assert_non_null(strstr(sv_softether_err_text(8), "Hub"));
	assert_non_null(strstr(sv_softether_err_text(20), "concurrent"));
	assert_non_null(strstr(sv_softether_err_text(109), "IP address"));
	assert_non_null(strstr(sv_softether_err_text(2), "SoftEther"));
	/* Every client-visible code has its own text, not the generic one. */
	static const unsigned client[] = {
	    1,  2,  3,  4,  7,  8,  9,   10,  11,  12,  13,  15, 16,
	    20, 33, 51, 63, 85, 87, 105, 107, 108, 109, 126, 127};
	for (size_t i = 0; i < sizeof client / sizeof client[0]; i++)
		assert_null(strstr(sv_softether_err_text(client[i]),
		                   "does not normally get"));
}

static void
softether_generic_text_names_the_code(void **state)
{
	assert_non_null(strstr(sv_softether_err_text(58), "58"));
	assert_non_null(strstr(sv_softether_err_text(58), "TOO_MANY_HUBS"));
	assert_non_null(strstr(sv_softether_err_text(999), "999"));
	assert_non_null(sv_softether_err_text(71));
	assert_non_null(sv_softether_err_text(0xffffffffu));
}

static void
softether_permanent_codes_are_not_retried(void **state)
{
	static const unsigned perm[] = {7,  8,   9,   12,  33,  51,  85,
	                                87, 105, 107, 108, 109, 127, 149};
	static const unsigned retry[] = {0,  1,  3,  10, 11,  13,  15,
	                                 16, 20, 23, 63, 126, 152, 999};

	for (size_t i = 0; i < sizeof perm / sizeof perm[0]; i++)
		assert_true(sv_softether_err_is_permanent(perm[i]));
	for (size_t i = 0; i < sizeof retry / sizeof retry[0]; i++)
		assert_false(sv_softether_err_is_permanent(retry[i]));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(strerror_names_project_codes),
	    cmocka_unit_test(strerror_passes_negative_errno_to_libc),
	    cmocka_unit_test(strerror_never_returns_null),
	    cmocka_unit_test(softether_names_follow_appendix_a),
	    cmocka_unit_test(softether_texts_explain_client_codes),
	    cmocka_unit_test(softether_generic_text_names_the_code),
	    cmocka_unit_test(softether_permanent_codes_are_not_retried),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
