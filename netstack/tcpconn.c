/*
 * One proxied TCP connection on lwIP's raw API; see tcpconn.h.
 *
 * States: CONNECTING -> OPEN -> (DEAD | closed by the user). DEAD means lwIP freed the pcb
 * abnormally (reset, timeout, abort) and ops->on_error is (or will be) reported; only
 * sv_tcpconn_close() may follow. The user's close frees the object at once, or at the end
 * of the dispatch if it happens inside one of our callbacks. A connection accepted by a
 * listener (tcplisten.c, via sv_tcpconn_wrap_accepted) starts in OPEN with ops NULL:
 * its events accumulate and dispatch() delivers nothing until sv_tcpconn_set_ops().
 *
 * Invariants:
 *  - c->pcb is NULL, or a live pcb whose arg/recv/sent/err/poll callbacks point here.
 *    Every path that stops us from hearing about a pcb's death clears those callbacks
 *    first (detach): our own close/abort, and the remote FIN after our own FIN (the pcb
 *    may then sit in TIME_WAIT, which lwIP frees without telling anyone).
 *  - rxq holds the received pbuf chains not yet consumed, in order; rx_bytes is their
 *    total. The window was not reopened for these bytes yet: tcp_recved() runs as the user
 *    consumes, so a slow reader stops the remote sender. How much is reopened, and when,
 *    is rxbudget.c's decision (rb): a connection starts with INIT_WND, earns more while
 *    its client keeps up, and waits on the owed list while the memory budget is full;
 *    release_owed() pays it back, once per loop turn, when there is room again.
 *  - User callbacks run only from dispatch() (sv_stack_flush), never from lwIP callbacks
 *    and never after sv_tcpconn_close().
 *  - on_eof is posted once, after FIN and when rx_bytes reached 0; an error that ends the
 *    connection is reported once queued data has been consumed (as a kernel socket returns
 *    buffered data before ECONNRESET).
 */
#define SV_LOG_MODULE "tcpconn"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "lwip/ip.h"
#include "lwip/pbuf.h"
#include "lwip/sys.h"
#include "lwip/tcp.h"
#include "lwip/priv/tcp_priv.h" /* TCP_SLOW_INTERVAL */

#include "core/err.h"
#include "core/log.h"
#include "netstack/internal.h"
#include "netstack/ports.h"
#include "netstack/rxbudget.h"
#include "netstack/tcpconn.h"
#include "netstack/tcpconn_internal.h"

#define CONNECT_TIMEOUT_DEFAULT_MS 10000u
/* TIME_WAIT PCBs kept at most, checked every TIME_WAIT_CHECK connects (trim_time_wait:
 * each check walks TIME_WAIT_MAX PCBs; in between the list may grow by TIME_WAIT_CHECK,
 * which only tcp_input's walk for segments of no active connection sees) */
#define TIME_WAIT_MAX 1024u
#define TIME_WAIT_CHECK 256u
#define POLL_INTERVAL 1 /* lwIP coarse timer ticks (500 ms) */
/* Queue entries per connection: bounds the pbuf overhead of tiny segments. When full, the
 * recv callback refuses data and lwIP redelivers it later. */
#define RXQ_MAX 8192u
#define RXQ_INITIAL 16u
/* Segments up to this size are copied into the free tail of the last queued pbuf. */
#define SMALL_SEGMENT 512u
/* Notify on_writable only once this much room is back (or all of it). */
#define WRITABLE_MIN (16u * 1024u)
#define QUEUE_MARGIN 4u /* queue entries kept free for FIN and oversize bookkeeping */
/* A connection's first receive window; it grows towards TCP_WND while its client keeps
 * up (rxbudget.h). At least the 65535 bytes the SYN offered (never shrink a window), and
 * a multiple of 1 << TCP_RCV_SCALE so the scaled field says exactly that. */
#define INIT_WND (64u * 1024u)
#define BUDGET_LOG_INTERVAL_MS 60000u

_Static_assert(INIT_WND >= 0xFFFFu && INIT_WND % (1u << TCP_RCV_SCALE) == 0 &&
		INIT_WND <= TCP_WND,
	"INIT_WND must cover the SYN's window and be a multiple of the window scale");
/* Windows grow up to TCP_WND; lwIP must never drop out-of-order data inside the window it
 * granted (it would renege on SACKs, and the sender would wait for its timeout). */
_Static_assert(TCP_OOSEQ_MAX_BYTES >= TCP_WND && TCP_MSS >= SV_OOSEQ_BYTES_PER_PBUF &&
		TCP_WND / SV_OOSEQ_BYTES_PER_PBUF + SV_OOSEQ_PBUFS_SLACK <= 0xFFFFu,
	"the out-of-order limits must cover the largest receive window");

enum conn_state { CONN_CONNECTING, CONN_OPEN, CONN_DEAD };
static const char *const state_names[] = { "connecting", "open", "dead" };

enum {
	EV_CONNECTED = 1u << 0,
	EV_READABLE = 1u << 1,
	EV_EOF = 1u << 2,
	EV_WRITABLE = 1u << 3,
	EV_ERROR = 1u << 4,
};

struct sv_tcpconn {
	struct sv_defer defer; /* first: dispatch() recovers c from it */
	struct tcp_pcb *pcb;
	const struct sv_tcpconn_ops *ops;
	void *arg;
	unsigned id;
	enum conn_state state;
	unsigned events;
	int err;           /* error to report (negative), 0 none */
	bool err_pending;  /* err waits for the receive queue to drain */
	bool got_fin, eof_posted, tx_shut, blocked, closed, in_dispatch;
	u32_t deadline;    /* connect deadline, sys_now() ms */
	u16_t last_nrtx;   /* retransmission state seen in the last poll */
	u8_t last_keep;
	/* receive queue: ring of pbuf chains */
	struct pbuf **rxq;
	unsigned rxq_cap, rxq_head, rxq_count;
	size_t rx_bytes;
	struct sv_rxbudget_conn rb; /* window credits (rxbudget.h) */
	size_t tx_queued;           /* written to lwIP, not acknowledged yet */
	/* owed list: consumed bytes whose window was withheld (budget full) */
	struct sv_tcpconn *owe_prev, *owe_next;
	bool owing;
	/* local address once connected; remote address from the start */
	struct sv_ip local_ip, peer_ip;
	uint16_t local_port, peer_port;
	/* dirty list: written since the last flush */
	struct sv_tcpconn *dirty_prev, *dirty_next;
	bool dirty;
};

static struct sv_tcpconn *dirty_head;
static struct sv_tcpconn *owe_head;
static struct sv_rxbudget budget = {
	.budget = SV_TCPCONN_BUDGET_DEFAULT,
	.init_wnd = INIT_WND,
	.max_wnd = TCP_WND,
};
static size_t tx_total;           /* sum of tx_queued */
static unsigned long budget_logged; /* budget.withheld at the last log line */
static u32_t budget_log_at;
static bool budget_log_once;
static unsigned next_id = 1;

static void dispatch(struct sv_defer *d);

static void
set_state(struct sv_tcpconn *c, enum conn_state s)
{
	if (c->state == s)
		return;
	log_debug("conn %u: %s -> %s", c->id, state_names[c->state], state_names[s]);
	c->state = s;
}

static void
post(struct sv_tcpconn *c, unsigned ev)
{
	if (c->closed)
		return;
	c->events |= ev;
	sv_stack_defer(&c->defer, dispatch);
}

static void
mark_dirty(struct sv_tcpconn *c)
{
	if (c->dirty)
		return;
	c->dirty = true;
	c->dirty_prev = NULL;
	c->dirty_next = dirty_head;
	if (dirty_head)
		dirty_head->dirty_prev = c;
	dirty_head = c;
}

static void
unmark_dirty(struct sv_tcpconn *c)
{
	if (!c->dirty)
		return;
	if (c->dirty_prev)
		c->dirty_prev->dirty_next = c->dirty_next;
	else
		dirty_head = c->dirty_next;
	if (c->dirty_next)
		c->dirty_next->dirty_prev = c->dirty_prev;
	c->dirty_prev = c->dirty_next = NULL;
	c->dirty = false;
}

/* --- receive windows and the memory budget (rxbudget.h) ------------------------------ */

static void
owe_update(struct sv_tcpconn *c)
{
	bool want = c->pcb != NULL && sv_rxbudget_owed(&c->rb) > 0;

	if (want == c->owing)
		return;
	if (want) {
		c->owe_prev = NULL;
		c->owe_next = owe_head;
		if (owe_head)
			owe_head->owe_prev = c;
		owe_head = c;
	} else {
		if (c->owe_prev)
			c->owe_prev->owe_next = c->owe_next;
		else
			owe_head = c->owe_next;
		if (c->owe_next)
			c->owe_next->owe_prev = c->owe_prev;
		c->owe_prev = c->owe_next = NULL;
	}
	c->owing = want;
}

/* One line when the budget starts holding windows back, then at most one a minute. */
static void
budget_log(void)
{
	u32_t now;

	if (budget.withheld == budget_logged)
		return;
	budget_logged = budget.withheld;
	now = sys_now();
	if (budget_log_once && now - budget_log_at < BUDGET_LOG_INTERVAL_MS)
		return;
	budget_log_once = true;
	budget_log_at = now;
	log_warn("memory: %zu KiB not yet read by local clients, plus open receive "
		"windows, over %zu connections reached --max-buffer-memory (%zu KiB): the "
		"connections holding most now wait for their clients; raise "
		"--max-buffer-memory to allow more", budget.held / 1024, budget.conns,
		budget.budget / 1024);
}

static void
reopen_window(struct sv_tcpconn *c, size_t n)
{
	while (c->pcb && n > 0) {
		u16_t k = n > 0xFFFF ? 0xFFFF : (u16_t)n;
		tcp_recved(c->pcb, k);
		n -= k;
	}
}

/* The connection is established: it joins the budget with a small window. The SYN
 * offered at most 65535 bytes (unscaled), so INIT_WND shrinks nothing the peer saw.
 * lwIP's SYN-ACK (an accepted connection) recorded the right edge of its full window,
 * TCP_WND, although it sent 65535: move that edge back too, or lwIP announces the old
 * edge ("never shrink") in every ACK and drops what the peer sends beyond w. */
static void
window_start(struct sv_tcpconn *c, struct tcp_pcb *pcb)
{
	size_t w = sv_rxbudget_open(&budget, &c->rb, TCP_WND_MAX(pcb));

	if (w < pcb->rcv_wnd) {
		pcb->rcv_wnd = pcb->rcv_ann_wnd = (tcpwnd_size_t)w;
		pcb->rcv_ann_right_edge = pcb->rcv_nxt + (u32_t)w;
	}
	log_trace("conn %u: receive window %zu KiB, at most %zu KiB", c->id, w / 1024,
		(size_t)TCP_WND_MAX(pcb) / 1024);
}

/* No more data can arrive: the unused window no longer counts. */
static void
window_stop(struct sv_tcpconn *c)
{
	sv_rxbudget_detach(&budget, &c->rb);
	owe_update(c);
}

/* Hands room in the budget to connections whose credit was withheld: those at or under
 * their fair share first. Once per loop turn, before output. */
static void
release_owed(void)
{
	struct sv_tcpconn *c, *next;

	if (owe_head == NULL || sv_rxbudget_is_full(&budget))
		return;
	for (int pass = 0; pass < 2; pass++) {
		for (c = owe_head; c != NULL; c = next) {
			next = c->owe_next;
			reopen_window(c, sv_rxbudget_release(&budget, &c->rb, pass == 0));
			owe_update(c);
		}
	}
}

static void
tx_forget(struct sv_tcpconn *c)
{
	tx_total -= c->tx_queued;
	c->tx_queued = 0;
}

/* see tcpconn.h */
void
sv_tcpconn_set_buffer_budget(size_t bytes)
{
	budget.budget = bytes ? bytes : 1;
}

/* see tcpconn.h */
void
sv_tcpconn_mem_stats(struct sv_tcpconn_mem *out)
{
	out->rx_held = budget.held;
	out->rx_committed = budget.committed;
	out->budget = budget.budget;
	out->tx_queued = tx_total;
}

/* see internal.h */
void
sv_tcpconn_flush_output(void)
{
	struct sv_tcpconn *c;

	release_owed();
	while ((c = dirty_head) != NULL) {
		unmark_dirty(c);
		if (c->pcb)
			tcp_output(c->pcb);
	}
}

/* Stop hearing from the pcb; the caller then closes, aborts or forgets it. */
static struct tcp_pcb *
detach(struct sv_tcpconn *c)
{
	struct tcp_pcb *pcb = c->pcb;
	if (pcb) {
		tcp_arg(pcb, NULL);
		tcp_recv(pcb, NULL);
		tcp_sent(pcb, NULL);
		tcp_err(pcb, NULL);
		tcp_poll(pcb, NULL, 0);
	}
	c->pcb = NULL;
	unmark_dirty(c);
	window_stop(c);
	tx_forget(c);
	return pcb;
}

static err_t on_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err);
static err_t on_sent(void *arg, struct tcp_pcb *pcb, u16_t len);
static err_t on_poll(void *arg, struct tcp_pcb *pcb);
static void on_err(void *arg, err_t err);

/* Hear about pcb from now on: every lwIP callback points at c. */
static void
attach(struct sv_tcpconn *c, struct tcp_pcb *pcb)
{
	c->pcb = pcb;
	tcp_arg(pcb, c);
	tcp_recv(pcb, on_recv);
	tcp_sent(pcb, on_sent);
	tcp_err(pcb, on_err);
	tcp_poll(pcb, on_poll, POLL_INTERVAL);
	tcp_nagle_disable(pcb); /* we batch per loop turn (sv_stack_flush) instead */
	ip_set_option(pcb, SOF_KEEPALIVE);
}

/* --- receive queue ------------------------------------------------------------------ */

static bool
rxq_push(struct sv_tcpconn *c, struct pbuf *p)
{
	if (c->rxq_count == c->rxq_cap) {
		if (c->rxq_cap >= RXQ_MAX)
			return false;
		unsigned ncap = c->rxq_cap ? c->rxq_cap * 2 : RXQ_INITIAL;
		struct pbuf **n = malloc(ncap * sizeof *n);
		if (n == NULL)
			return false;
		for (unsigned i = 0; i < c->rxq_count; i++)
			n[i] = c->rxq[(c->rxq_head + i) % c->rxq_cap];
		free(c->rxq);
		c->rxq = n;
		c->rxq_cap = ncap;
		c->rxq_head = 0;
	}
	c->rxq[(c->rxq_head + c->rxq_count) % c->rxq_cap] = p;
	c->rxq_count++;
	c->rx_bytes += p->tot_len;
	sv_rxbudget_received(&budget, &c->rb, p->tot_len);
	return true;
}

/*
 * A peer sending tiny segments would otherwise cost one ~1.5 KB pool pbuf per segment
 * while the window counts only payload bytes. Small segments are copied into the free
 * tail of the last queued pool pbuf instead (bytes already queued do not move).
 */
static bool
rxq_append_small(struct sv_tcpconn *c, struct pbuf *p)
{
	if (c->rxq_count == 0 || p->tot_len > SMALL_SEGMENT)
		return false;
	struct pbuf *h = c->rxq[(c->rxq_head + c->rxq_count - 1) % c->rxq_cap];
	struct pbuf *q = h;
	while (q->next)
		q = q->next;
	if (!pbuf_match_allocsrc(q, PBUF_POOL) || q->ref != 1 ||
		(u32_t)h->tot_len + p->tot_len > 0xFFFFu)
		return false;
	/* A pool pbuf is one allocation: the struct, then PBUF_POOL_BUFSIZE of payload. */
	const u8_t *end = (const u8_t *)q + LWIP_MEM_ALIGN_SIZE(sizeof(struct pbuf)) +
		LWIP_MEM_ALIGN_SIZE(PBUF_POOL_BUFSIZE);
	u8_t *tail = (u8_t *)q->payload + q->len;
	if (tail > end || (size_t)(end - tail) < p->tot_len)
		return false;
	u16_t n = pbuf_copy_partial(p, tail, p->tot_len, 0);
	for (struct pbuf *r = h; r != NULL; r = r->next)
		r->tot_len = (u16_t)(r->tot_len + n);
	q->len = (u16_t)(q->len + n);
	c->rx_bytes += n;
	sv_rxbudget_received(&budget, &c->rb, n);
	pbuf_free(p);
	return true;
}

static void
rxq_clear(struct sv_tcpconn *c)
{
	for (unsigned i = 0; i < c->rxq_count; i++)
		pbuf_free(c->rxq[(c->rxq_head + i) % c->rxq_cap]);
	free(c->rxq);
	c->rxq = NULL;
	c->rxq_cap = c->rxq_head = c->rxq_count = 0;
	c->rx_bytes = 0;
	sv_rxbudget_close(&budget, &c->rb);
}

/* --- endings ------------------------------------------------------------------------ */

static void
maybe_post_end(struct sv_tcpconn *c)
{
	if (c->rx_bytes != 0)
		return;
	if (c->err_pending) {
		c->err_pending = false;
		c->events = 0;
		post(c, EV_ERROR);
	} else if (c->got_fin && !c->eof_posted && c->err == 0) {
		c->eof_posted = true;
		post(c, EV_EOF);
	}
}

/* The connection ended abnormally: report err once queued data has been consumed. */
static void
fail(struct sv_tcpconn *c, int err)
{
	if (c->err != 0)
		return;
	log_debug_r(err, "conn %u: ended", c->id);
	c->err = err;
	c->err_pending = true;
	set_state(c, CONN_DEAD);
	/* Nothing more will arrive; only the bytes already queued are still worth reading. */
	c->events &= ~(unsigned)(EV_CONNECTED | EV_WRITABLE | EV_EOF);
	maybe_post_end(c);
}

/* --- lwIP callbacks (never call the user from here) --------------------------------- */

static err_t
on_connected(void *arg, struct tcp_pcb *pcb, err_t err)
{
	struct sv_tcpconn *c = arg;
	(void)err; /* lwIP 2.1.3 only ever passes ERR_OK */
	if (c == NULL)
		return ERR_OK;
	sv_ip_from_lwip(&pcb->local_ip, &c->local_ip);
	c->local_port = pcb->local_port;
	window_start(c, pcb); /* before lwIP sends the ACK that carries the window */
	set_state(c, CONN_OPEN);
	post(c, EV_CONNECTED);
	return ERR_OK;
}

static err_t
on_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err)
{
	struct sv_tcpconn *c = arg;
	(void)err;
	if (c == NULL) { /* not expected: callbacks are cleared before c goes away */
		if (p) {
			tcp_recved(pcb, p->tot_len);
			pbuf_free(p);
		}
		return ERR_OK;
	}
	if (p == NULL) {
		c->got_fin = true;
		window_stop(c);
		/* Both FINs seen: lwIP may move the pcb to TIME_WAIT and free it silently. */
		if (c->tx_shut)
			detach(c);
		maybe_post_end(c);
		return ERR_OK;
	}
	if (!rxq_append_small(c, p) && !rxq_push(c, p))
		return ERR_MEM; /* lwIP keeps it (refused_data) and offers it again later */
	post(c, EV_READABLE);
	return ERR_OK;
}

static size_t
write_room(struct tcp_pcb *pcb)
{
	size_t buf = tcp_sndbuf(pcb);
	size_t ql = tcp_sndqueuelen(pcb);
	if (ql + QUEUE_MARGIN >= TCP_SND_QUEUELEN)
		return 0;
	size_t mss = tcp_mss(pcb) ? tcp_mss(pcb) : 536;
	size_t by_queue = (TCP_SND_QUEUELEN - QUEUE_MARGIN - ql) * mss;
	return buf < by_queue ? buf : by_queue;
}

static err_t
on_sent(void *arg, struct tcp_pcb *pcb, u16_t len)
{
	struct sv_tcpconn *c = arg;
	if (c != NULL) {
		size_t k = len < c->tx_queued ? len : c->tx_queued;
		c->tx_queued -= k;
		tx_total -= k;
	}
	if (c == NULL || !c->blocked || c->tx_shut)
		return ERR_OK;
	size_t room = write_room(pcb);
	if (room >= WRITABLE_MIN || room >= TCP_SND_BUF / 2 || pcb->unsent == NULL) {
		c->blocked = false;
		post(c, EV_WRITABLE);
	}
	return ERR_OK;
}

static err_t
on_poll(void *arg, struct tcp_pcb *pcb)
{
	struct sv_tcpconn *c = arg;
	if (c == NULL)
		return ERR_OK;
	c->last_nrtx = pcb->nrtx;
	c->last_keep = pcb->keep_cnt_sent;
	if (c->state == CONN_CONNECTING && (s32_t)(sys_now() - c->deadline) >= 0) {
		detach(c);
		tcp_abort(pcb);
		fail(c, -ETIMEDOUT);
		return ERR_ABRT;
	}
	return ERR_OK;
}

/* lwIP has already freed the pcb. */
static void
on_err(void *arg, err_t err)
{
	struct sv_tcpconn *c = arg;
	if (c == NULL)
		return;
	c->pcb = NULL;
	unmark_dirty(c);
	window_stop(c);
	tx_forget(c);
	switch (err) {
	case ERR_CLSD:
		/* Peer acknowledged our FIN after its own: a normal end. */
		c->got_fin = true;
		maybe_post_end(c);
		break;
	case ERR_RST:
		fail(c, c->state == CONN_CONNECTING ? -ECONNREFUSED : -ECONNRESET);
		break;
	case ERR_ABRT:
		/* Not ours (we detach before aborting): SYN or data retransmissions ran out,
		 * keep-alive probes went unanswered, or lwIP dropped the pcb (address change,
		 * memory). */
		fail(c, c->state == CONN_CONNECTING || c->last_nrtx > 0 || c->last_keep > 0
				? -ETIMEDOUT
				: -ECONNABORTED);
		break;
	default:
		fail(c, -ECONNABORTED);
		break;
	}
}

/* --- dispatch (from sv_stack_flush) -------------------------------------------------- */

static void
conn_free(struct sv_tcpconn *c)
{
	sv_stack_undefer(&c->defer);
	unmark_dirty(c);
	c->pcb = NULL;
	owe_update(c);
	tx_forget(c);
	rxq_clear(c);
	free(c);
}

static unsigned
next_event(struct sv_tcpconn *c)
{
	static const unsigned order[] = { EV_ERROR, EV_CONNECTED, EV_READABLE, EV_EOF,
		EV_WRITABLE };
	for (size_t i = 0; i < sizeof order / sizeof order[0]; i++)
		if (c->events & order[i]) {
			c->events &= ~order[i];
			return order[i];
		}
	return 0;
}

static void
deliver(struct sv_tcpconn *c, unsigned ev)
{
	const struct sv_tcpconn_ops *o = c->ops;
	switch (ev) {
	case EV_ERROR:
		c->events = 0;
		if (o->on_error)
			o->on_error(c->arg, c->err);
		break;
	case EV_CONNECTED:
		if (o->on_connected)
			o->on_connected(c->arg);
		break;
	case EV_READABLE:
		if (c->rx_bytes > 0 && o->on_readable)
			o->on_readable(c->arg);
		break;
	case EV_EOF:
		if (o->on_eof)
			o->on_eof(c->arg);
		break;
	case EV_WRITABLE:
		if (c->pcb && !c->tx_shut && o->on_writable)
			o->on_writable(c->arg);
		break;
	}
}

static void
dispatch(struct sv_defer *d)
{
	struct sv_tcpconn *c = (struct sv_tcpconn *)(void *)d;
	unsigned ev;

	if (c->ops == NULL)
		return; /* accepted, not handed over yet: sv_tcpconn_set_ops() posts again */
	c->in_dispatch = true;
	while (!c->closed && (ev = next_event(c)) != 0)
		deliver(c, ev);
	c->in_dispatch = false;
	if (c->closed)
		conn_free(c);
}

/* --- API ---------------------------------------------------------------------------- */

static int
map_connect_err(err_t e)
{
	switch (e) {
	case ERR_RTE:
		return -ENETUNREACH;
	case ERR_MEM:
		return SV_E_NOMEM;
	case ERR_BUF: /* tcp_connect: no free local port */
		return SV_E_NOPORT;
	case ERR_USE:
		return -EADDRINUSE;
	case ERR_VAL:
	case ERR_ARG:
		return SV_E_INVAL;
	default:
		return SV_E_INTERNAL;
	}
}

/*
 * A connection we close first (the local client left) stays in lwIP's TIME_WAIT list
 * for 2 x TCP_MSL (120 s), holding its port, and every new connection scans all PCB
 * lists for a free port (tcp_new_port). At a few thousand connections per second that
 * is thousands of PCBs per connect, and past 16,383 no port is left (issue 7). As
 * Linux does with tcp_max_tw_buckets, keep at most TIME_WAIT_MAX and free the oldest
 * beyond (lwIP pushes new ones at the head, so they are the tail). lwIP's own
 * recycling (tcp_kill_timewait) only runs when a PCB allocation fails, which never
 * happens with MEMP_MEM_MALLOC.
 *
 * Why this is safe: TIME_WAIT answers a retransmitted FIN with the last ACK, and keeps
 * old duplicates of this 4-tuple out of a new connection. The first is only needed if
 * our last ACK is lost; without the PCB lwIP answers with a RST, which ends the peer's
 * LAST_ACK, after all data was delivered both ways. For the second the same 4-tuple
 * must come back while a duplicate is still in flight: ephemeral ports are handed out
 * in turn from a range far larger than TIME_WAIT_MAX, so a port comes back only after
 * as many other connections, our segments cross a TLS tunnel that neither duplicates
 * nor reorders them, and initial sequence numbers follow RFC 6528. At low rates
 * nothing changes: fewer than TIME_WAIT_MAX PCBs wait their full 2 x TCP_MSL; at
 * 3,000 connections/s (about our ceiling) a PCB still waits 0.3 s, longer than the
 * 200 ms minimum RTO after which a peer retransmits its FIN. The cost of the scan is
 * bounded instead (bench/RESULTS.md, "Connection setup and start -> ready").
 */
static void
trim_time_wait(void)
{
	static unsigned calls;
	struct tcp_pcb *p = tcp_tw_pcbs;

	if (++calls % TIME_WAIT_CHECK != 0)
		return;
	for (unsigned i = 1; p != NULL && i < TIME_WAIT_MAX; i++)
		p = p->next;
	if (p == NULL || p->next == NULL)
		return;
	struct tcp_pcb *rest = p->next;
	unsigned n = 0;
	p->next = NULL;
	while (rest != NULL) {
		struct tcp_pcb *next = rest->next;
		if (rest->callback_arg != NULL) {
			/* still ours: lwIP moved it to TIME_WAIT with data it could not hand
			 * us (on_recv refused it), so a conn may still point at it; it goes
			 * when lwIP expires it, after the conn has let go */
			p->next = rest;
			p = rest;
			p->next = NULL;
		} else {
			/* what tcp_abort() does for TIME_WAIT (it would search the list again) */
			tcp_free(rest);
			n++;
		}
		rest = next;
	}
	log_debug("freed %u TIME_WAIT connections beyond %u", n, TIME_WAIT_MAX);
}

/* see tcpconn.h */
int
sv_tcpconn_connect(struct sv_tcpconn **out, const struct sv_ip *dst, uint16_t port,
	unsigned timeout_ms, const struct sv_tcpconn_ops *ops, void *arg)
{
	ip_addr_t ip;

	if (out == NULL || dst == NULL || ops == NULL || (dst->family != 4 && dst->family != 6))
		return SV_E_INVAL;
	sv_ip_to_lwip(dst, &ip);
	if (!sv_stack_can_reach(&ip))
		return -ENETUNREACH;
	struct sv_tcpconn *c = calloc(1, sizeof *c);
	if (c == NULL)
		return SV_E_NOMEM;
	struct tcp_pcb *pcb = tcp_new_ip_type(IP_GET_TYPE(&ip));
	if (pcb == NULL) {
		free(c);
		return SV_E_NOMEM;
	}
	/* lwIP starts with a 3 s RTO and keeps it for SYNs; a lost SYN (a full listen
	 * queue, a dropped frame) then costs 3 s. Start at 1 s as Linux does (RFC 6298). */
	pcb->rto = 1000 / TCP_SLOW_INTERVAL;
	c->ops = ops;
	c->arg = arg;
	c->id = next_id++;
	c->state = CONN_CONNECTING;
	c->peer_ip = *dst;
	c->peer_port = port;
	c->deadline = sys_now() + (timeout_ms ? timeout_ms : CONNECT_TIMEOUT_DEFAULT_MS);
	attach(c, pcb);

	trim_time_wait();
	/* Our port instead of tcp_new_port()'s walk over all pcbs (netstack/ports.h). Set
	 * without tcp_bind: tcp_connect takes a pcb's local port as it is (no SOF_REUSEADDR:
	 * no check), and the pcb is on the active list, under this port, once it returns. */
	pcb->local_port = sv_ports_pick();
	/* 0: every port is taken; lwIP's own search would find none either */
	err_t e = pcb->local_port != 0 ? tcp_connect(pcb, &ip, port, on_connected) : ERR_BUF;
	if (e != ERR_OK) {
		detach(c);
		if (tcp_close(pcb) != ERR_OK)
			tcp_abort(pcb);
		free(c);
		return map_connect_err(e);
	}
	log_debug("conn %u: connecting to port %u", c->id, (unsigned)port);
	*out = c;
	return 0;
}

/* see tcpconn.h */
int
sv_tcpconn_peek(struct sv_tcpconn *c, struct sv_iov *iov, int max)
{
	int n = 0;
	for (unsigned i = 0; i < c->rxq_count && n < max; i++) {
		for (struct pbuf *q = c->rxq[(c->rxq_head + i) % c->rxq_cap]; q && n < max;
			q = q->next) {
			if (q->len == 0)
				continue;
			iov[n].base = q->payload;
			iov[n].len = q->len;
			n++;
		}
	}
	return n;
}

/* see tcpconn.h */
size_t
sv_tcpconn_pending(const struct sv_tcpconn *c)
{
	return c->rx_bytes;
}

/* see tcpconn.h */
void
sv_tcpconn_consume(struct sv_tcpconn *c, size_t n)
{
	size_t done = 0;

	if (n > c->rx_bytes)
		n = c->rx_bytes;
	while (done < n) {
		struct pbuf *h = c->rxq[c->rxq_head];
		size_t left = n - done;
		if (left >= h->tot_len) {
			done += h->tot_len;
			pbuf_free(h);
			c->rxq_head = (c->rxq_head + 1) % c->rxq_cap;
			c->rxq_count--;
		} else {
			c->rxq[c->rxq_head] = pbuf_free_header(h, (u16_t)left);
			done += left;
		}
	}
	c->rx_bytes -= done;
	if (c->rxq_count == 0)
		c->rxq_head = 0;
	size_t limit = c->rb.limit;
	reopen_window(c, sv_rxbudget_consume(&budget, &c->rb, done, sys_now()));
	if (c->rb.limit != limit)
		log_debug("conn %u: receive window %zu KiB", c->id, c->rb.limit / 1024);
	owe_update(c);
	budget_log();
	maybe_post_end(c);
}

static int
unwritable_err(const struct sv_tcpconn *c)
{
	if (c->err)
		return c->err;
	if (c->state == CONN_CONNECTING)
		return -ENOTCONN;
	return -EPIPE; /* shut down by us, or the connection ended normally */
}

/* see tcpconn.h */
long
sv_tcpconn_write(struct sv_tcpconn *c, const void *p, size_t n)
{
	const uint8_t *b = p;
	size_t done = 0;

	if (c->pcb == NULL || c->state != CONN_OPEN || c->tx_shut)
		return unwritable_err(c);
	while (done < n) {
		size_t room = write_room(c->pcb);
		size_t k = n - done;
		if (k > room)
			k = room;
		if (k > 0xFFFF)
			k = 0xFFFF;
		if (k == 0)
			break;
		u8_t flags = TCP_WRITE_FLAG_COPY;
		if (done + k < n)
			flags |= TCP_WRITE_FLAG_MORE;
		err_t e = tcp_write(c->pcb, b + done, (u16_t)k, flags);
		while (e == ERR_MEM && k > tcp_mss(c->pcb)) {
			/* the segment estimate was off (small peer window): try less */
			k /= 2;
			e = tcp_write(c->pcb, b + done, (u16_t)k, flags);
		}
		if (e != ERR_OK) {
			if (e != ERR_MEM && done == 0)
				return -EPIPE;
			break;
		}
		done += k;
	}
	c->tx_queued += done;
	tx_total += done;
	if (done > 0)
		mark_dirty(c);
	if (done < n)
		c->blocked = true;
	return (long)done;
}

/* see tcpconn.h */
int
sv_tcpconn_shutdown(struct sv_tcpconn *c)
{
	if (c->tx_shut)
		return 0;
	if (c->pcb == NULL || c->state != CONN_OPEN)
		return unwritable_err(c);
	err_t e = tcp_shutdown(c->pcb, 0, 1); /* queues FIN after the data and sends */
	if (e != ERR_OK)
		return e == ERR_MEM ? SV_E_NOMEM : -ENOTCONN;
	c->tx_shut = true;
	c->blocked = false;
	if (c->got_fin)
		detach(c); /* LAST_ACK: ERR_CLSD would only tell us what we know */
	return 0;
}

static void
end_conn(struct sv_tcpconn *c, bool reset)
{
	if (c == NULL || c->closed)
		return;
	c->closed = true;
	c->events = 0;
	bool unread = c->rx_bytes > 0;
	struct tcp_pcb *pcb = detach(c);
	if (pcb) {
		/* tcp_close sends RST itself when the window is not at TCP_WND; be explicit:
		 * RST when asked or when the user leaves data unread, else FIN. A window we
		 * kept small (or credit the budget withheld) is not unread data. */
		if (!reset && !unread && pcb->state != LISTEN)
			pcb->rcv_wnd = TCP_WND_MAX(pcb);
		if (reset || unread || tcp_close(pcb) != ERR_OK)
			tcp_abort(pcb);
	}
	rxq_clear(c);
	if (!c->in_dispatch)
		conn_free(c);
}

/* see tcpconn.h */
void
sv_tcpconn_close(struct sv_tcpconn *c)
{
	end_conn(c, false);
}

/* see tcpconn.h */
void
sv_tcpconn_abort(struct sv_tcpconn *c)
{
	end_conn(c, true);
}

/* see tcpconn.h */
bool
sv_tcpconn_local(const struct sv_tcpconn *c, struct sv_ip *ip, uint16_t *port)
{
	if (c->local_port == 0)
		return false;
	if (ip)
		*ip = c->local_ip;
	if (port)
		*port = c->local_port;
	return true;
}

/* see tcpconn.h */
bool
sv_tcpconn_peer(const struct sv_tcpconn *c, struct sv_ip *ip, uint16_t *port)
{
	if (c->peer_port == 0)
		return false;
	if (ip)
		*ip = c->peer_ip;
	if (port)
		*port = c->peer_port;
	return true;
}

/* see tcpconn.h */
void
sv_tcpconn_set_ops(struct sv_tcpconn *c, const struct sv_tcpconn_ops *ops, void *arg)
{
	if (c == NULL || ops == NULL || c->closed)
		return;
	c->ops = ops;
	c->arg = arg;
	if (c->events != 0 && !c->in_dispatch)
		sv_stack_defer(&c->defer, dispatch);
}

/* --- accepted connections (tcplisten.c) --------------------------------------------- */

/* see tcpconn_internal.h */
struct sv_tcpconn *
sv_tcpconn_wrap_accepted(struct tcp_pcb *pcb)
{
	struct sv_tcpconn *c = calloc(1, sizeof *c);
	if (c == NULL)
		return NULL;
	c->id = next_id++;
	c->state = CONN_OPEN;
	sv_ip_from_lwip(&pcb->local_ip, &c->local_ip);
	c->local_port = pcb->local_port;
	sv_ip_from_lwip(&pcb->remote_ip, &c->peer_ip);
	c->peer_port = pcb->remote_port;
	attach(c, pcb);
	window_start(c, pcb);
	log_debug("conn %u: accepted on port %u from port %u", c->id, (unsigned)c->local_port,
		(unsigned)c->peer_port);
	return c;
}

/* see tcpconn_internal.h */
struct tcp_pcb *
sv_tcpconn_pcb(const struct sv_tcpconn *c)
{
	return c->pcb;
}

/* see tcpconn_internal.h */
bool
sv_tcpconn_is_gone(const struct sv_tcpconn *c)
{
	return c->err != 0 && c->rx_bytes == 0;
}
