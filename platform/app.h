/*
 * The running client: one libuv loop, one tunnel connection (TCP -> TLS -> SoftEther
 * session), the lwIP stack fed by it, and the proxy listeners.
 *
 * Each loop turn ends in a uv_prepare hook that flushes what the turn produced, once:
 * lwIP output (tcp_output), the batch of frames as one block message, the TLS records
 * (uv_try_write first, a queued copy only for what the socket did not take); then the
 * single timer is re-armed for the nearest of lwIP's timeouts and the session's.
 */
#ifndef SV_APP_H
#define SV_APP_H

#include <stdint.h>

#include "core/session.h"
#include "core/upstream.h"
#include "platform/config.h"

enum sv_exit {
	SV_EXIT_OK = 0,
	SV_EXIT_FAILURE = 1,
	SV_EXIT_REFUSED = 2, /* login refused by the server, or bad command line */
	SV_EXIT_CERT = 3,    /* server certificate failed verification */
	/* exec mode (`-- COMMAND`): otherwise the command's own status */
	SV_EXIT_EXEC_TUNNEL = 125, /* the tunnel never came up: the command did not run */
	SV_EXIT_EXEC_CANNOT = 126, /* the command could not be executed */
	SV_EXIT_EXEC_NOTFOUND = 127,
};

struct sv_app_params {
	const struct sv_config *cfg; /* borrowed */
	int authtype;
	uint8_t password_hash[20];
	const char *plain_password;  /* borrowed, SV_AUTH_PLAIN only */
	struct sv_session_cert cert; /* SV_AUTH_CERT only; der and arg borrowed */
	uint8_t mac[6];
	uint8_t unique_id[20];
	/* Reach the server through this proxy (HTTP CONNECT or SOCKS5); NULL: directly.
	 * Borrowed. */
	const struct sv_upstream_cfg *upstream;
	/* Loopback address for the control listener (/status, /metrics, /healthz); NULL:
	 * none. Borrowed. */
	const char *control;
	/* Written atomically once ready: the listeners and addresses as JSON. NULL: none. */
	const char *ready_file;
	/* Exec mode: run this command once ready, with ALL_PROXY / HTTP(S)_PROXY pointing at
	 * the first SOCKS5 listener, then stop and exit with its status. NULL: none. */
	char *const *exec_argv;
	/* Ask the server for per-frame compression (--compress). */
	bool compress;
	/* TCP connections per session (--max-tcp, 1..32; 0 = 1): the login asks for this
	 * many, the others join with the session key (spec 12). */
	unsigned max_tcp;
	/* --half-duplex: one-way connections (spec 11.5); needs max_tcp >= 2. */
	bool half_duplex;
};

/* Runs until a signal or a fatal error; returns an enum sv_exit value. */
int sv_app_run(const struct sv_app_params *p);

#endif
