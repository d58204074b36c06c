/*
 * UDP sockets on the tunnel (lwIP raw API), for SOCKS5 UDP ASSOCIATE and udp forwards
 * (-L udp:...). One object is one lwIP UDP pcb bound to a local port on every tunnel
 * address.
 *
 * Sending copies the datagram into lwIP, which fragments what exceeds the MTU.
 * Receiving: datagrams (reassembled by lwIP) wait in a small bounded queue and are
 * delivered through ops->on_datagram from sv_stack_flush(), never synchronously and never
 * after sv_udpconn_close(). When the queue is full (a burst the loop has not flushed yet)
 * further datagrams are dropped and counted, as UDP allows.
 */
#ifndef SV_UDPCONN_H
#define SV_UDPCONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/addr.h"

struct sv_udpconn; /* opaque */

struct sv_udpconn_ops {
	/* One datagram from src:port. src and data are borrowed for the call. len may be 0.
	 * The callee may call sv_udpconn_sendto() or sv_udpconn_close() on u. */
	void (*on_datagram)(void *arg, const struct sv_ip *src, uint16_t port,
		const uint8_t *data, size_t len);
};

/* Largest payload accepted by sv_udpconn_sendto (65535 - 20 - 8, for both families). */
#define SV_UDP_MAX_PAYLOAD 65507u
/* Receive queue ceiling per socket: datagrams and payload bytes. */
#define SV_UDP_RXQ_MAX 64u
#define SV_UDP_RXQ_BYTES (256u * 1024u)

/* Open a UDP socket. family: 4, 6, or 0 for both (one socket sends to and receives from
 * IPv4 and IPv6 peers). local_port 0 picks an ephemeral port (see sv_udpconn_port).
 * Works before the lease (the stack must be initialised). ops is borrowed and must
 * outlive the socket. Returns 0, -EADDRINUSE, -ENETDOWN (sv_stack_init not run),
 * SV_E_NOMEM or SV_E_INVAL. */
int sv_udpconn_open(struct sv_udpconn **out, int family, uint16_t local_port,
	const struct sv_udpconn_ops *ops, void *arg);

/* Send one datagram of len bytes (copied; len 0 allowed) to dst:port. Returns 0 when lwIP
 * took it (delivery is not guaranteed: an unanswered ARP, for one, drops it), or
 * -EMSGSIZE (len > SV_UDP_MAX_PAYLOAD), -EAFNOSUPPORT (dst's family is not the
 * socket's), -ENETUNREACH (no address of that family yet, or no route), SV_E_NOMEM,
 * SV_E_INVAL (port 0 or a bad address). */
int sv_udpconn_sendto(struct sv_udpconn *u, const struct sv_ip *dst, uint16_t port,
	const void *data, size_t len);

/* The local port the socket is bound to. */
uint16_t sv_udpconn_port(const struct sv_udpconn *u);

/* Datagrams dropped so far because the receive queue was full. */
uint64_t sv_udpconn_dropped(const struct sv_udpconn *u);

/* Close and free; queued datagrams are discarded. Accepts NULL. */
void sv_udpconn_close(struct sv_udpconn *u);

#endif
