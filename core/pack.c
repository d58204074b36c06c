/*
 * PACK codec (spec section 5; see pack.h).
 *
 * Decoding reads through an sv_rd cursor clipped to SV_PACK_MAX_BYTES, so no
 * PACK larger than that is ever accepted, and allocates only as elements and
 * values actually parse: a count field alone can never make us allocate more
 * than the input bytes justify.
 */
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "pack.h"

/* Upstream compares names with an ASCII-only, locale-free case fold. */
static int
name_casecmp(const char *a, const char *b)
{
	for (;; a++, b++) {
		unsigned char ca = (unsigned char)*a, cb = (unsigned char)*b;
		if (ca >= 'A' && ca <= 'Z')
			ca = (unsigned char)(ca - 'A' + 'a');
		if (cb >= 'A' && cb <= 'Z')
			cb = (unsigned char)(cb - 'A' + 'a');
		if (ca != cb)
			return ca - cb;
		if (ca == '\0')
			return 0;
	}
}

static void
elem_free(struct sv_pack_elem *e)
{
	if (e->values != NULL) {
		for (uint32_t i = 0; i < e->count; i++) {
			struct sv_pack_value *v = &e->values[i];
			if (v->data != NULL) {
				explicit_bzero(v->data, (size_t)v->len + 1);
				free(v->data);
			}
		}
		free(e->values);
	}
	memset(e, 0, sizeof *e);
}

/* see pack.h */
void
sv_pack_init(struct sv_pack *p)
{
	memset(p, 0, sizeof *p);
}

/* see pack.h */
void
sv_pack_cleanup(struct sv_pack *p)
{
	if (p == NULL)
		return;
	for (size_t i = 0; i < p->n; i++)
		elem_free(&p->elems[i]);
	free(p->elems);
	sv_pack_init(p);
}

/* see pack.h */
const struct sv_pack_elem *
sv_pack_find(const struct sv_pack *p, const char *name)
{
	if (p == NULL || name == NULL)
		return NULL;
	for (size_t i = 0; i < p->n; i++)
		if (name_casecmp(p->elems[i].name, name) == 0)
			return &p->elems[i];
	return NULL;
}

/* Appends an empty element (no values yet); the name must fit. */
static int
elem_push(struct sv_pack *p, const char *name, uint32_t type,
          struct sv_pack_elem **out)
{
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 16;
		if (cap > SIZE_MAX / sizeof *p->elems)
			return SV_E_NOMEM;
		struct sv_pack_elem *ne = realloc(p->elems, cap * sizeof *ne);
		if (ne == NULL)
			return SV_E_NOMEM;
		p->elems = ne;
		p->cap = cap;
	}
	struct sv_pack_elem *e = &p->elems[p->n++];
	memset(e, 0, sizeof *e);
	strcpy(e->name, name);
	e->type = type;
	*out = e;
	return 0;
}

/* Drops the last element (undoing a failed add). */
static void
elem_pop(struct sv_pack *p)
{
	if (p->n > 0)
		elem_free(&p->elems[--p->n]);
}

/* Grows e->values to hold one more value; *cap tracks its capacity. */
static int
value_push(struct sv_pack_elem *e, uint32_t *cap, struct sv_pack_value **out)
{
	if (e->count == *cap) {
		uint32_t ncap = *cap ? *cap * 2 : 1;
		if (ncap > SV_PACK_MAX_VALUES)
			ncap = SV_PACK_MAX_VALUES;
		if (ncap <= e->count)
			return SV_E_TOOBIG;
		struct sv_pack_value *nv =
		    realloc(e->values, (size_t)ncap * sizeof *nv);
		if (nv == NULL)
			return SV_E_NOMEM;
		e->values = nv;
		*cap = ncap;
	}
	struct sv_pack_value *v = &e->values[e->count++];
	memset(v, 0, sizeof *v);
	*out = v;
	return 0;
}

/* Copies n bytes into a fresh NUL-terminated block for v. */
static int
value_set_bytes(struct sv_pack_value *v, const void *d, size_t n)
{
	if (n > UINT32_MAX - 1)
		return SV_E_TOOBIG;
	v->data = malloc(n + 1);
	if (v->data == NULL)
		return SV_E_NOMEM;
	if (n > 0)
		memcpy(v->data, d, n);
	v->data[n] = '\0';
	v->len = (uint32_t)n;
	return 0;
}

/* Name rules for our own adders: 1..63 bytes, not already present. */
static int
check_new_name(const struct sv_pack *p, const char *name)
{
	if (p == NULL || name == NULL || name[0] == '\0' ||
	    strlen(name) > SV_PACK_NAME_MAX)
		return SV_E_INVAL;
	if (sv_pack_find(p, name) != NULL)
		return SV_E_INVAL;
	return 0;
}

/* One-value element holding a number. */
static int
add_num(struct sv_pack *p, const char *name, uint32_t type, uint64_t num)
{
	struct sv_pack_elem *e;
	struct sv_pack_value *v;
	uint32_t cap = 0;
	int r;

	if ((r = check_new_name(p, name)) != 0 ||
	    (r = elem_push(p, name, type, &e)) != 0)
		return r;
	if ((r = value_push(e, &cap, &v)) != 0) {
		elem_pop(p);
		return r;
	}
	v->num = num;
	return 0;
}

/* One-value element holding bytes. */
static int
add_bytes(struct sv_pack *p, const char *name, uint32_t type, const void *d,
          size_t n)
{
	struct sv_pack_elem *e;
	struct sv_pack_value *v;
	uint32_t cap = 0;
	int r;

	if (d == NULL && n > 0)
		return SV_E_INVAL;
	if (n > SV_PACK_MAX_BYTES)
		return SV_E_TOOBIG;
	if ((r = check_new_name(p, name)) != 0 ||
	    (r = elem_push(p, name, type, &e)) != 0)
		return r;
	if ((r = value_push(e, &cap, &v)) != 0 ||
	    (r = value_set_bytes(v, d, n)) != 0) {
		elem_pop(p);
		return r;
	}
	return 0;
}

/* see pack.h */
int
sv_pack_add_int(struct sv_pack *p, const char *name, uint32_t v)
{
	return add_num(p, name, SV_PACK_INT, v);
}

/* see pack.h */
int
sv_pack_add_bool(struct sv_pack *p, const char *name, bool v)
{
	return add_num(p, name, SV_PACK_INT, v ? 1 : 0);
}

/* see pack.h */
int
sv_pack_add_int64(struct sv_pack *p, const char *name, uint64_t v)
{
	return add_num(p, name, SV_PACK_INT64, v);
}

/* see pack.h */
int
sv_pack_add_data(struct sv_pack *p, const char *name, const void *d, size_t n)
{
	return add_bytes(p, name, SV_PACK_DATA, d, n);
}

/* see pack.h */
int
sv_pack_add_str(struct sv_pack *p, const char *name, const char *s)
{
	if (s == NULL)
		return SV_E_INVAL;
	return add_bytes(p, name, SV_PACK_STR, s, strlen(s));
}

/* see pack.h */
int
sv_pack_add_unistr(struct sv_pack *p, const char *name, const char *utf8)
{
	if (utf8 == NULL)
		return SV_E_INVAL;
	return add_bytes(p, name, SV_PACK_UNISTR, utf8, strlen(utf8));
}

/* see pack.h */
int
sv_pack_add_ip4(struct sv_pack *p, const char *name, const uint8_t ip[4])
{
	static const char *const sfx[] = {"", "@ipv6_bool", "@ipv6_array",
	                                  "@ipv6_scope_id"};
	static const uint8_t zeros[16];
	char names[4][SV_PACK_NAME_MAX + 1];
	size_t n0;
	int r;

	if (p == NULL || name == NULL || ip == NULL ||
	    strlen(name) + strlen("@ipv6_scope_id") > SV_PACK_NAME_MAX)
		return SV_E_INVAL;
	n0 = p->n;
	/* Check all four names first so the group is added whole or not at all.
	 */
	for (int i = 0; i < 4; i++) {
		strcpy(names[i], name);
		strcat(names[i], sfx[i]);
		if ((r = check_new_name(p, names[i])) != 0)
			return r;
	}
	/* Spec section 5: a.b.c.d -> a | b<<8 | c<<16 | d<<24. */
	uint32_t v = (uint32_t)ip[0] | (uint32_t)ip[1] << 8 |
	             (uint32_t)ip[2] << 16 | (uint32_t)ip[3] << 24;
	if ((r = sv_pack_add_int(p, names[0], v)) != 0 ||
	    (r = sv_pack_add_int(p, names[1], 0)) != 0 ||
	    (r = sv_pack_add_data(p, names[2], zeros, sizeof zeros)) != 0 ||
	    (r = sv_pack_add_int(p, names[3], 0)) != 0) {
		while (p->n > n0)
			elem_pop(p);
		return r;
	}
	return 0;
}

/* see pack.h */
int
sv_pack_add_int_array(struct sv_pack *p, const char *name, const uint32_t *v,
                      size_t n)
{
	struct sv_pack_elem *e;
	struct sv_pack_value *val;
	uint32_t cap = 0;
	int r;

	if (v == NULL || n == 0)
		return SV_E_INVAL; /* value_count 0 is invalid on the wire */
	if (n > SV_PACK_MAX_VALUES)
		return SV_E_TOOBIG;
	if ((r = check_new_name(p, name)) != 0 ||
	    (r = elem_push(p, name, SV_PACK_INT, &e)) != 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		if ((r = value_push(e, &cap, &val)) != 0) {
			elem_pop(p);
			return r;
		}
		val->num = v[i];
	}
	return 0;
}

static int
encode_value(const struct sv_pack_elem *e, const struct sv_pack_value *v,
             struct sv_buf *out)
{
	int r = 0;

	switch (e->type) {
	case SV_PACK_INT:
		return sv_buf_put_u32(out, (uint32_t)v->num);
	case SV_PACK_INT64:
		return sv_buf_put_u64(out, v->num);
	case SV_PACK_DATA:
	case SV_PACK_STR:
		if ((r = sv_buf_put_u32(out, v->len)) == 0)
			r = sv_buf_put(out, v->data, v->len);
		return r;
	case SV_PACK_UNISTR:
		/* The size counts one trailing NUL, which we write. */
		if (v->len == UINT32_MAX)
			return SV_E_TOOBIG;
		if ((r = sv_buf_put_u32(out, v->len + 1)) == 0 &&
		    (r = sv_buf_put(out, v->data, v->len)) == 0)
			r = sv_buf_put_u8(out, 0);
		return r;
	default:
		return SV_E_INTERNAL;
	}
}

static int
encode_elem(const struct sv_pack_elem *e, struct sv_buf *out)
{
	size_t nl = strlen(e->name);
	int r;

	/* Quirk (spec section 5): the length field is strlen + 1. */
	if ((r = sv_buf_put_u32(out, (uint32_t)nl + 1)) != 0 ||
	    (r = sv_buf_put(out, e->name, nl)) != 0 ||
	    (r = sv_buf_put_u32(out, e->type)) != 0 ||
	    (r = sv_buf_put_u32(out, e->count)) != 0)
		return r;
	for (uint32_t i = 0; i < e->count; i++)
		if ((r = encode_value(e, &e->values[i], out)) != 0)
			return r;
	return 0;
}

/* see pack.h */
int
sv_pack_encode(const struct sv_pack *p, struct sv_buf *out)
{
	size_t before = sv_buf_len(out);
	int r;

	if (p->n > UINT32_MAX)
		return SV_E_TOOBIG;
	if ((r = sv_buf_put_u32(out, (uint32_t)p->n)) == 0) {
		for (size_t i = 0; i < p->n; i++)
			if ((r = encode_elem(&p->elems[i], out)) != 0)
				break;
	}
	if (r != 0) /* take back the partial PACK; reserve may have compacted */
		out->len = out->off + before;
	return r;
}

/* Decoder state: the cursor, and what running out of bytes means. */
struct dec {
	struct sv_rd r;
	int short_err; /* SV_E_PROTO, or SV_E_TOOBIG when clipped at the limit
	                */
};

static int
dec_u32(struct dec *d, uint32_t *v)
{
	return sv_rd_u32(&d->r, v) == 0 ? 0 : d->short_err;
}

static int
dec_bytes(struct dec *d, const uint8_t **p, size_t n)
{
	return sv_rd_bytes(&d->r, p, n) == 0 ? 0 : d->short_err;
}

/* Name: truncated to SV_PACK_NAME_MAX like upstream; embedded NUL refused. */
static int
dec_name(struct dec *d, char name[static SV_PACK_NAME_MAX + 1])
{
	uint32_t len1;
	const uint8_t *s;
	int r;

	if ((r = dec_u32(d, &len1)) != 0)
		return r;
	if (len1 == 0)
		return SV_E_PROTO;
	size_t len = len1 - 1;
	if (len > SV_PACK_MAX_BYTES)
		return SV_E_TOOBIG;
	if ((r = dec_bytes(d, &s, len)) != 0)
		return r;
	if (memchr(s, '\0', len) != NULL)
		return SV_E_PROTO;
	size_t keep = len < SV_PACK_NAME_MAX ? len : SV_PACK_NAME_MAX;
	memcpy(name, s, keep);
	name[keep] = '\0';
	return 0;
}

static int
dec_value(struct dec *d, uint32_t type, struct sv_pack_value *v)
{
	uint32_t u32, size;
	uint64_t u64;
	const uint8_t *s;
	int r;

	switch (type) {
	case SV_PACK_INT:
		if ((r = dec_u32(d, &u32)) != 0)
			return r;
		v->num = u32;
		return 0;
	case SV_PACK_INT64:
		if (sv_rd_u64(&d->r, &u64) != 0)
			return d->short_err;
		v->num = u64;
		return 0;
	case SV_PACK_DATA:
	case SV_PACK_STR:
	case SV_PACK_UNISTR:
		break;
	default:
		return SV_E_PROTO;
	}
	if ((r = dec_u32(d, &size)) != 0)
		return r;
	if (size > SV_PACK_MAX_BYTES)
		return SV_E_TOOBIG;
	if ((r = dec_bytes(d, &s, size)) != 0)
		return r;
	/* UNISTR: the size counts a trailing NUL; size 0 is tolerated. */
	if (type == SV_PACK_UNISTR && size > 0 && s[size - 1] == '\0')
		size--;
	return value_set_bytes(v, s, size);
}

static int
dec_elem(struct dec *d, struct sv_pack *p)
{
	char name[SV_PACK_NAME_MAX + 1];
	uint32_t type, count, cap = 0;
	struct sv_pack_elem *e;
	struct sv_pack_value *v;
	int r;

	if ((r = dec_name(d, name)) != 0 || (r = dec_u32(d, &type)) != 0 ||
	    (r = dec_u32(d, &count)) != 0)
		return r;
	if (type > SV_PACK_INT64 || count == 0)
		return SV_E_PROTO;
	if (count > SV_PACK_MAX_VALUES)
		return SV_E_TOOBIG;
	/* Names differing only in case collide: the whole PACK is invalid. */
	if (sv_pack_find(p, name) != NULL)
		return SV_E_PROTO;
	if ((r = elem_push(p, name, type, &e)) != 0)
		return r;
	for (uint32_t i = 0; i < count; i++) {
		if ((r = value_push(e, &cap, &v)) != 0 ||
		    (r = dec_value(d, type, v)) != 0)
			return r; /* the caller frees the whole pack */
	}
	return 0;
}

/* see pack.h */
int
sv_pack_decode(struct sv_pack *p, const uint8_t *data, size_t n)
{
	struct dec d;
	uint32_t count;
	int r;

	sv_pack_init(p);
	if (data == NULL && n > 0)
		return SV_E_INVAL;
	/* Never look past the limit: a PACK that needs more is too big. */
	d.short_err = SV_E_PROTO;
	if (n > SV_PACK_MAX_BYTES) {
		n = SV_PACK_MAX_BYTES;
		d.short_err = SV_E_TOOBIG;
	}
	d.r = sv_rd_make(data, n);
	if ((r = dec_u32(&d, &count)) != 0)
		goto out;
	if (count > SV_PACK_MAX_ELEMENTS) {
		r = SV_E_TOOBIG;
		goto out;
	}
	for (uint32_t i = 0; i < count; i++)
		if ((r = dec_elem(&d, p)) != 0)
			goto out;
	r = 0;
out:
	if (r != 0)
		sv_pack_cleanup(p);
	return r;
}

/* First value of element name if it has type t. */
static const struct sv_pack_value *
get_first(const struct sv_pack *p, const char *name, uint32_t t)
{
	const struct sv_pack_elem *e = sv_pack_find(p, name);

	if (e == NULL || e->type != t || e->count == 0)
		return NULL;
	return &e->values[0];
}

/* see pack.h */
bool
sv_pack_get_int(const struct sv_pack *p, const char *name, uint32_t *v)
{
	const struct sv_pack_value *x = get_first(p, name, SV_PACK_INT);

	if (x == NULL)
		return false;
	*v = (uint32_t)x->num;
	return true;
}

/* see pack.h */
bool
sv_pack_get_int64(const struct sv_pack *p, const char *name, uint64_t *v)
{
	const struct sv_pack_value *x = get_first(p, name, SV_PACK_INT64);

	if (x == NULL)
		return false;
	*v = x->num;
	return true;
}

/* see pack.h */
bool
sv_pack_get_data(const struct sv_pack *p, const char *name, const uint8_t **d,
                 size_t *n)
{
	const struct sv_pack_value *x = get_first(p, name, SV_PACK_DATA);

	if (x == NULL)
		return false;
	*d = x->data;
	*n = x->len;
	return true;
}

/* see pack.h */
bool
sv_pack_get_str(const struct sv_pack *p, const char *name, const char **s)
{
	const struct sv_pack_value *x = get_first(p, name, SV_PACK_STR);

	if (x == NULL)
		x = get_first(p, name, SV_PACK_UNISTR);
	if (x == NULL)
		return false;
	*s = (const char *)x->data;
	return true;
}
