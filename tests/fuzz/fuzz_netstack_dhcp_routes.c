/*
 * DHCP static route options (netstack/dhcp_routes.h) from the network. Input: a lease
 * (4 bytes of address, 1 byte of prefix length, taken modulo 33), then DHCP options as
 * on the wire (code, length, data; 0 is a pad, 255 the end), fed to the collector the
 * way stack.c's parse hook does, split instances included. The routes selected must be
 * well formed; each parser also runs on the whole tail.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "netstack/dhcp_routes.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
note(void *arg, const char *why)
{
	size_t *n = arg;
	*n += strlen(why);
}

static uint32_t
u32(const uint8_t *b)
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static void
check(const struct sv_dhcp_route *r, unsigned k, const struct sv_ip *me, unsigned plen)
{
	uint32_t mask = plen ? 0xffffffffu << (32 - plen) : 0;
	for (unsigned i = 0; i < k; i++) {
		uint32_t dm = r[i].prefix_len ? 0xffffffffu << (32 - r[i].prefix_len) : 0;
		uint32_t via = u32(r[i].via.b);
		if (r[i].dst.family != 4 || r[i].via.family != 4 || r[i].prefix_len > 32 ||
			(u32(r[i].dst.b) & ~dm) != 0)
			__builtin_trap();
		if (via != 0 && ((via & mask) != (u32(me->b) & mask) || via == u32(me->b)))
			__builtin_trap();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct sv_dhcp_routes_raw raw;
	static struct sv_dhcp_route r[SV_DHCP_ROUTES_MAX];
	struct sv_ip me = { .family = 4 };
	size_t notes = 0, i;
	unsigned code;

	if (size < 5)
		return 0;
	memcpy(me.b, data, 4);
	unsigned plen = data[4] % 33;
	sv_dhcp_routes_reset(&raw);
	for (i = 5; i < size && data[i] != 255;) {
		if (data[i] == 0) {
			i++;
			continue;
		}
		if (i + 1 >= size || data[i + 1] > size - i - 2)
			break;
		sv_dhcp_routes_collect(&raw, data[i], data + i + 2, data[i + 1]);
		i += 2u + data[i + 1];
	}
	unsigned k = sv_dhcp_routes_select(&raw, &me, plen, r, SV_DHCP_ROUTES_MAX, &code,
		note, &notes);
	if (k > SV_DHCP_ROUTES_MAX || (k > 0 && code == 0))
		__builtin_trap();
	check(r, k, &me, plen);
	int n = sv_dhcp_parse_classless(data + 5, size - 5, r, SV_DHCP_ROUTES_MAX);
	if (n > 0 && (size_t)n > (size - 5) / 5)
		__builtin_trap();
	n = sv_dhcp_parse_classful(data + 5, size - 5, r, SV_DHCP_ROUTES_MAX);
	if (n > 0 && (size_t)n > (size - 5) / 8)
		__builtin_trap();
	return 0;
}
