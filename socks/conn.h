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

/* sv_conn_accept with the front-end's pointer (sv_conn_data) preset to fe_data, so
 * its on_accept can read per-listener settings (a port forward's target). The core
 * never frees fe_data. */
int sv_conn_accept_data(uv_stream_t *server, bool pipe, const struct sv_frontend_ops *fe,
	void *fe_data, const struct sv_proxy_config *cfg, const char *listener);

/* Listen on addr (proxy.h syntax) with front-end fe, whose sv_conn_data starts as
 * fe_data (borrowed: it must outlive the listener and its connections). Otherwise as
 * sv_proxy_listen; closed by sv_proxy_close_all. */
int sv_proxy_listen_fe(uv_loop_t *loop, const struct sv_frontend_ops *fe, void *fe_data,
	const char *addr, const struct sv_proxy_config *cfg, char *bound, size_t bound_cap);

/* stdio (--stdio): one connection that reads in_fd and writes out_fd (a terminal, a
 * pipe or a socket; out_fd may also be a regular file), with front-end fe (sv_conn_data
 * preset to fe_data). The remote's EOF ends it once everything is written; in_fd's EOF
 * half-closes towards the remote. fe->on_free runs when it is over. 0, SV_E_NOMEM,
 * SV_E_INVAL (an fd of another kind, e.g. stdin from a regular file) or a libuv error
 * (then on_free does not run). Closes the fds when it ends. */
int sv_conn_open_stdio(uv_loop_t *loop, int in_fd, int out_fd,
	const struct sv_frontend_ops *fe, void *fe_data, const struct sv_proxy_config *cfg);

/* Reverse forward (-R): tc was accepted on the tunnel (netstack/tcplisten.h; taken);
 * connect to the local address dst with libuv and relay (the roles swapped: tc plays
 * the target, the local socket the client). fe: a name for logs (its on_result, if
 * any, is called on a failed connect only). A failed local connect resets tc. 0 or
 * SV_E_NOMEM (tc aborted). */
struct sv_tcpconn;
int sv_conn_reverse(uv_loop_t *loop, struct sv_tcpconn *tc, const struct sockaddr *dst,
	const struct sv_frontend_ops *fe, const struct sv_proxy_config *cfg);

/* "ADDR:PORT" or "[ADDR]:PORT" of an IPv4/IPv6 socket address into out ("?" for another
 * family). */
void sv_conn_format_sockaddr(const struct sockaddr_storage *ss, char *out, size_t cap);

/* Connections alive (including ones still closing). */
size_t sv_conn_count(void);
/* Closes every connection (freed by their close callbacks). */
void sv_conn_close_all(void);

/* Fills the defaults and clamps (see proxy.h). */
void sv_proxy_config_normalize(struct sv_proxy_config *out, const struct sv_proxy_config *in);

#endif
