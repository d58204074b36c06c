/*
 * Receive-window credits under a global budget; see rxbudget.h.
 *
 * Invariants, per connection: limit == committed + owed; held <= committed (until
 * detach, when committed == held and nothing is owed); limit <= max unless detached.
 * Globally: committed, held and floors are the sums over open connections; credit and
 * growth beyond a connection's floor keep committed <= budget + floors.
 */
#include "netstack/rxbudget.h"

static size_t
min_sz(size_t a, size_t b)
{
	return a < b ? a : b;
}

static size_t
room_left(const struct sv_rxbudget *b)
{
	size_t total = b->budget + b->floors;

	return total > b->committed ? total - b->committed : 0;
}

/* Moves give bytes from owed back to committed (the caller reopens the window). */
static size_t
pay(struct sv_rxbudget *b, struct sv_rxbudget_conn *c, size_t give)
{
	c->owed -= give;
	c->committed += give;
	b->committed += give;
	return give;
}

/* A connection may always refill up to its floor, budget or not. */
static size_t
with_floor(const struct sv_rxbudget_conn *c, size_t give)
{
	if (c->committed + give < c->floor)
		give = min_sz(c->owed, c->floor - c->committed);
	return give;
}

/* see rxbudget.h */
void
sv_rxbudget_init(struct sv_rxbudget *b, size_t budget, size_t init_wnd, size_t max_wnd)
{
	*b = (struct sv_rxbudget){
		.budget = budget ? budget : 1,
		.init_wnd = init_wnd,
		.max_wnd = max_wnd < init_wnd ? init_wnd : max_wnd,
	};
}

/* see rxbudget.h */
size_t
sv_rxbudget_open(struct sv_rxbudget *b, struct sv_rxbudget_conn *c, size_t max)
{
	size_t w;

	if (max > b->max_wnd)
		max = b->max_wnd;
	w = min_sz(b->init_wnd, max);
	*c = (struct sv_rxbudget_conn){
		.limit = w, .max = max, .floor = w, .committed = w, .open = true,
	};
	b->committed += w;
	b->floors += w;
	b->conns++;
	return w;
}

/* see rxbudget.h */
void
sv_rxbudget_received(struct sv_rxbudget *b, struct sv_rxbudget_conn *c, size_t n)
{
	if (!c->open)
		return;
	c->held += n;
	b->held += n;
	/* More than was promised (a peer overrunning the window, which lwIP trims, or
	 * a FIN's sequence number): count it as committed so the sums stay true. */
	if (c->held > c->committed) {
		size_t extra = c->held - c->committed;
		c->committed += extra;
		b->committed += extra;
		c->limit += extra;
	}
}

/* Doubles the window of a connection whose client keeps up, within the budget. */
static size_t
grow(struct sv_rxbudget *b, struct sv_rxbudget_conn *c)
{
	size_t delta;

	if (c->owed > 0 || c->drained < c->limit || c->held > c->limit / 2 ||
		c->limit >= c->max)
		return 0;
	delta = min_sz(c->limit, c->max - c->limit);
	if (delta > room_left(b)) {
		b->withheld++;
		return 0;
	}
	c->drained = 0;
	c->limit += delta;
	c->committed += delta;
	b->committed += delta;
	return delta;
}

/* see rxbudget.h */
size_t
sv_rxbudget_consume(struct sv_rxbudget *b, struct sv_rxbudget_conn *c, size_t n,
	uint64_t now_ms)
{
	size_t give, room;

	if (!c->open)
		return 0;
	n = min_sz(n, c->held);
	c->held -= n;
	b->held -= n;
	c->committed -= n;
	b->committed -= n;
	if (c->max == 0) {
		c->limit = c->committed;
		return 0; /* detached: nothing more can arrive */
	}
	c->owed += n;
	if (now_ms - c->period_start >= SV_RXBUDGET_PERIOD_MS) {
		c->period_start = now_ms;
		c->drained = 0;
	}
	c->drained += n;
	/* Everything fits: all of it. Otherwise connections at or under their fair share
	 * take what room there is, and the largest ones wait (beyond their floor). */
	room = room_left(b);
	if (c->owed <= room || c->committed < sv_rxbudget_fair_share(b))
		give = min_sz(c->owed, room);
	else
		give = 0;
	give = with_floor(c, give);
	if (give < c->owed)
		b->withheld++;
	pay(b, c, give);
	return give + grow(b, c);
}

/* see rxbudget.h */
size_t
sv_rxbudget_release(struct sv_rxbudget *b, struct sv_rxbudget_conn *c, bool first_pass)
{
	if (!c->open || c->max == 0 || c->owed == 0)
		return 0;
	if (first_pass && c->committed >= sv_rxbudget_fair_share(b))
		return 0;
	return pay(b, c, with_floor(c, min_sz(c->owed, room_left(b))));
}

/* see rxbudget.h */
void
sv_rxbudget_detach(struct sv_rxbudget *b, struct sv_rxbudget_conn *c)
{
	if (!c->open || c->max == 0)
		return;
	b->committed -= c->committed - c->held;
	b->floors -= c->floor;
	c->committed = c->held;
	c->limit = c->held;
	c->owed = 0;
	c->max = 0;
	c->floor = 0;
}

/* see rxbudget.h */
void
sv_rxbudget_close(struct sv_rxbudget *b, struct sv_rxbudget_conn *c)
{
	if (!c->open)
		return;
	b->committed -= c->committed;
	b->held -= c->held;
	b->floors -= c->floor;
	b->conns--;
	*c = (struct sv_rxbudget_conn){ .open = false };
}

/* see rxbudget.h */
size_t
sv_rxbudget_owed(const struct sv_rxbudget_conn *c)
{
	return c->owed;
}

/* see rxbudget.h */
bool
sv_rxbudget_is_full(const struct sv_rxbudget *b)
{
	return b->committed >= b->budget + b->floors;
}

/* see rxbudget.h */
size_t
sv_rxbudget_fair_share(const struct sv_rxbudget *b)
{
	return b->init_wnd + (b->conns ? b->budget / b->conns : b->budget);
}
