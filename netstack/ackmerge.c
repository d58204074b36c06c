/*
 * Outgoing frame queue with pure-ACK coalescing; see ackmerge.h.
 */
#include <string.h>

#include "netstack/ackmerge.h"

#define ETH_HLEN 14
#define IP4_HLEN 20
#define IP6_HLEN 40
#define TCP_HLEN 20
#define TCP_FLAG_ACK 0x10
#define IPPROTO_TCP_ 6
/* Pure ACKs looked at (newest first) when merging: bounds the work per frame. */
#define SCAN_MAX 128u
/* ACKs with one ack number kept per connection while queued: the original and 3
 * duplicates. */
#define DUP_KEEP 4u

static uint16_t
rd16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

static uint32_t
rd32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* Options NOP, EOL, timestamp and SACK only (what lwIP puts on an ACK); SACK blocks are
 * stored in a. */
static bool
tcp_options_plain(const uint8_t *o, size_t n, struct sv_pure_ack *a)
{
	size_t i = 0;
	while (i < n) {
		if (o[i] == 0) /* EOL: the rest is padding */
			return true;
		if (o[i] == 1) {
			i++;
			continue;
		}
		if (n - i < 2 || o[i + 1] < 2 || o[i + 1] > n - i)
			return false;
		size_t olen = o[i + 1];
		if (o[i] == 5 && olen >= 10 && (olen - 2) % 8 == 0 && a->n_sack == 0) {
			for (size_t b = 2; b < olen; b += 8) {
				a->sack[a->n_sack][0] = rd32(o + i + b);
				a->sack[a->n_sack][1] = rd32(o + i + b + 4);
				a->n_sack++; /* olen <= 34 here: at most 4 blocks */
			}
		} else if (o[i] != 8 || olen != 10) {
			return false;
		}
		i += olen;
	}
	return true;
}

/* tcp points at tcp_len bytes (header plus payload) of one IP packet. */
static bool
parse_tcp(const uint8_t *tcp, size_t tcp_len, struct sv_pure_ack *a)
{
	if (tcp_len < TCP_HLEN)
		return false;
	size_t hlen = (size_t)(tcp[12] >> 4) * 4;
	if (hlen < TCP_HLEN || hlen != tcp_len) /* a payload, or a truncated header */
		return false;
	if ((tcp[12] & 0x0f) != 0 || tcp[13] != TCP_FLAG_ACK)
		return false;
	if (!tcp_options_plain(tcp + TCP_HLEN, hlen - TCP_HLEN, a))
		return false;
	a->sport = rd16(tcp);
	a->dport = rd16(tcp + 2);
	a->seq = rd32(tcp + 4);
	a->ack = rd32(tcp + 8);
	a->win = rd16(tcp + 14);
	return true;
}

static bool
parse_ip4(const uint8_t *ip, size_t n, struct sv_pure_ack *a)
{
	if (n < IP4_HLEN || ip[0] != 0x45 || ip[9] != IPPROTO_TCP_)
		return false;
	size_t tot = rd16(ip + 2);
	if (tot < IP4_HLEN || tot > n || (rd16(ip + 6) & 0x3fff) != 0) /* MF or offset */
		return false;
	memset(a, 0, sizeof *a);
	a->family = 4;
	memcpy(a->src, ip + 12, 4);
	memcpy(a->dst, ip + 16, 4);
	return parse_tcp(ip + IP4_HLEN, tot - IP4_HLEN, a);
}

static bool
parse_ip6(const uint8_t *ip, size_t n, struct sv_pure_ack *a)
{
	if (n < IP6_HLEN || (ip[0] >> 4) != 6 || ip[6] != IPPROTO_TCP_)
		return false;
	size_t plen = rd16(ip + 4);
	if (plen > n - IP6_HLEN)
		return false;
	memset(a, 0, sizeof *a);
	a->family = 6;
	memcpy(a->src, ip + 8, 16);
	memcpy(a->dst, ip + 24, 16);
	return parse_tcp(ip + IP6_HLEN, plen, a);
}

/* see ackmerge.h */
bool
sv_ackmerge_parse(const uint8_t *frame, size_t len, struct sv_pure_ack *out)
{
	struct sv_pure_ack a;

	if (len < ETH_HLEN || len > SV_ACKQ_SLOT)
		return false;
	uint16_t type = rd16(frame + 12);
	bool ok = false;
	if (type == 0x0800)
		ok = parse_ip4(frame + ETH_HLEN, len - ETH_HLEN, &a);
	else if (type == 0x86dd)
		ok = parse_ip6(frame + ETH_HLEN, len - ETH_HLEN, &a);
	if (ok)
		*out = a;
	return ok;
}

static bool
same_flow(const struct sv_pure_ack *x, const struct sv_pure_ack *y)
{
	return x->sport == y->sport && x->dport == y->dport && x->family == y->family &&
		memcmp(x->src, y->src, sizeof x->src) == 0 &&
		memcmp(x->dst, y->dst, sizeof x->dst) == 0;
}

/* a - b as a signed distance in sequence space */
static int32_t
seqdiff(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b);
}

/* Every SACK block of o is below n's ack or inside one of n's blocks. */
static bool
sack_covers(const struct sv_pure_ack *n, const struct sv_pure_ack *o)
{
	for (unsigned i = 0; i < o->n_sack; i++) {
		uint32_t l = o->sack[i][0], r = o->sack[i][1];
		if (seqdiff(r, n->ack) <= 0)
			continue;
		bool in = false;
		for (unsigned j = 0; j < n->n_sack && !in; j++)
			in = seqdiff(l, n->sack[j][0]) >= 0 && seqdiff(n->sack[j][1], r) >= 0;
		if (!in)
			return false;
	}
	return true;
}

/* n carries SACK information o does not have (both acknowledge the same). */
static bool
sack_adds(const struct sv_pure_ack *n, const struct sv_pure_ack *o)
{
	if (n->n_sack != o->n_sack)
		return true;
	return memcmp(n->sack, o->sack, sizeof n->sack[0] * n->n_sack) != 0;
}

/* see ackmerge.h */
bool
sv_ackmerge_supersedes(const struct sv_pure_ack *newer, const struct sv_pure_ack *older)
{
	if (!same_flow(newer, older) || newer->seq != older->seq)
		return false;
	int32_t d = seqdiff(newer->ack, older->ack);
	if (d < 0 || !sack_covers(newer, older))
		return false;
	return d > 0 || newer->win > older->win ||
		(newer->win == older->win && sack_adds(newer, older));
}

/* see ackmerge.h */
void
sv_ackq_init(struct sv_ackq *q)
{
	q->n = q->n_acks = 0;
	q->merged = 0;
}

/* The newest queued pure ACK of a's connection, or NULL. */
static struct sv_ackq_ack *
find_flow(struct sv_ackq *q, const struct sv_pure_ack *a)
{
	size_t lo = q->n_acks > SCAN_MAX ? q->n_acks - SCAN_MAX : 0;
	for (size_t i = q->n_acks; i > lo; i--) {
		struct sv_ackq_ack *e = &q->acks[i - 1];
		if (same_flow(&e->a, a))
			return e;
	}
	return NULL;
}

/* May a (the newest ACK of the flow) replace e's? Sets *rank, a's rank in the run of
 * duplicates (same ack, same window): 0 starts a run; the first DUP_KEEP ACKs of a run
 * stay, later ones replace each other at rank DUP_KEEP. */
static bool
merge_allowed(const struct sv_ackq_ack *e, const struct sv_pure_ack *a, uint16_t *rank)
{
	bool dup = a->ack == e->a.ack && a->win == e->a.win;
	if (!dup) {
		*rank = 0;
		return e->rank == 0 || e->rank >= DUP_KEEP;
	}
	*rank = (uint16_t)(e->rank + 1u < DUP_KEEP ? e->rank + 1u : DUP_KEEP);
	return e->rank >= DUP_KEEP;
}

/* see ackmerge.h */
bool
sv_ackq_offer(struct sv_ackq *q, const uint8_t *frame, size_t len)
{
	struct sv_pure_ack a;

	if (q->n >= SV_ACKQ_MAX || !sv_ackmerge_parse(frame, len, &a))
		return false;
	uint16_t idx = (uint16_t)q->n++;
	memcpy(q->slots[idx].frame, frame, len);
	q->slots[idx].len = (uint16_t)len;
	q->slots[idx].dead = false;
	struct sv_ackq_ack *e = find_flow(q, &a);
	uint16_t rank = 0;
	if (e != NULL && merge_allowed(e, &a, &rank) && sv_ackmerge_supersedes(&a, &e->a)) {
		q->slots[e->slot].dead = true;
		q->merged++;
	} else {
		e = &q->acks[q->n_acks++]; /* n_acks <= n <= SV_ACKQ_MAX */
	}
	e->slot = idx;
	e->rank = rank;
	e->a = a;
	return true;
}

/* see ackmerge.h */
void
sv_ackq_drain(struct sv_ackq *q, sv_ackq_out_fn *fn, void *arg)
{
	size_t n = q->n;
	q->n = 0;
	q->n_acks = 0;
	for (size_t i = 0; i < n; i++) {
		if (!q->slots[i].dead)
			fn(arg, q->slots[i].frame, q->slots[i].len);
	}
}
