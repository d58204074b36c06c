/*
 * Tests for core/session against the scripted in-memory server
 * (support/fake_server): handshake, login PACK contents, refusals, the data
 * phase both ways, keep-alive and dead-peer timing with fake time values.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>

#include <bearssl.h>
#include <cmocka.h>

#include "core/auth.h"
#include "core/credentials.h"
#include "core/err.h"
#include "core/log.h"
#include "core/pack.h"
#include "core/session.h"
#include "core/sha0.h"
#include "core/tunnel.h"
#include "support/client_keys.h"
#include "support/fake_server.h"

#define T0 1000u /* fake time of the TLS connection being up */

struct harness {
	struct sv_session_config cfg;
	struct sv_session *s;
	struct fake_server fs;
	struct sv_buf reply;
	int established;
	struct sv_welcome welcome;
	size_t nframes;
	size_t frame_len[16];
	uint8_t frame_first[16];
};

static void
on_frame(void *arg, const uint8_t *frame, size_t len)
{
	struct harness *h = arg;

	if (h->nframes < 16) {
		h->frame_len[h->nframes] = len;
		h->frame_first[h->nframes] = frame[0];
	}
	h->nframes++;
}

static void
on_established(void *arg, const struct sv_welcome *w)
{
	struct harness *h = arg;

	h->established++;
	h->welcome = *w;
}

static const struct sv_session_ops ops = {
    .on_frame = on_frame,
    .on_established = on_established,
};

static const uint8_t hello_random[20] = {
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19};

static void
default_config(struct sv_session_config *c)
{
	memset(c, 0, sizeof *c);
	c->host = "192.0.2.1";
	c->hub = "DEFAULT";
	c->username = "alice";
	c->authtype = SV_AUTH_PASSWORD;
	sv_auth_password_hash(c->password_hash, "alice", "Secr3tPass", 10);
	for (int i = 0; i < 20; i++)
		c->unique_id[i] = (uint8_t)(0xA0 + i);
	c->client_hostname = "testhost";
}

static int
setup(void **state)
{
	static struct harness h;

	memset(&h, 0, sizeof h);
	default_config(&h.cfg);
	fake_server_init(&h.fs);
	sv_buf_init(&h.reply, 1 << 21);
	*state = &h;
	return 0;
}

static int
teardown(void **state)
{
	struct harness *h = *state;

	sv_session_free(h->s);
	fake_server_cleanup(&h->fs);
	sv_buf_cleanup(&h->reply);
	sv_session_set_random(NULL);
	return 0;
}

static struct sv_session *
new_session(struct harness *h)
{
	h->s = sv_session_new(&h->cfg, &ops, h);
	assert_non_null(h->s);
	return h->s;
}

/* Moves everything the client offers to the fake server. */
static void
client_to_server(struct harness *h)
{
	size_t n;
	const uint8_t *p = sv_session_output(h->s, &n);

	if (n == 0)
		return;
	assert_int_equal(fake_server_recv(&h->fs, p, n), 0);
	sv_session_output_ack(h->s, n);
}

/* Sends the prepared reply to the client in one piece. */
static int
server_to_client(struct harness *h, uint64_t now)
{
	size_t n;
	const uint8_t *p = sv_buf_peek(&h->reply, &n);
	int r = sv_session_input(h->s, p, n, now);

	sv_buf_reset(&h->reply);
	return r;
}

/* start -> signature -> hello -> login sent; state WELCOME. */
static void
run_to_welcome(struct harness *h)
{
	sv_session_start(h->s, T0);
	assert_int_equal(sv_session_state(h->s), SV_SESSION_SIGNATURE);
	client_to_server(h);
	assert_int_equal(sv_session_state(h->s), SV_SESSION_HELLO);
	assert_int_equal(h->fs.requests, 1);
	assert_int_equal(fake_server_reply_hello(&h->reply, hello_random), 0);
	assert_int_equal(server_to_client(h, T0 + 10), 0);
	assert_int_equal(sv_session_state(h->s), SV_SESSION_WELCOME);
	client_to_server(h);
	assert_int_equal(h->fs.requests, 2);
}

static void
run_to_established(struct harness *h, uint32_t timeout_ms, uint64_t now)
{
	run_to_welcome(h);
	assert_int_equal(fake_server_reply_welcome(&h->reply, timeout_ms), 0);
	assert_int_equal(server_to_client(h, now), 0);
	assert_int_equal(sv_session_state(h->s), SV_SESSION_ESTABLISHED);
}

static void
expect_int(const struct sv_pack *pk, const char *name, uint32_t want)
{
	uint32_t v;

	assert_true(sv_pack_get_int(pk, name, &v));
	assert_int_equal(v, want);
}

static void
expect_str(const struct sv_pack *pk, const char *name, const char *want)
{
	const char *v;
	const struct sv_pack_elem *e = sv_pack_find(pk, name);

	assert_non_null(e);
	assert_int_equal(
	    e->type, SV_PACK_STR); /* the server's getters are type-strict */
	assert_true(sv_pack_get_str(pk, name, &v));
	assert_string_equal(v, want);
}

static void
signature_request_goes_out_first(void **state)
{
	struct harness *h = *state;

	new_session(h);
	sv_session_start(h->s, T0);
	client_to_server(h);
	assert_int_equal(h->fs.requests, 1);
	assert_string_equal(h->fs.last_path, "/vpnsvc/connect.cgi");
	assert_non_null(
	    strstr(h->fs.last_headers, "Content-Type: image/jpeg\r\n"));
	assert_non_null(strstr(h->fs.last_headers, "Host: 192.0.2.1\r\n"));
	size_t n;
	const uint8_t *b = sv_buf_peek(&h->fs.last_body, &n);
	assert_int_equal(n, 10);
	assert_memory_equal(b, "VPNCONNECT", 10);
}

static void
handshake_reaches_established_with_login_checked_field_by_field(void **state)
{
	struct harness *h = *state;
	const struct sv_pack *pk = &h->fs.last_pack;
	const uint8_t *d;
	size_t n;

	new_session(h);
	run_to_welcome(h);
	assert_string_equal(h->fs.last_path, "/vpnsvc/vpn.cgi");
	assert_non_null(strstr(h->fs.last_headers,
	                       "Content-Type: application/octet-stream\r\n"));

	expect_str(pk, "method", "login");
	expect_str(pk, "hubname", "DEFAULT");
	expect_str(pk, "username", "alice");
	expect_int(pk, "authtype", 1);

	/* secure_password = SHA0(SHA0(pw || UPPER(user)) || random), computed
	 * here. */
	uint8_t stored[20], proof[20];
	struct sv_sha0_ctx c;
	sv_sha0_init(&c);
	sv_sha0_update(&c, "Secr3tPass", 10);
	sv_sha0_update(&c, "ALICE", 5);
	sv_sha0_final(&c, stored);
	sv_sha0_init(&c);
	sv_sha0_update(&c, stored, 20);
	sv_sha0_update(&c, hello_random, 20);
	sv_sha0_final(&c, proof);
	/* Spec 7.3 example: the same user, password and random. */
	static const uint8_t spec_proof[20] = {
	    0x01, 0xe1, 0xe8, 0xf0, 0x07, 0xd0, 0x8c, 0xa3, 0x9e, 0x97,
	    0xf3, 0xab, 0x96, 0x74, 0xfe, 0x6e, 0x1a, 0x3d, 0xf5, 0x8d};
	assert_memory_equal(proof, spec_proof, 20);
	assert_true(sv_pack_get_data(pk, "secure_password", &d, &n));
	assert_int_equal(n, 20);
	assert_memory_equal(d, proof, 20);
	assert_null(sv_pack_find(pk, "plain_password"));

	expect_int(pk, "use_encrypt", 1);
	expect_int(pk, "use_compress", 0);
	expect_int(pk, "half_connection", 0);
	expect_int(pk, "qos", 0);
	expect_int(pk, "max_connection", 1);
	expect_int(pk, "protocol", 0);
	expect_str(pk, "client_str", "SoftEther VPN Client (sevpn-proxy)");
	expect_int(pk, "client_ver", 501);
	expect_int(pk, "client_build", 9674);
	expect_str(pk, "hello", "SoftEther VPN Client (sevpn-proxy)");
	expect_int(pk, "version", 501);
	expect_int(pk, "build", 9674);
	assert_true(sv_pack_get_data(pk, "unique_id", &d, &n));
	assert_int_equal(n, 20);
	assert_memory_equal(d, h->cfg.unique_id, 20);
	assert_true(sv_pack_get_data(pk, "UniqueId", &d, &n));
	assert_int_equal(n, 16);
	assert_memory_equal(d, h->cfg.unique_id, 16);
	expect_str(pk, "ClientProductName",
	           "SoftEther VPN Client (sevpn-proxy)");
	assert_non_null(sv_pack_find(pk, "ClientOsName"));
	expect_str(pk, "ClientHostname", "testhost");
	assert_true(sv_pack_get_data(pk, "pencore", &d, &n));
	assert_true(n <= 999);
	/* The server reads client PACKs of at most 64 KiB (spec 3.3). */
	assert_true(sv_buf_len(&h->fs.last_body) <= 65536);

	assert_int_equal(fake_server_reply_welcome(&h->reply, 20000), 0);
	assert_int_equal(server_to_client(h, T0 + 20), 0);
	assert_int_equal(sv_session_state(h->s), SV_SESSION_ESTABLISHED);
	assert_int_equal(h->established, 1);
	assert_string_equal(h->welcome.session_name, "SID-ALICE-51");
	assert_string_equal(h->welcome.connection_name, "CID-172");
	assert_int_equal(h->welcome.timeout_ms, 20000);
	assert_int_equal(h->welcome.max_connection, 1);
	assert_true(h->welcome.use_encrypt);
	assert_false(h->welcome.use_compress);
	assert_int_equal(h->welcome.policy_max_upload, 1000000);
	assert_int_equal(h->welcome.policy_max_download, 2000000);
	assert_int_equal(h->welcome.policy_auto_disconnect, 3600);
	assert_string_equal(h->welcome.msg, "Welcome!");
	assert_int_equal(sv_session_error(h->s), 0);

	/* A keep-alive leaves right when the data phase starts (spec 11.2). */
	client_to_server(h);
	assert_int_equal(h->fs.rx.keepalives, 1);
	assert_int_equal(h->fs.nframes, 0);
}

static void
welcome_timeout_is_clamped_and_defaulted(void **state)
{
	struct harness *h = *state;
	static const struct {
		uint32_t sent, want;
	} cases[] = {{0, 20000}, {1000, 5000}, {30000, 30000}, {100000, 60000}};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		sv_session_free(h->s);
		fake_server_cleanup(&h->fs);
		fake_server_init(&h->fs);
		new_session(h);
		run_to_established(h, cases[i].sent, T0 + 20);
		assert_int_equal(h->welcome.timeout_ms, cases[i].want);
	}
}

static void
plain_password_login_sends_plain_password(void **state)
{
	struct harness *h = *state;
	const char *v;

	h->cfg.authtype = SV_AUTH_PLAIN;
	h->cfg.plain_password = "RadPass1";
	new_session(h);
	run_to_welcome(h);
	expect_int(&h->fs.last_pack, "authtype", 2);
	assert_true(sv_pack_get_str(&h->fs.last_pack, "plain_password", &v));
	assert_string_equal(v, "RadPass1");
	assert_null(sv_pack_find(&h->fs.last_pack, "secure_password"));
}

static void
anonymous_login_sends_no_secret(void **state)
{
	struct harness *h = *state;

	h->cfg.authtype = SV_AUTH_ANONYMOUS;
	h->cfg.client_hostname = NULL;
	new_session(h);
	run_to_welcome(h);
	expect_int(&h->fs.last_pack, "authtype", 0);
	assert_null(sv_pack_find(&h->fs.last_pack, "secure_password"));
	assert_null(sv_pack_find(&h->fs.last_pack, "plain_password"));
	assert_null(sv_pack_find(&h->fs.last_pack, "ClientHostname"));
}

static void
invalid_config_is_refused(void **state)
{
	struct harness *h = *state;

	h->cfg.hub = NULL;
	assert_null(sv_session_new(&h->cfg, &ops, h));
	default_config(&h->cfg);
	h->cfg.authtype = 4; /* secure device: not on the wire */
	assert_null(sv_session_new(&h->cfg, &ops, h));
	default_config(&h->cfg);
	h->cfg.authtype = SV_AUTH_PLAIN;
	assert_null(sv_session_new(&h->cfg, &ops, h));
}

static int
failing_signer(void *arg, const uint8_t random[20], uint8_t *sig, size_t cap,
               size_t *siglen)
{
	(void)arg, (void)random, (void)sig, (void)cap, (void)siglen;
	return SV_E_INTERNAL;
}

static void
cert_config_needs_certificate_and_signer(void **state)
{
	struct harness *h = *state;
	static const uint8_t der[] = {0x30, 0x00};

	h->cfg.authtype = SV_AUTH_CERT;
	assert_null(sv_session_new(&h->cfg, &ops, h)); /* neither */
	h->cfg.cert.der = der;
	h->cfg.cert.len = sizeof der;
	assert_null(sv_session_new(&h->cfg, &ops, h)); /* no signer */
	h->cfg.cert.sign = failing_signer;
	h->cfg.cert.len = 0;
	assert_null(sv_session_new(&h->cfg, &ops, h)); /* empty certificate */
	h->cfg.cert.len = SV_SESSION_CERT_MAX + 1;
	assert_null(sv_session_new(&h->cfg, &ops, h)); /* too big for the PACK */
	h->cfg.cert.len = sizeof der;
	new_session(h);
}

/* Spec 7.2: authtype 3 carries `cert` (DER) and `sign`, PKCS#1 v1.5 / SHA-1 over the
 * hello random, which the certificate's public key verifies; no password elements. */
static void
cert_login_sends_certificate_and_signature_over_the_random(void **state)
{
	struct harness *h = *state;
	struct sv_credentials *creds = NULL;
	const struct sv_pack *pk = &h->fs.last_pack;
	char err[256];
	const uint8_t *d;
	size_t n;

	assert_int_equal(sv_credentials_new(&creds, (const uint8_t *)CERT1_PEM,
	                                    strlen(CERT1_PEM),
	                                    (const uint8_t *)KEY1_PKCS8_PEM,
	                                    strlen(KEY1_PKCS8_PEM), err, sizeof err),
	                 0);
	h->cfg.authtype = SV_AUTH_CERT;
	h->cfg.username = "carol";
	sv_credentials_session_cert(creds, &h->cfg.cert);
	new_session(h);
	run_to_welcome(h);
	expect_int(pk, "authtype", 3);
	expect_str(pk, "username", "carol");
	assert_true(sv_pack_get_data(pk, "cert", &d, &n));
	assert_int_equal(n, sizeof CERT1_DER);
	assert_memory_equal(d, CERT1_DER, n);
	assert_null(sv_pack_find(pk, "secure_password"));
	assert_null(sv_pack_find(pk, "plain_password"));

	const uint8_t *sig;
	size_t siglen;
	assert_true(sv_pack_get_data(pk, "sign", &sig, &siglen));
	assert_int_equal(siglen, 128); /* RSA-1024: the key size in bytes */
	br_x509_decoder_context xd;
	br_x509_decoder_init(&xd, NULL, NULL);
	br_x509_decoder_push(&xd, CERT1_DER, sizeof CERT1_DER);
	const br_x509_pkey *pub = br_x509_decoder_get_pkey(&xd);
	assert_non_null(pub);
	uint8_t want[20], got[20];
	br_sha1_context sc;
	br_sha1_init(&sc);
	br_sha1_update(&sc, hello_random, sizeof hello_random);
	br_sha1_out(&sc, want);
	assert_int_equal(br_rsa_pkcs1_vrfy_get_default()(sig, siglen, BR_HASH_OID_SHA1,
	                                                 sizeof got, &pub->key.rsa, got),
	                 1);
	assert_memory_equal(got, want, sizeof want);
	/* The login PACK still fits what the server reads (spec 3.3). */
	assert_true(sv_buf_len(&h->fs.last_body) <= 65536);

	/* The session keeps its own copy of the certificate. */
	sv_credentials_free(creds);
	assert_int_equal(fake_server_reply_welcome(&h->reply, 20000), 0);
	assert_int_equal(server_to_client(h, T0 + 20), 0);
	assert_int_equal(sv_session_state(h->s), SV_SESSION_ESTABLISHED);
}

static void
failing_signer_fails_the_session_at_the_hello(void **state)
{
	struct harness *h = *state;
	static const uint8_t der[] = {0x30, 0x00};

	h->cfg.authtype = SV_AUTH_CERT;
	h->cfg.cert = (struct sv_session_cert){
	    .der = der, .len = sizeof der, .sign = failing_signer};
	new_session(h);
	sv_session_start(h->s, T0);
	client_to_server(h);
	assert_int_equal(fake_server_reply_hello(&h->reply, hello_random), 0);
	assert_int_equal(server_to_client(h, T0 + 10), SV_E_INTERNAL);
	assert_int_equal(sv_session_state(h->s), SV_SESSION_CLOSED);
	size_t n;
	(void)sv_session_output(h->s, &n);
	assert_int_equal(n, 0); /* no login request left */
}

static void
error_pack_9_fails_with_server_error_9(void **state)
{
	struct harness *h = *state;

	new_session(h);
	run_to_welcome(h);
	assert_int_equal(fake_server_reply_error(&h->reply, 9), 0);
	assert_int_equal(server_to_client(h, T0 + 30), SV_E_SERVER);
	assert_int_equal(sv_session_error(h->s), SV_E_SERVER);
	assert_int_equal(sv_session_server_error(h->s), 9);
	assert_int_equal(sv_session_state(h->s), SV_SESSION_CLOSED);
	assert_int_equal(h->established, 0);
	/* Sticky: later input, frames and ticks all report the first error. */
	uint64_t next;
	assert_int_equal(
	    sv_session_input(h->s, (const uint8_t *)"x", 1, T0 + 40),
	    SV_E_SERVER);
	assert_int_equal(sv_session_tick(h->s, T0 + 50, &next), SV_E_SERVER);
	assert_int_equal(sv_session_send_frame(h->s, "abc", 3), SV_E_CLOSED);
	sv_session_fail(h->s, SV_E_TIMEOUT);
	assert_int_equal(sv_session_error(h->s), SV_E_SERVER);
}

static void
error_in_hello_fails_with_that_code(void **state)
{
	struct harness *h = *state;

	new_session(h);
	sv_session_start(h->s, T0);
	client_to_server(h);
	assert_int_equal(fake_server_reply_error(&h->reply, 16), 0);
	assert_int_equal(server_to_client(h, T0 + 5), SV_E_SERVER);
	assert_int_equal(sv_session_server_error(h->s), 16);
}

static void
hello_without_20_byte_random_is_not_vpn(void **state)
{
	struct harness *h = *state;
	struct sv_pack pk;
	uint8_t rnd[19] = {0};

	new_session(h);
	sv_session_start(h->s, T0);
	client_to_server(h);
	sv_pack_init(&pk);
	assert_int_equal(sv_pack_add_str(&pk, "hello", "x"), 0);
	assert_int_equal(sv_pack_add_data(&pk, "random", rnd, sizeof rnd), 0);
	assert_int_equal(fake_server_reply_pack(&h->reply, &pk), 0);
	sv_pack_cleanup(&pk);
	assert_int_equal(server_to_client(h, T0 + 5), SV_E_NOTVPN);
	assert_int_equal(sv_session_server_error(h->s), 0);
	size_t n;
	sv_session_output(h->s, &n);
	assert_int_equal(n, 0); /* no login goes out */
}

static void
hello_without_hello_string_is_not_vpn(void **state)
{
	struct harness *h = *state;
	struct sv_pack pk;

	new_session(h);
	sv_session_start(h->s, T0);
	client_to_server(h);
	sv_pack_init(&pk);
	assert_int_equal(sv_pack_add_data(&pk, "random", hello_random, 20), 0);
	assert_int_equal(fake_server_reply_pack(&h->reply, &pk), 0);
	sv_pack_cleanup(&pk);
	assert_int_equal(server_to_client(h, T0 + 5), SV_E_NOTVPN);
}

static void
http_403_to_signature_is_not_vpn(void **state)
{
	struct harness *h = *state;

	new_session(h);
	sv_session_start(h->s, T0);
	client_to_server(h);
	assert_int_equal(fake_server_reply_raw(&h->reply,
	                                       "HTTP/1.1 403 Forbidden",
	                                       "text/html", "<html>", 6),
	                 0);
	assert_int_equal(server_to_client(h, T0 + 5), SV_E_NOTVPN);
	assert_int_equal(sv_session_state(h->s), SV_SESSION_CLOSED);
}

static void
unparsable_hello_pack_is_protocol_error(void **state)
{
	struct harness *h = *state;
	static const uint8_t junk[] = {0, 0, 0, 1, 0, 0, 0, 0};

	new_session(h);
	sv_session_start(h->s, T0);
	client_to_server(h);
	assert_int_equal(fake_server_reply_raw(&h->reply, "HTTP/1.1 200 OK",
	                                       "application/octet-stream", junk,
	                                       sizeof junk),
	                 0);
	assert_int_equal(server_to_client(h, T0 + 5), SV_E_PROTO);
}

static void
hello_split_at_every_byte_is_handled(void **state)
{
	struct harness *h = *state;
	size_t n;

	new_session(h);
	sv_session_start(h->s, T0);
	client_to_server(h);
	assert_int_equal(fake_server_reply_hello(&h->reply, hello_random), 0);
	const uint8_t *p = sv_buf_peek(&h->reply, &n);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(sv_session_state(h->s), SV_SESSION_HELLO);
		assert_int_equal(sv_session_input(h->s, p + i, 1, T0 + 5), 0);
	}
	assert_int_equal(sv_session_state(h->s), SV_SESSION_WELCOME);
}

static void
hello_and_welcome_in_one_read_are_both_handled(void **state)
{
	struct harness *h = *state;

	new_session(h);
	sv_session_start(h->s, T0);
	client_to_server(h);
	assert_int_equal(fake_server_reply_hello(&h->reply, hello_random), 0);
	assert_int_equal(fake_server_reply_welcome(&h->reply, 20000), 0);
	assert_int_equal(server_to_client(h, T0 + 5), 0);
	assert_int_equal(sv_session_state(h->s), SV_SESSION_ESTABLISHED);
	client_to_server(h);
	assert_int_equal(h->fs.requests, 2); /* the login still went out */
	assert_int_equal(h->fs.rx.keepalives, 1);
}

static void
welcome_with_compression_is_refused(void **state)
{
	struct harness *h = *state;
	struct sv_pack pk;

	new_session(h);
	run_to_welcome(h);
	sv_pack_init(&pk);
	assert_int_equal(sv_pack_add_str(&pk, "session_name", "SID-X-1"), 0);
	assert_int_equal(sv_pack_add_int(&pk, "use_compress", 1), 0);
	assert_int_equal(fake_server_reply_pack(&h->reply, &pk), 0);
	sv_pack_cleanup(&pk);
	assert_int_equal(server_to_client(h, T0 + 5), SV_E_PROTO);
	assert_int_equal(h->established, 0);
}

static void
input_before_start_is_protocol_error(void **state)
{
	struct harness *h = *state;

	new_session(h);
	assert_int_equal(sv_session_input(h->s, (const uint8_t *)"HTTP", 4, T0),
	                 SV_E_PROTO);
}

/* Appends one block message with frames of the given lengths, filled with
 * 0x10+i. */
static void
put_block(struct sv_buf *b, const size_t *lens, size_t n)
{
	uint8_t f[1600];

	assert_int_equal(sv_buf_put_u32(b, (uint32_t)n), 0);
	for (size_t i = 0; i < n; i++) {
		memset(f, 0x10 + (int)i, lens[i]);
		assert_int_equal(sv_buf_put_u32(b, (uint32_t)lens[i]), 0);
		assert_int_equal(sv_buf_put(b, f, lens[i]), 0);
	}
}

static void
frames_flow_both_ways_in_batches(void **state)
{
	struct harness *h = *state;
	static const size_t lens[] = {60, 342};
	uint8_t f[100];

	new_session(h);
	run_to_established(h, 20000, T0 + 20);
	client_to_server(h);

	/* Server -> client: one message with two frames, then a keep-alive. */
	put_block(&h->reply, lens, 2);
	assert_int_equal(sv_buf_put_u32(&h->reply, SV_TUNNEL_KEEPALIVE_MAGIC),
	                 0);
	assert_int_equal(sv_buf_put_u32(&h->reply, 3), 0);
	assert_int_equal(sv_buf_put(&h->reply, "abc", 3), 0);
	assert_int_equal(server_to_client(h, T0 + 100), 0);
	assert_int_equal(h->nframes, 2);
	assert_int_equal(h->frame_len[0], 60);
	assert_int_equal(h->frame_first[0], 0x10);
	assert_int_equal(h->frame_len[1], 342);
	assert_int_equal(h->frame_first[1], 0x11);

	/* Client -> server: three frames, one flush, one block message. */
	for (int i = 0; i < 3; i++) {
		memset(f, 0x40 + i, sizeof f);
		assert_int_equal(sv_session_send_frame(h->s, f, 50 + (size_t)i),
		                 0);
	}
	size_t n;
	sv_session_output(h->s, &n);
	assert_int_equal(n, 0); /* the batch is still open */
	sv_session_flush(h->s);
	client_to_server(h);
	assert_int_equal(h->fs.nframes, 3);
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(h->fs.frame_len[i], 50 + i);
		assert_int_equal(h->fs.frame[i][0], 0x40 + i);
	}
	assert_int_equal(h->fs.rx.frames, 3);
}

static void
data_right_behind_the_welcome_is_delivered(void **state)
{
	struct harness *h = *state;
	static const size_t lens[] = {42};

	new_session(h);
	run_to_welcome(h);
	assert_int_equal(fake_server_reply_welcome(&h->reply, 20000), 0);
	assert_int_equal(sv_buf_put_u32(&h->reply, SV_TUNNEL_KEEPALIVE_MAGIC),
	                 0);
	assert_int_equal(sv_buf_put_u32(&h->reply, 0), 0);
	put_block(&h->reply, lens, 1);
	/* ...and a partial message that completes in the next read. */
	assert_int_equal(sv_buf_put_u32(&h->reply, 1), 0);
	assert_int_equal(sv_buf_put_u32(&h->reply, 5), 0);
	assert_int_equal(sv_buf_put(&h->reply, "\x77\x77", 2), 0);
	assert_int_equal(server_to_client(h, T0 + 20), 0);
	assert_int_equal(sv_session_state(h->s), SV_SESSION_ESTABLISHED);
	assert_int_equal(h->nframes, 1);
	assert_int_equal(h->frame_len[0], 42);
	assert_int_equal(
	    sv_session_input(h->s, (const uint8_t *)"\x77\x77\x77", 3, T0 + 30),
	    0);
	assert_int_equal(h->nframes, 2);
	assert_int_equal(h->frame_len[1], 5);
	assert_int_equal(h->frame_first[1], 0x77);
}

static void
send_frame_before_established_is_refused(void **state)
{
	struct harness *h = *state;

	new_session(h);
	assert_int_equal(sv_session_send_frame(h->s, "abc", 3), SV_E_CLOSED);
	run_to_welcome(h);
	assert_int_equal(sv_session_send_frame(h->s, "abc", 3), SV_E_CLOSED);
}

static void
send_queue_is_bounded(void **state)
{
	struct harness *h = *state;
	static uint8_t f[1514];
	int r = 0;
	size_t sent = 0;

	new_session(h);
	run_to_established(h, 20000, T0 + 20);
	for (int i = 0; i < 2000 && r == 0; i++) {
		r = sv_session_send_frame(h->s, f, sizeof f);
		if (r == 0)
			sent++;
		if (i % 10 == 9)
			sv_session_flush(h->s);
	}
	assert_int_equal(r, SV_E_TOOBIG);
	assert_true(sent > 600 && sent < 700); /* about 1 MiB */
	assert_int_equal(sv_session_error(h->s),
	                 0); /* a full queue drops, not fails */
	assert_int_equal(sv_session_send_frame(h->s, f, 1601), SV_E_TOOBIG);
	assert_int_equal(sv_session_send_frame(h->s, f, 0), SV_E_INVAL);
}

static void
bad_block_from_server_fails_session(void **state)
{
	struct harness *h = *state;

	new_session(h);
	run_to_established(h, 20000, T0 + 20);
	assert_int_equal(sv_buf_put_u32(&h->reply, 1), 0);
	assert_int_equal(sv_buf_put_u32(&h->reply, 3201), 0);
	assert_int_equal(server_to_client(h, T0 + 30), SV_E_PROTO);
	assert_int_equal(sv_session_state(h->s), SV_SESSION_CLOSED);
}

static void
keepalive_timing_follows_quarter_timeout(void **state)
{
	struct harness *h = *state;
	uint64_t next = 0;
	const uint64_t t = T0 + 20; /* established at t */

	new_session(h);
	run_to_established(h, 20000, t);
	client_to_server(h);
	assert_int_equal(h->fs.rx.keepalives, 1);

	/* T = 20000: keep-alive every min(T/4, 5000) = 5000 ms of not sending.
	 */
	assert_int_equal(sv_session_tick(h->s, t, &next), 0);
	assert_int_equal(next, t + 5000);
	assert_int_equal(sv_session_tick(h->s, t + 4999, &next), 0);
	client_to_server(h);
	assert_int_equal(h->fs.rx.keepalives, 1);
	/* Keep the peer alive from the server side so only the send timer
	 * matters. */
	assert_int_equal(
	    sv_session_input(h->s, (const uint8_t *)"\0\0\0\0", 4, t + 4999),
	    0);
	assert_int_equal(sv_session_tick(h->s, t + 5000, &next), 0);
	client_to_server(h);
	assert_int_equal(h->fs.rx.keepalives, 2);
	assert_int_equal(next, t + 10000);

	/* Sending data pushes the next keep-alive back. */
	assert_int_equal(
	    sv_session_input(h->s, (const uint8_t *)"\0\0\0\0", 4, t + 8000),
	    0);
	assert_int_equal(sv_session_send_frame(h->s, "frame", 5), 0);
	sv_session_flush(h->s);
	assert_int_equal(sv_session_tick(h->s, t + 10000, &next), 0);
	client_to_server(h);
	assert_int_equal(h->fs.rx.keepalives, 2);
	assert_int_equal(h->fs.nframes, 1);
	assert_int_equal(next, t + 13000);
}

static void
short_timeout_shortens_keepalive_and_dead_peer(void **state)
{
	struct harness *h = *state;
	uint64_t next = 0;
	const uint64_t t = T0 + 20;

	new_session(h);
	run_to_established(h, 8000, t);
	assert_int_equal(sv_session_tick(h->s, t, &next), 0);
	assert_int_equal(next, t + 2000); /* T/4 */
	assert_int_equal(
	    sv_session_input(h->s, (const uint8_t *)"\0\0\0\0", 4, t + 6000),
	    0);
	assert_int_equal(sv_session_tick(h->s, t + 13999, &next), 0);
	assert_int_equal(sv_session_tick(h->s, t + 14000, &next),
	                 SV_E_TIMEOUT); /* T */
}

static void
dead_peer_times_out_after_15_seconds_of_silence(void **state)
{
	struct harness *h = *state;
	uint64_t next = 0;
	const uint64_t t = T0 + 20;

	new_session(h);
	run_to_established(h, 20000, t);
	/* Bytes reset the silence timer, even a lone byte of a message. */
	assert_int_equal(
	    sv_session_input(h->s, (const uint8_t *)"\0", 1, t + 10000), 0);
	for (uint64_t now = t; now < t + 10000 + 15000; now += 1000) {
		assert_int_equal(sv_session_tick(h->s, now, &next), 0);
		assert_true(next <= t + 10000 + 15000);
	}
	assert_int_equal(sv_session_tick(h->s, t + 10000 + 14999, &next), 0);
	assert_int_equal(sv_session_tick(h->s, t + 10000 + 15000, &next),
	                 SV_E_TIMEOUT);
	assert_int_equal(sv_session_error(h->s), SV_E_TIMEOUT);
	assert_int_equal(sv_session_state(h->s), SV_SESSION_CLOSED);
}

static void
handshake_step_deadline_is_15_seconds(void **state)
{
	struct harness *h = *state;
	uint64_t next = 0;

	new_session(h);
	assert_int_equal(sv_session_tick(h->s, 0, &next),
	                 0); /* not started: no deadline */
	sv_session_start(h->s, T0);
	assert_int_equal(sv_session_tick(h->s, T0, &next), 0);
	assert_int_equal(next, T0 + 15000);
	client_to_server(h);
	assert_int_equal(fake_server_reply_hello(&h->reply, hello_random), 0);
	assert_int_equal(server_to_client(h, T0 + 14000), 0);
	/* The login step gets its own 15 s from the hello. */
	assert_int_equal(sv_session_tick(h->s, T0 + 15000, &next), 0);
	assert_int_equal(next, T0 + 14000 + 15000);
	assert_int_equal(sv_session_tick(h->s, T0 + 14000 + 15000, &next),
	                 SV_E_TIMEOUT);
}

static void
handshake_without_answer_times_out(void **state)
{
	struct harness *h = *state;
	uint64_t next = 0;

	new_session(h);
	sv_session_start(h->s, T0);
	client_to_server(h);
	assert_int_equal(sv_session_tick(h->s, T0 + 14999, &next), 0);
	assert_int_equal(sv_session_tick(h->s, T0 + 15000, &next),
	                 SV_E_TIMEOUT);
}

static uint8_t fixed_byte;

static void
fixed_random(void *p, size_t n)
{
	memset(p, fixed_byte, n);
}

static void
random_source_can_be_replaced(void **state)
{
	struct harness *h = *state;
	const uint8_t *d;
	size_t n;

	fixed_byte = 0x01; /* length bytes 0x0101 = 257 */
	sv_session_set_random(fixed_random);
	new_session(h);
	run_to_welcome(h);
	assert_true(sv_pack_get_data(&h->fs.last_pack, "pencore", &d, &n));
	assert_int_equal(n, 257);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(d[i], 0x01);
}

static void
output_ack_may_be_partial(void **state)
{
	struct harness *h = *state;
	size_t n, total;

	new_session(h);
	sv_session_start(h->s, T0);
	const uint8_t *p = sv_session_output(h->s, &total);
	assert_true(total > 10);
	assert_int_equal(fake_server_recv(&h->fs, p, 10), 0);
	sv_session_output_ack(h->s, 10);
	assert_int_equal(sv_session_state(h->s), SV_SESSION_SIGNATURE);
	p = sv_session_output(h->s, &n);
	assert_int_equal(n, total - 10);
	assert_int_equal(fake_server_recv(&h->fs, p, n), 0);
	sv_session_output_ack(h->s, n);
	assert_int_equal(sv_session_state(h->s), SV_SESSION_HELLO);
	assert_int_equal(h->fs.requests, 1);
}

static void
state_names_are_printable(void **state)
{
	(void)state;
	assert_string_equal(sv_session_state_name(SV_SESSION_ESTABLISHED),
	                    "established");
	assert_string_equal(sv_session_state_name((enum sv_session_state)99),
	                    "?");
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

/* Spec 12: a re-attach sends additional_connect with the key, no credentials. */
static void
reattach_sends_the_session_key_and_no_credentials(void **state)
{
	struct harness *h = *state;
	uint8_t key[20];
	struct sv_welcome w = { .timeout_ms = 20000 };

	for (int i = 0; i < 20; i++)
		key[i] = (uint8_t)(0x40 + i);
	strcpy(w.session_name, "SID-ALICE-7");
	h->cfg.attach_key = key;
	h->cfg.attach_welcome = &w;
	new_session(h);
	run_to_welcome(h);
	const struct sv_pack *pk = &h->fs.last_pack;
	expect_str(pk, "method", "additional_connect");
	const uint8_t *d;
	size_t n;
	assert_true(sv_pack_get_data(pk, "session_key", &d, &n));
	assert_int_equal(n, 20);
	assert_memory_equal(d, key, 20);
	assert_null(sv_pack_find(pk, "secure_password"));
	assert_null(sv_pack_find(pk, "username"));

	struct sv_pack ok;
	sv_pack_init(&ok);
	assert_int_equal(sv_pack_add_int(&ok, "error", 0), 0);
	assert_int_equal(sv_pack_add_int(&ok, "direction", 0), 0);
	assert_int_equal(fake_server_reply_pack(&h->reply, &ok), 0);
	sv_pack_cleanup(&ok);
	assert_int_equal(server_to_client(h, T0 + 20), 0);
	assert_int_equal(sv_session_state(h->s), SV_SESSION_ESTABLISHED);
	assert_int_equal(h->established, 1);
	assert_string_equal(h->welcome.session_name, "SID-ALICE-7");
	assert_int_equal(h->welcome.timeout_ms, 20000);
	uint8_t got[20];
	assert_true(sv_session_key(h->s, got));
	assert_memory_equal(got, key, 20);
}

static void
reattach_to_a_gone_session_reports_error_13(void **state)
{
	struct harness *h = *state;
	uint8_t key[20] = { 1 };
	struct sv_welcome w = { .timeout_ms = 20000 };

	h->cfg.attach_key = key;
	h->cfg.attach_welcome = &w;
	new_session(h);
	run_to_welcome(h);
	assert_int_equal(fake_server_reply_error(&h->reply, 13), 0);
	assert_int_equal(server_to_client(h, T0 + 20), SV_E_SERVER);
	assert_int_equal(sv_session_server_error(h->s), 13);
	assert_int_equal(h->established, 0);
}

static void
login_keeps_the_session_key_for_a_later_reattach(void **state)
{
	struct harness *h = *state;
	uint8_t key[20];

	new_session(h);
	assert_false(sv_session_key(h->s, key));
	assert_null(sv_session_welcome(h->s));
	run_to_established(h, 20000, T0 + 20);
	assert_true(sv_session_key(h->s, key));
	assert_non_null(sv_session_welcome(h->s));
}

/* Welcome with use_compress=1 (the server granted compression). */
static void
reply_welcome_compressed(struct sv_buf *out)
{
	struct sv_pack pk;
	uint8_t key[20] = { 0 };

	sv_pack_init(&pk);
	assert_int_equal(sv_pack_add_str(&pk, "session_name", "SID-ALICE-9"), 0);
	assert_int_equal(sv_pack_add_data(&pk, "session_key", key, sizeof key), 0);
	assert_int_equal(sv_pack_add_int(&pk, "use_encrypt", 1), 0);
	assert_int_equal(sv_pack_add_int(&pk, "use_compress", 1), 0);
	assert_int_equal(sv_pack_add_int(&pk, "timeout", 20000), 0);
	assert_int_equal(fake_server_reply_pack(out, &pk), 0);
	sv_pack_cleanup(&pk);
}

/* Spec 11.4: with compression every frame is one zlib stream, both ways. */
static void
compressed_frames_are_deflated_and_inflated(void **state)
{
	struct harness *h = *state;
	uint8_t f[300], z[400];

	h->cfg.compress = true;
	new_session(h);
	run_to_welcome(h);
	expect_int(&h->fs.last_pack, "use_compress", 1);
	reply_welcome_compressed(&h->reply);
	assert_int_equal(server_to_client(h, T0 + 20), 0);
	assert_int_equal(sv_session_state(h->s), SV_SESSION_ESTABLISHED);
	client_to_server(h);

	/* client -> server: the wire frame inflates to what was sent */
	memset(f, 0x42, sizeof f);
	f[0] = 0x11;
	assert_int_equal(sv_session_send_frame(h->s, f, sizeof f), 0);
	sv_session_flush(h->s);
	client_to_server(h);
	assert_int_equal(h->fs.nframes, 1);
	assert_true(h->fs.frame_len[0] < sizeof f); /* it was compressed */

	/* server -> client: a zlib frame arrives inflated; garbage is dropped */
	uLongf zn = sizeof z;
	assert_int_equal(compress2(z, &zn, f, sizeof f, 6), Z_OK);
	assert_int_equal(sv_buf_put_u32(&h->reply, 2), 0);
	assert_int_equal(sv_buf_put_u32(&h->reply, (uint32_t)zn), 0);
	assert_int_equal(sv_buf_put(&h->reply, z, zn), 0);
	assert_int_equal(sv_buf_put_u32(&h->reply, 5), 0);
	assert_int_equal(sv_buf_put(&h->reply, "junk!", 5), 0);
	assert_int_equal(server_to_client(h, T0 + 100), 0);
	assert_int_equal(h->nframes, 1);
	assert_int_equal(h->frame_len[0], sizeof f);
	assert_int_equal(h->frame_first[0], 0x11);
}

static void
compression_granted_without_asking_is_a_protocol_error(void **state)
{
	struct harness *h = *state;

	new_session(h);
	run_to_welcome(h);
	expect_int(&h->fs.last_pack, "use_compress", 0);
	reply_welcome_compressed(&h->reply);
	assert_int_equal(server_to_client(h, T0 + 20), SV_E_PROTO);
}

/* Spec 11.5: in a half-duplex session the login connection only sends: no receive
 * timeout on it; a joined connection with direction 1 only receives. */
static void
half_duplex_connections_are_one_way(void **state)
{
	struct harness *h = *state;
	struct sv_pack pk;
	uint8_t key[20] = { 0 };
	uint64_t next;

	h->cfg.half_connection = true;
	h->cfg.max_connection = 2;
	new_session(h);
	run_to_welcome(h);
	expect_int(&h->fs.last_pack, "half_connection", 1);
	expect_int(&h->fs.last_pack, "max_connection", 2);
	sv_pack_init(&pk);
	assert_int_equal(sv_pack_add_str(&pk, "session_name", "SID-ALICE-8"), 0);
	assert_int_equal(sv_pack_add_data(&pk, "session_key", key, sizeof key), 0);
	assert_int_equal(sv_pack_add_int(&pk, "use_encrypt", 1), 0);
	assert_int_equal(sv_pack_add_int(&pk, "half_connection", 1), 0);
	assert_int_equal(sv_pack_add_int(&pk, "max_connection", 2), 0);
	assert_int_equal(sv_pack_add_int(&pk, "timeout", 20000), 0);
	assert_int_equal(fake_server_reply_pack(&h->reply, &pk), 0);
	sv_pack_cleanup(&pk);
	assert_int_equal(server_to_client(h, T0 + 20), 0);
	assert_int_equal(sv_session_direction(h->s), 2);
	assert_true(h->welcome.half_connection);
	/* a minute of silence is fine on a connection we never receive on */
	assert_int_equal(sv_session_tick(h->s, T0 + 60000, &next), 0);
	uint8_t f[60] = { 0 };
	assert_int_equal(sv_session_send_frame(h->s, f, sizeof f), 0);

	/* the second connection joins and is made receive-only */
	struct sv_welcome w = h->welcome;
	sv_session_free(h->s);
	fake_server_cleanup(&h->fs);
	fake_server_init(&h->fs);
	h->cfg.attach_key = key;
	h->cfg.attach_welcome = &w;
	new_session(h);
	run_to_welcome(h);
	sv_pack_init(&pk);
	assert_int_equal(sv_pack_add_int(&pk, "error", 0), 0);
	assert_int_equal(sv_pack_add_int(&pk, "direction", 1), 0);
	assert_int_equal(fake_server_reply_pack(&h->reply, &pk), 0);
	sv_pack_cleanup(&pk);
	assert_int_equal(server_to_client(h, T0 + 70000), 0);
	assert_int_equal(sv_session_direction(h->s), 1);
	assert_int_equal(sv_session_send_frame(h->s, f, sizeof f), SV_E_INVAL);
	assert_int_equal(sv_session_tick(h->s, T0 + 70000 + 20000, &next), SV_E_TIMEOUT);
}

static void
one_way_connection_in_a_full_duplex_session_is_refused(void **state)
{
	struct harness *h = *state;
	uint8_t key[20] = { 1 };
	struct sv_welcome w = { .timeout_ms = 20000 };
	struct sv_pack pk;

	h->cfg.attach_key = key;
	h->cfg.attach_welcome = &w;
	new_session(h);
	run_to_welcome(h);
	sv_pack_init(&pk);
	assert_int_equal(sv_pack_add_int(&pk, "direction", 1), 0);
	assert_int_equal(fake_server_reply_pack(&h->reply, &pk), 0);
	sv_pack_cleanup(&pk);
	assert_int_equal(server_to_client(h, T0 + 20), SV_E_PROTO);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    T(signature_request_goes_out_first),
	    T(half_duplex_connections_are_one_way),
	    T(one_way_connection_in_a_full_duplex_session_is_refused),
	    T(compressed_frames_are_deflated_and_inflated),
	    T(compression_granted_without_asking_is_a_protocol_error),
	    T(reattach_sends_the_session_key_and_no_credentials),
	    T(reattach_to_a_gone_session_reports_error_13),
	    T(login_keeps_the_session_key_for_a_later_reattach),
	    T(handshake_reaches_established_with_login_checked_field_by_field),
	    T(welcome_timeout_is_clamped_and_defaulted),
	    T(plain_password_login_sends_plain_password),
	    T(anonymous_login_sends_no_secret),
	    T(invalid_config_is_refused),
	    T(cert_config_needs_certificate_and_signer),
	    T(cert_login_sends_certificate_and_signature_over_the_random),
	    T(failing_signer_fails_the_session_at_the_hello),
	    T(error_pack_9_fails_with_server_error_9),
	    T(error_in_hello_fails_with_that_code),
	    T(hello_without_20_byte_random_is_not_vpn),
	    T(hello_without_hello_string_is_not_vpn),
	    T(http_403_to_signature_is_not_vpn),
	    T(unparsable_hello_pack_is_protocol_error),
	    T(hello_split_at_every_byte_is_handled),
	    T(hello_and_welcome_in_one_read_are_both_handled),
	    T(welcome_with_compression_is_refused),
	    T(input_before_start_is_protocol_error),
	    T(frames_flow_both_ways_in_batches),
	    T(data_right_behind_the_welcome_is_delivered),
	    T(send_frame_before_established_is_refused),
	    T(send_queue_is_bounded),
	    T(bad_block_from_server_fails_session),
	    T(keepalive_timing_follows_quarter_timeout),
	    T(short_timeout_shortens_keepalive_and_dead_peer),
	    T(dead_peer_times_out_after_15_seconds_of_silence),
	    T(handshake_step_deadline_is_15_seconds),
	    T(handshake_without_answer_times_out),
	    T(random_source_can_be_replaced),
	    T(output_ack_may_be_partial),
	    T(state_names_are_printable),
	};
	sv_log_set_level(SV_LOG_ERR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
