/*
 * lwIP (NO_SYS=1) with one Ethernet netif fed by the tunnel; see stack.h.
 *
 * Output: frames leave through linkoutput -> ops->output while lwIP runs, except pure TCP
 * ACKs: they are queued (ackmerge.h), where a newer ACK of the same connection replaces
 * an older one, and leave before the next other frame (order is kept) or from
 * sv_stack_flush(): at the end of the loop turn, or, while bulk data comes in, once the
 * oldest is ACK_HOLD_US old, so that a busy connection sends one ACK per ACK_HOLD_US
 * instead of one per two segments (see ACK_HOLD_US for why, and the limits on it).
 * sv_stack_sleeptime() wakes the loop when held ACKs are due.
 *
 * Re-entrancy: lwIP must never be entered from inside itself. ops->output runs while lwIP
 * is running (inside sv_stack_input, sv_stack_poll, sv_stack_flush or a tcpconn/resolve
 * call), so it must only queue the frame; the main loop calls sv_stack_input() from its
 * own receive path. A frame that arrives through sv_stack_input() while ops->output runs
 * is dropped with a warning.
 *
 * Callbacks to the user (ops->on_lease here, tcpconn and resolve callbacks) are never made
 * from inside lwIP: lwIP's callbacks queue a struct sv_defer and sv_stack_flush() runs the
 * queue (internal.h).
 *
 * Address conflicts (RFC 5227 style, instead of lwIP 2.1.3's DHCP_DOES_ARP_CHECK, which
 * holds the lease back for two 500 ms ARP probes): the address is used, and reported,
 * as soon as the server's ACK binds it. At that moment we send one ARP probe for it
 * (sender address 0.0.0.0, which hosts answer; a gratuitous ARP they do not) and watch
 * every incoming ARP frame before lwIP sees it. An ARP request or reply whose sender
 * address is ours and whose sender MAC is not, within CONFLICT_WINDOW_MS of binding,
 * means another host has the address: we send a DHCPDECLINE, drop the address (which
 * reads as "address lost", like a lease that ends) and start DHCP again after
 * DECLINE_WAIT_MS (RFC 2131 section 4.4.1). Later conflicts are logged only: by then
 * connections use the address.
 *
 * Randomness: LWIP_RAND (DHCP xid, DNS ids and source ports, ephemeral TCP/UDP ports) is
 * SipHash-2-4 in counter mode under a key from OS entropy; TCP initial sequence numbers
 * follow RFC 6528 (keyed hash of the 4-tuple plus a 4 us clock) under a second key.
 */
#define SV_LOG_MODULE "netstack"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lwip/dhcp.h"
#include "lwip/prot/dhcp.h"
#include "lwip/dhcp6.h"
#include "lwip/dns.h"
#include "lwip/etharp.h"
#include "lwip/ethip6.h"
#include "lwip/inet_chksum.h"
#include "lwip/init.h"
#include "lwip/ip6.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "lwip/timeouts.h"
#include "netif/ethernet.h"

#include "arch/sv_hooks.h"
#include "core/err.h"
#include "core/log.h"
#include "netstack/ackmerge.h"
#include "netstack/dhcp_routes.h"
#include "netstack/dns_msg.h"
#include "netstack/internal.h"
#include "netstack/stack.h"
#include "platform/platform.h"

#define FRAME_MAX 1518 /* 1514 + an 802.1Q tag */
#define FRAME_MIN 14
#define SLEEP_CAP_MS 1000u
/*
 * How long a pure ACK may wait for newer ones of the same connection while bulk data
 * comes in. Every frame we send costs the server a TLS record's share, a write to its
 * bridge's packet socket and, in that write, the LAN sender's ACK processing: all on the
 * server's CPU, which is what limits a download. On the real server a bulk download went
 * from ~62 upstream frames per MiB (one ACK per loop turn) to ~22, the server's CPU per
 * byte fell ~16 % and the download rate rose ~12 % (bench/RESULTS.md). The cost: the
 * sender sees its round trip up to this much longer (plus the loop timer's millisecond)
 * and one ACK for more segments, which a sender counting bytes (Linux, RFC 3465) takes in
 * its stride; far below a WAN round trip, and below the 40 ms and more a delayed ACK may
 * take (RFC 1122 allows 500 ms).
 */
#define ACK_HOLD_US 500u
/* ACKs are held only for bulk input: a turn that brings fewer frames than this (a
 * handshake, a FIN, a short reply) sends its ACKs at its end, unless ACKs from an
 * earlier turn are already held. */
#define ACK_HOLD_MIN_FRAMES 4u
/* A sender that falls silent whenever its ACKs are held is waiting for them (an older
 * TCP that counts ACKs rather than bytes, or one with a small send buffer): holding only
 * slows it down (libslirp's sender, the test hub's, fell from ~300 to ~45 MB/s). When held
 * ACKs fall due ACK_HOLD_QUIET_MAX times in a row with no frame for a whole hold, ACKs
 * are sent at the end of each turn for ACK_HOLD_BACKOFF_US; then holding is tried again.
 * (One silence proves little: a busy server pauses now and then.) */
#define ACK_HOLD_QUIET_MAX 3u
#define ACK_HOLD_BACKOFF_US 250000u
#define CONFLICT_WINDOW_MS 1000u /* RFC 5227 probes wait 1-2 s for an answer */
#define DECLINE_WAIT_MS 10000u   /* RFC 2131 section 4.4.1: at least ten seconds */
#define ETH_ARP_LEN 42           /* Ethernet header + ARP for IPv4 over Ethernet */

static struct {
	bool inited, started, in_output, warned_reentry;
	unsigned long frames_in; /* frames passed to lwIP so far */
	struct netif netif;
	const struct sv_stack_ops *ops;
	void *arg;
	uint8_t mac[6];
	/* deferred-call queue */
	struct sv_defer *head, *tail;
	/* lease reporting */
	struct sv_defer lease_defer;
	struct sv_lease last; /* last state seen (memset + memcpy: padding compares) */
	bool have_last;
	/* randomness */
	uint64_t rand_key[2], isn_key[2], rand_ctr;
	/* pure ACKs held (see ACK_HOLD_US) */
	struct sv_ackq txq;
	uint64_t txq_since;             /* sv_now_us() when the oldest ACK was queued */
	uint64_t hold_off_until;        /* sv_now_us(); see ACK_HOLD_BACKOFF_US */
	unsigned long frames_at_flush;  /* S.frames_in at the last sv_stack_flush() */
	uint64_t input_at;              /* sv_now_us() at the last flush after frames came */
	unsigned quiet;                 /* held ACKs due after silence, in a row */
	bool holding;                   /* ACKs held past the end of a turn */
	/* DHCP options lwIP ignores, from the last ACK that carried any (dhcp_opts) */
	struct {
		unsigned long frame; /* S.frames_in when parsed: a new frame (message) resets */
		char domain[SV_DNS_NAME_MAX];
		uint8_t search_raw[1024]; /* option 119, concatenated (RFC 3396) */
		size_t search_len;
		unsigned mtu;
		struct sv_dhcp_routes_raw routes; /* 121, 249, 33 (dhcp_routes.h) */
	} dopt;
	/* conflict detection for the DHCP address (see the top of this file) */
	struct {
		bool armed, warned;
		uint8_t ip[4];    /* the address bound last, network order */
		uint64_t until;   /* end of the window in which a conflict declines it */
		unsigned declines;
	} acd;
} S;

NETIF_DECLARE_EXT_CALLBACK(ext_cb_slot)

static void acd_arm(void);

/* --- SipHash-2-4 (Aumasson, Bernstein) ---------------------------------------------- */

#define ROTL64(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

static void
sipround(uint64_t v[4])
{
	v[0] += v[1];
	v[1] = ROTL64(v[1], 13);
	v[1] ^= v[0];
	v[0] = ROTL64(v[0], 32);
	v[2] += v[3];
	v[3] = ROTL64(v[3], 16);
	v[3] ^= v[2];
	v[0] += v[3];
	v[3] = ROTL64(v[3], 21);
	v[3] ^= v[0];
	v[2] += v[1];
	v[1] = ROTL64(v[1], 17);
	v[1] ^= v[2];
	v[2] = ROTL64(v[2], 32);
}

static uint64_t
le64(const uint8_t *p)
{
	uint64_t r = 0;
	for (int i = 7; i >= 0; i--)
		r = (r << 8) | p[i];
	return r;
}

static uint64_t
siphash(const uint64_t k[2], const void *data, size_t n)
{
	const uint8_t *p = data;
	uint64_t v[4] = { k[0] ^ 0x736f6d6570736575ull, k[1] ^ 0x646f72616e646f6dull,
		k[0] ^ 0x6c7967656e657261ull, k[1] ^ 0x7465646279746573ull };
	uint64_t m, b = (uint64_t)n << 56;
	size_t i;

	for (i = 0; i + 8 <= n; i += 8) {
		m = le64(p + i);
		v[3] ^= m;
		sipround(v);
		sipround(v);
		v[0] ^= m;
	}
	for (size_t j = 0; i + j < n; j++)
		b |= (uint64_t)p[i + j] << (8 * j);
	v[3] ^= b;
	sipround(v);
	sipround(v);
	v[0] ^= b;
	v[2] ^= 0xff;
	for (int r = 0; r < 4; r++)
		sipround(v);
	return v[0] ^ v[1] ^ v[2] ^ v[3];
}

static void
seed_keys(void)
{
	uint64_t k[4];
	int r = sv_random(k, sizeof k);
	if (r != 0) {
		/* Not expected on any supported OS; still never start with a fixed key. */
		log_warn_r(r, "no OS entropy; seeding lwIP from the clock");
		uint64_t t = sv_now_ms();
		uintptr_t a = (uintptr_t)&k;
		k[0] = t ^ 0x9e3779b97f4a7c15ull;
		k[1] = (uint64_t)a;
		k[2] = t * 0xbf58476d1ce4e5b9ull;
		k[3] = (uint64_t)a * 0x94d049bb133111ebull;
	}
	S.rand_key[0] = k[0];
	S.rand_key[1] = k[1];
	S.isn_key[0] = k[2];
	S.isn_key[1] = k[3];
	S.rand_ctr = sv_now_ms();
	memset(k, 0, sizeof k);
}

/* LWIP_RAND(); see arch/cc.h */
uint32_t
sv_lwip_rand(void)
{
	uint64_t c = S.rand_ctr++;
	return (uint32_t)siphash(S.rand_key, &c, sizeof c);
}

/* LWIP_HOOK_TCP_ISN; see arch/sv_hooks.h. RFC 6528 section 3: ISN = M + F(4-tuple, key). */
u32_t
sv_lwip_tcp_isn(const ip_addr_t *local_ip, u16_t local_port, const ip_addr_t *remote_ip,
	u16_t remote_port)
{
	uint8_t buf[2 * 17 + 4];
	struct sv_ip a;

	memset(buf, 0, sizeof buf);
	sv_ip_from_lwip(local_ip, &a);
	memcpy(buf, &a, 17);
	sv_ip_from_lwip(remote_ip, &a);
	memcpy(buf + 17, &a, 17);
	buf[34] = (uint8_t)(local_port >> 8);
	buf[35] = (uint8_t)local_port;
	buf[36] = (uint8_t)(remote_port >> 8);
	buf[37] = (uint8_t)remote_port;
	uint32_t m = (uint32_t)(sv_now_ms() * 250u); /* 4 us ticks */
	return m + (uint32_t)siphash(S.isn_key, buf, sizeof buf);
}

/* --- DHCP options lwIP ignores ------------------------------------------------------ */

/*
 * lwIP 2.1.3 neither requests nor parses the domain name (15), the search list (119,
 * RFC 3397) or the interface MTU (26). The append hook adds them to the parameter
 * request list lwIP has already written; the parse hook sees every option lwIP does not
 * handle itself and keeps these three from ACKs. An ACK is recognised by the input frame
 * that carried it: the first of our options in a new ACK clears what the previous one
 * left.
 * Known limit: an ACK that carries none of them keeps the previous values.
 *
 * Static routes (121, 249, 33; dhcp_routes.h) are kept the same way and chosen when the
 * lease is built. RFC 3442 says a client that gets option 121 ignores the router option
 * (3) for routing; here no route steers anything: the one netif is the tunnel, every
 * proxied connection leaves through it, and the routes only tell the PAC file and
 * /status which networks are behind the VPN. RFC 3442 also wants 121 before 3 and 33
 * in the parameter request list, so ours go first.
 */
_Static_assert(SV_STACK_NAME_MAX == SV_DNS_NAME_MAX, "lease names are dns_msg.h names");

static const uint8_t extra_params[] = { SV_DHCP_OPT_CLASSLESS_ROUTES,
	SV_DHCP_OPT_MS_CLASSLESS_ROUTES, DHCP_OPTION_MTU, 15, 119, SV_DHCP_OPT_STATIC_ROUTES };

/* LWIP_HOOK_DHCP_APPEND_OPTIONS; see arch/sv_hooks.h */
void
sv_lwip_dhcp_append(struct netif *netif, struct dhcp *dhcp, u8_t state,
	struct dhcp_msg *msg, u8_t msg_type, u16_t *options_len)
{
	uint8_t *o = msg->options;
	size_t len = *options_len, i = 0, add = sizeof extra_params;

	(void)netif;
	(void)dhcp;
	(void)state;
	if (msg_type != DHCP_DISCOVER && msg_type != DHCP_REQUEST && msg_type != DHCP_INFORM)
		return;
	/* room for ours and the END option dhcp_option_trailer() writes */
	if (len + add + 1 > DHCP_OPTIONS_LEN)
		return;
	while (i < len && o[i] != DHCP_OPTION_PARAMETER_REQUEST_LIST) {
		if (o[i] == DHCP_OPTION_PAD)
			i++;
		else if (i + 1 < len)
			i += 2 + (size_t)o[i + 1];
		else
			return;
	}
	if (i + 1 >= len || i + 2 + (size_t)o[i + 1] > len || o[i + 1] + add > 255)
		return;
	size_t at = i + 2; /* at the head of the list (RFC 3442 section 4 on 121) */
	memmove(o + at + add, o + at, len - at);
	memcpy(o + at, extra_params, add);
	o[i + 1] = (uint8_t)(o[i + 1] + add);
	*options_len = (u16_t)(len + add);
}

/* LWIP_HOOK_DHCP_PARSE_OPTION; see arch/sv_hooks.h */
void
sv_lwip_dhcp_parse(struct netif *netif, struct dhcp *dhcp, u8_t state,
	struct dhcp_msg *msg, u8_t msg_type, u8_t option, u8_t len, struct pbuf *p,
	u16_t offset)
{
	uint8_t v[255];
	bool route = option == SV_DHCP_OPT_CLASSLESS_ROUTES ||
		option == SV_DHCP_OPT_MS_CLASSLESS_ROUTES || option == SV_DHCP_OPT_STATIC_ROUTES;

	(void)dhcp;
	(void)msg;
	(void)state;
	if (msg_type != DHCP_ACK ||
		(!route && option != DHCP_OPTION_MTU && option != 15 && option != 119))
		return;
	if (pbuf_copy_partial(p, v, len, offset) != len)
		return;
	/* One frame carries one message (lwIP reassembles fragments inside it). Not the
	 * message's address and xid: a repeated ACK (same xid) often lands in the memory
	 * the last one just freed, and its options would be appended to the last ones. */
	if (S.dopt.frame != S.frames_in) {
		S.dopt.frame = S.frames_in;
		S.dopt.domain[0] = '\0';
		S.dopt.search_len = 0;
		S.dopt.mtu = 0;
		sv_dhcp_routes_reset(&S.dopt.routes);
	}
	if (route) {
		sv_dhcp_routes_collect(&S.dopt.routes, option, v, len);
	} else if (option == 15) {
		if (!sv_dns_decode_domain(v, len, S.dopt.domain))
			log_debug("dhcp: ignoring malformed domain name option");
	} else if (option == 119) {
		if (S.dopt.search_len + len <= sizeof S.dopt.search_raw) {
			memcpy(S.dopt.search_raw + S.dopt.search_len, v, len);
			S.dopt.search_len += len;
		}
	} else if (len == 2) {
		unsigned mtu = (unsigned)v[0] << 8 | v[1];
		/* RFC 2132 section 5.1: at least 68; we keep IPv4's 576 and our 1500 frame */
		if (mtu >= 576 && mtu <= 1500) {
			S.dopt.mtu = mtu;
			if (netif != NULL && netif->mtu != mtu) {
				log_info("dhcp: interface MTU %u", mtu);
				netif->mtu = (u16_t)mtu;
			}
		}
	}
}

static void
lease_add_dhcp_options(struct sv_lease *l)
{
	memcpy(l->domain, S.dopt.domain, sizeof l->domain);
	l->n_search = sv_dns_decode_search(S.dopt.search_raw, S.dopt.search_len, l->search,
		SV_STACK_MAX_SEARCH);
	l->mtu = S.dopt.mtu;
	l->n_routes = sv_dhcp_routes_select(&S.dopt.routes, &l->ip, l->prefix_len, l->routes,
		SV_DHCP_ROUTES_MAX, NULL, NULL, NULL);
}

static void
note_route(void *arg, const char *why)
{
	(void)arg;
	log_info("dhcp: %s", why);
}

/* When the route options or the subnet changed: what was left out (info), the routes
 * kept (debug). Other lease changes (an IPv6 address) do not repeat them. */
static void
log_routes(const struct sv_lease *l)
{
	static struct {
		struct sv_dhcp_routes_raw raw;
		struct sv_ip ip;
		unsigned prefix_len;
	} last;
	struct sv_dhcp_route r[SV_DHCP_ROUTES_MAX];
	char d[SV_IP_STRLEN], g[SV_IP_STRLEN], v[SV_IP_STRLEN + 8];
	unsigned code;

	if (memcmp(&last.raw, &S.dopt.routes, sizeof last.raw) == 0 &&
		memcmp(&last.ip, &l->ip, sizeof last.ip) == 0 &&
		last.prefix_len == l->prefix_len)
		return;
	memcpy(&last.raw, &S.dopt.routes, sizeof last.raw);
	last.ip = l->ip;
	last.prefix_len = l->prefix_len;
	sv_dhcp_routes_select(&S.dopt.routes, &l->ip, l->prefix_len, r, SV_DHCP_ROUTES_MAX,
		&code, note_route, NULL);
	for (unsigned i = 0; i < l->n_routes; i++) {
		const struct sv_dhcp_route *x = &l->routes[i];
		bool on_link = x->via.b[0] == 0 && x->via.b[1] == 0 && x->via.b[2] == 0 &&
			x->via.b[3] == 0;
		snprintf(v, sizeof v, "via %s", sv_ip_format(&x->via, g, sizeof g));
		log_debug("dhcp: route %s/%u %s (option %u)",
			sv_ip_format(&x->dst, d, sizeof d), x->prefix_len,
			on_link ? "on the link" : v, code);
	}
}

/* --- diagnostics -------------------------------------------------------------------- */

/* see arch/cc.h */
void
sv_lwip_diag(const char *fmt, ...)
{
	char line[256];
	va_list ap;

	if (sv_log_level < SV_LOG_DEBUG)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	size_t n = strlen(line);
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	log_debug("lwip: %s", line);
}

/* see arch/cc.h */
void
sv_lwip_assert(const char *msg, const char *file, int line)
{
	log_err("lwip assertion failed: %s (%s:%d)", msg, file, line);
	abort();
}

/* --- address conversion ------------------------------------------------------------- */

/* see internal.h */
void
sv_ip_to_lwip(const struct sv_ip *in, ip_addr_t *out)
{
	memset(out, 0, sizeof *out);
	if (in->family == 6) {
		IP_SET_TYPE_VAL(*out, IPADDR_TYPE_V6);
		memcpy(ip_2_ip6(out)->addr, in->b, 16);
		ip6_addr_clear_zone(ip_2_ip6(out));
		if (S.inited) {
			ip6_addr_assign_zone(ip_2_ip6(out), IP6_UNICAST, &S.netif);
		}
	} else {
		IP_SET_TYPE_VAL(*out, IPADDR_TYPE_V4);
		memcpy(&ip_2_ip4(out)->addr, in->b, 4);
	}
}

/* see internal.h */
void
sv_ip_from_lwip(const ip_addr_t *in, struct sv_ip *out)
{
	memset(out, 0, sizeof *out);
	if (IP_IS_V6(in)) {
		out->family = 6;
		memcpy(out->b, ip_2_ip6(in)->addr, 16);
	} else {
		out->family = 4;
		memcpy(out->b, &ip_2_ip4(in)->addr, 4);
	}
}

/* --- deferred calls ----------------------------------------------------------------- */

/* see internal.h */
void
sv_stack_defer(struct sv_defer *d, sv_defer_fn *fn)
{
	d->fn = fn;
	if (d->queued)
		return;
	d->queued = true;
	d->next = NULL;
	d->prev = S.tail;
	if (S.tail)
		S.tail->next = d;
	else
		S.head = d;
	S.tail = d;
}

/* see internal.h */
void
sv_stack_undefer(struct sv_defer *d)
{
	if (!d->queued)
		return;
	if (d->prev)
		d->prev->next = d->next;
	else
		S.head = d->next;
	if (d->next)
		d->next->prev = d->prev;
	else
		S.tail = d->prev;
	d->prev = d->next = NULL;
	d->queued = false;
}

static void
run_deferred(void)
{
	struct sv_defer *d;
	while ((d = S.head) != NULL) {
		sv_stack_undefer(d);
		d->fn(d); /* may free d's owner or queue d again */
	}
}

/* --- lease -------------------------------------------------------------------------- */

static unsigned
prefix_len(const ip4_addr_t *mask)
{
	uint32_t m = lwip_ntohl(ip4_addr_get_u32(mask));
	unsigned n = 0;
	while (n < 32 && (m & (0x80000000u >> n)))
		n++;
	return n;
}

static void
build_lease(struct sv_lease *l)
{
	struct netif *n = &S.netif;

	memset(l, 0, sizeof *l);
	if (dhcp_supplied_address(n)) {
		sv_ip_from_lwip(&n->ip_addr, &l->ip);
		l->prefix_len = prefix_len(netif_ip4_netmask(n));
		sv_ip_from_lwip(&n->gw, &l->gw);
		lease_add_dhcp_options(l);
	}
	for (u8_t i = 0; i < DNS_MAX_SERVERS && l->n_dns < SV_STACK_MAX_DNS; i++) {
		const ip_addr_t *d = dns_getserver(i);
		if (!ip_addr_isany(d))
			sv_ip_from_lwip(d, &l->dns[l->n_dns++]);
	}
	/* lwIP keeps the link-local address in slot 0. */
	for (int i = 0; i < LWIP_IPV6_NUM_ADDRESSES && l->n_ip6 < 3; i++) {
		if (ip6_addr_ispreferred(netif_ip6_addr_state(n, i)))
			sv_ip_from_lwip(&n->ip6_addr[i], &l->ip6[l->n_ip6++]);
	}
}

/* Something usable: an IPv4 lease or a preferred IPv6 address beyond link-local. */
static bool
lease_is_usable(const struct sv_lease *l)
{
	if (l->ip.family == 4)
		return true;
	for (unsigned i = 0; i < l->n_ip6; i++)
		if (!(l->ip6[i].b[0] == 0xfe && (l->ip6[i].b[1] & 0xc0) == 0x80))
			return true;
	return false;
}

static void
log_lease(const struct sv_lease *l)
{
	char a[SV_IP_STRLEN], g[SV_IP_STRLEN], d[SV_IP_STRLEN];

	if (sv_log_level < SV_LOG_INFO)
		return;
	if (l->ip.family == 4)
		log_info("dhcp: %s/%u gw %s dns %s", sv_ip_format(&l->ip, a, sizeof a),
			l->prefix_len, sv_ip_format(&l->gw, g, sizeof g),
			l->n_dns ? sv_ip_format(&l->dns[0], d, sizeof d) : "none");
	if (l->ip.family == 4 && (l->domain[0] != '\0' || l->n_search > 0))
		log_info("dhcp: domain %s, search %s%s%s", l->domain[0] ? l->domain : "none",
			l->n_search ? l->search[0] : "none", l->n_search > 1 ? " ..." : "",
			l->n_search > 1 ? l->search[l->n_search - 1] : "");
	if (l->ip.family == 4)
		log_routes(l);
	for (unsigned i = 0; i < l->n_ip6; i++)
		log_info("ipv6: %s", sv_ip_format(&l->ip6[i], a, sizeof a));
}

static void
lease_fire(struct sv_defer *d)
{
	struct sv_lease cur;

	(void)d;
	if (!S.started)
		return;
	build_lease(&cur);
	if (S.have_last && memcmp(&cur, &S.last, sizeof cur) == 0)
		return;
	bool was_usable = S.have_last && lease_is_usable(&S.last);
	memcpy(&S.last, &cur, sizeof cur);
	S.have_last = true;
	if (!lease_is_usable(&cur)) {
		if (was_usable)
			log_info("dhcp: address lost");
		return;
	}
	log_lease(&cur);
	if (S.ops && S.ops->on_lease)
		S.ops->on_lease(S.arg, &cur);
}

static void
ext_status_cb(struct netif *n, netif_nsc_reason_t reason, const netif_ext_callback_args_t *args)
{
	(void)args;
	if (n != &S.netif)
		return;
	if (reason & (LWIP_NSC_IPV4_ADDRESS_CHANGED | LWIP_NSC_IPV4_SETTINGS_CHANGED))
		acd_arm();
	if (reason & (LWIP_NSC_IPV4_ADDRESS_CHANGED | LWIP_NSC_IPV4_GATEWAY_CHANGED |
			     LWIP_NSC_IPV4_NETMASK_CHANGED | LWIP_NSC_IPV4_SETTINGS_CHANGED |
			     LWIP_NSC_IPV6_SET | LWIP_NSC_IPV6_ADDR_STATE_CHANGED |
			     LWIP_NSC_STATUS_CHANGED))
		sv_stack_defer(&S.lease_defer, lease_fire);
}

/* see stack.h */
bool
sv_stack_lease(struct sv_lease *out)
{
	if (!S.inited || !dhcp_supplied_address(&S.netif))
		return false;
	build_lease(out);
	return true;
}

/* --- address conflicts ------------------------------------------------------------ */

static void
output_now(const uint8_t *frame, size_t len);

static void
wr16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* RFC 5227 section 2.1.1: an ARP request for ip with sender address 0.0.0.0. */
static void
send_arp_probe(const uint8_t ip[4])
{
	uint8_t f[ETH_ARP_LEN];

	memset(f, 0, sizeof f);
	memset(f, 0xff, 6);
	memcpy(f + 6, S.mac, 6);
	wr16(f + 12, 0x0806);
	wr16(f + 14, 1);      /* Ethernet */
	wr16(f + 16, 0x0800); /* IPv4 */
	f[18] = 6;
	f[19] = 4;
	wr16(f + 20, 1); /* request */
	memcpy(f + 22, S.mac, 6);
	/* sender IP 0.0.0.0, target MAC zero */
	memcpy(f + 38, ip, 4);
	output_now(f, sizeof f);
}

/* RFC 2131 section 4.4.4 and table 5: DHCPDECLINE, broadcast from 0.0.0.0, with the
 * declined address (option 50) and the server identifier (option 54). */
static void
send_decline(const struct dhcp *d, const uint8_t ip[4])
{
	enum { IP_OFF = 14, UDP_OFF = IP_OFF + 20, BOOTP_OFF = UDP_OFF + 8,
		OPT_OFF = BOOTP_OFF + 240, LEN = OPT_OFF + 64 };
	uint8_t f[LEN];

	memset(f, 0, sizeof f);
	memset(f, 0xff, 6);
	memcpy(f + 6, S.mac, 6);
	wr16(f + 12, 0x0800);
	uint8_t *ip4 = f + IP_OFF, *udp = f + UDP_OFF, *b = f + BOOTP_OFF, *o = f + OPT_OFF;
	ip4[0] = 0x45;
	wr16(ip4 + 2, LEN - IP_OFF);
	ip4[8] = 64;
	ip4[9] = 17;
	memset(ip4 + 16, 0xff, 4); /* from 0.0.0.0 to 255.255.255.255 */
	u16_t sum = inet_chksum(ip4, 20); /* already in network order */
	memcpy(ip4 + 10, &sum, 2);
	wr16(udp, 68);
	wr16(udp + 2, 67);
	wr16(udp + 4, LEN - UDP_OFF); /* checksum 0: none (RFC 768) */
	b[0] = 1;                     /* BOOTREQUEST */
	b[1] = 1;
	b[2] = 6;
	wr16(b + 4, (unsigned)(d->xid >> 16)); /* lwIP keeps it in host order */
	wr16(b + 6, (unsigned)(d->xid & 0xffffu));
	memcpy(b + 28, S.mac, 6);
	static const uint8_t cookie[4] = { 99, 130, 83, 99 };
	memcpy(b + 236, cookie, 4);
	o[0] = 53; /* message type: DECLINE */
	o[1] = 1;
	o[2] = 4;
	o[3] = 50; /* requested IP address */
	o[4] = 4;
	memcpy(o + 5, ip, 4);
	o[9] = 54; /* server identifier */
	o[10] = 4;
	memcpy(o + 11, &ip_2_ip4(&d->server_ip_addr)->addr, 4);
	o[15] = 255;
	output_now(f, sizeof f);
}

static void
dhcp_restart(void *arg)
{
	(void)arg;
	if (!S.started)
		return;
	log_info("dhcp: asking for an address again after the conflict");
	err_t e = dhcp_start(&S.netif);
	if (e != ERR_OK)
		log_warn("dhcp: cannot restart (lwIP error %d)", (int)e);
}

/* The address DHCP just bound: probe it once and open the conflict window. */
static void
acd_arm(void)
{
	const ip4_addr_t *a = netif_ip4_addr(&S.netif);

	if (!dhcp_supplied_address(&S.netif) || ip4_addr_isany(a)) {
		S.acd.armed = false;
		return;
	}
	if (S.acd.armed && memcmp(&a->addr, S.acd.ip, 4) == 0)
		return;
	memcpy(S.acd.ip, &a->addr, 4);
	S.acd.armed = true;
	S.acd.warned = false;
	S.acd.until = sv_now_ms() + CONFLICT_WINDOW_MS;
	send_arp_probe(S.acd.ip);
}

/* Another host (MAC sha) answered for our address: decline it and start again later. */
static void
acd_conflict(const uint8_t sha[6])
{
	struct dhcp *d = netif_dhcp_data(&S.netif);
	char ip[SV_IP_STRLEN];
	struct sv_ip a = { .family = 4 };

	memcpy(a.b, S.acd.ip, 4);
	sv_ip_format(&a, ip, sizeof ip);
	S.acd.armed = false;
	S.acd.declines++;
	log_warn("dhcp: address %s is already used by another host "
		 "(%02x:%02x:%02x:%02x:%02x:%02x); declining it and asking the DHCP server "
		 "for another address in %u s",
		ip, sha[0], sha[1], sha[2], sha[3], sha[4], sha[5], DECLINE_WAIT_MS / 1000u);
	if (d == NULL)
		return;
	send_decline(d, S.acd.ip);
	/* lwIP 2.1.3 has no "stop without RELEASE" (its own decline is compiled only with
	 * DHCP_DOES_ARP_CHECK). A RELEASE would tell the server the address is free again,
	 * so leave the bound state first: then dhcp_release_and_stop() only stops. */
	d->state = DHCP_STATE_BACKING_OFF;
	dhcp_release_and_stop(&S.netif);
	netif_set_addr(&S.netif, IP4_ADDR_ANY4, IP4_ADDR_ANY4, IP4_ADDR_ANY4);
	sys_untimeout(dhcp_restart, NULL);
	sys_timeout(DECLINE_WAIT_MS, dhcp_restart, NULL);
}

/* Every incoming frame, before lwIP: an ARP request or reply from another MAC that
 * claims our DHCP address. */
static void
acd_check(const uint8_t *f, size_t len)
{
	if (!S.acd.armed || len < ETH_ARP_LEN || f[12] != 0x08 || f[13] != 0x06)
		return;
	const uint8_t *arp = f + 14, *sha = arp + 8, *spa = arp + 14;
	if (arp[0] != 0 || arp[1] != 1 || arp[2] != 0x08 || arp[3] != 0 || arp[4] != 6 ||
		arp[5] != 4 || arp[6] != 0 || (arp[7] != 1 && arp[7] != 2))
		return;
	if (memcmp(spa, S.acd.ip, 4) != 0 || memcmp(sha, S.mac, 6) == 0)
		return;
	if (sv_now_ms() <= S.acd.until) {
		acd_conflict(sha);
		return;
	}
	if (!S.acd.warned) {
		char ip[SV_IP_STRLEN];
		struct sv_ip a = { .family = 4 };
		memcpy(a.b, S.acd.ip, 4);
		log_warn("dhcp: another host (%02x:%02x:%02x:%02x:%02x:%02x) also uses our "
			 "address %s; keeping it because connections use it, but both hosts "
			 "will lose traffic until the hub's administrator removes the conflict",
			sha[0], sha[1], sha[2], sha[3], sha[4], sha[5],
			sv_ip_format(&a, ip, sizeof ip));
	}
	S.acd.warned = true;
}

/* see stack.h */
unsigned
sv_stack_conflicts(void)
{
	return S.acd.declines;
}

/* --- netif -------------------------------------------------------------------------- */

static void
output_frame(void *arg, const uint8_t *frame, size_t len)
{
	(void)arg;
	if (S.ops && S.ops->output) {
		S.in_output = true;
		S.ops->output(S.arg, frame, len);
		S.in_output = false;
	}
}

/* Hand the held ACKs to ops->output, in order. */
static void
drain_txq(void)
{
	if (S.holding)
		S.quiet = 0; /* a hold ended early (another frame): not a silent one */
	S.holding = false;
	if (sv_ackq_count(&S.txq) > 0)
		sv_ackq_drain(&S.txq, output_frame, NULL);
}

/* Microseconds from now until the held ACKs are due; 0: now (or none held). */
static uint64_t
txq_due_in(uint64_t now)
{
	if (sv_ackq_count(&S.txq) == 0)
		return 0;
	if (now < S.hold_off_until)
		return 0;
	uint64_t age = now - S.txq_since;
	return age >= ACK_HOLD_US ? 0 : ACK_HOLD_US - age;
}

/* A frame we build ourselves (ARP probe, DHCPDECLINE): after the held ACKs. */
static void
output_now(const uint8_t *frame, size_t len)
{
	drain_txq();
	output_frame(NULL, frame, len);
}

/* Pure ACKs are queued (ackmerge.h) until sv_stack_flush() sends them (see ACK_HOLD_US);
 * any other frame goes out at once, after the queued ACKs. */
static err_t
linkoutput(struct netif *n, struct pbuf *p)
{
	uint8_t frame[FRAME_MAX];

	(void)n;
	if (p->tot_len > sizeof frame) {
		log_debug("drop oversized outgoing frame (%u bytes)", (unsigned)p->tot_len);
		return ERR_IF;
	}
	u16_t len = pbuf_copy_partial(p, frame, p->tot_len, 0);
	bool first = sv_ackq_count(&S.txq) == 0;
	if (sv_ackq_offer(&S.txq, frame, len)) {
		if (first)
			S.txq_since = sv_now_us();
		return ERR_OK;
	}
	drain_txq();
	output_frame(NULL, frame, len);
	return ERR_OK;
}

static err_t
netif_init_cb(struct netif *n)
{
	n->name[0] = 's';
	n->name[1] = 'v';
	n->mtu = 1500;
	n->hwaddr_len = ETH_HWADDR_LEN;
	memcpy(n->hwaddr, S.mac, ETH_HWADDR_LEN);
	n->flags = NETIF_FLAG_BROADCAST | NETIF_FLAG_ETHARP | NETIF_FLAG_ETHERNET |
		NETIF_FLAG_MLD6;
	n->output = etharp_output;
	n->output_ip6 = ethip6_output;
	n->linkoutput = linkoutput;
	return ERR_OK;
}

/* see stack.h */
int
sv_stack_init(const uint8_t mac[6], const struct sv_stack_ops *ops, void *arg)
{
	if (S.inited)
		return SV_E_INVAL;
	S.ops = ops;
	S.arg = arg;
	memcpy(S.mac, mac, sizeof S.mac);
	sv_ackq_init(&S.txq);
	seed_keys(); /* before lwip_init: tcp_init draws the first ephemeral port */
	lwip_init();
	if (netif_add(&S.netif, NULL, NULL, NULL, NULL, netif_init_cb, ethernet_input) ==
		NULL)
		return SV_E_INTERNAL;
	netif_set_default(&S.netif);
	netif_add_ext_callback(&ext_cb_slot, ext_status_cb);
	S.inited = true;
	return 0;
}

/* see internal.h */
bool
sv_stack_is_up(void)
{
	return S.inited && S.started;
}

/* see stack.h */
void
sv_stack_start(void)
{
	if (!S.inited || S.started)
		return;
	S.started = true;
	netif_create_ip6_linklocal_address(&S.netif, 1);
	netif_set_ip6_autoconfig_enabled(&S.netif, 1);
	netif_set_up(&S.netif);
	netif_set_link_up(&S.netif);
	err_t e = dhcp_start(&S.netif);
	if (e != ERR_OK)
		log_warn("dhcp: cannot start (lwIP error %d)", (int)e);
	e = dhcp6_enable_stateless(&S.netif);
	if (e != ERR_OK)
		log_debug("dhcp6: cannot start (lwIP error %d)", (int)e);
}

/* see stack.h */
void
sv_stack_stop(void)
{
	if (!S.inited || !S.started)
		return;
	sys_untimeout(dhcp_restart, NULL);
	S.acd.armed = false;
	dhcp_release_and_stop(&S.netif);
	dhcp6_disable(&S.netif);
	/* The netif stays up: when the DHCP server's MAC is not known yet, the release
	 * waits in the ARP queue for the answer (netif_set_down would drop it). */
	S.started = false;
}

/* see stack.h */
void
sv_stack_renew(void)
{
	if (!S.inited || !S.started)
		return;
	netif_set_link_down(&S.netif);
	netif_set_link_up(&S.netif);
}

/* Frames for our MAC, broadcast or multicast; everything else on the hub is not ours. */
static bool
frame_is_for_us(const uint8_t *frame)
{
	return (frame[0] & 1) != 0 || memcmp(frame, S.mac, 6) == 0;
}

/* see stack.h */
void
sv_stack_input(const uint8_t *frame, size_t len)
{
	if (!S.inited || len < FRAME_MIN || len > FRAME_MAX || !frame_is_for_us(frame))
		return;
	/* After sv_stack_stop only ARP, which a DHCP release may be waiting for. */
	if (!S.started && !(netif_is_up(&S.netif) && frame[12] == 0x08 && frame[13] == 0x06))
		return;
	if (S.in_output) {
		if (!S.warned_reentry)
			log_warn("frame input from inside output dropped (must be queued)");
		S.warned_reentry = true;
		return;
	}
	acd_check(frame, len);
	S.frames_in++;
	struct pbuf *p = pbuf_alloc(PBUF_RAW, (u16_t)len, PBUF_POOL);
	if (p == NULL)
		return;
	if (pbuf_take(p, frame, (u16_t)len) != ERR_OK ||
		S.netif.input(p, &S.netif) != ERR_OK)
		pbuf_free(p);
}

/* see stack.h */
void
sv_stack_poll(void)
{
	if (!S.inited)
		return;
	sys_check_timeouts();
	/* DHCP renewals may change only DNS servers, which raise no netif event. */
	if (S.started && S.have_last)
		sv_stack_defer(&S.lease_defer, lease_fire);
}

/* see stack.h */
uint32_t
sv_stack_sleeptime(void)
{
	if (!S.inited)
		return SLEEP_CAP_MS;
	if (S.head != NULL)
		return 0;
	u32_t t = sys_timeouts_sleeptime();
	if (sv_ackq_count(&S.txq) > 0) { /* due in under a millisecond: wake in one */
		uint64_t due = txq_due_in(sv_now_us());
		if (due == 0)
			return 0;
		if (t > (due + 999) / 1000)
			t = (u32_t)((due + 999) / 1000);
	}
	return t > SLEEP_CAP_MS ? SLEEP_CAP_MS : t;
}

/* see stack.h */
void
sv_stack_flush(void)
{
	if (!S.inited)
		return;
	run_deferred();
	sv_tcpconn_flush_output();
	unsigned long frames = S.frames_in - S.frames_at_flush;
	if (frames == 0 && sv_ackq_count(&S.txq) == 0)
		return; /* an idle turn: no clock read */
	uint64_t now = sv_now_us();
	if (frames > 0) {
		S.frames_at_flush = S.frames_in;
		S.input_at = now;
	}
	if (sv_ackq_count(&S.txq) == 0)
		return;
	if (txq_due_in(now) > 0 && (S.holding || frames >= ACK_HOLD_MIN_FRAMES)) {
		S.holding = true;
		return;
	}
	unsigned quiet = S.quiet;
	if (S.holding) {
		/* held until due: did the sender go on meanwhile, or wait for them? */
		quiet = now - S.input_at >= ACK_HOLD_US ? S.quiet + 1 : 0;
		if (quiet >= ACK_HOLD_QUIET_MAX) {
			quiet = 0;
			S.hold_off_until = now + ACK_HOLD_BACKOFF_US;
			log_debug("the sender waits for held ACKs: not holding them for %u ms",
				ACK_HOLD_BACKOFF_US / 1000);
		}
	}
	drain_txq();
	S.quiet = quiet;
}

/* see stack.h */
void
sv_stack_flush_all(void)
{
	sv_stack_flush();
	drain_txq();
}

/* see internal.h */
bool
sv_stack_can_reach(const ip_addr_t *dst)
{
	if (!S.inited || !S.started || !netif_is_up(&S.netif) ||
		!netif_is_link_up(&S.netif))
		return false;
	if (IP_IS_V6(dst))
		return ip6_select_source_address(&S.netif, ip_2_ip6(dst)) != NULL;
	return !ip4_addr_isany_val(*netif_ip4_addr(&S.netif));
}
