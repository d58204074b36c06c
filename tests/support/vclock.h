/*
 * A virtual clock for tests that drive lwIP by hand: defines sv_now_ms(), sv_now_us()
 * and sys_now() (instead of platform/clock.c) over now_ms, which the test advances.
 * Include it in one translation unit of the test only.
 */
#ifndef SV_TESTS_SUPPORT_VCLOCK_H
#define SV_TESTS_SUPPORT_VCLOCK_H

#include <stdint.h>

static uint64_t now_ms = 1000000;

uint64_t sv_now_ms(void);
uint64_t sv_now_us(void);
uint32_t sys_now(void);

uint64_t
sv_now_ms(void)
{
	return now_ms;
}

uint64_t
sv_now_us(void)
{
	return now_ms * 1000u;
}

uint32_t
sys_now(void)
{
	return (uint32_t)now_ms;
}

#endif
