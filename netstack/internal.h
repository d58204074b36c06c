/*
 * Shared between the netstack/ files (stack.c, tcpconn.c, resolve.c); not for socks/.
 *
 * Deferred calls: every user callback of netstack/ is delivered from sv_stack_flush(),
 * never from inside lwIP and never synchronously from an API call. An object that has
 * something to report embeds a struct sv_defer and queues it; sv_stack_flush() pops each
 * entry and calls its function once. The function may free the object (the entry is
 * already off the queue) and may queue entries again (they run in the same flush).
 */
#ifndef SV_NETSTACK_INTERNAL_H
#define SV_NETSTACK_INTERNAL_H

#include <stdbool.h>

#include "core/addr.h"
#include "lwip/ip_addr.h"

struct sv_defer;
typedef void sv_defer_fn(struct sv_defer *d);

struct sv_defer {
	struct sv_defer *prev, *next;
	sv_defer_fn *fn;
	bool queued;
};

/* Queue d (no-op if already queued); fn runs from the next sv_stack_flush(). */
void sv_stack_defer(struct sv_defer *d, sv_defer_fn *fn);
/* Take d off the queue if it is on it. */
void sv_stack_undefer(struct sv_defer *d);

/* Runs tcp_output for the connections written since the last call (tcpconn.c). */
void sv_tcpconn_flush_output(void);

/* True once sv_stack_init() has run. */
bool sv_stack_is_up(void);
/* True when the netif has a usable source address for dst (-ENETUNREACH otherwise). */
bool sv_stack_can_reach(const ip_addr_t *dst);

/* Address conversions between our type and lwIP's. */
void sv_ip_to_lwip(const struct sv_ip *in, ip_addr_t *out);
void sv_ip_from_lwip(const ip_addr_t *in, struct sv_ip *out);

#endif
