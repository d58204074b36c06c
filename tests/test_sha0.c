/*
 * SHA-0 against the vectors of spec section 7.3.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/sha0.h"

static void
hex(const uint8_t d[20], char out[41])
{
	for (int i = 0; i < 20; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static void
check(const char *msg, size_t n, const char *want)
{
	uint8_t d[20];
	char h[41];

	sv_sha0(d, msg, n);
	hex(d, h);
	assert_string_equal(h, want);
}

static void
sha0_of_empty_string(void **state)
{
	check("", 0, "f96cea198ad1dd5617ac084a3d92c6107708c0ef");
}

static void
sha0_of_abc(void **state)
{
	check("abc", 3, "0164b8a914cd2a5e74c4f7ff082c4d97f1edf880");
}

static void
sha0_of_two_block_message(void **state)
{
	const char *m =
	    "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";

	check(m, strlen(m), "d2516ee1acfa5baf33dfc1c471e438449ef134c8");
}

static void
sha0_differs_from_sha1(void **state)
{
	uint8_t d[20];
	char h[41];

	sv_sha0(d, "abc", 3);
	hex(d, h);
	/* SHA-1("abc"): the rotate in the schedule must be absent. */
	assert_string_not_equal(h, "a9993e364706816aba3e25717850c26c9cd0d89d");
}

static void
sha0_incremental_matches_one_shot_at_every_split(void **state)
{
	uint8_t msg[200], one[20], inc[20];

	for (size_t i = 0; i < sizeof msg; i++)
		msg[i] = (uint8_t)(i * 7 + 3);
	for (size_t len = 0; len <= sizeof msg; len += 13) {
		sv_sha0(one, msg, len);
		for (size_t cut = 0; cut <= len; cut += 5) {
			struct sv_sha0_ctx c;
			sv_sha0_init(&c);
			sv_sha0_update(&c, msg, cut);
			sv_sha0_update(&c, msg + cut, len - cut);
			sv_sha0_final(&c, inc);
			assert_memory_equal(one, inc, 20);
		}
	}
}

static void
sha0_padding_boundaries_are_distinct(void **state)
{
	uint8_t msg[130], prev[20], d[20];

	/* Lengths around 55/56/64 bytes exercise the length-block spill. */
	memset(msg, 'a', sizeof msg);
	sv_sha0(prev, msg, 54);
	for (size_t len = 55; len <= 129; len++) {
		sv_sha0(d, msg, len);
		assert_memory_not_equal(prev, d, 20);
		memcpy(prev, d, 20);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(sha0_of_empty_string),
	    cmocka_unit_test(sha0_of_abc),
	    cmocka_unit_test(sha0_of_two_block_message),
	    cmocka_unit_test(sha0_differs_from_sha1),
	    cmocka_unit_test(sha0_incremental_matches_one_shot_at_every_split),
	    cmocka_unit_test(sha0_padding_boundaries_are_distinct),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
