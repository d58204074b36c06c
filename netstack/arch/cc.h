/*
 * lwIP port definitions for sevpn-proxy (any Unix-like host with a C11 compiler).
 * Assertions and diagnostics go to core/log through netstack/stack.c; LWIP_RAND and the
 * TCP ISN hook are seeded from OS entropy there too.
 */
#ifndef SV_LWIP_ARCH_CC_H
#define SV_LWIP_ARCH_CC_H

/* lwIP's arch.h defines LITTLE_ENDIAN/BIG_ENDIAN before including us when no system
 * header did yet; drop those so the C library's own definitions do not clash. */
#if defined(LITTLE_ENDIAN) && LITTLE_ENDIAN == 1234 && !defined(__LITTLE_ENDIAN) && \
	!defined(_LITTLE_ENDIAN)
#undef LITTLE_ENDIAN
#undef BIG_ENDIAN
#endif

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef LITTLE_ENDIAN
#define LITTLE_ENDIAN 1234
#endif
#ifndef BIG_ENDIAN
#define BIG_ENDIAN 4321
#endif
#ifndef BYTE_ORDER
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define BYTE_ORDER BIG_ENDIAN
#else
#define BYTE_ORDER LITTLE_ENDIAN
#endif
#endif

/* lwIP's own errno values are not used (no socket API). */
#define LWIP_ERRNO_STDINCLUDE 1

/* Implemented in netstack/stack.c. */
uint32_t sv_lwip_rand(void);
void sv_lwip_diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void sv_lwip_assert(const char *msg, const char *file, int line)
	__attribute__((noreturn));
/* Implemented in netstack/chksum.c: lwIP's LWIP_CHKSUM (lwipopts.h). */
uint16_t sv_lwip_chksum(const void *data, int len);

#define LWIP_RAND() sv_lwip_rand()
/* x is a parenthesised printf argument list: LWIP_PLATFORM_DIAG(("fmt %d", n)). */
#define LWIP_PLATFORM_DIAG(x) \
	do { \
		sv_lwip_diag x; \
	} while (0)
#define LWIP_PLATFORM_ASSERT(x) sv_lwip_assert((x), __FILE__, __LINE__)

#endif
