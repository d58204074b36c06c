/*
 * One SoftEther VPN session over one connection, as a state machine that does no I/O.
 *
 * The caller moves bytes: plaintext received from TLS goes into sv_session_input(),
 * plaintext to send comes out of sv_session_output()/sv_session_output_ack(). Time is
 * passed in (milliseconds, monotonic). Ethernet frames of the data phase come out through
 * ops->on_frame and go in through sv_session_send_frame(); frames queued in one loop turn
 * are sent as one block message when sv_session_flush() runs (batching).
 *
 * States: SIGNATURE (POST connect.cgi "VPNCONNECT" queued) -> HELLO (waiting for the hello
 * PACK) -> WELCOME (login PACK sent, waiting) -> ESTABLISHED (data blocks) -> CLOSED.
 * The first error wins and sticks: sv_session_error() then tells why, and
 * sv_session_server_error() the server's ERR_* code when it refused.
 */
#ifndef SV_SESSION_H
#define SV_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

enum sv_session_state {
	SV_SESSION_SIGNATURE,
	SV_SESSION_HELLO,
	SV_SESSION_WELCOME,
	SV_SESSION_ESTABLISHED,
	SV_SESSION_CLOSED,
};

enum sv_authtype {
	SV_AUTH_ANONYMOUS = 0,
	SV_AUTH_PASSWORD = 1,
	SV_AUTH_PLAIN = 2,
	SV_AUTH_CERT = 3,
};

#define SV_SESSION_CERT_MAX 32768u /* client certificate DER; the login PACK must fit 64 KiB */
#define SV_SESSION_SIG_MAX 512u    /* RSA-4096 */

/*
 * Certificate authentication (SV_AUTH_CERT, spec 7.2) signs the hello random with the
 * client's RSA key. The key stays with the caller: sign() writes RSASSA-PKCS1-v1_5 with
 * SHA-1 over the 20 bytes of random into sig (cap bytes, cap >= SV_SESSION_SIG_MAX) and
 * sets *siglen (the key size in bytes). Returns 0 or a negative SV_E_* code.
 * core/credentials.h provides one (sv_credentials_sign).
 */
typedef int sv_session_sign_fn(void *arg, const uint8_t random[20], uint8_t *sig,
	size_t cap, size_t *siglen);

struct sv_session_cert {
	const uint8_t *der;        /* X.509 DER, 1..SV_SESSION_CERT_MAX bytes; copied */
	size_t len;
	sv_session_sign_fn *sign;
	void *arg;                 /* borrowed: must outlive the session */
};

struct sv_session_config {
	const char *host;   /* server host as given (HTTP Host header) */
	const char *hub;
	const char *username;
	int authtype;       /* enum sv_authtype */
	uint8_t password_hash[20]; /* SV_AUTH_PASSWORD: sv_auth_password_hash() output */
	const char *plain_password; /* SV_AUTH_PLAIN only; borrowed */
	struct sv_session_cert cert; /* SV_AUTH_CERT only */
	uint8_t unique_id[20];     /* stable per installation (login `unique_id`, `UniqueId`) */
	const char *client_hostname; /* NODE_INFO ClientHostname, may be NULL */
	/* Re-attach (spec 12, `additional_connect`) instead of logging in: the 20-byte
	 * session key and the welcome of the session to join, both borrowed for the
	 * call. The server answers error 13 when that session is gone. */
	const uint8_t *attach_key;
	const struct sv_welcome *attach_welcome;
	/* Ask for per-frame zlib compression (spec 11.4); used if the server agrees. */
	bool compress;
	/* TCP connections to ask for (login `max_connection`, 1..32; 0 means 1). */
	unsigned max_connection;
	/* Ask for half-duplex connections (spec 11.5): each carries one direction. */
	bool half_connection;
};

/* What the welcome PACK granted, for logs and policy. */
struct sv_welcome {
	char session_name[64];
	char connection_name[64];
	uint32_t timeout_ms;     /* T, clamped to 5000..60000 */
	uint32_t max_connection;
	uint32_t vlan_id;
	bool use_encrypt;
	bool use_compress;
	bool half_connection; /* half-duplex granted: connections are one-way */
	uint32_t policy_max_upload, policy_max_download; /* bit/s, 0 = none */
	uint32_t policy_auto_disconnect;                  /* s, 0 = none */
	char msg[512];           /* hub message, may be empty */
};

struct sv_session_ops {
	/* A received Ethernet frame; borrowed for the duration of the call. */
	void (*on_frame)(void *arg, const uint8_t *frame, size_t len);
	/* The welcome arrived: the data phase has begun. */
	void (*on_established)(void *arg, const struct sv_welcome *w);
};

struct sv_session; /* opaque */

/* Copies what it needs from cfg (and wipes its copy of secrets on free). */
struct sv_session *sv_session_new(const struct sv_session_config *cfg,
	const struct sv_session_ops *ops, void *arg);
void sv_session_free(struct sv_session *s); /* accepts NULL */

/* Queue the signature POST; call once the TLS connection is up. */
void sv_session_start(struct sv_session *s, uint64_t now_ms);

/* Plaintext from the server. Returns 0, or the sticky error once the session failed. */
int sv_session_input(struct sv_session *s, const uint8_t *p, size_t n, uint64_t now_ms);

/* Bytes to send; valid until the next call on s. */
const uint8_t *sv_session_output(struct sv_session *s, size_t *len);
void sv_session_output_ack(struct sv_session *s, size_t n);

/* Data phase: queue one Ethernet frame (<= 1514 + 4 bytes). SV_E_TOOBIG if the send
 * queue is full (the frame is dropped, as a NIC would), SV_E_CLOSED if not established. */
int sv_session_send_frame(struct sv_session *s, const void *frame, size_t len);
/* End the current batch so that its block message appears in the output. */
void sv_session_flush(struct sv_session *s);

/* Keep-alives and dead-peer detection. Returns the sticky error (SV_E_TIMEOUT when
 * nothing arrived for T ms). *next_ms: when to call again. */
int sv_session_tick(struct sv_session *s, uint64_t now_ms, uint64_t *next_ms);

/* The session key from the welcome (for a later re-attach); false before it. */
bool sv_session_key(const struct sv_session *s, uint8_t key[20]);
/* Spec 11.5: 0 both ways, 1 server->client only, 2 client->server only (half-duplex
 * sessions). Frames may be sent only when it is not 1. */
unsigned sv_session_direction(const struct sv_session *s);

/* The server's product string, version and build from its hello ("" before it). */
const char *sv_session_server_product(const struct sv_session *s, uint32_t *version,
	uint32_t *build);
/* The welcome of an established session (or the one re-attached to); NULL before. */
const struct sv_welcome *sv_session_welcome(const struct sv_session *s);

enum sv_session_state sv_session_state(const struct sv_session *s);
const char *sv_session_state_name(enum sv_session_state st);
/* 0 while healthy; else the first error (SV_E_SERVER: see server_error). */
int sv_session_error(const struct sv_session *s);
unsigned sv_session_server_error(const struct sv_session *s);
/* Record a failure seen outside (socket closed, TLS error); first error wins. */
void sv_session_fail(struct sv_session *s, int err);

/*
 * Source of the random bytes the protocol wants (pencore padding, keep-alive payloads:
 * padding only, not secrets). Process-wide; core/ does not read the OS, so main passes
 * e.g. a wrapper around sv_random(). NULL or never set: a deterministic xorshift, which
 * keeps tests reproducible.
 */
void sv_session_set_random(void (*fn)(void *p, size_t n));

#endif
