/*
 * Host names through the tunnel's DNS servers (lwIP's DNS client, servers from DHCP).
 * Literal addresses are answered without a query. The callback never runs synchronously
 * and never after sv_resolve_cancel().
 *
 * Servers: all those DHCP gave (up to SV_STACK_MAX_DNS), or sv_resolve_set_servers().
 * Each is asked at 0, 1 and 2 s before the next one is tried; an error answer moves to
 * the next at once. Search: a name without a dot is tried with each search domain of
 * the lease appended (DHCP option 119, else option 15), then as it is; a trailing dot
 * makes a name absolute. Cache: lwIP's table keeps answers for their TTL (seconds,
 * capped at a week); a cached name is answered without a query. Negative answers are
 * not cached.
 */
#ifndef SV_RESOLVE_H
#define SV_RESOLVE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/addr.h"

struct sv_resolve; /* opaque request */

/* err: 0, -ENOENT (no such name), -ETIMEDOUT, -ENETUNREACH (no DNS server yet). ip is
 * borrowed for the call. */
typedef void sv_resolve_cb(void *arg, int err, const struct sv_ip *ip);

/* family: 0 = IPv4 first then IPv6, 4 or 6. */
int sv_resolve(struct sv_resolve **out, const char *name, int family, sv_resolve_cb *cb,
	void *arg);
void sv_resolve_cancel(struct sv_resolve *r); /* accepts NULL */

/* Use these DNS servers (borrowed, copied; at most SV_STACK_MAX_DNS) instead of those
 * DHCP gives, from the next lookup on; n = 0 goes back to DHCP's. */
int sv_resolve_set_servers(const struct sv_ip *servers, size_t n);

/* Names that must resolve on the host, not through the tunnel (--resolve-local).
 * Patterns (borrowed, copied), case-insensitive, trailing dots ignored: "name" matches
 * that name exactly; "*.domain" and ".domain" match every name under domain (not
 * domain itself); "*" matches every name. Replaces the previous list; n = 0 clears it;
 * SV_E_INVAL (the list is then kept) for a pattern that is none of these.
 * sv_resolve() does not consult the list: the caller asks sv_resolve_is_local() first
 * and uses the host's resolver (socks/lookup.h) for those. */
int sv_resolve_set_local(const char *const *patterns, size_t n);
bool sv_resolve_is_local(const char *name);
/* Is p a pattern sv_resolve_set_local accepts (for the configuration's checks)? */
bool sv_resolve_local_pattern_is_valid(const char *p);

#endif
