/*
 * The relay core as the listeners see it (socks/listener.c): hand over an accepted
 * client with the front-end that will speak to it. Front-ends use socks/frontend.h.
 */
#ifndef SV_CONN_H
#define SV_CONN_H

#include <stdbool.h>
#include <stddef.h>

#include <uv.h>

#include "socks/frontend.h"
#include "socks/proxy.h"

/*
 * Accepts one pending client from server (a listening uv_tcp_t, or a uv_pipe_t when
 * pipe is true) and starts fe on it. cfg must be normalized (sv_proxy_config_normalize)
 * and is copied; its user and password stay borrowed. listener names the listener in
 * logs (copied). 0, or SV_E_NOMEM / a libuv error (the client has then been closed or
 * left in the backlog: the caller rejects it).
 */
int sv_conn_accept(uv_stream_t *server, bool pipe, const struct sv_frontend_ops *fe,
	const struct sv_proxy_config *cfg, const char *listener);

/* Connections alive (including ones still closing). */
size_t sv_conn_count(void);
/* Closes every connection (freed by their close callbacks). */
void sv_conn_close_all(void);

/* Fills the defaults and clamps (see proxy.h). */
void sv_proxy_config_normalize(struct sv_proxy_config *out, const struct sv_proxy_config *in);

#endif
