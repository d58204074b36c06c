/*
 * netstack/ackmerge: which frames count as pure ACKs, and which queued ACKs a newer one
 * replaces (pure functions; frames built here).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "netstack/ackmerge.h"
#include "support/wire.h"

struct spec {
	int family;               /* 4 or 6 */
	uint16_t sport, dport;
	uint32_t seq, ack;
	uint16_t win;
	uint8_t flags;            /* TCP flags; 0x10 = ACK */
	size_t payload;
	unsigned n_sack;
	uint32_t sack[4][2];
	bool ts;                  /* NOP NOP timestamp */
	const uint8_t *raw_opts;  /* instead of the above */
	size_t raw_len;
};

struct frame {
	uint8_t b[1518];
	size_t len;
};

static struct spec
ack4(uint32_t ack, uint16_t win)
{
	struct spec s = { .family = 4, .sport = 49152, .dport = 80, .seq = 1, .ack = ack,
		.win = win, .flags = 0x10 };
	return s;
}

static void
build(const struct spec *s, struct frame *f)
{
	uint8_t opts[40];
	size_t ol = 0;

	memset(f, 0, sizeof *f);
	if (s->raw_opts) {
		memcpy(opts, s->raw_opts, s->raw_len);
		ol = s->raw_len;
	} else {
		if (s->ts) {
			memcpy(opts, (uint8_t[]){ 1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2 }, 12);
			ol = 12;
		}
		if (s->n_sack) {
			opts[ol++] = 1;
			opts[ol++] = 1;
			opts[ol++] = 5;
			opts[ol++] = (uint8_t)(2 + 8 * s->n_sack);
			for (unsigned i = 0; i < s->n_sack; i++, ol += 8) {
				put32(opts + ol, s->sack[i][0]);
				put32(opts + ol + 4, s->sack[i][1]);
			}
		}
	}
	size_t tcplen = 20 + ol + s->payload;
	uint8_t *ip = f->b + 14;
	uint8_t *tcp;
	memcpy(f->b, (uint8_t[]){ 2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2 }, 12);
	if (s->family == 4) {
		put16(f->b + 12, 0x0800);
		ip[0] = 0x45;
		put16(ip + 2, (unsigned)(20 + tcplen));
		put16(ip + 6, 0x4000); /* DF */
		ip[8] = 64;
		ip[9] = 6;
		memcpy(ip + 12, (uint8_t[]){ 10, 77, 0, 100, 10, 77, 0, 1 }, 8);
		tcp = ip + 20;
	} else {
		put16(f->b + 12, 0x86dd);
		ip[0] = 0x60;
		put16(ip + 4, (unsigned)tcplen);
		ip[6] = 6;
		ip[7] = 64;
		ip[8] = 0xfd;
		ip[23] = 2;
		ip[24] = 0xfd;
		ip[39] = 1;
		tcp = ip + 40;
	}
	put16(tcp, s->sport);
	put16(tcp + 2, s->dport);
	put32(tcp + 4, s->seq);
	put32(tcp + 8, s->ack);
	tcp[12] = (uint8_t)(((20 + ol) / 4) << 4);
	tcp[13] = s->flags;
	put16(tcp + 14, s->win);
	memcpy(tcp + 20, opts, ol);
	f->len = (size_t)(tcp - f->b) + tcplen;
}

static bool
parses(const struct spec *s, struct sv_pure_ack *out)
{
	struct frame f;
	struct sv_pure_ack tmp;
	build(s, &f);
	return sv_ackmerge_parse(f.b, f.len, out ? out : &tmp);
}

/* --- the queue, recording what is drained ------------------------------------------- */

static struct sv_ackq Q;
static struct {
	uint32_t ack[SV_ACKQ_MAX];
	uint16_t win[SV_ACKQ_MAX];
	uint16_t sport[SV_ACKQ_MAX];
	size_t n;
} OUT;

static void
record(void *arg, const uint8_t *frame, size_t len)
{
	struct sv_pure_ack a;
	(void)arg;
	assert_true(sv_ackmerge_parse(frame, len, &a));
	assert_true(OUT.n < SV_ACKQ_MAX);
	OUT.ack[OUT.n] = a.ack;
	OUT.win[OUT.n] = a.win;
	OUT.sport[OUT.n] = a.sport;
	OUT.n++;
}

static int
setup(void **state)
{
	(void)state;
	sv_ackq_init(&Q);
	memset(&OUT, 0, sizeof OUT);
	return 0;
}

static void
offer(const struct spec *s)
{
	struct frame f;
	build(s, &f);
	assert_true(sv_ackq_offer(&Q, f.b, f.len));
}

static void
drain(void)
{
	sv_ackq_drain(&Q, record, NULL);
	assert_int_equal(sv_ackq_count(&Q), 0);
}

/* --- parse ------------------------------------------------------------------------- */

static void
parse_reads_ipv4_and_ipv6_pure_acks(void **state)
{
	struct sv_pure_ack a;
	(void)state;
	struct spec s = ack4(0x01020304, 0x4000);
	assert_true(parses(&s, &a));
	assert_int_equal(a.family, 4);
	assert_int_equal(a.sport, 49152);
	assert_int_equal(a.dport, 80);
	assert_int_equal(a.seq, 1);
	assert_int_equal(a.ack, 0x01020304);
	assert_int_equal(a.win, 0x4000);
	assert_int_equal(a.n_sack, 0);
	s.family = 6;
	s.ts = true;
	s.n_sack = 2;
	s.sack[0][0] = 100;
	s.sack[0][1] = 200;
	s.sack[1][0] = 300;
	s.sack[1][1] = 400;
	assert_true(parses(&s, &a));
	assert_int_equal(a.family, 6);
	assert_int_equal(a.n_sack, 2);
	assert_int_equal(a.sack[1][0], 300);
	assert_int_equal(a.sack[1][1], 400);
}

static void
parse_rejects_anything_but_a_pure_ack(void **state)
{
	(void)state;
	static const uint8_t flags[] = { 0x18 /* PSH */, 0x11 /* FIN */, 0x12 /* SYN */,
		0x14 /* RST */, 0x04, 0x30 /* URG */, 0x50 /* ECE */, 0x90 /* CWR */, 0x00 };
	for (size_t i = 0; i < sizeof flags; i++) {
		struct spec s = ack4(1000, 100);
		s.flags = flags[i];
		assert_false(parses(&s, NULL));
	}
	struct spec s = ack4(1000, 100);
	s.payload = 1;
	assert_false(parses(&s, NULL));
	s.family = 6;
	assert_false(parses(&s, NULL));
	/* MSS and window-scale options: not what an ACK carries */
	s = ack4(1000, 100);
	s.raw_opts = (const uint8_t[]){ 2, 4, 5, 0xb4 };
	s.raw_len = 4;
	assert_false(parses(&s, NULL));
	s.raw_opts = (const uint8_t[]){ 1, 3, 3, 7 };
	assert_false(parses(&s, NULL));
	/* option running past the header */
	s.raw_opts = (const uint8_t[]){ 1, 1, 8, 10 };
	assert_false(parses(&s, NULL));
	/* EOL then padding is fine */
	s.raw_opts = (const uint8_t[]){ 1, 0, 9, 9 };
	assert_true(parses(&s, NULL));
}

static void
parse_rejects_ip_options_fragments_and_short_frames(void **state)
{
	struct frame f;
	struct sv_pure_ack a;
	(void)state;
	struct spec s = ack4(1000, 100);
	build(&s, &f);
	assert_true(sv_ackmerge_parse(f.b, f.len, &a));
	for (size_t n = 0; n < f.len; n++)
		assert_false(sv_ackmerge_parse(f.b, n, &a));
	f.b[14 + 6] |= 0x20; /* MF */
	assert_false(sv_ackmerge_parse(f.b, f.len, &a));
	build(&s, &f);
	f.b[14 + 7] = 1; /* fragment offset */
	assert_false(sv_ackmerge_parse(f.b, f.len, &a));
	build(&s, &f);
	f.b[14] = 0x46; /* IP options */
	assert_false(sv_ackmerge_parse(f.b, f.len, &a));
	build(&s, &f);
	f.b[14 + 9] = 17; /* UDP */
	assert_false(sv_ackmerge_parse(f.b, f.len, &a));
	build(&s, &f);
	f.b[12] = 0x08;
	f.b[13] = 0x06; /* ARP */
	assert_false(sv_ackmerge_parse(f.b, f.len, &a));
	s.family = 6;
	build(&s, &f);
	assert_true(sv_ackmerge_parse(f.b, f.len, &a));
	f.b[14 + 6] = 0; /* hop-by-hop header first */
	assert_false(sv_ackmerge_parse(f.b, f.len, &a));
}

/* --- supersedes -------------------------------------------------------------------- */

static bool
supersedes(const struct spec *n, const struct spec *o)
{
	struct sv_pure_ack a, b;
	assert_true(parses(n, &a));
	assert_true(parses(o, &b));
	return sv_ackmerge_supersedes(&a, &b);
}

static void
newer_ack_or_window_supersedes_older(void **state)
{
	(void)state;
	struct spec o = ack4(1000, 100), n = ack4(2000, 50);
	assert_true(supersedes(&n, &o));
	assert_false(supersedes(&o, &n)); /* older ack */
	n = ack4(1000, 101);
	assert_true(supersedes(&n, &o)); /* window update */
	n = ack4(1000, 100);
	assert_false(supersedes(&n, &o)); /* identical: a duplicate */
	n = ack4(1000, 99);
	assert_false(supersedes(&n, &o));
	/* sequence space wraps */
	o = ack4(0xffffff00u, 100);
	n = ack4(0x100, 100);
	assert_true(supersedes(&n, &o));
	assert_false(supersedes(&o, &n));
}

static void
other_connections_never_supersede(void **state)
{
	(void)state;
	struct spec o = ack4(1000, 100), n = ack4(2000, 100);
	n.sport++;
	assert_false(supersedes(&n, &o));
	n = ack4(2000, 100);
	n.dport++;
	assert_false(supersedes(&n, &o));
	n = ack4(2000, 100);
	n.family = 6;
	assert_false(supersedes(&n, &o));
	n = ack4(2000, 100);
	n.seq = 2; /* we sent data in between */
	assert_false(supersedes(&n, &o));
}

static void
sack_information_must_be_kept(void **state)
{
	(void)state;
	struct spec o = ack4(1000, 100);
	o.n_sack = 1;
	o.sack[0][0] = 5000;
	o.sack[0][1] = 6000;
	struct spec n = o;
	n.sack[0][1] = 7000; /* grown block */
	assert_true(supersedes(&n, &o));
	assert_false(supersedes(&o, &n)); /* shrunk */
	n.sack[0][0] = 7000;
	n.sack[0][1] = 8000; /* other block only: o's would be lost */
	assert_false(supersedes(&n, &o));
	n.n_sack = 2;
	n.sack[1][0] = 5000;
	n.sack[1][1] = 6000;
	assert_true(supersedes(&n, &o));
	n = ack4(6000, 100); /* hole filled: the cumulative ack covers the block */
	assert_true(supersedes(&n, &o));
	n = ack4(5500, 100); /* half of it: not enough */
	assert_false(supersedes(&n, &o));
	n = o; /* same blocks, same everything */
	assert_false(supersedes(&n, &o));
}

/* --- the queue --------------------------------------------------------------------- */

static void
queue_keeps_only_the_newest_ack_of_a_run(void **state)
{
	(void)state;
	for (uint32_t k = 1; k <= 20; k++) {
		struct spec s = ack4(1000 * k, 100);
		offer(&s);
	}
	drain();
	assert_int_equal(OUT.n, 1);
	assert_int_equal(OUT.ack[0], 20000);
	assert_int_equal(Q.merged, 19);
}

static void
queue_keeps_connections_apart_and_in_order(void **state)
{
	(void)state;
	struct spec a = ack4(1000, 100), b = ack4(5000, 100);
	b.sport = 1;
	offer(&a);
	offer(&b);
	a.ack = 2000;
	offer(&a);
	b.ack = 6000;
	offer(&b);
	drain();
	assert_int_equal(OUT.n, 2);
	assert_int_equal(OUT.sport[0], 49152);
	assert_int_equal(OUT.ack[0], 2000);
	assert_int_equal(OUT.sport[1], 1);
	assert_int_equal(OUT.ack[1], 6000);
}

static void
queue_refuses_other_frames_and_stays_untouched(void **state)
{
	struct frame f;
	(void)state;
	struct spec a = ack4(1000, 100);
	offer(&a);
	struct spec d = ack4(2000, 100);
	d.payload = 100;
	build(&d, &f);
	assert_false(sv_ackq_offer(&Q, f.b, f.len));
	d = ack4(2000, 100);
	d.flags = 0x11; /* FIN */
	build(&d, &f);
	assert_false(sv_ackq_offer(&Q, f.b, f.len));
	assert_int_equal(sv_ackq_count(&Q), 1);
	drain();
	assert_int_equal(OUT.n, 1);
	assert_int_equal(OUT.ack[0], 1000);
}

static void
queue_keeps_the_first_three_duplicates(void **state)
{
	(void)state;
	struct spec s = ack4(1000, 100);
	offer(&s); /* the original */
	s.n_sack = 1;
	s.sack[0][0] = 2000;
	for (uint32_t k = 1; k <= 8; k++) { /* out-of-order segments: growing SACK block */
		s.sack[0][1] = 2000 + 1000 * k;
		offer(&s);
	}
	drain();
	/* the original, three duplicates, and the newest standing for the rest */
	assert_int_equal(OUT.n, 5);
	for (size_t i = 0; i < OUT.n; i++)
		assert_int_equal(OUT.ack[i], 1000);
	assert_int_equal(Q.merged, 4);
}

static void
queue_never_merges_identical_duplicates(void **state)
{
	(void)state;
	struct spec s = ack4(1000, 100);
	for (int k = 0; k < 10; k++)
		offer(&s);
	drain();
	assert_int_equal(OUT.n, 10);
}

static void
queue_window_update_replaces_the_data_ack(void **state)
{
	(void)state;
	struct spec s = ack4(1000, 100);
	offer(&s);
	s.win = 200;
	offer(&s);
	s.win = 150; /* smaller: kept (not a duplicate either) */
	offer(&s);
	drain();
	assert_int_equal(OUT.n, 2);
	assert_int_equal(OUT.win[0], 200);
	assert_int_equal(OUT.win[1], 150);
}

static void
queue_progress_after_duplicates_keeps_them(void **state)
{
	(void)state;
	struct spec s = ack4(1000, 100);
	s.n_sack = 1;
	s.sack[0][0] = 2000;
	s.sack[0][1] = 3000;
	offer(&s);
	offer(&s); /* first duplicate: protected */
	struct spec n = ack4(3000, 100); /* retransmission filled the hole */
	offer(&n);
	drain();
	assert_int_equal(OUT.n, 3);
	assert_int_equal(OUT.ack[2], 3000);
}

static void
queue_full_refuses(void **state)
{
	struct frame f;
	(void)state;
	for (uint32_t k = 0; k < SV_ACKQ_MAX; k++) {
		struct spec s = ack4(1000, 100); /* identical: none merged */
		offer(&s);
	}
	struct spec s = ack4(2000, 100);
	build(&s, &f);
	assert_false(sv_ackq_offer(&Q, f.b, f.len));
	drain();
	assert_int_equal(OUT.n, SV_ACKQ_MAX);
	assert_true(sv_ackq_offer(&Q, f.b, f.len));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parse_reads_ipv4_and_ipv6_pure_acks),
		cmocka_unit_test(parse_rejects_anything_but_a_pure_ack),
		cmocka_unit_test(parse_rejects_ip_options_fragments_and_short_frames),
		cmocka_unit_test(newer_ack_or_window_supersedes_older),
		cmocka_unit_test(other_connections_never_supersede),
		cmocka_unit_test(sack_information_must_be_kept),
		cmocka_unit_test_setup(queue_keeps_only_the_newest_ack_of_a_run, setup),
		cmocka_unit_test_setup(queue_keeps_connections_apart_and_in_order, setup),
		cmocka_unit_test_setup(queue_refuses_other_frames_and_stays_untouched, setup),
		cmocka_unit_test_setup(queue_keeps_the_first_three_duplicates, setup),
		cmocka_unit_test_setup(queue_never_merges_identical_duplicates, setup),
		cmocka_unit_test_setup(queue_window_update_replaces_the_data_ack, setup),
		cmocka_unit_test_setup(queue_progress_after_duplicates_keeps_them, setup),
		cmocka_unit_test_setup(queue_full_refuses, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
