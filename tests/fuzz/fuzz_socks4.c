/*
 * Fuzz the SOCKS4/4a request parser. Checks the invariants the front-end relies on: the
 * cursor moves only on success, never past the input and never more than
 * SV_SOCKS4_REQUEST_MAX; a prefix (length from the last byte) parses as SV_E_INCOMPLETE,
 * as the same error, or exactly as the whole input; fields are NUL-terminated within
 * their limits; the target text and the reply fit their buffers.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "socks/socks4.h"

#define CHECK(c)                                                               \
	do {                                                                   \
		if (!(c))                                                      \
			abort();                                               \
	} while (0)

static void
check_request(const struct sv_socks4_request *q)
{
	uint8_t out[SV_SOCKS4_REPLY_LEN];
	char text[300];
	size_t hn = strnlen(q->host, sizeof q->host);

	CHECK(q->cmd == SV_SOCKS4_CMD_CONNECT);
	CHECK(q->ip.family == 4);
	CHECK(strnlen(q->userid, sizeof q->userid) <= SV_SOCKS4_FIELD_MAX);
	if (q->is_4a)
		CHECK(hn >= 1 && hn <= SV_SOCKS4_FIELD_MAX);
	else
		CHECK(hn == 0);
	sv_socks4_format_target(q, text, sizeof text);
	CHECK(strlen(text) < sizeof text);
	CHECK(sv_socks4_build_reply(out, SV_SOCKS4_REP_GRANTED) == SV_SOCKS4_REPLY_LEN);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sv_socks4_request q, q2;
	struct sv_rd r = sv_rd_make(data, size);
	size_t cut = size > 0 ? data[size - 1] : 0;
	int e = sv_socks4_parse_request(&r, &q);

	if (e != 0) {
		CHECK(r.p == data && r.n == size);
		CHECK(e == SV_E_INCOMPLETE || e == SV_E_PROTO || e == -EOPNOTSUPP);
	} else {
		size_t used = (size_t)(r.p - data);
		CHECK(used >= 9 && used <= SV_SOCKS4_REQUEST_MAX && r.p + r.n == data + size);
		check_request(&q);
	}
	if (cut > size)
		return 0;
	struct sv_rd r2 = sv_rd_make(data, cut);
	int e2 = sv_socks4_parse_request(&r2, &q2);
	if (e2 == SV_E_INCOMPLETE) {
		CHECK(r2.p == data && r2.n == cut);
		return 0;
	}
	CHECK(e2 == e);
	if (e == 0)
		CHECK(r2.p == r.p && q2.port == q.port && q2.is_4a == q.is_4a &&
			strcmp(q2.host, q.host) == 0 && strcmp(q2.userid, q.userid) == 0);
	return 0;
}
