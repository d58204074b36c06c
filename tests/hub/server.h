/*
 * The running test hub: listener, connections and session LANs on one libuv loop.
 * (The pure parts are in hub.h.)
 *
 * Ownership: struct hub owns the connections (a list); a connection in the data phase
 * owns its hub_lan. Objects are freed from libuv close callbacks only.
 */
#ifndef SV_HUB_SERVER_H
#define SV_HUB_SERVER_H

#include <bearssl.h>
#include <uv.h>

#include "hub.h"

struct hub_conn;

struct hub {
	uv_loop_t *loop;
	const struct hub_config *cfg;
	uv_tcp_t listener;
	uv_prepare_t flush;   /* before each poll: tunnel batches -> TLS -> socket */
	uv_signal_t sigint, sigterm;
	/* server key and certificate chain (DER), loaded once */
	br_x509_certificate chain[4];
	size_t chain_len;
	br_skey_decoder_context skey;
	const br_rsa_private_key *rsa;
	uint8_t cert_sha256[32];
	struct hub_conn *conns; /* list of live connections */
	unsigned next_id;
	unsigned sessions; /* connections in the data phase */
	bool stopping;
};

/* Accepts one pending connection on h->listener and starts its TLS handshake. */
void hub_conn_accept(struct hub *h);
/* The prepare hook: flushes every connection. */
void hub_conn_flush_all(struct hub *h);
/* Starts an orderly close of every connection (for shutdown). */
void hub_conn_close_all(struct hub *h);

struct hub_lan;

/* Session LAN: a libslirp instance. Frames it emits go to emit(arg, frame, len). */
typedef void hub_lan_emit_cb(void *arg, const uint8_t *frame, size_t len);

/* NULL on failure (logged). dns is borrowed and must outlive the LAN. */
struct hub_lan *hub_lan_new(uv_loop_t *loop, const struct hub_net *net,
	const struct hub_dns *dns, unsigned id, hub_lan_emit_cb *emit, void *arg);
/* One frame from the client: filtered, DNS answered, the rest into slirp. */
void hub_lan_input(struct hub_lan *l, const uint8_t *frame, size_t len);
/* Destroys slirp at once (no more emit calls); handles close later. Accepts NULL. */
void hub_lan_free(struct hub_lan *l);

#endif
