/*
 * SOCKS4 and SOCKS4a wire format: pure parse and build functions, no I/O. The SOCKS
 * front-end (socks/fe_socks.c) drives them.
 *
 * SOCKS4 (the NEC protocol note): VN(4) CD DSTPORT(2) DSTIP(4) USERID NUL. SOCKS4a:
 * DSTIP 0.0.0.x with x != 0 means "the name follows": USERID NUL HOSTNAME NUL, and the
 * proxy resolves it. The reply is VN(0) CD DSTPORT(2) DSTIP(4), CD 0x5A granted or 0x5B
 * rejected or failed.
 *
 * The parser works on a copy of the cursor, like socks5.h: on success the cursor moves
 * past the request; SV_E_INCOMPLETE leaves it untouched, so input split at any byte parses
 * the same; errors are reported as early as the bytes allow:
 *   SV_E_PROTO    version not 4 (after one byte); USERID or HOSTNAME longer than 255
 *                 bytes without a NUL; an empty 4a HOSTNAME
 *   -EOPNOTSUPP   CD is not CONNECT (BIND), reported after two bytes
 */
#ifndef SV_SOCKS4_H
#define SV_SOCKS4_H

#include <errno.h> /* the -E codes above */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/addr.h"
#include "core/buf.h"

#define SV_SOCKS4_VERSION 4
#define SV_SOCKS4_CMD_CONNECT 1
#define SV_SOCKS4_CMD_BIND 2
#define SV_SOCKS4_REPLY_LEN 8
/* Longest USERID and 4a HOSTNAME we accept, without the NUL. */
#define SV_SOCKS4_FIELD_MAX 255
/* Largest request: 8 fixed bytes, USERID NUL, HOSTNAME NUL. */
#define SV_SOCKS4_REQUEST_MAX (8 + 2 * (SV_SOCKS4_FIELD_MAX + 1))

enum sv_socks4_rep {
	SV_SOCKS4_REP_GRANTED = 0x5a,
	SV_SOCKS4_REP_REJECTED = 0x5b,
};

/* A CONNECT request. For SOCKS4 ip is the IPv4 destination and host is empty; for 4a
 * (is_4a) host holds the name (1..255 bytes, NUL-terminated, no NUL inside) and ip is
 * the 0.0.0.x marker. userid is what the client sent (0..255 bytes), never checked. */
struct sv_socks4_request {
	uint8_t cmd;
	uint16_t port;
	struct sv_ip ip;
	bool is_4a;
	char host[SV_SOCKS4_FIELD_MAX + 1];
	char userid[SV_SOCKS4_FIELD_MAX + 1];
};

/* Request: 0, SV_E_INCOMPLETE, SV_E_PROTO, -EOPNOTSUPP (see above). */
int sv_socks4_parse_request(struct sv_rd *in, struct sv_socks4_request *req);

/* Reply: VN(0) CD DSTPORT DSTIP, the port and address zero (clients ignore them for
 * CONNECT). rep is SV_SOCKS4_REP_*. Returns 8. */
size_t sv_socks4_build_reply(uint8_t out[static SV_SOCKS4_REPLY_LEN], uint8_t rep);

/* "host:port" (4a) or "10.0.0.1:80" for logs; truncated to cap. Returns out. */
char *sv_socks4_format_target(const struct sv_socks4_request *req, char *out, size_t cap);

#endif
