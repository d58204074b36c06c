/*
 * Upstream proxy (core/upstream): URL parsing, and the HTTP CONNECT and SOCKS5
 * client handshakes checked byte for byte, with the proxy's answers split at
 * every byte and the bytes after the last answer handed back untouched.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "core/upstream.h"

#define TLS_TAIL "\x16\x03\x03\x00\x02hi" /* bytes that belong to TLS */
#define TLS_TAIL_LEN 7

/* ---- helpers ---- */

static struct sv_upstream_cfg
cfg_of(const char *url)
{
	struct sv_upstream_cfg c;
	char err[256] = "";
	int r = sv_upstream_parse_url(url, &c, err, sizeof err);
	if (r != 0)
		fail_msg("%s: %s", url, err);
	return c;
}

static struct sv_upstream *
start(const char *url, const char *host, uint16_t port)
{
	struct sv_upstream_cfg c = cfg_of(url);
	struct sv_upstream *u = NULL;
	assert_int_equal(sv_upstream_new(&u, &c, host, port), 0);
	sv_upstream_cfg_wipe(&c);
	return u;
}

/* Appends everything u offers to out[*n..], acknowledging it. */
static void
drain(struct sv_upstream *u, uint8_t *out, size_t cap, size_t *n)
{
	size_t len;
	const uint8_t *p = sv_upstream_output(u, &len);
	assert_true(*n + len <= cap);
	memcpy(out + *n, p, len);
	*n += len;
	sv_upstream_output_ack(u, len);
}

static void
assert_output(struct sv_upstream *u, const void *want, size_t n)
{
	uint8_t got[1024];
	size_t len = 0;
	drain(u, got, sizeof got, &len);
	assert_int_equal(len, n);
	assert_memory_equal(got, want, n);
}

/* Feeds one string; returns sv_upstream_input's result. */
static int
feed(struct sv_upstream *u, const void *p, size_t n, size_t *used)
{
	return sv_upstream_input(u, p, n, used);
}

/* Text of the error after feeding a whole answer to a fresh handshake. */
static int
fail_with(const char *url, const void *answer, size_t n, const char **text,
          struct sv_upstream **keep)
{
	struct sv_upstream *u = start(url, "vpn.example", 443);
	int r = feed(u, answer, n, NULL);
	*text = sv_upstream_error_text(u);
	*keep = u;
	return r;
}

/*
 * Runs a whole exchange: the proxy's answers (all of them, then tail) split
 * once at every position; the client's output must be `want` and the tail
 * must come back untouched.
 */
static void
exchange_split_everywhere(const char *url, const char *host, uint16_t port,
                          const uint8_t *answers, size_t an,
                          const uint8_t *want, size_t wn)
{
	uint8_t in[1024], out[1024];
	assert_true(an + TLS_TAIL_LEN <= sizeof in);
	memcpy(in, answers, an);
	memcpy(in + an, TLS_TAIL, TLS_TAIL_LEN);
	size_t total = an + TLS_TAIL_LEN;

	for (size_t cut = 0; cut <= total; cut++) {
		struct sv_upstream *u = start(url, host, port);
		size_t on = 0, used = 99, rest;
		int r;

		drain(u, out, sizeof out, &on);
		r = feed(u, in, cut, &used);
		drain(u, out, sizeof out, &on);
		if (cut < an) {
			assert_int_equal(r, 0);
			r = feed(u, in + cut, total - cut, &used);
			drain(u, out, sizeof out, &on);
			assert_int_equal(r, 1);
			rest = total - cut - used;
			assert_int_equal(cut + used, an);
		} else {
			assert_int_equal(r, 1);
			assert_int_equal(used, an);
			rest = cut - used;
			/* the remaining tail is the caller's; input after
			 * success takes nothing */
			assert_int_equal(feed(u, in + cut, total - cut, &used),
			                 1);
			assert_int_equal(used, 0);
			rest += total - cut;
		}
		assert_int_equal(rest, TLS_TAIL_LEN);
		assert_true(sv_upstream_is_established(u));
		assert_int_equal(sv_upstream_error(u), 0);
		assert_string_equal(sv_upstream_error_text(u), "");
		assert_int_equal(on, wn);
		assert_memory_equal(out, want, wn);
		sv_upstream_free(u);
	}
}

/* The same exchange fed one byte at a time. */
static void
exchange_byte_by_byte(const char *url, const uint8_t *answers, size_t an,
                      const uint8_t *want, size_t wn)
{
	struct sv_upstream *u = start(url, "vpn.example", 443);
	uint8_t out[1024];
	size_t on = 0, used = 0;
	int r = 0;

	drain(u, out, sizeof out, &on);
	for (size_t i = 0; i < an; i++) {
		r = feed(u, answers + i, 1, &used);
		drain(u, out, sizeof out, &on);
		assert_int_equal(r, i + 1 == an ? 1 : 0);
	}
	assert_int_equal(used, 1);
	assert_int_equal(on, wn);
	assert_memory_equal(out, want, wn);
	sv_upstream_free(u);
}

/* ---- URL parsing ---- */

static void
url_parses_http_with_credentials_and_port(void **state)
{
	struct sv_upstream_cfg c =
	    cfg_of("http://alice:s%40cret@proxy.example:3128");
	assert_int_equal(c.kind, SV_UPSTREAM_HTTP);
	assert_string_equal(c.host, "proxy.example");
	assert_int_equal(c.port, 3128);
	assert_true(c.have_auth);
	assert_string_equal(c.user, "alice");
	assert_string_equal(c.pass, "s@cret");
}

static void
url_defaults_port_1080_for_both_kinds(void **state)
{
	struct sv_upstream_cfg c = cfg_of("http://proxy.example");
	assert_int_equal(c.port, SV_UPSTREAM_DEFAULT_PORT);
	assert_int_equal(c.port, 1080);
	assert_false(c.have_auth);
	c = cfg_of("socks5://proxy.example");
	assert_int_equal(c.kind, SV_UPSTREAM_SOCKS5);
	assert_int_equal(c.port, 1080);
}

static void
url_accepts_socks5h_alias_and_any_case_scheme(void **state)
{
	struct sv_upstream_cfg c = cfg_of("socks5h://10.0.0.1:9050");
	assert_int_equal(c.kind, SV_UPSTREAM_SOCKS5);
	assert_string_equal(c.host, "10.0.0.1");
	assert_int_equal(c.port, 9050);
	c = cfg_of("SOCKS5://h:1");
	assert_int_equal(c.kind, SV_UPSTREAM_SOCKS5);
	c = cfg_of("HTTP://h:1");
	assert_int_equal(c.kind, SV_UPSTREAM_HTTP);
}

static void
url_without_scheme_is_http(void **state)
{
	struct sv_upstream_cfg c = cfg_of("proxy.corp:8080");
	assert_int_equal(c.kind, SV_UPSTREAM_HTTP);
	assert_string_equal(c.host, "proxy.corp");
	assert_int_equal(c.port, 8080);
}

static void
url_accepts_bracketed_ipv6_and_trailing_slash(void **state)
{
	struct sv_upstream_cfg c = cfg_of("socks5://[fd00::1]:1081/");
	assert_string_equal(c.host, "fd00::1");
	assert_int_equal(c.port, 1081);
	c = cfg_of("http://[::1]");
	assert_string_equal(c.host, "::1");
	assert_int_equal(c.port, 1080);
}

static void
url_takes_the_last_at_sign_so_raw_at_in_password_works(void **state)
{
	struct sv_upstream_cfg c = cfg_of("http://u:p@ss@h:1");
	assert_string_equal(c.user, "u");
	assert_string_equal(c.pass, "p@ss");
	assert_string_equal(c.host, "h");
}

static void
url_user_without_password_has_empty_password(void **state)
{
	struct sv_upstream_cfg c = cfg_of("socks5://bob@h");
	assert_true(c.have_auth);
	assert_string_equal(c.user, "bob");
	assert_string_equal(c.pass, "");
	c = cfg_of("http://@h");
	assert_false(c.have_auth);
	c = cfg_of("socks5://a%3Ab:c%3Ad@h"); /* ':' only in the user is */
	assert_string_equal(c.user, "a:b");   /* refused for HTTP */
	assert_string_equal(c.pass, "c:d");
}

static void
url_rejects_bad_urls_with_a_reason(void **state)
{
	static const struct {
		const char *url;
		const char *says;
	} bad[] = {
	    {"", "empty"},
	    {"https://h:1", "https:// proxies"},
	    {"socks4://h:1", "SOCKS4"},
	    {"socks4a://h:1", "SOCKS4"},
	    {"ftp://h:1", "unknown proxy scheme \"ftp\""},
	    {"http://", "host name"},
	    {"http://:80", "host name"},
	    {"http://h:0", "port"},
	    {"http://h:65536", "port"},
	    {"http://h:123456", "port"},
	    {"http://h:", "port"},
	    {"http://h:8o", "port"},
	    {"http://fd00::1:80", "brackets"},
	    {"http://[fd00::1", "IPv6"},
	    {"http://[fd00::1]x", "IPv6"},
	    {"http://[10.0.0.1]:80", "IPv6"},
	    {"http://[]:80", "IPv6"},
	    {"http://h/path", "path"},
	    {"http://h b:1", "host name"},
	    {"http://h\r\nX:1", "host name"},
	    {"http://u:%zz@h", "%-escape"},
	    {"http://u:%4@h", "%-escape"},
	    {"http://u%00:p@h", "NUL"},
	    {"socks5://:pw@h", "non-empty user"},
	    {"http://a%3Ab:c@h", "':'"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct sv_upstream_cfg c;
		char err[256] = "";
		memset(&c, 0x55, sizeof c);
		int r = sv_upstream_parse_url(bad[i].url, &c, err, sizeof err);
		if (r != SV_E_INVAL || strstr(err, bad[i].says) == NULL)
			fail_msg("%s: r=%d err=\"%s\"", bad[i].url, r, err);
		assert_int_equal(c.port, 0x5555); /* untouched */
	}
	char err[64];
	assert_int_equal(sv_upstream_parse_url(NULL, NULL, err, sizeof err),
	                 SV_E_INVAL);
}

static void
url_rejects_overlong_host_and_credentials(void **state)
{
	char url[1024], err[256];
	struct sv_upstream_cfg c;

	memset(url, 0, sizeof url);
	strcpy(url, "http://");
	memset(url + 7, 'a', 256);
	assert_int_equal(sv_upstream_parse_url(url, &c, err, sizeof err),
	                 SV_E_INVAL);
	url[7 + 255] = '\0'; /* 255 bytes: fine */
	assert_int_equal(sv_upstream_parse_url(url, &c, err, sizeof err), 0);

	strcpy(url, "http://u:");
	memset(url + 9, 'p', 256);
	strcpy(url + 9 + 256, "@h");
	assert_int_equal(sv_upstream_parse_url(url, &c, err, sizeof err),
	                 SV_E_INVAL);
	assert_non_null(strstr(err, "password"));
	assert_null(strstr(err, "ppp"));
}

static void
url_errors_never_quote_the_password(void **state)
{
	static const char *const urls[] = {
	    "http://u:topsecret%zz@h", "http://u:topsecret@h:99999",
	    "http://u:topsecret@h/x",  "http://u:topsecret@[zz]",
	    "gopher://u:topsecret@h",  "u:top://secret@h",
	};
	for (size_t i = 0; i < sizeof urls / sizeof urls[0]; i++) {
		struct sv_upstream_cfg c;
		char err[256] = "";
		assert_int_equal(
		    sv_upstream_parse_url(urls[i], &c, err, sizeof err),
		    SV_E_INVAL);
		if (strstr(err, "secret") != NULL)
			fail_msg("%s -> %s", urls[i], err);
	}
}

static void
url_describe_hides_credentials(void **state)
{
	struct sv_upstream_cfg c = cfg_of("socks5://u:pw@[fd00::1]:9");
	char d[128];
	assert_string_equal(sv_upstream_cfg_describe(&c, d, sizeof d),
	                    "socks5://***@[fd00::1]:9");
	c = cfg_of("proxy:3128");
	assert_string_equal(sv_upstream_cfg_describe(&c, d, sizeof d),
	                    "http://proxy:3128");
	sv_upstream_cfg_wipe(&c);
	assert_int_equal(c.port, 0);
	sv_upstream_cfg_wipe(NULL);
}

/* ---- handshake start ---- */

static void
new_rejects_unusable_targets(void **state)
{
	struct sv_upstream_cfg c = cfg_of("http://h:1");
	struct sv_upstream *u = NULL;
	char longname[300];

	memset(longname, 'a', 256);
	longname[256] = '\0';
	assert_int_equal(sv_upstream_new(&u, &c, "", 443), SV_E_INVAL);
	assert_int_equal(sv_upstream_new(&u, &c, NULL, 443), SV_E_INVAL);
	assert_int_equal(sv_upstream_new(&u, &c, "vpn.example", 0), SV_E_INVAL);
	assert_int_equal(sv_upstream_new(&u, &c, "a b", 443), SV_E_INVAL);
	assert_int_equal(sv_upstream_new(&u, &c, "vpn\r\nX-Evil: 1", 443),
	                 SV_E_INVAL);
	assert_int_equal(sv_upstream_new(&u, &c, longname, 443), SV_E_INVAL);
	assert_int_equal(sv_upstream_new(&u, NULL, "vpn", 443), SV_E_INVAL);
	assert_null(u);
	longname[255] = '\0';
	assert_int_equal(sv_upstream_new(&u, &c, longname, 443), 0);
	sv_upstream_free(u);
	sv_upstream_free(NULL);
}

static void
output_ack_takes_partial_writes(void **state)
{
	struct sv_upstream *u = start("http://h:1", "vpn.example", 443);
	size_t len, len2;
	const uint8_t *p = sv_upstream_output(u, &len);
	assert_memory_equal(p, "CONNECT ", 8);
	sv_upstream_output_ack(u, 8);
	p = sv_upstream_output(u, &len2);
	assert_int_equal(len2, len - 8);
	assert_memory_equal(p, "vpn.example:443", 15);
	sv_upstream_output_ack(u, len2 + 100); /* clamped */
	sv_upstream_output(u, &len);
	assert_int_equal(len, 0);
	sv_upstream_free(u);
}

/* ---- HTTP CONNECT ---- */

static const char http_ok[] =
    "HTTP/1.1 200 Connection established\r\nProxy-Agent: test\r\n\r\n";

static void
http_connect_request_is_exact(void **state)
{
	static const char want[] = "CONNECT vpn.example:443 HTTP/1.1\r\n"
	                           "Host: vpn.example:443\r\n\r\n";
	struct sv_upstream *u = start("http://proxy:3128", "vpn.example", 443);
	assert_output(u, want, sizeof want - 1);
	sv_upstream_free(u);
}

static void
http_connect_request_carries_basic_credentials(void **state)
{
	static const char want[] =
	    "CONNECT vpn.example:5555 HTTP/1.1\r\n"
	    "Host: vpn.example:5555\r\n"
	    "Proxy-Authorization: Basic YWxpY2U6c0BjcmV0\r\n\r\n";
	struct sv_upstream *u =
	    start("http://alice:s%40cret@proxy:3128", "vpn.example", 5555);
	assert_output(u, want, sizeof want - 1);
	sv_upstream_free(u);

	static const char want2[] =
	    "CONNECT 10.0.0.1:443 HTTP/1.1\r\n"
	    "Host: 10.0.0.1:443\r\n"
	    "Proxy-Authorization: Basic Om9ubHk=\r\n\r\n";
	u = start("http://:only@proxy", "10.0.0.1", 443);
	assert_output(u, want2, sizeof want2 - 1);
	sv_upstream_free(u);

	static const char want3[] = "CONNECT vpn:1 HTTP/1.1\r\nHost: vpn:1\r\n"
	                            "Proxy-Authorization: Basic dTo=\r\n\r\n";
	u = start("http://u@proxy", "vpn", 1);
	assert_output(u, want3, sizeof want3 - 1);
	sv_upstream_free(u);
}

static void
http_connect_brackets_ipv6_targets(void **state)
{
	static const char want[] = "CONNECT [fd00::1]:443 HTTP/1.1\r\n"
	                           "Host: [fd00::1]:443\r\n\r\n";
	struct sv_upstream *u = start("http://proxy", "fd00::1", 443);
	assert_output(u, want, sizeof want - 1);
	sv_upstream_free(u);
	u = start("http://proxy", "[fd00::1]", 443);
	assert_output(u, want, sizeof want - 1);
	sv_upstream_free(u);
}

static void
http_200_split_at_every_byte_keeps_the_tls_bytes(void **state)
{
	static const char want[] = "CONNECT vpn.example:443 HTTP/1.1\r\n"
	                           "Host: vpn.example:443\r\n\r\n";
	exchange_split_everywhere("http://proxy:3128", "vpn.example", 443,
	                          (const uint8_t *)http_ok, sizeof http_ok - 1,
	                          (const uint8_t *)want, sizeof want - 1);
	exchange_byte_by_byte("http://proxy:3128", (const uint8_t *)http_ok,
	                      sizeof http_ok - 1, (const uint8_t *)want,
	                      sizeof want - 1);
}

static void
http_accepts_http10_bare_lf_and_other_2xx(void **state)
{
	static const char *const answers[] = {
	    "HTTP/1.0 200 OK\r\n\r\n",
	    "HTTP/1.1 200 OK\n\n",
	    "HTTP/1.1 200\r\n\r\n",
	    "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof answers / sizeof answers[0]; i++) {
		struct sv_upstream *u = start("http://p", "vpn", 443);
		size_t used = 0;
		assert_int_equal(feed(u, answers[i], strlen(answers[i]), &used),
		                 1);
		assert_int_equal(used, strlen(answers[i]));
		sv_upstream_free(u);
	}
}

static void
http_407_without_credentials_asks_for_them(void **state)
{
	static const char a[] = "HTTP/1.1 407 Proxy Authentication Required\r\n"
	                        "Proxy-Authenticate: Basic realm=\"x\"\r\n\r\n";
	struct sv_upstream *u;
	const char *t;
	assert_int_equal(
	    fail_with("http://proxy.example:3128", a, sizeof a - 1, &t, &u),
	    SV_E_AUTH);
	assert_string_equal(t,
	                    "the upstream proxy proxy.example:3128 requires a "
	                    "user name and password (answer 407 Proxy "
	                    "Authentication Required): put them in the proxy "
	                    "URL, http://user:password@host:port");
	assert_true(sv_upstream_error_is_permanent(u));
	sv_upstream_free(u);
}

static void
http_407_with_credentials_says_they_were_rejected(void **state)
{
	static const char a[] =
	    "HTTP/1.1 407 Proxy Authentication Required\r\n\r\n";
	struct sv_upstream *u;
	const char *t;
	assert_int_equal(
	    fail_with("http://bob:hunter2@proxy:8080", a, sizeof a - 1, &t, &u),
	    SV_E_AUTH);
	assert_non_null(strstr(t, "the upstream proxy proxy:8080 rejected the "
	                          "user name and password"));
	assert_null(strstr(t, "hunter2"));
	sv_upstream_free(u);
}

static void
http_401_is_treated_like_407(void **state)
{
	/* tinyproxy answers wrong credentials with 401 */
	static const char a[] = "HTTP/1.0 401 Unauthorized\r\n\r\n";
	struct sv_upstream *u;
	const char *t;
	assert_int_equal(
	    fail_with("http://alice:wrong@proxy:8888", a, sizeof a - 1, &t, &u),
	    SV_E_AUTH);
	assert_string_equal(t,
	                    "the upstream proxy proxy:8888 rejected the user "
	                    "name and password from the proxy URL (answer "
	                    "401 Unauthorized)");
	sv_upstream_free(u);
}

static void
http_407_with_only_other_schemes_names_them(void **state)
{
	static const char a[] = "HTTP/1.1 407 Denied\r\n"
	                        "proxy-authenticate: NTLM\r\n"
	                        "Proxy-Authenticate:  Negotiate abc\r\n\r\n";
	struct sv_upstream *u;
	const char *t;
	assert_int_equal(
	    fail_with("http://bob:pw@proxy:8080", a, sizeof a - 1, &t, &u),
	    SV_E_AUTH);
	assert_string_equal(t, "the upstream proxy proxy:8080 asks for NTLM, "
	                       "Negotiate authentication, which is not "
	                       "supported (only Basic is)");
	sv_upstream_free(u);
}

static void
http_502_names_proxy_and_server_and_is_transient(void **state)
{
	static const char a[] = "HTTP/1.1 502 Bad Gateway\r\n"
	                        "Content-Length: 3\r\n\r\nabc";
	struct sv_upstream *u;
	const char *t;
	assert_int_equal(
	    fail_with("http://proxy:3128", a, sizeof a - 1, &t, &u),
	    -ECONNREFUSED);
	assert_string_equal(t, "the upstream proxy proxy:3128 could not reach "
	                       "the VPN server vpn.example:443 (answer 502 Bad "
	                       "Gateway)");
	assert_false(sv_upstream_error_is_permanent(u));
	/* the error sticks */
	assert_int_equal(feed(u, "x", 1, NULL), -ECONNREFUSED);
	assert_int_equal(sv_upstream_error(u), -ECONNREFUSED);
	assert_int_equal(sv_upstream_fail(u, SV_E_CLOSED), -ECONNREFUSED);
	assert_string_equal(sv_upstream_error_text(u), t);
	sv_upstream_free(u);
}

static void
http_other_statuses_map_to_codes(void **state)
{
	static const struct {
		const char *answer;
		int code;
		bool permanent;
		const char *says;
	} cases[] = {
	    {"HTTP/1.1 403 Forbidden\r\n\r\n", -EACCES, true,
	     "refused a tunnel to the VPN server vpn.example:443 (answer "
	     "403 Forbidden)"},
	    {"HTTP/1.1 504 Gateway Timeout\r\n\r\n", -ETIMEDOUT, false,
	     "could not reach"},
	    {"HTTP/1.1 500 Oops\r\n\r\n", -ECONNABORTED, false,
	     "failed to open a tunnel"},
	    {"HTTP/1.1 301 Moved\r\n\r\n", SV_E_PROTO, true,
	     "with 301 Moved instead"},
	    {"HTTP/1.1 2x0 OK\r\n\r\n", SV_E_PROTO, true,
	     "malformed HTTP status line: \"HTTP/1.1 2x0 OK\""},
	    {"HTTP/1.1 200OK\r\n\r\n", SV_E_PROTO, true, "malformed"},
	    {"HTTP/2 200\r\n\r\n", SV_E_PROTO, true, "malformed"},
	    {"HTTP/1.1 403 \x01\x7f\xff\r\n\r\n", -EACCES, true,
	     "(answer 403 ?\?\?)"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct sv_upstream *u;
		const char *t;
		int r = fail_with("http://proxy:3128", cases[i].answer,
		                  strlen(cases[i].answer), &t, &u);
		if (r != cases[i].code || strstr(t, cases[i].says) == NULL ||
		    strstr(t, "the upstream proxy proxy:3128") != t ||
		    sv_upstream_error_is_permanent(u) != cases[i].permanent)
			fail_msg("%zu: r=%d text=\"%s\"", i, r, t);
		sv_upstream_free(u);
	}
}

static void
http_non_http_answer_fails_at_the_first_byte(void **state)
{
	struct sv_upstream *u = start("http://proxy:1080", "vpn", 443);
	assert_int_equal(feed(u, "\x05", 1, NULL), SV_E_PROTO);
	assert_non_null(strstr(sv_upstream_error_text(u),
	                       "did not answer in HTTP (is it a SOCKS proxy?"));
	sv_upstream_free(u);
}

static void
http_header_block_is_bounded(void **state)
{
	struct sv_upstream *u = start("http://proxy:1", "vpn", 443);
	static char big[SV_UPSTREAM_REPLY_MAX + 10];
	memset(big, 'a', sizeof big);
	memcpy(big, "HTTP/1.1 200 OK\r\nX: ", 20);
	assert_int_equal(feed(u, big, 100, NULL), 0);
	assert_int_equal(feed(u, big + 100, sizeof big - 100, NULL),
	                 SV_E_TOOBIG);
	assert_non_null(strstr(sv_upstream_error_text(u), "longer than 8192"));
	sv_upstream_free(u);

	/* exactly at the limit is still fine */
	u = start("http://proxy:1", "vpn", 443);
	memset(big, 'a', sizeof big);
	memcpy(big, "HTTP/1.1 200 OK\r\nX: ", 20);
	memcpy(big + SV_UPSTREAM_REPLY_MAX - 4, "\r\n\r\n", 4);
	size_t used = 0;
	assert_int_equal(feed(u, big, sizeof big, &used), 1);
	assert_int_equal(used, SV_UPSTREAM_REPLY_MAX);
	sv_upstream_free(u);
}

static void
transport_failures_name_the_proxy(void **state)
{
	struct sv_upstream *u = start("socks5://p.example:1080", "vpn", 443);
	assert_int_equal(sv_upstream_fail(u, SV_E_CLOSED), SV_E_CLOSED);
	assert_string_equal(sv_upstream_error_text(u),
	                    "the upstream proxy p.example:1080 closed the "
	                    "connection before the tunnel to the VPN server "
	                    "vpn:443 was open (it said nothing: is it really a "
	                    "SOCKS5 proxy? check the scheme of the proxy URL)");
	assert_int_equal(sv_upstream_fail(u, -ECONNREFUSED), SV_E_CLOSED);
	sv_upstream_free(u);

	/* once the proxy has spoken, no hint about the scheme */
	u = start("socks5://p.example:1080", "vpn", 443);
	assert_int_equal(feed(u, "\x05", 1, NULL), 0);
	assert_int_equal(sv_upstream_fail(u, SV_E_CLOSED), SV_E_CLOSED);
	assert_null(strstr(sv_upstream_error_text(u), "scheme"));
	sv_upstream_free(u);

	u = start("http://p.example:3128", "vpn", 443);
	assert_int_equal(sv_upstream_fail(u, SV_E_TIMEOUT), SV_E_TIMEOUT);
	assert_non_null(strstr(sv_upstream_error_text(u),
	                       "in time (it said nothing: is it really an HTTP "
	                       "proxy?"));
	sv_upstream_free(u);

	/* after success the caller's transport errors are not recorded */
	u = start("http://p:1", "vpn", 443);
	assert_int_equal(feed(u, "HTTP/1.1 200 OK\r\n\r\n", 19, NULL), 1);
	assert_int_equal(sv_upstream_fail(u, SV_E_CLOSED), SV_E_CLOSED);
	assert_int_equal(sv_upstream_error(u), 0);
	assert_true(sv_upstream_is_established(u));
	sv_upstream_free(u);

	u = start("http://[::1]:3128", "vpn", 443);
	assert_int_equal(sv_upstream_fail(u, -ECONNREFUSED), -ECONNREFUSED);
	assert_non_null(strstr(sv_upstream_error_text(u),
	                       "the connection to the upstream proxy "
	                       "[::1]:3128 failed: "));
	assert_false(sv_upstream_error_is_permanent(u));
	sv_upstream_free(u);

	u = start("http://p:1", "vpn", 443);
	assert_int_equal(sv_upstream_fail(u, SV_E_TIMEOUT), SV_E_TIMEOUT);
	assert_non_null(strstr(sv_upstream_error_text(u), "in time"));
	sv_upstream_free(u);
}

/* ---- SOCKS5 ---- */

static const uint8_t socks_connect_name[] = {5,   1,   0,   3,   11,   'v',
                                             'p', 'n', '.', 'e', 'x',  'a',
                                             'm', 'p', 'l', 'e', 0x01, 0xbb};

static void
socks5_no_auth_exchange_is_exact(void **state)
{
	static const uint8_t answers[] = {5, 0, /* method: none */
	                                  5, 0, 0, 1, 10, 0, 0, 1, 0x12, 0x34};
	uint8_t want[64];
	memcpy(want, "\x05\x01\x00", 3);
	memcpy(want + 3, socks_connect_name, sizeof socks_connect_name);
	exchange_split_everywhere("socks5://proxy", "vpn.example", 443, answers,
	                          sizeof answers, want,
	                          3 + sizeof socks_connect_name);
	exchange_byte_by_byte("socks5://proxy", answers, sizeof answers, want,
	                      3 + sizeof socks_connect_name);
}

static void
socks5_user_pass_exchange_is_exact(void **state)
{
	static const uint8_t answers[] = {
	    5, 2,                                     /* method: user/pass */
	    1, 0,                                     /* RFC 1929: success */
	    5, 0, 0, 3, 4, 'b', 'n', 'd', 'x', 0, 80, /* bound to a name */
	};
	static const uint8_t auth[] = {1, 5,   'a', 'l', 'i', 'c', 'e',
	                               6, 's', '@', 'c', 'r', 'e', 't'};
	uint8_t want[64];
	size_t n = 0;
	memcpy(want, "\x05\x02\x00\x02", 4);
	n = 4;
	memcpy(want + n, auth, sizeof auth);
	n += sizeof auth;
	memcpy(want + n, socks_connect_name, sizeof socks_connect_name);
	n += sizeof socks_connect_name;
	exchange_split_everywhere("socks5h://alice:s%40cret@proxy",
	                          "vpn.example", 443, answers, sizeof answers,
	                          want, n);
	exchange_byte_by_byte("socks5h://alice:s%40cret@proxy", answers,
	                      sizeof answers, want, n);
}

static void
socks5_with_credentials_accepts_the_no_auth_method(void **state)
{
	static const uint8_t answers[] = {5, 0, 5, 0, 0, 4, 0, 0, 0, 0, 0, 0,
	                                  0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1};
	uint8_t want[64];
	memcpy(want, "\x05\x02\x00\x02", 4);
	memcpy(want + 4, socks_connect_name, sizeof socks_connect_name);
	exchange_split_everywhere("socks5://u:p@proxy", "vpn.example", 443,
	                          answers, sizeof answers, want,
	                          4 + sizeof socks_connect_name);
}

static void
socks5_sends_ip_literals_as_atyp_1_and_4(void **state)
{
	static const uint8_t v4[] = {5, 1, 0, 1, 192, 0, 2, 7, 0x15, 0xb3};
	static const uint8_t v6[] = {5, 1, 0, 4, 0xfd, 0, 0, 0, 0, 0,    0,
	                             0, 0, 0, 0, 0,    0, 0, 0, 1, 0x01, 0xbb};
	struct sv_upstream *u = start("socks5://p", "192.0.2.7", 5555);
	assert_output(u, "\x05\x01\x00", 3);
	assert_int_equal(feed(u, "\x05\x00", 2, NULL), 0);
	assert_output(u, v4, sizeof v4);
	sv_upstream_free(u);

	u = start("socks5://p", "[fd00::1]", 443);
	sv_upstream_output_ack(u, 3);
	assert_int_equal(feed(u, "\x05\x00", 2, NULL), 0);
	assert_output(u, v6, sizeof v6);
	sv_upstream_free(u);
}

static void
socks5_reply_codes_become_sentences(void **state)
{
	static const struct {
		uint8_t rep;
		int code;
		bool permanent;
		const char *text;
	} cases[] = {
	    {1, -ECONNABORTED, false,
	     "could not reach the VPN server vpn.example:443: general SOCKS "
	     "server failure"},
	    {2, -EACCES, true,
	     "refused the connection to the VPN server vpn.example:443: "
	     "connection not allowed by ruleset"},
	    {3, -ENETUNREACH, false,
	     "could not reach the VPN server "
	     "vpn.example:443: network unreachable"},
	    {4, -EHOSTUNREACH, false,
	     "could not reach the VPN server "
	     "vpn.example:443: host unreachable"},
	    {5, -ECONNREFUSED, false,
	     "could not reach the VPN server vpn.example:443: connection "
	     "refused"},
	    {6, -ETIMEDOUT, false, ": TTL expired"},
	    {7, -EOPNOTSUPP, true, ": command not supported"},
	    {8, -EAFNOSUPPORT, true, ": address type not supported"},
	    {9, SV_E_PROTO, true, "unknown SOCKS5 reply code 9"},
	    {255, SV_E_PROTO, true, "unknown SOCKS5 reply code 255"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct sv_upstream *u =
		    start("socks5://sp:1080", "vpn.example", 443);
		uint8_t a[] = {5, 0, 5, cases[i].rep}; /* short failure reply */
		int r = feed(u, a, sizeof a, NULL);
		const char *t = sv_upstream_error_text(u);
		if (r != cases[i].code ||
		    strstr(t, "the upstream proxy sp:1080 ") != t ||
		    strstr(t, cases[i].text) == NULL ||
		    sv_upstream_error_is_permanent(u) != cases[i].permanent)
			fail_msg("rep %u: r=%d text=\"%s\"", cases[i].rep, r,
			         t);
		sv_upstream_free(u);
	}
}

static void
socks5_method_and_auth_failures(void **state)
{
	struct sv_upstream *u;
	const char *t;

	assert_int_equal(fail_with("socks5://sp:1", "\x05\xff", 2, &t, &u),
	                 SV_E_AUTH);
	assert_string_equal(t,
	                    "the upstream proxy sp:1 requires a user name and "
	                    "password: put them in the proxy URL, "
	                    "socks5://user:password@host:port");
	sv_upstream_free(u);

	assert_int_equal(fail_with("socks5://a:b@sp:1", "\x05\xff", 2, &t, &u),
	                 SV_E_AUTH);
	assert_non_null(
	    strstr(t, "accepts none of our authentication methods"));
	sv_upstream_free(u);

	assert_int_equal(fail_with("socks5://a:secretpw@sp:1",
	                           "\x05\x02\x01\x01", 4, &t, &u),
	                 SV_E_AUTH);
	assert_string_equal(t, "the upstream proxy sp:1 rejected the user name "
	                       "and password from the proxy URL");
	assert_true(sv_upstream_error_is_permanent(u));
	sv_upstream_free(u);

	/* a server answering the sub-negotiation with version 5 is tolerated */
	u = start("socks5://a:b@sp:1", "vpn.example", 443);
	assert_int_equal(feed(u, "\x05\x02\x05\x00", 4, NULL), 0);
	sv_upstream_free(u);

	assert_int_equal(
	    fail_with("socks5://a:b@sp:1", "\x05\x02\x07\x00", 4, &t, &u),
	    SV_E_PROTO);
	sv_upstream_free(u);

	assert_int_equal(fail_with("socks5://sp:1", "\x05\x02", 2, &t, &u),
	                 SV_E_PROTO);
	assert_non_null(strstr(t, "method 2, which we did not offer"));
	sv_upstream_free(u);

	assert_int_equal(fail_with("socks5://sp:1", "\x05\x01", 2, &t, &u),
	                 SV_E_PROTO);
	sv_upstream_free(u);
}

static void
socks5_non_socks_answers_are_named(void **state)
{
	struct sv_upstream *u;
	const char *t;

	assert_int_equal(
	    fail_with("socks5://sp:1", "HTTP/1.1 400 Bad", 16, &t, &u),
	    SV_E_PROTO);
	assert_string_equal(t, "the upstream proxy sp:1 answered in HTTP, not "
	                       "SOCKS5: write http:// in the proxy URL");
	sv_upstream_free(u);

	assert_int_equal(fail_with("socks5://sp:1", "\x04\x5a", 2, &t, &u),
	                 SV_E_PROTO);
	assert_non_null(strstr(t, "does not speak SOCKS5 (its answer starts "
	                          "with byte 0x04"));
	sv_upstream_free(u);

	/* a bad version in the CONNECT reply */
	assert_int_equal(
	    fail_with("socks5://sp:1", "\x05\x00\x04\x00", 4, &t, &u),
	    SV_E_PROTO);
	sv_upstream_free(u);

	/* an unknown address type in the CONNECT reply */
	assert_int_equal(fail_with("socks5://sp:1",
	                           "\x05\x00\x05\x00\x00\x09\x00", 7, &t, &u),
	                 SV_E_PROTO);
	assert_non_null(strstr(t, "unknown address type 9"));
	sv_upstream_free(u);
}

static void
socks5_waits_for_the_whole_bound_address(void **state)
{
	struct sv_upstream *u = start("socks5://sp:1", "vpn.example", 443);
	size_t used = 0;
	assert_int_equal(feed(u, "\x05\x00\x05\x00\x00\x03\x00", 7, NULL), 0);
	/* zero-length name: only the port is missing */
	assert_int_equal(feed(u, "\x00", 1, NULL), 0);
	assert_int_equal(feed(u, "\x00XY", 3, &used), 1);
	assert_int_equal(used, 1);
	sv_upstream_free(u);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(url_parses_http_with_credentials_and_port),
	    cmocka_unit_test(url_defaults_port_1080_for_both_kinds),
	    cmocka_unit_test(url_accepts_socks5h_alias_and_any_case_scheme),
	    cmocka_unit_test(url_without_scheme_is_http),
	    cmocka_unit_test(url_accepts_bracketed_ipv6_and_trailing_slash),
	    cmocka_unit_test(
	        url_takes_the_last_at_sign_so_raw_at_in_password_works),
	    cmocka_unit_test(url_user_without_password_has_empty_password),
	    cmocka_unit_test(url_rejects_bad_urls_with_a_reason),
	    cmocka_unit_test(url_rejects_overlong_host_and_credentials),
	    cmocka_unit_test(url_errors_never_quote_the_password),
	    cmocka_unit_test(url_describe_hides_credentials),
	    cmocka_unit_test(new_rejects_unusable_targets),
	    cmocka_unit_test(output_ack_takes_partial_writes),
	    cmocka_unit_test(http_connect_request_is_exact),
	    cmocka_unit_test(http_connect_request_carries_basic_credentials),
	    cmocka_unit_test(http_connect_brackets_ipv6_targets),
	    cmocka_unit_test(http_200_split_at_every_byte_keeps_the_tls_bytes),
	    cmocka_unit_test(http_accepts_http10_bare_lf_and_other_2xx),
	    cmocka_unit_test(http_407_without_credentials_asks_for_them),
	    cmocka_unit_test(http_407_with_credentials_says_they_were_rejected),
	    cmocka_unit_test(http_401_is_treated_like_407),
	    cmocka_unit_test(http_407_with_only_other_schemes_names_them),
	    cmocka_unit_test(http_502_names_proxy_and_server_and_is_transient),
	    cmocka_unit_test(http_other_statuses_map_to_codes),
	    cmocka_unit_test(http_non_http_answer_fails_at_the_first_byte),
	    cmocka_unit_test(http_header_block_is_bounded),
	    cmocka_unit_test(transport_failures_name_the_proxy),
	    cmocka_unit_test(socks5_no_auth_exchange_is_exact),
	    cmocka_unit_test(socks5_user_pass_exchange_is_exact),
	    cmocka_unit_test(
	        socks5_with_credentials_accepts_the_no_auth_method),
	    cmocka_unit_test(socks5_sends_ip_literals_as_atyp_1_and_4),
	    cmocka_unit_test(socks5_reply_codes_become_sentences),
	    cmocka_unit_test(socks5_method_and_auth_failures),
	    cmocka_unit_test(socks5_non_socks_answers_are_named),
	    cmocka_unit_test(socks5_waits_for_the_whole_bound_address),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
