/*
 * netstack/dhcp_routes.c: DHCP options 121/249 (RFC 3442) and 33 (RFC 2132 section
 * 5.8) as bytes in, routes out; which option wins; which routes a lease keeps and the
 * notes about those it leaves out. Pure functions: no stack.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "netstack/dhcp_routes.h"

static struct sv_dhcp_route r[SV_DHCP_ROUTES_MAX + 4];

/* "10.1.0.0/16 via 10.77.0.1" for route i of r */
static const char *
route_str(const struct sv_dhcp_route *x)
{
	static char s[80];
	char d[SV_IP_STRLEN], v[SV_IP_STRLEN];
	snprintf(s, sizeof s, "%s/%u via %s", sv_ip_format(&x->dst, d, sizeof d),
		x->prefix_len, sv_ip_format(&x->via, v, sizeof v));
	return s;
}

static struct sv_ip
ip4(uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
	struct sv_ip x = { .family = 4, .b = { a, b, c, d } };
	return x;
}

static void
classless_rfc3442_examples_decode(void **state)
{
	(void)state;
	/* RFC 3442 section 2's table: widths 0, 8, 16, 24, 32 and a few in between */
	static const uint8_t d[] = {
		0, 10, 77, 0, 1,                   /* 0.0.0.0/0 */
		8, 10, 10, 77, 0, 1,               /* 10.0.0.0/8 */
		16, 172, 16, 10, 77, 0, 1,         /* 172.16.0.0/16 */
		24, 192, 168, 5, 10, 77, 0, 2,     /* 192.168.5.0/24 */
		32, 192, 168, 5, 9, 10, 77, 0, 3,  /* host route */
		9, 129, 128, 10, 77, 0, 4,         /* 129.128.0.0/9: two significant octets */
		25, 10, 0, 0, 128, 0, 0, 0, 0,     /* 10.0.0.128/25 on the link */
	};
	assert_int_equal(sv_dhcp_parse_classless(d, sizeof d, r, 16), 7);
	assert_string_equal(route_str(&r[0]), "0.0.0.0/0 via 10.77.0.1");
	assert_string_equal(route_str(&r[1]), "10.0.0.0/8 via 10.77.0.1");
	assert_string_equal(route_str(&r[2]), "172.16.0.0/16 via 10.77.0.1");
	assert_string_equal(route_str(&r[3]), "192.168.5.0/24 via 10.77.0.2");
	assert_string_equal(route_str(&r[4]), "192.168.5.9/32 via 10.77.0.3");
	assert_string_equal(route_str(&r[5]), "129.128.0.0/9 via 10.77.0.4");
	assert_string_equal(route_str(&r[6]), "10.0.0.128/25 via 0.0.0.0");
}

static void
classless_clears_host_bits_past_the_width(void **state)
{
	(void)state;
	/* width 12 but the second octet has bits past it: 10.255 -> 10.240 */
	static const uint8_t d[] = { 12, 10, 255, 10, 77, 0, 1 };
	assert_int_equal(sv_dhcp_parse_classless(d, sizeof d, r, 4), 1);
	assert_string_equal(route_str(&r[0]), "10.240.0.0/12 via 10.77.0.1");
}

static void
classless_rejects_width_above_32_and_truncation_whole(void **state)
{
	(void)state;
	static const uint8_t wide[] = { 16, 10, 1, 10, 77, 0, 1, 33, 1, 2, 3, 4, 5, 10, 77,
		0, 1 };
	static const uint8_t cut_router[] = { 16, 10, 1, 10, 77, 0 };
	static const uint8_t cut_dst[] = { 24, 10, 1 };
	static const uint8_t tail[] = { 16, 10, 1, 10, 77, 0, 1, 8 };
	memset(r, 0xaa, sizeof r);
	assert_int_equal(sv_dhcp_parse_classless(wide, sizeof wide, r, 4), SV_E_PROTO);
	assert_int_equal(r[0].dst.family, 0xaa); /* nothing written */
	assert_int_equal(sv_dhcp_parse_classless(cut_router, sizeof cut_router, r, 4),
		SV_E_PROTO);
	assert_int_equal(sv_dhcp_parse_classless(cut_dst, sizeof cut_dst, r, 4), SV_E_PROTO);
	assert_int_equal(sv_dhcp_parse_classless(tail, sizeof tail, r, 4), SV_E_PROTO);
	assert_int_equal(sv_dhcp_parse_classless(tail, 0, r, 4), SV_E_PROTO);
	assert_int_equal(sv_dhcp_parse_classless(NULL, 0, r, 4), SV_E_PROTO);
	/* the shortest valid option: one default route (5 bytes) */
	static const uint8_t dflt[] = { 0, 10, 77, 0, 9 };
	assert_int_equal(sv_dhcp_parse_classless(dflt, sizeof dflt, r, 4), 1);
	assert_string_equal(route_str(&r[0]), "0.0.0.0/0 via 10.77.0.9");
}

static void
classless_counts_routes_past_max_without_writing_them(void **state)
{
	(void)state;
	uint8_t d[40 * 5];
	for (unsigned i = 0; i < 40; i++) {
		d[i * 5] = 32; /* a /32 then 4 octets: the router's */
		memcpy(d + i * 5 + 1, (uint8_t[]){ 10, 0, 0, (uint8_t)i }, 4);
	}
	/* Not a valid encoding of 40 routes: width 32 needs 4 + 4 octets. */
	assert_int_equal(sv_dhcp_parse_classless(d, sizeof d, r, 4), SV_E_PROTO);
	for (unsigned i = 0; i < 40; i++)
		memcpy(d + i * 5, (uint8_t[]){ 0, 10, 77, 0, (uint8_t)(i + 1) }, 5);
	memset(r, 0, sizeof r);
	assert_int_equal(sv_dhcp_parse_classless(d, sizeof d, r, 3), 40);
	assert_string_equal(route_str(&r[2]), "0.0.0.0/0 via 10.77.0.3");
	assert_int_equal(r[3].dst.family, 0);
	assert_int_equal(sv_dhcp_parse_classless(d, sizeof d, NULL, 0), 40);
}

static void
classful_uses_class_masks_and_skips_illegal_destinations(void **state)
{
	(void)state;
	static const uint8_t d[] = {
		10, 0, 0, 0, 10, 77, 0, 1,      /* class A: /8 */
		172, 16, 0, 0, 10, 77, 0, 1,    /* class B: /16 */
		192, 168, 7, 0, 10, 77, 0, 1,   /* class C: /24 */
		10, 1, 2, 3, 10, 77, 0, 1,      /* bits past the class mask: host route */
		0, 0, 0, 0, 10, 77, 0, 1,       /* default route: illegal in option 33 */
		224, 0, 0, 0, 10, 77, 0, 1,     /* class D */
		240, 0, 0, 0, 10, 77, 0, 1,     /* class E */
	};
	assert_int_equal(sv_dhcp_parse_classful(d, sizeof d, r, 16), 4);
	assert_string_equal(route_str(&r[0]), "10.0.0.0/8 via 10.77.0.1");
	assert_string_equal(route_str(&r[1]), "172.16.0.0/16 via 10.77.0.1");
	assert_string_equal(route_str(&r[2]), "192.168.7.0/24 via 10.77.0.1");
	assert_string_equal(route_str(&r[3]), "10.1.2.3/32 via 10.77.0.1");
	assert_int_equal(sv_dhcp_parse_classful(d, 7, r, 16), SV_E_PROTO);
	assert_int_equal(sv_dhcp_parse_classful(d, 0, r, 16), SV_E_PROTO);
	assert_int_equal(sv_dhcp_parse_classful(d + 32, 8, r, 16), 0);
}

static void
collect_concatenates_split_instances(void **state)
{
	(void)state;
	struct sv_dhcp_routes_raw raw;
	struct sv_ip me = ip4(10, 77, 0, 100);
	/* RFC 3396: one option in two instances, split inside a descriptor */
	static const uint8_t a[] = { 16, 10, 1, 10, 77 }, b[] = { 0, 1, 24, 10, 2, 3, 0, 0,
		0, 0 };

	sv_dhcp_routes_reset(&raw);
	assert_false(sv_dhcp_routes_collect(&raw, 3, a, sizeof a));
	assert_true(sv_dhcp_routes_collect(&raw, 121, a, sizeof a));
	assert_true(sv_dhcp_routes_collect(&raw, 121, b, sizeof b));
	unsigned code;
	assert_int_equal(sv_dhcp_routes_select(&raw, &me, 24, r, 8, &code, NULL, NULL), 2);
	assert_int_equal(code, 121);
	assert_string_equal(route_str(&r[0]), "10.1.0.0/16 via 10.77.0.1");
	assert_string_equal(route_str(&r[1]), "10.2.3.0/24 via 0.0.0.0");
}

static void
collect_marks_an_option_past_the_ceiling_and_select_ignores_it(void **state)
{
	(void)state;
	static struct sv_dhcp_routes_raw raw;
	static uint8_t big[255];
	static const uint8_t ok[] = { 10, 0, 0, 0, 10, 77, 0, 1 };
	struct sv_ip me = ip4(10, 77, 0, 100);
	unsigned code;

	sv_dhcp_routes_reset(&raw);
	for (size_t i = 0; i + 5 <= sizeof big; i += 5)
		memcpy(big + i, (uint8_t[]){ 0, 10, 77, 0, 1 }, 5);
	for (int i = 0; i < 5; i++) /* 5 * 255 > SV_DHCP_ROUTES_RAW_MAX */
		assert_true(sv_dhcp_routes_collect(&raw, 121, big, 255));
	assert_true(raw.classless.overflow);
	assert_true(raw.classless.len <= SV_DHCP_ROUTES_RAW_MAX);
	assert_true(sv_dhcp_routes_collect(&raw, 33, ok, sizeof ok));
	/* 121 unusable: 33 applies */
	assert_int_equal(sv_dhcp_routes_select(&raw, &me, 24, r, 8, &code, NULL, NULL), 1);
	assert_int_equal(code, 33);
	assert_string_equal(route_str(&r[0]), "10.0.0.0/8 via 10.77.0.1");
}

static void
select_prefers_121_over_249_over_33(void **state)
{
	(void)state;
	struct sv_dhcp_routes_raw raw;
	struct sv_ip me = ip4(10, 77, 0, 100);
	static const uint8_t c121[] = { 16, 10, 1, 10, 77, 0, 1 };
	static const uint8_t c249[] = { 16, 10, 2, 10, 77, 0, 1 };
	static const uint8_t c33[] = { 10, 0, 0, 0, 10, 77, 0, 1 };
	unsigned code;

	sv_dhcp_routes_reset(&raw);
	sv_dhcp_routes_collect(&raw, 33, c33, sizeof c33);
	sv_dhcp_routes_collect(&raw, 249, c249, sizeof c249);
	sv_dhcp_routes_collect(&raw, 121, c121, sizeof c121);
	assert_int_equal(sv_dhcp_routes_select(&raw, &me, 24, r, 8, &code, NULL, NULL), 1);
	assert_int_equal(code, 121);
	assert_string_equal(route_str(&r[0]), "10.1.0.0/16 via 10.77.0.1");
	raw.classless.seen = false;
	assert_int_equal(sv_dhcp_routes_select(&raw, &me, 24, r, 8, &code, NULL, NULL), 1);
	assert_int_equal(code, 249);
	assert_string_equal(route_str(&r[0]), "10.2.0.0/16 via 10.77.0.1");
	raw.ms_classless.seen = false;
	assert_int_equal(sv_dhcp_routes_select(&raw, &me, 24, r, 8, &code, NULL, NULL), 1);
	assert_int_equal(code, 33);
	raw.classful.seen = false;
	assert_int_equal(sv_dhcp_routes_select(&raw, &me, 24, r, 8, &code, NULL, NULL), 0);
	assert_int_equal(code, 0);
}

struct notes {
	unsigned n;
	char last[256], all[1024];
};

static void
note(void *arg, const char *why)
{
	struct notes *t = arg;
	t->n++;
	snprintf(t->last, sizeof t->last, "%s", why);
	strncat(t->all, why, sizeof t->all - strlen(t->all) - 2);
	strcat(t->all, "\n");
}

static void
select_keeps_gateways_on_the_subnet_and_says_why_others_go(void **state)
{
	(void)state;
	struct sv_dhcp_routes_raw raw;
	struct sv_ip me = ip4(10, 77, 0, 100);
	static const uint8_t d[] = {
		16, 10, 1, 10, 77, 0, 1,        /* kept */
		16, 10, 2, 192, 168, 1, 1,      /* gateway elsewhere */
		16, 10, 3, 10, 77, 0, 100,      /* through ourselves */
		24, 10, 4, 0, 0, 0, 0, 0,       /* on the link: kept */
		16, 10, 1, 10, 77, 0, 2,        /* same network again */
		0, 10, 77, 0, 1,                /* default route: kept */
	};
	struct notes t = { 0 };
	unsigned code;

	sv_dhcp_routes_reset(&raw);
	sv_dhcp_routes_collect(&raw, 121, d, sizeof d);
	assert_int_equal(sv_dhcp_routes_select(&raw, &me, 24, r, 8, &code, note, &t), 3);
	assert_string_equal(route_str(&r[0]), "10.1.0.0/16 via 10.77.0.1");
	assert_string_equal(route_str(&r[1]), "10.4.0.0/24 via 0.0.0.0");
	assert_string_equal(route_str(&r[2]), "0.0.0.0/0 via 10.77.0.1");
	assert_int_equal(t.n, 3);
	assert_non_null(strstr(t.all, "option 121: route 10.2.0.0/16 via 192.168.1.1 ignored: "
				      "the gateway is not on the lease's subnet (the lease is on "
				      "10.77.0.0/24)"));
	assert_non_null(strstr(t.all, "10.3.0.0/16 via 10.77.0.100 ignored: the gateway is "
				      "our own address"));
	assert_non_null(strstr(t.all, "10.1.0.0/16 via 10.77.0.2 ignored: a route to the "
				      "same network came first"));
	/* a /16 lease takes the gateway 10.77.5.1 */
	static const uint8_t wide[] = { 16, 10, 9, 10, 77, 5, 1 };
	sv_dhcp_routes_reset(&raw);
	sv_dhcp_routes_collect(&raw, 121, wide, sizeof wide);
	assert_int_equal(sv_dhcp_routes_select(&raw, &me, 24, r, 8, NULL, NULL, NULL), 0);
	assert_int_equal(sv_dhcp_routes_select(&raw, &me, 16, r, 8, NULL, NULL, NULL), 1);
}

static void
select_notes_malformed_options_and_routes_past_max(void **state)
{
	(void)state;
	struct sv_dhcp_routes_raw raw;
	struct sv_ip me = ip4(10, 77, 0, 100), v6 = { .family = 6 };
	static const uint8_t bad[] = { 33, 1, 2, 3, 4, 5, 10, 77, 0, 1 };
	uint8_t many[10 * 7];
	struct notes t = { 0 };

	sv_dhcp_routes_reset(&raw);
	sv_dhcp_routes_collect(&raw, 121, bad, sizeof bad);
	assert_int_equal(sv_dhcp_routes_select(&raw, &me, 24, r, 8, NULL, note, &t), 0);
	assert_string_equal(t.last, "option 121 ignored: malformed (10 bytes)");
	sv_dhcp_routes_collect(&raw, 249, NULL, 0); /* seen, empty */
	assert_int_equal(sv_dhcp_routes_select(&raw, &me, 24, r, 8, NULL, note, &t), 0);
	assert_string_equal(t.last, "option 249 ignored: malformed (0 bytes)");

	for (unsigned i = 0; i < 10; i++)
		memcpy(many + i * 7, (uint8_t[]){ 16, 10, (uint8_t)i, 10, 77, 0, 1 }, 7);
	sv_dhcp_routes_reset(&raw);
	sv_dhcp_routes_collect(&raw, 121, many, sizeof many);
	memset(r, 0, sizeof r);
	assert_int_equal(sv_dhcp_routes_select(&raw, &me, 24, r, 4, NULL, note, &t), 4);
	assert_string_equal(t.last, "option 121: 6 more routes ignored: at most 4 are kept");
	assert_int_equal(r[4].dst.family, 0);
	/* no IPv4 lease: nothing */
	assert_int_equal(sv_dhcp_routes_select(&raw, &v6, 24, r, 4, NULL, NULL, NULL), 0);
	assert_int_equal(sv_dhcp_routes_select(&raw, &me, 33, r, 4, NULL, NULL, NULL), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(classless_rfc3442_examples_decode),
		cmocka_unit_test(classless_clears_host_bits_past_the_width),
		cmocka_unit_test(classless_rejects_width_above_32_and_truncation_whole),
		cmocka_unit_test(classless_counts_routes_past_max_without_writing_them),
		cmocka_unit_test(classful_uses_class_masks_and_skips_illegal_destinations),
		cmocka_unit_test(collect_concatenates_split_instances),
		cmocka_unit_test(collect_marks_an_option_past_the_ceiling_and_select_ignores_it),
		cmocka_unit_test(select_prefers_121_over_249_over_33),
		cmocka_unit_test(select_keeps_gateways_on_the_subnet_and_says_why_others_go),
		cmocka_unit_test(select_notes_malformed_options_and_routes_past_max),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
