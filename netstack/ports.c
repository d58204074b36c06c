/*
 * Local port choice for outgoing connections; see ports.h.
 *
 * Invariant: every port in [PORT_FIRST, PORT_END) that a pcb on one of lwIP's lists
 * (tcp_pcb_lists: listening, bound, active, TIME_WAIT) holds has its bit set. It holds
 * after rebuild(), which sets exactly the bits of the ports on the lists; afterwards a
 * port gets onto a list only through tcp_bind or tcp_connect: our connects take their
 * port from sv_ports_pick (marked), listeners (netstack/tcplisten.c) mark theirs,
 * accepted pcbs share their listener's port, and nothing else in the client binds TCP
 * ports. Bits are cleared only by rebuild(), so a freed port merely waits for the next
 * pass (and ports keep coming in turn, which the TIME_WAIT cap in tcpconn.c relies on).
 * As a second line, each candidate is also checked against the (short) listening
 * and bound lists. lwIP's own checks stay as they were for everyone else: tcp_bind and
 * tcp_new_port still walk all lists, which hold our pcbs under their ports.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "lwip/tcp.h"
#include "lwip/priv/tcp_priv.h" /* tcp_pcb_lists */

#include "netstack/ports.h"

/* lwIP's TCP_LOCAL_PORT_RANGE_START/END (tcp.c): tcp_new_port never returns the end. */
#define PORT_FIRST 0xc000u
#define PORT_END 0xffffu
#define PORT_COUNT (PORT_END - PORT_FIRST)

static uint8_t used[(PORT_COUNT + 7) / 8];
static unsigned next_off;  /* offset of the next candidate */
static unsigned left;      /* candidates before the next rebuild */
static bool started;

static void
set_bit(unsigned off)
{
	used[off / 8] |= (uint8_t)(1u << (off % 8));
}

static bool
bit_is_set(unsigned off)
{
	return (used[off / 8] >> (off % 8)) & 1u;
}

static void
rebuild(void)
{
	memset(used, 0, sizeof used);
	for (unsigned i = 0; i < NUM_TCP_PCB_LISTS; i++)
		for (struct tcp_pcb *p = *tcp_pcb_lists[i]; p != NULL; p = p->next)
			sv_ports_mark(p->local_port);
	left = PORT_COUNT;
}

/* Listening and bound pcbs are few: checked on each candidate as well, so a listener
 * that did not mark its port (tcp_bind from elsewhere) is still respected. */
static bool
held_by_listener(unsigned port)
{
	for (struct tcp_pcb_listen *p = tcp_listen_pcbs.listen_pcbs; p != NULL; p = p->next)
		if (p->local_port == port)
			return true;
	for (struct tcp_pcb *p = tcp_bound_pcbs; p != NULL; p = p->next)
		if (p->local_port == port)
			return true;
	return false;
}

/* see ports.h */
uint16_t
sv_ports_pick(void)
{
	if (!started) {
		next_off = LWIP_RAND() % PORT_COUNT; /* as tcp_init randomizes tcp_port */
		started = true;
	}
	/* the rest of this pass, then one whole pass on fresh bits */
	for (unsigned tries = 0; tries < 2 * PORT_COUNT; tries++) {
		if (left == 0)
			rebuild();
		left--;
		unsigned off = next_off;
		next_off = (next_off + 1) % PORT_COUNT;
		if (!bit_is_set(off) && !held_by_listener(PORT_FIRST + off)) {
			set_bit(off);
			return (uint16_t)(PORT_FIRST + off);
		}
	}
	return 0;
}

/* see ports.h */
void
sv_ports_mark(uint16_t port)
{
	if (port >= PORT_FIRST && port < PORT_END)
		set_bit(port - PORT_FIRST);
}
