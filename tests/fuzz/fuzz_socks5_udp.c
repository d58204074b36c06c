/*
 * Fuzz the SOCKS5 UDP datagram header parser (RFC 1928 section 7) as the UDP relay uses
 * it: the whole input is one datagram. Checks: the cursor moves only on success and then
 * stays inside the input, FRAG != 0 is always refused, names are NUL-terminated without
 * embedded NULs, and an address header rebuilt from the result parses back the same.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "socks/socks5.h"

#define CHECK(c)                                                               \
	do {                                                                   \
		if (!(c))                                                      \
			abort();                                               \
	} while (0)

static void
check_round_trip(const struct sv_socks5_udp_hdr *h)
{
	uint8_t out[SV_SOCKS5_UDP_HDR_IP_MAX];
	struct sv_socks5_udp_hdr h2;
	size_t n = sv_socks5_build_udp_hdr(out, &h->ip, h->port);
	struct sv_rd r = sv_rd_make(out, n);

	CHECK(n == (h->ip.family == 4 ? 10u : 22u));
	CHECK(sv_socks5_parse_udp(&r, &h2) == 0 && r.n == 0);
	CHECK(h2.port == h->port && h2.ip.family == h->ip.family);
	CHECK(memcmp(h2.ip.b, h->ip.b, h->ip.family == 4 ? 4 : 16) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sv_socks5_udp_hdr h;
	struct sv_rd r = sv_rd_make(data, size);
	int e = sv_socks5_parse_udp(&r, &h);

	if (e != 0) {
		CHECK(e == SV_E_PROTO || e == -EOPNOTSUPP || e == -EAFNOSUPPORT);
		CHECK(r.p == data && r.n == size);
		if (size >= 3 && data[2] != 0)
			CHECK(e == -EOPNOTSUPP);
		return 0;
	}
	CHECK(size >= 3 && data[2] == 0);
	CHECK(r.p >= data && r.n <= size && r.p + r.n == data + size);
	if (h.atyp == SV_SOCKS5_ATYP_DOMAIN) {
		size_t n = strnlen(h.host, sizeof h.host);
		CHECK(n >= 1 && n <= 255 && (size_t)(r.p - data) == 4 + 1 + n + 2);
	} else {
		CHECK(h.atyp == SV_SOCKS5_ATYP_IPV4 || h.atyp == SV_SOCKS5_ATYP_IPV6);
		CHECK(h.ip.family == (h.atyp == SV_SOCKS5_ATYP_IPV4 ? 4 : 6));
		check_round_trip(&h);
	}
	return 0;
}
