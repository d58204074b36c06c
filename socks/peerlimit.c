/* See peerlimit.h. Chained hashing (FNV-1a) over a fixed bucket array. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "socks/peerlimit.h"

struct sv_peerlimit_entry {
	struct sv_peerlimit_entry *next;
	unsigned count;
	char key[SV_PEERLIMIT_KEY_MAX];
};

static size_t
bucket(const char *key)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; key[i] != '\0' && i < SV_PEERLIMIT_KEY_MAX - 1; i++) {
		h ^= (uint8_t)key[i];
		h *= 16777619u;
	}
	return h % SV_PEERLIMIT_BUCKETS;
}

static bool
same_key(const struct sv_peerlimit_entry *e, const char *key)
{
	return strncmp(e->key, key, SV_PEERLIMIT_KEY_MAX - 1) == 0;
}

static struct sv_peerlimit_entry **
find(struct sv_peerlimit *pl, const char *key)
{
	struct sv_peerlimit_entry **pp = &pl->b[bucket(key)];

	while (*pp != NULL && !same_key(*pp, key))
		pp = &(*pp)->next;
	return pp;
}

/* see peerlimit.h */
void
sv_peerlimit_init(struct sv_peerlimit *pl)
{
	memset(pl, 0, sizeof *pl);
}

/* see peerlimit.h */
void
sv_peerlimit_cleanup(struct sv_peerlimit *pl)
{
	for (size_t i = 0; i < SV_PEERLIMIT_BUCKETS; i++) {
		while (pl->b[i] != NULL) {
			struct sv_peerlimit_entry *e = pl->b[i];
			pl->b[i] = e->next;
			free(e);
		}
	}
	pl->n_keys = 0;
}

/* see peerlimit.h */
int
sv_peerlimit_take(struct sv_peerlimit *pl, const char *key, unsigned max)
{
	struct sv_peerlimit_entry **pp = find(pl, key), *e = *pp;

	if (e == NULL) {
		if ((e = calloc(1, sizeof *e)) == NULL)
			return SV_E_NOMEM;
		snprintf(e->key, sizeof e->key, "%s", key);
		*pp = e;
		pl->n_keys++;
	}
	if (max > 0 && e->count >= max)
		return SV_CONN_E_LIMIT;
	e->count++;
	return 0;
}

/* see peerlimit.h */
void
sv_peerlimit_release(struct sv_peerlimit *pl, const char *key)
{
	struct sv_peerlimit_entry **pp = find(pl, key), *e = *pp;

	if (e == NULL)
		return;
	if (e->count > 0)
		e->count--;
	if (e->count == 0) {
		*pp = e->next;
		free(e);
		pl->n_keys--;
	}
}

/* see peerlimit.h */
unsigned
sv_peerlimit_count(const struct sv_peerlimit *pl, const char *key)
{
	const struct sv_peerlimit_entry *e = pl->b[bucket(key)];

	while (e != NULL && !same_key(e, key))
		e = e->next;
	return e != NULL ? e->count : 0;
}
