/*
 * HTTP/1.1 parse and build functions for the HTTP proxy. No I/O: see http_parse.h.
 *
 * A head is parsed in two passes over the same bytes: scan_head() finds where it ends
 * (checking the line and head ceilings as it goes, so an oversized head fails as soon as
 * the bytes show it), then the lines are split and checked one by one. Nothing is
 * written to the caller's structs until the whole head is known to be good.
 *
 * The body delimiter (struct sv_httpp_body) is a byte-driven state machine for chunked
 * framing (RFC 9112 section 7.1):
 *
 *   SIZE --hex--> SIZE --SP/HTAB--> BWS --';'--> EXT --CR--> SIZE_LF --LF--> DATA
 *        --';'--> EXT                   --CR--> SIZE_LF          (size 0)--> TRAILER
 *        --CR-->  SIZE_LF
 *   DATA (left bytes, taken in bulk) --> DATA_CR --CR--> DATA_LF --LF--> SIZE
 *   TRAILER --CR--> END_LF --LF--> DONE
 *           --other--> TLINE --CR--> TLINE_LF --LF--> TRAILER
 *
 * Invariants: `left` counts data bytes of the current chunk still to come (or of the
 * Content-Length body); `line` counts bytes of the current chunk-size or trailer line
 * and stays <= SV_HTTPP_CHUNK_LINE_MAX; `trailers` counts the trailer section and stays
 * <= SV_HTTPP_HEAD_MAX. LENGTH uses only `left`; CLOSE and TUNNEL take every byte.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/vpnfile.h"
#include "socks/http_parse.h"
#include "socks/peerlimit.h"

#define CL_MAX ((uint64_t)INT64_MAX) /* Content-Length and chunk-size ceiling */

/* ---- character classes -------------------------------------------------------- */

/* RFC 9110 section 5.6.2: tchar. */
static bool
is_tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		(c >= '0' && c <= '9'))
		return true;
	return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* field-vchar, SP or HTAB (RFC 9110 section 5.5); obs-text allowed. */
static bool
is_value_char(unsigned char c)
{
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static bool
is_ows(unsigned char c)
{
	return c == ' ' || c == '\t';
}

static unsigned char
lower(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

/* ASCII case-insensitive: slice == NUL-terminated s. */
static bool
str_ieq(struct sv_httpp_str a, const char *s)
{
	size_t n = strlen(s);

	if (a.n != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (lower((unsigned char)a.p[i]) != lower((unsigned char)s[i]))
			return false;
	return true;
}

static bool
slice_ieq(struct sv_httpp_str a, struct sv_httpp_str b)
{
	if (a.n != b.n)
		return false;
	for (size_t i = 0; i < a.n; i++)
		if (lower((unsigned char)a.p[i]) != lower((unsigned char)b.p[i]))
			return false;
	return true;
}

static struct sv_httpp_str
slice(const char *p, size_t n)
{
	struct sv_httpp_str s = { p, n };
	return s;
}

static struct sv_httpp_str
trim(struct sv_httpp_str s)
{
	while (s.n > 0 && is_ows((unsigned char)s.p[0])) {
		s.p++;
		s.n--;
	}
	while (s.n > 0 && is_ows((unsigned char)s.p[s.n - 1]))
		s.n--;
	return s;
}

/*
 * Comma-separated list iterator (RFC 9110 section 5.6.1): next non-empty element of
 * *list, trimmed, in *elem; false at the end. Quoted strings are not special here: the
 * lists we read (Connection, Transfer-Encoding, Content-Length) hold tokens.
 */
static bool
list_next(struct sv_httpp_str *list, struct sv_httpp_str *elem)
{
	while (list->n > 0) {
		const char *comma = memchr(list->p, ',', list->n);
		size_t len = comma ? (size_t)(comma - list->p) : list->n;
		struct sv_httpp_str e = trim(slice(list->p, len));

		list->p += comma ? len + 1 : len;
		list->n -= comma ? len + 1 : len;
		if (e.n > 0) {
			*elem = e;
			return true;
		}
	}
	return false;
}

static bool
list_has(struct sv_httpp_str list, const char *token)
{
	struct sv_httpp_str e;

	while (list_next(&list, &e))
		if (str_ieq(e, token))
			return true;
	return false;
}

static void
set_err(struct sv_httpp_err *err, unsigned status, const char *why)
{
	if (err != NULL) {
		err->status = status;
		err->why = why;
	}
}

/* ---- head scanning ------------------------------------------------------------ */

/*
 * Finds the end of the head in p[0..n) from *scan (0 at first; else the start of a line
 * that was incomplete in an earlier call). Leading empty lines are skipped (RFC 9112
 * section 2.2), so the line at which scanning starts is never empty and every empty
 * line found later ends the head. Returns 0 and *head_len; SV_E_INCOMPLETE (updating
 * *scan); SV_E_TOOBIG when a line passes SV_HTTPP_LINE_MAX or the head
 * SV_HTTPP_HEAD_MAX.
 */
static int
scan_head(const uint8_t *p, size_t n, size_t *scan, size_t *head_len)
{
	size_t lim = n < SV_HTTPP_HEAD_MAX ? n : SV_HTTPP_HEAD_MAX;
	size_t i = *scan <= lim ? *scan : 0;

	if (i == 0) {
		while (i < lim) {
			if (p[i] == '\n')
				i++;
			else if (p[i] == '\r' && i + 1 < lim && p[i + 1] == '\n')
				i += 2;
			else
				break;
		}
		if (i == lim || (p[i] == '\r' && i + 1 == lim)) {
			*scan = 0;
			return n >= SV_HTTPP_HEAD_MAX ? SV_E_TOOBIG
						      : SV_E_INCOMPLETE;
		}
	}
	for (;;) {
		const uint8_t *lf = memchr(p + i, '\n', lim - i);
		size_t len, content;

		if (lf == NULL) {
			if (lim - i > SV_HTTPP_LINE_MAX + 1 ||
				n >= SV_HTTPP_HEAD_MAX)
				return SV_E_TOOBIG;
			*scan = i;
			return SV_E_INCOMPLETE;
		}
		len = (size_t)(lf - (p + i));
		content = (len > 0 && p[i + len - 1] == '\r') ? len - 1 : len;
		if (content > SV_HTTPP_LINE_MAX)
			return SV_E_TOOBIG;
		if (content == 0) {
			*head_len = i + len + 1;
			return 0;
		}
		i += len + 1;
	}
}

/* see http_parse.h */
int
sv_httpp_head_length(const uint8_t *p, size_t n, size_t *scan, size_t *head_len)
{
	size_t s = *scan, len = 0;
	int e = scan_head(p, n, &s, &len);

	*scan = s;
	if (e == 0)
		*head_len = len;
	return e;
}

/* True when the first non-empty line of p[0..n) is (or already is, if incomplete)
 * longer than SV_HTTPP_LINE_MAX: tells 414 from 431. */
static bool
first_line_too_long(const uint8_t *p, size_t n)
{
	size_t i = 0;

	while (i < n && (p[i] == '\r' || p[i] == '\n'))
		i++;
	const uint8_t *lf = memchr(p + i, '\n', n - i);
	size_t len = lf ? (size_t)(lf - (p + i)) : n - i;
	return len > SV_HTTPP_LINE_MAX + 1 ||
		(lf && len == SV_HTTPP_LINE_MAX + 1 && p[i + len - 1] != '\r');
}

/*
 * Next line of head[*pos..end) without its line ending. SV_E_PROTO for a bare CR in it.
 * Only called on a head that scan_head() accepted, so every line ends with LF.
 */
static int
next_line(const char *head, size_t end, size_t *pos, struct sv_httpp_str *line)
{
	const char *p = head + *pos;
	const char *lf = memchr(p, '\n', end - *pos);
	size_t len = (size_t)(lf - p);

	*pos += len + 1;
	if (len > 0 && p[len - 1] == '\r')
		len--;
	if (memchr(p, '\r', len) != NULL)
		return SV_E_PROTO;
	*line = slice(p, len);
	return 0;
}

/* Start of the first non-empty line of a scanned head. */
static size_t
skip_empty_lines(const char *head)
{
	size_t i = 0;

	while (head[i] == '\n' || (head[i] == '\r' && head[i + 1] == '\n'))
		i += head[i] == '\n' ? 1 : 2;
	return i;
}

/* ---- header lines ------------------------------------------------------------- */

/* What the framing and connection headers said (RFC 9112 sections 6, 9.6). */
struct head_info {
	bool has_cl, has_te, te_chunked_last, te_bad;
	unsigned te_chunked;
	uint64_t cl;
	bool has_conn, conn_close, conn_keep, conn_upgrade;
	bool pconn_close, pconn_keep;
	bool has_upgrade;
	unsigned n_host, n_pauth;
	struct sv_httpp_str pauth;
};

/* Content-Length: "N" or a list of equal Ns (RFC 9110 section 8.6). */
static int
note_content_length(struct head_info *hi, struct sv_httpp_str v,
	const char **why)
{
	struct sv_httpp_str e;
	bool any = false;

	while (list_next(&v, &e)) {
		uint64_t x = 0;

		for (size_t i = 0; i < e.n; i++) {
			unsigned char c = (unsigned char)e.p[i];
			if (c < '0' || c > '9') {
				*why = "bad Content-Length value";
				return SV_E_PROTO;
			}
			if (x > (CL_MAX - (c - '0')) / 10) {
				*why = "Content-Length too large";
				return SV_E_PROTO;
			}
			x = x * 10 + (c - '0');
		}
		if (hi->has_cl && hi->cl != x) {
			*why = "conflicting Content-Length values";
			return SV_E_PROTO;
		}
		hi->has_cl = true;
		hi->cl = x;
		any = true;
	}
	if (!any) {
		*why = "empty Content-Length";
		return SV_E_PROTO;
	}
	return 0;
}

/* Transfer-Encoding: remember whether chunked is the last coding and how often it
 * appears; over several header lines the lists concatenate. */
static void
note_transfer_encoding(struct head_info *hi, struct sv_httpp_str v)
{
	struct sv_httpp_str e;

	hi->has_te = true;
	while (list_next(&v, &e)) {
		const char *semi = memchr(e.p, ';', e.n);
		struct sv_httpp_str name =
			trim(slice(e.p, semi ? (size_t)(semi - e.p) : e.n));

		if (str_ieq(name, "chunked")) {
			hi->te_chunked++;
			hi->te_chunked_last = true;
			if (semi != NULL)
				hi->te_bad = true; /* chunked takes no parameters */
		} else {
			hi->te_chunked_last = false;
		}
	}
}

static void
note_connection(struct head_info *hi, struct sv_httpp_str v)
{
	hi->has_conn = true;
	hi->conn_close |= list_has(v, "close");
	hi->conn_keep |= list_has(v, "keep-alive");
	hi->conn_upgrade |= list_has(v, "upgrade");
}

/* Records what one header means for framing and connection handling. */
static int
note_header(struct head_info *hi, const struct sv_httpp_header *h,
	const char **why)
{
	if (str_ieq(h->name, "content-length"))
		return note_content_length(hi, h->value, why);
	if (str_ieq(h->name, "transfer-encoding"))
		note_transfer_encoding(hi, h->value);
	else if (str_ieq(h->name, "connection"))
		note_connection(hi, h->value);
	else if (str_ieq(h->name, "proxy-connection")) {
		hi->pconn_close |= list_has(h->value, "close");
		hi->pconn_keep |= list_has(h->value, "keep-alive");
	} else if (str_ieq(h->name, "upgrade"))
		hi->has_upgrade = true;
	else if (str_ieq(h->name, "host"))
		hi->n_host++;
	else if (str_ieq(h->name, "proxy-authorization")) {
		hi->n_pauth++;
		hi->pauth = h->value;
	}
	return 0;
}

/* One field line (RFC 9112 section 5): name ":" OWS value OWS. */
static int
parse_header_line(struct sv_httpp_str line, struct sv_httpp_header *h,
	const char **why)
{
	const char *colon;

	if (is_ows((unsigned char)line.p[0])) {
		*why = "obsolete line folding in a header";
		return SV_E_PROTO;
	}
	colon = memchr(line.p, ':', line.n);
	if (colon == NULL || colon == line.p) {
		*why = "header line without a name and colon";
		return SV_E_PROTO;
	}
	h->name = slice(line.p, (size_t)(colon - line.p));
	for (size_t i = 0; i < h->name.n; i++)
		if (!is_tchar((unsigned char)h->name.p[i])) {
			*why = "invalid character in a header name";
			return SV_E_PROTO;
		}
	h->value = trim(slice(colon + 1, line.n - h->name.n - 1));
	for (size_t i = 0; i < h->value.n; i++)
		if (!is_value_char((unsigned char)h->value.p[i])) {
			*why = "control character in a header value";
			return SV_E_PROTO;
		}
	return 0;
}

/* All header lines of head[pos..end) (the blank line excluded) into h[], *n. */
static int
parse_headers(const char *head, size_t pos, size_t end,
	struct sv_httpp_header *h, size_t *n, struct head_info *hi,
	const char **why, unsigned *status)
{
	struct sv_httpp_str line;
	size_t count = 0;
	int e;

	memset(hi, 0, sizeof *hi);
	for (;;) {
		if ((e = next_line(head, end, &pos, &line)) != 0) {
			*why = "bare CR in the head";
			return e;
		}
		if (line.n == 0)
			break;
		if (count == SV_HTTPP_HEADERS_MAX) {
			*why = "too many header lines";
			*status = 431;
			return SV_E_TOOBIG;
		}
		if ((e = parse_header_line(line, &h[count], why)) != 0 ||
			(e = note_header(hi, &h[count], why)) != 0)
			return e;
		count++;
	}
	*n = count;
	return 0;
}

/* ---- request line and target -------------------------------------------------- */

/* "HTTP/1.0" or "HTTP/1.1" (1.x above 1 is treated as 1.1, RFC 9110 section 2.5).
 * SV_E_PROTO for a malformed version, -EPROTONOSUPPORT for another major. */
static int
parse_version(struct sv_httpp_str v, unsigned *minor)
{
	if (v.n != 8 || memcmp(v.p, "HTTP/", 5) != 0 || v.p[6] != '.' ||
		v.p[5] < '0' || v.p[5] > '9' || v.p[7] < '0' || v.p[7] > '9')
		return SV_E_PROTO;
	if (v.p[5] != '1')
		return -EPROTONOSUPPORT;
	*minor = v.p[7] == '0' ? 0 : 1;
	return 0;
}

static bool
is_host_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		(c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
}

/* Decimal port 1..65535 from s[0..n). */
static int
parse_port(struct sv_httpp_str s, uint16_t *port)
{
	unsigned v = 0;

	if (s.n == 0 || s.n > 5)
		return SV_E_PROTO;
	for (size_t i = 0; i < s.n; i++) {
		if (s.p[i] < '0' || s.p[i] > '9')
			return SV_E_PROTO;
		v = v * 10 + (unsigned)(s.p[i] - '0');
	}
	if (v == 0 || v > 65535)
		return SV_E_PROTO;
	*port = (uint16_t)v;
	return 0;
}

/*
 * authority = host [ ":" port ] with host a name, an IPv4 literal or "[IPv6]" (RFC
 * 3986 section 3.2). need_port: CONNECT's authority-form must name a port.
 */
static int
parse_authority(struct sv_httpp_str a, bool need_port,
	struct sv_httpp_request *req, const char **why)
{
	struct sv_httpp_str host, port = { NULL, 0 };
	bool has_port = false;

	if (memchr(a.p, '@', a.n) != NULL) {
		*why = "user name or password in the URL are not supported";
		return SV_E_PROTO;
	}
	if (a.n > 0 && a.p[0] == '[') {
		const char *close = memchr(a.p, ']', a.n);
		if (close == NULL) {
			*why = "unterminated IPv6 literal";
			return SV_E_PROTO;
		}
		host = slice(a.p + 1, (size_t)(close - a.p) - 1);
		size_t rest = a.n - (size_t)(close - a.p) - 1;
		if (rest > 0) {
			if (close[1] != ':') {
				*why = "bad host in the request target";
				return SV_E_PROTO;
			}
			has_port = true;
			port = slice(close + 2, rest - 1);
		}
	} else {
		const char *colon = memchr(a.p, ':', a.n);
		host = slice(a.p, colon ? (size_t)(colon - a.p) : a.n);
		if (colon != NULL) {
			has_port = true;
			port = slice(colon + 1, a.n - host.n - 1);
		}
	}
	if (host.n == 0 || host.n > SV_HTTPP_HOST_MAX) {
		*why = "missing or too long host in the request target";
		return SV_E_PROTO;
	}
	memcpy(req->host, host.p, host.n);
	req->host[host.n] = '\0';
	memset(&req->host_ip, 0, sizeof req->host_ip);
	if (a.p[0] == '[') {
		if (sv_ip_parse(req->host, &req->host_ip) != 0 ||
			req->host_ip.family != 6) {
			*why = "bad IPv6 literal in the request target";
			return SV_E_PROTO;
		}
	} else {
		for (size_t i = 0; i < host.n; i++)
			if (!is_host_char((unsigned char)host.p[i])) {
				*why = "invalid character in the host name";
				return SV_E_PROTO;
			}
		if (sv_ip_parse(req->host, &req->host_ip) != 0)
			memset(&req->host_ip, 0, sizeof req->host_ip);
	}
	if (!has_port || port.n == 0) {
		if (need_port) {
			*why = "CONNECT needs host:port";
			return SV_E_PROTO;
		}
		req->port = 80;
	} else if (parse_port(port, &req->port) != 0) {
		*why = "bad port in the request target";
		return SV_E_PROTO;
	}
	return 0;
}

/* absolute-form: "http://" authority path-abempty [ "?" query ] [ "#" fragment ]. */
static int
parse_absolute(struct sv_httpp_str t, struct sv_httpp_request *req,
	const char **why)
{
	const char *sep = NULL;
	size_t i, scheme_len;

	for (i = 0; i + 2 < t.n; i++)
		if (t.p[i] == ':' && t.p[i + 1] == '/' && t.p[i + 2] == '/') {
			sep = t.p + i;
			break;
		}
	if (sep == NULL) {
		*why = "the request target must be an absolute http:// URL";
		return SV_E_PROTO;
	}
	scheme_len = (size_t)(sep - t.p);
	if (str_ieq(slice(t.p, scheme_len), "https")) {
		*why = "https:// URLs go through CONNECT: configure this proxy for "
		       "https too";
		return SV_E_PROTO;
	}
	if (!str_ieq(slice(t.p, scheme_len), "http")) {
		*why = "only http:// URLs can be proxied";
		return SV_E_PROTO;
	}
	const char *a = sep + 3, *end = t.p + t.n;
	const char *q = a;
	while (q < end && *q != '/' && *q != '?' && *q != '#')
		q++;
	if (parse_authority(slice(a, (size_t)(q - a)), false, req, why) != 0)
		return SV_E_PROTO;
	const char *hash = memchr(q, '#', (size_t)(end - q));
	req->path = slice(q, (size_t)((hash ? hash : end) - q));
	req->form = SV_HTTPP_FORM_ABSOLUTE;
	return 0;
}

static int
parse_target(struct sv_httpp_str t, struct sv_httpp_request *req,
	const char **why)
{
	for (size_t i = 0; i < t.n; i++) {
		unsigned char c = (unsigned char)t.p[i];
		if (c <= 0x20 || c == 0x7f) {
			*why = "invalid character in the request target";
			return SV_E_PROTO;
		}
	}
	req->host[0] = '\0';
	memset(&req->host_ip, 0, sizeof req->host_ip);
	req->port = 0;
	req->path = slice(t.p, 0);
	if (req->method_id == SV_HTTPP_METHOD_CONNECT) {
		if (t.p[0] == '/' || memchr(t.p, '/', t.n) != NULL) {
			*why = "CONNECT needs host:port";
			return SV_E_PROTO;
		}
		req->form = SV_HTTPP_FORM_AUTHORITY;
		return parse_authority(t, true, req, why);
	}
	if (t.p[0] == '/') {
		req->form = SV_HTTPP_FORM_ORIGIN;
		req->path = t;
		return 0;
	}
	return parse_absolute(t, req, why);
}

/* Methods are case-sensitive (RFC 9110 section 9.1). */
static enum sv_httpp_method
method_id(struct sv_httpp_str m)
{
	if (m.n == 3 && memcmp(m.p, "GET", 3) == 0)
		return SV_HTTPP_METHOD_GET;
	if (m.n == 4 && memcmp(m.p, "HEAD", 4) == 0)
		return SV_HTTPP_METHOD_HEAD;
	if (m.n == 7 && memcmp(m.p, "CONNECT", 7) == 0)
		return SV_HTTPP_METHOD_CONNECT;
	return SV_HTTPP_METHOD_OTHER;
}

/* request-line = method SP request-target SP HTTP-version (RFC 9112 section 3). */
static int
parse_request_line(struct sv_httpp_str line, struct sv_httpp_request *req,
	const char **why)
{
	const char *sp1 = memchr(line.p, ' ', line.n);
	const char *end = line.p + line.n;
	int e;

	if (sp1 == NULL || sp1 == line.p) {
		*why = "malformed request line";
		return SV_E_PROTO;
	}
	const char *sp2 = memchr(sp1 + 1, ' ', (size_t)(end - sp1 - 1));
	if (sp2 == NULL || sp2 == sp1 + 1) {
		*why = "malformed request line";
		return SV_E_PROTO;
	}
	req->method = slice(line.p, (size_t)(sp1 - line.p));
	for (size_t i = 0; i < req->method.n; i++)
		if (!is_tchar((unsigned char)req->method.p[i])) {
			*why = "invalid character in the method";
			return SV_E_PROTO;
		}
	if ((e = parse_version(slice(sp2 + 1, (size_t)(end - sp2 - 1)),
		     &req->version_minor)) != 0) {
		*why = e == SV_E_PROTO ? "malformed HTTP version"
				       : "only HTTP/1.0 and HTTP/1.1 are supported";
		return e;
	}
	req->method_id = method_id(req->method);
	req->target = slice(sp1 + 1, (size_t)(sp2 - sp1 - 1));
	return parse_target(req->target, req, why);
}

/* Body framing of a request (RFC 9112 section 6.3, strictest reading). */
static int
request_framing(const struct head_info *hi, struct sv_httpp_request *req,
	const char **why)
{
	req->framing = SV_HTTPP_BODY_NONE;
	req->content_length = 0;
	if (hi->has_te) {
		if (hi->has_cl) {
			*why = "Content-Length and Transfer-Encoding both present";
			return SV_E_PROTO;
		}
		if (req->version_minor == 0) {
			*why = "Transfer-Encoding in an HTTP/1.0 request";
			return SV_E_PROTO;
		}
		if (!hi->te_chunked_last || hi->te_chunked != 1 || hi->te_bad) {
			*why = "Transfer-Encoding must end in a single chunked";
			return SV_E_PROTO;
		}
		req->framing = SV_HTTPP_BODY_CHUNKED;
	} else if (hi->has_cl) {
		req->framing = SV_HTTPP_BODY_LENGTH;
		req->content_length = hi->cl;
	}
	if (req->method_id == SV_HTTPP_METHOD_CONNECT &&
		(req->framing == SV_HTTPP_BODY_CHUNKED ||
			req->content_length > 0)) {
		*why = "CONNECT with a body";
		return SV_E_PROTO;
	}
	if (hi->n_host > 1) {
		*why = "more than one Host header";
		return SV_E_PROTO;
	}
	if (hi->n_pauth > 1) {
		*why = "more than one Proxy-Authorization header";
		return SV_E_PROTO;
	}
	return 0;
}

/* see http_parse.h */
int
sv_httpp_parse_request(struct sv_rd *in, struct sv_httpp_request *req,
	struct sv_httpp_err *err)
{
	const char *head = (const char *)in->p;
	const char *why = "malformed request";
	unsigned status = 400;
	struct head_info hi;
	struct sv_httpp_str line;
	size_t scan = 0, head_len = 0, pos;
	int e;

	if ((e = scan_head(in->p, in->n, &scan, &head_len)) != 0) {
		if (e == SV_E_TOOBIG) {
			bool uri = first_line_too_long(in->p, in->n);
			set_err(err, uri ? 414 : 431,
				uri ? "request line too long" : "request head too large");
		}
		return e;
	}
	pos = skip_empty_lines(head);
	if ((e = next_line(head, head_len, &pos, &line)) != 0) {
		set_err(err, 400, "bare CR in the request line");
		return e;
	}
	if ((e = parse_request_line(line, req, &why)) != 0) {
		set_err(err, e == -EPROTONOSUPPORT ? 505 : 400, why);
		return e;
	}
	if ((e = parse_headers(head, pos, head_len, req->headers, &req->n_headers,
		     &hi, &why, &status)) != 0 ||
		(e = request_framing(&hi, req, &why)) != 0) {
		set_err(err, status, why);
		return e;
	}
	req->head_len = head_len;
	if (hi.has_conn)
		req->keep_alive = !hi.conn_close &&
			(req->version_minor == 1 || hi.conn_keep);
	else
		req->keep_alive = req->version_minor == 1 ? !hi.pconn_close
							  : hi.pconn_keep;
	req->upgrade = hi.has_upgrade && hi.conn_upgrade &&
		req->method_id != SV_HTTPP_METHOD_CONNECT;
	req->proxy_auth = hi.n_pauth ? hi.pauth : slice(NULL, 0);
	in->p += head_len;
	in->n -= head_len;
	return 0;
}

/* ---- responses ---------------------------------------------------------------- */

/* status-line = HTTP-version SP status-code SP [ reason-phrase ] (RFC 9112 4);
 * a missing SP after the code is tolerated. */
static int
parse_status_line(struct sv_httpp_str line, struct sv_httpp_response *resp,
	const char **why)
{
	unsigned status = 0;

	if (line.n < 12 || line.p[8] != ' ' ||
		parse_version(slice(line.p, 8), &resp->version_minor) != 0) {
		*why = "malformed status line from the server";
		return SV_E_PROTO;
	}
	for (size_t i = 9; i < 12; i++) {
		if (line.p[i] < '0' || line.p[i] > '9') {
			*why = "malformed status code from the server";
			return SV_E_PROTO;
		}
		status = status * 10 + (unsigned)(line.p[i] - '0');
	}
	if (status < 100 || status > 599 || (line.n > 12 && line.p[12] != ' ')) {
		*why = "malformed status code from the server";
		return SV_E_PROTO;
	}
	resp->status = status;
	resp->reason = line.n > 13 ? slice(line.p + 13, line.n - 13)
				   : slice(line.p + line.n, 0);
	for (size_t i = 0; i < resp->reason.n; i++)
		if (!is_value_char((unsigned char)resp->reason.p[i])) {
			*why = "control character in the reason phrase";
			return SV_E_PROTO;
		}
	return 0;
}

/* Body framing of a response (RFC 9112 section 6.3, in its order). */
static void
response_framing(const struct head_info *hi, enum sv_httpp_method m,
	struct sv_httpp_response *resp)
{
	unsigned s = resp->status;

	resp->framing = SV_HTTPP_BODY_NONE;
	resp->content_length = 0;
	resp->interim = false;
	if (s == 101)
		resp->framing = SV_HTTPP_BODY_TUNNEL;
	else if (s < 200)
		resp->interim = true;
	else if (m == SV_HTTPP_METHOD_CONNECT && s < 300)
		resp->framing = SV_HTTPP_BODY_TUNNEL;
	else if (m == SV_HTTPP_METHOD_HEAD || s == 204 || s == 304)
		;
	else if (hi->has_te)
		resp->framing = (hi->te_chunked_last && hi->te_chunked == 1 &&
					!hi->te_bad && resp->version_minor == 1)
			? SV_HTTPP_BODY_CHUNKED
			: SV_HTTPP_BODY_CLOSE;
	else if (hi->has_cl) {
		resp->framing = SV_HTTPP_BODY_LENGTH;
		resp->content_length = hi->cl;
	} else
		resp->framing = SV_HTTPP_BODY_CLOSE;
}

/* see http_parse.h */
int
sv_httpp_parse_response(struct sv_rd *in, enum sv_httpp_method req_method,
	struct sv_httpp_response *resp, struct sv_httpp_err *err)
{
	const char *head = (const char *)in->p;
	const char *why = "malformed response head from the server";
	unsigned status = 502;
	struct head_info hi;
	struct sv_httpp_str line;
	size_t scan = 0, head_len = 0, pos;
	int e;

	if ((e = scan_head(in->p, in->n, &scan, &head_len)) != 0) {
		if (e == SV_E_TOOBIG)
			set_err(err, 502, "response head from the server too large");
		return e;
	}
	pos = skip_empty_lines(head);
	if ((e = next_line(head, head_len, &pos, &line)) != 0 ||
		(e = parse_status_line(line, resp, &why)) != 0 ||
		(e = parse_headers(head, pos, head_len, resp->headers,
			 &resp->n_headers, &hi, &why, &status)) != 0) {
		set_err(err, 502, why);
		return e;
	}
	response_framing(&hi, req_method, resp);
	resp->head_len = head_len;
	if (resp->framing == SV_HTTPP_BODY_CLOSE ||
		resp->framing == SV_HTTPP_BODY_TUNNEL || (hi.has_te && hi.has_cl))
		resp->keep_alive = false;
	else if (hi.has_conn)
		resp->keep_alive = !hi.conn_close &&
			(resp->version_minor == 1 || hi.conn_keep);
	else
		resp->keep_alive = resp->version_minor == 1;
	in->p += head_len;
	in->n -= head_len;
	return 0;
}

/* see http_parse.h */
bool
sv_httpp_header_get(const struct sv_httpp_header *h, size_t n, const char *name,
	struct sv_httpp_str *value)
{
	for (size_t i = 0; i < n; i++)
		if (str_ieq(h[i].name, name)) {
			*value = h[i].value;
			return true;
		}
	return false;
}

/* ---- body delimiter ----------------------------------------------------------- */

enum body_state {
	B_SIZE,     /* chunk-size hex digits */
	B_BWS,      /* whitespace after the size, before ';' or CR */
	B_EXT,      /* chunk extensions, up to CR */
	B_SIZE_LF,  /* CR of the size line seen */
	B_DATA,     /* chunk data, left bytes to come */
	B_DATA_CR,  /* CRLF after the data */
	B_DATA_LF,
	B_TRAILER,  /* start of a trailer line, or the final CRLF */
	B_TLINE,    /* inside a trailer line */
	B_TLINE_LF, /* CR of a trailer line seen */
	B_END_LF,   /* CR of the final empty line seen */
	B_DONE,
};

/* see http_parse.h */
void
sv_httpp_body_init(struct sv_httpp_body *b, enum sv_httpp_framing f,
	uint64_t content_length)
{
	memset(b, 0, sizeof *b);
	b->framing = (uint8_t)f;
	b->state = B_SIZE;
	if (f == SV_HTTPP_BODY_NONE ||
		(f == SV_HTTPP_BODY_LENGTH && content_length == 0))
		b->state = B_DONE;
	else if (f == SV_HTTPP_BODY_LENGTH)
		b->left = content_length;
}

/* A size-line or trailer byte: counts it against the line ceiling. */
static int
count_line_byte(struct sv_httpp_body *b)
{
	if (++b->line > SV_HTTPP_CHUNK_LINE_MAX)
		return SV_E_TOOBIG;
	return 0;
}

/* One byte of the chunk-size line. */
static int
chunk_size_byte(struct sv_httpp_body *b, unsigned char c)
{
	int d = sv_hexval(c);

	if (count_line_byte(b) != 0)
		return SV_E_TOOBIG;
	switch (b->state) {
	case B_SIZE:
		if (d >= 0) {
			if (b->left > (CL_MAX - (uint64_t)d) / 16)
				return SV_E_TOOBIG;
			b->left = b->left * 16 + (uint64_t)d;
			b->digits = 1;
			return 0;
		}
		/* The first byte after the digits is handled as in B_BWS. */
		if (!b->digits)
			return SV_E_PROTO;
		/* fall through */
	case B_BWS:
		if (is_ows(c))
			b->state = B_BWS;
		else if (c == ';')
			b->state = B_EXT;
		else if (c == '\r')
			b->state = B_SIZE_LF;
		else
			return SV_E_PROTO;
		return 0;
	case B_EXT:
		if (c == '\r')
			b->state = B_SIZE_LF;
		else if (!is_value_char(c))
			return SV_E_PROTO;
		return 0;
	default: /* B_SIZE_LF */
		if (c != '\n')
			return SV_E_PROTO;
		b->line = 0;
		b->digits = 0;
		b->state = b->left == 0 ? B_TRAILER : B_DATA;
		return 0;
	}
}

/* One byte of the trailer section (RFC 9112 section 7.1.2). */
static int
trailer_byte(struct sv_httpp_body *b, unsigned char c)
{
	if (++b->trailers > SV_HTTPP_HEAD_MAX)
		return SV_E_TOOBIG;
	switch (b->state) {
	case B_TRAILER:
		if (c == '\r') {
			b->state = B_END_LF;
			return 0;
		}
		if (++b->n_trailers > SV_HTTPP_HEADERS_MAX)
			return SV_E_TOOBIG;
		if (is_ows(c) || !is_tchar(c))
			return SV_E_PROTO; /* obs-fold, or not a field name */
		b->state = B_TLINE;
		return 0;
	case B_TLINE:
		if (c == '\r')
			b->state = B_TLINE_LF;
		else if (!is_value_char(c))
			return SV_E_PROTO;
		return 0;
	case B_TLINE_LF:
		if (c != '\n')
			return SV_E_PROTO;
		b->state = B_TRAILER;
		return 0;
	default: /* B_END_LF */
		if (c != '\n')
			return SV_E_PROTO;
		b->state = B_DONE;
		return 0;
	}
}

/* Chunked framing over p[0..n): bytes belonging to the body in *used. */
static int
chunked_feed(struct sv_httpp_body *b, const uint8_t *p, size_t n, size_t *used)
{
	size_t i = 0;
	int e = 0;

	while (i < n && b->state != B_DONE) {
		switch (b->state) {
		case B_DATA: {
			size_t take = n - i;
			if ((uint64_t)take > b->left)
				take = (size_t)b->left;
			b->left -= take;
			i += take;
			if (b->left == 0)
				b->state = B_DATA_CR;
			continue;
		}
		case B_DATA_CR:
			e = p[i] == '\r' ? 0 : SV_E_PROTO;
			b->state = B_DATA_LF;
			break;
		case B_DATA_LF:
			e = p[i] == '\n' ? 0 : SV_E_PROTO;
			b->state = B_SIZE;
			break;
		case B_SIZE:
		case B_BWS:
		case B_EXT:
		case B_SIZE_LF:
			e = chunk_size_byte(b, p[i]);
			break;
		default:
			e = trailer_byte(b, p[i]);
			break;
		}
		if (e != 0)
			return e;
		i++;
	}
	*used = i;
	return 0;
}

/* see http_parse.h */
int
sv_httpp_body_feed(struct sv_httpp_body *b, const uint8_t *p, size_t n,
	size_t *used)
{
	if (b->state == B_DONE) {
		*used = 0;
		return 0;
	}
	switch (b->framing) {
	case SV_HTTPP_BODY_LENGTH:
		*used = (uint64_t)n < b->left ? n : (size_t)b->left;
		b->left -= *used;
		if (b->left == 0)
			b->state = B_DONE;
		return 0;
	case SV_HTTPP_BODY_CHUNKED:
		return chunked_feed(b, p, n, used);
	case SV_HTTPP_BODY_CLOSE:
	case SV_HTTPP_BODY_TUNNEL:
		*used = n;
		return 0;
	default:
		return SV_E_INTERNAL;
	}
}

/* see http_parse.h */
bool
sv_httpp_body_done(const struct sv_httpp_body *b)
{
	return b->state == B_DONE;
}

/* see http_parse.h */
int
sv_httpp_body_eof(const struct sv_httpp_body *b)
{
	if (b->state == B_DONE || b->framing == SV_HTTPP_BODY_CLOSE ||
		b->framing == SV_HTTPP_BODY_TUNNEL)
		return 0;
	return SV_E_PROTO;
}

/* ---- rewriting heads ---------------------------------------------------------- */

/* Headers that never cross the proxy (RFC 9110 section 7.6.1). Upgrade crosses only
 * when both ends agreed to it. */
static const char *const hop_by_hop[] = {
	"connection", "keep-alive", "proxy-connection", "proxy-authorization",
	"proxy-authenticate", "te", "upgrade",
};

/* Headers that stay under our control whatever Connection names: dropping them on
 * request would let a client change the framing we decided on. */
static const char *const never_listed[] = {
	"content-length", "transfer-encoding", "host", "trailer",
};

static bool
in_table(struct sv_httpp_str name, const char *const *t, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (str_ieq(name, t[i]))
			return true;
	return false;
}

/* Named in any Connection header of h[0..n). */
static bool
named_in_connection(struct sv_httpp_str name, const struct sv_httpp_header *h,
	size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct sv_httpp_str list = h[i].value, e;

		if (!str_ieq(h[i].name, "connection"))
			continue;
		while (list_next(&list, &e))
			if (slice_ieq(e, name))
				return true;
	}
	return false;
}

static bool
is_hop_by_hop(struct sv_httpp_str name, const struct sv_httpp_header *h,
	size_t n, bool keep_upgrade)
{
	if (keep_upgrade && str_ieq(name, "upgrade"))
		return false;
	if (in_table(name, hop_by_hop,
		    sizeof hop_by_hop / sizeof hop_by_hop[0]))
		return true;
	if (in_table(name, never_listed,
		    sizeof never_listed / sizeof never_listed[0]))
		return false;
	return named_in_connection(name, h, n);
}

/* Appends "name: value\r\n". */
static int
put_header(struct sv_buf *out, const struct sv_httpp_header *h)
{
	int e;

	if ((e = sv_buf_put(out, h->name.p, h->name.n)) != 0 ||
		(e = sv_buf_put(out, ": ", 2)) != 0 ||
		(e = sv_buf_put(out, h->value.p, h->value.n)) != 0 ||
		(e = sv_buf_put(out, "\r\n", 2)) != 0)
		return e;
	return 0;
}

/* Undoes a partial append: out keeps its first `before` unread bytes. */
static void
truncate_to(struct sv_buf *out, size_t before)
{
	out->len = out->off + before;
}

static int
put_request_line_and_host(struct sv_buf *out, const struct sv_httpp_request *req)
{
	bool v6 = req->host_ip.family == 6;
	bool slash = req->path.n == 0 || req->path.p[0] != '/';
	int e;

	if ((e = sv_buf_put(out, req->method.p, req->method.n)) != 0 ||
		(e = sv_buf_put_str(out, slash ? " /" : " ")) != 0 ||
		(e = sv_buf_put(out, req->path.p, req->path.n)) != 0 ||
		(e = sv_buf_printf(out, " HTTP/1.%u\r\nHost: %s%s%s",
			 req->version_minor, v6 ? "[" : "", req->host,
			 v6 ? "]" : "")) != 0)
		return e;
	if (req->port != 80 && (e = sv_buf_printf(out, ":%u", req->port)) != 0)
		return e;
	return sv_buf_put(out, "\r\n", 2);
}

/* see http_parse.h */
int
sv_httpp_write_request(struct sv_buf *out, const struct sv_httpp_request *req,
	bool upstream_close)
{
	size_t before = sv_buf_len(out);
	int e;

	if (req->form != SV_HTTPP_FORM_ABSOLUTE)
		return SV_E_INVAL;
	if ((e = put_request_line_and_host(out, req)) != 0)
		goto fail;
	for (size_t i = 0; i < req->n_headers; i++) {
		const struct sv_httpp_header *h = &req->headers[i];

		if (str_ieq(h->name, "host") || str_ieq(h->name, "content-length") ||
			is_hop_by_hop(h->name, req->headers, req->n_headers,
				req->upgrade))
			continue;
		if ((e = put_header(out, h)) != 0)
			goto fail;
	}
	if (req->framing == SV_HTTPP_BODY_LENGTH &&
		(e = sv_buf_printf(out, "Content-Length: %llu\r\n",
			 (unsigned long long)req->content_length)) != 0)
		goto fail;
	if ((e = sv_buf_put_str(out, req->upgrade ? "Connection: upgrade\r\n\r\n"
				: upstream_close ? "Connection: close\r\n\r\n"
						 : "\r\n")) != 0)
		goto fail;
	return 0;
fail:
	truncate_to(out, before);
	return e;
}

/* see http_parse.h */
bool
sv_httpp_client_may_persist(const struct sv_httpp_request *req,
	const struct sv_httpp_response *resp)
{
	return req->keep_alive && resp->framing != SV_HTTPP_BODY_CLOSE &&
		resp->framing != SV_HTTPP_BODY_TUNNEL;
}

/* Which response headers go to the client. */
static bool
forward_response_header(const struct sv_httpp_response *resp,
	const struct sv_httpp_header *h, bool has_te)
{
	if (str_ieq(h->name, "content-length"))
		return !has_te && resp->framing != SV_HTTPP_BODY_LENGTH;
	/* An HTTP/1.0 response with Transfer-Encoding has faulty framing (RFC 9112
	 * section 6.1) and is read until close: do not let the client (which sees
	 * HTTP/1.1) try to decode chunks we did not delimit. */
	if (resp->version_minor == 0 && str_ieq(h->name, "transfer-encoding"))
		return false;
	return !is_hop_by_hop(h->name, resp->headers, resp->n_headers,
		resp->status == 101);
}

/* see http_parse.h */
int
sv_httpp_write_response_head(struct sv_buf *out,
	const struct sv_httpp_response *resp, unsigned client_minor,
	bool client_keep_alive)
{
	size_t before = sv_buf_len(out);
	struct sv_httpp_str te;
	bool has_te = sv_httpp_header_get(resp->headers, resp->n_headers,
		"transfer-encoding", &te);
	const char *conn = "";
	int e;

	if ((e = sv_buf_printf(out, "HTTP/1.1 %u ", resp->status)) != 0 ||
		(e = sv_buf_put(out, resp->reason.p, resp->reason.n)) != 0 ||
		(e = sv_buf_put(out, "\r\n", 2)) != 0)
		goto fail;
	for (size_t i = 0; i < resp->n_headers; i++)
		if (forward_response_header(resp, &resp->headers[i], has_te) &&
			(e = put_header(out, &resp->headers[i])) != 0)
			goto fail;
	if (resp->framing == SV_HTTPP_BODY_LENGTH &&
		(e = sv_buf_printf(out, "Content-Length: %llu\r\n",
			 (unsigned long long)resp->content_length)) != 0)
		goto fail;
	if (resp->status == 101)
		conn = "Connection: upgrade\r\n";
	else if (resp->interim)
		conn = "";
	else if (!client_keep_alive)
		conn = "Connection: close\r\n";
	else if (client_minor == 0)
		conn = "Connection: keep-alive\r\n";
	if ((e = sv_buf_put_str(out, conn)) != 0 ||
		(e = sv_buf_put(out, "\r\n", 2)) != 0)
		goto fail;
	return 0;
fail:
	truncate_to(out, before);
	return e;
}

/* ---- responses made by the proxy ---------------------------------------------- */

/* see http_parse.h */
const char *
sv_httpp_reason(unsigned status)
{
	static const struct {
		unsigned code;
		const char *text;
	} t[] = {
		{ 100, "Continue" },
		{ 101, "Switching Protocols" },
		{ 200, "OK" },
		{ 204, "No Content" },
		{ 301, "Moved Permanently" },
		{ 302, "Found" },
		{ 304, "Not Modified" },
		{ 400, "Bad Request" },
		{ 403, "Forbidden" },
		{ 404, "Not Found" },
		{ 405, "Method Not Allowed" },
		{ 407, "Proxy Authentication Required" },
		{ 408, "Request Timeout" },
		{ 411, "Length Required" },
		{ 413, "Content Too Large" },
		{ 414, "URI Too Long" },
		{ 417, "Expectation Failed" },
		{ 429, "Too Many Requests" },
		{ 431, "Request Header Fields Too Large" },
		{ 500, "Internal Server Error" },
		{ 501, "Not Implemented" },
		{ 502, "Bad Gateway" },
		{ 503, "Service Unavailable" },
		{ 504, "Gateway Timeout" },
		{ 505, "HTTP Version Not Supported" },
	};

	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
		if (t[i].code == status)
			return t[i].text;
	return "Unknown";
}

static const char *
connection_line(unsigned flags)
{
	if (flags & SV_HTTPP_F_CLOSE)
		return "Connection: close\r\n";
	if (flags & SV_HTTPP_F_KEEP_10)
		return "Connection: keep-alive\r\n";
	return "";
}

/* Status line, Content-Type, Content-Length, extra (a ready "Name: value\r\n" line
 * or ""), Connection, blank line, body. */
static int
write_simple(struct sv_buf *out, unsigned status, const char *content_type,
	const char *extra, const void *body, size_t n, unsigned flags)
{
	size_t before = sv_buf_len(out);
	int e;

	if (status < 100 || status > 599)
		return SV_E_INVAL;
	if ((e = sv_buf_printf(out, "HTTP/1.1 %u %s\r\n", status,
		     sv_httpp_reason(status))) != 0 ||
		(content_type != NULL &&
			(e = sv_buf_printf(out, "Content-Type: %s\r\n",
				 content_type)) != 0) ||
		(e = sv_buf_printf(out,
			 "Content-Length: %zu\r\nCache-Control: no-store\r\n%s%s\r\n",
			 n, extra, connection_line(flags))) != 0 ||
		(!(flags & SV_HTTPP_F_HEAD) && n > 0 &&
			(e = sv_buf_put(out, body, n)) != 0)) {
		truncate_to(out, before);
		return e;
	}
	return 0;
}

/* see http_parse.h */
int
sv_httpp_write_simple(struct sv_buf *out, unsigned status,
	const char *content_type, const void *body, size_t n, unsigned flags)
{
	return write_simple(out, status, content_type, "", body, n, flags);
}

/* see http_parse.h */
int
sv_httpp_write_error(struct sv_buf *out, unsigned status, const char *detail,
	unsigned flags)
{
	char text[320];
	int len;

	if (status < 100 || status > 599)
		return SV_E_INVAL;
	len = snprintf(text, sizeof text, "%u %s", status, sv_httpp_reason(status));
	if (len < 0 || (size_t)len >= sizeof text)
		return SV_E_INTERNAL;
	size_t w = (size_t)len;
	if (detail != NULL) {
		text[w++] = ':';
		text[w++] = ' ';
		for (size_t i = 0; detail[i] != '\0' && i < 200; i++) {
			unsigned char c = (unsigned char)detail[i];
			text[w++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
		}
	}
	text[w++] = '\n';
	return write_simple(out, status, "text/plain; charset=utf-8",
		status == 407 ? "Proxy-Authenticate: Basic realm=\"" SV_HTTPP_REALM
				"\"\r\n"
			      : "",
		text, w, flags);
}

/* see http_parse.h */
int
sv_httpp_write_connect_ok(struct sv_buf *out)
{
	return sv_buf_put_str(out, "HTTP/1.1 200 Connection established\r\n\r\n");
}

/* see http_parse.h */
unsigned
sv_httpp_status_from_err(int err)
{
	switch (err) {
	case -ETIMEDOUT:
	case SV_E_TIMEOUT:
		return 504;
	case -EACCES:
	case -EPERM:
		return 403;
	case SV_CONN_E_LIMIT:
		return 429;
	default:
		return 502;
	}
}

/* ---- Proxy-Authorization: Basic ----------------------------------------------- */

/* see http_parse.h */
int
sv_httpp_parse_basic(const char *value, size_t n, char user[static 256],
	char pass[static 256])
{
	struct sv_httpp_str v = trim(slice(value, n));
	uint8_t raw[520];
	long len;
	int e = SV_E_PROTO;

	if (v.n < 6 || !str_ieq(slice(v.p, 5), "basic") || !is_ows((unsigned char)v.p[5]))
		return SV_E_PROTO;
	v = trim(slice(v.p + 6, v.n - 6));
	if (v.n == 0 || v.n > 4 * (sizeof raw / 3))
		return SV_E_PROTO;
	len = sv_vpnfile_base64_decode(v.p, v.n, raw, sizeof raw);
	if (len < 0)
		goto out;
	const uint8_t *colon = memchr(raw, ':', (size_t)len);
	if (colon == NULL)
		goto out;
	size_t ulen = (size_t)(colon - raw), plen = (size_t)len - ulen - 1;
	if (ulen > 255 || plen > 255)
		goto out;
	for (long i = 0; i < len; i++)
		if (raw[i] < 0x20 || raw[i] == 0x7f)
			goto out;
	memcpy(user, raw, ulen);
	user[ulen] = '\0';
	memcpy(pass, colon + 1, plen);
	pass[plen] = '\0';
	e = 0;
out:
	explicit_bzero(raw, sizeof raw);
	return e;
}

/* see http_parse.h */
bool
sv_httpp_ct_equal(const void *a, size_t an, const void *b, size_t bn)
{
	const volatile uint8_t *x = a, *y = b;
	size_t n = an > bn ? an : bn;
	volatile uint8_t d = (uint8_t)(an != bn);

	for (size_t i = 0; i < n; i++) {
		uint8_t u = i < an ? x[i] : 0, v = i < bn ? y[i] : 0;
		d |= (uint8_t)(u ^ v);
	}
	return d == 0;
}

/* see http_parse.h */
bool
sv_httpp_auth_ok(const struct sv_httpp_request *req, const char *user,
	const char *pass)
{
	char u[256], p[256];
	bool ok;

	if (req->proxy_auth.p == NULL || user == NULL || pass == NULL ||
		sv_httpp_parse_basic(req->proxy_auth.p, req->proxy_auth.n, u, p) != 0)
		return false;
	bool ok_user = sv_httpp_ct_equal(u, strlen(u), user, strlen(user));
	bool ok_pass = sv_httpp_ct_equal(p, strlen(p), pass, strlen(pass));
	ok = ok_user & ok_pass;
	explicit_bzero(u, sizeof u);
	explicit_bzero(p, sizeof p);
	return ok;
}
