/*
 * The local proxy's options in the configuration (platform/config.c): listeners of each
 * kind, credentials for them and where the password comes from, the rule that a listener
 * other machines can reach needs credentials, client limit and idle timeout. Every test
 * runs without the default configuration file (--no-config) and without
 * SEVPN_PROXY_PASSWORD unless it sets it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/err.h"
#include "platform/config.h"

#include "support/config_args.h" /* parse() */

static int
setup(void **state)
{
	(void)state;
	unsetenv("SEVPN_PROXY_PASSWORD");
	return 0;
}

/* A file with the given content in a fresh temporary directory; path written to out. */
static void
write_temp(char out[static 64], const char *name, const char *content)
{
	char dir[] = "/tmp/sv-proxyopt.XXXXXX";
	FILE *f;

	assert_non_null(mkdtemp(dir));
	snprintf(out, 64, "%s/%s", dir, name);
	assert_non_null(f = fopen(out, "w"));
	fputs(content, f);
	fclose(f);
}

static void
remove_temp(const char *path)
{
	char dir[64];
	char *slash;

	unlink(path);
	snprintf(dir, sizeof dir, "%s", path);
	if ((slash = strrchr(dir, '/')) != NULL) {
		*slash = '\0';
		rmdir(dir);
	}
}

static void
proxy_options_have_documented_defaults(void **state)
{
	struct sv_config c;
	char err[512] = "";

	(void)state;
	assert_int_equal(parse(&c, err, sizeof err, "--socks", "1080", NULL), 0);
	assert_int_equal(c.max_clients, 10000);
	assert_int_equal(c.idle_timeout_ms, 7200u * 1000u);
	assert_null(c.proxy_user);
	assert_null(c.proxy_password);
	assert_false(c.allow_unauthenticated_remote);
	sv_config_cleanup(&c);
}

static void
proxy_and_http_listeners_are_enough_without_socks(void **state)
{
	struct sv_config c;
	char err[512] = "";

	(void)state;
	assert_int_equal(parse(&c, err, sizeof err, "--proxy", "8080", "--http",
		"unix:/tmp/h.sock", "--proxy", "[::1]:8081", NULL), 0);
	assert_int_equal(c.n_socks, 0);
	assert_int_equal(c.n_proxy, 2);
	assert_string_equal(c.proxy[1], "[::1]:8081");
	assert_int_equal(c.n_http, 1);
	assert_string_equal(c.http[0], "unix:/tmp/h.sock");
	sv_config_cleanup(&c);
	assert_int_equal(parse(&c, err, sizeof err, NULL), SV_E_INVAL);
	assert_non_null(strstr(err, "--proxy"));
	sv_config_cleanup(&c);
}

static void
unix_listener_needs_a_path(void **state)
{
	struct sv_config c;
	char err[512] = "";

	(void)state;
	assert_int_equal(parse(&c, err, sizeof err, "--socks", "unix:", NULL), SV_E_INVAL);
	assert_non_null(strstr(err, "unix:PATH"));
	sv_config_cleanup(&c);
}

static void
remote_listener_without_credentials_is_refused(void **state)
{
	static const char *const flags[] = { "--socks", "--proxy", "--http" };
	struct sv_config c;
	char err[512] = "";

	(void)state;
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(parse(&c, err, sizeof err, "--socks", "1080", flags[i],
			"0.0.0.0:1081", NULL), SV_E_INVAL);
		assert_non_null(strstr(err, "0.0.0.0:1081"));
		assert_non_null(strstr(err, "--allow-unauthenticated-remote"));
		sv_config_cleanup(&c);
	}
	assert_int_equal(parse(&c, err, sizeof err, "--http", "192.168.1.2:3128",
		"--allow-unauthenticated-remote", NULL), 0);
	sv_config_cleanup(&c);
	assert_int_equal(parse(&c, err, sizeof err, "--socks", "[::1]:1080", "--proxy",
		"localhost:8080", "--http", "unix:/tmp/x", NULL), 0);
	sv_config_cleanup(&c);
}

static void
remote_listener_with_credentials_is_accepted(void **state)
{
	struct sv_config c;
	char err[512] = "";

	(void)state;
	setenv("SEVPN_PROXY_PASSWORD", "s3cret", 1);
	assert_int_equal(parse(&c, err, sizeof err, "--proxy", "0.0.0.0:8080",
		"--proxy-user", "alice", NULL), 0);
	assert_string_equal(c.proxy_user, "alice");
	assert_string_equal(c.proxy_password, "s3cret");
	sv_config_cleanup(&c);
	unsetenv("SEVPN_PROXY_PASSWORD");
}

static void
proxy_user_needs_a_password(void **state)
{
	struct sv_config c;
	char err[512] = "";

	(void)state;
	assert_int_equal(parse(&c, err, sizeof err, "--socks", "1080", "--proxy-user",
		"alice", NULL), SV_E_INVAL);
	assert_non_null(strstr(err, "SEVPN_PROXY_PASSWORD"));
	sv_config_cleanup(&c);
	setenv("SEVPN_PROXY_PASSWORD", "", 1);
	assert_int_equal(parse(&c, err, sizeof err, "--socks", "1080", "--proxy-user",
		"alice", NULL), SV_E_INVAL);
	sv_config_cleanup(&c);
	unsetenv("SEVPN_PROXY_PASSWORD");
}

static void
proxy_password_file_gives_its_first_line(void **state)
{
	struct sv_config c;
	char err[512] = "", path[64];

	(void)state;
	write_temp(path, "pw", "two words\r\nsecond line\n");
	assert_int_equal(parse(&c, err, sizeof err, "--socks", "1080", "--proxy-user",
		"alice", "--proxy-password-file", path, NULL), 0);
	assert_string_equal(c.proxy_password, "two words");
	sv_config_cleanup(&c);
	/* the environment wins, as for the VPN password */
	setenv("SEVPN_PROXY_PASSWORD", "from-env", 1);
	assert_int_equal(parse(&c, err, sizeof err, "--socks", "1080", "--proxy-user",
		"alice", "--proxy-password-file", path, NULL), 0);
	assert_string_equal(c.proxy_password, "from-env");
	sv_config_cleanup(&c);
	unsetenv("SEVPN_PROXY_PASSWORD");
	remove_temp(path);
	assert_int_equal(parse(&c, err, sizeof err, "--socks", "1080", "--proxy-user",
		"alice", "--proxy-password-file", path, NULL), SV_E_INVAL);
	assert_non_null(strstr(err, path));
	sv_config_cleanup(&c);
}

static void
proxy_user_with_colon_or_too_long_is_refused(void **state)
{
	struct sv_config c;
	char err[512] = "", long_user[300];

	(void)state;
	assert_int_equal(parse(&c, err, sizeof err, "--socks", "1080", "--proxy-user",
		"a:b", NULL), SV_E_INVAL);
	sv_config_cleanup(&c);
	memset(long_user, 'u', 256);
	long_user[256] = '\0';
	assert_int_equal(parse(&c, err, sizeof err, "--socks", "1080", "--proxy-user",
		long_user, NULL), SV_E_INVAL);
	sv_config_cleanup(&c);
}

static void
max_clients_and_idle_timeout_are_checked(void **state)
{
	struct sv_config c;
	char err[512] = "";

	(void)state;
	assert_int_equal(parse(&c, err, sizeof err, "--socks", "1080", "--max-clients", "50",
		"--idle-timeout", "0", NULL), 0);
	assert_int_equal(c.max_clients, 50);
	assert_int_equal(c.idle_timeout_ms, 0);
	sv_config_cleanup(&c);
	assert_int_equal(parse(&c, err, sizeof err, "--socks", "1080", "--max-clients", "0",
		NULL), SV_E_INVAL);
	sv_config_cleanup(&c);
	assert_int_equal(parse(&c, err, sizeof err, "--socks", "1080", "--max-clients",
		"12x", NULL), SV_E_INVAL);
	sv_config_cleanup(&c);
	assert_int_equal(parse(&c, err, sizeof err, "--socks", "1080", "--idle-timeout",
		"-5", NULL), SV_E_INVAL);
	sv_config_cleanup(&c);
	assert_int_equal(parse(&c, err, sizeof err, "--socks", "1080", "--idle-timeout",
		"2592001", NULL), SV_E_INVAL);
	sv_config_cleanup(&c);
}

static void
max_conns_per_client_and_resolve_local_are_checked(void **state)
{
	struct sv_config c;
	char err[512] = "";

	(void)state;
	assert_int_equal(parse(&c, err, sizeof err, "--socks", "1080", NULL), 0);
	assert_int_equal(c.max_conns_per_client, 0); /* no limit by default */
	assert_int_equal(c.n_resolve_local, 0);
	sv_config_cleanup(&c);
	assert_int_equal(parse(&c, err, sizeof err, "--socks", "1080",
		"--max-conns-per-client", "20", "--resolve-local", "intranet",
		"--resolve-local", "*.corp.example", "--resolve-local", ".lan", NULL), 0);
	assert_int_equal(c.max_conns_per_client, 20);
	assert_int_equal(c.n_resolve_local, 3);
	assert_string_equal(c.resolve_local[1], "*.corp.example");
	sv_config_cleanup(&c);
	assert_int_equal(parse(&c, err, sizeof err, "--socks", "1080",
		"--max-conns-per-client", "-1", NULL), SV_E_INVAL);
	assert_non_null(strstr(err, "--max-conns-per-client"));
	sv_config_cleanup(&c);
	assert_int_equal(parse(&c, err, sizeof err, "--socks", "1080", "--resolve-local",
		"bad name", NULL), SV_E_INVAL);
	assert_non_null(strstr(err, "--resolve-local 'bad name'"));
	sv_config_cleanup(&c);
	assert_int_equal(parse(&c, err, sizeof err, "--socks", "1080", "--resolve-local",
		"*corp", NULL), SV_E_INVAL);
	sv_config_cleanup(&c);
}

static void
max_buffer_memory_takes_size_suffixes(void **state)
{
	static const struct {
		const char *arg;
		size_t want; /* 0: refused */
	} cases[] = {
		{ "64M", 64u << 20 }, { "2G", (size_t)2 << 30 }, { "4096K", 4u << 20 },
		{ "128MiB", 128u << 20 }, { "1048576", 1u << 20 }, { "512K", 0 },
		{ "0", 0 }, { "-1M", 0 }, { "12X", 0 }, { "2000G", 0 }, { "M", 0 },
	};
	struct sv_config c;
	char err[512] = "";

	(void)state;
	assert_int_equal(parse(&c, err, sizeof err, "--socks", "1080", NULL), 0);
	assert_int_equal(c.max_buffer_memory, 64u << 20); /* the default */
	sv_config_cleanup(&c);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int r = parse(&c, err, sizeof err, "--socks", "1080", "--max-buffer-memory",
			cases[i].arg, NULL);
		if (cases[i].want == 0) {
			assert_int_equal(r, SV_E_INVAL);
			assert_non_null(strstr(err, "--max-buffer-memory"));
		} else {
			assert_int_equal(r, 0);
			assert_int_equal(c.max_buffer_memory, cases[i].want);
		}
		sv_config_cleanup(&c);
	}
}

static void
config_file_sets_listeners_and_limits(void **state)
{
	struct sv_config c;
	char err[512] = "", path[64];
	char *argv[] = { "sevpn-proxy", "--config", path, "--proxy", "9090", NULL };

	(void)state;
	write_temp(path, "config", "server = vpn.test\nuser = bob\ninsecure = yes\n"
		"proxy = 8080\nhttp = 3128\nmax-clients = 7\nidle-timeout = 60\n"
		"max-conns-per-client = 3\nresolve-local = a.example\n"
		"resolve-local = *.b.example\n"
		"allow-unauthenticated-remote = yes\n");
	sv_config_init(&c);
	assert_int_equal(sv_config_parse(&c, 5, argv, err, sizeof err), 0);
	/* the command line's --proxy replaces the file's list; --http stays */
	assert_int_equal(c.n_proxy, 1);
	assert_string_equal(c.proxy[0], "9090");
	assert_int_equal(c.n_http, 1);
	assert_string_equal(c.http[0], "3128");
	assert_int_equal(c.max_clients, 7);
	assert_int_equal(c.idle_timeout_ms, 60000);
	assert_int_equal(c.max_conns_per_client, 3);
	assert_int_equal(c.n_resolve_local, 2);
	assert_string_equal(c.resolve_local[0], "a.example");
	assert_string_equal(c.resolve_local[1], "*.b.example");
	assert_true(c.allow_unauthenticated_remote);
	sv_config_cleanup(&c);
	remove_temp(path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(proxy_options_have_documented_defaults, setup),
		cmocka_unit_test_setup(proxy_and_http_listeners_are_enough_without_socks, setup),
		cmocka_unit_test_setup(unix_listener_needs_a_path, setup),
		cmocka_unit_test_setup(remote_listener_without_credentials_is_refused, setup),
		cmocka_unit_test_setup(remote_listener_with_credentials_is_accepted, setup),
		cmocka_unit_test_setup(proxy_user_needs_a_password, setup),
		cmocka_unit_test_setup(proxy_password_file_gives_its_first_line, setup),
		cmocka_unit_test_setup(proxy_user_with_colon_or_too_long_is_refused, setup),
		cmocka_unit_test_setup(max_clients_and_idle_timeout_are_checked, setup),
		cmocka_unit_test_setup(max_conns_per_client_and_resolve_local_are_checked, setup),
		cmocka_unit_test_setup(max_buffer_memory_takes_size_suffixes, setup),
		cmocka_unit_test_setup(config_file_sets_listeners_and_limits, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
