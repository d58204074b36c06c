/*
 * The HTTP proxy front-end on the relay core (socks/frontend.h), on top of the HTTP
 * framing parsers in socks/http_parse.h.
 *
 *   CONNECT host:port   -> connect, "200 Connection established", relay raw bytes
 *   GET http://h/p ...  -> connect, send the rewritten head (origin-form target, Host
 *                          from the URI, hop-by-hop headers dropped, "Connection:
 *                          close"), then relay the request body and the response raw
 *   origin-form         -> 400 (this is a proxy), /proxy.pac -> 404 for now
 * Refusals get a complete HTTP error (400, 407 with a Basic challenge when credentials
 * are configured, 502 for a target that refused or does not exist, 504 for one that did
 * not answer in time), then the connection is closed.
 *
 * Steps (sv_conn_set_step): REQUEST --CONNECT--> TUNNEL, --absolute-form--> FORWARD;
 * the step tells on_result what to answer.
 *
 * Limits: one request per client connection. The upstream gets "Connection: close",
 * so the origin ends the exchange and the client sees the end of the response; a
 * client that keeps the connection open for another request gets EOF and reconnects
 * (keeping client connections needs the relay to follow response framing: a later
 * step). The request body is delimited (sv_httpp_body, through the core's up_filter):
 * exactly its bytes reach the origin, and whatever the client sends after it (a next
 * request, perhaps with Proxy-Authorization) is dropped, never relayed to this origin.
 */
#define SV_LOG_MODULE "http"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "socks/frontend.h"
#include "socks/http_parse.h"

enum http_step {
	H_REQUEST,
	H_TUNNEL,
	H_FORWARD,
};

static const char *const step_names[] = {
	[H_REQUEST] = "request",
	[H_TUNNEL] = "tunnel",
	[H_FORWARD] = "forward",
};

/* Largest response the proxy makes itself (errors): fits the core's reply queue. */
#define REPLY_MAX 512
#define DETAIL_MAX 160

/* Queues a response made by the proxy, then closes. */
static void
reply_error(struct sv_conn *c, unsigned status, const char *detail)
{
	struct sv_buf b;
	const uint8_t *p;
	size_t n;

	sv_buf_init(&b, REPLY_MAX);
	if (sv_httpp_write_error(&b, status, detail, SV_HTTPP_F_CLOSE) == 0 ||
		sv_httpp_write_error(&b, status, NULL, SV_HTTPP_F_CLOSE) == 0) {
		p = sv_buf_peek(&b, &n);
		(void)sv_conn_write(c, p, n);
	}
	sv_buf_cleanup(&b);
	sv_conn_reply_and_close(c);
}

/* Proxy-Authorization: Basic, checked against the listener's credentials. */
static bool
authorized(struct sv_conn *c, const struct sv_httpp_request *req)
{
	char user[256], pass[256];
	bool ok;

	if (!sv_conn_auth_required(c))
		return true;
	if (req->proxy_auth.p == NULL ||
		sv_httpp_parse_basic(req->proxy_auth.p, req->proxy_auth.n, user, pass) != 0)
		return false;
	ok = sv_conn_auth_check(c, user, strlen(user), pass, strlen(pass));
	explicit_bzero(user, sizeof user);
	explicit_bzero(pass, sizeof pass);
	return ok;
}

static void
fill_target(struct sv_conn_target *t, const struct sv_httpp_request *req)
{
	memset(t, 0, sizeof *t);
	t->port = req->port;
	if (req->host_ip.family == 4 || req->host_ip.family == 6)
		t->ip = req->host_ip;
	else
		t->host = req->host;
}

/* Absolute-form: the head to send upstream goes first, then the connect. */
static void
forward(struct sv_conn *c, const struct sv_httpp_request *req)
{
	struct sv_conn_target t;
	struct sv_httpp_body *body;
	struct sv_buf b;
	const uint8_t *p;
	size_t n;
	int e;

	if ((body = calloc(1, sizeof *body)) == NULL) {
		reply_error(c, 500, NULL);
		return;
	}
	sv_httpp_body_init(body, req->framing, req->content_length);
	sv_conn_set_data(c, body);
	sv_buf_init(&b, SV_HTTPP_HEAD_MAX + 512);
	if ((e = sv_httpp_write_request(&b, req, true)) == 0) {
		p = sv_buf_peek(&b, &n);
		e = sv_conn_send_first(c, p, n);
	}
	sv_buf_cleanup(&b);
	if (e != 0) {
		log_warn_r(e, "conn %u: http: rewriting the request", sv_conn_id(c));
		reply_error(c, e == SV_E_TOOBIG ? 431 : 500, NULL);
		return;
	}
	sv_conn_set_step(c, H_FORWARD, step_names);
	fill_target(&t, req);
	sv_conn_connect(c, &t);
}

static void
handle_request(struct sv_conn *c, const struct sv_httpp_request *req)
{
	struct sv_conn_target t;

	if (!authorized(c, req)) {
		log_info("conn %u: http: %s: %s, answering 407", sv_conn_id(c),
			sv_conn_peer(c), req->proxy_auth.p == NULL ? "no proxy credentials" :
			"wrong proxy user name or password");
		reply_error(c, 407, NULL);
		return;
	}
	switch (req->form) {
	case SV_HTTPP_FORM_AUTHORITY:
		sv_conn_set_step(c, H_TUNNEL, step_names);
		fill_target(&t, req);
		sv_conn_connect(c, &t);
		return;
	case SV_HTTPP_FORM_ABSOLUTE:
		forward(c, req);
		return;
	case SV_HTTPP_FORM_ORIGIN:
	default:
		log_info("conn %u: http: %s: a request for the proxy itself (%.*s), "
			"answering 404", sv_conn_id(c), sv_conn_peer(c),
			(int)(req->target.n < 64 ? req->target.n : 64), req->target.p);
		reply_error(c, 404, "this is a proxy: ask for http:// URLs or use CONNECT");
		return;
	}
}

static int
on_data(struct sv_conn *c, struct sv_rd *in)
{
	static struct sv_httpp_request req; /* large; the loop runs on one thread */
	struct sv_httpp_err err = { 0, NULL };
	int e;

	if (sv_conn_step(c) != H_REQUEST)
		return SV_E_INCOMPLETE; /* not reading: cannot happen */
	e = sv_httpp_parse_request(in, &req, &err);
	if (e == SV_E_INCOMPLETE)
		return e;
	if (e != 0) {
		unsigned status = err.status != 0 ? err.status : 400;
		log_info("conn %u: http: %s: bad request (%s), answering %u", sv_conn_id(c),
			sv_conn_peer(c), err.why != NULL ? err.why : "malformed", status);
		reply_error(c, status, err.why);
		return 0;
	}
	handle_request(c, &req);
	explicit_bzero(&req, sizeof req);
	return 0;
}

static void
on_result(struct sv_conn *c, int err, bool resolving, const struct sv_ip *bnd,
	uint16_t bport)
{
	char detail[DETAIL_MAX];
	struct sv_buf b;
	const uint8_t *p;
	size_t n;

	(void)bnd;
	(void)bport;
	if (err == 0) {
		if (sv_conn_step(c) != H_TUNNEL)
			return; /* the origin's response is the answer */
		sv_buf_init(&b, REPLY_MAX);
		if (sv_httpp_write_connect_ok(&b) == 0) {
			p = sv_buf_peek(&b, &n);
			(void)sv_conn_write(c, p, n);
		}
		sv_buf_cleanup(&b);
		return;
	}
	snprintf(detail, sizeof detail, "%s %s: %s", resolving ? "resolve" : "connect",
		sv_conn_target_text(c), sv_strerror(err));
	reply_error(c, sv_httpp_status_from_err(err), detail);
}

/* FORWARD: the request body goes to the origin, nothing after it. */
static long
up_filter(struct sv_conn *c, const uint8_t *p, size_t n)
{
	struct sv_httpp_body *body = sv_conn_data(c);
	size_t used = 0;
	int e;

	if (sv_conn_step(c) != H_FORWARD || body == NULL)
		return (long)n; /* CONNECT: a tunnel */
	if ((e = sv_httpp_body_feed(body, p, n, &used)) != 0) {
		log_info_r(e, "conn %u: http: malformed request body", sv_conn_id(c));
		return -1;
	}
	return (long)used;
}

static void
on_free(struct sv_conn *c)
{
	free(sv_conn_data(c));
	sv_conn_set_data(c, NULL);
}

static const struct sv_frontend_ops http_ops = {
	.name = "http",
	.hs_max = SV_HTTPP_HEAD_MAX,
	.on_data = on_data,
	.on_result = on_result,
	.up_filter = up_filter,
	.on_free = on_free,
};

const struct sv_frontend_ops *const sv_fe_http = &http_ops;
