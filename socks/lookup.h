/*
 * Name lookup for the front-ends: through the tunnel's DNS (netstack/resolve.h), or on
 * this machine (uv_getaddrinfo on the loop's thread pool) for the names the user listed
 * with --resolve-local (sv_resolve_is_local). Either way the address is then connected
 * through the tunnel: a host-only name (/etc/hosts) can point at the remote network.
 *
 * The callback has sv_resolve_cb's contract: err 0 with ip, or -ENOENT (no such name),
 * -ETIMEDOUT, -ENETUNREACH, SV_E_NOMEM; it never runs synchronously and never after
 * sv_lookup_cancel(). Bounding the time is the caller's business (its connect timer).
 */
#ifndef SV_LOOKUP_H
#define SV_LOOKUP_H

#include <stdbool.h>

#include <uv.h>

#include "netstack/resolve.h"

struct sv_lookup; /* opaque request */

/* Looks name (borrowed for the call) up; who names the requester in logs ("conn 3",
 * "udp 2"), copied. The resolver chosen is logged at debug. 0 and *out, or an error
 * (SV_E_NOMEM, SV_E_INVAL for a name that is not one, or a resolve.h error); the
 * callback then never runs. family: 0, 4 or 6 as for sv_resolve. */
int sv_lookup(struct sv_lookup **out, uv_loop_t *loop, const char *name, int family,
	const char *who, sv_resolve_cb *cb, void *arg);
/* Accepts NULL. */
void sv_lookup_cancel(struct sv_lookup *l);

#endif
