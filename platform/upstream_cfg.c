/*
 * Choosing the upstream proxy from the option and the environment (see
 * upstream_cfg.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/addr.h"
#include "core/err.h"
#include "platform/upstream_cfg.h"

#define ENTRY_MAX 300 /* longest NO_PROXY entry we look at */

/* see upstream_cfg.h */
void
sv_upstream_env_read(struct sv_upstream_env *env)
{
	env->https_proxy_lc = getenv("https_proxy");
	env->https_proxy_uc = getenv("HTTPS_PROXY");
	env->all_proxy_lc = getenv("all_proxy");
	env->all_proxy_uc = getenv("ALL_PROXY");
	env->no_proxy_lc = getenv("no_proxy");
	env->no_proxy_uc = getenv("NO_PROXY");
}

static int
ascii_lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

static bool
eq_nocase(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (ascii_lower((unsigned char)a[i]) !=
		    ascii_lower((unsigned char)b[i]))
			return false;
	return true;
}

/* The first prefix bits of a and b are equal (same family). */
static bool
ip_prefix_equal(const struct sv_ip *a, const struct sv_ip *b, unsigned bits)
{
	unsigned full = bits / 8, rest = bits % 8;

	if (a->family != b->family)
		return false;
	if (memcmp(a->b, b->b, full) != 0)
		return false;
	if (rest == 0)
		return true;
	uint8_t mask = (uint8_t)(0xff << (8 - rest));
	return (a->b[full] & mask) == (b->b[full] & mask);
}

/*
 * An IP entry in e (NUL-terminated, modifiable): "addr", "addr/len",
 * "[v6]", "[v6]:port", "[v6]/len", "v4:port". Returns false if e is no IP.
 */
static bool
parse_ip_entry(char *e, struct sv_ip *ip, unsigned *bits)
{
	char *slash, *addr = e;
	long len = -1;

	if (e[0] == '[') {
		char *close = strchr(e, ']');
		if (close == NULL)
			return false;
		*close = '\0';
		addr = e + 1;
		slash = close[1] == '/' ? close + 1 : NULL;
	} else {
		slash = strchr(e, '/');
		if (slash != NULL)
			*slash = '\0';
		char *colon = strchr(e, ':');
		if (colon != NULL && strchr(colon + 1, ':') == NULL)
			*colon = '\0'; /* "10.0.0.1:443": drop the port */
	}
	if (sv_ip_parse(addr, ip) != 0)
		return false;
	if (slash != NULL) {
		char *end;
		len = strtol(slash + 1, &end, 10);
		if (end == slash + 1 || *end != '\0' || len < 0)
			return false;
	}
	unsigned max = ip->family == 4 ? 32 : 128;
	*bits = len < 0 || (unsigned long)len > max ? max : (unsigned)len;
	return true;
}

/* A name entry: "example.com", ".example.com", "*.example.com", with an
 * optional ":port". */
static bool
name_entry_matches(const char *e, const char *host, size_t hn)
{
	const char *colon = strchr(e, ':');
	size_t n = colon != NULL ? (size_t)(colon - e) : strlen(e);

	if (n > 0 && e[0] == '*') {
		e++;
		n--;
	}
	if (n > 0 && e[0] == '.') {
		e++;
		n--;
	}
	if (n > 0 && e[n - 1] == '.')
		n--;
	if (n == 0 || n > hn)
		return false;
	if (!eq_nocase(host + hn - n, e, n))
		return false;
	return n == hn || host[hn - n - 1] == '.';
}

/* see upstream_cfg.h */
bool
sv_upstream_no_proxy_match(const char *list, const char *host)
{
	char h[SV_UPSTREAM_HOST_MAX + 1], e[ENTRY_MAX + 1];
	struct sv_ip hip, eip;
	bool host_is_ip;
	size_t hn;

	if (list == NULL || host == NULL)
		return false;
	hn = strlen(host);
	if (hn >= 2 && host[0] == '[' && host[hn - 1] == ']') {
		host++;
		hn -= 2;
	}
	if (hn > 0 && host[hn - 1] == '.')
		hn--;
	if (hn == 0 || hn > SV_UPSTREAM_HOST_MAX)
		return false;
	memcpy(h, host, hn);
	h[hn] = '\0';
	host_is_ip = sv_ip_parse(h, &hip) == 0;

	for (const char *p = list; *p != '\0';) {
		size_t n = strcspn(p, ", \t");
		if (n == 1 && p[0] == '*')
			return true;
		if (n > 0 && n <= ENTRY_MAX) {
			unsigned bits;
			memcpy(e, p, n);
			e[n] = '\0';
			if (host_is_ip) {
				if (parse_ip_entry(e, &eip, &bits) &&
				    ip_prefix_equal(&hip, &eip, bits))
					return true;
			} else if (name_entry_matches(e, h, hn)) {
				return true;
			}
		}
		p += n;
		p += strspn(p, ", \t");
	}
	return false;
}

static const char *
pick(const char *lc, const char *uc, const char *lc_name, const char *uc_name,
     const char **name)
{
	if (lc != NULL && lc[0] != '\0') {
		*name = lc_name;
		return lc;
	}
	if (uc != NULL && uc[0] != '\0') {
		*name = uc_name;
		return uc;
	}
	return NULL;
}

/* what: the option or variable name; from_env adds the way out. */
static int
parse_from(const char *what, bool from_env, const char *url,
           struct sv_upstream_cfg *out, char *err, size_t errcap)
{
	char msg[256];
	int r = sv_upstream_parse_url(url, out, msg, sizeof msg);

	if (r != 0)
		snprintf(err, errcap, "%s: %s%s", what, msg,
		         from_env ? " (or pass --no-upstream-proxy to "
		                    "connect directly)"
		                  : "");
	return r;
}

/* see upstream_cfg.h */
int
sv_upstream_cfg_choose(const char *option, bool disabled,
                       const char *server_host,
                       const struct sv_upstream_env *env,
                       struct sv_upstream_cfg *out, const char **source,
                       char *err, size_t errcap)
{
	const char *name = NULL, *url = NULL, *np, *np_name = NULL;
	const char *dummy;
	int r;

	if (source == NULL)
		source = &dummy;
	*source = NULL;
	if (disabled) {
		*source = "--no-upstream-proxy";
		return 0;
	}
	if (option != NULL) {
		*source = "--upstream-proxy";
		if (option[0] == '\0')
			return 0;
		if ((r = parse_from("--upstream-proxy", false, option, out, err,
		                    errcap)) != 0)
			return r;
		return 1;
	}
	if (env == NULL)
		return 0;
	url = pick(env->https_proxy_lc, env->https_proxy_uc, "https_proxy",
	           "HTTPS_PROXY", &name);
	if (url == NULL)
		url = pick(env->all_proxy_lc, env->all_proxy_uc, "all_proxy",
		           "ALL_PROXY", &name);
	if (url == NULL)
		return 0;
	np = pick(env->no_proxy_lc, env->no_proxy_uc, "no_proxy", "NO_PROXY",
	          &np_name);
	if (sv_upstream_no_proxy_match(np, server_host)) {
		*source = np_name;
		return 0;
	}
	*source = name;
	if ((r = parse_from(name, true, url, out, err, errcap)) != 0)
		return r;
	return 1;
}
