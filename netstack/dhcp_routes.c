/*
 * DHCP static route options; see dhcp_routes.h. Every read is checked against the
 * option's length; an option is walked once to validate it, then again to take its
 * routes, so a bad option yields nothing.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "netstack/dhcp_routes.h"

/* see dhcp_routes.h */
void
sv_dhcp_routes_reset(struct sv_dhcp_routes_raw *raw)
{
	memset(raw, 0, sizeof *raw);
}

/* see dhcp_routes.h */
bool
sv_dhcp_routes_collect(struct sv_dhcp_routes_raw *raw, uint8_t option, const uint8_t *p,
	size_t n)
{
	struct sv_dhcp_raw_opt *o;

	if (option == SV_DHCP_OPT_CLASSLESS_ROUTES)
		o = &raw->classless;
	else if (option == SV_DHCP_OPT_MS_CLASSLESS_ROUTES)
		o = &raw->ms_classless;
	else if (option == SV_DHCP_OPT_STATIC_ROUTES)
		o = &raw->classful;
	else
		return false;
	o->seen = true;
	if (o->overflow || n > sizeof o->b - o->len) {
		o->overflow = true;
		return true;
	}
	if (n > 0)
		memcpy(o->b + o->len, p, n);
	o->len += n;
	return true;
}

static void
set_ip4(struct sv_ip *ip, const uint8_t b[4])
{
	memset(ip, 0, sizeof *ip);
	ip->family = 4;
	memcpy(ip->b, b, 4);
}

static uint32_t
mask_of(unsigned prefix_len)
{
	return prefix_len == 0 ? 0 : 0xffffffffu << (32 - prefix_len);
}

static uint32_t
u32_of(const uint8_t b[4])
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static void
put_u32(uint8_t b[4], uint32_t v)
{
	b[0] = (uint8_t)(v >> 24);
	b[1] = (uint8_t)(v >> 16);
	b[2] = (uint8_t)(v >> 8);
	b[3] = (uint8_t)v;
}

/* One RFC 3442 route at *pos: 1 and *r filled (pos advanced), 0 at the end of the data,
 * SV_E_PROTO for a width above 32 or a route cut short. */
static int
next_classless(const uint8_t *p, size_t n, size_t *pos, struct sv_dhcp_route *r)
{
	size_t i = *pos;
	uint8_t dst[4] = { 0 };

	if (i >= n)
		return 0;
	unsigned width = p[i++];
	size_t sig = (width + 7) / 8;
	if (width > 32 || n - i < sig + 4)
		return SV_E_PROTO;
	memcpy(dst, p + i, sig);
	i += sig;
	/* section "DHCP Client Behavior": clear the bits past the mask */
	put_u32(dst, u32_of(dst) & mask_of(width));
	set_ip4(&r->dst, dst);
	r->prefix_len = (uint8_t)width;
	set_ip4(&r->via, p + i);
	*pos = i + 4;
	return 1;
}

/* Classful prefix of an option 33 destination; 0 when it is illegal there. */
static unsigned
classful_prefix(uint32_t dst)
{
	unsigned len;

	if (dst == 0 || dst >= 0xe0000000u) /* default route, class D and E */
		return 0;
	len = dst < 0x80000000u ? 8 : dst < 0xc0000000u ? 16 : 24;
	return (dst & ~mask_of(len)) != 0 ? 32 : len;
}

/* One option 33 pair at *pos, as next_classless; illegal destinations are skipped. */
static int
next_classful(const uint8_t *p, size_t n, size_t *pos, struct sv_dhcp_route *r)
{
	while (*pos < n) {
		size_t i = *pos;
		if (n - i < 8)
			return SV_E_PROTO;
		*pos = i + 8;
		unsigned len = classful_prefix(u32_of(p + i));
		if (len == 0)
			continue;
		set_ip4(&r->dst, p + i);
		r->prefix_len = (uint8_t)len;
		set_ip4(&r->via, p + i + 4);
		return 1;
	}
	return 0;
}

typedef int next_fn(const uint8_t *p, size_t n, size_t *pos, struct sv_dhcp_route *r);

/* All routes of an option through next: the count (the first max to out) or
 * SV_E_PROTO, then out is untouched. */
static int
parse_all(next_fn *next, const uint8_t *p, size_t n, struct sv_dhcp_route *out,
	unsigned max)
{
	struct sv_dhcp_route r;
	size_t pos = 0;
	int k = 0, e;

	while ((e = next(p, n, &pos, &r)) > 0)
		k++;
	if (e < 0)
		return e;
	pos = 0;
	for (unsigned i = 0; i < max && next(p, n, &pos, &out[i]) > 0; i++)
		;
	return k;
}

/* see dhcp_routes.h */
int
sv_dhcp_parse_classless(const uint8_t *p, size_t n, struct sv_dhcp_route *out,
	unsigned max)
{
	/* RFC 3442: the minimum length is 5 (one default route) */
	if (n < 5)
		return SV_E_PROTO;
	return parse_all(next_classless, p, n, out, max);
}

/* see dhcp_routes.h */
int
sv_dhcp_parse_classful(const uint8_t *p, size_t n, struct sv_dhcp_route *out, unsigned max)
{
	/* RFC 2132 section 5.8: the minimum length is 8, a multiple of 8 */
	if (n == 0 || n % 8 != 0)
		return SV_E_PROTO;
	return parse_all(next_classful, p, n, out, max);
}

static void
say(sv_dhcp_routes_note_fn *note, void *arg, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
say(sv_dhcp_routes_note_fn *note, void *arg, const char *fmt, ...)
{
	char line[200];
	va_list ap;

	if (note == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	note(arg, line);
}

/* Why r does not apply to a lease of ip/prefix_len, or NULL when it does. */
static const char *
route_problem(const struct sv_dhcp_route *r, uint32_t ip, unsigned prefix_len)
{
	uint32_t via = u32_of(r->via.b), m = mask_of(prefix_len);

	if (via == 0)
		return NULL; /* on the link */
	if (via == ip)
		return "the gateway is our own address";
	if ((via & m) != (ip & m))
		return "the gateway is not on the lease's subnet";
	return NULL;
}

static bool
is_duplicate(const struct sv_dhcp_route *out, unsigned k, const struct sv_dhcp_route *r)
{
	for (unsigned i = 0; i < k; i++)
		if (out[i].prefix_len == r->prefix_len && memcmp(out[i].dst.b, r->dst.b, 4) == 0)
			return true;
	return false;
}

/* The option that applies (RFC 3442 precedence), validated; NULL for none. */
static const struct sv_dhcp_raw_opt *
pick_option(const struct sv_dhcp_routes_raw *raw, unsigned *code, next_fn **next,
	sv_dhcp_routes_note_fn *note, void *arg)
{
	const struct {
		const struct sv_dhcp_raw_opt *o;
		unsigned code;
		next_fn *next;
	} order[] = {
		{ &raw->classless, SV_DHCP_OPT_CLASSLESS_ROUTES, next_classless },
		{ &raw->ms_classless, SV_DHCP_OPT_MS_CLASSLESS_ROUTES, next_classless },
		{ &raw->classful, SV_DHCP_OPT_STATIC_ROUTES, next_classful },
	};

	for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
		const struct sv_dhcp_raw_opt *o = order[i].o;
		int e;
		if (!o->seen)
			continue;
		if (o->overflow) {
			say(note, arg, "option %u ignored: longer than %u bytes", order[i].code,
				(unsigned)SV_DHCP_ROUTES_RAW_MAX);
			continue;
		}
		e = order[i].next == next_classless ?
			sv_dhcp_parse_classless(o->b, o->len, NULL, 0) :
			sv_dhcp_parse_classful(o->b, o->len, NULL, 0);
		if (e < 0) {
			say(note, arg, "option %u ignored: malformed (%zu bytes)", order[i].code,
				o->len);
			continue;
		}
		*code = order[i].code;
		*next = order[i].next;
		return o;
	}
	return NULL;
}

/* see dhcp_routes.h */
unsigned
sv_dhcp_routes_select(const struct sv_dhcp_routes_raw *raw, const struct sv_ip *ip,
	unsigned prefix_len, struct sv_dhcp_route *out, unsigned max, unsigned *option,
	sv_dhcp_routes_note_fn *note, void *arg)
{
	const struct sv_dhcp_raw_opt *o;
	struct sv_dhcp_route r;
	next_fn *next = NULL;
	unsigned code = 0, k = 0, dropped = 0;
	size_t pos = 0;
	struct sv_ip net;
	char d[SV_IP_STRLEN], v[SV_IP_STRLEN], n[SV_IP_STRLEN];

	if (option != NULL)
		*option = 0;
	if (ip == NULL || ip->family != 4 || prefix_len > 32 ||
		(o = pick_option(raw, &code, &next, note, arg)) == NULL)
		return 0;
	if (option != NULL)
		*option = code;
	uint32_t me = u32_of(ip->b);
	net = *ip;
	put_u32(net.b, me & mask_of(prefix_len));
	sv_ip_format(&net, n, sizeof n);
	while (next(o->b, o->len, &pos, &r) > 0) {
		const char *why = route_problem(&r, me, prefix_len);
		if (why == NULL && is_duplicate(out, k, &r))
			why = "a route to the same network came first";
		if (why == NULL && k == max) {
			dropped++;
			continue;
		}
		if (why != NULL) {
			say(note, arg, "option %u: route %s/%u via %s ignored: %s (the lease is "
				"on %s/%u)", code, sv_ip_format(&r.dst, d, sizeof d), r.prefix_len,
				sv_ip_format(&r.via, v, sizeof v), why, n, prefix_len);
			continue;
		}
		out[k++] = r;
	}
	if (dropped > 0)
		say(note, arg, "option %u: %u more routes ignored: at most %u are kept", code,
			dropped, max);
	return k;
}
