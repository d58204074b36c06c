/*
 * netstack/dns_msg.c (names from DHCP options 15 and 119, validation, search-list
 * expansion) and the --resolve-local predicate of resolve.c. Pure functions: no stack.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "netstack/dns_msg.h"
#include "netstack/resolve.h"

static char out[8][SV_DNS_NAME_MAX];

static void
search_list_with_compression_decodes_in_order(void **state)
{
	(void)state;
	/* RFC 3397 section 3's example: eng.apple.com, marketing.apple.com */
	static const uint8_t d[] = { 3, 'e', 'n', 'g', 5, 'a', 'p', 'p', 'l', 'e', 3, 'c',
		'o', 'm', 0, 9, 'm', 'a', 'r', 'k', 'e', 't', 'i', 'n', 'g', 0xc0, 4 };
	assert_int_equal(sv_dns_decode_search(d, sizeof d, out, 8), 2);
	assert_string_equal(out[0], "eng.apple.com");
	assert_string_equal(out[1], "marketing.apple.com");
}

static void
search_list_skips_duplicates_and_root_and_stops_at_max(void **state)
{
	(void)state;
	static const uint8_t d[] = { 1, 'a', 0, 0, 1, 'A', 0, 1, 'b', 0, 1, 'c', 0 };
	assert_int_equal(sv_dns_decode_search(d, sizeof d, out, 8), 3);
	assert_string_equal(out[0], "a");
	assert_string_equal(out[1], "b");
	assert_string_equal(out[2], "c");
	assert_int_equal(sv_dns_decode_search(d, sizeof d, out, 2), 2);
}

static void
search_list_rejects_loops_forward_pointers_and_truncation(void **state)
{
	(void)state;
	static const uint8_t self[] = { 0xc0, 0 };               /* points at itself */
	static const uint8_t fwd[] = { 0xc0, 2, 1, 'a', 0 };      /* points forward */
	static const uint8_t cut[] = { 3, 'a', 'b' };             /* label past the end */
	static const uint8_t noend[] = { 1, 'a' };                /* no terminating 0 */
	static const uint8_t half[] = { 1, 'a', 0, 0xc0 };        /* pointer cut in half */
	static const uint8_t ext[] = { 0x40, 'a', 0 };            /* reserved label type */
	assert_int_equal(sv_dns_decode_search(self, sizeof self, out, 8), 0);
	assert_int_equal(sv_dns_decode_search(fwd, sizeof fwd, out, 8), 0);
	assert_int_equal(sv_dns_decode_search(cut, sizeof cut, out, 8), 0);
	assert_int_equal(sv_dns_decode_search(noend, sizeof noend, out, 8), 0);
	assert_int_equal(sv_dns_decode_search(half, sizeof half, out, 8), 1);
	assert_string_equal(out[0], "a");
	assert_int_equal(sv_dns_decode_search(ext, sizeof ext, out, 8), 0);
	assert_int_equal(sv_dns_decode_search(NULL, 0, out, 8), 0);
}

static void
search_list_rejects_bad_characters_and_overlong_names(void **state)
{
	(void)state;
	static const uint8_t bad[] = { 3, 'a', ' ', 'b', 0 };
	static const uint8_t dot[] = { 3, 'a', '.', 'b', 0 };
	uint8_t big[300];
	size_t n = 0;

	assert_int_equal(sv_dns_decode_search(bad, sizeof bad, out, 8), 0);
	assert_int_equal(sv_dns_decode_search(dot, sizeof dot, out, 8), 0);
	/* five 63-byte labels: 319 characters, over 253 */
	for (int l = 0; l < 4; l++) {
		big[n++] = 63;
		memset(big + n, 'x', 63);
		n += 63;
	}
	big[n++] = 0;
	assert_int_equal(sv_dns_decode_search(big, n, out, 8), 0);
	/* pointer chains that keep growing a name also stop at 253 */
	uint8_t grow[66];
	grow[0] = 63;
	memset(grow + 1, 'g', 63);
	grow[64] = 0xc0; /* back to offset 0: label, pointer, label, ... */
	grow[65] = 0;
	assert_int_equal(sv_dns_decode_search(grow, sizeof grow, out, 8), 0);
}

static void
domain_option_drops_padding_and_trailing_dot(void **state)
{
	(void)state;
	char d[SV_DNS_NAME_MAX];
	assert_true(sv_dns_decode_domain((const uint8_t *)"corp.example.\0\0", 15, d));
	assert_string_equal(d, "corp.example");
	assert_false(sv_dns_decode_domain((const uint8_t *)"a b", 3, d));
	assert_string_equal(d, "");
	assert_false(sv_dns_decode_domain((const uint8_t *)"a\0b", 3, d));
	assert_false(sv_dns_decode_domain((const uint8_t *)"..", 2, d));
	assert_false(sv_dns_decode_domain(NULL, 0, d));
}

static void
name_validation_follows_rfc1035_lengths(void **state)
{
	(void)state;
	char n[300];
	assert_true(sv_dns_name_is_valid("host"));
	assert_true(sv_dns_name_is_valid("_sip._tcp.example.com."));
	assert_false(sv_dns_name_is_valid(""));
	assert_false(sv_dns_name_is_valid("."));
	assert_false(sv_dns_name_is_valid("a..b"));
	assert_false(sv_dns_name_is_valid("a b"));
	memset(n, 'a', 63);
	n[63] = '\0';
	assert_true(sv_dns_name_is_valid(n));
	n[63] = 'a';
	n[64] = '\0';
	assert_false(sv_dns_name_is_valid(n));
}

static void
expand_appends_search_domains_to_short_names_only(void **state)
{
	(void)state;
	static const char search[2][SV_DNS_NAME_MAX] = { "lab.test", "corp.test" };

	assert_int_equal(sv_dns_expand("db", search, 2, out, 8), 3);
	assert_string_equal(out[0], "db.lab.test");
	assert_string_equal(out[1], "db.corp.test");
	assert_string_equal(out[2], "db");
	assert_int_equal(sv_dns_expand("db.x", search, 2, out, 8), 1);
	assert_string_equal(out[0], "db.x");
	assert_int_equal(sv_dns_expand("db.", search, 2, out, 8), 1);
	assert_string_equal(out[0], "db");
	assert_int_equal(sv_dns_expand("db", NULL, 0, out, 8), 1);
	/* max counts the name itself: room for one search domain */
	assert_int_equal(sv_dns_expand("db", search, 2, out, 2), 2);
	assert_string_equal(out[1], "db");
	assert_int_equal(sv_dns_expand("", search, 2, out, 8), 0);
}

static void
expand_skips_domains_that_would_overflow_the_name(void **state)
{
	(void)state;
	static char search[1][SV_DNS_NAME_MAX];
	char name[64];
	memset(search[0], 'd', 250);
	search[0][250] = '\0';
	memset(name, 'n', 10);
	name[10] = '\0';
	assert_int_equal(sv_dns_expand(name, (const char(*)[SV_DNS_NAME_MAX])search, 1, out,
				 8), 1);
	assert_string_equal(out[0], name);
}

static void
resolve_local_plain_pattern_matches_the_exact_name_only(void **state)
{
	(void)state;
	const char *p[] = { "corp.example", "printer." };
	assert_int_equal(sv_resolve_set_local(p, 2), 0);
	assert_true(sv_resolve_is_local("corp.example"));
	assert_true(sv_resolve_is_local("CORP.example."));
	assert_true(sv_resolve_is_local("printer"));
	assert_false(sv_resolve_is_local("db.corp.example"));
	assert_false(sv_resolve_is_local("xcorp.example"));
	assert_false(sv_resolve_is_local("example"));
	assert_false(sv_resolve_is_local("printer.corp"));
	assert_false(sv_resolve_is_local(""));
	assert_false(sv_resolve_is_local(NULL));
	assert_int_equal(sv_resolve_set_local(NULL, 0), 0);
}

static void
resolve_local_suffix_pattern_matches_names_under_the_domain(void **state)
{
	(void)state;
	const char *p[] = { "*.corp.example", ".lan." };
	assert_int_equal(sv_resolve_set_local(p, 2), 0);
	assert_true(sv_resolve_is_local("db.corp.example"));
	assert_true(sv_resolve_is_local("a.b.CORP.Example."));
	assert_true(sv_resolve_is_local("nas.lan"));
	assert_false(sv_resolve_is_local("corp.example"));
	assert_false(sv_resolve_is_local("xcorp.example"));
	assert_false(sv_resolve_is_local("lan"));
	assert_false(sv_resolve_is_local("wlan"));
	assert_false(sv_resolve_is_local(".lan"));
	assert_int_equal(sv_resolve_set_local(NULL, 0), 0);
}

static void
resolve_local_star_matches_all_and_bad_patterns_keep_the_list(void **state)
{
	(void)state;
	const char *all[] = { "*" };
	assert_int_equal(sv_resolve_set_local(all, 1), 0);
	assert_true(sv_resolve_is_local("anything.at.all"));
	const char *bad[][1] = { { "a b" }, { "*x" }, { "..x" }, { "*." }, { "." },
		{ "x.*.y" } };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_false(sv_resolve_local_pattern_is_valid(bad[i][0]));
		assert_int_equal(sv_resolve_set_local(bad[i], 1), SV_E_INVAL);
	}
	assert_true(sv_resolve_is_local("x")); /* a failed call keeps the list */
	assert_true(sv_resolve_local_pattern_is_valid("*.x"));
	assert_true(sv_resolve_local_pattern_is_valid(".x"));
	assert_true(sv_resolve_local_pattern_is_valid("localhost"));
	assert_int_equal(sv_resolve_set_local(NULL, 0), 0);
	assert_false(sv_resolve_is_local("anything.at.all"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(search_list_with_compression_decodes_in_order),
		cmocka_unit_test(search_list_skips_duplicates_and_root_and_stops_at_max),
		cmocka_unit_test(search_list_rejects_loops_forward_pointers_and_truncation),
		cmocka_unit_test(search_list_rejects_bad_characters_and_overlong_names),
		cmocka_unit_test(domain_option_drops_padding_and_trailing_dot),
		cmocka_unit_test(name_validation_follows_rfc1035_lengths),
		cmocka_unit_test(expand_appends_search_domains_to_short_names_only),
		cmocka_unit_test(expand_skips_domains_that_would_overflow_the_name),
		cmocka_unit_test(resolve_local_plain_pattern_matches_the_exact_name_only),
		cmocka_unit_test(resolve_local_suffix_pattern_matches_names_under_the_domain),
		cmocka_unit_test(resolve_local_star_matches_all_and_bad_patterns_keep_the_list),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
