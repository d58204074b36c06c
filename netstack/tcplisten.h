/*
 * TCP listening on the tunnel's addresses (lwIP raw API), for reverse forwards (-R) and
 * SOCKS5 BIND: hosts on the hub's side connect to us.
 *
 * A listener accepts on one port for both families, on every address the netif has now
 * or gets later. Each connection is handed over through ops->on_accept once established,
 * as a struct sv_tcpconn that behaves like one from sv_tcpconn_connect() (tcpconn.h):
 * the acceptor sets its callbacks with sv_tcpconn_set_ops(), reads the peer with
 * sv_tcpconn_peer(), and later closes it with sv_tcpconn_close()/_abort(). A connection
 * that died before it could be handed over, with nothing to read, is dropped silently.
 *
 * Back-pressure: connections accepted by lwIP but not yet handed over count against the
 * backlog together with half-open ones; beyond it new SYNs are ignored (the peer
 * retries). Callbacks run from sv_stack_flush() only, never after sv_tcplisten_close().
 * With nothing listening on a port, lwIP answers a SYN with RST.
 */
#ifndef SV_TCPLISTEN_H
#define SV_TCPLISTEN_H

#include <stdint.h>

#include "netstack/tcpconn.h"

struct sv_tcplisten; /* opaque */

struct sv_tcplisten_ops {
	/* A new established connection, now owned by the callee (taken): it must call
	 * sv_tcpconn_set_ops(c, ...) to hear from it (now or later), or close it. c is
	 * writable at once; on_connected never runs for it. Bytes and a FIN that arrived
	 * before are already queued (sv_tcpconn_pending) and reported after set_ops. */
	void (*on_accept)(void *arg, struct sv_tcpconn *c);
};

#define SV_TCPLISTEN_BACKLOG_DEFAULT 16u
#define SV_TCPLISTEN_BACKLOG_MAX 255u

/* Listen on port (0: an ephemeral port, see sv_tcplisten_port) of every tunnel address,
 * IPv4 and IPv6. backlog 0 = SV_TCPLISTEN_BACKLOG_DEFAULT, capped at
 * SV_TCPLISTEN_BACKLOG_MAX. Works before the lease (the stack must be initialised).
 * ops is borrowed and must outlive the listener. Returns 0, -EADDRINUSE (another
 * listener or connection holds the port), -ENETDOWN (sv_stack_init not run), SV_E_NOMEM
 * or SV_E_INVAL. */
int sv_tcplisten_open(struct sv_tcplisten **out, uint16_t port, unsigned backlog,
	const struct sv_tcplisten_ops *ops, void *arg);
/* The port listened on. */
uint16_t sv_tcplisten_port(const struct sv_tcplisten *l);
/* Stop listening and free; connections not yet handed over are reset, those already
 * handed over are not affected. Accepts NULL. No callback runs after it. */
void sv_tcplisten_close(struct sv_tcplisten *l);

#endif
