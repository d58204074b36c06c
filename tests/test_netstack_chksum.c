/*
 * netstack/chksum: sv_lwip_chksum (lwIP's LWIP_CHKSUM) against a plain RFC 1071
 * reference, at every alignment and length, and on an IPv4 header.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "arch/cc.h"

/* RFC 1071, 16 bits at a time over big-endian words; the result as two bytes in
 * network order, which is how lwIP's sum lies in memory on any host. */
static void
reference(const uint8_t *p, size_t n, uint8_t out[2])
{
	uint32_t s = 0;
	for (size_t i = 0; i + 1 < n; i += 2)
		s += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (n % 2)
		s += (uint32_t)p[n - 1] << 8;
	while (s >> 16)
		s = (s & 0xFFFF) + (s >> 16);
	out[0] = (uint8_t)(s >> 8);
	out[1] = (uint8_t)s;
}

static void
check(const uint8_t *p, size_t n)
{
	uint8_t want[2], got[2];
	uint16_t v = sv_lwip_chksum(p, (int)n);
	reference(p, n, want);
	memcpy(got, &v, 2);
	assert_memory_equal(got, want, 2);
}

static void
chksum_matches_rfc1071_example(void **state)
{
	(void)state;
	/* RFC 1071 section 3: the sum of these words is ddf2 */
	static const uint8_t d[] = { 0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7 };
	uint16_t v = sv_lwip_chksum(d, sizeof d);
	uint8_t got[2];
	memcpy(got, &v, 2);
	assert_int_equal(got[0], 0xdd);
	assert_int_equal(got[1], 0xf2);
}

static void
chksum_matches_reference_at_every_alignment_and_length(void **state)
{
	(void)state;
	static uint8_t buf[2048 + 8];
	srand(7);
	for (size_t i = 0; i < sizeof buf; i++)
		buf[i] = (uint8_t)rand();
	for (size_t off = 0; off < 8; off++)
		for (size_t n = 0; n <= 300; n++)
			check(buf + off, n);
	for (size_t off = 0; off < 8; off++)
		check(buf + off, 2048);
	check(buf + 3, 1514);
}

static void
chksum_of_all_ones_and_all_zeros(void **state)
{
	(void)state;
	static uint8_t buf[4096];
	memset(buf, 0xff, sizeof buf);
	for (size_t n = 0; n <= 64; n++)
		check(buf, n);
	check(buf, sizeof buf);
	assert_int_equal(sv_lwip_chksum(buf, sizeof buf), 0xffff);
	memset(buf, 0, sizeof buf);
	assert_int_equal(sv_lwip_chksum(buf, sizeof buf), 0);
	assert_int_equal(sv_lwip_chksum(buf, 0), 0);
}

/* what ip4_input checks: a valid header sums to 0xFFFF (inet_chksum gives 0) */
static void
chksum_of_a_valid_ipv4_header_is_all_ones(void **state)
{
	(void)state;
	static const uint8_t ip[20] = { 0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00,
		0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7 };
	uint8_t bad[20];
	assert_int_equal(sv_lwip_chksum(ip, sizeof ip), 0xffff);
	memcpy(bad, ip, sizeof bad);
	bad[19] ^= 1;
	assert_int_not_equal(sv_lwip_chksum(bad, sizeof bad), 0xffff);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(chksum_matches_rfc1071_example),
		cmocka_unit_test(chksum_matches_reference_at_every_alignment_and_length),
		cmocka_unit_test(chksum_of_all_ones_and_all_zeros),
		cmocka_unit_test(chksum_of_a_valid_ipv4_header_is_all_ones),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
