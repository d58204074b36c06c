/*
 * One client connection of the test hub: TLS (BearSSL server engine pumped on libuv),
 * the two handshake POSTs, then the data phase (spec sections 3, 6-8, 10, 11).
 *
 * States (conn_set_state logs each transition):
 *   ST_SIGNATURE  TLS handshake, then POST /vpnsvc/connect.cgi -> hello PACK
 *   ST_LOGIN      POST /vpnsvc/vpn.cgi PACK -> welcome (new session, -> ST_DATA),
 *                 additional_connect -> {error 0, direction 0} (attached to the session
 *                 of the key, -> ST_DATA), error PACK (-> ST_CLOSING), noop (stays)
 *   ST_DATA       block messages both ways, frames to and from the session (sess.c);
 *                 keep-alive on start and every ~5 s; closed after timeout_ms without a
 *                 byte from the client
 *   ST_CLOSING    queued bytes go out, then close_notify, then the socket closes
 *   ST_DEAD       socket closing; freed in the close callback
 * Fault injection (hub.h struct hub_faults) lives here where it concerns one connection:
 * the drop trigger (bytes or time; FIN, RST, or a malformed block instead), the slow
 * TLS handshake, and the malformed hello and welcome.
 * Invariants: c->sess != NULL exactly while c is attached (ST_DATA). app_out holds plaintext for the client; only its first
 * sv_tunnel_ready() bytes are complete messages and may be handed to the engine.
 * rbuf holds record bytes read from the socket and not yet taken by the engine.
 */
#define SV_LOG_MODULE "conn"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/err.h"
#include "core/http.h"
#include "core/log.h"
#include "core/pack.h"
#include "core/tunnel.h"
#include "platform/platform.h"
#include "server.h"

#define APP_IN_MAX (HUB_HTTP_HEADER_MAX + 65536u + 64u)
#define APP_OUT_MAX (4u << 20)
#define SIG_BODY_MIN 1411u /* the watermark blob (spec section 4) */
#define SIG_BODY_MAX (1411u + 2000u)
#define MAX_REQUESTS 19
#define KEEPALIVE_MS 5000u
#define CLOSE_GRACE_MS 3000u
#define HANDSHAKE_LIMIT_MS 30000u
#define BAD_BLOCK_DEFAULT_MS 1000u /* malformed block without a drop trigger: after 1 s */

/* SHA-256 of the 1411-byte watermark (spec section 4): we check the hash, not the blob. */
static const uint8_t watermark_sha256[32] = { 0x96, 0xa7, 0x06, 0xbb, 0xab, 0x37, 0x8e, 0xc3,
	0x7d, 0xfe, 0xf2, 0x1e, 0x02, 0xb1, 0xa3, 0xc1, 0x77, 0xfb, 0xeb, 0xef, 0xfa, 0x03, 0x9e,
	0xb0, 0xef, 0xac, 0x91, 0x86, 0x30, 0xdf, 0x12, 0xa0 };

enum conn_state { ST_SIGNATURE, ST_LOGIN, ST_DATA, ST_CLOSING, ST_DEAD };
static const char *const state_names[] = { "signature", "login", "data", "closing", "dead" };

struct hub_conn {
	struct hub *hub;
	struct hub_conn *next;
	unsigned id;
	enum conn_state state;
	uv_tcp_t tcp;
	uv_timer_t timer; /* keep-alive / idle / handshake / close grace */
	uv_timer_t fault_timer;
	unsigned open_handles;
	bool reading, writing, eof, close_sent, abort_pending;
	bool orderly;     /* the client's close_notify arrived */
	bool fault_fired; /* the drop trigger has fired on this connection */
	bool held;        /* slow TLS fault: not read or pumped yet */
	br_ssl_server_context sc;
	uint8_t iobuf[BR_SSL_BUFSIZE_BIDI];
	uint8_t rbuf[16384];
	size_t rlen;
	struct sv_buf app_in, app_out;
	struct sv_tunnel_rx trx;
	struct sv_tunnel_tx ttx;
	uint8_t random[20];
	unsigned requests;
	struct hub_sess *sess;
	uint64_t last_rx_ms, last_ka_ms, data_bytes_out;
};

static void conn_pump(struct hub_conn *c);
static void conn_abort(struct hub_conn *c, bool rst, const char *why);

static uint64_t
now_ms(const struct hub_conn *c)
{
	return uv_now(c->hub->loop);
}

static void
conn_set_state(struct hub_conn *c, enum conn_state st)
{
	if (c->state == st)
		return;
	log_debug("conn %u: %s -> %s", c->id, state_names[c->state], state_names[st]);
	c->state = st;
}

/* --- teardown ------------------------------------------------------------------- */

static void
conn_unlink(struct hub_conn *c)
{
	for (struct hub_conn **pp = &c->hub->conns; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			return;
		}
}

static void
conn_handle_closed(uv_handle_t *h)
{
	struct hub_conn *c = h->data;
	if (--c->open_handles > 0)
		return;
	sv_buf_cleanup(&c->app_in);
	sv_buf_cleanup(&c->app_out);
	explicit_bzero(c, sizeof *c);
	free(c);
}

/* Leaves the session; abrupt = without the client's close_notify. */
static void
conn_end_session(struct hub_conn *c, bool abrupt)
{
	struct hub_sess *s = c->sess;
	if (s == NULL)
		return;
	c->sess = NULL;
	log_info("conn %u: left session %s (%s)", c->id, s->name,
		abrupt ? "abrupt" : "close_notify");
	hub_sess_detach(s, c, abrupt);
}

/* Closes the socket now (FIN, or RST when rst); the object goes in the close callbacks. */
static void
conn_destroy(struct hub_conn *c, bool rst)
{
	if (c->state == ST_DEAD)
		return;
	conn_set_state(c, ST_DEAD);
	conn_end_session(c, !c->orderly);
	conn_unlink(c);
	if (rst)
		uv_tcp_close_reset(&c->tcp, conn_handle_closed);
	else
		uv_close((uv_handle_t *)&c->tcp, conn_handle_closed);
	uv_close((uv_handle_t *)&c->timer, conn_handle_closed);
	uv_close((uv_handle_t *)&c->fault_timer, conn_handle_closed);
}

/* Abrupt end without close_notify, as the real server does on a dead session. */
static void
conn_abort(struct hub_conn *c, bool rst, const char *why)
{
	if (c->state == ST_DEAD)
		return;
	log_info("conn %u: %s: closing (%s)", c->id, why, rst ? "RST" : "FIN");
	conn_end_session(c, !c->orderly);
	if (c->writing && !rst) {
		c->abort_pending = true; /* after the queued write */
		conn_set_state(c, ST_CLOSING);
		return;
	}
	conn_destroy(c, rst);
}

static void
on_close_grace(uv_timer_t *t)
{
	conn_abort(t->data, false, "no close_notify from the client");
}

/* Orderly end: queued bytes, then close_notify, then the socket. */
static void
conn_close(struct hub_conn *c, const char *why)
{
	if (c->state >= ST_CLOSING)
		return;
	log_debug("conn %u: closing: %s", c->id, why);
	conn_end_session(c, false);
	conn_set_state(c, ST_CLOSING);
	uv_timer_start(&c->timer, on_close_grace, CLOSE_GRACE_MS, 0);
}

/* --- handshake replies ------------------------------------------------------------ */

static int
send_http(struct hub_conn *c, unsigned status, const char *reason)
{
	static const char body[] = "<html><body>sevpn-testhub</body></html>\n";
	return hub_http_write_response(&c->app_out, status, reason, "text/html",
		(const uint8_t *)body, sizeof body - 1);
}

/* Fault HUB_BAD_WELCOME_DUP: one more element with the name of an existing one. */
static int
add_duplicate_element(struct sv_buf *body)
{
	size_t len;
	const uint8_t *b = sv_buf_peek(body, &len);
	if (len < 4)
		return SV_E_INTERNAL;
	uint32_t n = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
	sv_buf_set_u32_at(body, 0, n + 1);
	int r;
	if ((r = sv_buf_put_u32(body, sizeof "timeout")) != 0 ||
		(r = sv_buf_put_str(body, "timeout")) != 0 ||
		(r = sv_buf_put_u32(body, SV_PACK_INT)) != 0 || (r = sv_buf_put_u32(body, 1)) != 0)
		return r;
	return sv_buf_put_u32(body, 30000);
}

/* Encodes p as the body of a 200 response; adds `pencore` padding as the server does.
 * bad: HUB_BAD_HELLO_TRUNCATED cuts the body short, HUB_BAD_WELCOME_DUP adds a
 * duplicate element; others are ignored here. */
static int
send_pack_bad(struct hub_conn *c, struct sv_pack *p, enum hub_malformed bad)
{
	uint8_t pad[64];
	uint8_t n;
	struct sv_buf body;
	int r;
	if (sv_random(&n, 1) != 0 || sv_random(pad, sizeof pad) != 0)
		return SV_E_INTERNAL;
	if ((r = sv_pack_add_data(p, "pencore", pad, n % sizeof pad)) != 0)
		return r;
	sv_buf_init(&body, SV_PACK_MAX_BYTES);
	if ((r = sv_pack_encode(p, &body)) == 0 && bad == HUB_BAD_WELCOME_DUP)
		r = add_duplicate_element(&body);
	if (r == 0) {
		size_t len;
		const uint8_t *b = sv_buf_peek(&body, &len);
		if (bad == HUB_BAD_HELLO_TRUNCATED)
			len = len / 2; /* mid-element */
		r = hub_http_write_response(&c->app_out, 200, "OK", "application/octet-stream", b,
			len);
	}
	sv_buf_cleanup(&body);
	return r;
}

static int
send_pack(struct hub_conn *c, struct sv_pack *p)
{
	return send_pack_bad(c, p, HUB_BAD_NONE);
}

static void
send_error_pack(struct hub_conn *c, unsigned code)
{
	struct sv_pack p;
	sv_pack_init(&p);
	if (sv_pack_add_int(&p, "error", code) == 0 && sv_pack_add_int(&p, "no_save_password", 0) == 0)
		(void)send_pack(c, &p);
	sv_pack_cleanup(&p);
	log_info("conn %u: login refused with error %u (%s)", c->id, code,
		sv_softether_err_name(code));
	conn_close(c, "error sent");
}

static int
send_hello(struct hub_conn *c)
{
	enum hub_malformed bad = c->hub->cfg->faults.malformed;
	struct sv_pack p;
	int r;
	sv_pack_init(&p);
	if (bad == HUB_BAD_HELLO_RANDOM19 || bad == HUB_BAD_HELLO_TRUNCATED)
		log_info("conn %u: fault: %s", c->id, hub_malformed_name(bad));
	if ((r = sv_random(c->random, sizeof c->random)) == 0 &&
		(r = sv_pack_add_str(&p, "hello",
			 "SoftEther VPN Server (sevpn-testhub test server)")) == 0 &&
		(r = sv_pack_add_int(&p, "version", 501)) == 0 &&
		(r = sv_pack_add_int(&p, "build", 9674)) == 0 &&
		(r = sv_pack_add_data(&p, "random", c->random,
			 sizeof c->random - (bad == HUB_BAD_HELLO_RANDOM19))) == 0)
		r = send_pack_bad(c, &p, bad);
	sv_pack_cleanup(&p);
	return r;
}

/* --- data phase --------------------------------------------------------------------- */

/* see server.h */
void
hub_conn_send_frame(struct hub_conn *c, const uint8_t *f, size_t n)
{
	if (c->state != ST_DATA)
		return;
	if (sv_tunnel_put_frame(&c->ttx, &c->app_out, f, n) != 0)
		log_trace("conn %u: output queue full, frame dropped", c->id);
}

/* see server.h */
size_t
hub_conn_queued(const struct hub_conn *c)
{
	return sv_buf_len(&c->app_out);
}

/* see server.h */
void
hub_conn_kill(struct hub_conn *c, const char *why)
{
	c->sess = NULL; /* the session let go of c already */
	conn_abort(c, false, why);
}

static void
on_tunnel_frame(void *arg, const uint8_t *frame, size_t len)
{
	struct hub_conn *c = arg;
	if (c->sess != NULL)
		hub_sess_input(c->sess, frame, len);
}

static void
send_keepalive(struct hub_conn *c)
{
	uint8_t pay[64], n;
	if (sv_random(&n, 1) != 0 || sv_random(pay, sizeof pay) != 0)
		return;
	(void)sv_tunnel_put_keepalive(&c->ttx, &c->app_out, pay, n % sizeof pay);
	c->last_ka_ms = now_ms(c);
}

static void
on_data_timer(uv_timer_t *t)
{
	struct hub_conn *c = t->data;
	uint64_t now = now_ms(c);
	if (c->state != ST_DATA)
		return;
	if (now - c->last_rx_ms >= c->hub->cfg->timeout_ms) {
		conn_abort(c, false, "client silent for the session timeout");
		return;
	}
	uint32_t ka = c->hub->cfg->timeout_ms / 4;
	if (now - c->last_ka_ms >= (ka < KEEPALIVE_MS ? ka : KEEPALIVE_MS))
		send_keepalive(c);
}

/* Fault HUB_BAD_BLOCK_3201 / HUB_BAD_KEEPALIVE_513: a message the client must reject. */
static void
send_bad_block(struct hub_conn *c, enum hub_malformed bad)
{
	static const uint8_t zeros[3201];
	uint32_t len = bad == HUB_BAD_BLOCK_3201 ? 3201 : 513;
	sv_tunnel_flush(&c->ttx, &c->app_out);
	if (sv_buf_put_u32(&c->app_out, bad == HUB_BAD_BLOCK_3201 ? 1 : SV_TUNNEL_KEEPALIVE_MAGIC) ||
		sv_buf_put_u32(&c->app_out, len) || sv_buf_put(&c->app_out, zeros, len))
		log_warn("conn %u: no room for the malformed block", c->id);
}

/* The drop trigger (bytes or time) has come: drop the connection, or send a malformed
 * block. Returns true when the connection is going away. */
static bool
fault_trigger(struct hub_conn *c, const char *what)
{
	const struct hub_faults *f = &c->hub->cfg->faults;
	if (c->fault_fired || c->state != ST_DATA)
		return false;
	c->fault_fired = true;
	if (f->malformed == HUB_BAD_BLOCK_3201 || f->malformed == HUB_BAD_KEEPALIVE_513) {
		log_info("conn %u: fault: %s after %s", c->id, hub_malformed_name(f->malformed),
			what);
		send_bad_block(c, f->malformed);
		return false;
	}
	bool rst = f->drop_alternate ? c->hub->drops % 2 == 1 : f->drop_rst;
	c->hub->drops++;
	char why[64];
	snprintf(why, sizeof why, "fault: drop after %s", what);
	conn_abort(c, rst, why);
	return true;
}

static void
on_fault_timer(uv_timer_t *t)
{
	fault_trigger(t->data, "time");
}

/* Data phase for c, in session s (new or attached). */
static void
conn_enter_data(struct hub_conn *c, struct hub_sess *s)
{
	const struct hub_faults *f = &c->hub->cfg->faults;
	c->sess = s;
	conn_set_state(c, ST_DATA);
	sv_tunnel_rx_init(&c->trx);
	sv_tunnel_tx_init(&c->ttx);
	c->last_rx_ms = now_ms(c);
	send_keepalive(c); /* spec 11.2: one right at the start */
	uv_timer_start(&c->timer, on_data_timer, 250, 250);
	bool bad_block = f->malformed == HUB_BAD_BLOCK_3201 || f->malformed == HUB_BAD_KEEPALIVE_513;
	if (f->drop_after_ms)
		uv_timer_start(&c->fault_timer, on_fault_timer, f->drop_after_ms, 0);
	else if (bad_block && !f->drop_after_bytes)
		uv_timer_start(&c->fault_timer, on_fault_timer, BAD_BLOCK_DEFAULT_MS, 0);
}

static int
start_session(struct hub_conn *c, const struct hub_login_result *res)
{
	struct hub *h = c->hub;
	const struct hub_config *cfg = h->cfg;
	enum hub_malformed bad = cfg->faults.malformed;
	uint32_t key32;
	struct sv_pack p;
	int r;
	if (h->sessions >= cfg->max_sessions) {
		send_error_pack(c, 16); /* HUB_IS_BUSY */
		return 0;
	}
	if (bad == HUB_BAD_WELCOME_HUGE) {
		/* a Content-Length past what the client accepts: the header is enough */
		log_info("conn %u: fault: %s", c->id, hub_malformed_name(bad));
		r = sv_buf_put_str(&c->app_out, "HTTP/1.1 200 OK\r\nContent-Type: "
						"application/octet-stream\r\nContent-Length: 2097152\r\n\r\n");
		conn_close(c, "fault sent");
		return r;
	}
	struct hub_sess *s = hub_sess_new(h, res, c->id);
	if (s == NULL) {
		send_error_pack(c, 23); /* INTERNAL_ERROR */
		return 0;
	}
	sv_pack_init(&p);
	if ((r = sv_random(&key32, sizeof key32)) == 0 &&
		(r = hub_login_welcome(cfg, res, c->id, s->key, key32, &p)) == 0)
		r = send_pack_bad(c, &p, bad == HUB_BAD_WELCOME_DUP ? bad : HUB_BAD_NONE);
	sv_pack_cleanup(&p);
	if (bad == HUB_BAD_WELCOME_DUP)
		log_info("conn %u: fault: %s", c->id, hub_malformed_name(bad));
	(void)hub_sess_attach(s, c);
	conn_enter_data(c, s);
	log_info("conn %u: session for %s up: %s, max_connection %u%s", c->id, res->user, s->name,
		s->max_connection, res->qos ? ", qos" : "");
	return r;
}

/* Spec 12: joins the session of the key. */
static int
attach_session(struct hub_conn *c, const struct hub_login_result *res)
{
	struct hub_sess *s = hub_sess_find(c->hub, res->session_key);
	if (s == NULL) {
		send_error_pack(c, 13); /* SESSION_TIMEOUT: unknown or ended */
		return 0;
	}
	unsigned err = hub_sess_attach(s, c);
	if (err != 0) {
		send_error_pack(c, err);
		return 0;
	}
	struct sv_pack p;
	int r;
	sv_pack_init(&p);
	if ((r = sv_pack_add_int(&p, "error", 0)) == 0 &&
		(r = sv_pack_add_int(&p, "direction", 0)) == 0)
		r = send_pack(c, &p);
	sv_pack_cleanup(&p);
	conn_enter_data(c, s);
	log_info("conn %u: additional connection %zu of session %s", c->id, s->n_conns, s->name);
	return r;
}

/* --- HTTP requests ------------------------------------------------------------------ */

static bool
body_is_signature(const uint8_t *b, size_t n)
{
	if (n == 10)
		return memcmp(b, "VPNCONNECT", 10) == 0;
	if (n < SIG_BODY_MIN)
		return false;
	br_sha256_context h;
	uint8_t d[32];
	br_sha256_init(&h);
	br_sha256_update(&h, b, SIG_BODY_MIN);
	br_sha256_out(&h, d);
	return memcmp(d, watermark_sha256, 32) == 0;
}

/* Spec 3.1. Returns 0 or an error that ends the connection. */
static int
on_signature(struct hub_conn *c, const struct hub_http_req *req, const uint8_t *body)
{
	size_t n = req->content_length;
	if (strcasecmp(req->target, SV_HTTP_PATH_SIGNATURE) != 0)
		return send_http(c, 404, "Not Found");
	if (!body_is_signature(body, n))
		return send_http(c, 403, "Forbidden");
	int r = send_hello(c);
	if (r == 0)
		conn_set_state(c, ST_LOGIN);
	return r;
}

/* Spec 3.3 and 7. */
static int
on_login(struct hub_conn *c, const struct hub_http_req *req, const uint8_t *body)
{
	struct sv_pack p;
	struct hub_login_result res;
	sv_pack_init(&p);
	if (strcasecmp(req->target, SV_HTTP_PATH_PACK) != 0 || strcmp(req->version, "HTTP/1.1") != 0 ||
		strcasecmp(req->content_type, "application/octet-stream") != 0 ||
		req->content_length < 1 || req->content_length > 65536 ||
		sv_pack_decode(&p, body, req->content_length) != 0) {
		sv_pack_cleanup(&p);
		send_error_pack(c, 3);
		return 0;
	}
	hub_login_check(c->hub->cfg, &p, c->random, &res);
	sv_pack_cleanup(&p);
	if (res.noop) {
		struct sv_pack a;
		sv_pack_init(&a);
		int r = sv_pack_add_int(&a, "error", 0);
		if (r == 0 && (r = sv_pack_add_int(&a, "noop", 1)) == 0)
			r = send_pack(c, &a);
		sv_pack_cleanup(&a);
		return r;
	}
	if (res.error != 0) {
		send_error_pack(c, res.error);
		return 0;
	}
	if (res.additional)
		return attach_session(c, &res);
	return start_session(c, &res);
}

/* Handles every complete request in app_in. */
static int
process_requests(struct hub_conn *c)
{
	while (c->state == ST_SIGNATURE || c->state == ST_LOGIN) {
		size_t n;
		const uint8_t *p = sv_buf_peek(&c->app_in, &n);
		struct hub_http_req req;
		int r = hub_http_parse_request(p, n, &req);
		if (r == SV_E_INCOMPLETE)
			return 0;
		if (r != 0)
			return r;
		size_t len = req.has_length ? req.content_length : 0;
		if (strcmp(req.method, "POST") != 0) {
			send_http(c, 403, "Forbidden");
			conn_close(c, "not a POST");
			return 0;
		}
		if (c->state == ST_SIGNATURE &&
			(len > SIG_BODY_MAX || (len < SIG_BODY_MIN && len != 10))) {
			send_http(c, 403, "Forbidden");
			conn_close(c, "bad signature size");
			return 0;
		}
		if (c->state == ST_LOGIN && len > 65536) {
			send_error_pack(c, 3);
			return 0;
		}
		if (n - req.header_len < len)
			return 0; /* body still coming */
		if (++c->requests > MAX_REQUESTS) {
			conn_close(c, "too many requests");
			return 0;
		}
		req.content_length = len;
		const uint8_t *body = p + req.header_len;
		r = c->state == ST_SIGNATURE ? on_signature(c, &req, body) : on_login(c, &req, body);
		sv_buf_consume(&c->app_in, req.header_len + len);
		if (r != 0)
			return r;
	}
	/* Bytes after the login request already belong to the data phase. */
	if (c->state == ST_DATA && sv_buf_len(&c->app_in) > 0) {
		size_t n;
		const uint8_t *p = sv_buf_peek(&c->app_in, &n);
		int r = sv_tunnel_rx_input(&c->trx, p, n, on_tunnel_frame, c);
		sv_buf_consume(&c->app_in, n);
		return r;
	}
	return 0;
}

/* Plaintext from the client; returns how much was taken. */
static size_t
conn_app_input(struct hub_conn *c, const uint8_t *p, size_t n)
{
	int r;
	switch (c->state) {
	case ST_DATA:
		c->last_rx_ms = now_ms(c);
		if ((r = sv_tunnel_rx_input(&c->trx, p, n, on_tunnel_frame, c)) != 0) {
			log_warn_r(r, "conn %u: bad block stream", c->id);
			conn_abort(c, false, "protocol error in the data phase");
		}
		return n;
	case ST_SIGNATURE:
	case ST_LOGIN: {
		size_t room = APP_IN_MAX - sv_buf_len(&c->app_in);
		size_t take = n < room ? n : room;
		if (take == 0 || sv_buf_put(&c->app_in, p, take) != 0) {
			conn_abort(c, false, "request too large");
			return n;
		}
		if ((r = process_requests(c)) != 0) {
			log_info_r(r, "conn %u: bad request", c->id);
			conn_close(c, "bad request");
		}
		return take;
	}
	default:
		return n; /* discarded while closing */
	}
}

/* --- TLS pump and socket --------------------------------------------------------------- */

static void
on_write(uv_write_t *w, int status)
{
	struct hub_conn *c = w->data;
	free(w);
	c->writing = false;
	if (c->state == ST_DEAD)
		return;
	if (status < 0) {
		conn_abort(c, false, uv_strerror(status));
		return;
	}
	if (c->abort_pending) {
		conn_destroy(c, false);
		return;
	}
	conn_pump(c);
}

/* Engine records -> socket. Returns true on progress. */
static bool
pump_sendrec(struct hub_conn *c, br_ssl_engine_context *eng)
{
	size_t n;
	uint8_t *b = br_ssl_engine_sendrec_buf(eng, &n);
	uv_buf_t ub = uv_buf_init((char *)b, (unsigned)n);
	int w = uv_try_write((uv_stream_t *)&c->tcp, &ub, 1);
	if (w > 0) {
		br_ssl_engine_sendrec_ack(eng, (size_t)w);
		return true;
	}
	if (w != UV_EAGAIN && w != UV_ENOSYS) {
		conn_abort(c, false, uv_strerror(w));
		return false;
	}
	uv_write_t *req = malloc(sizeof *req + n);
	if (req == NULL) {
		conn_abort(c, false, "out of memory");
		return false;
	}
	memcpy(req + 1, b, n);
	ub = uv_buf_init((char *)(req + 1), (unsigned)n);
	req->data = c;
	if (uv_write(req, (uv_stream_t *)&c->tcp, &ub, 1, on_write) != 0) {
		free(req);
		conn_abort(c, false, "write failed");
		return false;
	}
	c->writing = true;
	br_ssl_engine_sendrec_ack(eng, n);
	return true;
}

/* Queued plaintext -> engine. Returns true on progress. */
static bool
pump_sendapp(struct hub_conn *c, br_ssl_engine_context *eng)
{
	size_t ready = sv_tunnel_ready(&c->ttx, &c->app_out), room;
	if (ready == 0) {
		if (c->state == ST_CLOSING && !c->close_sent && !c->abort_pending) {
			br_ssl_engine_close(eng);
			c->close_sent = true;
			return true;
		}
		return false;
	}
	size_t len;
	const uint8_t *p = sv_buf_peek(&c->app_out, &len);
	uint8_t *b = br_ssl_engine_sendapp_buf(eng, &room);
	size_t n = ready < room ? ready : room;
	memcpy(b, p, n);
	sv_buf_consume(&c->app_out, n);
	br_ssl_engine_sendapp_ack(eng, n);
	br_ssl_engine_flush(eng, 0);
	if (c->state == ST_DATA) {
		c->data_bytes_out += n;
		uint64_t lim = c->hub->cfg->faults.drop_after_bytes;
		if (lim && c->data_bytes_out >= lim && fault_trigger(c, "bytes"))
			return false;
	}
	return true;
}

static void
on_engine_closed(struct hub_conn *c)
{
	int err = br_ssl_engine_last_error(&c->sc.eng);
	c->orderly = err == BR_ERR_OK; /* close_notify (ours answered, or the client's) */
	if (err != BR_ERR_OK && c->state < ST_CLOSING)
		log_info("conn %u: TLS error %d", c->id, err);
	else
		log_debug("conn %u: TLS closed", c->id);
	conn_abort(c, false, "TLS closed");
}

static void conn_update_reading(struct hub_conn *c);

static void
conn_pump(struct hub_conn *c)
{
	br_ssl_engine_context *eng = &c->sc.eng;
	if (c->held)
		return;
	for (;;) {
		if (c->state == ST_DEAD || c->abort_pending)
			return;
		unsigned st = br_ssl_engine_current_state(eng);
		if (st & BR_SSL_CLOSED) {
			if (!c->writing)
				on_engine_closed(c);
			return;
		}
		if ((st & BR_SSL_SENDREC) && !c->writing) {
			if (pump_sendrec(c, eng))
				continue;
			if (c->state == ST_DEAD || c->abort_pending)
				return;
		}
		if ((st & BR_SSL_RECVREC) && c->rlen > 0) {
			size_t n;
			uint8_t *b = br_ssl_engine_recvrec_buf(eng, &n);
			if (n > c->rlen)
				n = c->rlen;
			memcpy(b, c->rbuf, n);
			memmove(c->rbuf, c->rbuf + n, c->rlen - n);
			c->rlen -= n;
			br_ssl_engine_recvrec_ack(eng, n);
			continue;
		}
		if (st & BR_SSL_RECVAPP) {
			size_t n;
			uint8_t *b = br_ssl_engine_recvapp_buf(eng, &n);
			size_t used = conn_app_input(c, b, n);
			if (c->state == ST_DEAD)
				return;
			if (used) {
				br_ssl_engine_recvapp_ack(eng, used);
				continue;
			}
		}
		if ((st & BR_SSL_SENDAPP) && pump_sendapp(c, eng))
			continue;
		break;
	}
	if (c->state == ST_DEAD)
		return; /* e.g. a fault drop in pump_sendapp */
	if (c->eof && c->rlen == 0 && !c->writing) {
		conn_abort(c, false, c->state == ST_CLOSING ? "closed" : "client closed the connection");
		return;
	}
	conn_update_reading(c);
}

static void
on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct hub_conn *c = h->data;
	(void)suggested;
	buf->base = (char *)c->rbuf + c->rlen;
	buf->len = sizeof c->rbuf - c->rlen;
}

static void
on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct hub_conn *c = s->data;
	(void)buf;
	if (n == UV_ENOBUFS || n == 0)
		return;
	if (n < 0) {
		c->eof = true;
		uv_read_stop(s);
		c->reading = false;
	} else {
		c->rlen += (size_t)n;
	}
	conn_pump(c);
}

static void
conn_update_reading(struct hub_conn *c)
{
	bool want = !c->eof && c->rlen < sizeof c->rbuf;
	if (want && !c->reading) {
		if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0)
			c->reading = true;
	} else if (!want && c->reading) {
		uv_read_stop((uv_stream_t *)&c->tcp);
		c->reading = false;
	}
}

static void
on_slow_tls(uv_timer_t *t)
{
	struct hub_conn *c = t->data;
	if (!c->held)
		return;
	log_info("conn %u: fault: slow TLS handshake: reading the ClientHello now", c->id);
	c->held = false;
	conn_pump(c);
}

static void
on_handshake_timer(uv_timer_t *t)
{
	struct hub_conn *c = t->data;
	if (c->state == ST_SIGNATURE || c->state == ST_LOGIN)
		conn_abort(c, false, "handshake too slow");
}

/* see server.h */
void
hub_conn_accept(struct hub *h)
{
	struct hub_conn *c = calloc(1, sizeof *c);
	if (c == NULL)
		return;
	c->hub = h;
	c->id = ++h->next_id;
	uv_tcp_init(h->loop, &c->tcp);
	uv_timer_init(h->loop, &c->timer);
	uv_timer_init(h->loop, &c->fault_timer);
	c->tcp.data = c->timer.data = c->fault_timer.data = c;
	c->open_handles = 3;
	c->next = h->conns;
	h->conns = c;
	if (uv_accept((uv_stream_t *)&h->listener, (uv_stream_t *)&c->tcp) != 0) {
		conn_destroy(c, false);
		return;
	}
	uv_tcp_nodelay(&c->tcp, 1);
	sv_buf_init(&c->app_in, APP_IN_MAX);
	sv_buf_init(&c->app_out, APP_OUT_MAX);
	sv_tunnel_tx_init(&c->ttx);
	br_ssl_server_init_full_rsa(&c->sc, h->chain, h->chain_len, h->rsa);
	/* Like the real server: TLS 1.2 and up (BearSSL stops at 1.2). */
	br_ssl_engine_set_versions(&c->sc.eng, BR_TLS12, BR_TLS12);
	br_ssl_engine_set_buffer(&c->sc.eng, c->iobuf, sizeof c->iobuf, 1);
	if (!br_ssl_server_reset(&c->sc)) {
		conn_destroy(c, false);
		return;
	}
	struct sockaddr_storage ss;
	int sl = sizeof ss;
	char peer[64] = "?";
	if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &sl) == 0 &&
		ss.ss_family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
		uv_ip4_name(sin, peer, sizeof peer);
		snprintf(peer + strlen(peer), sizeof peer - strlen(peer), ":%u",
			ntohs(sin->sin_port));
	}
	log_info("conn %u: accepted from %s", c->id, peer);
	uv_timer_start(&c->timer, on_handshake_timer, HANDSHAKE_LIMIT_MS, 0);
	if (h->cfg->faults.slow_tls_ms) { /* nothing is read (or sent) until then */
		c->held = true;
		uv_timer_start(&c->fault_timer, on_slow_tls, h->cfg->faults.slow_tls_ms, 0);
	} else {
		conn_pump(c);
	}
}

/* see server.h */
void
hub_conn_flush_all(struct hub *h)
{
	struct hub_conn *c = h->conns, *next;
	for (; c; c = next) {
		next = c->next; /* c may unlink itself */
		if (c->state == ST_DATA)
			sv_tunnel_flush(&c->ttx, &c->app_out);
		conn_pump(c);
	}
}

/* see server.h */
void
hub_conn_close_all(struct hub *h)
{
	struct hub_conn *c = h->conns, *next;
	for (; c; c = next) {
		next = c->next;
		conn_close(c, "hub stopping");
		conn_pump(c);
	}
}
