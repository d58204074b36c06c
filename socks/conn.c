/*
 * The relay core: one accepted local client (uv_tcp_t or uv_pipe_t), the front-end that
 * parses its handshake (socks/frontend.h), and the relay to a TCP connection inside the
 * tunnel (struct sv_tcpconn).
 *
 * States of a connection (conn_set_state is the only place that changes them):
 *
 *   HANDSHAKE --front-end: sv_conn_connect(name)--> RESOLVING --address--> CONNECTING
 *             --front-end: sv_conn_connect(address)---------------------->  CONNECTING
 *   CONNECTING --on_connected, front-end queued its success reply--> RELAY
 *   any --error, timeout, idle, both directions finished--> CLOSING
 *
 * The front-end's own handshake steps (SOCKS5 greeting, auth, request; HTTP request
 * head) live inside HANDSHAKE as its step number (sv_conn_set_step).
 *
 * CLOSING has two stages: "closing with a reply" (close_after_out: the front-end's error
 * reply is still being written, reading stopped) and "closed" (uv_close called on both
 * handles). The conn is freed in the last close callback, and only there is
 * sv_tcpconn_close() called, so no tcpconn or libuv callback ever sees freed memory;
 * callbacks that arrive in CLOSING do nothing (on_error still records tc_dead).
 *
 * Invariants:
 * - At most one uv_write is outstanding (writing); it carries either handshake replies
 *   from out[] (w_out bytes) or tunnel bytes referenced in place from the tcpconn's queue
 *   (w_consume bytes, consumed in the write callback, so the memory cannot move).
 * - Client -> tunnel: pend/pend_len is data read but not yet taken by the tcpconn; while
 *   pend_len > 0 the client is not read (back-pressure), and reading resumes from
 *   on_writable. The relay reads into one buffer shared by all connections (read_buf):
 *   the tcpconn copies what it takes, so usually nothing is left when on_read returns;
 *   what is (pend when lwIP's send buffer is full, rest) moves to the conn's own rbuf,
 *   of just that size, freed once it is sent. An idle connection holds no read buffer,
 *   and one whose client sends EOF never gets one. When the relay
 *   starts, pend is first the front-end's send_first bytes, then the handshake bytes the
 *   client sent after its request (optimistic data), then what is read; client bytes
 *   pass the front-end's up_filter, and once it cut the stream (up_dropping) the rest
 *   is read and dropped. While resolving and connecting the client is still read, once,
 *   into hs (optimistic data; an EOF then is kept as client_eof and passed on after it).
 * - Tunnel -> client: bytes stay in the tcpconn until written, so the lwIP window is the
 *   back-pressure.
 * - After the tcpconn reports on_error (tc_dead) nothing but sv_tcpconn_close touches it:
 *   on_error always moves the conn to CLOSING, and every tcpconn call happens in RELAY or
 *   CONNECTING only.
 * - Half-close: client EOF -> sv_tcpconn_shutdown once pend is flushed (tunnel_shut);
 *   tcpconn on_eof -> uv_shutdown once our writes are done (client_shut); both finished
 *   -> close. A tunnel connection that ends abnormally (reset, timeout) closes the client
 *   with RST, so a client reading until EOF does not take a cut stream as complete.
 * - The one timer bounds the handshake, then resolving + connecting, then the idle time
 *   in RELAY (last_active, refreshed by every byte relayed), then the error reply.
 * - Exchanges (the HTTP proxy): when the front-end said the target connection may
 *   serve the next exchange (sv_conn_exchange_reusable) and it ended cleanly (nothing
 *   unread, no FIN, no error), exchange_restart parks it as spare instead of closing
 *   it. While parked, c->tc is NULL and every tcpconn callback is about the spare: it
 *   only marks it unusable (spare_bad). The next sv_conn_connect to the same target
 *   text, asked with sv_conn_allow_reuse, within SPARE_IDLE_MS, takes it as c->tc and
 *   finishes "connecting" from the timer (so outside the handshake parser); any other
 *   connect, and conn_free, close it.
 */
#define SV_LOG_MODULE "socks"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <uv.h>

#include "core/err.h"
#include "core/log.h"
#include "netstack/resolve.h"
#include "netstack/tcpconn.h"
#include "socks/conn.h"
#include "socks/frontend.h"
#include "socks/lookup.h"
#include "socks/peerlimit.h"

#define DEFAULT_CONNECT_TIMEOUT_MS 10000u
#define DEFAULT_MAX_CLIENTS 1024u
#define DEFAULT_CONN_BUFFER (64u * 1024)
#define MIN_CONN_BUFFER (4u * 1024)
#define MAX_CONN_BUFFER (4u * 1024 * 1024)
/* The handshake must be complete within this time. */
#define HANDSHAKE_TIMEOUT_MS 10000u
/* A parked origin connection (HTTP keep-alive) older than this is not reused: servers
 * close idle ones after a few seconds (Apache's default is 5 s), and a request sent
 * into that race would fail. */
#define SPARE_IDLE_MS 4000u
/* At most one warning about --max-conns-per-client in this time. */
#define LIMIT_LOG_MS 10000u
/* Time allowed for writing an error reply before the socket is closed anyway. */
#define CLOSE_GRACE_MS 5000u
/* Unparsed handshake bytes kept inside the conn; a front-end that needs more (HTTP
 * request heads) gets a heap buffer of its hs_max. */
#define HS_INLINE 640
#define HS_LIMIT (64u * 1024)
/* Pending handshake replies. */
#define OUT_MAX 1024
/* A reply larger than out[] (sv_conn_write_reply: /proxy.pac) goes to the heap. */
#define REPLY_BIG_MAX (128u * 1024)
/* Segments per writev to the client: 64 x 1460 bytes, ~93 KB per system call. */
#define PEEK_IOV 64
#define ADDR_TEXT_MAX (SV_IP_STRLEN + 8)
#define TARGET_MAX 300

enum {
	XDONE_NO,    /* exchange running (or no exchanges) */
	XDONE_CLOSE, /* close once the client has everything */
	XDONE_NEXT,  /* back to the handshake for the next request */
};

enum conn_state {
	CONN_HANDSHAKE,
	CONN_RESOLVING,
	CONN_CONNECTING,
	CONN_RELAY,
	CONN_CLOSING,
};

static const char *const state_names[] = {
	[CONN_HANDSHAKE] = "handshake",
	[CONN_RESOLVING] = "resolving",
	[CONN_CONNECTING] = "connecting",
	[CONN_RELAY] = "relay",
	[CONN_CLOSING] = "closing",
};

struct sv_conn {
	struct sv_conn *prev, *next;
	unsigned id;
	enum conn_state state;
	struct sv_proxy_config cfg;
	const struct sv_frontend_ops *fe;
	unsigned fe_step;
	void *fe_data;

	union {
		uv_handle_t h;
		uv_stream_t s;
		uv_tcp_t tcp;
		uv_pipe_t pipe;
		uv_tty_t tty;
	} io;
	bool is_pipe;
	/* Where bytes for the client go: &io.s, or for stdio the stdout handle. */
	uv_stream_t *ws;
	union {
		uv_handle_t h;
		uv_stream_t s;
		uv_pipe_t pipe;
		uv_tty_t tty;
	} out_io;             /* stdio: stdout */
	bool has_out_io;
	bool is_stdio;        /* the remote's EOF ends the conn (stdout has no FIN) */
	bool is_reverse;      /* the tunnel side was accepted; io connects locally */
	uv_connect_t creq;
	uv_timer_t timer;
	uv_write_t wreq;
	uv_shutdown_t sreq;
	int handles; /* libuv handles not yet closed; freed at 0 */

	struct sv_lookup *res;
	bool host_lookup;     /* res is (was) the host's resolver: --resolve-local */
	struct sv_tcpconn *tc;
	/* Exchanges: the previous target connection kept for the next request (see the
	 * invariants above), its target text, when it was parked, whether it became
	 * unusable; reusable: the front-end allows parking tc at the exchange's end;
	 * may_reuse: it allows the next connect to take the spare; reusing: tc is the
	 * spare, "connected" from the timer. */
	struct sv_tcpconn *spare;
	char *spare_target;   /* owned while spare is set */
	uint64_t spare_at;
	bool spare_bad;
	bool reusable;
	bool may_reuse;
	bool reusing;
	bool reuse_failed;    /* the spare ended while reusing: connect afresh */
	uint64_t deadline;    /* uv_now() bound on resolving + connecting */
	uint64_t last_active; /* uv_now() of the last byte relayed */

	bool tc_dead;         /* tcpconn reported on_error */
	bool closed;          /* uv_close called */
	bool close_after_out; /* close once out[] is written */
	bool reply_sent;      /* on_result has run */
	bool reading;         /* uv_read_start active */
	bool writing;         /* wreq outstanding */
	bool pumping;         /* inside pump_to_client */
	bool client_eof;      /* client sent FIN */
	bool client_failed;   /* the client reset or vanished: reset the remote too */
	bool tunnel_shut;     /* sv_tcpconn_shutdown called */
	bool remote_eof;      /* tcpconn on_eof */
	bool client_shut;     /* uv_shutdown requested */
	bool client_shut_done;
	bool pend_is_hs;      /* pend points into hs */
	bool hs_moved;        /* sv_conn_set_frontend gave hs a new buffer */
	bool up_dropping;     /* up_filter cut the client's stream: drop what follows */
	bool held;            /* sv_conn_hold: no target, client bytes dropped */

	/* the outstanding write */
	size_t w_out;
	size_t w_consume;

	uint8_t out[OUT_MAX];
	size_t out_len;
	uint8_t *hs;          /* hs_inline or a heap buffer of hs_cap bytes */
	size_t hs_len, hs_cap;
	uint8_t hs_inline[HS_INLINE];
	uint8_t *first;       /* sv_conn_send_first, owned */
	uint8_t *big;         /* sv_conn_write_reply: a reply too large for out[], owned */
	size_t big_len;
	bool big_inflight;    /* wreq carries big */
	/* Exchanges (front-ends with a down_filter, the HTTP proxy): the client bytes after
	 * the cut of up_filter are held here (in rbuf or hs) for the next request, and
	 * xdone says the front-end ended the exchange (sv_conn_exchange_done). */
	const uint8_t *rest;
	size_t rest_len;
	uint8_t xdone;        /* XDONE_* */
	size_t first_len;

	uint8_t *rbuf; /* client bytes left over from read_buf (pend, rest), owned */
	const uint8_t *pend;
	size_t pend_len;

	uint64_t up, down;
	struct sv_conn_target dst; /* dst.host points at host[] or is NULL */
	char host[256];
	char peer[ADDR_TEXT_MAX];
	/* --max-conns-per-client: the client's key ("" = not limited) and whether this
	 * conn holds one of its slots (from its first connect to its end) */
	char peer_key[SV_PEERLIMIT_KEY_MAX];
	bool counted;
	char target[TARGET_MAX];
	char ip_text[SV_IP_STRLEN];
};

static struct sv_conn *conns;
static size_t n_conns;
static unsigned next_id;
static struct sv_peerlimit peers; /* zeroed: initialised */
static uint64_t limit_logged_at;  /* uv_now() of the last per-client limit warning */
static unsigned limit_unlogged;   /* refusals since that warning */
/* The relay's read buffer, shared: its bytes are used up or moved to the conn's rbuf
 * before on_read returns (keep_leftover). Grown to the largest cfg.conn_buffer in use;
 * freed when the last connection goes. */
static uint8_t *read_buf;
static size_t read_buf_cap;

static void conn_close(struct sv_conn *c);
static void drop_spare(struct sv_conn *c);
static void start_connect(struct sv_conn *c);
static void reuse_connected(struct sv_conn *c);
static void on_timer(uv_timer_t *t);
static void pump_to_client(struct sv_conn *c);
static void maybe_exchange_end(struct sv_conn *c);
static void exchange_restart(struct sv_conn *c);
static void maybe_shutdown_client(struct sv_conn *c);

/* --- small helpers ------------------------------------------------------------------- */

static void
conn_set_state(struct sv_conn *c, enum conn_state s)
{
	if (c->state == s)
		return;
	log_debug("conn %u: %s -> %s", c->id, state_names[c->state], state_names[s]);
	c->state = s;
}

/* see conn.h */
void
sv_conn_format_sockaddr(const struct sockaddr_storage *ss, char *out, size_t cap)
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

/* The client's address without the port: the key of --max-conns-per-client. */
static void
format_peer_key(const struct sockaddr_storage *ss, char *out, size_t cap)
{
	char ip[SV_IP_STRLEN] = "";

	if (ss->ss_family == AF_INET6)
		uv_ip6_name((const struct sockaddr_in6 *)ss, ip, sizeof ip);
	else if (ss->ss_family == AF_INET)
		uv_ip4_name((const struct sockaddr_in *)ss, ip, sizeof ip);
	snprintf(out, cap, "%s", ip);
}

static uint64_t
now_ms(const struct sv_conn *c)
{
	return uv_now(c->io.h.loop);
}

/* see conn.h */
void
sv_proxy_config_normalize(struct sv_proxy_config *out, const struct sv_proxy_config *in)
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
	if (out->user == NULL)
		out->password = NULL;
	else if (out->password == NULL)
		out->password = "";
}

/* --- closing ------------------------------------------------------------------------- */

static void
release_hs(struct sv_conn *c)
{
	if (c->hs != c->hs_inline)
		free(c->hs);
	c->hs = c->hs_inline;
	c->hs_cap = HS_INLINE;
}

static void
conn_free(struct sv_conn *c)
{
	/* Only here, outside every tcpconn callback, is the tcpconn ended: with RST when
	 * the client failed, so the remote does not take a cut-off upload as complete. */
	if (c->client_failed)
		sv_tcpconn_abort(c->tc);
	else
		sv_tcpconn_close(c->tc);
	c->tc = NULL;
	drop_spare(c);
	if (c->counted)
		sv_peerlimit_release(&peers, c->peer_key);
	if (c->fe != NULL && c->fe->on_free != NULL)
		c->fe->on_free(c);
	free(c->rbuf);
	free(c->first);
	free(c->big);
	release_hs(c);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	n_conns--;
	free(c);
	if (n_conns == 0) {
		free(read_buf);
		read_buf = NULL;
		read_buf_cap = 0;
	}
}

static void
on_handle_closed(uv_handle_t *h)
{
	struct sv_conn *c = h->data;

	if (--c->handles == 0)
		conn_free(c);
}

/* Stop everything that could call back into the handshake: reading, the timer, DNS. */
static void
stop_activity(struct sv_conn *c)
{
	if (c->reading) {
		uv_read_stop(&c->io.s);
		c->reading = false;
	}
	uv_timer_stop(&c->timer);
	sv_lookup_cancel(c->res);
	c->res = NULL;
}

/* Close both handles; the conn is freed when both close callbacks have run. With reset,
 * the client gets RST instead of FIN (the tunnel side was reset: a FIN would make a cut
 * transfer look complete to a client that reads until EOF). */
static void
conn_end(struct sv_conn *c, bool reset)
{
	if (c->closed)
		return;
	c->closed = true;
	stop_activity(c);
	conn_set_state(c, CONN_CLOSING);
	log_debug("conn %u: closed%s (%llu bytes up, %llu down)", c->id,
		reset ? " with reset" : "", (unsigned long long)c->up,
		(unsigned long long)c->down);
	/* uv_tcp_close_reset refuses a handle with a shutdown pending; FIN then. A Unix
	 * socket has no reset. */
	if (!reset || c->is_pipe || uv_tcp_close_reset(&c->io.tcp, on_handle_closed) != 0)
		uv_close(&c->io.h, on_handle_closed);
	if (c->has_out_io)
		uv_close(&c->out_io.h, on_handle_closed);
	uv_close((uv_handle_t *)&c->timer, on_handle_closed);
}

static void
conn_close(struct sv_conn *c)
{
	conn_end(c, false);
}

/* --- writing to the client ----------------------------------------------------------- */

static void on_write(uv_write_t *req, int status);

/* out[] is empty: writes the large reply (sv_conn_write_reply) with one uv_write. */
static void
flush_big(struct sv_conn *c)
{
	uv_buf_t b;
	int e;

	if (c->big == NULL || c->big_inflight)
		return;
	b = uv_buf_init((char *)c->big, (unsigned)c->big_len);
	c->w_out = 0;
	c->w_consume = 0;
	c->writing = true;
	c->big_inflight = true;
	if ((e = uv_write(&c->wreq, c->ws, &b, 1, on_write)) != 0) {
		c->writing = false;
		log_debug_r(e, "conn %u: write to client", c->id);
		conn_close(c);
	}
}

/* Writes out[] now as far as the socket takes it, the rest with one uv_write. */
static void
flush_out(struct sv_conn *c)
{
	uv_buf_t b;
	int w, e;

	if (c->closed || c->writing)
		return;
	if (c->out_len == 0) {
		flush_big(c);
		return;
	}
	b = uv_buf_init((char *)c->out, (unsigned)c->out_len);
	w = uv_try_write(c->ws, &b, 1);
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
	if ((e = uv_write(&c->wreq, c->ws, &b, 1, on_write)) != 0) {
		c->writing = false;
		log_debug_r(e, "conn %u: write to client", c->id);
		conn_close(c);
	}
}

/* see frontend.h */
int
sv_conn_write(struct sv_conn *c, const void *p, size_t n)
{
	if (c->closed)
		return SV_E_CLOSED;
	if (c->big != NULL) /* keep the order: after the large reply */
		return sv_conn_write_reply(c, p, n);
	if (n > OUT_MAX - c->out_len) {
		log_err("conn %u: reply queue overflow", c->id); /* our bug */
		conn_close(c);
		return SV_E_TOOBIG;
	}
	memcpy(c->out + c->out_len, p, n);
	c->out_len += n;
	flush_out(c);
	return c->closed ? SV_E_CLOSED : 0;
}

/* see frontend.h */
int
sv_conn_write_reply(struct sv_conn *c, const void *p, size_t n)
{
	uint8_t *nb;

	if (c->closed)
		return SV_E_CLOSED;
	if (c->big == NULL && n <= OUT_MAX - c->out_len)
		return sv_conn_write(c, p, n);
	if (c->big_inflight || n > REPLY_BIG_MAX - c->big_len) {
		log_err("conn %u: large reply queue overflow", c->id); /* our bug */
		conn_close(c);
		return SV_E_TOOBIG;
	}
	if ((nb = realloc(c->big, c->big_len + n)) == NULL) {
		log_warn("conn %u: out of memory for a reply", c->id);
		conn_close(c);
		return SV_E_NOMEM;
	}
	memcpy(nb + c->big_len, p, n);
	c->big = nb;
	c->big_len += n;
	flush_out(c);
	return c->closed ? SV_E_CLOSED : 0;
}

/* Ends the conn once what is in out[] has been written (bounded by CLOSE_GRACE_MS). */
static void
close_after_out(struct sv_conn *c)
{
	if (c->closed || c->close_after_out)
		return;
	stop_activity(c);
	conn_set_state(c, CONN_CLOSING);
	c->close_after_out = true;
	if (!c->writing && c->out_len == 0 && c->big == NULL) {
		conn_close(c);
		return;
	}
	uv_timer_start(&c->timer, on_timer, CLOSE_GRACE_MS, 0);
}

/* see frontend.h */
void
sv_conn_reply_and_close(struct sv_conn *c)
{
	close_after_out(c);
}

/* see frontend.h */
void
sv_conn_close(struct sv_conn *c)
{
	conn_close(c);
}

/* A failure before the relay started: log it, let the front-end answer, close. */
static void
conn_fail(struct sv_conn *c, int err, bool resolving)
{
	if (c->state == CONN_CLOSING)
		return;
	if (c->ip_text[0] != '\0' && c->dst.host != NULL)
		log_info_r(err, "conn %u: %s: %s %s (%s)", c->id, c->fe->name,
			resolving ? "resolve" : "connect", c->target, c->ip_text);
	else
		log_info_r(err, "conn %u: %s: %s %s%s", c->id, c->fe->name,
			resolving ? "resolve" : "connect", c->target,
			resolving && c->host_lookup ? " on this host (--resolve-local)" : "");
	if (!c->reply_sent) {
		c->reply_sent = true;
		if (c->fe->on_result != NULL)
			c->fe->on_result(c, err, resolving, NULL, 0);
	}
	close_after_out(c);
}

static void
on_write(uv_write_t *req, int status)
{
	struct sv_conn *c = req->handle->data;
	size_t consume = c->w_consume;

	c->writing = false;
	c->w_consume = 0;
	if (c->big_inflight) { /* freed here or, after uv_close, in conn_free */
		c->big_inflight = false;
		if (!c->closed) {
			free(c->big);
			c->big = NULL;
			c->big_len = 0;
		}
	}
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
		c->last_active = now_ms(c);
		sv_tcpconn_consume(c->tc, consume);
		if (c->closed)
			return;
	}
	flush_out(c);
	if (c->close_after_out) {
		if (!c->writing && c->out_len == 0 && c->big == NULL)
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
queue_to_client(struct sv_conn *c, const struct sv_iov *iov, int n, size_t skip)
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
	if ((e = uv_write(&c->wreq, c->ws, bufs, k, on_write)) != 0) {
		c->writing = false;
		c->w_consume = 0;
		log_debug_r(e, "conn %u: write to client", c->id);
		conn_close(c);
	}
}

static bool
can_pump(const struct sv_conn *c)
{
	return c->state == CONN_RELAY && !c->tc_dead && !c->writing &&
		c->out_len == 0 && c->big == NULL && !c->client_shut &&
		c->xdone == XDONE_NO;
}

/* pump_to_client through the front-end's down_filter: each segment is offered to it;
 * a run of segments it passes whole (and a last one passed in part) is written like
 * pump_to_client does; a segment it takes (first of a run only) is consumed unwritten;
 * a segment it passes nothing of stops the pump. */
/* Writes bufs (total bytes, peeked from the tcpconn as iov) to the client: what the
 * socket takes at once is consumed from the tcpconn, the rest becomes one outstanding
 * uv_write. True when all of it went out (the caller may peek again); false when it was
 * queued or the connection closed. */
static bool
write_to_client(struct sv_conn *c, const struct sv_iov *iov, uv_buf_t *bufs, int n,
	size_t total)
{
	int w = uv_try_write(c->ws, bufs, (unsigned)n);
	if (w == UV_EAGAIN || w == UV_ENOSYS)
		w = 0;
	if (w < 0) {
		log_debug_r(w, "conn %u: write to client", c->id);
		conn_close(c);
		return false;
	}
	if ((size_t)w < total) {
		queue_to_client(c, iov, n, (size_t)w);
		return false;
	}
	c->down += total;
	sv_tcpconn_consume(c->tc, total);
	return true;
}

static void
pump_filtered(struct sv_conn *c)
{
	struct sv_iov iov[PEEK_IOV];
	uv_buf_t bufs[PEEK_IOV];

	while (can_pump(c)) {
		int n = sv_tcpconn_peek(c->tc, iov, PEEK_IOV), k = 0;
		size_t total = 0;
		bool stop = false;

		if (n <= 0)
			break;
		c->last_active = now_ms(c);
		for (int i = 0; i < n && !stop; i++) {
			bool take = false;
			long m = c->fe->down_filter(c, iov[i].base, iov[i].len, &take);

			if (c->closed || c->state != CONN_RELAY)
				return;
			if (m < 0 || (take && k > 0)) {
				log_info("conn %u: %s: %s: the target's data cannot be relayed",
					c->id, c->fe->name, c->target);
				conn_end(c, true);
				return;
			}
			if ((size_t)m > iov[i].len)
				m = (long)iov[i].len;
			if (take) {
				if (m > 0)
					sv_tcpconn_consume(c->tc, (size_t)m);
				k = -1; /* peek again: the queue moved */
				break;
			}
			if (m > 0) {
				iov[k].base = iov[i].base;
				iov[k].len = (size_t)m;
				bufs[k] = uv_buf_init((char *)iov[i].base, (unsigned)m);
				total += (size_t)m;
				k++;
			}
			stop = (size_t)m < iov[i].len;
		}
		if (k < 0)
			continue;
		if (k == 0)
			break;
		if (!write_to_client(c, iov, bufs, k, total))
			return;
		if (stop)
			break;
	}
}

/* Moves received tunnel bytes to the client: uv_try_write straight from the tcpconn's
 * queue, the remainder as one outstanding uv_write. Safe against callbacks that the
 * tcpconn may run from inside sv_tcpconn_consume. */
static void
pump_to_client(struct sv_conn *c)
{
	struct sv_iov iov[PEEK_IOV];
	uv_buf_t bufs[PEEK_IOV];

	if (c->pumping)
		return;
	if (c->fe->down_filter != NULL) {
		c->pumping = true;
		pump_filtered(c);
		c->pumping = false;
		maybe_exchange_end(c);
		return;
	}
	c->pumping = true;
	while (can_pump(c)) {
		int n = sv_tcpconn_peek(c->tc, iov, PEEK_IOV);
		size_t total = 0;

		if (n <= 0)
			break;
		c->last_active = now_ms(c);
		for (int i = 0; i < n; i++) {
			bufs[i] = uv_buf_init((char *)iov[i].base, (unsigned)iov[i].len);
			total += iov[i].len;
		}
		if (!write_to_client(c, iov, bufs, n, total))
			break;
	}
	c->pumping = false;
}

/* The remote finished: pass the FIN on once everything before it is written. */
static void
on_client_shutdown(uv_shutdown_t *req, int status);

static void
maybe_shutdown_client(struct sv_conn *c)
{
	int e;

	if (c->state != CONN_RELAY || !c->remote_eof || c->client_shut ||
		c->xdone != XDONE_NO ||
		c->writing || c->out_len > 0 || c->big != NULL)
		return;
	c->client_shut = true;
	log_debug("conn %u: remote finished sending", c->id);
	if (c->is_stdio) {
		/* stdout cannot be half-closed: the remote's end is the end */
		conn_close(c);
		return;
	}
	if (c->tunnel_shut) {
		/* The client finished first (its EOF was read, so nothing is left unread and
		 * close sends FIN, not RST) and everything is written: close() ends both
		 * directions at once, without a shutdown() call first. */
		log_debug("conn %u: both directions finished", c->id);
		conn_close(c);
		return;
	}
	if ((e = uv_shutdown(&c->sreq, &c->io.s, on_client_shutdown)) != 0) {
		log_debug_r(e, "conn %u: shutdown to client", c->id);
		conn_close(c);
	}
}

static void
maybe_done(struct sv_conn *c)
{
	if (c->state == CONN_RELAY && c->tunnel_shut && c->client_shut_done) {
		log_debug("conn %u: both directions finished", c->id);
		conn_close(c);
	}
}

static void
on_client_shutdown(uv_shutdown_t *req, int status)
{
	struct sv_conn *c = req->handle->data;

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
start_reading(struct sv_conn *c)
{
	int e;

	if (c->reading || c->closed || c->client_eof)
		return;
	if ((e = uv_read_start(&c->io.s, on_alloc, on_read)) != 0) {
		log_debug_r(e, "conn %u: read from client", c->id);
		conn_close(c);
		return;
	}
	c->reading = true;
}

static void
stop_reading(struct sv_conn *c)
{
	if (c->reading) {
		uv_read_stop(&c->io.s);
		c->reading = false;
	}
}

/* Client finished sending and all its bytes are in the tcpconn: FIN to the remote. */
static void
tunnel_shutdown(struct sv_conn *c)
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
flush_to_tunnel(struct sv_conn *c)
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

/* Sets pend to client bytes (p: rbuf or hs), as far as the front-end lets them through.
 * The caller checks c->state afterwards. */
static void
set_client_pend(struct sv_conn *c, const uint8_t *p, size_t n)
{
	long ok = (long)n;

	if (c->up_dropping) {
		ok = 0;
	} else if (c->fe->up_filter != NULL && n > 0) {
		ok = c->fe->up_filter(c, p, n);
		if (ok < 0) {
			log_info("conn %u: %s: %s: the client's data cannot be relayed", c->id,
				c->fe->name, c->target);
			conn_close(c);
			return;
		}
		if ((size_t)ok > n)
			ok = (long)n;
		if ((size_t)ok < n && c->fe->down_filter != NULL) {
			c->up_dropping = true; /* reading stops; the rest waits */
			c->rest = p + ok;
			c->rest_len = n - (size_t)ok;
		} else if ((size_t)ok < n) {
			c->up_dropping = true;
			log_debug("conn %u: %s: dropping client bytes past the request",
				c->id, c->fe->name);
		}
	}
	c->pend = p;
	c->pend_len = (size_t)ok;
}

/* pend is empty: the next of the bytes queued before the relay started (send_first,
 * then the handshake leftovers), if any. */
static bool
next_pending(struct sv_conn *c)
{
	if (c->first != NULL) {
		free(c->first);
		c->first = NULL;
		c->first_len = 0;
		set_client_pend(c, c->hs, c->hs_len);
		c->hs_len = 0;
		c->pend_is_hs = true;
		if (c->state != CONN_RELAY)
			return false;
		if (c->pend_len > 0)
			return true;
	}
	if (c->pend_is_hs) {
		c->pend_is_hs = false;
		c->pend = NULL;
		if (c->rest_len == 0) /* else the next request's bytes are in hs */
			release_hs(c); /* a large HTTP head buffer is not kept for the relay */
	}
	return false;
}

/* Flushes pend; when it is empty, reads the client again (or passes its EOF on). */
static void
relay_client_data(struct sv_conn *c)
{
	flush_to_tunnel(c);
	while (c->state == CONN_RELAY && c->pend_len == 0 && next_pending(c))
		flush_to_tunnel(c);
	if (c->state != CONN_RELAY)
		return;
	if (c->pend_len > 0) {
		stop_reading(c); /* back-pressure until on_writable */
		return;
	}
	if (c->rbuf != NULL && c->rest_len == 0) { /* a leftover, all sent now */
		free(c->rbuf);
		c->rbuf = NULL;
	}
	if (c->client_eof)
		tunnel_shutdown(c);
	else if (c->up_dropping && c->fe->down_filter != NULL)
		stop_reading(c); /* the next request waits for the end of this exchange */
	else
		start_reading(c);
}

static void
arm_idle_timer(struct sv_conn *c, uint64_t after)
{
	if (c->cfg.idle_timeout_ms > 0)
		uv_timer_start(&c->timer, on_timer, after, 0);
}

static void
relay_start(struct sv_conn *c)
{
	c->last_active = now_ms(c);
	arm_idle_timer(c, c->cfg.idle_timeout_ms);
	if (c->first != NULL) {
		c->pend = c->first;
		c->pend_len = c->first_len;
	} else {
		/* Bytes the client sent after its request (optimistic data) go first. */
		set_client_pend(c, c->hs, c->hs_len);
		c->hs_len = 0;
		c->pend_is_hs = true;
	}
	relay_client_data(c);
	pump_to_client(c);
}

/* --- tcpconn callbacks --------------------------------------------------------------- */

/* Closes the parked connection, if any (never from inside its own callbacks). */
static void
drop_spare(struct sv_conn *c)
{
	sv_tcpconn_close(c->spare);
	c->spare = NULL;
	free(c->spare_target);
	c->spare_target = NULL;
}

/* An event on the parked spare (c->tc is NULL meanwhile): data nobody asked for, the
 * origin's FIN, or an error: it cannot serve another request. Closed later, outside
 * this callback. */
static bool
spare_event(struct sv_conn *c, const char *what)
{
	if (c->spare == NULL)
		return false;
	if (!c->spare_bad)
		log_debug("conn %u: idle connection to %s: %s; not reused", c->id,
			c->spare_target, what);
	c->spare_bad = true;
	return true;
}

static void
tc_connected(void *arg)
{
	struct sv_conn *c = arg;
	struct sv_ip bnd;
	uint16_t bport = 0;
	bool have;

	if (spare_event(c, "connected again"))
		return;
	if (c->state != CONN_CONNECTING)
		return;
	uv_timer_stop(&c->timer);
	have = sv_tcpconn_local(c->tc, &bnd, &bport);
	c->reply_sent = true;
	conn_set_state(c, CONN_RELAY);
	log_debug("conn %u: %s: connected to %s", c->id, c->fe->name, c->target);
	if (c->fe->on_result != NULL)
		c->fe->on_result(c, 0, false, have ? &bnd : NULL, have ? bport : 0);
	if (c->state != CONN_RELAY)
		return;
	relay_start(c);
}

static void
tc_readable(void *arg)
{
	struct sv_conn *c = arg;

	if (spare_event(c, "unexpected data"))
		return;
	if (c->state == CONN_RELAY)
		pump_to_client(c);
}

static void
tc_writable(void *arg)
{
	struct sv_conn *c = arg;

	if (c->spare != NULL)
		return;
	if (c->state == CONN_RELAY && c->pend_len > 0)
		relay_client_data(c);
}

static void
tc_eof(void *arg)
{
	struct sv_conn *c = arg;

	if (spare_event(c, "closed by the server"))
		return;
	if (c->reusing) {
		c->reuse_failed = true;
		return;
	}
	if (c->state != CONN_RELAY)
		return;
	c->remote_eof = true;
	maybe_shutdown_client(c);
}

static void
tc_error(void *arg, int err)
{
	struct sv_conn *c = arg;

	if (spare_event(c, sv_strerror(err)))
		return; /* dead: sv_tcpconn_close only frees it */
	c->tc_dead = true;
	if (c->reusing) {
		c->reuse_failed = true;
		return;
	}
	switch (c->state) {
	case CONN_CONNECTING:
		conn_fail(c, err, false);
		break;
	case CONN_RELAY:
		if (c->xdone == XDONE_NEXT)
			break; /* the exchange is over: the tcpconn goes at the restart */
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
connect_ip(struct sv_conn *c, const struct sv_ip *ip)
{
	uint64_t now = now_ms(c);
	unsigned left = c->deadline > now ? (unsigned)(c->deadline - now) : 1;
	struct sv_tcpconn *tc;
	int e;

	conn_set_state(c, CONN_CONNECTING);
	e = sv_tcpconn_connect(&tc, ip, c->dst.port, left, &tc_ops, c);
	if (e != 0) {
		conn_fail(c, e, false);
		return;
	}
	c->tc = tc;
}

static void
on_resolved(void *arg, int err, const struct sv_ip *ip)
{
	struct sv_conn *c = arg;
	struct sv_ip dst;

	c->res = NULL; /* finished: never cancel it now */
	if (c->state != CONN_RESOLVING)
		return;
	if (err != 0) {
		/* -ENOENT would print as "No such file or directory" */
		conn_fail(c, err == -ENOENT ? SV_E_NOTFOUND : err, true);
		return;
	}
	dst = *ip;
	sv_ip_format(&dst, c->ip_text, sizeof c->ip_text);
	log_debug("conn %u: %s is %s (%s)", c->id, c->host, c->ip_text,
		c->host_lookup ? "host resolver, --resolve-local" : "tunnel DNS");
	connect_ip(c, &dst);
}

static void
format_target(struct sv_conn *c)
{
	char ip[SV_IP_STRLEN];

	if (c->dst.host != NULL)
		snprintf(c->target, sizeof c->target, "%s%s%s:%u",
			strchr(c->host, ':') != NULL ? "[" : "", c->host,
			strchr(c->host, ':') != NULL ? "]" : "", (unsigned)c->dst.port);
	else if (c->dst.ip.family == 6)
		snprintf(c->target, sizeof c->target, "[%s]:%u",
			sv_ip_format(&c->dst.ip, ip, sizeof ip), (unsigned)c->dst.port);
	else
		snprintf(c->target, sizeof c->target, "%s:%u",
			sv_ip_format(&c->dst.ip, ip, sizeof ip), (unsigned)c->dst.port);
}

/* --max-conns-per-client: takes one of the client's slots for c; false when it has
 * none left (then the client got its refusal, with a warning at most every
 * LIMIT_LOG_MS, and c closes after it). */
static bool
take_client_slot(struct sv_conn *c)
{
	uint64_t now = now_ms(c);
	int e;

	if (c->counted || c->cfg.max_per_client == 0 || c->peer_key[0] == '\0')
		return true;
	e = sv_peerlimit_take(&peers, c->peer_key, c->cfg.max_per_client);
	if (e == 0) {
		c->counted = true;
		return true;
	}
	if (e == SV_CONN_E_LIMIT && limit_logged_at != 0 &&
		now - limit_logged_at < LIMIT_LOG_MS) {
		limit_unlogged++;
	} else if (e == SV_CONN_E_LIMIT) {
		char more[64] = "";
		if (limit_unlogged > 0)
			snprintf(more, sizeof more, " (%u more refused since the last "
				"message)", limit_unlogged);
		log_warn("conn %u: %s: client %s already has %u proxied connections, the "
			"limit (--max-conns-per-client %u): refusing %s; raise "
			"--max-conns-per-client if this client needs more%s", c->id,
			c->fe->name, c->peer_key, sv_peerlimit_count(&peers, c->peer_key),
			c->cfg.max_per_client, c->target, more);
		limit_logged_at = now != 0 ? now : 1;
		limit_unlogged = 0;
	} else {
		log_warn_r(e, "conn %u: counting the client's connections", c->id);
	}
	c->reply_sent = true;
	if (c->fe->on_result != NULL)
		c->fe->on_result(c, e, false, NULL, 0);
	close_after_out(c);
	return false;
}

/* The parked connection of the previous exchange serves this connect when it goes to
 * the same target, the front-end allowed it, and it is fresh and sound; otherwise it
 * is closed. true: c->tc is the spare and the timer finishes the "connect" at once. */
static bool
take_spare(struct sv_conn *c)
{
	bool ok;

	if (c->spare == NULL)
		return false;
	ok = c->may_reuse && !c->spare_bad && strcmp(c->spare_target, c->target) == 0 &&
		now_ms(c) - c->spare_at < SPARE_IDLE_MS && sv_tcpconn_pending(c->spare) == 0;
	if (!ok) {
		log_debug("conn %u: closing the idle connection to %s", c->id,
			c->spare_target);
		drop_spare(c);
		return false;
	}
	log_debug("conn %u: %s: reusing the connection to %s", c->id, c->fe->name,
		c->target);
	c->tc = c->spare;
	c->spare = NULL;
	free(c->spare_target);
	c->spare_target = NULL;
	c->reusing = true;
	conn_set_state(c, CONN_CONNECTING);
	c->deadline = now_ms(c) + c->cfg.connect_timeout_ms;
	uv_timer_start(&c->timer, on_timer, 0, 0);
	return true;
}

/* see frontend.h */
void
sv_conn_connect(struct sv_conn *c, const struct sv_conn_target *t)
{
	if (c->state != CONN_HANDSHAKE)
		return;
	/* Reading goes on while connecting: bytes the client sends meanwhile join the
	 * optimistic data in hs (on_read then stops). Stopping and restarting would cost
	 * two epoll_ctl calls per connection. */
	if (c->hs_len >= c->hs_cap)
		stop_reading(c);
	c->dst = *t;
	if (t->host != NULL) {
		snprintf(c->host, sizeof c->host, "%s", t->host);
		c->dst.host = c->host;
	}
	format_target(c);
	log_debug("conn %u: %s: %s -> %s", c->id, c->fe->name, c->peer, c->target);
	if (!take_client_slot(c))
		return;
	if (take_spare(c))
		return;
	start_connect(c);
}

/* The spare taken by take_spare is "connected" (from the timer): the relay starts on
 * it, or, if it ended in the meantime, a fresh connection is made. */
static void
reuse_connected(struct sv_conn *c)
{
	c->reusing = false;
	if (!c->reuse_failed) {
		tc_connected(c);
		return;
	}
	c->reuse_failed = false;
	log_debug("conn %u: the idle connection to %s ended meanwhile: connecting again",
		c->id, c->target);
	sv_tcpconn_close(c->tc);
	c->tc = NULL;
	c->tc_dead = false;
	start_connect(c);
}

/* Resolve the target if it is a name, then connect, bounded by the connect timeout. */
static void
start_connect(struct sv_conn *c)
{
	struct sv_lookup *res;
	char who[24];
	int e;

	c->deadline = now_ms(c) + c->cfg.connect_timeout_ms;
	uv_timer_start(&c->timer, on_timer, c->cfg.connect_timeout_ms, 0);
	if (c->dst.host == NULL) {
		connect_ip(c, &c->dst.ip);
		return;
	}
	conn_set_state(c, CONN_RESOLVING);
	c->host_lookup = sv_resolve_is_local(c->host);
	snprintf(who, sizeof who, "conn %u", c->id);
	e = sv_lookup(&res, c->io.h.loop, c->host, 0, who, on_resolved, c);
	if (e != 0) {
		conn_fail(c, e, true);
		return;
	}
	c->res = res;
}

/* see frontend.h */
void
sv_conn_hold(struct sv_conn *c, unsigned timeout_ms)
{
	if (c->state != CONN_HANDSHAKE || c->closed)
		return;
	c->held = true;
	uv_timer_stop(&c->timer);
	if (timeout_ms > 0)
		uv_timer_start(&c->timer, on_timer, timeout_ms, 0);
	log_debug("conn %u: %s: held (%u ms)", c->id, c->fe->name, timeout_ms);
}

/* see frontend.h */
bool
sv_conn_take_client_slot(struct sv_conn *c, const char *what)
{
	if (c->state != CONN_HANDSHAKE || c->closed)
		return false;
	snprintf(c->target, sizeof c->target, "%s", what);
	return take_client_slot(c);
}

/* see frontend.h */
void
sv_conn_attach(struct sv_conn *c, struct sv_tcpconn *tc)
{
	if (c->state != CONN_HANDSHAKE || !c->held || c->closed) {
		sv_tcpconn_abort(tc);
		return;
	}
	c->held = false;
	uv_timer_stop(&c->timer);
	c->tc = tc;
	sv_tcpconn_set_ops(tc, &tc_ops, c);
	c->reply_sent = true;
	c->hs_len = 0;
	conn_set_state(c, CONN_RELAY);
	relay_start(c);
}

/* see frontend.h */
bool
sv_conn_sockaddrs(const struct sv_conn *c, struct sockaddr_storage *peer,
	struct sockaddr_storage *local)
{
	int len;

	if (c->is_pipe || c->closed)
		return false;
	len = sizeof *peer;
	if (uv_tcp_getpeername(&c->io.tcp, (struct sockaddr *)peer, &len) != 0)
		return false;
	len = sizeof *local;
	return uv_tcp_getsockname(&c->io.tcp, (struct sockaddr *)local, &len) == 0;
}

/* see frontend.h */
unsigned
sv_conn_connect_timeout(const struct sv_conn *c)
{
	return c->cfg.connect_timeout_ms;
}

/* see frontend.h */
struct uv_loop_s *
sv_conn_loop(const struct sv_conn *c)
{
	return c->io.h.loop;
}

/* see frontend.h */
int
sv_conn_send_first(struct sv_conn *c, const void *p, size_t n)
{
	uint8_t *copy;

	if (n == 0)
		return 0;
	if ((copy = malloc(n)) == NULL)
		return SV_E_NOMEM;
	memcpy(copy, p, n);
	free(c->first);
	c->first = copy;
	c->first_len = n;
	return 0;
}

/* --- handshake ----------------------------------------------------------------------- */

/* Runs the front-end over the buffered bytes, then drops what it consumed. */
static void
handshake(struct sv_conn *c)
{
	struct sv_rd r = sv_rd_make(c->hs, c->hs_len);
	int e = 0;

	c->hs_moved = false;
	while (e == 0 && c->state == CONN_HANDSHAKE && !c->held) {
		const struct sv_frontend_ops *fe = c->fe;
		size_t off = (size_t)(r.p - c->hs), n = r.n;

		e = fe->on_data(c, &r);
		if (c->hs_moved) { /* a detector handed over to a front-end with more room */
			c->hs_moved = false;
			r = sv_rd_make(c->hs + off + (n - r.n), r.n);
		}
		if (e == 0 && r.n == n && c->fe == fe && c->state == CONN_HANDSHAKE &&
			!c->held) {
			log_err("conn %u: %s: handshake made no progress", c->id, fe->name);
			conn_close(c); /* our bug; never spin */
		}
	}
	if (c->closed)
		return;
	memmove(c->hs, r.p, r.n);
	/* consumed messages may have held a password */
	if (c->hs_len > r.n)
		explicit_bzero(c->hs + r.n, c->hs_len - r.n);
	c->hs_len = r.n;
	if (e == SV_E_INCOMPLETE && c->state == CONN_HANDSHAKE && c->hs_len == c->hs_cap) {
		log_info("conn %u: %s: %s: handshake longer than %zu bytes", c->id,
			c->fe->name, c->peer, c->hs_cap);
		conn_close(c);
	}
}

/* see frontend.h */
int
sv_conn_set_frontend(struct sv_conn *c, const struct sv_frontend_ops *fe)
{
	size_t want = fe->hs_max != 0 ? fe->hs_max : HS_INLINE;

	if (want > HS_LIMIT)
		want = HS_LIMIT;
	log_debug("conn %u: %s -> %s", c->id, c->fe != NULL ? c->fe->name : "-", fe->name);
	if (want > c->hs_cap) {
		uint8_t *b = malloc(want);
		if (b == NULL) {
			log_warn("conn %u: out of memory for the handshake", c->id);
			conn_close(c);
			return SV_E_NOMEM;
		}
		memcpy(b, c->hs, c->hs_len);
		release_hs(c);
		c->hs = b;
		c->hs_cap = want;
		c->hs_moved = true;
	}
	c->fe = fe;
	c->fe_step = 0;
	if (fe->on_accept != NULL)
		fe->on_accept(c);
	return c->closed ? SV_E_CLOSED : 0;
}

/* --- exchanges (the HTTP proxy's persistent client connections) ---------------------- */

/* see frontend.h */
void
sv_conn_exchange_done(struct sv_conn *c, bool keep)
{
	if (c->state != CONN_RELAY || c->xdone != XDONE_NO)
		return;
	c->xdone = keep ? XDONE_NEXT : XDONE_CLOSE;
	log_debug("conn %u: %s: exchange done (%s)", c->id, c->fe->name,
		keep ? "next request" : "closing");
}

/* see frontend.h */
void
sv_conn_exchange_reusable(struct sv_conn *c)
{
	if (c->state == CONN_RELAY && c->xdone == XDONE_NO)
		c->reusable = true;
}

/* see frontend.h */
void
sv_conn_allow_reuse(struct sv_conn *c)
{
	if (c->state == CONN_HANDSHAKE)
		c->may_reuse = true;
}

/* exchange_restart: park the ended exchange's target connection when it can serve
 * another request (the front-end said so and nothing is left over), else close it. */
static void
park_or_close_tc(struct sv_conn *c)
{
	if (c->reusable && !c->tc_dead && !c->remote_eof && !c->tunnel_shut &&
		sv_tcpconn_pending(c->tc) == 0 &&
		(c->spare_target = strdup(c->target)) != NULL) {
		c->spare = c->tc;
		c->spare_bad = false;
		c->spare_at = now_ms(c);
		log_debug("conn %u: keeping the connection to %s for the next request",
			c->id, c->target);
	} else {
		sv_tcpconn_close(c->tc); /* FIN, or RST if the target sent more */
	}
	c->tc = NULL;
}

/* Once the client has everything of an ended exchange: close, or (from the timer, so
 * outside every tcpconn callback) go back to the handshake. */
static void
maybe_exchange_end(struct sv_conn *c)
{
	if (c->closed || c->state != CONN_RELAY || c->xdone == XDONE_NO || c->writing ||
		c->out_len > 0 || c->big != NULL)
		return;
	if (c->xdone == XDONE_CLOSE) {
		conn_close(c);
		return;
	}
	uv_timer_start(&c->timer, on_timer, 0, 0);
}

static void
exchange_restart(struct sv_conn *c)
{
	size_t want = c->fe->hs_max != 0 ? c->fe->hs_max : HS_INLINE;
	size_t rest_len = c->rest_len;

	if (want > HS_LIMIT)
		want = HS_LIMIT;
	/* The client's next request may have arrived with part of its body (a POST sent
	 * as soon as the previous answer came): at most one read buffer (conn_buffer),
	 * already allocated per connection. The buffer then holds all of it; the
	 * front-end's parser bounds the head itself, and the rest goes upstream as the
	 * body when the relay starts. */
	if (rest_len > want)
		want = rest_len;
	/* request bytes not yet sent upstream, or a client that finished: no next
	 * request on this connection */
	if (c->pend_len > 0 || c->client_eof) {
		log_debug("conn %u: %s: no further request on this connection", c->id,
			c->fe->name);
		conn_close(c);
		return;
	}
	if (c->hs_cap < want) {
		uint8_t *b = malloc(want);
		if (b == NULL) {
			log_warn("conn %u: out of memory for the next request", c->id);
			conn_close(c);
			return;
		}
		if (rest_len > 0)
			memcpy(b, c->rest, rest_len);
		release_hs(c);
		c->hs = b;
		c->hs_cap = want;
	} else if (rest_len > 0) {
		memmove(c->hs, c->rest, rest_len);
	}
	c->hs_len = rest_len;
	free(c->rbuf);
	c->rbuf = NULL;
	park_or_close_tc(c);
	c->tc_dead = false;
	c->reusable = false;
	c->may_reuse = false;
	c->reusing = false;
	c->reuse_failed = false;
	c->tunnel_shut = false;
	c->remote_eof = false;
	c->up_dropping = false;
	c->pend = NULL;
	c->pend_len = 0;
	c->pend_is_hs = false;
	c->rest = NULL;
	c->rest_len = 0;
	c->reply_sent = false;
	c->xdone = XDONE_NO;
	memset(&c->dst, 0, sizeof c->dst);
	c->host[0] = '\0';
	c->host_lookup = false;
	c->target[0] = '\0';
	c->ip_text[0] = '\0';
	c->fe_step = 0;
	conn_set_state(c, CONN_HANDSHAKE);
	uv_timer_start(&c->timer, on_timer, HANDSHAKE_TIMEOUT_MS, 0);
	start_reading(c);
	if (!c->closed && c->hs_len > 0)
		handshake(c);
}

/* --- client socket callbacks --------------------------------------------------------- */

static void
on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct sv_conn *c = h->data;

	(void)suggested;
	*buf = uv_buf_init(NULL, 0); /* -> UV_ENOBUFS in on_read */
	if (c->state != CONN_RELAY) {
		if (c->hs_len < c->hs_cap)
			*buf = uv_buf_init((char *)c->hs + c->hs_len,
				(unsigned)(c->hs_cap - c->hs_len));
		return;
	}
	if (c->pend_len > 0)
		return; /* not reading while pend_len > 0; defensive */
	if (read_buf_cap < c->cfg.conn_buffer) {
		uint8_t *b = realloc(read_buf, c->cfg.conn_buffer);
		if (b == NULL)
			return;
		read_buf = b;
		read_buf_cap = c->cfg.conn_buffer;
	}
	*buf = uv_buf_init((char *)read_buf, (unsigned)c->cfg.conn_buffer);
}

static bool
in_read_buf(const uint8_t *p)
{
	return read_buf != NULL && p >= read_buf && p < read_buf + read_buf_cap;
}

/* on_read is over and read_buf is about to be reused: what the conn still needs of it
 * (pend, when lwIP took less; rest, the next request's bytes) moves to its own rbuf.
 * The two are adjacent (rest follows what up_filter let through). */
static void
keep_leftover(struct sv_conn *c)
{
	const uint8_t *from = NULL, *to = NULL;
	uint8_t *b;

	if (c->pend_len > 0 && in_read_buf(c->pend)) {
		from = c->pend;
		to = c->pend + c->pend_len;
	}
	if (c->rest_len > 0 && in_read_buf(c->rest)) {
		if (from == NULL)
			from = c->rest;
		to = c->rest + c->rest_len;
	}
	if (from == NULL)
		return;
	if ((b = malloc((size_t)(to - from))) == NULL) {
		log_warn("conn %u: out of memory for %zu bytes from the client", c->id,
			(size_t)(to - from));
		c->client_failed = true;
		conn_close(c);
		return;
	}
	memcpy(b, from, (size_t)(to - from));
	log_trace("conn %u: %zu client bytes wait for the tunnel", c->id, (size_t)(to - from));
	free(c->rbuf); /* nothing in it is in use: the client is read only when it is */
	c->rbuf = b;
	if (c->pend_len > 0 && in_read_buf(c->pend))
		c->pend = b + (c->pend - from);
	if (c->rest_len > 0 && in_read_buf(c->rest))
		c->rest = b + (c->rest - from);
}

static void
on_client_read_error(struct sv_conn *c, ssize_t nread)
{
	if (nread == UV_EOF && (c->state == CONN_RELAY || c->state == CONN_RESOLVING ||
		c->state == CONN_CONNECTING)) {
		/* libuv stopped reading on EOF. Before the relay, relay_client_data passes
		 * it on once the optimistic data is sent. */
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
	struct sv_conn *c = s->data;

	if (c->state == CONN_CLOSING || nread == 0)
		return;
	if (nread < 0) {
		on_client_read_error(c, nread);
		return;
	}
	if (c->state == CONN_RELAY) {
		c->last_active = now_ms(c);
		set_client_pend(c, (const uint8_t *)buf->base, (size_t)nread);
		relay_client_data(c);
		if (!c->closed)
			keep_leftover(c);
		return;
	}
	if (c->held) { /* a held conn's client has nothing to say: drop it */
		c->hs_len = 0;
		return;
	}
	c->hs_len += (size_t)nread;
	if (c->state != CONN_HANDSHAKE) {
		/* resolving or connecting: optimistic data, read once; the rest waits in the
		 * socket until the relay starts */
		stop_reading(c);
		return;
	}
	handshake(c);
}

/* RELAY: close after idle_timeout_ms without a byte either way. */
static void
check_idle(struct sv_conn *c)
{
	uint64_t idle = now_ms(c) - c->last_active;

	if (idle < c->cfg.idle_timeout_ms) {
		arm_idle_timer(c, c->cfg.idle_timeout_ms - idle);
		return;
	}
	log_info("conn %u: %s idle for %u s (--idle-timeout): closing", c->id, c->target,
		c->cfg.idle_timeout_ms / 1000);
	conn_close(c);
}

static void
on_timer(uv_timer_t *t)
{
	struct sv_conn *c = t->data;

	if (c->state == CONN_RELAY && c->xdone == XDONE_NEXT) {
		exchange_restart(c);
		return;
	}
	switch (c->state) {
	case CONN_HANDSHAKE:
		if (c->held) {
			conn_fail(c, -ETIMEDOUT, false);
			break;
		}
		log_info("conn %u: %s: %s: no complete request within %u ms", c->id,
			c->fe->name, c->peer, HANDSHAKE_TIMEOUT_MS);
		conn_close(c);
		break;
	case CONN_RESOLVING:
		conn_fail(c, -ETIMEDOUT, true);
		break;
	case CONN_CONNECTING:
		if (c->reusing) {
			reuse_connected(c);
			break;
		}
		conn_fail(c, -ETIMEDOUT, false);
		break;
	case CONN_RELAY:
		check_idle(c);
		break;
	case CONN_CLOSING:
		log_debug("conn %u: error reply not written in time", c->id);
		conn_close(c);
		break;
	}
}

/* --- accepting ----------------------------------------------------------------------- */

static struct sv_conn *
conn_new(const struct sv_proxy_config *cfg)
{
	struct sv_conn *c = calloc(1, sizeof *c);

	if (c == NULL)
		return NULL;
	c->id = ++next_id;
	c->cfg = *cfg;
	c->state = CONN_HANDSHAKE;
	c->io.h.data = c;
	c->timer.data = c;
	c->ws = &c->io.s;
	c->hs = c->hs_inline;
	c->hs_cap = HS_INLINE;
	snprintf(c->peer, sizeof c->peer, "?");
	c->next = conns;
	if (conns != NULL)
		conns->prev = c;
	conns = c;
	n_conns++;
	return c;
}

/* see conn.h */
int
sv_conn_accept(uv_stream_t *server, bool pipe, const struct sv_frontend_ops *fe,
	const struct sv_proxy_config *cfg, const char *listener)
{
	return sv_conn_accept_data(server, pipe, fe, NULL, cfg, listener);
}

/* Sets TCP_NODELAY on an accepted client unless it came with it from the listener
 * (listener.c sets it there; Linux passes it on, others may not): asked once, with
 * getsockopt on the first client, which saves a setsockopt per connection after. */
static void
set_nodelay(struct sv_conn *c)
{
	static int inherited = -1; /* not known yet */
	uv_os_fd_t fd;
	int v = 0;
	socklen_t len = sizeof v;

	if (inherited < 0 && uv_fileno(&c->io.h, &fd) == 0) {
		inherited = getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, &len) == 0 && v != 0;
		log_debug("conn %u: TCP_NODELAY %s from the listener", c->id,
			inherited ? "comes" : "does not come");
	}
	if (inherited != 1)
		uv_tcp_nodelay(&c->io.tcp, 1);
}

/* see conn.h */
int
sv_conn_accept_data(uv_stream_t *server, bool pipe, const struct sv_frontend_ops *fe,
	void *fe_data, const struct sv_proxy_config *cfg, const char *listener)
{
	struct sockaddr_storage ss;
	int len = sizeof ss;
	struct sv_conn *c;
	int e;

	if ((c = conn_new(cfg)) == NULL)
		return SV_E_NOMEM;
	/* Both inits cannot fail on a valid loop; the handles count from here. */
	c->is_pipe = pipe;
	if (pipe)
		uv_pipe_init(server->loop, &c->io.pipe, 0);
	else
		uv_tcp_init(server->loop, &c->io.tcp);
	c->io.h.data = c; /* the init cleared it */
	uv_timer_init(server->loop, &c->timer);
	c->handles = 2;
	c->fe = fe;
	c->fe_data = fe_data;
	if ((e = uv_accept(server, &c->io.s)) != 0) {
		log_warn_r(e, "listener %s: accept", listener);
		conn_close(c);
		return 0; /* nothing is left in the backlog for this call */
	}
	if (pipe) {
		snprintf(c->peer, sizeof c->peer, "unix");
		snprintf(c->peer_key, sizeof c->peer_key, "unix:%s", listener);
	} else {
		set_nodelay(c);
		if (uv_tcp_getpeername(&c->io.tcp, (struct sockaddr *)&ss, &len) == 0) {
			sv_conn_format_sockaddr(&ss, c->peer, sizeof c->peer);
			format_peer_key(&ss, c->peer_key, sizeof c->peer_key);
		}
	}
	log_trace("conn %u: accepted %s on %s", c->id, c->peer, listener);
	uv_timer_start(&c->timer, on_timer, HANDSHAKE_TIMEOUT_MS, 0);
	c->fe = NULL;
	if (sv_conn_set_frontend(c, fe) != 0)
		return 0;
	/* A front-end with a fixed target (a port forward) connects from on_accept; the
	 * client is then read only once the relay starts. */
	if (c->state == CONN_HANDSHAKE)
		start_reading(c);
	return 0;
}

/* --- stdio and reverse forwards ---------------------------------------------------- */

/* Opens fd as a stream for the relay: a terminal, or a pipe or socket (uv_pipe_open);
 * a regular file only for writing. The handle is initialised whatever happens, so the
 * caller can always uv_close it. */
static int
open_std(uv_loop_t *loop, int fd, bool readable, uv_pipe_t *pipe, uv_tty_t *tty)
{
	uv_handle_type t = uv_guess_handle(fd);

	if (t == UV_TTY && uv_tty_init(loop, tty, fd, readable) == 0)
		return 0;
	uv_pipe_init(loop, pipe, 0);
	if (t != UV_TTY && t != UV_NAMED_PIPE && t != UV_TCP && (readable || t != UV_FILE))
		return SV_E_INVAL;
	return uv_pipe_open(pipe, fd);
}

/* see conn.h */
int
sv_conn_open_stdio(uv_loop_t *loop, int in_fd, int out_fd, const struct sv_frontend_ops *fe,
	void *fe_data, const struct sv_proxy_config *cfg)
{
	struct sv_conn *c;
	int e1, e2;

	if ((c = conn_new(cfg)) == NULL)
		return SV_E_NOMEM;
	c->is_pipe = true;
	c->is_stdio = true;
	uv_timer_init(loop, &c->timer);
	e1 = open_std(loop, in_fd, true, &c->io.pipe, &c->io.tty);
	e2 = open_std(loop, out_fd, false, &c->out_io.pipe, &c->out_io.tty);
	c->io.h.data = c;
	c->out_io.h.data = c;
	c->has_out_io = true;
	c->ws = &c->out_io.s;
	c->handles = 3;
	snprintf(c->peer, sizeof c->peer, "stdio");
	if (e1 != 0 || e2 != 0) {
		conn_close(c); /* fe is still NULL: no on_free */
		return e1 != 0 ? e1 : e2;
	}
	c->fe_data = fe_data;
	uv_timer_start(&c->timer, on_timer, HANDSHAKE_TIMEOUT_MS, 0);
	if (sv_conn_set_frontend(c, fe) != 0)
		return 0; /* closed; on_free ran or runs */
	if (c->state == CONN_HANDSHAKE)
		start_reading(c);
	return 0;
}

static void
on_local_connected(uv_connect_t *req, int status)
{
	struct sv_conn *c = req->data;

	if (c->closed || c->state != CONN_CONNECTING)
		return;
	if (status < 0) {
		log_info_r(status, "conn %u: %s: %s -> %s", c->id, c->fe->name, c->peer,
			c->target);
		conn_close(c); /* client_failed: the remote peer gets RST */
		return;
	}
	uv_timer_stop(&c->timer);
	uv_tcp_nodelay(&c->io.tcp, 1);
	c->client_failed = false;
	c->reply_sent = true;
	conn_set_state(c, CONN_RELAY);
	log_debug("conn %u: %s: %s connected to %s", c->id, c->fe->name, c->peer, c->target);
	sv_tcpconn_set_ops(c->tc, &tc_ops, c);
	relay_start(c);
}

/* see conn.h */
int
sv_conn_reverse(uv_loop_t *loop, struct sv_tcpconn *tc, const struct sockaddr *dst,
	const struct sv_frontend_ops *fe, const struct sv_proxy_config *cfg)
{
	struct sockaddr_storage ss;
	struct sv_ip ip;
	uint16_t port = 0;
	char text[SV_IP_STRLEN];
	struct sv_conn *c;
	int e;

	if ((c = conn_new(cfg)) == NULL) {
		sv_tcpconn_abort(tc);
		return SV_E_NOMEM;
	}
	uv_tcp_init(loop, &c->io.tcp);
	uv_timer_init(loop, &c->timer);
	c->io.h.data = c;
	c->handles = 2;
	c->fe = fe;
	c->tc = tc;
	c->is_reverse = true;
	c->client_failed = true; /* until the local connect succeeds: RST the peer */
	if (sv_tcpconn_peer(tc, &ip, &port))
		snprintf(c->peer, sizeof c->peer, ip.family == 6 ? "[%s]:%u" : "%s:%u",
			sv_ip_format(&ip, text, sizeof text), (unsigned)port);
	memset(&ss, 0, sizeof ss);
	memcpy(&ss, dst, dst->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) :
		sizeof(struct sockaddr_in));
	sv_conn_format_sockaddr(&ss, c->target, sizeof c->target);
	conn_set_state(c, CONN_CONNECTING);
	c->deadline = now_ms(c) + c->cfg.connect_timeout_ms;
	uv_timer_start(&c->timer, on_timer, c->cfg.connect_timeout_ms, 0);
	log_debug("conn %u: %s: %s -> %s", c->id, fe->name, c->peer, c->target);
	c->creq.data = c;
	if ((e = uv_tcp_connect(&c->creq, &c->io.tcp, dst, on_local_connected)) != 0) {
		log_info_r(e, "conn %u: %s: connect %s", c->id, fe->name, c->target);
		conn_close(c);
	}
	return 0;
}

/* see conn.h */
size_t
sv_conn_count(void)
{
	return n_conns;
}

/* see conn.h */
void
sv_conn_close_all(void)
{
	/* conn_close frees nothing synchronously, so the list stays walkable. */
	for (struct sv_conn *c = conns; c != NULL; c = c->next)
		conn_close(c);
}

/* --- accessors for the front-ends ---------------------------------------------------- */

/* see frontend.h */
unsigned
sv_conn_step(const struct sv_conn *c)
{
	return c->fe_step;
}

/* see frontend.h */
void
sv_conn_set_step(struct sv_conn *c, unsigned step, const char *const *names)
{
	if (c->fe_step == step)
		return;
	if (names != NULL)
		log_debug("conn %u: %s: %s -> %s", c->id, c->fe->name, names[c->fe_step],
			names[step]);
	c->fe_step = step;
}

/* see frontend.h */
void *
sv_conn_data(const struct sv_conn *c)
{
	return c->fe_data;
}

/* see frontend.h */
void
sv_conn_set_data(struct sv_conn *c, void *p)
{
	c->fe_data = p;
}

/* see frontend.h */
unsigned
sv_conn_id(const struct sv_conn *c)
{
	return c->id;
}

/* see frontend.h */
const char *
sv_conn_peer(const struct sv_conn *c)
{
	return c->peer;
}

/* see frontend.h */
const char *
sv_conn_target_text(const struct sv_conn *c)
{
	return c->target;
}

/* see frontend.h */
bool
sv_conn_resolved_on_host(const struct sv_conn *c)
{
	return c->host_lookup;
}

/* see frontend.h */
bool
sv_conn_is_closing(const struct sv_conn *c)
{
	return c->state == CONN_CLOSING;
}

/* see frontend.h */
bool
sv_ct_equal(const void *a, size_t alen, const void *b, size_t blen)
{
	uint8_t x[256] = { 0 }, y[256] = { 0 };
	volatile uint8_t diff = 0;

	if (alen > 255 || blen > 255)
		return false;
	memcpy(x, a, alen);
	memcpy(y, b, blen);
	for (size_t i = 0; i < sizeof x; i++)
		diff |= (uint8_t)(x[i] ^ y[i]);
	diff |= (uint8_t)(alen ^ blen);
	explicit_bzero(x, sizeof x);
	explicit_bzero(y, sizeof y);
	return diff == 0;
}

/* see frontend.h */
bool
sv_conn_auth_required(const struct sv_conn *c)
{
	return c->cfg.user != NULL;
}

/* see frontend.h */
bool
sv_conn_auth_check(const struct sv_conn *c, const char *user, size_t ulen,
	const char *pass, size_t plen)
{
	const char *u = c->cfg.user, *p = c->cfg.password;
	bool ok;

	if (u == NULL)
		return true;
	/* Both compared, always: the time does not say which one was wrong. */
	ok = sv_ct_equal(user, ulen, u, strlen(u));
	ok &= sv_ct_equal(pass, plen, p, strlen(p));
	return ok;
}
