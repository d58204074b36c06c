/*
 * DHCP option 119 and 15 data (netstack/dns_msg.h) from the network: the first byte
 * picks a decoder; the rest is the option data. Search-list expansion runs on what the
 * decoders produce.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "netstack/dns_msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char names[4][SV_DNS_NAME_MAX], cand[5][SV_DNS_NAME_MAX];
	char domain[SV_DNS_NAME_MAX];

	if (size < 1)
		return 0;
	const uint8_t *p = data + 1;
	size_t n = size - 1;
	unsigned k = 0;
	if (data[0] & 1) {
		k = sv_dns_decode_search(p, n, names, 4);
	} else if (sv_dns_decode_domain(p, n > 255 ? 255 : n, domain)) {
		memcpy(names[0], domain, sizeof domain);
		k = 1;
	}
	for (unsigned i = 0; i < k; i++) {
		if (!sv_dns_name_is_valid(names[i]) || strlen(names[i]) > 253)
			__builtin_trap();
		unsigned c = sv_dns_expand("host", (const char(*)[SV_DNS_NAME_MAX])names, k,
			cand, 5);
		if (c == 0 || c > 5)
			__builtin_trap();
		sv_dns_expand(names[i], (const char(*)[SV_DNS_NAME_MAX])names, k, cand, 5);
	}
	return 0;
}
