/*
 * Choosing the upstream proxy (platform/upstream_cfg): the option, the
 * environment's precedence, --no-upstream-proxy, and NO_PROXY matching.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "platform/upstream_cfg.h"

struct pick {
	int r;
	struct sv_upstream_cfg cfg;
	const char *source;
	char err[256];
};

static struct pick
choose(const char *option, bool disabled, const char *server,
       const struct sv_upstream_env *env)
{
	struct pick p;
	memset(&p, 0, sizeof p);
	p.source = "unset";
	p.r = sv_upstream_cfg_choose(option, disabled, server, env, &p.cfg,
	                             &p.source, p.err, sizeof p.err);
	return p;
}

static void
cfg_option_wins_over_environment(void **state)
{
	struct sv_upstream_env env = {.https_proxy_uc = "http://envproxy:3128",
	                              .no_proxy_uc = "*"};
	struct pick p =
	    choose("socks5://u:p@opt:1080", false, "vpn.example", &env);
	assert_int_equal(p.r, 1);
	assert_string_equal(p.source, "--upstream-proxy");
	assert_int_equal(p.cfg.kind, SV_UPSTREAM_SOCKS5);
	assert_string_equal(p.cfg.host, "opt");
	assert_string_equal(p.cfg.user, "u");
	sv_upstream_cfg_wipe(&p.cfg);
}

static void
cfg_empty_option_means_direct(void **state)
{
	struct sv_upstream_env env = {.https_proxy_uc = "http://envproxy:3128"};
	struct pick p = choose("", false, "vpn.example", &env);
	assert_int_equal(p.r, 0);
	assert_string_equal(p.source, "--upstream-proxy");
}

static void
cfg_no_upstream_proxy_beats_everything(void **state)
{
	struct sv_upstream_env env = {.https_proxy_uc = "http://envproxy:3128",
	                              .all_proxy_lc = "bogus://x"};
	struct pick p = choose("http://opt:1", true, "vpn.example", &env);
	assert_int_equal(p.r, 0);
	assert_string_equal(p.source, "--no-upstream-proxy");
}

static void
cfg_nothing_configured_is_direct(void **state)
{
	struct sv_upstream_env env = {.no_proxy_uc = "example.com"};
	struct pick p = choose(NULL, false, "vpn.example", &env);
	assert_int_equal(p.r, 0);
	assert_null(p.source);
	p = choose(NULL, false, "vpn.example", NULL);
	assert_int_equal(p.r, 0);
	assert_null(p.source);
	/* empty values count as unset */
	env.https_proxy_lc = "";
	env.all_proxy_uc = "";
	p = choose(NULL, false, "vpn.example", &env);
	assert_int_equal(p.r, 0);
}

static void
cfg_env_precedence_is_https_then_all_lower_case_first(void **state)
{
	struct sv_upstream_env env = {
	    .https_proxy_lc = "http://lc:1",
	    .https_proxy_uc = "http://uc:2",
	    .all_proxy_lc = "socks5://alc:3",
	    .all_proxy_uc = "socks5://auc:4",
	};
	struct pick p = choose(NULL, false, "vpn", &env);
	assert_int_equal(p.r, 1);
	assert_string_equal(p.source, "https_proxy");
	assert_string_equal(p.cfg.host, "lc");

	env.https_proxy_lc = "";
	p = choose(NULL, false, "vpn", &env);
	assert_string_equal(p.source, "HTTPS_PROXY");
	assert_string_equal(p.cfg.host, "uc");

	env.https_proxy_uc = NULL;
	p = choose(NULL, false, "vpn", &env);
	assert_string_equal(p.source, "all_proxy");
	assert_int_equal(p.cfg.kind, SV_UPSTREAM_SOCKS5);
	assert_string_equal(p.cfg.host, "alc");

	env.all_proxy_lc = NULL;
	p = choose(NULL, false, "vpn", &env);
	assert_string_equal(p.source, "ALL_PROXY");
	assert_string_equal(p.cfg.host, "auc");
	assert_int_equal(p.cfg.port, 4);
}

static void
cfg_no_proxy_sends_matching_servers_direct(void **state)
{
	struct sv_upstream_env env = {.https_proxy_uc = "http://p:3128",
	                              .no_proxy_uc =
	                                  "localhost, .corp.example"};
	struct pick p = choose(NULL, false, "vpn.corp.example", &env);
	assert_int_equal(p.r, 0);
	assert_string_equal(p.source, "NO_PROXY");

	p = choose(NULL, false, "vpn.other.example", &env);
	assert_int_equal(p.r, 1);
	assert_string_equal(p.source, "HTTPS_PROXY");

	/* lower case wins, even if it matches less */
	env.no_proxy_lc = "nothing.example";
	p = choose(NULL, false, "vpn.corp.example", &env);
	assert_int_equal(p.r, 1);
}

static void
cfg_no_proxy_does_not_apply_to_the_option(void **state)
{
	struct sv_upstream_env env = {.no_proxy_uc = "*"};
	struct pick p = choose("http://p:1", false, "vpn.example", &env);
	assert_int_equal(p.r, 1);
}

static void
cfg_bad_values_name_their_source(void **state)
{
	struct sv_upstream_env env = {.https_proxy_uc = "socks4://p:1080"};
	struct pick p = choose(NULL, false, "vpn", &env);
	assert_int_equal(p.r, SV_E_INVAL);
	assert_non_null(strstr(p.err, "HTTPS_PROXY: SOCKS4 proxies are not "
	                              "supported"));
	assert_non_null(strstr(p.err, "--no-upstream-proxy"));

	p = choose("http://h:99999", false, "vpn", NULL);
	assert_int_equal(p.r, SV_E_INVAL);
	assert_string_equal(p.err,
	                    "--upstream-proxy: the port in the proxy URL "
	                    "must be a number from 1 to 65535");

	/* a bad value for a server NO_PROXY exempts is never looked at */
	env.no_proxy_lc = "vpn";
	p = choose(NULL, false, "vpn", &env);
	assert_int_equal(p.r, 0);
}

static void
cfg_env_read_uses_getenv(void **state)
{
	struct sv_upstream_env env;
	setenv("https_proxy", "http://a:1", 1);
	setenv("NO_PROXY", "b", 1);
	unsetenv("HTTPS_PROXY");
	unsetenv("all_proxy");
	unsetenv("ALL_PROXY");
	unsetenv("no_proxy");
	sv_upstream_env_read(&env);
	assert_string_equal(env.https_proxy_lc, "http://a:1");
	assert_null(env.https_proxy_uc);
	assert_null(env.all_proxy_lc);
	assert_null(env.all_proxy_uc);
	assert_null(env.no_proxy_lc);
	assert_string_equal(env.no_proxy_uc, "b");
	unsetenv("https_proxy");
	unsetenv("NO_PROXY");
}

static void
no_proxy_matches_names_by_suffix_at_label_boundaries(void **state)
{
	static const struct {
		const char *list, *host;
		bool match;
	} cases[] = {
	    {"*", "anything.example", true},
	    {"a.example, *", "x", true},
	    {"example.com", "example.com", true},
	    {"example.com", "vpn.example.com", true},
	    {"example.com", "badexample.com", false},
	    {".example.com", "vpn.example.com", true},
	    {".example.com", "example.com", true},
	    {"*.example.com", "a.b.example.com", true},
	    {"EXAMPLE.com", "Vpn.Example.COM", true},
	    {"example.com.", "vpn.example.com", true},
	    {"example.com", "vpn.example.com.", true},
	    {"example.com:443", "vpn.example.com", true},
	    {"vpn.example.com", "example.com", false},
	    {"other.org,,  example.com\t", "x.example.com", true},
	    {"other.org", "x.example.com", false},
	    {"", "x", false},
	    {",", "x", false},
	    {"*x", "x", true},
	    {".", "x", false},
	    {"10.0.0.1", "10.0.0.1", true},
	    {"0.1", "10.0.0.1", false}, /* no string suffix for IPs */
	    {"10.0.0.0/8", "10.1.2.3", true},
	    {"10.0.0.0/8", "11.1.2.3", false},
	    {"10.0.0.0/33", "10.0.0.0", true}, /* clamped to /32 */
	    {"192.168.1.128/25", "192.168.1.200", true},
	    {"192.168.1.128/25", "192.168.1.100", false},
	    {"10.0.0.1:443", "10.0.0.1", true},
	    {"10.0.0.1/x", "10.0.0.1", false},
	    {"fd00::/8", "fd12::1", true},
	    {"fd00::/8", "fe80::1", false},
	    {"[::1]", "::1", true},
	    {"[::1]:443", "[::1]", true},
	    {"[fd00::]/16", "fd00:0:1::2", true},
	    {"::1", "::1", true},
	    {"10.0.0.1", "::ffff:10.0.0.1", false},
	    {"localhost", "127.0.0.1", false},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		if (sv_upstream_no_proxy_match(cases[i].list, cases[i].host) !=
		    cases[i].match)
			fail_msg("\"%s\" vs %s: expected %s", cases[i].list,
			         cases[i].host,
			         cases[i].match ? "match" : "no match");
	}
	assert_false(sv_upstream_no_proxy_match(NULL, "x"));
	assert_false(sv_upstream_no_proxy_match("*x", NULL));
	assert_false(sv_upstream_no_proxy_match("x", ""));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(cfg_option_wins_over_environment),
	    cmocka_unit_test(cfg_empty_option_means_direct),
	    cmocka_unit_test(cfg_no_upstream_proxy_beats_everything),
	    cmocka_unit_test(cfg_nothing_configured_is_direct),
	    cmocka_unit_test(
	        cfg_env_precedence_is_https_then_all_lower_case_first),
	    cmocka_unit_test(cfg_no_proxy_sends_matching_servers_direct),
	    cmocka_unit_test(cfg_no_proxy_does_not_apply_to_the_option),
	    cmocka_unit_test(cfg_bad_values_name_their_source),
	    cmocka_unit_test(cfg_env_read_uses_getenv),
	    cmocka_unit_test(
	        no_proxy_matches_names_by_suffix_at_label_boundaries),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
