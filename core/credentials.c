/*
 * Client certificate and RSA key for certificate authentication; see credentials.h.
 *
 * Each input is DER when it starts with a SEQUENCE tag (0x30), else PEM: the first
 * block with a wanted label is decoded (so one file holding both the certificate and
 * the key may be given twice), other blocks are skipped. The key is copied out of
 * BearSSL's decoder into one allocation that is wiped on free; every temporary copy of
 * key bytes is wiped before return. A trial signature, verified with the certificate's
 * public key, proves that key and certificate belong together.
 */
#include <bearssl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "credentials.h"
#include "err.h"

#define SV_LOG_MODULE "creds"
#include "log.h"

struct sv_credentials {
	uint8_t *cert;
	size_t cert_len;
	br_rsa_private_key sk; /* points into key_mem */
	uint8_t *key_mem;
	size_t key_mem_len;
};

enum kind { KIND_CERT, KIND_KEY };

/* A decoded DER object; cap is fixed when created (PEM decodes to fewer bytes). */
struct der {
	uint8_t *p;
	size_t len, cap;
	bool overflow;
	char label[64]; /* PEM label, "" for DER input */
};

static const char *
what(enum kind k)
{
	return k == KIND_CERT ? "certificate" : "private key";
}

static void
der_free(struct der *d)
{
	if (d->p != NULL) {
		explicit_bzero(d->p, d->cap);
		free(d->p);
	}
	memset(d, 0, sizeof *d);
}

static void
der_append(void *ctx, const void *src, size_t n)
{
	struct der *d = ctx;

	if (d->overflow || n > d->cap - d->len) {
		d->overflow = true;
		return;
	}
	memcpy(d->p + d->len, src, n);
	d->len += n;
}

/* Bounded search; the input may be binary. */
static bool
contains(const uint8_t *p, size_t n, const char *needle)
{
	size_t k = strlen(needle);

	for (size_t i = 0; k <= n && i <= n - k; i++) {
		if (memcmp(p + i, needle, k) == 0)
			return true;
	}
	return false;
}

/* Total length of the DER SEQUENCE at p (tag, length, contents), if it fits in n. */
static bool
der_seq_len(const uint8_t *p, size_t n, size_t *total)
{
	size_t len = 0, hdr;

	if (n < 2 || p[0] != 0x30)
		return false;
	if (p[1] < 0x80) {
		len = p[1];
		hdr = 2;
	} else {
		size_t k = p[1] & 0x7f;
		if (k == 0 || k > 3 || n < 2 + k)
			return false; /* indefinite, or more than 16 MiB */
		for (size_t i = 0; i < k; i++)
			len = len << 8 | p[2 + i];
		hdr = 2 + k;
	}
	if (len > n - hdr)
		return false;
	*total = hdr + len;
	return true;
}

static bool
label_wanted(enum kind k, const char *label)
{
	static const char *const certs[] = { "CERTIFICATE", "X509 CERTIFICATE", NULL };
	static const char *const keys[] = { "RSA PRIVATE KEY", "PRIVATE KEY",
		"EC PRIVATE KEY", "ENCRYPTED PRIVATE KEY", NULL };
	const char *const *l = k == KIND_CERT ? certs : keys;

	for (; *l != NULL; l++) {
		if (strcmp(*l, label) == 0)
			return true;
	}
	return false;
}

/*
 * Decodes the first wanted PEM block into d. other (cap 64) receives the label of the
 * first unwanted block seen, for the error message. 0, or SV_E_INVAL.
 */
/* PEM labels are truncated to fit: they only name the object in messages. */
static void
copy_label(char *dst, size_t cap, const char *src)
{
	size_t n = strnlen(src, cap - 1);
	memcpy(dst, src, n);
	dst[n] = '\0';
}

static int
pem_decode(const uint8_t *in, size_t n, enum kind k, struct der *d, char *other)
{
	br_pem_decoder_context pc;
	const uint8_t *p = in;
	size_t left = n;
	bool want = false, tail = false;

	br_pem_decoder_init(&pc);
	for (;;) {
		if (left == 0) {
			/* The decoder sees an END line only once its newline came. */
			if (tail)
				return SV_E_INVAL;
			p = (const uint8_t *)"\n";
			left = 1;
			tail = true;
		}
		size_t used = br_pem_decoder_push(&pc, p, left);
		p += used;
		left -= used;
		switch (br_pem_decoder_event(&pc)) {
		case BR_PEM_BEGIN_OBJ: {
			const char *name = br_pem_decoder_name(&pc);
			want = label_wanted(k, name);
			if (want)
				copy_label(d->label, sizeof d->label, name);
			else if (other[0] == 0)
				copy_label(other, 64, name);
			br_pem_decoder_setdest(&pc, want ? der_append : NULL,
				want ? d : NULL);
			break;
		}
		case BR_PEM_END_OBJ:
			if (want) {
				explicit_bzero(&pc, sizeof pc);
				return 0;
			}
			break;
		case BR_PEM_ERROR:
			explicit_bzero(&pc, sizeof pc);
			return SV_E_INVAL;
		default:
			break;
		}
	}
}

/* in -> d (DER, trimmed to its outer SEQUENCE). */
static int
decode_input(const uint8_t *in, size_t n, enum kind k, struct der *d, char *err,
	size_t errcap)
{
	char other[64] = "";
	size_t total;

	if (n == 0)
		return sv_errf(err, errcap, "%s: the file is empty", what(k));
	if ((d->p = malloc(n)) == NULL)
		return SV_E_NOMEM;
	d->cap = n;
	if (in[0] == 0x30) {
		memcpy(d->p, in, n);
		d->len = n;
	} else if (pem_decode(in, n, k, d, other) != 0 || d->overflow) {
		if (k == KIND_KEY && contains(in, n, "ENCRYPTED"))
			return sv_errf(err, errcap, "private key: the key is encrypted, which is "
				"not supported; write an unencrypted copy readable only by you "
				"(openssl pkey -in KEY -out KEY.plain)");
		if (other[0] != 0)
			return sv_errf(err, errcap, "%s: the file holds a PEM \"%s\" but no %s%s",
				what(k), other, what(k),
				k == KIND_KEY ? " (were --cert and --key swapped?)" : "");
		return sv_errf(err, errcap, "%s: neither DER nor a PEM %s block", what(k),
			k == KIND_CERT ? "CERTIFICATE" : "PRIVATE KEY");
	}
	if (strcmp(d->label, "ENCRYPTED PRIVATE KEY") == 0)
		return sv_errf(err, errcap, "private key: the key is encrypted, which is not "
			"supported; write an unencrypted copy readable only by you "
			"(openssl pkey -in KEY -out KEY.plain)");
	if (!der_seq_len(d->p, d->len, &total))
		return sv_errf(err, errcap, "%s: not a valid DER structure", what(k));
	d->len = total; /* trailing bytes after the object are not part of it */
	return 0;
}

static int
ec_refused(char *err, size_t errcap, enum kind k)
{
	return sv_errf(err, errcap, "%s: an EC key; SoftEther certificate authentication "
		"signs with RSA only: use an RSA key of %u to %u bits", what(k),
		SV_CREDENTIALS_RSA_MIN_BITS, SV_CREDENTIALS_RSA_MAX_BITS);
}

/* Copies the RSA key out of BearSSL's decoder into c->key_mem. */
static int
take_rsa_key(struct sv_credentials *c, const br_rsa_private_key *sk)
{
	size_t n = sk->plen + sk->qlen + sk->dplen + sk->dqlen + sk->iqlen;
	uint8_t *m = malloc(n);

	if (m == NULL)
		return SV_E_NOMEM;
	c->key_mem = m;
	c->key_mem_len = n;
	c->sk.n_bitlen = sk->n_bitlen;
	c->sk.p = memcpy(m, sk->p, sk->plen);
	c->sk.plen = sk->plen;
	m += sk->plen;
	c->sk.q = memcpy(m, sk->q, sk->qlen);
	c->sk.qlen = sk->qlen;
	m += sk->qlen;
	c->sk.dp = memcpy(m, sk->dp, sk->dplen);
	c->sk.dplen = sk->dplen;
	m += sk->dplen;
	c->sk.dq = memcpy(m, sk->dq, sk->dqlen);
	c->sk.dqlen = sk->dqlen;
	m += sk->dqlen;
	c->sk.iq = memcpy(m, sk->iq, sk->iqlen);
	c->sk.iqlen = sk->iqlen;
	return 0;
}

static int
load_key(struct sv_credentials *c, const struct der *d, char *err, size_t errcap)
{
	br_skey_decoder_context kd;
	int r = 0;

	if (strcmp(d->label, "EC PRIVATE KEY") == 0)
		return ec_refused(err, errcap, KIND_KEY);
	br_skey_decoder_init(&kd);
	br_skey_decoder_push(&kd, d->p, d->len);
	int e = br_skey_decoder_last_error(&kd);
	if (e != 0) {
		r = sv_errf(err, errcap, "private key: not an unencrypted RSA key in PKCS#1 or "
			"PKCS#8 form (BearSSL error %d)", e);
	} else if (br_skey_decoder_key_type(&kd) == BR_KEYTYPE_EC) {
		r = ec_refused(err, errcap, KIND_KEY);
	} else if (br_skey_decoder_key_type(&kd) != BR_KEYTYPE_RSA) {
		r = sv_errf(err, errcap, "%s", "private key: not an RSA key");
	} else {
		const br_rsa_private_key *sk = br_skey_decoder_get_rsa(&kd);
		if (sk->n_bitlen < SV_CREDENTIALS_RSA_MIN_BITS ||
			sk->n_bitlen > SV_CREDENTIALS_RSA_MAX_BITS)
			r = sv_errf(err, errcap, "private key: RSA-%u; SoftEther accepts %u to "
				"%u bits", (unsigned)sk->n_bitlen, SV_CREDENTIALS_RSA_MIN_BITS,
				SV_CREDENTIALS_RSA_MAX_BITS);
		else
			r = take_rsa_key(c, sk);
	}
	explicit_bzero(&kd, sizeof kd);
	return r;
}

/*
 * Checks the certificate and that the key signs what its public key verifies; the
 * public key lives in xd, so both happen here.
 */
static int
check_cert(struct sv_credentials *c, const struct der *d, char *err, size_t errcap)
{
	br_x509_decoder_context xd;
	static const uint8_t probe[20] = "sevpn-proxy key chk";
	uint8_t sig[SV_SESSION_SIG_MAX], hash[20];
	size_t n;

	if (d->len > SV_SESSION_CERT_MAX)
		return sv_errf(err, errcap, "certificate: %zu bytes; at most %u fit in the "
			"login request", d->len, SV_SESSION_CERT_MAX);
	br_x509_decoder_init(&xd, NULL, NULL);
	br_x509_decoder_push(&xd, d->p, d->len);
	int e = br_x509_decoder_last_error(&xd);
	const br_x509_pkey *pk = e == 0 ? br_x509_decoder_get_pkey(&xd) : NULL;
	if (pk == NULL)
		return sv_errf(err, errcap, "certificate: not an X.509 certificate "
			"(BearSSL error %d)", e);
	if (pk->key_type == BR_KEYTYPE_EC)
		return ec_refused(err, errcap, KIND_CERT);
	if (pk->key_type != BR_KEYTYPE_RSA)
		return sv_errf(err, errcap, "%s", "certificate: not an RSA public key");
	if (sv_credentials_sign(c, probe, sig, sizeof sig, &n) != 0 ||
		!br_rsa_pkcs1_vrfy_get_default()(sig, n, BR_HASH_OID_SHA1, sizeof hash,
			&pk->key.rsa, hash))
		return sv_errf(err, errcap, "%s", "the private key does not belong to the "
			"certificate");
	br_sha1_context h;
	uint8_t want[20];
	br_sha1_init(&h);
	br_sha1_update(&h, probe, sizeof probe);
	br_sha1_out(&h, want);
	if (memcmp(hash, want, sizeof want) != 0)
		return sv_errf(err, errcap, "%s", "the private key does not belong to the "
			"certificate");
	return 0;
}

/* see credentials.h */
int
sv_credentials_new(struct sv_credentials **out, const uint8_t *cert, size_t cert_len,
	const uint8_t *key, size_t key_len, char *err, size_t errcap)
{
	struct der cd = { 0 }, kd = { 0 };
	struct sv_credentials *c = calloc(1, sizeof *c);
	int r = SV_E_NOMEM;

	if (c == NULL)
		goto out;
	if ((r = decode_input(cert, cert_len, KIND_CERT, &cd, err, errcap)) != 0 ||
		(r = decode_input(key, key_len, KIND_KEY, &kd, err, errcap)) != 0 ||
		(r = load_key(c, &kd, err, errcap)) != 0 ||
		(r = check_cert(c, &cd, err, errcap)) != 0)
		goto out;
	r = SV_E_NOMEM;
	if ((c->cert = malloc(cd.len)) == NULL)
		goto out;
	memcpy(c->cert, cd.p, cd.len);
	c->cert_len = cd.len;
	log_debug("client certificate %zu bytes, RSA-%u key", c->cert_len,
		(unsigned)c->sk.n_bitlen);
	*out = c;
	c = NULL;
	r = 0;
out:
	if (r == SV_E_NOMEM)
		snprintf(err, errcap, "out of memory loading the client certificate");
	der_free(&cd);
	der_free(&kd);
	sv_credentials_free(c);
	return r;
}

/* see credentials.h */
void
sv_credentials_free(struct sv_credentials *c)
{
	if (c == NULL)
		return;
	if (c->key_mem != NULL) {
		explicit_bzero(c->key_mem, c->key_mem_len);
		free(c->key_mem);
	}
	free(c->cert);
	explicit_bzero(c, sizeof *c);
	free(c);
}

/* see credentials.h */
const uint8_t *
sv_credentials_cert(const struct sv_credentials *c, size_t *len)
{
	*len = c->cert_len;
	return c->cert;
}

/* see credentials.h */
unsigned
sv_credentials_key_bits(const struct sv_credentials *c)
{
	return (unsigned)c->sk.n_bitlen;
}

/* see credentials.h */
int
sv_credentials_sign(void *arg, const uint8_t random[20], uint8_t *sig, size_t cap,
	size_t *siglen)
{
	const struct sv_credentials *c = arg;
	size_t n = (c->sk.n_bitlen + 7) / 8;
	br_sha1_context h;
	uint8_t hash[20];

	if (n > cap)
		return SV_E_TOOBIG;
	/* Spec 7.2: PKCS#1 v1.5 over DigestInfo(SHA-1(random)). */
	br_sha1_init(&h);
	br_sha1_update(&h, random, 20);
	br_sha1_out(&h, hash);
	if (!br_rsa_pkcs1_sign_get_default()(BR_HASH_OID_SHA1, hash, sizeof hash, &c->sk,
		    sig))
		return SV_E_INTERNAL;
	*siglen = n;
	return 0;
}

/* see credentials.h */
void
sv_credentials_session_cert(const struct sv_credentials *c, struct sv_session_cert *out)
{
	out->der = c->cert;
	out->len = c->cert_len;
	out->sign = sv_credentials_sign;
	out->arg = (void *)c; /* the signer only reads it */
}
