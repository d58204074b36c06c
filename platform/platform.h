/*
 * The few OS services the portable modules need: a monotonic clock and OS entropy.
 * (lwIP's sys_now() is implemented on top of sv_now_ms() in platform/clock.c.)
 */
#ifndef SV_PLATFORM_H
#define SV_PLATFORM_H

#include <stddef.h>
#include <stdint.h>

/* Monotonic milliseconds since an arbitrary start. */
uint64_t sv_now_ms(void);
/* Monotonic microseconds since an arbitrary start. */
uint64_t sv_now_us(void);
/* n bytes from the OS CSPRNG (getrandom / /dev/urandom). 0 or -errno. */
int sv_random(void *p, size_t n);

#endif
