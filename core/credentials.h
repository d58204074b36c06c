/*
 * Client credentials for SoftEther certificate authentication (authtype 3, spec 7.2):
 * an X.509 certificate and the RSA private key that goes with it, parsed and checked
 * with BearSSL, and the signature the login PACK carries.
 *
 * Both inputs may be PEM or DER; the key may be PKCS#1 ("RSA PRIVATE KEY") or PKCS#8
 * ("PRIVATE KEY"), unencrypted. EC keys and certificates are refused: SoftEther signs
 * with RSA only (1024..4096 bits). The certificate's public key must match the private
 * key. No I/O: the caller reads the files (platform/os.h sv_os_read_file) and passes the
 * bytes; the key bytes may be wiped as soon as sv_credentials_new() returns.
 */
#ifndef SV_CREDENTIALS_H
#define SV_CREDENTIALS_H

#include <stddef.h>
#include <stdint.h>

#include "session.h"

/* The most a caller needs to read of a certificate or key file (PEM of an RSA-4096
 * key is ~3.3 KB; a certificate is bounded by SV_SESSION_CERT_MAX in DER). */
#define SV_CREDENTIALS_FILE_MAX (128u * 1024u)
#define SV_CREDENTIALS_RSA_MIN_BITS 1024u
#define SV_CREDENTIALS_RSA_MAX_BITS 4096u

struct sv_credentials; /* opaque */

/*
 * Parses cert (cert_len bytes) and key (key_len bytes), both borrowed. On success
 * *out is returned owned (free with sv_credentials_free) and 0 is returned; else
 * SV_E_INVAL with a sentence for the user in err (which input, what is wrong, what to
 * do), or SV_E_NOMEM. Never logs key material.
 */
int sv_credentials_new(struct sv_credentials **out, const uint8_t *cert, size_t cert_len,
	const uint8_t *key, size_t key_len, char *err, size_t errcap);

/* Wipes the private key and frees; accepts NULL. */
void sv_credentials_free(struct sv_credentials *c);

/* The certificate as DER; valid while c lives. */
const uint8_t *sv_credentials_cert(const struct sv_credentials *c, size_t *len);

/* Size of the RSA modulus in bits. */
unsigned sv_credentials_key_bits(const struct sv_credentials *c);

/*
 * An sv_session_sign_fn; arg is a struct sv_credentials. Writes RSASSA-PKCS1-v1_5 with
 * SHA-1 over random to sig; *siglen = key size in bytes. 0, SV_E_TOOBIG when cap is
 * too small, SV_E_INTERNAL when BearSSL refuses the key.
 */
int sv_credentials_sign(void *arg, const uint8_t random[20], uint8_t *sig, size_t cap,
	size_t *siglen);

/* Fills out so that a session signs with c: der/len point into c (borrowed). */
void sv_credentials_session_cert(const struct sv_credentials *c,
	struct sv_session_cert *out);

#endif
