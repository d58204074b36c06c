/*
 * SHA-0 (FIPS 180, 1993): SHA-1 without the one-bit rotate in the message schedule.
 * SoftEther hashes passwords with it (spec section 7.3). Not for anything else.
 */
#ifndef SV_SHA0_H
#define SV_SHA0_H

#include <stddef.h>
#include <stdint.h>

struct sv_sha0_ctx {
	uint32_t h[5];
	uint64_t total;
	uint8_t block[64];
	size_t used;
};

void sv_sha0_init(struct sv_sha0_ctx *c);
void sv_sha0_update(struct sv_sha0_ctx *c, const void *p, size_t n);
void sv_sha0_final(struct sv_sha0_ctx *c, uint8_t out[20]);
void sv_sha0(uint8_t out[20], const void *p, size_t n);

#endif
