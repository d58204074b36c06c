/*
 * The SOCKS5 proxy: local listening sockets (libuv) and, per accepted client, a relay to
 * a TCP connection inside the tunnel (netstack/tcpconn.h), with the target name resolved
 * through the tunnel's DNS (netstack/resolve.h).
 *
 * Only "no authentication" is offered for now; CONNECT is the only command (BIND and UDP
 * ASSOCIATE get reply 0x07). A SOCKS4 client gets a SOCKS4 rejection and a log line.
 * Listeners may start before the tunnel is up: a CONNECT that arrives before the stack
 * has an address is answered 0x03 (network unreachable).
 *
 * Everything runs on the loop thread. Connections relay with back-pressure both ways
 * (the lwIP window on one side, uv_read_stop on the other) and support half-close.
 */
#ifndef SV_PROXY_H
#define SV_PROXY_H

#include <stddef.h>

#include <uv.h>

struct sv_proxy_config {
	/* Bound on name resolution plus TCP connect inside the tunnel; 0 = 10 s. */
	unsigned connect_timeout_ms;
	/* Ceiling on simultaneous clients over all listeners; 0 = 1024. A client past it
	 * is accepted and closed at once (with a warning the first time). */
	unsigned max_clients;
	/* Per-connection buffer for client -> tunnel data, allocated when the relay
	 * starts; 0 = 64 KiB; clamped to 4 KiB .. 4 MiB. */
	size_t conn_buffer;
};

/*
 * Listen for SOCKS5 clients on addr: "127.0.0.1:1080", "[::1]:1080", "localhost:1080"
 * or just a port "1080" (meaning 127.0.0.1). Port 0 picks a free port. cfg is copied.
 * The address actually bound is written to bound (e.g. "127.0.0.1:1080", "[::1]:1080")
 * when bound is not NULL. Returns 0, SV_E_INVAL (address text), SV_E_NOMEM, or a
 * negative errno from libuv (-EADDRINUSE, -EACCES, ...). May be called more than once.
 */
int sv_socks5_listen(uv_loop_t *loop, const char *addr, const struct sv_proxy_config *cfg,
	char *bound, size_t bound_cap);

/* Stop every listener and close every connection (tunnel side with FIN or RST). The
 * handles are freed by their close callbacks, so the loop must run again (uv_run) for
 * the memory and the lwIP connections to be released. */
void sv_proxy_close_all(void);

/* Connections alive (including ones still closing). */
size_t sv_proxy_count(void);

#endif
