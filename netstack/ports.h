/*
 * Local ports for the TCP connections we open through the tunnel, without lwIP's
 * tcp_new_port(): that one walks every pcb list (listening, bound, active, TIME_WAIT) for
 * each connect, ~1,100 pcbs with the TIME_WAIT cap, and was the largest user-space cost
 * of a SOCKS connection (bench/RESULTS.md, "Connection setup: fewer system calls and no
 * port scan").
 *
 * A bitmap over lwIP's ephemeral range (0xC000-0xFFFE, as tcp_new_port) holds a superset
 * of the ports some pcb uses: it is rebuilt from lwIP's lists once per pass through the
 * range, and every port handed out or bound since is marked. Ports are handed out in
 * turn from a random start, as tcp_new_port does, so a port comes back only after all
 * others were tried. Only netstack/ uses this.
 */
#ifndef SV_NETSTACK_PORTS_H
#define SV_NETSTACK_PORTS_H

#include <stdint.h>

/* A local port no lwIP pcb uses, marked as used; 0 when the whole range is taken. The
 * caller sets it as the pcb's local_port before tcp_connect() (which then checks
 * nothing: the pcb has no SOF_REUSEADDR), or hands it back to nobody: an unused mark
 * only lasts until the next pass. */
uint16_t sv_ports_pick(void);

/* Port is now used by a pcb that did not get it from sv_ports_pick (a listener bound
 * after the last rebuild); ports outside the range are ignored. */
void sv_ports_mark(uint16_t port);

#endif
