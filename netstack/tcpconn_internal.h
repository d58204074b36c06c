/*
 * Between tcpconn.c and tcplisten.c only: how a listener wraps an accepted lwIP pcb in a
 * struct sv_tcpconn and hands it over. Not for socks/ (it names lwIP types).
 */
#ifndef SV_TCPCONN_INTERNAL_H
#define SV_TCPCONN_INTERNAL_H

#include <stdbool.h>

#include "lwip/tcp.h"

#include "netstack/tcpconn.h"

/* Wrap pcb, just accepted by lwIP and established, in a new connection: our callbacks
 * are set on pcb, data and endings are queued from now on, and nothing is delivered
 * until sv_tcpconn_set_ops(). Returns NULL when out of memory (pcb untouched). Called
 * from inside lwIP's accept callback. */
struct sv_tcpconn *sv_tcpconn_wrap_accepted(struct tcp_pcb *pcb);

/* The live pcb of c, NULL once lwIP has freed it or c detached from it. */
struct tcp_pcb *sv_tcpconn_pcb(const struct sv_tcpconn *c);

/* True when c ended abnormally and holds nothing left to read: not worth handing over. */
bool sv_tcpconn_is_gone(const struct sv_tcpconn *c);

#endif
