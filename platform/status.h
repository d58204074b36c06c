/*
 * What the client is doing, as one snapshot: for `GET /status` (JSON), `GET /metrics`
 * (Prometheus text format) and `GET /healthz` on the control listener, and for
 * `sevpn-proxy status`. Formatting is pure (no I/O) so it is unit-tested.
 */
#ifndef SV_STATUS_H
#define SV_STATUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "netstack/stack.h"

struct sv_status {
	const char *state; /* connecting, negotiating, authenticating, established,
			    * retrying, stopping */
	char server[256];
	uint16_t port;
	char hub[256];
	char user[256];
	char server_product[128];
	uint32_t server_version, server_build;
	char session_name[64];
	char connection_name[64];
	unsigned connections, max_connection;
	bool half_duplex, compression, encryption;
	char cipher[64];
	char cert_sha256[65]; /* hex, "" if not seen */
	char upstream_proxy[300]; /* "" = direct */
	char attach_socket[256];  /* where --stdio runs attach (platform/mux.h); "" = none */
	uint64_t started_at;        /* Unix seconds */
	uint64_t first_session_at;  /* Unix seconds, 0 = never */
	uint64_t session_at;        /* current session, 0 = none */
	unsigned sessions;          /* sessions established so far */
	unsigned reconnects;        /* attempts after a lost session */
	bool have_lease;
	struct sv_lease lease;
	uint64_t bytes_in, bytes_out, frames_in, frames_out;
	size_t proxy_connections;
	/* received for local clients, not yet written; its limit (--max-buffer-memory);
	 * written by local clients, not yet acknowledged (netstack/tcpconn.h) */
	uint64_t buffered_bytes, buffer_budget_bytes, upload_queued_bytes;
};

/* JSON object (one line + "\n"). Returns the length, or -1 if cap was too small. */
int sv_status_json(const struct sv_status *st, char *out, size_t cap);
/* The DHCP extras of a lease as JSON members (for --ready-file, as in /status):
 * "domain":"...","search":[...],"routes":[{"dst":"A/N","via":"B"},...]. Returns the
 * length, or -1 if cap was too small. */
int sv_status_lease_extra_json(const struct sv_lease *l, char *out, size_t cap);
/* Prometheus text exposition format. Returns the length, or -1. */
int sv_status_metrics(const struct sv_status *st, char *out, size_t cap);
/* Several lines for a person, like the official client's connection status screen. */
int sv_status_text(const struct sv_status *st, char *out, size_t cap);

#endif
