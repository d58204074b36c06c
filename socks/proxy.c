/*
 * SOCKS5 listeners and the per-connection relay between a local client (uv_tcp_t) and a
 * TCP connection inside the tunnel (struct sv_tcpconn).
 *
 * States of a connection (conn_set_state is the only place that changes them):
 *
 *   GREETING --method chosen--> REQUEST --name--> RESOLVING --address--> CONNECTING
 *                                       --address-------------------->  CONNECTING
 *   CONNECTING --on_connected, reply 0x00 sent--> RELAY
 *   any --error, timeout, both directions finished--> CLOSING
 *
 * (An AUTH state for RFC 1929 would sit between GREETING and REQUEST: one more step in
 * hs_steps[] and sv_socks5_parse_userpass.)
 *
 * CLOSING has two stages: "closing with a reply" (close_after_out: the SOCKS error reply
 * is still being written, reading stopped) and "closed" (uv_close called on both handles).
 * The conn is freed in the last close callback, and only there is sv_tcpconn_close()
 * called, so no tcpconn or libuv callback ever sees freed memory; callbacks that arrive
 * in CLOSING do nothing (on_error still records tc_dead).
 *
 * Invariants:
 * - At most one uv_write is outstanding (writing); it carries either handshake replies
 *   from out[] (w_out bytes) or tunnel bytes referenced in place from the tcpconn's queue
 *   (w_consume bytes, consumed in the write callback, so the memory cannot move).
 * - Client -> tunnel: pend/pend_len is data read but not yet taken by the tcpconn; while
 *   pend_len > 0 the client is not read (back-pressure), and reading resumes from
 *   on_writable. The read buffer is allocated when the relay first reads.
 * - Tunnel -> client: bytes stay in the tcpconn until written, so the lwIP window is the
 *   back-pressure.
 * - After the tcpconn reports on_error (tc_dead) nothing but sv_tcpconn_close touches it:
 *   on_error always moves the conn to CLOSING, and every tcpconn call happens in RELAY or
 *   CONNECTING only.
 * - Half-close: client EOF -> sv_tcpconn_shutdown once pend is flushed (tunnel_shut);
 *   tcpconn on_eof -> uv_shutdown once our writes are done (client_shut); both finished
 *   -> close. A tunnel connection that ends abnormally (reset, timeout) closes the client
 *   with RST, so a client reading until EOF does not take a cut stream as complete.
 */
#define SV_LOG_MODULE "socks"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "core/err.h"
#include "core/log.h"
#include "netstack/resolve.h"
#include "netstack/tcpconn.h"
#include "socks/proxy.h"
#include "socks/socks5.h"

#define DEFAULT_CONNECT_TIMEOUT_MS 10000u
#define DEFAULT_MAX_CLIENTS 1024u
#define DEFAULT_CONN_BUFFER (64u * 1024)
#define MIN_CONN_BUFFER (4u * 1024)
#define MAX_CONN_BUFFER (4u * 1024 * 1024)
/* Greeting and request must arrive within this time. */
#define HANDSHAKE_TIMEOUT_MS 10000u
/* Time allowed for writing an error reply before the socket is closed anyway. */
#define CLOSE_GRACE_MS 5000u
/* Unparsed handshake bytes; one greeting or request always fits. */
#define HS_MAX 512
/* Pending handshake replies: method selection plus request reply. */
#define OUT_MAX 64
#define PEEK_IOV 16
#define LISTEN_BACKLOG 128
#define ADDR_TEXT_MAX (SV_IP_STRLEN + 8)

/* Handshake step result: stop the loop (waiting for something else, or closing). */
#define STEP_STOP 1

enum conn_state {
	CONN_GREETING,
	CONN_REQUEST,
	CONN_RESOLVING,
	CONN_CONNECTING,
	CONN_RELAY,
	CONN_CLOSING,
};

static const char *const state_names[] = {
	[CONN_GREETING] = "greeting",
	[CONN_REQUEST] = "request",
	[CONN_RESOLVING] = "resolving",
	[CONN_CONNECTING] = "connecting",
	[CONN_RELAY] = "relay",
	[CONN_CLOSING] = "closing",
};

struct listener {
	uv_tcp_t tcp;
	struct listener *prev, *next;
	struct sv_proxy_config cfg;
	bool linked;
	bool closing;
	char name[ADDR_TEXT_MAX];
};

struct conn {
	struct conn *prev, *next;
	unsigned id;
	enum conn_state state;
	struct sv_proxy_config cfg;

	uv_tcp_t tcp;
	uv_timer_t timer;
	uv_write_t wreq;
	uv_shutdown_t sreq;
	int handles; /* libuv handles not yet closed; freed at 0 */

	struct sv_resolve *res;
	struct sv_tcpconn *tc;
	uint64_t deadline; /* uv_now() bound on resolving + connecting */

	bool tc_dead;         /* tcpconn reported on_error */
	bool closed;          /* uv_close called */
	bool close_after_out; /* close once out[] is written */
	bool reply_sent;      /* the request's reply is queued */
	bool reading;         /* uv_read_start active */
	bool writing;         /* wreq outstanding */
	bool pumping;         /* inside pump_to_client */
	bool client_eof;      /* client sent FIN */
	bool client_failed;   /* the client reset or vanished: reset the remote too */
	bool tunnel_shut;     /* sv_tcpconn_shutdown called */
	bool remote_eof;      /* tcpconn on_eof */
	bool client_shut;     /* uv_shutdown requested */
	bool client_shut_done;

	/* the outstanding write */
	size_t w_out;
	size_t w_consume;

	uint8_t out[OUT_MAX];
	size_t out_len;
	uint8_t hs[HS_MAX];
	size_t hs_len;

	uint8_t *rbuf; /* client -> tunnel, cfg.conn_buffer bytes, on demand */
	const uint8_t *pend;
	size_t pend_len;

	uint64_t up, down;
	struct sv_socks5_request req;
	char peer[ADDR_TEXT_MAX];
	char target[300];
	char ip_text[SV_IP_STRLEN];
};

static struct listener *listeners;
static struct conn *conns;
static size_t n_conns;
static unsigned next_id;
static bool limit_warned;

static void conn_close(struct conn *c);
static void on_timer(uv_timer_t *t);
static void pump_to_client(struct conn *c);
static void maybe_shutdown_client(struct conn *c);

/* --- small helpers ------------------------------------------------------------------- */

static void
conn_set_state(struct conn *c, enum conn_state s)
{
	if (c->state == s)
		return;
	log_debug("conn %u: %s -> %s", c->id, state_names[c->state], state_names[s]);
	c->state = s;
}

static void
format_sockaddr(const struct sockaddr_storage *ss, char *out, size_t cap)
{
	char ip[SV_IP_STRLEN] = "?";

	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
		uv_ip6_name(a, ip, sizeof ip);
		snprintf(out, cap, "[%s]:%u", ip, (unsigned)ntohs(a->sin6_port));
	} else if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
		uv_ip4_name(a, ip, sizeof ip);
		snprintf(out, cap, "%s:%u", ip, (unsigned)ntohs(a->sin_port));
	} else {
		snprintf(out, cap, "?");
	}
}

static void
cfg_normalize(struct sv_proxy_config *out, const struct sv_proxy_config *in)
{
	*out = *in;
	if (out->connect_timeout_ms == 0)
		out->connect_timeout_ms = DEFAULT_CONNECT_TIMEOUT_MS;
	if (out->max_clients == 0)
		out->max_clients = DEFAULT_MAX_CLIENTS;
	if (out->conn_buffer == 0)
		out->conn_buffer = DEFAULT_CONN_BUFFER;
	if (out->conn_buffer < MIN_CONN_BUFFER)
		out->conn_buffer = MIN_CONN_BUFFER;
	if (out->conn_buffer > MAX_CONN_BUFFER)
		out->conn_buffer = MAX_CONN_BUFFER;
}

/* --- closing ------------------------------------------------------------------------- */

static void
conn_free(struct conn *c)
{
	/* Only here, outside every tcpconn callback, is the tcpconn ended: with RST when
	 * the client failed, so the remote does not take a cut-off upload as complete. */
	if (c->client_failed)
		sv_tcpconn_abort(c->tc);
	else
		sv_tcpconn_close(c->tc);
	c->tc = NULL;
	free(c->rbuf);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	n_conns--;
	free(c);
}

static void
on_handle_closed(uv_handle_t *h)
{
	struct conn *c = h->data;

	if (--c->handles == 0)
		conn_free(c);
}

/* Stop everything that could call back into the handshake: reading, the timer, DNS. */
static void
stop_activity(struct conn *c)
{
	if (c->reading) {
		uv_read_stop((uv_stream_t *)&c->tcp);
		c->reading = false;
	}
	uv_timer_stop(&c->timer);
	sv_resolve_cancel(c->res);
	c->res = NULL;
}

/* Close both handles; the conn is freed when both close callbacks have run. With reset,
 * the client gets RST instead of FIN (the tunnel side was reset: a FIN would make a cut
 * transfer look complete to a client that reads until EOF). */
static void
conn_end(struct conn *c, bool reset)
{
	if (c->closed)
		return;
	c->closed = true;
	stop_activity(c);
	conn_set_state(c, CONN_CLOSING);
	log_debug("conn %u: closed%s (%llu bytes up, %llu down)", c->id,
		reset ? " with reset" : "", (unsigned long long)c->up,
		(unsigned long long)c->down);
	/* uv_tcp_close_reset refuses a handle with a shutdown pending; FIN then. */
	if (!reset || uv_tcp_close_reset(&c->tcp, on_handle_closed) != 0)
		uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
	uv_close((uv_handle_t *)&c->timer, on_handle_closed);
}

static void
conn_close(struct conn *c)
{
	conn_end(c, false);
}

/* --- writing to the client ----------------------------------------------------------- */

static void on_write(uv_write_t *req, int status);

/* Writes out[] now as far as the socket takes it, the rest with one uv_write. */
static void
flush_out(struct conn *c)
{
	uv_buf_t b;
	int w, e;

	if (c->closed || c->writing || c->out_len == 0)
		return;
	b = uv_buf_init((char *)c->out, (unsigned)c->out_len);
	w = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
	if (w == UV_EAGAIN || w == UV_ENOSYS)
		w = 0;
	if (w < 0) {
		log_debug_r(w, "conn %u: write to client", c->id);
		conn_close(c);
		return;
	}
	memmove(c->out, c->out + w, c->out_len - (size_t)w);
	c->out_len -= (size_t)w;
	if (c->out_len == 0)
		return;
	/* out[0, w_out) now belongs to the write; out_put appends only after out_len. */
	b = uv_buf_init((char *)c->out, (unsigned)c->out_len);
	c->w_out = c->out_len;
	c->w_consume = 0;
	c->writing = true;
	if ((e = uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, on_write)) != 0) {
		c->writing = false;
		log_debug_r(e, "conn %u: write to client", c->id);
		conn_close(c);
	}
}

/* Queues a handshake reply. The caller checks c->closed afterwards. */
static void
out_put(struct conn *c, const uint8_t *p, size_t n)
{
	if (n > OUT_MAX - c->out_len) {
		log_err("conn %u: reply queue overflow", c->id); /* our bug */
		conn_close(c);
		return;
	}
	memcpy(c->out + c->out_len, p, n);
	c->out_len += n;
	flush_out(c);
}

/* Ends the conn once what is in out[] has been written (bounded by CLOSE_GRACE_MS). */
static void
close_after_out(struct conn *c)
{
	if (c->closed)
		return;
	stop_activity(c);
	conn_set_state(c, CONN_CLOSING);
	c->close_after_out = true;
	if (!c->writing && c->out_len == 0) {
		conn_close(c);
		return;
	}
	uv_timer_start(&c->timer, on_timer, CLOSE_GRACE_MS, 0);
}

static void
reply_and_close(struct conn *c, uint8_t rep)
{
	uint8_t b[SV_SOCKS5_REPLY_MAX];

	if (!c->reply_sent) {
		c->reply_sent = true;
		out_put(c, b, sv_socks5_build_reply(b, rep, NULL, 0));
	}
	close_after_out(c);
}

/* A failure before the relay started: log it, answer with rep, close. */
static void
conn_fail(struct conn *c, uint8_t rep, int err, const char *what)
{
	if (c->state == CONN_CLOSING)
		return;
	if (c->ip_text[0] != '\0' && c->req.atyp == SV_SOCKS5_ATYP_DOMAIN)
		log_info_r(err, "conn %u: %s %s (%s), replying %s", c->id, what,
			c->target, c->ip_text, sv_socks5_rep_name(rep));
	else
		log_info_r(err, "conn %u: %s %s, replying %s", c->id, what, c->target,
			sv_socks5_rep_name(rep));
	reply_and_close(c, rep);
}

static void
on_write(uv_write_t *req, int status)
{
	struct conn *c = req->handle->data;
	size_t consume = c->w_consume;

	c->writing = false;
	c->w_consume = 0;
	/* After uv_close, write callbacks still run (cancelled or completed); the tcpconn may
	 * be dead and the conn is about to be freed: touch nothing. */
	if (c->closed)
		return;
	if (status < 0) {
		log_debug_r(status, "conn %u: write to client", c->id);
		c->client_failed = true; /* what the remote sent never arrived */
		conn_close(c);
		return;
	}
	if (c->w_out > 0) {
		memmove(c->out, c->out + c->w_out, c->out_len - c->w_out);
		c->out_len -= c->w_out;
		c->w_out = 0;
	}
	if (consume > 0 && c->state == CONN_RELAY && !c->tc_dead) {
		c->down += consume;
		sv_tcpconn_consume(c->tc, consume);
		if (c->closed)
			return;
	}
	flush_out(c);
	if (c->close_after_out) {
		if (!c->writing && c->out_len == 0)
			conn_close(c);
		return;
	}
	pump_to_client(c);
	maybe_shutdown_client(c);
}

/* --- tunnel -> client ---------------------------------------------------------------- */

/* Hands the bytes past skip of iov[0..n) to one uv_write; they are consumed from the
 * tcpconn (all total bytes) in on_write, so the queue keeps them in place until then. */
static void
queue_to_client(struct conn *c, const struct sv_iov *iov, int n, size_t skip)
{
	uv_buf_t bufs[PEEK_IOV];
	unsigned k = 0;
	size_t total = 0;
	int e;

	for (int i = 0; i < n; i++) {
		total += iov[i].len;
		if (skip >= iov[i].len) {
			skip -= iov[i].len;
			continue;
		}
		bufs[k++] = uv_buf_init((char *)iov[i].base + skip,
			(unsigned)(iov[i].len - skip));
		skip = 0;
	}
	c->w_out = 0;
	c->w_consume = total;
	c->writing = true;
	if ((e = uv_write(&c->wreq, (uv_stream_t *)&c->tcp, bufs, k, on_write)) != 0) {
		c->writing = false;
		c->w_consume = 0;
		log_debug_r(e, "conn %u: write to client", c->id);
		conn_close(c);
	}
}

static bool
can_pump(const struct conn *c)
{
	return c->state == CONN_RELAY && !c->tc_dead && !c->writing &&
		c->out_len == 0 && !c->client_shut;
}

/* Moves received tunnel bytes to the client: uv_try_write straight from the tcpconn's
 * queue, the remainder as one outstanding uv_write. Safe against callbacks that the
 * tcpconn may run from inside sv_tcpconn_consume. */
static void
pump_to_client(struct conn *c)
{
	struct sv_iov iov[PEEK_IOV];
	uv_buf_t bufs[PEEK_IOV];

	if (c->pumping)
		return;
	c->pumping = true;
	while (can_pump(c)) {
		int n = sv_tcpconn_peek(c->tc, iov, PEEK_IOV);
		size_t total = 0;
		int w;

		if (n <= 0)
			break;
		for (int i = 0; i < n; i++) {
			bufs[i] = uv_buf_init((char *)iov[i].base, (unsigned)iov[i].len);
			total += iov[i].len;
		}
		w = uv_try_write((uv_stream_t *)&c->tcp, bufs, (unsigned)n);
		if (w == UV_EAGAIN || w == UV_ENOSYS)
			w = 0;
		if (w < 0) {
			log_debug_r(w, "conn %u: write to client", c->id);
			conn_close(c);
			break;
		}
		if ((size_t)w < total) {
			queue_to_client(c, iov, n, (size_t)w);
			break;
		}
		c->down += total;
		sv_tcpconn_consume(c->tc, total);
	}
	c->pumping = false;
}

/* The remote finished: pass the FIN on once everything before it is written. */
static void
on_client_shutdown(uv_shutdown_t *req, int status);

static void
maybe_shutdown_client(struct conn *c)
{
	int e;

	if (c->state != CONN_RELAY || !c->remote_eof || c->client_shut ||
		c->writing || c->out_len > 0)
		return;
	c->client_shut = true;
	log_debug("conn %u: remote finished sending", c->id);
	if ((e = uv_shutdown(&c->sreq, (uv_stream_t *)&c->tcp, on_client_shutdown)) != 0) {
		log_debug_r(e, "conn %u: shutdown to client", c->id);
		conn_close(c);
	}
}

static void
maybe_done(struct conn *c)
{
	if (c->state == CONN_RELAY && c->tunnel_shut && c->client_shut_done) {
		log_debug("conn %u: both directions finished", c->id);
		conn_close(c);
	}
}

static void
on_client_shutdown(uv_shutdown_t *req, int status)
{
	struct conn *c = req->handle->data;

	if (c->closed || c->state != CONN_RELAY)
		return;
	if (status < 0) {
		log_debug_r(status, "conn %u: shutdown to client", c->id);
		conn_close(c);
		return;
	}
	c->client_shut_done = true;
	maybe_done(c);
}

/* --- client -> tunnel ---------------------------------------------------------------- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

static void
start_reading(struct conn *c)
{
	int e;

	if (c->reading || c->closed || c->client_eof)
		return;
	if ((e = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read)) != 0) {
		log_debug_r(e, "conn %u: read from client", c->id);
		conn_close(c);
		return;
	}
	c->reading = true;
}

static void
stop_reading(struct conn *c)
{
	if (c->reading) {
		uv_read_stop((uv_stream_t *)&c->tcp);
		c->reading = false;
	}
}

/* Client finished sending and all its bytes are in the tcpconn: FIN to the remote. */
static void
tunnel_shutdown(struct conn *c)
{
	int e;

	if (c->tunnel_shut || c->state != CONN_RELAY || c->tc_dead)
		return;
	c->tunnel_shut = true;
	log_debug("conn %u: client finished sending", c->id);
	if ((e = sv_tcpconn_shutdown(c->tc)) != 0) {
		log_info_r(e, "conn %u: shutdown %s", c->id, c->target);
		conn_close(c);
		return;
	}
	maybe_done(c);
}

/* Gives pend to the tcpconn as far as it takes it. */
static void
flush_to_tunnel(struct conn *c)
{
	while (c->state == CONN_RELAY && !c->tc_dead && c->pend_len > 0) {
		long n = sv_tcpconn_write(c->tc, c->pend, c->pend_len);
		if (n < 0) {
			log_info_r((int)n, "conn %u: write to %s", c->id, c->target);
			conn_close(c);
			return;
		}
		if (n == 0)
			return; /* on_writable resumes */
		c->pend += n;
		c->pend_len -= (size_t)n;
		c->up += (uint64_t)n;
	}
}

/* Flushes pend; when it is empty, reads the client again (or passes its EOF on). */
static void
relay_client_data(struct conn *c)
{
	flush_to_tunnel(c);
	if (c->state != CONN_RELAY)
		return;
	if (c->pend_len > 0) {
		stop_reading(c); /* back-pressure until on_writable */
		return;
	}
	if (c->client_eof)
		tunnel_shutdown(c);
	else
		start_reading(c);
}

static void
relay_start(struct conn *c)
{
	/* Bytes the client sent after its request (optimistic data) go first. */
	c->pend = c->hs;
	c->pend_len = c->hs_len;
	c->hs_len = 0;
	relay_client_data(c);
	pump_to_client(c);
}

/* --- tcpconn callbacks --------------------------------------------------------------- */

static void
tc_connected(void *arg)
{
	struct conn *c = arg;
	uint8_t b[SV_SOCKS5_REPLY_MAX];
	struct sv_ip bnd;
	uint16_t bport = 0;
	bool have;

	if (c->state != CONN_CONNECTING)
		return;
	uv_timer_stop(&c->timer);
	have = sv_tcpconn_local(c->tc, &bnd, &bport);
	c->reply_sent = true;
	conn_set_state(c, CONN_RELAY);
	out_put(c, b, sv_socks5_build_reply(b, SV_SOCKS5_REP_SUCCEEDED,
		have ? &bnd : NULL, have ? bport : 0));
	if (c->state != CONN_RELAY)
		return;
	relay_start(c);
}

static void
tc_readable(void *arg)
{
	struct conn *c = arg;

	if (c->state == CONN_RELAY)
		pump_to_client(c);
}

static void
tc_writable(void *arg)
{
	struct conn *c = arg;

	if (c->state == CONN_RELAY && c->pend_len > 0)
		relay_client_data(c);
}

static void
tc_eof(void *arg)
{
	struct conn *c = arg;

	if (c->state != CONN_RELAY)
		return;
	c->remote_eof = true;
	maybe_shutdown_client(c);
}

static void
tc_error(void *arg, int err)
{
	struct conn *c = arg;

	c->tc_dead = true;
	switch (c->state) {
	case CONN_CONNECTING:
		conn_fail(c, sv_socks5_rep_from_err(err), err, "connect");
		break;
	case CONN_RELAY:
		log_info_r(err, "conn %u: %s", c->id, c->target);
		/* the remote reset or timed out: pass that on rather than a clean end */
		conn_end(c, true);
		break;
	default:
		break;
	}
}

static const struct sv_tcpconn_ops tc_ops = {
	.on_connected = tc_connected,
	.on_readable = tc_readable,
	.on_writable = tc_writable,
	.on_eof = tc_eof,
	.on_error = tc_error,
};

/* --- resolving and connecting -------------------------------------------------------- */

static void
connect_ip(struct conn *c, const struct sv_ip *ip)
{
	uint64_t now = uv_now(c->tcp.loop);
	unsigned left = c->deadline > now ? (unsigned)(c->deadline - now) : 1;
	struct sv_tcpconn *tc;
	int e;

	conn_set_state(c, CONN_CONNECTING);
	e = sv_tcpconn_connect(&tc, ip, c->req.port, left, &tc_ops, c);
	if (e != 0) {
		conn_fail(c, sv_socks5_rep_from_err(e), e, "connect");
		return;
	}
	c->tc = tc;
}

static void
on_resolved(void *arg, int err, const struct sv_ip *ip)
{
	struct conn *c = arg;
	struct sv_ip dst;

	c->res = NULL; /* finished: never cancel it now */
	if (c->state != CONN_RESOLVING)
		return;
	if (err != 0) {
		/* -ENOENT would print as "No such file or directory" */
		conn_fail(c, sv_socks5_rep_from_resolve_err(err),
			err == -ENOENT ? SV_E_NOTFOUND : err, "resolve");
		return;
	}
	dst = *ip;
	sv_ip_format(&dst, c->ip_text, sizeof c->ip_text);
	log_debug("conn %u: %s is %s", c->id, c->req.host, c->ip_text);
	connect_ip(c, &dst);
}

static void
start_connect(struct conn *c)
{
	struct sv_resolve *res;
	int e;

	c->deadline = uv_now(c->tcp.loop) + c->cfg.connect_timeout_ms;
	uv_timer_start(&c->timer, on_timer, c->cfg.connect_timeout_ms, 0);
	if (c->req.atyp != SV_SOCKS5_ATYP_DOMAIN) {
		connect_ip(c, &c->req.ip);
		return;
	}
	conn_set_state(c, CONN_RESOLVING);
	e = sv_resolve(&res, c->req.host, 0, on_resolved, c);
	if (e != 0) {
		conn_fail(c, sv_socks5_rep_from_resolve_err(e), e, "resolve");
		return;
	}
	c->res = res;
}

/* --- handshake ----------------------------------------------------------------------- */

static int
step_greeting(struct conn *c, struct sv_rd *r)
{
	static const uint8_t ours[] = { SV_SOCKS5_METHOD_NONE };
	struct sv_socks5_greeting g;
	uint8_t b[8];
	uint8_t m;
	int e;

	e = sv_socks5_parse_greeting(r, &g);
	if (e == SV_E_INCOMPLETE)
		return e;
	if (e == -EPROTONOSUPPORT) {
		log_info("conn %u: %s: SOCKS4 client refused (only SOCKS5 is supported)",
			c->id, c->peer);
		out_put(c, b, sv_socks5_build_socks4_reject(b));
		close_after_out(c);
		return STEP_STOP;
	}
	if (e != 0) {
		log_info("conn %u: %s: not a SOCKS5 client (first byte 0x%02x)", c->id,
			c->peer, r->n > 0 ? r->p[0] : 0);
		conn_close(c);
		return STEP_STOP;
	}
	m = sv_socks5_choose_method(&g, ours, sizeof ours);
	out_put(c, b, sv_socks5_build_method(b, m));
	if (m == SV_SOCKS5_METHOD_UNACCEPTABLE) {
		log_info("conn %u: %s: client does not offer \"no authentication\"", c->id,
			c->peer);
		close_after_out(c);
		return STEP_STOP;
	}
	if (c->closed)
		return STEP_STOP;
	conn_set_state(c, CONN_REQUEST);
	return 0;
}

static int
step_request(struct conn *c, struct sv_rd *r)
{
	int e = sv_socks5_parse_request(r, &c->req);

	if (e == SV_E_INCOMPLETE)
		return e;
	if (e != 0) {
		uint8_t rep = sv_socks5_rep_from_err(e);
		log_info_r(e, "conn %u: %s: bad request, replying %s", c->id, c->peer,
			sv_socks5_rep_name(rep));
		reply_and_close(c, rep);
		return STEP_STOP;
	}
	stop_reading(c); /* until the relay starts; later bytes stay in the socket */
	sv_socks5_format_target(&c->req, c->target, sizeof c->target);
	log_debug("conn %u: %s -> %s", c->id, c->peer, c->target);
	start_connect(c);
	return STEP_STOP;
}

/* One step per handshake state; a future CONN_AUTH adds one line. */
static int (*const hs_steps[])(struct conn *, struct sv_rd *) = {
	[CONN_GREETING] = step_greeting,
	[CONN_REQUEST] = step_request,
};

/* Runs handshake steps over the buffered bytes, then drops what they consumed. */
static void
handshake(struct conn *c)
{
	struct sv_rd r = sv_rd_make(c->hs, c->hs_len);
	int e = 0;

	while (e == 0 && c->state < sizeof hs_steps / sizeof hs_steps[0] &&
		hs_steps[c->state] != NULL)
		e = hs_steps[c->state](c, &r);
	memmove(c->hs, r.p, r.n);
	c->hs_len = r.n;
	if (e == SV_E_INCOMPLETE && c->hs_len == HS_MAX) {
		/* cannot happen: every message fits; but never spin on a full buffer */
		log_info("conn %u: %s: handshake too long", c->id, c->peer);
		conn_close(c);
	}
}

/* --- client socket callbacks --------------------------------------------------------- */

static void
on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct conn *c = h->data;

	*buf = uv_buf_init(NULL, 0); /* -> UV_ENOBUFS in on_read */
	if (c->state != CONN_RELAY) {
		if (c->hs_len < HS_MAX)
			*buf = uv_buf_init((char *)c->hs + c->hs_len,
				(unsigned)(HS_MAX - c->hs_len));
		return;
	}
	if (c->pend_len > 0)
		return; /* not reading while pend_len > 0; defensive */
	if (c->rbuf == NULL && (c->rbuf = malloc(c->cfg.conn_buffer)) == NULL)
		return;
	*buf = uv_buf_init((char *)c->rbuf, (unsigned)c->cfg.conn_buffer);
}

static void
on_client_read_error(struct conn *c, ssize_t nread)
{
	if (nread == UV_EOF && c->state == CONN_RELAY) {
		/* libuv stopped reading on EOF */
		c->reading = false;
		c->client_eof = true;
		if (c->pend_len == 0)
			tunnel_shutdown(c);
		return;
	}
	if (nread == UV_EOF)
		log_debug("conn %u: client closed during %s", c->id,
			state_names[c->state]);
	else if (nread == UV_ENOBUFS)
		log_warn("conn %u: out of memory for the read buffer", c->id);
	else
		log_debug_r((int)nread, "conn %u: read from client", c->id);
	if (nread != UV_EOF)
		c->client_failed = true;
	conn_close(c);
}

static void
on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct conn *c = s->data;

	if (c->state == CONN_CLOSING || nread == 0)
		return;
	if (nread < 0) {
		on_client_read_error(c, nread);
		return;
	}
	if (c->state == CONN_RELAY) {
		c->pend = c->rbuf;
		c->pend_len = (size_t)nread;
		relay_client_data(c);
		return;
	}
	c->hs_len += (size_t)nread;
	handshake(c);
}

static void
on_timer(uv_timer_t *t)
{
	struct conn *c = t->data;

	switch (c->state) {
	case CONN_GREETING:
	case CONN_REQUEST:
		log_info("conn %u: %s: no SOCKS5 request within %u ms", c->id, c->peer,
			HANDSHAKE_TIMEOUT_MS);
		conn_close(c);
		break;
	case CONN_RESOLVING:
		conn_fail(c, sv_socks5_rep_from_resolve_err(-ETIMEDOUT), -ETIMEDOUT,
			"resolve");
		break;
	case CONN_CONNECTING:
		conn_fail(c, sv_socks5_rep_from_err(-ETIMEDOUT), -ETIMEDOUT, "connect");
		break;
	case CONN_RELAY:
		break;
	case CONN_CLOSING:
		log_debug("conn %u: error reply not written in time", c->id);
		conn_close(c);
		break;
	}
}

/* --- accepting ----------------------------------------------------------------------- */

static void
free_handle(uv_handle_t *h)
{
	free(h);
}

/* Accept and close at once, so the listener keeps accepting. */
static void
reject_client(uv_stream_t *server)
{
	uv_tcp_t *t = malloc(sizeof *t);

	if (t == NULL) {
		log_err("listener: out of memory rejecting a client");
		return;
	}
	uv_tcp_init(server->loop, t);
	(void)uv_accept(server, (uv_stream_t *)t);
	uv_close((uv_handle_t *)t, free_handle);
}

static struct conn *
conn_new(struct listener *l)
{
	struct conn *c = calloc(1, sizeof *c);

	if (c == NULL)
		return NULL;
	c->id = ++next_id;
	c->cfg = l->cfg;
	c->state = CONN_GREETING;
	c->tcp.data = c;
	c->timer.data = c;
	snprintf(c->peer, sizeof c->peer, "?");
	c->next = conns;
	if (conns != NULL)
		conns->prev = c;
	conns = c;
	n_conns++;
	return c;
}

static void
on_connection(uv_stream_t *server, int status)
{
	struct listener *l = server->data;
	struct sockaddr_storage ss;
	int len = sizeof ss;
	struct conn *c;
	int e;

	if (status < 0) {
		log_warn_r(status, "listener %s: accept", l->name);
		return;
	}
	if (n_conns >= l->cfg.max_clients) {
		if (!limit_warned)
			log_warn("listener %s: %zu clients, the limit: refusing more",
				l->name, n_conns);
		limit_warned = true;
		reject_client(server);
		return;
	}
	limit_warned = false;
	if ((c = conn_new(l)) == NULL) {
		log_err("listener %s: out of memory for a connection", l->name);
		reject_client(server);
		return;
	}
	/* Both inits cannot fail on a valid loop; the handles count from here. */
	uv_tcp_init(server->loop, &c->tcp);
	uv_timer_init(server->loop, &c->timer);
	c->handles = 2;
	if ((e = uv_accept(server, (uv_stream_t *)&c->tcp)) != 0) {
		log_warn_r(e, "listener %s: accept", l->name);
		conn_close(c);
		return;
	}
	uv_tcp_nodelay(&c->tcp, 1);
	if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0)
		format_sockaddr(&ss, c->peer, sizeof c->peer);
	log_trace("conn %u: accepted %s on %s", c->id, c->peer, l->name);
	uv_timer_start(&c->timer, on_timer, HANDSHAKE_TIMEOUT_MS, 0);
	start_reading(c);
}

/* --- listening ----------------------------------------------------------------------- */

static int
parse_port(const char *s, unsigned *port)
{
	char *end;
	unsigned long v;

	if (*s < '0' || *s > '9')
		return SV_E_INVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || v > 65535)
		return SV_E_INVAL;
	*port = (unsigned)v;
	return 0;
}

/* "1080", "127.0.0.1:1080", "localhost:1080", "[::1]:1080" -> socket address. */
static int
parse_listen_addr(const char *s, struct sockaddr_storage *ss)
{
	char host[SV_IP_STRLEN + 2];
	const char *colon, *port_text;
	unsigned port;
	size_t hlen;

	memset(ss, 0, sizeof *ss);
	if (parse_port(s, &port) == 0)
		return uv_ip4_addr("127.0.0.1", (int)port, (struct sockaddr_in *)ss) ==
				0 ? 0 : SV_E_INVAL;
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (close == NULL || close[1] != ':')
			return SV_E_INVAL;
		hlen = (size_t)(close - s - 1);
		port_text = close + 2;
		s++;
	} else {
		if ((colon = strrchr(s, ':')) == NULL)
			return SV_E_INVAL;
		hlen = (size_t)(colon - s);
		port_text = colon + 1;
		if (memchr(s, ':', hlen) != NULL)
			return SV_E_INVAL; /* IPv6 needs brackets */
	}
	if (hlen == 0 || hlen >= sizeof host || parse_port(port_text, &port) != 0)
		return SV_E_INVAL;
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	if (strcmp(host, "localhost") == 0)
		snprintf(host, sizeof host, "127.0.0.1");
	if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)ss) == 0 &&
		strchr(host, ':') == NULL)
		return 0;
	if (uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)ss) == 0)
		return 0;
	return SV_E_INVAL;
}

static void
on_listener_closed(uv_handle_t *h)
{
	struct listener *l = h->data;

	if (l->linked) {
		if (l->prev != NULL)
			l->prev->next = l->next;
		else
			listeners = l->next;
		if (l->next != NULL)
			l->next->prev = l->prev;
	}
	free(l);
}

/* see proxy.h */
int
sv_socks5_listen(uv_loop_t *loop, const char *addr, const struct sv_proxy_config *cfg,
	char *bound, size_t bound_cap)
{
	struct sockaddr_storage ss;
	int len = sizeof ss;
	struct listener *l;
	int e;

	if (loop == NULL || addr == NULL || cfg == NULL)
		return SV_E_INVAL;
	if ((e = parse_listen_addr(addr, &ss)) != 0)
		return e;
	if ((l = calloc(1, sizeof *l)) == NULL)
		return SV_E_NOMEM;
	cfg_normalize(&l->cfg, cfg);
	if ((e = uv_tcp_init(loop, &l->tcp)) != 0) {
		free(l);
		return e;
	}
	l->tcp.data = l;
	if ((e = uv_tcp_bind(&l->tcp, (const struct sockaddr *)&ss, 0)) != 0 ||
		(e = uv_listen((uv_stream_t *)&l->tcp, LISTEN_BACKLOG, on_connection)) != 0 ||
		(e = uv_tcp_getsockname(&l->tcp, (struct sockaddr *)&ss, &len)) != 0) {
		l->closing = true;
		uv_close((uv_handle_t *)&l->tcp, on_listener_closed);
		return e;
	}
	format_sockaddr(&ss, l->name, sizeof l->name);
	l->linked = true;
	l->next = listeners;
	if (listeners != NULL)
		listeners->prev = l;
	listeners = l;
	if (bound != NULL && bound_cap > 0)
		snprintf(bound, bound_cap, "%s", l->name);
	log_debug("listener %s: listening", l->name);
	return 0;
}

/* see proxy.h */
void
sv_proxy_close_all(void)
{
	for (struct listener *l = listeners; l != NULL; l = l->next) {
		if (!l->closing) {
			l->closing = true;
			uv_close((uv_handle_t *)&l->tcp, on_listener_closed);
		}
	}
	/* conn_close frees nothing synchronously, so the list stays walkable. */
	for (struct conn *c = conns; c != NULL; c = c->next)
		conn_close(c);
}

/* see proxy.h */
size_t
sv_proxy_count(void)
{
	return n_conns;
}
