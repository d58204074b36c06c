/*
 * PACK decoder fuzz target. Any input must decode or fail cleanly; a PACK
 * that decodes must re-encode, and the re-encoded bytes must decode to the
 * same elements and encode to the same bytes again.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/pack.h"

static int
same_pack(const struct sv_pack *a, const struct sv_pack *b)
{
	if (a->n != b->n)
		return 0;
	for (size_t i = 0; i < a->n; i++) {
		const struct sv_pack_elem *x = &a->elems[i], *y = &b->elems[i];
		if (strcmp(x->name, y->name) != 0 || x->type != y->type ||
		    x->count != y->count)
			return 0;
		for (uint32_t j = 0; j < x->count; j++) {
			const struct sv_pack_value *u = &x->values[j];
			const struct sv_pack_value *v = &y->values[j];
			if (u->num != v->num || u->len != v->len)
				return 0;
			if (u->len > 0 && memcmp(u->data, v->data, u->len) != 0)
				return 0;
		}
		/* Lookups agree with the element list. */
		if (sv_pack_find(a, x->name) != x)
			return 0;
	}
	return 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sv_pack p, q;
	struct sv_buf b1, b2;
	const uint8_t *e1, *e2;
	size_t n1, n2;

	if (sv_pack_decode(&p, data, size) != 0) {
		if (p.n != 0 || p.elems != NULL)
			abort(); /* failure must leave the pack empty */
		return 0;
	}
	/* Re-encoding can grow UNISTR values by one NUL each: allow room. */
	sv_buf_init(&b1, 4 * (size_t)SV_PACK_MAX_BYTES);
	sv_buf_init(&b2, 4 * (size_t)SV_PACK_MAX_BYTES);
	if (sv_pack_encode(&p, &b1) != 0)
		abort();
	e1 = sv_buf_peek(&b1, &n1);
	int r = sv_pack_decode(&q, e1, n1);
	/* The re-encoding may exceed the decoder's size limit (added NULs). */
	if (r == SV_E_TOOBIG && n1 > SV_PACK_MAX_BYTES)
		goto out;
	if (r != 0 || !same_pack(&p, &q))
		abort();
	if (sv_pack_encode(&q, &b2) != 0)
		abort();
	e2 = sv_buf_peek(&b2, &n2);
	if (n1 != n2 || memcmp(e1, e2, n1) != 0)
		abort();
	sv_pack_cleanup(&q);
out:
	sv_buf_cleanup(&b2);
	sv_buf_cleanup(&b1);
	sv_pack_cleanup(&p);
	return 0;
}
