/*
 * Which upstream proxy, if any, leads to the VPN server: the --upstream-proxy
 * option, else the environment (HTTPS_PROXY, then ALL_PROXY), filtered by
 * NO_PROXY; --no-upstream-proxy turns all of it off.
 *
 * Rules (the same as curl's where curl has one):
 *  - --no-upstream-proxy: no proxy, whatever else is set.
 *  - --upstream-proxy URL: that proxy, always (NO_PROXY does not apply to what
 *    the user asked for by name). An empty URL means "no proxy".
 *  - otherwise https_proxy, HTTPS_PROXY, all_proxy, ALL_PROXY: the first one
 *    set and non-empty (lower case first, like curl), unless the VPN server's
 *    host matches no_proxy / NO_PROXY (lower case first).
 *  - A value that does not parse is an error naming the variable (or option),
 *    never silently ignored: the user would otherwise connect directly
 *    without knowing it. --no-upstream-proxy is the way out.
 *
 * NO_PROXY is a list of entries separated by commas (and/or blanks):
 *  - "*" alone matches every host;
 *  - "example.com", ".example.com" or "*.example.com" match example.com and
 *    every name under it (case-insensitive, a final '.' ignored);
 *  - an IP address matches that address; "10.0.0.0/8" or "fd00::/8" (CIDR)
 *    match the addresses inside; "[::1]" brackets are allowed;
 *  - a ":port" after a name or bracketed address is ignored.
 */
#ifndef SV_UPSTREAM_CFG_H
#define SV_UPSTREAM_CFG_H

#include <stdbool.h>
#include <stddef.h>

#include "core/upstream.h"

/* The environment variables that matter, as values (NULL = unset). */
struct sv_upstream_env {
	const char *https_proxy_lc; /* https_proxy */
	const char *https_proxy_uc; /* HTTPS_PROXY */
	const char *all_proxy_lc;   /* all_proxy */
	const char *all_proxy_uc;   /* ALL_PROXY */
	const char *no_proxy_lc;    /* no_proxy */
	const char *no_proxy_uc;    /* NO_PROXY */
};

/* Fills env from getenv() (the pointers are borrowed from the environment). */
void sv_upstream_env_read(struct sv_upstream_env *env);

/*
 * Decides the proxy for server_host (borrowed; the VPN server's host name or
 * IP literal, no brackets needed). option is the --upstream-proxy value or
 * NULL when not given; disabled is --no-upstream-proxy; env (borrowed) may be
 * NULL (no environment).
 *
 * Returns
 *   1   use the proxy in *out (written only then; wipe it with
 *       sv_upstream_cfg_wipe() when done, it may hold a password)
 *   0   connect directly
 *   SV_E_INVAL  a value does not parse: err[0..errcap) holds a sentence
 *       starting with the option or variable name, e.g.
 *       "HTTPS_PROXY: SOCKS4 proxies are not supported: ..."
 * *source (may be NULL) is set to what decided, for a log line:
 * "--upstream-proxy", "--no-upstream-proxy", "https_proxy", "HTTPS_PROXY",
 * "all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY" (the server matched it:
 * direct), or NULL (nothing configured: direct).
 */
int sv_upstream_cfg_choose(const char *option, bool disabled,
                           const char *server_host,
                           const struct sv_upstream_env *env,
                           struct sv_upstream_cfg *out, const char **source,
                           char *err, size_t errcap);

/* True if host matches the NO_PROXY list (see above). NULL list: false. */
bool sv_upstream_no_proxy_match(const char *list, const char *host);

#endif
