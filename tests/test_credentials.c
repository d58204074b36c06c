/*
 * Tests for core/credentials: PEM and DER inputs, PKCS#1 and PKCS#8 keys, the checks
 * (key matches certificate, RSA only, size, not encrypted) with their messages, and
 * that the signature is PKCS#1 v1.5 / SHA-1 over the random, verified here with the
 * certificate's public key.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bearssl.h>
#include <cmocka.h>

#include "core/credentials.h"
#include "core/err.h"
#include "core/log.h"
#include "support/client_keys.h"

static const uint8_t random20[20] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
	15, 16, 17, 18, 19 };

static int
load(struct sv_credentials **c, const void *cert, size_t cn, const void *key, size_t kn,
	char *err, size_t cap)
{
	err[0] = 0;
	return sv_credentials_new(c, cert, cn, key, kn, err, cap);
}

/* Loads PEM strings (without their terminating NUL). */
static int
load_pem(struct sv_credentials **c, const char *cert, const char *key, char *err,
	size_t cap)
{
	return load(c, cert, strlen(cert), key, strlen(key), err, cap);
}

/* Verifies sig over random with CERT1's public key. */
static bool
verifies_with_cert1(const uint8_t *sig, size_t n, const uint8_t rnd[20])
{
	br_x509_decoder_context xd;
	br_sha1_context h;
	uint8_t want[20], got[20];

	br_x509_decoder_init(&xd, NULL, NULL);
	br_x509_decoder_push(&xd, CERT1_DER, sizeof CERT1_DER);
	const br_x509_pkey *pk = br_x509_decoder_get_pkey(&xd);
	assert_non_null(pk);
	assert_int_equal(pk->key_type, BR_KEYTYPE_RSA);
	br_sha1_init(&h);
	br_sha1_update(&h, rnd, 20);
	br_sha1_out(&h, want);
	return br_rsa_pkcs1_vrfy_get_default()(sig, n, BR_HASH_OID_SHA1, sizeof got,
		       &pk->key.rsa, got) == 1 &&
		memcmp(got, want, sizeof want) == 0;
}

static void
expect_refused(const void *cert, size_t cn, const void *key, size_t kn, const char *msg)
{
	struct sv_credentials *c = NULL;
	char err[512];

	assert_int_equal(load(&c, cert, cn, key, kn, err, sizeof err), SV_E_INVAL);
	assert_null(c);
	if (strstr(err, msg) == NULL)
		fail_msg("message \"%s\" lacks \"%s\"", err, msg);
}

static void
expect_refused_pem(const char *cert, const char *key, const char *msg)
{
	expect_refused(cert, strlen(cert), key, strlen(key), msg);
}

static void
pem_cert_and_pkcs1_pem_key_load(void **state)
{
	struct sv_credentials *c = NULL;
	char err[512];
	size_t n;

	(void)state;
	assert_int_equal(load_pem(&c, CERT1_PEM, KEY1_PKCS1_PEM, err, sizeof err), 0);
	assert_non_null(c);
	assert_int_equal(sv_credentials_key_bits(c), 1024);
	const uint8_t *der = sv_credentials_cert(c, &n);
	assert_int_equal(n, sizeof CERT1_DER);
	assert_memory_equal(der, CERT1_DER, n);
	sv_credentials_free(c);
}

static void
pkcs8_pem_key_loads(void **state)
{
	struct sv_credentials *c = NULL;
	char err[512];

	(void)state;
	assert_int_equal(load_pem(&c, CERT1_PEM, KEY1_PKCS8_PEM, err, sizeof err), 0);
	assert_int_equal(sv_credentials_key_bits(c), 1024);
	sv_credentials_free(c);
}

static void
der_cert_and_der_key_load(void **state)
{
	struct sv_credentials *c = NULL;
	char err[512];
	size_t n;

	(void)state;
	assert_int_equal(load(&c, CERT1_DER, sizeof CERT1_DER, KEY1_PKCS8_DER,
				 sizeof KEY1_PKCS8_DER, err, sizeof err),
		0);
	const uint8_t *der = sv_credentials_cert(c, &n);
	assert_int_equal(n, sizeof CERT1_DER);
	assert_memory_equal(der, CERT1_DER, n);
	sv_credentials_free(c);
}

static void
der_cert_with_trailing_bytes_is_trimmed_to_the_certificate(void **state)
{
	struct sv_credentials *c = NULL;
	char err[512];
	uint8_t buf[sizeof CERT1_DER + 2];
	size_t n;

	(void)state;
	memcpy(buf, CERT1_DER, sizeof CERT1_DER);
	buf[sizeof CERT1_DER] = '\r';
	buf[sizeof CERT1_DER + 1] = '\n';
	assert_int_equal(load(&c, buf, sizeof buf, KEY1_PKCS1_PEM, strlen(KEY1_PKCS1_PEM),
				 err, sizeof err),
		0);
	(void)sv_credentials_cert(c, &n);
	assert_int_equal(n, sizeof CERT1_DER);
	sv_credentials_free(c);
}

static void
one_file_with_key_and_certificate_serves_both(void **state)
{
	struct sv_credentials *c = NULL;
	char err[512], both[4096];

	(void)state;
	/* key first, then the certificate: each side picks its own block */
	snprintf(both, sizeof both, "%s%s", KEY1_PKCS8_PEM, CERT1_PEM);
	assert_int_equal(load_pem(&c, both, both, err, sizeof err), 0);
	sv_credentials_free(c);
}

static void
pem_without_final_newline_loads(void **state)
{
	struct sv_credentials *c = NULL;
	char err[512], cert[2048];

	(void)state;
	size_t n = strlen(CERT1_PEM);
	memcpy(cert, CERT1_PEM, n - 1); /* drop the last '\n' */
	assert_int_equal(load(&c, cert, n - 1, KEY1_PKCS1_PEM, strlen(KEY1_PKCS1_PEM), err,
				 sizeof err),
		0);
	sv_credentials_free(c);
}

static void
signature_verifies_with_the_certificate_key_over_the_random(void **state)
{
	struct sv_credentials *c = NULL;
	char err[512];
	uint8_t sig[SV_SESSION_SIG_MAX], other[20];
	size_t n = 0;

	(void)state;
	assert_int_equal(load_pem(&c, CERT1_PEM, KEY1_PKCS1_PEM, err, sizeof err), 0);
	assert_int_equal(sv_credentials_sign(c, random20, sig, sizeof sig, &n), 0);
	assert_int_equal(n, 128); /* spec 7.2: the key size in bytes */
	assert_true(verifies_with_cert1(sig, n, random20));
	memcpy(other, random20, 20);
	other[19] ^= 1;
	assert_false(verifies_with_cert1(sig, n, other));
	sig[5] ^= 0x40;
	assert_false(verifies_with_cert1(sig, n, random20));
	sv_credentials_free(c);
}

static void
sign_refuses_a_buffer_smaller_than_the_key(void **state)
{
	struct sv_credentials *c = NULL;
	char err[512];
	uint8_t sig[127];
	size_t n = 7;

	(void)state;
	assert_int_equal(load_pem(&c, CERT1_PEM, KEY1_PKCS8_PEM, err, sizeof err), 0);
	assert_int_equal(sv_credentials_sign(c, random20, sig, sizeof sig, &n), SV_E_TOOBIG);
	assert_int_equal(n, 7);
	sv_credentials_free(c);
}

static void
session_cert_points_at_the_certificate_and_signer(void **state)
{
	struct sv_credentials *c = NULL;
	struct sv_session_cert sc;
	char err[512];
	uint8_t sig[SV_SESSION_SIG_MAX];
	size_t n;

	(void)state;
	assert_int_equal(load_pem(&c, CERT1_PEM, KEY1_PKCS1_PEM, err, sizeof err), 0);
	sv_credentials_session_cert(c, &sc);
	assert_int_equal(sc.len, sizeof CERT1_DER);
	assert_memory_equal(sc.der, CERT1_DER, sc.len);
	assert_ptr_equal(sc.arg, c);
	assert_int_equal(sc.sign(sc.arg, random20, sig, sizeof sig, &n), 0);
	assert_true(verifies_with_cert1(sig, n, random20));
	sv_credentials_free(c);
}

static void
key_of_another_certificate_is_refused(void **state)
{
	(void)state;
	expect_refused_pem(CERT1_PEM, KEY2_PEM, "does not belong to the certificate");
}

static void
ec_key_is_refused_with_a_clear_message(void **state)
{
	(void)state;
	expect_refused_pem(EC_CERT_PEM, EC_KEY_PEM, "private key: an EC key");
	expect_refused_pem(EC_CERT_PEM, EC_KEY_PEM, "RSA only");
	/* an RSA key with an EC certificate: the certificate is named */
	expect_refused_pem(EC_CERT_PEM, KEY1_PKCS1_PEM, "certificate: an EC key");
}

static void
rsa_key_below_1024_bits_is_refused(void **state)
{
	(void)state;
	expect_refused_pem(CERT1_PEM, KEY512_PEM, "RSA-512");
}

static void
encrypted_keys_are_refused_with_advice(void **state)
{
	(void)state;
	expect_refused_pem(CERT1_PEM, KEY1_ENC_PKCS8_PEM, "encrypted");
	expect_refused_pem(CERT1_PEM, KEY1_ENC_PKCS1_PEM, "encrypted");
	expect_refused_pem(CERT1_PEM, KEY1_ENC_PKCS1_PEM, "openssl pkey");
}

static void
swapped_files_are_named(void **state)
{
	(void)state;
	expect_refused_pem(CERT1_PEM, CERT1_PEM, "swapped");
	expect_refused_pem(KEY1_PKCS1_PEM, KEY1_PKCS1_PEM,
		"certificate: the file holds a PEM \"RSA PRIVATE KEY\" but no certificate");
}

static void
garbage_and_empty_inputs_are_refused(void **state)
{
	(void)state;
	expect_refused("", 0, KEY1_PKCS1_PEM, strlen(KEY1_PKCS1_PEM),
		"certificate: the file is empty");
	expect_refused_pem("hello\n", KEY1_PKCS1_PEM, "neither DER nor a PEM CERTIFICATE");
	expect_refused_pem(CERT1_PEM, "", "private key: the file is empty");
	expect_refused_pem(CERT1_PEM, "-----BEGIN PRIVATE KEY-----\n!!!!\n",
		"private key");
	static const uint8_t bad_seq[] = { 0x30, 0x84, 0xff, 0xff, 0xff, 0xff };
	expect_refused(bad_seq, sizeof bad_seq, KEY1_PKCS1_PEM, strlen(KEY1_PKCS1_PEM),
		"not a valid DER");
	/* DER key that is a certificate */
	expect_refused(CERT1_DER, sizeof CERT1_DER, CERT1_DER, sizeof CERT1_DER,
		"private key: not an unencrypted RSA key");
}

static void
every_truncation_of_the_inputs_is_refused(void **state)
{
	char err[512];
	struct sv_credentials *c = NULL;

	(void)state;
	for (size_t n = 0; n < sizeof CERT1_DER; n++) {
		assert_int_not_equal(load(&c, CERT1_DER, n, KEY1_PKCS8_DER,
					     sizeof KEY1_PKCS8_DER, err, sizeof err),
			0);
		assert_null(c);
	}
	for (size_t n = 0; n < sizeof KEY1_PKCS8_DER; n++) {
		assert_int_not_equal(load(&c, CERT1_DER, sizeof CERT1_DER, KEY1_PKCS8_DER, n,
					     err, sizeof err),
			0);
		assert_null(c);
	}
	/* PEM cut anywhere before its END line */
	size_t end = (size_t)(strstr(KEY1_PKCS1_PEM, "-----END") - KEY1_PKCS1_PEM);
	for (size_t n = 0; n < end; n++) {
		assert_int_not_equal(load(&c, CERT1_DER, sizeof CERT1_DER, KEY1_PKCS1_PEM, n,
					     err, sizeof err),
			0);
		assert_null(c);
	}
}

static void
free_accepts_null(void **state)
{
	(void)state;
	sv_credentials_free(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(pem_cert_and_pkcs1_pem_key_load),
		cmocka_unit_test(pkcs8_pem_key_loads),
		cmocka_unit_test(der_cert_and_der_key_load),
		cmocka_unit_test(der_cert_with_trailing_bytes_is_trimmed_to_the_certificate),
		cmocka_unit_test(one_file_with_key_and_certificate_serves_both),
		cmocka_unit_test(pem_without_final_newline_loads),
		cmocka_unit_test(signature_verifies_with_the_certificate_key_over_the_random),
		cmocka_unit_test(sign_refuses_a_buffer_smaller_than_the_key),
		cmocka_unit_test(session_cert_points_at_the_certificate_and_signer),
		cmocka_unit_test(key_of_another_certificate_is_refused),
		cmocka_unit_test(ec_key_is_refused_with_a_clear_message),
		cmocka_unit_test(rsa_key_below_1024_bits_is_refused),
		cmocka_unit_test(encrypted_keys_are_refused_with_advice),
		cmocka_unit_test(swapped_files_are_named),
		cmocka_unit_test(garbage_and_empty_inputs_are_refused),
		cmocka_unit_test(every_truncation_of_the_inputs_is_refused),
		cmocka_unit_test(free_accepts_null),
	};
	sv_log_set_level(SV_LOG_ERR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
