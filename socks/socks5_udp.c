/*
 * SOCKS5 UDP ASSOCIATE relay: see socks5_udp.h.
 *
 * Client -> tunnel: on_recv checks the source, parses the header (socks5.c), then sends
 * at once (address) or queues the datagram behind a name lookup (pending list, bounded
 * in count and bytes). Tunnel -> client: on_tunnel wraps the datagram and tries one
 * uv_udp_try_send; when the socket would block, the datagram is dropped.
 *
 * Lifetime: sv_s5udp_close cancels the lookups, frees the queue and closes the tunnel
 * socket synchronously (none of their callbacks runs after), then uv_close()s the relay
 * socket; the object is freed in its close callback.
 */
#define SV_LOG_MODULE "socks"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "netstack/udpconn.h"
#include "socks/lookup.h"
#include "socks/socks5.h"
#include "socks/socks5_udp.h"

/* Receive buffer: the largest UDP payload over IPv6 loopback; bigger ones arrive cut
 * (UV_UDP_PARTIAL) and are dropped. */
#define RECV_MAX 65536u
#define SEND_MAX (SV_SOCKS5_UDP_HDR_IP_MAX + SV_UDP_MAX_PAYLOAD)

struct pend {
	struct pend *prev, *next;
	struct sv_s5udp *a;
	struct sv_lookup *res;
	uint16_t port;
	size_t len;
	uint8_t data[];
};

struct sv_s5udp {
	uv_udp_t udp;
	unsigned id;
	bool closing;
	struct sv_udpconn *tun;
	struct sockaddr_storage client; /* port 0 until known */
	bool client_known;
	struct pend *pending;
	size_t n_pending, pending_bytes;
	uint64_t up, down, dropped;
	uint8_t *rbuf;  /* RECV_MAX */
	bool rbuf_busy;
	uint8_t *sbuf;  /* SEND_MAX, on demand */
};

/* --- addresses ----------------------------------------------------------------------- */

static bool
ss_to_ip(const struct sockaddr_storage *ss, struct sv_ip *ip, uint16_t *port)
{
	memset(ip, 0, sizeof *ip);
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
		ip->family = 4;
		memcpy(ip->b, &in->sin_addr, 4);
		*port = ntohs(in->sin_port);
		return true;
	}
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
		ip->family = 6;
		memcpy(ip->b, &in6->sin6_addr, 16);
		*port = ntohs(in6->sin6_port);
		return true;
	}
	return false;
}

static void
ss_set(struct sockaddr_storage *ss, const struct sv_ip *ip, uint16_t port)
{
	memset(ss, 0, sizeof *ss);
	if (ip->family == 6) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
		in6->sin6_family = AF_INET6;
		memcpy(&in6->sin6_addr, ip->b, 16);
		in6->sin6_port = htons(port);
	} else {
		struct sockaddr_in *in = (struct sockaddr_in *)ss;
		in->sin_family = AF_INET;
		memcpy(&in->sin_addr, ip->b, 4);
		in->sin_port = htons(port);
	}
}

static bool
ip_is_zero(const struct sv_ip *ip)
{
	static const uint8_t zero[16];

	return ip->family != 4 && ip->family != 6 ? true :
		memcmp(ip->b, zero, ip->family == 4 ? 4 : 16) == 0;
}

static bool
ip_equal(const struct sv_ip *x, const struct sv_ip *y)
{
	return x->family == y->family && memcmp(x->b, y->b, x->family == 4 ? 4 : 16) == 0;
}

/* --- client -> tunnel ---------------------------------------------------------------- */

static void
drop(struct sv_s5udp *a, const char *why)
{
	a->dropped++;
	log_debug("udp %u: datagram dropped: %s", a->id, why);
}

static void
send_tunnel(struct sv_s5udp *a, const struct sv_ip *dst, uint16_t port, const uint8_t *p,
	size_t n)
{
	int e = sv_udpconn_sendto(a->tun, dst, port, p, n);

	if (e != 0) {
		a->dropped++;
		log_debug_r(e, "udp %u: datagram dropped: send", a->id);
		return;
	}
	a->up += n;
}

static void
pend_free(struct sv_s5udp *a, struct pend *p)
{
	if (p->prev != NULL)
		p->prev->next = p->next;
	else
		a->pending = p->next;
	if (p->next != NULL)
		p->next->prev = p->prev;
	a->n_pending--;
	a->pending_bytes -= p->len;
	free(p);
}

static void
on_resolved(void *arg, int err, const struct sv_ip *ip)
{
	struct pend *p = arg;
	struct sv_s5udp *a = p->a;

	p->res = NULL;
	if (err != 0) {
		a->dropped++;
		log_debug_r(err, "udp %u: datagram dropped: resolve", a->id);
	} else {
		send_tunnel(a, ip, p->port, p->data, p->len);
	}
	pend_free(a, p);
}

static void
queue_resolve(struct sv_s5udp *a, const struct sv_socks5_udp_hdr *h, const uint8_t *data,
	size_t n)
{
	struct pend *p;
	char who[32];
	int e;

	if (a->n_pending >= SV_S5UDP_PENDING_MAX ||
		n > SV_S5UDP_PENDING_BYTES - a->pending_bytes) {
		drop(a, "lookup queue full");
		return;
	}
	if ((p = malloc(sizeof *p + n)) == NULL) {
		drop(a, "out of memory");
		return;
	}
	p->a = a;
	p->port = h->port;
	p->len = n;
	memcpy(p->data, data, n);
	p->prev = NULL;
	p->next = a->pending;
	if (a->pending != NULL)
		a->pending->prev = p;
	a->pending = p;
	a->n_pending++;
	a->pending_bytes += n;
	p->res = NULL;
	snprintf(who, sizeof who, "udp %u", a->id);
	if ((e = sv_lookup(&p->res, a->udp.loop, h->host, 0, who, on_resolved, p)) != 0) {
		a->dropped++;
		log_debug_r(e, "udp %u: datagram dropped: resolve %s", a->id, h->host);
		pend_free(a, p);
	}
}

/* Accepts a datagram's source: the client's IP, and its port once known. */
static bool
from_client(struct sv_s5udp *a, const struct sockaddr *from)
{
	struct sv_ip want, got;
	uint16_t wport, gport;

	if (from == NULL || !ss_to_ip(&a->client, &want, &wport) ||
		!ss_to_ip((const struct sockaddr_storage *)(const void *)from, &got, &gport))
		return false;
	if (!ip_equal(&want, &got))
		return false;
	if (a->client_known)
		return wport == gport;
	ss_set(&a->client, &got, gport);
	a->client_known = true;
	log_debug("udp %u: the client sends from port %u", a->id, (unsigned)gport);
	return true;
}

static void
on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct sv_s5udp *a = h->data;

	(void)suggested;
	*buf = uv_buf_init(NULL, 0);
	if (a->rbuf_busy)
		return;
	a->rbuf_busy = true;
	*buf = uv_buf_init((char *)a->rbuf, RECV_MAX);
}

static void
handle_datagram(struct sv_s5udp *a, const uint8_t *p, size_t n)
{
	struct sv_socks5_udp_hdr h;
	struct sv_rd r = sv_rd_make(p, n);
	int e = sv_socks5_parse_udp(&r, &h);

	if (e == -EOPNOTSUPP) {
		drop(a, "fragment (FRAG != 0)");
		return;
	}
	if (e != 0) {
		drop(a, "malformed header");
		return;
	}
	if (h.port == 0) {
		drop(a, "port 0");
		return;
	}
	if (r.n > SV_UDP_MAX_PAYLOAD) {
		drop(a, "too large");
		return;
	}
	if (h.atyp == SV_SOCKS5_ATYP_DOMAIN)
		queue_resolve(a, &h, r.p, r.n);
	else
		send_tunnel(a, &h.ip, h.port, r.p, r.n);
}

static void
on_recv(uv_udp_t *u, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *from,
	unsigned flags)
{
	struct sv_s5udp *a = u->data;

	(void)buf;
	a->rbuf_busy = false;
	if (a->closing || nread < 0 || (nread == 0 && from == NULL))
		return;
	if (!from_client(a, from)) {
		drop(a, "not from the client");
		return;
	}
	if ((flags & UV_UDP_PARTIAL) != 0) {
		drop(a, "too large");
		return;
	}
	handle_datagram(a, a->rbuf, (size_t)nread);
}

/* --- tunnel -> client ---------------------------------------------------------------- */

static void
on_tunnel(void *arg, const struct sv_ip *src, uint16_t port, const uint8_t *data,
	size_t len)
{
	struct sv_s5udp *a = arg;
	uv_buf_t b;
	size_t hl;
	int e;

	if (a->closing)
		return;
	if (!a->client_known) {
		drop(a, "answer before the client's first datagram");
		return;
	}
	if (len > SEND_MAX - SV_SOCKS5_UDP_HDR_IP_MAX) {
		drop(a, "answer too large");
		return;
	}
	if (a->sbuf == NULL && (a->sbuf = malloc(SEND_MAX)) == NULL) {
		drop(a, "out of memory");
		return;
	}
	hl = sv_socks5_build_udp_hdr(a->sbuf, src, port);
	memcpy(a->sbuf + hl, data, len);
	b = uv_buf_init((char *)a->sbuf, (unsigned)(hl + len));
	e = uv_udp_try_send(&a->udp, &b, 1, (const struct sockaddr *)&a->client);
	if (e < 0) {
		a->dropped++;
		log_debug_r(e, "udp %u: answer dropped", a->id);
		return;
	}
	a->down += len;
}

static const struct sv_udpconn_ops tun_ops = {
	.on_datagram = on_tunnel,
};

/* --- lifetime ------------------------------------------------------------------------ */

static void
free_assoc(struct sv_s5udp *a)
{
	free(a->rbuf);
	free(a->sbuf);
	free(a);
}

static void
on_closed(uv_handle_t *h)
{
	free_assoc(h->data);
}

static int
bind_relay(struct sv_s5udp *a, const struct sockaddr_storage *local, struct sv_ip *bound,
	uint16_t *bound_port)
{
	struct sockaddr_storage ss;
	struct sv_ip ip;
	uint16_t port;
	int len = sizeof ss;
	int e;

	if (!ss_to_ip(local, &ip, &port))
		return SV_E_INVAL;
	ss_set(&ss, &ip, 0);
	if ((e = uv_udp_bind(&a->udp, (const struct sockaddr *)&ss, 0)) != 0)
		return e;
	if ((e = uv_udp_getsockname(&a->udp, (struct sockaddr *)&ss, &len)) != 0)
		return e;
	if (!ss_to_ip(&ss, bound, bound_port))
		return SV_E_INVAL;
	return uv_udp_recv_start(&a->udp, on_alloc, on_recv);
}

/* see socks5_udp.h */
int
sv_s5udp_open(struct sv_s5udp **out, uv_loop_t *loop,
	const struct sockaddr_storage *local, const struct sockaddr_storage *client,
	const struct sv_ip *declared, uint16_t declared_port, unsigned id,
	struct sv_ip *bound, uint16_t *bound_port)
{
	struct sv_s5udp *a = calloc(1, sizeof *a);
	struct sv_ip cip;
	uint16_t cport;
	int e;

	if (a == NULL || (a->rbuf = malloc(RECV_MAX)) == NULL) {
		free(a);
		return SV_E_NOMEM;
	}
	if (!ss_to_ip(client, &cip, &cport)) {
		free_assoc(a);
		return SV_E_INVAL;
	}
	a->id = id;
	/* The client's IP always; its port once it declared one (an address it declares
	 * other than its own IP is not believed: only the control connection's IP is). */
	ss_set(&a->client, &cip, 0);
	if (declared != NULL && declared_port != 0 &&
		(ip_is_zero(declared) || ip_equal(declared, &cip))) {
		ss_set(&a->client, &cip, declared_port);
		a->client_known = true;
	}
	if ((e = sv_udpconn_open(&a->tun, 0, 0, &tun_ops, a)) != 0) {
		free_assoc(a);
		return e;
	}
	uv_udp_init(loop, &a->udp); /* cannot fail on a valid loop */
	a->udp.data = a;
	if ((e = bind_relay(a, local, bound, bound_port)) != 0) {
		sv_udpconn_close(a->tun);
		a->tun = NULL;
		a->closing = true;
		uv_close((uv_handle_t *)&a->udp, on_closed);
		return e;
	}
	*out = a;
	return 0;
}

/* see socks5_udp.h */
uint64_t
sv_s5udp_dropped(const struct sv_s5udp *a)
{
	return a->dropped;
}

/* see socks5_udp.h */
void
sv_s5udp_close(struct sv_s5udp *a)
{
	if (a == NULL || a->closing)
		return;
	a->closing = true;
	log_debug("udp %u: association ended (%llu bytes up, %llu down, %llu datagrams "
		"dropped)", a->id, (unsigned long long)a->up, (unsigned long long)a->down,
		(unsigned long long)a->dropped);
	while (a->pending != NULL) {
		sv_lookup_cancel(a->pending->res);
		pend_free(a, a->pending);
	}
	sv_udpconn_close(a->tun);
	a->tun = NULL;
	uv_udp_recv_stop(&a->udp);
	uv_close((uv_handle_t *)&a->udp, on_closed);
}
