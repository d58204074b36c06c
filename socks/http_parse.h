/*
 * HTTP/1.1 for the HTTP proxy front-end (RFC 9110, RFC 9112): pure parse and build
 * functions, no I/O. socks/httpproxy.c drives them from a libuv socket.
 *
 * What a proxied exchange looks like to the glue:
 *
 *   client bytes -> sv_httpp_parse_request()  (head: method, target, headers, framing)
 *     CONNECT          -> connect host:port, answer sv_httpp_write_connect_ok(), relay
 *     origin-form      -> a request to the proxy itself (GET /proxy.pac), or 400
 *     absolute-form    -> connect host:port, send sv_httpp_write_request() upstream,
 *                         then the request body bytes VERBATIM, delimited by an
 *                         sv_httpp_body started from req.framing / req.content_length
 *   upstream bytes -> sv_httpp_parse_response(in, req.method_id, ...)
 *                     -> sv_httpp_write_response_head() to the client, then the body
 *                        VERBATIM, delimited by an sv_httpp_body from resp.framing
 *   when both bodies are done and sv_httpp_client_may_persist(): the next request
 *   starts at the next client byte (pipelining works: the body decoder says exactly
 *   where each body ends).
 *
 * Parsers follow core/buf.h: they work on a copy of the cursor and move it past the head
 * only on success. SV_E_INCOMPLETE means "the blank line has not arrived yet" and leaves
 * the cursor untouched, so input split at any byte parses the same. Ceilings: request or
 * status line <= SV_HTTPP_LINE_MAX, whole head <= SV_HTTPP_HEAD_MAX, <= SV_HTTPP_HEADERS_MAX
 * header lines; exceeding one is an error as soon as the bytes show it (no waiting).
 *
 * Slices (struct sv_httpp_str) point INTO the parsed input (borrowed): they stay valid
 * only while those bytes stay where they are. Build the upstream head (which copies what
 * it needs) before the input buffer is consumed, compacted or grown (sv_buf_reserve may
 * move bytes).
 *
 * Line endings: CRLF, or a bare LF (RFC 9112 section 2.2 allows recipients to accept it;
 * safe here because the head is rebuilt, never forwarded verbatim). A bare CR anywhere in
 * a head is rejected. Chunked bodies are forwarded verbatim and must use CRLF.
 *
 * Request smuggling defences (RFC 9112 sections 6.1, 6.3, 5.2): Transfer-Encoding
 * together with Content-Length -> 400; Transfer-Encoding whose final coding is not
 * "chunked", or "chunked" twice, or with parameters -> 400; Transfer-Encoding in an
 * HTTP/1.0 request -> 400; Content-Length not all digits, overflowing, or given twice
 * with different values -> 400; obs-fold (a header line starting with SP/HTAB) -> 400;
 * whitespace between a field name and its colon -> 400; control bytes (NUL, bare CR, ...)
 * in names or values -> 400; more than one Host or Proxy-Authorization -> 400.
 *
 * Chunked pass-through: a chunked request (or response) keeps its Transfer-Encoding
 * header and its body bytes are forwarded unchanged (chunk lines, extensions, trailers);
 * the body decoder only finds where the body ends. So no re-chunking, and the "Trailer"
 * header (which names trailer fields) is kept too.
 */
#ifndef SV_HTTP_PARSE_H
#define SV_HTTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/addr.h"
#include "core/buf.h"

#define SV_HTTPP_LINE_MAX 8192u    /* request line / status line, without its CRLF */
#define SV_HTTPP_HEAD_MAX 32768u   /* whole head including the blank line */
#define SV_HTTPP_HEADERS_MAX 100u  /* header lines per head (and trailer lines) */
#define SV_HTTPP_HOST_MAX 255u     /* host name bytes (without brackets / NUL) */
#define SV_HTTPP_CHUNK_LINE_MAX 4096u /* one chunk-size line incl. extensions */

/* Realm of the Proxy-Authenticate challenge sent with 407. */
#define SV_HTTPP_REALM "sevpn-proxy"

/* A borrowed slice of the parsed input (not NUL-terminated). p == NULL means absent. */
struct sv_httpp_str {
	const char *p;
	size_t n;
};

/* One header line: name as sent (case preserved), value with leading/trailing
 * whitespace removed. Both borrowed. */
struct sv_httpp_header {
	struct sv_httpp_str name;
	struct sv_httpp_str value;
};

/* Methods the proxy treats specially; everything else is OTHER (and forwarded). */
enum sv_httpp_method {
	SV_HTTPP_METHOD_OTHER = 0,
	SV_HTTPP_METHOD_GET,
	SV_HTTPP_METHOD_HEAD,
	SV_HTTPP_METHOD_CONNECT,
};

/* RFC 9112 section 3.2: the form of the request-target. */
enum sv_httpp_form {
	SV_HTTPP_FORM_ORIGIN = 1, /* "/path?q": addressed to the proxy itself (/proxy.pac) */
	SV_HTTPP_FORM_ABSOLUTE,   /* "http://host[:port]/path?q" */
	SV_HTTPP_FORM_AUTHORITY,  /* "host:port", CONNECT only */
};

/* How a message body is delimited (RFC 9112 section 6.3). */
enum sv_httpp_framing {
	SV_HTTPP_BODY_NONE = 0, /* no body */
	SV_HTTPP_BODY_LENGTH,   /* exactly content_length bytes (may be 0) */
	SV_HTTPP_BODY_CHUNKED,  /* chunked, ends with the last chunk and trailers */
	SV_HTTPP_BODY_CLOSE,    /* response only: until the server closes */
	SV_HTTPP_BODY_TUNNEL,   /* response only: 101, or 2xx to CONNECT: relay raw bytes
	                         * both ways from here on */
};

/* Why a parse failed: an HTTP status to answer with and a short reason (static string,
 * safe to show to the client and to log). */
struct sv_httpp_err {
	unsigned status; /* 400, 414, 431, 505 for requests; 502 for responses */
	const char *why; /* e.g. "Content-Length and Transfer-Encoding both present" */
};

struct sv_httpp_request {
	struct sv_httpp_str method;      /* token as sent, e.g. "GET" (case-sensitive) */
	enum sv_httpp_method method_id;
	enum sv_httpp_form form;
	struct sv_httpp_str target;      /* request-target exactly as sent */
	/* Target host and port: for ABSOLUTE and AUTHORITY forms. host is NUL-terminated,
	 * IPv6 literals without brackets, 1..255 bytes, only [A-Za-z0-9.-_] for names;
	 * host_ip.family is 4 or 6 when host is an address literal, 0 for a name. port
	 * defaults to 80 for http://; CONNECT requires one. For ORIGIN form: host "" and
	 * port 0. */
	char host[SV_HTTPP_HOST_MAX + 1];
	struct sv_ip host_ip;
	uint16_t port;
	/* ABSOLUTE: path and query from the URI ("" when the URI has none; the rewriter
	 * then sends "/"); ORIGIN: the whole target; AUTHORITY: empty. Fragment stripped. */
	struct sv_httpp_str path;
	unsigned version_minor;          /* HTTP/1.<0|1>; 1.2 and up read as 1 */
	size_t head_len;                 /* bytes of the head including the blank line */
	struct sv_httpp_header headers[SV_HTTPP_HEADERS_MAX];
	size_t n_headers;
	enum sv_httpp_framing framing;   /* NONE, LENGTH or CHUNKED for requests */
	uint64_t content_length;         /* for LENGTH */
	/* Client wants the connection kept after this exchange: HTTP/1.1 unless
	 * "Connection: close"; HTTP/1.0 only with "Connection: keep-alive" (or, without
	 * any Connection header, "Proxy-Connection: keep-alive"). */
	bool keep_alive;
	/* An Upgrade header and "upgrade" in Connection (e.g. WebSocket over plain http):
	 * the rewriter forwards both; a 101 answer turns the exchange into a tunnel. */
	bool upgrade;
	/* Value of Proxy-Authorization (p == NULL when absent). */
	struct sv_httpp_str proxy_auth;
};

struct sv_httpp_response {
	unsigned version_minor;          /* HTTP/1.<0|1> */
	unsigned status;                 /* 100..599 */
	struct sv_httpp_str reason;      /* reason phrase, may be empty */
	size_t head_len;
	struct sv_httpp_header headers[SV_HTTPP_HEADERS_MAX];
	size_t n_headers;
	enum sv_httpp_framing framing;   /* any of the five */
	uint64_t content_length;         /* for LENGTH */
	/* 1xx other than 101 (100 Continue, 103 Early Hints): forward it, then parse the
	 * next response head for the same request. framing is NONE. */
	bool interim;
	/* The server keeps its connection open after this response (1.1 without
	 * "Connection: close", or 1.0 with "keep-alive"; false for CLOSE framing). */
	bool keep_alive;
};

/* Streaming body delimiter: forward bytes verbatim, it says where the body ends.
 * Caller-allocated, no cleanup needed; a few bytes, fine to keep per connection. */
struct sv_httpp_body {
	uint8_t framing;    /* enum sv_httpp_framing */
	uint8_t state;      /* internal (chunked sub-state; DONE) */
	uint16_t digits;    /* hex digits seen in the chunk-size */
	uint32_t line;      /* bytes in the current chunk-size or trailer line */
	uint32_t trailers;  /* bytes of the trailer section so far */
	uint32_t n_trailers;
	uint64_t left;      /* LENGTH: bytes still to come; CHUNKED: of this chunk */
};

/*
 * Cheap completeness check for a head at the start of p[0..n) (borrowed): 0 and
 * *head_len (bytes up to and including the blank line) once it is all there;
 * SV_E_INCOMPLETE while not; SV_E_TOOBIG when a line passes SV_HTTPP_LINE_MAX or
 * the head SV_HTTPP_HEAD_MAX (found as soon as the bytes show it). *scan (in/out,
 * start at 0, reset to 0 for each new head) remembers how far earlier calls looked,
 * so a head trickling in byte by byte costs O(n) in all rather than O(n^2): call this
 * on each arrival and the parser only once it returns 0. The parsers check
 * completeness themselves too (from the start, so calling them on every arrival
 * costs up to ~32 KiB of memchr each time).
 */
int sv_httpp_head_length(const uint8_t *p, size_t n, size_t *scan, size_t *head_len);

/*
 * Parses a request head at the cursor. On success fills *req, moves the cursor past the
 * head (body bytes, if any, follow) and returns 0. SV_E_INCOMPLETE: the head has not all
 * arrived (nothing written). Any other negative code: malformed (SV_E_PROTO), too big
 * (SV_E_TOOBIG), HTTP version not 1.0/1.1 (-EPROTONOSUPPORT); then, if err is not NULL,
 * err->status and err->why say what to answer:
 *   400 malformed head, bad target, https:// URL (hint: use CONNECT), userinfo in the
 *       URL, CONNECT without port, smuggling cases (see the top of this file)
 *   414 request line longer than SV_HTTPP_LINE_MAX
 *   431 head longer than SV_HTTPP_HEAD_MAX, a header line longer than
 *       SV_HTTPP_LINE_MAX, or more than SV_HTTPP_HEADERS_MAX headers
 *   505 major version other than 1 (HTTP/1.2 and up are read as HTTP/1.1)
 * On errors other than SV_E_INCOMPLETE the contents of *req are unspecified (partly
 * filled) and the cursor is untouched. req is large (about 3.5 KiB): a stack local or a
 * transient heap object, not a field of every connection.
 */
int sv_httpp_parse_request(struct sv_rd *in, struct sv_httpp_request *req,
	struct sv_httpp_err *err);

/*
 * Parses a response head from upstream; req_method is the method of the request it
 * answers (HEAD: no body whatever the headers say; CONNECT 2xx: tunnel). Framing per
 * RFC 9112 6.3: 1xx/204/304 and HEAD -> NONE; 101 -> TUNNEL; Transfer-Encoding with
 * chunked last -> CHUNKED (Content-Length then ignored); other Transfer-Encoding ->
 * CLOSE; Content-Length -> LENGTH; otherwise CLOSE. Returns 0, SV_E_INCOMPLETE,
 * SV_E_PROTO (malformed, including a version other than HTTP/1.x, conflicting
 * Content-Length) or SV_E_TOOBIG; err->status is then always 502 (bad gateway). As for
 * requests, *resp is unspecified after an error.
 */
int sv_httpp_parse_response(struct sv_rd *in, enum sv_httpp_method req_method,
	struct sv_httpp_response *resp, struct sv_httpp_err *err);

/* First header named name (ASCII case-insensitive) in h[0..n): true and *value. */
bool sv_httpp_header_get(const struct sv_httpp_header *h, size_t n, const char *name,
	struct sv_httpp_str *value);

/* Starts a body delimiter for framing f (content_length used for LENGTH). NONE and a
 * LENGTH of 0 are done at once; TUNNEL is never done (relay until close). */
void sv_httpp_body_init(struct sv_httpp_body *b, enum sv_httpp_framing f,
	uint64_t content_length);

/*
 * Looks at the next n bytes of the stream (p borrowed). Returns 0 and *used = how many
 * of them belong to the body (forward those; the rest, if the body is done, is the next
 * message). After the body is done *used is 0. CLOSE and TUNNEL take everything.
 * Errors (the stream cannot be delimited; close the connection): SV_E_PROTO (bad
 * chunk-size line, missing CRLF after chunk data, control bytes), SV_E_TOOBIG (chunk
 * size past 2^63-1, chunk-size line past SV_HTTPP_CHUNK_LINE_MAX, trailers past
 * SV_HTTPP_HEAD_MAX or SV_HTTPP_HEADERS_MAX lines). *used is not written on error.
 */
int sv_httpp_body_feed(struct sv_httpp_body *b, const uint8_t *p, size_t n,
	size_t *used);

/* True once the whole body went by (always true for NONE). */
bool sv_httpp_body_done(const struct sv_httpp_body *b);

/* The peer closed: 0 if that is a valid end of the body (done already, or CLOSE /
 * TUNNEL framing), SV_E_PROTO if the body was cut short. */
int sv_httpp_body_eof(const struct sv_httpp_body *b);

/*
 * Appends the request head to send upstream for an ABSOLUTE-form request (or nothing
 * and an error): "METHOD /path?q HTTP/1.x" (the client's version), "Host: host[:port]"
 * first (from the URI, replacing any Host the client sent; port omitted when 80; IPv6
 * in brackets), then the client's headers in order minus hop-by-hop ones (Connection,
 * Keep-Alive, Proxy-Connection, Proxy-Authorization, Proxy-Authenticate, TE, Upgrade
 * unless req->upgrade, and every header named in Connection); Content-Length is sent
 * as one normalised line; Transfer-Encoding and Trailer are kept (chunked
 * pass-through). Then "Connection: upgrade" when req->upgrade, else "Connection:
 * close" when upstream_close, and the blank line.
 * Returns 0, SV_E_INVAL (req is not ABSOLUTE form), SV_E_TOOBIG/SV_E_NOMEM from out.
 */
int sv_httpp_write_request(struct sv_buf *out, const struct sv_httpp_request *req,
	bool upstream_close);

/*
 * True when the client connection may carry another request after this response:
 * req->keep_alive, and the response is delimited (not CLOSE or TUNNEL). (The glue
 * must also close when it could not read the whole request body.)
 */
bool sv_httpp_client_may_persist(const struct sv_httpp_request *req,
	const struct sv_httpp_response *resp);

/*
 * Appends the response head for the client: "HTTP/1.1 status reason", the server's
 * headers minus hop-by-hop ones (as above; Upgrade kept for a 101), Content-Length
 * dropped when Transfer-Encoding is present, then "Connection: upgrade" (101),
 * "Connection: close" (!client_keep_alive), or "Connection: keep-alive" (keeping an
 * HTTP/1.0 client, client_minor 0), and the blank line. client_keep_alive is normally
 * sv_httpp_client_may_persist(). Returns 0, SV_E_TOOBIG/SV_E_NOMEM (out unchanged).
 */
int sv_httpp_write_response_head(struct sv_buf *out,
	const struct sv_httpp_response *resp, unsigned client_minor,
	bool client_keep_alive);

/* "HTTP/1.1 200 Connection established\r\n\r\n" (answer to CONNECT). */
int sv_httpp_write_connect_ok(struct sv_buf *out);

/* Flags for the response builders below. */
#define SV_HTTPP_F_CLOSE 0x1u /* add "Connection: close" (then close after sending) */
#define SV_HTTPP_F_HEAD 0x2u  /* answering HEAD: headers only, no body bytes */
#define SV_HTTPP_F_KEEP_10 0x4u /* keeping an HTTP/1.0 client: "Connection: keep-alive" */

/*
 * Appends a complete response made by the proxy: status line, Content-Type (when
 * content_type is not NULL), Content-Length, Cache-Control: no-store, the flags'
 * Connection header, blank line, body[0..n) (borrowed; omitted with SV_HTTPP_F_HEAD).
 * Used for /proxy.pac (content type SV_HTTPP_PAC_TYPE). Returns 0, SV_E_INVAL (status
 * outside 100..599), SV_E_TOOBIG/SV_E_NOMEM (out unchanged).
 */
#define SV_HTTPP_PAC_TYPE "application/x-ns-proxy-autoconfig"
int sv_httpp_write_simple(struct sv_buf *out, unsigned status, const char *content_type,
	const void *body, size_t n, unsigned flags);

/*
 * Appends an error response made by the proxy: text/plain body
 * "<status> <reason>: <detail>\n" (detail NULL -> no ": ..."; bytes outside printable
 * ASCII in detail become '?', at most 200 of them). 407 adds
 * `Proxy-Authenticate: Basic realm="sevpn-proxy"`. Typical statuses: 400 bad request,
 * 403 forbidden, 405 method not allowed, 407 proxy auth required, 414, 431, 502 bad
 * gateway (connect refused, bad upstream response), 504 gateway timeout. Same return
 * codes as sv_httpp_write_simple().
 */
int sv_httpp_write_error(struct sv_buf *out, unsigned status, const char *detail,
	unsigned flags);

/* Reason phrase for a status, e.g. 407 -> "Proxy Authentication Required"; never NULL
 * ("Unknown" for codes we do not know). */
const char *sv_httpp_reason(unsigned status);

/* Status for an error from the tunnel side when connecting or resolving the target:
 * -ETIMEDOUT / SV_E_TIMEOUT -> 504; -EACCES / -EPERM -> 403; anything else
 * (refused, unreachable, name not found, no DNS yet) -> 502. */
unsigned sv_httpp_status_from_err(int err);

/*
 * Decodes a Proxy-Authorization value "Basic <base64(user:pass)>" (scheme
 * case-insensitive, whitespace around the token allowed). user and pass are
 * NUL-terminated, each at most 255 bytes, no NUL or control bytes; the user may not
 * contain ':' (the first ':' splits). Returns 0, or SV_E_PROTO (other scheme, bad
 * base64, no ':', too long). On failure nothing is written. The caller wipes pass
 * (explicit_bzero) when done.
 */
int sv_httpp_parse_basic(const char *value, size_t n, char user[static 256],
	char pass[static 256]);

/* Constant-time comparison of a[0..an) and b[0..bn): time depends on max(an, bn) only,
 * not on where they differ. True when equal. */
bool sv_httpp_ct_equal(const void *a, size_t an, const void *b, size_t bn);

/* True when req carries Proxy-Authorization Basic credentials equal to user / pass
 * (both compared in constant time; decoded copies are wiped). False when absent or
 * malformed: answer 407. */
bool sv_httpp_auth_ok(const struct sv_httpp_request *req, const char *user,
	const char *pass);

#endif
