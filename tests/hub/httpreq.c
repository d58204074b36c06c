/*
 * Server side of the handshake's HTTP (spec section 3): request header parser and
 * response writer. Pure; see hub.h.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/err.h"
#include "hub.h"

/* Finds "\r\n\r\n" in p[0..n); returns the length through it, or 0. */
static size_t
header_end(const uint8_t *p, size_t n)
{
	for (size_t i = 3; i < n; i++)
		if (p[i] == '\n' && p[i - 1] == '\r' && p[i - 2] == '\n' && p[i - 3] == '\r')
			return i + 1;
	return 0;
}

/* Copies the token at *s (up to a space or the end) into out; advances *s. */
static int
take_token(const char **s, const char *end, char *out, size_t cap)
{
	const char *b = *s, *e = b;
	while (e < end && *e != ' ')
		e++;
	if (e == b || (size_t)(e - b) >= cap)
		return SV_E_PROTO;
	memcpy(out, b, (size_t)(e - b));
	out[e - b] = '\0';
	*s = e < end ? e + 1 : e;
	return 0;
}

static void
trim(const char **b, const char **e)
{
	while (*b < *e && (**b == ' ' || **b == '\t'))
		(*b)++;
	while (*e > *b && ((*e)[-1] == ' ' || (*e)[-1] == '\t'))
		(*e)--;
}

static int
parse_length(const char *b, const char *e, size_t *out)
{
	size_t v = 0;
	if (b == e)
		return SV_E_PROTO;
	for (; b < e; b++) {
		if (*b < '0' || *b > '9' || v > (SIZE_MAX - 9) / 10)
			return SV_E_PROTO;
		v = v * 10 + (size_t)(*b - '0');
	}
	*out = v;
	return 0;
}

/* One "Name: value" line [b, e). */
static int
parse_header(const char *b, const char *e, struct hub_http_req *req)
{
	const char *colon = memchr(b, ':', (size_t)(e - b));
	if (colon == NULL || colon == b)
		return SV_E_PROTO;
	const char *nb = b, *ne = colon, *vb = colon + 1, *ve = e;
	trim(&nb, &ne);
	trim(&vb, &ve);
	size_t nl = (size_t)(ne - nb);
	if (nl == 14 && strncasecmp(nb, "content-length", 14) == 0) {
		size_t v;
		if (parse_length(vb, ve, &v) != 0 || (req->has_length && v != req->content_length))
			return SV_E_PROTO;
		req->has_length = true;
		req->content_length = v;
	} else if (nl == 12 && strncasecmp(nb, "content-type", 12) == 0) {
		size_t vl = (size_t)(ve - vb);
		if (vl >= sizeof req->content_type)
			vl = sizeof req->content_type - 1;
		memcpy(req->content_type, vb, vl);
		req->content_type[vl] = '\0';
	} else if (nl == 17 && strncasecmp(nb, "transfer-encoding", 17) == 0) {
		return SV_E_PROTO;
	}
	return 0;
}

/* see hub.h */
int
hub_http_parse_request(const uint8_t *p, size_t n, struct hub_http_req *out)
{
	size_t hl = header_end(p, n < HUB_HTTP_HEADER_MAX ? n : HUB_HTTP_HEADER_MAX);
	if (hl == 0)
		return n >= HUB_HTTP_HEADER_MAX ? SV_E_TOOBIG : SV_E_INCOMPLETE;
	struct hub_http_req req;
	memset(&req, 0, sizeof req);
	const char *s = (const char *)p, *end = s + hl - 2; /* drop the last CRLF */
	for (const char *c = s; c < end; c++)
		if (*c == '\0')
			return SV_E_PROTO;
	const char *eol = s;
	while (eol + 1 < s + hl && !(eol[0] == '\r' && eol[1] == '\n'))
		eol++;
	if (eol > end)
		return SV_E_PROTO;
	const char *rl = s;
	int r;
	if ((r = take_token(&rl, eol, req.method, sizeof req.method)) != 0 ||
		(r = take_token(&rl, eol, req.target, sizeof req.target)) != 0 ||
		(r = take_token(&rl, eol, req.version, sizeof req.version)) != 0)
		return r;
	if (rl != eol)
		return SV_E_PROTO;
	for (const char *line = eol + 2; line < end;) {
		const char *le = line;
		while (le + 1 < end + 2 && !(le[0] == '\r' && le[1] == '\n'))
			le++;
		if ((r = parse_header(line, le, &req)) != 0)
			return r;
		line = le + 2;
	}
	req.header_len = hl;
	*out = req;
	return 0;
}

/* see hub.h */
int
hub_http_write_response(struct sv_buf *out, unsigned status, const char *reason,
	const char *content_type, const uint8_t *body, size_t n)
{
	char date[64];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	int r = sv_buf_printf(out,
		"HTTP/1.1 %u %s\r\nConnection: Keep-Alive\r\nContent-Length: %zu\r\n"
		"Content-Type: %s\r\nDate: %s\r\nKeep-Alive: timeout=15; max=19\r\n\r\n",
		status, reason, n, content_type, date);
	if (r == 0 && n > 0)
		r = sv_buf_put(out, body, n);
	return r;
}
