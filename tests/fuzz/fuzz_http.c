/*
 * Fuzz target for the HTTP response header parser (core/http), plus the request
 * writers with a host name taken from the input.
 *
 * Properties checked: a success describes a header block inside the input,
 * within the limits; every proper prefix of an accepted block is "incomplete"
 * and every longer prefix gives the same answer; a rejected host leaves the
 * buffer unchanged.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/http.h"

static void
check_writers(const uint8_t *data, size_t size)
{
	char host[300];
	size_t hn = size < sizeof host - 1 ? size : sizeof host - 1;
	struct sv_buf out;

	memcpy(host, data, hn);
	host[hn] = 0;
	sv_buf_init(&out, 4096);
	if (sv_buf_put_str(&out, "x") != 0)
		abort();
	int r = sv_http_write_signature(&out, host);
	if (r != 0 && sv_buf_len(&out) != 1)
		abort();
	sv_buf_reset(&out);
	r = sv_http_write_pack_post(&out, host, data, size);
	if (r != 0 && sv_buf_len(&out) != 0)
		abort();
	sv_buf_cleanup(&out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sv_http_response resp, again;
	int r = sv_http_parse_response(data, size, &resp);

	switch (r) {
	case 0:
		if (resp.status != 200 || resp.header_len > size ||
		    resp.header_len > SV_HTTP_HEADER_MAX ||
		    resp.content_length == 0 ||
		    resp.content_length > SV_HTTP_BODY_MAX)
			abort();
		/* Spread up to 64 prefixes over the input. */
		for (size_t i = 0; i < 64; i++) {
			size_t cut = size * i / 64;
			int rp = sv_http_parse_response(data, cut, &again);
			if (cut < resp.header_len && rp != SV_E_INCOMPLETE)
				abort();
			if (cut >= resp.header_len &&
			    (rp != 0 || again.header_len != resp.header_len ||
			     again.content_length != resp.content_length))
				abort();
		}
		break;
	case SV_E_INCOMPLETE:
	case SV_E_NOTVPN:
	case SV_E_TOOBIG:
	case SV_E_PROTO:
		break;
	default:
		abort();
	}
	check_writers(data, size);
	return 0;
}
