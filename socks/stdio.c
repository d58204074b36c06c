/*
 * --stdio HOST:PORT: stdin and stdout relayed to one tunnel connection by the relay core
 * (sv_conn_open_stdio), for ssh's ProxyCommand. See forward.h.
 */
#define SV_LOG_MODULE "stdio"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "core/err.h"
#include "core/log.h"
#include "socks/conn.h"
#include "socks/forward.h"
#include "socks/frontend.h"

struct stdio_ctx {
	char host[SV_FWD_HOST_MAX];
	uint16_t port;
	int err; /* the connect's result */
	void (*on_done)(void *arg, int err);
	void *arg;
};

static void
stdio_accept(struct sv_conn *c)
{
	struct stdio_ctx *x = sv_conn_data(c);
	struct sv_conn_target t = { .host = x->host, .port = x->port };

	sv_conn_connect(c, &t);
}

static void
stdio_result(struct sv_conn *c, int err, bool resolving, const struct sv_ip *bnd,
	uint16_t bport)
{
	struct stdio_ctx *x = sv_conn_data(c);

	(void)resolving;
	(void)bnd;
	(void)bport;
	x->err = err;
	if (err == 0)
		log_debug("stdio: connected to %s", sv_conn_target_text(c));
}

static void
stdio_free(struct sv_conn *c)
{
	struct stdio_ctx *x = sv_conn_data(c);

	sv_conn_set_data(c, NULL);
	if (x == NULL)
		return;
	log_debug("stdio: relay finished");
	if (x->on_done != NULL)
		x->on_done(x->arg, x->err);
	free(x);
}

static const struct sv_frontend_ops fe_stdio = {
	.name = "stdio",
	.on_accept = stdio_accept,
	.on_result = stdio_result,
	.on_free = stdio_free,
};

/* see forward.h */
int
sv_stdio_start(uv_loop_t *loop, int in_fd, int out_fd, const char *host, uint16_t port,
	const struct sv_proxy_config *cfg, void (*on_done)(void *arg, int err), void *arg)
{
	struct sv_proxy_config pc;
	struct stdio_ctx *x;
	int e;

	if (host == NULL || strlen(host) >= SV_FWD_HOST_MAX || port == 0)
		return SV_E_INVAL;
	if ((x = calloc(1, sizeof *x)) == NULL)
		return SV_E_NOMEM;
	snprintf(x->host, sizeof x->host, "%s", host);
	x->port = port;
	x->on_done = on_done;
	x->arg = arg;
	sv_proxy_config_normalize(&pc, cfg);
	pc.user = pc.password = NULL;
	pc.idle_timeout_ms = 0; /* an ssh session may sit idle for hours */
	if ((e = sv_conn_open_stdio(loop, in_fd, out_fd, &fe_stdio, x, &pc)) != 0) {
		free(x);
		return e;
	}
	return 0;
}
