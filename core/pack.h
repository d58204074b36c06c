/*
 * PACK: SoftEther's typed key/value container (spec section 5).
 *
 *   PACK    = u32 count, element[count]
 *   element = u32 name_len+1, name[name_len], u32 type, u32 value_count, value[value_count]
 *   value   = INT u32 | DATA u32 size + bytes | STR u32 len + bytes (no NUL)
 *           | UNISTR u32 size + UTF-8 bytes including one NUL | INT64 u64
 *
 * Names are case-insensitive for lookup and uniqueness; getters are type-strict.
 * sv_pack_decode() copies everything it keeps, so the input can be freed afterwards, and
 * rejects malformed input (short data, zero counts, bad types, duplicate names, sizes past
 * the limits) with SV_E_PROTO or SV_E_TOOBIG, never crashing.
 */
#ifndef SV_PACK_H
#define SV_PACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

enum sv_pack_type {
	SV_PACK_INT = 0,
	SV_PACK_DATA = 1,
	SV_PACK_STR = 2,
	SV_PACK_UNISTR = 3,
	SV_PACK_INT64 = 4,
};

#define SV_PACK_NAME_MAX 63          /* longer names are truncated on decode */
#define SV_PACK_MAX_ELEMENTS 4096    /* what we accept from a server */
#define SV_PACK_MAX_VALUES 4096      /* values per element */
#define SV_PACK_MAX_BYTES (1u << 20) /* whole PACK we accept (1 MiB) */

struct sv_pack_value {
	uint64_t num;  /* INT, INT64 */
	uint8_t *data; /* DATA, STR, UNISTR: owned; STR/UNISTR also NUL-terminated */
	uint32_t len;  /* bytes in data, excluding our added NUL */
};

struct sv_pack_elem {
	char name[SV_PACK_NAME_MAX + 1];
	uint32_t type;
	uint32_t count;
	struct sv_pack_value *values; /* owned, count entries */
};

struct sv_pack {
	struct sv_pack_elem *elems; /* owned */
	size_t n, cap;
};

void sv_pack_init(struct sv_pack *p);
/* Frees everything; wipes DATA/STR values (they may hold secrets). Accepts NULL. */
void sv_pack_cleanup(struct sv_pack *p);

/* Adders copy their inputs. SV_E_INVAL on a duplicate (case-insensitive) or bad name. */
int sv_pack_add_int(struct sv_pack *p, const char *name, uint32_t v);
int sv_pack_add_bool(struct sv_pack *p, const char *name, bool v);
int sv_pack_add_int64(struct sv_pack *p, const char *name, uint64_t v);
int sv_pack_add_data(struct sv_pack *p, const char *name, const void *d, size_t n);
int sv_pack_add_str(struct sv_pack *p, const char *name, const char *s);
int sv_pack_add_unistr(struct sv_pack *p, const char *name, const char *utf8);
/* The 4-element IP group of spec section 5 for an IPv4 address a.b.c.d (ip[0] = a). */
int sv_pack_add_ip4(struct sv_pack *p, const char *name, const uint8_t ip[4]);
/* Element with several INT values (arrays). */
int sv_pack_add_int_array(struct sv_pack *p, const char *name, const uint32_t *v, size_t n);

/* Appends the wire form to out. */
int sv_pack_encode(const struct sv_pack *p, struct sv_buf *out);
/* Parses exactly one PACK from d[0..n) (trailing bytes are ignored, as the server does).
 * p must be freshly initialised; on failure it is left empty. */
int sv_pack_decode(struct sv_pack *p, const uint8_t *d, size_t n);

/* Case-insensitive lookup; NULL if absent. */
const struct sv_pack_elem *sv_pack_find(const struct sv_pack *p, const char *name);
/* Typed getters (first value). Return false if absent or of another type. */
bool sv_pack_get_int(const struct sv_pack *p, const char *name, uint32_t *v);
bool sv_pack_get_int64(const struct sv_pack *p, const char *name, uint64_t *v);
/* *d borrowed from p. */
bool sv_pack_get_data(const struct sv_pack *p, const char *name, const uint8_t **d, size_t *n);
/* STR or UNISTR; *s borrowed, NUL-terminated. */
bool sv_pack_get_str(const struct sv_pack *p, const char *name, const char **s);

#endif
