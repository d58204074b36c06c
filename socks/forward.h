/*
 * Port forwards and stdio, as ssh has them:
 *   -L [BIND:]PORT:HOST:HOSTPORT      local TCP listener; each client is relayed to
 *                                     HOST:HOSTPORT through the tunnel (names resolved
 *                                     by the tunnel's DNS);
 *   -L udp:[BIND:]PORT:HOST:HOSTPORT  local UDP socket; per client address one tunnel
 *                                     UDP socket to HOST:HOSTPORT, closed after an idle
 *                                     time, at most SV_FWD_UDP_MAX_MAPPINGS at once;
 *   -R PORT:HOST:HOSTPORT             listen on PORT of the tunnel address; each
 *                                     connection is relayed to HOST:HOSTPORT on this
 *                                     machine;
 *   --stdio HOST:PORT                 stdin/stdout relayed to one tunnel connection.
 * IPv6 addresses go in brackets ("[::1]:8080:[fd00::5]:80"); BIND defaults to
 * 127.0.0.1, "*" means every address (0.0.0.0), "localhost" 127.0.0.1.
 * Everything runs on the loop thread.
 */
#ifndef SV_FORWARD_H
#define SV_FORWARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "socks/proxy.h"

enum sv_fwd_kind {
	SV_FWD_LOCAL_TCP,
	SV_FWD_LOCAL_UDP,
	SV_FWD_REMOTE,
	SV_FWD_STDIO,
};

#define SV_FWD_HOST_MAX 256
#define SV_FWD_UDP_MAX_MAPPINGS 256u
#define SV_FWD_UDP_IDLE_MS 60000u

struct sv_forward_spec {
	enum sv_fwd_kind kind;
	char bind[64];                /* local listen address (LOCAL_*); "" otherwise */
	uint16_t port;                /* local port (LOCAL_*) or tunnel port (REMOTE) */
	char host[SV_FWD_HOST_MAX];   /* target: a name or an address, no brackets */
	uint16_t hostport;
};

/* Parses one forward. kind: SV_FWD_LOCAL_TCP for -L (a "udp:" or "tcp:" prefix picks
 * the kind), SV_FWD_REMOTE for -R, SV_FWD_STDIO for --stdio (HOST:PORT). 0, or
 * SV_E_INVAL with a sentence in err. */
int sv_forward_parse(const char *s, enum sv_fwd_kind kind, struct sv_forward_spec *out,
	char *err, size_t errcap);

/* Formats a spec back in the option's syntax (without "-L "). */
void sv_forward_format(const struct sv_forward_spec *f, char *out, size_t cap);

/* Opens the forward: the local listener or UDP socket, or the tunnel listener (the
 * stack must be initialised). spec is copied. The actual local address is written to
 * bound (may be NULL). 0 or an error (logged by the caller). Closed by
 * sv_forward_close_all. */
int sv_forward_open(uv_loop_t *loop, const struct sv_forward_spec *spec,
	const struct sv_proxy_config *cfg, char *bound, size_t bound_cap);

/* A lease arrived: logs, for each -R, the address remote peers should use. ip is the
 * tunnel address text ("10.77.0.123"). */
void sv_forward_log_lease(const char *ip);

/* Closes every forward opened by sv_forward_open (connections of TCP forwards are closed
 * by sv_proxy_close_all). The loop must run again for the memory to be freed. */
void sv_forward_close_all(void);

/*
 * --stdio: relays in_fd/out_fd (0 and 1) to host:port through the tunnel. Start it once
 * the tunnel has its address (a connect before it fails). on_done(arg, err) runs once
 * when the relay is over: err 0 when it ended normally (either side closed), else why
 * it failed (connect refused, unreachable, ...). 0, or an error (stdin is neither a
 * pipe, a socket nor a terminal: SV_E_INVAL): on_done then never runs.
 */
int sv_stdio_start(uv_loop_t *loop, int in_fd, int out_fd, const char *host, uint16_t port,
	const struct sv_proxy_config *cfg, void (*on_done)(void *arg, int err), void *arg);

#endif
