/*
 * Fault injection helpers of the test hub (see hub.h): the names of the malformed-output
 * faults and the frame pipe that adds delay, jitter, loss and a rate limit. Pure.
 *
 * The pipe is a FIFO whose release times are fixed when a frame enters:
 *   due = max(now + delay + U(0..jitter), previous due)      (no reordering)
 *   token bucket (rate R, depth B): bucket_us is the time at which the bucket is empty,
 *     so it holds min(B, (t - bucket_us) R) tokens at t; a frame of len bytes takes
 *     bucket_us = max(bucket_us, due - B/R) + len/R and leaves at max(due, bucket_us)
 * so the consumer only has to pop frames whose due time has come. The queue is bounded
 * (HUB_PIPE_MAX_BYTES): beyond it frames are dropped, as by a router's tail drop.
 */
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "hub.h"

#define BURST_MIN_BYTES 16384u /* token bucket depth: at least this... */
#define BURST_MS 10u           /* ...or this many ms at the rate */

static const char *const malformed_names[] = {
	[HUB_BAD_NONE] = "none",
	[HUB_BAD_HELLO_RANDOM19] = "hello-random19",
	[HUB_BAD_HELLO_TRUNCATED] = "hello-truncated",
	[HUB_BAD_WELCOME_DUP] = "welcome-duplicate",
	[HUB_BAD_WELCOME_HUGE] = "welcome-oversized",
	[HUB_BAD_BLOCK_3201] = "block-3201",
	[HUB_BAD_KEEPALIVE_513] = "keepalive-513",
};

/* see hub.h */
int
hub_malformed_parse(const char *name)
{
	for (size_t i = 0; i < sizeof malformed_names / sizeof *malformed_names; i++)
		if (strcmp(name, malformed_names[i]) == 0)
			return (int)i;
	return -1;
}

/* see hub.h */
const char *
hub_malformed_name(enum hub_malformed m)
{
	if ((size_t)m >= sizeof malformed_names / sizeof *malformed_names)
		return "?";
	return malformed_names[m];
}

/* see hub.h */
uint64_t
hub_rand(uint64_t *state)
{
	uint64_t x = *state;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 0x2545F4914F6CDD1DULL;
}

/* see hub.h */
bool
hub_pipe_wanted(const struct hub_faults *f)
{
	return f->delay_ms || f->jitter_ms || f->loss_ppm || f->rate;
}

/* see hub.h */
void
hub_pipe_init(struct hub_pipe *p, const struct hub_faults *f, uint64_t *rng)
{
	memset(p, 0, sizeof *p);
	p->delay_ms = f->delay_ms;
	p->jitter_ms = f->jitter_ms;
	p->loss_ppm = f->loss_ppm;
	p->rate = f->rate;
	p->rng = rng;
	if (*rng == 0)
		*rng = 0x9E3779B97F4A7C15ULL;
}

/* Microseconds to send n bytes at the pipe's rate. */
static uint64_t
tx_us(const struct hub_pipe *p, uint64_t n)
{
	return n * 1000000u / p->rate;
}

/* see hub.h */
int
hub_pipe_put(struct hub_pipe *p, const uint8_t *f, size_t n, uint64_t now_us)
{
	if (p->loss_ppm && hub_rand(p->rng) % 1000000u < p->loss_ppm) {
		p->lost++;
		return HUB_PIPE_LOST;
	}
	if (p->bytes + n > HUB_PIPE_MAX_BYTES) {
		p->overflow++;
		return HUB_PIPE_FULL;
	}
	uint64_t due = now_us + (uint64_t)p->delay_ms * 1000u;
	if (p->jitter_ms)
		due += hub_rand(p->rng) % ((uint64_t)p->jitter_ms * 1000u + 1);
	if (due < p->last_due)
		due = p->last_due;
	if (p->rate) {
		uint64_t burst = p->rate * BURST_MS / 1000u;
		if (burst < BURST_MIN_BYTES)
			burst = BURST_MIN_BYTES;
		uint64_t depth = tx_us(p, burst);
		if (p->bucket_us + depth < due)
			p->bucket_us = due - depth; /* a full bucket, no more */
		p->bucket_us += tx_us(p, n);
		if (p->bucket_us > due)
			due = p->bucket_us; /* wait until the tokens are there */
	}
	struct hub_pipe_frame *q = malloc(sizeof *q + n);
	if (q == NULL)
		return SV_E_NOMEM;
	q->next = NULL;
	q->due_us = due;
	q->len = n;
	memcpy(q->data, f, n);
	if (p->tail)
		p->tail->next = q;
	else
		p->head = q;
	p->tail = q;
	p->bytes += n;
	p->last_due = due;
	return HUB_PIPE_QUEUED;
}

/* see hub.h */
struct hub_pipe_frame *
hub_pipe_get(struct hub_pipe *p, uint64_t now_us)
{
	struct hub_pipe_frame *q = p->head;
	if (q == NULL || q->due_us > now_us)
		return NULL;
	p->head = q->next;
	if (p->head == NULL)
		p->tail = NULL;
	p->bytes -= q->len;
	p->passed++;
	return q;
}

/* see hub.h */
uint64_t
hub_pipe_next_due(const struct hub_pipe *p)
{
	return p->head ? (p->head->due_us ? p->head->due_us : 1) : 0;
}

/* see hub.h */
void
hub_pipe_clear(struct hub_pipe *p)
{
	while (p->head) {
		struct hub_pipe_frame *q = p->head;
		p->head = q->next;
		free(q);
	}
	p->tail = NULL;
	p->bytes = 0;
}
