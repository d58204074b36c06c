/*
 * Fuzz target for netstack/ackmerge: the pure-ACK parser and the coalescing queue.
 *
 * Input: records. A tag byte below 0x80 is the length of a raw frame that follows. A tag
 * with the top bit set builds a TCP ACK from the next 8 bytes: connection (tag & 3),
 * flags (ACK unless byte 0 bit 7), ack step (bytes 1-2, signed), window (3-4), SACK block
 * count (5 & 7, capped at 4), SACK base step (6-7). Frames go through the queue the way
 * stack.c uses it (a refused frame: drain, then send it directly).
 *
 * Checked: the frames sent are a subsequence of the frames offered, in order; every frame
 * that is not a pure ACK is sent; every frame left out is a pure ACK and a later sent ACK
 * of its connection acknowledges at least as much.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "netstack/ackmerge.h"
#include "support/wire.h"

#define MAX_FRAMES 2048u

struct rec {
	uint8_t b[SV_ACKQ_SLOT];
	size_t len;
};

static struct rec in[MAX_FRAMES], out[MAX_FRAMES];
static size_t n_in, n_out;
static struct sv_ackq Q;

static void
sent(void *arg, const uint8_t *frame, size_t len)
{
	(void)arg;
	if (n_out >= MAX_FRAMES || len > SV_ACKQ_SLOT)
		abort();
	memcpy(out[n_out].b, frame, len);
	out[n_out].len = len;
	n_out++;
}

/* A TCP ACK over IPv4 from the 8 parameter bytes p; acks[] keeps per-connection state. */
static size_t
synth(uint8_t tag, const uint8_t *p, uint32_t acks[4], uint8_t *f)
{
	unsigned conn = tag & 3u;
	unsigned nsack = p[5] & 7u;
	if (nsack > 4)
		nsack = 4;
	acks[conn] += (uint32_t)(int32_t)(int16_t)((p[1] << 8) | p[2]);
	uint32_t base = acks[conn] + (uint32_t)((p[6] << 8) | p[7]);
	size_t ol = nsack ? 4 + 8 * nsack : 0;
	size_t len = 14 + 20 + 20 + ol;

	memset(f, 0, len);
	put16(f + 12, 0x0800);
	uint8_t *ip = f + 14, *tcp = f + 34;
	ip[0] = 0x45;
	put16(ip + 2, (unsigned)(40 + ol));
	ip[9] = 6;
	ip[15] = 1;
	ip[19] = 2;
	put16(tcp, 1000 + conn);
	put16(tcp + 2, 80);
	put32(tcp + 4, 7);
	put32(tcp + 8, acks[conn]);
	tcp[12] = (uint8_t)(((20 + ol) / 4) << 4);
	tcp[13] = (p[0] & 0x80) ? (uint8_t)(p[0] & 0x3f) : 0x10;
	put16(tcp + 14, (unsigned)((p[3] << 8) | p[4]));
	if (nsack) {
		uint8_t *o = tcp + 20;
		o[0] = 1;
		o[1] = 1;
		o[2] = 5;
		o[3] = (uint8_t)(2 + 8 * nsack);
		for (unsigned i = 0; i < nsack; i++) {
			put32(o + 4 + 8 * i, base + 3000u * i);
			put32(o + 8 + 8 * i, base + 3000u * i + 1460u * (1u + (p[5] >> 3)));
		}
	}
	return len;
}

static void
offer(const uint8_t *f, size_t len)
{
	if (n_in >= MAX_FRAMES)
		return;
	memcpy(in[n_in].b, f, len);
	in[n_in].len = len;
	n_in++;
	if (sv_ackq_offer(&Q, f, len))
		return;
	sv_ackq_drain(&Q, sent, NULL);
	sent(NULL, f, len);
}

static bool
same(const struct rec *a, const struct rec *b)
{
	return a->len == b->len && memcmp(a->b, b->b, a->len) == 0;
}

static void
check(void)
{
	size_t j = 0;
	for (size_t i = 0; i < n_in; i++) {
		if (j < n_out && same(&in[i], &out[j])) {
			j++;
			continue;
		}
		/* left out: must be a pure ACK made redundant by a later sent one */
		struct sv_pure_ack a, b;
		if (!sv_ackmerge_parse(in[i].b, in[i].len, &a))
			abort();
		bool covered = false;
		for (size_t k = j; k < n_out && !covered; k++)
			covered = sv_ackmerge_parse(out[k].b, out[k].len, &b) &&
				(sv_ackmerge_supersedes(&b, &a) ||
					(b.sport == a.sport && (int32_t)(b.ack - a.ack) > 0 &&
						b.seq == a.seq));
		if (!covered)
			abort();
	}
	if (j != n_out) /* something sent that was never offered, or out of order */
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t f[SV_ACKQ_SLOT];
	uint32_t acks[4] = { 1000, 1000, 1000, 1000 };
	size_t i = 0;

	sv_ackq_init(&Q);
	n_in = n_out = 0;
	while (i < size) {
		uint8_t tag = data[i++];
		if (tag & 0x80) {
			if (size - i < 8)
				break;
			offer(f, synth(tag, data + i, acks, f));
			i += 8;
		} else {
			size_t len = tag;
			if (size - i < len)
				len = size - i;
			offer(data + i, len);
			i += len;
		}
	}
	sv_ackq_drain(&Q, sent, NULL);
	check();
	return 0;
}
