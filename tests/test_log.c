/*
 * Log line format, level filtering and level parsing.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#define SV_LOG_MODULE "test"
#include "core/err.h"
#include "core/log.h"

static FILE *sink;

static int
setup(void **state)
{
	sink = tmpfile();
	assert_non_null(sink);
	sv_log_set_sink(sink);
	sv_log_set_level(SV_LOG_INFO);
	return 0;
}

static int
teardown(void **state)
{
	sv_log_set_sink(NULL);
	fclose(sink);
	return 0;
}

/* Everything written to the sink so far. */
static const char *
written(void)
{
	static char text[4096];
	size_t n;

	fflush(sink);
	rewind(sink);
	n = fread(text, 1, sizeof text - 1, sink);
	text[n] = '\0';
	return text;
}

static void
log_default_level_is_info(void **state)
{
	assert_int_equal(sv_log_level, SV_LOG_INFO);
}

static void
log_line_has_prefix_level_and_module(void **state)
{
	log_warn("conn %u: connect %s", 12u, "10.0.0.1:80");
	assert_string_equal(
	    written(),
	    "sevpn-proxy: warn: test: conn 12: connect 10.0.0.1:80\n");
}

static void
log_r_form_appends_error_text(void **state)
{
	char want[256];

	log_err_r(-ECONNREFUSED, "connect");
	snprintf(want, sizeof want, "sevpn-proxy: error: test: connect: %s\n",
	         strerror(ECONNREFUSED));
	assert_string_equal(written(), want);
}

static void
log_below_level_is_dropped_without_formatting(void **state)
{
	int calls = 0;

	log_debug("%d", ++calls);
	log_trace("%d", ++calls);
	assert_int_equal(calls, 0);
	assert_string_equal(written(), "");
	sv_log_set_level(SV_LOG_TRACE);
	log_trace("t");
	assert_string_equal(written(), "sevpn-proxy: trace: test: t\n");
}

static void
log_long_message_is_cut_but_ends_with_newline(void **state)
{
	char big[3000];

	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	log_info("%s", big);
	const char *w = written();
	size_t n = strlen(w);
	assert_true(n > 100 && n < sizeof big);
	assert_int_equal(w[n - 1], '\n');
	assert_ptr_equal(strchr(w, '\n'), w + n - 1);
}

static void
log_control_bytes_cannot_forge_lines(void **state)
{
	log_info("hello %s", "evil\nsevpn-proxy: error: x: forged\x1b[0m");
	assert_string_equal(written(),
	                    "sevpn-proxy: info: test: hello "
	                    "evil?sevpn-proxy: error: x: forged?[0m\n");
}

static void
log_parse_level_accepts_names(void **state)
{
	assert_int_equal(sv_log_parse_level("error"), SV_LOG_ERR);
	assert_int_equal(sv_log_parse_level("warn"), SV_LOG_WARN);
	assert_int_equal(sv_log_parse_level("INFO"), SV_LOG_INFO);
	assert_int_equal(sv_log_parse_level("debug"), SV_LOG_DEBUG);
	assert_int_equal(sv_log_parse_level("trace"), SV_LOG_TRACE);
	assert_int_equal(sv_log_parse_level("loud"), -1);
	assert_int_equal(sv_log_parse_level(""), -1);
	assert_int_equal(sv_log_parse_level(NULL), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(log_default_level_is_info),
	    cmocka_unit_test_setup_teardown(
	        log_line_has_prefix_level_and_module, setup, teardown),
	    cmocka_unit_test_setup_teardown(log_r_form_appends_error_text,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        log_below_level_is_dropped_without_formatting, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        log_long_message_is_cut_but_ends_with_newline, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        log_control_bytes_cannot_forge_lines, setup, teardown),
	    cmocka_unit_test(log_parse_level_accepts_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
