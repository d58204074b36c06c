/*
 * netstack/tcpconn.c's receive window on the wire, with lwIP itself and hand-made
 * frames on a virtual clock (no sockets): a connection accepted by a listener from a
 * peer that offers window scaling starts with INIT_WND (64 KiB) like one we open, and
 * the window it announces after data arrives stays within it. lwIP's SYN-ACK records a
 * right edge of TCP_WND (4 MiB) although it sends 65535 unscaled; a window made
 * smaller after that must move the recorded edge too, or lwIP keeps announcing 4 MiB
 * and drops what the peer then sends beyond 64 KiB.
 *
 * Out-of-order data is held in lwIP's ooseq queue, one ~1.5 KiB pool pbuf per frame
 * whatever its payload: tiny segments must not hold far more memory than the window
 * the receive budget granted, and full-sized ones must fill it without drops.
 *
 * Also here, as they need the same stack: pure ACKs held during bulk input (stack.c,
 * ACK_HOLD_US), and a connect when every local port is taken.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/addr.h"
#include "core/err.h"
#include "core/log.h"
#include "netstack/stack.h"
#include "netstack/tcpconn.h"
#include "netstack/tcplisten.h"
#include "lwip/ip4_addr.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "lwip/priv/tcp_priv.h" /* tcp_active_pcbs */
#include "lwip/tcp.h"
#include "support/wire.h"

#include "support/vclock.h" /* instead of platform/clock.c */

/* --- harness ------------------------------------------------------------------------ */

#define FRAMES 64
#define LPORT 8080
#define RPORT 40000
#define PEER_ISN 1000u
#define SCALE 7 /* netstack/lwipopts.h TCP_RCV_SCALE */

static const uint8_t MAC[6] = { 0x02, 0x00, 0x5e, 0x10, 0x20, 0x31 };
static const uint8_t PEER_MAC[6] = { 0x52, 0x55, 10, 77, 0, 1 };
static const uint8_t PEER[4] = { 10, 77, 0, 1 };
static const uint8_t ME[4] = { 10, 77, 0, 100 };

static struct {
	uint8_t f[FRAMES][1600];
	size_t len[FRAMES];
	unsigned n;
	unsigned rport, lport; /* the peer's and our port (RPORT, LPORT unless set) */
	bool sack;             /* accept_from's peer offers SACK */
	struct sv_tcpconn *accepted;
} H;

static void
on_output(void *arg, const uint8_t *frame, size_t len)
{
	(void)arg;
	if (H.n < FRAMES && len <= sizeof H.f[0]) {
		memcpy(H.f[H.n], frame, len);
		H.len[H.n++] = len;
	}
}

static const struct sv_stack_ops ops = { .output = on_output };

static void
on_accept(void *arg, struct sv_tcpconn *c)
{
	(void)arg;
	H.accepted = c; /* no set_ops: its data stays queued, unread */
}

static const struct sv_tcplisten_ops listen_ops = { .on_accept = on_accept };

static void
pump(void)
{
	sv_stack_poll();
	sv_stack_flush();
}

/* pump() after the held pure ACKs are due (the hold is under a millisecond). */
static void
pump_due(void)
{
	now_ms += 1;
	pump();
}

static uint32_t
sum16(uint32_t s, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		s += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (n & 1)
		s += (uint32_t)p[n - 1] << 8;
	return s;
}

static uint16_t
fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

/* ARP reply from the peer to us, so lwIP knows its MAC. */
static void
peer_arp(void)
{
	uint8_t f[42] = { 0 };
	memcpy(f, MAC, 6);
	memcpy(f + 6, PEER_MAC, 6);
	put16(f + 12, 0x0806);
	put16(f + 14, 1);
	put16(f + 16, 0x0800);
	f[18] = 6;
	f[19] = 4;
	put16(f + 20, 2);
	memcpy(f + 22, PEER_MAC, 6);
	memcpy(f + 28, PEER, 4);
	memcpy(f + 32, MAC, 6);
	memcpy(f + 38, ME, 4);
	sv_stack_input(f, sizeof f);
}

/* A TCP segment from the peer: flags, seq, ack, window field, options, n payload bytes. */
static void
peer_tcp(uint8_t flags, uint32_t seq, uint32_t ack, const uint8_t *opt, size_t on,
	size_t n)
{
	uint8_t f[1514] = { 0 };
	size_t thl = 20 + on, tot = 20 + thl + n;

	assert_true(on % 4 == 0 && 14 + tot <= sizeof f);
	memcpy(f, MAC, 6);
	memcpy(f + 6, PEER_MAC, 6);
	put16(f + 12, 0x0800);
	uint8_t *ip = f + 14, *t = ip + 20;
	ip[0] = 0x45;
	put16(ip + 2, (unsigned)tot);
	ip[8] = 64;
	ip[9] = 6;
	memcpy(ip + 12, PEER, 4);
	memcpy(ip + 16, ME, 4);
	put16(ip + 10, fold(sum16(0, ip, 20)));
	put16(t, H.rport ? H.rport : RPORT);
	put16(t + 2, H.lport ? H.lport : LPORT);
	put32(t + 4, seq);
	put32(t + 8, ack);
	t[12] = (uint8_t)(thl / 4 << 4);
	t[13] = flags;
	put16(t + 14, 0xffff);
	if (on > 0)
		memcpy(t + 20, opt, on);
	memset(t + thl, 'x', n);
	uint32_t s = sum16(0, ip + 12, 8) + 6 + (uint32_t)(thl + n);
	put16(t + 16, fold(sum16(s, t, thl + n)));
	sv_stack_input(f, 14 + tot);
}

/* The last TCP segment we sent to the peer, or NULL. */
static const uint8_t *
last_tcp_from_us(void)
{
	for (unsigned i = H.n; i-- > 0;) {
		const uint8_t *f = H.f[i];
		if (H.len[i] >= 14 + 40 && f[12] == 0x08 && f[13] == 0x00 && f[23] == 6)
			return f + 14 + (size_t)(f[14] & 15) * 4;
	}
	return NULL;
}

/* The stack, once for all tests: up, addressed, the peer's MAC known. */
static void
stack_up(void)
{
	static bool up;
	ip4_addr_t a, m, g;

	if (up)
		return;
	up = true;
	sv_log_level = SV_LOG_WARN;
	assert_int_equal(sv_stack_init(MAC, &ops, NULL), 0);
	sv_stack_start();
	IP4_ADDR(&a, 10, 77, 0, 100);
	IP4_ADDR(&m, 255, 255, 255, 0);
	IP4_ADDR(&g, 10, 77, 0, 1);
	netif_set_addr(netif_default, &a, &m, &g);
	peer_arp();
	pump();
}

/* Accepts a connection from the peer's port rport to our lport (window scale 7), from
 * a new listener in *l; returns our ISS. Each test uses its own ports: a failed one
 * leaves its listener open. */
static uint32_t
accept_from(struct sv_tcplisten **l, unsigned lport, unsigned rport)
{
	/* MSS 1460, window scale, SACK permitted (the last four bytes; left out unless
	 * H.sack) */
	static const uint8_t syn_opts[] = { 2, 4, 0x05, 0xb4, 1, 3, 3, SCALE, 1, 1, 4, 2 };

	assert_int_equal(sv_tcplisten_open(l, (uint16_t)lport, 4, &listen_ops, NULL), 0);
	H.lport = lport;
	H.rport = rport;
	H.accepted = NULL;
	H.n = 0;
	peer_tcp(0x02, PEER_ISN, 0, syn_opts, H.sack ? 12 : 8, 0);
	pump();
	const uint8_t *t = last_tcp_from_us();
	assert_non_null(t);
	assert_int_equal(t[13], 0x12); /* SYN-ACK */
	uint32_t iss = get32(t + 4);
	peer_tcp(0x10, PEER_ISN + 1, iss + 1, NULL, 0, 0);
	pump();
	assert_non_null(H.accepted);
	return iss;
}

/* Ends a test's accepted connection and its listener. */
static void
hang_up(struct sv_tcplisten *l)
{
	sv_tcpconn_abort(H.accepted);
	sv_tcplisten_close(l);
	pump();
}

/* Pbufs in the out-of-order queue of the pcb talking to the peer's port rport. */
static unsigned
ooseq_pbufs(unsigned rport)
{
	for (struct tcp_pcb *p = tcp_active_pcbs; p != NULL; p = p->next) {
		if (p->remote_port != rport)
			continue;
		unsigned n = 0;
		for (struct tcp_seg *s = p->ooseq; s != NULL; s = s->next)
			n += pbuf_clen(s->p);
		return n;
	}
	fail_msg("no pcb from port %u", rport);
	return 0;
}

static void
accepted_connection_announces_its_first_window_not_tcp_wnd(void **state)
{
	(void)state;
	struct sv_tcplisten *l = NULL;
	static const uint8_t syn_opts[] = { 2, 4, 0x05, 0xb4, 1, 3, 3, SCALE };

	stack_up();
	assert_int_equal(sv_tcplisten_open(&l, LPORT, 4, &listen_ops, NULL), 0);

	H.n = 0;
	peer_tcp(0x02, PEER_ISN, 0, syn_opts, sizeof syn_opts, 0); /* SYN, scale 7 */
	pump();
	const uint8_t *t = last_tcp_from_us();
	assert_non_null(t);
	assert_int_equal(t[13], 0x12); /* SYN-ACK */
	uint32_t iss = get32(t + 4);

	peer_tcp(0x10, PEER_ISN + 1, iss + 1, NULL, 0, 0); /* ACK: established */
	pump();
	assert_non_null(H.accepted);

	/* Two full segments: lwIP acknowledges the second, with its window. */
	H.n = 0;
	peer_tcp(0x18, PEER_ISN + 1, iss + 1, NULL, 0, 1000);
	peer_tcp(0x18, PEER_ISN + 1001, iss + 1, NULL, 0, 1000);
	pump();
	assert_int_equal(sv_tcpconn_pending(H.accepted), 2000);
	t = last_tcp_from_us();
	assert_non_null(t);
	assert_int_equal(get32(t + 8), PEER_ISN + 2001);
	unsigned long wnd = (unsigned long)(t[14] << 8 | t[15]) << SCALE;
	fprintf(stderr, "announced window after 2000 bytes: %lu\n", wnd);
	assert_true(wnd <= 64u * 1024u - 2000u);
	assert_true(wnd >= 60u * 1024u);

	hang_up(l);
}

static void
tiny_out_of_order_segments_hold_memory_in_proportion_to_the_window(void **state)
{
	(void)state;
	struct sv_tcplisten *l = NULL;
	const unsigned rport = RPORT + 1;

	stack_up();
	uint32_t iss = accept_from(&l, LPORT + 1, rport);

	/* 1-byte segments with a gap before each, all inside the first 64 KiB window: one
	 * pool pbuf (~1.5 KiB) each, so 2,000 of them would hold ~3 MiB for 2,000 bytes. */
	for (uint32_t k = 0; k < 2000; k++)
		peer_tcp(0x10, PEER_ISN + 1 + 2 + 2 * k, iss + 1, NULL, 0, 1);
	pump();
	unsigned n = ooseq_pbufs(rport);
	size_t held = (size_t)n * PBUF_POOL_BUFSIZE;
	fprintf(stderr, "out-of-order pbufs after 2000 tiny segments: %u (%zu bytes)\n", n,
		held);
	assert_true(n > 0);
	assert_true(held <= 2u * 64u * 1024u);

	hang_up(l);
}

/* n full segments (1000 bytes) from the peer, starting at seq; returns the next seq. */
static uint32_t
segments(uint32_t seq, uint32_t iss, unsigned n)
{
	for (unsigned i = 0; i < n; i++, seq += 1000)
		peer_tcp(0x18, seq, iss + 1, NULL, 0, 1000);
	return seq;
}

/* Pure TCP ACKs in this test's output since H.n was last reset. */
static unsigned
pure_acks_out(void)
{
	unsigned k = 0;
	for (unsigned i = 0; i < H.n; i++) {
		const uint8_t *f = H.f[i];
		if (H.len[i] < 54 || f[12] != 0x08 || f[13] != 0x00 || f[23] != 6)
			continue;
		unsigned ip_len = (unsigned)(f[16] << 8 | f[17]);
		unsigned thl = (unsigned)(f[14 + 20 + 12] >> 4) * 4u;
		if (f[14 + 20 + 13] == 0x10 && ip_len == 20u + thl)
			k++;
	}
	return k;
}

static void
pure_acks_are_held_merged_and_released_for_a_waiting_sender(void **state)
{
	(void)state;
	struct sv_tcplisten *l = NULL;
	const unsigned rport = RPORT + 3;

	stack_up();
	H.sack = true;
	uint32_t iss = accept_from(&l, LPORT + 3, rport);
	H.sack = false;

	/* Bulk input: four full segments in one loop turn, then two and two more, less
	 * than the hold apart. lwIP acknowledges every second one; none of those ACKs
	 * leaves yet. */
	H.n = 0;
	uint32_t seq = PEER_ISN + 1;
	seq = segments(seq, iss, 4);
	pump();
	assert_int_equal(pure_acks_out(), 0);
	assert_int_equal(sv_stack_sleeptime(), 1); /* wake when they are due */
	for (int turn = 0; turn < 2; turn++) {
		seq = segments(seq, iss, 2);
		pump();
		assert_int_equal(pure_acks_out(), 0);
	}
	/* Due, in a turn that brings two more segments (the sender goes on): one ACK for
	 * all 10,000 bytes. */
	now_ms += 1;
	seq = segments(seq, iss, 2);
	pump();
	assert_int_equal(pure_acks_out(), 1);
	const uint8_t *t = last_tcp_from_us();
	assert_int_equal(get32(t + 8), seq);
	assert_int_equal(sv_stack_sleeptime() > 1, true);

	/* A turn with little input (a handshake, a short reply) is not held back. */
	H.n = 0;
	seq = segments(seq, iss, 2);
	pump();
	assert_int_equal(pure_acks_out(), 1);
	assert_int_equal(get32(last_tcp_from_us() + 8), seq);

	/* Segments after a gap: lwIP answers each with a duplicate ACK and a growing SACK
	 * block. They are held too; then the first four leave (more than the three a
	 * sender counts for fast retransmit), and the newest stands for the other three. */
	H.n = 0;
	uint32_t k;
	for (k = 1; k <= 6; k++)
		peer_tcp(0x18, seq + 1000 * k, iss + 1, NULL, 0, 1000);
	pump();
	assert_int_equal(pure_acks_out(), 0);
	now_ms += 1;
	peer_tcp(0x18, seq + 1000 * k, iss + 1, NULL, 0, 1000);
	pump();
	assert_int_equal(pure_acks_out(), 5);
	t = last_tcp_from_us();
	assert_int_equal(get32(t + 8), seq); /* still acknowledges up to the gap */
	assert_true((t[12] >> 4) * 4 >= 20 + 12); /* with options: the SACK block */

	/* The gap is filled, and three times the sender sends a burst and then waits:
	 * each time the held ACK falls due with nothing arrived meanwhile. After the
	 * third, ACKs leave at the end of every turn for a while (a sender that waits for
	 * ACKs must not wait for the hold); 250 ms later they are held again. */
	for (int burst = 0; burst < 3; burst++) {
		H.n = 0;
		if (burst == 0) { /* the gap, and then three more */
			peer_tcp(0x18, seq, iss + 1, NULL, 0, 1000);
			seq = segments(seq + 1000 * (k + 1), iss, 3);
		} else {
			seq = segments(seq, iss, 4);
		}
		pump();
		assert_int_equal(pure_acks_out(), 0);
		pump_due();
		assert_int_equal(pure_acks_out(), 1);
		assert_int_equal(get32(last_tcp_from_us() + 8), seq);
	}
	/* for 250 ms */
	H.n = 0;
	seq = segments(seq, iss, 4);
	pump();
	assert_int_equal(pure_acks_out(), 1);
	now_ms += 248;
	pump(); /* lwIP's IPv6 timers send frames, which would release held ACKs */
	H.n = 0;
	seq = segments(seq, iss, 4);
	pump();
	assert_int_equal(pure_acks_out(), 1);
	now_ms += 2;
	pump(); /* lwIP's IPv6 timers send frames, which would release held ACKs */
	H.n = 0;
	seq = segments(seq, iss, 4);
	pump();
	assert_int_equal(pure_acks_out(), 0);
	pump_due();
	assert_int_equal(pure_acks_out(), 1);
	assert_int_equal(get32(last_tcp_from_us() + 8), seq);

	hang_up(l);
}

static void
nop_cb(void *arg)
{
	(void)arg;
}

static void
nop_err(void *arg, int err)
{
	(void)arg;
	(void)err;
}

static void
connect_without_a_free_port_says_so(void **state)
{
	static const struct sv_tcpconn_ops cops = { nop_cb, nop_cb, nop_cb, nop_cb, nop_err };
	const unsigned first = 0xc000u, count = 0xffffu - first;
	struct tcp_pcb **pcbs = calloc(count, sizeof *pcbs);
	struct sv_tcpconn *c = NULL;
	struct sv_ip peer;

	(void)state;
	stack_up();
	assert_non_null(pcbs);
	assert_int_equal(sv_ip_parse("10.77.0.1", &peer), 0);
	for (unsigned i = 0; i < count; i++) {
		pcbs[i] = tcp_new();
		assert_non_null(pcbs[i]);
		if (tcp_bind(pcbs[i], IP4_ADDR_ANY, (u16_t)(first + i)) != ERR_OK) {
			tcp_close(pcbs[i]); /* an earlier test's connection holds it */
			pcbs[i] = NULL;
		}
	}
	/* every local port is taken: the error says so, not "out of memory" */
	assert_int_equal(sv_tcpconn_connect(&c, &peer, 80, 1000, &cops, NULL), SV_E_NOPORT);
	assert_null(c);
	assert_non_null(strstr(sv_strerror(SV_E_NOPORT), "no free local port"));
	for (unsigned i = 0; i < count; i++)
		if (pcbs[i] != NULL)
			tcp_close(pcbs[i]);
	free(pcbs);
	/* and with ports free again, the connect goes out */
	assert_int_equal(sv_tcpconn_connect(&c, &peer, 80, 1000, &cops, NULL), 0);
	sv_tcpconn_abort(c);
	pump();
}

static void
full_out_of_order_segments_fill_the_window_without_drops(void **state)
{
	(void)state;
	struct sv_tcplisten *l = NULL;
	const unsigned rport = RPORT + 2;

	stack_up();
	uint32_t iss = accept_from(&l, LPORT + 2, rport);

	/* A lost first segment, then 43 full ones: 44 x 1460 = 64,240 bytes <= 64 KiB. */
	for (uint32_t k = 1; k <= 43; k++)
		peer_tcp(0x10, PEER_ISN + 1 + 1460 * k, iss + 1, NULL, 0, 1460);
	pump();
	assert_int_equal(ooseq_pbufs(rport), 43);
	peer_tcp(0x18, PEER_ISN + 1, iss + 1, NULL, 0, 1460); /* the hole is filled */
	pump();
	assert_int_equal(sv_tcpconn_pending(H.accepted), 44 * 1460);

	hang_up(l);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(accepted_connection_announces_its_first_window_not_tcp_wnd),
		cmocka_unit_test(tiny_out_of_order_segments_hold_memory_in_proportion_to_the_window),
		cmocka_unit_test(full_out_of_order_segments_fill_the_window_without_drops),
		cmocka_unit_test(connect_without_a_free_port_says_so),
		cmocka_unit_test(pure_acks_are_held_merged_and_released_for_a_waiting_sender),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
