/*
 * Command line, configuration file and .vpn account: accepted forms, defaults, which
 * layer wins, and the messages for mistakes. Every test runs with HOME and the XDG
 * directories in a fresh temporary directory and no proxy variables set.
 */
#define _GNU_SOURCE /* nftw */
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "core/err.h"
#include "core/session.h"
#include "core/auth.h"
#include "platform/config.h"
#include "platform/known.h"

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


/* --- configuration file, account, upstream proxy, known servers -------------------- */

#define PIN_HEX "875ca043aa302f9ecd0e2d0c4199e5e2df70dec5888842f79d60d34b7205315b"

static char tmpdir[256];

static int
rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	return remove(p);
}

static int
setup(void **state)
{
	char path[300];
	snprintf(tmpdir, sizeof tmpdir, "%s/sv-config.XXXXXX",
		getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	setenv("HOME", tmpdir, 1);
	snprintf(path, sizeof path, "%s/xdg-config", tmpdir);
	setenv("XDG_CONFIG_HOME", path, 1);
	snprintf(path, sizeof path, "%s/xdg-data", tmpdir);
	setenv("XDG_DATA_HOME", path, 1);
	static const char *const vars[] = { "https_proxy", "HTTPS_PROXY", "all_proxy",
		"ALL_PROXY", "no_proxy", "NO_PROXY", "SEVPN_TEST_PW" };
	for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
		unsetenv(vars[i]);
	return 0;
}

static int
teardown(void **state)
{
	return nftw(tmpdir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

/* Writes text to tmpdir/name (directories made as needed); returns the path. */
static const char *
put(const char *name, const char *text)
{
	static char path[8][400];
	static unsigned next;
	char *p = path[next++ % 8];
	snprintf(p, 400, "%s/%s", tmpdir, name);
	for (char *s = strchr(p + strlen(tmpdir) + 1, '/'); s; s = strchr(s + 1, '/')) {
		*s = '\0';
		mkdir(p, 0700);
		*s = '/';
	}
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return p;
}

/* tests/data/vpn/NAME, next to this source file. */
static const char *
vpn_data(const char *name)
{
	static char path[600];
	const char *slash = strrchr(__FILE__, '/');
	int dn = slash ? (int)(slash - __FILE__) : 1;
	snprintf(path, sizeof path, "%.*s/data/vpn/%s", dn, slash ? __FILE__ : ".", name);
	return path;
}

static void
config_file_supplies_every_setting(void **state)
{
	struct sv_config c;
	char err[512] = "";
	const char *f = put("a.conf", "# sevpn-proxy\n"
				      "server = vpn.example.com:5555\n"
				      "hub = \"My Hub\"\n"
				      "user = alice\n"
				      "pin = " PIN_HEX "\n"
				      "socks = 1080\n"
				      "socks = [::1]:1081   # a second listener\n"
				      "connect-timeout = 2.5\n"
				      "log-level = debug\n"
				      "mac = 02:5e:00:00:00:01\n");
	assert_int_equal(parse(&c, err, sizeof err, "--config", f, NULL), 0);
	assert_string_equal(c.server_host, "vpn.example.com");
	assert_int_equal(c.server_port, 5555);
	assert_string_equal(c.hub, "My Hub");
	assert_string_equal(c.user, "alice");
	assert_int_equal(c.verify, SV_TLS_VERIFY_PIN);
	assert_int_equal(c.pin[0], 0x87);
	assert_int_equal(c.n_socks, 2);
	assert_string_equal(c.socks[1], "[::1]:1081");
	assert_int_equal(c.connect_timeout_ms, 2500);
	assert_int_equal(c.log_level, 3);
	assert_true(c.have_mac);
	assert_string_equal(c.config_file, f);
	assert_string_equal(c.verify_source, "config file");
	sv_config_cleanup(&c);
}

static void
config_command_line_overrides_the_file(void **state)
{
	struct sv_config c;
	char err[512] = "";
	const char *f = put("a.conf", "server = file.test\nuser = alice\nsocks = 1080\n"
				      "socks = 1081\npin = " PIN_HEX "\n");
	assert_int_equal(parse(&c, err, sizeof err, "--config", f, "--server", "cli.test:8443",
				 "--socks", "2080", "--insecure", NULL),
		0);
	assert_string_equal(c.server_host, "cli.test");
	assert_int_equal(c.server_port, 8443);
	assert_string_equal(c.user, "alice");
	assert_int_equal(c.n_socks, 1); /* the command line's list replaces the file's */
	assert_string_equal(c.socks[0], "2080");
	assert_int_equal(c.verify, SV_TLS_VERIFY_INSECURE); /* no conflict across layers */
	assert_string_equal(c.verify_source, "command line");
	sv_config_cleanup(&c);
}

static void
config_default_file_is_read_when_it_exists(void **state)
{
	struct sv_config c;
	char err[512] = "";
	put("xdg-config/sevpn-proxy/config", "server = dflt.test\nuser = u\nsocks = 1080\n");
	assert_int_equal(parse(&c, err, sizeof err, NULL), 0);
	assert_string_equal(c.server_host, "dflt.test");
	assert_non_null(strstr(c.config_file, "xdg-config/sevpn-proxy/config"));
	sv_config_cleanup(&c);
	/* --no-config skips it */
	assert_int_equal(parse(&c, err, sizeof err, "--no-config", NULL), SV_E_INVAL);
	assert_non_null(strstr(err, "--server"));
	sv_config_cleanup(&c);
	/* an explicit file must exist */
	assert_int_equal(parse(&c, err, sizeof err, "--config", "/nonexistent/x.conf", NULL),
		SV_E_INVAL);
	assert_non_null(strstr(err, "/nonexistent/x.conf"));
	sv_config_cleanup(&c);
}

static void
config_file_mistakes_name_file_and_line(void **state)
{
	static const struct {
		const char *text;
		const char *msg;
	} cases[] = {
		{ "server = h\nsoks = 1080\n", ":2: unknown key 'soks'" },
		{ "server = h\n\nserver = h:99999\n", ":3: server 'h:99999'" },
		{ "user = a\nconfig = other\n", ":2: 'config' can only be given" },
		{ "insecure = maybe\n", ":1: insecure 'maybe': expected yes or no" },
		{ "server\n", ":1: 'server' needs a value" },
		{ "[server]\nhub = x\n", ":1: unknown section [server]" },
		{ "server = \"h\n", ":1: missing closing" },
		{ "pin = " PIN_HEX "\nca = /x.pem\n", "exclude each other" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct sv_config c;
		char err[512] = "";
		const char *f = put("bad.conf", cases[i].text);
		assert_int_equal(parse(&c, err, sizeof err, "--config", f, "--user", "u",
					 "--socks", "1", NULL),
			SV_E_INVAL);
		if (strstr(err, cases[i].msg) == NULL || strstr(err, "bad.conf") == NULL)
			fail_msg("case %zu: '%s' lacks '%s'", i, err, cases[i].msg);
		sv_config_cleanup(&c);
	}
}

static void
config_profile_applies_only_when_chosen(void **state)
{
	struct sv_config c;
	char err[512] = "";
	const char *f = put("p.conf", "server = home.test\nuser = alice\nsocks = 1080\n"
				      "[profile work]\nserver = work.test\nhub = WORK\n"
				      "[profile lab]\nserver = lab.test\n");
	assert_int_equal(parse(&c, err, sizeof err, "--config", f, NULL), 0);
	assert_string_equal(c.server_host, "home.test");
	assert_string_equal(c.hub, "DEFAULT");
	sv_config_cleanup(&c);
	assert_int_equal(parse(&c, err, sizeof err, "--config", f, "--profile", "work", NULL), 0);
	assert_string_equal(c.server_host, "work.test");
	assert_string_equal(c.hub, "WORK");
	assert_string_equal(c.user, "alice"); /* from the keys before any section */
	sv_config_cleanup(&c);
	assert_int_equal(parse(&c, err, sizeof err, "--config", f, "--profile", "home", NULL),
		SV_E_INVAL);
	assert_non_null(strstr(err, "no [profile home]"));
	sv_config_cleanup(&c);
	assert_int_equal(parse(&c, err, sizeof err, "--no-config", "--profile", "x", NULL),
		SV_E_INVAL);
	assert_non_null(strstr(err, "--config FILE"));
	sv_config_cleanup(&c);
}

static void
config_file_paths_are_relative_to_the_file(void **state)
{
	struct sv_config c;
	char err[512] = "", want[400];
	const char *f = put("etc/p.conf", "server = h\nuser = u\nsocks = 1\n"
					  "password-file = secret.txt\nca = ~/ca.pem\n"
					  "log-file = /var/log/x.log\n");
	assert_int_equal(parse(&c, err, sizeof err, "--config", f, NULL), 0);
	snprintf(want, sizeof want, "%s/etc/secret.txt", tmpdir);
	assert_string_equal(c.password_file, want);
	snprintf(want, sizeof want, "%s/ca.pem", tmpdir);
	assert_string_equal(c.ca_file, want);
	assert_string_equal(c.log_file, "/var/log/x.log");
	sv_config_cleanup(&c);
}

static void
config_password_env_and_file_replace_each_other(void **state)
{
	struct sv_config c;
	char err[512] = "";
	const char *f = put("a.conf", "server = h\nuser = u\nsocks = 1\npassword-env = MY_PW\n");
	assert_int_equal(parse(&c, err, sizeof err, "--config", f, NULL), 0);
	assert_string_equal(c.password_env, "MY_PW");
	assert_null(c.password_file);
	sv_config_cleanup(&c);
	assert_int_equal(parse(&c, err, sizeof err, "--config", f, "--password-file", "/p", NULL),
		0);
	assert_null(c.password_env);
	assert_string_equal(c.password_file, "/p");
	sv_config_cleanup(&c);
	assert_int_equal(parse(&c, err, sizeof err, "--config", f, "--password-env", "A=B",
				 NULL),
		SV_E_INVAL);
	assert_non_null(strstr(err, "environment variable"));
	sv_config_cleanup(&c);
}

static void
config_account_supplies_server_user_hash_and_proxy(void **state)
{
	struct sv_config c;
	char err[512] = "";
	uint8_t want[20];
	assert_int_equal(parse(&c, err, sizeof err, "--account", vpn_data("spec-demo.vpn"),
				 "--socks", "1080", NULL),
		0);
	assert_string_equal(c.server_host, "vpn.example.com");
	assert_int_equal(c.server_port, 443);
	assert_string_equal(c.hub, "DEFAULT");
	assert_string_equal(c.user, "alice");
	assert_int_equal(c.authtype, SV_AUTH_PASSWORD);
	assert_true(c.have_password_hash);
	sv_auth_password_hash(want, "alice", "Secr3tPass", strlen("Secr3tPass"));
	assert_memory_equal(c.password_hash, want, 20);
	/* CheckServerCert without ServerCert: our default, never insecure */
	assert_int_equal(c.verify, SV_TLS_VERIFY_CA);
	assert_true(c.use_upstream);
	assert_int_equal(c.upstream.kind, SV_UPSTREAM_HTTP);
	assert_string_equal(c.upstream.host, "proxy.example.com");
	assert_int_equal(c.upstream.port, 8080);
	assert_string_equal(c.upstream.user, "puser");
	assert_string_equal(c.upstream.pass, "ppass");
	assert_string_equal(c.upstream_source, "account");
	sv_config_cleanup(&c);
}

static void
config_command_line_overrides_the_account(void **state)
{
	struct sv_config c;
	char err[512] = "";
	/* another user: the stored hash (made with the account's user name) is dropped */
	assert_int_equal(parse(&c, err, sizeof err, "--account", vpn_data("spec-demo.vpn"),
				 "--socks", "1080", "--user", "bob", "--hub", "H",
				 "--no-upstream-proxy", NULL),
		0);
	assert_string_equal(c.user, "bob");
	assert_string_equal(c.hub, "H");
	assert_false(c.have_password_hash);
	assert_false(c.use_upstream);
	sv_config_cleanup(&c);
	/* the same user in another case keeps it (SoftEther upper-cases the name) */
	assert_int_equal(parse(&c, err, sizeof err, "--account", vpn_data("spec-demo.vpn"),
				 "--socks", "1080", "--user", "ALICE", NULL),
		0);
	assert_true(c.have_password_hash);
	sv_config_cleanup(&c);
	/* another auth type drops it too */
	assert_int_equal(parse(&c, err, sizeof err, "--account", vpn_data("spec-demo.vpn"),
				 "--socks", "1080", "--auth", "plain", NULL),
		0);
	assert_false(c.have_password_hash);
	sv_config_cleanup(&c);
	/* an explicit upstream proxy replaces the account's */
	assert_int_equal(parse(&c, err, sizeof err, "--account", vpn_data("spec-demo.vpn"),
				 "--socks", "1080", "--upstream-proxy", "socks5://p.test:9050",
				 NULL),
		0);
	assert_true(c.use_upstream);
	assert_int_equal(c.upstream.kind, SV_UPSTREAM_SOCKS5);
	assert_string_equal(c.upstream.host, "p.test");
	assert_string_equal(c.upstream_source, "--upstream-proxy");
	sv_config_cleanup(&c);
}

static void
config_account_plain_and_cert_credentials(void **state)
{
	struct sv_config c;
	char err[512] = "";
	assert_int_equal(parse(&c, err, sizeof err, "--account", vpn_data("radius.vpn"),
				 "--socks", "1080", NULL),
		0);
	assert_int_equal(c.authtype, SV_AUTH_PLAIN);
	assert_string_equal(c.stored_password, "RadPass1");
	assert_false(c.use_upstream);
	sv_config_cleanup(&c);
	assert_int_equal(parse(&c, err, sizeof err, "--account", vpn_data("cert.vpn"),
				 "--socks", "1080", "--no-upstream-proxy", NULL),
		0);
	assert_int_equal(c.authtype, SV_AUTH_CERT);
	assert_string_equal(c.user, "carol");
	assert_string_equal(c.hub, "My Hub$");
	assert_int_equal(c.server_port, 5555);
	assert_non_null(c.account_cert);
	assert_non_null(c.account_key);
	/* ServerCert: the pin, the SHA-256 of tests/data/tls/self.der */
	assert_int_equal(c.verify, SV_TLS_VERIFY_PIN);
	assert_string_equal(c.verify_source, "account");
	assert_int_equal(c.pin[0], 0x42);
	assert_int_equal(c.pin[31], 0xc8);
	sv_config_cleanup(&c);
	/* --cert/--key replace the account's */
	assert_int_equal(parse(&c, err, sizeof err, "--account", vpn_data("cert.vpn"),
				 "--socks", "1080", "--no-upstream-proxy", "--cert", "/c",
				 "--key", "/k", "--system-ca", NULL),
		0);
	assert_null(c.account_cert);
	assert_int_equal(c.verify, SV_TLS_VERIFY_CA);
	sv_config_cleanup(&c);
}

static void
config_account_from_the_file_and_its_errors(void **state)
{
	struct sv_config c;
	char err[512] = "";
	const char *f = put("a.conf", "socks = 1080\n[profile spec]\naccount = ../acct.vpn\n");
	put("acct.vpn", "declare root\n{\n\tdeclare ClientAuth\n\t{\n\t\tuint AuthType 0\n"
			"\t}\n\tdeclare ClientOption\n\t{\n\t\tstring Hostname from.vpn\n"
			"\t\tstring HubName H\n\t\tuint ProxyType 2\n\t\tstring ProxyName p\n"
			"\t\tuint ProxyPort 1080\n\t}\n}\n");
	mkdir(tmpdir, 0700);
	char conf[400];
	snprintf(conf, sizeof conf, "%s", f);
	/* relative to the file's directory: tmpdir/../acct.vpn does not exist */
	assert_int_equal(parse(&c, err, sizeof err, "--config", conf, "--profile", "spec", NULL),
		SV_E_INVAL);
	assert_non_null(strstr(err, "acct.vpn"));
	sv_config_cleanup(&c);
	f = put("sub/a.conf", "socks = 1080\n[profile spec]\naccount = ../acct.vpn\n");
	assert_int_equal(parse(&c, err, sizeof err, "--config", f, "--profile", "spec", NULL),
		SV_E_INVAL);
	assert_non_null(strstr(err, "SOCKS4")); /* the account's proxy cannot be used */
	sv_config_cleanup(&c);
	assert_int_equal(parse(&c, err, sizeof err, "--config", f, "--profile", "spec",
				 "--no-upstream-proxy", NULL),
		0);
	assert_string_equal(c.server_host, "from.vpn");
	assert_string_equal(c.user, "anonymous");
	assert_int_equal(c.authtype, SV_AUTH_ANONYMOUS);
	sv_config_cleanup(&c);
	f = put("evil.vpn", "declare root\n{\n\tdeclare ClientAuth\n\t{\n\t\tuint AuthType 0\n"
			    "\t}\n\tdeclare ClientOption\n\t{\n\t\tstring Hostname a/b$0Ac\n"
			    "\t\tstring HubName H\n\t}\n}\n");
	assert_int_equal(parse(&c, err, sizeof err, "--account", f, "--socks", "1", NULL),
		SV_E_INVAL);
	assert_non_null(strstr(err, "Hostname"));
	sv_config_cleanup(&c);
	f = put("bad.vpn", "declare root\n{\n");
	assert_int_equal(parse(&c, err, sizeof err, "--account", f, "--socks", "1", NULL),
		SV_E_INVAL);
	assert_non_null(strstr(err, "bad.vpn"));
	assert_non_null(strstr(err, "missing '}'"));
	sv_config_cleanup(&c);
}

static void
config_upstream_proxy_from_option_file_and_environment(void **state)
{
	struct sv_config c;
	char err[512] = "";
	const char *f = put("a.conf", "server = vpn.test\nuser = u\nsocks = 1\n"
				      "upstream-proxy = http://u:p%40ss@proxy.test:3128\n");
	assert_int_equal(parse(&c, err, sizeof err, "--config", f, NULL), 0);
	assert_true(c.use_upstream);
	assert_string_equal(c.upstream.pass, "p@ss");
	sv_config_cleanup(&c);
	assert_int_equal(parse(&c, err, sizeof err, "--config", f, "--no-upstream-proxy", NULL),
		0);
	assert_false(c.use_upstream);
	assert_null(c.upstream_proxy);
	sv_config_cleanup(&c);
	assert_int_equal(parse(&c, err, sizeof err, "--server", "vpn.test", "--user", "u",
				 "--socks", "1", "--upstream-proxy", "socks4://x", NULL),
		SV_E_INVAL);
	assert_non_null(strstr(err, "--upstream-proxy"));
	sv_config_cleanup(&c);
	setenv("HTTPS_PROXY", "http://env.test:8080", 1);
	assert_int_equal(parse(&c, err, sizeof err, "--server", "vpn.test", "--user", "u",
				 "--socks", "1", NULL),
		0);
	assert_true(c.use_upstream);
	assert_string_equal(c.upstream.host, "env.test");
	assert_string_equal(c.upstream_source, "HTTPS_PROXY");
	sv_config_cleanup(&c);
	setenv("NO_PROXY", ".test", 1);
	assert_int_equal(parse(&c, err, sizeof err, "--server", "vpn.test", "--user", "u",
				 "--socks", "1", NULL),
		0);
	assert_false(c.use_upstream);
	sv_config_cleanup(&c);
	unsetenv("NO_PROXY");
	unsetenv("HTTPS_PROXY");
}

static void
config_known_server_is_pinned_without_options(void **state)
{
	struct sv_config c;
	char err[512] = "";
	const char *k = put("xdg-data/sevpn-proxy/known_servers",
		"# comment\nvpn.test:443 " PIN_HEX "\n");
	assert_int_equal(parse(&c, err, sizeof err, "--server", "vpn.test", "--user", "u",
				 "--socks", "1", NULL),
		0);
	assert_int_equal(c.verify, SV_TLS_VERIFY_PIN);
	assert_int_equal(c.known_line, 2);
	assert_string_equal(c.known_servers, k);
	assert_int_equal(c.pin[0], 0x87);
	assert_false(c.tofu_record);
	sv_config_cleanup(&c);
	/* another port is another server: the system CAs, as by default */
	assert_int_equal(parse(&c, err, sizeof err, "--server", "vpn.test:992", "--user", "u",
				 "--socks", "1", NULL),
		0);
	assert_int_equal(c.verify, SV_TLS_VERIFY_CA);
	assert_int_equal(c.known_line, 0);
	sv_config_cleanup(&c);
	/* an explicit choice wins over the file */
	assert_int_equal(parse(&c, err, sizeof err, "--server", "vpn.test", "--user", "u",
				 "--socks", "1", "--system-ca", NULL),
		0);
	assert_int_equal(c.verify, SV_TLS_VERIFY_CA);
	assert_int_equal(c.known_line, 0);
	sv_config_cleanup(&c);
}

static void
config_trust_on_first_use_records_only_unknown_servers(void **state)
{
	struct sv_config c;
	char err[512] = "", known[400];
	snprintf(known, sizeof known, "%s/k/known", tmpdir);
	assert_int_equal(parse(&c, err, sizeof err, "--server", "new.test", "--user", "u",
				 "--socks", "1", "--trust-on-first-use", "--known-servers",
				 known, NULL),
		0);
	assert_true(c.tofu);
	assert_true(c.tofu_record);
	assert_int_equal(c.verify, SV_TLS_VERIFY_INSECURE);
	assert_string_equal(c.known_servers, known);
	sv_config_cleanup(&c);
	uint8_t pin[32] = { 0xab };
	assert_int_equal(sv_known_servers_add(known, "new.test", 443, pin), 0);
	assert_int_equal(parse(&c, err, sizeof err, "--server", "new.test", "--user", "u",
				 "--socks", "1", "--trust-on-first-use", "--known-servers",
				 known, NULL),
		0);
	assert_false(c.tofu_record);
	assert_int_equal(c.verify, SV_TLS_VERIFY_PIN);
	assert_int_equal(c.pin[0], 0xab);
	assert_int_equal(c.known_line, 1);
	sv_config_cleanup(&c);
	/* a damaged file is an error naming its line, not "never seen" */
	const char *bad = put("bad_known", "new.test:443 zz\n");
	assert_int_equal(parse(&c, err, sizeof err, "--server", "new.test", "--user", "u",
				 "--socks", "1", "--trust-on-first-use", "--known-servers",
				 bad, NULL),
		SV_E_INVAL);
	assert_non_null(strstr(err, "bad_known:1:"));
	sv_config_cleanup(&c);
}

static void
config_print_shows_settings_but_no_secrets(void **state)
{
	struct sv_config c;
	char err[512] = "", out[4096] = "";
	assert_int_equal(parse(&c, err, sizeof err, "--account", vpn_data("spec-demo.vpn"),
				 "--socks", "1080", "--upstream-proxy",
				 "http://bob:hunter2@proxy.test:3128", "--check-config", NULL),
		0);
	assert_true(c.check_config);
	FILE *f = fmemopen(out, sizeof out - 1, "w");
	assert_non_null(f);
	sv_config_print(&c, f);
	fclose(f);
	assert_non_null(strstr(out, "server = vpn.example.com:443\n"));
	assert_non_null(strstr(out, "user = alice\n"));
	assert_non_null(strstr(out, "socks = 1080\n"));
	assert_non_null(strstr(out, "system-ca = yes\n"));
	assert_non_null(strstr(out, "proxy.test:3128"));
	assert_null(strstr(out, "hunter2"));
	assert_null(strstr(out, "ppass"));
	assert_null(strstr(out, "9C9Hs"));
	sv_config_cleanup(&c);
}

static void
config_printed_settings_read_back_the_same(void **state)
{
	struct sv_config c, d;
	char err[512] = "", out[4096] = "";
	assert_int_equal(parse(&c, err, sizeof err, "--server", "[fd00::1]:5555", "--hub",
				 "My \"Hub\" #1", "--user", "u", "--pin", PIN, "--socks", "1",
				 "--socks", "[::1]:2", "--log-level", "debug", NULL),
		0);
	FILE *f = fmemopen(out, sizeof out - 1, "w");
	sv_config_print(&c, f);
	fclose(f);
	const char *path = put("printed.conf", out);
	assert_int_equal(parse(&d, err, sizeof err, "--config", path, NULL), 0);
	assert_string_equal(d.server_host, "fd00::1");
	assert_int_equal(d.server_port, 5555);
	assert_string_equal(d.hub, "My \"Hub\" #1");
	assert_memory_equal(d.pin, c.pin, 32);
	assert_int_equal(d.n_socks, 2);
	assert_int_equal(d.log_level, c.log_level);
	sv_config_cleanup(&c);
	sv_config_cleanup(&d);
}

static void
config_help_ignores_everything_else(void **state)
{
	struct sv_config c;
	char err[512] = "";
	assert_int_equal(parse(&c, err, sizeof err, "--config", "/nonexistent", "--help", NULL),
		0);
	assert_true(c.want_help);
	sv_config_cleanup(&c);
	assert_int_equal(parse(&c, err, sizeof err, "--version", NULL), 0);
	assert_true(c.want_version);
	sv_config_cleanup(&c);
}

int
main(void)
{
	struct CMUnitTest tests[] = {
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
		cmocka_unit_test(config_file_supplies_every_setting),
		cmocka_unit_test(config_command_line_overrides_the_file),
		cmocka_unit_test(config_default_file_is_read_when_it_exists),
		cmocka_unit_test(config_file_mistakes_name_file_and_line),
		cmocka_unit_test(config_profile_applies_only_when_chosen),
		cmocka_unit_test(config_file_paths_are_relative_to_the_file),
		cmocka_unit_test(config_password_env_and_file_replace_each_other),
		cmocka_unit_test(config_account_supplies_server_user_hash_and_proxy),
		cmocka_unit_test(config_command_line_overrides_the_account),
		cmocka_unit_test(config_account_plain_and_cert_credentials),
		cmocka_unit_test(config_account_from_the_file_and_its_errors),
		cmocka_unit_test(config_upstream_proxy_from_option_file_and_environment),
		cmocka_unit_test(config_known_server_is_pinned_without_options),
		cmocka_unit_test(config_trust_on_first_use_records_only_unknown_servers),
		cmocka_unit_test(config_print_shows_settings_but_no_secrets),
		cmocka_unit_test(config_printed_settings_read_back_the_same),
		cmocka_unit_test(config_help_ignores_everything_else),
	};
	/* every test: a fresh HOME and XDG directories, no proxy variables */
	for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
		tests[i].setup_func = setup;
		tests[i].teardown_func = teardown;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
