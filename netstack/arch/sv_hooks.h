/*
 * lwIP hook declarations (LWIP_HOOK_FILENAME), included by lwIP's own source files.
 * Implemented in netstack/stack.c.
 */
#ifndef SV_LWIP_HOOKS_H
#define SV_LWIP_HOOKS_H

#include "lwip/ip_addr.h"

/* RFC 6528 initial sequence number for a new connection's 4-tuple. */
u32_t sv_lwip_tcp_isn(const ip_addr_t *local_ip, u16_t local_port,
	const ip_addr_t *remote_ip, u16_t remote_port);

struct dhcp;
struct dhcp_msg;
struct netif;
struct pbuf;

/* LWIP_HOOK_DHCP_APPEND_OPTIONS: puts options 121, 249, 26, 15, 119 and 33 at the head
 * of the parameter request list (option 55) of DISCOVER, REQUEST and INFORM. */
void sv_lwip_dhcp_append(struct netif *netif, struct dhcp *dhcp, u8_t state,
	struct dhcp_msg *msg, u8_t msg_type, u16_t *options_len);
/* LWIP_HOOK_DHCP_PARSE_OPTION: keeps options 15, 119, 26 and the routes (121, 249, 33)
 * of a DHCP ACK for the lease. */
void sv_lwip_dhcp_parse(struct netif *netif, struct dhcp *dhcp, u8_t state,
	struct dhcp_msg *msg, u8_t msg_type, u8_t option, u8_t len, struct pbuf *p,
	u16_t offset);

#endif
