/*
 * Port forwards (-L TCP and UDP, -R): see forward.h. TCP forwards are front-ends of the
 * relay core (socks/conn.c) that connect from on_accept; -R hands each connection
 * accepted on the tunnel to the core with the roles swapped (sv_conn_reverse); UDP
 * forwards map each local client address to a tunnel UDP socket (netstack/udpconn.h).
 */
#define SV_LOG_MODULE "forward"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "core/addr.h"
#include "core/err.h"
#include "core/log.h"
#include "netstack/resolve.h"
#include "netstack/tcplisten.h"
#include "netstack/udpconn.h"
#include "socks/conn.h"
#include "socks/forward.h"
#include "socks/frontend.h"
#include "socks/lookup.h"

#define MAX_FIELDS 4
#define UDP_SWEEP_MS 5000u
#define UDP_BUF 65536u

/* --- parsing ------------------------------------------------------------------------ */

static int
perr(char *err, size_t cap, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && cap > 0) {
		va_start(ap, fmt);
		vsnprintf(err, cap, fmt, ap);
		va_end(ap);
	}
	return SV_E_INVAL;
}

/* Splits s at ':' outside brackets into at most MAX_FIELDS fields (brackets removed;
 * a bracketed field must be followed by ':' or the end). Returns the count, or -1. */
static int
split_fields(const char *s, char f[MAX_FIELDS][SV_FWD_HOST_MAX])
{
	int n = 0;

	for (;;) {
		const char *end;
		size_t len;

		if (n == MAX_FIELDS)
			return -1;
		if (*s == '[') {
			if ((end = strchr(s, ']')) == NULL || (end[1] != ':' && end[1] != '\0'))
				return -1;
			len = (size_t)(end - s - 1);
			if (len == 0 || memchr(s + 1, ':', len) == NULL)
				return -1; /* brackets are for IPv6 only */
			s++;
			end++; /* at ':' or the end */
		} else {
			end = strchr(s, ':');
			if (end == NULL)
				end = s + strlen(s);
			len = (size_t)(end - s);
		}
		if (len >= SV_FWD_HOST_MAX)
			return -1;
		memcpy(f[n], s, len);
		f[n][len] = '\0';
		n++;
		if (*end == '\0')
			return n;
		s = end + 1;
	}
}

static bool
parse_port(const char *s, bool zero_ok, uint16_t *out)
{
	unsigned long v = 0;

	if (*s == '\0' || strlen(s) > 5)
		return false;
	for (const char *p = s; *p != '\0'; p++) {
		if (*p < '0' || *p > '9')
			return false;
		v = v * 10 + (unsigned long)(*p - '0');
	}
	if (v > 65535 || (v == 0 && !zero_ok))
		return false;
	*out = (uint16_t)v;
	return true;
}

static bool
valid_host(const char *h)
{
	struct sv_ip ip;

	if (h[0] == '\0')
		return false;
	if (strchr(h, ':') != NULL)
		return sv_ip_parse(h, &ip) == 0 && ip.family == 6;
	for (const char *p = h; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			(*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_'))
			return false;
	return true;
}

/* see forward.h */
int
sv_forward_parse(const char *s, enum sv_fwd_kind kind, struct sv_forward_spec *out,
	char *err, size_t errcap)
{
	char f[MAX_FIELDS][SV_FWD_HOST_MAX];
	const char *orig = s;
	const char *want;
	int n, i = 0;

	memset(out, 0, sizeof *out);
	out->kind = kind;
	if (kind == SV_FWD_LOCAL_TCP || kind == SV_FWD_LOCAL_UDP) {
		if (strncmp(s, "udp:", 4) == 0) {
			out->kind = SV_FWD_LOCAL_UDP;
			s += 4;
		} else if (strncmp(s, "tcp:", 4) == 0) {
			out->kind = SV_FWD_LOCAL_TCP;
			s += 4;
		}
	}
	switch (out->kind) {
	case SV_FWD_STDIO:
		want = "HOST:PORT";
		break;
	case SV_FWD_REMOTE:
		want = "PORT:HOST:HOSTPORT";
		break;
	default:
		want = "[udp:][BIND:]PORT:HOST:HOSTPORT";
		break;
	}
	n = split_fields(s, f);
	if (out->kind == SV_FWD_STDIO) {
		if (n != 2)
			return perr(err, errcap, "'%s': expected %s (IPv6 in brackets)", orig,
				want);
		i = 0;
	} else if (out->kind == SV_FWD_REMOTE) {
		if (n != 3)
			return perr(err, errcap, "'%s': expected %s (IPv6 in brackets)", orig,
				want);
		if (!parse_port(f[0], false, &out->port))
			return perr(err, errcap, "'%s': bad port '%s' (1-65535)", orig, f[0]);
		i = 1;
	} else {
		if (n != 3 && n != 4)
			return perr(err, errcap, "'%s': expected %s (IPv6 in brackets)", orig,
				want);
		if (n == 4) {
			const char *b = f[0];
			struct sv_ip ip;
			if (strcmp(b, "*") == 0 || b[0] == '\0')
				b = "0.0.0.0";
			else if (strcmp(b, "localhost") == 0)
				b = "127.0.0.1";
			if (sv_ip_parse(b, &ip) != 0)
				return perr(err, errcap, "'%s': the bind address '%s' is not an "
					"IP address, '*' or localhost", orig, f[0]);
			if (strlen(b) >= sizeof out->bind)
				return perr(err, errcap, "'%s': bind address too long", orig);
			memcpy(out->bind, b, strlen(b) + 1);
			i = 1;
		} else {
			snprintf(out->bind, sizeof out->bind, "127.0.0.1");
		}
		if (!parse_port(f[i], true, &out->port))
			return perr(err, errcap, "'%s': bad port '%s' (0-65535)", orig, f[i]);
		i++;
	}
	if (!valid_host(f[i]))
		return perr(err, errcap, "'%s': bad host '%s'", orig, f[i]);
	memcpy(out->host, f[i], strlen(f[i]) + 1); /* split_fields bounded it */
	if (!parse_port(f[i + 1], false, &out->hostport))
		return perr(err, errcap, "'%s': bad port '%s' (1-65535)", orig, f[i + 1]);
	return 0;
}

static void
format_hp(const char *h, unsigned port, char *out, size_t cap)
{
	bool v6 = strchr(h, ':') != NULL;

	snprintf(out, cap, "%s%s%s:%u", v6 ? "[" : "", h, v6 ? "]" : "", port);
}

/* see forward.h */
void
sv_forward_format(const struct sv_forward_spec *f, char *out, size_t cap)
{
	char a[80], b[SV_FWD_HOST_MAX + 10];

	format_hp(f->host, f->hostport, b, sizeof b);
	switch (f->kind) {
	case SV_FWD_STDIO:
		snprintf(out, cap, "%s", b);
		break;
	case SV_FWD_REMOTE:
		snprintf(out, cap, "%u:%s", (unsigned)f->port, b);
		break;
	default:
		format_hp(f->bind, f->port, a, sizeof a);
		snprintf(out, cap, "%s%s:%s", f->kind == SV_FWD_LOCAL_UDP ? "udp:" : "", a, b);
		break;
	}
}

/* --- the forwards ------------------------------------------------------------------- */

struct udp_map;

struct fwd {
	struct fwd *next;
	struct sv_forward_spec spec;
	struct sv_proxy_config cfg;
	uv_loop_t *loop;
	char name[160];
	/* -R */
	struct sv_tcplisten *tl;
	struct sockaddr_storage local; /* -R: where to connect */
	/* -L udp */
	bool udp_open;
	uv_udp_t udp;
	uv_timer_t sweep;
	struct udp_map *maps;
	unsigned n_maps;
	bool full_logged;
	uint8_t *rbuf;
	int handles;
	bool closing;
};

struct udp_map {
	struct udp_map *next;
	struct fwd *f;
	struct sockaddr_storage client;
	struct sv_udpconn *u;
	struct sv_lookup *res;
	bool resolved;
	struct sv_ip dst;
	uint64_t last;
	uint8_t *pending; /* one datagram waiting for the name */
	size_t pending_len;
};

static struct fwd *fwds;

/* TCP: the target is fixed; connect as soon as the client is accepted. */
static void
fwd_tcp_accept(struct sv_conn *c)
{
	const struct fwd *f = sv_conn_data(c);
	struct sv_conn_target t = { .host = f->spec.host, .port = f->spec.hostport };

	sv_conn_set_data(c, NULL); /* borrowed: never freed by the conn */
	sv_conn_connect(c, &t);
}

static const struct sv_frontend_ops fe_forward = {
	.name = "forward",
	.on_accept = fwd_tcp_accept,
};

static const struct sv_frontend_ops fe_reverse = {
	.name = "reverse",
};

/* -R: a connection arrived on the tunnel. */
static void
fwd_remote_accept(void *arg, struct sv_tcpconn *tc)
{
	struct fwd *f = arg;
	int e;

	if (f->closing) {
		sv_tcpconn_abort(tc);
		return;
	}
	if (sv_conn_count() >= f->cfg.max_clients) {
		log_warn("%s: the client limit (--max-clients %u) is reached: refusing",
			f->name, f->cfg.max_clients);
		sv_tcpconn_abort(tc);
		return;
	}
	if ((e = sv_conn_reverse(f->loop, tc, (const struct sockaddr *)&f->local, &fe_reverse,
		&f->cfg)) != 0)
		log_warn_r(e, "%s: no memory for a connection", f->name);
}

static const struct sv_tcplisten_ops tl_ops = { .on_accept = fwd_remote_accept };

/* --- UDP ----------------------------------------------------------------------------- */

static bool
same_client(const struct sockaddr_storage *a, const struct sockaddr *b)
{
	if (a->ss_family != b->sa_family)
		return false;
	if (b->sa_family == AF_INET)
		return memcmp(a, b, sizeof(struct sockaddr_in)) == 0;
	return memcmp(a, b, sizeof(struct sockaddr_in6)) == 0;
}

static void
map_free(struct udp_map *m)
{
	struct fwd *f = m->f;

	for (struct udp_map **pp = &f->maps; *pp != NULL; pp = &(*pp)->next)
		if (*pp == m) {
			*pp = m->next;
			break;
		}
	f->n_maps--;
	sv_lookup_cancel(m->res);
	sv_udpconn_close(m->u);
	free(m->pending);
	free(m);
}

static void
map_send(struct udp_map *m, const uint8_t *p, size_t n)
{
	int e = sv_udpconn_sendto(m->u, &m->dst, m->f->spec.hostport, p, n);

	if (e != 0)
		log_debug_r(e, "%s: datagram to the tunnel dropped", m->f->name);
}

static void
map_resolved(void *arg, int err, const struct sv_ip *ip)
{
	struct udp_map *m = arg;

	m->res = NULL;
	if (err != 0) {
		log_info_r(err == -ENOENT ? SV_E_NOTFOUND : err, "%s: resolve %s", m->f->name,
			m->f->spec.host);
		map_free(m);
		return;
	}
	m->dst = *ip;
	m->resolved = true;
	if (m->pending != NULL) {
		map_send(m, m->pending, m->pending_len);
		free(m->pending);
		m->pending = NULL;
	}
}

static bool
same_ip(const struct sv_ip *a, const struct sv_ip *b)
{
	return a->family == b->family &&
		memcmp(a->b, b->b, a->family == 4 ? 4 : 16) == 0;
}

/* A reply from the tunnel: only from the target, like a connected socket. */
static void
map_datagram(void *arg, const struct sv_ip *src, uint16_t port, const uint8_t *data,
	size_t len)
{
	struct udp_map *m = arg;
	uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
	int e;

	if (!m->resolved || port != m->f->spec.hostport || !same_ip(src, &m->dst))
		return;
	m->last = uv_now(m->f->loop);
	e = uv_udp_try_send(&m->f->udp, &b, 1, (const struct sockaddr *)&m->client);
	if (e < 0)
		log_debug_r(e, "%s: datagram to the client dropped", m->f->name);
}

static const struct sv_udpconn_ops map_ops = { .on_datagram = map_datagram };

/* The mapping idle the longest, to make room. */
static struct udp_map *
oldest_map(struct fwd *f)
{
	struct udp_map *o = f->maps;

	for (struct udp_map *m = f->maps; m != NULL; m = m->next)
		if (m->last < o->last)
			o = m;
	return o;
}

static struct udp_map *
map_new(struct fwd *f, const struct sockaddr *client)
{
	struct udp_map *m;
	struct sv_ip ip;
	int e;

	if (f->n_maps >= SV_FWD_UDP_MAX_MAPPINGS) {
		if (!f->full_logged)
			log_warn("%s: %u client mappings: replacing the one idle the longest",
				f->name, f->n_maps);
		f->full_logged = true;
		map_free(oldest_map(f));
	}
	if ((m = calloc(1, sizeof *m)) == NULL)
		return NULL;
	m->f = f;
	memcpy(&m->client, client, client->sa_family == AF_INET6 ?
		sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
	m->last = uv_now(f->loop);
	if ((e = sv_udpconn_open(&m->u, 0, 0, &map_ops, m)) != 0) {
		log_warn_r(e, "%s: tunnel UDP socket", f->name);
		free(m);
		return NULL;
	}
	m->next = f->maps;
	f->maps = m;
	f->n_maps++;
	if (sv_ip_parse(f->spec.host, &ip) == 0) {
		m->dst = ip;
		m->resolved = true;
	} else if ((e = sv_lookup(&m->res, f->loop, f->spec.host, 0, f->name, map_resolved,
			   m)) != 0) {
		log_info_r(e, "%s: resolve %s", f->name, f->spec.host);
		map_free(m);
		return NULL;
	}
	return m;
}

static void
udp_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct fwd *f = h->data;

	(void)suggested;
	*buf = uv_buf_init((char *)f->rbuf, UDP_BUF);
}

static void
udp_recv(uv_udp_t *u, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *addr,
	unsigned flags)
{
	struct fwd *f = u->data;
	struct udp_map *m;

	if (nread < 0) {
		log_debug_r((int)nread, "%s: receive", f->name);
		return;
	}
	if (addr == NULL || f->closing)
		return;
	if (flags & UV_UDP_PARTIAL) {
		log_debug("%s: datagram too large: dropped", f->name);
		return;
	}
	for (m = f->maps; m != NULL; m = m->next)
		if (same_client(&m->client, addr))
			break;
	if (m == NULL && (m = map_new(f, addr)) == NULL)
		return;
	m->last = uv_now(f->loop);
	if (m->resolved) {
		map_send(m, (const uint8_t *)buf->base, (size_t)nread);
		return;
	}
	/* waiting for the name: keep the latest datagram only */
	free(m->pending);
	m->pending = NULL;
	if ((m->pending = malloc((size_t)nread + 1)) != NULL) {
		memcpy(m->pending, buf->base, (size_t)nread);
		m->pending_len = (size_t)nread;
	}
}

static void
udp_sweep(uv_timer_t *t)
{
	struct fwd *f = t->data;
	uint64_t now = uv_now(f->loop);
	struct udp_map *m = f->maps, *next;

	for (; m != NULL; m = next) {
		next = m->next;
		if (now - m->last >= SV_FWD_UDP_IDLE_MS) {
			log_debug("%s: a client mapping was idle for %u s: closed", f->name,
				SV_FWD_UDP_IDLE_MS / 1000);
			map_free(m);
		}
	}
	if (f->n_maps < SV_FWD_UDP_MAX_MAPPINGS)
		f->full_logged = false;
}

/* --- opening and closing ------------------------------------------------------------- */

static void
fwd_free(struct fwd *f)
{
	while (f->maps != NULL)
		map_free(f->maps);
	sv_tcplisten_close(f->tl);
	free(f->rbuf);
	free(f);
}

static void
on_fwd_handle_closed(uv_handle_t *h)
{
	struct fwd *f = h->data;

	if (--f->handles == 0)
		fwd_free(f);
}

static void
fwd_close(struct fwd *f)
{
	if (f->closing)
		return;
	f->closing = true;
	while (f->maps != NULL)
		map_free(f->maps);
	sv_tcplisten_close(f->tl);
	f->tl = NULL;
	if (f->handles == 0) {
		fwd_free(f);
		return;
	}
	uv_close((uv_handle_t *)&f->udp, on_fwd_handle_closed);
	uv_close((uv_handle_t *)&f->sweep, on_fwd_handle_closed);
}

static int
bind_addr(const struct sv_forward_spec *s, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof *ss);
	if (strchr(s->bind, ':') != NULL)
		return uv_ip6_addr(s->bind, s->port, (struct sockaddr_in6 *)ss);
	return uv_ip4_addr(s->bind, s->port, (struct sockaddr_in *)ss);
}

static void
format_ss(const struct sockaddr_storage *ss, char *out, size_t cap)
{
	char ip[SV_IP_STRLEN] = "?";

	if (ss->ss_family == AF_INET6) {
		uv_ip6_name((const struct sockaddr_in6 *)ss, ip, sizeof ip);
		snprintf(out, cap, "[%s]:%u", ip,
			(unsigned)ntohs(((const struct sockaddr_in6 *)ss)->sin6_port));
	} else {
		uv_ip4_name((const struct sockaddr_in *)ss, ip, sizeof ip);
		snprintf(out, cap, "%s:%u", ip,
			(unsigned)ntohs(((const struct sockaddr_in *)ss)->sin_port));
	}
}

static int
open_udp(struct fwd *f, char *bound, size_t cap)
{
	struct sockaddr_storage ss;
	int len = sizeof ss;
	int e;

	if ((e = bind_addr(&f->spec, &ss)) != 0)
		return e;
	if ((f->rbuf = malloc(UDP_BUF)) == NULL)
		return SV_E_NOMEM;
	uv_udp_init(f->loop, &f->udp);
	uv_timer_init(f->loop, &f->sweep);
	f->udp.data = f;
	f->sweep.data = f;
	f->handles = 2;
	if ((e = uv_udp_bind(&f->udp, (const struct sockaddr *)&ss, 0)) != 0 ||
		(e = uv_udp_getsockname(&f->udp, (struct sockaddr *)&ss, &len)) != 0 ||
		(e = uv_udp_recv_start(&f->udp, udp_alloc, udp_recv)) != 0)
		return e;
	uv_timer_start(&f->sweep, udp_sweep, UDP_SWEEP_MS, UDP_SWEEP_MS);
	format_ss(&ss, bound, cap);
	return 0;
}

/* -R: HOST must be an address or a name this machine resolves (looked up once, now). */
static int
remote_target(struct fwd *f)
{
	struct addrinfo hints, *res = NULL;
	uv_getaddrinfo_t req;
	char port[8];
	int e;

	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	snprintf(port, sizeof port, "%u", (unsigned)f->spec.hostport);
	if ((e = uv_getaddrinfo(f->loop, &req, NULL, f->spec.host, port, &hints)) != 0)
		return e;
	res = req.addrinfo;
	if (res == NULL)
		return SV_E_NOTFOUND;
	memcpy(&f->local, res->ai_addr, res->ai_addrlen <= sizeof f->local ?
		res->ai_addrlen : sizeof f->local);
	uv_freeaddrinfo(res);
	return 0;
}

/* see forward.h */
int
sv_forward_open(uv_loop_t *loop, const struct sv_forward_spec *spec,
	const struct sv_proxy_config *cfg, char *bound, size_t bound_cap)
{
	char text[SV_FWD_HOST_MAX + 100], addr[80], where[80] = "";
	struct fwd *f;
	int e = 0;

	if ((f = calloc(1, sizeof *f)) == NULL)
		return SV_E_NOMEM;
	f->spec = *spec;
	f->loop = loop;
	sv_proxy_config_normalize(&f->cfg, cfg);
	f->cfg.user = f->cfg.password = NULL; /* forwards ask no credentials */
	sv_forward_format(spec, text, sizeof text);
	snprintf(f->name, sizeof f->name, "%s %.140s", spec->kind == SV_FWD_REMOTE ? "-R" : "-L",
		text);
	switch (spec->kind) {
	case SV_FWD_LOCAL_TCP:
		format_hp(spec->bind, spec->port, addr, sizeof addr);
		e = sv_proxy_listen_fe(loop, &fe_forward, f, addr, &f->cfg, where, sizeof where);
		if (e == 0 && !sv_proxy_addr_is_local(addr))
			log_warn("%s: reachable from other machines, without credentials", f->name);
		break;
	case SV_FWD_LOCAL_UDP:
		e = open_udp(f, where, sizeof where);
		format_hp(spec->bind, spec->port, addr, sizeof addr);
		if (e == 0 && !sv_proxy_addr_is_local(addr))
			log_warn("%s: reachable from other machines, without credentials", f->name);
		break;
	case SV_FWD_REMOTE:
		if ((e = remote_target(f)) != 0)
			break;
		e = sv_tcplisten_open(&f->tl, spec->port, 0, &tl_ops, f);
		snprintf(where, sizeof where, "tunnel port %u", (unsigned)spec->port);
		break;
	default:
		e = SV_E_INVAL;
		break;
	}
	if (e != 0) {
		f->closing = true;
		if (f->handles > 0) {
			uv_close((uv_handle_t *)&f->udp, on_fwd_handle_closed);
			uv_close((uv_handle_t *)&f->sweep, on_fwd_handle_closed);
		} else {
			fwd_free(f);
		}
		return e;
	}
	f->next = fwds;
	fwds = f;
	if (bound != NULL && bound_cap > 0)
		snprintf(bound, bound_cap, "%s", where);
	log_debug("%s: open on %s", f->name, where);
	return 0;
}

/* see forward.h */
void
sv_forward_log_lease(const char *ip)
{
	for (struct fwd *f = fwds; f != NULL; f = f->next)
		if (f->spec.kind == SV_FWD_REMOTE && !f->closing)
			log_info("%s: peers on the hub's side connect to %s:%u", f->name, ip,
				(unsigned)f->spec.port);
}

/* see forward.h */
void
sv_forward_close_all(void)
{
	struct fwd *f = fwds, *next;

	fwds = NULL;
	for (; f != NULL; f = next) {
		next = f->next;
		fwd_close(f);
	}
}
