/*
 * Outgoing frame queue with pure-ACK coalescing (pure: no lwIP, no I/O).
 *
 * The stack holds back the pure TCP ACKs lwIP sends and hands them to the tunnel from
 * sv_stack_flush() once they are due (stack.c, ACK_HOLD_US); any other frame first sends
 * what is held, then itself, so frames keep their order. A held ACK that a newer one of
 * the same connection makes redundant is dropped (the newer one stays at its own, later
 * position): the sender then sees one cumulative ACK per hold instead of one per two
 * segments, and the server handles far fewer upstream frames.
 *
 * A "pure ACK" here is: IPv4 without options or fragmentation, or IPv6 with TCP as the
 * first next header; TCP flags exactly ACK; no payload; options only NOP, EOL, timestamp
 * and SACK. The newer supersedes the older when the 4-tuple and the sequence number are
 * equal, the newer acknowledges at least as much, every SACK block of the older is
 * acknowledged or covered by a block of the newer (the sender loses no information), and
 * the newer says something new: a larger ack, a larger window, or more SACK information.
 *
 * Duplicate ACKs are what a sender counts to start fast retransmit (three of them). So the
 * first four ACKs with the same ack number that are queued together for a connection are
 * never removed (the original and three duplicates); only later ones are merged into each
 * other. Identical ACKs (no new information) are never merged.
 */
#ifndef SV_NETSTACK_ACKMERGE_H
#define SV_NETSTACK_ACKMERGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sv_pure_ack {
	uint8_t family; /* 4 or 6 */
	uint8_t src[16], dst[16];
	uint16_t sport, dport;
	uint32_t seq, ack;
	uint16_t win; /* raw header field (scaled by the connection's shift) */
	uint8_t n_sack;
	uint32_t sack[4][2]; /* left, right edges */
};

/* True when frame (len bytes, Ethernet) is a mergeable pure ACK no longer than
 * SV_ACKQ_SLOT; then *out is set. */
bool sv_ackmerge_parse(const uint8_t *frame, size_t len, struct sv_pure_ack *out);
/* True when newer makes older redundant (same connection; see above; the duplicate
 * rule is the queue's). */
bool sv_ackmerge_supersedes(const struct sv_pure_ack *newer, const struct sv_pure_ack *older);

/* The longest pure ACK: Ethernet + IPv6 + TCP with 40 bytes of options. */
#define SV_ACKQ_SLOT 128u
#define SV_ACKQ_MAX 256u

struct sv_ackq {
	struct sv_ackq_slot {
		uint8_t frame[SV_ACKQ_SLOT];
		uint16_t len;
		bool dead; /* superseded: skipped when draining */
	} slots[SV_ACKQ_MAX];
	/* one entry per connection with a live queued ACK (plus kept duplicates) */
	struct sv_ackq_ack {
		uint16_t slot;
		uint16_t rank; /* earlier live ACKs of the flow with the same ack, queued */
		struct sv_pure_ack a;
	} acks[SV_ACKQ_MAX];
	size_t n, n_acks;
	uint64_t merged; /* ACKs removed (statistics) */
};

typedef void sv_ackq_out_fn(void *arg, const uint8_t *frame, size_t len);

void sv_ackq_init(struct sv_ackq *q);

/* Queue frame if it is a pure ACK and there is room, removing a queued ACK it makes
 * redundant; returns true. Otherwise returns false and queues nothing: the caller drains
 * the queue and then sends the frame itself, so that order is kept. frame is borrowed. */
bool sv_ackq_offer(struct sv_ackq *q, const uint8_t *frame, size_t len);

/* Frames queued (including superseded ones not yet dropped). */
static inline size_t
sv_ackq_count(const struct sv_ackq *q)
{
	return q->n;
}

/* Hand every live frame to fn in order, then empty the queue. fn must not use q. */
void sv_ackq_drain(struct sv_ackq *q, sv_ackq_out_fn *fn, void *arg);

#endif
