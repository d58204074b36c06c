/*
 * SoftEther password authentication (spec section 7.3).
 *   stored = SHA0(password || ASCII-uppercase(username))
 *   proof  = SHA0(stored || hello.random)       -> login element "secure_password"
 */
#ifndef SV_AUTH_H
#define SV_AUTH_H

#include <stddef.h>
#include <stdint.h>

#define SV_AUTH_HASH_LEN 20
#define SV_AUTH_RANDOM_LEN 20

void sv_auth_password_hash(uint8_t stored[SV_AUTH_HASH_LEN], const char *username,
	const char *password, size_t password_len);
void sv_auth_secure_password(uint8_t proof[SV_AUTH_HASH_LEN],
	const uint8_t stored[SV_AUTH_HASH_LEN], const uint8_t random[SV_AUTH_RANDOM_LEN]);

#endif
