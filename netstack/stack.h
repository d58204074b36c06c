/*
 * The embedded TCP/IP stack: lwIP (NO_SYS=1, raw API) with one Ethernet netif fed by the
 * tunnel. Everything runs on the loop thread.
 *
 * The loop calls sv_stack_input() for every frame that arrives from the hub and
 * sv_stack_poll() when sv_stack_sleeptime() has passed; frames lwIP sends come out through
 * ops->output: at once, except pure TCP ACKs, which are held to the end of the loop turn
 * (during bulk input, for 0.5 ms, or until the loop's next timer tick when no other input
 * comes) so that a newer ACK of the same connection can replace them (netstack/ackmerge.h); any other frame first releases the held ACKs,
 * so the order on the wire is kept.
 * ops->on_lease tells when DHCP has bound an address (and again on change).
 * sv_stack_flush() runs once per loop turn: deferred callbacks, tcp_output for
 * connections written this turn, then the held ACKs that are due.
 */
#ifndef SV_STACK_H
#define SV_STACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/addr.h"
#include "netstack/dhcp_routes.h"

#define SV_STACK_MAX_DNS 4
#define SV_STACK_MAX_SEARCH 4
#define SV_STACK_NAME_MAX 256 /* a DNS name in dotted form, with its NUL */

struct sv_lease {
	struct sv_ip ip;      /* IPv4 address */
	unsigned prefix_len;  /* from the netmask */
	struct sv_ip gw;
	struct sv_ip dns[SV_STACK_MAX_DNS];
	unsigned n_dns;
	struct sv_ip ip6[3];  /* IPv6 addresses in PREFERRED state (link-local first) */
	unsigned n_ip6;
	/* From the DHCP ACK (requested by us; lwIP itself ignores them): option 15, the
	 * domain name; option 119 (RFC 3397), the search list, first SV_STACK_MAX_SEARCH
	 * names; option 26, the interface MTU (0: not given; applied to the netif when
	 * 576..1500). Names are dotted, without a trailing dot, "" when absent. */
	char domain[SV_STACK_NAME_MAX];
	char search[SV_STACK_MAX_SEARCH][SV_STACK_NAME_MAX];
	unsigned n_search;
	unsigned mtu;
	/* Static routes from the ACK (netstack/dhcp_routes.h: option 121, else 249, else
	 * 33), those whose gateway is on the lease's subnet or on the link. They describe
	 * the networks behind the VPN (PAC file, /status); forwarding does not use them,
	 * since everything goes out through the tunnel anyway. */
	struct sv_dhcp_route routes[SV_DHCP_ROUTES_MAX];
	unsigned n_routes;
};

struct sv_stack_ops {
	/* One Ethernet frame to send to the hub; borrowed for the call. */
	void (*output)(void *arg, const uint8_t *frame, size_t len);
	/* DHCP bound (or renewed with a different address), or an IPv6 address became usable. */
	void (*on_lease)(void *arg, const struct sv_lease *lease);
};

/* Initialise lwIP and the netif (MTU 1500, the given MAC), seeding lwIP's randomness
 * from OS entropy. Call once. */
int sv_stack_init(const uint8_t mac[6], const struct sv_stack_ops *ops, void *arg);
/* Link up and start DHCP and IPv6 autoconfiguration. */
void sv_stack_start(void);
/* Orderly stop: DHCP release (sent through ops->output; if the DHCP server's MAC is
 * not known yet, once its ARP answer came in, so keep frames flowing for a moment). */
void sv_stack_stop(void);

/* The tunnel came back as a new session on the hub: cycle the link so that DHCP
 * confirms the lease (same MAC, same address), a gratuitous ARP and a router
 * solicitation announce us again. Open TCP connections are kept. */
void sv_stack_renew(void);

/* A frame from the hub; copied. Frames of the wrong size or not for us are dropped. */
void sv_stack_input(const uint8_t *frame, size_t len);
/* Run lwIP's timers (sys_check_timeouts). */
void sv_stack_poll(void);
/* Milliseconds until sv_stack_poll() or sv_stack_flush() is due. */
uint32_t sv_stack_sleeptime(void);
/* Once per loop turn: deferred callbacks, tcp_output on connections written since the
 * last flush, then the held ACKs go out if they are due. */
void sv_stack_flush(void);
/* sv_stack_flush(), and every held ACK goes out too: before the tunnel closes. */
void sv_stack_flush_all(void);

/* Current lease; false before DHCP has bound. */
bool sv_stack_lease(struct sv_lease *out);

/* Addresses declined so far because another host answered ARP for them right after
 * DHCP bound them (see stack.c: the address is dropped, DHCP starts again 10 s later). */
unsigned sv_stack_conflicts(void);

#endif
