/*
 * TLS client on BearSSL: a buffer pump around br_ssl_client_context (see
 * tls.h).
 *
 * Certificate checks go through our own br_x509_class (the "x509 wrapper") in
 * every mode, so the SHA-256 of the end-entity certificate is always recorded
 * for messages:
 *  - PIN: the wrapper hashes the end-entity certificate, compares it with the
 *    pin and hands out the public key decoded with br_x509_decoder. Nothing
 *    else is checked.
 *  - CA: the wrapper forwards everything to br_x509_minimal (chain, dates, the
 *    DNS name given to br_ssl_client_reset). For an IP literal it also keeps a
 *    copy of the end-entity certificate and checks its iPAddress SANs itself,
 *    because BearSSL never checks IP addresses.
 *  - INSECURE: like PIN without the comparison.
 *
 * Closing: br_ssl_engine_close() sends close_notify and then waits for the
 * peer's. While it waits, BearSSL no longer hands out received application
 * data but also cannot read new records while an undelivered one sits in its
 * input buffer, so sv_tls_close() discards that data first (the
 * br_sslio_close spin in dependencies.md section 2.5). Records of application
 * data that arrive later are discarded by BearSSL itself.
 */
#define SV_LOG_MODULE "tls"

#include "core/tls.h"

#include <bearssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/addr.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"

#define CA_MAX_ANCHORS 4096     /* a system bundle has ~150 */
#define CA_MAX_DN 4096          /* bytes of one subject DN */
#define CA_FILE_MAX (16u << 20) /* bytes read from one PEM file */
/* end-entity certificate kept for the SAN check */
#define EE_CERT_MAX (32u * 1024)

enum cert_reason {
	REASON_NONE,
	REASON_PIN_MISMATCH,
	REASON_IP_MISMATCH,
	REASON_CERT_TOO_BIG,
	REASON_DECODE,
};

/* Our br_x509_class context; the vtable pointer must stay the first member. */
struct x509_wrap {
	const br_x509_class *vtable;
	enum sv_tls_verify mode;
	br_x509_minimal_context *minimal; /* CA mode */
	uint8_t pin[32];
	uint8_t ip[16]; /* CA mode, IP literal: the address to find */
	size_t iplen;   /* 0: no IP check */
	uint8_t *ee;    /* EE_CERT_MAX bytes when iplen != 0 */
	size_t ee_len;
	bool ee_overflow;
	unsigned depth;
	int err;
	enum cert_reason reason;
	bool have_hash;
	uint8_t hash[32];
	br_sha256_context sha;
	br_x509_decoder_context dec;
};

struct sv_tls {
	br_ssl_client_context cc;
	br_x509_minimal_context xm;
	struct x509_wrap xw;
	br_x509_trust_anchor *tas;
	size_t ntas, tas_cap;
	char ca_name[256];     /* file the anchors came from, for messages */
	char server_name[256]; /* as given, for messages */
	bool name_is_ip;
	bool closing;
	uint8_t iobuf[BR_SSL_BUFSIZE_BIDI];
};

/* ---- cipher suites ---- */

struct suite {
	uint16_t id;
	const char *name;
};

/* Preference order with AES-NI; without it the ChaCha20 entries move to the
 * front. */
static const struct suite suites[] = {
    {BR_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
     "ECDHE-ECDSA-AES256-GCM-SHA384"},
    {BR_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, "ECDHE-RSA-AES256-GCM-SHA384"},
    {BR_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
     "ECDHE-ECDSA-AES128-GCM-SHA256"},
    {BR_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, "ECDHE-RSA-AES128-GCM-SHA256"},
    {BR_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
     "ECDHE-ECDSA-CHACHA20-POLY1305"},
    {BR_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
     "ECDHE-RSA-CHACHA20-POLY1305"},
    {BR_TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256, "ECDHE-ECDSA-AES128-SHA256"},
    {BR_TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256, "ECDHE-RSA-AES128-SHA256"},
    {BR_TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384, "ECDHE-ECDSA-AES256-SHA384"},
    {BR_TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384, "ECDHE-RSA-AES256-SHA384"},
    {BR_TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, "ECDHE-ECDSA-AES128-SHA"},
    {BR_TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, "ECDHE-RSA-AES128-SHA"},
    {BR_TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA, "ECDHE-ECDSA-AES256-SHA"},
    {BR_TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA, "ECDHE-RSA-AES256-SHA"},
    /* Static RSA key exchange (no forward secrecy): only for servers that offer
     * nothing better, e.g. a SoftEther configured with CipherName AES128-SHA.
     */
    {BR_TLS_RSA_WITH_AES_256_GCM_SHA384, "AES256-GCM-SHA384"},
    {BR_TLS_RSA_WITH_AES_128_GCM_SHA256, "AES128-GCM-SHA256"},
    {BR_TLS_RSA_WITH_AES_128_CBC_SHA256, "AES128-SHA256"},
    {BR_TLS_RSA_WITH_AES_256_CBC_SHA256, "AES256-SHA256"},
    {BR_TLS_RSA_WITH_AES_128_CBC_SHA, "AES128-SHA"},
    {BR_TLS_RSA_WITH_AES_256_CBC_SHA, "AES256-SHA"},
};
#define NSUITES (sizeof suites / sizeof suites[0])

static bool
is_chacha(uint16_t id)
{
	return id == BR_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256 ||
	       id == BR_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256;
}

static void
set_suites(br_ssl_engine_context *eng)
{
	uint16_t ids[NSUITES];
	size_t i, n = 0;
	bool aesni = br_aes_x86ni_ctr_get_vtable() != NULL;

	if (!aesni) {
		for (i = 0; i < NSUITES; i++)
			if (is_chacha(suites[i].id))
				ids[n++] = suites[i].id;
	}
	for (i = 0; i < NSUITES; i++)
		if (aesni || !is_chacha(suites[i].id))
			ids[n++] = suites[i].id;
	br_ssl_engine_set_suites(eng, ids, n);
	log_debug("suites: %s first",
	          aesni ? "AES-GCM (AES-NI)" : "ChaCha20-Poly1305");
}

/* ---- pin parsing and hex ---- */

/* see tls.h */
int
sv_tls_parse_pin(const char *text, uint8_t out[32])
{
	static const char prefix[] = "sha256 fingerprint=";
	uint8_t pin[32];
	size_t n = 0;
	const char *p;

	if (text == NULL)
		return SV_E_INVAL;
	while (*text == ' ' || *text == '\t')
		text++;
	if (strncasecmp(text, prefix, sizeof prefix - 1) == 0)
		text += sizeof prefix - 1;
	for (p = text; *p != '\0';) {
		int hi, lo;

		if (n > 0 && (*p == ':' || *p == ' ')) {
			/* one separator between byte pairs, not at the end */
			if (n == 32 || p[1] == ':' || p[1] == ' ')
				break;
			p++;
		}
		if (n == 32 || (hi = sv_hexval(p[0])) < 0 ||
		    (lo = sv_hexval(p[1])) < 0)
			break;
		pin[n++] = (uint8_t)(hi << 4 | lo);
		p += 2;
	}
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	if (n != 32 || *p != '\0') {
		explicit_bzero(pin, sizeof pin);
		return SV_E_INVAL;
	}
	memcpy(out, pin, 32);
	return 0;
}

/* "AB:CD:..." (95 characters) into out. */
static void
hex_colon(const uint8_t h[32], char out[97])
{
	static const char digits[] = "0123456789ABCDEF";
	size_t i;

	for (i = 0; i < 32; i++) {
		out[i * 3] = digits[h[i] >> 4];
		out[i * 3 + 1] = digits[h[i] & 15];
		out[i * 3 + 2] = i == 31 ? '\0' : ':';
	}
}

/* ---- iPAddress SAN walker ---- */

struct der {
	const uint8_t *p;
	size_t n;
};

/* Takes one TLV off d (single-byte tag, definite length): 0, or -1 if it is
 * malformed or runs past the end of d. */
static int
der_next(struct der *d, uint8_t *tag, struct der *val)
{
	size_t len, off = 2, nb, i;

	if (d->n < 2 || (d->p[0] & 0x1f) == 0x1f)
		return -1;
	*tag = d->p[0];
	len = d->p[1];
	if (len & 0x80) {
		nb = len & 0x7f;
		if (nb == 0 || nb > 3 || d->n - 2 < nb)
			return -1;
		for (len = 0, i = 0; i < nb; i++)
			len = len << 8 | d->p[2 + i];
		off += nb;
	}
	if (len > d->n - off)
		return -1;
	val->p = d->p + off;
	val->n = len;
	d->p += off + len;
	d->n -= off + len;
	return 0;
}

/* Does the GeneralNames in a SAN extension value hold this iPAddress?
 * 1 yes, 0 no, -1 malformed. */
static int
san_has_ip(struct der ext_value, const uint8_t *ip, size_t iplen)
{
	struct der names, gn;
	uint8_t tag;

	if (der_next(&ext_value, &tag, &names) != 0 || tag != 0x30)
		return -1;
	while (names.n > 0) {
		if (der_next(&names, &tag, &gn) != 0)
			return -1;
		/* RFC 5280 4.2.1.6: iPAddress [7] IMPLICIT OCTET STRING */
		if (tag == 0x87 && gn.n == iplen &&
		    memcmp(gn.p, ip, iplen) == 0)
			return 1;
	}
	return 0;
}

/* Walks Extensions ::= SEQUENCE OF Extension for subjectAltName (2.5.29.17). */
static int
exts_have_ip(struct der exts, const uint8_t *ip, size_t iplen)
{
	static const uint8_t san_oid[] = {0x55, 0x1d, 0x11};
	struct der ext, oid, v;
	uint8_t tag;
	int r;

	while (exts.n > 0) {
		if (der_next(&exts, &tag, &ext) != 0 || tag != 0x30)
			return -1;
		if (der_next(&ext, &tag, &oid) != 0 || tag != 0x06)
			return -1;
		if (der_next(&ext, &tag, &v) != 0)
			return -1;
		if (tag == 0x01 && der_next(&ext, &tag, &v) != 0) /* critical */
			return -1;
		if (tag != 0x04)
			return -1;
		if (oid.n != sizeof san_oid ||
		    memcmp(oid.p, san_oid, oid.n) != 0)
			continue;
		if ((r = san_has_ip(v, ip, iplen)) != 0)
			return r;
	}
	return 0;
}

/* see tls.h */
int
sv_tls_cert_has_ip(const uint8_t *der, size_t n, const uint8_t *ip,
                   size_t iplen)
{
	struct der d = {der, n}, cert, tbs, v, exts;
	uint8_t tag;

	if (der == NULL || ip == NULL || (iplen != 4 && iplen != 16))
		return 0;
	if (der_next(&d, &tag, &cert) != 0 || tag != 0x30)
		return 0;
	if (der_next(&cert, &tag, &tbs) != 0 || tag != 0x30)
		return 0;
	/* RFC 5280 4.1: TBSCertificate ends with the optional [1] issuerUID,
	 * [2] subjectUID and [3] EXPLICIT Extensions */
	while (tbs.n > 0) {
		if (der_next(&tbs, &tag, &v) != 0)
			return 0;
		if (tag != 0xa3)
			continue;
		if (der_next(&v, &tag, &exts) != 0 || tag != 0x30)
			return 0;
		return exts_have_ip(exts, ip, iplen) == 1;
	}
	return 0;
}

/* ---- the x509 wrapper ---- */

static struct x509_wrap *
wrap_of(const br_x509_class *const *ctx)
{
	return (struct x509_wrap *)(uintptr_t)ctx;
}

static void
xw_start_chain(const br_x509_class **ctx, const char *server_name)
{
	struct x509_wrap *w = wrap_of(ctx);

	w->depth = 0;
	w->err = 0;
	w->reason = REASON_NONE;
	w->have_hash = false;
	w->ee_len = 0;
	w->ee_overflow = false;
	if (w->minimal != NULL)
		w->minimal->vtable->start_chain(&w->minimal->vtable,
		                                server_name);
}

static void
xw_start_cert(const br_x509_class **ctx, uint32_t length)
{
	struct x509_wrap *w = wrap_of(ctx);

	if (w->depth == 0) {
		br_sha256_init(&w->sha);
		if (w->minimal == NULL)
			br_x509_decoder_init(&w->dec, NULL, NULL);
	}
	if (w->minimal != NULL)
		w->minimal->vtable->start_cert(&w->minimal->vtable, length);
}

static void
xw_append(const br_x509_class **ctx, const unsigned char *buf, size_t len)
{
	struct x509_wrap *w = wrap_of(ctx);

	if (w->depth == 0) {
		br_sha256_update(&w->sha, buf, len);
		if (w->minimal == NULL)
			br_x509_decoder_push(&w->dec, buf, len);
		if (w->iplen != 0) {
			if (len > EE_CERT_MAX - w->ee_len) {
				w->ee_overflow = true;
			} else {
				memcpy(w->ee + w->ee_len, buf, len);
				w->ee_len += len;
			}
		}
	}
	if (w->minimal != NULL)
		w->minimal->vtable->append(&w->minimal->vtable, buf, len);
}

static void
xw_end_cert(const br_x509_class **ctx)
{
	struct x509_wrap *w = wrap_of(ctx);

	if (w->depth == 0) {
		br_sha256_out(&w->sha, w->hash);
		w->have_hash = true;
		if (w->minimal == NULL &&
		    br_x509_decoder_last_error(&w->dec) != 0) {
			w->err = br_x509_decoder_last_error(&w->dec);
			w->reason = REASON_DECODE;
		} else if (w->mode == SV_TLS_VERIFY_PIN &&
		           memcmp(w->hash, w->pin, 32) != 0) {
			w->err = BR_ERR_X509_NOT_TRUSTED;
			w->reason = REASON_PIN_MISMATCH;
		}
	}
	w->depth++;
	if (w->minimal != NULL)
		w->minimal->vtable->end_cert(&w->minimal->vtable);
}

static unsigned
xw_end_chain(const br_x509_class **ctx)
{
	struct x509_wrap *w = wrap_of(ctx);
	unsigned r = 0;

	if (w->minimal != NULL)
		r = w->minimal->vtable->end_chain(&w->minimal->vtable);
	if (w->depth == 0)
		return BR_ERR_X509_EMPTY_CHAIN;
	if (w->err != 0)
		return (unsigned)w->err;
	if (r != 0)
		return r;
	if (w->iplen != 0) {
		if (w->ee_overflow) {
			w->reason = REASON_CERT_TOO_BIG;
			return BR_ERR_X509_LIMIT_EXCEEDED;
		}
		if (sv_tls_cert_has_ip(w->ee, w->ee_len, w->ip, w->iplen) !=
		    1) {
			w->reason = REASON_IP_MISMATCH;
			return BR_ERR_X509_BAD_SERVER_NAME;
		}
	}
	return 0;
}

static const br_x509_pkey *
xw_get_pkey(const br_x509_class *const *ctx, unsigned *usages)
{
	struct x509_wrap *w = wrap_of(ctx);

	if (w->err != 0)
		return NULL;
	if (w->minimal != NULL)
		return w->minimal->vtable->get_pkey(
		    (const br_x509_class *const *)&w->minimal->vtable, usages);
	if (usages != NULL)
		*usages = BR_KEYTYPE_KEYX | BR_KEYTYPE_SIGN;
	return br_x509_decoder_get_pkey(&w->dec);
}

static const br_x509_class x509_wrap_vtable = {
    sizeof(struct x509_wrap),
    xw_start_chain,
    xw_start_cert,
    xw_append,
    xw_end_cert,
    xw_end_chain,
    xw_get_pkey,
};

/* ---- trust anchors from PEM ---- */

struct dn_buf {
	uint8_t b[CA_MAX_DN];
	size_t len;
	bool overflow;
};

struct ca_loader {
	struct sv_tls *t;
	br_x509_decoder_context dec;
	struct dn_buf dn;
	bool in_cert;
	size_t skipped;
	int err; /* SV_E_NOMEM or SV_E_TOOBIG stops the load */
};

static void
dn_append(void *ctx, const void *buf, size_t len)
{
	struct dn_buf *d = ctx;

	if (len > sizeof d->b - d->len) {
		d->overflow = true;
		return;
	}
	memcpy(d->b + d->len, buf, len);
	d->len += len;
}

static void
pem_to_x509(void *ctx, const void *buf, size_t len)
{
	br_x509_decoder_push(ctx, buf, len);
}

static uint8_t *
dup_bytes(const void *p, size_t n)
{
	uint8_t *q = malloc(n ? n : 1);

	if (q != NULL)
		memcpy(q, p, n);
	return q;
}

static void
anchor_free(br_x509_trust_anchor *ta)
{
	free(ta->dn.data);
	if (ta->pkey.key_type == BR_KEYTYPE_RSA) {
		free(ta->pkey.key.rsa.n);
		free(ta->pkey.key.rsa.e);
	} else if (ta->pkey.key_type == BR_KEYTYPE_EC) {
		free(ta->pkey.key.ec.q);
	}
}

/* Copies the decoded certificate into a new trust anchor: the decoder's buffers
 * are transient. 0, SV_E_NOMEM, SV_E_TOOBIG, or 1 when the certificate was
 * skipped. */
static int
add_anchor(struct ca_loader *l)
{
	struct sv_tls *t = l->t;
	br_x509_pkey *pk = br_x509_decoder_get_pkey(&l->dec);
	br_x509_trust_anchor ta, *grown;

	if (pk == NULL || l->dn.overflow)
		return 1;
	if (t->ntas == CA_MAX_ANCHORS)
		return SV_E_TOOBIG;
	memset(&ta, 0, sizeof ta);
	ta.flags = br_x509_decoder_isCA(&l->dec) ? BR_X509_TA_CA : 0;
	ta.pkey.key_type = pk->key_type;
	ta.dn.len = l->dn.len;
	ta.dn.data = dup_bytes(l->dn.b, l->dn.len);
	if (pk->key_type == BR_KEYTYPE_RSA) {
		ta.pkey.key.rsa.nlen = pk->key.rsa.nlen;
		ta.pkey.key.rsa.elen = pk->key.rsa.elen;
		ta.pkey.key.rsa.n = dup_bytes(pk->key.rsa.n, pk->key.rsa.nlen);
		ta.pkey.key.rsa.e = dup_bytes(pk->key.rsa.e, pk->key.rsa.elen);
		if (ta.pkey.key.rsa.n == NULL || ta.pkey.key.rsa.e == NULL)
			goto nomem;
	} else if (pk->key_type == BR_KEYTYPE_EC) {
		ta.pkey.key.ec.curve = pk->key.ec.curve;
		ta.pkey.key.ec.qlen = pk->key.ec.qlen;
		ta.pkey.key.ec.q = dup_bytes(pk->key.ec.q, pk->key.ec.qlen);
		if (ta.pkey.key.ec.q == NULL)
			goto nomem;
	} else {
		anchor_free(&ta);
		return 1;
	}
	if (ta.dn.data == NULL)
		goto nomem;
	if (t->ntas == t->tas_cap) {
		size_t cap = t->tas_cap ? t->tas_cap * 2 : 64;

		if ((grown = realloc(t->tas, cap * sizeof *t->tas)) == NULL)
			goto nomem;
		t->tas = grown;
		t->tas_cap = cap;
	}
	t->tas[t->ntas++] = ta;
	return 0;
nomem:
	anchor_free(&ta);
	return SV_E_NOMEM;
}

static void
on_pem_event(struct ca_loader *l, br_pem_decoder_context *pc, int ev)
{
	const char *name;
	int r;

	if (ev == BR_PEM_BEGIN_OBJ) {
		name = br_pem_decoder_name(pc);
		l->in_cert = strcmp(name, "CERTIFICATE") == 0 ||
		             strcmp(name, "X509 CERTIFICATE") == 0;
		if (l->in_cert) {
			l->dn.len = 0;
			l->dn.overflow = false;
			br_x509_decoder_init(&l->dec, dn_append, &l->dn);
			br_pem_decoder_setdest(pc, pem_to_x509, &l->dec);
		} else {
			br_pem_decoder_setdest(pc, NULL, NULL);
		}
	} else if (ev == BR_PEM_END_OBJ && l->in_cert) {
		l->in_cert = false;
		r = add_anchor(l);
		if (r == 1)
			l->skipped++;
		else if (r < 0 && l->err == 0)
			l->err = r;
	}
}

/* Pushes a chunk through the PEM decoder. 0, or -1 on a PEM syntax error. */
static int
pem_push(struct ca_loader *l, br_pem_decoder_context *pc, const uint8_t *p,
         size_t n)
{
	while (n > 0 && l->err == 0) {
		size_t k = br_pem_decoder_push(pc, p, n);
		int ev = br_pem_decoder_event(pc);

		p += k;
		n -= k;
		if (ev == BR_PEM_ERROR)
			return -1;
		on_pem_event(l, pc, ev);
	}
	return 0;
}

/* Adds the certificates of one PEM file. 0, SV_E_NOTFOUND (cannot open),
 * SV_E_INVAL (not PEM / no usable certificate), SV_E_NOMEM, SV_E_TOOBIG. */
static int
load_pem_file(struct sv_tls *t, const char *path)
{
	struct ca_loader *l;
	br_pem_decoder_context pc;
	uint8_t buf[4096];
	size_t n, total = 0, before = t->ntas;
	FILE *f;
	int r = 0;

	if ((f = fopen(path, "rb")) == NULL)
		return SV_E_NOTFOUND;
	if ((l = calloc(1, sizeof *l)) == NULL) {
		fclose(f);
		return SV_E_NOMEM;
	}
	l->t = t;
	br_pem_decoder_init(&pc);
	while (r == 0 && l->err == 0 &&
	       (n = fread(buf, 1, sizeof buf, f)) > 0) {
		total += n;
		if (total > CA_FILE_MAX)
			r = SV_E_TOOBIG;
		else if (pem_push(l, &pc, buf, n) != 0)
			r = SV_E_INVAL;
	}
	/* a final newline in case the file lacks one, as brssl does */
	if (r == 0 && l->err == 0 &&
	    (ferror(f) || pem_push(l, &pc, (const uint8_t *)"\n", 1)))
		r = SV_E_INVAL;
	if (r == 0)
		r = l->err;
	if (r == 0 && t->ntas == before)
		r = SV_E_INVAL;
	while (r != 0 && t->ntas > before) /* all of the file or nothing */
		anchor_free(&t->tas[--t->ntas]);
	if (l->skipped > 0)
		log_debug("ca: %s: skipped %zu certificates BearSSL cannot use",
		          path, l->skipped);
	free(l);
	fclose(f);
	return r;
}

static int
load_anchors(struct sv_tls *t, const char *ca_file)
{
	static const char *const system_bundles[] = {
	    "/etc/ssl/certs/ca-certificates.crt", /* Debian, Ubuntu, Alpine */
	    "/etc/pki/tls/certs/ca-bundle.crt",   /* Fedora, RHEL */
	    "/etc/ssl/cert.pem",                  /* macOS, BSDs */
	};
	size_t i;
	int r;

	if (ca_file != NULL) {
		snprintf(t->ca_name, sizeof t->ca_name, "%s", ca_file);
		r = load_pem_file(t, ca_file);
		if (r == SV_E_NOTFOUND || r == SV_E_INVAL || r == SV_E_TOOBIG) {
			log_err("ca: %s: %s", ca_file,
			        r == SV_E_NOTFOUND ? "cannot open the CA file"
			        : r == SV_E_TOOBIG
			            ? "CA file too large"
			            : "no usable PEM certificate");
			return SV_E_INVAL;
		}
		return r;
	}
	for (i = 0; i < sizeof system_bundles / sizeof system_bundles[0]; i++) {
		r = load_pem_file(t, system_bundles[i]);
		if (r == 0) {
			snprintf(t->ca_name, sizeof t->ca_name,
			         "the system CA bundle %s", system_bundles[i]);
			log_debug("ca: %zu trust anchors from %s", t->ntas,
			          system_bundles[i]);
			return 0;
		}
		if (r == SV_E_NOMEM)
			return r;
	}
	log_err("ca: no system CA bundle found (tried %s, %s, %s); use --ca "
	        "FILE or --pin",
	        system_bundles[0], system_bundles[1], system_bundles[2]);
	return SV_E_INVAL;
}

/* ---- object life ---- */

/* server_name without brackets, when it is an IP literal. */
static bool
parse_ip_literal(const char *name, uint8_t ip[16], size_t *iplen)
{
	char tmp[64];
	size_t n = strlen(name);
	struct sv_ip a;

	if (n >= 2 && name[0] == '[' && name[n - 1] == ']') {
		name++;
		n -= 2;
	}
	if (n == 0 || n >= sizeof tmp)
		return false;
	memcpy(tmp, name, n);
	tmp[n] = '\0';
	if (sv_ip_parse(tmp, &a) != 0)
		return false;
	*iplen = a.family == 4 ? 4 : 16;
	memcpy(ip, a.b, *iplen);
	return true;
}

static int
setup_verify(struct sv_tls *t, const struct sv_tls_config *cfg,
             const uint8_t ip[16], size_t iplen)
{
	struct x509_wrap *w = &t->xw;
	int r;

	w->vtable = &x509_wrap_vtable;
	w->mode = cfg->verify;
	memcpy(w->pin, cfg->pin, sizeof w->pin);
	if (cfg->verify != SV_TLS_VERIFY_CA)
		return 0;
	if ((r = load_anchors(t, cfg->ca_file)) != 0)
		return r;
	br_x509_minimal_init_full(&t->xm, t->tas, t->ntas);
	w->minimal = &t->xm;
	if (t->name_is_ip) {
		if ((w->ee = malloc(EE_CERT_MAX)) == NULL)
			return SV_E_NOMEM;
		memcpy(w->ip, ip, iplen);
		w->iplen = iplen;
	}
	return 0;
}

static int
check_config(const struct sv_tls_config *cfg)
{
	const char *name = cfg->server_name;

	if (cfg->verify != SV_TLS_VERIFY_PIN &&
	    cfg->verify != SV_TLS_VERIFY_CA &&
	    cfg->verify != SV_TLS_VERIFY_INSECURE)
		return SV_E_INVAL;
	if (name != NULL && strlen(name) > 253) {
		log_err("config: server name is too long");
		return SV_E_INVAL;
	}
	if (cfg->verify == SV_TLS_VERIFY_CA &&
	    (name == NULL || name[0] == '\0')) {
		/* without a name there would be no name check at all */
		log_err("config: checking the certificate against CAs needs "
		        "the server name");
		return SV_E_INVAL;
	}
	return 0;
}

/* Client profile: BearSSL's "full" one narrowed to TLS 1.2 and our suites,
 * with our certificate checker. Sends the ClientHello. 0 or SV_E_TLS. */
static int
start_engine(struct sv_tls *t)
{
	br_ssl_engine_context *eng = &t->cc.eng;
	const char *sni = t->server_name;
	int e;

	br_ssl_client_init_full(&t->cc, &t->xm, t->tas, t->ntas);
	br_ssl_engine_set_versions(eng, BR_TLS12, BR_TLS12);
	set_suites(eng);
	/* SoftEther never renegotiates; refusing keeps the certificate fixed */
	br_ssl_engine_add_flags(eng, BR_OPT_NO_RENEGOTIATION);
	br_ssl_engine_set_x509(eng, &t->xw.vtable);
	br_ssl_engine_set_buffer(eng, t->iobuf, sizeof t->iobuf, 1);
	/* A DNS name goes out as SNI and br_x509_minimal checks it in CA mode.
	 * An IP literal is never SNI (RFC 6066 section 3): we check it. */
	if (t->name_is_ip || sni[0] == '\0')
		sni = NULL;
	if (br_ssl_client_reset(&t->cc, sni, 0))
		return 0;
	e = br_ssl_engine_last_error(eng);
	log_err("handshake: cannot start (BearSSL error %d%s)", e,
	        e == BR_ERR_NO_RANDOM ? ": no OS entropy for the RNG" : "");
	return SV_E_TLS;
}

/* see tls.h */
struct sv_tls *
sv_tls_new(const struct sv_tls_config *cfg, int *err)
{
	struct sv_tls *t = NULL;
	uint8_t ip[16] = {0};
	size_t iplen = 0;
	int r;

	if (cfg == NULL) {
		r = SV_E_INVAL;
		goto fail;
	}
	if ((r = check_config(cfg)) != 0)
		goto fail;
	if ((t = calloc(1, sizeof *t)) == NULL) {
		r = SV_E_NOMEM;
		goto fail;
	}
	if (cfg->server_name != NULL) {
		snprintf(t->server_name, sizeof t->server_name, "%s",
		         cfg->server_name);
		t->name_is_ip = parse_ip_literal(t->server_name, ip, &iplen);
	}
	if ((r = setup_verify(t, cfg, ip, iplen)) != 0)
		goto fail;
	if ((r = start_engine(t)) != 0)
		goto fail;
	return t;
fail:
	sv_tls_free(t);
	if (err != NULL)
		*err = r;
	return NULL;
}

/* see tls.h */
void
sv_tls_free(struct sv_tls *t)
{
	size_t i;

	if (t == NULL)
		return;
	for (i = 0; i < t->ntas; i++)
		anchor_free(&t->tas[i]);
	free(t->tas);
	free(t->xw.ee);
	explicit_bzero(t, sizeof *t); /* session keys, pin */
	free(t);
}

/* ---- the pump ---- */

/* see tls.h */
uint8_t *
sv_tls_recv_buf(struct sv_tls *t, size_t *len)
{
	*len = 0;
	return br_ssl_engine_recvrec_buf(&t->cc.eng, len);
}

/* see tls.h */
void
sv_tls_recv_ack(struct sv_tls *t, size_t n)
{
	if (n == 0)
		return;
	/* while closing, BearSSL itself discards application data records */
	br_ssl_engine_recvrec_ack(&t->cc.eng, n);
}

/* see tls.h */
const uint8_t *
sv_tls_send_buf(struct sv_tls *t, size_t *len)
{
	*len = 0;
	return br_ssl_engine_sendrec_buf(&t->cc.eng, len);
}

/* see tls.h */
void
sv_tls_send_ack(struct sv_tls *t, size_t n)
{
	if (n == 0)
		return;
	br_ssl_engine_sendrec_ack(&t->cc.eng, n);
}

/* see tls.h */
const uint8_t *
sv_tls_app_in(struct sv_tls *t, size_t *len)
{
	*len = 0;
	return br_ssl_engine_recvapp_buf(&t->cc.eng, len);
}

/* see tls.h */
void
sv_tls_app_in_ack(struct sv_tls *t, size_t n)
{
	if (n == 0)
		return;
	br_ssl_engine_recvapp_ack(&t->cc.eng, n);
}

/* see tls.h */
uint8_t *
sv_tls_app_out(struct sv_tls *t, size_t *len)
{
	*len = 0;
	return br_ssl_engine_sendapp_buf(&t->cc.eng, len);
}

/* see tls.h */
void
sv_tls_app_out_ack(struct sv_tls *t, size_t n)
{
	if (n == 0)
		return;
	br_ssl_engine_sendapp_ack(&t->cc.eng, n);
}

/* see tls.h */
void
sv_tls_flush(struct sv_tls *t)
{
	br_ssl_engine_flush(&t->cc.eng, 0);
}

/* see tls.h */
bool
sv_tls_is_established(const struct sv_tls *t)
{
	/* "application_data" is 1 once the handshake has finished and until a
	 * close begins (bearssl_ssl.h, br_ssl_engine_context). */
	return br_ssl_engine_current_state(&t->cc.eng) != BR_SSL_CLOSED &&
	       t->cc.eng.application_data == 1;
}

/* see tls.h */
bool
sv_tls_is_closed(const struct sv_tls *t)
{
	return br_ssl_engine_current_state(&t->cc.eng) == BR_SSL_CLOSED;
}

/* see tls.h */
void
sv_tls_close(struct sv_tls *t)
{
	br_ssl_engine_context *eng = &t->cc.eng;
	size_t len;

	if (t->closing || sv_tls_is_closed(t))
		return;
	br_ssl_engine_flush(eng, 0);
	/* unread data would block the peer's close_notify: drop it */
	if (br_ssl_engine_recvapp_buf(eng, &len) != NULL && len > 0)
		br_ssl_engine_recvapp_ack(eng, len);
	t->closing = true;
	br_ssl_engine_close(eng);
}

/* ---- errors and names ---- */

static const char *
alert_name(int a)
{
	switch (a) {
	case BR_ALERT_CLOSE_NOTIFY:
		return "close_notify";
	case BR_ALERT_UNEXPECTED_MESSAGE:
		return "unexpected_message";
	case BR_ALERT_BAD_RECORD_MAC:
		return "bad_record_mac";
	case BR_ALERT_RECORD_OVERFLOW:
		return "record_overflow";
	case BR_ALERT_HANDSHAKE_FAILURE:
		return "handshake_failure";
	case BR_ALERT_BAD_CERTIFICATE:
		return "bad_certificate";
	case BR_ALERT_UNSUPPORTED_CERTIFICATE:
		return "unsupported_certificate";
	case BR_ALERT_CERTIFICATE_EXPIRED:
		return "certificate_expired";
	case BR_ALERT_CERTIFICATE_UNKNOWN:
		return "certificate_unknown";
	case BR_ALERT_ILLEGAL_PARAMETER:
		return "illegal_parameter";
	case BR_ALERT_UNKNOWN_CA:
		return "unknown_ca";
	case BR_ALERT_ACCESS_DENIED:
		return "access_denied";
	case BR_ALERT_DECODE_ERROR:
		return "decode_error";
	case BR_ALERT_DECRYPT_ERROR:
		return "decrypt_error";
	case BR_ALERT_PROTOCOL_VERSION:
		return "protocol_version";
	case BR_ALERT_INSUFFICIENT_SECURITY:
		return "insufficient_security";
	case BR_ALERT_INTERNAL_ERROR:
		return "internal_error";
	case BR_ALERT_USER_CANCELED:
		return "user_canceled";
	case BR_ALERT_NO_RENEGOTIATION:
		return "no_renegotiation";
	case BR_ALERT_UNSUPPORTED_EXTENSION:
		return "unsupported_extension";
	default:
		return "unknown alert";
	}
}

static const char *
engine_err_text(int e)
{
	switch (e) {
	case BR_ERR_UNSUPPORTED_VERSION:
		return "the server does not speak TLS 1.2 (the only version we "
		       "offer)";
	case BR_ERR_BAD_VERSION:
		return "the server changed the TLS version mid-stream";
	case BR_ERR_BAD_LENGTH:
		return "bad record length (is this a TLS server?)";
	case BR_ERR_TOO_LARGE:
		return "record too large";
	case BR_ERR_BAD_MAC:
		return "record authentication failed (corrupted connection)";
	case BR_ERR_NO_RANDOM:
		return "no entropy for the random generator";
	case BR_ERR_UNKNOWN_TYPE:
		return "unknown record type (is this a TLS server?)";
	case BR_ERR_UNEXPECTED:
		return "unexpected message from the server";
	case BR_ERR_BAD_HANDSHAKE:
		return "malformed handshake message";
	case BR_ERR_BAD_CIPHER_SUITE:
		return "the server chose a cipher suite we did not offer";
	case BR_ERR_BAD_SECRENEG:
		return "bad secure renegotiation";
	case BR_ERR_INVALID_ALGORITHM:
		return "the server used a signature algorithm we do not "
		       "support";
	case BR_ERR_BAD_SIGNATURE:
		return "bad signature on the server's key exchange";
	case BR_ERR_WRONG_KEY_USAGE:
		return "the certificate key cannot be used for this cipher "
		       "suite";
	case BR_ERR_NO_CLIENT_AUTH:
		return "the server demands a client certificate";
	case BR_ERR_BAD_FINISHED:
		return "handshake Finished check failed";
	case BR_ERR_LIMIT_EXCEEDED:
		return "a handshake element exceeds BearSSL's limits";
	default:
		return "handshake or record error";
	}
}

static const char *
x509_err_text(int e)
{
	switch (e) {
	case BR_ERR_X509_EXPIRED:
		return "is expired or not yet valid (check the clock)";
	case BR_ERR_X509_BAD_SIGNATURE:
		return "has a bad signature";
	case BR_ERR_X509_NOT_CA:
		return "chain contains a non-CA issuer";
	case BR_ERR_X509_FORBIDDEN_KEY_USAGE:
		return "is not allowed for TLS servers";
	case BR_ERR_X509_WEAK_PUBLIC_KEY:
		return "has a weak public key";
	case BR_ERR_X509_CRITICAL_EXTENSION:
		return "has an unsupported critical extension";
	case BR_ERR_X509_UNSUPPORTED:
		return "uses an unsupported algorithm";
	case BR_ERR_X509_WRONG_KEY_TYPE:
		return "has a key type that does not match";
	case BR_ERR_X509_DN_MISMATCH:
		return "chain is out of order";
	case BR_ERR_X509_EMPTY_CHAIN:
		return "was not sent (empty chain)";
	case BR_ERR_X509_TIME_UNKNOWN:
		return "cannot be checked: the time is unknown";
	default:
		return "could not be decoded or verified";
	}
}

static void
cert_detail(const struct sv_tls *t, int e, char *detail, size_t cap)
{
	const struct x509_wrap *w = &t->xw;
	char hex[97], seen[120] = "";

	if (w->have_hash) {
		hex_colon(w->hash, hex);
		snprintf(seen, sizeof seen, " (SHA-256 %s)", hex);
	}
	if (w->reason == REASON_PIN_MISMATCH)
		snprintf(
		    detail, cap,
		    "the server certificate%s does not match --pin; if the "
		    "server's certificate changed on purpose, update --pin",
		    seen);
	else if (w->reason == REASON_IP_MISMATCH)
		snprintf(detail, cap,
		         "the server certificate%s has no IP address entry "
		         "(subjectAltName) for %s",
		         seen, t->server_name);
	else if (w->reason == REASON_CERT_TOO_BIG)
		snprintf(detail, cap,
		         "the server certificate%s is too large to check its "
		         "IP address entries",
		         seen);
	else if (e == BR_ERR_X509_NOT_TRUSTED && w->have_hash)
		snprintf(detail, cap,
		         "the server certificate%s is not trusted by %s; SoftEther "
		         "servers usually have a self-signed certificate: if this "
		         "fingerprint is the one your server administrator gave you, "
		         "connect with --pin %s",
		         seen, t->ca_name, hex);
	else if (e == BR_ERR_X509_NOT_TRUSTED)
		snprintf(detail, cap,
		         "the server certificate%s is not trusted by %s", seen,
		         t->ca_name);
	else if (e == BR_ERR_X509_BAD_SERVER_NAME)
		snprintf(detail, cap,
		         "the server certificate%s does not match the name %s",
		         seen, t->server_name);
	else
		snprintf(detail, cap,
		         "the server certificate%s %s (BearSSL X.509 error %d)",
		         seen, x509_err_text(e), e);
}

static void
recv_alert_detail(int a, char *detail, size_t cap)
{
	const char *hint = "";

	if (a == BR_ALERT_HANDSHAKE_FAILURE || a == BR_ALERT_PROTOCOL_VERSION ||
	    a == BR_ALERT_INSUFFICIENT_SECURITY)
		hint = "; it may not accept TLS 1.2 or any cipher suite we "
		       "offer";
	snprintf(detail, cap, "the server aborted TLS with alert %d (%s)%s", a,
	         alert_name(a), hint);
}

/* see tls.h */
int
sv_tls_error(const struct sv_tls *t, char *detail, size_t cap)
{
	int e = br_ssl_engine_last_error(&t->cc.eng);
	char dummy[1];

	if (detail == NULL || cap == 0) {
		detail = dummy;
		cap = sizeof dummy;
	}
	detail[0] = '\0';
	if (e == BR_ERR_OK)
		return 0;
	if (e >= BR_ERR_X509_OK && e < BR_ERR_X509_OK + 32) {
		cert_detail(t, e, detail, cap);
		return SV_E_CERT;
	}
	if (e >= BR_ERR_SEND_FATAL_ALERT)
		snprintf(detail, cap, "TLS aborted by us with alert %d (%s)",
		         e - BR_ERR_SEND_FATAL_ALERT,
		         alert_name(e - BR_ERR_SEND_FATAL_ALERT));
	else if (e >= BR_ERR_RECV_FATAL_ALERT)
		recv_alert_detail(e - BR_ERR_RECV_FATAL_ALERT, detail, cap);
	else
		snprintf(detail, cap, "TLS failed: %s (BearSSL error %d)",
		         engine_err_text(e), e);
	return SV_E_TLS;
}

/* see tls.h */
bool
sv_tls_peer_cert_sha256(const struct sv_tls *t, uint8_t out[32])
{
	if (!t->xw.have_hash)
		return false;
	memcpy(out, t->xw.hash, 32);
	return true;
}

/* see tls.h */
const char *
sv_tls_suite_name(const struct sv_tls *t)
{
	br_ssl_session_parameters sp;
	size_t i;

	br_ssl_engine_get_session_parameters(&t->cc.eng, &sp);
	if (sp.cipher_suite == 0)
		return "none";
	for (i = 0; i < NSUITES; i++)
		if (suites[i].id == sp.cipher_suite)
			return suites[i].name;
	return "unknown";
}
