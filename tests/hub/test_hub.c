/*
 * Unit tests of the test hub's pure parts: the safety filter in front of libslirp, the
 * DNS responder, the DHCP/RA DNS-option rewrite, the HTTP request parser, the login
 * check / welcome PACK, and the fault pipe (delay, jitter, loss, token bucket).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/auth.h"
#include "core/err.h"
#include "core/pack.h"
#include "hub.h"

static struct hub_net NET;

static const uint8_t V4_VHOST[4] = { 10, 77, 0, 1 };
static const uint8_t V4_SLIRPDNS[4] = { 10, 77, 0, 3 };
static const uint8_t V4_CLIENT[4] = { 10, 77, 0, 100 };
static const uint8_t V4_OUTSIDE[4] = { 192, 0, 2, 1 };
static const uint8_t V4_BCAST[4] = { 255, 255, 255, 255 };

static int
setup(void **state)
{
	(void)state;
	hub_net_defaults(&NET);
	return 0;
}

static void
eth(uint8_t *f, uint16_t type)
{
	static const uint8_t dst[6] = { 0x52, 0x55, 10, 77, 0, 1 };
	static const uint8_t src[6] = { 0x02, 0x5e, 1, 2, 3, 4 };
	memcpy(f, dst, 6);
	memcpy(f + 6, src, 6);
	f[12] = (uint8_t)(type >> 8);
	f[13] = (uint8_t)type;
}

/* Ethernet + IPv4 + (UDP|TCP|ICMP) header + payload; returns the frame length. */
static size_t
ip4_frame(uint8_t *f, uint8_t proto, const uint8_t dst[4], uint16_t dport, const void *pay,
	size_t pn)
{
	memset(f, 0, 64);
	eth(f, 0x0800);
	uint8_t *ip = f + 14;
	size_t l4 = proto == 6 ? 20 : 8;
	size_t tot = 20 + l4 + pn;
	ip[0] = 0x45;
	ip[2] = (uint8_t)(tot >> 8);
	ip[3] = (uint8_t)tot;
	ip[8] = 64;
	ip[9] = proto;
	memcpy(ip + 12, V4_CLIENT, 4);
	memcpy(ip + 16, dst, 4);
	uint8_t *t = ip + 20;
	t[0] = 0xc0;
	t[1] = 0x01;
	t[2] = (uint8_t)(dport >> 8);
	t[3] = (uint8_t)dport;
	if (proto == 17) {
		t[4] = (uint8_t)((8 + pn) >> 8);
		t[5] = (uint8_t)(8 + pn);
	}
	if (proto == 6)
		t[12] = 0x50;
	if (pn)
		memcpy(t + l4, pay, pn);
	uint16_t c = hub_csum_fold(hub_csum_add(0, ip, 20));
	ip[10] = (uint8_t)(c >> 8);
	ip[11] = (uint8_t)c;
	return 14 + tot;
}

static size_t
ip6_frame(uint8_t *f, uint8_t nh, const uint8_t dst[16], uint16_t dport, const void *pay,
	size_t pn)
{
	memset(f, 0, 80);
	eth(f, 0x86dd);
	uint8_t *ip = f + 14;
	size_t l4 = nh == 6 ? 20 : 8;
	size_t plen = l4 + pn;
	ip[0] = 0x60;
	ip[4] = (uint8_t)(plen >> 8);
	ip[5] = (uint8_t)plen;
	ip[6] = nh;
	ip[7] = 64;
	ip[8] = 0xfd;
	ip[9] = 0x77;
	ip[23] = 0x42;
	memcpy(ip + 24, dst, 16);
	uint8_t *t = ip + 40;
	t[0] = 0xc0;
	t[1] = 0x01;
	t[2] = (uint8_t)(dport >> 8);
	t[3] = (uint8_t)dport;
	if (nh == 17) {
		t[4] = (uint8_t)(plen >> 8);
		t[5] = (uint8_t)plen;
	}
	if (pn)
		memcpy(t + l4, pay, pn);
	return 14 + 40 + plen;
}

/* --- filter ------------------------------------------------------------------------ */

static void
filter_passes_tcp_udp_icmp_to_the_virtual_host(void **state)
{
	(void)state;
	uint8_t f[256];
	size_t n = ip4_frame(f, 6, V4_VHOST, 8080, NULL, 0);
	assert_int_equal(hub_frame_classify(&NET, f, n), HUB_PASS);
	n = ip4_frame(f, 17, V4_VHOST, 9999, "x", 1);
	assert_int_equal(hub_frame_classify(&NET, f, n), HUB_PASS);
	n = ip4_frame(f, 1, V4_VHOST, 0, NULL, 0);
	assert_int_equal(hub_frame_classify(&NET, f, n), HUB_PASS);
}

static void
filter_drops_every_other_ipv4_destination(void **state)
{
	(void)state;
	uint8_t f[256];
	const uint8_t other_lan[4] = { 10, 77, 0, 7 }, mcast[4] = { 224, 0, 0, 251 };
	size_t n = ip4_frame(f, 6, V4_OUTSIDE, 80, NULL, 0);
	assert_int_equal(hub_frame_classify(&NET, f, n), HUB_DROP);
	n = ip4_frame(f, 17, V4_OUTSIDE, 53, "x", 1);
	assert_int_equal(hub_frame_classify(&NET, f, n), HUB_DROP);
	n = ip4_frame(f, 1, V4_OUTSIDE, 0, NULL, 0);
	assert_int_equal(hub_frame_classify(&NET, f, n), HUB_DROP);
	n = ip4_frame(f, 6, other_lan, 80, NULL, 0);
	assert_int_equal(hub_frame_classify(&NET, f, n), HUB_DROP);
	n = ip4_frame(f, 17, mcast, 5353, "x", 1);
	assert_int_equal(hub_frame_classify(&NET, f, n), HUB_DROP);
}

static void
filter_never_lets_slirps_nameserver_address_through(void **state)
{
	(void)state;
	uint8_t f[256];
	/* slirp would forward these to the host's resolver: only UDP 53 is answered by us */
	size_t n = ip4_frame(f, 6, V4_SLIRPDNS, 80, NULL, 0);
	assert_int_equal(hub_frame_classify(&NET, f, n), HUB_DROP);
	n = ip4_frame(f, 6, V4_SLIRPDNS, 53, NULL, 0);
	assert_int_equal(hub_frame_classify(&NET, f, n), HUB_DROP);
	n = ip4_frame(f, 17, V4_SLIRPDNS, 53, "x", 1);
	assert_int_equal(hub_frame_classify(&NET, f, n), HUB_DNS);
	n = ip4_frame(f, 1, V4_SLIRPDNS, 0, NULL, 0);
	assert_int_equal(hub_frame_classify(&NET, f, n), HUB_DROP);
}

static void
filter_turns_dns_to_the_gateway_into_local_answers(void **state)
{
	(void)state;
	uint8_t f[256];
	size_t n = ip4_frame(f, 17, V4_VHOST, 53, "x", 1);
	assert_int_equal(hub_frame_classify(&NET, f, n), HUB_DNS);
	n = ip4_frame(f, 6, V4_VHOST, 53, NULL, 0);
	assert_int_equal(hub_frame_classify(&NET, f, n), HUB_DROP);
}

static void
filter_passes_dhcp_broadcasts_only(void **state)
{
	(void)state;
	uint8_t f[256];
	const uint8_t subnet_bcast[4] = { 10, 77, 0, 255 };
	size_t n = ip4_frame(f, 17, V4_BCAST, 67, "x", 1);
	assert_int_equal(hub_frame_classify(&NET, f, n), HUB_PASS);
	n = ip4_frame(f, 17, V4_BCAST, 137, "x", 1);
	assert_int_equal(hub_frame_classify(&NET, f, n), HUB_DROP);
	n = ip4_frame(f, 17, subnet_bcast, 7, "x", 1);
	assert_int_equal(hub_frame_classify(&NET, f, n), HUB_DROP);
}

static void
filter_drops_fragments_truncated_and_unknown_frames(void **state)
{
	(void)state;
	uint8_t f[256];
	size_t n = ip4_frame(f, 17, V4_VHOST, 9, "x", 1);
	f[14 + 6] = 0x20; /* more fragments */
	assert_int_equal(hub_frame_classify(&NET, f, n), HUB_DROP);
	n = ip4_frame(f, 6, V4_VHOST, 80, NULL, 0);
	for (size_t cut = 0; cut < n; cut++)
		assert_int_not_equal(hub_frame_classify(&NET, f, cut), HUB_PASS);
	eth(f, 0x88cc); /* LLDP */
	assert_int_equal(hub_frame_classify(&NET, f, 60), HUB_DROP);
	eth(f, 0x0806);
	assert_int_equal(hub_frame_classify(&NET, f, 42), HUB_PASS);
	n = ip4_frame(f, 47, V4_VHOST, 0, NULL, 0); /* GRE to the gateway */
	assert_int_equal(hub_frame_classify(&NET, f, n), HUB_DROP);
}

/* An IPv4 fragment: ip4_frame() with IP id, offset (bytes, a multiple of 8) and MF set. */
static size_t
ip4_frag(uint8_t *f, uint8_t proto, const uint8_t dst[4], uint16_t dport, uint16_t id,
	size_t off, bool more)
{
	static const uint8_t pay[64];
	size_t n = ip4_frame(f, proto, dst, dport, pay, sizeof pay);
	uint8_t *ip = f + 14;
	uint16_t fo = (uint16_t)((more ? 0x2000 : 0) | (off / 8));
	ip[4] = (uint8_t)(id >> 8);
	ip[5] = (uint8_t)id;
	ip[6] = (uint8_t)(fo >> 8);
	ip[7] = (uint8_t)fo;
	return n;
}

static void
filter_passes_the_fragments_of_a_datagram_to_the_virtual_host(void **state)
{
	(void)state;
	struct hub_frag_table t = { 0 };
	uint8_t f[256];
	size_t n = ip4_frag(f, 17, V4_VHOST, 9000, 7, 0, true);
	assert_int_equal(hub_frame_filter(&NET, &t, 1000, f, n), HUB_PASS);
	assert_int_equal(hub_frame_classify(&NET, f, n), HUB_DROP); /* stateless: never */
	n = ip4_frag(f, 17, V4_VHOST, 0, 7, 1480, true);
	assert_int_equal(hub_frame_filter(&NET, &t, 1001, f, n), HUB_PASS);
	n = ip4_frag(f, 17, V4_VHOST, 0, 7, 2960, false);
	assert_int_equal(hub_frame_filter(&NET, &t, 1002, f, n), HUB_PASS);
	assert_int_equal(t.n, 0); /* the last fragment ends the key */
	n = ip4_frag(f, 17, V4_VHOST, 0, 7, 1480, true);
	assert_int_equal(hub_frame_filter(&NET, &t, 1003, f, n), HUB_DROP);
	/* TCP and ICMP (a large ping) too; an unfragmented datagram leaves no entry */
	n = ip4_frag(f, 6, V4_VHOST, 8080, 8, 0, true);
	assert_int_equal(hub_frame_filter(&NET, &t, 1004, f, n), HUB_PASS);
	n = ip4_frag(f, 6, V4_VHOST, 0, 8, 1480, false);
	assert_int_equal(hub_frame_filter(&NET, &t, 1005, f, n), HUB_PASS);
	n = ip4_frag(f, 1, V4_VHOST, 0, 9, 0, true);
	assert_int_equal(hub_frame_filter(&NET, &t, 1006, f, n), HUB_PASS);
	n = ip4_frag(f, 1, V4_VHOST, 0, 9, 1480, false);
	assert_int_equal(hub_frame_filter(&NET, &t, 1007, f, n), HUB_PASS);
	n = ip4_frame(f, 17, V4_VHOST, 9000, "x", 1);
	assert_int_equal(hub_frame_filter(&NET, &t, 1008, f, n), HUB_PASS);
	assert_int_equal(t.n, 0);
}

static void
filter_drops_the_followers_of_a_dropped_first_fragment(void **state)
{
	(void)state;
	struct hub_frag_table t = { 0 };
	uint8_t f[256];
	/* forbidden addresses: first fragment and followers dropped */
	const uint8_t *bad[] = { V4_OUTSIDE, V4_SLIRPDNS, V4_BCAST, V4_CLIENT };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		size_t n = ip4_frag(f, 17, bad[i], 9000, 20, 0, true);
		assert_int_equal(hub_frame_filter(&NET, &t, 1000, f, n), HUB_DROP);
		n = ip4_frag(f, 17, bad[i], 0, 20, 1480, true);
		assert_int_equal(hub_frame_filter(&NET, &t, 1001, f, n), HUB_DROP);
		n = ip4_frag(f, 17, bad[i], 0, 20, 2960, false);
		assert_int_equal(hub_frame_filter(&NET, &t, 1002, f, n), HUB_DROP);
	}
	/* DHCP in pieces is not passed either (only unicast to the virtual host) */
	size_t n = ip4_frag(f, 17, V4_BCAST, 67, 21, 0, true);
	assert_int_equal(hub_frame_filter(&NET, &t, 1000, f, n), HUB_DROP);
	/* DNS to the gateway in pieces: the hub answers DNS itself and does not reassemble */
	n = ip4_frag(f, 17, V4_VHOST, 53, 22, 0, true);
	assert_int_equal(hub_frame_filter(&NET, &t, 1000, f, n), HUB_DROP);
	n = ip4_frag(f, 17, V4_VHOST, 0, 22, 1480, false);
	assert_int_equal(hub_frame_filter(&NET, &t, 1001, f, n), HUB_DROP);
	/* a protocol the hub does not pass (GRE) */
	n = ip4_frag(f, 47, V4_VHOST, 0, 23, 0, true);
	assert_int_equal(hub_frame_filter(&NET, &t, 1000, f, n), HUB_DROP);
	n = ip4_frag(f, 47, V4_VHOST, 0, 23, 1480, false);
	assert_int_equal(hub_frame_filter(&NET, &t, 1001, f, n), HUB_DROP);
	/* a first fragment too short to hold the ports */
	n = ip4_frag(f, 6, V4_VHOST, 80, 24, 0, true);
	f[14 + 2] = 0;
	f[14 + 3] = 20 + 16; /* 16 bytes of TCP header */
	assert_int_equal(hub_frame_filter(&NET, &t, 1000, f, n), HUB_DROP);
	n = ip4_frag(f, 6, V4_VHOST, 0, 24, 16, false);
	assert_int_equal(hub_frame_filter(&NET, &t, 1001, f, n), HUB_DROP);
}

static void
filter_a_dropped_first_fragment_spoils_an_allowed_key(void **state)
{
	(void)state;
	struct hub_frag_table t = { 0 };
	uint8_t f[256];
	size_t n = ip4_frag(f, 17, V4_VHOST, 9000, 30, 0, true);
	assert_int_equal(hub_frame_filter(&NET, &t, 1000, f, n), HUB_PASS);
	/* a second offset-0 fragment of the same datagram, now to port 53 */
	n = ip4_frag(f, 17, V4_VHOST, 53, 30, 0, true);
	assert_int_equal(hub_frame_filter(&NET, &t, 1001, f, n), HUB_DROP);
	n = ip4_frag(f, 17, V4_VHOST, 9000, 30, 0, true);
	assert_int_equal(hub_frame_filter(&NET, &t, 1002, f, n), HUB_DROP); /* sticks */
	n = ip4_frag(f, 17, V4_VHOST, 0, 30, 1480, false);
	assert_int_equal(hub_frame_filter(&NET, &t, 1003, f, n), HUB_DROP);
}

static void
filter_drops_fragments_overlapping_the_transport_header(void **state)
{
	(void)state;
	struct hub_frag_table t = { 0 };
	uint8_t f[256];
	size_t n = ip4_frag(f, 6, V4_VHOST, 8080, 40, 0, true);
	assert_int_equal(hub_frame_filter(&NET, &t, 1000, f, n), HUB_PASS);
	/* offset 8: inside the 20-byte TCP header (RFC 1858) */
	n = ip4_frag(f, 6, V4_VHOST, 0, 40, 8, true);
	assert_int_equal(hub_frame_filter(&NET, &t, 1001, f, n), HUB_DROP);
	n = ip4_frag(f, 6, V4_VHOST, 0, 40, 1480, false);
	assert_int_equal(hub_frame_filter(&NET, &t, 1002, f, n), HUB_DROP); /* spoiled */
	/* UDP: offset 8 is past its header and passes */
	n = ip4_frag(f, 17, V4_VHOST, 9000, 41, 0, true);
	assert_int_equal(hub_frame_filter(&NET, &t, 1003, f, n), HUB_PASS);
	n = ip4_frag(f, 17, V4_VHOST, 0, 41, 8, false);
	assert_int_equal(hub_frame_filter(&NET, &t, 1004, f, n), HUB_PASS);
}

static void
filter_drops_fragments_without_a_live_first_fragment(void **state)
{
	(void)state;
	struct hub_frag_table t = { 0 };
	uint8_t f[256];
	/* a follower first: unknown key */
	size_t n = ip4_frag(f, 17, V4_VHOST, 0, 50, 1480, true);
	assert_int_equal(hub_frame_filter(&NET, &t, 1000, f, n), HUB_DROP);
	/* a different id, source or protocol is another datagram */
	n = ip4_frag(f, 17, V4_VHOST, 9000, 51, 0, true);
	assert_int_equal(hub_frame_filter(&NET, &t, 1000, f, n), HUB_PASS);
	n = ip4_frag(f, 17, V4_VHOST, 0, 52, 1480, true);
	assert_int_equal(hub_frame_filter(&NET, &t, 1001, f, n), HUB_DROP);
	n = ip4_frag(f, 6, V4_VHOST, 0, 51, 1480, true);
	assert_int_equal(hub_frame_filter(&NET, &t, 1001, f, n), HUB_DROP);
	n = ip4_frag(f, 17, V4_VHOST, 0, 51, 1480, true);
	f[14 + 15] = 101; /* from 10.77.0.101 */
	assert_int_equal(hub_frame_filter(&NET, &t, 1001, f, n), HUB_DROP);
	/* expired: the followers of id 51 come too late */
	n = ip4_frag(f, 17, V4_VHOST, 0, 51, 1480, true);
	assert_int_equal(hub_frame_filter(&NET, &t, 1000 + HUB_FRAG_TTL_MS - 1, f, n), HUB_PASS);
	assert_int_equal(hub_frame_filter(&NET, &t, 1000 + HUB_FRAG_TTL_MS, f, n), HUB_DROP);
	assert_int_equal(t.n, 0);
	/* no table: every fragment is dropped */
	n = ip4_frag(f, 17, V4_VHOST, 9000, 53, 0, true);
	assert_int_equal(hub_frame_filter(&NET, NULL, 1000, f, n), HUB_DROP);
}

static void
filter_fragment_table_is_bounded_and_forgets_the_oldest(void **state)
{
	(void)state;
	struct hub_frag_table t = { 0 };
	uint8_t f[256];
	size_t n;
	const unsigned total = 3 * HUB_FRAG_MAX;
	for (unsigned id = 0; id < total; id++) {
		n = ip4_frag(f, 17, V4_VHOST, 9000, (uint16_t)id, 0, true);
		assert_int_equal(hub_frame_filter(&NET, &t, 1000 + id, f, n), HUB_PASS);
		assert_true(t.n <= HUB_FRAG_MAX);
	}
	assert_int_equal(t.n, HUB_FRAG_MAX);
	assert_int_equal(t.evicted, total - HUB_FRAG_MAX);
	/* the oldest were forgotten: their followers are dropped; the newest pass */
	n = ip4_frag(f, 17, V4_VHOST, 0, 0, 1480, false);
	assert_int_equal(hub_frame_filter(&NET, &t, 2000, f, n), HUB_DROP);
	n = ip4_frag(f, 17, V4_VHOST, 0, (uint16_t)(total - 1), 1480, false);
	assert_int_equal(hub_frame_filter(&NET, &t, 2000, f, n), HUB_PASS);
	assert_int_equal(t.n, HUB_FRAG_MAX - 1);
	/* dropped first fragments are remembered in the same bounded table */
	for (unsigned id = 0; id < total; id++) {
		n = ip4_frag(f, 17, V4_VHOST, 53, (uint16_t)(1000 + id), 0, true);
		assert_int_equal(hub_frame_filter(&NET, &t, 3000, f, n), HUB_DROP);
		assert_true(t.n <= HUB_FRAG_MAX);
	}
}

static void
filter_ipv6_allows_gateway_and_link_local_icmpv6_only(void **state)
{
	(void)state;
	uint8_t f[256];
	uint8_t outside[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };
	uint8_t allrouters[16] = { 0xff, 0x02, [15] = 2 };
	uint8_t mdns[16] = { 0xff, 0x02, [15] = 0xfb };
	uint8_t global_mc[16] = { 0xff, 0x0e, [15] = 1 };
	size_t n = ip6_frame(f, 6, NET.vhost6, 80, NULL, 0);
	assert_int_equal(hub_frame_classify(&NET, f, n), HUB_PASS);
	n = ip6_frame(f, 6, outside, 80, NULL, 0);
	assert_int_equal(hub_frame_classify(&NET, f, n), HUB_DROP);
	n = ip6_frame(f, 17, NET.vhost6, 53, "x", 1);
	assert_int_equal(hub_frame_classify(&NET, f, n), HUB_DNS);
	n = ip6_frame(f, 17, NET.slirp_dns6, 53, "x", 1);
	assert_int_equal(hub_frame_classify(&NET, f, n), HUB_DNS);
	n = ip6_frame(f, 6, NET.slirp_dns6, 80, NULL, 0);
	assert_int_equal(hub_frame_classify(&NET, f, n), HUB_DROP);
	n = ip6_frame(f, 58, allrouters, 0, NULL, 0);
	assert_int_equal(hub_frame_classify(&NET, f, n), HUB_PASS);
	n = ip6_frame(f, 17, mdns, 5353, "x", 1);
	assert_int_equal(hub_frame_classify(&NET, f, n), HUB_DROP);
	n = ip6_frame(f, 58, global_mc, 0, NULL, 0);
	assert_int_equal(hub_frame_classify(&NET, f, n), HUB_DROP);
}

/* --- DNS ----------------------------------------------------------------------------- */

static size_t
dns_query(uint8_t *q, const char *name, uint16_t type)
{
	memset(q, 0, 12);
	q[0] = 0x12;
	q[1] = 0x34;
	q[2] = 0x01; /* RD */
	q[5] = 1;
	size_t o = 12;
	while (*name) {
		const char *dot = strchr(name, '.');
		size_t l = dot ? (size_t)(dot - name) : strlen(name);
		q[o++] = (uint8_t)l;
		memcpy(q + o, name, l);
		o += l;
		name += l + (dot ? 1 : 0);
	}
	q[o++] = 0;
	q[o++] = (uint8_t)(type >> 8);
	q[o++] = (uint8_t)type;
	q[o++] = 0;
	q[o++] = 1;
	return o;
}

static bool
csum_ok_udp4(const uint8_t *f, size_t n)
{
	const uint8_t *ip = f + 14, *udp = ip + 20;
	size_t ulen = (size_t)(udp[4] << 8 | udp[5]);
	assert_true(14 + 20 + ulen <= n);
	uint32_t s = hub_csum_add(0, ip + 12, 8);
	s += 17 + (uint32_t)ulen;
	s = hub_csum_add(s, udp, ulen);
	return hub_csum_fold(s) == 0 && hub_csum_fold(hub_csum_add(0, ip, 20)) == 0;
}

static void
dns_answers_a_record_from_the_table(void **state)
{
	(void)state;
	struct hub_dns d = { .n = 0 };
	assert_int_equal(hub_dns_add(&d, "Intranet.Test=10.77.0.1"), 0);
	uint8_t q[128], f[256], out[600];
	size_t qn = dns_query(q, "INTRANET.test", 1);
	size_t n = ip4_frame(f, 17, V4_VHOST, 53, q, qn);
	size_t rn = hub_dns_reply(&d, f, n, out, sizeof out);
	assert_true(rn > 14 + 28 + qn);
	assert_memory_equal(out, f + 6, 6); /* back to the sender */
	assert_memory_equal(out + 14 + 12, V4_VHOST, 4);
	assert_memory_equal(out + 14 + 16, V4_CLIENT, 4);
	assert_true(csum_ok_udp4(out, rn));
	const uint8_t *dns = out + 14 + 28;
	assert_int_equal(dns[0], 0x12);
	assert_int_equal(dns[2] & 0x80, 0x80);
	assert_int_equal(dns[3] & 15, 0); /* NOERROR */
	assert_int_equal(dns[7], 1);      /* one answer */
	assert_memory_equal(out + rn - 4, V4_VHOST, 4);
}

static void
dns_unknown_name_gets_nxdomain_and_missing_type_nodata(void **state)
{
	(void)state;
	struct hub_dns d = { .n = 0 };
	assert_int_equal(hub_dns_add(&d, "intranet.test=10.77.0.1"), 0);
	uint8_t q[128], f[256], out[600];
	size_t qn = dns_query(q, "example.com", 1);
	size_t n = ip4_frame(f, 17, V4_VHOST, 53, q, qn);
	size_t rn = hub_dns_reply(&d, f, n, out, sizeof out);
	assert_true(rn > 0);
	assert_int_equal(out[14 + 28 + 3] & 15, 3);
	assert_int_equal(out[14 + 28 + 7], 0);
	qn = dns_query(q, "intranet.test", 28);
	n = ip4_frame(f, 17, V4_VHOST, 53, q, qn);
	rn = hub_dns_reply(&d, f, n, out, sizeof out);
	assert_true(rn > 0);
	assert_int_equal(out[14 + 28 + 3] & 15, 0);
	assert_int_equal(out[14 + 28 + 7], 0);
}

static void
dns_answers_over_ipv6_with_aaaa(void **state)
{
	(void)state;
	struct hub_dns d = { .n = 0 };
	assert_int_equal(hub_dns_add(&d, "v6.test=fd77::1"), 0);
	uint8_t q[128], f[256], out[600];
	size_t qn = dns_query(q, "v6.test", 28);
	size_t n = ip6_frame(f, 17, NET.vhost6, 53, q, qn);
	size_t rn = hub_dns_reply(&d, f, n, out, sizeof out);
	assert_true(rn > 0);
	assert_memory_equal(out + 14 + 8, NET.vhost6, 16);
	assert_memory_equal(out + rn - 16, NET.vhost6, 16);
	/* UDP checksum over the IPv6 pseudo header */
	const uint8_t *ip = out + 14;
	size_t plen = (size_t)(ip[4] << 8 | ip[5]);
	uint32_t s = hub_csum_add(0, ip + 8, 32);
	s += 17 + (uint32_t)plen;
	s = hub_csum_add(s, ip + 40, plen);
	assert_int_equal(hub_csum_fold(s), 0);
}

static void
dns_ignores_malformed_queries(void **state)
{
	(void)state;
	struct hub_dns d = { .n = 0 };
	assert_int_equal(hub_dns_add(&d, "a.test=10.77.0.1"), 0);
	uint8_t q[128], f[256], out[600];
	size_t qn = dns_query(q, "a.test", 1);
	for (size_t cut = 0; cut < qn; cut++) {
		size_t n = ip4_frame(f, 17, V4_VHOST, 53, q, cut);
		assert_int_equal(hub_dns_reply(&d, f, n, out, sizeof out), 0);
	}
	q[12] = 0xc0; /* compression pointer in a question */
	size_t n = ip4_frame(f, 17, V4_VHOST, 53, q, qn);
	assert_int_equal(hub_dns_reply(&d, f, n, out, sizeof out), 0);
	qn = dns_query(q, "a.test", 1);
	q[2] |= 0x80; /* a response, not a query */
	n = ip4_frame(f, 17, V4_VHOST, 53, q, qn);
	assert_int_equal(hub_dns_reply(&d, f, n, out, sizeof out), 0);
}

static void
dns_table_rejects_bad_entries(void **state)
{
	(void)state;
	struct hub_dns d = { .n = 0 };
	assert_int_equal(hub_dns_add(&d, "noequals"), SV_E_INVAL);
	assert_int_equal(hub_dns_add(&d, "=10.0.0.1"), SV_E_INVAL);
	assert_int_equal(hub_dns_add(&d, "a b=10.0.0.1"), SV_E_INVAL);
	assert_int_equal(hub_dns_add(&d, "a.test=not-an-ip"), SV_E_INVAL);
	assert_int_equal(d.n, 0);
}

/* --- DHCP rewrite ---------------------------------------------------------------------- */

static void
rewrite_puts_the_gateway_into_dhcp_dns_option(void **state)
{
	(void)state;
	uint8_t bootp[300];
	memset(bootp, 0, sizeof bootp);
	bootp[0] = 2;
	const uint8_t cookie[4] = { 99, 130, 83, 99 };
	memcpy(bootp + 236, cookie, 4);
	size_t o = 240;
	bootp[o++] = 53, bootp[o++] = 1, bootp[o++] = 2;
	bootp[o++] = 6, bootp[o++] = 4;
	memcpy(bootp + o, V4_SLIRPDNS, 4);
	o += 4;
	bootp[o++] = 255;
	uint8_t f[600];
	size_t n = ip4_frame(f, 17, V4_BCAST, 68, bootp, o);
	f[14 + 20] = 0, f[14 + 21] = 67; /* from the server port */
	hub_frame_rewrite_dns(&NET, f, n);
	assert_memory_equal(f + 14 + 28 + 245, V4_VHOST, 4);
	assert_true(csum_ok_udp4(f, n));
}

/* A DHCP reply (type 5 ACK, 2 OFFER, 6 NAK) from port 67 with pad bytes after END;
 * returns the frame length. */
static size_t
dhcp_reply(uint8_t *f, uint8_t type, size_t pad)
{
	uint8_t bootp[600];
	memset(bootp, 0, sizeof bootp);
	bootp[0] = 2;
	const uint8_t cookie[4] = { 99, 130, 83, 99 };
	memcpy(bootp + 236, cookie, 4);
	size_t o = 240;
	bootp[o++] = 53, bootp[o++] = 1, bootp[o++] = type;
	bootp[o++] = 1, bootp[o++] = 4;
	memcpy(bootp + o, (uint8_t[]){ 255, 255, 255, 0 }, 4);
	o += 4;
	bootp[o++] = 255;
	size_t n = ip4_frame(f, 17, V4_BCAST, 68, bootp, o + pad);
	f[14 + 20] = 0, f[14 + 21] = 67; /* from the server port */
	return n;
}

/* Offset of option code in the frame's DHCP options, or 0. */
static size_t
find_option(const uint8_t *f, size_t n, uint8_t code)
{
	size_t o = 14 + 28 + 240;
	while (o + 1 < n && f[o] != 255) {
		if (f[o] == 0) {
			o++;
			continue;
		}
		if (f[o] == code)
			return o;
		o += 2u + f[o + 1];
	}
	return 0;
}

static void
dhcp_routes_are_appended_to_offer_and_ack_only(void **state)
{
	(void)state;
	uint8_t f[1600];
	struct hub_net net = NET;

	assert_int_equal(hub_dhcp_route_add(&net, "10.99.0.0/16,10.77.0.1"), 0);
	assert_int_equal(hub_dhcp_route_add(&net, "0.0.0.0/0,10.77.0.1"), 0);
	assert_int_equal(hub_dhcp_route_add(&net, "10.99.0.0/33,10.77.0.1"), SV_E_INVAL);
	assert_int_equal(hub_dhcp_route_add(&net, "10.99.0.0/16"), SV_E_INVAL);
	assert_int_equal(hub_dhcp_route_add(&net, "10.99.0.0/16,10.77.0.1x"), SV_E_INVAL);
	assert_int_equal(hub_dhcp_route_add(&net, "fd00::/8,10.77.0.1"), SV_E_INVAL);
	static const uint8_t want[] = { 121, 12, 16, 10, 99, 10, 77, 0, 1, 0, 10, 77, 0, 1, 255 };

	/* in place: room in the padding after END */
	size_t n = dhcp_reply(f, 5, 64);
	assert_int_equal(hub_frame_add_dhcp_routes(&net, f, n, sizeof f), n);
	size_t o = find_option(f, n, 121);
	assert_true(o > 0);
	assert_memory_equal(f + o, want, sizeof want);
	assert_true(csum_ok_udp4(f, n));

	/* grown: no padding; the lengths follow */
	n = dhcp_reply(f, 2, 0);
	size_t m = hub_frame_add_dhcp_routes(&net, f, n, sizeof f);
	assert_int_equal(m, n + 14);
	assert_int_equal(f[14 + 2] << 8 | f[14 + 3], m - 14);
	assert_int_equal(f[14 + 24] << 8 | f[14 + 25], m - 14 - 20);
	assert_memory_equal(f + find_option(f, m, 121), want, sizeof want);
	assert_true(csum_ok_udp4(f, m));

	/* no room to grow, a NAK, a request from the client, no routes: untouched */
	n = dhcp_reply(f, 5, 0);
	assert_int_equal(hub_frame_add_dhcp_routes(&net, f, n, n + 5), n);
	assert_int_equal(find_option(f, n, 121), 0);
	n = dhcp_reply(f, 6, 64);
	assert_int_equal(hub_frame_add_dhcp_routes(&net, f, n, sizeof f), n);
	assert_int_equal(find_option(f, n, 121), 0);
	n = dhcp_reply(f, 5, 64);
	f[14 + 21] = 68, f[14 + 23] = 67;
	assert_int_equal(hub_frame_add_dhcp_routes(&net, f, n, sizeof f), n);
	assert_int_equal(find_option(f, n, 121), 0);
	n = dhcp_reply(f, 5, 64);
	assert_int_equal(hub_frame_add_dhcp_routes(&NET, f, n, sizeof f), n);
	assert_int_equal(find_option(f, n, 121), 0);

	/* the option's 255 bytes are a ceiling */
	for (int i = 0; i < 40; i++)
		(void)hub_dhcp_route_add(&net, "10.1.2.3/32,10.77.0.1");
	assert_int_equal(hub_dhcp_route_add(&net, "10.1.2.3/32,10.77.0.1"), SV_E_TOOBIG);
	assert_true(net.dhcp_routes_len <= 255);
}

/* --- --arp-claim ---------------------------------------------------------------------- */

static const uint8_t CLAIM_MAC[6] = HUB_CLAIM_MAC;

/* An ARP request from 02:5e:01:02:03:04 (sender address spa) for tpa. */
static size_t
arp_request(uint8_t *f, const uint8_t spa[4], const uint8_t tpa[4])
{
	memset(f, 0, 42);
	eth(f, 0x0806);
	memset(f, 0xff, 6);
	uint8_t *a = f + 14;
	a[1] = 1, a[2] = 8, a[4] = 6, a[5] = 4, a[7] = 1;
	memcpy(a + 8, f + 6, 6);
	memcpy(a + 14, spa, 4);
	memcpy(a + 24, tpa, 4);
	return 42;
}

static void
arp_claim_answers_requests_for_the_claimed_address_only(void **state)
{
	(void)state;
	static const uint8_t zero[4] = { 0 };
	uint8_t f[42], out[42];
	arp_request(f, zero, V4_CLIENT); /* an RFC 5227 probe */
	assert_int_equal(hub_arp_claim_reply(V4_CLIENT, CLAIM_MAC, f, 42, out), 42);
	assert_memory_equal(out, f + 6, 6);       /* back to the asker */
	assert_memory_equal(out + 6, CLAIM_MAC, 6);
	assert_int_equal(out[14 + 7], 2);         /* reply */
	assert_memory_equal(out + 14 + 8, CLAIM_MAC, 6);
	assert_memory_equal(out + 14 + 14, V4_CLIENT, 4);
	assert_memory_equal(out + 14 + 18, f + 6, 6);
	assert_memory_equal(out + 14 + 24, zero, 4);
	arp_request(f, V4_CLIENT, V4_VHOST);
	assert_int_equal(hub_arp_claim_reply(V4_CLIENT, CLAIM_MAC, f, 42, out), 0);
	arp_request(f, zero, V4_CLIENT);
	assert_int_equal(hub_arp_claim_reply(V4_CLIENT, CLAIM_MAC, f, 41, out), 0);
	memcpy(f + 14 + 8, CLAIM_MAC, 6); /* the claiming host's own request */
	assert_int_equal(hub_arp_claim_reply(V4_CLIENT, CLAIM_MAC, f, 42, out), 0);
}

/* A client's DHCP message of type t; options end with END at 240 + 3 + extra. */
static size_t
dhcp_client_frame(uint8_t *f, uint8_t t, const uint8_t *extra, size_t en, size_t pad)
{
	static const uint8_t zero[4] = { 0 };
	uint8_t bootp[400];
	memset(bootp, 0, sizeof bootp);
	bootp[0] = 1;
	memcpy(bootp + 28, (const uint8_t[]){ 0x02, 0x5e, 1, 2, 3, 4 }, 6);
	const uint8_t cookie[4] = { 99, 130, 83, 99 };
	memcpy(bootp + 236, cookie, 4);
	size_t o = 240;
	bootp[o++] = 53, bootp[o++] = 1, bootp[o++] = t;
	memcpy(bootp + o, extra, en);
	o += en;
	bootp[o++] = 255;
	size_t n = ip4_frame(f, 17, V4_BCAST, 67, bootp, o + pad);
	memcpy(f + 14 + 12, zero, 4);
	f[14 + 20] = 0, f[14 + 21] = 68; /* from the client port */
	f[14 + 10] = f[14 + 11] = 0;
	uint16_t c = hub_csum_fold(hub_csum_add(0, f + 14, 20));
	f[14 + 10] = (uint8_t)(c >> 8), f[14 + 11] = (uint8_t)c;
	return n;
}

static void
dhcp_set_requested_adds_or_replaces_option_50(void **state)
{
	(void)state;
	uint8_t f[700], ch[6], req[4];
	const uint8_t next[4] = { 10, 77, 0, 101 };
	static const uint8_t prl[] = { 55, 3, 1, 3, 6 };

	/* no room after END: the frame grows by the option */
	size_t n = dhcp_client_frame(f, 1, prl, sizeof prl, 0);
	assert_int_equal(hub_dhcp_peek(f, n, ch, req), 1);
	assert_memory_equal(req, ((uint8_t[]){ 0, 0, 0, 0 }), 4);
	assert_memory_equal(ch, ((uint8_t[]){ 0x02, 0x5e, 1, 2, 3, 4 }), 6);
	size_t m = hub_dhcp_set_requested(f, n, sizeof f, next);
	assert_int_equal(m, n + 6);
	assert_int_equal(hub_dhcp_peek(f, m, ch, req), 1);
	assert_memory_equal(req, next, 4);
	assert_true(csum_ok_udp4(f, m));
	assert_int_equal(hub_dhcp_set_requested(f, n, n, next), 0); /* no room to grow */

	/* padding after END: written in place; an existing option 50 is replaced */
	n = dhcp_client_frame(f, 1, prl, sizeof prl, 16);
	assert_int_equal(hub_dhcp_set_requested(f, n, sizeof f, next), n);
	assert_true(csum_ok_udp4(f, n));
	static const uint8_t opt50[] = { 50, 4, 10, 77, 0, 100 };
	n = dhcp_client_frame(f, 4, opt50, sizeof opt50, 0);
	assert_int_equal(hub_dhcp_peek(f, n, ch, req), 4);
	assert_memory_equal(req, V4_CLIENT, 4);
	assert_int_equal(hub_dhcp_set_requested(f, n, sizeof f, next), n);
	assert_int_equal(hub_dhcp_peek(f, n, ch, req), 4);
	assert_memory_equal(req, next, 4);
	assert_true(csum_ok_udp4(f, n));

	/* not a client's DHCP message */
	n = ip4_frame(f, 17, V4_VHOST, 53, "x", 1);
	assert_int_equal(hub_dhcp_peek(f, n, ch, req), 0);
	assert_int_equal(hub_dhcp_set_requested(f, n, sizeof f, next), 0);
}

/* --- HTTP ---------------------------------------------------------------------------- */

static void
http_parses_a_signature_post(void **state)
{
	(void)state;
	const char *s = "POST /vpnsvc/connect.cgi HTTP/1.1\r\nHost: 127.0.0.1\r\n"
			"content-type: image/jpeg\r\nContent-Length: 10\r\n\r\nVPNCONNECT";
	struct hub_http_req r;
	assert_int_equal(hub_http_parse_request((const uint8_t *)s, strlen(s), &r), 0);
	assert_string_equal(r.method, "POST");
	assert_string_equal(r.target, "/vpnsvc/connect.cgi");
	assert_string_equal(r.version, "HTTP/1.1");
	assert_string_equal(r.content_type, "image/jpeg");
	assert_true(r.has_length);
	assert_int_equal(r.content_length, 10);
	assert_int_equal(r.header_len, strlen(s) - 10);
	for (size_t cut = 0; cut < r.header_len; cut++)
		assert_int_equal(hub_http_parse_request((const uint8_t *)s, cut, &r),
			SV_E_INCOMPLETE);
}

static void
http_rejects_bad_requests(void **state)
{
	(void)state;
	struct hub_http_req r;
	const char *bad[] = {
		"POST /x HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
		"POST /x HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
		"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
		"POST /x HTTP/1.1\r\nNoColon\r\n\r\n",
		"POST  /x HTTP/1.1\r\n\r\n",
		"POST /x\r\n\r\n",
		"POST /x HTTP/1.1 extra\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		assert_int_equal(hub_http_parse_request((const uint8_t *)bad[i], strlen(bad[i]), &r),
			SV_E_PROTO);
	static uint8_t big[HUB_HTTP_HEADER_MAX + 10];
	memset(big, 'a', sizeof big);
	assert_int_equal(hub_http_parse_request(big, sizeof big, &r), SV_E_TOOBIG);
}

/* --- login ------------------------------------------------------------------------------ */

static const uint8_t RND[20] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17,
	18, 19, 20 };

static void
login_pack(struct sv_pack *p, const char *hub, const char *user, uint32_t authtype)
{
	sv_pack_init(p);
	assert_int_equal(sv_pack_add_str(p, "method", "login"), 0);
	if (hub)
		assert_int_equal(sv_pack_add_str(p, "hubname", hub), 0);
	assert_int_equal(sv_pack_add_str(p, "username", user), 0);
	assert_int_equal(sv_pack_add_int(p, "authtype", authtype), 0);
	assert_int_equal(sv_pack_add_int(p, "use_encrypt", 1), 0);
}

static void
add_proof(struct sv_pack *p, const char *user, const char *pw)
{
	uint8_t stored[20], proof[20];
	sv_auth_password_hash(stored, user, pw, strlen(pw));
	sv_auth_secure_password(proof, stored, RND);
	assert_int_equal(sv_pack_add_data(p, "secure_password", proof, 20), 0);
}

static void
config(struct hub_config *c)
{
	hub_config_init(c);
	assert_int_equal(hub_config_add_user(c, "alice:Secr3tPass"), 0);
	assert_int_equal(hub_config_add_anonymous(c, "guest"), 0);
}

static void
login_accepts_the_hashed_password_case_insensitive_user(void **state)
{
	(void)state;
	struct hub_config c;
	struct sv_pack p;
	struct hub_login_result res;
	config(&c);
	login_pack(&p, "default", "ALICE", 1);
	add_proof(&p, "ALICE", "Secr3tPass");
	hub_login_check(&c, &p, RND, &res);
	assert_int_equal(res.error, 0);
	assert_string_equal(res.user, "alice");
	sv_pack_cleanup(&p);
	hub_config_cleanup(&c);
}

static void
login_refuses_wrong_password_unknown_user_and_hub(void **state)
{
	(void)state;
	struct hub_config c;
	struct sv_pack p;
	struct hub_login_result res;
	config(&c);
	login_pack(&p, "DEFAULT", "alice", 1);
	add_proof(&p, "alice", "wrong");
	hub_login_check(&c, &p, RND, &res);
	assert_int_equal(res.error, 9);
	sv_pack_cleanup(&p);

	login_pack(&p, "DEFAULT", "mallory", 1);
	add_proof(&p, "mallory", "x");
	hub_login_check(&c, &p, RND, &res);
	assert_int_equal(res.error, 9);
	sv_pack_cleanup(&p);

	login_pack(&p, "OTHER", "alice", 1);
	add_proof(&p, "alice", "Secr3tPass");
	hub_login_check(&c, &p, RND, &res);
	assert_int_equal(res.error, 8);
	sv_pack_cleanup(&p);

	login_pack(&p, "DEFAULT", "alice", 0); /* anonymous for a password user */
	hub_login_check(&c, &p, RND, &res);
	assert_int_equal(res.error, 9);
	sv_pack_cleanup(&p);
	hub_config_cleanup(&c);
}

static void
login_plain_password_and_anonymous_work(void **state)
{
	(void)state;
	struct hub_config c;
	struct sv_pack p;
	struct hub_login_result res;
	config(&c);
	login_pack(&p, "DEFAULT", "alice", 2);
	assert_int_equal(sv_pack_add_str(&p, "plain_password", " Secr3tPass "), 0);
	hub_login_check(&c, &p, RND, &res);
	assert_int_equal(res.error, 0);
	sv_pack_cleanup(&p);

	login_pack(&p, "DEFAULT", "guest", 0);
	hub_login_check(&c, &p, RND, &res);
	assert_int_equal(res.error, 0);
	assert_string_equal(res.user, "guest");
	sv_pack_cleanup(&p);

	login_pack(&p, "DEFAULT", "alice", 5);
	hub_login_check(&c, &p, RND, &res);
	assert_int_equal(res.error, 7);
	sv_pack_cleanup(&p);
	hub_config_cleanup(&c);
}

static void
login_protocol_errors_match_the_real_server(void **state)
{
	(void)state;
	struct hub_config c;
	struct sv_pack p;
	struct hub_login_result res;
	config(&c);
	/* hubname as UNISTR is "missing" (type-strict getters) -> 4 */
	sv_pack_init(&p);
	assert_int_equal(sv_pack_add_str(&p, "method", "login"), 0);
	assert_int_equal(sv_pack_add_unistr(&p, "hubname", "DEFAULT"), 0);
	assert_int_equal(sv_pack_add_str(&p, "username", "guest"), 0);
	hub_login_check(&c, &p, RND, &res);
	assert_int_equal(res.error, 4);
	sv_pack_cleanup(&p);

	sv_pack_init(&p);
	assert_int_equal(sv_pack_add_str(&p, "hubname", "DEFAULT"), 0);
	hub_login_check(&c, &p, RND, &res);
	assert_int_equal(res.error, 4);
	sv_pack_cleanup(&p);

	/* additional_connect: the session key must be DATA of exactly 20 bytes */
	sv_pack_init(&p);
	assert_int_equal(sv_pack_add_str(&p, "method", "additional_connect"), 0);
	hub_login_check(&c, &p, RND, &res);
	assert_int_equal(res.error, 4);
	assert_true(res.additional);
	assert_int_equal(sv_pack_add_data(&p, "session_key", "0123456789012345678", 19), 0);
	hub_login_check(&c, &p, RND, &res);
	assert_int_equal(res.error, 4);
	sv_pack_cleanup(&p);

	login_pack(&p, "DEFAULT", "alice", 1); /* secure_password of the wrong size */
	assert_int_equal(sv_pack_add_data(&p, "secure_password", "abc", 3), 0);
	hub_login_check(&c, &p, RND, &res);
	assert_int_equal(res.error, 4);
	sv_pack_cleanup(&p);
	hub_config_cleanup(&c);
}

static void
login_fault_refuses_with_the_chosen_code(void **state)
{
	(void)state;
	struct hub_config c;
	struct sv_pack p;
	struct hub_login_result res;
	config(&c);
	c.faults.login_error = 20;
	login_pack(&p, "DEFAULT", "alice", 1);
	add_proof(&p, "alice", "Secr3tPass");
	hub_login_check(&c, &p, RND, &res);
	assert_int_equal(res.error, 20);
	sv_pack_cleanup(&p);
	hub_config_cleanup(&c);
}

static void
welcome_carries_the_fields_of_a_real_server(void **state)
{
	(void)state;
	struct hub_config c;
	struct sv_pack p;
	uint8_t key[20] = { 9 };
	const char *s;
	const uint8_t *d;
	size_t n;
	uint32_t v;
	struct hub_login_result res = { .user = "alice", .max_connection = 1 };
	config(&c);
	sv_pack_init(&p);
	assert_int_equal(hub_login_welcome(&c, &res, 51, key, 7, &p), 0);
	assert_true(sv_pack_get_str(&p, "session_name", &s));
	assert_string_equal(s, "SID-ALICE-51");
	assert_true(sv_pack_get_str(&p, "connection_name", &s));
	assert_string_equal(s, "CID-51");
	assert_true(sv_pack_get_data(&p, "session_key", &d, &n));
	assert_int_equal(n, 20);
	assert_true(sv_pack_get_int(&p, "timeout", &v));
	assert_int_equal(v, 20000);
	assert_true(sv_pack_get_int(&p, "use_encrypt", &v));
	assert_int_equal(v, 1);
	assert_true(sv_pack_get_int(&p, "max_connection", &v));
	assert_int_equal(v, 1);
	assert_true(sv_pack_get_int(&p, "policy:TimeOut", &v));
	assert_int_equal(v, 20);
	assert_true(sv_pack_get_data(&p, "Msg", &d, &n));
	assert_int_equal(n, 0);
	assert_null(sv_pack_find(&p, "error"));
	/* round trip through the codec */
	struct sv_buf b;
	struct sv_pack q;
	sv_buf_init(&b, 1 << 20);
	sv_pack_init(&q);
	assert_int_equal(sv_pack_encode(&p, &b), 0);
	d = sv_buf_peek(&b, &n);
	assert_int_equal(sv_pack_decode(&q, d, n), 0);
	sv_pack_cleanup(&q);
	sv_buf_cleanup(&b);
	sv_pack_cleanup(&p);
	hub_config_cleanup(&c);
}

static void
login_grants_connections_like_a_real_server(void **state)
{
	(void)state;
	struct hub_config c;
	struct sv_pack p;
	struct hub_login_result res;
	config(&c);
	login_pack(&p, "DEFAULT", "alice", 1);
	add_proof(&p, "alice", "Secr3tPass");
	hub_login_check(&c, &p, RND, &res); /* no max_connection: 1 */
	assert_int_equal(res.error, 0);
	assert_int_equal(res.max_connection, 1);
	assert_false(res.qos);
	assert_int_equal(sv_pack_add_int(&p, "qos", 1), 0); /* QoS: at least 2 */
	hub_login_check(&c, &p, RND, &res);
	assert_int_equal(res.max_connection, 2);
	assert_true(res.qos);
	assert_int_equal(sv_pack_add_int(&p, "max_connection", 99), 0); /* policy: 32 */
	hub_login_check(&c, &p, RND, &res);
	assert_int_equal(res.max_connection, 32);
	sv_pack_cleanup(&p);
	hub_config_cleanup(&c);
}

static void
additional_connect_carries_the_session_key(void **state)
{
	(void)state;
	struct hub_config c;
	struct sv_pack p;
	struct hub_login_result res;
	static const uint8_t key[20] = { 7, 7, 7, 1, 2, 3 };
	config(&c);
	c.faults.login_error = 20; /* login faults do not apply to attaching */
	sv_pack_init(&p);
	assert_int_equal(sv_pack_add_str(&p, "method", "additional_connect"), 0);
	assert_int_equal(sv_pack_add_data(&p, "session_key", key, sizeof key), 0);
	hub_login_check(&c, &p, RND, &res);
	assert_int_equal(res.error, 0);
	assert_true(res.additional);
	assert_memory_equal(res.session_key, key, sizeof key);
	sv_pack_cleanup(&p);
	hub_config_cleanup(&c);
}

static void
malformed_fault_names_round_trip(void **state)
{
	(void)state;
	for (int m = HUB_BAD_NONE; m <= HUB_BAD_KEEPALIVE_513; m++)
		assert_int_equal(hub_malformed_parse(hub_malformed_name((enum hub_malformed)m)), m);
	assert_int_equal(hub_malformed_parse("hello-random20"), -1);
	assert_int_equal(hub_malformed_parse(""), -1);
}

#define T0 1000000000ull /* a plausible uv_hrtime()/1000 */

static void
pipe_delays_and_jitters_without_reordering(void **state)
{
	(void)state;
	struct hub_faults f = { .delay_ms = 10, .jitter_ms = 5 };
	struct hub_pipe p;
	uint64_t rng = 3, last = 0;
	uint8_t frame[64] = { 0 };
	hub_pipe_init(&p, &f, &rng);
	for (uint8_t i = 0; i < 50; i++) {
		frame[0] = i;
		assert_int_equal(hub_pipe_put(&p, frame, sizeof frame, T0 + i * 100u), HUB_PIPE_QUEUED);
	}
	assert_null(hub_pipe_get(&p, T0 + 9999));
	assert_true(hub_pipe_next_due(&p) >= T0 + 10000);
	for (uint8_t i = 0; i < 50; i++) {
		struct hub_pipe_frame *q = hub_pipe_get(&p, T0 + 1000000);
		assert_non_null(q);
		assert_int_equal(q->data[0], i); /* order kept */
		assert_true(q->due_us >= last);
		assert_true(q->due_us >= T0 + i * 100u + 10000 && q->due_us <= T0 + 50 * 100u + 15000);
		last = q->due_us;
		free(q);
	}
	assert_null(hub_pipe_get(&p, T0 + 1000000));
	assert_int_equal(hub_pipe_next_due(&p), 0);
}

static void
pipe_rate_is_a_token_bucket(void **state)
{
	(void)state;
	struct hub_faults f = { .rate = 100000 }; /* 100 kB/s, bucket 16 KiB */
	struct hub_pipe p;
	uint64_t rng = 1;
	uint8_t frame[1000] = { 0 };
	hub_pipe_init(&p, &f, &rng);
	for (int i = 0; i < 200; i++)
		assert_int_equal(hub_pipe_put(&p, frame, sizeof frame, T0), HUB_PIPE_QUEUED);
	int now = 0;
	struct hub_pipe_frame *q;
	while ((q = hub_pipe_get(&p, T0)) != NULL) {
		now++;
		free(q);
	}
	assert_int_equal(now, 16); /* a full bucket goes at once */
	uint64_t last = 0;
	while ((q = hub_pipe_get(&p, UINT64_MAX)) != NULL) {
		last = q->due_us;
		free(q);
	}
	/* the other 184 000 bytes minus what the burst left: (200000 - 16384) / 100 kB/s */
	assert_true(last >= T0 + 1830000 && last <= T0 + 1845000);
	/* an idle pipe refills its bucket, no more than full */
	assert_int_equal(hub_pipe_put(&p, frame, sizeof frame, T0 + 60000000), HUB_PIPE_QUEUED);
	q = hub_pipe_get(&p, T0 + 60000000);
	assert_non_null(q);
	free(q);
}

static void
pipe_loss_is_seeded_and_queue_is_bounded(void **state)
{
	(void)state;
	struct hub_faults f = { .loss_ppm = 100000 }; /* 10 % */
	struct hub_pipe p;
	uint8_t frame[1500] = { 0 };
	size_t lost[2] = { 0, 0 };
	for (int run = 0; run < 2; run++) {
		uint64_t rng = 42;
		hub_pipe_init(&p, &f, &rng);
		for (int i = 0; i < 10000; i++) {
			int r = hub_pipe_put(&p, frame, 100, T0);
			if (r == HUB_PIPE_LOST)
				lost[run]++;
			struct hub_pipe_frame *q = hub_pipe_get(&p, T0);
			free(q);
		}
		hub_pipe_clear(&p);
	}
	assert_true(lost[0] > 800 && lost[0] < 1200);
	assert_int_equal(lost[0], lost[1]); /* same seed, same losses */
	/* a queue that is never drained ends in tail drop at HUB_PIPE_MAX_BYTES */
	struct hub_faults g = { .delay_ms = 1000 };
	uint64_t rng = 5;
	hub_pipe_init(&p, &g, &rng);
	size_t queued = 0;
	while (hub_pipe_put(&p, frame, sizeof frame, T0) == HUB_PIPE_QUEUED)
		queued += sizeof frame;
	assert_true(queued <= HUB_PIPE_MAX_BYTES && queued + sizeof frame > HUB_PIPE_MAX_BYTES);
	assert_int_equal(hub_pipe_put(&p, frame, sizeof frame, T0), HUB_PIPE_FULL);
	assert_int_equal(p.overflow, 2);
	hub_pipe_clear(&p);
	assert_int_equal(hub_pipe_next_due(&p), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(filter_passes_tcp_udp_icmp_to_the_virtual_host, setup),
		cmocka_unit_test_setup(filter_drops_every_other_ipv4_destination, setup),
		cmocka_unit_test_setup(filter_never_lets_slirps_nameserver_address_through, setup),
		cmocka_unit_test_setup(filter_turns_dns_to_the_gateway_into_local_answers, setup),
		cmocka_unit_test_setup(filter_passes_dhcp_broadcasts_only, setup),
		cmocka_unit_test_setup(filter_drops_fragments_truncated_and_unknown_frames, setup),
		cmocka_unit_test_setup(filter_passes_the_fragments_of_a_datagram_to_the_virtual_host,
			setup),
		cmocka_unit_test_setup(filter_drops_the_followers_of_a_dropped_first_fragment, setup),
		cmocka_unit_test_setup(filter_a_dropped_first_fragment_spoils_an_allowed_key, setup),
		cmocka_unit_test_setup(filter_drops_fragments_overlapping_the_transport_header,
			setup),
		cmocka_unit_test_setup(filter_drops_fragments_without_a_live_first_fragment, setup),
		cmocka_unit_test_setup(filter_fragment_table_is_bounded_and_forgets_the_oldest,
			setup),
		cmocka_unit_test_setup(filter_ipv6_allows_gateway_and_link_local_icmpv6_only, setup),
		cmocka_unit_test_setup(dns_answers_a_record_from_the_table, setup),
		cmocka_unit_test_setup(dns_unknown_name_gets_nxdomain_and_missing_type_nodata, setup),
		cmocka_unit_test_setup(dns_answers_over_ipv6_with_aaaa, setup),
		cmocka_unit_test_setup(dns_ignores_malformed_queries, setup),
		cmocka_unit_test_setup(dns_table_rejects_bad_entries, setup),
		cmocka_unit_test_setup(rewrite_puts_the_gateway_into_dhcp_dns_option, setup),
		cmocka_unit_test_setup(dhcp_routes_are_appended_to_offer_and_ack_only, setup),
		cmocka_unit_test_setup(arp_claim_answers_requests_for_the_claimed_address_only, setup),
		cmocka_unit_test_setup(dhcp_set_requested_adds_or_replaces_option_50, setup),
		cmocka_unit_test(http_parses_a_signature_post),
		cmocka_unit_test(http_rejects_bad_requests),
		cmocka_unit_test(login_accepts_the_hashed_password_case_insensitive_user),
		cmocka_unit_test(login_refuses_wrong_password_unknown_user_and_hub),
		cmocka_unit_test(login_plain_password_and_anonymous_work),
		cmocka_unit_test(login_protocol_errors_match_the_real_server),
		cmocka_unit_test(login_fault_refuses_with_the_chosen_code),
		cmocka_unit_test(welcome_carries_the_fields_of_a_real_server),
		cmocka_unit_test(login_grants_connections_like_a_real_server),
		cmocka_unit_test(additional_connect_carries_the_session_key),
		cmocka_unit_test(malformed_fault_names_round_trip),
		cmocka_unit_test(pipe_delays_and_jitters_without_reordering),
		cmocka_unit_test(pipe_rate_is_a_token_bucket),
		cmocka_unit_test(pipe_loss_is_seeded_and_queue_is_bounded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
