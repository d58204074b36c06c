/*
 * The control listener: a small HTTP/1.0 server on loopback that answers
 *   GET /status   JSON snapshot (platform/status.h); /status.txt for a person
 *   GET /metrics  Prometheus text format
 *   GET /healthz  200 "ok" while a session is established, else 503
 * Each request gets one response and the connection is closed. Requests are bounded
 * (4 KiB of headers, 5 s); anything else gets 400/404/405.
 */
#ifndef SV_CONTROL_H
#define SV_CONTROL_H

#include <stddef.h>
#include <stdio.h>
#include <uv.h>

#include "platform/status.h"

typedef void sv_control_status_fn(void *arg, struct sv_status *out);

/* addr: "127.0.0.1:PORT", "[::1]:PORT" or "PORT" (127.0.0.1). Refuses non-loopback
 * addresses (SV_E_INVAL): the status shows server names and addresses. bound gets the
 * address actually used. */
int sv_control_listen(uv_loop_t *loop, const char *addr, sv_control_status_fn *fn,
	void *arg, char *bound, size_t bound_cap);
/* Stops the listener and closes open requests. */
void sv_control_close(void);

/* `sevpn-proxy status --control ADDR`: fetches ADDR/status.txt from a running instance
 * and writes it to out (blocking, 5 s at most). 0, or -errno / SV_E_* with a sentence
 * in err. */
int sv_control_fetch_status(const char *addr, FILE *out, char *err, size_t errcap);

#endif
