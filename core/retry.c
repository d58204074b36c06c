/* Retry policy; see retry.h. */
#include "err.h"
#include "retry.h"

/* see retry.h */
void
sv_retry_init(struct sv_retry *r, unsigned initial_attempts)
{
	r->failures = 0;
	r->initial_attempts = initial_attempts ? initial_attempts : 1;
	r->ever_established = false;
}

/* see retry.h */
void
sv_retry_established(struct sv_retry *r)
{
	if (!r->ever_established)
		r->failures = 0;
	r->ever_established = true;
}

/* see retry.h */
bool
sv_retry_is_permanent(int err, unsigned server_code)
{
	if (err == SV_E_CERT || err == SV_E_NOTVPN)
		return true;
	return err == SV_E_SERVER && sv_softether_err_is_permanent(server_code);
}

static bool
is_busy(unsigned code)
{
	return code == 10 || code == 16 || code == 20;
}

/* see retry.h */
long
sv_retry_failed(struct sv_retry *r, int err, unsigned server_code, uint64_t lived_ms,
	uint32_t rnd)
{
	if (sv_retry_is_permanent(err, server_code))
		return SV_RETRY_NEVER;
	if (lived_ms >= SV_RETRY_STABLE_MS)
		r->failures = 0; /* a session that really worked: start again */
	r->failures++;
	if (!r->ever_established && r->failures >= r->initial_attempts)
		return SV_RETRY_GIVE_UP;
	unsigned k = r->failures - (r->ever_established ? 1 : 0);
	if (k == 0 && !(err == SV_E_SERVER && is_busy(server_code)))
		return 0;
	unsigned shift = k > 0 ? k - 1 : 0;
	long d = shift >= 6 ? SV_RETRY_MAX_MS : (long)SV_RETRY_FIRST_MS << shift;
	if (d > SV_RETRY_MAX_MS)
		d = SV_RETRY_MAX_MS;
	if (err == SV_E_SERVER && is_busy(server_code) && d < SV_RETRY_BUSY_MS)
		d = SV_RETRY_BUSY_MS;
	return d - d / 4 + (long)(rnd % (uint32_t)(d / 2 + 1)); /* +-25 % */
}
