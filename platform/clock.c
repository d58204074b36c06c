/* Monotonic clock for the portable modules and lwIP's sys_now(). */
#include <stdint.h>
#include <time.h>

#include "platform/platform.h"

/* see platform.h */
uint64_t
sv_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* see platform.h */
uint64_t
sv_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* lwIP's clock (declared in lwip/sys.h as u32_t sys_now(void)); wraps after 49 days,
 * which lwIP's timer code handles. */
uint32_t sys_now(void);

uint32_t
sys_now(void)
{
	return (uint32_t)sv_now_ms();
}
