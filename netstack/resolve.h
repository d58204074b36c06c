/*
 * Host names through the tunnel's DNS servers (lwIP's DNS client, servers from DHCP).
 * Literal addresses are answered without a query. The callback never runs synchronously
 * and never after sv_resolve_cancel().
 */
#ifndef SV_RESOLVE_H
#define SV_RESOLVE_H

#include "core/addr.h"

struct sv_resolve; /* opaque request */

/* err: 0, -ENOENT (no such name), -ETIMEDOUT, -ENETUNREACH (no DNS server yet). ip is
 * borrowed for the call. */
typedef void sv_resolve_cb(void *arg, int err, const struct sv_ip *ip);

/* family: 0 = IPv4 first then IPv6, 4 or 6. */
int sv_resolve(struct sv_resolve **out, const char *name, int family, sv_resolve_cb *cb,
	void *arg);
void sv_resolve_cancel(struct sv_resolve *r); /* accepts NULL */

#endif
