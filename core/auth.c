/*
 * SoftEther password authentication (spec section 7.3; see auth.h).
 */
#include <string.h>

#include "auth.h"
#include "sha0.h"

/* see auth.h */
void
sv_auth_password_hash(uint8_t stored[SV_AUTH_HASH_LEN], const char *username,
                      const char *password, size_t password_len)
{
	struct sv_sha0_ctx c;
	uint8_t up[64];

	sv_sha0_init(&c);
	if (password_len > 0)
		sv_sha0_update(&c, password, password_len);
	/* Upper-case only ASCII a-z (spec 7.3), in chunks: no length limit. */
	for (const char *u = username != NULL ? username : ""; *u != '\0';) {
		size_t n = 0;
		for (; *u != '\0' && n < sizeof up; u++, n++) {
			unsigned char ch = (unsigned char)*u;
			up[n] =
			    ch >= 'a' && ch <= 'z' ? (uint8_t)(ch - 32) : ch;
		}
		sv_sha0_update(&c, up, n);
	}
	sv_sha0_final(&c, stored);
	explicit_bzero(up, sizeof up);
}

/* see auth.h */
void
sv_auth_secure_password(uint8_t proof[SV_AUTH_HASH_LEN],
                        const uint8_t stored[SV_AUTH_HASH_LEN],
                        const uint8_t random[SV_AUTH_RANDOM_LEN])
{
	struct sv_sha0_ctx c;

	sv_sha0_init(&c);
	sv_sha0_update(&c, stored, SV_AUTH_HASH_LEN);
	sv_sha0_update(&c, random, SV_AUTH_RANDOM_LEN);
	sv_sha0_final(&c, proof);
}
