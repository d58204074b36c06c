/*
 * Tests for core/http: the two handshake requests byte for byte, and the
 * response header parser on good, split and hostile answers.
 */
#define _GNU_SOURCE /* memmem */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "core/http.h"

static const char ok_response[] = "HTTP/1.1 200 OK\r\n"
                                  "Connection: Keep-Alive\r\n"
                                  "Content-Length: 229\r\n"
                                  "Content-Type: application/octet-stream\r\n"
                                  "Date: Sun, 23 Nov 2025 13:00:00 GMT\r\n"
                                  "Keep-Alive: timeout=15; max=19\r\n"
                                  "\r\n";

static int
parse_str(const char *s, struct sv_http_response *resp)
{
	return sv_http_parse_response((const uint8_t *)s, strlen(s), resp);
}

static void
buf_equals(struct sv_buf *b, const char *want, size_t want_len)
{
	size_t n;
	const uint8_t *p = sv_buf_peek(b, &n);

	assert_int_equal(n, want_len);
	assert_memory_equal(p, want, want_len);
}

static void
signature_request_is_exact(void **state)
{
	(void)state;
	static const char want[] = "POST /vpnsvc/connect.cgi HTTP/1.1\r\n"
	                           "Host: 192.0.2.1\r\n"
	                           "Connection: Keep-Alive\r\n"
	                           "Content-Type: image/jpeg\r\n"
	                           "Content-Length: 10\r\n"
	                           "\r\n"
	                           "VPNCONNECT";
	struct sv_buf b;

	sv_buf_init(&b, 4096);
	assert_int_equal(sv_http_write_signature(&b, "192.0.2.1"), 0);
	buf_equals(&b, want, sizeof want - 1);
	sv_buf_cleanup(&b);
}

static void
signature_request_without_host_omits_header(void **state)
{
	(void)state;
	struct sv_buf b;
	size_t n;

	sv_buf_init(&b, 4096);
	assert_int_equal(sv_http_write_signature(&b, NULL), 0);
	const uint8_t *p = sv_buf_peek(&b, &n);
	assert_null(memmem(p, n, "Host:", 5));
	assert_non_null(memmem(p, n, "\r\n\r\nVPNCONNECT", 14));
	sv_buf_cleanup(&b);
}

static void
pack_post_request_is_exact(void **state)
{
	(void)state;
	static const uint8_t body[] = {0, 0, 0, 0, 0xff};
	static const char head[] = "POST /vpnsvc/vpn.cgi HTTP/1.1\r\n"
	                           "Host: vpn.example.com\r\n"
	                           "Keep-Alive: timeout=15; max=19\r\n"
	                           "Connection: Keep-Alive\r\n"
	                           "Content-Type: application/octet-stream\r\n"
	                           "Content-Length: 5\r\n"
	                           "\r\n";
	char want[sizeof head - 1 + sizeof body];
	struct sv_buf b;

	memcpy(want, head, sizeof head - 1);
	memcpy(want + sizeof head - 1, body, sizeof body);
	sv_buf_init(&b, 4096);
	assert_int_equal(
	    sv_http_write_pack_post(&b, "vpn.example.com", body, sizeof body),
	    0);
	buf_equals(&b, want, sizeof want);
	sv_buf_cleanup(&b);
}

static void
request_with_injected_host_is_refused_and_buffer_untouched(void **state)
{
	(void)state;
	struct sv_buf b;
	char longhost[300];

	memset(longhost, 'a', sizeof longhost - 1);
	longhost[sizeof longhost - 1] = 0;
	sv_buf_init(&b, 4096);
	assert_int_equal(sv_buf_put_str(&b, "keep"), 0);
	assert_int_equal(sv_http_write_signature(&b, "evil\r\nX: y"),
	                 SV_E_INVAL);
	assert_int_equal(sv_http_write_signature(&b, "a b"), SV_E_INVAL);
	assert_int_equal(sv_http_write_signature(&b, ""), SV_E_INVAL);
	assert_int_equal(sv_http_write_signature(&b, longhost), SV_E_INVAL);
	buf_equals(&b, "keep", 4);
	sv_buf_cleanup(&b);
}

static void
pack_post_rejects_empty_and_oversized_bodies(void **state)
{
	(void)state;
	static uint8_t big[SV_HTTP_REQUEST_BODY_MAX + 1];
	struct sv_buf b;

	sv_buf_init(&b, 1 << 20);
	assert_int_equal(sv_http_write_pack_post(&b, "h", big, 0), SV_E_TOOBIG);
	assert_int_equal(sv_http_write_pack_post(&b, "h", big, sizeof big),
	                 SV_E_TOOBIG);
	assert_int_equal(sv_http_write_pack_post(&b, "h", big, sizeof big - 1),
	                 0);
	sv_buf_cleanup(&b);
}

static void
request_that_does_not_fit_leaves_buffer_unchanged(void **state)
{
	(void)state;
	static const uint8_t body[100] = {1};
	struct sv_buf b;

	sv_buf_init(&b, 200); /* room for the headers, not for the body */
	assert_int_equal(sv_buf_put_str(&b, "xy"), 0);
	assert_int_equal(sv_http_write_pack_post(&b, "host", body, sizeof body),
	                 SV_E_TOOBIG);
	buf_equals(&b, "xy", 2);
	sv_buf_cleanup(&b);
}

static void
response_ok_gives_header_length_and_body_length(void **state)
{
	(void)state;
	struct sv_http_response r;

	assert_int_equal(parse_str(ok_response, &r), 0);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.header_len, strlen(ok_response));
	assert_int_equal(r.content_length, 229);
}

static void
response_split_at_every_byte_is_incomplete_until_blank_line(void **state)
{
	(void)state;
	struct sv_http_response r;
	size_t n = strlen(ok_response);

	for (size_t i = 0; i < n; i++) {
		memset(&r, 0xAA, sizeof r);
		assert_int_equal(
		    sv_http_parse_response((const uint8_t *)ok_response, i, &r),
		    SV_E_INCOMPLETE);
	}
	assert_int_equal(
	    sv_http_parse_response((const uint8_t *)ok_response, n, &r), 0);
	assert_int_equal(r.header_len, n);
}

static void
response_with_body_bytes_after_header_is_accepted(void **state)
{
	(void)state;
	char s[512];
	struct sv_http_response r;

	snprintf(s, sizeof s, "%sBODYBYTES", ok_response);
	assert_int_equal(parse_str(s, &r), 0);
	assert_int_equal(r.header_len, strlen(ok_response));
}

static void
response_403_is_not_vpn_with_status(void **state)
{
	(void)state;
	struct sv_http_response r = {0};

	assert_int_equal(parse_str("HTTP/1.1 403 Forbidden\r\n"
	                           "Content-Length: 10\r\n"
	                           "Content-Type: text/html\r\n\r\n",
	                           &r),
	                 SV_E_NOTVPN);
	assert_int_equal(r.status, 403);
}

static void
response_http10_or_garbage_is_not_vpn(void **state)
{
	(void)state;
	struct sv_http_response r = {0};

	assert_int_equal(
	    parse_str("HTTP/1.0 200 OK\r\nContent-Type: application/"
	              "octet-stream\r\nContent-Length: 5\r\n\r\n",
	              &r),
	    SV_E_NOTVPN);
	assert_int_equal(r.status, 0);
	assert_int_equal(parse_str("HTTP/1.1 2000 OK\r\n\r\n", &r),
	                 SV_E_NOTVPN);
	assert_int_equal(parse_str("HTTP/1.1 20x OK\r\n\r\n", &r), SV_E_NOTVPN);
	/* Not HTTP at all: refused at once, without waiting for a blank line.
	 */
	assert_int_equal(parse_str("SSH-2.0-", &r), SV_E_NOTVPN);
	assert_int_equal(parse_str("\x16\x03", &r), SV_E_NOTVPN);
	assert_int_equal(parse_str("HTT", &r), SV_E_INCOMPLETE);
}

static void
response_wrong_or_missing_content_type_is_not_vpn(void **state)
{
	(void)state;
	struct sv_http_response r;

	assert_int_equal(
	    parse_str("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n"
	              "Content-Length: 5\r\n\r\n",
	              &r),
	    SV_E_NOTVPN);
	assert_int_equal(r.status, 200);
	assert_int_equal(
	    parse_str("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", &r),
	    SV_E_NOTVPN);
	assert_int_equal(
	    parse_str("HTTP/1.1 200 OK\r\nContent-Type: application/"
	              "octet-streamX\r\nContent-Length: 5\r\n\r\n",
	              &r),
	    SV_E_NOTVPN);
}

static void
response_content_type_is_case_insensitive_with_parameters(void **state)
{
	(void)state;
	struct sv_http_response r;

	assert_int_equal(
	    parse_str("HTTP/1.1 200 OK\r\ncontent-type:APPLICATION/Octet-Stream"
	              " ; x=y \r\nCONTENT-LENGTH:  7 \r\n\r\n",
	              &r),
	    0);
	assert_int_equal(r.content_length, 7);
}

static void
response_length_limits(void **state)
{
	(void)state;
	struct sv_http_response r;
	char s[256];
	static const char fmt[] =
	    "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream"
	    "\r\nContent-Length: %s\r\n\r\n";

	snprintf(s, sizeof s, fmt, "1048576");
	assert_int_equal(parse_str(s, &r), 0);
	assert_int_equal(r.content_length, 1048576);
	snprintf(s, sizeof s, fmt, "1048577");
	assert_int_equal(parse_str(s, &r), SV_E_TOOBIG);
	snprintf(s, sizeof s, fmt, "99999999999999999999999");
	assert_int_equal(parse_str(s, &r), SV_E_TOOBIG);
	snprintf(s, sizeof s, fmt, "0");
	assert_int_equal(parse_str(s, &r), SV_E_NOTVPN);
	snprintf(s, sizeof s, fmt, "-1");
	assert_int_equal(parse_str(s, &r), SV_E_PROTO);
	snprintf(s, sizeof s, fmt, "12abc");
	assert_int_equal(parse_str(s, &r), SV_E_PROTO);
	snprintf(s, sizeof s, fmt, "");
	assert_int_equal(parse_str(s, &r), SV_E_PROTO);
}

static void
response_conflicting_lengths_and_chunked_are_protocol_errors(void **state)
{
	(void)state;
	struct sv_http_response r;

	assert_int_equal(
	    parse_str(
	        "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream"
	        "\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
	        &r),
	    SV_E_PROTO);
	assert_int_equal(
	    parse_str(
	        "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream"
	        "\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
	        &r),
	    0);
	assert_int_equal(
	    parse_str(
	        "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream"
	        "\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
	        &r),
	    SV_E_PROTO);
}

static void
response_malformed_header_lines_are_protocol_errors(void **state)
{
	(void)state;
	struct sv_http_response r;

	assert_int_equal(
	    parse_str("HTTP/1.1 200 OK\r\nNoColonHere\r\n\r\n", &r),
	    SV_E_PROTO);
	assert_int_equal(parse_str("HTTP/1.1 200 OK\r\n: empty\r\n\r\n", &r),
	                 SV_E_PROTO);
	assert_int_equal(parse_str("HTTP/1.1 200 OK\r\n folded: x\r\n\r\n", &r),
	                 SV_E_PROTO);
	assert_int_equal(parse_str("HTTP/1.1 200 OK\r\nA: b\nC: d\r\n\r\n", &r),
	                 SV_E_PROTO);
}

static void
response_header_block_past_limit_is_too_big(void **state)
{
	(void)state;
	static char s[SV_HTTP_HEADER_MAX + 64];
	struct sv_http_response r;

	strcpy(s, "HTTP/1.1 200 OK\r\nX: ");
	size_t n = strlen(s);
	memset(s + n, 'a', sizeof s - n - 1);
	s[sizeof s - 1] = 0;
	assert_int_equal(sv_http_parse_response((const uint8_t *)s,
	                                        SV_HTTP_HEADER_MAX - 1, &r),
	                 SV_E_INCOMPLETE);
	assert_int_equal(parse_str(s, &r), SV_E_TOOBIG);
	/* A blank line that comes only after the limit does not count. */
	memcpy(s + SV_HTTP_HEADER_MAX, "\r\n\r\n", 4);
	assert_int_equal(parse_str(s, &r), SV_E_TOOBIG);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(signature_request_is_exact),
	    cmocka_unit_test(signature_request_without_host_omits_header),
	    cmocka_unit_test(pack_post_request_is_exact),
	    cmocka_unit_test(
	        request_with_injected_host_is_refused_and_buffer_untouched),
	    cmocka_unit_test(pack_post_rejects_empty_and_oversized_bodies),
	    cmocka_unit_test(request_that_does_not_fit_leaves_buffer_unchanged),
	    cmocka_unit_test(response_ok_gives_header_length_and_body_length),
	    cmocka_unit_test(
	        response_split_at_every_byte_is_incomplete_until_blank_line),
	    cmocka_unit_test(response_with_body_bytes_after_header_is_accepted),
	    cmocka_unit_test(response_403_is_not_vpn_with_status),
	    cmocka_unit_test(response_http10_or_garbage_is_not_vpn),
	    cmocka_unit_test(response_wrong_or_missing_content_type_is_not_vpn),
	    cmocka_unit_test(
	        response_content_type_is_case_insensitive_with_parameters),
	    cmocka_unit_test(response_length_limits),
	    cmocka_unit_test(
	        response_conflicting_lengths_and_chunked_are_protocol_errors),
	    cmocka_unit_test(
	        response_malformed_header_lines_are_protocol_errors),
	    cmocka_unit_test(response_header_block_past_limit_is_too_big),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
