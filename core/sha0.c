/*
 * SHA-0 (FIPS 180, 1993). Identical to SHA-1 except that the message
 * schedule has no 1-bit rotate: W[t] = W[t-3] ^ W[t-8] ^ W[t-14] ^ W[t-16]
 * (spec section 7.3). Only for SoftEther password hashing.
 */
#include <string.h>

#include "sha0.h"

static uint32_t
rol(uint32_t x, unsigned n)
{
	return x << n | x >> (32 - n);
}

static void
compress(uint32_t h[5], const uint8_t blk[64])
{
	uint32_t w[80], a, b, c, d, e, f, k, t;

	for (int i = 0; i < 16; i++)
		w[i] = (uint32_t)blk[4 * i] << 24 |
		       (uint32_t)blk[4 * i + 1] << 16 |
		       (uint32_t)blk[4 * i + 2] << 8 | blk[4 * i + 3];
	for (int i = 16; i < 80; i++)
		w[i] =
		    w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]; /* no rotate */
	a = h[0];
	b = h[1];
	c = h[2];
	d = h[3];
	e = h[4];
	for (int i = 0; i < 80; i++) {
		if (i < 20) {
			f = (b & c) | (~b & d);
			k = 0x5a827999;
		} else if (i < 40) {
			f = b ^ c ^ d;
			k = 0x6ed9eba1;
		} else if (i < 60) {
			f = (b & c) | (b & d) | (c & d);
			k = 0x8f1bbcdc;
		} else {
			f = b ^ c ^ d;
			k = 0xca62c1d6;
		}
		t = rol(a, 5) + f + e + k + w[i];
		e = d;
		d = c;
		c = rol(b, 30);
		b = a;
		a = t;
	}
	h[0] += a;
	h[1] += b;
	h[2] += c;
	h[3] += d;
	h[4] += e;
	explicit_bzero(w, sizeof w); /* the input may be a password */
}

/* see sha0.h */
void
sv_sha0_init(struct sv_sha0_ctx *c)
{
	static const uint32_t iv[5] = {0x67452301, 0xefcdab89, 0x98badcfe,
	                               0x10325476, 0xc3d2e1f0};

	memcpy(c->h, iv, sizeof iv);
	c->total = 0;
	c->used = 0;
}

/* see sha0.h */
void
sv_sha0_update(struct sv_sha0_ctx *c, const void *p, size_t n)
{
	const uint8_t *s = p;

	c->total += n;
	while (n > 0) {
		size_t take = sizeof c->block - c->used;
		if (take > n)
			take = n;
		memcpy(c->block + c->used, s, take);
		c->used += take;
		s += take;
		n -= take;
		if (c->used == sizeof c->block) {
			compress(c->h, c->block);
			c->used = 0;
		}
	}
}

/* see sha0.h */
void
sv_sha0_final(struct sv_sha0_ctx *c, uint8_t out[20])
{
	uint64_t bits = c->total * 8;
	uint8_t pad = 0x80, zero = 0, len[8];

	sv_sha0_update(c, &pad, 1);
	while (c->used != 56)
		sv_sha0_update(c, &zero, 1);
	for (int i = 0; i < 8; i++)
		len[i] = (uint8_t)(bits >> (56 - 8 * i));
	sv_sha0_update(c, len, sizeof len);
	for (int i = 0; i < 5; i++) {
		out[4 * i] = (uint8_t)(c->h[i] >> 24);
		out[4 * i + 1] = (uint8_t)(c->h[i] >> 16);
		out[4 * i + 2] = (uint8_t)(c->h[i] >> 8);
		out[4 * i + 3] = (uint8_t)c->h[i];
	}
	explicit_bzero(c, sizeof *c);
}

/* see sha0.h */
void
sv_sha0(uint8_t out[20], const void *p, size_t n)
{
	struct sv_sha0_ctx c;

	sv_sha0_init(&c);
	sv_sha0_update(&c, p, n);
	sv_sha0_final(&c, out);
}
