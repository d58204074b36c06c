/*
 * The Internet checksum for lwIP (LWIP_CHKSUM in lwipopts.h, prototype in arch/cc.h).
 *
 * lwIP's own lwip_standard_chksum adds 16 bits per step; on a download it checks the TCP
 * checksum of every byte received and was ~9% of the client's CPU (perf, bench/RESULTS.md).
 * This one adds 32-bit words into 64-bit accumulators (RFC 1071 section 2: the sum may be
 * computed in any word size, then folded), four words per step, in two independent
 * chains. Same result as lwIP's: the one's-complement sum, not complemented, of the
 * 16-bit words as they lie in memory, folded to 16 bits; alignment does not matter
 * (loads go through memcpy).
 */
#include <stdint.h>
#include <string.h>

#include "arch/cc.h"

/* see arch/cc.h */
uint16_t
sv_lwip_chksum(const void *data, int len)
{
	const uint8_t *p = data;
	size_t n = len > 0 ? (size_t)len : 0;
	uint64_t a = 0, b = 0;
	uint32_t w[4];
	uint16_t h = 0;

	/* No overflow: len < 2^31 gives fewer than 2^29 additions of values < 2^32. */
	for (; n >= sizeof w; p += sizeof w, n -= sizeof w) {
		memcpy(w, p, sizeof w);
		a += w[0];
		b += w[1];
		a += w[2];
		b += w[3];
	}
	a += b;
	for (; n >= 4; p += 4, n -= 4) {
		memcpy(w, p, 4);
		a += w[0];
	}
	if (n >= 2) {
		memcpy(&h, p, 2);
		a += h;
		p += 2;
		n -= 2;
	}
	if (n == 1) { /* the odd byte is the first of a word padded with zero */
		h = 0;
		memcpy(&h, p, 1);
		a += h;
	}
	/* 2^32 and 2^16 are both 1 modulo 0xFFFF: fold; a non-zero sum stays non-zero */
	a = (a & 0xFFFFFFFFu) + (a >> 32);
	a = (a & 0xFFFFFFFFu) + (a >> 32);
	a = (a & 0xFFFFu) + (a >> 16);
	a = (a & 0xFFFFu) + (a >> 16);
	a = (a & 0xFFFFu) + (a >> 16);
	return (uint16_t)a;
}
