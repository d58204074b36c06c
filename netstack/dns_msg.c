/*
 * DNS names from the network; see dns_msg.h. Every read is bounds-checked against the
 * caller's length and a decoded name never exceeds 253 characters. Decoding always
 * ends: compression pointers must point strictly backwards, so a run of pointers
 * cannot cycle, and every label between two pointers lengthens the name, which is
 * capped.
 */
#include <string.h>
#include <strings.h>

#include "netstack/dns_msg.h"

#define NAME_LEN_MAX 253
#define LABEL_LEN_MAX 63

static bool
label_char_ok(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		(ch >= '0' && ch <= '9') || ch == '-' || ch == '_';
}

/* see dns_msg.h */
bool
sv_dns_name_is_valid(const char *name)
{
	size_t n = strlen(name), label = 0;

	if (n > 0 && name[n - 1] == '.')
		n--;
	if (n == 0 || n > NAME_LEN_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)name[i];
		if (ch == '.') {
			if (label == 0)
				return false;
			label = 0;
			continue;
		}
		if (!label_char_ok(ch) || ++label > LABEL_LEN_MAX)
			return false;
	}
	return true;
}

/* One name starting at *pos into out ("" for the root). On success *pos is past the
 * name's bytes in the data (not past what a pointer led to). */
static bool
decode_name(const uint8_t *p, size_t n, size_t *pos, char out[static SV_DNS_NAME_MAX])
{
	size_t j = *pos, next = 0, len = 0;
	bool jumped = false;

	for (;;) {
		if (j >= n)
			return false;
		uint8_t b = p[j];
		if (b == 0) {
			if (!jumped)
				next = j + 1;
			break;
		}
		if ((b & 0xc0) == 0xc0) {
			if (j + 1 >= n)
				return false;
			size_t ptr = (size_t)(b & 0x3f) << 8 | p[j + 1];
			if (ptr >= j) /* backwards only */
				return false;
			if (!jumped)
				next = j + 2;
			jumped = true;
			j = ptr;
			continue;
		}
		if ((b & 0xc0) != 0 || j + 1 + b > n)
			return false;
		if (len + (len > 0) + b > NAME_LEN_MAX)
			return false;
		if (len > 0)
			out[len++] = '.';
		for (size_t k = 0; k < b; k++) {
			if (!label_char_ok(p[j + 1 + k]))
				return false;
			out[len++] = (char)p[j + 1 + k];
		}
		j += 1 + (size_t)b;
	}
	out[len] = '\0';
	*pos = next;
	return true;
}

static bool
already_listed(const char (*out)[SV_DNS_NAME_MAX], unsigned count, const char *name)
{
	for (unsigned i = 0; i < count; i++)
		if (strcasecmp(out[i], name) == 0)
			return true;
	return false;
}

/* see dns_msg.h */
unsigned
sv_dns_decode_search(const uint8_t *p, size_t n, char (*out)[SV_DNS_NAME_MAX],
	unsigned max)
{
	char name[SV_DNS_NAME_MAX];
	size_t pos = 0;
	unsigned count = 0;

	while (pos < n && count < max) {
		if (!decode_name(p, n, &pos, name))
			break;
		if (name[0] == '\0' || already_listed(out, count, name))
			continue;
		memcpy(out[count++], name, strlen(name) + 1);
	}
	return count;
}

/* see dns_msg.h */
bool
sv_dns_decode_domain(const uint8_t *p, size_t n, char out[static SV_DNS_NAME_MAX])
{
	out[0] = '\0';
	while (n > 0 && p[n - 1] == '\0')
		n--;
	if (n > 0 && p[n - 1] == '.')
		n--;
	if (n == 0 || n > NAME_LEN_MAX || memchr(p, '\0', n) != NULL)
		return false;
	memcpy(out, p, n);
	out[n] = '\0';
	if (!sv_dns_name_is_valid(out)) {
		out[0] = '\0';
		return false;
	}
	return true;
}

/* see dns_msg.h */
unsigned
sv_dns_expand(const char *name, const char (*search)[SV_DNS_NAME_MAX], unsigned n_search,
	char (*out)[SV_DNS_NAME_MAX], unsigned max)
{
	size_t n = strlen(name);
	unsigned count = 0;
	bool absolute = n > 0 && name[n - 1] == '.';

	if (absolute)
		n--;
	if (n == 0 || n > NAME_LEN_MAX || max == 0)
		return 0;
	if (!absolute && memchr(name, '.', n) == NULL) {
		for (unsigned i = 0; i < n_search && count + 1 < max; i++) {
			size_t d = strlen(search[i]);
			if (d == 0 || n + 1 + d > NAME_LEN_MAX)
				continue;
			memcpy(out[count], name, n);
			out[count][n] = '.';
			memcpy(out[count] + n + 1, search[i], d + 1);
			count++;
		}
	}
	memcpy(out[count], name, n);
	out[count][n] = '\0';
	return count + 1;
}
