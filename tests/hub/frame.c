/*
 * Frame filter, DNS responder and DNS-option rewrite of the test hub (see hub.h).
 *
 * Pure functions over Ethernet frames; no I/O. Everything a client sends passes
 * hub_frame_classify() before libslirp sees it, so this file is the hub's safety
 * boundary: a frame is passed only when its destination is one of the hub's own virtual
 * addresses (which slirp maps to the loopback interface), a DHCP broadcast, or link-local
 * ICMPv6 multicast (neighbour discovery, router solicitation, MLD). Everything else,
 * including every frame to slirp's own nameserver address and TCP to port 53, is dropped.
 * IPv4 fragments to the virtual host pass through hub_frame_filter(), which remembers
 * each datagram's first-fragment verdict for the fragments that follow (see "IPv4
 * fragments" below). IPv6 fragments are dropped: libslirp 4.7 does not reassemble
 * IPv6 (ip6_input frees any packet whose next header is not TCP, UDP or ICMPv6).
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/addr.h"
#include "core/err.h"
#include "hub.h"

#define ETH_HLEN 14
#define ETHERTYPE_IPV4 0x0800
#define ETHERTYPE_ARP 0x0806
#define ETHERTYPE_IPV6 0x86dd
#define PROTO_ICMP 1
#define PROTO_TCP 6
#define PROTO_UDP 17
#define PROTO_HOPOPT 0
#define PROTO_ICMPV6 58
#define PORT_DNS 53
#define PORT_BOOTPS 67
#define PORT_BOOTPC 68

static uint16_t
rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void
wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* see hub.h */
void
hub_net_defaults(struct hub_net *n)
{
	static const uint8_t v4[][4] = {
		{ 10, 77, 0, 0 }, { 255, 255, 255, 0 }, { 10, 77, 0, 1 }, { 10, 77, 0, 3 },
		{ 10, 77, 0, 100 },
	};
	memset(n, 0, sizeof *n);
	memcpy(n->network, v4[0], 4);
	memcpy(n->netmask, v4[1], 4);
	memcpy(n->vhost, v4[2], 4);
	memcpy(n->slirp_dns, v4[3], 4);
	memcpy(n->dhcp_start, v4[4], 4);
	n->prefix6[0] = 0xfd;
	n->prefix6[1] = 0x77;
	n->prefix6_len = 64;
	memcpy(n->vhost6, n->prefix6, 16);
	n->vhost6[15] = 1;
	memcpy(n->slirp_dns6, n->prefix6, 16);
	n->slirp_dns6[15] = 3;
}

/* see hub.h */
int
hub_dns_add(struct hub_dns *d, const char *spec)
{
	const char *eq = strchr(spec, '=');
	if (eq == NULL || eq == spec || (size_t)(eq - spec) > HUB_DNS_NAME_MAX)
		return SV_E_INVAL;
	if (d->n >= HUB_DNS_MAX)
		return SV_E_TOOBIG;
	struct hub_dns_entry *e = &d->e[d->n];
	memset(e, 0, sizeof *e);
	size_t len = (size_t)(eq - spec);
	for (size_t i = 0; i < len; i++) {
		char ch = spec[i];
		if (ch >= 'A' && ch <= 'Z')
			ch = (char)(ch - 'A' + 'a');
		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' ||
			    ch == '.' || ch == '_'))
			return SV_E_INVAL;
		e->name[i] = ch;
	}
	if (len > 0 && e->name[len - 1] == '.')
		e->name[len - 1] = '\0';
	if (inet_pton(AF_INET, eq + 1, e->addr) == 1)
		e->family = 4;
	else if (inet_pton(AF_INET6, eq + 1, e->addr) == 1)
		e->family = 6;
	else
		return SV_E_INVAL;
	d->n++;
	return 0;
}

/* see hub.h */
uint32_t
hub_csum_add(uint32_t sum, const uint8_t *p, size_t n)
{
	while (n > 1) {
		sum += rd16(p);
		p += 2;
		n -= 2;
	}
	if (n)
		sum += (uint32_t)p[0] << 8;
	return sum;
}

/* see hub.h */
uint16_t
hub_csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static bool
is_ipv4_bcast(const struct hub_net *net, const uint8_t dst[4])
{
	static const uint8_t all[4] = { 255, 255, 255, 255 };
	if (memcmp(dst, all, 4) == 0)
		return true;
	for (int i = 0; i < 4; i++)
		if (dst[i] != (uint8_t)(net->network[i] | (uint8_t)~net->netmask[i]))
			return false;
	return true;
}

/* The verdict for an IPv4 datagram, or the first fragment of one, of protocol proto to
 * dst whose transport header starts at l4[0..l4n). */
static enum hub_verdict
ipv4_verdict(const struct hub_net *net, uint8_t proto, const uint8_t *dst,
	const uint8_t *l4, size_t l4n)
{
	uint16_t dport = 0;
	if (proto == PROTO_TCP || proto == PROTO_UDP) {
		if (l4n < (proto == PROTO_TCP ? 20u : 8u))
			return HUB_DROP;
		dport = rd16(l4 + 2);
	}
	bool to_vhost = memcmp(dst, net->vhost, 4) == 0;
	bool to_dns = memcmp(dst, net->slirp_dns, 4) == 0;
	if (to_vhost || to_dns) {
		if (dport == PORT_DNS)
			return proto == PROTO_UDP ? HUB_DNS : HUB_DROP;
		if (to_dns)
			return HUB_DROP;
		return (proto == PROTO_TCP || proto == PROTO_UDP || proto == PROTO_ICMP) ?
			HUB_PASS : HUB_DROP;
	}
	if (is_ipv4_bcast(net, dst) && proto == PROTO_UDP && dport == PORT_BOOTPS)
		return HUB_PASS;
	return HUB_DROP;
}

/* --- IPv4 fragments ----------------------------------------------------------------- */

/*
 * Why fragments can be passed safely. libslirp reassembles IPv4 (ip_input -> ip_reass)
 * before it looks at ports, and keys the reassembly by (src, dst, protocol, id), as we
 * do. The destination address is in every fragment, so the address check holds for each
 * of them: a fragment not addressed to the virtual host is dropped on its own. The port
 * is only in the first fragment (offset 0): it gets the full check, and its verdict is
 * remembered for that key. A later fragment (offset > 0) passes only while the key's
 * remembered verdict is "pass", so the pieces of a datagram whose first fragment was
 * dropped (DNS to the gateway, which the hub answers itself and does not reassemble) are
 * dropped too, and an unknown, expired or evicted key fails closed. A later fragment
 * cannot rewrite the checked ports: it starts at a multiple of 8 bytes, and one that
 * would overlap the transport header (RFC 1858 "tiny fragment" / overlap attacks) is
 * dropped and spoils the key. Any dropped first fragment spoils its key for good (until
 * it expires). The table is bounded (HUB_FRAG_MAX, oldest evicted) and entries live
 * HUB_FRAG_TTL_MS.
 */

static bool
frag_key_equal(const struct hub_frag *e, const uint8_t *ip)
{
	return e->proto == ip[9] && e->id == rd16(ip + 4) && memcmp(e->src, ip + 12, 4) == 0 &&
		memcmp(e->dst, ip + 16, 4) == 0;
}

/* The live entry for ip's key, or NULL. Expired entries are freed on the way. */
static struct hub_frag *
frag_find(struct hub_frag_table *t, const uint8_t *ip, uint64_t now_ms)
{
	for (size_t i = 0; i < t->n;) {
		struct hub_frag *e = &t->e[i];
		if (e->expires_ms <= now_ms) {
			*e = t->e[--t->n]; /* expired: the last entry takes its place */
			continue;
		}
		if (frag_key_equal(e, ip))
			return e;
		i++;
	}
	return NULL;
}

/* Records the verdict of ip's first fragment; a "drop" sticks to the key. */
static void
frag_remember(struct hub_frag_table *t, const uint8_t *ip, bool pass, uint64_t now_ms)
{
	struct hub_frag *e = frag_find(t, ip, now_ms);
	if (e != NULL) {
		e->pass = e->pass && pass;
		return;
	}
	if (t->n == HUB_FRAG_MAX) {
		/* Full: the entry closest to expiry (the oldest) goes; its later fragments
		 * will be dropped, which is the safe side. */
		size_t old = 0;
		for (size_t i = 1; i < t->n; i++)
			if (t->e[i].expires_ms < t->e[old].expires_ms)
				old = i;
		t->e[old] = t->e[--t->n];
		t->evicted++;
	}
	e = &t->e[t->n++];
	memcpy(e->src, ip + 12, 4);
	memcpy(e->dst, ip + 16, 4);
	e->id = rd16(ip + 4);
	e->proto = ip[9];
	e->pass = pass;
	e->expires_ms = now_ms + HUB_FRAG_TTL_MS;
}

/* One fragment p[0..tot) of header length ihl; off is its offset in bytes. */
static enum hub_verdict
classify_fragment(const struct hub_net *net, struct hub_frag_table *t, uint64_t now_ms,
	const uint8_t *p, size_t ihl, size_t tot, size_t off, bool more)
{
	const uint8_t proto = p[9];
	if (off == 0) {
		/* Only unicast to the virtual host: the hub's DNS and DHCP take no fragments. */
		enum hub_verdict v = memcmp(p + 16, net->vhost, 4) == 0 ?
			ipv4_verdict(net, proto, p + 16, p + ihl, tot - ihl) : HUB_DROP;
		if (v != HUB_PASS)
			v = HUB_DROP;
		frag_remember(t, p, v == HUB_PASS, now_ms);
		struct hub_frag *e = frag_find(t, p, now_ms);
		return e != NULL && e->pass ? HUB_PASS : HUB_DROP;
	}
	struct hub_frag *e = frag_find(t, p, now_ms);
	if (e == NULL || !e->pass)
		return HUB_DROP;
	if (off < (proto == PROTO_TCP ? 20u : 8u)) {
		e->pass = false; /* would overlap the checked transport header */
		return HUB_DROP;
	}
	if (!more)
		*e = t->e[--t->n]; /* the last fragment: the key is done */
	return HUB_PASS;
}

/* IPv4 packet (after the Ethernet header); t NULL: every fragment is dropped. */
static enum hub_verdict
classify_ipv4(const struct hub_net *net, struct hub_frag_table *t, uint64_t now_ms,
	const uint8_t *p, size_t n)
{
	if (n < 20 || (p[0] >> 4) != 4)
		return HUB_DROP;
	size_t ihl = (size_t)(p[0] & 15) * 4, tot = rd16(p + 2);
	if (ihl < 20 || tot < ihl || tot > n)
		return HUB_DROP;
	uint16_t frag = rd16(p + 6);
	size_t off = (size_t)(frag & 0x1fff) * 8;
	bool more = (frag & 0x2000) != 0;
	if (off != 0 || more)
		return t != NULL ? classify_fragment(net, t, now_ms, p, ihl, tot, off, more) :
				   HUB_DROP;
	return ipv4_verdict(net, p[9], p + 16, p + ihl, tot - ihl);
}

static bool
is_slirp_linklocal(const uint8_t a[16])
{
	/* slirp's router speaks from fe80::2 */
	static const uint8_t ll[16] = { 0xfe, 0x80, [15] = 2 };
	return memcmp(a, ll, 16) == 0;
}

/* IPv6 packet (after the Ethernet header). */
static enum hub_verdict
classify_ipv6(const struct hub_net *net, const uint8_t *p, size_t n)
{
	if (n < 40 || (p[0] >> 4) != 6)
		return HUB_DROP;
	size_t plen = rd16(p + 4);
	if (plen > n - 40)
		return HUB_DROP;
	const uint8_t nh = p[6], *dst = p + 24, *l4 = p + 40;
	if (dst[0] == 0xff) {
		/* Link-scope multicast, ICMPv6 only (ND, RS, MLD behind a hop-by-hop header):
		 * slirp would send any other multicast out of the host's interfaces. */
		if ((dst[1] & 0x0f) != 2)
			return HUB_DROP;
		if (nh == PROTO_ICMPV6)
			return HUB_PASS;
		if (nh == PROTO_HOPOPT && plen >= 8 && l4[0] == PROTO_ICMPV6)
			return HUB_PASS;
		return HUB_DROP;
	}
	bool to_vhost = memcmp(dst, net->vhost6, 16) == 0;
	bool to_dns = memcmp(dst, net->slirp_dns6, 16) == 0;
	if (to_vhost || to_dns) {
		uint16_t dport = 0;
		if (nh == PROTO_TCP || nh == PROTO_UDP) {
			if (plen < (nh == PROTO_TCP ? 20u : 8u))
				return HUB_DROP;
			dport = rd16(l4 + 2);
		}
		if (dport == PORT_DNS)
			return nh == PROTO_UDP ? HUB_DNS : HUB_DROP;
		if (to_dns)
			return nh == PROTO_ICMPV6 ? HUB_PASS : HUB_DROP;
		return (nh == PROTO_TCP || nh == PROTO_UDP || nh == PROTO_ICMPV6) ? HUB_PASS :
										     HUB_DROP;
	}
	if (is_slirp_linklocal(dst) && nh == PROTO_ICMPV6)
		return HUB_PASS;
	return HUB_DROP;
}

/* see hub.h */
enum hub_verdict
hub_frame_classify(const struct hub_net *net, const uint8_t *f, size_t n)
{
	return hub_frame_filter(net, NULL, 0, f, n);
}

/* see hub.h */
enum hub_verdict
hub_frame_filter(const struct hub_net *net, struct hub_frag_table *t, uint64_t now_ms,
	const uint8_t *f, size_t n)
{
	if (n < ETH_HLEN)
		return HUB_DROP;
	switch (rd16(f + 12)) {
	case ETHERTYPE_ARP:
		return HUB_PASS; /* slirp answers for its own addresses, ignores the rest */
	case ETHERTYPE_IPV4:
		return classify_ipv4(net, t, now_ms, f + ETH_HLEN, n - ETH_HLEN);
	case ETHERTYPE_IPV6:
		return classify_ipv6(net, f + ETH_HLEN, n - ETH_HLEN);
	default:
		return HUB_DROP;
	}
}

/* --- DNS ------------------------------------------------------------------------- */

#define DNS_HLEN 12
#define DNS_TYPE_A 1
#define DNS_TYPE_AAAA 28
#define DNS_CLASS_IN 1
#define DNS_TTL 60
#define DNS_MAX_ANSWERS 8

/* Reads the question name of a DNS message q[0..n) starting at *off into name
 * (lower case, dotted, no trailing dot). No compression in questions. */
static int
dns_read_qname(const uint8_t *q, size_t n, size_t *off, char name[HUB_DNS_NAME_MAX + 2])
{
	size_t o = *off, out = 0;
	for (;;) {
		if (o >= n)
			return SV_E_PROTO;
		size_t l = q[o++];
		if (l == 0)
			break;
		if (l > 63 || o + l > n || out + l + 1 > HUB_DNS_NAME_MAX + 1)
			return SV_E_PROTO;
		if (out)
			name[out++] = '.';
		for (size_t i = 0; i < l; i++) {
			char ch = (char)q[o + i];
			name[out++] = (ch >= 'A' && ch <= 'Z') ? (char)(ch - 'A' + 'a') : ch;
		}
		o += l;
	}
	name[out] = '\0';
	*off = o;
	return 0;
}

/* Builds the DNS answer message for query q[0..n) into out; returns its length or 0. */
static size_t
dns_answer(const struct hub_dns *dns, const uint8_t *q, size_t n, uint8_t *out, size_t cap)
{
	char name[HUB_DNS_NAME_MAX + 2];
	size_t off = DNS_HLEN;
	if (n < DNS_HLEN || (q[2] & 0x80) || ((q[2] >> 3) & 15) != 0 || rd16(q + 4) != 1)
		return 0;
	if (dns_read_qname(q, n, &off, name) != 0 || off + 4 > n)
		return 0;
	uint16_t qtype = rd16(q + off), qclass = rd16(q + off + 2);
	size_t qend = off + 4;
	if (qend > cap)
		return 0;
	memcpy(out, q, qend);
	bool known = false;
	unsigned an = 0;
	size_t o = qend;
	for (size_t i = 0; i < dns->n; i++) {
		const struct hub_dns_entry *e = &dns->e[i];
		if (strcmp(e->name, name) != 0)
			continue;
		known = true;
		uint16_t t = e->family == 4 ? DNS_TYPE_A : DNS_TYPE_AAAA;
		size_t alen = e->family == 4 ? 4 : 16;
		if (qclass != DNS_CLASS_IN || qtype != t || an >= DNS_MAX_ANSWERS)
			continue;
		if (o + 12 + alen > cap)
			return 0;
		wr16(out + o, 0xc000 | DNS_HLEN); /* pointer to the question name */
		wr16(out + o + 2, t);
		wr16(out + o + 4, DNS_CLASS_IN);
		wr16(out + o + 6, 0);
		wr16(out + o + 8, DNS_TTL);
		wr16(out + o + 10, (uint16_t)alen);
		memcpy(out + o + 12, e->addr, alen);
		o += 12 + alen;
		an++;
	}
	out[2] = (uint8_t)(0x80 | 0x04 | (q[2] & 0x01)); /* QR, AA, RD copied */
	out[3] = (uint8_t)(0x80 | (known ? 0 : 3));      /* RA, NOERROR or NXDOMAIN */
	wr16(out + 6, (uint16_t)an);
	wr16(out + 8, 0);
	wr16(out + 10, 0);
	return o;
}

/* UDP checksum over the IPv4 or IPv6 pseudo header. */
static uint16_t
udp_csum(bool v6, const uint8_t *src, const uint8_t *dst, const uint8_t *udp, size_t len)
{
	uint32_t s = 0;
	s = hub_csum_add(s, src, v6 ? 16 : 4);
	s = hub_csum_add(s, dst, v6 ? 16 : 4);
	s += PROTO_UDP;
	s += (uint32_t)len;
	s = hub_csum_add(s, udp, len);
	uint16_t c = hub_csum_fold(s);
	return c == 0 ? 0xffff : c;
}

/* see hub.h */
size_t
hub_dns_reply(const struct hub_dns *dns, const uint8_t *q, size_t qn, uint8_t *out, size_t cap)
{
	if (qn < ETH_HLEN)
		return 0;
	uint16_t et = rd16(q + 12);
	bool v6 = et == ETHERTYPE_IPV6;
	const uint8_t *ip = q + ETH_HLEN, *udp;
	size_t ipn = qn - ETH_HLEN, iphl, udpn;
	if (v6) {
		if (ipn < 48 || ip[6] != PROTO_UDP)
			return 0;
		iphl = 40;
		udpn = rd16(ip + 4);
	} else {
		if (et != ETHERTYPE_IPV4 || ipn < 28 || ip[9] != PROTO_UDP)
			return 0;
		iphl = (size_t)(ip[0] & 15) * 4;
		if (iphl < 20 || rd16(ip + 2) < iphl)
			return 0;
		udpn = rd16(ip + 2) - iphl;
	}
	if (iphl + udpn > ipn || udpn < 8 || rd16(ip + iphl + 4) != udpn)
		return 0;
	udp = ip + iphl;
	size_t ohl = v6 ? 40 : 20, hdr = ETH_HLEN + ohl + 8;
	if (cap < hdr)
		return 0;
	size_t dlen = dns_answer(dns, udp + 8, udpn - 8, out + hdr, cap - hdr);
	if (dlen == 0 || dlen + 8 > 0xffff - ohl)
		return 0;
	/* Ethernet: back to the sender, from the address it wrote to. */
	memcpy(out, q + 6, 6);
	memcpy(out + 6, q, 6);
	wr16(out + 12, et);
	uint8_t *oip = out + ETH_HLEN, *oudp = oip + ohl;
	size_t ulen = dlen + 8;
	if (v6) {
		memset(oip, 0, 40);
		oip[0] = 0x60;
		wr16(oip + 4, (uint16_t)ulen);
		oip[6] = PROTO_UDP;
		oip[7] = 64;
		memcpy(oip + 8, ip + 24, 16);
		memcpy(oip + 24, ip + 8, 16);
	} else {
		memset(oip, 0, 20);
		oip[0] = 0x45;
		wr16(oip + 2, (uint16_t)(20 + ulen));
		wr16(oip + 6, 0x4000); /* DF */
		oip[8] = 64;
		oip[9] = PROTO_UDP;
		memcpy(oip + 12, ip + 16, 4);
		memcpy(oip + 16, ip + 12, 4);
		wr16(oip + 10, hub_csum_fold(hub_csum_add(0, oip, 20)));
	}
	wr16(oudp, PORT_DNS);
	memcpy(oudp + 2, udp, 2); /* the query's source port */
	wr16(oudp + 4, (uint16_t)ulen);
	wr16(oudp + 6, 0);
	wr16(oudp + 6, udp_csum(v6, v6 ? oip + 8 : oip + 12, v6 ? oip + 24 : oip + 16, oudp,
			       ulen));
	return hdr + dlen;
}

/* --- rewriting slirp's DNS server address ------------------------------------------- */

/* DHCP reply (server port 67 -> client 68): option 6 values slirp_dns -> vhost. */
static void
rewrite_dhcp(const struct hub_net *net, uint8_t *ip, size_t n)
{
	size_t ihl = (size_t)(ip[0] & 15) * 4;
	if (ihl < 20 || n < ihl + 8 || rd16(ip + 2) > n || rd16(ip + 2) < ihl + 8)
		return;
	n = rd16(ip + 2);
	uint8_t *udp = ip + ihl;
	size_t ulen = rd16(udp + 4);
	if (ip[9] != PROTO_UDP || rd16(udp) != PORT_BOOTPS || rd16(udp + 2) != PORT_BOOTPC ||
		ulen < 8 || ihl + ulen > n)
		return;
	uint8_t *b = udp + 8;
	size_t bn = ulen - 8, o = 240; /* fixed BOOTP part + magic cookie */
	bool changed = false;
	if (bn < o)
		return;
	while (o < bn && b[o] != 255) {
		if (b[o] == 0) {
			o++;
			continue;
		}
		if (o + 2 > bn || o + 2 + b[o + 1] > bn)
			return;
		if (b[o] == 6)
			for (size_t i = 0; i + 4 <= b[o + 1]; i += 4)
				if (memcmp(b + o + 2 + i, net->slirp_dns, 4) == 0) {
					memcpy(b + o + 2 + i, net->vhost, 4);
					changed = true;
				}
		o += 2u + b[o + 1];
	}
	if (changed) {
		wr16(udp + 6, 0);
		wr16(udp + 6, udp_csum(false, ip + 12, ip + 16, udp, ulen));
	}
}

/* Router advertisement: RDNSS option (25) addresses slirp_dns6 -> vhost6. */
static void
rewrite_ra(const struct hub_net *net, uint8_t *ip, size_t n)
{
	size_t plen = rd16(ip + 4);
	if (ip[6] != PROTO_ICMPV6 || plen > n - 40 || plen < 16)
		return;
	uint8_t *icmp = ip + 40;
	if (icmp[0] != 134)
		return;
	bool changed = false;
	size_t o = 16;
	while (o + 8 <= plen) {
		size_t olen = (size_t)icmp[o + 1] * 8;
		if (olen == 0 || o + olen > plen)
			return;
		if (icmp[o] == 25)
			for (size_t a = o + 8; a + 16 <= o + olen; a += 16)
				if (memcmp(icmp + a, net->slirp_dns6, 16) == 0) {
					memcpy(icmp + a, net->vhost6, 16);
					changed = true;
				}
		o += olen;
	}
	if (changed) {
		uint32_t s = hub_csum_add(0, ip + 8, 32);
		s += (uint32_t)plen + PROTO_ICMPV6;
		wr16(icmp + 2, 0);
		s = hub_csum_add(s, icmp, plen);
		wr16(icmp + 2, hub_csum_fold(s));
	}
}

/* see hub.h */
void
hub_frame_rewrite_dns(const struct hub_net *net, uint8_t *f, size_t n)
{
	if (n < ETH_HLEN + 40)
		return;
	uint16_t et = rd16(f + 12);
	if (et == ETHERTYPE_IPV4 && (f[ETH_HLEN] >> 4) == 4)
		rewrite_dhcp(net, f + ETH_HLEN, n - ETH_HLEN);
	else if (et == ETHERTYPE_IPV6 && (f[ETH_HLEN] >> 4) == 6)
		rewrite_ra(net, f + ETH_HLEN, n - ETH_HLEN);
}

/* --- test-only DHCP routes (option 121) --------------------------------------------- */

/* see hub.h */
int
hub_dhcp_route_add(struct hub_net *net, const char *spec)
{
	char dst[INET_ADDRSTRLEN], gw[INET_ADDRSTRLEN];
	unsigned len;
	int used = 0;
	struct sv_ip d, g;

	if (sscanf(spec, "%15[0-9.]/%2u,%15[0-9.]%n", dst, &len, gw, &used) != 3 ||
		spec[used] != '\0' || len > 32 || sv_ip_parse(dst, &d) != 0 ||
		sv_ip_parse(gw, &g) != 0 || d.family != 4 || g.family != 4)
		return SV_E_INVAL;
	size_t sig = (len + 7) / 8, add = 1 + sig + 4;
	if (net->dhcp_routes_len + add > sizeof net->dhcp_routes)
		return SV_E_TOOBIG;
	uint8_t *o = net->dhcp_routes + net->dhcp_routes_len;
	o[0] = (uint8_t)len;
	memcpy(o + 1, d.b, sig);
	memcpy(o + 1 + sig, g.b, 4);
	net->dhcp_routes_len += add;
	return 0;
}

/* Offset (in the BOOTP payload b[0..bn)) of the END option of a DHCP OFFER or ACK, or 0
 * when b is not one or has no END. */
static size_t
dhcp_reply_end(const uint8_t *b, size_t bn)
{
	size_t o = 240; /* fixed BOOTP part + magic cookie */
	int type = 0;

	if (bn <= o || b[0] != 2 || rd16(b + 236) != 0x6382 || rd16(b + 238) != 0x5363)
		return 0;
	while (o < bn && b[o] != 255) {
		if (b[o] == 0) {
			o++;
			continue;
		}
		if (o + 2 > bn || o + 2 + b[o + 1] > bn)
			return 0;
		if (b[o] == 53 && b[o + 1] == 1)
			type = b[o + 2];
		o += 2u + b[o + 1];
	}
	return o < bn && (type == 2 || type == 5) ? o : 0;
}

/* see hub.h */
size_t
hub_frame_add_dhcp_routes(const struct hub_net *net, uint8_t *f, size_t n, size_t cap)
{
	if (net->dhcp_routes_len == 0 || n < ETH_HLEN + 20 + 8 || n > cap ||
		rd16(f + 12) != ETHERTYPE_IPV4 || (f[ETH_HLEN] >> 4) != 4)
		return n;
	uint8_t *ip = f + ETH_HLEN;
	size_t ihl = (size_t)(ip[0] & 15) * 4, tot = rd16(ip + 2);
	if (ihl < 20 || tot < ihl + 8 || ETH_HLEN + tot > n || ip[9] != PROTO_UDP ||
		(rd16(ip + 6) & 0x3fff) != 0)
		return n;
	uint8_t *udp = ip + ihl;
	size_t ulen = rd16(udp + 4);
	if (rd16(udp) != PORT_BOOTPS || rd16(udp + 2) != PORT_BOOTPC || ulen < 8 ||
		ihl + ulen > tot)
		return n;
	uint8_t *b = udp + 8;
	size_t end = dhcp_reply_end(b, ulen - 8);
	if (end == 0)
		return n;
	size_t need = end + 2 + net->dhcp_routes_len + 1;
	size_t bn = need > ulen - 8 ? need : ulen - 8;
	if (ETH_HLEN + ihl + 8 + bn > cap)
		return n;
	b[end] = 121;
	b[end + 1] = (uint8_t)net->dhcp_routes_len;
	memcpy(b + end + 2, net->dhcp_routes, net->dhcp_routes_len);
	b[need - 1] = 255;
	ulen = 8 + bn;
	tot = ihl + ulen;
	wr16(ip + 2, (uint16_t)tot);
	wr16(ip + 10, 0);
	wr16(ip + 10, hub_csum_fold(hub_csum_add(0, ip, ihl)));
	wr16(udp + 4, (uint16_t)ulen);
	wr16(udp + 6, 0);
	wr16(udp + 6, udp_csum(false, ip + 12, ip + 16, udp, ulen));
	return ETH_HLEN + tot > n ? ETH_HLEN + tot : n;
}

/* --- --arp-claim: another host on the LAN ------------------------------------------- */

/* see hub.h */
size_t
hub_arp_claim_reply(const uint8_t claim[4], const uint8_t mac[6], const uint8_t *f,
	size_t n, uint8_t out[42])
{
	if (n < 42 || rd16(f + 12) != ETHERTYPE_ARP)
		return 0;
	const uint8_t *a = f + ETH_HLEN;
	if (rd16(a) != 1 || rd16(a + 2) != ETHERTYPE_IPV4 || a[4] != 6 || a[5] != 4 ||
		rd16(a + 6) != 1 || memcmp(a + 24, claim, 4) != 0 || memcmp(a + 8, mac, 6) == 0)
		return 0;
	memset(out, 0, 42);
	memcpy(out, a + 8, 6); /* to the asker */
	memcpy(out + 6, mac, 6);
	wr16(out + 12, ETHERTYPE_ARP);
	uint8_t *r = out + ETH_HLEN;
	wr16(r, 1);
	wr16(r + 2, ETHERTYPE_IPV4);
	r[4] = 6;
	r[5] = 4;
	wr16(r + 6, 2); /* reply */
	memcpy(r + 8, mac, 6);
	memcpy(r + 14, claim, 4);
	memcpy(r + 18, a + 8, 10); /* the asker's MAC and address (0.0.0.0 for a probe) */
	return 42;
}

/* The DHCP message of a client frame: sets *ip, *udp, *opt (first option, after the
 * magic cookie) and *end (end of the UDP payload); false for any other frame. */
static bool
dhcp_locate(const uint8_t *f, size_t n, size_t *ip, size_t *udp, size_t *opt, size_t *end)
{
	if (n < ETH_HLEN + 20 || rd16(f + 12) != ETHERTYPE_IPV4 || (f[ETH_HLEN] >> 4) != 4)
		return false;
	const uint8_t *p = f + ETH_HLEN;
	size_t ihl = (size_t)(p[0] & 15) * 4, tot = rd16(p + 2);
	if (ihl < 20 || tot < ihl + 8 || ETH_HLEN + tot > n || p[9] != PROTO_UDP ||
		(rd16(p + 6) & 0x3fff) != 0)
		return false;
	const uint8_t *u = p + ihl;
	size_t ulen = rd16(u + 4);
	if (rd16(u) != PORT_BOOTPC || rd16(u + 2) != PORT_BOOTPS || ulen < 8 + 240 ||
		ihl + ulen > tot || u[8] != 1 /* BOOTREQUEST */)
		return false;
	static const uint8_t cookie[4] = { 99, 130, 83, 99 };
	if (memcmp(u + 8 + 236, cookie, 4) != 0)
		return false;
	*ip = ETH_HLEN;
	*udp = ETH_HLEN + ihl;
	*opt = *udp + 8 + 240;
	*end = *udp + ulen;
	return true;
}

/* Finds option code in f[o..end): its offset, or 0 (also at END or on a bad length). */
static size_t
dhcp_find_option(const uint8_t *f, size_t o, size_t end, uint8_t code, size_t *end_at)
{
	while (o < end && f[o] != 255) {
		if (f[o] == 0) {
			o++;
			continue;
		}
		if (o + 2 > end || o + 2 + f[o + 1] > end)
			return 0;
		if (f[o] == code)
			return o;
		o += 2u + f[o + 1];
	}
	if (end_at != NULL)
		*end_at = o < end ? o : 0;
	return 0;
}

/* see hub.h */
int
hub_dhcp_peek(const uint8_t *f, size_t n, uint8_t chaddr[6], uint8_t req[4])
{
	size_t ip, udp, opt, end;
	if (!dhcp_locate(f, n, &ip, &udp, &opt, &end))
		return 0;
	size_t t = dhcp_find_option(f, opt, end, 53, NULL);
	if (t == 0 || f[t + 1] != 1)
		return 0;
	size_t r = dhcp_find_option(f, opt, end, 50, NULL);
	memset(req, 0, 4);
	if (r != 0 && f[r + 1] == 4)
		memcpy(req, f + r + 2, 4);
	memcpy(chaddr, f + udp + 8 + 28, 6);
	return f[t + 2];
}

/* see hub.h */
size_t
hub_dhcp_set_requested(uint8_t *f, size_t n, size_t cap, const uint8_t ip[4])
{
	size_t iph, udp, opt, end, end_at = 0;
	if (!dhcp_locate(f, n, &iph, &udp, &opt, &end))
		return 0;
	size_t r = dhcp_find_option(f, opt, end, 50, &end_at);
	if (r != 0 && f[r + 1] == 4) {
		memcpy(f + r + 2, ip, 4);
	} else {
		if (r != 0 || end_at == 0)
			return 0;
		size_t need = end_at + 7; /* 50 4 a b c d, then END */
		if (need > end) {
			if (need > cap)
				return 0;
			memset(f + end, 0, need - end);
			end = need;
		}
		f[end_at] = 50;
		f[end_at + 1] = 4;
		memcpy(f + end_at + 2, ip, 4);
		f[end_at + 6] = 255;
	}
	uint8_t *p = f + iph, *u = f + udp;
	size_t ulen = end - udp, tot = end - iph;
	wr16(p + 2, (uint16_t)tot);
	wr16(p + 10, 0);
	wr16(p + 10, hub_csum_fold(hub_csum_add(0, p, (size_t)(p[0] & 15) * 4)));
	wr16(u + 4, (uint16_t)ulen);
	wr16(u + 6, 0);
	wr16(u + 6, udp_csum(false, p + 12, p + 16, u, ulen));
	return end > n ? end : n;
}
