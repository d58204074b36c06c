/*
 * IPv4/IPv6 literal parsing and formatting.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/addr.h"
#include "core/err.h"

static void
addr_parses_and_formats_ipv4(void **state)
{
	struct sv_ip ip;
	char s[SV_IP_STRLEN];

	assert_int_equal(sv_ip_parse("10.0.0.1", &ip), 0);
	assert_int_equal(ip.family, 4);
	assert_memory_equal(ip.b, "\x0a\x00\x00\x01", 4);
	assert_string_equal(sv_ip_format(&ip, s, sizeof s), "10.0.0.1");
}

static void
addr_parses_and_formats_ipv6(void **state)
{
	struct sv_ip ip;
	char s[SV_IP_STRLEN];

	assert_int_equal(sv_ip_parse("fd00::1", &ip), 0);
	assert_int_equal(ip.family, 6);
	assert_int_equal(ip.b[0], 0xfd);
	assert_int_equal(ip.b[15], 1);
	assert_string_equal(sv_ip_format(&ip, s, sizeof s), "fd00::1");
}

static void
addr_rejects_non_literals_without_writing(void **state)
{
	static const char *bad[] = {"",      "host.example", "[::1]",
	                            "1.2.3", "256.1.1.1",    "10.0.0.1 ",
	                            NULL};
	struct sv_ip ip;

	memset(&ip, 0x5a, sizeof ip);
	for (int i = 0; bad[i] != NULL; i++)
		assert_int_equal(sv_ip_parse(bad[i], &ip), SV_E_INVAL);
	assert_int_equal(sv_ip_parse(NULL, &ip), SV_E_INVAL);
	assert_int_equal(ip.family, 0x5a);
}

static void
addr_format_handles_small_buffer_and_bad_family(void **state)
{
	struct sv_ip ip;
	char s[4];
	char big[SV_IP_STRLEN];

	assert_int_equal(sv_ip_parse("192.168.100.200", &ip), 0);
	assert_string_equal(sv_ip_format(&ip, s, sizeof s), "?");
	ip.family = 9;
	assert_string_equal(sv_ip_format(&ip, big, sizeof big), "?");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(addr_parses_and_formats_ipv4),
	    cmocka_unit_test(addr_parses_and_formats_ipv6),
	    cmocka_unit_test(addr_rejects_non_literals_without_writing),
	    cmocka_unit_test(addr_format_handles_small_buffer_and_bad_family),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
