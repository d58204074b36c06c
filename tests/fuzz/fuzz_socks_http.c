/*
 * Fuzz the HTTP proxy parsers (socks/http_parse.h). Input: one mode byte, two bytes of
 * split position (big-endian), then the bytes a peer sent.
 *   mode & 3 == 0: a request head, then its body delimited by the body decoder;
 *   mode & 3 == 1: a response head (to the method in (mode >> 2) & 3), then its body;
 *   mode & 3 == 2: the data as a chunked body on its own;
 *   mode & 3 == 3: the data as a Proxy-Authorization value.
 * Invariants: the cursor moves only on success and never past the input; a prefix parses
 * as SV_E_INCOMPLETE or exactly as the whole does; the incremental head scan agrees with
 * one whole scan; body delimiting gives the same answer fed whole, in two pieces, or a
 * byte at a time; a rewritten head parses again with the same framing.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "socks/http_parse.h"

#define CHECK(c)                                                               \
	do {                                                                   \
		if (!(c))                                                      \
			abort();                                               \
	} while (0)

/* Big structs live here, not on the stack. */
static struct sv_httpp_request req, req2;
static struct sv_httpp_response resp, resp2;

struct delimit_result {
	int e;
	size_t used;
	bool done;
};

/* Delimits a body in p[0..n) fed in pieces of `step` bytes, with a first piece of
 * `first` bytes. */
static struct delimit_result
delimit(enum sv_httpp_framing f, uint64_t cl, const uint8_t *p, size_t n,
	size_t first, size_t step)
{
	struct delimit_result r = { 0, 0, false };
	struct sv_httpp_body b;
	size_t off = 0;

	sv_httpp_body_init(&b, f, cl);
	while (off < n && !sv_httpp_body_done(&b)) {
		size_t take = off == 0 && first > 0 ? first : step;
		size_t used = (size_t)-1;

		if (take > n - off)
			take = n - off;
		r.e = sv_httpp_body_feed(&b, p + off, take, &used);
		if (r.e != 0)
			return r;
		CHECK(used <= take);
		CHECK(used == take || sv_httpp_body_done(&b));
		off += used;
	}
	r.used = off;
	r.done = sv_httpp_body_done(&b);
	CHECK(sv_httpp_body_eof(&b) == 0 || !r.done);
	return r;
}

static void
check_body(enum sv_httpp_framing f, uint64_t cl, const uint8_t *p, size_t n,
	size_t cut)
{
	struct delimit_result whole = delimit(f, cl, p, n, 0, n ? n : 1);
	struct delimit_result two = delimit(f, cl, p, n, cut, n ? n : 1);
	struct delimit_result bytes = delimit(f, cl, p, n, 0, 1);

	CHECK(whole.e == two.e && whole.e == bytes.e);
	if (whole.e == 0) {
		CHECK(whole.used == two.used && whole.used == bytes.used);
		CHECK(whole.done == two.done && whole.done == bytes.done);
		CHECK(whole.used <= n);
	} else {
		CHECK(whole.e == SV_E_PROTO || whole.e == SV_E_TOOBIG);
	}
}

/* The incremental scan (prefix cut, then all) agrees with one whole scan. */
static void
check_head_length(const uint8_t *p, size_t n, size_t cut)
{
	size_t s1 = 0, s2 = 0, l1 = 0, l2 = 0;
	int e1 = sv_httpp_head_length(p, n, &s1, &l1);
	int e2 = SV_E_INCOMPLETE;

	if (cut < n)
		e2 = sv_httpp_head_length(p, cut, &s2, &l2);
	if (e2 == SV_E_INCOMPLETE)
		e2 = sv_httpp_head_length(p, n, &s2, &l2);
	CHECK(e1 == e2);
	if (e1 == 0)
		CHECK(l1 == l2 && l1 <= n && l1 <= SV_HTTPP_HEAD_MAX);
}

static bool
inside(struct sv_httpp_str s, const uint8_t *p, size_t n)
{
	return (const uint8_t *)s.p >= p && (const uint8_t *)s.p + s.n <= p + n;
}

static void
check_request(const uint8_t *p, size_t n)
{
	CHECK(req.head_len <= n && req.head_len <= SV_HTTPP_HEAD_MAX);
	CHECK(req.n_headers <= SV_HTTPP_HEADERS_MAX);
	CHECK(strnlen(req.host, sizeof req.host) < sizeof req.host);
	CHECK(inside(req.method, p, req.head_len) && inside(req.target, p, req.head_len));
	CHECK(req.path.n == 0 || inside(req.path, p, req.head_len));
	for (size_t i = 0; i < req.n_headers; i++)
		CHECK(inside(req.headers[i].name, p, req.head_len) &&
			inside(req.headers[i].value, p, req.head_len) &&
			req.headers[i].name.n > 0);
	CHECK(req.framing <= SV_HTTPP_BODY_CHUNKED);
	CHECK(req.version_minor <= 1);
	if (req.form != SV_HTTPP_FORM_ORIGIN)
		CHECK(req.port != 0 && req.host[0] != '\0');
	(void)sv_httpp_auth_ok(&req, "user", "pass");

	/* The upstream head parses again, in origin form, with the same framing. */
	struct sv_buf out;
	sv_buf_init(&out, 2 * SV_HTTPP_HEAD_MAX);
	int e = sv_httpp_write_request(&out, &req, true);
	CHECK(e == 0 || (e == SV_E_INVAL && req.form != SV_HTTPP_FORM_ABSOLUTE));
	if (e == 0) {
		size_t len;
		const uint8_t *q = sv_buf_peek(&out, &len);
		struct sv_rd r = sv_rd_make(q, len);
		e = sv_httpp_parse_request(&r, &req2, NULL);
		CHECK(e == 0 || e == SV_E_TOOBIG);
		if (e == 0) {
			CHECK(r.n == 0 && req2.form == SV_HTTPP_FORM_ORIGIN);
			CHECK(req2.framing == req.framing &&
				req2.content_length == req.content_length);
			CHECK(req2.method_id == req.method_id);
			CHECK(req2.upgrade == req.upgrade);
		}
	}
	sv_buf_cleanup(&out);
}

static void
fuzz_request(const uint8_t *p, size_t n, size_t cut)
{
	struct sv_httpp_err err = { 0, NULL }, err2 = { 0, NULL };
	struct sv_rd r = sv_rd_make(p, n);
	int e = sv_httpp_parse_request(&r, &req, &err);
	size_t head_len = 0;
	uint64_t cl = 0;
	enum sv_httpp_framing f = SV_HTTPP_BODY_NONE;

	check_head_length(p, n, cut);
	if (e == 0) {
		CHECK(r.p == p + req.head_len && r.n == n - req.head_len);
		check_request(p, n);
		head_len = req.head_len;
		f = req.framing;
		cl = req.content_length;
	} else {
		CHECK(r.p == p && r.n == n);
		if (e != SV_E_INCOMPLETE) {
			CHECK(err.why != NULL);
			CHECK(err.status == 400 || err.status == 414 ||
				err.status == 431 || err.status == 505);
		}
	}
	if (cut < n) {
		struct sv_rd r2 = sv_rd_make(p, cut);
		int e2 = sv_httpp_parse_request(&r2, &req2, &err2);
		if (e2 != SV_E_INCOMPLETE) {
			CHECK(e2 == e);
			if (e2 == 0)
				CHECK(req2.head_len == head_len);
			else
				CHECK(err2.status == err.status);
		} else {
			CHECK(e != 0 || cut < head_len);
		}
	}
	if (e == 0)
		check_body(f, cl, p + head_len, n - head_len,
			cut > head_len ? cut - head_len : 0);
}

static void
check_response_rewrite(enum sv_httpp_method m)
{
	struct sv_buf out;

	sv_buf_init(&out, 2 * SV_HTTPP_HEAD_MAX);
	CHECK(sv_httpp_write_response_head(&out, &resp, 1,
		      resp.keep_alive) == 0);
	size_t len;
	const uint8_t *q = sv_buf_peek(&out, &len);
	struct sv_rd r = sv_rd_make(q, len);
	int e = sv_httpp_parse_response(&r, m, &resp2, NULL);
	CHECK(e == 0 || e == SV_E_TOOBIG);
	if (e == 0) {
		CHECK(r.n == 0 && resp2.status == resp.status);
		CHECK(resp2.framing == resp.framing &&
			resp2.content_length == resp.content_length);
		CHECK(resp2.interim == resp.interim);
	}
	sv_buf_cleanup(&out);
}

static void
fuzz_response(const uint8_t *p, size_t n, size_t cut, enum sv_httpp_method m)
{
	struct sv_httpp_err err = { 0, NULL };
	struct sv_rd r = sv_rd_make(p, n);
	int e = sv_httpp_parse_response(&r, m, &resp, &err);
	size_t head_len = 0;

	if (e == 0) {
		CHECK(r.p == p + resp.head_len && r.n == n - resp.head_len);
		CHECK(resp.status >= 100 && resp.status <= 599);
		CHECK(resp.n_headers <= SV_HTTPP_HEADERS_MAX);
		CHECK(inside(resp.reason, p, resp.head_len));
		CHECK(!resp.interim || resp.framing == SV_HTTPP_BODY_NONE);
		head_len = resp.head_len;
		check_response_rewrite(m);
	} else {
		CHECK(r.p == p && r.n == n);
		if (e != SV_E_INCOMPLETE)
			CHECK(err.status == 502 && err.why != NULL);
	}
	if (cut < n) {
		struct sv_rd r2 = sv_rd_make(p, cut);
		int e2 = sv_httpp_parse_response(&r2, m, &resp2, NULL);
		if (e2 != SV_E_INCOMPLETE) {
			CHECK(e2 == e);
			if (e2 == 0)
				CHECK(resp2.head_len == head_len);
		} else {
			CHECK(e != 0 || cut < head_len);
		}
	}
	if (e == 0)
		check_body(resp.framing, resp.content_length, p + head_len,
			n - head_len, cut > head_len ? cut - head_len : 0);
}

static void
fuzz_basic(const uint8_t *p, size_t n)
{
	char user[256], pass[256];

	if (sv_httpp_parse_basic((const char *)p, n, user, pass) == 0) {
		CHECK(strlen(user) <= 255 && strlen(pass) <= 255);
		CHECK(strchr(user, ':') == NULL);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 3)
		return 0;
	unsigned mode = data[0];
	size_t cut = (size_t)data[1] << 8 | data[2];
	const uint8_t *p = data + 3;
	size_t n = size - 3;

	switch (mode & 3) {
	case 0:
		fuzz_request(p, n, cut);
		break;
	case 1:
		fuzz_response(p, n, cut, (enum sv_httpp_method)((mode >> 2) & 3));
		break;
	case 2:
		check_body(SV_HTTPP_BODY_CHUNKED, 0, p, n, cut);
		break;
	default:
		fuzz_basic(p, n);
		break;
	}
	return 0;
}
