/*
 * An IPv4 or IPv6 address in network byte order, shared by the proxy front-ends and the
 * network stack without either seeing the other's types.
 */
#ifndef SV_ADDR_H
#define SV_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sv_ip {
	uint8_t family; /* 4 or 6 */
	uint8_t b[16];  /* IPv4 uses b[0..3] */
};

#define SV_IP_STRLEN 46

/* Text form ("10.0.0.1", "fd00::1") into out[SV_IP_STRLEN]; returns out. */
char *sv_ip_format(const struct sv_ip *ip, char *out, size_t cap);
/* Parses an IPv4 or IPv6 literal (no brackets). 0 or SV_E_INVAL. */
int sv_ip_parse(const char *s, struct sv_ip *out);

#endif
