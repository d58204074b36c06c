/*
 * Forward specifications (socks/forward.c sv_forward_parse) and their options in the
 * configuration (platform/config.c): -L [BIND:]PORT:HOST:HOSTPORT, -L udp:...,
 * -R PORT:HOST:HOSTPORT, --stdio HOST:PORT, IPv6 in brackets, the config file keys, and
 * that forwards or --stdio stand in for a proxy listener.
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
#include "socks/forward.h"

static int
parse_spec(const char *s, enum sv_fwd_kind kind, struct sv_forward_spec *f)
{
	char err[256] = "";
	int r = sv_forward_parse(s, kind, f, err, sizeof err);

	if (r != 0)
		assert_true(strlen(err) > 0); /* every refusal says why */
	return r;
}

static void
local_tcp_with_default_bind(void **state)
{
	struct sv_forward_spec f;

	(void)state;
	assert_int_equal(parse_spec("8080:intranet.test:80", SV_FWD_LOCAL_TCP, &f), 0);
	assert_int_equal(f.kind, SV_FWD_LOCAL_TCP);
	assert_string_equal(f.bind, "127.0.0.1");
	assert_int_equal(f.port, 8080);
	assert_string_equal(f.host, "intranet.test");
	assert_int_equal(f.hostport, 80);
}

static void
local_tcp_with_bind_star_and_localhost(void **state)
{
	struct sv_forward_spec f;

	(void)state;
	assert_int_equal(parse_spec("*:8080:10.0.0.5:22", SV_FWD_LOCAL_TCP, &f), 0);
	assert_string_equal(f.bind, "0.0.0.0");
	assert_string_equal(f.host, "10.0.0.5");
	assert_int_equal(parse_spec("localhost:1:h:2", SV_FWD_LOCAL_TCP, &f), 0);
	assert_string_equal(f.bind, "127.0.0.1");
	assert_int_equal(parse_spec("tcp:192.168.1.2:9:h:2", SV_FWD_LOCAL_TCP, &f), 0);
	assert_int_equal(f.kind, SV_FWD_LOCAL_TCP);
	assert_string_equal(f.bind, "192.168.1.2");
}

static void
local_udp_prefix_picks_udp(void **state)
{
	struct sv_forward_spec f;

	(void)state;
	assert_int_equal(parse_spec("udp:5353:10.77.0.1:53", SV_FWD_LOCAL_TCP, &f), 0);
	assert_int_equal(f.kind, SV_FWD_LOCAL_UDP);
	assert_string_equal(f.bind, "127.0.0.1");
	assert_int_equal(f.port, 5353);
	assert_int_equal(f.hostport, 53);
}

static void
ipv6_in_brackets_everywhere(void **state)
{
	struct sv_forward_spec f;
	char out[400];

	(void)state;
	assert_int_equal(parse_spec("[::1]:8080:[fd00::5]:80", SV_FWD_LOCAL_TCP, &f), 0);
	assert_string_equal(f.bind, "::1");
	assert_string_equal(f.host, "fd00::5");
	sv_forward_format(&f, out, sizeof out);
	assert_string_equal(out, "[::1]:8080:[fd00::5]:80");
	assert_int_equal(parse_spec("[fd00::5]:22", SV_FWD_STDIO, &f), 0);
	assert_string_equal(f.host, "fd00::5");
	assert_int_equal(f.hostport, 22);
}

static void
remote_forward(void **state)
{
	struct sv_forward_spec f;
	char out[400];

	(void)state;
	assert_int_equal(parse_spec("2222:localhost:22", SV_FWD_REMOTE, &f), 0);
	assert_int_equal(f.kind, SV_FWD_REMOTE);
	assert_int_equal(f.port, 2222);
	assert_string_equal(f.host, "localhost");
	assert_int_equal(f.hostport, 22);
	sv_forward_format(&f, out, sizeof out);
	assert_string_equal(out, "2222:localhost:22");
	/* -R takes no bind address, and port 0 is no port on the tunnel */
	assert_int_equal(parse_spec("1.2.3.4:2222:localhost:22", SV_FWD_REMOTE, &f),
		SV_E_INVAL);
	assert_int_equal(parse_spec("0:localhost:22", SV_FWD_REMOTE, &f), SV_E_INVAL);
}

static void
malformed_specs_are_refused(void **state)
{
	static const char *const bad[] = {
		"", "8080", "8080:host", "8080:host:", ":host:80", "8080::80",
		"70000:h:80", "8080:h:70000", "8080:h:0", "8080:h:8x", "-1:h:80",
		"1:2:3:4:5", "::1:8080:h:80", "[::1:8080:h:80", "[::1]x:8080:h:80",
		"[host]:8080:h:80", "notanip:8080:h:80", "8080:bad host:80",
		"8080:h/x:80", "8080:[]:80", "udp:", "udp:8080:h",
		"8080:[fd00::zz]:80", "8080:fd00::5:80",
	};
	struct sv_forward_spec f;

	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (parse_spec(bad[i], SV_FWD_LOCAL_TCP, &f) != SV_E_INVAL)
			fail_msg("accepted bad -L spec '%s'", bad[i]);
	}
	assert_int_equal(parse_spec("host", SV_FWD_STDIO, &f), SV_E_INVAL);
	assert_int_equal(parse_spec("host:22:33", SV_FWD_STDIO, &f), SV_E_INVAL);
	assert_int_equal(parse_spec("host:0", SV_FWD_STDIO, &f), SV_E_INVAL);
}

static void
long_host_is_refused_not_truncated(void **state)
{
	char s[600];
	struct sv_forward_spec f;

	(void)state;
	memset(s, 'a', sizeof s);
	memcpy(s, "80:", 3);
	memcpy(s + 300, ":80", 4);
	assert_int_equal(parse_spec(s, SV_FWD_LOCAL_TCP, &f), SV_E_INVAL);
	/* 255 bytes fit */
	memset(s, 'a', sizeof s);
	memcpy(s, "80:", 3);
	memcpy(s + 3 + 255, ":80", 4);
	assert_int_equal(parse_spec(s, SV_FWD_LOCAL_TCP, &f), 0);
	assert_int_equal(strlen(f.host), 255);
}

/* --- the options --------------------------------------------------------------------- */

#include "support/config_args.h" /* parse() */

static void
forwards_alone_need_no_socks_listener(void **state)
{
	struct sv_config c;
	char err[512] = "";

	(void)state;
	assert_int_equal(parse(&c, err, sizeof err, "-L", "8080:intranet.test:80",
		"-L", "udp:5353:10.77.0.1:53", "--remote-forward", "2222:127.0.0.1:22", NULL), 0);
	assert_int_equal(c.n_fwd, 3);
	assert_int_equal(c.n_socks, 0);
	assert_int_equal(c.fwd[0].kind, SV_FWD_LOCAL_TCP);
	assert_int_equal(c.fwd[1].kind, SV_FWD_LOCAL_UDP);
	assert_int_equal(c.fwd[2].kind, SV_FWD_REMOTE);
	sv_config_cleanup(&c);
}

static void
stdio_alone_needs_no_listener(void **state)
{
	struct sv_config c;
	char err[512] = "";

	(void)state;
	assert_int_equal(parse(&c, err, sizeof err, "--stdio", "git.test:22", NULL), 0);
	assert_true(c.have_stdio);
	assert_string_equal(c.stdio.host, "git.test");
	assert_int_equal(c.stdio.hostport, 22);
	sv_config_cleanup(&c);
}

static void
nothing_to_serve_is_still_an_error(void **state)
{
	struct sv_config c;
	char err[512] = "";

	(void)state;
	assert_int_equal(parse(&c, err, sizeof err, NULL), SV_E_INVAL);
	assert_non_null(strstr(err, "--stdio"));
	sv_config_cleanup(&c);
}

static void
bad_forward_option_names_the_option(void **state)
{
	struct sv_config c;
	char err[512] = "";

	(void)state;
	assert_int_equal(parse(&c, err, sizeof err, "-L", "8080:h", NULL), SV_E_INVAL);
	assert_non_null(strstr(err, "--local-forward"));
	assert_non_null(strstr(err, "8080:h"));
	sv_config_cleanup(&c);
	assert_int_equal(parse(&c, err, sizeof err, "--stdio", "h", NULL), SV_E_INVAL);
	assert_non_null(strstr(err, "--stdio"));
	sv_config_cleanup(&c);
}

static void
too_many_forwards_are_refused(void **state)
{
	struct sv_config c;
	char err[512] = "";
	char *argv[64] = { "sevpn-proxy", "--no-config", "--server", "vpn.test", "--user",
		"bob", "--insecure" };
	int argc = 7;

	(void)state;
	for (int i = 0; i <= SV_MAX_FORWARDS; i++) {
		argv[argc++] = "-L";
		argv[argc++] = "1:h:2";
	}
	sv_config_init(&c);
	assert_int_equal(sv_config_parse(&c, argc, argv, err, sizeof err), SV_E_INVAL);
	assert_non_null(strstr(err, "too many forwards"));
	sv_config_cleanup(&c);
}

static void
config_file_keys_and_command_line_replaces_them(void **state)
{
	char dir[] = "/tmp/sv-fwdspec.XXXXXX", path[64];
	struct sv_config c;
	char err[512] = "";
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/config", dir);
	assert_non_null(f = fopen(path, "w"));
	fputs("server = vpn.test\nuser = bob\ninsecure = yes\n"
		"local-forward = 8080:intranet.test:80\n"
		"local-forward = udp:5353:10.77.0.1:53\n"
		"remote-forward = 2222:localhost:22\n", f);
	fclose(f);
	{
		char *argv[] = { "sevpn-proxy", "--config", path, NULL };
		sv_config_init(&c);
		assert_int_equal(sv_config_parse(&c, 3, argv, err, sizeof err), 0);
		assert_int_equal(c.n_fwd, 3);
		assert_int_equal(c.fwd[2].kind, SV_FWD_REMOTE);
		sv_config_cleanup(&c);
	}
	{
		/* a layer's forwards replace the list of the layers below */
		char *argv[] = { "sevpn-proxy", "--config", path, "-L", "9:h:10", NULL };
		sv_config_init(&c);
		assert_int_equal(sv_config_parse(&c, 5, argv, err, sizeof err), 0);
		assert_int_equal(c.n_fwd, 1);
		assert_int_equal(c.fwd[0].port, 9);
		sv_config_cleanup(&c);
	}
	unlink(path);
	rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(local_tcp_with_default_bind),
		cmocka_unit_test(local_tcp_with_bind_star_and_localhost),
		cmocka_unit_test(local_udp_prefix_picks_udp),
		cmocka_unit_test(ipv6_in_brackets_everywhere),
		cmocka_unit_test(remote_forward),
		cmocka_unit_test(malformed_specs_are_refused),
		cmocka_unit_test(long_host_is_refused_not_truncated),
		cmocka_unit_test(forwards_alone_need_no_socks_listener),
		cmocka_unit_test(stdio_alone_needs_no_listener),
		cmocka_unit_test(nothing_to_serve_is_still_an_error),
		cmocka_unit_test(bad_forward_option_names_the_option),
		cmocka_unit_test(too_many_forwards_are_refused),
		cmocka_unit_test(config_file_keys_and_command_line_replaces_them),
	};
	unsetenv("SEVPN_PROXY_PASSWORD");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
