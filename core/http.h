/*
 * Minimal HTTP/1.1 for the two handshake POSTs of a SoftEther connection (spec
 * section 3).
 *
 * The client sends exactly two requests on each connection: the signature
 * upload (POST /vpnsvc/connect.cgi with the 10-byte body "VPNCONNECT") and one
 * PACK request (POST /vpnsvc/vpn.cgi, application/octet-stream). Each answer is
 * "HTTP/1.1 200" with an application/octet-stream PACK body sized by
 * Content-Length; no chunked encoding.
 *
 * The writers append one complete request to a buffer (or nothing on failure).
 * The response parser looks at the bytes received so far and says "incomplete"
 * until the whole header block is there; it never reads the body, it only tells
 * where it starts and how long it is. No I/O, no allocation.
 */
#ifndef SV_HTTP_H
#define SV_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define SV_HTTP_HEADER_MAX 8192u    /* status line + headers + blank line */
#define SV_HTTP_BODY_MAX (1u << 20) /* our PACK ceiling (SV_PACK_MAX_BYTES) */
#define SV_HTTP_REQUEST_BODY_MAX 65536u /* what the server reads (spec 3.3) */

#define SV_HTTP_PATH_SIGNATURE "/vpnsvc/connect.cgi"
#define SV_HTTP_PATH_PACK "/vpnsvc/vpn.cgi"

/*
 * Appends the signature POST (spec 3.1, "VPNCONNECT" form) to out. host
 * (borrowed) is the Host header value, omitted when NULL. Returns 0; SV_E_INVAL
 * when host is empty, longer than 255 bytes or holds spaces/control bytes;
 * SV_E_TOOBIG/SV_E_NOMEM from out. On failure out is left as it was.
 */
int sv_http_write_signature(struct sv_buf *out, const char *host);

/*
 * Appends POST /vpnsvc/vpn.cgi carrying body[0..n) (an encoded PACK; borrowed)
 * to out. Same host rules and return codes as above; SV_E_TOOBIG when n is 0 or
 * past SV_HTTP_REQUEST_BODY_MAX. On failure out is left as it was.
 */
int sv_http_write_pack_post(struct sv_buf *out, const char *host,
                            const uint8_t *body, size_t n);

struct sv_http_response {
	unsigned status; /* e.g. 200; 0 when the status line was not HTTP/1.1 */
	size_t header_len;     /* bytes up to and including the blank line */
	size_t content_length; /* body bytes that follow the header block */
};

/*
 * Parses the response header block at the start of p[0..n) (borrowed). Call
 * again with more bytes (the same prefix plus what arrived) until it stops
 * saying SV_E_INCOMPLETE.
 *
 * Returns 0 and fills *resp when the block is complete and acceptable: status
 * line "HTTP/1.1 200 ...", Content-Type application/octet-stream
 * (case-insensitive, parameters ignored) and 0 < Content-Length <=
 * SV_HTTP_BODY_MAX. Otherwise: SV_E_INCOMPLETE  the blank line has not arrived
 * yet (nothing is written) SV_E_NOTVPN      not a SoftEther answer: not
 * "HTTP/1.1", a status other than 200 (403 = signature rejected / not a
 * SoftEther server), wrong or missing Content-Type, missing or zero
 * Content-Length. Only resp->status is written (0 if the status line was
 * unusable). SV_E_TOOBIG      header block longer than SV_HTTP_HEADER_MAX, or
 * Content-Length past SV_HTTP_BODY_MAX SV_E_PROTO       malformed header line,
 * bad or conflicting Content-Length, Transfer-Encoding present
 */
int sv_http_parse_response(const uint8_t *p, size_t n,
                           struct sv_http_response *resp);

#endif
