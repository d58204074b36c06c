/*
 * Listening sockets (TCP, or Unix sockets created with mode 0600) and accept: each client
 * goes to the relay core (socks/conn.c) with the front-end of its listener's kind, unless
 * the client limit is reached. See proxy.h.
 *
 * The Unix socket code needs a few POSIX calls libuv does not offer (lstat, umask, a
 * blocking connect probe for a stale socket file); they live in platform/os.c.
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
#include "platform/os.h"
#include "socks/conn.h"
#include "socks/frontend.h"
#include "socks/proxy.h"

#define LISTEN_BACKLOG 128
#define NAME_MAX_TEXT 128
#define UNIX_PREFIX "unix:"

struct listener {
	union {
		uv_handle_t h;
		uv_stream_t s;
		uv_tcp_t tcp;
		uv_pipe_t pipe;
	} io;
	struct listener *prev, *next;
	struct sv_proxy_config cfg;
	const struct sv_frontend_ops *fe;
	void *fe_data;
	bool is_pipe;
	bool linked;
	bool closing;
	char *unlink_path; /* Unix socket file we created, owned */
	char name[NAME_MAX_TEXT];
};

static struct listener *listeners;
/* Over all listeners: the limit was hit and not left since; clients refused meanwhile. */
static bool limit_hit;
static unsigned long limit_refused;

static const char *const kind_names[] = {
	[SV_PROXY_SOCKS] = "SOCKS4/5",
	[SV_PROXY_MIXED] = "SOCKS4/5 and HTTP",
	[SV_PROXY_HTTP] = "HTTP",
};

/* --- accepting ----------------------------------------------------------------------- */

static void
free_handle(uv_handle_t *h)
{
	free(h);
}

/* Accept and close at once, so the listener keeps accepting. */
static void
reject_client(struct listener *l)
{
	union {
		uv_handle_t h;
		uv_stream_t s;
		uv_tcp_t tcp;
		uv_pipe_t pipe;
	} *t = malloc(sizeof *t);

	if (t == NULL) {
		log_err("listener %s: out of memory rejecting a client", l->name);
		return;
	}
	if (l->is_pipe)
		uv_pipe_init(l->io.h.loop, &t->pipe, 0);
	else
		uv_tcp_init(l->io.h.loop, &t->tcp);
	(void)uv_accept(&l->io.s, &t->s);
	uv_close(&t->h, free_handle);
}

/* Is there room for one more client? Logs when the limit is reached and left. */
static bool
below_limit(struct listener *l)
{
	size_t n = sv_conn_count();

	if (n >= l->cfg.max_clients) {
		if (!limit_hit)
			log_warn("listener %s: %zu clients, the limit (--max-clients %u): "
				"refusing new clients until some close", l->name, n,
				l->cfg.max_clients);
		limit_hit = true;
		limit_refused++;
		return false;
	}
	if (limit_hit)
		log_info("listener %s: below the client limit again; %lu client(s) were "
			"refused meanwhile", l->name, limit_refused);
	limit_hit = false;
	limit_refused = 0;
	return true;
}

static void
on_connection(uv_stream_t *server, int status)
{
	struct listener *l = server->data;
	int e;

	if (status < 0) {
		log_warn_r(status, "listener %s: accept", l->name);
		return;
	}
	if (!below_limit(l)) {
		reject_client(l);
		return;
	}
	if ((e = sv_conn_accept_data(server, l->is_pipe, l->fe, l->fe_data, &l->cfg,
		l->name)) != 0) {
		log_err_r(e, "listener %s: no memory for a connection", l->name);
		reject_client(l);
	}
}

/* --- addresses ----------------------------------------------------------------------- */

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

/* "host:port" or "[v6]:port" -> host text (brackets removed) and port text. */
static int
split_host_port(const char *s, char *host, size_t cap, const char **port_text)
{
	const char *colon;
	size_t hlen;

	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (close == NULL || close[1] != ':')
			return SV_E_INVAL;
		hlen = (size_t)(close - s - 1);
		*port_text = close + 2;
		s++;
	} else {
		if ((colon = strrchr(s, ':')) == NULL)
			return SV_E_INVAL;
		hlen = (size_t)(colon - s);
		*port_text = colon + 1;
		if (memchr(s, ':', hlen) != NULL)
			return SV_E_INVAL; /* IPv6 needs brackets */
	}
	if (hlen == 0 || hlen >= cap)
		return SV_E_INVAL;
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	return 0;
}

/* "1080", "127.0.0.1:1080", "localhost:1080", "[::1]:1080" -> socket address. */
static int
parse_listen_addr(const char *s, struct sockaddr_storage *ss)
{
	char host[SV_IP_STRLEN + 2];
	const char *port_text;
	unsigned port;

	memset(ss, 0, sizeof *ss);
	if (parse_port(s, &port) == 0)
		return uv_ip4_addr("127.0.0.1", (int)port, (struct sockaddr_in *)ss) ==
				0 ? 0 : SV_E_INVAL;
	if (split_host_port(s, host, sizeof host, &port_text) != 0 ||
		parse_port(port_text, &port) != 0)
		return SV_E_INVAL;
	if (strcmp(host, "localhost") == 0)
		snprintf(host, sizeof host, "127.0.0.1");
	if (strchr(host, ':') == NULL &&
		uv_ip4_addr(host, (int)port, (struct sockaddr_in *)ss) == 0)
		return 0;
	if (uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)ss) == 0)
		return 0;
	return SV_E_INVAL;
}

/* see proxy.h */
bool
sv_proxy_addr_is_local(const char *addr)
{
	struct sockaddr_storage ss;

	if (strncmp(addr, UNIX_PREFIX, strlen(UNIX_PREFIX)) == 0)
		return true;
	if (parse_listen_addr(addr, &ss) != 0)
		return false; /* a host name: it may be anything */
	if (ss.ss_family == AF_INET) {
		const uint8_t *b = (const uint8_t *)&((struct sockaddr_in *)&ss)->sin_addr;
		return b[0] == 127;
	}
	{
		static const uint8_t loop6[16] = { [15] = 1 };
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;
		return memcmp(&a->sin6_addr, loop6, 16) == 0;
	}
}

/* --- Unix sockets -------------------------------------------------------------------- */

/* A file at path: a stale socket is removed; a live one or anything else is an error. */
static int
clear_unix_path(const char *path)
{
	bool removed;
	int e = sv_os_unix_path_clear(path, &removed);

	if (e == 0 && removed)
		log_info("listener unix:%s: removing a stale socket file", path);
	return e;
}

/* Binds l's pipe at path with mode 0600 (umask around the bind: the file never exists
 * with wider permissions) and listens. */
static int
listen_unix(struct listener *l, const char *path)
{
	unsigned old;
	int e;

	if (path[0] == '\0')
		return SV_E_INVAL;
	if (strlen(path) > sv_os_unix_path_max())
		return -ENAMETOOLONG;
	if ((e = clear_unix_path(path)) != 0)
		return e;
	if ((l->unlink_path = strdup(path)) == NULL)
		return SV_E_NOMEM;
	old = sv_os_umask(0177);
	e = uv_pipe_bind(&l->io.pipe, path);
	sv_os_umask(old);
	if (e != 0) {
		free(l->unlink_path); /* not ours: do not remove it at close */
		l->unlink_path = NULL;
		return e;
	}
	if ((e = sv_os_make_private(path)) != 0) /* belt and braces: some ignore the umask */
		log_debug("listener unix:%s: chmod: %s", path, sv_strerror(e));
	if ((e = uv_listen(&l->io.s, LISTEN_BACKLOG, on_connection)) != 0)
		return e;
	snprintf(l->name, sizeof l->name, "unix:%s", path);
	return 0;
}

static int
listen_tcp(struct listener *l, const char *addr)
{
	struct sockaddr_storage ss;
	int len = sizeof ss;
	int e;

	if ((e = parse_listen_addr(addr, &ss)) != 0)
		return e;
	/* TCP_NODELAY on the listener: Linux passes it on to accepted sockets, which then
	 * need no setsockopt each (sv_conn_accept_data checks once). */
	if ((e = uv_tcp_bind(&l->io.tcp, (const struct sockaddr *)&ss, 0)) != 0 ||
		(e = uv_tcp_nodelay(&l->io.tcp, 1)) != 0 ||
		(e = uv_listen(&l->io.s, LISTEN_BACKLOG, on_connection)) != 0 ||
		(e = uv_tcp_getsockname(&l->io.tcp, (struct sockaddr *)&ss, &len)) != 0)
		return e;
	sv_conn_format_sockaddr(&ss, l->name, sizeof l->name);
	return 0;
}

/* --- listening ----------------------------------------------------------------------- */

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
	free(l->unlink_path);
	free(l);
}

static void
listener_close(struct listener *l)
{
	int e;

	if (l->closing)
		return;
	l->closing = true;
	if (l->unlink_path != NULL && (e = sv_os_unlink(l->unlink_path)) != 0)
		log_debug("listener %s: unlink: %s", l->name, sv_strerror(e));
	uv_close(&l->io.h, on_listener_closed);
}

static const struct sv_frontend_ops *
frontend_for(enum sv_proxy_kind kind)
{
	switch (kind) {
	case SV_PROXY_SOCKS:
		return &sv_fe_socks;
	case SV_PROXY_MIXED:
		return &sv_fe_mixed;
	case SV_PROXY_HTTP:
		return sv_fe_http;
	}
	return NULL;
}

/* see proxy.h */
int
sv_proxy_listen(uv_loop_t *loop, enum sv_proxy_kind kind, const char *addr,
	const struct sv_proxy_config *cfg, char *bound, size_t bound_cap)
{
	const struct sv_frontend_ops *fe = frontend_for(kind);
	int e;

	if (fe == NULL)
		return SV_E_INVAL;
	e = sv_proxy_listen_fe(loop, fe, NULL, addr, cfg, bound, bound_cap);
	if (e == 0)
		log_debug("listener %s: %s", bound != NULL ? bound : addr, kind_names[kind]);
	return e;
}

/* see conn.h */
int
sv_proxy_listen_fe(uv_loop_t *loop, const struct sv_frontend_ops *fe, void *fe_data,
	const char *addr, const struct sv_proxy_config *cfg, char *bound, size_t bound_cap)
{
	bool is_unix;
	struct listener *l;
	int e;

	if (loop == NULL || addr == NULL || cfg == NULL || fe == NULL)
		return SV_E_INVAL;
	if (cfg->user != NULL && (strlen(cfg->user) > 255 ||
		(cfg->password != NULL && strlen(cfg->password) > 255)))
		return SV_E_INVAL;
	is_unix = strncmp(addr, UNIX_PREFIX, strlen(UNIX_PREFIX)) == 0;
	if ((l = calloc(1, sizeof *l)) == NULL)
		return SV_E_NOMEM;
	sv_proxy_config_normalize(&l->cfg, cfg);
	l->fe = fe;
	l->fe_data = fe_data;
	l->is_pipe = is_unix;
	e = is_unix ? uv_pipe_init(loop, &l->io.pipe, 0) : uv_tcp_init(loop, &l->io.tcp);
	if (e != 0) {
		free(l);
		return e;
	}
	l->io.h.data = l;
	e = is_unix ? listen_unix(l, addr + strlen(UNIX_PREFIX)) : listen_tcp(l, addr);
	if (e != 0) {
		listener_close(l);
		return e;
	}
	l->linked = true;
	l->next = listeners;
	if (listeners != NULL)
		listeners->prev = l;
	listeners = l;
	if (bound != NULL && bound_cap > 0)
		snprintf(bound, bound_cap, "%s", l->name);
	log_debug("listener %s: listening (%s%s)", l->name, fe->name,
		l->cfg.user != NULL ? ", credentials required" : "");
	return 0;
}

/* see proxy.h */
int
sv_socks5_listen(uv_loop_t *loop, const char *addr, const struct sv_proxy_config *cfg,
	char *bound, size_t bound_cap)
{
	return sv_proxy_listen(loop, SV_PROXY_SOCKS, addr, cfg, bound, bound_cap);
}

/* see proxy.h */
void
sv_proxy_close_all(void)
{
	for (struct listener *l = listeners; l != NULL; l = l->next)
		listener_close(l);
	sv_conn_close_all();
}

/* see proxy.h */
size_t
sv_proxy_count(void)
{
	return sv_conn_count();
}
