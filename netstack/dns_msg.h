/*
 * Pure helpers for DNS names as they arrive from the network (no I/O, no lwIP): the
 * RFC 1035 name list of DHCP option 119 (RFC 3397 domain search, with compression),
 * DHCP option 15 (domain name), host name validation and search-list expansion of a
 * short name. Used by stack.c (DHCP options) and resolve.c (search domains).
 */
#ifndef SV_DNS_MSG_H
#define SV_DNS_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SV_DNS_NAME_MAX 256 /* dotted name (at most 253 characters) and its NUL */

/* True for a host name we will query: RFC 1035 lengths (name <= 253, label <= 63),
 * letters, digits, '-' and '_', no empty label; one trailing dot is allowed. */
bool sv_dns_name_is_valid(const char *name);

/* Decode option 119 data (p, n borrowed): a sequence of wire-format names where a
 * compression pointer may refer to any earlier offset of the data. Names go to out in
 * order, duplicates (case-insensitive) and the root name skipped, at most max of them;
 * decoding stops at the first malformed name, keeping those before it.
 * Returns the number of names written. */
unsigned sv_dns_decode_search(const uint8_t *p, size_t n, char (*out)[SV_DNS_NAME_MAX],
	unsigned max);

/* Option 15 data (p, n borrowed) as a dotted name into out: a trailing dot or NUL padding
 * is dropped. False (out = "") when it is not a valid name. */
bool sv_dns_decode_domain(const uint8_t *p, size_t n, char out[static SV_DNS_NAME_MAX]);

/* Search-list expansion, as a stub resolver with ndots 1 does: a name with no dot gets
 * each of the n_search domains appended (those that fit), then is tried as it is; a name
 * with a dot or a trailing dot (absolute; the dot is dropped) is tried as it is only.
 * Writes at most max candidates to out; returns how many. */
unsigned sv_dns_expand(const char *name, const char (*search)[SV_DNS_NAME_MAX],
	unsigned n_search, char (*out)[SV_DNS_NAME_MAX], unsigned max);

#endif
