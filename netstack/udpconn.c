/*
 * UDP sockets on lwIP's raw API; see udpconn.h.
 *
 * Receive: lwIP's recv callback (inside sv_stack_input) only queues the pbuf with its
 * source; dispatch() (from sv_stack_flush) hands each datagram to the user in order.
 *
 * Invariants:
 *  - rxq is NULL until the first datagram, then a ring of SV_UDP_RXQ_MAX entries;
 *    count <= SV_UDP_RXQ_MAX and bytes (sum of queued tot_len) <= SV_UDP_RXQ_BYTES.
 *  - u->pcb's receive callback argument is u while u lives; close clears it first.
 *  - ops->on_datagram runs only from dispatch(), never after sv_udpconn_close(); a close
 *    from inside it frees u when dispatch() returns.
 */
#define SV_LOG_MODULE "udpconn"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lwip/ip_addr.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "lwip/udp.h"

#include "core/err.h"
#include "core/log.h"
#include "netstack/internal.h"
#include "netstack/udpconn.h"

struct dgram {
	struct pbuf *p; /* payload only (lwIP removed the headers) */
	struct sv_ip src;
	uint16_t port;
};

struct sv_udpconn {
	struct sv_defer defer; /* first: dispatch() recovers u from it */
	struct udp_pcb *pcb;
	const struct sv_udpconn_ops *ops;
	void *arg;
	unsigned id;
	int family;
	uint16_t port;
	struct dgram *rxq;
	unsigned rx_head, rx_count;
	size_t rx_bytes;
	uint64_t dropped;
	bool drop_logged, closed, in_dispatch;
};

/* A reassembled datagram arrives as a pbuf chain; it is made contiguous here for the
 * callback. The loop thread is the only user. */
static uint8_t scratch[0xFFFF];
static unsigned next_id = 1;

static void dispatch(struct sv_defer *d);

static void
rxq_clear(struct sv_udpconn *u)
{
	for (unsigned i = 0; i < u->rx_count; i++)
		pbuf_free(u->rxq[(u->rx_head + i) % SV_UDP_RXQ_MAX].p);
	free(u->rxq);
	u->rxq = NULL;
	u->rx_head = u->rx_count = 0;
	u->rx_bytes = 0;
}

static void
drop(struct sv_udpconn *u, struct pbuf *p, const char *why)
{
	pbuf_free(p);
	u->dropped++;
	if (!u->drop_logged)
		log_debug("udp %u: datagram dropped (%s)", u->id, why);
	u->drop_logged = true; /* once per burst: dispatch() re-arms it */
}

/* lwIP's receive callback (inside sv_stack_input): queue only. We own p. */
static void
on_recv(void *arg, struct udp_pcb *pcb, struct pbuf *p, const ip_addr_t *addr, u16_t port)
{
	struct sv_udpconn *u = arg;

	(void)pcb;
	if (u == NULL || u->closed) {
		pbuf_free(p);
		return;
	}
	if (u->rxq == NULL && (u->rxq = malloc(SV_UDP_RXQ_MAX * sizeof *u->rxq)) == NULL) {
		drop(u, p, "out of memory");
		return;
	}
	if (u->rx_count == SV_UDP_RXQ_MAX || u->rx_bytes + p->tot_len > SV_UDP_RXQ_BYTES) {
		drop(u, p, "receive queue full");
		return;
	}
	struct dgram *d = &u->rxq[(u->rx_head + u->rx_count) % SV_UDP_RXQ_MAX];
	d->p = p;
	sv_ip_from_lwip(addr, &d->src);
	d->port = port;
	u->rx_count++;
	u->rx_bytes += p->tot_len;
	sv_stack_defer(&u->defer, dispatch);
}

static void
udp_free(struct sv_udpconn *u)
{
	sv_stack_undefer(&u->defer);
	rxq_clear(u);
	free(u);
}

/* From sv_stack_flush(): every queued datagram, oldest first. */
static void
dispatch(struct sv_defer *d)
{
	struct sv_udpconn *u = (struct sv_udpconn *)(void *)d;

	u->in_dispatch = true;
	u->drop_logged = false;
	while (!u->closed && u->rx_count > 0) {
		struct dgram g = u->rxq[u->rx_head];
		u->rx_head = (u->rx_head + 1) % SV_UDP_RXQ_MAX;
		u->rx_count--;
		u->rx_bytes -= g.p->tot_len;
		size_t len = g.p->tot_len;
		const uint8_t *data = g.p->payload;
		if (g.p->len != g.p->tot_len) {
			pbuf_copy_partial(g.p, scratch, g.p->tot_len, 0);
			data = scratch;
		}
		u->ops->on_datagram(u->arg, &g.src, g.port, data, len);
		pbuf_free(g.p);
	}
	u->in_dispatch = false;
	if (u->closed)
		udp_free(u);
}

/* see udpconn.h */
int
sv_udpconn_open(struct sv_udpconn **out, int family, uint16_t local_port,
	const struct sv_udpconn_ops *ops, void *arg)
{
	u8_t type;
	const ip_addr_t *any;

	if (out == NULL || ops == NULL || ops->on_datagram == NULL)
		return SV_E_INVAL;
	switch (family) {
	case 0: type = IPADDR_TYPE_ANY; any = IP_ANY_TYPE; break;
	case 4: type = IPADDR_TYPE_V4; any = IP4_ADDR_ANY; break;
	case 6: type = IPADDR_TYPE_V6; any = IP6_ADDR_ANY; break;
	default: return SV_E_INVAL;
	}
	if (netif_default == NULL)
		return -ENETDOWN; /* lwIP not initialised */
	struct sv_udpconn *u = calloc(1, sizeof *u);
	if (u == NULL)
		return SV_E_NOMEM;
	struct udp_pcb *pcb = udp_new_ip_type(type);
	if (pcb == NULL) {
		free(u);
		return SV_E_NOMEM;
	}
	err_t e = udp_bind(pcb, any, local_port);
	if (e != ERR_OK) {
		udp_remove(pcb);
		free(u);
		return e == ERR_USE ? -EADDRINUSE : SV_E_NOMEM; /* ERR_USE or no free port */
	}
	u->pcb = pcb;
	u->ops = ops;
	u->arg = arg;
	u->id = next_id++;
	u->family = family;
	u->port = pcb->local_port;
	udp_recv(pcb, on_recv, u);
	log_debug("udp %u: open on port %u", u->id, (unsigned)u->port);
	*out = u;
	return 0;
}

static int
map_send_err(err_t e)
{
	switch (e) {
	case ERR_RTE:
		return -ENETUNREACH;
	case ERR_MEM:
	case ERR_BUF:
		return SV_E_NOMEM;
	case ERR_VAL:
		return -EAFNOSUPPORT;
	default:
		return SV_E_INTERNAL;
	}
}

/* see udpconn.h */
int
sv_udpconn_sendto(struct sv_udpconn *u, const struct sv_ip *dst, uint16_t port,
	const void *data, size_t len)
{
	ip_addr_t ip;

	if (u == NULL || u->closed || dst == NULL || port == 0 || (data == NULL && len > 0) ||
		(dst->family != 4 && dst->family != 6))
		return SV_E_INVAL;
	if (len > SV_UDP_MAX_PAYLOAD)
		return -EMSGSIZE;
	if (u->family != 0 && dst->family != u->family)
		return -EAFNOSUPPORT;
	sv_ip_to_lwip(dst, &ip);
	if (!sv_stack_can_reach(&ip))
		return -ENETUNREACH;
	struct pbuf *p = pbuf_alloc(PBUF_TRANSPORT, (u16_t)len, PBUF_RAM);
	if (p == NULL)
		return SV_E_NOMEM;
	if (len > 0)
		memcpy(p->payload, data, len); /* PBUF_RAM: one contiguous buffer */
	err_t e = udp_sendto(u->pcb, p, &ip, port);
	pbuf_free(p);
	return e == ERR_OK ? 0 : map_send_err(e);
}

/* see udpconn.h */
uint16_t
sv_udpconn_port(const struct sv_udpconn *u)
{
	return u->port;
}

/* see udpconn.h */
uint64_t
sv_udpconn_dropped(const struct sv_udpconn *u)
{
	return u->dropped;
}

/* see udpconn.h */
void
sv_udpconn_close(struct sv_udpconn *u)
{
	if (u == NULL || u->closed)
		return;
	u->closed = true;
	if (u->pcb) {
		udp_recv(u->pcb, NULL, NULL);
		udp_remove(u->pcb);
		u->pcb = NULL;
	}
	rxq_clear(u);
	log_debug("udp %u: closed", u->id);
	if (!u->in_dispatch)
		udp_free(u);
}
