/*
 * The HTTP proxy front-end on the relay core (socks/frontend.h), on top of the HTTP
 * framing parsers in socks/http_parse.h.
 *
 *   CONNECT host:port   -> connect, "200 Connection established", relay raw bytes
 *   GET http://h/p ...  -> connect (or reuse the origin connection of the previous
 *                          request to the same host:port), send the rewritten head
 *                          (origin-form target, Host from the URI, hop-by-hop headers
 *                          dropped, "Connection: close" only when the client's own
 *                          connection ends), then relay the request body and the
 *                          response, following its framing
 *   GET /proxy.pac      -> a PAC file (socks/pac.h): the tunnel's networks from the
 *                          current DHCP lease (its subnet, its static routes, its
 *                          domain and search list, its global IPv6 addresses /64)
 *                          through this proxy (address from the Host header) and the
 *                          SOCKS listener (sv_httpproxy_set_pac_info), the rest DIRECT;
 *                          everything through the proxy when DHCP pushed a default
 *                          route (0.0.0.0/0 in option 121).
 *                          Served without proxy credentials: browsers fetch PAC files
 *                          without them. It names only networks, no secrets.
 *   other origin-form   -> 404 (this is a proxy)
 * Refusals get a complete HTTP error (400, 407 with a Basic challenge when credentials
 * are configured, 502 for a target that refused or does not exist, 504 for one that did
 * not answer in time), then the connection is closed.
 *
 * Steps (sv_conn_set_step): REQUEST --CONNECT--> TUNNEL, --absolute-form--> FORWARD;
 * the step tells on_result what to answer.
 *
 * Persistent connections: the response's framing (Content-Length, chunked, none for
 * HEAD/1xx/204/304) says where it ends; then the client may send its next request on
 * the same connection (sv_conn_exchange_done). The origin connection is kept for it
 * (sv_conn_exchange_reusable) when the response was delimited and neither side said
 * "Connection: close"; the core closes it when the next request goes elsewhere or it
 * idled (socks/conn.c). The request body is delimited (sv_httpp_body, through the
 * core's up_filter): exactly its bytes reach the origin; whatever the client sends
 * after it (a next request, perhaps with Proxy-Authorization) is held back and parsed
 * as a request of its own, never relayed raw.
 */
#define SV_LOG_MODULE "http"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "netstack/stack.h"
#include "socks/frontend.h"
#include "socks/http_parse.h"
#include "socks/httpproxy.h"
#include "socks/pac.h"
#include "socks/peerlimit.h"

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

#define PAC_ADDR_MAX 300
#define PAC_PATH "/proxy.pac"

static char pac_socks[PAC_ADDR_MAX]; /* "" = none */
static char pac_http[PAC_ADDR_MAX];

static void
set_addr(char *dst, const char *src)
{
	dst[0] = '\0';
	if (src == NULL || strncmp(src, "unix:", 5) == 0 || strlen(src) >= PAC_ADDR_MAX)
		return;
	memcpy(dst, src, strlen(src) + 1);
}

/* see httpproxy.h */
void
sv_httpproxy_set_pac_info(const char *socks_addr, const char *http_addr)
{
	set_addr(pac_socks, socks_addr);
	set_addr(pac_http, http_addr);
}

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

/* Splits "host:port" / "[v6]:port" / "host" at the port: the host part's length
 * (brackets included) and whether a port follows. */
static size_t
addr_host_len(const char *a, size_t n, bool *has_port)
{
	const char *colon;

	*has_port = false;
	if (n > 0 && a[0] == '[') {
		const char *close = memchr(a, ']', n);
		if (close == NULL)
			return n;
		*has_port = (size_t)(close - a) + 1 < n && close[1] == ':';
		return (size_t)(close - a) + 1;
	}
	colon = memchr(a, ':', n);
	if (colon == NULL)
		return n;
	*has_port = true;
	return (size_t)(colon - a);
}

/* The HTTP proxy as the client reached it: the Host header (port 80 added when it has
 * none), else the bound address from sv_httpproxy_set_pac_info; "" for neither. */
static void
pac_http_addr(const struct sv_httpp_request *req, char *out, size_t cap)
{
	struct sv_httpp_str host;
	bool has_port;

	out[0] = '\0';
	if (sv_httpp_header_get(req->headers, req->n_headers, "Host", &host) &&
		host.n > 0 && host.n < cap - 4) {
		addr_host_len(host.p, host.n, &has_port);
		snprintf(out, cap, "%.*s%s", (int)host.n, host.p, has_port ? "" : ":80");
		return;
	}
	snprintf(out, cap, "%s", pac_http);
}

/* The SOCKS address, its wildcard host replaced by the host in http ("" for none). */
static void
pac_socks_addr(const char *http, char *out, size_t cap)
{
	bool has_port;
	size_t hl = addr_host_len(pac_socks, strlen(pac_socks), &has_port);
	size_t http_hl;

	out[0] = '\0';
	if (pac_socks[0] == '\0' || !has_port)
		return;
	if ((hl == 7 && memcmp(pac_socks, "0.0.0.0", 7) == 0) ||
		(hl == 4 && memcmp(pac_socks, "[::]", 4) == 0)) {
		http_hl = addr_host_len(http, strlen(http), &has_port);
		if (http_hl == 0)
			return;
		snprintf(out, cap, "%.*s%s", (int)http_hl, http, pac_socks + hl);
		return;
	}
	snprintf(out, cap, "%s", pac_socks);
}

/* The tunnel's networks: the lease's IPv4 network, its static routes but the default
 * route (*everything instead), its global IPv6 addresses /64. */
static size_t
pac_nets(const struct sv_lease *l, struct sv_pac_net *nets, size_t cap, bool *everything)
{
	size_t n = 0;

	*everything = false;
	if (l->ip.family == 4 && l->prefix_len <= 32 && n < cap) {
		nets[n].ip = l->ip;
		nets[n++].prefix = (uint8_t)l->prefix_len;
	}
	for (unsigned i = 0; i < l->n_routes && i < SV_DHCP_ROUTES_MAX; i++) {
		if (l->routes[i].prefix_len == 0)
			*everything = true;
		else if (n < cap) {
			nets[n].ip = l->routes[i].dst;
			nets[n++].prefix = l->routes[i].prefix_len;
		}
	}
	for (unsigned i = 0; i < l->n_ip6 && i < 3 && n < cap; i++) {
		if (l->ip6[i].family != 6 ||
			(l->ip6[i].b[0] == 0xfe && (l->ip6[i].b[1] & 0xc0) == 0x80))
			continue; /* link-local: not a network the proxy can route */
		nets[n].ip = l->ip6[i];
		nets[n++].prefix = 64;
	}
	return n;
}

static bool
is_pac_request(const struct sv_httpp_request *req)
{
	size_t k = sizeof PAC_PATH - 1;

	return req->form == SV_HTTPP_FORM_ORIGIN && req->path.n >= k &&
		memcmp(req->path.p, PAC_PATH, k) == 0 &&
		(req->path.n == k || req->path.p[k] == '?');
}

/* GET (or HEAD) /proxy.pac: the file, then close. */
static void
serve_pac(struct sv_conn *c, const struct sv_httpp_request *req)
{
	char http[PAC_ADDR_MAX + 8], socks[PAC_ADDR_MAX + 8];
	struct sv_pac_net nets[1 + SV_DHCP_ROUTES_MAX + 3];
	const char *search[SV_STACK_MAX_SEARCH];
	struct sv_pac_config cfg;
	struct sv_lease lease;
	struct sv_buf pac, b;
	const uint8_t *p, *body;
	size_t n, body_n;
	int e;

	if (req->method_id != SV_HTTPP_METHOD_GET && req->method_id != SV_HTTPP_METHOD_HEAD) {
		reply_error(c, 405, "only GET and HEAD for " PAC_PATH);
		return;
	}
	pac_http_addr(req, http, sizeof http);
	pac_socks_addr(http, socks, sizeof socks);
	memset(&cfg, 0, sizeof cfg);
	cfg.http_proxy = http[0] != '\0' ? http : NULL;
	cfg.socks_proxy = socks[0] != '\0' ? socks : NULL;
	cfg.nets = nets;
	if (sv_stack_lease(&lease)) {
		cfg.n_nets = pac_nets(&lease, nets, sizeof nets / sizeof nets[0],
			&cfg.everything);
		cfg.domain = lease.domain;
		for (unsigned i = 0; i < lease.n_search && i < SV_STACK_MAX_SEARCH; i++)
			search[cfg.n_search++] = lease.search[i];
		cfg.search = search;
	}
	sv_buf_init(&pac, SV_PAC_MAX);
	sv_buf_init(&b, SV_PAC_MAX + 1024);
	e = sv_pac_write(&pac, &cfg);
	if (e == SV_E_INVAL && cfg.http_proxy != NULL && pac_http[0] != '\0') {
		/* a Host header the PAC writer refuses: the bound address then */
		cfg.http_proxy = pac_http;
		pac_socks_addr(pac_http, socks, sizeof socks);
		cfg.socks_proxy = socks[0] != '\0' ? socks : NULL;
		e = sv_pac_write(&pac, &cfg);
	}
	if (e == 0) {
		body = sv_buf_peek(&pac, &body_n);
		e = sv_httpp_write_simple(&b, 200, SV_HTTPP_PAC_TYPE, body, body_n,
			SV_HTTPP_F_CLOSE |
			(req->method_id == SV_HTTPP_METHOD_HEAD ? SV_HTTPP_F_HEAD : 0));
	}
	if (e != 0) {
		log_info_r(e, "conn %u: http: %s: writing the PAC file", sv_conn_id(c),
			sv_conn_peer(c));
		sv_buf_cleanup(&pac);
		sv_buf_cleanup(&b);
		reply_error(c, e == SV_E_INVAL ? 400 : 500, "cannot write the PAC file "
			"for this Host");
		return;
	}
	log_info("conn %u: http: %s: serving " PAC_PATH " (%zu networks)", sv_conn_id(c),
		sv_conn_peer(c), cfg.n_nets);
	p = sv_buf_peek(&b, &n);
	(void)sv_conn_write_reply(c, p, n);
	sv_buf_cleanup(&pac);
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

/* Per-connection state of a forwarded exchange (kept across exchanges). */
enum down_phase {
	D_HEAD, /* collecting the response head */
	D_BODY, /* relaying a delimited body */
	D_RAW,  /* relaying until the origin closes (close-delimited, 101) */
	D_DONE, /* the response ended */
};

struct exchange {
	struct sv_httpp_body up;   /* the request body */
	struct sv_httpp_body down; /* the response body */
	enum sv_httpp_method method;
	unsigned client_minor;
	bool client_keep;          /* the client asked to keep the connection */
	bool keep;                 /* ... and the response allows it */
	enum down_phase phase;
	uint8_t *head;             /* response head so far, SV_HTTPP_HEAD_MAX bytes */
	size_t head_len, scan;
};

/* Absolute-form: the head to send upstream goes first, then the connect. */
static void
forward(struct sv_conn *c, const struct sv_httpp_request *req)
{
	struct sv_conn_target t;
	struct exchange *x = sv_conn_data(c);
	struct sv_buf b;
	const uint8_t *p;
	size_t n;
	int e;

	if (x == NULL && (x = calloc(1, sizeof *x)) == NULL) {
		reply_error(c, 500, NULL);
		return;
	}
	free(x->head);
	memset(x, 0, sizeof *x);
	sv_conn_set_data(c, x);
	sv_httpp_body_init(&x->up, req->framing, req->content_length);
	x->method = req->method_id;
	x->client_minor = req->version_minor;
	x->client_keep = req->keep_alive && !req->upgrade;
	x->phase = D_HEAD;
	sv_buf_init(&b, SV_HTTPP_HEAD_MAX + 512);
	/* the origin keeps its connection for the next request when the client keeps
	 * its own; otherwise it is told to close */
	if ((e = sv_httpp_write_request(&b, req, !x->client_keep)) == 0) {
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
	sv_conn_allow_reuse(c);
	sv_conn_connect(c, &t);
}

static void
handle_request(struct sv_conn *c, const struct sv_httpp_request *req)
{
	struct sv_conn_target t;

	if (is_pac_request(req)) {
		serve_pac(c, req);
		return;
	}
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
	if (err == SV_CONN_E_LIMIT) {
		reply_error(c, 429, "this client has as many connections open as the proxy "
			"allows (--max-conns-per-client); close some and retry");
		return;
	}
	snprintf(detail, sizeof detail, "%s %s%s: %s", resolving ? "resolve" : "connect",
		sv_conn_target_text(c), resolving && sv_conn_resolved_on_host(c) ?
		" on this host (--resolve-local)" : "", sv_strerror(err));
	reply_error(c, sv_httpp_status_from_err(err), detail);
}

/* FORWARD: the request body goes to the origin, nothing after it. */
static long
up_filter(struct sv_conn *c, const uint8_t *p, size_t n)
{
	struct exchange *x = sv_conn_data(c);
	size_t used = 0;
	int e;

	if (sv_conn_step(c) != H_FORWARD || x == NULL)
		return (long)n; /* CONNECT: a tunnel */
	if ((e = sv_httpp_body_feed(&x->up, p, n, &used)) != 0) {
		log_info_r(e, "conn %u: http: malformed request body", sv_conn_id(c));
		return -1;
	}
	return (long)used;
}

/* The response ended: the client may send its next request if both sides agree and
 * the whole request body went upstream. */
static void
exchange_end(struct sv_conn *c, struct exchange *x)
{
	x->phase = D_DONE;
	sv_conn_exchange_done(c, x->keep && sv_httpp_body_done(&x->up));
}

/* A response the proxy cannot relay, before any of it reached the client: 502. */
static void
bad_gateway(struct sv_conn *c, struct exchange *x, const char *why)
{
	struct sv_buf b;
	const uint8_t *p;
	size_t n;

	log_info("conn %u: http: %s: bad response (%s), answering 502", sv_conn_id(c),
		sv_conn_target_text(c), why);
	sv_buf_init(&b, REPLY_MAX);
	if (sv_httpp_write_error(&b, 502, why, SV_HTTPP_F_CLOSE) == 0) {
		p = sv_buf_peek(&b, &n);
		(void)sv_conn_write_reply(c, p, n);
	}
	sv_buf_cleanup(&b);
	x->keep = false;
	x->phase = D_DONE;
	sv_conn_exchange_done(c, false);
}

/* D_HEAD: collects the response head; once complete, writes the client's version of
 * it and starts the body. Takes the head bytes (only those). */
static long
take_head(struct sv_conn *c, struct exchange *x, const uint8_t *p, size_t n, bool *take)
{
	static struct sv_httpp_response resp; /* large; the loop runs on one thread */
	struct sv_httpp_err err = { 0, NULL };
	size_t before = x->head_len, k, hl = 0, out_n;
	struct sv_buf b;
	struct sv_rd r;
	const uint8_t *out;
	bool keep;
	int e;

	*take = true;
	if (x->head == NULL && (x->head = malloc(SV_HTTPP_HEAD_MAX)) == NULL)
		return -1;
	k = n < SV_HTTPP_HEAD_MAX - before ? n : SV_HTTPP_HEAD_MAX - before;
	memcpy(x->head + before, p, k);
	x->head_len += k;
	e = sv_httpp_head_length(x->head, x->head_len, &x->scan, &hl);
	if (e == SV_E_INCOMPLETE && x->head_len < SV_HTTPP_HEAD_MAX)
		return (long)k;
	if (e != 0) {
		bad_gateway(c, x, "response head too large or malformed");
		return (long)n;
	}
	r = sv_rd_make(x->head, hl);
	if ((e = sv_httpp_parse_response(&r, x->method, &resp, &err)) != 0) {
		bad_gateway(c, x, err.why != NULL ? err.why : "malformed response head");
		return (long)n;
	}
	keep = x->client_keep && (resp.framing == SV_HTTPP_BODY_NONE ||
		resp.framing == SV_HTTPP_BODY_LENGTH || resp.framing == SV_HTTPP_BODY_CHUNKED);
	sv_buf_init(&b, SV_HTTPP_HEAD_MAX + 256);
	e = 0;
	/* 1xx goes to HTTP/1.1 clients only (RFC 9110 section 15.2) */
	if (!resp.interim || x->client_minor >= 1)
		e = sv_httpp_write_response_head(&b, &resp, x->client_minor,
			resp.interim ? true : keep);
	if (e != 0) {
		sv_buf_cleanup(&b);
		bad_gateway(c, x, "response head too large");
		return (long)n;
	}
	out = sv_buf_peek(&b, &out_n);
	if (out_n > 0 && sv_conn_write_reply(c, out, out_n) != 0) {
		sv_buf_cleanup(&b);
		return -1;
	}
	sv_buf_cleanup(&b);
	x->head_len = 0;
	x->scan = 0;
	if (resp.interim)
		return (long)(hl - before); /* the final head follows */
	free(x->head);
	x->head = NULL;
	x->keep = keep;
	/* the origin's connection can carry the next request: a delimited response
	 * that it does not close, to a request we did not ask it to close */
	if (keep && resp.keep_alive && resp.framing != SV_HTTPP_BODY_TUNNEL)
		sv_conn_exchange_reusable(c);
	sv_httpp_body_init(&x->down, resp.framing, resp.content_length);
	if (resp.framing == SV_HTTPP_BODY_CLOSE || resp.framing == SV_HTTPP_BODY_TUNNEL)
		x->phase = D_RAW;
	else if (sv_httpp_body_done(&x->down))
		exchange_end(c, x);
	else
		x->phase = D_BODY;
	return (long)(hl - before);
}

/* FORWARD: the origin's response head rewritten for the client (hop-by-hop headers
 * removed, Connection as agreed), its body verbatim, and the end of it found. */
static long
down_filter(struct sv_conn *c, const uint8_t *p, size_t n, bool *take)
{
	struct exchange *x = sv_conn_data(c);
	size_t used = 0;
	int e;

	if (sv_conn_step(c) != H_FORWARD || x == NULL)
		return (long)n; /* CONNECT: a tunnel */
	switch (x->phase) {
	case D_HEAD:
		return take_head(c, x, p, n, take);
	case D_BODY:
		if ((e = sv_httpp_body_feed(&x->down, p, n, &used)) != 0) {
			log_info_r(e, "conn %u: http: %s: malformed response body",
				sv_conn_id(c), sv_conn_target_text(c));
			return -1;
		}
		if (sv_httpp_body_done(&x->down))
			exchange_end(c, x);
		return (long)used;
	case D_RAW:
		return (long)n;
	case D_DONE:
	default:
		return 0;
	}
}

static void
on_free(struct sv_conn *c)
{
	struct exchange *x = sv_conn_data(c);

	if (x != NULL)
		free(x->head);
	free(x);
	sv_conn_set_data(c, NULL);
}

static const struct sv_frontend_ops http_ops = {
	.name = "http",
	.hs_max = SV_HTTPP_HEAD_MAX,
	.on_data = on_data,
	.on_result = on_result,
	.up_filter = up_filter,
	.down_filter = down_filter,
	.on_free = on_free,
};

const struct sv_frontend_ops *const sv_fe_http = &http_ops;
