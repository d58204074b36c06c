/*
 * Proxy auto-config (PAC) file generator for "GET /proxy.pac" on the HTTP listener.
 *
 * The file sends the tunnel's networks through the proxy and everything else DIRECT:
 *
 *   function FindProxyForURL(url, host) {
 *     var p = "PROXY 127.0.0.1:8080; SOCKS5 127.0.0.1:1080";
 *     if (host == "localhost" || ...loopback...) return "DIRECT";
 *     if (isPlainHostName(host)) return p;                 (names without dots)
 *     if (dnsDomainIs(host, ".corp.example") || host == "corp.example") return p;
 *                                                       (the domain and each search domain)
 *     var ip = dnsResolve(host);                            (literals resolve to themselves)
 *     if (ip && isInNet(ip, "10.1.0.0", "255.255.0.0")) return p;   (one per IPv4 net)
 *     if (typeof isInNetEx == "function") {                 (IPv6: Chrome, Edge)
 *       var ip6 = dnsResolveEx(host) ...; isInNetEx(each, "fd00::/64") -> p
 *     }
 *     return "DIRECT";
 *   }
 *
 * When the VPN pushes a default route (0.0.0.0/0 in DHCP option 121: "send everything
 * through the VPN"), the file says so and sends every host but loopback through the
 * proxy: the lists above would only repeat it, and their dnsResolve calls would cost
 * the browser a lookup per host for nothing.
 *
 * Everything put into the JavaScript is validated (the domain comes from DHCP, the proxy
 * address often from the client's Host header): addresses and names are limited to
 * [A-Za-z0-9.:[]-], so no quote or backslash can reach the output.
 * Pure function, no I/O.
 */
#ifndef SV_PAC_H
#define SV_PAC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/addr.h"
#include "core/buf.h"

#define SV_PAC_MAX_NETS 64 /* more networks than this: SV_E_TOOBIG */
#define SV_PAC_MAX_SEARCH 16 /* more search domains than this: SV_E_TOOBIG */
#define SV_PAC_MAX 65536   /* suggested ceiling for the sv_buf the file is written to */

/* A network to send through the proxy: ip/prefix (host bits may be set; they are
 * cleared in the output). prefix 0..32 for family 4, 0..128 for family 6. */
struct sv_pac_net {
	struct sv_ip ip;
	uint8_t prefix;
};

struct sv_pac_config {
	/* "host:port" (or "[v6]:port") at which the client reaches the HTTP proxy, e.g.
	 * the Host header of the /proxy.pac request; NULL for none. Borrowed. */
	const char *http_proxy;
	/* "host:port" of a SOCKS5 listener (the same address for a one-port listener);
	 * NULL for none. At least one of the two must be given. Borrowed. */
	const char *socks_proxy;
	/* The tunnel's networks: the DHCP lease's network, extra routes, IPv6 prefixes.
	 * Borrowed; n_nets may be 0 (then only plain names and the domain match). */
	const struct sv_pac_net *nets;
	size_t n_nets;
	/* DHCP domain (option 15), e.g. "corp.example"; NULL or "" for none. Borrowed.
	 * A domain with characters outside [A-Za-z0-9.-] (or longer than 253) is left out
	 * with no error, since it comes from the network. */
	const char *domain;
	/* DHCP search list (option 119): more domains, each treated like domain (the same
	 * checks; one already listed is not repeated). Borrowed; n_search may be 0. */
	const char *const *search;
	size_t n_search;
	/* The VPN routes everything (DHCP default route): every host but loopback goes
	 * through the proxy, nets and domains are not listed. */
	bool everything;
};

/*
 * Appends the PAC file for cfg to out (nothing on failure). Returns 0; SV_E_INVAL (no
 * proxy address, an address with characters outside [A-Za-z0-9.:[]-] or longer than
 * 300, a network of unknown family or with a prefix too long); SV_E_TOOBIG (more than
 * SV_PAC_MAX_NETS networks or SV_PAC_MAX_SEARCH search domains, or from out);
 * SV_E_NOMEM.
 */
int sv_pac_write(struct sv_buf *out, const struct sv_pac_config *cfg);

#endif
