/*
 * The hub's control socket (--control PATH; see server.h), for tests only.
 *
 * A Unix socket, mode 0600, that takes one command per line and answers each with one
 * line, "ok" or "error: <why>":
 *   hostfwd tcp:HOSTIP:PORT-GUESTIP:PORT   as --hostfwd, but while the hub runs
 * A test learns some ports only at run time (the listening port of a SOCKS5 BIND, say)
 * and then asks the hub to open a path from this machine into the LAN to it.
 *
 * Each client has a fixed line buffer (CTL_LINE_MAX); a longer line is refused and the
 * client closed. Replies are a few bytes and leave with uv_try_write; a client that does
 * not read them is closed. Clients are freed from their close callbacks.
 */
#define SV_LOG_MODULE "ctl"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"
#include "core/log.h"
#include "server.h"

#define CTL_LINE_MAX 256u

struct ctl_client {
	uv_pipe_t pipe;
	struct hub *hub;
	struct ctl_client *next;
	bool closing;
	size_t n;
	char line[CTL_LINE_MAX];
};

static struct ctl_client *clients;

static void
client_closed(uv_handle_t *h)
{
	free(h->data);
}

static void
client_close(struct ctl_client *c)
{
	struct ctl_client **pp;
	if (c->closing)
		return;
	c->closing = true;
	for (pp = &clients; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	uv_close((uv_handle_t *)&c->pipe, client_closed);
}

static void
reply(struct ctl_client *c, const char *text)
{
	char b[128];
	size_t n = strnlen(text, sizeof b - 2);
	memcpy(b, text, n);
	b[n++] = '\n';
	uv_buf_t buf = uv_buf_init(b, (unsigned)n);
	if (uv_try_write((uv_stream_t *)&c->pipe, &buf, 1) != (int)n)
		client_close(c);
}

static void
run_command(struct ctl_client *c, const char *cmd)
{
	static const char hostfwd[] = "hostfwd ";
	if (strncmp(cmd, hostfwd, sizeof hostfwd - 1) == 0) {
		if (c->hub->lan == NULL)
			reply(c, "error: the hub is stopping");
		else if (hub_lan_hostfwd(c->hub->lan, cmd + sizeof hostfwd - 1) != 0)
			reply(c, "error: expected hostfwd tcp:HOSTIP:PORT-GUESTIP:PORT, and a free "
				 "host port (see the hub's log)");
		else
			reply(c, "ok");
		return;
	}
	log_warn("control: unknown command '%.40s'", cmd);
	reply(c, "error: unknown command (known: hostfwd)");
}

static void
on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct ctl_client *c = h->data;
	(void)suggested;
	*buf = uv_buf_init(c->line + c->n, (unsigned)(sizeof c->line - c->n));
}

static void
on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct ctl_client *c = s->data;
	(void)buf;
	if (nread < 0) {
		client_close(c);
		return;
	}
	c->n += (size_t)nread;
	char *nl;
	while (!c->closing && (nl = memchr(c->line, '\n', c->n)) != NULL) {
		*nl = '\0';
		if (nl > c->line && nl[-1] == '\r')
			nl[-1] = '\0';
		run_command(c, c->line);
		size_t used = (size_t)(nl + 1 - c->line);
		memmove(c->line, nl + 1, c->n - used);
		c->n -= used;
	}
	if (!c->closing && c->n == sizeof c->line) {
		reply(c, "error: line too long");
		client_close(c);
	}
}

static void
on_connection(uv_stream_t *server, int status)
{
	struct hub *h = server->data;
	struct ctl_client *c;
	if (status < 0 || (c = calloc(1, sizeof *c)) == NULL)
		return;
	c->hub = h;
	uv_pipe_init(h->loop, &c->pipe, 0);
	c->pipe.data = c;
	c->next = clients;
	clients = c;
	if (uv_accept(server, (uv_stream_t *)&c->pipe) != 0 ||
		uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read) != 0)
		client_close(c);
}

/* see server.h */
int
hub_control_start(struct hub *h, const char *path)
{
	int r;
	uv_pipe_init(h->loop, &h->control, 0);
	h->control.data = h;
	h->control_on = true;
	mode_t old = umask(077); /* the socket is created 0600 */
	r = uv_pipe_bind(&h->control, path);
	umask(old);
	if (r == 0)
		r = uv_listen((uv_stream_t *)&h->control, 8, on_connection);
	if (r != 0) {
		log_err("--control %s: %s (does the file exist already?)", path, uv_strerror(r));
		return r;
	}
	h->control_path = path;
	log_info("control socket on %s", path);
	return 0;
}

/* see server.h */
void
hub_control_stop(struct hub *h)
{
	while (clients)
		client_close(clients);
	if (!h->control_on)
		return;
	h->control_on = false;
	uv_close((uv_handle_t *)&h->control, NULL);
	if (h->control_path != NULL)
		(void)unlink(h->control_path);
}
