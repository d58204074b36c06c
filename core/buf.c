/*
 * Bounded growable buffer and read cursor (see buf.h).
 */
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "err.h"

#define BUF_MIN_CAP 256

/* see buf.h */
void
sv_buf_init(struct sv_buf *b, size_t max)
{
	memset(b, 0, sizeof *b);
	b->max = max;
}

/* see buf.h */
void
sv_buf_cleanup(struct sv_buf *b)
{
	if (b == NULL)
		return;
	if (b->data != NULL) {
		explicit_bzero(b->data, b->cap);
		free(b->data);
	}
	b->data = NULL;
	b->off = b->len = b->cap = 0;
}

/* see buf.h */
void
sv_buf_reset(struct sv_buf *b)
{
	b->off = b->len = 0;
}

/* Moves the unread bytes to the start of the block. */
static void
compact(struct sv_buf *b)
{
	size_t n = b->len - b->off;

	if (b->off == 0)
		return;
	if (n > 0)
		memmove(b->data, b->data + b->off, n);
	b->off = 0;
	b->len = n;
}

/* see buf.h */
int
sv_buf_reserve(struct sv_buf *b, size_t n)
{
	size_t used = b->len - b->off;

	if (n > b->max || used > b->max - n)
		return SV_E_TOOBIG;
	if (b->cap - b->len >= n)
		return 0;
	/* Room exists if we slide the unread bytes down: no allocation. */
	if (b->cap - used >= n) {
		compact(b);
		return 0;
	}
	size_t want = used + n; /* <= max, no overflow */
	size_t cap = b->cap > BUF_MIN_CAP ? b->cap : BUF_MIN_CAP;
	while (cap < want)
		cap = cap > SIZE_MAX / 2 ? want : cap * 2;
	if (cap > b->max)
		cap = b->max; /* >= want, checked above */
	/*
	 * Fresh block instead of realloc: the old one is wiped before it is
	 * freed, since buffers may carry secrets (TLS plaintext, passwords).
	 */
	uint8_t *nd = malloc(cap);
	if (nd == NULL)
		return SV_E_NOMEM;
	if (used > 0)
		memcpy(nd, b->data + b->off, used);
	if (b->data != NULL) {
		explicit_bzero(b->data, b->cap);
		free(b->data);
	}
	b->data = nd;
	b->cap = cap;
	b->off = 0;
	b->len = used;
	return 0;
}

/* see buf.h */
uint8_t *
sv_buf_tail(struct sv_buf *b)
{
	return b->data != NULL ? b->data + b->len : NULL;
}

/* see buf.h */
void
sv_buf_commit(struct sv_buf *b, size_t n)
{
	assert(n <= b->cap - b->len);
	b->len += n;
}

/* see buf.h */
int
sv_buf_put(struct sv_buf *b, const void *p, size_t n)
{
	int r;

	if (n == 0)
		return 0;
	if ((r = sv_buf_reserve(b, n)) != 0)
		return r;
	memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

/* see buf.h */
int
sv_buf_put_u8(struct sv_buf *b, uint8_t v)
{
	return sv_buf_put(b, &v, 1);
}

/* see buf.h */
int
sv_buf_put_u16(struct sv_buf *b, uint16_t v)
{
	uint8_t w[2] = {(uint8_t)(v >> 8), (uint8_t)v};

	return sv_buf_put(b, w, sizeof w);
}

/* see buf.h */
int
sv_buf_put_u32(struct sv_buf *b, uint32_t v)
{
	uint8_t w[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16),
	                (uint8_t)(v >> 8), (uint8_t)v};

	return sv_buf_put(b, w, sizeof w);
}

/* see buf.h */
int
sv_buf_put_u64(struct sv_buf *b, uint64_t v)
{
	int r;

	if ((r = sv_buf_reserve(b, 8)) != 0)
		return r;
	(void)sv_buf_put_u32(b, (uint32_t)(v >> 32));
	(void)sv_buf_put_u32(b, (uint32_t)v);
	return 0;
}

/* see buf.h */
int
sv_buf_put_str(struct sv_buf *b, const char *s)
{
	return sv_buf_put(b, s, strlen(s));
}

/* see buf.h */
int
sv_buf_printf(struct sv_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n, r;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return SV_E_INVAL;
	if (n == 0)
		return 0;
	if ((r = sv_buf_reserve(b, (size_t)n)) != 0)
		return r;
	if (b->cap - b->len > (size_t)n) {
		/* Room for vsnprintf's NUL too, which we do not keep. */
		va_start(ap, fmt);
		vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
		va_end(ap);
		b->len += (size_t)n;
		return 0;
	}
	/* Rare: exactly n bytes left below the ceiling. */
	char *tmp = malloc((size_t)n + 1);
	if (tmp == NULL)
		return SV_E_NOMEM;
	va_start(ap, fmt);
	vsnprintf(tmp, (size_t)n + 1, fmt, ap);
	va_end(ap);
	r = sv_buf_put(b, tmp, (size_t)n);
	free(tmp);
	return r;
}

/* see buf.h */
const uint8_t *
sv_buf_peek(const struct sv_buf *b, size_t *len)
{
	*len = b->len - b->off;
	return b->data != NULL ? b->data + b->off : (const uint8_t *)"";
}

/* see buf.h */
void
sv_buf_consume(struct sv_buf *b, size_t n)
{
	assert(n <= b->len - b->off);
	b->off += n;
	if (b->off == b->len)
		b->off = b->len = 0;
}

/* see buf.h */
void
sv_buf_set_u32_at(struct sv_buf *b, size_t pos, uint32_t v)
{
	assert(pos <= b->len - b->off && b->len - b->off - pos >= 4);
	uint8_t *p = b->data + b->off + pos;
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* see buf.h */
int
sv_rd_u8(struct sv_rd *r, uint8_t *v)
{
	if (r->n < 1)
		return SV_E_INCOMPLETE;
	*v = r->p[0];
	r->p++;
	r->n--;
	return 0;
}

/* see buf.h */
int
sv_rd_u16(struct sv_rd *r, uint16_t *v)
{
	if (r->n < 2)
		return SV_E_INCOMPLETE;
	*v = (uint16_t)((uint16_t)r->p[0] << 8 | r->p[1]);
	r->p += 2;
	r->n -= 2;
	return 0;
}

/* see buf.h */
int
sv_rd_u32(struct sv_rd *r, uint32_t *v)
{
	if (r->n < 4)
		return SV_E_INCOMPLETE;
	*v = (uint32_t)r->p[0] << 24 | (uint32_t)r->p[1] << 16 |
	     (uint32_t)r->p[2] << 8 | r->p[3];
	r->p += 4;
	r->n -= 4;
	return 0;
}

/* see buf.h */
int
sv_rd_u64(struct sv_rd *r, uint64_t *v)
{
	uint32_t hi, lo;

	if (r->n < 8)
		return SV_E_INCOMPLETE;
	(void)sv_rd_u32(r, &hi);
	(void)sv_rd_u32(r, &lo);
	*v = (uint64_t)hi << 32 | lo;
	return 0;
}

/* see buf.h */
int
sv_rd_bytes(struct sv_rd *r, const uint8_t **p, size_t n)
{
	if (r->n < n)
		return SV_E_INCOMPLETE;
	*p = r->p;
	r->p += n;
	r->n -= n;
	return 0;
}

/* see buf.h */
int
sv_rd_skip(struct sv_rd *r, size_t n)
{
	if (r->n < n)
		return SV_E_INCOMPLETE;
	r->p += n;
	r->n -= n;
	return 0;
}

/* see buf.h */
int
sv_hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}
