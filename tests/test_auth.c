/*
 * Password hash and secure-password proof against spec section 7.3.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/auth.h"
#include "core/sha0.h"

static const uint8_t alice_stored[20] = {
    0xf4, 0x2f, 0x47, 0xb3, 0xf9, 0x4a, 0xa8, 0x84, 0x2f, 0xb4,
    0x93, 0x44, 0xba, 0x9c, 0x1e, 0x11, 0x1e, 0xcd, 0x1f, 0xa7};

static void
auth_hash_matches_spec_example(void **state)
{
	uint8_t h[20];

	sv_auth_password_hash(h, "alice", "Secr3tPass", 10);
	assert_memory_equal(h, alice_stored, 20);
}

static void
auth_hash_ignores_user_name_case(void **state)
{
	uint8_t h[20];

	sv_auth_password_hash(h, "ALICE", "Secr3tPass", 10);
	assert_memory_equal(h, alice_stored, 20);
	sv_auth_password_hash(h, "aLiCe", "Secr3tPass", 10);
	assert_memory_equal(h, alice_stored, 20);
}

static void
auth_hash_is_sensitive_to_password_case(void **state)
{
	uint8_t h[20];

	sv_auth_password_hash(h, "alice", "secr3tpass", 10);
	assert_memory_not_equal(h, alice_stored, 20);
}

static void
auth_hash_uses_explicit_password_length(void **state)
{
	uint8_t h[20];

	/* Bytes past password_len are not hashed. */
	sv_auth_password_hash(h, "alice", "Secr3tPassXYZ", 10);
	assert_memory_equal(h, alice_stored, 20);
}

static void
auth_hash_uppercases_only_ascii(void **state)
{
	uint8_t h[20], want[20];
	/* "é" (c3 a9) must stay as is; only a-z fold. */
	static const char user[] = "\xc3\xa9z";
	static const char concat[] = "pw\xc3\xa9Z";

	sv_auth_password_hash(h, user, "pw", 2);
	sv_sha0(want, concat, strlen(concat));
	assert_memory_equal(h, want, 20);
}

static void
auth_hash_handles_long_user_name(void **state)
{
	char user[200], up[200 + 2];
	uint8_t h[20], want[20];

	memset(user, 'q', sizeof user - 1);
	user[sizeof user - 1] = '\0';
	memcpy(up, "pw", 2);
	memset(up + 2, 'Q', sizeof user - 1);
	sv_auth_password_hash(h, user, "pw", 2);
	sv_sha0(want, up, 2 + sizeof user - 1);
	assert_memory_equal(h, want, 20);
}

static void
auth_empty_password_hashes_user_only(void **state)
{
	uint8_t h[20], want[20];

	sv_auth_password_hash(h, "bob", "", 0);
	sv_sha0(want, "BOB", 3);
	assert_memory_equal(h, want, 20);
}

static void
auth_secure_password_matches_spec_example(void **state)
{
	static const uint8_t want[20] = {
	    0x01, 0xe1, 0xe8, 0xf0, 0x07, 0xd0, 0x8c, 0xa3, 0x9e, 0x97,
	    0xf3, 0xab, 0x96, 0x74, 0xfe, 0x6e, 0x1a, 0x3d, 0xf5, 0x8d};
	uint8_t rnd[20], proof[20];

	for (int i = 0; i < 20; i++)
		rnd[i] = (uint8_t)i;
	sv_auth_secure_password(proof, alice_stored, rnd);
	assert_memory_equal(proof, want, 20);
	rnd[19] ^= 1;
	sv_auth_secure_password(proof, alice_stored, rnd);
	assert_memory_not_equal(proof, want, 20);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(auth_hash_matches_spec_example),
	    cmocka_unit_test(auth_hash_ignores_user_name_case),
	    cmocka_unit_test(auth_hash_is_sensitive_to_password_case),
	    cmocka_unit_test(auth_hash_uses_explicit_password_length),
	    cmocka_unit_test(auth_hash_uppercases_only_ascii),
	    cmocka_unit_test(auth_hash_handles_long_user_name),
	    cmocka_unit_test(auth_empty_password_hashes_user_only),
	    cmocka_unit_test(auth_secure_password_matches_spec_example),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
