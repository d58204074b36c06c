/*
 * Fuzz the SOCKS5 parsers: a greeting, then a request from the rest of the same input
 * (as a pipelining client sends them), and the RFC 1929 parser on the whole input.
 * Checks the invariants the proxy relies on: the cursor moves only on success and never
 * past the input, a prefix of the input parses as SV_E_INCOMPLETE or exactly as the whole
 * does, host names are NUL-terminated without embedded NULs, and replies fit their buffer.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "socks/socks5.h"

#define CHECK(c)                                                               \
	do {                                                                   \
		if (!(c))                                                      \
			abort();                                               \
	} while (0)

static void
check_request(const struct sv_socks5_request *q)
{
	uint8_t out[SV_SOCKS5_REPLY_MAX];
	char text[300];

	CHECK(q->cmd == SV_SOCKS5_CMD_CONNECT || q->cmd == SV_SOCKS5_CMD_BIND ||
		q->cmd == SV_SOCKS5_CMD_UDP_ASSOCIATE);
	if (q->atyp == SV_SOCKS5_ATYP_DOMAIN) {
		size_t n = strnlen(q->host, sizeof q->host);
		CHECK(n >= 1 && n <= 255);
	} else {
		CHECK(q->atyp == SV_SOCKS5_ATYP_IPV4 || q->atyp == SV_SOCKS5_ATYP_IPV6);
		CHECK(q->ip.family == (q->atyp == SV_SOCKS5_ATYP_IPV4 ? 4 : 6));
		size_t n = sv_socks5_build_reply(out, 0, &q->ip, q->port);
		CHECK(n == 10 || n == 22);
	}
	sv_socks5_format_target(q, text, sizeof text);
	CHECK(strlen(text) < sizeof text);
}

/* Parses the request in [p, p+n) whole and as a prefix of len cut: the prefix must agree. */
static void
fuzz_request(const uint8_t *p, size_t n, size_t cut)
{
	struct sv_socks5_request q, q2;
	struct sv_rd r = sv_rd_make(p, n);
	int e = sv_socks5_parse_request(&r, &q);

	if (e != 0) {
		CHECK(r.p == p && r.n == n);
		CHECK(sv_socks5_rep_from_err(e) <= SV_SOCKS5_REP_ATYP_NOT_SUPPORTED);
	} else {
		CHECK(r.p > p && (size_t)(r.p - p) <= SV_SOCKS5_REQUEST_MAX &&
			r.p + r.n == p + n);
		check_request(&q);
	}
	if (cut > n)
		return;
	struct sv_rd r2 = sv_rd_make(p, cut);
	int e2 = sv_socks5_parse_request(&r2, &q2);
	if (e2 == SV_E_INCOMPLETE) {
		CHECK(r2.p == p && r2.n == cut);
		return;
	}
	CHECK(e2 == e);
	if (e == 0)
		CHECK(r2.p == r.p && q2.port == q.port && q2.atyp == q.atyp &&
			strcmp(q2.host, q.host) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sv_socks5_greeting g;
	struct sv_socks5_userpass up;
	struct sv_rd r = sv_rd_make(data, size);
	size_t cut = size > 0 ? data[size - 1] : 0;
	int e = sv_socks5_parse_greeting(&r, &g);

	if (e == 0) {
		static const uint8_t ours[] = { SV_SOCKS5_METHOD_NONE };
		CHECK((size_t)(r.p - data) == 2u + g.n_methods);
		(void)sv_socks5_choose_method(&g, ours, 1);
		fuzz_request(r.p, r.n, cut);
	} else {
		CHECK(r.p == data && r.n == size);
		CHECK(e == SV_E_INCOMPLETE || e == SV_E_PROTO ||
			e == -EPROTONOSUPPORT);
	}
	/* The request parser also sees the raw input, so the fuzzer need not find a valid
	 * greeting first. */
	fuzz_request(data, size, cut);

	r = sv_rd_make(data, size);
	if (sv_socks5_parse_userpass(&r, &up) == 0) {
		CHECK(strlen(up.user) <= 255 && strlen(up.pass) <= 255);
		CHECK((size_t)(r.p - data) == 3 + strlen(up.user) + strlen(up.pass));
	}
	return 0;
}
