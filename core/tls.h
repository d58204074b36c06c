/*
 * TLS client on BearSSL, as a buffer pump that does no I/O.
 *
 * Record bytes: the socket reader fills sv_tls_recv_buf() and acks with
 * sv_tls_recv_ack(); the socket writer takes sv_tls_send_buf() and acks what the socket
 * accepted with sv_tls_send_ack(). Application bytes: sv_tls_app_in()/_ack() for what the
 * server sent, sv_tls_app_out()/_ack() + sv_tls_flush() for what we send.
 *
 * Verification (exactly one mode, chosen by the caller):
 *   SV_TLS_VERIFY_PIN       SHA-256 of the server's end-entity certificate must match;
 *                           dates, chain and names are not checked (SoftEther's default
 *                           certificate is self-signed).
 *   SV_TLS_VERIFY_CA        chain to the anchors of ca_file (PEM), or of the system bundle
 *                           when ca_file is NULL, plus the host name: DNS names by BearSSL,
 *                           IP literals against the certificate's iPAddress SANs by us.
 *   SV_TLS_VERIFY_INSECURE  anything goes (only when the user asked for it).
 * SNI is sent only when server_name is a DNS name. TLS 1.2 only (BearSSL); AES-GCM suites
 * first when the CPU has AES-NI, else ChaCha20-Poly1305 first.
 */
#ifndef SV_TLS_H
#define SV_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum sv_tls_verify {
	SV_TLS_VERIFY_PIN,
	SV_TLS_VERIFY_CA,
	SV_TLS_VERIFY_INSECURE,
};

struct sv_tls_config {
	enum sv_tls_verify verify;
	uint8_t pin[32];          /* SV_TLS_VERIFY_PIN */
	const char *ca_file;      /* SV_TLS_VERIFY_CA; NULL = system bundle */
	const char *server_name;  /* host name or IP literal as the user gave it */
};

/* Parses a SHA-256 fingerprint: 64 hex digits, optional ':' between bytes, any case,
 * optional "sha256 Fingerprint=" prefix as openssl prints it. 0 or SV_E_INVAL. */
int sv_tls_parse_pin(const char *text, uint8_t out[32]);

struct sv_tls; /* opaque */

/* Loads trust anchors as needed. On failure returns NULL and sets *err (SV_E_INVAL with a
 * log line naming the file for a bad CA file, SV_E_NOMEM). */
struct sv_tls *sv_tls_new(const struct sv_tls_config *cfg, int *err);
void sv_tls_free(struct sv_tls *t); /* accepts NULL */

/* Socket -> engine. NULL when the engine cannot take bytes now. */
uint8_t *sv_tls_recv_buf(struct sv_tls *t, size_t *len);
void sv_tls_recv_ack(struct sv_tls *t, size_t n);
/* Engine -> socket. NULL when nothing to send. */
const uint8_t *sv_tls_send_buf(struct sv_tls *t, size_t *len);
void sv_tls_send_ack(struct sv_tls *t, size_t n);

/* Decrypted bytes from the server. NULL when none. */
const uint8_t *sv_tls_app_in(struct sv_tls *t, size_t *len);
void sv_tls_app_in_ack(struct sv_tls *t, size_t n);
/* Room for plaintext to send. NULL while the handshake runs or the buffer is full. */
uint8_t *sv_tls_app_out(struct sv_tls *t, size_t *len);
void sv_tls_app_out_ack(struct sv_tls *t, size_t n);
/* Turn buffered plaintext into a record now. */
void sv_tls_flush(struct sv_tls *t);

/* Handshake finished and application data may flow. */
bool sv_tls_is_established(const struct sv_tls *t);
/* The engine has failed or closed. */
bool sv_tls_is_closed(const struct sv_tls *t);
/* Start an orderly close (close_notify); keep pumping send_buf until it is empty. */
void sv_tls_close(struct sv_tls *t);

/* 0, or SV_E_CERT (verification failed) / SV_E_TLS. detail gets a sentence for the user
 * such as "server certificate SHA-256 ab:cd:... does not match --pin". */
int sv_tls_error(const struct sv_tls *t, char *detail, size_t cap);
/* SHA-256 of the server's certificate once seen (for messages and trust on first use). */
bool sv_tls_peer_cert_sha256(const struct sv_tls *t, uint8_t out[32]);
/* Negotiated suite name for logs, e.g. "ECDHE-RSA-AES256-GCM-SHA384". */
const char *sv_tls_suite_name(const struct sv_tls *t);

/* Does the DER certificate der[0..n) carry an iPAddress subjectAltName equal to ip
 * (iplen 4 or 16, network order)? 1 if so; 0 if not or if the DER is malformed.
 * Exposed for the fuzz target; bounded on any input. */
int sv_tls_cert_has_ip(const uint8_t *der, size_t n, const uint8_t *ip, size_t iplen);

#endif
