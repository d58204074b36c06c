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

#endif
