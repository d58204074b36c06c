/* Command line parsing: accepted forms, defaults, and the messages for mistakes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "core/session.h"
#include "platform/config.h"

#define PIN "87:5C:A0:43:AA:30:2F:9E:CD:0C:2D:0C:41:99:E5:E2:DF:70:DE:C5:88:88:42:F7:9D:60:D3:4B:72:05:31:5B"

static int
parse(struct sv_config *c, char *err, size_t cap, ...)
{
	char *argv[32] = { "sevpn-proxy" };
	int argc = 1;
	va_list ap;
	va_start(ap, cap);
	for (char *a; (a = va_arg(ap, char *)) != NULL && argc < 31;)
		argv[argc++] = a;
	va_end(ap);
	sv_config_init(c);
	return sv_config_parse(c, argc, argv, err, cap);
}

static void
config_accepts_the_documented_example(void **state)
{
	struct sv_config c;
	char err[256] = "";
	assert_int_equal(parse(&c, err, sizeof err, "--server", "10.78.0.1:443", "--hub",
				 "DEFAULT", "--user", "alice", "--pin", PIN, "--socks",
				 "127.0.0.1:1080", NULL),
		0);
	assert_string_equal(c.server_host, "10.78.0.1");
	assert_int_equal(c.server_port, 443);
	assert_string_equal(c.hub, "DEFAULT");
	assert_string_equal(c.user, "alice");
	assert_true(c.have_pin);
	assert_int_equal(c.verify, SV_TLS_VERIFY_PIN);
	assert_int_equal(c.pin[0], 0x87);
	assert_int_equal(c.pin[31], 0x5b);
	assert_int_equal(c.n_socks, 1);
	assert_string_equal(c.socks[0], "127.0.0.1:1080");
	assert_int_equal(c.authtype, SV_AUTH_PASSWORD);
	sv_config_cleanup(&c);
}

static void
config_defaults_hub_and_port(void **state)
{
	struct sv_config c;
	char err[256] = "";
	assert_int_equal(parse(&c, err, sizeof err, "--server", "vpn.test", "--user", "bob",
				 "--insecure", "--socks", "1080", NULL),
		0);
	assert_string_equal(c.server_host, "vpn.test");
	assert_int_equal(c.server_port, 443);
	assert_string_equal(c.hub, "DEFAULT");
	assert_int_equal(c.verify, SV_TLS_VERIFY_INSECURE);
	sv_config_cleanup(&c);
}

static void
config_requires_server_instead_of_a_demo(void **state)
{
	struct sv_config c;
	char err[256] = "";
	assert_int_equal(parse(&c, err, sizeof err, "--user", "alice", "--pin", PIN,
				 "--socks", "1080", NULL),
		SV_E_INVAL);
	assert_non_null(strstr(err, "--server"));
	sv_config_cleanup(&c);
}

static void
config_verifies_with_system_cas_by_default(void **state)
{
	struct sv_config c;
	char err[256] = "";
	assert_int_equal(parse(&c, err, sizeof err, "--server", "h", "--user", "alice",
				 "--socks", "1080", NULL),
		0);
	assert_int_equal(c.verify, SV_TLS_VERIFY_CA);
	assert_null(c.ca_file);
	sv_config_cleanup(&c);
	assert_int_equal(parse(&c, err, sizeof err, "--server", "h", "--user", "alice",
				 "--pin", PIN, "--insecure", "--socks", "1080", NULL),
		SV_E_INVAL);
	assert_non_null(strstr(err, "exactly one"));
	sv_config_cleanup(&c);
}

static void
config_rejects_bad_values_with_a_reason(void **state)
{
	struct sv_config c;
	char err[256] = "";
	assert_int_equal(parse(&c, err, sizeof err, "--server", "h", "--user", "a", "--pin",
				 "abcd", "--socks", "1080", NULL),
		SV_E_INVAL);
	assert_non_null(strstr(err, "64 hex digits"));
	sv_config_cleanup(&c);
	assert_int_equal(parse(&c, err, sizeof err, "--server", "h:99999", NULL), SV_E_INVAL);
	assert_non_null(strstr(err, "--server"));
	sv_config_cleanup(&c);
	assert_int_equal(parse(&c, err, sizeof err, "--bogus", NULL), SV_E_INVAL);
	assert_non_null(strstr(err, "--bogus"));
	sv_config_cleanup(&c);
	assert_int_equal(parse(&c, err, sizeof err, "--mac", "01:00:5e:00:00:01", NULL),
		SV_E_INVAL);
	assert_non_null(strstr(err, "multicast"));
	sv_config_cleanup(&c);
}

static void
config_accepts_every_auth_type(void **state)
{
	static const struct {
		const char *name;
		int want;
	} cases[] = { { "password", SV_AUTH_PASSWORD }, { "plain", SV_AUTH_PLAIN },
		{ "anonymous", SV_AUTH_ANONYMOUS }, { "Plain", SV_AUTH_PLAIN } };
	struct sv_config c;
	char err[256] = "";
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		assert_int_equal(parse(&c, err, sizeof err, "--server", "h", "--user", "guest",
					 "--auth", cases[i].name, "--socks", "1080", NULL),
			0);
		assert_int_equal(c.authtype, cases[i].want);
		assert_null(c.cert_file);
		sv_config_cleanup(&c);
	}
	/* anonymous needs no user name */
	assert_int_equal(parse(&c, err, sizeof err, "--server", "h", "--auth", "anonymous",
				 "--socks", "1080", NULL),
		0);
	assert_string_equal(c.user, "anonymous");
	sv_config_cleanup(&c);
	assert_int_equal(parse(&c, err, sizeof err, "--server", "h", "--user", "a", "--auth",
				 "kerberos", "--socks", "1080", NULL),
		SV_E_INVAL);
	assert_non_null(strstr(err, "cert"));
	sv_config_cleanup(&c);
}

static void
config_cert_auth_takes_cert_and_key_files(void **state)
{
	struct sv_config c;
	char err[256] = "";
	assert_int_equal(parse(&c, err, sizeof err, "--server", "h", "--user", "carol",
				 "--auth", "cert", "--cert", "/x/carol.pem", "--key",
				 "/x/carol.key", "--socks", "1080", NULL),
		0);
	assert_int_equal(c.authtype, SV_AUTH_CERT);
	assert_string_equal(c.cert_file, "/x/carol.pem");
	assert_string_equal(c.key_file, "/x/carol.key");
	assert_string_equal(c.user, "carol");
	sv_config_cleanup(&c);
	assert_null(c.cert_file);
}

static void
config_cert_auth_needs_both_files_and_a_user(void **state)
{
	struct sv_config c;
	char err[256] = "";
	assert_int_equal(parse(&c, err, sizeof err, "--server", "h", "--user", "carol",
				 "--auth", "cert", "--cert", "c.pem", "--socks", "1080", NULL),
		SV_E_INVAL);
	assert_non_null(strstr(err, "--key FILE"));
	sv_config_cleanup(&c);
	assert_int_equal(parse(&c, err, sizeof err, "--server", "h", "--user", "carol",
				 "--auth", "cert", "--key", "k.pem", "--socks", "1080", NULL),
		SV_E_INVAL);
	assert_non_null(strstr(err, "--cert FILE"));
	sv_config_cleanup(&c);
	assert_int_equal(parse(&c, err, sizeof err, "--server", "h", "--auth", "cert",
				 "--cert", "c.pem", "--key", "k.pem", "--socks", "1080", NULL),
		SV_E_INVAL);
	assert_non_null(strstr(err, "--user"));
	sv_config_cleanup(&c);
	assert_int_equal(parse(&c, err, sizeof err, "--server", "h", "--user", "carol",
				 "--auth", "cert", "--cert", NULL),
		SV_E_INVAL);
	assert_non_null(strstr(err, "needs a value"));
	sv_config_cleanup(&c);
}

static void
config_cert_files_without_cert_auth_are_refused(void **state)
{
	struct sv_config c;
	char err[256] = "";
	assert_int_equal(parse(&c, err, sizeof err, "--server", "h", "--user", "carol",
				 "--cert", "c.pem", "--key", "k.pem", "--socks", "1080", NULL),
		SV_E_INVAL);
	assert_non_null(strstr(err, "only with --auth cert"));
	sv_config_cleanup(&c);
	assert_int_equal(parse(&c, err, sizeof err, "--server", "h", "--user", "carol",
				 "--auth", "plain", "--key", "k.pem", "--socks", "1080", NULL),
		SV_E_INVAL);
	assert_non_null(strstr(err, "only with --auth cert"));
	sv_config_cleanup(&c);
}

static void
usage_documents_the_auth_options(void **state)
{
	const char *u = sv_config_usage();
	assert_non_null(strstr(u, "--auth TYPE"));
	assert_non_null(strstr(u, "cert (needs --cert and --key)"));
	assert_non_null(strstr(u, "--cert FILE"));
	assert_non_null(strstr(u, "--key FILE"));
}

static void
hostport_handles_ipv6_and_defaults(void **state)
{
	char *h = NULL;
	uint16_t port = 0;
	assert_int_equal(sv_config_parse_hostport("[fd00::1]:5555", 443, &h, &port), 0);
	assert_string_equal(h, "fd00::1");
	assert_int_equal(port, 5555);
	free(h);
	assert_int_equal(sv_config_parse_hostport("fd00::1", 443, &h, &port), 0);
	assert_string_equal(h, "fd00::1");
	assert_int_equal(port, 443);
	free(h);
	assert_int_equal(sv_config_parse_hostport("host:0", 443, &h, &port), SV_E_INVAL);
	assert_int_equal(sv_config_parse_hostport(":80", 443, &h, &port), SV_E_INVAL);
	assert_int_equal(sv_config_parse_hostport("[::1", 443, &h, &port), SV_E_INVAL);
}

static void
mac_parses_both_separators(void **state)
{
	uint8_t m[6];
	assert_int_equal(sv_config_parse_mac("02:5e:00:AB:cd:ef", m), 0);
	assert_memory_equal(m, "\x02\x5e\x00\xab\xcd\xef", 6);
	assert_int_equal(sv_config_parse_mac("02-5e-00-ab-cd-ef", m), 0);
	assert_int_equal(sv_config_parse_mac("02:5e:00:ab:cd", m), SV_E_INVAL);
	assert_int_equal(sv_config_parse_mac("02:5e:00:ab:cd:ef:00", m), SV_E_INVAL);
	assert_int_equal(sv_config_parse_mac("g2:5e:00:ab:cd:ef", m), SV_E_INVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(config_accepts_the_documented_example),
		cmocka_unit_test(config_defaults_hub_and_port),
		cmocka_unit_test(config_requires_server_instead_of_a_demo),
		cmocka_unit_test(config_verifies_with_system_cas_by_default),
		cmocka_unit_test(config_rejects_bad_values_with_a_reason),
		cmocka_unit_test(config_accepts_every_auth_type),
		cmocka_unit_test(config_cert_auth_takes_cert_and_key_files),
		cmocka_unit_test(config_cert_auth_needs_both_files_and_a_user),
		cmocka_unit_test(config_cert_files_without_cert_auth_are_refused),
		cmocka_unit_test(usage_documents_the_auth_options),
		cmocka_unit_test(hostport_handles_ipv6_and_defaults),
		cmocka_unit_test(mac_parses_both_separators),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
