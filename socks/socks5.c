/*
 * SOCKS5 parse and build functions (RFC 1928, RFC 1929). No I/O: see socks5.h.
 *
 * Each parser reads fields one at a time from a private copy of the cursor and checks
 * each as soon as it is complete, so an error is reported as early as the bytes allow and
 * SV_E_INCOMPLETE is returned only when no error is visible yet. The caller's cursor is
 * written only on success.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "socks/peerlimit.h"
#include "socks/socks5.h"

#define SOCKS4_VERSION 4
#define USERPASS_VERSION 1

/* see socks5.h */
int
sv_socks5_parse_greeting(struct sv_rd *in, struct sv_socks5_greeting *g)
{
	struct sv_rd r = *in;
	const uint8_t *methods;
	uint8_t ver, n;
	int e;

	if ((e = sv_rd_u8(&r, &ver)) != 0)
		return e;
	if (ver == SOCKS4_VERSION)
		return -EPROTONOSUPPORT;
	if (ver != SV_SOCKS5_VERSION)
		return SV_E_PROTO;
	if ((e = sv_rd_u8(&r, &n)) != 0 ||
		(e = sv_rd_bytes(&r, &methods, n)) != 0)
		return e;
	g->n_methods = n;
	memcpy(g->methods, methods, n);
	*in = r;
	return 0;
}

/* see socks5.h */
bool
sv_socks5_offers(const struct sv_socks5_greeting *g, uint8_t m)
{
	return memchr(g->methods, m, g->n_methods) != NULL;
}

/* see socks5.h */
uint8_t
sv_socks5_choose_method(const struct sv_socks5_greeting *g, const uint8_t *ours,
	size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (ours[i] != SV_SOCKS5_METHOD_UNACCEPTABLE &&
			sv_socks5_offers(g, ours[i]))
			return ours[i];
	return SV_SOCKS5_METHOD_UNACCEPTABLE;
}

/* A length-prefixed string: LEN(1) BYTES, copied NUL-terminated into out[256].
 * SV_E_PROTO if it holds a NUL byte, or is empty and may not be. */
static int
read_lstring(struct sv_rd *r, char out[static 256], bool allow_empty)
{
	const uint8_t *p;
	uint8_t len;
	int e;

	if ((e = sv_rd_u8(r, &len)) != 0)
		return e;
	if (len == 0 && !allow_empty)
		return SV_E_PROTO;
	if ((e = sv_rd_bytes(r, &p, len)) != 0)
		return e;
	if (memchr(p, '\0', len) != NULL)
		return SV_E_PROTO;
	memcpy(out, p, len);
	out[len] = '\0';
	return 0;
}

/* DST.ADDR for the given ATYP into req. */
static int
read_addr(struct sv_rd *r, uint8_t atyp, struct sv_socks5_request *req)
{
	const uint8_t *p;
	int e;

	switch (atyp) {
	case SV_SOCKS5_ATYP_IPV4:
	case SV_SOCKS5_ATYP_IPV6: {
		size_t len = atyp == SV_SOCKS5_ATYP_IPV4 ? 4 : 16;
		if ((e = sv_rd_bytes(r, &p, len)) != 0)
			return e;
		memset(&req->ip, 0, sizeof req->ip);
		req->ip.family = atyp == SV_SOCKS5_ATYP_IPV4 ? 4 : 6;
		memcpy(req->ip.b, p, len);
		req->host[0] = '\0';
		return 0;
	}
	case SV_SOCKS5_ATYP_DOMAIN:
		memset(&req->ip, 0, sizeof req->ip);
		return read_lstring(r, req->host, false);
	default:
		return -EAFNOSUPPORT;
	}
}

/* see socks5.h */
int
sv_socks5_parse_request(struct sv_rd *in, struct sv_socks5_request *req)
{
	struct sv_rd r = *in;
	struct sv_socks5_request q;
	uint8_t ver, rsv;
	int e;

	if ((e = sv_rd_u8(&r, &ver)) != 0)
		return e;
	if (ver != SV_SOCKS5_VERSION)
		return SV_E_PROTO;
	if ((e = sv_rd_u8(&r, &q.cmd)) != 0)
		return e;
	/* An unknown command is answered 0x07 whatever follows: no need to wait. */
	if (q.cmd != SV_SOCKS5_CMD_CONNECT && q.cmd != SV_SOCKS5_CMD_BIND &&
		q.cmd != SV_SOCKS5_CMD_UDP_ASSOCIATE)
		return -EOPNOTSUPP;
	if ((e = sv_rd_u8(&r, &rsv)) != 0 || (e = sv_rd_u8(&r, &q.atyp)) != 0 ||
		(e = read_addr(&r, q.atyp, &q)) != 0 ||
		(e = sv_rd_u16(&r, &q.port)) != 0)
		return e;
	*req = q;
	*in = r;
	return 0;
}

/* see socks5.h */
int
sv_socks5_parse_udp(struct sv_rd *in, struct sv_socks5_udp_hdr *h)
{
	struct sv_rd r = *in;
	struct sv_socks5_request q;
	uint16_t rsv;
	uint8_t frag;
	int e;

	/* A datagram arrives whole: a header cut short is malformed, never incomplete. */
	if (sv_rd_u16(&r, &rsv) != 0 || sv_rd_u8(&r, &frag) != 0)
		return SV_E_PROTO;
	if (frag != 0)
		return -EOPNOTSUPP; /* RFC 1928 section 7: fragments may be dropped */
	if (sv_rd_u8(&r, &q.atyp) != 0)
		return SV_E_PROTO;
	e = read_addr(&r, q.atyp, &q);
	if (e == -EAFNOSUPPORT)
		return e;
	if (e != 0 || sv_rd_u16(&r, &q.port) != 0)
		return SV_E_PROTO;
	h->atyp = q.atyp;
	h->ip = q.ip;
	memcpy(h->host, q.host, sizeof h->host);
	h->port = q.port;
	*in = r;
	return 0;
}

/* see socks5.h */
size_t
sv_socks5_build_udp_hdr(uint8_t out[static SV_SOCKS5_UDP_HDR_IP_MAX],
	const struct sv_ip *src, uint16_t port)
{
	/* RSV(2) FRAG(0) then the same ATYP ADDR PORT layout as a reply's BND part */
	uint8_t b[SV_SOCKS5_REPLY_MAX];
	size_t n = sv_socks5_build_reply(b, 0, src, port);

	memcpy(out, b, n);
	out[0] = 0;
	out[1] = 0;
	out[2] = 0;
	return n;
}

/* see socks5.h */
int
sv_socks5_parse_userpass(struct sv_rd *in, struct sv_socks5_userpass *up)
{
	struct sv_rd r = *in;
	struct sv_socks5_userpass u;
	uint8_t ver;
	int e;

	if ((e = sv_rd_u8(&r, &ver)) != 0)
		return e;
	if (ver != USERPASS_VERSION)
		return SV_E_PROTO;
	/* RFC 1929 says ULEN and PLEN are 1..255; empty fields are accepted anyway and
	 * simply fail the credential check. */
	if ((e = read_lstring(&r, u.user, true)) == 0 &&
		(e = read_lstring(&r, u.pass, true)) == 0) {
		*up = u;
		*in = r;
	}
	explicit_bzero(&u, sizeof u);
	return e;
}

/* see socks5.h */
uint8_t
sv_socks5_rep_from_err(int err)
{
	switch (err) {
	case 0:
		return SV_SOCKS5_REP_SUCCEEDED;
	case -ECONNREFUSED:
		return SV_SOCKS5_REP_CONN_REFUSED;
	case -EHOSTUNREACH:
	case -ENOENT:
	case SV_E_NOTFOUND:
		return SV_SOCKS5_REP_HOST_UNREACHABLE;
	case -ENETUNREACH:
		return SV_SOCKS5_REP_NET_UNREACHABLE;
	case -ETIMEDOUT:
	case SV_E_TIMEOUT:
		return SV_SOCKS5_REP_TTL_EXPIRED;
	case -EACCES:
	case -EPERM:
	case SV_CONN_E_LIMIT:
		return SV_SOCKS5_REP_NOT_ALLOWED;
	case -EOPNOTSUPP:
		return SV_SOCKS5_REP_CMD_NOT_SUPPORTED;
	case -EAFNOSUPPORT:
		return SV_SOCKS5_REP_ATYP_NOT_SUPPORTED;
	default:
		return SV_SOCKS5_REP_GENERAL_FAILURE;
	}
}

/* see socks5.h */
uint8_t
sv_socks5_rep_from_resolve_err(int err)
{
	if (err == -ENETUNREACH)
		return SV_SOCKS5_REP_NET_UNREACHABLE;
	return SV_SOCKS5_REP_HOST_UNREACHABLE;
}

/* see socks5.h */
const char *
sv_socks5_rep_name(uint8_t rep)
{
	static const char *const names[] = {
		[SV_SOCKS5_REP_SUCCEEDED] = "succeeded",
		[SV_SOCKS5_REP_GENERAL_FAILURE] = "general failure",
		[SV_SOCKS5_REP_NOT_ALLOWED] = "not allowed by ruleset",
		[SV_SOCKS5_REP_NET_UNREACHABLE] = "network unreachable",
		[SV_SOCKS5_REP_HOST_UNREACHABLE] = "host unreachable",
		[SV_SOCKS5_REP_CONN_REFUSED] = "connection refused",
		[SV_SOCKS5_REP_TTL_EXPIRED] = "TTL expired",
		[SV_SOCKS5_REP_CMD_NOT_SUPPORTED] = "command not supported",
		[SV_SOCKS5_REP_ATYP_NOT_SUPPORTED] = "address type not supported",
	};

	if (rep < sizeof names / sizeof names[0])
		return names[rep];
	return "unknown";
}

/* see socks5.h */
size_t
sv_socks5_build_method(uint8_t out[static 2], uint8_t method)
{
	out[0] = SV_SOCKS5_VERSION;
	out[1] = method;
	return 2;
}

/* see socks5.h */
size_t
sv_socks5_build_userpass_reply(uint8_t out[static 2], bool ok)
{
	out[0] = USERPASS_VERSION;
	out[1] = ok ? 0x00 : 0x01;
	return 2;
}

/* see socks5.h */
size_t
sv_socks5_build_reply(uint8_t out[static SV_SOCKS5_REPLY_MAX], uint8_t rep,
	const struct sv_ip *bnd, uint16_t port)
{
	/* RFC 1928 section 6: VER REP RSV ATYP BND.ADDR BND.PORT */
	bool v6 = bnd != NULL && bnd->family == 6;
	size_t alen = v6 ? 16 : 4;

	out[0] = SV_SOCKS5_VERSION;
	out[1] = rep;
	out[2] = 0;
	out[3] = v6 ? SV_SOCKS5_ATYP_IPV6 : SV_SOCKS5_ATYP_IPV4;
	if (bnd != NULL && (bnd->family == 4 || bnd->family == 6))
		memcpy(out + 4, bnd->b, alen);
	else
		memset(out + 4, 0, alen);
	out[4 + alen] = (uint8_t)(port >> 8);
	out[5 + alen] = (uint8_t)port;
	return 6 + alen;
}

/* see socks5.h */
size_t
sv_socks5_build_socks4_reject(uint8_t out[static 8])
{
	/* SOCKS4: VN(0) CD(91 = request rejected or failed) DSTPORT(2) DSTIP(4) */
	memset(out, 0, 8);
	out[1] = 91;
	return 8;
}

/* see socks5.h */
char *
sv_socks5_format_target(const struct sv_socks5_request *req, char *out, size_t cap)
{
	char ip[SV_IP_STRLEN];

	if (cap == 0)
		return out;
	switch (req->atyp) {
	case SV_SOCKS5_ATYP_DOMAIN:
		snprintf(out, cap, "%s:%u", req->host, (unsigned)req->port);
		break;
	case SV_SOCKS5_ATYP_IPV6:
		snprintf(out, cap, "[%s]:%u", sv_ip_format(&req->ip, ip, sizeof ip),
			(unsigned)req->port);
		break;
	default:
		snprintf(out, cap, "%s:%u", sv_ip_format(&req->ip, ip, sizeof ip),
			(unsigned)req->port);
		break;
	}
	return out;
}
