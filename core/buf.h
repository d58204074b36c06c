/*
 * Bounded growable byte buffer (sv_buf) and a read cursor over borrowed bytes (sv_rd).
 *
 * An sv_buf holds unread bytes [off, len) of a heap block of cap bytes, never more than
 * max bytes in all (set at init: every buffer has a ceiling). Memory is allocated on the
 * first put, so an idle buffer costs nothing. Big-endian helpers for wire integers.
 *
 * sv_rd is a cursor: parse on a copy, commit on success:
 *   struct sv_rd r = *in; if ((e = parse(&r, &msg)) != 0) return e; *in = r;
 */
#ifndef SV_BUF_H
#define SV_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sv_buf {
	uint8_t *data;
	size_t off; /* first unread byte */
	size_t len; /* end of the written bytes */
	size_t cap;
	size_t max; /* ceiling on len - off */
};

void sv_buf_init(struct sv_buf *b, size_t max);
/* Frees the block (wiping it first with explicit_bzero). Accepts a zeroed struct. */
void sv_buf_cleanup(struct sv_buf *b);
/* Drops all bytes, keeps the block. */
void sv_buf_reset(struct sv_buf *b);

static inline size_t
sv_buf_len(const struct sv_buf *b)
{
	return b->len - b->off;
}

/* Room for n more bytes; SV_E_TOOBIG past max, SV_E_NOMEM. Compacts when useful. */
int sv_buf_reserve(struct sv_buf *b, size_t n);
/* Writable tail after sv_buf_reserve(b, n); commit with sv_buf_commit(b, written). */
uint8_t *sv_buf_tail(struct sv_buf *b);
void sv_buf_commit(struct sv_buf *b, size_t n);

int sv_buf_put(struct sv_buf *b, const void *p, size_t n);
int sv_buf_put_u8(struct sv_buf *b, uint8_t v);
int sv_buf_put_u16(struct sv_buf *b, uint16_t v);
int sv_buf_put_u32(struct sv_buf *b, uint32_t v);
int sv_buf_put_u64(struct sv_buf *b, uint64_t v);
int sv_buf_put_str(struct sv_buf *b, const char *s); /* no terminator */
int sv_buf_printf(struct sv_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Unread bytes; valid until the next sv_buf_* call on b. */
const uint8_t *sv_buf_peek(const struct sv_buf *b, size_t *len);
/* Marks n (<= sv_buf_len) bytes read. */
void sv_buf_consume(struct sv_buf *b, size_t n);
/* Overwrite 4 bytes at absolute unread offset pos (for back-patching counts). */
void sv_buf_set_u32_at(struct sv_buf *b, size_t pos, uint32_t v);

struct sv_rd {
	const uint8_t *p;
	size_t n;
};

static inline struct sv_rd
sv_rd_make(const void *p, size_t n)
{
	struct sv_rd r = { (const uint8_t *)p, n };
	return r;
}

/* Each returns 0, or SV_E_INCOMPLETE (cursor unchanged) when too few bytes remain. */
int sv_rd_u8(struct sv_rd *r, uint8_t *v);
int sv_rd_u16(struct sv_rd *r, uint16_t *v);
int sv_rd_u32(struct sv_rd *r, uint32_t *v);
int sv_rd_u64(struct sv_rd *r, uint64_t *v);
/* *p points into the cursor's bytes (borrowed). */
int sv_rd_bytes(struct sv_rd *r, const uint8_t **p, size_t n);
int sv_rd_skip(struct sv_rd *r, size_t n);

/* The value of the hex digit c (either case), or -1. */
int sv_hexval(int c);

#endif
