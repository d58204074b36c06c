/*
 * SOCKS4 / SOCKS4a parse and build functions. No I/O: see socks4.h.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "socks/socks4.h"

/* A NUL-terminated field of at most SV_SOCKS4_FIELD_MAX bytes, copied into out.
 * SV_E_INCOMPLETE while neither the NUL nor the limit has been seen. */
static int
read_cstring(struct sv_rd *r, char out[static SV_SOCKS4_FIELD_MAX + 1])
{
	size_t avail = r->n < SV_SOCKS4_FIELD_MAX + 1 ? r->n : SV_SOCKS4_FIELD_MAX + 1;
	const uint8_t *nul = memchr(r->p, '\0', avail);
	size_t len;

	if (nul == NULL)
		return r->n > SV_SOCKS4_FIELD_MAX ? SV_E_PROTO : SV_E_INCOMPLETE;
	len = (size_t)(nul - r->p);
	memcpy(out, r->p, len);
	out[len] = '\0';
	r->p += len + 1;
	r->n -= len + 1;
	return 0;
}

/* SOCKS4a: DSTIP 0.0.0.x, x != 0. */
static bool
is_4a_marker(const uint8_t ip[4])
{
	return ip[0] == 0 && ip[1] == 0 && ip[2] == 0 && ip[3] != 0;
}

/* see socks4.h */
int
sv_socks4_parse_request(struct sv_rd *in, struct sv_socks4_request *req)
{
	struct sv_rd r = *in;
	struct sv_socks4_request q;
	const uint8_t *ip;
	uint8_t ver;
	int e;

	if ((e = sv_rd_u8(&r, &ver)) != 0)
		return e;
	if (ver != SV_SOCKS4_VERSION)
		return SV_E_PROTO;
	if ((e = sv_rd_u8(&r, &q.cmd)) != 0)
		return e;
	if (q.cmd != SV_SOCKS4_CMD_CONNECT)
		return -EOPNOTSUPP; /* BIND or garbage: the answer is 0x5B either way */
	if ((e = sv_rd_u16(&r, &q.port)) != 0 || (e = sv_rd_bytes(&r, &ip, 4)) != 0)
		return e;
	memset(&q.ip, 0, sizeof q.ip);
	q.ip.family = 4;
	memcpy(q.ip.b, ip, 4);
	q.is_4a = is_4a_marker(ip);
	q.host[0] = '\0';
	if ((e = read_cstring(&r, q.userid)) != 0)
		return e;
	if (q.is_4a) {
		if ((e = read_cstring(&r, q.host)) != 0)
			return e;
		if (q.host[0] == '\0')
			return SV_E_PROTO;
	}
	*req = q;
	*in = r;
	return 0;
}

/* see socks4.h */
size_t
sv_socks4_build_reply(uint8_t out[static SV_SOCKS4_REPLY_LEN], uint8_t rep)
{
	memset(out, 0, SV_SOCKS4_REPLY_LEN);
	out[1] = rep;
	return SV_SOCKS4_REPLY_LEN;
}

/* see socks4.h */
char *
sv_socks4_format_target(const struct sv_socks4_request *req, char *out, size_t cap)
{
	char ip[SV_IP_STRLEN];

	if (cap == 0)
		return out;
	if (req->is_4a)
		snprintf(out, cap, "%s:%u", req->host, (unsigned)req->port);
	else
		snprintf(out, cap, "%s:%u", sv_ip_format(&req->ip, ip, sizeof ip),
			(unsigned)req->port);
	return out;
}
