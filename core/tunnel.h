/*
 * Data channel of a SoftEther session (spec section 11.1): block messages
 * carrying Ethernet frames, and keep-alives, in both directions on the same
 * byte stream.
 *
 *   data message = u32 n (0 < n < 0xFFFFFFFF), n x (u32 len, len bytes)
 *   keep-alive   = u32 0xFFFFFFFF, u32 len (0..512), len bytes (ignored)
 *   n == 0       = empty message, ignored
 *
 * Receiving (sv_tunnel_rx): a byte-at-a-time-safe state machine. Input may be
 * split at any byte; a frame that arrives whole is delivered straight from the
 * caller's bytes, a split one is copied into rx's own 1600-byte buffer first.
 * Wire len > 3200 or a keep-alive len > 512 is a protocol error (the server
 * drops the connection too); frames of 1601..3200 bytes are skipped silently
 * and counted; zero-length ones are skipped.
 *
 * Sending (sv_tunnel_tx): frames are appended to the caller's output buffer
 * inside one open block message whose count is back-patched; sv_tunnel_flush()
 * closes it. Only the bytes before the open message may be sent
 * (sv_tunnel_ready()), so the caller must not consume past that. The output
 * buffer's own ceiling bounds the queue.
 */
#ifndef SV_TUNNEL_H
#define SV_TUNNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* Spec 11.1 limits, all probed against the real server. */
#define SV_TUNNEL_WIRE_MAX 3200u      /* larger wire len: stream is bad */
#define SV_TUNNEL_FRAME_MAX 1600u     /* larger frames: silently dropped */
#define SV_TUNNEL_KEEPALIVE_MAX 512u  /* receive ceiling of a keep-alive */
#define SV_TUNNEL_KEEPALIVE_SEND_MAX 511u /* we send 0..511 random bytes */
#define SV_TUNNEL_KEEPALIVE_MAGIC 0xFFFFFFFFu
/* Suggested ceiling for the output buffer (queued block messages). */
#define SV_TUNNEL_QUEUE_MAX (1u << 20)

/* A received frame; borrowed for the duration of the call. */
typedef void sv_tunnel_frame_cb(void *arg, const uint8_t *frame, size_t len);

struct sv_tunnel_rx {
	uint8_t state;     /* RX_* in tunnel.c */
	uint8_t word_have; /* bytes of a split u32 collected in word[] */
	uint8_t word[4];
	bool skipping;        /* current frame is oversize: drop its bytes */
	uint32_t frames_left; /* frames still to come in this message */
	uint32_t len;         /* current frame / keep-alive payload length */
	uint32_t have;        /* bytes of it seen so far */
	int err;              /* sticky SV_E_PROTO once the stream is bad */
	uint64_t frames, keepalives, dropped; /* counters for logs */
	/* A split frame being reassembled. */
	uint8_t frame[SV_TUNNEL_FRAME_MAX];
};

void sv_tunnel_rx_init(struct sv_tunnel_rx *rx);

/*
 * Consumes all of p[0..n) (borrowed), calling cb(arg, frame, len) for each
 * complete frame in order. Returns 0 (a partial message stays in rx for the
 * next call), or SV_E_PROTO on a size violation; the error sticks and later
 * calls return it. cb must not call sv_tunnel_rx_input on the same rx.
 */
int sv_tunnel_rx_input(struct sv_tunnel_rx *rx, const uint8_t *p, size_t n,
                       sv_tunnel_frame_cb *cb, void *arg);

/* True between messages (no partial message held). */
bool sv_tunnel_rx_is_idle(const struct sv_tunnel_rx *rx);

struct sv_tunnel_tx {
	size_t open_bytes; /* bytes of the open message at the tail of out; 0 =
	                      none */
	uint32_t open_count;                   /* frames in it */
	uint64_t frames, messages, keepalives; /* counters for logs */
};

void sv_tunnel_tx_init(struct sv_tunnel_tx *tx);

/*
 * Appends one frame (copied) to the open block message in out, opening one if
 * needed. Returns 0; SV_E_INVAL for len 0; SV_E_TOOBIG when len >
 * SV_TUNNEL_FRAME_MAX or out has no room (nothing is written: the frame is
 * dropped, as a NIC would); SV_E_NOMEM.
 */
int sv_tunnel_put_frame(struct sv_tunnel_tx *tx, struct sv_buf *out,
                        const void *frame, size_t len);

/* Closes the open message, if any. Returns true if one was closed. */
bool sv_tunnel_flush(struct sv_tunnel_tx *tx, struct sv_buf *out);

/*
 * Closes the open message, then appends a keep-alive carrying payload[0..len)
 * (borrowed; the caller supplies random bytes, len <=
 * SV_TUNNEL_KEEPALIVE_SEND_MAX). Returns 0, SV_E_INVAL for a longer payload,
 * SV_E_TOOBIG/SV_E_NOMEM (nothing appended).
 */
int sv_tunnel_put_keepalive(struct sv_tunnel_tx *tx, struct sv_buf *out,
                            const uint8_t *payload, size_t len);

/* Bytes at the head of out that form complete messages (safe to send). */
size_t sv_tunnel_ready(const struct sv_tunnel_tx *tx, const struct sv_buf *out);

#endif
