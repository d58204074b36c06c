/*
 * Data channel framing (see tunnel.h, spec section 11.1).
 *
 * Receive states (rx->state):
 *   RX_COUNT  reading the u32 that starts a message: 0 -> stay, 0xFFFFFFFF ->
 * RX_KA_LEN, else frames_left = n -> RX_LEN RX_LEN    reading a frame's u32
 * len: > 3200 -> error; 0 -> next frame; else -> RX_FRAME (skipping when >
 * 1600) RX_FRAME  len bytes of frame; have counts them; then next frame
 *   RX_KA_LEN reading the keep-alive u32 len: > 512 -> error; 0 -> RX_COUNT;
 * else RX_KA_BODY RX_KA_BODY len payload bytes, ignored; then RX_COUNT "next
 * frame": --frames_left, RX_LEN if frames remain else RX_COUNT. Invariants:
 * word_have < 4; have < len while in RX_FRAME/RX_KA_BODY; rx->frame holds the
 * first `have` bytes of the current frame only when it arrived split.
 */
#include <string.h>

#include "err.h"
#include "tunnel.h"

enum { RX_COUNT, RX_LEN, RX_FRAME, RX_KA_LEN, RX_KA_BODY };

/* see tunnel.h */
void
sv_tunnel_rx_init(struct sv_tunnel_rx *rx)
{
	memset(rx, 0, sizeof *rx);
	rx->state = RX_COUNT;
}

/* see tunnel.h */
bool
sv_tunnel_rx_is_idle(const struct sv_tunnel_rx *rx)
{
	return rx->state == RX_COUNT && rx->word_have == 0;
}

static uint32_t
get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

/*
 * Collects a u32 from *p, straight when 4 bytes are there, else through
 * rx->word. Returns true with *v set when complete; advances *p and *n past
 * what it used.
 */
static bool
take_u32(struct sv_tunnel_rx *rx, const uint8_t **p, size_t *n, uint32_t *v)
{
	if (rx->word_have == 0 && *n >= 4) {
		*v = get_u32(*p);
		*p += 4;
		*n -= 4;
		return true;
	}
	while (*n > 0 && rx->word_have < 4) {
		rx->word[rx->word_have++] = **p;
		(*p)++;
		(*n)--;
	}
	if (rx->word_have < 4)
		return false;
	rx->word_have = 0;
	*v = get_u32(rx->word);
	return true;
}

static void
next_frame(struct sv_tunnel_rx *rx)
{
	rx->frames_left--;
	rx->state = rx->frames_left > 0 ? RX_LEN : RX_COUNT;
}

static void
on_count(struct sv_tunnel_rx *rx, uint32_t v)
{
	if (v == SV_TUNNEL_KEEPALIVE_MAGIC) {
		rx->state = RX_KA_LEN;
	} else if (v > 0) {
		rx->frames_left = v;
		rx->state = RX_LEN;
	}
	/* v == 0: empty message, ignored (spec 11.1) */
}

static int
on_len(struct sv_tunnel_rx *rx, uint32_t v)
{
	if (v > SV_TUNNEL_WIRE_MAX)
		return SV_E_PROTO;
	if (v == 0) {
		next_frame(rx);
		return 0;
	}
	rx->len = v;
	rx->have = 0;
	rx->skipping = v > SV_TUNNEL_FRAME_MAX;
	rx->state = RX_FRAME;
	return 0;
}

static int
on_ka_len(struct sv_tunnel_rx *rx, uint32_t v)
{
	if (v > SV_TUNNEL_KEEPALIVE_MAX)
		return SV_E_PROTO;
	rx->keepalives++;
	rx->len = v;
	rx->have = 0;
	rx->state = v > 0 ? RX_KA_BODY : RX_COUNT;
	return 0;
}

/* RX_FRAME: deliver or skip bytes of the current frame. */
static void
frame_bytes(struct sv_tunnel_rx *rx, const uint8_t **p, size_t *n,
            sv_tunnel_frame_cb *cb, void *arg)
{
	size_t want = rx->len - rx->have;
	size_t take = *n < want ? *n : want;

	if (!rx->skipping && rx->have == 0 && take == want) {
		/* Whole frame in the input: no copy. */
		const uint8_t *f = *p;
		*p += take;
		*n -= take;
		rx->frames++;
		next_frame(rx);
		if (cb != NULL)
			cb(arg, f, take);
		return;
	}
	if (!rx->skipping)
		memcpy(rx->frame + rx->have, *p, take);
	rx->have += (uint32_t)take;
	*p += take;
	*n -= take;
	if (rx->have < rx->len)
		return;
	size_t len = rx->len;
	bool skipped = rx->skipping;
	next_frame(rx);
	if (skipped) {
		rx->dropped++;
		return;
	}
	rx->frames++;
	if (cb != NULL)
		cb(arg, rx->frame, len);
}

/* see tunnel.h */
int
sv_tunnel_rx_input(struct sv_tunnel_rx *rx, const uint8_t *p, size_t n,
                   sv_tunnel_frame_cb *cb, void *arg)
{
	uint32_t v;
	int r = 0;

	while (rx->err == 0 && n > 0) {
		switch (rx->state) {
		case RX_COUNT:
			if (take_u32(rx, &p, &n, &v))
				on_count(rx, v);
			break;
		case RX_LEN:
			if (take_u32(rx, &p, &n, &v))
				r = on_len(rx, v);
			break;
		case RX_KA_LEN:
			if (take_u32(rx, &p, &n, &v))
				r = on_ka_len(rx, v);
			break;
		case RX_FRAME:
			frame_bytes(rx, &p, &n, cb, arg);
			break;
		default: { /* RX_KA_BODY */
			size_t want = rx->len - rx->have;
			size_t take = n < want ? n : want;
			rx->have += (uint32_t)take;
			p += take;
			n -= take;
			if (rx->have == rx->len)
				rx->state = RX_COUNT;
			break;
		}
		}
		if (r != 0)
			rx->err = r;
	}
	return rx->err;
}

/* see tunnel.h */
void
sv_tunnel_tx_init(struct sv_tunnel_tx *tx)
{
	memset(tx, 0, sizeof *tx);
}

/* see tunnel.h */
int
sv_tunnel_put_frame(struct sv_tunnel_tx *tx, struct sv_buf *out,
                    const void *frame, size_t len)
{
	size_t need = 4 + len + (tx->open_bytes == 0 ? 4 : 0);
	int r;

	if (len == 0)
		return SV_E_INVAL;
	if (len > SV_TUNNEL_FRAME_MAX)
		return SV_E_TOOBIG;
	/* Reserve everything first so that a frame is written whole or not at
	 * all. */
	if ((r = sv_buf_reserve(out, need)) != 0)
		return r;
	if (tx->open_bytes == 0) {
		(void)sv_buf_put_u32(out, 0); /* count, patched below */
		tx->open_bytes = 4;
		tx->open_count = 0;
	}
	(void)sv_buf_put_u32(out, (uint32_t)len);
	(void)sv_buf_put(out, frame, len);
	tx->open_bytes += 4 + len;
	tx->open_count++;
	tx->frames++;
	/* Keep the count current so the buffer always holds a well-formed
	 * prefix. */
	sv_buf_set_u32_at(out, sv_buf_len(out) - tx->open_bytes,
	                  tx->open_count);
	return 0;
}

/* see tunnel.h */
bool
sv_tunnel_flush(struct sv_tunnel_tx *tx, struct sv_buf *out)
{
	(void)out;
	if (tx->open_bytes == 0)
		return false;
	tx->open_bytes = 0;
	tx->open_count = 0;
	tx->messages++;
	return true;
}

/* see tunnel.h */
int
sv_tunnel_put_keepalive(struct sv_tunnel_tx *tx, struct sv_buf *out,
                        const uint8_t *payload, size_t len)
{
	int r;

	if (len > SV_TUNNEL_KEEPALIVE_SEND_MAX)
		return SV_E_INVAL;
	if ((r = sv_buf_reserve(out, 8 + len)) != 0)
		return r;
	(void)sv_tunnel_flush(tx, out);
	(void)sv_buf_put_u32(out, SV_TUNNEL_KEEPALIVE_MAGIC);
	(void)sv_buf_put_u32(out, (uint32_t)len);
	(void)sv_buf_put(out, payload, len);
	tx->keepalives++;
	return 0;
}

/* see tunnel.h */
size_t
sv_tunnel_ready(const struct sv_tunnel_tx *tx, const struct sv_buf *out)
{
	return sv_buf_len(out) - tx->open_bytes;
}
