/*
 * SOCKS5 parser and reply builder (socks/socks5.c): bytes in, structs and codes out.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "socks/socks5.h"

/* Uniform wrappers so one helper can check every parser. */
typedef int parse_fn(struct sv_rd *in, void *out);

static int
parse_greeting(struct sv_rd *in, void *out)
{
	return sv_socks5_parse_greeting(in, out);
}

static int
parse_request(struct sv_rd *in, void *out)
{
	return sv_socks5_parse_request(in, out);
}

static int
parse_userpass(struct sv_rd *in, void *out)
{
	return sv_socks5_parse_userpass(in, out);
}

/*
 * Feeds every prefix of msg (and msg followed by trailing bytes): each proper prefix must
 * give SV_E_INCOMPLETE or, for a malformed message, the expected error; the cursor moves
 * only on success and then exactly past msg. Returns the full parse's result in out.
 */
static void
check_every_split(parse_fn *parse, const uint8_t *msg, size_t n, int want, void *out,
	size_t out_size)
{
	uint8_t buf[1024];
	uint8_t scratch[1024];

	assert_true(n + 3 <= sizeof buf && out_size <= sizeof scratch);
	for (size_t k = 0; k < n; k++) {
		struct sv_rd r = sv_rd_make(msg, k);
		int e = parse(&r, scratch);
		if (want == 0)
			assert_int_equal(e, SV_E_INCOMPLETE);
		else
			assert_true(e == SV_E_INCOMPLETE || e == want);
		assert_ptr_equal(r.p, msg);
		assert_int_equal(r.n, k);
	}
	/* Trailing bytes (a pipelined next message) are left for the caller. */
	memcpy(buf, msg, n);
	memcpy(buf + n, "\x05\x01\x00", 3);
	struct sv_rd r = sv_rd_make(buf, n + 3);
	assert_int_equal(parse(&r, out), want);
	if (want == 0) {
		assert_ptr_equal(r.p, buf + n);
		assert_int_equal(r.n, 3);
	} else {
		assert_ptr_equal(r.p, buf);
	}
}

/* --- greeting ------------------------------------------------------------------------ */

static void
socks5_greeting_no_auth_parses_at_every_split(void **state)
{
	static const uint8_t msg[] = { 5, 2, 0x00, 0x02 };
	struct sv_socks5_greeting g;

	check_every_split(parse_greeting, msg, sizeof msg, 0, &g, sizeof g);
	assert_int_equal(g.n_methods, 2);
	assert_true(sv_socks5_offers(&g, SV_SOCKS5_METHOD_NONE));
	assert_true(sv_socks5_offers(&g, SV_SOCKS5_METHOD_USERPASS));
	assert_false(sv_socks5_offers(&g, SV_SOCKS5_METHOD_GSSAPI));
}

static void
socks5_greeting_with_255_methods_parses(void **state)
{
	uint8_t msg[SV_SOCKS5_GREETING_MAX];
	struct sv_socks5_greeting g;

	msg[0] = 5;
	msg[1] = 255;
	for (int i = 0; i < 255; i++)
		msg[2 + i] = (uint8_t)(i + 1); /* 0x01..0xff: no 0x00 */
	check_every_split(parse_greeting, msg, sizeof msg, 0, &g, sizeof g);
	assert_int_equal(g.n_methods, 255);
	assert_false(sv_socks5_offers(&g, SV_SOCKS5_METHOD_NONE));
	static const uint8_t ours[] = { SV_SOCKS5_METHOD_NONE };
	assert_int_equal(sv_socks5_choose_method(&g, ours, 1),
		SV_SOCKS5_METHOD_UNACCEPTABLE);
}

static void
socks5_greeting_without_methods_accepts_nothing(void **state)
{
	static const uint8_t msg[] = { 5, 0 };
	static const uint8_t ours[] = { SV_SOCKS5_METHOD_NONE };
	struct sv_socks5_greeting g;

	check_every_split(parse_greeting, msg, sizeof msg, 0, &g, sizeof g);
	assert_int_equal(g.n_methods, 0);
	assert_int_equal(sv_socks5_choose_method(&g, ours, 1),
		SV_SOCKS5_METHOD_UNACCEPTABLE);
}

static void
socks5_choose_method_follows_server_preference(void **state)
{
	static const uint8_t msg[] = { 5, 3, 0x00, 0x01, 0x02 };
	static const uint8_t userpass_first[] = { SV_SOCKS5_METHOD_USERPASS,
		SV_SOCKS5_METHOD_NONE };
	static const uint8_t none_only[] = { SV_SOCKS5_METHOD_NONE };
	static const uint8_t unacceptable[] = { SV_SOCKS5_METHOD_UNACCEPTABLE };
	struct sv_rd r = sv_rd_make(msg, sizeof msg);
	struct sv_socks5_greeting g;

	assert_int_equal(sv_socks5_parse_greeting(&r, &g), 0);
	assert_int_equal(sv_socks5_choose_method(&g, userpass_first, 2),
		SV_SOCKS5_METHOD_USERPASS);
	assert_int_equal(sv_socks5_choose_method(&g, none_only, 1),
		SV_SOCKS5_METHOD_NONE);
	assert_int_equal(sv_socks5_choose_method(&g, unacceptable, 1),
		SV_SOCKS5_METHOD_UNACCEPTABLE);
	assert_int_equal(sv_socks5_choose_method(&g, NULL, 0),
		SV_SOCKS5_METHOD_UNACCEPTABLE);
}

static void
socks5_greeting_from_socks4_client_is_reported_after_one_byte(void **state)
{
	/* SOCKS4 CONNECT 10.0.0.1:80, user "u" */
	static const uint8_t msg[] = { 4, 1, 0, 80, 10, 0, 0, 1, 'u', 0 };
	struct sv_rd r = sv_rd_make(msg, 1);
	struct sv_socks5_greeting g;

	assert_int_equal(sv_socks5_parse_greeting(&r, &g), -EPROTONOSUPPORT);
	assert_int_equal(r.n, 1);
	check_every_split(parse_greeting, msg, sizeof msg, -EPROTONOSUPPORT, &g,
		sizeof g);

	uint8_t out[8];
	static const uint8_t want[8] = { 0, 91, 0, 0, 0, 0, 0, 0 };
	assert_int_equal(sv_socks5_build_socks4_reject(out), 8);
	assert_memory_equal(out, want, 8);
}

static void
socks5_greeting_with_bad_version_is_malformed(void **state)
{
	static const uint8_t http[] = "GET / HTTP/1.1\r\n";
	static const uint8_t v0[] = { 0, 1, 0 };
	struct sv_socks5_greeting g;

	check_every_split(parse_greeting, http, sizeof http - 1, SV_E_PROTO, &g,
		sizeof g);
	check_every_split(parse_greeting, v0, sizeof v0, SV_E_PROTO, &g, sizeof g);
	assert_int_equal(sv_socks5_rep_from_err(SV_E_PROTO),
		SV_SOCKS5_REP_GENERAL_FAILURE);
}

/* --- request ------------------------------------------------------------------------- */

static void
socks5_request_ipv4_parses_at_every_split(void **state)
{
	static const uint8_t msg[] = { 5, 1, 0, 1, 10, 0, 0, 1, 0x1f, 0x90 };
	static const uint8_t want_ip[4] = { 10, 0, 0, 1 };
	struct sv_socks5_request q;

	check_every_split(parse_request, msg, sizeof msg, 0, &q, sizeof q);
	assert_int_equal(q.cmd, SV_SOCKS5_CMD_CONNECT);
	assert_int_equal(q.atyp, SV_SOCKS5_ATYP_IPV4);
	assert_int_equal(q.ip.family, 4);
	assert_memory_equal(q.ip.b, want_ip, 4);
	assert_string_equal(q.host, "");
	assert_int_equal(q.port, 8080);

	char text[300];
	assert_string_equal(sv_socks5_format_target(&q, text, sizeof text),
		"10.0.0.1:8080");
}

static void
socks5_request_ipv6_parses_at_every_split(void **state)
{
	static const uint8_t msg[] = { 5, 1, 0, 4, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
		0, 0, 1, 0, 80 };
	struct sv_socks5_request q;

	check_every_split(parse_request, msg, sizeof msg, 0, &q, sizeof q);
	assert_int_equal(q.atyp, SV_SOCKS5_ATYP_IPV6);
	assert_int_equal(q.ip.family, 6);
	assert_memory_equal(q.ip.b, msg + 4, 16);
	assert_int_equal(q.port, 80);

	char text[300];
	assert_string_equal(sv_socks5_format_target(&q, text, sizeof text),
		"[fd00::1]:80");
}

static void
socks5_request_domain_parses_at_every_split(void **state)
{
	static const uint8_t msg[] = { 5, 1, 0, 3, 12, 'e', 'x', 'a', 'm', 'p', 'l', 'e',
		'.', 't', 'e', 's', 't', 0x01, 0xbb };
	struct sv_socks5_request q;

	check_every_split(parse_request, msg, sizeof msg, 0, &q, sizeof q);
	assert_int_equal(q.atyp, SV_SOCKS5_ATYP_DOMAIN);
	assert_string_equal(q.host, "example.test");
	assert_int_equal(q.port, 443);

	char text[300];
	assert_string_equal(sv_socks5_format_target(&q, text, sizeof text),
		"example.test:443");
}

static void
socks5_request_domain_of_255_bytes_parses(void **state)
{
	uint8_t msg[SV_SOCKS5_REQUEST_MAX];
	struct sv_socks5_request q;

	memcpy(msg, "\x05\x01\x00\x03\xff", 5);
	memset(msg + 5, 'a', 255);
	msg[260] = 0;
	msg[261] = 22;
	check_every_split(parse_request, msg, sizeof msg, 0, &q, sizeof q);
	assert_int_equal(strlen(q.host), 255);
	assert_int_equal(q.port, 22);
}

static void
socks5_request_ignores_reserved_byte(void **state)
{
	static const uint8_t msg[] = { 5, 1, 0xff, 1, 127, 0, 0, 1, 0, 1 };
	struct sv_socks5_request q;

	check_every_split(parse_request, msg, sizeof msg, 0, &q, sizeof q);
	assert_int_equal(q.port, 1);
}

static void
socks5_request_empty_domain_is_malformed(void **state)
{
	static const uint8_t msg[] = { 5, 1, 0, 3, 0, 0, 80 };
	struct sv_socks5_request q;

	check_every_split(parse_request, msg, sizeof msg, SV_E_PROTO, &q, sizeof q);
	/* Visible as soon as the length byte arrives. */
	struct sv_rd r = sv_rd_make(msg, 5);
	assert_int_equal(sv_socks5_parse_request(&r, &q), SV_E_PROTO);
}

static void
socks5_request_domain_with_nul_is_malformed(void **state)
{
	static const uint8_t msg[] = { 5, 1, 0, 3, 5, 'a', 'b', 0, 'c', 'd', 0, 80 };
	struct sv_socks5_request q;

	memset(&q, 0x5a, sizeof q);
	check_every_split(parse_request, msg, sizeof msg, SV_E_PROTO, &q, sizeof q);
	assert_int_equal(q.port, 0x5a5a); /* untouched on error */
	assert_int_equal(sv_socks5_rep_from_err(SV_E_PROTO),
		SV_SOCKS5_REP_GENERAL_FAILURE);
}

static void
socks5_request_with_bad_version_is_malformed(void **state)
{
	static const uint8_t msg[] = { 4, 1, 0, 1, 10, 0, 0, 1, 0, 80 };
	struct sv_socks5_request q;

	check_every_split(parse_request, msg, sizeof msg, SV_E_PROTO, &q, sizeof q);
	struct sv_rd r = sv_rd_make(msg, 1);
	assert_int_equal(sv_socks5_parse_request(&r, &q), SV_E_PROTO);
}

static void
socks5_request_bind_and_udp_parse_at_every_split(void **state)
{
	static const uint8_t bind[] = { 5, 2, 0, 1, 10, 1, 2, 3, 0x1f, 0x90 };
	static const uint8_t udp[] = { 5, 3, 0, 1, 0, 0, 0, 0, 0, 0 };
	struct sv_socks5_request q;

	check_every_split(parse_request, bind, sizeof bind, 0, &q, sizeof q);
	assert_int_equal(q.cmd, SV_SOCKS5_CMD_BIND);
	assert_int_equal(q.ip.family, 4);
	assert_memory_equal(q.ip.b, "\x0a\x01\x02\x03", 4);
	assert_int_equal(q.port, 8080);
	check_every_split(parse_request, udp, sizeof udp, 0, &q, sizeof q);
	assert_int_equal(q.cmd, SV_SOCKS5_CMD_UDP_ASSOCIATE);
	assert_int_equal(q.port, 0);
}

static void
socks5_request_unknown_command_is_not_supported(void **state)
{
	static const uint8_t unknown[] = { 5, 9, 0, 1, 0, 0, 0, 0, 0, 0 };
	struct sv_socks5_request q;

	check_every_split(parse_request, unknown, sizeof unknown, -EOPNOTSUPP, &q,
		sizeof q);
	/* Known after two bytes: no need to wait for an address. */
	struct sv_rd r = sv_rd_make(unknown, 2);
	assert_int_equal(sv_socks5_parse_request(&r, &q), -EOPNOTSUPP);
	assert_int_equal(sv_socks5_rep_from_err(-EOPNOTSUPP),
		SV_SOCKS5_REP_CMD_NOT_SUPPORTED);
}

static void
socks5_request_unknown_address_type_is_not_supported(void **state)
{
	static const uint8_t msg[] = { 5, 1, 0, 2, 1, 2, 3, 4, 0, 80 };
	struct sv_socks5_request q;

	check_every_split(parse_request, msg, sizeof msg, -EAFNOSUPPORT, &q, sizeof q);
	struct sv_rd r = sv_rd_make(msg, 4);
	assert_int_equal(sv_socks5_parse_request(&r, &q), -EAFNOSUPPORT);
	assert_int_equal(sv_socks5_rep_from_err(-EAFNOSUPPORT),
		SV_SOCKS5_REP_ATYP_NOT_SUPPORTED);
}

static void
socks5_pipelined_greeting_request_and_data_parse_in_order(void **state)
{
	static const uint8_t msg[] = { 5, 1, 0,                          /* greeting */
		5, 1, 0, 3, 1, 'h', 0, 80,                                /* request */
		'G', 'E', 'T' };                                          /* early data */
	struct sv_rd r = sv_rd_make(msg, sizeof msg);
	struct sv_socks5_greeting g;
	struct sv_socks5_request q;

	assert_int_equal(sv_socks5_parse_greeting(&r, &g), 0);
	assert_int_equal(sv_socks5_parse_request(&r, &q), 0);
	assert_string_equal(q.host, "h");
	assert_int_equal(r.n, 3);
	assert_memory_equal(r.p, "GET", 3);
}

/* --- RFC 1929 ------------------------------------------------------------------------ */

static void
socks5_userpass_parses_at_every_split(void **state)
{
	static const uint8_t msg[] = { 1, 4, 'u', 's', 'e', 'r', 3, 'p', 'w', 'd' };
	struct sv_socks5_userpass up;

	check_every_split(parse_userpass, msg, sizeof msg, 0, &up, sizeof up);
	assert_string_equal(up.user, "user");
	assert_string_equal(up.pass, "pwd");

	uint8_t out[2];
	assert_int_equal(sv_socks5_build_userpass_reply(out, true), 2);
	assert_memory_equal(out, "\x01\x00", 2);
	sv_socks5_build_userpass_reply(out, false);
	assert_memory_equal(out, "\x01\x01", 2);
}

static void
socks5_userpass_rejects_bad_version_and_nul(void **state)
{
	static const uint8_t v5[] = { 5, 1, 'u', 1, 'p' };
	static const uint8_t nul[] = { 1, 1, 'u', 2, 'p', 0 };
	struct sv_socks5_userpass up;

	check_every_split(parse_userpass, v5, sizeof v5, SV_E_PROTO, &up, sizeof up);
	check_every_split(parse_userpass, nul, sizeof nul, SV_E_PROTO, &up, sizeof up);
}

/* --- replies ------------------------------------------------------------------------- */

static void
socks5_reply_encodes_ipv4_bound_address(void **state)
{
	struct sv_ip ip = { .family = 4, .b = { 192, 168, 30, 10 } };
	static const uint8_t want[] = { 5, 0, 0, 1, 192, 168, 30, 10, 0xc0, 0x01 };
	uint8_t out[SV_SOCKS5_REPLY_MAX];

	assert_int_equal(sv_socks5_build_reply(out, SV_SOCKS5_REP_SUCCEEDED, &ip, 0xc001),
		sizeof want);
	assert_memory_equal(out, want, sizeof want);
}

static void
socks5_reply_encodes_ipv6_bound_address(void **state)
{
	struct sv_ip ip = { .family = 6, .b = { 0xfd, [15] = 2 } };
	uint8_t want[22] = { 5, 0, 0, 4, 0xfd, [19] = 2, [20] = 0x12, [21] = 0x34 };
	uint8_t out[SV_SOCKS5_REPLY_MAX];

	assert_int_equal(sv_socks5_build_reply(out, 0, &ip, 0x1234), 22);
	assert_memory_equal(out, want, 22);
}

static void
socks5_error_reply_without_address_uses_zero_ipv4(void **state)
{
	static const uint8_t want[] = { 5, 5, 0, 1, 0, 0, 0, 0, 0, 0 };
	uint8_t out[SV_SOCKS5_REPLY_MAX];
	struct sv_ip bogus = { .family = 9, .b = { 1, 2, 3, 4 } };

	assert_int_equal(sv_socks5_build_reply(out, SV_SOCKS5_REP_CONN_REFUSED, NULL, 0),
		10);
	assert_memory_equal(out, want, sizeof want);
	assert_int_equal(sv_socks5_build_reply(out, SV_SOCKS5_REP_CONN_REFUSED, &bogus, 0),
		10);
	assert_memory_equal(out, want, sizeof want);
}

static void
socks5_method_reply_encodes_choice(void **state)
{
	uint8_t out[2];

	assert_int_equal(sv_socks5_build_method(out, SV_SOCKS5_METHOD_UNACCEPTABLE), 2);
	assert_memory_equal(out, "\x05\xff", 2);
	sv_socks5_build_method(out, SV_SOCKS5_METHOD_NONE);
	assert_memory_equal(out, "\x05\x00", 2);
}

static void
socks5_errors_map_to_reply_codes(void **state)
{
	static const struct {
		int err;
		uint8_t rep;
	} cases[] = {
		{ 0, 0x00 },
		{ -ECONNREFUSED, 0x05 },
		{ -EHOSTUNREACH, 0x04 },
		{ -ENOENT, 0x04 },
		{ SV_E_NOTFOUND, 0x04 },
		{ -ENETUNREACH, 0x03 },
		{ -ETIMEDOUT, 0x06 },
		{ SV_E_TIMEOUT, 0x06 },
		{ -ECONNRESET, 0x01 },
		{ -ECONNABORTED, 0x01 },
		{ SV_E_NOMEM, 0x01 },
		{ -EACCES, 0x02 },
		{ -EPERM, 0x02 },
		{ -EOPNOTSUPP, 0x07 },
		{ -EAFNOSUPPORT, 0x08 },
		{ -12345, 0x01 },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		assert_int_equal(sv_socks5_rep_from_err(cases[i].err), cases[i].rep);
	assert_int_equal(sv_socks5_rep_from_resolve_err(-ENETUNREACH), 0x03);
	assert_int_equal(sv_socks5_rep_from_resolve_err(-ENOENT), 0x04);
	assert_int_equal(sv_socks5_rep_from_resolve_err(-ETIMEDOUT), 0x04);
	assert_string_equal(sv_socks5_rep_name(0x05), "connection refused");
	assert_string_equal(sv_socks5_rep_name(0x42), "unknown");
}

static void
socks5_format_target_truncates_safely(void **state)
{
	struct sv_socks5_request q = { .atyp = SV_SOCKS5_ATYP_DOMAIN, .port = 80 };
	char text[8];

	strcpy(q.host, "a-long-host-name");
	assert_string_equal(sv_socks5_format_target(&q, text, sizeof text), "a-long-");
}

/* --- UDP ASSOCIATE datagram header (RFC 1928 section 7) ------------------------------ */

static void
socks5_udp_header_ipv4_parses_and_leaves_data(void **state)
{
	static const uint8_t d[] = { 0, 0, 0, 1, 10, 77, 0, 1, 0x1f, 0x90, 'h', 'i' };
	struct sv_socks5_udp_hdr h;
	struct sv_rd r = sv_rd_make(d, sizeof d);

	assert_int_equal(sv_socks5_parse_udp(&r, &h), 0);
	assert_int_equal(h.atyp, SV_SOCKS5_ATYP_IPV4);
	assert_int_equal(h.ip.family, 4);
	assert_memory_equal(h.ip.b, "\x0a\x4d\x00\x01", 4);
	assert_int_equal(h.port, 8080);
	assert_ptr_equal(r.p, d + 10);
	assert_int_equal(r.n, 2);
}

static void
socks5_udp_header_ipv6_and_domain_parse(void **state)
{
	uint8_t d6[4 + 16 + 2 + 1] = { 0xff, 0xff, 0, 4 }; /* RSV is ignored */
	static const uint8_t dn[] = { 0, 0, 0, 3, 4, 'h', 'o', 's', 't', 0, 53, 'x' };
	struct sv_socks5_udp_hdr h;
	struct sv_rd r;

	d6[4] = 0xfd;
	d6[19] = 1;
	d6[20] = 0;
	d6[21] = 7;
	r = sv_rd_make(d6, sizeof d6);
	assert_int_equal(sv_socks5_parse_udp(&r, &h), 0);
	assert_int_equal(h.ip.family, 6);
	assert_int_equal(h.ip.b[0], 0xfd);
	assert_int_equal(h.ip.b[15], 1);
	assert_int_equal(h.port, 7);
	assert_int_equal(r.n, 1);
	r = sv_rd_make(dn, sizeof dn);
	assert_int_equal(sv_socks5_parse_udp(&r, &h), 0);
	assert_int_equal(h.atyp, SV_SOCKS5_ATYP_DOMAIN);
	assert_string_equal(h.host, "host");
	assert_int_equal(h.port, 53);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.p[0], 'x');
}

/* A datagram is whole: every cut inside the header is malformed, never "incomplete". */
static void
socks5_udp_header_cut_anywhere_is_malformed(void **state)
{
	static const uint8_t d4[] = { 0, 0, 0, 1, 10, 77, 0, 1, 0x1f, 0x90 };
	static const uint8_t dn[] = { 0, 0, 0, 3, 4, 'h', 'o', 's', 't', 0, 53 };
	const uint8_t *msgs[] = { d4, dn };
	size_t lens[] = { sizeof d4, sizeof dn };
	struct sv_socks5_udp_hdr h;

	for (size_t m = 0; m < 2; m++) {
		for (size_t k = 0; k < lens[m]; k++) {
			struct sv_rd r = sv_rd_make(msgs[m], k);
			assert_int_equal(sv_socks5_parse_udp(&r, &h), SV_E_PROTO);
			assert_ptr_equal(r.p, msgs[m]);
			assert_int_equal(r.n, k);
		}
		struct sv_rd r = sv_rd_make(msgs[m], lens[m]);
		assert_int_equal(sv_socks5_parse_udp(&r, &h), 0);
		assert_int_equal(r.n, 0);
	}
}

static void
socks5_udp_fragment_is_refused_before_the_address(void **state)
{
	static const uint8_t frag[] = { 0, 0, 1, 1, 10, 77, 0, 1, 0x1f, 0x90, 'x' };
	static const uint8_t frag_short[] = { 0, 0, 0x81, 9 }; /* last fragment, bad ATYP */
	struct sv_socks5_udp_hdr h;
	struct sv_rd r = sv_rd_make(frag, sizeof frag);

	assert_int_equal(sv_socks5_parse_udp(&r, &h), -EOPNOTSUPP);
	assert_ptr_equal(r.p, frag);
	r = sv_rd_make(frag_short, sizeof frag_short);
	assert_int_equal(sv_socks5_parse_udp(&r, &h), -EOPNOTSUPP);
}

static void
socks5_udp_header_bad_address_is_refused(void **state)
{
	static const uint8_t atyp[] = { 0, 0, 0, 2, 1, 2, 3, 4, 0, 80 };
	static const uint8_t empty[] = { 0, 0, 0, 3, 0, 0, 80 };
	static const uint8_t nul[] = { 0, 0, 0, 3, 3, 'a', 0, 'b', 0, 80 };
	struct sv_socks5_udp_hdr h;
	struct sv_rd r = sv_rd_make(atyp, sizeof atyp);

	assert_int_equal(sv_socks5_parse_udp(&r, &h), -EAFNOSUPPORT);
	assert_ptr_equal(r.p, atyp);
	r = sv_rd_make(empty, sizeof empty);
	assert_int_equal(sv_socks5_parse_udp(&r, &h), SV_E_PROTO);
	r = sv_rd_make(nul, sizeof nul);
	assert_int_equal(sv_socks5_parse_udp(&r, &h), SV_E_PROTO);
	assert_ptr_equal(r.p, nul);
}

static void
socks5_udp_header_with_empty_data_parses(void **state)
{
	static const uint8_t d[] = { 0, 0, 0, 1, 127, 0, 0, 1, 0, 9 };
	struct sv_socks5_udp_hdr h;
	struct sv_rd r = sv_rd_make(d, sizeof d);

	assert_int_equal(sv_socks5_parse_udp(&r, &h), 0);
	assert_int_equal(r.n, 0);
	assert_int_equal(h.port, 9);
}

static void
socks5_udp_header_build_round_trips(void **state)
{
	uint8_t out[SV_SOCKS5_UDP_HDR_IP_MAX + 1];
	struct sv_ip v4 = { .family = 4, .b = { 10, 77, 0, 1 } };
	struct sv_ip v6 = { .family = 6, .b = { 0xfd, [15] = 2 } };
	struct sv_socks5_udp_hdr h;
	struct sv_rd r;
	size_t n;

	n = sv_socks5_build_udp_hdr(out, &v4, 5353);
	assert_int_equal(n, 10);
	assert_memory_equal(out, "\0\0\0\x01\x0a\x4d\0\x01\x14\xe9", 10);
	r = sv_rd_make(out, n);
	assert_int_equal(sv_socks5_parse_udp(&r, &h), 0);
	assert_int_equal(h.port, 5353);
	n = sv_socks5_build_udp_hdr(out, &v6, 1);
	assert_int_equal(n, 22);
	r = sv_rd_make(out, n);
	assert_int_equal(sv_socks5_parse_udp(&r, &h), 0);
	assert_memory_equal(h.ip.b, v6.b, 16);
	n = sv_socks5_build_udp_hdr(out, NULL, 0);
	assert_int_equal(n, 10);
	assert_memory_equal(out, "\0\0\0\x01\0\0\0\0\0\0", 10);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(socks5_greeting_no_auth_parses_at_every_split),
		cmocka_unit_test(socks5_greeting_with_255_methods_parses),
		cmocka_unit_test(socks5_greeting_without_methods_accepts_nothing),
		cmocka_unit_test(socks5_choose_method_follows_server_preference),
		cmocka_unit_test(socks5_greeting_from_socks4_client_is_reported_after_one_byte),
		cmocka_unit_test(socks5_greeting_with_bad_version_is_malformed),
		cmocka_unit_test(socks5_request_ipv4_parses_at_every_split),
		cmocka_unit_test(socks5_request_ipv6_parses_at_every_split),
		cmocka_unit_test(socks5_request_domain_parses_at_every_split),
		cmocka_unit_test(socks5_request_domain_of_255_bytes_parses),
		cmocka_unit_test(socks5_request_ignores_reserved_byte),
		cmocka_unit_test(socks5_request_empty_domain_is_malformed),
		cmocka_unit_test(socks5_request_domain_with_nul_is_malformed),
		cmocka_unit_test(socks5_request_with_bad_version_is_malformed),
		cmocka_unit_test(socks5_request_bind_and_udp_parse_at_every_split),
		cmocka_unit_test(socks5_request_unknown_command_is_not_supported),
		cmocka_unit_test(socks5_udp_header_ipv4_parses_and_leaves_data),
		cmocka_unit_test(socks5_udp_header_ipv6_and_domain_parse),
		cmocka_unit_test(socks5_udp_header_cut_anywhere_is_malformed),
		cmocka_unit_test(socks5_udp_fragment_is_refused_before_the_address),
		cmocka_unit_test(socks5_udp_header_bad_address_is_refused),
		cmocka_unit_test(socks5_udp_header_with_empty_data_parses),
		cmocka_unit_test(socks5_udp_header_build_round_trips),
		cmocka_unit_test(socks5_request_unknown_address_type_is_not_supported),
		cmocka_unit_test(socks5_pipelined_greeting_request_and_data_parse_in_order),
		cmocka_unit_test(socks5_userpass_parses_at_every_split),
		cmocka_unit_test(socks5_userpass_rejects_bad_version_and_nul),
		cmocka_unit_test(socks5_reply_encodes_ipv4_bound_address),
		cmocka_unit_test(socks5_reply_encodes_ipv6_bound_address),
		cmocka_unit_test(socks5_error_reply_without_address_uses_zero_ipv4),
		cmocka_unit_test(socks5_method_reply_encodes_choice),
		cmocka_unit_test(socks5_errors_map_to_reply_codes),
		cmocka_unit_test(socks5_format_target_truncates_safely),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
