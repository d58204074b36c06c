/*
 * See lookup.h. A host lookup runs in libuv's thread pool and cannot be stopped once it
 * started: sv_lookup_cancel only detaches the requester (and asks uv_cancel, which
 * succeeds while the work is still queued); the request frees itself in its callback.
 */
#define SV_LOG_MODULE "dns"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "socks/lookup.h"

struct sv_lookup {
	sv_resolve_cb *cb; /* NULL once cancelled */
	void *arg;
	bool host;
	struct sv_resolve *res; /* tunnel lookups */
	uv_getaddrinfo_t req;   /* host lookups */
	char who[32];
};

static void
on_tunnel(void *arg, int err, const struct sv_ip *ip)
{
	struct sv_lookup *l = arg;
	sv_resolve_cb *cb = l->cb;
	void *cb_arg = l->arg;

	free(l);
	cb(cb_arg, err, ip);
}

/* getaddrinfo's answer as a resolve.h error. */
static int
host_err(int status)
{
	switch (status) {
	case UV_EAI_NONAME:
	case UV_EAI_NODATA:
	case UV_EAI_FAMILY:
	case UV_EAI_ADDRFAMILY:
		return -ENOENT;
	case UV_EAI_AGAIN:
		return -ETIMEDOUT;
	case UV_EAI_MEMORY:
		return SV_E_NOMEM;
	default:
		return -ENOENT;
	}
}

/* The first address of family af in the list into ip; 0 or -ENOENT. */
static int
pick(const struct addrinfo *res, int af, struct sv_ip *ip)
{
	for (const struct addrinfo *a = res; a != NULL; a = a->ai_next) {
		if (a->ai_family != af)
			continue;
		if (af == AF_INET) {
			const struct sockaddr_in *s = (const void *)a->ai_addr;
			ip->family = 4;
			memcpy(ip->b, &s->sin_addr, 4);
		} else {
			const struct sockaddr_in6 *s = (const void *)a->ai_addr;
			ip->family = 6;
			memcpy(ip->b, &s->sin6_addr, 16);
		}
		return 0;
	}
	return -ENOENT;
}

static void
on_host(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
	struct sv_lookup *l = req->data;
	sv_resolve_cb *cb = l->cb;
	void *cb_arg = l->arg;
	struct sv_ip ip;
	int err = host_err(status);

	memset(&ip, 0, sizeof ip);
	if (status == 0) /* IPv4 first, as the tunnel's resolver does */
		err = pick(res, AF_INET, &ip) == 0 || pick(res, AF_INET6, &ip) == 0 ? 0 :
			-ENOENT;
	uv_freeaddrinfo(res);
	if (cb != NULL && status != 0)
		log_debug("%s: host resolver: %s", l->who, uv_strerror(status));
	free(l);
	if (cb != NULL)
		cb(cb_arg, err, err == 0 ? &ip : NULL);
}

/* see lookup.h */
int
sv_lookup(struct sv_lookup **out, uv_loop_t *loop, const char *name, int family,
	const char *who, sv_resolve_cb *cb, void *arg)
{
	struct sv_lookup *l = calloc(1, sizeof *l);
	struct addrinfo hints;
	int e;

	if (l == NULL)
		return SV_E_NOMEM;
	l->cb = cb;
	l->arg = arg;
	snprintf(l->who, sizeof l->who, "%s", who);
	if (!sv_resolve_is_local(name)) {
		log_debug("%s: resolving %s through the tunnel's DNS", who, name);
		if ((e = sv_resolve(&l->res, name, family, on_tunnel, l)) != 0) {
			free(l);
			return e;
		}
		*out = l;
		return 0;
	}
	log_debug("%s: resolving %s on this host (--resolve-local)", who, name);
	l->host = true;
	memset(&hints, 0, sizeof hints);
	hints.ai_family = family == 4 ? AF_INET : family == 6 ? AF_INET6 : AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	l->req.data = l;
	if ((e = uv_getaddrinfo(loop, &l->req, on_host, name, NULL, &hints)) != 0) {
		free(l);
		return e == UV_ENOMEM ? SV_E_NOMEM : host_err(e);
	}
	*out = l;
	return 0;
}

/* see lookup.h */
void
sv_lookup_cancel(struct sv_lookup *l)
{
	if (l == NULL)
		return;
	if (!l->host) {
		sv_resolve_cancel(l->res);
		free(l);
		return;
	}
	l->cb = NULL; /* on_host frees it */
	(void)uv_cancel((uv_req_t *)&l->req);
}
