/* The control listener; see control.h. */
#define SV_LOG_MODULE "control"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "core/err.h"
#include "core/log.h"
#include "platform/config.h"
#include "platform/control.h"

#define REQ_MAX 4096
#define REQ_TIMEOUT_MS 5000
#define RESP_MAX 16384

struct req {
	uv_tcp_t tcp;
	uv_timer_t timer;
	uv_write_t wr;
	int open_handles;
	size_t len;
	bool answered;
	char in[REQ_MAX];
	char *resp;
};

static struct {
	uv_tcp_t listener;
	bool listening;
	sv_control_status_fn *fn;
	void *arg;
} C;

static void
req_closed(uv_handle_t *h)
{
	struct req *r = h->data;
	if (--r->open_handles == 0) {
		free(r->resp);
		free(r);
	}
}

static void
req_close(struct req *r)
{
	if (!uv_is_closing((uv_handle_t *)&r->tcp)) {
		uv_close((uv_handle_t *)&r->tcp, req_closed);
		uv_close((uv_handle_t *)&r->timer, req_closed);
	}
}

static void
on_written(uv_write_t *w, int status)
{
	req_close(w->data);
}

static void
respond(struct req *r, const char *status, const char *type, const char *body, int blen)
{
	if (r->answered)
		return;
	r->answered = true;
	uv_read_stop((uv_stream_t *)&r->tcp);
	size_t cap = (size_t)blen + 256;
	r->resp = malloc(cap);
	if (r->resp == NULL) {
		req_close(r);
		return;
	}
	int n = snprintf(r->resp, cap,
		"HTTP/1.0 %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n"
		"Cache-Control: no-store\r\nConnection: close\r\n\r\n%.*s",
		status, type, blen, blen, body);
	if (n < 0 || (size_t)n >= cap) {
		req_close(r);
		return;
	}
	uv_buf_t b = uv_buf_init(r->resp, (unsigned)n);
	r->wr.data = r;
	if (uv_write(&r->wr, (uv_stream_t *)&r->tcp, &b, 1, on_written) != 0)
		req_close(r);
}

static void
answer(struct req *r)
{
	char method[8], path[64];
	if (sscanf(r->in, "%7s %63s", method, path) != 2) {
		respond(r, "400 Bad Request", "text/plain", "bad request\n", 12);
		return;
	}
	if (strcmp(method, "GET") != 0) {
		respond(r, "405 Method Not Allowed", "text/plain", "use GET\n", 8);
		return;
	}
	struct sv_status st;
	memset(&st, 0, sizeof st);
	C.fn(C.arg, &st);
	static char body[RESP_MAX];
	int n;
	if (strcmp(path, "/status") == 0 &&
		(n = sv_status_json(&st, body, sizeof body)) >= 0)
		respond(r, "200 OK", "application/json", body, n);
	else if (strcmp(path, "/status.txt") == 0 &&
		(n = sv_status_text(&st, body, sizeof body)) >= 0)
		respond(r, "200 OK", "text/plain; charset=utf-8", body, n);
	else if (strcmp(path, "/metrics") == 0 &&
		(n = sv_status_metrics(&st, body, sizeof body)) >= 0)
		respond(r, "200 OK", "text/plain; version=0.0.4", body, n);
	else if (strcmp(path, "/healthz") == 0 && strcmp(st.state, "established") == 0)
		respond(r, "200 OK", "text/plain", "ok\n", 3);
	else if (strcmp(path, "/healthz") == 0)
		respond(r, "503 Service Unavailable", "text/plain", "not established\n", 16);
	else
		respond(r, "404 Not Found", "text/plain",
			"try /status, /status.txt, /metrics or /healthz\n", 46);
}

static void
on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct req *r = h->data;
	size_t room = REQ_MAX - 1 - r->len;
	*buf = uv_buf_init(r->in + r->len, (unsigned)room);
}

static void
on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct req *r = s->data;
	if (n < 0) {
		req_close(r);
		return;
	}
	r->len += (size_t)n;
	r->in[r->len] = '\0';
	if (strstr(r->in, "\r\n\r\n") != NULL || strstr(r->in, "\n\n") != NULL)
		answer(r);
	else if (r->len >= REQ_MAX - 1)
		respond(r, "431 Request Header Fields Too Large", "text/plain", "too large\n", 10);
}

static void
on_timeout(uv_timer_t *t)
{
	req_close(t->data);
}

static void
on_connection(uv_stream_t *server, int status)
{
	if (status < 0)
		return;
	struct req *r = calloc(1, sizeof *r);
	if (r == NULL)
		return;
	uv_tcp_init(server->loop, &r->tcp);
	uv_timer_init(server->loop, &r->timer);
	r->tcp.data = r->timer.data = r;
	r->open_handles = 2;
	if (uv_accept(server, (uv_stream_t *)&r->tcp) != 0 ||
		uv_read_start((uv_stream_t *)&r->tcp, on_alloc, on_read) != 0) {
		req_close(r);
		return;
	}
	uv_timer_start(&r->timer, on_timeout, REQ_TIMEOUT_MS, 0);
}

static bool
is_loopback(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr) >> 24) == 127;
	const struct in6_addr *a = &((const struct sockaddr_in6 *)ss)->sin6_addr;
	return IN6_IS_ADDR_LOOPBACK(a);
}

/* see control.h */
int
sv_control_listen(uv_loop_t *loop, const char *addr, sv_control_status_fn *fn, void *arg,
	char *bound, size_t bound_cap)
{
	char *host = NULL;
	uint16_t port = 0;
	struct sockaddr_storage ss;
	int r;
	if (strchr(addr, ':') == NULL && strchr(addr, '.') == NULL) {
		char tmp[32];
		snprintf(tmp, sizeof tmp, "127.0.0.1:%s", addr);
		r = sv_config_parse_hostport(tmp, 0, &host, &port);
	} else {
		r = sv_config_parse_hostport(addr, 0, &host, &port);
	}
	if (r != 0)
		return SV_E_INVAL;
	if (uv_ip4_addr(host, port, (struct sockaddr_in *)&ss) != 0 &&
		uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss) != 0) {
		free(host);
		return SV_E_INVAL;
	}
	free(host);
	if (!is_loopback(&ss))
		return SV_E_INVAL;
	C.fn = fn;
	C.arg = arg;
	uv_tcp_init(loop, &C.listener);
	if ((r = uv_tcp_bind(&C.listener, (struct sockaddr *)&ss, 0)) != 0 ||
		(r = uv_listen((uv_stream_t *)&C.listener, 16, on_connection)) != 0) {
		uv_close((uv_handle_t *)&C.listener, NULL);
		return r;
	}
	C.listening = true;
	int len = sizeof ss;
	uv_tcp_getsockname(&C.listener, (struct sockaddr *)&ss, &len);
	char ip[64] = "?";
	uv_ip_name((struct sockaddr *)&ss, ip, sizeof ip);
	unsigned p = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
						   : ((struct sockaddr_in6 *)&ss)->sin6_port);
	snprintf(bound, bound_cap, ss.ss_family == AF_INET6 ? "[%s]:%u" : "%s:%u", ip, p);
	return 0;
}

/* see control.h */
void
sv_control_close(void)
{
	if (C.listening) {
		C.listening = false;
		uv_close((uv_handle_t *)&C.listener, NULL);
	}
}

/* see control.h */
int
sv_control_fetch_status(const char *addr, FILE *out, char *err, size_t errcap)
{
	char *host = NULL, tmp[300];
	uint16_t port = 0;
	if (strchr(addr, ':') == NULL) {
		snprintf(tmp, sizeof tmp, "127.0.0.1:%s", addr);
		addr = tmp;
	}
	struct sockaddr_storage ss;
	if (sv_config_parse_hostport(addr, 0, &host, &port) != 0 || port == 0 ||
		(uv_ip4_addr(host, port, (struct sockaddr_in *)&ss) != 0 &&
			uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss) != 0)) {
		free(host);
		snprintf(err, errcap, "--control '%s': expected [ADDR:]PORT of a running "
			"sevpn-proxy's control listener", addr);
		return SV_E_INVAL;
	}
	free(host);
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct timeval tv = { .tv_sec = 5 };
	if (fd < 0) {
		snprintf(err, errcap, "socket: %s", strerror(errno));
		return -errno;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	socklen_t len = ss.ss_family == AF_INET ? sizeof(struct sockaddr_in)
						 : sizeof(struct sockaddr_in6);
	static const char req[] = "GET /status.txt HTTP/1.0\r\n\r\n";
	if (connect(fd, (struct sockaddr *)&ss, len) != 0 ||
		write(fd, req, sizeof req - 1) != (ssize_t)(sizeof req - 1)) {
		int e = errno;
		close(fd);
		snprintf(err, errcap, "cannot reach the control listener %s: %s; is sevpn-proxy "
			"running with --control %s?", addr, strerror(e), addr);
		return -e;
	}
	char buf[RESP_MAX + 512];
	size_t n = 0;
	ssize_t r;
	while (n < sizeof buf - 1 && (r = read(fd, buf + n, sizeof buf - 1 - n)) > 0)
		n += (size_t)r;
	close(fd);
	buf[n] = '\0';
	char *body = strstr(buf, "\r\n\r\n");
	if (strncmp(buf, "HTTP/1.0 200", 12) != 0 || body == NULL) {
		snprintf(err, errcap, "the control listener %s did not answer with a status",
			addr);
		return SV_E_PROTO;
	}
	fputs(body + 4, out);
	return 0;
}
