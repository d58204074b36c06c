/*
 * SOCKS4 / SOCKS4a parser and reply builder (socks/socks4.c), and the small pure helpers
 * of the front-end layer: the constant-time comparison used for proxy credentials and
 * the "is this listen address local" rule (socks/conn.c, socks/listener.c).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "socks/frontend.h"
#include "socks/proxy.h"
#include "socks/socks4.h"

/*
 * Feeds every proper prefix of msg: each must give SV_E_INCOMPLETE, or (for a malformed
 * message) SV_E_INCOMPLETE until the bytes show the error and then want; the cursor never
 * moves. Then msg followed by pipelined bytes: want, and on success the cursor stops
 * exactly after msg.
 */
static void
check_every_split(const uint8_t *msg, size_t n, int want, struct sv_socks4_request *out)
{
	static uint8_t buf[1024];
	struct sv_socks4_request q;
	bool seen_error = false;

	assert_true(n + 4 <= sizeof buf);
	for (size_t k = 0; k < n; k++) {
		struct sv_rd r = sv_rd_make(msg, k);
		int e = sv_socks4_parse_request(&r, &q);
		if (want == 0 || !seen_error)
			assert_true(e == SV_E_INCOMPLETE || (want != 0 && e == want));
		else
			assert_int_equal(e, want); /* once visible, it stays an error */
		seen_error |= e == want && want != 0;
		assert_ptr_equal(r.p, msg);
		assert_int_equal(r.n, k);
	}
	memcpy(buf, msg, n);
	memcpy(buf + n, "GET ", 4);
	struct sv_rd r = sv_rd_make(buf, n + 4);
	assert_int_equal(sv_socks4_parse_request(&r, out), want);
	if (want == 0) {
		assert_ptr_equal(r.p, buf + n);
		assert_int_equal(r.n, 4);
	} else {
		assert_ptr_equal(r.p, buf);
	}
}

static void
socks4_connect_ipv4_parses_at_every_split(void **state)
{
	static const uint8_t msg[] = { 4, 1, 0x00, 0x50, 10, 77, 0, 1, 'b', 'o', 'b', 0 };
	struct sv_socks4_request q;
	char text[64];

	(void)state;
	check_every_split(msg, sizeof msg, 0, &q);
	assert_int_equal(q.cmd, SV_SOCKS4_CMD_CONNECT);
	assert_int_equal(q.port, 80);
	assert_false(q.is_4a);
	assert_int_equal(q.ip.family, 4);
	assert_memory_equal(q.ip.b, "\x0a\x4d\x00\x01", 4);
	assert_string_equal(q.userid, "bob");
	assert_string_equal(q.host, "");
	assert_string_equal(sv_socks4_format_target(&q, text, sizeof text), "10.77.0.1:80");
}

static void
socks4a_hostname_parses_at_every_split(void **state)
{
	static const uint8_t msg[] = { 4, 1, 0x01, 0xbb, 0, 0, 0, 7, 0,
		'i', 'n', 't', 'r', 'a', 'n', 'e', 't', '.', 't', 'e', 's', 't', 0 };
	struct sv_socks4_request q;
	char text[64];

	(void)state;
	check_every_split(msg, sizeof msg, 0, &q);
	assert_true(q.is_4a);
	assert_int_equal(q.port, 443);
	assert_string_equal(q.userid, "");
	assert_string_equal(q.host, "intranet.test");
	assert_string_equal(sv_socks4_format_target(&q, text, sizeof text),
		"intranet.test:443");
}

static void
socks4_address_0_0_0_0_is_plain_socks4(void **state)
{
	/* only 0.0.0.x with x != 0 marks 4a */
	static const uint8_t msg[] = { 4, 1, 0, 22, 0, 0, 0, 0, 0 };
	struct sv_socks4_request q;

	(void)state;
	check_every_split(msg, sizeof msg, 0, &q);
	assert_false(q.is_4a);
}

static void
socks4_userid_of_255_bytes_parses_and_256_is_malformed(void **state)
{
	uint8_t msg[8 + 257];
	struct sv_socks4_request q;

	(void)state;
	memcpy(msg, "\x04\x01\x00\x50\x0a\x00\x00\x01", 8);
	memset(msg + 8, 'u', 255);
	msg[8 + 255] = 0;
	check_every_split(msg, 8 + 256, 0, &q);
	assert_int_equal(strlen(q.userid), 255);
	/* 256 bytes and no NUL yet: an error already, without waiting for more */
	memset(msg + 8, 'u', 256);
	struct sv_rd r = sv_rd_make(msg, 8 + 256);
	assert_int_equal(sv_socks4_parse_request(&r, &q), SV_E_PROTO);
	assert_ptr_equal(r.p, msg);
}

static void
socks4a_hostname_too_long_or_empty_is_malformed(void **state)
{
	uint8_t msg[8 + 1 + 257];
	struct sv_socks4_request q;

	(void)state;
	memcpy(msg, "\x04\x01\x00\x50\x00\x00\x00\x01\x00", 9);
	memset(msg + 9, 'h', 256);
	struct sv_rd r = sv_rd_make(msg, 9 + 256);
	assert_int_equal(sv_socks4_parse_request(&r, &q), SV_E_PROTO);
	msg[9] = 0; /* empty host name */
	check_every_split(msg, 10, SV_E_PROTO, &q);
	/* 255 bytes is the most */
	memset(msg + 9, 'h', 255);
	msg[9 + 255] = 0;
	check_every_split(msg, 9 + 256, 0, &q);
	assert_int_equal(strlen(q.host), 255);
}

static void
socks4_bind_is_not_supported_after_two_bytes(void **state)
{
	static const uint8_t msg[] = { 4, 2 };
	struct sv_socks4_request q;
	struct sv_rd r = sv_rd_make(msg, sizeof msg);

	(void)state;
	assert_int_equal(sv_socks4_parse_request(&r, &q), -EOPNOTSUPP);
	assert_int_equal(r.n, 2);
	r = sv_rd_make(msg, 1);
	assert_int_equal(sv_socks4_parse_request(&r, &q), SV_E_INCOMPLETE);
}

static void
socks4_wrong_version_is_malformed_after_one_byte(void **state)
{
	static const uint8_t v5[] = { 5 }, http[] = { 'G' };
	struct sv_socks4_request q;
	struct sv_rd r = sv_rd_make(v5, 1);

	(void)state;
	assert_int_equal(sv_socks4_parse_request(&r, &q), SV_E_PROTO);
	r = sv_rd_make(http, 1);
	assert_int_equal(sv_socks4_parse_request(&r, &q), SV_E_PROTO);
	r = sv_rd_make(http, 0);
	assert_int_equal(sv_socks4_parse_request(&r, &q), SV_E_INCOMPLETE);
}

static void
socks4_reply_encodes_granted_and_rejected(void **state)
{
	uint8_t b[SV_SOCKS4_REPLY_LEN];

	(void)state;
	assert_int_equal(sv_socks4_build_reply(b, SV_SOCKS4_REP_GRANTED), 8);
	assert_memory_equal(b, "\x00\x5a\x00\x00\x00\x00\x00\x00", 8);
	assert_int_equal(sv_socks4_build_reply(b, SV_SOCKS4_REP_REJECTED), 8);
	assert_memory_equal(b, "\x00\x5b\x00\x00\x00\x00\x00\x00", 8);
}

static void
socks4_format_target_truncates_safely(void **state)
{
	struct sv_socks4_request q;
	char small[6];

	(void)state;
	memset(&q, 0, sizeof q);
	q.is_4a = true;
	memset(q.host, 'x', 255);
	q.port = 65535;
	sv_socks4_format_target(&q, small, sizeof small);
	assert_string_equal(small, "xxxxx");
	sv_socks4_format_target(&q, small, 0); /* no write at all */
}

/* --- helpers of the front-end layer -------------------------------------------------- */

static void
ct_equal_compares_content_and_length(void **state)
{
	char long_a[300], long_b[300];

	(void)state;
	assert_true(sv_ct_equal("secret", 6, "secret", 6));
	assert_true(sv_ct_equal("", 0, "", 0));
	assert_false(sv_ct_equal("secret", 6, "secreT", 6));
	assert_false(sv_ct_equal("secret", 6, "secret\0", 7)); /* padding is not equality */
	assert_false(sv_ct_equal("secret", 6, "secre", 5));
	assert_false(sv_ct_equal("", 0, "x", 1));
	memset(long_a, 'a', sizeof long_a);
	memset(long_b, 'a', sizeof long_b);
	assert_true(sv_ct_equal(long_a, 255, long_b, 255));
	assert_false(sv_ct_equal(long_a, 256, long_b, 256)); /* past the limit: never */
}

static void
listen_addresses_local_only_on_loopback_and_unix(void **state)
{
	(void)state;
	assert_true(sv_proxy_addr_is_local("1080"));
	assert_true(sv_proxy_addr_is_local("127.0.0.1:1080"));
	assert_true(sv_proxy_addr_is_local("127.1.2.3:1080"));
	assert_true(sv_proxy_addr_is_local("localhost:1080"));
	assert_true(sv_proxy_addr_is_local("[::1]:1080"));
	assert_true(sv_proxy_addr_is_local("unix:/run/user/1000/sevpn.sock"));
	assert_false(sv_proxy_addr_is_local("0.0.0.0:1080"));
	assert_false(sv_proxy_addr_is_local("[::]:1080"));
	assert_false(sv_proxy_addr_is_local("192.168.1.5:1080"));
	assert_false(sv_proxy_addr_is_local("[::ffff:127.0.0.1]:1080"));
	assert_false(sv_proxy_addr_is_local("myhost:1080"));
	assert_false(sv_proxy_addr_is_local("garbage"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(socks4_connect_ipv4_parses_at_every_split),
		cmocka_unit_test(socks4a_hostname_parses_at_every_split),
		cmocka_unit_test(socks4_address_0_0_0_0_is_plain_socks4),
		cmocka_unit_test(socks4_userid_of_255_bytes_parses_and_256_is_malformed),
		cmocka_unit_test(socks4a_hostname_too_long_or_empty_is_malformed),
		cmocka_unit_test(socks4_bind_is_not_supported_after_two_bytes),
		cmocka_unit_test(socks4_wrong_version_is_malformed_after_one_byte),
		cmocka_unit_test(socks4_reply_encodes_granted_and_rejected),
		cmocka_unit_test(socks4_format_target_truncates_safely),
		cmocka_unit_test(ct_equal_compares_content_and_length),
		cmocka_unit_test(listen_addresses_local_only_on_loopback_and_unix),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
