/*
 * The local proxy: listening sockets (TCP or Unix, libuv) and, per accepted client, a
 * front-end that speaks the client's protocol and a relay to a TCP connection inside the
 * tunnel (netstack/tcpconn.h), the target name resolved through the tunnel's DNS
 * (netstack/resolve.h).
 *
 * Listener kinds:
 *   SV_PROXY_SOCKS  SOCKS5 (RFC 1928, CONNECT; RFC 1929 username/password when
 *                   credentials are set) and SOCKS4/4a (CONNECT; refused when
 *                   credentials are set: SOCKS4 cannot carry a password), told apart by
 *                   the first byte.
 *   SV_PROXY_MIXED  one port for all: 0x04 -> SOCKS4, 0x05 -> SOCKS5, anything else
 *                   -> the HTTP proxy (like Tailscale's userspace proxy).
 *   SV_PROXY_HTTP   the HTTP proxy only.
 * Listeners may start before the tunnel is up: a connect that arrives before the stack
 * has an address is refused as "network unreachable".
 *
 * Everything runs on the loop thread. Connections relay with back-pressure both ways
 * (the lwIP window on one side, uv_read_stop on the other) and support half-close.
 */
#ifndef SV_PROXY_H
#define SV_PROXY_H

#include <stdbool.h>
#include <stddef.h>

#include <uv.h>

enum sv_proxy_kind {
	SV_PROXY_SOCKS,
	SV_PROXY_MIXED,
	SV_PROXY_HTTP,
};

struct sv_proxy_config {
	/* Bound on name resolution plus TCP connect inside the tunnel; 0 = 10 s. */
	unsigned connect_timeout_ms;
	/* Ceiling on simultaneous clients over all listeners; 0 = 1024. A client past it
	 * is accepted and closed at once (with a warning when the limit is reached and an
	 * info line when it is left again). */
	unsigned max_clients;
	/* Ceiling on proxied connections at once from one client (its address without
	 * the port; the clients of a Unix-socket listener count as one); 0 = none. A
	 * connect past it gets the protocol's refusal (SOCKS5 "not allowed", SOCKS4
	 * rejected, HTTP 429) and a rate-limited warning. */
	unsigned max_per_client;
	/* Per-connection buffer for client -> tunnel data, allocated when the relay
	 * starts; 0 = 64 KiB; clamped to 4 KiB .. 4 MiB. */
	size_t conn_buffer;
	/* A relayed connection with no byte in either direction for this long is closed;
	 * 0 = never. */
	unsigned idle_timeout_ms;
	/* Credentials clients must present (SOCKS5 username/password, HTTP
	 * Proxy-Authorization: Basic); NULL user: none required. Borrowed: they must stay
	 * valid until every connection is freed (after sv_proxy_close_all() and one more
	 * uv_run). At most 255 bytes each. */
	const char *user;
	const char *password;
};

/*
 * Listen on addr: "127.0.0.1:1080", "[::1]:1080", "localhost:1080", "0.0.0.0:1080",
 * just a port "1080" (meaning 127.0.0.1), or "unix:PATH" for a Unix socket created with
 * mode 0600 (a stale socket file at PATH is replaced when nothing listens on it; any
 * other file there is an error). Port 0 picks a free port. cfg is copied (its strings
 * stay borrowed). The address actually bound is written to bound ("127.0.0.1:1080",
 * "[::1]:1080", "unix:/run/user/1000/sevpn.sock") when bound is not NULL.
 * Returns 0, SV_E_INVAL (address text, or a kind not built in), SV_E_NOMEM, -EEXIST
 * (PATH is not a socket), -EADDRINUSE (also: a live socket at PATH), -ENAMETOOLONG,
 * or another negative errno from libuv (-EACCES, ...). May be called more than once.
 */
int sv_proxy_listen(uv_loop_t *loop, enum sv_proxy_kind kind, const char *addr,
	const struct sv_proxy_config *cfg, char *bound, size_t bound_cap);

/* sv_proxy_listen(loop, SV_PROXY_SOCKS, ...), the name older callers use. */
int sv_socks5_listen(uv_loop_t *loop, const char *addr, const struct sv_proxy_config *cfg,
	char *bound, size_t bound_cap);

/* Is addr (in the syntax above) reachable only from this machine: a bare port,
 * localhost, 127.0.0.0/8, ::1, or a Unix socket? Anything else (0.0.0.0, a LAN address,
 * a host name) is not, and must not be served without credentials. */
bool sv_proxy_addr_is_local(const char *addr);

/* Stop every listener (removing Unix socket files) and close every connection (tunnel
 * side with FIN or RST). The handles are freed by their close callbacks, so the loop
 * must run again (uv_run) for the memory and the lwIP connections to be released. */
void sv_proxy_close_all(void);

/* Connections alive (including ones still closing). */
size_t sv_proxy_count(void);

#endif
