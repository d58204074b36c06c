/*
 * Receive-window credits and the global memory budget for data received from the tunnel
 * and not yet written to local clients (pure: no lwIP, no clock, no I/O).
 *
 * Every byte a connection may receive is either held (received, queued for its client)
 * or promised (window advertised and not yet used): "committed" = held + promised. lwIP
 * turns held bytes back into window only when we call tcp_recved, and this module
 * decides how much of it to call and when:
 *
 *  - A connection starts with a small window (init_wnd) and earns a bigger one while
 *    its client keeps up: when the client drained a whole window's worth within one
 *    growth period (SV_RXBUDGET_PERIOD_MS) with little left queued, the window doubles,
 *    up to max_wnd (receive-buffer auto-tuning, as Linux does, with the period standing
 *    in for its RTT: the window ends up covering about what flows in one to two periods).
 *    A window-limited sender drains a window per round trip, so it keeps growing as
 *    long as the round trip is shorter than the period; a slow sender or a slow client
 *    keeps a small window.
 *  - The sum of committed bytes stays under the budget: consumed bytes are returned as
 *    window (credit) only while there is room; otherwise they are owed, and the
 *    connection waits. When room comes back, sv_rxbudget_release hands it out,
 *    connections at or under their fair share (budget / connections) first. A window
 *    grows only within the budget.
 *  - Every connection may always refill up to init_wnd (its floor), so none starves; the
 *    budget counts what connections commit beyond their floors (the sum of committed
 *    bytes stays under budget + floors), so thousands of idle connections, each with
 *    its first window open, do not use it up.
 *  - A window already advertised is never taken back (TCP forbids shrinking it): the
 *    budget only withholds new credit and growth.
 */
#ifndef SV_NETSTACK_RXBUDGET_H
#define SV_NETSTACK_RXBUDGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SV_RXBUDGET_PERIOD_MS 1000u

struct sv_rxbudget {
	size_t budget;    /* bytes; the limit on committed */
	size_t init_wnd;  /* window of a new connection, and every connection's floor */
	size_t max_wnd;   /* largest window a connection can earn */
	size_t committed; /* sum over connections */
	size_t held;      /* sum over connections */
	size_t floors;    /* sum over connections that can still receive */
	size_t conns;     /* connections open in the budget */
	unsigned long withheld; /* decisions that withheld credit or growth (for logs) */
};

struct sv_rxbudget_conn {
	size_t limit;     /* the window this connection has earned: committed + owed */
	size_t max;       /* the largest window it can use; 0 once no data can arrive */
	size_t floor;     /* min(init_wnd, max); 0 once no data can arrive */
	size_t committed; /* held + promised */
	size_t held;      /* received, not consumed */
	size_t owed;      /* consumed, window not reopened yet */
	size_t drained;   /* consumed in this growth period */
	uint64_t period_start; /* ms */
	bool open;
};

/* budget 0 is taken as 1 byte (every connection keeps only its floor). init_wnd must be
 * <= max_wnd. */
void sv_rxbudget_init(struct sv_rxbudget *b, size_t budget, size_t init_wnd,
	size_t max_wnd);

/* A connection joins: max is the largest window its peer can be offered (65535 without
 * window scaling). Returns its initial window: min(init_wnd, max). */
size_t sv_rxbudget_open(struct sv_rxbudget *b, struct sv_rxbudget_conn *c, size_t max);

/* n bytes arrived (promised -> held). */
void sv_rxbudget_received(struct sv_rxbudget *b, struct sv_rxbudget_conn *c, size_t n);

/* n held bytes reached the client at now_ms (a monotonic clock). Returns the credit to
 * give back now (tcp_recved); the rest is owed (sv_rxbudget_owed) until
 * sv_rxbudget_release. */
size_t sv_rxbudget_consume(struct sv_rxbudget *b, struct sv_rxbudget_conn *c, size_t n,
	uint64_t now_ms);

/* Credit for a connection that is owed some, now that there may be room; 0 if none.
 * first_pass: give only to connections at or under their fair share (call every owed
 * connection with true, then with false). */
size_t sv_rxbudget_release(struct sv_rxbudget *b, struct sv_rxbudget_conn *c,
	bool first_pass);

/* No more data can arrive (the remote finished, or the connection died): the promised
 * window no longer counts, nothing is owed; held bytes still count until consumed. */
void sv_rxbudget_detach(struct sv_rxbudget *b, struct sv_rxbudget_conn *c);

/* The connection leaves the budget with everything it held. Idempotent. */
void sv_rxbudget_close(struct sv_rxbudget *b, struct sv_rxbudget_conn *c);

/* Bytes owed to c (withheld credit). */
size_t sv_rxbudget_owed(const struct sv_rxbudget_conn *c);

/* True when committed bytes reached the budget plus the floors (new credit waits). */
bool sv_rxbudget_is_full(const struct sv_rxbudget *b);

/* A connection's share: init_wnd + budget / connections. */
size_t sv_rxbudget_fair_share(const struct sv_rxbudget *b);

#endif
