/*
 * SOCKS5 UDP ASSOCIATE (RFC 1928 section 7): one association per control connection.
 *
 * A local uv_udp socket (the relay; its address is BND.ADDR/BND.PORT of the reply) takes
 * the client's datagrams, each RSV FRAG ATYP DST.ADDR DST.PORT DATA. Only datagrams from
 * the client's IP are accepted, and from one port: the one the client declared in its
 * request or, if it declared none, the source of its first datagram. Fragments (FRAG != 0)
 * are dropped as the RFC allows. Destinations that are names are resolved through the
 * tunnel's DNS (netstack/resolve.h) while the datagram waits in a bounded queue; every
 * datagram leaves through one tunnel UDP socket (netstack/udpconn.h, both families).
 * Answers come back to the client wrapped in the header naming their source.
 *
 * Everything is bounded and lossy, as UDP is: a datagram that cannot be queued or sent is
 * dropped and counted (logged at debug, with the totals when the association ends). The
 * owner (socks/fe_socks.c) ends the association when the control connection closes.
 */
#ifndef SV_SOCKS5_UDP_H
#define SV_SOCKS5_UDP_H

#include <stdint.h>

#include <uv.h>

#include "core/addr.h"

struct sv_s5udp; /* opaque */

/* Datagrams waiting for a name lookup, per association. */
#define SV_S5UDP_PENDING_MAX 32u
#define SV_S5UDP_PENDING_BYTES (256u * 1024u)

/* Opens the relay socket on local's address (port 0: ephemeral) for the client at client
 * (its TCP peer). declared/declared_port: the address the client said it will send from
 * (ATYP IP only; all-zero address or port 0 = not known yet). id names it in logs (the
 * control conn's id). bound gets the relay's address and port for the reply.
 * 0, SV_E_NOMEM, SV_E_INVAL, or a negative errno from libuv or the tunnel's UDP socket
 * (-ENETDOWN before the stack is up). */
int sv_s5udp_open(struct sv_s5udp **out, uv_loop_t *loop,
	const struct sockaddr_storage *local, const struct sockaddr_storage *client,
	const struct sv_ip *declared, uint16_t declared_port, unsigned id,
	struct sv_ip *bound, uint16_t *bound_port);

/* Datagrams dropped so far (fragments, malformed, from others, queue full, send errors). */
uint64_t sv_s5udp_dropped(const struct sv_s5udp *a);

/* Ends the association: no datagram is relayed after it; the memory is freed from the
 * socket's close callback. Accepts NULL. */
void sv_s5udp_close(struct sv_s5udp *a);

#endif
