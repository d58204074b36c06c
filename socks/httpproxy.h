/*
 * The HTTP proxy front-end (socks/httpproxy.c; its ops are sv_fe_http in
 * socks/frontend.h): what the application tells it beyond the listener's config.
 */
#ifndef SV_HTTPPROXY_H
#define SV_HTTPPROXY_H

/*
 * Addresses listed in the /proxy.pac file besides the HTTP proxy itself (which is taken
 * from the request's Host header, else from http_addr). socks_addr: the bound address
 * of a --socks or --proxy listener ("127.0.0.1:1080", "[::1]:1080"), NULL for none;
 * Unix sockets are left out; a wildcard host (0.0.0.0, [::]) is replaced by the host
 * the client used to reach the HTTP listener. http_addr: the bound address of the
 * --http (or --proxy) listener, used when a request has no Host header; NULL for
 * none. Both copied (at most 299 bytes each, longer ones are ignored). Call again to
 * change; call before or after the listeners start.
 */
void sv_httpproxy_set_pac_info(const char *socks_addr, const char *http_addr);

#endif
