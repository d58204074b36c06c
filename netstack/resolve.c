/*
 * Host names through lwIP's DNS client; see resolve.h.
 *
 * A request holds its candidate names (search-list expansion, dns_msg.h) and tries them
 * in order. It is in one of three places: waiting for lwIP (R_LWIP; lwIP holds our
 * pointer as its callback argument and always calls back, at the latest when its retries
 * run out), queued to try the next candidate from sv_stack_flush (R_NEXT: a new lookup is
 * never started from inside lwIP's callback), or done and queued for delivery from
 * sv_stack_flush (R_DONE). Cancelling in R_LWIP only forgets the user's callback: the
 * object stays alive until lwIP calls back and is freed then. Cancelling in R_NEXT or
 * R_DONE takes it off the queue and frees it. After the user's callback has run, the
 * request is freed; the caller must drop its pointer.
 *
 * Failover between servers and the TTL cache are lwIP's (dns.c: the next server after
 * DNS_MAX_RETRIES sends or at once after an error answer; dns_table entries expire with
 * their TTL). lwIP's callback does not say why a lookup failed: timeouts and NXDOMAIN
 * both end as -ENOENT.
 */
#define SV_LOG_MODULE "resolve"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lwip/dns.h"
#include "lwip/ip_addr.h"

#include "core/err.h"
#include "core/log.h"
#include "netstack/dns_msg.h"
#include "netstack/internal.h"
#include "netstack/resolve.h"
#include "netstack/stack.h"

#define MAX_CANDIDATES (SV_STACK_MAX_SEARCH + 1)
#define MAX_LOCAL_PATTERNS 64

enum req_state { R_LWIP, R_NEXT, R_DONE };

struct sv_resolve {
	struct sv_defer defer; /* first: deliver() and step() recover r from it */
	sv_resolve_cb *cb;
	void *arg;
	enum req_state state;
	bool cancelled, in_cb;
	u8_t type; /* LWIP_DNS_ADDRTYPE_* */
	int err;
	struct sv_ip ip;
	unsigned n_names, cur;
	char names[MAX_CANDIDATES][SV_DNS_NAME_MAX];
};

static struct {
	struct sv_ip servers[SV_STACK_MAX_DNS];
	size_t n_servers;
	ip_addr_t saved[DNS_MAX_SERVERS]; /* lwIP's servers before the override */
	char **local;
	size_t n_local;
} R;

static void
deliver(struct sv_defer *d)
{
	struct sv_resolve *r = (struct sv_resolve *)(void *)d;
	if (!r->cancelled && r->cb) {
		r->in_cb = true;
		r->cb(r->arg, r->err, r->err == 0 ? &r->ip : NULL);
	}
	free(r);
}

static void
finish(struct sv_resolve *r, int err, const struct sv_ip *ip)
{
	r->state = R_DONE;
	r->err = err;
	if (ip)
		r->ip = *ip;
	sv_stack_defer(&r->defer, deliver);
}

static void on_found(const char *name, const ip_addr_t *addr, void *arg);

/* Ask lwIP for the current candidate. Returns 0, or SV_E_NOMEM when lwIP has no free
 * lookup slot (nothing queued then). */
static int
start(struct sv_resolve *r)
{
	ip_addr_t addr;
	struct sv_ip ip;

	r->state = R_LWIP;
	log_debug("lookup %s (try %u of %u)", r->names[r->cur], r->cur + 1, r->n_names);
	err_t e = dns_gethostbyname_addrtype(r->names[r->cur], &addr, on_found, r, r->type);
	if (e == ERR_INPROGRESS || r->state != R_LWIP) {
		/* on_found follows (or already ran) */
	} else if (e == ERR_OK) {
		sv_ip_from_lwip(&addr, &ip); /* cached answer */
		finish(r, 0, &ip);
	} else if (e == ERR_MEM) { /* all lookup slots busy */
		return SV_E_NOMEM;
	} else {
		finish(r, e == ERR_VAL ? -ENETUNREACH : -ENOENT, NULL);
	}
	return 0;
}

/* R_NEXT: the previous candidate had no answer; try the next one, outside lwIP. */
static void
step(struct sv_defer *d)
{
	struct sv_resolve *r = (struct sv_resolve *)(void *)d;
	if (start(r) != 0)
		finish(r, -ENOMEM, NULL);
}

/* lwIP's callback: from dns_tmr or the DNS socket's input, never the user's call. */
static void
on_found(const char *name, const ip_addr_t *addr, void *arg)
{
	struct sv_resolve *r = arg;
	struct sv_ip ip;

	(void)name;
	if (r->cancelled) {
		free(r);
		return;
	}
	if (addr != NULL) {
		sv_ip_from_lwip(addr, &ip);
		finish(r, 0, &ip);
	} else if (r->cur + 1 < r->n_names) {
		r->cur++;
		r->state = R_NEXT;
		sv_stack_defer(&r->defer, step);
	} else {
		finish(r, -ENOENT, NULL);
	}
}

static bool
family_matches(int family, const struct sv_ip *ip)
{
	return family == 0 || family == ip->family;
}

/* sv_resolve_set_servers() wins over DHCP; re-applied before each lookup because a DHCP
 * renewal writes its servers into lwIP again. */
static void
apply_servers(void)
{
	ip_addr_t a;

	if (R.n_servers == 0)
		return;
	for (u8_t i = 0; i < DNS_MAX_SERVERS; i++) {
		if (i < R.n_servers) {
			sv_ip_to_lwip(&R.servers[i], &a);
			dns_setserver(i, &a);
		} else {
			dns_setserver(i, NULL);
		}
	}
}

static bool
have_server(void)
{
	for (u8_t i = 0; i < DNS_MAX_SERVERS; i++)
		if (!ip_addr_isany(dns_getserver(i)))
			return true;
	return false;
}

/* The lease's search list (option 119), else its domain (option 15), as candidates. */
static void
expand(struct sv_resolve *r, const char *name)
{
	static struct sv_lease l; /* large; the loop thread only */
	const char(*search)[SV_DNS_NAME_MAX] = NULL;
	unsigned n_search = 0;

	if (sv_stack_lease(&l)) {
		if (l.n_search > 0) {
			search = (const char(*)[SV_DNS_NAME_MAX])l.search;
			n_search = l.n_search;
		} else if (l.domain[0] != '\0') {
			search = (const char(*)[SV_DNS_NAME_MAX])&l.domain;
			n_search = 1;
		}
	}
	r->n_names = sv_dns_expand(name, search, n_search, r->names, MAX_CANDIDATES);
}

/* see resolve.h */
int
sv_resolve(struct sv_resolve **out, const char *name, int family, sv_resolve_cb *cb,
	void *arg)
{
	ip_addr_t addr;
	struct sv_ip ip;
	u8_t type;

	if (out == NULL || name == NULL || cb == NULL)
		return SV_E_INVAL;
	switch (family) {
	case 0: type = LWIP_DNS_ADDRTYPE_IPV4_IPV6; break;
	case 4: type = LWIP_DNS_ADDRTYPE_IPV4; break;
	case 6: type = LWIP_DNS_ADDRTYPE_IPV6; break;
	default: return SV_E_INVAL;
	}
	struct sv_resolve *r = calloc(1, sizeof *r);
	if (r == NULL)
		return SV_E_NOMEM;
	r->cb = cb;
	r->arg = arg;
	r->type = type;
	r->state = R_LWIP;

	if (strlen(name) < 64 && ipaddr_aton(name, &addr)) {
		sv_ip_from_lwip(&addr, &ip);
		if (family_matches(family, &ip))
			finish(r, 0, &ip);
		else
			finish(r, -ENOENT, NULL);
	} else if (!sv_dns_name_is_valid(name)) {
		finish(r, -ENOENT, NULL);
	} else if (!sv_stack_is_up()) {
		finish(r, -ENETUNREACH, NULL);
	} else {
		apply_servers();
		expand(r, name);
		if (!have_server() || r->n_names == 0) {
			finish(r, -ENETUNREACH, NULL);
		} else if (start(r) != 0) {
			free(r);
			return SV_E_NOMEM;
		}
	}
	*out = r;
	return 0;
}

/* see resolve.h */
void
sv_resolve_cancel(struct sv_resolve *r)
{
	if (r == NULL || r->in_cb || r->cancelled)
		return;
	r->cancelled = true;
	r->cb = NULL;
	if (r->state != R_LWIP) {
		sv_stack_undefer(&r->defer);
		free(r);
	}
	/* R_LWIP: on_found frees it */
}

/* see resolve.h */
int
sv_resolve_set_servers(const struct sv_ip *servers, size_t n)
{
	if (n > SV_STACK_MAX_DNS || (n > 0 && servers == NULL))
		return SV_E_INVAL;
	for (size_t i = 0; i < n; i++)
		if (servers[i].family != 4 && servers[i].family != 6)
			return SV_E_INVAL;
	if (R.n_servers == 0 && n > 0) {
		for (u8_t i = 0; i < DNS_MAX_SERVERS; i++)
			R.saved[i] = *dns_getserver(i);
	} else if (R.n_servers > 0 && n == 0) {
		/* back to DHCP's (a renewal since then rewrites them anyway) */
		for (u8_t i = 0; i < DNS_MAX_SERVERS; i++)
			dns_setserver(i, &R.saved[i]);
	}
	if (n > 0)
		memcpy(R.servers, servers, n * sizeof *servers);
	R.n_servers = n;
	if (sv_stack_is_up())
		apply_servers();
	return 0;
}

/* --- names resolved on the host (--resolve-local) ----------------------------------- */

static void
free_local(void)
{
	for (size_t i = 0; i < R.n_local; i++)
		free(R.local[i]);
	free(R.local);
	R.local = NULL;
	R.n_local = 0;
}

/* A pattern's name part: "*.x" and ".x" stand for the names under x. */
static const char *
pattern_domain(const char *p, bool *suffix)
{
	*suffix = false;
	if (p[0] == '*' && p[1] == '.') {
		*suffix = true;
		return p + 2;
	}
	if (p[0] == '.') {
		*suffix = true;
		return p + 1;
	}
	return p;
}

/* see resolve.h */
bool
sv_resolve_local_pattern_is_valid(const char *p)
{
	bool suffix;

	if (p == NULL)
		return false;
	if (strcmp(p, "*") == 0)
		return true;
	p = pattern_domain(p, &suffix);
	return p[0] != '.' && sv_dns_name_is_valid(p);
}

/* see resolve.h */
int
sv_resolve_set_local(const char *const *patterns, size_t n)
{
	char **list = NULL;

	if (n > MAX_LOCAL_PATTERNS || (n > 0 && patterns == NULL))
		return SV_E_INVAL;
	for (size_t i = 0; i < n; i++)
		if (!sv_resolve_local_pattern_is_valid(patterns[i]))
			return SV_E_INVAL;
	if (n > 0 && (list = calloc(n, sizeof *list)) == NULL)
		return SV_E_NOMEM;
	for (size_t i = 0; i < n; i++) {
		/* stored as "*", "name" (exact) or ".domain" (the names under it) */
		bool suffix;
		const char *d = strcmp(patterns[i], "*") == 0 ? patterns[i] :
			pattern_domain(patterns[i], &suffix);
		size_t len = strlen(d);
		if (len > 1 && d[len - 1] == '.')
			len--;
		if ((list[i] = malloc(len + 2)) == NULL) {
			for (size_t j = 0; j < i; j++)
				free(list[j]);
			free(list);
			return SV_E_NOMEM;
		}
		snprintf(list[i], len + 2, "%s%.*s", d != patterns[i] ? "." : "", (int)len,
			d);
	}
	free_local();
	R.local = list;
	R.n_local = n;
	return 0;
}

/* see resolve.h */
bool
sv_resolve_is_local(const char *name)
{
	if (name == NULL)
		return false;
	size_t n = strlen(name);
	if (n > 0 && name[n - 1] == '.')
		n--;
	for (size_t i = 0; i < R.n_local; i++) {
		const char *p = R.local[i];
		size_t k = strlen(p);
		if (strcmp(p, "*") == 0)
			return true;
		if (p[0] == '.') { /* a name under the domain: at least one more label */
			if (n > k && strncasecmp(name + n - k, p, k) == 0)
				return true;
			continue;
		}
		if (n == k && strncasecmp(name, p, k) == 0)
			return true;
	}
	return false;
}
