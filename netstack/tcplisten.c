/*
 * TCP listeners on lwIP's raw API; see tcplisten.h.
 *
 * lwIP calls on_accept() from inside tcp_input once a handshake completes. There the new
 * pcb is wrapped at once in a struct sv_tcpconn (sv_tcpconn_wrap_accepted: our callbacks
 * are on the pcb before lwIP passes it any data), queued on the listener, and the
 * listener's deferred entry runs ops->on_accept from sv_stack_flush().
 *
 * Invariants:
 *  - pending[0..npending) are accepted connections not yet handed over, oldest first; each
 *    still counts against lwIP's listen backlog (tcp_backlog_delayed) until it is handed
 *    over or dropped, so npending <= backlog = cap and new SYNs wait while we are behind.
 *  - l->lpcb is the pcb tcp_listen_with_backlog returned (it freed the one we bound); its
 *    callback argument is l for as long as l lives.
 *  - ops->on_accept runs only from dispatch() and never after sv_tcplisten_close(); a close
 *    inside it frees l when dispatch() returns.
 */
#define SV_LOG_MODULE "tcplisten"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lwip/ip.h"
#include "lwip/netif.h"
#include "lwip/tcp.h"

#include "core/err.h"
#include "core/log.h"
#include "netstack/internal.h"
#include "netstack/ports.h"
#include "netstack/tcpconn_internal.h"
#include "netstack/tcplisten.h"

struct sv_tcplisten {
	struct sv_defer defer; /* first: dispatch() recovers l from it */
	struct tcp_pcb *lpcb;
	const struct sv_tcplisten_ops *ops;
	void *arg;
	unsigned id;
	uint16_t port;
	struct sv_tcpconn **pending;
	unsigned npending, cap;
	bool closed, in_dispatch;
};

static unsigned next_id = 1;

static void dispatch(struct sv_defer *d);

/* lwIP's accept callback: never calls the user. A non-ERR_OK return makes lwIP reset
 * and free newpcb (tcp_in.c, SYN_RCVD). */
static err_t
on_accept(void *arg, struct tcp_pcb *newpcb, err_t err)
{
	struct sv_tcplisten *l = arg;

	if (newpcb == NULL || err != ERR_OK) {
		/* tcp_listen_input could not allocate a pcb for a SYN */
		log_debug("listen: lwIP could not accept (error %d)", (int)err);
		return ERR_MEM;
	}
	if (l == NULL || l->closed || l->npending >= l->cap) {
		log_debug("listen: connection dropped (listener closed or queue full)");
		return ERR_MEM;
	}
	struct sv_tcpconn *c = sv_tcpconn_wrap_accepted(newpcb);
	if (c == NULL) {
		log_warn("listen %u: out of memory, connection reset", l->id);
		return ERR_MEM;
	}
	tcp_backlog_delayed(newpcb); /* counts until handed over */
	l->pending[l->npending++] = c;
	sv_stack_defer(&l->defer, dispatch);
	return ERR_OK;
}

static struct sv_tcpconn *
pop_pending(struct sv_tcplisten *l)
{
	struct sv_tcpconn *c = l->pending[0];
	l->npending--;
	memmove(l->pending, l->pending + 1, l->npending * sizeof *l->pending);
	return c;
}

static void
listen_free(struct sv_tcplisten *l)
{
	sv_stack_undefer(&l->defer);
	free(l->pending);
	free(l);
}

/* From sv_stack_flush(): hand the accepted connections over, oldest first. */
static void
dispatch(struct sv_defer *d)
{
	struct sv_tcplisten *l = (struct sv_tcplisten *)(void *)d;

	l->in_dispatch = true;
	while (!l->closed && l->npending > 0) {
		struct sv_tcpconn *c = pop_pending(l);
		struct tcp_pcb *pcb = sv_tcpconn_pcb(c);
		if (pcb)
			tcp_backlog_accepted(pcb);
		if (sv_tcpconn_is_gone(c)) {
			log_debug("listen %u: connection ended before it was accepted", l->id);
			sv_tcpconn_close(c);
			continue;
		}
		l->ops->on_accept(l->arg, c);
	}
	l->in_dispatch = false;
	if (l->closed)
		listen_free(l);
}

static int
map_bind_err(err_t e)
{
	switch (e) {
	case ERR_USE:
		return -EADDRINUSE;
	case ERR_BUF: /* no free ephemeral port */
		return SV_E_NOPORT;
	case ERR_MEM:
		return SV_E_NOMEM;
	default:
		return SV_E_INTERNAL;
	}
}

/* see tcplisten.h */
int
sv_tcplisten_open(struct sv_tcplisten **out, uint16_t port, unsigned backlog,
	const struct sv_tcplisten_ops *ops, void *arg)
{
	if (out == NULL || ops == NULL || ops->on_accept == NULL)
		return SV_E_INVAL;
	if (netif_default == NULL)
		return -ENETDOWN; /* lwIP not initialised */
	if (backlog == 0)
		backlog = SV_TCPLISTEN_BACKLOG_DEFAULT;
	if (backlog > SV_TCPLISTEN_BACKLOG_MAX)
		backlog = SV_TCPLISTEN_BACKLOG_MAX;

	struct sv_tcplisten *l = calloc(1, sizeof *l);
	if (l == NULL)
		return SV_E_NOMEM;
	l->pending = calloc(backlog, sizeof *l->pending);
	struct tcp_pcb *pcb = l->pending ? tcp_new_ip_type(IPADDR_TYPE_ANY) : NULL;
	if (pcb == NULL) {
		listen_free(l);
		return SV_E_NOMEM;
	}
	/* Rebinding must not fail while connections accepted earlier sit in TIME_WAIT;
	 * accepted pcbs inherit both options (SOF_INHERITED). */
	ip_set_option(pcb, SOF_REUSEADDR);
	ip_set_option(pcb, SOF_KEEPALIVE);
	err_t e = tcp_bind(pcb, IP_ANY_TYPE, port);
	struct tcp_pcb *lpcb = NULL;
	if (e == ERR_OK)
		lpcb = tcp_listen_with_backlog_and_err(pcb, (u8_t)backlog, &e);
	if (lpcb == NULL) {
		tcp_close(pcb); /* still ours when listening failed; CLOSED: just freed */
		listen_free(l);
		return map_bind_err(e);
	}
	l->lpcb = lpcb; /* pcb was freed by tcp_listen_with_backlog */
	l->ops = ops;
	l->arg = arg;
	l->id = next_id++;
	l->cap = backlog;
	l->port = lpcb->local_port;
	sv_ports_mark(l->port);
	tcp_arg(lpcb, l);
	tcp_accept(lpcb, on_accept);
	log_debug("listen %u: port %u, backlog %u", l->id, (unsigned)l->port, backlog);
	*out = l;
	return 0;
}

/* see tcplisten.h */
uint16_t
sv_tcplisten_port(const struct sv_tcplisten *l)
{
	return l->port;
}

/* see tcplisten.h */
void
sv_tcplisten_close(struct sv_tcplisten *l)
{
	if (l == NULL || l->closed)
		return;
	l->closed = true;
	if (l->lpcb) {
		tcp_arg(l->lpcb, NULL);
		tcp_close(l->lpcb); /* a LISTEN pcb is freed at once; half-open ones lose it */
		l->lpcb = NULL;
	}
	while (l->npending > 0)
		sv_tcpconn_abort(pop_pending(l));
	log_debug("listen %u: closed", l->id);
	if (!l->in_dispatch)
		listen_free(l);
}
