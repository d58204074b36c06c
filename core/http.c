/*
 * HTTP/1.1 request writer and response header parser for the handshake (see
 * http.h).
 */
#include <stdbool.h>
#include <string.h>

#include "err.h"
#include "http.h"

#define HOST_MAX 255

static const char signature_body[] =
    "VPNCONNECT"; /* spec 3.1, case-sensitive */

static int
ascii_lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

/* Case-insensitive (ASCII) equality of p[0..n) and the NUL-terminated s. */
static bool
eq_nocase(const uint8_t *p, size_t n, const char *s)
{
	if (strlen(s) != n)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (ascii_lower(p[i]) != ascii_lower((unsigned char)s[i]))
			return false;
	}
	return true;
}

static bool
is_ows(uint8_t c)
{
	return c == ' ' || c == '\t';
}

/* A Host value we are willing to put on a header line: no spaces, no control
 * bytes. */
static int
check_host(const char *host)
{
	if (host == NULL)
		return 0;
	size_t n = strlen(host);
	if (n == 0 || n > HOST_MAX)
		return SV_E_INVAL;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)host[i];
		if (c <= 0x20 || c == 0x7f)
			return SV_E_INVAL;
	}
	return 0;
}

/*
 * Appends one POST; on failure truncates out back to where it was. pack_headers
 * adds the Keep-Alive header the official client sends with PACK requests
 * (spec 3.3).
 */
static int
write_post(struct sv_buf *out, const char *path, const char *ctype,
           const char *host, bool pack_headers, const void *body, size_t n)
{
	size_t mark = sv_buf_len(out);
	int r;

	if ((r = check_host(host)) != 0)
		return r;
	if ((r = sv_buf_printf(out, "POST %s HTTP/1.1\r\n", path)) != 0)
		goto fail;
	if (host != NULL && (r = sv_buf_printf(out, "Host: %s\r\n", host)) != 0)
		goto fail;
	if (pack_headers &&
	    (r = sv_buf_put_str(out, "Keep-Alive: timeout=15; max=19\r\n")) !=
	        0)
		goto fail;
	if ((r = sv_buf_put_str(out, "Connection: Keep-Alive\r\n")) != 0 ||
	    (r = sv_buf_printf(out, "Content-Type: %s\r\n", ctype)) != 0 ||
	    (r = sv_buf_printf(out, "Content-Length: %zu\r\n\r\n", n)) != 0 ||
	    (r = sv_buf_put(out, body, n)) != 0)
		goto fail;
	return 0;
fail:
	/* Unread length is preserved by compaction, so this drops exactly our
	 * bytes. */
	out->len = out->off + mark;
	return r;
}

/* see http.h */
int
sv_http_write_signature(struct sv_buf *out, const char *host)
{
	return write_post(out, SV_HTTP_PATH_SIGNATURE, "image/jpeg", host,
	                  false, signature_body, sizeof signature_body - 1);
}

/* see http.h */
int
sv_http_write_pack_post(struct sv_buf *out, const char *host,
                        const uint8_t *body, size_t n)
{
	if (n == 0 || n > SV_HTTP_REQUEST_BODY_MAX)
		return SV_E_TOOBIG;
	return write_post(out, SV_HTTP_PATH_PACK, "application/octet-stream",
	                  host, true, body, n);
}

/* Offset just past "\r\n\r\n" within p[0..n), or 0 if absent. */
static size_t
find_header_end(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i + 4 <= n; i++) {
		if (p[i] == '\r' && p[i + 1] == '\n' && p[i + 2] == '\r' &&
		    p[i + 3] == '\n')
			return i + 4;
	}
	return 0;
}

/*
 * "HTTP/1.1 200 OK": the version must be exactly HTTP/1.1 and the code three
 * digits followed by a space or the end of the line (spec 3.2: the official
 * client checks the first two tokens). *status = 0 when unusable.
 */
static void
parse_status_line(const uint8_t *p, size_t n, unsigned *status)
{
	static const char ver[] = "HTTP/1.1 ";
	size_t vl = sizeof ver - 1;

	*status = 0;
	if (n < vl + 3 || memcmp(p, ver, vl) != 0)
		return;
	unsigned v = 0;
	for (size_t i = vl; i < vl + 3; i++) {
		if (p[i] < '0' || p[i] > '9')
			return;
		v = v * 10 + (unsigned)(p[i] - '0');
	}
	if (n > vl + 3 && p[vl + 3] != ' ')
		return;
	*status = v;
}

/* Decimal Content-Length; SV_E_PROTO unless 1..9 digits only, SV_E_TOOBIG past
 * max. */
static int
parse_length(const uint8_t *p, size_t n, size_t *out)
{
	size_t v = 0;

	if (n == 0)
		return SV_E_PROTO;
	while (n > 1 && p[0] == '0') { /* leading zeros are legal, if odd */
		p++;
		n--;
	}
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return SV_E_PROTO;
	}
	if (n > 9)
		return SV_E_TOOBIG;
	for (size_t i = 0; i < n; i++)
		v = v * 10 + (size_t)(p[i] - '0');
	*out = v;
	return 0;
}

/* Media type of a Content-Type value, without parameters or trailing blanks. */
static bool
is_octet_stream(const uint8_t *v, size_t n)
{
	size_t m = 0;

	while (m < n && v[m] != ';')
		m++;
	while (m > 0 && is_ows(v[m - 1]))
		m--;
	return eq_nocase(v, m, "application/octet-stream");
}

struct hdr_state {
	bool have_type, type_ok, have_len;
	size_t length;
};

/* One "Name: value" line (without CRLF). */
static int
parse_header_line(const uint8_t *p, size_t n, struct hdr_state *h)
{
	size_t colon = 0;

	while (colon < n && p[colon] != ':')
		colon++;
	/* No colon, empty name, obsolete line folding or blanks inside the
	 * name. */
	if (colon == n || colon == 0)
		return SV_E_PROTO;
	for (size_t i = 0; i < colon; i++) {
		if (p[i] <= 0x20 || p[i] >= 0x7f)
			return SV_E_PROTO;
	}
	const uint8_t *v = p + colon + 1;
	size_t vn = n - colon - 1;
	while (vn > 0 && is_ows(v[0])) {
		v++;
		vn--;
	}
	while (vn > 0 && is_ows(v[vn - 1]))
		vn--;
	for (size_t i = 0; i < vn; i++) {
		if (v[i] == '\r' || v[i] == '\n' || v[i] == 0)
			return SV_E_PROTO;
	}
	if (eq_nocase(p, colon, "content-type")) {
		if (h->have_type)
			return SV_E_PROTO;
		h->have_type = true;
		h->type_ok = is_octet_stream(v, vn);
	} else if (eq_nocase(p, colon, "content-length")) {
		size_t len = 0;
		int r = parse_length(v, vn, &len);
		if (r != 0)
			return r;
		if (h->have_len && h->length != len)
			return SV_E_PROTO;
		h->have_len = true;
		h->length = len;
	} else if (eq_nocase(p, colon, "transfer-encoding")) {
		return SV_E_PROTO; /* the protocol sizes bodies by
		                      Content-Length only */
	}
	return 0;
}

/* see http.h */
int
sv_http_parse_response(const uint8_t *p, size_t n,
                       struct sv_http_response *resp)
{
	static const char prefix[] = "HTTP/";
	size_t pl = n < sizeof prefix - 1 ? n : sizeof prefix - 1;

	if (n == 0)
		return SV_E_INCOMPLETE;

	/* Fail early on a peer that does not talk HTTP at all. */
	if (memcmp(p, prefix, pl) != 0) {
		resp->status = 0;
		return SV_E_NOTVPN;
	}
	size_t end =
	    find_header_end(p, n < SV_HTTP_HEADER_MAX ? n : SV_HTTP_HEADER_MAX);
	if (end == 0)
		return n >= SV_HTTP_HEADER_MAX ? SV_E_TOOBIG : SV_E_INCOMPLETE;

	size_t eol = 0;
	while (p[eol] != '\r' || p[eol + 1] != '\n')
		eol++;
	unsigned status;
	parse_status_line(p, eol, &status);
	if (status != 200) {
		resp->status = status;
		return SV_E_NOTVPN;
	}

	struct hdr_state h = {0};
	size_t pos = eol + 2;
	while (pos < end - 2) {
		size_t le = pos;
		while (p[le] != '\r' || p[le + 1] != '\n')
			le++;
		if (memchr(p + pos, '\n', le - pos) != NULL)
			return SV_E_PROTO; /* bare LF inside a line */
		int r = parse_header_line(p + pos, le - pos, &h);
		if (r != 0)
			return r;
		pos = le + 2;
	}
	if (h.have_len && h.length > SV_HTTP_BODY_MAX)
		return SV_E_TOOBIG;
	if (!h.have_type || !h.type_ok || !h.have_len || h.length == 0) {
		resp->status = status;
		return SV_E_NOTVPN;
	}
	resp->status = status;
	resp->header_len = end;
	resp->content_length = h.length;
	return 0;
}
