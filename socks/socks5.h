/*
 * SOCKS5 wire format (RFC 1928, with RFC 1929 username/password sub-negotiation): pure
 * parse and build functions, no I/O. socks/fe_socks.c drives them on the relay core.
 *
 * Every parser takes a cursor and works on a copy of it: on success the cursor moves past
 * the message; SV_E_INCOMPLETE means more bytes are needed and leaves it untouched, so
 * input split at any byte parses the same. Errors are found as early as the bytes allow
 * (a wrong version is reported after one byte) and leave the cursor untouched too.
 *
 * Error codes and the reply each one earns (sv_socks5_rep_from_err):
 *   SV_E_PROTO        malformed (bad version, empty name, NUL in a name)  -> 0x01
 *   -EOPNOTSUPP       unknown command (not CONNECT, BIND, UDP ASSOCIATE)   -> 0x07
 *   -EAFNOSUPPORT     unknown address type                                  -> 0x08
 *   -EPROTONOSUPPORT  the greeting is SOCKS4 (first byte 4): hand it to the
 *                     SOCKS4 parser (socks4.h), or answer with
 *                     sv_socks5_build_socks4_reject() and close
 */
#ifndef SV_SOCKS5_H
#define SV_SOCKS5_H

#include <errno.h> /* the -E codes below */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/addr.h"
#include "core/buf.h"

#define SV_SOCKS5_VERSION 5
/* Largest messages a client sends: VER NMETHODS METHODS[255]; VER CMD RSV ATYP LEN
 * NAME[255] PORT; VER ULEN UNAME[255] PLEN PASSWD[255]. */
#define SV_SOCKS5_GREETING_MAX 257
#define SV_SOCKS5_REQUEST_MAX 262
#define SV_SOCKS5_USERPASS_MAX 513
/* Largest reply we build: VER REP RSV ATYP(4) ADDR[16] PORT. */
#define SV_SOCKS5_REPLY_MAX 22

enum sv_socks5_method {
	SV_SOCKS5_METHOD_NONE = 0x00,
	SV_SOCKS5_METHOD_GSSAPI = 0x01,
	SV_SOCKS5_METHOD_USERPASS = 0x02,
	SV_SOCKS5_METHOD_UNACCEPTABLE = 0xff,
};

enum sv_socks5_cmd {
	SV_SOCKS5_CMD_CONNECT = 0x01,
	SV_SOCKS5_CMD_BIND = 0x02,
	SV_SOCKS5_CMD_UDP_ASSOCIATE = 0x03,
};

enum sv_socks5_atyp {
	SV_SOCKS5_ATYP_IPV4 = 0x01,
	SV_SOCKS5_ATYP_DOMAIN = 0x03,
	SV_SOCKS5_ATYP_IPV6 = 0x04,
};

/* RFC 1928 section 6, REP field. */
enum sv_socks5_rep {
	SV_SOCKS5_REP_SUCCEEDED = 0x00,
	SV_SOCKS5_REP_GENERAL_FAILURE = 0x01,
	SV_SOCKS5_REP_NOT_ALLOWED = 0x02,
	SV_SOCKS5_REP_NET_UNREACHABLE = 0x03,
	SV_SOCKS5_REP_HOST_UNREACHABLE = 0x04,
	SV_SOCKS5_REP_CONN_REFUSED = 0x05,
	SV_SOCKS5_REP_TTL_EXPIRED = 0x06,
	SV_SOCKS5_REP_CMD_NOT_SUPPORTED = 0x07,
	SV_SOCKS5_REP_ATYP_NOT_SUPPORTED = 0x08,
};

/* Method-selection message: the methods the client offers, in its order. */
struct sv_socks5_greeting {
	uint8_t n_methods;
	uint8_t methods[255];
};

/* A request. ip is set for ATYP IPv4/IPv6 (family 4 or 6); host for ATYP domain
 * (NUL-terminated, 1..255 bytes, no embedded NUL; may itself be an address literal). */
struct sv_socks5_request {
	uint8_t cmd;
	uint8_t atyp;
	struct sv_ip ip;
	char host[256];
	uint16_t port;
};

/* RFC 1929 username/password request; both NUL-terminated (0..255 bytes each, no NUL).
 * Holds a password: wipe it with explicit_bzero when done. */
struct sv_socks5_userpass {
	char user[256];
	char pass[256];
};

/* Greeting: VER NMETHODS METHODS. 0, SV_E_INCOMPLETE, -EPROTONOSUPPORT (SOCKS4 client),
 * SV_E_PROTO (any other version). NMETHODS 0 parses (and then nothing is acceptable). */
int sv_socks5_parse_greeting(struct sv_rd *in, struct sv_socks5_greeting *g);
/* True if the client offered method m. */
bool sv_socks5_offers(const struct sv_socks5_greeting *g, uint8_t m);
/* The first of ours (in our order of preference, n entries) that the client offers, or
 * SV_SOCKS5_METHOD_UNACCEPTABLE. */
uint8_t sv_socks5_choose_method(const struct sv_socks5_greeting *g, const uint8_t *ours,
	size_t n);

/* Request: VER CMD RSV ATYP DST.ADDR DST.PORT. 0, SV_E_INCOMPLETE, SV_E_PROTO,
 * -EOPNOTSUPP (CMD is not CONNECT, BIND or UDP ASSOCIATE),
 * -EAFNOSUPPORT (ATYP not 1, 3 or 4). RSV is ignored (RFC 1928 gives it no meaning). */
int sv_socks5_parse_request(struct sv_rd *in, struct sv_socks5_request *req);

/* RFC 1928 section 7, the header of each UDP datagram between the client and the relay:
 * RSV(2) FRAG(1) ATYP DST.ADDR DST.PORT, then DATA. */
#define SV_SOCKS5_UDP_HDR_MAX 262   /* with a 255-byte name */
#define SV_SOCKS5_UDP_HDR_IP_MAX 22 /* with an IPv6 address */
struct sv_socks5_udp_hdr {
	uint8_t atyp;
	struct sv_ip ip;  /* ATYP IPv4/IPv6 */
	char host[256];   /* ATYP domain: NUL-terminated, 1..255 bytes, no NUL inside */
	uint16_t port;
};
/* Parses the header at the start of a whole datagram; on success in moves to DATA (which
 * may be empty). 0, SV_E_PROTO (cut short, empty name, NUL in the name), -EOPNOTSUPP
 * (FRAG != 0: we do not reassemble, so the datagram is dropped as the RFC allows),
 * -EAFNOSUPPORT (unknown ATYP). RSV is ignored. On error in is untouched. */
int sv_socks5_parse_udp(struct sv_rd *in, struct sv_socks5_udp_hdr *h);
/* The header for a datagram from src:port (FRAG 0). src NULL or of an unknown family
 * gives 0.0.0.0. Returns the length (10 for IPv4, 22 for IPv6). */
size_t sv_socks5_build_udp_hdr(uint8_t out[static SV_SOCKS5_UDP_HDR_IP_MAX],
	const struct sv_ip *src, uint16_t port);

/* RFC 1929 sub-negotiation: VER(1) ULEN UNAME PLEN PASSWD. 0, SV_E_INCOMPLETE,
 * SV_E_PROTO (version not 1, NUL inside a field). */
int sv_socks5_parse_userpass(struct sv_rd *in, struct sv_socks5_userpass *up);

/* Reply code for an error from the parser, the resolver or the connection:
 *   -ECONNREFUSED -> 0x05; -EHOSTUNREACH, -ENOENT, SV_E_NOTFOUND -> 0x04;
 *   -ENETUNREACH -> 0x03; -ETIMEDOUT, SV_E_TIMEOUT -> 0x06 (TTL expired, as Dante
 *   does: tells "no answer in time" apart from "host unreachable");
 *   -EACCES, -EPERM -> 0x02; -EOPNOTSUPP -> 0x07; -EAFNOSUPPORT -> 0x08;
 *   anything else (-ECONNRESET, -ECONNABORTED, SV_E_PROTO, SV_E_NOMEM, ...) -> 0x01. */
uint8_t sv_socks5_rep_from_err(int err);
/* Reply code for a failed name lookup: -ENETUNREACH (no DNS server yet) -> 0x03,
 * anything else (not found, DNS timeout) -> 0x04 host unreachable. */
uint8_t sv_socks5_rep_from_resolve_err(int err);
/* Short text for a reply code, e.g. "connection refused"; never NULL. */
const char *sv_socks5_rep_name(uint8_t rep);

/* Method selection reply: VER METHOD. Returns 2. */
size_t sv_socks5_build_method(uint8_t out[static 2], uint8_t method);
/* RFC 1929 reply: VER(1) STATUS (0 = success). Returns 2. */
size_t sv_socks5_build_userpass_reply(uint8_t out[static 2], bool ok);
/* Reply: VER REP RSV ATYP BND.ADDR BND.PORT. bnd NULL (or of an unknown family) gives
 * 0.0.0.0. Returns the length (10 for IPv4, 22 for IPv6). */
size_t sv_socks5_build_reply(uint8_t out[static SV_SOCKS5_REPLY_MAX], uint8_t rep,
	const struct sv_ip *bnd, uint16_t port);
/* SOCKS4 "request rejected" (VN 0, CD 91), so a SOCKS4 client prints a clear error.
 * Returns 8. */
size_t sv_socks5_build_socks4_reject(uint8_t out[static 8]);

/* "host:port", "10.0.0.1:80" or "[fd00::1]:80" for logs; truncated to cap. Returns out. */
char *sv_socks5_format_target(const struct sv_socks5_request *req, char *out, size_t cap);

#endif
