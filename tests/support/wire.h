/*
 * Big-endian (network order) stores and loads for tests and fuzz targets that build or
 * read frames by hand.
 */
#ifndef SV_TESTS_SUPPORT_WIRE_H
#define SV_TESTS_SUPPORT_WIRE_H

#include <stdint.h>

static inline void
put16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void
put32(uint8_t *p, uint32_t v)
{
	put16(p, v >> 16);
	put16(p + 2, v & 0xffffu);
}

static inline uint32_t
get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

#endif
