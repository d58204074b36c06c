/*
 * .vpn account files: the example exported by the real client (spec 17.3) and the
 * variants around it; every refusal says what is wrong and where.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/auth.h"
#include "core/err.h"
#include "core/vpnfile.h"

/* spec 17.3, as `vpncmd AccountExport` wrote it (BOM and CRLF added by load()) */
#define SPEC_HEAD                                                                          \
	"# VPN Client VPN Connection Setting File\n"                                       \
	"# \n"                                                                             \
	"# This file is exported using the VPN Client Manager.\n"                          \
	"\n"                                                                               \
	"declare root\n"                                                                   \
	"{\n"                                                                              \
	"\tbool CheckServerCert true\n"                                                    \
	"\tuint64 CreateDateTime 0\n"                                                      \
	"\tuint64 LastConnectDateTime 0\n"                                                 \
	"\tbool RetryOnServerCert false\n"                                                 \
	"\tbool StartupAccount false\n"                                                    \
	"\tuint64 UpdateDateTime 0\n"                                                      \
	"\n"
#define SPEC_AUTH                                                                          \
	"\tdeclare ClientAuth\n"                                                           \
	"\t{\n"                                                                            \
	"\t\tuint AuthType 1\n"                                                            \
	"\t\tbyte HashedPassword 9C9Hs/lKqIQvtJNEupweER7NH6c=\n"                          \
	"\t\tstring Username alice\n"                                                      \
	"\t}\n"
#define SPEC_OPTION                                                                        \
	"\tdeclare ClientOption\n"                                                         \
	"\t{\n"                                                                            \
	"\t\tstring AccountName spec-demo\n"                                               \
	"\t\tuint AdditionalConnectionInterval 1\n"                                        \
	"\t\tuint ConnectionDisconnectSpan 0\n"                                            \
	"\t\tstring CustomHttpHeader $\n"                                                  \
	"\t\tstring DeviceName vpn0\n"                                                     \
	"\t\tbool DisableQoS false\n"                                                      \
	"\t\tbool HalfConnection false\n"                                                  \
	"\t\tbool HideNicInfoWindow false\n"                                               \
	"\t\tbool HideStatusWindow false\n"                                                \
	"\t\tstring Hostname vpn.example.com\n"                                            \
	"\t\tstring HubName DEFAULT\n"                                                     \
	"\t\tuint MaxConnection 1\n"                                                       \
	"\t\tbool NoRoutingTracking false\n"                                               \
	"\t\tbool NoUdpAcceleration false\n"                                               \
	"\t\tuint NumRetry 4294967295\n"                                                   \
	"\t\tuint Port 443\n"                                                              \
	"\t\tuint PortUDP 0\n"                                                             \
	"\t\tstring ProxyName proxy.example.com\n"                                         \
	"\t\tbyte ProxyPassword Hu8FkQM=\n"                                                \
	"\t\tuint ProxyPort 8080\n"                                                        \
	"\t\tuint ProxyType 1\n"                                                           \
	"\t\tstring ProxyUsername puser\n"                                                 \
	"\t\tbool RequireBridgeRoutingMode false\n"                                        \
	"\t\tbool RequireMonitorMode false\n"                                              \
	"\t\tuint RetryInterval 15\n"                                                      \
	"\t\tbool UseCompress false\n"                                                     \
	"\t\tbool UseEncrypt true\n"                                                       \
	"\t}\n"
#define SPEC_TAIL "}\n"
#define SPEC SPEC_HEAD SPEC_AUTH SPEC_OPTION SPEC_TAIL

/* A minimal account around the given ClientAuth and ClientOption bodies. */
#define MINI(auth, option)                                                                 \
	"declare root\n{\n\tdeclare ClientAuth\n\t{\n" auth "\t}\n"                        \
	"\tdeclare ClientOption\n\t{\n" option "\t}\n}\n"
#define MINI_OPT "string Hostname h\nstring HubName H\n"

static uint8_t buf[65536];

/* text with LF -> BOM + CRLF, as the official client writes it. */
static size_t
load(const char *text)
{
	size_t n = 0;
	memcpy(buf, "\xEF\xBB\xBF", 3);
	n = 3;
	for (const char *p = text; *p != '\0'; p++) {
		if (*p == '\n')
			buf[n++] = '\r';
		buf[n++] = (uint8_t)*p;
	}
	return n;
}

static int
parse(struct sv_vpnfile *v, const char *text, char *err, size_t cap)
{
	return sv_vpnfile_parse(v, buf, load(text), err, cap);
}

static void
vpnfile_reads_the_spec_example(void **state)
{
	struct sv_vpnfile v;
	char err[256] = "";
	assert_int_equal(parse(&v, SPEC, err, sizeof err), 0);
	assert_string_equal(v.account_name, "spec-demo");
	assert_string_equal(v.hostname, "vpn.example.com");
	assert_int_equal(v.port, 443);
	assert_string_equal(v.hub, "DEFAULT");
	assert_string_equal(v.username, "alice");
	assert_int_equal(v.authtype, 1);
	assert_true(v.have_password_hash);
	assert_true(v.check_server_cert);
	assert_false(v.have_server_cert);
	assert_int_equal(v.proxy_type, SV_VPNFILE_PROXY_HTTP);
	assert_string_equal(v.proxy_name, "proxy.example.com");
	assert_int_equal(v.proxy_port, 8080);
	assert_string_equal(v.proxy_username, "puser");
	assert_string_equal(v.proxy_password, "ppass");
	assert_string_equal(v.custom_http_header, "");
	assert_int_equal(v.max_connection, 1);
	assert_false(v.half_connection);
	assert_false(v.use_compress);
	assert_true(v.use_encrypt);
	sv_vpnfile_cleanup(&v);
	assert_null(v.hostname);
}

static void
vpnfile_hash_is_softether_stored_hash_of_the_password(void **state)
{
	struct sv_vpnfile v;
	uint8_t want[20];
	char err[256] = "";
	assert_int_equal(parse(&v, SPEC, err, sizeof err), 0);
	sv_auth_password_hash(want, "alice", "Secr3tPass", strlen("Secr3tPass"));
	assert_memory_equal(v.password_hash, want, 20);
	sv_vpnfile_cleanup(&v);
}

static void
vpnfile_deobfuscates_plain_password(void **state)
{
	struct sv_vpnfile v;
	char err[256] = "";
	assert_int_equal(parse(&v, MINI("uint AuthType 2\nstring Username bob\n"
					"byte EncryptedPassword PP4AshFeH2o=\n",
				       MINI_OPT "uint ProxyType 0\nstring ProxyName $\n"
						"byte ProxyPassword $\n"),
				 err, sizeof err),
		0);
	assert_int_equal(v.authtype, 2);
	assert_string_equal(v.plain_password, "RadPass1");
	assert_false(v.have_password_hash);
	assert_int_equal(v.proxy_type, SV_VPNFILE_PROXY_DIRECT);
	assert_string_equal(v.proxy_password, "");
	assert_int_equal(v.port, 443); /* default when absent */
	sv_vpnfile_cleanup(&v);
}

/* RC4, to make test vectors for the 4-byte key of 32-bit builds. */
static void
rc4(const char *key, const uint8_t *in, uint8_t *out, size_t n)
{
	uint8_t S[256];
	unsigned i, j = 0, kl = (unsigned)strlen(key);
	for (i = 0; i < 256; i++)
		S[i] = (uint8_t)i;
	for (i = 0; i < 256; i++) {
		j = (j + S[i] + (uint8_t)key[i % kl]) & 0xff;
		uint8_t t = S[i];
		S[i] = S[j];
		S[j] = t;
	}
	i = j = 0;
	for (size_t k = 0; k < n; k++) {
		i = (i + 1) & 0xff;
		j = (j + S[i]) & 0xff;
		uint8_t t = S[i];
		S[i] = S[j];
		S[j] = t;
		out[k] = in[k] ^ S[(S[i] + S[j]) & 0xff];
	}
}

static void
vpnfile_deobfuscate_falls_back_to_the_32_bit_key(void **state)
{
	const char *pw = "Tr0ub4dor&3 horse";
	uint8_t enc[32];
	size_t n = strlen(pw);
	rc4("Encr", (const uint8_t *)pw, enc, n);
	char *out = sv_vpnfile_deobfuscate(enc, n);
	assert_non_null(out);
	assert_string_equal(out, pw);
	free(out);
	rc4("EncryptP", (const uint8_t *)pw, enc, n);
	out = sv_vpnfile_deobfuscate(enc, n);
	assert_non_null(out);
	assert_string_equal(out, pw);
	free(out);
	/* bytes that are text under neither key */
	rc4("EncryptP", (const uint8_t *)"\x01\x02\x03\x04\x05\x06\x07\x08", enc, 8);
	assert_null(sv_vpnfile_deobfuscate(enc, 8));
}

static void
vpnfile_unescapes_names_and_values(void **state)
{
	struct sv_vpnfile v;
	char err[256] = "";
	assert_int_equal(parse(&v, MINI("uint AuthType 0\n",
				       "string Hostname vpn.test\nstring HubName My$20Hub$24$zz\n"
				       "string Account$4Eame x$\n"),
				 err, sizeof err),
		0);
	assert_string_equal(v.hub, "My Hub$$zz");
	assert_string_equal(v.account_name, "x$");
	assert_string_equal(v.username, ""); /* anonymous needs none */
	sv_vpnfile_cleanup(&v);
}

static void
vpnfile_server_cert_becomes_a_pin(void **state)
{
	struct sv_vpnfile v;
	char err[256] = "";
	/* "abc" in base64; SHA-256("abc") is the FIPS 180-2 example */
	static const uint8_t sha_abc[32] = { 0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea,
		0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96,
		0x17, 0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad };
	assert_int_equal(parse(&v, "declare root\n{\n\tbool CheckServerCert false\n"
				   "\tbyte ServerCert YWJj\n"
				   "\tdeclare ClientAuth\n\t{\n\t\tuint AuthType 0\n\t}\n"
				   "\tdeclare ClientOption\n\t{\n" MINI_OPT "\t}\n}\n",
				 err, sizeof err),
		0);
	assert_true(v.have_server_cert);
	assert_false(v.check_server_cert);
	assert_memory_equal(v.server_cert_sha256, sha_abc, 32);
	sv_vpnfile_cleanup(&v);
}

static void
vpnfile_refusals_say_what_and_where(void **state)
{
	static const struct {
		const char *text;
		const char *msg;
	} cases[] = {
		{ "# just a comment\n", "not a SoftEther account file" },
		{ "declare root\n{\n\tdeclare ClientOption\n\t{\n" MINI_OPT "\t}\n}\n",
			"ClientAuth" },
		{ MINI("uint AuthType 1\nstring Username a\n", MINI_OPT "uint Port 70000\n"),
			"line 12: Port" },
		{ MINI("uint AuthType 1\nstring Username a\n", MINI_OPT "string Port 443\n"),
			"declared as 'string', expected 'uint'" },
		{ MINI("uint AuthType 1\nstring Username a\n", MINI_OPT "uint Port x\n"),
			"expected a number" },
		{ "declare root\n{\n", "missing '}'" },
		{ "}\n", "'}' without" },
		{ "{\n", "without 'declare NAME'" },
		{ "declare root\nbool X true\n", "expected '{'" },
		{ MINI("uint AuthType 4\nstring Username a\n", MINI_OPT), "smart card" },
		{ MINI("uint AuthType 9\nstring Username a\n", MINI_OPT), "unknown" },
		{ MINI("uint AuthType 1\n", MINI_OPT), "no Username" },
		{ MINI("string Username a\n", MINI_OPT), "no AuthType" },
		{ MINI("uint AuthType 0\n", "string HubName H\n"), "no Hostname" },
		{ MINI("uint AuthType 0\n", "string Hostname h\n"), "no HubName" },
		{ MINI("uint AuthType 3\nstring Username a\nbyte ClientCert YWJj\n", MINI_OPT),
			"ClientKey" },
		{ MINI("uint AuthType 1\nstring Username a\nbyte HashedPassword YWJj\n",
			  MINI_OPT),
			"20-byte hash" },
		{ MINI("uint AuthType 1\nstring Username a\nbyte HashedPassword !!!!\n",
			  MINI_OPT),
			"not valid base64" },
		{ MINI("uint AuthType 0\n", MINI_OPT "uint ProxyType 1\nuint ProxyPort 8080\n"),
			"ProxyName" },
		{ MINI("uint AuthType 0\n", MINI_OPT "bool UseCompress maybe\n"),
			"true or false" },
		{ MINI("uint AuthType 0\n", MINI_OPT "string HubName a$00b\n"), "NUL" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct sv_vpnfile v;
		char err[256] = "";
		assert_int_equal(parse(&v, cases[i].text, err, sizeof err), SV_E_INVAL);
		if (strstr(err, cases[i].msg) == NULL)
			fail_msg("case %zu: '%s' lacks '%s'", i, err, cases[i].msg);
		assert_null(v.hostname); /* nothing left to free */
		sv_vpnfile_cleanup(&v);
	}
}

static void
vpnfile_ignores_other_lines_and_deeper_folders(void **state)
{
	struct sv_vpnfile v;
	char err[256] = "";
	assert_int_equal(parse(&v, "declare root\n{\n"
				   "\tsome line the client would ignore\n"
				   "\tdeclare ClientAuth\n\t{\n\t\tuint AuthType 0\n"
				   "\t\tdeclare Deeper\n\t\t{\n\t\t\tstring Username x\n\t\t}\n\t}\n"
				   "\tdeclare ClientOption\n\t{\n" MINI_OPT
				   "\t\tuint Unknown 5\n\t}\n"
				   "\tdeclare Other\n\t{\n\t\tstring Hostname evil\n\t}\n}\n",
				 err, sizeof err),
		0);
	assert_string_equal(v.hostname, "h");
	assert_string_equal(v.username, "");
	sv_vpnfile_cleanup(&v);
}

static void
vpnfile_takes_certificate_and_key(void **state)
{
	struct sv_vpnfile v;
	char err[256] = "";
	assert_int_equal(parse(&v, MINI("uint AuthType 3\nstring Username carol\n"
					"byte ClientCert MIIB\nbyte ClientKey MIIC\n",
				       MINI_OPT "uint Port 5555\n"),
				 err, sizeof err),
		0);
	assert_int_equal(v.client_cert_len, 3);
	assert_memory_equal(v.client_cert, "\x30\x82\x01", 3);
	assert_int_equal(v.client_key_len, 3);
	assert_memory_equal(v.client_key, "\x30\x82\x02", 3);
	assert_int_equal(v.port, 5555);
	sv_vpnfile_cleanup(&v);
}

static void
vpnfile_refuses_oversized_input(void **state)
{
	struct sv_vpnfile v;
	char err[128] = "";
	assert_int_equal(sv_vpnfile_parse(&v, buf, SV_VPNFILE_MAX + 1, err, sizeof err),
		SV_E_TOOBIG);
	assert_non_null(strstr(err, "larger than"));
}

static void
base64_decodes_with_and_without_padding(void **state)
{
	uint8_t out[16];
	assert_int_equal(sv_vpnfile_base64_decode("YWJj", 4, out, sizeof out), 3);
	assert_int_equal(sv_vpnfile_base64_decode("YWI=", 4, out, sizeof out), 2);
	assert_memory_equal(out, "ab", 2);
	assert_int_equal(sv_vpnfile_base64_decode("YWI", 3, out, sizeof out), 2);
	assert_int_equal(sv_vpnfile_base64_decode("YQ==", 4, out, sizeof out), 1);
	assert_int_equal(sv_vpnfile_base64_decode("", 0, out, sizeof out), 0);
	assert_int_equal(sv_vpnfile_base64_decode("Y", 1, out, sizeof out), -1);
	assert_int_equal(sv_vpnfile_base64_decode("YQ==YQ", 6, out, sizeof out), -1);
	assert_int_equal(sv_vpnfile_base64_decode("YW J", 4, out, sizeof out), -1);
	assert_int_equal(sv_vpnfile_base64_decode("YWJj", 4, out, 2), -1);
	assert_int_equal(sv_vpnfile_base64_decode("YR==", 4, out, sizeof out), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(vpnfile_reads_the_spec_example),
		cmocka_unit_test(vpnfile_hash_is_softether_stored_hash_of_the_password),
		cmocka_unit_test(vpnfile_deobfuscates_plain_password),
		cmocka_unit_test(vpnfile_deobfuscate_falls_back_to_the_32_bit_key),
		cmocka_unit_test(vpnfile_unescapes_names_and_values),
		cmocka_unit_test(vpnfile_server_cert_becomes_a_pin),
		cmocka_unit_test(vpnfile_refusals_say_what_and_where),
		cmocka_unit_test(vpnfile_ignores_other_lines_and_deeper_folders),
		cmocka_unit_test(vpnfile_takes_certificate_and_key),
		cmocka_unit_test(vpnfile_refuses_oversized_input),
		cmocka_unit_test(base64_decodes_with_and_without_padding),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
