/*
 * PACK codec: round trips, the byte-exact example of spec section 5, and
 * rejection of malformed input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/pack.h"

/* Spec section 5 example: {method:"login", authtype:1, random:00010203, u:"é"}.
 */
/* clang-format off */
static const uint8_t spec_example[] = {
	0x00, 0x00, 0x00, 0x04,
	0x00, 0x00, 0x00, 0x07, 'm', 'e', 't', 'h', 'o', 'd',
	0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x01,
	0x00, 0x00, 0x00, 0x05, 'l', 'o', 'g', 'i', 'n',
	0x00, 0x00, 0x00, 0x09, 'a', 'u', 't', 'h', 't', 'y', 'p', 'e',
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
	0x00, 0x00, 0x00, 0x01,
	0x00, 0x00, 0x00, 0x07, 'r', 'a', 'n', 'd', 'o', 'm',
	0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01,
	0x00, 0x00, 0x00, 0x04, 0x00, 0x01, 0x02, 0x03,
	0x00, 0x00, 0x00, 0x02, 'u',
	0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01,
	0x00, 0x00, 0x00, 0x03, 0xc3, 0xa9, 0x00,
};
/* clang-format on */

/* Encodes p into a fresh heap block; *n gets its length. */
static uint8_t *
encode(const struct sv_pack *p, size_t *n)
{
	struct sv_buf b;
	size_t len;

	sv_buf_init(&b, SV_PACK_MAX_BYTES);
	assert_int_equal(sv_pack_encode(p, &b), 0);
	const uint8_t *d = sv_buf_peek(&b, &len);
	uint8_t *copy = malloc(len ? len : 1);
	assert_non_null(copy);
	memcpy(copy, d, len);
	sv_buf_cleanup(&b);
	*n = len;
	return copy;
}

static void
build_spec_example(struct sv_pack *p)
{
	static const uint8_t rnd[] = {0, 1, 2, 3};

	sv_pack_init(p);
	assert_int_equal(sv_pack_add_str(p, "method", "login"), 0);
	assert_int_equal(sv_pack_add_int(p, "authtype", 1), 0);
	assert_int_equal(sv_pack_add_data(p, "random", rnd, sizeof rnd), 0);
	assert_int_equal(sv_pack_add_unistr(p, "u", "\xc3\xa9"), 0);
}

static void
pack_encode_matches_spec_example_bytes(void **state)
{
	struct sv_pack p;
	size_t n;

	build_spec_example(&p);
	uint8_t *d = encode(&p, &n);
	assert_int_equal(n, sizeof spec_example);
	assert_memory_equal(d, spec_example, n);
	free(d);
	sv_pack_cleanup(&p);
}

static void
pack_decode_reads_spec_example(void **state)
{
	struct sv_pack p;
	const char *s;
	uint32_t v;
	const uint8_t *d;
	size_t n;

	assert_int_equal(sv_pack_decode(&p, spec_example, sizeof spec_example),
	                 0);
	assert_int_equal(p.n, 4);
	assert_true(sv_pack_get_str(&p, "method", &s));
	assert_string_equal(s, "login");
	assert_true(sv_pack_get_int(&p, "AuthType", &v));
	assert_int_equal(v, 1);
	assert_true(sv_pack_get_data(&p, "random", &d, &n));
	assert_int_equal(n, 4);
	assert_memory_equal(d, "\x00\x01\x02\x03", 4);
	assert_true(sv_pack_get_str(&p, "U", &s));
	assert_string_equal(s, "\xc3\xa9");
	assert_int_equal(sv_pack_find(&p, "u")->values[0].len, 2);
	sv_pack_cleanup(&p);
}

static void
pack_round_trips_every_type(void **state)
{
	static const uint32_t arr[] = {443, 992, 5555, 0xffffffffu};
	static const uint8_t ip[4] = {127, 0, 0, 1};
	static const uint8_t bin[] = {0, 0xff, 0, 0x80};
	struct sv_pack p, q;
	size_t n;
	uint32_t v;
	uint64_t v64;
	const char *s;
	const uint8_t *d;
	size_t dn;

	sv_pack_init(&p);
	assert_int_equal(sv_pack_add_int(&p, "i", 0xfedcba98u), 0);
	assert_int_equal(sv_pack_add_bool(&p, "b", true), 0);
	assert_int_equal(sv_pack_add_int64(&p, "i64", 0x0123456789abcdefULL),
	                 0);
	assert_int_equal(sv_pack_add_data(&p, "d", bin, sizeof bin), 0);
	assert_int_equal(sv_pack_add_data(&p, "empty", NULL, 0), 0);
	assert_int_equal(sv_pack_add_str(&p, "s", "hello world"), 0);
	assert_int_equal(sv_pack_add_str(&p, "es", ""), 0);
	assert_int_equal(sv_pack_add_unistr(&p, "us", "caf\xc3\xa9"), 0);
	assert_int_equal(sv_pack_add_int_array(&p, "Port", arr, 4), 0);
	assert_int_equal(sv_pack_add_ip4(&p, "ClientIpAddress", ip), 0);
	uint8_t *enc = encode(&p, &n);

	assert_int_equal(sv_pack_decode(&q, enc, n), 0);
	assert_int_equal(q.n, p.n);
	assert_true(sv_pack_get_int(&q, "i", &v));
	assert_int_equal(v, 0xfedcba98u);
	assert_true(sv_pack_get_int(&q, "b", &v));
	assert_int_equal(v, 1);
	assert_true(sv_pack_get_int64(&q, "i64", &v64));
	assert_true(v64 == 0x0123456789abcdefULL);
	assert_true(sv_pack_get_data(&q, "d", &d, &dn));
	assert_int_equal(dn, sizeof bin);
	assert_memory_equal(d, bin, dn);
	assert_true(sv_pack_get_data(&q, "empty", &d, &dn));
	assert_int_equal(dn, 0);
	assert_true(sv_pack_get_str(&q, "s", &s));
	assert_string_equal(s, "hello world");
	assert_true(sv_pack_get_str(&q, "es", &s));
	assert_string_equal(s, "");
	assert_true(sv_pack_get_str(&q, "us", &s));
	assert_string_equal(s, "caf\xc3\xa9");

	const struct sv_pack_elem *e = sv_pack_find(&q, "port");
	assert_non_null(e);
	assert_int_equal(e->type, SV_PACK_INT);
	assert_int_equal(e->count, 4);
	for (int i = 0; i < 4; i++)
		assert_int_equal(e->values[i].num, arr[i]);

	/* Spec section 5: 127.0.0.1 arrives as 16777343. */
	assert_true(sv_pack_get_int(&q, "ClientIpAddress", &v));
	assert_int_equal(v, 16777343u);
	assert_true(sv_pack_get_int(&q, "ClientIpAddress@ipv6_bool", &v));
	assert_int_equal(v, 0);
	assert_true(
	    sv_pack_get_data(&q, "ClientIpAddress@ipv6_array", &d, &dn));
	assert_int_equal(dn, 16);
	for (size_t i = 0; i < 16; i++)
		assert_int_equal(d[i], 0);
	assert_true(sv_pack_get_int(&q, "ClientIpAddress@ipv6_scope_id", &v));
	assert_int_equal(v, 0);

	/* Encoding the decoded pack gives the same bytes. */
	size_t n2;
	uint8_t *enc2 = encode(&q, &n2);
	assert_int_equal(n2, n);
	assert_memory_equal(enc2, enc, n);
	free(enc2);
	free(enc);
	sv_pack_cleanup(&q);
	sv_pack_cleanup(&p);
}

static void
pack_ip4_wire_bytes_are_little_endian(void **state)
{
	static const uint8_t ip[4] = {10, 20, 30, 40};
	static const uint8_t want[] = {0, 0, 0, 4, 0, 0, 0,  2,  'x', 0, 0,
	                               0, 0, 0, 0, 0, 1, 40, 30, 20,  10};
	struct sv_pack p;
	size_t n;

	sv_pack_init(&p);
	assert_int_equal(sv_pack_add_ip4(&p, "x", ip), 0);
	assert_int_equal(p.n, 4);
	uint8_t *enc = encode(&p, &n);
	assert_true(n > sizeof want);
	assert_memory_equal(enc, want, sizeof want);
	free(enc);
	sv_pack_cleanup(&p);
}

static void
pack_ip4_group_is_all_or_nothing(void **state)
{
	static const uint8_t ip[4] = {1, 2, 3, 4};
	struct sv_pack p;
	char longname[SV_PACK_NAME_MAX + 1];

	sv_pack_init(&p);
	assert_int_equal(sv_pack_add_int(&p, "X@IPV6_ARRAY", 1), 0);
	assert_int_equal(sv_pack_add_ip4(&p, "x", ip), SV_E_INVAL);
	assert_int_equal(p.n, 1);
	memset(longname, 'a', 50);
	longname[50] = '\0';
	assert_int_equal(sv_pack_add_ip4(&p, longname, ip), SV_E_INVAL);
	assert_int_equal(p.n, 1);
	sv_pack_cleanup(&p);
}

static void
pack_add_rejects_duplicate_and_bad_names(void **state)
{
	struct sv_pack p;
	char longname[SV_PACK_NAME_MAX + 2];
	uint32_t one = 1;

	sv_pack_init(&p);
	assert_int_equal(sv_pack_add_str(&p, "hubname", "VPN"), 0);
	assert_int_equal(sv_pack_add_str(&p, "HubName", "x"), SV_E_INVAL);
	assert_int_equal(sv_pack_add_int(&p, "HUBNAME", 1), SV_E_INVAL);
	assert_int_equal(sv_pack_add_int(&p, "", 1), SV_E_INVAL);
	assert_int_equal(sv_pack_add_int(&p, NULL, 1), SV_E_INVAL);
	memset(longname, 'n', SV_PACK_NAME_MAX + 1);
	longname[SV_PACK_NAME_MAX + 1] = '\0';
	assert_int_equal(sv_pack_add_int(&p, longname, 1), SV_E_INVAL);
	longname[SV_PACK_NAME_MAX] = '\0';
	assert_int_equal(sv_pack_add_int(&p, longname, 1), 0);
	assert_int_equal(sv_pack_add_int_array(&p, "arr", &one, 0), SV_E_INVAL);
	assert_int_equal(
	    sv_pack_add_int_array(&p, "arr", &one, SV_PACK_MAX_VALUES + 1),
	    SV_E_TOOBIG);
	assert_int_equal(p.n, 2);
	sv_pack_cleanup(&p);
}

static void
pack_getters_are_type_strict(void **state)
{
	struct sv_pack p;
	uint32_t v = 5;
	uint64_t v64 = 5;
	const char *s = NULL;
	const uint8_t *d = NULL;
	size_t n = 0;

	sv_pack_init(&p);
	assert_int_equal(sv_pack_add_unistr(&p, "hubname", "VPN"), 0);
	assert_int_equal(sv_pack_add_int(&p, "num", 7), 0);
	assert_int_equal(sv_pack_add_str(&p, "str", "x"), 0);
	/* STR getter accepts UNISTR (pack.h); everything else is strict. */
	assert_true(sv_pack_get_str(&p, "hubname", &s));
	assert_false(sv_pack_get_int(&p, "hubname", &v));
	assert_false(sv_pack_get_int64(&p, "num", &v64));
	assert_false(sv_pack_get_data(&p, "str", &d, &n));
	assert_false(sv_pack_get_str(&p, "num", &s));
	assert_false(sv_pack_get_int(&p, "missing", &v));
	assert_int_equal(v, 5);
	assert_true(v64 == 5);
	assert_null(d);
	assert_int_equal(n, 0);
	sv_pack_cleanup(&p);
}

static void
pack_encode_failure_leaves_output_unchanged(void **state)
{
	struct sv_pack p;
	struct sv_buf b;
	size_t n;

	build_spec_example(&p);
	sv_buf_init(&b, 20);
	assert_int_equal(sv_buf_put_str(&b, "keep"), 0);
	assert_int_equal(sv_pack_encode(&p, &b), SV_E_TOOBIG);
	const uint8_t *d = sv_buf_peek(&b, &n);
	assert_int_equal(n, 4);
	assert_memory_equal(d, "keep", 4);
	sv_buf_cleanup(&b);
	sv_pack_cleanup(&p);
}

static void
pack_rejects_truncation_at_every_offset(void **state)
{
	struct sv_pack p;

	for (size_t n = 0; n < sizeof spec_example; n++) {
		/* A heap copy of exactly n bytes so ASan sees any over-read. */
		uint8_t *d = malloc(n ? n : 1);
		assert_non_null(d);
		memcpy(d, spec_example, n);
		assert_int_equal(sv_pack_decode(&p, d, n), SV_E_PROTO);
		assert_int_equal(p.n, 0);
		assert_null(p.elems);
		free(d);
	}
}

static void
pack_ignores_trailing_bytes(void **state)
{
	uint8_t d[sizeof spec_example + 7];
	struct sv_pack p;
	const char *s;

	memcpy(d, spec_example, sizeof spec_example);
	memset(d + sizeof spec_example, 0xee, 7);
	assert_int_equal(sv_pack_decode(&p, d, sizeof d), 0);
	assert_int_equal(p.n, 4);
	assert_true(sv_pack_get_str(&p, "method", &s));
	sv_pack_cleanup(&p);
}

static void
pack_accepts_empty_pack(void **state)
{
	static const uint8_t d[] = {0, 0, 0, 0};
	struct sv_pack p;

	assert_int_equal(sv_pack_decode(&p, d, sizeof d), 0);
	assert_int_equal(p.n, 0);
	sv_pack_cleanup(&p);
}

/* One element "a" of the given type and value count, then raw value bytes. */
static size_t
one_elem(uint8_t *d, uint32_t type, uint32_t count, const uint8_t *val,
         size_t vn)
{
	uint8_t h[] = {0,
	               0,
	               0,
	               1,
	               0,
	               0,
	               0,
	               2,
	               'a',
	               (uint8_t)(type >> 24),
	               (uint8_t)(type >> 16),
	               (uint8_t)(type >> 8),
	               (uint8_t)type,
	               (uint8_t)(count >> 24),
	               (uint8_t)(count >> 16),
	               (uint8_t)(count >> 8),
	               (uint8_t)count};

	memcpy(d, h, sizeof h);
	if (vn > 0)
		memcpy(d + sizeof h, val, vn);
	return sizeof h + vn;
}

static void
pack_rejects_zero_value_count(void **state)
{
	uint8_t d[64];
	struct sv_pack p;
	static const uint8_t v[] = {0, 0, 0, 1};

	size_t n = one_elem(d, SV_PACK_INT, 0, v, sizeof v);
	assert_int_equal(sv_pack_decode(&p, d, n), SV_E_PROTO);
	assert_int_equal(p.n, 0);
}

static void
pack_rejects_zero_name_length(void **state)
{
	static const uint8_t d[] = {0, 0, 0, 1, 0, 0, 0, 0, 0, 0,
	                            0, 0, 0, 0, 0, 1, 0, 0, 0, 1};
	struct sv_pack p;

	assert_int_equal(sv_pack_decode(&p, d, sizeof d), SV_E_PROTO);
}

static void
pack_rejects_unknown_type(void **state)
{
	uint8_t d[64];
	struct sv_pack p;
	static const uint8_t v[] = {0, 0, 0, 1, 0, 0, 0, 0};

	for (uint32_t t = 5; t < 8; t++) {
		size_t n = one_elem(d, t, 1, v, sizeof v);
		assert_int_equal(sv_pack_decode(&p, d, n), SV_E_PROTO);
	}
	size_t n = one_elem(d, 0xffffffffu, 1, v, sizeof v);
	assert_int_equal(sv_pack_decode(&p, d, n), SV_E_PROTO);
}

static void
pack_rejects_names_differing_only_in_case(void **state)
{
	struct sv_pack p, q;
	size_t n;

	/* Build two distinct names, then flip one to collide on the wire. */
	sv_pack_init(&p);
	assert_int_equal(sv_pack_add_int(&p, "hubname", 1), 0);
	assert_int_equal(sv_pack_add_str(&p, "xubName", "VPN"), 0);
	uint8_t *d = encode(&p, &n);
	uint8_t *x = memchr(d + 16, 'x', n - 16);
	assert_non_null(x);
	*x = 'H';
	assert_int_equal(sv_pack_decode(&q, d, n), SV_E_PROTO);
	assert_int_equal(q.n, 0);
	free(d);
	sv_pack_cleanup(&p);
}

static void
pack_truncates_long_names_and_detects_collisions_after(void **state)
{
	/* Two 70-byte names sharing the first 63 bytes collide. */
	uint8_t d[256];
	struct sv_pack p;
	size_t n = 0;

	memcpy(d, "\0\0\0\2", 4);
	n = 4;
	for (int k = 0; k < 2; k++) {
		memcpy(d + n, "\0\0\0\x47", 4); /* 70 + 1 */
		n += 4;
		memset(d + n, 'n', 70);
		d[n + 69] = (uint8_t)('0' + k);
		n += 70;
		memcpy(d + n, "\0\0\0\0\0\0\0\1\0\0\0\5", 12);
		n += 12;
	}
	assert_int_equal(sv_pack_decode(&p, d, n), SV_E_PROTO);
	/* One such element alone decodes, with the name cut to 63. */
	d[3] = 1;
	assert_int_equal(sv_pack_decode(&p, d, n), 0);
	assert_int_equal(strlen(p.elems[0].name), SV_PACK_NAME_MAX);
	sv_pack_cleanup(&p);
}

static void
pack_rejects_embedded_nul_in_name(void **state)
{
	static const uint8_t d[] = {0, 0, 0, 1, 0, 0, 0, 3, 'a', 0, 0,
	                            0, 0, 0, 0, 0, 1, 0, 0, 0,   1};
	struct sv_pack p;

	assert_int_equal(sv_pack_decode(&p, d, sizeof d), SV_E_PROTO);
}

static void
pack_rejects_counts_past_limits(void **state)
{
	uint8_t d[64];
	struct sv_pack p;
	static const uint8_t v[] = {0, 0, 0, 1};
	uint32_t c = SV_PACK_MAX_ELEMENTS + 1;
	uint8_t big[] = {(uint8_t)(c >> 24), (uint8_t)(c >> 16),
	                 (uint8_t)(c >> 8), (uint8_t)c};

	assert_int_equal(sv_pack_decode(&p, big, sizeof big), SV_E_TOOBIG);
	size_t n =
	    one_elem(d, SV_PACK_INT, SV_PACK_MAX_VALUES + 1, v, sizeof v);
	assert_int_equal(sv_pack_decode(&p, d, n), SV_E_TOOBIG);
	n = one_elem(d, SV_PACK_INT, 0xffffffffu, v, sizeof v);
	assert_int_equal(sv_pack_decode(&p, d, n), SV_E_TOOBIG);
	/* A count within limits but past the data is merely truncated. */
	n = one_elem(d, SV_PACK_INT, SV_PACK_MAX_VALUES, v, sizeof v);
	assert_int_equal(sv_pack_decode(&p, d, n), SV_E_PROTO);
	static const uint8_t many[] = {0, 0, 0x10, 0};
	assert_int_equal(sv_pack_decode(&p, many, sizeof many), SV_E_PROTO);
}

static void
pack_rejects_oversized_value_sizes(void **state)
{
	uint8_t d[64];
	struct sv_pack p;
	static const uint8_t huge[] = {0xff, 0xff, 0xff, 0xff, 'x'};
	static const uint8_t over[] = {0x00, 0x10, 0x00, 0x01, 'x'};
	static const uint8_t past[] = {0x00, 0x00, 0x01, 0x00, 'x'};

	for (uint32_t t = SV_PACK_DATA; t <= SV_PACK_UNISTR; t++) {
		size_t n = one_elem(d, t, 1, huge, sizeof huge);
		assert_int_equal(sv_pack_decode(&p, d, n), SV_E_TOOBIG);
		n = one_elem(d, t, 1, over, sizeof over);
		assert_int_equal(sv_pack_decode(&p, d, n), SV_E_TOOBIG);
		n = one_elem(d, t, 1, past, sizeof past);
		assert_int_equal(sv_pack_decode(&p, d, n), SV_E_PROTO);
	}
	/* Name length past the limit. */
	static const uint8_t name[] = {0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 'a'};
	assert_int_equal(sv_pack_decode(&p, name, sizeof name), SV_E_TOOBIG);
}

static void
pack_rejects_pack_larger_than_limit(void **state)
{
	/* One DATA value of exactly the limit cannot fit with its header. */
	size_t vn = SV_PACK_MAX_BYTES;
	size_t n = 17 + 4 + vn;
	uint8_t *d = calloc(1, n);
	struct sv_pack p;

	assert_non_null(d);
	size_t h = one_elem(d, SV_PACK_DATA, 1, NULL, 0);
	d[h] = (uint8_t)(vn >> 24);
	d[h + 1] = (uint8_t)(vn >> 16);
	d[h + 2] = (uint8_t)(vn >> 8);
	d[h + 3] = (uint8_t)vn;
	assert_int_equal(sv_pack_decode(&p, d, n), SV_E_TOOBIG);
	assert_int_equal(p.n, 0);
	/* Just under the limit is fine. */
	vn = SV_PACK_MAX_BYTES - 21;
	d[h] = (uint8_t)(vn >> 24);
	d[h + 1] = (uint8_t)(vn >> 16);
	d[h + 2] = (uint8_t)(vn >> 8);
	d[h + 3] = (uint8_t)vn;
	assert_int_equal(sv_pack_decode(&p, d, n), 0);
	const uint8_t *v;
	size_t vl;
	assert_true(sv_pack_get_data(&p, "a", &v, &vl));
	assert_int_equal(vl, vn);
	sv_pack_cleanup(&p);
	free(d);
}

static void
pack_unistr_tolerates_size_zero_and_missing_nul(void **state)
{
	uint8_t d[64];
	struct sv_pack p;
	const char *s;
	static const uint8_t zero[] = {0, 0, 0, 0};
	static const uint8_t nonul[] = {0, 0, 0, 2, 'h', 'i'};

	size_t n = one_elem(d, SV_PACK_UNISTR, 1, zero, sizeof zero);
	assert_int_equal(sv_pack_decode(&p, d, n), 0);
	assert_true(sv_pack_get_str(&p, "a", &s));
	assert_string_equal(s, "");
	sv_pack_cleanup(&p);
	n = one_elem(d, SV_PACK_UNISTR, 1, nonul, sizeof nonul);
	assert_int_equal(sv_pack_decode(&p, d, n), 0);
	assert_true(sv_pack_get_str(&p, "a", &s));
	assert_string_equal(s, "hi");
	sv_pack_cleanup(&p);
}

static void
pack_decodes_int64_and_string_arrays(void **state)
{
	uint8_t d[128];
	struct sv_pack p;
	static const uint8_t v64[] = {1, 2, 3, 4, 5, 6, 7, 8,
	                              0, 0, 0, 0, 0, 0, 0, 9};
	static const uint8_t strs[] = {0, 0, 0, 1, 'x', 0,   0,  0,
	                               0, 0, 0, 0, 2,   'y', 'z'};

	size_t n = one_elem(d, SV_PACK_INT64, 2, v64, sizeof v64);
	assert_int_equal(sv_pack_decode(&p, d, n), 0);
	const struct sv_pack_elem *e = sv_pack_find(&p, "A");
	assert_int_equal(e->count, 2);
	assert_true(e->values[0].num == 0x0102030405060708ULL);
	assert_true(e->values[1].num == 9);
	sv_pack_cleanup(&p);
	n = one_elem(d, SV_PACK_STR, 3, strs, sizeof strs);
	assert_int_equal(sv_pack_decode(&p, d, n), 0);
	e = sv_pack_find(&p, "a");
	assert_int_equal(e->count, 3);
	assert_string_equal((const char *)e->values[0].data, "x");
	assert_int_equal(e->values[1].len, 0);
	assert_string_equal((const char *)e->values[2].data, "yz");
	sv_pack_cleanup(&p);
}

static void
pack_cleanup_accepts_null_and_empty(void **state)
{
	struct sv_pack p;

	sv_pack_cleanup(NULL);
	sv_pack_init(&p);
	sv_pack_cleanup(&p);
	sv_pack_cleanup(&p);
	assert_null(sv_pack_find(&p, "x"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(pack_encode_matches_spec_example_bytes),
	    cmocka_unit_test(pack_decode_reads_spec_example),
	    cmocka_unit_test(pack_round_trips_every_type),
	    cmocka_unit_test(pack_ip4_wire_bytes_are_little_endian),
	    cmocka_unit_test(pack_ip4_group_is_all_or_nothing),
	    cmocka_unit_test(pack_add_rejects_duplicate_and_bad_names),
	    cmocka_unit_test(pack_getters_are_type_strict),
	    cmocka_unit_test(pack_encode_failure_leaves_output_unchanged),
	    cmocka_unit_test(pack_rejects_truncation_at_every_offset),
	    cmocka_unit_test(pack_ignores_trailing_bytes),
	    cmocka_unit_test(pack_accepts_empty_pack),
	    cmocka_unit_test(pack_rejects_zero_value_count),
	    cmocka_unit_test(pack_rejects_zero_name_length),
	    cmocka_unit_test(pack_rejects_unknown_type),
	    cmocka_unit_test(pack_rejects_names_differing_only_in_case),
	    cmocka_unit_test(
	        pack_truncates_long_names_and_detects_collisions_after),
	    cmocka_unit_test(pack_rejects_embedded_nul_in_name),
	    cmocka_unit_test(pack_rejects_counts_past_limits),
	    cmocka_unit_test(pack_rejects_oversized_value_sizes),
	    cmocka_unit_test(pack_rejects_pack_larger_than_limit),
	    cmocka_unit_test(pack_unistr_tolerates_size_zero_and_missing_nul),
	    cmocka_unit_test(pack_decodes_int64_and_string_arrays),
	    cmocka_unit_test(pack_cleanup_accepts_null_and_empty),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
