/*
 * When to try again after a failed attempt to bring the tunnel up (spec 13.4), as a
 * pure policy: the caller says what happened, the policy answers with a delay or a
 * verdict. No clock and no randomness of its own (both passed in), so it is tested with
 * fake values.
 *
 *   - a refusal that retrying cannot cure (certificate, not a VPN server, and the
 *     SoftEther codes sv_softether_err_is_permanent() lists: bad password, unknown
 *     hub, ...) ends it: SV_RETRY_NEVER;
 *   - before any session was ever established, only `initial_attempts` attempts are
 *     made (a wrong --server fails a CI job fast): then SV_RETRY_GIVE_UP;
 *   - after losing a session that had run for SV_RETRY_STABLE_MS the first retry is
 *     immediate (traps.md), then 1 s, 2 s, 4 s ... up to 60 s; a session that dies
 *     sooner does not reset that sequence, so a server that drops every session right
 *     after the welcome is not hammered; before the first session 1 s, 2 s, ...;
 *   - "busy" answers (10 hub stopping, 16 hub busy, 20 too many sessions) wait 30 s or
 *     more, as the official client does;
 *   - every delay but the immediate one gets +-25 % jitter.
 */
#ifndef SV_RETRY_H
#define SV_RETRY_H

#include <stdbool.h>
#include <stdint.h>

#define SV_RETRY_NEVER (-1)   /* permanent refusal: do not retry */
#define SV_RETRY_GIVE_UP (-2) /* out of attempts before any session */

#define SV_RETRY_FIRST_MS 1000
#define SV_RETRY_MAX_MS 60000
#define SV_RETRY_BUSY_MS 30000
#define SV_RETRY_STABLE_MS 10000 /* a session that lived this long resets the backoff */

struct sv_retry {
	unsigned failures;      /* consecutive failed attempts since the last session */
	unsigned initial_attempts;
	bool ever_established;
};

void sv_retry_init(struct sv_retry *r, unsigned initial_attempts);
/* A session came up (the backoff is reset only if it lasts: see sv_retry_failed). */
void sv_retry_established(struct sv_retry *r);
/* True if err (SV_E_* or -errno; server_code with SV_E_SERVER) can never succeed by
 * trying the same again. */
bool sv_retry_is_permanent(int err, unsigned server_code);
/* An attempt failed: milliseconds until the next one, SV_RETRY_NEVER or
 * SV_RETRY_GIVE_UP. lived_ms: how long the session that just ended had been up (0 if
 * the attempt never got one). rnd: a random 32-bit value for the jitter. */
long sv_retry_failed(struct sv_retry *r, int err, unsigned server_code, uint64_t lived_ms,
	uint32_t rnd);

#endif
