/*
 * Host names through lwIP's DNS client; see resolve.h.
 *
 * A request is in one of two places: waiting for lwIP (R_LWIP; lwIP holds our pointer as
 * its callback argument and always calls back, at the latest when its retries run out),
 * or done and queued for delivery from sv_stack_flush (R_DONE). Cancelling in R_LWIP only
 * forgets the user's callback: the object stays alive until lwIP calls back and is freed
 * then. Cancelling in R_DONE takes it off the queue and frees it. After the user's
 * callback has run, the request is freed; the caller must drop its pointer.
 */
#define SV_LOG_MODULE "resolve"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lwip/dns.h"
#include "lwip/ip_addr.h"

#include "core/err.h"
#include "core/log.h"
#include "netstack/internal.h"
#include "netstack/resolve.h"

enum req_state { R_LWIP, R_DONE };

struct sv_resolve {
	struct sv_defer defer; /* first: deliver() recovers r from it */
	sv_resolve_cb *cb;
	void *arg;
	enum req_state state;
	bool cancelled, in_cb;
	int err;
	struct sv_ip ip;
};

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
	if (addr == NULL) {
		finish(r, -ENOENT, NULL);
		return;
	}
	sv_ip_from_lwip(addr, &ip);
	finish(r, 0, &ip);
}

/* RFC 1035 section 2.3.4 lengths; letters, digits, '-' and '_' (service labels). */
static bool
name_is_valid(const char *name)
{
	size_t n = strlen(name), label = 0;

	if (n == 0 || n > 253)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)name[i];
		if (ch == '.') {
			if (label == 0)
				return false;
			label = 0;
			continue;
		}
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			    (ch >= '0' && ch <= '9') || ch == '-' || ch == '_'))
			return false;
		if (++label > 63)
			return false;
	}
	return true;
}

static bool
family_matches(int family, const struct sv_ip *ip)
{
	return family == 0 || family == ip->family;
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
	r->state = R_LWIP;

	if (strlen(name) < 64 && ipaddr_aton(name, &addr)) {
		sv_ip_from_lwip(&addr, &ip);
		if (family_matches(family, &ip))
			finish(r, 0, &ip);
		else
			finish(r, -ENOENT, NULL);
	} else if (!name_is_valid(name)) {
		finish(r, -ENOENT, NULL);
	} else if (!sv_stack_is_up() || ip_addr_isany(dns_getserver(0))) {
		finish(r, -ENETUNREACH, NULL);
	} else {
		err_t e = dns_gethostbyname_addrtype(name, &addr, on_found, r, type);
		if (e == ERR_INPROGRESS || r->state == R_DONE) {
			/* on_found follows (or already ran) */
		} else if (e == ERR_OK) {
			sv_ip_from_lwip(&addr, &ip); /* cached answer */
			finish(r, 0, &ip);
		} else if (e == ERR_MEM) { /* all lookup slots busy */
			free(r);
			return SV_E_NOMEM;
		} else {
			finish(r, e == ERR_VAL ? -ENETUNREACH : -ENOENT, NULL);
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
	if (r->state == R_DONE) {
		sv_stack_undefer(&r->defer);
		free(r);
	}
	/* R_LWIP: on_found frees it */
}
