/*
 * HTTP proxy parsing (socks/http_parse.c) and the PAC generator (socks/pac.c): bytes
 * in, structs, codes and bytes out.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "socks/http_parse.h"
#include "socks/pac.h"

/* ---- helpers ------------------------------------------------------------------ */

static int
parse_req(const char *s, size_t n, struct sv_httpp_request *req,
	struct sv_httpp_err *err)
{
	struct sv_rd r = sv_rd_make(s, n);
	int e = sv_httpp_parse_request(&r, req, err);

	if (e == 0) {
		assert_ptr_equal(r.p, (const uint8_t *)s + req->head_len);
		assert_int_equal(r.n, n - req->head_len);
	} else {
		assert_ptr_equal(r.p, (const uint8_t *)s);
		assert_int_equal(r.n, n);
	}
	return e;
}

/* Parses s whole, then every proper prefix: each must be SV_E_INCOMPLETE (when the
 * whole parses) or SV_E_INCOMPLETE / the same error. Returns the whole result. */
static int
parse_req_splits(const char *s, struct sv_httpp_request *req,
	struct sv_httpp_err *err)
{
	size_t n = strlen(s);
	int e = parse_req(s, n, req, err);
	struct sv_httpp_request *tmp = malloc(sizeof *tmp);
	struct sv_httpp_err e2;

	assert_non_null(tmp);
	for (size_t k = 0; k < n; k++) {
		int ek = parse_req(s, k, tmp, &e2);
		if (e == 0 && k < req->head_len)
			assert_int_equal(ek, SV_E_INCOMPLETE);
		else if (ek != SV_E_INCOMPLETE && e != 0)
			assert_int_equal(ek, e);
	}
	free(tmp);
	return e;
}

/* Expects s to be refused with status. */
static void
expect_refused(const char *s, unsigned status)
{
	struct sv_httpp_request *req = malloc(sizeof *req);
	struct sv_httpp_err err = { 0, NULL };
	int e;

	assert_non_null(req);
	e = parse_req_splits(s, req, &err);
	if (e == 0 || e == SV_E_INCOMPLETE)
		fail_msg("accepted: %s", s);
	assert_int_equal(err.status, status);
	assert_non_null(err.why);
	free(req);
}

static bool
str_eq(struct sv_httpp_str a, const char *s)
{
	return a.p != NULL && a.n == strlen(s) && memcmp(a.p, s, a.n) == 0;
}

static int
parse_resp(const char *s, enum sv_httpp_method m, struct sv_httpp_response *resp,
	struct sv_httpp_err *err)
{
	size_t n = strlen(s);
	struct sv_rd r = sv_rd_make(s, n);
	int e = sv_httpp_parse_response(&r, m, resp, err);
	struct sv_httpp_response *tmp = malloc(sizeof *tmp);

	assert_non_null(tmp);
	for (size_t k = 0; k < n; k++) {
		struct sv_rd rk = sv_rd_make(s, k);
		int ek = sv_httpp_parse_response(&rk, m, tmp, NULL);
		if (e == 0 && k < resp->head_len)
			assert_int_equal(ek, SV_E_INCOMPLETE);
		if (ek != 0)
			assert_int_equal(rk.n, k);
	}
	free(tmp);
	return e;
}

/* Output of an sv_buf as a NUL-terminated string (static storage). */
static const char *
buf_str(const struct sv_buf *b)
{
	static char text[70000];
	size_t n;
	const uint8_t *p = sv_buf_peek(b, &n);

	assert_true(n < sizeof text);
	memcpy(text, p, n);
	text[n] = '\0';
	return text;
}

/* Feeds the stream s[0..n) to a fresh delimiter in pieces of `step` bytes; returns the
 * body length it found (or a negative code). */
static long
body_len(enum sv_httpp_framing f, uint64_t cl, const char *s, size_t n, size_t step)
{
	struct sv_httpp_body b;
	size_t off = 0;

	sv_httpp_body_init(&b, f, cl);
	while (off < n && !sv_httpp_body_done(&b)) {
		size_t take = n - off < step ? n - off : step, used = 9999;
		int e = sv_httpp_body_feed(&b, (const uint8_t *)s + off, take, &used);
		if (e != 0)
			return e;
		assert_true(used <= take);
		off += used;
		if (used < take)
			assert_true(sv_httpp_body_done(&b));
	}
	return sv_httpp_body_done(&b) ? (long)off : SV_E_INCOMPLETE;
}

/* ---- request line and target -------------------------------------------------- */

static void
request_absolute_get_parses_at_every_split(void **state)
{
	(void)state;
	static const char s[] = "GET http://Example.com/a/b?x=1#frag HTTP/1.1\r\n"
				"Host: example.com\r\n"
				"User-Agent: t\r\n"
				"Accept:  */*  \r\n\r\nNEXT";
	struct sv_httpp_request req;
	struct sv_httpp_err err;

	assert_int_equal(parse_req_splits(s, &req, &err), 0);
	assert_int_equal(req.head_len, strlen(s) - 4);
	assert_true(str_eq(req.method, "GET"));
	assert_int_equal(req.method_id, SV_HTTPP_METHOD_GET);
	assert_int_equal(req.form, SV_HTTPP_FORM_ABSOLUTE);
	assert_string_equal(req.host, "Example.com");
	assert_int_equal(req.host_ip.family, 0);
	assert_int_equal(req.port, 80);
	assert_true(str_eq(req.path, "/a/b?x=1"));
	assert_int_equal(req.version_minor, 1);
	assert_int_equal(req.n_headers, 3);
	assert_true(str_eq(req.headers[2].name, "Accept"));
	assert_true(str_eq(req.headers[2].value, "*/*"));
	assert_int_equal(req.framing, SV_HTTPP_BODY_NONE);
	assert_true(req.keep_alive);
	assert_null(req.proxy_auth.p);
}

static void
request_head_length_resumes_its_scan_byte_by_byte(void **state)
{
	(void)state;
	static const char s[] = "\r\nGET http://h/ HTTP/1.1\nA: b\r\n\nrest";
	size_t n = strlen(s), scan = 0, len = 0, want = strlen(s) - 4;

	for (size_t k = 0; k < n; k++) {
		int e = sv_httpp_head_length((const uint8_t *)s, k, &scan, &len);
		if (k < want) {
			assert_int_equal(e, SV_E_INCOMPLETE);
		} else {
			assert_int_equal(e, 0);
			assert_int_equal(len, want);
		}
	}
	/* And the parser agrees, LF-only endings and a leading empty line included. */
	struct sv_httpp_request req;
	assert_int_equal(parse_req(s, n, &req, NULL), 0);
	assert_int_equal(req.head_len, want);
	assert_string_equal(req.host, "h");
	assert_true(str_eq(req.headers[0].value, "b"));
}

static void
request_connect_takes_authority_form(void **state)
{
	(void)state;
	struct sv_httpp_request req;

	assert_int_equal(parse_req_splits("CONNECT example.com:443 HTTP/1.1\r\n"
					  "Host: example.com:443\r\n\r\n",
				 &req, NULL),
		0);
	assert_int_equal(req.method_id, SV_HTTPP_METHOD_CONNECT);
	assert_int_equal(req.form, SV_HTTPP_FORM_AUTHORITY);
	assert_string_equal(req.host, "example.com");
	assert_int_equal(req.port, 443);
	assert_int_equal(req.framing, SV_HTTPP_BODY_NONE);

	assert_int_equal(parse_req_splits("CONNECT [fd00::1]:22 HTTP/1.1\r\n\r\n",
				 &req, NULL),
		0);
	assert_string_equal(req.host, "fd00::1");
	assert_int_equal(req.host_ip.family, 6);
	assert_int_equal(req.host_ip.b[0], 0xfd);
	assert_int_equal(req.port, 22);

	assert_int_equal(parse_req_splits("CONNECT 10.1.2.3:80 HTTP/1.0\r\n\r\n", &req,
				 NULL),
		0);
	assert_int_equal(req.host_ip.family, 4);
	assert_int_equal(req.host_ip.b[3], 3);
	assert_false(req.keep_alive);

	expect_refused("CONNECT example.com HTTP/1.1\r\n\r\n", 400);
	expect_refused("CONNECT example.com: HTTP/1.1\r\n\r\n", 400);
	expect_refused("CONNECT http://example.com:443/ HTTP/1.1\r\n\r\n", 400);
	expect_refused("CONNECT user@example.com:443 HTTP/1.1\r\n\r\n", 400);
	expect_refused("CONNECT a:1 HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc", 400);
}

static void
request_absolute_form_handles_ipv6_ports_and_odd_paths(void **state)
{
	(void)state;
	struct sv_httpp_request req;

	assert_int_equal(parse_req("GET http://[2001:db8::5]:8080 HTTP/1.1\r\n\r\n",
				 41 + 4, &req, NULL),
		0);
	assert_string_equal(req.host, "2001:db8::5");
	assert_int_equal(req.host_ip.family, 6);
	assert_int_equal(req.port, 8080);
	assert_int_equal(req.path.n, 0);

	assert_int_equal(parse_req_splits("GET HTTP://h:/?q HTTP/1.1\r\n\r\n", &req,
				 NULL),
		0);
	assert_int_equal(req.port, 80);
	assert_true(str_eq(req.path, "/?q"));

	assert_int_equal(parse_req_splits("GET http://h?q HTTP/1.1\r\n\r\n", &req,
				 NULL),
		0);
	assert_true(str_eq(req.path, "?q"));

	assert_int_equal(parse_req_splits("GET http://h:65535/ HTTP/1.1\r\n\r\n", &req,
				 NULL),
		0);
	assert_int_equal(req.port, 65535);

	expect_refused("GET http://h:0/ HTTP/1.1\r\n\r\n", 400);
	expect_refused("GET http://h:65536/ HTTP/1.1\r\n\r\n", 400);
	expect_refused("GET http://h:8a/ HTTP/1.1\r\n\r\n", 400);
	expect_refused("GET http://[fd00::1/ HTTP/1.1\r\n\r\n", 400);
	expect_refused("GET http://[zz::1]/ HTTP/1.1\r\n\r\n", 400);
	expect_refused("GET http://[fd00::1]x/ HTTP/1.1\r\n\r\n", 400);
	expect_refused("GET http:/// HTTP/1.1\r\n\r\n", 400);
	expect_refused("GET http://bad!host/ HTTP/1.1\r\n\r\n", 400);
	expect_refused("GET example.com/ HTTP/1.1\r\n\r\n", 400);
	expect_refused("OPTIONS * HTTP/1.1\r\n\r\n", 400);
	expect_refused("GET http://h/a\x01 HTTP/1.1\r\n\r\n", 400);
}

static void
request_with_userinfo_or_other_scheme_is_refused_with_a_reason(void **state)
{
	(void)state;
	struct sv_httpp_request req;
	struct sv_httpp_err err;

	assert_int_equal(parse_req_splits("GET http://u:p@h/ HTTP/1.1\r\n\r\n", &req,
				 &err),
		SV_E_PROTO);
	assert_int_equal(err.status, 400);
	assert_non_null(strstr(err.why, "password"));

	assert_int_equal(parse_req_splits("GET https://h/ HTTP/1.1\r\n\r\n", &req,
				 &err),
		SV_E_PROTO);
	assert_non_null(strstr(err.why, "CONNECT"));

	assert_int_equal(parse_req_splits("GET ftp://h/ HTTP/1.1\r\n\r\n", &req,
				 &err),
		SV_E_PROTO);
	assert_non_null(strstr(err.why, "http://"));
}

static void
request_in_origin_form_is_for_the_proxy_itself(void **state)
{
	(void)state;
	struct sv_httpp_request req;
	struct sv_httpp_str host;
	struct sv_buf out;

	assert_int_equal(parse_req_splits("GET /proxy.pac HTTP/1.1\r\n"
					  "Host: 127.0.0.1:3128\r\n\r\n",
				 &req, NULL),
		0);
	assert_int_equal(req.form, SV_HTTPP_FORM_ORIGIN);
	assert_true(str_eq(req.path, "/proxy.pac"));
	assert_string_equal(req.host, "");
	assert_true(sv_httpp_header_get(req.headers, req.n_headers, "HOST", &host));
	assert_true(str_eq(host, "127.0.0.1:3128"));
	sv_buf_init(&out, 4096);
	assert_int_equal(sv_httpp_write_request(&out, &req, true), SV_E_INVAL);
	assert_int_equal(sv_buf_len(&out), 0);
	sv_buf_cleanup(&out);
}

static void
request_version_decides_persistence(void **state)
{
	(void)state;
	struct sv_httpp_request req;

	assert_int_equal(parse_req_splits("GET http://h/ HTTP/1.0\r\n\r\n", &req, NULL),
		0);
	assert_int_equal(req.version_minor, 0);
	assert_false(req.keep_alive);
	assert_int_equal(parse_req_splits("GET http://h/ HTTP/1.0\r\n"
					  "Connection: Keep-Alive\r\n\r\n",
				 &req, NULL),
		0);
	assert_true(req.keep_alive);
	assert_int_equal(parse_req_splits("GET http://h/ HTTP/1.0\r\n"
					  "Proxy-Connection: keep-alive\r\n\r\n",
				 &req, NULL),
		0);
	assert_true(req.keep_alive);
	assert_int_equal(parse_req_splits("GET http://h/ HTTP/1.1\r\n"
					  "Connection: foo, close\r\n\r\n",
				 &req, NULL),
		0);
	assert_false(req.keep_alive);
	assert_int_equal(parse_req_splits("GET http://h/ HTTP/1.1\r\n"
					  "Proxy-Connection: close\r\n\r\n",
				 &req, NULL),
		0);
	assert_false(req.keep_alive);

	expect_refused("GET http://h/ HTTP/2.0\r\n\r\n", 505);
	expect_refused("GET http://h/ HTTP/1.1x\r\n\r\n", 400);
	expect_refused("GET http://h/ http/1.1\r\n\r\n", 400);
	expect_refused("GET  http://h/ HTTP/1.1\r\n\r\n", 400);
	expect_refused("GET http://h/\r\n\r\n", 400);
	expect_refused("G(T http://h/ HTTP/1.1\r\n\r\n", 400);
}

/* ---- request smuggling defences ------------------------------------------------ */

static void
request_smuggling_attempts_are_refused(void **state)
{
	(void)state;
	expect_refused("POST http://h/ HTTP/1.1\r\nContent-Length: 3\r\n"
		       "Transfer-Encoding: chunked\r\n\r\n",
		400);
	expect_refused("POST http://h/ HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
		400);
	expect_refused("POST http://h/ HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 400);
	expect_refused("POST http://h/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
		       "Transfer-Encoding: chunked\r\n\r\n",
		400);
	expect_refused("POST http://h/ HTTP/1.1\r\nTransfer-Encoding: xchunked\r\n\r\n",
		400);
	expect_refused("POST http://h/ HTTP/1.1\r\nTransfer-Encoding: chunked;a=b\r\n\r\n",
		400);
	expect_refused("POST http://h/ HTTP/1.1\r\nTransfer-Encoding:\r\n\r\n", 400);
	expect_refused("POST http://h/ HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
		400);
	expect_refused("POST http://h/ HTTP/1.1\r\nContent-Length: 3\r\n"
		       "Content-Length: 4\r\n\r\n",
		400);
	expect_refused("POST http://h/ HTTP/1.1\r\nContent-Length: 3, 4\r\n\r\n", 400);
	expect_refused("POST http://h/ HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400);
	expect_refused("POST http://h/ HTTP/1.1\r\nContent-Length: +1\r\n\r\n", 400);
	expect_refused("POST http://h/ HTTP/1.1\r\nContent-Length: 0x10\r\n\r\n", 400);
	expect_refused("POST http://h/ HTTP/1.1\r\nContent-Length: \r\n\r\n", 400);
	expect_refused("POST http://h/ HTTP/1.1\r\n"
		       "Content-Length: 99999999999999999999\r\n\r\n",
		400);
	expect_refused("POST http://h/ HTTP/1.1\r\n"
		       "Content-Length: 9223372036854775808\r\n\r\n",
		400);
	expect_refused("GET http://h/ HTTP/1.1\r\nA: b\r\n c\r\n\r\n", 400);
	expect_refused("GET http://h/ HTTP/1.1\r\nA : b\r\n\r\n", 400);
	expect_refused("GET http://h/ HTTP/1.1\r\nA\rB: b\r\n\r\n", 400);
	expect_refused("GET http://h/ HTTP/1.1\r\nA: b\rc\r\n\r\n", 400);
	expect_refused("GET http://h/ HTTP/1.1\r\nA: b\x7f\r\n\r\n", 400);
	expect_refused("GET http://h/ HTTP/1.1\r\n: b\r\n\r\n", 400);
	expect_refused("GET http://h/ HTTP/1.1\r\nnocolon\r\n\r\n", 400);
	expect_refused("GET http://h/ HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400);
	expect_refused("GET http://h/ HTTP/1.1\r\nProxy-Authorization: Basic eA==\r\n"
		       "Proxy-Authorization: Basic eQ==\r\n\r\n",
		400);
	expect_refused("GET http://h/ HTTP/1.1\r\n\rX\r\n\r\n", 400);

	/* What is allowed: equal repeated lengths, chunked last after another coding. */
	struct sv_httpp_request req;
	assert_int_equal(parse_req_splits("POST http://h/ HTTP/1.1\r\n"
					  "Content-Length: 5, 5\r\n"
					  "content-length: 5\r\n\r\n",
				 &req, NULL),
		0);
	assert_int_equal(req.framing, SV_HTTPP_BODY_LENGTH);
	assert_int_equal(req.content_length, 5);
	assert_int_equal(parse_req_splits("POST http://h/ HTTP/1.1\r\n"
					  "Transfer-Encoding: gzip\r\n"
					  "Transfer-Encoding: Chunked\r\n\r\n",
				 &req, NULL),
		0);
	assert_int_equal(req.framing, SV_HTTPP_BODY_CHUNKED);
	assert_int_equal(parse_req_splits("POST http://h/ HTTP/1.1\r\n"
					  "Content-Length: 9223372036854775807\r\n\r\n",
				 &req, NULL),
		0);
	assert_int_equal(req.content_length, 9223372036854775807ull);
}

static void
request_oversized_heads_are_refused_early(void **state)
{
	(void)state;
	size_t big = SV_HTTPP_HEAD_MAX + 100;
	char *s = malloc(big + 1);
	struct sv_httpp_request req;
	struct sv_httpp_err err;

	assert_non_null(s);
	/* A request line past 8 KiB: 414 before any line ending arrives. */
	memcpy(s, "GET http://h/", 13);
	memset(s + 13, 'a', big - 13);
	s[big] = '\0';
	assert_int_equal(parse_req(s, SV_HTTPP_LINE_MAX, &req, &err), SV_E_INCOMPLETE);
	assert_int_equal(parse_req(s, SV_HTTPP_LINE_MAX + 2, &req, &err), SV_E_TOOBIG);
	assert_int_equal(err.status, 414);

	/* Exactly 8 KiB of request line is fine. */
	size_t line = SV_HTTPP_LINE_MAX;
	memcpy(s + line - 9, " HTTP/1.1\r\n\r\n", 13);
	assert_int_equal(parse_req(s, line + 4, &req, &err), 0);
	assert_int_equal(req.path.n, line - 9 - 12);

	/* Many short headers past 32 KiB: 431 without a blank line. */
	size_t off = (size_t)sprintf(s, "GET http://h/ HTTP/1.1\r\n");
	while (off + 10 < big)
		off += (size_t)sprintf(s + off, "A: bcdef\r\n");
	assert_int_equal(parse_req(s, off, &req, &err), SV_E_TOOBIG);
	assert_int_equal(err.status, 431);

	/* 101 header lines: 431. */
	off = (size_t)sprintf(s, "GET http://h/ HTTP/1.1\r\n");
	for (int i = 0; i < 101; i++)
		off += (size_t)sprintf(s + off, "A%d: b\r\n", i);
	off += (size_t)sprintf(s + off, "\r\n");
	assert_int_equal(parse_req(s, off, &req, &err), SV_E_TOOBIG);
	assert_int_equal(err.status, 431);
	/* 100 are fine. */
	off = (size_t)sprintf(s, "GET http://h/ HTTP/1.1\r\n");
	for (int i = 0; i < 100; i++)
		off += (size_t)sprintf(s + off, "A%d: b\r\n", i);
	off += (size_t)sprintf(s + off, "\r\n");
	assert_int_equal(parse_req(s, off, &req, &err), 0);
	assert_int_equal(req.n_headers, 100);

	/* A header line past 8 KiB: 431. */
	off = (size_t)sprintf(s, "GET http://h/ HTTP/1.1\r\nA: ");
	memset(s + off, 'x', SV_HTTPP_LINE_MAX);
	off += SV_HTTPP_LINE_MAX;
	assert_int_equal(parse_req(s, off, &req, &err), SV_E_TOOBIG);
	assert_int_equal(err.status, 431);
	free(s);
}

/* ---- bodies ------------------------------------------------------------------- */

static const char chunked_body[] = "4;name=value;q=\"x y\"\r\nWiki\r\n"
				   "5 ;ext\r\npedia\r\n"
				   "E\r\n in\r\n\r\nchunks.\r\n"
				   "0\r\nTrailer-A: 1\r\nTrailer-B: two\r\n\r\n";

static void
chunked_body_with_extensions_and_trailers_is_delimited_at_every_split(void **state)
{
	(void)state;
	char s[256];
	size_t n = strlen(chunked_body);

	snprintf(s, sizeof s, "%sGET http://next/ HTTP/1.1\r\n\r\n", chunked_body);
	for (size_t step = 1; step <= strlen(s); step++)
		assert_int_equal(body_len(SV_HTTPP_BODY_CHUNKED, 0, s, strlen(s), step),
			n);
	/* Two pieces split at every point. */
	for (size_t cut = 0; cut <= n; cut++) {
		struct sv_httpp_body b;
		size_t u1 = 0, u2 = 0;
		sv_httpp_body_init(&b, SV_HTTPP_BODY_CHUNKED, 0);
		assert_int_equal(sv_httpp_body_feed(&b, (const uint8_t *)s, cut, &u1), 0);
		assert_int_equal(u1, cut);
		assert_int_equal(sv_httpp_body_done(&b), cut == n);
		assert_int_equal(sv_httpp_body_eof(&b), cut == n ? 0 : SV_E_PROTO);
		assert_int_equal(sv_httpp_body_feed(&b, (const uint8_t *)s + cut,
					 strlen(s) - cut, &u2),
			0);
		assert_int_equal(u1 + u2, n);
		assert_true(sv_httpp_body_done(&b));
	}
	/* Without trailers, and an empty body. */
	assert_int_equal(body_len(SV_HTTPP_BODY_CHUNKED, 0, "0\r\n\r\nX", 6, 1), 5);
	assert_int_equal(body_len(SV_HTTPP_BODY_CHUNKED, 0, "1\r\na\r\n0\r\n\r\n", 11, 3),
		11);
}

static void
chunked_body_errors_are_reported(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"\r\n",                 /* no size */
		"g\r\n",                /* not hex */
		"-1\r\n",               /* sign */
		"4\r\nWikiX\r\n",       /* no CRLF after data */
		"4\r\nWiki\rX",         /* CR then not LF */
		"4\nWiki\r\n",          /* bare LF after the size */
		"4 5\r\n",              /* junk after whitespace */
		"4;a\x01\r\n",          /* control byte in an extension */
		"0\r\n a: b\r\n\r\n",   /* obs-fold in trailers */
		"0\r\nA: b\r\n\rX",     /* bad final line */
		"0\r\nA: b\nc\r\n\r\n", /* bare LF in a trailer */
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(body_len(SV_HTTPP_BODY_CHUNKED, 0, bad[i],
					 strlen(bad[i]), 1),
			SV_E_PROTO);
	/* Sizes past 2^63-1 and size lines past the ceiling. */
	assert_int_equal(body_len(SV_HTTPP_BODY_CHUNKED, 0, "8000000000000000\r\n",
				 18, 4),
		SV_E_TOOBIG);
	assert_int_equal(body_len(SV_HTTPP_BODY_CHUNKED, 0, "7fffffffffffffff\r\n",
				 18, 4),
		SV_E_INCOMPLETE);
	char *line = malloc(SV_HTTPP_CHUNK_LINE_MAX + 10);
	assert_non_null(line);
	memset(line, '0', SV_HTTPP_CHUNK_LINE_MAX + 10);
	line[0] = '1';
	assert_int_equal(body_len(SV_HTTPP_BODY_CHUNKED, 0, line,
				 SV_HTTPP_CHUNK_LINE_MAX + 10, 100),
		SV_E_TOOBIG);
	free(line);
}

static void
length_body_counts_down_and_leaves_the_next_request(void **state)
{
	(void)state;
	static const char s[] = "hello worldGET";
	struct sv_httpp_body b;
	size_t used;

	assert_int_equal(body_len(SV_HTTPP_BODY_LENGTH, 11, s, strlen(s), 1), 11);
	assert_int_equal(body_len(SV_HTTPP_BODY_LENGTH, 11, s, strlen(s), 100), 11);
	sv_httpp_body_init(&b, SV_HTTPP_BODY_LENGTH, 0);
	assert_true(sv_httpp_body_done(&b));
	assert_int_equal(sv_httpp_body_feed(&b, (const uint8_t *)s, 3, &used), 0);
	assert_int_equal(used, 0);
	sv_httpp_body_init(&b, SV_HTTPP_BODY_NONE, 0);
	assert_true(sv_httpp_body_done(&b));
	sv_httpp_body_init(&b, SV_HTTPP_BODY_CLOSE, 0);
	assert_int_equal(sv_httpp_body_feed(&b, (const uint8_t *)s, 5, &used), 0);
	assert_int_equal(used, 5);
	assert_false(sv_httpp_body_done(&b));
	assert_int_equal(sv_httpp_body_eof(&b), 0);
	sv_httpp_body_init(&b, SV_HTTPP_BODY_LENGTH, 10);
	assert_int_equal(sv_httpp_body_feed(&b, (const uint8_t *)s, 5, &used), 0);
	assert_int_equal(sv_httpp_body_eof(&b), SV_E_PROTO);
}

static void
pipelined_requests_are_delimited_one_after_another(void **state)
{
	(void)state;
	static const char s[] = "GET http://a/1 HTTP/1.1\r\n\r\n"
				"POST http://b/2 HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"
				"PUT http://c/3 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
				"3\r\nabc\r\n0\r\n\r\n"
				"HEAD http://d/4 HTTP/1.1\r\n\r\n";
	static const char *const hosts[] = { "a", "b", "c", "d" };
	static const size_t bodies[] = { 0, 5, 13, 0 };
	struct sv_rd r = sv_rd_make(s, strlen(s));
	struct sv_httpp_request req;

	for (int i = 0; i < 4; i++) {
		struct sv_httpp_body b;
		size_t used = 0;

		assert_int_equal(sv_httpp_parse_request(&r, &req, NULL), 0);
		assert_string_equal(req.host, hosts[i]);
		assert_true(req.keep_alive);
		sv_httpp_body_init(&b, req.framing, req.content_length);
		assert_int_equal(sv_httpp_body_feed(&b, r.p, r.n, &used), 0);
		assert_true(sv_httpp_body_done(&b));
		assert_int_equal(used, bodies[i]);
		assert_int_equal(sv_rd_skip(&r, used), 0);
	}
	assert_int_equal(r.n, 0);
	assert_int_equal(sv_httpp_parse_request(&r, &req, NULL), SV_E_INCOMPLETE);
}

/* ---- rewriting ---------------------------------------------------------------- */

static void
rewritten_request_is_origin_form_without_hop_by_hop_headers(void **state)
{
	(void)state;
	static const char s[] = "POST http://example.com:8080/up?x HTTP/1.1\r\n"
				"Host: evil.example\r\n"
				"Connection: keep-alive, X-Secret, content-length\r\n"
				"Keep-Alive: timeout=5\r\n"
				"Proxy-Connection: keep-alive\r\n"
				"Proxy-Authorization: Basic dXNlcjpwYXNz\r\n"
				"TE: trailers\r\n"
				"X-Secret: 1\r\n"
				"Upgrade: h2c\r\n"
				"Content-Length: 4, 4\r\n"
				"Accept: */*\r\n\r\nbody";
	struct sv_httpp_request req;
	struct sv_buf out;

	assert_int_equal(parse_req_splits(s, &req, NULL), 0);
	assert_false(req.upgrade);
	sv_buf_init(&out, 4096);
	assert_int_equal(sv_httpp_write_request(&out, &req, true), 0);
	assert_string_equal(buf_str(&out), "POST /up?x HTTP/1.1\r\n"
					   "Host: example.com:8080\r\n"
					   "Accept: */*\r\n"
					   "Content-Length: 4\r\n"
					   "Connection: close\r\n\r\n");
	sv_buf_cleanup(&out);
}

static void
rewritten_request_keeps_chunked_and_formats_hosts(void **state)
{
	(void)state;
	struct sv_httpp_request req;
	struct sv_buf out;

	sv_buf_init(&out, 4096);
	assert_int_equal(parse_req_splits("PUT http://[fd00::2]/ HTTP/1.1\r\n"
					  "Transfer-Encoding: chunked\r\n"
					  "Trailer: X-Sum\r\n\r\n",
				 &req, NULL),
		0);
	assert_int_equal(sv_httpp_write_request(&out, &req, false), 0);
	assert_string_equal(buf_str(&out), "PUT / HTTP/1.1\r\n"
					   "Host: [fd00::2]\r\n"
					   "Transfer-Encoding: chunked\r\n"
					   "Trailer: X-Sum\r\n\r\n");
	sv_buf_reset(&out);
	assert_int_equal(parse_req_splits("GET http://h?q#f HTTP/1.0\r\n\r\n", &req,
				 NULL),
		0);
	assert_int_equal(sv_httpp_write_request(&out, &req, false), 0);
	assert_string_equal(buf_str(&out), "GET /?q HTTP/1.0\r\nHost: h\r\n\r\n");
	sv_buf_cleanup(&out);

	/* A full buffer leaves nothing behind. */
	sv_buf_init(&out, 20);
	assert_int_equal(sv_httpp_write_request(&out, &req, false), SV_E_TOOBIG);
	assert_int_equal(sv_buf_len(&out), 0);
	sv_buf_cleanup(&out);
}

static void
upgrade_request_keeps_upgrade_headers(void **state)
{
	(void)state;
	struct sv_httpp_request req;
	struct sv_buf out;

	assert_int_equal(parse_req_splits("GET http://h/ws HTTP/1.1\r\n"
					  "Connection: Upgrade\r\n"
					  "Upgrade: websocket\r\n"
					  "Sec-WebSocket-Key: k\r\n\r\n",
				 &req, NULL),
		0);
	assert_true(req.upgrade);
	sv_buf_init(&out, 4096);
	assert_int_equal(sv_httpp_write_request(&out, &req, true), 0);
	assert_string_equal(buf_str(&out), "GET /ws HTTP/1.1\r\nHost: h\r\n"
					   "Upgrade: websocket\r\n"
					   "Sec-WebSocket-Key: k\r\n"
					   "Connection: upgrade\r\n\r\n");
	sv_buf_cleanup(&out);
}

/* ---- responses ---------------------------------------------------------------- */

static void
response_framing_follows_rfc9112(void **state)
{
	(void)state;
	struct sv_httpp_response resp;
	struct sv_httpp_err err;

	assert_int_equal(parse_resp("HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\nhello",
				 SV_HTTPP_METHOD_GET, &resp, NULL),
		0);
	assert_int_equal(resp.status, 200);
	assert_true(str_eq(resp.reason, "OK"));
	assert_int_equal(resp.framing, SV_HTTPP_BODY_LENGTH);
	assert_int_equal(resp.content_length, 12);
	assert_true(resp.keep_alive);

	assert_int_equal(parse_resp("HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n",
				 SV_HTTPP_METHOD_HEAD, &resp, NULL),
		0);
	assert_int_equal(resp.framing, SV_HTTPP_BODY_NONE);

	assert_int_equal(parse_resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
				    "Content-Length: 3\r\n\r\n",
				 SV_HTTPP_METHOD_GET, &resp, NULL),
		0);
	assert_int_equal(resp.framing, SV_HTTPP_BODY_CHUNKED);
	assert_false(resp.keep_alive);

	assert_int_equal(parse_resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
				 SV_HTTPP_METHOD_GET, &resp, NULL),
		0);
	assert_int_equal(resp.framing, SV_HTTPP_BODY_CLOSE);
	assert_false(resp.keep_alive);

	assert_int_equal(parse_resp("HTTP/1.0 200 OK\r\n\r\n", SV_HTTPP_METHOD_GET,
				 &resp, NULL),
		0);
	assert_int_equal(resp.framing, SV_HTTPP_BODY_CLOSE);

	assert_int_equal(parse_resp("HTTP/1.1 204\r\n\r\n", SV_HTTPP_METHOD_GET,
				 &resp, NULL),
		0);
	assert_int_equal(resp.framing, SV_HTTPP_BODY_NONE);
	assert_int_equal(resp.reason.n, 0);
	assert_true(resp.keep_alive);

	assert_int_equal(parse_resp("HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n",
				 SV_HTTPP_METHOD_GET, &resp, NULL),
		0);
	assert_int_equal(resp.framing, SV_HTTPP_BODY_NONE);

	assert_int_equal(parse_resp("HTTP/1.1 100 Continue\r\n\r\n",
				 SV_HTTPP_METHOD_OTHER, &resp, NULL),
		0);
	assert_true(resp.interim);
	assert_int_equal(resp.framing, SV_HTTPP_BODY_NONE);

	assert_int_equal(parse_resp("HTTP/1.1 101 Switching Protocols\r\n"
				    "Upgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
				 SV_HTTPP_METHOD_GET, &resp, NULL),
		0);
	assert_int_equal(resp.framing, SV_HTTPP_BODY_TUNNEL);
	assert_false(resp.interim);

	assert_int_equal(parse_resp("HTTP/1.1 200 Connection established\r\n\r\n",
				 SV_HTTPP_METHOD_CONNECT, &resp, NULL),
		0);
	assert_int_equal(resp.framing, SV_HTTPP_BODY_TUNNEL);

	assert_int_equal(parse_resp("HTTP/1.1 200 OK\r\nConnection: close\r\n"
				    "Content-Length: 0\r\n\r\n",
				 SV_HTTPP_METHOD_GET, &resp, NULL),
		0);
	assert_false(resp.keep_alive);

	assert_int_equal(parse_resp("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n"
				    "Content-Length: 2\r\n\r\n",
				 SV_HTTPP_METHOD_GET, &resp, &err),
		SV_E_PROTO);
	assert_int_equal(err.status, 502);
	assert_int_equal(parse_resp("HTTP/1.1 99 Low\r\n\r\n", SV_HTTPP_METHOD_GET,
				 &resp, &err),
		SV_E_PROTO);
	assert_int_equal(parse_resp("HTTP/1.1 2000 OK\r\n\r\n", SV_HTTPP_METHOD_GET,
				 &resp, &err),
		SV_E_PROTO);
	assert_int_equal(parse_resp("HTTP/3.0 200 OK\r\n\r\n", SV_HTTPP_METHOD_GET,
				 &resp, &err),
		SV_E_PROTO);
	assert_int_equal(err.status, 502);
	assert_int_equal(parse_resp("SSH-2.0-OpenSSH\r\n\r\n", SV_HTTPP_METHOD_GET,
				 &resp, &err),
		SV_E_PROTO);
}

static void
rewritten_response_drops_hop_by_hop_and_says_how_the_client_connection_goes(
	void **state)
{
	(void)state;
	struct sv_httpp_response resp;
	struct sv_httpp_request req;
	struct sv_buf out;

	sv_buf_init(&out, 4096);
	assert_int_equal(parse_resp("HTTP/1.1 200 OK\r\n"
				    "Connection: close, X-Hop\r\n"
				    "X-Hop: 1\r\nKeep-Alive: timeout=3\r\n"
				    "Content-Type: text/plain\r\n"
				    "Content-Length: 5\r\n\r\n",
				 SV_HTTPP_METHOD_GET, &resp, NULL),
		0);
	assert_int_equal(parse_req("GET http://h/ HTTP/1.1\r\n\r\n", 26, &req, NULL),
		0);
	assert_true(sv_httpp_client_may_persist(&req, &resp));
	assert_int_equal(sv_httpp_write_response_head(&out, &resp, 1, true), 0);
	assert_string_equal(buf_str(&out), "HTTP/1.1 200 OK\r\n"
					   "Content-Type: text/plain\r\n"
					   "Content-Length: 5\r\n\r\n");
	sv_buf_reset(&out);
	assert_int_equal(sv_httpp_write_response_head(&out, &resp, 0, true), 0);
	assert_non_null(strstr(buf_str(&out), "Connection: keep-alive\r\n\r\n"));
	sv_buf_reset(&out);

	/* Close-delimited: the client connection cannot persist. */
	assert_int_equal(parse_resp("HTTP/1.0 200 OK\r\nServer: x\r\n\r\n",
				 SV_HTTPP_METHOD_GET, &resp, NULL),
		0);
	assert_false(sv_httpp_client_may_persist(&req, &resp));
	assert_int_equal(sv_httpp_write_response_head(&out, &resp, 1, false), 0);
	assert_string_equal(buf_str(&out), "HTTP/1.1 200 OK\r\nServer: x\r\n"
					   "Connection: close\r\n\r\n");
	sv_buf_reset(&out);

	/* TE wins over Content-Length, which is dropped. */
	assert_int_equal(parse_resp("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n"
				    "Transfer-Encoding: chunked\r\n\r\n",
				 SV_HTTPP_METHOD_GET, &resp, NULL),
		0);
	assert_int_equal(sv_httpp_write_response_head(&out, &resp, 1, true), 0);
	assert_string_equal(buf_str(&out), "HTTP/1.1 200 OK\r\n"
					   "Transfer-Encoding: chunked\r\n\r\n");
	sv_buf_reset(&out);

	/* HTTP/1.0 with Transfer-Encoding: faulty framing, read until close, and the
	 * client is not told about chunks nobody delimited. */
	assert_int_equal(parse_resp("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n"
				    "Content-Length: 3\r\nX: y\r\n\r\n",
				 SV_HTTPP_METHOD_GET, &resp, NULL),
		0);
	assert_int_equal(resp.framing, SV_HTTPP_BODY_CLOSE);
	assert_false(sv_httpp_client_may_persist(&req, &resp));
	assert_int_equal(sv_httpp_write_response_head(&out, &resp, 1, false), 0);
	assert_string_equal(buf_str(&out), "HTTP/1.1 200 OK\r\nX: y\r\n"
					   "Connection: close\r\n\r\n");
	sv_buf_reset(&out);

	/* 101 keeps Upgrade; interim responses get no Connection header. */
	assert_int_equal(parse_resp("HTTP/1.1 101 Switching Protocols\r\n"
				    "Upgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
				 SV_HTTPP_METHOD_GET, &resp, NULL),
		0);
	assert_int_equal(sv_httpp_write_response_head(&out, &resp, 1, false), 0);
	assert_string_equal(buf_str(&out), "HTTP/1.1 101 Switching Protocols\r\n"
					   "Upgrade: websocket\r\n"
					   "Connection: upgrade\r\n\r\n");
	sv_buf_reset(&out);
	assert_int_equal(parse_resp("HTTP/1.1 100 Continue\r\n\r\n",
				 SV_HTTPP_METHOD_OTHER, &resp, NULL),
		0);
	assert_int_equal(sv_httpp_write_response_head(&out, &resp, 1, false), 0);
	assert_string_equal(buf_str(&out), "HTTP/1.1 100 Continue\r\n\r\n");
	sv_buf_cleanup(&out);
}

/* ---- responses made by the proxy ---------------------------------------------- */

static void
error_responses_are_complete_and_safe(void **state)
{
	(void)state;
	struct sv_buf out;
	const char *t;

	sv_buf_init(&out, 4096);
	assert_int_equal(sv_httpp_write_error(&out, 407, "credentials required",
				 SV_HTTPP_F_CLOSE),
		0);
	t = buf_str(&out);
	static const char line407[] = "HTTP/1.1 407 Proxy Authentication Required\r\n";
	assert_true(strncmp(t, line407, strlen(line407)) == 0);
	assert_non_null(strstr(t, "\r\nProxy-Authenticate: Basic realm=\"sevpn-proxy\"\r\n"));
	assert_non_null(strstr(t, "\r\nConnection: close\r\n"));
	const char *body = strstr(t, "\r\n\r\n") + 4;
	assert_string_equal(body,
		"407 Proxy Authentication Required: credentials required\n");
	char cl[64];
	snprintf(cl, sizeof cl, "Content-Length: %zu\r\n", strlen(body));
	assert_non_null(strstr(t, cl));
	sv_buf_reset(&out);

	/* Detail with CR LF cannot inject headers. */
	assert_int_equal(sv_httpp_write_error(&out, 502, "x\r\nSet-Cookie: a", 0), 0);
	t = buf_str(&out);
	assert_null(strstr(t, "\r\nSet-Cookie"));
	assert_null(strstr(t, "Proxy-Authenticate"));
	assert_null(strstr(t, "Connection:"));
	assert_non_null(strstr(t, "502 Bad Gateway: x??Set-Cookie: a\n"));
	sv_buf_reset(&out);

	/* HEAD: headers only. */
	assert_int_equal(sv_httpp_write_error(&out, 504, NULL,
				 SV_HTTPP_F_HEAD | SV_HTTPP_F_KEEP_10),
		0);
	t = buf_str(&out);
	assert_non_null(strstr(t, "Content-Length: 20\r\n"));
	assert_non_null(strstr(t, "Connection: keep-alive\r\n\r\n"));
	assert_int_equal(strlen(strstr(t, "\r\n\r\n")), 4);
	sv_buf_reset(&out);

	assert_int_equal(sv_httpp_write_error(&out, 42, NULL, 0), SV_E_INVAL);
	assert_int_equal(sv_httpp_write_simple(&out, 200, SV_HTTPP_PAC_TYPE, "abc", 3, 0),
		0);
	assert_string_equal(buf_str(&out),
		"HTTP/1.1 200 OK\r\nContent-Type: application/x-ns-proxy-autoconfig\r\n"
		"Content-Length: 3\r\nCache-Control: no-store\r\n\r\nabc");
	sv_buf_reset(&out);
	assert_int_equal(sv_httpp_write_connect_ok(&out), 0);
	assert_string_equal(buf_str(&out), "HTTP/1.1 200 Connection established\r\n\r\n");
	sv_buf_cleanup(&out);

	assert_int_equal(sv_httpp_status_from_err(-ETIMEDOUT), 504);
	assert_int_equal(sv_httpp_status_from_err(SV_E_TIMEOUT), 504);
	assert_int_equal(sv_httpp_status_from_err(-ECONNREFUSED), 502);
	assert_int_equal(sv_httpp_status_from_err(SV_E_NOTFOUND), 502);
	assert_int_equal(sv_httpp_status_from_err(-EACCES), 403);
	assert_string_equal(sv_httpp_reason(431), "Request Header Fields Too Large");
	assert_string_equal(sv_httpp_reason(299), "Unknown");
}

/* ---- Basic auth --------------------------------------------------------------- */

static void
basic_credentials_decode_and_compare(void **state)
{
	(void)state;
	char user[256], pass[256];
	static const char ok[] = "  basic   dXNlcjpwYTpzcw==  "; /* user:pa:ss */

	assert_int_equal(sv_httpp_parse_basic(ok, strlen(ok), user, pass), 0);
	assert_string_equal(user, "user");
	assert_string_equal(pass, "pa:ss");
	assert_int_equal(sv_httpp_parse_basic("Basic OnB3", 10, user, pass), 0);
	assert_string_equal(user, "");
	assert_string_equal(pass, "pw");

	static const char *const bad[] = {
		"Bearer dXNlcjpwYXNz", "Basic", "Basic ", "BasicdXNlcjpwYXNz",
		"Basic dXNlcnBhc3M=", /* userpass: no colon */
		"Basic dXNl*jpwYXNz", "Basic AHU6cA==", /* NUL in user */
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(sv_httpp_parse_basic(bad[i], strlen(bad[i]), user, pass),
			SV_E_PROTO);

	/* 256-byte user is too long. */
	char longv[600] = "Basic ";
	char raw[300], b64[500];
	memset(raw, 'a', 256);
	raw[256] = ':';
	raw[257] = 'p';
	static const char tbl[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t w = 0;
	for (size_t i = 0; i < 258; i += 3) {
		uint32_t v = (uint32_t)(uint8_t)raw[i] << 16 |
			(uint32_t)(uint8_t)raw[i + 1] << 8 | (uint8_t)raw[i + 2];
		b64[w++] = tbl[v >> 18 & 63];
		b64[w++] = tbl[v >> 12 & 63];
		b64[w++] = tbl[v >> 6 & 63];
		b64[w++] = tbl[v & 63];
	}
	b64[w] = '\0'; /* 258 = 86*3: no padding needed */
	strcat(longv, b64);
	assert_int_equal(sv_httpp_parse_basic(longv, strlen(longv), user, pass),
		SV_E_PROTO);

	struct sv_httpp_request req;
	assert_int_equal(parse_req_splits("GET http://h/ HTTP/1.1\r\n"
					  "Proxy-Authorization: Basic dXNlcjpwYXNz\r\n\r\n",
				 &req, NULL),
		0);
	assert_true(str_eq(req.proxy_auth, "Basic dXNlcjpwYXNz"));
	assert_true(sv_httpp_auth_ok(&req, "user", "pass"));
	assert_false(sv_httpp_auth_ok(&req, "user", "pas"));
	assert_false(sv_httpp_auth_ok(&req, "usr", "pass"));
	assert_false(sv_httpp_auth_ok(&req, "user", "pass2"));
	assert_int_equal(parse_req_splits("GET http://h/ HTTP/1.1\r\n\r\n", &req, NULL), 0);
	assert_false(sv_httpp_auth_ok(&req, "user", "pass"));

	assert_true(sv_httpp_ct_equal("abc", 3, "abc", 3));
	assert_false(sv_httpp_ct_equal("abc", 3, "abd", 3));
	assert_false(sv_httpp_ct_equal("abc", 3, "abc\0", 4));
	assert_true(sv_httpp_ct_equal("", 0, "", 0));
}

/* ---- PAC ---------------------------------------------------------------------- */

static void
pac_sends_tunnel_networks_through_the_proxy(void **state)
{
	(void)state;
	struct sv_pac_net nets[3] = {
		{ .ip = { .family = 4, .b = { 10, 1, 2, 77 } }, .prefix = 24 },
		{ .ip = { .family = 4, .b = { 172, 16, 0, 0 } }, .prefix = 12 },
		{ .ip = { .family = 6, .b = { 0xfd, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 9 } },
			.prefix = 64 },
	};
	struct sv_pac_config cfg = {
		.http_proxy = "127.0.0.1:3128",
		.socks_proxy = "127.0.0.1:1080",
		.nets = nets,
		.n_nets = 3,
		.domain = "Corp.Example.",
	};
	struct sv_buf out;
	const char *t;

	sv_buf_init(&out, SV_PAC_MAX);
	assert_int_equal(sv_pac_write(&out, &cfg), 0);
	t = buf_str(&out);
	assert_non_null(strstr(t, "function FindProxyForURL(url, host) {"));
	assert_non_null(strstr(t, "var p = \"PROXY 127.0.0.1:3128; SOCKS5 127.0.0.1:1080\";"));
	assert_non_null(strstr(t, "isInNet(ip, \"10.1.2.0\", \"255.255.255.0\")"));
	assert_non_null(strstr(t, "isInNet(ip, \"172.16.0.0\", \"255.240.0.0\")"));
	assert_non_null(strstr(t, "isInNetEx(list[i], \"fd00:0:0:1::/64\")"));
	assert_non_null(strstr(t, "dnsDomainIs(h, \".corp.example\")"));
	assert_non_null(strstr(t, "h == \"corp.example\""));
	assert_non_null(strstr(t, "isPlainHostName(h)"));
	assert_non_null(strstr(t, "dnsResolve(h)"));
	assert_non_null(strstr(t, "return \"DIRECT\";\n}\n"));
	sv_buf_reset(&out);

	/* Only an HTTP proxy, no IPv6, a domain from the network that is not a name. */
	cfg.socks_proxy = NULL;
	cfg.n_nets = 1;
	cfg.domain = "x\"); alert(1); (\"";
	assert_int_equal(sv_pac_write(&out, &cfg), 0);
	t = buf_str(&out);
	assert_non_null(strstr(t, "var p = \"PROXY 127.0.0.1:3128\";"));
	assert_null(strstr(t, "alert"));
	assert_null(strstr(t, "isInNetEx"));
	assert_null(strstr(t, "SOCKS5"));
	sv_buf_reset(&out);

	cfg.http_proxy = NULL;
	cfg.socks_proxy = "[::1]:1080";
	assert_int_equal(sv_pac_write(&out, &cfg), 0);
	assert_non_null(strstr(buf_str(&out), "var p = \"SOCKS5 [::1]:1080\";"));
	sv_buf_reset(&out);

	/* Refused: no proxy, a proxy address with a quote, a bad prefix, too many. */
	cfg.socks_proxy = NULL;
	assert_int_equal(sv_pac_write(&out, &cfg), SV_E_INVAL);
	cfg.http_proxy = "h:1\"";
	assert_int_equal(sv_pac_write(&out, &cfg), SV_E_INVAL);
	cfg.http_proxy = "h:1";
	nets[0].prefix = 33;
	assert_int_equal(sv_pac_write(&out, &cfg), SV_E_INVAL);
	nets[0].prefix = 0;
	assert_int_equal(sv_pac_write(&out, &cfg), 0);
	assert_non_null(strstr(buf_str(&out), "isInNet(ip, \"0.0.0.0\", \"0.0.0.0\")"));
	cfg.n_nets = SV_PAC_MAX_NETS + 1;
	assert_int_equal(sv_pac_write(&out, &cfg), SV_E_TOOBIG);
	sv_buf_cleanup(&out);

	/* Out of room: nothing appended. */
	sv_buf_init(&out, 100);
	cfg.n_nets = 1;
	assert_int_equal(sv_pac_write(&out, &cfg), SV_E_TOOBIG);
	assert_int_equal(sv_buf_len(&out), 0);
	sv_buf_cleanup(&out);
}

static size_t
count_of(const char *hay, const char *needle)
{
	size_t n = 0;
	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

static void
pac_lists_domain_and_search_domains_once_and_drops_unsafe_ones(void **state)
{
	(void)state;
	const char *search[] = { "lab.example", "CORP.example", "a\\b.example",
		"q\".example", "lab.example.", "x_y.example", "ok-1.example" };
	struct sv_pac_net net = { .ip = { .family = 4, .b = { 10, 77, 0, 100 } }, .prefix = 24 };
	struct sv_pac_config cfg = {
		.http_proxy = "127.0.0.1:3128",
		.nets = &net,
		.n_nets = 1,
		.domain = "corp.example",
		.search = search,
		.n_search = 7,
	};
	struct sv_buf out;
	const char *t;

	sv_buf_init(&out, SV_PAC_MAX);
	assert_int_equal(sv_pac_write(&out, &cfg), 0);
	t = buf_str(&out);
	assert_int_equal(count_of(t, "dnsDomainIs(h, \".corp.example\")"), 1);
	assert_int_equal(count_of(t, "dnsDomainIs(h, \".lab.example\")"), 1);
	assert_int_equal(count_of(t, "dnsDomainIs(h, \".ok-1.example\")"), 1);
	assert_int_equal(count_of(t, "dnsDomainIs("), 4); /* + .localhost */
	assert_null(strchr(t, '\\'));
	assert_null(strstr(t, "q\""));
	assert_null(strstr(t, "x_y"));
	sv_buf_reset(&out);

	/* search without a domain; too many search domains */
	cfg.domain = NULL;
	cfg.n_search = 1;
	assert_int_equal(sv_pac_write(&out, &cfg), 0);
	assert_int_equal(count_of(buf_str(&out), "dnsDomainIs("), 2);
	sv_buf_reset(&out);
	cfg.n_search = SV_PAC_MAX_SEARCH + 1;
	assert_int_equal(sv_pac_write(&out, &cfg), SV_E_TOOBIG);
	cfg.search = NULL;
	cfg.n_search = 1;
	assert_int_equal(sv_pac_write(&out, &cfg), SV_E_INVAL);
	assert_int_equal(sv_buf_len(&out), 0);
	sv_buf_cleanup(&out);
}

static void
pac_with_a_default_route_sends_everything_but_loopback_through_the_proxy(void **state)
{
	(void)state;
	struct sv_pac_net net = { .ip = { .family = 4, .b = { 10, 1, 0, 0 } }, .prefix = 16 };
	struct sv_pac_config cfg = {
		.http_proxy = "127.0.0.1:3128",
		.nets = &net,
		.n_nets = 1,
		.domain = "corp.example",
		.everything = true,
	};
	struct sv_buf out;
	const char *t;

	sv_buf_init(&out, SV_PAC_MAX);
	assert_int_equal(sv_pac_write(&out, &cfg), 0);
	t = buf_str(&out);
	assert_non_null(strstr(t, "\t\treturn \"DIRECT\";\n")); /* loopback */
	assert_non_null(strstr(t, "default route"));
	assert_non_null(strstr(t, "\treturn p;\n}\n"));
	assert_null(strstr(t, "dnsResolve"));
	assert_null(strstr(t, "isInNet"));
	assert_int_equal(count_of(t, "return \"DIRECT\""), 1);
	sv_buf_cleanup(&out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(request_absolute_get_parses_at_every_split),
		cmocka_unit_test(request_head_length_resumes_its_scan_byte_by_byte),
		cmocka_unit_test(request_connect_takes_authority_form),
		cmocka_unit_test(request_absolute_form_handles_ipv6_ports_and_odd_paths),
		cmocka_unit_test(
			request_with_userinfo_or_other_scheme_is_refused_with_a_reason),
		cmocka_unit_test(request_in_origin_form_is_for_the_proxy_itself),
		cmocka_unit_test(request_version_decides_persistence),
		cmocka_unit_test(request_smuggling_attempts_are_refused),
		cmocka_unit_test(request_oversized_heads_are_refused_early),
		cmocka_unit_test(
			chunked_body_with_extensions_and_trailers_is_delimited_at_every_split),
		cmocka_unit_test(chunked_body_errors_are_reported),
		cmocka_unit_test(length_body_counts_down_and_leaves_the_next_request),
		cmocka_unit_test(pipelined_requests_are_delimited_one_after_another),
		cmocka_unit_test(rewritten_request_is_origin_form_without_hop_by_hop_headers),
		cmocka_unit_test(rewritten_request_keeps_chunked_and_formats_hosts),
		cmocka_unit_test(upgrade_request_keeps_upgrade_headers),
		cmocka_unit_test(response_framing_follows_rfc9112),
		cmocka_unit_test(
			rewritten_response_drops_hop_by_hop_and_says_how_the_client_connection_goes),
		cmocka_unit_test(error_responses_are_complete_and_safe),
		cmocka_unit_test(basic_credentials_decode_and_compare),
		cmocka_unit_test(pac_sends_tunnel_networks_through_the_proxy),
		cmocka_unit_test(pac_lists_domain_and_search_domains_once_and_drops_unsafe_ones),
		cmocka_unit_test(
			pac_with_a_default_route_sends_everything_but_loopback_through_the_proxy),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
