/*
 * Tests for core/tls.c: our client against an in-memory BearSSL server, bytes
 * pumped between the two engines in memory (no sockets). Certificates come from
 * tests/data/tls (see make-certs.sh there).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <bearssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/tls.h"

#ifndef SV_TEST_DATA
#define SV_TEST_DATA "tests/data"
#endif
#define TLS_DATA SV_TEST_DATA "/tls/"

/* openssl x509 -noout -fingerprint -sha256 of the two server certificates */
#define SELF_FP                                                                \
	"sha256 Fingerprint=42:32:35:D5:4C:90:8E:2F:86:EB:40:BB:9D:DA:D7:CB:"  \
	"EA:FC:65:76:80:3B:71:A5:FF:9B:31:4B:AB:E4:D6:C8"
#define LEAF_FP                                                                \
	"8F:13:30:E0:FA:0F:29:EA:DF:DC:C5:DC:30:2C:F8:6B:AE:B5:60:E7:A4:59:"   \
	"01:56:"                                                               \
	"C4:75:D3:52:62:34:1C:B7"

struct blob {
	uint8_t *p;
	size_t n;
};

static struct blob
load(const char *name)
{
	char path[512];
	struct blob b = {NULL, 0};
	FILE *f;
	long len;

	snprintf(path, sizeof path, "%s%s", TLS_DATA, name);
	f = fopen(path, "rb");
	if (f == NULL)
		fail_msg("cannot open %s", path);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	len = ftell(f);
	assert_true(len > 0);
	rewind(f);
	b.p = malloc((size_t)len);
	assert_non_null(b.p);
	assert_int_equal(fread(b.p, 1, (size_t)len, f), (size_t)len);
	b.n = (size_t)len;
	fclose(f);
	return b;
}

/* ---- the in-memory server
 * ------------------------------------------------------------ */

struct server {
	br_ssl_server_context sc;
	br_skey_decoder_context skey;
	br_x509_certificate chain;
	struct blob cert, key;
	uint8_t iobuf[BR_SSL_BUFSIZE_BIDI];
};

static struct server *
server_new(const char *cert, const char *key)
{
	struct server *s = calloc(1, sizeof *s);

	assert_non_null(s);
	s->cert = load(cert);
	s->key = load(key);
	br_skey_decoder_init(&s->skey);
	br_skey_decoder_push(&s->skey, s->key.p, s->key.n);
	assert_int_equal(br_skey_decoder_last_error(&s->skey), 0);
	assert_non_null(br_skey_decoder_get_rsa(&s->skey));
	s->chain.data = s->cert.p;
	s->chain.data_len = s->cert.n;
	br_ssl_server_init_full_rsa(&s->sc, &s->chain, 1,
	                            br_skey_decoder_get_rsa(&s->skey));
	br_ssl_engine_set_buffer(&s->sc.eng, s->iobuf, sizeof s->iobuf, 1);
	assert_true(br_ssl_server_reset(&s->sc));
	return s;
}

static void
server_free(struct server *s)
{
	free(s->cert.p);
	free(s->key.p);
	free(s);
}

/* Moves record bytes both ways until neither side makes progress. */
static void
pump(struct sv_tls *c, struct server *s)
{
	int rounds;

	for (rounds = 0; rounds < 10000; rounds++) {
		bool progress = false;
		const uint8_t *out;
		uint8_t *in;
		size_t n, m;

		out = sv_tls_send_buf(c, &n);
		in = br_ssl_engine_recvrec_buf(&s->sc.eng, &m);
		if (out != NULL && in != NULL) {
			m = m < n ? m : n;
			memcpy(in, out, m);
			sv_tls_send_ack(c, m);
			br_ssl_engine_recvrec_ack(&s->sc.eng, m);
			progress = true;
		}
		out = br_ssl_engine_sendrec_buf(&s->sc.eng, &n);
		in = sv_tls_recv_buf(c, &m);
		if (out != NULL && in != NULL) {
			m = m < n ? m : n;
			memcpy(in, out, m);
			br_ssl_engine_sendrec_ack(&s->sc.eng, m);
			sv_tls_recv_ack(c, m);
			progress = true;
		}
		if (!progress)
			return;
	}
	fail_msg("pump did not settle");
}

static struct sv_tls *
client_new(enum sv_tls_verify mode, const char *ca_file, const char *name)
{
	struct sv_tls_config cfg = {
	    .verify = mode, .ca_file = ca_file, .server_name = name};
	struct sv_tls *t;
	int err = 0;

	if (mode == SV_TLS_VERIFY_PIN)
		assert_int_equal(sv_tls_parse_pin(SELF_FP, cfg.pin), 0);
	t = sv_tls_new(&cfg, &err);
	if (t == NULL)
		fail_msg("sv_tls_new: %d", err);
	return t;
}

/* Runs a handshake; returns sv_tls_error() and its detail. */
static int
handshake(struct sv_tls *c, struct server *s, char *detail, size_t cap)
{
	pump(c, s);
	return sv_tls_error(c, detail, cap);
}

static void
assert_handshake_ok(struct sv_tls *c, struct server *s)
{
	char detail[512];

	assert_int_equal(handshake(c, s, detail, sizeof detail), 0);
	assert_true(sv_tls_is_established(c));
	assert_false(sv_tls_is_closed(c));
}

static void
assert_cert_error(struct sv_tls *c, struct server *s,
                  const char *want_in_detail)
{
	char detail[512];

	assert_int_equal(handshake(c, s, detail, sizeof detail), SV_E_CERT);
	print_message("detail: %s\n", detail);
	assert_false(sv_tls_is_established(c));
	assert_true(sv_tls_is_closed(c));
	if (strstr(detail, want_in_detail) == NULL)
		fail_msg("detail \"%s\" lacks \"%s\"", detail, want_in_detail);
}

/* ---- cases
 * ---------------------------------------------------------------------------
 */

static void
pin_match_establishes_and_data_flows_both_ways(void **state)
{
	struct server *s = server_new("self.der", "self.key.der");
	struct sv_tls *c = client_new(SV_TLS_VERIFY_PIN, NULL, "vpn.example");
	uint8_t hash[32], want[32], *w, buf[64];
	const uint8_t *r;
	size_t n;

	assert_false(sv_tls_is_established(c));
	assert_null(sv_tls_app_out(c, &n));
	assert_string_equal(sv_tls_suite_name(c), "none");
	assert_handshake_ok(c, s);
	assert_true(sv_tls_peer_cert_sha256(c, hash));
	assert_int_equal(sv_tls_parse_pin(SELF_FP, want), 0);
	assert_memory_equal(hash, want, 32);
	/* BearSSL's server follows the client's order: our first RSA suite is
	 * AES-256-GCM with AES-NI and ChaCha20-Poly1305 without it */
	assert_string_equal(sv_tls_suite_name(c),
	                    br_aes_x86ni_ctr_get_vtable() != NULL
	                        ? "ECDHE-RSA-AES256-GCM-SHA384"
	                        : "ECDHE-RSA-CHACHA20-POLY1305");

	/* client -> server */
	w = sv_tls_app_out(c, &n);
	assert_non_null(w);
	assert_true(n >= 5);
	memcpy(w, "hello", 5);
	sv_tls_app_out_ack(c, 5);
	sv_tls_flush(c);
	pump(c, s);
	r = br_ssl_engine_recvapp_buf(&s->sc.eng, &n);
	assert_non_null(r);
	assert_int_equal(n, 5);
	assert_memory_equal(r, "hello", 5);
	br_ssl_engine_recvapp_ack(&s->sc.eng, n);

	/* server -> client */
	w = br_ssl_engine_sendapp_buf(&s->sc.eng, &n);
	assert_non_null(w);
	memcpy(w, "world!", 6);
	br_ssl_engine_sendapp_ack(&s->sc.eng, 6);
	br_ssl_engine_flush(&s->sc.eng, 0);
	pump(c, s);
	r = sv_tls_app_in(c, &n);
	assert_non_null(r);
	assert_int_equal(n, 6);
	memcpy(buf, r, n);
	assert_memory_equal(buf, "world!", 6);
	sv_tls_app_in_ack(c, n);
	assert_null(sv_tls_app_in(c, &n));
	assert_int_equal(sv_tls_error(c, NULL, 0), 0);

	sv_tls_free(c);
	server_free(s);
}

static void
pin_mismatch_fails_with_seen_hash_in_detail(void **state)
{
	struct server *s = server_new("leaf.der", "leaf.key.der");
	struct sv_tls *c = client_new(SV_TLS_VERIFY_PIN, NULL, "vpn.test");
	uint8_t hash[32], want[32];

	assert_cert_error(c, s, "(SHA-256 " LEAF_FP ") does not match --pin");
	assert_true(sv_tls_peer_cert_sha256(c, hash));
	assert_int_equal(sv_tls_parse_pin(LEAF_FP, want), 0);
	assert_memory_equal(hash, want, 32);
	sv_tls_free(c);
	server_free(s);
}

static void
ca_mode_accepts_dns_name_in_san(void **state)
{
	struct server *s = server_new("leaf.der", "leaf.key.der");
	struct sv_tls *c =
	    client_new(SV_TLS_VERIFY_CA, TLS_DATA "ca.pem", "vpn.test");

	assert_handshake_ok(c, s);
	assert_string_equal(br_ssl_engine_get_server_name(&s->sc.eng),
	                    "vpn.test"); /* SNI */
	sv_tls_free(c);
	server_free(s);
}

static void
ca_mode_rejects_wrong_dns_name(void **state)
{
	struct server *s = server_new("leaf.der", "leaf.key.der");
	struct sv_tls *c =
	    client_new(SV_TLS_VERIFY_CA, TLS_DATA "ca.pem", "other.test");

	assert_cert_error(c, s, "does not match the name other.test");
	sv_tls_free(c);
	server_free(s);
}

static void
ca_mode_rejects_untrusted_chain(void **state)
{
	struct server *s = server_new("leaf.der", "leaf.key.der");
	struct sv_tls *c =
	    client_new(SV_TLS_VERIFY_CA, TLS_DATA "self.pem", "vpn.test");

	assert_cert_error(c, s, "is not trusted by " TLS_DATA "self.pem");
	sv_tls_free(c);
	server_free(s);
}

static void
ca_mode_accepts_ipv4_literal_in_ip_san(void **state)
{
	struct server *s = server_new("leaf.der", "leaf.key.der");
	struct sv_tls *c =
	    client_new(SV_TLS_VERIFY_CA, TLS_DATA "ca.pem", "127.0.0.1");

	assert_handshake_ok(c, s);
	assert_string_equal(br_ssl_engine_get_server_name(&s->sc.eng),
	                    ""); /* no SNI */
	sv_tls_free(c);
	server_free(s);
}

static void
ca_mode_accepts_bracketed_ipv6_literal_in_ip_san(void **state)
{
	struct server *s = server_new("leaf.der", "leaf.key.der");
	struct sv_tls *c =
	    client_new(SV_TLS_VERIFY_CA, TLS_DATA "ca.pem", "[::1]");

	assert_handshake_ok(c, s);
	sv_tls_free(c);
	server_free(s);
}

static void
ca_mode_rejects_ip_literal_not_in_san(void **state)
{
	struct server *s = server_new("leaf.der", "leaf.key.der");
	struct sv_tls *c =
	    client_new(SV_TLS_VERIFY_CA, TLS_DATA "ca.pem", "127.0.0.2");

	assert_cert_error(c, s,
	                  "no IP address entry (subjectAltName) for 127.0.0.2");
	sv_tls_free(c);
	server_free(s);
}

static void
ca_mode_rejects_ip_literal_when_cert_has_no_ip_san(void **state)
{
	/* self.der is its own anchor (direct trust) but has no SAN at all */
	struct server *s = server_new("self.der", "self.key.der");
	struct sv_tls *c =
	    client_new(SV_TLS_VERIFY_CA, TLS_DATA "self.pem", "127.0.0.1");

	assert_cert_error(c, s, "no IP address entry");
	sv_tls_free(c);
	server_free(s);
}

static void
insecure_mode_accepts_any_cert_and_records_hash(void **state)
{
	struct server *s = server_new("leaf.der", "leaf.key.der");
	struct sv_tls *c =
	    client_new(SV_TLS_VERIFY_INSECURE, NULL, "wrong.name");
	uint8_t hash[32], want[32];

	assert_handshake_ok(c, s);
	assert_true(sv_tls_peer_cert_sha256(c, hash));
	assert_int_equal(sv_tls_parse_pin(LEAF_FP, want), 0);
	assert_memory_equal(hash, want, 32);
	sv_tls_free(c);
	server_free(s);
}

static void
server_without_tls12_gives_tls_error(void **state)
{
	struct server *s = server_new("self.der", "self.key.der");
	struct sv_tls *c;
	char detail[256];

	br_ssl_engine_set_versions(&s->sc.eng, BR_TLS10, BR_TLS11);
	assert_true(br_ssl_server_reset(&s->sc));
	c = client_new(SV_TLS_VERIFY_INSECURE, NULL, NULL);
	assert_int_equal(handshake(c, s, detail, sizeof detail), SV_E_TLS);
	print_message("detail: %s\n", detail);
	assert_true(sv_tls_is_closed(c));
	assert_non_null(strstr(detail, "TLS"));
	assert_false(sv_tls_peer_cert_sha256(c, (uint8_t[32]){0}));
	sv_tls_free(c);
	server_free(s);
}

static void
close_sends_close_notify_server_sees_clean_close(void **state)
{
	struct server *s = server_new("self.der", "self.key.der");
	struct sv_tls *c = client_new(SV_TLS_VERIFY_PIN, NULL, "vpn.example");
	uint8_t *w;
	size_t n;

	assert_handshake_ok(c, s);
	/* unread data on our side must not block the close */
	w = br_ssl_engine_sendapp_buf(&s->sc.eng, &n);
	memcpy(w, "unread", 6);
	br_ssl_engine_sendapp_ack(&s->sc.eng, 6);
	br_ssl_engine_flush(&s->sc.eng, 0);
	pump(c, s);
	assert_non_null(sv_tls_app_in(c, &n));

	sv_tls_close(c);
	assert_false(sv_tls_is_established(c));
	assert_null(sv_tls_app_out(c, &n));
	pump(c, s);
	assert_int_equal(br_ssl_engine_current_state(&s->sc.eng),
	                 BR_SSL_CLOSED);
	assert_int_equal(br_ssl_engine_last_error(&s->sc.eng), BR_ERR_OK);
	assert_true(sv_tls_is_closed(c));
	assert_int_equal(sv_tls_error(c, NULL, 0), 0);
	sv_tls_close(c); /* idempotent */
	sv_tls_free(c);
	server_free(s);
}

static void
ca_mode_without_file_uses_system_bundle(void **state)
{
	struct server *s;
	struct sv_tls *c;
	FILE *f = fopen("/etc/ssl/certs/ca-certificates.crt", "rb");

	if (f == NULL)
		skip();
	fclose(f);
	s = server_new("leaf.der", "leaf.key.der");
	c = client_new(SV_TLS_VERIFY_CA, NULL, "vpn.test");
	assert_cert_error(c, s, "is not trusted by the system CA bundle");
	sv_tls_free(c);
	server_free(s);
}

static void
ca_file_missing_or_not_pem_is_inval(void **state)
{
	struct sv_tls_config cfg = {.verify = SV_TLS_VERIFY_CA,
	                            .server_name = "vpn.test"};
	int err = 0;

	cfg.ca_file = TLS_DATA "does-not-exist.pem";
	assert_null(sv_tls_new(&cfg, &err));
	assert_int_equal(err, SV_E_INVAL);
	cfg.ca_file = TLS_DATA "leaf.der";
	err = 0;
	assert_null(sv_tls_new(&cfg, &err));
	assert_int_equal(err, SV_E_INVAL);
	/* CA mode without a name would skip the name check: refused */
	cfg.ca_file = TLS_DATA "ca.pem";
	cfg.server_name = NULL;
	err = 0;
	assert_null(sv_tls_new(&cfg, &err));
	assert_int_equal(err, SV_E_INVAL);
}

static void
parse_pin_accepts_openssl_forms(void **state)
{
	uint8_t a[32], b[32], c[32], d[32];

	assert_int_equal(sv_tls_parse_pin(SELF_FP, a), 0);
	assert_int_equal(
	    sv_tls_parse_pin(
	        "4232 35d54c908e2f86eb40bb9ddad7cbeafc6576803b71a5ff9b"
	        "314babe4d6c8",
	        b),
	    0);
	assert_int_equal(
	    sv_tls_parse_pin(
	        "SHA256 Fingerprint=42:32:35:d5:4c:90:8e:2f:86:eb:40:"
	        "bb:9d:da:d7:cb:ea:fc:65:76:80:3b:71:a5:ff:9b:31:4b:"
	        "ab:e4:d6:c8\n",
	        c),
	    0);
	assert_int_equal(
	    sv_tls_parse_pin(
	        "42 32 35 D5 4C 90 8E 2F 86 EB 40 BB 9D DA D7 CB EA FC "
	        "65 76 80 3B 71 A5 FF 9B 31 4B AB E4 D6 C8",
	        d),
	    0);
	assert_memory_equal(a, b, 32);
	assert_memory_equal(a, c, 32);
	assert_memory_equal(a, d, 32);
	assert_int_equal(a[0], 0x42);
	assert_int_equal(a[31], 0xc8);
}

static void
parse_pin_rejects_wrong_length_and_junk(void **state)
{
	static const char *const bad[] =
	    {
	        "",
	        "423235d54c908e2f86eb40bb9ddad7cbeafc6576803b71a5ff9b314babe4d6"
	        "c", /* 63 */
	        "423235d54c908e2f86eb40bb9ddad7cbeafc6576803b71a5ff9b314babe4d6"
	        "c80", /* 65 */
	        "423235d54c908e2f86eb40bb9ddad7cbeafc6576803b71a5ff9b314babe4d6"
	        "c8aa",
	        "423235d54c908e2f86eb40bb9ddad7cbeafc6576803b71a5ff9b314babe4d6"
	        "cg",
	        "4:"
	        "23235d54c908e2f86eb40bb9ddad7cbeafc6576803b71a5ff9b314babe4d6c"
	        "8",
	        "42::"
	        "3235d54c908e2f86eb40bb9ddad7cbeafc6576803b71a5ff9b314babe4d6c"
	        "8",
	        "423235d54c908e2f86eb40bb9ddad7cbeafc6576803b71a5ff9b314babe4d6"
	        "c8:",
	        ":423235d54c908e2f86eb40bb9ddad7cbeafc6576803b71a5ff9b314babe4d"
	        "6c8",
	        "sha1 "
	        "Fingerprint="
	        "423235d54c908e2f86eb40bb9ddad7cbeafc6576803b71a5ff9b314babe4d6"
	        "c8",
	        "0x423235d54c908e2f86eb40bb9ddad7cbeafc6576803b71a5ff9b314babe4"
	        "d6c8",
	    };
	uint8_t out[32];
	size_t i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		memset(out, 0x5a, sizeof out);
		if (sv_tls_parse_pin(bad[i], out) != SV_E_INVAL)
			fail_msg("accepted \"%s\"", bad[i]);
		assert_int_equal(out[0], 0x5a); /* untouched on failure */
	}
	assert_int_equal(sv_tls_parse_pin(NULL, out), SV_E_INVAL);
}

static void
cert_has_ip_finds_only_listed_addresses(void **state)
{
	static const uint8_t lo4[4] = {127, 0, 0, 1},
	                     other4[4] = {127, 0, 0, 2};
	static const uint8_t lo6[16] = {[15] = 1};
	struct blob leaf = load("leaf.der"), self = load("self.der");
	size_t cut;

	assert_int_equal(sv_tls_cert_has_ip(leaf.p, leaf.n, lo4, 4), 1);
	assert_int_equal(sv_tls_cert_has_ip(leaf.p, leaf.n, lo6, 16), 1);
	assert_int_equal(sv_tls_cert_has_ip(leaf.p, leaf.n, other4, 4), 0);
	assert_int_equal(sv_tls_cert_has_ip(leaf.p, leaf.n, lo4, 3), 0);
	assert_int_equal(sv_tls_cert_has_ip(self.p, self.n, lo4, 4), 0);
	/* every truncation is "no" and stays inside the buffer (ASan builds
	 * check that) */
	for (cut = 0; cut < leaf.n; cut++) {
		uint8_t *copy = malloc(cut ? cut : 1);

		memcpy(copy, leaf.p, cut);
		assert_true(sv_tls_cert_has_ip(copy, cut, lo4, 4) <= 1);
		free(copy);
	}
	free(leaf.p);
	free(self.p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(pin_match_establishes_and_data_flows_both_ways),
	    cmocka_unit_test(pin_mismatch_fails_with_seen_hash_in_detail),
	    cmocka_unit_test(ca_mode_accepts_dns_name_in_san),
	    cmocka_unit_test(ca_mode_rejects_wrong_dns_name),
	    cmocka_unit_test(ca_mode_rejects_untrusted_chain),
	    cmocka_unit_test(ca_mode_accepts_ipv4_literal_in_ip_san),
	    cmocka_unit_test(ca_mode_accepts_bracketed_ipv6_literal_in_ip_san),
	    cmocka_unit_test(ca_mode_rejects_ip_literal_not_in_san),
	    cmocka_unit_test(
	        ca_mode_rejects_ip_literal_when_cert_has_no_ip_san),
	    cmocka_unit_test(insecure_mode_accepts_any_cert_and_records_hash),
	    cmocka_unit_test(server_without_tls12_gives_tls_error),
	    cmocka_unit_test(close_sends_close_notify_server_sees_clean_close),
	    cmocka_unit_test(ca_mode_without_file_uses_system_bundle),
	    cmocka_unit_test(ca_file_missing_or_not_pem_is_inval),
	    cmocka_unit_test(parse_pin_accepts_openssl_forms),
	    cmocka_unit_test(parse_pin_rejects_wrong_length_and_junk),
	    cmocka_unit_test(cert_has_ip_finds_only_listed_addresses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
