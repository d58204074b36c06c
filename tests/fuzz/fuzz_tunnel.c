/*
 * Fuzz target for the data-channel parser (core/tunnel).
 *
 * Input: 2 bytes choosing a split position, then the stream. The stream is
 * parsed three ways (in one piece, split in two at the chosen byte, one byte at
 * a time for short inputs); all three must deliver the same frames and end with
 * the same result. The frames delivered are then re-encoded with the batching
 * encoder and parsed again, which must give them back unchanged.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/tunnel.h"

struct digest {
	size_t count;
	uint64_t h;
	struct sv_tunnel_tx *tx; /* when set, frames are re-encoded into out */
	struct sv_buf *out;
	bool overflow; /* out filled up (only for inputs near 1 MiB) */
};

static void
on_frame(void *arg, const uint8_t *f, size_t len)
{
	struct digest *d = arg;

	if (len == 0 || len > SV_TUNNEL_FRAME_MAX)
		abort();
	d->count++;
	d->h = (d->h ^ len) * 1099511628211ull;
	for (size_t i = 0; i < len; i++)
		d->h = (d->h ^ f[i]) * 1099511628211ull;
	if (d->tx != NULL && !d->overflow) {
		int r = sv_tunnel_put_frame(d->tx, d->out, f, len);
		if (r == SV_E_TOOBIG)
			d->overflow = true;
		else if (r != 0)
			abort();
		if (d->count % 3 == 0)
			sv_tunnel_flush(d->tx, d->out);
	}
}

static void
digest_init(struct digest *d)
{
	memset(d, 0, sizeof *d);
	d->h = 1469598103934665603ull;
}

static void
check_same(const struct digest *a, int ra, const struct digest *b, int rb)
{
	if (ra != rb || a->count != b->count || a->h != b->h)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct sv_tunnel_rx rx;
	struct digest whole, split, bytes, again;
	struct sv_tunnel_tx tx;
	struct sv_buf out;
	const uint8_t *p;
	size_t n;
	int r1, r2, r3;

	if (size < 2)
		return 0;
	size_t cut = (size_t)data[0] << 8 | data[1];
	data += 2;
	size -= 2;
	cut = size > 0 ? cut % (size + 1) : 0;

	sv_tunnel_tx_init(&tx);
	sv_buf_init(&out, SV_TUNNEL_QUEUE_MAX);
	digest_init(&whole);
	whole.tx = &tx;
	whole.out = &out;
	sv_tunnel_rx_init(&rx);
	r1 = sv_tunnel_rx_input(&rx, data, size, on_frame, &whole);
	if (r1 != 0 && r1 != SV_E_PROTO)
		abort();

	digest_init(&split);
	sv_tunnel_rx_init(&rx);
	r2 = sv_tunnel_rx_input(&rx, data, cut, on_frame, &split);
	if (r2 == 0)
		r2 = sv_tunnel_rx_input(&rx, data + cut, size - cut, on_frame,
		                        &split);
	check_same(&whole, r1, &split, r2);

	if (size <= 8192) {
		digest_init(&bytes);
		sv_tunnel_rx_init(&rx);
		r3 = 0;
		for (size_t i = 0; i < size && r3 == 0; i++)
			r3 = sv_tunnel_rx_input(&rx, data + i, 1, on_frame,
			                        &bytes);
		check_same(&whole, r1, &bytes, r3);
	}

	/* Round trip through the encoder. */
	if (whole.overflow) {
		sv_buf_cleanup(&out);
		return 0;
	}
	sv_tunnel_flush(&tx, &out);
	if (sv_tunnel_put_keepalive(&tx, &out, data, size < 100 ? size : 100) !=
	    0)
		abort();
	p = sv_buf_peek(&out, &n);
	if (sv_tunnel_ready(&tx, &out) != n)
		abort();
	digest_init(&again);
	sv_tunnel_rx_init(&rx);
	if (sv_tunnel_rx_input(&rx, p, n, on_frame, &again) != 0 ||
	    !sv_tunnel_rx_is_idle(&rx))
		abort();
	check_same(&whole, 0, &again, 0);
	sv_buf_cleanup(&out);
	return 0;
}
