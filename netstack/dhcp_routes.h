/*
 * Static routes from DHCP (pure: no I/O, no lwIP): option 121 (RFC 3442 classless
 * static routes), its Microsoft twin 249 (same format) and option 33 (RFC 2132
 * section 5.8, classful static routes).
 *
 * They do not change forwarding here: everything the proxy sends leaves through the one
 * tunnel netif anyway. They tell which networks sit behind the VPN, for the PAC file
 * (socks/pac.h) and /status. stack.c collects the option bytes of a DHCP ACK
 * (sv_dhcp_routes_collect) and, when it builds the lease, picks the routes that apply
 * (sv_dhcp_routes_select).
 *
 * RFC 3442 rules kept:
 *   - A destination descriptor is a width (0..32) then ceil(width/8) significant octets
 *     of the subnet number; the router follows as 4 octets. Host bits of the subnet
 *     number are cleared. A width above 32 or a descriptor cut short makes the whole
 *     option invalid, and it is ignored (as ISC dhclient and systemd-networkd do): after
 *     a framing error the rest cannot be trusted.
 *   - When 121 is present, 33 (and the router option 3) are ignored. 249 is used only
 *     when 121 is absent, 33 only when both are.
 *   - A router of 0.0.0.0 means the destination is on the link (section "Local subnet
 *     routes"); a width of 0 is the default route.
 *   - A long option may arrive split in several instances (RFC 3396): the instances are
 *     concatenated before parsing.
 * Option 33 carries (destination, router) pairs; the mask is the destination's class
 * (A /8, B /16, C /24), or /32 when the destination has bits set past its class mask
 * (a host route, as dhclient-script reads it). 0.0.0.0 and class D/E destinations are
 * illegal there and skipped.
 */
#ifndef SV_DHCP_ROUTES_H
#define SV_DHCP_ROUTES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/addr.h"

#define SV_DHCP_ROUTES_MAX 32     /* routes kept per lease; more are dropped (logged) */
#define SV_DHCP_ROUTES_RAW_MAX 1024 /* bytes of one option kept across RFC 3396 splits */

#define SV_DHCP_OPT_STATIC_ROUTES 33
#define SV_DHCP_OPT_CLASSLESS_ROUTES 121
#define SV_DHCP_OPT_MS_CLASSLESS_ROUTES 249

struct sv_dhcp_route {
	struct sv_ip dst;    /* family 4, host bits cleared */
	uint8_t prefix_len;  /* 0..32; 0 = the default route */
	struct sv_ip via;    /* family 4; 0.0.0.0 = on the link */
};

/* One option's data as received: the concatenation of its instances. */
struct sv_dhcp_raw_opt {
	uint8_t b[SV_DHCP_ROUTES_RAW_MAX];
	size_t len;
	bool seen;     /* at least one instance (possibly of length 0) */
	bool overflow; /* more than SV_DHCP_ROUTES_RAW_MAX bytes: ignored */
};

/* The route options of one DHCP message. Zeroed (memset) means "none". */
struct sv_dhcp_routes_raw {
	struct sv_dhcp_raw_opt classless, ms_classless, classful;
};

/* Clears raw. */
void sv_dhcp_routes_reset(struct sv_dhcp_routes_raw *raw);

/* True when option is 121, 249 or 33: then its instance p[0..n) (borrowed) is
 * appended to what raw holds for it. False (and nothing kept) for other options. */
bool sv_dhcp_routes_collect(struct sv_dhcp_routes_raw *raw, uint8_t option,
	const uint8_t *p, size_t n);

/* Parses option 121/249 data p[0..n) (borrowed). Returns the number of routes in the
 * option, of which the first max are written to out (a return above max means the
 * rest were dropped); SV_E_PROTO for an invalid option (empty, a width above 32, a
 * descriptor or router cut short), then nothing is written. */
int sv_dhcp_parse_classless(const uint8_t *p, size_t n, struct sv_dhcp_route *out,
	unsigned max);

/* Parses option 33 data p[0..n) (borrowed), as sv_dhcp_parse_classless; illegal
 * destinations (0.0.0.0, class D and E) are skipped and not counted. SV_E_PROTO when n
 * is 0 or not a multiple of 8. */
int sv_dhcp_parse_classful(const uint8_t *p, size_t n, struct sv_dhcp_route *out,
	unsigned max);

/* Called for each route or option that sv_dhcp_routes_select leaves out, with a
 * sentence that says which and why (e.g. "route 10.1.0.0/16 via 192.168.1.1 ignored:
 * the gateway is not on 10.77.0.0/24"). Borrowed for the call. */
typedef void sv_dhcp_routes_note_fn(void *arg, const char *why);

/*
 * The routes that apply to a lease of ip/prefix_len (family 4): from the option that
 * takes precedence (121, else 249, else 33; an invalid one counts as absent and the
 * next is tried), keeping those whose gateway is on the lease's subnet or 0.0.0.0
 * (on the link). A route through our own address is left out too. Duplicates (same
 * destination and width) keep the first. At most max go to out. note (may be NULL) hears
 * what was left out. *option (may be NULL) is set to the option used, 0 for none.
 * Returns the number written.
 */
unsigned sv_dhcp_routes_select(const struct sv_dhcp_routes_raw *raw, const struct sv_ip *ip,
	unsigned prefix_len, struct sv_dhcp_route *out, unsigned max, unsigned *option,
	sv_dhcp_routes_note_fn *note, void *arg);

#endif
