/*
 * Upstream proxy: URL parsing and the client side of the HTTP CONNECT and
 * SOCKS5 handshakes (see upstream.h). No I/O.
 *
 * States and transitions:
 *
 *   HTTP:   http-reply --2xx--> done
 *   SOCKS5: socks-method --0--> socks-reply --REP 0--> done
 *           socks-method --2--> socks-auth --status 0--> socks-reply
 *   any state --error--> failed (first error wins and sticks)
 *
 * The first message is queued by sv_upstream_new(); each later one is queued
 * by the step that read the reply it answers. Invariants: u->in[0..in_len)
 * holds the part of the current reply received so far, never more than that
 * reply (bytes past it stay with the caller, so what follows the proxy's last
 * reply can be handed to TLS untouched); in_len is 0 right after a step
 * completes. The credentials live in u->user/u->pass only until the SOCKS5
 * method is chosen (HTTP: not at all, they go into the request at once); the
 * output buffer, which may hold them, is wiped when freed.
 */
#define SV_LOG_MODULE "upstream"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "buf.h"
#include "err.h"
#include "log.h"
#include "upstream.h"

#define OUT_MAX 4096
#define SOCKS_VERSION 5
#define SOCKS_AUTH_VERSION 1 /* RFC 1929 sub-negotiation */
#define SOCKS_METHOD_NONE 0
#define SOCKS_METHOD_USERPASS 2
#define SOCKS_METHOD_UNACCEPTABLE 0xff
#define SOCKS_CMD_CONNECT 1
#define SOCKS_ATYP_IPV4 1
#define SOCKS_ATYP_DOMAIN 3
#define SOCKS_ATYP_IPV6 4
#define NAME_MAX_ (SV_UPSTREAM_HOST_MAX + 8) /* "[host]:65535" */
#define QUOTE_MAX 64 /* bytes of the proxy's answer quoted in a message */

enum state {
	ST_HTTP_REPLY,
	ST_SOCKS_METHOD,
	ST_SOCKS_AUTH,
	ST_SOCKS_REPLY,
	ST_DONE,
	ST_FAILED,
};

struct sv_upstream {
	enum state state;
	enum sv_upstream_kind kind;
	int err;
	bool permanent;
	bool line_start;   /* HTTP: the last byte received ended a line */
	bool offered_auth; /* the proxy URL has credentials (sent / offered) */
	bool heard;        /* at least one byte came from the proxy */
	struct sv_buf out;
	size_t in_len;
	uint8_t in[SV_UPSTREAM_REPLY_MAX];
	char user[SV_UPSTREAM_CRED_MAX + 1];
	char pass[SV_UPSTREAM_CRED_MAX + 1];
	char proxy[NAME_MAX_];  /* "host:port" of the proxy, for messages */
	char target[NAME_MAX_]; /* "host:port" of the VPN server */
	char target_host[SV_UPSTREAM_HOST_MAX + 1]; /* no brackets */
	struct sv_ip target_ip;                     /* family 0: a name */
	uint16_t target_port;
	char errtext[SV_UPSTREAM_ERRTEXT_MAX];
};

/* One step of the handshake: how long its reply is, and what to do with it. */
struct step {
	const char *name;
	/* Total length of the reply given the bytes so far; NULL: up to the
	 * blank line ending an HTTP header block. */
	size_t (*need)(const struct sv_upstream *u);
	/* u->in[0..in_len) holds need(u) bytes (or the header block). Returns
	 * 0 (next state set), SV_E_INCOMPLETE (need(u) grew) or an error. */
	int (*on_reply)(struct sv_upstream *u);
};

static int http_on_reply(struct sv_upstream *u);
static size_t socks_method_need(const struct sv_upstream *u);
static int socks_method_on_reply(struct sv_upstream *u);
static size_t socks_auth_need(const struct sv_upstream *u);
static int socks_auth_on_reply(struct sv_upstream *u);
static size_t socks_reply_need(const struct sv_upstream *u);
static int socks_reply_on_reply(struct sv_upstream *u);

static const struct step steps[] = {
    [ST_HTTP_REPLY] = {"http-reply", NULL, http_on_reply},
    [ST_SOCKS_METHOD] = {"socks-method", socks_method_need,
                         socks_method_on_reply},
    [ST_SOCKS_AUTH] = {"socks-auth", socks_auth_need, socks_auth_on_reply},
    [ST_SOCKS_REPLY] = {"socks-reply", socks_reply_need, socks_reply_on_reply},
    [ST_DONE] = {"done", NULL, NULL},
    [ST_FAILED] = {"failed", NULL, NULL},
};

/* ---- small helpers ---- */

static int
ascii_lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

static bool
eq_nocase_n(const char *a, size_t n, const char *b)
{
	if (strlen(b) != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (ascii_lower((unsigned char)a[i]) !=
		    ascii_lower((unsigned char)b[i]))
			return false;
	return true;
}

static bool
is_host_char(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
}

/* A DNS name we are willing to put on the wire: 1..255 bytes of
 * is_host_char. */
static bool
is_host_name(const char *s, size_t n)
{
	if (n == 0 || n > SV_UPSTREAM_HOST_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_host_char((unsigned char)s[i]))
			return false;
	return true;
}

/* Copies p[0..n) into out[0..cap) as printable ASCII ('?' for anything
 * else), cut at cap - 4 with "...". */
static void
quote(char *out, size_t cap, const uint8_t *p, size_t n)
{
	size_t o = 0;

	for (size_t i = 0; i < n && o + 1 < cap; i++) {
		if (o + 4 >= cap && i + 1 < n) {
			memcpy(out + o, "...", 3);
			o += 3;
			break;
		}
		out[o++] = p[i] >= 0x20 && p[i] < 0x7f ? (char)p[i] : '?';
	}
	out[o] = '\0';
}

/* "host:port" or "[v6]:port" into out[NAME_MAX_]. */
static void
format_hostport(char *out, const char *host, uint16_t port)
{
	bool v6 = strchr(host, ':') != NULL;

	int n = snprintf(out, NAME_MAX_, "%s%s%s:%u", v6 ? "[" : "", host,
	                 v6 ? "]" : "", (unsigned)port);
	if (n < 0 || n >= NAME_MAX_) /* cannot happen: host is bounded */
		snprintf(out, NAME_MAX_, "?:%u", (unsigned)port);
}

static void
wipe_creds(struct sv_upstream *u)
{
	explicit_bzero(u->user, sizeof u->user);
	explicit_bzero(u->pass, sizeof u->pass);
}

static void
set_state(struct sv_upstream *u, enum state st)
{
	log_debug("proxy %s: %s -> %s", u->proxy, steps[u->state].name,
	          steps[st].name);
	u->state = st;
	u->in_len = 0;
	u->line_start = false;
}

/* Records the first error with its sentence; returns the recorded error. */
static int fail(struct sv_upstream *u, int r, bool permanent, const char *fmt,
                ...) __attribute__((format(printf, 4, 5)));

static int
fail(struct sv_upstream *u, int r, bool permanent, const char *fmt, ...)
{
	va_list ap;

	if (u->state == ST_FAILED)
		return u->err;
	va_start(ap, fmt);
	vsnprintf(u->errtext, sizeof u->errtext, fmt, ap);
	va_end(ap);
	u->err = r;
	u->permanent = permanent;
	wipe_creds(u);
	set_state(u, ST_FAILED);
	return r;
}

/* ---- base64 (RFC 4648) for Proxy-Authorization: Basic ---- */

static size_t
base64_encode(char *out, const uint8_t *p, size_t n)
{
	static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	                          "abcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t o = 0;

	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < n)
			v |= p[i + 2];
		out[o++] = tbl[(v >> 18) & 63];
		out[o++] = tbl[(v >> 12) & 63];
		out[o++] = i + 1 < n ? tbl[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < n ? tbl[v & 63] : '=';
	}
	out[o] = '\0';
	return o;
}

/* ---- URL parsing ---- */

/* Percent-decodes s[0..n) into out[SV_UPSTREAM_CRED_MAX + 1]. */
static int
decode_cred(const char *s, size_t n, char *out, const char *what, char *err,
            size_t errcap)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)s[i];
		if (c == '%') {
			int hi =
			    i + 2 < n ? sv_hexval((unsigned char)s[i + 1]) : -1;
			int lo =
			    i + 2 < n ? sv_hexval((unsigned char)s[i + 2]) : -1;
			if (hi < 0 || lo < 0) {
				snprintf(err, errcap,
				         "the %s in the proxy URL has a bad "
				         "%%-escape (write %%25 for a '%%')",
				         what);
				return SV_E_INVAL;
			}
			c = hi * 16 + lo;
			i += 2;
		}
		if (c == 0) {
			snprintf(err, errcap,
			         "the %s in the proxy URL holds a NUL byte "
			         "(%%00)",
			         what);
			return SV_E_INVAL;
		}
		if (o == SV_UPSTREAM_CRED_MAX) {
			snprintf(err, errcap,
			         "the %s in the proxy URL is longer than %u "
			         "bytes",
			         what, SV_UPSTREAM_CRED_MAX);
			return SV_E_INVAL;
		}
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return 0;
}

static int
parse_scheme(const char *url, const char **rest, enum sv_upstream_kind *kind,
             char *err, size_t errcap)
{
	const char *sep = strstr(url, "://");
	size_t n;

	if (sep == NULL) {
		*kind = SV_UPSTREAM_HTTP; /* like curl: no scheme means http */
		*rest = url;
		return 0;
	}
	n = (size_t)(sep - url);
	*rest = sep + 3;
	if (eq_nocase_n(url, n, "http")) {
		*kind = SV_UPSTREAM_HTTP;
	} else if (eq_nocase_n(url, n, "socks5") ||
	           eq_nocase_n(url, n, "socks5h")) {
		*kind = SV_UPSTREAM_SOCKS5;
	} else if (eq_nocase_n(url, n, "https")) {
		snprintf(err, errcap,
		         "https:// proxies (TLS to the proxy) are not "
		         "supported: use http://, socks5:// or socks5h://");
		return SV_E_INVAL;
	} else if (eq_nocase_n(url, n, "socks4") ||
	           eq_nocase_n(url, n, "socks4a")) {
		snprintf(err, errcap,
		         "SOCKS4 proxies are not supported: use socks5:// or "
		         "socks5h://");
		return SV_E_INVAL;
	} else {
		bool plain = n <= 16;
		for (size_t i = 0; i < n && plain; i++)
			plain = is_host_char((unsigned char)url[i]);
		snprintf(err, errcap,
		         "unknown proxy scheme%s%.*s%s: use http://, "
		         "socks5:// or socks5h://",
		         plain ? " \"" : "", plain ? (int)n : 0, url,
		         plain ? "\"" : "");
		return SV_E_INVAL;
	}
	return 0;
}

/* userinfo s[0..n): user[:password], both percent-encoded. */
static int
parse_userinfo(const char *s, size_t n, struct sv_upstream_cfg *c, char *err,
               size_t errcap)
{
	const char *colon = memchr(s, ':', n);
	size_t un = colon != NULL ? (size_t)(colon - s) : n;
	int r;

	if (n == 0)
		return 0; /* "http://@host": no credentials */
	if ((r = decode_cred(s, un, c->user, "user name", err, errcap)) != 0)
		return r;
	if (colon != NULL && (r = decode_cred(colon + 1, n - un - 1, c->pass,
	                                      "password", err, errcap)) != 0)
		return r;
	c->have_auth = true;
	return 0;
}

static int
parse_port(const char *s, size_t n, uint16_t *port, char *err, size_t errcap)
{
	unsigned long v = 0;

	if (n == 0 || n > 5)
		goto bad;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			goto bad;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v == 0 || v > 65535)
		goto bad;
	*port = (uint16_t)v;
	return 0;
bad:
	snprintf(err, errcap,
	         "the port in the proxy URL must be a number from 1 to 65535");
	return SV_E_INVAL;
}

/* host[:port] or [v6][:port] in s[0..n). */
static int
parse_hostport(const char *s, size_t n, struct sv_upstream_cfg *c, char *err,
               size_t errcap)
{
	const char *host = s, *port = NULL;
	size_t hn = n;
	char tmp[SV_UPSTREAM_HOST_MAX + 1];
	struct sv_ip ip;

	if (n > 0 && s[0] == '[') {
		const char *close = memchr(s, ']', n);
		if (close == NULL)
			goto bad_v6;
		host = s + 1;
		hn = (size_t)(close - host);
		if (close + 1 < s + n) {
			if (close[1] != ':')
				goto bad_v6;
			port = close + 2;
		}
		if (hn == 0 || hn > SV_UPSTREAM_HOST_MAX)
			goto bad_v6;
		memcpy(tmp, host, hn);
		tmp[hn] = '\0';
		if (sv_ip_parse(tmp, &ip) != 0 || ip.family != 6)
			goto bad_v6;
	} else {
		const char *colon = memchr(s, ':', n);
		if (colon != NULL) {
			hn = (size_t)(colon - s);
			port = colon + 1;
			if (memchr(port, ':', (size_t)(s + n - port)) != NULL) {
				snprintf(err, errcap,
				         "an IPv6 proxy address must be "
				         "written in brackets, e.g. "
				         "http://[::1]:3128");
				return SV_E_INVAL;
			}
		}
		if (!is_host_name(host, hn)) {
			snprintf(err, errcap,
			         "the proxy URL needs a host name or address "
			         "(letters, digits, '-', '.', '_'; at most "
			         "%u bytes)",
			         SV_UPSTREAM_HOST_MAX);
			return SV_E_INVAL;
		}
	}
	if (port != NULL) {
		int r = parse_port(port, (size_t)(s + n - port), &c->port, err,
		                   errcap);
		if (r != 0)
			return r;
	} else {
		c->port = SV_UPSTREAM_DEFAULT_PORT;
	}
	memcpy(c->host, host, hn);
	c->host[hn] = '\0';
	return 0;
bad_v6:
	snprintf(err, errcap,
	         "the proxy URL has a bad bracketed IPv6 address (expected "
	         "[address] or [address]:port)");
	return SV_E_INVAL;
}

/* Rules that depend on the kind of proxy. */
static int
check_creds(const struct sv_upstream_cfg *c, char *err, size_t errcap)
{
	if (!c->have_auth)
		return 0;
	if (c->kind == SV_UPSTREAM_SOCKS5 && c->user[0] == '\0') {
		snprintf(err, errcap,
		         "a SOCKS5 proxy needs a non-empty user name when a "
		         "password is given (RFC 1929)");
		return SV_E_INVAL;
	}
	if (c->kind == SV_UPSTREAM_HTTP && strchr(c->user, ':') != NULL) {
		snprintf(err, errcap,
		         "the user name for an HTTP proxy must not contain "
		         "':' (HTTP Basic authentication cannot carry it)");
		return SV_E_INVAL;
	}
	return 0;
}

/* see upstream.h */
int
sv_upstream_parse_url(const char *url, struct sv_upstream_cfg *cfg, char *err,
                      size_t errcap)
{
	struct sv_upstream_cfg c;
	const char *rest, *at, *end;
	int r;

	memset(&c, 0, sizeof c);
	if (url == NULL || url[0] == '\0') {
		snprintf(err, errcap, "the proxy URL is empty");
		r = SV_E_INVAL;
		goto out;
	}
	if ((r = parse_scheme(url, &rest, &c.kind, err, errcap)) != 0)
		goto out;
	/* The host part starts after the last '@' (a raw '@' in a password
	 * is common enough to tolerate) and ends at an optional final '/'. */
	at = strrchr(rest, '@');
	end = strchr(at != NULL ? at + 1 : rest, '/');
	if (end == NULL)
		end = rest + strlen(rest);
	if (end[0] == '/' && end[1] != '\0') {
		snprintf(err, errcap,
		         "the proxy URL must not have a path: write "
		         "scheme://[user:password@]host[:port]");
		r = SV_E_INVAL;
		goto out;
	}
	if (at != NULL && (r = parse_userinfo(rest, (size_t)(at - rest), &c,
	                                      err, errcap)) != 0)
		goto out;
	rest = at != NULL ? at + 1 : rest;
	if ((r = parse_hostport(rest, (size_t)(end - rest), &c, err, errcap)) !=
	        0 ||
	    (r = check_creds(&c, err, errcap)) != 0)
		goto out;
	*cfg = c;
out:
	explicit_bzero(&c, sizeof c);
	return r;
}

/* see upstream.h */
void
sv_upstream_cfg_wipe(struct sv_upstream_cfg *cfg)
{
	if (cfg != NULL)
		explicit_bzero(cfg, sizeof *cfg);
}

/* see upstream.h */
const char *
sv_upstream_kind_name(enum sv_upstream_kind kind)
{
	switch (kind) {
	case SV_UPSTREAM_HTTP:
		return "http";
	case SV_UPSTREAM_SOCKS5:
		return "socks5";
	}
	return "?";
}

/* see upstream.h */
char *
sv_upstream_cfg_describe(const struct sv_upstream_cfg *cfg, char *out,
                         size_t cap)
{
	char hp[NAME_MAX_];

	if (cap == 0)
		return out;
	format_hostport(hp, cfg->host, cfg->port);
	snprintf(out, cap, "%s://%s%s", sv_upstream_kind_name(cfg->kind),
	         cfg->have_auth ? "***@" : "", hp);
	return out;
}

/* ---- the handshake: first messages ---- */

/* Target host: a name, or an IP literal (IPv6 possibly in brackets). */
static int
set_target(struct sv_upstream *u, const char *host, uint16_t port)
{
	size_t n = host != NULL ? strlen(host) : 0;

	if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
		host++;
		n -= 2;
	}
	if (n == 0 || n > SV_UPSTREAM_HOST_MAX || port == 0)
		return SV_E_INVAL;
	memcpy(u->target_host, host, n);
	u->target_host[n] = '\0';
	if (sv_ip_parse(u->target_host, &u->target_ip) != 0) {
		u->target_ip.family = 0;
		if (!is_host_name(u->target_host, n))
			return SV_E_INVAL;
	}
	u->target_port = port;
	format_hostport(u->target, u->target_host, port);
	return 0;
}

/* RFC 9110 section 9.3.6 (CONNECT), RFC 7617 (Basic). */
static int
http_send_connect(struct sv_upstream *u, const struct sv_upstream_cfg *cfg)
{
	char userpass[2 * SV_UPSTREAM_CRED_MAX + 2];
	char b64[((sizeof userpass + 2) / 3) * 4 + 1];
	int r;

	if ((r = sv_buf_printf(&u->out, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n",
	                       u->target, u->target)) != 0)
		return r;
	if (cfg->have_auth) {
		int n = snprintf(userpass, sizeof userpass, "%s:%s", cfg->user,
		                 cfg->pass);
		base64_encode(b64, (const uint8_t *)userpass, (size_t)n);
		r = sv_buf_printf(&u->out, "Proxy-Authorization: Basic %s\r\n",
		                  b64);
		explicit_bzero(userpass, sizeof userpass);
		explicit_bzero(b64, sizeof b64);
		if (r != 0)
			return r;
	}
	return sv_buf_put_str(&u->out, "\r\n");
}

/* RFC 1928 section 3: VER NMETHODS METHODS. */
static int
socks_send_greeting(struct sv_upstream *u)
{
	static const uint8_t plain[] = {SOCKS_VERSION, 1, SOCKS_METHOD_NONE};
	static const uint8_t both[] = {SOCKS_VERSION, 2, SOCKS_METHOD_NONE,
	                               SOCKS_METHOD_USERPASS};

	if (u->offered_auth)
		return sv_buf_put(&u->out, both, sizeof both);
	return sv_buf_put(&u->out, plain, sizeof plain);
}

/* see upstream.h */
int
sv_upstream_new(struct sv_upstream **out, const struct sv_upstream_cfg *cfg,
                const char *target_host, uint16_t target_port)
{
	struct sv_upstream *u;
	int r;

	if (cfg == NULL || cfg->host[0] == '\0' ||
	    (cfg->kind != SV_UPSTREAM_HTTP && cfg->kind != SV_UPSTREAM_SOCKS5))
		return SV_E_INVAL;
	if ((u = calloc(1, sizeof *u)) == NULL)
		return SV_E_NOMEM;
	sv_buf_init(&u->out, OUT_MAX);
	u->kind = cfg->kind;
	format_hostport(u->proxy, cfg->host, cfg->port);
	u->offered_auth = cfg->have_auth;
	if ((r = set_target(u, target_host, target_port)) != 0)
		goto fail;
	if (cfg->kind == SV_UPSTREAM_HTTP) {
		u->state = ST_HTTP_REPLY;
		r = http_send_connect(u, cfg);
	} else {
		u->state = ST_SOCKS_METHOD;
		if (cfg->have_auth) {
			/* both fit: sizes equal, NUL-terminated */
			memcpy(u->user, cfg->user, sizeof u->user);
			memcpy(u->pass, cfg->pass, sizeof u->pass);
		}
		r = socks_send_greeting(u);
	}
	if (r != 0)
		goto fail;
	log_debug("proxy %s: %s handshake to %s", u->proxy,
	          sv_upstream_kind_name(u->kind), u->target);
	*out = u;
	return 0;
fail:
	sv_upstream_free(u);
	return r;
}

/* see upstream.h */
void
sv_upstream_free(struct sv_upstream *u)
{
	if (u == NULL)
		return;
	sv_buf_cleanup(&u->out);
	explicit_bzero(u, sizeof *u);
	free(u);
}

/* see upstream.h */
const uint8_t *
sv_upstream_output(struct sv_upstream *u, size_t *len)
{
	return sv_buf_peek(&u->out, len);
}

/* see upstream.h */
void
sv_upstream_output_ack(struct sv_upstream *u, size_t n)
{
	size_t have = sv_buf_len(&u->out);

	sv_buf_consume(&u->out, n < have ? n : have);
}

/* ---- HTTP CONNECT reply ---- */

/* Appends the scheme names of the Proxy-Authenticate headers in h[0..n) to
 * offers (", "-separated); true if one of them is Basic. */
static bool
http_auth_schemes(const uint8_t *h, size_t n, char *offers, size_t cap)
{
	static const char name[] = "proxy-authenticate:";
	const size_t nl = sizeof name - 1;
	bool basic = false;
	size_t i = 0;

	offers[0] = '\0';
	while (i < n) {
		const uint8_t *eol = memchr(h + i, '\n', n - i);
		size_t len = eol != NULL ? (size_t)(eol - (h + i)) : n - i;
		const char *line = (const char *)h + i;
		if (len > nl && eq_nocase_n(line, nl, name)) {
			size_t a = nl, b;
			while (a < len && (line[a] == ' ' || line[a] == '\t'))
				a++;
			for (b = a;
			     b < len && is_host_char((unsigned char)line[b]);)
				b++;
			if (eq_nocase_n(line + a, b - a, "basic")) {
				basic = true;
			} else if (b > a) {
				size_t o = strlen(offers);
				char q[24];
				quote(q, sizeof q, (const uint8_t *)line + a,
				      b - a);
				snprintf(offers + o, cap - o, "%s%s",
				         o > 0 ? ", " : "", q);
			}
		}
		i += len + 1;
	}
	return basic;
}

/* 407, or 401 (which tinyproxy sends for wrong credentials). */
static int
http_fail_auth(struct sv_upstream *u, unsigned status, const char *reason)
{
	char offers[96];
	const uint8_t *h = memchr(u->in, '\n', u->in_len);
	size_t skip = h != NULL ? (size_t)(h - u->in) + 1 : u->in_len;
	bool basic = http_auth_schemes(u->in + skip, u->in_len - skip, offers,
	                               sizeof offers);

	if (!basic && offers[0] != '\0')
		return fail(u, SV_E_AUTH, true,
		            "the upstream proxy %s asks for %s authentication, "
		            "which is not supported (only Basic is)",
		            u->proxy, offers);
	if (!u->offered_auth)
		return fail(u, SV_E_AUTH, true,
		            "the upstream proxy %s requires a user name and "
		            "password (answer %u %s): put them in the proxy "
		            "URL, http://user:password@host:port",
		            u->proxy, status, reason);
	return fail(u, SV_E_AUTH, true,
	            "the upstream proxy %s rejected the user name and "
	            "password from the proxy URL (answer %u %s)",
	            u->proxy, status, reason);
}

/* Status line "HTTP/1.x NNN[ reason]" of the complete header block. */
static int
http_on_reply(struct sv_upstream *u)
{
	const uint8_t *eol = memchr(u->in, '\n', u->in_len);
	size_t n = (size_t)(eol - u->in); /* the block ends with '\n' */
	char reason[QUOTE_MAX], line[QUOTE_MAX];
	unsigned status;
	const uint8_t *s = u->in;

	if (n > 0 && s[n - 1] == '\r')
		n--;
	if (n < 12 || memcmp(s, "HTTP/1.", 7) != 0 || s[7] < '0' ||
	    s[7] > '9' || s[8] != ' ' || s[9] < '1' || s[9] > '5' ||
	    s[10] < '0' || s[10] > '9' || s[11] < '0' || s[11] > '9' ||
	    (n > 12 && s[12] != ' ')) {
		quote(line, sizeof line, s, n);
		return fail(u, SV_E_PROTO, true,
		            "the upstream proxy %s sent a malformed HTTP "
		            "status line: \"%s\"",
		            u->proxy, line);
	}
	status = (unsigned)(s[9] - '0') * 100 + (unsigned)(s[10] - '0') * 10 +
	         (unsigned)(s[11] - '0');
	if (status >= 200 && status <= 299) {
		log_debug("proxy %s: tunnel to %s established (%u)", u->proxy,
		          u->target, status);
		set_state(u, ST_DONE);
		return 0;
	}
	quote(reason, sizeof reason, s + 13 < s + n ? s + 13 : s + n,
	      n > 13 ? n - 13 : 0);
	if (status == 407 || status == 401)
		return http_fail_auth(u, status, reason);
	if (status == 502 || status == 503 || status == 504)
		return fail(u, status == 504 ? -ETIMEDOUT : -ECONNREFUSED,
		            false,
		            "the upstream proxy %s could not reach the VPN "
		            "server %s (answer %u %s)",
		            u->proxy, u->target, status, reason);
	if (status >= 500)
		return fail(u, -ECONNABORTED, false,
		            "the upstream proxy %s failed to open a tunnel to "
		            "the VPN server %s (answer %u %s)",
		            u->proxy, u->target, status, reason);
	if (status >= 400)
		return fail(u, -EACCES, true,
		            "the upstream proxy %s refused a tunnel to the "
		            "VPN server %s (answer %u %s)",
		            u->proxy, u->target, status, reason);
	return fail(u, SV_E_PROTO, true,
	            "the upstream proxy %s answered the CONNECT request to %s "
	            "with %u %s instead of opening a tunnel",
	            u->proxy, u->target, status, reason);
}

/* Takes bytes up to the blank line that ends the header block. */
static int
http_feed(struct sv_upstream *u, const uint8_t *p, size_t n, size_t *take)
{
	static const char magic[] = "HTTP/";

	for (size_t i = 0; i < n; i++) {
		uint8_t c = p[i];
		if (u->in_len == sizeof u->in) {
			*take = i;
			return fail(u, SV_E_TOOBIG, true,
			            "the upstream proxy %s sent an HTTP header "
			            "block longer than %u bytes",
			            u->proxy, SV_UPSTREAM_REPLY_MAX);
		}
		u->in[u->in_len++] = c;
		if (u->in_len < sizeof magic &&
		    c != (uint8_t)magic[u->in_len - 1]) {
			*take = i + 1;
			return fail(u, SV_E_PROTO, true,
			            "the upstream proxy %s did not answer in "
			            "HTTP (is it a SOCKS proxy? then write "
			            "socks5:// in the proxy URL)",
			            u->proxy);
		}
		if (c == '\n') {
			if (u->line_start) {
				*take = i + 1;
				return http_on_reply(u);
			}
			u->line_start = true;
		} else if (c != '\r') {
			u->line_start = false;
		}
	}
	*take = n;
	return 0;
}

/* ---- SOCKS5 replies ---- */

static int
socks_not_socks(struct sv_upstream *u)
{
	if (u->in[0] == 'H')
		return fail(u, SV_E_PROTO, true,
		            "the upstream proxy %s answered in HTTP, not "
		            "SOCKS5: write http:// in the proxy URL",
		            u->proxy);
	return fail(u, SV_E_PROTO, true,
	            "the upstream proxy %s does not speak SOCKS5 (its answer "
	            "starts with byte 0x%02x, not 0x05)",
	            u->proxy, u->in[0]);
}

/* RFC 1929 section 2: VER ULEN UNAME PLEN PASSWD. */
static int
socks_send_auth(struct sv_upstream *u)
{
	size_t un = strlen(u->user), pn = strlen(u->pass);
	int r;

	if ((r = sv_buf_put_u8(&u->out, SOCKS_AUTH_VERSION)) != 0 ||
	    (r = sv_buf_put_u8(&u->out, (uint8_t)un)) != 0 ||
	    (r = sv_buf_put(&u->out, u->user, un)) != 0 ||
	    (r = sv_buf_put_u8(&u->out, (uint8_t)pn)) != 0 ||
	    (r = sv_buf_put(&u->out, u->pass, pn)) != 0)
		return fail(u, r, false,
		            "out of memory talking to the "
		            "upstream proxy %s",
		            u->proxy);
	wipe_creds(u);
	set_state(u, ST_SOCKS_AUTH);
	return 0;
}

/* RFC 1928 section 4: VER CMD RSV ATYP DST.ADDR DST.PORT. */
static int
socks_send_connect(struct sv_upstream *u)
{
	size_t hn = strlen(u->target_host);
	int r = 0;

	wipe_creds(u);
	if ((r = sv_buf_put_u8(&u->out, SOCKS_VERSION)) != 0 ||
	    (r = sv_buf_put_u8(&u->out, SOCKS_CMD_CONNECT)) != 0 ||
	    (r = sv_buf_put_u8(&u->out, 0)) != 0)
		goto out;
	if (u->target_ip.family == 4) {
		if ((r = sv_buf_put_u8(&u->out, SOCKS_ATYP_IPV4)) == 0)
			r = sv_buf_put(&u->out, u->target_ip.b, 4);
	} else if (u->target_ip.family == 6) {
		if ((r = sv_buf_put_u8(&u->out, SOCKS_ATYP_IPV6)) == 0)
			r = sv_buf_put(&u->out, u->target_ip.b, 16);
	} else if ((r = sv_buf_put_u8(&u->out, SOCKS_ATYP_DOMAIN)) == 0 &&
	           (r = sv_buf_put_u8(&u->out, (uint8_t)hn)) == 0) {
		r = sv_buf_put(&u->out, u->target_host, hn);
	}
	if (r == 0)
		r = sv_buf_put_u16(&u->out, u->target_port);
out:
	if (r != 0)
		return fail(u, r, false,
		            "out of memory talking to the "
		            "upstream proxy %s",
		            u->proxy);
	set_state(u, ST_SOCKS_REPLY);
	return 0;
}

/* RFC 1928 section 3: VER METHOD. */
static size_t
socks_method_need(const struct sv_upstream *u)
{
	return 2;
}

static int
socks_method_on_reply(struct sv_upstream *u)
{
	uint8_t m = u->in[1];

	if (u->in[0] != SOCKS_VERSION)
		return socks_not_socks(u);
	if (m == SOCKS_METHOD_NONE)
		return socks_send_connect(u);
	if (m == SOCKS_METHOD_USERPASS && u->offered_auth)
		return socks_send_auth(u);
	if (m == SOCKS_METHOD_UNACCEPTABLE && !u->offered_auth)
		return fail(u, SV_E_AUTH, true,
		            "the upstream proxy %s requires a user name and "
		            "password: put them in the proxy URL, "
		            "socks5://user:password@host:port",
		            u->proxy);
	if (m == SOCKS_METHOD_UNACCEPTABLE)
		return fail(u, SV_E_AUTH, true,
		            "the upstream proxy %s accepts none of our "
		            "authentication methods (none, user name and "
		            "password)",
		            u->proxy);
	return fail(u, SV_E_PROTO, true,
	            "the upstream proxy %s chose SOCKS5 authentication method "
	            "%u, which we did not offer",
	            u->proxy, m);
}

/* RFC 1929 section 2: VER STATUS. */
static size_t
socks_auth_need(const struct sv_upstream *u)
{
	return 2;
}

static int
socks_auth_on_reply(struct sv_upstream *u)
{
	/* Some servers answer with version 5 instead of 1; accept both. */
	if (u->in[0] != SOCKS_AUTH_VERSION && u->in[0] != SOCKS_VERSION)
		return fail(u, SV_E_PROTO, true,
		            "the upstream proxy %s sent a malformed SOCKS5 "
		            "authentication answer (version 0x%02x)",
		            u->proxy, u->in[0]);
	if (u->in[1] != 0)
		return fail(u, SV_E_AUTH, true,
		            "the upstream proxy %s rejected the user name and "
		            "password from the proxy URL",
		            u->proxy);
	return socks_send_connect(u);
}

/* RFC 1928 section 6: VER REP RSV ATYP BND.ADDR BND.PORT. A failure is
 * reported as soon as REP arrives: some servers send no more. */
static size_t
socks_reply_need(const struct sv_upstream *u)
{
	if (u->in_len < 2 || u->in[0] != SOCKS_VERSION || u->in[1] != 0)
		return 2;
	if (u->in_len < 5)
		return 5;
	switch (u->in[3]) {
	case SOCKS_ATYP_IPV4:
		return 4 + 4 + 2;
	case SOCKS_ATYP_IPV6:
		return 4 + 16 + 2;
	case SOCKS_ATYP_DOMAIN:
		return 4 + 1 + (size_t)u->in[4] + 2;
	}
	return 5; /* unknown ATYP: on_reply fails */
}

struct socks_rep {
	int code;
	bool permanent;
	const char *text;
};

/* RFC 1928 section 6, REP values 1..8. */
static const struct socks_rep socks_reps[] = {
    [1] = {-ECONNABORTED, false, "general SOCKS server failure"},
    [2] = {-EACCES, true, "connection not allowed by ruleset"},
    [3] = {-ENETUNREACH, false, "network unreachable"},
    [4] = {-EHOSTUNREACH, false, "host unreachable"},
    [5] = {-ECONNREFUSED, false, "connection refused"},
    [6] = {-ETIMEDOUT, false, "TTL expired"},
    [7] = {-EOPNOTSUPP, true, "command not supported"},
    [8] = {-EAFNOSUPPORT, true, "address type not supported"},
};

static int
socks_fail_rep(struct sv_upstream *u, uint8_t rep)
{
	const struct socks_rep *e;

	if (rep >= sizeof socks_reps / sizeof socks_reps[0])
		return fail(u, SV_E_PROTO, true,
		            "the upstream proxy %s refused the connection to "
		            "the VPN server %s with unknown SOCKS5 reply code "
		            "%u",
		            u->proxy, u->target, rep);
	e = &socks_reps[rep];
	if (e->permanent)
		return fail(u, e->code, true,
		            "the upstream proxy %s refused the connection to "
		            "the VPN server %s: %s",
		            u->proxy, u->target, e->text);
	return fail(u, e->code, false,
	            "the upstream proxy %s could not reach the VPN server "
	            "%s: %s",
	            u->proxy, u->target, e->text);
}

static int
socks_reply_on_reply(struct sv_upstream *u)
{
	uint8_t atyp;

	if (u->in[0] != SOCKS_VERSION)
		return socks_not_socks(u);
	if (u->in[1] != 0)
		return socks_fail_rep(u, u->in[1]);
	if (u->in_len < socks_reply_need(u))
		return SV_E_INCOMPLETE;
	atyp = u->in[3];
	if (atyp != SOCKS_ATYP_IPV4 && atyp != SOCKS_ATYP_IPV6 &&
	    atyp != SOCKS_ATYP_DOMAIN)
		return fail(u, SV_E_PROTO, true,
		            "the upstream proxy %s sent a SOCKS5 reply with "
		            "unknown address type %u",
		            u->proxy, atyp);
	log_debug("proxy %s: tunnel to %s established", u->proxy, u->target);
	set_state(u, ST_DONE);
	return 0;
}

/* Takes bytes up to the end of the current fixed-layout reply. */
static int
count_feed(struct sv_upstream *u, const uint8_t *p, size_t n, size_t *take)
{
	const struct step *st = &steps[u->state];
	size_t used = 0;
	int r;

	for (;;) {
		size_t want = st->need(u);
		if (u->in_len < want) {
			size_t k = want - u->in_len;
			if (k > n - used)
				k = n - used;
			memcpy(u->in + u->in_len, p + used, k);
			u->in_len += k;
			used += k;
			if (u->in_len < want) {
				*take = used;
				return 0;
			}
		}
		r = st->on_reply(u);
		if (r != SV_E_INCOMPLETE) {
			*take = used;
			return r;
		}
	}
}

/* ---- driving ---- */

/* see upstream.h */
int
sv_upstream_input(struct sv_upstream *u, const uint8_t *p, size_t n,
                  size_t *consumed)
{
	size_t used = 0;

	if (n > 0)
		u->heard = true;
	while (u->state != ST_DONE && u->state != ST_FAILED && used < n) {
		size_t take = 0;
		int r = steps[u->state].need != NULL
		            ? count_feed(u, p + used, n - used, &take)
		            : http_feed(u, p + used, n - used, &take);
		used += take;
		if (r < 0)
			return r;
	}
	if (u->state == ST_FAILED)
		return u->err;
	if (u->state != ST_DONE)
		return 0;
	if (consumed != NULL)
		*consumed = used;
	return 1;
}

/* see upstream.h */
int
sv_upstream_fail(struct sv_upstream *u, int r)
{
	/* Silence from the proxy often means it speaks the other protocol:
	 * tinyproxy waits for a line that a SOCKS5 greeting never ends, dante
	 * closes on an HTTP request. */
	const char *hint = u->heard ? ""
	                   : u->kind == SV_UPSTREAM_HTTP
	                       ? " (it said nothing: is it really an HTTP "
	                         "proxy? check the scheme of the proxy URL)"
	                       : " (it said nothing: is it really a SOCKS5 "
	                         "proxy? check the scheme of the proxy URL)";

	if (u->state == ST_FAILED || u->state == ST_DONE)
		return u->state == ST_FAILED ? u->err : r;
	if (r == SV_E_CLOSED)
		return fail(u, r, false,
		            "the upstream proxy %s closed the connection "
		            "before the tunnel to the VPN server %s was "
		            "open%s",
		            u->proxy, u->target, hint);
	if (r == SV_E_TIMEOUT)
		return fail(u, r, false,
		            "the upstream proxy %s did not open the tunnel to "
		            "the VPN server %s in time%s",
		            u->proxy, u->target, hint);
	return fail(u, r, false,
	            "the connection to the upstream proxy %s "
	            "failed: %s",
	            u->proxy, sv_strerror(r));
}

/* see upstream.h */
bool
sv_upstream_is_established(const struct sv_upstream *u)
{
	return u->state == ST_DONE;
}

/* see upstream.h */
int
sv_upstream_error(const struct sv_upstream *u)
{
	return u->state == ST_FAILED ? u->err : 0;
}

/* see upstream.h */
const char *
sv_upstream_error_text(const struct sv_upstream *u)
{
	return u->state == ST_FAILED ? u->errtext : "";
}

/* see upstream.h */
bool
sv_upstream_error_is_permanent(const struct sv_upstream *u)
{
	return u->state == ST_FAILED && u->permanent;
}
