/*
 * IPv4/IPv6 address text conversion (see addr.h).
 */
#include <arpa/inet.h>
#include <string.h>

#include "addr.h"
#include "err.h"

/* see addr.h */
char *
sv_ip_format(const struct sv_ip *ip, char *out, size_t cap)
{
	int af = ip->family == 6 ? AF_INET6 : AF_INET;

	if (cap == 0)
		return out;
	if ((ip->family != 4 && ip->family != 6) ||
	    inet_ntop(af, ip->b, out, (socklen_t)cap) == NULL) {
		/* Unknown family or too small a buffer: say so, never garbage.
		 */
		strncpy(out, "?", cap);
		out[cap - 1] = '\0';
	}
	return out;
}

/* see addr.h */
int
sv_ip_parse(const char *s, struct sv_ip *out)
{
	struct sv_ip ip;

	if (s == NULL)
		return SV_E_INVAL;
	memset(&ip, 0, sizeof ip);
	if (inet_pton(AF_INET, s, ip.b) == 1) {
		ip.family = 4;
	} else if (inet_pton(AF_INET6, s, ip.b) == 1) {
		ip.family = 6;
	} else {
		return SV_E_INVAL;
	}
	*out = ip;
	return 0;
}
