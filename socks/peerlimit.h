/*
 * Per-client connection counting for --max-conns-per-client: how many proxied
 * connections each client (a key: its address without the port, or "unix:PATH" for
 * the clients of one Unix-socket listener) holds at once. Pure bookkeeping, no I/O:
 * a hash table of counters, an entry allocated when a key first takes a slot and freed
 * when its count drops to zero, so memory follows the clients actually connected.
 */
#ifndef SV_PEERLIMIT_H
#define SV_PEERLIMIT_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>

/* The error a connection over the per-client limit fails with: the front-ends answer
 * SOCKS5 0x02 "not allowed by ruleset", SOCKS4 0x5B, HTTP 429 Too Many Requests. */
#define SV_CONN_E_LIMIT (-EUSERS)

#define SV_PEERLIMIT_BUCKETS 256
#define SV_PEERLIMIT_KEY_MAX 64

struct sv_peerlimit_entry;

struct sv_peerlimit {
	struct sv_peerlimit_entry *b[SV_PEERLIMIT_BUCKETS];
	size_t n_keys;
};

/* Zeroed table; _cleanup frees every entry. */
void sv_peerlimit_init(struct sv_peerlimit *pl);
void sv_peerlimit_cleanup(struct sv_peerlimit *pl);
/* One more connection for key (borrowed; longer keys are cut to
 * SV_PEERLIMIT_KEY_MAX - 1 bytes), unless it already holds max (max 0: no limit).
 * 0, SV_CONN_E_LIMIT (nothing counted), or SV_E_NOMEM. */
int sv_peerlimit_take(struct sv_peerlimit *pl, const char *key, unsigned max);
/* One connection of key ended (ignored for a key that holds none). */
void sv_peerlimit_release(struct sv_peerlimit *pl, const char *key);
/* Connections key holds now. */
unsigned sv_peerlimit_count(const struct sv_peerlimit *pl, const char *key);

#endif
