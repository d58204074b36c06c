/*
 * The lwIP side of one proxied TCP connection (raw API), for the front-ends in socks/.
 *
 * Receive path (tunnel -> local client): segments stay queued here as pbufs until the
 * front-end says they reached the local socket (sv_tcpconn_consume); only then is the
 * window reopened with tcp_recved, within a global memory budget (below). So a slow local
 * reader slows the remote sender instead of growing memory. sv_tcpconn_peek() exposes the queued bytes as iovecs without copying.
 *
 * Send path (local client -> tunnel): sv_tcpconn_write() copies as much as lwIP's send
 * buffer takes and returns that count; when it takes less than offered, the front-end
 * stops reading its socket until ops->on_writable.
 *
 * Ending: sv_tcpconn_shutdown() sends FIN after queued data (half-close); the remote's FIN
 * arrives as ops->on_eof once all data before it has been consumed.
 * sv_tcpconn_close() ends it (FIN if all received data was consumed, else RST) and frees
 * the object; no callback runs after it. ops->on_error reports a connection that ended
 * on its own (reset, timeout, abort); the object is then already dead: do not call
 * anything on it except sv_tcpconn_close() (which just frees it).
 *
 * Connections also come from a listener (netstack/tcplisten.h): those arrive established,
 * never see on_connected, and have no ops until the acceptor calls sv_tcpconn_set_ops();
 * events that happen before then wait and are delivered after it. Otherwise they behave
 * exactly like connections from sv_tcpconn_connect().
 */
#ifndef SV_TCPCONN_H
#define SV_TCPCONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/addr.h"

struct sv_tcpconn; /* opaque */

struct sv_iov {
	const void *base;
	size_t len;
};

struct sv_tcpconn_ops {
	void (*on_connected)(void *arg);
	/* New received bytes are available through sv_tcpconn_peek. */
	void (*on_readable)(void *arg);
	/* The send buffer has room again. */
	void (*on_writable)(void *arg);
	/* The remote sent FIN and every byte before it has been consumed. */
	void (*on_eof)(void *arg);
	/* Failed or ended abnormally. err: -ECONNREFUSED (RST during connect), -ECONNRESET,
	 * -ETIMEDOUT (connect timeout or retransmissions), -EHOSTUNREACH, -ENETUNREACH,
	 * -ECONNABORTED, SV_E_NOMEM. */
	void (*on_error)(void *arg, int err);
};

/* Start connecting; ops->on_connected or ops->on_error follows (never synchronously).
 * timeout_ms bounds the connect (0 = default 10 s). -ENETUNREACH when the stack has no
 * address of that family yet; SV_E_NOPORT when every local port is in use. */
int sv_tcpconn_connect(struct sv_tcpconn **out, const struct sv_ip *dst, uint16_t port,
	unsigned timeout_ms, const struct sv_tcpconn_ops *ops, void *arg);

/* Up to max iovecs of received, unconsumed bytes; returns how many were filled. Valid
 * until the next call on c that changes the queue (consume, close) or a return to the loop
 * in which lwIP may append — appending never moves existing bytes. */
int sv_tcpconn_peek(struct sv_tcpconn *c, struct sv_iov *iov, int max);
/* Total unconsumed received bytes. */
size_t sv_tcpconn_pending(const struct sv_tcpconn *c);
/* n bytes reached the local client: free them and reopen the window. */
void sv_tcpconn_consume(struct sv_tcpconn *c, size_t n);

/* Copies up to n bytes into lwIP's send buffer; returns how many (0 if full), or a
 * negative error. */
long sv_tcpconn_write(struct sv_tcpconn *c, const void *p, size_t n);
/* Half-close: FIN after the queued data. */
int sv_tcpconn_shutdown(struct sv_tcpconn *c);
/* End and free. Accepts NULL. */
void sv_tcpconn_close(struct sv_tcpconn *c);
/* End with RST (the local side failed: the remote must not take what it got as
 * complete) and free. Accepts NULL. */
void sv_tcpconn_abort(struct sv_tcpconn *c);

/* Local address lwIP used (for SOCKS BND.ADDR); false before connected. */
bool sv_tcpconn_local(const struct sv_tcpconn *c, struct sv_ip *ip, uint16_t *port);
/* Remote address: the destination of sv_tcpconn_connect(), or the peer that connected
 * to a listener. Either pointer may be NULL. */
bool sv_tcpconn_peer(const struct sv_tcpconn *c, struct sv_ip *ip, uint16_t *port);

/*
 * Memory held for local clients. Received bytes wait in the connection until consumed;
 * each connection starts with a 64 KiB receive window that grows (towards lwIP's
 * TCP_WND) while its client keeps up, and what connections hold plus the window they
 * advertised, beyond the first 64 KiB each (which every connection may always have),
 * stays under the budget (netstack/rxbudget.h). Sent bytes are bounded per connection by TCP_SND_BUF.
 */
#define SV_TCPCONN_BUDGET_DEFAULT (64u * 1024u * 1024u)

struct sv_tcpconn_mem {
	size_t rx_held;      /* received, not yet written to local clients */
	size_t rx_committed; /* rx_held plus advertised, unused window */
	size_t budget;       /* the limit on rx_committed */
	size_t tx_queued;    /* written by local clients, not yet acknowledged */
};

/* Sets the budget in bytes (0 is taken as 1: every connection keeps 64 KiB). Applies to
 * credit given from now on; windows already advertised are never shrunk. */
void sv_tcpconn_set_buffer_budget(size_t bytes);
/* Current totals over all connections. */
void sv_tcpconn_mem_stats(struct sv_tcpconn_mem *out);

/* Replace the callbacks and their argument (ops borrowed, must outlive c; not NULL).
 * An accepted connection must get its ops this way; events that were waiting for ops
 * are delivered from the next sv_stack_flush() (never synchronously). */
void sv_tcpconn_set_ops(struct sv_tcpconn *c, const struct sv_tcpconn_ops *ops, void *arg);

#endif
